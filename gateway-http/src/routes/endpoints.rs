//! `/api/v1/webhooks/endpoints`: a merchant's webhook endpoints, their filters and secrets.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gateway_core::endpoint::{
    CreateEndpoint, EndpointWithSecret, RotatedEndpointSecret, UpdateEndpoint, WebhookEndpoint,
};
use gateway_core::endpoint_health::{RecoverEndpoint, Recovering};
use gateway_core::ids::EndpointId;
use gateway_core::store::Page;
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
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(recover))
}

/// Add a webhook endpoint
///
/// At most 16 per merchant. The answer carries the endpoint's signing `secret`: it is shown
/// here only.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/endpoints",
    tag = "webhooks",
    operation_id = "createWebhookEndpoint",
    security(("api_key" = [], "api_secret" = [])),
    params(IdempotencyKeyHeader),
    request_body = CreateEndpoint,
    responses(
        (status = CREATED, description = "The new endpoint and its secret.", body = EndpointWithSecret),
        BadRequest, Unauthorized, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn create(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<CreateEndpoint>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_endpoint_with_key(merchant, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

/// List webhook endpoints
///
/// Newest first; secrets are not shown.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/endpoints",
    tag = "webhooks",
    operation_id = "listWebhookEndpoints",
    security(("api_key" = [], "api_secret" = [])),
    params(PageParams),
    responses(
        (status = OK, description = "A page of endpoints.", body = Page<WebhookEndpoint>),
        BadRequest, Unauthorized, Unavailable,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<WebhookEndpoint>>, ApiError> {
    Ok(Json(
        state.gateway.list_endpoints(merchant, query.page()).await?,
    ))
}

/// Get a webhook endpoint
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/endpoints/{id}",
    tag = "webhooks",
    operation_id = "getWebhookEndpoint",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = OK, description = "The endpoint.", body = WebhookEndpoint),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EndpointId>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    Ok(Json(state.gateway.get_endpoint(merchant, &id).await?))
}

/// Change a webhook endpoint
///
/// Fields left out stay as they are; `status` disables or re-enables it.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/endpoints/{id}",
    tag = "webhooks",
    operation_id = "updateWebhookEndpoint",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body = UpdateEndpoint,
    responses(
        (status = OK, description = "The endpoint as changed.", body = WebhookEndpoint),
        BadRequest, Unauthorized, NotFound, PayloadTooLarge, Unavailable,
    ),
)]
async fn update(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EndpointId>,
    cmd: Command<UpdateEndpoint>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    Ok(Json(
        state
            .gateway
            .update_endpoint(merchant, &id, cmd.body)
            .await?,
    ))
}

/// Delete a webhook endpoint
///
/// It gets no further deliveries; its past deliveries stay listed.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/endpoints/{id}",
    tag = "webhooks",
    operation_id = "deleteWebhookEndpoint",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = NO_CONTENT, description = "Deleted."),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn delete(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EndpointId>,
) -> Result<Response, ApiError> {
    state.gateway.delete_endpoint(merchant, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Rotate a webhook endpoint's secret
///
/// The new secret is shown once, in this answer. For 24 hours the old one keeps signing beside
/// it: `webhook-signature` carries both `v1,` signatures (the new one first), while
/// `X-Webhook-Signature` uses the new one only.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/endpoints/{id}/secret/rotate",
    tag = "webhooks",
    operation_id = "rotateWebhookEndpointSecret",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("id" = EndpointId, Path, description = "The endpoint's id."),
        IdempotencyKeyHeader,
    ),
    request_body(content = Option<IgnoredBody>, description = "Ignored; may be empty."),
    responses(
        (status = OK, description = "The new secret.", body = RotatedEndpointSecret),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn rotate_secret(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EndpointId>,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .rotate_endpoint_secret_with_key(merchant, &id, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

/// Recover a webhook endpoint's failed deliveries
///
/// Resends every delivery to the endpoint that ended `failed` and was created at or after
/// `since`, oldest first and throttled (one every 100 ms), at most 1,000 per call: each is
/// `pending` again with its attempts starting over. The endpoint must be enabled (`400`
/// otherwise: enable it first with `PATCH {"status": "enabled"}`).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/endpoints/{id}/recover",
    tag = "webhooks",
    operation_id = "recoverWebhookEndpoint",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("id" = EndpointId, Path, description = "The endpoint's id."),
        IdempotencyKeyHeader,
    ),
    request_body = RecoverEndpoint,
    responses(
        (status = ACCEPTED, description = "How many failed deliveries are being resent.", body = Recovering),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn recover(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<EndpointId>,
    cmd: Command<RecoverEndpoint>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .recover_endpoint_with_key(merchant, &id, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::ACCEPTED, outcome))
}
