#!/bin/bash
# usage: run.sh GATEWAY BENCH — three rounds of the whole bench, one after another (r1/, r2/, r3/),
# then three times ten cold starts. Build both with
# `cargo build --release -p gateway-cli -p gateway-bench`; nothing else may run meanwhile.
set -u
gateway=$1 bench=$2
cd "$(dirname "$0")"
for r in 1 2 3; do
  "$bench" --gateway "$gateway" --backend sqlite,postgres --scenarios api,limit,e2e,isolation \
    --connections 16,64 --duration 10s --out "r$r" > "r$r.log" 2>&1
done
for i in 1 2 3; do python3 ../../cold-start.py "$gateway" 10; done > cold-start.txt 2>&1
