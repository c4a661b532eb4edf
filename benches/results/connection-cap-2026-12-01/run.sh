#!/bin/bash
# usage: run.sh GATEWAY — the e2e open loop at 2,000 payments/s offered on SQLite (about twice
# what this machine settles), with the default MAX_CONNECTIONS (1024) and with 128, alternating,
# 3 rounds. Each variant runs through a wrapper that sets MAX_CONNECTIONS for the gateway.
set -u
cd "$(dirname "$0")"
gw=$(realpath "$1")
mkdir -p runs
for cap in 1024 128; do
  printf '#!/bin/sh\nMAX_CONNECTIONS=%s exec %s "$@"\n' "$cap" "$gw" > "/tmp/gw-cap-$cap"
  chmod +x "/tmp/gw-cap-$cap"
done
for r in 1 2 3; do
  for cap in 1024 128; do
    TEST_MODE=true ../../../target/release/gateway-bench --gateway "/tmp/gw-cap-$cap" --backend sqlite \
      --scenarios e2e --rates 2000 --payments 4000 --closed-clients 0 --idle-payments 0 \
      --out "runs/cap$cap-$r.d" > /dev/null 2>&1
    mv "runs/cap$cap-$r.d"/*.md "runs/cap$cap-$r.md"
    rm -rf "runs/cap$cap-$r.d"
  done
done
