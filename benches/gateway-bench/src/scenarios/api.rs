//! `api`: closed-loop load on `POST /api/v1/orders`, `POST /api/v1/payments` (each on a fresh
//! order, created beforehand outside the measurement) and `GET /api/v1/payments/{id}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::Plan;
use super::limit::LimitStep;
use crate::gateway::Gateway;
use crate::http::{self, Credentials};
use crate::load::{self, Latency, Work};
use crate::monitor::{Monitor, Resources};

/// One endpoint at one client count.
#[derive(Debug, Clone, Serialize)]
pub struct ApiStep {
    /// `POST /api/v1/orders`, …
    pub endpoint: String,
    /// Concurrent keep-alive connections, one request in flight on each.
    pub connections: usize,
    /// Answers received in the measured window.
    pub requests: u64,
    /// Non-2xx answers and transport errors among them.
    pub errors: u64,
    /// The errors by HTTP status (0: transport failure).
    pub error_statuses: std::collections::BTreeMap<u16, u64>,
    /// The first error seen (status and body, or the transport error).
    pub first_error: Option<String>,
    /// Requests per second over the measured window.
    pub rps: f64,
    /// Request latency.
    pub latency: Latency,
    /// Resource use over the step (warm-up included).
    pub resources: Resources,
    /// Anything that makes the figure less than it seems.
    pub note: Option<String>,
}

/// The endpoints, in the order they run at each client count.
pub const ENDPOINTS: [&str; 3] = [
    "POST /api/v1/orders",
    "POST /api/v1/payments",
    "GET /api/v1/payments/{id}",
];

/// Creates orders; keeps their ids for the payments step.
struct Orders {
    /// The request, always the same.
    raw: Vec<u8>,
    /// Ids of the orders created.
    created: Arc<Mutex<Vec<String>>>,
}

impl Work for Orders {
    fn next(&self) -> Option<Vec<u8>> {
        Some(self.raw.clone())
    }
    fn answered(&self, body: &[u8]) {
        if let Some(id) = http::first_id(body) {
            self.created.lock().expect("poisoned").push(id.to_owned());
        }
    }
}

/// Pays pre-created orders; keeps the payment ids for the GET step.
struct Payments {
    /// The merchant.
    credentials: Credentials,
    /// Orders not yet paid.
    orders: Arc<Mutex<Vec<String>>>,
    /// Ids of the payments created.
    created: Arc<Mutex<Vec<String>>>,
}

impl Work for Payments {
    fn next(&self) -> Option<Vec<u8>> {
        let order = self.orders.lock().expect("poisoned").pop()?;
        let body = format!(r#"{{"order_id":"{order}","method":"upi","vpa":"success@paytm"}}"#);
        Some(http::request(
            "POST",
            "/api/v1/payments",
            Some(&self.credentials),
            &body,
        ))
    }
    fn answered(&self, body: &[u8]) {
        if let Some(id) = http::first_id(body) {
            self.created.lock().expect("poisoned").push(id.to_owned());
        }
    }
}

/// Reads existing payments round-robin.
struct Reads {
    /// The merchant.
    credentials: Credentials,
    /// Payments to read.
    ids: Vec<String>,
    /// Round-robin position.
    next: AtomicUsize,
}

impl Work for Reads {
    fn next(&self) -> Option<Vec<u8>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.ids.len().max(1);
        let id = self.ids.get(i)?;
        Some(http::request(
            "GET",
            &format!("/api/v1/payments/{id}"),
            Some(&self.credentials),
            "",
        ))
    }
}

/// Runs one closed-loop step and measures it.
async fn step(
    plan: &Plan,
    gateway: &Gateway,
    monitor: &Monitor,
    endpoint: &str,
    connections: usize,
    work: Arc<dyn Work>,
) -> anyhow::Result<ApiStep> {
    let mark = monitor.begin();
    let run =
        load::closed_loop(gateway.addr, connections, plan.warmup, plan.duration, work).await?;
    let resources = monitor.end(mark);
    let secs = run.measured.as_secs_f64().max(1e-6);
    let step = ApiStep {
        endpoint: endpoint.to_owned(),
        connections,
        requests: run.requests,
        errors: run.errors,
        error_statuses: run.error_statuses.clone(),
        first_error: run.first_error.clone(),
        rps: run.requests as f64 / secs,
        latency: Latency::of(&run.histogram),
        resources,
        note: run
            .ran_out
            .then(|| format!("ran out of pre-created orders after {secs:.1} s")),
    };
    eprintln!(
        "  api {endpoint:<26} c={connections:<4} {:>8.0} req/s  p50 {:>7} µs  p99 {:>7} µs  errors {}  gw cpu {:.0}%  client cpu {:.0}%",
        step.rps,
        step.latency.p50_us,
        step.latency.p99_us,
        step.errors,
        step.resources.gateway_cpu_pct,
        step.resources.client_cpu_pct
    );
    if let Some(e) = &step.first_error {
        eprintln!(
            "    errors by status {:?}; first: {}",
            step.error_statuses,
            e.chars().take(300).collect::<String>()
        );
    }
    // Let the worker settle what the step enqueued before the next one starts.
    gateway.drain_jobs(Duration::from_secs(120)).await;
    Ok(step)
}

/// Runs every endpoint at every client count of the plan; with `with_limit`, also the `limit`
/// scenario at each client count, just before the orders step (the gateway idles meanwhile).
pub async fn run(
    plan: &Plan,
    gateway: &Gateway,
    monitor: &Monitor,
    with_limit: bool,
) -> anyhow::Result<(Vec<ApiStep>, Vec<LimitStep>)> {
    let credentials = Credentials::test_merchant();
    let order_request = http::request(
        "POST",
        "/api/v1/orders",
        Some(&credentials),
        r#"{"amount":50000,"currency":"INR","receipt":"bench"}"#,
    );
    let mut steps = Vec::new();
    let mut limits = Vec::new();
    for &connections in &plan.connections {
        if with_limit {
            limits.push(super::limit::run_one(plan, connections).await?);
        }
        let orders = Arc::new(Mutex::new(Vec::new()));
        let work = Arc::new(Orders {
            raw: order_request.clone(),
            created: orders.clone(),
        });
        steps.push(step(plan, gateway, monitor, ENDPOINTS[0], connections, work).await?);
        // The orders step's own orders (warm-up included) feed the payments step, which is
        // slower per request; top up if that step produced few.
        let have = orders.lock().expect("poisoned").len();
        let want = 2_000usize.saturating_sub(have);
        if want > 0 {
            let top_up = Arc::new(Orders {
                raw: order_request.clone(),
                created: orders.clone(),
            });
            let target = have + want;
            while orders.lock().expect("poisoned").len() < target {
                load::closed_loop(
                    gateway.addr,
                    16,
                    Duration::ZERO,
                    Duration::from_secs(1),
                    top_up.clone(),
                )
                .await?;
            }
        }
        let payments = Arc::new(Mutex::new(Vec::new()));
        let work = Arc::new(Payments {
            credentials: credentials.clone(),
            orders,
            created: payments.clone(),
        });
        steps.push(step(plan, gateway, monitor, ENDPOINTS[1], connections, work).await?);
        let ids = std::mem::take(&mut *payments.lock().expect("poisoned"));
        let work = Arc::new(Reads {
            credentials: credentials.clone(),
            ids,
            next: AtomicUsize::new(0),
        });
        steps.push(step(plan, gateway, monitor, ENDPOINTS[2], connections, work).await?);
    }
    Ok((steps, limits))
}
