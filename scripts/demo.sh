#!/usr/bin/env bash
# README command one: build rill and the sample plugins, then run the
# metricbeat demo on an embedded Kafka-protocol broker.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# Same selection as scripts/test.sh: one shared build of the dependencies.
cargo build --release --workspace --all-targets
./scripts/build-plugins.sh
exec "$CARGO_TARGET_DIR/release/rill" demo "$@"
