//! Time as the gateway sees it: a millisecond [`Timestamp`] and an injectable [`Clock`].
//!
//! Every component asks a `Clock` for "now" instead of reading the system time, so retry
//! schedules, leases and idempotency expiry are tested instantly with a [`ManualClock`].

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time: milliseconds since the Unix epoch (UTC).
///
/// Stored as an integer in every backend; rendered as RFC 3339 with second precision
/// (`2024-01-15T10:30:00Z`) in JSON, as the reference does.
///
/// ```
/// use std::time::Duration;
///
/// use gateway_core::Timestamp;
///
/// let at = Timestamp::from_millis(1_705_314_600_250);
/// assert_eq!((at.as_secs(), at.to_rfc3339()), (1_705_314_600, "2024-01-15T10:30:00Z".into()));
/// // A client's time filter: RFC 3339 with any offset, or Unix seconds.
/// let ist = Timestamp::parse_client("2024-01-15T16:00:00+05:30");
/// assert_eq!(ist, Timestamp::parse_client("1705314600"));
/// assert_eq!(Timestamp::parse_client("yesterday"), None);
///
/// let later = at.plus(Duration::from_secs(90));
/// assert_eq!(later.since(at), Duration::from_secs(90));
/// assert_eq!(at.since(later), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (the `timestamp` field of webhook payloads).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This timestamp moved forward by `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0 - earlier.0).unwrap_or(0))
    }

    /// RFC 3339 text with second precision, e.g. `2024-01-15T10:30:00Z`.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.as_secs())
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl Timestamp {
    /// Parses a time a client gave (a list filter): RFC 3339 (`2024-01-15T10:30:00Z`, any
    /// offset) or whole Unix seconds (`1705314600`). `None` for anything else.
    pub fn parse_client(text: &str) -> Option<Self> {
        let at = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            OffsetDateTime::from_unix_timestamp(text.parse().ok()?).ok()?
        } else {
            OffsetDateTime::parse(text, &Rfc3339).ok()?
        };
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }

    /// The UTC calendar (year, month) of this instant, for card expiry checks.
    pub fn year_month(self) -> (u16, u8) {
        OffsetDateTime::from_unix_timestamp(self.as_secs())
            .map(|t| {
                (
                    u16::try_from(t.year()).unwrap_or(u16::MAX),
                    u8::from(t.month()),
                )
            })
            .unwrap_or((u16::MAX, 12))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// The source of "now" for the whole gateway.
///
/// A host passes one to [`GatewayBuilder::clock`](crate::GatewayBuilder::clock); any source of
/// time will do:
///
/// ```
/// use std::sync::Arc;
///
/// use gateway_core::{Clock, Timestamp};
///
/// /// A clock stuck at the epoch.
/// struct Epoch;
///
/// impl Clock for Epoch {
///     fn now(&self) -> Timestamp {
///         Timestamp::from_millis(0)
///     }
/// }
///
/// let clock: Arc<dyn Clock> = Arc::new(Epoch);
/// assert_eq!(clock.now().to_rfc3339(), "1970-01-01T00:00:00Z");
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(millis)
    }
}

/// A clock that only moves when told to: for deterministic tests of retries and leases.
///
/// ```
/// use std::time::Duration;
///
/// use gateway_core::{Clock, ManualClock, Timestamp};
///
/// let start = Timestamp::from_millis(1_705_314_600_000);
/// let clock = ManualClock::new(start);
/// assert_eq!(clock.now(), start); // however long the test takes
///
/// clock.advance(Duration::from_secs(5 * 60)); // the second webhook retry is due
/// assert_eq!(clock.now().since(start), Duration::from_secs(300));
/// clock.set(start);
/// assert_eq!(clock.now(), start);
/// ```
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.0))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_times_are_rfc3339_or_unix_seconds() {
        let at = Timestamp::from_millis(1_705_314_600_000);
        assert_eq!(Timestamp::parse_client("1705314600"), Some(at));
        assert_eq!(Timestamp::parse_client("2024-01-15T10:30:00Z"), Some(at));
        assert_eq!(
            Timestamp::parse_client("2024-01-15T16:00:00+05:30"),
            Some(at)
        );
        for bad in [
            "",
            "-1",
            "1e9",
            "yesterday",
            "2024-01-15",
            "99999999999999999999",
        ] {
            assert_eq!(Timestamp::parse_client(bad), None, "{bad}");
        }
    }

    #[test]
    fn renders_rfc3339_with_second_precision() {
        assert_eq!(
            Timestamp::from_millis(1_705_314_600_999).to_rfc3339(),
            "2024-01-15T10:30:00Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        assert_eq!(clock.now().as_millis(), 1_000);
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now().as_millis(), 61_000);
        assert_eq!(
            clock.now().since(Timestamp::from_millis(1_000)),
            Duration::from_secs(60)
        );
    }
}
