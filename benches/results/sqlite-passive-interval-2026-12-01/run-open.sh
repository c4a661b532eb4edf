#!/bin/bash
# usage: run-open.sh — SQLite, the e2e open loop at 250 and 500 payments/s offered, alternating
# the passive checkpoint every 250 ms (/tmp/gw-p250), 100 ms (/tmp/gw-p100) and 50 ms
# (/tmp/gw-p50), 3 rounds.
set -u
cd "$(dirname "$0")"
mkdir -p runs
for r in 1 2 3; do
  for v in p250 p100 p50; do
    TEST_MODE=true ../../../target/release/gateway-bench --gateway "/tmp/gw-$v" --backend sqlite \
      --scenarios e2e --rates 250,500 --payments 4000 --closed-clients 0 --idle-payments 0 \
      --out "runs/open-$v-$r.d" > "runs/open-$v-$r.log" 2>&1
    mv "runs/open-$v-$r.d"/*.md "runs/open-$v-$r.md"
    rm -rf "runs/open-$v-$r.d"
  done
done
