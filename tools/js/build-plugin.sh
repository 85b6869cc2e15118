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
  # The SDK's ABI imports the host's interfaces from 'rill-world', written
  # here for the world's version: an interface an older world lacks (timers
  # before 0.2.0, fields before 0.3.0) is undefined, and the exports it
  # lacks (join before 0.4.0) are left out of the entry, as componentize-js
  # wants them exactly.
  version="$(sed -n 's/^package rill:processor@\([0-9.]*\);.*/\1/p' "$wit"/*.wit | head -n 1)"
  [ -n "$version" ] || { echo "build-plugin: no 'package rill:processor@X;' in $wit" >&2; exit 1; }
  world="$out.world.js"
  exports="init, process"
  {
    echo "export { log as hostLog } from 'rill:processor/log@$version';"
    echo "export { get, put, delete as remove, range, lookup } from 'rill:processor/state@$version';"
    if [ "$version" = 0.1.0 ]; then
      echo "export const schedule = undefined, cancel = undefined;"
    else
      echo "export { schedule, cancel } from 'rill:processor/timers@$version';"
      exports="$exports, aggregate, emit, onTimer"
    fi
    if [ "$version" = 0.1.0 ] || [ "$version" = 0.2.0 ]; then
      echo "export const names = undefined;"
    else
      echo "export { names } from 'rill:processor/fields@$version';"
      exports="$exports, processFields"
    fi
    case "$version" in
      0.1.0 | 0.2.0 | 0.3.0) ;;
      *) exports="$exports, join" ;;
    esac
  } >"$world"
  printf '%s\n' \
    "import app from '$dir/app.js';" \
    "import { bind } from '$sdk/abi.js';" \
    "bind(app);" \
    "export { $exports } from '$sdk/abi.js';" >"$entry"
  "$tools/esbuild" "$entry" --bundle --format=esm --platform=neutral --log-level=warning \
    "--alias:rill-sdk=$sdk" "--alias:rill-world=$world" '--external:rill:*' --outfile="$bundle"
else
  cp "$dir/app.js" "$bundle"
fi
"$tools/componentize-js" "$bundle" --wit "$wit" -n processor --disable http fetch-event -o "$out" >/dev/null
