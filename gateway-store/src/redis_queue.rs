//! [`RedisQueue`]: a [`JobQueue`] on Redis Streams that only *dispatches* (see
//! [`gateway_core::queue`]): the job rows in the database stay the truth for a job's state,
//! attempts and lease, and every effect stays guarded there.
//!
//! How a job travels:
//! 1. A command commits its job row (the outbox row) with its domain rows, as always.
//! 2. The relay (run by each claim, under a lock per process) reads the rows not handed on yet
//!    ([`JobOutbox::jobs_to_dispatch`]) and adds each to the *schedule*, a sorted set scored by
//!    when the job falls due and keyed by job id, so a job is scheduled at most once however
//!    often it is relayed. Only after Redis has them are the rows marked as handed on.
//! 3. A claim moves the schedule's due jobs to the *stream*, reclaims entries that a dead
//!    consumer read more than a lease ago (`XAUTOCLAIM`), reads new entries through the
//!    consumer group, and then leases the named rows in the database
//!    ([`JobOutbox::claim_jobs_by_id`]). An entry whose row is held, ended or not due is
//!    acknowledged at once: a duplicate can never run a job twice.
//! 4. An entry is acknowledged (and deleted) only after its job's effect has committed, or
//!    after its failure, deferral or release has been written to the row. A row queued again
//!    (a retry, a deferral, a release, a recovered endpoint's deliveries, a busy endpoint's
//!    backlog put back with a deferral) is no longer marked as handed on, so the relay
//!    schedules it again at its new due time.
//! 5. What Redis loses is re-armed from the rows ([`JobOutbox::rearm_lost_dispatches`]): when a
//!    claim finds the consumer group missing (a new Redis, or one restarted without its data),
//!    every queued job; a job whose lease expired since its last dispatch, at once; any other
//!    queued job (an entry dropped), once it has been due for `redispatch_after` longer than
//!    the oldest unread entry has waited (a late entry is not a lost one). A re-arm moves
//!    each row's version on, so a relay of another process that read a row before the re-arm
//!    and handed it to the Redis that was lost cannot mark it as handed on afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::clock::Timestamp;
use gateway_core::ids::EndpointId;
use gateway_core::jobs::{ClaimedJob, DispatchReport, Lease, QueueReport};
use gateway_core::{JobOutbox, JobQueue, OutboxJob, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use tokio::sync::Notify;

/// How a [`RedisQueue`] names its keys and paces its relay.
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// Prefix of every key (`{prefix}:jobs` the stream, `{prefix}:jobs:scheduled` the
    /// schedule), so gateways sharing a Redis keep apart.
    pub prefix: String,
    /// Job rows relayed per claim at most.
    pub relay_batch: u32,
    /// How long a queued job may stay due, after being handed on at least as long ago, before
    /// its dispatch is taken as lost and it is handed on again; while workers are behind, as
    /// much longer as the oldest unread entry has waited.
    pub redispatch_after: Duration,
    /// How often (in the claims' clock) a claim looks for lost dispatches.
    pub sweep_interval: Duration,
}

impl Default for RedisQueueConfig {
    fn default() -> Self {
        Self {
            prefix: "gateway".to_owned(),
            relay_batch: 1_000,
            redispatch_after: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// The consumer group every worker reads the stream through.
const GROUP: &str = "workers";

/// Schedules the relayed jobs (`ARGV[6..]`), moves due ones to the stream, then returns up to
/// `ARGV[4]` entries as `entry id, job id` pairs: reclaimed from consumers idle for `ARGV[5]`
/// ms first, then new ones read as consumer `ARGV[2]` of group `ARGV[1]`; `ARGV[3]` is now.
const CLAIM_LUA: &str = r"
for i = 6, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
end
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 1000)
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'job', job)
  redis.call('ZREM', KEYS[2], job)
end
local function take(entries)
  for _, e in ipairs(entries) do
    if e and e[2] then
      table.insert(out, e[1])
      table.insert(out, e[2][2])
    end
  end
end
local limit = tonumber(ARGV[4])
take(redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[5], '0-0', 'COUNT', limit)[2])
local left = limit - #out / 2
if left > 0 then
  local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', left, 'STREAMS', KEYS[1], '>')
  if read then take(read[1][2]) end
end
return out
";

/// The stream's length, its unacknowledged entries, the schedule's size, the score (due time)
/// of its first job or -1 when it is empty, and how long ago (in Redis's clock, ms) the oldest
/// entry of group `ARGV[1]` not read yet was added, or 0.
const REPORT_LUA: &str = r"
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1])
local unacked = 0
if type(pending) == 'table' and not pending.err then unacked = tonumber(pending[1]) or 0 end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local due = -1
if first[2] then due = tonumber(first[2]) end
local behind = 0
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(groups) == 'table' and not groups.err then
  for _, g in ipairs(groups) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == ARGV[1] then
      local unread = redis.call('XRANGE', KEYS[1], '(' .. info['last-delivered-id'], '+', 'COUNT', 1)
      if unread[1] then
        local added = tonumber(string.match(unread[1][1], '^(%d+)'))
        local t = redis.call('TIME')
        behind = math.max(0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - added)
      end
    end
  end
end
return {redis.call('XLEN', KEYS[1]), unacked, redis.call('ZCARD', KEYS[2]), due, behind}
";

/// What [`REPORT_LUA`] read: the stream and the schedule at one instant.
struct RedisReport {
    /// Entries in the stream no worker has read yet (acknowledged entries are deleted, so
    /// the stream holds only unread and unacknowledged ones).
    waiting: i64,
    /// Entries read and not acknowledged.
    unacknowledged: i64,
    /// Jobs in the schedule.
    scheduled: i64,
    /// When the schedule's first job falls due.
    first_scheduled: Option<Timestamp>,
    /// How long the oldest unread entry has waited in the stream: how far the workers are
    /// behind.
    behind: Duration,
}

/// The entries a worker of this process holds for a job it leased.
#[derive(Default)]
struct Held {
    /// The worker (consumer) that leased the job.
    worker: String,
    /// Its stream entries (more than one when the job was handed on twice).
    entries: Vec<String>,
}

/// A Redis Streams [`JobQueue`] over a store's [`JobOutbox`]; see the module docs.
pub struct RedisQueue {
    /// The job rows: the truth, and what every change is written to first.
    outbox: Arc<dyn JobOutbox>,
    /// Reconnects by itself after Redis restarts.
    redis: ConnectionManager,
    /// The stream's key.
    stream: String,
    /// The schedule's key.
    scheduled: String,
    /// Scripts, loaded once and run by hash.
    claim_script: Script,
    report_script: Script,
    config: RedisQueueConfig,
    /// Jobs leased here, by id, with the entries to acknowledge when they end.
    held: Mutex<HashMap<i64, Held>>,
    /// One relay at a time per process, from reading the rows to marking them.
    relay: tokio::sync::Mutex<()>,
    /// When (in the claims' clock) lost dispatches were last looked for.
    last_sweep: Mutex<Option<Timestamp>>,
}

impl RedisQueue {
    /// Connects to the Redis at `url` (`redis://host:port/db`) as the queue for `outbox`'s
    /// jobs; fails if Redis does not answer.
    pub async fn connect(
        url: &str,
        outbox: Arc<dyn JobOutbox>,
        config: RedisQueueConfig,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3);
        let mut redis = client
            .get_connection_manager_with_config(manager)
            .await
            .map_err(redis_error)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut redis)
            .await
            .map_err(redis_error)?;
        let stream = format!("{}:jobs", config.prefix);
        Ok(Self {
            outbox,
            redis,
            scheduled: format!("{stream}:scheduled"),
            stream,
            claim_script: Script::new(CLAIM_LUA),
            report_script: Script::new(REPORT_LUA),
            config,
            held: Mutex::new(HashMap::new()),
            relay: tokio::sync::Mutex::new(()),
            last_sweep: Mutex::new(None),
        })
    }

    /// Deletes every key of this queue (for tests and for taking a prefix out of use).
    pub async fn delete_keys(&self) -> Result<(), StoreError> {
        let mut redis = self.redis.clone();
        let _: i64 = redis
            .del(&[&self.stream, &self.scheduled])
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    /// Re-arms lost dispatches if a sweep is due at `now`.
    async fn sweep(&self, now: Timestamp) -> Result<(), StoreError> {
        {
            let mut last = lock(&self.last_sweep);
            if last.is_some_and(|at| now.since(at) < self.config.sweep_interval && now >= at) {
                return Ok(());
            }
            *last = Some(now);
        }
        // A job's entry may wait unread as long as the stream is behind: only one handed on
        // longer ago than that (and `redispatch_after` more) has surely lost its entry. Counting
        // a late entry as lost would add a duplicate to a queue already behind, and under a
        // sustained overload every job would be handed on again each `redispatch_after`.
        let behind = self.redis_report().await?.behind;
        let rearmed = self
            .outbox
            .rearm_lost_dispatches(
                now,
                Some(self.config.redispatch_after.saturating_add(behind)),
            )
            .await?;
        if rearmed > 0 {
            tracing::info!(
                rearmed,
                "jobs whose dispatch was lost are handed to Redis again"
            );
        }
        Ok(())
    }

    /// Creates the stream and its consumer group if they are missing; `true` if it had to (a
    /// new Redis, or one that restarted without its data).
    async fn ensure_group(&self) -> Result<bool, StoreError> {
        let mut redis = self.redis.clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut redis)
            .await;
        match created {
            Ok(()) => Ok(true),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
            Err(e) => Err(redis_error(e)),
        }
    }

    /// Re-arms every queued job when the consumer group had to be created (Redis is new or came
    /// back empty).
    async fn recover_if_emptied(&self, now: Timestamp) -> Result<(), StoreError> {
        if self.ensure_group().await? {
            self.rearm_everything(now).await?;
        }
        Ok(())
    }

    /// Remembers the entries of the jobs `worker` leased (taking them out of `entries`), to
    /// acknowledge when the jobs end. A job leased again (its earlier lease expired) keeps its
    /// earlier entries too.
    fn hold(&self, worker: &str, claimed: &[ClaimedJob], entries: &mut HashMap<i64, Vec<String>>) {
        let mut held = lock(&self.held);
        for job in claimed {
            if let Some(job_entries) = entries.remove(&job.id) {
                let holding = held.entry(job.id).or_default();
                holding.worker = worker.to_owned();
                holding.entries.extend(job_entries);
            }
        }
    }

    /// Hands every queued job on again: the consumer group was missing, so Redis is new or
    /// lost its keys (a restart without persistence), and with them the schedule and stream.
    /// Jobs it already had become duplicates, which their rows turn away.
    async fn rearm_everything(&self, now: Timestamp) -> Result<(), StoreError> {
        let rearmed = self.outbox.rearm_lost_dispatches(now, None).await?;
        if rearmed > 0 {
            tracing::warn!(
                rearmed,
                "the Redis queue was empty: every queued job is handed on again"
            );
        }
        Ok(())
    }

    /// Relays the rows not handed on yet and reads up to `limit` entries as `worker` (see
    /// [`CLAIM_LUA`]); returns the `entry id, job id` pairs and the relayed rows, which the
    /// caller marks as handed on. The caller holds [`RedisQueue::relay`] until then, so one
    /// process never relays a row twice.
    async fn relay_and_read(
        &self,
        worker: &str,
        now: Timestamp,
        limit: u32,
        lease: Duration,
    ) -> Result<(Vec<String>, Vec<OutboxJob>), StoreError> {
        let jobs = self
            .outbox
            .jobs_to_dispatch(self.config.relay_batch)
            .await?;
        let mut invocation = self.claim_script.prepare_invoke();
        invocation
            .key(&self.stream)
            .key(&self.scheduled)
            .arg(GROUP)
            .arg(worker)
            .arg(now.as_millis())
            .arg(limit)
            .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        for job in &jobs {
            invocation.arg(job.id).arg(job.due.as_millis());
        }
        let mut redis = self.redis.clone();
        let pairs = invocation
            .invoke_async(&mut redis)
            .await
            .map_err(redis_error)?;
        Ok((pairs, jobs))
    }

    /// Reads the stream and the schedule in one round trip (see [`REPORT_LUA`]).
    async fn redis_report(&self) -> Result<RedisReport, StoreError> {
        let mut redis = self.redis.clone();
        let (length, unacknowledged, scheduled, first, behind): (i64, i64, i64, i64, u64) = self
            .report_script
            .key(&self.stream)
            .key(&self.scheduled)
            .arg(GROUP)
            .invoke_async(&mut redis)
            .await
            .map_err(redis_error)?;
        Ok(RedisReport {
            waiting: length.saturating_sub(unacknowledged).max(0),
            unacknowledged,
            scheduled,
            first_scheduled: (first >= 0).then(|| Timestamp::from_millis(first)),
            behind: Duration::from_millis(behind),
        })
    }

    /// Acknowledges and deletes `entries`.
    async fn ack_entries(&self, entries: &[String]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut redis = self.redis.clone();
        let _: () = redis::pipe()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(entries)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(entries)
            .ignore()
            .query_async(&mut redis)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    /// Acknowledges the entries held for `job_id`, if this process holds any.
    async fn ack_job(&self, job_id: i64) -> Result<(), StoreError> {
        let held = lock(&self.held).remove(&job_id);
        match held {
            Some(held) => self.ack_entries(&held.entries).await,
            None => Ok(()),
        }
    }

    /// Acknowledges `job_id`'s entries once the row change `result` is final: done, or the
    /// lease was lost (another entry's worker owns the job). On any other error the entry
    /// stays unacknowledged, to be reclaimed.
    async fn settle_entry(
        &self,
        job_id: i64,
        result: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if matches!(result, Ok(()) | Err(StoreError::LeaseLost))
            && let Err(e) = self.ack_job(job_id).await
        {
            tracing::warn!(job = job_id, error = %e, "acknowledging a Redis entry failed; it will be reclaimed and skipped");
        }
        result
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    fn backend_name(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut redis = self.redis.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut redis)
            .await
            .map(|_| ())
            .map_err(redis_error)
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.sweep(now).await?;
        self.recover_if_emptied(now).await?;
        let one_relay = self.relay.lock().await;
        let (pairs, relayed) = self.relay_and_read(worker, now, limit, lease).await?;
        let mut entries: HashMap<i64, Vec<String>> = HashMap::new();
        let mut unreadable = Vec::new();
        for pair in pairs.chunks_exact(2) {
            match pair[1].parse::<i64>() {
                Ok(job) => entries.entry(job).or_default().push(pair[0].clone()),
                Err(_) => unreadable.push(pair[0].clone()),
            }
        }
        let ids: Vec<i64> = entries.keys().copied().collect();
        // Marks the relayed rows in the claim's transaction (a failure leaves them to be relayed
        // again: the schedule holds each job once).
        let claimed = self
            .outbox
            .claim_jobs_by_id(worker, &ids, now, lease, &relayed)
            .await?;
        drop(one_relay);
        self.hold(worker, &claimed, &mut entries);
        // Entries of jobs held elsewhere, ended or not due: their rows are the truth.
        let skipped: Vec<String> = entries.into_values().flatten().chain(unreadable).collect();
        self.ack_entries(&skipped).await?;
        Ok(claimed)
    }

    async fn extend_lease(
        &self,
        lease: &Lease,
        now: Timestamp,
        duration: Duration,
    ) -> Result<(), StoreError> {
        self.outbox.extend_lease(lease, now, duration).await
    }

    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError> {
        // Read only, so an idle worker's wait costs no write. Entries already in the stream are
        // due: a claim that read only stale entries (duplicates, jobs ended meanwhile) leases
        // fewer jobs than it asked for, and must not make the worker wait out its poll
        // interval while more entries are unread.
        let redis = self.redis_report().await?;
        if redis.waiting > 0 {
            return Ok(Some(Timestamp::from_millis(0)));
        }
        let unrelayed = self.outbox.dispatch_backlog().await?.earliest_due;
        Ok(redis.first_scheduled.into_iter().chain(unrelayed).min())
    }

    async fn complete_job(&self, lease: &Lease, now: Timestamp) -> Result<(), StoreError> {
        let result = self.outbox.complete_job(lease, now).await;
        self.settle_entry(lease.job_id, result).await
    }

    async fn defer_job(
        &self,
        lease: &Lease,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self.outbox.defer_job(lease, run_at, now).await;
        self.settle_entry(lease.job_id, result).await
    }

    async fn defer_endpoint_backlog(
        &self,
        lease: &Lease,
        endpoint: &EndpointId,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        // The moved rows are no longer marked as handed on: the relay schedules them again at
        // their new due time, and their old entries find them not due and are dropped.
        let result = self
            .outbox
            .defer_endpoint_backlog(lease, endpoint, run_at, now)
            .await;
        let moved = result.as_ref().map_or(0, |moved| *moved);
        self.settle_entry(lease.job_id, result.map(|_| ()))
            .await
            .map(|()| moved)
    }

    async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self.outbox.fail_job(lease, error, retry_at, now).await;
        self.settle_entry(lease.job_id, result).await
    }

    async fn acknowledge(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        self.ack_job(job.id).await
    }

    async fn release_jobs(&self, worker: &str, now: Timestamp) -> Result<u64, StoreError> {
        let released = self.outbox.release_jobs(worker, now).await?;
        let entries: Vec<String> = {
            let mut held = lock(&self.held);
            let mine: Vec<i64> = held
                .iter()
                .filter(|(_, h)| h.worker == worker)
                .map(|(id, _)| *id)
                .collect();
            mine.iter()
                .filter_map(|id| held.remove(id))
                .flat_map(|h| h.entries)
                .collect()
        };
        self.ack_entries(&entries).await?;
        Ok(released)
    }

    async fn queue_report(&self, now: Timestamp) -> Result<QueueReport, StoreError> {
        let mut report = self.outbox.queue_report(now).await?;
        let redis = self.redis_report().await?;
        let awaiting_relay = self.outbox.dispatch_backlog().await?.jobs;
        report.dispatch = Some(DispatchReport {
            waiting: redis.waiting,
            unacknowledged: redis.unacknowledged,
            scheduled: redis.scheduled,
            awaiting_relay,
        });
        Ok(report)
    }

    async fn prune_jobs(&self, completed_before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.outbox.prune_jobs(completed_before, limit).await
    }

    async fn subscribe_jobs(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        // New rows are announced by the database (PostgreSQL `NOTIFY`); the next claim relays
        // them.
        self.outbox.subscribe_jobs(wake).await
    }
}

/// A Redis failure as the store error workers retry on.
fn redis_error(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

/// Locks `mutex`, recovering from a panic in another holder (the maps stay consistent: every
/// change to them is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
