#!/usr/bin/env python3
"""Medians of 3 (min–max) of each endpoint's req/s, p99 and gateway CPU, before (base) and after."""
import glob, re, statistics
rows = {}
for path in sorted(glob.glob('runs/*.md')):
    backend, variant, _ = path[5:-3].split('-')
    for line in open(path):
        m = re.match(r'\| `([^`]+)` \| 64 \| (\d+) \| [\d.]+ \| [\d.]+ \| ([\d.]+) \| [\d.]+ \| \d+ \| (\d+) \|', line)
        if m:
            rows.setdefault((backend, m[1], variant), []).append((int(m[2]), float(m[3]), int(m[4])))
def fmt(values, unit=''):
    return f"{statistics.median(values):,g}{unit} ({min(values):,g}–{max(values):,g})"
print('| backend | endpoint | req/s before | req/s after | p99 ms before | p99 ms after | gw CPU % before | after |')
print('|---|---|---|---|---|---|---|---|')
for (backend, endpoint, variant) in sorted(rows):
    if variant != 'base':
        continue
    b, a = rows[(backend, endpoint, 'base')], rows.get((backend, endpoint, 'after'), [])
    col = lambda runs, i: fmt([r[i] for r in runs]) if runs else '–'
    print(f"| {backend} | `{endpoint}` | {col(b,0)} | {col(a,0)} | {col(b,1)} | {col(a,1)} | {col(b,2)} | {col(a,2)} |")
