//! What the gateway counts and times, through the [`metrics`] facade.
//!
//! Core records the domain's figures (payments, refunds, jobs, webhooks, idempotency); the HTTP
//! host records requests and the store its connection pools. Nothing is exported until the host
//! installs a recorder (the `gateway` binary installs a Prometheus one on `METRICS_ADDR`); until
//! then each call costs an atomic load. Names follow Prometheus' conventions: `_total` counters,
//! base units (`_seconds`), and labels with a handful of values each, never ids.
//!
//! [`CATALOGUE`] is the single list of this module's metrics with their help texts; hosts call
//! [`describe`] once at start-up.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::clock::Timestamp;
use crate::jobs::{JobKind, JobStatus, QueueReport};
use crate::payment::{Payment, PaymentMethod, PaymentStatus};
use crate::refund::{Refund, RefundStatus};
use crate::transport::TransportError;

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// A value now.
    Gauge,
    /// A distribution of observations.
    Histogram,
}

impl MetricKind {
    /// The Prometheus `# TYPE` of the metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric: its name, kind, labels and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDoc {
    /// The exported name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label names, each with a bounded set of values.
    pub labels: &'static [&'static str],
    /// What it means (the `# HELP` text).
    pub help: &'static str,
}

impl MetricDoc {
    /// Describes the metric to the installed recorder.
    pub fn describe(&self) {
        match self.kind {
            MetricKind::Counter => metrics::describe_counter!(self.name, self.help),
            MetricKind::Gauge => metrics::describe_gauge!(self.name, self.help),
            MetricKind::Histogram => {
                metrics::describe_histogram!(self.name, metrics::Unit::Seconds, self.help)
            }
        }
    }
}

const PAYMENTS_CREATED: &str = "gateway_payments_created_total";
const PAYMENTS_SETTLED: &str = "gateway_payments_settled_total";
const PAYMENT_SETTLEMENT: &str = "gateway_payment_settlement_seconds";
const REFUNDS_CREATED: &str = "gateway_refunds_created_total";
const REFUNDS_SETTLED: &str = "gateway_refunds_settled_total";
const REFUND_SETTLEMENT: &str = "gateway_refund_settlement_seconds";
const JOBS: &str = "gateway_jobs";
const JOB_LAG: &str = "gateway_job_lag_seconds";
const JOBS_EXPIRED_LEASES: &str = "gateway_jobs_expired_leases";
const QUEUE_DISPATCH: &str = "gateway_queue_dispatch";
const JOB_EXECUTIONS: &str = "gateway_job_executions_total";
const JOB_EXECUTION: &str = "gateway_job_execution_seconds";
const JOB_LEASES_LOST: &str = "gateway_job_leases_lost_total";
const WEBHOOK_ATTEMPTS: &str = "gateway_webhook_attempts_total";
const WEBHOOK_ATTEMPT: &str = "gateway_webhook_attempt_seconds";
const WEBHOOK_DELIVERY: &str = "gateway_webhook_delivery_seconds";
const WEBHOOK_DEFERRALS: &str = "gateway_webhook_deferrals_total";
const WEBHOOK_ENDPOINTS_BACKING_OFF: &str = "gateway_webhook_endpoints_backing_off";
const IDEMPOTENCY_REPLAYS: &str = "gateway_idempotency_replays_total";
const IDEMPOTENCY_CONFLICTS: &str = "gateway_idempotency_conflicts_total";

/// Every metric core records.
pub const CATALOGUE: &[MetricDoc] = &[
    MetricDoc {
        name: PAYMENTS_CREATED,
        kind: MetricKind::Counter,
        labels: &["method"],
        help: "Payments accepted (pending), by method.",
    },
    MetricDoc {
        name: PAYMENTS_SETTLED,
        kind: MetricKind::Counter,
        labels: &["method", "outcome"],
        help: "Payments settled by the worker, by method and outcome (success, failed).",
    },
    MetricDoc {
        name: PAYMENT_SETTLEMENT,
        kind: MetricKind::Histogram,
        labels: &["method"],
        help: "Time from a payment's creation to its settlement.",
    },
    MetricDoc {
        name: REFUNDS_CREATED,
        kind: MetricKind::Counter,
        labels: &[],
        help: "Refunds accepted (pending).",
    },
    MetricDoc {
        name: REFUNDS_SETTLED,
        kind: MetricKind::Counter,
        labels: &["outcome"],
        help: "Refunds settled by the worker, by outcome (processed, failed).",
    },
    MetricDoc {
        name: REFUND_SETTLEMENT,
        kind: MetricKind::Histogram,
        labels: &[],
        help: "Time from a refund's creation to its settlement.",
    },
    MetricDoc {
        name: JOBS,
        kind: MetricKind::Gauge,
        labels: &["kind", "state"],
        help: "Jobs in the queue table, by kind and state (queued, running, completed, failed), read when scraped.",
    },
    MetricDoc {
        name: QUEUE_DISPATCH,
        kind: MetricKind::Gauge,
        labels: &["state"],
        help: "The Redis queue's entries by state (waiting, unacknowledged, scheduled, awaiting_relay), read when scraped; absent with the database queue.",
    },
    MetricDoc {
        name: JOB_LAG,
        kind: MetricKind::Gauge,
        labels: &[],
        help: "How long the oldest due job has waited for a worker (0 when none waits), read when scraped.",
    },
    MetricDoc {
        name: JOBS_EXPIRED_LEASES,
        kind: MetricKind::Gauge,
        labels: &[],
        help: "Running jobs whose lease has expired (their worker died or stalled); the next claim rescues them.",
    },
    MetricDoc {
        name: JOB_EXECUTIONS,
        kind: MetricKind::Counter,
        labels: &["kind", "outcome"],
        help: "Job handler runs, by kind and outcome (ok, retry, failed, lease_lost).",
    },
    MetricDoc {
        name: JOB_EXECUTION,
        kind: MetricKind::Histogram,
        labels: &["kind"],
        help: "Time a job's handler ran, by kind.",
    },
    MetricDoc {
        name: JOB_LEASES_LOST,
        kind: MetricKind::Counter,
        labels: &["kind"],
        help: "Jobs whose lease expired before their handler finished (another worker took them).",
    },
    MetricDoc {
        name: WEBHOOK_ATTEMPTS,
        kind: MetricKind::Counter,
        labels: &["outcome", "status_class"],
        help: "Webhook attempts, by outcome (success, rejected, timeout, connect_error, refused) and response status class (2xx … 5xx, none).",
    },
    MetricDoc {
        name: WEBHOOK_ATTEMPT,
        kind: MetricKind::Histogram,
        labels: &[],
        help: "Time a webhook attempt took, from request to response or error.",
    },
    MetricDoc {
        name: WEBHOOK_DELIVERY,
        kind: MetricKind::Histogram,
        labels: &[],
        help: "Time from an event's delivery being created to its first successful attempt.",
    },
    MetricDoc {
        name: WEBHOOK_DEFERRALS,
        kind: MetricKind::Counter,
        labels: &[],
        help: "Deliveries put back in the queue, without using an attempt, because their endpoint was busy.",
    },
    MetricDoc {
        name: WEBHOOK_ENDPOINTS_BACKING_OFF,
        kind: MetricKind::Gauge,
        labels: &[],
        help: "Endpoints whose latest attempt from this process failed, so new deliveries to them back off.",
    },
    MetricDoc {
        name: IDEMPOTENCY_REPLAYS,
        kind: MetricKind::Counter,
        labels: &[],
        help: "Requests answered with the remembered response of an earlier request with the same Idempotency-Key.",
    },
    MetricDoc {
        name: IDEMPOTENCY_CONFLICTS,
        kind: MetricKind::Counter,
        labels: &["reason"],
        help: "Idempotency-Key reuses refused, by reason (mismatch: another request's key; in_progress: the first is still running).",
    },
];

/// Describes every metric of [`CATALOGUE`] and starts the counters with fixed label values at
/// zero, so dashboards and alerts see a series before its first event.
pub fn describe() {
    for metric in CATALOGUE {
        metric.describe();
    }
    for method in [PaymentMethod::Upi, PaymentMethod::Card] {
        counter!(PAYMENTS_CREATED, "method" => method.as_str()).absolute(0);
        for outcome in [PaymentStatus::Success, PaymentStatus::Failed] {
            counter!(PAYMENTS_SETTLED, "method" => method.as_str(), "outcome" => outcome.as_str())
                .absolute(0);
        }
    }
    counter!(REFUNDS_CREATED).absolute(0);
    for outcome in [RefundStatus::Processed, RefundStatus::Failed] {
        counter!(REFUNDS_SETTLED, "outcome" => outcome.as_str()).absolute(0);
    }
    for kind in JobKind::ALL {
        counter!(JOB_LEASES_LOST, "kind" => kind.as_str()).absolute(0);
        for outcome in JobOutcome::ALL {
            counter!(JOB_EXECUTIONS, "kind" => kind.as_str(), "outcome" => outcome.as_str())
                .absolute(0);
        }
    }
    counter!(WEBHOOK_DEFERRALS).absolute(0);
    gauge!(WEBHOOK_ENDPOINTS_BACKING_OFF).set(0.0);
    counter!(IDEMPOTENCY_REPLAYS).absolute(0);
    for reason in ["mismatch", "in_progress"] {
        counter!(IDEMPOTENCY_CONFLICTS, "reason" => reason).absolute(0);
    }
}

/// A payment was accepted.
pub fn payment_created(method: PaymentMethod) {
    counter!(PAYMENTS_CREATED, "method" => method.as_str()).increment(1);
}

/// A payment left `pending`.
pub fn payment_settled(payment: &Payment) {
    let method = payment.method.as_str();
    counter!(PAYMENTS_SETTLED, "method" => method, "outcome" => payment.status.as_str())
        .increment(1);
    if let Some(settled_at) = payment.settled_at {
        histogram!(PAYMENT_SETTLEMENT, "method" => method)
            .record(settled_at.since(payment.created_at));
    }
}

/// A refund was accepted.
pub fn refund_created() {
    counter!(REFUNDS_CREATED).increment(1);
}

/// A refund left `pending`.
pub fn refund_settled(refund: &Refund) {
    counter!(REFUNDS_SETTLED, "outcome" => refund.status.as_str()).increment(1);
    if let Some(processed_at) = refund.processed_at {
        histogram!(REFUND_SETTLEMENT).record(processed_at.since(refund.created_at));
    }
}

/// How a job handler's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// It finished: the job completed, or was put back on purpose (a webhook retry, a busy
    /// endpoint).
    Ok,
    /// It failed and will run again after a backoff.
    Retry,
    /// It failed on its last attempt; the job is `failed`.
    Failed,
    /// Its lease expired first; another worker owns the job.
    LeaseLost,
}

impl JobOutcome {
    /// Every outcome.
    pub const ALL: [Self; 4] = [Self::Ok, Self::Retry, Self::Failed, Self::LeaseLost];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::LeaseLost => "lease_lost",
        }
    }
}

/// A job handler ran for `elapsed` and ended with `outcome`.
/// (`kind` is a registered kind's name or `unknown`, so the labels stay few.)
pub fn job_executed(kind: &str, outcome: JobOutcome, elapsed: Duration) {
    counter!(JOB_EXECUTIONS, "kind" => kind.to_owned(), "outcome" => outcome.as_str()).increment(1);
    histogram!(JOB_EXECUTION, "kind" => kind.to_owned()).record(elapsed);
    if outcome == JobOutcome::LeaseLost {
        counter!(JOB_LEASES_LOST, "kind" => kind.to_owned()).increment(1);
    }
}

/// The queue as read by [`JobQueue::queue_report`](crate::JobQueue::queue_report) at `now`
/// (every built-in kind, and the custom kinds the queue holds).
pub fn queue_observed(report: &QueueReport, now: Timestamp) {
    for kind in JobKind::ALL {
        for state in JobStatus::ALL {
            gauge!(JOBS, "kind" => kind.as_str(), "state" => state.as_str())
                .set(report.count(kind.as_str(), state) as f64);
        }
    }
    for (kind, state, n) in &report.counts {
        if JobKind::parse(kind).is_none() {
            gauge!(JOBS, "kind" => kind.clone(), "state" => state.as_str()).set(*n as f64);
        }
    }
    gauge!(JOB_LAG).set(report.lag(now).as_secs_f64());
    gauge!(JOBS_EXPIRED_LEASES).set(report.expired_leases as f64);
    if let Some(dispatch) = &report.dispatch {
        for (state, n) in [
            ("waiting", dispatch.waiting),
            ("unacknowledged", dispatch.unacknowledged),
            ("scheduled", dispatch.scheduled),
            ("awaiting_relay", dispatch.awaiting_relay),
        ] {
            gauge!(QUEUE_DISPATCH, "state" => state).set(n as f64);
        }
    }
}

/// A webhook attempt ended: a response with `status`, or a transport error.
pub fn webhook_attempted(result: Result<u16, &TransportError>, elapsed: Duration) {
    let (outcome, class) = match result {
        Ok(status) if (200..300).contains(&status) => ("success", "2xx"),
        Ok(status) => ("rejected", status_class(status)),
        Err(TransportError::Timeout) => ("timeout", "none"),
        Err(TransportError::Connect(_)) => ("connect_error", "none"),
        Err(TransportError::Refused(_)) => ("refused", "none"),
    };
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome, "status_class" => class).increment(1);
    histogram!(WEBHOOK_ATTEMPT).record(elapsed);
}

/// A delivery created at `created_at` succeeded at `now`.
pub fn webhook_delivered(created_at: Timestamp, now: Timestamp) {
    histogram!(WEBHOOK_DELIVERY).record(now.since(created_at));
}

/// `count` deliveries went back to the queue because their endpoint was busy.
pub fn webhook_deferred(count: u64) {
    counter!(WEBHOOK_DEFERRALS).increment(count);
}

/// `count` endpoints are backing off now.
pub fn endpoints_backing_off(count: usize) {
    gauge!(WEBHOOK_ENDPOINTS_BACKING_OFF).set(count as f64);
}

/// A request was answered from its idempotency record.
pub fn idempotency_replayed() {
    counter!(IDEMPOTENCY_REPLAYS).increment(1);
}

/// A request's idempotency key was refused: used by a different request (`mismatch`) or by one
/// still running (`in_progress`).
pub fn idempotency_conflict(reason: &'static str) {
    counter!(IDEMPOTENCY_CONFLICTS, "reason" => reason).increment(1);
}

/// `"2xx"` … `"5xx"` for an HTTP status, `"other"` outside 100–599.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for metric in CATALOGUE {
            assert!(metric.name.starts_with("gateway_"), "{}", metric.name);
            match metric.kind {
                MetricKind::Counter => assert!(metric.name.ends_with("_total"), "{}", metric.name),
                MetricKind::Histogram => {
                    assert!(metric.name.ends_with("_seconds"), "{}", metric.name)
                }
                MetricKind::Gauge => assert!(!metric.name.ends_with("_total"), "{}", metric.name),
            }
            for label in metric.labels {
                assert!(
                    !label.ends_with("id"),
                    "{}: ids are not labels",
                    metric.name
                );
            }
        }
        let mut names: Vec<_> = CATALOGUE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len(), "a name is listed twice");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(302), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(999), "other");
    }
}
