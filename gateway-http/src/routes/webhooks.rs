//! `/api/v1/webhooks`: delivery logs, manual retry, test events, URL and secret.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use gateway_core::gateway::UpdateWebhookConfig;
use gateway_core::store::Page;
use gateway_core::webhook::{DeliveryDetail, WebhookConfig, WebhookDelivery};

use super::respond;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, Command, ListQuery};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list))
        .route("/api/v1/webhooks/config", get(config).put(update_config))
        .route("/api/v1/webhooks/test", post(send_test))
        .route(
            "/api/v1/webhooks/secret/regenerate",
            post(regenerate_secret),
        )
        .route("/api/v1/webhooks/{id}", get(show))
        .route("/api/v1/webhooks/{id}/retry", post(retry))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<WebhookDelivery>>, ApiError> {
    Ok(Json(
        state
            .gateway
            .list_deliveries(merchant, query.page())
            .await?,
    ))
}

async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    Ok(Json(state.gateway.get_delivery(merchant, &id).await?))
}

async fn retry(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .retry_delivery(merchant, &id, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

async fn send_test(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .send_test_webhook(merchant, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

async fn config(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
) -> Result<Json<WebhookConfig>, ApiError> {
    Ok(Json(state.gateway.webhook_config(merchant).await?))
}

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

async fn regenerate_secret(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<serde_json::Value>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .rotate_webhook_secret(merchant, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}
