//! The reference's flat card fields (`card_number`, `card_expiry`, `card_cvv`,
//! `card_holder_name`) pay like the nested `card` object, on the merchant API and on the
//! checkout's publishable-key route; ambiguous mixes are refused without repeating the card.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{TestApp, TestResponse, conformance};

/// The test merchant's publishable key.
const KEY: &str = "key_test_abc123";

fn flat(order: &str, number: &str, expiry: &str, cvv: &str) -> Value {
    json!({
        "order_id": order, "method": "card",
        "card_number": number, "card_expiry": expiry, "card_cvv": cvv,
        "card_holder_name": "A Customer"
    })
}

async fn checkout_pay(app: &TestApp, body: &Value) -> TestResponse {
    app.send(
        Method::POST,
        "/api/v1/checkout/payments",
        None,
        &[("x-api-key", KEY)],
        body.to_string().into_bytes(),
    )
    .await
}

async fn status_of(app: &TestApp, payment: &str) -> Value {
    app.get(&format!("/api/v1/payments/{payment}")).await.json["status"].clone()
}

conformance! {
    async fn a_card_payment_with_flat_fields_is_created_and_settles_as_its_test_card_says(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        let ok = app.post("/api/v1/payments", flat(&order, "4111 1111 1111 1111", "12/30", "123")).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
        assert_eq!(
            (&ok.json["method"], &ok.json["card_network"], &ok.json["card_last4"], &ok.json["status"]),
            (&json!("card"), &json!("visa"), &json!("1111"), &json!("pending"))
        );
        let declined_order = app.create_order(2500).await;
        let declined = app
            .post("/api/v1/payments", flat(&declined_order, "4000000000000002", "12/2030", "4321"))
            .await;
        assert_eq!(declined.status, StatusCode::CREATED, "{}", declined.text);

        app.run_jobs().await;
        assert_eq!(status_of(&app, &ok.id()).await, "success");
        assert_eq!(status_of(&app, &declined.id()).await, "failed");
    }
}

conformance! {
    async fn the_checkout_route_takes_flat_card_fields_with_the_publishable_key(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        let created = checkout_pay(&app, &flat(&order, "4111111111111111", "01/30", "123")).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.json["card_last4"], "1111");
        app.run_jobs().await;
        assert_eq!(status_of(&app, &created.id()).await, "success");
    }
}

conformance! {
    async fn flat_card_fields_are_checked_as_a_nested_card_is(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        // The test clock reads January 2024.
        for (number, expiry, cvv, code) in [
            ("4111111111111112", "12/30", "123", "INVALID_CARD"),
            ("4111111111111111", "12/30", "12", "INVALID_CARD"),
            ("4111111111111111", "12/30", "12a", "INVALID_CARD"),
            ("4111111111111111", "12/23", "123", "EXPIRED_CARD"),
            ("4111111111111111", "13/30", "123", "EXPIRED_CARD"),
            ("4111111111111111", "1230", "123", "EXPIRED_CARD"),
            ("4111111111111111", "12-30", "123", "EXPIRED_CARD"),
            ("4111111111111111", "ab/cd", "123", "EXPIRED_CARD"),
            ("4111111111111111", "12/300", "123", "EXPIRED_CARD"),
        ] {
            for response in [
                app.post("/api/v1/payments", flat(&order, number, expiry, cvv)).await,
                checkout_pay(&app, &flat(&order, number, expiry, cvv)).await,
            ] {
                assert_eq!(response.status, StatusCode::BAD_REQUEST, "{number} {expiry} {cvv}");
                assert_eq!(response.error_code(), code, "{number} {expiry} {cvv}: {}", response.text);
                assert!(!response.text.contains(number), "{}", response.text);
            }
        }
        let this_month = app.post("/api/v1/payments", flat(&order, "4111111111111111", "1/24", "123")).await;
        assert_eq!(this_month.status, StatusCode::CREATED, "the card is valid through its expiry month: {}", this_month.text);
    }
}

conformance! {
    async fn a_card_sent_both_ways_or_half_flat_is_refused_without_repeating_it(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        let nested = json!({ "number": "5555555555554444", "expiry_month": 12, "expiry_year": 2030, "cvv": "739" });
        let mut both = flat(&order, "4111111111111111", "12/30", "123");
        both["card"] = nested;
        let mut partial = flat(&order, "4111111111111111", "12/30", "123");
        partial.as_object_mut().unwrap().remove("card_cvv");
        let mut number_as_number = flat(&order, "", "12/30", "123");
        number_as_number["card_number"] = json!(4_111_111_111_111_111_u64);
        for (body, says) in [
            (both, "either as `card` or as the flat fields"),
            (partial, "missing: `card_cvv`"),
            (number_as_number, "`card_number` must be a string, not an integer"),
        ] {
            for response in [app.post("/api/v1/payments", body.clone()).await, checkout_pay(&app, &body).await] {
                assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
                assert_eq!(response.error_code(), "BAD_REQUEST_ERROR");
                let description = response.json["error"]["description"].as_str().unwrap();
                assert!(description.contains(says), "{description}");
                // The random request id may hold any three digits; everything else must not.
                let mut shown = response.json.clone();
                shown["error"].as_object_mut().unwrap().remove("request_id");
                let shown = shown.to_string();
                for secret in ["4111", "5555", "739"] {
                    assert!(!shown.contains(secret), "{}", response.text);
                }
            }
        }
        assert_eq!(app.get("/api/v1/payments").await.json["total"], 0);
    }
}

conformance! {
    async fn a_flat_card_and_the_same_card_nested_are_one_request_to_an_idempotency_key(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(2500).await;
        let first = app
            .post_idempotent("/api/v1/payments", "attempt-1", flat(&order, "4111111111111111", "12/30", "123"))
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let nested = json!({
            "order_id": order, "method": "card",
            "card": { "number": "4111111111111111", "expiry_month": "12", "expiry_year": "30", "cvv": "123", "holder_name": "A Customer" }
        });
        let again = app.post_idempotent("/api/v1/payments", "attempt-1", nested).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
        assert_eq!(again.id(), first.id());
        let other_card = app
            .post_idempotent("/api/v1/payments", "attempt-1", flat(&order, "5555555555554444", "12/30", "123"))
            .await;
        assert_eq!(other_card.error_code(), "IDEMPOTENCY_KEY_REUSED_ERROR");
    }
}
