#!/bin/bash
# usage: prof.sh BACKEND OUTDIR — e2e on BACKEND at an offered 1,500 payments/s (saturating),
# with a system-wide CPU profile of 10 s in the middle of it
set -u
backend=$1; out=$2; mkdir -p $out
cd /work/main
target/release/gateway-bench --gateway target/release/gateway --backend $backend --scenarios e2e --rates 1500 --payments 15000 --closed-clients 0 --idle-payments 5 --out $out > $out/bench.txt 2>&1 &
bench=$!
sleep 6
perf record -a -e cpu-clock -F 499 -g -o $out/perf.data -- sleep 10 > $out/perf-record.txt 2>&1
wait $bench
perf report -i $out/perf.data --stdio --no-children --sort comm,dso -g none > $out/by-process.txt 2>/dev/null
perf report -i $out/perf.data --stdio --no-children --sort comm,dso,symbol -g none --percent-limit 0.3 > $out/symbols.txt 2>/dev/null
echo done
