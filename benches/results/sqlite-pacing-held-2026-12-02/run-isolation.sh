#!/bin/bash
# Three rounds of the isolation scenario on SQLite alternating `held` and `paced`, the middle
# round in the reverse order (ROUNDS="4 5 6" numbers more; even rounds run `paced` first;
# ISO_DIR names another directory than isolation/, BENCH_ARGS more arguments for the bench)
set -u
here=$(cd "$(dirname "$0")" && pwd)
recheck=$here/../sqlite-isolation-recheck-2026-12-01/run.sh
bench=$1 held=$2 paced=$3
mkdir -p "$here/${ISO_DIR:-isolation}"
for r in ${ROUNDS:-1 2 3}; do
  if [ $((r % 2)) = 0 ]; then order="paced=$paced held=$held"; else order="held=$held paced=$paced"; fi
  mkdir -p "$here/${ISO_DIR:-isolation}/tmp-$r"
  RUNS=$here/${ISO_DIR:-isolation}/tmp-$r "$recheck" "$bench" 1 $order
  for named in $order; do
    name=${named%%=*}
    mv "$here/${ISO_DIR:-isolation}/tmp-$r/$name-1" "$here/${ISO_DIR:-isolation}/$name-$r"
    mv "$here/${ISO_DIR:-isolation}/tmp-$r/$name-1.log" "$here/${ISO_DIR:-isolation}/$name-$r.log"
  done
  rmdir "$here/${ISO_DIR:-isolation}/tmp-$r"
done
