#!/usr/bin/env python3
"""usage: fsyncs.py NAME... — the writer's fsyncs per isolation phase, by file (the database
file, the log, or another), with count, median, 90th percentile and sum in ms."""
import collections, re, sys

for name in sys.argv[1:]:
    threads = dict(f for f in (l.split(None, 1) for l in open(f"runs/{name}.threads")) if len(f) == 2)
    writer = next(t for t, c in threads.items() if c.strip() == "sqlite-writer")
    ends = []
    for line in open(f"runs/{name}.log"):
        m = re.match(r"(\S+)\s+e2e (A[^/]*?) 100/s", line)
        if m:
            ends.append((m.group(2).strip(), m.group(1)))
    calls = []
    for line in open(f"runs/{name}.trace"):
        m = re.match(r"(\d+)\s+(\S+) (\w+)\((\d+)[,)].*<([\d.]+)>$", line.strip())
        if m and m.group(1) == writer:
            calls.append((m.group(2), m.group(3), m.group(4), float(m.group(5)) * 1000))
    # The writer truncates both files: the database to its size before syncing it, the log
    # back to its bound. SQLite opens the database file first, so it has the lower number.
    truncated = sorted({int(fd) for _, call, fd, _ in calls if call == "ftruncate"})
    db_fd, log_fd = str(truncated[0]), str(truncated[1])
    print(f"## {name} (writer's fsyncs, ms)\n")
    print("| phase | file | n | median | p90 | sum |")
    print("|---|---|---|---|---|---|")
    start = "00:00:00"
    for label, end in ends:
        by_fd = collections.defaultdict(list)
        for ts, call, fd, ms in calls:
            if start <= ts <= end and call in ("fsync", "fdatasync"):
                by_fd[fd].append(ms)
        for fd, v in sorted(by_fd.items()):
            v.sort()
            kind = {db_fd: "database", log_fd: "log"}.get(fd, f"fd {fd}")
            print(f"| {label} | {kind} | {len(v)} | {v[len(v) // 2]:.1f} | {v[int(len(v) * 0.9)]:.1f} | {sum(v):.0f} |")
        start = end
    print()
