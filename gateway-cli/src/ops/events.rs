//! `gateway events list|get`.

use clap::Subcommand;

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
    }
    Ok(())
}
