//! Request extractors: merchant authentication, JSON commands with their idempotency key (a
//! payment's card in either of its shapes), and list queries. Each turns every rejection into
//! an [`ApiError`], and no rejection repeats a value the client sent.

use axum::body::Bytes;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use gateway_core::gateway::PaymentBody;
use gateway_core::gateway::PublicMerchant;
use gateway_core::idempotency::fingerprint_body;
use gateway_core::ids::{MerchantId, TypedId};
use gateway_core::store::PageRequest;
use gateway_core::{GatewayError, IdempotencyKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_json::{Map, Value};

use crate::AppState;
use crate::card_fields::nest_flat_card_fields;
use crate::client::client_address;
use crate::error::ApiError;

/// The id in the route's `{id}` segment, as its type: a malformed id names nothing, so it is a
/// 404 ("Payment not found"), as an unknown one is.
#[derive(Debug, Clone)]
pub struct Found<T>(pub T);

impl<T: TypedId + Send, S: Send + Sync> FromRequestParts<S> for Found<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| GatewayError::NotFound(T::NOT_FOUND))?;
        Ok(Self(T::find(&id)?))
    }
}

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
            Ok(merchant) => {
                crate::request_id::record_merchant(&merchant);
                Ok(Self(merchant))
            }
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
            Ok(merchant) => {
                crate::request_id::record_merchant(&merchant.id);
                Ok(Self(merchant))
            }
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
        read_command(req, state, |_| Ok(())).await
    }
}

/// A payment body ([`PaymentBody`]) whose card may come nested in `card` or in the
/// reference's flat `card_*` fields (see `card_fields`); otherwise a [`Command`].
#[derive(Debug)]
pub struct PaymentCommand(pub Command<PaymentBody>);

impl FromRequest<AppState> for PaymentCommand {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_command(req, state, nest_flat_card_fields)
            .await
            .map(Self)
    }
}

/// Reads a JSON object body, lets `prepare` bring it into the request type's one shape, then
/// fingerprints it and reads it into `T`. No error repeats a value from the body (see
/// [`crate::body`]).
async fn read_command<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
    prepare: fn(&mut Map<String, Value>) -> Result<(), ApiError>,
) -> Result<Command<T>, ApiError> {
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
    let mut value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| invalid_json(&e))?
    };
    let Value::Object(object) = &mut value else {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    };
    prepare(object)?;
    let canonical = fingerprint_body(&value);
    let idempotency = key
        .map(|k| IdempotencyKey::new(&k, &method, &path, &canonical))
        .transpose()?;
    let body = crate::body::from_value(&value)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
    Ok(Command { body, idempotency })
}

/// The answer to a body that is not JSON. serde_json's syntax and end-of-input errors are its
/// own fixed texts with a line and column, never a piece of the input, so they are passed on;
/// any other kind could carry a message built from the input and gets a fixed text.
fn invalid_json(e: &serde_json::Error) -> ApiError {
    match e.classify() {
        Category::Syntax | Category::Eof => {
            ApiError::bad_request(format!("Invalid JSON body: {e}"))
        }
        Category::Data | Category::Io => ApiError::bad_request("Invalid JSON body"),
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
    /// Webhook deliveries: only those to this endpoint.
    pub endpoint_id: Option<String>,
    /// Webhook deliveries: only this event type.
    pub event: Option<String>,
    /// Events: only this event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Events: only those created at or after this time.
    pub from: Option<String>,
    /// Events: only those created at or before this time.
    pub to: Option<String>,
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
