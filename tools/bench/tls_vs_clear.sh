#!/usr/bin/env bash
# The file word count (lines -> split -> count -> sink, acking on) in `gale run --workers 2`, with TLS between the
# workers (--tls, certificates made by gale certs) and in clear, alternating, RUNS times each; prints each run, the
# medians and the ratio. Not part of `make test` or `make bench`.
#
#   tools/bench/tls_vs_clear.sh [RUNS (5)] [LINES (400000)]      GALE=build/bin/gale by default
#
# What is counted: input lines per second of the whole run (start to exit), as connectors_vs_file.sh counts them.
# fields grouping puts about half of split's words on the other worker's count tasks, so half of the tuples cross
# the connection: TLS's cost is the encryption of those bytes, both ways, plus one TLS write per batch.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
lines=${2:-400000}
gale=${GALE:-build/bin/gale}
[ -x "$gale" ] || { echo "$gale is missing: run make first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-tls-XXXXXX")
trap 'rm -rf "$work"' EXIT
. tools/bench/lib.sh

sample_lines "$lines" "$work/in.txt"
"$gale" certs init "$work/certs" >/dev/null
"$gale" certs issue "$work/certs" node >/dev/null
sets=(--set "lines.path=$work/in.txt" --set "sink.path=/dev/null")
clear_rates=() tls_rates=()
for i in $(seq "$runs"); do
  s=$(time_run --workers 2 "${sets[@]}" topologies/wordcount_file.cfg)
  clear_rates+=("$(rate "$s")")
  s=$(time_run --workers 2 --tls "$work/certs/node" "${sets[@]}" topologies/wordcount_file.cfg)
  tls_rates+=("$(rate "$s")")
  echo "round $i: clear ${clear_rates[-1]} lines/s, tls ${tls_rates[-1]} lines/s"
done
c=$(printf '%s\n' "${clear_rates[@]}" | median)
t=$(printf '%s\n' "${tls_rates[@]}" | median)
echo "median over $runs rounds of $lines lines ($(nproc) cores): clear $c lines/s, tls $t lines/s," \
  "tls/clear $(awk -v a="$t" -v b="$c" 'BEGIN { printf "%.2f", a / b }')"
