//! [`SqliteStore`]: the embedded backend.
//!
//! Writer discipline: one pooled connection does every write. Commands go through a group-commit
//! [`writer::Writer`]: those queued together run one after another in a single `BEGIN IMMEDIATE`
//! transaction (which holds the write lock from its first statement, so it never fails half-way
//! on a lock upgrade). Several connections read concurrently under WAL. Other processes on the
//! same file wait on `busy_timeout`.

mod backend;
mod statements;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use gateway_core::StoreError;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::db_error;

/// The gateway's data in one SQLite file: the connections and the writer. It becomes a
/// [`gateway_core::Store`] with [`SqliteStore::into_store`] (or [`crate::open`]).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: SQLite has one writer at a time, so queueing here beats lock retries.
    writer: SqlitePool,
    /// Concurrent readers (WAL lets them run beside the writer).
    reader: SqlitePool,
    /// Group commit of write commands over `writer`.
    write: writer::Writer,
}

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a reader connection copies the WAL back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// Past this size the writer empties the WAL (see [`writer::WalBound`]).
const WAL_TRUNCATE_AT: u64 = 32 * 1024 * 1024;
/// What SQLite leaves of the WAL file when it starts the log over by itself.
const WAL_SIZE_LIMIT: u64 = 4 * 1024 * 1024;
/// How long a request waits for a pooled connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite's name for the WAL of `database`: the same path with `-wal` appended.
fn wal_file(database: &std::path::Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`, e.g. `sqlite://gateway.db`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, true).await
    }

    /// Opens the database at `url`; a missing file is created only with `create_if_missing`
    /// (otherwise it is an error that names the path, so a mistyped path is noticed).
    pub async fn connect_with(url: &str, create_if_missing: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?;
        let path = options.get_filename().to_owned();
        if !create_if_missing && !url.contains(":memory:") && !path.exists() {
            return Err(StoreError::Other(format!(
                "the SQLite database {} does not exist (create it with `gateway migrate`)",
                path.display()
            )));
        }
        let options = options
            .create_if_missing(create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL survives process crashes (kill -9); only a power loss can drop
            // the last commits. See docs/operations.md.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // 2 MiB of page cache per connection (5 of them): the working set of a gateway is
            // the newest rows, and the OS page cache holds the rest.
            .pragma("cache_size", "-2000")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string());
        let in_memory = url.contains(":memory:");
        // The writer never checkpoints (a checkpoint inside a commit would stall every write
        // behind its fsync); a reader connection does, in the background.
        // The writer's temporary tables are small (a claim's due ids): memory. A reader's can be
        // as large as the tables it reports on (`jobs status` sorts every job kept), so past
        // its page cache a sort goes to a temporary file: 720,000 jobs sorted in memory took
        // about 47 MiB, on every `jobs status` and metrics scrape.
        let writer_options = options.clone().pragma("temp_store", "memory");
        let writer_options = if in_memory {
            writer_options
        } else {
            writer_options.pragma("wal_autocheckpoint", "0")
        };
        let options = options.pragma("temp_store", "file");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(writer_options)
            .await
            .map_err(db_error)?;
        // An in-memory database exists per connection, so it must share the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(db_error)?
        };
        let wal = (!in_memory)
            .then(|| writer::WalBound::new(wal_file(&path), WAL_TRUNCATE_AT, BUSY_TIMEOUT));
        let write = writer::Writer::start(writer.clone(), wal);
        if !in_memory {
            write.checkpoint_in_background(reader.clone(), CHECKPOINT_INTERVAL);
        }
        Ok(Self {
            writer,
            reader,
            write,
        })
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    /// The [`gateway_core::Store`] over this database.
    pub fn into_store(self) -> std::sync::Arc<dyn gateway_core::Store> {
        std::sync::Arc::new(crate::sql::SqlStore { backend: self })
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::{Path, PathBuf};

    use super::*;

    /// A store over a new `gateway.db` in `dir`, and the database's path.
    async fn file_store(dir: &Path) -> (SqliteStore, PathBuf) {
        let database = dir.join("gateway.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", database.display()))
            .await
            .unwrap();
        (store, database)
    }

    #[tokio::test]
    async fn readers_sort_large_results_on_disk_and_the_writer_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = file_store(dir.path()).await;
        let temp_store = |pool: &SqlitePool| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>("PRAGMA temp_store")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        // 1 is FILE, 2 is MEMORY.
        assert_eq!(temp_store(&store.reader).await, 1);
        assert_eq!(temp_store(&store.writer).await, 2);
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_store_empties_its_wal() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = file_store(dir.path()).await;
        store.migrate().await.unwrap();
        let wal = wal_file(&database);
        assert_eq!(wal, dir.path().join("gateway.db-wal"));
        let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert!(size() > 0, "the migrations left no WAL to empty");
        let mut waited = Duration::ZERO;
        while size() > 0 && waited < 5 * CHECKPOINT_INTERVAL {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert_eq!(size(), 0, "the WAL was not emptied after {waited:?} idle");
        store.close().await;
    }
}
