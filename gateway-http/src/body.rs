//! Reading a parsed JSON body into a request type, with errors that never repeat what was sent.
//!
//! serde's own messages quote the offending value (`invalid type: integer `5555555555554444`,
//! expected a string`), which would echo a card number or CVV sent with the wrong JSON type back
//! to the client and into any log of the answer. So bodies are not read with
//! `serde_json::from_value` but with [`from_value`]: a deserializer over the parsed
//! [`Value`] whose error type keeps only *where* the problem is (the field path, e.g.
//! `card.number`), *what* was expected (from the request type, never from the input) and the
//! JSON type that was found. The value itself is dropped where serde hands it over.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use serde_json::Value;

/// Reads `value` into `T`; a failure names the field and the expected type, never the value.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, BodyError> {
    T::deserialize(ValueDeserializer(value))
}

/// How a JSON value is named in error messages: its type, never its content.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a floating-point number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A body that does not fit the request type: where, and what kind of mismatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// Outermost first, e.g. `["card", "number"]`.
    path: Vec<Segment>,
    problem: Problem,
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// An object key. Only keys that look like field names are kept (see [`Segment::key`]).
    Key(String),
    /// An array index.
    Index(usize),
}

impl Segment {
    /// A key as it may appear in a message: a field name as the request types spell them, or
    /// `*` for anything else (a key is client input too, and could be a card number).
    fn key(key: &str) -> Self {
        let is_field_name = (1..=64).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
        Self::Key(if is_field_name { key } else { "*" }.to_owned())
    }
}

/// The kinds of mismatch serde reports, each without the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// The JSON type is wrong.
    Type {
        expected: String,
        found: &'static str,
    },
    /// The type is right but the value is not acceptable (e.g. out of an integer's range).
    Value { expected: String },
    /// An array or object of the wrong length.
    Length { expected: String },
    /// A string that is none of the allowed names.
    Variant { allowed: &'static [&'static str] },
    /// An object key the type does not know (for types that refuse unknown keys); the path
    /// ends with that key.
    UnknownField,
    /// A required field is absent.
    Missing(&'static str),
    /// A field appears twice.
    Duplicate(&'static str),
    /// Anything else; serde's own text may quote the value, so it is not kept.
    Other,
}

impl BodyError {
    fn new(problem: Problem) -> Self {
        Self {
            path: Vec::new(),
            problem,
        }
    }

    /// The same error, one level further out.
    fn within(mut self, segment: Segment) -> Self {
        self.path.insert(0, segment);
        self
    }

    /// `card.number`, `items[2]`, or `""` for the body itself.
    fn path_with(&self, last: Option<&str>) -> String {
        let mut out = String::new();
        let keys = self
            .path
            .iter()
            .cloned()
            .chain(last.map(|l| Segment::Key(l.to_owned())));
        for segment in keys {
            match segment {
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&key);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match &self.problem {
            Problem::Missing(field) | Problem::Duplicate(field) => {
                format!("`{}`", self.path_with(Some(field)))
            }
            _ if self.path.is_empty() => "the body".to_owned(),
            _ => format!("`{}`", self.path_with(None)),
        };
        match &self.problem {
            Problem::Type { expected, found } => {
                write!(f, "{subject} must be {expected}, not {found}")
            }
            Problem::Value { expected } => {
                write!(f, "{subject} is out of range or invalid for {expected}")
            }
            Problem::Length { expected } => {
                write!(f, "{subject} has the wrong length; expected {expected}")
            }
            Problem::Variant { allowed } => {
                let allowed: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                write!(f, "{subject} must be one of {}", allowed.join(", "))
            }
            Problem::UnknownField => write!(f, "{subject} is not a field this request takes"),
            Problem::Missing(_) => write!(f, "{subject} is required"),
            Problem::Duplicate(_) => write!(f, "{subject} is given more than once"),
            Problem::Other => write!(f, "{subject} is invalid"),
        }
    }
}

impl std::error::Error for BodyError {}

impl de::Error for BodyError {
    fn custom<T: fmt::Display>(_message: T) -> Self {
        Self::new(Problem::Other)
    }

    fn invalid_type(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::new(Problem::Type {
            expected: plain(expected),
            found: unexpected(&found),
        })
    }

    fn invalid_value(_found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::new(Problem::Value {
            expected: plain(expected),
        })
    }

    fn invalid_length(_len: usize, expected: &dyn Expected) -> Self {
        Self::new(Problem::Length {
            expected: plain(expected),
        })
    }

    fn unknown_variant(_variant: &str, allowed: &'static [&'static str]) -> Self {
        Self::new(Problem::Variant { allowed })
    }

    fn unknown_field(_field: &str, _allowed: &'static [&'static str]) -> Self {
        Self::new(Problem::UnknownField)
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(Problem::Missing(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(Problem::Duplicate(field))
    }
}

/// What a request type expects, in JSON's words. The text comes from the type's `Visitor`
/// (`i64`, `a string`, `struct CardInput`), never from the input.
fn plain(expected: &dyn Expected) -> String {
    let text = expected.to_string();
    match text.as_str() {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a borrowed string" | "a string" | "a char" | "a character" => "a string".to_owned(),
        "a sequence" | "a tuple" => "an array".to_owned(),
        "a map" | "map" => "an object".to_owned(),
        "any valid JSON value" => "a JSON value".to_owned(),
        _ if text.starts_with("struct ") => "an object".to_owned(),
        _ => text,
    }
}

/// The JSON type serde found, never its value.
fn unexpected(found: &Unexpected<'_>) -> &'static str {
    match found {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a floating-point number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit | Unexpected::Option => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        _ => "a value of another kind",
    }
}

/// Deserializes from a borrowed [`Value`], with [`BodyError`] as its error.
struct ValueDeserializer<'de>(&'de Value);

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = BodyError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                (None, None, None) => Err(BodyError::new(Problem::Other)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.iter().enumerate(),
            }),
            Value::Object(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        match self.0 {
            // Unit variants, the only kind request bodies use.
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(BodyError::new(Problem::Type {
                expected: "a string".to_owned(),
                found: json_type(other),
            })),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// An array's elements, each error marked with its index.
struct Items<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = BodyError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, BodyError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => seed
                .deserialize(ValueDeserializer(value))
                .map(Some)
                .map_err(|e| e.within(Segment::Index(i))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An object's entries, each value's error marked with its key.
struct Entries<'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = BodyError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, BodyError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.pending = Some((key, value));
                seed.deserialize(de::value::BorrowedStrDeserializer::<BodyError>::new(key))
                    .map(Some)
                    .map_err(|e| e.within(Segment::key(key)))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BodyError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| BodyError::new(Problem::Other))?;
        seed.deserialize(ValueDeserializer(value))
            .map_err(|e| e.within(Segment::key(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use gateway_core::gateway::{CreateOrder, PaymentBody};
    use serde_json::json;

    use super::*;

    fn error<T: DeserializeOwned + fmt::Debug>(value: Value) -> String {
        from_value::<T>(&value).unwrap_err().to_string()
    }

    #[test]
    fn a_mistyped_card_number_is_named_with_its_type_and_never_its_digits() {
        let message = error::<PaymentBody>(json!({
            "order_id": "order_x", "method": "card",
            "card": { "number": 5555555555554444_u64, "cvv": "123", "expiry_month": 1, "expiry_year": 30 }
        }));
        assert_eq!(message, "`card.number` must be a string, not an integer");
    }

    #[test]
    fn floats_arrays_objects_and_booleans_are_named_by_type() {
        for (cvv, found) in [
            (json!(123.5), "a floating-point number"),
            (json!([739]), "an array"),
            (json!({"739": 1}), "an object"),
            (json!(true), "a boolean"),
        ] {
            let message = error::<PaymentBody>(json!({
                "order_id": "order_x", "method": "card",
                "card": { "number": "4111", "cvv": cvv, "expiry_month": 1, "expiry_year": 30 }
            }));
            assert_eq!(message, format!("`card.cvv` must be a string, not {found}"));
        }
    }

    #[test]
    fn missing_fields_are_named_with_their_path() {
        assert_eq!(error::<CreateOrder>(json!({})), "`amount` is required");
        let message = error::<PaymentBody>(json!({
            "order_id": "order_x", "method": "card", "card": { "number": "4111" }
        }));
        assert_eq!(message, "`card.expiry_month` is required");
    }

    #[test]
    fn out_of_range_numbers_say_what_was_expected_without_the_number() {
        let message = error::<CreateOrder>(json!({ "amount": 18_446_744_073_709_551_615_u64 }));
        assert_eq!(
            message,
            "`amount` is out of range or invalid for an integer"
        );
        assert_eq!(
            error::<CreateOrder>(json!({ "amount": 1e20 })),
            "`amount` must be an integer, not a floating-point number"
        );
    }

    #[test]
    fn keys_that_are_not_field_names_are_not_repeated() {
        let message = error::<CreateOrder>(json!({ "amount": 1000, "notes": [] }));
        assert_eq!(message, "`notes` must be an object, not an array");
        assert_eq!(
            Segment::key("4111111111111111"),
            Segment::Key("*".to_owned())
        );
    }

    #[test]
    fn valid_bodies_read_as_serde_json_reads_them() {
        let body = json!({
            "amount": 50000, "currency": "INR", "receipt": null,
            "notes": { "a": [1, -2, 3.5, "x", null, true, { "b": {} }] }
        });
        let ours: CreateOrder = from_value(&body).unwrap();
        let theirs: CreateOrder = serde_json::from_value(body).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    }
}
