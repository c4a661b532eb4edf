//! PostgreSQL under the shared store layer: every write command is one `READ COMMITTED`
//! transaction that locks the rows its rule reads (`FOR UPDATE`) and notifies workers in other
//! processes on commit; jobs are claimed with `FOR UPDATE SKIP LOCKED`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::jobs::{ClaimedJob, JobStatus, Lease};
use gateway_core::store::PoolStatus;
use gateway_core::webhook::DeliveryAttempt;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};
use tokio::sync::Notify;

use super::{JOBS_CHANNEL, PostgresStore};
use crate::error::db_error;
use crate::metrics::{pool_status, timed_acquire};
use crate::rows::claimed_job;
use crate::sql::{
    Backend, Batch, Bind, Command, Dialect, Fut, Sql, apply_change, before_attempt,
    single_statements,
};

/// Statements run one after another (PostgreSQL prepares one statement per call).
#[derive(Default)]
pub(crate) struct Sequence(Vec<Sql<Postgres>>);

impl Batch<Postgres> for Sequence {
    fn push(&mut self, sql: &'static str) -> &mut Self {
        self.0.push(Sql::new(sql));
        self
    }

    fn arg<T>(&mut self, value: T) -> &mut Self
    where
        Postgres: Bind<T>,
    {
        if let Some(last) = self.0.pop() {
            self.0.push(last.arg(value));
        }
        self
    }
}

impl Dialect for Postgres {
    const ROW_LOCKS: bool = true;
    type Batch = Sequence;

    single_statements!();

    fn execute_batch<'c>(conn: &'c mut PgConnection, batch: Sequence) -> Fut<'c, u64> {
        Box::pin(async move {
            let mut changed = 0;
            for sql in batch.0 {
                changed += Self::execute(&mut *conn, sql).await?;
            }
            Ok(changed)
        })
    }
}

/// Announces new jobs on [`JOBS_CHANNEL`]. Inside a transaction the notification is delivered
/// on commit (and dropped on rollback), so listeners never look before the jobs are visible.
async fn notify_jobs(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(JOBS_CHANNEL)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl Backend for PostgresStore {
    type DB = Postgres;

    async fn reader(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        timed_acquire("main", self.pool.acquire())
            .await
            .map_err(db_error)
    }

    fn pools(&self) -> Vec<PoolStatus> {
        vec![pool_status("main", &self.pool)]
    }

    async fn transact<A, T>(
        &self,
        args: A,
        command: Command<Postgres, A, T>,
        wake: bool,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let mut tx = self.begin().await?;
        let value = command(&mut tx, &args).await?;
        if wake {
            notify_jobs(&mut tx).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(value)
    }

    async fn autocommit<A, T>(
        &self,
        args: A,
        command: Command<Postgres, A, T>,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let mut conn = timed_acquire("main", self.pool.acquire())
            .await
            .map_err(db_error)?;
        command(&mut conn, &args).await
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now_ms = now.as_millis();
        let mut tx = self.begin_bookkeeping().await?;
        // A job whose worker died on its last allowed attempt is not retried forever. Rows another
        // claimer holds are skipped here too (it fails them itself).
        // Statuses in the WHERE clauses are literals so that the partial indexes apply to the
        // generic plans of these prepared statements (a parameter hides which index fits).
        let expired = Sql::<Postgres>::new(
            "UPDATE jobs SET status = $2, locked_by = NULL, locked_until = NULL, updated_at = $1,
                    last_error = COALESCE(last_error, 'lease expired on the final attempt')
             WHERE id IN (SELECT id FROM jobs WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts
                          FOR UPDATE SKIP LOCKED)",
        )
        .arg(now_ms)
        .arg(JobStatus::Failed.as_str());
        Postgres::execute(&mut tx, expired).await?;
        let claim = Sql::<Postgres>::new(CLAIM_DUE)
            .arg(now_ms)
            .arg(worker.to_owned())
            .arg(now.plus(lease).as_millis())
            .arg(i64::from(limit))
            .arg(JobStatus::Running.as_str());
        let rows = Postgres::fetch_all(&mut tx, claim).await?;
        tx.commit().await.map_err(db_error)?;
        let mut jobs = rows
            .iter()
            .map(|row| claimed_job(row, worker))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING has no order; hand jobs out oldest first, as SQLite does.
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    async fn record_delivery_attempt(
        &self,
        lease: &Lease,
        attempt: &DeliveryAttempt,
        disable_after: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_bookkeeping().await?;
        // The endpoint first (locked only if the attempt changes its health), as every command
        // that touches an endpoint and its deliveries locks them.
        let (attempt, change) =
            before_attempt::<Postgres>(&mut tx, attempt, disable_after, now).await?;
        let attempt = &attempt;
        // One statement: lock the delivery row before its job (as retry_delivery does), requeue
        // or complete the job under its lease, update the delivery and log the attempt. The
        // attempt is logged only if the lease was still held.
        let (job_status, attempts_reset) = match attempt.next_retry_at {
            Some(_) => (JobStatus::Queued, true),
            None => (JobStatus::Completed, false),
        };
        let sql = Sql::<Postgres>::new(
            "WITH delivery AS (
                 SELECT id FROM webhook_deliveries WHERE id = $10 FOR UPDATE),
             job AS (
                 UPDATE jobs SET status = $13, run_at = COALESCE($4::BIGINT, run_at), dispatched_at = NULL,
                        attempts = CASE WHEN $14 THEN 0 ELSE attempts END,
                        locked_by = NULL, locked_until = NULL, updated_at = $9
                  WHERE id = $11 AND status = $15 AND locked_by = $12 AND EXISTS (SELECT 1 FROM delivery)
                  RETURNING id),
             updated AS (
                 UPDATE webhook_deliveries SET status = $1, attempts = $2, last_attempt_at = $3, next_retry_at = $4,
                        response_code = $5, response_body = $6, duration_ms = $7, error = $8, updated_at = $9
                  WHERE id = $10 AND EXISTS (SELECT 1 FROM job)
                  RETURNING id)
             INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, response_code, response_body, duration_ms, error, status, next_retry_at)
             SELECT id, $2, $3, $5, $6, $7, $8, $1, $4 FROM updated",
        )
        .arg(attempt.status.as_str())
        .arg(attempt.attempt)
        .arg(attempt.attempted_at.as_millis())
        .arg(attempt.next_retry_at.map(Timestamp::as_millis))
        .arg(attempt.response_code)
        .arg(attempt.response_body.clone())
        .arg(attempt.duration_ms)
        .arg(attempt.error.clone())
        .arg(now.as_millis())
        .arg(attempt.delivery_id.to_string())
        .arg(lease.job_id)
        .arg(lease.worker.clone())
        .arg(job_status.as_str())
        .arg(attempts_reset)
        .arg(JobStatus::Running.as_str());
        if Postgres::execute(&mut tx, sql).await? == 0 {
            return Err(StoreError::LeaseLost);
        }
        if let Some(change) = &change {
            apply_change::<Postgres>(&mut tx, change, now).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn subscribe_jobs(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        self.subscribe(wake).await
    }
}

/// Leases up to `$4` due jobs, oldest due first: queued ones whose time has come, running
/// ones whose lease expired. Rows another claimer holds are skipped.
pub(crate) const CLAIM_DUE: &str = "WITH due AS (
     SELECT id FROM jobs
     WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1)
     ORDER BY run_at, id
     LIMIT $4
     FOR UPDATE SKIP LOCKED)
 UPDATE jobs j SET status = $5, locked_by = $2, locked_until = $3, attempts = j.attempts + 1, updated_at = $1
 FROM due WHERE j.id = due.id
 RETURNING j.id, j.kind, j.entity_id, j.payload, j.attempts, j.max_attempts, j.request_id";
