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
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres};
use tokio::sync::Notify;

use super::{BEGIN_BOOKKEEPING, JOBS_CHANNEL, PostgresStore};
use crate::error::db_error;
use crate::metrics::{pool_status, timed_acquire};
use crate::rows::Column;
use crate::rows::claimed_job;
use crate::sql::{
    Backend, Batch, Bind, Command, Dialect, Fut, Sql, apply_change, bind_attempt_outcome,
    confirm_change, foresee_change,
};

/// Statements sent [`STATEMENTS_PER_TRIP`] at a time as one statement: each a data-modifying
/// `WITH` query of it, so a command's writes cost one round trip instead of one each (on an
/// idle machine a round trip costs more than the statement; see
/// `benches/results/idle-pg-trace-2026-12-01`). Such queries share one snapshot and run in no
/// set order, which is why a [`Batch`]'s statements must be independent. Foreign keys are
/// checked when the whole statement ends, so a row may reference one inserted beside it.
#[derive(Default)]
pub(crate) struct Sequence {
    trips: Vec<Trip>,
}

/// Most statements sent as one: a large batch (an endpoint's catch-up) goes in several trips
/// rather than as one huge statement to plan.
const STATEMENTS_PER_TRIP: usize = 16;

/// Statements (renumbered onto one argument list) and their arguments, sent together.
struct Trip {
    statements: Vec<String>,
    sql: Sql<Postgres>,
    bound: usize,
}

impl Trip {
    fn new() -> Self {
        Self {
            statements: Vec::new(),
            sql: Sql::new(""),
            bound: 0,
        }
    }

    /// The one statement that runs them all and returns the rows they changed, as `n`.
    fn into_sql(mut self) -> Sql<Postgres> {
        let text = match self.statements.as_slice() {
            [one] => one.clone(),
            many => {
                let queries = many
                    .iter()
                    .enumerate()
                    .map(|(n, statement)| format!("s{n} AS ({statement} RETURNING 1)"))
                    .collect::<Vec<_>>()
                    .join(",\n");
                let counts = (0..many.len())
                    .map(|n| format!("(SELECT COUNT(*) FROM s{n})"))
                    .collect::<Vec<_>>()
                    .join(" + ");
                format!("WITH {queries}\nSELECT CAST({counts} AS BIGINT) AS n")
            }
        };
        self.sql.set_text(text);
        self.sql
    }
}

impl Batch<Postgres> for Sequence {
    fn push(&mut self, sql: &'static str) -> &mut Self {
        if self
            .trips
            .last()
            .is_none_or(|trip| trip.statements.len() >= STATEMENTS_PER_TRIP)
        {
            self.trips.push(Trip::new());
        }
        if let Some(trip) = self.trips.last_mut() {
            trip.statements.push(renumbered(sql, trip.bound));
        }
        self
    }

    fn arg<T>(&mut self, value: T) -> &mut Self
    where
        Postgres: Bind<T>,
    {
        if let Some(trip) = self.trips.last_mut() {
            trip.sql.bind(value);
            trip.bound += 1;
        }
        self
    }
}

impl Dialect for Postgres {
    const ROW_LOCKS: bool = true;
    type Connection = PgConnection;
    type Row = PgRow;
    type Batch = Sequence;

    fn fetch_all<'c>(conn: &'c mut PgConnection, sql: Sql<Self>) -> Fut<'c, Vec<PgRow>> {
        Box::pin(async move {
            let (text, args) = sql.into_parts()?;
            sqlx::query_with(sqlx::AssertSqlSafe(text), args)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)
        })
    }

    fn fetch_optional<'c>(conn: &'c mut PgConnection, sql: Sql<Self>) -> Fut<'c, Option<PgRow>> {
        Box::pin(async move {
            let (text, args) = sql.into_parts()?;
            sqlx::query_with(sqlx::AssertSqlSafe(text), args)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)
        })
    }

    fn execute<'c>(conn: &'c mut PgConnection, sql: Sql<Self>) -> Fut<'c, u64> {
        Box::pin(async move {
            let (text, args) = sql.into_parts()?;
            sqlx::query_with(sqlx::AssertSqlSafe(text), args)
                .execute(&mut *conn)
                .await
                .map(|done| done.rows_affected())
                .map_err(db_error)
        })
    }

    fn execute_batch<'c>(conn: &'c mut PgConnection, batch: Sequence) -> Fut<'c, u64> {
        Box::pin(async move {
            let mut changed = 0;
            for trip in batch.trips {
                changed += if trip.statements.len() == 1 {
                    <Self as Dialect>::execute(&mut *conn, trip.into_sql()).await?
                } else {
                    let row =
                        <Self as Dialect>::fetch_optional(&mut *conn, trip.into_sql()).await?;
                    let n: i64 = row.map_or(Ok(0), |row| row.column("n"))?;
                    u64::try_from(n).unwrap_or(0)
                };
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
    type Writes = Postgres;
    type Reader = PoolConnection<Postgres>;

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
        let mut conn = timed_acquire("main", self.pool.acquire())
            .await
            .map_err(db_error)?;
        let claim = Sql::<Postgres>::new(CLAIM_DUE)
            .arg(now.as_millis())
            .arg(worker.to_owned())
            .arg(now.plus(lease).as_millis())
            .arg(i64::from(limit))
            .arg(JobStatus::Running.as_str())
            .arg(JobStatus::Failed.as_str());
        let rows = Postgres::fetch_all(&mut conn, claim).await?;
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
        let mut conn = timed_acquire("main", self.pool.acquire())
            .await
            .map_err(db_error)?;
        let Some(foreseen) =
            foresee_change::<Postgres>(&mut conn, attempt, disable_after, now).await?
        else {
            // The common case: only the attempt's own rows change, in one statement committed
            // on its own (a round trip instead of three).
            return held(Postgres::execute(&mut conn, record_attempt(lease, attempt, now)).await?);
        };
        let mut tx = sqlx::Connection::begin_with(&mut *conn, BEGIN_BOOKKEEPING)
            .await
            .map_err(db_error)?;
        // The endpoint first (locked, as the attempt changes its health), as every command that
        // touches an endpoint and its deliveries locks them.
        let (attempt, change) =
            confirm_change::<Postgres>(&mut tx, attempt, Some(foreseen), disable_after, now)
                .await?;
        held(Postgres::execute(&mut tx, record_attempt(lease, &attempt, now)).await?)?;
        if let Some(change) = &change {
            apply_change::<Postgres>(&mut tx, change, now).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn subscribe_jobs(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        self.subscribe(wake).await
    }
}

/// `Ok` if the attempt was recorded, `LeaseLost` if the job's lease had ended.
fn held(changed: u64) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::LeaseLost)
    } else {
        Ok(())
    }
}

/// One statement that records `attempt` under `lease`: locks the delivery row before its job (as
/// `retry_delivery` does), requeues or completes the job under its lease, updates the delivery
/// and logs the attempt. Nothing is written unless the lease was still held. Like a claim, it
/// commits without waiting for its WAL flush (see [`BEGIN_BOOKKEEPING`]).
fn record_attempt(lease: &Lease, attempt: &DeliveryAttempt, now: Timestamp) -> Sql<Postgres> {
    let (job_status, attempts_reset) = match attempt.next_retry_at {
        Some(_) => (JobStatus::Queued, true),
        None => (JobStatus::Completed, false),
    };
    bind_attempt_outcome(
        Sql::<Postgres>::new(
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
             SELECT id, $2, $3, $5, $6, $7, $8, $1, $4
             FROM updated CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS bookkeeping",
        ),
        attempt,
        now,
    )
    .arg(attempt.delivery_id.to_string())
    .arg(lease.job_id)
    .arg(lease.worker.clone())
    .arg(job_status.as_str())
    .arg(attempts_reset)
    .arg(JobStatus::Running.as_str())
}

/// One statement, so one round trip committed on its own: fails the jobs whose worker died on
/// their last allowed attempt (so they are not retried forever), and leases up to `$4` due jobs,
/// oldest due first: queued ones whose time has come, running ones whose lease expired with
/// attempts left. The two sets are disjoint, so no row is changed twice by the one statement.
/// Rows another claimer holds are skipped. It commits without waiting for its WAL flush, as the
/// worker's other bookkeeping does (see [`BEGIN_BOOKKEEPING`]): `set_config` with `is_local`
/// lasts to the end of the statement's own transaction, its commit included.
///
/// Statuses in the WHERE clauses are literals so that the partial indexes apply to the generic
/// plan of this prepared statement (a parameter hides which index fits).
pub(crate) const CLAIM_DUE: &str = "WITH expired AS (
     UPDATE jobs SET status = $6, locked_by = NULL, locked_until = NULL, updated_at = $1,
            last_error = COALESCE(last_error, 'lease expired on the final attempt')
     WHERE id IN (SELECT id FROM jobs
                  WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts
                  FOR UPDATE SKIP LOCKED)),
 due AS (
     SELECT id FROM jobs
     WHERE (status = 'queued' AND run_at <= $1)
        OR (status = 'running' AND locked_until <= $1 AND attempts < max_attempts)
     ORDER BY run_at, id
     LIMIT $4
     FOR UPDATE SKIP LOCKED)
 UPDATE jobs j SET status = $5, locked_by = $2, locked_until = $3, attempts = j.attempts + 1, updated_at = $1
 FROM due CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS bookkeeping
 WHERE j.id = due.id
 RETURNING j.id, j.kind, j.entity_id, j.payload, j.attempts, j.max_attempts, j.request_id";

/// `sql` with each parameter `$N` (or `?N`) written `$M`, `M = N + offset`: statements written
/// to stand alone can then share one argument list.
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find(['?', '$']) {
        out.push_str(&rest[..at]);
        out.push('$');
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            out.push_str(&(n + offset).to_string());
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::{Connection, PgConnection};

    use super::*;

    /// A connection in a transaction holding two scratch tables (dropped with it): `parent`,
    /// and `child` whose rows must name a parent.
    async fn scratch() -> PgConnection {
        let url = std::env::var("GATEWAY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "BEGIN;
             CREATE TEMP TABLE parent (id BIGINT PRIMARY KEY, note TEXT) ON COMMIT DROP;
             CREATE TEMP TABLE child (id BIGINT PRIMARY KEY, parent BIGINT NOT NULL REFERENCES parent (id)) ON COMMIT DROP;
             INSERT INTO parent VALUES (1, 'old');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn
    }

    /// Appends the insert of a `parent` row.
    fn push_parent(batch: &mut Sequence, id: i64, note: &str) {
        batch
            .push("INSERT INTO parent (id, note) VALUES ($1, $2)")
            .arg(id)
            .arg(note.to_owned());
    }

    #[test]
    fn statements_sent_together_share_one_argument_list() {
        let mut batch = Sequence::default();
        push_parent(&mut batch, 2, "two");
        batch
            .push("UPDATE parent SET note = $1 WHERE id = $2")
            .arg("new")
            .arg(1_i64);
        let trip = batch.trips.pop().unwrap();
        assert!(batch.trips.is_empty());
        let (text, _) = trip.into_sql().into_parts().unwrap();
        assert_eq!(
            text,
            "WITH s0 AS (INSERT INTO parent (id, note) VALUES ($1, $2) RETURNING 1),\n\
             s1 AS (UPDATE parent SET note = $3 WHERE id = $4 RETURNING 1)\n\
             SELECT CAST((SELECT COUNT(*) FROM s0) + (SELECT COUNT(*) FROM s1) AS BIGINT) AS n"
        );
    }

    #[tokio::test]
    async fn a_batch_runs_in_trips_and_counts_every_row_it_changed() {
        let mut conn = scratch().await;
        let mut batch = Sequence::default();
        // 20 parents and a child of each (a row may name a parent inserted beside it), an
        // update of the old row and one that matches nothing: 42 statements, 3 trips.
        for id in 2..22_i64 {
            push_parent(&mut batch, id, &format!("parent {id}"));
            batch
                .push("INSERT INTO child (id, parent) VALUES ($1, $1)")
                .arg(id);
        }
        batch
            .push("UPDATE parent SET note = $1 WHERE id = $2 AND note = $3")
            .arg("new")
            .arg(1_i64)
            .arg("old");
        batch
            .push("UPDATE parent SET note = $1 WHERE id = $2")
            .arg("none")
            .arg(99_i64);
        assert_eq!(batch.trips.len(), 3);
        let changed = Postgres::execute_batch(&mut conn, batch).await.unwrap();
        assert_eq!(changed, 41);
        let (parents, children, note): (i64, i64, String) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM parent), (SELECT COUNT(*) FROM child),
                    (SELECT note FROM parent WHERE id = 1)",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((parents, children, note.as_str()), (21, 20, "new"));
    }

    #[tokio::test]
    async fn a_child_naming_no_parent_fails_the_whole_trip() {
        let mut conn = scratch().await;
        let mut batch = Sequence::default();
        push_parent(&mut batch, 2, "two");
        batch
            .push("INSERT INTO child (id, parent) VALUES ($1, $2)")
            .arg(1_i64)
            .arg(404_i64);
        assert!(Postgres::execute_batch(&mut conn, batch).await.is_err());
    }
}
