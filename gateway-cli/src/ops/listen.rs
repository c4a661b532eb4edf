//! `gateway listen [--forward-to URL] [--events a,b]`: like Stripe's `listen`. Opens a local
//! receiver, registers it as a temporary webhook endpoint of the merchant (the merchant's other
//! endpoints, the default one included, keep receiving as before), verifies both signatures of
//! every delivery with that endpoint's own secret, prints each event, optionally forwards it,
//! and deletes the temporary endpoint on exit (Ctrl-C or SIGTERM).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use clap::Args;
use gateway_core::endpoint::MAX_ENDPOINTS_PER_MERCHANT;
use gateway_core::{
    Clock, Refusal, SystemClock, verify_standard_signature, verify_webhook_signature,
};
use serde_json::{Value, json};

use super::checked_id;
use crate::api::{ApiArgs, ApiClient, ApiError};
use crate::serve::Signals;

/// How the temporary endpoint is described, so a leftover one (after `kill -9`) is recognised.
const DESCRIPTION: &str = "gateway listen (temporary)";

/// Options of `gateway listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Also POST every verified event (body and signature headers unchanged) to this URL.
    #[arg(long)]
    forward_to: Option<String>,
    /// Event types to receive, comma-separated, or `*` for all.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    events: Vec<String>,
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
    // Signals are caught from here on, so none can end the process between creating the
    // temporary endpoint and deleting it.
    let mut signals = Signals::new().context("installing the signal handlers")?;
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], listen.port))).await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    let too_many = Refusal::TooManyEndpoints {
        max: MAX_ENDPOINTS_PER_MERCHANT,
    };
    let created = api
        .post(
            "/api/v1/webhooks/endpoints",
            &json!({ "url": url, "enabled_events": listen.events, "description": DESCRIPTION }),
            None,
        )
        .await
        .map_err(|e| match e {
            ApiError::Rejected {
                ref description, ..
            } if *description == too_many.to_string() => anyhow::Error::new(e).context(format!(
                "cannot listen: the merchant already has {MAX_ENDPOINTS_PER_MERCHANT} webhook \
                     endpoints, the most allowed; delete one (`gateway webhooks endpoints delete \
                     <id>`) and try again"
            )),
            e => anyhow::Error::new(e)
                .context("cannot listen: creating the temporary endpoint failed"),
        })?;
    let id = checked_id(created["id"].as_str().unwrap_or_default())
        .context("the gateway answered the endpoint's creation without an id")?
        .to_owned();
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();

    eprintln!(
        "Ready: {} delivers this merchant's webhooks ({}) to {url} through temporary endpoint {id}",
        api.base(),
        listen.events.join(","),
    );
    if let Some(target) = &listen.forward_to {
        eprintln!("Forwarding verified events to {target}");
    }
    eprintln!("Press Ctrl-C to stop; the temporary endpoint is deleted on exit.");

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
        .with_graceful_shutdown(async move { signals.recv().await })
        .await;

    let deleted = api
        .delete(&format!("/api/v1/webhooks/endpoints/{id}"))
        .await;
    match &deleted {
        Err(e) => eprintln!(
            "Could not delete the temporary endpoint {id}: {e}; delete it with `gateway webhooks endpoints delete {id}`"
        ),
        Ok(_) => eprintln!("Deleted the temporary endpoint {id}"),
    }
    served?;
    deleted?;
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
