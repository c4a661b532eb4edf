//! Request limits for the browser endpoints, per publishable key and client address, so a
//! leaked key id or a noisy page cannot flood the gateway.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

type Key = (String, IpAddr);

/// A token bucket per (publishable key, client address).
pub struct CheckoutLimiter {
    limiter: RateLimiter<Key, DefaultKeyedStateStore<Key>, DefaultClock>,
    clock: DefaultClock,
    /// Checks since the last sweep of idle buckets.
    checks: AtomicU64,
}

impl std::fmt::Debug for CheckoutLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutLimiter").finish_non_exhaustive()
    }
}

/// Idle buckets are swept after this many checks.
const SWEEP_EVERY: u64 = 10_000;

impl CheckoutLimiter {
    /// At most `per_minute` requests a minute (in bursts of as many) per key and address.
    pub fn per_minute(per_minute: u32) -> Self {
        let quota =
            Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN));
        let clock = DefaultClock::default();
        Self {
            limiter: RateLimiter::hashmap_with_clock(quota, clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request; `Err` with how long to wait when over the limit.
    pub fn check(&self, key: &str, address: IpAddr) -> Result<(), RateLimited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&(key.to_owned(), address))
            .map_err(|not_until| RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}

/// The 429 answer, with `Retry-After` in whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// How long until a request would be accepted.
    pub retry_after: Duration,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let seconds = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        let mut response = ApiError::too_many_requests().into_response();
        if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
