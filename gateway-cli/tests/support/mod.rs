//! Helpers for tests that run the built `gateway` binary as separate processes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod private_redis;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// A `gateway` process, killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    /// `http://127.0.0.1:port` for servers.
    pub base: Option<String>,
}

impl Process {
    /// SIGKILL: no graceful anything.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: what an orchestrator sends to stop the process gracefully.
    pub fn sigterm(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .unwrap();
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it still runs.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `gateway <args>` with `env`, as a background process.
pub fn spawn(args: &[&str], env: &[(&str, String)]) -> Process {
    spawn_with_stderr(args, env, Stdio::inherit())
}

/// Runs `gateway <args>` with `env` and its stderr (the log) sent to `stderr`.
pub fn spawn_with_stderr(args: &[&str], env: &[(&str, String)], stderr: Stdio) -> Process {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        // Chosen by each test (the default depends on whether stderr is a terminal).
        .env_remove("LOG_FORMAT");
    for (key, value) in env {
        command.env(key, value);
    }
    Process {
        child: command.spawn().unwrap(),
        base: None,
    }
}

/// Starts `gateway serve` (plus `extra` args) on a free port and waits until it answers.
pub async fn serve(extra: &[&str], env: &[(&str, String)]) -> Process {
    serve_with_stderr(extra, env, Stdio::inherit()).await
}

/// [`serve`], with the log (stderr, at `RUST_LOG=info`) appended to the file `log`.
pub async fn serve_logged(extra: &[&str], env: &[(&str, String)], log: &Path) -> Process {
    let mut env = env.to_vec();
    env.push(("RUST_LOG", "info,sqlx=warn".into()));
    serve_with_stderr(extra, &env, Stdio::from(append(log))).await
}

/// `log`, opened for appending (created if missing).
pub fn append(log: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap()
}

/// [`serve`] with the log (stderr) sent to `stderr`.
pub async fn serve_with_stderr(extra: &[&str], env: &[(&str, String)], stderr: Stdio) -> Process {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("PORT", port.to_string()));
    let mut args = vec!["serve"];
    args.extend_from_slice(extra);
    let mut process = spawn_with_stderr(&args, &env, stderr);
    let base = format!("http://127.0.0.1:{port}");
    let client = client();
    for _ in 0..200 {
        if client.get(format!("{base}/health")).send().await.is_ok() {
            process.base = Some(base);
            return process;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway serve did not start");
}

/// An HTTP client for talking to the gateway.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        // Below the server's 10 s idle timeout, so the client never reuses a connection the
        // server is closing at that moment (the keep-alive race, seen as a connection reset).
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A request as the seeded test merchant.
pub fn authed(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .header("X-Api-Key", "key_test_abc123")
        .header("X-Api-Secret", "secret_test_xyz789")
        .header("Content-Type", "application/json")
}

/// A webhook receiver that answers every POST with 200 at once.
pub async fn receiver_answering_200() -> wiremock::MockServer {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    receiver
}

/// Points the test merchant's webhooks (on the gateway at `base`) at `receiver`'s `/webhook`.
pub async fn send_webhooks_to(base: &str, receiver: &wiremock::MockServer) {
    let configured = authed(
        &client(),
        reqwest::Method::PUT,
        format!("{base}/api/v1/webhooks/config"),
    )
    .body(serde_json::json!({ "webhook_url": format!("{}/webhook", receiver.uri()) }).to_string())
    .send()
    .await
    .unwrap();
    assert_eq!(configured.status(), 200);
}
