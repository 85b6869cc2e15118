#!/usr/bin/env bash
# Measures issue 22's target "from `rill new` to a passing `rill test` in
# under 60 s on a warm machine", per language: the seconds of `rill new`,
# `rill build` and `rill test` for a project never built before. Warm means
# scripts/setup.sh's tools are installed and one untimed project per language
# was built first (Rust's shared build cache then holds rill-sdk's
# dependencies); the timed project has a new name, so its component is new
# to the compile cache too. Usage: scripts/measure-new.sh [LANG...]
# (default: rust python js c). Uses the release rill (RILL_BIN to override).
set -euo pipefail
cd "$(dirname "$0")/.."
rill="${RILL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/rill}"
[ -x "$rill" ] || { echo "measure-new: $rill is missing: cargo build --release -p rill-host" >&2; exit 1; }
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(rust python js c)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RILL_LOG=warn RILL_TEST_CACHE="$work/compiled"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# new -> build -> test of project $2 in language $1; prints the three times.
workflow() {
  local start new build test
  start=$(now); "$rill" new "$2" --lang "$1" --dir "$work/$2" >/dev/null; new=$(since "$start")
  start=$(now); "$rill" build "$work/$2" >/dev/null; build=$(since "$start")
  start=$(now); "$rill" test "$work/$2" >"$work/$2.test.log" 2>&1 ||
    { cat "$work/$2.test.log" >&2; exit 1; }
  test=$(since "$start")
  echo "$new $build $test"
}
status=0
for lang in "${langs[@]}"; do
  workflow "$lang" "warm-$lang" >/dev/null
  # The timed component is compiled afresh even when it is byte-identical to
  # the warm one's (a C project's name is only in its comments).
  rm -rf "$RILL_TEST_CACHE"
  read -r new build test <<<"$(workflow "$lang" "measured-$lang")"
  total=$(awk -v a="$new" -v b="$build" -v c="$test" 'BEGIN { printf "%.1f", a + b + c }')
  verdict=$(awk -v t="$total" 'BEGIN { print (t < 60 ? "ok" : "OVER") }')
  [ "$verdict" = ok ] || status=1
  printf '%-7s new %5.1f s  build %5.1f s  test %5.1f s  total %5.1f s  (target 60 s: %s)\n' \
    "$lang" "$new" "$build" "$test" "$total" "$verdict"
done
exit $status
