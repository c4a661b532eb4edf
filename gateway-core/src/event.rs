//! Events the gateway emits, and the webhook payloads they become.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::endpoint::EndpointStatus;
use crate::ids::{DeliveryId, EndpointId, MerchantId};
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
    /// The gateway disabled one of the merchant's webhook endpoints (it answered `410 Gone`, or
    /// failed without a success for too long).
    #[serde(rename = "webhook_endpoint.disabled")]
    WebhookEndpointDisabled,
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
            Self::WebhookEndpointDisabled => "webhook_endpoint.disabled",
        }
    }

    /// Every event type.
    pub const ALL: [Self; 8] = [
        Self::PaymentCreated,
        Self::PaymentPending,
        Self::PaymentSuccess,
        Self::PaymentFailed,
        Self::RefundCreated,
        Self::RefundProcessed,
        Self::WebhookTest,
        Self::WebhookEndpointDisabled,
    ];

    /// Parses an event name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// An event to record with the state change that caused it. The store turns it into a delivery
/// row and a delivery job per matching endpoint (see [`crate::endpoint::fan_out`]) in the same
/// transaction.
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

/// The webhook body, fields in the reference's order.
#[derive(Serialize)]
struct Envelope<D: Serialize> {
    event: &'static str,
    timestamp: i64,
    data: D,
}

#[derive(Serialize)]
struct PaymentData<'a> {
    payment: &'a Payment,
}

#[derive(Serialize)]
struct RefundData<'a> {
    refund: &'a Refund,
}

#[derive(Serialize)]
struct EndpointData<'a> {
    endpoint: DisabledEndpoint<'a>,
}

#[derive(Serialize)]
struct DisabledEndpoint<'a> {
    id: &'a EndpointId,
    url: &'a str,
    status: &'static str,
    disabled_reason: &'a str,
}

#[derive(Serialize)]
struct TestData {
    message: &'static str,
}

impl Event {
    fn new<D: Serialize>(
        merchant_id: MerchantId,
        event_type: EventType,
        data: D,
        now: Timestamp,
    ) -> Self {
        let envelope = Envelope {
            event: event_type.as_str(),
            timestamp: now.as_secs(),
            data,
        };
        Event {
            delivery_id: uuid::Uuid::new_v4(),
            merchant_id,
            event_type,
            payload: serde_json::to_string(&envelope)
                .expect("event payloads are plain structs and always serialize"),
            created_at: now,
        }
    }

    /// `{"event": …, "timestamp": …, "data": {"payment": {…}}}`.
    pub fn payment(event_type: EventType, payment: &Payment, now: Timestamp) -> Self {
        Self::new(
            payment.merchant_id,
            event_type,
            PaymentData { payment },
            now,
        )
    }

    /// `{"event": …, "timestamp": …, "data": {"refund": {…}}}`.
    pub fn refund(event_type: EventType, refund: &Refund, now: Timestamp) -> Self {
        Self::new(refund.merchant_id, event_type, RefundData { refund }, now)
    }

    /// `webhook_endpoint.disabled`: `{"event": …, "timestamp": …, "data": {"endpoint": {"id",
    /// "url", "status": "disabled", "disabled_reason"}}}`.
    pub fn endpoint_disabled(
        merchant_id: MerchantId,
        endpoint: &EndpointId,
        url: &str,
        reason: &str,
        now: Timestamp,
    ) -> Self {
        let endpoint = DisabledEndpoint {
            id: endpoint,
            url,
            status: EndpointStatus::Disabled.as_str(),
            disabled_reason: reason,
        };
        Self::new(
            merchant_id,
            EventType::WebhookEndpointDisabled,
            EndpointData { endpoint },
            now,
        )
    }

    /// A `webhook.test` event.
    pub fn test(merchant_id: MerchantId, now: Timestamp) -> Self {
        Self::new(
            merchant_id,
            EventType::WebhookTest,
            TestData {
                message: "This is a test webhook from the payment gateway",
            },
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrderId;
    use crate::instrument::StoredInstrument;
    use crate::money::{Amount, Currency};

    #[test]
    fn payloads_put_event_timestamp_and_data_first_in_the_reference_order() {
        let now = Timestamp::from_millis(1_705_314_600_000);
        let payment = Payment::new_pending(
            uuid::Uuid::nil(),
            OrderId::generate(),
            Amount::new(50_000).unwrap(),
            Currency::INR,
            StoredInstrument::Upi {
                vpa: "user@paytm".into(),
            },
            now,
        );
        let event = Event::payment(EventType::PaymentSuccess, &payment, now);
        let prefix = format!(
            r#"{{"event":"payment.success","timestamp":1705314600,"data":{{"payment":{{"id":"{}","#,
            payment.id
        );
        assert!(event.payload.starts_with(&prefix), "{}", event.payload);
        let parsed: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(parsed["data"]["payment"]["amount"], 50_000);
    }
}
