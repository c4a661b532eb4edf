//! Idempotency keys with Stripe's semantics: one key, one effect, one remembered response.
//!
//! The host computes a fingerprint of the request (method, path, canonical body). The gateway
//! writes the key record in the same transaction as the effect; a replay with the same
//! fingerprint returns the remembered body, a different request under the same key is refused.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::crypto::sha256;
use crate::error::GatewayError;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A client's `Idempotency-Key` together with the fingerprint of the request it came with.
///
/// ```
/// use gateway_core::IdempotencyKey;
/// use gateway_core::idempotency::fingerprint_body;
///
/// let body = fingerprint_body(&serde_json::json!({ "amount": 50000 }));
/// let key = IdempotencyKey::new("order-42", "POST", "/api/v1/orders", &body)?;
/// assert_eq!(key.key(), "order-42");
///
/// // The same key on another request has another fingerprint: the gateway refuses it.
/// let other = fingerprint_body(&serde_json::json!({ "amount": 100 }));
/// let reused = IdempotencyKey::new("order-42", "POST", "/api/v1/orders", &other)?;
/// assert_ne!(key.fingerprint(), reused.fingerprint());
/// assert!(IdempotencyKey::new("has a space", "POST", "/api/v1/orders", &body).is_err());
/// # Ok::<(), gateway_core::GatewayError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    key: String,
    fingerprint: [u8; 32],
}

impl IdempotencyKey {
    /// Validates `key` (1–255 visible ASCII characters) and fingerprints the request.
    ///
    /// `canonical_body` should not depend on formatting (e.g. JSON re-serialized with sorted keys)
    /// so that a retried request with different whitespace is still recognised.
    pub fn new(
        key: &str,
        method: &str,
        path: &str,
        canonical_body: &[u8],
    ) -> Result<Self, GatewayError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GatewayError::bad_request(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        let fingerprint = sha256(&[
            method.as_bytes(),
            b" ",
            path.as_bytes(),
            b"\n",
            canonical_body,
        ]);
        Ok(Self {
            key: key.to_owned(),
            fingerprint,
        })
    }

    /// Scopes the key to the publishable key (a browser's request): it then never meets a key
    /// the merchant's server sends with its secret, whichever comes first.
    pub fn publishable(mut self) -> Self {
        // A space cannot occur in a client's key, so no secret-key request can name this one.
        self.key = format!("publishable {}", self.key);
        self
    }

    /// The key as stored and looked up: the client's key, within its credential's scope.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// SHA-256 over method, path and body.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The record to store with the effect, remembering `response` until `now` + 24 h.
    pub fn record(&self, response: String, now: Timestamp) -> IdempotencyRecord {
        IdempotencyRecord {
            key: self.key.clone(),
            fingerprint: self.fingerprint.to_vec(),
            response,
            created_at: now,
            expires_at: now.plus(IDEMPOTENCY_TTL),
        }
    }
}

/// A key record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the original request.
    pub fingerprint: Vec<u8>,
    /// The JSON body of the original response.
    pub response: String,
    /// When the effect happened.
    pub created_at: Timestamp,
    /// When the key may be reused.
    pub expires_at: Timestamp,
}

/// The bytes a request body is fingerprinted by: the JSON re-serialized (objects with sorted
/// keys, so formatting does not matter), with card secrets reduced to what may be stored — the
/// number to its last four digits, the CVV dropped — so that a stored fingerprint can never be
/// brute-forced back into a card number.
pub fn fingerprint_body(body: &serde_json::Value) -> Vec<u8> {
    let mut body = body.clone();
    if let Some(card) = body
        .get_mut("card")
        .and_then(serde_json::Value::as_object_mut)
    {
        if let Some(number) = card.get("number").and_then(serde_json::Value::as_str) {
            let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
            let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            card.insert("number".into(), serde_json::Value::String(last4));
        }
        card.remove("cvv");
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The result of an idempotent command: done now, or the remembered response of an earlier run.
///
/// ```
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
/// use gateway_core::gateway::CreateOrder;
/// use gateway_core::idempotency::fingerprint_body;
/// use gateway_core::{GatewayError, IdempotencyKey, Idempotent};
///
/// // The host fingerprints the request (method, path, canonical body) with the client's key.
/// let key = |body: &serde_json::Value| {
///     IdempotencyKey::new("order-42", "POST", "/api/v1/orders", &fingerprint_body(body))
/// };
/// let body = serde_json::json!({ "amount": 50000 });
/// let request: CreateOrder = serde_json::from_value(body.clone())?;
///
/// let first = gateway.create_order_with_key(merchant, request.clone(), Some(key(&body)?)).await?;
/// let order = first.fresh().expect("the first call runs");
/// // A retry changes nothing and answers with the first response, byte for byte.
/// match gateway.create_order_with_key(merchant, request, Some(key(&body)?)).await? {
///     Idempotent::Replayed(response) => assert!(response.contains(order.id.as_str())),
///     Idempotent::Fresh(_) => unreachable!("the order would have been created twice"),
/// }
/// // The same key on a different request is refused.
/// let other = serde_json::json!({ "amount": 100 });
/// let request: CreateOrder = serde_json::from_value(other.clone())?;
/// let refused = gateway.create_order_with_key(merchant, request, Some(key(&other)?)).await;
/// assert_eq!(refused, Err(GatewayError::IdempotencyMismatch));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Idempotent<T> {
    /// The command ran now.
    Fresh(T),
    /// The same request ran before; this is its response body, byte for byte.
    Replayed(String),
}

impl<T> Idempotent<T> {
    /// The fresh value, if the command ran now.
    pub fn fresh(self) -> Option<T> {
        match self {
            Self::Fresh(v) => Some(v),
            Self::Replayed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let a = IdempotencyKey::new("k", "POST", "/api/v1/orders", b"{}").unwrap();
        assert_eq!(
            a,
            IdempotencyKey::new("k", "POST", "/api/v1/orders", b"{}").unwrap()
        );
        assert_ne!(
            a.fingerprint(),
            IdempotencyKey::new("k", "POST", "/api/v1/payments", b"{}")
                .unwrap()
                .fingerprint()
        );
        assert_ne!(
            a.fingerprint(),
            IdempotencyKey::new("k", "POST", "/api/v1/orders", b"{ }")
                .unwrap()
                .fingerprint()
        );
    }

    #[test]
    fn card_numbers_and_cvvs_are_not_part_of_the_fingerprinted_body() {
        let body = serde_json::json!({
            "order_id": "order_x", "method": "card",
            "card": { "number": "4111 1111 1111 1111", "cvv": "739", "expiry_month": 12, "expiry_year": 2030 }
        });
        let text = String::from_utf8(fingerprint_body(&body)).unwrap();
        assert!(!text.contains("4111") && !text.contains("739"), "{text}");
        assert!(text.contains(r#""number":"1111""#), "{text}");
        let other_card = serde_json::json!({
            "order_id": "order_x", "method": "card",
            "card": { "number": "5555555555554444", "cvv": "739", "expiry_month": 12, "expiry_year": 2030 }
        });
        assert_ne!(
            fingerprint_body(&body),
            fingerprint_body(&other_card),
            "a different card is a different request"
        );
        let reordered: serde_json::Value =
            serde_json::from_str(r#"{"method":"upi","order_id":"o"}"#).unwrap();
        assert_eq!(
            fingerprint_body(&reordered),
            fingerprint_body(&serde_json::json!({"order_id": "o", "method": "upi"}))
        );
    }

    #[test]
    fn keys_must_be_short_visible_ascii() {
        assert!(IdempotencyKey::new("", "POST", "/", b"").is_err());
        assert!(IdempotencyKey::new("with space", "POST", "/", b"").is_err());
        assert!(IdempotencyKey::new(&"k".repeat(256), "POST", "/", b"").is_err());
        assert!(IdempotencyKey::new("unique_request_id_123", "POST", "/", b"").is_ok());
    }
}
