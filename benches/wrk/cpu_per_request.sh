#!/usr/bin/env bash
# Alternating runs of POST /api/v1/orders against several gateway builds or settings: requests a
# second (wrk) and the gateway's CPU time (user + system, from /proc) per 1,000 requests.
#
# Usage: benches/wrk/cpu_per_request.sh ROUNDS 'label|path/to/gateway|VAR=value VAR=value' ...
# e.g.   benches/wrk/cpu_per_request.sh 5 \
#          'metrics-on|target/release/gateway|METRICS_ADDR=127.0.0.1:19109' \
#          'metrics-off|target/release/gateway|METRICS_ADDR='
# Each run: a fresh SQLite file, `gateway serve` on 127.0.0.1:18090, wrk -t2 -c64 -d10s.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rounds="$1"; shift
db="$(mktemp -d)/bench.db"

run() {
  local label="$1" binary="$2" settings="$3"
  rm -f "$db"*
  # shellcheck disable=SC2086 # the settings are VAR=value words on purpose
  env $settings DATABASE_URL="sqlite://$db" PORT=18090 "$binary" serve 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18090/health && break; sleep 0.05; done
  local before after out requests
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(wrk -t2 -c64 -d10s -s "$here/create_order.lua" http://127.0.0.1:18090)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  # /proc counts clock ticks (100 a second): ticks × 10 = ms.
  printf '%s req/s=%s cpu_ms_per_1000=%.1f\n' "$label" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "($after - $before) * 10 * 1000 / $requests" | bc -l)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS='|' read -r label binary settings <<<"$spec"
    run "$label" "$binary" "$settings"
  done
done
