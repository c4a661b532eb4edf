//! The consumer side of the job queue: [`JobQueue`], what a [`Worker`](crate::Worker) claims
//! jobs from and reports their ends to.
//!
//! Producing stays with the [`Store`](crate::Store): a command writes its jobs (outbox rows) in
//! the transaction that writes its domain rows, so a committed change always has its job. The
//! job row in the database is the source of truth for a job's state, attempts and lease; the
//! store's commands that end a job with an effect (`settle_payment`, `settle_refund`,
//! `record_delivery_attempt`) check the [`Lease`] and complete the row in the effect's own
//! transaction, so a worker that lost its lease cannot overwrite anything.
//!
//! The database queue (the store's own, [`Store::job_queue`](crate::Store::job_queue)) claims
//! the rows directly. A queue that is not the database (say Redis Streams, fed by a relay from
//! committed outbox rows) only *dispatches*: its `claim_jobs` must still take the lease on the
//! job row (a conditional update of the row: queued and due, or running with an expired lease),
//! and hand out only the jobs whose row it leased, skipping (and acknowledging) entries whose
//! row is already completed or failed. Its other methods change the row first and their own
//! entries after; [`acknowledge`](JobQueue::acknowledge) tells it a handler has ended the job
//! in the database, so it may drop the entry. A duplicate entry therefore finds the row held
//! or ended and can never act twice, and a lost entry is found again by the row's due time.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::clock::Timestamp;
use crate::ids::EndpointId;
use crate::jobs::{ClaimedJob, JobCounts, Lease, QueueReport};
use crate::store::StoreError;

/// Where workers take jobs from; see the module docs for how it relates to the job rows.
///
/// Every change to a held job takes its [`Lease`] and fails with
/// [`StoreError::LeaseLost`] once another worker holds the job.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// What the queue is, as operators see it in `/api/v1/test/jobs/status` and metrics:
    /// `database` for the store's own queue (the default), `redis` for Redis Streams.
    fn backend_name(&self) -> &'static str {
        "database"
    }
    /// Checks that the queue answers (for `/health`); the database queue answers when the
    /// database does, so its default does nothing.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Claims up to `limit` due jobs (queued and due, or running with an expired lease) for
    /// `worker` until `now + lease`. A job whose attempts are used up is marked failed instead.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError>;
    /// Extends a held lease to `now + lease` (a heartbeat for a long handler).
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: Timestamp,
        duration: Duration,
    ) -> Result<(), StoreError>;
    /// When the next queued job falls due: any time not after now when one is due already, so
    /// the worker claims again at once.
    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Marks a held job completed (its work was done elsewhere, or was a no-op).
    async fn complete_job(&self, lease: &Lease, now: Timestamp) -> Result<(), StoreError>;
    /// Puts a held job back in the queue until `run_at` without using up an attempt.
    async fn defer_job(
        &self,
        lease: &Lease,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Puts a held webhook delivery job back until `run_at`, as
    /// [`defer_job`](JobQueue::defer_job) does, together with every other queued delivery to
    /// `endpoint` that is due at `now`, and returns how many others moved. A busy or dead
    /// endpoint's deliveries that come due together thus leave the head of the queue in one
    /// write, instead of being claimed and put back one at a time ahead of other merchants'
    /// jobs. The default defers only the held job.
    async fn defer_endpoint_backlog(
        &self,
        lease: &Lease,
        endpoint: &EndpointId,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let _ = endpoint;
        self.defer_job(lease, run_at, now).await.map(|()| 0)
    }
    /// Records a handler failure: queued again at `retry_at`, or `failed` when `None` (the
    /// caller passes `None` after the last attempt).
    async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Tells the queue a handler has ended `job` in the database (completed it with its
    /// effect, deferred it, or found its lease lost); failures go through
    /// [`fail_job`](JobQueue::fail_job) instead. Nothing to do for the database queue; a
    /// dispatching queue drops its entry here, only after the effect committed.
    async fn acknowledge(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        let _ = job;
        Ok(())
    }
    /// Hands back every job `worker` holds (graceful shutdown) without using up their
    /// attempts; returns how many.
    async fn release_jobs(&self, worker: &str, now: Timestamp) -> Result<u64, StoreError>;
    /// The queue at `now`: counts by kind and state, the oldest due job, expired leases.
    async fn queue_report(&self, now: Timestamp) -> Result<QueueReport, StoreError>;
    /// Job counts by state.
    async fn job_counts(&self) -> Result<JobCounts, StoreError> {
        Ok(self.queue_report(Timestamp::from_millis(0)).await?.totals())
    }
    /// Deletes up to `limit` jobs completed before `completed_before`; failed jobs are kept
    /// for inspection. Returns how many went.
    async fn prune_jobs(&self, completed_before: Timestamp, limit: u32) -> Result<u64, StoreError>;
    /// Arranges for `wake` to be notified whenever any process enqueues a job, for queues that
    /// can signal across processes (PostgreSQL `LISTEN/NOTIFY`). Returns once the
    /// subscription is in place, so a worker that subscribes before its first claim misses
    /// nothing; the subscription lives on in the background (reconnecting as needed). The
    /// default does nothing: workers then rely on in-process wake-ups and polling.
    async fn subscribe_jobs(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        let _ = wake;
        Ok(())
    }
}

/// A job row as a dispatching queue's relay reads it: when it falls due, and the state it was
/// read in (the relay records the dispatch only if the row is still in that state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxJob {
    /// Row id.
    pub id: i64,
    /// When it may be claimed: a queued job's `run_at`, a running job's lease end.
    pub due: Timestamp,
    /// The row's state when read: status, attempts and last change, which together change
    /// whenever the job is claimed, queued again or rescheduled.
    pub version: String,
}

/// The job rows a dispatching queue's relay has not handed on yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchBacklog {
    /// How many.
    pub jobs: i64,
    /// When the first of them falls due (`None` when there are none).
    pub earliest_due: Option<Timestamp>,
}

/// What a store offers a queue that only dispatches (see the module docs): the committed job
/// rows it has not handed on yet, and claims of the rows its entries name.
#[async_trait]
pub trait JobOutbox: JobQueue {
    /// Up to `limit` jobs (queued, or running) not handed on since they were last queued,
    /// rescheduled or re-armed, oldest first.
    async fn jobs_to_dispatch(&self, limit: u32) -> Result<Vec<OutboxJob>, StoreError>;
    /// The relay's backlog: how many jobs [`jobs_to_dispatch`](JobOutbox::jobs_to_dispatch)
    /// would return without a limit, and when the first of them falls due.
    async fn dispatch_backlog(&self) -> Result<DispatchBacklog, StoreError>;
    /// Re-arms jobs whose dispatch was lost (an entry dropped, a queue restarted empty): running
    /// under a lease that expired after their last dispatch, and queued ones, due for `overdue`
    /// and last handed on at least `overdue` ago, or all of them with `None` (the queue is
    /// known to have lost everything). Each re-armed row's version changes, so a relay that read
    /// it earlier cannot mark it as handed on afterwards. Returns how many.
    async fn rearm_lost_dispatches(
        &self,
        now: Timestamp,
        overdue: Option<Duration>,
    ) -> Result<u64, StoreError>;
    /// [`claim_jobs`](JobQueue::claim_jobs) limited to the rows `ids` names: leases those that
    /// are claimable at `now` (queued and due, or running under an expired lease) and fails those
    /// whose expired lease was their last attempt. Ids of rows that are held, ended, not yet due
    /// or gone are left out of the answer. In the same transaction it first records that the
    /// rows `relayed` were handed on at `now`, each only if it is still in the state it was read
    /// in (a row changed since is handed on again).
    async fn claim_jobs_by_id(
        &self,
        worker: &str,
        ids: &[i64],
        now: Timestamp,
        lease: Duration,
        relayed: &[OutboxJob],
    ) -> Result<Vec<ClaimedJob>, StoreError>;
}
