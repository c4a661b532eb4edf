//! Embeds the gateway in a plain tokio program, with no HTTP server at all.
//!
//! The program owns every part: a SQLite store in a temporary directory, a merchant issued with
//! [`SecretHasher::issue`], and a gateway wired by [`GatewayBuilder`]: the [`Gateway`] it calls,
//! and a worker running in a task until the program tells it to stop. It creates an order and a
//! UPI payment with the test VPA `success@paytm`, waits until the worker has settled it, prints
//! the payment as JSON on stdout and shuts the worker down gracefully.
//!
//! ```text
//! cargo run -p gateway-examples --bin embed_core
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use gateway_core::gateway::{CreateOrder, CreatePayment};
use gateway_core::merchant::SecretHasher;
use gateway_core::payment::{Payment, PaymentStatus};
use gateway_core::{
    Clock, Gateway, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock, WorkerConfig,
};
use tokio::sync::oneshot;

/// The key API secrets are hashed with; a real host reads it from its configuration.
const PEPPER: &str = "embed-core-example-pepper";

/// How long the program waits for the worker to settle the payment before giving up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A file rather than `sqlite::memory:` so that it can be inspected while the program runs.
    // It is removed when `dir` drops.
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = format!("sqlite://{}", dir.path().join("embedded.db").display());
    let store = gateway_store::open(&url)
        .await
        .with_context(|| format!("opening {url}"))?;

    // The pepper keys the stored hashes of API secrets; a real host reads it from its config.
    let hasher = SecretHasher::new(PEPPER);
    let (merchant_row, credentials) =
        hasher.issue("shop@example.com", "Example Shop", SystemClock.now());
    store.insert_merchant(&merchant_row).await?;

    // Test mode: a fixed 100 ms bank delay instead of the simulated 5–10 s.
    let bank = SimulatedBank::new(SimulationConfig {
        test_mode: true,
        test_delay: Duration::from_millis(100),
        ..SimulationConfig::default()
    });
    let built = GatewayBuilder::new(store)
        .pepper(PEPPER)
        .processor(Arc::new(bank))
        .build()?;
    let gateway = built.gateway();

    // The worker runs until `stop` fires, then finishes its in-flight jobs and returns.
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Arc::new(built.worker(WorkerConfig::default()));
    let worker_task = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));

    let outcome = pay(
        gateway.as_ref(),
        &credentials.api_key,
        &credentials.api_secret,
    )
    .await;

    let _ = stop.send(());
    worker_task.await.context("the worker task panicked")?;
    eprintln!("worker stopped");

    let payment = outcome?;
    println!("{}", serde_json::to_string_pretty(&payment)?);
    Ok(())
}

/// Creates an order and a UPI payment for it, then waits until the worker settles the payment.
async fn pay(gateway: &dyn Gateway, api_key: &str, api_secret: &str) -> anyhow::Result<Payment> {
    let merchant = gateway.authenticate(api_key, api_secret).await?;

    let order = gateway
        .create_order(
            merchant,
            CreateOrder {
                amount: 50_000,
                currency: Some("INR".into()),
                receipt: Some("receipt_embed_core".into()),
                notes: None,
            },
        )
        .await?;
    eprintln!(
        "created {} for {} {}",
        order.id, order.amount, order.currency
    );

    let payment = gateway
        .create_payment(merchant, CreatePayment::upi(order.id, "success@paytm"))
        .await?;
    eprintln!("created {} ({})", payment.id, payment.status.as_str());

    let settled = tokio::time::timeout(SETTLE_TIMEOUT, async {
        loop {
            let current = gateway.get_payment(merchant, &payment.id).await?;
            if current.status != PaymentStatus::Pending {
                return anyhow::Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .with_context(|| format!("{} was not settled within {SETTLE_TIMEOUT:?}", payment.id))??;

    if settled.status != PaymentStatus::Success {
        bail!(
            "{} settled as {} ({:?}), expected success",
            settled.id,
            settled.status.as_str(),
            settled.error_description
        );
    }
    eprintln!("{} settled: {}", settled.id, settled.status.as_str());
    Ok(settled)
}
