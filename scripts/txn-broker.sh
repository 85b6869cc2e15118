#!/usr/bin/env bash
# Builds the test tool rill-txn-broker (tools/txn-broker: crabka-broker, a
# Kafka broker that honours transactions, see ../shared/FACTS.md) once, into
# a cache outside the clone; later runs find it built. Prints its path.
# About 15 CPU-minutes the first time.
#
# crabka-broker is built from its published crate plus the patches in
# tools/txn-broker/patches (each says why), unpacked into the cache (one
# place for every clone, so a fresh clone does not rebuild the broker).
set -euo pipefail
cd "$(dirname "$0")/../tools/txn-broker"
target="${RILL_TXN_BROKER_TARGET:-$HOME/.cache/rill/txn-broker-target}"
version=0.3.0
patched="$target/crabka-broker-$version-patched"
stamp="$patched/.rill-patches"
want="$(cat patches/*.patch | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # The published crate, checked against the checksum the lockfile had
    # for it before the patch.
    crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/crabka-broker-$version.crate 2>/dev/null | head -1 || true)"
    if [ -z "$crate" ]; then
        crate="$target/crabka-broker-$version.crate"
        mkdir -p "$target"
        curl -sSfL -o "$crate" "https://static.crates.io/crates/crabka-broker/crabka-broker-$version.crate"
    fi
    echo "554e4628d62fa805fc5f410c901c749b5ac253fabdaf474b94cee974c5342602  $crate" | sha256sum --check --quiet
    rm -rf "$patched" "$target/crabka-broker-$version"
    tar -xzf "$crate" -C "$target"
    mv "$target/crabka-broker-$version" "$patched"
    for p in patches/*.patch; do
        patch --quiet -p1 -d "$patched" < "$p"
    done
    echo "$want" > "$stamp"
fi
# Every crabka 0.3.x release is yanked: only the committed lockfile builds.
CARGO_TARGET_DIR="$target" cargo build --locked --quiet \
    --config "patch.crates-io.crabka-broker.path=\"$patched\""
echo "$target/debug/rill-txn-broker"
