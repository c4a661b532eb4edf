#!/bin/bash
# One gateway on a scratch PostgreSQL database; N idle payments; statements logged.
# usage: run-trace.sh GATEWAY N LOG — N idle payments against GATEWAY on a scratch database;
# with LOG=1 PostgreSQL logs every statement, copied to ./pg.log. DBSET="name = value" sets
# one more setting on the scratch database.
set -u
GW=${1:-/tmp/gw-base}; N=${2:-20}; LOGSTMT=${3:-1}
DB=idletrace
psql -U postgres -h 127.0.0.1 -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
[ "$LOGSTMT" = 1 ] && psql -U postgres -h 127.0.0.1 -qc "ALTER DATABASE $DB SET log_min_duration_statement = 0"
[ -n "${DBSET:-}" ] && psql -U postgres -h 127.0.0.1 -qc "ALTER DATABASE $DB SET $DBSET"
TEST_MODE=true TEST_PROCESSING_DELAY=0 DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB PORT=18080 METRICS_ADDR= \
  RUST_LOG=warn timeout 120 $GW serve >/tmp/idle-gw.log 2>&1 &
pid=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:18080/ready >/dev/null && break; sleep 0.1; done
LOGSTART=$(stat -c %s /var/log/postgresql/postgresql-15-main.log)
timeout 60 python3 "$(dirname "$0")/client.py" $N 18080 18099
kill $pid; wait $pid 2>/dev/null
tail -c +$((LOGSTART+1)) /var/log/postgresql/postgresql-15-main.log > pg.log
