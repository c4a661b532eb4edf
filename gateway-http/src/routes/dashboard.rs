//! The merchant dashboard: static pages served from the binary at `/dashboard`. The pages call
//! the authenticated API with the key and secret the merchant types in, kept for the tab only.
//!
//! Every file is compiled in (`include_str!`), so the dashboard works offline and always matches
//! the API of the binary serving it. Navigation inside it is hash-based (`/dashboard#/payments/…`),
//! so only the files below are routes. Each answer carries a strict CSP (same-origin scripts,
//! styles and requests only; no inline script; never framed) and an `ETag`, so a browser
//! revalidates instead of running a stale script after an upgrade.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;

/// Served at `/dashboard` and `/dashboard/`.
const INDEX: &str = include_str!("../../assets/dashboard/index.html");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The files under `/dashboard/`: name, content type, body.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", HTML, INDEX),
    (
        "dashboard.css",
        CSS,
        include_str!("../../assets/dashboard/dashboard.css"),
    ),
    ("app.js", JS, include_str!("../../assets/dashboard/app.js")),
    ("lib.js", JS, include_str!("../../assets/dashboard/lib.js")),
    (
        "chart.js",
        JS,
        include_str!("../../assets/dashboard/chart.js"),
    ),
    (
        "overview.js",
        JS,
        include_str!("../../assets/dashboard/overview.js"),
    ),
    (
        "orders.js",
        JS,
        include_str!("../../assets/dashboard/orders.js"),
    ),
    (
        "payments.js",
        JS,
        include_str!("../../assets/dashboard/payments.js"),
    ),
    (
        "refunds.js",
        JS,
        include_str!("../../assets/dashboard/refunds.js"),
    ),
    (
        "webhooks.js",
        JS,
        include_str!("../../assets/dashboard/webhooks.js"),
    ),
    (
        "endpoints.js",
        JS,
        include_str!("../../assets/dashboard/endpoints.js"),
    ),
    (
        "events.js",
        JS,
        include_str!("../../assets/dashboard/events.js"),
    ),
    (
        "developers.js",
        JS,
        include_str!("../../assets/dashboard/developers.js"),
    ),
];

/// One strong validator per file (FNV-1a of its bytes), computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(_, _, body)| {
            let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            HeaderValue::from_str(&format!("\"{hash:016x}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        })
        .collect()
});

pub(crate) fn pages() -> Router<AppState> {
    Router::new()
        .route(
            "/dashboard",
            get(|h: HeaderMap| async move { serve(0, &h) }),
        )
        .route(
            "/dashboard/",
            get(|h: HeaderMap| async move { serve(0, &h) }),
        )
        .route("/dashboard/{file}", get(file))
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match FILES.iter().position(|(n, _, _)| *n == name) {
        Some(i) => serve(i, &headers),
        None => ApiError::route_not_found().into_response(),
    }
}

/// The file at `FILES[i]`, or 304 when the browser's copy is current.
fn serve(i: usize, request: &HeaderMap) -> Response {
    let (_, content_type, body) = FILES[i];
    let etag = ETAGS[i].clone();
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::ETAG, etag);
    super::page_headers(
        headers,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'",
        super::Framing::Denied,
    );
    // Revalidate every time (cheap: a 304 on the ETag); a merchant's dashboard is never cached
    // by shared caches.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}
