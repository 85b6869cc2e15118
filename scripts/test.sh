#!/usr/bin/env bash
# README command two: the whole test suite. Unit tests (host, SDKs, plugins
# natively) and end-to-end tests that run the real `rill` binary against
# `rill dev-broker`; tests/build.rs builds the plugins for wasm32-wasip2.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The JavaScript SDK and the JavaScript plugins natively (node's test
# runner; no component, no broker): seconds, so before the long build.
node --test guest-sdk/js plugins/*-js
# The C SDK and the C plugins natively (gcc with ASan/UBSan and the SDK's
# in-memory test driver; no component, no broker): seconds.
tools/c/test.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# The Python SDK and the Python plugins natively, with pytest (seconds; no
# component, no broker). No bytecode or cache is written into the checkout.
tools="${RILL_TOOLS_DIR:-$HOME/.cache/rill/tools}"
PYTHONDONTWRITEBYTECODE=1 "$tools/venv/bin/python" -m pytest -q guest-sdk/python plugins/*-python
# Release: the end-to-end tests push 100,000 records through Cranelift-
# compiled plugins. The same package and target selection as scripts/demo.sh
# resolves the same features, so both share one build of the dependencies;
# the end-to-end tests run the `rill` binary this builds.
cargo build --release --workspace --all-targets
# rill test: every plugin and app with spec files, on the real host without
# a broker (docs/testing.md); the components are placed next to the manifests.
./scripts/build-plugins.sh
specs=()
# (a plugin's tests/ may also hold its native tests: only *.toml and *.json
# are specs; apps/tests/ holds the specs of the app files in apps/)
for dir in plugins/*/ apps/; do
  if compgen -G "$dir/tests/*.toml" >/dev/null || compgen -G "$dir/tests/*.json" >/dev/null; then specs+=("$dir"); fi
done
RILL_LOG=warn "$CARGO_TARGET_DIR/release/rill" test "${specs[@]}"
# The test tool for transactions (built once, cached outside the clone).
RILL_TXN_BROKER="$(./scripts/txn-broker.sh)"
export RILL_TXN_BROKER
cargo test --release --workspace "$@"
# The whole suite passed against rill dev-broker (librdkafka's mock). Run
# the at-least-once end-to-end tests again against crabka-broker, a second,
# independent implementation of the protocol (docs/design/007-exactly-once.md
# lists what is left out of this pass and why; all of it ran above).
if [ $# -eq 0 ]; then
  echo "test.sh: the end-to-end tests again, against crabka-broker" >&2
  RILL_TEST_BROKER=txn cargo test --release -p rill-tests \
    --test state --test observe --test metrics_pipeline --test restore --test time --test window_time --test rebalance \
    -- \
    --skip a_broker_that_cannot_create_topics_gets_a_message_not_a_hang \
    --skip sigkill_mid_chain_then_a_restart_loses_nothing \
    --skip a_sigkill_mid_window_never_undercounts
fi
