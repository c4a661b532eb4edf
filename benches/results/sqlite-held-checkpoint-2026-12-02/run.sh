#!/bin/bash
# usage: run.sh BENCH ROUNDS NAME=GATEWAY... — ROUNDS rounds alternating the named gateways, each
# one `e2e` run on SQLite at $RATE payments/s (300) for $SECONDS_RUN s (60) while held-reader.py
# holds a read transaction for $HOLD s (0.2) every $EVERY s (2); reports in runs/NAME-ROUND/.
set -u
bench=$1 rounds=$2; shift 2
cd "$(dirname "$0")"
rate=${RATE:-300} seconds=${SECONDS_RUN:-60}
for r in $(seq "$rounds"); do
  for named in "$@"; do
    name=${named%%=*} gateway=${named#*=} out=runs/$name-$r
    mkdir -p "$out"
    ./held-reader.py "${EVERY:-2}" "${HOLD:-0.2}" "$out/holds.txt" </dev/null >/dev/null 2>&1 &
    reader=$!
    "$bench" --gateway "$gateway" --backend sqlite --scenarios e2e --rates "$rate" \
      --payments $((rate * seconds)) --closed-clients 0 --idle-payments 1 --out "$out" \
      > "$out/bench.log" 2>&1
    kill "$reader"
  done
done
