//! Job handlers: what a [`Worker`](crate::Worker) runs for each kind of job, found by kind in
//! a [`Handlers`] registry. The built-in kinds ([`JobKind`](crate::jobs::JobKind)) are
//! registered by default ([`Handlers::builtin`]); an embedding service adds its own kinds with
//! [`Handlers::register`], enqueues them with [`Store::enqueue_job`] (or inside its own store
//! commands) and passes the registry to
//! [`BuiltGateway::worker_with`](crate::BuiltGateway::worker_with).
//!
//! A job of a kind no handler is registered for fails like a handler error: it is retried with
//! backoff (a newer worker that knows the kind may take it) and ends `failed` after its last
//! attempt, visible in the queue report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rand::RngExt;
use rand::rngs::StdRng;
use tokio::sync::Notify;

use crate::clock::{Clock, Timestamp};
use crate::deliver::DeliverWebhook;
use crate::endpoint_slots::EndpointSlots;
use crate::ids::EndpointId;
use crate::jobs::{ClaimedJob, JobKind};
use crate::processor::Processor;
use crate::queue::JobQueue;
use crate::runner::WorkerConfig;
use crate::settle::{SettlePayment, SettleRefund};
use crate::signer::WebhookSigner;
use crate::store::{Store, StoreError};
use crate::transport::WebhookTransport;

/// Why a handler did not end its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Another worker holds the job now (this one's lease expired); nothing is retried.
    #[error("job lease lost")]
    LeaseLost,
    /// The handler failed; the job is retried with backoff, or ends `failed` after its last
    /// attempt.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost => Self::LeaseLost,
            e => Self::Failed(e.to_string()),
        }
    }
}

/// Runs the jobs of one kind.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs `job`, held under `job.lease`. `Ok` means the handler ended the job: it completed
    /// it in the transaction of its effect (a lease-guarded store command), or with
    /// [`JobContext::complete`], or put it back with [`JobContext::defer`]. A handler must be
    /// idempotent: a job may run again after a crash, guarded by the state it changes.
    async fn run(&self, job: &ClaimedJob, cx: &JobContext) -> Result<(), JobError>;
}

/// What a handler may use besides its own parts: the store, the queue, the clock, the
/// workers' wake-up and the retry jitter.
#[derive(Clone)]
pub struct JobContext {
    /// Domain reads and the lease-guarded commands that end jobs with their effects.
    store: Arc<dyn Store>,
    /// Where the job came from; ends jobs that have no effect of their own.
    queue: Arc<dyn JobQueue>,
    /// The worker's clock (leases, schedules).
    clock: Arc<dyn Clock>,
    /// Wakes this process's workers, for handlers that enqueue jobs.
    wake: Arc<Notify>,
    /// Spreads retries out; seedable for reproducible tests.
    jitter: Arc<Mutex<StdRng>>,
}

impl JobContext {
    /// A context over these parts, with an unseeded jitter.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            queue,
            clock,
            wake,
            jitter: Arc::new(Mutex::new(rand::make_rng())),
        }
    }

    /// The same context with `clock`.
    pub(crate) fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The same context with its jitter seeded.
    pub(crate) fn with_jitter(self, jitter: StdRng) -> Self {
        Self {
            jitter: Arc::new(Mutex::new(jitter)),
            ..self
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The queue the job was claimed from.
    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.queue
    }

    /// The time now, by the worker's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Wakes this process's workers (after enqueueing jobs due now).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A factor in `0.75..=1.25` to spread retries out.
    pub fn jitter(&self) -> f64 {
        self.jitter
            .lock()
            .map(|mut r| r.random_range(0.75..=1.25))
            .unwrap_or(1.0)
    }

    /// Completes `job` (a handler whose effect is not in the store, or a no-op).
    pub async fn complete(&self, job: &ClaimedJob) -> Result<(), JobError> {
        Ok(self.queue.complete_job(&job.lease, self.now()).await?)
    }

    /// Puts `job` back until `run_at` without using up an attempt.
    pub async fn defer(&self, job: &ClaimedJob, run_at: Timestamp) -> Result<(), JobError> {
        Ok(self.queue.defer_job(&job.lease, run_at, self.now()).await?)
    }

    /// Puts the delivery `job` back until `run_at` with `endpoint`'s other deliveries due now
    /// (see [`JobQueue::defer_endpoint_backlog`]); returns how many others moved.
    pub async fn defer_endpoint_backlog(
        &self,
        job: &ClaimedJob,
        endpoint: &EndpointId,
        run_at: Timestamp,
    ) -> Result<u64, JobError> {
        Ok(self
            .queue
            .defer_endpoint_backlog(&job.lease, endpoint, run_at, self.now())
            .await?)
    }
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Handlers {
    /// The handler of each kind, by its stored name.
    by_kind: HashMap<String, Arc<dyn JobHandler>>,
}

impl Handlers {
    /// No handlers (see [`Handlers::builtin`] for the gateway's own).
    pub fn new() -> Self {
        Self::default()
    }

    /// The gateway's own handlers, for every [`JobKind`]: settling payments and refunds with
    /// `processor`, delivering webhooks with `signer` and `transport`, as `config` says.
    pub fn builtin(
        processor: Arc<dyn Processor>,
        signer: Arc<dyn WebhookSigner>,
        transport: Arc<dyn WebhookTransport>,
        config: &WorkerConfig,
    ) -> Self {
        let timeout = config.processor_timeout;
        let deliver = DeliverWebhook {
            signer,
            transport,
            retry_schedule: config.retry_schedule.clone(),
            disable_after: config.endpoint_disable_after,
            timeout: config.delivery_timeout,
            max_per_endpoint: config.max_in_flight_per_endpoint,
            endpoints: EndpointSlots::default(),
        };
        Self::new()
            .register(
                JobKind::ProcessPayment.as_str(),
                Arc::new(SettlePayment {
                    processor: processor.clone(),
                    timeout,
                }),
            )
            .register(
                JobKind::ProcessRefund.as_str(),
                Arc::new(SettleRefund { processor, timeout }),
            )
            .register(JobKind::DeliverWebhook.as_str(), Arc::new(deliver))
    }

    /// Runs jobs of `kind` with `handler` (replacing any handler of that kind).
    #[must_use]
    pub fn register(mut self, kind: impl Into<String>, handler: Arc<dyn JobHandler>) -> Self {
        self.by_kind.insert(kind.into(), handler);
        self
    }

    /// These handlers and `other`'s; `other` wins for a kind both have.
    #[must_use]
    pub fn merge(mut self, other: Handlers) -> Self {
        self.by_kind.extend(other.by_kind);
        self
    }

    /// The handler of `kind`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn JobHandler>> {
        self.by_kind.get(kind)
    }

    /// The kinds with a handler.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.by_kind.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.kinds().collect();
        kinds.sort_unstable();
        f.debug_struct("Handlers").field("kinds", &kinds).finish()
    }
}
