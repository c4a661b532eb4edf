//! Payments and their state machine: `pending` → `success` | `failed`, exactly once;
//! `captured` may become true once, only on `success`, for the full amount, and never once the
//! payment has a refund that is not `failed`.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::Refusal;
use crate::ids::{MerchantId, OrderId, PaymentId};
use crate::instrument::StoredInstrument;
use crate::money::{Amount, Currency};
use crate::refund::check_refundable;

/// How the customer pays.
///
/// ```
/// use gateway_core::payment::PaymentMethod;
///
/// assert_eq!(PaymentMethod::parse("upi"), Some(PaymentMethod::Upi));
/// assert_eq!(PaymentMethod::Card.as_str(), "card");
/// assert_eq!(PaymentMethod::parse("netbanking"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    /// UPI with a VPA.
    Upi,
    /// A debit or credit card.
    Card,
}

impl PaymentMethod {
    /// The method as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upi => "upi",
            Self::Card => "card",
        }
    }

    /// Parses a client's or the store's method: `upi` or `card`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upi" => Some(Self::Upi),
            "card" => Some(Self::Card),
            _ => None,
        }
    }
}

/// Where a payment stands.
///
/// ```
/// use gateway_core::payment::PaymentStatus;
///
/// assert_eq!(PaymentStatus::parse("success"), Some(PaymentStatus::Success));
/// assert_eq!(serde_json::to_string(&PaymentStatus::Failed).unwrap(), r#""failed""#);
/// // Every transition leaves `pending`; nothing leaves `success` or `failed`.
/// assert!(PaymentStatus::TRANSITIONS.iter().all(|(from, _, _)| *from == PaymentStatus::Pending));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Created; the bank has not answered yet.
    Pending,
    /// The bank accepted it. Final.
    Success,
    /// The bank refused it. Final.
    Failed,
}

impl PaymentStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored or filtered status.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "success" => Self::Success,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Every state, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Success, Self::Failed];

    /// Every transition: `(from, the bank's answer, to)`.
    pub const TRANSITIONS: [(Self, &'static str, Self); 2] = [
        (Self::Pending, "bank accepts", Self::Success),
        (Self::Pending, "bank declines", Self::Failed),
    ];

    /// The states a payment may be in while its order takes no other payment.
    pub const LIVE: [Self; 2] = [Self::Pending, Self::Success];
}

/// What the (simulated) bank said about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Money moved.
    Succeeded,
    /// Refused, with a machine code and a human description.
    Failed {
        /// e.g. `PAYMENT_FAILED`.
        code: String,
        /// e.g. `Payment processing failed`.
        description: String,
    },
}

/// A payment, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// `pay_` + 16 alphanumerics.
    pub id: PaymentId,
    /// The order it pays.
    pub order_id: OrderId,
    /// The owning merchant; never shown.
    #[serde(skip)]
    pub merchant_id: MerchantId,
    /// The order's amount.
    pub amount: Amount,
    /// The order's currency.
    pub currency: Currency,
    /// `upi` or `card`.
    pub method: PaymentMethod,
    /// UPI only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpa: Option<String>,
    /// Card only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_network: Option<String>,
    /// Card only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
    /// Card only; never shown (kept for disputes and the dashboard).
    #[serde(skip)]
    pub card_expiry: Option<(u8, u16)>,
    /// Lifecycle state.
    pub status: PaymentStatus,
    /// Whether the merchant captured it.
    pub captured: bool,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human text for `error_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it left `pending`: the time its checkout result is signed at, so every poll of a
    /// settled payment returns the same result. Never shown.
    #[serde(skip)]
    pub settled_at: Option<Timestamp>,
}

impl Payment {
    /// A new pending payment for `amount`/`currency` made with `instrument`.
    pub fn new_pending(
        merchant_id: MerchantId,
        order_id: OrderId,
        amount: Amount,
        currency: Currency,
        instrument: StoredInstrument,
        now: Timestamp,
    ) -> Self {
        let mut payment = Payment {
            id: PaymentId::generate(),
            order_id,
            merchant_id,
            amount,
            currency,
            method: PaymentMethod::Upi,
            vpa: None,
            card_network: None,
            card_last4: None,
            card_expiry: None,
            status: PaymentStatus::Pending,
            captured: false,
            error_code: None,
            error_description: None,
            created_at: now,
            updated_at: now,
            settled_at: None,
        };
        match instrument {
            StoredInstrument::Upi { vpa } => payment.vpa = Some(vpa),
            StoredInstrument::Card {
                network,
                last4,
                expiry_month,
                expiry_year,
            } => {
                payment.method = PaymentMethod::Card;
                payment.card_network = Some(network.as_str().to_owned());
                payment.card_last4 = Some(last4);
                payment.card_expiry = Some((expiry_month, expiry_year));
            }
        }
        payment
    }

    /// Applies the bank's answer. Only a pending payment can settle, and only once.
    pub fn settle(&mut self, outcome: PaymentOutcome, now: Timestamp) -> Result<(), Refusal> {
        if self.status != PaymentStatus::Pending {
            return Err(Refusal::AlreadySettled("Payment"));
        }
        match outcome {
            PaymentOutcome::Succeeded => self.status = PaymentStatus::Success,
            PaymentOutcome::Failed { code, description } => {
                self.status = PaymentStatus::Failed;
                self.error_code = Some(code);
                self.error_description = Some(description);
            }
        }
        self.updated_at = now;
        self.settled_at = Some(now);
        Ok(())
    }

    /// Whether refunds may be made against this payment.
    pub fn is_refundable(&self) -> bool {
        self.status == PaymentStatus::Success
    }
}

/// What a store reads, under lock, before capturing or refunding a payment: the payment and the
/// sum of its refunds that are not `failed`.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentSnapshot {
    /// The payment as stored.
    pub payment: Payment,
    /// Σ of its `pending` and `processed` refunds, in minor units.
    pub refunded: i64,
}

impl PaymentSnapshot {
    /// Decides a capture of `amount` (the full amount when `None`) at `now`, returning the
    /// captured payment. Only a successful, uncaptured payment without any non-failed refund
    /// can be captured, and only for its full amount.
    pub fn capture(&self, amount: Option<i64>, now: Timestamp) -> Result<Payment, Refusal> {
        let payment = &self.payment;
        if payment.status != PaymentStatus::Success || payment.captured {
            return Err(Refusal::NotCapturable);
        }
        if self.refunded > 0 {
            return Err(Refusal::CaptureAfterRefund);
        }
        if amount.is_some_and(|a| a != payment.amount.minor()) {
            return Err(Refusal::CaptureAmountMismatch);
        }
        Ok(Payment {
            captured: true,
            updated_at: now,
            ..payment.clone()
        })
    }

    /// Decides whether a refund of `amount` may be made: only against a successful payment,
    /// and only while its non-failed refunds, this one included, stay within its amount.
    pub fn admit_refund(&self, amount: Amount) -> Result<(), Refusal> {
        if !self.payment.is_refundable() {
            return Err(Refusal::NotRefundable);
        }
        check_refundable(self.payment.amount, self.refunded, amount)
            .map_err(|available| Refusal::RefundExceedsAvailable { available })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::CardNetwork;

    fn pending() -> Payment {
        Payment::new_pending(
            crate::merchant::test_merchant::ID,
            OrderId::generate(),
            Amount::new(50_000).unwrap(),
            Currency::INR,
            StoredInstrument::Upi {
                vpa: "user@paytm".into(),
            },
            Timestamp::from_millis(0),
        )
    }

    fn failed() -> PaymentOutcome {
        PaymentOutcome::Failed {
            code: "PAYMENT_FAILED".into(),
            description: "declined".into(),
        }
    }

    #[test]
    fn a_payment_leaves_pending_exactly_once() {
        let mut p = pending();
        p.settle(PaymentOutcome::Succeeded, Timestamp::from_millis(5))
            .unwrap();
        assert_eq!(p.status, PaymentStatus::Success);
        assert!(p.settle(failed(), Timestamp::from_millis(6)).is_err());
        assert!(
            p.settle(PaymentOutcome::Succeeded, Timestamp::from_millis(6))
                .is_err()
        );
        assert_eq!(p.status, PaymentStatus::Success);
        assert_eq!(p.updated_at, Timestamp::from_millis(5));
    }

    #[test]
    fn a_failed_payment_carries_its_error() {
        let mut p = pending();
        p.settle(failed(), Timestamp::from_millis(5)).unwrap();
        assert_eq!(p.status, PaymentStatus::Failed);
        assert_eq!(p.error_code.as_deref(), Some("PAYMENT_FAILED"));
        assert!(!p.is_refundable());
    }

    fn snapshot(payment: &Payment, refunded: i64) -> PaymentSnapshot {
        PaymentSnapshot {
            payment: payment.clone(),
            refunded,
        }
    }

    #[test]
    fn capture_needs_success_happens_once_and_only_for_the_full_amount() {
        let mut p = pending();
        let at = Timestamp::from_millis(2);
        assert_eq!(
            snapshot(&p, 0).capture(None, at),
            Err(Refusal::NotCapturable),
            "pending cannot be captured"
        );
        p.settle(PaymentOutcome::Succeeded, Timestamp::from_millis(1))
            .unwrap();
        assert_eq!(
            snapshot(&p, 0).capture(Some(100), at),
            Err(Refusal::CaptureAmountMismatch),
            "partial capture"
        );
        let captured = snapshot(&p, 0).capture(Some(50_000), at).unwrap();
        assert!(captured.captured);
        assert_eq!(captured.updated_at, at);
        assert_eq!(
            snapshot(&captured, 0).capture(None, Timestamp::from_millis(3)),
            Err(Refusal::NotCapturable),
            "second capture"
        );
    }

    #[test]
    fn a_payment_with_a_refund_that_is_not_failed_cannot_be_captured() {
        let mut p = pending();
        p.settle(PaymentOutcome::Succeeded, Timestamp::from_millis(1))
            .unwrap();
        for refunded in [1, 25_000, 50_000] {
            assert_eq!(
                snapshot(&p, refunded).capture(None, Timestamp::from_millis(2)),
                Err(Refusal::CaptureAfterRefund)
            );
        }
    }

    #[test]
    fn refunds_need_a_successful_payment_and_stay_within_its_amount() {
        let mut p = pending();
        let half = Amount::new(25_000).unwrap();
        assert_eq!(
            snapshot(&p, 0).admit_refund(half),
            Err(Refusal::NotRefundable)
        );
        p.settle(PaymentOutcome::Succeeded, Timestamp::from_millis(1))
            .unwrap();
        assert_eq!(snapshot(&p, 25_000).admit_refund(half), Ok(()));
        assert_eq!(
            snapshot(&p, 25_001).admit_refund(half),
            Err(Refusal::RefundExceedsAvailable { available: 24_999 })
        );
        let captured = snapshot(&p, 0)
            .capture(None, Timestamp::from_millis(2))
            .unwrap();
        assert_eq!(
            snapshot(&captured, 0).admit_refund(half),
            Ok(()),
            "captured payments are refundable"
        );
    }

    #[test]
    fn card_payments_keep_network_last4_and_expiry_only() {
        let p = Payment::new_pending(
            crate::merchant::test_merchant::ID,
            OrderId::generate(),
            Amount::new(100).unwrap(),
            Currency::INR,
            StoredInstrument::Card {
                network: CardNetwork::Visa,
                last4: "1111".into(),
                expiry_month: 12,
                expiry_year: 2030,
            },
            Timestamp::from_millis(0),
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["method"], "card");
        assert_eq!(json["card_network"], "visa");
        assert_eq!(json["card_last4"], "1111");
        assert!(json.get("vpa").is_none());
    }
}
