//! The database queue: [`SqlStore`] as a [`JobQueue`] over its own job rows (claims by the
//! backend: `SKIP LOCKED` on PostgreSQL, the single writer on SQLite; wake-ups by
//! `LISTEN/NOTIFY` on PostgreSQL).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::clock::Timestamp;
use gateway_core::ids::EndpointId;
use gateway_core::jobs::{ClaimedJob, Lease, QueueReport};
use gateway_core::{JobQueue, StoreError};
use tokio::sync::Notify;

use super::store::{Backend, SqlStore};
use super::{queue, reads};

#[async_trait]
impl<B: Backend> JobQueue for SqlStore<B> {
    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.backend.claim_jobs(worker, now, lease, limit).await
    }

    async fn extend_lease(
        &self,
        lease: &Lease,
        now: Timestamp,
        duration: Duration,
    ) -> Result<(), StoreError> {
        self.backend
            .autocommit(
                (lease.clone(), now, duration),
                queue::extend_lease::<B::Writes>,
            )
            .await
    }

    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError> {
        reads::next_job_due::<B::DB>(&mut *self.read().await?).await
    }

    async fn complete_job(&self, lease: &Lease, now: Timestamp) -> Result<(), StoreError> {
        self.backend
            .autocommit((lease.clone(), now), queue::complete_job::<B::Writes>)
            .await
    }

    async fn defer_job(
        &self,
        lease: &Lease,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.backend
            .autocommit((lease.clone(), run_at, now), queue::defer_job::<B::Writes>)
            .await
    }

    async fn defer_endpoint_backlog(
        &self,
        lease: &Lease,
        endpoint: &EndpointId,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let args = (lease.clone(), endpoint.clone(), run_at, now);
        self.backend
            .transact(args, queue::defer_endpoint_backlog::<B::Writes>, false)
            .await
    }

    async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let args = (lease.clone(), error.to_owned(), retry_at, now);
        self.backend
            .autocommit(args, queue::fail_job::<B::Writes>)
            .await
    }

    async fn release_jobs(&self, worker: &str, now: Timestamp) -> Result<u64, StoreError> {
        // Workers in other processes can take these at once.
        self.backend
            .transact(
                (worker.to_owned(), now),
                queue::release_jobs::<B::Writes>,
                true,
            )
            .await
    }

    async fn queue_report(&self, now: Timestamp) -> Result<QueueReport, StoreError> {
        reads::queue_report::<B::DB>(&mut *self.read().await?, now).await
    }

    async fn prune_jobs(&self, completed_before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.backend
            .transact(
                (completed_before, limit),
                queue::prune_jobs::<B::Writes>,
                false,
            )
            .await
    }

    async fn subscribe_jobs(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        self.backend.subscribe_jobs(wake).await
    }
}
