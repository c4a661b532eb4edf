#!/bin/bash
# usage: env-orders.sh GATEWAY ROUNDS VARIANT... — for each round, for each VARIANT (an
# environment assignment such as MALLOC_ARENA_MAX=3, GLIBC_TUNABLES=glibc.malloc.tcache_count=64
# or LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2, or "-" for none): POST
# /api/v1/orders with wrk -t2 -c64 for 10 s on a fresh SQLite file in DB_DIR (/tmp by default);
# prints req/s, latency and the gateway's peak RSS (VmHWM).
set -u
source "$(dirname "$0")/lib.sh"
bin=$1; rounds=$2; shift 2
for r in $(seq "$rounds"); do
  for variant in "$@"; do
    if [ "$variant" = - ]; then start_gateway "$bin"; else start_gateway "$bin" "$variant"; fi
    orders_load 10 64 "$d/wrk.txt"; wait "$load"
    hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
    rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$d/wrk.txt")
    echo "round $r $variant: $rps req/s, $(grep '^p50' "$d/wrk.txt"), VmHWM $hwm MiB"
    stop_gateway
  done
done
