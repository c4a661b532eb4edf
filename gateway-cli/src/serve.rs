//! `gateway serve` and `gateway worker`, with graceful shutdown on SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use gateway_core::JobRunner;
use gateway_http::AppState;
use tokio::sync::watch;

use crate::app;
use crate::config::{Config, ListenArgs};
use crate::metrics;

/// Options of `gateway serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Serve the API only; run `gateway worker` processes to settle payments and send webhooks.
    #[arg(long)]
    no_worker: bool,
}

/// Serves the API (and runs a worker unless told not to) until a shutdown signal.
pub async fn serve(config: Config, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.validate()?;
    let store = app::open_store(&config, app::Purpose::Run).await?;
    metrics::start(&config, store.clone()).await?;
    let app = app::build(&config, store)?;
    let (stop, stopped) = watch::channel(false);
    let worker = (!args.no_worker)
        .then(|| tokio::spawn(app.worker.clone().run(Box::pin(wait(stopped.clone())))));

    let addr = listen.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let mut limits = listen.limits;
    limits.max_connections = within_descriptor_limit(limits.max_connections);
    tracing::info!(
        %addr,
        database = %config.database_for_display(),
        production = config.production,
        processor = app.gateway_processor,
        worker = !args.no_worker,
        max_connections = limits.max_connections,
        trusted_proxies = !listen.trusted_proxies.is_empty(),
        "gateway listening"
    );
    let router = gateway_http::router(AppState {
        body_read_timeout: listen.body_read_timeout,
        trusted_proxies: Arc::new(listen.trusted_proxies),
        ..AppState::new(app.gateway)
    });
    let server = gateway_http::server::serve(listener, router, limits, wait(stopped));
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: draining requests and jobs");
        let _ = stop.send(true);
    });
    server.await.context("serving HTTP")?;
    if let Some(worker) = worker {
        worker.await.context("worker task")?;
    }
    signals.abort();
    Ok(())
}

/// Runs workers only until a shutdown signal.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let store = app::open_store(&config, app::Purpose::Run).await?;
    metrics::start(&config, store.clone()).await?;
    let app = app::build(&config, store)?;
    tracing::info!(database = %config.database_for_display(), processor = app.gateway_processor, "worker process started");
    app.worker.clone().run(Box::pin(shutdown_signal())).await;
    Ok(())
}

/// `wanted`, or half the process's soft file-descriptor limit if that is lower, so that client
/// connections can never take the descriptors the database pool, the worker's webhook
/// connections and the log need.
fn within_descriptor_limit(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) {
            let allowed = (limit / 2).max(1);
            if allowed < wanted {
                tracing::warn!(
                    max_connections = wanted,
                    file_descriptor_limit = limit,
                    lowered_to = allowed,
                    "MAX_CONNECTIONS lowered to half the file-descriptor limit; raise the limit (ulimit -n, LimitNOFILE=) to allow more"
                );
                return allowed;
            }
        }
    }
    wanted
}

async fn wait(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
