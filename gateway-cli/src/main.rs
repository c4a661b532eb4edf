//! The `gateway` binary: one file per subcommand, configuration in `config.rs`, wiring in `app.rs`.

mod app;
mod config;
mod merchants;
mod serve;

use clap::{Parser, Subcommand};

use crate::config::Settings;

/// An open-source payment gateway: orders, async payments and refunds, signed webhooks.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    let settings = cli.settings.validate()?;
    match cli.command {
        Command::Serve(args) => serve::serve(settings, args).await,
        Command::Worker => serve::worker(settings).await,
        Command::Migrate => {
            app::open_store(&settings).await?;
            println!("migrations applied to {}", settings.database_url);
            Ok(())
        }
        Command::Merchants(command) => merchants::run(settings, command).await,
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
