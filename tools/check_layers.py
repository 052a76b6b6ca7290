#!/usr/bin/env python3
"""The layering check: every file of runtime/ and tools/gale/ belongs to a layer (tools/layers.txt), and a file may
use only its own layer, lower ones and the ABI, except where the table forbids a pair or allows a known back-edge.

  check_layers.py [--root DIR] [--table FILE]                  the `#include "..."` lines of the sources
  check_layers.py [--root DIR] [--table FILE] --symbols BUILD  the objects in BUILD/obj/runtime: each undefined
                                                               symbol against the object that defines it, which
                                                               catches a function declared in one layer's header
                                                               and defined in a higher layer's file

Each violation is printed as FILE:LINE: ... naming both layers; the exit status is 1 if there is any, 2 when the
table or the tree cannot be read. An allow entry that matches nothing is an error too, so the list only shrinks.
"""
import argparse
import fnmatch
import glob
import os
import re
import subprocess
import sys

SOURCES = ["runtime/*.c", "runtime/*.h", "runtime/*/*.c", "runtime/*/*.h", "tools/gale/*.c", "tools/gale/*.h"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


class Table:
    """tools/layers.txt: `layer NAME PATTERN...` bottom to top, `abi PATTERN...`, `forbid A B` (A may not use B),
    `allow-include FROM TO` and `allow-symbol FROM TO` (file patterns: a known back-edge of that kind, with a
    comment saying why and what would remove it)."""

    def __init__(self, path):
        self.path = path
        self.layers = []  # (name, [patterns]) bottom to top
        self.abi = []
        self.forbid = set()
        self.allow = []  # [kind, from, to, line, used]
        with open(path) as f:
            for n, raw in enumerate(f, 1):
                words = raw.split("#", 1)[0].split()
                if not words:
                    continue
                kind, args = words[0], words[1:]
                if kind == "layer" and len(args) >= 2:
                    self.layers.append((args[0], args[1:]))
                elif kind == "abi" and args:
                    self.abi += args
                elif kind == "forbid" and len(args) == 2:
                    self.forbid.add((args[0], args[1]))
                elif kind in ("allow-include", "allow-symbol") and len(args) == 2:
                    self.allow.append([kind[6:], args[0], args[1], n, False])
                else:
                    raise SystemExit(f"{path}:{n}: cannot read this line")
        self.rank = {name: i for i, (name, _) in enumerate(self.layers)}
        for a, b in self.forbid:
            if a not in self.rank or b not in self.rank:
                raise SystemExit(f"{path}: forbid {a} {b}: no such layer")

    def layer_of(self, path):
        """The layer of a file, "abi", or None when no pattern matches it."""
        if any(fnmatch.fnmatch(path, p) for p in self.abi):
            return "abi"
        for name, patterns in self.layers:
            if any(fnmatch.fnmatch(path, p) for p in patterns):
                return name
        return None

    def allowed(self, kind, src, dst):
        for entry in self.allow:
            if entry[0] == kind and fnmatch.fnmatch(src, entry[1]) and fnmatch.fnmatch(dst, entry[2]):
                entry[4] = True
                return True
        return False

    def judge(self, kind, src, dst):
        """None when src may use dst, else why not."""
        a, b = self.layer_of(src), self.layer_of(dst)
        if b == "abi" or a == b:
            return None
        if a == "abi":
            return f"the ABI ({src}) may use nothing of the runtime, but uses {dst} ({b})"
        if (a, b) in self.forbid:
            why = f"{a} and {b} must not see each other"
        elif self.rank[b] > self.rank[a]:
            why = f"{a} is below {b}"
        else:
            return None
        if self.allowed(kind, src, dst):
            return None
        return f"{src} ({a}) uses {dst} ({b}): {why}"


def resolve(root, src, name):
    """The file an `#include "name"` in src means: next to src first, then runtime/ and each of its folders (the -I
    of the build, in its order)."""
    folders = sorted(os.path.relpath(d, root) for d in glob.glob(os.path.join(root, "runtime", "*", "")))
    for d in [os.path.dirname(src), "runtime"] + folders:
        cand = os.path.normpath(os.path.join(d, name))
        if os.path.exists(os.path.join(root, cand)):
            return cand
    return None


def check_includes(root, table):
    bad = []
    for pattern in SOURCES:
        for full in sorted(glob.glob(os.path.join(root, pattern))):
            src = os.path.relpath(full, root)
            if table.layer_of(src) is None:
                bad.append(f"{src}:1: no layer in {table.path} matches this file")
                continue
            with open(full, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    dst = resolve(root, src, m.group(1))
                    if dst is None:
                        continue  # a system header in quotes, or generated: the compiler says more
                    if table.layer_of(dst) is None:
                        bad.append(f"{src}:{n}: includes {dst}, which no layer in {table.path} matches")
                        continue
                    why = table.judge("include", src, dst)
                    if why:
                        bad.append(f"{src}:{n}: {why} (#include \"{m.group(1)}\")")
    return bad


def first_use(root, src, sym):
    """The line of src that first names sym (1 when none does: a macro made the call)."""
    word = re.compile(r"\b" + re.escape(sym) + r"\b")
    try:
        with open(os.path.join(root, src), errors="replace") as f:
            for n, line in enumerate(f, 1):
                if word.search(line):
                    return n
    except OSError:
        pass
    return 1


def check_symbols(root, table, build):
    objs = sorted(glob.glob(os.path.join(build, "obj", "runtime", "*.o")) +
                  glob.glob(os.path.join(build, "obj", "runtime", "*", "*.o")))
    if not objs:
        raise SystemExit(f"{build}/obj/runtime: no objects (build first)")
    defined, undefined = {}, {}
    for obj in objs:
        src = os.path.relpath(obj, os.path.join(build, "obj"))[:-2] + ".c"
        if not os.path.exists(os.path.join(root, src)):
            continue  # left in the build folder by a file that moved or went
        out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, kind = parts[0], parts[1]
            if kind == "U":
                undefined.setdefault(src, set()).add(sym)
            elif kind.isupper() or kind in "uvw":
                defined.setdefault(sym, src)
    bad = []
    for src in sorted(undefined):
        for sym in sorted(undefined[src]):
            dst = defined.get(sym)
            if dst is None or dst == src:
                continue  # libc, libuv, msgpack...
            why = table.judge("symbol", src, dst)
            if why:
                bad.append(f"{src}:{first_use(root, src, sym)}: uses {sym}: {why}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="the tree to check (default: .)")
    ap.add_argument("--table", help="the layer table (default: ROOT/tools/layers.txt)")
    ap.add_argument("--symbols", metavar="BUILD", help="check the objects of this build folder instead")
    args = ap.parse_args()
    try:
        table = Table(args.table or os.path.join(args.root, "tools", "layers.txt"))
    except OSError as e:
        print(f"check_layers: {e}", file=sys.stderr)
        return 2
    bad = check_symbols(args.root, table, args.symbols) if args.symbols else check_includes(args.root, table)
    # An allow entry nothing needs is stale: it must go, so that the list only shrinks.
    kind = "symbol" if args.symbols else "include"
    for k, src, dst, n, used in table.allow:
        if k == kind and not used:
            bad.append(f"{table.path}:{n}: allow-{k} {src} {dst}: no such edge any more, remove the entry")
    for line in bad:
        print(line, file=sys.stderr)
    what = "symbols" if args.symbols else "includes"
    print(f"check_layers: {what}: {len(bad)} violation(s)" if bad else f"check_layers: {what}: layers respected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
