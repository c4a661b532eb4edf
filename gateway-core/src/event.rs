//! Events the gateway emits, and the webhook payloads they become.

use serde::Serialize;
use serde_json::json;

use crate::clock::Timestamp;
use crate::ids::{DeliveryId, MerchantId};
use crate::payment::Payment;
use crate::refund::Refund;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    /// A payment row was created.
    #[serde(rename = "payment.created")]
    PaymentCreated,
    /// A payment awaits the bank.
    #[serde(rename = "payment.pending")]
    PaymentPending,
    /// A payment succeeded.
    #[serde(rename = "payment.success")]
    PaymentSuccess,
    /// A payment failed.
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    /// A refund was accepted.
    #[serde(rename = "refund.created")]
    RefundCreated,
    /// A refund went through.
    #[serde(rename = "refund.processed")]
    RefundProcessed,
    /// A test sent from the API or dashboard.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// The event name, e.g. `payment.success`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentCreated => "payment.created",
            Self::PaymentPending => "payment.pending",
            Self::PaymentSuccess => "payment.success",
            Self::PaymentFailed => "payment.failed",
            Self::RefundCreated => "refund.created",
            Self::RefundProcessed => "refund.processed",
            Self::WebhookTest => "webhook.test",
        }
    }
}

/// An event to record with the state change that caused it. If the merchant has a webhook URL,
/// the store turns it into a delivery row and a delivery job in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The delivery's id, should one be created (also the `webhook-id` header).
    pub delivery_id: DeliveryId,
    /// Whose event it is.
    pub merchant_id: MerchantId,
    /// What happened.
    pub event_type: EventType,
    /// The exact JSON bytes that will be sent and signed.
    pub payload: String,
    /// When it happened.
    pub created_at: Timestamp,
}

impl Event {
    fn new(
        merchant_id: MerchantId,
        event_type: EventType,
        data: serde_json::Value,
        now: Timestamp,
    ) -> Self {
        let payload =
            json!({ "event": event_type.as_str(), "timestamp": now.as_secs(), "data": data });
        Event {
            delivery_id: uuid::Uuid::new_v4(),
            merchant_id,
            event_type,
            payload: payload.to_string(),
            created_at: now,
        }
    }

    /// `{"event": …, "timestamp": …, "data": {"payment": {…}}}`.
    pub fn payment(event_type: EventType, payment: &Payment, now: Timestamp) -> Self {
        Self::new(
            payment.merchant_id,
            event_type,
            json!({ "payment": payment }),
            now,
        )
    }

    /// `{"event": …, "timestamp": …, "data": {"refund": {…}}}`.
    pub fn refund(event_type: EventType, refund: &Refund, now: Timestamp) -> Self {
        Self::new(
            refund.merchant_id,
            event_type,
            json!({ "refund": refund }),
            now,
        )
    }

    /// A `webhook.test` event.
    pub fn test(merchant_id: MerchantId, now: Timestamp) -> Self {
        Self::new(
            merchant_id,
            EventType::WebhookTest,
            json!({ "message": "This is a test webhook from the payment gateway" }),
            now,
        )
    }
}
