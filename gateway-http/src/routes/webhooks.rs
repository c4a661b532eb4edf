//! `/api/v1/webhooks`: delivery logs, manual retry, test events, URL and secret.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gateway_core::gateway::{RotatedSecret, UpdateWebhookConfig};
use gateway_core::ids::{DeliveryId, EndpointId};
use gateway_core::store::{DeliveryFilter, Page};
use gateway_core::webhook::{DeliveryDetail, DeliveryScheduled, WebhookConfig, WebhookDelivery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, Command, Found, ListQuery};
use crate::openapi::{
    BadRequest, Conflict, IdempotencyKeyHeader, IgnoredBody, KeyReused, NotFound, PageParams,
    PayloadTooLarge, Unauthorized, Unavailable,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(config, update_config))
        .routes(routes!(send_test))
        .routes(routes!(regenerate_secret))
        .routes(routes!(show))
        .routes(routes!(retry))
}

/// List webhook deliveries
///
/// Newest first; optionally only those to one endpoint or of one event type.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "listWebhookDeliveries",
    security(("api_key" = [], "api_secret" = [])),
    params(
        PageParams,
        ("endpoint_id" = Option<EndpointId>, Query, description = "Only deliveries to this endpoint."),
        ("event" = Option<String>, Query, description = "Only deliveries of this event type, e.g. `payment.success`."),
    ),
    responses(
        (status = OK, description = "A page of deliveries.", body = Page<WebhookDelivery>),
        BadRequest, Unauthorized, Unavailable,
    ),
)]

async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<WebhookDelivery>>, ApiError> {
    let filter = DeliveryFilter::parse(query.endpoint_id.as_deref(), query.event.as_deref())?;
    Ok(Json(
        state
            .gateway
            .list_deliveries(merchant, filter, query.page())
            .await?,
    ))
}

/// Get a webhook delivery
///
/// The delivery with its log of attempts.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "getWebhookDelivery",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = String, Path, format = Uuid, description = "The delivery's id (its `webhook-id`).")),
    responses(
        (status = OK, description = "The delivery and its attempts.", body = DeliveryDetail),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<DeliveryId>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    Ok(Json(state.gateway.get_delivery(merchant, id).await?))
}

/// Retry a webhook delivery
///
/// Re-arms the delivery for an immediate attempt with a fresh set of retries.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/retry",
    tag = "webhooks",
    operation_id = "retryWebhookDelivery",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The delivery's id."),
        IdempotencyKeyHeader,
    ),
    request_body(content = Option<IgnoredBody>, description = "Ignored; may be empty."),
    responses(
        (status = OK, description = "The delivery is scheduled.", body = DeliveryScheduled),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn retry(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<DeliveryId>,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .retry_delivery_with_key(merchant, id, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

/// Send a test webhook
///
/// Schedules a `webhook.test` event to every enabled endpoint, whatever its event filter; the
/// answer names the first delivery (to the default endpoint when it is enabled).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/test",
    tag = "webhooks",
    operation_id = "sendTestWebhook",
    security(("api_key" = [], "api_secret" = [])),
    params(IdempotencyKeyHeader),
    request_body(content = Option<IgnoredBody>, description = "Ignored; may be empty."),
    responses(
        (status = OK, description = "The test delivery is scheduled.", body = DeliveryScheduled),
        BadRequest, Unauthorized, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn send_test(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .send_test_webhook_with_key(merchant, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

/// Get the webhook settings
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/config",
    tag = "webhooks",
    operation_id = "getWebhookConfig",
    security(("api_key" = [], "api_secret" = [])),
    responses(
        (status = OK, description = "The webhook URL and signing secret.", body = WebhookConfig),
        Unauthorized, Unavailable,
    ),
)]
async fn config(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
) -> Result<Json<WebhookConfig>, ApiError> {
    Ok(Json(state.gateway.webhook_config(merchant).await?))
}

/// Set the webhook URL
///
/// Sets the default endpoint's URL (the merchant's oldest endpoint, created with every event on
/// first use) and enables it, or with `null` disables it.
#[utoipa::path(
    put,
    path = "/api/v1/webhooks/config",
    tag = "webhooks",
    operation_id = "updateWebhookConfig",
    security(("api_key" = [], "api_secret" = [])),
    request_body = UpdateWebhookConfig,
    responses(
        (status = OK, description = "The new settings.", body = WebhookConfig),
        BadRequest, Unauthorized, PayloadTooLarge, Unavailable,
    ),
)]
async fn update_config(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<UpdateWebhookConfig>,
) -> Result<Json<WebhookConfig>, ApiError> {
    Ok(Json(
        state
            .gateway
            .update_webhook_config(merchant, cmd.body)
            .await?,
    ))
}

/// Rotate the webhook secret
///
/// Replaces the signing secret; the new one is shown once, in this answer.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/secret/regenerate",
    tag = "webhooks",
    operation_id = "rotateWebhookSecret",
    security(("api_key" = [], "api_secret" = [])),
    params(IdempotencyKeyHeader),
    request_body(content = Option<IgnoredBody>, description = "Ignored; may be empty."),
    responses(
        (status = OK, description = "The new secret.", body = RotatedSecret),
        BadRequest, Unauthorized, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn regenerate_secret(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .rotate_webhook_secret_with_key(merchant, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}
