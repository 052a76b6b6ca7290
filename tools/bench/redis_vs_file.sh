#!/usr/bin/env bash
# The Redis stream spout against the file spout on the same lines: redis_stream -> split -> count -> sink
# (topologies/redis_wordcount.cfg, bounded, acking on) and file_lines -> split -> count -> sink
# (topologies/wordcount_file.cfg), alternating, RUNS times each; prints each run, the medians in records (lines) per
# second, and the ratio. The Redis side reads from Debian's redis-server on this host (127.0.0.1, a free port),
# which shares the 2 cores with gale.
# Not part of `make test` or `make bench`.
#
#   tools/bench/redis_vs_file.sh [RUNS (3)] [LINES (1000000)]      GALE=build/bin/gale by default
#
# What is timed: each `gale run` whole, start to exit. Each Redis run reads with a group of its own, from the
# stream's start, and XACKs every entry.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
lines=${2:-1000000}
gale=${GALE:-build/bin/gale}
. tools/bench/lib.sh
[ -x "$gale" ] || { echo "$gale is missing: run make first" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing: run make test-deps" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-redis-XXXXXX")
redis_pid=
stop() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done

# The input: sample.txt's lines over and over, into the file and into stream "sentences" (RESP, piped).
sample_lines "$lines" "$work/lines.txt"
LC_ALL=C awk '{ printf "*5\r\n$4\r\nXADD\r\n$9\r\nsentences\r\n$1\r\n*\r\n$4\r\nline\r\n$%d\r\n%s\r\n", length($0), $0 }' \
  "$work/lines.txt" | redis-cli -p "$port" --pipe >/dev/null
[ "$(redis-cli -p "$port" XLEN sentences)" = "$lines" ] || { echo "the stream was not filled" >&2; exit 1; }


: >"$work/file.rates"
: >"$work/redis.rates"
for i in $(seq "$runs"); do
  s=$(time_run --set "lines.path=$work/lines.txt" topologies/wordcount_file.cfg)
  echo "run $i file:  $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/file.rates"
  s=$(time_run --set "sentences.port=$port" --set "sentences.group=bench-$i" topologies/redis_wordcount.cfg)
  echo "run $i redis: $(rate "$s") lines/s ($s s)"
  rate "$s" >>"$work/redis.rates"
  pending=$(redis-cli -p "$port" XPENDING sentences "bench-$i" | head -n 1)
  [ "$pending" = 0 ] || { echo "run $i left $pending entries pending" >&2; exit 1; }
done
f=$(median <"$work/file.rates")
r=$(median <"$work/redis.rates")
echo "median: file $f lines/s, redis $r lines/s, redis/file $(awk -v a="$r" -v b="$f" 'BEGIN { printf "%.2f", a / b }')"
