//! `/metrics` on the built binary: after a few payments, a refund, webhooks and idempotent
//! retries, the Prometheus text shows plausible counts, every exported metric is documented in
//! docs/operations.md and every documented one is exported; the API's port serves no metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gateway_store::testing::TestRedis;
use serde_json::{Value, json};
use support::{authed, client, free_port, receiver_answering_200, send_webhooks_to, serve};

/// A scrape, parsed: each metric's `# TYPE`, and each sample by its series (`name{labels}`).
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<(String, f64)>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').unwrap();
                samples.push((series.to_owned(), value.parse().unwrap()));
            }
        }
        Self { types, samples }
    }

    /// The sum of the samples of `name` whose labels include every one of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| {
                let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
                series_name == name
                    && labels
                        .iter()
                        .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

/// `(name, type)` of each row of the metrics table in docs/operations.md.
fn documented() -> BTreeMap<String, String> {
    include_str!("../../docs/operations.md")
        .lines()
        .filter(|line| line.starts_with("| `gateway_"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
        })
        .collect()
}

async fn send(request: reqwest::RequestBuilder, body: Value) -> (u16, Value) {
    let response = request.body(body.to_string()).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn scrape(metrics: &str) -> Scrape {
    let response = client().get(metrics).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    Scrape::parse(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_metrics_are_the_exported_ones_with_plausible_values() {
    documented_metrics_are_exported(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_redis_queue_its_own_figures_are_exported_too() {
    documented_metrics_are_exported(Some(&TestRedis::create())).await;
}

/// Runs payments, a refund and their webhooks through a gateway on the database queue, or on
/// `redis`'s, then checks every documented metric against the scrape.
async fn documented_metrics_are_exported(redis: Option<&TestRedis>) {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let mut env = vec![
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gateway.db").display()),
        ),
        ("TEST_MODE", "true".to_owned()),
        ("TEST_PROCESSING_DELAY", "50".to_owned()),
        ("METRICS_ADDR", format!("127.0.0.1:{metrics_port}")),
    ];
    if let Some(redis) = redis {
        env.push(("QUEUE_URL", redis.url.clone()));
        env.push(("QUEUE_KEY_PREFIX", redis.prefix.clone()));
    }
    let server = serve(&[], &env).await;
    let base = server.base.clone().unwrap();
    let metrics = format!("http://127.0.0.1:{metrics_port}/metrics");
    let receiver = receiver_answering_200().await;
    send_webhooks_to(&base, &receiver).await;
    let http = client();
    let post = |path: &str| authed(&http, reqwest::Method::POST, format!("{base}{path}"));

    let mut payments = Vec::new();
    for vpa in ["success@paytm", "failure@paytm"] {
        let (_, order) = send(post("/api/v1/orders"), json!({ "amount": 5000 })).await;
        let body = json!({ "order_id": order["id"], "method": "upi", "vpa": vpa });
        let (status, payment) = send(
            post("/api/v1/payments").header("Idempotency-Key", vpa),
            body.clone(),
        )
        .await;
        assert_eq!(status, 201);
        payments.push(payment["id"].as_str().unwrap().to_owned());
        if vpa == "success@paytm" {
            let (status, _) = send(
                post("/api/v1/payments").header("Idempotency-Key", vpa),
                body,
            )
            .await;
            assert_eq!(status, 201, "a replay");
            let (status, _) = send(
                post("/api/v1/payments").header("Idempotency-Key", vpa),
                json!({ "order_id": order["id"], "method": "upi", "vpa": "other@okhdfc" }),
            )
            .await;
            assert!((400..500).contains(&status), "a different request");
        }
    }
    let succeeded = &payments[0];
    for _ in 0..200 {
        let payment = http_get(&http, &format!("{base}/api/v1/payments/{succeeded}")).await;
        if payment["status"] == "success" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, _) = send(
        post(&format!("/api/v1/payments/{succeeded}/refunds")),
        json!({ "amount": 1000 }),
    )
    .await;
    assert_eq!(status, 201);

    // Settled, refunded and every webhook delivered: nothing left in the queue.
    let mut seen = scrape(&metrics).await;
    for _ in 0..400 {
        let queued = seen.value("gateway_jobs", &[("state", "queued")])
            + seen.value("gateway_jobs", &[("state", "running")]);
        if queued == 0.0 && seen.value("gateway_refunds_settled_total", &[]) == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        seen = scrape(&metrics).await;
    }

    let upi = ("method", "upi");
    assert_eq!(seen.value("gateway_payments_created_total", &[upi]), 2.0);
    for outcome in ["success", "failed"] {
        assert_eq!(
            seen.value(
                "gateway_payments_settled_total",
                &[upi, ("outcome", outcome)]
            ),
            1.0,
            "{outcome}"
        );
    }
    assert_eq!(
        seen.value("gateway_payment_settlement_seconds_count", &[upi]),
        2.0
    );
    let settling = seen.value("gateway_payment_settlement_seconds_sum", &[upi]);
    assert!(
        (0.1..60.0).contains(&settling),
        "two settlements of at least 50 ms each: {settling}"
    );
    assert_eq!(seen.value("gateway_refunds_created_total", &[]), 1.0);
    assert_eq!(
        seen.value("gateway_refunds_settled_total", &[("outcome", "processed")]),
        1.0
    );
    assert_eq!(seen.value("gateway_idempotency_replays_total", &[]), 1.0);
    assert_eq!(
        seen.value(
            "gateway_idempotency_conflicts_total",
            &[("reason", "mismatch")]
        ),
        1.0
    );
    let payments_route = [("route", "/api/v1/payments"), ("method", "POST")];
    assert_eq!(
        seen.value(
            "gateway_http_requests_total",
            &[
                payments_route[0],
                payments_route[1],
                ("status_class", "2xx")
            ]
        ),
        3.0
    );
    assert_eq!(
        seen.value(
            "gateway_http_requests_total",
            &[
                payments_route[0],
                payments_route[1],
                ("status_class", "4xx")
            ]
        ),
        1.0
    );
    assert_eq!(
        seen.value(
            "gateway_http_requests_total",
            &[("route", "/api/v1/payments/{id}"), ("method", "GET")]
        ),
        seen.value(
            "gateway_http_request_duration_seconds_count",
            &[("route", "/api/v1/payments/{id}")]
        ),
        "concrete ids never become labels"
    );
    let received = receiver.received_requests().await.unwrap().len() as f64;
    assert!(received >= 6.0, "created, pending, success/failed events");
    assert_eq!(
        seen.value("gateway_webhook_attempts_total", &[("outcome", "success")]),
        received
    );
    assert_eq!(
        seen.value("gateway_webhook_delivery_seconds_count", &[]),
        received
    );
    assert_eq!(
        seen.value(
            "gateway_job_executions_total",
            &[("kind", "process_payment"), ("outcome", "ok")]
        ),
        2.0
    );
    assert_eq!(
        seen.value(
            "gateway_jobs",
            &[("kind", "process_payment"), ("state", "completed")]
        ),
        2.0
    );
    assert_eq!(seen.value("gateway_job_lag_seconds", &[]), 0.0);
    let queue = if redis.is_some() { "redis" } else { "database" };
    assert_eq!(
        seen.value(
            "gateway_build_info",
            &[("backend", "sqlite"), ("queue", queue)]
        ),
        1.0
    );
    if redis.is_some() {
        for state in ["waiting", "unacknowledged", "scheduled", "awaiting_relay"] {
            assert_eq!(
                seen.value("gateway_queue_dispatch", &[("state", state)]),
                0.0,
                "every job handed on and acknowledged: {state}"
            );
        }
    }
    assert!(seen.value("gateway_db_pool_max_connections", &[("pool", "writer")]) == 1.0);

    let exported: BTreeMap<String, String> = seen.types.clone();
    let documented = documented();
    let only_exported: BTreeSet<_> = exported
        .keys()
        .filter(|n| !documented.contains_key(*n))
        .collect();
    let only_documented: BTreeSet<_> = documented
        .keys()
        .filter(|n| !exported.contains_key(*n))
        .filter(|n| redis.is_some() || n.as_str() != "gateway_queue_dispatch")
        .collect();
    assert!(only_exported.is_empty(), "undocumented: {only_exported:?}");
    assert!(
        only_documented.is_empty(),
        "documented, never exported: {only_documented:?}"
    );
    let documented_here: BTreeMap<String, String> = documented
        .into_iter()
        .filter(|(name, _)| exported.contains_key(name))
        .collect();
    assert_eq!(exported, documented_here, "types differ");

    let on_the_api = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(on_the_api.status(), 404, "the API's port serves no metrics");
}

async fn http_get(http: &reqwest::Client, url: &str) -> Value {
    let response = authed(http, reqwest::Method::GET, url.to_owned())
        .send()
        .await
        .unwrap();
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}
