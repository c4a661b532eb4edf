//! `impl Store for PostgresStore`: every command one `READ COMMITTED` transaction whose
//! invariant is held by row locks and conditional updates (see the module docs for lock order).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::clock::Timestamp;
use gateway_core::event::Event;
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::ids::{DeliveryId, MerchantId, OrderId, PaymentId, RefundId};
use gateway_core::jobs::{ClaimedJob, JobCounts, JobKind, Lease, NewJob};
use gateway_core::merchant::{Merchant, NewMerchant, StoredCredential};
use gateway_core::money::Currency;
use gateway_core::order::{Order, OrderStatus};
use gateway_core::payment::{Payment, PaymentStatus};
use gateway_core::refund::{Refund, RefundStatus, check_refundable};
use gateway_core::stats::{StatsRows, StatsWindow};
use gateway_core::store::{DeliveryTarget, OrderFilter, Page, PageRequest, PaymentFilter};
use gateway_core::webhook::{DeliveryAttempt, DeliveryDetail, WebhookConfig, WebhookDelivery};
use gateway_core::{Store, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;
use tokio::sync::Notify;

use super::PostgresStore;
use super::outbox::{
    claim_idempotency_key, complete_leased_job, insert_job, notify_jobs, record_events,
};
use crate::error::db_error;
use crate::rows;

fn collect<T>(
    rows: Vec<PgRow>,
    map: fn(&PgRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(map).collect()
}

fn page<T>(data: Vec<T>, total: i64, request: PageRequest) -> Page<T> {
    Page {
        data,
        total,
        limit: request.limit,
        offset: request.offset,
    }
}

impl PostgresStore {
    /// Inserts a merchant row; `on_conflict` is an optional `ON CONFLICT …` clause.
    async fn write_merchant(
        &self,
        new: &NewMerchant,
        on_conflict: &'static str,
    ) -> Result<(), StoreError> {
        let m = &new.merchant;
        let sql = format!(
            "INSERT INTO merchants (id, email, business_name, api_key, api_secret_hash, webhook_url, webhook_secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) {on_conflict}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(m.id.to_string())
            .bind(&m.email)
            .bind(&m.business_name)
            .bind(&m.api_key)
            .bind(&new.api_secret_hash)
            .bind(&m.webhook_url)
            .bind(&new.webhook_secret)
            .bind(m.created_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)
            .map(|_| ())
    }

    async fn insert_merchant(&self, new: &NewMerchant) -> Result<(), StoreError> {
        self.write_merchant(new, "").await
    }

    async fn upsert_merchant(&self, new: &NewMerchant) -> Result<(), StoreError> {
        self.write_merchant(new, "ON CONFLICT (id) DO UPDATE SET api_key = excluded.api_key, api_secret_hash = excluded.api_secret_hash").await
    }

    async fn rotate_api_secret(
        &self,
        id_or_email: &str,
        api_secret_hash: &[u8],
        now: Timestamp,
    ) -> Result<MerchantId, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "UPDATE merchants SET api_secret_hash = $1, updated_at = $2 WHERE id = $3 OR email = $3 RETURNING id",
        )
        .bind(api_secret_hash)
        .bind(now.as_millis())
        .bind(id_or_email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let id = id.ok_or(StoreError::NotFound("Merchant"))?;
        uuid::Uuid::parse_str(&id).map_err(|_| StoreError::Other("unreadable merchant id".into()))
    }

    async fn list_merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM merchants ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        collect(rows, rows::merchant)
    }

    async fn credential(&self, api_key: &str) -> Result<Option<StoredCredential>, StoreError> {
        let row = sqlx::query(
            "SELECT id, api_secret_hash, business_name FROM merchants WHERE api_key = $1",
        )
        .bind(api_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| {
            let id: String = r.try_get("id").map_err(db_error)?;
            Ok(StoredCredential {
                merchant_id: uuid::Uuid::parse_str(&id)
                    .map_err(|_| StoreError::Other("bad merchant id".into()))?,
                api_secret_hash: r.try_get("api_secret_hash").map_err(db_error)?,
                business_name: r.try_get("business_name").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn webhook_config(&self, merchant: MerchantId) -> Result<WebhookConfig, StoreError> {
        let row = sqlx::query("SELECT webhook_url, webhook_secret FROM merchants WHERE id = $1")
            .bind(merchant.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or(StoreError::NotFound("Merchant"))?;
        rows::webhook_config(&row)
    }

    async fn set_webhook_url(
        &self,
        merchant: MerchantId,
        url: Option<&str>,
        now: Timestamp,
    ) -> Result<WebhookConfig, StoreError> {
        let row = sqlx::query("UPDATE merchants SET webhook_url = $1, updated_at = $2 WHERE id = $3 RETURNING webhook_url, webhook_secret")
            .bind(url)
            .bind(now.as_millis())
            .bind(merchant.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or(StoreError::NotFound("Merchant"))?;
        rows::webhook_config(&row)
    }

    async fn set_webhook_secret(
        &self,
        merchant: MerchantId,
        secret: &str,
        now: Timestamp,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let merchant = merchant.to_string();
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &merchant, idem).await?;
        let updated =
            sqlx::query("UPDATE merchants SET webhook_secret = $1, updated_at = $2 WHERE id = $3")
                .bind(secret)
                .bind(now.as_millis())
                .bind(&merchant)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("Merchant"));
        }
        tx.commit().await.map_err(db_error)
    }

    async fn idempotency_record(
        &self,
        merchant: MerchantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 AND expires_at > $3")
            .bind(merchant.to_string())
            .bind(key)
            .bind(now.as_millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| {
            Ok(IdempotencyRecord {
                key: r.try_get("key").map_err(db_error)?,
                fingerprint: r.try_get("fingerprint").map_err(db_error)?,
                response: r.try_get("response").map_err(db_error)?,
                created_at: Timestamp::from_millis(r.try_get("created_at").map_err(db_error)?),
                expires_at: Timestamp::from_millis(r.try_get("expires_at").map_err(db_error)?),
            })
        })
        .transpose()
    }

    async fn create_order(
        &self,
        order: &Order,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let merchant = order.merchant_id.to_string();
        let notes =
            serde_json::to_string(&order.notes).map_err(|e| StoreError::Other(e.to_string()))?;
        let insert = sqlx::query(
            "INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(order.id.as_str())
        .bind(&merchant)
        .bind(order.amount.minor())
        .bind(order.currency.code())
        .bind(&order.receipt)
        .bind(notes)
        .bind(order.status.as_str())
        .bind(order.created_at.as_millis())
        .bind(order.updated_at.as_millis());
        if idem.is_none() {
            // One statement is its own transaction: one round trip instead of three.
            insert.execute(&self.pool).await.map_err(db_error)?;
            return Ok(());
        }
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &merchant, idem).await?;
        insert.execute(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn order(&self, merchant: MerchantId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query("SELECT * FROM orders WHERE id = $1 AND merchant_id = $2")
            .bind(id.as_str())
            .bind(merchant.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::order).transpose()
    }

    async fn list_orders(
        &self,
        merchant: MerchantId,
        filter: &OrderFilter,
        request: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let merchant = merchant.to_string();
        let status = filter.status.map(OrderStatus::as_str);
        let total = sqlx::query_scalar(
            "SELECT COUNT(*) FROM orders WHERE merchant_id = $1 AND ($2 IS NULL OR status = $2)",
        )
        .bind(&merchant)
        .bind(status)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT * FROM orders WHERE merchant_id = $1 AND ($2 IS NULL OR status = $2)
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(&merchant)
        .bind(status)
        .bind(request.limit)
        .bind(request.offset)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(page(collect(rows, rows::order)?, total, request))
    }

    async fn stats(
        &self,
        merchant: MerchantId,
        currency: Currency,
        window: StatsWindow,
    ) -> Result<StatsRows, StoreError> {
        let merchant = merchant.to_string();
        let (from, to) = (window.from.as_millis(), window.to().as_millis());
        let payments = sqlx::query(
            "SELECT (created_at - $3) / $5 AS bucket, status, COUNT(*)::BIGINT AS n, COALESCE(SUM(amount), 0)::BIGINT AS amount
             FROM payments
             WHERE merchant_id = $1 AND currency = $2 AND created_at >= $3 AND created_at < $4
             GROUP BY 1, 2",
        )
        .bind(&merchant)
        .bind(currency.code())
        .bind(from)
        .bind(to)
        .bind(window.bucket_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let refunds = sqlx::query(
            "SELECT COUNT(*)::BIGINT AS n, COALESCE(SUM(r.amount), 0)::BIGINT AS amount,
                    COALESCE(SUM(CASE WHEN r.status = 'processed' THEN r.amount ELSE 0 END), 0)::BIGINT AS processed_amount
             FROM refunds r JOIN payments p ON p.id = r.payment_id
             WHERE r.merchant_id = $1 AND p.currency = $2 AND r.created_at >= $3 AND r.created_at < $4",
        )
        .bind(&merchant)
        .bind(currency.code())
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let deliveries = sqlx::query(
            "SELECT status, COUNT(*)::BIGINT AS n FROM webhook_deliveries
             WHERE merchant_id = $1 AND created_at >= $2 AND created_at < $3
             GROUP BY status",
        )
        .bind(&merchant)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(StatsRows {
            payments: collect(payments, rows::payment_bucket)?,
            refunds: rows::refund_totals(&refunds)?,
            webhooks: rows::webhook_health(&deliveries)?,
        })
    }

    async fn create_payment(
        &self,
        payment: &Payment,
        job: &NewJob,
        events: &[Event],
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let merchant = payment.merchant_id.to_string();
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &merchant, idem).await?;
        let order_status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM orders WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
        )
        .bind(payment.order_id.as_str())
        .bind(&merchant)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        match order_status.as_deref() {
            None => return Err(StoreError::NotFound("Order")),
            Some("paid") => {
                return Err(StoreError::InvalidState(
                    "Order has already been paid".into(),
                ));
            }
            Some(_) => {}
        }
        // One live payment per order: another may only follow a failed one. (A unique partial
        // index enforces the same; this check gives the clear message.)
        let live: Option<String> = sqlx::query_scalar(
            "SELECT status FROM payments WHERE order_id = $1 AND status IN ('pending', 'success') LIMIT 1",
        )
        .bind(payment.order_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if live.is_some() {
            return Err(StoreError::InvalidState(
                "Order already has a payment in progress".into(),
            ));
        }
        let (expiry_month, expiry_year) = payment.card_expiry.map_or((None, None), |(m, y)| {
            (Some(i32::from(m)), Some(i32::from(y)))
        });
        sqlx::query(
            "INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, vpa, card_network, card_last4,
                                   card_expiry_month, card_expiry_year, status, captured, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, false, $13, $13)",
        )
        .bind(payment.id.as_str())
        .bind(payment.order_id.as_str())
        .bind(&merchant)
        .bind(payment.amount.minor())
        .bind(payment.currency.code())
        .bind(payment.method.as_str())
        .bind(&payment.vpa)
        .bind(&payment.card_network)
        .bind(&payment.card_last4)
        .bind(expiry_month)
        .bind(expiry_year)
        .bind(payment.status.as_str())
        .bind(payment.created_at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("UPDATE orders SET status = 'attempted', updated_at = $1 WHERE id = $2 AND status = 'created'")
            .bind(payment.created_at.as_millis())
            .bind(payment.order_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_job(&mut tx, job, payment.created_at).await?;
        record_events(&mut tx, events, false).await?;
        notify_jobs(&mut tx).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn payment(
        &self,
        merchant: Option<MerchantId>,
        id: &PaymentId,
    ) -> Result<Option<Payment>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM payments WHERE id = $1 AND ($2 IS NULL OR merchant_id = $2)",
        )
        .bind(id.as_str())
        .bind(merchant.map(|m| m.to_string()))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::payment).transpose()
    }

    async fn list_payments(
        &self,
        merchant: MerchantId,
        filter: &PaymentFilter,
        request: PageRequest,
    ) -> Result<Page<Payment>, StoreError> {
        let merchant = merchant.to_string();
        let status = filter.status.map(PaymentStatus::as_str);
        let order = filter.order_id.as_ref().map(OrderId::as_str);
        let total = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE merchant_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR order_id = $3)",
        )
        .bind(&merchant)
        .bind(status)
        .bind(order)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT * FROM payments WHERE merchant_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR order_id = $3)
             ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
        )
        .bind(&merchant)
        .bind(status)
        .bind(order)
        .bind(request.limit)
        .bind(request.offset)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(page(collect(rows, rows::payment)?, total, request))
    }

    async fn capture_payment(
        &self,
        captured: &Payment,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let merchant = captured.merchant_id.to_string();
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &merchant, idem).await?;
        let updated = sqlx::query(
            "UPDATE payments SET captured = true, updated_at = $1
             WHERE id = $2 AND merchant_id = $3 AND status = 'success' AND NOT captured",
        )
        .bind(captured.updated_at.as_millis())
        .bind(captured.id.as_str())
        .bind(&merchant)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::InvalidState(
                "Payment not in capturable state".into(),
            ));
        }
        tx.commit().await.map_err(db_error)
    }

    async fn create_refund(
        &self,
        refund: &Refund,
        job: &NewJob,
        events: &[Event],
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let merchant = refund.merchant_id.to_string();
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &merchant, idem).await?;
        // Concurrent refunds of one payment queue on its row lock, so each sees the others' sums.
        let row = sqlx::query(
            "SELECT amount, status FROM payments WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
        )
        .bind(refund.payment_id.as_str())
        .bind(&merchant)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound("Payment"))?;
        let status: String = row.try_get("status").map_err(db_error)?;
        if status != PaymentStatus::Success.as_str() {
            return Err(StoreError::InvalidState(
                "Payment not in refundable state".into(),
            ));
        }
        let paid = gateway_core::money::Amount::new(row.try_get("amount").map_err(db_error)?)
            .map_err(|_| StoreError::Other("unreadable payment amount".into()))?;
        let refunded: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(amount), 0)::BIGINT FROM refunds WHERE payment_id = $1 AND status <> 'failed'",
        )
        .bind(refund.payment_id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        check_refundable(paid, refunded, refund.amount)
            .map_err(|available| StoreError::RefundExceedsPayment { available })?;
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, merchant_id, amount, reason, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(refund.id.as_str())
        .bind(refund.payment_id.as_str())
        .bind(&merchant)
        .bind(refund.amount.minor())
        .bind(&refund.reason)
        .bind(refund.status.as_str())
        .bind(refund.created_at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_job(&mut tx, job, refund.created_at).await?;
        record_events(&mut tx, events, false).await?;
        notify_jobs(&mut tx).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn refund(
        &self,
        merchant: Option<MerchantId>,
        id: &RefundId,
    ) -> Result<Option<Refund>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM refunds WHERE id = $1 AND ($2 IS NULL OR merchant_id = $2)")
                .bind(id.as_str())
                .bind(merchant.map(|m| m.to_string()))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        row.as_ref().map(rows::refund).transpose()
    }

    async fn list_refunds(
        &self,
        merchant: MerchantId,
        payment: Option<&PaymentId>,
        request: PageRequest,
    ) -> Result<Page<Refund>, StoreError> {
        let merchant = merchant.to_string();
        let payment = payment.map(PaymentId::as_str);
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM refunds WHERE merchant_id = $1 AND ($2 IS NULL OR payment_id = $2)")
            .bind(&merchant)
            .bind(payment)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT * FROM refunds WHERE merchant_id = $1 AND ($2 IS NULL OR payment_id = $2)
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(&merchant)
        .bind(payment)
        .bind(request.limit)
        .bind(request.offset)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(page(collect(rows, rows::refund)?, total, request))
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        request: PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        let merchant = merchant.to_string();
        let total =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE merchant_id = $1")
                .bind(&merchant)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        let rows = sqlx::query("SELECT * FROM webhook_deliveries WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")
            .bind(&merchant)
            .bind(request.limit)
            .bind(request.offset)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(page(collect(rows, rows::delivery)?, total, request))
    }

    async fn delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1 AND merchant_id = $2")
                .bind(id.to_string())
                .bind(merchant.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let attempts =
            sqlx::query("SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(Some(DeliveryDetail {
            delivery: rows::delivery(&row)?,
            attempt_log: collect(attempts, rows::attempt)?,
        }))
    }

    async fn retry_delivery(
        &self,
        merchant: MerchantId,
        id: DeliveryId,
        now: Timestamp,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let merchant = merchant.to_string();
        let id_text = id.to_string();
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &merchant, idem).await?;
        // Lock the delivery, then its live jobs (the order record_delivery_attempt uses too): a
        // worker claiming the queued job concurrently either committed first (we see it running)
        // or skips the row we hold.
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
        )
        .bind(&id_text)
        .bind(&merchant)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if exists.is_none() {
            return Err(StoreError::NotFound("Webhook delivery"));
        }
        let live: Vec<String> = sqlx::query_scalar(
            "SELECT status FROM jobs WHERE entity_id = $1 AND kind = $2 AND status IN ('queued', 'running') FOR UPDATE",
        )
        .bind(&id_text)
        .bind(JobKind::DeliverWebhook.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if live.iter().any(|status| status == "running") {
            return Err(StoreError::Conflict(
                "An attempt of this delivery is in progress; retry shortly".into(),
            ));
        }
        // Supersede a scheduled automatic retry: the manual one takes its place.
        sqlx::query("UPDATE jobs SET status = 'completed', updated_at = $1 WHERE entity_id = $2 AND kind = $3 AND status = 'queued'")
            .bind(now.as_millis())
            .bind(&id_text)
            .bind(JobKind::DeliverWebhook.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_retry_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now.as_millis())
            .bind(&id_text)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_job(&mut tx, &NewJob::deliver_webhook(id, now), now).await?;
        notify_jobs(&mut tx).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn create_test_delivery(
        &self,
        event: &Event,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        claim_idempotency_key(&mut tx, &event.merchant_id.to_string(), idem).await?;
        if record_events(&mut tx, std::slice::from_ref(event), true).await? > 0 {
            notify_jobs(&mut tx).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn delivery_target(&self, id: DeliveryId) -> Result<Option<DeliveryTarget>, StoreError> {
        let row = sqlx::query(
            "SELECT d.*, m.webhook_url AS target_url, m.webhook_secret AS target_secret
             FROM webhook_deliveries d JOIN merchants m ON m.id = d.merchant_id WHERE d.id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| {
            Ok(DeliveryTarget {
                delivery: rows::delivery(&r)?,
                payload: r.try_get("payload").map_err(db_error)?,
                url: r.try_get("target_url").map_err(db_error)?,
                secret: r.try_get("target_secret").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now_ms = now.as_millis();
        let mut tx = self.begin_bookkeeping().await?;
        // A job whose worker died on its last allowed attempt is not retried forever. Rows another
        // claimer holds are skipped here too (it fails them itself).
        sqlx::query(
            "UPDATE jobs SET status = 'failed', locked_by = NULL, locked_until = NULL, updated_at = $1,
                    last_error = COALESCE(last_error, 'lease expired on the final attempt')
             WHERE id IN (SELECT id FROM jobs WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts
                          FOR UPDATE SKIP LOCKED)",
        )
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let rows = sqlx::query(
            "WITH due AS (
                 SELECT id FROM jobs
                 WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1)
                 ORDER BY run_at, id
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             UPDATE jobs j SET status = 'running', locked_by = $2, locked_until = $3, attempts = j.attempts + 1, updated_at = $1
             FROM due WHERE j.id = due.id
             RETURNING j.id, j.kind, j.entity_id, j.payload, j.attempts, j.max_attempts",
        )
        .bind(now_ms)
        .bind(worker)
        .bind(now.plus(lease).as_millis())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let mut jobs = rows
            .iter()
            .map(|r| {
                let id: i64 = r.try_get("id").map_err(db_error)?;
                Ok(ClaimedJob {
                    id,
                    kind: JobKind::parse(&r.try_get::<String, _>("kind").map_err(db_error)?),
                    entity_id: r.try_get("entity_id").map_err(db_error)?,
                    payload: r.try_get("payload").map_err(db_error)?,
                    attempt: r.try_get("attempts").map_err(db_error)?,
                    max_attempts: r.try_get("max_attempts").map_err(db_error)?,
                    lease: Lease {
                        job_id: id,
                        worker: worker.to_owned(),
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING has no order; hand jobs out oldest first, as SQLite does.
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE status = 'queued'")
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(due.map(Timestamp::from_millis))
    }

    async fn complete_job(&self, lease: &Lease, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        complete_leased_job(&mut tx, lease, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn defer_job(
        &self,
        lease: &Lease,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_at = $1, attempts = GREATEST(attempts - 1, 0), locked_by = NULL,
                    locked_until = NULL, updated_at = $2
             WHERE id = $3 AND status = 'running' AND locked_by = $4",
        )
        .bind(run_at.as_millis())
        .bind(now.as_millis())
        .bind(lease.job_id)
        .bind(&lease.worker)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE jobs SET status = CASE WHEN $1 IS NULL THEN 'failed' ELSE 'queued' END,
                    run_at = COALESCE($1, run_at), last_error = $2, locked_by = NULL, locked_until = NULL, updated_at = $3
             WHERE id = $4 AND status = 'running' AND locked_by = $5",
        )
        .bind(retry_at.map(Timestamp::as_millis))
        .bind(error)
        .bind(now.as_millis())
        .bind(lease.job_id)
        .bind(&lease.worker)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    async fn settle_payment(
        &self,
        lease: &Lease,
        settled: &Payment,
        events: &[Event],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        complete_leased_job(&mut tx, lease, settled.updated_at).await?;
        let updated = sqlx::query(
            "UPDATE payments SET status = $1, error_code = $2, error_description = $3, updated_at = $4
             WHERE id = $5 AND status = 'pending'",
        )
        .bind(settled.status.as_str())
        .bind(&settled.error_code)
        .bind(&settled.error_description)
        .bind(settled.updated_at.as_millis())
        .bind(settled.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let applied = updated.rows_affected() == 1;
        if applied {
            if settled.status == PaymentStatus::Success {
                sqlx::query("UPDATE orders SET status = 'paid', updated_at = $1 WHERE id = $2 AND status != 'paid'")
                    .bind(settled.updated_at.as_millis())
                    .bind(settled.order_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            // No NOTIFY: the settling worker wakes itself for the deliveries, and a NOTIFY
            // serialises every committing transaction on the notification queue's lock.
            record_events(&mut tx, events, false).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(applied)
    }

    async fn settle_refund(
        &self,
        lease: &Lease,
        settled: &Refund,
        events: &[Event],
    ) -> Result<bool, StoreError> {
        let now = settled.processed_at.unwrap_or(settled.created_at);
        let mut tx = self.begin().await?;
        complete_leased_job(&mut tx, lease, now).await?;
        let updated = sqlx::query("UPDATE refunds SET status = $1, processed_at = $2, updated_at = $3 WHERE id = $4 AND status = 'pending'")
            .bind(settled.status.as_str())
            .bind(settled.processed_at.map(Timestamp::as_millis))
            .bind(now.as_millis())
            .bind(settled.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let applied = updated.rows_affected() == 1 && settled.status != RefundStatus::Pending;
        if applied {
            // No NOTIFY, as in `settle_payment`.
            record_events(&mut tx, events, false).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(applied)
    }

    async fn record_delivery_attempt(
        &self,
        lease: &Lease,
        attempt: &DeliveryAttempt,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = attempt.delivery_id.to_string();
        let mut tx = self.begin_bookkeeping().await?;
        // One statement: lock the delivery row before its job (as retry_delivery does), requeue
        // or complete the job under its lease, update the delivery and log the attempt. The
        // attempt is logged only if the lease was still held.
        let logged = sqlx::query(
            "WITH delivery AS (
                 SELECT id FROM webhook_deliveries WHERE id = $10 FOR UPDATE),
             job AS (
                 UPDATE jobs SET status = CASE WHEN $4::BIGINT IS NULL THEN 'completed' ELSE 'queued' END,
                        run_at = COALESCE($4::BIGINT, run_at),
                        attempts = CASE WHEN $4::BIGINT IS NULL THEN attempts ELSE 0 END,
                        locked_by = NULL, locked_until = NULL, updated_at = $9
                  WHERE id = $11 AND status = 'running' AND locked_by = $12 AND EXISTS (SELECT 1 FROM delivery)
                  RETURNING id),
             updated AS (
                 UPDATE webhook_deliveries SET status = $1, attempts = $2, last_attempt_at = $3, next_retry_at = $4,
                        response_code = $5, response_body = $6, duration_ms = $7, error = $8, updated_at = $9
                  WHERE id = $10 AND EXISTS (SELECT 1 FROM job)
                  RETURNING id)
             INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, response_code, response_body, duration_ms, error, status, next_retry_at)
             SELECT id, $2, $3, $5, $6, $7, $8, $1, $4 FROM updated",
        )
        .bind(attempt.status.as_str())
        .bind(attempt.attempt)
        .bind(attempt.attempted_at.as_millis())
        .bind(attempt.next_retry_at.map(Timestamp::as_millis))
        .bind(attempt.response_code)
        .bind(&attempt.response_body)
        .bind(attempt.duration_ms)
        .bind(&attempt.error)
        .bind(now.as_millis())
        .bind(&id)
        .bind(lease.job_id)
        .bind(&lease.worker)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if logged.rows_affected() == 0 {
            return Err(StoreError::LeaseLost);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn release_jobs(&self, worker: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let released = sqlx::query(
            "UPDATE jobs SET status = 'queued', locked_by = NULL, locked_until = NULL, attempts = GREATEST(attempts - 1, 0), updated_at = $1
             WHERE status = 'running' AND locked_by = $2",
        )
        .bind(now.as_millis())
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        // Workers in other processes can take these at once.
        if released.rows_affected() > 0 {
            notify_jobs(&mut tx).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(released.rows_affected())
    }

    async fn job_counts(&self) -> Result<JobCounts, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut counts = JobCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n").map_err(db_error)?;
            match row
                .try_get::<String, _>("status")
                .map_err(db_error)?
                .as_str()
            {
                "queued" => counts.pending = n,
                "running" => counts.processing = n,
                "completed" => counts.completed = n,
                "failed" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn subscribe_jobs(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        self.subscribe(wake).await
    }

    async fn prune(
        &self,
        completed_before: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let jobs = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status = 'completed' AND updated_at < $1 LIMIT $2)",
        )
        .bind(completed_before.as_millis())
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        let keys = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (merchant_id, key) IN
                 (SELECT merchant_id, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(jobs.rows_affected() + keys.rows_affected())
    }

    async fn heartbeat(&self, worker: &str, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO worker_heartbeats (worker, seen_at) VALUES ($1, $2) ON CONFLICT (worker) DO UPDATE SET seen_at = excluded.seen_at")
            .bind(worker)
            .bind(now.as_millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn last_heartbeat(&self) -> Result<Option<Timestamp>, StoreError> {
        let seen: Option<i64> = sqlx::query_scalar("SELECT MAX(seen_at) FROM worker_heartbeats")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(seen.map(Timestamp::from_millis))
    }
}
