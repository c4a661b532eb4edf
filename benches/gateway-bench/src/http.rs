//! A deliberately minimal HTTP/1.1 keep-alive client: one TCP connection, one request at a
//! time, responses parsed with `httparse` and bodies read by `Content-Length`. It costs a few
//! microseconds of CPU per request, so the load generator measures the gateway, not itself.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The credentials a request is sent with.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `X-Api-Key`.
    pub key: String,
    /// `X-Api-Secret`.
    pub secret: String,
}

impl Credentials {
    /// The test merchant the gateway seeds in development.
    pub fn test_merchant() -> Self {
        Self {
            key: "key_test_abc123".into(),
            secret: "secret_test_xyz789".into(),
        }
    }
}

/// Serialises one request (headers and body) into bytes ready to write.
pub fn request(method: &str, path: &str, credentials: Option<&Credentials>, body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if let Some(c) = credentials {
        out.extend_from_slice(b"X-Api-Key: ");
        out.extend_from_slice(c.key.as_bytes());
        out.extend_from_slice(b"\r\nX-Api-Secret: ");
        out.extend_from_slice(c.secret.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method != "GET" {
        out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

/// One keep-alive connection to the gateway.
#[derive(Debug)]
pub struct Conn {
    /// The socket (Nagle off: requests are written in one piece).
    stream: TcpStream,
    /// The last response, head and body; reused so steady state allocates nothing.
    buf: Vec<u8>,
    /// Where the last response's body starts and ends in `buf`.
    body: (usize, usize),
}

impl Conn {
    /// Opens a connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(8192),
            body: (0, 0),
        })
    }

    /// Sends `raw` (a whole request) and reads the whole response; returns its status. The
    /// body is then available from [`Conn::body`].
    pub async fn send(&mut self, raw: &[u8]) -> io::Result<u16> {
        self.stream.write_all(raw).await?;
        self.buf.clear();
        loop {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let head = match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => continue,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            };
            let status = response.code.unwrap_or(0);
            let mut length = None;
            let mut chunked = false;
            for h in response.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok());
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = h.value.eq_ignore_ascii_case(b"chunked");
                }
            }
            if let Some(length) = length {
                while self.buf.len() < head + length {
                    if self.stream.read_buf(&mut self.buf).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                self.body = (head, head + length);
            } else if chunked {
                // Not decoded: the bench only counts and scans bodies.
                while !self.buf.ends_with(b"0\r\n\r\n") {
                    if self.stream.read_buf(&mut self.buf).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                self.body = (head, self.buf.len());
            } else {
                self.body = (head, head);
            }
            return Ok(status);
        }
    }

    /// The body of the last response.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.0..self.body.1]
    }
}

/// The first `"id":"…"` value in a JSON body (the object's own id in the gateway's answers
/// and in webhook payloads, where `id` is the first field of `data.payment`).
pub fn first_id(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"id\":\"";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = body[start..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

/// Sends one request on a fresh connection and returns the status and body as text.
pub async fn once(addr: SocketAddr, raw: &[u8]) -> io::Result<(u16, String)> {
    let mut conn = Conn::connect(addr).await?;
    let status = conn.send(raw).await?;
    Ok((status, String::from_utf8_lossy(conn.body()).into_owned()))
}
