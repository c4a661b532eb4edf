//! [`Worker`]: the job runner. It claims due jobs under a lease, runs each in its own task
//! (so one slow webhook endpoint never delays another), and completes each job in the same
//! transaction as its effects.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::endpoint_slots::{EndpointSlots, busy_wait};
use crate::event::{Event, EventType};
use crate::ids::{DeliveryId, MerchantId, PaymentId, RefundId};
use crate::jobs::{ClaimedJob, JobKind, PaymentJobPayload, retry_backoff};
use crate::metrics::{self, JobOutcome};
use crate::payment::{PaymentOutcome, PaymentStatus};
use crate::processor::{Processor, ProcessorError};
use crate::refund::RefundStatus;
use crate::request_id;
use crate::signer::{SignerError, WebhookSigner};
use crate::store::{PruneBefore, Store, StoreError};
use crate::transport::{TransportError, WebhookRequest, WebhookTransport};
use crate::webhook::{DeliveryAttempt, DeliveryStatus, RetrySchedule, cap_body};

/// A future that resolves when the runner should stop.
pub type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs queued jobs.
#[async_trait]
pub trait JobRunner: Send + Sync + 'static {
    /// Claims one batch of due jobs, runs them to completion and returns how many ran.
    async fn run_once(self: Arc<Self>) -> usize;
    /// Runs jobs until `shutdown` resolves, then stops claiming, lets in-flight jobs finish
    /// within the configured grace period and hands back the leases of the rest.
    async fn run(self: Arc<Self>, shutdown: ShutdownSignal);
}

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

/// The job runner over a [`Store`].
pub struct Worker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    processor: Arc<dyn Processor>,
    signer: Arc<dyn WebhookSigner>,
    transport: Arc<dyn WebhookTransport>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    /// Jitter for handler retries; seedable for reproducible tests.
    jitter: Mutex<StdRng>,
    /// Webhook attempts in flight per URL.
    endpoints: EndpointSlots,
}

/// How long a delivery waits for a busy endpoint's slot before it is put back in the queue:
/// long enough for a healthy endpoint's attempt to end, short enough that deliveries to a dead
/// one cannot crowd out the rest.
const ENDPOINT_SLOT_WAIT: Duration = Duration::from_millis(20);

/// Records the merchant a job works for in its `job` span, once the handler has read it.
fn record_merchant(merchant: &MerchantId) {
    tracing::Span::current().record("merchant", tracing::field::display(merchant));
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handler's failure, retried with backoff.
type HandlerError = String;

/// Why a payment or refund handler did not finish its job; either way the job is retried.
#[derive(Debug, thiserror::Error)]
enum HandlerFailure {
    /// The store failed (or the lease was lost).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The processor gave no answer.
    #[error(transparent)]
    Processor(#[from] ProcessorError),
    /// The signer could not sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

impl Worker {
    /// A worker with the system clock; share `wake` with the gateway so new jobs start at once.
    pub fn new(
        store: Arc<dyn Store>,
        processor: Arc<dyn Processor>,
        signer: Arc<dyn WebhookSigner>,
        transport: Arc<dyn WebhookTransport>,
        config: WorkerConfig,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            processor,
            signer,
            transport,
            config,
            wake,
            jitter: Mutex::new(rand::make_rng()),
            endpoints: EndpointSlots::default(),
        }
    }

    /// Uses `clock` (leases, schedules, attempt times) instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Seeds the retry jitter.
    pub fn with_seed(self, seed: u64) -> Self {
        Self {
            jitter: Mutex::new(StdRng::seed_from_u64(seed)),
            ..self
        }
    }

    /// Runs jobs until `shutdown` completes, then drains as [`JobRunner::run`] does.
    pub async fn run_until(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send + 'static) {
        self.run(Box::pin(shutdown)).await;
    }

    /// The worker's id (the name its leases are held in).
    pub fn id(&self) -> &str {
        &self.config.id
    }

    async fn claim(&self, limit: u32) -> Vec<ClaimedJob> {
        match self
            .store
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
            kind = job.kind.map_or("unknown", JobKind::as_str),
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
            Err(e) if e.is_panic() => Err("handler panicked".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let outcome = match &result {
            Ok(outcome) => *outcome,
            Err(_) if job.attempt < job.max_attempts => JobOutcome::Retry,
            Err(_) => JobOutcome::Failed,
        };
        metrics::job_executed(job.kind, outcome, started.elapsed());
        if result.is_ok() {
            tracing::debug!("job done");
        }
        if let Err(error) = result {
            let now = self.clock.now();
            let retry_at = (job.attempt < job.max_attempts).then(|| {
                let jitter = self
                    .jitter
                    .lock()
                    .map(|mut r| r.random_range(0.75..=1.25))
                    .unwrap_or(1.0);
                now.plus(retry_backoff(job.attempt, jitter))
            });
            tracing::warn!(job = job.id, kind = ?job.kind, attempt = job.attempt, %error, will_retry = retry_at.is_some(), "job failed");
            if let Err(e) = self.store.fail_job(&job.lease, &error, retry_at, now).await {
                tracing::warn!(job = job.id, error = %e, "recording the job failure failed; its lease will expire");
            }
        }
    }

    async fn execute(&self, job: &ClaimedJob) -> Result<JobOutcome, HandlerError> {
        let result = match job.kind {
            Some(JobKind::ProcessPayment) => self.process_payment(job).await,
            Some(JobKind::ProcessRefund) => self.process_refund(job).await,
            Some(JobKind::DeliverWebhook) => self.deliver_webhook(job).await,
            None => return Err("unknown job kind".into()),
        };
        match result {
            Ok(()) => Ok(JobOutcome::Ok),
            Err(HandlerFailure::Store(StoreError::LeaseLost)) => {
                tracing::info!(job = job.id, "lease lost; another worker owns the job now");
                Ok(JobOutcome::LeaseLost)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Runs a processor call, bounded by [`WorkerConfig::processor_timeout`].
    async fn ask<T>(
        &self,
        call: impl Future<Output = Result<T, ProcessorError>>,
    ) -> Result<T, ProcessorError> {
        tokio::time::timeout(self.config.processor_timeout, call)
            .await
            .unwrap_or(Err(ProcessorError::Timeout))
    }

    async fn complete(&self, job: &ClaimedJob) -> Result<(), HandlerFailure> {
        Ok(self
            .store
            .complete_job(&job.lease, self.clock.now())
            .await?)
    }

    async fn process_payment(&self, job: &ClaimedJob) -> Result<(), HandlerFailure> {
        let id = PaymentId::from_trusted(job.entity_id.clone());
        let Some(mut payment) = self.store.payment(None, &id).await? else {
            return self.complete(job).await;
        };
        record_merchant(&payment.merchant_id);
        if payment.status != PaymentStatus::Pending {
            return self.complete(job).await;
        }
        let verdict = job
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<PaymentJobPayload>(p).ok())
            .and_then(|p| p.verdict);
        let outcome = self
            .ask(self.processor.decide_payment(&payment, verdict))
            .await?;
        let now = self.clock.now();
        let event_type = match outcome {
            PaymentOutcome::Succeeded => EventType::PaymentSuccess,
            PaymentOutcome::Failed { .. } => EventType::PaymentFailed,
        };
        if payment.settle(outcome, now).is_err() {
            return self.complete(job).await;
        }
        let events = [Event::payment(event_type, &payment, now)];
        if self
            .store
            .settle_payment(&job.lease, &payment, &events)
            .await?
        {
            metrics::payment_settled(&payment);
        }
        self.wake.notify_one();
        Ok(())
    }

    async fn process_refund(&self, job: &ClaimedJob) -> Result<(), HandlerFailure> {
        let id = RefundId::from_trusted(job.entity_id.clone());
        let Some(mut refund) = self.store.refund(None, &id).await? else {
            return self.complete(job).await;
        };
        record_merchant(&refund.merchant_id);
        if refund.status != RefundStatus::Pending {
            return self.complete(job).await;
        }
        let processed = self.ask(self.processor.decide_refund(&refund)).await?;
        let now = self.clock.now();
        if refund.settle(processed, now).is_err() {
            return self.complete(job).await;
        }
        let events: Vec<Event> = match refund.status {
            RefundStatus::Processed => {
                vec![Event::refund(EventType::RefundProcessed, &refund, now)]
            }
            _ => Vec::new(),
        };
        if self
            .store
            .settle_refund(&job.lease, &refund, &events)
            .await?
        {
            metrics::refund_settled(&refund);
        }
        self.wake.notify_one();
        Ok(())
    }

    async fn deliver_webhook(&self, job: &ClaimedJob) -> Result<(), HandlerFailure> {
        let Some(id) = DeliveryId::parse(&job.entity_id) else {
            return Ok(self
                .store
                .complete_job(&job.lease, self.clock.now())
                .await?);
        };
        let Some(target) = self.store.delivery_target(id).await? else {
            return Ok(self
                .store
                .complete_job(&job.lease, self.clock.now())
                .await?);
        };
        record_merchant(&target.delivery.merchant_id);
        if target.delivery.status != DeliveryStatus::Pending {
            return Ok(self
                .store
                .complete_job(&job.lease, self.clock.now())
                .await?);
        }
        let slot = match &target.url {
            None => None,
            Some(url) => match self
                .endpoints
                .take(
                    url,
                    self.config.max_in_flight_per_endpoint,
                    ENDPOINT_SLOT_WAIT,
                )
                .await
            {
                Some(slot) => Some(slot),
                None => {
                    // The endpoint stays busy (slow or dead): try again once an attempt to it
                    // could have ended, without using one of this delivery's attempts.
                    metrics::webhook_deferred();
                    let later = self.clock.now().plus(self.endpoint_backoff(url));
                    return Ok(self
                        .store
                        .defer_job(&job.lease, later, self.clock.now())
                        .await?);
                }
            },
        };
        let attempted_at = self.clock.now();
        let started = Instant::now();
        let result = match &target.url {
            None => Err(TransportError::Refused("no webhook URL configured".into())),
            Some(url) => {
                let signed = self
                    .signer
                    .sign(
                        &target.secrets.signing_at(attempted_at),
                        &id.to_string(),
                        attempted_at.as_secs(),
                        target.payload.as_bytes(),
                    )
                    .await;
                let headers = match signed {
                    Ok(headers) => headers.to_pairs(),
                    // Not the endpoint's fault: no attempt is recorded against it, and the job
                    // is tried again after the queue's backoff.
                    Err(e) => return Err(HandlerFailure::Signer(e)),
                };
                let request = WebhookRequest {
                    url,
                    headers: &headers,
                    body: target.payload.as_bytes(),
                    timeout: self.config.delivery_timeout,
                };
                self.transport.post(request).await
            }
        };
        drop(slot);
        let elapsed = started.elapsed();
        metrics::webhook_attempted(result.as_ref().map(|r| r.status), elapsed);
        let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        let finished = self.clock.now();
        let attempt = target.delivery.attempts + 1;
        let succeeded = matches!(&result, Ok(r) if (200..300).contains(&r.status));
        if let Some(url) = &target.url {
            self.endpoints.record(
                url,
                self.config.max_in_flight_per_endpoint,
                succeeded,
                elapsed,
            );
        }
        let next_retry_at = if succeeded || target.url.is_none() {
            None
        } else {
            let (status, asked) = match &result {
                Ok(r) => (Some(r.status), r.retry_after),
                Err(_) => (None, None),
            };
            self.config
                .retry_schedule
                .wait_after(attempt, status, asked)
                .map(|d| finished.plus(d))
        };
        let status = match (succeeded, next_retry_at) {
            (true, _) => DeliveryStatus::Success,
            (false, Some(_)) => DeliveryStatus::Pending,
            (false, None) => DeliveryStatus::Failed,
        };
        let (response_code, response_body, error) = match result {
            Ok(r) => (Some(i32::from(r.status)), Some(cap_body(&r.body)), None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        tracing::debug!(delivery = %id, attempt, ?response_code, ?status, "webhook attempt");
        let record = DeliveryAttempt {
            delivery_id: id,
            attempt,
            attempted_at,
            response_code,
            response_body,
            duration_ms,
            error,
            status,
            next_retry_at,
        };
        self.store
            .record_delivery_attempt(
                &job.lease,
                &record,
                self.config.endpoint_disable_after,
                finished,
            )
            .await?;
        if succeeded {
            metrics::webhook_delivered(target.delivery.created_at, finished);
        }
        Ok(())
    }

    /// How long a delivery goes back to the queue for when `url` had no free slot: see
    /// [`busy_wait`], jittered so deliveries put back together spread out.
    fn endpoint_backoff(&self, url: &str) -> Duration {
        let jitter = self
            .jitter
            .lock()
            .map(|mut r| r.random_range(0.75..=1.25))
            .unwrap_or(1.0);
        let health = self
            .endpoints
            .health(url, self.config.max_in_flight_per_endpoint);
        busy_wait(health, self.config.delivery_timeout, jitter)
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
            completed_jobs: ago(self.config.completed_job_retention),
            events: ago(self.config.event_retention),
            now,
        };
        match self.store.prune(before, 10_000).await {
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
        match self.store.next_job_due().await {
            Ok(Some(due)) => due.since(self.clock.now()).min(self.config.poll_interval),
            _ => self.config.poll_interval,
        }
    }
}

#[async_trait]
impl JobRunner for Worker {
    async fn run_once(self: Arc<Self>) -> usize {
        let jobs = self.claim(self.config.batch_size).await;
        let count = jobs.len();
        let mut tasks = JoinSet::new();
        for job in jobs {
            tasks.spawn(self.clone().process(job));
        }
        while tasks.join_next().await.is_some() {}
        count
    }

    async fn run(self: Arc<Self>, mut shutdown: ShutdownSignal) {
        tracing::info!(worker = %self.config.id, "worker started");
        // Listen before the first claim, so no job enqueued in between goes unnoticed.
        if let Err(e) = self.store.subscribe_jobs(self.wake.clone()).await {
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
                    .store
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
        match self
            .store
            .release_jobs(&self.config.id, self.clock.now())
            .await
        {
            Ok(released) => {
                tracing::info!(worker = %self.config.id, aborted, released, "worker stopped")
            }
            Err(e) => tracing::warn!(error = %e, "releasing leases failed; they will expire"),
        }
    }
}
