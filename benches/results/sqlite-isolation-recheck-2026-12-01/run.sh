#!/bin/bash
# usage: run.sh BENCH ROUNDS NAME=GATEWAY... — ROUNDS rounds alternating the named gateway
# binaries, each the isolation scenario on SQLite (merchant A at 100 payments/s alone, beside a
# healthy merchant B, beside a B whose endpoint hangs); reports in runs/<name>-<round>/ (RUNS
# names another directory; BENCH_ARGS, more arguments for the bench, such as
# "--isolation-payments 3000").
set -u
bench=$1 rounds=$2; shift 2
cd "$(dirname "$0")"
for r in $(seq "$rounds"); do
  for named in "$@"; do
    name=${named%%=*} gateway=${named#*=}
    "$bench" --gateway "$gateway" --backend sqlite --scenarios isolation --out "${RUNS:-runs}/$name-$r" ${BENCH_ARGS:-} \
      > "${RUNS:-runs}/$name-$r.log" 2>&1
  done
done
