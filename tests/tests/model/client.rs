//! A merchant of its own for every case, so that cases can share one app (and one database)
//! while each case's lists, totals and webhook deliveries hold only what that case made, and
//! a check costs the same in the ten-thousandth case as in the first.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Credentials, TestApp, TestResponse};

/// A merchant's view of the app: every request carries its credentials.
#[derive(Clone)]
pub struct Merchant {
    app: Arc<TestApp>,
    credentials: Credentials,
}

impl Merchant {
    /// A new merchant on `app`, called `name`, whose webhooks go to `webhook_url`.
    pub async fn create(app: &Arc<TestApp>, name: &str, webhook_url: &str) -> Self {
        let credentials = app.create_merchant(&format!("{name}@model.test")).await;
        let merchant = Self {
            app: app.clone(),
            credentials,
        };
        let configured = merchant
            .send(
                Method::PUT,
                "/api/v1/webhooks/config",
                None,
                json!({ "webhook_url": webhook_url }),
            )
            .await;
        assert_eq!(configured.status, StatusCode::OK, "{}", configured.text);
        merchant
    }

    /// The app.
    pub fn app(&self) -> &TestApp {
        &self.app
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Value,
    ) -> TestResponse {
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        let body = if method == Method::GET {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.app
            .send(method, path, Some(&self.credentials), &headers, body)
            .await
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, Value::Null).await
    }

    /// POST `body` to `path`, under `key` if given.
    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        self.send(Method::POST, path, key, body).await
    }

    /// Every item of the list at `path` (newest first), page by page, or why not.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page = self
                .get(&format!(
                    "{path}{separator}limit=100&offset={}",
                    items.len()
                ))
                .await;
            if page.status != StatusCode::OK {
                return Err(format!("GET {path}: {} {}", page.status, page.text));
            }
            let total = page.json["total"].as_u64().unwrap_or(0);
            let data = page.json["data"].as_array().cloned().unwrap_or_default();
            let empty = data.is_empty();
            items.extend(data);
            if items.len() as u64 >= total || empty {
                return Ok(items);
            }
        }
    }

    /// A paid order of `amount`: the id of its successful payment.
    pub async fn successful_payment(&self, amount: i64) -> Result<String, String> {
        let order = self
            .post("/api/v1/orders", None, json!({ "amount": amount }))
            .await;
        let payment = self
            .post(
                "/api/v1/payments",
                None,
                json!({ "order_id": order.json["id"], "method": "upi", "vpa": "success@paytm" }),
            )
            .await;
        if payment.status != StatusCode::CREATED {
            return Err(format!("paying {}: {}", order.text, payment.text));
        }
        self.app.run_jobs().await;
        let id = payment.id();
        let settled = self.get(&format!("/api/v1/payments/{id}")).await;
        if settled.json["status"] != "success" {
            return Err(format!("the payment did not succeed: {}", settled.text));
        }
        Ok(id)
    }
}
