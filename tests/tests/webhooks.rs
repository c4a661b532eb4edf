//! Webhooks to a wiremock receiver: both signatures verified independently, the retry
//! schedule walked with the manual clock, manual retry, rotation and the delivery log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tests::signing::{header, hmac_sha256};
use tests::{TestApp, TestOptions, conformance};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook"))
        .respond_with(ResponseTemplate::new(status).set_body_string("ack"))
        .mount(&server)
        .await;
    server
}

conformance! {
    async fn payment_events_are_delivered_with_the_reference_signature(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver(200).await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        let payment = app.successful_payment(50000).await;

        let requests = server.received_requests().await.unwrap();
        let events: Vec<String> = requests
            .iter()
            .map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(events.len(), 3, "{events:?}");
        for expected in ["payment.created", "payment.pending", "payment.success"] {
            assert!(
                events.iter().any(|e| e == expected),
                "{expected} in {events:?}"
            );
        }
        for request in &requests {
            let expected = hex::encode(hmac_sha256(b"whsec_test_abc123", &request.body));
            assert_eq!(header(request, "x-webhook-signature"), expected);
            assert_eq!(header(request, "content-type"), "application/json");
        }
        let success = requests
            .iter()
            .find(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["event"] == "payment.success")
            .unwrap();
        let payload: Value = serde_json::from_slice(&success.body).unwrap();
        assert_eq!(payload["data"]["payment"]["id"], payment.as_str());
        assert_eq!(payload["data"]["payment"]["status"], "success");
        assert_eq!(payload["timestamp"], app.now().as_secs());

        let log = app.get("/api/v1/webhooks?limit=10&offset=0").await.json;
        assert_eq!(log["total"], 3);
        assert_eq!(
            (log["limit"].as_i64(), log["offset"].as_i64()),
            (Some(10), Some(0))
        );
        for delivery in log["data"].as_array().unwrap() {
            assert_eq!(delivery["status"], "success");
            assert_eq!(delivery["attempts"], 1);
            assert_eq!(delivery["response_code"], 200);
            assert!(delivery["last_attempt_at"].is_string());
            assert!(delivery["next_retry_at"].is_null());
        }
    }
}

conformance! {
    async fn standard_webhooks_headers_verify_with_a_rotated_secret(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver(204).await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        let rotated = app
            .post("/api/v1/webhooks/secret/regenerate", json!({}))
            .await;
        assert_eq!(rotated.status, StatusCode::OK);
        let secret = rotated.json["webhook_secret"].as_str().unwrap().to_owned();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(
            app.get("/api/v1/webhooks/config").await.json["webhook_secret"],
            secret.as_str()
        );

        let test = app.post("/api/v1/webhooks/test", json!({})).await;
        assert_eq!(test.status, StatusCode::OK, "{}", test.text);
        assert_eq!(test.json["status"], "pending");
        app.run_jobs().await;

        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        let id = header(request, "webhook-id");
        let timestamp = header(request, "webhook-timestamp");
        assert_eq!(id, test.json["id"].as_str().unwrap());
        assert_eq!(timestamp.parse::<i64>().unwrap(), app.now().as_secs());
        let mut signed = format!("{id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(&request.body);
        assert_eq!(
            header(request, "webhook-signature"),
            format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)))
        );
        assert_eq!(
            header(request, "x-webhook-signature"),
            hex::encode(hmac_sha256(secret.as_bytes(), &request.body))
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap()["event"],
            "webhook.test"
        );
        assert_eq!(
            app.deliveries().await[0]["status"],
            "success",
            "204 is a 2xx"
        );
    }
}

conformance! {
    async fn failed_deliveries_follow_1m_5m_30m_2h_and_stop_after_five_attempts(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver(500).await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        let id = app.post("/api/v1/webhooks/test", json!({})).await.id();
        let start = app.now();

        let mut attempts = 0;
        for wait in [0u64, 60, 300, 1800, 7200] {
            app.advance(Duration::from_secs(wait.saturating_sub(1)));
            if wait > 0 {
                assert_eq!(
                    app.run_jobs().await,
                    0,
                    "nothing is due a second before the {wait}s retry"
                );
                app.advance(Duration::from_secs(1));
            }
            assert_eq!(app.run_jobs().await, 1);
            attempts += 1;
            let delivery = app.get(&format!("/api/v1/webhooks/{id}")).await.json;
            assert_eq!(delivery["attempts"], attempts);
            assert_eq!(delivery["response_code"], 500);
        }
        let delivery = app.get(&format!("/api/v1/webhooks/{id}")).await.json;
        assert_eq!(delivery["status"], "failed");
        assert!(delivery["next_retry_at"].is_null());
        let log = delivery["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 5, "every attempt is logged");
        assert!(
            log.iter()
                .all(|a| a["response_code"] == 500 && a["response_body"] == "ack")
        );
        assert_eq!(
            log[0]["next_retry_at"],
            start.plus(Duration::from_secs(60)).to_rfc3339()
        );

        app.advance(Duration::from_secs(24 * 3600));
        assert_eq!(app.run_jobs().await, 0, "retries stop at the limit");
        assert_eq!(server.received_requests().await.unwrap().len(), 5);
        assert_eq!(
            app.job_status().await["failed"],
            0,
            "a failed delivery is not a failed job"
        );
    }
}

conformance! {
    async fn test_retry_intervals_are_5_10_15_20_seconds(backend: Backend) {
        let options = TestOptions {
            retry_schedule: gateway_core::webhook::RetrySchedule::test(),
            ..TestOptions::default()
        };
        let app = TestApp::with_options_on(backend, options).await;
        let server = receiver(503).await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        app.post("/api/v1/webhooks/test", json!({})).await;
        assert_eq!(app.run_jobs().await, 1);
        for wait in [5, 10, 15, 20] {
            app.advance(Duration::from_secs(wait));
            assert_eq!(app.run_jobs().await, 1, "attempt after {wait}s");
        }
        assert_eq!(app.deliveries().await[0]["status"], "failed");
    }
}

conformance! {
    async fn a_manual_retry_re_arms_a_failed_delivery(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(5)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        let id = app.post("/api/v1/webhooks/test", json!({})).await.id();
        for wait in [0, 60, 300, 1800, 7200] {
            app.advance(Duration::from_secs(wait));
            app.run_jobs().await;
        }
        assert_eq!(
            app.get(&format!("/api/v1/webhooks/{id}")).await.json["status"],
            "failed"
        );

        let retry = app
            .post(&format!("/api/v1/webhooks/{id}/retry"), json!({}))
            .await;
        assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
        assert_eq!(retry.json["status"], "pending");
        assert_eq!(app.run_jobs().await, 1);
        let delivery = app.get(&format!("/api/v1/webhooks/{id}")).await.json;
        assert_eq!(delivery["status"], "success");
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["attempt_log"].as_array().unwrap().len(), 6);

        let unknown = app
            .post(
                "/api/v1/webhooks/00000000-0000-0000-0000-000000000000/retry",
                json!({}),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }
}

conformance! {
    async fn a_manual_retry_of_a_pending_delivery_replaces_its_scheduled_retry(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver(500).await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        let id = app.post("/api/v1/webhooks/test", json!({})).await.id();
        app.run_jobs().await;
        app.post(&format!("/api/v1/webhooks/{id}/retry"), json!({}))
            .await;
        assert_eq!(app.run_jobs().await, 1, "the manual retry runs now");
        app.advance(Duration::from_secs(60));
        assert_eq!(
            app.run_jobs().await,
            1,
            "one retry follows the manual attempt, not two"
        );
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }
}

conformance! {
    async fn timeouts_and_refused_connections_are_logged_and_retried(backend: Backend) {
        let options = TestOptions {
            delivery_timeout: Duration::from_millis(200),
            ..TestOptions::default()
        };
        let app = TestApp::with_options_on(backend, options).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        app.set_webhook_url(&format!("{}/slow", server.uri())).await;
        let slow = app.post("/api/v1/webhooks/test", json!({})).await.id();
        app.run_jobs().await;
        let delivery = app.get(&format!("/api/v1/webhooks/{slow}")).await.json;
        assert_eq!(delivery["status"], "pending");
        assert!(
            delivery["error"].as_str().unwrap().contains("timed out"),
            "{delivery}"
        );
        assert!(delivery["response_code"].is_null());

        app.set_webhook_url("http://127.0.0.1:9/closed").await;
        let refused = app.post("/api/v1/webhooks/test", json!({})).await.id();
        app.run_jobs().await;
        let delivery = app.get(&format!("/api/v1/webhooks/{refused}")).await.json;
        assert_eq!(delivery["status"], "pending");
        assert_eq!(delivery["attempts"], 1);
        assert!(delivery["error"].is_string());
    }
}

conformance! {
    async fn without_a_webhook_url_nothing_is_queued_and_a_test_is_refused(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(1000).await;
        assert!(app.deliveries().await.is_empty());
        let test = app.post("/api/v1/webhooks/test", json!({})).await;
        assert_eq!(test.status, StatusCode::BAD_REQUEST);
        for bad in [
            json!({ "webhook_url": "ftp://x" }),
            json!({ "webhook_url": "not a url" }),
            json!({ "webhook_url": 5 }),
        ] {
            assert_eq!(
                app.put("/api/v1/webhooks/config", bad.clone()).await.status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }
}

conformance! {
    async fn refund_events_are_delivered(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver(200).await;
        app.set_webhook_url(&format!("{}/webhook", server.uri()))
            .await;
        let payment = app.successful_payment(5000).await;
        let refund = app
            .post(
                &format!("/api/v1/payments/{payment}/refunds"),
                json!({ "amount": 100 }),
            )
            .await
            .id();
        app.run_jobs().await;
        let bodies: Vec<Value> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        let refund_events: Vec<&Value> = bodies
            .iter()
            .filter(|b| b["event"].as_str().unwrap().starts_with("refund."))
            .collect();
        assert_eq!(refund_events.len(), 2);
        assert!(
            refund_events
                .iter()
                .all(|e| e["data"]["refund"]["id"] == refund.as_str())
        );
        assert!(
            refund_events
                .iter()
                .any(|e| e["event"] == "refund.processed"
                    && e["data"]["refund"]["status"] == "processed")
        );
    }
}

conformance! {
    async fn an_endpoint_asking_to_retry_after_some_seconds_is_retried_then_within_the_schedule(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "7"))
            .mount(&server)
            .await;
        app.set_webhook_url(&format!("{}/webhook", server.uri())).await;
        let id = app.post("/api/v1/webhooks/test", json!({})).await.id();
        let start = app.now();
        assert_eq!(app.run_jobs().await, 1);
        let delivery = app.get(&format!("/api/v1/webhooks/{id}")).await.json;
        assert_eq!(
            delivery["next_retry_at"],
            start.plus(Duration::from_secs(7)).to_rfc3339(),
            "7 s as asked, not the schedule's 1 min"
        );
        app.advance(Duration::from_secs(6));
        assert_eq!(app.run_jobs().await, 0, "not before it asked");
        app.advance(Duration::from_secs(1));
        assert_eq!(app.run_jobs().await, 1);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }
}
