//! `limit`: what the database itself does with the gateway's write pattern, without the
//! gateway: N tasks insert orders-shaped rows (same columns, primary key and secondary index as
//! the `orders` table), one transaction per row, into a scratch database of their own. On
//! SQLite the connection uses the gateway's settings (WAL, `synchronous=NORMAL`, 5 s busy
//! timeout, `BEGIN IMMEDIATE` on one writer connection, as the gateway's store does).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
                    .min_connections(size)
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
    let pool = Pool::open(plan.backend, url, size).await?;
    let monitor = Monitor::new(None, plan.backend == Backend::Postgres);
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
        pool: size,
        inserts,
        errors: errors.load(Ordering::Relaxed),
        rate: inserts as f64 / plan.duration.as_secs_f64(),
        latency: Latency::of(&h),
        resources,
        gateway_orders_rps: None,
        ratio: None,
    };
    eprintln!(
        "  limit c={connections:<4} pool {size:<3} {:>8.0} inserts/s  p50 {:>7} µs  p99 {:>7} µs  client cpu {:.0}%  db cpu {}",
        step.rate,
        step.latency.p50_us,
        step.latency.p99_us,
        step.resources.client_cpu_pct,
        step.resources
            .db_cpu_pct
            .map_or("-".to_owned(), |c| format!("{c:.0}%"))
    );
    Ok(step)
}
