#!/bin/bash
# usage: run.sh — alternates /tmp/gw-base (main at 7f40b32) and /tmp/gw-new (67099a2: the job claim
# planned once, the WAL restarted in place under load), 3 rounds of the e2e scenario on SQLite.
# Each gateway serves /metrics (through a wrapper that sets METRICS_ADDR); the last scrape before
# it stops is kept beside the bench's report, for the writer's time (summarise.py). OUT names
# another directory for the reports (absolute, or from this directory), for later comparisons of
# two other binaries copied to the same two paths. VARIANTS lists other names than "base new",
# each the binary /tmp/gw-NAME.
set -u
cd "$(dirname "$0")"
out=${OUT:-runs}
mkdir -p "$out"
for r in 1 2 3; do
  for v in ${VARIANTS:-base new}; do
    printf '#!/bin/bash\nMETRICS_ADDR=127.0.0.1:9188 exec /tmp/gw-%s "$@"\n' $v > /tmp/gw-$v-metrics
    chmod +x /tmp/gw-$v-metrics
    ( while sleep 0.5; do curl -s -m 1 http://127.0.0.1:9188/metrics > /tmp/scrape.tmp 2>/dev/null \
        && [ -s /tmp/scrape.tmp ] && mv /tmp/scrape.tmp "$out/$v-$r.metrics"; done ) &
    scraper=$!
    TEST_MODE=true ../../../target/release/gateway-bench --gateway /tmp/gw-$v-metrics --backend sqlite \
      --scenarios e2e --rates 250,500 --payments 4000 --closed-clients 32 --idle-payments 30 \
      --out "$out/$v-$r.d" > /dev/null 2>&1
    kill $scraper
    mv "$out/$v-$r.d"/*.md "$out/$v-$r.md"
    rm -rf "$out/$v-$r.d"
  done
done
