#!/bin/bash
# usage: restart-probe.sh GATEWAY — wrk orders -c64 8 s on a fresh SQLite file; req/s, p99, and the writer's batch and whole-log checkpoint time
bin=$1; d=$(mktemp -d)
GATEWAY_ENV=development TEST_MODE=true RUST_LOG=warn METRICS_ADDR=127.0.0.1:19188 DATABASE_URL="sqlite://$d/b.db" PORT=18090 "$bin" serve > /dev/null 2>&1 & pid=$!
for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:18090/health && break; sleep 0.05; done
out=$(wrk -t2 -c64 -d8s -s "$(dirname "$0")/../../wrk/create_order.lua" http://127.0.0.1:18090)
m=$(curl -s http://127.0.0.1:19188/metrics)
kill $pid; wait $pid 2>/dev/null; rm -rf "$d"
g() { echo "$m" | awk -v k="$1" '$1==k {print $2}'; }
printf '%-14s req/s %s  %s  batches %.2f s (%d)  restarts %.2f s (%d, %d refused at once)\n' "$(basename $bin)" \
  "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | grep '^p50')" \
  "$(g 'gateway_sqlite_writer_seconds_sum{work="batch"}')" "$(g 'gateway_sqlite_writer_seconds_count{work="batch"}')" \
  "$(g 'gateway_sqlite_writer_seconds_sum{work="wal_restart"}')" "$(g 'gateway_sqlite_writer_seconds_count{work="wal_restart"}')" \
  "$(g 'gateway_sqlite_writer_seconds_bucket{work="wal_restart",le="0.001"}')"
