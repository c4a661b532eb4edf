//! Orders: what a merchant wants to be paid, and the order's state machine.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::Refusal;
use crate::ids::{MerchantId, OrderId};
use crate::money::{Amount, Currency};

/// Where an order stands: `created` → `attempted` (a payment exists) → `paid`.
///
/// ```
/// use gateway_core::order::{OrderEvent, OrderStatus};
///
/// assert_eq!(OrderStatus::parse("attempted"), Some(OrderStatus::Attempted));
/// assert_eq!(OrderStatus::Paid.as_str(), "paid");
/// assert_eq!(
///     OrderStatus::transition_on(OrderEvent::PaymentSucceeded),
///     Some((OrderStatus::Attempted, OrderStatus::Paid))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// No payment has been made against it yet.
    Created,
    /// At least one payment exists; none has succeeded yet.
    Attempted,
    /// A payment succeeded. Final.
    Paid,
}

impl OrderStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Attempted => "attempted",
            Self::Paid => "paid",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => Self::Created,
            "attempted" => Self::Attempted,
            "paid" => Self::Paid,
            _ => return None,
        })
    }

    /// Every state, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Created, Self::Attempted, Self::Paid];

    /// Every transition of the order's state machine: `(from, caused by, to)`.
    pub const TRANSITIONS: [(Self, OrderEvent, Self); 2] = [
        (Self::Created, OrderEvent::PaymentCreated, Self::Attempted),
        (Self::Attempted, OrderEvent::PaymentSucceeded, Self::Paid),
    ];

    /// The transition `event` causes, if any: a store applies it as a guarded update
    /// (`SET status = to WHERE status = from`), so it happens only from the state core names.
    pub fn transition_on(event: OrderEvent) -> Option<(Self, Self)> {
        Self::TRANSITIONS
            .iter()
            .find(|(_, on, _)| *on == event)
            .map(|(from, _, to)| (*from, *to))
    }
}

/// What happens to an order's payments, as far as the order's state machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// A payment was made against the order.
    PaymentCreated,
    /// One of its payments succeeded.
    PaymentSucceeded,
}

/// What a store reads, under lock, before a payment is made against an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSnapshot {
    /// The order's state.
    pub status: OrderStatus,
    /// Whether it has a payment that is pending or succeeded.
    pub has_live_payment: bool,
}

impl OrderSnapshot {
    /// Decides whether a new payment may be made: only on an unpaid order without a live payment
    /// (another payment may only follow a failed one).
    pub fn admit_payment(&self) -> Result<(), Refusal> {
        if self.status == OrderStatus::Paid {
            Err(Refusal::OrderAlreadyPaid)
        } else if self.has_live_payment {
            Err(Refusal::PaymentInProgress)
        } else {
            Ok(())
        }
    }
}

/// An order, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// `order_` + 16 alphanumerics.
    pub id: OrderId,
    /// The merchant that created it; never shown to clients.
    #[serde(skip)]
    pub merchant_id: MerchantId,
    /// What the customer must pay, in minor units.
    pub amount: Amount,
    /// ISO 4217 code.
    pub currency: Currency,
    /// The merchant's own reference, if given.
    pub receipt: Option<String>,
    /// Free-form key/values the merchant attached.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub notes: serde_json::Map<String, serde_json::Value>,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(status: OrderStatus, has_live_payment: bool) -> OrderSnapshot {
        OrderSnapshot {
            status,
            has_live_payment,
        }
    }

    #[test]
    fn a_paid_order_or_one_with_a_live_payment_accepts_no_more_payments() {
        assert_eq!(
            snapshot(OrderStatus::Created, false).admit_payment(),
            Ok(())
        );
        assert_eq!(
            snapshot(OrderStatus::Attempted, false).admit_payment(),
            Ok(())
        );
        assert_eq!(
            snapshot(OrderStatus::Attempted, true).admit_payment(),
            Err(Refusal::PaymentInProgress)
        );
        assert_eq!(
            snapshot(OrderStatus::Paid, false).admit_payment(),
            Err(Refusal::OrderAlreadyPaid)
        );
    }

    #[test]
    fn payments_move_an_order_from_created_to_attempted_to_paid() {
        assert_eq!(
            OrderStatus::transition_on(OrderEvent::PaymentCreated),
            Some((OrderStatus::Created, OrderStatus::Attempted))
        );
        assert_eq!(
            OrderStatus::transition_on(OrderEvent::PaymentSucceeded),
            Some((OrderStatus::Attempted, OrderStatus::Paid))
        );
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("unknown"), None);
    }
}
