//! The signer seam: an async signer that cannot sign (a key service that does not answer) sends
//! nothing unsigned, costs the endpoint no attempt, and is asked again; the checkout's signed
//! result comes from the same signer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use gateway_core::signer::{SignatureHeaders, SignerError};
use gateway_core::{CheckoutResult, HmacSigner, WebhookSigner, verify_checkout_result};
use tests::{TestApp, TestOptions, conformance};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// HMAC signing behind a switch: while `down`, every call fails as a remote signer would.
#[derive(Default)]
struct RemoteSigner {
    down: AtomicBool,
    calls: std::sync::atomic::AtomicUsize,
}

impl RemoteSigner {
    fn answer(&self) -> Result<(), SignerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(SignerError::Unavailable("key service timed out".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl WebhookSigner for RemoteSigner {
    async fn sign(
        &self,
        secrets: &[&str],
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<SignatureHeaders, SignerError> {
        self.answer()?;
        HmacSigner.sign(secrets, id, timestamp, body).await
    }

    async fn sign_checkout(&self, secret: &str, message: &[u8]) -> Result<String, SignerError> {
        self.answer()?;
        HmacSigner.sign_checkout(secret, message).await
    }
}

async fn app_signing_with(backend: tests::Backend) -> (TestApp, Arc<RemoteSigner>) {
    let signer = Arc::new(RemoteSigner::default());
    let options = TestOptions {
        signer: Some(signer.clone()),
        ..TestOptions::default()
    };
    (TestApp::with_options_on(backend, options).await, signer)
}

conformance! {
    async fn an_unavailable_signer_sends_nothing_unsigned_and_costs_no_attempt(backend: Backend) {
        let (app, signer) = app_signing_with(backend).await;
        let receiver = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
        app.set_webhook_url(&format!("{}/hook", receiver.uri())).await;

        signer.down.store(true, Ordering::SeqCst);
        app.successful_payment(50000).await;
        assert!(signer.calls.load(Ordering::SeqCst) >= 3, "each delivery asked the signer");
        assert!(receiver.received_requests().await.unwrap().is_empty(), "nothing went out unsigned");
        let deliveries = app.deliveries().await;
        assert_eq!(deliveries.len(), 3);
        for delivery in &deliveries {
            assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_i64()), (Some("pending"), Some(0)), "{delivery}");
        }

        signer.down.store(false, Ordering::SeqCst);
        for _ in 0..60 {
            if receiver.received_requests().await.unwrap().len() == 3 {
                break;
            }
            app.advance(Duration::from_secs(60));
            app.run_jobs().await;
        }
        let requests = receiver.received_requests().await.unwrap();
        assert_eq!(requests.len(), 3, "each delivery is sent once the signer answers");
        for request in &requests {
            let expected = HmacSigner::headers("whsec_test_abc123", "", 0, &request.body).webhook_signature;
            assert_eq!(request.headers["x-webhook-signature"].to_str().unwrap(), expected);
        }
        for delivery in app.deliveries().await {
            assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_i64()), (Some("success"), Some(1)), "{delivery}");
        }
    }
}

conformance! {
    async fn the_checkout_result_is_signed_by_the_configured_signer(backend: Backend) {
        let (app, signer) = app_signing_with(backend).await;
        let payment = app.successful_payment(50000).await;
        let path = format!("/api/v1/checkout/payments/{payment}");
        let poll = || app.send(Method::GET, &path, None, &[("x-api-key", "key_test_abc123")], Vec::new());

        signer.down.store(true, Ordering::SeqCst);
        let calls_before = signer.calls.load(Ordering::SeqCst);
        let unavailable = poll().await;
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE, "{}", unavailable.text);
        assert_eq!(signer.calls.load(Ordering::SeqCst), calls_before + 1, "the checkout asked the signer");
        assert!(!unavailable.text.contains("key service"), "the signer's reason stays in the log");

        signer.down.store(false, Ordering::SeqCst);
        let done = poll().await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        let result: CheckoutResult = serde_json::from_value(done.json["result"].clone()).unwrap();
        assert_eq!(verify_checkout_result("whsec_test_abc123", &result, app.now().as_secs(), 300), Ok(()));
    }
}
