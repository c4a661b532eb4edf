#!/bin/bash
# usage: run.sh — alternates /tmp/gw-base (main at 7f40b32) and /tmp/gw-new (67099a2: the job claim
# planned once, the WAL restarted in place under load), 3 rounds of the e2e scenario on SQLite.
# Each gateway serves /metrics (through a wrapper that sets METRICS_ADDR); the last scrape before
# it stops is kept beside the bench's report, for the writer's time (summarise.py).
set -u
cd "$(dirname "$0")"
mkdir -p runs
for r in 1 2 3; do
  for v in base new; do
    printf '#!/bin/bash\nMETRICS_ADDR=127.0.0.1:9188 exec /tmp/gw-%s "$@"\n' $v > /tmp/gw-$v-metrics
    chmod +x /tmp/gw-$v-metrics
    ( while sleep 0.5; do curl -s -m 1 http://127.0.0.1:9188/metrics > /tmp/scrape.tmp 2>/dev/null \
        && [ -s /tmp/scrape.tmp ] && mv /tmp/scrape.tmp "runs/$v-$r.metrics"; done ) &
    scraper=$!
    TEST_MODE=true ../../../target/release/gateway-bench --gateway /tmp/gw-$v-metrics --backend sqlite \
      --scenarios e2e --rates 250,500 --payments 4000 --closed-clients 32 --idle-payments 30 \
      --out "runs/$v-$r.d" > /dev/null 2>&1
    kill $scraper
    mv "runs/$v-$r.d"/*.md "runs/$v-$r.md"
    rm -rf "runs/$v-$r.d"
  done
done
