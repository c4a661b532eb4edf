//! Statements every write command shares, run inside its transaction: the idempotency record,
//! jobs, events → event rows + deliveries + delivery jobs, and lease-checked job completion;
//! and the pruning of expired idempotency records and old events.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::endpoint::PlannedDelivery;
use gateway_core::event::Event;
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::jobs::{JobStatus, Lease, NewJob};
use gateway_core::store::PruneBefore;
use gateway_core::webhook::DeliveryStatus;

use super::dialect::Fut;
use super::{Batch, Dialect, Sql, events};

/// Writes the idempotency record first, so a concurrent duplicate fails before doing anything
/// (on PostgreSQL it waits for this transaction, then finds the key taken). An expired record
/// under the same key is replaced.
pub(crate) async fn claim_idempotency_key<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: &str,
    record: Option<&IdempotencyRecord>,
) -> Result<(), StoreError> {
    let Some(record) = record else { return Ok(()) };
    let sql = Sql::new(
        "INSERT INTO idempotency_keys (merchant_id, key, fingerprint, response, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (merchant_id, key) DO UPDATE SET
             fingerprint = excluded.fingerprint, response = excluded.response,
             created_at = excluded.created_at, expires_at = excluded.expires_at
         WHERE idempotency_keys.expires_at <= excluded.created_at",
    )
    .arg(merchant.to_owned())
    .arg(record.key.clone())
    .arg(record.fingerprint.clone())
    .arg(record.response.clone())
    .arg(record.created_at.as_millis())
    .arg(record.expires_at.as_millis());
    if DB::execute(conn, sql).await? == 0 {
        Err(StoreError::IdempotencyKeyTaken)
    } else {
        Ok(())
    }
}

/// Appends the insert of `job`, queued.
pub(crate) fn push_job<DB: Dialect>(batch: &mut DB::Batch, job: &NewJob, now: Timestamp) {
    batch
        .push(
            "INSERT INTO jobs (kind, entity_id, payload, status, attempts, max_attempts, run_at, created_at, updated_at, request_id)
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $7, $8)",
        )
        .arg(job.kind.clone())
        .arg(job.entity_id.clone())
        .arg(job.payload.clone())
        .arg(JobStatus::Queued.as_str())
        .arg(job.max_attempts)
        .arg(job.run_at.as_millis())
        .arg(now.as_millis())
        .arg(job.request_id.clone());
}

/// Appends the record of each of `events` (whether or not an endpoint wants it), then a pending
/// delivery and its job, due now, for each delivery core planned for them (see
/// [`fan_out`](gateway_core::endpoint::fan_out)). Returns how many jobs that enqueues.
pub(crate) fn push_events<DB: Dialect>(
    batch: &mut DB::Batch,
    events: &[Event],
    deliver: &[PlannedDelivery<'_>],
) -> usize {
    for event in events {
        batch
            .push(
                "INSERT INTO events (id, merchant_id, type, payload, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .arg(event.id.to_string())
            .arg(event.merchant_id.to_string())
            .arg(event.event_type.as_str())
            .arg(event.payload.clone())
            .arg(event.created_at.as_millis());
    }
    for planned in deliver {
        push_delivery::<DB>(batch, planned, planned.event.created_at);
    }
    deliver.len()
}

/// Appends a pending delivery of `planned` and its job, both created and due `at`.
pub(crate) fn push_delivery<DB: Dialect>(
    batch: &mut DB::Batch,
    planned: &PlannedDelivery<'_>,
    at: Timestamp,
) {
    let event = planned.event;
    batch
        .push(
                "INSERT INTO webhook_deliveries (id, merchant_id, endpoint_id, event_id, event, payload, status, attempts, next_retry_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $8)",
            )
            .arg(planned.delivery_id.to_string())
            .arg(event.merchant_id.to_string())
            .arg(planned.endpoint_id.to_string())
            .arg(event.id.to_string())
            .arg(event.event_type.as_str())
            .arg(event.payload.clone())
            .arg(DeliveryStatus::Pending.as_str())
            .arg(at.as_millis());
    push_job::<DB>(batch, &NewJob::deliver_webhook(planned.delivery_id, at), at);
}

/// Appends the completion of the leased job; the command checks the rows changed (see
/// [`complete_leased_job`] for the single-statement form).
pub(crate) fn push_complete_leased_job<DB: Dialect>(
    batch: &mut DB::Batch,
    lease: &Lease,
    now: Timestamp,
) {
    batch
        .push(
            "UPDATE jobs SET status = $1, locked_by = NULL, locked_until = NULL, updated_at = $2
             WHERE id = $3 AND status = $4 AND locked_by = $5",
        )
        .arg(JobStatus::Completed.as_str())
        .arg(now.as_millis())
        .arg(lease.job_id)
        .arg(JobStatus::Running.as_str())
        .arg(lease.worker.clone());
}

/// Completes the leased job, or fails with `LeaseLost` if the lease is no longer held.
pub(crate) async fn complete_leased_job<DB: Dialect>(
    conn: &mut DB::Connection,
    lease: &Lease,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut batch = DB::Batch::default();
    push_complete_leased_job::<DB>(&mut batch, lease, now);
    if DB::execute_batch(conn, batch).await? == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost)
    }
}

/// Deletes up to `limit` expired idempotency records and up to `limit` events older than
/// `before.events` (completed jobs are pruned by the queue).
pub(crate) fn prune<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (before, limit): &'c (PruneBefore, u32),
) -> Fut<'c, u64> {
    Box::pin(async move {
        let keys = Sql::new(
            "DELETE FROM idempotency_keys WHERE (merchant_id, key) IN
                 (SELECT merchant_id, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)",
        )
        .arg(before.now.as_millis())
        .arg(i64::from(*limit));
        let keys = DB::execute(conn, keys).await?;
        let events = events::prune::<DB>(conn, before.events, *limit).await?;
        Ok(keys + events)
    })
}
