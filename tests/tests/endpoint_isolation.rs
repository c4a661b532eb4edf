//! A webhook endpoint that accepts connections and never answers holds at most its share of the
//! worker: attempts beyond the per-endpoint limit wait in the queue without using an attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use gateway_core::store::PageRequest;
use gateway_core::webhook::DeliveryStatus;
use serde_json::json;
use tests::{TestApp, TestOptions, conformance};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Connections open to the dead endpoint now, and the most ever open at once.
#[derive(Default)]
struct Held {
    open: AtomicUsize,
    most: AtomicUsize,
    accepted: AtomicUsize,
}

/// A listener that reads every request and never answers; the client's timeout closes it.
///
/// A connection counts as open from its accept until the client closes it or `client_timeout`
/// has passed, whichever is first: the client started its timeout before connecting, so this
/// never counts a connection the client already gave up on, however late this task hears the
/// close on a loaded machine.
async fn dead_endpoint(client_timeout: Duration) -> (String, Arc<Held>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let held = Arc::new(Held::default());
    let counts = held.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counts.accepted.fetch_add(1, Ordering::SeqCst);
            let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
            counts.most.fetch_max(open, Ordering::SeqCst);
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                let closed =
                    async { while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {} };
                let _ = tokio::time::timeout(client_timeout, closed).await;
                counts.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, held)
}

/// A gateway on `backend` whose test merchant's webhooks go to a dead endpoint, with two
/// attempts in flight per endpoint that time out after 300 ms.
async fn app_with_a_dead_endpoint(backend: tests::Backend) -> (TestApp, Arc<Held>) {
    let timeout = Duration::from_millis(300);
    let (url, held) = dead_endpoint(timeout).await;
    let options = TestOptions {
        delivery_timeout: timeout,
        max_in_flight_per_endpoint: 2,
        ..TestOptions::default()
    };
    let app = TestApp::with_options_on(backend, options).await;
    app.set_webhook_url(&url).await;
    (app, held)
}

conformance! {
    async fn a_dead_endpoint_gets_at_most_its_limit_of_attempts_at_once(backend: Backend) {
        let (app, held) = app_with_a_dead_endpoint(backend).await;
        for _ in 0..4 {
            let order = app.create_order(1_000).await;
            app.create_upi_payment(&order, "success@paytm").await;
        }
        app.run_jobs().await;

        assert!(held.most.load(Ordering::SeqCst) <= 2, "more than 2 attempts at once");
        let deliveries = app.deliveries().await;
        let attempted = deliveries.iter().filter(|d| d["attempts"] == 1).count();
        let waiting = deliveries.iter().filter(|d| d["attempts"] == 0).count();
        assert_eq!(attempted, held.accepted.load(Ordering::SeqCst));
        assert!(waiting > 0, "every delivery was attempted: {deliveries:?}");
        assert_eq!(attempted + waiting, deliveries.len());
        for delivery in deliveries.iter().filter(|d| d["attempts"] == 0) {
            assert_eq!(delivery["status"], "pending");
        }

        // Waiting deliveries come back later (the wait grows while the endpoint keeps failing)
        // and get their first attempt, still never more than the limit at once.
        for _ in 0..10 {
            app.advance(Duration::from_secs(30));
            app.run_jobs().await;
        }
        let deliveries = app.deliveries().await;
        let attempted_later = deliveries
            .iter()
            .filter(|d| d["attempts"].as_i64() >= Some(1))
            .count();
        assert!(attempted_later > attempted, "{deliveries:?}");
        assert!(held.most.load(Ordering::SeqCst) <= 2);
    }
}

conformance! {
    async fn a_dead_endpoints_due_backlog_goes_back_in_one_write_not_one_claim_each(backend: Backend) {
        // Forty deliveries to an endpoint that never answers, two slots, claims of 32. The
        // first claim takes 32: two are attempted and hang, and the first that finds no slot
        // puts the endpoint's other due deliveries back with it, so the eight the claim left
        // are never claimed. Claimed and put back one by one, as before, they would be, each
        // time the backlog came due together, ahead of every other merchant's jobs.
        let (app, held) = app_with_a_dead_endpoint(backend).await;
        for _ in 0..40 {
            let sent = app.post("/api/v1/webhooks/test", json!({})).await;
            assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
        }

        assert_eq!(app.run_jobs().await, 32, "one claim; the rest went back unclaimed");
        assert_eq!(held.accepted.load(Ordering::SeqCst), 2);
        let deliveries = app.deliveries().await;
        assert_eq!(deliveries.iter().filter(|d| d["attempts"] == 0).count(), 38);

        // Once every put-back delivery is due again (and the two failed ones' retries), the
        // same happens: one claim, two attempts, the rest back in the queue together.
        app.advance(Duration::from_secs(3600));
        assert_eq!(app.run_jobs().await, 32);
        assert_eq!(held.accepted.load(Ordering::SeqCst), 4);
        assert!(held.most.load(Ordering::SeqCst) <= 2);
    }
}

/// Deliveries in the burst to the healthy endpoint.
const BURST: usize = 2_000;

conformance! {
    async fn a_burst_to_a_busy_healthy_endpoint_waits_for_its_slots_not_for_a_timeout(backend: Backend) {
        // Two slots per endpoint and a 3 ms receiver: most of the burst finds the endpoint
        // busy. A delivery put back used to wait about one timeout (here 10 s, so at least
        // 7.5 s with jitter); now it waits for the healthy endpoint's next free slot, at most
        // 1 s each time, so the whole burst lands within a few seconds of test time even on a
        // loaded machine, while another merchant's hanging endpoint still holds at most its two
        // slots.
        let timeout = Duration::from_secs(10);
        let (hanging, held) = dead_endpoint(timeout).await;
        let options = TestOptions {
            delivery_timeout: timeout,
            max_in_flight_per_endpoint: 2,
            ..TestOptions::default()
        };
        let app = TestApp::with_options_on(backend, options).await;
        let receiver = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(3)))
            .mount(&receiver)
            .await;
        app.set_webhook_url(&format!("{}/hook", receiver.uri())).await;
        let other = app.create_merchant("other@example.com").await;
        let configured = app
            .send(
                Method::PUT,
                "/api/v1/webhooks/config",
                Some(&other),
                &[],
                json!({ "webhook_url": hanging }).to_string().into_bytes(),
            )
            .await;
        assert_eq!(configured.status, StatusCode::OK, "{}", configured.text);
        for _ in 0..20 {
            let sent = app.post_as(&other, "/api/v1/webhooks/test", json!({})).await;
            assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
        }
        for _ in 0..BURST {
            let sent = app.post("/api/v1/webhooks/test", json!({})).await;
            assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
        }

        let started = app.now();
        app.run_jobs().await;
        while received(&receiver).await < BURST {
            assert!(
                app.now().since(started) < Duration::from_secs(5),
                "{} of {BURST} delivered after 5 s of test time",
                received(&receiver).await
            );
            app.advance(Duration::from_millis(50));
            app.run_jobs().await;
        }

        assert_eq!(received(&receiver).await, BURST, "each delivered once");
        let merchant = gateway_core::merchant::test_merchant::ID;
        let mut page = PageRequest { limit: 100, offset: 0 };
        loop {
            let deliveries = app.store.list_deliveries(merchant, page).await.unwrap();
            for delivery in &deliveries.data {
                assert_eq!(
                    (delivery.status, delivery.attempts),
                    (DeliveryStatus::Success, 1),
                    "{delivery:?}"
                );
            }
            page.offset += 100;
            if page.offset >= deliveries.total {
                assert_eq!(deliveries.total, BURST as i64);
                break;
            }
        }
        assert!(held.most.load(Ordering::SeqCst) <= 2, "the hanging endpoint kept its limit");
    }
}

async fn received(receiver: &MockServer) -> usize {
    receiver.received_requests().await.unwrap_or_default().len()
}
