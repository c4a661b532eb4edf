//! Webhook endpoints run inside the bench process: a receiver that answers `200` at once and
//! notes when each payment's `payment.success` arrived (and, when asked, when each delivery
//! arrived by its `webhook-id`, and how often), and a black hole that accepts connections and
//! never answers (a merchant whose server hangs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the receiver has seen.
#[derive(Debug, Default)]
pub struct Received {
    /// When each payment's first `payment.success` webhook arrived, by payment id.
    pub success: Mutex<HashMap<String, Instant>>,
    /// Webhooks of any event received.
    pub total: AtomicU64,
    /// Signalled (one stored permit) on every `payment.success`.
    pub notify: Notify,
    /// By `webhook-id`: when the delivery first arrived and how many times it arrived. `None`
    /// unless started with [`start_by_webhook_id`], so the other scenarios' receiver does no
    /// extra work per request.
    pub by_webhook_id: Option<Mutex<HashMap<String, Arrivals>>>,
}

/// One delivery's arrivals at the receiver.
#[derive(Debug, Clone, Copy)]
pub struct Arrivals {
    /// The first.
    pub first: Instant,
    /// How many times it arrived (more than 1: delivered more than once).
    pub count: u32,
}

impl Received {
    /// When `payment_id`'s success webhook arrived, if it has.
    pub fn arrival(&self, payment_id: &str) -> Option<Instant> {
        self.success
            .lock()
            .expect("receiver map poisoned")
            .get(payment_id)
            .copied()
    }
}

/// Starts the receiver on 127.0.0.1 and returns its webhook URL and its record.
pub async fn start() -> anyhow::Result<(String, Arc<Received>)> {
    listen(Received::default()).await
}

/// Like [`start`], and also records every request by its `webhook-id` header.
pub async fn start_by_webhook_id() -> anyhow::Result<(String, Arc<Received>)> {
    listen(Received {
        by_webhook_id: Some(Mutex::new(HashMap::new())),
        ..Received::default()
    })
    .await
}

async fn listen(received: Received) -> anyhow::Result<(String, Arc<Received>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(received);
    let record = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let _ = serve_connection(stream, &record).await;
            });
        }
    });
    Ok((format!("http://{addr}/webhook"), received))
}

/// Reads requests off one keep-alive connection and answers each `200`.
async fn serve_connection(mut stream: TcpStream, record: &Received) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        // Parse as many complete requests as the buffer holds.
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            let head = match request.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(_) => return Ok(()),
            };
            let length = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            if buf.len() < head + length {
                break;
            }
            let arrived = Instant::now();
            if let Some(map) = &record.by_webhook_id
                && let Some(id) = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("webhook-id"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
            {
                let mut map = map.lock().expect("receiver map poisoned");
                map.entry(id.to_owned())
                    .and_modify(|a| a.count += 1)
                    .or_insert(Arrivals {
                        first: arrived,
                        count: 1,
                    });
            }
            note(&buf[head..head + length], arrived, record);
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await?;
            buf.drain(..head + length);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Records one webhook body.
fn note(body: &[u8], arrived: Instant, record: &Received) {
    record.total.fetch_add(1, Ordering::Relaxed);
    // Payloads start `{"event":"payment.success",…,"data":{"payment":{"id":"pay_…"`.
    if body.starts_with(br#"{"event":"payment.success""#)
        && let Some(id) = crate::http::first_id(body)
    {
        let mut map = record.success.lock().expect("receiver map poisoned");
        map.entry(id.to_owned()).or_insert(arrived);
        drop(map);
        record.notify.notify_one();
    }
}

/// Counts of what the black hole swallowed.
#[derive(Debug, Default)]
pub struct Swallowed {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Bytes read (requests never answered).
    pub bytes: AtomicU64,
}

/// Starts a listener that accepts connections, reads whatever comes and never answers, until
/// the other side gives up. Returns its webhook URL.
pub async fn start_black_hole() -> anyhow::Result<(String, Arc<Swallowed>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let swallowed = Arc::new(Swallowed::default());
    let counts = swallowed.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::Relaxed);
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    counts.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    Ok((format!("http://{addr}/webhook"), swallowed))
}
