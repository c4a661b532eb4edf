//! The job queue's statements that both dialects share (claiming and recording a delivery
//! attempt are the backends' own). Every change to a held job is checked against its lease.
//! (The worker's heartbeat lives here too: it is written by the worker loop, beside its claims.)

use std::time::Duration;

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::ids::EndpointId;
use gateway_core::jobs::{JobKind, JobStatus, Lease, NewJob};

use super::dialect::Fut;
use super::outbox::{complete_leased_job, push_job};
use super::{Dialect, Sql, skip_locked};

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
    Box::pin(async move { held(DB::execute(conn, defer_statement(lease, *run_at, *now)).await?) })
}

/// The arguments of [`defer_endpoint_backlog`]: the held delivery job, its endpoint, when it
/// and the backlog run again, now.
pub(crate) type DeferBacklog = (Lease, EndpointId, Timestamp, Timestamp);

/// Defers a held delivery job as [`defer_job`] does, and moves every other queued delivery to
/// the same endpoint that is due at `now` to `run_at`; returns how many others moved. Only due
/// rows move: the scan walks the queue's due index and reads each row's endpoint by the
/// delivery's key, so its cost follows the jobs due now, never the endpoint's backlog or
/// history (a backlog parked earlier is left where it is, and is parked again as a group once
/// it comes due).
pub(crate) fn defer_endpoint_backlog<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, endpoint, run_at, now): &'c DeferBacklog,
) -> Fut<'c, u64> {
    Box::pin(async move {
        held(DB::execute(conn, defer_statement(lease, *run_at, *now)).await?)?;
        let sql = Sql::new(&move_due_backlog::<DB>())
            .arg(run_at.as_millis())
            .arg(now.as_millis())
            .arg(endpoint.to_string());
        DB::execute(conn, sql).await
    })
}

/// The statement behind [`defer_endpoint_backlog`]: moves the queued delivery jobs due at `$2`
/// whose delivery goes to endpoint `$3` to `$1`.
pub(crate) fn move_due_backlog<DB: Dialect>() -> String {
    format!(
        "UPDATE jobs SET run_at = $1, dispatched_at = NULL, updated_at = $2
         WHERE id IN (
             SELECT j.id FROM jobs j
             WHERE j.status = 'queued' AND j.run_at <= $2 AND j.kind = '{kind}'
               AND (SELECT d.endpoint_id FROM webhook_deliveries d WHERE d.id = j.entity_id) = $3
             {lock})",
        kind = JobKind::DeliverWebhook.as_str(),
        lock = skip_locked::<DB>(),
    )
}

/// The lease-checked update that queues a running job again at `run_at`, giving back the
/// attempt its claim took.
fn defer_statement<DB: Dialect>(lease: &Lease, run_at: Timestamp, now: Timestamp) -> Sql<DB> {
    Sql::new(
        "UPDATE jobs SET status = $1, run_at = $2, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                dispatched_at = NULL, locked_by = NULL, locked_until = NULL, updated_at = $3
         WHERE id = $4 AND status = $5 AND locked_by = $6",
    )
    .arg(JobStatus::Queued.as_str())
    .arg(run_at.as_millis())
    .arg(now.as_millis())
    .arg(lease.job_id)
    .arg(JobStatus::Running.as_str())
    .arg(lease.worker.clone())
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
