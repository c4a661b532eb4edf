//! Group commit for SQLite: one task owns the writes, and runs every write command queued while
//! the previous batch committed in one `BEGIN IMMEDIATE … COMMIT`.
//!
//! SQLite has one writer at a time, and through sqlx every statement is a hop to the
//! connection's thread. Committing commands one by one pays `BEGIN` and `COMMIT` (two hops and a
//! WAL commit) for each; a batch pays them once. Each command still runs alone, in queue order,
//! and sees the effects of those before it, so the outcome is the same as running them one after
//! another. A caller hears its result only once its batch has committed.
//!
//! A command that fails leaves the batch without its writes: the batch is rolled back, the
//! failure reported to that command alone (it saw exactly the state it would have seen run on
//! its own), and the rest of the batch runs again without it. Commands are therefore re-runnable
//! closures over data they own.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_core::StoreError;
use gateway_core::request_id;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::error::db_error;

/// A future borrowing the writer's connection.
pub(crate) type WriteFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// Most commands in one transaction: bounds the wait of the first in a batch.
const MAX_BATCH: usize = 128;
/// Commands waiting for the writer; callers beyond this wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 1024;
/// After this many failed commands in one batch, the rest run one transaction each.
const MAX_REPLAYS: usize = 3;

/// A queued command, type-erased: run it, then hand its outcome back.
trait Command: Send {
    /// Runs the command inside the batch's transaction, keeping its outcome.
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> WriteFuture<'c, ()>;
    /// Sends the kept outcome, or `error` if the batch did not commit.
    fn finish(self: Box<Self>, error: Option<StoreError>);
    /// Sends `error` (the command's own failure).
    fn fail(self: Box<Self>, error: StoreError);
}

struct Queued<T, F> {
    work: F,
    value: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
    /// The caller's request id: the command runs in the writer's task, and the jobs it
    /// enqueues must still record the request that asked for them (see
    /// [`gateway_core::request_id`]).
    request_id: Option<String>,
}

impl<T, F> Command for Queued<T, F>
where
    T: Send + 'static,
    F: for<'c> FnMut(&'c mut SqliteConnection) -> WriteFuture<'c, T> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> WriteFuture<'c, ()> {
        let request_id = self.request_id.clone();
        let work = async move {
            self.value = Some((self.work)(conn).await?);
            Ok(())
        };
        Box::pin(request_id::scope(request_id, work))
    }

    fn finish(self: Box<Self>, error: Option<StoreError>) {
        let outcome = match (error, self.value) {
            (None, Some(value)) => Ok(value),
            (Some(error), _) => Err(error),
            (None, None) => Err(StoreError::Other("write command did not run".into())),
        };
        // The caller may have gone (its request was cancelled); the write stands regardless.
        let _ = self.reply.send(outcome);
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The handle to the writer task; cloning shares the task.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Command>>,
    /// The writer's one connection (the background checkpoint borrows it to truncate the WAL).
    pool: SqlitePool,
    /// Batches run so far: the background checkpoint reads "idle" from it standing still.
    batches: Arc<AtomicU64>,
    wal: Option<Arc<WalBound>>,
}

/// Keeps a file database's write-ahead log small.
///
/// SQLite only starts its WAL over when a write begins after a checkpoint that copied every
/// frame while no reader still needed one, which a busy gateway hardly ever offers: the log
/// then grows with every commit and never gives the space back. So the writer truncates it
/// itself (a `TRUNCATE` checkpoint) once it passes [`WalBound::truncate_at`], and the
/// background checkpoint does once writes stop.
///
/// A `TRUNCATE` checkpoint must wait for readers of older snapshots, and the writes queue
/// meanwhile. So it waits [`TRUNCATE_PATIENCE`] at most, and after a reader has blocked it
/// (a long report, or `sqlite3 .backup` from another process) no truncation is tried for
/// [`TRUNCATE_BACKOFF`]: writes go on, and the log grows until the reader ends. A truncation
/// refused at once (another checkpoint, such as the background one, was running: SQLite runs
/// one at a time and does not wait for it) is tried again after the next batch instead; backing
/// off a second for it let the log grow by hundreds of MiB under load.
#[derive(Debug)]
pub(crate) struct WalBound {
    /// The `-wal` file beside the database.
    pub(crate) path: PathBuf,
    /// Past this many bytes the writer truncates the log after its batch.
    pub(crate) truncate_at: u64,
    /// The connections' usual busy timeout, restored after a truncation.
    pub(crate) busy_timeout: Duration,
    /// No truncation is tried before this, after one a reader blocked.
    blocked_until: Mutex<Option<Instant>>,
}

/// How long a truncation waits for readers of older snapshots.
const TRUNCATE_PATIENCE: Duration = Duration::from_millis(50);
/// How long after a blocked truncation the next is tried.
const TRUNCATE_BACKOFF: Duration = Duration::from_secs(1);

impl WalBound {
    /// A bound for the log at `path`; `busy_timeout` is what the connections use otherwise.
    pub(crate) fn new(path: PathBuf, truncate_at: u64, busy_timeout: Duration) -> Self {
        Self {
            path,
            truncate_at,
            busy_timeout,
            blocked_until: Mutex::new(None),
        }
    }

    /// The log's size now (0 when it does not exist).
    fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Whether a truncation may be tried now (none was blocked by a reader lately).
    fn may_truncate(&self) -> bool {
        let blocked_until = *self.blocked_until.lock().unwrap_or_else(|e| e.into_inner());
        blocked_until.is_none_or(|until| Instant::now() >= until)
    }

    /// Copies the whole log into the database file and empties it, unless a reader of an older
    /// snapshot holds out for [`TRUNCATE_PATIENCE`]. The connection must not be in a
    /// transaction; any other write waits for it.
    async fn truncate(&self, conn: &mut SqliteConnection) {
        let started = Instant::now();
        let outcome = async {
            set_busy_timeout(conn, TRUNCATE_PATIENCE).await?;
            let outcome: Result<(i64, i64, i64), sqlx::Error> =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&mut *conn)
                    .await;
            set_busy_timeout(conn, self.busy_timeout).await?;
            outcome
        }
        .await;
        let back_off = match outcome {
            Ok((0, _, _)) => None,
            Ok(_) => {
                let waited = started.elapsed();
                tracing::debug!(?waited, "SQLite WAL truncation was blocked");
                back_off_after_blocked(waited)
            }
            Err(e) => {
                tracing::warn!(error = %e, "SQLite WAL truncation failed");
                Some(TRUNCATE_BACKOFF)
            }
        };
        *self.blocked_until.lock().unwrap_or_else(|e| e.into_inner()) =
            back_off.map(|wait| Instant::now() + wait);
    }
}

/// How long to leave the log alone after a truncation that was blocked once it had `waited`:
/// [`TRUNCATE_BACKOFF`] when it waited on a reader (SQLite's busy handler sleeps until the
/// whole [`TRUNCATE_PATIENCE`] has passed; half of it is the line, clear of timer slack);
/// nothing when it was refused at once (another checkpoint was running), so the next batch
/// tries again.
fn back_off_after_blocked(waited: Duration) -> Option<Duration> {
    (waited >= TRUNCATE_PATIENCE / 2).then_some(TRUNCATE_BACKOFF)
}

async fn set_busy_timeout(
    conn: &mut SqliteConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {}",
        timeout.as_millis()
    )))
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

impl Writer {
    /// Starts the writer task on the current tokio runtime; it takes the pool's connection for
    /// each batch and stops when every handle is dropped. With `wal`, the writer keeps the
    /// log under its bound.
    pub(crate) fn start(pool: SqlitePool, wal: Option<WalBound>) -> Self {
        let (queue, commands) = mpsc::channel(QUEUE_DEPTH);
        let batches = Arc::new(AtomicU64::new(0));
        let wal = wal.map(Arc::new);
        tokio::spawn(run_batches(
            pool.clone(),
            commands,
            batches.clone(),
            wal.clone(),
        ));
        Self {
            queue,
            pool,
            batches,
            wal,
        }
    }

    /// Every `interval`, until the writer stops, runs a passive checkpoint on a connection of
    /// `readers`: it copies committed pages from the WAL into the database file (and waits for
    /// their fsync) beside the writer instead of inside one of its commits. When no batch ran
    /// for a whole interval, it also empties the log (see [`WalBound`]).
    pub(crate) fn checkpoint_in_background(&self, readers: SqlitePool, interval: Duration) {
        let alive = self.queue.downgrade();
        let (writer, batches, wal) = (self.pool.clone(), self.batches.clone(), self.wal.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut batches_seen = batches.load(Ordering::Relaxed);
            loop {
                ticks.tick().await;
                if alive.upgrade().is_none() || readers.is_closed() {
                    return;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&readers)
                    .await
                {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; the WAL grows until one succeeds");
                }
                let batches_now = batches.load(Ordering::Relaxed);
                let idle = batches_now == batches_seen;
                batches_seen = batches_now;
                if let Some(wal) = wal
                    .as_deref()
                    .filter(|wal| idle && wal.size() > 0 && wal.may_truncate())
                    && let Ok(mut conn) = writer.acquire().await
                {
                    wal.truncate(&mut conn).await;
                }
            }
        });
    }

    /// Runs `work` in a write transaction (shared with other commands) and returns its result
    /// once committed. `work` may run more than once; only one run's writes are ever committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let command = Box::new(Queued {
            work,
            value: None,
            reply,
            request_id: request_id::current(),
        });
        self.queue
            .send(command)
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }
}

async fn run_batches(
    pool: SqlitePool,
    mut commands: mpsc::Receiver<Box<dyn Command>>,
    batches: Arc<AtomicU64>,
    wal: Option<Arc<WalBound>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while commands.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let pending = std::mem::take(&mut batch);
        let (pool, wal) = (pool.clone(), wal.clone());
        // In its own task so that a panicking command fails its batch (the callers see the
        // writer's error), not every write after it.
        let run = tokio::spawn(async move {
            match crate::metrics::timed_acquire("writer", pool.acquire()).await {
                Ok(mut conn) => {
                    commit_batch(&mut conn, pending).await;
                    if let Some(wal) =
                        wal.filter(|wal| wal.size() > wal.truncate_at && wal.may_truncate())
                    {
                        wal.truncate(&mut conn).await;
                    }
                }
                Err(e) => finish_all(pending, Some(db_error(e))),
            }
        });
        if let Err(e) = run.await {
            tracing::error!(error = %e, "a SQLite write batch panicked; its commands failed");
        }
        batches.fetch_add(1, Ordering::Relaxed);
    }
}

/// Commits `pending` as one transaction, dropping failed commands and replaying the rest.
async fn commit_batch(conn: &mut SqliteConnection, mut pending: Vec<Box<dyn Command>>) {
    let mut replays = 0;
    while !pending.is_empty() {
        if replays >= MAX_REPLAYS {
            for command in pending {
                commit_batch_once(conn, vec![command]).await;
            }
            return;
        }
        match run_once(conn, &mut pending).await {
            Ok(()) => return finish_all(pending, None),
            Err(Failure::Command(index, error)) => {
                pending.remove(index).fail(error);
                replays += 1;
            }
            Err(Failure::Batch(error)) => return finish_all(pending, Some(error)),
        }
    }
}

/// A single command in its own transaction (after repeated failures in a batch).
async fn commit_batch_once(conn: &mut SqliteConnection, mut pending: Vec<Box<dyn Command>>) {
    match run_once(conn, &mut pending).await {
        Ok(()) => finish_all(pending, None),
        Err(Failure::Command(index, error)) => pending.remove(index).fail(error),
        Err(Failure::Batch(error)) => finish_all(pending, Some(error)),
    }
}

fn finish_all(pending: Vec<Box<dyn Command>>, error: Option<StoreError>) {
    for command in pending {
        command.finish(error.clone());
    }
}

enum Failure {
    /// The command at this index failed; the transaction was rolled back.
    Command(usize, StoreError),
    /// The transaction itself could not begin or commit.
    Batch(StoreError),
}

/// One transaction over every command; rolled back (by dropping it) on the first failure.
async fn run_once(
    conn: &mut SqliteConnection,
    pending: &mut [Box<dyn Command>],
) -> Result<(), Failure> {
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| Failure::Batch(db_error(e)))?;
    for (index, command) in pending.iter_mut().enumerate() {
        if let Err(error) = command.run(&mut tx).await {
            return Err(Failure::Command(index, error));
        }
    }
    tx.commit().await.map_err(|e| Failure::Batch(db_error(e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    #[test]
    fn only_a_reader_that_held_out_makes_truncation_back_off() {
        assert_eq!(back_off_after_blocked(Duration::ZERO), None);
        assert_eq!(back_off_after_blocked(Duration::from_millis(3)), None);
        assert_eq!(
            back_off_after_blocked(Duration::from_millis(30)),
            Some(TRUNCATE_BACKOFF)
        );
        assert_eq!(
            back_off_after_blocked(TRUNCATE_PATIENCE),
            Some(TRUNCATE_BACKOFF)
        );
        assert_eq!(
            back_off_after_blocked(Duration::from_millis(70)),
            Some(TRUNCATE_BACKOFF)
        );
    }

    async fn writer_on_scratch_table() -> (Writer, SqlitePool) {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .execute(&pool)
            .await
            .unwrap();
        (Writer::start(pool.clone(), None), pool)
    }

    /// Inserts `n`, then fails if `n` is a multiple of 7: its insert must not survive.
    async fn insert(writer: &Writer, n: i64) -> Result<i64, StoreError> {
        writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (n) VALUES (?1)")
                        .bind(n)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    if n % 7 == 0 {
                        return Err(StoreError::Conflict(format!("{n} refused")));
                    }
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    Ok(count)
                })
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commands_commit_together_and_a_failure_takes_only_its_own_writes() {
        let (writer, pool) = writer_on_scratch_table().await;
        let tasks: Vec<_> = (1..=200)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move { (n, insert(&writer, n).await) })
            })
            .collect();
        let mut seen_counts = std::collections::BTreeSet::new();
        for task in tasks {
            let (n, outcome) = task.await.unwrap();
            match outcome {
                Ok(count) => {
                    assert_ne!(n % 7, 0, "{n} should have failed");
                    // Each command saw the rows before it and its own: counts are distinct.
                    assert!(seen_counts.insert(count), "count {count} seen twice");
                }
                Err(StoreError::Conflict(message)) => {
                    assert_eq!(n % 7, 0);
                    assert_eq!(message, format!("{n} refused"));
                }
                Err(other) => panic!("{n}: {other}"),
            }
        }
        let stored: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n")
            .fetch_all(&pool)
            .await
            .unwrap();
        let expected: Vec<i64> = (1..=200).filter(|n| n % 7 != 0).collect();
        assert_eq!(stored, expected);
        assert_eq!(seen_counts.len(), expected.len());
        assert_eq!(seen_counts.last().copied(), Some(expected.len() as i64));
    }

    #[tokio::test]
    async fn a_panicking_command_fails_alone_and_the_writer_goes_on() {
        let (writer, _pool) = writer_on_scratch_table().await;
        let panicked = writer
            .write(|_conn| -> WriteFuture<'_, ()> { panic!("a bug in a command") })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unavailable(_))),
            "{panicked:?}"
        );
        assert_eq!(insert(&writer, 1).await, Ok(1));
    }

    /// A file database with the store's WAL settings, a scratch table, its writer (bounded by
    /// `wal`) and a reader pool.
    async fn file_database(
        dir: &tempfile::TempDir,
        truncate_at: u64,
    ) -> (Writer, SqlitePool, Arc<WalBound>) {
        let file = dir.path().join("writer.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        let readers = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        let wal = WalBound::new(
            dir.path().join("writer.db-wal"),
            truncate_at,
            Duration::from_secs(5),
        );
        let writer = Writer::start(pool, Some(wal));
        let wal = writer.wal.clone().unwrap();
        (writer, readers, wal)
    }

    async fn insert_padded(writer: &Writer, n: i64) {
        writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t VALUES (?1, ?2)")
                        .bind(n)
                        .bind("x".repeat(500))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }

    /// Polls `done` every 10 ms, at most 2 s of waiting.
    async fn eventually(mut done: impl FnMut() -> bool) -> bool {
        for _ in 0..200 {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        done()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_background_checkpoint_moves_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, readers, _wal) = file_database(&dir, u64::MAX).await;
        for n in 0..200_i64 {
            insert_padded(&writer, n).await;
        }
        let file = dir.path().join("writer.db");
        let size = || std::fs::metadata(&file).unwrap().len();
        let before = size();
        writer.checkpoint_in_background(readers, Duration::from_millis(20));
        assert!(
            eventually(|| size() > before + 100 * 500).await,
            "{before} → {}",
            size()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_truncates_the_wal_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 64 * 1024;
        let (writer, _readers, wal) = file_database(&dir, truncate_at).await;
        let mut largest = 0;
        // Unbounded, 400 commits of a page or two each leave well over a megabyte of log.
        for n in 0..400_i64 {
            insert_padded(&writer, n).await;
            largest = largest.max(wal.size());
        }
        // The size is read right after a commit is answered, possibly before that batch's
        // truncation: one more commit's frames at most.
        assert!(
            largest <= truncate_at + 32 * 1024,
            "the WAL reached {largest} bytes"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_reader_delays_the_truncation_not_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 64 * 1024;
        let (writer, readers, wal) = file_database(&dir, truncate_at).await;
        insert_padded(&writer, 0).await;
        // A read transaction held open on an early snapshot, as a long report or a backup does.
        let mut report = readers.begin().await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *report)
            .await
            .unwrap();
        assert_eq!(seen, 1);
        // Were each batch to wait out the busy timeout (5 s) for the reader, these would take
        // half an hour.
        for n in 1..300_i64 {
            insert_padded(&writer, n).await;
        }
        assert!(wal.size() > truncate_at, "{}", wal.size());
        report.rollback().await.unwrap();
        // Once the reader is gone (and the back-off over), the next write empties the log.
        let mut n = 300_i64;
        while wal.size() > truncate_at && n < 1_000 {
            insert_padded(&writer, n).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            n += 1;
        }
        assert!(wal.size() <= truncate_at + 32 * 1024, "{}", wal.size());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_writer_has_its_wal_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, readers, wal) = file_database(&dir, u64::MAX).await;
        for n in 0..200_i64 {
            insert_padded(&writer, n).await;
        }
        assert!(wal.size() > 100 * 500, "{}", wal.size());
        writer.checkpoint_in_background(readers.clone(), Duration::from_millis(20));
        assert!(eventually(|| wal.size() == 0).await, "{}", wal.size());
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&readers)
            .await
            .unwrap();
        assert_eq!(rows, 200);
    }
}
