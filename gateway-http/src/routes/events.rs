//! `/api/v1/events`: the events the gateway recorded for a merchant, kept for the retention
//! period, each with the exact payload its webhook deliveries signed, and resent on request.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gateway_core::event::{EventType, RecordedEvent};
use gateway_core::gateway::ListEvents;
use gateway_core::ids::EventId;
use gateway_core::resend::{ResendEvent, Resent};
use gateway_core::store::Page;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, Command, Found, ListQuery};
use crate::openapi::{
    BadRequest, Conflict, IdempotencyKeyHeader, KeyReused, NotFound, PageParams, PayloadTooLarge,
    Unauthorized, Unavailable,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(resend))
}

/// List events
///
/// Newest first (events of the same second in the order they happened, latest first);
/// optionally only one type, or those created in a range. Events are kept for the retention
/// period (30 days by default), whether or not a webhook endpoint received them.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    operation_id = "listEvents",
    security(("api_key" = [], "api_secret" = [])),
    params(
        PageParams,
        ("type" = Option<EventType>, Query, description = "Only events of this type, e.g. `payment.success`."),
        ("from" = Option<String>, Query, description = "Only events created at or after this time: RFC 3339 (`2024-01-15T10:30:00Z`) or Unix seconds."),
        ("to" = Option<String>, Query, description = "Only events created at or before this time, to the second: RFC 3339 or Unix seconds."),
    ),
    responses(
        (status = OK, description = "A page of events.", body = Page<RecordedEvent>),
        BadRequest, Unauthorized, Unavailable,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<RecordedEvent>>, ApiError> {
    let page = query.page();
    let filter = ListEvents {
        event_type: query.event_type,
        from: query.from,
        to: query.to,
    };
    Ok(Json(
        state.gateway.list_events(merchant, filter, page).await?,
    ))
}

/// Get an event
///
/// The event with its `payload`: byte for byte the JSON body its webhook deliveries sent and
/// signed.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    tag = "events",
    operation_id = "getEvent",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = EventId, Path, description = "The event's id.")),
    responses(
        (status = OK, description = "The event.", body = RecordedEvent),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EventId>,
) -> Result<Json<RecordedEvent>, ApiError> {
    Ok(Json(state.gateway.get_event(merchant, &id).await?))
}

/// Resend an event
///
/// Delivers the event again, its `payload` byte for byte as recorded, signed with each target
/// endpoint's current secret(s): to `endpoint_id` (an enabled endpoint of the merchant; its
/// event filter is not consulted), or without it to every enabled endpoint whose
/// `enabled_events` match the event's type. Each target gets a new `pending` delivery (a new
/// `webhook-id`) on the usual retry schedule. `400` if the named endpoint is disabled or no
/// enabled endpoint matches; `404` for an unknown endpoint or an event that is not the
/// merchant's or is past the retention period. The body may be empty.
#[utoipa::path(
    post,
    path = "/api/v1/events/{id}/resend",
    tag = "events",
    operation_id = "resendEvent",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("id" = EventId, Path, description = "The event's id."),
        IdempotencyKeyHeader,
    ),
    request_body(content = Option<ResendEvent>, description = "Optional; an empty body resends to every matching endpoint."),
    responses(
        (status = ACCEPTED, description = "The deliveries created.", body = Resent),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn resend(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EventId>,
    cmd: Command<ResendEvent>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .resend_event_with_key(merchant, &id, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::ACCEPTED, outcome))
}
