//! Request extractors: merchant authentication, JSON commands with their idempotency key, and
//! list queries. Each turns every rejection into an [`ApiError`].

use axum::body::Bytes;

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use gateway_core::gateway::PublicMerchant;
use gateway_core::idempotency::fingerprint_body;
use gateway_core::ids::MerchantId;
use gateway_core::store::PageRequest;
use gateway_core::{GatewayError, IdempotencyKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::client::client_address;
use crate::error::ApiError;

/// The merchant whose `X-Api-Key` / `X-Api-Secret` came with the request, after the limits on
/// failed authentication (per client address, and per key id from that address).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub MerchantId);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let (key, secret) = (header("x-api-key"), header("x-api-secret"));
        let address = client_address(parts, state);
        state
            .auth_limiter
            .check(key, address)
            .map_err(IntoResponse::into_response)?;
        match state.gateway.authenticate(key, secret).await {
            Ok(merchant) => Ok(Self(merchant)),
            Err(e) => {
                if matches!(e, GatewayError::Authentication) {
                    state.auth_limiter.failed(key, address);
                }
                Err(ApiError::from(e).into_response())
            }
        }
    }
}

/// The merchant whose publishable key (`X-Api-Key` alone) came with a browser request, after
/// the limit per key and client address, and the limits on unknown keys.
#[derive(Debug, Clone)]
pub struct Publishable(pub PublicMerchant);

impl FromRequestParts<AppState> for Publishable {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let address = client_address(parts, state);
        state
            .checkout_limiter
            .check(key, address)
            .and_then(|()| state.auth_limiter.check(key, address))
            .map_err(IntoResponse::into_response)?;
        match state.gateway.publishable_key(key).await {
            Ok(merchant) => Ok(Self(merchant)),
            Err(e) => {
                if matches!(e, GatewayError::Authentication) {
                    state.auth_limiter.failed(key, address);
                }
                Err(ApiError::from(e).into_response())
            }
        }
    }
}

/// A JSON command body (an empty body counts as `{}`) and the request's `Idempotency-Key`,
/// fingerprinted over method, path and the body re-serialized with sorted keys.
#[derive(Debug)]
pub struct Command<T> {
    /// The parsed body.
    pub body: T,
    /// The idempotency key, if the client sent one.
    pub idempotency: Option<IdempotencyKey>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Command<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let key = match req.headers().get("idempotency-key") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?
                    .to_owned(),
            ),
        };
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(crate::MAX_BODY_BYTES)
            } else {
                ApiError::bad_request(format!("Could not read the request body: {rejection}"))
            }
        })?;
        let value: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?
        };
        if !value.is_object() {
            return Err(ApiError::bad_request("Request body must be a JSON object"));
        }
        let canonical = fingerprint_body(&value);
        let idempotency = key
            .map(|k| IdempotencyKey::new(&k, &method, &path, &canonical))
            .transpose()?;
        let body = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
        Ok(Self { body, idempotency })
    }
}

/// `?limit=&offset=` plus the list filters some endpoints accept.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// 1–100, default 10.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
    /// Orders and payments: only this status.
    pub status: Option<String>,
    /// Payments: only this order's.
    pub order_id: Option<String>,
    /// Refunds: only this payment's.
    pub payment_id: Option<String>,
}

impl ListQuery {
    /// The page asked for.
    pub fn page(&self) -> PageRequest {
        let default = PageRequest::default();
        PageRequest {
            limit: self.limit.unwrap_or(default.limit),
            offset: self.offset.unwrap_or(default.offset),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<ListQuery>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {}", e.body_text())))
    }
}
