//! Serving the router over HTTP/1.1 with limits on slow, idle and too many clients.
//!
//! `axum::serve` has no header-read timeout, so a client that opens a connection and sends
//! nothing (or one byte a minute) holds a socket and a file descriptor for ever. [`serve`]
//! drives hyper's HTTP/1 connection itself, with:
//!
//! - a **header-read timeout** (hyper's): the whole request head must arrive within
//!   [`ServerLimits::header_read_timeout`] of the server starting to wait for it, on a new
//!   connection or after the previous response; so it also bounds a keep-alive connection's
//!   idle time;
//! - an **idle timeout** (ours): a connection on which no handler runs and no byte has moved
//!   either way for [`ServerLimits::idle_timeout`] is closed (a silent new connection, an idle
//!   keep-alive connection, a client that stopped reading its response);
//! - a **connection cap**: at [`ServerLimits::max_connections`] the server stops accepting
//!   (new connections wait in the kernel's backlog) and logs it, so the process keeps file
//!   descriptors for its database and webhooks.
//!
//! **Shutdown drains**: once the shutdown future completes the listener is closed at once, idle
//! connections close, busy ones close after their current response (`Connection: close`), and
//! whatever still runs when [`ServerLimits::shutdown_grace`] ends (or when the caller's cut-off
//! future completes, see [`serve_with_cutoff`]) has its connection cut, so shutdown is bounded.
//! The start and the end of the drain are logged with the connections and requests left.
//!
//! Each request carries `ConnectInfo<SocketAddr>` like `into_make_service_with_connect_info`.
//! The request-body timeout is a layer of the router (see [`crate::router`]), so it also
//! applies when a host serves the router its own way.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Limits on connections; see the module documentation for what each one stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time allowed for a complete request head, from when the server starts waiting for it.
    pub header_read_timeout: Duration,
    /// A connection with no request running and no byte moving for this long is closed.
    pub idle_timeout: Duration,
    /// After shutdown begins, how long requests in progress may still run; connections busy
    /// after that are cut.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    /// 1024 connections, 10 s for a request head, 10 s idle, 10 s to drain.
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// How often, at most, reaching the connection cap is logged.
const SATURATION_LOG_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in progress finish within [`ServerLimits::shutdown_grace`], cuts the connections
/// still busy after that and returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with_cutoff(listener, router, limits, shutdown, std::future::pending()).await
}

/// [`serve`], whose drain also ends, cutting the connections still open, as soon as `cut_off`
/// completes (say, on a second shutdown signal). `cut_off` is only watched once the drain
/// has begun.
pub async fn serve_with_cutoff(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
    cut_off: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let connections = Connections::new(limits.max_connections);
    connections
        .accept_until(&listener, &router, limits, shutdown)
        .await;
    drop(listener);
    connections.drain(limits.shutdown_grace, cut_off).await;
    Ok(())
}

/// Where a connection's life stands in the server's shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Serving requests, keeping connections alive.
    Serving,
    /// Shutting down: finish the current request, then close.
    Draining,
    /// The drain is over: close now, whatever runs.
    Cut,
}

/// The server's open connections: a slot each (the cap) and the phase they all follow.
struct Connections {
    /// Slots; each open connection holds one until it closes.
    slots: Arc<Semaphore>,
    /// `slots`' size.
    max: u32,
    /// Tells every connection to drain or close.
    phase: watch::Sender<Phase>,
    /// Requests whose handler is running, across all connections (for the drain's log).
    requests: Arc<AtomicUsize>,
}

impl Connections {
    fn new(max_connections: usize) -> Self {
        let max =
            u32::try_from(max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        Self {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            phase: watch::channel(Phase::Serving).0,
            requests: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Connections open now.
    fn open(&self) -> usize {
        (self.max as usize).saturating_sub(self.slots.available_permits())
    }

    /// Accepts connections, each served in its own task, until `shutdown` completes.
    async fn accept_until(
        &self,
        listener: &TcpListener,
        router: &Router,
        limits: ServerLimits,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let mut shutdown = pin!(shutdown);
        let mut saturation = Saturation::default();
        loop {
            let slot = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    saturation.reached(self.max);
                    tokio::select! {
                        slot = self.slots.clone().acquire_owned() => match slot {
                            Ok(slot) => slot,
                            Err(_) => return,
                        },
                        () = &mut shutdown => return,
                    }
                }
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(e) => {
                        // Out of file descriptors or similar: wait instead of spinning.
                        tracing::error!(error = %e, "accepting a connection failed");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            () = &mut shutdown => return,
                        }
                    }
                },
                () = &mut shutdown => return,
            };
            let connection = Connection {
                router: router.clone(),
                peer,
                limits,
                phase: self.phase.subscribe(),
                requests: self.requests.clone(),
            };
            tokio::spawn(async move {
                connection.run(stream).await;
                drop(slot);
            });
        }
    }

    /// Asks every connection to finish its current request and close; cuts those still open
    /// after `grace` or once `cut_off` completes; returns when all have closed.
    async fn drain(&self, grace: Duration, cut_off: impl Future<Output = ()>) {
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            connections = self.open(),
            requests_running = self.requests.load(Ordering::Relaxed),
            grace_ms,
            "HTTP drain started: listener closed, finishing requests in progress"
        );
        self.phase.send_replace(Phase::Draining);
        let mut all_closed = pin!(self.slots.acquire_many(self.max));
        let cut = tokio::select! {
            _ = &mut all_closed => false,
            () = tokio::time::sleep(grace) => true,
            () = cut_off => true,
        };
        if cut {
            tracing::warn!(
                connections = self.open(),
                requests_running = self.requests.load(Ordering::Relaxed),
                "HTTP drain ended with connections still open: they are cut"
            );
            self.phase.send_replace(Phase::Cut);
            let _ = all_closed.await;
        }
        tracing::info!(cut, "HTTP drain finished: every connection closed");
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Logs reaching the connection cap at most once per [`SATURATION_LOG_EVERY`].
#[derive(Debug, Default)]
struct Saturation {
    last_logged: Option<Instant>,
    times: u64,
}

impl Saturation {
    fn reached(&mut self, max: u32) {
        self.times += 1;
        if self
            .last_logged
            .is_none_or(|at| at.elapsed() >= SATURATION_LOG_EVERY)
        {
            tracing::warn!(
                max_connections = max,
                times = self.times,
                "connection limit reached: new connections wait until one closes"
            );
            self.last_logged = Some(Instant::now());
            self.times = 0;
        }
    }
}

/// One accepted connection.
struct Connection {
    router: Router,
    peer: SocketAddr,
    limits: ServerLimits,
    /// The server's shutdown phase.
    phase: watch::Receiver<Phase>,
    /// The server-wide count of running requests.
    requests: Arc<AtomicUsize>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let (router, peer, requests) = (self.router, self.peer, activity.clone());
        let server_requests = self.requests;
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = requests.busy(&server_requests);
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(busy);
                response
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        let mut connection = pin!(builder.serve_connection(io, service));
        let idle = self.limits.idle_timeout;
        let mut draining = false;
        loop {
            let phase = *self.phase.borrow_and_update();
            match phase {
                Phase::Serving => {}
                Phase::Draining if draining => {}
                Phase::Draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
                Phase::Cut => {
                    tracing::debug!(peer = %peer, "cutting a connection at the end of the drain");
                    return;
                }
            }
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(activity.idle_deadline(idle)) => {
                    if activity.is_idle(idle) {
                        tracing::debug!(peer = %peer, "closing an idle connection");
                        return;
                    }
                }
                changed = self.phase.changed() => {
                    if changed.is_err() {
                        // The server is gone (its future was dropped).
                        return;
                    }
                }
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are being handled.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    /// Milliseconds from `origin` to the last byte read or written.
    last: AtomicU64,
    /// Requests whose handler is running.
    running: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            running: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        if self.running.load(Ordering::Relaxed) > 0 {
            Instant::now() + idle
        } else {
            self.last() + idle
        }
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.running.load(Ordering::Relaxed) == 0 && self.last().elapsed() >= idle
    }

    /// Marks a request as running on this connection and in the server's count.
    fn busy(self: &Arc<Self>, server: &Arc<AtomicUsize>) -> Busy {
        self.running.fetch_add(1, Ordering::Relaxed);
        server.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone(), server.clone())
    }
}

/// A request being handled; the connection is not idle while one exists.
struct Busy(Arc<Activity>, Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.running.fetch_sub(1, Ordering::Relaxed);
        self.1.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, noting in [`Activity`] every read or write that moves bytes.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
