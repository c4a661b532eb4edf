#!/usr/bin/env python3
"""Medians (min–max) of an A/B run: main (`301792e`) against the rusqlite writer, on SQLite.
usage: summarise.py DIR (the `quiet` or `noisy` folder beside this script)."""
import glob, re, statistics, sys
here = sys.argv[1]

def rows(path):
    out = {}
    for line in open(path):
        if line.startswith('| ') and not line.startswith('| run') and not line.startswith('|---'):
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            out[cells[0]] = cells
    return out

def idle(path):
    m = re.search(r'idle \(one payment at a time, \d+ payments\): p50 ([\d.]+) ms', open(path).read())
    return float(m.group(1)) if m else None

def fig(values):
    values = [v for v in values if v is not None]
    med = statistics.median(values)
    return f"{med:g} ({min(values):g}–{max(values):g})"

figures = {}
def add(name, variant, value):
    figures.setdefault(name, {}).setdefault(variant, []).append(value)

for variant in ('main', 'new'):
    for r in (1, 2, 3):
        for md in glob.glob(f'{here}/e2e-sqlite-{variant}-{r}.md'):
            t = rows(md)
            add('e2e idle p50 ms', variant, idle(md))
            add('e2e open 250/s p99 ms', variant, float(t['open 250/s'][6]))
            add('e2e open 500/s p99 ms', variant, float(t['open 500/s'][6]))
            add('e2e open 1000/s settled/s', variant, float(t['open 1000/s'][3]))
            add('e2e closed 32 settled/s', variant, float(t['closed 32 clients'][3]))
            add('e2e closed 32 p99 ms', variant, float(t['closed 32 clients'][6]))
            add('e2e closed 32 gw CPU %', variant, float(t['closed 32 clients'][10]))
            add('e2e peak RSS MiB (VmHWM)', variant, float(re.search(r'\| e2e \| (\d+) \|', open(md).read()).group(1)))
        for md in glob.glob(f'{here}/api-sqlite-{variant}-{r}.md'):
            t = rows(md)
            add('POST /orders req/s (64)', variant, float(t['`POST /api/v1/orders`'][2]))
            add('POST /orders p99 ms (64)', variant, float(t['`POST /api/v1/orders`'][5]))
            add('POST /payments req/s (64)', variant, float(t['`POST /api/v1/payments`'][2]))
            add('GET /payments/{id} req/s (64)', variant, float(t['`GET /api/v1/payments/{id}`'][2]))
        for md in glob.glob(f'{here}/isolation-sqlite-{variant}-{r}.md'):
            t = rows(md)
            healthy = float(t['A + healthy B 100/s'][6]); hanging = float(t['A + hanging B 100/s'][6])
            add('isolation A p99 beside healthy B ms', variant, healthy)
            add('isolation A p99 beside hanging B ms', variant, hanging)
            add('isolation rise %', variant, round(100 * (hanging / healthy - 1)))

print('| figure (SQLite) | main `301792e` | rusqlite writer |')
print('|---|---|---|')
for name, by in figures.items():
    print(f"| {name} | {fig(by.get('main', []))} | {fig(by.get('new', []))} |")
