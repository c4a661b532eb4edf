//! Sending a signed webhook over HTTP, behind a trait so tests and embedders can replace it.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

/// One webhook POST.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    /// The merchant's endpoint.
    pub url: &'a str,
    /// Signature and other headers.
    pub headers: &'a [(&'static str, String)],
    /// The exact JSON bytes (signed).
    pub body: &'a [u8],
    /// Give up after this long.
    pub timeout: Duration,
}

/// The endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// HTTP status.
    pub status: u16,
    /// Body, capped at [`crate::webhook::RESPONSE_BODY_CAP`] bytes.
    pub body: String,
    /// The wait its `Retry-After` header asked for, in delta-seconds form (an HTTP date is
    /// ignored), if any.
    pub retry_after: Option<Duration>,
}

/// The wait a `Retry-After` value asks for: whole seconds (`120`); `None` for anything else,
/// including the HTTP-date form.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The endpoint did not answer in time.
    #[error("timed out")]
    Timeout,
    /// The target is not allowed (private address outside development, bad scheme, bad URL).
    #[error("refused: {0}")]
    Refused(String),
    /// Connection or protocol failure.
    #[error("connection failed: {0}")]
    Connect(String),
}

/// Sends webhook requests.
///
/// A transport that records what it is sent and answers `200`, the way a test or an embedding
/// without outbound HTTP replaces the reqwest one:
///
/// ```
/// use std::sync::Mutex;
///
/// use async_trait::async_trait;
/// use gateway_core::endpoint::CreateEndpoint;
/// use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// use gateway_core::WebhookTransport;
///
/// #[derive(Default)]
/// struct Recorder(Mutex<Vec<(String, String)>>);
///
/// #[async_trait]
/// impl WebhookTransport for Recorder {
///     async fn post(
///         &self,
///         request: WebhookRequest<'_>,
///     ) -> Result<WebhookResponse, TransportError> {
///         let body = String::from_utf8_lossy(request.body).into_owned();
///         self.0.lock().unwrap().push((request.url.to_owned(), body));
///         Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
///     }
/// }
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let recorder = Arc::new(Recorder::default());
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(recorder.clone())
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
/// // `gateway` was built with `.transport(recorder.clone())`, `recorder` an `Arc<Recorder>`.
/// let url = "https://shop.example/webhooks";
/// let endpoint = CreateEndpoint {
///     url: url.into(),
///     description: None,
///     enabled_events: vec!["*".into()],
///     metadata: None,
/// };
/// gateway.create_endpoint(merchant, endpoint).await?;
/// gateway.send_test_webhook(merchant).await?;
/// worker.clone().run_once().await;
///
/// let sent = recorder.0.lock().unwrap();
/// assert_eq!(sent.len(), 1);
/// assert_eq!(sent[0].0, url);
/// assert!(sent[0].1.contains(r#""event":"webhook.test""#));
/// # drop(sent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[async_trait]
pub trait WebhookTransport: Send + Sync + 'static {
    /// POSTs `request` and returns the response, whatever its status.
    async fn post(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError>;
}

/// Whether `ip` is not a globally reachable address: any block of the IANA special-purpose
/// registries that is not globally reachable, multicast, reserved space, and the IPv6 forms
/// carrying such an IPv4 address (see [`crate::address`]).
pub fn is_private_address(ip: IpAddr) -> bool {
    crate::address::is_special(ip)
}

#[cfg(feature = "http-client")]
pub use reqwest_transport::{ReqwestTransport, check_url};

#[cfg(feature = "http-client")]
mod reqwest_transport {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use reqwest::dns::{Addrs, Name, Resolve, Resolving};

    use super::{
        TransportError, WebhookRequest, WebhookResponse, WebhookTransport, is_private_address,
        parse_retry_after,
    };
    use crate::webhook::{RESPONSE_BODY_CAP, cap_body};

    /// The default transport: reqwest over rustls (ring), no redirects, no proxies.
    ///
    /// Unless private targets are allowed (development), the host name is resolved at delivery
    /// time and every address must be public, so DNS rebinding cannot reach internal services.
    #[derive(Debug, Clone)]
    pub struct ReqwestTransport {
        client: reqwest::Client,
        allow_private: bool,
    }

    impl ReqwestTransport {
        /// A transport; `allow_private` permits loopback and private targets (development only).
        ///
        /// Its TLS uses ring and the platform's certificate verifier, configured for this client
        /// alone: it installs no process-wide rustls provider, so a host keeps its own.
        pub fn new(allow_private: bool) -> Result<Self, TransportError> {
            let mut builder = reqwest::Client::builder()
                .tls_backend_preconfigured(tls_config()?)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(5))
                .pool_idle_timeout(Duration::from_secs(30))
                .user_agent(concat!("gateway-webhooks/", env!("CARGO_PKG_VERSION")));
            if !allow_private {
                builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
            }
            let client = builder
                .build()
                .map_err(|e| TransportError::Connect(e.to_string()))?;
            Ok(Self {
                client,
                allow_private,
            })
        }
    }

    /// rustls with ring and the platform's verifier (what reqwest would use, minus the global
    /// provider it would need).
    fn tls_config() -> Result<rustls::ClientConfig, TransportError> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_error = |e: rustls::Error| TransportError::Connect(format!("TLS setup: {e}"));
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_platform_verifier()
            .map_err(tls_error)?
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    #[async_trait]
    impl WebhookTransport for ReqwestTransport {
        async fn post(
            &self,
            request: WebhookRequest<'_>,
        ) -> Result<WebhookResponse, TransportError> {
            let url = check_url(request.url, self.allow_private)?;
            let mut builder = self
                .client
                .post(url)
                .timeout(request.timeout)
                .body(request.body.to_vec());
            builder = builder.header("Content-Type", "application/json");
            for (name, value) in request.headers {
                builder = builder.header(*name, value);
            }
            let mut response = builder.send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let mut body = Vec::new();
            while body.len() < RESPONSE_BODY_CAP {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) if e.is_timeout() => return Err(TransportError::Timeout),
                    Err(_) => break,
                }
            }
            Ok(WebhookResponse {
                status,
                body: cap_body(&String::from_utf8_lossy(&body)),
                retry_after,
            })
        }
    }

    /// Parses a webhook URL and checks it before any connection: `http` or `https`, and unless
    /// private targets are allowed (development), `https` only and neither `localhost` nor an
    /// address literal that is not globally reachable (checked after the URL parser has normalised forms such as
    /// `http://2130706433/`). Host names are checked again, on every address they resolve to,
    /// when the connection is made.
    pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, TransportError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| TransportError::Refused(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::Refused(
                "only http and https URLs are allowed".into(),
            ));
        }
        if allow_private {
            return Ok(url);
        }
        // The parser has normalised the host: an IPv4 literal in dotted decimal, an IPv6 one in
        // brackets, a name in lower case.
        let host = url.host_str().unwrap_or_default();
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .parse::<std::net::IpAddr>();
        let private = match literal {
            Ok(ip) => is_private_address(ip),
            Err(_) => host.is_empty() || host.trim_end_matches('.') == "localhost",
        };
        if private {
            return Err(TransportError::Refused("private address".into()));
        }
        // Outside development a payload travels signed but readable: only over TLS.
        if url.scheme() != "https" {
            return Err(TransportError::Refused(
                "only https URLs are allowed outside development".into(),
            ));
        }
        Ok(url)
    }

    fn classify(e: reqwest::Error) -> TransportError {
        if e.is_timeout() {
            TransportError::Timeout
        } else {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            if text.contains("private address") {
                TransportError::Refused("private address".into())
            } else {
                TransportError::Connect(text)
            }
        }
    }

    /// Resolves names and refuses any that map to a non-public address.
    struct PublicOnlyResolver;

    impl Resolve for PublicOnlyResolver {
        fn resolve(&self, name: Name) -> Resolving {
            let host = name.as_str().to_owned();
            Box::pin(async move {
                let addrs: Vec<SocketAddr> =
                    tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
                if addrs.is_empty() || addrs.iter().any(|a| is_private_address(a.ip())) {
                    return Err("refusing to deliver to a private address".into());
                }
                Ok(Box::new(addrs.into_iter()) as Addrs)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "http-client")]
    #[tokio::test]
    async fn outside_development_private_targets_are_refused_before_any_request() {
        let transport = ReqwestTransport::new(false).unwrap();
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost:9/hook",
            "http://[::1]:9/hook",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest",
        ] {
            let request = WebhookRequest {
                url,
                headers: &[],
                body: b"{}",
                timeout: Duration::from_millis(200),
            };
            assert_eq!(
                transport.post(request).await,
                Err(TransportError::Refused("private address".into())),
                "{url}"
            );
        }
        let ftp = WebhookRequest {
            url: "ftp://example.com/x",
            headers: &[],
            body: b"{}",
            timeout: Duration::from_millis(200),
        };
        assert!(matches!(
            transport.post(ftp).await,
            Err(TransportError::Refused(_))
        ));
    }

    /// The holes of issue 12 (finding 6), refused by a pure check before any connection is made,
    /// so this test never sends a packet anywhere even if the check were wrong.
    #[cfg(feature = "http-client")]
    #[test]
    fn special_address_literals_are_refused_before_any_connection() {
        for url in [
            "http://[64:ff9b::a9fe:a9fe]/latest",
            "http://[64:ff9b:1::1]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "http://[::10.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://198.18.0.1/",
            "http://192.0.0.170/",
            "http://224.0.0.1/",
            "http://240.0.0.1/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://LOCALHOST./",
        ] {
            assert_eq!(
                check_url(url, false).map(|u| u.to_string()),
                Err(TransportError::Refused("private address".into())),
                "{url}"
            );
        }
        for url in [
            "https://example.com/hook",
            "https://[2606:4700::1111]/",
            "https://8.8.8.8/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        for url in ["http://example.com/hook", "http://8.8.8.8/"] {
            assert_eq!(
                check_url(url, false).map(|u| u.to_string()),
                Err(TransportError::Refused(
                    "only https URLs are allowed outside development".into()
                )),
                "{url}"
            );
        }
        assert!(check_url("http://[64:ff9b::a00:1]/", true).is_ok());
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_private_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_private_address(ip.parse().unwrap()), "{ip}");
        }
    }
}
