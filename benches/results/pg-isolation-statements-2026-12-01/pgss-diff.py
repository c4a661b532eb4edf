#!/usr/bin/env python3
"""usage: pgss-diff.py samples.csv t0 t1 [t2 t3]: per statement, calls and exec ms between the snapshots nearest t0 and t1 (and t2..t3), top by time."""
import sys, collections
snaps = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    parts = line.rstrip('\n').split(',', 5)
    if len(parts) < 6: continue
    t, qid, calls, ms, rows, q = parts
    snaps[round(float(t))][qid] = (int(calls), float(ms), int(rows), q)
times = sorted(snaps)
def near(t): return min(times, key=lambda x: abs(x - t))
def diff(a, b):
    A, B = snaps[near(a)], snaps[near(b)]
    return {q: (B[q][0]-A.get(q,(0,0,0))[0], B[q][1]-A.get(q,(0,0,0))[1], B[q][2]-A.get(q,(0,0,0))[2], B[q][3]) for q in B}, near(b)-near(a)
args = [float(x) for x in sys.argv[2:]]
windows = [diff(args[i], args[i+1]) for i in range(0, len(args), 2)]
keys = set().union(*[w[0] for w, _ in [(w, 0) for w in windows]]) if False else set().union(*[d for d, _ in windows])
tot = [sum(d[k][1] for k in d) for d, _ in windows]
print('window seconds:', [s for _, s in windows], ' total exec ms:', [round(t) for t in tot])
rows = sorted(keys, key=lambda k: -max(d.get(k,(0,0,0,''))[1] for d, _ in windows))
for k in rows[:25]:
    cells = []
    for d, s in windows:
        c, ms, r, q = d.get(k, (0, 0, 0, ''))
        cells.append(f"{c/s:8.0f}/s {ms/s:7.1f}ms/s")
        query = q or query if 'query' in dir() else q
    q = next(d[k][3] for d, _ in windows if k in d)
    print(' | '.join(cells), ' ', q[:150])
