//! The events API's reads and the pruning of events past their retention. Events are written
//! by [`push_events`](super::outbox::push_events), in the transaction of the command that
//! records them.

use gateway_core::StoreError;
use gateway_core::clock::Timestamp;
use gateway_core::event::RecordedEvent;
use gateway_core::ids::{EventId, MerchantId};
use gateway_core::store::{EventFilter, Page, PageRequest};

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
            "events",
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
    let sql = Sql::new("SELECT * FROM events WHERE id = $1 AND merchant_id = $2")
        .arg(id.to_string())
        .arg(merchant.to_string());
    DB::fetch_optional(conn, sql)
        .await?
        .as_ref()
        .map(rows::event)
        .transpose()
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
