//! A webhook receiver that checks the gateway's signatures with the helpers `gateway-core`
//! exports, before trusting a byte of the payload.
//!
//! Every delivery carries two signatures over the exact body bytes:
//! - `X-Webhook-Signature`: hex HMAC-SHA256 keyed with the secret string (the reference
//!   gateway's scheme), checked with [`verify_webhook_signature`];
//! - `webhook-id`, `webhook-timestamp`, `webhook-signature` ([Standard Webhooks]), checked with
//!   [`verify_standard_signature`], which also refuses timestamps more than five minutes off.
//!
//! A real receiver needs only one of them; this one insists on both to show both. It answers
//! 200 to a valid delivery and 400 to anything else.
//!
//! ```text
//! cargo run -p gateway-examples --bin verify_webhook                # POST /webhook on :4000
//! cargo run -p gateway-examples --bin verify_webhook -- --self-test
//! ```
//!
//! `PORT` (default 4000) and `WEBHOOK_SECRET` (default the development test merchant's) set the
//! port and the secret. With `--self-test` it listens on a free port, signs a sample payload
//! with [`HmacSigner`], posts it to itself (expecting 200), then posts a tampered copy, a stale
//! one and an unsigned one (expecting 400 each), and exits 0 if all answered as expected.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use gateway_core::merchant::{generate_webhook_secret, test_merchant};
use gateway_core::signer::SignatureHeaders;
use gateway_core::{HmacSigner, verify_standard_signature, verify_webhook_signature};
use tokio::sync::oneshot;

/// How far a `webhook-timestamp` may be from now, in seconds (the Standard Webhooks default).
const TOLERANCE_SECS: i64 = 5 * 60;

/// What the receiver needs to check a delivery.
struct Receiver {
    /// The merchant's webhook secret, as the gateway shows it (`whsec_…`).
    secret: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let self_test = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--self-test") => true,
        Some(other) => bail!("unknown argument {other:?} (usage: verify_webhook [--self-test])"),
    };
    // reqwest is built without a default TLS provider; the process picks one, once.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let secret = if self_test {
        generate_webhook_secret()
    } else {
        std::env::var("WEBHOOK_SECRET").unwrap_or_else(|_| test_merchant::WEBHOOK_SECRET.into())
    };
    let port = match std::env::var("PORT") {
        _ if self_test => 0,
        Ok(port) => port.parse().with_context(|| format!("PORT={port:?}"))?,
        Err(_) => 4000,
    };
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    println!("receiving webhooks at http://{addr}/webhook");

    let app = Router::new()
        .route("/webhook", post(receive))
        .with_state(Arc::new(Receiver {
            secret: secret.clone(),
        }));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    let outcome = if self_test {
        self_test_against(addr, &secret).await
    } else {
        let _ = tokio::signal::ctrl_c().await;
        Ok(())
    };
    let _ = stop.send(());
    server
        .await
        .context("the server task panicked")?
        .context("serving HTTP")?;
    outcome
}

/// `POST /webhook`: 200 if both signatures verify, 400 (with the reason) otherwise.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    match verify(&receiver.secret, &headers, &body, unix_now()) {
        Ok(()) => {
            // Only now is the payload trusted enough to parse and act on.
            let event = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|payload| payload["event"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "(no event field)".into());
            println!("accepted {event}");
            (StatusCode::OK, "ok".into())
        }
        Err(reason) => {
            println!("rejected: {reason}");
            (StatusCode::BAD_REQUEST, reason)
        }
    }
}

/// Checks both schemes over the raw body bytes (never a re-serialized copy).
fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now_secs: i64) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| format!("missing {name}"))
    };

    verify_webhook_signature(secret, body, header("x-webhook-signature")?)
        .map_err(|e| format!("X-Webhook-Signature: {e}"))?;

    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?
        .parse::<i64>()
        .map_err(|_| "webhook-timestamp is not a number".to_owned())?;
    verify_standard_signature(
        secret,
        id,
        timestamp,
        body,
        header("webhook-signature")?,
        now_secs,
        TOLERANCE_SECS,
    )
    .map_err(|e| format!("webhook-signature: {e}"))
}

/// Signs deliveries the way the gateway's worker does and checks how the receiver answers.
async fn self_test_against(addr: SocketAddr, secret: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("http://{addr}/webhook");
    let now = unix_now();
    let body = serde_json::json!({
        "event": "payment.success",
        "timestamp": now,
        "data": {"payment": {
            "id": "pay_H8sK3jD9s2L1pQr1",
            "order_id": "order_NXhj67fGH2jk9mPq",
            "amount": 50000,
            "currency": "INR",
            "method": "upi",
            "vpa": "success@paytm",
            "status": "success",
        }},
    })
    .to_string();
    let signed = HmacSigner::headers(secret, "msg_selftest_1", now, body.as_bytes());

    let post = |headers: Option<&SignatureHeaders>, body: String| {
        let mut request = client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body);
        for (name, value) in headers
            .map(SignatureHeaders::to_pairs)
            .into_iter()
            .flatten()
        {
            request = request.header(name, value);
        }
        async move { anyhow::Ok(request.send().await?.status()) }
    };

    let status = post(Some(&signed), body.clone()).await?;
    ensure!(
        status == StatusCode::OK,
        "a correctly signed delivery got {status}"
    );
    eprintln!("signed delivery: {status}");

    let tampered = body.replace("50000", "5000000");
    ensure!(tampered != body, "the tampering changed nothing");
    let status = post(Some(&signed), tampered).await?;
    ensure!(
        status == StatusCode::BAD_REQUEST,
        "a tampered delivery got {status}"
    );
    eprintln!("tampered delivery: {status}");

    let old = now - TOLERANCE_SECS - 60;
    let stale = HmacSigner::headers(secret, "msg_selftest_2", old, body.as_bytes());
    let status = post(Some(&stale), body.clone()).await?;
    ensure!(
        status == StatusCode::BAD_REQUEST,
        "a replayed stale delivery got {status}"
    );
    eprintln!("stale delivery: {status}");

    let status = post(None, body).await?;
    ensure!(
        status == StatusCode::BAD_REQUEST,
        "an unsigned delivery got {status}"
    );
    eprintln!("unsigned delivery: {status}");

    eprintln!("self-test passed");
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
