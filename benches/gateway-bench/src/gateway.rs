//! The system under test: a fresh database (an SQLite file in a temporary directory, or a
//! PostgreSQL database created for the run and dropped afterwards) and `gateway serve` running
//! on it as a child process on its own port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;

use crate::http::{self, Credentials};

/// Which database the gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Backend {
    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Makes database names unique within the run.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database that lives until [`Database::remove`].
#[derive(Debug)]
pub struct Database {
    /// Its `DATABASE_URL`.
    pub url: String,
    /// The temporary directory holding an SQLite file (removed on drop).
    _dir: Option<tempfile::TempDir>,
    /// The admin URL and name of a PostgreSQL database to drop.
    postgres: Option<(String, String)>,
}

impl Database {
    /// Creates an empty database; `purpose` becomes part of its name.
    pub async fn create(backend: Backend, admin_url: &str, purpose: &str) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("gateway-bench-")
                    .tempdir()?;
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{purpose}.db")).display()
                );
                Ok(Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let name = format!(
                    "gateway_bench_{}_{}_{}",
                    purpose,
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                );
                let mut conn = sqlx::PgConnection::connect(admin_url).await.with_context(|| {
                    format!(
                        "cannot reach PostgreSQL at {admin_url}: start it (e.g. `pg_ctlcluster 15 main start`) \
                         or set GATEWAY_TEST_POSTGRES_URL / --postgres-url"
                    )
                })?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .context("CREATE DATABASE")?;
                let _ = conn.close().await;
                let Some((server, _)) = admin_url.rsplit_once('/') else {
                    bail!("the PostgreSQL URL must end in /<database>");
                };
                Ok(Self {
                    url: format!("{server}/{name}"),
                    _dir: None,
                    postgres: Some((admin_url.to_owned(), name)),
                })
            }
        }
    }

    /// The SQLite database's write-ahead log (`None` on PostgreSQL).
    pub fn wal_file(&self) -> Option<PathBuf> {
        let path = self.url.strip_prefix("sqlite://")?;
        Some(PathBuf::from(format!("{path}-wal")))
    }

    /// Drops a PostgreSQL database (an SQLite directory goes when `self` is dropped).
    pub async fn remove(mut self) {
        if let Some((admin, name)) = self.postgres.take()
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

/// How to start the gateway.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `gateway` binary.
    pub binary: PathBuf,
    /// `WEBHOOK_TIMEOUT_MS`.
    pub webhook_timeout_ms: u64,
    /// `QUEUE_URL` and `QUEUE_KEY_PREFIX` for the Redis queue; `None` for the database queue.
    pub redis_queue: Option<(String, String)>,
}

impl Launch {
    /// The environment every gateway process of the bench gets.
    fn env(&self, database_url: &str) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DATABASE_URL", database_url.to_owned()),
            ("GATEWAY_ENV", "development".into()),
            ("TEST_MODE", "true".into()),
            ("TEST_PROCESSING_DELAY", "0".into()),
            ("TEST_PAYMENT_SUCCESS", "true".into()),
            ("WEBHOOK_TIMEOUT_MS", self.webhook_timeout_ms.to_string()),
            (
                "JOB_LEASE_MS",
                (self.webhook_timeout_ms + 55_000).to_string(),
            ),
            ("RUST_LOG", "warn".into()),
            ("NO_COLOR", "1".into()),
            ("METRICS_ADDR", String::new()),
        ];
        if let Some((url, prefix)) = &self.redis_queue {
            env.push(("QUEUE_URL", url.clone()));
            env.push(("QUEUE_KEY_PREFIX", prefix.clone()));
        }
        env
    }

    /// Deletes the Redis queue's keys (each scenario starts on an empty queue, as on a fresh
    /// database).
    pub fn clear_redis_queue(&self) -> anyhow::Result<()> {
        let Some((url, prefix)) = &self.redis_queue else {
            return Ok(());
        };
        let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut conn)?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL").arg(keys).query(&mut conn)?;
        }
        Ok(())
    }

    /// Runs `gateway merchants create` on `database_url` and returns the new credentials.
    pub fn create_merchant(&self, database_url: &str, email: &str) -> anyhow::Result<Credentials> {
        let output = Command::new(&self.binary)
            .args([
                "merchants",
                "create",
                "--email",
                email,
                "--name",
                email,
                "--json",
            ])
            .envs(self.env(database_url))
            .output()
            .context("running gateway merchants create")?;
        if !output.status.success() {
            bail!(
                "gateway merchants create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .context("gateway merchants create --json printed no JSON")?;
        let field = |name: &str| {
            json[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no {name} in the output of merchants create"))
        };
        Ok(Credentials {
            key: field("api_key")?,
            secret: field("api_secret")?,
        })
    }

    /// Starts `gateway serve` on `database_url` and a free port, and waits until `/health`
    /// answers. Its stderr goes to `log`.
    pub async fn serve(&self, database_url: &str, log: &Path) -> anyhow::Result<Gateway> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&self.binary)
            .arg("serve")
            .envs(self.env(database_url))
            .env("PORT", port.to_string())
            .env("BIND_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let mut gateway = Gateway {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let health = http::request("GET", "/health", None, "");
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = http::once(gateway.addr, &health).await {
                return Ok(gateway);
            }
            if let Ok(Some(status)) = gateway.child.try_wait() {
                bail!(
                    "gateway serve exited with {status}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if started.elapsed() > Duration::from_secs(30) {
                gateway.stop();
                bail!("gateway serve did not answer /health within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running `gateway serve`, killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    /// The process.
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Gateway {
    /// The process id, for `/proc` sampling.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process (SIGKILL: the bench does not measure shutdown).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Points `credentials`' merchant's webhooks at `url`.
    pub async fn set_webhook_url(
        &self,
        credentials: &Credentials,
        url: &str,
    ) -> anyhow::Result<()> {
        let body = format!(r#"{{"webhook_url":"{url}"}}"#);
        let raw = http::request("PUT", "/api/v1/webhooks/config", Some(credentials), &body);
        let (status, text) = http::once(self.addr, &raw).await?;
        if !(200..300).contains(&status) {
            bail!("PUT /api/v1/webhooks/config answered {status}: {text}");
        }
        Ok(())
    }

    /// Waits until the job queue has nothing queued or running (at most `limit`), so one step's
    /// background work does not spill into the next. Returns whether it drained.
    pub async fn drain_jobs(&self, limit: Duration) -> bool {
        let raw = http::request("GET", "/api/v1/test/jobs/status", None, "");
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok((200, body)) = http::once(self.addr, &raw).await
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
                && json["pending"].as_i64() == Some(0)
                && json["processing"].as_i64() == Some(0)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}
