//! The readers' connections: SQLite called directly, on the task that reads.
//!
//! Through sqlx a read went to its connection's own thread and back, and the connection stayed
//! taken until the reading task was next polled. Under load that wait, not the read, held the
//! four connections: a read waited 17 ms on average for one, on the critical path of every
//! payment (`benches/results/sqlite-readers-2026-12-01`). Here a read of one row is a function
//! call of tens of microseconds that holds its connection for just that long, so a few
//! connections serve every task. A read of many rows ([`super::direct`]'s `fetch_all`) first
//! hands the runtime's other tasks to another thread, so a long report stalls no request.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gateway_core::StoreError;
use gateway_core::store::PoolStatus;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::direct::sqlite_error;
use super::passive::DatabaseFile;

/// Up to `size` reader connections to one database file, opened as they are first needed.
#[derive(Debug)]
pub(crate) struct Readers {
    /// The connections nobody holds now.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection that may be held; a permit that finds no idle connection
    /// opens one.
    permits: Arc<Semaphore>,
    /// The most connections there may be.
    size: u32,
    /// The database file.
    path: PathBuf,
    /// Sets up each connection opened.
    configure: fn(&Connection) -> rusqlite::Result<()>,
    /// How long [`Readers::acquire`] waits before the store reports `Unavailable`.
    acquire_timeout: Duration,
    /// The store's own descriptor of the file, for the background checkpoint to flush it; kept
    /// open until the connections above have closed (see [`DatabaseFile`]).
    database: Option<Arc<DatabaseFile>>,
}

impl Readers {
    /// Readers of the database at `path`, each connection set up by `configure`. The first
    /// connection opens now, so a database that cannot be read fails here. `database`, the
    /// store's own descriptor of the file, closes only after every reader connection.
    pub(crate) fn open(
        path: &Path,
        size: u32,
        acquire_timeout: Duration,
        configure: fn(&Connection) -> rusqlite::Result<()>,
        database: Option<Arc<DatabaseFile>>,
    ) -> Result<Arc<Self>, StoreError> {
        let readers = Self {
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
            path: path.to_owned(),
            configure,
            acquire_timeout,
            database,
        };
        let first = readers.connect()?;
        readers.idle().push(first);
        Ok(Arc::new(readers))
    }

    /// A new connection.
    fn connect(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(sqlite_error)?;
        (self.configure)(&conn).map_err(sqlite_error)?;
        Ok(conn)
    }

    /// The store's own descriptor of the database file, if it was given one.
    pub(crate) fn database_file(&self) -> Option<Arc<DatabaseFile>> {
        self.database.clone()
    }

    /// The idle connections, locked.
    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a connection, waiting while all are held; `Unavailable` once closed or after the
    /// acquire timeout.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Reader, StoreError> {
        let started = Instant::now();
        let permit =
            tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned()).await;
        crate::metrics::reader_waited(started, permit.is_err());
        let permit = match permit {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(StoreError::Unavailable("the store is closed".into())),
            Err(_timeout) => {
                return Err(StoreError::Unavailable(
                    "no SQLite reader connection came free in time".into(),
                ));
            }
        };
        let idle = self.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Reader {
            conn: Some(conn),
            readers: Arc::clone(self),
            _permit: permit,
        })
    }

    /// The connections now, for metrics.
    pub(crate) fn status(&self) -> PoolStatus {
        let idle = u32::try_from(self.idle().len()).unwrap_or(u32::MAX);
        let held = if self.permits.is_closed() {
            0
        } else {
            let free = u32::try_from(self.permits.available_permits()).unwrap_or(u32::MAX);
            self.size.saturating_sub(free)
        };
        PoolStatus {
            name: "reader",
            size: held + idle,
            idle,
            max: self.size,
        }
    }

    /// Waits for every held connection to come back, then closes them all; later acquires
    /// fail.
    pub(crate) async fn close(&self) {
        if let Ok(all) = self.permits.acquire_many(self.size).await {
            self.permits.close();
            drop(all);
        }
        self.idle().clear();
    }
}

/// A reader connection, back in its pool when dropped.
#[derive(Debug)]
pub(crate) struct Reader {
    conn: Option<Connection>,
    readers: Arc<Readers>,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Reader {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A read left inside a transaction (a panic, or a task dropped between statements) must
        // not hand its old snapshot to the next reader. Should that fail, the connection closes
        // and the next reader to find none idle opens another.
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "SQLite reader rollback failed; the connection is closed");
            return;
        }
        self.readers.idle().push(conn);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn scratch(dir: &tempfile::TempDir, size: u32) -> Arc<Readers> {
        let path = dir.path().join("readers.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER)")
            .unwrap();
        Readers::open(&path, size, Duration::from_millis(50), |_| Ok(()), None).unwrap()
    }

    #[tokio::test]
    async fn a_held_connection_is_not_handed_out_twice_and_comes_back_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let readers = scratch(&dir, 1);
        let held = readers.acquire().await.unwrap();
        assert_eq!((readers.status().size, readers.status().idle), (1, 0));
        assert!(matches!(
            readers.acquire().await,
            Err(StoreError::Unavailable(_))
        ));
        drop(held);
        assert_eq!(readers.status().idle, 1);
        let again = readers.acquire().await.unwrap();
        let n: i64 = again
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn a_reader_dropped_inside_a_transaction_comes_back_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let readers = scratch(&dir, 1);
        let reader = readers.acquire().await.unwrap();
        reader.execute_batch("BEGIN").unwrap();
        assert!(!reader.is_autocommit());
        drop(reader);
        assert!(readers.acquire().await.unwrap().is_autocommit());
    }

    #[tokio::test]
    async fn connections_open_as_they_are_needed_up_to_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let readers = scratch(&dir, 3);
        assert_eq!((readers.status().size, readers.status().idle), (1, 1));
        let first = readers.acquire().await.unwrap();
        let second = readers.acquire().await.unwrap();
        assert_eq!((readers.status().size, readers.status().idle), (2, 0));
        drop((first, second));
        assert_eq!((readers.status().size, readers.status().idle), (2, 2));
    }

    #[tokio::test]
    async fn a_closed_pool_waits_for_its_readers_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let readers = scratch(&dir, 2);
        let held = readers.acquire().await.unwrap();
        let closing = {
            let readers = Arc::clone(&readers);
            tokio::spawn(async move { readers.close().await })
        };
        tokio::task::yield_now().await;
        assert!(!closing.is_finished());
        drop(held);
        closing.await.unwrap();
        assert_eq!(readers.status().size, 0);
        assert!(matches!(
            readers.acquire().await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
