//! Refunds: `pending` → `processed` | `failed`, and the rule that refunds never exceed the payment.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::Refusal;
use crate::ids::{MerchantId, PaymentId, RefundId};
use crate::money::Amount;

/// Where a refund stands.
///
/// ```
/// use gateway_core::refund::RefundStatus;
///
/// assert_eq!(RefundStatus::parse("processed"), Some(RefundStatus::Processed));
/// assert_eq!(RefundStatus::Failed.as_str(), "failed");
/// assert_eq!(RefundStatus::parse("refunded"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RefundStatus {
    /// Accepted; the bank has not confirmed yet. Counts against the refundable balance.
    Pending,
    /// The money went back. Final.
    Processed,
    /// The bank refused it. Final; frees its amount again.
    Failed,
}

impl RefundStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "processed" => Self::Processed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Every state, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Processed, Self::Failed];

    /// Every transition: `(from, the bank's answer, to)`.
    pub const TRANSITIONS: [(Self, &'static str, Self); 2] = [
        (Self::Pending, "bank returns the money", Self::Processed),
        (Self::Pending, "bank refuses", Self::Failed),
    ];
}

/// A refund, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    /// `rfnd_` + 16 alphanumerics.
    pub id: RefundId,
    /// The payment refunded.
    pub payment_id: PaymentId,
    /// The owning merchant; never shown.
    #[serde(skip)]
    pub merchant_id: MerchantId,
    /// How much, in minor units.
    pub amount: Amount,
    /// Why, if the merchant said.
    pub reason: Option<String>,
    /// Lifecycle state.
    pub status: RefundStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was processed, if it was.
    pub processed_at: Option<Timestamp>,
}

impl Refund {
    /// Settles a pending refund, once.
    pub fn settle(&mut self, processed: bool, now: Timestamp) -> Result<(), Refusal> {
        if self.status != RefundStatus::Pending {
            return Err(Refusal::AlreadySettled("Refund"));
        }
        if processed {
            self.status = RefundStatus::Processed;
            self.processed_at = Some(now);
        } else {
            self.status = RefundStatus::Failed;
        }
        Ok(())
    }
}

/// Whether a refund of `requested` fits in `payment_amount` given `already_refunded`
/// (the sum of the payment's non-failed refunds). Err carries the amount still available.
///
/// ```
/// use gateway_core::money::Amount;
/// use gateway_core::refund::check_refundable;
///
/// let paid = Amount::new(50_000).unwrap();
/// assert_eq!(check_refundable(paid, 30_000, Amount::new(20_000).unwrap()), Ok(()));
/// assert_eq!(check_refundable(paid, 30_000, Amount::new(20_001).unwrap()), Err(20_000));
/// ```
pub fn check_refundable(
    payment_amount: Amount,
    already_refunded: i64,
    requested: Amount,
) -> Result<(), i64> {
    let available = payment_amount.checked_sub(already_refunded).unwrap_or(0);
    if requested.minor() <= available {
        Ok(())
    } else {
        Err(available)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_refund_settles_once() {
        let mut r = Refund {
            id: RefundId::generate(),
            payment_id: PaymentId::generate(),
            merchant_id: crate::merchant::test_merchant::ID,
            amount: Amount::new(10).unwrap(),
            reason: None,
            status: RefundStatus::Pending,
            created_at: Timestamp::from_millis(0),
            processed_at: None,
        };
        r.settle(true, Timestamp::from_millis(9)).unwrap();
        assert_eq!(
            (r.status, r.processed_at),
            (RefundStatus::Processed, Some(Timestamp::from_millis(9)))
        );
        assert!(r.settle(false, Timestamp::from_millis(10)).is_err());
        assert_eq!(r.status, RefundStatus::Processed);
    }

    #[test]
    fn refunds_fit_within_the_payment() {
        let payment = Amount::new(1_000).unwrap();
        assert_eq!(
            check_refundable(payment, 0, Amount::new(1_000).unwrap()),
            Ok(())
        );
        assert_eq!(
            check_refundable(payment, 600, Amount::new(400).unwrap()),
            Ok(())
        );
        assert_eq!(
            check_refundable(payment, 600, Amount::new(401).unwrap()),
            Err(400)
        );
        assert_eq!(
            check_refundable(payment, 1_000, Amount::new(1).unwrap()),
            Err(0)
        );
    }

    proptest! {
        #[test]
        fn accepting_refunds_in_any_order_never_exceeds_the_payment(
            payment in 1..=1_000_000i64,
            requests in proptest::collection::vec(1..=400_000i64, 0..40),
        ) {
            let payment = Amount::new(payment).unwrap();
            let mut refunded = 0i64;
            for r in requests {
                if check_refundable(payment, refunded, Amount::new(r).unwrap()).is_ok() {
                    refunded += r;
                }
                prop_assert!(refunded <= payment.minor());
            }
        }
    }
}
