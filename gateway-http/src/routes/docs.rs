//! The API describing itself: `GET /api/v1/openapi.json` and a browsable reference at
//! `GET /docs`, both unauthenticated. Swagger UI is compiled into the binary (utoipa-swagger-ui's
//! `vendored` feature), so the reference works offline and loads nothing from other hosts.
//!
//! The reference shares its origin with the dashboard, which keeps the merchant's API secret in
//! the tab's `sessionStorage`, so its pages are served as strictly as the dashboard's
//! ([`DOCS_CSP`]): only its own files from this origin, no inline or evaluated script, requests
//! only to this origin, never framed, no referrer.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::AppState;

/// Where the document is served.
pub(crate) const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// Where the reference is served (`/docs` redirects to `/docs/`, whose assets are relative).
pub(crate) const DOCS_PATH: &str = "/docs";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document, serialized once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&crate::openapi()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "OpenAPI document does not serialize");
        String::from("{}")
    })
});

/// OpenAPI document
///
/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "system",
    operation_id = "openapi",
    responses(
        (status = OK, description = "The OpenAPI document.", body = serde_json::Value,
            content_type = "application/json"),
    ),
)]
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// The Content-Security-Policy of every `/docs` answer. Swagger UI 5 needs nothing more: its
/// page has no inline script (the configuration is the separate `swagger-initializer.js`), its
/// icons are `data:` images, it fetches only the document and, with "Try it out", this API.
/// Its one inline style, the colours of the logo's SVG (in `swagger-ui-standalone-preset.js`),
/// is allowed by its hash; a test checks the hash against the vendored file.
pub(crate) const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Swagger UI at [`DOCS_PATH`], reading the document from [`OPENAPI_PATH`]. These routes serve
/// the viewer's own files and are the only ones not in the document.
pub(crate) fn swagger_ui() -> Router<AppState> {
    let config = Config::new([OPENAPI_PATH])
        // The default would send the document to validator.swagger.io for a badge.
        .validator_url("none")
        .try_it_out_enabled(true)
        // `?url=` and `?configUrl=` cannot point the page at another document.
        .query_config_enabled(false)
        // Credentials typed into the page stay in the page, not in localStorage.
        .persist_authorization(false);
    Router::from(SwaggerUi::new(DOCS_PATH).config(config))
        .layer(middleware::map_response(strict_headers))
}

/// Adds the headers that keep the reference from being framed, sniffed or used as a referrer.
async fn strict_headers(mut response: Response) -> Response {
    super::page_headers(response.headers_mut(), DOCS_CSP, super::Framing::Denied);
    response
}
