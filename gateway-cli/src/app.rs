//! Wiring: the store, the gateway service and the worker, built from a [`Config`].

use std::sync::Arc;

use anyhow::Context;
use gateway_core::merchant::SecretHasher;
use gateway_core::transport::ReqwestTransport;
use gateway_core::{
    Clock, Gateway, GatewayService, HmacSigner, SimulatedBank, Store, SystemClock, Worker,
    WorkerConfig,
};
use tokio::sync::Notify;

use crate::config::Config;

/// Opens the database, applies migrations and, in development, seeds the test merchant.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = gateway_store::open(&config.database_url)
        .await
        .with_context(|| format!("opening {}", config.database_for_display()))?;
    if !config.production {
        let hasher = SecretHasher::new(config.pepper.clone());
        store
            .upsert_merchant(&hasher.test_merchant(SystemClock.now()))
            .await
            .context("seeding the test merchant")?;
    }
    Ok(store)
}

/// The running parts of a gateway process.
pub struct App {
    pub gateway: Arc<dyn Gateway>,
    pub worker: Arc<Worker>,
}

/// Builds the gateway and a worker sharing one store, bank and wake-up signal.
pub fn build(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<App> {
    let bank = Arc::new(SimulatedBank::new(config.simulation.clone()));
    let wake = Arc::new(Notify::new());
    let gateway = GatewayService::new(
        store.clone(),
        bank.clone(),
        SecretHasher::new(config.pepper.clone()),
    )
    .with_job_notify(wake.clone());
    let transport = ReqwestTransport::new(!config.production)
        .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
    let worker_config = WorkerConfig {
        retry_schedule: config.retry_schedule.clone(),
        delivery_timeout: config.webhook_timeout,
        lease: config.job_lease,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(
        store,
        bank,
        Arc::new(HmacSigner),
        Arc::new(transport),
        worker_config,
        wake,
    );
    Ok(App {
        gateway: Arc::new(gateway),
        worker: Arc::new(worker),
    })
}
