//! Orders, payments and capture through the real router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use serde_json::json;
use tests::{TestApp, TestOptions, conformance};

conformance! {
    async fn an_order_is_created_with_the_reference_shape(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let response = app
            .post(
                "/api/v1/orders",
                json!({ "amount": 50000, "currency": "INR", "receipt": "receipt_123" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED);
        let order = &response.json;
        let id = order["id"].as_str().unwrap();
        assert!(
            id.starts_with("order_") && id.len() == "order_".len() + 16,
            "{id}"
        );
        assert_eq!(order["amount"], 50000);
        assert_eq!(order["currency"], "INR");
        assert_eq!(order["receipt"], "receipt_123");
        assert_eq!(order["status"], "created");
        assert_eq!(order["created_at"], "2024-01-15T10:30:00Z");
        let fetched = app.get(&format!("/api/v1/orders/{id}")).await;
        assert_eq!(fetched.json, response.json);
    }
}

conformance! {
    async fn currency_defaults_to_inr(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let response = app.post("/api/v1/orders", json!({ "amount": 100 })).await;
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(response.json["currency"], "INR");
    }
}

conformance! {
    async fn a_upi_payment_is_pending_then_settled_by_the_worker(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let created = app
            .post(
                "/api/v1/payments",
                json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        assert_eq!(created.json["status"], "pending");
        assert_eq!(created.json["method"], "upi");
        assert_eq!(created.json["vpa"], "success@paytm");
        assert_eq!(created.json["amount"], 50000);
        let id = created.id();
        assert!(id.starts_with("pay_") && id.len() == 20);
        assert_eq!(
            app.get(&format!("/api/v1/orders/{order}")).await.json["status"],
            "attempted"
        );

        assert_eq!(app.run_jobs().await, 1);
        let settled = app.get(&format!("/api/v1/payments/{id}")).await;
        assert_eq!(settled.json["status"], "success");
        assert_eq!(settled.json["captured"], false);
        assert_eq!(
            app.get(&format!("/api/v1/orders/{order}")).await.json["status"],
            "paid"
        );
    }
}

conformance! {
    async fn the_failure_vpa_fails_with_an_error_code(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let id = app.create_upi_payment(&order, "failure@paytm").await;
        app.run_jobs().await;
        let payment = app.get(&format!("/api/v1/payments/{id}")).await.json;
        assert_eq!(payment["status"], "failed");
        assert_eq!(payment["error_code"], "PAYMENT_FAILED");
        assert_eq!(
            app.get(&format!("/api/v1/orders/{order}")).await.json["status"],
            "attempted"
        );
    }
}

conformance! {
    async fn test_payment_success_false_fails_ordinary_instruments(backend: Backend) {
        let mut options = TestOptions::default();
        options.simulation.test_success = false;
        let app = TestApp::with_options_on(backend, options).await;
        let order = app.create_order(1000).await;
        let ordinary = app.create_upi_payment(&order, "user@paytm").await;
        app.run_jobs().await;
        let forced = app.create_upi_payment(&order, "success@paytm").await;
        app.run_jobs().await;
        assert_eq!(
            app.get(&format!("/api/v1/payments/{ordinary}")).await.json["status"],
            "failed"
        );
        assert_eq!(
            app.get(&format!("/api/v1/payments/{forced}")).await.json["status"],
            "success"
        );
    }
}

conformance! {
    async fn an_order_takes_a_second_payment_only_after_the_first_failed(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(1000).await;
        let first = app.create_upi_payment(&order, "failure@paytm").await;
        let while_pending = app.post("/api/v1/payments", json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" })).await;
        assert_eq!(while_pending.status, StatusCode::BAD_REQUEST, "{}", while_pending.text);
        assert!(while_pending.text.contains("in progress"), "{}", while_pending.text);
        app.run_jobs().await;
        assert_eq!(app.get(&format!("/api/v1/payments/{first}")).await.json["status"], "failed");
        let retry = app.create_upi_payment(&order, "success@paytm").await;
        app.run_jobs().await;
        assert_eq!(app.get(&format!("/api/v1/payments/{retry}")).await.json["status"], "success");
        assert_eq!(app.get(&format!("/api/v1/payments?order_id={order}")).await.json["total"], 2);
    }
}

conformance! {
    async fn payments_wait_for_the_processing_delay(backend: Backend) {
        let mut options = TestOptions::default();
        options.simulation.test_delay = std::time::Duration::from_secs(5);
        let app = TestApp::with_options_on(backend, options).await;
        let order = app.create_order(1000).await;
        let id = app.create_upi_payment(&order, "success@paytm").await;
        assert_eq!(app.run_jobs().await, 0);
        app.advance(std::time::Duration::from_secs(5));
        assert_eq!(app.run_jobs().await, 1);
        assert_eq!(
            app.get(&format!("/api/v1/payments/{id}")).await.json["status"],
            "success"
        );
    }
}

fn card(number: &str) -> serde_json::Value {
    json!({ "number": number, "expiry_month": 12, "expiry_year": 2030, "cvv": "123", "holder_name": "A Customer" })
}

conformance! {
    async fn card_payments_keep_network_and_last4_and_settle_by_test_card(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        let ok = app
            .post(
                "/api/v1/payments",
                json!({ "order_id": order, "method": "card", "card": card("4111 1111 1111 1111") }),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
        assert_eq!(ok.json["method"], "card");
        assert_eq!(ok.json["card_network"], "visa");
        assert_eq!(ok.json["card_last4"], "1111");
        assert!(!ok.text.contains("4111111111111111") && !ok.text.contains("\"cvv\""));
        let other_order = app.create_order(2500).await;
        let declined = app
            .post(
                "/api/v1/payments",
                json!({ "order_id": other_order, "method": "card", "card": card("4000000000000002") }),
            )
            .await;
        assert_eq!(declined.status, StatusCode::CREATED);
        app.run_jobs().await;
        assert_eq!(
            app.get(&format!("/api/v1/payments/{}", declined.id()))
                .await
                .json["status"],
            "failed"
        );
        assert_eq!(
            app.get(&format!("/api/v1/payments/{}", ok.id())).await.json["status"],
            "success"
        );
    }
}

conformance! {
    async fn invalid_instruments_are_rejected_with_their_codes_and_write_nothing(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        let cases = [
            (
                json!({ "order_id": order, "method": "upi", "vpa": "not-a-vpa" }),
                "INVALID_VPA",
            ),
            (
                json!({ "order_id": order, "method": "card", "card": card("4111111111111112") }),
                "INVALID_CARD",
            ),
            (
                json!({ "order_id": order, "method": "card", "card": { "number": "4111111111111111", "expiry_month": 1, "expiry_year": 2020, "cvv": "123" } }),
                "EXPIRED_CARD",
            ),
            (
                json!({ "order_id": order, "method": "card", "card": { "number": "4111111111111111", "expiry_month": 1, "expiry_year": 2030, "cvv": "1" } }),
                "INVALID_CARD",
            ),
            (
                json!({ "order_id": order, "method": "netbanking" }),
                "BAD_REQUEST_ERROR",
            ),
            (
                json!({ "order_id": order, "method": "upi" }),
                "BAD_REQUEST_ERROR",
            ),
        ];
        for (body, code) in cases {
            let response = app.post("/api/v1/payments", body.clone()).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(response.error_code(), code, "{body}");
        }
        assert_eq!(app.get("/api/v1/payments").await.json["total"], 0);
        assert_eq!(
            app.get(&format!("/api/v1/orders/{order}")).await.json["status"],
            "created"
        );
    }
}

conformance! {
    async fn a_payment_for_an_unknown_order_is_not_found(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let response = app
            .post(
                "/api/v1/payments",
                json!({ "order_id": "order_0000000000000000", "method": "upi", "vpa": "a@b" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), "NOT_FOUND_ERROR");
    }
}

conformance! {
    async fn a_paid_order_accepts_no_further_payment(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(1000).await;
        app.create_upi_payment(&order, "success@paytm").await;
        app.run_jobs().await;
        let again = app
            .post(
                "/api/v1/payments",
                json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" }),
            )
            .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
    }
}

conformance! {
    async fn capture_needs_a_successful_payment_and_happens_once(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let pending = app.create_upi_payment(&order, "success@paytm").await;
        let early = app
            .post(
                &format!("/api/v1/payments/{pending}/capture"),
                json!({ "amount": 50000 }),
            )
            .await;
        assert_eq!(early.status, StatusCode::BAD_REQUEST);
        assert_eq!(early.error_code(), "BAD_REQUEST_ERROR");
        app.run_jobs().await;

        let partial = app
            .post(
                &format!("/api/v1/payments/{pending}/capture"),
                json!({ "amount": 100 }),
            )
            .await;
        assert_eq!(partial.status, StatusCode::BAD_REQUEST);
        let captured = app
            .post(
                &format!("/api/v1/payments/{pending}/capture"),
                json!({ "amount": 50000 }),
            )
            .await;
        assert_eq!(captured.status, StatusCode::OK, "{}", captured.text);
        assert_eq!(captured.json["captured"], true);
        assert_eq!(
            app.get(&format!("/api/v1/payments/{pending}")).await.json["captured"],
            true
        );
        let twice = app
            .post(&format!("/api/v1/payments/{pending}/capture"), json!({}))
            .await;
        assert_eq!(twice.status, StatusCode::BAD_REQUEST);

        let failed_order = app.create_order(1000).await;
        let failed = app.create_upi_payment(&failed_order, "failure@paytm").await;
        app.run_jobs().await;
        assert_eq!(
            app.post(&format!("/api/v1/payments/{failed}/capture"), json!({}))
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}

conformance! {
    async fn lists_are_paginated_newest_first_and_filterable(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let mut orders = Vec::new();
        for i in 0..3 {
            orders.push(app.create_order(1000 + i).await);
            app.advance(std::time::Duration::from_secs(1));
        }
        let page = app.get("/api/v1/orders?limit=2&offset=0").await.json;
        assert_eq!(page["total"], 3);
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], 0);
        assert_eq!(page["data"][0]["id"], orders[2].as_str());
        assert_eq!(page["data"][1]["id"], orders[1].as_str());
        let rest = app.get("/api/v1/orders?limit=2&offset=2").await.json;
        assert_eq!(rest["data"].as_array().unwrap().len(), 1);

        let ok = app.create_upi_payment(&orders[0], "success@paytm").await;
        app.create_upi_payment(&orders[1], "failure@paytm").await;
        app.run_jobs().await;
        let successes = app.get("/api/v1/payments?status=success").await.json;
        assert_eq!(successes["total"], 1);
        assert_eq!(successes["data"][0]["id"], ok.as_str());
        assert_eq!(
            app.get(&format!("/api/v1/payments?order_id={}", orders[1]))
                .await
                .json["total"],
            1
        );
        assert_eq!(
            app.get("/api/v1/payments?status=bogus").await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.get("/api/v1/orders?limit=0").await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.get("/api/v1/orders?limit=101").await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.get("/api/v1/orders?limit=abc").await.status,
            StatusCode::BAD_REQUEST
        );
    }
}
