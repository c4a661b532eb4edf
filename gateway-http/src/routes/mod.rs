//! Routes, one file per resource.

mod orders;
mod payments;
mod refunds;
mod system;
mod webhooks;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gateway_core::Idempotent;
use serde::Serialize;

use crate::AppState;

/// Every route of the API.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(orders::routes())
        .merge(payments::routes())
        .merge(refunds::routes())
        .merge(webhooks::routes())
        .merge(system::routes())
}

/// The answer to an idempotent command: the fresh result, or the original body of a replay
/// marked `Idempotent-Replayed: true`.
pub(crate) fn respond<T: Serialize>(status: StatusCode, outcome: Idempotent<T>) -> Response {
    match outcome {
        Idempotent::Fresh(value) => (status, Json(value)).into_response(),
        Idempotent::Replayed(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::HeaderName::from_static("idempotent-replayed"),
                    HeaderValue::from_static("true"),
                ),
            ],
            body,
        )
            .into_response(),
    }
}
