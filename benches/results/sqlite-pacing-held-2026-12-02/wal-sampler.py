#!/usr/bin/env python3
"""usage: wal-sampler.py OUT — every 50 ms, the size of the newest gateway-bench SQLite WAL
(/tmp/gateway-bench-*/*.db-wal) as `seconds bytes`, until killed."""
import glob, os, sys, time

out = open(sys.argv[1], "w", buffering=1)
t0 = time.monotonic()
while True:
    wals = glob.glob("/tmp/gateway-bench-*/*.db-wal")
    size = max((os.path.getsize(w) for w in wals if os.path.exists(w)), default=0) if wals else 0
    out.write(f"{time.monotonic() - t0:.2f} {size}\n")
    time.sleep(0.05)
