//! The log of the real binary on a pipe, as `gateway serve 2>&1 | cat` sees it: JSON lines by
//! default (each one parses), no terminal escape codes in either format, and one request id
//! followed from the API call through the payment job to the webhook delivery it caused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{
    Process, authed, client, receiver_answering_200, send_webhooks_to, serve_with_stderr,
};

/// What a process wrote to its stderr pipe so far.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// Reads `process`'s stderr pipe in the background.
    fn capture(process: &mut Process) -> Self {
        let log = Self::default();
        let mut pipe = process.child.stderr.take().expect("stderr is piped");
        let sink = log.0.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        log
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    /// The complete lines so far.
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.bytes()).into_owned();
        let complete = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
        complete.lines().map(str::to_owned).collect()
    }

    /// The lines as JSON, failing on any line that is not a JSON object.
    fn json_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(value) if value.is_object() => value,
                _ => panic!("not a JSON object: {line:?}"),
            })
            .collect()
    }

    /// Waits up to 10 s for a JSON line that `matches`.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.json_lines().into_iter().find(|l| matches(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line {what} in:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The spans a JSON line was written in, outermost first.
fn spans(line: &Value) -> Vec<&Value> {
    line["spans"]
        .as_array()
        .map(|spans| spans.iter().collect())
        .unwrap_or_default()
}

/// Whether `line` was written in a span named `name` whose fields include `fields`.
fn in_span(line: &Value, name: &str, fields: &[(&str, &str)]) -> bool {
    spans(line)
        .iter()
        .any(|span| span["name"] == name && fields.iter().all(|(k, v)| span[*k] == *v))
}

/// `gateway serve` in test mode on SQLite in `dir`, its log on a pipe, with `env` added.
async fn serve_on_a_pipe(dir: &std::path::Path, env: &[(&str, &str)]) -> (Process, Log) {
    let mut all = vec![
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("gateway.db").display()),
        ),
        ("TEST_MODE", "true".to_owned()),
        ("TEST_PROCESSING_DELAY", "50".to_owned()),
        (
            "RUST_LOG",
            "debug,sqlx=warn,hyper=info,reqwest=info".to_owned(),
        ),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let mut process = serve_with_stderr(&[], &all, Stdio::piped()).await;
    let log = Log::capture(&mut process);
    (process, log)
}

/// The `X-Request-Id` of an answer.
fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_pipe_the_log_is_json_lines_without_escape_codes_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_on_a_pipe(dir.path(), &[]).await;
    let base = server.base.as_ref().unwrap();
    let response = client()
        .get(format!("{base}/no/such/route"))
        .header("X-Request-Id", "lost-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let line = log
        .wait_for("of the 404's access", |l| {
            l["target"] == "gateway::access" && in_span(l, "request", &[("request_id", "lost-123")])
        })
        .await;
    assert_eq!(line["fields"]["status"], 404);
    assert!(
        spans(&line)[0]["route"] == "unmatched",
        "the raw path is not logged"
    );

    let lines = log.json_lines();
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    assert!(!log.bytes().contains(&0x1b), "no escape codes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_lines_on_a_pipe_have_no_escape_codes_either() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_on_a_pipe(dir.path(), &[("LOG_FORMAT", "pretty")]).await;
    let base = server.base.as_ref().unwrap();
    client().get(format!("{base}/health")).send().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.lines().iter().any(|l| l.contains("request finished")) {
        assert!(Instant::now() < deadline, "{}", log.lines().join("\n"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = log.lines();
    assert!(lines.iter().any(|l| l.contains("gateway listening")));
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "pretty lines are not JSON: {lines:?}"
    );
    assert!(!log.bytes().contains(&0x1b), "no escape codes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_found_in_the_log_of_the_request_its_payment_job_and_its_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_on_a_pipe(dir.path(), &[]).await;
    let base = server.base.as_ref().unwrap();
    let receiver = receiver_answering_200().await;
    send_webhooks_to(base, &receiver).await;
    let http = client();
    let order: Value = authed(
        &http,
        reqwest::Method::POST,
        format!("{base}/api/v1/orders"),
    )
    .body(json!({ "amount": 50000 }).to_string())
    .send()
    .await
    .unwrap()
    .text()
    .await
    .map(|t| serde_json::from_str(&t).unwrap())
    .unwrap();

    let body = json!({ "order_id": order["id"], "method": "upi", "vpa": "success@paytm" });
    let created = authed(
        &http,
        reqwest::Method::POST,
        format!("{base}/api/v1/payments"),
    )
    .header("X-Request-Id", "my-trace-123")
    .body(body.to_string())
    .send()
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(request_id(&created), "my-trace-123");
    let payment: Value = serde_json::from_str(&created.text().await.unwrap()).unwrap();
    let payment_id = payment["id"].as_str().unwrap();

    // The request's own lines, with the merchant it authenticated as.
    let access = log
        .wait_for("of the request", |l| {
            l["target"] == "gateway::access"
                && in_span(l, "request", &[("request_id", "my-trace-123")])
        })
        .await;
    assert_eq!(access["fields"]["status"], 201);
    assert_eq!(spans(&access)[0]["route"], "/api/v1/payments");
    assert!(spans(&access)[0]["merchant"].is_string(), "{access}");

    // The payment job's lines.
    log.wait_for("of the payment job", |l| {
        in_span(
            l,
            "job",
            &[
                ("kind", "process_payment"),
                ("entity", payment_id),
                ("request_id", "my-trace-123"),
            ],
        )
    })
    .await;

    // The delivery the payment job enqueued when it settled the payment: its webhook-id is the
    // delivery's id, and that delivery's job logs under the request's id.
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let requests = receiver.received_requests().await.unwrap();
        let success = requests.iter().find(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event"] == "payment.success"
        });
        if let Some(request) = success {
            break request.headers["webhook-id"].to_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "payment.success was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let attempt = log
        .wait_for("of the payment.success delivery", |l| {
            in_span(
                l,
                "job",
                &[
                    ("kind", "deliver_webhook"),
                    ("entity", &delivery),
                    ("request_id", "my-trace-123"),
                ],
            )
        })
        .await;
    assert!(spans(&attempt)[0]["merchant"].is_string(), "{attempt}");
    assert!(!log.bytes().contains(&0x1b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_request_id_is_replaced_and_error_bodies_carry_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_on_a_pipe(dir.path(), &[]).await;
    let base = server.base.as_ref().unwrap();
    let http = client();
    let too_long = "a".repeat(129);
    for bad in ["bad id", "tab\there", too_long.as_str()] {
        let response = authed(
            &http,
            reqwest::Method::GET,
            format!("{base}/api/v1/orders/order_nope"),
        )
        .header("X-Request-Id", bad)
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 404);
        let id = request_id(&response);
        assert!(id.starts_with("req_") && id.len() == 24, "{bad:?} -> {id}");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["error"]["request_id"], id.as_str());
        assert_eq!(body["error"]["code"], "NOT_FOUND_ERROR");
        log.wait_for("with the generated id", |l| {
            in_span(l, "request", &[("request_id", &id)])
        })
        .await;
    }
    assert!(
        !log.lines()
            .iter()
            .any(|l| l.contains("bad id") || l.contains(&too_long)),
        "an unusable id is never logged"
    );
}

#[test]
fn an_unknown_log_format_stops_the_start_with_a_clear_error() {
    let output = std::process::Command::new(support::BIN)
        .arg("serve")
        .env("LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'xml'") && stderr.contains("json, pretty"),
        "{stderr}"
    );
}
