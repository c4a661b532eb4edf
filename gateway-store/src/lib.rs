//! # gateway-store
//!
//! SQL implementations of [`gateway_core::Store`] on SQLite (feature `sqlite`, the embedded
//! default) and PostgreSQL (feature `postgres`, shared by many processes), both through one
//! shared store layer (`sql`): every command is one transaction that locks what its rule reads,
//! reads a snapshot and writes what `gateway-core` decided. The backends ([`SqliteStore`],
//! [`PostgresStore`]) keep only what the databases do differently. The job queue is a table in
//! the same database, so enqueueing is part of the state change that needs it; with the
//! `redis` feature, `RedisQueue` dispatches those rows through Redis Streams instead.

#![deny(missing_docs)]

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod error;
pub mod metrics;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

#[cfg(feature = "redis")]
pub mod redis_queue;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis_queue::{RedisQueue, RedisQueueConfig};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use std::sync::Arc;

use gateway_core::Store;

/// How [`open_with`] opens a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create an SQLite file that does not exist yet (production opens only an existing one;
    /// `gateway migrate` creates it, explicitly).
    pub create_if_missing: bool,
    /// Most PostgreSQL connections this process holds (at least 2); SQLite ignores it.
    pub postgres_connections: u32,
}

/// PostgreSQL connections per process unless [`OpenOptions`] says otherwise.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            create_if_missing: true,
            postgres_connections: DEFAULT_POSTGRES_CONNECTIONS,
        }
    }
}

/// Opens the store named by `url` and applies its migrations.
///
/// `sqlite://path/to/file.db` (or `sqlite::memory:`) selects SQLite (feature `sqlite`);
/// `postgres://…` or `postgresql://…` selects PostgreSQL (feature `postgres`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, gateway_core::StoreError> {
    open_with(url, OpenOptions::default()).await
}

/// [`open`] with `options`.
pub async fn open_with(
    url: &str,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, gateway_core::StoreError> {
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect_with(url, options.create_if_missing).await?;
        store.migrate().await?;
        return Ok(store.into_store());
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect_with_max(url, options.postgres_connections).await?;
        store.migrate().await?;
        return Ok(store.into_store());
    }
    let _ = options;
    let supported: &[&str] = &[
        #[cfg(feature = "sqlite")]
        "sqlite://",
        #[cfg(feature = "postgres")]
        "postgres://",
    ];
    Err(gateway_core::StoreError::Other(format!(
        "unsupported DATABASE_URL scheme in {:?} (this build supports {})",
        url.split(':').next().unwrap_or_default(),
        if supported.is_empty() {
            "no database".to_owned()
        } else {
            supported.join(", ")
        }
    )))
}
