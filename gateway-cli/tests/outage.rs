//! A PostgreSQL outage under load: a private PostgreSQL server is stopped while payments are
//! being created, then started again. While it is down the API answers 503 with a JSON error
//! (never hangs, never 500) and `/ready` says not ready; afterwards the gateway recovers on its
//! own and everything that was accepted settles.
//!
//! The server is private (its own data directory and port) so stopping it cannot disturb other
//! tests using the machine's shared PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use support::{authed, client, free_port, receiver_answering_200, send_webhooks_to, serve};
use tokio::sync::Mutex;

/// A PostgreSQL server of our own, in a temporary directory, run as the `postgres` user.
struct PrivatePostgres {
    data: PathBuf,
    port: u16,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    fn bin_dir() -> PathBuf {
        let versions = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql");
        let mut versions: Vec<PathBuf> =
            versions.filter_map(|e| e.ok().map(|e| e.path())).collect();
        versions.sort();
        versions.pop().expect("a PostgreSQL version").join("bin")
    }

    fn as_postgres(program: &Path, args: &[&str]) {
        let status = Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(program)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "{} {args:?}", program.display());
    }

    fn init() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .unwrap();
        Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        let bin = Self::bin_dir();
        Self::as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let server = Self {
            data,
            port: free_port(),
            bin,
            _dir: dir,
        };
        server.start();
        server
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        Self::as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-l",
                "/dev/null",
                "start",
            ],
        );
    }

    fn stop(&self) {
        Self::as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .status();
    }
}

#[derive(Debug, Default)]
struct LoadLog {
    created: Vec<String>,
    unavailable: usize,
    other: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_503_while_postgres_is_down_and_recovers_by_itself() {
    let postgres = PrivatePostgres::init();
    let env = vec![
        ("DATABASE_URL", postgres.url()),
        ("TEST_MODE", "true".to_owned()),
        ("TEST_PROCESSING_DELAY", "0".to_owned()),
        ("WEBHOOK_RETRY_INTERVALS_TEST", "true".to_owned()),
    ];
    let server = serve(&[], &env).await;
    let base = server.base.clone().unwrap();
    let receiver = receiver_answering_200().await;
    send_webhooks_to(&base, &receiver).await;
    let http = client();

    // Steady load: orders + payments until told to stop (bounded in count).
    let log = Arc::new(Mutex::new(LoadLog::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (log, stop, base, http) = (log.clone(), stop.clone(), base.clone(), http.clone());
        tokio::spawn(async move {
            for i in 0..5_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let order = authed(
                    &http,
                    reqwest::Method::POST,
                    format!("{base}/api/v1/orders"),
                )
                .body(json!({ "amount": 1000 }).to_string())
                .send()
                .await;
                let outcome = match order {
                    Ok(r) if r.status() == 201 => {
                        let order: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
                        let body = json!({ "order_id": order["id"], "method": "upi", "vpa": "success@paytm" });
                        authed(
                            &http,
                            reqwest::Method::POST,
                            format!("{base}/api/v1/payments"),
                        )
                        .header("Idempotency-Key", format!("outage-{i}"))
                        .body(body.to_string())
                        .send()
                        .await
                    }
                    other => other,
                };
                let mut log = log.lock().await;
                match outcome {
                    Ok(r) if r.status() == 201 => log.created.push(
                        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    ),
                    Ok(r) if r.status() == 503 => {
                        let body: Value = serde_json::from_str(&r.text().await.unwrap())
                            .expect("503 has a JSON body");
                        assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE_ERROR");
                        log.unavailable += 1;
                    }
                    Ok(r) => log.other.push(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => log.other.push(format!("transport error: {e}")),
                }
                drop(log);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    while log.lock().await.created.len() < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    postgres.stop();

    // While down: a clear 503 within the request timeout, and not ready.
    let asked = Instant::now();
    let down = authed(
        &http,
        reqwest::Method::POST,
        format!("{base}/api/v1/orders"),
    )
    .body(json!({ "amount": 1000 }).to_string())
    .send()
    .await
    .unwrap();
    assert_eq!(down.status(), 503);
    assert!(
        asked.elapsed() < Duration::from_secs(31),
        "answered within the request timeout"
    );
    let body: Value = serde_json::from_str(&down.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE_ERROR");
    let ready = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    tokio::time::sleep(Duration::from_secs(2)).await;

    postgres.start();
    let back = Instant::now();
    loop {
        let ready = http.get(format!("{base}/ready")).send().await.unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "the gateway did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = log.lock().await.created.len();
    while log.lock().await.created.len() < before + 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();

    let log = log.lock().await;
    assert!(
        log.other.is_empty(),
        "only 201 and 503 answers: {:?}",
        log.other
    );
    assert!(log.unavailable > 0, "the load saw the outage");
    let pool = PgPool::connect(&postgres.url()).await.unwrap();
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM payments WHERE status = 'pending')
                  + (SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running'))
                  + (SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'success')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{open} payments, jobs or deliveries never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &log.created {
        let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(status, "success", "{id}");
    }
    println!(
        "outage: {} payments accepted, {} requests answered 503 during the outage",
        log.created.len(),
        log.unavailable
    );
    pool.close().await;
    drop(server);
}
