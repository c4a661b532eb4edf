//! Money: amounts in integer minor units with bounds and checked arithmetic, and currencies.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A positive amount of money in minor units (paise for INR), never a float.
///
/// Bounded to `1..=Amount::MAX` so sums of many amounts never overflow an `i64`.
///
/// ```
/// use gateway_core::money::{Amount, AmountError};
///
/// let price = Amount::new(50_000)?; // ₹500.00
/// assert_eq!(price.minor(), 50_000);
/// assert_eq!(Amount::new(0), Err(AmountError::NotPositive));
/// assert_eq!(Amount::new(Amount::MAX.minor() + 1), Err(AmountError::TooLarge));
///
/// // Arithmetic is checked: a sum beyond the bound is `None`, never a wrapped number.
/// assert_eq!(price.checked_add(price).map(Amount::minor), Some(100_000));
/// assert_eq!(Amount::MAX.checked_add(price), None);
/// // What is left after refunding ₹300.00, and refunding more than there is.
/// assert_eq!(price.checked_sub(30_000), Some(20_000));
/// assert_eq!(price.checked_sub(60_000), None);
/// # Ok::<(), AmountError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(i64);

/// Why a number is not an [`Amount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Zero or negative.
    #[error("amount must be a positive integer in minor units")]
    NotPositive,
    /// Larger than [`Amount::MAX`].
    #[error("amount must not exceed {}", Amount::MAX.0)]
    TooLarge,
}

impl Amount {
    /// The largest amount accepted: 1,000,000,000,000 minor units (₹1,000 crore).
    pub const MAX: Amount = Amount(1_000_000_000_000);

    /// An amount, if `minor` is within `1..=Amount::MAX`.
    pub fn new(minor: i64) -> Result<Self, AmountError> {
        if minor <= 0 {
            Err(AmountError::NotPositive)
        } else if minor > Self::MAX.0 {
            Err(AmountError::TooLarge)
        } else {
            Ok(Self(minor))
        }
    }

    /// The amount in minor units.
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// `self + other`, if the result is still a valid amount.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_add(other.0)
            .and_then(|sum| Amount::new(sum).ok())
    }

    /// `self - other` in minor units, if `other` does not exceed `self` (zero is allowed).
    pub fn checked_sub(self, other: i64) -> Option<i64> {
        (0..=self.0).contains(&other).then(|| self.0 - other)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An ISO 4217 currency the gateway accepts.
///
/// ```
/// use gateway_core::money::Currency;
///
/// let usd = Currency::parse("USD").expect("accepted");
/// assert_eq!((usd.code(), usd.to_string()), ("USD", "USD".to_owned()));
/// assert_eq!(Currency::parse("INR"), Some(Currency::INR));
/// // Codes are upper case and from the accepted list.
/// assert_eq!(Currency::parse("usd"), None);
/// assert_eq!(Currency::parse("XYZ"), None);
/// assert_eq!(serde_json::to_string(&usd).unwrap(), r#""USD""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

/// The currencies the gateway accepts.
pub const CURRENCIES: &[&str] = &[
    "INR", "USD", "EUR", "GBP", "SGD", "AED", "AUD", "CAD", "JPY", "CHF", "HKD", "MYR", "NZD",
    "SAR", "SEK", "THB", "ZAR", "QAR", "BDT", "NPR", "LKR",
];

impl Currency {
    /// The default currency, Indian rupees.
    pub const INR: Currency = Currency("INR");

    /// Parses a currency code (upper case, from [`CURRENCIES`]).
    pub fn parse(code: &str) -> Option<Currency> {
        CURRENCIES.iter().find(|c| **c == code).map(|c| Currency(c))
    }

    /// The ISO 4217 code.
    pub const fn code(self) -> &'static str {
        self.0
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(Amount::new(0), Err(AmountError::NotPositive));
        assert_eq!(Amount::new(-1), Err(AmountError::NotPositive));
        assert_eq!(
            Amount::new(Amount::MAX.minor() + 1),
            Err(AmountError::TooLarge)
        );
        assert_eq!(Amount::new(1).map(Amount::minor), Ok(1));
        assert_eq!(Amount::new(Amount::MAX.minor()), Ok(Amount::MAX));
    }

    #[test]
    fn subtraction_never_goes_negative() {
        let amount = Amount::new(100).expect("valid");
        assert_eq!(amount.checked_sub(100), Some(0));
        assert_eq!(amount.checked_sub(101), None);
        assert_eq!(amount.checked_sub(-1), None);
    }

    #[test]
    fn currencies_are_upper_case_iso_codes_from_the_list() {
        assert_eq!(Currency::parse("INR"), Some(Currency::INR));
        assert_eq!(Currency::parse("inr"), None);
        assert_eq!(Currency::parse("XXX"), None);
    }

    proptest! {
        #[test]
        fn addition_is_checked(a in 1..=Amount::MAX.minor(), b in 1..=Amount::MAX.minor()) {
            let sum = Amount::new(a).unwrap().checked_add(Amount::new(b).unwrap());
            prop_assert_eq!(sum.map(Amount::minor), (a + b <= Amount::MAX.minor()).then_some(a + b));
        }

        #[test]
        fn any_i64_is_either_a_bounded_amount_or_rejected(n in any::<i64>()) {
            match Amount::new(n) {
                Ok(a) => prop_assert!(a.minor() >= 1 && a.minor() <= Amount::MAX.minor()),
                Err(_) => prop_assert!(n < 1 || n > Amount::MAX.minor()),
            }
        }
    }
}
