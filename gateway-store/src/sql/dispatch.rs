//! [`SqlStore`] as the [`JobOutbox`] a dispatching queue relays from: the job rows not handed
//! on yet (`dispatched_at IS NULL`), the re-arming of dispatches a queue lost, and claims of the
//! rows its entries name, which also record the rows just relayed. The database queue never
//! uses these.

use std::time::Duration;

use async_trait::async_trait;
use gateway_core::clock::Timestamp;
use gateway_core::jobs::{ClaimedJob, JobStatus};
use gateway_core::{DispatchBacklog, JobOutbox, OutboxJob, StoreError};

use super::dialect::Fut;
use super::store::{Backend, SqlStore};
use super::{Dialect, Sql, skip_locked};
use crate::rows::{Column, ReadRow, claimed_job};

/// Up to `$1` jobs not handed on since they were last queued. The statuses are literals, as in
/// every statement that reads jobs by state, so the plan can use the partial index
/// `jobs_awaiting_dispatch` (a prepared statement's generic plan cannot prove a parameter
/// matches an index's predicate).
pub(crate) const JOBS_TO_DISPATCH: &str =
    "SELECT id, status, attempts, updated_at, run_at, locked_until FROM jobs
     WHERE dispatched_at IS NULL AND status IN ('queued', 'running')
     ORDER BY id LIMIT $1";

/// How many jobs wait to be handed on, and when the first falls due (see [`JOBS_TO_DISPATCH`]).
pub(crate) const DISPATCH_BACKLOG: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS n,
            MIN(CASE WHEN status = 'running' THEN locked_until ELSE run_at END) AS due
     FROM jobs WHERE dispatched_at IS NULL AND status IN ('queued', 'running')";

#[async_trait]
impl<B: Backend> JobOutbox for SqlStore<B> {
    async fn jobs_to_dispatch(&self, limit: u32) -> Result<Vec<OutboxJob>, StoreError> {
        let sql = Sql::new(JOBS_TO_DISPATCH).arg(i64::from(limit));
        let rows = B::DB::fetch_all(&mut *self.read().await?, sql).await?;
        rows.iter().map(outbox_job).collect()
    }

    async fn dispatch_backlog(&self) -> Result<DispatchBacklog, StoreError> {
        let sql = Sql::new(DISPATCH_BACKLOG);
        let Some(row) = B::DB::fetch_optional(&mut *self.read().await?, sql).await? else {
            return Ok(DispatchBacklog::default());
        };
        Ok(DispatchBacklog {
            jobs: row.column("n")?,
            earliest_due: Column::<Option<i64>>::column(&row, "due")?.map(Timestamp::from_millis),
        })
    }

    async fn rearm_lost_dispatches(
        &self,
        now: Timestamp,
        overdue: Option<Duration>,
    ) -> Result<u64, StoreError> {
        self.backend
            .transact((now, overdue), rearm_lost_dispatches::<B::Writes>, false)
            .await
    }

    async fn claim_jobs_by_id(
        &self,
        worker: &str,
        ids: &[i64],
        now: Timestamp,
        lease: Duration,
        relayed: &[OutboxJob],
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        if ids.is_empty() && relayed.is_empty() {
            return Ok(Vec::new());
        }
        let args = (
            worker.to_owned(),
            ids.to_vec(),
            now,
            now.plus(lease),
            relayed.to_vec(),
        );
        let mut jobs = self
            .backend
            .transact(args, claim_jobs_by_id::<B::Writes>, false)
            .await?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }
}

/// The row's state as the relay read it; see [`OutboxJob::version`].
fn outbox_job(row: &impl ReadRow) -> Result<OutboxJob, StoreError> {
    let status: String = row.column("status")?;
    let attempts: i32 = row.column("attempts")?;
    let updated_at: i64 = row.column("updated_at")?;
    let run_at: i64 = row.column("run_at")?;
    let locked_until: Option<i64> = row.column("locked_until")?;
    let due = match JobStatus::parse(&status) {
        Some(JobStatus::Running) => locked_until.unwrap_or(run_at),
        _ => run_at,
    };
    Ok(OutboxJob {
        id: row.column("id")?,
        due: Timestamp::from_millis(due),
        version: format!("{status}:{attempts}:{updated_at}:{run_at}"),
    })
}

/// The one statement that marks `jobs` as handed on at `now`, each only if its row is still in
/// the state it was read in (`(id, version)` pairs as row values).
fn mark_statement<DB: Dialect>(jobs: &[OutboxJob], now: Timestamp) -> Sql<DB> {
    let pairs = (0..jobs.len())
        .map(|n| format!("(${}, ${})", 2 * n + 2, 2 * n + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = Sql::new(&format!(
        "UPDATE jobs SET dispatched_at = $1
         WHERE id IN (SELECT id FROM jobs
                      WHERE dispatched_at IS NULL
                        AND (id, status || ':' || attempts || ':' || updated_at || ':' || run_at) IN (VALUES {pairs}){})",
        skip_locked::<DB>()
    ))
    .arg(now.as_millis());
    for job in jobs {
        sql = sql.arg(job.id).arg(job.version.clone());
    }
    sql
}

/// Clears the dispatch of jobs a queue lost, so the relay hands them on again, and moves each
/// row's version on ([`moves_version_to`]): a relay that read the row before and marks it after
/// (its entry went to the Redis that lost it) then finds a changed row and leaves it unmarked.
fn rearm_lost_dispatches<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (now, overdue): &'c (Timestamp, Option<Duration>),
) -> Fut<'c, u64> {
    Box::pin(async move {
        // Without `overdue`, every queued job, due or not, and handed on or not: a relay may
        // have read one before this and handed it to the queue that was lost.
        let (long_ago, awaiting_relay_too) = match overdue {
            Some(overdue) => (
                now.as_millis()
                    .saturating_sub(i64::try_from(overdue.as_millis()).unwrap_or(i64::MAX)),
                "",
            ),
            None => (i64::MAX, " OR dispatched_at IS NULL"),
        };
        let expired = Sql::new(&format!(
            "UPDATE jobs SET dispatched_at = NULL, {}
             WHERE id IN (SELECT id FROM jobs
                          WHERE status = 'running' AND locked_until <= $1 AND dispatched_at < locked_until{})",
            moves_version_to("$1"),
            skip_locked::<DB>()
        ))
        .arg(now.as_millis());
        let overdue = Sql::new(&format!(
            "UPDATE jobs SET dispatched_at = NULL, {}
             WHERE id IN (SELECT id FROM jobs
                          WHERE status = 'queued' AND run_at <= $1 AND (dispatched_at <= $1{awaiting_relay_too}){})",
            moves_version_to("$2"),
            skip_locked::<DB>()
        ))
        .arg(long_ago)
        .arg(now.as_millis());
        Ok(DB::execute(conn, expired).await? + DB::execute(conn, overdue).await?)
    })
}

/// The assignment that moves a re-armed row's `updated_at` (part of the version a relay marks
/// rows by) to `now`, or a millisecond past its own when that is not earlier.
fn moves_version_to(now: &str) -> String {
    format!("updated_at = CASE WHEN updated_at < {now} THEN {now} ELSE updated_at + 1 END")
}

/// Marks the relayed jobs, fails the named jobs whose expired lease was their last attempt, then
/// leases the named jobs that are claimable (as the backends' own claims do for any due job).
#[allow(clippy::type_complexity)]
fn claim_jobs_by_id<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (worker, ids, now, until, relayed): &'c (
        String,
        Vec<i64>,
        Timestamp,
        Timestamp,
        Vec<OutboxJob>,
    ),
) -> Fut<'c, Vec<ClaimedJob>> {
    Box::pin(async move {
        if !relayed.is_empty() {
            DB::execute(conn, mark_statement(relayed, *now)).await?;
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // `$4`… are the ids: numbered after the fixed parameters, as each statement stands alone.
        let ids_in = |first: usize| {
            (first..first + ids.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut exhausted = Sql::new(&format!(
            "UPDATE jobs SET status = $1, locked_by = NULL, locked_until = NULL, updated_at = $2,
                    last_error = COALESCE(last_error, 'lease expired on the final attempt')
             WHERE id IN (SELECT id FROM jobs
                          WHERE status = $3 AND locked_until <= $2 AND attempts >= max_attempts AND id IN ({}){})",
            ids_in(4),
            skip_locked::<DB>()
        ))
        .arg(JobStatus::Failed.as_str())
        .arg(now.as_millis())
        .arg(JobStatus::Running.as_str());
        for id in ids {
            exhausted = exhausted.arg(*id);
        }
        DB::execute(conn, exhausted).await?;
        let mut claim = Sql::new(&format!(
            "UPDATE jobs SET status = $1, locked_by = $2, locked_until = $3, attempts = attempts + 1, updated_at = $4
             WHERE id IN (SELECT id FROM jobs
                          WHERE ((status = $5 AND run_at <= $4) OR (status = $1 AND locked_until <= $4)) AND id IN ({}){})
             RETURNING id, kind, entity_id, payload, attempts, max_attempts, request_id",
            ids_in(6),
            skip_locked::<DB>()
        ))
        .arg(JobStatus::Running.as_str())
        .arg(worker.clone())
        .arg(until.as_millis())
        .arg(now.as_millis())
        .arg(JobStatus::Queued.as_str());
        for id in ids {
            claim = claim.arg(*id);
        }
        DB::fetch_all(conn, claim)
            .await?
            .iter()
            .map(|row| claimed_job(row, worker))
            .collect()
    })
}
