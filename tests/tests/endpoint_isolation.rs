//! A webhook endpoint that accepts connections and never answers holds at most its share of the
//! worker: attempts beyond the per-endpoint limit wait in the queue without using an attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tests::{TestApp, TestOptions, conformance};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

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

conformance! {
    async fn a_dead_endpoint_gets_at_most_its_limit_of_attempts_at_once(backend: Backend) {
        let timeout = Duration::from_millis(300);
        let (url, held) = dead_endpoint(timeout).await;
        let options = TestOptions {
            delivery_timeout: timeout,
            max_in_flight_per_endpoint: 2,
            ..TestOptions::default()
        };
        let app = TestApp::with_options_on(backend, options).await;
        app.set_webhook_url(&url).await;
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
