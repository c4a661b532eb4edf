//! # gateway-http
//!
//! The gateway's HTTP API as an axum [`Router`], with the reference's paths, headers and JSON
//! shapes. The host (the `gateway` binary, a test, or a merchant's own axum app) builds an
//! [`AppState`] around any [`Gateway`] and serves [`router`].
//!
//! Layout: [`extract`] (auth, JSON commands + idempotency, list queries), `body` (JSON bodies
//! read into request types with errors that never repeat a value), `card_fields` (the
//! reference's flat card fields), [`error`] (the one error → JSON mapping), `routes/` (one file
//! per resource), [`openapi`](mod@openapi) (the API's OpenAPI 3.1 document, generated from the
//! handlers and served at `/api/v1/openapi.json`, with a browsable reference at `/docs`),
//! [`client`] (the real client's address behind trusted proxies), [`rate_limit`] (checkout and
//! failed-auth limits), [`request_id`] (each request's id, span and access line), [`server`]
//! (serving the router with limits on slow, idle and too many connections),
//! [`metrics`](mod@metrics) (request counts and latency).

#![deny(missing_docs)]

mod body;
mod body_timeout;
mod card_fields;
pub mod client;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
mod routes;
pub mod server;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use gateway_core::Gateway;
use tower::ServiceBuilder;
use tower_http::cors::{Any, CorsLayer};

use crate::client::TrustedProxies;
use crate::error::ApiError;
pub use crate::openapi::openapi;
use crate::rate_limit::{AuthLimiter, CheckoutLimiter};

/// Requests a minute each publishable key may make from one client address: enough for a
/// checkout page polling every 1.5 s with room for retries.
pub const CHECKOUT_REQUESTS_PER_MINUTE: u32 = 120;

/// The largest request body accepted (larger ones get 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The gateway the API fronts.
    pub gateway: Arc<dyn Gateway>,
    /// Requests running longer than this get a 503 instead of hanging.
    pub request_timeout: Duration,
    /// A request body that has not arrived this long after its headers gets a 408.
    pub body_read_timeout: Duration,
    /// Limits on the browser (publishable-key) endpoints.
    pub checkout_limiter: Arc<CheckoutLimiter>,
    /// Limits on failed authentication.
    pub auth_limiter: Arc<AuthLimiter>,
    /// Whose forwarding headers tell the real client's address (none by default).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Set by the host when it starts shutting down: `/ready` then answers 503, so a load
    /// balancer stops routing here while the requests in progress finish.
    pub shutting_down: Arc<AtomicBool>,
}

impl AppState {
    /// State around `gateway` with a 30 s request timeout, a 10 s body timeout, the default
    /// limits, no trusted proxies and not shutting down.
    pub fn new(gateway: Arc<dyn Gateway>) -> Self {
        Self {
            gateway,
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(10),
            checkout_limiter: Arc::new(CheckoutLimiter::per_minute(CHECKOUT_REQUESTS_PER_MINUTE)),
            auth_limiter: Arc::new(AuthLimiter::default()),
            trusted_proxies: Arc::new(TrustedProxies::default()),
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The whole API: `/api/v1/…`, `/health`, `/ready`, the OpenAPI document and `/docs`.
pub fn router(state: AppState) -> Router {
    let timeout = state.request_timeout;
    let body_timeout = state.body_read_timeout;
    let (api, _) = routes::routes().split_for_parts();
    // One layer, applied once: `Router::layer` boxes what it is given around every route, and
    // each `from_fn` middleware clones the boxed stack beneath it and boxes again on every
    // request. Separate layers for each concern cost about 60 allocations a request more
    // (benches/results/middleware-2026-12-01).
    let middleware = ServiceBuilder::new()
        // Outermost, so timeouts, 404s and 413s carry the id and are counted too.
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            around_each_request(timeout, req, next)
        }))
        .layer(cors())
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            around_each_handler(body_timeout, req, next)
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    api.merge(routes::swagger_ui())
        .merge(routes::checkout_pages())
        .merge(routes::dashboard_pages())
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware)
        .with_state(state)
}

/// Lets browser pages call the API, as the reference's examples do. Safe to open to any origin:
/// the API is authenticated by explicit headers, never by cookies, so a foreign page cannot act
/// with credentials it does not already hold.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-api-secret"),
            HeaderName::from_static("idempotency-key"),
            request_id::REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("idempotent-replayed"),
            request_id::REQUEST_ID,
        ])
        .max_age(Duration::from_secs(3600))
}

/// Names the request ([`request_id`]), records its metrics ([`metrics`](mod@metrics)) and
/// answers 503 (as JSON) instead of letting it run past `timeout`.
async fn around_each_request(timeout: Duration, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    request_id::name_the_request(req, &route, |req| {
        metrics::record(req, &route, |req| async move {
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => ApiError::timeout().into_response(),
            }
        })
    })
    .await
}

/// Runs the handler with a deadline on reading its body ([`body_timeout`]) and gives its
/// error answers the JSON shape.
async fn around_each_handler(body_timeout: Duration, req: Request, next: Next) -> Response {
    json_errors(body_timeout::limit_body_read(body_timeout, req, next).await)
}

/// Gives every error answer the JSON error shape, including those made outside our handlers
/// (axum's path rejections, the Swagger UI's unknown files): a 4xx or 5xx that is not JSON is
/// replaced by [`error::for_status`], keeping its status and headers such as `Retry-After`.
fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let replacement = error::for_status(status).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, replacement.into_body())
}
