//! The real side of the model test: one case's commands sent to a shared [`TestApp`] through the
//! router, and after each, everything observable about the case's objects compared with the
//! model: the answer (status, error code, body), every order, payment and refund (status,
//! amount, `captured`, refunded sums) and the webhook deliveries the step added.
//!
//! Cases share one app per backend; each case is a merchant of its own ([`Merchant`]), so its
//! lists hold exactly what it made.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tests::{TestApp, TestResponse};

use super::client::Merchant;
use super::reference::{
    Answer, Command, DECLINED_REASON, Instrument, Model, Object, OrderStatus, Refusal, Request,
    Status, TICK_MS,
};

/// Fails the step with a message when `cond` is false.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// One case against the shared app: its merchant, the real ids of the model's objects, the
/// first answer under each key, and the deliveries seen so far.
pub struct Case {
    merchant: Merchant,
    name: String,
    orders: Vec<String>,
    payments: Vec<String>,
    refunds: Vec<String>,
    first_answers: Vec<Option<TestResponse>>,
    deliveries_seen: HashSet<String>,
    log: String,
}

impl Case {
    /// Starts case `name` on `app` with a new merchant whose webhooks go to `webhook_url`.
    pub async fn start(app: &Arc<TestApp>, name: String, webhook_url: &str) -> Self {
        Self {
            merchant: Merchant::create(app, &name, webhook_url).await,
            name,
            orders: Vec::new(),
            payments: Vec::new(),
            refunds: Vec::new(),
            first_answers: Vec::new(),
            deliveries_seen: HashSet::new(),
            log: String::new(),
        }
    }

    /// The steps so far, one a line, for a failure message.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// Runs `command` on the app, then compares everything with `model` (the state after it).
    pub async fn step(&mut self, command: &Command, model: &Model) -> Result<(), String> {
        let app = self.merchant.app();
        app.advance(Duration::from_millis(TICK_MS));
        let _ = write!(self.log, "{:>3}. {command:?}", self.log.lines().count() + 1);
        match (command, &model.sent) {
            (Command::RunWorker { advance_ms }, _) => {
                app.advance(Duration::from_millis(*advance_ms));
                let ran = app.run_jobs().await;
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
        let key = key.map(|k| format!("{}-key-{k}", self.name));
        self.merchant.post(&path, key.as_deref(), body).await
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
        let orders = self.rows("/api/v1/orders", &self.orders).await?;
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
        let payments = self.rows("/api/v1/payments", &self.payments).await?;
        let refunds = self.rows("/api/v1/refunds", &self.refunds).await?;
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
    /// list holds exactly those.
    async fn rows(&self, path: &str, ids: &[String]) -> Result<Vec<Value>, String> {
        let rows = self.merchant.list(path).await?;
        check!(
            rows.len() == ids.len(),
            "{path} lists {} rows; the model made {}: {}",
            rows.len(),
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
                    .ok_or_else(|| format!("{path}: number {i} ({id}) is not listed"))
            })
            .collect()
    }

    /// The deliveries the step added are the model's events, one each, with the object's
    /// status at that moment in the payload.
    async fn check_events(&mut self, model: &Model) -> Result<(), String> {
        let rows = self.merchant.list("/api/v1/webhooks").await?;
        let added: Vec<&Value> = rows
            .iter()
            .filter(|row| {
                !self
                    .deliveries_seen
                    .contains(row["id"].as_str().unwrap_or_default())
            })
            .collect();
        let mut seen: Vec<(String, String, String)> = added
            .iter()
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
            seen == wanted,
            "expected events {wanted:?}, the step added {seen:?}"
        );
        self.deliveries_seen.extend(
            added
                .iter()
                .filter_map(|row| row["id"].as_str().map(str::to_owned)),
        );
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
