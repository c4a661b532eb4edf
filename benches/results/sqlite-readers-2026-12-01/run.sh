#!/bin/bash
# usage: run.sh — alternates /tmp/gw-base (main at be4ea53) and /tmp/gw-readers (98ba932, reads
# through rusqlite), 3 rounds of the e2e scenario on SQLite, one report per run in runs/.
# Build each binary with `cargo build --release -p gateway-cli` at its commit and copy it.
set -u
cd "$(dirname "$0")"
mkdir -p runs
for r in 1 2 3; do
  for v in base readers; do
    TEST_MODE=true ../../../target/release/gateway-bench --gateway /tmp/gw-$v --backend sqlite \
      --scenarios e2e --rates 250,500 --payments 4000 --closed-clients 32 --idle-payments 30 \
      --out "runs/$v-$r.d" > /dev/null 2>&1
    mv "runs/$v-$r.d"/*.md "runs/$v-$r.md"
    rm -rf "runs/$v-$r.d"
  done
done
