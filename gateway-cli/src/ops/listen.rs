//! `gateway listen [--forward-to URL]`: like Stripe's `listen`. Opens a local receiver, points
//! the merchant's webhook URL at it, verifies both signatures of every delivery, prints each
//! event, optionally forwards it, and restores the previous URL on exit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use clap::Args;
use gateway_core::{Clock, SystemClock, verify_standard_signature, verify_webhook_signature};
use serde_json::{Value, json};

use crate::api::{ApiArgs, ApiClient};

/// Options of `gateway listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Also POST every verified event (body and signature headers unchanged) to this URL.
    #[arg(long)]
    forward_to: Option<String>,
    /// Local port for the receiver (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Largest accepted age of `webhook-timestamp`, in seconds.
    #[arg(long, default_value_t = 300)]
    tolerance: i64,
}

struct Receiver {
    secret: String,
    forward_to: Option<String>,
    tolerance: i64,
    json: bool,
    http: reqwest::Client,
}

pub async fn run(args: &ApiArgs, listen: ListenArgs) -> anyhow::Result<()> {
    let api = ApiClient::new(args)?;
    let config = api.get("/api/v1/webhooks/config").await?;
    let previous = config["webhook_url"].clone();
    let secret = config["webhook_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], listen.port))).await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    api.put("/api/v1/webhooks/config", &json!({ "webhook_url": url }))
        .await?;
    eprintln!(
        "Ready: {} now delivers this merchant's webhooks to {url}",
        api.base()
    );
    if let Some(target) = &listen.forward_to {
        eprintln!("Forwarding verified events to {target}");
    }
    eprintln!("Press Ctrl-C to stop; the previous webhook URL ({previous}) is restored on exit.");

    let receiver = Arc::new(Receiver {
        secret,
        forward_to: listen.forward_to,
        tolerance: listen.tolerance,
        json: args.json,
        http: reqwest::Client::new(),
    });
    let app = Router::new()
        .route("/webhook", post(receive))
        .with_state(receiver);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await;

    let restored = api
        .put(
            "/api/v1/webhooks/config",
            &json!({ "webhook_url": previous }),
        )
        .await;
    match (&served, &restored) {
        (_, Err(e)) => eprintln!("Could not restore the previous webhook URL {previous}: {e}"),
        _ => eprintln!("Restored the webhook URL to {previous}"),
    }
    served?;
    restored?;
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let legacy_ok = verify_webhook_signature(
        &receiver.secret,
        &body,
        header(&headers, "x-webhook-signature"),
    )
    .is_ok();
    let id = header(&headers, "webhook-id");
    let timestamp = header(&headers, "webhook-timestamp")
        .parse::<i64>()
        .unwrap_or_default();
    let standard_ok = verify_standard_signature(
        &receiver.secret,
        id,
        timestamp,
        &body,
        header(&headers, "webhook-signature"),
        SystemClock.now().as_secs(),
        receiver.tolerance,
    )
    .is_ok();
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let verified = legacy_ok && standard_ok;

    let mut forwarded = None;
    if let (true, Some(target)) = (verified, &receiver.forward_to) {
        let mut request = receiver
            .http
            .post(target)
            .header("Content-Type", "application/json")
            .body(body.clone());
        for name in [
            "x-webhook-signature",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        ] {
            request = request.header(name, header(&headers, name));
        }
        forwarded = Some(match request.send().await {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("error: {e}"),
        });
    }

    let event = payload["event"].as_str().unwrap_or("?");
    if receiver.json {
        let line = json!({ "id": id, "event": event, "legacy_signature": legacy_ok, "standard_signature": standard_ok, "forwarded": forwarded, "payload": payload });
        println!("{line}");
    } else {
        let object = payload["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .map(|o| o["id"].clone())
            .unwrap_or(Value::Null);
        let verdict = if verified {
            "signatures ok"
        } else {
            "SIGNATURE INVALID"
        };
        let forward = forwarded
            .map(|f| format!(" → forwarded: {f}"))
            .unwrap_or_default();
        println!("{event:<18} {object} [{id}] {verdict}{forward}");
    }
    if verified {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}
