//! The events API: every event recorded with its state change (with or without a webhook
//! endpoint), listed newest first, filtered, paged, re-fetched with the exact bytes its
//! deliveries signed, hidden from other merchants and pruned after the retention period.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tests::{START, TestApp, conformance};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// The test merchant's events matching `query`, asserting the list answered 200.
async fn events(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/events{query}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.json
}

fn types(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

conformance! {
    async fn a_payments_events_are_listed_newest_first_with_the_bytes_their_webhooks_carried(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver().await;
        app.set_webhook_url(&format!("{}/webhook", server.uri())).await;
        let payment = app.successful_payment(50000).await;

        let page = events(&app, "").await;
        assert_eq!(page["total"], 3);
        assert_eq!((page["limit"].as_i64(), page["offset"].as_i64()), (Some(10), Some(0)));
        assert_eq!(
            types(&page),
            ["payment.success", "payment.pending", "payment.created"],
            "newest first, events of one instant in the order they happened, latest first"
        );
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 3);
        let deliveries = app.deliveries().await;
        for event in page["data"].as_array().unwrap() {
            let id = event["id"].as_str().unwrap();
            assert!(id.starts_with("evt_") && id.len() == 20, "{id}");
            assert_eq!(event["created_at"], "2024-01-15T10:30:00Z");
            assert_eq!(event["payload"]["data"]["payment"]["id"], payment.as_str());

            // Re-fetched, its payload is byte for byte the body a delivery sent and signed.
            let delivery = deliveries.iter().find(|d| d["event_id"] == id).expect("a delivery names its event");
            let sent = requests
                .iter()
                .find(|r| r.headers.get("webhook-id").unwrap() == delivery["id"].as_str().unwrap())
                .unwrap();
            let body = std::str::from_utf8(&sent.body).unwrap();
            let fetched = app.get(&format!("/api/v1/events/{id}")).await;
            assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
            assert_eq!(
                fetched.text,
                format!(
                    r#"{{"id":"{id}","type":"{}","created_at":"2024-01-15T10:30:00Z","payload":{body}}}"#,
                    event["type"].as_str().unwrap()
                )
            );
        }
    }

    async fn events_are_recorded_even_without_a_webhook_endpoint(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(50000).await;
        assert!(app.deliveries().await.is_empty());
        let page = events(&app, "").await;
        assert_eq!(
            types(&page),
            ["payment.success", "payment.pending", "payment.created"]
        );
        assert_eq!(page["data"][0]["payload"]["event"], "payment.success");
    }

    async fn refund_and_test_events_are_recorded_too_and_a_refused_test_records_none(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let payment = app.successful_payment(50000).await;
        app.advance(Duration::from_secs(1));
        let refund = app
            .post(&format!("/api/v1/payments/{payment}/refunds"), json!({ "amount": 20000 }))
            .await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text);
        app.advance(Duration::from_secs(1));
        app.run_jobs().await;

        // Without an endpoint, a test webhook is refused and records nothing.
        let refused = app.post("/api/v1/webhooks/test", json!({})).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        let server = receiver().await;
        app.set_webhook_url(&format!("{}/webhook", server.uri())).await;
        app.advance(Duration::from_secs(1));
        let test = app.post("/api/v1/webhooks/test", json!({})).await;
        assert_eq!(test.status, StatusCode::OK, "{}", test.text);

        let page = events(&app, "?limit=3").await;
        assert_eq!(page["total"], 6);
        assert_eq!(
            types(&page),
            ["webhook.test", "refund.processed", "refund.created"]
        );
        assert_eq!(page["data"][1]["payload"]["data"]["refund"]["id"], refund.id().as_str());
    }

    async fn events_filter_by_type_and_by_created_range(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(50000).await; // at 10:30:00
        app.advance(Duration::from_secs(3600));
        app.successful_payment(60000).await; // at 11:30:00

        let successes = events(&app, "?type=payment.success").await;
        assert_eq!(successes["total"], 2);
        assert_eq!(successes["data"][0]["payload"]["data"]["payment"]["amount"], 60000);

        let later = events(&app, "?from=2024-01-15T11:00:00Z").await;
        assert_eq!(later["total"], 3);
        let earlier = events(&app, &format!("?to={}", START.as_secs())).await;
        assert_eq!(earlier["total"], 3, "to covers its whole second");
        let both = events(
            &app,
            "?type=payment.created&from=2024-01-15T10:00:00Z&to=2024-01-15T16:00:00%2B05:30",
        )
        .await;
        assert_eq!(both["total"], 1);
        assert_eq!(both["data"][0]["payload"]["data"]["payment"]["amount"], 50000);
        assert_eq!(events(&app, "?from=2024-01-16T00:00:00Z").await["total"], 0);
    }

    async fn events_are_paged(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(50000).await;
        let all = ids(&events(&app, "").await);
        let first = events(&app, "?limit=2&offset=0").await;
        assert_eq!((first["total"].as_i64(), first["limit"].as_i64()), (Some(3), Some(2)));
        let second = events(&app, "?limit=2&offset=2").await;
        assert_eq!(second["offset"], 2);
        let paged: Vec<String> = ids(&first).into_iter().chain(ids(&second)).collect();
        assert_eq!(paged, all);
    }

    async fn another_merchants_event_answers_404(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(50000).await;
        let id = ids(&events(&app, "").await).remove(0);
        let other = app.create_merchant("other@example.com").await;

        let theirs = app.get_as(&other, &format!("/api/v1/events/{id}")).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
        assert_eq!(theirs.error_code(), "NOT_FOUND_ERROR");
        let list = app.get_as(&other, "/api/v1/events").await;
        assert_eq!(list.json["total"], 0);
        for unknown in ["evt_0000000000000000", "evt_x", "pay_0000000000000000", "%27--"] {
            let response = app.get(&format!("/api/v1/events/{unknown}")).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{unknown}: {}", response.text);
        }
    }

    async fn events_past_the_retention_period_are_pruned_by_the_worker(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(50000).await;
        let old = ids(&events(&app, "").await);

        app.advance(29 * DAY);
        app.worker.prune().await;
        assert_eq!(events(&app, "").await["total"], 3, "kept for 30 days");

        app.advance(2 * DAY);
        app.successful_payment(60000).await;
        app.worker.prune().await;
        let page = events(&app, "").await;
        assert_eq!(page["total"], 3, "only the recent payment's events remain");
        assert!(ids(&page).iter().all(|id| !old.contains(id)));
        let gone = app.get(&format!("/api/v1/events/{}", old[0])).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
    }

    async fn bad_event_filters_are_answered_with_400_json(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        for query in [
            "?type=payment.nope",
            "?type=",
            "?from=yesterday",
            "?to=2024-01-15",
            "?from=-5",
            "?from=99999999999999999999",
            "?from=2024-01-16T00:00:00Z&to=2024-01-15T00:00:00Z",
            "?limit=0",
            "?limit=101",
            "?offset=-1",
            "?limit=abc",
        ] {
            let response = app.get(&format!("/api/v1/events{query}")).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}: {}", response.text);
            assert_eq!(response.error_code(), "BAD_REQUEST_ERROR", "{query}");
        }
    }
}
