#!/usr/bin/env python3
"""Cold start: how long `gateway serve` takes from exec to its first `200` from `GET /ready`,
on an SQLite database that already exists (migrated, with some data). Prints each run and the
median with min–max.

    python3 benches/cold-start.py target/release/gateway [runs]
"""
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

PORT = 18931


def ready():
    try:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=0.5)
        conn.request("GET", "/ready")
        return conn.getresponse().status == 200
    except OSError:
        return False


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DATABASE_URL=f"sqlite://{tmp}/gateway.db", PORT=str(PORT),
                   TEST_MODE="true", RUST_LOG="warn")
        subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            child = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            while not ready():
                if child.poll() is not None:
                    sys.exit("the gateway exited before it was ready")
                time.sleep(0.001)
            took = (time.perf_counter() - start) * 1000
            times.append(took)
            child.terminate()
            child.wait()
            print(f"ready after {took:.1f} ms")
        print(f"median {statistics.median(times):.1f} ms ({min(times):.1f}–{max(times):.1f}), {runs} runs")


if __name__ == "__main__":
    main()
