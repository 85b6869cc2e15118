#!/usr/bin/env bash
# Builds the test tool rill-txn-broker (tools/txn-broker: crabka-broker, a
# Kafka broker that honours transactions, see ../shared/FACTS.md) once, into
# a cache outside the clone; later runs find it built. Prints its path.
# About 15 CPU-minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${RILL_TXN_BROKER_TARGET:-$HOME/.cache/rill/txn-broker-target}"
# Every crabka 0.3.x release is yanked: only the committed lockfile builds.
(cd tools/txn-broker && CARGO_TARGET_DIR="$target" cargo build --locked --quiet)
echo "$target/debug/rill-txn-broker"
