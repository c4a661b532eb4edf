//! Request ids: `X-Request-Id` taken from the client when usable, generated otherwise, echoed on
//! every answer and in error bodies, and recorded in the job rows the request causes, including
//! the jobs those jobs cause (a settled payment's webhook deliveries).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use tests::{Credentials, TestApp, TestResponse, conformance, storage_free};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The `X-Request-Id` an answer carries.
fn request_id(response: &TestResponse) -> &str {
    response
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no X-Request-Id on {}: {}", response.status, response.text))
}

/// `GET path` as the test merchant with `X-Request-Id: id`.
async fn get_with_id(app: &TestApp, path: &str, id: &str) -> TestResponse {
    let credentials = Credentials::test_merchant();
    app.send(
        Method::GET,
        path,
        Some(&credentials),
        &[("x-request-id", id)],
        Vec::new(),
    )
    .await
}

storage_free! {
    async fn a_usable_request_id_is_echoed_on_success_and_error_answers(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let ok = get_with_id(&app, "/api/v1/orders", "my-trace-123").await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(request_id(&ok), "my-trace-123");

        let missing = get_with_id(&app, "/api/v1/orders/order_AAAAAAAAAAAAAAAA", "a.b_c:d-1").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(request_id(&missing), "a.b_c:d-1");
        assert_eq!(missing.json["error"]["request_id"], "a.b_c:d-1");
        assert_eq!(missing.json["error"]["code"], "NOT_FOUND_ERROR");
        assert_eq!(missing.json["error"]["description"], "Order not found");
    }

    async fn an_unusable_request_id_is_replaced_by_a_generated_one(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let too_long = "x".repeat(129);
        for bad in ["has space", "semi;colon", "quote\"", too_long.as_str()] {
            let response = get_with_id(&app, "/api/v1/orders", bad).await;
            assert_eq!(response.status, StatusCode::OK, "{bad:?} is ignored, not refused");
            let id = request_id(&response);
            assert!(id.starts_with("req_") && id.len() == 24, "{bad:?} -> {id}");
        }
    }

    async fn answers_made_outside_the_handlers_carry_a_request_id_too(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let unknown = app.send(Method::GET, "/no/such/route", None, &[], Vec::new()).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let id = request_id(&unknown).to_owned();
        assert_eq!(unknown.json["error"]["request_id"], id.as_str());

        let unauthenticated = app
            .send(Method::GET, "/api/v1/orders", None, &[("x-request-id", "who-am-i")], Vec::new())
            .await;
        assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unauthenticated.json["error"]["request_id"], "who-am-i");

        let too_large = app
            .send(
                Method::POST,
                "/api/v1/orders",
                Some(&Credentials::test_merchant()),
                &[("x-request-id", "big-one")],
                vec![b' '; gateway_http::MAX_BODY_BYTES + 1],
            )
            .await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(request_id(&too_large), "big-one");
        assert_eq!(too_large.json["error"]["request_id"], "big-one");
    }

    async fn two_requests_without_an_id_get_different_ones(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let first = app.get("/api/v1/orders").await;
        let second = app.get("/api/v1/orders").await;
        assert_ne!(request_id(&first), request_id(&second));
        assert!(first.json.get("request_id").is_none(), "success bodies are unchanged");
    }
}

conformance! {
    async fn the_jobs_a_request_causes_and_the_jobs_they_cause_carry_its_request_id(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        // The receiver fails, so every delivery's job stays queued for its retry.
        let receiver = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&receiver)
            .await;
        app.set_webhook_url(&format!("{}/webhook", receiver.uri())).await;
        let order = app.create_order(50000).await;
        let credentials = Credentials::test_merchant();
        let body = json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" });
        let created = app
            .send(
                Method::POST,
                "/api/v1/payments",
                Some(&credentials),
                &[("x-request-id", "trace-the-payment")],
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(request_id(&created), "trace-the-payment");

        // The payment job settles the payment and enqueues the `payment.success` delivery;
        // every delivery's first attempt fails.
        app.run_jobs().await;
        let deliveries = app.deliveries().await;
        let success = deliveries
            .iter()
            .find(|d| d["event"] == "payment.success")
            .expect("a payment.success delivery");
        assert_eq!(deliveries.len(), 3, "created, pending, success: {deliveries:?}");

        app.advance(Duration::from_secs(120));
        let jobs = app
            .queue
            .claim_jobs("inspector", app.now(), Duration::from_secs(60), 100)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 3, "one queued retry per delivery: {jobs:?}");
        for job in &jobs {
            assert_eq!(job.request_id.as_deref(), Some("trace-the-payment"), "{job:?}");
        }
        assert!(
            jobs.iter().any(|j| j.entity_id == success["id"].as_str().unwrap()),
            "the delivery the payment job enqueued inherits the id"
        );

        // A request of its own gets its own id in its jobs.
        let other = app.create_order(1000).await;
        let body = json!({ "order_id": other, "method": "upi", "vpa": "success@paytm" });
        let response = app.post("/api/v1/payments", body).await;
        let generated = request_id(&response).to_owned();
        let jobs = app
            .queue
            .claim_jobs("inspector", app.now(), Duration::from_secs(60), 100)
            .await
            .unwrap();
        assert!(!jobs.is_empty());
        for job in &jobs {
            assert_eq!(job.request_id.as_deref(), Some(generated.as_str()), "{job:?}");
        }
    }
}
