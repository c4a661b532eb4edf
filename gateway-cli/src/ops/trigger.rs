//! `gateway trigger payment.success|payment.failed|refund.processed`: create the objects that
//! produce an event, to try an integration.

use std::time::Duration;

use clap::ValueEnum;
use serde_json::{Value, json};

use super::print;
use crate::api::{ApiArgs, ApiClient};

/// The events `trigger` can produce.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TriggerEvent {
    /// A UPI payment with the `success@paytm` test VPA.
    #[value(name = "payment.success")]
    PaymentSuccess,
    /// A UPI payment with the `failure@paytm` test VPA.
    #[value(name = "payment.failed")]
    PaymentFailed,
    /// A successful payment, then a full refund of it.
    #[value(name = "refund.processed")]
    RefundProcessed,
}

/// How long to wait for the payment to settle before refunding it.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

pub async fn run(args: &ApiArgs, event: TriggerEvent) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    let order = api
        .post(
            "/api/v1/orders",
            &json!({ "amount": 10_000, "currency": "INR", "receipt": "gateway trigger" }),
            None,
        )
        .await?;
    let vpa = match event {
        TriggerEvent::PaymentFailed => "failure@paytm",
        _ => "success@paytm",
    };
    let payment = api
        .post(
            "/api/v1/payments",
            &json!({ "order_id": order["id"], "method": "upi", "vpa": vpa }),
            None,
        )
        .await?;
    let mut created = json!({ "event": event.to_possible_value().map(|v| v.get_name().to_owned()), "order": order["id"], "payment": payment["id"] });
    if let TriggerEvent::RefundProcessed = event {
        let id = payment["id"].as_str().unwrap_or_default();
        let settled = wait_for_settlement(&api, id).await?;
        if settled["status"] != "success" {
            anyhow::bail!("payment {id} ended {}; cannot refund it", settled["status"]);
        }
        let refund = api
            .post(
                &format!("/api/v1/payments/{id}/refunds"),
                &json!({ "reason": "gateway trigger" }),
                None,
            )
            .await?;
        created["refund"] = refund["id"].clone();
    }
    print(args, &created, &["event", "order", "payment", "refund"]);
    Ok(())
}

async fn wait_for_settlement(api: &ApiClient, id: &str) -> anyhow::Result<Value> {
    let started = tokio::time::Instant::now();
    loop {
        let payment = api.get(&format!("/api/v1/payments/{id}")).await?;
        if payment["status"] != "pending" {
            return Ok(payment);
        }
        if started.elapsed() > SETTLE_LIMIT {
            anyhow::bail!(
                "payment {id} still pending after {} s; is a worker running?",
                SETTLE_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
