//! Events the gateway emits, the webhook payloads they become, and the record of them the
//! events API shows.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::clock::Timestamp;
use crate::endpoint::EndpointStatus;
use crate::ids::{DeliveryId, EndpointId, EventId, MerchantId};
use crate::payment::Payment;
use crate::refund::Refund;

/// What happened.
///
/// ```
/// use gateway_core::event::EventType;
///
/// assert_eq!(EventType::PaymentSuccess.as_str(), "payment.success");
/// assert_eq!(EventType::parse("refund.processed"), Some(EventType::RefundProcessed));
/// assert_eq!(EventType::parse("payment.refunded"), None);
/// assert!(EventType::ALL.iter().all(|t| EventType::parse(t.as_str()) == Some(*t)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// An event to record with the state change that caused it. The store writes it as an `events`
/// row (whether or not any endpoint wants it) and turns it into a delivery row and a delivery
/// job per matching endpoint (see [`crate::endpoint::fan_out`]), in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's id (`evt_…`), shown by the events API; its deliveries refer to it.
    pub id: EventId,
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
            id: EventId::generate(),
            delivery_id: crate::ids::DeliveryId::generate(),
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

/// An event as recorded, kept for the retention period and shown by the events API.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordedEvent {
    /// `evt_` + 16 alphanumerics.
    pub id: EventId,
    /// Whose event it is; never shown.
    #[serde(skip)]
    pub merchant_id: MerchantId,
    /// What happened, e.g. `payment.success`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened.
    pub created_at: Timestamp,
    /// The webhook body, byte for byte as its deliveries sent and signed it (so a receiver may
    /// check a signature against a re-fetched event).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Box<RawValue>,
}

impl RecordedEvent {
    /// An event read back from storage; `None` if the stored payload is not JSON.
    pub fn from_stored(
        id: EventId,
        merchant_id: MerchantId,
        event_type: EventType,
        payload: String,
        created_at: Timestamp,
    ) -> Option<Self> {
        Some(Self {
            id,
            merchant_id,
            event_type,
            created_at,
            payload: RawValue::from_string(payload).ok()?,
        })
    }

    /// The exact payload text.
    pub fn payload_text(&self) -> &str {
        self.payload.get()
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
            crate::merchant::test_merchant::ID,
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

    #[test]
    fn a_recorded_event_shows_its_payload_byte_for_byte() {
        let now = Timestamp::from_millis(1_705_314_600_000);
        let event = Event::test(crate::merchant::test_merchant::ID, now);
        let recorded = RecordedEvent::from_stored(
            event.id.clone(),
            event.merchant_id,
            event.event_type,
            event.payload.clone(),
            event.created_at,
        )
        .unwrap();
        let shown = serde_json::to_string(&recorded).unwrap();
        assert_eq!(
            shown,
            format!(
                r#"{{"id":"{}","type":"webhook.test","created_at":"2024-01-15T10:30:00Z","payload":{}}}"#,
                event.id, event.payload
            )
        );
        assert!(
            RecordedEvent::from_stored(
                event.id,
                event.merchant_id,
                event.event_type,
                "{".into(),
                now
            )
            .is_none()
        );
    }
}
