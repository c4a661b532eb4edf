//! The `gateway` binary: one file per subcommand, configuration in `config.rs`, wiring in
//! `app.rs`, log setup in `logging.rs`, malloc's arena limit in `memory.rs`, the Prometheus
//! endpoint in `metrics.rs`, the operator commands over the HTTP API in `ops/` (with their
//! client in `api.rs`).

mod api;
mod app;
mod config;
mod logging;
mod memory;
mod merchants;
mod metrics;
mod ops;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::api::{ApiArgs, ApiError};
use crate::config::Settings;

/// An open-source payment gateway: orders, async payments and refunds, signed webhooks.
///
/// Exit codes: 0 success, 1 error, 2 bad usage, 3 the API rejected the request,
/// 4 authentication failed, 5 the gateway or its database is unavailable.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    log: logging::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (and, unless --no-worker, run the job workers in the same process).
    Serve(serve::ServeArgs),
    /// Run job workers only (payments, refunds, webhook deliveries).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage merchants directly in the database.
    #[command(subcommand)]
    Merchants(merchants::MerchantsCommand),
    /// Orders, over the API of a running gateway.
    #[command(subcommand)]
    Orders(ops::orders::OrdersCommand),
    /// Payments, over the API.
    #[command(subcommand)]
    Payments(ops::payments::PaymentsCommand),
    /// Refunds, over the API.
    #[command(subcommand)]
    Refunds(ops::refunds::RefundsCommand),
    /// Webhook deliveries and settings, over the API.
    #[command(subcommand)]
    Webhooks(ops::webhooks::WebhooksCommand),
    /// Events (what happened, with the payloads webhooks carried), over the API.
    #[command(subcommand)]
    Events(ops::events::EventsCommand),
    /// The job queue, over the API.
    #[command(subcommand)]
    Jobs(ops::jobs::JobsCommand),
    /// Receive this merchant's webhooks locally, verify and print them, optionally forward them.
    Listen(ops::listen::ListenArgs),
    /// Create test objects that produce an event.
    Trigger {
        /// The event to produce.
        event: ops::trigger::TriggerEvent,
    },
}

fn main() -> ExitCode {
    memory::limit_arenas();
    start()
}

#[tokio::main]
async fn start() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.downcast_ref::<ApiError>().map_or(1, ApiError::exit_code))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let api = &cli.api;
    match cli.command {
        Command::Serve(args) => serve::serve(cli.settings.validate()?, args).await,
        Command::Worker => serve::worker(cli.settings.validate()?).await,
        Command::Migrate => {
            let settings = cli.settings.validate()?;
            app::open_store(&settings, app::Purpose::Migrate).await?;
            println!("migrations applied to {}", settings.database_for_display());
            Ok(())
        }
        Command::Merchants(command) => {
            merchants::run(cli.settings.validate()?, command, api.json).await
        }
        Command::Orders(command) => ops::orders::run(api, command).await,
        Command::Payments(command) => ops::payments::run(api, command).await,
        Command::Refunds(command) => ops::refunds::run(api, command).await,
        Command::Webhooks(command) => ops::webhooks::run(api, command).await,
        Command::Events(command) => ops::events::run(api, command).await,
        Command::Jobs(command) => ops::jobs::run(api, command).await,
        Command::Listen(args) => ops::listen::run(api, args).await,
        Command::Trigger { event } => ops::trigger::run(api, event).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn operator_commands_parse() {
        for args in [
            &[
                "gateway",
                "orders",
                "create",
                "--amount",
                "50000",
                "--receipt",
                "r1",
            ][..],
            &[
                "gateway", "payments", "list", "--status", "success", "--limit", "5",
            ],
            &[
                "gateway",
                "refunds",
                "create",
                "pay_AAAAAAAAAAAAAAAA",
                "--amount",
                "100",
            ],
            &[
                "gateway",
                "webhooks",
                "retry",
                "--failed",
                "--since",
                "2024-01-01T00:00:00Z",
            ],
            &[
                "gateway",
                "webhooks",
                "config",
                "--url",
                "https://example.com/hook",
            ],
            &["gateway", "--json", "jobs", "status"],
            &["gateway", "trigger", "refund.processed"],
            &[
                "gateway",
                "listen",
                "--forward-to",
                "http://127.0.0.1:3000/hook",
            ],
        ] {
            Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(
            Cli::try_parse_from(["gateway", "webhooks", "retry"]).is_err(),
            "an id or --failed is required"
        );
        assert!(Cli::try_parse_from(["gateway", "webhooks", "retry", "x", "--failed"]).is_err());
        assert!(Cli::try_parse_from(["gateway", "trigger", "payment.bogus"]).is_err());
    }
}
