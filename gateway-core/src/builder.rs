//! [`GatewayBuilder`]: wiring a gateway and its workers in one expression.
//!
//! ```rust,no_run
//! # async fn example(store: std::sync::Arc<dyn gateway_core::Store>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use gateway_core::{GatewayBuilder, WorkerConfig};
//!
//! let built = GatewayBuilder::new(store).pepper("a key from your configuration").build()?;
//! let worker = Arc::new(built.worker(WorkerConfig::default()));
//! tokio::spawn(worker.run_until(async { /* your shutdown signal */ }));
//! let gateway = built.gateway(); // an Arc<dyn Gateway> to call
//! # Ok(()) }
//! ```
//!
//! Everything but the store and the pepper has a default: the store's own job queue, the
//! reference's simulated bank, the HMAC signer, the system clock and, with the `http-client`
//! feature, the reqwest webhook transport refusing private addresses. Workers run the built-in
//! job handlers; [`BuiltGateway::worker_with`] adds an embedding service's own. The gateway and every worker it makes share one
//! wake-up signal, so a new job starts at once instead of at the next poll.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::gateway::Gateway;
use crate::handler::Handlers;
use crate::merchant::SecretHasher;
use crate::processor::{Processor, SimulatedBank, SimulationConfig};
use crate::queue::JobQueue;
use crate::runner::{Worker, WorkerConfig};
use crate::service::GatewayService;
use crate::signer::{HmacSigner, WebhookSigner};
use crate::store::Store;
use crate::transport::WebhookTransport;

/// The shortest pepper accepted: it is the key of every stored API secret hash.
pub const MIN_PEPPER_LEN: usize = 16;

/// Why a gateway could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No pepper, or one too short to be a key.
    #[error(
        "a pepper of at least {MIN_PEPPER_LEN} characters is required: it keys the stored hashes of API secrets"
    )]
    Pepper,
    /// Nothing to send webhooks with.
    #[error(
        "no webhook transport: turn on gateway-core's `http-client` feature or give one with `.transport(..)`"
    )]
    NoTransport,
    /// The default transport could not be built.
    #[error("building the webhook transport: {0}")]
    Transport(#[from] crate::transport::TransportError),
}

/// Collects a gateway's parts; see the module documentation.
#[must_use]
pub struct GatewayBuilder {
    store: Arc<dyn Store>,
    queue: Option<Arc<dyn JobQueue>>,
    pepper: Option<String>,
    processor: Option<Arc<dyn Processor>>,
    signer: Arc<dyn WebhookSigner>,
    transport: Option<Arc<dyn WebhookTransport>>,
    clock: Arc<dyn Clock>,
}

impl GatewayBuilder {
    /// A gateway over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            queue: None,
            pepper: None,
            processor: None,
            signer: Arc::new(HmacSigner),
            transport: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The key API secrets are hashed with (required, at least [`MIN_PEPPER_LEN`] characters).
    /// Changing it later invalidates every stored secret.
    pub fn pepper(mut self, pepper: impl Into<String>) -> Self {
        self.pepper = Some(pepper.into());
        self
    }

    /// Where workers take jobs from (default: the store's own, [`Store::job_queue`]).
    pub fn queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// What decides payment and refund outcomes (default: the reference's simulated bank).
    pub fn processor(mut self, processor: Arc<dyn Processor>) -> Self {
        self.processor = Some(processor);
        self
    }

    /// What signs webhooks and checkout results (default: [`HmacSigner`]).
    pub fn signer(mut self, signer: Arc<dyn WebhookSigner>) -> Self {
        self.signer = signer;
        self
    }

    /// What sends webhooks (default with the `http-client` feature: reqwest, private addresses
    /// refused).
    pub fn transport(mut self, transport: Arc<dyn WebhookTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The clock of the gateway and its workers (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The gateway, ready to call and to make workers.
    pub fn build(self) -> Result<BuiltGateway, BuildError> {
        let pepper = self
            .pepper
            .filter(|p| p.len() >= MIN_PEPPER_LEN)
            .ok_or(BuildError::Pepper)?;
        let transport = match self.transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        let processor = self
            .processor
            .unwrap_or_else(|| Arc::new(SimulatedBank::new(SimulationConfig::default())));
        let wake = Arc::new(Notify::new());
        let queue = self.queue.unwrap_or_else(|| self.store.clone().job_queue());
        let service = GatewayService::new(
            self.store.clone(),
            processor.clone(),
            SecretHasher::new(pepper),
        )
        .with_clock(self.clock.clone())
        .with_signer(self.signer.clone())
        .with_job_notify(wake.clone())
        .with_queue(queue.clone());
        Ok(BuiltGateway {
            gateway: Arc::new(service),
            store: self.store,
            queue,
            processor,
            signer: self.signer,
            transport,
            clock: self.clock,
            wake,
        })
    }
}

#[cfg(feature = "http-client")]
fn default_transport() -> Result<Arc<dyn WebhookTransport>, BuildError> {
    Ok(Arc::new(crate::transport::ReqwestTransport::new(false)?))
}

#[cfg(not(feature = "http-client"))]
fn default_transport() -> Result<Arc<dyn WebhookTransport>, BuildError> {
    Err(BuildError::NoTransport)
}

/// A built gateway: the [`Gateway`] to call, and workers that settle what it enqueues.
#[derive(Clone)]
pub struct BuiltGateway {
    gateway: Arc<GatewayService>,
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
    processor: Arc<dyn Processor>,
    signer: Arc<dyn WebhookSigner>,
    transport: Arc<dyn WebhookTransport>,
    clock: Arc<dyn Clock>,
    /// Signalled by the gateway when it enqueues jobs; every worker made here listens to it.
    wake: Arc<Notify>,
}

impl BuiltGateway {
    /// The gateway to call (share it; it is cheap to clone).
    pub fn gateway(&self) -> Arc<dyn Gateway> {
        self.gateway.clone()
    }

    /// The queue its workers take jobs from.
    pub fn queue(&self) -> Arc<dyn JobQueue> {
        self.queue.clone()
    }

    /// A worker over the same store, queue, processor, signer, transport and clock, running
    /// the built-in job handlers and woken by the gateway's new jobs. Run it with
    /// [`Worker::run_until`]; several may run at once (give each its own [`WorkerConfig::id`]).
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        self.worker_with(config, Handlers::new())
    }

    /// [`worker`](Self::worker) that also runs `handlers` (an embedding service's own job
    /// kinds; a handler registered under a built-in kind replaces the built-in one).
    pub fn worker_with(&self, config: WorkerConfig, handlers: Handlers) -> Worker {
        let builtin = Handlers::builtin(
            self.processor.clone(),
            self.signer.clone(),
            self.transport.clone(),
            &config,
        );
        Worker::new(
            self.store.clone(),
            self.queue.clone(),
            builtin.merge(handlers),
            config,
            self.wake.clone(),
        )
        .with_clock(self.clock.clone())
    }
}
