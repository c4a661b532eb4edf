#!/bin/bash
# usage: run.sh OUTDIR — alternates /tmp/gw-base (main at d698165) and /tmp/gw-new (this
# change, ae3be9e), 3 rounds of PostgreSQL e2e and api+limit, one report per run in OUTDIR.
set -u
out=$1; mkdir -p "$out"
for r in 1 2 3; do
  for v in base new; do
    /tmp/gateway-bench --gateway /tmp/gw-$v --backend postgres --scenarios e2e \
      --rates 250 --idle-payments 50 --out "$out/e2e-$v-$r.d" > /dev/null 2>&1
    mv "$out/e2e-$v-$r.d"/*.md "$out/e2e-$v-$r.md"; rm -rf "$out/e2e-$v-$r.d"
    /tmp/gateway-bench --gateway /tmp/gw-$v --backend postgres --scenarios api,limit \
      --connections 64 --duration 10s --out "$out/api-$v-$r.d" > /dev/null 2>&1
    mv "$out/api-$v-$r.d"/*.md "$out/api-$v-$r.md"; rm -rf "$out/api-$v-$r.d"
  done
done
