import sys, re, collections
# One sample per request path: `heaptrack-orders.sh BIN OUT 5`, then
#   heaptrack_print -f OUT.zst -F OUT.fg --flamegraph-cost-type allocations; rustfilt < OUT.fg > OUT.dfg
#   python3 allocations-by-caller.py OUT.dfg REQUESTS  (REQUESTS: what wrk reported)
N = int(sys.argv[2]); pat = re.compile(sys.argv[3] if len(sys.argv)>3 else r'gateway_|axum|hyper::|tower|rusqlite|serde_json|tracing|metrics|tokio::|bytes::|http::|uuid|utoipa|sqlx|matchit')
skip = re.compile(r'^<?(alloc::|core::|std::|__rustc|<alloc|<core|<std)')
lc = collections.Counter(); total=0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(' ')
    n = int(n); total += n
    frames = [re.sub(r' \([^()]*\)$','',f) for f in stack.rstrip(';').split(';')]
    key = '?'
    for f in reversed(frames):
        if pat.search(f): key = f; break
    lc[key] += n
print("total", total, "per req %.1f" % (total/N))
for f, n in lc.most_common(int(sys.argv[4]) if len(sys.argv)>4 else 50): print(f"{n/N:7.2f}  {f[:230]}")
