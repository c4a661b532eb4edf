//! Webhook deliveries (the reference's `webhook_logs`), their attempts and the retry schedule.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::{GatewayError, Refusal};
use crate::event::EventType;
use crate::ids::{DeliveryId, EndpointId, EventId, MerchantId};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt got a 2xx. Final (until a manual retry).
    Success,
    /// Every attempt failed. Final (until a manual retry).
    Failed,
}

impl DeliveryStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "success" => Self::Success,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Every state, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Success, Self::Failed];

    /// Every transition: `(from, why, to)`.
    pub const TRANSITIONS: [(Self, &'static str, Self); 6] = [
        (Self::Pending, "2xx answer", Self::Success),
        (
            Self::Pending,
            "attempt failed, retry scheduled",
            Self::Pending,
        ),
        (Self::Pending, "last attempt failed", Self::Failed),
        (Self::Pending, "manual retry", Self::Pending),
        (Self::Success, "manual retry", Self::Pending),
        (Self::Failed, "manual retry", Self::Pending),
    ];

    /// Decides whether a delivery may be retried by hand: not while an attempt is running.
    pub fn admit_manual_retry(attempt_running: bool) -> Result<(), Refusal> {
        if attempt_running {
            Err(Refusal::DeliveryInFlight)
        } else {
            Ok(())
        }
    }
}

/// One webhook delivery: an event on its way to a merchant's endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// UUID; also the `webhook-id` header.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub id: DeliveryId,
    /// Whose delivery; never shown.
    #[serde(skip)]
    pub merchant_id: MerchantId,
    /// The endpoint it goes to (`null` for deliveries made before endpoints existed to a
    /// merchant without a webhook URL).
    pub endpoint_id: Option<EndpointId>,
    /// The event it carries (`GET /api/v1/events/{id}`); `null` for deliveries made before
    /// events were recorded.
    pub event_id: Option<EventId>,
    /// Event name, e.g. `payment.success`.
    pub event: String,
    /// The exact JSON sent.
    pub payload: serde_json::Value,
    /// Lifecycle state.
    pub status: DeliveryStatus,
    /// Attempts made so far (reset by a manual retry).
    pub attempts: i32,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the latest attempt happened.
    pub last_attempt_at: Option<Timestamp>,
    /// When the next attempt is due, while pending.
    pub next_retry_at: Option<Timestamp>,
    /// The latest attempt's HTTP status, if it got one.
    pub response_code: Option<i32>,
    /// The latest attempt's response body, capped.
    pub response_body: Option<String>,
    /// The latest attempt's duration.
    pub duration_ms: Option<i64>,
    /// The latest attempt's transport error, if any.
    pub error: Option<String>,
}

/// One attempt at a delivery, as logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// The delivery.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub delivery_id: DeliveryId,
    /// 1-based; a manual retry starts the count again at 1 (the log keeps every attempt).
    pub attempt: i32,
    /// When the request was sent.
    pub attempted_at: Timestamp,
    /// HTTP status, if a response came.
    pub response_code: Option<i32>,
    /// Response body, capped at [`RESPONSE_BODY_CAP`] bytes.
    pub response_body: Option<String>,
    /// How long the attempt took.
    pub duration_ms: i64,
    /// Transport error (timeout, refused, …), if any.
    pub error: Option<String>,
    /// The delivery's status after this attempt.
    pub status: DeliveryStatus,
    /// When the next attempt is due, if one is.
    pub next_retry_at: Option<Timestamp>,
}

/// A delivery with its attempt log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryDetail {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: WebhookDelivery,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// How much of a response body is kept.
pub const RESPONSE_BODY_CAP: usize = 4096;

/// When to try again after each failed attempt.
///
/// ```
/// use std::time::Duration;
///
/// use gateway_core::webhook::RetrySchedule;
///
/// let schedule = RetrySchedule::production();
/// assert_eq!(schedule.max_attempts(), 5);
/// assert_eq!(schedule.delay_after(1), Some(Duration::from_secs(60)));
/// assert_eq!(schedule.delay_after(5), None); // the last attempt: the delivery fails
///
/// // A 429 with `Retry-After: 10` is waited for, not the scheduled 5 minutes…
/// let asked = Some(Duration::from_secs(10));
/// assert_eq!(schedule.wait_after(2, Some(429), asked), Some(Duration::from_secs(10)));
/// // …but never longer than the schedule's longest wait (2 h).
/// let greedy = Some(Duration::from_secs(86_400));
/// assert_eq!(schedule.wait_after(2, Some(503), greedy), Some(Duration::from_secs(7_200)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    intervals: Vec<Duration>,
}

impl RetrySchedule {
    /// The reference's schedule: immediately, then after 1 m, 5 m, 30 m and 2 h (5 attempts).
    pub fn production() -> Self {
        Self::new([60, 300, 1_800, 7_200].map(Duration::from_secs).to_vec())
    }

    /// The reference's test schedule (`WEBHOOK_RETRY_INTERVALS_TEST`): 5, 10, 15, 20 s.
    pub fn test() -> Self {
        Self::new([5, 10, 15, 20].map(Duration::from_secs).to_vec())
    }

    /// A schedule waiting `intervals[n-1]` after failed attempt `n`; `intervals.len() + 1` attempts in all.
    pub fn new(intervals: Vec<Duration>) -> Self {
        Self { intervals }
    }

    /// Total attempts before a delivery is marked failed.
    pub fn max_attempts(&self) -> i32 {
        i32::try_from(self.intervals.len() + 1).unwrap_or(i32::MAX)
    }

    /// The wait after failed attempt `attempt` (1-based), or `None` if it was the last.
    pub fn delay_after(&self, attempt: i32) -> Option<Duration> {
        usize::try_from(attempt)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.intervals.get(i).copied())
    }

    /// The wait before the next attempt after failed `attempt`, `None` when none is left. An
    /// endpoint that answered `429` or `503` with `Retry-After` (`asked`) gets the wait it asked
    /// for instead of the schedule's, at least 1 s and at most the schedule's longest wait, so
    /// an endpoint cannot stretch a delivery beyond the schedule nor make it hammer.
    pub fn wait_after(
        &self,
        attempt: i32,
        status: Option<u16>,
        asked: Option<Duration>,
    ) -> Option<Duration> {
        let scheduled = self.delay_after(attempt)?;
        let longest = self.intervals.iter().max().copied().unwrap_or(scheduled);
        match (status, asked) {
            (Some(429 | 503), Some(asked)) => {
                Some(asked.clamp(Duration::from_secs(1), longest.max(Duration::from_secs(1))))
            }
            _ => Some(scheduled),
        }
    }
}

/// Caps a response body at [`RESPONSE_BODY_CAP`] bytes on a character boundary.
pub fn cap_body(body: &str) -> String {
    if body.len() <= RESPONSE_BODY_CAP {
        return body.to_owned();
    }
    let mut end = RESPONSE_BODY_CAP;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}

/// The webhook settings shown to a merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookConfig {
    /// Where deliveries go; `null` disables webhooks.
    pub webhook_url: Option<String>,
    /// The signing secret.
    pub webhook_secret: String,
}

/// The answer to a manual retry or a test event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryScheduled {
    /// The delivery.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub id: DeliveryId,
    /// Always `pending`.
    pub status: DeliveryStatus,
    /// Human text.
    pub message: String,
}

impl crate::store::DeliveryFilter {
    /// The delivery list's filters as a client gives them: an endpoint id (`we_…`) and an event
    /// type, each optional; anything else is a 400.
    ///
    /// ```
    /// use gateway_core::event::EventType;
    /// use gateway_core::store::DeliveryFilter;
    ///
    /// // `GET /api/v1/webhooks/deliveries?event=payment.failed`
    /// let filter = DeliveryFilter::parse(None, Some("payment.failed"))?;
    /// assert_eq!((filter.endpoint_id, filter.event), (None, Some(EventType::PaymentFailed)));
    ///
    /// assert!(DeliveryFilter::parse(Some("pay_1234567890abcdef"), None).is_err()); // not `we_…`
    /// assert!(DeliveryFilter::parse(None, Some("payment.refunded")).is_err());
    /// # Ok::<(), gateway_core::GatewayError>(())
    /// ```
    pub fn parse(endpoint_id: Option<&str>, event: Option<&str>) -> Result<Self, GatewayError> {
        let endpoint_id = endpoint_id
            .map(|id| {
                EndpointId::parse(id).ok_or_else(|| {
                    GatewayError::bad_request("endpoint_id must be a webhook endpoint id (we_…)")
                })
            })
            .transpose()?;
        let event = event
            .map(|name| {
                EventType::parse(name)
                    .ok_or_else(|| GatewayError::bad_request("event is not a known event type"))
            })
            .transpose()?;
        Ok(Self { endpoint_id, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_on_429_or_503_replaces_the_scheduled_wait_within_the_schedule() {
        let schedule = RetrySchedule::production();
        let asked = |s| Some(Duration::from_secs(s));
        assert_eq!(
            schedule.wait_after(1, Some(503), asked(7)),
            asked(7),
            "honoured"
        );
        assert_eq!(schedule.wait_after(2, Some(429), asked(7)), asked(7));
        assert_eq!(
            schedule.wait_after(1, Some(429), asked(86_400)),
            asked(7_200),
            "at most the longest wait"
        );
        assert_eq!(schedule.wait_after(1, Some(503), asked(0)), asked(1));
        assert_eq!(
            schedule.wait_after(1, Some(500), asked(7)),
            asked(60),
            "only 429 and 503"
        );
        assert_eq!(schedule.wait_after(1, Some(503), None), asked(60));
        assert_eq!(
            schedule.wait_after(5, Some(503), asked(7)),
            None,
            "no attempt left"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        use crate::transport::parse_retry_after;
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn the_production_schedule_is_1m_5m_30m_2h_then_stop() {
        let s = RetrySchedule::production();
        let waits: Vec<_> = (1..=5)
            .map(|n| s.delay_after(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            waits,
            vec![Some(60), Some(300), Some(1_800), Some(7_200), None]
        );
        assert_eq!(s.max_attempts(), 5);
        assert_eq!(s.delay_after(0), None);
    }

    #[test]
    fn the_test_schedule_is_5_10_15_20_seconds() {
        let s = RetrySchedule::test();
        let waits: Vec<_> = (1..=5)
            .map(|n| s.delay_after(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(waits, vec![Some(5), Some(10), Some(15), Some(20), None]);
    }

    #[test]
    fn bodies_are_capped_on_a_char_boundary() {
        let long = "é".repeat(RESPONSE_BODY_CAP);
        let capped = cap_body(&long);
        assert!(capped.len() <= RESPONSE_BODY_CAP && capped.len() >= RESPONSE_BODY_CAP - 1);
        assert_eq!(cap_body("ok"), "ok");
    }
}
