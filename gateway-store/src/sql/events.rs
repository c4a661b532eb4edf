//! The events API's reads, resending an event, and the pruning of events past their retention.
//! Events are written by [`push_events`](super::outbox::push_events), in the transaction of the
//! command that records them.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::event::RecordedEvent;
use gateway_core::idempotency::IdempotencyKey;
use gateway_core::ids::{EndpointId, EventId, MerchantId};
use gateway_core::resend::{Resent, plan_resend, redelivery};
use gateway_core::store::{EventFilter, Page, PageRequest};

use super::dialect::Fut;
use super::endpoints::subscriptions;
use super::outbox::{claim_idempotency_key, push_delivery};
use super::reads::list_ordered;
use super::{Dialect, Sql};
use crate::rows;

/// The merchant's events that pass `filter`, newest first; events of the same instant latest
/// recorded first (`seq`).
pub(crate) async fn list<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    filter: &EventFilter,
    request: PageRequest,
) -> Result<Page<RecordedEvent>, StoreError> {
    let event_type = filter.event_type.map(|t| t.as_str());
    let from = filter.created_from.map(Timestamp::as_millis);
    let before = filter.created_before.map(Timestamp::as_millis);
    list_ordered::<DB, _>(
        conn,
        (
            &rows::EVENTS,
            "merchant_id = $1 AND ($2 IS NULL OR type = $2)
             AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at < $4)",
            4,
            "created_at DESC, seq DESC",
        ),
        |sql| {
            sql.arg(merchant.to_string())
                .arg(event_type)
                .arg(from)
                .arg(before)
        },
        request,
        rows::event,
    )
    .await
}

/// One of the merchant's events.
pub(crate) async fn event<DB: Dialect>(
    conn: &mut DB::Connection,
    merchant: MerchantId,
    id: &EventId,
) -> Result<Option<RecordedEvent>, StoreError> {
    let sql = Sql::new(&rows::EVENTS.select_where("id = $1 AND merchant_id = $2"))
        .arg(id.to_string())
        .arg(merchant.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(rows::event)
        .transpose()
}

/// The arguments of a resend: merchant, event, target endpoint, now, idempotency key.
pub(crate) type Resend = (
    MerchantId,
    EventId,
    Option<EndpointId>,
    Timestamp,
    Option<IdempotencyKey>,
);

/// Creates the deliveries core plans for a resend of the merchant's event (see
/// [`plan_resend`]), each with its job due now, and saves the answer under the idempotency key,
/// if any. Endpoints are read as fan-out reads them when an event is recorded.
pub(crate) fn resend_event<'c, DB: Dialect>(
    conn: &'c mut DB::Connection,
    (merchant, id, target, now, key): &'c Resend,
) -> Fut<'c, Resent> {
    Box::pin(async move {
        let event = event::<DB>(conn, *merchant, id)
            .await?
            .ok_or(StoreError::NotFound("Event"))?;
        let endpoints = subscriptions::<DB>(conn, *merchant).await?;
        let target = match target {
            None => None,
            Some(target) => Some(
                endpoints
                    .iter()
                    .find(|e| e.endpoint_id == *target)
                    .ok_or(StoreError::NotFound("Webhook endpoint"))?,
            ),
        };
        let event = redelivery(&event);
        let planned = plan_resend(&event, &endpoints, target)?;
        let mut batch = DB::Batch::default();
        for delivery in &planned {
            push_delivery::<DB>(&mut batch, delivery, *now);
        }
        DB::execute_batch(conn, batch).await?;
        let resent = Resent::of(event.id.clone(), &planned);
        // As recover: the answer is known only now, and a concurrent duplicate finds the key
        // taken here and rolls its own deliveries back.
        let record = key
            .as_ref()
            .map(|k| {
                serde_json::to_string(&resent)
                    .map(|body| k.record(body, *now))
                    .map_err(|e| StoreError::Other(e.to_string()))
            })
            .transpose()?;
        claim_idempotency_key::<DB>(conn, &merchant.to_string(), record.as_ref()).await?;
        Ok(resent)
    })
}

/// Deletes up to `limit` events created before `before`; returns how many went.
pub(crate) async fn prune<DB: Dialect>(
    conn: &mut DB::Connection,
    before: Timestamp,
    limit: u32,
) -> Result<u64, StoreError> {
    let sql = Sql::new(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < $1 LIMIT $2)",
    )
    .arg(before.as_millis())
    .arg(i64::from(limit));
    DB::execute(conn, sql).await
}
