//! The merchant dashboard: static pages served from the binary at `/dashboard`. The pages call
//! the authenticated API with the key and secret the merchant types in, kept for the tab only.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

const INDEX: &str = include_str!("../../assets/dashboard/index.html");

pub(crate) fn pages() -> Router<AppState> {
    Router::new().route(
        "/dashboard",
        get(|| async { asset("text/html; charset=utf-8", INDEX) }),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
