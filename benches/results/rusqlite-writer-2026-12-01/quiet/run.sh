#!/bin/bash
# A/B: alternate main and new, 3 rounds, SQLite e2e and api.
cd /tmp/ab
for r in 1 2 3; do
  for v in main new; do
    /tmp/bench-new --gateway /tmp/gw-$v --backend sqlite --scenarios e2e --rates 250,500,1000 --idle-payments 20 --out /tmp/ab/e2e-sqlite-$v-$r > /tmp/ab/e2e-sqlite-$v-$r.log 2>&1
  done
done
for r in 1 2 3; do
  for v in main new; do
    /tmp/bench-new --gateway /tmp/gw-$v --backend sqlite --scenarios api --connections 64 --duration 10s --out /tmp/ab/api-sqlite-$v-$r > /tmp/ab/api-sqlite-$v-$r.log 2>&1
  done
done
echo done
