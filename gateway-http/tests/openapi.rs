//! The OpenAPI document against the router it describes.
//!
//! The router and the document are generated together (utoipa-axum's `routes!`), but nothing
//! stops someone from mounting a plain axum route next to them. So these tests do not trust the
//! generation: they list the paths the real [`gateway_http::router`] has registered, probe each
//! with every method, and require the set of served `(method, path)` pairs to equal the set of
//! documented operations. They also check that each documented security requirement is what the
//! route enforces, that every status a route answers with is documented, and that `/docs` is a
//! self-contained page.
//!
//! The gateway behind the router is a stub: it knows one pair of credentials and answers every
//! other call with "storage unavailable", which is enough to drive every route's real code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use gateway_core::endpoint::{
    CreateEndpoint, EndpointWithSecret, RotatedEndpointSecret, UpdateEndpoint, WebhookEndpoint,
};
use gateway_core::endpoint_health::{RecoverEndpoint, Recovering};
use gateway_core::event::RecordedEvent;
use gateway_core::gateway::{
    CapturePayment, CheckoutOrder, CheckoutPayment, CreateOrder, CreatePayment, CreateRefund,
    DatabaseState, Health, HealthStatus, ListEvents, PublicMerchant, QueueState, RotatedSecret,
    UpdateWebhookConfig, WorkerState,
};
use gateway_core::ids::{
    DeliveryId, EndpointId, EventId, MerchantId, OrderId, PaymentId, RefundId,
};
use gateway_core::jobs::JobStats;
use gateway_core::merchant::test_merchant;
use gateway_core::money::Currency;
use gateway_core::order::Order;
use gateway_core::payment::Payment;
use gateway_core::refund::Refund;
use gateway_core::resend::{ResendEvent, Resent};
use gateway_core::stats::{PaymentStats, StatsRange};
use gateway_core::store::{DeliveryFilter, OrderFilter, Page, PageRequest, PaymentFilter};
use gateway_core::webhook::{DeliveryDetail, DeliveryScheduled, WebhookConfig, WebhookDelivery};
use gateway_core::{Gateway, GatewayError, IdempotencyKey, Idempotent};
use gateway_http::AppState;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Routes that serve pages and their files (Swagger UI, the checkout page and the SDK): the only
/// ones allowed outside the document.
const VIEWER_ROUTES: &[&str] = &[
    "/docs",
    "/docs/",
    "/docs/{*rest}",
    "/checkout",
    "/checkout/checkout.js",
    "/checkout/checkout.css",
    "/checkout.js",
    "/dashboard",
];

/// Prefixes of viewer routes whose files change with the pages (the dashboard's assets).
const VIEWER_PREFIXES: &[&str] = &["/dashboard/"];

/// Every method a route could be given. HEAD is implied by GET (in axum and in OpenAPI), and
/// OPTIONS is answered on every path, known or not, by the CORS layer.
const METHODS: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::TRACE,
];

const KEY: &str = "key_stub";
const SECRET: &str = "secret_stub";

/// A gateway that authenticates one merchant and is otherwise unavailable.
struct Unavailable;

type Result<T> = std::result::Result<T, GatewayError>;

#[async_trait]
impl Gateway for Unavailable {
    async fn authenticate(&self, key: &str, secret: &str) -> Result<MerchantId> {
        if key == KEY && secret == SECRET {
            Ok(test_merchant::ID)
        } else {
            Err(GatewayError::Authentication)
        }
    }
    async fn create_order_with_key(
        &self,
        _: MerchantId,
        _: CreateOrder,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Order>> {
        Err(GatewayError::Unavailable)
    }
    async fn get_order(&self, _: MerchantId, _: &OrderId) -> Result<Order> {
        Err(GatewayError::Unavailable)
    }
    async fn list_orders(
        &self,
        _: MerchantId,
        _: OrderFilter,
        _: PageRequest,
    ) -> Result<Page<Order>> {
        Err(GatewayError::Unavailable)
    }
    async fn create_payment_with_key(
        &self,
        _: MerchantId,
        _: CreatePayment,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Payment>> {
        Err(GatewayError::Unavailable)
    }
    async fn get_payment(&self, _: MerchantId, _: &PaymentId) -> Result<Payment> {
        Err(GatewayError::Unavailable)
    }
    async fn list_payments(
        &self,
        _: MerchantId,
        _: PaymentFilter,
        _: PageRequest,
    ) -> Result<Page<Payment>> {
        Err(GatewayError::Unavailable)
    }
    async fn capture_payment_with_key(
        &self,
        _: MerchantId,
        _: &PaymentId,
        _: CapturePayment,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Payment>> {
        Err(GatewayError::Unavailable)
    }
    async fn create_refund_with_key(
        &self,
        _: MerchantId,
        _: &PaymentId,
        _: CreateRefund,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Refund>> {
        Err(GatewayError::Unavailable)
    }
    async fn get_refund(&self, _: MerchantId, _: &RefundId) -> Result<Refund> {
        Err(GatewayError::Unavailable)
    }
    async fn list_refunds(
        &self,
        _: MerchantId,
        _: Option<&PaymentId>,
        _: PageRequest,
    ) -> Result<Page<Refund>> {
        Err(GatewayError::Unavailable)
    }
    async fn webhook_config(&self, _: MerchantId) -> Result<WebhookConfig> {
        Err(GatewayError::Unavailable)
    }
    async fn update_webhook_config(
        &self,
        _: MerchantId,
        _: UpdateWebhookConfig,
    ) -> Result<WebhookConfig> {
        Err(GatewayError::Unavailable)
    }
    async fn rotate_webhook_secret_with_key(
        &self,
        _: MerchantId,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<RotatedSecret>> {
        Err(GatewayError::Unavailable)
    }
    async fn list_deliveries(
        &self,
        _: MerchantId,
        _: DeliveryFilter,
        _: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        Err(GatewayError::Unavailable)
    }
    async fn get_delivery(&self, _: MerchantId, _: DeliveryId) -> Result<DeliveryDetail> {
        Err(GatewayError::Unavailable)
    }
    async fn retry_delivery_with_key(
        &self,
        _: MerchantId,
        _: DeliveryId,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<DeliveryScheduled>> {
        Err(GatewayError::Unavailable)
    }
    async fn send_test_webhook_with_key(
        &self,
        _: MerchantId,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<DeliveryScheduled>> {
        Err(GatewayError::Unavailable)
    }
    async fn create_endpoint_with_key(
        &self,
        _: MerchantId,
        _: CreateEndpoint,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<EndpointWithSecret>> {
        Err(GatewayError::Unavailable)
    }
    async fn list_events(
        &self,
        _: MerchantId,
        _: ListEvents,
        _: PageRequest,
    ) -> Result<Page<RecordedEvent>> {
        Err(GatewayError::Unavailable)
    }
    async fn get_event(&self, _: MerchantId, _: &EventId) -> Result<RecordedEvent> {
        Err(GatewayError::Unavailable)
    }
    async fn resend_event_with_key(
        &self,
        _: MerchantId,
        _: &EventId,
        _: ResendEvent,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Resent>> {
        Err(GatewayError::Unavailable)
    }
    async fn list_endpoints(&self, _: MerchantId, _: PageRequest) -> Result<Page<WebhookEndpoint>> {
        Err(GatewayError::Unavailable)
    }
    async fn get_endpoint(&self, _: MerchantId, _: &EndpointId) -> Result<WebhookEndpoint> {
        Err(GatewayError::Unavailable)
    }
    async fn update_endpoint(
        &self,
        _: MerchantId,
        _: &EndpointId,
        _: UpdateEndpoint,
    ) -> Result<WebhookEndpoint> {
        Err(GatewayError::Unavailable)
    }
    async fn delete_endpoint(&self, _: MerchantId, _: &EndpointId) -> Result<()> {
        Err(GatewayError::Unavailable)
    }
    async fn rotate_endpoint_secret_with_key(
        &self,
        _: MerchantId,
        _: &EndpointId,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<RotatedEndpointSecret>> {
        Err(GatewayError::Unavailable)
    }
    async fn recover_endpoint_with_key(
        &self,
        _: MerchantId,
        _: &EndpointId,
        _: RecoverEndpoint,
        _: Option<IdempotencyKey>,
    ) -> Result<Idempotent<Recovering>> {
        Err(GatewayError::Unavailable)
    }
    async fn payment_stats(
        &self,
        _: MerchantId,
        _: StatsRange,
        _: Currency,
    ) -> Result<PaymentStats> {
        Err(GatewayError::Unavailable)
    }
    async fn job_stats(&self) -> Result<JobStats> {
        Err(GatewayError::Unavailable)
    }
    async fn health(&self) -> Health {
        Health {
            status: HealthStatus::Unhealthy,
            database: DatabaseState::Disconnected,
            reason: Some("the database does not answer".into()),
            worker: WorkerState::Stopped,
            queue: QueueState::Disconnected,
            processor: "simulated",
            timestamp: "2024-01-15T10:30:00Z".into(),
        }
    }
    async fn publishable_key(&self, key: &str) -> Result<PublicMerchant> {
        if key == KEY {
            Ok(PublicMerchant {
                id: test_merchant::ID,
                name: "Stub".into(),
            })
        } else {
            Err(GatewayError::Authentication)
        }
    }
    async fn checkout_order(&self, _: &PublicMerchant, _: &OrderId) -> Result<CheckoutOrder> {
        Err(GatewayError::Unavailable)
    }
    async fn checkout_payment(&self, _: MerchantId, _: &PaymentId) -> Result<CheckoutPayment> {
        Err(GatewayError::Unavailable)
    }
}

fn app() -> Router {
    gateway_http::router(AppState::new(Arc::new(Unavailable)))
}

struct Answer {
    status: StatusCode,
    content_type: String,
    location: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The router's own 405, as opposed to anything a handler could say.
    fn is_method_not_allowed(&self) -> bool {
        self.status == StatusCode::METHOD_NOT_ALLOWED
            && self.json()["error"]["code"] == "METHOD_NOT_ALLOWED_ERROR"
    }
}

async fn call(method: Method, path: &str, credentials: bool) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if credentials {
        request = request
            .header("x-api-key", KEY)
            .header("x-api-secret", SECRET);
    }
    let response = app()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
    let location = header(header::LOCATION);
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        location,
        body,
    }
}

async fn get(path: &str) -> Answer {
    call(Method::GET, path, false).await
}

/// The document as the API serves it.
async fn document() -> Value {
    let answer = get("/api/v1/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type.starts_with("application/json"));
    answer.json()
}

/// `(METHOD, path)` of every documented operation, with the operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if METHODS
                .iter()
                .any(|m| m.as_str().eq_ignore_ascii_case(method))
            {
                operations.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    operations
}

/// Every path the router has registered, read from its `Debug` output (axum offers no other
/// way to list them): the `path_router` part, not the fallback's. Fails loudly, via the
/// equality checks below, if that format changes.
fn registered_paths(router: &Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let start = debug.find("path_router:").expect("a path router");
    let end = debug.find("fallback_router:").expect("a fallback router");
    let mut paths = BTreeSet::new();
    let mut rest = &debug[start..end];
    while let Some(start) = rest.find("): \"/") {
        let tail = &rest[start + 4..];
        let end = tail.find('"').expect("closing quote");
        let path = &tail[..end];
        if !path.contains("__private__axum") {
            paths.insert(path.to_owned());
        }
        rest = &tail[end..];
    }
    paths
}

/// A concrete URL for a templated path.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_served_unauthenticated() {
    let doc = document().await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi = {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(
        doc,
        serde_json::to_value(gateway_http::openapi()).expect("serializes"),
        "the served document is the one `openapi()` builds"
    );
}

#[tokio::test]
async fn every_reference_resolves_and_operation_ids_are_unique() {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document().await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
    let ids: Vec<_> = operations(&doc)
        .values()
        .map(|op| op["operationId"].as_str().expect("operationId").to_owned())
        .collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let doc = document().await;
    let documented: BTreeSet<_> = operations(&doc).into_keys().collect();

    let paths = registered_paths(&app());
    let mut served = BTreeSet::new();
    for path in &paths {
        if VIEWER_ROUTES.contains(&path.as_str())
            || VIEWER_PREFIXES.iter().any(|p| path.starts_with(p))
        {
            continue;
        }
        for method in METHODS {
            if !call(method.clone(), &concrete(path), false)
                .await
                .is_method_not_allowed()
            {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }

    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented operations the router does not serve: {unserved:?}"
    );
    for viewer in VIEWER_ROUTES {
        assert!(paths.contains(*viewer), "{viewer} is not routed: {paths:?}");
    }
}

#[tokio::test]
async fn security_is_documented_exactly_where_credentials_are_required() {
    let doc = document().await;
    let schemes = &doc["components"]["securitySchemes"];
    for (name, header) in [("api_key", "X-Api-Key"), ("api_secret", "X-Api-Secret")] {
        assert_eq!(schemes[name]["type"], "apiKey");
        assert_eq!(schemes[name]["in"], "header");
        assert_eq!(schemes[name]["name"], header);
    }
    let public: BTreeSet<_> = [
        "/health",
        "/ready",
        "/api/v1/test/jobs/status",
        "/api/v1/openapi.json",
    ]
    .into_iter()
    .collect();

    for ((method, path), operation) in operations(&doc) {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let answer = call(method.clone(), &concrete(&path), false).await;
        let secured = operation.get("security").is_some();
        if public.contains(path.as_str()) {
            assert!(!secured, "{method} {path} should not require credentials");
            assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else if path.starts_with("/api/v1/checkout/") {
            assert_eq!(
                operation["security"],
                serde_json::json!([{"api_key": []}]),
                "{method} {path}: the browser endpoints take the publishable key alone"
            );
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else {
            assert_eq!(
                operation["security"],
                serde_json::json!([{"api_key": [], "api_secret": []}]),
                "{method} {path} must require both headers together"
            );
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(answer.json()["error"]["code"], "AUTHENTICATION_ERROR");
        }
        if method == Method::POST {
            let takes_key = operation["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            });
            assert!(takes_key, "{method} {path} documents no Idempotency-Key");
        }
    }
}

#[tokio::test]
async fn every_status_a_route_answers_with_is_documented() {
    let doc = document().await;
    for ((method, path), operation) in operations(&doc) {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        for credentials in [false, true] {
            let answer = call(method.clone(), &concrete(&path), credentials).await;
            let status = answer.status.as_str().to_owned();
            assert!(
                operation["responses"].get(&status).is_some(),
                "{method} {path} answered {status} (credentials: {credentials}), \
                 which is not documented: {}",
                answer.text()
            );
        }
        let created = operation["responses"].get("201").is_some();
        assert_eq!(
            created,
            method == Method::POST && path.ends_with('s'),
            "{method} {path}: 201 for creates, 200 otherwise"
        );
    }
}

#[tokio::test]
async fn docs_serve_swagger_ui_from_this_origin_only() {
    let redirect = get("/docs").await;
    assert!(redirect.status.is_redirection(), "{}", redirect.status);
    assert_eq!(redirect.location.as_deref(), Some("/docs/"));

    let page = get("/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let html = page.text();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names another host: {html}"
    );

    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let value = &html[at + attribute.len()..];
            let value = &value[..value.find('"').expect("closing quote")];
            assets.push(value.to_owned());
        }
    }
    assert!(!assets.is_empty(), "{html}");
    for asset in &assets {
        assert!(
            !asset.starts_with("//") && !asset.contains("://"),
            "{asset} is not same-origin"
        );
        let url = match asset.strip_prefix("./") {
            Some(relative) => format!("/docs/{relative}"),
            None if asset.starts_with('/') => asset.clone(),
            None => format!("/docs/{asset}"),
        };
        assert_eq!(get(&url).await.status, StatusCode::OK, "{url}");
    }

    let initializer = get("/docs/swagger-initializer.js").await.text();
    assert!(
        initializer.contains("\"/api/v1/openapi.json\""),
        "{initializer}"
    );
    assert!(
        !initializer.contains("http://") && !initializer.contains("https://"),
        "the viewer is configured to call another host: {initializer}"
    );
}

/// The properties a request body schema documents, through `$ref`s and `allOf`.
fn body_properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return body_properties(doc, &doc["components"]["schemas"][name]);
    }
    let mut found: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        found.extend(body_properties(doc, part));
    }
    found
}

#[tokio::test]
async fn both_payment_routes_document_the_nested_card_and_the_flat_card_fields() {
    let doc = document().await;
    let operations = operations(&doc);
    for path in ["/api/v1/payments", "/api/v1/checkout/payments"] {
        let operation = &operations[&("POST".to_owned(), path.to_owned())];
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        let properties = body_properties(&doc, schema);
        for field in [
            "order_id",
            "method",
            "vpa",
            "card",
            "card_number",
            "card_expiry",
            "card_cvv",
            "card_holder_name",
        ] {
            assert!(
                properties.contains(field),
                "{path} does not document {field}: {properties:?}"
            );
        }
    }
}
