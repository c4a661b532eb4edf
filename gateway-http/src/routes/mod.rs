//! Routes, one file per resource.

mod checkout;
mod dashboard;
mod docs;
mod orders;
mod payments;
mod refunds;
mod stats;
mod system;
mod webhooks;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gateway_core::Idempotent;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::openapi::ApiDoc;

pub(crate) use checkout::pages as checkout_pages;
pub(crate) use dashboard::pages as dashboard_pages;
pub(crate) use docs::swagger_ui;

/// Every route of the API, each with its OpenAPI operation (see [`crate::openapi`]).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(orders::routes())
        .merge(payments::routes())
        .merge(refunds::routes())
        .merge(webhooks::routes())
        .merge(stats::routes())
        .merge(system::routes())
        .merge(checkout::routes())
        .merge(docs::routes())
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
