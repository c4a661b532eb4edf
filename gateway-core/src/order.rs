//! Orders: what a merchant wants to be paid, and the order's state machine.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::{MerchantId, OrderId};
use crate::money::{Amount, Currency};

/// Where an order stands: `created` → `attempted` (a payment exists) → `paid`.
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

    /// Whether a new payment may be made against an order in this state.
    pub fn accepts_payment(self) -> bool {
        self != Self::Paid
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

    #[test]
    fn a_paid_order_accepts_no_more_payments() {
        assert!(OrderStatus::Created.accepts_payment());
        assert!(OrderStatus::Attempted.accepts_payment());
        assert!(!OrderStatus::Paid.accepts_payment());
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in [
            OrderStatus::Created,
            OrderStatus::Attempted,
            OrderStatus::Paid,
        ] {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("unknown"), None);
    }
}
