#!/usr/bin/env python3
"""Medians (min–max) of the A/B run beside this script: main (`d698165`) against one-statement
claims and single-INSERT orders, on PostgreSQL. usage: summarise.py DIR"""
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
    if not values:
        return '–'
    med = statistics.median(values)
    return f"{med:g} ({min(values):g}–{max(values):g})"

figures = {}
def add(name, variant, value):
    figures.setdefault(name, {}).setdefault(variant, []).append(value)

for variant in ('base', 'new'):
    for r in (1, 2, 3):
        for md in glob.glob(f'{here}/e2e-{variant}-{r}.md'):
            t = rows(md)
            add('e2e idle p50 ms', variant, idle(md))
            add('e2e open 250/s settled/s', variant, float(t['open 250/s'][3]))
            add('e2e open 250/s p99 ms', variant, float(t['open 250/s'][6]))
            add('e2e closed 32 settled/s', variant, float(t['closed 32 clients'][3]))
            add('e2e closed 32 p99 ms', variant, float(t['closed 32 clients'][6]))
            add('e2e closed 32 gw CPU %', variant, float(t['closed 32 clients'][10]))
            add('e2e closed 32 db CPU %', variant, float(t['closed 32 clients'][13]))
            add('e2e peak RSS MiB (VmHWM)', variant, float(re.search(r'\| e2e \| (\d+) \|', open(md).read()).group(1)))
        for md in glob.glob(f'{here}/api-{variant}-{r}.md'):
            t = rows(md)
            orders = t['`POST /api/v1/orders`']
            add('POST /orders req/s (64)', variant, float(orders[2]))
            add('POST /orders p99 ms (64)', variant, float(orders[5]))
            add('POST /orders gw CPU %', variant, float(orders[8]))
            add('POST /orders db CPU %', variant, float(orders[11]))
            limit = t['pgbench -M prepared']
            add('pgbench single insert TPS (64)', variant, float(limit[3]))
            add('orders ÷ pgbench %', variant, round(100 * float(orders[2]) / float(limit[3])))
            add('POST /payments req/s (64)', variant, float(t['`POST /api/v1/payments`'][2]))
            add('GET /payments/{id} req/s (64)', variant, float(t['`GET /api/v1/payments/{id}`'][2]))
            add('api peak RSS MiB (VmHWM)', variant, float(re.search(r'\| api \| (\d+) \|', open(md).read()).group(1)))

print('| figure (PostgreSQL) | main `d698165` | this change |')
print('|---|---|---|')
for name, by in figures.items():
    print(f"| {name} | {fig(by.get('base', []))} | {fig(by.get('new', []))} |")
