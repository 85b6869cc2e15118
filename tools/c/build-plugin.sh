#!/usr/bin/env bash
# Builds one C processor (a directory with app.c, on the C SDK in
# guest-sdk/c) into a component:
#   1. tools/c-component (Rust, pinned wit-bindgen-c and wit-component; built
#      once into $CARGO_TARGET_DIR/c-component) writes the C bindings of the
#      `processor` world of the WIT given;
#   2. Debian's clang (wasm32-wasi target, wasi-libc; scripts/setup.sh
#      installs both) compiles app.c, every other .c of the plugin directory
#      and the SDK into a core module;
#   3. tools/c-component embeds the world and wraps the module with the
#      WASI preview-1 adapter into a component.
# Used by tests/build.rs and scripts/build-plugins.sh so both build C
# plugins the same way.
# Usage: tools/c/build-plugin.sh <plugin-dir> <wit-dir> <out.wasm>
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: tools/c/build-plugin.sh <plugin-dir> <wit-dir> <out.wasm>" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$(cd "$1" && pwd)"; wit="$(cd "$2" && pwd)"; out="$3"
[ -f "$dir/app.c" ] || { echo "build-plugin: $dir has no app.c" >&2; exit 1; }
clang="${RILL_CLANG:-clang-14}"
tool_target="${CARGO_TARGET_DIR:-$root/target}/c-component"
tool="$tool_target/release/c-component"
# cargo itself decides whether the tool is up to date (a no-op when it is).
CARGO_TARGET_DIR="$tool_target" cargo build --quiet --release --locked \
  --manifest-path "$root/tools/c-component/Cargo.toml"
work="$out.c-build"
rm -rf "$work"
mkdir -p "$work/bindings"
"$tool" bindings "$wit" "$work/bindings"
sdk="$root/guest-sdk/c"
# The world's version: the SDK exports `join` from 0.4.0 on (the bindings
# define no macro that tells, so this does).
version="$(sed -n 's/^package rill:processor@\([0-9.]*\);.*/\1/p' "$wit"/*.wit | head -n 1)"
[ -n "$version" ] || { echo "build-plugin: no 'package rill:processor@X;' in $wit" >&2; exit 1; }
world_flags=()
case "$version" in
  0.1.0 | 0.2.0 | 0.3.0) ;;
  *) world_flags+=(-DRILL_HAS_JOINS) ;;
esac
sources=()
for source in "$dir"/*.c; do
  case "$source" in *_test.c) ;; *) sources+=("$source") ;; esac
done
# The SDK is every rill*.c (one part per file) plus the component ABI.
sources+=("$sdk"/rill*.c "$sdk/abi.c" "$work/bindings/processor.c")
"$clang" --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 \
  -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
  "${world_flags[@]}" -I "$sdk" -I "$work/bindings" -I "$dir" "${sources[@]}" -o "$work/core.wasm"
"$tool" new "$wit" "$work/core.wasm" "$out"
rm -rf "$work"
