//! `gateway serve` and `gateway worker`, with a bounded, draining shutdown on SIGINT/SIGTERM
//! (see [`Shutdown`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gateway_core::Worker;
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

/// Serves the API (and runs a worker unless told not to) until a shutdown signal, then drains:
/// see [`Shutdown`].
pub async fn serve(config: Config, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.validate()?;
    let store = app::open_store(&config, app::Purpose::Run).await?;
    let queue = app::open_queue(&config, &store).await?;
    metrics::start(&config, store.clone(), queue.clone()).await?;
    let app = app::build(&config, store.clone(), queue)?;
    let shutdown = Shutdown::listen(config.shutdown_grace)?;
    let worker =
        (!args.no_worker).then(|| tokio::spawn(run_worker(app.worker.clone(), shutdown.clone())));

    let addr = listen.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let mut limits = listen.limits;
    limits.max_connections = within_descriptor_limit(limits.max_connections);
    limits.shutdown_grace = config.shutdown_grace;
    tracing::info!(
        %addr,
        database = %config.database_for_display(),
        queue = config.queue_name(),
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
        shutting_down: shutdown.draining.clone(),
        ..AppState::new(app.gateway)
    });
    gateway_http::server::serve_with_cutoff(
        listener,
        router,
        limits,
        shutdown.requested(),
        shutdown.cut(),
    )
    .await
    .context("serving HTTP")?;
    if let Some(worker) = worker {
        worker.await.context("worker task")?;
    }
    tracing::info!("gateway stopped");
    Ok(())
}

/// Runs workers only until a shutdown signal, then lets them finish or hand back their jobs.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let store = app::open_store(&config, app::Purpose::Run).await?;
    let queue = app::open_queue(&config, &store).await?;
    metrics::start(&config, store.clone(), queue.clone()).await?;
    let app = app::build(&config, store.clone(), queue)?;
    let shutdown = Shutdown::listen(config.shutdown_grace)?;
    tracing::info!(database = %config.database_for_display(), queue = config.queue_name(), processor = app.gateway_processor, "worker process started");
    run_worker(app.worker.clone(), shutdown).await;
    tracing::info!("worker process stopped");
    Ok(())
}

/// Runs `worker` until shutdown is requested; it then stops claiming and, within the grace
/// period, finishes its jobs or hands them back (see [`Worker::run`]). If the drain is cut
/// short, the worker stops at once and its leases are released here.
async fn run_worker(worker: Arc<Worker>, shutdown: Shutdown) {
    let mut run = tokio::spawn(worker.clone().run(Box::pin(shutdown.requested())));
    tokio::select! {
        _ = &mut run => {}
        () = shutdown.cut() => {
            // Aborting drops the worker's job tasks, which abort their handlers.
            run.abort();
            let _ = run.await;
            match worker.release_jobs().await {
                Ok(released) => tracing::warn!(
                    worker = worker.id(),
                    released,
                    "worker stopped at once: its running jobs were handed back"
                ),
                Err(e) => tracing::warn!(error = %e, "releasing leases failed; they will expire"),
            }
        }
    }
}

/// The process's shutdown. The first SIGTERM or SIGINT requests it: `/ready` answers 503, the
/// listener closes, requests in progress and running jobs get the grace period to finish.
/// A second signal cuts the drain short: connections are cut and running jobs handed back
/// at once. Either way the process exits 0 with no job left waiting for a lease to expire.
#[derive(Debug, Clone)]
struct Shutdown {
    /// `true` from the first signal on.
    requested: watch::Receiver<bool>,
    /// `true` from the second signal on.
    cut: watch::Receiver<bool>,
    /// Shared with the HTTP state, so `/ready` answers 503 during the drain.
    draining: Arc<AtomicBool>,
}

impl Shutdown {
    /// Takes over SIGTERM and SIGINT, and watches for them in a task of its own.
    fn listen(grace: Duration) -> anyhow::Result<Self> {
        let mut signals = Signals::new().context("installing the signal handlers")?;
        let (request, requested) = watch::channel(false);
        let (cut_short, cut) = watch::channel(false);
        let draining = Arc::new(AtomicBool::new(false));
        let flag = draining.clone();
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        tokio::spawn(async move {
            signals.recv().await;
            tracing::info!(
                grace_ms,
                "shutdown requested: draining requests and jobs (a second signal stops at once)"
            );
            flag.store(true, Ordering::Relaxed);
            request.send_replace(true);
            signals.recv().await;
            tracing::warn!("second shutdown signal: cutting the drain short");
            cut_short.send_replace(true);
        });
        Ok(Self {
            requested,
            cut,
            draining,
        })
    }

    /// Completes on the first signal.
    fn requested(&self) -> impl Future<Output = ()> + Send + 'static {
        wait(self.requested.clone())
    }

    /// Completes on the second signal.
    fn cut(&self) -> impl Future<Output = ()> + Send + 'static {
        wait(self.cut.clone())
    }
}

/// SIGTERM and SIGINT (Ctrl-C), listened to for the life of the process, so none is missed
/// between the first and the second.
pub(crate) struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next signal.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
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
