//! Endpoint health: the rules a store applies, in the transaction that records a delivery
//! attempt, to an endpoint's `failing_since` (the first failed attempt since its last success).
//! A `410 Gone` answer, or failing without a single success for
//! [`WorkerConfig::endpoint_disable_after`](crate::WorkerConfig::endpoint_disable_after),
//! disables the endpoint; a success after failures brings the endpoint's waiting deliveries
//! forward ("catch-up"), spaced by [`CATCH_UP_SPACING`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::Timestamp;
use crate::endpoint::EndpointStatus;
use crate::error::{GatewayError, Refusal};
use crate::ids::EndpointId;
use crate::webhook::{DeliveryAttempt, DeliveryStatus};

/// How long an endpoint may fail without a single success before it is disabled (Svix's 5 days).
pub const DEFAULT_DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);

/// The same period under `WEBHOOK_RETRY_INTERVALS_TEST`.
pub const TEST_DISABLE_AFTER: Duration = Duration::from_secs(60);

/// The gap between two deliveries brought forward by a catch-up or a recover, so a recovering
/// endpoint gets its backlog oldest first at up to 10 a second rather than all at once.
pub const CATCH_UP_SPACING: Duration = Duration::from_millis(100);

/// The most deliveries one catch-up or one recover call re-schedules (recover again for more).
pub const CATCH_UP_LIMIT: i64 = 1_000;

/// What the health rule reads of an endpoint, as the store read it in the attempt's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointHealth {
    /// Only an enabled endpoint's health changes.
    pub status: EndpointStatus,
    /// The first failed attempt since its last success, while it is failing.
    pub failing_since: Option<Timestamp>,
}

/// What an attempt does to its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthDecision {
    /// The endpoint's `failing_since` after the attempt.
    pub failing_since: Option<Timestamp>,
    /// Disable the endpoint, with this reason (the attempt then ends its delivery `failed`).
    pub disable: Option<String>,
    /// Bring the endpoint's waiting deliveries forward (it succeeded after failing).
    pub catch_up: bool,
}

impl HealthDecision {
    /// Whether the decision changes anything stored, i.e. whether the store must write it.
    pub fn changes(&self, before: &EndpointHealth) -> bool {
        self.failing_since != before.failing_since || self.disable.is_some() || self.catch_up
    }
}

/// Decides what `attempt` (recorded at `now`) does to an endpoint in state `before`:
/// - a 2xx clears `failing_since` and, if it was set, catches up;
/// - a `410 Gone` disables the endpoint at once;
/// - any other failure sets `failing_since` if unset, and disables the endpoint once it is
///   `disable_after` old.
///
/// A disabled endpoint's attempts (which are not sent) change nothing.
pub fn after_attempt(
    before: &EndpointHealth,
    attempt: &DeliveryAttempt,
    disable_after: Duration,
    now: Timestamp,
) -> HealthDecision {
    let unchanged = HealthDecision {
        failing_since: before.failing_since,
        disable: None,
        catch_up: false,
    };
    if before.status != EndpointStatus::Enabled {
        return unchanged;
    }
    if attempt.status == DeliveryStatus::Success {
        return HealthDecision {
            failing_since: None,
            disable: None,
            catch_up: before.failing_since.is_some(),
        };
    }
    let since = before.failing_since.unwrap_or(attempt.attempted_at);
    let disable = if attempt.response_code == Some(410) {
        Some("gone: the endpoint answered 410 Gone".to_owned())
    } else if now.since(since) >= disable_after {
        Some(format!(
            "failing since {} without a success (disabled after {})",
            since.to_rfc3339(),
            period(disable_after)
        ))
    } else {
        None
    };
    HealthDecision {
        failing_since: Some(since),
        disable,
        catch_up: false,
    }
}

/// A period in the largest whole unit that states it exactly (`5 days`, `60 s`).
fn period(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{} ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{} day{}", s / 86_400, plural(s / 86_400)),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The attempt as it is recorded when it disabled its endpoint: the delivery ends `failed`,
/// with no retry.
pub fn ended_by_disable(mut attempt: DeliveryAttempt) -> DeliveryAttempt {
    attempt.status = DeliveryStatus::Failed;
    attempt.next_retry_at = None;
    attempt
}

/// When the `n`-th (0-based) delivery of a catch-up or recover is due: oldest first, one
/// [`CATCH_UP_SPACING`] apart from `now`.
pub fn throttled_run_at(now: Timestamp, n: usize) -> Timestamp {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    now.plus(CATCH_UP_SPACING.saturating_mul(n))
}

/// Decides whether an endpoint's failed deliveries may be recovered: only while it is enabled
/// (a disabled endpoint would not be sent them).
pub fn admit_recover(status: EndpointStatus) -> Result<(), Refusal> {
    match status {
        EndpointStatus::Enabled => Ok(()),
        EndpointStatus::Disabled => Err(Refusal::EndpointDisabled),
    }
}

/// `POST /api/v1/webhooks/endpoints/{id}/recover`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverEndpoint {
    /// Resend the endpoint's failed deliveries created at or after this time: RFC 3339 text
    /// (as timestamps are shown, e.g. `"2026-01-15T10:30:00Z"`) or unix seconds.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-01-15T10:30:00Z"))]
    pub since: serde_json::Value,
}

impl RecoverEndpoint {
    /// The `since` time, validated: not before 1970 and not after `now`.
    pub fn since(&self, now: Timestamp) -> Result<Timestamp, GatewayError> {
        let invalid = || {
            GatewayError::bad_request(
                "since must be an RFC 3339 time (e.g. \"2026-01-15T10:30:00Z\") or unix seconds, not in the future",
            )
        };
        let secs = match &self.since {
            serde_json::Value::Number(n) => n.as_i64().ok_or_else(invalid)?,
            serde_json::Value::String(text) => OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| invalid())?
                .unix_timestamp(),
            _ => return Err(invalid()),
        };
        let since = secs
            .checked_mul(1000)
            .filter(|ms| (0..=now.as_millis()).contains(ms))
            .ok_or_else(invalid)?;
        Ok(Timestamp::from_millis(since))
    }
}

/// The answer to a recover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recovering {
    /// The endpoint.
    pub id: EndpointId,
    /// From when failed deliveries are resent.
    pub since: Timestamp,
    /// How many failed deliveries were re-armed (at most 1,000 a call; call again with the
    /// `created_at` of the last one sent for more).
    pub recovering: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const FIVE_DAYS: Duration = DEFAULT_DISABLE_AFTER;

    fn attempt(code: Option<i32>, status: DeliveryStatus) -> DeliveryAttempt {
        DeliveryAttempt {
            delivery_id: crate::ids::DeliveryId::from_uuid(uuid::Uuid::nil()),
            attempt: 1,
            attempted_at: T,
            response_code: code,
            response_body: None,
            duration_ms: 1,
            error: None,
            status,
            next_retry_at: None,
        }
    }

    fn enabled(failing_since: Option<Timestamp>) -> EndpointHealth {
        EndpointHealth {
            status: EndpointStatus::Enabled,
            failing_since,
        }
    }

    #[test]
    fn a_first_failure_starts_the_failing_period_and_a_success_ends_it_with_a_catch_up() {
        let failed = attempt(Some(500), DeliveryStatus::Pending);
        let d = after_attempt(&enabled(None), &failed, FIVE_DAYS, T);
        assert_eq!(
            (d.failing_since, d.disable.clone(), d.catch_up),
            (Some(T), None, false)
        );
        assert!(d.changes(&enabled(None)));
        let again = after_attempt(&enabled(Some(T)), &failed, FIVE_DAYS, T.plus(FIVE_DAYS / 2));
        assert!(!again.changes(&enabled(Some(T))), "{again:?}");

        let ok = attempt(Some(200), DeliveryStatus::Success);
        let d = after_attempt(&enabled(Some(T)), &ok, FIVE_DAYS, T);
        assert_eq!((d.failing_since, d.disable, d.catch_up), (None, None, true));
        let healthy = after_attempt(&enabled(None), &ok, FIVE_DAYS, T);
        assert!(
            !healthy.changes(&enabled(None)),
            "the common case writes nothing"
        );
    }

    #[test]
    fn a_410_disables_at_once() {
        let gone = attempt(Some(410), DeliveryStatus::Pending);
        let d = after_attempt(&enabled(None), &gone, FIVE_DAYS, T);
        assert_eq!(
            d.disable.as_deref(),
            Some("gone: the endpoint answered 410 Gone")
        );
        let ended = ended_by_disable(gone);
        assert_eq!(
            (ended.status, ended.next_retry_at),
            (DeliveryStatus::Failed, None)
        );
    }

    #[test]
    fn failing_for_the_whole_period_disables_with_the_time_it_began() {
        let failed = attempt(None, DeliveryStatus::Pending);
        let just_short = T.plus(FIVE_DAYS - Duration::from_millis(1));
        assert_eq!(
            after_attempt(&enabled(Some(T)), &failed, FIVE_DAYS, just_short).disable,
            None
        );
        let d = after_attempt(&enabled(Some(T)), &failed, FIVE_DAYS, T.plus(FIVE_DAYS));
        assert_eq!(
            d.disable.as_deref(),
            Some("failing since 2023-11-14T22:13:20Z without a success (disabled after 5 days)")
        );
    }

    #[test]
    fn a_disabled_endpoints_attempts_change_nothing() {
        let before = EndpointHealth {
            status: EndpointStatus::Disabled,
            failing_since: Some(T),
        };
        let gone = attempt(Some(410), DeliveryStatus::Failed);
        let d = after_attempt(&before, &gone, FIVE_DAYS, T.plus(FIVE_DAYS * 2));
        assert!(!d.changes(&before), "{d:?}");
    }

    #[test]
    fn catch_up_is_spaced_and_recover_needs_an_enabled_endpoint() {
        assert_eq!(throttled_run_at(T, 0), T);
        assert_eq!(throttled_run_at(T, 3), T.plus(Duration::from_millis(300)));
        assert!(admit_recover(EndpointStatus::Enabled).is_ok());
        assert_eq!(
            admit_recover(EndpointStatus::Disabled),
            Err(Refusal::EndpointDisabled)
        );
        assert_eq!(period(TEST_DISABLE_AFTER), "1 min");
        assert_eq!(period(Duration::from_secs(3600)), "1 h");
    }

    #[test]
    fn since_is_rfc_3339_or_unix_seconds_and_not_in_the_future() {
        let since = |v: serde_json::Value| RecoverEndpoint { since: v }.since(T);
        assert_eq!(since(serde_json::json!("2023-11-14T22:13:20Z")), Ok(T));
        assert_eq!(
            since(serde_json::json!(1_699_999_990)),
            Ok(Timestamp::from_millis(1_699_999_990_000))
        );
        assert!(since(serde_json::json!(1_700_000_001)).is_err());
        assert!(since(serde_json::json!(-1)).is_err());
        assert!(since(serde_json::json!("yesterday")).is_err());
        assert!(since(serde_json::json!(null)).is_err());
    }
}
