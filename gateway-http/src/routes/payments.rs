//! `/api/v1/payments`: create, read, list, capture, and refunds of a payment.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gateway_core::gateway::{CapturePayment, CreatePayment, CreateRefund};
use gateway_core::ids::{OrderId, PaymentId};
use gateway_core::payment::{Payment, PaymentStatus};
use gateway_core::refund::Refund;
use gateway_core::store::{Page, PaymentFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond;
use crate::AppState;
use crate::card_fields::PaymentRequest;
use crate::error::ApiError;
use crate::extract::{Authenticated, Command, Found, ListQuery, PaymentCommand};
use crate::openapi::{
    BadRequest, Conflict, IdempotencyKeyHeader, KeyReused, NotFound, PageParams, PayloadTooLarge,
    Unauthorized, Unavailable,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(capture))
        .routes(routes!(refund, refunds))
}

/// Create a payment
///
/// The payment starts `pending`; a worker asks the bank and settles it as `success` or
/// `failed` (poll the payment or listen for the `payment.*` webhooks).
///
/// A card comes nested in `card` or in the reference's flat `card_number`, `card_expiry`
/// (`MM/YY` or `MM/YYYY`), `card_cvv` and `card_holder_name` fields; not both.
#[utoipa::path(
    post,
    path = "/api/v1/payments",
    tag = "payments",
    operation_id = "createPayment",
    security(("api_key" = [], "api_secret" = [])),
    params(IdempotencyKeyHeader),
    request_body = PaymentRequest,
    responses(
        (status = CREATED, description = "The new, pending payment.", body = Payment),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]

async fn create(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    PaymentCommand(cmd): PaymentCommand,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_payment_with_key(
            merchant,
            CreatePayment::try_from(cmd.body)?,
            cmd.idempotency,
        )
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

/// Get a payment
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}",
    tag = "payments",
    operation_id = "getPayment",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = PaymentId, Path, description = "The payment's id.")),
    responses(
        (status = OK, description = "The payment.", body = Payment),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<PaymentId>,
) -> Result<Json<Payment>, ApiError> {
    Ok(Json(state.gateway.get_payment(merchant, &id).await?))
}

/// List payments
///
/// Newest first, optionally only one status or one order's.
#[utoipa::path(
    get,
    path = "/api/v1/payments",
    tag = "payments",
    operation_id = "listPayments",
    security(("api_key" = [], "api_secret" = [])),
    params(
        PageParams,
        ("status" = Option<PaymentStatus>, Query, description = "Only payments in this status."),
        ("order_id" = Option<OrderId>, Query,
            description = "Only this order's payments (an unknown order has none)."),
    ),
    responses(
        (status = OK, description = "A page of payments.", body = Page<Payment>),
        BadRequest, Unauthorized, Unavailable,
    ),
)]
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

/// Capture a payment
///
/// Only a successful payment can be captured, once.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/capture",
    tag = "payments",
    operation_id = "capturePayment",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("id" = PaymentId, Path, description = "The payment's id."),
        IdempotencyKeyHeader,
    ),
    request_body(content = Option<CapturePayment>, description = "May be empty."),
    responses(
        (status = OK, description = "The captured payment.", body = Payment),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn capture(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<PaymentId>,
    cmd: Command<CapturePayment>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .capture_payment_with_key(merchant, &id, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::OK, outcome))
}

/// Refund a payment
///
/// The refund starts `pending` and counts against the payment's refundable balance at once;
/// a worker settles it. Only successful payments can be refunded, in all at most their amount.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/refunds",
    tag = "payments",
    operation_id = "createRefund",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("id" = PaymentId, Path, description = "The payment to refund."),
        IdempotencyKeyHeader,
    ),
    request_body(content = Option<CreateRefund>, description = "May be empty: refunds the whole payment."),
    responses(
        (status = CREATED, description = "The new, pending refund.", body = Refund),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn refund(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<PaymentId>,
    cmd: Command<CreateRefund>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_refund_with_key(merchant, &id, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

/// List a payment's refunds
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}/refunds",
    tag = "payments",
    operation_id = "listPaymentRefunds",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = PaymentId, Path, description = "The payment's id."), PageParams),
    responses(
        (status = OK, description = "A page of the payment's refunds.", body = Page<Refund>),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
)]
async fn refunds(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<PaymentId>,
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
