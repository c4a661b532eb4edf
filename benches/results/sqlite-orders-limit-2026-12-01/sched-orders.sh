#!/bin/bash
# usage: sched-orders.sh GATEWAY [CONNECTIONS] — POST /api/v1/orders with wrk -t2 -cN (64 by
# default) for 10 s on a fresh SQLite file (in DB_DIR: /tmp by default, /dev/shm to take the
# disk out). Over 8 s of it prints where the machine's two cores went (/proc/stat), each
# thread's CPU and the SQLite writer's time (/metrics); over 2 s of it records the scheduler
# (perf sched record -a) and prints, per thread, time running, runnable but waiting for a core,
# and asleep (perf sched timehist).
set -u
source "$(dirname "$0")/lib.sh"
start_gateway "$1"; conns=${2:-64}
orders_load 10 "$conns" "$d/wrk.txt"
sleep 1
snap() { for t in /proc/$pid/task/*; do echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done; }
cpu() { head -1 /proc/stat; }
writer() { curl -s http://127.0.0.1:19188/metrics | awk '/sqlite_writer_seconds_(sum|count)\{work="(batch|wal_restart)"\}/ {v[$1]=$2}
  END {print v["gateway_sqlite_writer_seconds_sum{work=\"batch\"}"]+0, v["gateway_sqlite_writer_seconds_count{work=\"batch\"}"]+0,
             v["gateway_sqlite_writer_seconds_sum{work=\"wal_restart\"}"]+0, v["gateway_sqlite_writer_seconds_count{work=\"wal_restart\"}"]+0}'; }
snap > "$d/a"; c0=$(cpu); w0=$(writer)
sleep 3
perf sched record -a -o "$d/sched.data" -- sleep 2 > /dev/null 2>&1
sleep 3
snap > "$d/b"; c1=$(cpu); w1=$(writer)
wait "$load"
echo "== machine, 8 s (% of both cores)"
echo "$c0 $c1" | awk '{n=11; t=0; for(i=2;i<=n;i++){d[i]=$(i+n)-$i; t+=d[i]}
  printf "user %.1f  nice %.1f  system %.1f  idle %.1f  iowait %.1f  irq %.1f  softirq %.1f  steal %.1f\n",
  d[2]/t*100, d[3]/t*100, d[4]/t*100, d[5]/t*100, d[6]/t*100, d[7]/t*100, d[8]/t*100, d[9]/t*100}'
echo "== gateway threads, 8 s"
sum() { awk '{a[$1]+=$2} END {for (k in a) print k, a[k]}' "$1" | sort; }
join <(sum "$d/a") <(sum "$d/b") | awk '{printf "%-16s %5.1f %% of a core\n", $1, ($3 - $2) / 8}'
echo "== sqlite-writer, 8 s (/metrics)"
echo "$w0 $w1" | awk '{printf "batches: %.1f %% of the time, %d/s, %.2f ms each\nwhole-log checkpoints (wal_restart): %.1f %% of the time, %.1f/s, %.1f ms each\n",
  ($5-$1)/8*100, ($6-$2)/8, ($5-$1)/($6-$2)*1000, ($7-$3)/8*100, ($8-$4)/8, ($8>$4) ? ($7-$3)/($8-$4)*1000 : 0}'
echo "== scheduler, 2 s (perf sched timehist; ms per thread: running, runnable waiting for a core, asleep)"
perf sched timehist -i "$d/sched.data" 2>/dev/null | awk 'NR > 3 && $3 ~ /\[/ {
    name = $3; sub(/\[.*/, "", name); if (name ~ /tokio|sqlite|wrk/) {
      wait[name] += $4; delay[name] += $5; run[name] += $6; n[name]++ } }
  END { printf "%-16s %8s %9s %8s %8s %9s\n", "thread(s)", "running", "runnable", "asleep", "switches", "delay/sw"
        for (k in run) printf "%-16s %8.0f %9.0f %8.0f %8d %9.3f\n", k, run[k], delay[k], wait[k], n[k], delay[k]/n[k] }'
echo "== wrk"
grep -E "Requests/sec|p50" "$d/wrk.txt"
stop_gateway
