//! Statements shared by write commands, run inside the caller's transaction: the idempotency
//! record, events → deliveries + delivery jobs, jobs, and lease-checked job completion.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::event::Event;
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::jobs::{Lease, NewJob};
use sqlx::SqliteConnection;

use super::statements::Statements;
use crate::error::db_error;

/// Writes the idempotency record first, so a concurrent duplicate fails before doing anything.
/// An expired record under the same key is replaced.
pub(crate) async fn claim_idempotency_key(
    conn: &mut SqliteConnection,
    merchant: &str,
    record: Option<&IdempotencyRecord>,
) -> Result<(), StoreError> {
    let Some(record) = record else { return Ok(()) };
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (merchant_id, key, fingerprint, response, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (merchant_id, key) DO UPDATE SET
             fingerprint = excluded.fingerprint, response = excluded.response,
             created_at = excluded.created_at, expires_at = excluded.expires_at
         WHERE idempotency_keys.expires_at <= excluded.created_at",
    )
    .bind(merchant)
    .bind(&record.key)
    .bind(&record.fingerprint)
    .bind(&record.response)
    .bind(record.created_at.as_millis())
    .bind(record.expires_at.as_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if inserted.rows_affected() == 0 {
        Err(StoreError::IdempotencyKeyTaken)
    } else {
        Ok(())
    }
}

/// Enqueues `job`.
pub(crate) async fn insert_job(
    conn: &mut SqliteConnection,
    job: &NewJob,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut statements = Statements::default();
    push_job(&mut statements, job, now);
    statements.execute(conn).await?;
    Ok(())
}

/// Appends the insert of `job`.
pub(crate) fn push_job(statements: &mut Statements, job: &NewJob, now: Timestamp) {
    statements
        .push(
            "INSERT INTO jobs (kind, entity_id, payload, status, attempts, max_attempts, run_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?6, ?6)",
        )
        .bind(job.kind.as_str())
        .bind(job.entity_id.clone())
        .bind(job.payload.clone())
        .bind(job.max_attempts)
        .bind(job.run_at.as_millis())
        .bind(now.as_millis());
}

/// Appends what records `events`: for a merchant with a webhook URL, each becomes a pending
/// delivery and a delivery job due now. Returns the rows that changes when the merchant has a
/// URL (two per event).
pub(crate) fn push_events(statements: &mut Statements, events: &[Event]) -> u64 {
    for event in events {
        statements
            .push(
                "INSERT INTO webhook_deliveries (id, merchant_id, event, payload, status, attempts, next_retry_at, created_at, updated_at)
                 SELECT ?1, id, ?2, ?3, 'pending', 0, ?4, ?4, ?4 FROM merchants WHERE id = ?5 AND webhook_url IS NOT NULL",
            )
            .bind(event.delivery_id.to_string())
            .bind(event.event_type.as_str())
            .bind(event.payload.clone())
            .bind(event.created_at.as_millis())
            .bind(event.merchant_id.to_string());
        // `changes()` is the rows the delivery insert just made: the job exists iff it does.
        let job = NewJob::deliver_webhook(event.delivery_id, event.created_at);
        statements
            .push(
                "INSERT INTO jobs (kind, entity_id, payload, status, attempts, max_attempts, run_at, created_at, updated_at)
                 SELECT ?1, ?2, NULL, 'queued', 0, ?3, ?4, ?4, ?4 WHERE changes() = 1",
            )
            .bind(job.kind.as_str())
            .bind(job.entity_id)
            .bind(job.max_attempts)
            .bind(event.created_at.as_millis());
    }
    2 * events.len() as u64
}

/// Records `events` (see [`push_events`]) in one call. With `require_url`, a merchant without
/// a URL is an error.
pub(crate) async fn record_events(
    conn: &mut SqliteConnection,
    events: &[Event],
    require_url: bool,
) -> Result<(), StoreError> {
    let mut statements = Statements::default();
    let expected = push_events(&mut statements, events);
    let changed = statements.execute(conn).await?;
    if require_url && changed < expected {
        return Err(StoreError::InvalidState(
            "Webhook URL is not configured".into(),
        ));
    }
    Ok(())
}

/// Completes the leased job, or fails with `LeaseLost` if the lease is no longer held.
pub(crate) async fn complete_leased_job(
    conn: &mut SqliteConnection,
    lease: &Lease,
    now: Timestamp,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'completed', locked_by = NULL, locked_until = NULL, updated_at = ?1
         WHERE id = ?2 AND status = 'running' AND locked_by = ?3",
    )
    .bind(now.as_millis())
    .bind(lease.job_id)
    .bind(&lease.worker)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost)
    }
}
