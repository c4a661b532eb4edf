import json, glob, os, statistics, sys
here = os.path.dirname(os.path.abspath(__file__))
rows = []
combos = [("sqlite","db","sqlite-2026-11-30.json"),("sqlite","redis","sqlite-redis-2026-11-30.json"),
          ("postgres","db","postgres-2026-11-30.json"),("postgres","redis","postgres-redis-2026-11-30.json")]
def med(vals, fmt):
    vals=[v for v in vals if v is not None]
    if not vals: return "—"
    m=statistics.median(vals)
    return f"{fmt(m)} ({fmt(min(vals))}–{fmt(max(vals))})"
ms=lambda us: f"{us/1000:.1f} ms" if us < 100000 else f"{us/1e6:.2f} s"
rate=lambda r: f"{r:,.0f}"
pct=lambda p: f"{p:+.0f} %"
mib=lambda m: f"{m:.1f}"
print("| database | queue | idle p50 | 250/s p50 | 250/s p99 | 500/s p99 | closed loop, settled/s | isolation: A's p99, B hanging vs alone | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for db,q,name in combos:
    files=sorted(glob.glob(f"{here}/r*-{name}"))
    data=[json.load(open(f)) for f in files]
    def run(d,mode):
        for r in d['e2e']['runs']:
            if r['mode']==mode: return r
    idle=[d['e2e']['idle']['latency']['p50_us'] if 'latency' in d['e2e']['idle'] else d['e2e']['idle'].get('p50_us') for d in data]
    p50_250=[run(d,'open 250/s')['latency']['p50_us'] for d in data]
    p99_250=[run(d,'open 250/s')['latency']['p99_us'] for d in data]
    p99_500=[run(d,'open 500/s')['latency']['p99_us'] for d in data]
    closed=[run(d,'closed 32 clients')['payments_per_s'] for d in data]
    iso=[d['isolation']['p99_increase_pct'] for d in data if d.get('isolation')]
    rss=[max(d['gateway_vm_hwm_mib'].values()) for d in data]
    print(f"| {db} | {q} | {med(idle,ms)} | {med(p50_250,ms)} | {med(p99_250,ms)} | {med(p99_500,ms)} | {med(closed,rate)} | {med(iso,pct)} | {med(rss,mib)} |")
print("rounds:", len(files))
