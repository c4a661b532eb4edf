//! The storage seam: one trait, one implementation per database (in `gateway-store`).
//!
//! Every method is a command or a query; every command is one transaction that writes the
//! domain rows, the idempotency record, the events' deliveries and the jobs together. A command
//! locks what its rule reads, reads a snapshot, asks the rule's pure function in this crate for
//! the decision (e.g. [`PaymentSnapshot::capture`]) and writes what it decided, so concurrent
//! callers can never break a rule and no rule is written twice.
//!
//! Producing jobs is the store's (each command enqueues its jobs in its own transaction);
//! consuming them is a [`JobQueue`]'s, and the store offers its own over its job rows
//! ([`Store::job_queue`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::Timestamp;
use crate::endpoint::{EndpointPatch, EndpointWithSecret, StoredSecrets, WebhookEndpoint};
use crate::endpoint_health::Recovering;
use crate::environment::Environment;
use crate::error::Refusal;
use crate::event::{Event, EventType, RecordedEvent};
use crate::idempotency::{IdempotencyKey, IdempotencyRecord};
use crate::ids::{DeliveryId, EndpointId, EventId, MerchantId, OrderId, PaymentId, RefundId};
use crate::jobs::{Lease, NewJob};
use crate::merchant::{Merchant, NewMerchant, StoredCredential};
use crate::money::Currency;
use crate::order::{Order, OrderStatus};
use crate::payment::{Payment, PaymentSnapshot, PaymentStatus};
use crate::queue::{JobOutbox, JobQueue};
use crate::refund::Refund;
use crate::resend::Resent;
use crate::stats::{StatsRows, StatsWindow};
use crate::webhook::{DeliveryAttempt, DeliveryDetail, WebhookConfig, WebhookDelivery};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row does not exist (for this merchant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Core's decision over the locked snapshot refused the command.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A unique value is taken or an operation is already in progress.
    #[error("{0}")]
    Conflict(String),
    /// The idempotency key already has a live record.
    #[error("idempotency key already used")]
    IdempotencyKeyTaken,
    /// The job's lease is no longer held by this worker.
    #[error("job lease lost")]
    LeaseLost,
    /// The database cannot be reached or is overloaded; retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("database error: {0}")]
    Other(String),
}

/// Which page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (1–100).
    pub limit: i64,
    /// Skip this many.
    pub offset: i64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: 10,
            offset: 0,
        }
    }
}

/// A page of a list, newest first (the reference's webhook list shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// How many items the whole list has.
    pub total: i64,
    /// The limit used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
}

/// Filters for listing orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this status.
    pub status: Option<OrderStatus>,
}

/// Filters for listing payments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only this status.
    pub status: Option<PaymentStatus>,
    /// Only payments of this order.
    pub order_id: Option<OrderId>,
}

/// Filters for listing webhook deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only deliveries to this endpoint.
    pub endpoint_id: Option<EndpointId>,
    /// Only this event type.
    pub event: Option<EventType>,
}

/// Filters for listing events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this event type.
    pub event_type: Option<EventType>,
    /// Only events created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Only events created before this time.
    pub created_before: Option<Timestamp>,
}

/// What the worker's prune of the store removes: what is older than its retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneBefore {
    /// Events created before this time.
    pub events: Timestamp,
    /// Idempotency records expired by this time (now).
    pub now: Timestamp,
}

/// Where and how to deliver a webhook: the delivery with its endpoint's current settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryTarget {
    /// The delivery.
    pub delivery: WebhookDelivery,
    /// The exact payload bytes to send.
    pub payload: String,
    /// The endpoint's URL now, while it is enabled (see [`crate::endpoint::target_url`]).
    pub url: Option<String>,
    /// The endpoint's signing secrets now (the merchant's secret for a delivery without one).
    pub secrets: StoredSecrets,
}

/// A connection pool's occupancy, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Which pool (`main`, or `reader` and `writer` for SQLite).
    pub name: &'static str,
    /// Connections open.
    pub size: u32,
    /// Open connections nobody is using.
    pub idle: u32,
    /// The most it may open.
    pub max: u32,
}

/// Persistence for the gateway. See the module docs for the transaction rule.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Commits a tiny write (the readiness probe): fails when the database answers reads but
    /// cannot take writes (a read-only file or replica, a full disk).
    async fn probe_write(&self, now: Timestamp) -> Result<(), StoreError>;
    /// Records `requested` as the environment this database belongs to, unless one is recorded
    /// already; returns the recorded one. `None` when nothing was recorded and the database
    /// already holds merchants besides the test merchant (created before environments were
    /// recorded): only an explicit `migrate` may record one then.
    async fn claim_environment(
        &self,
        requested: Environment,
        explicit: bool,
    ) -> Result<Option<Environment>, StoreError>;

    /// Inserts a merchant; `Conflict` if its email or key exists.
    async fn insert_merchant(&self, merchant: &NewMerchant) -> Result<(), StoreError>;
    /// Inserts a merchant or, if its id exists, refreshes its key and secret hash (test merchant seeding).
    async fn upsert_merchant(&self, merchant: &NewMerchant) -> Result<(), StoreError>;
    /// Replaces the API secret hash of the merchant with this id or email; returns its id.
    async fn rotate_api_secret(
        &self,
        id_or_email: &str,
        api_secret_hash: &[u8],
        now: Timestamp,
    ) -> Result<MerchantId, StoreError>;
    /// Every merchant, oldest first.
    async fn list_merchants(&self) -> Result<Vec<Merchant>, StoreError>;
    /// The credential behind an API key.
    async fn credential(&self, api_key: &str) -> Result<Option<StoredCredential>, StoreError>;
    /// A merchant's webhook settings: its default endpoint's (see
    /// [`crate::endpoint::legacy_config`]).
    async fn webhook_config(&self, merchant: MerchantId) -> Result<WebhookConfig, StoreError>;
    /// Sets a merchant's default endpoint's URL and enables it (creating the endpoint, with the
    /// merchant's secret and every event, if it has none), or with `None` disables it.
    async fn set_webhook_url(
        &self,
        merchant: MerchantId,
        url: Option<&str>,
        now: Timestamp,
    ) -> Result<WebhookConfig, StoreError>;
    /// Replaces a merchant's webhook secret and its default endpoint's, at once (no overlap).
    async fn set_webhook_secret(
        &self,
        merchant: MerchantId,
        secret: &str,
        now: Timestamp,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;

    /// Inserts an endpoint with its secret, if
    /// [`admit_new_endpoint`](crate::endpoint::admit_new_endpoint) over the merchant's locked
    /// endpoint count allows it (`Refused` otherwise).
    async fn create_endpoint(
        &self,
        endpoint: &EndpointWithSecret,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    /// One of the merchant's endpoints.
    async fn endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// The merchant's endpoints, newest first.
    async fn list_endpoints(
        &self,
        merchant: MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError>;
    /// Applies `patch` to the merchant's locked endpoint; returns it as changed.
    async fn update_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError>;
    /// Deletes the merchant's endpoint (its deliveries are kept).
    async fn delete_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<(), StoreError>;
    /// Makes `secret` the endpoint's signing secret; the one it replaces keeps signing until
    /// `previous_until`.
    async fn rotate_endpoint_secret(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;

    /// Re-arms every `failed` delivery to the merchant's endpoint created at or after `since`,
    /// oldest first and spaced by [`throttled_run_at`](crate::endpoint_health::throttled_run_at)
    /// (at most [`CATCH_UP_LIMIT`](crate::endpoint_health::CATCH_UP_LIMIT) a call); returns how
    /// many, as [`Recovering`]. With `key`, the answer is saved under it in the same
    /// transaction (after the count is known: a concurrent duplicate's work is rolled back when
    /// it finds the key taken). `NotFound` for another merchant's endpoint, `Refused` while it
    /// is disabled.
    async fn recover_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        since: Timestamp,
        now: Timestamp,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recovering, StoreError>;

    /// Creates new deliveries of the merchant's event `id` (its stored payload, byte for byte),
    /// each with its job due at `now`, as [`plan_resend`](crate::resend::plan_resend) decides
    /// over the merchant's endpoints: to `endpoint`, or by the event's fan-out. With `key`, the
    /// answer is saved under it in the same transaction. `NotFound` for an event or endpoint
    /// that is not the merchant's (or an event past retention), `Refused` as core refuses.
    async fn resend_event(
        &self,
        merchant: MerchantId,
        id: &EventId,
        endpoint: Option<&EndpointId>,
        now: Timestamp,
        key: Option<&IdempotencyKey>,
    ) -> Result<Resent, StoreError>;

    /// A live (unexpired) idempotency record.
    async fn idempotency_record(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Inserts an order.
    async fn create_order(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    /// One of the merchant's orders.
    async fn order(&self, merchant: MerchantId, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// The merchant's orders, newest first.
    async fn list_orders(
        &self,
        merchant: MerchantId,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError>;

    /// Inserts a pending payment with its job and events and moves its order to `attempted`, if
    /// [`OrderSnapshot::admit_payment`](crate::order::OrderSnapshot::admit_payment) over the
    /// locked order allows it (`Refused` otherwise). `NotFound` unless the order is the merchant's.
    async fn create_payment(
        &self,
        payment: &Payment,
        job: &NewJob,
        events: &[Event],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    /// A payment; `merchant: None` is the worker's unscoped read.
    async fn payment(
        &self,
        merchant: Option<MerchantId>,
        id: &PaymentId,
    ) -> Result<Option<Payment>, StoreError>;
    /// The merchant's payments, newest first.
    async fn list_payments(
        &self,
        merchant: MerchantId,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>, StoreError>;
    /// The merchant's payments in `currency`, refunds and deliveries created in `window`,
    /// counted and summed by the database (payments grouped by bucket and status).
    async fn stats(
        &self,
        merchant: MerchantId,
        currency: Currency,
        window: StatsWindow,
    ) -> Result<StatsRows, StoreError>;
    /// The merchant's payment with the sum of its non-failed refunds.
    async fn payment_snapshot(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
    ) -> Result<Option<PaymentSnapshot>, StoreError>;
    /// Captures `captured.id` if [`PaymentSnapshot::capture`] of `amount`, decided over the
    /// locked snapshot, allows it (`Refused` otherwise); `captured` is what the caller expects
    /// that decision to give.
    async fn capture_payment(
        &self,
        captured: &Payment,
        amount: Option<i64>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;

    /// Inserts a pending refund with its job and events, if [`PaymentSnapshot::admit_refund`]
    /// over the locked payment allows it (`Refused` otherwise).
    async fn create_refund(
        &self,
        refund: &Refund,
        job: &NewJob,
        events: &[Event],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    /// A refund; `merchant: None` is the worker's unscoped read.
    async fn refund(
        &self,
        merchant: Option<MerchantId>,
        id: &RefundId,
    ) -> Result<Option<Refund>, StoreError>;
    /// The merchant's refunds (of one payment, if given), newest first.
    async fn list_refunds(
        &self,
        merchant: MerchantId,
        payment: Option<&PaymentId>,
        page: PageRequest,
    ) -> Result<Page<Refund>, StoreError>;

    /// The merchant's webhook deliveries, newest first.
    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        self.list_deliveries_matching(merchant, &DeliveryFilter::default(), page)
            .await
    }
    /// The merchant's webhook deliveries that pass `filter`, newest first.
    async fn list_deliveries_matching(
        &self,
        merchant: MerchantId,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError>;
    /// One delivery with its attempt log.
    async fn delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> Result<Option<DeliveryDetail>, StoreError>;
    /// Re-arms a delivery: status `pending`, attempts 0, a new job due `now`.
    /// `Conflict` while an attempt is in flight.
    async fn retry_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    /// Creates a delivery and its job for `event` (a test event) to each enabled endpoint (see
    /// [`fan_out_test`](crate::endpoint::fan_out_test)); `Refused` without one.
    async fn create_test_delivery(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    /// The merchant's recorded events that pass `filter`, newest first (latest recorded first
    /// among events of the same instant).
    async fn list_events(
        &self,
        merchant: MerchantId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<Page<RecordedEvent>, StoreError>;
    /// One of the merchant's recorded events.
    async fn event(
        &self,
        merchant: MerchantId,
        id: &EventId,
    ) -> Result<Option<RecordedEvent>, StoreError>;
    /// Enqueues `job` (typically of an embedding service's own kind, see [`NewJob::custom`]) in
    /// a transaction of its own, and wakes the workers of other processes.
    async fn enqueue_job(&self, job: &NewJob, now: Timestamp) -> Result<(), StoreError>;
    /// The database queue over this store's job rows, for workers and for queue reports.
    fn job_queue(self: Arc<Self>) -> Arc<dyn JobQueue>;
    /// This store's job rows as the outbox a dispatching queue (Redis Streams) relays from;
    /// `None` (the default) for a store that offers only its own queue.
    fn job_outbox(self: Arc<Self>) -> Option<Arc<dyn JobOutbox>> {
        None
    }

    /// What a delivery job needs: the delivery, payload, its endpoint's URL and secrets.
    async fn delivery_target(&self, id: DeliveryId) -> Result<Option<DeliveryTarget>, StoreError>;

    /// Settles a pending payment (and its order if it succeeded), writes its events and
    /// completes the job, in one transaction. `Ok(false)` if it was no longer pending.
    async fn settle_payment(
        &self,
        lease: &Lease,
        settled: &Payment,
        events: &[Event],
    ) -> Result<bool, StoreError>;
    /// Settles a pending refund, writes its events and completes the job. `Ok(false)` if it was
    /// no longer pending.
    async fn settle_refund(
        &self,
        lease: &Lease,
        settled: &Refund,
        events: &[Event],
    ) -> Result<bool, StoreError>;
    /// Logs a delivery attempt, updates the delivery and either re-queues the job for
    /// `attempt.next_retry_at` or completes it; in the same transaction, applies
    /// [`after_attempt`](crate::endpoint_health::after_attempt) to the delivery's endpoint
    /// (failing longer than `disable_after`, or a 410, disables it, ends the delivery `failed`
    /// and records a `webhook_endpoint.disabled` event; a success after failures brings its
    /// waiting deliveries forward).
    async fn record_delivery_attempt(
        &self,
        lease: &Lease,
        attempt: &DeliveryAttempt,
        disable_after: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// The store's connection pools as they are now (empty for a store without pools).
    fn pools(&self) -> Vec<PoolStatus> {
        Vec::new()
    }
    /// Deletes up to `limit` idempotency records expired by `before.now` and up to `limit`
    /// events created before `before.events`, so the key and event tables do not grow forever
    /// (completed jobs are the queue's to prune: [`JobQueue::prune_jobs`]). Returns how many
    /// rows went.
    async fn prune(&self, before: PruneBefore, limit: u32) -> Result<u64, StoreError>;
    /// Records that `worker` is alive (the worker's liveness, not the queue's: `/health` and
    /// the jobs status read it whichever queue the worker consumes).
    async fn heartbeat(&self, worker: &str, now: Timestamp) -> Result<(), StoreError>;
    /// The latest heartbeat of any worker.
    async fn last_heartbeat(&self) -> Result<Option<Timestamp>, StoreError>;
}
