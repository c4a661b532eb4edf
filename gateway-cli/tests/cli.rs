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

/// A receiver on 127.0.0.1 answering 200 to every POST.
async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

impl Gateway {
    /// Starts `gateway --json listen <args>`, waits until its temporary endpoint exists, and
    /// returns the process (killed if the test fails) with the endpoint.
    fn listen(&self, args: &[&str]) -> (Process, Value) {
        let mut all = vec!["--json", "listen"];
        all.extend_from_slice(args);
        let child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let listen = Process { child, base: None };
        let endpoints = self.wait_for(
            "listen to register its endpoint",
            &["webhooks", "endpoints", "list"],
            |page| temporary(page).is_some(),
        );
        (listen, temporary(&endpoints).unwrap())
    }
}

/// The `gateway listen (temporary)` endpoint in a page of endpoints.
fn temporary(page: &Value) -> Option<Value> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["description"] == "gateway listen (temporary)")
        .cloned()
}

/// Sends `listen` a signal (`-INT`, `-TERM`) and expects it to exit successfully.
fn signal(listen: &mut Process, name: &str) {
    Command::new("kill")
        .args([name, &listen.child.id().to_string()])
        .status()
        .unwrap();
    let status = listen.child.wait().unwrap();
    assert!(status.success(), "{name}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_registers_a_temporary_endpoint_verifies_forwards_and_deletes_it() {
    let gw = Gateway::start().await;
    let (default, forward) = (receiver().await, receiver().await);
    let default_url = format!("{}/hooks", default.uri());
    gw.json(&["webhooks", "config", "--url", &default_url]);

    let (mut listen, endpoint) = gw.listen(&[
        "--events",
        "payment.success,payment.failed",
        "--forward-to",
        &format!("{}/local", forward.uri()),
    ]);
    assert!(
        endpoint["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{endpoint}"
    );
    assert_eq!(
        endpoint["enabled_events"],
        serde_json::json!(["payment.success", "payment.failed"])
    );
    assert_eq!(
        gw.json(&["webhooks", "config"])["webhook_url"],
        default_url.as_str(),
        "the default endpoint is left as it is"
    );
    let triggered = gw.json(&["trigger", "payment.success"]);

    let stdout = listen.child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
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
        "verified with the temporary endpoint's own secret: {line}"
    );
    assert_eq!(
        event["event"], "payment.success",
        "only the events asked for"
    );
    assert_eq!(
        event["payload"]["data"]["payment"]["id"],
        triggered["payment"]
    );
    assert_eq!(event["forwarded"], "200");
    assert!(
        forward
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.headers.contains_key("webhook-signature"))
    );

    signal(&mut listen, "-INT");
    let endpoints = gw.json(&["webhooks", "endpoints", "list"]);
    assert_eq!(
        endpoints["total"], 1,
        "the temporary endpoint is deleted: {endpoints}"
    );
    assert_eq!(endpoints["data"][0]["url"], default_url.as_str());
    assert_eq!(
        gw.json(&["webhooks", "config"])["webhook_url"],
        default_url.as_str()
    );
    let started = Instant::now();
    while default.received_requests().await.unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the default endpoint still gets the payment's events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_deletes_its_endpoint_on_sigterm_and_refuses_a_seventeenth() {
    let gw = Gateway::start().await;
    let (mut listen, endpoint) = gw.listen(&[]);
    assert_eq!(endpoint["enabled_events"], serde_json::json!(["*"]));
    signal(&mut listen, "-TERM");
    assert_eq!(gw.json(&["webhooks", "endpoints", "list"])["total"], 0);

    let sink = receiver().await;
    for n in 0..16 {
        gw.json(&[
            "webhooks",
            "endpoints",
            "create",
            "--url",
            &format!("{}/{n}", sink.uri()),
        ]);
    }
    let refused = gw.run(&["listen"]);
    assert_eq!(refused.status.code(), Some(3), "the API refused it");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("already has 16 webhook endpoints"),
        "{stderr}"
    );
    assert_eq!(gw.json(&["webhooks", "endpoints", "list"])["total"], 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_resent_from_the_command_line() {
    let gw = Gateway::start().await;
    let server = receiver().await;
    let created = gw.json(&[
        "webhooks",
        "endpoints",
        "create",
        "--url",
        &format!("{}/hooks", server.uri()),
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    gw.json(&["webhooks", "test"]);
    let events = gw.json(&["events", "list", "--type", "webhook.test"]);
    let event = events["data"][0]["id"].as_str().unwrap().to_owned();

    let all = gw.json(&["events", "resend", &event]);
    assert_eq!(all["event_id"], event.as_str());
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["deliveries"][0]["endpoint_id"], id.as_str());
    let human = gw.run(&["events", "resend", &event, "--endpoint", &id]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains(&id) && text.contains("pending"), "{text}");
    let unknown = gw.run(&[
        "events",
        "resend",
        &event,
        "--endpoint",
        "we_0000000000000000",
    ]);
    assert_eq!(unknown.status.code(), Some(3), "not found");

    let started = Instant::now();
    while server.received_requests().await.unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "resent deliveries arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bodies: Vec<Vec<u8>> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the same bytes each time"
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
