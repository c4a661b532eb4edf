#!/usr/bin/env python3
"""usage: slowest.py TRACE.csv... — for per-payment traces written by `gateway-bench
--latency-trace DIR`: the second of the phase each of its 10 slowest payments was sent in, and
the slowest one."""
import csv, sys

for path in sys.argv[1:]:
    rows = [(float(r["sent_ms"]), float(r["latency_ms"])) for r in csv.DictReader(open(path)) if r["latency_ms"]]
    top = sorted(rows, key=lambda r: -r[1])[:10]
    by_second = [0] * 10
    for sent, _ in top:
        by_second[min(int(sent / 1000), 9)] += 1
    print(f"{path}: 10 slowest by second sent {by_second}; slowest {top[0][1]:.1f} ms, sent at {top[0][0] / 1000:.1f} s")
