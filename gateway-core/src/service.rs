//! [`GatewayService`]: the one implementation of [`Gateway`], over any [`Store`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::endpoint::{
    CreateEndpoint, EndpointPatch, EndpointWithSecret, RotatedEndpointSecret,
    SECRET_ROTATION_OVERLAP, UpdateEndpoint, WebhookEndpoint,
};
use crate::endpoint_health::{RecoverEndpoint, Recovering};
use crate::error::GatewayError;
use crate::event::{Event, EventType, RecordedEvent};
use crate::gateway::{
    CapturePayment, CheckoutOrder, CheckoutPayment, CreateOrder, CreatePayment, CreateRefund,
    DatabaseState, Gateway, Health, HealthStatus, ListEvents, PublicMerchant, QueueState,
    RotatedSecret, UpdateWebhookConfig, WorkerState,
};
use crate::idempotency::{IdempotencyKey, IdempotencyRecord, Idempotent};
use crate::ids::{DeliveryId, EndpointId, EventId, MerchantId, OrderId, PaymentId, RefundId};
use crate::instrument::{validate_card, validate_vpa, vpa_verdict};
use crate::jobs::{JobStats, NewJob};
use crate::merchant::{SecretHasher, StoredCredential, generate_webhook_secret};
use crate::metrics;
use crate::money::{Amount, Currency};
use crate::order::{Order, OrderStatus};
use crate::payment::{Payment, PaymentMethod, PaymentSnapshot, PaymentStatus};
use crate::processor::{Processor, ProcessorError};
use crate::queue::JobQueue;
use crate::refund::{Refund, RefundStatus};
use crate::resend::{ResendEvent, Resent};
use crate::signer::{CheckoutResult, HmacSigner, WebhookSigner};
use crate::stats::{PaymentStats, StatsRange};
use crate::store::{
    DeliveryFilter, EventFilter, OrderFilter, Page, PageRequest, PaymentFilter, Store, StoreError,
};
use crate::webhook::{
    DeliveryDetail, DeliveryScheduled, DeliveryStatus, WebhookConfig, WebhookDelivery,
};

/// The smallest order amount, as in the reference (₹1.00).
pub const MIN_ORDER_AMOUNT: i64 = 100;
/// The longest `receipt`, `reason` and similar text accepted.
pub const MAX_TEXT_LEN: usize = 255;
/// The largest `notes` object accepted, serialized.
pub const MAX_NOTES_BYTES: usize = 16 * 1024;
/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// How long a verified credential is trusted without asking the database again.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(60);
/// A worker that has not checked in for this long counts as stopped.
pub const WORKER_HEARTBEAT_GRACE: Duration = Duration::from_secs(30);

/// How long a merchant's capture request waits for the acquirer's capture before answering 503.
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway over a [`Store`]: validation, state machines, events and idempotency.
pub struct GatewayService {
    store: Arc<dyn Store>,
    /// The queue the workers consume, for the jobs status (the store's own by default).
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    processor: Arc<dyn Processor>,
    /// Signs checkout results (workers sign webhooks with the same one).
    signer: Arc<dyn WebhookSigner>,
    hasher: SecretHasher,
    /// Woken after every commit that enqueues jobs, so an in-process worker starts at once.
    jobs_enqueued: Arc<Notify>,
    /// API key → credential, so authentication costs no database round trip after warm-up.
    credentials: RwLock<HashMap<String, (StoredCredential, Timestamp)>>,
}

impl GatewayService {
    /// A gateway over `store`, deciding outcomes with `processor` and hashing secrets with `hasher`.
    pub fn new(store: Arc<dyn Store>, processor: Arc<dyn Processor>, hasher: SecretHasher) -> Self {
        Self {
            queue: store.clone().job_queue(),
            store,
            clock: Arc::new(SystemClock),
            processor,
            signer: Arc::new(HmacSigner),
            hasher,
            jobs_enqueued: Arc::new(Notify::new()),
            credentials: RwLock::new(HashMap::new()),
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Reports the jobs status from `queue` instead of the store's own queue.
    pub fn with_queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        self.queue = queue;
        self
    }

    /// Signs checkout results with `signer` instead of [`HmacSigner`].
    pub fn with_signer(mut self, signer: Arc<dyn WebhookSigner>) -> Self {
        self.signer = signer;
        self
    }

    /// Signals `notify` whenever jobs are enqueued (share it with a [`crate::Worker`]).
    pub fn with_job_notify(mut self, notify: Arc<Notify>) -> Self {
        self.jobs_enqueued = notify;
        self
    }

    /// The notify signalled when jobs are enqueued.
    pub fn job_notify(&self) -> Arc<Notify> {
        self.jobs_enqueued.clone()
    }

    /// The credential behind `api_key` and whether it came from the cache (younger than
    /// [`CREDENTIAL_CACHE_TTL`]) rather than the database; `fresh` skips the cache.
    async fn credential(
        &self,
        api_key: &str,
        fresh: bool,
    ) -> Result<(Option<StoredCredential>, bool), GatewayError> {
        let now = self.clock.now();
        let cached = if fresh {
            None
        } else {
            self.credentials
                .read()
                .ok()
                .and_then(|map| map.get(api_key).cloned())
        };
        if let Some((credential, fetched)) = cached
            && now.since(fetched) < CREDENTIAL_CACHE_TTL
        {
            return Ok((Some(credential), true));
        }
        let stored = self.store.credential(api_key).await?;
        if let Ok(mut map) = self.credentials.write() {
            match &stored {
                Some(credential) => map.insert(api_key.to_owned(), (credential.clone(), now)),
                None => map.remove(api_key),
            };
        }
        Ok((stored, false))
    }

    /// The remembered response for `key`, if this request ran before.
    async fn replayed(
        &self,
        merchant: MerchantId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Option<String>, GatewayError> {
        let Some(key) = key else { return Ok(None) };
        match self
            .store
            .idempotency_record(merchant, key.key(), self.clock.now())
            .await?
        {
            Some(record) if record.fingerprint == key.fingerprint() => {
                metrics::idempotency_replayed();
                Ok(Some(record.response))
            }
            Some(_) => {
                metrics::idempotency_conflict("mismatch");
                Err(GatewayError::IdempotencyMismatch)
            }
            None => Ok(None),
        }
    }

    fn record<T: Serialize>(
        &self,
        key: Option<&IdempotencyKey>,
        response: &T,
    ) -> Result<Option<IdempotencyRecord>, GatewayError> {
        key.map(|k| {
            serde_json::to_string(response)
                .map(|body| k.record(body, self.clock.now()))
                .map_err(|e| GatewayError::Internal(e.to_string()))
        })
        .transpose()
    }

    /// Turns a store command's result into the response: fresh, or — when a concurrent request
    /// with the same key committed first — that request's remembered response.
    async fn settle_idempotent<T>(
        &self,
        merchant: MerchantId,
        key: Option<&IdempotencyKey>,
        result: Result<(), StoreError>,
        value: T,
    ) -> Result<Idempotent<T>, GatewayError> {
        match result {
            Ok(()) => Ok(Idempotent::Fresh(value)),
            Err(StoreError::IdempotencyKeyTaken) => match self.replayed(merchant, key).await? {
                Some(body) => Ok(Idempotent::Replayed(body)),
                None => {
                    metrics::idempotency_conflict("in_progress");
                    Err(GatewayError::Conflict(
                        "A request with this idempotency key is in progress".into(),
                    ))
                }
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The merchant's payment `id` with its refunded sum, as last committed.
    async fn payment_snapshot(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
    ) -> Result<PaymentSnapshot, GatewayError> {
        self.store
            .payment_snapshot(merchant, id)
            .await?
            .ok_or(GatewayError::NotFound("Payment"))
    }

    fn page(page: PageRequest) -> Result<PageRequest, GatewayError> {
        if !(1..=100).contains(&page.limit) {
            return Err(GatewayError::bad_request("limit must be between 1 and 100"));
        }
        if page.offset < 0 {
            return Err(GatewayError::bad_request("offset must not be negative"));
        }
        Ok(page)
    }
}

fn optional_text(value: Option<String>, field: &str) -> Result<Option<String>, GatewayError> {
    match value {
        Some(text) if text.chars().count() > MAX_TEXT_LEN => Err(GatewayError::bad_request(
            format!("{field} must be at most {MAX_TEXT_LEN} characters"),
        )),
        other => Ok(other),
    }
}

/// Checks the events list's filters: a known event type, times in RFC 3339 or Unix seconds,
/// `from` not after `to`. `to` covers its whole second, as `created_at` is shown to the second.
fn event_filter(query: ListEvents) -> Result<EventFilter, GatewayError> {
    let time = |text: Option<String>, field: &str| {
        text.map(|t| {
            Timestamp::parse_client(&t).ok_or_else(|| {
                GatewayError::bad_request(format!(
                    "{field} must be an RFC 3339 time or Unix seconds"
                ))
            })
        })
        .transpose()
    };
    let event_type = query
        .event_type
        .map(|name| {
            EventType::parse(&name)
                .ok_or_else(|| GatewayError::bad_request("type is not a known event type"))
        })
        .transpose()?;
    let from = time(query.from, "from")?;
    let to = time(query.to, "to")?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(GatewayError::bad_request("from must not be after to"));
    }
    Ok(EventFilter {
        event_type,
        created_from: from,
        created_before: to
            .map(|t| Timestamp::from_millis(t.as_secs().saturating_add(1).saturating_mul(1000))),
    })
}

/// What a missing endpoint is called in a 404.
const ENDPOINT: &str = "Webhook endpoint";

/// A client's endpoint id; a malformed one cannot exist, so it answers 404.
fn endpoint_id(id: &str) -> Result<EndpointId, GatewayError> {
    EndpointId::parse(id).ok_or(GatewayError::NotFound(ENDPOINT))
}

/// `webhooks/config`'s `webhook_url`: see [`check_webhook_url`].
fn validate_webhook_url(url: &str) -> Result<(), GatewayError> {
    check_webhook_url(url, "webhook_url")
}

/// An endpoint's `url`: see [`check_webhook_url`].
fn validate_endpoint_url(url: &str) -> Result<(), GatewayError> {
    check_webhook_url(url, "url")
}

/// The rules every webhook URL follows, the default endpoint's and each endpoint's: an http(s)
/// URL of bounded length (private addresses are refused at delivery time, on the resolved
/// address). `field` names it in the error.
fn check_webhook_url(url: &str, field: &str) -> Result<(), GatewayError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
    if url.len() > MAX_URL_LEN
        || !host_ok
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(GatewayError::bad_request(format!(
            "{field} must be an http or https URL"
        )));
    }
    Ok(())
}

#[async_trait]
impl Gateway for GatewayService {
    async fn authenticate(
        &self,
        api_key: &str,
        api_secret: &str,
    ) -> Result<MerchantId, GatewayError> {
        if api_key.is_empty()
            || api_secret.is_empty()
            || api_key.len() > 128
            || api_secret.len() > 256
        {
            return Err(GatewayError::Authentication);
        }
        let verified = |credential: Option<StoredCredential>| {
            credential
                .filter(|c| self.hasher.verify(api_secret, &c.api_secret_hash))
                .map(|c| c.merchant_id)
        };
        let (credential, from_cache) = self.credential(api_key, false).await?;
        if let Some(merchant) = verified(credential) {
            return Ok(merchant);
        }
        // A secret rotated since it was cached only matches the stored hash: ask the database once.
        if from_cache && let Some(merchant) = verified(self.credential(api_key, true).await?.0) {
            return Ok(merchant);
        }
        Err(GatewayError::Authentication)
    }

    async fn create_order_with_key(
        &self,
        merchant: MerchantId,
        request: CreateOrder,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Order>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        if request.amount < MIN_ORDER_AMOUNT {
            return Err(GatewayError::bad_request(format!(
                "amount must be at least {MIN_ORDER_AMOUNT}"
            )));
        }
        let amount =
            Amount::new(request.amount).map_err(|e| GatewayError::bad_request(e.to_string()))?;
        let currency = match request.currency.as_deref() {
            None => Currency::INR,
            Some(code) => Currency::parse(code).ok_or_else(|| {
                GatewayError::bad_request("currency must be a supported ISO 4217 code")
            })?,
        };
        let notes = request.notes.unwrap_or_default();
        if serde_json::to_string(&notes).map_or(true, |s| s.len() > MAX_NOTES_BYTES) {
            return Err(GatewayError::bad_request(format!(
                "notes must be at most {MAX_NOTES_BYTES} bytes"
            )));
        }
        let now = self.clock.now();
        let order = Order {
            id: OrderId::generate(),
            merchant_id: merchant,
            amount,
            currency,
            receipt: optional_text(request.receipt, "receipt")?,
            notes,
            status: OrderStatus::Created,
            created_at: now,
            updated_at: now,
        };
        let record = self.record(key.as_ref(), &order)?;
        let result = self.store.create_order(&order, record.as_ref()).await;
        self.settle_idempotent(merchant, key.as_ref(), result, order)
            .await
    }

    async fn get_order(&self, merchant: MerchantId, id: &OrderId) -> Result<Order, GatewayError> {
        self.store
            .order(merchant, id)
            .await?
            .ok_or(GatewayError::NotFound("Order"))
    }

    async fn list_orders(
        &self,
        merchant: MerchantId,
        filter: OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, GatewayError> {
        Ok(self
            .store
            .list_orders(merchant, &filter, Self::page(page)?)
            .await?)
    }

    async fn create_payment_with_key(
        &self,
        merchant: MerchantId,
        request: CreatePayment,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Payment>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let now = self.clock.now();
        let (instrument, verdict) = match request.method {
            PaymentMethod::Upi => {
                let vpa = request
                    .vpa
                    .as_deref()
                    .ok_or_else(|| GatewayError::bad_request("vpa is required for UPI payments"))?;
                (validate_vpa(vpa)?, vpa_verdict(vpa))
            }
            PaymentMethod::Card => {
                let card = request.card.as_ref().ok_or_else(|| {
                    GatewayError::bad_request("card is required for card payments")
                })?;
                validate_card(card, now.year_month())?
            }
        };
        let order_id = request.order_id;
        // The store decides, under lock, whether the order takes this payment.
        let order = self
            .store
            .order(merchant, &order_id)
            .await?
            .ok_or(GatewayError::NotFound("Order"))?;
        let payment = Payment::new_pending(
            merchant,
            order.id,
            order.amount,
            order.currency,
            instrument,
            now,
        );
        let job = NewJob::process_payment(
            &payment.id,
            verdict,
            now.plus(self.processor.payment_delay(payment.method)),
        );
        let events = [
            Event::payment(EventType::PaymentCreated, &payment, now),
            Event::payment(EventType::PaymentPending, &payment, now),
        ];
        let record = self.record(key.as_ref(), &payment)?;
        let result = self
            .store
            .create_payment(&payment, &job, &events, record.as_ref())
            .await;
        if result.is_ok() {
            metrics::payment_created(payment.method);
        }
        let outcome = self
            .settle_idempotent(merchant, key.as_ref(), result, payment)
            .await?;
        self.jobs_enqueued.notify_one();
        Ok(outcome)
    }

    async fn get_payment(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
    ) -> Result<Payment, GatewayError> {
        self.store
            .payment(Some(merchant), id)
            .await?
            .ok_or(GatewayError::NotFound("Payment"))
    }

    async fn list_payments(
        &self,
        merchant: MerchantId,
        filter: PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>, GatewayError> {
        Ok(self
            .store
            .list_payments(merchant, &filter, Self::page(page)?)
            .await?)
    }

    async fn capture_payment_with_key(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
        request: CapturePayment,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Payment>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        // Decided here to refuse early and to know the response; decided again by the store over
        // the locked snapshot, which may have gained a refund meanwhile.
        let captured = self
            .payment_snapshot(merchant, id)
            .await?
            .capture(request.amount, self.clock.now())?;
        tokio::time::timeout(CAPTURE_TIMEOUT, self.processor.capture_payment(&captured))
            .await
            .unwrap_or(Err(ProcessorError::Timeout))?;
        let record = self.record(key.as_ref(), &captured)?;
        let result = self
            .store
            .capture_payment(&captured, request.amount, record.as_ref())
            .await;
        self.settle_idempotent(merchant, key.as_ref(), result, captured)
            .await
    }

    async fn create_refund_with_key(
        &self,
        merchant: MerchantId,
        payment_id: &PaymentId,
        request: CreateRefund,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Refund>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let snapshot = self.payment_snapshot(merchant, payment_id).await?;
        let payment = &snapshot.payment;
        let amount = match request.amount {
            None => payment.amount,
            Some(minor) => {
                Amount::new(minor).map_err(|e| GatewayError::bad_request(e.to_string()))?
            }
        };
        // Refused early here; the store decides again over the locked snapshot.
        snapshot.admit_refund(amount)?;
        let now = self.clock.now();
        let refund = Refund {
            id: RefundId::generate(),
            payment_id: payment.id.clone(),
            merchant_id: merchant,
            amount,
            reason: optional_text(request.reason, "reason")?,
            status: RefundStatus::Pending,
            created_at: now,
            processed_at: None,
        };
        let job = NewJob::process_refund(&refund.id, now.plus(self.processor.refund_delay()));
        let events = [Event::refund(EventType::RefundCreated, &refund, now)];
        let record = self.record(key.as_ref(), &refund)?;
        let result = self
            .store
            .create_refund(&refund, &job, &events, record.as_ref())
            .await;
        if result.is_ok() {
            metrics::refund_created();
        }
        let outcome = self
            .settle_idempotent(merchant, key.as_ref(), result, refund)
            .await?;
        self.jobs_enqueued.notify_one();
        Ok(outcome)
    }

    async fn get_refund(
        &self,
        merchant: MerchantId,
        id: &RefundId,
    ) -> Result<Refund, GatewayError> {
        self.store
            .refund(Some(merchant), id)
            .await?
            .ok_or(GatewayError::NotFound("Refund"))
    }

    async fn list_refunds(
        &self,
        merchant: MerchantId,
        payment_id: Option<&PaymentId>,
        page: PageRequest,
    ) -> Result<Page<Refund>, GatewayError> {
        Ok(self
            .store
            .list_refunds(merchant, payment_id, Self::page(page)?)
            .await?)
    }

    async fn webhook_config(&self, merchant: MerchantId) -> Result<WebhookConfig, GatewayError> {
        Ok(self.store.webhook_config(merchant).await?)
    }

    async fn update_webhook_config(
        &self,
        merchant: MerchantId,
        request: UpdateWebhookConfig,
    ) -> Result<WebhookConfig, GatewayError> {
        let url = request.webhook_url.filter(|u| !u.is_empty());
        if let Some(url) = &url {
            validate_webhook_url(url)?;
        }
        Ok(self
            .store
            .set_webhook_url(merchant, url.as_deref(), self.clock.now())
            .await?)
    }

    async fn rotate_webhook_secret_with_key(
        &self,
        merchant: MerchantId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<RotatedSecret>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let rotated = RotatedSecret {
            webhook_secret: generate_webhook_secret(),
        };
        let record = self.record(key.as_ref(), &rotated)?;
        let result = self
            .store
            .set_webhook_secret(
                merchant,
                &rotated.webhook_secret,
                self.clock.now(),
                record.as_ref(),
            )
            .await;
        self.settle_idempotent(merchant, key.as_ref(), result, rotated)
            .await
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>, GatewayError> {
        Ok(self
            .store
            .list_deliveries_matching(merchant, &filter, Self::page(page)?)
            .await?)
    }

    async fn get_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> Result<DeliveryDetail, GatewayError> {
        self.store
            .delivery(merchant, id)
            .await?
            .ok_or(GatewayError::NotFound("Webhook delivery"))
    }

    async fn retry_delivery_with_key(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<DeliveryScheduled>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let scheduled = DeliveryScheduled {
            id,
            status: DeliveryStatus::Pending,
            message: "Webhook retry scheduled".into(),
        };
        let record = self.record(key.as_ref(), &scheduled)?;
        let result = self
            .store
            .retry_delivery(merchant, id, self.clock.now(), record.as_ref())
            .await;
        let outcome = self
            .settle_idempotent(merchant, key.as_ref(), result, scheduled)
            .await?;
        self.jobs_enqueued.notify_one();
        Ok(outcome)
    }

    async fn send_test_webhook_with_key(
        &self,
        merchant: MerchantId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<DeliveryScheduled>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let event = Event::test(merchant, self.clock.now());
        let scheduled = DeliveryScheduled {
            id: event.delivery_id,
            status: DeliveryStatus::Pending,
            message: "Test webhook scheduled".into(),
        };
        let record = self.record(key.as_ref(), &scheduled)?;
        let result = self
            .store
            .create_test_delivery(&event, record.as_ref())
            .await;
        let outcome = self
            .settle_idempotent(merchant, key.as_ref(), result, scheduled)
            .await?;
        self.jobs_enqueued.notify_one();
        Ok(outcome)
    }

    async fn list_events(
        &self,
        merchant: MerchantId,
        filter: ListEvents,
        page: PageRequest,
    ) -> Result<Page<RecordedEvent>, GatewayError> {
        let filter = event_filter(filter)?;
        Ok(self
            .store
            .list_events(merchant, &filter, Self::page(page)?)
            .await?)
    }

    async fn get_event(
        &self,
        merchant: MerchantId,
        id: &EventId,
    ) -> Result<RecordedEvent, GatewayError> {
        self.store
            .event(merchant, id)
            .await?
            .ok_or(GatewayError::NotFound("Event"))
    }

    async fn resend_event_with_key(
        &self,
        merchant: MerchantId,
        id: &EventId,
        request: ResendEvent,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Resent>, GatewayError> {
        let endpoint = request
            .endpoint_id
            .as_deref()
            .map(endpoint_id)
            .transpose()?;
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let result = self
            .store
            .resend_event(
                merchant,
                id,
                endpoint.as_ref(),
                self.clock.now(),
                key.as_ref(),
            )
            .await;
        let (result, resent) = match result {
            Ok(resent) => (Ok(()), Some(resent)),
            Err(e) => (Err(e), None),
        };
        let outcome = match self
            .settle_idempotent(merchant, key.as_ref(), result, resent)
            .await?
        {
            Idempotent::Fresh(Some(resent)) => Idempotent::Fresh(resent),
            Idempotent::Fresh(None) => {
                return Err(GatewayError::Internal(
                    "resend settled without an answer".into(),
                ));
            }
            Idempotent::Replayed(body) => Idempotent::Replayed(body),
        };
        self.jobs_enqueued.notify_one();
        Ok(outcome)
    }

    async fn create_endpoint_with_key(
        &self,
        merchant: MerchantId,
        request: CreateEndpoint,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<EndpointWithSecret>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let created = EndpointWithSecret {
            endpoint: WebhookEndpoint::create(
                merchant,
                request,
                validate_endpoint_url,
                self.clock.now(),
            )?,
            secret: generate_webhook_secret(),
        };
        let record = self.record(key.as_ref(), &created)?;
        let result = self.store.create_endpoint(&created, record.as_ref()).await;
        self.settle_idempotent(merchant, key.as_ref(), result, created)
            .await
    }

    async fn list_endpoints(
        &self,
        merchant: MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, GatewayError> {
        Ok(self
            .store
            .list_endpoints(merchant, Self::page(page)?)
            .await?)
    }

    async fn get_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<WebhookEndpoint, GatewayError> {
        self.store
            .endpoint(merchant, id)
            .await?
            .ok_or(GatewayError::NotFound(ENDPOINT))
    }

    async fn update_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        request: UpdateEndpoint,
    ) -> Result<WebhookEndpoint, GatewayError> {
        let patch = EndpointPatch::parse(request, validate_endpoint_url)?;
        Ok(self
            .store
            .update_endpoint(merchant, id, &patch, self.clock.now())
            .await?)
    }

    async fn delete_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<(), GatewayError> {
        Ok(self.store.delete_endpoint(merchant, id).await?)
    }

    async fn rotate_endpoint_secret_with_key(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<RotatedEndpointSecret>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let rotated = RotatedEndpointSecret {
            id: id.clone(),
            secret: generate_webhook_secret(),
            previous_secret_expires_at: self.clock.now().plus(SECRET_ROTATION_OVERLAP),
        };
        let record = self.record(key.as_ref(), &rotated)?;
        let result = self
            .store
            .rotate_endpoint_secret(
                merchant,
                &rotated.id,
                &rotated.secret,
                rotated.previous_secret_expires_at,
                self.clock.now(),
                record.as_ref(),
            )
            .await;
        self.settle_idempotent(merchant, key.as_ref(), result, rotated)
            .await
    }

    async fn recover_endpoint_with_key(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        request: RecoverEndpoint,
        key: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Recovering>, GatewayError> {
        if let Some(body) = self.replayed(merchant, key.as_ref()).await? {
            return Ok(Idempotent::Replayed(body));
        }
        let now = self.clock.now();
        let since = request.since(now)?;
        let result = self
            .store
            .recover_endpoint(merchant, id, since, now, key.as_ref())
            .await;
        let (result, recovering) = match result {
            Ok(recovering) => (Ok(()), Some(recovering)),
            Err(e) => (Err(e), None),
        };
        let outcome = match self
            .settle_idempotent(merchant, key.as_ref(), result, recovering)
            .await?
        {
            Idempotent::Fresh(Some(recovering)) => Idempotent::Fresh(recovering),
            Idempotent::Fresh(None) => {
                return Err(GatewayError::Internal(
                    "recover settled without an answer".into(),
                ));
            }
            Idempotent::Replayed(body) => Idempotent::Replayed(body),
        };
        self.jobs_enqueued.notify_one();
        Ok(outcome)
    }

    async fn payment_stats(
        &self,
        merchant: MerchantId,
        range: StatsRange,
        currency: Currency,
    ) -> Result<PaymentStats, GatewayError> {
        let window = range.window(self.clock.now());
        let rows = self.store.stats(merchant, currency, window).await?;
        Ok(PaymentStats::assemble(range, currency, window, rows))
    }

    async fn job_stats(&self) -> Result<JobStats, GatewayError> {
        let now = self.clock.now();
        let report = self.queue.queue_report(now).await?;
        let alive = self
            .store
            .last_heartbeat()
            .await?
            .is_some_and(|at| self.clock.now().since(at) < WORKER_HEARTBEAT_GRACE);
        Ok(JobStats {
            counts: report.totals(),
            worker_status: if alive {
                WorkerState::Running
            } else {
                WorkerState::Stopped
            },
            lag_seconds: report.lag(now).as_secs_f64(),
            queue: self.queue.backend_name(),
            dispatch: report.dispatch,
        })
    }

    async fn publishable_key(&self, api_key: &str) -> Result<PublicMerchant, GatewayError> {
        if api_key.is_empty() || api_key.len() > 128 {
            return Err(GatewayError::Authentication);
        }
        match self.credential(api_key, false).await?.0 {
            Some(c) => Ok(PublicMerchant {
                id: c.merchant_id,
                name: c.business_name,
            }),
            None => Err(GatewayError::Authentication),
        }
    }

    async fn checkout_order(
        &self,
        merchant: &PublicMerchant,
        order_id: &OrderId,
    ) -> Result<CheckoutOrder, GatewayError> {
        let order = self.get_order(merchant.id, order_id).await?;
        Ok(CheckoutOrder {
            id: order.id,
            amount: order.amount,
            currency: order.currency,
            status: order.status,
            merchant_name: merchant.name.clone(),
        })
    }

    async fn checkout_payment(
        &self,
        merchant: MerchantId,
        payment_id: &PaymentId,
    ) -> Result<CheckoutPayment, GatewayError> {
        let payment = self.get_payment(merchant, payment_id).await?;
        let result = match payment.status {
            PaymentStatus::Pending => None,
            status => {
                let secret = self.store.webhook_config(merchant).await?.webhook_secret;
                let unsigned = CheckoutResult {
                    payment_id: payment.id.to_string(),
                    order_id: payment.order_id.to_string(),
                    amount: payment.amount.minor(),
                    currency: payment.currency.code().to_owned(),
                    status: status.as_str().to_owned(),
                    // Signed at settlement: every poll gives the same timestamp and signature.
                    timestamp: payment.settled_at.unwrap_or(payment.updated_at).as_secs(),
                    signature: String::new(),
                };
                let signature = self
                    .signer
                    .sign_checkout(&secret, unsigned.signed_message().as_bytes())
                    .await?;
                Some(CheckoutResult {
                    signature,
                    ..unsigned
                })
            }
        };
        Ok(CheckoutPayment { payment, result })
    }

    async fn health(&self) -> Health {
        let now = self.clock.now();
        // The reasons are fixed texts: `/health` is public, the details go to the log.
        let (status, database, reason) = match self.store.ping().await {
            Err(e) => {
                tracing::warn!(error = %e, "health: the database does not answer");
                (
                    HealthStatus::Unhealthy,
                    DatabaseState::Disconnected,
                    Some("the database does not answer"),
                )
            }
            Ok(()) => match self.store.probe_write(now).await {
                Ok(()) => (HealthStatus::Healthy, DatabaseState::Connected, None),
                Err(e) => {
                    tracing::warn!(error = %e, "health: the database cannot commit a write");
                    (
                        HealthStatus::Degraded,
                        DatabaseState::ReadOnly,
                        Some("the database cannot commit a write"),
                    )
                }
            },
        };
        let queue = match self.queue.ping().await {
            _ if database == DatabaseState::Disconnected => QueueState::Disconnected,
            Ok(()) => QueueState::Connected,
            Err(e) => {
                tracing::warn!(error = %e, "health: the job queue does not answer");
                QueueState::Disconnected
            }
        };
        let (status, reason) = match (status, queue) {
            (HealthStatus::Healthy, QueueState::Disconnected) => (
                HealthStatus::Degraded,
                Some("the job queue does not answer"),
            ),
            other => (other.0, reason),
        };
        let worker = database != DatabaseState::Disconnected
            && self
                .store
                .last_heartbeat()
                .await
                .ok()
                .flatten()
                .is_some_and(|at| now.since(at) < WORKER_HEARTBEAT_GRACE);
        Health {
            status,
            database,
            reason: reason.map(str::to_owned),
            worker: if worker {
                WorkerState::Running
            } else {
                WorkerState::Stopped
            },
            queue,
            processor: self.processor.name(),
            timestamp: now.to_rfc3339(),
        }
    }
}
