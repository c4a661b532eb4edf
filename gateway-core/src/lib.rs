//! # gateway-core
//!
//! The storage-agnostic heart of the gateway: domain types, state machines, the [`Gateway`]
//! service, the [`Worker`] job runner and webhook signing. No SQL and no HTTP server live here;
//! a host brings a [`Store`] (see `gateway-store`) and, if it wants one, an HTTP front end
//! (see `gateway-http`).
//!
//! ## Layout
//! - Domain: [`ids`], [`money`], [`order`], [`payment`], [`instrument`], [`refund`],
//!   [`merchant`], [`event`], [`webhook`].
//! - Use cases: [`gateway`] (the [`Gateway`] trait and its requests), [`service`] (its one
//!   implementation, [`GatewayService`]), [`idempotency`].
//! - Background work: [`jobs`] (queue vocabulary), [`runner`] ([`Worker`], [`JobRunner`]),
//!   [`processor`] (the simulated bank), [`signer`] and [`transport`] (webhook delivery).
//! - Seams: [`store`] ([`Store`]), [`clock`] ([`Clock`]), [`Processor`], [`WebhookSigner`],
//!   [`WebhookTransport`].
//! - [`error`]: the error policy.

pub mod clock;
pub mod crypto;
pub mod error;
pub mod event;
pub mod gateway;
pub mod idempotency;
pub mod ids;
pub mod instrument;
pub mod jobs;
pub mod merchant;
pub mod money;
pub mod order;
pub mod payment;
pub mod processor;
pub mod refund;
pub mod runner;
pub mod service;
pub mod signer;
pub mod store;
pub mod transport;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{ErrorCode, GatewayError};
pub use gateway::Gateway;
pub use idempotency::{IdempotencyKey, Idempotent};
pub use processor::{Processor, SimulatedBank, SimulationConfig};
pub use runner::{JobRunner, Worker, WorkerConfig};
pub use service::GatewayService;
pub use signer::{HmacSigner, WebhookSigner, verify_standard_signature, verify_webhook_signature};
pub use store::{Store, StoreError};
pub use transport::WebhookTransport;
