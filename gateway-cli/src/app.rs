//! Wiring: the store, the gateway service and the worker, built from a [`Config`].

use std::sync::Arc;

use anyhow::{Context, bail};
use gateway_core::merchant::{SecretHasher, test_merchant};
use gateway_core::transport::ReqwestTransport;
use gateway_core::{
    Clock, Environment, Gateway, GatewayBuilder, JobQueue, Processor, SimulatedBank, Store,
    SystemClock, Worker, WorkerConfig,
};

use crate::config::{Config, QueueChoice, redact_password};

/// Why a command opens the database: only `serve`, `worker` and `migrate` may seed or check
/// the test merchant, and only `migrate` creates a missing SQLite file in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `serve` or `worker`: a running gateway.
    Run,
    /// `migrate`: the operator's explicit set-up.
    Migrate,
    /// Any other command (`merchants …`): touches nothing test-only.
    Administer,
}

/// Opens the database, applies migrations and checks it belongs to the configured environment
/// (recording it on first use). In development, `serve` and `migrate` seed the test merchant;
/// a production gateway refuses to run while the public test credentials would work.
pub async fn open_store(config: &Config, purpose: Purpose) -> anyhow::Result<Arc<dyn Store>> {
    let options = gateway_store::OpenOptions {
        create_if_missing: !config.production || purpose == Purpose::Migrate,
        postgres_connections: config.database_pool_size,
    };
    let store = gateway_store::open_with(&config.database_url, options)
        .await
        .with_context(|| format!("opening {}", config.database_for_display()))?;
    let wanted = config.environment;
    match store
        .claim_environment(wanted, purpose == Purpose::Migrate)
        .await
        .context("reading the database's environment")?
    {
        Some(recorded) if recorded == wanted => {}
        Some(recorded) => bail!(
            "{} is a {} database; it cannot be used with GATEWAY_ENV={}",
            config.database_for_display(),
            recorded.as_str(),
            wanted.as_str()
        ),
        None => bail!(
            "{} holds merchants but has no recorded environment (it predates environments); \
             record the one it belongs to with `GATEWAY_ENV=production gateway migrate` (or \
             `GATEWAY_ENV=development gateway migrate` for a development database)",
            config.database_for_display()
        ),
    }
    let hasher = SecretHasher::new(config.pepper.clone());
    match (wanted, purpose) {
        (Environment::Development, Purpose::Run | Purpose::Migrate) => store
            .upsert_merchant(&hasher.test_merchant(SystemClock.now()))
            .await
            .context("seeding the test merchant")?,
        (Environment::Production, Purpose::Run) => {
            refuse_public_test_login(&*store, &hasher).await?
        }
        _ => {}
    }
    Ok(store)
}

/// Fails if the reference's public test credentials would authenticate against this database.
async fn refuse_public_test_login(store: &dyn Store, hasher: &SecretHasher) -> anyhow::Result<()> {
    let credential = store
        .credential(test_merchant::API_KEY)
        .await
        .context("checking for the public test merchant")?;
    if let Some(credential) = credential
        && hasher.verify(test_merchant::API_SECRET, &credential.api_secret_hash)
    {
        bail!(
            "this production database has a merchant with the public test credentials ({}); \
             anyone could use them. Rotate its secret first: \
             `GATEWAY_ENV=production gateway merchants rotate {}`",
            test_merchant::API_KEY,
            credential.merchant_id
        );
    }
    Ok(())
}

/// The queue workers take jobs from, as configured: the store's own, or Redis Streams fed
/// from the store's job rows.
pub async fn open_queue(
    config: &Config,
    store: &Arc<dyn Store>,
) -> anyhow::Result<Arc<dyn JobQueue>> {
    match &config.queue {
        QueueChoice::Database => Ok(store.clone().job_queue()),
        QueueChoice::Redis { url, prefix } => {
            let outbox = store
                .clone()
                .job_outbox()
                .context("this store cannot feed a Redis queue")?;
            let queue = gateway_store::RedisQueue::connect(
                url,
                outbox,
                gateway_store::RedisQueueConfig {
                    prefix: prefix.clone(),
                    ..gateway_store::RedisQueueConfig::default()
                },
            )
            .await
            .with_context(|| {
                format!("connecting to the Redis queue at {}", redact_password(url))
            })?;
            Ok(Arc::new(queue))
        }
    }
}

/// The running parts of a gateway process.
pub struct App {
    pub gateway: Arc<dyn Gateway>,
    pub worker: Arc<Worker>,
    /// What decides payment outcomes, for the start-up log line.
    pub gateway_processor: &'static str,
}

/// Builds the gateway and a worker sharing one store, bank and wake-up signal.
pub fn build(
    config: &Config,
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
) -> anyhow::Result<App> {
    let bank = Arc::new(SimulatedBank::new(config.simulation.clone()));
    let transport = ReqwestTransport::new(!config.production)
        .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
    let built = GatewayBuilder::new(store)
        .pepper(config.pepper.clone())
        .processor(bank.clone())
        .transport(Arc::new(transport))
        .queue(queue)
        .build()?;
    let worker_config = WorkerConfig {
        retry_schedule: config.retry_schedule.clone(),
        delivery_timeout: config.webhook_timeout,
        endpoint_disable_after: config.endpoint_disable_after,
        lease: config.job_lease,
        shutdown_grace: config.shutdown_grace,
        event_retention: config.event_retention,
        ..WorkerConfig::default()
    };
    Ok(App {
        gateway: built.gateway(),
        worker: Arc::new(built.worker(worker_config)),
        gateway_processor: bank.name(),
    })
}
