//! Every read, written once for both dialects.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::endpoint::{EndpointStatus, StoredSecrets, target_url};
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::ids::{DeliveryId, MerchantId, OrderId, PaymentId, RefundId};
use gateway_core::jobs::{JobStatus, QueueReport};
use gateway_core::merchant::{Merchant, StoredCredential};
use gateway_core::money::Currency;
use gateway_core::order::{Order, OrderStatus};
use gateway_core::payment::{Payment, PaymentSnapshot, PaymentStatus};
use gateway_core::refund::{Refund, RefundStatus};
use gateway_core::stats::{StatsRows, StatsWindow};
use gateway_core::store::{
    DeliveryFilter, DeliveryTarget, OrderFilter, Page, PageRequest, PaymentFilter,
};
use gateway_core::webhook::{DeliveryDetail, WebhookDelivery};

use super::{Dialect, Sql};
use crate::rows::{
    self, ATTEMPTS, Column, DELIVERIES, IDEMPOTENCY_KEYS, ORDERS, PAYMENTS, REFUNDS, ReadRow, Table,
};

pub(crate) fn collect<R: ReadRow, T>(
    rows: Vec<R>,
    read: fn(&R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(read).collect()
}

/// A page of `table`'s rows matching `filter` (a condition over `$1`…`$params`, bound by
/// `bind`), newest first, with how many match in all.
pub(crate) async fn list<DB: Dialect, T>(
    conn: &mut DB::Connection,
    (table, filter, params): (&Table, &str, usize),
    bind: impl Fn(Sql<DB>) -> Sql<DB>,
    request: PageRequest,
    read: fn(&DB::Row) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    list_ordered::<DB, T>(
        conn,
        (table, filter, params, "created_at DESC, id DESC"),
        bind,
        request,
        read,
    )
    .await
}

/// [`list`] in the order `order_by`.
pub(crate) async fn list_ordered<DB: Dialect, T>(
    conn: &mut DB::Connection,
    (table, filter, params, order_by): (&Table, &str, usize, &str),
    bind: impl Fn(Sql<DB>) -> Sql<DB>,
    request: PageRequest,
    read: fn(&DB::Row) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let total = bind(Sql::new(&format!(
        "SELECT COUNT(*) AS n FROM {} WHERE {filter}",
        table.name
    )));
    let rows = bind(Sql::new(&table.select_where(&format!(
        "{filter} ORDER BY {order_by} LIMIT ${} OFFSET ${}",
        params + 1,
        params + 2
    ))));
    let total = count::<DB>(conn, total).await?;
    let rows = DB::fetch_all(conn, rows.arg(request.limit).arg(request.offset)).await?;
    Ok(Page {
        data: collect(rows, read)?,
        total,
        limit: request.limit,
        offset: request.offset,
    })
}

/// The `n` column of a one-row query.
async fn count<DB: Dialect>(conn: &mut DB::Connection, sql: Sql<DB>) -> Result<i64, StoreError> {
    match DB::fetch_optional(conn, sql).await? {
        Some(row) => row.column("n"),
        None => Ok(0),
    }
}

/// The `at` column (a time or NULL) of a one-row query.
async fn time<DB: Dialect>(
    conn: &mut DB::Connection,
    sql: Sql<DB>,
) -> Result<Option<Timestamp>, StoreError> {
    let at: Option<i64> = match DB::fetch_optional(conn, sql).await? {
        Some(row) => row.column("at")?,
        None => None,
    };
    Ok(at.map(Timestamp::from_millis))
}

/// Checks the database answers.
pub(crate) async fn ping<DB: Dialect>(conn: &mut DB::Connection) -> Result<(), StoreError> {
    DB::fetch_optional(conn, Sql::new("SELECT 1 AS one"))
        .await
        .map(|_| ())
}

/// Every merchant, oldest first.
pub(crate) async fn merchants<DB: Dialect>(
    conn: &mut DB::Connection,
) -> Result<Vec<Merchant>, StoreError> {
    let rows = DB::fetch_all(
        conn,
        Sql::new(
            "SELECT m.id, m.email, m.business_name, m.api_key, m.created_at,
                    (SELECT CASE WHEN e.status = $1 THEN e.url END FROM webhook_endpoints e
                     WHERE e.merchant_id = m.id ORDER BY e.created_at, e.id LIMIT 1) AS webhook_url
             FROM merchants m ORDER BY m.created_at, m.id",
        )
        .arg(EndpointStatus::Enabled.as_str()),
    )
    .await?;
    collect(rows, rows::merchant)
}

/// The credential behind an API key.
pub(crate) async fn credential<DB: Dialect>(
    conn: &mut DB::Connection,
    api_key: &str,
) -> Result<Option<StoredCredential>, StoreError> {
    let sql =
        Sql::new("SELECT id, api_secret_hash, business_name FROM merchants WHERE api_key = $1")
            .arg(api_key.to_owned());
    DB::fetch_optional(conn, sql)
        .await?
        .map(|row| {
            Ok(StoredCredential {
                merchant_id: rows::uuid(&row, "id")?,
                api_secret_hash: row.column("api_secret_hash")?,
                business_name: row.column("business_name")?,
            })
        })
        .transpose()
}

/// A live (unexpired) idempotency record.
pub(crate) async fn idempotency_record<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    key: &str,
    now: Timestamp,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let sql = Sql::new(
        &IDEMPOTENCY_KEYS.select_where("merchant_id = $1 AND key = $2 AND expires_at > $3"),
    )
    .arg(merchant.to_string())
    .arg(key.to_owned())
    .arg(now.as_millis());
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(rows::idempotency_record)
        .transpose()
}

/// One of the merchant's orders.
pub(crate) async fn order<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    id: &OrderId,
) -> Result<Option<Order>, StoreError> {
    let sql = Sql::new(&ORDERS.select_where("id = $1 AND merchant_id = $2"))
        .arg(id.to_string())
        .arg(merchant.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(rows::order)
        .transpose()
}

/// The merchant's orders, newest first.
pub(crate) async fn orders<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    filter: &OrderFilter,
    request: PageRequest,
) -> Result<Page<Order>, StoreError> {
    let status = filter.status.map(OrderStatus::as_str);
    list::<DB, _>(
        conn,
        (
            &ORDERS,
            "merchant_id = $1 AND ($2 IS NULL OR status = $2)",
            2,
        ),
        |sql| sql.arg(merchant.to_string()).arg(status),
        request,
        rows::order,
    )
    .await
}

/// A payment; `merchant: None` is the worker's unscoped read.
pub(crate) async fn payment<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: Option<MerchantId>,
    id: &PaymentId,
) -> Result<Option<Payment>, StoreError> {
    let sql = Sql::new(&PAYMENTS.select_where("id = $1 AND ($2 IS NULL OR merchant_id = $2)"))
        .arg(id.to_string())
        .arg(merchant.map(|m| m.to_string()));
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(rows::payment)
        .transpose()
}

/// The merchant's payment with the sum of its non-failed refunds.
pub(crate) async fn payment_snapshot<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    id: &PaymentId,
) -> Result<Option<PaymentSnapshot>, StoreError> {
    let sql = Sql::new(&format!(
        "SELECT {}, (SELECT CAST(COALESCE(SUM(r.amount), 0) AS BIGINT) FROM refunds r
                      WHERE r.payment_id = p.id AND r.status <> $3) AS refunded
         FROM payments p WHERE p.id = $1 AND p.merchant_id = $2",
        PAYMENTS.columns_of("p")
    ))
    .arg(id.to_string())
    .arg(merchant.to_string())
    .arg(RefundStatus::Failed.as_str());
    DB::fetch_optional(conn, sql)
        .await?
        .map(|row| {
            Ok(PaymentSnapshot {
                payment: rows::payment(&row)?,
                refunded: row.column("refunded")?,
            })
        })
        .transpose()
}

/// The merchant's payments, newest first.
pub(crate) async fn payments<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    filter: &PaymentFilter,
    request: PageRequest,
) -> Result<Page<Payment>, StoreError> {
    let status = filter.status.map(PaymentStatus::as_str);
    let order = filter.order_id.as_ref().map(OrderId::to_string);
    list::<DB, _>(
        conn,
        (
            &PAYMENTS,
            "merchant_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR order_id = $3)",
            3,
        ),
        |sql| sql.arg(merchant.to_string()).arg(status).arg(order.clone()),
        request,
        rows::payment,
    )
    .await
}

/// A refund; `merchant: None` is the worker's unscoped read.
pub(crate) async fn refund<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: Option<MerchantId>,
    id: &RefundId,
) -> Result<Option<Refund>, StoreError> {
    let sql = Sql::new(&REFUNDS.select_where("id = $1 AND ($2 IS NULL OR merchant_id = $2)"))
        .arg(id.to_string())
        .arg(merchant.map(|m| m.to_string()));
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(rows::refund)
        .transpose()
}

/// The merchant's refunds (of one payment, if given), newest first.
pub(crate) async fn refunds<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    payment: Option<&PaymentId>,
    request: PageRequest,
) -> Result<Page<Refund>, StoreError> {
    let payment = payment.map(PaymentId::to_string);
    list::<DB, _>(
        conn,
        (
            &REFUNDS,
            "merchant_id = $1 AND ($2 IS NULL OR payment_id = $2)",
            2,
        ),
        |sql| sql.arg(merchant.to_string()).arg(payment.clone()),
        request,
        rows::refund,
    )
    .await
}

/// The merchant's payments in `currency`, refunds and deliveries created in `window`, counted
/// and summed by the database.
pub(crate) async fn stats<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    currency: Currency,
    window: StatsWindow,
) -> Result<StatsRows, StoreError> {
    let merchant = merchant.to_string();
    let (from, to) = (window.from.as_millis(), window.to().as_millis());
    let payments = Sql::new(
        "SELECT (created_at - $3) / $5 AS bucket, status, CAST(COUNT(*) AS BIGINT) AS n,
                CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount
         FROM payments
         WHERE merchant_id = $1 AND currency = $2 AND created_at >= $3 AND created_at < $4
         GROUP BY 1, 2",
    )
    .arg(merchant.clone())
    .arg(currency.code())
    .arg(from)
    .arg(to)
    .arg(window.bucket_ms);
    let payments = DB::fetch_all(conn, payments).await?;
    let refunds = Sql::new(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(r.amount), 0) AS BIGINT) AS amount,
                CAST(COALESCE(SUM(CASE WHEN r.status = $5 THEN r.amount ELSE 0 END), 0) AS BIGINT) AS processed_amount
         FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE r.merchant_id = $1 AND p.currency = $2 AND r.created_at >= $3 AND r.created_at < $4",
    )
    .arg(merchant.clone())
    .arg(currency.code())
    .arg(from)
    .arg(to)
    .arg(RefundStatus::Processed.as_str());
    let refunds = DB::fetch_optional(conn, refunds)
        .await?
        .ok_or_else(|| StoreError::Other("refund totals returned no row".into()))?;
    let deliveries = Sql::new(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM webhook_deliveries
         WHERE merchant_id = $1 AND created_at >= $2 AND created_at < $3
         GROUP BY status",
    )
    .arg(merchant)
    .arg(from)
    .arg(to);
    let deliveries = DB::fetch_all(conn, deliveries).await?;
    Ok(StatsRows {
        payments: collect(payments, rows::payment_bucket)?,
        refunds: rows::refund_totals(&refunds)?,
        webhooks: rows::webhook_health(&deliveries)?,
    })
}

/// The merchant's webhook deliveries, newest first.
pub(crate) async fn deliveries<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    filter: &DeliveryFilter,
    request: PageRequest,
) -> Result<Page<WebhookDelivery>, StoreError> {
    let mut condition = "merchant_id = $1".to_owned();
    let mut params = 1;
    if filter.endpoint_id.is_some() {
        params += 1;
        condition.push_str(&format!(" AND endpoint_id = ${params}"));
    }
    if filter.event.is_some() {
        params += 1;
        condition.push_str(&format!(" AND event = ${params}"));
    }
    list::<DB, _>(
        conn,
        (&DELIVERIES, &condition, params),
        |sql| {
            let mut sql = sql.arg(merchant.to_string());
            if let Some(endpoint) = &filter.endpoint_id {
                sql = sql.arg(endpoint.to_string());
            }
            if let Some(event) = filter.event {
                sql = sql.arg(event.as_str());
            }
            sql
        },
        request,
        rows::delivery,
    )
    .await
}

/// One delivery with its attempt log.
pub(crate) async fn delivery<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    id: DeliveryId,
) -> Result<Option<DeliveryDetail>, StoreError> {
    let sql = Sql::new(&DELIVERIES.select_where("id = $1 AND merchant_id = $2"))
        .arg(id.to_string())
        .arg(merchant.to_string());
    let Some(row) = DB::fetch_optional(conn, sql).await? else {
        return Ok(None);
    };
    let attempts =
        Sql::new(&ATTEMPTS.select_where("delivery_id = $1 ORDER BY id")).arg(id.to_string());
    let attempts = DB::fetch_all(conn, attempts).await?;
    Ok(Some(DeliveryDetail {
        delivery: rows::delivery(&row)?,
        attempt_log: collect(attempts, rows::attempt)?,
    }))
}

/// What a delivery job needs: the delivery, payload, its endpoint's URL (while enabled) and
/// secrets (the merchant's secret for a delivery without an endpoint).
pub(crate) async fn delivery_target<DB: Dialect>(
    conn: &mut DB::Connection,
    id: DeliveryId,
) -> Result<Option<DeliveryTarget>, StoreError> {
    let sql = Sql::new(&format!(
        "SELECT {}, e.url AS target_url, e.status AS target_status,
                COALESCE(e.secret, m.webhook_secret) AS target_secret,
                e.previous_secret, e.previous_secret_expires_at
         FROM webhook_deliveries d JOIN merchants m ON m.id = d.merchant_id
         LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.merchant_id = d.merchant_id
         WHERE d.id = $1",
        DELIVERIES.columns_of("d")
    ))
    .arg(id.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .map(|row| {
            let status: Option<String> = row.column("target_status")?;
            let previous: Option<String> = row.column("previous_secret")?;
            let until: Option<i64> = row.column("previous_secret_expires_at")?;
            Ok(DeliveryTarget {
                delivery: rows::delivery(&row)?,
                payload: row.column("payload")?,
                url: target_url(
                    status.as_deref().and_then(EndpointStatus::parse),
                    row.column("target_url")?,
                ),
                secrets: StoredSecrets {
                    current: row.column("target_secret")?,
                    previous: previous.zip(until.map(Timestamp::from_millis)),
                },
            })
        })
        .transpose()
}

/// When the next queued job falls due.
pub(crate) async fn next_job_due<DB: Dialect>(
    conn: &mut DB::Connection,
) -> Result<Option<Timestamp>, StoreError> {
    // The status is a literal so that the partial index `jobs_queued_by_due` applies (the same
    // below): its first entry is the answer.
    let sql = Sql::new("SELECT MIN(run_at) AS at FROM jobs WHERE status = 'queued'");
    time::<DB>(conn, sql).await
}

/// The queue at `now`: counts by kind and state, the oldest due job and expired leases.
pub(crate) async fn queue_report<DB: Dialect>(
    conn: &mut DB::Connection,
    now: Timestamp,
) -> Result<QueueReport, StoreError> {
    let rows = DB::fetch_all(
        conn,
        Sql::new(
            "SELECT kind, status, CAST(COUNT(*) AS BIGINT) AS n FROM jobs GROUP BY kind, status",
        ),
    )
    .await?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let kind = Column::<String>::column(&row, "kind")?;
        if let Some(status) = JobStatus::parse(&Column::<String>::column(&row, "status")?) {
            counts.push((kind, status, row.column("n")?));
        }
    }
    // Two indexed lookups rather than one scan: a queued job is due from its run_at, a running
    // one from the end of its expired lease.
    let queued =
        Sql::new("SELECT MIN(run_at) AS at FROM jobs WHERE status = 'queued' AND run_at <= $1")
            .arg(now.as_millis());
    let queued = time::<DB>(conn, queued).await?;
    let expired = Sql::new(
        "SELECT MIN(locked_until) AS at, CAST(COUNT(*) AS BIGINT) AS n FROM jobs
         WHERE status = 'running' AND locked_until <= $1",
    )
    .arg(now.as_millis());
    let (expired_since, expired_leases) = match DB::fetch_optional(conn, expired).await? {
        Some(row) => (
            Column::<Option<i64>>::column(&row, "at")?.map(Timestamp::from_millis),
            row.column("n")?,
        ),
        None => (None, 0),
    };
    Ok(QueueReport {
        counts,
        oldest_due: queued.into_iter().chain(expired_since).min(),
        expired_leases,
        dispatch: None,
    })
}

/// The latest heartbeat of any worker.
pub(crate) async fn last_heartbeat<DB: Dialect>(
    conn: &mut DB::Connection,
) -> Result<Option<Timestamp>, StoreError> {
    time::<DB>(
        conn,
        Sql::new("SELECT MAX(seen_at) AS at FROM worker_heartbeats"),
    )
    .await
}
