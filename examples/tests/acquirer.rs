//! The example acquirer connector against a wiremock acquirer that fails, hangs, answers
//! `pending` and calls back twice: no double charge, no lost payment, none left pending.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gateway_core::crypto::hmac_sha256;
use gateway_core::gateway::{CapturePayment, CreateOrder, CreatePayment};
use gateway_core::merchant::SecretHasher;
use gateway_core::payment::{Payment, PaymentOutcome, PaymentStatus};
use gateway_core::{
    BuiltGateway, GatewayBuilder, GatewayError, ManualClock, Processor, Store, Timestamp,
    WorkerConfig,
};
use gateway_examples::acquirer::{AcquirerConnector, CallbackError};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PEPPER: &str = "acquirer-test-pepper";
const CALLBACK_SECRET: &[u8] = b"acquirer-callback-secret";
const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn connector(acquirer: &MockServer) -> AcquirerConnector {
    AcquirerConnector::new(acquirer.uri(), Duration::from_millis(300), CALLBACK_SECRET).unwrap()
}

fn answer(status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "reference": "x", "status": status }))
}

/// Mounts `response` for the next `times` authorisations.
async fn then(acquirer: &MockServer, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path("/v1/authorisations"))
        .respond_with(response)
        .up_to_n_times(times)
        .mount(acquirer)
        .await;
}

/// A gateway on a fresh SQLite file with `processor`, a merchant, and a pending UPI payment.
async fn pending_payment(
    processor: Arc<dyn Processor>,
    clock: Arc<ManualClock>,
) -> (tempfile::TempDir, Arc<dyn Store>, BuiltGateway, Payment) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = gateway_store::open(&url).await.unwrap();
    let (row, credentials) = SecretHasher::new(PEPPER).issue("a@example.com", "Shop", T0);
    store.insert_merchant(&row).await.unwrap();
    let built = GatewayBuilder::new(store.clone())
        .pepper(PEPPER)
        .processor(processor)
        .clock(clock)
        .build()
        .unwrap();
    let gateway = built.gateway();
    let merchant = gateway
        .authenticate(&credentials.api_key, &credentials.api_secret)
        .await
        .unwrap();
    let order = gateway
        .create_order(
            merchant,
            CreateOrder {
                amount: 50_000,
                currency: None,
                receipt: None,
                notes: None,
            },
        )
        .await
        .unwrap();
    let payment = gateway
        .create_payment(merchant, CreatePayment::upi(order.id, "shopper@okhdfc"))
        .await
        .unwrap();
    (dir, store, built, payment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_a_timeout_and_a_pending_answer_leave_the_payment_pending_until_the_acquirer_decides()
{
    let acquirer = MockServer::start().await;
    then(&acquirer, ResponseTemplate::new(500), 1).await;
    then(
        &acquirer,
        answer("approved").set_delay(Duration::from_secs(2)),
        1,
    )
    .await;
    then(&acquirer, answer("pending"), 1).await;
    then(&acquirer, answer("approved"), 10).await;
    let clock = Arc::new(ManualClock::new(T0));
    let (_dir, store, built, payment) =
        pending_payment(Arc::new(connector(&acquirer)), clock.clone()).await;
    let worker = Arc::new(built.worker(WorkerConfig {
        processor_timeout: Duration::from_secs(5),
        ..WorkerConfig::default()
    }));

    for asked in 1..=3 {
        assert_eq!(worker.clone().run_once().await, 1, "ask {asked}");
        let now = store.payment(None, &payment.id).await.unwrap().unwrap();
        assert_eq!(now.status, PaymentStatus::Pending, "after ask {asked}");
        clock.advance(Duration::from_secs(600));
    }
    assert_eq!(worker.clone().run_once().await, 1);
    let settled = store.payment(None, &payment.id).await.unwrap().unwrap();
    assert_eq!(settled.status, PaymentStatus::Success);

    clock.advance(Duration::from_secs(3600));
    assert_eq!(worker.clone().run_once().await, 0, "nothing left to ask");
    let calls = acquirer.received_requests().await.unwrap();
    assert_eq!(
        calls.len(),
        4,
        "one authorisation per ask, none after the answer"
    );
    for call in &calls {
        assert_eq!(
            call.headers["idempotency-key"].to_str().unwrap(),
            payment.id.to_string(),
            "every ask is the same request at the acquirer"
        );
    }
    let counts = store.job_queue().job_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.processing, counts.failed),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_declined_authorisation_fails_the_payment() {
    let acquirer = MockServer::start().await;
    then(&acquirer, answer("declined"), 1).await;
    let clock = Arc::new(ManualClock::new(T0));
    let (_dir, store, built, payment) =
        pending_payment(Arc::new(connector(&acquirer)), clock.clone()).await;
    let worker = Arc::new(built.worker(WorkerConfig::default()));
    assert_eq!(worker.run_once().await, 1);
    let failed = store.payment(None, &payment.id).await.unwrap().unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("PAYMENT_FAILED"));
}

#[tokio::test]
async fn the_first_signed_callback_decides_and_later_or_unsigned_ones_change_nothing() {
    let acquirer = MockServer::start().await; // answers nothing: a call would be a 404
    let clock = Arc::new(ManualClock::new(T0));
    let (_dir, _store, _built, payment) =
        pending_payment(Arc::new(connector(&acquirer)), clock).await;
    let connector = connector(&acquirer);
    let reference = payment.id.to_string();
    let body = |status: &str| json!({ "reference": reference, "status": status }).to_string();
    let sign = |body: &str| hex::encode(hmac_sha256(CALLBACK_SECRET, &[body.as_bytes()]));

    let forged = body("declined");
    assert_eq!(
        connector.callback(forged.as_bytes(), &hex::encode([0u8; 32])),
        Err(CallbackError::Signature)
    );
    let approved = body("approved");
    connector
        .callback(approved.as_bytes(), &sign(&approved))
        .unwrap();
    connector
        .callback(approved.as_bytes(), &sign(&approved))
        .unwrap();
    let contradicting = body("declined");
    connector
        .callback(contradicting.as_bytes(), &sign(&contradicting))
        .unwrap();

    assert_eq!(
        connector.decide_payment(&payment, None).await,
        Ok(PaymentOutcome::Succeeded),
        "the first final status, twice reported, later contradicted"
    );
    assert!(
        acquirer.received_requests().await.unwrap().is_empty(),
        "a reported status needs no call"
    );
}

#[tokio::test]
async fn a_refund_is_sent_once_per_refund_id_and_processed() {
    let acquirer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(answer("processed"))
        .mount(&acquirer)
        .await;
    let connector = connector(&acquirer);
    let refund = gateway_core::refund::Refund {
        id: gateway_core::ids::RefundId::generate(),
        payment_id: gateway_core::ids::PaymentId::generate(),
        merchant_id: gateway_core::merchant::test_merchant::ID,
        amount: gateway_core::money::Amount::new(1_000).unwrap(),
        reason: None,
        status: gateway_core::refund::RefundStatus::Pending,
        created_at: T0,
        processed_at: None,
    };
    assert_eq!(connector.decide_refund(&refund).await, Ok(true));
    let calls = acquirer.received_requests().await.unwrap();
    assert_eq!(
        calls[0].headers["idempotency-key"].to_str().unwrap(),
        refund.id.to_string()
    );
}

#[tokio::test]
async fn a_capture_is_recorded_only_once_the_acquirer_has_captured_it() {
    let acquirer = MockServer::start().await;
    then(&acquirer, answer("approved"), 1).await;
    Mock::given(method("POST"))
        .and(path("/v1/captures"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&acquirer)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/captures"))
        .respond_with(answer("captured"))
        .mount(&acquirer)
        .await;
    let clock = Arc::new(ManualClock::new(T0));
    let (_dir, store, built, payment) =
        pending_payment(Arc::new(connector(&acquirer)), clock).await;
    assert_eq!(
        Arc::new(built.worker(WorkerConfig::default()))
            .run_once()
            .await,
        1
    );
    let gateway = built.gateway();
    let capture =
        || gateway.capture_payment(payment.merchant_id, &payment.id, CapturePayment::default());

    let refused = capture().await;
    assert!(
        matches!(refused, Err(GatewayError::Unavailable)),
        "{refused:?}"
    );
    let stored = store.payment(None, &payment.id).await.unwrap().unwrap();
    assert!(
        !stored.captured,
        "a failed acquirer capture records nothing"
    );

    let captured = capture().await.unwrap();
    assert!(captured.captured);
    assert!(
        store
            .payment(None, &payment.id)
            .await
            .unwrap()
            .unwrap()
            .captured
    );
    let captures: Vec<_> = acquirer
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/captures")
        .collect();
    assert_eq!(captures.len(), 2, "asked again after the 500");
    for call in &captures {
        assert_eq!(
            call.headers["idempotency-key"].to_str().unwrap(),
            format!("capture-{}", payment.id),
            "the same capture request both times"
        );
    }
}
