//! `/api/v1/orders`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gateway_core::gateway::CreateOrder;
use gateway_core::ids::OrderId;
use gateway_core::order::{Order, OrderStatus};
use gateway_core::store::{OrderFilter, Page};
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
        .routes(routes!(list, create))
        .routes(routes!(show))
}

/// Create an order
///
/// The order is `created`; payments are made against it until one succeeds.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "createOrder",
    security(("api_key" = [], "api_secret" = [])),
    params(IdempotencyKeyHeader),
    request_body = CreateOrder,
    responses(
        (status = CREATED, description = "The new order.", body = Order),
        BadRequest, Unauthorized, Conflict, PayloadTooLarge, KeyReused, Unavailable,
    ),
)]
async fn create(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    cmd: Command<CreateOrder>,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_order_with_key(merchant, cmd.body, cmd.idempotency)
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

/// Get an order
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "getOrder",
    security(("api_key" = [], "api_secret" = [])),
    params(("id" = OrderId, Path, description = "The order's id.")),
    responses(
        (status = OK, description = "The order.", body = Order),
        Unauthorized, NotFound, Unavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    Found(id): Found<OrderId>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(state.gateway.get_order(merchant, &id).await?))
}

/// List orders
///
/// Newest first, optionally only one status.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "listOrders",
    security(("api_key" = [], "api_secret" = [])),
    params(
        PageParams,
        ("status" = Option<OrderStatus>, Query, description = "Only orders in this status."),
    ),
    responses(
        (status = OK, description = "A page of orders.", body = Page<Order>),
        BadRequest, Unauthorized, Unavailable,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    query: ListQuery,
) -> Result<Json<Page<Order>>, ApiError> {
    let status =
        match query.status.as_deref() {
            None => None,
            Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request("status must be created, attempted or paid")
            })?),
        };
    Ok(Json(
        state
            .gateway
            .list_orders(merchant, OrderFilter { status }, query.page())
            .await?,
    ))
}
