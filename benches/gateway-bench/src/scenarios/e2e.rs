//! `e2e`: payments followed to their `payment.success` webhook at a local receiver, with zero
//! simulated bank delay: open loop at each offered rate, a closed-loop run at full speed, and
//! `idle`, one payment at a time on a quiet system.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::Plan;
use crate::gateway::Gateway;
use crate::http::Credentials;
use crate::load::{self, Latency, Pool, Settled};
use crate::monitor::{Monitor, Resources};
use crate::receiver::{self, Received};

/// Connections an open-loop run may hold; past this it waits, and the send rate says so.
pub const OPEN_LOOP_CONNECTIONS: usize = 256;
/// How long to wait for stragglers after the last payment was sent.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// One run of payments to delivered webhooks.
#[derive(Debug, Clone, Serialize)]
pub struct E2eRun {
    /// `open 500/s`, `closed 32 clients`, …
    pub mode: String,
    /// Offered payments per second (open loop).
    pub offered_rate: Option<f64>,
    /// What happened.
    #[serde(flatten)]
    pub settled: Settled,
    /// Resource use from the first send to the last webhook.
    pub resources: Resources,
}

/// `idle`: one payment at a time.
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    /// Payments made.
    pub payments: usize,
    /// Those whose webhook did not arrive within 10 s.
    pub undelivered: usize,
    /// `POST /api/v1/payments` sent → `payment.success` received.
    pub latency: Latency,
}

/// Everything `e2e` measured.
#[derive(Debug, Clone, Serialize)]
pub struct E2e {
    /// The open- and closed-loop runs.
    pub runs: Vec<E2eRun>,
    /// One payment at a time.
    pub idle: Idle,
}

/// Prints one run.
pub fn print(run: &E2eRun) {
    eprintln!(
        "  e2e {:<20} sent {:>6.0}/s  settled {:>6.0}/s  p50 {:>8} µs  p99 {:>8} µs  undelivered {}  errors {}  gw cpu {:.0}%  client cpu {:.0}%",
        run.mode,
        run.settled.send_rate,
        run.settled.payments_per_s,
        run.settled.latency.p50_us,
        run.settled.latency.p99_us,
        run.settled.undelivered,
        run.settled.errors,
        run.resources.gateway_cpu_pct,
        run.resources.client_cpu_pct
    );
}

/// Runs `idle`, each open-loop rate, then the closed-loop run.
pub async fn run(plan: &Plan, gateway: &Gateway, monitor: &Monitor) -> anyhow::Result<E2e> {
    let credentials = Credentials::test_merchant();
    let (url, received) = receiver::start().await?;
    gateway.set_webhook_url(&credentials, &url).await?;
    let pool = Pool::new(gateway.addr, OPEN_LOOP_CONNECTIONS);

    let idle = idle(plan, &pool, &credentials, &received).await?;
    eprintln!(
        "  idle: p50 {} µs  p99 {} µs  max {} µs  undelivered {}",
        idle.latency.p50_us, idle.latency.p99_us, idle.latency.max_us, idle.undelivered
    );
    gateway.drain_jobs(PATIENCE).await;

    let mut runs = Vec::new();
    for &rate in &plan.rates {
        let mark = monitor.begin();
        let start = Instant::now();
        let made = load::open_loop(pool.clone(), credentials.clone(), rate, plan.payments).await?;
        let settled = load::settle(&made, &received, start, PATIENCE).await;
        let run = E2eRun {
            mode: format!("open {rate}/s"),
            offered_rate: Some(rate),
            settled,
            resources: monitor.end(mark),
        };
        print(&run);
        super::trace(plan, "e2e", &run);
        runs.push(run);
        gateway.drain_jobs(PATIENCE).await;
    }
    if plan.closed_clients > 0 {
        let mark = monitor.begin();
        let start = Instant::now();
        let made = load::closed_payments(
            pool.clone(),
            credentials.clone(),
            plan.closed_clients,
            plan.payments,
        )
        .await?;
        let settled = load::settle(&made, &received, start, PATIENCE).await;
        let run = E2eRun {
            mode: format!("closed {} clients", plan.closed_clients),
            offered_rate: None,
            settled,
            resources: monitor.end(mark),
        };
        print(&run);
        super::trace(plan, "e2e", &run);
        runs.push(run);
        gateway.drain_jobs(PATIENCE).await;
    }
    Ok(E2e { runs, idle })
}

/// One payment at a time, each waiting for its webhook (and a little quiet after it, so the
/// created/pending deliveries of one do not overlap the next).
async fn idle(
    plan: &Plan,
    pool: &Pool,
    credentials: &Credentials,
    received: &Received,
) -> anyhow::Result<Idle> {
    let mut h = load::histogram();
    let mut undelivered = 0;
    for _ in 0..plan.idle_payments {
        let made = load::make_payment(pool, credentials).await?;
        if !made.ok {
            undelivered += 1;
            continue;
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = received.arrival(&made.id) {
                load::record(&mut h, at.saturating_duration_since(made.sent));
                break;
            }
            if Instant::now() >= give_up {
                undelivered += 1;
                break;
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(100), received.notify.notified()).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Idle {
        payments: plan.idle_payments,
        undelivered,
        latency: Latency::of(&h),
    })
}
