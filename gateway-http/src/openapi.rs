//! The API's OpenAPI 3.1 document, generated from the code.
//!
//! Each handler carries a `#[utoipa::path]` attribute and is mounted with utoipa-axum's
//! `routes!`, which registers the handler in the axum router *and* its operation in the document
//! from that one attribute; [`openapi`] and [`crate::router`] are both built from
//! `routes::routes()`. A route mounted any other way (a plain `.route(...)`) would be served
//! undocumented, which `tests/openapi.rs` catches by probing the router. This module holds what
//! the handlers share: the document's header, the security scheme, the error answers and the
//! common parameters.

use std::collections::BTreeMap;

use gateway_core::GatewayError;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, Modify, PartialSchema, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorDetail};

/// The API's OpenAPI document: every route of [`crate::router`] with its parameters, bodies,
/// answers and security.
pub fn openapi() -> OpenApi {
    let (_, mut doc) = crate::routes::routes().split_for_parts();
    mark_replayable_answers(&mut doc);
    doc
}

/// The header of the document; `routes::routes()` adds the paths and the schemas they use.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Payment Gateway API",
        description = "Orders, payments, refunds and webhooks.\n\n\
            Authenticate with the `X-Api-Key` and `X-Api-Secret` headers (both required). \
            POST requests accept an optional `Idempotency-Key` header: a retry with the same key \
            and request returns the original answer, marked `Idempotent-Replayed: true`.\n\n\
            Every error is answered as `{\"error\": {\"code\", \"description\"}}`; an unknown path \
            gets 404 `NOT_FOUND_ERROR` and a known path with another method 405 \
            `METHOD_NOT_ALLOWED_ERROR` (see `components/responses`)."
    ),
    tags(
        (name = "orders", description = "What a merchant wants to be paid."),
        (name = "payments", description = "Payments against orders, their capture and refunds."),
        (name = "refunds", description = "Refunds across payments."),
        (name = "webhooks", description = "Webhook deliveries, their retries, URL and secret."),
        (name = "events", description = "What happened, kept for 30 days by default: the \
            events behind webhook deliveries, with their exact signed payloads."),
        (name = "stats", description = "Aggregates for the dashboard: payments over time, success \
            rate, refunds, webhook health."),
        (name = "checkout", description = "What the hosted checkout page calls from the browser, \
            with the publishable key (`X-Api-Key`) alone; limited per key and client address."),
        (name = "system", description = "Health, readiness, job queue status and this document; \
            no authentication."),
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SharedComponents),
)]
pub(crate) struct ApiDoc;

/// The names under which the credentials appear in `components/securitySchemes`.
pub(crate) const API_KEY: &str = "api_key";
/// See [`API_KEY`].
pub(crate) const API_SECRET: &str = "api_secret";

/// Adds the security schemes and the reusable error answers to the document.
struct SharedComponents;

impl Modify for SharedComponents {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The merchant's public API key; sent together with `X-Api-Secret`.",
            ))),
        );
        components.add_security_scheme(
            API_SECRET,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Secret",
                "The merchant's API secret; sent together with `X-Api-Key`.",
            ))),
        );
        components.responses.extend(error_components());
    }
}

/// An error answer in `components/responses`, described by an example built with the same
/// constructor the API uses.
fn error_response(description: &str, example: &ApiError) -> RefOr<Response> {
    let example = serde_json::to_value(example.body()).unwrap_or_default();
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .example(Some(example))
                .build(),
        )
        .into()
}

/// Declares the error answers: a marker type per answer, usable in a handler's
/// `responses(...)`, and the table that puts them in `components/responses`. The status of
/// each comes from its example, i.e. from the mapping in [`crate::error`].
macro_rules! error_answers {
    ($($name:ident => $example:expr, $description:literal;)*) => {
        $(
            #[doc = $description]
            #[allow(dead_code, reason = "405 is the router's answer, named by no handler")]
            pub(crate) struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    let example: ApiError = $example;
                    BTreeMap::from([(
                        example.status.as_str().to_owned(),
                        Ref::from_response_name(stringify!($name)).into(),
                    )])
                }
            }
        )*

        fn error_components() -> Vec<(String, RefOr<Response>)> {
            vec![$((stringify!($name).to_owned(), error_response($description, &$example))),*]
        }

        /// Every error answer's name and status, for tests.
        #[cfg(test)]
        fn error_statuses() -> Vec<(&'static str, axum::http::StatusCode)> {
            vec![$((stringify!($name), $example.status)),*]
        }
    };
}

error_answers! {
    BadRequest => ApiError::from(GatewayError::bad_request("amount must be at least 100")),
        "The request is invalid (malformed JSON or query, a failed validation, a malformed \
        `Idempotency-Key`, or an operation the object's state does not allow); nothing changed. \
        `code` is `BAD_REQUEST_ERROR` or a specific one (`INVALID_VPA`, `INVALID_CARD`, \
        `EXPIRED_CARD`).";
    Unauthorized => ApiError::unauthenticated(),
        "`X-Api-Key` / `X-Api-Secret` missing or wrong.";
    NotFound => ApiError::from(GatewayError::NotFound("Order")),
        "No such object for this merchant (malformed ids included), or no such route.";
    MethodNotAllowed => ApiError::method_not_allowed(),
        "The path exists but not with this method. Answered by every path for methods it does \
        not list.";
    Conflict => ApiError::from(GatewayError::Conflict(
        "A request with this idempotency key is in progress".into(),
    )),
        "A request with the same `Idempotency-Key` is still running; retry later.";
    PayloadTooLarge => ApiError::payload_too_large(crate::MAX_BODY_BYTES),
        "The body is larger than 1 MiB.";
    KeyReused => ApiError::from(GatewayError::IdempotencyMismatch),
        "The `Idempotency-Key` was already used with a different request.";
    TooManyRequests => ApiError::too_many_requests(),
        "Too many requests for this publishable key from this address; `Retry-After` says when to retry.";
    Unavailable => ApiError::timeout(),
        "Storage is unreachable or the request timed out; retry later.";
}

/// The optional `Idempotency-Key` header of POST commands.
pub(crate) struct IdempotencyKeyHeader;

impl IntoParams for IdempotencyKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(gateway_core::idempotency::MAX_KEY_LEN))
            .pattern(Some("^[!-~]+$"));
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .schema(Some(schema))
                .description(Some(
                    "1–255 visible ASCII characters. The first request with a key runs and its \
                    answer is remembered for 24 hours; a retry with the same key and request \
                    gets that answer again (with `Idempotent-Replayed: true`), a different \
                    request with the same key gets 422.",
                ))
                .build(),
        ]
    }
}

/// The body of a command that takes no input: any JSON object, ignored; it may be empty.
pub(crate) struct IgnoredBody;

impl PartialSchema for IgnoredBody {
    fn schema() -> RefOr<utoipa::openapi::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Any JSON object; ignored. The body may also be empty.",
            ))
            .into()
    }
}

impl ToSchema for IgnoredBody {}

/// `?limit=&offset=` of every list.
pub(crate) struct PageParams;

impl IntoParams for PageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let integer = |min: i64, max: Option<i64>, default: i64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(min))
                .maximum(max)
                .default(Some(default.into()))
        };
        let query = |name: &str, schema: ObjectBuilder, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(schema))
                .description(Some(description))
                .build()
        };
        vec![
            query(
                "limit",
                integer(1, Some(100), 10),
                "At most this many items (1–100).",
            ),
            query("offset", integer(0, None, 0), "Skip this many items."),
        ]
    }
}

/// Every 2xx answer of an operation that takes an `Idempotency-Key` may be a replay: document
/// the `Idempotent-Replayed` header `routes::respond` adds to those.
fn mark_replayable_answers(doc: &mut OpenApi) {
    let header = || {
        let mut header = Header::new(bool::schema());
        header.description = Some(
            "`true` when this is the remembered answer to an earlier request with the same \
            `Idempotency-Key`; absent otherwise."
                .into(),
        );
        header
    };
    for item in doc.paths.paths.values_mut() {
        for operation in [&mut item.post, &mut item.put].into_iter().flatten() {
            let takes_key = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.name == "Idempotency-Key"));
            if !takes_key {
                continue;
            }
            for (status, response) in &mut operation.responses.responses {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response
                        .headers
                        .insert("Idempotent-Replayed".into(), RefOr::T(header()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_answer_has_its_own_status() {
        let statuses = error_statuses();
        let mut seen: Vec<_> = statuses.iter().map(|(_, s)| *s).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), statuses.len(), "{statuses:?}");
        assert!(statuses.contains(&(
            "MethodNotAllowed",
            axum::http::StatusCode::METHOD_NOT_ALLOWED
        )));
    }
}
