//! `TestApp`: the real router over a real database (a fresh SQLite file or a fresh PostgreSQL
//! database), with a manual clock, a seeded bank and a worker driven step by step, plus one
//! helper per endpoint so tests read as sentences. [`conformance!`] runs a test on both backends;
//! [`storage_free!`] runs a test that touches no storage once.

pub mod signing;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use gateway_core::instrument::InstrumentVerdict;
use gateway_core::merchant::{SecretHasher, test_merchant};
use gateway_core::payment::{Payment, PaymentMethod, PaymentOutcome};
use gateway_core::refund::Refund;
use gateway_core::transport::ReqwestTransport;
use gateway_core::webhook::RetrySchedule;
use gateway_core::{
    BuiltGateway, Clock, GatewayBuilder, JobQueue, ManualClock, Processor, ProcessorError,
    SimulatedBank, SimulationConfig, Store, Timestamp, WebhookSigner, Worker, WorkerConfig,
};
use gateway_http::AppState;
use gateway_http::rate_limit::CheckoutLimiter;
pub use gateway_store::testing::Backend;
use gateway_store::testing::TestDatabase;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The pepper every test app hashes secrets with.
pub const TEST_PEPPER: &str = "tests-pepper-0123456789";
/// 2024-01-15T10:30:00Z, where every test clock starts.
pub const START: Timestamp = Timestamp::from_millis(1_705_314_600_000);

/// API credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `X-Api-Key`.
    pub key: String,
    /// `X-Api-Secret`.
    pub secret: String,
}

impl Credentials {
    /// The reference's seeded test merchant.
    pub fn test_merchant() -> Self {
        Self {
            key: test_merchant::API_KEY.into(),
            secret: test_merchant::API_SECRET.into(),
        }
    }
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Parsed body (`Value::Null` if not JSON).
    pub json: Value,
    /// Raw body text.
    pub text: String,
}

impl TestResponse {
    /// The `id` field of the body.
    pub fn id(&self) -> String {
        self.json["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}: {}", self.status, self.text))
            .to_owned()
    }

    /// The error code of an error body.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

/// Knobs for a test app.
#[derive(Clone)]
pub struct TestOptions {
    /// The simulated bank's settings (test mode with no delay by default).
    pub simulation: SimulationConfig,
    /// The webhook retry schedule.
    pub retry_schedule: RetrySchedule,
    /// Per-attempt webhook timeout.
    pub delivery_timeout: Duration,
    /// How long an endpoint may fail without a success before it is disabled.
    pub endpoint_disable_after: Duration,
    /// Webhook attempts in flight to one URL at once.
    pub max_in_flight_per_endpoint: usize,
    /// The browser endpoints' limit per publishable key and client address.
    pub checkout_requests_per_minute: u32,
    /// A refund reason the bank declines: a refund given exactly this reason ends `failed`
    /// (the simulated bank itself processes every refund). `None` by default.
    pub declined_refund_reason: Option<String>,
    /// What signs webhooks and checkout results ([`gateway_core::HmacSigner`] if `None`).
    pub signer: Option<Arc<dyn WebhookSigner>>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            simulation: SimulationConfig {
                test_mode: true,
                test_delay: Duration::ZERO,
                test_success: true,
                ..SimulationConfig::default()
            },
            retry_schedule: RetrySchedule::production(),
            delivery_timeout: Duration::from_secs(2),
            endpoint_disable_after: WorkerConfig::default().endpoint_disable_after,
            max_in_flight_per_endpoint: WorkerConfig::default().max_in_flight_per_endpoint,
            checkout_requests_per_minute: gateway_http::CHECKOUT_REQUESTS_PER_MINUTE,
            declined_refund_reason: None,
            signer: None,
        }
    }
}

/// The seeded simulated bank, which also declines refunds given
/// [`TestOptions::declined_refund_reason`], so tests can make a refund fail on purpose.
#[derive(Debug)]
pub struct TestBank {
    bank: SimulatedBank,
    declined_refund_reason: Option<String>,
}

#[async_trait]
impl Processor for TestBank {
    fn payment_delay(&self, method: PaymentMethod) -> Duration {
        self.bank.payment_delay(method)
    }

    fn refund_delay(&self) -> Duration {
        self.bank.refund_delay()
    }

    async fn decide_payment(
        &self,
        payment: &Payment,
        verdict: Option<InstrumentVerdict>,
    ) -> Result<PaymentOutcome, ProcessorError> {
        Ok(self.bank.outcome(payment, verdict))
    }

    fn name(&self) -> &'static str {
        self.bank.name()
    }

    async fn decide_refund(&self, refund: &Refund) -> Result<bool, ProcessorError> {
        let declined = self
            .declined_refund_reason
            .as_ref()
            .is_some_and(|reason| refund.reason.as_ref() == Some(reason));
        Ok(!declined && self.bank.decide_refund(refund).await?)
    }
}

/// A gateway on a temporary SQLite file.
pub struct TestApp {
    /// The HTTP API.
    pub router: Router,
    /// The API's shutting-down flag (see [`AppState::shutting_down`]).
    pub shutting_down: Arc<AtomicBool>,
    /// The store under it.
    pub store: Arc<dyn Store>,
    /// The queue its workers take jobs from (the store's own).
    pub queue: Arc<dyn JobQueue>,
    /// The clock every component reads.
    pub clock: Arc<ManualClock>,
    /// A worker sharing the clock; run it with [`TestApp::run_jobs`].
    pub worker: Arc<Worker>,
    /// The database (dropped with the app).
    pub database: TestDatabase,
    options: TestOptions,
    /// The wiring every worker of this app is made from.
    built: BuiltGateway,
}

impl TestApp {
    /// A test app on `backend` with default options.
    pub async fn spawn_on(backend: Backend) -> Self {
        Self::with_options_on(backend, TestOptions::default()).await
    }

    /// A test app on `backend` with `options`.
    pub async fn with_options_on(backend: Backend, options: TestOptions) -> Self {
        let database = TestDatabase::create(backend).await;
        let store = gateway_store::open(&database.url)
            .await
            .expect("open store");
        let clock = Arc::new(ManualClock::new(START));
        let hasher = SecretHasher::new(TEST_PEPPER);
        store
            .upsert_merchant(&hasher.test_merchant(START))
            .await
            .expect("seed test merchant");
        let bank = Arc::new(TestBank {
            bank: SimulatedBank::seeded(options.simulation.clone(), 7),
            declined_refund_reason: options.declined_refund_reason.clone(),
        });
        let mut builder = GatewayBuilder::new(store.clone());
        if let Some(signer) = &options.signer {
            builder = builder.signer(signer.clone());
        }
        let built = builder
            .pepper(TEST_PEPPER)
            .processor(bank)
            .clock(clock.clone())
            .transport(Arc::new(ReqwestTransport::new(true).expect("http client")))
            .build()
            .expect("wire the gateway");
        let state = AppState {
            checkout_limiter: Arc::new(CheckoutLimiter::per_minute(
                options.checkout_requests_per_minute,
            )),
            ..AppState::new(built.gateway())
        };
        let shutting_down = state.shutting_down.clone();
        let router = gateway_http::router(state);
        let worker = Arc::new(Self::make_worker(&built, &options, "worker-a"));
        Self {
            router,
            shutting_down,
            queue: built.queue(),
            store,
            clock,
            worker,
            database,
            options,
            built,
        }
    }

    fn make_worker(built: &BuiltGateway, options: &TestOptions, id: &str) -> Worker {
        let config = WorkerConfig {
            id: id.into(),
            retry_schedule: options.retry_schedule.clone(),
            delivery_timeout: options.delivery_timeout,
            endpoint_disable_after: options.endpoint_disable_after,
            max_in_flight_per_endpoint: options.max_in_flight_per_endpoint,
            ..WorkerConfig::default()
        };
        built.worker(config).with_seed(11)
    }

    /// Everything the database holds on disk, as bytes: the SQLite file with its WAL, or a
    /// `pg_dump` of the PostgreSQL database. For scanning for data that must never be stored.
    pub fn stored_bytes(&self) -> Vec<u8> {
        match self.database.sqlite_path() {
            Some(path) => ["", "-wal", "-shm"]
                .iter()
                .filter_map(|suffix| std::fs::read(format!("{}{suffix}", path.display())).ok())
                .flatten()
                .collect(),
            None => {
                let dump = std::process::Command::new("pg_dump")
                    .arg(&self.database.url)
                    .output()
                    .expect("pg_dump runs");
                assert!(
                    dump.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&dump.stderr)
                );
                dump.stdout
            }
        }
    }

    /// Another worker on the same store and clock (for crash tests).
    pub fn another_worker(&self, id: &str) -> Arc<Worker> {
        Arc::new(Self::make_worker(&self.built, &self.options, id))
    }

    /// Runs batches of due jobs until none is due; returns how many ran.
    pub async fn run_jobs(&self) -> usize {
        let mut total = 0;
        loop {
            let ran = self.worker.clone().run_once().await;
            if ran == 0 {
                return total;
            }
            total += ran;
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The current test time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Sends a request with raw bytes as the body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        credentials: Option<&Credentials>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> TestResponse {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(c) = credentials {
            builder = builder
                .header("x-api-key", &c.key)
                .header("x-api-secret", &c.secret);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(builder.body(Body::from(body)).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            json,
            text,
        }
    }

    /// GET as the test merchant.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.get_as(&Credentials::test_merchant(), path).await
    }

    /// GET as `credentials`.
    pub async fn get_as(&self, credentials: &Credentials, path: &str) -> TestResponse {
        self.send(Method::GET, path, Some(credentials), &[], Vec::new())
            .await
    }

    /// POST JSON as the test merchant.
    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.post_as(&Credentials::test_merchant(), path, body)
            .await
    }

    /// POST JSON as `credentials`.
    pub async fn post_as(
        &self,
        credentials: &Credentials,
        path: &str,
        body: Value,
    ) -> TestResponse {
        self.send(
            Method::POST,
            path,
            Some(credentials),
            &[],
            body.to_string().into_bytes(),
        )
        .await
    }

    /// POST JSON as the test merchant with an `Idempotency-Key`.
    pub async fn post_idempotent(&self, path: &str, key: &str, body: Value) -> TestResponse {
        self.send(
            Method::POST,
            path,
            Some(&Credentials::test_merchant()),
            &[("idempotency-key", key)],
            body.to_string().into_bytes(),
        )
        .await
    }

    /// PUT JSON as the test merchant.
    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.send(
            Method::PUT,
            path,
            Some(&Credentials::test_merchant()),
            &[],
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Creates a merchant and returns its credentials.
    pub async fn create_merchant(&self, email: &str) -> Credentials {
        let (row, issued) =
            SecretHasher::new(TEST_PEPPER).issue(email, "Other Merchant", self.now());
        self.store
            .insert_merchant(&row)
            .await
            .expect("insert merchant");
        Credentials {
            key: issued.api_key,
            secret: issued.api_secret,
        }
    }

    /// Creates an order for `amount` and returns its id.
    pub async fn create_order(&self, amount: i64) -> String {
        let response = self
            .post(
                "/api/v1/orders",
                json!({ "amount": amount, "currency": "INR", "receipt": "r1" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.id()
    }

    /// Creates a UPI payment of `order` with `vpa` and returns its id.
    pub async fn create_upi_payment(&self, order: &str, vpa: &str) -> String {
        let response = self
            .post(
                "/api/v1/payments",
                json!({ "order_id": order, "method": "upi", "vpa": vpa }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.id()
    }

    /// An order of `amount` paid by `success@paytm`, settled: returns the payment id.
    pub async fn successful_payment(&self, amount: i64) -> String {
        let order = self.create_order(amount).await;
        let payment = self.create_upi_payment(&order, "success@paytm").await;
        self.run_jobs().await;
        assert_eq!(
            self.get(&format!("/api/v1/payments/{payment}")).await.json["status"],
            "success"
        );
        payment
    }

    /// Points the test merchant's webhooks at `url`.
    pub async fn set_webhook_url(&self, url: &str) {
        let response = self
            .put("/api/v1/webhooks/config", json!({ "webhook_url": url }))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    }

    /// Every delivery of the test merchant, newest first.
    pub async fn deliveries(&self) -> Vec<Value> {
        let response = self.get("/api/v1/webhooks?limit=100").await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        response.json["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Job counts from the status endpoint.
    pub async fn job_status(&self) -> Value {
        self.send(
            Method::GET,
            "/api/v1/test/jobs/status",
            None,
            &[],
            Vec::new(),
        )
        .await
        .json
    }
}

/// Runs each `async fn name(backend: Backend) { … }` once on SQLite and once on PostgreSQL, as
/// the tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! conformance {
    ($($(#[$attr:meta])* async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            $(#[$attr])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($backend: $crate::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    run($crate::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    run($crate::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Runs each `async fn name(backend: Backend) { … }` once, on SQLite, as the test `name`: for
/// tests that touch no storage (routing, static assets, headers), which the store cannot change.
#[macro_export]
macro_rules! storage_free {
    ($($(#[$attr:meta])* async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let $backend = $crate::Backend::Sqlite;
                $body
            }
        )*
    };
}
