//! # gateway-store
//!
//! SQL implementations of [`gateway_core::Store`]: [`SqliteStore`] (feature `sqlite`, the
//! embedded default). Each store method is one transaction; each backend enforces the money
//! invariants itself with conditional updates and checks inside that transaction. The job queue
//! is a table in the same database, so enqueueing is part of the state change that needs it.

#[cfg(feature = "sqlite")]
pub mod sqlite;

mod error;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use std::sync::Arc;

use gateway_core::Store;

/// Opens the store named by `url` and applies its migrations.
///
/// `sqlite://path/to/file.db` (or `sqlite::memory:`) selects SQLite.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, gateway_core::StoreError> {
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        store.migrate().await?;
        return Ok(Arc::new(store));
    }
    Err(gateway_core::StoreError::Other(format!(
        "unsupported DATABASE_URL scheme in {:?} (this build supports sqlite://)",
        url.split(':').next().unwrap_or_default()
    )))
}
