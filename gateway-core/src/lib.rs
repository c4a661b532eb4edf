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
//!   implementation, [`GatewayService`]), [`idempotency`]; [`builder`] wires it with workers.
//! - Background work: [`jobs`] (queue vocabulary), [`queue`] ([`JobQueue`], the consumer side),
//!   [`handler`] ([`JobHandler`]s by kind), [`runner`] ([`Worker`]),
//!   [`request_id`] (which API call a job belongs to),
//!   [`processor`] (the simulated bank), [`signer`] and [`transport`] (webhook delivery).
//! - Seams: [`store`] ([`Store`]), [`queue`] ([`JobQueue`]), [`clock`] ([`Clock`]),
//!   [`Processor`], [`WebhookSigner`],
//!   [`WebhookTransport`].
//! - [`error`]: the error policy; [`metrics`](mod@metrics): what is counted and timed.
//!
//! ## Quick start
//!
//! Embedding the gateway means implementing nothing: bring a [`Store`]
//! (`gateway_store::open("sqlite://gateway.db")` returns one) and a pepper, and
//! [`GatewayBuilder`] wires the rest: the built-in bank ([`SimulatedBank`]), signer
//! ([`HmacSigner`]) and, with the `http-client` feature (off by default), webhook transport
//! (`transport::ReqwestTransport`); pass your own to replace any of them. Call the [`Gateway`] it
//! builds; a [`Worker`] made by the same builder settles what it enqueues and wakes as soon as
//! it does. (This crate ships no store, so the wiring below is compiled, not run, by its
//! doctests; the `embed_core` example runs the same wiring on SQLite.)
//!
//! ```rust
//! use std::future::Future;
//! use std::sync::Arc;
//!
//! use gateway_core::gateway::{CreateOrder, CreatePayment};
//! use gateway_core::payment::Payment;
//! use gateway_core::{GatewayBuilder, Store, WebhookTransport, WorkerConfig};
//!
//! /// Wires the gateway over `store`, runs its worker until `shutdown`, and takes a UPI payment
//! /// (pending until the worker settles it) for the merchant with these credentials.
//! async fn embed(
//!     store: Arc<dyn Store>,
//!     transport: Arc<dyn WebhookTransport>,
//!     shutdown: impl Future<Output = ()> + Send + 'static,
//!     (api_key, api_secret): (&str, &str),
//! ) -> Result<Payment, Box<dyn std::error::Error>> {
//!     let built = GatewayBuilder::new(store)
//!         .pepper("a pepper from your configuration")
//!         .transport(transport)
//!         .build()?;
//!     tokio::spawn(Arc::new(built.worker(WorkerConfig::default())).run_until(shutdown));
//!
//!     let gateway = built.gateway();
//!     let merchant = gateway.authenticate(api_key, api_secret).await?;
//!     let order = gateway
//!         .create_order(
//!             merchant,
//!             CreateOrder {
//!                 amount: 50_000,
//!                 currency: None,
//!                 receipt: None,
//!                 notes: None,
//!             },
//!         )
//!         .await?;
//!     // Ids are typed: `order.id` is an `OrderId`, and only an `OrderId` fits here.
//!     let payment = gateway
//!         .create_payment(merchant, CreatePayment::upi(order.id, "success@paytm"))
//!         .await?;
//!     Ok(payment)
//! }
//! ```
//!
//! The rest needs no store. Webhooks carry two signatures over the exact body bytes; a
//! receiver checks either with the verifiers exported here. Money is bounded integer minor
//! units, and ids are typed:
//!
//! ```rust
//! use gateway_core::ids::{OrderId, PaymentId};
//! use gateway_core::merchant::generate_webhook_secret;
//! use gateway_core::money::{Amount, Currency};
//! use gateway_core::signer::VerifyError;
//! use gateway_core::{HmacSigner, verify_standard_signature, verify_webhook_signature};
//!
//! // What a worker sends…
//! let secret = generate_webhook_secret(); // `whsec_` + base64 of 32 random bytes
//! let body = br#"{"event":"payment.success","timestamp":1705314600,"data":{}}"#;
//! let headers = HmacSigner::headers(&secret, "msg_1", 1_705_314_600, body);
//!
//! // …and what a receiver checks: `X-Webhook-Signature`, then the Standard Webhooks headers
//! // (at most 5 minutes old).
//! assert_eq!(
//!     verify_webhook_signature(&secret, body, &headers.webhook_signature),
//!     Ok(())
//! );
//! let now = 1_705_314_630;
//! let standard = |body: &[u8], now| {
//!     verify_standard_signature(
//!         &secret,
//!         &headers.id,
//!         headers.timestamp,
//!         body,
//!         &headers.standard_signature,
//!         now,
//!         300,
//!     )
//! };
//! assert_eq!(standard(body, now), Ok(()));
//! assert_eq!(
//!     standard(b"{\"event\":\"payment.failed\"}", now),
//!     Err(VerifyError::Mismatch)
//! );
//! assert_eq!(standard(body, now + 3600), Err(VerifyError::Stale));
//!
//! // ₹500.00 is 50,000 paise; zero, negative and absurd amounts do not exist.
//! let amount = Amount::new(50_000).expect("a valid amount");
//! assert_eq!(amount.minor(), 50_000);
//! assert!(Amount::new(0).is_err() && Amount::new(Amount::MAX.minor() + 1).is_err());
//! assert_eq!(Currency::parse("INR"), Some(Currency::INR));
//! assert_eq!(Currency::parse("XYZ"), None);
//!
//! // `pay_` + 16 alphanumerics; a payment id is never mistaken for an order id.
//! let id = PaymentId::generate();
//! assert_eq!(PaymentId::parse(id.as_str()), Some(id.clone()));
//! assert_eq!(OrderId::parse(id.as_str()), None);
//! ```
//!
//! Runnable programs — a plain tokio service, a merchant's axum app mounting `gateway-http`
//! under `/payments`, and a webhook receiver — live in the workspace's `examples/` crate.

#![deny(missing_docs)]

pub mod address;
pub mod builder;
pub mod clock;
pub mod crypto;
mod deliver;
pub mod endpoint;
pub mod endpoint_health;
mod endpoint_slots;
pub mod environment;
pub mod error;
pub mod event;
pub mod gateway;
pub mod handler;
pub mod idempotency;
pub mod ids;
pub mod instrument;
pub mod jobs;
pub mod merchant;
pub mod metrics;
pub mod money;
#[cfg(feature = "openapi")]
mod openapi;
pub mod order;
pub mod payment;
pub mod processor;
pub mod queue;
pub mod refund;
pub mod request_id;
pub mod resend;
pub mod runner;
pub mod service;
mod settle;
pub mod signer;
pub mod stats;
pub mod store;
pub mod transport;
pub mod webhook;

pub use builder::{BuildError, BuiltGateway, GatewayBuilder};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use environment::Environment;
pub use error::{ErrorCode, GatewayError, Refusal};
pub use gateway::Gateway;
pub use handler::{Handlers, JobContext, JobError, JobHandler};
pub use idempotency::{IdempotencyKey, Idempotent};
pub use processor::{Processor, ProcessorError, SimulatedBank, SimulationConfig};
pub use queue::{DispatchBacklog, JobOutbox, JobQueue, OutboxJob};
pub use runner::{Worker, WorkerConfig};
pub use service::GatewayService;
pub use signer::{
    CheckoutResult, HmacSigner, SignerError, WebhookSigner, verify_checkout_result,
    verify_standard_signature, verify_webhook_signature,
};
pub use store::{Store, StoreError};
pub use transport::WebhookTransport;
