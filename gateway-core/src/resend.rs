//! Resending a recorded event (`POST /api/v1/events/{id}/resend`, Stripe's `events resend`):
//! new deliveries of the event's stored payload, byte for byte, to one named endpoint or to every
//! enabled endpoint whose filter matches (the same rule as the event's first fan-out,
//! [`fan_out`]). The store reads the event and the merchant's endpoints in the command's
//! transaction, asks [`plan_resend`], and writes the deliveries and their jobs it decided.

use serde::{Deserialize, Serialize};

use crate::endpoint::{EndpointStatus, PlannedDelivery, Subscription, fan_out};
use crate::error::Refusal;
use crate::event::{Event, RecordedEvent};
use crate::ids::{DeliveryId, EndpointId, EventId};
use crate::webhook::DeliveryStatus;

/// `POST /api/v1/events/{id}/resend`; the body may be empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResendEvent {
    /// Resend to this endpoint only (it must be enabled; its event filter is not consulted).
    /// Without it, the event goes to every enabled endpoint whose filter matches its type.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::ids::EndpointId>))]
    pub endpoint_id: Option<String>,
}

/// One delivery a resend created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResentDelivery {
    /// The new delivery (also its `webhook-id`).
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub id: DeliveryId,
    /// Where it goes.
    pub endpoint_id: EndpointId,
    /// Always `pending`: the first attempt is due at once.
    pub status: DeliveryStatus,
}

/// The answer to a resend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resent {
    /// The event resent.
    pub event_id: EventId,
    /// The deliveries created, one per endpoint, in the endpoints' creation order.
    pub deliveries: Vec<ResentDelivery>,
}

impl Resent {
    /// The answer naming `planned`.
    pub fn of(event_id: EventId, planned: &[PlannedDelivery<'_>]) -> Self {
        Self {
            event_id,
            deliveries: planned
                .iter()
                .map(|p| ResentDelivery {
                    id: p.delivery_id,
                    endpoint_id: p.endpoint_id.clone(),
                    status: DeliveryStatus::Pending,
                })
                .collect(),
        }
    }
}

/// The recorded event as an event to deliver again: its id, type and exact payload, with a
/// fresh delivery id (the first delivery's is taken).
pub fn redelivery(event: &RecordedEvent) -> Event {
    Event {
        id: event.id.clone(),
        delivery_id: crate::ids::DeliveryId::generate(),
        merchant_id: event.merchant_id,
        event_type: event.event_type,
        payload: event.payload_text().to_owned(),
        created_at: event.created_at,
    }
}

/// Decides the deliveries a resend creates. With `target` (the merchant's endpoint, as read in
/// the transaction): one delivery to it, refused while it is disabled. Without: the event's
/// fan-out over `endpoints`, refused when no enabled endpoint's filter matches.
pub fn plan_resend<'e>(
    event: &'e Event,
    endpoints: &[Subscription],
    target: Option<&Subscription>,
) -> Result<Vec<PlannedDelivery<'e>>, Refusal> {
    let planned = match target {
        Some(endpoint) if endpoint.status != EndpointStatus::Enabled => {
            return Err(Refusal::ResendToDisabledEndpoint);
        }
        Some(endpoint) => vec![PlannedDelivery {
            delivery_id: event.delivery_id,
            endpoint_id: endpoint.endpoint_id.clone(),
            event,
        }],
        None => fan_out(std::slice::from_ref(event), endpoints),
    };
    if planned.is_empty() {
        Err(Refusal::NoEndpointForEvent {
            event_type: event.event_type.as_str(),
        })
    } else {
        Ok(planned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::endpoint::tests::sub;

    fn recorded() -> RecordedEvent {
        let event = Event::test(
            crate::merchant::test_merchant::ID,
            Timestamp::from_millis(1_000),
        );
        RecordedEvent::from_stored(
            event.id,
            event.merchant_id,
            event.event_type,
            event.payload,
            event.created_at,
        )
        .unwrap()
    }

    #[test]
    fn a_redelivery_carries_the_stored_payload_under_a_new_delivery_id() {
        let stored = recorded();
        let a = redelivery(&stored);
        let b = redelivery(&stored);
        assert_eq!(a.payload, stored.payload_text());
        assert_eq!((a.id.clone(), a.event_type), (stored.id, stored.event_type));
        assert_ne!(a.delivery_id, b.delivery_id);
    }

    #[test]
    fn without_a_target_a_resend_fans_out_like_the_event_did() {
        let event = redelivery(&recorded());
        let all = sub(&["*"], EndpointStatus::Enabled);
        let tests = sub(&["webhook.test"], EndpointStatus::Enabled);
        let payments = sub(&["payment.success"], EndpointStatus::Enabled);
        let off = sub(&["*"], EndpointStatus::Disabled);
        let endpoints = [all.clone(), payments.clone(), off, tests.clone()];
        let planned = plan_resend(&event, &endpoints, None).unwrap();
        let targets: Vec<_> = planned.iter().map(|p| &p.endpoint_id).collect();
        assert_eq!(targets, [&all.endpoint_id, &tests.endpoint_id]);
        assert_eq!(planned[0].delivery_id, event.delivery_id);
        assert_eq!(
            plan_resend(&event, &[payments], None),
            Err(Refusal::NoEndpointForEvent {
                event_type: "webhook.test"
            })
        );
    }

    #[test]
    fn a_named_target_gets_the_event_whatever_its_filter_but_only_while_enabled() {
        let event = redelivery(&recorded());
        let payments = sub(&["payment.success"], EndpointStatus::Enabled);
        let planned = plan_resend(&event, &[], Some(&payments)).unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].endpoint_id, payments.endpoint_id);
        let off = sub(&["*"], EndpointStatus::Disabled);
        assert_eq!(
            plan_resend(&event, &[], Some(&off)),
            Err(Refusal::ResendToDisabledEndpoint)
        );
        let answer = Resent::of(event.id.clone(), &planned);
        assert_eq!(answer.deliveries[0].status, DeliveryStatus::Pending);
    }
}
