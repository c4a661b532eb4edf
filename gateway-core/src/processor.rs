//! The (simulated) bank: how long it takes and what it says.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::instrument::InstrumentVerdict;
use crate::payment::{Payment, PaymentMethod, PaymentOutcome};
use crate::refund::Refund;

/// Why the processor gave no answer this time. The worker retries the job with backoff (up to
/// its attempt limit; a timeout counts the same), so the payment or refund stays `pending`:
/// nothing is settled on a guess.
///
/// ```
/// use gateway_core::ProcessorError;
///
/// let error = ProcessorError::Unavailable("acquirer answered 502".into());
/// assert_eq!(error.to_string(), "processor unavailable: acquirer answered 502");
/// assert_eq!(ProcessorError::Timeout.to_string(), "processor timed out");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// The acquirer could not be reached, answered with an error, or asked to come back later.
    #[error("processor unavailable: {0}")]
    Unavailable(String),
    /// No answer within the worker's processor timeout.
    #[error("processor timed out")]
    Timeout,
}

/// Decides payment and refund outcomes. The gateway ships a simulation; a real acquirer
/// integration implements this (see the `acquirer` example).
///
/// Calls may be repeated for the same payment or refund: after a timeout, an error, or a worker
/// that died mid-call, the job runs again. An implementation must make a repeated call the same
/// request to its acquirer (send the payment's or refund's id as the acquirer's idempotency key),
/// so a retry can never charge or refund twice. A declined payment is an answer
/// ([`PaymentOutcome::Failed`]), not an error.
///
/// A processor that declines anything above ₹10,000.00, plugged into a gateway:
///
/// ```
/// use std::time::Duration;
///
/// use async_trait::async_trait;
/// use gateway_core::instrument::InstrumentVerdict;
/// use gateway_core::payment::{Payment, PaymentMethod, PaymentOutcome, PaymentStatus};
/// use gateway_core::refund::Refund;
/// use gateway_core::{Processor, ProcessorError};
///
/// struct Limit;
///
/// #[async_trait]
/// impl Processor for Limit {
///     fn payment_delay(&self, _: PaymentMethod) -> Duration { Duration::ZERO }
///     fn refund_delay(&self) -> Duration { Duration::ZERO }
///     async fn decide_payment(
///         &self,
///         payment: &Payment,
///         _: Option<InstrumentVerdict>,
///     ) -> Result<PaymentOutcome, ProcessorError> {
///         Ok(if payment.amount.minor() <= 1_000_000 {
///             PaymentOutcome::Succeeded
///         } else {
///             let (code, description) = ("OVER_LIMIT".into(), "Above ₹10,000".into());
///             PaymentOutcome::Failed { code, description }
///         })
///     }
///     async fn decide_refund(&self, _: &Refund) -> Result<bool, ProcessorError> { Ok(true) }
///     fn name(&self) -> &'static str { "limit" }
/// }
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(Limit))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
/// # use gateway_core::gateway::{CreateOrder, CreatePayment};
/// # let order = CreateOrder { amount: 2_000_000, currency: None, receipt: None, notes: None };
/// # let order = gateway.create_order(merchant, order).await?;
/// # let payment = CreatePayment::upi(order.id, "customer@okbank");
/// // `gateway` was built with `.processor(Arc::new(Limit))`; a ₹20,000.00 payment is declined.
/// let payment = gateway.create_payment(merchant, payment).await?;
/// worker.clone().run_once().await;
/// let payment = gateway.get_payment(merchant, &payment.id).await?;
/// assert_eq!(payment.status, PaymentStatus::Failed);
/// assert_eq!(payment.error_code.as_deref(), Some("OVER_LIMIT"));
/// assert_eq!(gateway.health().await.processor, "limit");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[async_trait]
pub trait Processor: Send + Sync + 'static {
    /// How long after creation a payment is settled.
    fn payment_delay(&self, method: PaymentMethod) -> Duration;
    /// How long after creation a refund is settled.
    fn refund_delay(&self) -> Duration;
    /// The bank's answer for `payment`; a test instrument's `verdict` always wins.
    async fn decide_payment(
        &self,
        payment: &Payment,
        verdict: Option<InstrumentVerdict>,
    ) -> Result<PaymentOutcome, ProcessorError>;
    /// Whether `refund` goes through.
    async fn decide_refund(&self, refund: &Refund) -> Result<bool, ProcessorError>;
    /// Captures an authorised `payment` (already marked captured) at the acquirer. The gateway
    /// asks while the merchant's capture request waits, within a timeout, and records the capture
    /// only if this succeeds; an error or a timeout answers 503 and changes nothing, and the
    /// merchant may ask again (so send the payment's id as the idempotency key). The default,
    /// for acquirers that capture with the authorisation (the simulated bank), does nothing.
    async fn capture_payment(&self, payment: &Payment) -> Result<(), ProcessorError> {
        let _ = payment;
        Ok(())
    }
    /// What decides outcomes, as `/health` reports it and start-up logs it (e.g. `simulated`),
    /// so nobody takes a simulation for a real acquirer.
    fn name(&self) -> &'static str {
        "custom"
    }
}

/// Settings of the simulated bank (the reference's test-mode variables).
///
/// ```
/// use std::time::Duration;
///
/// use gateway_core::payment::PaymentMethod;
/// use gateway_core::{Processor, SimulatedBank, SimulationConfig};
///
/// // Test mode: every payment without a test instrument fails after 200 ms.
/// let config = SimulationConfig {
///     test_mode: true,
///     test_delay: Duration::from_millis(200),
///     test_success: false,
///     ..SimulationConfig::default()
/// };
/// let bank = SimulatedBank::new(config);
/// assert_eq!(bank.payment_delay(PaymentMethod::Card), Duration::from_millis(200));
/// assert_eq!(bank.refund_delay(), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationConfig {
    /// `TEST_MODE`: fixed delay and outcome instead of random ones.
    pub test_mode: bool,
    /// `TEST_PROCESSING_DELAY` (ms) in test mode.
    pub test_delay: Duration,
    /// `TEST_PAYMENT_SUCCESS` in test mode.
    pub test_success: bool,
    /// Whether test instruments (`success@paytm`, test cards) decide their own outcome. Off in
    /// production, where they are ordinary instruments.
    pub test_instruments: bool,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        Self {
            test_mode: false,
            test_delay: Duration::from_millis(1000),
            test_success: true,
            test_instruments: true,
        }
    }
}

/// The reference's bank: 5–10 s per payment (UPI 90 %, card 95 % success), 3–5 s per refund
/// (always processed); in test mode a fixed delay and outcome. Randomness comes from a seedable
/// RNG so tests are deterministic.
///
/// ```
/// use gateway_core::clock::Timestamp;
/// use gateway_core::ids::{MerchantId, OrderId};
/// use gateway_core::instrument::{InstrumentVerdict, validate_vpa};
/// use gateway_core::money::{Amount, Currency};
/// use gateway_core::payment::{Payment, PaymentMethod, PaymentOutcome};
/// use gateway_core::{Processor, SimulatedBank, SimulationConfig};
///
/// let bank = SimulatedBank::seeded(SimulationConfig::default(), 42);
/// assert_eq!(bank.name(), "simulated");
/// let delay = bank.payment_delay(PaymentMethod::Upi).as_secs();
/// assert!((5..=10).contains(&delay), "{delay}");
///
/// // A test instrument's verdict decides; otherwise UPI succeeds 90 % of the time.
/// let vpa = validate_vpa("failure@paytm").unwrap();
/// let amount = Amount::new(50_000).unwrap();
/// let (merchant, order) = (MerchantId::generate(), OrderId::generate());
/// let now = Timestamp::from_millis(0);
/// let payment = Payment::new_pending(merchant, order, amount, Currency::INR, vpa, now);
/// let outcome = bank.outcome(&payment, Some(InstrumentVerdict::Decline));
/// assert!(matches!(outcome, PaymentOutcome::Failed { .. }));
/// ```
#[derive(Debug)]
pub struct SimulatedBank {
    config: SimulationConfig,
    rng: Mutex<StdRng>,
}

impl SimulatedBank {
    /// A bank with randomness from the OS.
    pub fn new(config: SimulationConfig) -> Self {
        Self {
            config,
            rng: Mutex::new(rand::make_rng()),
        }
    }

    /// A bank whose random choices are reproducible.
    pub fn seeded(config: SimulationConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut rng)
    }
}

fn failed(description: &str) -> PaymentOutcome {
    PaymentOutcome::Failed {
        code: "PAYMENT_FAILED".into(),
        description: description.into(),
    }
}

impl SimulatedBank {
    /// The simulation's answer for `payment`: a test instrument's `verdict` (where test
    /// instruments are honoured), else the test-mode outcome, else the reference's success
    /// rates (UPI 90 %, card 95 %).
    pub fn outcome(&self, payment: &Payment, verdict: Option<InstrumentVerdict>) -> PaymentOutcome {
        let verdict = verdict.filter(|_| self.config.test_instruments);
        let succeeded = match verdict {
            Some(InstrumentVerdict::Succeed) => true,
            Some(InstrumentVerdict::Decline) => false,
            None if self.config.test_mode => self.config.test_success,
            None => {
                let rate = if payment.method == PaymentMethod::Upi {
                    0.90
                } else {
                    0.95
                };
                self.with_rng(|r| r.random_bool(rate))
            }
        };
        if succeeded {
            PaymentOutcome::Succeeded
        } else if payment.method == PaymentMethod::Card {
            failed("Card was declined by the issuing bank")
        } else {
            failed("Payment processing failed")
        }
    }
}

#[async_trait]
impl Processor for SimulatedBank {
    fn payment_delay(&self, _method: PaymentMethod) -> Duration {
        if self.config.test_mode {
            self.config.test_delay
        } else {
            Duration::from_millis(self.with_rng(|r| r.random_range(5_000..=10_000)))
        }
    }

    fn refund_delay(&self) -> Duration {
        if self.config.test_mode {
            self.config.test_delay
        } else {
            Duration::from_millis(self.with_rng(|r| r.random_range(3_000..=5_000)))
        }
    }

    async fn decide_payment(
        &self,
        payment: &Payment,
        verdict: Option<InstrumentVerdict>,
    ) -> Result<PaymentOutcome, ProcessorError> {
        Ok(self.outcome(payment, verdict))
    }

    async fn decide_refund(&self, _refund: &Refund) -> Result<bool, ProcessorError> {
        Ok(true)
    }

    fn name(&self) -> &'static str {
        "simulated"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::OrderId;
    use crate::instrument::StoredInstrument;
    use crate::money::{Amount, Currency};

    fn upi() -> Payment {
        Payment::new_pending(
            crate::merchant::test_merchant::ID,
            OrderId::generate(),
            Amount::new(100).unwrap(),
            Currency::INR,
            StoredInstrument::Upi { vpa: "a@b".into() },
            Timestamp::from_millis(0),
        )
    }

    #[test]
    fn instruments_decide_their_own_outcome_even_against_test_mode() {
        let bank = SimulatedBank::seeded(
            SimulationConfig {
                test_mode: true,
                test_success: false,
                ..Default::default()
            },
            1,
        );
        assert_eq!(
            bank.outcome(&upi(), Some(InstrumentVerdict::Succeed)),
            PaymentOutcome::Succeeded
        );
        assert_ne!(bank.outcome(&upi(), None), PaymentOutcome::Succeeded);
        let bank = SimulatedBank::seeded(
            SimulationConfig {
                test_mode: true,
                ..Default::default()
            },
            1,
        );
        assert_ne!(
            bank.outcome(&upi(), Some(InstrumentVerdict::Decline)),
            PaymentOutcome::Succeeded
        );
        assert_eq!(bank.outcome(&upi(), None), PaymentOutcome::Succeeded);
    }

    #[test]
    fn without_test_instruments_a_test_vpa_is_an_ordinary_instrument() {
        let bank = SimulatedBank::seeded(
            SimulationConfig {
                test_instruments: false,
                ..Default::default()
            },
            7,
        );
        let declined = (0..200)
            .filter(|_| {
                bank.outcome(&upi(), Some(InstrumentVerdict::Succeed)) != PaymentOutcome::Succeeded
            })
            .count();
        assert!(
            (5..=40).contains(&declined),
            "the bank's own ~10% failure rate applies: {declined}/200 failed"
        );
        let succeeded = (0..200)
            .filter(|_| {
                bank.outcome(&upi(), Some(InstrumentVerdict::Decline)) == PaymentOutcome::Succeeded
            })
            .count();
        assert!(succeeded > 150, "{succeeded}/200 succeeded");
    }

    #[test]
    fn test_mode_uses_the_configured_delay() {
        let bank = SimulatedBank::seeded(
            SimulationConfig {
                test_mode: true,
                test_delay: Duration::from_millis(7),
                test_success: true,
                ..Default::default()
            },
            1,
        );
        assert_eq!(
            bank.payment_delay(PaymentMethod::Card),
            Duration::from_millis(7)
        );
        assert_eq!(bank.refund_delay(), Duration::from_millis(7));
    }

    #[test]
    fn outside_test_mode_delays_and_success_rates_follow_the_reference() {
        let bank = SimulatedBank::seeded(SimulationConfig::default(), 42);
        for _ in 0..100 {
            let d = bank.payment_delay(PaymentMethod::Upi).as_millis();
            assert!((5_000..=10_000).contains(&d));
            let r = bank.refund_delay().as_millis();
            assert!((3_000..=5_000).contains(&r));
        }
        let successes = (0..2_000)
            .filter(|_| bank.outcome(&upi(), None) == PaymentOutcome::Succeeded)
            .count();
        assert!(
            (1_700..=1_900).contains(&successes),
            "UPI success ~90%, got {successes}/2000"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_choices() {
        let a = SimulatedBank::seeded(SimulationConfig::default(), 7);
        let b = SimulatedBank::seeded(SimulationConfig::default(), 7);
        let da: Vec<_> = (0..10)
            .map(|_| a.payment_delay(PaymentMethod::Upi))
            .collect();
        let db: Vec<_> = (0..10)
            .map(|_| b.payment_delay(PaymentMethod::Upi))
            .collect();
        assert_eq!(da, db);
    }
}
