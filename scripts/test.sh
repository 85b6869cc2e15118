#!/usr/bin/env bash
# README command two: the whole test suite. Unit tests (host, SDK, plugins
# natively) and end-to-end tests that run the real `rill` binary against
# `rill dev-broker`; tests/build.rs builds the plugins for wasm32-wasip2.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# Release: the end-to-end tests push 100,000 records through Cranelift-
# compiled plugins; the demo and bench share this one build.
cargo build --release -p rill-host
cargo test --release --workspace "$@"
