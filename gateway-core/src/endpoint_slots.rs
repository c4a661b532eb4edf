//! Webhook attempts in flight per endpoint URL, and how long a delivery that finds its endpoint
//! busy goes back to the queue for.
//!
//! Each endpoint has a fixed number of slots (attempts in flight at once), so a slow or dead
//! endpoint holds a few of the worker's handlers, never all of them. A delivery that finds every
//! slot taken waits briefly, then returns to the queue without using an attempt. How long it
//! stays there follows the endpoint's own health ([`busy_wait`]): a failing endpoint's
//! deliveries back off for a timeout or longer, but a healthy endpoint that is merely busy gets
//! them back as soon as one of its attempts should have ended, which for a fast endpoint is a few
//! milliseconds, so a burst to it is never pushed back by a timeout-long wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics;

/// Endpoints remembered before idle ones are forgotten (URLs change).
const REMEMBERED: usize = 1024;

/// The shortest time a delivery to a busy endpoint goes back to the queue for.
const SHORTEST_WAIT: Duration = Duration::from_millis(5);

/// The longest time a delivery to a failing endpoint goes back to the queue for.
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// The longest time a delivery to an endpoint whose latest attempt succeeded goes back to the
/// queue for, however slow its attempts in flight look (a busy machine slows them too).
const LONGEST_HEALTHY_WAIT: Duration = Duration::from_secs(1);

/// Every endpoint's slots and health, and how many endpoints are failing now.
#[derive(Debug, Default)]
pub(crate) struct EndpointSlots {
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    /// Endpoints whose latest attempt failed (a gauge in the metrics).
    backing_off: AtomicUsize,
}

/// One endpoint URL.
#[derive(Debug)]
struct Endpoint {
    slots: Arc<Semaphore>,
    failures_in_a_row: AtomicU32,
    /// The attempts' typical duration in microseconds (a moving average; 0 before the first).
    typical_micros: AtomicU64,
    /// When each attempt now in flight started.
    running_since: Mutex<Vec<Instant>>,
    /// Whether a delivery is moving this endpoint's due backlog now (see [`BacklogMove`]).
    moving_backlog: AtomicBool,
}

/// The right to move an endpoint's due backlog back in the queue, held by one delivery at a
/// time. The deliveries of one claim that find a dead endpoint busy are put back at the same
/// moment; had each moved the backlog, their statements would all scan the same due rows at
/// once, skipping those another was moving, and hold the database for as long. Dropping it
/// gives it back.
#[derive(Debug)]
pub(crate) struct BacklogMove {
    endpoint: Arc<Endpoint>,
}

impl Drop for BacklogMove {
    fn drop(&mut self) {
        self.endpoint.moving_backlog.store(false, Ordering::Release);
    }
}

/// A held slot: one attempt in flight to its endpoint. Dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    endpoint: Arc<Endpoint>,
    started: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = lock(&self.endpoint.running_since);
        if let Some(at) = running.iter().position(|at| *at == self.started) {
            running.swap_remove(at);
        }
    }
}

/// What [`busy_wait`] decides from: an endpoint's health as the worker has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndpointHealth {
    /// Attempts to it that failed in a row, most recent last.
    pub failures_in_a_row: u32,
    /// How long its attempts typically take, once one has ended.
    pub typical: Option<Duration>,
    /// How long the oldest attempt in flight to it has been running.
    pub oldest_running: Option<Duration>,
}

impl EndpointHealth {
    /// Whether the endpoint's latest attempt succeeded (it is neither failing nor unknown).
    pub(crate) fn is_healthy(&self) -> bool {
        self.failures_in_a_row == 0 && self.typical.is_some()
    }
}

/// How long a delivery whose endpoint had no free slot goes back to the queue for (before
/// `jitter`, expected in `0.75..=1.25`).
///
/// - A failing endpoint: about one attempt `timeout`, doubled for each of the last few failures
///   in a row, so a dead endpoint's backlog costs almost nothing (at most 5 min).
/// - A healthy one (its latest attempt succeeded): until its oldest attempt in flight should
///   end, judged by how long its attempts typically take; once that attempt is overdue, about
///   as long again as it has run so far (so a stalled endpoint is not polled every few
///   milliseconds); at least 5 ms and at most 1 s. A burst to a fast endpoint thus waits
///   milliseconds, and no delivery to a healthy endpoint waits a timeout.
/// - One not heard from yet (no attempt has ended): about as long again as its oldest attempt
///   in flight has run, never past that attempt's timeout. A new fast endpoint's burst waits
///   milliseconds; a new endpoint that hangs has its backlog put back for doubling waits (about
///   a dozen until its first attempt times out, after which it is failing).
pub(crate) fn busy_wait(health: EndpointHealth, timeout: Duration, jitter: f64) -> Duration {
    if health.failures_in_a_row > 0 {
        let doublings = health.failures_in_a_row.min(8) - 1;
        return timeout
            .saturating_mul(1 << doublings)
            .mul_f64(jitter)
            .clamp(Duration::from_millis(100), LONGEST_WAIT);
    }
    let running = health.oldest_running.unwrap_or_default();
    let (wait, longest) = match health.typical {
        Some(typical) if running < typical => (typical - running, LONGEST_HEALTHY_WAIT),
        Some(_) => (running, LONGEST_HEALTHY_WAIT),
        None => (running, timeout.saturating_sub(running)),
    };
    wait.mul_f64(jitter)
        .clamp(SHORTEST_WAIT, longest.min(timeout).max(SHORTEST_WAIT))
}

impl EndpointSlots {
    fn endpoint(&self, url: &str, limit: usize) -> Arc<Endpoint> {
        let mut endpoints = lock(&self.endpoints);
        if endpoints.len() >= REMEMBERED {
            endpoints.retain(|_, e| {
                let keep = e.slots.available_permits() < limit;
                if !keep && e.failures_in_a_row.load(Ordering::Relaxed) > 0 {
                    self.backing_off.fetch_sub(1, Ordering::Relaxed);
                }
                keep
            });
            metrics::endpoints_backing_off(self.backing_off.load(Ordering::Relaxed));
        }
        endpoints
            .entry(url.to_owned())
            .or_insert_with(|| {
                Arc::new(Endpoint {
                    slots: Arc::new(Semaphore::new(limit)),
                    failures_in_a_row: AtomicU32::new(0),
                    typical_micros: AtomicU64::new(0),
                    running_since: Mutex::new(Vec::with_capacity(limit)),
                    moving_backlog: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// A slot for `url`, waiting up to `wait` while `limit` attempts to it are in flight.
    pub(crate) async fn take(&self, url: &str, limit: usize, wait: Duration) -> Option<Slot> {
        let endpoint = self.endpoint(url, limit);
        let permit = match endpoint.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => tokio::time::timeout(wait, endpoint.slots.clone().acquire_owned())
                .await
                .ok()?
                .ok()?,
        };
        let started = Instant::now();
        lock(&endpoint.running_since).push(started);
        Some(Slot {
            endpoint,
            started,
            _permit: permit,
        })
    }

    /// The right to move `url`'s due backlog, or `None` while another delivery holds it.
    pub(crate) fn move_backlog(&self, url: &str, limit: usize) -> Option<BacklogMove> {
        let endpoint = self.endpoint(url, limit);
        endpoint
            .moving_backlog
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(BacklogMove { endpoint })
    }

    /// Records how an attempt to `url` ended and how long it took.
    pub(crate) fn record(&self, url: &str, limit: usize, succeeded: bool, took: Duration) {
        let endpoint = self.endpoint(url, limit);
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let typical = endpoint.typical_micros.load(Ordering::Relaxed);
        let typical = if typical == 0 {
            took
        } else {
            typical - typical / 8 + took / 8
        };
        endpoint.typical_micros.store(typical, Ordering::Relaxed);
        let before = if succeeded {
            endpoint.failures_in_a_row.swap(0, Ordering::Relaxed)
        } else {
            endpoint.failures_in_a_row.fetch_add(1, Ordering::Relaxed)
        };
        match (before, succeeded) {
            (0, false) => {
                self.backing_off.fetch_add(1, Ordering::Relaxed);
            }
            (1.., true) => {
                self.backing_off.fetch_sub(1, Ordering::Relaxed);
            }
            _ => return,
        }
        metrics::endpoints_backing_off(self.backing_off.load(Ordering::Relaxed));
    }

    /// `url`'s health as this worker has seen it.
    pub(crate) fn health(&self, url: &str, limit: usize) -> EndpointHealth {
        let endpoint = self.endpoint(url, limit);
        let typical = endpoint.typical_micros.load(Ordering::Relaxed);
        EndpointHealth {
            failures_in_a_row: endpoint.failures_in_a_row.load(Ordering::Relaxed),
            typical: (typical > 0).then(|| Duration::from_micros(typical)),
            oldest_running: lock(&endpoint.running_since)
                .iter()
                .min()
                .map(Instant::elapsed),
        }
    }
}

/// The lock's value, even if a holder panicked (every update here is a single step).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn healthy(typical_ms: u64, oldest_running_ms: u64) -> EndpointHealth {
        EndpointHealth {
            failures_in_a_row: 0,
            typical: Some(Duration::from_millis(typical_ms)),
            oldest_running: Some(Duration::from_millis(oldest_running_ms)),
        }
    }

    #[test]
    fn a_busy_fast_endpoint_gets_its_deliveries_back_within_milliseconds() {
        assert_eq!(
            busy_wait(healthy(4, 1), TIMEOUT, 1.0),
            Duration::from_millis(5)
        );
        assert_eq!(
            busy_wait(healthy(40, 10), TIMEOUT, 1.0),
            Duration::from_millis(30)
        );
        assert!(busy_wait(healthy(40, 10), TIMEOUT, 1.25) <= Duration::from_millis(38));
    }

    #[test]
    fn a_healthy_endpoint_never_waits_more_than_a_second_and_a_new_one_as_long_again() {
        assert_eq!(
            busy_wait(healthy(4, 300), TIMEOUT, 1.0),
            Duration::from_millis(300),
            "overdue: about as long again as it has run"
        );
        assert_eq!(
            busy_wait(healthy(4, 2_000), TIMEOUT, 1.0),
            LONGEST_HEALTHY_WAIT,
            "never more than a second while its latest attempt succeeded"
        );
        assert_eq!(
            busy_wait(healthy(3_000, 100), TIMEOUT, 1.25),
            LONGEST_HEALTHY_WAIT
        );
        let unknown = |running_ms| EndpointHealth {
            failures_in_a_row: 0,
            typical: None,
            oldest_running: Some(Duration::from_millis(running_ms)),
        };
        assert_eq!(
            busy_wait(unknown(4), TIMEOUT, 1.0),
            SHORTEST_WAIT,
            "a new endpoint's first attempts have just started: wait a moment, not a timeout"
        );
        assert_eq!(
            busy_wait(unknown(3_000), TIMEOUT, 1.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            busy_wait(unknown(8_000), TIMEOUT, 1.0),
            Duration::from_secs(2),
            "never past its oldest attempt's timeout"
        );
    }

    #[test]
    fn a_failing_endpoint_backs_off_from_one_timeout_doubling_to_five_minutes() {
        let failing = |failures_in_a_row| EndpointHealth {
            failures_in_a_row,
            typical: Some(TIMEOUT),
            oldest_running: None,
        };
        assert_eq!(busy_wait(failing(1), TIMEOUT, 1.0), TIMEOUT);
        assert_eq!(busy_wait(failing(3), TIMEOUT, 1.0), TIMEOUT * 4);
        assert_eq!(busy_wait(failing(30), TIMEOUT, 1.0), LONGEST_WAIT);
    }

    #[test]
    fn one_delivery_at_a_time_moves_an_endpoints_backlog() {
        let slots = EndpointSlots::default();
        let first = slots.move_backlog("https://dead.example/hook", 2);
        assert!(first.is_some());
        assert!(slots.move_backlog("https://dead.example/hook", 2).is_none());
        assert!(
            slots
                .move_backlog("https://other.example/hook", 2)
                .is_some()
        );
        drop(first);
        assert!(slots.move_backlog("https://dead.example/hook", 2).is_some());
    }

    #[tokio::test]
    async fn slots_bound_attempts_and_health_follows_what_was_recorded() {
        let slots = EndpointSlots::default();
        let url = "https://merchant.example/hook";
        let first = slots.take(url, 1, Duration::ZERO).await.unwrap();
        assert!(slots.take(url, 1, Duration::ZERO).await.is_none());
        assert!(slots.health(url, 1).oldest_running.is_some());
        drop(first);
        assert_eq!(slots.health(url, 1).oldest_running, None);
        assert_eq!(slots.health(url, 1).typical, None);

        slots.record(url, 1, false, Duration::from_millis(80));
        slots.record(url, 1, false, Duration::from_millis(80));
        let failing = slots.health(url, 1);
        assert_eq!(failing.failures_in_a_row, 2);
        assert_eq!(failing.typical, Some(Duration::from_millis(80)));
        assert_eq!(slots.backing_off.load(Ordering::Relaxed), 1);
        slots.record(url, 1, true, Duration::from_millis(8));
        let recovered = slots.health(url, 1);
        assert_eq!(recovered.failures_in_a_row, 0);
        assert_eq!(recovered.typical, Some(Duration::from_millis(71)));
        assert_eq!(slots.backing_off.load(Ordering::Relaxed), 0);
    }
}
