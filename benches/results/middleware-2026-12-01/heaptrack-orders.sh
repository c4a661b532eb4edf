#!/bin/bash
# heaptrack the gateway over N seconds of POST /api/v1/orders (wrk -c64), fresh SQLite file.
set -u
bin=$1; out=$2; secs=${3:-5}
d=$(mktemp -d); 
GATEWAY_ENV=development TEST_MODE=true RUST_LOG=warn METRICS_ADDR= DATABASE_URL="sqlite://$d/b.db" PORT=18090 heaptrack -o $out $bin serve > /tmp/ht-gw.log 2>&1 &
for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:18090/health && break; sleep 0.05; done
wrk -t2 -c64 -d${secs}s -s /work/main/benches/wrk/create_order.lua http://127.0.0.1:18090 > /tmp/ht-wrk.txt
pkill -TERM -f "heaptrack.*$bin" ; pkill -TERM -f "^$bin serve"; sleep 3; 
cat /tmp/ht-wrk.txt | grep -E "requests in|Requests/sec|Non-2xx"
