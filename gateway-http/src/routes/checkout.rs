//! The hosted checkout: the page and the SDK served from the binary, and the narrow JSON
//! endpoints the page calls with the merchant's publishable key alone (`X-Api-Key`, never the
//! secret): read an order's summary, pay it, poll that payment. Nothing is listable, and every
//! call is limited per key and client address.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gateway_core::IdempotencyKey;
use gateway_core::gateway::{CheckoutOrder, CheckoutPayment, CreatePayment};
use gateway_core::ids::{OrderId, PaymentId};
use gateway_core::payment::Payment;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond;
use crate::AppState;
use crate::card_fields::PaymentRequest;
use crate::error::ApiError;
use crate::extract::{Found, PaymentCommand, Publishable};
use crate::openapi::{
    BadRequest, Conflict, IdempotencyKeyHeader, KeyReused, NotFound, PayloadTooLarge,
    TooManyRequests, Unauthorized, Unavailable,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(order))
        .routes(routes!(pay))
        .routes(routes!(payment))
}

/// Checkout: an order's summary
///
/// What the checkout page shows: amount, currency, status and the merchant's name. Needs only
/// the publishable key (`X-Api-Key`); other merchants' orders are not found.
#[utoipa::path(
    get,
    path = "/api/v1/checkout/orders/{id}",
    tag = "checkout",
    operation_id = "checkoutOrder",
    security(("api_key" = [])),
    params(("id" = OrderId, Path, description = "The order's id.")),
    responses(
        (status = OK, description = "The order's public summary.", body = CheckoutOrder),
        Unauthorized, NotFound, TooManyRequests, Unavailable,
    ),
)]
async fn order(
    State(state): State<AppState>,
    Publishable(merchant): Publishable,
    Found(id): Found<OrderId>,
) -> Result<Json<CheckoutOrder>, ApiError> {
    Ok(Json(state.gateway.checkout_order(&merchant, &id).await?))
}

/// Checkout: pay an order
///
/// Creates a pending payment for one of the merchant's orders, as `POST /api/v1/payments`
/// does, with the publishable key alone.
///
/// A card comes nested in `card` or in the reference's flat `card_number`, `card_expiry`
/// (`MM/YY` or `MM/YYYY`), `card_cvv` and `card_holder_name` fields; not both.
#[utoipa::path(
    post,
    path = "/api/v1/checkout/payments",
    tag = "checkout",
    operation_id = "checkoutPay",
    security(("api_key" = [])),
    params(IdempotencyKeyHeader),
    request_body = PaymentRequest,
    responses(
        (status = CREATED, description = "The new, pending payment.", body = Payment),
        BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, KeyReused, TooManyRequests, Unavailable,
    ),
)]
async fn pay(
    State(state): State<AppState>,
    Publishable(merchant): Publishable,
    PaymentCommand(cmd): PaymentCommand,
) -> Result<Response, ApiError> {
    let outcome = state
        .gateway
        .create_payment_with_key(
            merchant.id,
            CreatePayment::try_from(cmd.body)?,
            cmd.idempotency.map(IdempotencyKey::publishable),
        )
        .await?;
    Ok(respond(StatusCode::CREATED, outcome))
}

/// Checkout: poll a payment
///
/// The payment and, once it has ended, `result`: the signed outcome the checkout hands to the
/// merchant's page (verify it with the webhook secret, see `verify_checkout_result`).
#[utoipa::path(
    get,
    path = "/api/v1/checkout/payments/{id}",
    tag = "checkout",
    operation_id = "checkoutPayment",
    security(("api_key" = [])),
    params(("id" = PaymentId, Path, description = "The payment's id.")),
    responses(
        (status = OK, description = "The payment, with its signed result once it has ended.", body = CheckoutPayment),
        Unauthorized, NotFound, TooManyRequests, Unavailable,
    ),
)]
async fn payment(
    State(state): State<AppState>,
    Publishable(merchant): Publishable,
    Found(id): Found<PaymentId>,
) -> Result<Json<CheckoutPayment>, ApiError> {
    Ok(Json(
        state.gateway.checkout_payment(merchant.id, &id).await?,
    ))
}

const PAGE: &str = include_str!("../../assets/checkout/index.html");
const PAGE_SCRIPT: &str = include_str!("../../assets/checkout/checkout.js");
const PAGE_STYLE: &str = include_str!("../../assets/checkout/checkout.css");
const SDK: &str = include_str!("../../assets/checkout.min.js");

/// The page, its script and style, and the SDK. Not API operations, so not in the document.
pub(crate) fn pages() -> Router<AppState> {
    Router::new()
        .route(
            "/checkout",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/checkout/checkout.js",
            get(|| async { asset("text/javascript; charset=utf-8", PAGE_SCRIPT) }),
        )
        .route(
            "/checkout/checkout.css",
            get(|| async { asset("text/css; charset=utf-8", PAGE_STYLE) }),
        )
        .route(
            "/checkout.js",
            get(|| async { asset("text/javascript; charset=utf-8", SDK) }),
        )
}

/// A static file with headers that keep the page self-contained: only same-origin scripts,
/// styles and requests; embeddable in any merchant's page (that is its purpose).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    super::page_headers(
        headers,
        "default-src 'self'; img-src 'self' data:; frame-ancestors *; base-uri 'none'; form-action 'self'",
        super::Framing::Allowed,
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
