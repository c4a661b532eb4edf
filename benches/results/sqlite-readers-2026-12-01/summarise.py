#!/usr/bin/env python3
"""Medians (min–max) of the e2e figures in runs/<variant>-<round>.md, as a Markdown table."""
import re
import statistics
from pathlib import Path

RUNS = Path(__file__).parent / "runs"
VARIANTS = ["base", "readers"]
# field of a report row split on "|": 3 sent/s, 4 settled/s, 5 p50, 7 p99, 11 gw CPU, 12 RSS
FIGURES = [
    ("idle p50 ms", "idle", None),
    ("open 250/s p50 ms", "open 250/s", 5),
    ("open 250/s p99 ms", "open 250/s", 7),
    ("open 250/s gateway CPU %", "open 250/s", 11),
    ("open 500/s settled/s", "open 500/s", 4),
    ("open 500/s p50 ms", "open 500/s", 5),
    ("open 500/s p99 ms", "open 500/s", 7),
    ("closed 32: sent/s", "closed 32 clients", 3),
    ("closed 32: settled/s", "closed 32 clients", 4),
    ("closed 32: p99 ms", "closed 32 clients", 7),
    ("closed 32: gateway CPU %", "closed 32 clients", 11),
    ("peak RSS MiB (any step)", "rss", None),
]


def figure(text, row, column):
    if row == "idle":
        return float(re.search(r"^idle .*?p50 ([\d.]+) ms", text, re.M).group(1))
    if row == "rss":
        return max(float(line.split("|")[12]) for line in text.splitlines()
                   if line.startswith("| open") or line.startswith("| closed"))
    line = next(l for l in text.splitlines() if l.startswith(f"| {row} |"))
    return float(line.split("|")[column])


def cell(values):
    med = statistics.median(values)
    return f"{med:g} ({min(values):g}–{max(values):g})"


print("| figure (SQLite) | " + " | ".join(VARIANTS) + " |")
print("|---|" + "---|" * len(VARIANTS))
for name, row, column in FIGURES:
    cells = []
    for variant in VARIANTS:
        values = [figure(p.read_text(), row, column) for p in sorted(RUNS.glob(f"{variant}-*.md"))]
        cells.append(cell(values))
    print(f"| {name} | " + " | ".join(cells) + " |")
