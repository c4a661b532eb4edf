import re,sys,collections
def load(p):
    d={}
    for l in open(p):
        if l.startswith('#') or not l.strip(): continue
        k,v=l.rsplit(' ',1); d[k]=float(v)
    return d
a,b=load(sys.argv[1]),load(sys.argv[2])
hist=collections.defaultdict(dict)
for k,v in b.items():
    m=re.match(r'(\w+)_bucket\{(.*)\}$',k)
    if m:
        labels=re.sub(r',?le="[^"]*"','',m.group(2))
        le=re.search(r'le="([^"]*)"',m.group(2)).group(1)
        hist[(m.group(1),labels)][float(le)]=v-a.get(k,0)
for (name,labels),bk in sorted(hist.items()):
    sk=f'{name}_sum{{{labels}}}' if labels else f'{name}_sum'
    ck=f'{name}_count{{{labels}}}' if labels else f'{name}_count'
    n=b.get(ck,0)-a.get(ck,0)
    if n<=0: continue
    s=b.get(sk,0)-a.get(sk,0)
    les=sorted(bk)
    def q(p):
        for le in les:
            if bk[le]>=p*n: return le
    print(f"{name}{{{labels}}} n={n:.0f} mean={1000*s/n:.2f}ms p50<={q(.5)} p90<={q(.9)} p99<={q(.99)}")
