//! The results of one backend's run: a markdown report, a JSON file of every figure, and an SVG
//! chart of latency against throughput for `api`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::monitor::Resources;
use crate::scenarios::api::{ApiStep, ENDPOINTS};
use crate::scenarios::burst::{Burst, Spread};
use crate::scenarios::e2e::{E2e, E2eRun};
use crate::scenarios::isolation::Isolation;
use crate::scenarios::limit::LimitStep;

/// The machine the run happened on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `nproc`.
    pub cpus: usize,
    /// `MemTotal`, MiB.
    pub ram_mib: u64,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// `uname -r`-like kernel version from /proc.
    pub kernel: String,
    /// `/proc/loadavg` when the backend's run started (other work on the machine skews figures).
    pub load_average: String,
}

impl Machine {
    /// Reads /proc.
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ram_mib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|v| v.split_once(':'))
                .map_or("unknown".to_owned(), |(_, m)| m.trim().to_owned()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}

/// Everything measured on one backend.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The queue workers took jobs from: `db` or `redis`.
    pub queue: String,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// The machine.
    pub machine: Machine,
    /// The exact command line.
    pub command: String,
    /// `git describe --always --dirty` of the working tree when the bench ran, if available.
    pub commit: Option<String>,
    /// When the gateway binary was built (its modification time), RFC 3339.
    pub gateway_built: Option<String>,
    /// The settings of the run.
    pub settings: serde_json::Value,
    /// `api` steps.
    pub api: Vec<ApiStep>,
    /// `limit` steps.
    pub limit: Vec<LimitStep>,
    /// `e2e` and `idle`.
    pub e2e: Option<E2e>,
    /// `isolation`.
    pub isolation: Option<Isolation>,
    /// `burst`: every round and their median and min–max.
    pub burst: Option<Burst>,
    /// The gateway's `VmHWM` at the end of each scenario, MiB.
    pub gateway_vm_hwm_mib: BTreeMap<String, f64>,
    /// SQLite: the WAL's size right after each scenario and once it settled (≤ 4 MiB, or
    /// after 10 s of idle), MiB, and the seconds that took.
    pub wal_after: BTreeMap<String, WalAfter>,
    /// Problems the run hit (a scenario that failed, a queue that did not drain).
    pub problems: Vec<String>,
}

fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// The SQLite WAL once a scenario's load stopped.
#[derive(Debug, Clone, Serialize)]
pub struct WalAfter {
    /// Size when the load stopped, MiB.
    pub at_end_mib: f64,
    /// Size once it was ≤ 4 MiB, or after 10 s, MiB.
    pub settled_mib: f64,
    /// Idle seconds until then.
    pub idle_s: f64,
}

/// `0`, or the count with its statuses, e.g. `12 (503×12)`; 0 is a transport failure.
fn errors_cell(errors: u64, error_statuses: &BTreeMap<u16, u64>) -> String {
    if errors == 0 {
        return "0".to_owned();
    }
    let statuses: Vec<String> = error_statuses
        .iter()
        .map(|(status, n)| format!("{status}×{n}"))
        .collect();
    format!("{errors} ({})", statuses.join(", "))
}

/// `median (min–max)` of a latency in µs, shown in ms.
fn spread_ms(s: &Spread) -> String {
    let ms_of = |us: f64| ms(us.round() as u64);
    format!("{} ({}–{})", ms_of(s.median), ms_of(s.min), ms_of(s.max))
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.0}"))
}

fn resources_cells(r: &Resources) -> String {
    format!(
        "{:.0} | {:.0} | {:.0} | {} | {}",
        r.gateway_cpu_pct,
        r.gateway_peak_rss_mib,
        r.client_cpu_pct,
        opt_pct(r.db_cpu_pct),
        r.wal_peak_mib.map_or("–".to_owned(), |v| format!("{v:.1}"))
    )
}

fn e2e_row(out: &mut String, run: &E2eRun) {
    let s = &run.settled;
    let _ = writeln!(
        out,
        "| {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
        run.mode,
        s.payments,
        s.send_rate,
        s.payments_per_s,
        ms(s.latency.p50_us),
        ms(s.latency.p90_us),
        ms(s.latency.p99_us),
        ms(s.latency.max_us),
        errors_cell(s.errors, &s.error_statuses),
        s.undelivered,
        resources_cells(&run.resources)
    );
}

const E2E_HEADER: &str = "| run | payments | sent/s | settled+delivered/s | p50 ms | p90 ms | p99 ms | max ms | errors | undelivered | gw CPU % | gw peak RSS MiB | client CPU % | db CPU % | WAL peak MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

impl Report {
    /// The markdown report.
    pub fn markdown(&self, chart: &str) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "# gateway-bench: {}, {} queue\n",
            self.backend, self.queue
        );
        let _ = writeln!(out, "- date: {}", self.started_at);
        let _ = writeln!(
            out,
            "- machine: {} CPUs (`nproc`), {} MiB RAM, {}, Linux {}; load average at start {}",
            m.cpus, m.ram_mib, m.cpu_model, m.kernel, m.load_average
        );
        let _ = writeln!(out, "- command: `{}`", self.command);
        if let Some(c) = &self.commit {
            let _ = writeln!(out, "- working tree: `{c}`");
        }
        if let Some(b) = &self.gateway_built {
            let _ = writeln!(out, "- gateway binary built: {b}");
        }
        let _ = writeln!(out, "- settings: `{}`", self.settings);
        let _ = writeln!(
            out,
            "- gateway: `gateway serve` (API + worker in one process), `TEST_MODE=true TEST_PROCESSING_DELAY=0 RUST_LOG=warn`; \
             the bench client shares the machine (one tokio thread)."
        );
        let _ = writeln!(
            out,
            "- CPU columns are % of one core over the step (200 % = both cores of a 2-core machine); RSS is the gateway's peak VmRSS sampled every 50 ms."
        );
        if !self.problems.is_empty() {
            let _ = writeln!(out, "\n**Problems during the run:**\n");
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
        }
        if !self.api.is_empty() {
            let _ = writeln!(
                out,
                "\n## api: closed loop, one keep-alive connection per client\n\n![latency vs throughput]({chart})\n"
            );
            let _ = writeln!(
                out,
                "| endpoint | conns | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | gw CPU % | gw peak RSS MiB | client CPU % | db CPU % | WAL peak MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for endpoint in ENDPOINTS {
                for s in self.api.iter().filter(|s| s.endpoint == endpoint) {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {:.0} | {} | {} | {} | {} | {} | {} |{}",
                        s.endpoint,
                        s.connections,
                        s.rps,
                        ms(s.latency.p50_us),
                        ms(s.latency.p90_us),
                        ms(s.latency.p99_us),
                        ms(s.latency.max_us),
                        errors_cell(s.errors, &s.error_statuses),
                        resources_cells(&s.resources),
                        s.note.as_ref().map_or(String::new(), |n| format!(" {n}"))
                    );
                }
            }
        }
        if !self.limit.is_empty() {
            let _ = writeln!(
                out,
                "\n## limit: the database alone, one orders-shaped row per transaction\n"
            );
            let _ = writeln!(
                out,
                "| tool | tasks | db connections | inserts/s | p50 ms | p99 ms | errors | gateway POST orders req/s | gateway ÷ limit | client CPU % (incl. SQLite; not pgbench) | db CPU % |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for s in &self.limit {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.0} | {} |",
                    s.tool,
                    s.connections,
                    s.pool,
                    s.rate,
                    ms(s.latency.p50_us),
                    ms(s.latency.p99_us),
                    s.errors,
                    s.gateway_orders_rps
                        .map_or("–".to_owned(), |r| format!("{r:.0}")),
                    s.ratio
                        .map_or("–".to_owned(), |r| format!("{:.0} %", r * 100.0)),
                    s.resources.client_cpu_pct,
                    opt_pct(s.resources.db_cpu_pct)
                );
            }
        }
        if let Some(e2e) = &self.e2e {
            let _ = writeln!(
                out,
                "\n## e2e: `POST /api/v1/payments` sent → `payment.success` webhook received\n"
            );
            let i = &e2e.idle;
            let _ = writeln!(
                out,
                "idle (one payment at a time, {} payments): p50 {} ms, p99 {} ms, max {} ms, undelivered {}\n",
                i.payments,
                ms(i.latency.p50_us),
                ms(i.latency.p99_us),
                ms(i.latency.max_us),
                i.undelivered
            );
            let _ = writeln!(out, "{E2E_HEADER}");
            for run in &e2e.runs {
                e2e_row(&mut out, run);
            }
        }
        if let Some(iso) = &self.isolation {
            let _ = writeln!(
                out,
                "\n## isolation: merchant B's endpoint accepts and never answers (`WEBHOOK_TIMEOUT_MS={}`)\n",
                iso.webhook_timeout_ms
            );
            let _ = writeln!(out, "{E2E_HEADER}");
            e2e_row(&mut out, &iso.alone);
            e2e_row(&mut out, &iso.with_healthy_merchant);
            e2e_row(&mut out, &iso.with_hanging_merchant);
            let _ = writeln!(
                out,
                "\nMerchant A's p99 with B hanging: {:+.0} % against A alone ({} → {} ms), {:+.0} % against A beside a healthy B ({} ms). B made {} payments; the gateway opened {} connections to B's endpoint.",
                iso.p99_increase_pct,
                ms(iso.alone.settled.latency.p99_us),
                ms(iso.with_hanging_merchant.settled.latency.p99_us),
                iso.p99_increase_vs_healthy_pct,
                ms(iso.with_healthy_merchant.settled.latency.p99_us),
                iso.b_payments,
                iso.b_connections
            );
        }
        if let Some(b) = &self.burst {
            burst_section(&mut out, b);
        }
        if !self.wal_after.is_empty() {
            let _ = writeln!(
                out,
                "\n## SQLite WAL after each scenario (idle gateway)\n\n| scenario | at the end MiB | after idle MiB | idle s |\n|---|---:|---:|---:|"
            );
            for (k, w) in &self.wal_after {
                let _ = writeln!(
                    out,
                    "| {k} | {:.1} | {:.1} | {:.1} |",
                    w.at_end_mib, w.settled_mib, w.idle_s
                );
            }
        }
        if !self.gateway_vm_hwm_mib.is_empty() {
            let _ = writeln!(out, "\n## gateway peak RSS over each scenario (VmHWM)\n");
            let _ = writeln!(out, "| scenario | VmHWM MiB |\n|---|---:|");
            for (k, v) in &self.gateway_vm_hwm_mib {
                let _ = writeln!(out, "| {k} | {v:.0} |");
            }
        }
        out
    }
}

/// The `burst` section: one row per round, then the median (min–max) and the target.
fn burst_section(out: &mut String, b: &Burst) {
    let _ = writeln!(
        out,
        "\n## burst: {} × `POST /api/v1/webhooks/test` from {} closed-loop clients, POST sent → delivery received (by `webhook-id`)\n",
        b.requests, b.clients
    );
    let _ = writeln!(
        out,
        "| round | POSTs | POST answers/s | errors | delivered | deliveries/s | p50 ms | p90 ms | p99 ms | latest ms | undelivered | delivered more than once | gw CPU % | gw peak RSS MiB | client CPU % | db CPU % | WAL peak MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &b.rounds {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            r.round,
            r.requests,
            r.send_rate,
            r.errors,
            r.delivered,
            r.deliveries_per_s,
            ms(r.latency.p50_us),
            ms(r.latency.p90_us),
            ms(r.latency.p99_us),
            ms(r.latency.max_us),
            r.undelivered,
            r.delivered_more_than_once,
            resources_cells(&r.resources)
        );
    }
    let d = &b.deliveries_per_s;
    let _ = writeln!(
        out,
        "\nOver {} of {} rounds, median (min–max): {:.0} ({:.0}–{:.0}) deliveries/s, p50 {} ms, p99 {} ms, latest {} ms; delivered more than once: {}; undelivered: {}; POST errors: {}.",
        b.rounds.len(),
        b.rounds_planned,
        d.median,
        d.min,
        d.max,
        spread_ms(&b.p50_us),
        spread_ms(&b.p99_us),
        spread_ms(&b.max_us),
        b.delivered_more_than_once,
        b.undelivered,
        b.errors
    );
    let _ = writeln!(
        out,
        "\nTarget, no delivery later than {} ms after its POST in any round: **{}**.",
        b.target_ms,
        if b.target_met { "met" } else { "not met" }
    );
    let unmatched: u64 = b.rounds.iter().map(|r| r.unmatched_receipts).sum();
    if unmatched > 0 {
        let _ = writeln!(
            out,
            "\n{unmatched} receipts carried a `webhook-id` that no POST answered with."
        );
    }
    if let Some(e) = b.rounds.iter().find_map(|r| r.first_error.as_ref()) {
        let _ = writeln!(out, "\nFirst POST error: `{e}`");
    }
}

/// An SVG chart of p50 (solid) and p99 (dashed) latency against req/s, one colour per
/// endpoint and backend, one point per client count; latency on a log scale.
pub fn svg(reports: &[Report]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 460.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 290.0;
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 50.0;
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    ];
    let mut series = Vec::new();
    for r in reports {
        for endpoint in ENDPOINTS {
            let mut points: Vec<(f64, f64, f64, usize)> = r
                .api
                .iter()
                .filter(|s| s.endpoint == endpoint && s.latency.count > 0)
                .map(|s| {
                    (
                        s.rps,
                        s.latency.p50_us.max(1) as f64 / 1000.0,
                        s.latency.p99_us.max(1) as f64 / 1000.0,
                        s.connections,
                    )
                })
                .collect();
            points.sort_by_key(|p| p.3);
            if !points.is_empty() {
                series.push((format!("{} {} {}", r.backend, r.queue, endpoint), points));
            }
        }
    }
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.0))
        .fold(1.0f64, f64::max)
        * 1.05;
    let lat = series
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|p| [p.1, p.2]));
    let (lo, hi) = lat.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi { (0.1, 100.0) } else { (lo, hi) };
    let y0 = lo.log10().floor();
    let y1 = hi.log10().ceil().max(y0 + 1.0);
    let px = |x: f64| LEFT + x / max_x * (W - LEFT - RIGHT);
    let py = |ms: f64| H - BOTTOM - (ms.log10() - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="18" font-size="13">api: latency vs throughput (p50 solid, p99 dashed; points = 1…N connections)</text>"#
    );
    // Axes, grid and ticks.
    let (x0, x1, yb, yt) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let _ = writeln!(
        s,
        r##"<path d="M{x0} {yt} V{yb} H{x1}" stroke="#333" fill="none"/>"##
    );
    let mut e = y0;
    while e <= y1 {
        let v = 10f64.powf(e);
        let y = py(v);
        let label = if v >= 1.0 {
            format!("{v:.0}")
        } else {
            format!("{v}")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label} ms</text>"##,
            x0 - 5.0,
            y + 4.0
        );
        e += 1.0;
    }
    for i in 0..=5 {
        let v = max_x / 5.0 * f64::from(i);
        let x = px(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{yb}" x2="{x:.1}" y2="{}" stroke="#333"/><text x="{x:.1}" y="{}" text-anchor="middle">{v:.0}</text>"##,
            yb + 5.0,
            yb + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">requests per second</text>"#,
        (x0 + x1) / 2.0,
        H - 10.0
    );
    for (i, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        for (dash, pick) in [("", 1usize), (r#" stroke-dasharray="5,3""#, 2usize)] {
            let path: Vec<String> = points
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    let y = if pick == 1 { p.1 } else { p.2 };
                    format!(
                        "{}{:.1} {:.1}",
                        if j == 0 { "M" } else { "L" },
                        px(p.0),
                        py(y)
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<path d="{}" stroke="{colour}" stroke-width="1.5" fill="none"{dash}/>"#,
                path.join(" ")
            );
            for p in points {
                let y = if pick == 1 { p.1 } else { p.2 };
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"><title>{label} c={} {:.0} req/s p{} {y:.2} ms</title></circle>"#,
                    px(p.0),
                    py(y),
                    p.3,
                    p.0,
                    if pick == 1 { 50 } else { 99 }
                );
            }
        }
        let ly = TOP + 10.0 + i as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{label}</text>"#,
            x1 + 15.0,
            x1 + 35.0,
            x1 + 40.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}
