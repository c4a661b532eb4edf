#!/bin/bash
# usage: run.sh BENCH P4K_GATEWAY P2K_GATEWAY — three rounds alternating the two binaries, each
# the api scenario at 64 connections and the e2e scenario on SQLite; reports in
# runs/api-<variant>-<round>/. (The isolation rounds ran through the recheck's run.sh.)
set -u
bench=$1; cd "$(dirname "$0")"
for r in 1 2 3; do
  for v in p4k p2k; do
    gw=$2; [ "$v" = p2k ] && gw=$3
    "$bench" --gateway "$gw" --backend sqlite --scenarios api,e2e --connections 64 --duration 10s \
      --out "runs/api-$v-$r" > "runs/api-$v-$r.log" 2>&1
  done
done
