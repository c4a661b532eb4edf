//! What only a dispatching queue can get wrong, on the Redis Streams queue over both stores:
//! duplicate entries, a Redis that lost its keys, and entries a dead consumer read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gateway_core::{JobQueue, Store};
use gateway_store::conformance::{T0, pending_payment};
use gateway_store::testing::{Backend, TestDatabase, TestRedis};
use gateway_store::{RedisQueue, RedisQueueConfig};

const LEASE: Duration = Duration::from_secs(60);
const REDISPATCH_AFTER: Duration = Duration::from_secs(30);

/// A fresh store with the test merchant, a Redis prefix and a queue over them.
struct Setup {
    store: Arc<dyn Store>,
    queue: RedisQueue,
    redis: TestRedis,
    _db: TestDatabase,
}

async fn setup(backend: Backend) -> Setup {
    let db = TestDatabase::create(backend).await;
    let store = gateway_store::open(&db.url).await.unwrap();
    store
        .upsert_merchant(&gateway_core::merchant::SecretHasher::new("pepper").test_merchant(T0))
        .await
        .unwrap();
    let redis = TestRedis::create();
    let queue = redis
        .queue(store.clone().job_outbox().unwrap(), config())
        .await;
    Setup {
        store,
        queue,
        redis,
        _db: db,
    }
}

fn config() -> RedisQueueConfig {
    RedisQueueConfig {
        redispatch_after: REDISPATCH_AFTER,
        ..RedisQueueConfig::default()
    }
}

/// A plain connection to the test Redis, to do what a second relay or a crash would.
fn raw(redis: &TestRedis) -> redis::Connection {
    redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Enqueues a payment due 5 s after `T0`, and has a claim at `T0` relay it to the schedule
/// (creating the consumer group) without handing it out; returns when it falls due.
async fn one_job_scheduled_for_later(s: &Setup) -> gateway_core::Timestamp {
    let due = T0.plus(Duration::from_secs(5));
    pending_payment(&s.store, due).await;
    assert!(
        s.queue
            .claim_jobs("w1", T0, LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    due
}

/// As [`one_job_scheduled_for_later`], then the schedule goes missing: the job's row says it
/// was handed on, but Redis no longer has it. Returns when it falls due.
async fn one_job_whose_dispatch_is_lost(s: &Setup) -> gateway_core::Timestamp {
    let due = one_job_scheduled_for_later(s).await;
    assert_eq!(
        s.queue.next_job_due().await.unwrap(),
        Some(due),
        "scheduled"
    );
    let scheduled = format!("{}:jobs:scheduled", s.redis.prefix);
    let _: i64 = redis::cmd("DEL")
        .arg(scheduled)
        .query(&mut raw(&s.redis))
        .unwrap();
    due
}

/// How many jobs a claim of up to `limit` at `now` leases.
async fn claimed(s: &Setup, now: gateway_core::Timestamp, limit: u32) -> usize {
    s.queue
        .claim_jobs("w1", now, LEASE, limit)
        .await
        .unwrap()
        .len()
}

async fn a_job_handed_on_twice_runs_once_and_leaves_nothing_unacknowledged(backend: Backend) {
    let s = setup(backend).await;
    pending_payment(&s.store, T0).await;
    let before = s.queue.queue_report(T0).await.unwrap().dispatch.unwrap();
    assert_eq!((before.awaiting_relay, before.scheduled), (1, 0));
    assert_eq!(
        s.queue.next_job_due().await.unwrap(),
        Some(T0),
        "due, not relayed yet"
    );
    // Relays the job (scheduled, moved to the stream, read) and marks its row as handed on.
    let job_id = s.queue.claim_jobs("w1", T0, LEASE, 10).await.unwrap()[0].id;
    let relayed = s.queue.queue_report(T0).await.unwrap().dispatch.unwrap();
    assert_eq!((relayed.awaiting_relay, relayed.unacknowledged), (0, 1));
    // A second relay that read the row before it was marked hands it on again.
    let stream = format!("{}:jobs", s.redis.prefix);
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("job")
        .arg(job_id)
        .query(&mut raw(&s.redis))
        .unwrap();
    assert!(
        s.queue
            .claim_jobs("w2", T0, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "the duplicate finds its row held"
    );
    let report = s.queue.queue_report(T0).await.unwrap().dispatch.unwrap();
    assert_eq!(
        (report.waiting, report.unacknowledged),
        (0, 1),
        "only the held entry is unacknowledged: {report:?}"
    );
    let lease = gateway_core::jobs::Lease {
        job_id,
        worker: "w1".into(),
    };
    s.queue.complete_job(&lease, T0).await.unwrap();
    let report = s.queue.queue_report(T0).await.unwrap();
    let dispatch = report.dispatch.unwrap();
    assert_eq!(
        (
            dispatch.waiting,
            dispatch.unacknowledged,
            dispatch.scheduled
        ),
        (0, 0, 0),
        "{dispatch:?}"
    );
    assert_eq!(report.totals().completed, 1);
}

async fn a_redis_that_lost_its_keys_gets_every_job_back_from_the_rows(backend: Backend) {
    let s = setup(backend).await;
    for _ in 0..3 {
        pending_payment(&s.store, T0).await;
    }
    let first = s.queue.claim_jobs("w1", T0, LEASE, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    // Redis restarts empty: the stream, its group and the schedule are gone. The next claim
    // finds the group missing and hands every queued job on again.
    s.queue.delete_keys().await.unwrap();
    let rest = s.queue.claim_jobs("w2", T0, LEASE, 10).await.unwrap();
    assert_eq!(rest.len(), 2, "the queued jobs are handed on again");
    for job in &rest {
        s.queue.complete_job(&job.lease, T0).await.unwrap();
    }
    let expired = T0.plus(LEASE);
    let again = s.queue.claim_jobs("w3", expired, LEASE, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|j| (j.id, j.attempt)).collect::<Vec<_>>(),
        vec![(first[0].id, 2)],
        "the job whose worker's lease expired is handed on again at once"
    );
}

async fn entries_a_dead_consumer_read_are_reclaimed_after_the_lease(backend: Backend) {
    let s = setup(backend).await;
    // A claim before it is due creates the group and schedules the job.
    let due = one_job_scheduled_for_later(&s).await;
    // A worker moves the job to the stream and reads its entry, then dies before leasing the row.
    let stream = format!("{}:jobs", s.redis.prefix);
    let scheduled = format!("{stream}:scheduled");
    let mut conn = raw(&s.redis);
    let job: Vec<i64> = redis::cmd("ZRANGE")
        .arg(&scheduled)
        .arg(0)
        .arg(0)
        .query(&mut conn)
        .unwrap();
    let _: i64 = redis::cmd("ZREM")
        .arg(&scheduled)
        .arg(job[0])
        .query(&mut conn)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("job")
        .arg(job[0])
        .query(&mut conn)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("dead")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    // Within the lease, nobody takes the entry the dead consumer holds.
    assert!(
        s.queue
            .claim_jobs("w1", due, LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    // Once it has been idle longer than the (short) lease, the next claim reclaims it.
    let short = Duration::from_millis(50);
    tokio::time::sleep(short * 2).await;
    let reclaimed = s.queue.claim_jobs("w1", due, short, 1).await.unwrap();
    assert_eq!(reclaimed.iter().map(|j| j.id).collect::<Vec<_>>(), job);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(gateway_store::testing::Backend::Sqlite).await
            }
        )*}
        mod postgres {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(gateway_store::testing::Backend::Postgres).await
            }
        )*}
    };
}

on_both_stores!(
    a_job_handed_on_twice_runs_once_and_leaves_nothing_unacknowledged,
    a_redis_that_lost_its_keys_gets_every_job_back_from_the_rows,
    entries_a_dead_consumer_read_are_reclaimed_after_the_lease,
    a_dropped_entry_is_handed_on_again_once_overdue,
    entries_left_unread_in_the_stream_are_due_at_once,
    a_relay_that_marks_its_rows_after_a_rearm_leaves_them_to_be_handed_on_again,
    a_queue_that_is_behind_does_not_take_its_late_entries_for_lost,
);

async fn entries_left_unread_in_the_stream_are_due_at_once(backend: Backend) {
    let s = setup(backend).await;
    for _ in 0..3 {
        pending_payment(&s.store, T0).await;
    }
    // One claim relays all three and moves them to the stream, but leases only one.
    assert_eq!(
        s.queue.claim_jobs("w1", T0, LEASE, 1).await.unwrap().len(),
        1
    );
    let report = s.queue.queue_report(T0).await.unwrap().dispatch.unwrap();
    assert_eq!(
        (report.waiting, report.scheduled, report.awaiting_relay),
        (2, 0, 0)
    );
    // Nothing is scheduled and nothing awaits the relay, yet two jobs are due: a worker that
    // waited for its poll interval here would drain the stream one claim per interval.
    let next = s.queue.next_job_due().await.unwrap();
    assert!(next.is_some_and(|due| due <= T0), "{next:?}");
    assert_eq!(
        s.queue.claim_jobs("w1", T0, LEASE, 10).await.unwrap().len(),
        2
    );
    assert_eq!(s.queue.next_job_due().await.unwrap(), None);
}

async fn a_relay_that_marks_its_rows_after_a_rearm_leaves_them_to_be_handed_on_again(
    backend: Backend,
) {
    let s = setup(backend).await;
    assert!(
        s.queue
            .claim_jobs("w1", T0, LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    for _ in 0..2 {
        pending_payment(&s.store, T0).await;
    }
    let outbox = s.store.clone().job_outbox().unwrap();
    // Another process's relay reads the rows and hands them to Redis; Redis then restarts
    // empty, and this process re-arms every queued job before that relay marks its rows.
    let read_before = outbox.jobs_to_dispatch(10).await.unwrap();
    assert_eq!(read_before.len(), 2);
    s.queue.delete_keys().await.unwrap();
    outbox.rearm_lost_dispatches(T0, None).await.unwrap();
    let nothing = outbox
        .claim_jobs_by_id("other", &[], T0, LEASE, &read_before)
        .await
        .unwrap();
    assert!(nothing.is_empty());
    assert_eq!(
        outbox.dispatch_backlog().await.unwrap().jobs,
        2,
        "the late mark found the rows changed: they still await the relay"
    );
    assert_eq!(
        s.queue.claim_jobs("w1", T0, LEASE, 10).await.unwrap().len(),
        2
    );
}

async fn a_dropped_entry_is_handed_on_again_once_overdue(backend: Backend) {
    let s = setup(backend).await;
    let due = one_job_whose_dispatch_is_lost(&s).await;
    assert_eq!(s.queue.next_job_due().await.unwrap(), None);
    assert_eq!(
        claimed(&s, due, 1).await,
        0,
        "the row says it was handed on"
    );
    assert_eq!(
        claimed(&s, due.plus(REDISPATCH_AFTER), 1).await,
        1,
        "due for longer than redispatch_after: handed on again"
    );
}

async fn a_queue_that_is_behind_does_not_take_its_late_entries_for_lost(backend: Backend) {
    let s = setup(backend).await;
    let due = one_job_whose_dispatch_is_lost(&s).await;
    // But the stream's oldest unread entry was added long ago (an ID from 1970): for all the
    // sweep can tell, the job's entry may be waiting behind it.
    let _: String = redis::cmd("XADD")
        .arg(format!("{}:jobs", s.redis.prefix))
        .arg("1-1")
        .arg("job")
        .arg("not-a-job")
        .query(&mut raw(&s.redis))
        .unwrap();
    let overdue = due.plus(REDISPATCH_AFTER);
    assert_eq!(
        claimed(&s, overdue, 10).await,
        0,
        "a queue that far behind hands nothing on again"
    );
    // That claim read (and dropped) the old entry: the stream has caught up, and the job's
    // entry is now surely lost.
    assert_eq!(
        claimed(&s, overdue.plus(Duration::from_secs(1)), 10).await,
        1
    );
}
