//! Load shapes: closed loop (each connection sends its next request when the previous answer
//! arrives) and open loop (payments started on a fixed schedule, whatever the answers do), plus
//! the latency summary every scenario reports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::http::{self, Conn, Credentials};
use crate::receiver::Received;

/// Latencies above this (µs) are clamped: nothing the bench waits for lasts longer.
const MAX_MICROS: u64 = 600_000_000;

/// A new histogram with microsecond resolution and 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records `d` in `h`, in microseconds.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS);
    h.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// A latency distribution, in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl Latency {
    /// Summarises a histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

/// What one closed-loop client does for each request.
pub trait Work: Send + Sync + 'static {
    /// The next request to send, or `None` when the input (e.g. pre-created orders) ran out.
    fn next(&self) -> Option<Vec<u8>>;
    /// Sees each successful answer's body (to collect ids).
    fn answered(&self, _body: &[u8]) {}
}

/// The outcome of a closed-loop step.
#[derive(Debug)]
pub struct ClosedLoop {
    /// Answers (any status) to requests sent within the measured window.
    pub requests: u64,
    /// Of those, non-2xx answers and transport failures.
    pub errors: u64,
    /// The errors by HTTP status; 0 stands for a transport failure.
    pub error_statuses: BTreeMap<u16, u64>,
    /// The first error body seen, to say what went wrong.
    pub first_error: Option<String>,
    /// Latency of the measured requests.
    pub histogram: Histogram<u64>,
    /// The measured window actually covered (shorter if the input ran out).
    pub measured: Duration,
    /// Whether a client ran out of input before the end.
    pub ran_out: bool,
}

/// Runs `connections` clients against `addr` for `warmup` (not recorded) then `duration`.
pub async fn closed_loop(
    addr: SocketAddr,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    work: Arc<dyn Work>,
) -> anyhow::Result<ClosedLoop> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let work = work.clone();
        let mut conn = Conn::connect(addr).await?;
        tasks.spawn(async move {
            let mut h = histogram();
            let (mut requests, mut errors, mut ran_out) = (0u64, 0u64, false);
            let mut statuses = BTreeMap::new();
            let mut first_error = None;
            let mut last = measure_from;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let Some(raw) = work.next() else {
                    ran_out = true;
                    break;
                };
                let result = conn.send(&raw).await;
                let done = Instant::now();
                let ok = matches!(result, Ok(s) if (200..300).contains(&s));
                if ok {
                    work.answered(conn.body());
                }
                if sent >= measure_from {
                    requests += 1;
                    errors += u64::from(!ok);
                    if !ok {
                        let status = *result.as_ref().unwrap_or(&0);
                        *statuses.entry(status).or_insert(0u64) += 1;
                        if first_error.is_none() {
                            first_error = Some(match &result {
                                Ok(s) => format!("{s}: {}", String::from_utf8_lossy(conn.body())),
                                Err(e) => format!("transport: {e}"),
                            });
                        }
                    }
                    record(&mut h, done - sent);
                    last = done;
                }
                if result.is_err() {
                    match Conn::connect(addr).await {
                        Ok(c) => conn = c,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
            (h, requests, errors, ran_out, last, statuses, first_error)
        });
    }
    let mut out = ClosedLoop {
        requests: 0,
        errors: 0,
        error_statuses: BTreeMap::new(),
        first_error: None,
        histogram: histogram(),
        measured: duration,
        ran_out: false,
    };
    let mut last = measure_from;
    while let Some(done) = tasks.join_next().await {
        let (h, requests, errors, ran_out, finished, statuses, first_error) = done?;
        for (status, n) in statuses {
            *out.error_statuses.entry(status).or_insert(0) += n;
        }
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
        out.histogram.add(&h)?;
        out.requests += requests;
        out.errors += errors;
        out.ran_out |= ran_out;
        last = last.max(finished);
    }
    if out.ran_out {
        out.measured = last.saturating_duration_since(measure_from);
    }
    Ok(out)
}

/// How long an idle connection is reused: half the gateway's default `IDLE_TIMEOUT_MS`.
const REUSE_WITHIN: Duration = Duration::from_secs(5);

/// Idle keep-alive connections shared by the tasks of an open-loop run.
#[derive(Debug)]
pub struct Pool {
    /// The gateway.
    addr: SocketAddr,
    /// Connections not in use, with when each was put back.
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// Caps connections in use; when it is exhausted the run is no longer open loop.
    limit: Arc<Semaphore>,
}

impl Pool {
    /// A pool of at most `max` connections to `addr`.
    pub fn new(addr: SocketAddr, max: usize) -> Arc<Self> {
        Arc::new(Self {
            addr,
            idle: Mutex::new(Vec::new()),
            limit: Arc::new(Semaphore::new(max)),
        })
    }

    /// Takes an idle connection or opens one (waiting if `max` are in use). A connection idle
    /// for [`REUSE_WITHIN`] or longer is closed instead: the gateway may be closing it at that
    /// moment, and a request written into that race fails as a transport error (this showed as
    /// one or two "errors" in `isolation` phases that began after a long drain).
    async fn take(&self) -> anyhow::Result<(Conn, tokio::sync::OwnedSemaphorePermit)> {
        let permit = self.limit.clone().acquire_owned().await?;
        let idle = {
            let mut idle = self.idle.lock().expect("pool poisoned");
            idle.retain(|(_, since)| since.elapsed() < REUSE_WITHIN);
            idle.pop()
        };
        let conn = match idle {
            Some((c, _)) => c,
            None => Conn::connect(self.addr).await?,
        };
        Ok((conn, permit))
    }

    /// Returns a healthy connection.
    fn put(&self, conn: Conn) {
        self.idle
            .lock()
            .expect("pool poisoned")
            .push((conn, Instant::now()));
    }
}

/// One payment as the bench makes it: an order, then a payment on it.
#[derive(Debug, Clone)]
pub struct Made {
    /// The payment's id (empty if creating it failed).
    pub id: String,
    /// When `POST /api/v1/payments` was sent.
    pub sent: Instant,
    /// Whether both requests answered 2xx.
    pub ok: bool,
    /// The status of the request that failed (0 for a transport failure); 0 when `ok`.
    pub failed_status: u16,
}

/// Creates an order and pays it (UPI, a succeeding test VPA), timing from the payment POST.
pub async fn make_payment(pool: &Pool, credentials: &Credentials) -> anyhow::Result<Made> {
    let (mut conn, _permit) = pool.take().await?;
    let order = http::request(
        "POST",
        "/api/v1/orders",
        Some(credentials),
        r#"{"amount":50000,"currency":"INR","receipt":"bench"}"#,
    );
    let status = conn.send(&order).await?;
    let sent = Instant::now();
    let Some(order_id) = http::first_id(conn.body()).filter(|_| status == 201 || status == 200)
    else {
        pool.put(conn);
        return Ok(Made {
            id: String::new(),
            sent,
            ok: false,
            failed_status: status,
        });
    };
    let body = format!(r#"{{"order_id":"{order_id}","method":"upi","vpa":"success@paytm"}}"#);
    let payment = http::request("POST", "/api/v1/payments", Some(credentials), &body);
    let sent = Instant::now();
    let status = conn.send(&payment).await?;
    let ok = (200..300).contains(&status);
    let id = http::first_id(conn.body())
        .filter(|_| ok)
        .unwrap_or_default()
        .to_owned();
    pool.put(conn);
    Ok(Made {
        id,
        sent,
        ok,
        failed_status: if ok { 0 } else { status },
    })
}

/// The outcome of a run of payments followed to their `payment.success` webhooks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settled {
    /// Payments attempted.
    pub payments: u64,
    /// Payments whose creation failed (non-2xx or transport).
    pub errors: u64,
    /// The failures by HTTP status; 0 stands for a transport failure.
    pub error_statuses: BTreeMap<u16, u64>,
    /// Payments created whose success webhook had not arrived when the bench stopped waiting.
    pub undelivered: u64,
    /// Rate at which payments were actually sent, per second.
    pub send_rate: f64,
    /// Payments per second, first send to the last webhook (or to giving up).
    pub payments_per_s: f64,
    /// `POST /api/v1/payments` sent → `payment.success` received.
    pub latency: Latency,
    /// Every payment created, in the order sent (not in the JSON report; see
    /// `--latency-trace`).
    #[serde(skip)]
    pub trace: Vec<TracePoint>,
}

/// One payment of a run: when it was sent and how long its webhook took.
#[derive(Debug, Clone, Copy)]
pub struct TracePoint {
    /// Since the run started.
    pub sent: Duration,
    /// Sent → `payment.success` received; `None` if it never arrived.
    pub latency: Option<Duration>,
}

/// Waits for every payment in `made` to be delivered (at most `patience` after the last send)
/// and summarises the run that started at `start`.
pub async fn settle(
    made: &[Made],
    received: &Received,
    start: Instant,
    patience: Duration,
) -> Settled {
    let last_send = made.iter().map(|m| m.sent).max().unwrap_or(start);
    let wanted: Vec<&Made> = made.iter().filter(|m| m.ok).collect();
    let give_up = Instant::now().max(last_send) + patience;
    loop {
        let missing = {
            let map = received.success.lock().expect("receiver map poisoned");
            wanted.iter().filter(|m| !map.contains_key(&m.id)).count()
        };
        if missing == 0 || Instant::now() >= give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let map = received.success.lock().expect("receiver map poisoned");
    let mut h = histogram();
    let mut undelivered = 0;
    let mut finished = last_send;
    let mut trace = Vec::with_capacity(wanted.len());
    for m in &wanted {
        let arrived = map.get(&m.id).copied();
        finished = finished.max(arrived.unwrap_or(give_up));
        let latency = arrived.map(|at| at.saturating_duration_since(m.sent));
        match latency {
            Some(latency) => record(&mut h, latency),
            None => undelivered += 1,
        }
        trace.push(TracePoint {
            sent: m.sent.saturating_duration_since(start),
            latency,
        });
    }
    trace.sort_by_key(|point| point.sent);
    let first_send = made.iter().map(|m| m.sent).min().unwrap_or(start);
    let send_window = last_send
        .saturating_duration_since(first_send)
        .as_secs_f64();
    let mut error_statuses = BTreeMap::new();
    for m in made.iter().filter(|m| !m.ok) {
        *error_statuses.entry(m.failed_status).or_insert(0) += 1;
    }
    Settled {
        payments: made.len() as u64,
        errors: (made.len() - wanted.len()) as u64,
        error_statuses,
        undelivered,
        send_rate: if send_window > 0.0 {
            (made.len().saturating_sub(1)) as f64 / send_window
        } else {
            0.0
        },
        payments_per_s: wanted.len() as f64
            / finished
                .saturating_duration_since(start)
                .as_secs_f64()
                .max(1e-6),
        latency: Latency::of(&h),
        trace,
    }
}

/// Starts `count` payments at `rate` per second (open loop), returns them once all are created.
pub async fn open_loop(
    pool: Arc<Pool>,
    credentials: Credentials,
    rate: f64,
    count: usize,
) -> anyhow::Result<Vec<Made>> {
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let (pool, credentials) = (pool.clone(), credentials.clone());
        tasks.spawn(async move { make_payment(&pool, &credentials).await });
    }
    collect(tasks).await
}

/// Makes `count` payments with `clients` closed-loop clients.
pub async fn closed_payments(
    pool: Arc<Pool>,
    credentials: Credentials,
    clients: usize,
    count: usize,
) -> anyhow::Result<Vec<Made>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (pool, credentials, next) = (pool.clone(), credentials.clone(), next.clone());
        tasks.spawn(async move {
            let mut made = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                made.push(
                    make_payment(&pool, &credentials)
                        .await
                        .unwrap_or_else(|_| failed()),
                );
            }
            anyhow::Ok(made)
        });
    }
    let mut out = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        out.extend(done??);
    }
    Ok(out)
}

/// Joins payment tasks; a task's transport error counts as a failed payment.
async fn collect(
    mut tasks: tokio::task::JoinSet<anyhow::Result<Made>>,
) -> anyhow::Result<Vec<Made>> {
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        out.push(done?.unwrap_or_else(|_| failed()));
    }
    Ok(out)
}

/// A payment that could not be created.
fn failed() -> Made {
    Made {
        id: String::new(),
        sent: Instant::now(),
        ok: false,
        failed_status: 0,
    }
}
