//! Idempotency keys: replay, mismatch and concurrent duplicates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use serde_json::json;
use tests::{Credentials, TestApp, conformance};

conformance! {
    async fn a_replayed_payment_returns_the_original_response_and_creates_nothing(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(50000).await;
        let body = json!({ "order_id": order, "method": "upi", "vpa": "user@paytm" });
        let first = app
            .post_idempotent("/api/v1/payments", "unique_request_id_123", body.clone())
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert!(first.headers.get("idempotent-replayed").is_none());
        app.run_jobs().await;

        let second = app
            .post_idempotent("/api/v1/payments", "unique_request_id_123", body)
            .await;
        assert_eq!(second.status, StatusCode::CREATED);
        assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
        assert_eq!(
            second.json, first.json,
            "the original body, even though the payment has settled since"
        );
        assert_eq!(app.get("/api/v1/payments").await.json["total"], 1);
    }
}

conformance! {
    async fn formatting_differences_still_replay(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let first = app
            .send(
                Method::POST,
                "/api/v1/orders",
                Some(&Credentials::test_merchant()),
                &[("idempotency-key", "k1")],
                br#"{"amount":1000,"currency":"INR"}"#.to_vec(),
            )
            .await;
        let second = app
            .send(
                Method::POST,
                "/api/v1/orders",
                Some(&Credentials::test_merchant()),
                &[("idempotency-key", "k1")],
                b"{ \"currency\": \"INR\",\n \"amount\": 1000 }".to_vec(),
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
        assert_eq!(second.id(), first.id());
    }
}

conformance! {
    async fn reusing_a_key_for_a_different_request_is_refused_and_changes_nothing(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let first = app
            .post_idempotent("/api/v1/orders", "key-1", json!({ "amount": 1000 }))
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        let other_body = app
            .post_idempotent("/api/v1/orders", "key-1", json!({ "amount": 2000 }))
            .await;
        assert!(other_body.status.is_client_error(), "{}", other_body.status);
        assert_eq!(other_body.error_code(), "IDEMPOTENCY_KEY_REUSED_ERROR");
        let order = first.id();
        let other_path = app
            .post_idempotent(
                "/api/v1/payments",
                "key-1",
                json!({ "order_id": order, "method": "upi", "vpa": "a@b" }),
            )
            .await;
        assert!(other_path.status.is_client_error());
        assert_eq!(app.get("/api/v1/orders").await.json["total"], 1);
        assert_eq!(app.get("/api/v1/payments").await.json["total"], 0);
    }
}

conformance! {
    async fn keys_are_scoped_to_the_merchant(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let other = app.create_merchant("other@example.com").await;
        let mine = app
            .post_idempotent("/api/v1/orders", "shared-key", json!({ "amount": 1000 }))
            .await;
        let theirs = app
            .send(
                Method::POST,
                "/api/v1/orders",
                Some(&other),
                &[("idempotency-key", "shared-key")],
                json!({ "amount": 1000 }).to_string().into_bytes(),
            )
            .await;
        assert_eq!(theirs.status, StatusCode::CREATED);
        assert!(theirs.headers.get("idempotent-replayed").is_none());
        assert_ne!(mine.id(), theirs.id());
    }
}

conformance! {
    async fn keys_expire_after_24_hours(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let first = app
            .post_idempotent("/api/v1/orders", "daily", json!({ "amount": 1000 }))
            .await;
        app.advance(std::time::Duration::from_secs(24 * 3600 + 1));
        let later = app
            .post_idempotent("/api/v1/orders", "daily", json!({ "amount": 1000 }))
            .await;
        assert_eq!(later.status, StatusCode::CREATED);
        assert!(later.headers.get("idempotent-replayed").is_none());
        assert_ne!(later.id(), first.id());
    }
}

conformance! {
    async fn invalid_keys_are_rejected(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let long = "k".repeat(300);
        let response = app
            .post_idempotent("/api/v1/orders", &long, json!({ "amount": 1000 }))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.get("/api/v1/orders").await.json["total"], 0);
    }
}

conformance! {
    async fn refund_and_capture_replays_do_not_act_twice(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(10000).await;
        // Capture first: a payment with a refund can no longer be captured.
        let capture = format!("/api/v1/payments/{payment}/capture");
        assert_eq!(
            app.post_idempotent(&capture, "cap-1", json!({}))
                .await
                .status,
            StatusCode::OK
        );
        let replay = app.post_idempotent(&capture, "cap-1", json!({})).await;
        assert_eq!(
            replay.status,
            StatusCode::OK,
            "a replayed capture answers as the first did: {}",
            replay.text
        );
        assert_eq!(replay.json["captured"], true);
        let refunds = format!("/api/v1/payments/{payment}/refunds");
        let a = app
            .post_idempotent(&refunds, "refund-1", json!({ "amount": 6000 }))
            .await;
        let b = app
            .post_idempotent(&refunds, "refund-1", json!({ "amount": 6000 }))
            .await;
        assert_eq!(
            (a.status, b.status),
            (StatusCode::CREATED, StatusCode::CREATED)
        );
        assert_eq!(a.id(), b.id());
        assert_eq!(app.get(&refunds).await.json["total"], 1);
    }
}

conformance! {
    async fn twenty_concurrent_requests_with_one_key_create_one_payment(backend: Backend) {
        let app = std::sync::Arc::new(TestApp::spawn_on(backend).await);
        let order = app.create_order(50000).await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let app = app.clone();
                let body = json!({ "order_id": order, "method": "upi", "vpa": "user@paytm" });
                tokio::spawn(async move {
                    app.post_idempotent("/api/v1/payments", "same-key", body)
                        .await
                })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let response = task.await.unwrap();
            assert!(
                response.status == StatusCode::CREATED || response.status == StatusCode::CONFLICT,
                "{}",
                response.text
            );
            if response.status == StatusCode::CREATED {
                ids.insert(response.id());
            }
        }
        assert_eq!(ids.len(), 1, "every success names the same payment");
        assert_eq!(app.get("/api/v1/payments").await.json["total"], 1);
        assert_eq!(app.job_status().await["pending"], 1, "one payment job");
    }
}
