//! Endpoint health and catch-up: a `410 Gone` or failing without a success for the configured
//! period disables an endpoint (and tells the merchant's other endpoints); a success resets the
//! failing period and brings waiting deliveries forward; `recover` resends failed deliveries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use gateway_core::webhook::RetrySchedule;
use serde_json::{Value, json};
use tests::{Credentials, TestApp, TestOptions, conformance};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ENDPOINTS: &str = "/api/v1/webhooks/endpoints";

/// Answers every request with the status it is set to.
#[derive(Clone)]
struct Switch(Arc<AtomicU16>);

impl Switch {
    fn set(&self, status: u16) {
        self.0.store(status, Ordering::SeqCst);
    }
}

impl Respond for Switch {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(self.0.load(Ordering::SeqCst))
    }
}

/// A receiver answering `status` until switched.
async fn receiver(status: u16) -> (MockServer, Switch) {
    let server = MockServer::start().await;
    let switch = Switch(Arc::new(AtomicU16::new(status)));
    Mock::given(method("POST"))
        .respond_with(switch.clone())
        .mount(&server)
        .await;
    (server, switch)
}

/// The bodies `server` received, in arrival order.
async fn received(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The `webhook-id` of every request `server` received, in arrival order.
async fn delivery_ids(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("webhook-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn endpoint_for(app: &TestApp, url: &str, events: &[&str]) -> String {
    let created = app
        .post(ENDPOINTS, json!({ "url": url, "enabled_events": events }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.id()
}

/// Sends a test event (one delivery per enabled endpoint); returns the delivery ids.
async fn send_test(app: &TestApp) -> Vec<String> {
    let sent = app.post("/api/v1/webhooks/test", json!({})).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    sent.json["deliveries"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_else(|| vec![sent.json["id"].as_str().unwrap().to_owned()])
}

async fn delivery(app: &TestApp, id: &str) -> Value {
    let shown = app.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    shown.json
}

async fn endpoint(app: &TestApp, id: &str) -> Value {
    let shown = app.get(&format!("{ENDPOINTS}/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    shown.json
}

fn options(retry_schedule: RetrySchedule, disable_after: Duration) -> TestOptions {
    TestOptions {
        retry_schedule,
        endpoint_disable_after: disable_after,
        ..TestOptions::default()
    }
}

conformance! {
    async fn a_410_disables_the_endpoint_at_once_and_tells_the_merchants_other_endpoints(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let (gone, _) = receiver(410).await;
        let (watcher, _) = receiver(200).await;
        let gone_id = endpoint_for(&app, &gone.uri(), &["*"]).await;
        endpoint_for(&app, &watcher.uri(), &["webhook_endpoint.disabled"]).await;
        send_test(&app).await;
        app.run_jobs().await;

        let shown = endpoint(&app, &gone_id).await;
        assert_eq!(shown["status"], "disabled", "{shown}");
        assert_eq!(shown["disabled_reason"], "gone: the endpoint answered 410 Gone");
        let filter = format!("/api/v1/webhooks?endpoint_id={gone_id}");
        let to_gone = app.get(&filter).await.json["data"].as_array().unwrap().clone();
        assert_eq!(to_gone.len(), 1);
        assert_eq!(to_gone[0]["status"], "failed", "the attempt that disabled it ends its delivery");
        assert_eq!(to_gone[0]["attempts"], 1);

        let events: Vec<Value> = received(&watcher).await;
        let disabled: Vec<&Value> = events.iter().filter(|e| e["event"] == "webhook_endpoint.disabled").collect();
        assert_eq!(disabled.len(), 1, "{events:?}");
        assert_eq!(disabled[0]["data"]["endpoint"]["id"], gone_id.as_str());
        assert_eq!(disabled[0]["data"]["endpoint"]["url"], gone.uri().as_str());
        assert_eq!(disabled[0]["data"]["endpoint"]["status"], "disabled");
        assert_eq!(disabled[0]["data"]["endpoint"]["disabled_reason"], "gone: the endpoint answered 410 Gone");

        // No new deliveries for it; the other endpoint still gets them.
        send_test(&app).await;
        app.run_jobs().await;
        assert_eq!(received(&gone).await.len(), 1);
        assert_eq!(app.get(&filter).await.json["total"], 1);
        assert_eq!(received(&watcher).await.len(), 3);
    }
}

conformance! {
    async fn an_endpoint_failing_without_a_success_for_the_period_is_disabled(backend: Backend) {
        let app = TestApp::with_options_on(
            backend,
            options(RetrySchedule::production(), Duration::from_secs(5 * 60)),
        )
        .await;
        let (failing, _) = receiver(500).await;
        let id = endpoint_for(&app, &failing.uri(), &["*"]).await;
        let delivery_id = send_test(&app).await.remove(0);
        assert_eq!(endpoint(&app, &id).await["failing_since"], Value::Null, "not heard from yet");
        let first_failure = app.now().to_rfc3339();
        app.run_jobs().await; // attempt 1 at 0 s
        assert_eq!(endpoint(&app, &id).await["failing_since"], first_failure.as_str());
        app.advance(Duration::from_secs(60));
        app.run_jobs().await; // attempt 2 at 1 min
        let shown = endpoint(&app, &id).await;
        assert_eq!((shown["status"].as_str(), shown["failing_since"].as_str()), (Some("enabled"), Some(first_failure.as_str())), "{shown}");
        app.advance(Duration::from_secs(300));
        app.run_jobs().await; // attempt 3 at 6 min: failing for longer than 5 min

        let shown = endpoint(&app, &id).await;
        assert_eq!(shown["status"], "disabled", "{shown}");
        let reason = shown["disabled_reason"].as_str().unwrap();
        assert!(reason.starts_with("failing since ") && reason.ends_with("without a success (disabled after 5 min)"), "{reason}");
        let shown = delivery(&app, &delivery_id).await;
        assert_eq!((shown["status"].as_str(), shown["attempts"].as_i64()), (Some("failed"), Some(3)), "{shown}");
        assert_eq!(received(&failing).await.len(), 3);

        // Re-enabled, it starts afresh: its next failure does not disable it again.
        let on = app
            .send(
                Method::PATCH,
                &format!("{ENDPOINTS}/{id}"),
                Some(&Credentials::test_merchant()),
                &[],
                json!({ "status": "enabled" }).to_string().into_bytes(),
            )
            .await;
        assert_eq!(on.status, StatusCode::OK, "{}", on.text);
        assert_eq!(on.json["disabled_reason"], Value::Null);
        assert_eq!(on.json["failing_since"], Value::Null, "enabling starts its health afresh");
        assert_eq!(endpoint(&app, &id).await["failing_since"], Value::Null);
        let next = send_test(&app).await.remove(0);
        app.run_jobs().await;
        assert_eq!(endpoint(&app, &id).await["status"], "enabled");
        assert_eq!(delivery(&app, &next).await["status"], "pending");
    }
}

conformance! {
    async fn a_success_resets_the_failing_period(backend: Backend) {
        let app = TestApp::with_options_on(
            backend,
            options(RetrySchedule::production(), Duration::from_secs(5 * 60)),
        )
        .await;
        let (flaky, switch) = receiver(500).await;
        let id = endpoint_for(&app, &flaky.uri(), &["*"]).await;
        send_test(&app).await;
        app.run_jobs().await; // fails at 0 s: failing since then
        app.advance(Duration::from_secs(240));
        switch.set(200);
        send_test(&app).await;
        app.run_jobs().await; // a success at 4 min ends the failing period
        assert_eq!(endpoint(&app, &id).await["failing_since"], Value::Null);
        switch.set(500);
        app.advance(Duration::from_secs(120));
        let later = send_test(&app).await.remove(0);
        let failing_again = app.now().to_rfc3339();
        app.run_jobs().await; // fails at 6 min: failing for 0 s, not 6 min
        let shown = endpoint(&app, &id).await;
        assert_eq!((shown["status"].as_str(), shown["failing_since"].as_str()), (Some("enabled"), Some(failing_again.as_str())), "{shown}");
        assert_eq!(delivery(&app, &later).await["status"], "pending");
    }
}

conformance! {
    async fn recover_resends_the_failed_deliveries_since_then_oldest_first(backend: Backend) {
        // One attempt each: a failed attempt ends the delivery `failed`.
        let app = TestApp::with_options_on(
            backend,
            options(RetrySchedule::new(Vec::new()), Duration::from_secs(86_400)),
        )
        .await;
        let (receiver, switch) = receiver(500).await;
        let id = endpoint_for(&app, &receiver.uri(), &["*"]).await;
        let mut sent = Vec::new();
        for _ in 0..3 {
            sent.push(send_test(&app).await.remove(0));
            app.run_jobs().await;
            app.advance(Duration::from_secs(10));
        }
        for d in &sent {
            assert_eq!(delivery(&app, d).await["status"], "failed");
        }
        let since = delivery(&app, &sent[1]).await["created_at"].clone();
        switch.set(200);

        let path = format!("{ENDPOINTS}/{id}/recover");
        let recovering = app.post(&path, json!({ "since": since })).await;
        assert_eq!(recovering.status, StatusCode::ACCEPTED, "{}", recovering.text);
        assert_eq!(recovering.json["recovering"], 2);
        assert_eq!(recovering.json["id"], id.as_str());

        // Throttled: the oldest is due now, the next 100 ms later.
        app.run_jobs().await;
        assert_eq!(delivery_ids(&receiver).await[3..], [sent[1].clone()]);
        app.advance(Duration::from_millis(100));
        app.run_jobs().await;
        assert_eq!(delivery_ids(&receiver).await[3..], [sent[1].clone(), sent[2].clone()]);
        assert_eq!(delivery(&app, &sent[0]).await["status"], "failed", "older than since");
        assert_eq!(delivery(&app, &sent[2]).await["status"], "success");

        // Only the delivery older than `since` is left; unix seconds are accepted too, and a
        // replayed key answers as the first call without re-arming anything.
        let again = app.post_idempotent(&path, "recover-1", json!({ "since": 0 })).await;
        assert_eq!(again.json["recovering"], 1, "{}", again.text);
        let replayed = app.post_idempotent(&path, "recover-1", json!({ "since": 0 })).await;
        assert_eq!(replayed.status, StatusCode::ACCEPTED);
        assert_eq!(replayed.json, again.json);

        // Another merchant's endpoint is not found; a disabled one must be enabled first.
        let other = app.create_merchant("other@example.com").await;
        let theirs = app.post_as(&other, &path, json!({ "since": 0 })).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
        let off = app
            .send(
                Method::PATCH,
                &format!("{ENDPOINTS}/{id}"),
                Some(&Credentials::test_merchant()),
                &[],
                json!({ "status": "disabled" }).to_string().into_bytes(),
            )
            .await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.text);
        let refused = app.post(&path, json!({ "since": 0 })).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert!(refused.text.contains("disabled"), "{}", refused.text);
        let bad = app.post(&path, json!({ "since": "yesterday" })).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    }
}

conformance! {
    async fn a_recovered_endpoint_catches_up_on_its_waiting_deliveries_within_seconds(backend: Backend) {
        let app = TestApp::with_options_on(
            backend,
            options(RetrySchedule::production(), Duration::from_secs(5 * 86_400)),
        )
        .await;
        let (receiver, switch) = receiver(503).await;
        endpoint_for(&app, &receiver.uri(), &["*"]).await;
        let first = send_test(&app).await.remove(0);
        app.advance(Duration::from_secs(1));
        let waiting = [first, send_test(&app).await.remove(0)];
        app.run_jobs().await;
        app.advance(Duration::from_secs(60));
        app.run_jobs().await;
        app.advance(Duration::from_secs(300));
        app.run_jobs().await; // three failures each: next attempts in 30 min
        for d in &waiting {
            let shown = delivery(&app, d).await;
            assert_eq!((shown["status"].as_str(), shown["attempts"].as_i64()), (Some("pending"), Some(3)));
        }

        switch.set(200);
        let fresh = send_test(&app).await.remove(0);
        app.run_jobs().await; // succeeds: the endpoint is back
        assert_eq!(delivery(&app, &fresh).await["status"], "success");
        app.advance(Duration::from_secs(1));
        app.run_jobs().await;
        for d in &waiting {
            let shown = delivery(&app, d).await;
            assert_eq!((shown["status"].as_str(), shown["attempts"].as_i64()), (Some("success"), Some(4)), "{shown}");
        }
        let ids = delivery_ids(&receiver).await;
        assert_eq!(ids[ids.len() - 2..], waiting, "oldest first");
    }
}
