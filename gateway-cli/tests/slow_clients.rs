//! Slow and idle clients cannot exhaust `gateway serve` (issue 12, finding 2): half-open
//! connections are closed after the header-read timeout, idle ones after the idle timeout,
//! withheld bodies get 408, connections beyond the cap wait (and the cap is logged), and a new
//! client's `/health` still answers while hundreds of connections sit half-open, even with the
//! process at `ulimit -n 256`.
//!
//! Every connection goes to 127.0.0.1. Timeouts are configured short; the tests assert that a
//! connection is closed, never how fast: each wait is bounded only so a broken server fails the
//! test instead of hanging it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{BIN, Process, client, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough for any of these waits on a loaded machine; never a measure of speed.
const GUARD: Duration = Duration::from_secs(60);

/// A `gateway serve --no-worker` process on a fresh SQLite file, its stderr in a file.
struct Server {
    _process: Process,
    base: String,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server with `env`, under `ulimit -n fd_limit` if given, and waits for it.
    async fn start(fd_limit: Option<u32>, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("stderr.log");
        let limit = fd_limit.map_or(String::new(), |n| format!("ulimit -n {n} && "));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{limit}exec \"$0\" serve --no-worker"))
            .arg(BIN)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("gateway.db").display()),
            )
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let process = Process {
            child: command.spawn().unwrap(),
            base: None,
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        for _ in 0..400 {
            if http.get(format!("{base}/health")).send().await.is_ok() {
                return Self {
                    _process: process,
                    base,
                    addr: format!("127.0.0.1:{port}"),
                    log,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "gateway serve did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A connection that has sent `bytes` and then nothing more.
    async fn open(&self, bytes: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stream
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Reads until the server closes the connection; what it sent before closing.
async fn read_until_closed(mut stream: TcpStream) -> String {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(GUARD, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open; it sent {:?}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

const HALF_A_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";

#[tokio::test]
async fn health_answers_while_hundreds_of_connections_sit_half_open() {
    let server = Server::start(
        Some(256),
        &[
            ("HEADER_READ_TIMEOUT_MS", "1000"),
            ("IDLE_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let mut half_open = Vec::new();
    for _ in 0..300 {
        half_open.push(server.open(HALF_A_HEAD).await);
    }
    let health = client()
        .get(format!("{}/health", server.base))
        .timeout(GUARD)
        .send()
        .await
        .expect("a new client's /health is answered");
    assert_eq!(health.status(), 200);
    let log = server.log();
    assert!(
        log.contains("MAX_CONNECTIONS lowered to half the file-descriptor limit"),
        "{log}"
    );
    assert!(log.contains("connection limit reached"), "{log}");
    drop(half_open);
}

#[tokio::test]
async fn a_half_open_connection_is_closed_after_the_header_read_timeout() {
    let server = Server::start(
        None,
        &[
            ("HEADER_READ_TIMEOUT_MS", "300"),
            ("IDLE_TIMEOUT_MS", "600000"),
        ],
    )
    .await;
    let partial = server.open(HALF_A_HEAD).await;
    let received = read_until_closed(partial).await;
    assert!(!received.contains("200 OK"), "{received}");
    let silent = server.open(b"").await;
    read_until_closed(silent).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(
        None,
        &[
            ("HEADER_READ_TIMEOUT_MS", "600000"),
            ("IDLE_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    let keep_alive = server
        .open(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let received = read_until_closed(keep_alive).await;
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(!received.contains("connection: close"), "{received}");
    let silent = server.open(b"").await;
    assert_eq!(read_until_closed(silent).await, "");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_gets_408_and_a_closed_connection() {
    let server = Server::start(None, &[("BODY_READ_TIMEOUT_MS", "300")]).await;
    let stalled = server
        .open(
            b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              X-Api-Key: key_test_abc123\r\nX-Api-Secret: secret_test_xyz789\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\": ",
        )
        .await;
    let received = read_until_closed(stalled).await;
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    assert!(received.contains("REQUEST_TIMEOUT_ERROR"), "{received}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_and_reaching_it_is_logged() {
    let server = Server::start(
        None,
        &[("MAX_CONNECTIONS", "4"), ("HEADER_READ_TIMEOUT_MS", "500")],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(server.open(HALF_A_HEAD).await);
    }
    let health = client()
        .get(format!("{}/health", server.base))
        .timeout(GUARD)
        .send()
        .await
        .expect("/health is answered once the half-open connections time out");
    assert_eq!(health.status(), 200);
    let log = server.log();
    assert!(log.contains("connection limit reached"), "{log}");
    // The log is a file, not a terminal: JSON lines.
    assert!(log.contains(r#""max_connections":4"#), "{log}");
}

/// Waits for `child` to exit; kills it and fails if it is still running after [`GUARD`].
fn exit_within_guard(mut child: std::process::Child) -> std::process::Output {
    let deadline = std::time::Instant::now() + GUARD;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started instead of refusing its settings");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn bad_listener_settings_stop_the_server_with_a_message() {
    for (name, value, message) in [
        ("TRUSTED_PROXIES", "proxy.internal", "TRUSTED_PROXIES"),
        ("FORWARDED_HEADER", "x-real-ip", "FORWARDED_HEADER"),
        ("MAX_CONNECTIONS", "0", "MAX_CONNECTIONS"),
        ("HEADER_READ_TIMEOUT_MS", "5", "HEADER_READ_TIMEOUT_MS"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("gateway.db").display()),
            )
            .env("PORT", free_port().to_string())
            .env(name, value)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = exit_within_guard(child);
        assert_eq!(output.status.code(), Some(1), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{name}={value}: {stderr}");
    }
}
