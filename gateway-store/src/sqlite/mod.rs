//! [`SqliteStore`]: the embedded backend.
//!
//! Writer discipline: one connection, owned by the writer's thread, does every write. Commands
//! go through a group-commit [`writer::Writer`]: those queued together run one after another in
//! a single `BEGIN IMMEDIATE` transaction (which holds the write lock from its first statement,
//! so it never fails half-way on a lock upgrade). A few reader connections read concurrently
//! under WAL, on the reading tasks themselves ([`readers`]). Other processes on the same file
//! wait on `busy_timeout`.

mod backend;
mod direct;
mod passive;
mod readers;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use direct::sqlite_error;
use gateway_core::StoreError;
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::db_error;

/// The gateway's data in one SQLite file: the connections and the writer. It becomes a
/// [`gateway_core::Store`] with [`SqliteStore::into_store`] (or [`crate::open`]).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Concurrent readers (WAL lets them run beside the writer).
    readers: Arc<readers::Readers>,
    /// Group commit of write commands on the writer's own connection.
    write: writer::Writer,
    /// How the migrations' own connection is opened.
    options: SqliteConnectOptions,
    /// The directory of a `sqlite::memory:` database, removed with the last clone.
    _scratch: Option<Arc<tempfile::TempDir>>,
}

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a reader connection copies new WAL frames back into the database file. Often, so
/// that the writer's whole-log checkpoint, which every write waits for, finds little left to
/// copy: under load it took about 68 ms a time at 250 ms, 34 ms at 100 ms and 26 ms at 50 ms,
/// and 50 ms cost a tenth more CPU at 250 payments/s where 100 ms cost 3 %
/// (benches/results/sqlite-passive-interval-2026-12-01).
const PASSIVE_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// After this long without writes the writer empties the WAL.
const IDLE_TRUNCATE_AFTER: Duration = Duration::from_millis(250);
/// Past this size the writer checkpoints the whole WAL and starts it over, right after the
/// background checkpoint's next pass and at 40 MiB at the latest (see [`writer::WalBound`]).
const WAL_TRUNCATE_AT: u64 = 32 * 1024 * 1024;
/// How long a request waits for a reader connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reader connections. A read holds one only while SQLite runs it on the reading task's thread,
/// so more than the runtime's threads (plus the background checkpoint) would sit idle.
const READERS: u32 = 4;
/// Prepared statements the writer keeps: every statement text the write commands use.
const WRITER_STATEMENTS: usize = 256;
/// Prepared statements each reader keeps: every statement text the reads use.
const READER_STATEMENTS: usize = 128;

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
    ///
    /// `sqlite::memory:` is a database in a temporary directory, removed when the store is
    /// dropped: the writer's connection and the readers' must see the same database, which
    /// SQLite's in-memory databases (one per connection) cannot offer.
    pub async fn connect_with(url: &str, create_if_missing: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?;
        let (options, scratch, create_if_missing) = if url.contains(":memory:") {
            let dir = tempfile::tempdir().map_err(|e| {
                StoreError::Other(format!("cannot create a directory for sqlite::memory: {e}"))
            })?;
            let options = options.filename(dir.path().join("gateway.db"));
            (options, Some(Arc::new(dir)), true)
        } else {
            (options, None, create_if_missing)
        };
        let path = options.get_filename().to_owned();
        if !create_if_missing && !path.exists() {
            return Err(StoreError::Other(format!(
                "the SQLite database {} does not exist (create it with `gateway migrate`)",
                path.display()
            )));
        }
        // The writer first: it creates the file and sets WAL mode.
        let writer_connection = open_writer(&path, create_if_missing)?;
        let database = passive::DatabaseFile::open(&path)
            .map(Arc::new)
            .map_err(|e| {
                StoreError::Other(format!("cannot open {} to flush it: {e}", path.display()))
            })?;
        let write = writer::Writer::start(
            writer_connection,
            Some(writer::WalBound::new(
                wal_file(&path),
                WAL_TRUNCATE_AT,
                BUSY_TIMEOUT,
            )),
            IDLE_TRUNCATE_AFTER,
            Some(Arc::clone(&database)),
        )?;
        let readers = readers::Readers::open(
            &path,
            READERS,
            ACQUIRE_TIMEOUT,
            configure_reader,
            Some(database),
        )?;
        // The migrations' connection: NORMAL under WAL survives process crashes (kill -9); only
        // a power loss can drop the last commits. See docs/operations.md.
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        write.checkpoint_in_background(Arc::clone(&readers), PASSIVE_CHECKPOINT_INTERVAL);
        Ok(Self {
            readers,
            write,
            options,
            _scratch: scratch,
        })
    }

    /// Applies the embedded migrations.
    ///
    /// They run on a connection of their own, not a reader's. Run on a reader, once in a
    /// full test run a `SELECT d.*` right after them panicked inside sqlx (the row had more
    /// columns than the statement sqlx had prepared): a reader's view of the schema can lag.
    /// Reads now name their columns (`rows::Table`), which closes that for good.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let own = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(self.options.clone())
            .await
            .map_err(db_error)?;
        let migrated = sqlx::migrate!("./migrations/sqlite")
            .run(&own)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")));
        own.close().await;
        migrated
    }

    /// The [`gateway_core::Store`] over this database.
    pub fn into_store(self) -> std::sync::Arc<dyn gateway_core::Store> {
        std::sync::Arc::new(crate::sql::SqlStore { backend: self })
    }

    /// Closes the readers and the writer, checkpointing the WAL.
    pub async fn close(&self) {
        self.readers.close().await;
        self.write.close().await;
    }
}

/// 2 MiB of page cache per connection (5 of them): the working set of a gateway is the newest
/// rows, and the OS page cache holds the rest.
const CACHE_SIZE: &str = "-2000";

/// Sets up a reader connection. Its checkpoints (the background one runs on a reader) sync as
/// the writer's commits do. (A reader never starts the log over, so the log's size limit is the
/// writer's alone: see `writer::WalBound`.) A reader's
/// temporary tables can be as large as the tables it reports on (`jobs status` sorts every job
/// kept), so past its page cache a sort goes to a temporary file: 720,000 jobs sorted in memory
/// took about 47 MiB, on every `jobs status` and metrics scrape.
fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    plan_without_bound_values(conn)?;
    conn.set_prepared_statement_cache_capacity(READER_STATEMENTS);
    for (pragma, value) in [
        ("synchronous", "NORMAL"),
        ("cache_size", CACHE_SIZE),
        ("temp_store", "FILE"),
    ] {
        conn.pragma_update(None, pragma, value)?;
    }
    Ok(())
}

/// Has SQLite plan each cached statement once, whatever is bound to it. By default it looks at
/// some bound values while planning (a `LIMIT`, a parameter compared with a partial index's
/// condition) and compiles the statement again whenever one is bound anew: under load the job
/// claim was compiled on every run, about 2 % of the writer's time. The store's statements are
/// written so that no plan needs a value (statuses are literals where a partial index applies).
fn plan_without_bound_values(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

/// Opens the writer's connection to `path` with the store's settings.
fn open_writer(path: &Path, create_if_missing: bool) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create_if_missing {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error)?;
    plan_without_bound_values(&conn).map_err(sqlite_error)?;
    conn.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
    for (pragma, value) in [
        ("journal_mode", "WAL"),
        ("synchronous", "NORMAL"),
        ("foreign_keys", "ON"),
        ("cache_size", CACHE_SIZE),
        // (Its `journal_size_limit` is set by the WAL bound: see `writer::WalBound`.)
        // The writer's temporary tables are small (a claim's due ids).
        ("temp_store", "MEMORY"),
        // The writer never checkpoints (a checkpoint inside a commit would stall every write
        // behind its fsync); a reader connection does, in the background.
        ("wal_autocheckpoint", "0"),
    ] {
        conn.pragma_update(None, pragma, value)
            .map_err(sqlite_error)?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::{Path, PathBuf};
    use std::sync::atomic::Ordering;

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
        let readers: i64 = store
            .readers
            .acquire()
            .await
            .unwrap()
            .query_row("PRAGMA temp_store", [], |row| row.get(0))
            .unwrap();
        // 1 is FILE, 2 is MEMORY.
        assert_eq!(readers, 1);
        let writers = store
            .write
            .write(|conn| {
                Box::pin(async move {
                    conn.query_row("PRAGMA temp_store", [], |row| row.get::<_, i64>(0))
                        .map_err(sqlite_error)
                })
            })
            .await;
        assert_eq!(writers, Ok(2));
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
        // A truncation tried while the migrations still wrote (through a reader connection)
        // was blocked, and the next waits out the writer's one-second back-off.
        let mut waited = Duration::ZERO;
        while size() > 0 && waited < Duration::from_secs(1) + 5 * IDLE_TRUNCATE_AFTER {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert_eq!(size(), 0, "the WAL was not emptied after {waited:?} idle");
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_background_checkpoint_runs_after_writes_and_sleeps_while_idle() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = file_store(dir.path()).await;
        store.migrate().await.unwrap();
        let ran = || store.write.passive_checkpoints.load(Ordering::Relaxed);
        let idle = 10 * PASSIVE_CHECKPOINT_INTERVAL;
        // The migrations write on a connection of their own, not through the writer.
        tokio::time::sleep(idle).await;
        assert_eq!(ran(), 0, "an idle store checkpointed");

        let wrote = store
            .write
            .write(|conn| {
                Box::pin(async move {
                    conn.execute_batch("CREATE TABLE scratch (n INTEGER)")
                        .map_err(sqlite_error)
                })
            })
            .await;
        assert_eq!(wrote, Ok(()));
        let mut waited = Duration::ZERO;
        while ran() == 0 && waited < Duration::from_secs(5) {
            tokio::time::sleep(PASSIVE_CHECKPOINT_INTERVAL).await;
            waited += PASSIVE_CHECKPOINT_INTERVAL;
        }
        assert_eq!(ran(), 1, "one write, one checkpoint");

        tokio::time::sleep(idle).await;
        assert_eq!(ran(), 1, "the store checkpointed again without a write");
        store.close().await;
    }
}
