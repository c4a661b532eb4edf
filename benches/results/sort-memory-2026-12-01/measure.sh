#!/bin/bash
# usage: measure.sh BINARY PORT
cp /tmp/big/gateway.db /tmp/big/run.db; rm -f /tmp/big/run.db-wal /tmp/big/run.db-shm
TEST_MODE=true GATEWAY_ENV=development RUST_LOG=warn DATABASE_URL=sqlite:///tmp/big/run.db PORT=$2 $1 serve > /tmp/big/serve.log 2>&1 &
pid=$!
for i in $(seq 100); do curl -sf localhost:$2/ready >/dev/null && break; sleep 0.1; done
before=$(grep VmHWM /proc/$pid/status | awk '{print $2}')
for i in 1 2 3; do curl -s -o /dev/null -w "%{http_code} %{time_total}s " localhost:$2/api/v1/test/jobs/status; done
echo; echo "$1 VmHWM before ${before} KiB after $(grep VmHWM /proc/$pid/status | awk '{print $2}') KiB"
kill $pid; wait $pid 2>/dev/null
