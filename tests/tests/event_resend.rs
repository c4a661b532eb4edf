//! Resending an event (`POST /api/v1/events/{id}/resend`): new deliveries of the event's stored
//! payload, byte for byte, signed by each target endpoint's secret, to every enabled endpoint
//! whose filter matches or to one named endpoint; refusals that create nothing; idempotent
//! replays that create nothing new.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tests::signing::{header, hmac_sha256, standard_signature};
use tests::{Credentials, TestApp, TestResponse, conformance};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Asserts `request` carries both signatures of its exact body under `secret`.
fn assert_signed_by(secret: &str, request: &Request) {
    let legacy = hex::encode(hmac_sha256(secret.as_bytes(), &request.body));
    assert_eq!(header(request, "x-webhook-signature"), legacy);
    assert_eq!(
        header(request, "webhook-signature"),
        standard_signature(secret, request)
    );
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// An endpoint of the test merchant at `server` receiving `events`: its id and secret.
async fn endpoint(app: &TestApp, server: &MockServer, events: &[&str]) -> (String, String) {
    let created = app
        .post(
            "/api/v1/webhooks/endpoints",
            json!({ "url": format!("{}/hook", server.uri()), "enabled_events": events }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    (
        created.id(),
        created.json["secret"].as_str().unwrap().to_owned(),
    )
}

async fn disable(app: &TestApp, id: &str) {
    let response = app
        .send(
            Method::PATCH,
            &format!("/api/v1/webhooks/endpoints/{id}"),
            Some(&Credentials::test_merchant()),
            &[],
            json!({ "status": "disabled" }).to_string().into_bytes(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
}

/// The id of the test merchant's newest event of `event_type`.
async fn event_of_type(app: &TestApp, event_type: &str) -> String {
    let page = app.get(&format!("/api/v1/events?type={event_type}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    page.json["data"][0]["id"].as_str().unwrap().to_owned()
}

/// The event's payload exactly as stored (the raw text `GET /events/{id}` ends with).
async fn stored_payload(app: &TestApp, id: &str) -> String {
    let fetched = app.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    let (_, payload) = fetched.text.split_once(r#","payload":"#).unwrap();
    payload.strip_suffix('}').unwrap().to_owned()
}

async fn resend(app: &TestApp, event: &str, body: Value) -> TestResponse {
    app.post(&format!("/api/v1/events/{event}/resend"), body)
        .await
}

/// The endpoint ids of the answer's deliveries, sorted.
fn targets(answer: &TestResponse) -> Vec<String> {
    let mut ids: Vec<String> = answer.json["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: {}", answer.status, answer.text))
        .iter()
        .map(|d| d["endpoint_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

conformance! {
    async fn a_resend_goes_to_every_enabled_matching_endpoint_with_the_stored_bytes(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(50000).await;
        assert!(app.deliveries().await.is_empty(), "no endpoint yet");
        let event = event_of_type(&app, "payment.success").await;

        let (all, payments, refunds, off) =
            (receiver().await, receiver().await, receiver().await, receiver().await);
        let (all_id, all_secret) = endpoint(&app, &all, &["*"]).await;
        let (payments_id, payments_secret) =
            endpoint(&app, &payments, &["payment.success", "payment.failed"]).await;
        endpoint(&app, &refunds, &["refund.processed"]).await;
        let (off_id, _) = endpoint(&app, &off, &["*"]).await;
        disable(&app, &off_id).await;
        app.advance(Duration::from_secs(60));

        let answer = resend(&app, &event, json!({})).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        assert_eq!(answer.json["event_id"], event.as_str());
        let mut expected = [all_id.clone(), payments_id.clone()];
        expected.sort();
        assert_eq!(targets(&answer), expected);
        let deliveries = app.deliveries().await;
        assert_eq!(deliveries.len(), 2, "one per matching enabled endpoint");
        for d in &deliveries {
            assert_eq!(d["event_id"], event.as_str());
            assert_eq!(d["status"], "pending");
            assert_eq!(d["created_at"], "2024-01-15T10:31:00Z", "created when resent");
        }

        assert_eq!(app.run_jobs().await, 2);
        let payload = stored_payload(&app, &event).await;
        for (server, secret, endpoint_id) in [
            (&all, &all_secret, &all_id),
            (&payments, &payments_secret, &payments_id),
        ] {
            let received = server.received_requests().await.unwrap();
            assert_eq!(received.len(), 1);
            assert_eq!(std::str::from_utf8(&received[0].body).unwrap(), payload);
            let answered = answer.json["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["endpoint_id"] == endpoint_id.as_str())
                .unwrap();
            assert_eq!(header(&received[0], "webhook-id"), answered["id"].as_str().unwrap());
            assert_signed_by(secret, &received[0]);
        }
        assert!(refunds.received_requests().await.unwrap().is_empty());
        assert!(off.received_requests().await.unwrap().is_empty());
        assert!(app.deliveries().await.iter().all(|d| d["status"] == "success"));
    }

    async fn a_resend_to_one_endpoint_ignores_its_filter_and_the_others(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let (all, refunds) = (receiver().await, receiver().await);
        endpoint(&app, &all, &["*"]).await;
        let (refunds_id, refunds_secret) = endpoint(&app, &refunds, &["refund.processed"]).await;
        app.successful_payment(50000).await;
        app.run_jobs().await;
        let first = all.received_requests().await.unwrap().len();
        assert_eq!(first, 3, "the payment's three events went to the catch-all endpoint");
        let event = event_of_type(&app, "payment.success").await;

        let answer = resend(&app, &event, json!({ "endpoint_id": refunds_id })).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        assert_eq!(targets(&answer), std::slice::from_ref(&refunds_id));
        app.run_jobs().await;

        assert_eq!(all.received_requests().await.unwrap().len(), first);
        let received = refunds.received_requests().await.unwrap();
        assert_eq!(received.len(), 1);
        assert_eq!(
            std::str::from_utf8(&received[0].body).unwrap(),
            stored_payload(&app, &event).await
        );
        assert_signed_by(&refunds_secret, &received[0]);
        let to_refunds = app
            .get(&format!("/api/v1/webhooks?endpoint_id={refunds_id}"))
            .await;
        assert_eq!(to_refunds.json["total"], 1, "{}", to_refunds.text);
    }

    async fn refused_resends_answer_4xx_json_and_create_nothing(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver().await;
        app.successful_payment(50000).await;
        let event = event_of_type(&app, "payment.success").await;

        // No endpoint at all, then only a disabled one or one that does not want the event.
        let none = resend(&app, &event, json!({})).await;
        assert_eq!(none.status, StatusCode::BAD_REQUEST, "{}", none.text);
        assert_eq!(none.error_code(), "BAD_REQUEST_ERROR");
        assert!(none.json["error"]["description"].as_str().unwrap().contains("payment.success"));
        let (off_id, _) = endpoint(&app, &server, &["*"]).await;
        disable(&app, &off_id).await;
        endpoint(&app, &server, &["refund.processed"]).await;
        let unmatched = resend(&app, &event, json!({})).await;
        assert_eq!(unmatched.status, StatusCode::BAD_REQUEST, "{}", unmatched.text);

        let disabled = resend(&app, &event, json!({ "endpoint_id": off_id })).await;
        assert_eq!(disabled.status, StatusCode::BAD_REQUEST, "{}", disabled.text);
        assert!(disabled.json["error"]["description"].as_str().unwrap().contains("disabled"));

        let other = app.create_merchant("other@example.com").await;
        let theirs = app
            .post_as(
                &other,
                "/api/v1/webhooks/endpoints",
                json!({ "url": format!("{}/hook", server.uri()), "enabled_events": ["*"] }),
            )
            .await;
        assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
        for (what, event, body) in [
            ("unknown event", "evt_0000000000000000", json!({})),
            ("malformed event", "evt_x", json!({})),
            ("unknown endpoint", event.as_str(), json!({ "endpoint_id": "we_0000000000000000" })),
            ("malformed endpoint", event.as_str(), json!({ "endpoint_id": "x'--" })),
            ("another merchant's endpoint", event.as_str(), json!({ "endpoint_id": theirs.id() })),
        ] {
            let response = resend(&app, event, body).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{what}: {}", response.text);
            assert_eq!(response.error_code(), "NOT_FOUND_ERROR", "{what}");
        }
        let as_other = app
            .post_as(&other, &format!("/api/v1/events/{event}/resend"), json!({}))
            .await;
        assert_eq!(as_other.status, StatusCode::NOT_FOUND, "another merchant's event: {}", as_other.text);
        for body in [json!({ "endpoint_id": 5 }), json!({ "endpoint": "we_0000000000000000" })] {
            let response = resend(&app, &event, body.clone()).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}: {}", response.text);
        }

        assert!(app.deliveries().await.is_empty(), "nothing was created");
        assert!(app.get_as(&other, "/api/v1/webhooks").await.json["data"].as_array().unwrap().is_empty());
        assert_eq!(app.run_jobs().await, 0, "and nothing was queued");
    }

    async fn an_event_past_retention_cannot_be_resent(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver().await;
        app.successful_payment(50000).await;
        let event = event_of_type(&app, "payment.success").await;
        endpoint(&app, &server, &["*"]).await;
        app.advance(31 * DAY);
        app.worker.prune().await;
        let gone = resend(&app, &event, json!({})).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
        assert!(app.deliveries().await.is_empty());
    }

    async fn a_replayed_resend_creates_nothing_new(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver().await;
        app.successful_payment(50000).await;
        let event = event_of_type(&app, "payment.success").await;
        let (id, _) = endpoint(&app, &server, &["*"]).await;
        let path = format!("/api/v1/events/{event}/resend");

        let first = app.post_idempotent(&path, "resend-1", json!({})).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
        let again = app.post_idempotent(&path, "resend-1", json!({})).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
        assert_eq!(again.text, first.text);
        assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
        let reused = app
            .post_idempotent(&path, "resend-1", json!({ "endpoint_id": id }))
            .await;
        assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reused.text);

        assert_eq!(app.deliveries().await.len(), 1);
        assert_eq!(app.run_jobs().await, 1);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    async fn concurrent_resends_with_one_key_create_one_set_of_deliveries(backend: Backend) {
        let app = std::sync::Arc::new(TestApp::spawn_on(backend).await);
        let (a, b) = (receiver().await, receiver().await);
        app.successful_payment(50000).await;
        let event = event_of_type(&app, "payment.success").await;
        endpoint(&app, &a, &["*"]).await;
        endpoint(&app, &b, &["payment.success"]).await;
        let path = format!("/api/v1/events/{event}/resend");
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (app, path) = (app.clone(), path.clone());
                tokio::spawn(async move { app.post_idempotent(&path, "same-key", json!({})).await })
            })
            .collect();
        let mut answers = std::collections::HashSet::new();
        for task in tasks {
            let response = task.await.unwrap();
            assert!(
                response.status == StatusCode::ACCEPTED || response.status == StatusCode::CONFLICT,
                "{}",
                response.text
            );
            if response.status == StatusCode::ACCEPTED {
                answers.insert(response.text);
            }
        }
        assert_eq!(answers.len(), 1, "every success names the same deliveries");
        assert_eq!(app.deliveries().await.len(), 2);
        assert_eq!(app.run_jobs().await, 2, "one job per delivery");
    }
}
