//! `/api/v1/refunds`.

use axum::Json;
use axum::extract::State;
use gateway_core::ids::{PaymentId, RefundId, TypedId};
use gateway_core::refund::Refund;
use gateway_core::store::Page;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, Found, ListQuery};
use crate::openapi::{BadRequest, NotFound, PageParams, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
}

/// Get a refund
#[utoipa::path(
    get,
    path = "/api/v1/refunds/{id}",
    tag = "refunds",
    operation_id = "getRefund",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = RefundId, Path, description = "The refund's id.")),
    responses(
        (status = OK, description = "The refund.", body = Refund),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<RefundId>,
) -> Result<Json<Refund>, ApiError> {
    Ok(Json(state.gateway.get_refund(merchant, &id).await?))
}

/// List refunds
///
/// Newest first, optionally only one payment's.
#[utoipa::path(
    get,
    path = "/api/v1/refunds",
    tag = "refunds",
    operation_id = "listRefunds",
    security(("api_key" = [], "api_secret" = [])),
    params(
        PageParams,
        ("payment_id" = Option<PaymentId>, Query,
            description = "Only this payment's refunds; 404 if there is no such payment."),
    ),
    responses(
        (status = OK, description = "A page of refunds.", body = Page<Refund>),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<Refund>>, ApiError> {
    let payment = query
        .payment_id
        .as_deref()
        .map(PaymentId::find)
        .transpose()?;
    Ok(Json(
        state
            .gateway
            .list_refunds(merchant, payment.as_ref(), query.page())
            .await?,
    ))
}
