//! `/api/v1/refunds`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use gateway_core::refund::Refund;
use gateway_core::store::Page;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, ListQuery};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/refunds", get(list))
        .route("/api/v1/refunds/{id}", get(show))
}

async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Refund>, ApiError> {
    Ok(Json(state.gateway.get_refund(merchant, &id).await?))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<Refund>>, ApiError> {
    Ok(Json(
        state
            .gateway
            .list_refunds(merchant, query.payment_id.as_deref(), query.page())
            .await?,
    ))
}
