//! `/health`, `/ready` and the reference's unauthenticated job-queue status.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gateway_core::gateway::{DatabaseState, Health};
use gateway_core::jobs::JobStats;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::Unavailable;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(job_status))
}

/// Health
///
/// 200 with the health report while the database answers (`status` is `degraded`, with a
/// `reason`, while it answers but cannot commit a write), 503 with it otherwise.
#[utoipa::path(
    get,
    path = "/health",
    tag = "system",
    operation_id = "health",
    responses(
        (status = OK, description = "The database answers.", body = Health),
        (status = SERVICE_UNAVAILABLE, description = "The database does not answer.", body = Health),
    ),
)]
async fn health(State(state): State<AppState>) -> Response {
    let health = state.gateway.health().await;
    let status = if health.database == DatabaseState::Disconnected {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(health)).into_response()
}

/// Whether the gateway can serve requests.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    /// `true` while the database answers and commits a write and the gateway is not shutting
    /// down.
    ready: bool,
}

/// Readiness
///
/// For load balancers: 200 `{"ready": true}` only while the database answers and commits a
/// write (a tiny probe row), 503 otherwise, and 503 from the moment the gateway starts
/// shutting down.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "system",
    operation_id = "ready",
    responses(
        (status = OK, description = "Ready.", body = Readiness),
        (status = SERVICE_UNAVAILABLE, description = "Not ready.", body = Readiness),
    ),
)]
async fn ready(State(state): State<AppState>) -> Response {
    let ready =
        !state.shutting_down.load(Ordering::Relaxed) && state.gateway.health().await.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready })).into_response()
}

/// Job queue status
///
/// Job counts by state and whether a worker is alive (the reference's test endpoint).
#[utoipa::path(
    get,
    path = "/api/v1/test/jobs/status",
    tag = "system",
    operation_id = "jobStatus",
    responses(
        (status = OK, description = "Job counts and worker liveness.", body = JobStats),
        Unavailable,
    ),
)]
async fn job_status(State(state): State<AppState>) -> Result<Json<JobStats>, ApiError> {
    Ok(Json(state.gateway.job_stats().await?))
}
