//! The built `gateway` binary, run as a newcomer would: the reference README's flow over real
//! HTTP on an embedded SQLite file, a webhook receiver, `merchants create`, and a clean exit on
//! SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{BIN, Process, client, serve};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `gateway serve` on an SQLite file in `dir`, in test mode.
async fn start(dir: &std::path::Path) -> Process {
    let env = [
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("gateway.db").display()),
        ),
        ("TEST_MODE", "true".to_owned()),
        ("TEST_PROCESSING_DELAY", "50".to_owned()),
    ];
    serve(&[], &env).await
}

/// Runs `gateway <args>` against the SQLite file in `dir`.
fn gateway_on(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("gateway.db").display()),
        )
        .output()
        .unwrap()
}

async fn call(
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, url)
        .header("X-Api-Key", "key_test_abc123")
        .header("X-Api-Secret", "secret_test_xyz789")
        .header("Content-Type", "application/json");
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_readme_flow_works_against_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let base = server.base.as_ref().unwrap();

    let (status, _) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/webhooks/config"),
        Some(json!({ "webhook_url": format!("{}/webhook", receiver.uri()) })),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, order) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/orders"),
        Some(json!({ "amount": 50000, "currency": "INR", "receipt": "receipt_123" })),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let order_id = order["id"].as_str().unwrap();
    let body = json!({ "order_id": order_id, "method": "upi", "vpa": "success@paytm" });
    let (status, payment) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/payments"),
        Some(body.clone()),
        Some("unique_request_id_123"),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(payment["status"], "pending");
    let payment_id = payment["id"].as_str().unwrap().to_owned();
    let (status, replay) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/payments"),
        Some(body),
        Some("unique_request_id_123"),
    )
    .await;
    assert_eq!(
        (status, replay["id"].as_str()),
        (201, Some(payment_id.as_str()))
    );

    let mut settled = Value::Null;
    for _ in 0..100 {
        settled = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/payments/{payment_id}"),
            None,
            None,
        )
        .await
        .1;
        if settled["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(settled["status"], "success");

    let (status, refund) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/payments/{payment_id}/refunds"),
        Some(json!({ "amount": 25000, "reason": "Customer requested partial refund" })),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let refund_id = refund["id"].as_str().unwrap();
    let mut processed = Value::Null;
    for _ in 0..100 {
        processed = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/refunds/{refund_id}"),
            None,
            None,
        )
        .await
        .1;
        if processed["status"] == "processed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(processed["status"], "processed");

    let mut log = Value::Null;
    for _ in 0..100 {
        log = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/webhooks?limit=10&offset=0"),
            None,
            None,
        )
        .await
        .1;
        let data = log["data"].as_array().unwrap();
        if data.len() == 5 && data.iter().all(|d| d["status"] == "success") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        log["total"], 5,
        "payment.created, .pending, .success, refund.created, .processed: {log}"
    );
    assert_eq!(receiver.received_requests().await.unwrap().len(), 5);

    let jobs: Value = client()
        .get(format!("{base}/api/v1/test/jobs/status"))
        .send()
        .await
        .unwrap()
        .json_text()
        .await;
    assert_eq!(jobs["worker_status"], "running");
    assert_eq!(jobs["failed"], 0);
    let health: Value = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json_text()
        .await;
    assert_eq!(health["status"], "healthy");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut exited = None;
    for _ in 0..150 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited.expect("exited within 15 s").success());
}

#[test]
fn merchants_create_prints_credentials_once_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = gateway_on(
        dir.path(),
        &[
            "merchants",
            "create",
            "--email",
            "shop@example.com",
            "--name",
            "Shop",
            "--json",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    for field in ["id", "api_key", "api_secret", "webhook_secret"] {
        assert!(
            created[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
    let db = std::fs::read(dir.path().join("gateway.db")).unwrap_or_default();
    let wal = std::fs::read(dir.path().join("gateway.db-wal")).unwrap_or_default();
    let secret = created["api_secret"].as_str().unwrap().as_bytes();
    assert!(
        ![db, wal]
            .iter()
            .any(|bytes| bytes.windows(secret.len()).any(|w| w == secret)),
        "the API secret is stored only hashed"
    );

    let again = gateway_on(
        dir.path(),
        &[
            "merchants",
            "create",
            "--email",
            "shop@example.com",
            "--name",
            "Shop",
        ],
    );
    assert!(!again.status.success(), "a duplicate email is refused");

    let rotated = gateway_on(
        dir.path(),
        &["merchants", "rotate", "shop@example.com", "--json"],
    );
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_eq!(rotated["id"], created["id"]);
    assert_ne!(rotated["api_secret"], created["api_secret"]);
    let unknown = gateway_on(dir.path(), &["merchants", "rotate", "nobody@example.com"]);
    assert!(!unknown.status.success());
}

trait JsonText {
    async fn json_text(self) -> Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}
