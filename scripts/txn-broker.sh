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
# sha256 of the published crabka-broker-0.3.0.crate.
checksum=554e4628d62fa805fc5f410c901c749b5ac253fabdaf474b94cee974c5342602
patched="$target/crabka-broker-$version-patched"
stamp="$patched/.rill-patches"
want="$(cat patches/*.patch | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # cargo downloads the published crate (through whatever registry,
    # mirror or proxy cargo is configured with): a throwaway copy of the
    # tool's manifest whose lockfile names crabka-broker with its registry
    # source and checksum (the committed lockfile names the patched path
    # instead), fetched --locked; the crate file is then in cargo's cache.
    fetch="$target/fetch"
    rm -rf "$fetch" && mkdir -p "$fetch/src" && : > "$fetch/src/main.rs"
    cp Cargo.toml "$fetch/Cargo.toml"
    awk -v sum="$checksum" '{ print }
        /^name = "crabka-broker"$/ { getline; print
            print "source = \"registry+https://github.com/rust-lang/crates.io-index\""
            print "checksum = \"" sum "\"" }' Cargo.lock > "$fetch/Cargo.lock"
    cargo fetch --locked --quiet --manifest-path "$fetch/Cargo.toml"
    crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/crabka-broker-$version.crate | head -1)"
    # The published crate, checked against the checksum pinned above.
    echo "$checksum  $crate" | sha256sum --check --quiet
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
