//! Configuration from flags and the reference's environment variables, validated once.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use clap::builder::BoolishValueParser;
use gateway_core::endpoint_health::{DEFAULT_DISABLE_AFTER, TEST_DISABLE_AFTER};
use gateway_core::merchant::DEVELOPMENT_PEPPER;
use gateway_core::webhook::RetrySchedule;
use gateway_core::{Environment, SimulationConfig};

/// Raw settings as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Database to use: `sqlite://path.db` (created if missing) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://gateway.db",
        global = true
    )]
    pub database_url: String,
    /// PostgreSQL connections each gateway process holds at most (SQLite ignores it). The
    /// database's `max_connections` must cover every process's pool.
    #[arg(
        long,
        env = "DATABASE_POOL_SIZE",
        default_value_t = gateway_store::DEFAULT_POSTGRES_CONNECTIONS,
        global = true
    )]
    pub database_pool_size: u32,
    /// `development` (seeds the test merchant, allows private webhook targets) or `production`.
    #[arg(
        long = "env",
        env = "GATEWAY_ENV",
        default_value = "development",
        global = true
    )]
    pub environment: String,
    /// Key for hashing API secrets; required in production. Changing it invalidates all secrets.
    #[arg(long, env = "API_SECRET_SALT", hide_env_values = true, global = true)]
    pub api_secret_salt: Option<String>,
    /// Fixed processing delay and outcome instead of the simulated bank's random ones.
    #[arg(long, env = "TEST_MODE", value_parser = BoolishValueParser::new(), default_value = "false", global = true)]
    pub test_mode: bool,
    /// Processing delay in test mode, in milliseconds.
    #[arg(
        long,
        env = "TEST_PROCESSING_DELAY",
        default_value_t = 1000,
        global = true
    )]
    pub test_processing_delay: u64,
    /// Outcome of payments in test mode (test instruments decide their own).
    #[arg(long, env = "TEST_PAYMENT_SUCCESS", value_parser = BoolishValueParser::new(), default_value = "true", global = true)]
    pub test_payment_success: bool,
    /// Retry failed webhooks after 5, 10, 15, 20 s instead of 1 m, 5 m, 30 m, 2 h.
    #[arg(long, env = "WEBHOOK_RETRY_INTERVALS_TEST", value_parser = BoolishValueParser::new(), default_value = "false", global = true)]
    pub webhook_retry_intervals_test: bool,
    /// Custom webhook retry waits in milliseconds, comma-separated (e.g. `60000,300000`); one
    /// more attempt than waits. Overrides WEBHOOK_RETRY_INTERVALS_TEST.
    #[arg(
        long,
        env = "WEBHOOK_RETRY_SCHEDULE_MS",
        value_delimiter = ',',
        global = true
    )]
    pub webhook_retry_schedule_ms: Option<Vec<u64>>,
    /// How long a webhook endpoint may fail without a single success before it is disabled, in
    /// milliseconds. [default: 432000000 (5 days); 60000 (1 minute) with
    /// WEBHOOK_RETRY_INTERVALS_TEST]
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_MS", global = true)]
    pub webhook_disable_after_ms: Option<u64>,
    /// How long a worker holds a claimed job before another worker may take it over, in
    /// milliseconds; must exceed the webhook timeout.
    #[arg(long, env = "JOB_LEASE_MS", default_value_t = 60_000, global = true)]
    pub job_lease_ms: u64,
    /// Per-attempt webhook timeout, in milliseconds.
    #[arg(
        long,
        env = "WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub webhook_timeout_ms: u64,
    /// On SIGTERM or SIGINT, how long requests in progress and running jobs may take to
    /// finish, in milliseconds; then connections still busy are cut and unfinished jobs are
    /// handed back to the queue. A second signal ends the wait at once.
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub shutdown_grace_ms: u64,
    /// How many days recorded events stay readable through the events API
    /// (`GET /api/v1/events`) before the worker prunes them.
    #[arg(
        long,
        env = "EVENT_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub event_retention_days: u64,
    /// What decides payment outcomes. Only `simulated` (the reference's simulated bank) exists;
    /// production must choose it explicitly, so nobody takes it for a real acquirer.
    #[arg(long, env = "PROCESSOR", global = true)]
    pub processor: Option<String>,
    /// Where `serve` and `worker` answer Prometheus scrapes (`GET /metrics`); empty turns metrics
    /// off. Unauthenticated, so keep it off the public interface. [default: 127.0.0.1:9100]
    #[arg(long, env = "METRICS_ADDR", global = true)]
    pub metrics_addr: Option<String>,
    /// Where workers take jobs from: unset or empty for the database's own queue, or
    /// `redis://host:port/db` for a Redis Streams queue fed from the database (see
    /// docs/operations.md, "Choosing a queue").
    #[arg(long, env = "QUEUE_URL", hide_env_values = true, global = true)]
    pub queue_url: Option<String>,
    /// Prefix of the Redis queue's keys, so gateways sharing a Redis keep apart.
    #[arg(
        long,
        env = "QUEUE_KEY_PREFIX",
        default_value = "gateway",
        global = true
    )]
    pub queue_key_prefix: String,
}

/// Settings after validation.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// See [`Settings::database_pool_size`].
    pub database_pool_size: u32,
    pub production: bool,
    pub environment: Environment,
    pub pepper: String,
    pub simulation: SimulationConfig,
    pub retry_schedule: RetrySchedule,
    pub webhook_timeout: Duration,
    /// See [`Settings::webhook_disable_after_ms`].
    pub endpoint_disable_after: Duration,
    pub job_lease: Duration,
    /// Where to serve `/metrics`, if anywhere.
    pub metrics: Option<MetricsListen>,
    /// See [`Settings::shutdown_grace_ms`].
    pub shutdown_grace: Duration,
    /// See [`Settings::event_retention_days`].
    pub event_retention: Duration,
    /// See [`Settings::queue_url`].
    pub queue: QueueChoice,
}

/// Which queue workers take jobs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueChoice {
    /// The database's own jobs table.
    Database,
    /// A Redis Streams queue at `url`, its keys under `prefix`.
    Redis { url: String, prefix: String },
}

/// The metrics listener's address, and whether the operator chose it (then failing to bind it
/// stops the process; the default only logs a warning, so a second process on the same host
/// still starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen {
    pub addr: SocketAddr,
    pub explicit: bool,
}

/// The metrics listener when METRICS_ADDR is not set.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9100";

impl Settings {
    /// Checks the settings and resolves defaults that depend on the environment.
    pub fn validate(self) -> anyhow::Result<Config> {
        let Some(environment) = Environment::parse(&self.environment) else {
            bail!(
                "GATEWAY_ENV must be development or production, not {:?}",
                self.environment
            );
        };
        let production = environment == Environment::Production;
        if production && self.test_mode {
            bail!("TEST_MODE is a development setting: production refuses to start with it");
        }
        match (self.processor.as_deref(), production) {
            (Some("simulated"), _) | (None, false) => {}
            (None, true) => bail!(
                "production needs PROCESSOR: only PROCESSOR=simulated (the simulated bank, not a \
                 real acquirer) exists in this build"
            ),
            (Some(other), _) => bail!("PROCESSOR must be simulated, not {other:?}"),
        }
        let pepper = match (self.api_secret_salt, production) {
            (Some(salt), _) if salt.len() >= 16 => salt,
            (Some(_), _) => bail!("API_SECRET_SALT must be at least 16 characters"),
            (None, true) => bail!("API_SECRET_SALT is required in production"),
            (None, false) => DEVELOPMENT_PEPPER.to_owned(),
        };
        if self.test_processing_delay > 600_000 {
            bail!("TEST_PROCESSING_DELAY must be at most 600000 ms");
        }
        if !(100..=120_000).contains(&self.webhook_timeout_ms) {
            bail!("WEBHOOK_TIMEOUT_MS must be between 100 and 120000");
        }
        if self.job_lease_ms < self.webhook_timeout_ms + 1_000 {
            bail!("JOB_LEASE_MS must exceed WEBHOOK_TIMEOUT_MS by at least 1000");
        }
        if !(100..=600_000).contains(&self.shutdown_grace_ms) {
            bail!("SHUTDOWN_GRACE_MS must be between 100 and 600000 (10 minutes)");
        }
        if !(1..=3650).contains(&self.event_retention_days) {
            bail!("EVENT_RETENTION_DAYS must be between 1 and 3650");
        }
        if !(2..=1_000).contains(&self.database_pool_size) {
            bail!("DATABASE_POOL_SIZE must be between 2 and 1000");
        }
        Ok(Config {
            database_url: self.database_url,
            database_pool_size: self.database_pool_size,
            production,
            environment,
            pepper,
            simulation: SimulationConfig {
                test_mode: self.test_mode,
                test_delay: Duration::from_millis(self.test_processing_delay),
                test_success: self.test_payment_success,
                // Test instruments are ordinary instruments in production.
                test_instruments: !production,
            },
            retry_schedule: match self.webhook_retry_schedule_ms {
                Some(waits) if waits.len() > 20 || waits.iter().any(|w| *w > 86_400_000) => {
                    bail!("WEBHOOK_RETRY_SCHEDULE_MS takes at most 20 waits of at most a day each")
                }
                Some(waits) => {
                    RetrySchedule::new(waits.into_iter().map(Duration::from_millis).collect())
                }
                None if self.webhook_retry_intervals_test => RetrySchedule::test(),
                None => RetrySchedule::production(),
            },
            webhook_timeout: Duration::from_millis(self.webhook_timeout_ms),
            endpoint_disable_after: match self.webhook_disable_after_ms {
                Some(ms) if !(1_000..=90 * 86_400_000).contains(&ms) => {
                    bail!("WEBHOOK_DISABLE_AFTER_MS must be between 1000 and 7776000000 (90 days)")
                }
                Some(ms) => Duration::from_millis(ms),
                None if self.webhook_retry_intervals_test => TEST_DISABLE_AFTER,
                None => DEFAULT_DISABLE_AFTER,
            },
            job_lease: Duration::from_millis(self.job_lease_ms),
            metrics: metrics_listen(self.metrics_addr.as_deref())?,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            event_retention: Duration::from_secs(self.event_retention_days * 24 * 3600),
            queue: queue_choice(self.queue_url.as_deref(), &self.queue_key_prefix)?,
        })
    }
}

/// Parses QUEUE_URL: unset or empty means the database queue.
fn queue_choice(url: Option<&str>, prefix: &str) -> anyhow::Result<QueueChoice> {
    let url = url.map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Ok(QueueChoice::Database);
    }
    if url.starts_with("rediss://") {
        bail!(
            "QUEUE_URL: TLS to Redis (rediss://) is not built in; use a Redis on a private network \
             or loopback (a TLS tunnel such as stunnel works)"
        );
    }
    if !url.starts_with("redis://") {
        bail!(
            "QUEUE_URL must be a redis:// URL (or unset for the database queue), not {:?}",
            redact_password(url)
        );
    }
    if prefix.is_empty()
        || prefix.len() > 64
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        bail!("QUEUE_KEY_PREFIX must be 1 to 64 letters, digits or any of - _ . :");
    }
    Ok(QueueChoice::Redis {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// Parses METRICS_ADDR: unset means the default, empty means off.
fn metrics_listen(setting: Option<&str>) -> anyhow::Result<Option<MetricsListen>> {
    let (text, explicit) = match setting.map(str::trim) {
        None => (DEFAULT_METRICS_ADDR, false),
        Some("") => return Ok(None),
        Some(text) => (text, true),
    };
    match text.parse() {
        Ok(addr) => Ok(Some(MetricsListen { addr, explicit })),
        Err(_) => bail!(
            "METRICS_ADDR must be an address and port such as 127.0.0.1:9100 (or empty to turn \
             metrics off), not {text:?}"
        ),
    }
}

impl Config {
    /// `sqlite` or `postgres`, from the database URL.
    pub fn backend_name(&self) -> &'static str {
        if self.database_url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// `database` or `redis`: the queue workers take jobs from.
    pub fn queue_name(&self) -> &'static str {
        match self.queue {
            QueueChoice::Database => "database",
            QueueChoice::Redis { .. } => "redis",
        }
    }

    /// The database URL with any password masked, for logs and messages.
    pub fn database_for_display(&self) -> String {
        redact_password(&self.database_url)
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`; other URLs unchanged.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{DEFAULT_DISABLE_AFTER, Settings, TEST_DISABLE_AFTER, redact_password};

    /// The settings as the command line gives them (the environment's gateway variables aside).
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn validate(args: &[&str]) -> anyhow::Result<super::Config> {
        let mut argv = vec!["gateway"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)?.settings.validate()
    }

    const PRODUCTION: [&str; 6] = [
        "--env",
        "production",
        "--api-secret-salt",
        "a-production-salt-0123456789",
        "--processor",
        "simulated",
    ];

    #[test]
    fn test_instruments_decide_outcomes_only_in_development() {
        let development = validate(&[]).unwrap();
        assert!(development.simulation.test_instruments);
        let production = validate(&PRODUCTION).unwrap();
        assert!(!production.simulation.test_instruments);
    }

    #[test]
    fn production_refuses_test_mode_and_an_unnamed_processor() {
        let refused = |args: &[&str]| format!("{:#}", validate(args).unwrap_err());
        let mut test_mode = PRODUCTION.to_vec();
        test_mode.push("--test-mode");
        assert!(refused(&test_mode).contains("TEST_MODE"));
        assert!(refused(&PRODUCTION[..4]).contains("production needs PROCESSOR"));
        let mut unknown = PRODUCTION[..4].to_vec();
        unknown.extend(["--processor", "acme"]);
        assert!(refused(&unknown).contains("PROCESSOR must be simulated"));
        let development = validate(&["--test-mode"]).unwrap();
        assert!(
            development.simulation.test_mode,
            "development takes TEST_MODE"
        );
    }

    #[test]
    fn the_queue_is_the_database_unless_a_redis_url_is_given() {
        assert_eq!(validate(&[]).unwrap().queue, super::QueueChoice::Database);
        assert_eq!(
            validate(&["--queue-url", ""]).unwrap().queue,
            super::QueueChoice::Database
        );
        assert_eq!(
            validate(&[
                "--queue-url",
                "redis://127.0.0.1:6379/2",
                "--queue-key-prefix",
                "shop-a"
            ])
            .unwrap()
            .queue,
            super::QueueChoice::Redis {
                url: "redis://127.0.0.1:6379/2".into(),
                prefix: "shop-a".into()
            }
        );
        let refused = |args: &[&str]| format!("{:#}", validate(args).unwrap_err());
        assert!(refused(&["--queue-url", "rediss://cache:6380"]).contains("TLS"));
        let wrong = refused(&["--queue-url", "amqp://u:hunter2@mq/"]);
        assert!(
            wrong.contains("must be a redis://") && !wrong.contains("hunter2"),
            "{wrong}"
        );
        assert!(
            refused(&["--queue-url", "redis://r/0", "--queue-key-prefix", "a b"])
                .contains("QUEUE_KEY_PREFIX")
        );
    }

    #[test]
    fn the_postgres_pool_holds_sixteen_connections_unless_configured_between_two_and_a_thousand() {
        assert_eq!(validate(&[]).unwrap().database_pool_size, 16);
        assert_eq!(
            validate(&["--database-pool-size", "64"])
                .unwrap()
                .database_pool_size,
            64
        );
        for bad in ["0", "1", "1001"] {
            let error = format!(
                "{:#}",
                validate(&["--database-pool-size", bad]).unwrap_err()
            );
            assert!(
                error.contains("DATABASE_POOL_SIZE must be between 2 and 1000"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn events_are_kept_thirty_days_unless_configured_between_one_day_and_ten_years() {
        let day = std::time::Duration::from_secs(24 * 3600);
        assert_eq!(validate(&[]).unwrap().event_retention, 30 * day);
        assert_eq!(
            validate(&["--event-retention-days", "7"])
                .unwrap()
                .event_retention,
            7 * day
        );
        for bad in ["0", "3651"] {
            let error = format!(
                "{:#}",
                validate(&["--event-retention-days", bad]).unwrap_err()
            );
            assert!(
                error.contains("EVENT_RETENTION_DAYS must be between"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_shutdown_grace_period_defaults_to_ten_seconds_and_refuses_zero_and_absurd_values() {
        assert_eq!(
            validate(&[]).unwrap().shutdown_grace,
            std::time::Duration::from_secs(10)
        );
        assert_eq!(
            validate(&["--shutdown-grace-ms", "2500"])
                .unwrap()
                .shutdown_grace,
            std::time::Duration::from_millis(2500)
        );
        for bad in ["0", "99", "600001"] {
            let error = format!("{:#}", validate(&["--shutdown-grace-ms", bad]).unwrap_err());
            assert!(
                error.contains("SHUTDOWN_GRACE_MS must be between"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn endpoints_are_disabled_after_five_days_of_failure_or_a_minute_with_test_intervals() {
        let after = |args: &[&str]| validate(args).unwrap().endpoint_disable_after;
        assert_eq!(after(&[]), DEFAULT_DISABLE_AFTER);
        assert_eq!(
            after(&["--webhook-retry-intervals-test"]),
            TEST_DISABLE_AFTER
        );
        assert_eq!(
            after(&["--webhook-disable-after-ms", "5000"]),
            std::time::Duration::from_secs(5)
        );
        for bad in ["999", "7776000001"] {
            let error = format!(
                "{:#}",
                validate(&["--webhook-disable-after-ms", bad]).unwrap_err()
            );
            assert!(
                error.contains("WEBHOOK_DISABLE_AFTER_MS must be between"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn passwords_in_database_urls_are_masked() {
        assert_eq!(
            redact_password("postgres://gw:s3cret@db:5432/gateway"),
            "postgres://gw:***@db:5432/gateway"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact_password("sqlite://gateway.db"),
            "sqlite://gateway.db"
        );
    }
}

/// Where `serve` listens, and its limits on connections and clients.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to bind; 127.0.0.1 keeps the gateway private to this machine.
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Connections open at once; further ones wait to be accepted. Lowered to half the
    /// process's file-descriptor limit if that is smaller.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Time a client has to send a complete request head, in milliseconds, counted from when
    /// the connection opens or the previous response was sent.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// A connection with no request running and no byte moving for this long, in
    /// milliseconds, is closed.
    #[arg(long, env = "IDLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub idle_timeout_ms: u64,
    /// Time a request body has to arrive after its headers, in milliseconds (then 408).
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_read_timeout_ms: u64,
    /// Proxies whose forwarding header gives the client's address: comma-separated CIDR
    /// blocks or addresses (e.g. `10.0.0.0/8,127.0.0.1`). Empty: the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// The header the trusted proxies write: `x-forwarded-for` or `forwarded` (RFC 7239).
    #[arg(long, env = "FORWARDED_HEADER", default_value = "x-forwarded-for")]
    pub forwarded_header: String,
}

/// [`ListenArgs`] after validation.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Where to bind.
    pub addr: std::net::SocketAddr,
    /// Connection limits, before any lowering to the file-descriptor limit.
    pub limits: gateway_http::server::ServerLimits,
    /// See [`ListenArgs::body_read_timeout_ms`].
    pub body_read_timeout: Duration,
    /// See [`ListenArgs::trusted_proxies`].
    pub trusted_proxies: gateway_http::client::TrustedProxies,
}

impl ListenArgs {
    /// Checks the limits and parses the proxy list.
    pub fn validate(&self) -> anyhow::Result<Listen> {
        if !(1..=1_000_000).contains(&self.max_connections) {
            bail!("MAX_CONNECTIONS must be between 1 and 1000000");
        }
        let millis = |name: &str, value: u64| {
            if (100..=600_000).contains(&value) {
                Ok(Duration::from_millis(value))
            } else {
                Err(anyhow::anyhow!("{name} must be between 100 and 600000"))
            }
        };
        let nets = gateway_http::client::TrustedProxies::parse_list(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("TRUSTED_PROXIES: {e}"))?;
        let header = self
            .forwarded_header
            .parse()
            .map_err(|e| anyhow::anyhow!("FORWARDED_HEADER {e}"))?;
        Ok(Listen {
            addr: std::net::SocketAddr::new(self.bind, self.port),
            limits: gateway_http::server::ServerLimits {
                max_connections: self.max_connections,
                header_read_timeout: millis("HEADER_READ_TIMEOUT_MS", self.header_read_timeout_ms)?,
                idle_timeout: millis("IDLE_TIMEOUT_MS", self.idle_timeout_ms)?,
                // Set from the global SHUTDOWN_GRACE_MS by `serve`.
                shutdown_grace: gateway_http::server::ServerLimits::default().shutdown_grace,
            },
            body_read_timeout: millis("BODY_READ_TIMEOUT_MS", self.body_read_timeout_ms)?,
            trusted_proxies: gateway_http::client::TrustedProxies::new(nets, header),
        })
    }
}
