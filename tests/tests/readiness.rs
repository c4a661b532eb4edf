//! Readiness tells the truth: a database that answers but cannot commit a write makes `/ready`
//! fail and `/health` report `degraded` with the reason (PostgreSQL made read-only, as a
//! replica or a full disk would be), and both recover when writes work again.

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

/// `/ready` once the pool has replaced the connections the server dropped (each broken
/// connection fails one query before the pool lets it go).
async fn settled_ready(app: &TestApp, expected: StatusCode) -> TestResponse {
    let mut last = app.get("/ready").await;
    for _ in 0..50 {
        if last.status == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        last = app.get("/ready").await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_take_writes_is_not_ready() {
    let app = TestApp::spawn_on(Backend::Postgres).await;
    assert_eq!(app.get("/ready").await.status, StatusCode::OK);

    set_read_only(&app, true).await;
    let ready = settled_ready(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(ready.json["ready"], false);
    let health = app.get("/health").await;
    assert_eq!(health.json["status"], "degraded", "{}", health.text);
    assert_eq!(health.json["database"], "read-only");
    assert!(
        health.json["reason"]
            .as_str()
            .unwrap()
            .contains("cannot commit a write"),
        "{}",
        health.text
    );
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
    assert_eq!(
        settled_ready(&app, StatusCode::OK).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/health").await.json["status"], "healthy");
}
