//! The job queue's statements that both dialects share (claiming and recording a delivery
//! attempt are the backends' own). Every change to a held job is checked against its lease.
//! (The worker's heartbeat lives here too: it is written by the worker loop, beside its claims.)

use std::time::Duration;

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::jobs::{JobStatus, Lease, NewJob};

use super::dialect::Fut;
use super::outbox::{complete_leased_job, push_job};
use super::{Dialect, Sql};

/// `Ok` if the lease-checked update changed the job, `LeaseLost` otherwise.
fn held(changed: u64) -> Result<(), StoreError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost)
    }
}

/// Marks a job completed (its work was a no-op).
pub(crate) fn complete_job<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, now): &'c (Lease, Timestamp),
) -> Fut<'c, ()> {
    Box::pin(complete_leased_job::<DB>(conn, lease, *now))
}

/// Puts a running job back in the queue until `run_at` without using up an attempt.
pub(crate) fn defer_job<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, run_at, now): &'c (Lease, Timestamp, Timestamp),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let sql = Sql::new(
            "UPDATE jobs SET status = $1, run_at = $2, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    dispatched_at = NULL, locked_by = NULL, locked_until = NULL, updated_at = $3
             WHERE id = $4 AND status = $5 AND locked_by = $6",
        )
        .arg(JobStatus::Queued.as_str())
        .arg(run_at.as_millis())
        .arg(now.as_millis())
        .arg(lease.job_id)
        .arg(JobStatus::Running.as_str())
        .arg(lease.worker.clone());
        held(DB::execute(conn, sql).await?)
    })
}

/// Records a handler failure: queued again at `retry_at`, or `failed` when `None`.
pub(crate) fn fail_job<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, error, retry_at, now): &'c (Lease, String, Option<Timestamp>, Timestamp),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let (status, run_at) = match retry_at {
            Some(at) => (JobStatus::Queued, Some(at.as_millis())),
            None => (JobStatus::Failed, None),
        };
        let sql = Sql::new(
            "UPDATE jobs SET status = $1, run_at = COALESCE($2, run_at), last_error = $3, dispatched_at = NULL, locked_by = NULL,
                    locked_until = NULL, updated_at = $4
             WHERE id = $5 AND status = $6 AND locked_by = $7",
        )
        .arg(status.as_str())
        .arg(run_at)
        .arg(error.clone())
        .arg(now.as_millis())
        .arg(lease.job_id)
        .arg(JobStatus::Running.as_str())
        .arg(lease.worker.clone());
        held(DB::execute(conn, sql).await?)
    })
}

/// Hands back every job `worker` holds (graceful shutdown).
pub(crate) fn release_jobs<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (worker, now): &'c (String, Timestamp),
) -> Fut<'c, u64> {
    Box::pin(async move {
        let sql = Sql::new(
            "UPDATE jobs SET status = $1, locked_by = NULL, locked_until = NULL, dispatched_at = NULL,
                    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $2
             WHERE status = $3 AND locked_by = $4",
        )
        .arg(JobStatus::Queued.as_str())
        .arg(now.as_millis())
        .arg(JobStatus::Running.as_str())
        .arg(worker.clone());
        DB::execute(conn, sql).await
    })
}

/// Extends a held lease to `now + duration`.
pub(crate) fn extend_lease<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, now, duration): &'c (Lease, Timestamp, Duration),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let sql = Sql::new(
            "UPDATE jobs SET locked_until = $1, updated_at = $2
             WHERE id = $3 AND status = $4 AND locked_by = $5",
        )
        .arg(now.plus(*duration).as_millis())
        .arg(now.as_millis())
        .arg(lease.job_id)
        .arg(JobStatus::Running.as_str())
        .arg(lease.worker.clone());
        held(DB::execute(conn, sql).await?)
    })
}

/// Enqueues `job` on its own (a custom kind's job, outside any domain command).
pub(crate) fn enqueue_job<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (job, now): &'c (NewJob, Timestamp),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let mut batch = DB::Batch::default();
        push_job::<DB>(&mut batch, job, *now);
        DB::execute_batch(conn, batch).await.map(|_| ())
    })
}

/// Deletes up to `limit` jobs completed before `before`.
pub(crate) fn prune_jobs<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (before, limit): &'c (Timestamp, u32),
) -> Fut<'c, u64> {
    Box::pin(async move {
        let jobs = Sql::new(
            // A literal status, so that the partial index `jobs_completed_by_age` applies.
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status = 'completed' AND updated_at < $1 LIMIT $2)",
        )
        .arg(before.as_millis())
        .arg(i64::from(*limit));
        DB::execute(conn, jobs).await
    })
}

/// Records that `worker` is alive.
pub(crate) fn heartbeat<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (worker, now): &'c (String, Timestamp),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let sql = Sql::new(
            "INSERT INTO worker_heartbeats (worker, seen_at) VALUES ($1, $2)
             ON CONFLICT (worker) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .arg(worker.clone())
        .arg(now.as_millis());
        DB::execute(conn, sql).await.map(|_| ())
    })
}
