#!/usr/bin/env bash
# The Kafka spout against the file spout on the same lines: kafka -> split -> count -> sink (topologies/
# kafka_wordcount.cfg, bounded, acking on) and file_lines -> split -> count -> sink (topologies/wordcount_file.cfg),
# alternating, RUNS times each; prints each run, the medians in records (lines) per second, and the ratio.
# The Kafka side reads from librdkafka's mock cluster (build/bin/gale-kafka-mock, in a process of its own on this
# host, over TCP): not a Kafka broker, so the figure is the spout's and librdkafka's cost, not a broker's.
# Not part of `make test` or `make bench`. On 2026-12-07 (2 cores, 3 runs of 1,000,000 lines): file 568,828 lines/s,
# kafka 555,864 lines/s, kafka/file 0.98 (medians; the file runs alone spread from 468k to 697k).
#
#   tools/bench/kafka_vs_file.sh [RUNS (3)] [LINES (1000000)]      GALE=build/bin/gale by default
#
# What is timed: each `gale run` whole, start to exit (the Kafka run's open includes its metadata round trips and
# the committed offsets' lookup, a few milliseconds). Each Kafka run reads with a group of its own, from the start.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
lines=${2:-1000000}
gale=${GALE:-build/bin/gale}
. tools/bench/lib.sh
mock=$(dirname "$gale")/gale-kafka-mock
[ -x "$gale" ] && [ -x "$mock" ] || { echo "$gale or $mock is missing: run make first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-kafka-XXXXXX")
mock_pid=
stop() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

# The input: sample.txt's lines over and over.
sample_lines "$lines" "$work/lines.txt"
"$mock" --topic sentences:4 --produce "sentences:$work/lines.txt" >"$work/boot" &
mock_pid=$!
for _ in $(seq 600); do [ -s "$work/boot" ] && break; sleep 0.1; done
brokers=$(head -n 1 "$work/boot")
[ -n "$brokers" ] || { echo "the mock cluster did not start" >&2; exit 1; }


: >"$work/file.rates"
: >"$work/kafka.rates"
for i in $(seq "$runs"); do
  s=$(time_run --set "lines.path=$work/lines.txt" topologies/wordcount_file.cfg)
  echo "run $i file:  $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/file.rates"
  echo
  s=$(time_run --set "sentences.brokers=$brokers" --set "sentences.group=bench-$i" topologies/kafka_wordcount.cfg)
  echo "run $i kafka: $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/kafka.rates"
  echo
done | grep -v '^$'
f=$(median <"$work/file.rates")
k=$(median <"$work/kafka.rates")
echo "median: file $f lines/s, kafka $k lines/s, kafka/file $(awk -v a="$k" -v b="$f" 'BEGIN { printf "%.2f", a / b }')"
