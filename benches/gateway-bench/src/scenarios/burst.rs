//! `burst`: N test webhooks (`POST /api/v1/webhooks/test` as the test merchant) requested by C
//! closed-loop clients as fast as the gateway answers, each followed to the harness's receiver
//! by its `webhook-id` (the delivery id the POST answers with). One round per fresh database
//! and gateway; the rounds are summarised as median and min–max. The target it checks: no
//! delivery later than [`TARGET`] after its POST, in any round.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Plan;
use crate::gateway::Gateway;
use crate::http::{self, Conn, Credentials};
use crate::load::{self, Latency};
use crate::monitor::{Monitor, Resources};
use crate::receiver;

/// The latest a delivery may arrive after its POST was sent (the target).
pub const TARGET: Duration = Duration::from_secs(1);
/// How long to wait for stragglers after the last POST was answered.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long to wait for the queue to drain after the last delivery, so that a second delivery
/// of the same id (a retry, a lease that ran out) is seen before duplicates are counted.
const DRAIN: Duration = Duration::from_secs(30);

/// One round: a fresh database, a fresh gateway, N test webhooks.
#[derive(Debug, Clone, Serialize)]
pub struct BurstRound {
    /// 1-based.
    pub round: usize,
    /// POSTs sent.
    pub requests: u64,
    /// POSTs that did not answer 2xx with a delivery id (including transport failures).
    pub errors: u64,
    /// The first error, to say what went wrong.
    pub first_error: Option<String>,
    /// Rate at which POSTs were answered, first sent to last answered, per second.
    pub send_rate: f64,
    /// Deliveries the POSTs named that reached the receiver.
    pub delivered: u64,
    /// Deliveries the POSTs named that had not arrived when the bench stopped waiting.
    pub undelivered: u64,
    /// Deliveries that reached the receiver more than once.
    pub delivered_more_than_once: u64,
    /// Receipts beyond the first of each delivery.
    pub extra_receipts: u64,
    /// Receipts whose `webhook-id` no POST answered with.
    pub unmatched_receipts: u64,
    /// Delivered ÷ the time from the first POST sent to the last delivery received.
    pub deliveries_per_s: f64,
    /// POST sent → delivery first received.
    pub latency: Latency,
    /// Whether the job queue drained after the round.
    pub drained: bool,
    /// Resource use from the first POST to the last delivery.
    pub resources: Resources,
}

/// Median and range of one figure over the rounds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    /// Median (the mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (all zero when empty).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// Every round of one backend and their summary.
#[derive(Debug, Clone, Serialize)]
pub struct Burst {
    /// Test webhooks per round.
    pub requests: usize,
    /// Closed-loop clients.
    pub clients: usize,
    /// Rounds asked for (a failed round is missing from `rounds` and named in the problems).
    pub rounds_planned: usize,
    /// The target, ms: no delivery later than this in any round.
    pub target_ms: u64,
    /// The rounds that completed.
    pub rounds: Vec<BurstRound>,
    /// Deliveries per second over the rounds.
    pub deliveries_per_s: Spread,
    /// p50 over the rounds, µs.
    pub p50_us: Spread,
    /// p99 over the rounds, µs.
    pub p99_us: Spread,
    /// The latest delivery of each round, over the rounds, µs.
    pub max_us: Spread,
    /// Deliveries received more than once, all rounds together.
    pub delivered_more_than_once: u64,
    /// Deliveries never received, all rounds together.
    pub undelivered: u64,
    /// POST errors, all rounds together.
    pub errors: u64,
    /// Every planned round completed, everything was delivered and nothing later than the
    /// target.
    pub target_met: bool,
}

impl Burst {
    /// Summarises the rounds that completed.
    pub fn summarise(plan: &Plan, rounds: Vec<BurstRound>) -> Self {
        let spread = |f: fn(&BurstRound) -> f64| Spread::of(rounds.iter().map(f));
        let target_us = u64::try_from(TARGET.as_micros()).unwrap_or(u64::MAX);
        Self {
            requests: plan.burst_requests,
            clients: plan.burst_clients,
            rounds_planned: plan.rounds,
            target_ms: target_us / 1000,
            deliveries_per_s: spread(|r| r.deliveries_per_s),
            p50_us: spread(|r| r.latency.p50_us as f64),
            p99_us: spread(|r| r.latency.p99_us as f64),
            max_us: spread(|r| r.latency.max_us as f64),
            delivered_more_than_once: rounds.iter().map(|r| r.delivered_more_than_once).sum(),
            undelivered: rounds.iter().map(|r| r.undelivered).sum(),
            errors: rounds.iter().map(|r| r.errors).sum(),
            target_met: rounds.len() == plan.rounds
                && rounds
                    .iter()
                    .all(|r| r.errors == 0 && r.undelivered == 0 && r.latency.max_us <= target_us),
            rounds,
        }
    }
}

/// Prints one round.
pub fn print(r: &BurstRound) {
    eprintln!(
        "  burst round {}: {} POSTs ({:.0}/s, errors {})  delivered {} at {:.0}/s  p50 {} µs  p99 {} µs  latest {} µs  undelivered {}  more than once {}  gw cpu {:.0}%  client cpu {:.0}%",
        r.round,
        r.requests,
        r.send_rate,
        r.errors,
        r.delivered,
        r.deliveries_per_s,
        r.latency.p50_us,
        r.latency.p99_us,
        r.latency.max_us,
        r.undelivered,
        r.delivered_more_than_once,
        r.resources.gateway_cpu_pct,
        r.resources.client_cpu_pct
    );
}

/// What one client did.
struct ClientOutcome {
    /// Delivery id and when its POST was sent, for each POST that answered with one.
    sent: Vec<(String, Instant)>,
    /// POSTs that did not.
    errors: u64,
    /// The first of those.
    first_error: Option<String>,
    /// When its last answer arrived.
    last_answer: Option<Instant>,
}

/// Runs one round against a gateway started on a fresh database.
pub async fn run_round(
    plan: &Plan,
    gateway: &Gateway,
    monitor: &Monitor,
    round: usize,
) -> anyhow::Result<BurstRound> {
    let credentials = Credentials::test_merchant();
    let (url, received) = receiver::start_by_webhook_id().await?;
    gateway.set_webhook_url(&credentials, &url).await?;
    let raw = http::request("POST", "/api/v1/webhooks/test", Some(&credentials), "{}");
    // Connect every client first: connection set-up is not part of the burst.
    let mut conns = Vec::with_capacity(plan.burst_clients);
    for _ in 0..plan.burst_clients {
        conns.push(Conn::connect(gateway.addr).await?);
    }
    let count = plan.burst_requests;
    let next = Arc::new(AtomicUsize::new(0));
    let addr = gateway.addr;
    let mark = monitor.begin();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let (raw, next) = (raw.clone(), next.clone());
        tasks.spawn(async move {
            let mut out = ClientOutcome {
                sent: Vec::with_capacity(count / 16 + 1),
                errors: 0,
                first_error: None,
                last_answer: None,
            };
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let at = Instant::now();
                let result = conn.send(&raw).await;
                out.last_answer = Some(Instant::now());
                let error = match &result {
                    Ok(status) if (200..300).contains(status) => {
                        match http::first_id(conn.body()) {
                            Some(id) => {
                                out.sent.push((id.to_owned(), at));
                                None
                            }
                            None => Some(format!(
                                "{status} without an id: {}",
                                String::from_utf8_lossy(conn.body())
                            )),
                        }
                    }
                    Ok(status) => Some(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(conn.body())
                    )),
                    Err(e) => Some(format!("transport: {e}")),
                };
                if let Some(error) = error {
                    out.errors += 1;
                    out.first_error.get_or_insert(error);
                }
                if result.is_err() {
                    match Conn::connect(addr).await {
                        Ok(c) => conn = c,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
            out
        });
    }
    let mut sent: HashMap<String, Instant> = HashMap::with_capacity(count);
    let (mut errors, mut first_error, mut last_answer) = (0, None, start);
    while let Some(done) = tasks.join_next().await {
        let out = done?;
        sent.extend(out.sent);
        errors += out.errors;
        if first_error.is_none() {
            first_error = out.first_error;
        }
        last_answer = last_answer.max(out.last_answer.unwrap_or(start));
    }
    let map = received
        .by_webhook_id
        .as_ref()
        .expect("started by webhook id");

    // Wait for every delivery the POSTs named.
    let give_up = last_answer + PATIENCE;
    loop {
        let missing = {
            let map = map.lock().expect("receiver map poisoned");
            sent.keys().filter(|id| !map.contains_key(*id)).count()
        };
        if missing == 0 || Instant::now() >= give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut h = load::histogram();
    let (mut delivered, mut finished) = (0u64, last_answer);
    {
        let map = map.lock().expect("receiver map poisoned");
        for (id, at) in &sent {
            if let Some(a) = map.get(id) {
                delivered += 1;
                load::record(&mut h, a.first.saturating_duration_since(*at));
                finished = finished.max(a.first);
            }
        }
    }
    let resources = monitor.end(mark);
    let first_send = sent.values().min().copied().unwrap_or(start);
    let answered = last_answer.saturating_duration_since(start).as_secs_f64();

    // Let retries or re-deliveries, if any, arrive before counting duplicates.
    let drained = gateway.drain_jobs(DRAIN).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let map = map.lock().expect("receiver map poisoned");
    let matched = |id: &String| sent.contains_key(id);
    let twice = map.iter().filter(|(id, a)| matched(id) && a.count > 1);
    let round = BurstRound {
        round,
        requests: count as u64,
        errors,
        first_error,
        send_rate: if answered > 0.0 {
            count as f64 / answered
        } else {
            0.0
        },
        delivered,
        undelivered: sent.len() as u64 - delivered,
        delivered_more_than_once: twice.clone().count() as u64,
        extra_receipts: twice.map(|(_, a)| u64::from(a.count - 1)).sum(),
        unmatched_receipts: map
            .iter()
            .filter(|(id, _)| !matched(id))
            .map(|(_, a)| u64::from(a.count))
            .sum(),
        deliveries_per_s: delivered as f64
            / finished
                .saturating_duration_since(first_send)
                .as_secs_f64()
                .max(1e-6),
        latency: Latency::of(&h),
        drained,
        resources,
    };
    Ok(round)
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn a_spread_gives_the_median_and_the_range_whatever_the_order() {
        let odd = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        let even = Spread::of([4.0, 1.0, 3.0, 2.0]);
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        let none = Spread::of([]);
        assert_eq!((none.median, none.min, none.max), (0.0, 0.0, 0.0));
    }
}
