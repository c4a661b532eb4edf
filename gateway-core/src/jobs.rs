//! The job queue's vocabulary: job kinds, claims, leases, stats and the retry backoff.
//!
//! Job lifecycle (a table row, written in the same transaction as the change that needs it):
//!
//! ```text
//! queued ──claim (lease)──▶ running ──effects + complete, one tx──▶ completed
//!   ▲                          │
//!   │    handler error,        ├── lease expires (worker died) ──▶ claimable again
//!   └── attempts < max ◀───────┤
//!                              └── handler error, attempts = max ──▶ failed
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{DeliveryId, PaymentId, RefundId};
use crate::instrument::InstrumentVerdict;
use crate::request_id;

/// What a built-in job does. A job's kind is stored as a string ([`JobKind::as_str`]), so an
/// embedding service can enqueue kinds of its own (see [`NewJob::custom`]) and register a
/// [`JobHandler`](crate::handler::JobHandler) for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Ask the bank about a payment and settle it.
    ProcessPayment,
    /// Ask the bank about a refund and settle it.
    ProcessRefund,
    /// Attempt one webhook delivery.
    DeliverWebhook,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [
        Self::ProcessPayment,
        Self::ProcessRefund,
        Self::DeliverWebhook,
    ];

    /// The kind as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessPayment => "process_payment",
            Self::ProcessRefund => "process_refund",
            Self::DeliverWebhook => "deliver_webhook",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "process_payment" => Self::ProcessPayment,
            "process_refund" => Self::ProcessRefund,
            "deliver_webhook" => Self::DeliverWebhook,
            _ => return None,
        })
    }
}

/// Where a job stands (see the module docs for the lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting until it is due.
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Done (or superseded). Final.
    Completed,
    /// Gave up after its attempts. Final.
    Failed,
}

impl JobStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Every state, in lifecycle order.
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Completed, Self::Failed];

    /// Every transition: `(from, why, to)`.
    pub const TRANSITIONS: [(Self, &'static str, Self); 6] = [
        (Self::Queued, "claimed under a lease", Self::Running),
        (
            Self::Queued,
            "superseded by a manual retry",
            Self::Completed,
        ),
        (Self::Running, "effects committed", Self::Completed),
        (Self::Running, "retry, deferral or release", Self::Queued),
        (Self::Running, "lease expired, claimed again", Self::Running),
        (
            Self::Running,
            "final attempt failed or its lease expired",
            Self::Failed,
        ),
    ];
}

/// How many times a job's handler may fail (error, panic, lost lease) before the job is `failed`.
pub const JOB_MAX_ATTEMPTS: i32 = 10;

/// A job to enqueue with a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What to do: a built-in [`JobKind`]'s name or an embedding service's own kind.
    pub kind: String,
    /// The payment, refund or delivery id it acts on (for a custom kind, whatever its handler
    /// reads).
    pub entity_id: String,
    /// Extra JSON input, if any (never card data).
    pub payload: Option<String>,
    /// Not before this time.
    pub run_at: Timestamp,
    /// Handler failures allowed.
    pub max_attempts: i32,
    /// The API request that caused it, directly or through other jobs (see
    /// [`crate::request_id`]). The constructors below take it from
    /// [`request_id::current`], so a job enqueued while a request
    /// (or a job of that request) runs records the request's id without anyone passing it along.
    pub request_id: Option<String>,
}

/// The payload of a payment job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentJobPayload {
    /// A test instrument's verdict, decided while the card number was in memory.
    pub verdict: Option<InstrumentVerdict>,
}

impl NewJob {
    /// A job of an embedding service's own `kind` (not one of [`JobKind`]'s names) acting on
    /// `entity_id` at `run_at`, for the handler registered under that kind.
    pub fn custom(
        kind: impl Into<String>,
        entity_id: impl Into<String>,
        payload: Option<String>,
        run_at: Timestamp,
    ) -> Self {
        Self {
            kind: kind.into(),
            entity_id: entity_id.into(),
            payload,
            run_at,
            max_attempts: JOB_MAX_ATTEMPTS,
            request_id: request_id::current(),
        }
    }

    /// Settle `payment` at `run_at`.
    pub fn process_payment(
        payment: &PaymentId,
        verdict: Option<InstrumentVerdict>,
        run_at: Timestamp,
    ) -> Self {
        let payload = serde_json::to_string(&PaymentJobPayload { verdict }).ok();
        Self {
            kind: JobKind::ProcessPayment.as_str().to_owned(),
            entity_id: payment.to_string(),
            payload,
            run_at,
            max_attempts: JOB_MAX_ATTEMPTS,
            request_id: request_id::current(),
        }
    }

    /// Settle `refund` at `run_at`.
    pub fn process_refund(refund: &RefundId, run_at: Timestamp) -> Self {
        Self {
            kind: JobKind::ProcessRefund.as_str().to_owned(),
            entity_id: refund.to_string(),
            payload: None,
            run_at,
            max_attempts: JOB_MAX_ATTEMPTS,
            request_id: request_id::current(),
        }
    }

    /// Attempt `delivery` at `run_at`.
    pub fn deliver_webhook(delivery: DeliveryId, run_at: Timestamp) -> Self {
        Self {
            kind: JobKind::DeliverWebhook.as_str().to_owned(),
            entity_id: delivery.to_string(),
            payload: None,
            run_at,
            max_attempts: JOB_MAX_ATTEMPTS,
            request_id: request_id::current(),
        }
    }
}

/// A job a worker holds under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// Row id.
    pub id: i64,
    /// What to do, as stored: a built-in [`JobKind`]'s name or a custom kind.
    pub kind: String,
    /// What it acts on.
    pub entity_id: String,
    /// Extra input.
    pub payload: Option<String>,
    /// This claim's attempt number (1-based).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The API request that caused the job, if it was recorded; the worker runs the job in
    /// its scope, so the jobs this one enqueues carry it too.
    pub request_id: Option<String>,
    /// Proof of the claim, required to complete or fail the job.
    pub lease: Lease,
}

impl ClaimedJob {
    /// The built-in kind, if the job is of one.
    pub fn builtin(&self) -> Option<JobKind> {
        JobKind::parse(&self.kind)
    }
}

/// A worker's hold on a job. Completing or failing needs a matching lease, so a worker whose
/// lease expired (and whose job was claimed again) cannot overwrite the new holder's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: i64,
    /// The worker holding it.
    pub worker: String,
}

/// Job counts by state (the reference's `/api/v1/test/jobs/status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobCounts {
    /// Queued, due now or later.
    pub pending: i64,
    /// Held by a worker.
    pub processing: i64,
    /// Done.
    pub completed: i64,
    /// Gave up after their attempts.
    pub failed: i64,
}

/// Job counts plus whether any worker is alive and how far behind the queue is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStats {
    /// Counts by state.
    #[serde(flatten)]
    pub counts: JobCounts,
    /// `running` if a worker checked in recently, else `stopped`.
    pub worker_status: crate::gateway::WorkerState,
    /// How long the oldest due job has waited for a worker, in seconds (0 when none waits):
    /// the queue's lag. It grows when workers are stopped, too few or stuck.
    pub lag_seconds: f64,
    /// Which queue workers take jobs from: `database` or `redis`.
    pub queue: &'static str,
    /// The Redis queue's own figures (absent for the database queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<DispatchReport>,
}

/// The queue at one moment: counts by kind and state, the oldest due job and expired leases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueReport {
    /// Jobs by kind (as stored, custom kinds included) and state.
    pub counts: Vec<(String, JobStatus, i64)>,
    /// When the job that has waited longest became due: a queued job's `run_at`, or the end of
    /// an expired lease. `None` when no job is due.
    pub oldest_due: Option<Timestamp>,
    /// Running jobs whose lease has expired (their worker died or stalled).
    pub expired_leases: i64,
    /// A dispatching queue's own figures (`None` for the database queue).
    pub dispatch: Option<DispatchReport>,
}

/// What a dispatching queue (Redis Streams) holds besides the job rows it hands on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DispatchReport {
    /// Entries in the stream no worker has read yet.
    pub waiting: i64,
    /// Entries a worker has read and not yet acknowledged (its job is running, or its worker
    /// died and the entry waits to be reclaimed).
    pub unacknowledged: i64,
    /// Jobs scheduled for later (retries, deferrals, delays) and not yet moved to the stream.
    pub scheduled: i64,
    /// Job rows committed but not yet handed to the queue by the relay.
    pub awaiting_relay: i64,
}

impl QueueReport {
    /// Jobs of `kind` in `state`.
    pub fn count(&self, kind: &str, state: JobStatus) -> i64 {
        self.counts
            .iter()
            .filter(|(k, s, _)| k == kind && *s == state)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Counts by state over every kind.
    pub fn totals(&self) -> JobCounts {
        let total = |state| {
            self.counts
                .iter()
                .filter(|(_, s, _)| *s == state)
                .map(|(_, _, n)| n)
                .sum()
        };
        JobCounts {
            pending: total(JobStatus::Queued),
            processing: total(JobStatus::Running),
            completed: total(JobStatus::Completed),
            failed: total(JobStatus::Failed),
        }
    }

    /// How long the oldest due job has waited at `now`.
    pub fn lag(&self, now: Timestamp) -> Duration {
        self.oldest_due.map_or(Duration::ZERO, |due| now.since(due))
    }
}

/// The wait before retrying a job whose handler failed for the `attempt`-th time: 1 s doubling
/// to at most 5 min, scaled by `jitter` (expected in `0.75..=1.25`) so failed jobs spread out.
pub fn retry_backoff(attempt: i32, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let base = Duration::from_secs(1u64 << exponent).min(Duration::from_secs(300));
    base.mul_f64(jitter.clamp(0.5, 1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(retry_backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(retry_backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(retry_backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(retry_backoff(30, 1.0), Duration::from_secs(300));
        assert_eq!(retry_backoff(3, 1.25), Duration::from_secs(5));
    }

    #[test]
    fn a_report_totals_its_kinds_and_measures_lag_from_the_oldest_due_job() {
        let report = QueueReport {
            counts: vec![
                ("process_payment".into(), JobStatus::Queued, 2),
                ("deliver_webhook".into(), JobStatus::Queued, 3),
                ("send_invoice".into(), JobStatus::Failed, 1),
            ],
            oldest_due: Some(Timestamp::from_millis(1_000)),
            expired_leases: 0,
            dispatch: None,
        };
        assert_eq!(report.count("deliver_webhook", JobStatus::Queued), 3);
        assert_eq!(
            report.totals(),
            JobCounts {
                pending: 5,
                processing: 0,
                completed: 0,
                failed: 1
            }
        );
        assert_eq!(
            report.lag(Timestamp::from_millis(3_500)),
            Duration::from_millis(2_500)
        );
        assert_eq!(
            QueueReport::default().lag(Timestamp::from_millis(3_500)),
            Duration::ZERO
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
    }
}
