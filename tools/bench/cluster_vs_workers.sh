#!/usr/bin/env bash
# topologies/wordcount.cfg over two supervisors of a dev-cluster (one slot each, so one worker on each) against
# `gale run --workers 2` on the same host, alternating, RUNS times each; prints each run, the medians and the ratio.
# Not part of `make test` or `make bench`: it takes about RUNS * (2 * DURATION + 10) seconds.
#
#   tools/bench/cluster_vs_workers.sh [RUNS (3)] [DURATION (20)]      GALE=build/bin/gale by default
#   CLUSTER_SETS="--set config.threads=1" tools/bench/cluster_vs_workers.sh    more --set for the cluster's submit
#
# The dev-cluster gives each supervisor --cores its part of the host's cores, so that each worker runs as many
# threads as one of `gale run --workers 2`'s. On 2026-12-04 (2 cores, 3 runs of 15 s): 1.03 with the defaults.
# Before --cores (2026-12-03), each supervisor gave its worker all the cores: 0.55 with the defaults, 1.04 with
# config.threads=1.
#
# What is counted, in both modes: tuples executed by the `count` bolt per second.
# - gale run --workers 2 --duration D --stats F: count's `executed` over the run's `seconds`, from F.
# - the cluster: submitted with config.workers=2 and config.metrics_interval_s=1; D seconds after the submit
#   answered (every worker running), `gale stats --json wordcount` (both hosts' figures merged by nimbus, at most
#   about 1 s old) gives count's `executed` over the run's `seconds`. Then `gale kill --wait 5`.
# The dev-cluster (ZooKeeper, nimbus, two idle supervisors) runs during both modes' runs, so its idle cost falls
# on both alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
duration=${2:-20}
gale=${GALE:-build/bin/gale}
[ -x "$gale" ] || { echo "$gale is missing: run make first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gale-bench-cluster-XXXXXX")
dev_pid=
stop_dev() {
  if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -INT "$dev_pid"
    wait "$dev_pid" || true
  fi
}
trap stop_dev EXIT

"$gale" dev-cluster --dir "$work/cluster" --supervisors 2 --slots 1 >"$work/dev.out" 2>"$work/dev.err" &
dev_pid=$!
for _ in $(seq 1200); do
  grep -q 'Ctrl-C stops everything' "$work/dev.out" 2>/dev/null && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.err" >&2; exit 1; }
  sleep 0.1
done
grep -q 'Ctrl-C stops everything' "$work/dev.out" || { echo "the dev-cluster did not come up" >&2; exit 1; }
zk=$(sed -n 's/^  ZooKeeper *\(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$work/dev.out")
secret=$work/cluster/secret

# count's executed / seconds of one metrics document on stdin
count_rate() {
  /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(c["executed"] for c in d["components"] if c["name"] == "count") / d["seconds"])'
}

local_rates=() cluster_rates=()
for i in $(seq "$runs"); do
  "$gale" run --workers 2 --duration "$duration" --quiet --stats "$work/local.json" topologies/wordcount.cfg \
    2>>"$work/local.err"
  local_rates+=("$(count_rate <"$work/local.json")")

  "$gale" submit --zk "$zk" --secret-file "$secret" --set config.workers=2 --set config.metrics_interval_s=1 ${CLUSTER_SETS:-} \
    topologies/wordcount.cfg >/dev/null
  sleep "$duration"
  total=$("$gale" stats --zk "$zk" --secret-file "$secret" --json wordcount | count_rate)
  "$gale" kill --zk "$zk" --secret-file "$secret" --wait 5 wordcount >/dev/null
  cluster_rates+=("$total")
  printf 'run %d: gale run --workers 2 %.0f/s, dev-cluster 2 supervisors %.0f/s\n' "$i" "${local_rates[-1]}" "$total"
done

/usr/bin/python3 - "${local_rates[*]}" "${cluster_rates[*]}" <<'EOF'
import statistics, sys
local = [float(x) for x in sys.argv[1].split()]
cluster = [float(x) for x in sys.argv[2].split()]
ml, mc = statistics.median(local), statistics.median(cluster)
print(f"count executed/s, median of {len(local)}: gale run --workers 2 {ml:.0f}, "
      f"dev-cluster (2 supervisors x 1 slot) {mc:.0f}, cluster/workers {mc / ml:.2f}")
EOF
stop_dev
rm -rf "$work"
