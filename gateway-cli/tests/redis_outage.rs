//! A Redis outage on the Redis queue: the queue's own Redis is killed while the gateway runs.
//! `/health` says the queue is disconnected (degraded) while `/ready` stays ready, payments
//! are still accepted (their jobs wait as rows), and once Redis is back, empty, every one of
//! them settles and is notified exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::private_redis::PrivateRedis;
use support::{authed, client, receiver_answering_200, send_webhooks_to, serve};

/// Bound on each wait; the test fails rather than hang.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// Creates an order and a UPI payment; returns the payment id.
async fn pay(http: &reqwest::Client, base: &str, i: usize) -> String {
    let post = |path: &str| authed(http, reqwest::Method::POST, format!("{base}{path}"));
    let order: Value = post("/api/v1/orders")
        .body(json!({ "amount": 1_000 + i }).to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    let response = post("/api/v1/payments")
        .header("Idempotency-Key", format!("outage-{i}"))
        .body(
            json!({ "order_id": order["id"], "method": "upi", "vpa": "success@paytm" }).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "payments are accepted whatever Redis does"
    );
    let payment: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    payment["id"].as_str().unwrap().to_owned()
}

/// Polls `/health` until `check` holds.
async fn wait_for_health(
    http: &reqwest::Client,
    base: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (_, health) = get(http, format!("{base}/health")).await;
        if check(&health) {
            return health;
        }
        assert!(
            started.elapsed() < WAIT_LIMIT,
            "timed out waiting for {what}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_payments_are_accepted_and_they_settle_once_it_is_back() {
    let mut redis = PrivateRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gateway.db").display()),
        ),
        ("TEST_MODE", "true".to_owned()),
        ("TEST_PROCESSING_DELAY", "0".to_owned()),
        ("METRICS_ADDR", String::new()),
        ("QUEUE_URL", redis.url()),
    ];
    let server = serve(&[], &env).await;
    let base = server.base.clone().unwrap();
    let http = client();
    let receiver = receiver_answering_200().await;
    send_webhooks_to(&base, &receiver).await;

    let health = wait_for_health(&http, &base, "a healthy start", |h| {
        h["status"] == "healthy"
    })
    .await;
    assert_eq!(health["queue"], "connected");
    let mut payments = Vec::new();
    for i in 0..10 {
        payments.push(pay(&http, &base, i).await);
    }

    redis.kill_9();
    let health = wait_for_health(&http, &base, "the queue to be reported down", |h| {
        h["queue"] == "disconnected"
    })
    .await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["reason"], "the job queue does not answer");
    let (ready, _) = get(&http, format!("{base}/ready")).await;
    assert_eq!(ready, 200, "the API still takes payments without Redis");
    for i in 10..20 {
        payments.push(pay(&http, &base, i).await);
    }

    redis.start_again();
    wait_for_health(&http, &base, "the queue to be back", |h| {
        h["status"] == "healthy"
    })
    .await;
    let started = Instant::now();
    for id in &payments {
        loop {
            let (_, payment) = get_authed(&http, format!("{base}/api/v1/payments/{id}")).await;
            if payment["status"] == "success" {
                break;
            }
            assert!(
                started.elapsed() < WAIT_LIMIT,
                "{id} never settled: {payment}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Every payment.success reaches the receiver, each exactly once.
    let mut success_events: HashMap<String, usize> = HashMap::new();
    let started = Instant::now();
    while success_events.len() < payments.len() {
        assert!(
            started.elapsed() < WAIT_LIMIT,
            "webhooks missing: {success_events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        success_events.clear();
        for request in receiver.received_requests().await.unwrap() {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            if body["event"] == "payment.success" {
                let id = body["data"]["payment"]["id"].as_str().unwrap().to_owned();
                *success_events.entry(id).or_default() += 1;
            }
        }
    }
    assert!(
        success_events.values().all(|n| *n == 1),
        "one payment.success each: {success_events:?}"
    );
    let started = Instant::now();
    while redis.backlog() != (0, 0, 0) {
        assert!(
            started.elapsed() < WAIT_LIMIT,
            "Redis kept {:?}",
            redis.backlog()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_authed(http: &reqwest::Client, url: String) -> (u16, Value) {
    let response = authed(http, reqwest::Method::GET, url)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
    )
}
