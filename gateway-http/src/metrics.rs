//! Request metrics: counts by route template, method and status class, and latency by route.
//! Routes are the router's templates (`/api/v1/payments/{id}`), never the concrete path, so the
//! label values stay bounded; requests no route matched share `unmatched`.

use std::future::Future;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use gateway_core::metrics::{MetricDoc, MetricKind, status_class};
use metrics::{counter, histogram};

const REQUESTS: &str = "gateway_http_requests_total";
const REQUEST_DURATION: &str = "gateway_http_request_duration_seconds";

/// Every metric the HTTP layer records.
pub const CATALOGUE: &[MetricDoc] = &[
    MetricDoc {
        name: REQUESTS,
        kind: MetricKind::Counter,
        labels: &["route", "method", "status_class"],
        help: "HTTP requests answered, by route template, method and status class (2xx … 5xx).",
    },
    MetricDoc {
        name: REQUEST_DURATION,
        kind: MetricKind::Histogram,
        labels: &["route", "method"],
        help: "Time from a request's arrival to its response headers, by route template and method.",
    },
];

/// Describes every metric of [`CATALOGUE`].
pub fn describe() {
    for metric in CATALOGUE {
        metric.describe();
    }
}

/// Runs the request through `run` and records its count and latency once its response is
/// ready. `route` is the request's route template.
pub(crate) async fn record<F>(req: Request, route: &str, run: impl FnOnce(Request) -> F) -> Response
where
    F: Future<Output = Response>,
{
    let started = Instant::now();
    let method = method_label(req.method());
    let response = run(req).await;
    let class = status_class(response.status().as_u16());
    counter!(REQUESTS, "route" => route.to_owned(), "method" => method, "status_class" => class)
        .increment(1);
    histogram!(REQUEST_DURATION, "route" => route.to_owned(), "method" => method)
        .record(started.elapsed());
    response
}

/// The method as a label: the standard ones by name, anything else as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
