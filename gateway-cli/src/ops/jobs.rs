//! `gateway jobs status`.

use clap::Subcommand;

use super::print;
use crate::api::{ApiArgs, ApiClient, ApiError};

/// The job queue.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Queue counts, the queue's lag (how long the oldest due job has waited) and whether a
    /// worker is running.
    Status,
}

pub async fn run(args: &ApiArgs, command: JobsCommand) -> anyhow::Result<()> {
    let JobsCommand::Status = command;
    // The status endpoint needs no credentials; fill in dummies so the client can be built.
    let mut open = args.clone();
    open.api_key.get_or_insert_with(String::new);
    open.api_secret.get_or_insert_with(String::new);
    let api = ApiClient::new(&open)?;
    let value = api
        .get("/api/v1/test/jobs/status")
        .await
        .map_err(|e: ApiError| anyhow::Error::from(e))?;
    print(
        args,
        &value,
        &[
            "pending",
            "processing",
            "completed",
            "failed",
            "lag_seconds",
            "worker_status",
            "queue",
        ],
    );
    Ok(())
}
