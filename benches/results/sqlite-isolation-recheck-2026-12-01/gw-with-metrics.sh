#!/bin/sh
# The gateway in GW_BINARY with its metrics on 127.0.0.1:19188 (the bench turns them off), so
# that writer-per-phase.sh can scrape the SQLite writer's time during the isolation scenario.
METRICS_ADDR=127.0.0.1:19188 exec "$GW_BINARY" "$@"
