#!/bin/bash
# usage: run.sh OUTDIR SCENARIO... — alternates /tmp/gw-main (main at 301792e) and /tmp/gw-new
# (the rusqlite writer), 3 rounds of each scenario on SQLite, one report per run in OUTDIR.
set -u
out=$1; shift; mkdir -p "$out"
for scenario in "$@"; do
  for r in 1 2 3; do
    for v in main new; do
      case $scenario in
        e2e) extra="--rates 250,500,1000 --idle-payments 20" ;;
        api) extra="--connections 64 --duration 10s" ;;
        *) extra="" ;;
      esac
      target/release/gateway-bench --gateway /tmp/gw-$v --backend sqlite --scenarios $scenario $extra \
        --out "$out/$scenario-sqlite-$v-$r.d" > /dev/null 2>&1
      mv "$out/$scenario-sqlite-$v-$r.d"/*.md "$out/$scenario-sqlite-$v-$r.md"
      rm -rf "$out/$scenario-sqlite-$v-$r.d"
    done
  done
done
