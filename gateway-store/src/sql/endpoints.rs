//! Webhook endpoints, written once for both databases: their reads, their commands, and the
//! reference's single-URL settings (`webhooks/config`), which act on the merchant's default
//! endpoint, its oldest.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::endpoint::{
    DefaultEndpoint, EnabledEvents, EndpointPatch, EndpointStatus, EndpointWithSecret,
    Subscription, WebhookEndpoint, admit_new_endpoint, legacy_config,
};
use gateway_core::idempotency::IdempotencyRecord;
use gateway_core::ids::{EndpointId, MerchantId};
use gateway_core::store::{Page, PageRequest};
use gateway_core::webhook::WebhookConfig;

use super::dialect::Fut;
use super::outbox::claim_idempotency_key;
use super::reads::{collect, list};
use super::{Dialect, Sql};
use crate::rows::{self, Column, ReadRow, Table};

/// The merchant's endpoints in the order fan-out visits them (oldest first), as they are in
/// the calling transaction.
pub(crate) async fn subscriptions<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
) -> Result<Vec<Subscription>, StoreError> {
    let sql = Sql::new(
        "SELECT id, status, enabled_events FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY created_at, id",
    )
    .arg(merchant.to_string());
    collect(DB::fetch_all(conn, sql).await?, |row| {
        Ok(Subscription {
            endpoint_id: EndpointId::from_trusted(row.column("id")?),
            status: status(row)?,
            enabled_events: enabled_events(row)?,
        })
    })
}

fn status(row: &impl ReadRow) -> Result<EndpointStatus, StoreError> {
    let text: String = row.column("status")?;
    EndpointStatus::parse(&text).ok_or_else(|| rows::corrupt("endpoint status"))
}

fn enabled_events(row: &impl ReadRow) -> Result<EnabledEvents, StoreError> {
    let text: String = row.column("enabled_events")?;
    serde_json::from_str(&text)
        .map(EnabledEvents::from_trusted)
        .map_err(|_| rows::corrupt("enabled_events"))
}

/// The columns [`endpoint`] reads.
const ENDPOINTS: Table = Table::new(
    "webhook_endpoints",
    "id, merchant_id, url, description, enabled_events, metadata, status, disabled_reason, failing_since, created_at, updated_at",
);

/// A `webhook_endpoints` row.
fn endpoint(row: &impl ReadRow) -> Result<WebhookEndpoint, StoreError> {
    let metadata: String = row.column("metadata")?;
    let failing_since: Option<i64> = row.column("failing_since")?;
    Ok(WebhookEndpoint {
        id: EndpointId::from_trusted(row.column("id")?),
        merchant_id: rows::uuid(row, "merchant_id")?,
        url: row.column("url")?,
        description: row.column("description")?,
        enabled_events: enabled_events(row)?,
        metadata: serde_json::from_str(&metadata).map_err(|_| rows::corrupt("metadata"))?,
        status: status(row)?,
        disabled_reason: row.column("disabled_reason")?,
        failing_since: failing_since.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(row.column("created_at")?),
        updated_at: Timestamp::from_millis(row.column("updated_at")?),
    })
}

/// One of the merchant's endpoints; with `lock`, locked until commit.
pub(crate) async fn endpoint_row<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    id: &EndpointId,
    lock: bool,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let text = ENDPOINTS.select_where("id = $1 AND merchant_id = $2");
    let sql = if lock {
        Sql::locking(&text)
    } else {
        Sql::new(&text)
    };
    let sql = sql.arg(id.to_string()).arg(merchant.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(endpoint)
        .transpose()
}

/// The merchant's endpoints, newest first.
pub(crate) async fn list_endpoints<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    request: PageRequest,
) -> Result<Page<WebhookEndpoint>, StoreError> {
    list::<DB, _>(
        conn,
        (&ENDPOINTS, "merchant_id = $1", 1),
        |sql| sql.arg(merchant.to_string()),
        request,
        endpoint,
    )
    .await
}

/// The query that picks a merchant's default endpoint (its oldest), over `$1`.
const DEFAULT_ENDPOINT: &str =
    "SELECT id FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 1";

/// A merchant's webhook settings as `webhooks/config` shows them; `None` for an unknown merchant.
pub(crate) async fn webhook_config<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
) -> Result<Option<WebhookConfig>, StoreError> {
    let sql = Sql::new(&format!(
        "SELECT m.webhook_secret AS merchant_secret, e.url, e.status, e.secret
         FROM merchants m LEFT JOIN webhook_endpoints e ON e.id = ({DEFAULT_ENDPOINT})
         WHERE m.id = $1"
    ))
    .arg(merchant.to_string());
    let Some(row) = DB::fetch_optional(conn, sql).await? else {
        return Ok(None);
    };
    let url: Option<String> = row.column("url")?;
    let default = match url {
        Some(url) => Some(DefaultEndpoint {
            url,
            status: status(&row)?,
            secret: row.column("secret")?,
        }),
        None => None,
    };
    Ok(Some(legacy_config(default, row.column("merchant_secret")?)))
}

/// Locks the merchant (so endpoint counts and the default endpoint hold until commit) and
/// returns its own webhook secret; `NotFound` for an unknown merchant.
async fn lock_merchant<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
) -> Result<String, StoreError> {
    let sql = Sql::locking("SELECT webhook_secret FROM merchants WHERE id = $1")
        .arg(merchant.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .ok_or(StoreError::NotFound("Merchant"))?
        .column("webhook_secret")
}

/// The merchant's default endpoint's id, if it has an endpoint.
async fn default_endpoint<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
) -> Result<Option<EndpointId>, StoreError> {
    let sql = Sql::new(DEFAULT_ENDPOINT).arg(merchant.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .map(|row| row.column("id").map(EndpointId::from_trusted))
        .transpose()
}

/// Inserts `endpoint` with `secret`.
async fn insert_endpoint<DB: Dialect>(
    conn: &mut DB::Connection,
    endpoint: &WebhookEndpoint,
    secret: &str,
) -> Result<(), StoreError> {
    let sql = Sql::new(
        "INSERT INTO webhook_endpoints (id, merchant_id, url, description, enabled_events, metadata, status,
                                        disabled_reason, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .arg(endpoint.id.to_string())
    .arg(endpoint.merchant_id.to_string())
    .arg(endpoint.url.clone())
    .arg(endpoint.description.clone())
    .arg(json(&serde_json::json!(endpoint.enabled_events.names()))?)
    .arg(json(&serde_json::Value::Object(endpoint.metadata.clone()))?)
    .arg(endpoint.status.as_str())
    .arg(endpoint.disabled_reason.clone())
    .arg(secret.to_owned())
    .arg(endpoint.created_at.as_millis())
    .arg(endpoint.updated_at.as_millis());
    DB::execute(conn, sql).await.map(|_| ())
}

fn json(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(e.to_string()))
}

/// Inserts an endpoint if core admits one more over the merchant's locked count.
pub(crate) fn create_endpoint<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (created, idem): &'c (EndpointWithSecret, Option<IdempotencyRecord>),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let merchant = created.endpoint.merchant_id;
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), idem.as_ref()).await?;
        lock_merchant::<DB>(conn, merchant).await?;
        let count = Sql::new("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE merchant_id = $1")
            .arg(merchant.to_string());
        let existing: i64 = match DB::fetch_optional(conn, count).await? {
            Some(row) => row.column("n")?,
            None => 0,
        };
        admit_new_endpoint(existing)?;
        insert_endpoint::<DB>(conn, &created.endpoint, &created.secret).await
    })
}

/// Writes every field a patch can change (enabling an endpoint clears its `failing_since`).
async fn write_endpoint<DB: Dialect>(
    conn: &mut DB::Connection,
    endpoint: &WebhookEndpoint,
) -> Result<(), StoreError> {
    let sql = Sql::new(
        "UPDATE webhook_endpoints SET url = $1, description = $2, enabled_events = $3, metadata = $4,
                status = $5, disabled_reason = $6, updated_at = $7, failing_since = $10
         WHERE id = $8 AND merchant_id = $9",
    )
    .arg(endpoint.url.clone())
    .arg(endpoint.description.clone())
    .arg(json(&serde_json::json!(endpoint.enabled_events.names()))?)
    .arg(json(&serde_json::Value::Object(endpoint.metadata.clone()))?)
    .arg(endpoint.status.as_str())
    .arg(endpoint.disabled_reason.clone())
    .arg(endpoint.updated_at.as_millis())
    .arg(endpoint.id.to_string())
    .arg(endpoint.merchant_id.to_string())
    .arg(endpoint.failing_since.map(Timestamp::as_millis));
    DB::execute(conn, sql).await.map(|_| ())
}

/// Applies core's validated patch to the locked endpoint.
pub(crate) fn update_endpoint<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, id, patch, now): &'c (MerchantId, EndpointId, EndpointPatch, Timestamp),
) -> Fut<'c, WebhookEndpoint> {
    Box::pin(async move {
        let mut endpoint = endpoint_row::<DB>(conn, *merchant, id, true)
            .await?
            .ok_or(StoreError::NotFound("Webhook endpoint"))?;
        patch.apply(&mut endpoint, *now);
        write_endpoint::<DB>(conn, &endpoint).await?;
        Ok(endpoint)
    })
}

/// Deletes the merchant's endpoint.
pub(crate) fn delete_endpoint<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, id): &'c (MerchantId, EndpointId),
) -> Fut<'c, ()> {
    Box::pin(async move {
        let sql = Sql::new("DELETE FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2")
            .arg(id.to_string())
            .arg(merchant.to_string());
        match DB::execute(conn, sql).await? {
            0 => Err(StoreError::NotFound("Webhook endpoint")),
            _ => Ok(()),
        }
    })
}

/// The arguments of an endpoint secret rotation.
pub(crate) type Rotation = (
    MerchantId,
    EndpointId,
    String,
    Timestamp,
    Timestamp,
    Option<IdempotencyRecord>,
);

/// Makes the new secret current; the one it replaces signs beside it until the given time.
pub(crate) fn rotate_endpoint_secret<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, id, secret, until, now, idem): &'c Rotation,
) -> Fut<'c, ()> {
    Box::pin(async move {
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), idem.as_ref()).await?;
        let sql = Sql::new(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $1,
                    secret = $2, updated_at = $3
             WHERE id = $4 AND merchant_id = $5",
        )
        .arg(until.as_millis())
        .arg(secret.clone())
        .arg(now.as_millis())
        .arg(id.to_string())
        .arg(merchant.to_string());
        match DB::execute(conn, sql).await? {
            0 => Err(StoreError::NotFound("Webhook endpoint")),
            _ => Ok(()),
        }
    })
}

/// `PUT webhooks/config`: points the default endpoint at `url` and enables it (creating it with
/// the merchant's secret and every event if the merchant has none), or with `None` disables it.
pub(crate) fn set_webhook_url<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, url, now): &'c (MerchantId, Option<String>, Timestamp),
) -> Fut<'c, WebhookConfig> {
    Box::pin(async move {
        let merchant_secret = lock_merchant::<DB>(conn, *merchant).await?;
        let default = default_endpoint::<DB>(conn, *merchant).await?;
        let patch = EndpointPatch {
            url: url.clone(),
            status: Some(if url.is_some() {
                EndpointStatus::Enabled
            } else {
                EndpointStatus::Disabled
            }),
            ..EndpointPatch::default()
        };
        match (default, url) {
            (Some(id), _) => {
                let mut endpoint = endpoint_row::<DB>(conn, *merchant, &id, true)
                    .await?
                    .ok_or(StoreError::NotFound("Webhook endpoint"))?;
                patch.apply(&mut endpoint, *now);
                write_endpoint::<DB>(conn, &endpoint).await?;
            }
            (None, Some(url)) => {
                let endpoint = WebhookEndpoint {
                    id: EndpointId::generate(),
                    merchant_id: *merchant,
                    url: url.clone(),
                    description: None,
                    enabled_events: EnabledEvents::all(),
                    metadata: serde_json::Map::new(),
                    status: EndpointStatus::Enabled,
                    disabled_reason: None,
                    failing_since: None,
                    created_at: *now,
                    updated_at: *now,
                };
                insert_endpoint::<DB>(conn, &endpoint, &merchant_secret).await?;
            }
            (None, None) => {}
        }
        webhook_config::<DB>(conn, *merchant)
            .await?
            .ok_or(StoreError::NotFound("Merchant"))
    })
}

/// `POST webhooks/secret/regenerate`: replaces the merchant's secret and its default
/// endpoint's at once, as the reference does (no overlap).
pub(crate) fn set_webhook_secret<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, secret, now, idem): &'c (MerchantId, String, Timestamp, Option<IdempotencyRecord>),
) -> Fut<'c, ()> {
    Box::pin(async move {
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), idem.as_ref()).await?;
        lock_merchant::<DB>(conn, *merchant).await?;
        let sql =
            Sql::new("UPDATE merchants SET webhook_secret = $1, updated_at = $2 WHERE id = $3")
                .arg(secret.clone())
                .arg(now.as_millis())
                .arg(merchant.to_string());
        DB::execute(conn, sql).await?;
        if let Some(id) = default_endpoint::<DB>(conn, *merchant).await? {
            let sql = Sql::new(
                "UPDATE webhook_endpoints SET secret = $1, previous_secret = NULL,
                        previous_secret_expires_at = NULL, updated_at = $2
                 WHERE id = $3",
            )
            .arg(secret.clone())
            .arg(now.as_millis())
            .arg(id.to_string());
            DB::execute(conn, sql).await?;
        }
        Ok(())
    })
}
