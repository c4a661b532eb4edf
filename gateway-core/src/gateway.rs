//! The [`Gateway`] trait: the API a host calls, one method per use case, and its requests.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::endpoint::{
    CreateEndpoint, EndpointWithSecret, RotatedEndpointSecret, UpdateEndpoint, WebhookEndpoint,
};
use crate::endpoint_health::{RecoverEndpoint, Recovering};
use crate::error::GatewayError;
use crate::event::RecordedEvent;
use crate::idempotency::{IdempotencyKey, Idempotent};
use crate::ids::{
    DeliveryId, EndpointId, EventId, MerchantId, OrderId, PaymentId, RefundId, TypedId,
};
use crate::instrument::CardInput;
use crate::jobs::JobStats;
use crate::money::{Amount, Currency};
use crate::order::{Order, OrderStatus};
use crate::payment::{Payment, PaymentMethod};
use crate::refund::Refund;
use crate::resend::{ResendEvent, Resent};
use crate::signer::CheckoutResult;
use crate::stats::{PaymentStats, StatsRange};
use crate::store::{DeliveryFilter, OrderFilter, Page, PageRequest, PaymentFilter};
use crate::webhook::{DeliveryDetail, DeliveryScheduled, WebhookConfig, WebhookDelivery};

/// `POST /api/v1/orders`.
///
/// ```
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
/// use gateway_core::gateway::CreateOrder;
/// use gateway_core::money::Currency;
///
/// // As a client posts it: only `amount` is required, and the currency defaults to INR.
/// let request: CreateOrder = serde_json::from_str(r#"{"amount": 50000, "receipt": "rcpt_42"}"#)?;
/// let order = gateway.create_order(merchant, request).await?;
/// assert_eq!((order.amount.minor(), order.currency), (50_000, Currency::INR));
/// assert_eq!(order.receipt.as_deref(), Some("rcpt_42"));
///
/// // Less than 100 minor units is refused, and nothing is stored.
/// let tiny = CreateOrder { amount: 99, currency: None, receipt: None, notes: None };
/// let refused = gateway.create_order(merchant, tiny).await.unwrap_err();
/// assert_eq!(refused.code(), Some(gateway_core::ErrorCode::BadRequest));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateOrder {
    /// Minor units, at least 100.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 100, maximum = 1_000_000_000_000_i64, examples(50_000))
    )]
    pub amount: i64,
    /// ISO 4217 code; `INR` if absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::money::Currency>))]
    pub currency: Option<String>,
    /// The merchant's reference.
    #[serde(default)]
    pub receipt: Option<String>,
    /// Free-form key/values.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub notes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A new payment: what [`Gateway::create_payment`] takes.
///
/// ```
/// use gateway_core::gateway::CreatePayment;
/// use gateway_core::ids::OrderId;
///
/// let order = OrderId::generate();
/// let payment = CreatePayment::upi(order, "success@paytm");
/// assert_eq!(payment.method, gateway_core::payment::PaymentMethod::Upi);
/// ```
#[derive(Debug, Clone)]
pub struct CreatePayment {
    /// The order to pay.
    pub order_id: OrderId,
    /// How the customer pays; the matching instrument field below is required.
    pub method: PaymentMethod,
    /// For UPI: `name@handle`.
    pub vpa: Option<String>,
    /// For cards.
    pub card: Option<CardInput>,
}

impl CreatePayment {
    /// A UPI payment of `order` from `vpa`.
    pub fn upi(order_id: OrderId, vpa: impl Into<String>) -> Self {
        Self {
            order_id,
            method: PaymentMethod::Upi,
            vpa: Some(vpa.into()),
            card: None,
        }
    }

    /// A card payment of `order`.
    pub fn card(order_id: OrderId, card: CardInput) -> Self {
        Self {
            order_id,
            method: PaymentMethod::Card,
            vpa: None,
            card: Some(card),
        }
    }
}

/// `POST /api/v1/payments`'s body as a client sends it; [`CreatePayment::try_from`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentBody {
    /// The order to pay.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::ids::OrderId))]
    pub order_id: String,
    /// `upi` or `card`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::payment::PaymentMethod))]
    pub method: String,
    /// For UPI: `name@handle`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(examples("success@paytm")))]
    pub vpa: Option<String>,
    /// For cards.
    #[serde(default)]
    pub card: Option<CardInput>,
}

impl TryFrom<PaymentBody> for CreatePayment {
    type Error = GatewayError;

    /// An unknown method is a 400; a malformed order id names no order, so it is a 404.
    fn try_from(body: PaymentBody) -> Result<Self, GatewayError> {
        let method = PaymentMethod::parse(&body.method)
            .ok_or_else(|| GatewayError::bad_request("method must be \"upi\" or \"card\""))?;
        Ok(Self {
            order_id: OrderId::find(&body.order_id)?,
            method,
            vpa: body.vpa,
            card: body.card,
        })
    }
}

/// `POST /api/v1/payments/{id}/capture`.
///
/// ```
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
///
/// # use gateway_core::gateway::{CreateOrder, CreatePayment};
/// # let order = CreateOrder { amount: 50_000, currency: None, receipt: None, notes: None };
/// # let order = gateway.create_order(merchant, order).await?;
/// # let payment = CreatePayment::upi(order.id, "success@paytm");
/// # let payment = gateway.create_payment(merchant, payment).await?;
/// # worker.clone().run_once().await;
///
/// use gateway_core::gateway::CapturePayment;
/// use gateway_core::{GatewayError, Refusal};
///
/// // `payment` succeeded for ₹500.00. A capture takes all of it or nothing.
/// let partial = CapturePayment { amount: Some(10_000) };
/// let refused = gateway.capture_payment(merchant, &payment.id, partial).await;
/// assert_eq!(refused, Err(GatewayError::Refused(Refusal::CaptureAmountMismatch)));
///
/// let captured = gateway.capture_payment(merchant, &payment.id, CapturePayment::default()).await?;
/// assert!(captured.captured);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapturePayment {
    /// Must equal the payment's amount if given.
    #[serde(default)]
    pub amount: Option<i64>,
}

/// `POST /api/v1/payments/{id}/refunds`.
///
/// ```
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
///
/// # use gateway_core::gateway::{CreateOrder, CreatePayment};
/// # let order = CreateOrder { amount: 50_000, currency: None, receipt: None, notes: None };
/// # let order = gateway.create_order(merchant, order).await?;
/// # let payment = CreatePayment::upi(order.id, "success@paytm");
/// # let payment = gateway.create_payment(merchant, payment).await?;
/// # worker.clone().run_once().await;
///
/// use gateway_core::gateway::CreateRefund;
/// use gateway_core::refund::RefundStatus;
/// use gateway_core::{GatewayError, Refusal};
///
/// // `payment` succeeded for ₹500.00; refund ₹300.00 of it.
/// let request = CreateRefund { amount: Some(30_000), reason: Some("damaged in transit".into()) };
/// let refund = gateway.create_refund(merchant, &payment.id, request).await?;
/// assert_eq!((refund.amount.minor(), refund.status), (30_000, RefundStatus::Pending));
///
/// // A pending refund already counts: only ₹200.00 is left to refund.
/// let again = CreateRefund { amount: Some(30_000), reason: None };
/// let refused = gateway.create_refund(merchant, &payment.id, again).await;
/// let available = Refusal::RefundExceedsAvailable { available: 20_000 };
/// assert_eq!(refused, Err(GatewayError::Refused(available)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRefund {
    /// Minor units; the whole payment if absent.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `GET /api/v1/events`'s filters, as the client sent them (checked by the gateway).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEvents {
    /// Only this event type, e.g. `payment.success`.
    pub event_type: Option<String>,
    /// Only events created at or after this time (RFC 3339 or Unix seconds).
    pub from: Option<String>,
    /// Only events created at or before this time, to the second (RFC 3339 or Unix seconds).
    pub to: Option<String>,
}

/// `PUT /api/v1/webhooks/config`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateWebhookConfig {
    /// An http(s) URL, or `null` to stop sending webhooks.
    pub webhook_url: Option<String>,
}

/// The answer to a secret rotation: the new secret (also readable later from the webhook config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedSecret {
    /// `whsec_` + base64 of 32 random bytes.
    pub webhook_secret: String,
}

/// How the gateway as a whole is doing.
///
/// ```
/// use gateway_core::gateway::HealthStatus;
///
/// assert_eq!(serde_json::to_string(&HealthStatus::Degraded).unwrap(), r#""degraded""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything answers and the database commits writes.
    Healthy,
    /// The database answers but cannot commit a write.
    Degraded,
    /// The database does not answer.
    Unhealthy,
}

/// What the gateway's health check found of its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum DatabaseState {
    /// It answers and commits a write.
    Connected,
    /// It answers, but a write probe failed.
    ReadOnly,
    /// It does not answer.
    Disconnected,
}

/// What the gateway's health check found of its job queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    /// It answers (the database queue: the database answers).
    Connected,
    /// It does not answer: payments are still accepted, their jobs wait as rows.
    Disconnected,
}

/// Whether a worker checked in recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// A worker's heartbeat is recent.
    Running,
    /// No worker has checked in lately.
    Stopped,
}

impl WorkerState {
    /// The state as shown: `running` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }
}

/// The gateway's own view of its health.
///
/// What a host's readiness probe asks:
///
/// ```
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
/// use gateway_core::gateway::{DatabaseState, HealthStatus};
///
/// let health = gateway.health().await;
/// assert_eq!((health.status, health.database), (HealthStatus::Healthy, DatabaseState::Connected));
/// assert!(health.is_ready());
/// assert_eq!(health.processor, "simulated");
/// assert_eq!(serde_json::to_value(&health)?["status"], "healthy");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `healthy`; `degraded` while the database answers but cannot commit a write, or the job
    /// queue (Redis) does not answer; `unhealthy` while the database does not answer.
    pub status: HealthStatus,
    /// `connected`, `read-only` (answers, but a write probe failed) or `disconnected`.
    pub database: DatabaseState,
    /// Why the status is not `healthy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `running` or `stopped`.
    pub worker: WorkerState,
    /// `connected` or `disconnected`: the queue workers take jobs from.
    pub queue: QueueState,
    /// What decides payment outcomes (`simulated` for the built-in simulated bank).
    pub processor: &'static str,
    /// RFC 3339 time of the check.
    pub timestamp: String,
}

impl Health {
    /// Whether the gateway can take writes: the load balancer's readiness. A job queue that
    /// does not answer does not make it unready: the payments it accepts keep their jobs as rows.
    pub fn is_ready(&self) -> bool {
        self.database == DatabaseState::Connected
    }
}

/// A merchant as its publishable key (the API key id alone) identifies it to a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicMerchant {
    /// The merchant.
    pub id: MerchantId,
    /// Its display name.
    pub name: String,
}

/// What the checkout page may know of an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckoutOrder {
    /// The order.
    pub id: OrderId,
    /// What to pay, in minor units.
    pub amount: Amount,
    /// ISO 4217 code.
    pub currency: Currency,
    /// `created`, `attempted` or `paid`.
    pub status: OrderStatus,
    /// Who is being paid.
    pub merchant_name: String,
}

/// A payment as the checkout page polls it: once it has ended, with the signed result the
/// page hands to the merchant's site.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckoutPayment {
    /// The payment.
    #[serde(flatten)]
    pub payment: Payment,
    /// `null` while pending; then the signed outcome.
    pub result: Option<CheckoutResult>,
}

/// What a call without an idempotency key returns: the value (such a call is never a replay).
fn without_key<T>(result: Result<Idempotent<T>, GatewayError>) -> Result<T, GatewayError> {
    match result? {
        Idempotent::Fresh(value) => Ok(value),
        Idempotent::Replayed(_) => Err(GatewayError::Internal(
            "a call without an idempotency key was answered as a replay".into(),
        )),
    }
}

/// The payment gateway, as a host (HTTP server, CLI, embedding service) sees it.
///
/// Each state-changing call comes in two forms. `create_order(..)` runs the command and returns
/// its result. `create_order_with_key(.., key)` takes the request's idempotency key, if any:
/// a repeat of a request under the same key returns [`Idempotent::Replayed`] with the original
/// response body, byte for byte, and changes nothing. Implementors provide the `_with_key`
/// forms; the plain ones are provided.
///
/// # Example
///
/// A host wires the gateway over a store, takes a UPI payment, lets a worker settle it and
/// refunds part of it. (The worker runs one batch in place here; a host spawns
/// [`Worker::run_until`](crate::Worker::run_until).) The clock is a [`ManualClock`], so the
/// simulated bank's 5–10 s delay passes at once.
///
/// [`ManualClock`]: crate::ManualClock
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// # use gateway_core::{Clock, ManualClock, WebhookTransport};
/// # struct Accept;
/// # #[async_trait::async_trait]
/// # impl WebhookTransport for Accept {
/// #     async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #         Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let transport = Arc::new(Accept);
/// # let pepper = "a pepper from your configuration";
/// # let clock = Arc::new(ManualClock::new(gateway_core::SystemClock.now()));
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", clock.now());
/// # store.insert_merchant(&row).await?;
/// # let (api_key, api_secret) = (credentials.api_key, credentials.api_secret);
/// use gateway_core::gateway::{CreateOrder, CreatePayment, CreateRefund};
/// use gateway_core::order::OrderStatus;
/// use gateway_core::payment::PaymentStatus;
/// use gateway_core::{GatewayBuilder, WorkerConfig};
///
/// let built = GatewayBuilder::new(store)
///     .pepper(pepper)
///     .transport(transport)
///     .clock(clock.clone())
///     .build()?;
/// let gateway = built.gateway();
/// let merchant = gateway.authenticate(&api_key, &api_secret).await?;
///
/// let order = CreateOrder { amount: 50_000, currency: None, receipt: None, notes: None };
/// let order = gateway.create_order(merchant, order).await?;
/// let payment = CreatePayment::upi(order.id.clone(), "success@paytm");
/// let payment = gateway.create_payment(merchant, payment).await?;
/// assert_eq!(payment.status, PaymentStatus::Pending);
///
/// let worker = Arc::new(built.worker(WorkerConfig::default()));
/// clock.advance(Duration::from_secs(10));
/// worker.run_once().await; // asks the bank and settles the payment
/// let payment = gateway.get_payment(merchant, &payment.id).await?;
/// assert_eq!(payment.status, PaymentStatus::Success);
/// assert_eq!(gateway.get_order(merchant, &order.id).await?.status, OrderStatus::Paid);
///
/// let refund = CreateRefund { amount: Some(20_000), reason: None };
/// let refund = gateway.create_refund(merchant, &payment.id, refund).await?;
/// assert_eq!(refund.amount.minor(), 20_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[async_trait]
pub trait Gateway: Send + Sync + 'static {
    /// The merchant whose key and secret these are.
    async fn authenticate(
        &self,
        api_key: &str,
        api_secret: &str,
    ) -> Result<MerchantId, GatewayError>;

    /// Creates an order.
    async fn create_order_with_key(
        &self,
        merchant: MerchantId,
        request: CreateOrder,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Order>, GatewayError>;
    /// As [`Self::create_order_with_key`], without an idempotency key.
    async fn create_order(
        &self,
        merchant: MerchantId,
        request: CreateOrder,
    ) -> Result<Order, GatewayError> {
        without_key(self.create_order_with_key(merchant, request, None).await)
    }
    /// One order.
    async fn get_order(&self, merchant: MerchantId, id: &OrderId) -> Result<Order, GatewayError>;
    /// Orders, newest first.
    async fn list_orders(
        &self,
        merchant: MerchantId,
        filter: OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, GatewayError>;

    /// Creates a pending payment; a worker settles it.
    async fn create_payment_with_key(
        &self,
        merchant: MerchantId,
        request: CreatePayment,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Payment>, GatewayError>;
    /// As [`Self::create_payment_with_key`], without an idempotency key.
    async fn create_payment(
        &self,
        merchant: MerchantId,
        request: CreatePayment,
    ) -> Result<Payment, GatewayError> {
        without_key(self.create_payment_with_key(merchant, request, None).await)
    }
    /// One payment.
    async fn get_payment(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
    ) -> Result<Payment, GatewayError>;
    /// Payments, newest first.
    async fn list_payments(
        &self,
        merchant: MerchantId,
        filter: PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>, GatewayError>;
    /// Captures a successful payment.
    async fn capture_payment_with_key(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
        request: CapturePayment,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Payment>, GatewayError>;
    /// As [`Self::capture_payment_with_key`], without an idempotency key.
    async fn capture_payment(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
        request: CapturePayment,
    ) -> Result<Payment, GatewayError> {
        without_key(
            self.capture_payment_with_key(merchant, id, request, None)
                .await,
        )
    }

    /// Creates a pending refund of a successful payment; a worker settles it.
    async fn create_refund_with_key(
        &self,
        merchant: MerchantId,
        payment_id: &PaymentId,
        request: CreateRefund,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Refund>, GatewayError>;
    /// As [`Self::create_refund_with_key`], without an idempotency key.
    async fn create_refund(
        &self,
        merchant: MerchantId,
        payment_id: &PaymentId,
        request: CreateRefund,
    ) -> Result<Refund, GatewayError> {
        without_key(
            self.create_refund_with_key(merchant, payment_id, request, None)
                .await,
        )
    }
    /// One refund.
    async fn get_refund(&self, merchant: MerchantId, id: &RefundId)
    -> Result<Refund, GatewayError>;
    /// Refunds (of one payment, if given), newest first.
    async fn list_refunds(
        &self,
        merchant: MerchantId,
        payment_id: Option<&PaymentId>,
        page: PageRequest,
    ) -> Result<Page<Refund>, GatewayError>;

    /// The merchant's webhook URL and secret.
    async fn webhook_config(&self, merchant: MerchantId) -> Result<WebhookConfig, GatewayError>;
    /// Sets or clears the webhook URL.
    async fn update_webhook_config(
        &self,
        merchant: MerchantId,
        request: UpdateWebhookConfig,
    ) -> Result<WebhookConfig, GatewayError>;
    /// Replaces the webhook secret with a fresh one.
    async fn rotate_webhook_secret_with_key(
        &self,
        merchant: MerchantId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<RotatedSecret>, GatewayError>;
    /// As [`Self::rotate_webhook_secret_with_key`], without an idempotency key.
    async fn rotate_webhook_secret(
        &self,
        merchant: MerchantId,
    ) -> Result<RotatedSecret, GatewayError> {
        without_key(self.rotate_webhook_secret_with_key(merchant, None).await)
    }
    /// Webhook deliveries (to one endpoint, of one event type, if given), newest first.
    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>, GatewayError>;
    /// One delivery with its attempts.
    async fn get_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> Result<DeliveryDetail, GatewayError>;
    /// Re-arms a delivery for an immediate attempt.
    async fn retry_delivery_with_key(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<DeliveryScheduled>, GatewayError>;
    /// As [`Self::retry_delivery_with_key`], without an idempotency key.
    async fn retry_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> Result<DeliveryScheduled, GatewayError> {
        without_key(self.retry_delivery_with_key(merchant, id, None).await)
    }
    /// Sends a `webhook.test` event to every enabled endpoint.
    async fn send_test_webhook_with_key(
        &self,
        merchant: MerchantId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<DeliveryScheduled>, GatewayError>;
    /// As [`Self::send_test_webhook_with_key`], without an idempotency key.
    async fn send_test_webhook(
        &self,
        merchant: MerchantId,
    ) -> Result<DeliveryScheduled, GatewayError> {
        without_key(self.send_test_webhook_with_key(merchant, None).await)
    }

    /// Recorded events (of one type, created in a range, if given), newest first.
    async fn list_events(
        &self,
        merchant: MerchantId,
        filter: ListEvents,
        page: PageRequest,
    ) -> Result<Page<RecordedEvent>, GatewayError>;
    /// One recorded event, with the exact payload its deliveries signed.
    async fn get_event(
        &self,
        merchant: MerchantId,
        id: &EventId,
    ) -> Result<RecordedEvent, GatewayError>;
    /// Delivers one of the merchant's recorded events again, its payload unchanged: to
    /// `request.endpoint_id` (enabled, the merchant's), or to every enabled endpoint whose filter
    /// matches (see [`crate::resend`]).
    async fn resend_event_with_key(
        &self,
        merchant: MerchantId,
        id: &EventId,
        request: ResendEvent,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Resent>, GatewayError>;
    /// As [`Self::resend_event_with_key`], without an idempotency key.
    async fn resend_event(
        &self,
        merchant: MerchantId,
        id: &EventId,
        request: ResendEvent,
    ) -> Result<Resent, GatewayError> {
        without_key(
            self.resend_event_with_key(merchant, id, request, None)
                .await,
        )
    }

    /// Adds a webhook endpoint; the answer is the one place its secret is shown.
    async fn create_endpoint_with_key(
        &self,
        merchant: MerchantId,
        request: CreateEndpoint,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<EndpointWithSecret>, GatewayError>;
    /// As [`Self::create_endpoint_with_key`], without an idempotency key.
    async fn create_endpoint(
        &self,
        merchant: MerchantId,
        request: CreateEndpoint,
    ) -> Result<EndpointWithSecret, GatewayError> {
        without_key(self.create_endpoint_with_key(merchant, request, None).await)
    }
    /// The merchant's webhook endpoints, newest first.
    async fn list_endpoints(
        &self,
        merchant: MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, GatewayError>;
    /// One webhook endpoint.
    async fn get_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<WebhookEndpoint, GatewayError>;
    /// Changes a webhook endpoint.
    async fn update_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        request: UpdateEndpoint,
    ) -> Result<WebhookEndpoint, GatewayError>;
    /// Deletes a webhook endpoint.
    async fn delete_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<(), GatewayError>;
    /// Gives a webhook endpoint a new secret; the old one keeps signing beside it for
    /// [`SECRET_ROTATION_OVERLAP`](crate::endpoint::SECRET_ROTATION_OVERLAP).
    async fn rotate_endpoint_secret_with_key(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<RotatedEndpointSecret>, GatewayError>;
    /// As [`Self::rotate_endpoint_secret_with_key`], without an idempotency key.
    async fn rotate_endpoint_secret(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<RotatedEndpointSecret, GatewayError> {
        without_key(
            self.rotate_endpoint_secret_with_key(merchant, id, None)
                .await,
        )
    }
    /// Resends the endpoint's failed deliveries since `request.since`, oldest first and
    /// throttled (see [`crate::endpoint_health`]); refused while the endpoint is disabled.
    async fn recover_endpoint_with_key(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        request: RecoverEndpoint,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Recovering>, GatewayError>;
    /// As [`Self::recover_endpoint_with_key`], without an idempotency key.
    async fn recover_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        request: RecoverEndpoint,
    ) -> Result<Recovering, GatewayError> {
        without_key(
            self.recover_endpoint_with_key(merchant, id, request, None)
                .await,
        )
    }

    /// The overview of the merchant's payments in `currency` over `range`.
    async fn payment_stats(
        &self,
        merchant: MerchantId,
        range: StatsRange,
        currency: Currency,
    ) -> Result<PaymentStats, GatewayError>;

    /// Job queue counts and worker liveness.
    async fn job_stats(&self) -> Result<JobStats, GatewayError>;
    /// Database and worker health.
    async fn health(&self) -> Health;

    /// The merchant behind a publishable key, for the checkout page's endpoints.
    async fn publishable_key(&self, api_key: &str) -> Result<PublicMerchant, GatewayError>;
    /// What the checkout page shows of one of the merchant's orders.
    async fn checkout_order(
        &self,
        merchant: &PublicMerchant,
        order_id: &OrderId,
    ) -> Result<CheckoutOrder, GatewayError>;
    /// One of the merchant's payments as the checkout page polls it.
    async fn checkout_payment(
        &self,
        merchant: MerchantId,
        payment_id: &PaymentId,
    ) -> Result<CheckoutPayment, GatewayError>;
}
