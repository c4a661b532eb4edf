//! The real side of the model test: one case's commands sent to a shared [`TestApp`] through the
//! router, and after each, everything observable about the case's objects compared with the
//! model: the answer (status, error code, body), every order, payment and refund (status,
//! amount, `captured`, refunded sums) and the webhook deliveries the step added.
//!
//! Cases share one app per backend, so a case sees only what it created: it reads the newest
//! `n` rows of each list (every command first moves the clock, so its rows sort first) and the
//! growth of each list's total since the case began.

use std::fmt::Write as _;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tests::{TestApp, TestResponse};

use super::reference::{
    Answer, Command, DECLINED_REASON, Instrument, Model, Object, OrderStatus, PROCESSING_DELAY_MS,
    Refusal, Request, Status, TICK_MS,
};

/// Fails the step with a message when `cond` is false.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Row counts of the merchant's lists.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    orders: i64,
    payments: i64,
    refunds: i64,
    deliveries: i64,
}

/// One case against the shared app: the real ids of the model's objects, the first answer
/// under each key, and where the lists stood when the case began.
pub struct Case<'a> {
    app: &'a TestApp,
    name: String,
    orders: Vec<String>,
    payments: Vec<String>,
    refunds: Vec<String>,
    first_answers: Vec<Option<TestResponse>>,
    before: Totals,
    deliveries_seen: i64,
    log: String,
}

impl<'a> Case<'a> {
    /// Starts case `name` on `app`: settles whatever an earlier (failed) case left pending and
    /// notes where the lists stand.
    pub async fn start(app: &'a TestApp, name: String) -> Self {
        app.advance(Duration::from_millis(PROCESSING_DELAY_MS));
        app.run_jobs().await;
        let total = |path: &'static str| async move {
            let response = app.get(&format!("{path}?limit=1")).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text);
            response.json["total"].as_i64().expect("a total")
        };
        let before = Totals {
            orders: total("/api/v1/orders").await,
            payments: total("/api/v1/payments").await,
            refunds: total("/api/v1/refunds").await,
            deliveries: total("/api/v1/webhooks").await,
        };
        Self {
            app,
            name,
            orders: Vec::new(),
            payments: Vec::new(),
            refunds: Vec::new(),
            first_answers: Vec::new(),
            before,
            deliveries_seen: before.deliveries,
            log: String::new(),
        }
    }

    /// The steps so far, one a line, for a failure message.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// Runs `command` on the app, then compares everything with `model` (the state after it).
    pub async fn step(&mut self, command: &Command, model: &Model) -> Result<(), String> {
        self.app.advance(Duration::from_millis(TICK_MS));
        let _ = write!(self.log, "{:>3}. {command:?}", self.log.lines().count() + 1);
        match (command, &model.sent) {
            (Command::RunWorker { advance_ms }, _) => {
                self.app.advance(Duration::from_millis(*advance_ms));
                let ran = self.app.run_jobs().await;
                let _ = writeln!(self.log, " → {ran} jobs ran");
            }
            (_, Some((request, key))) => {
                let response = self.send(request, *key).await;
                let _ = writeln!(
                    self.log,
                    " → {} {}",
                    response.status.as_u16(),
                    response.text
                );
                self.check_answer(&model.answer, *key, &response)?;
            }
            (_, None) => return Err("the model sent nothing for a request".into()),
        }
        self.check_objects(model).await?;
        self.check_events(model).await
    }

    async fn send(&mut self, request: &Request, key: Option<usize>) -> TestResponse {
        let (path, body) = self.http(request);
        if key.is_some_and(|k| k >= self.first_answers.len()) {
            self.first_answers.push(None);
        }
        match key {
            Some(k) => {
                let key = format!("{}-key-{k}", self.name);
                self.app.post_idempotent(&path, &key, body).await
            }
            None => self.app.post(&path, body).await,
        }
    }

    /// The path and JSON body of `request`.
    fn http(&self, request: &Request) -> (String, Value) {
        match *request {
            Request::CreateOrder { amount } => (
                "/api/v1/orders".into(),
                json!({ "amount": amount, "currency": "INR", "receipt": self.name }),
            ),
            Request::Pay { order, instrument } => {
                let order = &self.orders[order];
                let card = |number: &str| {
                    json!({ "order_id": order, "method": "card", "card": {
                        "number": number, "expiry_month": 12, "expiry_year": 2030,
                        "cvv": "123", "holder_name": "Model Test" } })
                };
                let upi = |vpa: &str| json!({ "order_id": order, "method": "upi", "vpa": vpa });
                let body = match instrument {
                    Instrument::UpiSuccess => upi("success@paytm"),
                    Instrument::UpiFailure => upi("failure@paytm"),
                    Instrument::UpiOther => upi("model.test@okaxis"),
                    Instrument::CardSuccess => card("4111111111111111"),
                    Instrument::CardDecline => card("4000000000000002"),
                    Instrument::CardOther => card("5555555555554444"),
                };
                ("/api/v1/payments".into(), body)
            }
            Request::Capture { payment, amount } => (
                format!("/api/v1/payments/{}/capture", self.payments[payment]),
                amount.map_or_else(|| json!({}), |a| json!({ "amount": a })),
            ),
            Request::Refund {
                payment,
                amount,
                declined,
            } => {
                let reason = if declined {
                    DECLINED_REASON
                } else {
                    "customer request"
                };
                let mut body = json!({ "reason": reason });
                if let Some(a) = amount {
                    body["amount"] = json!(a);
                }
                (
                    format!("/api/v1/payments/{}/refunds", self.payments[payment]),
                    body,
                )
            }
        }
    }

    /// The response is the one the model expects; a new object's id is learnt here.
    fn check_answer(
        &mut self,
        answer: &Answer,
        key: Option<usize>,
        response: &TestResponse,
    ) -> Result<(), String> {
        let replayed = response.headers.get("idempotent-replayed").is_some();
        let body = &response.json;
        match *answer {
            Answer::Nothing => return Err("the model answers nothing to a request".into()),
            Answer::Refused(refusal) => {
                check!(
                    response.status.as_u16() == refusal.status()
                        && response.error_code() == refusal.code(),
                    "expected {} {} ({refusal:?}), got {} {}",
                    refusal.status(),
                    refusal.code(),
                    response.status,
                    response.text
                );
                if refusal == Refusal::Refunded {
                    let description = body["error"]["description"].as_str().unwrap_or_default();
                    check!(
                        description.to_lowercase().contains("refund"),
                        "a capture refused for a refund should say so: {description:?}"
                    );
                }
                return Ok(());
            }
            Answer::Replayed(k) => {
                let Some(first) = self.first_answers.get(k).and_then(Option::as_ref) else {
                    return Err(format!("key {k} has no first answer to replay"));
                };
                check!(
                    replayed && response.status == first.status && *body == first.json,
                    "expected key {k}'s first answer replayed ({} {}), got {} {} (replayed: {replayed})",
                    first.status,
                    first.text,
                    response.status,
                    response.text
                );
                return Ok(());
            }
            Answer::Created(object) => {
                check!(
                    response.status == StatusCode::CREATED && !replayed,
                    "expected a new {object:?}, got {} {} (replayed: {replayed})",
                    response.status,
                    response.text
                );
                let id = response.id();
                let (ids, position) = match object {
                    Object::Order(i) => (&mut self.orders, i),
                    Object::Payment(i) => (&mut self.payments, i),
                    Object::Refund(i) => (&mut self.refunds, i),
                };
                check!(
                    ids.len() == position,
                    "the app knows {} of these; the model made number {position}",
                    ids.len()
                );
                ids.push(id);
            }
            Answer::Captured(p) => {
                check!(
                    response.status == StatusCode::OK
                        && !replayed
                        && body["id"] == self.payments[p].as_str()
                        && body["captured"] == true,
                    "expected payment {p} captured, got {} {} (replayed: {replayed})",
                    response.status,
                    response.text
                );
            }
        }
        if let Some(k) = key {
            self.first_answers[k] = Some(response.clone());
        }
        Ok(())
    }

    /// Every order, payment and refund of the case is as the model says, and no other appeared.
    async fn check_objects(&self, model: &Model) -> Result<(), String> {
        let orders = self
            .newest("/api/v1/orders", self.before.orders, &self.orders)
            .await?;
        for (i, (order, row)) in model.orders.iter().zip(&orders).enumerate() {
            let status = match order.status {
                OrderStatus::Created => "created",
                OrderStatus::Attempted => "attempted",
                OrderStatus::Paid => "paid",
            };
            check!(
                row["status"] == status && row["amount"] == order.amount,
                "order {i}: expected {status} of {}, got {row}",
                order.amount
            );
        }
        let payments = self
            .newest("/api/v1/payments", self.before.payments, &self.payments)
            .await?;
        let refunds = self
            .newest("/api/v1/refunds", self.before.refunds, &self.refunds)
            .await?;
        for (i, (payment, row)) in model.payments.iter().zip(&payments).enumerate() {
            let status = match payment.status {
                Status::Pending => "pending",
                Status::Done => "success",
                Status::Failed => "failed",
            };
            check!(
                row["status"] == status
                    && row["captured"] == payment.captured
                    && row["amount"] == payment.amount
                    && row["order_id"] == self.orders[payment.order].as_str(),
                "payment {i}: expected {status}, captured {}, {} for order {}, got {row}",
                payment.captured,
                payment.amount,
                payment.order
            );
            let refunded: i64 = refunds
                .iter()
                .filter(|r| r["payment_id"] == row["id"] && r["status"] != "failed")
                .filter_map(|r| r["amount"].as_i64())
                .sum();
            check!(
                refunded == model.refunded(i) && refunded <= payment.amount,
                "payment {i}: expected {} refunded of {}, the app lists {refunded}",
                model.refunded(i),
                payment.amount
            );
        }
        for (i, (refund, row)) in model.refunds.iter().zip(&refunds).enumerate() {
            let status = match refund.status {
                Status::Pending => "pending",
                Status::Done => "processed",
                Status::Failed => "failed",
            };
            check!(
                row["status"] == status
                    && row["amount"] == refund.amount
                    && row["payment_id"] == self.payments[refund.payment].as_str(),
                "refund {i}: expected {status} of {} for payment {}, got {row}",
                refund.amount,
                refund.payment
            );
        }
        Ok(())
    }

    /// The rows of the case's `ids` in `path`'s list, in the case's order, checking that the
    /// list grew by exactly those since the case began.
    async fn newest(&self, path: &str, before: i64, ids: &[String]) -> Result<Vec<Value>, String> {
        let response = self
            .app
            .get(&format!("{path}?limit={}", ids.len().clamp(1, 100)))
            .await;
        check!(
            response.status == StatusCode::OK,
            "{path}: {}",
            response.text
        );
        let total = response.json["total"].as_i64().unwrap_or(-1);
        let rows = response.json["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        check!(
            total == before + ids.len() as i64,
            "{path} lists {} new rows; the model made {}: {}",
            total - before,
            ids.len(),
            rows.iter()
                .map(|r| format!("{} {}", r["id"], r["status"]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                rows.iter()
                    .find(|row| row["id"] == id.as_str())
                    .cloned()
                    .ok_or_else(|| format!("{path}: number {i} ({id}) is not among the newest"))
            })
            .collect()
    }

    /// The deliveries the step added are the model's events, one each, with the object's
    /// status at that moment in the payload.
    async fn check_events(&mut self, model: &Model) -> Result<(), String> {
        let expected = model.events.len();
        let response = self
            .app
            .get(&format!(
                "/api/v1/webhooks?limit={}",
                (expected + 3).min(100)
            ))
            .await;
        check!(
            response.status == StatusCode::OK,
            "webhooks: {}",
            response.text
        );
        let total = response.json["total"].as_i64().unwrap_or(-1);
        let rows = response.json["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let added = usize::try_from(total - self.deliveries_seen).unwrap_or(usize::MAX);
        let mut seen: Vec<(String, String, String)> = rows
            .iter()
            .take(added)
            .map(|row| {
                let data = &row["payload"]["data"];
                let object = if data["refund"].is_object() {
                    &data["refund"]
                } else {
                    &data["payment"]
                };
                (
                    row["event"].as_str().unwrap_or_default().to_owned(),
                    self.name_of(object["id"].as_str().unwrap_or_default()),
                    object["status"].as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect();
        seen.sort();
        let mut wanted: Vec<(String, String, String)> = model
            .events
            .iter()
            .map(|(kind, object)| {
                (
                    kind.name().to_owned(),
                    format!("{object:?}"),
                    kind.object_status().to_owned(),
                )
            })
            .collect();
        wanted.sort();
        check!(
            added == expected && seen == wanted,
            "expected events {wanted:?}, the step added {added}: {seen:?}"
        );
        self.deliveries_seen = total;
        Ok(())
    }

    /// The model's name for a real id (`Payment(1)`), or the id itself if the case did not make it.
    fn name_of(&self, id: &str) -> String {
        let position = |ids: &[String]| ids.iter().position(|x| x == id);
        match (position(&self.payments), position(&self.refunds)) {
            (Some(p), _) => format!("{:?}", Object::Payment(p)),
            (_, Some(r)) => format!("{:?}", Object::Refund(r)),
            _ => id.to_owned(),
        }
    }
}
