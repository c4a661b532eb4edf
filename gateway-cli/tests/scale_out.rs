//! Scale-out on PostgreSQL: 2 `gateway serve --no-worker` and 3 `gateway worker` processes
//! share one database; 2,000 payments with refunds and webhooks are driven through them while
//! one worker and one server are killed with SIGKILL midway and replaced. Everything must
//! settle exactly once, every webhook must be delivered and logged, no job may be left behind,
//! and the surviving server must keep answering.
//!
//! The same scenario runs on the Redis queue (`QUEUE_URL`), with a Redis of its own that is
//! also killed with SIGKILL mid-load and restarted empty: nothing may be lost or done twice,
//! and no stream entry may be left unacknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_store::testing::{Backend, TestDatabase};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::private_redis::PrivateRedis;
use support::{Process, authed, client, serve, spawn};
use tokio::sync::{RwLock, Semaphore};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAYMENTS: usize = 2_000;
/// The scenarios run one after the other: together their processes' pools would take more
/// connections than PostgreSQL allows (its default `max_connections` is 100).
static ONE_SCENARIO_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Payments of the Redis variant (fewer: it adds a scenario to the suite's time).
const PAYMENTS_ON_REDIS: usize = 600;
const CONCURRENCY: usize = 32;
/// Bound on each waiting phase; the test fails rather than hang.
const PHASE_LIMIT: Duration = Duration::from_secs(180);
/// Bound on the whole scenario, whatever step it is stuck in.
const TEST_LIMIT: Duration = Duration::from_secs(600);

fn env(url: &str, redis: Option<&PrivateRedis>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DATABASE_URL", url.to_owned()),
        ("TEST_MODE", "true".into()),
        ("TEST_PROCESSING_DELAY", "0".into()),
        ("WEBHOOK_RETRY_INTERVALS_TEST", "true".into()),
        ("WEBHOOK_TIMEOUT_MS", "2000".into()),
        ("JOB_LEASE_MS", "4000".into()),
        ("METRICS_ADDR", String::new()),
    ];
    if let Some(redis) = redis {
        env.push(("QUEUE_URL", redis.url()));
    }
    env
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Polls `sql` until it counts 0; fails after [`PHASE_LIMIT`], or at once when no worker
/// process is left to make progress.
async fn wait_until(pool: &PgPool, workers: &mut [Process], what: &str, sql: &'static str) {
    let started = Instant::now();
    loop {
        if scalar(pool, sql).await == 0 {
            return;
        }
        assert!(
            started.elapsed() < PHASE_LIMIT,
            "timed out waiting for {what}"
        );
        let exits: Vec<_> = workers
            .iter_mut()
            .filter_map(|w| w.child.try_wait().unwrap())
            .collect();
        assert!(
            exits.len() < workers.len(),
            "waiting for {what}, but every worker process exited: {exits:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// POSTs `body` to `path` on `servers[i % n]`; if that server is gone, retries on the survivor
/// with the same idempotency key. Returns the JSON answer and whether the survivor ever failed.
#[allow(clippy::too_many_arguments)]
async fn post(
    http: &reqwest::Client,
    servers: &RwLock<Vec<String>>,
    survivor: &str,
    i: usize,
    path: &str,
    key: &str,
    body: &Value,
    survivor_failures: &AtomicUsize,
) -> Value {
    let target = {
        let servers = servers.read().await;
        servers[i % servers.len()].clone()
    };
    for base in [target.as_str(), survivor] {
        let response = authed(http, reqwest::Method::POST, format!("{base}{path}"))
            .header("Idempotency-Key", key)
            .body(body.to_string())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                return serde_json::from_str(&r.text().await.unwrap()).unwrap();
            }
            Ok(r) => panic!(
                "{base}{path} answered {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(e) => {
                if base == survivor {
                    survivor_failures.fetch_add(1, Ordering::SeqCst);
                    panic!("the surviving server failed: {e:?}");
                }
            }
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_on_one_postgres_settle_everything_exactly_once_through_kill_9() {
    let _alone = ONE_SCENARIO_AT_A_TIME.lock().await;
    tokio::time::timeout(TEST_LIMIT, scenario(PAYMENTS, None))
        .await
        .expect("the scale-out scenario finished within its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_redis_queue_everything_settles_exactly_once_through_kill_9_and_a_redis_restart() {
    let _alone = ONE_SCENARIO_AT_A_TIME.lock().await;
    let redis = PrivateRedis::start();
    tokio::time::timeout(TEST_LIMIT, scenario(PAYMENTS_ON_REDIS, Some(redis)))
        .await
        .expect("the scale-out scenario on Redis finished within its bound");
}

/// `payments` through 2 servers and 3 workers, on the database queue or on `redis`'s.
async fn scenario(payments: usize, mut redis: Option<PrivateRedis>) {
    let workers_wanted: usize = std::env::var("SCALE_OUT_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let database = TestDatabase::create(Backend::Postgres).await;
    let env = env(&database.url, redis.as_ref());
    let migrate = std::process::Command::new(support::BIN)
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let pool = PgPool::connect(&database.url).await.unwrap();

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;

    let survivor = serve(&["--no-worker"], &env).await;
    let mut doomed_server = serve(&["--no-worker"], &env).await;
    let mut workers: Vec<Process> = (0..workers_wanted)
        .map(|_| spawn(&["worker"], &env))
        .collect();
    let survivor_base = survivor.base.clone().unwrap();
    let servers = Arc::new(RwLock::new(vec![
        survivor_base.clone(),
        doomed_server.base.clone().unwrap(),
    ]));
    let http = client();
    let configured = authed(
        &http,
        reqwest::Method::PUT,
        format!("{survivor_base}/api/v1/webhooks/config"),
    )
    .body(json!({ "webhook_url": format!("{}/webhook", receiver.uri()) }).to_string())
    .send()
    .await
    .unwrap();
    assert!(configured.status().is_success());

    // Phase 1: payments, with a worker and a server killed (SIGKILL) halfway and replaced.
    let started = Instant::now();
    let failures = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let mut replacement_server = None;
    for i in 0..payments {
        if i == payments * 3 / 4
            && let Some(redis) = redis.as_mut()
        {
            redis.restart_empty();
        }
        if i == payments / 2 {
            workers[0].kill_9();
            doomed_server.kill_9();
            let fresh = serve(&["--no-worker"], &env).await;
            servers.write().await[1] = fresh.base.clone().unwrap();
            replacement_server = Some(fresh);
            workers.push(spawn(&["worker"], &env));
        }
        let permit = limit.clone().acquire_owned().await.unwrap();
        let (servers, survivor_base, failures, http) = (
            servers.clone(),
            survivor_base.clone(),
            failures.clone(),
            http.clone(),
        );
        tasks.spawn(async move {
            let order = post(
                &http,
                &servers,
                &survivor_base,
                i,
                "/api/v1/orders",
                &format!("order-{i}"),
                &json!({ "amount": 10_000 }),
                &failures,
            )
            .await;
            let body = json!({ "order_id": order["id"], "method": "upi", "vpa": "success@paytm" });
            let payment = post(
                &http,
                &servers,
                &survivor_base,
                i + 1,
                "/api/v1/payments",
                &format!("payment-{i}"),
                &body,
                &failures,
            )
            .await;
            drop(permit);
            payment["id"].as_str().unwrap().to_owned()
        });
    }
    let mut payment_ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        payment_ids.push(id.unwrap());
    }
    assert_eq!(payment_ids.iter().collect::<HashSet<_>>().len(), payments);
    wait_until(
        &pool,
        &mut workers,
        "payments to settle",
        "SELECT COUNT(*) FROM payments WHERE status = 'pending'",
    )
    .await;
    wait_until(
        &pool,
        &mut workers,
        "payment webhooks",
        "SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'success'",
    )
    .await;
    let payments_per_second = payments as f64 / started.elapsed().as_secs_f64();

    // Phase 2: a refund of half of every payment.
    let refunds_started = Instant::now();
    for (i, id) in payment_ids.iter().enumerate() {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let http = http.clone();
        let (servers, survivor_base, failures, id) = (
            servers.clone(),
            survivor_base.clone(),
            failures.clone(),
            id.clone(),
        );
        tasks.spawn(async move {
            post(
                &http,
                &servers,
                &survivor_base,
                i,
                &format!("/api/v1/payments/{id}/refunds"),
                &format!("refund-{i}"),
                &json!({ "amount": 5_000 }),
                &failures,
            )
            .await;
            drop(permit);
            id
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    wait_until(
        &pool,
        &mut workers,
        "refunds to settle",
        "SELECT COUNT(*) FROM refunds WHERE status = 'pending'",
    )
    .await;
    wait_until(
        &pool,
        &mut workers,
        "all jobs",
        "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')",
    )
    .await;
    let refunds_per_second = payments as f64 / refunds_started.elapsed().as_secs_f64();

    // Exactly once.
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "requests to the surviving server kept succeeding"
    );
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM payments WHERE status = 'success'"
        )
        .await,
        payments as i64
    );
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM orders WHERE status = 'paid'").await,
        payments as i64
    );
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM refunds WHERE status = 'processed'"
        )
        .await,
        payments as i64
    );
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'").await,
        0,
        "no job gave up"
    );
    for (event, entity) in [
        ("payment.success", "payment"),
        ("refund.processed", "refund"),
        ("payment.created", "payment"),
        ("refund.created", "refund"),
    ] {
        let (total, distinct): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT (payload::json -> 'data' -> $2 ->> 'id')) FROM webhook_deliveries WHERE event = $1",
        )
        .bind(event)
        .bind(entity)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            (total, distinct),
            (payments as i64, payments as i64),
            "{event}: one event per transition"
        );
    }
    // Delivered at least once and logged.
    wait_until(
        &pool,
        &mut workers,
        "deliveries",
        "SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'success'",
    )
    .await;
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM webhook_deliveries d WHERE NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id)").await,
        0,
        "every delivery has its attempts logged"
    );
    let delivered: HashSet<String> = receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect();
    let expected: Vec<String> = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(expected.len(), payments * 5);
    assert!(
        expected.iter().all(|id| delivered.contains(id)),
        "every delivery reached the receiver"
    );

    if let Some(redis) = &redis {
        // Duplicate entries (a restart hands jobs on again) are read, found done and
        // acknowledged at the workers' next poll.
        let started = Instant::now();
        while redis.backlog() != (0, 0, 0) {
            assert!(
                started.elapsed() < PHASE_LIMIT,
                "every stream entry acknowledged and deleted, nothing scheduled: {:?}",
                redis.backlog()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "scale-out ({workers_wanted} workers, 2 API servers, {} queue, kill -9 midway): {payments_per_second:.0} payments/s created+settled+notified, \
         {refunds_per_second:.0} refunds/s; {} webhook requests for {} deliveries",
        if redis.is_some() { "redis" } else { "database" },
        receiver.received_requests().await.unwrap().len(),
        expected.len()
    );
    drop(replacement_server);
    pool.close().await;
}
