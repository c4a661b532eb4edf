//! Group commit for SQLite: one thread owns the writer's connection, and runs every write
//! command queued while the previous batch committed in one `BEGIN IMMEDIATE … COMMIT`.
//!
//! SQLite has one writer at a time. Committing commands one by one pays `BEGIN` and `COMMIT`
//! (and a WAL commit) for each; a batch pays them once. The thread calls SQLite directly (see
//! [`super::direct`]), so a statement costs no hop to another thread. Each command still runs
//! alone, in queue order, and sees the effects of those before it, so the outcome is the same as
//! running them one after another. A caller hears its result only once its batch has committed.
//!
//! A command that fails leaves the batch without its writes: the batch is rolled back, the
//! failure reported to that command alone (it saw exactly the state it would have seen run on
//! its own), and the rest of the batch runs again without it. Commands are therefore re-runnable
//! closures over data they own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_core::StoreError;
use gateway_core::request_id;
use gateway_core::store::PoolStatus;
use rusqlite::Connection;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::direct::sqlite_error;
use super::passive::{self, DatabaseFile};
use super::readers::Readers;
use crate::metrics::WriterWork;

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
    fn run<'c>(&'c mut self, conn: &'c mut Connection) -> WriteFuture<'c, ()>;
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
    /// When the command was queued; its wait for the writer is recorded once its batch starts.
    queued_at: Option<Instant>,
}

impl<T, F> Command for Queued<T, F>
where
    T: Send + 'static,
    F: for<'c> FnMut(&'c mut Connection) -> WriteFuture<'c, T> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut Connection) -> WriteFuture<'c, ()> {
        if let Some(queued_at) = self.queued_at.take() {
            crate::metrics::writer_waited(queued_at);
        }
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

/// What the writer's thread is asked to do.
enum Message {
    /// Run this command in the next batch.
    Command(Box<dyn Command>),
    /// Close the connection (checkpointing the WAL) and stop; answered once closed.
    Close(oneshot::Sender<()>),
}

/// The handle to the writer's thread; cloning shares the thread.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Message>,
    /// Whether a batch is running now (the writer's "connection in use", for metrics).
    busy: Arc<AtomicBool>,
    /// Batches run so far: the background checkpoint skips a tick when none ran since the last.
    batches: Arc<AtomicU64>,
    /// The log's bound, whose restarts the background checkpoint paces.
    wal: Option<Arc<WalBound>>,
    /// Passive checkpoints the background task has run.
    #[cfg(test)]
    pub(crate) passive_checkpoints: Arc<AtomicU64>,
    /// Those of them after which the database file was flushed.
    #[cfg(test)]
    pub(crate) flushed_passes: Arc<AtomicU64>,
}

/// Keeps a file database's write-ahead log small.
///
/// SQLite only starts its WAL over when a write begins after a checkpoint that copied every
/// frame while no reader still needed one, which a busy gateway hardly ever offers: the log
/// then grows with every commit and never gives the space back. So once the log passes
/// [`WalBound::truncate_at`] the writer checkpoints all of it and has the next commit start it
/// over at the top of the file ([`Checkpoint::Restart`]), and once writes stop it empties the
/// file ([`Checkpoint::Truncate`]). Beside a background checkpoint the restart waits for the end
/// of its next pass ([`WalBound::restart_due`]).
///
/// Such a checkpoint must wait for readers of older snapshots, and the writes queue
/// meanwhile. So it waits [`CHECKPOINT_PATIENCE`] at most. After a reader has held it up (a long
/// report, `sqlite3 .backup` from another process, or a request's read that lost its core for a
/// moment) the next is tried once [`CHECKPOINT_BACKOFF`] has passed or the log has grown by an
/// eighth of the bound, whichever comes first, the growth doubling with each hold-up in a row
/// (see [`HeldUp`]): writes go on meanwhile. A checkpoint refused at once (another checkpoint,
/// such as the background one, was running: SQLite runs one at a time and does not wait for it)
/// is tried again when next due (after the next batch, or beside a background checkpoint after
/// its next pass); backing off a second for it let the log grow by hundreds of MiB under load.
#[derive(Debug)]
pub(crate) struct WalBound {
    /// The `-wal` file beside the database.
    pub(crate) path: PathBuf,
    /// Past this many bytes the writer starts the log over after its batch.
    pub(crate) truncate_at: u64,
    /// The connections' usual busy timeout, restored after a whole-log checkpoint.
    pub(crate) busy_timeout: Duration,
    /// How long after a hold-up the next whole-log checkpoint is tried, however little the log
    /// grew ([`CHECKPOINT_BACKOFF`]).
    backoff: Duration,
    /// Since the last whole-log checkpoint a reader held up, when none succeeded since.
    held_up: Mutex<Option<HeldUp>>,
    /// Whether a background checkpoint runs beside the writer.
    paced: AtomicBool,
    /// The background checkpoint's finished passes.
    passes: AtomicU64,
}

/// How long a whole-log checkpoint waits for readers of older snapshots.
const CHECKPOINT_PATIENCE: Duration = Duration::from_millis(50);
/// How long after a blocked whole-log checkpoint the next is tried, if the log has not grown
/// enough to try it sooner.
const CHECKPOINT_BACKOFF: Duration = Duration::from_secs(1);

/// When to try the whole-log checkpoint again after a reader held one up.
///
/// A time alone let the log grow unchecked meanwhile, by a second's worth of commits: 60–100
/// MiB under load. A 200 ms read every 2 s took it to 137 MiB
/// (benches/results/sqlite-held-checkpoint-2026-12-02), and one hold-up may be how a 10-minute
/// run reached 106 MiB (benches/results/sqlite-restart-pacing-2026-12-02). Growth alone would
/// retry a checkpoint behind a long backup every few MiB, each retry stalling writes for
/// [`CHECKPOINT_PATIENCE`]; doubling the step keeps those stalls to a handful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeldUp {
    /// The next try comes at this time at the latest…
    until: Instant,
    /// …or as soon as the log is larger than this.
    past: u64,
    /// How much the log must grow from this hold-up's size: an eighth of the bound after the
    /// first, twice the previous step after each one in a row.
    step: u64,
}

/// How a whole-log checkpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// It copied the whole log into the database file.
    Done,
    /// Another checkpoint was running; tried again when next due.
    RefusedAtOnce,
    /// A reader of an older snapshot held out, or the checkpoint failed.
    HeldUp,
}

impl WalBound {
    /// A bound for the log at `path`; `busy_timeout` is what the connections use otherwise.
    pub(crate) fn new(path: PathBuf, truncate_at: u64, busy_timeout: Duration) -> Self {
        Self {
            path,
            truncate_at,
            busy_timeout,
            backoff: CHECKPOINT_BACKOFF,
            held_up: Mutex::new(None),
            paced: AtomicBool::new(false),
            passes: AtomicU64::new(0),
        }
    }

    /// Past this size the log starts over after the next batch whatever the background
    /// checkpoint is doing: a quarter more than the bound. Under the heaviest load a pass comes
    /// before the log grows that much; at half as much again, tries refused while a long pass
    /// ran let it reach 61 MiB (benches/results/sqlite-restart-pacing-2026-12-02).
    fn hard_limit(&self) -> u64 {
        self.truncate_at.saturating_add(self.truncate_at / 4)
    }

    /// Passes the background checkpoint has finished.
    fn background_passes(&self) -> u64 {
        self.passes.load(Ordering::Acquire)
    }

    /// Whether the log, `size` bytes after a batch, should start over now; `just_passed`: a
    /// pass of the background checkpoint finished since the previous batch.
    ///
    /// Every write waits while the log starts over, for as long as flushing the log and the
    /// database file takes. Each background pass leaves both flushed up to where it began, so
    /// right after one there is least left: past the bound the writer waits for the next pass
    /// (at most one interval, a few MiB under load), up to [`WalBound::hard_limit`] should none
    /// come. At an arbitrary moment a restart found up to a whole interval of the log to flush
    /// (benches/results/sqlite-restart-pacing-2026-12-02). Undone once for a 106 MiB log in a
    /// 10-minute run, it came back with the retries of [`HeldUp`], which close one way to get
    /// there (benches/results/sqlite-pacing-held-2026-12-02).
    fn restart_due(&self, size: u64, just_passed: bool) -> bool {
        let paced = self.paced.load(Ordering::Acquire);
        size > self.truncate_at && (!paced || just_passed || size > self.hard_limit())
    }

    /// The log's size now (0 when it does not exist).
    fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// The hold-up since the last whole-log checkpoint that succeeded, if any.
    fn last_hold_up(&self) -> std::sync::MutexGuard<'_, Option<HeldUp>> {
        self.held_up.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a whole-log checkpoint may be tried `now` with the log `size` bytes long: none
    /// was held up since the last that succeeded, or the hold-up's wait is over.
    fn may_checkpoint(&self, size: u64, now: Instant) -> bool {
        self.last_hold_up()
            .is_none_or(|held| now >= held.until || size > held.past)
    }

    /// Records how a whole-log checkpoint `ended` at `now`, the log then `size` bytes long.
    fn record(&self, ended: Ended, size: u64, now: Instant) {
        let mut held_up = self.last_hold_up();
        match ended {
            Ended::Done => *held_up = None,
            // A hold-up's wait, if any, is over (the checkpoint was tried): the next batch tries.
            Ended::RefusedAtOnce => {}
            Ended::HeldUp => {
                let step = held_up.map_or(self.truncate_at / 8, |previous| {
                    previous.step.saturating_mul(2)
                });
                *held_up = Some(HeldUp {
                    until: now + self.backoff,
                    past: size.saturating_add(step),
                    step,
                });
            }
        }
    }

    /// Has the writer's connection cut the file back to [`WalBound::truncate_at`] whenever a
    /// commit starts the log over, so a restart leaves the file no larger than the bound.
    fn limit_file(&self, conn: &Connection) -> rusqlite::Result<()> {
        let limit = i64::try_from(self.truncate_at).unwrap_or(-1);
        conn.pragma_update(None, "journal_size_limit", limit)
    }

    /// Copies the whole log into the database file and starts it over (`mode`), unless a
    /// reader of an older snapshot holds out for [`CHECKPOINT_PATIENCE`]. The connection must
    /// not be in a transaction; any other write waits for it.
    fn checkpoint(&self, conn: &mut Connection, mode: Checkpoint) {
        let started = Instant::now();
        let outcome = (|| {
            conn.busy_timeout(CHECKPOINT_PATIENCE)?;
            let outcome = conn.query_row(mode.pragma(), [], |row| row.get::<_, i64>(0));
            conn.busy_timeout(self.busy_timeout)?;
            outcome
        })();
        crate::metrics::sqlite_writer_worked(mode.work(), started);
        let ended = match outcome {
            Ok(0) => Ended::Done,
            Ok(_) => {
                let waited = started.elapsed();
                tracing::debug!(?waited, ?mode, "SQLite WAL checkpoint was blocked");
                if held_up_by_reader(waited) {
                    Ended::HeldUp
                } else {
                    Ended::RefusedAtOnce
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, ?mode, "SQLite WAL checkpoint failed");
                Ended::HeldUp
            }
        };
        self.record(ended, self.size(), Instant::now());
    }
}

/// How the writer checkpoints the whole log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoint {
    /// Under load: the next commit writes the log from the top of the file again, over pages
    /// the OS still caches. Emptying the file instead made every later frame allocate its
    /// blocks and cache pages anew (the writer's profile: `ftruncate` and block allocation,
    /// about a tenth of its time under load).
    Restart,
    /// Once writes stop: the file is emptied, giving the disk space back.
    Truncate,
}

impl Checkpoint {
    fn pragma(self) -> &'static str {
        match self {
            Self::Restart => "PRAGMA wal_checkpoint(RESTART)",
            Self::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        }
    }

    fn work(self) -> WriterWork {
        match self {
            Self::Restart => WriterWork::WalRestart,
            Self::Truncate => WriterWork::WalTruncate,
        }
    }
}

/// Whether a whole-log checkpoint that was blocked once it had `waited` waited on a reader
/// (SQLite's busy handler sleeps until the whole [`CHECKPOINT_PATIENCE`] has passed; half of it
/// is the line, clear of timer slack), rather than being refused at once because another
/// checkpoint was running.
fn held_up_by_reader(waited: Duration) -> bool {
    waited >= CHECKPOINT_PATIENCE / 2
}

impl Writer {
    /// Starts the writer's thread, which owns `conn` and stops when every handle is dropped or
    /// the writer is closed. With `wal`, the writer keeps the log under its bound, and empties
    /// it once no write came for `idle_after`. `database`, the store's own descriptor of the
    /// file, closes only after `conn`.
    pub(crate) fn start(
        conn: Connection,
        wal: Option<WalBound>,
        idle_after: Duration,
        database: Option<Arc<DatabaseFile>>,
    ) -> Result<Self, StoreError> {
        let (queue, messages) = mpsc::channel(QUEUE_DEPTH);
        let busy = Arc::new(AtomicBool::new(false));
        let batches = Arc::new(AtomicU64::new(0));
        if let Some(wal) = &wal {
            wal.limit_file(&conn).map_err(sqlite_error)?;
        }
        let wal = wal.map(Arc::new);
        // Commands are futures (the SQL layer is shared with PostgreSQL), but here they never
        // wait: a thread-local runtime polls them to completion on the writer's thread.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| StoreError::Other(format!("cannot start the SQLite writer: {e}")))?;
        let thread = WriterThread {
            conn,
            _database: database,
            runtime,
            busy: Arc::clone(&busy),
            batches: Arc::clone(&batches),
            wal: wal.clone(),
            passes_seen: 0,
            idle_after,
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || thread.run(messages))
            .map_err(|e| StoreError::Other(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            queue,
            busy,
            batches,
            wal,
            #[cfg(test)]
            passive_checkpoints: Arc::default(),
            #[cfg(test)]
            flushed_passes: Arc::default(),
        })
    }

    /// The writer's connection as a pool of one, for metrics.
    pub(crate) fn status(&self) -> PoolStatus {
        let open = u32::from(!self.queue.is_closed());
        PoolStatus {
            name: "writer",
            size: open,
            idle: open.min(u32::from(!self.busy.load(Ordering::Relaxed))),
            max: 1,
        }
    }

    /// Every `interval` in which the writer ran a batch, until the writer or `readers` stop,
    /// runs a passive checkpoint on a reader connection ([`passive::copy_log`]): it copies
    /// committed pages from the WAL into the database file and flushes them (with the readers'
    /// [`DatabaseFile`]) beside the writer instead of inside one of its commits, on a blocking
    /// thread rather than one of the runtime's. Each pass tells the log's bound, so the writer
    /// starts the log over right after one.
    pub(crate) fn checkpoint_in_background(&self, readers: Arc<Readers>, interval: Duration) {
        let alive = self.queue.downgrade();
        let batches = Arc::clone(&self.batches);
        let wal = self.wal.clone();
        if let Some(wal) = &wal {
            wal.paced.store(true, Ordering::Release);
        }
        #[cfg(test)]
        let passive_checkpoints = Arc::clone(&self.passive_checkpoints);
        #[cfg(test)]
        let flushed_passes = Arc::clone(&self.flushed_passes);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut copied_after = 0;
            loop {
                ticks.tick().await;
                if alive.upgrade().is_none_or(|queue| queue.is_closed()) {
                    return;
                }
                let ran = batches.load(Ordering::Relaxed);
                if ran == copied_after {
                    continue;
                }
                copied_after = ran;
                let Ok(reader) = readers.acquire().await else {
                    return;
                };
                let database = readers.database_file();
                let pass = tokio::task::spawn_blocking(move || {
                    passive::copy_log(&reader, database.as_deref())
                })
                .await;
                match pass {
                    Ok(Ok(pass)) => {
                        tracing::trace!(
                            logged = pass.logged,
                            copied = pass.copied,
                            flushed = pass.flushed,
                            "SQLite background checkpoint"
                        );
                        if let Some(wal) = &wal {
                            wal.passes.fetch_add(1, Ordering::Release);
                        }
                        #[cfg(test)]
                        flushed_passes.fetch_add(u64::from(pass.flushed), Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "SQLite background checkpoint failed; the WAL grows until one succeeds")
                    }
                    Err(e) => tracing::warn!(error = %e, "SQLite background checkpoint panicked"),
                }
                #[cfg(test)]
                passive_checkpoints.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Runs `work` in a write transaction (shared with other commands) and returns its result
    /// once committed. `work` may run more than once; only one run's writes are ever committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut Connection) -> WriteFuture<'c, T> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let command = Box::new(Queued {
            work,
            value: None,
            reply,
            request_id: request_id::current(),
            queued_at: Some(Instant::now()),
        });
        self.queue
            .send(Message::Command(command))
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Finishes the writes queued so far, then closes the connection (which checkpoints the
    /// WAL); writes after this fail as `Unavailable`.
    pub(crate) async fn close(&self) {
        let (reply, closed) = oneshot::channel();
        if self.queue.send(Message::Close(reply)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".into())
}

/// The writer's thread: its connection, and the runtime that polls commands on it.
struct WriterThread {
    conn: Connection,
    /// Kept open until `conn` has closed (see [`DatabaseFile`]).
    _database: Option<Arc<DatabaseFile>>,
    runtime: Runtime,
    busy: Arc<AtomicBool>,
    batches: Arc<AtomicU64>,
    wal: Option<Arc<WalBound>>,
    /// The background checkpoint's passes when the writer last looked.
    passes_seen: u64,
    idle_after: Duration,
}

impl WriterThread {
    fn run(mut self, mut messages: mpsc::Receiver<Message>) {
        let mut received = Vec::with_capacity(MAX_BATCH);
        loop {
            let waited = self.runtime.block_on(async {
                tokio::time::timeout(
                    self.idle_after,
                    messages.recv_many(&mut received, MAX_BATCH),
                )
                .await
            });
            match waited {
                Ok(0) => return,
                Ok(_) => {}
                Err(_idle) => {
                    self.checkpoint_wal_if(Checkpoint::Truncate, |_, size| size > 0);
                    continue;
                }
            }
            let mut batch = Vec::with_capacity(received.len());
            let mut close = None;
            for message in received.drain(..) {
                match message {
                    Message::Command(command) if close.is_none() => batch.push(command),
                    Message::Command(command) => command.fail(stopped()),
                    Message::Close(reply) => close = close.or(Some(reply)),
                }
            }
            self.run_batch(batch);
            if let Some(reply) = close {
                messages.close();
                while let Ok(message) = messages.try_recv() {
                    if let Message::Command(command) = message {
                        command.fail(stopped());
                    }
                }
                drop(self);
                let _ = reply.send(());
                return;
            }
        }
    }

    fn run_batch(&mut self, batch: Vec<Box<dyn Command>>) {
        if batch.is_empty() {
            return;
        }
        self.busy.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let conn = &mut self.conn;
        // A panicking command fails its batch (its callers see the writer's error when their
        // replies are dropped), not every write after it.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.runtime.block_on(commit_batch(conn, batch));
        }));
        if outcome.is_err() {
            tracing::error!("a SQLite write batch panicked; its commands failed");
            rollback(&self.conn);
        }
        crate::metrics::sqlite_writer_worked(WriterWork::Batch, started);
        self.batches.fetch_add(1, Ordering::Relaxed);
        let passes = self.wal.as_deref().map_or(0, WalBound::background_passes);
        let just_passed = passes != self.passes_seen;
        self.passes_seen = passes;
        // The file only grows past the bound when the log does: each restart cuts it back.
        self.checkpoint_wal_if(Checkpoint::Restart, |wal, size| {
            wal.restart_due(size, just_passed)
        });
        self.busy.store(false, Ordering::Relaxed);
    }

    /// Checkpoints the whole WAL (`mode`) when `due` says so of the log's size and no reader
    /// holds such a checkpoint off (see [`WalBound::may_checkpoint`]).
    fn checkpoint_wal_if(&mut self, mode: Checkpoint, due: impl Fn(&WalBound, u64) -> bool) {
        let Some(wal) = self.wal.as_deref() else {
            return;
        };
        let size = wal.size();
        if due(wal, size) && wal.may_checkpoint(size, Instant::now()) {
            wal.checkpoint(&mut self.conn, mode);
        }
    }
}

/// Ends the connection's open transaction, if any, without its writes.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "SQLite rollback failed");
    }
}

/// Commits `pending` as one transaction, dropping failed commands and replaying the rest.
async fn commit_batch(conn: &mut Connection, mut pending: Vec<Box<dyn Command>>) {
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
async fn commit_batch_once(conn: &mut Connection, mut pending: Vec<Box<dyn Command>>) {
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

/// Runs one of the writer's fixed statements (`BEGIN IMMEDIATE`, `COMMIT`).
fn run_fixed(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(|_| ())
        .map_err(sqlite_error)
}

/// One transaction over every command; rolled back on the first failure.
async fn run_once(conn: &mut Connection, pending: &mut [Box<dyn Command>]) -> Result<(), Failure> {
    run_fixed(conn, "BEGIN IMMEDIATE").map_err(Failure::Batch)?;
    for (index, command) in pending.iter_mut().enumerate() {
        if let Err(error) = command.run(conn).await {
            rollback(conn);
            return Err(Failure::Command(index, error));
        }
    }
    run_fixed(conn, "COMMIT").map_err(|error| {
        rollback(conn);
        Failure::Batch(error)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// An idle writer empties its WAL after this long.
    const IDLE_AFTER: Duration = Duration::from_millis(20);

    #[test]
    fn only_a_checkpoint_that_waited_was_held_up_by_a_reader() {
        assert!(!held_up_by_reader(Duration::ZERO));
        assert!(!held_up_by_reader(Duration::from_millis(3)));
        assert!(held_up_by_reader(Duration::from_millis(30)));
        assert!(held_up_by_reader(CHECKPOINT_PATIENCE));
        assert!(held_up_by_reader(Duration::from_millis(70)));
    }

    #[test]
    fn after_a_hold_up_the_next_try_comes_with_growth_doubling_or_after_the_backoff() {
        let wal = WalBound::new(PathBuf::from("unused-wal"), 1000, Duration::from_secs(5));
        let start = Instant::now();
        let later = |ms| start + Duration::from_millis(ms);
        assert!(wal.may_checkpoint(1001, start), "nothing held it up yet");

        wal.record(Ended::HeldUp, 1100, start);
        assert!(
            !wal.may_checkpoint(1225, later(10)),
            "an eighth of the bound"
        );
        assert!(wal.may_checkpoint(1226, later(10)));
        assert!(wal.may_checkpoint(1100, later(1000)), "the backoff is over");

        // Refused at once: the wait stays over, so the next batch tries again.
        wal.record(Ended::RefusedAtOnce, 1400, later(20));
        assert!(wal.may_checkpoint(1400, later(20)));

        // Held up again: twice the step, from the size then.
        wal.record(Ended::HeldUp, 1400, later(30));
        assert!(!wal.may_checkpoint(1650, later(40)));
        assert!(wal.may_checkpoint(1651, later(40)));
        wal.record(Ended::HeldUp, 1651, later(50));
        assert!(!wal.may_checkpoint(2151, later(60)));
        assert!(wal.may_checkpoint(2152, later(60)));
        assert!(!wal.may_checkpoint(1651, later(1049)));
        assert!(wal.may_checkpoint(1651, later(1050)));

        // A checkpoint that succeeds ends the run of hold-ups: the next starts at an eighth.
        wal.record(Ended::Done, 0, later(60));
        assert!(wal.may_checkpoint(0, later(60)));
        wal.record(Ended::HeldUp, 1100, later(70));
        assert!(!wal.may_checkpoint(1225, later(70)));
        assert!(wal.may_checkpoint(1226, later(70)));
    }

    fn writer_on_scratch_table() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        Writer::start(conn, None, IDLE_AFTER, None).unwrap()
    }

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .map_err(sqlite_error)
    }

    /// Inserts `n`, then fails if `n` is a multiple of 7: its insert must not survive.
    async fn insert(writer: &Writer, n: i64) -> Result<i64, StoreError> {
        writer
            .write(move |conn| {
                Box::pin(async move {
                    conn.execute("INSERT INTO t (n) VALUES (?1)", [n])
                        .map_err(sqlite_error)?;
                    if n % 7 == 0 {
                        return Err(StoreError::Conflict(format!("{n} refused")));
                    }
                    count(conn)
                })
            })
            .await
    }

    /// The rows of `t`, read through the writer.
    async fn stored(writer: &Writer) -> Vec<i64> {
        writer
            .write(|conn| {
                Box::pin(async move {
                    let mut statement = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
                    let rows = statement.query_map([], |row| row.get(0)).unwrap();
                    Ok(rows.map(Result::unwrap).collect())
                })
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commands_commit_together_and_a_failure_takes_only_its_own_writes() {
        let writer = writer_on_scratch_table();
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
        let stored = stored(&writer).await;
        let expected: Vec<i64> = (1..=200).filter(|n| n % 7 != 0).collect();
        assert_eq!(stored, expected);
        assert_eq!(seen_counts.len(), expected.len());
        assert_eq!(seen_counts.last().copied(), Some(expected.len() as i64));
    }

    #[tokio::test]
    async fn a_panicking_command_fails_alone_and_the_writer_goes_on() {
        let writer = writer_on_scratch_table();
        let panicked = writer
            .write(|_conn| -> WriteFuture<'_, ()> { panic!("a bug in a command") })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unavailable(_))),
            "{panicked:?}"
        );
        assert_eq!(insert(&writer, 1).await, Ok(1));
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_later_writes() {
        let writer = writer_on_scratch_table();
        assert_eq!(insert(&writer, 1).await, Ok(1));
        assert_eq!(writer.status().size, 1);
        writer.close().await;
        assert!(matches!(
            insert(&writer, 2).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(writer.status().size, 0);
        // Closing twice is harmless.
        writer.close().await;
    }

    /// A file database with the store's WAL settings, a scratch table, its writer (its log
    /// bounded by `truncate_at`, emptied after [`IDLE_AFTER`]) and a reader pool.
    async fn file_database(
        dir: &tempfile::TempDir,
        truncate_at: u64,
    ) -> (Writer, Arc<Readers>, Arc<WalBound>) {
        file_database_idle_after(dir, truncate_at, IDLE_AFTER).await
    }

    /// [`file_database`], its log emptied once no write came for `idle_after`.
    async fn file_database_idle_after(
        dir: &tempfile::TempDir,
        truncate_at: u64,
        idle_after: Duration,
    ) -> (Writer, Arc<Readers>, Arc<WalBound>) {
        file_database_with(dir, truncate_at, idle_after, CHECKPOINT_BACKOFF).await
    }

    /// [`file_database_idle_after`], a whole-log checkpoint a reader held up tried again after
    /// `backoff` at the latest.
    async fn file_database_with(
        dir: &tempfile::TempDir,
        truncate_at: u64,
        idle_after: Duration,
        backoff: Duration,
    ) -> (Writer, Arc<Readers>, Arc<WalBound>) {
        let file = dir.path().join("writer.db");
        let conn = Connection::open(&file).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)")
            .unwrap();
        let database = Arc::new(DatabaseFile::open(&file).unwrap());
        let readers =
            Readers::open(&file, 1, Duration::from_secs(5), |_| Ok(()), Some(database)).unwrap();
        let mut wal = WalBound::new(
            dir.path().join("writer.db-wal"),
            truncate_at,
            Duration::from_secs(5),
        );
        wal.backoff = backoff;
        let writer = Writer::start(conn, Some(wal), idle_after, None).unwrap();
        let wal = writer.wal.clone().unwrap();
        (writer, readers, wal)
    }

    async fn insert_padded(writer: &Writer, n: i64) {
        writer
            .write(move |conn| {
                Box::pin(async move {
                    conn.execute(
                        "INSERT INTO t VALUES (?1, ?2)",
                        rusqlite::params![n, "x".repeat(500)],
                    )
                    .map_err(sqlite_error)?;
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
    async fn the_background_checkpoint_flushes_the_database_file_after_copying() {
        let dir = tempfile::tempdir().unwrap();
        // Never idle long enough to have the log emptied, which would leave nothing to copy.
        let (writer, readers, _wal) =
            file_database_idle_after(&dir, u64::MAX, Duration::from_secs(3600)).await;
        writer.checkpoint_in_background(readers, Duration::from_millis(20));
        insert_padded(&writer, 1).await;
        let passes = || writer.passive_checkpoints.load(Ordering::Relaxed);
        assert!(
            eventually(|| passes() >= 1).await,
            "no background checkpoint ran"
        );
        assert_eq!(writer.flushed_passes.load(Ordering::Relaxed), passes());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_keeps_the_wal_within_its_bound() {
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
        // checkpoint: one more commit's frames at most.
        assert!(
            largest <= truncate_at + 32 * 1024,
            "the WAL reached {largest} bytes"
        );
    }

    #[test]
    fn beside_a_background_checkpoint_the_log_starts_over_right_after_one_of_its_passes() {
        let wal = WalBound::new(PathBuf::from("unused-wal"), 1000, Duration::from_secs(5));
        // Alone, the writer starts the log over as soon as it passes the bound.
        assert!(!wal.restart_due(1000, false));
        assert!(wal.restart_due(1001, false));
        wal.paced.store(true, Ordering::Release);
        assert!(
            !wal.restart_due(1001, false),
            "no pass since the last batch"
        );
        assert!(wal.restart_due(1001, true), "a pass just finished");
        assert!(!wal.restart_due(1000, true), "within the bound");
        assert!(!wal.restart_due(1250, false), "at the hard limit");
        assert!(wal.restart_due(1251, false), "past the hard limit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_bound_the_log_starts_over_right_after_a_pass_of_the_background_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 256 * 1024;
        let (writer, readers, wal) =
            file_database_idle_after(&dir, truncate_at, Duration::from_secs(3600)).await;
        // Passes run by hand below, as the background checkpoint runs them.
        wal.paced.store(true, Ordering::Release);
        let n = fill_past(&writer, &wal, wal.truncate_at, 0).await;
        let crossed = wal.size();
        for n in n..n + 5 {
            insert_padded(&writer, n).await;
        }
        assert!(wal.size() > crossed, "started over without a pass");
        let reader = readers.acquire().await.unwrap();
        passive::copy_log(&reader, readers.database_file().as_deref()).unwrap();
        wal.passes.fetch_add(1, Ordering::Release);
        // The batch after the pass checkpoints the whole log; the one after it starts the log
        // over and cuts the file back to the bound.
        let waiting = wal.size();
        insert_padded(&writer, n + 5).await;
        insert_padded(&writer, n + 6).await;
        assert!(
            wal.size() <= truncate_at,
            "{waiting} bytes before the pass, {} after",
            wal.size()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_pass_of_the_background_checkpoint_the_log_grows_to_its_hard_limit() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 256 * 1024;
        let (writer, readers, wal) =
            file_database_idle_after(&dir, truncate_at, Duration::from_secs(3600)).await;
        // Its first tick comes at once, before any batch, and is skipped; the next would be in
        // an hour.
        writer.checkpoint_in_background(readers, Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut largest = 0;
        for n in 0..600_i64 {
            insert_padded(&writer, n).await;
            largest = largest.max(wal.size());
        }
        assert_eq!(wal.background_passes(), 0);
        // Past the bound the writer waited for a pass, then started the log over at the hard
        // limit (one more commit's frames at most, as in the bound's own test).
        assert!(
            largest > truncate_at + 32 * 1024,
            "the WAL started over at {largest} bytes, before its hard limit"
        );
        assert!(
            largest <= wal.hard_limit() + 32 * 1024,
            "the WAL reached {largest} bytes"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_load_the_log_starts_over_in_its_file_instead_of_emptying_it() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 64 * 1024;
        // Never idle here: only the bound starts the log over.
        let (writer, _readers, wal) =
            file_database_idle_after(&dir, truncate_at, Duration::from_secs(3600)).await;
        let n = fill_past(&writer, &wal, wal.truncate_at, 0).await;
        let (mut smallest, mut largest) = (u64::MAX, 0);
        for n in n..n + 400 {
            insert_padded(&writer, n).await;
            smallest = smallest.min(wal.size());
            largest = largest.max(wal.size());
        }
        // 400 commits wrote several times the bound: the log started over more than once, and
        // each time the file was cut back to the bound, not emptied.
        assert!(smallest >= truncate_at, "the WAL fell to {smallest} bytes");
        assert!(
            largest <= truncate_at + 32 * 1024,
            "the WAL reached {largest} bytes"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_reader_delays_the_checkpoint_not_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 64 * 1024;
        let (writer, readers, wal) = file_database(&dir, truncate_at).await;
        insert_padded(&writer, 0).await;
        // A read transaction held open on an early snapshot, as a long report or a backup does.
        let report = readers.acquire().await.unwrap();
        report.execute_batch("BEGIN").unwrap();
        let seen: i64 = report
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(seen, 1);
        // Were each batch to wait out the busy timeout (5 s) for the reader, these would take
        // half an hour.
        for n in 1..300_i64 {
            insert_padded(&writer, n).await;
        }
        assert!(wal.size() > truncate_at, "{}", wal.size());
        report.execute_batch("ROLLBACK").unwrap();
        drop(report);
        // Once the reader is gone (and the back-off over), the log starts over and the next
        // commit cuts the file back to the bound.
        let mut n = 300_i64;
        while wal.size() > truncate_at && n < 1_000 {
            insert_padded(&writer, n).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            n += 1;
        }
        assert!(wal.size() <= truncate_at + 32 * 1024, "{}", wal.size());
    }

    /// Opens a read transaction on `reader` at the database as it is now: until it ends, no
    /// checkpoint can start the log over.
    fn hold_snapshot(reader: &Connection) {
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
    }

    /// Inserts rows from `n` on until the log is larger than `size`; returns the next row's
    /// number.
    async fn fill_past(writer: &Writer, wal: &WalBound, size: u64, mut n: i64) -> i64 {
        while wal.size() <= size {
            insert_padded(writer, n).await;
            n += 1;
        }
        n
    }

    /// A writer whose log (bound `truncate_at`, never emptied for idleness) a reader's
    /// snapshot held up as it crossed the bound; a held-up checkpoint is tried again after an
    /// hour at the latest. Returns the writer, the log, the reader (still in its snapshot) and
    /// the next row's number.
    async fn held_up_at_the_bound(
        dir: &tempfile::TempDir,
        truncate_at: u64,
    ) -> (Writer, Arc<WalBound>, crate::sqlite::readers::Reader, i64) {
        let hour = Duration::from_secs(3600);
        let (writer, readers, wal) = file_database_with(dir, truncate_at, hour, hour).await;
        let reader = readers.acquire().await.unwrap();
        hold_snapshot(&reader);
        let n = fill_past(&writer, &wal, truncate_at, 0).await;
        // The batch that crossed the bound tried the checkpoint, after answering; the next
        // command runs once that try has ended.
        insert_padded(&writer, n).await;
        (writer, wal, reader, n + 1)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_reader_let_go_the_log_starts_over_once_it_grew_not_after_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 64 * 1024;
        // Were the next try to wait for time alone, it would come in an hour.
        let (writer, wal, reader, n) = held_up_at_the_bound(&dir, truncate_at).await;
        let held = wal
            .last_hold_up()
            .expect("the reader held the checkpoint up");
        assert_eq!(held.step, truncate_at / 8);
        reader.execute_batch("ROLLBACK").unwrap();
        drop(reader);

        // Once the log has grown by the step, the next batch checkpoints it and the one after
        // starts it over, cutting the file back to the bound.
        let n = fill_past(&writer, &wal, held.past, n).await;
        insert_padded(&writer, n).await;
        assert!(
            wal.size() <= truncate_at,
            "{} bytes, held up at {} bytes",
            wal.size(),
            held.past - held.step
        );
        assert_eq!(*wal.last_hold_up(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behind_a_long_reader_the_tries_thin_out_as_the_log_grows() {
        let dir = tempfile::tempdir().unwrap();
        let truncate_at = 64 * 1024;
        let (writer, wal, reader, mut n) = held_up_at_the_bound(&dir, truncate_at).await;
        let mut steps = vec![wal.last_hold_up().unwrap().step];
        // Sixteen times the bound of log behind one reader, tried ever more rarely, not at
        // every batch.
        while wal.size() < 16 * truncate_at {
            insert_padded(&writer, n).await;
            n += 1;
            let step = wal.last_hold_up().unwrap().step;
            if steps.last() != Some(&step) {
                steps.push(step);
            }
        }
        let expected: Vec<u64> = (0..steps.len()).map(|k| (truncate_at / 8) << k).collect();
        assert_eq!(steps, expected);
        // Tried at 1, 1⅛, 1⅜, 1⅞, 2⅞, 4⅞ and 8⅞ times the bound (the next at 16⅞): seven.
        assert!((6..=8).contains(&steps.len()), "{steps:?}");
        reader.execute_batch("ROLLBACK").unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_writer_has_its_wal_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, readers, wal) = file_database(&dir, u64::MAX).await;
        for n in 0..200_i64 {
            insert_padded(&writer, n).await;
        }
        // Nothing else empties it: the writer never checkpoints by itself, and a passive
        // checkpoint leaves the file's size alone.
        assert!(eventually(|| wal.size() == 0).await, "{}", wal.size());
        let rows: i64 = readers
            .acquire()
            .await
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 200);
    }
}
