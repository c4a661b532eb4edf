//! The store layer both databases share: one [`SqlStore`] implements [`gateway_core::Store`]
//! (and, in `job_queue`, [`gateway_core::JobQueue`]) over any [`Backend`], with every read and every statement both dialects accept written once
//! (`$N` placeholders work on SQLite and PostgreSQL alike).
//!
//! A backend supplies only what really differs: how a write transaction runs (SQLite's
//! group-commit writer, PostgreSQL's pooled transactions with `NOTIFY`), how rows are locked
//! (`FOR UPDATE`, or nothing under SQLite's `BEGIN IMMEDIATE`), how statements are batched, how
//! jobs are claimed and how a delivery attempt is recorded.
//!
//! Commands follow one shape: lock and read a snapshot, ask `gateway-core` for the decision,
//! write what it decided. SQL conditions only repeat a decision as a guard, with the state bound
//! from the core enum.

mod commands;
mod dialect;
mod dispatch;
mod endpoints;
mod events;
mod health;
mod job_queue;
mod outbox;
mod queue;
mod reads;
mod store;

pub(crate) use dialect::{Batch, Bind, Dialect, Fut, Sql, skip_locked};
#[cfg(feature = "sqlite")]
pub(crate) use dialect::{OneByOne, Params};
#[cfg(test)]
pub(crate) use dispatch::{DISPATCH_BACKLOG, JOBS_TO_DISPATCH};
#[cfg(feature = "sqlite")]
pub(crate) use health::before_attempt;
pub(crate) use health::{apply_change, bind_attempt_outcome};
#[cfg(feature = "postgres")]
pub(crate) use health::{confirm_change, foresee_change};
#[cfg(test)]
pub(crate) use queue::move_due_backlog;
pub(crate) use store::{Backend, Command, SqlStore};
