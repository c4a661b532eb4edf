//! Statements shared by write commands, run inside the caller's transaction: the idempotency
//! record, events → deliveries + delivery jobs, jobs, the wake-up notification, and
//! lease-checked job completion.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::event::Event;
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::jobs::{Lease, NewJob};
use sqlx::PgConnection;

use super::JOBS_CHANNEL;
use crate::error::db_error;

/// Writes the idempotency record first, so a concurrent duplicate fails before doing anything
/// (it waits for this transaction, then finds the key taken). An expired record under the same
/// key is replaced.
pub(crate) async fn claim_idempotency_key(
    conn: &mut PgConnection,
    merchant: &str,
    record: Option<&IdempotencyRecord>,
) -> Result<(), StoreError> {
    let Some(record) = record else { return Ok(()) };
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (merchant_id, key, fingerprint, response, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
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

/// Enqueues `job`. The caller sends [`notify_jobs`] once before committing.
pub(crate) async fn insert_job(
    conn: &mut PgConnection,
    job: &NewJob,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (kind, entity_id, payload, status, attempts, max_attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6)",
    )
    .bind(job.kind.as_str())
    .bind(&job.entity_id)
    .bind(&job.payload)
    .bind(job.max_attempts)
    .bind(job.run_at.as_millis())
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Announces new jobs on [`JOBS_CHANNEL`]. Inside a transaction the notification is delivered
/// on commit (and dropped on rollback), so listeners never look before the jobs are visible.
pub(crate) async fn notify_jobs(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(JOBS_CHANNEL)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Records `events`: for a merchant with a webhook URL, each becomes a pending delivery and a
/// delivery job due now. With `require_url`, a merchant without a URL is an error. Returns how
/// many jobs were enqueued (the caller notifies if any).
pub(crate) async fn record_events(
    conn: &mut PgConnection,
    events: &[Event],
    require_url: bool,
) -> Result<usize, StoreError> {
    let mut jobs = 0;
    for event in events {
        let created = sqlx::query(
            "INSERT INTO webhook_deliveries (id, merchant_id, event, payload, status, attempts, next_retry_at, created_at, updated_at)
             SELECT $1, id, $2, $3, 'pending', 0, $4, $4, $4 FROM merchants WHERE id = $5 AND webhook_url IS NOT NULL",
        )
        .bind(event.delivery_id.to_string())
        .bind(event.event_type.as_str())
        .bind(&event.payload)
        .bind(event.created_at.as_millis())
        .bind(event.merchant_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        if created.rows_affected() == 1 {
            insert_job(
                conn,
                &NewJob::deliver_webhook(event.delivery_id, event.created_at),
                event.created_at,
            )
            .await?;
            jobs += 1;
        } else if require_url {
            return Err(StoreError::InvalidState(
                "Webhook URL is not configured".into(),
            ));
        }
    }
    Ok(jobs)
}

/// Completes the leased job, or fails with `LeaseLost` if the lease is no longer held.
pub(crate) async fn complete_leased_job(
    conn: &mut PgConnection,
    lease: &Lease,
    now: Timestamp,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'completed', locked_by = NULL, locked_until = NULL, updated_at = $1
         WHERE id = $2 AND status = 'running' AND locked_by = $3",
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
