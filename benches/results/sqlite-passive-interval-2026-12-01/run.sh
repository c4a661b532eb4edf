#!/bin/bash
# usage: run.sh — SQLite, alternating /tmp/gw-p250 (passive checkpoint every 250 ms, before) and
# /tmp/gw-p50 (every 50 ms, after), 3 rounds of the api scenario at 64 connections and the e2e
# scenario at 250 and 500 payments/s offered, the closed loop and the idle run.
set -u
cd "$(dirname "$0")"
mkdir -p runs
for r in 1 2 3; do
  for v in p250 p50; do
    TEST_MODE=true ../../../target/release/gateway-bench --gateway "/tmp/gw-$v" --backend sqlite \
      --scenarios api,e2e --connections 64 --duration 10s --rates 250,500 --payments 4000 \
      --closed-clients 32 --idle-payments 30 --out "runs/$v-$r.d" > "runs/$v-$r.log" 2>&1
    mv "runs/$v-$r.d"/*.md "runs/$v-$r.md"
    rm -rf "runs/$v-$r.d"
  done
done
