//! `limit`: what the database itself does with the gateway's write pattern, without the
//! gateway: orders-shaped rows (same columns, primary key and secondary index as the `orders`
//! table), one transaction per row, into a scratch database of their own.
//!
//! On PostgreSQL the database's own client measures it: `pgbench -M prepared`, one
//! single-statement INSERT per transaction, N clients (at most 64), per-transaction latencies
//! from its log. On SQLite (or without `pgbench` on the `PATH`) N tasks of this process insert
//! through sqlx; SQLite's connection uses the gateway's settings (WAL, `synchronous=NORMAL`,
//! 5 s busy timeout, `BEGIN IMMEDIATE` on one writer connection, as the gateway's store does).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use super::Plan;
use crate::gateway::{Backend, Database};
use crate::load::{self, Latency};
use crate::monitor::{Monitor, Resources};

/// PostgreSQL connections the limit opens at most (the server allows 100 by default).
pub const POSTGRES_POOL_CAP: usize = 64;

/// The insert rate at one client count.
#[derive(Debug, Clone, Serialize)]
pub struct LimitStep {
    /// Concurrent inserting tasks.
    pub connections: usize,
    /// What inserted: `pgbench -M prepared` or `sqlx` (this process).
    pub tool: String,
    /// Database connections they share (SQLite: 1 writer, like the gateway).
    pub pool: usize,
    /// Rows committed in the measured window.
    pub inserts: u64,
    /// Failed transactions.
    pub errors: u64,
    /// Committed rows per second.
    pub rate: f64,
    /// Latency of one BEGIN; INSERT; COMMIT, pool wait included.
    pub latency: Latency,
    /// Resource use (client CPU includes SQLite's own work, which runs in this process).
    pub resources: Resources,
    /// `POST /api/v1/orders` req/s at the same client count (from `api`), if measured.
    pub gateway_orders_rps: Option<f64>,
    /// `gateway_orders_rps / rate`.
    pub ratio: Option<f64>,
}

const SQLITE_SCHEMA: [&str; 2] = [
    "CREATE TABLE orders (id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), \
     currency TEXT NOT NULL, receipt TEXT, notes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, \
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
    "CREATE INDEX orders_by_merchant ON orders (merchant_id, created_at DESC, id DESC)",
];
const POSTGRES_SCHEMA: [&str; 2] = [
    "CREATE TABLE orders (id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0), \
     currency TEXT NOT NULL, receipt TEXT, notes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, \
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE INDEX orders_by_merchant ON orders (merchant_id, created_at DESC, id DESC)",
];
const INSERT: &str = "INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes, status, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";

/// The scratch database, open.
#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Pool {
    async fn open(backend: Backend, url: &str, size: usize) -> anyhow::Result<Self> {
        let size = u32::try_from(size)?;
        Ok(match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    .pragma("temp_store", "memory")
                    .pragma("cache_size", "-16000");
                let pool = SqlitePoolOptions::new()
                    .max_connections(size)
                    .min_connections(size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                for sql in SQLITE_SCHEMA {
                    sqlx::query(sql).execute(&pool).await?;
                }
                Self::Sqlite(pool)
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                for sql in POSTGRES_SCHEMA {
                    sqlx::query(sql).execute(&pool).await?;
                }
                Self::Postgres(pool)
            }
        })
    }

    /// One row in its own transaction.
    async fn insert(&self, id: &str, merchant: &str) -> Result<(), sqlx::Error> {
        let now = now_ms();
        match self {
            Self::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query(INSERT)
                    .bind(id)
                    .bind(merchant)
                    .bind(50_000i64)
                    .bind("INR")
                    .bind("bench")
                    .bind("{}")
                    .bind("created")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            Self::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT)
                    .bind(id)
                    .bind(merchant)
                    .bind(50_000i64)
                    .bind("INR")
                    .bind("bench")
                    .bind("{}")
                    .bind("created")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
        }
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }
}

/// Measures the insert rate at each client count of the plan.
pub async fn run(plan: &Plan) -> anyhow::Result<Vec<LimitStep>> {
    let mut steps = Vec::new();
    for &connections in &plan.connections {
        steps.push(run_one(plan, connections).await?);
    }
    Ok(steps)
}

/// Measures the insert rate with `connections` tasks on a scratch database of its own. `api`
/// calls this right before its `POST /api/v1/orders` step at the same client count, so the
/// ratio compares figures taken minutes apart at most (disk latency here drifts a lot).
pub async fn run_one(plan: &Plan, connections: usize) -> anyhow::Result<LimitStep> {
    let database = Database::create(plan.backend, &plan.postgres_url, "limit").await?;
    let size = match plan.backend {
        Backend::Sqlite => 1,
        Backend::Postgres => connections.min(POSTGRES_POOL_CAP),
    };
    let result = measure(plan, &database.url, connections, size).await;
    database.remove().await;
    result
}

async fn measure(
    plan: &Plan,
    url: &str,
    connections: usize,
    size: usize,
) -> anyhow::Result<LimitStep> {
    if plan.backend == Backend::Postgres && pgbench_available() {
        // One connection for the schema, closed before pgbench opens its own.
        Pool::open(plan.backend, url, 1).await?.close().await;
        return pgbench(plan, url, connections, size)
            .await
            .inspect(print_step);
    }
    let pool = Pool::open(plan.backend, url, size).await?;
    let monitor = Monitor::new(None, plan.backend == Backend::Postgres, None);
    let mark = monitor.begin();
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..connections {
        let (pool, errors) = (pool.clone(), errors.clone());
        tasks.spawn(async move {
            let mut h = load::histogram();
            let mut count = 0u64;
            let merchant = "550e8400-e29b-41d4-a716-446655440000";
            for i in 0u64.. {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let id = format!("order_{task}_{i}");
                let ok = pool.insert(&id, merchant).await.is_ok();
                if sent >= measure_from {
                    if ok {
                        count += 1;
                        load::record(&mut h, sent.elapsed());
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (h, count)
        });
    }
    let mut h = load::histogram();
    let mut inserts = 0;
    while let Some(done) = tasks.join_next().await {
        let (part, count) = done?;
        h.add(&part)?;
        inserts += count;
    }
    let resources = monitor.end(mark);
    pool.close().await;
    let step = LimitStep {
        connections,
        tool: "sqlx".to_owned(),
        pool: size,
        inserts,
        errors: errors.load(Ordering::Relaxed),
        rate: inserts as f64 / plan.duration.as_secs_f64(),
        latency: Latency::of(&h),
        resources,
        gateway_orders_rps: None,
        ratio: None,
    };
    print_step(&step);
    Ok(step)
}

fn print_step(step: &LimitStep) {
    eprintln!(
        "  limit ({}) c={:<4} pool {:<3} {:>8.0} inserts/s  p50 {:>7} µs  p99 {:>7} µs  client cpu {:.0}%  db cpu {}",
        step.tool,
        step.connections,
        step.pool,
        step.rate,
        step.latency.p50_us,
        step.latency.p99_us,
        step.resources.client_cpu_pct,
        step.resources
            .db_cpu_pct
            .map_or("-".to_owned(), |c| format!("{c:.0}%"))
    );
}

/// The single statement pgbench runs per transaction: an order row with a random id.
const PGBENCH_SCRIPT: &str = "\\set r random(1, 9000000000000000000)\n\
INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes, status, created_at, updated_at) \
VALUES ('order_' || :r::text, '550e8400-e29b-41d4-a716-446655440000', 50000, 'INR', 'bench', '{}', 'created', \
(extract(epoch from clock_timestamp()) * 1000)::bigint, (extract(epoch from clock_timestamp()) * 1000)::bigint);\n";

fn pgbench_available() -> bool {
    std::process::Command::new("pgbench")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `pgbench -M prepared` with `clients` clients for the plan's duration (after a run of the
/// warm-up's length), latencies from its per-transaction log.
async fn pgbench(
    plan: &Plan,
    url: &str,
    connections: usize,
    clients: usize,
) -> anyhow::Result<LimitStep> {
    let dir = tempfile::Builder::new()
        .prefix("gateway-pgbench-")
        .tempdir()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, PGBENCH_SCRIPT)?;
    let run = |seconds: u64, log: bool| {
        let mut command = tokio::process::Command::new("pgbench");
        command
            .args(["-n", "-M", "prepared", "-j", "2"])
            .arg(format!("-c{clients}"))
            .arg(format!("-T{seconds}"))
            .arg("-f")
            .arg(&script);
        if log {
            command
                .arg("--log")
                .arg(format!("--log-prefix={}", dir.path().join("tx").display()));
        }
        command.arg(url).kill_on_drop(true).output()
    };
    run(plan.warmup.as_secs().max(1), false).await?;
    let monitor = Monitor::new(None, false, None);
    let mark = monitor.begin();
    let seconds = plan.duration.as_secs().max(1);
    let output = run(seconds, true).await?;
    // pgbench's backends exit with it, taking their CPU time out of what the monitor adds up.
    let resources = Resources {
        db_cpu_pct: None,
        ..monitor.end(mark)
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rate = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse::<f64>().ok())
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
    let (h, inserts, errors) = read_pgbench_logs(dir.path())?;
    Ok(LimitStep {
        connections,
        tool: "pgbench -M prepared".to_owned(),
        pool: clients,
        inserts,
        errors,
        rate,
        latency: Latency::of(&h),
        resources,
        gateway_orders_rps: None,
        ratio: None,
    })
}

/// Latencies (column 3, µs) and counts from pgbench's per-transaction logs `tx.*` in `dir`;
/// a failed transaction has `failed` (or `skipped`) in place of its latency.
fn read_pgbench_logs(
    dir: &std::path::Path,
) -> anyhow::Result<(hdrhistogram::Histogram<u64>, u64, u64)> {
    let mut h = load::histogram();
    let (mut ok, mut failed) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tx."))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            match line.split_whitespace().nth(2).map(str::parse::<u64>) {
                Some(Ok(us)) => {
                    load::record(&mut h, Duration::from_micros(us));
                    ok += 1;
                }
                _ => failed += 1,
            }
        }
    }
    Ok((h, ok, failed))
}
