"""Medians of 3 (min–max) of runs/: the bench's e2e figures and, from each run's last /metrics
scrape, the SQLite writer's time per payment.

    python3 benches/results/sqlite-wal-restart-2026-12-01/summarise.py [RUNS [NAME=LABEL...]]

RUNS is another directory of such runs (run.sh with OUT); each NAME=LABEL is a variant of them
(VARIANTS), and its column's header.
"""
import glob
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = sys.argv[1] if len(sys.argv) > 1 else f"{HERE}/runs"
VARIANTS = dict(a.split("=", 1) for a in sys.argv[2:]) or {"base": "base, 7f40b32", "new": "new, 67099a2"}


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def row(report, mode):
    for line in open(report):
        if line.startswith(f"| {mode} "):
            return [c.strip() for c in line.strip().strip("|").split("|")]
    raise KeyError(mode)


def metric(text, name, labels=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


figures = {}
for variant in VARIANTS:
    runs = sorted(glob.glob(f"{RUNS}/{variant}-*.md"))
    col = figures.setdefault(variant, {})
    for report in [r for r in runs if "/api-" not in r]:
        text = open(report.replace(".md", ".metrics")).read()
        idle = re.search(r"idle \(.*\): p50 ([\d.]+) ms", open(report).read())
        col.setdefault("idle p50 ms", []).append(float(idle.group(1)))
        for mode, label in (("open 250/s", "250/s"), ("open 500/s", "500/s"), ("closed 32 clients", "closed")):
            r = row(report, mode)
            col.setdefault(f"{label} settled/s", []).append(float(r[3]))
            col.setdefault(f"{label} p99 ms", []).append(float(r[6]))
            col.setdefault(f"{label} gateway CPU %", []).append(float(r[10]))
        payments = metric(text, "gateway_http_request_duration_seconds_count", 'route="/api/v1/payments",method="POST"')
        batches = metric(text, "gateway_sqlite_writer_seconds_count", 'work="batch"')
        commands = metric(text, "gateway_db_acquire_seconds_count", 'pool="writer"')
        busy = {w: metric(text, "gateway_sqlite_writer_seconds_sum", f'work="{w}"') for w in ("batch", "wal_restart", "wal_truncate")}
        col.setdefault("writer µs per payment, batches", []).append(1e6 * busy["batch"] / payments)
        col.setdefault("writer µs per payment, whole-log checkpoints", []).append(1e6 * (busy["wal_restart"] + busy["wal_truncate"]) / payments)
        col.setdefault("writer µs per payment, all", []).append(1e6 * sum(busy.values()) / payments)
        col.setdefault("commands per batch", []).append(commands / batches)
        col.setdefault("whole-log checkpoints", []).append(
            metric(text, "gateway_sqlite_writer_seconds_count", 'work="wal_restart"')
            + metric(text, "gateway_sqlite_writer_seconds_count", 'work="wal_truncate"'))
        col.setdefault("payments", []).append(payments)

for variant in VARIANTS:
    col = figures.setdefault(variant, {})
    for report in sorted(glob.glob(f"{RUNS}/api-{variant}-*.md")):
        for endpoint, label in (("POST /api/v1/orders", "orders"), ("POST /api/v1/payments", "POST payments"),
                                ("GET /api/v1/payments/{id}", "GET payment")):
            r = row(report, f"`{endpoint}`")
            col.setdefault(f"api, 64 connections: {label} req/s", []).append(float(r[2]))
            col.setdefault(f"api, 64 connections: {label} p99 ms", []).append(float(r[5]))

rounds = {v: len(figures[v].get("payments", figures[v].get("api, 64 connections: orders req/s", []))) for v in VARIANTS}
print("| figure | " + " | ".join(f"{label} ({rounds[v]} runs)" for v, label in VARIANTS.items()) + " |")
print("|---|" + "---|" * len(VARIANTS))
for key in figures[next(iter(VARIANTS))]:
    fmt = (lambda v: f"{v:,.1f}") if key.endswith("ms") or "per batch" in key else (lambda v: f"{v:,.0f}")
    print(f"| {key} | " + " | ".join(spread(figures[v][key], fmt) for v in VARIANTS) + " |")
