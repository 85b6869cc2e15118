#!/usr/bin/env bash
# Builds every plugin in plugins/ and places each component next to its
# plugin.toml (as <name>.wasm, the file the manifest names): Rust plugins
# (a Cargo.toml) for wasm32-wasip2 in one cargo run (the workspace's plugin
# profile), Python plugins (an app.py), JavaScript plugins (an app.js) and
# C plugins (an app.c) with `rill build`, the same build a `rill new` project
# gets (componentize-py; esbuild and componentize-js; clang and
# tools/c-component through tools/c/build-plugin.sh); all installed by
# scripts/setup.sh. Run after `cargo build --release` (RILL_BIN names
# another rill).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/wasm"
rill="${RILL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/rill}"
rust=()
python=()
javascript=()
c=()
for manifest in plugins/*/plugin.toml; do
  dir="$(dirname "$manifest")"
  if [ -f "$dir/Cargo.toml" ]; then rust+=("$(basename "$dir")"); fi
  if [ -f "$dir/app.py" ]; then python+=("$(basename "$dir")"); fi
  if [ -f "$dir/app.js" ]; then javascript+=("$(basename "$dir")"); fi
  if [ -f "$dir/app.c" ]; then c+=("$(basename "$dir")"); fi
done

# Rename into place: a running `rill run` never sees a half-written file.
install() { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }

args=()
for p in "${rust[@]}"; do args+=(-p "$p"); done
CARGO_TARGET_DIR="$target_dir" cargo build --quiet --profile plugin --target wasm32-wasip2 "${args[@]}"
for p in "${rust[@]}"; do
  install "$target_dir/wasm32-wasip2/plugin/${p//-/_}.wasm" "plugins/$p/$p.wasm"
done
# rill build renames each component into place; a plugin with its own `wit`
# (a link to wit/0.1.0, wit/0.2.0 or wit/0.3.0) is built against that world, the rest
# against wit/.
if [ $((${#python[@]} + ${#javascript[@]} + ${#c[@]})) -gt 0 ]; then
  [ -x "$rill" ] || { echo "build-plugins: $rill is missing: cargo build --release -p rill-host first" >&2; exit 1; }
fi
for p in "${python[@]}" "${javascript[@]}" "${c[@]}"; do
  RILL_LOG=warn "$rill" build --rill-home "$PWD" "plugins/$p" >/dev/null
done
echo "built: ${rust[*]} ${python[*]} ${javascript[*]} ${c[*]}" >&2
