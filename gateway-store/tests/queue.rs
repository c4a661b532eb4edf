//! The SQL job queue: claims, leases, failures with backoff, the worker's panic handling and
//! cross-process wake-ups. Every test runs on SQLite and on PostgreSQL ([`on_both_backends!`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::ids::{OrderId, PaymentId};
use gateway_core::instrument::{InstrumentVerdict, StoredInstrument};
use gateway_core::jobs::{JOB_MAX_ATTEMPTS, NewJob};
use gateway_core::merchant::SecretHasher;
use gateway_core::money::{Amount, Currency};
use gateway_core::order::{Order, OrderStatus};
use gateway_core::payment::{Payment, PaymentOutcome, PaymentStatus};
use gateway_core::refund::Refund;
use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse, WebhookTransport};
use gateway_core::{
    HmacSigner, JobRunner, ManualClock, Processor, Store, StoreError, Timestamp, Worker,
    WorkerConfig,
};
use gateway_store::testing::{Backend, TestDatabase};
use tokio::sync::Notify;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const LEASE: Duration = Duration::from_secs(60);

/// Writes each test once and runs it on both backends:
/// `on_both_backends! { async fn name(f) { … } }` becomes `mod name { sqlite(), postgres() }`,
/// where `f` is a fresh [`Fixture`] on that backend.
macro_rules! on_both_backends {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($f:ident) $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            use super::*;

            async fn body($f: Fixture) $body

            #[tokio::test]
            async fn sqlite() {
                body(fixture(Backend::Sqlite).await).await
            }

            #[tokio::test]
            async fn postgres() {
                body(fixture(Backend::Postgres).await).await
            }
        }
    )*};
}

/// A migrated store with the test merchant, on a database that lives as long as the fixture.
struct Fixture {
    store: Arc<dyn Store>,
    backend: Backend,
    /// Declared after `store`, so the store's connections close before the database goes.
    db: TestDatabase,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDatabase::create(backend).await;
    let store = gateway_store::open(&db.url).await.unwrap();
    store
        .upsert_merchant(&SecretHasher::new("pepper-for-queue-tests").test_merchant(T0))
        .await
        .unwrap();
    Fixture { store, backend, db }
}

/// Inserts an order and a pending payment with its job due at `run_at`; returns the payment id.
async fn pending_payment(store: &Arc<dyn Store>, run_at: Timestamp) -> PaymentId {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let order = Order {
        id: OrderId::generate(),
        merchant_id: merchant,
        amount: Amount::new(1000).unwrap(),
        currency: Currency::INR,
        receipt: None,
        notes: Default::default(),
        status: OrderStatus::Created,
        created_at: T0,
        updated_at: T0,
    };
    store.create_order(&order, None).await.unwrap();
    let payment = Payment::new_pending(
        merchant,
        order.id,
        order.amount,
        order.currency,
        StoredInstrument::Upi { vpa: "a@b".into() },
        T0,
    );
    let job = NewJob::process_payment(&payment.id, Some(InstrumentVerdict::Succeed), run_at);
    store
        .create_payment(&payment, &job, &[], None)
        .await
        .unwrap();
    payment.id
}

on_both_backends! {
    async fn a_delivery_attempt_is_recorded_only_under_a_held_lease(f) {
        let merchant = gateway_core::merchant::test_merchant::ID;
        f.store
            .set_webhook_url(merchant, Some("http://127.0.0.1:9/hook"), T0)
            .await
            .unwrap();
        let event = gateway_core::event::Event::test(merchant, T0);
        f.store.create_test_delivery(&event, None).await.unwrap();
        let old = f.store.claim_jobs("w1", T0, LEASE, 1).await.unwrap().remove(0);
        let new = f
            .store
            .claim_jobs("w2", T0.plus(LEASE), LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        let attempt = |status| gateway_core::webhook::DeliveryAttempt {
            delivery_id: event.delivery_id,
            attempt: 1,
            attempted_at: T0,
            response_code: Some(500),
            response_body: Some("no".into()),
            duration_ms: 3,
            error: None,
            status,
            next_retry_at: Some(T0.plus(Duration::from_secs(60))),
        };
        let pending = gateway_core::webhook::DeliveryStatus::Pending;
        assert_eq!(
            f.store.record_delivery_attempt(&old.lease, &attempt(pending), T0).await,
            Err(StoreError::LeaseLost)
        );
        let detail = f.store.delivery(merchant, event.delivery_id).await.unwrap().unwrap();
        assert!(detail.attempt_log.is_empty(), "{detail:?}");
        assert_eq!(detail.delivery.attempts, 0);

        f.store
            .record_delivery_attempt(&new.lease, &attempt(pending), T0.plus(LEASE))
            .await
            .unwrap();
        let detail = f.store.delivery(merchant, event.delivery_id).await.unwrap().unwrap();
        assert_eq!(detail.attempt_log.len(), 1);
        assert_eq!(detail.delivery.attempts, 1);
        assert_eq!(detail.delivery.response_code, Some(500));
        let counts = f.store.job_counts().await.unwrap();
        assert_eq!((counts.pending, counts.processing), (1, 0), "requeued for the retry");
    }

    async fn claims_take_only_due_jobs_up_to_the_batch_size(f) {
        for _ in 0..5 {
            pending_payment(&f.store, T0).await;
        }
        pending_payment(&f.store, T0.plus(Duration::from_secs(10))).await;
        let first = f.store.claim_jobs("w1", T0, LEASE, 3).await.unwrap();
        assert_eq!(first.len(), 3);
        let second = f.store.claim_jobs("w2", T0, LEASE, 10).await.unwrap();
        assert_eq!(
            second.len(),
            2,
            "claimed jobs are not claimed twice; the future one is not due"
        );
        assert!(first.iter().chain(&second).all(|j| j.attempt == 1));
        assert_eq!(
            f.store.next_job_due().await.unwrap(),
            Some(T0.plus(Duration::from_secs(10)))
        );
        let counts = f.store.job_counts().await.unwrap();
        assert_eq!((counts.pending, counts.processing), (1, 5));
    }

    async fn an_expired_lease_makes_a_job_claimable_again_and_the_old_lease_useless(f) {
        pending_payment(&f.store, T0).await;
        let old = f
            .store
            .claim_jobs("w1", T0, LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        assert!(
            f.store
                .claim_jobs("w2", T0.plus(Duration::from_secs(59)), LEASE, 1)
                .await
                .unwrap()
                .is_empty()
        );
        let new = f
            .store
            .claim_jobs("w2", T0.plus(LEASE), LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!((new.id, new.attempt), (old.id, 2));
        assert_eq!(
            f.store.complete_job(&old.lease, T0).await,
            Err(StoreError::LeaseLost)
        );
        assert_eq!(
            f.store.fail_job(&old.lease, "x", None, T0).await,
            Err(StoreError::LeaseLost)
        );
        f.store.complete_job(&new.lease, T0).await.unwrap();
        assert_eq!(f.store.job_counts().await.unwrap().completed, 1);
    }

    async fn failures_requeue_at_the_given_time_or_end_failed(f) {
        pending_payment(&f.store, T0).await;
        let job = f
            .store
            .claim_jobs("w1", T0, LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        f.store
            .fail_job(
                &job.lease,
                "boom",
                Some(T0.plus(Duration::from_secs(4))),
                T0,
            )
            .await
            .unwrap();
        assert!(
            f.store
                .claim_jobs("w1", T0.plus(Duration::from_secs(3)), LEASE, 1)
                .await
                .unwrap()
                .is_empty()
        );
        let again = f
            .store
            .claim_jobs("w1", T0.plus(Duration::from_secs(4)), LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        f.store
            .fail_job(&again.lease, "boom", None, T0)
            .await
            .unwrap();
        let counts = f.store.job_counts().await.unwrap();
        assert_eq!((counts.pending, counts.failed), (0, 1));
    }

    async fn a_job_whose_worker_dies_on_the_last_attempt_ends_failed(f) {
        pending_payment(&f.store, T0).await;
        let mut now = T0;
        for _ in 0..JOB_MAX_ATTEMPTS {
            assert_eq!(
                f.store
                    .claim_jobs("dying", now, LEASE, 1)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            now = now.plus(LEASE);
        }
        assert!(
            f.store
                .claim_jobs("dying", now, LEASE, 1)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(f.store.job_counts().await.unwrap().failed, 1);
    }

    async fn released_jobs_are_queued_again_without_losing_an_attempt(f) {
        pending_payment(&f.store, T0).await;
        f.store.claim_jobs("stopping", T0, LEASE, 1).await.unwrap();
        assert_eq!(f.store.release_jobs("stopping", T0).await.unwrap(), 1);
        let job = f
            .store
            .claim_jobs("next", T0, LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(job.attempt, 1);
    }

    async fn settling_is_conditional_on_pending(f) {
        let id = pending_payment(&f.store, T0).await;
        // A second payment whose job (by mistake, or a duplicate enqueue) targets the first payment.
        let other = pending_payment(&f.store, T0.plus(Duration::from_secs(1))).await;
        let jobs = f
            .store
            .claim_jobs("w", T0.plus(Duration::from_secs(1)), LEASE, 2)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 2);
        let mut payment = f.store.payment(None, &id).await.unwrap().unwrap();
        payment.settle(PaymentOutcome::Succeeded, T0).unwrap();
        assert_eq!(
            f.store.settle_payment(&jobs[0].lease, &payment, &[]).await,
            Ok(true)
        );
        let mut again = payment.clone();
        again.status = PaymentStatus::Failed;
        assert_eq!(
            f.store.settle_payment(&jobs[1].lease, &again, &[]).await,
            Ok(false),
            "a settled payment never settles again"
        );
        assert_eq!(
            f.store.payment(None, &id).await.unwrap().unwrap().status,
            PaymentStatus::Success
        );
        assert_eq!(
            f.store.payment(None, &other).await.unwrap().unwrap().status,
            PaymentStatus::Pending
        );
        assert_eq!(
            f.store.job_counts().await.unwrap().completed,
            2,
            "both jobs completed with their (no-op) effects"
        );
    }
}

/// A bank that panics: the worker must catch it, retry with backoff and finally fail the job.
struct PanickingBank;

impl Processor for PanickingBank {
    fn payment_delay(&self, _: gateway_core::payment::PaymentMethod) -> Duration {
        Duration::ZERO
    }
    fn refund_delay(&self) -> Duration {
        Duration::ZERO
    }
    fn decide_payment(&self, _: &Payment, _: Option<InstrumentVerdict>) -> PaymentOutcome {
        panic!("the bank exploded")
    }
    fn decide_refund(&self, _: &Refund) -> bool {
        true
    }
}

struct NoTransport;

#[async_trait]
impl WebhookTransport for NoTransport {
    async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
        Err(TransportError::Refused("no network in this test".into()))
    }
}

on_both_backends! {
    async fn a_panicking_handler_is_retried_with_backoff_then_marked_failed(f) {
        let id = pending_payment(&f.store, T0).await;
        let clock = Arc::new(ManualClock::new(T0));
        let worker = Arc::new(
            Worker::new(
                f.store.clone(),
                Arc::new(PanickingBank),
                Arc::new(HmacSigner),
                Arc::new(NoTransport),
                WorkerConfig {
                    id: "w".into(),
                    ..WorkerConfig::default()
                },
                Arc::new(Notify::new()),
            )
            .with_clock(clock.clone())
            .with_seed(3),
        );
        let mut runs = 0;
        for _ in 0..200 {
            runs += worker.clone().run_once().await;
            clock.advance(Duration::from_secs(30));
        }
        assert_eq!(
            runs, JOB_MAX_ATTEMPTS as usize,
            "each attempt waited for its backoff"
        );
        let counts = f.store.job_counts().await.unwrap();
        assert_eq!(
            (counts.failed, counts.pending, counts.processing),
            (1, 0, 0)
        );
        assert_eq!(
            f.store.payment(None, &id).await.unwrap().unwrap().status,
            PaymentStatus::Pending
        );
    }

    async fn concurrent_claimers_never_share_a_job(f) {
        for _ in 0..12 {
            pending_payment(&f.store, T0).await;
        }
        let claim = |worker: &'static str| {
            let store = f.store.clone();
            async move { store.claim_jobs(worker, T0, LEASE, 5).await.unwrap() }
        };
        let (a, b, c, d) = tokio::join!(claim("a"), claim("b"), claim("c"), claim("d"));
        let mut ids: Vec<i64> = [a, b, c, d].iter().flatten().map(|job| job.id).collect();
        assert_eq!(ids.len(), 12, "every due job is claimed by someone");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 12, "no job is claimed twice");
    }

    async fn enqueued_and_released_jobs_wake_other_processes(f) {
        // Another process on the same database.
        let other = gateway_store::open(&f.db.url).await.unwrap();
        let wake = Arc::new(Notify::new());
        other.subscribe_jobs(wake.clone()).await.unwrap();
        if f.backend == Backend::Sqlite {
            // SQLite has no cross-process signal: subscribing is a no-op and workers poll.
            return;
        }
        let woken = || tokio::time::timeout(Duration::from_secs(5), wake.notified());
        assert!(
            tokio::time::timeout(Duration::from_millis(200), wake.notified())
                .await
                .is_err(),
            "nothing was enqueued yet"
        );
        pending_payment(&f.store, T0).await;
        woken().await.expect("a committed job insert notifies listeners");
        f.store.claim_jobs("stopping", T0, LEASE, 1).await.unwrap();
        assert_eq!(f.store.release_jobs("stopping", T0).await.unwrap(), 1);
        woken().await.expect("released jobs notify listeners");

        // The server drops the listening connection (restart, failover, idle reaper): the
        // subscription comes back by itself and wakes the worker in case it missed something.
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert_eq!(killed, [true], "one listening connection");
        woken().await.expect("a rebuilt subscription wakes the worker");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        while tokio::time::timeout(Duration::from_millis(100), wake.notified())
            .await
            .is_ok()
        {}
        pending_payment(&f.store, T0).await;
        woken().await.expect("the rebuilt subscription delivers new notifications");
    }
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

on_both_backends! {
    async fn rotating_an_api_secret_replaces_its_hash(f) {
        let merchant = gateway_core::merchant::test_merchant::ID;
        assert_eq!(f.store.rotate_api_secret("test@example.com", b"new-hash", T0).await, Ok(merchant));
        let credential = f.store.credential("key_test_abc123").await.unwrap().unwrap();
        assert_eq!(credential.api_secret_hash, b"new-hash".to_vec());
        assert_eq!(f.store.rotate_api_secret(&merchant.to_string(), b"newer", T0).await, Ok(merchant));
        assert_eq!(f.store.rotate_api_secret("nobody@example.com", b"x", T0).await, Err(StoreError::NotFound("Merchant")));
    }
}

on_both_backends! {
    async fn pruning_removes_old_completed_jobs_and_expired_keys_only(f) {
        let merchant = gateway_core::merchant::test_merchant::ID;
        pending_payment(&f.store, T0).await;
        pending_payment(&f.store, T0).await;
        let jobs = f.store.claim_jobs("w", T0, LEASE, 2).await.unwrap();
        f.store.complete_job(&jobs[0].lease, T0).await.unwrap();
        f.store.fail_job(&jobs[1].lease, "boom", None, T0).await.unwrap();
        pending_payment(&f.store, T0).await; // still queued
        let key = gateway_core::IdempotencyKey::new("k1", "POST", "/api/v1/orders", b"{}").unwrap();
        let order = Order {
            id: OrderId::generate(),
            merchant_id: merchant,
            amount: Amount::new(1000).unwrap(),
            currency: Currency::INR,
            receipt: None,
            notes: Default::default(),
            status: OrderStatus::Created,
            created_at: T0,
            updated_at: T0,
        };
        f.store.create_order(&order, Some(&key.record("{}".into(), T0))).await.unwrap();

        let day = Duration::from_secs(24 * 3600);
        assert_eq!(f.store.prune(T0, T0.plus(day / 2), 100).await, Ok(0), "nothing is old enough yet");
        assert_eq!(f.store.prune(T0.plus(Duration::from_secs(1)), T0.plus(day), 100).await, Ok(2), "one completed job, one expired key");
        let counts = f.store.job_counts().await.unwrap();
        assert_eq!((counts.completed, counts.failed, counts.pending), (0, 1, 1), "failed and queued jobs stay");
        assert_eq!(f.store.idempotency_record(merchant, "k1", T0).await, Ok(None));
    }
}
