//! `gateway events list|get|resend`.

use clap::Subcommand;
use serde_json::json;

use super::{Paging, checked_id, print, query};
use crate::api::{ApiArgs, ApiClient};

const COLUMNS: &[&str] = &["id", "type", "created_at"];

/// Events: what happened, kept for `EVENT_RETENTION_DAYS` whether or not a webhook was sent.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List events, newest first.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Only this event type, e.g. `payment.success`.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events at or after this time (RFC 3339 or unix seconds).
        #[arg(long)]
        from: Option<String>,
        /// Only events at or before this time.
        #[arg(long)]
        to: Option<String>,
    },
    /// Show one event with the exact payload its webhooks carried.
    Get {
        /// The event id (`evt_…`).
        id: String,
    },
    /// Deliver an event again, its payload unchanged: to every enabled endpoint whose filter
    /// matches its type, or to one endpoint.
    Resend {
        /// The event id (`evt_…`).
        id: String,
        /// Only to this endpoint (`we_…`; it must be enabled, whatever its filter).
        #[arg(long = "endpoint", alias = "webhook-endpoint")]
        endpoint: Option<String>,
    },
}

pub async fn run(args: &ApiArgs, command: EventsCommand) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    match command {
        EventsCommand::List {
            paging,
            event_type,
            from,
            to,
        } => {
            let filters = [
                ("type", event_type.as_deref()),
                ("from", from.as_deref()),
                ("to", to.as_deref()),
            ];
            let page = api
                .get(&format!(
                    "/api/v1/events{}",
                    query(paging.limit, paging.offset, &filters)
                ))
                .await?;
            print(args, &page, COLUMNS);
        }
        EventsCommand::Get { id } => {
            let event = api
                .get(&format!("/api/v1/events/{}", checked_id(&id)?))
                .await?;
            if args.json {
                print(args, &event, &[]);
            } else {
                print(args, &event, COLUMNS);
                println!("{}", serde_json::to_string_pretty(&event["payload"])?);
            }
        }
        EventsCommand::Resend { id, endpoint } => {
            let body = match &endpoint {
                Some(endpoint) => json!({ "endpoint_id": checked_id(endpoint)? }),
                None => json!({}),
            };
            let resent = api
                .post(
                    &format!("/api/v1/events/{}/resend", checked_id(&id)?),
                    &body,
                    None,
                )
                .await?;
            if args.json {
                print(args, &resent, &[]);
            } else {
                let deliveries = json!({ "data": resent["deliveries"] });
                print(args, &deliveries, &["id", "endpoint_id", "status"]);
            }
        }
    }
    Ok(())
}
