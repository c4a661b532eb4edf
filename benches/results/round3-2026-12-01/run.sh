#!/bin/bash
# usage: run.sh GATEWAY BENCH [DIR] — three rounds of the whole bench, one after another (r1/, r2/,
# r3/ in DIR: this script's directory unless given; round 4 ran it into its own), then three
# times ten cold starts. Build both with `cargo build --release -p gateway-cli -p gateway-bench`;
# nothing else may run meanwhile.
set -u
gateway=$(realpath "$1") bench=$(realpath "$2")
benches="$(cd "$(dirname "$0")/../.." && pwd)"
cd "${3:-$(dirname "$0")}"
for r in 1 2 3; do
  "$bench" --gateway "$gateway" --backend sqlite,postgres --scenarios api,limit,e2e,isolation \
    --connections 16,64 --duration 10s --out "r$r" > "r$r.log" 2>&1
done
for i in 1 2 3; do python3 "$benches/cold-start.py" "$gateway" 10; done > cold-start.txt 2>&1
