#!/bin/sh
# The layering check's own test (tools/check_layers.py): the tree as it is passes, and copies of it with one
# deliberate back-edge each fail with a message naming the file, the line and both layers. Run by make check with
# the build folder, whose objects the symbol pass reads.
set -u
build=${1:-build}
check="python3 tools/check_layers.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gale-layers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() { echo "  test_layers: $1"; failed=$((failed + 1)); }

# expect_fail NAME ROOT TEXT [ARGS...]: the check on ROOT fails and says TEXT.
expect_fail() {
  name=$1 root=$2 text=$3
  shift 3
  if $check --root "$root" "$@" >"$tmp/out" 2>&1; then fail "$name: the check passed"; return; fi
  grep -qF -- "$text" "$tmp/out" || fail "$name: no '$text' in: $(cat "$tmp/out")"
}

# A copy of the sources and the table, to break one way.
copy() {
  rm -rf "$tmp/$1"
  mkdir -p "$tmp/$1/tools/gale"
  cp -R runtime "$tmp/$1/" && cp tools/gale/*.[ch] "$tmp/$1/tools/gale/" && cp tools/layers.txt "$tmp/$1/tools/"
}

$check >"$tmp/out" 2>&1 || fail "the tree's includes: $(cat "$tmp/out")"
$check --symbols "$build" >"$tmp/out" 2>&1 || fail "the tree's symbols: $(cat "$tmp/out")"

copy up
printf '#include "daemon.h"\n' >>"$tmp/up/runtime/base/diag.c"
line=$(wc -l <"$tmp/up/runtime/base/diag.c" | tr -d ' ')
expect_fail "base including cluster" "$tmp/up" "runtime/base/diag.c:$line: runtime/base/diag.c (base) uses runtime/cluster/daemon.h (cluster): base is below cluster"

copy side
printf '#include "worker.h"\n' >>"$tmp/side/runtime/builtin/shell.c"
expect_fail "builtin including worker" "$tmp/side" "runtime/builtin/shell.c (builtin) uses runtime/worker/worker.h (worker): builtin and worker must not see each other"

copy down
printf '#include "shell.h"\n' >>"$tmp/down/runtime/worker/supervisor.c"
expect_fail "worker including builtin" "$tmp/down" "runtime/worker/supervisor.c (worker) uses runtime/builtin/shell.h (builtin): worker and builtin must not see each other"

# An allow entry lets one known back-edge through, and only while the edge exists.
copy allowed
printf '#include "shell.h"\n' >>"$tmp/allowed/runtime/model/plugin.c"
printf 'allow-include runtime/model/plugin.c runtime/builtin/shell.h\n' >>"$tmp/allowed/tools/layers.txt"
$check --root "$tmp/allowed" >"$tmp/out" 2>&1 || fail "an allowed back-edge: $(cat "$tmp/out")"

copy stale
printf 'allow-include runtime/model/plugin.c runtime/builtin/shell.h\n' >>"$tmp/stale/tools/layers.txt"
expect_fail "an allow entry no edge needs" "$tmp/stale" "allow-include runtime/model/plugin.c runtime/builtin/shell.h: no such edge any more"

copy unknown
: >"$tmp/unknown/runtime/newpart.c" # a file at the top of runtime/, in no layer's folder
expect_fail "a file of no layer" "$tmp/unknown" "runtime/newpart.c:1: no layer"

# The symbol pass: a base file calling a function of the cluster layer through no include of it (the declaration
# written in the base file itself), which only the objects show.
copy sym
mkdir -p "$tmp/symbuild/obj/runtime/base" "$tmp/symbuild/obj/runtime/cluster"
printf 'int gale__daemon_thing(void);\nint gale__base_thing(void);\nint gale__base_thing(void) { return gale__daemon_thing(); }\n' \
  >"$tmp/sym/runtime/base/diag.c"
printf 'int gale__daemon_thing(void);\nint gale__daemon_thing(void) { return 1; }\n' >"$tmp/sym/runtime/cluster/daemon.c"
${CC:-gcc} -c -o "$tmp/symbuild/obj/runtime/base/diag.o" "$tmp/sym/runtime/base/diag.c" &&
  ${CC:-gcc} -c -o "$tmp/symbuild/obj/runtime/cluster/daemon.o" "$tmp/sym/runtime/cluster/daemon.c" || fail "cannot compile the symbol case"
$check --root "$tmp/sym" >"$tmp/out" 2>&1 || fail "the symbol case's includes should pass: $(cat "$tmp/out")"
expect_fail "a base object calling the cluster layer" "$tmp/sym" \
  "runtime/base/diag.c:1: uses gale__daemon_thing: runtime/base/diag.c (base) uses runtime/cluster/daemon.c (cluster): base is below cluster" \
  --symbols "$tmp/symbuild"

[ "$failed" -eq 0 ] && echo "  test_layers: 9 checks passed"
[ "$failed" -eq 0 ]
