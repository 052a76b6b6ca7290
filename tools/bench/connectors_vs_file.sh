#!/usr/bin/env bash
# The connector spouts against the file spout on the same lines, in one run: file_lines -> split -> count -> sink
# (topologies/wordcount_file.cfg), kafka -> split -> count -> sink (topologies/kafka_wordcount.cfg) and
# redis_stream -> split -> count -> sink (topologies/redis_wordcount.cfg), all bounded with acking on, in
# alternating rounds, RUNS rounds; prints each run, the medians in records (lines) per second, and each
# connector's ratio to the file spout.
# The Kafka side reads from librdkafka's mock cluster (build/bin/gale-kafka-mock, in a process of its own on this
# host, over TCP): not a Kafka broker, so its figure is the spout's and librdkafka's cost, not a broker's. The Redis
# side reads from Debian's redis-server on 127.0.0.1 at a free port. Both servers share the machine's cores with
# gale. Not part of `make test` or `make bench`.
#
#   tools/bench/connectors_vs_file.sh [RUNS (3)] [LINES (1000000)]      GALE=build/bin/gale by default
#   KAFKA_SETS="--set sentences.x=y" REDIS_SETS="--set sentences.count=1024" ...: more --sets for one side
#
# What is timed: each `gale run` whole, start to exit (a connector's open includes its first round trips). Each
# connector run reads with a consumer group of its own from the start, and must leave nothing pending.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
lines=${2:-1000000}
gale=${GALE:-build/bin/gale}
. tools/bench/lib.sh
mock=$(dirname "$gale")/gale-kafka-mock
[ -x "$gale" ] && [ -x "$mock" ] || { echo "$gale or $mock is missing: run make first" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing: run make test-deps" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-connectors-XXXXXX")
mock_pid= redis_pid=
stop() {
  for pid in $mock_pid $redis_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop EXIT

# The input: sample.txt's lines over and over, into a file, a Kafka topic of 4 partitions and a Redis stream.
sample_lines "$lines" "$work/lines.txt"
"$mock" --topic sentences:4 --produce "sentences:$work/lines.txt" >"$work/boot" &
mock_pid=$!
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
LC_ALL=C awk '{ printf "*5\r\n$4\r\nXADD\r\n$9\r\nsentences\r\n$1\r\n*\r\n$4\r\nline\r\n$%d\r\n%s\r\n", length($0), $0 }' \
  "$work/lines.txt" | redis-cli -p "$port" --pipe >/dev/null
[ "$(redis-cli -p "$port" XLEN sentences)" = "$lines" ] || { echo "the stream was not filled" >&2; exit 1; }
for _ in $(seq 600); do [ -s "$work/boot" ] && break; sleep 0.1; done
brokers=$(head -n 1 "$work/boot")
[ -n "$brokers" ] || { echo "the mock cluster did not start" >&2; exit 1; }

: >"$work/file.rates"
: >"$work/kafka.rates"
: >"$work/redis.rates"
for i in $(seq "$runs"); do
  s=$(time_run --set "lines.path=$work/lines.txt" topologies/wordcount_file.cfg)
  echo "run $i file:  $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/file.rates"
  s=$(time_run --set "sentences.brokers=$brokers" --set "sentences.group=bench-$i" ${KAFKA_SETS:-} topologies/kafka_wordcount.cfg)
  echo "run $i kafka: $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/kafka.rates"
  s=$(time_run --set "sentences.port=$port" --set "sentences.group=bench-$i" ${REDIS_SETS:-} topologies/redis_wordcount.cfg)
  echo "run $i redis: $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/redis.rates"
  pending=$(redis-cli -p "$port" XPENDING sentences "bench-$i" | head -n 1)
  [ "$pending" = 0 ] || { echo "run $i left $pending Redis entries pending" >&2; exit 1; }
done
f=$(median <"$work/file.rates")
k=$(median <"$work/kafka.rates")
r=$(median <"$work/redis.rates")
ratio() { awk -v a="$1" -v b="$f" 'BEGIN { printf "%.2f", a / b }'; }
echo "median over $runs rounds of $lines lines, $(nproc) cores: file $f lines/s, kafka $k ($(ratio "$k") of file)," \
  "redis $r ($(ratio "$r") of file)"
