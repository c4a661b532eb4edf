//! A real-shaped acquirer connector: what replacing the simulated bank takes.
//!
//! [`AcquirerConnector`] implements [`Processor`] over an HTTP JSON acquirer:
//!
//! | call | request | answer |
//! |---|---|---|
//! | authorise | `POST {base}/v1/authorisations` `{"reference","amount","currency","method"}` | `{"reference","status":"approved"\|"declined"\|"pending","reason"?}` |
//! | capture | `POST {base}/v1/captures` `{"reference","amount"}` | `{"reference","status":"captured"}` |
//! | refund | `POST {base}/v1/refunds` `{"reference","payment_reference","amount"}` | `{"reference","status":"processed"\|"declined"\|"pending"}` |
//! | callback (acquirer → us) | `POST` to your callback URL `{"reference","status"}`, header `X-Acquirer-Signature: hex(HMAC-SHA256(secret, body))` | — |
//!
//! What makes it safe with money:
//!
//! - **One request per payment, however often it is sent.** Every call carries
//!   `Idempotency-Key: <the payment's or refund's id>`, so the acquirer treats a retry (after a
//!   timeout, a 500, or a worker killed mid-call) as the same request: never a second charge.
//! - **No guessing.** A timeout, a connection error, a 5xx, a 429 or a `pending` answer is
//!   [`ProcessorError::Unavailable`]: the gateway leaves the payment `pending` and asks again
//!   after a backoff. Only `approved` and `declined` settle it.
//! - **Callbacks settle once.** The first signed final status per reference is kept; a repeated
//!   or contradicting callback changes nothing. A kept status answers the next ask without a
//!   call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::crypto::hmac_sha256_verify;
use gateway_core::instrument::InstrumentVerdict;
use gateway_core::payment::{Payment, PaymentMethod, PaymentOutcome};
use gateway_core::refund::Refund;
use gateway_core::{Processor, ProcessorError};
use serde_json::{Value, json};

/// A final status the acquirer reported for a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    /// Approved (payment) or processed (refund).
    Approved,
    /// Declined.
    Declined,
}

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The signature does not match the body.
    #[error("bad signature")]
    Signature,
    /// Not the expected JSON.
    #[error("malformed callback")]
    Malformed,
}

/// Connects the gateway to one acquirer.
pub struct AcquirerConnector {
    base: String,
    client: reqwest::Client,
    callback_secret: Vec<u8>,
    /// The first final status reported by callback, per reference.
    reported: Mutex<HashMap<String, FinalStatus>>,
}

impl AcquirerConnector {
    /// A connector to the acquirer at `base` (`https://acquirer.example`), giving each call
    /// `timeout`, and accepting callbacks signed with `callback_secret`.
    pub fn new(
        base: impl Into<String>,
        timeout: Duration,
        callback_secret: impl Into<Vec<u8>>,
    ) -> reqwest::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            base: base.into(),
            client: reqwest::Client::builder().timeout(timeout).build()?,
            callback_secret: callback_secret.into(),
            reported: Mutex::new(HashMap::new()),
        })
    }

    /// Records a callback (`body` as received, `signature` its `X-Acquirer-Signature`). The
    /// first final status per reference wins; later ones are acknowledged and ignored.
    pub fn callback(&self, body: &[u8], signature: &str) -> Result<(), CallbackError> {
        let tag = hex::decode(signature).map_err(|_| CallbackError::Signature)?;
        if !hmac_sha256_verify(&self.callback_secret, &[body], &tag) {
            return Err(CallbackError::Signature);
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| CallbackError::Malformed)?;
        let reference = value["reference"]
            .as_str()
            .ok_or(CallbackError::Malformed)?;
        let Some(status) = final_status(&value) else {
            return Ok(()); // `pending` and unknown statuses tell us nothing final.
        };
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        reported.entry(reference.to_owned()).or_insert(status);
        Ok(())
    }

    /// Captures an authorised payment (the gateway's capture is bookkeeping only; a host whose
    /// acquirer captures separately calls this from its own capture flow).
    pub async fn capture(&self, payment: &Payment) -> Result<(), ProcessorError> {
        let answer = self
            .call(
                "/v1/captures",
                &format!("capture-{}", payment.id),
                json!({ "reference": payment.id.to_string(), "amount": payment.amount.minor() }),
            )
            .await?;
        match answer["status"].as_str() {
            Some("captured") => Ok(()),
            other => Err(ProcessorError::Unavailable(format!(
                "capture answered {other:?}"
            ))),
        }
    }

    fn reported(&self, reference: &str) -> Option<FinalStatus> {
        let reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        reported.get(reference).copied()
    }

    /// POSTs `body` to `path` with `key` as the idempotency key; any answer but a 2xx with a
    /// JSON body is `Unavailable` (the call is asked again later, as the same request).
    async fn call(&self, path: &str, key: &str, body: Value) -> Result<Value, ProcessorError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    ProcessorError::Timeout
                } else {
                    ProcessorError::Unavailable(format!("acquirer unreachable: {e}"))
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProcessorError::Unavailable(format!(
                "acquirer answered {status}"
            )));
        }
        response
            .json()
            .await
            .map_err(|e| ProcessorError::Unavailable(format!("unreadable answer: {e}")))
    }
}

/// `approved`/`processed` or `declined` in an answer or callback; `None` for anything else.
fn final_status(answer: &Value) -> Option<FinalStatus> {
    match answer["status"].as_str()? {
        "approved" | "processed" => Some(FinalStatus::Approved),
        "declined" => Some(FinalStatus::Declined),
        _ => None,
    }
}

fn pending(reference: &str) -> ProcessorError {
    ProcessorError::Unavailable(format!("{reference} is pending at the acquirer"))
}

#[async_trait]
impl Processor for AcquirerConnector {
    /// Asked at once: the acquirer decides in its own time, and `pending` is asked again.
    fn payment_delay(&self, _method: PaymentMethod) -> Duration {
        Duration::ZERO
    }

    fn refund_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Test instruments mean nothing to a real acquirer: the `verdict` is ignored.
    async fn decide_payment(
        &self,
        payment: &Payment,
        _verdict: Option<InstrumentVerdict>,
    ) -> Result<PaymentOutcome, ProcessorError> {
        let reference = payment.id.to_string();
        let status = match self.reported(&reference) {
            Some(status) => status,
            None => {
                let answer = self
                    .call(
                        "/v1/authorisations",
                        &reference,
                        json!({
                            "reference": reference,
                            "amount": payment.amount.minor(),
                            "currency": payment.currency.code(),
                            "method": payment.method.as_str(),
                        }),
                    )
                    .await?;
                final_status(&answer).ok_or_else(|| pending(&reference))?
            }
        };
        Ok(match status {
            FinalStatus::Approved => PaymentOutcome::Succeeded,
            FinalStatus::Declined => PaymentOutcome::Failed {
                code: "PAYMENT_FAILED".into(),
                description: "Declined by the acquirer".into(),
            },
        })
    }

    async fn decide_refund(&self, refund: &Refund) -> Result<bool, ProcessorError> {
        let reference = refund.id.to_string();
        let status = match self.reported(&reference) {
            Some(status) => status,
            None => {
                let answer = self
                    .call(
                        "/v1/refunds",
                        &reference,
                        json!({
                            "reference": reference,
                            "payment_reference": refund.payment_id.to_string(),
                            "amount": refund.amount.minor(),
                        }),
                    )
                    .await?;
                final_status(&answer).ok_or_else(|| pending(&reference))?
            }
        };
        Ok(status == FinalStatus::Approved)
    }

    /// Called while the merchant's capture request waits; the gateway records the capture only
    /// once this returns `Ok`.
    async fn capture_payment(&self, payment: &Payment) -> Result<(), ProcessorError> {
        self.capture(payment).await
    }

    fn name(&self) -> &'static str {
        "acquirer-example"
    }
}
