//! Bad input gets a clear 4xx JSON error, changes nothing, and never a 500.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tests::{Backend, Credentials, TestApp, conformance, storage_free};

async fn assert_nothing_written(app: &TestApp) {
    for list in ["/api/v1/orders", "/api/v1/payments", "/api/v1/refunds"] {
        assert_eq!(app.get(list).await.json["total"], 0, "{list}");
    }
}

conformance! {
    async fn bad_order_bodies_are_rejected_as_json_400s(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let bodies: Vec<Vec<u8>> = vec![
            br#"{"amount": "50000"}"#.to_vec(),
            br#"{"amount": -100}"#.to_vec(),
            br#"{"amount": 0}"#.to_vec(),
            br#"{"amount": 99}"#.to_vec(),
            br#"{"amount": 500.5}"#.to_vec(),
            br#"{"amount": 1e20}"#.to_vec(),
            br#"{"amount": 100000000000000000000000}"#.to_vec(),
            br#"{"amount": 1000000000001}"#.to_vec(),
            br#"{"amount": null}"#.to_vec(),
            br#"{"amount": [1000]}"#.to_vec(),
            br#"{"amount": {"value": 1000}}"#.to_vec(),
            br#"{"amount": true}"#.to_vec(),
            br#"{}"#.to_vec(),
            br#"[]"#.to_vec(),
            br#"[{"amount": 1000}]"#.to_vec(),
            br#""amount""#.to_vec(),
            br#"null"#.to_vec(),
            br#"{"amount": 1000"#.to_vec(),
            br#"{"amount": 1000,}"#.to_vec(),
            b"not json at all".to_vec(),
            vec![0xff, 0xfe, 0x00],
            br#"{"amount": 1000, "currency": "XYZ"}"#.to_vec(),
            br#"{"amount": 1000, "currency": 5}"#.to_vec(),
            format!(r#"{{"amount": 1000, "receipt": "{}"}}"#, "r".repeat(300)).into_bytes(),
            br#"{"amount": 1000, "notes": "not an object"}"#.to_vec(),
            format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        ];
        for body in bodies {
            let response = app
                .send(
                    Method::POST,
                    "/api/v1/orders",
                    Some(&Credentials::test_merchant()),
                    &[],
                    body.clone(),
                )
                .await;
            assert_eq!(
                response.status,
                StatusCode::BAD_REQUEST,
                "{}: {}",
                String::from_utf8_lossy(&body),
                response.text
            );
            assert_eq!(
                response.error_code(),
                "BAD_REQUEST_ERROR",
                "{}",
                String::from_utf8_lossy(&body)
            );
            assert!(
                response.json["error"]["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty())
            );
        }
        assert_nothing_written(&app).await;
    }
}

conformance! {
    async fn bad_refund_amounts_are_rejected_without_writing(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(10000).await;
        let path = format!("/api/v1/payments/{payment}/refunds");
        for body in [
            json!({ "amount": 0 }),
            json!({ "amount": -5 }),
            json!({ "amount": "10" }),
            json!({ "amount": 1.5 }),
            json!({ "amount": 1e20 }),
        ] {
            let response = app.post(&path, body.clone()).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
        }
        assert_eq!(app.get("/api/v1/refunds").await.json["total"], 0);
    }
}

conformance! {
    async fn bodies_over_one_mebibyte_get_413(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let big = format!(
            r#"{{"amount": 1000, "receipt": "{}"}}"#,
            "x".repeat(2 * 1024 * 1024)
        );
        let response = app
            .send(
                Method::POST,
                "/api/v1/orders",
                Some(&Credentials::test_merchant()),
                &[],
                big.into_bytes(),
            )
            .await;
        assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.error_code(), "PAYLOAD_TOO_LARGE_ERROR");
        assert_nothing_written(&app).await;
    }
}

storage_free! {
    async fn unknown_routes_and_methods_answer_json(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let unknown = app.get("/api/v1/nothing-here").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.error_code(), "NOT_FOUND_ERROR");
        for (method, path) in [
            (Method::DELETE, "/api/v1/orders"),
            (Method::PATCH, "/api/v1/payments"),
            (Method::PUT, "/api/v1/refunds"),
        ] {
            let response = app
                .send(
                    method,
                    path,
                    Some(&Credentials::test_merchant()),
                    &[],
                    Vec::new(),
                )
                .await;
            assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert!(response.json["error"]["code"].is_string());
        }
    }
}

conformance! {
    async fn malformed_ids_are_not_found(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        for path in [
            "/api/v1/orders/order_x",
            "/api/v1/orders/%27%20OR%201=1--",
            "/api/v1/payments/pay_AAAAAAAAAAAAAAAA",
            "/api/v1/refunds/nope",
            "/api/v1/webhooks/not-a-uuid",
        ] {
            let response = app.get(path).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        Just(json!("success@paytm")),
        Just(json!("order_AAAAAAAAAAAAAAAA")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("amount".to_owned()),
                    Just("method".to_owned()),
                    Just("vpa".to_owned()),
                    Just("card".to_owned()),
                    Just("order_id".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// No body, JSON or not, makes any write endpoint answer 5xx or anything but a JSON object.
fn no_request_body_yields_a_server_error(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(TestApp::spawn_on(backend));
    let payment = runtime.block_on(app.successful_payment(5000));
    let paths = [
        "/api/v1/orders".to_owned(),
        "/api/v1/payments".to_owned(),
        format!("/api/v1/payments/{payment}/refunds"),
        format!("/api/v1/payments/{payment}/capture"),
        "/api/v1/webhooks/test".to_owned(),
    ];
    let strategy = (
        json_value(),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 150,
        ..ProptestConfig::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(&strategy, |(value, raw, use_raw)| {
        let body = if use_raw {
            raw
        } else {
            value.to_string().into_bytes()
        };
        let key = format!(
            "fuzz-{}",
            case.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        runtime.block_on(async {
            for path in &paths {
                let response = app
                    .send(
                        Method::POST,
                        path,
                        Some(&Credentials::test_merchant()),
                        &[("idempotency-key", &key)],
                        body.clone(),
                    )
                    .await;
                prop_assert!(
                    !response.status.is_server_error(),
                    "{} {} -> {}",
                    path,
                    String::from_utf8_lossy(&body),
                    response.text
                );
                prop_assert!(
                    response.json.is_object(),
                    "{} answered non-JSON {}",
                    path,
                    response.text
                );
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

mod no_request_body_yields_a_server_error {
    use super::*;

    #[test]
    fn sqlite() {
        no_request_body_yields_a_server_error(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        no_request_body_yields_a_server_error(Backend::Postgres);
    }
}
