#!/usr/bin/env bash
# The pii bolt's rate on all-string tuples: file_lines -> pii (every built-in kind, redact) against
# file_lines -> chaos (which forwards each tuple unchanged: the same path without the scanning), on LINES of
# topologies/data/sample.txt, one line in ten carrying a planted e-mail address and a card number, alternating,
# RUNS rounds; prints each run, the medians in tuples per second, and their ratio. Not part of make test or bench.
#
#   tools/bench/pii_rate.sh [RUNS (3)] [LINES (2000000)]      GALE=build/bin/gale by default
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
lines=${2:-2000000}
gale=${GALE:-build/bin/gale}
. tools/bench/lib.sh
[ -x "$gale" ] || { echo "$gale is missing: run make first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-pii-XXXXXX")
trap 'rm -rf "$work"' EXIT
sample_lines "$lines" "$work/plain.txt"
awk '{ print (NR % 10 ? $0 : $0 " mail jane" NR "@example.org card 4111 1111 1111 1111") }' "$work/plain.txt" >"$work/lines.txt"
for bolt in pii chaos; do
  cat >"$work/$bolt.cfg" <<CFG
name = "pii_bench";
config = { ackers = 1; max_spout_pending = 5000; };
spouts = ( { name = "lines"; plugin = "file_lines"; settings = { path = "$work/lines.txt"; }; } );
bolts = ( { name = "b"; plugin = "$bolt"; parallelism = 2; inputs = ( { from = "lines"; } ); } );
CFG
  : >"$work/$bolt.rates"
done
for i in $(seq "$runs"); do
  for bolt in pii chaos; do
    s=$(time_run "$work/$bolt.cfg")
    echo "run $i $bolt: $(rate "$s") tuples/s ($s s)"
    rate "$s" >>"$work/$bolt.rates"
  done
done
p=$(median <"$work/pii.rates"); c=$(median <"$work/chaos.rates")
echo "median over $runs rounds of $lines lines, $(nproc) cores: pii $p tuples/s, chaos (forwarding only) $c," \
  "pii/chaos $(awk -v a="$p" -v b="$c" 'BEGIN { printf "%.2f", a / b }')"
