//! Readiness tells the truth: a database that answers but cannot commit a write makes `/ready`
//! fail and `/health` report `degraded` with the reason (PostgreSQL made read-only, as a
//! replica or a full disk would be), and both recover when writes work again. A gateway that
//! is shutting down is not ready either, so load balancers stop sending it requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use sqlx::Connection;
use tests::{Backend, TestApp, TestResponse};

/// Sets the test database's `default_transaction_read_only` and drops its connections, so the
/// pool reconnects with the new default.
async fn set_read_only(app: &TestApp, read_only: bool) {
    let mut admin = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    // This session itself may start read-only (when undoing): override it for the session.
    sqlx::query("SET default_transaction_read_only = off")
        .execute(&mut admin)
        .await
        .unwrap();
    let setting = if read_only { "on" } else { "off" };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = {setting}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .await
    .unwrap();
}

/// `/health` once its status is `expected`: the pool first replaces the connections the server
/// dropped (each broken connection fails one query before the pool lets it go).
async fn settled_health(app: &TestApp, expected: &str) -> TestResponse {
    let mut last = app.get("/health").await;
    for _ in 0..100 {
        if last.json["status"] == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        last = app.get("/health").await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_take_writes_is_not_ready() {
    let app = TestApp::spawn_on(Backend::Postgres).await;
    assert_eq!(app.get("/ready").await.status, StatusCode::OK);

    set_read_only(&app, true).await;
    let health = settled_health(&app, "degraded").await;
    assert_eq!(health.json["status"], "degraded", "{}", health.text);
    assert_eq!(health.status, StatusCode::OK, "the database still answers");
    assert_eq!(health.json["database"], "read-only");
    let reason = health.json["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("cannot commit a write"), "{}", health.text);
    let ready = app.get("/ready").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(ready.json["ready"], false);
    let order = app
        .post("/api/v1/orders", serde_json::json!({ "amount": 5000 }))
        .await;
    assert_eq!(
        order.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        order.text
    );

    set_read_only(&app, false).await;
    let health = settled_health(&app, "healthy").await;
    assert_eq!(health.json["status"], "healthy", "{}", health.text);
    assert_eq!(app.get("/ready").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_gateway_shutting_down_is_not_ready_while_it_still_answers_requests() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    assert_eq!(app.get("/ready").await.status, StatusCode::OK);

    app.shutting_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json["ready"], false);
    let health = app.get("/health").await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "the process itself is healthy"
    );
    let order = app
        .post("/api/v1/orders", serde_json::json!({ "amount": 5000 }))
        .await;
    assert_eq!(
        order.status,
        StatusCode::CREATED,
        "requests still in flight are served: {}",
        order.text
    );
}
