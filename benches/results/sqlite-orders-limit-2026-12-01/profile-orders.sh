#!/bin/bash
# usage: profile-orders.sh GATEWAY — POST /api/v1/orders with wrk -t2 -c64 for 10 s on a fresh
# SQLite file in DB_DIR (/tmp by default); samples the gateway's CPU for 4 s of it (perf record
# -F 999 -g) and prints the hottest functions by self time for the runtime's workers and for
# the writer, then the split by thread and shared object.
set -u
source "$(dirname "$0")/lib.sh"
start_gateway "$1"
orders_load 10 64 "$d/wrk.txt"
sleep 3
perf record -F 999 -g -p "$pid" -o "$d/cpu.data" -- sleep 4 > /dev/null 2>&1
wait "$load"
for comm in tokio-rt-worker sqlite-writer; do
  echo "== $comm: self time by function (top 40)"
  perf report -i "$d/cpu.data" --stdio --no-children --comm "$comm" --sort sym -g none 2>/dev/null \
    | grep -E "^ +[0-9]" | head -40
done
echo "== by thread and shared object"
perf report -i "$d/cpu.data" --stdio --no-children --sort comm,dso -g none 2>/dev/null | grep -E "^ +[0-9]" | head -20
grep -E "Requests/sec" "$d/wrk.txt"
stop_gateway
