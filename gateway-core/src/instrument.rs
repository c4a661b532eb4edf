//! Payment instruments as a client sends them, validated into what may be kept.
//!
//! A card number and CVV live only in [`CardInput`] (whose `Debug` is redacted) long enough to
//! be validated; what survives is [`StoredInstrument`]: last four digits, network and expiry.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, GatewayError};

/// Card details exactly as a client posts them. Never stored, never logged.
///
/// ```
/// use gateway_core::instrument::{CardInput, InstrumentVerdict, StoredInstrument, validate_card};
///
/// let card: CardInput = serde_json::from_value(serde_json::json!({
///     "number": "4111 1111 1111 1111",
///     "expiry_month": 12,
///     "expiry_year": "2030",
///     "cvv": "123",
/// }))?;
/// assert!(!format!("{card:?}").contains("4111")); // `Debug` is redacted
///
/// // Validated in January 2026: what may be kept, and the test card's verdict.
/// let (stored, verdict) = validate_card(&card, (2026, 1))?;
/// assert!(matches!(stored, StoredInstrument::Card { ref last4, .. } if last4 == "1111"));
/// assert_eq!(verdict, Some(InstrumentVerdict::Succeed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardInput {
    /// The primary account number (spaces and dashes allowed).
    pub number: String,
    /// 1–12.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::integer_or_digits))]
    pub expiry_month: serde_json::Value,
    /// Two or four digits.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::integer_or_digits))]
    pub expiry_year: serde_json::Value,
    /// Three or four digits.
    pub cvv: String,
    /// The card holder's name, if given.
    #[serde(default)]
    pub holder_name: Option<String>,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardInput { number: [redacted], cvv: [redacted], .. }")
    }
}

/// A card network, detected from the number's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CardNetwork {
    /// Starts with 4.
    Visa,
    /// 51–55 or 2221–2720.
    Mastercard,
    /// 34 or 37.
    Amex,
    /// 60, 65, 81–89.
    Rupay,
    /// Anything else that passes Luhn.
    Unknown,
}

impl CardNetwork {
    /// The network as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Rupay => "rupay",
            Self::Unknown => "unknown",
        }
    }

    /// Parses a stored network.
    pub fn parse(s: &str) -> Self {
        match s {
            "visa" => Self::Visa,
            "mastercard" => Self::Mastercard,
            "amex" => Self::Amex,
            "rupay" => Self::Rupay,
            _ => Self::Unknown,
        }
    }

    fn detect(digits: &str) -> Self {
        let prefix = |n: usize| {
            digits
                .get(..n)
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0)
        };
        match (prefix(1), prefix(2), prefix(4)) {
            (4, _, _) => Self::Visa,
            (_, 51..=55, _) | (_, _, 2221..=2720) => Self::Mastercard,
            (_, 34 | 37, _) => Self::Amex,
            (_, 60 | 65 | 81..=89, _) => Self::Rupay,
            _ => Self::Unknown,
        }
    }
}

/// What is kept about the instrument a payment was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredInstrument {
    /// A UPI virtual payment address, e.g. `user@paytm`.
    Upi {
        /// The VPA.
        vpa: String,
    },
    /// A card, reduced to what may be stored.
    Card {
        /// Detected network.
        network: CardNetwork,
        /// Last four digits.
        last4: String,
        /// 1–12.
        expiry_month: u8,
        /// Four-digit year.
        expiry_year: u16,
    },
}

/// A test instrument's own verdict, decided while the card number is still in memory and kept
/// only as this flag (in the payment job's payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstrumentVerdict {
    /// The instrument always succeeds (`success@paytm`, card 4111 1111 1111 1111).
    Succeed,
    /// The instrument always fails (`failure@paytm`, card 4000 0000 0000 0002).
    Decline,
}

/// Test VPA that always succeeds.
pub const TEST_VPA_SUCCESS: &str = "success@paytm";
/// Test VPA that always fails.
pub const TEST_VPA_FAILURE: &str = "failure@paytm";
/// Test card that always succeeds.
pub const TEST_CARD_SUCCESS: &str = "4111111111111111";
/// Test card that is always declined.
pub const TEST_CARD_DECLINE: &str = "4000000000000002";

/// Validates a VPA: `name@handle`, name of letters, digits, `.`, `_`, `-`; handle alphanumeric.
pub fn validate_vpa(vpa: &str) -> Result<StoredInstrument, GatewayError> {
    let valid = vpa.len() <= 255
        && vpa.split_once('@').is_some_and(|(name, handle)| {
            !name.is_empty()
                && !handle.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && handle.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if valid {
        Ok(StoredInstrument::Upi {
            vpa: vpa.to_owned(),
        })
    } else {
        Err(GatewayError::invalid(
            ErrorCode::InvalidVpa,
            "VPA format is invalid",
        ))
    }
}

/// The verdict of a test VPA, if it is one.
pub fn vpa_verdict(vpa: &str) -> Option<InstrumentVerdict> {
    match vpa {
        TEST_VPA_SUCCESS => Some(InstrumentVerdict::Succeed),
        TEST_VPA_FAILURE => Some(InstrumentVerdict::Decline),
        _ => None,
    }
}

/// Validates a card (Luhn, length, expiry not passed, CVV format) against the current
/// `year`/`month`, returning what may be stored and the test-card verdict, if any.
pub fn validate_card(
    card: &CardInput,
    (year, month): (u16, u8),
) -> Result<(StoredInstrument, Option<InstrumentVerdict>), GatewayError> {
    let digits: String = card
        .number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if !(12..=19).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !luhn(&digits)
    {
        return Err(GatewayError::invalid(
            ErrorCode::InvalidCard,
            "Card validation failed",
        ));
    }
    if !(3..=4).contains(&card.cvv.len()) || !card.cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GatewayError::invalid(
            ErrorCode::InvalidCard,
            "Card validation failed",
        ));
    }
    let expiry_month = number_field(&card.expiry_month)
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| GatewayError::invalid(ErrorCode::ExpiredCard, "Card expiry date invalid"))?;
    let expiry_year = number_field(&card.expiry_year)
        .and_then(|y| match y {
            0..=99 => Some(2000 + y),
            2000..=2199 => Some(y),
            _ => None,
        })
        .ok_or_else(|| GatewayError::invalid(ErrorCode::ExpiredCard, "Card expiry date invalid"))?;
    if (expiry_year, expiry_month) < (u32::from(year), u32::from(month)) {
        return Err(GatewayError::invalid(
            ErrorCode::ExpiredCard,
            "Card expiry date invalid",
        ));
    }
    let verdict = match digits.as_str() {
        TEST_CARD_SUCCESS => Some(InstrumentVerdict::Succeed),
        TEST_CARD_DECLINE => Some(InstrumentVerdict::Decline),
        _ => None,
    };
    let stored = StoredInstrument::Card {
        network: CardNetwork::detect(&digits),
        last4: digits[digits.len() - 4..].to_owned(),
        expiry_month: u8::try_from(expiry_month).unwrap_or(12),
        expiry_year: u16::try_from(expiry_year).unwrap_or(2199),
    };
    Ok((stored, verdict))
}

/// Reads an expiry field given as a JSON number or a digit string ("12", "2030").
fn number_field(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s)
            if (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// The Luhn checksum over a string of ASCII digits.
pub fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn card(
        number: &str,
        month: serde_json::Value,
        year: serde_json::Value,
        cvv: &str,
    ) -> CardInput {
        CardInput {
            number: number.into(),
            expiry_month: month,
            expiry_year: year,
            cvv: cvv.into(),
            holder_name: None,
        }
    }

    const NOW: (u16, u8) = (2026, 11);

    #[test]
    fn vpas_need_a_name_and_a_handle() {
        assert!(validate_vpa("user@paytm").is_ok());
        assert!(validate_vpa("first.last-1_x@okhdfcbank").is_ok());
        for bad in [
            "userpaytm",
            "@paytm",
            "user@",
            "us er@paytm",
            "user@pay.tm",
            "a@b@c",
            "",
        ] {
            assert!(validate_vpa(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn luhn_accepts_valid_and_rejects_altered_numbers() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("5555555555554444"));
        assert!(!luhn("4111111111111112"));
    }

    #[test]
    fn a_valid_card_keeps_only_network_last4_and_expiry() {
        let (stored, verdict) = validate_card(
            &card("4111 1111 1111 1111", json!(12), json!("2030"), "123"),
            NOW,
        )
        .unwrap();
        assert_eq!(
            stored,
            StoredInstrument::Card {
                network: CardNetwork::Visa,
                last4: "1111".into(),
                expiry_month: 12,
                expiry_year: 2030
            }
        );
        assert_eq!(verdict, Some(InstrumentVerdict::Succeed));
    }

    #[test]
    fn networks_are_detected_from_prefixes() {
        assert_eq!(
            CardNetwork::detect("5555555555554444"),
            CardNetwork::Mastercard
        );
        assert_eq!(
            CardNetwork::detect("2221000000000009"),
            CardNetwork::Mastercard
        );
        assert_eq!(CardNetwork::detect("378282246310005"), CardNetwork::Amex);
        assert_eq!(CardNetwork::detect("6521000000000000"), CardNetwork::Rupay);
        assert_eq!(
            CardNetwork::detect("3530111333300000"),
            CardNetwork::Unknown
        );
    }

    #[test]
    fn expired_and_malformed_cards_are_rejected_with_their_codes() {
        let expired = validate_card(&card(TEST_CARD_SUCCESS, json!(10), json!(2026), "123"), NOW)
            .unwrap_err();
        assert_eq!(expired.code(), Some(ErrorCode::ExpiredCard));
        let this_month = validate_card(&card(TEST_CARD_SUCCESS, json!(11), json!(26), "123"), NOW);
        assert!(this_month.is_ok());
        let bad_luhn = validate_card(
            &card("4111111111111112", json!(12), json!(2030), "123"),
            NOW,
        )
        .unwrap_err();
        assert_eq!(bad_luhn.code(), Some(ErrorCode::InvalidCard));
        let bad_cvv = validate_card(&card(TEST_CARD_SUCCESS, json!(12), json!(2030), "12a"), NOW)
            .unwrap_err();
        assert_eq!(bad_cvv.code(), Some(ErrorCode::InvalidCard));
        let bad_month = validate_card(&card(TEST_CARD_SUCCESS, json!(13), json!(2030), "123"), NOW)
            .unwrap_err();
        assert_eq!(bad_month.code(), Some(ErrorCode::ExpiredCard));
    }

    #[test]
    fn card_debug_output_never_shows_number_or_cvv() {
        let text = format!(
            "{:?}",
            card("4111111111111111", json!(12), json!(2030), "987")
        );
        assert!(!text.contains("4111") && !text.contains("987"));
    }
}
