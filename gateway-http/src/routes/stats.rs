//! `/api/v1/stats`: the aggregates behind the dashboard's overview.

use axum::Json;
use axum::extract::Query;
use axum::extract::State;
use axum::http::Uri;
use gateway_core::money::Currency;
use gateway_core::stats::{PaymentStats, StatsRange};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Authenticated;
use crate::openapi::{BadRequest, Unauthorized, Unavailable};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// The query of `GET /api/v1/stats`.
#[derive(Debug, Default, Deserialize)]
struct StatsQuery {
    range: Option<String>,
    currency: Option<String>,
}

/// Payment statistics
///
/// Payments created in the window by bucket and current status (count and amount, zero-filled,
/// oldest first), the success rate, refunds and webhook deliveries created in the window. Only
/// payments in `currency` are counted. Buckets are UTC hours (`24h`) or UTC days (`30d`); the
/// last bucket is the current one.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "stats",
    operation_id = "paymentStats",
    security(("api_key" = [], "api_secret" = [])),
    params(
        ("range" = Option<StatsRange>, Query, description = "`24h` (by hour, the default) or `30d` (by day)."),
        ("currency" = Option<Currency>, Query, description = "ISO 4217 code; `INR` if absent."),
    ),
    responses(
        (status = OK, description = "The overview.", body = PaymentStats),
        BadRequest, Unauthorized, Unavailable,
    ),
)]
async fn overview(
    State(state): State<AppState>,
    Authenticated(merchant): Authenticated,
    uri: Uri,
) -> Result<Json<PaymentStats>, ApiError> {
    let Query(query) = Query::<StatsQuery>::try_from_uri(&uri)
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {}", e.body_text())))?;
    let range = match query.range.as_deref() {
        None => StatsRange::default(),
        Some(text) => StatsRange::parse(text)
            .ok_or_else(|| ApiError::bad_request("range must be 24h or 30d"))?,
    };
    let currency = match query.currency.as_deref() {
        None => Currency::INR,
        Some(code) => Currency::parse(code)
            .ok_or_else(|| ApiError::bad_request("currency must be a supported ISO 4217 code"))?,
    };
    Ok(Json(
        state
            .gateway
            .payment_stats(merchant, range, currency)
            .await?,
    ))
}
