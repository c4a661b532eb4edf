//! `gateway-bench`: starts `gateway serve` as a child process on a fresh SQLite file or
//! PostgreSQL database and measures it from a cheap, single-threaded client.
//!
//! ```text
//! cargo build --release -p gateway-cli -p gateway-bench
//! target/release/gateway-bench --backend sqlite,postgres --duration 10s
//! target/release/gateway-bench --backend sqlite,postgres --queue db,redis --scenarios e2e,isolation
//! ```
//!
//! Layout: [`http`] is the client, [`receiver`] the webhook endpoints, [`gateway`] the process
//! and database under test, [`monitor`] the `/proc` sampling, [`load`] the load shapes,
//! [`scenarios`] what is measured and [`report`] the output files. Benchmarks assert nothing:
//! they print figures.

mod gateway;
mod http;
mod load;
mod monitor;
mod receiver;
mod report;
mod scenarios;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use gateway::{Backend, Database, Launch};
use monitor::Monitor;
use report::{Machine, Report};
use scenarios::Plan;

/// Load benchmarks of the gateway binary.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Backends to run, comma-separated: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backend: Vec<String>,
    /// Queues to run each backend on, comma-separated: db (the database's own), redis (Redis
    /// Streams at --redis-url).
    #[arg(long, value_delimiter = ',', default_value = "db")]
    queue: Vec<String>,
    /// The Redis of `--queue redis` (each scenario uses a key prefix of its own).
    #[arg(long, default_value = "redis://127.0.0.1:6379/0")]
    redis_url: String,
    /// Scenarios, comma-separated: api, limit, e2e, isolation, burst.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "api,limit,e2e,isolation,burst"
    )]
    scenarios: Vec<String>,
    /// Measured time of each closed-loop step (`api`, `limit`), e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before each closed-loop step.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Client counts of `api` and `limit`, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    connections: Vec<usize>,
    /// Payments per `e2e` run.
    #[arg(long, default_value_t = 2_000)]
    payments: usize,
    /// Offered rates (payments/s) of the open-loop `e2e` runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000")]
    rates: Vec<f64>,
    /// Clients of the closed-loop (maximum rate) `e2e` run; 0 skips it.
    #[arg(long, default_value_t = 32)]
    closed_clients: usize,
    /// Payments of the `idle` run (one at a time).
    #[arg(long, default_value_t = 50)]
    idle_payments: usize,
    /// Offered rate per merchant in `isolation`, payments/s.
    #[arg(long, default_value_t = 100.0)]
    isolation_rate: f64,
    /// Payments of each merchant per `isolation` phase.
    #[arg(long, default_value_t = 1_000)]
    isolation_payments: usize,
    /// Test webhooks per `burst` round.
    #[arg(long, default_value_t = 2_000)]
    burst_requests: usize,
    /// Closed-loop clients of `burst`.
    #[arg(long, default_value_t = 32)]
    burst_clients: usize,
    /// Rounds of `burst`, each on a fresh database and gateway; the report gives the median
    /// and min–max.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    rounds: u16,
    /// `WEBHOOK_TIMEOUT_MS` given to the gateway (the reference's default is 5 s).
    #[arg(long, default_value_t = 5_000)]
    webhook_timeout_ms: u64,
    /// Where the results go.
    #[arg(long, default_value = "benches/results")]
    out: PathBuf,
    /// Also write each `e2e` and `isolation` run's per-payment trace to this directory: one
    /// CSV per run (`sent_ms,latency_ms`: when the payment was sent, from the run's start, and
    /// how long until its `payment.success` arrived; empty when it never did). A stall shows
    /// as a block of high latencies at one send time.
    #[arg(long)]
    latency_trace: Option<PathBuf>,
    /// The gateway binary (build it with `cargo build --release -p gateway-cli`).
    #[arg(long, default_value = "target/release/gateway")]
    gateway: PathBuf,
    /// A PostgreSQL server where this user may CREATE DATABASE (any database on it).
    #[arg(
        long,
        env = "GATEWAY_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

/// The scenarios `--scenarios` accepts.
const SCENARIOS: [&str; 5] = ["api", "limit", "e2e", "isolation", "burst"];

/// `10s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number.parse().map_err(|_| format!("not a duration: {s}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {s} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// The binary as given, or relative to the workspace root when run from elsewhere.
fn find_gateway(given: &Path) -> anyhow::Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for candidate in [given.to_path_buf(), workspace.join(given)] {
        if candidate.is_file() {
            return Ok(candidate.canonicalize()?);
        }
    }
    bail!(
        "no gateway binary at {}: build it first with `cargo build --release -p gateway-cli`",
        given.display()
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = find_gateway(&args.gateway)?;
    let backends = args
        .backend
        .iter()
        .map(|b| match b.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => bail!("unknown backend {other:?} (sqlite, postgres)"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for q in &args.queue {
        if !["db", "redis"].contains(&q.as_str()) {
            bail!("unknown queue {q:?} (db, redis)");
        }
    }
    for s in &args.scenarios {
        if !SCENARIOS.contains(&s.as_str()) {
            bail!("unknown scenario {s:?} ({})", SCENARIOS.join(", "));
        }
    }
    if args.burst_clients == 0 || args.burst_requests == 0 {
        bail!("--burst-clients and --burst-requests must be at least 1");
    }
    // One thread: the client must not take the gateway's cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, binary, backends))
}

async fn run(args: Args, binary: PathBuf, backends: Vec<Backend>) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let date = now.format(time::macros::format_description!("[year]-[month]-[day]"))?;
    let started_at = now.format(&time::format_description::well_known::Rfc3339)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| {
            time::OffsetDateTime::from(t)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(binary.parent().unwrap_or(Path::new(".")))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let chart = format!("api-{date}.svg");
    let logs = tempfile::Builder::new()
        .prefix("gateway-bench-logs-")
        .tempdir()?;
    // Run a private copy: a rebuild of target/release/gateway during the run (other people
    // work in this tree) must not change the binary between scenarios.
    let snapshot = logs.path().join("gateway");
    std::fs::copy(&binary, &snapshot).with_context(|| format!("copying {}", binary.display()))?;
    let mut reports = Vec::new();
    let runs = backends
        .iter()
        .flat_map(|b| args.queue.iter().map(move |q| (*b, q.clone())));
    for (backend, queue) in runs {
        let redis_queue = (queue == "redis").then(|| {
            (
                args.redis_url.clone(),
                format!("gateway-bench-{}", std::process::id()),
            )
        });
        let plan = Plan {
            backend,
            postgres_url: args.postgres_url.clone(),
            launch: Launch {
                binary: snapshot.clone(),
                webhook_timeout_ms: args.webhook_timeout_ms,
                redis_queue,
            },
            connections: args.connections.clone(),
            duration: args.duration,
            warmup: args.warmup,
            payments: args.payments,
            rates: args.rates.clone(),
            closed_clients: args.closed_clients,
            idle_payments: args.idle_payments,
            isolation_rate: args.isolation_rate,
            isolation_payments: args.isolation_payments,
            with_limit: args.scenarios.iter().any(|s| s == "limit"),
            burst_requests: args.burst_requests,
            burst_clients: args.burst_clients,
            rounds: usize::from(args.rounds),
            latency_trace: args.latency_trace.clone(),
        };
        let mut report = Report {
            backend: backend.name().to_owned(),
            queue: queue.clone(),
            started_at: started_at.clone(),
            machine: Machine::probe(),
            command: command.clone(),
            commit: commit.clone(),
            gateway_built: built.clone(),
            settings: serde_json::json!({
                "duration_s": args.duration.as_secs_f64(),
                "warmup_s": args.warmup.as_secs_f64(),
                "connections": args.connections,
                "payments": args.payments,
                "rates": args.rates,
                "closed_clients": args.closed_clients,
                "idle_payments": args.idle_payments,
                "isolation_rate": args.isolation_rate,
                "isolation_payments": args.isolation_payments,
                "burst_requests": args.burst_requests,
                "burst_clients": args.burst_clients,
                "rounds": args.rounds,
                "webhook_timeout_ms": args.webhook_timeout_ms,
                "test_processing_delay_ms": 0,
            }),
            api: Vec::new(),
            limit: Vec::new(),
            e2e: None,
            isolation: None,
            burst: None,
            gateway_vm_hwm_mib: BTreeMap::new(),
            wal_after: BTreeMap::new(),
            problems: Vec::new(),
        };
        eprintln!("== {}, {queue} queue ==", backend.name());
        for scenario in &args.scenarios {
            if scenario == "limit" && args.scenarios.iter().any(|s| s == "api") {
                continue; // interleaved with api
            }
            if scenario == "burst" {
                let mut rounds = Vec::new();
                for round in 1..=plan.rounds {
                    match run_scenario(&plan, scenario, round, logs.path(), &mut report).await {
                        Ok(Some(r)) => rounds.push(r),
                        Ok(None) => {}
                        Err(e) => {
                            eprintln!("  burst round {round} failed: {e:#}");
                            report
                                .problems
                                .push(format!("burst round {round} failed: {e:#}"));
                        }
                    }
                }
                let burst = scenarios::burst::Burst::summarise(&plan, rounds);
                for r in burst.rounds.iter().filter(|r| !r.drained) {
                    report.problems.push(format!(
                        "burst round {}: the job queue had not drained 30 s after the last delivery",
                        r.round
                    ));
                }
                report.burst = Some(burst);
                continue;
            }
            if let Err(e) = run_scenario(&plan, scenario, 1, logs.path(), &mut report).await {
                eprintln!("  {scenario} failed: {e:#}");
                report.problems.push(format!("{scenario} failed: {e:#}"));
            }
        }
        for step in &mut report.limit {
            step.gateway_orders_rps = report
                .api
                .iter()
                .find(|s| {
                    s.endpoint == scenarios::api::ENDPOINTS[0] && s.connections == step.connections
                })
                .map(|s| s.rps);
            step.ratio = step.gateway_orders_rps.map(|g| g / step.rate.max(1e-9));
        }
        let markdown = report.markdown(&chart);
        println!("{markdown}");
        let base = match queue.as_str() {
            "db" => args.out.join(format!("{}-{date}", backend.name())),
            _ => args.out.join(format!("{}-{queue}-{date}", backend.name())),
        };
        std::fs::write(base.with_extension("md"), &markdown)?;
        std::fs::write(
            base.with_extension("json"),
            serde_json::to_string_pretty(&report)? + "\n",
        )?;
        eprintln!("wrote {}.md and .json", base.display());
        reports.push(report);
    }
    if reports.iter().any(|r| !r.api.is_empty()) {
        let path = args.out.join(&chart);
        std::fs::write(&path, report::svg(&reports))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Waits (at most 10 s) for an idle gateway's SQLite WAL to shrink to 4 MiB or less.
async fn wal_after_idle(monitor: &Monitor) -> Option<report::WalAfter> {
    let at_end_mib = monitor.wal_mib()?;
    let start = std::time::Instant::now();
    let mut settled_mib = at_end_mib;
    while settled_mib > 4.0 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        settled_mib = monitor.wal_mib()?;
    }
    Some(report::WalAfter {
        at_end_mib,
        settled_mib,
        idle_s: start.elapsed().as_secs_f64(),
    })
}

/// Runs one scenario (one `round` of `burst`, which it returns) on a fresh database (and,
/// except for `limit`, a fresh gateway).
async fn run_scenario(
    plan: &Plan,
    scenario: &str,
    round: usize,
    logs: &Path,
    report: &mut Report,
) -> anyhow::Result<Option<scenarios::burst::BurstRound>> {
    if scenario == "limit" {
        report.limit = scenarios::limit::run(plan).await?;
        return Ok(None);
    }
    let database = Database::create(plan.backend, &plan.postgres_url, scenario).await?;
    plan.launch.clear_redis_queue()?;
    let result = async {
        // Merchant B must exist before the gateway caches anything; the command migrates too.
        let b = if scenario == "isolation" {
            Some(
                plan.launch
                    .create_merchant(&database.url, "merchant-b@bench.invalid")?,
            )
        } else {
            None
        };
        let log = logs.join(format!("{}-{scenario}-{round}.log", plan.backend.name()));
        let mut gateway = plan.launch.serve(&database.url, &log).await?;
        let monitor = Monitor::new(
            Some(gateway.pid()),
            plan.backend == Backend::Postgres,
            database.wal_file(),
        );
        let mut burst_round = None;
        let outcome: anyhow::Result<()> = async {
            match (scenario, b) {
                ("api", _) => {
                    let with_limit = plan.with_limit;
                    (report.api, report.limit) =
                        scenarios::api::run(plan, &gateway, &monitor, with_limit).await?;
                }
                ("e2e", _) => {
                    report.e2e = Some(scenarios::e2e::run(plan, &gateway, &monitor).await?);
                }
                ("isolation", Some(b)) => {
                    report.isolation =
                        Some(scenarios::isolation::run(plan, &gateway, &monitor, b).await?);
                }
                ("burst", _) => {
                    let r = scenarios::burst::run_round(plan, &gateway, &monitor, round).await?;
                    scenarios::burst::print(&r);
                    burst_round = Some(r);
                }
                _ => {}
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            // Say whether the gateway itself went away (crashed or was killed from outside).
            return Err(match gateway.exited() {
                Some(status) => e.context(format!(
                    "the gateway process exited ({status}); its log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default().trim()
                )),
                None => e,
            });
        }
        if let Some(wal) = wal_after_idle(&monitor).await {
            eprintln!(
                "  WAL {:.1} MiB at the end, {:.1} MiB after {:.1} s idle",
                wal.at_end_mib, wal.settled_mib, wal.idle_s
            );
            report.wal_after.insert(scenario.to_owned(), wal);
        }
        if let Some(hwm) = monitor.high_water_mib() {
            // The highest over a scenario's rounds.
            report
                .gateway_vm_hwm_mib
                .entry(scenario.to_owned())
                .and_modify(|v| *v = v.max(hwm))
                .or_insert(hwm);
        }
        drop(monitor);
        gateway.stop();
        anyhow::Ok(burst_round)
    }
    .await;
    database.remove().await;
    if let Err(e) = plan.launch.clear_redis_queue() {
        eprintln!("  clearing the Redis queue's keys failed: {e:#}");
    }
    result
}
