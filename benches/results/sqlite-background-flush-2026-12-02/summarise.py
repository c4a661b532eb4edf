#!/usr/bin/env python3
"""usage: summarise.py [RUNS] — merchant A's webhook p99 (ms) in each isolation phase per round
of each binary in RUNS (runs/ by default: directories NAME-ROUND made by
../sqlite-isolation-recheck-2026-12-01/run.sh), the change from beside a healthy B to beside a
hanging one, and the medians."""
import glob, json, os, re, statistics, sys
from collections import defaultdict

runs = sys.argv[1] if len(sys.argv) > 1 else "runs"
rounds = defaultdict(dict)
for path in glob.glob(f"{runs}/*/sqlite-*.json"):
    name, round_ = re.match(r"(.*)-(\d+)$", os.path.basename(os.path.dirname(path))).groups()
    iso = json.load(open(path))["isolation"]
    p99 = lambda phase: iso[phase]["latency"]["p99_us"] / 1000
    rounds[name][int(round_)] = (p99("alone"), p99("with_healthy_merchant"), p99("with_hanging_merchant"),
                                 iso["p99_increase_vs_healthy_pct"])

def column(values, fmt):
    return ", ".join(fmt.format(v) for v in values) + " → **" + fmt.format(statistics.median(values)) + "**"

print("| binary | A alone | A + healthy B | A + hanging B | hanging vs healthy, % |")
print("|---|---|---|---|---|")
for name, by_round in rounds.items():
    r = [by_round[k] for k in sorted(by_round)]
    print(f"| {name} | {column([x[0] for x in r], '{:.1f}')} | {column([x[1] for x in r], '{:.1f}')} | "
          f"{column([x[2] for x in r], '{:.1f}')} | {column([x[3] for x in r], '{:+.0f}')} |")
