//! Aggregates for the dashboard's overview: payments over time by status, success rate,
//! refunds and webhook health, for one merchant and currency over a fixed window.
//!
//! The store counts and sums in SQL, grouped by bucket index; [`PaymentStats::assemble`] turns
//! those rows into a zero-filled series, so both backends answer the same shape.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::money::Currency;
use crate::payment::PaymentStatus;
use crate::webhook::DeliveryStatus;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Which window the overview covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StatsRange {
    /// The last 24 hours, by hour.
    #[default]
    #[serde(rename = "24h")]
    Last24Hours,
    /// The last 30 days, by UTC day.
    #[serde(rename = "30d")]
    Last30Days,
}

impl StatsRange {
    /// Parses `24h` or `30d`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "24h" => Some(Self::Last24Hours),
            "30d" => Some(Self::Last30Days),
            _ => None,
        }
    }

    /// The window ending with the bucket that holds `now`.
    pub fn window(self, now: Timestamp) -> StatsWindow {
        let (bucket_ms, buckets) = match self {
            Self::Last24Hours => (HOUR_MS, 24),
            Self::Last30Days => (DAY_MS, 30),
        };
        let current = now.as_millis().div_euclid(bucket_ms) * bucket_ms;
        StatsWindow {
            from: Timestamp::from_millis(current - (buckets - 1) * bucket_ms),
            bucket_ms,
            buckets,
        }
    }
}

/// A window of equal buckets: `[from, from + buckets × bucket_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsWindow {
    /// Start of the first bucket.
    pub from: Timestamp,
    /// Bucket width in milliseconds.
    pub bucket_ms: i64,
    /// How many buckets.
    pub buckets: i64,
}

impl StatsWindow {
    /// The end of the window (exclusive).
    pub fn to(&self) -> Timestamp {
        Timestamp::from_millis(self.from.as_millis() + self.buckets * self.bucket_ms)
    }
}

/// One group the store counted: payments of one status in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentBucketRow {
    /// Bucket index from the window's start.
    pub bucket: i64,
    /// The payments' status.
    pub status: PaymentStatus,
    /// How many.
    pub count: i64,
    /// Their summed amount in minor units.
    pub amount: i64,
}

/// Everything the store counts for one window, before assembly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsRows {
    /// Payments created in the window, grouped by bucket and status.
    pub payments: Vec<PaymentBucketRow>,
    /// Refunds created in the window.
    pub refunds: RefundTotals,
    /// Webhook deliveries created in the window, by status.
    pub webhooks: WebhookHealth,
}

/// A count and a sum of minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountAmount {
    /// How many payments.
    pub count: i64,
    /// Their amount in minor units.
    pub amount: i64,
}

impl CountAmount {
    fn add(&mut self, count: i64, amount: i64) {
        self.count = self.count.saturating_add(count);
        self.amount = self.amount.saturating_add(amount);
    }
}

/// Payments by status: one bucket of the series, or the window's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ByStatus {
    /// Succeeded (captured or not).
    pub success: CountAmount,
    /// Failed.
    pub failed: CountAmount,
    /// Still with the bank.
    pub pending: CountAmount,
}

impl ByStatus {
    fn slot(&mut self, status: PaymentStatus) -> &mut CountAmount {
        match status {
            PaymentStatus::Success => &mut self.success,
            PaymentStatus::Failed => &mut self.failed,
            PaymentStatus::Pending => &mut self.pending,
        }
    }
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsBucket {
    /// When the bucket starts (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    /// Payments created in it, by their current status.
    #[serde(flatten)]
    pub payments: ByStatus,
}

/// Refunds created in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundTotals {
    /// How many, in any status.
    pub count: i64,
    /// Their amount in minor units, in any status.
    pub amount: i64,
    /// The amount of those already processed.
    pub processed_amount: i64,
}

/// Webhook deliveries created in the window, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookHealth {
    /// An attempt is due.
    pub pending: i64,
    /// Delivered.
    pub success: i64,
    /// Every attempt failed.
    pub failed: i64,
}

impl WebhookHealth {
    /// Adds `count` deliveries of `status`.
    pub fn add(&mut self, status: DeliveryStatus, count: i64) {
        let slot = match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Success => &mut self.success,
            DeliveryStatus::Failed => &mut self.failed,
        };
        *slot = slot.saturating_add(count);
    }
}

/// `GET /api/v1/stats`: the overview of one merchant's payments in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentStats {
    /// The window asked for.
    pub range: StatsRange,
    /// `hour` or `day`.
    #[cfg_attr(feature = "openapi", schema(examples("hour")))]
    pub bucket: &'static str,
    /// The currency counted; payments in others are left out.
    pub currency: Currency,
    /// Start of the window (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Timestamp,
    /// End of the window, exclusive: the end of the current hour or day.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub to: Timestamp,
    /// Every bucket, oldest first, zero-filled.
    pub series: Vec<StatsBucket>,
    /// The whole window by status.
    pub totals: ByStatus,
    /// Successful ÷ (successful + failed) payments, or `null` when none has ended.
    pub success_rate: Option<f64>,
    /// Refunds created in the window.
    pub refunds: RefundTotals,
    /// Webhook deliveries created in the window.
    pub webhooks: WebhookHealth,
}

impl PaymentStats {
    /// The overview from the store's grouped rows; rows outside the window are ignored.
    pub fn assemble(
        range: StatsRange,
        currency: Currency,
        window: StatsWindow,
        rows: StatsRows,
    ) -> Self {
        let mut series: Vec<StatsBucket> = (0..window.buckets)
            .map(|i| StatsBucket {
                start: Timestamp::from_millis(window.from.as_millis() + i * window.bucket_ms),
                payments: ByStatus::default(),
            })
            .collect();
        let mut totals = ByStatus::default();
        for row in rows.payments {
            let Some(bucket) = usize::try_from(row.bucket)
                .ok()
                .and_then(|i| series.get_mut(i))
            else {
                continue;
            };
            bucket.payments.slot(row.status).add(row.count, row.amount);
            totals.slot(row.status).add(row.count, row.amount);
        }
        let ended = totals.success.count + totals.failed.count;
        let success_rate = (ended > 0).then(|| {
            // Four decimals are plenty for a percentage with two.
            let rate = totals.success.count as f64 / ended as f64;
            (rate * 10_000.0).round() / 10_000.0
        });
        Self {
            range,
            bucket: match range {
                StatsRange::Last24Hours => "hour",
                StatsRange::Last30Days => "day",
            },
            currency,
            from: window.from,
            to: window.to(),
            series,
            totals,
            success_rate,
            refunds: rows.refunds,
            webhooks: rows.webhooks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("valid time");
        Timestamp::from_millis(t.unix_timestamp() * 1000)
    }

    #[test]
    fn the_24h_window_ends_with_the_current_hour() {
        let window = StatsRange::Last24Hours.window(at("2026-11-26T14:35:10Z"));
        assert_eq!(window.from, at("2026-11-25T15:00:00Z"));
        assert_eq!(window.to(), at("2026-11-26T15:00:00Z"));
        assert_eq!(window.buckets, 24);
    }

    #[test]
    fn the_30d_window_ends_with_the_current_utc_day() {
        let window = StatsRange::Last30Days.window(at("2026-11-26T23:59:59Z"));
        assert_eq!(window.from, at("2026-10-28T00:00:00Z"));
        assert_eq!(window.to(), at("2026-11-27T00:00:00Z"));
    }

    #[test]
    fn assembly_zero_fills_sums_totals_and_drops_rows_outside_the_window() {
        let range = StatsRange::Last24Hours;
        let window = range.window(at("2026-11-26T14:35:10Z"));
        let row = |bucket, status, count, amount| PaymentBucketRow {
            bucket,
            status,
            count,
            amount,
        };
        let rows = StatsRows {
            payments: vec![
                row(23, PaymentStatus::Success, 3, 150_000),
                row(23, PaymentStatus::Failed, 1, 50_000),
                row(0, PaymentStatus::Pending, 2, 200),
                row(24, PaymentStatus::Success, 9, 9),
                row(-1, PaymentStatus::Success, 9, 9),
            ],
            ..StatsRows::default()
        };
        let stats = PaymentStats::assemble(range, Currency::INR, window, rows);
        assert_eq!(stats.series.len(), 24);
        assert_eq!(stats.series[0].start, window.from);
        assert_eq!(stats.series[0].payments.pending.amount, 200);
        assert_eq!(stats.series[23].payments.success.count, 3);
        assert_eq!(stats.series[12].payments, ByStatus::default());
        assert_eq!(stats.totals.success.amount, 150_000);
        assert_eq!(stats.totals.failed.count, 1);
        assert_eq!(stats.success_rate, Some(0.75));
        assert_eq!(stats.bucket, "hour");
    }

    #[test]
    fn no_ended_payment_means_no_success_rate() {
        let range = StatsRange::Last30Days;
        let window = range.window(Timestamp::from_millis(0));
        let stats = PaymentStats::assemble(range, Currency::INR, window, StatsRows::default());
        assert_eq!(stats.success_rate, None);
        assert_eq!(stats.series.len(), 30);
    }
}
