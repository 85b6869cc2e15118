#!/usr/bin/env bash
# README command two: the whole test suite. Unit tests (host, SDK, plugins
# natively) and end-to-end tests that run the real `rill` binary against
# `rill dev-broker`; tests/build.rs builds the plugins for wasm32-wasip2.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# Release: the end-to-end tests push 100,000 records through Cranelift-
# compiled plugins. The same package and target selection as scripts/demo.sh
# resolves the same features, so both share one build of the dependencies;
# the end-to-end tests run the `rill` binary this builds.
cargo build --release --workspace --all-targets
cargo test --release --workspace "$@"
