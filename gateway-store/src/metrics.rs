//! The store's metrics: its connection pools, and how long callers wait for a connection.
//! (The domain's metrics are in [`gateway_core::metrics`].)

#[cfg(feature = "postgres")]
use std::future::Future;
use std::time::Instant;

use gateway_core::metrics::{MetricDoc, MetricKind};
use gateway_core::store::PoolStatus;
use metrics::{counter, gauge, histogram};

const POOL_CONNECTIONS: &str = "gateway_db_pool_connections";
const POOL_MAX_CONNECTIONS: &str = "gateway_db_pool_max_connections";
const ACQUIRE: &str = "gateway_db_acquire_seconds";
const ACQUIRE_TIMEOUTS: &str = "gateway_db_acquire_timeouts_total";
const SQLITE_WRITER: &str = "gateway_sqlite_writer_seconds";

/// Every metric the store records.
pub const CATALOGUE: &[MetricDoc] = &[
    MetricDoc {
        name: POOL_CONNECTIONS,
        kind: MetricKind::Gauge,
        labels: &["pool", "state"],
        help: "Open database connections by pool (main; reader and writer on SQLite) and state (idle, in_use), read when scraped.",
    },
    MetricDoc {
        name: POOL_MAX_CONNECTIONS,
        kind: MetricKind::Gauge,
        labels: &["pool"],
        help: "The most connections each pool may open.",
    },
    MetricDoc {
        name: ACQUIRE,
        kind: MetricKind::Histogram,
        labels: &["pool"],
        help: "Time to get a pooled connection (on PostgreSQL, for a write: the connection and its BEGIN; on SQLite's writer: a command's wait for its batch to start).",
    },
    MetricDoc {
        name: ACQUIRE_TIMEOUTS,
        kind: MetricKind::Counter,
        labels: &["pool"],
        help: "Requests for a connection that gave up after the pool's acquire timeout (answered 503).",
    },
    MetricDoc {
        name: SQLITE_WRITER,
        kind: MetricKind::Histogram,
        labels: &["work"],
        help: "SQLite only: time the writer's thread spent on each piece of work, a group commit (batch: BEGIN to COMMIT; the writer's commands over this count is the mean batch size) or checkpointing the whole WAL (wal_restart under load, wal_truncate once writes stop).",
    },
];

/// Describes every metric of [`CATALOGUE`] and starts the timeout counters at zero for `pools`.
pub fn describe(pools: &[PoolStatus]) {
    for metric in CATALOGUE {
        metric.describe();
    }
    for pool in pools {
        counter!(ACQUIRE_TIMEOUTS, "pool" => pool.name).absolute(0);
    }
}

/// The pools as they are now.
pub fn pools_observed(pools: &[PoolStatus]) {
    for pool in pools {
        let in_use = pool.size.saturating_sub(pool.idle);
        gauge!(POOL_CONNECTIONS, "pool" => pool.name, "state" => "idle").set(pool.idle);
        gauge!(POOL_CONNECTIONS, "pool" => pool.name, "state" => "in_use").set(in_use);
        gauge!(POOL_MAX_CONNECTIONS, "pool" => pool.name).set(pool.max);
    }
}

/// The occupancy of `pool`, named `name`.
#[cfg(feature = "postgres")]
pub(crate) fn pool_status<DB: sqlx::Database>(
    name: &'static str,
    pool: &sqlx::Pool<DB>,
) -> PoolStatus {
    PoolStatus {
        name,
        size: pool.size(),
        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        max: pool.options().get_max_connections(),
    }
}

/// Runs `acquire` (getting a connection from `pool`), timing it and counting timeouts.
#[cfg(feature = "postgres")]
pub(crate) async fn timed_acquire<T>(
    pool: &'static str,
    acquire: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let started = Instant::now();
    let result = acquire.await;
    histogram!(ACQUIRE, "pool" => pool).record(started.elapsed());
    if matches!(result, Err(sqlx::Error::PoolTimedOut)) {
        counter!(ACQUIRE_TIMEOUTS, "pool" => pool).increment(1);
    }
    result
}

/// Records how long a read waited for one of SQLite's reader connections, and whether it gave up.
#[cfg(feature = "sqlite")]
pub(crate) fn reader_waited(since: Instant, timed_out: bool) {
    histogram!(ACQUIRE, "pool" => "reader").record(since.elapsed());
    if timed_out {
        counter!(ACQUIRE_TIMEOUTS, "pool" => "reader").increment(1);
    }
}

/// Records how long a write command waited in the SQLite writer's queue for its batch to start
/// (the writer's "acquire": it has one connection, which every batch takes in turn).
#[cfg(feature = "sqlite")]
pub(crate) fn writer_waited(since: Instant) {
    histogram!(ACQUIRE, "pool" => "writer").record(since.elapsed());
}

/// What SQLite's writer thread spends its time on, for [`sqlite_writer_worked`].
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriterWork {
    /// One group commit, `BEGIN` to `COMMIT`.
    Batch,
    /// A `RESTART` checkpoint of the WAL (under load).
    WalRestart,
    /// A `TRUNCATE` checkpoint of the WAL (once writes stop).
    WalTruncate,
}

/// Records how long SQLite's writer thread spent on one piece of `work`, begun at `since`.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_writer_worked(work: WriterWork, since: Instant) {
    let work = match work {
        WriterWork::Batch => "batch",
        WriterWork::WalRestart => "wal_restart",
        WriterWork::WalTruncate => "wal_truncate",
    };
    histogram!(SQLITE_WRITER, "work" => work).record(since.elapsed());
}
