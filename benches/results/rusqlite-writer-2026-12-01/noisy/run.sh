#!/bin/bash
# A/B: alternate main (301792e) and new (rusqlite writer), 3 rounds each: SQLite e2e, api (64 connections), isolation.
cd /tmp/ab2
for r in 1 2 3; do
  for v in main new; do
    /tmp/bench-new --gateway /tmp/gw-$v --backend sqlite --scenarios e2e --rates 250,500,1000 --idle-payments 20 --out /tmp/ab2/e2e-sqlite-$v-$r > /tmp/ab2/e2e-sqlite-$v-$r.log 2>&1
  done
done
for r in 1 2 3; do
  for v in main new; do
    /tmp/bench-new --gateway /tmp/gw-$v --backend sqlite --scenarios api --connections 64 --duration 10s --out /tmp/ab2/api-sqlite-$v-$r > /tmp/ab2/api-sqlite-$v-$r.log 2>&1
  done
done
for r in 1 2 3; do
  for v in main new; do
    /tmp/bench-new --gateway /tmp/gw-$v --backend sqlite --scenarios isolation --out /tmp/ab2/isolation-sqlite-$v-$r > /tmp/ab2/isolation-sqlite-$v-$r.log 2>&1
  done
done
echo done
