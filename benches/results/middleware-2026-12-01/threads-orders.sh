#!/bin/bash
# usage: threads-orders.sh GATEWAY — POST /api/v1/orders with wrk -t2 -c64 for 10 s on a fresh SQLite
# file; prints each thread's CPU over 8 s of it (/proc/<pid>/task/*/stat) and the SQLite writer's
# busy time and batches over the same 8 s (/metrics).
set -u
bin=$1; d=$(mktemp -d); here="$(cd "$(dirname "$0")" && pwd)"
GATEWAY_ENV=development TEST_MODE=true RUST_LOG=warn METRICS_ADDR=127.0.0.1:19188 \
  DATABASE_URL="sqlite://$d/b.db" PORT=18090 "$bin" serve > /dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:18090/health && break; sleep 0.05; done
wrk -t2 -c64 -d10s -s "$here/../../wrk/create_order.lua" http://127.0.0.1:18090 > "$d/wrk.txt" &
sleep 1
snap() { for t in /proc/$pid/task/*; do echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done; }
writer() { curl -s http://127.0.0.1:19188/metrics | awk '/sqlite_writer_seconds_(sum|count)\{work="batch"\}/ {print $2}' | paste -sd' '; }
snap > "$d/a"; w0=$(writer); sleep 8; snap > "$d/b"; w1=$(writer)
wait %2
sum() { awk '{a[$1]+=$2} END {for (k in a) print k, a[k]}' "$1" | sort; }
join <(sum "$d/a") <(sum "$d/b") | awk '{printf "%-16s %5.1f %% of a core\n", $1, ($3 - $2) / 8}'
echo "$w0 $w1" | awk '{printf "sqlite-writer busy in batches: %.1f %% (%d batches/s, %.2f ms each)\n", ($3-$1)/8*100, ($4-$2)/8, ($3-$1)/($4-$2)*1000}'
grep -E "Requests/sec" "$d/wrk.txt"
kill "$pid"; wait "$pid" 2>/dev/null; rm -rf "$d"
