#!/bin/bash
# usage: run-sustained.sh BENCH GATEWAY NAME — 10 minutes of `e2e` at 300 payments/s on SQLite
# (180,000 payments, open loop), the WAL sampled every 50 ms into sustained/NAME/wal-size.txt.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=$here/sustained/$3
mkdir -p "$out"
"$here/wal-sampler.py" "$out/wal-size.txt" </dev/null >/dev/null 2>&1 &
sampler=$!
"$1" --gateway "$2" --backend sqlite --scenarios e2e --rates 300 --payments 180000 \
  --closed-clients 0 --idle-payments 1 --out "$out" > "$out/bench.log" 2>&1
kill "$sampler"
gzip -f "$out/wal-size.txt"
