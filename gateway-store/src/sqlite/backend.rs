//! SQLite under the shared store layer: reads run on the reading task's own thread, every
//! write command goes through the group-commit writer, on its own connection, inside
//! `BEGIN IMMEDIATE` (which locks the whole database, so no row locks are taken), and jobs are
//! claimed with one `UPDATE … RETURNING`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::jobs::{ClaimedJob, JobStatus, Lease};
use gateway_core::store::PoolStatus;
use gateway_core::webhook::DeliveryAttempt;

use super::SqliteStore;
use super::direct::{self, Rusqlite};
use super::readers::Reader;
use crate::rows::claimed_job;
use crate::sql::{
    Backend, Command, Dialect, Fut, Sql, apply_change, before_attempt, bind_attempt_outcome,
};

#[async_trait]
impl Backend for SqliteStore {
    type DB = Rusqlite;
    type Writes = Rusqlite;
    type Reader = Reader;

    async fn reader(&self) -> Result<Reader, StoreError> {
        self.readers.acquire().await
    }

    fn pools(&self) -> Vec<PoolStatus> {
        vec![self.write.status(), self.readers.status()]
    }

    async fn transact<A, T>(
        &self,
        args: A,
        command: Command<Rusqlite, A, T>,
        _wake: bool,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        // The writer may run a command again (when another in its batch failed), so it gets a
        // closure over shared arguments.
        let args = Arc::new(args);
        self.write
            .write(move |tx| {
                let args = Arc::clone(&args);
                Box::pin(async move { command(tx, &args).await })
            })
            .await
    }

    async fn autocommit<A, T>(
        &self,
        args: A,
        command: Command<Rusqlite, A, T>,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        // Group commit beats a transaction of its own even for one statement.
        self.transact(args, command, false).await
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let args = (worker.to_owned(), now, now.plus(lease), limit);
        let rows = self.transact(args, claim, false).await?;
        rows.iter().map(|row| claimed_job(row, worker)).collect()
    }

    async fn record_delivery_attempt(
        &self,
        lease: &Lease,
        attempt: &DeliveryAttempt,
        disable_after: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let args = (lease.clone(), attempt.clone(), disable_after, now);
        self.transact(args, record_attempt, false).await
    }
}

/// Fails jobs whose worker died on their last allowed attempt, then claims due jobs.
fn claim<'c>(
    conn: &'c mut rusqlite::Connection,
    (worker, now, until, limit): &'c (String, Timestamp, Timestamp, u32),
) -> Fut<'c, Vec<direct::Row>> {
    Box::pin(async move {
        let fail_expired = Sql::new(CLAIM_FAIL_EXPIRED_LAST_ATTEMPTS)
            .arg(now.as_millis())
            .arg(JobStatus::Failed.as_str());
        Rusqlite::execute(conn, fail_expired).await?;
        let due = Sql::new(CLAIM_DUE)
            .arg(now.as_millis())
            .arg(worker.clone())
            .arg(until.as_millis())
            .arg(i64::from(*limit))
            .arg(JobStatus::Running.as_str());
        Rusqlite::fetch_all(conn, due).await
    })
}

// The statuses in the next two statements are literals, not parameters, so that the planner
// can see that the partial indexes (`WHERE status = 'queued'` / `'running'`) apply: a claim
// then reads only due rows, however many jobs wait for later.

/// Fails jobs whose worker died on their last allowed attempt.
const CLAIM_FAIL_EXPIRED_LAST_ATTEMPTS: &str =
    "UPDATE jobs SET status = $2, locked_by = NULL, locked_until = NULL, updated_at = $1,
        last_error = COALESCE(last_error, 'lease expired on the final attempt')
 WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts";

/// Leases up to `$4` due jobs: queued ones whose time has come, running ones whose lease expired.
const CLAIM_DUE: &str = "WITH due AS (
     SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $1
     UNION ALL
     SELECT id FROM jobs WHERE status = 'running' AND locked_until <= $1
     LIMIT $4)
 UPDATE jobs SET status = $5, locked_by = $2, locked_until = $3, attempts = attempts + 1, updated_at = $1
 WHERE id IN (SELECT id FROM due)
 RETURNING id, kind, entity_id, payload, attempts, max_attempts, request_id";

/// Asks core what the attempt does to its endpoint, then requeues or completes the job under
/// its lease, updates the delivery and logs the attempt (three rows change, or the lease was
/// lost and the command rolls back), then applies the endpoint's change.
fn record_attempt<'c>(
    conn: &'c mut rusqlite::Connection,
    (lease, attempt, disable_after, now): &'c (Lease, DeliveryAttempt, Duration, Timestamp),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let (attempt, change) =
            before_attempt::<Rusqlite>(conn, attempt, *disable_after, *now).await?;
        let id = attempt.delivery_id.to_string();
        let mut changed = Rusqlite::execute(conn, release_job(lease, &attempt, *now)).await?;
        for statement in [UPDATE_DELIVERY, LOG_ATTEMPT] {
            let sql = bind_attempt_outcome(Sql::new(statement), &attempt, *now).arg(id.clone());
            changed += Rusqlite::execute(conn, sql).await?;
        }
        if changed != 3 {
            return Err(StoreError::LeaseLost);
        }
        if let Some(change) = &change {
            apply_change::<Rusqlite>(conn, change, *now).await?;
        }
        Ok(())
    })
}

/// The job's requeue (for the attempt's retry) or completion, under its lease.
fn release_job(lease: &Lease, attempt: &DeliveryAttempt, now: Timestamp) -> Sql<Rusqlite> {
    let (job_status, attempts_reset) = match attempt.next_retry_at {
        Some(_) => (JobStatus::Queued, true),
        None => (JobStatus::Completed, false),
    };
    Sql::new(
        "UPDATE jobs SET status = $1, run_at = COALESCE($2, run_at), dispatched_at = NULL,
                attempts = CASE WHEN $3 THEN 0 ELSE attempts END,
                locked_by = NULL, locked_until = NULL, updated_at = $4
         WHERE id = $5 AND status = $6 AND locked_by = $7",
    )
    .arg(job_status.as_str())
    .arg(attempt.next_retry_at.map(Timestamp::as_millis))
    .arg(attempts_reset)
    .arg(now.as_millis())
    .arg(lease.job_id)
    .arg(JobStatus::Running.as_str())
    .arg(lease.worker.clone())
}

// The next two take the attempt's outcome as `$1`…`$9` (see `bind_attempt_outcome`) and the
// delivery's id as `$10`.

/// The delivery's state after the attempt.
const UPDATE_DELIVERY: &str = "UPDATE webhook_deliveries
    SET status = $1, attempts = $2, last_attempt_at = $3, next_retry_at = $4, response_code = $5,
        response_body = $6, duration_ms = $7, error = $8, updated_at = $9
  WHERE id = $10";

/// The attempt's log row.
const LOG_ATTEMPT: &str = "INSERT INTO webhook_attempts
    (delivery_id, attempt, attempted_at, response_code, response_body, duration_ms, error, status, next_retry_at)
    VALUES ($10, $2, $3, $5, $6, $7, $8, $1, $4)";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::sqlite::SqliteStore;

    /// SQLite's plan for `statement` on a fresh migrated file database, one step per line.
    async fn query_plan(statement: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let plan = {
            let reader = store.readers.acquire().await.unwrap();
            let mut explain = reader
                .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
                .unwrap();
            // Unbound parameters are NULL: the plan does not depend on them.
            let mut steps = explain.raw_query();
            let mut plan = Vec::new();
            while let Some(step) = steps.next().unwrap() {
                plan.push(step.get::<_, String>(3).unwrap());
            }
            plan
        };
        store.close().await;
        plan.join("\n")
    }

    #[tokio::test]
    async fn a_claim_reads_only_due_rows_through_the_partial_indexes() {
        for sql in [CLAIM_DUE, CLAIM_FAIL_EXPIRED_LAST_ATTEMPTS] {
            let plan = query_plan(sql).await;
            assert!(!plan.contains("SCAN jobs"), "{plan}");
            assert!(
                plan.contains("jobs_running_by_lease (locked_until<?)"),
                "{plan}"
            );
            if sql == CLAIM_DUE {
                assert!(plan.contains("jobs_queued_by_due (run_at<?)"), "{plan}");
            }
        }
    }

    #[tokio::test]
    async fn a_claim_is_compiled_once_whatever_its_limit_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store.close().await;
        let mut writer = crate::sqlite::open_writer(&path, false).unwrap();
        let mut reader = rusqlite::Connection::open(&path).unwrap();
        crate::sqlite::configure_reader(&reader).unwrap();
        for conn in [&mut writer, &mut reader] {
            for (n, limit) in [1_u32, 16, 3, 32, 7, 16].into_iter().enumerate() {
                let now = Timestamp::from_millis(1_000 + i64::try_from(n).unwrap());
                let until = Timestamp::from_millis(60_000);
                claim(conn, &("worker-1".to_owned(), now, until, limit))
                    .await
                    .unwrap();
            }
            // SQLite reads a bound `LIMIT` while planning; unless told to plan without bound
            // values, it compiles the statement again after every new binding.
            let recompiled = conn
                .prepare_cached(CLAIM_DUE)
                .unwrap()
                .get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(recompiled, 0);
        }
    }

    #[tokio::test]
    async fn the_relays_reads_walk_only_jobs_awaiting_dispatch() {
        for sql in [crate::sql::JOBS_TO_DISPATCH, crate::sql::DISPATCH_BACKLOG] {
            let plan = query_plan(sql).await;
            assert!(plan.contains("jobs_awaiting_dispatch"), "{plan}");
        }
    }

    #[tokio::test]
    async fn moving_a_due_backlog_reads_due_jobs_and_their_deliveries_by_key() {
        let plan = query_plan(&crate::sql::move_due_backlog::<Rusqlite>()).await;
        assert!(plan.contains("jobs_queued_by_due (run_at<?)"), "{plan}");
        assert!(!plan.contains("SCAN jobs"), "{plan}");
        assert!(!plan.contains("webhook_deliveries_by_endpoint"), "{plan}");
        assert!(!plan.contains("SCAN d"), "{plan}");
    }
}
