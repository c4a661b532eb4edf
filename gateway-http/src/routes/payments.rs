//! `/api/v1/payments`: create, read, list, capture, and refunds of a payment.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use gateway_core::gateway::{CapturePayment, CreatePayment, CreateRefund};
use gateway_core::ids::OrderId;
use gateway_core::payment::{Payment, PaymentStatus};
use gateway_core::refund::Refund;
use gateway_core::store::{Page, PaymentFilter};

use super::respond;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, Command, ListQuery};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/payments", get(list).post(create))
        .route("/api/v1/payments/{id}", get(show))
        .route("/api/v1/payments/{id}/capture", post(capture))
        .route("/api/v1/payments/{id}/refunds", post(refund).get(refunds))
}

async fn create(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<CreatePayment>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_payment(merchant, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    Ok(Json(state.gateway.get_payment(merchant, &id).await?))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<Payment>>, ApiError> {
    let status =
        match query.status.as_deref() {
            None => None,
            Some(s) => Some(PaymentStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request("status must be pending, success or failed")
            })?),
        };
    // An order id of the wrong shape matches nothing, like any unknown order.
    let order_id = match query.order_id.as_deref() {
        None => None,
        Some(id) => match OrderId::parse(id) {
            Some(id) => Some(id),
            None => {
                return Ok(Json(Page {
                    data: Vec::new(),
                    total: 0,
                    limit: query.page().limit,
                    offset: query.page().offset,
                }));
            }
        },
    };
    let filter = PaymentFilter { status, order_id };
    Ok(Json(
        state
            .gateway
            .list_payments(merchant, filter, query.page())
            .await?,
    ))
}

async fn capture(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
    cmd: Command<CapturePayment>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .capture_payment(merchant, &id, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

async fn refund(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
    cmd: Command<CreateRefund>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_refund(merchant, &id, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

async fn refunds(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Json<Page<Refund>>, ApiError> {
    state.gateway.get_payment(merchant, &id).await?;
    Ok(Json(
        state
            .gateway
            .list_refunds(merchant, Some(&id), query.page())
            .await?,
    ))
}
