//! Hostile input across the whole API: generated requests for every route — any method, JSON of
//! any shape and depth, wrong types, huge numbers, unicode, missing, odd and duplicated headers,
//! odd paths and query strings — never get a 5xx, always get the JSON error shape when refused,
//! write nothing when refused, and leave the server healthy.
//!
//! Each case is a short sequence of requests against one app per backend (seeded runner, so a
//! failure replays). CI runs [`DEFAULT_CASES`] sequences per backend; `PROPTEST_CASES` raises it
//! (the long run: `PROPTEST_CASES=12500 cargo test --release -p tests --test hostile_input`,
//! 100,000 requests per backend).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use gateway_core::Store;
use gateway_core::ids::MerchantId;
use gateway_core::store::{OrderFilter, PageRequest, PaymentFilter};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};
use tests::{Backend, Credentials, TestApp};
use tower::ServiceExt;

/// Request sequences per backend unless `PROPTEST_CASES` asks for more.
const DEFAULT_CASES: u32 = 40;
/// Requests in one generated sequence.
const REQUESTS_PER_CASE: usize = 8;

/// Every route the router serves, with `{order}`, `{payment}`, `{refund}` and `{delivery}` where
/// an id goes, plus a few it does not serve.
const ROUTES: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/orders/{order}",
    "/api/v1/payments",
    "/api/v1/payments/{payment}",
    "/api/v1/payments/{payment}/capture",
    "/api/v1/payments/{payment}/refunds",
    "/api/v1/refunds",
    "/api/v1/refunds/{refund}",
    "/api/v1/stats",
    "/api/v1/test/jobs/status",
    "/api/v1/webhooks",
    "/api/v1/webhooks/config",
    "/api/v1/webhooks/secret/regenerate",
    "/api/v1/webhooks/test",
    "/api/v1/webhooks/{delivery}",
    "/api/v1/webhooks/{delivery}/retry",
    "/api/v1/checkout/orders/{order}",
    "/api/v1/checkout/payments",
    "/api/v1/checkout/payments/{payment}",
    "/api/v1/openapi.json",
    "/health",
    "/ready",
    "/docs/",
    "/checkout",
    "/dashboard/",
    "/api/v2/orders",
    "/api",
    "/",
];

/// Field names the API knows, so generated objects reach past the first type check.
const FIELDS: &[&str] = &[
    "amount",
    "currency",
    "receipt",
    "notes",
    "order_id",
    "method",
    "vpa",
    "card",
    "number",
    "expiry_month",
    "expiry_year",
    "cvv",
    "holder_name",
    "card_number",
    "card_expiry",
    "card_cvv",
    "card_holder_name",
    "reason",
    "webhook_url",
    "status",
    "limit",
    "offset",
];

/// Real objects the generated paths may point at.
struct World {
    app: TestApp,
    merchant: MerchantId,
    order: String,
    payment: String,
    refund: String,
    delivery: String,
    /// Another merchant's order: must answer 404, never leak.
    foreign_order: String,
}

/// One generated request.
#[derive(Debug, Clone)]
struct Hostile {
    method: Method,
    route: &'static str,
    id: IdChoice,
    suffix: &'static str,
    query: Vec<(String, String)>,
    auth: Auth,
    content_type: Option<&'static str>,
    idempotency_key: Option<Vec<u8>>,
    body: BodyChoice,
}

#[derive(Debug, Clone)]
enum IdChoice {
    Real,
    Foreign,
    Garbage(String),
}

#[derive(Debug, Clone, Copy)]
enum Auth {
    None,
    Valid,
    WrongSecret,
    KeyOnly,
    Duplicated,
    Huge,
}

#[derive(Debug, Clone)]
enum BodyChoice {
    Empty,
    Json(Value),
    Raw(Vec<u8>),
    Large(usize),
}

/// Any JSON value, up to four levels deep, objects mostly keyed by known fields.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![Just(0i64), Just(1), Just(100), Just(50_000), Just(-1)].prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
        "[0-9]{6,30}".prop_map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))),
        prop_oneof![
            Just("upi"),
            Just("card"),
            Just("INR"),
            Just("success@paytm"),
            Just("12/30"),
            Just("http://127.0.0.1:1/x")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(FIELDS).prop_map(str::to_owned),
                        "\\PC{0,10}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A path segment in place of an id: empty, long, unicode, dots, encoded slashes.
fn garbage_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.~-]{0,40}",
        Just("order_".to_owned() + &"A".repeat(300)),
        Just("..".to_owned()),
        Just("%2e%2e%2fhealth".to_owned()),
        Just("%00".to_owned()),
        Just("pay_%F0%9F%92%B3AAAAAAAAAAAA".to_owned()),
        Just("%FF%FE".to_owned()),
        "[0-9a-f-]{36}",
    ]
}

fn query_pair() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            prop::sample::select(
                &[
                    "limit",
                    "offset",
                    "status",
                    "range",
                    "currency",
                    "order_id",
                    "payment_id"
                ][..]
            )
            .prop_map(str::to_owned),
            "[a-z%0-9]{0,8}",
        ],
        prop_oneof![
            "-?[0-9]{1,25}",
            prop::sample::select(
                &[
                    "24h",
                    "30d",
                    "INR",
                    "USD",
                    "paid",
                    "success",
                    "",
                    "%00",
                    "%E2%82%B9",
                    "1e9",
                    "NaN"
                ][..]
            )
            .prop_map(str::to_owned),
            "[a-zA-Z0-9%]{0,20}",
        ],
    )
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let method = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ]);
    let id = prop_oneof![
        4 => Just(IdChoice::Real),
        1 => Just(IdChoice::Foreign),
        3 => garbage_id().prop_map(IdChoice::Garbage),
    ];
    let suffix = prop::sample::select(&["", "", "", "/", "//", "/extra", "?", "/.."][..]);
    let auth = prop::sample::select(vec![
        Auth::None,
        Auth::Valid,
        Auth::Valid,
        Auth::Valid,
        Auth::WrongSecret,
        Auth::KeyOnly,
        Auth::Duplicated,
        Auth::Huge,
    ]);
    let content_type = prop::sample::select(vec![
        Some("application/json"),
        Some("application/json"),
        None,
        Some("text/plain"),
        Some("application/json; charset=utf-16"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded"),
    ]);
    let key = prop::option::weighted(
        0.3,
        prop_oneof![
            "[!-~]{1,20}".prop_map(String::into_bytes),
            Just(vec![b'k'; 300]),
            prop::collection::vec(0x80u8..=0xff, 1..8),
        ],
    );
    let body = prop_oneof![
        1 => Just(BodyChoice::Empty),
        6 => json_value().prop_map(BodyChoice::Json),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(BodyChoice::Raw),
        1 => prop_oneof![Just(70_000usize), Just(2_000_000usize)].prop_map(BodyChoice::Large),
    ];
    (
        method,
        prop::sample::select(ROUTES),
        id,
        suffix,
        prop::collection::vec(query_pair(), 0..4),
        auth,
        content_type,
        key,
        body,
    )
        .prop_map(
            |(method, route, id, suffix, query, auth, content_type, idempotency_key, body)| {
                Hostile {
                    method,
                    route,
                    id,
                    suffix,
                    query,
                    auth,
                    content_type,
                    idempotency_key,
                    body,
                }
            },
        )
}

impl Hostile {
    fn uri(&self, world: &World) -> String {
        let id = match &self.id {
            IdChoice::Real => None,
            IdChoice::Foreign => Some(world.foreign_order.clone()),
            IdChoice::Garbage(g) => Some(g.clone()),
        };
        let fill = |real: &str| id.clone().unwrap_or_else(|| real.to_owned());
        let mut path = self
            .route
            .replace("{order}", &fill(&world.order))
            .replace("{payment}", &fill(&world.payment))
            .replace("{refund}", &fill(&world.refund))
            .replace("{delivery}", &fill(&world.delivery));
        path.push_str(self.suffix);
        if !self.query.is_empty() {
            let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&query.join("&"));
        }
        path
    }

    fn request(&self, world: &World) -> Option<Request<Body>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.uri(world));
        let valid = Credentials::test_merchant();
        match self.auth {
            Auth::None => {}
            Auth::Valid => {
                builder = builder
                    .header("x-api-key", &valid.key)
                    .header("x-api-secret", &valid.secret)
            }
            Auth::WrongSecret => {
                builder = builder
                    .header("x-api-key", &valid.key)
                    .header("x-api-secret", "secret_wrong")
            }
            Auth::KeyOnly => builder = builder.header("x-api-key", &valid.key),
            Auth::Duplicated => {
                builder = builder
                    .header("x-api-key", &valid.key)
                    .header("x-api-key", "key_other")
                    .header("x-api-secret", &valid.secret)
                    .header("x-api-secret", &valid.secret)
            }
            Auth::Huge => {
                builder = builder
                    .header("x-api-key", "k".repeat(8_000))
                    .header("x-api-secret", "s".repeat(8_000))
            }
        }
        if let Some(content_type) = self.content_type {
            builder = builder.header("content-type", content_type);
        }
        if let Some(key) = &self.idempotency_key {
            builder = builder.header("idempotency-key", HeaderValue::from_bytes(key).ok()?);
        }
        let body = match &self.body {
            BodyChoice::Empty => Vec::new(),
            BodyChoice::Json(value) => value.to_string().into_bytes(),
            BodyChoice::Raw(bytes) => bytes.clone(),
            BodyChoice::Large(size) => {
                format!("{{\"receipt\":\"{}\"}}", "x".repeat(*size)).into_bytes()
            }
        };
        builder.body(Body::from(body)).ok()
    }
}

/// What a refused request must not change: every list's size for both merchants, the job
/// counts and the webhook settings.
async fn fingerprint(store: &Arc<dyn Store>, merchants: &[MerchantId]) -> Vec<String> {
    let page = PageRequest {
        limit: 1,
        offset: 0,
    };
    let mut state = vec![format!(
        "{:?}",
        store.clone().job_queue().job_counts().await.unwrap()
    )];
    for &merchant in merchants {
        state.push(
            store
                .list_orders(merchant, &OrderFilter::default(), page)
                .await
                .unwrap()
                .total
                .to_string(),
        );
        state.push(
            store
                .list_payments(merchant, &PaymentFilter::default(), page)
                .await
                .unwrap()
                .total
                .to_string(),
        );
        state.push(
            store
                .list_refunds(merchant, None, page)
                .await
                .unwrap()
                .total
                .to_string(),
        );
        state.push(
            store
                .list_deliveries(merchant, page)
                .await
                .unwrap()
                .total
                .to_string(),
        );
        state.push(format!(
            "{:?}",
            store.webhook_config(merchant).await.unwrap()
        ));
    }
    state
}

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn_on(backend).await;
    app.set_webhook_url("http://127.0.0.1:9/hook").await;
    let payment = app.successful_payment(50_000).await;
    let order = app.get(&format!("/api/v1/payments/{payment}")).await.json["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refund = app
        .post(
            &format!("/api/v1/payments/{payment}/refunds"),
            json!({ "amount": 100 }),
        )
        .await
        .id();
    let delivery = app.deliveries().await[0]["id"].as_str().unwrap().to_owned();
    let other = app.create_merchant("other@example.com").await;
    let foreign_order = app
        .post_as(&other, "/api/v1/orders", json!({ "amount": 1000 }))
        .await
        .id();
    let merchant = gateway_core::merchant::test_merchant::ID;
    World {
        app,
        merchant,
        order,
        payment,
        refund,
        delivery,
        foreign_order,
    }
}

async fn check(
    world: &World,
    others: &[MerchantId],
    request: &Hostile,
) -> Result<(), TestCaseError> {
    let Some(http) = request.request(world) else {
        return Ok(());
    };
    let before = fingerprint(&world.app.store, others).await;
    let response = world.app.router.clone().oneshot(http).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    prop_assert!(
        !status.is_server_error(),
        "{status} for {request:?}: {text}"
    );
    if status.is_client_error() {
        if request.method != Method::HEAD {
            let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
                TestCaseError::fail(format!("{status} not JSON ({e}) for {request:?}: {text}"))
            })?;
            prop_assert!(
                body["error"]["code"].is_string() && body["error"]["description"].is_string(),
                "{status} without the error shape for {request:?}: {text}"
            );
        }
        let after = fingerprint(&world.app.store, others).await;
        prop_assert_eq!(
            before,
            after,
            "a refused request ({}) wrote: {:?}",
            status,
            request
        );
    }
    Ok(())
}

fn run_on(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(world(backend));
    let other = runtime
        .block_on(world.app.store.list_merchants())
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect::<Vec<_>>();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = prop::collection::vec(hostile(), REQUESTS_PER_CASE);
    runner
        .run(&strategy, |requests| {
            runtime.block_on(async {
                for request in &requests {
                    check(&world, &other, request).await?;
                }
                // Still healthy, and still taking work.
                prop_assert_eq!(world.app.get("/health").await.status, StatusCode::OK);
                let order = world
                    .app
                    .post("/api/v1/orders", json!({ "amount": 1000 }))
                    .await;
                prop_assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
                Ok(())
            })
        })
        .unwrap();
    let _ = world.merchant;
}

#[test]
fn hostile_requests_never_reach_a_500_on_sqlite() {
    run_on(Backend::Sqlite);
}

#[test]
fn hostile_requests_never_reach_a_500_on_postgres() {
    run_on(Backend::Postgres);
}
