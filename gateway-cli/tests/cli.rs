//! The operator commands (`orders`, `payments`, `refunds`, `webhooks`, `jobs`, `trigger`,
//! `listen`) run as a user would, against a running `gateway serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BIN, Process, serve};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Gateway {
    server: Process,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            (
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("gateway.db").display()),
            ),
            ("TEST_MODE", "true".to_owned()),
            ("TEST_PROCESSING_DELAY", "0".to_owned()),
            ("WEBHOOK_RETRY_SCHEDULE_MS", "50,50,50,50".to_owned()),
        ];
        Self {
            server: serve(&[], &env).await,
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("GATEWAY_API_URL", self.server.base.as_ref().unwrap())
            .env("GATEWAY_API_KEY", "key_test_abc123")
            .env("GATEWAY_API_SECRET", "secret_test_xyz789")
            .env("RUST_LOG", "warn");
        command
    }

    /// Runs `gateway <args>` and returns its output.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `gateway --json <args>`, expects success and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&output.stdout))
        })
    }

    fn wait_for(&self, what: &str, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let value = self.json(args);
            if done(&value) {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}: {value}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_payments_refunds_and_jobs_work_from_the_command_line() {
    let gw = Gateway::start().await;
    let order = gw.json(&[
        "orders",
        "create",
        "--amount",
        "50000",
        "--receipt",
        "cli-1",
        "--idempotency-key",
        "cli-order-1",
    ]);
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(order["amount"], 50000);
    let again = gw.json(&[
        "orders",
        "create",
        "--amount",
        "50000",
        "--receipt",
        "cli-1",
        "--idempotency-key",
        "cli-order-1",
    ]);
    assert_eq!(
        again["id"], order["id"],
        "the idempotency key makes a retried command safe"
    );
    let table = gw.run(&["orders", "get", order_id]);
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(order_id) && table.contains("STATUS"),
        "{table}"
    );
    assert_eq!(gw.json(&["orders", "list", "--limit", "5"])["total"], 1);

    let triggered = gw.json(&["trigger", "payment.success"]);
    let payment_id = triggered["payment"].as_str().unwrap().to_owned();
    gw.wait_for("the payment", &["payments", "get", &payment_id], |p| {
        p["status"] == "success"
    });
    assert_eq!(
        gw.json(&["payments", "list", "--status", "success"])["data"][0]["id"],
        payment_id.as_str()
    );
    assert_eq!(
        gw.json(&["payments", "capture", &payment_id])["captured"],
        true
    );

    let twice = gw.run(&["payments", "capture", &payment_id]);
    assert_eq!(twice.status.code(), Some(3), "an API rejection exits 3");
    assert!(String::from_utf8_lossy(&twice.stderr).contains("BAD_REQUEST_ERROR"));

    let refund = gw.json(&[
        "refunds",
        "create",
        &payment_id,
        "--amount",
        "1000",
        "--reason",
        "cli",
    ]);
    let refund_id = refund["id"].as_str().unwrap();
    assert_eq!(gw.json(&["refunds", "get", refund_id])["amount"], 1000);
    assert_eq!(
        gw.json(&["refunds", "list", "--payment-id", &payment_id])["total"],
        1
    );
    let refunded = gw.json(&["trigger", "refund.processed"]);
    gw.wait_for(
        "the triggered refund",
        &["refunds", "get", refunded["refund"].as_str().unwrap()],
        |r| r["status"] == "processed",
    );

    let jobs = gw.json(&["jobs", "status"]);
    assert_eq!(jobs["worker_status"], "running");
    assert!(jobs["completed"].as_i64().unwrap() >= 2);

    let unknown = gw.run(&["orders", "get", "order_0000000000000000"]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("NOT_FOUND_ERROR"));
    let sneaky = gw.run(&["orders", "get", "../payments"]);
    assert_eq!(
        sneaky.status.code(),
        Some(1),
        "ids cannot rewrite the request path"
    );
    let wrong_secret = gw
        .command(&["orders", "list"])
        .env("GATEWAY_API_SECRET", "nope")
        .output()
        .unwrap();
    assert_eq!(wrong_secret.status.code(), Some(4));
    let down = gw
        .command(&["orders", "list"])
        .env("GATEWAY_API_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_webhooks_are_retried_in_bulk() {
    let gw = Gateway::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(10)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let url = format!("{}/hook", receiver.uri());
    assert_eq!(
        gw.json(&["webhooks", "config", "--url", &url])["webhook_url"],
        url.as_str()
    );
    gw.json(&["webhooks", "test"]);
    gw.json(&["webhooks", "test"]);
    gw.wait_for("two failed deliveries", &["webhooks", "list"], |page| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "failed")
            .count()
            == 2
    });

    let summary = gw.json(&["webhooks", "retry", "--failed"]);
    assert_eq!(summary["found"], 2);
    assert_eq!(summary["scheduled"].as_array().unwrap().len(), 2);
    gw.wait_for("the retried deliveries", &["webhooks", "list"], |page| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "success")
    });
    let human = gw.run(&["webhooks", "retry", "--failed"]);
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("0 failed deliveries found"));
    let future = gw.json(&[
        "webhooks",
        "retry",
        "--failed",
        "--since",
        "2999-01-01T00:00:00Z",
    ]);
    assert_eq!(future["found"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_verifies_prints_forwards_and_restores_the_previous_url() {
    let gw = Gateway::start().await;
    let forward = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&forward)
        .await;
    gw.json(&[
        "webhooks",
        "config",
        "--url",
        "https://merchant.example/hooks",
    ]);

    let mut listen = gw
        .command(&[
            "--json",
            "listen",
            "--forward-to",
            &format!("{}/local", forward.uri()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    gw.wait_for(
        "listen to take over the URL",
        &["webhooks", "config"],
        |c| {
            c["webhook_url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://127.0.0.1:"))
        },
    );
    let triggered = gw.json(&["trigger", "payment.success"]);

    let stdout = listen.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut success = None;
    while success.is_none() {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("listen prints events");
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (
                event["legacy_signature"].as_bool(),
                event["standard_signature"].as_bool()
            ),
            (Some(true), Some(true)),
            "{line}"
        );
        if event["event"] == "payment.success" {
            success = Some(event);
        }
    }
    let success = success.unwrap();
    assert_eq!(
        success["payload"]["data"]["payment"]["id"],
        triggered["payment"]
    );
    assert_eq!(success["forwarded"], "200");
    assert!(
        forward
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.headers.contains_key("webhook-signature"))
    );

    Command::new("kill")
        .args(["-INT", &listen.id().to_string()])
        .status()
        .unwrap();
    let status = listen.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        gw.json(&["webhooks", "config"])["webhook_url"],
        "https://merchant.example/hooks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_and_events_are_managed_from_the_command_line() {
    let gw = Gateway::start().await;
    let created = gw.json(&[
        "webhooks",
        "endpoints",
        "create",
        "--url",
        "https://merchant.example/hooks/payments",
        "--events",
        "payment.success,payment.failed",
        "--description",
        "payments only",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("we_"), "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        created["enabled_events"],
        serde_json::json!(["payment.success", "payment.failed"])
    );

    let listed = gw.json(&["webhooks", "endpoints", "list"]);
    assert_eq!(listed["total"], 1);
    assert!(listed["data"][0].get("secret").is_none(), "shown once only");

    let human = gw.run(&["webhooks", "endpoints", "rotate", &id]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("signing secret (store it now"), "{text}");

    gw.json(&["webhooks", "test"]);
    let events = gw.json(&["events", "list", "--type", "webhook.test"]);
    assert_eq!(events["total"], 1, "{events}");
    let event_id = events["data"][0]["id"].as_str().unwrap().to_owned();
    let event = gw.json(&["events", "get", &event_id]);
    assert_eq!(event["payload"]["event"], "webhook.test");

    let recovering = gw.json(&[
        "webhooks",
        "endpoints",
        "recover",
        &id,
        "--since",
        "2020-01-01T00:00:00Z",
    ]);
    assert_eq!(
        recovering["recovering"], 0,
        "nothing failed yet: {recovering}"
    );

    let disabled = gw.json(&["webhooks", "endpoints", "update", &id, "--disable"]);
    assert_eq!(disabled["status"], "disabled");
    let nothing = gw.run(&["webhooks", "endpoints", "update", &id]);
    assert!(
        !nothing.status.success(),
        "an update with no change is refused"
    );

    gw.json(&["webhooks", "endpoints", "delete", &id]);
    let gone = gw.run(&["webhooks", "endpoints", "get", &id]);
    assert_eq!(
        gone.status.code(),
        Some(3),
        "the API rejected it: not found"
    );
}
