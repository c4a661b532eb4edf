//! `/health`, `/ready` and the reference's unauthenticated job-queue status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gateway_core::jobs::JobStats;

use crate::AppState;
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/api/v1/test/jobs/status", get(job_status))
}

/// 200 with the health report while the database answers, 503 with it otherwise.
async fn health(State(state): State<AppState>) -> Response {
    let health = state.gateway.health().await;
    let status = if health.database == "connected" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

/// Readiness for load balancers: 200 `{"ready": true}` only while the database answers.
async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.gateway.health().await.database == "connected";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({ "ready": ready }))).into_response()
}

async fn job_status(State(state): State<AppState>) -> Result<Json<JobStats>, ApiError> {
    Ok(Json(state.gateway.job_stats().await?))
}
