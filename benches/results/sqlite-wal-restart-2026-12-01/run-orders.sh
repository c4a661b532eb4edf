#!/bin/bash
# usage: run-orders.sh — the api scenario at 64 connections, alternating /tmp/gw-base and /tmp/gw-new, 3 rounds.
# OUT and VARIANTS as in run.sh.
set -u
cd "$(dirname "$0")"
out=${OUT:-runs}
mkdir -p "$out"
for r in 1 2 3; do
  for v in ${VARIANTS:-base new}; do
    TEST_MODE=true ../../../target/release/gateway-bench --gateway /tmp/gw-$v --backend sqlite \
      --scenarios api --connections 64 --duration 10s --out "$out/api-$v-$r.d" > /dev/null 2>&1
    mv "$out/api-$v-$r.d"/*.md "$out/api-$v-$r.md"
    rm -rf "$out/api-$v-$r.d"
  done
done
