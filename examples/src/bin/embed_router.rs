//! Mounts the gateway's HTTP API inside a merchant's own axum application.
//!
//! The shop has its own routes and state (`GET /`, `GET /healthz`) and nests the gateway's
//! router under `/payments`, so the API answers at `/payments/api/v1/…` with its own JSON
//! errors, while paths outside `/payments` keep the shop's behaviour. One worker, made by the
//! same `GatewayBuilder`, settles payments in the same process, and one shutdown signal stops
//! both the server (draining requests) and the worker (finishing in-flight jobs).
//!
//! ```text
//! cargo run -p gateway-examples --bin embed_router               # serve until Ctrl-C
//! cargo run -p gateway-examples --bin embed_router -- --self-test
//! ```
//!
//! With `--self-test` the program calls its own routes over HTTP (the shop page, an order and a
//! UPI payment through `/payments/api/v1/…`), then shuts down and exits 0 if all answered as
//! expected. `PORT` picks the port (default: any free one); the address is printed either way.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use gateway_core::gateway::DatabaseState;
use gateway_core::merchant::{IssuedCredentials, SecretHasher};
use gateway_core::transport::ReqwestTransport;
use gateway_core::{
    Clock, Gateway, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock, WorkerConfig,
};
use gateway_http::AppState;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The shop's own state, separate from the gateway's [`AppState`].
#[derive(Clone)]
struct Shop {
    /// Shown on the shop page.
    name: &'static str,
    /// The same gateway the mounted API serves, for the shop's own handlers.
    gateway: Arc<dyn Gateway>,
}

/// The key API secrets are hashed with; a real host reads it from its configuration.
const PEPPER: &str = "embed-router-example-pepper";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let self_test = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--self-test") => true,
        Some(other) => bail!("unknown argument {other:?} (usage: embed_router [--self-test])"),
    };
    // reqwest is built without a default TLS provider; the process picks one, once.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let store = gateway_store::open(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    let hasher = SecretHasher::new(PEPPER);
    let (merchant_row, credentials) =
        hasher.issue("shop@example.com", "Example Shop", SystemClock.now());
    store.insert_merchant(&merchant_row).await?;

    let bank = SimulatedBank::new(SimulationConfig {
        test_mode: true,
        test_delay: Duration::from_millis(100),
        ..SimulationConfig::default()
    });
    // Loopback webhook targets allowed: this is a local demo.
    let transport = ReqwestTransport::new(true)?;
    let built = GatewayBuilder::new(store)
        .pepper(PEPPER)
        .processor(Arc::new(bank))
        .transport(Arc::new(transport))
        .build()?;
    let gateway = built.gateway();
    let worker = Arc::new(built.worker(WorkerConfig::default()));

    let app = shop_app(Shop {
        name: "Example Shop",
        gateway: gateway.clone(),
    });

    // One signal for everything: flipping `stop` ends the server and the worker alike.
    let (stop, stopped) = watch::channel(false);
    let worker_task = tokio::spawn(worker.run_until(wait(stopped.clone())));

    let port = match std::env::var("PORT") {
        Ok(port) => port.parse().with_context(|| format!("PORT={port:?}"))?,
        Err(_) => 0,
    };
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .context("binding the listener")?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    if !self_test {
        println!(
            "try: curl -H 'X-Api-Key: {}' -H 'X-Api-Secret: {}' http://{addr}/payments/api/v1/orders",
            credentials.api_key, credentials.api_secret
        );
    }
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(wait(stopped))
            .await
    });

    let outcome = if self_test {
        tokio::select! {
            outcome = self_check(addr, &credentials) => outcome,
            () = shutdown_signal() => Err(anyhow::anyhow!("interrupted during the self-test")),
        }
    } else {
        shutdown_signal().await;
        Ok(())
    };

    eprintln!("shutting down: draining requests and jobs");
    let _ = stop.send(true);
    server
        .await
        .context("the server task panicked")?
        .context("serving HTTP")?;
    worker_task.await.context("the worker task panicked")?;
    eprintln!("stopped");
    outcome
}

/// The merchant's application: its own routes and state, with the gateway under `/payments`.
///
/// The gateway router is complete (its state, limits, CORS and JSON fallback already applied),
/// so it is nested as a `Router<()>` after the shop's routes get their state. Unknown paths
/// under `/payments` get the gateway's JSON 404; other unknown paths get the shop's.
fn shop_app(shop: Shop) -> Router {
    let payments = gateway_http::router(AppState::new(shop.gateway.clone()));
    Router::new()
        .route("/", get(shop_page))
        .route("/healthz", get(healthz))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page in this shop") })
        .with_state(shop)
        .nest("/payments", payments)
}

async fn shop_page(State(shop): State<Shop>) -> Html<String> {
    Html(format!(
        "<!doctype html><title>{0}</title><h1>{0}</h1>\
         <p>Payments are served by the embedded gateway under <code>/payments</code>.</p>",
        shop.name
    ))
}

/// The shop's own health check, asking the shared gateway whether its database answers.
async fn healthz(State(shop): State<Shop>) -> Response {
    let health = shop.gateway.health().await;
    if health.database == DatabaseState::Connected {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

/// Exercises the shop and the mounted gateway over real HTTP.
async fn self_check(addr: SocketAddr, credentials: &IssuedCredentials) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("http://{addr}");
    let api = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}/payments/api/v1{path}"))
            .header("X-Api-Key", &credentials.api_key)
            .header("X-Api-Secret", &credentials.api_secret)
    };

    let page = client.get(format!("{base}/")).send().await?;
    ensure!(
        page.status() == StatusCode::OK,
        "GET / -> {}",
        page.status()
    );
    ensure!(
        page.text().await?.contains("Example Shop"),
        "GET / lacks the shop name"
    );
    let health = client.get(format!("{base}/healthz")).send().await?;
    ensure!(
        health.status() == StatusCode::OK,
        "GET /healthz -> {}",
        health.status()
    );
    eprintln!("shop routes: ok");

    let (status, order) = send_json(api(reqwest::Method::POST, "/orders").body(
        json!({"amount": 50000, "currency": "INR", "receipt": "receipt_embed_router"}).to_string(),
    ))
    .await?;
    ensure!(
        status == StatusCode::CREATED,
        "POST orders -> {status}: {order}"
    );
    let order_id = order["id"].as_str().context("order without id")?.to_owned();
    let (status, fetched) =
        send_json(api(reqwest::Method::GET, &format!("/orders/{order_id}"))).await?;
    ensure!(status == StatusCode::OK, "GET order -> {status}: {fetched}");
    ensure!(
        fetched["amount"] == 50000 && fetched["status"] == "created",
        "unexpected order {fetched}"
    );
    eprintln!("created and fetched {order_id} through /payments/api/v1/orders");

    let (status, payment) =
        send_json(api(reqwest::Method::POST, "/payments").body(
            json!({"order_id": order_id, "method": "upi", "vpa": "success@paytm"}).to_string(),
        ))
        .await?;
    ensure!(
        status == StatusCode::CREATED,
        "POST payments -> {status}: {payment}"
    );
    let payment_id = payment["id"]
        .as_str()
        .context("payment without id")?
        .to_owned();
    let settled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (_, current) = send_json(api(
                reqwest::Method::GET,
                &format!("/payments/{payment_id}"),
            ))
            .await?;
            if current["status"] != "pending" {
                return anyhow::Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("the worker did not settle the payment within 30 s")??;
    ensure!(
        settled["status"] == "success",
        "payment settled as {settled}"
    );
    eprintln!("{payment_id} settled by the in-process worker: success");

    let (status, missing) = send_json(api(reqwest::Method::GET, "/no-such-route")).await?;
    ensure!(
        status == StatusCode::NOT_FOUND && missing["error"]["code"] == "NOT_FOUND_ERROR",
        "unknown gateway path -> {status}: {missing}"
    );
    let outside = client.get(format!("{base}/no-such-page")).send().await?;
    ensure!(
        outside.status() == StatusCode::NOT_FOUND
            && outside.text().await?.contains("no such page in this shop"),
        "unknown shop path did not reach the shop's fallback"
    );
    eprintln!("fallbacks: gateway JSON under /payments, the shop's elsewhere");
    eprintln!("self-test passed");
    Ok(())
}

/// Sends a request with a JSON body (if any) and parses the JSON answer.
async fn send_json(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
    let response = request
        .header("Content-Type", "application/json")
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let value = serde_json::from_slice(&body)
        .with_context(|| format!("{status}: not JSON: {}", String::from_utf8_lossy(&body)))?;
    Ok((status, value))
}

async fn wait(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
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
