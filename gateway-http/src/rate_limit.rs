//! Request limits, all token buckets (governor's GCRA) kept in this process's memory:
//!
//! - [`CheckoutLimiter`]: the browser endpoints, per publishable key and client address, so a
//!   leaked key id or a noisy page cannot flood the gateway;
//! - [`AuthLimiter`]: failed authentication, per client address (whatever the key) and per key
//!   id from one address, so nobody can guess secrets or probe key ids at speed, while a
//!   correct secret from another address is never held up.
//!
//! Client addresses are the real client's (see [`crate::client`]); IPv6 clients are counted per
//! /64, the block one subscriber usually holds. Time comes from a [`LimiterClock`], monotonic in
//! production and a test's manual clock in tests.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gateway_core::Clock as CoreClock;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

/// Where a limiter reads the time.
#[derive(Clone)]
pub struct LimiterClock(Arc<dyn Fn() -> Duration + Send + Sync>);

impl std::fmt::Debug for LimiterClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LimiterClock").field(&(self.0)()).finish()
    }
}

impl LimiterClock {
    /// The process's monotonic clock (production).
    pub fn monotonic() -> Self {
        let origin = std::time::Instant::now();
        Self(Arc::new(move || origin.elapsed()))
    }

    /// A gateway clock, e.g. a test's `ManualClock`, so limits move only when the test says.
    pub fn from_clock(clock: Arc<dyn CoreClock>) -> Self {
        Self(Arc::new(move || {
            Duration::from_millis(u64::try_from(clock.now().as_millis()).unwrap_or(0))
        }))
    }
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from((self.0)())
    }
}

/// The address a client is counted under: itself for IPv4, its /64 for IPv6.
pub fn bucket_address(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// Idle buckets are swept after this many checks.
const SWEEP_EVERY: u64 = 10_000;

/// Key ids longer than this are invalid anyway; only this much of one is kept as a bucket key.
const MAX_KEY_BYTES: usize = 128;

fn key_part(key: &str) -> String {
    let mut end = key.len().min(MAX_KEY_BYTES);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key[..end].to_owned()
}

fn quota_per_minute(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, LimiterClock, NoOpMiddleware<Nanos>>;

/// A token bucket per (publishable key, client address).
pub struct CheckoutLimiter {
    limiter: Keyed<(String, IpAddr)>,
    clock: LimiterClock,
    /// Checks since the last sweep of idle buckets.
    checks: AtomicU64,
}

impl std::fmt::Debug for CheckoutLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutLimiter").finish_non_exhaustive()
    }
}

impl CheckoutLimiter {
    /// At most `per_minute` requests a minute (in bursts of as many) per key and address.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_clock(per_minute, LimiterClock::monotonic())
    }

    /// As [`CheckoutLimiter::per_minute`], reading the time from `clock`.
    pub fn with_clock(per_minute: u32, clock: LimiterClock) -> Self {
        Self {
            limiter: RateLimiter::hashmap_with_clock(quota_per_minute(per_minute), clock.clone()),
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
            .check_key(&(key_part(key), bucket_address(address)))
            .map_err(|not_until| RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}

/// Failed authentications allowed a minute from one client address, whatever the key.
pub const AUTH_FAILURES_PER_ADDRESS_PER_MINUTE: u32 = 30;

/// Failed authentications allowed a minute for one key id from one client address.
pub const AUTH_FAILURES_PER_KEY_PER_MINUTE: u32 = 10;

/// Limits on failed authentication. Only failures count: a client that authenticates
/// correctly is never slowed. Once a client address, or a key id from that address, has used
/// its failures, every attempt from there (even a correct one) gets 429 until a failure is
/// allowed again; nobody else is affected.
///
/// There is deliberately no limit on a key id across all addresses: key ids are public (the
/// publishable key is the same id), so such a limit would let anyone lock a merchant out, and
/// with about 190 bits in a secret, guessing from many addresses gains nothing.
pub struct AuthLimiter {
    per_address: FailureLimiter<IpAddr>,
    per_key: FailureLimiter<(String, IpAddr)>,
}

impl std::fmt::Debug for AuthLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLimiter").finish_non_exhaustive()
    }
}

impl Default for AuthLimiter {
    fn default() -> Self {
        Self::new(
            AUTH_FAILURES_PER_ADDRESS_PER_MINUTE,
            AUTH_FAILURES_PER_KEY_PER_MINUTE,
            LimiterClock::monotonic(),
        )
    }
}

impl AuthLimiter {
    /// At most `per_address` failures a minute from one address and `per_key` for one key id
    /// from one address (each in bursts of as many), timed by `clock`.
    pub fn new(per_address: u32, per_key: u32, clock: LimiterClock) -> Self {
        Self {
            per_address: FailureLimiter::new(per_address, clock.clone()),
            per_key: FailureLimiter::new(per_key, clock),
        }
    }

    /// Before checking credentials: `Err` while `address`, or `key` from `address`, is blocked.
    ///
    /// A request with no known address (`0.0.0.0`: the router served without connection info)
    /// is never limited, since every client would share one bucket and one attacker could lock
    /// everyone out.
    pub fn check(&self, key: &str, address: IpAddr) -> Result<(), RateLimited> {
        if address.is_unspecified() {
            return Ok(());
        }
        let address = bucket_address(address);
        self.per_address.check(&address)?;
        self.per_key.check(&(key_part(key), address))
    }

    /// After credentials were wrong: counts the failure, blocking the address or the key from
    /// it once their failures are used.
    pub fn failed(&self, key: &str, address: IpAddr) {
        if address.is_unspecified() {
            return;
        }
        let address = bucket_address(address);
        self.per_address.failed(address);
        self.per_key.failed((key_part(key), address));
    }
}

/// Counts failures per key; a key whose bucket is empty is blocked until a token returns.
struct FailureLimiter<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    clock: LimiterClock,
    /// Blocked keys and until when (the limiter's own time).
    blocked: RwLock<HashMap<K, Nanos>>,
    /// `blocked.len()`, read without the lock on every request.
    blocked_count: AtomicUsize,
    /// Failures since the last sweep.
    failures: AtomicU64,
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    fn new(per_minute: u32, clock: LimiterClock) -> Self {
        Self {
            limiter: RateLimiter::hashmap_with_clock(quota_per_minute(per_minute), clock.clone()),
            clock,
            blocked: RwLock::new(HashMap::new()),
            blocked_count: AtomicUsize::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn check(&self, key: &K) -> Result<(), RateLimited> {
        if self.blocked_count.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let until = self
            .blocked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied();
        let now = self.clock.now();
        match until {
            Some(until) if until > now => Err(RateLimited {
                retry_after: Duration::from(until.saturating_sub(now)),
            }),
            _ => Ok(()),
        }
    }

    fn failed(&self, key: K) {
        let now = self.clock.now();
        let sweep = self.failures.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        if sweep {
            self.limiter.retain_recent();
        }
        let denied = self.limiter.check_key(&key).err();
        if denied.is_none() && !sweep {
            return;
        }
        let mut blocked = self
            .blocked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sweep {
            blocked.retain(|_, until| *until > now);
        }
        if let Some(not_until) = denied {
            blocked.insert(key, now + Nanos::from(not_until.wait_time_from(now)));
        }
        self.blocked_count.store(blocked.len(), Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use gateway_core::{ManualClock, Timestamp};

    fn manual() -> (Arc<ManualClock>, LimiterClock) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        (clock.clone(), LimiterClock::from_clock(clock))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_is_blocked_once_its_failures_are_used_and_freed_as_they_return() {
        let (clock, limiter_clock) = manual();
        let limiter = AuthLimiter::new(3, 100, limiter_clock);
        let attacker = ip("203.0.113.7");
        for _ in 0..3 {
            assert_eq!(limiter.check("key_a", attacker), Ok(()));
            limiter.failed("key_a", attacker);
        }
        assert_eq!(
            limiter.check("key_b", attacker),
            Ok(()),
            "three failures are allowed"
        );
        limiter.failed("key_b", attacker);
        let blocked = limiter.check("key_c", attacker).unwrap_err();
        assert_eq!(blocked.retry_after, Duration::from_secs(20));
        clock.advance(Duration::from_secs(20));
        assert_eq!(limiter.check("key_c", attacker), Ok(()));
    }

    #[test]
    fn a_key_id_from_one_address_is_blocked_without_blocking_it_elsewhere() {
        let (_, limiter_clock) = manual();
        let limiter = AuthLimiter::new(100, 2, limiter_clock);
        let attacker = ip("203.0.113.7");
        for _ in 0..3 {
            limiter.failed("key_a", attacker);
        }
        assert!(limiter.check("key_a", attacker).is_err());
        assert_eq!(limiter.check("key_b", attacker), Ok(()));
        assert_eq!(limiter.check("key_a", ip("198.51.100.1")), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            bucket_address(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(bucket_address(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let (_, limiter_clock) = manual();
        let limiter = AuthLimiter::new(1, 100, limiter_clock);
        limiter.failed("k", ip("2001:db8::1"));
        limiter.failed("k", ip("2001:db8::2"));
        assert!(limiter.check("k", ip("2001:db8::3")).is_err());
        assert_eq!(limiter.check("k", ip("2001:db8:0:1::3")), Ok(()));
    }

    #[test]
    fn checkout_buckets_refill_with_the_injected_clock() {
        let (clock, limiter_clock) = manual();
        let limiter = CheckoutLimiter::with_clock(2, limiter_clock);
        let customer = ip("192.0.2.10");
        assert!(limiter.check("key", customer).is_ok());
        assert!(limiter.check("key", customer).is_ok());
        let limited = limiter.check("key", customer).unwrap_err();
        assert_eq!(limited.retry_after, Duration::from_secs(30));
        clock.advance(Duration::from_secs(30));
        assert!(limiter.check("key", customer).is_ok());
    }
}
