#!/usr/bin/env bash
# Installs what building rill needs on a fresh Debian machine, and nothing
# when it is already there: libclang (bindgen for RocksDB's C API), Debian's
# librocksdb (linked instead of compiling RocksDB, see
# docs/design/001-build.md), Chromium (the status page test), patch (the
# test broker's patched crate), and the
# wasm32-wasip2 Rust target for plugins, and the toolchains of Python,
# JavaScript and C processors.
set -euo pipefail
need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
dpkg -s librocksdb-dev >/dev/null 2>&1 || need+=(librocksdb-dev)
# Debian's Chromium: the status page test renders / in it headless.
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
# patch: scripts/txn-broker.sh patches the test broker's crate.
dpkg -s patch >/dev/null 2>&1 || need+=(patch)
# C processors (tools/c/build-plugin.sh): Debian's clang with its wasm32
# target (compiler-rt builtins), lld (wasm-ld) and wasi-libc, at bookworm's
# versions; gcc runs the C SDK's native tests (tools/c/test.sh).
c_packages=(
  "clang-14=1:14.0.6-12"
  "lld-14=1:14.0.6-12"
  "libclang-rt-14-dev-wasm32=1:14.0.6-12"
  "wasi-libc=0.0~git20220510.9886d3d-2"
)
for pinned_package in "${c_packages[@]}"; do
  [ "$(dpkg-query -W -f='${Version}' "${pinned_package%%=*}" 2>/dev/null)" = "${pinned_package#*=}" ] ||
    need+=("$pinned_package")
done
dpkg -s gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "setup: adding the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi
# componentize-py (PyPI) builds Python processors into components.
tools="${RILL_TOOLS_DIR:-$HOME/.cache/rill/tools}"
componentize_py_version=0.25.1
if ! "$tools/venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $componentize_py_version"; then
  echo "setup: installing componentize-py $componentize_py_version into $tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet "componentize-py==$componentize_py_version"
fi
# pytest (PyPI) runs the Python SDK's and the Python plugins' native tests.
pytest_version=8.3.4
if ! "$tools/venv/bin/python" -m pytest --version 2>&1 | grep -qx "pytest $pytest_version"; then
  echo "setup: installing pytest $pytest_version into $tools/venv" >&2
  "$tools/venv/bin/pip" install --quiet "pytest==$pytest_version"
fi
# componentize-js (npm) builds JavaScript processors into components, after
# esbuild (npm) bundles each app with rill-sdk into one module
# (tools/js/build-plugin.sh); both versions are pinned exactly in
# tools/js/package.json, and checked here against it.
js_tools="$(cd "$(dirname "$0")/.." && pwd)/tools/js"
pinned() { node -p "require(process.argv[1]).dependencies[process.argv[2]]" "$js_tools/package.json" "$1"; }
componentize_js_version="$(pinned @bytecodealliance/componentize-js)"
esbuild_version="$(pinned esbuild)"
# `npm ls` also fails when a dependency of theirs is missing: adding a
# package to an existing node_modules without a lockfile pruned one of
# componentize-js's, so an install always starts from an empty folder.
if [ "$("$js_tools/node_modules/.bin/componentize-js" --version 2>/dev/null)" != "$componentize_js_version" ] ||
  [ "$("$js_tools/node_modules/.bin/esbuild" --version 2>/dev/null)" != "$esbuild_version" ] ||
  ! (cd "$js_tools" && npm ls --silent >/dev/null 2>&1); then
  echo "setup: installing componentize-js $componentize_js_version and esbuild $esbuild_version into tools/js" >&2
  rm -rf "$js_tools/node_modules"
  (cd "$js_tools" && npm install --silent --no-audit --no-fund --no-package-lock 2>&1 | grep -v "Unknown user config" || true)
  "$js_tools/node_modules/.bin/componentize-js" --version >/dev/null
  "$js_tools/node_modules/.bin/esbuild" --version >/dev/null
fi
# The JavaScript plugins' native tests (node --test) import 'rill-sdk': node
# finds it through a link in plugins/node_modules to guest-sdk/js, made here
# and never committed (component builds alias it in tools/js/build-plugin.sh).
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$(readlink "$repo/plugins/node_modules/rill-sdk" 2>/dev/null)" != "../../guest-sdk/js" ]; then
  mkdir -p "$repo/plugins/node_modules"
  ln -sfn ../../guest-sdk/js "$repo/plugins/node_modules/rill-sdk"
fi
# tools/c-component (wit-bindgen's C generator and wit-component with the
# WASI preview-1 adapter, pinned in its own Cargo.lock) turns C processors
# into components; built here once so a plugin build fetches nothing.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}/c-component" cargo build --quiet --release --locked \
  --manifest-path "$repo/tools/c-component/Cargo.toml"
