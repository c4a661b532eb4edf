//! An embedding service's own job kind: enqueued through the store, run by a worker the
//! builder made with the service's handler beside the built-in ones, retried when it fails;
//! a kind nobody handles ends `failed` after its attempts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::jobs::{ClaimedJob, JOB_MAX_ATTEMPTS, JobStatus, NewJob};
use gateway_core::{
    BuiltGateway, Clock, GatewayBuilder, Handlers, JobContext, JobError, JobHandler, ManualClock,
    Store, Timestamp, WorkerConfig,
};

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// Sends invoices; fails the first time it sees each one (a flaky mail server).
#[derive(Default)]
struct SendInvoice {
    /// Invoices seen, in order, with each attempt.
    seen: Mutex<Vec<(String, i32)>>,
}

#[async_trait]
impl JobHandler for SendInvoice {
    async fn run(&self, job: &ClaimedJob, cx: &JobContext) -> Result<(), JobError> {
        self.seen
            .lock()
            .unwrap()
            .push((job.entity_id.clone(), job.attempt));
        if job.attempt == 1 {
            return Err(JobError::Failed("mail server busy".into()));
        }
        cx.complete(job).await
    }
}

/// A gateway on a fresh SQLite file with a manual clock.
async fn gateway(clock: Arc<ManualClock>) -> (tempfile::TempDir, Arc<dyn Store>, BuiltGateway) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = gateway_store::open(&url).await.unwrap();
    let built = GatewayBuilder::new(store.clone())
        .pepper("custom-jobs-test-pepper")
        .clock(clock)
        .build()
        .unwrap();
    (dir, store, built)
}

#[tokio::test]
async fn a_custom_job_kind_enqueued_by_the_host_runs_through_the_worker_and_is_retried() {
    let clock = Arc::new(ManualClock::new(T0));
    let (_dir, store, built) = gateway(clock.clone()).await;
    let invoices = Arc::new(SendInvoice::default());
    let worker = Arc::new(built.worker_with(
        WorkerConfig::default(),
        Handlers::new().register("send_invoice", invoices.clone()),
    ));
    assert!(
        worker.handlers().get("process_payment").is_some(),
        "the built-in kinds stay registered"
    );

    let job = NewJob::custom("send_invoice", "inv_42", None, T0);
    store.enqueue_job(&job, T0).await.unwrap();
    assert_eq!(worker.clone().run_once().await, 1);
    let queue = built.queue();
    let report = queue.queue_report(T0).await.unwrap();
    assert_eq!(
        report.count("send_invoice", JobStatus::Queued),
        1,
        "a failed attempt is queued again"
    );
    assert_eq!(worker.clone().run_once().await, 0, "not before its backoff");
    clock.advance(Duration::from_secs(2));
    assert_eq!(worker.clone().run_once().await, 1);
    let report = queue.queue_report(clock.now()).await.unwrap();
    assert_eq!(report.count("send_invoice", JobStatus::Completed), 1);
    assert_eq!(
        *invoices.seen.lock().unwrap(),
        [("inv_42".to_owned(), 1), ("inv_42".to_owned(), 2)]
    );
}

#[tokio::test]
async fn a_job_of_a_kind_nobody_handles_ends_failed_after_its_attempts() {
    let clock = Arc::new(ManualClock::new(T0));
    let (_dir, store, built) = gateway(clock.clone()).await;
    let worker = Arc::new(built.worker(WorkerConfig::default()));
    let job = NewJob::custom("mystery", "x", None, T0);
    store.enqueue_job(&job, T0).await.unwrap();
    let mut runs = 0;
    for _ in 0..(JOB_MAX_ATTEMPTS * 2) {
        runs += worker.clone().run_once().await;
        clock.advance(Duration::from_secs(600));
    }
    assert_eq!(runs, JOB_MAX_ATTEMPTS as usize);
    let counts = built.queue().job_counts().await.unwrap();
    assert_eq!((counts.pending, counts.failed), (0, 1));
}
