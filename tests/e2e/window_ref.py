#!/usr/bin/env python3
"""The windows a windowed bolt fires, computed from their definition alone, for test_window.

usage: window_ref.py INPUT KIND [length=N] [slide=N] [gap=N] [time=event|count] [lag=N] [pause_at=K]

INPUT holds lines "ID TS" in the order one spout task emits them to one window task. KIND is tumbling, sliding or
session. Prints one line per window fired, in firing order, as the test bolt win_probe writes them:
"START END | IDS | ADDED | EXPIRED", and last "late: IDS" (the tuples that came too late).

The definition: every tuple has a time (its TS for event time, its position in INPUT for count). Tumbling and
sliding windows are [e - length, e) for every e a multiple of the slide; sessions are runs of tuples, each less
than gap after the one before, spanning [first, last + gap). A window fires if it holds a tuple, in order of its
end; its tuples are listed by time, ties in arrival order. ADDED are its tuples that no earlier window held;
EXPIRED the tuples that left every window since the window before (every tuple before this window's start not
listed as expired yet; for sessions, the session before). Late tuples: the spout pauses before line pause_at until
its watermark (the highest TS so far, less lag) has gone out, so a tuple after the pause with a TS below that
watermark is late; the input is built so that no other tuple is.
"""
import bisect
import sys


def main():
    path, kind = sys.argv[1], sys.argv[2]
    opt = dict(a.split("=", 1) for a in sys.argv[3:])
    length = int(opt.get("length", 0))
    slide = int(opt.get("slide", length))
    gap = int(opt.get("gap", 0))
    time = opt.get("time", "event")
    lag = int(opt.get("lag", 0))
    pause_at = int(opt.get("pause_at", -1))
    rows = [tuple(int(x) for x in line.split()) for line in open(path) if line.strip()]
    held, late = [], []
    watermark, highest = None, None
    for n, (ident, ts) in enumerate(rows):
        if n == pause_at and highest is not None:
            watermark = highest - lag
        if time == "count":
            ts = n
        if time == "event" and watermark is not None and ts < watermark:
            late.append(ident)
            continue
        held.append((ts, n, ident))
        highest = ts if highest is None else max(highest, ts)
    held.sort()
    fires = []
    if kind == "session":
        sessions = []
        for t in held:
            if sessions and t[0] < sessions[-1][-1][0] + gap:
                sessions[-1].append(t)
            else:
                sessions.append([t])
        before = []
        for s in sessions:
            fires.append((s[0][0], s[-1][0] + gap, s, s, before))
            before = s
    elif held:
        times = [t[0] for t in held]
        reported = 0  # held[:reported] were listed as expired
        fired_end = None
        end = (held[0][0] // slide + 1) * slide
        while end - length <= held[-1][0]:
            start = end - length
            a, b = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
            if b > a:
                expired = held[reported:a] if a > reported else []
                reported = max(reported, a)
                added = held[a:b] if fired_end is None else held[max(a, bisect.bisect_left(times, fired_end)):b]
                fires.append((start, end, held[a:b], added, expired))
                fired_end = end
            end += slide
    ids = lambda ts: " ".join(str(t[2]) for t in ts)
    for start, end, window, added, expired in fires:
        print(f"{start} {end} | {ids(window)} | {ids(added)} | {ids(expired)}")
    print("late: " + " ".join(str(i) for i in late))


main()
