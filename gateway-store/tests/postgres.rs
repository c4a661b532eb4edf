//! What only PostgreSQL does: cross-process wake-ups through `LISTEN/NOTIFY` (the database
//! queue's `subscribe_jobs`) that survive a
//! dropped connection, both URL schemes, and failing fast when the server is unreachable. (SQLite
//! has no cross-process signal: its workers poll.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gateway_core::StoreError;
use gateway_core::jobs::NewJob;
use gateway_core::merchant::SecretHasher;
use gateway_store::conformance::{T0, pending_payment};
use gateway_store::testing::{Backend, TestDatabase};
use tokio::sync::Notify;

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn enqueued_and_released_jobs_wake_other_processes() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let store = gateway_store::open(&db.url).await.unwrap();
    store
        .upsert_merchant(&SecretHasher::new("pepper").test_merchant(T0))
        .await
        .unwrap();
    // Another process on the same database.
    let other = gateway_store::open(&db.url).await.unwrap();
    let wake = Arc::new(Notify::new());
    other
        .job_queue()
        .subscribe_jobs(wake.clone())
        .await
        .unwrap();
    let woken = || tokio::time::timeout(Duration::from_secs(5), wake.notified());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), wake.notified())
            .await
            .is_err(),
        "nothing was enqueued yet"
    );
    pending_payment(&store, T0).await;
    woken()
        .await
        .expect("a committed job insert notifies listeners");
    let queue = store.clone().job_queue();
    queue.claim_jobs("stopping", T0, LEASE, 1).await.unwrap();
    assert_eq!(queue.release_jobs("stopping", T0).await.unwrap(), 1);
    woken().await.expect("released jobs notify listeners");
    let custom = NewJob::custom("send_invoice", "inv_1", None, T0);
    store.enqueue_job(&custom, T0).await.unwrap();
    woken()
        .await
        .expect("a job enqueued on its own notifies listeners");

    // The server drops the listening connection (restart, failover, idle reaper): the
    // subscription comes back by itself and wakes the worker in case it missed something.
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, [true], "one listening connection");
    woken()
        .await
        .expect("a rebuilt subscription wakes the worker");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while tokio::time::timeout(Duration::from_millis(100), wake.notified())
        .await
        .is_ok()
    {}
    pending_payment(&store, T0).await;
    woken()
        .await
        .expect("the rebuilt subscription delivers new notifications");
}

#[tokio::test]
async fn open_selects_postgres_for_both_url_schemes_and_rejects_others() {
    let db = TestDatabase::create(Backend::Postgres).await;
    for url in [
        db.url.clone(),
        db.url.replacen("postgres://", "postgresql://", 1),
    ] {
        let store = gateway_store::open(&url).await.unwrap();
        store.ping().await.unwrap();
    }
    assert!(matches!(
        gateway_store::open("mysql://localhost/gateway").await,
        Err(StoreError::Other(_))
    ));
}

#[tokio::test]
async fn the_pool_holds_as_many_connections_as_the_options_say() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let pool_max = |store: &Arc<dyn gateway_core::Store>| {
        store
            .pools()
            .iter()
            .find(|pool| pool.name == "main")
            .map(|pool| pool.max)
    };
    let default = gateway_store::open(&db.url).await.unwrap();
    assert_eq!(
        pool_max(&default),
        Some(gateway_store::DEFAULT_POSTGRES_CONNECTIONS)
    );
    let sized = gateway_store::open_with(
        &db.url,
        gateway_store::OpenOptions {
            postgres_connections: 5,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(pool_max(&sized), Some(5));
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_quickly() {
    let started = std::time::Instant::now();
    let result =
        gateway_store::PostgresStore::connect("postgres://postgres@127.0.0.1:9/gateway").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn seeding_the_test_merchant_again_does_not_wait_for_its_row() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let store = gateway_store::open(&db.url).await.unwrap();
    let seed = SecretHasher::new("pepper").test_merchant(T0);
    store.upsert_merchant(&seed).await.unwrap();

    // A transaction holding the key-share lock every order insert takes on its merchant (through
    // the foreign key), as a busy server's do all the time.
    use sqlx::Connection;
    let mut busy = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = busy.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM merchants WHERE id = $1 FOR KEY SHARE")
        .bind(seed.merchant.id.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();

    // Another process starting up seeds the unchanged merchant: it must not queue for the row.
    tokio::time::timeout(Duration::from_secs(30), store.upsert_merchant(&seed))
        .await
        .expect("an unchanged seed takes no row lock")
        .unwrap();
    tx.rollback().await.unwrap();

    // A changed secret hash (another pepper) is still written.
    let repeppered = SecretHasher::new("another pepper").test_merchant(T0);
    store.upsert_merchant(&repeppered).await.unwrap();
    let credential = store
        .credential(&seed.merchant.api_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.api_secret_hash, repeppered.api_secret_hash);
}
