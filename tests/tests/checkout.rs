//! The hosted checkout's browser endpoints: the publishable key alone, scoped to its merchant,
//! signed results, rate limits, and pages that carry no secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use gateway_core::{CheckoutResult, verify_checkout_result};
use serde_json::{Value, json};
use tests::{TestApp, TestOptions, conformance, storage_free};

const KEY: &str = "key_test_abc123";

async fn browser(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> tests::TestResponse {
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    app.send(method, path, None, &[("x-api-key", key)], body)
        .await
}

conformance! {
    async fn the_checkout_reads_an_order_with_the_publishable_key_alone(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let summary = browser(&app, Method::GET, &format!("/api/v1/checkout/orders/{order}"), KEY, None).await;
        assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
        assert_eq!(summary.json, json!({ "id": order, "amount": 50000, "currency": "INR", "status": "created", "merchant_name": "Test Merchant" }));

        let unknown = browser(&app, Method::GET, &format!("/api/v1/checkout/orders/{order}"), "key_nobody", None).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        let other = app.create_merchant("other@example.com").await;
        let theirs = browser(&app, Method::GET, &format!("/api/v1/checkout/orders/{order}"), &other.key, None).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "another merchant's key sees nothing");
        let listing = browser(&app, Method::GET, "/api/v1/checkout/orders", KEY, None).await;
        assert!(listing.status.is_client_error(), "nothing is listable");
        let with_key_only = browser(&app, Method::GET, "/api/v1/orders", KEY, None).await;
        assert_eq!(with_key_only.status, StatusCode::UNAUTHORIZED, "the merchant API still needs the secret");
    }
}

conformance! {
    async fn a_checkout_payment_ends_with_a_result_the_merchant_can_verify(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let body = json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" });
        let created = app
            .send(Method::POST, "/api/v1/checkout/payments", None, &[("x-api-key", KEY), ("idempotency-key", "attempt-1")], body.to_string().into_bytes())
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let payment = created.id();
        let path = format!("/api/v1/checkout/payments/{payment}");
        let pending = browser(&app, Method::GET, &path, KEY, None).await;
        assert_eq!((pending.json["status"].as_str(), pending.json["result"].is_null()), (Some("pending"), true));

        app.run_jobs().await;
        let done = browser(&app, Method::GET, &path, KEY, None).await;
        let result: CheckoutResult = serde_json::from_value(done.json["result"].clone()).unwrap();
        assert_eq!((result.payment_id.as_str(), result.order_id.as_str(), result.amount, result.status.as_str()), (payment.as_str(), order.as_str(), 50000, "success"));
        let now = app.now().as_secs();
        assert_eq!(verify_checkout_result("whsec_test_abc123", &result, now, 300), Ok(()));
        let forged = CheckoutResult { amount: 1, ..result.clone() };
        assert!(verify_checkout_result("whsec_test_abc123", &forged, now, 300).is_err());
        assert!(verify_checkout_result("whsec_other", &result, now, 300).is_err());
        assert_eq!(done.json["result"].as_object().unwrap().keys().cloned().collect::<Vec<_>>(), ["amount", "currency", "orderId", "paymentId", "signature", "status", "timestamp"]);

        let failed_order = app.create_order(1000).await;
        let failed = browser(&app, Method::POST, "/api/v1/checkout/payments", KEY, Some(json!({ "order_id": failed_order, "method": "upi", "vpa": "failure@paytm" }))).await.id();
        app.run_jobs().await;
        let failed = browser(&app, Method::GET, &format!("/api/v1/checkout/payments/{failed}"), KEY, None).await;
        assert_eq!(failed.json["result"]["status"], "failed");
        assert_eq!(failed.json["error_code"], "PAYMENT_FAILED");
        let other = app.create_merchant("other@example.com").await;
        assert_eq!(browser(&app, Method::GET, &path, &other.key, None).await.status, StatusCode::NOT_FOUND);
    }
}

conformance! {
    async fn every_poll_of_a_settled_payment_returns_the_same_signed_result(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let body = json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" });
        let payment = browser(&app, Method::POST, "/api/v1/checkout/payments", KEY, Some(body)).await.id();
        app.run_jobs().await;
        let path = format!("/api/v1/checkout/payments/{payment}");
        let first = browser(&app, Method::GET, &path, KEY, None).await.json["result"].clone();
        assert!(first["signature"].is_string(), "{first}");
        app.advance(std::time::Duration::from_secs(90));
        let later = browser(&app, Method::GET, &path, KEY, None).await.json["result"].clone();
        assert_eq!(later, first, "a later poll re-signed the result");
        let captured = app.post(&format!("/api/v1/payments/{payment}/capture"), json!({})).await;
        assert_eq!(captured.status, StatusCode::OK, "{}", captured.text);
        let after_capture = browser(&app, Method::GET, &path, KEY, None).await.json["result"].clone();
        assert_eq!(after_capture, first, "capturing changed the checkout result");
        let result: CheckoutResult = serde_json::from_value(first).unwrap();
        assert_eq!(result.timestamp, app.now().as_secs() - 90, "signed when the payment settled");
    }
}

conformance! {
    async fn a_customer_cannot_claim_an_idempotency_key_the_merchant_will_use(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let body = json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" }).to_string();
        let pay = || app.send(Method::POST, "/api/v1/checkout/payments", None, &[("x-api-key", KEY), ("idempotency-key", "shared-1")], body.clone().into_bytes());
        let paid = pay().await;
        assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.text);

        let merchant = app.post_idempotent("/api/v1/orders", "shared-1", json!({ "amount": 1000 })).await;
        assert_eq!(merchant.status, StatusCode::CREATED, "the customer's key blocked the merchant: {}", merchant.text);
        let replayed = app.post_idempotent("/api/v1/orders", "shared-1", json!({ "amount": 1000 })).await;
        assert_eq!(replayed.id(), merchant.id(), "the merchant's own key still replays");
        let again = pay().await;
        assert_eq!((again.status, again.id()), (StatusCode::CREATED, paid.id()), "the customer's key still replays");
    }
}

conformance! {
    async fn the_browser_endpoints_are_rate_limited_per_key(backend: Backend) {
        let app = TestApp::with_options_on(backend, TestOptions { checkout_requests_per_minute: 5, ..TestOptions::default() }).await;
        let order = app.create_order(1000).await;
        let path = format!("/api/v1/checkout/orders/{order}");
        for _ in 0..5 {
            assert_eq!(browser(&app, Method::GET, &path, KEY, None).await.status, StatusCode::OK);
        }
        let limited = browser(&app, Method::GET, &path, KEY, None).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.error_code(), "RATE_LIMIT_ERROR");
        let retry_after: u64 = limited.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let other = app.create_merchant("other@example.com").await;
        assert_eq!(browser(&app, Method::GET, &path, &other.key, None).await.status, StatusCode::NOT_FOUND, "another key has its own budget");
        assert_eq!(app.get(&format!("/api/v1/orders/{order}")).await.status, StatusCode::OK, "the merchant API is not limited");
    }
}

storage_free! {
    async fn the_checkout_page_and_sdk_are_served_without_any_secret(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        for (path, kind) in [
            ("/checkout?order_id=order_AAAAAAAAAAAAAAAA&key=key_test_abc123", "text/html"),
            ("/checkout/checkout.js", "text/javascript"),
            ("/checkout/checkout.css", "text/css"),
            ("/checkout.js", "text/javascript"),
        ] {
            let page = app.send(Method::GET, path, None, &[], Vec::new()).await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            assert!(page.headers["content-type"].to_str().unwrap().starts_with(kind), "{path}");
            let csp = page.headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
            for secret in ["secret_test_xyz789", "whsec_test_abc123", "X-Api-Secret", "x-api-secret"] {
                assert!(!page.text.contains(secret), "{path} contains {secret}");
            }
        }
    }
}
