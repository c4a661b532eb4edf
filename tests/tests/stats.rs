//! `GET /api/v1/stats` (the dashboard's overview) and the orders list's status filter: counted
//! in SQL per merchant and currency, bucketed by UTC hour or day, the same on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tests::{TestApp, conformance};

const HOUR: Duration = Duration::from_secs(3600);

fn bucket(stats: &Value, index: usize) -> &Value {
    &stats["series"][index]
}

fn count_amount(value: &Value) -> (i64, i64) {
    (
        value["count"].as_i64().unwrap(),
        value["amount"].as_i64().unwrap(),
    )
}

conformance! {
    async fn payments_are_counted_by_hour_and_status(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let succeeded = app.successful_payment(10_000).await;
        let order = app.create_order(20_000).await;
        app.create_upi_payment(&order, "failure@paytm").await;
        app.run_jobs().await;
        let refund = app
            .post(&format!("/api/v1/payments/{succeeded}/refunds"), json!({ "amount": 1_000 }))
            .await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text);
        app.post(&format!("/api/v1/payments/{succeeded}/refunds"), json!({ "amount": 500 }))
            .await;
        app.advance(2 * HOUR);
        app.successful_payment(5_000).await;
        let order = app.create_order(30_000).await;
        app.create_upi_payment(&order, "success@paytm").await; // left pending

        let stats = app.get("/api/v1/stats").await;
        assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
        let stats = stats.json;
        assert_eq!(stats["range"], "24h");
        assert_eq!(stats["bucket"], "hour");
        assert_eq!(stats["currency"], "INR");
        assert_eq!(stats["series"].as_array().unwrap().len(), 24);
        assert_eq!(stats["from"], "2024-01-14T13:00:00Z");
        assert_eq!(stats["to"], "2024-01-15T13:00:00Z");
        assert_eq!(bucket(&stats, 23)["start"], "2024-01-15T12:00:00Z");
        assert_eq!(count_amount(&bucket(&stats, 23)["success"]), (1, 5_000));
        assert_eq!(count_amount(&bucket(&stats, 21)["success"]), (1, 10_000));
        assert_eq!(count_amount(&bucket(&stats, 21)["failed"]), (1, 20_000));
        assert_eq!(count_amount(&bucket(&stats, 21)["pending"]), (0, 0));
        assert_eq!(count_amount(&bucket(&stats, 23)["pending"]), (1, 30_000));
        assert_eq!(count_amount(&bucket(&stats, 22)["success"]), (0, 0));
        assert_eq!(count_amount(&stats["totals"]["success"]), (2, 15_000));
        assert_eq!(stats["success_rate"], json!(0.6667));
        assert_eq!(stats["refunds"]["count"], 2);
        assert_eq!(stats["refunds"]["amount"], 1_500);
        assert_eq!(stats["refunds"]["processed_amount"], 1_500);
        let health = &stats["webhooks"];
        let deliveries = health["pending"].as_i64().unwrap()
            + health["success"].as_i64().unwrap()
            + health["failed"].as_i64().unwrap();
        assert_eq!(deliveries, app.deliveries().await.len() as i64);
    }

    async fn the_30_day_range_buckets_by_utc_day(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(10_000).await;
        app.advance(3 * 24 * HOUR);
        app.successful_payment(7_000).await;
        app.advance(40 * 24 * HOUR);
        let old = app.get("/api/v1/stats?range=30d").await.json;
        assert_eq!(count_amount(&old["totals"]["success"]), (0, 0), "{old}");
        assert_eq!(old["success_rate"], Value::Null);

        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(10_000).await;
        app.advance(3 * 24 * HOUR);
        app.successful_payment(7_000).await;
        let stats = app.get("/api/v1/stats?range=30d").await.json;
        assert_eq!(stats["bucket"], "day");
        assert_eq!(stats["series"].as_array().unwrap().len(), 30);
        assert_eq!(bucket(&stats, 29)["start"], "2024-01-18T00:00:00Z");
        assert_eq!(count_amount(&bucket(&stats, 29)["success"]), (1, 7_000));
        assert_eq!(count_amount(&bucket(&stats, 26)["success"]), (1, 10_000));
        assert_eq!(stats["success_rate"], json!(1.0));
    }

    async fn stats_are_scoped_to_the_merchant_and_currency(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(10_000).await;
        let other = app.create_merchant("other@example.com").await;
        let theirs = app.get_as(&other, "/api/v1/stats").await.json;
        assert_eq!(count_amount(&theirs["totals"]["success"]), (0, 0));
        let usd = app.get("/api/v1/stats?currency=USD").await.json;
        assert_eq!(usd["currency"], "USD");
        assert_eq!(count_amount(&usd["totals"]["success"]), (0, 0));
        let inr = app.get("/api/v1/stats?currency=INR").await.json;
        assert_eq!(count_amount(&inr["totals"]["success"]), (1, 10_000));
    }

    async fn bad_stats_queries_are_refused(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        for path in [
            "/api/v1/stats?range=7d",
            "/api/v1/stats?currency=XYZ",
            "/api/v1/stats?range=",
        ] {
            let response = app.get(path).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{path}");
            assert_eq!(response.error_code(), "BAD_REQUEST_ERROR", "{path}");
        }
        let anonymous = app
            .send(axum::http::Method::GET, "/api/v1/stats", None, &[], Vec::new())
            .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }

    async fn orders_can_be_listed_by_status(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        app.successful_payment(10_000).await;
        let attempted = app.create_order(20_000).await;
        app.create_upi_payment(&attempted, "failure@paytm").await;
        app.run_jobs().await;
        let created = app.create_order(30_000).await;

        for (status, expected) in [("created", &created), ("attempted", &attempted)] {
            let page = app.get(&format!("/api/v1/orders?status={status}")).await.json;
            assert_eq!(page["total"], 1, "{status}: {page}");
            assert_eq!(page["data"][0]["id"], expected.as_str());
        }
        let paid = app.get("/api/v1/orders?status=paid").await.json;
        assert_eq!(paid["total"], 1);
        assert_eq!(paid["data"][0]["status"], "paid");
        assert_eq!(app.get("/api/v1/orders").await.json["total"], 3);
        let bad = app.get("/api/v1/orders?status=open").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.error_code(), "BAD_REQUEST_ERROR");
    }
}
