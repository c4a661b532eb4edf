//! `gateway refunds create|get|list`.

use clap::Subcommand;
use serde_json::json;

use super::{Paging, checked_id, print, query};
use crate::api::{ApiArgs, ApiClient};

const COLUMNS: &[&str] = &[
    "id",
    "payment_id",
    "amount",
    "reason",
    "status",
    "created_at",
    "processed_at",
];

/// Refunds.
#[derive(Debug, Subcommand)]
pub enum RefundsCommand {
    /// Refund a successful payment, fully or partly.
    Create {
        /// The payment to refund.
        payment_id: String,
        /// Amount in minor units; the whole payment if omitted.
        #[arg(long)]
        amount: Option<i64>,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Idempotency key, so retrying this command never refunds twice.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show one refund.
    Get {
        /// The refund id.
        id: String,
    },
    /// List refunds, newest first.
    List {
        /// Only refunds of this payment.
        #[arg(long)]
        payment_id: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

pub async fn run(args: &ApiArgs, command: RefundsCommand) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    let value = match command {
        RefundsCommand::Create {
            payment_id,
            amount,
            reason,
            idempotency_key,
        } => {
            let body = json!({ "amount": amount, "reason": reason });
            let path = format!("/api/v1/payments/{}/refunds", checked_id(&payment_id)?);
            api.post(&path, &body, idempotency_key.as_deref()).await?
        }
        RefundsCommand::Get { id } => {
            api.get(&format!("/api/v1/refunds/{}", checked_id(&id)?))
                .await?
        }
        RefundsCommand::List { payment_id, paging } => {
            api.get(&format!(
                "/api/v1/refunds{}",
                query(
                    paging.limit,
                    paging.offset,
                    &[("payment_id", payment_id.as_deref())]
                )
            ))
            .await?
        }
    };
    print(args, &value, COLUMNS);
    Ok(())
}
