//! `gateway webhooks endpoints list|get|create|update|delete|rotate|recover`.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{Paging, checked_id, print, query};
use crate::api::{ApiArgs, ApiClient};

const COLUMNS: &[&str] = &[
    "id",
    "url",
    "enabled_events",
    "status",
    "disabled_reason",
    "created_at",
];

/// Webhook endpoints: each with its own URL, secret and event filter.
#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// List endpoints, newest first.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one endpoint.
    Get {
        /// The endpoint id (`we_…`).
        id: String,
    },
    /// Add an endpoint; its signing secret is printed once.
    Create {
        /// Where to send events.
        #[arg(long)]
        url: String,
        /// Event types to send, comma-separated, or `*` for all.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        events: Vec<String>,
        /// A note for people.
        #[arg(long)]
        description: Option<String>,
        /// A JSON object kept with the endpoint.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Change an endpoint's URL, events, description, or turn it off and on.
    Update {
        /// The endpoint id.
        id: String,
        /// A new URL.
        #[arg(long)]
        url: Option<String>,
        /// New event types, comma-separated, or `*`.
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// Stop sending it events.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Send it events again.
        #[arg(long)]
        enable: bool,
    },
    /// Delete an endpoint.
    Delete {
        /// The endpoint id.
        id: String,
    },
    /// Replace an endpoint's secret; the old one keeps signing beside it for 24 h.
    Rotate {
        /// The endpoint id.
        id: String,
    },
    /// Send again, oldest first, every delivery to an endpoint that failed since a time.
    Recover {
        /// The endpoint id.
        id: String,
        /// Deliveries created at or after this time (RFC 3339 or unix seconds).
        #[arg(long)]
        since: String,
    },
}

pub async fn run(args: &ApiArgs, api: &ApiClient, command: EndpointsCommand) -> anyhow::Result<()> {
    const BASE: &str = "/api/v1/webhooks/endpoints";
    match command {
        EndpointsCommand::List { paging } => {
            let page = api
                .get(&format!(
                    "{BASE}{}",
                    query(paging.limit, paging.offset, &[])
                ))
                .await?;
            print(args, &page, COLUMNS);
        }
        EndpointsCommand::Get { id } => {
            let endpoint = api.get(&format!("{BASE}/{}", checked_id(&id)?)).await?;
            print(args, &endpoint, COLUMNS);
        }
        EndpointsCommand::Create {
            url,
            events,
            description,
            metadata,
        } => {
            let mut body = json!({ "url": url, "enabled_events": events });
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            if let Some(metadata) = metadata {
                body["metadata"] = serde_json::from_str(&metadata)
                    .map_err(|e| anyhow::anyhow!("--metadata must be a JSON object: {e}"))?;
            }
            let created = api.post(BASE, &body, None).await?;
            print_with_secret(args, &created);
        }
        EndpointsCommand::Update {
            id,
            url,
            events,
            description,
            disable,
            enable,
        } => {
            let mut changes = Map::new();
            if let Some(url) = url {
                changes.insert("url".into(), json!(url));
            }
            if let Some(events) = events {
                changes.insert("enabled_events".into(), json!(events));
            }
            if let Some(description) = description {
                changes.insert("description".into(), json!(description));
            }
            if disable || enable {
                let status = if disable { "disabled" } else { "enabled" };
                changes.insert("status".into(), json!(status));
            }
            if changes.is_empty() {
                anyhow::bail!(
                    "nothing to change: give --url, --events, --description, --disable or --enable"
                );
            }
            let updated = api
                .patch(
                    &format!("{BASE}/{}", checked_id(&id)?),
                    &Value::Object(changes),
                )
                .await?;
            print(args, &updated, COLUMNS);
        }
        EndpointsCommand::Delete { id } => {
            api.delete(&format!("{BASE}/{}", checked_id(&id)?)).await?;
            if args.json {
                println!("{}", json!({ "id": id, "deleted": true }));
            } else {
                println!("deleted {id}");
            }
        }
        EndpointsCommand::Rotate { id } => {
            let rotated = api
                .post(
                    &format!("{BASE}/{}/secret/rotate", checked_id(&id)?),
                    &json!({}),
                    None,
                )
                .await?;
            print_with_secret(args, &rotated);
        }
        EndpointsCommand::Recover { id, since } => {
            let recovering = api
                .post(
                    &format!("{BASE}/{}/recover", checked_id(&id)?),
                    &json!({ "since": since }),
                    None,
                )
                .await?;
            print(args, &recovering, &["id", "since", "recovering"]);
        }
    }
    Ok(())
}

/// Prints an answer that carries a secret shown only this once: whole under `--json`, else the
/// table and then the secret on a line of its own, so it can be copied but is never in a
/// table's column by accident.
fn print_with_secret(args: &ApiArgs, answer: &Value) {
    if args.json {
        print(args, answer, &[]);
        return;
    }
    if answer.get("url").is_some() {
        print(args, answer, COLUMNS);
    }
    if let Some(secret) = answer["secret"].as_str() {
        println!("signing secret (store it now, it is not shown again): {secret}");
    }
}
