//! Routes, one file per resource.

mod checkout;
mod dashboard;
mod docs;
mod endpoints;
mod events;
mod orders;
mod payments;
mod refunds;
mod stats;
mod system;
mod webhooks;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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

/// Whether a page served from the binary may be shown in another site's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `X-Frame-Options: DENY` (its CSP says `frame-ancestors 'none'` too).
    Denied,
    /// Embeddable: the checkout opens inside merchants' pages.
    Allowed,
}

/// Sets what every page served from the binary carries: its CSP, `nosniff`, `no-referrer`, and
/// `X-Frame-Options: DENY` unless it is meant to be framed.
fn page_headers(headers: &mut HeaderMap, csp: &'static str, framing: Framing) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if framing == Framing::Denied {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}

/// Every route of the API, each with its OpenAPI operation (see [`crate::openapi`]).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(orders::routes())
        .merge(payments::routes())
        .merge(refunds::routes())
        .merge(webhooks::routes())
        .merge(endpoints::routes())
        .merge(events::routes())
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
