#!/usr/bin/env python3
"""usage: pwrites.py NAME... — from a run made with PWRITES=1: per isolation phase, the WAL
frames the writer appended and the database pages the checkpoints copied (the writer's
whole-log checkpoints and the background passive ones apart), with how many distinct pages
those were. A file is a log when it receives 24-byte frame headers, else a database file."""
import collections, gzip, re, sys
from datetime import datetime, timezone

def phases(name):
    out = []
    for line in open(f"runs/{name}.log"):
        m = re.match(r"(\S+)\s+e2e (A[^/]*?) 100/s .* p99\s+(\d+) µs", line)
        if m:
            h, mi, s = m.group(1).split(":")
            end = int(h) * 3600 + int(mi) * 60 + float(s)
            out.append((m.group(2).strip(), end - 10.5, end, int(m.group(3)) / 1000))
    return out

def main():
    for name in sys.argv[1:]:
        lead = float(open(f"runs/{name}.clock").read())
        threads = dict(f for f in (l.split(None, 1) for l in open(f"runs/{name}.threads")) if len(f) == 2)
        writer = next(t for t, c in threads.items() if c.strip() == "sqlite-writer")
        rows = []
        logs = set()
        for line in gzip.open(f"runs/{name}.pwrites.gz", "rt"):
            f = line.split()
            if len(f) != 5:
                continue
            tid, mono, fd, count, pos = f[0], float(f[1].rstrip(":")), f[2], int(f[3], 16), int(f[4] or "0", 16)
            wall = datetime.fromtimestamp(mono + lead, timezone.utc)
            secs = wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
            if count == 24:
                logs.add((tid, fd))
            rows.append((tid, secs, fd, count, pos))
        print(f"## {name}\n")
        print("| phase | A p99 ms | WAL frames | DB pages copied by whole-log checkpoints (distinct) | by passive ones (distinct) | distinct DB pages in all |")
        print("|---|---|---|---|---|---|")
        for label, start, end, p99 in phases(name):
            frames = 0
            copied = collections.Counter()
            distinct = collections.defaultdict(set)
            for tid, secs, fd, count, pos in rows:
                if not start <= secs <= end:
                    continue
                if (tid, fd) in logs:
                    frames += count == 24
                    continue
                who = "writer" if tid == writer else "passive"
                copied[who] += 1
                distinct[who].add(pos // 4096)
            every = distinct["writer"] | distinct["passive"]
            print(f"| {label} | {p99:.1f} | {frames} | {copied['writer']} ({len(distinct['writer'])}) | "
                  f"{copied['passive']} ({len(distinct['passive'])}) | {len(every)} |")
        print()

main()
