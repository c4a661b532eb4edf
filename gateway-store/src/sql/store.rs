//! [`SqlStore`]: the one [`Store`] implementation, over a [`Backend`].

use std::ops::DerefMut;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::clock::Timestamp;
use gateway_core::endpoint::{EndpointPatch, EndpointWithSecret, WebhookEndpoint};
use gateway_core::endpoint_health::Recovering;
use gateway_core::environment::Environment;
use gateway_core::event::{Event, RecordedEvent};
use gateway_core::idempotency::{IdempotencyKey, IdempotencyRecord};
use gateway_core::ids::{
    DeliveryId, EndpointId, EventId, MerchantId, OrderId, PaymentId, RefundId,
};
use gateway_core::jobs::{ClaimedJob, Lease, NewJob};
use gateway_core::merchant::{Merchant, NewMerchant, StoredCredential};
use gateway_core::money::Currency;
use gateway_core::order::Order;
use gateway_core::payment::{Payment, PaymentSnapshot};
use gateway_core::refund::Refund;
use gateway_core::resend::Resent;
use gateway_core::stats::{StatsRows, StatsWindow};
use gateway_core::store::{
    DeliveryFilter, DeliveryTarget, EventFilter, OrderFilter, Page, PageRequest, PaymentFilter,
    PoolStatus, PruneBefore,
};
use gateway_core::webhook::{DeliveryAttempt, DeliveryDetail, WebhookConfig, WebhookDelivery};
use gateway_core::{JobOutbox, JobQueue, Store, StoreError};
use tokio::sync::Notify;

use super::dialect::{Dialect, Fut};
use super::{commands, endpoints, events, health, outbox, queue, reads};

/// A write command: runs inside the transaction the backend gives it, over arguments it may
/// be given more than once.
pub(crate) type Command<DB, A, T> =
    for<'c> fn(&'c mut <DB as Dialect>::Connection, &'c A) -> Fut<'c, T>;

/// What differs between the databases a [`SqlStore`] runs on.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// The database, as its readers see it.
    type DB: Dialect;
    /// The database, as write commands see it (SQLite's writer owns its connection).
    type Writes: Dialect;
    /// A reader connection, returned to its pool when dropped.
    type Reader: DerefMut<Target = <Self::DB as Dialect>::Connection> + Send;

    /// The backend's connection pools now.
    fn pools(&self) -> Vec<PoolStatus>;
    /// A connection for reads.
    async fn reader(&self) -> Result<Self::Reader, StoreError>;
    /// Runs `command` over `args` in one write transaction. With `wake`, workers in other
    /// processes hear of the jobs it enqueued once it commits.
    async fn transact<A, T>(
        &self,
        args: A,
        command: Command<Self::Writes, A, T>,
        wake: bool,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static;
    /// Runs a single-statement `command` over `args`, committed on its own.
    async fn autocommit<A, T>(
        &self,
        args: A,
        command: Command<Self::Writes, A, T>,
    ) -> Result<T, StoreError>
    where
        A: Send + Sync + 'static,
        T: Send + 'static;
    /// Claims up to `limit` due jobs for `worker` until `now + lease`.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError>;
    /// Logs a delivery attempt, updates the delivery and re-queues or completes its job, under
    /// the job's lease.
    async fn record_delivery_attempt(
        &self,
        lease: &Lease,
        attempt: &DeliveryAttempt,
        disable_after: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// See [`Store::subscribe_jobs`].
    async fn subscribe_jobs(&self, _wake: Arc<Notify>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The gateway's data in one SQL database.
#[derive(Debug, Clone)]
pub(crate) struct SqlStore<B> {
    /// The database and how it commits, locks and claims.
    pub(crate) backend: B,
}

impl<B: Backend> SqlStore<B> {
    /// A reader connection, for one of the shared reads.
    pub(super) async fn read(&self) -> Result<B::Reader, StoreError> {
        self.backend.reader().await
    }
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn ping(&self) -> Result<(), StoreError> {
        reads::ping::<B::DB>(&mut *self.read().await?).await
    }

    async fn probe_write(&self, now: Timestamp) -> Result<(), StoreError> {
        self.backend
            .autocommit(now, commands::probe_write::<B::Writes>)
            .await
    }

    async fn claim_environment(
        &self,
        requested: Environment,
        explicit: bool,
    ) -> Result<Option<Environment>, StoreError> {
        self.backend
            .transact(
                (requested, explicit),
                commands::claim_environment::<B::Writes>,
                false,
            )
            .await
    }

    async fn insert_merchant(&self, merchant: &NewMerchant) -> Result<(), StoreError> {
        let args = (merchant.clone(), false);
        self.backend
            .autocommit(args, commands::write_merchant::<B::Writes>)
            .await
    }

    async fn upsert_merchant(&self, merchant: &NewMerchant) -> Result<(), StoreError> {
        let args = (merchant.clone(), true);
        self.backend
            .autocommit(args, commands::write_merchant::<B::Writes>)
            .await
    }

    async fn rotate_api_secret(
        &self,
        id_or_email: &str,
        api_secret_hash: &[u8],
        now: Timestamp,
    ) -> Result<MerchantId, StoreError> {
        let args = (id_or_email.to_owned(), api_secret_hash.to_vec(), now);
        self.backend
            .autocommit(args, commands::rotate_api_secret::<B::Writes>)
            .await
    }

    async fn list_merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        reads::merchants::<B::DB>(&mut *self.read().await?).await
    }

    async fn credential(&self, api_key: &str) -> Result<Option<StoredCredential>, StoreError> {
        reads::credential::<B::DB>(&mut *self.read().await?, api_key).await
    }

    async fn webhook_config(&self, merchant: MerchantId) -> Result<WebhookConfig, StoreError> {
        endpoints::webhook_config::<B::DB>(&mut *self.read().await?, merchant)
            .await?
            .ok_or(StoreError::NotFound("Merchant"))
    }

    async fn set_webhook_url(
        &self,
        merchant: MerchantId,
        url: Option<&str>,
        now: Timestamp,
    ) -> Result<WebhookConfig, StoreError> {
        let args = (merchant, url.map(str::to_owned), now);
        self.backend
            .transact(args, endpoints::set_webhook_url::<B::Writes>, false)
            .await
    }

    async fn set_webhook_secret(
        &self,
        merchant: MerchantId,
        secret: &str,
        now: Timestamp,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (merchant, secret.to_owned(), now, idempotency.cloned());
        self.backend
            .transact(args, endpoints::set_webhook_secret::<B::Writes>, false)
            .await
    }

    async fn create_endpoint(
        &self,
        endpoint: &EndpointWithSecret,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (endpoint.clone(), idempotency.cloned());
        self.backend
            .transact(args, endpoints::create_endpoint::<B::Writes>, false)
            .await
    }

    async fn endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        endpoints::endpoint_row::<B::DB>(&mut *self.read().await?, merchant, id, false).await
    }

    async fn list_endpoints(
        &self,
        merchant: MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        endpoints::list_endpoints::<B::DB>(&mut *self.read().await?, merchant, page).await
    }

    async fn update_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError> {
        let args = (merchant, id.clone(), patch.clone(), now);
        self.backend
            .transact(args, endpoints::update_endpoint::<B::Writes>, false)
            .await
    }

    async fn delete_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
    ) -> Result<(), StoreError> {
        let args = (merchant, id.clone());
        self.backend
            .transact(args, endpoints::delete_endpoint::<B::Writes>, false)
            .await
    }

    async fn rotate_endpoint_secret(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (
            merchant,
            id.clone(),
            secret.to_owned(),
            previous_until,
            now,
            idempotency.cloned(),
        );
        self.backend
            .transact(args, endpoints::rotate_endpoint_secret::<B::Writes>, false)
            .await
    }

    async fn idempotency_record(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        reads::idempotency_record::<B::DB>(&mut *self.read().await?, merchant, key, now).await
    }

    async fn create_order(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (order.clone(), idempotency.cloned());
        if idempotency.is_none() {
            // A single INSERT then: committed on its own, it spares PostgreSQL's BEGIN and
            // COMMIT round trips.
            return self
                .backend
                .autocommit(args, commands::create_order::<B::Writes>)
                .await;
        }
        self.backend
            .transact(args, commands::create_order::<B::Writes>, false)
            .await
    }

    async fn order(&self, merchant: MerchantId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        reads::order::<B::DB>(&mut *self.read().await?, merchant, id).await
    }

    async fn list_orders(
        &self,
        merchant: MerchantId,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        reads::orders::<B::DB>(&mut *self.read().await?, merchant, filter, page).await
    }

    async fn create_payment(
        &self,
        payment: &Payment,
        job: &NewJob,
        events: &[Event],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (
            payment.clone(),
            job.clone(),
            events.to_vec(),
            idempotency.cloned(),
        );
        self.backend
            .transact(args, commands::create_payment::<B::Writes>, true)
            .await
    }

    async fn payment(
        &self,
        merchant: Option<MerchantId>,
        id: &PaymentId,
    ) -> Result<Option<Payment>, StoreError> {
        reads::payment::<B::DB>(&mut *self.read().await?, merchant, id).await
    }

    async fn payment_snapshot(
        &self,
        merchant: MerchantId,
        id: &PaymentId,
    ) -> Result<Option<PaymentSnapshot>, StoreError> {
        reads::payment_snapshot::<B::DB>(&mut *self.read().await?, merchant, id).await
    }

    async fn list_payments(
        &self,
        merchant: MerchantId,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>, StoreError> {
        reads::payments::<B::DB>(&mut *self.read().await?, merchant, filter, page).await
    }

    async fn stats(
        &self,
        merchant: MerchantId,
        currency: Currency,
        window: StatsWindow,
    ) -> Result<StatsRows, StoreError> {
        reads::stats::<B::DB>(&mut *self.read().await?, merchant, currency, window).await
    }

    async fn capture_payment(
        &self,
        captured: &Payment,
        amount: Option<i64>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (captured.clone(), amount, idempotency.cloned());
        self.backend
            .transact(args, commands::capture_payment::<B::Writes>, false)
            .await
    }

    async fn create_refund(
        &self,
        refund: &Refund,
        job: &NewJob,
        events: &[Event],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (
            refund.clone(),
            job.clone(),
            events.to_vec(),
            idempotency.cloned(),
        );
        self.backend
            .transact(args, commands::create_refund::<B::Writes>, true)
            .await
    }

    async fn refund(
        &self,
        merchant: Option<MerchantId>,
        id: &RefundId,
    ) -> Result<Option<Refund>, StoreError> {
        reads::refund::<B::DB>(&mut *self.read().await?, merchant, id).await
    }

    async fn list_refunds(
        &self,
        merchant: MerchantId,
        payment: Option<&PaymentId>,
        page: PageRequest,
    ) -> Result<Page<Refund>, StoreError> {
        reads::refunds::<B::DB>(&mut *self.read().await?, merchant, payment, page).await
    }

    async fn list_deliveries_matching(
        &self,
        merchant: MerchantId,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        reads::deliveries::<B::DB>(&mut *self.read().await?, merchant, filter, page).await
    }

    async fn delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        reads::delivery::<B::DB>(&mut *self.read().await?, merchant, id).await
    }

    async fn list_events(
        &self,
        merchant: MerchantId,
        filter: &EventFilter,
        page: PageRequest,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        events::list::<B::DB>(&mut *self.read().await?, merchant, filter, page).await
    }

    async fn event(
        &self,
        merchant: MerchantId,
        id: &EventId,
    ) -> Result<Option<RecordedEvent>, StoreError> {
        events::event::<B::DB>(&mut *self.read().await?, merchant, id).await
    }

    async fn retry_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (merchant, id, now, idempotency.cloned());
        self.backend
            .transact(args, commands::retry_delivery::<B::Writes>, true)
            .await
    }

    async fn create_test_delivery(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let args = (event.clone(), idempotency.cloned());
        self.backend
            .transact(args, commands::create_test_delivery::<B::Writes>, true)
            .await
    }

    async fn enqueue_job(&self, job: &NewJob, now: Timestamp) -> Result<(), StoreError> {
        self.backend
            .transact((job.clone(), now), queue::enqueue_job::<B::Writes>, true)
            .await
    }

    fn job_queue(self: Arc<Self>) -> Arc<dyn JobQueue> {
        self
    }

    fn job_outbox(self: Arc<Self>) -> Option<Arc<dyn JobOutbox>> {
        Some(self)
    }

    async fn delivery_target(&self, id: DeliveryId) -> Result<Option<DeliveryTarget>, StoreError> {
        reads::delivery_target::<B::DB>(&mut *self.read().await?, id).await
    }

    async fn settle_payment(
        &self,
        lease: &Lease,
        settled: &Payment,
        events: &[Event],
    ) -> Result<bool, StoreError> {
        // No cross-process wake-up: the settling worker wakes itself for the deliveries.
        let args = (lease.clone(), settled.clone(), events.to_vec());
        self.backend
            .transact(args, commands::settle_payment::<B::Writes>, false)
            .await
    }

    async fn settle_refund(
        &self,
        lease: &Lease,
        settled: &Refund,
        events: &[Event],
    ) -> Result<bool, StoreError> {
        let args = (lease.clone(), settled.clone(), events.to_vec());
        self.backend
            .transact(args, commands::settle_refund::<B::Writes>, false)
            .await
    }

    async fn record_delivery_attempt(
        &self,
        lease: &Lease,
        attempt: &DeliveryAttempt,
        disable_after: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.backend
            .record_delivery_attempt(lease, attempt, disable_after, now)
            .await
    }

    async fn recover_endpoint(
        &self,
        merchant: MerchantId,
        id: &EndpointId,
        since: Timestamp,
        now: Timestamp,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recovering, StoreError> {
        let args = (merchant, id.clone(), since, now, key.cloned());
        self.backend
            .transact(args, health::recover_endpoint::<B::Writes>, true)
            .await
    }

    async fn resend_event(
        &self,
        merchant: MerchantId,
        id: &EventId,
        endpoint: Option<&EndpointId>,
        now: Timestamp,
        key: Option<&IdempotencyKey>,
    ) -> Result<Resent, StoreError> {
        let args = (merchant, id.clone(), endpoint.cloned(), now, key.cloned());
        self.backend
            .transact(args, events::resend_event::<B::Writes>, true)
            .await
    }

    fn pools(&self) -> Vec<PoolStatus> {
        self.backend.pools()
    }

    async fn prune(&self, before: PruneBefore, limit: u32) -> Result<u64, StoreError> {
        self.backend
            .transact((before, limit), outbox::prune::<B::Writes>, false)
            .await
    }

    async fn heartbeat(&self, worker: &str, now: Timestamp) -> Result<(), StoreError> {
        self.backend
            .autocommit((worker.to_owned(), now), queue::heartbeat::<B::Writes>)
            .await
    }

    async fn last_heartbeat(&self) -> Result<Option<Timestamp>, StoreError> {
        reads::last_heartbeat::<B::DB>(&mut *self.read().await?).await
    }
}
