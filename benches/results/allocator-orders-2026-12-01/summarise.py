"""The glibc and mimalloc runs in runs/ side by side, medians of 3 (min–max):
python3 summarise.py > summary.md"""
import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("glibc", "mimalloc")


def reports(variant):
    paths = sorted(glob.glob(os.path.join(HERE, "runs", f"{variant}-*", "sqlite-*.json")))
    for path in paths:
        with open(path) as f:
            yield json.load(f)


def api(endpoint, field):
    return lambda r: next(
        (a["resources"][field] if field in a["resources"] else a[field])
        for a in r["api"]
        if a["endpoint"] == endpoint
    )


def e2e(mode, pick):
    return lambda r: pick(next(run for run in r["e2e"]["runs"] if run["mode"] == mode))


ROWS = [
    ("orders req/s, 64 conns", api("POST /api/v1/orders", "rps"), "{:,.0f}"),
    ("payments req/s, 64 conns", api("POST /api/v1/payments", "rps"), "{:,.0f}"),
    ("GET payment req/s, 64 conns", api("GET /api/v1/payments/{id}", "rps"), "{:,.0f}"),
    ("orders: gateway CPU %", api("POST /api/v1/orders", "gateway_cpu_pct"), "{:.0f}"),
    ("orders: peak RSS MiB", api("POST /api/v1/orders", "gateway_peak_rss_mib"), "{:.1f}"),
    ("e2e idle p50 ms", lambda r: r["e2e"]["idle"]["latency"]["p50_us"] / 1000, "{:.2f}"),
    ("e2e 250/s p99 ms", e2e("open 250/s", lambda x: x["latency"]["p99_us"] / 1000), "{:.1f}"),
    ("e2e 250/s peak RSS MiB", e2e("open 250/s", lambda x: x["resources"]["gateway_peak_rss_mib"]), "{:.1f}"),
    ("e2e 500/s p99 ms", e2e("open 500/s", lambda x: x["latency"]["p99_us"] / 1000), "{:.1f}"),
    ("e2e 500/s peak RSS MiB", e2e("open 500/s", lambda x: x["resources"]["gateway_peak_rss_mib"]), "{:.1f}"),
    ("e2e closed loop, settled/s", e2e("closed 32 clients", lambda x: x["payments_per_s"]), "{:,.0f}"),
    ("e2e closed loop p99 ms", e2e("closed 32 clients", lambda x: x["latency"]["p99_us"] / 1000), "{:.0f}"),
    ("peak RSS over e2e (VmHWM) MiB", lambda r: r["gateway_vm_hwm_mib"]["e2e"], "{:.1f}"),
]


def cell(values, fmt):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


runs = {v: list(reports(v)) for v in VARIANTS}
print("| figure | " + " | ".join(f"{v} ({len(runs[v])} rounds)" for v in VARIANTS) + " |")
print("|---|" + "---|" * len(VARIANTS))
for name, pick, fmt in ROWS:
    print(f"| {name} | " + " | ".join(cell([pick(r) for r in runs[v]], fmt) for v in VARIANTS) + " |")
