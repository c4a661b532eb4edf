//! The scenarios: `api` (closed-loop HTTP load), `limit` (the database's own insert rate),
//! `e2e` (payment → webhook, plus `idle`), `isolation` (a hanging merchant's effect on a
//! healthy one) and `burst` (test webhooks requested at full speed, POST → receipt).

pub mod api;
pub mod burst;
pub mod e2e;
pub mod isolation;
pub mod limit;

use std::path::PathBuf;
use std::time::Duration;

use crate::gateway::{Backend, Launch};

/// Everything a scenario needs to know about the run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The database backend.
    pub backend: Backend,
    /// The server PostgreSQL databases are created on (an admin URL ending in `/<db>`).
    pub postgres_url: String,
    /// How to start the gateway.
    pub launch: Launch,
    /// Client counts for `api` and `limit`.
    pub connections: Vec<usize>,
    /// Measured time of each closed-loop step.
    pub duration: Duration,
    /// Unmeasured time before each closed-loop step.
    pub warmup: Duration,
    /// Payments per `e2e` run.
    pub payments: usize,
    /// Offered rates (payments/s) of the open-loop `e2e` runs.
    pub rates: Vec<f64>,
    /// Clients of the closed-loop `e2e` run.
    pub closed_clients: usize,
    /// Payments of the `idle` run.
    pub idle_payments: usize,
    /// Offered rate of each merchant in `isolation`.
    pub isolation_rate: f64,
    /// Payments of merchant A in each `isolation` phase.
    pub isolation_payments: usize,
    /// Whether `limit` runs, interleaved with `api` when both are asked for.
    pub with_limit: bool,
    /// Test webhooks per `burst` round.
    pub burst_requests: usize,
    /// Closed-loop clients of `burst`.
    pub burst_clients: usize,
    /// Rounds of `burst`, each on a fresh database and gateway.
    pub rounds: usize,
    /// Where per-payment traces go (`--latency-trace`), if anywhere.
    pub latency_trace: Option<PathBuf>,
}

/// Writes `run`'s trace (see [`write_trace`]) and says where; a failure to write is reported,
/// not fatal.
pub fn trace(plan: &Plan, scenario: &str, run: &e2e::E2eRun) {
    match write_trace(plan, scenario, run) {
        Ok(Some(path)) => eprintln!("  trace: {}", path.display()),
        Ok(None) => {}
        Err(e) => eprintln!("  writing the latency trace failed: {e:#}"),
    }
}

/// Writes `run`'s per-payment trace as a CSV in the `--latency-trace` directory, if one was
/// given, named after the backend, the queue, `scenario` and the run (`-2`, `-3`, … for later
/// rounds); returns the file written.
pub fn write_trace(
    plan: &Plan,
    scenario: &str,
    run: &e2e::E2eRun,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(dir) = &plan.latency_trace else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir)?;
    let queue = if plan.launch.redis_queue.is_some() {
        "redis"
    } else {
        "db"
    };
    let slug: String = run
        .mode
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let stem = format!("{}-{queue}-{scenario}-{slug}", plan.backend.name());
    let path = (1..)
        .map(|n| match n {
            1 => dir.join(format!("{stem}.csv")),
            n => dir.join(format!("{stem}-{n}.csv")),
        })
        .find(|path| !path.exists())
        .unwrap_or_else(|| dir.join(format!("{stem}.csv")));
    let mut csv = String::from("sent_ms,latency_ms\n");
    for point in &run.settled.trace {
        let latency = point
            .latency
            .map(|l| format!("{:.3}", l.as_secs_f64() * 1e3))
            .unwrap_or_default();
        csv.push_str(&format!(
            "{:.3},{latency}\n",
            point.sent.as_secs_f64() * 1e3
        ));
    }
    std::fs::write(&path, csv)?;
    Ok(Some(path))
}
