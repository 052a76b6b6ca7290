#!/usr/bin/env bash
# The xgboost bolt against XGBoost's C API called in a loop by hand, on the same rows and model, in one run:
# file_lines -> parse -> xgboost (topology written here, batch B) as a whole `gale run`, and
# tools/bench/baselines/xgb_capi.c (read the CSV, score in batches of B), for B = 1, 64, 256, alternating, RUNS
# rounds; prints each run and the medians in rows per second. The baseline prints two figures: scoring alone, and
# reading plus scoring (what the gale run does too, with tuples, acking and the parse bolt on top).
# The model and rows come from tests/ml/xgb_fixture.py (Debian's python3-xgboost), the rows repeated to ROWS.
# Not part of `make test` or `make bench`.
#
#   tools/bench/xgboost_vs_capi.sh [RUNS (3)] [ROWS (200000)]      GALE=build/bin/gale by default
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
lines=${2:-200000}
gale=${GALE:-build/bin/gale}
. tools/bench/lib.sh
[ -x "$gale" ] || { echo "$gale is missing: run make first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-xgb-XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 tests/ml/xgb_fixture.py "$work"
awk -v n="$lines" '{ l[NR] = $0 } END { for (i = 0; i < n; i++) { split(l[i % NR + 1], c, ","); sub(/^[^,]*/, i, l[i % NR + 1]); print l[i % NR + 1] } }' \
  "$work/rows.csv" | grep -v ',,' >"$work/many.csv"  # rows with a missing cell left out: all rows are full
lines=$(wc -l <"$work/many.csv")
cc -O2 -o "$work/xgb_capi" tools/bench/baselines/xgb_capi.c -lxgboost
for b in 1 64 256; do
  cat >"$work/xgb$b.cfg" <<CFG
name = "xgb_bench";
config = { ackers = 1; max_spout_pending = 5000; };
spouts = ( { name = "rows"; plugin = "file_lines"; settings = { path = "$work/many.csv"; }; } );
bolts = ( { name = "parse"; plugin = "parse"; settings = { fields = [ "id", "f0", "f1", "f2", "f3", "f4" ]; };
            inputs = ( { from = "rows"; } ); },
          { name = "model"; plugin = "xgboost"; parallelism = 2;
            settings = { model = "$work/bin.json"; features = [ "f0", "f1", "f2", "f3", "f4" ]; batch = $b; };
            inputs = ( { from = "parse"; } ); } );
CFG
  : >"$work/gale$b.rates"; : >"$work/capi$b.rates"; : >"$work/capiall$b.rates"
done
for i in $(seq "$runs"); do
  for b in 1 64 256; do
    s=$(time_run "$work/xgb$b.cfg")
    echo "run $i batch $b: gale $(rate "$s") rows/s ($s s)"
    rate "$s" >>"$work/gale$b.rates"
    read -r score_only with_read _ < <("$work/xgb_capi" "$work/bin.json" "$work/many.csv" "$b")
    echo "run $i batch $b: C API $score_only rows/s scoring, $with_read rows/s reading and scoring"
    echo "$score_only" >>"$work/capi$b.rates"
    echo "$with_read" >>"$work/capiall$b.rates"
  done
done
for b in 1 64 256; do
  g=$(median <"$work/gale$b.rates"); c=$(median <"$work/capi$b.rates"); a=$(median <"$work/capiall$b.rates")
  echo "median batch $b ($lines rows, $(nproc) cores): gale $g rows/s; C API $c scoring, $a reading and scoring;" \
    "gale/(reading and scoring) $(awk -v x="$g" -v y="$a" 'BEGIN { printf "%.2f", x / y }')"
done
