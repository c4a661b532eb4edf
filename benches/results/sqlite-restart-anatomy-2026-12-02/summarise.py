#!/usr/bin/env python3
"""usage: summarise.py NAME... — per isolation phase of each run made by run.sh: merchant A's
p99, the writer's whole-log checkpoints (count and time, from its metrics), and what the strace
shows inside them: the writer's fsyncs and busy-handler sleeps, and the background checkpoint's
fsyncs (every other thread's)."""
import re, sys
from datetime import datetime, timedelta

def t(s):
    return datetime.strptime(s, "%H:%M:%S.%f")

def phases(name):
    """(label, start, end, p99 ms) per phase: each ends when the bench prints it, 10 s of load
    before."""
    out = []
    for line in open(f"runs/{name}.log"):
        m = re.match(r"(\S+)\s+e2e (A[^/]*?) 100/s .* p99\s+(\d+) µs", line)
        if m:
            end = t(m.group(1))
            out.append((m.group(2).strip(), end - timedelta(seconds=10.5), end, int(m.group(3)) / 1000))
    return out

def main():
    for name in sys.argv[1:]:
        threads = dict(f for f in (l.split(None, 1) for l in open(f"runs/{name}.threads")) if len(f) == 2)
        writer = next(tid for tid, comm in threads.items() if comm.strip() == "sqlite-writer")
        calls = []
        for line in open(f"runs/{name}.trace"):
            m = re.match(r"(\d+)\s+(\S+) (\w+)\(.*<([\d.]+)>$", line.strip())
            if m:
                calls.append((m.group(1), t(m.group(2)), m.group(3), float(m.group(4)) * 1000))
        scrapes = []
        for line in list(open(f"runs/{name}.writer"))[1:]:
            f = line.split()
            scrapes.append((t(f[0]), int(float(f[1])), float(f[2]), int(float(f[3])), float(f[4])))
        print(f"## {name}\n")
        print("| phase | A p99 ms | batches | restarts | restart ms (each) | writer fsyncs: n, ms | writer sleeps ms | other threads' fsyncs: n, ms |")
        print("|---|---|---|---|---|---|---|---|")
        for label, start, end, p99 in phases(name):
            inside = [s for s in scrapes if start <= s[0] <= end]
            if len(inside) >= 2:
                a, b = inside[0], inside[-1]
                batches, restarts, restart_ms = b[1] - a[1], b[3] - a[3], (b[4] - a[4]) * 1000
            else:
                batches = restarts = restart_ms = 0
            mine = [c for c in calls if start <= c[1] <= end]
            wf = [c[3] for c in mine if c[0] == writer and c[2] in ("fsync", "fdatasync")]
            ws = [c[3] for c in mine if c[0] == writer and "sleep" in c[2]]
            of = [c[3] for c in mine if c[0] != writer and c[2] in ("fsync", "fdatasync")]
            each = restart_ms / restarts if restarts else 0
            print(f"| {label} | {p99:.1f} | {batches} | {restarts} | {restart_ms:.0f} ({each:.1f}) | "
                  f"{len(wf)}, {sum(wf):.0f} | {sum(ws):.0f} | {len(of)}, {sum(of):.0f} |")
        print()

main()
