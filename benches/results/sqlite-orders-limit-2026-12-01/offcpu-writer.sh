#!/bin/bash
# usage: offcpu-writer.sh GATEWAY [CONNECTIONS] — POST /api/v1/orders with wrk -t2 -cN (64 by
# default) for 10 s on a fresh SQLite file (in DB_DIR, /tmp by default); over 3 s of it records
# every time the sqlite-writer thread leaves its core, with the call stack (perf record -e
# sched:sched_switch; CALL_GRAPH=dwarf for stacks through libc), and prints the stacks it left
# from, most frequent first. MALLOC_ARENA_MAX, when set, is passed to the gateway.
set -u
source "$(dirname "$0")/lib.sh"
start_gateway "$1" ${MALLOC_ARENA_MAX:+MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX}; conns=${2:-64}
writer=$(for t in /proc/$pid/task/*; do [ "$(cat "$t/comm")" = sqlite-writer ] && basename "$t"; done)
orders_load 10 "$conns" "$d/wrk.txt"
sleep 3
perf record -e sched:sched_switch ${CALL_GRAPH:+--call-graph $CALL_GRAPH} -g -t "$writer" \
  -o "$d/off.data" -- sleep 3 > /dev/null 2>&1
wait "$load"
perf report -i "$d/off.data" --stdio --no-children -g caller,0.5,callee --percent-limit 1 2>/dev/null \
  | grep -v "^$" | head -"${LINES_SHOWN:-120}"
grep -E "Requests/sec" "$d/wrk.txt"
stop_gateway
