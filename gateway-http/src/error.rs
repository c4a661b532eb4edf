//! The one mapping from failures to HTTP: every error answer is
//! `{"error": {"code": "...", "description": "...", "request_id": "..."}}` with a status chosen
//! here and nowhere else (`request_id` is there whenever the answer is made inside the router).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gateway_core::GatewayError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code, e.g. `BAD_REQUEST_ERROR`.
    pub code: &'static str,
    /// Human text.
    pub description: String,
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(examples(json!({"error": {"code": "NOT_FOUND_ERROR", "description": "Order not found", "request_id": "req_4XbQ9tLm2VzK7pR1sWcE"}})))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for machines and for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code: `BAD_REQUEST_ERROR`, `INVALID_VPA`, `INVALID_CARD`, `EXPIRED_CARD`,
    /// `AUTHENTICATION_ERROR`, `NOT_FOUND_ERROR`, `METHOD_NOT_ALLOWED_ERROR`,
    /// `PAYLOAD_TOO_LARGE_ERROR`, `IDEMPOTENCY_KEY_REUSED_ERROR`, `CONFLICT_ERROR`,
    /// `SERVICE_UNAVAILABLE_ERROR` or `INTERNAL_ERROR`.
    pub code: &'static str,
    /// Human text.
    pub description: String,
    /// The request's id (its `X-Request-Id`), to quote when asking about this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// The JSON body this error is answered with (the answer adds the request's id).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                description: self.description.clone(),
                request_id: None,
            },
        }
    }

    /// 400 `BAD_REQUEST_ERROR`.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_REQUEST_ERROR",
            description: description.into(),
        }
    }

    /// 401 `AUTHENTICATION_ERROR`.
    pub fn unauthenticated() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "AUTHENTICATION_ERROR",
            description: "Invalid API credentials".into(),
        }
    }

    /// 404 `NOT_FOUND_ERROR` for an unknown route.
    pub fn route_not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "NOT_FOUND_ERROR",
            description: "Route not found".into(),
        }
    }

    /// 405 for a known route with another method.
    pub fn method_not_allowed() -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "METHOD_NOT_ALLOWED_ERROR",
            description: "Method not allowed for this route".into(),
        }
    }

    /// 413 for bodies over the limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "PAYLOAD_TOO_LARGE_ERROR",
            description: format!("Request body must be at most {limit} bytes"),
        }
    }

    /// 429 when a publishable key (and client address) sent too many requests.
    pub fn too_many_requests() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "RATE_LIMIT_ERROR",
            description: "Too many requests; retry after the time in Retry-After".into(),
        }
    }

    /// 503 when a request took too long.
    pub fn timeout() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "SERVICE_UNAVAILABLE_ERROR",
            description: "The request timed out; retry later".into(),
        }
    }
}

/// The error every refusal made outside our handlers becomes (a path that does not decode, an
/// unknown file under `/docs`): the JSON shape, a code for its status and a fixed description
/// that repeats nothing the client sent.
pub fn for_status(status: StatusCode) -> ApiError {
    let (code, description) = match status {
        StatusCode::NOT_FOUND => ("NOT_FOUND_ERROR", "Route not found"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED_ERROR",
            "Method not allowed for this route",
        ),
        StatusCode::UNAUTHORIZED => ("AUTHENTICATION_ERROR", "Invalid API credentials"),
        StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE_ERROR", "Request body is too large"),
        StatusCode::REQUEST_TIMEOUT => {
            ("REQUEST_TIMEOUT_ERROR", "The request was not sent in time")
        }
        StatusCode::TOO_MANY_REQUESTS => (
            "RATE_LIMIT_ERROR",
            "Too many requests; retry after the time in Retry-After",
        ),
        s if s.is_server_error() => (
            "SERVICE_UNAVAILABLE_ERROR",
            "The service could not answer; retry later",
        ),
        _ => (
            "BAD_REQUEST_ERROR",
            "The request is not valid for this route",
        ),
    };
    ApiError {
        status,
        code,
        description: description.into(),
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let description = e.to_string();
        let (status, code) = match &e {
            GatewayError::Invalid { code, .. } => (StatusCode::BAD_REQUEST, code.as_str()),
            GatewayError::Refused(refusal) if refusal.is_transient() => {
                (StatusCode::CONFLICT, "CONFLICT_ERROR")
            }
            GatewayError::Refused(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST_ERROR"),
            GatewayError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND_ERROR"),
            GatewayError::Authentication => (StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR"),
            GatewayError::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED_ERROR",
            ),
            GatewayError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT_ERROR"),
            GatewayError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE_ERROR")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        };
        Self {
            status,
            code,
            description,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.body();
        // Inside the router every request has one (see `crate::request_id`).
        body.error.request_id = gateway_core::request_id::current();
        (self.status, Json(body)).into_response()
    }
}
