//! The API describing itself: `GET /api/v1/openapi.json` and a browsable reference at
//! `GET /docs`, both unauthenticated. Swagger UI is compiled into the binary (utoipa-swagger-ui's
//! `vendored` feature), so the reference works offline and loads nothing from other hosts.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
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

/// Swagger UI at [`DOCS_PATH`], reading the document from [`OPENAPI_PATH`]. These routes serve
/// the viewer's own files and are the only ones not in the document.
pub(crate) fn swagger_ui() -> Router<AppState> {
    let config = Config::new([OPENAPI_PATH])
        // The default would send the document to validator.swagger.io for a badge.
        .validator_url("none")
        .try_it_out_enabled(true)
        // Credentials typed into the page stay in the page, not in localStorage.
        .persist_authorization(false);
    SwaggerUi::new(DOCS_PATH).config(config).into()
}
