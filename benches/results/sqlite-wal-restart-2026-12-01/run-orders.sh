#!/bin/bash
# usage: run-orders.sh — the api scenario at 64 connections, alternating /tmp/gw-base and /tmp/gw-new, 3 rounds.
set -u
cd "$(dirname "$0")"
mkdir -p runs
for r in 1 2 3; do
  for v in base new; do
    TEST_MODE=true ../../../target/release/gateway-bench --gateway /tmp/gw-$v --backend sqlite \
      --scenarios api --connections 64 --duration 10s --out "runs/api-$v-$r.d" > /dev/null 2>&1
    mv "runs/api-$v-$r.d"/*.md "runs/api-$v-$r.md"
    rm -rf "runs/api-$v-$r.d"
  done
done
