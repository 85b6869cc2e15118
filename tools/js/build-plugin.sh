#!/usr/bin/env bash
# Builds one JavaScript processor (a directory with app.js) into a component:
# esbuild bundles the app, rill-sdk (guest-sdk/js) and the SDK's ABI module
# into the one ES module componentize-js takes, then componentize-js builds
# it against the WIT given. Used by tests/build.rs and
# scripts/build-plugins.sh so both build JS plugins the same way. The engine's
# HTTP client is left out: rill grants plugins no network.
# Usage: tools/js/build-plugin.sh <plugin-dir> <wit-dir> <out.wasm>
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/tools/js/node_modules/.bin"
dir="$(cd "$1" && pwd)"; wit="$2"; out="$3"
bundle="$out.bundle.js"
entry="$out.entry.js"
sdk="$root/guest-sdk/js"
# A plugin on the SDK imports 'rill-sdk'; one on raw bindings (an app.js
# with its own export of process) is componentized as it is.
if grep -q "from 'rill-sdk'" "$dir/app.js"; then
  printf '%s\n' \
    "import app from '$dir/app.js';" \
    "import { bind } from '$sdk/abi.js';" \
    "bind(app);" \
    "export { init, process, aggregate, emit, onTimer } from '$sdk/abi.js';" >"$entry"
  "$tools/esbuild" "$entry" --bundle --format=esm --platform=neutral --log-level=warning \
    "--alias:rill-sdk=$sdk" '--external:rill:*' --outfile="$bundle"
else
  cp "$dir/app.js" "$bundle"
fi
"$tools/componentize-js" "$bundle" --wit "$wit" -n processor --disable http fetch-event -o "$out" >/dev/null
