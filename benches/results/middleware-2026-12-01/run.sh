#!/bin/bash
# usage: run.sh — the api scenario at 64 connections on SQLite and PostgreSQL, alternating
# /tmp/gw-base (before) and /tmp/gw-after (after), 3 rounds.
set -u
cd "$(dirname "$0")"
mkdir -p runs
for r in 1 2 3; do
  for b in sqlite postgres; do
    for v in base after; do
      TEST_MODE=true ../../../target/release/gateway-bench --gateway /tmp/gw-$v --backend $b \
        --scenarios api --connections 64 --duration 10s --out "runs/$b-$v-$r.d" > /dev/null 2>&1
      mv "runs/$b-$v-$r.d"/*.md "runs/$b-$v-$r.md"
      rm -rf "runs/$b-$v-$r.d"
    done
  done
done
