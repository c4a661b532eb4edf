//! The Prometheus endpoint: `GET /metrics` on its own listener (`METRICS_ADDR`), so it is never
//! served with the public API by accident.
//!
//! Counters and histograms are recorded where things happen (see `gateway_core::metrics`,
//! `gateway_http::metrics`, `gateway_store::metrics`); the queue's depth and lag and the pools'
//! occupancy are read from the store when Prometheus scrapes, so they are never stale and cost
//! nothing between scrapes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use gateway_core::metrics::{MetricDoc, MetricKind};
use gateway_core::{Clock, JobQueue, Store, SystemClock};
use gateway_http::server::{ServerLimits, serve};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::{Config, MetricsListen};

const BUILD_INFO: &str = "gateway_build_info";

/// The metrics the binary itself records.
const CATALOGUE: &[MetricDoc] = &[MetricDoc {
    name: BUILD_INFO,
    kind: MetricKind::Gauge,
    labels: &["version", "backend", "queue"],
    help: "Always 1; its labels tell the running version, database backend (sqlite, postgres) and queue (database, redis).",
}];

/// Histogram buckets in seconds: from a fast API call (1 ms) to a webhook delivered on its last
/// retry two hours later.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 1800.0, 7200.0,
];

/// How often histograms are compacted (the recorder buffers observations until then).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Every metric this process can export, with its meaning (the list docs/operations.md keeps).
#[cfg(test)]
fn catalogue() -> impl Iterator<Item = &'static MetricDoc> {
    gateway_core::metrics::CATALOGUE
        .iter()
        .chain(gateway_http::metrics::CATALOGUE)
        .chain(gateway_store::metrics::CATALOGUE)
        .chain(CATALOGUE)
}

/// Starts serving `/metrics` when `config` asks for it: binds the listener, installs the
/// Prometheus recorder and describes every metric. Until this runs nothing is recorded.
/// Failing to bind the default address only logs a warning; an address the operator chose must
/// bind.
pub async fn start(
    config: &Config,
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
) -> anyhow::Result<()> {
    let Some(MetricsListen { addr, explicit }) = config.metrics else {
        return Ok(());
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) if !explicit => {
            tracing::warn!(%addr, error = %e, "metrics are off: the default METRICS_ADDR is taken (set METRICS_ADDR to another address, or empty)");
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("binding METRICS_ADDR {addr}")),
    };
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .context("configuring histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe(config, &*store);
    tokio::spawn(upkeep(handle.clone()));
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape {
            handle,
            store,
            queue,
        });
    tracing::info!(%addr, "metrics at /metrics");
    // With the API's limits on slow and idle clients, but few connections: a scraper needs one.
    let limits = ServerLimits {
        max_connections: 16,
        ..ServerLimits::default()
    };
    tokio::spawn(async move {
        if let Err(e) = serve(listener, app, limits, std::future::pending()).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
    Ok(())
}

fn describe(config: &Config, store: &dyn Store) {
    gateway_core::metrics::describe();
    gateway_http::metrics::describe();
    gateway_store::metrics::describe(&store.pools());
    for metric in CATALOGUE {
        metric.describe();
    }
    metrics::gauge!(
        BUILD_INFO,
        "version" => env!("CARGO_PKG_VERSION"),
        "backend" => config.backend_name(),
        "queue" => config.queue_name()
    )
    .set(1.0);
}

async fn upkeep(handle: PrometheusHandle) {
    let mut every = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

/// What a scrape reads.
#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    store: Arc<dyn Store>,
    /// The queue workers take jobs from (its report covers the job rows, and Redis if used).
    queue: Arc<dyn JobQueue>,
}

/// Reads the queue and the pools, then renders everything in the Prometheus text format.
async fn scrape(State(scrape): State<Scrape>) -> impl IntoResponse {
    let now = SystemClock.now();
    match scrape.queue.queue_report(now).await {
        Ok(report) => gateway_core::metrics::queue_observed(&report, now),
        Err(e) => tracing::warn!(error = %e, "reading the job queue for /metrics failed"),
    }
    gateway_store::metrics::pools_observed(&scrape.store.pools());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, type, labels)` of each row of the metrics table in docs/operations.md.
    fn documented() -> Vec<(String, String, Vec<String>)> {
        let docs = include_str!("../../docs/operations.md");
        docs.lines()
            .filter(|line| line.starts_with("| `gateway_"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let labels = cells[3]
                    .split(',')
                    .map(|label| label.trim().trim_matches('`').to_owned())
                    .filter(|label| !label.is_empty())
                    .collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].to_owned(),
                    labels,
                )
            })
            .collect()
    }

    #[test]
    fn every_metric_is_documented_with_its_type_and_labels() {
        let mut documented = documented();
        let mut catalogue: Vec<_> = catalogue()
            .map(|m| {
                (
                    m.name.to_owned(),
                    m.kind.as_str().to_owned(),
                    m.labels.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>(),
                )
            })
            .collect();
        documented.sort();
        catalogue.sort();
        assert_eq!(documented, catalogue);
    }
}
