#!/bin/bash
# usage: heaptrack-orders.sh GATEWAY OUT [SECONDS] — the gateway under heaptrack (writing OUT.zst) while wrk
# posts orders at 64 connections for SECONDS (5) on a fresh SQLite file; prints what wrk made.
set -u
bin=$1; out=$2; secs=${3:-5}
d=$(mktemp -d)
GATEWAY_ENV=development TEST_MODE=true RUST_LOG=warn METRICS_ADDR= DATABASE_URL="sqlite://$d/b.db" PORT=18090 heaptrack -o $out $bin serve > /tmp/ht-gw.log 2>&1 &
for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:18090/health && break; sleep 0.05; done
wrk -t2 -c64 -d${secs}s -s "$(dirname "$0")/../../wrk/create_order.lua" http://127.0.0.1:18090 > /tmp/ht-wrk.txt
pkill -TERM -f "^$bin serve"; sleep 3
cat /tmp/ht-wrk.txt | grep -E "requests in|Requests/sec|Non-2xx"
