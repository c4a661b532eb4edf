//! OpenAPI schemas (feature `openapi`) for the types whose JSON is not what their Rust shape
//! suggests: money and ids are newtypes, timestamps are integers rendered as RFC 3339 text.
//!
//! The request and response structs derive `utoipa::ToSchema` where they are defined; this
//! module writes the schemas of the newtypes by hand, from the same constants that validate
//! them ([`Amount::MAX`], [`CURRENCIES`], the id prefixes), so the document cannot drift from
//! the checks.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::clock::Timestamp;
use crate::ids::{EndpointId, EventId, ID_RANDOM_LEN, OrderId, PaymentId, RefundId};
use crate::money::{Amount, CURRENCIES, Currency};

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(Amount::MAX.minor()))
            .description(Some(
                "An amount of money in minor units (paise for INR), never a float.",
            ))
            .examples([50_000])
            .into()
    }
}

impl ToSchema for Amount {}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(CURRENCIES.iter().copied()))
            .description(Some("An ISO 4217 currency code the gateway accepts."))
            .examples([Currency::INR.code()])
            .into()
    }
}

impl ToSchema for Currency {}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 time in UTC with second precision."))
            .examples(["2024-01-15T10:30:00Z"])
            .into()
    }
}

impl ToSchema for Timestamp {}

macro_rules! prefixed_id_schema {
    ($name:ident, $what:literal, $example:literal) => {
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!(
                        "^{}[A-Za-z0-9]{{{ID_RANDOM_LEN}}}$",
                        $name::PREFIX
                    )))
                    .description(Some(format!(
                        "{}'s id: `{}` followed by {ID_RANDOM_LEN} alphanumerics.",
                        $what,
                        $name::PREFIX
                    )))
                    .examples([$example])
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

prefixed_id_schema!(OrderId, "An order", "order_NXhj67fGH2jk9mPq");
prefixed_id_schema!(PaymentId, "A payment", "pay_H8sK3jD9s2L1pQr4");
prefixed_id_schema!(RefundId, "A refund", "rfnd_K9pL2mN4oQ5r6St7");
prefixed_id_schema!(EndpointId, "A webhook endpoint", "we_Q2w3E4r5T6y7U8i9");
prefixed_id_schema!(EventId, "An event", "evt_R7t8Y9u0I1o2P3a4");

/// A card expiry month or year: clients send either a number or a string of digits.
pub(crate) fn integer_or_digits() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]+$")),
        )
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).expect("schema serializes")
    }

    #[test]
    fn newtypes_are_documented_as_their_json_shapes() {
        assert_eq!(json::<Amount>()["type"], "integer");
        assert_eq!(json::<Amount>()["maximum"], Amount::MAX.minor());
        assert_eq!(json::<Currency>()["enum"][0], "INR");
        assert_eq!(json::<Timestamp>()["format"], "date-time");
        assert_eq!(
            json::<OrderId>()["pattern"],
            "^order_[A-Za-z0-9]{16}$",
            "the pattern is built from the prefix and length that OrderId::parse checks"
        );
    }

    #[test]
    fn the_order_amount_bounds_are_the_services() {
        let order = json::<crate::gateway::CreateOrder>();
        let amount = &order["properties"]["amount"];
        assert_eq!(amount["minimum"], crate::service::MIN_ORDER_AMOUNT);
        assert_eq!(amount["maximum"], Amount::MAX.minor());
    }
}
