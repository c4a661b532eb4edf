//! `/api/v1/orders`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use gateway_core::gateway::CreateOrder;
use gateway_core::order::Order;
use gateway_core::store::Page;

use super::respond;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, Command, ListQuery};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orders", get(list).post(create))
        .route("/api/v1/orders/{id}", get(show))
}

async fn create(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<CreateOrder>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_order(merchant, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(state.gateway.get_order(merchant, &id).await?))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<Order>>, ApiError> {
    Ok(Json(
        state.gateway.list_orders(merchant, query.page()).await?,
    ))
}
