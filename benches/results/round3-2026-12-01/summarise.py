"""Medians of 3 (min–max) of the runs in r1/, r2/, r3/ of a round's directory: the round-3 runs
beside this file, or those of the directory given (round 4 reuses it).

    python3 benches/results/round3-2026-12-01/summarise.py [DIR]
"""
import glob
import json
import os
import statistics
import sys

HERE = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def ms(us):
    return f"{us / 1000:.1f} ms" if us < 100_000 else f"{us / 1e6:.2f} s"


def n(v):
    return f"{v:,.0f}"


def pct(v):
    return f"{v:+.0f} %"


def mib(v):
    return f"{v:.1f}"


def ratio(v):
    return f"{v:.2f}"


def api(d, endpoint, conns):
    return next(s for s in d["api"] if s["endpoint"] == endpoint and s["connections"] == conns)


def limit(d, conns):
    return next(s for s in d["limit"] if s["connections"] == conns)


def e2e(d, mode):
    return next(r for r in d["e2e"]["runs"] if r["mode"] == mode)


rows = []
for backend in ["sqlite", "postgres"]:
    data = [json.load(open(f)) for f in sorted(glob.glob(f"{HERE}/r*/{backend}-*.json"))]
    if not data:
        continue
    col = {}
    for c in (16, 64):
        col[f"orders req/s, {c} conns"] = spread([api(d, "POST /api/v1/orders", c)["rps"] for d in data], n)
        col[f"orders p99, {c} conns"] = spread([api(d, "POST /api/v1/orders", c)["latency"]["p99_us"] for d in data], ms)
        col[f"limit ({limit(data[0], c)['tool']}) inserts/s, {c}"] = spread([limit(d, c)["rate"] for d in data], n)
        col[f"orders ÷ limit, {c}"] = spread([api(d, "POST /api/v1/orders", c)["rps"] / limit(d, c)["rate"] for d in data], ratio)
    col["POST payments req/s, 64"] = spread([api(d, "POST /api/v1/payments", 64)["rps"] for d in data], n)
    col["GET payment req/s, 64"] = spread([api(d, "GET /api/v1/payments/{id}", 64)["rps"] for d in data], n)
    col["e2e idle p50"] = spread([d["e2e"]["idle"]["latency"]["p50_us"] for d in data], ms)
    col["e2e 250/s p99"] = spread([e2e(d, "open 250/s")["latency"]["p99_us"] for d in data], ms)
    col["e2e 500/s p99"] = spread([e2e(d, "open 500/s")["latency"]["p99_us"] for d in data], ms)
    for rate in (1000, 2000):
        col[f"e2e {rate}/s offered: settled/s"] = spread([e2e(d, f"open {rate}/s")["payments_per_s"] for d in data], n)
        col[f"e2e {rate}/s p99"] = spread([e2e(d, f"open {rate}/s")["latency"]["p99_us"] for d in data], ms)
    col["e2e 250/s slowest webhook"] = spread([e2e(d, "open 250/s")["latency"]["max_us"] for d in data], ms)
    col["e2e closed loop (32), sent/s"] = spread([e2e(d, "closed 32 clients")["send_rate"] for d in data], n)
    col["e2e closed loop, gateway CPU %"] = spread([e2e(d, "closed 32 clients")["resources"]["gateway_cpu_pct"] for d in data], n)
    if backend == "postgres":
        col["e2e closed loop, PostgreSQL CPU %"] = spread([e2e(d, "closed 32 clients")["resources"]["db_cpu_pct"] for d in data], n)
    col["e2e closed loop (32), payments/s"] = spread([e2e(d, "closed 32 clients")["payments_per_s"] for d in data], n)
    col["e2e closed loop p99"] = spread([e2e(d, "closed 32 clients")["latency"]["p99_us"] for d in data], ms)
    iso = [d["isolation"] for d in data]
    col["isolation: A p99 alone"] = spread([i["alone"]["latency"]["p99_us"] for i in iso], ms)
    col["isolation: A p99 beside healthy B"] = spread([i["with_healthy_merchant"]["latency"]["p99_us"] for i in iso], ms)
    col["isolation: A p99 beside hanging B"] = spread([i["with_hanging_merchant"]["latency"]["p99_us"] for i in iso], ms)
    col["isolation: A p50 beside healthy / hanging B"] = (
        spread([i["with_healthy_merchant"]["latency"]["p50_us"] for i in iso], ms)
        + " / "
        + spread([i["with_hanging_merchant"]["latency"]["p50_us"] for i in iso], ms)
    )
    for phase, key in (("healthy", "with_healthy_merchant"), ("hanging", "with_hanging_merchant")):
        col[f"isolation beside {phase} B: gateway CPU %"] = spread([i[key]["resources"]["gateway_cpu_pct"] for i in iso], n)
        if backend == "postgres":
            col[f"isolation beside {phase} B: PostgreSQL CPU %"] = spread([i[key]["resources"]["db_cpu_pct"] for i in iso], n)
    col["isolation: hanging vs healthy B, A's p99"] = spread([i["p99_increase_vs_healthy_pct"] for i in iso], pct)
    col["peak RSS (VmHWM), MiB, largest scenario"] = spread([max(d["gateway_vm_hwm_mib"].values()) for d in data], mib)
    col["peak RSS (VmHWM), MiB, e2e"] = spread([d["gateway_vm_hwm_mib"].get("e2e") for d in data], mib)
    for mode in ("open 250/s", "open 500/s", "closed 32 clients"):
        col[f"peak RSS sampled every 50 ms, MiB, e2e {mode}"] = spread(
            [e2e(d, mode)["resources"]["gateway_peak_rss_mib"] for d in data], mib)
    if backend == "sqlite":
        col["WAL peak, MiB (any step)"] = spread(
            [max(r["resources"]["wal_peak_mib"] or 0 for r in d["e2e"]["runs"]) for d in data], mib)
        col["WAL after idle, MiB / s"] = spread([d["wal_after"]["e2e"]["settled_mib"] for d in data], mib) + " / " + spread(
            [d["wal_after"]["e2e"]["idle_s"] for d in data], lambda v: f"{v:.1f}")
    rows.append((backend, col, len(data)))

keys = list(dict.fromkeys(k for _, col, _ in rows for k in col))
print("| figure | " + " | ".join(f"{b} ({count} rounds)" for b, _, count in rows) + " |")
print("|---|" + "---|" * len(rows))
for k in keys:
    print(f"| {k} | " + " | ".join(col.get(k, "—") for _, col, _ in rows) + " |")
