#!/usr/bin/env python3
"""usage: held-reader.py INTERVAL_S HOLD_S LOG — while a gateway-bench run is going, every
INTERVAL_S seconds opens a read transaction on the bench's SQLite database (the newest
/tmp/gateway-bench-*/*.db), holds it HOLD_S seconds, and ends it, as a short report or a
`sqlite3 .backup` of a small database does. Each hold goes to LOG as `start_s end_s wal_bytes`."""
import glob, os, sqlite3, sys, time

interval, hold, log = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = open(log, "a", buffering=1)
t0 = time.monotonic()
while True:
    time.sleep(interval)
    databases = sorted(glob.glob("/tmp/gateway-bench-*/*.db"), key=os.path.getmtime)
    if not databases:
        continue
    path = databases[-1]
    try:
        conn = sqlite3.connect(path, timeout=1, isolation_level=None)
        start = time.monotonic() - t0
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM payments").fetchone()
        time.sleep(hold)
        conn.execute("COMMIT")
        end = time.monotonic() - t0
        conn.close()
        wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
        out.write(f"{start:.3f} {end:.3f} {wal}\n")
    except (sqlite3.Error, OSError) as e:
        out.write(f"# {e}\n")
