//! Throwaway databases for tests (feature `testing`): a fresh SQLite file, or a fresh
//! PostgreSQL database created from `GATEWAY_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), each removed when dropped.

#[cfg(feature = "postgres")]
use std::sync::atomic::{AtomicU32, Ordering};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// The server the Postgres tests use unless `GATEWAY_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    /// The `DATABASE_URL` of the fresh database.
    pub url: String,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// The admin URL and name of a Postgres database to drop.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    postgres: Option<(String, String)>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish()
    }
}

#[cfg(feature = "postgres")]
static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// Creates an empty database on `backend` (migrations are not applied).
    ///
    /// # Panics
    /// If PostgreSQL is unreachable: the Postgres half of the suite must never pass silently.
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
                Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => Self::create_postgres().await,
        }
    }

    /// The path of the SQLite file, if this is an SQLite database.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.url
            .strip_prefix("sqlite://")
            .map(std::path::PathBuf::from)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[cfg(feature = "postgres")]
    async fn create_postgres() -> Self {
        use sqlx::Connection;
        let admin = std::env::var("GATEWAY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!(
            "gateway_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand_suffix()
        );
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) => panic!(
                "PostgreSQL tests need a server at {admin} ({e}). Start one (e.g. `pg_ctlcluster 15 main start`) \
                 or point GATEWAY_TEST_POSTGRES_URL at a server where this user may CREATE DATABASE."
            ),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("GATEWAY_TEST_POSTGRES_URL must end in /<database>"),
        };
        Self {
            url,
            backend: Backend::Postgres,
            _dir: None,
            postgres: Some((admin, name)),
        }
    }

    #[cfg(not(feature = "postgres"))]
    async fn create_postgres() -> Self {
        panic!("this build of gateway-store has no `postgres` feature")
    }
}

#[cfg(feature = "postgres")]
fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        #[cfg(feature = "postgres")]
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs outside async context guarantees, so use a private runtime on a thread.
            let _ = std::thread::spawn(move || {
                use sqlx::Connection;
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The Redis tests use unless `GATEWAY_TEST_REDIS_URL` names another.
#[cfg(feature = "redis")]
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// A key prefix of its own on the test Redis, whose keys are deleted on drop.
#[cfg(feature = "redis")]
pub struct TestRedis {
    /// The Redis to connect to.
    pub url: String,
    /// The prefix every key of this test starts with.
    pub prefix: String,
}

#[cfg(feature = "redis")]
impl TestRedis {
    /// A fresh prefix on the test Redis; panics, saying how to start one, if it does not answer.
    pub fn create() -> Self {
        let url = std::env::var("GATEWAY_TEST_REDIS_URL")
            .unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
        let answered = redis::Client::open(url.as_str())
            .and_then(|client| {
                client.get_connection_with_timeout(std::time::Duration::from_secs(2))
            })
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
        if let Err(e) = answered {
            panic!(
                "Redis tests need a server at {url} ({e}). Start one (e.g. `redis-server --daemonize yes`) \
                 or point GATEWAY_TEST_REDIS_URL at one."
            );
        }
        let prefix = format!(
            "gateway-test:{}:{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Self { url, prefix }
    }

    /// A queue under this prefix for `outbox`'s jobs, with `config`'s pacing.
    pub async fn queue(
        &self,
        outbox: std::sync::Arc<dyn gateway_core::JobOutbox>,
        config: crate::RedisQueueConfig,
    ) -> crate::RedisQueue {
        let config = crate::RedisQueueConfig {
            prefix: self.prefix.clone(),
            ..config
        };
        crate::RedisQueue::connect(&self.url, outbox, config)
            .await
            .expect("the test Redis answered a moment ago")
    }
}

#[cfg(feature = "redis")]
impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut conn) =
            redis::Client::open(self.url.as_str()).and_then(|client| client.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}
