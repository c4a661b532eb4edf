//! The write commands, written once: each locks what its rule reads, reads a snapshot, asks
//! `gateway-core` for the decision and writes what was decided, in the transaction the backend
//! runs it in. Each takes its arguments by reference from an owned struct, so a backend may run
//! it again (SQLite's group commit replays a batch without a failed command).

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::endpoint::{fan_out, fan_out_test};
use gateway_core::environment::{Environment, environment_to_record};
use gateway_core::event::Event;
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::ids::{DeliveryId, MerchantId};
use gateway_core::jobs::{JobKind, JobStatus, Lease, NewJob};
use gateway_core::merchant::NewMerchant;
use gateway_core::order::{Order, OrderEvent, OrderSnapshot, OrderStatus};
use gateway_core::payment::{Payment, PaymentSnapshot, PaymentStatus};
use gateway_core::refund::{Refund, RefundStatus};
use gateway_core::webhook::DeliveryStatus;

use super::dialect::Fut;
use super::endpoints::subscriptions;
use super::outbox::{claim_idempotency_key, complete_leased_job, push_events, push_job};
use super::{Batch, Dialect, Sql, reads};
use crate::rows::{self, Column};

/// Locks the row `id` of `table` until commit, where the dialect locks rows. A snapshot read
/// after it is a new statement, so it sees what a writer that held the lock committed.
async fn lock_row<DB: Dialect>(
    conn: &mut DB::Connection,
    table: &str,
    id: String,
) -> Result<(), StoreError> {
    if DB::ROW_LOCKS {
        let sql = Sql::locking(&format!("SELECT id FROM {table} WHERE id = $1")).arg(id);
        DB::fetch_optional(conn, sql).await?;
    }
    Ok(())
}

/// Appends the order transition `event` causes, guarded by the state core names as its source.
fn push_order_transition<DB: Dialect>(
    batch: &mut DB::Batch,
    order: &str,
    event: OrderEvent,
    now: Timestamp,
) {
    if let Some((from, to)) = OrderStatus::transition_on(event) {
        batch
            .push("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .arg(to.as_str())
            .arg(now.as_millis())
            .arg(order.to_owned())
            .arg(from.as_str());
    }
}

/// Inserts a merchant; with `upsert`, an existing id gets the new key and secret hash.
pub(crate) fn write_merchant<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (new, upsert): &'c (NewMerchant, bool),
) -> Fut<'c, ()> {
    Box::pin(async move {
        const INSERT: &str = "INSERT INTO merchants (id, email, business_name, api_key, api_secret_hash, webhook_url, webhook_secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";
        let m = &new.merchant;
        let text = if *upsert {
            format!("{INSERT} ON CONFLICT (id) DO NOTHING")
        } else {
            INSERT.to_owned()
        };
        let sql = Sql::new(&text)
            .arg(m.id.to_string())
            .arg(m.email.clone())
            .arg(m.business_name.clone())
            .arg(m.api_key.clone())
            .arg(new.api_secret_hash.clone())
            .arg(m.webhook_url.clone())
            .arg(new.webhook_secret.clone())
            .arg(m.created_at.as_millis());
        DB::execute(conn, sql).await?;
        if *upsert {
            // Only a row that differs is updated: every start of every process seeds the test
            // merchant, and an `ON CONFLICT DO UPDATE` would take the row's exclusive lock each
            // time, waiting behind the key-share locks every concurrent order insert holds on it.
            let refresh = Sql::new(
                "UPDATE merchants SET api_key = $2, api_secret_hash = $3
                 WHERE id = $1 AND (api_key <> $2 OR api_secret_hash <> $3)",
            )
            .arg(m.id.to_string())
            .arg(m.api_key.clone())
            .arg(new.api_secret_hash.clone());
            DB::execute(conn, refresh).await?;
        }
        Ok(())
    })
}

/// Replaces the API secret hash of the merchant with this id or email; returns its id.
pub(crate) fn rotate_api_secret<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (id_or_email, hash, now): &'c (String, Vec<u8>, Timestamp),
) -> Fut<'c, MerchantId> {
    Box::pin(async move {
        let sql = Sql::new(
            "UPDATE merchants SET api_secret_hash = $1, updated_at = $2 WHERE id = $3 OR email = $3 RETURNING id",
        )
        .arg(hash.clone())
        .arg(now.as_millis())
        .arg(id_or_email.clone());
        let row = DB::fetch_optional(conn, sql)
            .await?
            .ok_or(StoreError::NotFound("Merchant"))?;
        rows::uuid(&row, "id")
    })
}

/// Inserts an order.
pub(crate) fn create_order<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (order, idem): &'c (Order, Option<IdempotencyRecord>),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = order.merchant_id.to_string();
        claim_idempotency_key::<DB>(conn, &merchant, idem.as_ref()).await?;
        let notes =
            serde_json::to_string(&order.notes).map_err(|e| StoreError::Other(e.to_string()))?;
        let sql = Sql::new(
            "INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .arg(order.id.to_string())
        .arg(merchant)
        .arg(order.amount.minor())
        .arg(order.currency.code())
        .arg(order.receipt.clone())
        .arg(notes)
        .arg(order.status.as_str())
        .arg(order.created_at.as_millis())
        .arg(order.updated_at.as_millis());
        DB::execute(conn, sql).await.map(|_| ())
    })
}

/// The arguments of a command that creates a payment or a refund.
pub(crate) type Creation<T> = (T, NewJob, Vec<Event>, Option<IdempotencyRecord>);

/// Inserts a pending payment with its job and events, if the locked order admits it.
pub(crate) fn create_payment<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (payment, job, events, idem): &'c Creation<Payment>,
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = payment.merchant_id.to_string();
        claim_idempotency_key::<DB>(conn, &merchant, idem.as_ref()).await?;
        lock_row::<DB>(conn, "orders", payment.order_id.to_string()).await?;
        let [pending, success] = PaymentStatus::LIVE;
        let sql = Sql::new(
            "SELECT o.status,
                    EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.status IN ($3, $4)) AS live
             FROM orders o
             WHERE o.id = $1 AND o.merchant_id = $2",
        )
        .arg(payment.order_id.to_string())
        .arg(merchant.clone())
        .arg(pending.as_str())
        .arg(success.as_str());
        let row = DB::fetch_optional(conn, sql)
            .await?
            .ok_or(StoreError::NotFound("Order"))?;
        let status: String = row.column("status")?;
        let snapshot = OrderSnapshot {
            status: OrderStatus::parse(&status)
                .ok_or_else(|| StoreError::Other("unreadable order status".into()))?,
            has_live_payment: row.column("live")?,
        };
        snapshot.admit_payment()?;
        let endpoints = subscriptions::<DB>(conn, payment.merchant_id).await?;

        let mut batch = DB::Batch::default();
        let (expiry_month, expiry_year) = payment.card_expiry.map_or((None, None), |(m, y)| {
            (Some(i32::from(m)), Some(i32::from(y)))
        });
        batch
            .push(
                "INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, vpa, card_network, card_last4,
                                       card_expiry_month, card_expiry_year, status, captured, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
            )
            .arg(payment.id.to_string())
            .arg(payment.order_id.to_string())
            .arg(merchant)
            .arg(payment.amount.minor())
            .arg(payment.currency.code())
            .arg(payment.method.as_str())
            .arg(payment.vpa.clone())
            .arg(payment.card_network.clone())
            .arg(payment.card_last4.clone())
            .arg(expiry_month)
            .arg(expiry_year)
            .arg(payment.status.as_str())
            .arg(payment.captured)
            .arg(payment.created_at.as_millis());
        push_order_transition::<DB>(
            &mut batch,
            payment.order_id.as_str(),
            OrderEvent::PaymentCreated,
            payment.created_at,
        );
        push_job::<DB>(&mut batch, job, payment.created_at);
        push_events::<DB>(&mut batch, events, &fan_out(events, &endpoints));
        DB::execute_batch(conn, batch).await.map(|_| ())
    })
}

/// The merchant's payment with its refunded sum, locked until commit.
async fn locked_payment<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    payment: &gateway_core::ids::PaymentId,
) -> Result<PaymentSnapshot, StoreError> {
    lock_row::<DB>(conn, "payments", payment.to_string()).await?;
    reads::payment_snapshot::<DB>(conn, merchant, payment)
        .await?
        .ok_or(StoreError::NotFound("Payment"))
}

/// Captures the payment if core's decision over the locked snapshot allows it.
pub(crate) fn capture_payment<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (captured, amount, idem): &'c (Payment, Option<i64>, Option<IdempotencyRecord>),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = captured.merchant_id;
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), idem.as_ref()).await?;
        let snapshot = locked_payment::<DB>(conn, merchant, &captured.id).await?;
        let decided = snapshot.capture(*amount, captured.updated_at)?;
        let sql = Sql::new(
            "UPDATE payments SET captured = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND captured = $5",
        )
        .arg(decided.captured)
        .arg(decided.updated_at.as_millis())
        .arg(decided.id.to_string())
        .arg(snapshot.payment.status.as_str())
        .arg(snapshot.payment.captured);
        match DB::execute(conn, sql).await? {
            1 => Ok(()),
            _ => Err(StoreError::Other(
                "captured payment changed under its lock".into(),
            )),
        }
    })
}

/// Inserts a pending refund with its job and events, if core admits it over the locked payment.
pub(crate) fn create_refund<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (refund, job, events, idem): &'c Creation<Refund>,
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = refund.merchant_id;
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), idem.as_ref()).await?;
        // Concurrent refunds of one payment queue on its lock, so each sees the others' sums.
        locked_payment::<DB>(conn, merchant, &refund.payment_id)
            .await?
            .admit_refund(refund.amount)?;
        let endpoints = subscriptions::<DB>(conn, merchant).await?;
        let mut batch = DB::Batch::default();
        batch
            .push(
                "INSERT INTO refunds (id, payment_id, merchant_id, amount, reason, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .arg(refund.id.to_string())
            .arg(refund.payment_id.to_string())
            .arg(merchant.to_string())
            .arg(refund.amount.minor())
            .arg(refund.reason.clone())
            .arg(refund.status.as_str())
            .arg(refund.created_at.as_millis());
        push_job::<DB>(&mut batch, job, refund.created_at);
        push_events::<DB>(&mut batch, events, &fan_out(events, &endpoints));
        DB::execute_batch(conn, batch).await.map(|_| ())
    })
}

/// Re-arms a delivery: status `pending`, attempts 0, a new job due `now`, superseding a queued
/// automatic retry; refused while an attempt runs.
pub(crate) fn retry_delivery<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, id, now, idem): &'c (MerchantId, DeliveryId, Timestamp, Option<IdempotencyRecord>),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = merchant.to_string();
        let id_text = id.to_string();
        claim_idempotency_key::<DB>(conn, &merchant, idem.as_ref()).await?;
        // Lock the delivery, then its live jobs (the order record_delivery_attempt uses too): a
        // worker claiming the queued job concurrently either committed first (we see it running)
        // or skips the row we hold.
        let delivery =
            Sql::locking("SELECT id FROM webhook_deliveries WHERE id = $1 AND merchant_id = $2")
                .arg(id_text.clone())
                .arg(merchant);
        if DB::fetch_optional(conn, delivery).await?.is_none() {
            return Err(StoreError::NotFound("Webhook delivery"));
        }
        let jobs = Sql::locking(
            "SELECT status FROM jobs WHERE entity_id = $1 AND kind = $2 AND status IN ($3, $4)",
        )
        .arg(id_text.clone())
        .arg(JobKind::DeliverWebhook.as_str())
        .arg(JobStatus::Queued.as_str())
        .arg(JobStatus::Running.as_str());
        let mut running = false;
        for row in DB::fetch_all(conn, jobs).await? {
            let status: String = row.column("status")?;
            running |= JobStatus::parse(&status) == Some(JobStatus::Running);
        }
        DeliveryStatus::admit_manual_retry(running)?;

        let mut batch = DB::Batch::default();
        // The manual retry takes the place of a scheduled automatic one.
        batch
            .push("UPDATE jobs SET status = $1, updated_at = $2 WHERE entity_id = $3 AND kind = $4 AND status = $5")
            .arg(JobStatus::Completed.as_str())
            .arg(now.as_millis())
            .arg(id_text.clone())
            .arg(JobKind::DeliverWebhook.as_str())
            .arg(JobStatus::Queued.as_str());
        batch
            .push("UPDATE webhook_deliveries SET status = $1, attempts = 0, next_retry_at = $2, updated_at = $2 WHERE id = $3")
            .arg(DeliveryStatus::Pending.as_str())
            .arg(now.as_millis())
            .arg(id_text);
        push_job::<DB>(&mut batch, &NewJob::deliver_webhook(*id, *now), *now);
        DB::execute_batch(conn, batch).await.map(|_| ())
    })
}

/// Records a test event and creates a delivery and its job for it to each enabled endpoint;
/// refused (recording nothing) without one.
pub(crate) fn create_test_delivery<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (event, idem): &'c (Event, Option<IdempotencyRecord>),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = event.merchant_id;
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), idem.as_ref()).await?;
        let endpoints = subscriptions::<DB>(conn, merchant).await?;
        let mut batch = DB::Batch::default();
        let deliver = fan_out_test(event, &endpoints)?;
        push_events::<DB>(&mut batch, std::slice::from_ref(event), &deliver);
        DB::execute_batch(conn, batch).await.map(|_| ())
    })
}

/// Settles a pending payment as core decided (and moves its order when it succeeded), records
/// its events and completes the job. `false` if it was no longer pending.
pub(crate) fn settle_payment<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, settled, events): &'c (Lease, Payment, Vec<Event>),
) -> Fut<'c, bool> {
    Box::pin(async move {
        complete_leased_job::<DB>(conn, lease, settled.updated_at).await?;
        let sql = Sql::new(
            "UPDATE payments SET status = $1, error_code = $2, error_description = $3, updated_at = $4, settled_at = $7
             WHERE id = $5 AND status = $6",
        )
        .arg(settled.status.as_str())
        .arg(settled.error_code.clone())
        .arg(settled.error_description.clone())
        .arg(settled.updated_at.as_millis())
        .arg(settled.id.to_string())
        .arg(PaymentStatus::Pending.as_str())
        .arg(settled.settled_at.map(Timestamp::as_millis));
        if DB::execute(conn, sql).await? != 1 {
            return Ok(false);
        }
        let endpoints = subscriptions::<DB>(conn, settled.merchant_id).await?;
        let mut batch = DB::Batch::default();
        if settled.status == PaymentStatus::Success {
            push_order_transition::<DB>(
                &mut batch,
                settled.order_id.as_str(),
                OrderEvent::PaymentSucceeded,
                settled.updated_at,
            );
        }
        push_events::<DB>(&mut batch, events, &fan_out(events, &endpoints));
        DB::execute_batch(conn, batch).await?;
        Ok(true)
    })
}

/// Settles a pending refund as core decided, records its events and completes the job.
/// `false` if it was no longer pending.
pub(crate) fn settle_refund<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (lease, settled, events): &'c (Lease, Refund, Vec<Event>),
) -> Fut<'c, bool> {
    Box::pin(async move {
        let now = settled.processed_at.unwrap_or(settled.created_at);
        complete_leased_job::<DB>(conn, lease, now).await?;
        if settled.status == RefundStatus::Pending {
            return Ok(false);
        }
        let sql = Sql::new(
            "UPDATE refunds SET status = $1, processed_at = $2, updated_at = $3 WHERE id = $4 AND status = $5",
        )
        .arg(settled.status.as_str())
        .arg(settled.processed_at.map(Timestamp::as_millis))
        .arg(now.as_millis())
        .arg(settled.id.to_string())
        .arg(RefundStatus::Pending.as_str());
        if DB::execute(conn, sql).await? != 1 {
            return Ok(false);
        }
        let endpoints = subscriptions::<DB>(conn, settled.merchant_id).await?;
        let mut batch = DB::Batch::default();
        push_events::<DB>(&mut batch, events, &fan_out(events, &endpoints));
        DB::execute_batch(conn, batch).await?;
        Ok(true)
    })
}

/// Commits the readiness probe's write.
pub(crate) fn probe_write<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    now: &'c Timestamp,
) -> Fut<'c, ()> {
    Box::pin(async move {
        let sql = Sql::new(
            "INSERT INTO gateway_meta (key, value) VALUES ('write_probe', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .arg(now.as_millis().to_string());
        DB::execute(conn, sql).await.map(|_| ())
    })
}

/// Records the environment core decides for a database without one, and returns the recorded
/// environment (`None`: core refused to record one).
pub(crate) fn claim_environment<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (requested, explicit): &'c (Environment, bool),
) -> Fut<'c, Option<Environment>> {
    Box::pin(async move {
        if let Some(recorded) = recorded_environment::<DB>(conn).await? {
            return Ok(Some(recorded));
        }
        let merchants = Sql::new("SELECT COUNT(*) AS n FROM merchants WHERE api_key <> $1")
            .arg(gateway_core::merchant::test_merchant::API_KEY);
        let holds_real_merchants = match DB::fetch_optional(conn, merchants).await? {
            Some(row) => Column::<i64>::column(&row, "n")? > 0,
            None => false,
        };
        let Some(environment) = environment_to_record(*requested, *explicit, holds_real_merchants)
        else {
            return Ok(None);
        };
        let record = Sql::new(
            "INSERT INTO gateway_meta (key, value) VALUES ('environment', $1) ON CONFLICT (key) DO NOTHING",
        )
        .arg(environment.as_str());
        DB::execute(conn, record).await?;
        // Another process may have recorded its own first (PostgreSQL): that one counts.
        recorded_environment::<DB>(conn).await
    })
}

/// The environment recorded for this database, if any.
async fn recorded_environment<DB: Dialect>(
    conn: &mut DB::Connection,
) -> Result<Option<Environment>, StoreError> {
    let recorded = Sql::new("SELECT value FROM gateway_meta WHERE key = 'environment'");
    let Some(row) = DB::fetch_optional(conn, recorded).await? else {
        return Ok(None);
    };
    let value: String = row.column("value")?;
    Environment::parse(&value)
        .map(Some)
        .ok_or_else(|| StoreError::Other(format!("unknown recorded environment {value:?}")))
}
