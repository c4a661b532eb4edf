//! Endpoint health and catch-up, written once for both databases: what recording a delivery
//! attempt does to its endpoint (see [`gateway_core::endpoint_health`]), and `recover`.
//!
//! Lock order, as everywhere: the endpoint, then deliveries, then their jobs. The common case
//! (a healthy endpoint's success, or one more failure of a failing one) changes nothing, so it
//! reads without a lock; only a change locks the endpoint and decides again over the locked row.

use std::time::Duration;

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::endpoint::{EndpointStatus, fan_out};
use gateway_core::endpoint_health::{
    CATCH_UP_LIMIT, EndpointHealth, HealthDecision, Recovering, admit_recover, after_attempt,
    ended_by_disable, throttled_run_at,
};
use gateway_core::event::Event;
use gateway_core::idempotency::IdempotencyKey;
use gateway_core::ids::{DeliveryId, EndpointId, MerchantId};
use gateway_core::jobs::{JobKind, JobStatus, NewJob};
use gateway_core::webhook::{DeliveryAttempt, DeliveryStatus};

use super::dialect::Fut;
use super::endpoints::subscriptions;
use super::outbox::{claim_idempotency_key, push_events, push_job};
use super::{Batch, Dialect, Sql};
use crate::rows::{self, Column, ReadRow};

/// The endpoint an attempt went to, as the health rule reads it.
#[derive(Debug, Clone)]
pub(crate) struct AttemptedEndpoint {
    id: EndpointId,
    merchant: MerchantId,
    url: String,
    health: EndpointHealth,
}

/// What recording an attempt will do to its endpoint, decided before the attempt is written.
#[derive(Debug, Clone)]
pub(crate) struct HealthChange {
    endpoint: AttemptedEndpoint,
    decision: HealthDecision,
}

/// The endpoint with this id; with `lock`, locked until commit.
async fn read_endpoint<DB: Dialect>(
    conn: &mut DB::Connection,
    id: &EndpointId,
    lock: bool,
) -> Result<Option<AttemptedEndpoint>, StoreError> {
    const TEXT: &str =
        "SELECT id, merchant_id, url, status, failing_since FROM webhook_endpoints WHERE id = $1";
    let sql = if lock {
        Sql::locking(TEXT)
    } else {
        Sql::new(TEXT)
    };
    DB::fetch_optional(conn, sql.arg(id.to_string()))
        .await?
        .as_ref()
        .map(attempted_endpoint)
        .transpose()
}

/// The endpoint a delivery goes to, unlocked (one read, on every attempt).
async fn delivery_endpoint<DB: Dialect>(
    conn: &mut DB::Connection,
    delivery: DeliveryId,
) -> Result<Option<AttemptedEndpoint>, StoreError> {
    let sql = Sql::new(
        "SELECT e.id, e.merchant_id, e.url, e.status, e.failing_since
         FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.merchant_id = d.merchant_id
         WHERE d.id = $1",
    )
    .arg(delivery.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(attempted_endpoint)
        .transpose()
}

fn attempted_endpoint(row: &impl ReadRow) -> Result<AttemptedEndpoint, StoreError> {
    let status: String = row.column("status")?;
    let failing_since: Option<i64> = row.column("failing_since")?;
    Ok(AttemptedEndpoint {
        id: EndpointId::from_trusted(row.column("id")?),
        merchant: rows::uuid(row, "merchant_id")?,
        url: row.column("url")?,
        health: EndpointHealth {
            status: EndpointStatus::parse(&status)
                .ok_or_else(|| rows::corrupt("endpoint status"))?,
            failing_since: failing_since.map(Timestamp::from_millis),
        },
    })
}

/// Runs first in the transaction that records `attempt`: asks core what the attempt does to its
/// endpoint (locking the endpoint if that changes anything) and returns the attempt as it must
/// be recorded (ended `failed` if it disables the endpoint) with the change to apply after it.
#[cfg(feature = "sqlite")]
pub(crate) async fn before_attempt<DB: Dialect>(
    conn: &mut DB::Connection,
    attempt: &DeliveryAttempt,
    disable_after: Duration,
    now: Timestamp,
) -> Result<(DeliveryAttempt, Option<HealthChange>), StoreError> {
    let foreseen = foresee_change::<DB>(conn, attempt, disable_after, now).await?;
    confirm_change::<DB>(conn, attempt, foreseen, disable_after, now).await
}

/// The first step of [`before_attempt`], without a lock: the change recording `attempt` makes
/// to its endpoint as last committed. `None` (the common case) needs no lock and no second
/// step: the attempt is recorded as it is and nothing else changes, so it may be recorded in
/// one statement of its own.
pub(crate) async fn foresee_change<DB: Dialect>(
    conn: &mut DB::Connection,
    attempt: &DeliveryAttempt,
    disable_after: Duration,
    now: Timestamp,
) -> Result<Option<HealthChange>, StoreError> {
    let Some(endpoint) = delivery_endpoint::<DB>(conn, attempt.delivery_id).await? else {
        return Ok(None);
    };
    Ok(decide(endpoint, attempt, disable_after, now))
}

/// The second step of [`before_attempt`], in the transaction that records `attempt`: a
/// foreseen change is decided again over the locked endpoint (where rows lock; otherwise the
/// whole database is locked already and the read stands).
pub(crate) async fn confirm_change<DB: Dialect>(
    conn: &mut DB::Connection,
    attempt: &DeliveryAttempt,
    foreseen: Option<HealthChange>,
    disable_after: Duration,
    now: Timestamp,
) -> Result<(DeliveryAttempt, Option<HealthChange>), StoreError> {
    let change = match foreseen {
        Some(change) if DB::ROW_LOCKS => read_endpoint::<DB>(conn, &change.endpoint.id, true)
            .await?
            .and_then(|locked| decide(locked, attempt, disable_after, now)),
        unlocked => unlocked,
    };
    let recorded = match &change {
        Some(change) if change.decision.disable.is_some() => ended_by_disable(attempt.clone()),
        _ => attempt.clone(),
    };
    Ok((recorded, change))
}

/// Core's decision on what `attempt` does to `endpoint`, if it changes anything.
fn decide(
    endpoint: AttemptedEndpoint,
    attempt: &DeliveryAttempt,
    disable_after: Duration,
    now: Timestamp,
) -> Option<HealthChange> {
    let decision = after_attempt(&endpoint.health, attempt, disable_after, now);
    decision
        .changes(&endpoint.health)
        .then_some(HealthChange { endpoint, decision })
}

/// `sql` with the outcome of `attempt` bound as `$1`…`$9`: its status, number, time, next retry,
/// response code and body, duration and error, then `now` (the rows' `updated_at`). Each
/// backend's statements that record an attempt take these first.
pub(crate) fn bind_attempt_outcome<DB: Dialect>(
    sql: Sql<DB>,
    attempt: &DeliveryAttempt,
    now: Timestamp,
) -> Sql<DB> {
    sql.arg(attempt.status.as_str())
        .arg(attempt.attempt)
        .arg(attempt.attempted_at.as_millis())
        .arg(attempt.next_retry_at.map(Timestamp::as_millis))
        .arg(attempt.response_code)
        .arg(attempt.response_body.clone())
        .arg(attempt.duration_ms)
        .arg(attempt.error.clone())
        .arg(now.as_millis())
}

/// Runs after the attempt is written, in its transaction: writes `failing_since`, disables the
/// endpoint with its `webhook_endpoint.disabled` event fanned out to the merchant's other
/// endpoints, or brings the endpoint's waiting deliveries forward.
pub(crate) async fn apply_change<DB: Dialect>(
    conn: &mut DB::Connection,
    change: &HealthChange,
    now: Timestamp,
) -> Result<(), StoreError> {
    let HealthChange { endpoint, decision } = change;
    let sql = match &decision.disable {
        None => Sql::new("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2")
            .arg(decision.failing_since.map(Timestamp::as_millis))
            .arg(endpoint.id.to_string()),
        Some(reason) => Sql::new(
            "UPDATE webhook_endpoints SET failing_since = $1, status = $3, disabled_reason = $4, updated_at = $5
             WHERE id = $2",
        )
        .arg(decision.failing_since.map(Timestamp::as_millis))
        .arg(endpoint.id.to_string())
        .arg(EndpointStatus::Disabled.as_str())
        .arg(reason.clone())
        .arg(now.as_millis()),
    };
    DB::execute(conn, sql).await?;
    if let Some(reason) = &decision.disable {
        tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
        let event =
            Event::endpoint_disabled(endpoint.merchant, &endpoint.id, &endpoint.url, reason, now);
        // The endpoint reads as disabled now, so fan-out leaves it out.
        let endpoints = subscriptions::<DB>(conn, endpoint.merchant).await?;
        let mut batch = DB::Batch::default();
        let events = std::slice::from_ref(&event);
        push_events::<DB>(&mut batch, events, &fan_out(events, &endpoints));
        DB::execute_batch(conn, batch).await?;
    }
    if decision.catch_up {
        catch_up::<DB>(conn, &endpoint.id, now).await?;
    }
    Ok(())
}

/// Brings the endpoint's deliveries that wait for a retry (pending, attempted at least once,
/// next attempt after `now`) forward: oldest first, spaced by core's throttle. Deliveries a
/// recover or manual retry re-armed (no attempt yet) keep their own schedule.
async fn catch_up<DB: Dialect>(
    conn: &mut DB::Connection,
    endpoint: &EndpointId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sql = Sql::new(
        "SELECT d.id AS delivery_id, j.id AS job_id
         FROM webhook_deliveries d
         JOIN jobs j ON j.entity_id = d.id AND j.kind = $2 AND j.status = $3
         WHERE d.endpoint_id = $1 AND d.status = $4 AND d.attempts > 0 AND j.run_at > $5
         ORDER BY d.created_at, d.id
         LIMIT $6",
    )
    .arg(endpoint.to_string())
    .arg(JobKind::DeliverWebhook.as_str())
    .arg(JobStatus::Queued.as_str())
    .arg(DeliveryStatus::Pending.as_str())
    .arg(now.as_millis())
    .arg(CATCH_UP_LIMIT);
    let waiting = DB::fetch_all(conn, sql).await?;
    if waiting.is_empty() {
        return Ok(());
    }
    let mut batch = DB::Batch::default();
    for (n, row) in waiting.iter().enumerate() {
        let delivery: String = row.column("delivery_id")?;
        let job: i64 = row.column("job_id")?;
        let due = throttled_run_at(now, n).as_millis();
        batch
            .push("UPDATE jobs SET run_at = $1, dispatched_at = NULL, updated_at = $2 WHERE id = $3 AND status = $4")
            .arg(due)
            .arg(now.as_millis())
            .arg(job)
            .arg(JobStatus::Queued.as_str());
        batch
            .push("UPDATE webhook_deliveries SET next_retry_at = $1 WHERE id = $2 AND status = $3")
            .arg(due)
            .arg(delivery)
            .arg(DeliveryStatus::Pending.as_str());
    }
    tracing::info!(endpoint = %endpoint, deliveries = waiting.len(), "endpoint recovered: waiting deliveries brought forward");
    DB::execute_batch(conn, batch).await.map(|_| ())
}

/// The arguments of a recover: merchant, endpoint, since, now, idempotency key.
pub(crate) type Recover = (
    MerchantId,
    EndpointId,
    Timestamp,
    Timestamp,
    Option<IdempotencyKey>,
);

/// Re-arms every `failed` delivery to the merchant's endpoint created at or after `since`
/// (at most [`CATCH_UP_LIMIT`]), oldest first, each with a new job spaced by core's throttle,
/// and saves the answer under the idempotency key, if any.
pub(crate) fn recover_endpoint<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, id, since, now, key): &'c Recover,
) -> Fut<'c, Recovering> {
    Box::pin(async move {
        let endpoint = read_endpoint::<DB>(conn, id, true)
            .await?
            .filter(|e| e.merchant == *merchant)
            .ok_or(StoreError::NotFound("Webhook endpoint"))?;
        admit_recover(endpoint.health.status)?;
        // Failed deliveries have no live job; the lock on each keeps a manual retry out.
        let sql = Sql::locking(
            "SELECT id FROM webhook_deliveries
             WHERE endpoint_id = $1 AND merchant_id = $2 AND status = $3 AND created_at >= $4
             ORDER BY created_at, id
             LIMIT $5",
        )
        .arg(id.to_string())
        .arg(merchant.to_string())
        .arg(DeliveryStatus::Failed.as_str())
        .arg(since.as_millis())
        .arg(CATCH_UP_LIMIT);
        let failed = DB::fetch_all(conn, sql).await?;
        let mut batch = DB::Batch::default();
        for (n, row) in failed.iter().enumerate() {
            let delivery: String = row.column("id")?;
            let delivery_id: DeliveryId =
                DeliveryId::parse(&delivery).ok_or_else(|| rows::corrupt("delivery id"))?;
            let due = throttled_run_at(*now, n);
            batch
                .push(
                    "UPDATE webhook_deliveries SET status = $1, attempts = 0, next_retry_at = $2, updated_at = $3
                     WHERE id = $4 AND status = $5",
                )
                .arg(DeliveryStatus::Pending.as_str())
                .arg(due.as_millis())
                .arg(now.as_millis())
                .arg(delivery)
                .arg(DeliveryStatus::Failed.as_str());
            push_job::<DB>(&mut batch, &NewJob::deliver_webhook(delivery_id, due), *now);
        }
        DB::execute_batch(conn, batch).await?;
        let recovering = Recovering {
            id: id.clone(),
            since: *since,
            recovering: u64::try_from(failed.len()).unwrap_or(u64::MAX),
        };
        // The answer names the count, known only now; a concurrent duplicate waits here for
        // this transaction, then finds the key taken and rolls its own work back.
        let record = key
            .as_ref()
            .map(|k| {
                serde_json::to_string(&recovering)
                    .map(|body| k.record(body, *now))
                    .map_err(|e| StoreError::Other(e.to_string()))
            })
            .transpose()?;
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), record.as_ref()).await?;
        Ok(recovering)
    })
}
