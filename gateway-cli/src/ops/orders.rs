//! `gateway orders create|get|list`.

use clap::Subcommand;
use serde_json::json;

use super::{Paging, checked_id, print, query};
use crate::api::{ApiArgs, ApiClient};

const COLUMNS: &[&str] = &[
    "id",
    "amount",
    "currency",
    "receipt",
    "status",
    "created_at",
];

/// Orders.
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Create an order.
    Create {
        /// Amount in minor units (paise), at least 100.
        #[arg(long)]
        amount: i64,
        /// ISO 4217 currency.
        #[arg(long, default_value = "INR")]
        currency: String,
        /// Your own reference.
        #[arg(long)]
        receipt: Option<String>,
        /// Idempotency key, so retrying this command never creates two orders.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show one order.
    Get {
        /// The order id.
        id: String,
    },
    /// List orders, newest first.
    List {
        #[command(flatten)]
        paging: Paging,
    },
}

pub async fn run(args: &ApiArgs, command: OrdersCommand) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    let value = match command {
        OrdersCommand::Create {
            amount,
            currency,
            receipt,
            idempotency_key,
        } => {
            let body = json!({ "amount": amount, "currency": currency, "receipt": receipt });
            api.post("/api/v1/orders", &body, idempotency_key.as_deref())
                .await?
        }
        OrdersCommand::Get { id } => {
            api.get(&format!("/api/v1/orders/{}", checked_id(&id)?))
                .await?
        }
        OrdersCommand::List { paging } => {
            api.get(&format!(
                "/api/v1/orders{}",
                query(paging.limit, paging.offset, &[])
            ))
            .await?
        }
    };
    print(args, &value, COLUMNS);
    Ok(())
}
