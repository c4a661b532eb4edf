#!/usr/bin/env python3
"""Medians of 3 (min–max) per passive-checkpoint interval, from runs/: the full runs
(`<interval>-<round>.md`, run.sh) and the open-loop runs (`open-<interval>-<round>.md`, run-open.sh)."""
import glob, re, statistics
from collections import defaultdict

figures = defaultdict(lambda: defaultdict(list))  # figure -> variant -> values

def cells(line):
    return [c.strip() for c in line.strip().strip('|').split('|')]

for path in sorted(glob.glob('runs/*.md')):
    name = path[5:-3]
    kind, variant = ('open', name.split('-')[1]) if name.startswith('open-') else ('full', name.split('-')[0])
    wal = []
    for line in open(path):
        c = cells(line)
        if line.startswith('| `POST /api/v1/orders`'):
            figures['orders req/s'][variant].append(float(c[2]))
            figures['orders p99 ms'][variant].append(float(c[5]))
        elif line.startswith('| `POST /api/v1/payments`'):
            figures['POST payments req/s'][variant].append(float(c[2]))
            figures['POST payments p99 ms'][variant].append(float(c[5]))
        elif line.startswith('| open 250/s') or line.startswith('| open 500/s') or line.startswith('| closed 32'):
            step = c[0].replace(' clients', '')
            tag = f'{step} ({kind} runs)'
            if step.startswith('closed'):
                figures[f'{tag} settled/s'][variant].append(float(c[3]))
            figures[f'{tag} p99 ms'][variant].append(float(c[6]))
            figures[f'{tag} gateway CPU %'][variant].append(float(c[10]))
            wal.append(float(c[14]))
        elif line.startswith('idle (one payment at a time') and 'p50 0.00' not in line:
            figures['idle p50 ms'][variant].append(float(re.search(r'p50 ([\d.]+) ms', line)[1]))
    if wal:
        figures[f'WAL peak MiB, e2e ({kind} runs)'][variant].append(max(wal))

variants = ['p250', 'p100', 'p50']
print('| figure | ' + ' | '.join(f'every {v[1:]} ms' for v in variants) + ' |')
print('|---' * (len(variants) + 1) + '|')
for figure, by_variant in figures.items():
    row = []
    for v in variants:
        values = by_variant.get(v)
        row.append(f'{statistics.median(values):,g} ({min(values):,g}–{max(values):,g})' if values else '–')
    print(f'| {figure} | ' + ' | '.join(row) + ' |')
