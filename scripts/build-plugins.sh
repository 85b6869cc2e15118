#!/usr/bin/env bash
# Builds every plugin in plugins/ for wasm32-wasip2 and places each component
# next to its plugin.toml (as <name>.wasm, the file the manifest names).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/wasm"
plugins=()
for manifest in plugins/*/plugin.toml; do
  plugins+=("$(basename "$(dirname "$manifest")")")
done
args=()
for p in "${plugins[@]}"; do args+=(-p "$p"); done
CARGO_TARGET_DIR="$target_dir" cargo build --quiet --profile plugin --target wasm32-wasip2 "${args[@]}"
for p in "${plugins[@]}"; do
  cp "$target_dir/wasm32-wasip2/plugin/${p//-/_}.wasm" "plugins/$p/$p.wasm.tmp"
  # Rename into place: a running `rill run` never sees a half-written file.
  mv "plugins/$p/$p.wasm.tmp" "plugins/$p/$p.wasm"
done
echo "built: ${plugins[*]}" >&2
