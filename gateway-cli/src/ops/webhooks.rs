//! `gateway webhooks list|get|retry|test|config|endpoints`.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::{Paging, checked_id, print, query};
use crate::api::{ApiArgs, ApiClient, ApiError};

const COLUMNS: &[&str] = &[
    "id",
    "event",
    "status",
    "attempts",
    "response_code",
    "last_attempt_at",
    "next_retry_at",
];

/// Webhook deliveries and settings.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List deliveries, newest first.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one delivery with its attempts.
    Get {
        /// The delivery id.
        id: String,
    },
    /// Retry one delivery now, or every failed one with --failed.
    Retry {
        /// The delivery id.
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<String>,
        /// Retry every delivery whose status is `failed`.
        #[arg(long)]
        failed: bool,
        /// With --failed: only deliveries created at or after this RFC 3339 time.
        #[arg(long, requires = "failed")]
        since: Option<String>,
    },
    /// Send a `webhook.test` event to the configured URL.
    Test,
    /// Show the webhook settings, or change the URL.
    Config {
        /// Set the webhook URL.
        #[arg(long, conflicts_with = "clear")]
        url: Option<String>,
        /// Stop sending webhooks.
        #[arg(long)]
        clear: bool,
    },
    /// Webhook endpoints: several URLs, each with its own secret and event filter.
    #[command(subcommand)]
    Endpoints(super::endpoints::EndpointsCommand),
}

pub async fn run(args: &ApiArgs, command: WebhooksCommand) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    match command {
        WebhooksCommand::Endpoints(command) => super::endpoints::run(args, &api, command).await?,
        WebhooksCommand::List { paging } => {
            let value = api
                .get(&format!(
                    "/api/v1/webhooks{}",
                    query(paging.limit, paging.offset, &[])
                ))
                .await?;
            print(args, &value, COLUMNS);
        }
        WebhooksCommand::Get { id } => {
            let value = api
                .get(&format!("/api/v1/webhooks/{}", checked_id(&id)?))
                .await?;
            print(args, &value, COLUMNS);
        }
        WebhooksCommand::Retry { id: Some(id), .. } => {
            let value = api
                .post(
                    &format!("/api/v1/webhooks/{}/retry", checked_id(&id)?),
                    &json!({}),
                    None,
                )
                .await?;
            print(args, &value, &["id", "status", "message"]);
        }
        WebhooksCommand::Retry {
            id: None, since, ..
        } => retry_failed(args, &api, since.as_deref()).await?,
        WebhooksCommand::Test => {
            let value = api.post("/api/v1/webhooks/test", &json!({}), None).await?;
            print(args, &value, &["id", "status", "message"]);
        }
        WebhooksCommand::Config { url, clear } => {
            let value = match (url, clear) {
                (Some(url), _) => {
                    api.put("/api/v1/webhooks/config", &json!({ "webhook_url": url }))
                        .await?
                }
                (None, true) => {
                    api.put("/api/v1/webhooks/config", &json!({ "webhook_url": null }))
                        .await?
                }
                (None, false) => api.get("/api/v1/webhooks/config").await?,
            };
            if args.json {
                print(args, &value, &[]);
            } else {
                // The secret is shown only under --json, never in a table someone may screenshot.
                print(args, &value, &["webhook_url"]);
            }
        }
    }
    Ok(())
}

/// Every failed delivery (created at or after `since`), oldest first.
async fn failed_deliveries(api: &ApiClient, since: Option<&str>) -> Result<Vec<Value>, ApiError> {
    let mut failed = Vec::new();
    let mut offset = 0;
    loop {
        let page = api
            .get(&format!("/api/v1/webhooks?limit=100&offset={offset}"))
            .await?;
        let items = page["data"].as_array().cloned().unwrap_or_default();
        let count = items.len() as i64;
        // RFC 3339 UTC timestamps with the same precision compare correctly as text.
        failed.extend(items.into_iter().filter(|d| {
            d["status"] == "failed"
                && since.is_none_or(|s| d["created_at"].as_str().is_some_and(|c| c >= s))
        }));
        offset += count;
        if count == 0 || offset >= page["total"].as_i64().unwrap_or(0) {
            break;
        }
    }
    failed.reverse();
    Ok(failed)
}

async fn retry_failed(args: &ApiArgs, api: &ApiClient, since: Option<&str>) -> anyhow::Result<()> {
    let failed = failed_deliveries(api, since).await?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(failed.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} retried {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut scheduled, mut errors) = (Vec::new(), Vec::new());
    for delivery in &failed {
        let id = delivery["id"].as_str().unwrap_or_default();
        match api
            .post(
                &format!("/api/v1/webhooks/{}/retry", checked_id(id)?),
                &json!({}),
                None,
            )
            .await
        {
            Ok(_) => scheduled.push(id.to_owned()),
            Err(e @ (ApiError::Unauthenticated(_) | ApiError::Unavailable(_))) => {
                return Err(e.into());
            }
            Err(e) => errors.push(json!({ "id": id, "error": e.to_string() })),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            json!({ "found": failed.len(), "scheduled": scheduled, "errors": errors })
        );
    } else {
        println!(
            "{} failed deliveries found, {} retries scheduled, {} errors",
            failed.len(),
            scheduled.len(),
            errors.len()
        );
        for e in &errors {
            println!(
                "  {}: {}",
                e["id"].as_str().unwrap_or_default(),
                e["error"].as_str().unwrap_or_default()
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} retries could not be scheduled", errors.len())
    }
}
