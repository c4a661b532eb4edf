//! [`PostgresStore`]: the shared backend for several gateway processes.
//!
//! Concurrency discipline: every command (written once, in `crate::sql`) is one
//! `READ COMMITTED` transaction that locks the row its rule reads (`SELECT … FOR UPDATE` on the
//! order or payment), then reads its snapshot in a new statement, so it sees whatever a writer
//! that held the lock committed; writes are guarded by the state core decided from
//! (`UPDATE … WHERE status = $n`). Never a stricter isolation level. Workers in any number of processes claim jobs with `FOR UPDATE SKIP LOCKED` and wake
//! on `LISTEN/NOTIFY` (channel [`JOBS_CHANNEL`]); every transaction that enqueues a job notifies
//! on commit.
//!
//! Lock order (so commands cannot deadlock each other): a webhook delivery row before its jobs;
//! an order row before new payments; a job row before the payment, refund or order it settles.

mod backend;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gateway_core::StoreError;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;

use crate::error::db_error;

/// The `LISTEN/NOTIFY` channel on which every job insert is announced.
pub const JOBS_CHANNEL: &str = "gateway_jobs";

/// Starts a transaction of the worker's own bookkeeping (delivery attempts) that commits without
/// waiting for its WAL flush, in one round trip (both statements go in one simple-query
/// message). A crash of the database may lose the last fraction of a second of them: the job is
/// then claimed again or the webhook sent again, which the at-least-once design already allows.
/// A later durable commit flushes them too, so nothing that depends on one can outlive it. Money
/// (payments, refunds, settlements) always waits for the flush. Claims, and attempts that change
/// nothing else, are single statements that turn the wait off themselves.
const BEGIN_BOOKKEEPING: &str = "BEGIN; SET LOCAL synchronous_commit = off";

/// Connections per process unless the caller asks otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = crate::DEFAULT_POSTGRES_CONNECTIONS;
/// How long a request waits for a connection before the store reports `Unavailable` (a down
/// database fails fast instead of hanging requests).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The server aborts any statement (including lock waits) running longer than this.
const STATEMENT_TIMEOUT: &str = "10s";
/// The pause between attempts to re-establish a broken `LISTEN` subscription.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// The gateway's data in a PostgreSQL database, shared by any number of processes. It becomes
/// a [`gateway_core::Store`] with [`PostgresStore::into_store`] (or [`crate::open`]).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:5432/db`) with
    /// [`DEFAULT_MAX_CONNECTIONS`] pooled connections.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_max(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects to `url` with at most `max_connections` pooled connections (at least 2: each
    /// job subscription holds one).
    ///
    /// Each connection gets a server-side `statement_timeout` of 10 s (it overrides one given in
    /// the URL's `options`). A connection broken by a database restart is dropped after its
    /// first failed query, so the pool recovers by itself. A database that cannot be reached
    /// yields `Unavailable` after 5 s.
    pub async fn connect_with_max(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("gateway")
            .options([("statement_timeout", STATEMENT_TIMEOUT)]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping per checkout would double the round trips of a one-statement command. A
            // connection broken by a database restart fails its next query (503) and is dropped.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Ok(Self { pool })
    }

    /// Applies the embedded migrations (concurrent callers wait on an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    /// Starts a (`READ COMMITTED`) transaction.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        crate::metrics::timed_acquire("main", self.pool.begin())
            .await
            .map_err(db_error)
    }

    /// The [`gateway_core::Store`] over this database.
    pub fn into_store(self) -> Arc<dyn gateway_core::Store> {
        Arc::new(crate::sql::SqlStore { backend: self })
    }

    /// Closes the pool; the `LISTEN` task, if any, ends with it.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Opens a listener on [`JOBS_CHANNEL`] from the pool.
    async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(JOBS_CHANNEL).await?;
        Ok(listener)
    }

    /// Subscribes `wake` to [`JOBS_CHANNEL`]: returns once `LISTEN` is in place, then forwards
    /// each notification from a background task. A broken subscription is rebuilt every
    /// [`LISTEN_RETRY`] until it works again, and `wake` is notified after each rebuild because
    /// notifications sent meanwhile are lost. The task ends when the pool closes or nobody else
    /// holds `wake` any more.
    async fn subscribe(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let mut listener = Some(Self::listen(&pool).await.map_err(db_error)?);
        tokio::spawn(async move {
            loop {
                if let Some(subscribed) = listener.as_mut() {
                    match subscribed.try_recv().await {
                        // A notification, or `None`: the connection dropped and was
                        // re-established, losing what was sent meanwhile, so look anyway.
                        Ok(_) => wake.notify_one(),
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "job notifications interrupted; resubscribing");
                            // Give the broken connection back before trying again.
                            listener = None;
                        }
                    }
                } else {
                    tokio::time::sleep(LISTEN_RETRY).await;
                    if pool.is_closed() {
                        return;
                    }
                    match Self::listen(&pool).await {
                        Ok(subscribed) => {
                            listener = Some(subscribed);
                            wake.notify_one();
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "resubscribing to job notifications failed")
                        }
                    }
                }
                if Arc::strong_count(&wake) == 1 {
                    return;
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn synchronous_commit(tx: &mut Transaction<'static, Postgres>) -> String {
        sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut **tx)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn only_bookkeeping_transactions_skip_the_flush() {
        let url = std::env::var("GATEWAY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let store = PostgresStore::connect_with_max(&url, 2).await.unwrap();
        let mut bookkeeping = store.pool.begin_with(BEGIN_BOOKKEEPING).await.unwrap();
        assert_eq!(synchronous_commit(&mut bookkeeping).await, "off");
        bookkeeping.commit().await.unwrap();
        // SET LOCAL ends with its transaction: the same pooled connection waits again.
        let mut money = store.begin().await.unwrap();
        assert_eq!(synchronous_commit(&mut money).await, "on");
        money.rollback().await.unwrap();
        store.pool.close().await;
    }
}

#[cfg(test)]
mod plan_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::Connection;

    use super::*;

    /// A fresh migrated database, dropped by [`Scratch::remove`].
    struct Scratch {
        store: PostgresStore,
        admin: sqlx::PgConnection,
        name: String,
    }

    impl Scratch {
        async fn new() -> Self {
            let admin_url = std::env::var("GATEWAY_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
            let name = format!(
                "gateway_plan_{}_{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            );
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            let (server, _) = admin_url.rsplit_once('/').unwrap();
            let store = PostgresStore::connect(&format!("{server}/{name}"))
                .await
                .unwrap();
            store.migrate().await.unwrap();
            Self { store, admin, name }
        }

        async fn remove(mut self) {
            self.store.pool.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut self.admin)
            .await
            .unwrap();
        }
    }

    /// The generic plan (the one a prepared statement settles on) of `statement`, executed
    /// with `args`, on a fresh migrated database where sequential scans are a last resort.
    async fn generic_plan(statement: &str, args: &str) -> String {
        let scratch = Scratch::new().await;
        let mut tx = scratch.store.pool.begin().await.unwrap();
        for setting in [
            "SET LOCAL plan_cache_mode = force_generic_plan",
            "SET LOCAL enable_seqscan = off",
        ] {
            sqlx::query(setting).execute(&mut *tx).await.unwrap();
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PREPARE planned AS {statement}"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        let execute = if args.is_empty() {
            "EXECUTE planned".to_owned()
        } else {
            format!("EXECUTE planned({args})")
        };
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (COSTS OFF) {execute}"
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        scratch.remove().await;
        plan.join("\n")
    }

    /// A claim is one statement committed on its own, and like the worker's other bookkeeping
    /// it does not wait for its WAL flush: run inside a transaction, it leaves that
    /// transaction's `synchronous_commit` off once it has claimed a job.
    #[tokio::test]
    async fn a_claim_turns_off_the_flush_wait_of_its_own_commit() {
        let scratch = Scratch::new().await;
        sqlx::query(
            "INSERT INTO jobs (kind, entity_id, status, max_attempts, run_at, created_at, updated_at)
             VALUES ('process_payment', 'pay_1', 'queued', 3, 0, 0, 0)",
        )
        .execute(&scratch.store.pool)
        .await
        .unwrap();
        let mut tx = scratch.store.pool.begin().await.unwrap();
        let claimed = sqlx::query(backend::CLAIM_DUE)
            .bind(0_i64)
            .bind("w")
            .bind(1_i64)
            .bind(8_i64)
            .bind("running")
            .bind("failed")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(setting, "off");
        tx.rollback().await.unwrap();
        scratch.remove().await;
    }

    /// A claim reads due rows only, however many jobs wait for later.
    #[tokio::test]
    async fn the_claims_generic_plan_uses_the_partial_indexes() {
        let plan = generic_plan(backend::CLAIM_DUE, "0, 'w', 0, 32, 'running', 'failed'").await;
        assert!(plan.contains("jobs_queued_by_due"), "{plan}");
        assert!(plan.contains("jobs_running_by_lease"), "{plan}");
        assert!(!plan.contains("Seq Scan on jobs"), "{plan}");
    }

    /// The Redis relay's reads, made on every claim, walk only the jobs awaiting dispatch.
    #[tokio::test]
    async fn the_relays_reads_walk_only_jobs_awaiting_dispatch() {
        let plan = generic_plan(crate::sql::JOBS_TO_DISPATCH, "100").await;
        assert!(plan.contains("jobs_awaiting_dispatch"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        let plan = generic_plan(crate::sql::DISPATCH_BACKLOG, "").await;
        assert!(plan.contains("jobs_awaiting_dispatch"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }

    /// Moving an endpoint's due backlog walks the due jobs and looks up each one's delivery by
    /// its key: never the endpoint's whole delivery history.
    #[tokio::test]
    async fn moving_a_due_backlog_reads_due_jobs_and_their_deliveries_by_key() {
        let statement = crate::sql::move_due_backlog::<sqlx::Postgres>();
        let plan = generic_plan(&statement, "0, 0, 'we_1'").await;
        assert!(plan.contains("jobs_queued_by_due"), "{plan}");
        assert!(plan.contains("webhook_deliveries_pkey"), "{plan}");
        assert!(!plan.contains("webhook_deliveries_by_endpoint"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}
