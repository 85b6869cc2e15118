#!/usr/bin/env bash
# Runs the C SDK's and the C plugins' native unit tests: each test file
# (guest-sdk/c/tests/*_test.c, plugins/*/app_test.c) is compiled with gcc
# together with the SDK, its test driver (guest-sdk/c/testing*.c) and, for a
# plugin, its app.c, under AddressSanitizer and UndefinedBehaviorSanitizer,
# then run. Prints one line per test and the totals ("N passed, N failed");
# the exit status is non-zero when anything failed or did not build.
# Usage: tools/c/test.sh [TEST_FILE...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# Files given are resolved from the caller's directory (a project outside
# the repository works too); with none, every test of the repository runs.
files=()
for file in "$@"; do files+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"); done
cd "$root"
sdk=guest-sdk/c
cc="${CC:-gcc}"
if [ $# -eq 0 ]; then files=("$sdk"/tests/*_test.c plugins/*/app_test.c); fi
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
passed=0; failed=0
for file in "${files[@]}"; do
  [ -f "$file" ] || continue
  dir="$(dirname "$file")"
  # The SDK (every rill*.c) and its test driver (every testing*.c).
  sources=("$file" "$sdk"/rill*.c "$sdk"/testing*.c)
  [ -f "$dir/app.c" ] && [ "$file" != "$dir/app.c" ] && sources+=("$dir/app.c")
  exe="$build/$(echo "$file" | tr '/.' '__')"
  if ! "$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -I "$sdk" -I "$dir" "${sources[@]}" -lm -o "$exe"; then
    echo "FAIL  $file: does not build"
    failed=$((failed + 1))
    continue
  fi
  output="$(ASAN_OPTIONS=detect_leaks=1 "$exe" 2>&1)" && status=0 || status=$?
  printf '%s\n' "$output" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$' || true
  totals="$(printf '%s\n' "$output" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)"
  if [ -z "$totals" ]; then
    echo "FAIL  $file: crashed (exit $status) before reporting"
    failed=$((failed + 1))
    continue
  fi
  p="${totals%% passed*}"; f="${totals#*, }"; f="${f%% failed}"
  passed=$((passed + p)); failed=$((failed + f))
  # A clean report with a failing exit (a leak found at exit) still fails.
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL  $file: exit status $status (sanitizer report above)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
