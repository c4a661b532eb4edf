#!/bin/bash
# usage: run.sh GATEWAY BENCH — three rounds alternating the gateway on glibc's malloc and on
# mimalloc (gw-mimalloc.sh, LD_PRELOAD), each the api scenario at 64 connections and the e2e
# scenario on SQLite; reports in runs/<variant>-<round>/.
set -u
gateway=$1 bench=$2
cd "$(dirname "$0")"
for r in 1 2 3; do
  for v in glibc mimalloc; do
    gw=$gateway; [ "$v" = mimalloc ] && gw="$PWD/gw-mimalloc.sh"
    GW_BINARY=$gateway TEST_MODE=true "$bench" --gateway "$gw" --backend sqlite --scenarios api,e2e \
      --connections 64 --duration 10s --out "runs/$v-$r" > "runs/$v-$r.log" 2>&1
  done
done
