//! `gateway payments get|list|capture`.

use clap::Subcommand;
use serde_json::json;

use super::{Paging, checked_id, print, query};
use crate::api::{ApiArgs, ApiClient};

const COLUMNS: &[&str] = &[
    "id",
    "order_id",
    "amount",
    "method",
    "status",
    "captured",
    "error_code",
    "created_at",
];

/// Payments.
#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Show one payment.
    Get {
        /// The payment id.
        id: String,
    },
    /// List payments, newest first.
    List {
        /// Only `pending`, `success` or `failed`.
        #[arg(long)]
        status: Option<String>,
        /// Only payments of this order.
        #[arg(long)]
        order_id: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Capture a successful payment (its full amount).
    Capture {
        /// The payment id.
        id: String,
        /// Idempotency key.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

pub async fn run(args: &ApiArgs, command: PaymentsCommand) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    let value = match command {
        PaymentsCommand::Get { id } => {
            api.get(&format!("/api/v1/payments/{}", checked_id(&id)?))
                .await?
        }
        PaymentsCommand::List {
            status,
            order_id,
            paging,
        } => {
            let q = query(
                paging.limit,
                paging.offset,
                &[
                    ("status", status.as_deref()),
                    ("order_id", order_id.as_deref()),
                ],
            );
            api.get(&format!("/api/v1/payments{q}")).await?
        }
        PaymentsCommand::Capture {
            id,
            idempotency_key,
        } => {
            api.post(
                &format!("/api/v1/payments/{}/capture", checked_id(&id)?),
                &json!({}),
                idempotency_key.as_deref(),
            )
            .await?
        }
    };
    print(args, &value, COLUMNS);
    Ok(())
}
