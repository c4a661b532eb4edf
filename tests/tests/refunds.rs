//! Refunds: partial, multiple, over the limit, and under concurrency.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;
use tests::{Backend, TestApp, TestOptions, TestResponse, conformance};

conformance! {
    async fn a_partial_refund_is_pending_then_processed(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(50000).await;
        let created = app
            .post(
                &format!("/api/v1/payments/{payment}/refunds"),
                json!({ "amount": 25000, "reason": "Customer requested partial refund" }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let refund = created.id();
        assert!(refund.starts_with("rfnd_") && refund.len() == 21);
        assert_eq!(created.json["status"], "pending");
        assert_eq!(created.json["payment_id"], payment.as_str());
        assert_eq!(created.json["amount"], 25000);
        assert_eq!(created.json["reason"], "Customer requested partial refund");
        assert_eq!(created.json["processed_at"], serde_json::Value::Null);

        assert_eq!(app.run_jobs().await, 1);
        let processed = app.get(&format!("/api/v1/refunds/{refund}")).await.json;
        assert_eq!(processed["status"], "processed");
        assert!(processed["processed_at"].is_string());
    }
}

conformance! {
    async fn multiple_refunds_may_add_up_to_the_payment_but_not_beyond(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(10000).await;
        let path = format!("/api/v1/payments/{payment}/refunds");
        assert_eq!(
            app.post(&path, json!({ "amount": 4000 })).await.status,
            StatusCode::CREATED
        );
        assert_eq!(
            app.post(&path, json!({ "amount": 6000 })).await.status,
            StatusCode::CREATED
        );
        let over = app.post(&path, json!({ "amount": 1 })).await;
        assert_eq!(over.status, StatusCode::BAD_REQUEST);
        assert_eq!(over.error_code(), "BAD_REQUEST_ERROR");
        assert!(over.text.contains("exceeds"), "{}", over.text);
        let list = app.get(&path).await.json;
        assert_eq!(list["total"], 2);
        assert_eq!(
            app.get(&format!("/api/v1/refunds?payment_id={payment}"))
                .await
                .json["total"],
            2
        );
    }
}

conformance! {
    async fn a_refund_larger_than_the_payment_is_rejected(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(10000).await;
        let response = app
            .post(
                &format!("/api/v1/payments/{payment}/refunds"),
                json!({ "amount": 10001 }),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.get("/api/v1/refunds").await.json["total"], 0);
    }
}

conformance! {
    async fn a_refund_without_amount_refunds_the_whole_payment(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(7000).await;
        let response = app
            .post(&format!("/api/v1/payments/{payment}/refunds"), json!({}))
            .await;
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(response.json["amount"], 7000);
    }
}

conformance! {
    async fn only_successful_payments_can_be_refunded(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(5000).await;
        let pending = app.create_upi_payment(&order, "failure@paytm").await;
        let response = app
            .post(
                &format!("/api/v1/payments/{pending}/refunds"),
                json!({ "amount": 100 }),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        app.run_jobs().await;
        let response = app
            .post(
                &format!("/api/v1/payments/{pending}/refunds"),
                json!({ "amount": 100 }),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(
            response.text.contains("not in refundable state"),
            "{}",
            response.text
        );
    }
}

conformance! {
    async fn ten_concurrent_refunds_of_sixty_percent_accept_exactly_one(backend: Backend) {
        let app = std::sync::Arc::new(TestApp::spawn_on(backend).await);
        let payment = app.successful_payment(10000).await;
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let app = app.clone();
                let path = format!("/api/v1/payments/{payment}/refunds");
                tokio::spawn(async move { app.post(&path, json!({ "amount": 6000 })).await.status })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CREATED)
                .count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::BAD_REQUEST),
            "{statuses:?}"
        );
        assert_eq!(app.get("/api/v1/refunds").await.json["total"], 1);
    }
}

/// Asks to capture `payment` without and with its amount, and expects both refused because of
/// its refund.
async fn capture_is_refused_for_the_refund(app: &TestApp, payment: &str, amount: i64) {
    let capture = format!("/api/v1/payments/{payment}/capture");
    for body in [json!({}), json!({ "amount": amount })] {
        let refused: TestResponse = app.post(&capture, body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.error_code(), "BAD_REQUEST_ERROR");
        assert!(
            refused.json["error"]["description"]
                .as_str()
                .is_some_and(|d| d.to_lowercase().contains("refund")),
            "the description says why: {}",
            refused.text
        );
    }
    let after = app.get(&format!("/api/v1/payments/{payment}")).await.json;
    assert_eq!(after["captured"], false);
    assert_eq!(after["status"], "success");
}

conformance! {
    async fn capture_after_a_full_refund_and_after_a_partial_refund_is_refused(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        for (refund, amount) in [(json!({}), 10000), (json!({ "amount": 2500 }), 2500)] {
            let payment = app.successful_payment(10000).await;
            let created = app
                .post(&format!("/api/v1/payments/{payment}/refunds"), refund)
                .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
            assert_eq!(created.json["amount"], amount);
            assert_eq!(created.json["status"], "pending");
            capture_is_refused_for_the_refund(&app, &payment, 10000).await;

            app.run_jobs().await;
            let refund = app.get(&format!("/api/v1/refunds/{}", created.id())).await;
            assert_eq!(refund.json["status"], "processed");
            capture_is_refused_for_the_refund(&app, &payment, 10000).await;
        }
    }
}

conformance! {
    async fn a_payment_whose_only_refund_failed_can_still_be_captured(backend: Backend) {
        let options = TestOptions {
            declined_refund_reason: Some("declined by the bank".into()),
            ..TestOptions::default()
        };
        let app = TestApp::with_options_on(backend, options).await;
        let payment = app.successful_payment(10000).await;
        let created = app
            .post(
                &format!("/api/v1/payments/{payment}/refunds"),
                json!({ "amount": 4000, "reason": "declined by the bank" }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        capture_is_refused_for_the_refund(&app, &payment, 10000).await;

        app.run_jobs().await;
        let refund = app.get(&format!("/api/v1/refunds/{}", created.id())).await;
        assert_eq!(refund.json["status"], "failed");
        let captured = app
            .post(&format!("/api/v1/payments/{payment}/capture"), json!({}))
            .await;
        assert_eq!(captured.status, StatusCode::OK, "{}", captured.text);
        assert_eq!(captured.json["captured"], true);
    }
}

/// Any batch of refund requests, sent concurrently in any order, never refunds more than the
/// payment, and accepts exactly the amount the server reports. One app per backend; a fresh
/// payment per case.
fn concurrent_refund_requests_never_exceed_the_payment(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .build()
        .unwrap();
    let app = std::sync::Arc::new(runtime.block_on(TestApp::spawn_on(backend)));
    let strategy = (
        100i64..50_000,
        proptest::collection::vec(1i64..30_000, 1..12),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 16,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |(amount, requests)| {
        runtime.block_on(async {
            let payment = app.successful_payment(amount).await;
            let tasks: Vec<_> = requests
                .iter()
                .map(|r| {
                    let app = app.clone();
                    let path = format!("/api/v1/payments/{payment}/refunds");
                    let r = *r;
                    tokio::spawn(async move {
                        (r, app.post(&path, json!({ "amount": r })).await.status)
                    })
                })
                .collect();
            let mut accepted = 0;
            for task in tasks {
                let (r, status) = task.await.unwrap();
                prop_assert!(
                    status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
                    "{status}"
                );
                if status == StatusCode::CREATED {
                    accepted += r;
                }
            }
            prop_assert!(accepted <= amount);
            let listed: i64 = app
                .get(&format!("/api/v1/payments/{payment}/refunds?limit=100"))
                .await
                .json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["amount"].as_i64().unwrap())
                .sum();
            prop_assert_eq!(listed, accepted);
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

mod concurrent_refund_requests_never_exceed_the_payment {
    use super::*;

    #[test]
    fn sqlite() {
        concurrent_refund_requests_never_exceed_the_payment(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        concurrent_refund_requests_never_exceed_the_payment(Backend::Postgres);
    }
}
