//! Graceful shutdown that drains (issue 13, item 4). On SIGTERM `gateway serve` closes its
//! listener, finishes the requests in progress, and its worker finishes or hands back its
//! running jobs, all within `SHUTDOWN_GRACE_MS`; then it exits 0.
//!
//! Under load, on SQLite and on PostgreSQL: every answer a client received is a complete 201,
//! the database holds exactly the orders and payments that were answered 201, no job is left
//! `running` (waiting for its lease to expire), and a restarted gateway settles every payment
//! long before any lease could have expired. A request still running when the grace period
//! ends is cut rather than keeping the process alive, and a second signal ends the drain at
//! once. `gateway worker` hands back its jobs the same way.
//!
//! Every connection goes to 127.0.0.1. Waits are bounded only so that a broken gateway fails
//! the test instead of hanging it; they measure nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_store::testing::{Backend, TestDatabase};
use serde_json::{Value, json};
use sqlx::{PgPool, SqlitePool};
use support::{Process, authed, client, send_webhooks_to, serve, serve_logged};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The grace period of the load tests: short, yet far longer than any order or payment request.
const GRACE: Duration = Duration::from_millis(2_000);
/// Generous room beyond the grace period for the process to exit; never a measure of speed.
const MARGIN: Duration = Duration::from_secs(20);
/// Bound on every wait for a condition; the test fails rather than hang.
const GUARD: Duration = Duration::from_secs(60);
/// A lease far longer than the test: a job left waiting for one would never settle in time.
const LEASE_MS: &str = "120000";
/// Concurrent clients; half keep connections alive, half open one per request.
const CLIENTS: usize = 8;
/// Orders (each with a payment) per client at most; far more than happen before the signal.
const ROUNDS: usize = 2_000;

fn env(url: &str, grace: Duration) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", url.to_owned()),
        ("TEST_MODE", "true".into()),
        ("TEST_PROCESSING_DELAY", "300".into()),
        ("JOB_LEASE_MS", LEASE_MS.into()),
        ("SHUTDOWN_GRACE_MS", grace.as_millis().to_string()),
    ]
}

/// The gateway's database, read directly by the test.
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Self::Sqlite(SqlitePool::connect(url).await.unwrap())
        } else {
            Self::Postgres(PgPool::connect(url).await.unwrap())
        }
    }

    async fn count(&self, sql: &'static str) -> i64 {
        match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    async fn ids(&self, sql: &'static str) -> HashSet<String> {
        let ids: Vec<String> = match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        };
        ids.into_iter().collect()
    }

    /// Waits until `sql` counts at least `wanted`.
    async fn wait_for(&self, what: &str, sql: &'static str, wanted: i64) {
        let started = Instant::now();
        while self.count(sql).await < wanted {
            assert!(started.elapsed() < GUARD, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const RUNNING_JOBS: &str = "SELECT COUNT(*) FROM jobs WHERE status = 'running'";
const RUNNING_DELIVERIES: &str =
    "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND kind = 'deliver_webhook'";
const PENDING_PAYMENTS: &str = "SELECT COUNT(*) FROM payments WHERE status = 'pending'";

/// A webhook receiver that never answers within the grace period, so deliveries are running
/// when the signal comes and must be handed back.
async fn slow_receiver() -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&receiver)
        .await;
    receiver
}

/// What the clients were answered 201 for.
#[derive(Debug, Default)]
struct Accepted {
    orders: HashSet<String>,
    payments: HashSet<String>,
}

/// POSTs `body` to `path`: `None` if no answer came (the gateway is closing or gone), the new
/// object's id otherwise. Any answer but a complete 201 with a JSON body fails the test.
async fn create(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Option<String> {
    let response = authed(http, reqwest::Method::POST, format!("{base}{path}"))
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{path} answered {status} with a truncated body: {e}"));
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 201, "{path} answered {status}: {text}");
    let value: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path} answered an incomplete body ({e}): {text}"));
    Some(value["id"].as_str().unwrap().to_owned())
}

/// Creates orders and pays them until a request gets no answer; returns whether one did not
/// (`false`: the rounds ran out first).
async fn client_loop(http: reqwest::Client, base: String, accepted: Arc<Mutex<Accepted>>) -> bool {
    for _ in 0..ROUNDS {
        let order = json!({ "amount": 50000 });
        let Some(order) = create(&http, &base, "/api/v1/orders", order).await else {
            return true;
        };
        accepted.lock().unwrap().orders.insert(order.clone());
        let payment = json!({ "order_id": order, "method": "upi", "vpa": "success@paytm" });
        let Some(payment) = create(&http, &base, "/api/v1/payments", payment).await else {
            return true;
        };
        accepted.lock().unwrap().payments.insert(payment);
    }
    false
}

fn load(base: &str, accepted: &Arc<Mutex<Accepted>>) -> tokio::task::JoinSet<bool> {
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let http = if i % 2 == 0 {
            client()
        } else {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        };
        clients.spawn(client_loop(http, base.to_owned(), accepted.clone()));
    }
    clients
}

/// Sends SIGTERM and waits for the process to exit 0 within the grace period plus a margin
/// (which is all the time a second SIGTERM leaves it).
async fn stop(process: &mut Process, grace: Duration) {
    process.sigterm();
    exits_cleanly(process, grace).await;
}

/// Waits for the process, already signalled, to exit 0 within `grace` plus a margin.
async fn exits_cleanly(process: &mut Process, grace: Duration) {
    let status = process.exit_within(grace + MARGIN).await;
    let status = status.expect("the gateway still runs long after its grace period");
    assert!(status.success(), "the gateway exited with {status}");
}

/// The database holds exactly the objects that were answered 201: none accepted and lost,
/// none phantom.
fn same_ids(what: &str, stored: &HashSet<String>, answered: &HashSet<String>) {
    let unanswered: Vec<_> = stored.difference(answered).collect();
    let missing: Vec<_> = answered.difference(stored).collect();
    assert!(
        unanswered.is_empty() && missing.is_empty(),
        "{what}: {} stored but never answered 201 ({unanswered:?}); {} answered 201 but not \
         stored ({missing:?})",
        unanswered.len(),
        missing.len()
    );
    assert!(
        !answered.is_empty(),
        "no {what} were created before the signal"
    );
}

fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap()
}

/// Waits until the log has a line containing `message`.
async fn wait_for_log(log: &Path, message: &str) {
    let started = Instant::now();
    while !log_text(log).contains(message) {
        assert!(started.elapsed() < GUARD, "no {message:?} in the log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The number in `field` of the first (JSON) log line containing `message`.
fn logged_count(log: &str, message: &str, field: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains(message))
        .unwrap_or_else(|| panic!("no log line with {message:?} in:\n{log}"));
    let line: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("a log line on a file is JSON: {e}: {line}"));
    line["fields"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {line}"))
}

async fn sigterm_under_load_loses_no_accepted_request_and_leaves_no_job_to_a_lease(
    backend: Backend,
) {
    let database = TestDatabase::create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gateway.log");
    let env = env(&database.url, GRACE);
    let mut gateway = serve_logged(&[], &env, &log).await;
    let base = gateway.base.clone().unwrap();
    let receiver = slow_receiver().await;
    send_webhooks_to(&base, &receiver).await;
    let db = Db::connect(&database.url).await;

    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let mut clients = load(&base, &accepted);
    // Signal mid-load, once a webhook delivery is running (it cannot finish within the grace
    // period, so the worker must hand it back).
    db.wait_for("a running webhook delivery", RUNNING_DELIVERIES, 1)
        .await;
    db.wait_for(
        "some payments",
        "SELECT COUNT(*) FROM payments",
        i64::try_from(CLIENTS).unwrap(),
    )
    .await;
    stop(&mut gateway, GRACE).await;

    let mut interrupted = 0;
    while let Some(client) = tokio::time::timeout(GUARD, clients.join_next())
        .await
        .expect("clients stop once the gateway is gone")
    {
        interrupted += usize::from(client.unwrap());
    }
    assert_eq!(
        interrupted, CLIENTS,
        "every client was still busy at SIGTERM"
    );

    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    assert_eq!(db.count(RUNNING_JOBS).await, 0, "a job waits for its lease");
    same_ids(
        "orders",
        &db.ids("SELECT id FROM orders").await,
        &accepted.orders,
    );
    same_ids(
        "payments",
        &db.ids("SELECT id FROM payments").await,
        &accepted.payments,
    );
    let log = log_text(&log);
    assert!(log.contains("HTTP drain started"), "{log}");
    assert!(
        logged_count(&log, "worker stopped", "aborted") >= 1,
        "{log}"
    );
    assert!(
        logged_count(&log, "worker stopped", "released") >= 1,
        "{log}"
    );

    // A restarted gateway takes the handed-back and queued jobs at once: every payment
    // settles long before the lease of a job left `running` could have expired.
    let mut restarted = serve(&[], &env).await;
    let started = Instant::now();
    while db.count(PENDING_PAYMENTS).await > 0 {
        assert!(started.elapsed() < GUARD, "payments are still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(&mut restarted, GRACE).await;
    assert_eq!(db.count(RUNNING_JOBS).await, 0, "a job waits for its lease");
    drop(receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_on_sqlite_loses_no_accepted_request_and_leaves_no_job_to_a_lease() {
    sigterm_under_load_loses_no_accepted_request_and_leaves_no_job_to_a_lease(Backend::Sqlite)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_on_postgres_loses_no_accepted_request_and_leaves_no_job_to_a_lease() {
    sigterm_under_load_loses_no_accepted_request_and_leaves_no_job_to_a_lease(Backend::Postgres)
        .await;
}

/// A request whose handler is running and waiting for its body: the headers ask for
/// `100 Continue`, which the gateway sends only once the handler reads the body.
async fn request_waiting_for_its_body(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /api/v1/orders HTTP/1.1\r\nHost: gateway\r\n\
                X-Api-Key: key_test_abc123\r\nX-Api-Secret: secret_test_xyz789\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\
                Expect: 100-continue\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(GUARD, stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
    stream
}

/// An idle keep-alive connection: one request answered, the connection left open.
async fn idle_keep_alive(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = tokio::time::timeout(GUARD, stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    stream
}

/// Reads until the gateway closes the connection; returns what it sent before closing.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(GUARD, stream.read_to_end(&mut rest)).await;
    // A reset is a close too.
    let _ = read.expect("the gateway closes the connection");
    rest
}

/// A gateway on a fresh SQLite file with `grace`, logging to `log`; its address too.
async fn gateway_with_grace(
    database: &TestDatabase,
    grace: Duration,
    log: &Path,
) -> (Process, String) {
    let mut env = env(&database.url, grace);
    env.push(("BODY_READ_TIMEOUT_MS", "600000".into()));
    let gateway = serve_logged(&[], &env, log).await;
    let addr = gateway
        .base
        .clone()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    (gateway, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_running_when_the_grace_period_ends_is_cut_and_the_process_exits() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gateway.log");
    let grace = Duration::from_millis(1_000);
    let (mut gateway, addr) = gateway_with_grace(&database, grace, &log).await;
    let mut idle = idle_keep_alive(&addr).await;
    let mut slow = request_waiting_for_its_body(&addr).await;

    let signalled = Instant::now();
    stop(&mut gateway, grace).await;
    // The timer cannot fire early: the process waited for the running request until then.
    assert!(
        signalled.elapsed() >= grace,
        "the drain ended before the grace period"
    );
    assert!(read_to_close(&mut idle).await.is_empty());
    assert!(
        read_to_close(&mut slow).await.is_empty(),
        "the cut request got no answer"
    );
    let log = log_text(&log);
    assert_eq!(
        logged_count(
            &log,
            "HTTP drain ended with connections still open",
            "requests_running"
        ),
        1,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_at_once() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gateway.log");
    // Far longer than the test may take: only the second signal can end the drain in time.
    let grace = Duration::from_secs(600);
    let (mut gateway, addr) = gateway_with_grace(&database, grace, &log).await;
    let mut slow = request_waiting_for_its_body(&addr).await;

    gateway.sigterm();
    // Two signals sent at once could arrive as one; send the second once the first is seen.
    wait_for_log(&log, "shutdown requested").await;
    stop(&mut gateway, Duration::ZERO).await;
    assert!(read_to_close(&mut slow).await.is_empty());
    let log = log_text(&log);
    assert!(log.contains("second shutdown signal"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_hands_back_its_running_jobs_on_sigterm() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let env = env(&database.url, GRACE);
    let api = serve(&["--no-worker"], &env).await;
    let base = api.base.clone().unwrap();
    let receiver = slow_receiver().await;
    send_webhooks_to(&base, &receiver).await;
    let http = client();
    let order = create(&http, &base, "/api/v1/orders", json!({ "amount": 50000 })).await;
    let payment = json!({ "order_id": order.unwrap(), "method": "upi", "vpa": "success@paytm" });
    create(&http, &base, "/api/v1/payments", payment)
        .await
        .unwrap();

    let mut worker_env = env.clone();
    worker_env.push(("RUST_LOG", "info,sqlx=warn".into()));
    let stderr = Stdio::from(support::append(&log));
    let mut worker = support::spawn_with_stderr(&["worker"], &worker_env, stderr);
    let db = Db::connect(&database.url).await;
    db.wait_for("a running webhook delivery", RUNNING_DELIVERIES, 1)
        .await;
    stop(&mut worker, GRACE).await;
    assert_eq!(db.count(RUNNING_JOBS).await, 0, "a job waits for its lease");
    let log = log_text(&log);
    assert!(
        logged_count(&log, "worker stopped", "released") >= 1,
        "{log}"
    );
    drop(receiver);
}
