#!/usr/bin/env python3
"""usage: summarise.py [RUNS] — per binary (directories NAME-ROUND made by run.sh), each round's
WAL peak (the bench's 50 ms samples), p50 and p99 of POST → webhook, and the gateway's CPU, then
their medians; and the log's size at the end of each hold (holds.txt): how many ended past
32 MiB and the largest."""
import glob, json, os, re, statistics, sys
from collections import defaultdict

runs = sys.argv[1] if len(sys.argv) > 1 else "runs"
rows = defaultdict(dict)
for path in glob.glob(f"{runs}/*/sqlite-*.json"):
    directory = os.path.dirname(path)
    name, round_ = re.match(r"(.*)-(\d+)$", os.path.basename(directory)).groups()
    run = json.load(open(path))["e2e"]["runs"][0]
    holds = [int(line.split()[2]) / 2**20 for line in open(f"{directory}/holds.txt")
             if not line.startswith("#")]
    rows[name][int(round_)] = (run["resources"]["wal_peak_mib"], run["latency"]["p50_us"] / 1000,
                               run["latency"]["p99_us"] / 1000, run["resources"]["gateway_cpu_pct"],
                               sum(h > 33 for h in holds), len(holds), max(holds, default=0))

def column(values, fmt):
    return ", ".join(fmt.format(v) for v in values) + " → **" + fmt.format(statistics.median(values)) + "**"

print("| binary | WAL peak MiB | p50 ms | p99 ms | gateway CPU % | holds that left the log past 33 MiB | largest then, MiB |")
print("|---|---|---|---|---|---|---|")
for name in sorted(rows):
    r = [rows[name][k] for k in sorted(rows[name])]
    print(f"| {name} | {column([x[0] for x in r], '{:.1f}')} | {column([x[1] for x in r], '{:.2f}')} | "
          f"{column([x[2] for x in r], '{:.1f}')} | {column([x[3] for x in r], '{:.0f}')} | "
          f"{', '.join(f'{x[4]}/{x[5]}' for x in r)} | {', '.join(f'{x[6]:.1f}' for x in r)} |")
