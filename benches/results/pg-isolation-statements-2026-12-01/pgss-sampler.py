#!/usr/bin/env python3
"""Snapshots pg_stat_statements every second (psql), as CSV lines: t,queryid,calls,total_exec_ms,rows,query."""
import subprocess, sys, time
out = open(sys.argv[1], 'w'); stop = time.time() + float(sys.argv[2])
q = "select extract(epoch from clock_timestamp()), queryid, calls, total_exec_time, rows, regexp_replace(left(query, 160), '[\\n\\r,]+', ' ', 'g') from pg_stat_statements where query not like '%pg_stat_statements%'"
while time.time() < stop:
    r = subprocess.run(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-AtF,', '-c', q], capture_output=True, text=True)
    out.write(r.stdout); out.flush()
    time.sleep(1)
