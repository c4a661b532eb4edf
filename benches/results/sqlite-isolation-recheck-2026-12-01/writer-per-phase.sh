#!/bin/bash
# usage: writer-per-phase.sh GATEWAY BENCH — the isolation scenario on SQLite while the SQLite
# writer's counters are scraped every second (gw-with-metrics.sh); prints, per second, the group
# commits, whole-log checkpoints (wal_restart) and the time the writer spent in each. The bench's
# report goes to runs/writer-per-phase (OUT names another path, absolute or from this directory).
set -u
cd "$(dirname "$0")"
GW_BINARY=$1 "$2" --gateway "$PWD/gw-with-metrics.sh" --backend sqlite --scenarios isolation \
  --out "${OUT:-runs/writer-per-phase}" > "${OUT:-runs/writer-per-phase}.log" 2>&1 &
bench=$!
echo "time batches/s batch_ms/s restarts/s restart_ms/s"
prev=""
while kill -0 "$bench" 2>/dev/null; do
  now=$(curl -s --max-time 0.5 http://127.0.0.1:19188/metrics | awk '/sqlite_writer_seconds_(sum|count)\{work="(batch|wal_restart)"\}/ {v[$1]=$2}
    END {print v["gateway_sqlite_writer_seconds_count{work=\"batch\"}"]+0, v["gateway_sqlite_writer_seconds_sum{work=\"batch\"}"]+0,
               v["gateway_sqlite_writer_seconds_count{work=\"wal_restart\"}"]+0, v["gateway_sqlite_writer_seconds_sum{work=\"wal_restart\"}"]+0}')
  if [ -n "$prev" ]; then
    echo "$(date +%T) $prev $now" | awk '$6 >= $2 {printf "%s %d %.0f %d %.0f\n", $1, $6-$2, ($7-$3)*1000, $8-$4, ($9-$5)*1000}'
  fi
  prev=$now
  sleep 1
done
grep -E "e2e A " "${OUT:-runs/writer-per-phase}.log"
