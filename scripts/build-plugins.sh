#!/usr/bin/env bash
# Builds every plugin in plugins/ and places each component next to its
# plugin.toml (as <name>.wasm, the file the manifest names): Rust plugins
# (a Cargo.toml) for wasm32-wasip2, Python plugins (an app.py) with
# componentize-py and JavaScript plugins (an app.js) with esbuild and
# componentize-js (tools/js/build-plugin.sh) and C plugins (an app.c) with
# clang and tools/c-component (tools/c/build-plugin.sh); all installed by
# scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/wasm"
componentize_py="${RILL_COMPONENTIZE_PY:-${RILL_TOOLS_DIR:-$HOME/.cache/rill/tools}/venv/bin/componentize-py}"
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
# A Python or JavaScript plugin with its own `wit` (a link to wit/0.1.0) is
# built against that world; the rest against the current one.
wit_of() { if [ -e "plugins/$1/wit" ]; then echo "plugins/$1/wit"; else echo wit; fi; }
for p in "${python[@]}"; do
  # -p guest-sdk/python bundles the rill Python SDK into the component.
  PYTHONDONTWRITEBYTECODE=1 "$componentize_py" -d "$(wit_of "$p")" -w processor componentize \
    -p "plugins/$p" -p guest-sdk/python app -o "$target_dir/$p.wasm" >/dev/null
  install "$target_dir/$p.wasm" "plugins/$p/$p.wasm"
done
# tools/js/build-plugin.sh bundles the app with rill-sdk, then componentizes.
for p in "${javascript[@]}"; do
  tools/js/build-plugin.sh "plugins/$p" "$(wit_of "$p")" "$target_dir/$p.wasm"
  install "$target_dir/$p.wasm" "plugins/$p/$p.wasm"
done
# tools/c/build-plugin.sh compiles app.c with the C SDK, then componentizes.
for p in "${c[@]}"; do
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" tools/c/build-plugin.sh "plugins/$p" "$(wit_of "$p")" "$target_dir/$p.wasm"
  install "$target_dir/$p.wasm" "plugins/$p/$p.wasm"
done
echo "built: ${rust[*]} ${python[*]} ${javascript[*]} ${c[*]}" >&2
