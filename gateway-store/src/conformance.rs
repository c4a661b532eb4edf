//! The store and queue conformance suites (feature `conformance`): every behaviour the gateway
//! relies on from a [`Store`] and from a [`JobQueue`] ([`queue`]), as plain async functions
//! over a fresh store and its queue, so that any implementation — the built-in SQLite and
//! PostgreSQL stores with their database queues, or a third store or queue — can check itself.
//!
//! Implement [`StoreFactory`] for your store (and queue) and instantiate every test with
//! [`store_conformance_suite!`](crate::store_conformance_suite) and
//! [`queue_conformance_suite!`](crate::queue_conformance_suite):
//!
//! ```ignore
//! struct MyFactory;
//! #[async_trait::async_trait]
//! impl gateway_store::conformance::StoreFactory for MyFactory {
//!     async fn fresh(&self) -> gateway_store::conformance::Fixture { /* a new, migrated store */ }
//! }
//! gateway_store::store_conformance_suite!(MyFactory);
//! gateway_store::queue_conformance_suite!(MyFactory);
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::Refusal;
use gateway_core::endpoint::{
    CreateEndpoint, EndpointPatch, EndpointStatus, EndpointWithSecret, WebhookEndpoint,
};
use gateway_core::event::{Event, EventType};
use gateway_core::ids::{DeliveryId, MerchantId, OrderId, PaymentId};
use gateway_core::instrument::{InstrumentVerdict, StoredInstrument};
use gateway_core::jobs::{JOB_MAX_ATTEMPTS, NewJob};
use gateway_core::merchant::{SecretHasher, generate_webhook_secret};
use gateway_core::money::{Amount, Currency};
use gateway_core::order::{Order, OrderStatus};
use gateway_core::payment::{Payment, PaymentOutcome, PaymentStatus};
use gateway_core::refund::Refund;
use gateway_core::store::{DeliveryFilter, EventFilter, PageRequest, PruneBefore};
use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse, WebhookTransport};
use gateway_core::{
    Handlers, HmacSigner, JobQueue, ManualClock, Processor, ProcessorError, Store, StoreError,
    Timestamp, Worker, WorkerConfig,
};
use tokio::sync::Notify;

const DISABLE_AFTER: Duration = gateway_core::endpoint_health::DEFAULT_DISABLE_AFTER;
/// Where every test's clock starts.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
pub(crate) const LEASE: Duration = Duration::from_secs(60);

/// Makes the store each test runs against.
#[async_trait]
pub trait StoreFactory: Send + Sync {
    /// A new, migrated, empty store of its own and its queue (the suite seeds the test
    /// merchant).
    async fn fresh(&self) -> Fixture;
}

pub mod queue;

/// A store and queue under test and whatever must live as long as them (a temporary
/// database, say).
pub struct Fixture {
    /// The store: it enqueues jobs in its commands' transactions.
    pub store: Arc<dyn Store>,
    /// The queue workers take the store's jobs from: the store's own
    /// [`Store::job_queue`], or a dispatching queue over its [`Store::job_outbox`].
    pub queue: Arc<dyn JobQueue>,
    /// Dropped after `store`.
    pub keep_alive: Box<dyn Any + Send + Sync>,
}

/// Runs `test` on a fresh store from `factory`, seeded with the test merchant.
pub async fn run<F, Fut>(factory: &dyn StoreFactory, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let fixture = factory.fresh().await;
    fixture
        .store
        .upsert_merchant(&SecretHasher::new("pepper-for-conformance").test_merchant(T0))
        .await
        .unwrap();
    test(fixture).await;
}

/// A new ₹10.00 order of the test merchant, created at [`T0`].
pub fn new_order() -> Order {
    Order {
        id: OrderId::generate(),
        merchant_id: gateway_core::merchant::test_merchant::ID,
        amount: Amount::new(1000).unwrap(),
        currency: Currency::INR,
        receipt: None,
        notes: Default::default(),
        status: OrderStatus::Created,
        created_at: T0,
        updated_at: T0,
    }
}

/// Inserts an order and a pending UPI payment of the test merchant with its job due at
/// `run_at`; returns the payment's id.
pub async fn pending_payment(store: &Arc<dyn Store>, run_at: Timestamp) -> PaymentId {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let order = new_order();
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

/// See the suite list.
pub async fn a_delivery_attempt_is_recorded_only_under_a_held_lease(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    f.store
        .set_webhook_url(merchant, Some("http://127.0.0.1:9/hook"), T0)
        .await
        .unwrap();
    let event = gateway_core::event::Event::test(merchant, T0);
    f.store.create_test_delivery(&event, None).await.unwrap();
    let old = f
        .queue
        .claim_jobs("w1", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let new = f
        .queue
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
        f.store
            .record_delivery_attempt(&old.lease, &attempt(pending), DISABLE_AFTER, T0)
            .await,
        Err(StoreError::LeaseLost)
    );
    let detail = f
        .store
        .delivery(merchant, event.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert!(detail.attempt_log.is_empty(), "{detail:?}");
    assert_eq!(detail.delivery.attempts, 0);

    f.store
        .record_delivery_attempt(&new.lease, &attempt(pending), DISABLE_AFTER, T0.plus(LEASE))
        .await
        .unwrap();
    let detail = f
        .store
        .delivery(merchant, event.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.attempt_log.len(), 1);
    assert_eq!(detail.delivery.attempts, 1);
    assert_eq!(detail.delivery.response_code, Some(500));
    let counts = f.queue.job_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.processing),
        (1, 0),
        "requeued for the retry"
    );
}

/// See the suite list.
pub async fn settling_is_conditional_on_pending(f: Fixture) {
    let id = pending_payment(&f.store, T0).await;
    // A second payment whose job (by mistake, or a duplicate enqueue) targets the first payment.
    let other = pending_payment(&f.store, T0.plus(Duration::from_secs(1))).await;
    let jobs = f
        .queue
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
        f.queue.job_counts().await.unwrap().completed,
        2,
        "both jobs completed with their (no-op) effects"
    );
}

/// A bank that panics: the worker must catch it, retry with backoff and finally fail the job.
struct PanickingBank;

#[async_trait]
impl Processor for PanickingBank {
    fn payment_delay(&self, _: gateway_core::payment::PaymentMethod) -> Duration {
        Duration::ZERO
    }
    fn refund_delay(&self) -> Duration {
        Duration::ZERO
    }
    async fn decide_payment(
        &self,
        _: &Payment,
        _: Option<InstrumentVerdict>,
    ) -> Result<PaymentOutcome, ProcessorError> {
        panic!("the bank exploded")
    }
    async fn decide_refund(&self, _: &Refund) -> Result<bool, ProcessorError> {
        Ok(true)
    }
}

struct NoTransport;

#[async_trait]
impl WebhookTransport for NoTransport {
    async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
        Err(TransportError::Refused("no network in this test".into()))
    }
}

/// A seeded worker `w` over the fixture's store and queue with `bank` on `clock`, whose webhooks go nowhere.
fn worker_without_network(
    f: &Fixture,
    bank: Arc<dyn Processor>,
    clock: &Arc<ManualClock>,
    config: WorkerConfig,
) -> Arc<Worker> {
    let config = WorkerConfig {
        id: "w".into(),
        ..config
    };
    let handlers = Handlers::builtin(bank, Arc::new(HmacSigner), Arc::new(NoTransport), &config);
    let worker = Worker::new(
        f.store.clone(),
        f.queue.clone(),
        handlers,
        config,
        Arc::new(Notify::new()),
    );
    Arc::new(worker.with_clock(clock.clone()).with_seed(3))
}

/// See the suite list.
pub async fn a_panicking_handler_is_retried_with_backoff_then_marked_failed(f: Fixture) {
    let id = pending_payment(&f.store, T0).await;
    let clock = Arc::new(ManualClock::new(T0));
    let worker =
        worker_without_network(&f, Arc::new(PanickingBank), &clock, WorkerConfig::default());
    let mut runs = 0;
    for _ in 0..200 {
        runs += worker.clone().run_once().await;
        clock.advance(Duration::from_secs(30));
    }
    assert_eq!(
        runs, JOB_MAX_ATTEMPTS as usize,
        "each attempt waited for its backoff"
    );
    let counts = f.queue.job_counts().await.unwrap();
    assert_eq!(
        (counts.failed, counts.pending, counts.processing),
        (1, 0, 0)
    );
    assert_eq!(
        f.store.payment(None, &id).await.unwrap().unwrap().status,
        PaymentStatus::Pending
    );
}

/// A bank that fails its first calls, the second of them by never answering, then approves;
/// it counts every call.
struct FlakyBank {
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Processor for FlakyBank {
    fn payment_delay(&self, _: gateway_core::payment::PaymentMethod) -> Duration {
        Duration::ZERO
    }
    fn refund_delay(&self) -> Duration {
        Duration::ZERO
    }
    async fn decide_payment(
        &self,
        _: &Payment,
        _: Option<InstrumentVerdict>,
    ) -> Result<PaymentOutcome, ProcessorError> {
        match self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Err(ProcessorError::Unavailable("acquirer answered 503".into())),
            1 => std::future::pending().await,
            _ => Ok(PaymentOutcome::Succeeded),
        }
    }
    async fn decide_refund(&self, _: &Refund) -> Result<bool, ProcessorError> {
        Ok(true)
    }
}

/// See the suite list.
pub async fn an_unavailable_or_silent_processor_is_asked_again_and_the_payment_settles_once(
    f: Fixture,
) {
    let id = pending_payment(&f.store, T0).await;
    let clock = Arc::new(ManualClock::new(T0));
    let bank = Arc::new(FlakyBank {
        calls: Default::default(),
    });
    let config = WorkerConfig {
        processor_timeout: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let worker = worker_without_network(&f, bank.clone(), &clock, config);
    for (call, status) in [(1, PaymentStatus::Pending), (2, PaymentStatus::Pending)] {
        assert_eq!(worker.clone().run_once().await, 1);
        assert_eq!(bank.calls.load(std::sync::atomic::Ordering::SeqCst), call);
        let payment = f.store.payment(None, &id).await.unwrap().unwrap();
        assert_eq!(payment.status, status, "no answer, nothing settled");
        assert_eq!(
            worker.clone().run_once().await,
            0,
            "retried after a backoff, not at once"
        );
        clock.advance(Duration::from_secs(10));
    }
    assert_eq!(worker.clone().run_once().await, 1);
    let payment = f.store.payment(None, &id).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::Success);
    clock.advance(Duration::from_secs(3600));
    worker.clone().run_once().await;
    assert_eq!(
        bank.calls.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "settled once: the bank is not asked again"
    );
    let counts = f.queue.job_counts().await.unwrap();
    assert_eq!(
        (counts.failed, counts.pending, counts.processing),
        (0, 0, 0)
    );
}

/// See the suite list.
pub async fn rotating_an_api_secret_replaces_its_hash(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    assert_eq!(
        f.store
            .rotate_api_secret("test@example.com", b"new-hash", T0)
            .await,
        Ok(merchant)
    );
    let credential = f
        .store
        .credential("key_test_abc123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.api_secret_hash, b"new-hash".to_vec());
    assert_eq!(
        f.store
            .rotate_api_secret(&merchant.to_string(), b"newer", T0)
            .await,
        Ok(merchant)
    );
    assert_eq!(
        f.store
            .rotate_api_secret("nobody@example.com", b"x", T0)
            .await,
        Err(StoreError::NotFound("Merchant"))
    );
}

/// See the suite list.
pub async fn pruning_removes_expired_keys_and_leaves_jobs_to_the_queue(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    pending_payment(&f.store, T0).await;
    let jobs = f.queue.claim_jobs("w", T0, LEASE, 1).await.unwrap();
    f.queue.complete_job(&jobs[0].lease, T0).await.unwrap();
    let key = gateway_core::IdempotencyKey::new("k1", "POST", "/api/v1/orders", b"{}").unwrap();
    let order = new_order();
    f.store
        .create_order(&order, Some(&key.record("{}".into(), T0)))
        .await
        .unwrap();

    let day = Duration::from_secs(24 * 3600);
    let before = |now| PruneBefore { events: T0, now };
    assert_eq!(
        f.store.prune(before(T0.plus(day / 2)), 100).await,
        Ok(0),
        "nothing is old enough yet"
    );
    assert_eq!(
        f.store.prune(before(T0.plus(day)), 100).await,
        Ok(1),
        "the expired key"
    );
    assert_eq!(
        f.queue.job_counts().await.unwrap().completed,
        1,
        "completed jobs are the queue's to prune"
    );
    assert_eq!(
        f.store.idempotency_record(merchant, "k1", T0).await,
        Ok(None)
    );
}

/// See the suite list. Jobs record the request id current when they were enqueued (read by
/// the `NewJob` constructors, including those the store builds for deliveries inside its own
/// command) and hand it back with their claim.
pub async fn jobs_carry_the_request_id_they_were_enqueued_under(f: Fixture) {
    use gateway_core::event::{Event, EventType};
    use gateway_core::request_id;

    let merchant = gateway_core::merchant::test_merchant::ID;
    f.store
        .set_webhook_url(merchant, Some("http://127.0.0.1:9/hook"), T0)
        .await
        .unwrap();
    let order = new_order();
    f.store.create_order(&order, None).await.unwrap();
    let payment = Payment::new_pending(
        merchant,
        order.id,
        order.amount,
        order.currency,
        StoredInstrument::Upi { vpa: "a@b".into() },
        T0,
    );
    let store = f.store.clone();
    let created = payment.clone();
    request_id::scope(Some("req_conformance".into()), async move {
        let job = NewJob::process_payment(&created.id, None, T0);
        let events = [Event::payment(EventType::PaymentCreated, &created, T0)];
        store
            .create_payment(&created, &job, &events, None)
            .await
            .unwrap();
    })
    .await;
    let jobs = f.queue.claim_jobs("w1", T0, LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 2, "the payment's job and its delivery's job");
    for job in &jobs {
        assert_eq!(
            job.request_id.as_deref(),
            Some("req_conformance"),
            "{job:?}"
        );
    }

    // A worker settles under the claimed job's id: the deliveries it enqueues inherit it.
    let settling = jobs
        .iter()
        .find(|j| j.entity_id == payment.id.to_string())
        .unwrap()
        .clone();
    let mut settled = f.store.payment(None, &payment.id).await.unwrap().unwrap();
    settled.settle(PaymentOutcome::Succeeded, T0).unwrap();
    let store = f.store.clone();
    request_id::scope(settling.request_id.clone(), async move {
        let events = [Event::payment(EventType::PaymentSuccess, &settled, T0)];
        assert_eq!(
            store
                .settle_payment(&settling.lease, &settled, &events)
                .await,
            Ok(true)
        );
    })
    .await;
    let delivery = f.queue.claim_jobs("w1", T0, LEASE, 10).await.unwrap();
    assert_eq!(delivery.len(), 1);
    assert_eq!(delivery[0].request_id.as_deref(), Some("req_conformance"));

    // Outside any request, a job has none.
    pending_payment(&f.store, T0).await;
    let unscoped = f.queue.claim_jobs("w1", T0, LEASE, 10).await.unwrap();
    assert_eq!(unscoped.len(), 1);
    assert_eq!(unscoped[0].request_id, None);
}

/// Settles the payment `id` (under its claimed job) as successful.
async fn settle_successfully(f: &Fixture, id: &PaymentId) {
    let store = &f.store;
    let job = f
        .queue
        .claim_jobs("settler", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let mut payment = store.payment(None, id).await.unwrap().unwrap();
    payment.settle(PaymentOutcome::Succeeded, T0).unwrap();
    assert_eq!(
        store.settle_payment(&job.lease, &payment, &[]).await,
        Ok(true)
    );
}

/// A pending refund of `amount` against `payment`, with its job.
fn refund_of(payment: &Payment, amount: i64) -> (Refund, NewJob) {
    let refund = Refund {
        id: gateway_core::ids::RefundId::generate(),
        payment_id: payment.id.clone(),
        merchant_id: payment.merchant_id,
        amount: Amount::new(amount).unwrap(),
        reason: None,
        status: gateway_core::refund::RefundStatus::Pending,
        created_at: T0,
        processed_at: None,
    };
    let job = NewJob::process_refund(&refund.id, T0);
    (refund, job)
}

/// The payment as its capture at `T0` would leave it.
fn captured(payment: &Payment) -> Payment {
    Payment {
        captured: true,
        updated_at: T0,
        ..payment.clone()
    }
}

/// A payment with a refund that is not failed is never captured, and a captured one is still
/// refundable: the store decides over the locked snapshot, whatever the caller expected.
pub async fn a_payment_with_a_refund_is_never_captured(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let id = pending_payment(&f.store, T0).await;
    settle_successfully(&f, &id).await;
    let payment = f.store.payment(None, &id).await.unwrap().unwrap();
    let (refund, job) = refund_of(&payment, 400);
    f.store
        .create_refund(&refund, &job, &[], None)
        .await
        .unwrap();
    assert_eq!(
        f.store
            .capture_payment(&captured(&payment), None, None)
            .await,
        Err(StoreError::Refused(
            gateway_core::Refusal::CaptureAfterRefund
        ))
    );
    let snapshot = f
        .store
        .payment_snapshot(merchant, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((snapshot.payment.captured, snapshot.refunded), (false, 400));

    let other = pending_payment(&f.store, T0).await;
    settle_successfully(&f, &other).await;
    let other = f.store.payment(None, &other).await.unwrap().unwrap();
    f.store
        .capture_payment(&captured(&other), Some(1000), None)
        .await
        .unwrap();
    let (refund, job) = refund_of(&other, 1000);
    f.store
        .create_refund(&refund, &job, &[], None)
        .await
        .unwrap();
    let (over, job) = refund_of(&other, 1);
    assert_eq!(
        f.store.create_refund(&over, &job, &[], None).await,
        Err(StoreError::Refused(
            gateway_core::Refusal::RefundExceedsAvailable { available: 0 }
        ))
    );
}

/// Captures and refunds fired at one payment at once keep every money rule: refunds never
/// exceed the payment, and a payment is captured only if no refund got in first.
pub async fn concurrent_captures_and_refunds_keep_the_money_rules(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let id = pending_payment(&f.store, T0).await;
    settle_successfully(&f, &id).await;
    let payment = f.store.payment(None, &id).await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = f.store.clone();
        let payment = payment.clone();
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                store
                    .capture_payment(&captured(&payment), None, None)
                    .await
                    .map(|()| 0)
            } else {
                let (refund, job) = refund_of(&payment, 300);
                store
                    .create_refund(&refund, &job, &[], None)
                    .await
                    .map(|()| 300)
            }
        }));
    }
    let (mut captures, mut refunded) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(0) => captures += 1,
            Ok(amount) => refunded += amount,
            Err(StoreError::Refused(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let snapshot = f
        .store
        .payment_snapshot(merchant, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(refunded <= 1000, "refunds overdrew: {refunded}");
    assert_eq!(snapshot.refunded, refunded);
    assert_eq!(
        refunded, 900,
        "refunds are admitted until the balance runs out"
    );
    assert!(captures <= 1, "captured {captures} times");
    assert_eq!(snapshot.payment.captured, captures == 1);
}

/// An enabled endpoint of the test merchant for `url` receiving `events`, created at [`T0`].
pub fn new_endpoint(url: &str, events: &[&str]) -> EndpointWithSecret {
    EndpointWithSecret {
        endpoint: WebhookEndpoint::create(
            gateway_core::merchant::test_merchant::ID,
            CreateEndpoint {
                url: url.to_owned(),
                description: None,
                enabled_events: events.iter().map(|e| (*e).to_owned()).collect(),
                metadata: None,
            },
            |_| Ok(()),
            T0,
        )
        .unwrap(),
        secret: generate_webhook_secret(),
    }
}

/// See the suite list.
pub async fn concurrent_creations_never_exceed_sixteen_endpoints(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let attempts = (0..20).map(|n| {
        let store = f.store.clone();
        tokio::spawn(async move {
            store
                .create_endpoint(
                    &new_endpoint(&format!("https://e.example/{n}"), &["*"]),
                    None,
                )
                .await
        })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::Refused(Refusal::TooManyEndpoints { max: 16 })) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 16);
    let page = PageRequest {
        limit: 100,
        offset: 0,
    };
    assert_eq!(
        f.store.list_endpoints(merchant, page).await.unwrap().total,
        16
    );
}

/// See the suite list.
pub async fn events_fan_out_to_matching_enabled_endpoints_signed_with_their_secrets(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let successes = new_endpoint("https://a.example/h", &["payment.success"]);
    let everything = new_endpoint("https://b.example/h", &["*"]);
    let disabled = new_endpoint("https://c.example/h", &["*"]);
    for endpoint in [&successes, &everything, &disabled] {
        f.store.create_endpoint(endpoint, None).await.unwrap();
    }
    let off = EndpointPatch {
        status: Some(EndpointStatus::Disabled),
        ..EndpointPatch::default()
    };
    f.store
        .update_endpoint(merchant, &disabled.endpoint.id, &off, T0)
        .await
        .unwrap();

    let id = pending_payment(&f.store, T0).await;
    let jobs = f.queue.claim_jobs("w", T0, LEASE, 1).await.unwrap();
    let mut payment = f.store.payment(None, &id).await.unwrap().unwrap();
    payment.settle(PaymentOutcome::Succeeded, T0).unwrap();
    let events = [
        Event::payment(EventType::PaymentPending, &payment, T0),
        Event::payment(EventType::PaymentSuccess, &payment, T0),
    ];
    assert_eq!(
        f.store
            .settle_payment(&jobs[0].lease, &payment, &events)
            .await,
        Ok(true)
    );
    let page = PageRequest {
        limit: 100,
        offset: 0,
    };
    let all = f.store.list_deliveries(merchant, page).await.unwrap();
    assert_eq!(all.total, 3, "success → a and b, pending → b, nothing → c");
    let to = |endpoint: &EndpointWithSecret, event: Option<EventType>| DeliveryFilter {
        endpoint_id: Some(endpoint.endpoint.id.clone()),
        event,
    };
    let count = |filter: DeliveryFilter| {
        let store = f.store.clone();
        async move {
            store
                .list_deliveries_matching(merchant, &filter, page)
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(count(to(&successes, None)).await, 1);
    assert_eq!(count(to(&everything, None)).await, 2);
    assert_eq!(
        count(to(&everything, Some(EventType::PaymentPending))).await,
        1
    );
    assert_eq!(count(to(&disabled, None)).await, 0);

    // A delivery goes to its endpoint's URL, signed by its secret, and by the replaced one too
    // while a rotation overlaps.
    let delivery = f
        .store
        .list_deliveries_matching(merchant, &to(&successes, None), page)
        .await
        .unwrap()
        .data
        .remove(0);
    let until = T0.plus(Duration::from_secs(60));
    f.store
        .rotate_endpoint_secret(
            merchant,
            &successes.endpoint.id,
            "whsec_new",
            until,
            T0,
            None,
        )
        .await
        .unwrap();
    let target = f.store.delivery_target(delivery.id).await.unwrap().unwrap();
    assert_eq!(target.url.as_deref(), Some("https://a.example/h"));
    assert_eq!(target.secrets.current, "whsec_new");
    assert_eq!(
        target.secrets.previous,
        Some((successes.secret.clone(), until))
    );
    // Another merchant cannot rotate or see it.
    let stranger = MerchantId::generate();
    assert_eq!(
        f.store
            .rotate_endpoint_secret(stranger, &successes.endpoint.id, "x", until, T0, None)
            .await,
        Err(StoreError::NotFound("Webhook endpoint"))
    );
    assert_eq!(
        f.store.endpoint(stranger, &successes.endpoint.id).await,
        Ok(None)
    );
}

/// See the suite list. An event is recorded by the command that records its state change, in
/// its transaction, whether or not an endpoint wants it; a refused command records none.
pub async fn events_are_recorded_in_their_commands_transaction_and_pruned_by_age(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let page = PageRequest {
        limit: 100,
        offset: 0,
    };
    let order = new_order();
    f.store.create_order(&order, None).await.unwrap();
    let payment = Payment::new_pending(
        merchant,
        order.id.clone(),
        order.amount,
        order.currency,
        StoredInstrument::Upi { vpa: "a@b".into() },
        T0,
    );
    let job = NewJob::process_payment(&payment.id, None, T0);
    let events = [
        Event::payment(EventType::PaymentCreated, &payment, T0),
        Event::payment(EventType::PaymentPending, &payment, T0),
    ];
    f.store
        .create_payment(&payment, &job, &events, None)
        .await
        .unwrap();

    // No endpoint: no delivery, but both events, the later-recorded first.
    assert_eq!(
        f.store.list_deliveries(merchant, page).await.unwrap().total,
        0
    );
    let listed = f
        .store
        .list_events(merchant, &EventFilter::default(), page)
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    let ids: Vec<_> = listed.data.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, [events[1].id.clone(), events[0].id.clone()]);
    let pending = f
        .store
        .event(merchant, &events[1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.payload_text(), events[1].payload, "the exact bytes");
    assert_eq!(pending.event_type, EventType::PaymentPending);
    assert_eq!(pending.created_at, T0);
    let stranger = MerchantId::generate();
    assert_eq!(
        f.store
            .event(stranger, &events[1].id)
            .await
            .unwrap()
            .map(|e| e.id),
        None
    );

    // A refused command (a second live payment of the order; a test event without an
    // endpoint) records no event.
    let second = Payment::new_pending(
        merchant,
        order.id.clone(),
        order.amount,
        order.currency,
        StoredInstrument::Upi { vpa: "a@b".into() },
        T0,
    );
    let refused = [Event::payment(EventType::PaymentCreated, &second, T0)];
    assert!(matches!(
        f.store
            .create_payment(
                &second,
                &NewJob::process_payment(&second.id, None, T0),
                &refused,
                None
            )
            .await,
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        f.store
            .create_test_delivery(&Event::test(merchant, T0), None)
            .await,
        Err(StoreError::Refused(Refusal::WebhookUrlMissing))
    ));
    assert_eq!(
        f.store
            .list_events(merchant, &EventFilter::default(), page)
            .await
            .unwrap()
            .total,
        2
    );

    // Filters: by type, and by a range [from, before).
    let later = T0.plus(Duration::from_secs(10));
    let other_order = new_order();
    f.store.create_order(&other_order, None).await.unwrap();
    let third = Payment::new_pending(
        merchant,
        other_order.id,
        other_order.amount,
        other_order.currency,
        StoredInstrument::Upi { vpa: "a@b".into() },
        later,
    );
    let third_events = [Event::payment(EventType::PaymentCreated, &third, later)];
    f.store
        .create_payment(
            &third,
            &NewJob::process_payment(&third.id, None, later),
            &third_events,
            None,
        )
        .await
        .unwrap();
    let count = |filter: EventFilter| {
        let store = f.store.clone();
        async move {
            store
                .list_events(merchant, &filter, page)
                .await
                .unwrap()
                .total
        }
    };
    let of_type = EventFilter {
        event_type: Some(EventType::PaymentCreated),
        ..EventFilter::default()
    };
    assert_eq!(count(of_type).await, 2);
    let from_t0 = EventFilter {
        created_from: Some(T0),
        created_before: Some(T0.plus(Duration::from_millis(1))),
        ..EventFilter::default()
    };
    assert_eq!(count(from_t0).await, 2);
    let after_t0 = EventFilter {
        created_from: Some(T0.plus(Duration::from_millis(1))),
        ..EventFilter::default()
    };
    assert_eq!(count(after_t0).await, 1, "only the later payment's");

    // Pruning removes events older than the cut-off only.
    let prune = |events| PruneBefore { events, now: T0 };
    assert_eq!(f.store.prune(prune(T0), 100).await, Ok(0));
    assert_eq!(
        f.store
            .prune(prune(T0.plus(Duration::from_millis(1))), 100)
            .await,
        Ok(2)
    );
    assert_eq!(
        count(EventFilter::default()).await,
        1,
        "the later one stays"
    );
}

/// A 410 answer disables its endpoint in the transaction that records it: the delivery ends
/// `failed`, and the merchant's other endpoints subscribed to `webhook_endpoint.disabled` get
/// that event; a success after failures brings the endpoint's waiting delivery forward; a
/// recover re-arms failed deliveries oldest first.
pub async fn endpoint_health_is_decided_in_the_attempts_transaction(f: Fixture) {
    let merchant = gateway_core::merchant::test_merchant::ID;
    let gone = new_endpoint("https://gone.example/h", &["*"]);
    let watcher = new_endpoint("https://watch.example/h", &["webhook_endpoint.disabled"]);
    for endpoint in [&gone, &watcher] {
        f.store.create_endpoint(endpoint, None).await.unwrap();
    }
    let page = PageRequest {
        limit: 100,
        offset: 0,
    };
    let to = |endpoint: &EndpointWithSecret| DeliveryFilter {
        endpoint_id: Some(endpoint.endpoint.id.clone()),
        event: None,
    };
    let attempt =
        |delivery_id, n, code: i32, status, next_retry_at| gateway_core::webhook::DeliveryAttempt {
            delivery_id,
            attempt: n,
            attempted_at: T0,
            response_code: Some(code),
            response_body: None,
            duration_ms: 3,
            error: None,
            status,
            next_retry_at,
        };
    use gateway_core::webhook::DeliveryStatus::{Failed, Pending, Success};

    // A failure, then a success: the waiting delivery is brought forward to now.
    let first = Event::test(merchant, T0);
    let second = Event::test(merchant, T0);
    f.store.create_test_delivery(&first, None).await.unwrap();
    f.store.create_test_delivery(&second, None).await.unwrap();
    let to_gone = f
        .store
        .list_deliveries_matching(merchant, &to(&gone), page)
        .await
        .unwrap()
        .data;
    let mut jobs = f.queue.claim_jobs("w", T0, LEASE, 10).await.unwrap();
    jobs.retain(|j| to_gone.iter().any(|d| d.id.to_string() == j.entity_id));
    let later = T0.plus(Duration::from_secs(3600));
    let (a, b) = (to_gone[1].id, to_gone[0].id);
    let job_of = |id: DeliveryId| {
        jobs.iter()
            .find(|j| j.entity_id == id.to_string())
            .unwrap()
            .lease
            .clone()
    };
    f.store
        .record_delivery_attempt(
            &job_of(a),
            &attempt(a, 1, 500, Pending, Some(later)),
            DISABLE_AFTER,
            T0,
        )
        .await
        .unwrap();
    f.store
        .record_delivery_attempt(
            &job_of(b),
            &attempt(b, 1, 200, Success, None),
            DISABLE_AFTER,
            T0,
        )
        .await
        .unwrap();
    let waiting = f
        .store
        .delivery(merchant, a)
        .await
        .unwrap()
        .unwrap()
        .delivery;
    assert_eq!(
        waiting.next_retry_at,
        Some(T0),
        "brought forward from an hour on"
    );
    let due = f.queue.claim_jobs("w", T0, LEASE, 10).await.unwrap();
    let lease = due
        .iter()
        .find(|j| j.entity_id == a.to_string())
        .unwrap()
        .lease
        .clone();

    // A 410 disables the endpoint and ends the delivery failed, with a retry asked for.
    f.store
        .record_delivery_attempt(
            &lease,
            &attempt(a, 2, 410, Pending, Some(later)),
            DISABLE_AFTER,
            T0,
        )
        .await
        .unwrap();
    let shown = f
        .store
        .endpoint(merchant, &gone.endpoint.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.status, EndpointStatus::Disabled);
    assert_eq!(
        shown.disabled_reason.as_deref(),
        Some("gone: the endpoint answered 410 Gone")
    );
    let ended = f
        .store
        .delivery(merchant, a)
        .await
        .unwrap()
        .unwrap()
        .delivery;
    assert_eq!((ended.status, ended.next_retry_at), (Failed, None));
    let told = f
        .store
        .list_deliveries_matching(merchant, &to(&watcher), page)
        .await
        .unwrap()
        .data;
    let disabled: Vec<_> = told
        .iter()
        .filter(|d| d.event == "webhook_endpoint.disabled")
        .collect();
    assert_eq!(disabled.len(), 1, "{told:?}");
    assert_eq!(
        disabled[0].payload["data"]["endpoint"]["id"],
        gone.endpoint.id.to_string()
    );

    // Recover needs the endpoint enabled, then re-arms its failed delivery.
    assert_eq!(
        f.store
            .recover_endpoint(merchant, &gone.endpoint.id, T0, T0, None)
            .await,
        Err(StoreError::Refused(Refusal::EndpointDisabled))
    );
    let on = EndpointPatch {
        status: Some(EndpointStatus::Enabled),
        ..EndpointPatch::default()
    };
    f.store
        .update_endpoint(merchant, &gone.endpoint.id, &on, T0)
        .await
        .unwrap();
    let recovering = f
        .store
        .recover_endpoint(merchant, &gone.endpoint.id, T0, T0, None)
        .await
        .unwrap();
    assert_eq!(recovering.recovering, 1);
    let rearmed = f
        .store
        .delivery(merchant, a)
        .await
        .unwrap()
        .unwrap()
        .delivery;
    assert_eq!((rearmed.status, rearmed.attempts), (Pending, 0));
    let other = MerchantId::generate();
    assert_eq!(
        f.store
            .recover_endpoint(other, &gone.endpoint.id, T0, T0, None)
            .await,
        Err(StoreError::NotFound("Webhook endpoint"))
    );
}

/// Instantiates every test of the suite as a `#[tokio::test]` over `$factory` (an expression of
/// a type implementing [`StoreFactory`](crate::conformance::StoreFactory)).
#[macro_export]
macro_rules! store_conformance_suite {
    ($factory:expr) => {
        $crate::store_conformance_suite!(@each $factory;
            a_delivery_attempt_is_recorded_only_under_a_held_lease,
            settling_is_conditional_on_pending,
            a_panicking_handler_is_retried_with_backoff_then_marked_failed,
            an_unavailable_or_silent_processor_is_asked_again_and_the_payment_settles_once,
            rotating_an_api_secret_replaces_its_hash,
            pruning_removes_expired_keys_and_leaves_jobs_to_the_queue,
            a_payment_with_a_refund_is_never_captured,
            concurrent_captures_and_refunds_keep_the_money_rules,
            jobs_carry_the_request_id_they_were_enqueued_under,
            concurrent_creations_never_exceed_sixteen_endpoints,
            events_fan_out_to_matching_enabled_endpoints_signed_with_their_secrets,
            events_are_recorded_in_their_commands_transaction_and_pruned_by_age,
            endpoint_health_is_decided_in_the_attempts_transaction,
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::conformance::run(&$factory, $crate::conformance::$name).await
        }
    )*};
}
