#!/usr/bin/env bash
# Runs the test binaries given as arguments, each with Criterion, and prints one closing line:
# "N passed, N failed" (each binary's line says how long it took, so that the slow ones can be seen). Under a sanitizer build a report in any test's output fails the run, because Criterion
# does not fail a test whose process LeakSanitizer complains about at exit.
set -u
build=${GALE_BUILD:-build}
log_dir="$build/test-logs"
mkdir -p "$log_dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
jobs=${GALE_TEST_JOBS:-2}
passed=0 failed=0 bad_bins=""
for bin in "$@"; do
  name=$(basename "$bin")
  log="$log_dir/$name.log"
  start=$SECONDS
  "$bin" --jobs "$jobs" --timeout 120 >"$log" 2>&1
  rc=$?
  secs=$((SECONDS - start))
  line=$(grep -a 'Synthesis:' "$log" | tail -n 1)
  t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line"); t=${t:-0}
  p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line"); p=${p:-0}
  f=$((t - p))
  if [ -n "${SANITIZE:-}" ] && grep -aqE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log"; then
    echo "  $name: sanitizer report (see $log)"
    grep -aE -A12 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log" | head -40
    rc=1
    [ "$f" -eq 0 ] && f=1 && p=$((p > 0 ? p - 1 : 0))
  fi
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    [ "$f" -eq 0 ] && f=1
    bad_bins="$bad_bins $name"
    grep -aE '\[FAIL\]|\[----\]|CRASH|Assertion|Warning' "$log" | head -40
  fi
  echo "  $name: $p passed, $f failed in ${secs} s ($log)"
  passed=$((passed + p)); failed=$((failed + f))
done
echo "${SANITIZE:+sanitized: }$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ -z "$bad_bins" ]
