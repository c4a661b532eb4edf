//! Merchants cannot see or change each other's objects; bad credentials get 401.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use serde_json::json;
use tests::{Credentials, TestApp, conformance};

conformance! {
    async fn another_merchants_objects_are_not_found(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let other = app.create_merchant("other@example.com").await;
        let payment = app.successful_payment(10000).await;
        let order = app.get(&format!("/api/v1/payments/{payment}")).await.json["order_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let refund = app
            .post(
                &format!("/api/v1/payments/{payment}/refunds"),
                json!({ "amount": 100 }),
            )
            .await
            .id();

        for path in [
            format!("/api/v1/orders/{order}"),
            format!("/api/v1/payments/{payment}"),
            format!("/api/v1/refunds/{refund}"),
            format!("/api/v1/payments/{payment}/refunds"),
        ] {
            let response = app.get_as(&other, &path).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(response.error_code(), "NOT_FOUND_ERROR");
        }
        for (path, body) in [
            (format!("/api/v1/payments/{payment}/capture"), json!({})),
            (
                format!("/api/v1/payments/{payment}/refunds"),
                json!({ "amount": 100 }),
            ),
            (
                "/api/v1/payments".to_owned(),
                json!({ "order_id": order, "method": "upi", "vpa": "a@b" }),
            ),
        ] {
            assert_eq!(
                app.post_as(&other, &path, body).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        for list in [
            "/api/v1/orders",
            "/api/v1/payments",
            "/api/v1/refunds",
            "/api/v1/webhooks",
        ] {
            assert_eq!(app.get_as(&other, list).await.json["total"], 0, "{list}");
        }
        assert_eq!(
            app.get(&format!("/api/v1/payments/{payment}")).await.json["captured"],
            false
        );
        assert_eq!(app.get("/api/v1/refunds").await.json["total"], 1);
    }
}

conformance! {
    async fn missing_or_wrong_credentials_are_rejected(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let wrong_secret = Credentials {
            key: "key_test_abc123".into(),
            secret: "secret_test_xyz788".into(),
        };
        let unknown_key = Credentials {
            key: "key_unknown".into(),
            secret: "secret_test_xyz789".into(),
        };
        for credentials in [Some(&wrong_secret), Some(&unknown_key), None] {
            let response = app
                .send(
                    Method::POST,
                    "/api/v1/orders",
                    credentials,
                    &[],
                    json!({ "amount": 1000 }).to_string().into_bytes(),
                )
                .await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED);
            assert_eq!(response.error_code(), "AUTHENTICATION_ERROR");
        }
        assert_eq!(app.get("/api/v1/orders").await.json["total"], 0);
    }
}

conformance! {
    async fn browsers_may_call_the_api_cross_origin(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let preflight = app
            .send(
                Method::OPTIONS,
                "/api/v1/orders",
                None,
                &[
                    ("origin", "http://localhost:3000"),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "x-api-key,x-api-secret,content-type,idempotency-key"),
                ],
                Vec::new(),
            )
            .await;
        assert!(preflight.status.is_success(), "{}", preflight.status);
        assert_eq!(preflight.headers.get("access-control-allow-origin").unwrap(), "*");
        let allowed = preflight.headers.get("access-control-allow-headers").unwrap().to_str().unwrap().to_owned();
        assert!(allowed.contains("x-api-secret") && allowed.contains("idempotency-key"), "{allowed}");
        let simple = app.send(Method::GET, "/health", None, &[("origin", "http://localhost:3000")], Vec::new()).await;
        assert_eq!(simple.headers.get("access-control-allow-origin").unwrap(), "*");
    }
}

conformance! {
    async fn a_rotated_secret_works_at_once_and_the_old_one_stops(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        assert_eq!(app.get("/api/v1/orders").await.status, StatusCode::OK, "warms the credential cache");
        let hasher = gateway_core::merchant::SecretHasher::new(tests::TEST_PEPPER);
        let (secret, hash) = hasher.new_api_secret();
        app.store.rotate_api_secret("test@example.com", &hash, app.now()).await.unwrap();
        let rotated = Credentials { key: "key_test_abc123".into(), secret };
        assert_eq!(app.get_as(&rotated, "/api/v1/orders").await.status, StatusCode::OK);
        assert_eq!(app.get("/api/v1/orders").await.status, StatusCode::UNAUTHORIZED);
    }
}
