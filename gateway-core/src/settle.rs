//! The built-in handlers that settle payments and refunds: ask the [`Processor`], then settle
//! the entity, write its events and complete the job in one lease-guarded store transaction.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::event::{Event, EventType};
use crate::handler::{JobContext, JobError, JobHandler};
use crate::ids::{MerchantId, PaymentId, RefundId};
use crate::jobs::{ClaimedJob, PaymentJobPayload};
use crate::metrics;
use crate::payment::{PaymentOutcome, PaymentStatus};
use crate::processor::{Processor, ProcessorError};
use crate::refund::RefundStatus;

/// Records the merchant a job works for in its `job` span, once the handler has read it.
pub(crate) fn record_merchant(merchant: &MerchantId) {
    tracing::Span::current().record("merchant", tracing::field::display(merchant));
}

/// Runs a processor call, bounded by `timeout`.
async fn ask<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, ProcessorError>>,
) -> Result<T, JobError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(ProcessorError::Timeout))
        .map_err(|e| JobError::Failed(e.to_string()))
}

/// Settles a pending payment (`process_payment`).
pub(crate) struct SettlePayment {
    /// Decides the outcome.
    pub(crate) processor: Arc<dyn Processor>,
    /// How long the processor may take (see `WorkerConfig::processor_timeout`).
    pub(crate) timeout: Duration,
}

#[async_trait]
impl JobHandler for SettlePayment {
    async fn run(&self, job: &ClaimedJob, cx: &JobContext) -> Result<(), JobError> {
        let id = PaymentId::from_trusted(job.entity_id.clone());
        let Some(mut payment) = cx.store().payment(None, &id).await? else {
            return cx.complete(job).await;
        };
        record_merchant(&payment.merchant_id);
        if payment.status != PaymentStatus::Pending {
            return cx.complete(job).await;
        }
        let verdict = job
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<PaymentJobPayload>(p).ok())
            .and_then(|p| p.verdict);
        let outcome = ask(
            self.timeout,
            self.processor.decide_payment(&payment, verdict),
        )
        .await?;
        let now = cx.now();
        let event_type = match outcome {
            PaymentOutcome::Succeeded => EventType::PaymentSuccess,
            PaymentOutcome::Failed { .. } => EventType::PaymentFailed,
        };
        if payment.settle(outcome, now).is_err() {
            return cx.complete(job).await;
        }
        let events = [Event::payment(event_type, &payment, now)];
        if cx
            .store()
            .settle_payment(&job.lease, &payment, &events)
            .await?
        {
            metrics::payment_settled(&payment);
        }
        cx.wake();
        Ok(())
    }
}

/// Settles a pending refund (`process_refund`).
pub(crate) struct SettleRefund {
    /// Decides the outcome.
    pub(crate) processor: Arc<dyn Processor>,
    /// How long the processor may take.
    pub(crate) timeout: Duration,
}

#[async_trait]
impl JobHandler for SettleRefund {
    async fn run(&self, job: &ClaimedJob, cx: &JobContext) -> Result<(), JobError> {
        let id = RefundId::from_trusted(job.entity_id.clone());
        let Some(mut refund) = cx.store().refund(None, &id).await? else {
            return cx.complete(job).await;
        };
        record_merchant(&refund.merchant_id);
        if refund.status != RefundStatus::Pending {
            return cx.complete(job).await;
        }
        let processed = ask(self.timeout, self.processor.decide_refund(&refund)).await?;
        let now = cx.now();
        if refund.settle(processed, now).is_err() {
            return cx.complete(job).await;
        }
        let events: Vec<Event> = match refund.status {
            RefundStatus::Processed => {
                vec![Event::refund(EventType::RefundProcessed, &refund, now)]
            }
            _ => Vec::new(),
        };
        if cx
            .store()
            .settle_refund(&job.lease, &refund, &events)
            .await?
        {
            metrics::refund_settled(&refund);
        }
        cx.wake();
        Ok(())
    }
}
