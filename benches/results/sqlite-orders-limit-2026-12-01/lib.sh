# Sourced by this directory's scripts. start_gateway BIN [VAR=value...] starts `BIN serve` on
# SQLite in a new directory under DB_DIR (/tmp by default), API on 127.0.0.1:18090 and metrics on
# 127.0.0.1:19188, sets $pid and $d, and waits until it answers; stop_gateway stops it and
# removes the directory. orders_load SECONDS CONNECTIONS OUT posts orders with wrk in the
# background (the dev merchant, benches/wrk/create_order.lua) and sets $load to its pid.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start_gateway() {
  local bin=$1; shift
  d=$(mktemp -d -p "${DB_DIR:-/tmp}")
  env "$@" GATEWAY_ENV=development TEST_MODE=true RUST_LOG=warn METRICS_ADDR=127.0.0.1:19188 \
    DATABASE_URL="sqlite://$d/b.db" PORT=18090 "$bin" serve > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:18090/health && return; sleep 0.05; done
  echo "the gateway did not start" >&2; exit 1
}
stop_gateway() { kill "$pid"; wait "$pid" 2>/dev/null; rm -rf "$d"; }
orders_load() {
  wrk -t2 -c"$2" -d"$1"s -s "$here/../../wrk/create_order.lua" http://127.0.0.1:18090 > "$3" &
  load=$!
}
