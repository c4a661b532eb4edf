//! The scenarios: `api` (closed-loop HTTP load), `limit` (the database's own insert rate),
//! `e2e` (payment → webhook, plus `idle`), `isolation` (a hanging merchant's effect on a
//! healthy one) and `burst` (test webhooks requested at full speed, POST → receipt).

pub mod api;
pub mod burst;
pub mod e2e;
pub mod isolation;
pub mod limit;

use std::time::Duration;

use crate::gateway::{Backend, Launch};

/// Everything a scenario needs to know about the run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The database backend.
    pub backend: Backend,
    /// The server PostgreSQL databases are created on (an admin URL ending in `/<db>`).
    pub postgres_url: String,
    /// How to start the gateway.
    pub launch: Launch,
    /// Client counts for `api` and `limit`.
    pub connections: Vec<usize>,
    /// Measured time of each closed-loop step.
    pub duration: Duration,
    /// Unmeasured time before each closed-loop step.
    pub warmup: Duration,
    /// Payments per `e2e` run.
    pub payments: usize,
    /// Offered rates (payments/s) of the open-loop `e2e` runs.
    pub rates: Vec<f64>,
    /// Clients of the closed-loop `e2e` run.
    pub closed_clients: usize,
    /// Payments of the `idle` run.
    pub idle_payments: usize,
    /// Offered rate of each merchant in `isolation`.
    pub isolation_rate: f64,
    /// Payments of merchant A in each `isolation` phase.
    pub isolation_payments: usize,
    /// Whether `limit` runs, interleaved with `api` when both are asked for.
    pub with_limit: bool,
    /// Test webhooks per `burst` round.
    pub burst_requests: usize,
    /// Closed-loop clients of `burst`.
    pub burst_clients: usize,
    /// Rounds of `burst`, each on a fresh database and gateway.
    pub rounds: usize,
}
