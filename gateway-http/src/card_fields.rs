//! The reference's flat card fields, accepted beside the nested `card` object.
//!
//! The reference's clients send a card flat: `card_number`, `card_expiry` (`MM/YY` or
//! `MM/YYYY`), `card_cvv` and an optional `card_holder_name`. [`nest_flat_card_fields`] moves
//! them into the nested `card` object of [`PaymentBody`] before anything else reads the body,
//! so everything after sees one shape: the idempotency fingerprint (which leaves the number
//! and CVV *of `card`* out), the card checks in `gateway-core` (Luhn, expiry, CVV: not
//! repeated here) and what is stored.
//!
//! Ambiguous bodies get a 400 that names fields, never values: the flat fields together with a
//! `card` object, a flat field that is not a string, or `card_number`, `card_expiry` and
//! `card_cvv` not all three present. `null` counts as absent, as for every optional field.

use gateway_core::gateway::PaymentBody;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::body::json_type;
use crate::error::ApiError;

/// The flat fields, as the reference names them.
pub(crate) const FLAT_CARD_FIELDS: [&str; 4] =
    ["card_number", "card_expiry", "card_cvv", "card_holder_name"];

/// The flat fields a flat card needs (`card_holder_name` is optional).
const REQUIRED: [&str; 3] = ["card_number", "card_expiry", "card_cvv"];

/// Rewrites the flat card fields of a payment body, if any, into its `card` object.
pub(crate) fn nest_flat_card_fields(body: &mut Map<String, Value>) -> Result<(), ApiError> {
    let given =
        |body: &Map<String, Value>, name: &str| body.get(name).is_some_and(|v| !v.is_null());
    if !FLAT_CARD_FIELDS.iter().any(|name| given(body, name)) {
        for name in FLAT_CARD_FIELDS {
            body.remove(name);
        }
        return Ok(());
    }
    if given(body, "card") {
        return Err(ApiError::bad_request(
            "Send the card either as `card` or as the flat fields `card_number`, `card_expiry`, \
             `card_cvv` and `card_holder_name`, not both",
        ));
    }
    for name in FLAT_CARD_FIELDS {
        if let Some(value) = body.get(name).filter(|v| !v.is_null() && !v.is_string()) {
            return Err(ApiError::bad_request(format!(
                "Invalid request body: `{name}` must be a string, not {}",
                json_type(value)
            )));
        }
    }
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|name| !given(body, name))
        .map(|name| format!("`{name}`"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!(
            "`card_number`, `card_expiry` and `card_cvv` go together; missing: {}",
            missing.join(", ")
        )));
    }
    let mut take = |name: &str| body.remove(name).filter(|v| !v.is_null());
    let number = take("card_number");
    let expiry = take("card_expiry");
    let cvv = take("card_cvv");
    let holder_name = take("card_holder_name");
    let (expiry_month, expiry_year) = split_expiry(expiry.as_ref().and_then(Value::as_str));
    let mut card = Map::new();
    card.insert("number".into(), number.unwrap_or_default());
    card.insert("cvv".into(), cvv.unwrap_or_default());
    card.insert("expiry_month".into(), expiry_month);
    card.insert("expiry_year".into(), expiry_year);
    if let Some(holder_name) = holder_name {
        card.insert("holder_name".into(), holder_name);
    }
    body.insert("card".into(), Value::Object(card));
    Ok(())
}

/// `MM/YY` or `MM/YYYY` (a one-digit month and spaces around the parts allowed) as the nested
/// card's month and year. Anything else becomes `null` for both, which the card checks reject
/// as they reject a nested card's invalid expiry (`EXPIRED_CARD`). Whether the parts are digits,
/// and in range, is also theirs to decide.
fn split_expiry(expiry: Option<&str>) -> (Value, Value) {
    let parts = expiry
        .and_then(|e| e.split_once('/'))
        .map(|(month, year)| (month.trim(), year.trim()))
        .filter(|(month, year)| (1..=2).contains(&month.len()) && matches!(year.len(), 2 | 4));
    match parts {
        Some((month, year)) => (Value::from(month), Value::from(year)),
        None => (Value::Null, Value::Null),
    }
}

/// The body of `POST /api/v1/payments` and `POST /api/v1/checkout/payments`: a card payment's
/// card either nested in `card` or in the reference's flat `card_*` fields, not both.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "documents the body; nest_flat_card_fields reads it"
)]
pub(crate) struct PaymentRequest {
    #[serde(flatten)]
    payment: PaymentBody,
    #[serde(flatten)]
    flat_card: FlatCardFields,
}

/// The reference's flat card fields, an alternative to `card`: `card_number`, `card_expiry`
/// and `card_cvv` together, with `card_holder_name` optional. Checked as `card` is, with the
/// same error codes.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "documents the body; nest_flat_card_fields reads it"
)]
pub(crate) struct FlatCardFields {
    /// As `card.number`: 12–19 digits, spaces and dashes allowed, passing Luhn.
    #[schema(examples("4111 1111 1111 1111"))]
    card_number: Option<String>,
    /// As `card.expiry_month` and `card.expiry_year`: `MM/YY` or `MM/YYYY`, this month or later.
    #[schema(examples("12/30"))]
    card_expiry: Option<String>,
    /// As `card.cvv`: 3 or 4 digits.
    #[schema(examples("123"))]
    card_cvv: Option<String>,
    /// As `card.holder_name`: optional, not stored.
    card_holder_name: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use serde_json::json;
    use utoipa::PartialSchema;

    use super::*;

    fn nest(body: Value) -> Result<Value, String> {
        let Value::Object(mut body) = body else {
            panic!("an object")
        };
        nest_flat_card_fields(&mut body)
            .map(|()| Value::Object(body))
            .map_err(|e| e.description)
    }

    #[test]
    fn flat_fields_become_the_nested_card() {
        let nested = nest(json!({
            "order_id": "order_x", "method": "card", "card_number": "4111 1111 1111 1111",
            "card_expiry": "12/30", "card_cvv": "123", "card_holder_name": "A Customer"
        }))
        .unwrap();
        assert_eq!(
            nested,
            json!({
                "order_id": "order_x", "method": "card",
                "card": { "number": "4111 1111 1111 1111", "cvv": "123", "expiry_month": "12",
                          "expiry_year": "30", "holder_name": "A Customer" }
            })
        );
    }

    #[test]
    fn expiries_split_into_month_and_year_or_into_nulls() {
        for (expiry, month, year) in [
            ("12/30", json!("12"), json!("30")),
            ("1/2031", json!("1"), json!("2031")),
            (" 07 / 29 ", json!("07"), json!("29")),
            ("ab/cd", json!("ab"), json!("cd")),
            ("1230", Value::Null, Value::Null),
            ("12/301", Value::Null, Value::Null),
            ("123/30", Value::Null, Value::Null),
            ("/30", Value::Null, Value::Null),
            ("", Value::Null, Value::Null),
        ] {
            assert_eq!(split_expiry(Some(expiry)), (month, year), "{expiry:?}");
        }
    }

    #[test]
    fn bodies_without_flat_fields_are_left_alone() {
        let body = json!({ "order_id": "o", "method": "card", "card": { "number": "4111" } });
        assert_eq!(nest(body.clone()).unwrap(), body);
        let with_nulls = json!({ "order_id": "o", "method": "upi", "card_number": null });
        assert_eq!(
            nest(with_nulls).unwrap(),
            json!({ "order_id": "o", "method": "upi" })
        );
    }

    #[test]
    fn both_shapes_at_once_are_refused_without_repeating_the_card() {
        let error = nest(json!({
            "method": "card", "card": { "number": "5555555555554444" },
            "card_number": "4111111111111111", "card_expiry": "12/30", "card_cvv": "739"
        }))
        .unwrap_err();
        assert!(error.contains("not both"), "{error}");
        assert!(!error.contains("5555") && !error.contains("4111") && !error.contains("739"));
    }

    #[test]
    fn a_partial_flat_card_names_what_is_missing() {
        let error =
            nest(json!({ "method": "card", "card_number": "4111111111111111" })).unwrap_err();
        assert_eq!(
            error,
            "`card_number`, `card_expiry` and `card_cvv` go together; missing: `card_expiry`, `card_cvv`"
        );
        let only_a_name = nest(json!({ "method": "card", "card_holder_name": "A" })).unwrap_err();
        assert!(only_a_name.contains("missing: `card_number`, `card_expiry`, `card_cvv`"));
    }

    #[test]
    fn flat_fields_of_other_types_are_named_by_type_only() {
        let error = nest(json!({
            "card_number": 4_111_111_111_111_111_u64, "card_expiry": "12/30", "card_cvv": "739"
        }))
        .unwrap_err();
        assert_eq!(
            error,
            "Invalid request body: `card_number` must be a string, not an integer"
        );
        let error = nest(json!({
            "card_number": "4111111111111111", "card_expiry": "12/30", "card_cvv": [739]
        }))
        .unwrap_err();
        assert_eq!(
            error,
            "Invalid request body: `card_cvv` must be a string, not an array"
        );
    }

    #[test]
    fn the_documented_flat_fields_are_the_ones_read() {
        let schema = serde_json::to_value(FlatCardFields::schema()).unwrap();
        let documented: BTreeSet<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(documented, BTreeSet::from(FLAT_CARD_FIELDS));
    }
}
