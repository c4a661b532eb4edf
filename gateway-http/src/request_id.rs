//! Request ids and the request span: how each request is named.
//!
//! Each request gets an id: the client's (or a proxy's) `X-Request-Id` when it is 1–128
//! characters of `[A-Za-z0-9._:-]`, otherwise a new `req_` + 20 alphanumerics (an unusable
//! header is ignored, never refused). The id is
//! - returned in `X-Request-Id` on every response, errors included;
//! - in every error body, as `error.request_id` (see [`crate::error::ErrorDetail`]);
//! - current in [`gateway_core::request_id`] while the request runs, so the jobs it enqueues
//!   record it and their log lines carry it;
//! - a field of the `request` span every log line of the request is written in.
//!
//! The span is at `error` level so that it is enabled whatever the filter lets through: a
//! warning logged under `RUST_LOG=warn` still names its request. It records the method, the
//! route template (never the raw path, which could hold anything a client typed), the
//! merchant once authenticated (the auth extractors record it). The status is in the access
//! line, not the span: with JSON logs every field recorded into a span after its creation
//! re-parses and re-writes the span's fields, which measurably costs throughput.
//!
//! One access line per request, target `gateway::access`, with status and latency: `debug`
//! below 500, so a busy gateway does not pay for a line per request unless an operator asks
//! (`RUST_LOG=info,gateway::access=debug`); `warn` for a 5xx, which is always worth a look.

use std::future::Future;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use gateway_core::ids::MerchantId;
use gateway_core::request_id;
use tracing::Instrument;
use tracing::field::Empty;

/// The header a request id comes in and goes out in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Names the request (see the module docs) and runs it, through `run`, inside its span and id
/// scope. `route` is the request's route template.
pub(crate) async fn name_the_request<F>(
    req: Request,
    route: &str,
    run: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(request_id::accept)
        .map_or_else(request_id::generate, str::to_owned);
    let span = tracing::error_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route,
        merchant = Empty,
    );
    let mut response = request_id::scope(Some(id.clone()), run(req))
        .instrument(span.clone())
        .await;
    span.in_scope(|| access_line(response.status(), started));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Records the authenticated merchant in the current request's span.
pub(crate) fn record_merchant(merchant: &MerchantId) {
    tracing::Span::current().record("merchant", tracing::field::display(merchant));
}

/// The request's one access line (see the module docs for its levels).
fn access_line(status: StatusCode, started: Instant) {
    // Whole microseconds: no long runs of digits that could pass for data someone sent.
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
    let status = status.as_u16();
    if status >= 500 {
        tracing::warn!(target: "gateway::access", status, latency_ms, "request failed");
    } else {
        tracing::debug!(target: "gateway::access", status, latency_ms, "request finished");
    }
}
