//! `gateway merchants create|list`: direct database administration.

use clap::Subcommand;
use gateway_core::merchant::SecretHasher;
use gateway_core::{Clock, SystemClock};

use crate::app;
use crate::config::Config;

/// Merchant administration.
#[derive(Debug, Subcommand)]
pub enum MerchantsCommand {
    /// Create a merchant and print its credentials (shown only this once).
    Create {
        /// Contact email (unique).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Replace a merchant's API secret and print the new one (shown only this once). Running
    /// gateways accept the new one at once and may accept the old one for up to a minute.
    Rotate {
        /// The merchant's id or email.
        merchant: String,
    },
    /// List merchants.
    List,
}

/// Runs a merchant command; `json` prints machine-readable output.
pub async fn run(config: Config, command: MerchantsCommand, json: bool) -> anyhow::Result<()> {
    let store = app::open_store(&config, app::Purpose::Administer).await?;
    match command {
        MerchantsCommand::Create { email, name } => {
            if !email.contains('@') || email.len() > 254 {
                anyhow::bail!("--email must be an email address");
            }
            if name.trim().is_empty() || name.len() > 255 {
                anyhow::bail!("--name must be 1 to 255 characters");
            }
            let (row, issued) = SecretHasher::new(config.pepper.clone()).issue(
                &email,
                name.trim(),
                SystemClock.now(),
            );
            store
                .insert_merchant(&row)
                .await
                .map_err(|e| anyhow::anyhow!("creating the merchant: {e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&issued)?);
            } else {
                println!("Merchant created. Store these now; the secret cannot be shown again.");
                println!("  id:             {}", issued.id);
                println!("  api_key:        {}", issued.api_key);
                println!("  api_secret:     {}", issued.api_secret);
                println!("  webhook_secret: {}", issued.webhook_secret);
            }
        }
        MerchantsCommand::Rotate { merchant } => {
            let (secret, hash) = SecretHasher::new(config.pepper.clone()).new_api_secret();
            let id = store
                .rotate_api_secret(&merchant, &hash, SystemClock.now())
                .await
                .map_err(|e| anyhow::anyhow!("rotating the secret of {merchant}: {e}"))?;
            if json {
                println!("{}", serde_json::json!({ "id": id, "api_secret": secret }));
            } else {
                println!("API secret rotated. Store it now; it cannot be shown again.");
                println!("  id:         {id}");
                println!("  api_secret: {secret}");
            }
        }
        MerchantsCommand::List => {
            let merchants = store
                .list_merchants()
                .await
                .map_err(|e| anyhow::anyhow!("listing merchants: {e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&merchants)?);
            } else {
                println!("{:<38} {:<24} {:<30} NAME", "ID", "API KEY", "EMAIL");
                for m in merchants {
                    println!(
                        "{:<38} {:<24} {:<30} {}",
                        m.id, m.api_key, m.email, m.business_name
                    );
                }
            }
        }
    }
    Ok(())
}
