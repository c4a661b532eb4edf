#!/bin/bash
# usage: run.sh GATEWAY BENCH NAME — the isolation scenario on SQLite with the gateway under
# gw-strace.sh. Writes runs/NAME.trace (strace), runs/NAME.threads (thread id → name),
# runs/NAME.writer (the SQLite writer's counters from /metrics, scraped every second),
# runs/NAME.log (the bench's output, each line stamped with the time it was printed) and
# runs/NAME/ (the bench's report). summarise.py reads them. The bench watches the wrapper, not
# the gateway, so its CPU and RSS columns mean nothing here; and it stops the wrapper with
# SIGKILL, which leaves the gateway running: this script stops it afterwards.
set -u
cd "$(dirname "$0")"
mkdir -p runs
gw=$(realpath "$1"); bench=$(realpath "$2"); name=$3
export GW_BINARY=$gw TRACE=$PWD/runs/$name.trace
"$bench" --gateway "$PWD/gw-strace.sh" --backend sqlite --scenarios isolation --out "runs/$name" 2>&1 \
  | while IFS= read -r line; do echo "$(date +%T.%6N) $line"; done > "runs/$name.log" &
bench_pid=$!
for _ in $(seq 600); do
  pid=$(pgrep -f "^$gw serve" | head -1)
  [ -n "$pid" ] && curl -sf -o /dev/null --max-time 0.5 http://127.0.0.1:19188/metrics && break
  sleep 0.1
done
# With PWRITES=1, every pwrite64 (its thread, time and file) is recorded too, from the kernel's
# tracepoint (no stop per call): which pages each checkpoint copies. Its times are the
# monotonic clock's; runs/NAME.clock holds the wall clock's lead on it, in seconds.
if [ "${PWRITES:-0}" = 1 ]; then
  python3 -c 'import time; print(time.time() - time.clock_gettime(time.CLOCK_MONOTONIC))' > "runs/$name.clock"
  perf record -q -k mono -e syscalls:sys_enter_pwrite64 -p "$pid" -o "runs/$name.pwrites.data" > /dev/null 2>&1 &
  perf_pid=$!
fi
# Blocking-pool threads (the background checkpoint's) come and go: look every half second.
while kill -0 "$pid" 2>/dev/null; do
  for t in /proc/"$pid"/task/*; do echo "$(basename "$t") $(cat "$t/comm" 2>/dev/null)"; done
  sleep 0.5
done | sort -u > "runs/$name.threads" &
echo "time batches batch_s restarts restart_s" > "runs/$name.writer"
while kill -0 "$bench_pid" 2>/dev/null; do
  curl -s --max-time 0.5 http://127.0.0.1:19188/metrics | awk -v t="$(date +%T.%6N)" \
    '/sqlite_writer_seconds_(sum|count)\{work="(batch|wal_restart)"\}/ {v[$1]=$2}
     END {if (length(v)) print t, v["gateway_sqlite_writer_seconds_count{work=\"batch\"}"]+0, v["gateway_sqlite_writer_seconds_sum{work=\"batch\"}"]+0,
          v["gateway_sqlite_writer_seconds_count{work=\"wal_restart\"}"]+0, v["gateway_sqlite_writer_seconds_sum{work=\"wal_restart\"}"]+0}' >> "runs/$name.writer"
  sleep 1
done
[ -n "${perf_pid:-}" ] && kill -INT "$perf_pid"
kill "$pid" 2>/dev/null
wait
if [ -n "${perf_pid:-}" ]; then
  perf script -i "runs/$name.pwrites.data" -F tid,time,trace 2>/dev/null \
    | sed -E 's/fd: 0x0*([0-9a-f]*), buf: 0x[0-9a-f]*, count: 0x0*([0-9a-f]*), pos: 0x0*([0-9a-f]*)/\1 \2 \3/' | gzip > "runs/$name.pwrites.gz"
  rm -f "runs/$name.pwrites.data"
fi
