//! `isolation`: does a merchant whose webhook endpoint hangs slow down another merchant's
//! deliveries? Merchant A's endpoint answers at once; merchant B's accepts connections and
//! never answers, so every delivery to B waits out `WEBHOOK_TIMEOUT_MS`. A's create → delivered
//! latency is measured at a fixed offered rate: alone, then with B paying at the same rate to
//! a healthy endpoint (the cost of B's load alone), then with B's endpoint hanging (the cost
//! of the dead endpoint on top of that load).

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

use super::Plan;
use super::e2e::{E2eRun, OPEN_LOOP_CONNECTIONS, PATIENCE, print};
use crate::gateway::Gateway;
use crate::http::Credentials;
use crate::load::{self, Pool};
use crate::monitor::Monitor;
use crate::receiver;

/// Both phases and the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Isolation {
    /// The gateway's per-attempt webhook timeout during the run.
    pub webhook_timeout_ms: u64,
    /// Offered payments per second, per merchant.
    pub rate: f64,
    /// Merchant A alone.
    pub alone: E2eRun,
    /// Merchant A while B pays at the same rate to a healthy endpoint.
    pub with_healthy_merchant: E2eRun,
    /// Merchant A while B pays at the same rate to an endpoint that never answers.
    pub with_hanging_merchant: E2eRun,
    /// Payments B made in the second phase.
    pub b_payments: u64,
    /// Connections the gateway opened to B's endpoint (each held until its timeout).
    pub b_connections: u64,
    /// Change in A's p99 from alone to beside the hanging B, %.
    pub p99_increase_pct: f64,
    /// Change in A's p99 from beside a healthy B to beside a hanging B, %: what the dead
    /// endpoint itself costs.
    pub p99_increase_vs_healthy_pct: f64,
}

/// Runs both phases. `b` is the second merchant, created before the gateway started.
pub async fn run(
    plan: &Plan,
    gateway: &Gateway,
    monitor: &Monitor,
    b: Credentials,
) -> anyhow::Result<Isolation> {
    let a = Credentials::test_merchant();
    let (url, received) = receiver::start().await?;
    gateway.set_webhook_url(&a, &url).await?;
    let (healthy_b, _) = receiver::start().await?;
    let (hole, swallowed) = receiver::start_black_hole().await?;
    let pool = Pool::new(gateway.addr, OPEN_LOOP_CONNECTIONS);
    let rate = plan.isolation_rate;
    let count = plan.isolation_payments;

    let mark = monitor.begin();
    let start = Instant::now();
    let made = load::open_loop(pool.clone(), a.clone(), rate, count).await?;
    let settled = load::settle(&made, &received, start, PATIENCE).await;
    let alone = E2eRun {
        mode: format!("A alone {rate}/s"),
        offered_rate: Some(rate),
        settled,
        resources: monitor.end(mark),
    };
    print(&alone);
    super::trace(plan, "isolation", &alone);
    gateway.drain_jobs(PATIENCE).await;

    gateway.set_webhook_url(&b, &healthy_b).await?;
    let mark = monitor.begin();
    let start = Instant::now();
    let (made_a, made_b) = tokio::join!(
        load::open_loop(pool.clone(), a.clone(), rate, count),
        load::open_loop(pool.clone(), b.clone(), rate, count)
    );
    let (made_a, _) = (made_a?, made_b?);
    let settled = load::settle(&made_a, &received, start, PATIENCE).await;
    let with_healthy_merchant = E2eRun {
        mode: format!("A + healthy B {rate}/s"),
        offered_rate: Some(rate),
        settled,
        resources: monitor.end(mark),
    };
    print(&with_healthy_merchant);
    super::trace(plan, "isolation", &with_healthy_merchant);
    gateway.drain_jobs(PATIENCE).await;

    gateway.set_webhook_url(&b, &hole).await?;
    let mark = monitor.begin();
    let start = Instant::now();
    let (made_a, made_b) = tokio::join!(
        load::open_loop(pool.clone(), a.clone(), rate, count),
        load::open_loop(pool.clone(), b, rate, count)
    );
    let (made_a, made_b) = (made_a?, made_b?);
    let settled = load::settle(&made_a, &received, start, PATIENCE).await;
    let with_hanging_merchant = E2eRun {
        mode: format!("A + hanging B {rate}/s"),
        offered_rate: Some(rate),
        settled,
        resources: monitor.end(mark),
    };
    print(&with_hanging_merchant);
    super::trace(plan, "isolation", &with_hanging_merchant);
    let p99 = |run: &E2eRun| run.settled.latency.p99_us as f64;
    let increase = |before: f64, after: f64| {
        if before > 0.0 {
            (after - before) / before * 100.0
        } else {
            0.0
        }
    };
    Ok(Isolation {
        webhook_timeout_ms: plan.launch.webhook_timeout_ms,
        rate,
        p99_increase_pct: increase(p99(&alone), p99(&with_hanging_merchant)),
        p99_increase_vs_healthy_pct: increase(
            p99(&with_healthy_merchant),
            p99(&with_hanging_merchant),
        ),
        alone,
        with_healthy_merchant,
        with_hanging_merchant,
        b_payments: made_b.iter().filter(|m| m.ok).count() as u64,
        b_connections: swallowed.connections.load(Ordering::Relaxed),
    })
}
