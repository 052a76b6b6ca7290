#!/usr/bin/env bash
# Runs the test binaries given as arguments, each with Criterion, and prints one closing line:
# "N passed, N failed". Each binary's line says how long it took, so that the slow ones can be seen. Binaries run
# GALE_TEST_BINS at a time (2), each running GALE_TEST_JOBS tests at a time (2): most of the suite waits on other
# processes (ZooKeeper, workers, sessions that time out), so two binaries at a time take a third off the run on two
# cores. GALE_TEST_BINS=1 runs them one by one, to tell a test that fails under load. Under a sanitizer build a
# report in any test's output fails the run, because Criterion does not fail a test whose process LeakSanitizer
# complains about at exit.
set -u
build=${GALE_BUILD:-build}
log_dir="$build/test-logs"
mkdir -p "$log_dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
jobs=${GALE_TEST_JOBS:-2}
bins=${GALE_TEST_BINS:-2}

# One binary: its log, and in $log_dir/NAME.result "PASSED FAILED" then the lines to show for it.
run_one() {
  local bin=$1 name log result start rc secs line t p f
  name=$(basename "$bin")
  log="$log_dir/$name.log"
  result="$log_dir/$name.result"
  start=$SECONDS
  "$bin" --jobs "$jobs" --timeout 120 >"$log" 2>&1
  rc=$?
  secs=$((SECONDS - start))
  line=$(grep -a 'Synthesis:' "$log" | tail -n 1)
  t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line"); t=${t:-0}
  p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line"); p=${p:-0}
  f=$((t - p))
  {
    if [ -n "${SANITIZE:-}" ] && grep -aqE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log"; then
      echo "  $name: sanitizer report (see $log)"
      grep -aE -A12 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log" | head -40
      rc=1
      [ "$f" -eq 0 ] && f=1 && p=$((p > 0 ? p - 1 : 0))
    fi
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
      [ "$f" -eq 0 ] && f=1
      grep -aE '\[FAIL\]|\[----\]|CRASH|Assertion|Warning' "$log" | head -40
    fi
    echo "  $name: $p passed, $f failed in ${secs} s ($log)"
  } >"$result.lines"
  echo "$p $f" >"$result"
  cat "$result.lines"
}

for bin in "$@"; do
  while [ "$(jobs -rp | wc -l)" -ge "$bins" ]; do wait -n; done
  run_one "$bin" &
done
wait

# The failures again at the end, where a reader of a long log's tail finds them.
passed=0 failed=0
for bin in "$@"; do
  result="$log_dir/$(basename "$bin").result"
  read -r p f <"$result" 2>/dev/null || { p=0; f=1; echo "  $(basename "$bin"): no result"; }
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ] && [ -f "$result.lines" ]; then
    echo "failed in $(basename "$bin"):"
    cat "$result.lines"
  fi
  rm -f "$result" "$result.lines"
done
echo "${SANITIZE:+sanitized: }$passed passed, $failed failed"
[ "$failed" -eq 0 ]
