//! Identifiers: prefixed random ids for orders, payments, refunds, webhook endpoints and events;
//! UUIDs for the rest.

use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::GatewayError;

/// Number of random alphanumerics after an id's prefix.
pub const ID_RANDOM_LEN: usize = 16;

/// What every id type shares: parsing a client's text, and the name its 404 uses.
///
/// ```
/// use gateway_core::ids::{OrderId, PaymentId, TypedId};
///
/// let order: OrderId = "order_NXhj67fGH2jk9mPq".parse().unwrap();
/// assert_eq!(order.to_string(), "order_NXhj67fGH2jk9mPq");
/// // A payment id is not an order id, and a malformed id names no object at all.
/// assert!("pay_NXhj67fGH2jk9mPq".parse::<OrderId>().is_err());
/// assert_eq!(PaymentId::find("pay_x").unwrap_err().to_string(), "Payment not found");
/// ```
pub trait TypedId: Sized + fmt::Display {
    /// What the object is called in a "not found" answer, e.g. `Payment`.
    const NOT_FOUND: &'static str;

    /// Parses an id from a client, `None` unless it has this kind's shape.
    fn parse(value: &str) -> Option<Self>;

    /// Parses a client's id; a malformed one names nothing, so it is "not found" (404).
    fn find(value: &str) -> Result<Self, GatewayError> {
        Self::parse(value).ok_or(GatewayError::NotFound(Self::NOT_FOUND))
    }
}

/// A text that is not an id of the kind asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0} id")]
pub struct InvalidId(&'static str);

/// `FromStr` and [`TypedId`] for an id type with an inherent `parse`.
macro_rules! id_traits {
    ($name:ident, $not_found:literal) => {
        impl TypedId for $name {
            const NOT_FOUND: &'static str = $not_found;

            fn parse(value: &str) -> Option<Self> {
                $name::parse(value)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(value: &str) -> Result<Self, InvalidId> {
                $name::parse(value).ok_or(InvalidId($not_found))
            }
        }
    };
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $not_found:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id: the prefix and 16 alphanumerics from the thread's CSPRNG.
            pub fn generate() -> Self {
                Self(random_id(Self::PREFIX))
            }

            /// Wraps an id read back from storage, trusted to be well formed.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            /// Parses an id from a client, rejecting anything not of this kind's shape.
            pub fn parse(value: &str) -> Option<Self> {
                is_prefixed_id(value, Self::PREFIX).then(|| Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        id_traits!($name, $not_found);
    };
}

prefixed_id!(
    /// An order's id: `order_` + 16 alphanumerics.
    OrderId,
    "order_",
    "Order"
);
prefixed_id!(
    /// A payment's id: `pay_` + 16 alphanumerics.
    PaymentId,
    "pay_",
    "Payment"
);
prefixed_id!(
    /// A refund's id: `rfnd_` + 16 alphanumerics.
    RefundId,
    "rfnd_",
    "Refund"
);
prefixed_id!(
    /// A webhook endpoint's id: `we_` + 16 alphanumerics.
    EndpointId,
    "we_",
    "Webhook endpoint"
);

prefixed_id!(
    /// An event's id: `evt_` + 16 alphanumerics.
    EventId,
    "evt_",
    "Event"
);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $not_found:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (version 4) id.
            pub fn generate() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the hyphenated form a client or the store gives.
            pub fn parse(value: &str) -> Option<Self> {
                Uuid::parse_str(value).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        id_traits!($name, $not_found);
    };
}

uuid_id!(
    /// A merchant's id (a UUID, as in the reference).
    MerchantId,
    "Merchant"
);

uuid_id!(
    /// A webhook delivery's id (a UUID; also the Standard Webhooks `webhook-id`).
    DeliveryId,
    "Webhook delivery"
);

fn random_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + ID_RANDOM_LEN);
    id.push_str(prefix);
    id.extend(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(ID_RANDOM_LEN)
            .map(char::from),
    );
    id
}

fn is_prefixed_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == ID_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_prefix_and_sixteen_alphanumerics() {
        for id in [
            OrderId::generate().0,
            PaymentId::generate().0,
            RefundId::generate().0,
            EndpointId::generate().0,
            EventId::generate().0,
        ] {
            let (prefix, rest) = id.split_once('_').expect("prefix");
            assert!(["order", "pay", "rfnd", "we", "evt"].contains(&prefix));
            assert_eq!(rest.len(), 16);
            assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(PaymentId::generate(), PaymentId::generate());
    }

    #[test]
    fn parse_rejects_wrong_prefix_length_and_characters() {
        assert!(OrderId::parse("order_NXhj67fGH2jk9mPq").is_some());
        assert!(OrderId::parse("pay_NXhj67fGH2jk9mPq").is_none());
        assert!(OrderId::parse("order_NXhj67fGH2jk9mP").is_none());
        assert!(OrderId::parse("order_NXhj67fGH2jk9mP!").is_none());
        assert!(OrderId::parse("order_NXhj67fGH2jk9mPq'--").is_none());
    }
}
