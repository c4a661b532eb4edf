//! [`Worker`]: the job runner. It claims due jobs from a [`JobQueue`] under a lease, runs each
//! with the [`JobHandler`](crate::handler::JobHandler) registered for its kind in its own task
//! (so one slow webhook endpoint never delays another), and hands failures back to the queue
//! for a retry with backoff. Handlers complete their jobs in the same transaction as their
//! effects.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::handler::{Handlers, JobContext, JobError};
use crate::jobs::{ClaimedJob, retry_backoff};
use crate::metrics::{self, JobOutcome};
use crate::queue::JobQueue;
use crate::request_id;
use crate::store::{PruneBefore, Store, StoreError};
use crate::webhook::RetrySchedule;

/// A future that resolves when the runner should stop.
pub type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How a [`Worker`] behaves; every field has a default suited to one process on SQLite.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unique per process: leases are held in its name.
    pub id: String,
    /// Jobs claimed per query.
    pub batch_size: u32,
    /// How long a claim lasts before another worker may take the job; longer than any handler.
    pub lease: Duration,
    /// Longest sleep between checks when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Jobs running at once (bounds memory and connections).
    pub max_in_flight: usize,
    /// When failed webhook attempts are retried.
    pub retry_schedule: RetrySchedule,
    /// How long an endpoint may fail without a single success before it is disabled (see
    /// [`crate::endpoint_health`]); 5 days by default.
    pub endpoint_disable_after: Duration,
    /// Per-attempt webhook timeout.
    pub delivery_timeout: Duration,
    /// Webhook attempts in flight to one URL at once. A delivery beyond it waits briefly for
    /// a slot, then goes back to the queue without using an attempt, so a slow or dead
    /// endpoint holds a few handlers, not the worker.
    pub max_in_flight_per_endpoint: usize,
    /// How long a call to the processor may take; past it the job is retried with backoff
    /// (shorter than `lease`, so the job is still this worker's when the call gives up).
    pub processor_timeout: Duration,
    /// How long shutdown waits for in-flight jobs.
    pub shutdown_grace: Duration,
    /// How often the worker records that it is alive.
    pub heartbeat_interval: Duration,
    /// How long completed jobs are kept before pruning (failed ones are kept for inspection).
    pub completed_job_retention: Duration,
    /// How long recorded events stay readable through the events API before pruning.
    pub event_retention: Duration,
    /// How often the worker prunes completed jobs, expired idempotency keys and old events.
    pub prune_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", uuid::Uuid::new_v4()),
            batch_size: 32,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            max_in_flight: 256,
            retry_schedule: RetrySchedule::production(),
            endpoint_disable_after: crate::endpoint_health::DEFAULT_DISABLE_AFTER,
            delivery_timeout: Duration::from_secs(10),
            max_in_flight_per_endpoint: 32,
            processor_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(5),
            completed_job_retention: Duration::from_secs(7 * 24 * 3600),
            event_retention: DEFAULT_EVENT_RETENTION,
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// How long events are kept by default (as Stripe keeps them: 30 days).
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The job runner: claims from a [`JobQueue`], runs [`Handlers`] by job kind.
pub struct Worker {
    /// Where jobs come from and where their failures, deferrals and releases go.
    queue: Arc<dyn JobQueue>,
    /// What handlers use (store, queue, clock, wake-up, jitter).
    cx: JobContext,
    /// The handler of each job kind.
    handlers: Handlers,
    /// The worker's clock (the context's too).
    clock: Arc<dyn Clock>,
    /// How it claims, drains, beats and prunes (the handlers took their own settings from it).
    config: WorkerConfig,
    /// Signalled when jobs are enqueued in this process (and, once subscribed, in others).
    wake: Arc<Notify>,
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Worker {
    /// A worker with the system clock claiming from `queue` and running `handlers` (see
    /// [`Handlers::builtin`]); share `wake` with the gateway so new jobs start at once.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn JobQueue>,
        handlers: Handlers,
        config: WorkerConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            cx: JobContext::new(store, queue.clone(), clock.clone(), wake.clone()),
            queue,
            handlers,
            clock,
            config,
            wake,
        }
    }

    /// Uses `clock` (leases, schedules, attempt times) instead of the system clock.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self {
            cx: self.cx.with_clock(clock.clone()),
            clock,
            ..self
        }
    }

    /// Seeds the retry jitter.
    pub fn with_seed(self, seed: u64) -> Self {
        Self {
            cx: self.cx.with_jitter(StdRng::seed_from_u64(seed)),
            ..self
        }
    }

    /// The handlers this worker runs.
    pub fn handlers(&self) -> &Handlers {
        &self.handlers
    }

    /// Runs jobs until `shutdown` completes, then drains as [`Worker::run`] does.
    pub async fn run_until(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send + 'static) {
        self.run(Box::pin(shutdown)).await;
    }

    /// Hands back every job this worker holds (for a host that stopped it at once, without
    /// [`Worker::run`]'s own drain); returns how many.
    pub async fn release_jobs(&self) -> Result<u64, StoreError> {
        self.queue
            .release_jobs(&self.config.id, self.clock.now())
            .await
    }

    /// The worker's id (the name its leases are held in).
    pub fn id(&self) -> &str {
        &self.config.id
    }

    async fn claim(&self, limit: u32) -> Vec<ClaimedJob> {
        match self
            .queue
            .claim_jobs(&self.config.id, self.clock.now(), self.config.lease, limit)
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "claiming jobs failed");
                Vec::new()
            }
        }
    }

    /// Runs one job inside a `job` span and the scope of the request that caused it (see
    /// [`request_id`]), so its log lines carry both and the jobs it enqueues record the id.
    async fn process(self: Arc<Self>, job: ClaimedJob) {
        // At `error` level so the span (and the request id in it) is on every line the job
        // logs, whatever level the filter lets through.
        let span = tracing::error_span!(
            "job",
            job = job.id,
            kind = %job.kind,
            attempt = job.attempt,
            entity = %job.entity_id,
            request_id = job.request_id.as_deref(),
            merchant = tracing::field::Empty,
        );
        request_id::scope(job.request_id.clone(), self.process_in_scope(job))
            .instrument(span)
            .await;
    }

    /// Runs one job in its own task so a panic is caught and recorded as a failure.
    async fn process_in_scope(self: Arc<Self>, job: ClaimedJob) {
        let runner = self.clone();
        let task_job = job.clone();
        let started = Instant::now();
        let handle = tokio::spawn(
            request_id::scope(job.request_id.clone(), async move {
                runner.execute(&task_job).await
            })
            .instrument(tracing::Span::current()),
        );
        // If this task is aborted (shutdown past its grace period), the handler must stop too,
        // or it would keep working on a job whose lease is about to be released.
        let _abort_handler_with_me = AbortOnDrop(handle.abort_handle());
        let result = match handle.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(JobError::Failed("handler panicked".to_owned())),
            Err(e) => Err(JobError::Failed(e.to_string())),
        };
        let outcome = match &result {
            Ok(()) => JobOutcome::Ok,
            Err(JobError::LeaseLost) => JobOutcome::LeaseLost,
            Err(_) if job.attempt < job.max_attempts => JobOutcome::Retry,
            Err(_) => JobOutcome::Failed,
        };
        let kind = if self.handlers.get(&job.kind).is_some() {
            job.kind.as_str()
        } else {
            "unknown"
        };
        metrics::job_executed(kind, outcome, started.elapsed());
        match result {
            Ok(()) => tracing::debug!("job done"),
            Err(JobError::LeaseLost) => {
                tracing::info!(job = job.id, "lease lost; another worker owns the job now");
            }
            Err(error) => {
                self.fail(&job, &error.to_string()).await;
                return;
            }
        }
        // The handler ended the job in the database (or another worker holds it now).
        if let Err(e) = self.queue.acknowledge(&job).await {
            tracing::warn!(job = job.id, error = %e, "acknowledging the job failed");
        }
    }

    /// Hands a handler's failure to the queue: a retry after a jittered backoff, or `failed`
    /// after the last attempt.
    async fn fail(&self, job: &ClaimedJob, error: &str) {
        let now = self.clock.now();
        let retry_at = (job.attempt < job.max_attempts)
            .then(|| now.plus(retry_backoff(job.attempt, self.cx.jitter())));
        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, %error, will_retry = retry_at.is_some(), "job failed");
        if let Err(e) = self.queue.fail_job(&job.lease, error, retry_at, now).await {
            tracing::warn!(job = job.id, error = %e, "recording the job failure failed; its lease will expire");
        }
    }

    /// Runs `job` with the handler of its kind.
    async fn execute(&self, job: &ClaimedJob) -> Result<(), JobError> {
        match self.handlers.get(&job.kind) {
            Some(handler) => handler.run(job, &self.cx).await,
            None => Err(JobError::Failed(format!(
                "no handler for job kind {:?}",
                job.kind
            ))),
        }
    }

    /// Deletes old completed jobs, expired idempotency keys and events past their retention,
    /// a bounded batch at a time.
    pub async fn prune(&self) {
        let now = self.clock.now();
        let ago = |retention: Duration| {
            Timestamp::from_millis(
                now.as_millis()
                    .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)),
            )
        };
        let before = PruneBefore {
            events: ago(self.config.event_retention),
            now,
        };
        let jobs = self
            .queue
            .prune_jobs(ago(self.config.completed_job_retention), 10_000)
            .await;
        let rest = self.cx.store().prune(before, 10_000).await;
        match jobs.and_then(|jobs| Ok(jobs + rest?)) {
            Ok(0) => {}
            Ok(pruned) => {
                tracing::info!(
                    pruned,
                    "pruned completed jobs, expired idempotency keys and old events"
                )
            }
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }

    /// How long to sleep when idle: until the next job is due, at most the poll interval.
    async fn idle_wait(&self) -> Duration {
        match self.queue.next_job_due().await {
            Ok(Some(due)) => due.since(self.clock.now()).min(self.config.poll_interval),
            _ => self.config.poll_interval,
        }
    }
}

impl Worker {
    /// Claims one batch of due jobs, runs them to completion and returns how many ran.
    pub async fn run_once(self: Arc<Self>) -> usize {
        let jobs = self.claim(self.config.batch_size).await;
        let count = jobs.len();
        let mut tasks = JoinSet::new();
        for job in jobs {
            tasks.spawn(self.clone().process(job));
        }
        while tasks.join_next().await.is_some() {}
        count
    }

    /// Runs jobs until `shutdown` resolves, then stops claiming, lets in-flight jobs finish
    /// within the configured grace period and hands back the leases of the rest.
    pub async fn run(self: Arc<Self>, mut shutdown: ShutdownSignal) {
        tracing::info!(worker = %self.config.id, "worker started");
        // Listen before the first claim, so no job enqueued in between goes unnoticed.
        if let Err(e) = self.queue.subscribe_jobs(self.wake.clone()).await {
            tracing::warn!(error = %e, "job notifications unavailable; polling only");
        }
        let mut tasks = JoinSet::new();
        let mut last_heartbeat: Option<Instant> = None;
        let mut last_prune = Instant::now();
        loop {
            if last_prune.elapsed() >= self.config.prune_interval {
                self.prune().await;
                last_prune = Instant::now();
            }
            if last_heartbeat.is_none_or(|at| at.elapsed() >= self.config.heartbeat_interval) {
                if let Err(e) = self
                    .cx
                    .store()
                    .heartbeat(&self.config.id, self.clock.now())
                    .await
                {
                    tracing::warn!(error = %e, "worker heartbeat failed");
                }
                last_heartbeat = Some(Instant::now());
            }
            while tasks.try_join_next().is_some() {}
            let free = self.config.max_in_flight.saturating_sub(tasks.len());
            let limit = u32::try_from(free)
                .unwrap_or(u32::MAX)
                .min(self.config.batch_size);
            if limit > 0 {
                let jobs = self.claim(limit).await;
                let full = jobs.len() == limit as usize;
                for job in jobs {
                    tasks.spawn(self.clone().process(job));
                }
                if full {
                    continue;
                }
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                // A finished job frees a slot; worth a claim only if the worker was full.
                // (Handlers that enqueue jobs wake the worker themselves.)
                Some(_) = tasks.join_next(), if tasks.len() >= self.config.max_in_flight => {}
            }
        }
        let grace_ms = u64::try_from(self.config.shutdown_grace.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(worker = %self.config.id, in_flight = tasks.len(), grace_ms, "worker stopping: no new claims, finishing running jobs");
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        // Jobs still running at the end of the grace period are stopped and handed back.
        let aborted = tasks.len();
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        match self.release_jobs().await {
            Ok(released) => {
                tracing::info!(worker = %self.config.id, aborted, released, "worker stopped")
            }
            Err(e) => tracing::warn!(error = %e, "releasing leases failed; they will expire"),
        }
    }
}
