//! Webhook signatures: the reference's hex HMAC and Standard Webhooks, and their verifiers.
//!
//! * `X-Webhook-Signature`: hex HMAC-SHA256 over the exact body bytes, keyed with the secret
//!   string as-is (what the reference's receivers check).
//! * `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`: HMAC-SHA256 over
//!   `"{id}.{timestamp}.{body}"`, keyed with the base64-decoded part of the secret after
//!   `whsec_` (or, for secrets that are not base64 such as `whsec_test_abc123`, with the whole
//!   secret string's bytes).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::{hmac_sha256, hmac_sha256_verify};

/// The headers that sign one webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `X-Webhook-Signature`: hex HMAC-SHA256 of the body.
    pub webhook_signature: String,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (Unix seconds).
    pub timestamp: i64,
    /// `webhook-signature`: `v1,<base64>`.
    pub standard_signature: String,
}

impl SignatureHeaders {
    /// The headers as (name, value) pairs, ready to send.
    pub fn to_pairs(&self) -> [(&'static str, String); 4] {
        [
            ("X-Webhook-Signature", self.webhook_signature.clone()),
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.standard_signature.clone()),
        ]
    }
}

/// Why a signer could not sign (a remote key service that did not answer, say). The delivery
/// or the checkout poll is tried again later; nothing is sent unsigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// The signer is unavailable for now.
    #[error("signer unavailable: {0}")]
    Unavailable(String),
}

/// Signs what the gateway hands to merchants: webhook requests and checkout results.
///
/// Async so that a key held elsewhere (a KMS or HSM, reached over the network) can do the
/// signing. `secret` is what the store holds for the endpoint or merchant: the key itself for
/// [`HmacSigner`], or a reference to it for a signer that keeps keys elsewhere.
///
/// ```
/// use gateway_core::{HmacSigner, WebhookSigner, verify_standard_signature};
/// # tokio_test_block_on(async {
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let headers = HmacSigner
///     .sign(&[secret], "msg_1", 1_705_314_600, b"{}")
///     .await
///     .unwrap();
/// assert!(verify_standard_signature(secret, "msg_1", 1_705_314_600, b"{}",
///     &headers.standard_signature, 1_705_314_600, 300).is_ok());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait::async_trait]
pub trait WebhookSigner: Send + Sync + 'static {
    /// Signs `body` (the exact bytes to send) for delivery `id` at `timestamp` with each of
    /// `secrets`, newest first (a rotation's overlap): `X-Webhook-Signature` with the first
    /// only, `webhook-signature` with one space-separated `v1,` entry per secret.
    async fn sign(
        &self,
        secrets: &[&str],
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<SignatureHeaders, SignerError>;

    /// Signs a checkout result's message ([`CheckoutResult::signed_message`]): `v1,<base64>`.
    async fn sign_checkout(&self, secret: &str, message: &[u8]) -> Result<String, SignerError>;
}

/// The default signer: both schemes, HMAC-SHA256, with the secret as the key.
#[derive(Debug, Default, Clone, Copy)]
pub struct HmacSigner;

impl HmacSigner {
    /// The headers for one secret, computed at once (the trait's work, without the `async`).
    pub fn headers(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> SignatureHeaders {
        let ts = timestamp.to_string();
        SignatureHeaders {
            webhook_signature: hex::encode(hmac_sha256(secret.as_bytes(), &[body])),
            id: id.to_owned(),
            timestamp,
            standard_signature: sign_v1(secret, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]),
        }
    }
}

#[async_trait::async_trait]
impl WebhookSigner for HmacSigner {
    async fn sign(
        &self,
        secrets: &[&str],
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<SignatureHeaders, SignerError> {
        let newest = secrets.first().copied().unwrap_or("");
        let mut headers = Self::headers(newest, id, timestamp, body);
        for older in secrets.iter().skip(1) {
            let ts = timestamp.to_string();
            let extra = sign_v1(older, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            headers.standard_signature.push(' ');
            headers.standard_signature.push_str(&extra);
        }
        Ok(headers)
    }

    async fn sign_checkout(&self, secret: &str, message: &[u8]) -> Result<String, SignerError> {
        Ok(sign_v1(secret, &[message]))
    }
}

/// The key Standard Webhooks signatures use for `secret`.
pub fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `v1,<base64>` of HMAC-SHA256 over `parts`, keyed with [`standard_key`] of `secret`.
fn sign_v1(secret: &str, parts: &[&[u8]]) -> String {
    format!(
        "v1,{}",
        STANDARD.encode(hmac_sha256(&standard_key(secret), parts))
    )
}

/// Checks that `signed_at` is within `tolerance_secs` of `now_secs` and that any `v1,` entry of
/// the space-separated `header` is the HMAC of `parts` under `secret`, in constant time.
fn verify_v1(
    secret: &str,
    parts: &[&[u8]],
    header: &str,
    (signed_at, now_secs, tolerance_secs): (i64, i64, i64),
) -> Result<(), VerifyError> {
    if (now_secs - signed_at).abs() > tolerance_secs {
        return Err(VerifyError::Stale);
    }
    let key = standard_key(secret);
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|tag| hmac_sha256_verify(&key, parts, &tag))
        .then_some(())
        .ok_or(VerifyError::Mismatch)
}

/// What the checkout tells the merchant's page when a payment ends (the SDK's `onSuccess`
/// payload), signed so the merchant's server can trust it without asking the gateway.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CheckoutResult {
    /// The payment.
    pub payment_id: String,
    /// Its order.
    pub order_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `success` or `failed`.
    pub status: String,
    /// Unix seconds when the result was signed.
    pub timestamp: i64,
    /// `v1,<base64>`: HMAC-SHA256, keyed like Standard Webhooks with the merchant's webhook
    /// secret, over `paymentId.timestamp.orderId.amount.currency.status`.
    pub signature: String,
}

impl CheckoutResult {
    /// What the signature covers: `paymentId.timestamp.orderId.amount.currency.status`.
    pub fn signed_message(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}.{}",
            self.payment_id, self.timestamp, self.order_id, self.amount, self.currency, self.status
        )
    }

    /// Checks `signature` against the fields with `secret`, and that `timestamp` is within
    /// `tolerance_secs` of `now_secs`.
    pub fn verify(
        &self,
        secret: &str,
        now_secs: i64,
        tolerance_secs: i64,
    ) -> Result<(), VerifyError> {
        let message = self.signed_message();
        verify_v1(
            secret,
            &[message.as_bytes()],
            &self.signature,
            (self.timestamp, now_secs, tolerance_secs),
        )
    }
}

/// Verifies a checkout result (the SDK's `onSuccess` payload) on the merchant's server.
pub fn verify_checkout_result(
    secret: &str,
    result: &CheckoutResult,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    result.verify(secret, now_secs, tolerance_secs)
}

/// Why a signature was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp is too far from now (replay protection).
    #[error("webhook timestamp outside the tolerance")]
    Stale,
    /// No signature matched.
    #[error("webhook signature does not match")]
    Mismatch,
}

/// Verifies `X-Webhook-Signature` (hex) over `body`, in constant time.
pub fn verify_webhook_signature(
    secret: &str,
    body: &[u8],
    signature_hex: &str,
) -> Result<(), VerifyError> {
    let tag = hex::decode(signature_hex.trim()).map_err(|_| VerifyError::Mismatch)?;
    hmac_sha256_verify(secret.as_bytes(), &[body], &tag)
        .then_some(())
        .ok_or(VerifyError::Mismatch)
}

/// Verifies Standard Webhooks headers: `timestamp` within `tolerance_secs` of `now_secs`, and
/// any `v1,` entry of the space-separated `signature_header` matching.
pub fn verify_standard_signature(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
    signature_header: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts = timestamp.to_string();
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
    verify_v1(
        secret,
        &parts,
        signature_header,
        (timestamp, now_secs, tolerance_secs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification and its libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn standard_signature_matches_the_published_test_vector() {
        let headers = HmacSigner::headers(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY);
        assert_eq!(headers.standard_signature, SPEC_SIGNATURE);
        assert_eq!(
            verify_standard_signature(
                SPEC_SECRET,
                SPEC_ID,
                SPEC_TS,
                SPEC_BODY,
                SPEC_SIGNATURE,
                SPEC_TS,
                300
            ),
            Ok(())
        );
    }

    #[tokio::test]
    async fn during_a_rotation_both_secrets_sign_the_new_one_first() {
        let headers = HmacSigner
            .sign(&["whsec_new", SPEC_SECRET], SPEC_ID, SPEC_TS, SPEC_BODY)
            .await
            .unwrap();
        let only_new = HmacSigner::headers("whsec_new", SPEC_ID, SPEC_TS, SPEC_BODY);
        assert_eq!(
            headers.standard_signature,
            format!("{} {SPEC_SIGNATURE}", only_new.standard_signature)
        );
        assert_eq!(headers.webhook_signature, only_new.webhook_signature);
        for secret in ["whsec_new", SPEC_SECRET] {
            let verified = verify_standard_signature(
                secret,
                SPEC_ID,
                SPEC_TS,
                SPEC_BODY,
                &headers.standard_signature,
                SPEC_TS,
                300,
            );
            assert_eq!(verified, Ok(()));
        }
    }

    #[test]
    fn reference_signature_is_hex_hmac_of_the_body_keyed_by_the_secret_string() {
        // Independently: HMAC-SHA256(key = "whsec_test_abc123", msg = body), hex.
        let body = br#"{"event":"payment.success"}"#;
        let expected = hex::encode(crate::crypto::hmac_sha256(b"whsec_test_abc123", &[body]));
        let headers = HmacSigner::headers("whsec_test_abc123", "id", 1, body);
        assert_eq!(headers.webhook_signature, expected);
        assert_eq!(
            verify_webhook_signature("whsec_test_abc123", body, &expected),
            Ok(())
        );
        assert_eq!(
            verify_webhook_signature("whsec_other", body, &expected),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_webhook_signature("whsec_test_abc123", b"{}", &expected),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn standard_verification_rejects_stale_tampered_and_rotated_away_signatures() {
        let sig = HmacSigner::headers(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY).standard_signature;
        let verify = |secret, body: &[u8], now| {
            verify_standard_signature(secret, SPEC_ID, SPEC_TS, body, &sig, now, 300)
        };
        assert_eq!(
            verify(SPEC_SECRET, SPEC_BODY, SPEC_TS + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(SPEC_SECRET, b"{}", SPEC_TS),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("whsec_test_abc123", SPEC_BODY, SPEC_TS),
            Err(VerifyError::Mismatch)
        );
        let two = format!("v1,bm90IGl0 {sig}");
        assert_eq!(
            verify_standard_signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, &two, SPEC_TS, 300),
            Ok(())
        );
    }

    async fn signed(result: CheckoutResult, secret: &str) -> CheckoutResult {
        let signature = HmacSigner
            .sign_checkout(secret, result.signed_message().as_bytes())
            .await
            .unwrap();
        CheckoutResult {
            signature,
            ..result
        }
    }

    #[tokio::test]
    async fn checkout_results_verify_only_untampered_and_fresh() {
        let result = CheckoutResult {
            payment_id: "pay_AAAAAAAAAAAAAAAA".into(),
            order_id: "order_BBBBBBBBBBBBBBBB".into(),
            amount: 50_000,
            currency: "INR".into(),
            status: "success".into(),
            timestamp: SPEC_TS,
            signature: String::new(),
        };
        let result = signed(result, SPEC_SECRET).await;
        // Independently: HMAC-SHA256(base64-decoded secret, "pay.ts.order.amount.currency.status").
        let key = STANDARD
            .decode(SPEC_SECRET.strip_prefix("whsec_").unwrap())
            .unwrap();
        let message =
            format!("pay_AAAAAAAAAAAAAAAA.{SPEC_TS}.order_BBBBBBBBBBBBBBBB.50000.INR.success");
        assert_eq!(
            result.signature,
            format!(
                "v1,{}",
                STANDARD.encode(hmac_sha256(&key, &[message.as_bytes()]))
            )
        );
        assert_eq!(
            verify_checkout_result(SPEC_SECRET, &result, SPEC_TS + 10, 300),
            Ok(())
        );
        assert_eq!(
            result.verify(SPEC_SECRET, SPEC_TS + 301, 300),
            Err(VerifyError::Stale)
        );
        let tampered = CheckoutResult {
            amount: 1,
            ..result.clone()
        };
        assert_eq!(
            tampered.verify(SPEC_SECRET, SPEC_TS, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            result.verify("whsec_test_abc123", SPEC_TS, 300),
            Err(VerifyError::Mismatch)
        );
        let test_secret = signed(result, "whsec_test_abc123").await;
        assert_eq!(
            test_secret.verify("whsec_test_abc123", SPEC_TS, 300),
            Ok(())
        );
    }

    #[test]
    fn secrets_that_are_not_base64_sign_with_their_own_bytes() {
        assert_eq!(
            standard_key("whsec_test_abc123"),
            b"whsec_test_abc123".to_vec()
        );
        assert_eq!(standard_key(SPEC_SECRET).len(), 24);
    }
}
