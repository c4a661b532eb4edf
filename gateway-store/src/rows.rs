//! Reading rows of either backend back into domain types. Both schemes use the same column
//! types as Rust sees them (text ids, i64 times and money, i32 counters, bool `captured`), so one
//! reader serves both.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::event::{EventType, RecordedEvent};
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::ids::{EndpointId, EventId, OrderId, PaymentId, RefundId};
use gateway_core::jobs::{ClaimedJob, Lease};
use gateway_core::merchant::Merchant;
use gateway_core::money::{Amount, Currency};
use gateway_core::order::{Order, OrderStatus};
use gateway_core::payment::{Payment, PaymentMethod, PaymentStatus};
use gateway_core::refund::{Refund, RefundStatus};
use gateway_core::stats::{PaymentBucketRow, RefundTotals, WebhookHealth};
use gateway_core::webhook::{DeliveryAttempt, DeliveryStatus, WebhookDelivery};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::error::db_error;

/// A row whose column `name` decodes as `T`.
pub(crate) trait Column<T> {
    /// The column's value.
    fn column(&self, name: &str) -> Result<T, StoreError>;
}

impl<R, T> Column<T> for R
where
    R: Row,
    for<'n> &'n str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn column(&self, name: &str) -> Result<T, StoreError> {
        self.try_get(name).map_err(db_error)
    }
}

/// A row with every column type the readers need.
pub(crate) trait ReadRow:
    Column<String>
    + Column<Option<String>>
    + Column<i64>
    + Column<Option<i64>>
    + Column<i32>
    + Column<Option<i32>>
    + Column<bool>
    + Column<Vec<u8>>
{
}

impl<R> ReadRow for R where
    R: Column<String>
        + Column<Option<String>>
        + Column<i64>
        + Column<Option<i64>>
        + Column<i32>
        + Column<Option<i32>>
        + Column<bool>
        + Column<Vec<u8>>
{
}

/// A table as its decoder reads it. Reads name these columns rather than `SELECT *`: sqlx's
/// SQLite rows trust the columns of the statement as it was prepared, and a `*` that a
/// migration run by another process widened since would not match them (sqlx's worker
/// panics).
pub(crate) struct Table {
    /// The table's name.
    pub(crate) name: &'static str,
    /// The decoder's columns, comma-separated.
    columns: &'static str,
}

impl Table {
    /// The table `name` as a decoder that takes `columns` (comma-separated) reads it.
    pub(crate) const fn new(name: &'static str, columns: &'static str) -> Self {
        Self { name, columns }
    }

    /// `SELECT` the decoder's columns `FROM` the table `WHERE` `condition` (which may go on
    /// with `ORDER BY` and `LIMIT`).
    pub(crate) fn select_where(&self, condition: &str) -> String {
        format!(
            "SELECT {} FROM {} WHERE {condition}",
            self.columns, self.name
        )
    }

    /// The decoder's columns, each qualified by `alias` (for a join).
    pub(crate) fn columns_of(&self, alias: &str) -> String {
        self.columns
            .split(", ")
            .map(|column| format!("{alias}.{column}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The columns [`order`] reads.
pub(crate) const ORDERS: Table = Table::new(
    "orders",
    "id, merchant_id, amount, currency, receipt, notes, status, created_at, updated_at",
);

/// The columns [`payment`] reads.
pub(crate) const PAYMENTS: Table = Table::new(
    "payments",
    "id, order_id, merchant_id, amount, currency, method, vpa, card_network, card_last4, card_expiry_month, card_expiry_year, status, captured, error_code, error_description, created_at, updated_at, settled_at",
);

/// The columns [`refund`] reads.
pub(crate) const REFUNDS: Table = Table::new(
    "refunds",
    "id, payment_id, merchant_id, amount, reason, status, created_at, processed_at",
);

/// The columns [`delivery`] reads.
pub(crate) const DELIVERIES: Table = Table::new(
    "webhook_deliveries",
    "id, merchant_id, endpoint_id, event_id, event, payload, status, attempts, created_at, last_attempt_at, next_retry_at, response_code, response_body, duration_ms, error",
);

/// The columns [`event`] reads.
pub(crate) const EVENTS: Table = Table::new("events", "id, merchant_id, type, payload, created_at");

/// The columns [`attempt`] reads.
pub(crate) const ATTEMPTS: Table = Table::new(
    "webhook_attempts",
    "delivery_id, attempt, attempted_at, response_code, response_body, duration_ms, error, status, next_retry_at",
);

/// The columns [`idempotency_record`] reads.
pub(crate) const IDEMPOTENCY_KEYS: Table = Table::new(
    "idempotency_keys",
    "key, fingerprint, response, created_at, expires_at",
);

/// The error for a stored value that cannot be read back.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("unreadable {what} in the database"))
}

fn get<T, R: Column<T>>(row: &R, col: &str) -> Result<T, StoreError> {
    row.column(col)
}

fn ts(row: &impl ReadRow, col: &str) -> Result<Timestamp, StoreError> {
    get::<i64, _>(row, col).map(Timestamp::from_millis)
}

fn opt_ts(row: &impl ReadRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    get::<Option<i64>, _>(row, col).map(|t| t.map(Timestamp::from_millis))
}

/// A UUID stored as hyphenated text.
/// A UUID column, as the id type the context asks for.
pub(crate) fn uuid<T: From<uuid::Uuid>>(row: &impl ReadRow, col: &str) -> Result<T, StoreError> {
    uuid::Uuid::parse_str(&get::<String, _>(row, col)?)
        .map(T::from)
        .map_err(|_| corrupt(col))
}

fn amount(row: &impl ReadRow) -> Result<Amount, StoreError> {
    Amount::new(get(row, "amount")?).map_err(|_| corrupt("amount"))
}

fn currency(row: &impl ReadRow) -> Result<Currency, StoreError> {
    Currency::parse(&get::<String, _>(row, "currency")?).ok_or_else(|| corrupt("currency"))
}

/// An `orders` row.
pub(crate) fn order(row: &impl ReadRow) -> Result<Order, StoreError> {
    Ok(Order {
        id: OrderId::from_trusted(get(row, "id")?),
        merchant_id: uuid(row, "merchant_id")?,
        amount: amount(row)?,
        currency: currency(row)?,
        receipt: get(row, "receipt")?,
        notes: serde_json::from_str(&get::<String, _>(row, "notes")?)
            .map_err(|_| corrupt("notes"))?,
        status: OrderStatus::parse(&get::<String, _>(row, "status")?)
            .ok_or_else(|| corrupt("order status"))?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// A `payments` row.
pub(crate) fn payment(row: &impl ReadRow) -> Result<Payment, StoreError> {
    let method = match get::<String, _>(row, "method")?.as_str() {
        "upi" => PaymentMethod::Upi,
        "card" => PaymentMethod::Card,
        _ => return Err(corrupt("payment method")),
    };
    let expiry = match (
        get::<Option<i32>, _>(row, "card_expiry_month")?,
        get::<Option<i32>, _>(row, "card_expiry_year")?,
    ) {
        (Some(m), Some(y)) => Some((
            u8::try_from(m).map_err(|_| corrupt("expiry"))?,
            u16::try_from(y).map_err(|_| corrupt("expiry"))?,
        )),
        _ => None,
    };
    Ok(Payment {
        id: PaymentId::from_trusted(get(row, "id")?),
        order_id: OrderId::from_trusted(get(row, "order_id")?),
        merchant_id: uuid(row, "merchant_id")?,
        amount: amount(row)?,
        currency: currency(row)?,
        method,
        vpa: get(row, "vpa")?,
        card_network: get(row, "card_network")?,
        card_last4: get(row, "card_last4")?,
        card_expiry: expiry,
        status: PaymentStatus::parse(&get::<String, _>(row, "status")?)
            .ok_or_else(|| corrupt("payment status"))?,
        captured: get(row, "captured")?,
        error_code: get(row, "error_code")?,
        error_description: get(row, "error_description")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
        settled_at: opt_ts(row, "settled_at")?,
    })
}

/// A `refunds` row.
pub(crate) fn refund(row: &impl ReadRow) -> Result<Refund, StoreError> {
    Ok(Refund {
        id: RefundId::from_trusted(get(row, "id")?),
        payment_id: PaymentId::from_trusted(get(row, "payment_id")?),
        merchant_id: uuid(row, "merchant_id")?,
        amount: amount(row)?,
        reason: get(row, "reason")?,
        status: RefundStatus::parse(&get::<String, _>(row, "status")?)
            .ok_or_else(|| corrupt("refund status"))?,
        created_at: ts(row, "created_at")?,
        processed_at: opt_ts(row, "processed_at")?,
    })
}

/// A `merchants` row.
pub(crate) fn merchant(row: &impl ReadRow) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: uuid(row, "id")?,
        email: get(row, "email")?,
        business_name: get(row, "business_name")?,
        api_key: get(row, "api_key")?,
        webhook_url: get(row, "webhook_url")?,
        created_at: ts(row, "created_at")?,
    })
}

fn delivery_status(row: &impl ReadRow) -> Result<DeliveryStatus, StoreError> {
    DeliveryStatus::parse(&get::<String, _>(row, "status")?)
        .ok_or_else(|| corrupt("delivery status"))
}

/// A `webhook_deliveries` row.
pub(crate) fn delivery(row: &impl ReadRow) -> Result<WebhookDelivery, StoreError> {
    Ok(WebhookDelivery {
        id: uuid(row, "id")?,
        merchant_id: uuid(row, "merchant_id")?,
        endpoint_id: get::<Option<String>, _>(row, "endpoint_id")?.map(EndpointId::from_trusted),
        event_id: get::<Option<String>, _>(row, "event_id")?.map(EventId::from_trusted),
        event: get(row, "event")?,
        payload: serde_json::from_str(&get::<String, _>(row, "payload")?)
            .map_err(|_| corrupt("payload"))?,
        status: delivery_status(row)?,
        attempts: get(row, "attempts")?,
        created_at: ts(row, "created_at")?,
        last_attempt_at: opt_ts(row, "last_attempt_at")?,
        next_retry_at: opt_ts(row, "next_retry_at")?,
        response_code: get(row, "response_code")?,
        response_body: get(row, "response_body")?,
        duration_ms: get(row, "duration_ms")?,
        error: get(row, "error")?,
    })
}

/// An `events` row.
pub(crate) fn event(row: &impl ReadRow) -> Result<RecordedEvent, StoreError> {
    let event_type =
        EventType::parse(&get::<String, _>(row, "type")?).ok_or_else(|| corrupt("event type"))?;
    RecordedEvent::from_stored(
        EventId::from_trusted(get(row, "id")?),
        uuid(row, "merchant_id")?,
        event_type,
        get(row, "payload")?,
        ts(row, "created_at")?,
    )
    .ok_or_else(|| corrupt("event payload"))
}

/// A `webhook_attempts` row.
pub(crate) fn attempt(row: &impl ReadRow) -> Result<DeliveryAttempt, StoreError> {
    Ok(DeliveryAttempt {
        delivery_id: uuid(row, "delivery_id")?,
        attempt: get(row, "attempt")?,
        attempted_at: ts(row, "attempted_at")?,
        response_code: get(row, "response_code")?,
        response_body: get(row, "response_body")?,
        duration_ms: get(row, "duration_ms")?,
        error: get(row, "error")?,
        status: delivery_status(row)?,
        next_retry_at: opt_ts(row, "next_retry_at")?,
    })
}

/// A job row a claim returned, leased to `worker`.
pub(crate) fn claimed_job(row: &impl ReadRow, worker: &str) -> Result<ClaimedJob, StoreError> {
    let id: i64 = get(row, "id")?;
    Ok(ClaimedJob {
        id,
        kind: get(row, "kind")?,
        entity_id: get(row, "entity_id")?,
        payload: get(row, "payload")?,
        attempt: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        request_id: get(row, "request_id")?,
        lease: Lease {
            job_id: id,
            worker: worker.to_owned(),
        },
    })
}

/// An `idempotency_keys` row.
pub(crate) fn idempotency_record(row: &impl ReadRow) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        key: get(row, "key")?,
        fingerprint: get(row, "fingerprint")?,
        response: get(row, "response")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
    })
}

/// A `(bucket, status, n, amount)` row of the stats query over payments.
pub(crate) fn payment_bucket(row: &impl ReadRow) -> Result<PaymentBucketRow, StoreError> {
    let status: String = row.column("status")?;
    Ok(PaymentBucketRow {
        bucket: row.column("bucket")?,
        status: PaymentStatus::parse(&status).ok_or_else(|| corrupt("payment status"))?,
        count: row.column("n")?,
        amount: row.column("amount")?,
    })
}

/// The `(n, amount, processed_amount)` row of the stats query over refunds.
pub(crate) fn refund_totals(row: &impl ReadRow) -> Result<RefundTotals, StoreError> {
    Ok(RefundTotals {
        count: row.column("n")?,
        amount: row.column("amount")?,
        processed_amount: row.column("processed_amount")?,
    })
}

/// Webhook health from `(status, n)` rows of the stats query over deliveries.
pub(crate) fn webhook_health<R: ReadRow>(rows: &[R]) -> Result<WebhookHealth, StoreError> {
    let mut health = WebhookHealth::default();
    for row in rows {
        health.add(delivery_status(row)?, row.column("n")?);
    }
    Ok(health)
}
