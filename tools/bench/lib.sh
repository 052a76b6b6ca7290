# Shared by the tools/bench/*_vs_*.sh scripts (sourced): timing whole `gale run`s and the median of the rates.
# They set `gale`, `work` and `lines` first.

rate() { # SECONDS -> lines/s
  awk -v n="$lines" -v s="$1" 'BEGIN { printf "%.0f\n", n / s }'
}
time_run() { # ARGS... -> seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$gale" run --quiet "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
sample_lines() { # N FILE: topologies/data/sample.txt's lines over and over, N of them
  awk -v n="$1" '{ l[NR] = $0 } END { for (i = 0; i < n; i++) print l[i % NR + 1] }' topologies/data/sample.txt >"$2"
}
