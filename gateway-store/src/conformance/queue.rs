//! The queue conformance suite: every behaviour the [`Worker`](gateway_core::Worker) relies on
//! from a [`JobQueue`](gateway_core::JobQueue) (claims, leases, retries, deferrals, release, reports, pruning), as
//! plain async functions over a [`Fixture`]'s store (which enqueues, in its commands'
//! transactions) and queue (which hands the jobs out). Any queue runs it with
//! [`queue_conformance_suite!`](crate::queue_conformance_suite) over a
//! [`StoreFactory`](super::StoreFactory) whose fixtures pair it with a store.

use std::time::Duration;

use gateway_core::StoreError;
use gateway_core::jobs::{ClaimedJob, JOB_MAX_ATTEMPTS, JobStatus, NewJob};

use super::{Fixture, LEASE, T0, new_endpoint, pending_payment};

/// The stored kind of payment jobs.
const PAYMENT: &str = "process_payment";

/// See the suite list.
pub async fn claims_take_only_due_jobs_up_to_the_batch_size(f: Fixture) {
    for _ in 0..5 {
        pending_payment(&f.store, T0).await;
    }
    pending_payment(&f.store, T0.plus(Duration::from_secs(10))).await;
    let first = f.queue.claim_jobs("w1", T0, LEASE, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    let second = f.queue.claim_jobs("w2", T0, LEASE, 10).await.unwrap();
    assert_eq!(
        second.len(),
        2,
        "claimed jobs are not claimed twice; the future one is not due"
    );
    assert!(first.iter().chain(&second).all(|j| j.attempt == 1));
    assert_eq!(
        f.queue.next_job_due().await.unwrap(),
        Some(T0.plus(Duration::from_secs(10)))
    );
    let counts = f.queue.job_counts().await.unwrap();
    assert_eq!((counts.pending, counts.processing), (1, 5));
}

/// See the suite list.
pub async fn an_expired_lease_makes_a_job_claimable_again_and_the_old_lease_useless(f: Fixture) {
    pending_payment(&f.store, T0).await;
    let old = f
        .queue
        .claim_jobs("w1", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert!(
        f.queue
            .claim_jobs("w2", T0.plus(Duration::from_secs(59)), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let new = f
        .queue
        .claim_jobs("w2", T0.plus(LEASE), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((new.id, new.attempt), (old.id, 2));
    assert_eq!(
        f.queue.complete_job(&old.lease, T0).await,
        Err(StoreError::LeaseLost)
    );
    assert_eq!(
        f.queue.fail_job(&old.lease, "x", None, T0).await,
        Err(StoreError::LeaseLost)
    );
    f.queue.complete_job(&new.lease, T0).await.unwrap();
    assert_eq!(f.queue.job_counts().await.unwrap().completed, 1);
}

/// See the suite list.
pub async fn the_queue_report_counts_by_kind_and_measures_lag_and_expired_leases(f: Fixture) {
    let idle = f.queue.queue_report(T0).await.unwrap();
    assert_eq!((idle.oldest_due, idle.expired_leases), (None, 0));
    pending_payment(&f.store, T0).await;
    pending_payment(&f.store, T0.plus(Duration::from_secs(2))).await;
    pending_payment(&f.store, T0.plus(Duration::from_secs(3600))).await;
    let at = T0.plus(Duration::from_secs(5));
    let report = f.queue.queue_report(at).await.unwrap();
    assert_eq!(report.count(PAYMENT, JobStatus::Queued), 3, "{report:?}");
    assert_eq!(report.lag(at), Duration::from_secs(5), "the oldest due job");
    assert_eq!(f.queue.job_counts().await.unwrap().pending, 3);

    // Both due jobs are claimed; the lag is gone until their leases expire.
    let short = Duration::from_secs(10);
    let claimed = f.queue.claim_jobs("w1", at, short, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let report = f.queue.queue_report(at).await.unwrap();
    assert_eq!(report.count(PAYMENT, JobStatus::Running), 2);
    assert_eq!((report.lag(at), report.expired_leases), (Duration::ZERO, 0));
    let later = at.plus(Duration::from_secs(15));
    let report = f.queue.queue_report(later).await.unwrap();
    assert_eq!(report.expired_leases, 2);
    assert_eq!(
        report.lag(later),
        Duration::from_secs(5),
        "due again since the leases ended"
    );
}

/// See the suite list.
pub async fn failures_requeue_at_the_given_time_or_end_failed(f: Fixture) {
    pending_payment(&f.store, T0).await;
    let job = f
        .queue
        .claim_jobs("w1", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    f.queue
        .fail_job(
            &job.lease,
            "boom",
            Some(T0.plus(Duration::from_secs(4))),
            T0,
        )
        .await
        .unwrap();
    assert!(
        f.queue
            .claim_jobs("w1", T0.plus(Duration::from_secs(3)), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let again = f
        .queue
        .claim_jobs("w1", T0.plus(Duration::from_secs(4)), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    f.queue
        .fail_job(&again.lease, "boom", None, T0)
        .await
        .unwrap();
    let counts = f.queue.job_counts().await.unwrap();
    assert_eq!((counts.pending, counts.failed), (0, 1));
}

/// See the suite list.
pub async fn a_job_whose_worker_dies_on_the_last_attempt_ends_failed(f: Fixture) {
    pending_payment(&f.store, T0).await;
    let mut now = T0;
    for _ in 0..JOB_MAX_ATTEMPTS {
        assert_eq!(
            f.queue
                .claim_jobs("dying", now, LEASE, 1)
                .await
                .unwrap()
                .len(),
            1
        );
        now = now.plus(LEASE);
    }
    assert!(
        f.queue
            .claim_jobs("dying", now, LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.queue.job_counts().await.unwrap().failed, 1);
}

/// See the suite list.
pub async fn released_jobs_are_queued_again_without_losing_an_attempt(f: Fixture) {
    pending_payment(&f.store, T0).await;
    f.queue.claim_jobs("stopping", T0, LEASE, 1).await.unwrap();
    assert_eq!(f.queue.release_jobs("stopping", T0).await.unwrap(), 1);
    let job = f
        .queue
        .claim_jobs("next", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.attempt, 1);
}

/// See the suite list.
pub async fn concurrent_claimers_never_share_a_job(f: Fixture) {
    for _ in 0..12 {
        pending_payment(&f.store, T0).await;
    }
    let claim = |worker: &'static str| {
        let queue = f.queue.clone();
        async move { queue.claim_jobs(worker, T0, LEASE, 5).await.unwrap() }
    };
    let (a, b, c, d) = tokio::join!(claim("a"), claim("b"), claim("c"), claim("d"));
    let mut ids: Vec<i64> = [a, b, c, d].iter().flatten().map(|job| job.id).collect();
    assert_eq!(ids.len(), 12, "every due job is claimed by someone");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no job is claimed twice");
}

/// See the suite list.
pub async fn a_held_lease_can_be_extended_and_a_lost_one_cannot(f: Fixture) {
    pending_payment(&f.store, T0).await;
    let job = f
        .queue
        .claim_jobs("w1", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let later = T0.plus(Duration::from_secs(50));
    f.queue
        .extend_lease(&job.lease, later, LEASE)
        .await
        .unwrap();
    assert!(
        f.queue
            .claim_jobs("w2", T0.plus(LEASE), LEASE, 1)
            .await
            .unwrap()
            .is_empty(),
        "the extended lease still holds after the first one would have ended"
    );
    let taken = f
        .queue
        .claim_jobs("w2", later.plus(LEASE), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((taken.id, taken.attempt), (job.id, 2));
    assert_eq!(
        f.queue
            .extend_lease(&job.lease, later.plus(LEASE), LEASE)
            .await,
        Err(StoreError::LeaseLost)
    );
}

/// See the suite list.
pub async fn deferring_puts_a_job_back_without_using_an_attempt(f: Fixture) {
    pending_payment(&f.store, T0).await;
    let job = f
        .queue
        .claim_jobs("w1", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let later = T0.plus(Duration::from_secs(30));
    f.queue.defer_job(&job.lease, later, T0).await.unwrap();
    assert_eq!(f.queue.next_job_due().await.unwrap(), Some(later));
    assert!(
        f.queue
            .claim_jobs("w1", T0.plus(Duration::from_secs(29)), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let again = f
        .queue
        .claim_jobs("w2", later, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((again.id, again.attempt), (job.id, 1));
    assert_eq!(
        f.queue.defer_job(&job.lease, later, later).await,
        Err(StoreError::LeaseLost),
        "the old holder cannot put it back"
    );
}

/// See the suite list. The held job goes back without using an attempt; its endpoint's other
/// deliveries due now go with it; another endpoint's, other kinds' and later ones stay.
pub async fn deferring_a_delivery_moves_its_endpoints_due_backlog_with_it(f: Fixture) {
    use gateway_core::event::Event;
    use gateway_core::ids::{DeliveryId, EndpointId};
    use gateway_core::merchant::test_merchant;

    let first = new_endpoint("https://first.example/h", &["*"]);
    let second = new_endpoint("https://second.example/h", &["*"]);
    for endpoint in [&first, &second] {
        f.store.create_endpoint(endpoint, None).await.unwrap();
    }
    for _ in 0..3 {
        let event = Event::test(test_merchant::ID, T0);
        f.store.create_test_delivery(&event, None).await.unwrap();
    }
    let soon = T0.plus(Duration::from_secs(30));
    let much_later = T0.plus(Duration::from_secs(7200));
    for at in [soon, much_later] {
        let event = Event::test(test_merchant::ID, at);
        f.store.create_test_delivery(&event, None).await.unwrap();
    }
    pending_payment(&f.store, T0).await;
    let endpoint_of = |entity: String| {
        let store = f.store.clone();
        async move {
            let id = DeliveryId::parse(&entity)?;
            let delivery = store.delivery(test_merchant::ID, id).await.unwrap()?;
            delivery.delivery.endpoint_id
        }
    };

    // Each claimed job's endpoint, in claim order (`None` for a job that is no delivery).
    let endpoints_of = async |jobs: &[ClaimedJob]| {
        let mut endpoints = Vec::new();
        for job in jobs {
            endpoints.push(endpoint_of(job.entity_id.clone()).await);
        }
        endpoints
    };

    let held = f
        .queue
        .claim_jobs("w1", T0, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let busy: EndpointId = endpoint_of(held.entity_id.clone()).await.unwrap();
    let later = T0.plus(Duration::from_secs(50)); // before the other claims' leases expire
    assert_eq!(
        f.queue
            .defer_endpoint_backlog(&held.lease, &busy, later, T0)
            .await,
        Ok(2),
        "its two other deliveries due now, not the one due before `later`"
    );

    let due_now = f.queue.claim_jobs("w2", T0, LEASE, 100).await.unwrap();
    let endpoints = endpoints_of(&due_now).await;
    assert_eq!(
        due_now.len(),
        4,
        "the other endpoint's three and the payment"
    );
    assert!(!endpoints.contains(&Some(busy.clone())));
    assert_eq!(endpoints.iter().filter(|e| e.is_none()).count(), 1);
    let at_soon = f.queue.claim_jobs("w3", soon, LEASE, 100).await.unwrap();
    assert_eq!(
        at_soon.len(),
        2,
        "both endpoints' deliveries due soon stayed"
    );
    let at_later = f.queue.claim_jobs("w3", later, LEASE, 100).await.unwrap();
    let moved = endpoints_of(&at_later).await;
    assert_eq!(
        moved,
        vec![Some(busy.clone()); 3],
        "the held one and the two moved"
    );
    let again = at_later.iter().find(|j| j.id == held.id).unwrap();
    assert_eq!(again.attempt, 1, "deferring used no attempt");
    assert_eq!(
        f.queue
            .defer_endpoint_backlog(&held.lease, &busy, later, later)
            .await,
        Err(StoreError::LeaseLost),
        "the old holder cannot put it back"
    );
    // Every lease has expired by then; the first claims are the two deliveries due then.
    let last = f
        .queue
        .claim_jobs("w4", much_later, LEASE, 100)
        .await
        .unwrap();
    assert_eq!(
        last.iter().filter(|job| job.attempt == 1).count(),
        2,
        "the deliveries due much later stayed where they were"
    );
}

/// See the suite list.
pub async fn custom_kinds_are_enqueued_claimed_and_reported_like_built_in_ones(f: Fixture) {
    let job = NewJob::custom("send_invoice", "inv_1", Some("{\"n\":1}".into()), T0);
    f.store.enqueue_job(&job, T0).await.unwrap();
    let report = f.queue.queue_report(T0).await.unwrap();
    assert_eq!(report.count("send_invoice", JobStatus::Queued), 1);
    assert_eq!(f.queue.job_counts().await.unwrap().pending, 1);
    let claimed = f
        .queue
        .claim_jobs("w", T0, LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (
            claimed.kind.as_str(),
            claimed.entity_id.as_str(),
            claimed.payload.as_deref(),
            claimed.builtin()
        ),
        ("send_invoice", "inv_1", Some("{\"n\":1}"), None)
    );
    f.queue.complete_job(&claimed.lease, T0).await.unwrap();
    let report = f.queue.queue_report(T0).await.unwrap();
    assert_eq!(report.count("send_invoice", JobStatus::Completed), 1);
}

/// See the suite list.
pub async fn pruning_removes_old_completed_jobs_only(f: Fixture) {
    pending_payment(&f.store, T0).await;
    pending_payment(&f.store, T0).await;
    let jobs = f.queue.claim_jobs("w", T0, LEASE, 2).await.unwrap();
    f.queue.complete_job(&jobs[0].lease, T0).await.unwrap();
    f.queue
        .fail_job(&jobs[1].lease, "boom", None, T0)
        .await
        .unwrap();
    pending_payment(&f.store, T0).await; // still queued
    assert_eq!(
        f.queue.prune_jobs(T0, 100).await,
        Ok(0),
        "not old enough yet"
    );
    assert_eq!(
        f.queue
            .prune_jobs(T0.plus(Duration::from_secs(1)), 100)
            .await,
        Ok(1),
        "the completed job"
    );
    let counts = f.queue.job_counts().await.unwrap();
    assert_eq!(
        (counts.completed, counts.failed, counts.pending),
        (0, 1, 1),
        "failed and queued jobs stay"
    );
}

/// Instantiates every test of the queue suite as a `#[tokio::test]` over `$factory` (an
/// expression of a type implementing [`StoreFactory`](crate::conformance::StoreFactory)).
#[macro_export]
macro_rules! queue_conformance_suite {
    ($factory:expr) => {
        $crate::queue_conformance_suite!(@each $factory;
            claims_take_only_due_jobs_up_to_the_batch_size,
            the_queue_report_counts_by_kind_and_measures_lag_and_expired_leases,
            an_expired_lease_makes_a_job_claimable_again_and_the_old_lease_useless,
            a_held_lease_can_be_extended_and_a_lost_one_cannot,
            failures_requeue_at_the_given_time_or_end_failed,
            deferring_puts_a_job_back_without_using_an_attempt,
            deferring_a_delivery_moves_its_endpoints_due_backlog_with_it,
            a_job_whose_worker_dies_on_the_last_attempt_ends_failed,
            released_jobs_are_queued_again_without_losing_an_attempt,
            concurrent_claimers_never_share_a_job,
            custom_kinds_are_enqueued_claimed_and_reported_like_built_in_ones,
            pruning_removes_old_completed_jobs_only,
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::conformance::run(&$factory, $crate::conformance::queue::$name).await
        }
    )*};
}
