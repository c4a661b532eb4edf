//! The concurrent variant: a batch of captures and refunds (full, partial, over the payment,
//! some under shared idempotency keys) fired at one successful payment at once. No order of
//! the answers is predicted; instead the answers and the final state must be explainable by
//! some serial order: Σ non-failed refunds ≤ amount; at most one capture, and none once a
//! refund existed before the batch; every 2xx answer is a real effect and every effect has a
//! 2xx answer; one key, one effect; every refusal has a reason in the final state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use tests::{TestApp, TestResponse};

use super::client::Merchant;

/// Fails the case with a message when `cond` is false.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// How many idempotency keys a batch's requests share.
const KEYS: u8 = 3;

/// A capture's amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureAmount {
    /// No amount in the body.
    Omitted,
    /// The payment's amount.
    Right,
    /// One more than the payment's amount.
    Wrong,
}

/// One request of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shot {
    /// A capture, under key number `key` if any.
    Capture {
        /// The body's amount.
        amount: CaptureAmount,
        /// The key's number.
        key: Option<u8>,
    },
    /// A refund of `percent` % of the payment (no amount for 100, the amount + 1 above it).
    Refund {
        /// 1–101.
        percent: u8,
        /// The key's number.
        key: Option<u8>,
    },
}

impl Shot {
    fn key(self) -> Option<u8> {
        match self {
            Self::Capture { key, .. } | Self::Refund { key, .. } => key,
        }
    }
}

/// A generated batch.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The payment's amount.
    pub amount: i64,
    /// A refund of this percentage made (and left pending) before the batch, if any.
    pub refunded_first: Option<u8>,
    /// The requests, fired at once.
    pub shots: Vec<Shot>,
}

/// Batches of up to eight requests (one, once shrunk).
pub fn batches() -> impl Strategy<Value = Batch> {
    let key = proptest::option::weighted(0.5, 0..KEYS);
    let shot = prop_oneof![
        (
            prop_oneof![
                Just(CaptureAmount::Omitted),
                Just(CaptureAmount::Right),
                Just(CaptureAmount::Wrong)
            ],
            key.clone()
        )
            .prop_map(|(amount, key)| Shot::Capture { amount, key }),
        (prop_oneof![1u8..=100, Just(100), Just(101)], key)
            .prop_map(|(percent, key)| Shot::Refund { percent, key }),
    ];
    (
        100i64..=100_000,
        proptest::option::weighted(0.3, 1u8..=50),
        proptest::collection::vec(shot, 1..=8),
    )
        .prop_map(|(amount, refunded_first, shots)| Batch {
            amount,
            refunded_first,
            shots,
        })
}

/// A request as sent: its path, body and key.
#[derive(Debug, Clone)]
struct Sent {
    shot: Shot,
    path: String,
    body: Value,
    response: TestResponse,
}

impl Sent {
    fn fresh(&self) -> bool {
        self.response.status.is_success()
            && self.response.headers.get("idempotent-replayed").is_none()
    }

    fn same_request(&self, other: &Sent) -> bool {
        self.path == other.path && self.body == other.body
    }
}

fn share(amount: i64, percent: u8) -> i64 {
    amount * i64::from(percent) / 100
}

/// Fires `batch` at a new successful payment of a new merchant of `app` called `name`, checks
/// the answers and the state, then settles the refunds and checks the events.
pub async fn fire(
    app: &Arc<TestApp>,
    name: &str,
    webhook_url: &str,
    batch: &Batch,
) -> Result<(), String> {
    let merchant = Merchant::create(app, name, webhook_url).await;
    let amount = batch.amount;
    let payment = merchant.successful_payment(amount).await?;
    let refunds_path = format!("/api/v1/payments/{payment}/refunds");
    let first = match batch.refunded_first {
        Some(percent) => {
            let body = json!({ "amount": share(amount, percent).max(1) });
            let response = merchant.post(&refunds_path, None, body).await;
            check!(
                response.status == StatusCode::CREATED,
                "the first refund: {}",
                response.text
            );
            Some(response.id())
        }
        None => None,
    };

    let tasks: Vec<_> = batch
        .shots
        .iter()
        .map(|&shot| {
            let (path, body) = match shot {
                Shot::Capture { amount: a, .. } => (
                    format!("/api/v1/payments/{payment}/capture"),
                    match a {
                        CaptureAmount::Omitted => json!({}),
                        CaptureAmount::Right => json!({ "amount": amount }),
                        CaptureAmount::Wrong => json!({ "amount": amount + 1 }),
                    },
                ),
                Shot::Refund { percent, .. } => (
                    refunds_path.clone(),
                    match percent {
                        100 => json!({}),
                        101 => json!({ "amount": amount + 1 }),
                        p => json!({ "amount": share(amount, p).max(1) }),
                    },
                ),
            };
            let merchant = merchant.clone();
            let key = shot.key().map(|k| format!("{name}-key-{k}"));
            tokio::spawn(async move {
                let response = merchant.post(&path, key.as_deref(), body.clone()).await;
                Sent {
                    shot,
                    path,
                    body,
                    response,
                }
            })
        })
        .collect();
    let mut sent = Vec::new();
    for task in tasks {
        sent.push(task.await.map_err(|e| format!("a request panicked: {e}"))?);
    }
    let trace = || {
        sent.iter()
            .map(|s| format!("{:?} → {} {}", s.shot, s.response.status, s.response.text))
            .collect::<Vec<_>>()
            .join("\n  ")
    };

    let listed = merchant.list(&refunds_path).await?;
    let captured = merchant
        .get(&format!("/api/v1/payments/{payment}"))
        .await
        .json["captured"]
        == true;
    check_batch(amount, first.as_deref(), &sent, &listed, captured)
        .map_err(|e| format!("{e}\n  {}", trace()))?;

    app.run_jobs().await;
    let settled = merchant.list(&refunds_path).await?;
    check!(
        settled.len() == listed.len() && settled.iter().all(|r| r["status"] == "processed"),
        "every refund is processed once the worker ran: {settled:?}"
    );
    let mut events: Vec<String> = merchant
        .list("/api/v1/webhooks")
        .await?
        .iter()
        .filter_map(|r| r["event"].as_str().map(str::to_owned))
        .collect();
    events.sort_unstable();
    let mut expected: Vec<String> = ["payment.created", "payment.pending", "payment.success"]
        .into_iter()
        .chain(std::iter::repeat_n("refund.created", listed.len()))
        .chain(std::iter::repeat_n("refund.processed", listed.len()))
        .map(str::to_owned)
        .collect();
    expected.sort_unstable();
    check!(
        events == expected,
        "expected the events {expected:?}, the merchant has {events:?}"
    );
    Ok(())
}

/// The answers and the state after the batch are explainable by a serial order.
fn check_batch(
    amount: i64,
    first: Option<&str>,
    sent: &[Sent],
    listed: &[Value],
    captured: bool,
) -> Result<(), String> {
    for s in sent {
        let (status, code) = (s.response.status, s.response.error_code());
        let effect = match s.shot {
            Shot::Capture { .. } => StatusCode::OK,
            Shot::Refund { .. } => StatusCode::CREATED,
        };
        let keyed = s.shot.key().is_some();
        let allowed = status == effect
            || (status == StatusCode::BAD_REQUEST && code == "BAD_REQUEST_ERROR")
            || (keyed && status == StatusCode::CONFLICT && code == "CONFLICT_ERROR")
            || (keyed
                && status == StatusCode::UNPROCESSABLE_ENTITY
                && code == "IDEMPOTENCY_KEY_REUSED_ERROR");
        check!(
            allowed,
            "{:?} was answered {status} {}",
            s.shot,
            s.response.text
        );
    }

    // Σ non-failed refunds ≤ amount.
    let refunded: i64 = listed
        .iter()
        .filter(|r| r["status"] != "failed")
        .filter_map(|r| r["amount"].as_i64())
        .sum();
    check!(refunded <= amount, "{refunded} refunded of {amount}");

    // Every 2xx refund answer is a listed refund of the amount asked, and every listed refund
    // (but the first) was announced by a fresh 2xx answer, exactly one.
    let listed_ids: BTreeSet<&str> = listed.iter().filter_map(|r| r["id"].as_str()).collect();
    let mut answered: BTreeMap<&str, usize> = BTreeMap::new();
    for s in sent
        .iter()
        .filter(|s| matches!(s.shot, Shot::Refund { .. }))
    {
        if !s.response.status.is_success() {
            continue;
        }
        let id = s.response.json["id"].as_str().unwrap_or_default();
        check!(
            listed_ids.contains(id),
            "refund {id} was answered but is not listed"
        );
        let asked = s.body["amount"].as_i64().unwrap_or(amount);
        check!(
            s.response.json["amount"] == asked,
            "asked {asked}, answered {}",
            s.response.text
        );
        if s.fresh() {
            *answered.entry(id).or_default() += 1;
        }
    }
    let made: BTreeSet<&str> = listed_ids
        .iter()
        .copied()
        .filter(|id| Some(*id) != first)
        .collect();
    check!(
        answered.keys().copied().collect::<BTreeSet<_>>() == made
            && answered.values().all(|n| *n == 1),
        "refunds made {made:?}, fresh answers {answered:?}"
    );

    // Captured at most once, never after a refund that was there first, and the flag says so.
    let captures: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s.shot, Shot::Capture { .. }) && s.response.status.is_success())
        .collect();
    check!(
        captures.iter().filter(|s| s.fresh()).count() <= 1,
        "captured more than once"
    );
    let answered_captured = !captures.is_empty();
    check!(
        captured == answered_captured,
        "captured is {captured} after {} capture answers",
        captures.len()
    );
    check!(
        first.is_none() || !captured,
        "captured although a refund existed before the batch"
    );

    // One key, one effect: a replay repeats the fresh answer to the same request; a reused key
    // is refused only when the key's effect came from a different request.
    for key in 0..KEYS {
        let under: Vec<&Sent> = sent.iter().filter(|s| s.shot.key() == Some(key)).collect();
        let fresh: Vec<&&Sent> = under.iter().filter(|s| s.fresh()).collect();
        check!(fresh.len() <= 1, "key {key} had {} effects", fresh.len());
        for s in &under {
            let replayed = s.response.status.is_success() && !s.fresh();
            if replayed {
                check!(
                    fresh
                        .first()
                        .is_some_and(|f| f.same_request(s) && f.response.json == s.response.json),
                    "key {key}: {:?} replayed something other than the fresh answer to it",
                    s.shot
                );
            }
            if s.response.status == StatusCode::UNPROCESSABLE_ENTITY {
                check!(
                    fresh.first().is_some_and(|f| !f.same_request(s)),
                    "key {key}: {:?} refused as reused without another request's effect",
                    s.shot
                );
            }
        }
    }

    // Every refusal has a reason in some serial order, so in the final state.
    let balance = amount - refunded;
    for s in sent
        .iter()
        .filter(|s| s.response.status == StatusCode::BAD_REQUEST)
    {
        match s.shot {
            Shot::Refund { .. } => {
                let asked = s.body["amount"].as_i64().unwrap_or(amount);
                check!(
                    asked > balance,
                    "a refund of {asked} was refused with {balance} left: {}",
                    s.response.text
                );
            }
            Shot::Capture { amount: a, .. } => check!(
                a == CaptureAmount::Wrong || captured || refunded > 0,
                "a capture was refused though nothing was captured or refunded: {}",
                s.response.text
            ),
        }
    }
    Ok(())
}
