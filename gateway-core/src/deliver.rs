//! The built-in handler that attempts a webhook delivery (`deliver_webhook`): sign, POST under
//! a per-endpoint concurrency limit, then log the attempt, update the delivery and re-queue or
//! complete the job in one lease-guarded store transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::endpoint_slots::{EndpointSlots, busy_wait};
use crate::handler::{JobContext, JobError, JobHandler};
use crate::ids::DeliveryId;
use crate::jobs::ClaimedJob;
use crate::metrics;
use crate::settle::record_merchant;
use crate::signer::WebhookSigner;
use crate::transport::{TransportError, WebhookRequest, WebhookTransport};
use crate::webhook::{DeliveryAttempt, DeliveryStatus, RetrySchedule, WebhookDelivery, cap_body};

/// How long a delivery waits for a busy healthy endpoint's slot before it is put back in the
/// queue: long enough for a fast endpoint's attempt to end, short enough that a handler is not
/// held for long.
const ENDPOINT_SLOT_WAIT: Duration = Duration::from_millis(20);

/// Attempts webhook deliveries.
pub(crate) struct DeliverWebhook {
    /// Signs each attempt.
    pub(crate) signer: Arc<dyn WebhookSigner>,
    /// Sends it.
    pub(crate) transport: Arc<dyn WebhookTransport>,
    /// When failed attempts are retried.
    pub(crate) retry_schedule: RetrySchedule,
    /// How long an endpoint may fail before it is disabled.
    pub(crate) disable_after: Duration,
    /// Per-attempt timeout.
    pub(crate) timeout: Duration,
    /// Attempts in flight to one URL at once.
    pub(crate) max_per_endpoint: usize,
    /// Attempts in flight per URL (this worker's).
    pub(crate) endpoints: EndpointSlots,
}

#[async_trait]
impl JobHandler for DeliverWebhook {
    async fn run(&self, job: &ClaimedJob, cx: &JobContext) -> Result<(), JobError> {
        let Some(id) = DeliveryId::parse(&job.entity_id) else {
            return cx.complete(job).await;
        };
        let Some(target) = cx.store().delivery_target(id).await? else {
            return cx.complete(job).await;
        };
        record_merchant(&target.delivery.merchant_id);
        if target.delivery.status != DeliveryStatus::Pending {
            return cx.complete(job).await;
        }
        let slot = match &target.url {
            None => None,
            Some(url) => {
                // A failing or never-heard-from endpoint's attempts are not about to end:
                // waiting for one of its slots would only hold a handler.
                let health = self.endpoints.health(url, self.max_per_endpoint);
                let wait = if health.is_healthy() {
                    ENDPOINT_SLOT_WAIT
                } else {
                    Duration::ZERO
                };
                match self.endpoints.take(url, self.max_per_endpoint, wait).await {
                    Some(slot) => Some(slot),
                    None => return self.put_back(job, cx, &target.delivery, url).await,
                }
            }
        };
        let attempted_at = cx.now();
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
                    Err(e) => return Err(JobError::Failed(e.to_string())),
                };
                let request = WebhookRequest {
                    url,
                    headers: &headers,
                    body: target.payload.as_bytes(),
                    timeout: self.timeout,
                };
                self.transport.post(request).await
            }
        };
        drop(slot);
        let elapsed = started.elapsed();
        metrics::webhook_attempted(result.as_ref().map(|r| r.status), elapsed);
        let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        let finished = cx.now();
        let attempt = target.delivery.attempts + 1;
        let succeeded = matches!(&result, Ok(r) if (200..300).contains(&r.status));
        if let Some(url) = &target.url {
            self.endpoints
                .record(url, self.max_per_endpoint, succeeded, elapsed);
        }
        let next_retry_at = if succeeded || target.url.is_none() {
            None
        } else {
            let (status, asked) = match &result {
                Ok(r) => (Some(r.status), r.retry_after),
                Err(_) => (None, None),
            };
            self.retry_schedule
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
        cx.store()
            .record_delivery_attempt(&job.lease, &record, self.disable_after, finished)
            .await?;
        if succeeded {
            metrics::webhook_delivered(target.delivery.created_at, finished);
        }
        Ok(())
    }
}

impl DeliverWebhook {
    /// Puts a delivery whose endpoint `url` had no free slot back in the queue, without using
    /// one of its attempts, until an attempt to it could have ended (see [`busy_wait`], scaled
    /// by jitter so deliveries put back together spread out). When the endpoint is failing or
    /// not heard from yet, its other due deliveries go back with it in the same write: left in
    /// the queue, they would be claimed and put back one by one, ahead of every other
    /// merchant's jobs, each time they came due together. One delivery at a time moves an
    /// endpoint's backlog ([`BacklogMove`](crate::endpoint_slots::BacklogMove)); the others
    /// put back only themselves meanwhile.
    async fn put_back(
        &self,
        job: &ClaimedJob,
        cx: &JobContext,
        delivery: &WebhookDelivery,
        url: &str,
    ) -> Result<(), JobError> {
        let health = self.endpoints.health(url, self.max_per_endpoint);
        let later = cx.now().plus(busy_wait(health, self.timeout, cx.jitter()));
        metrics::webhook_deferred(1);
        let backlog = match &delivery.endpoint_id {
            Some(endpoint) if !health.is_healthy() => self
                .endpoints
                .move_backlog(url, self.max_per_endpoint)
                .map(|right| (endpoint, right)),
            _ => None,
        };
        match backlog {
            Some((endpoint, _right)) => {
                let others = cx.defer_endpoint_backlog(job, endpoint, later).await?;
                metrics::webhook_deferred(others);
                Ok(())
            }
            None => cx.defer(job, later).await,
        }
    }
}
