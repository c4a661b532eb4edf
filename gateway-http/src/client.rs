//! Who the client is: the TCP peer's address, unless the peer is one of the operator's
//! trusted proxies (`TRUSTED_PROXIES`); then the right-most address in the forwarding header
//! that is not itself a trusted proxy.
//!
//! Each proxy appends the address it received the request from, so reading from the right,
//! every entry up to and including the first untrusted one was written by a trusted proxy; the
//! entries left of it were written by the client and are ignored, whatever they say. Only the
//! one header the operator's proxies write is read ([`ForwardedHeader`]): a proxy passes the
//! other one through from the client untouched, so believing it would let anyone choose their
//! address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::AppState;

/// The header trusted proxies write the client's address in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!(
                "must be x-forwarded-for or forwarded, not {other:?}"
            )),
        }
    }
}

/// The proxies whose forwarding header is believed, and which header that is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Proxies in `nets`, writing `header`.
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { nets, header }
    }

    /// Parses a comma-separated list of CIDRs or single addresses (`10.0.0.0/8, ::1`).
    pub fn parse_list(list: &str) -> Result<Vec<IpNet>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))
            })
            .collect()
    }

    /// Whether any proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers` (see the module docs).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = self.hops(headers);
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        return client;
                    }
                }
                // A trusted proxy wrote something unreadable: stop at that proxy.
                None => return client,
            }
        }
        client
    }

    /// Every address in the forwarding header, left to right (`None` for one not readable).
    fn hops(&self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let (name, parse): (&str, fn(&str) -> Option<IpAddr>) = match self.header {
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", parse_address),
            ForwardedHeader::Forwarded => ("forwarded", parse_forwarded_element),
        };
        headers
            .get_all(name)
            .iter()
            .flat_map(|value| {
                let text = value.to_str().unwrap_or("\u{0}");
                text.split(',')
                    .map(|entry| parse(entry.trim()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse().ok())
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.60;proto=http;by=…`).
fn parse_forwarded_element(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            parse_address(value)
        } else {
            None
        }
    })
}

/// The real client's address (see the module docs); `0.0.0.0` when the router is served
/// without connection info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts, state)))
    }
}

/// The real client's address of a request.
pub(crate) fn client_address(parts: &Parts, state: &AppState) -> IpAddr {
    match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => state
            .trusted_proxies
            .client_address(peer.ip(), &parts.headers),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &str, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(TrustedProxies::parse_list(list).unwrap(), header)
    }

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies("10.0.0.0/8", ForwardedHeader::XForwardedFor);
        let spoofed = headers("x-forwarded-for", &["1.2.3.4"]);
        assert_eq!(
            trusted.client_address(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.168.1.1", ForwardedHeader::XForwardedFor);
        let chain = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.7", "192.168.1.1"]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.2"), &chain),
            ip("198.51.100.7")
        );
        let ports = headers("x-forwarded-for", &["[2001:db8::7]:443, 198.51.100.8:1234"]);
        assert_eq!(
            trusted.client_address(ip("::ffff:10.0.0.2"), &ports),
            ip("198.51.100.8")
        );
    }

    #[test]
    fn an_unreadable_entry_stops_at_the_proxy_that_wrote_it() {
        let trusted = proxies("10.0.0.0/8", ForwardedHeader::XForwardedFor);
        let garbage = headers("x-forwarded-for", &["198.51.100.7, nonsense, 10.1.1.1"]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.2"), &garbage),
            ip("10.1.1.1")
        );
        assert_eq!(
            trusted.client_address(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_forwarded_header_is_read_only_when_chosen() {
        let forwarded = headers(
            "forwarded",
            &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.0.0.9"],
        );
        let rfc7239 = proxies("10.0.0.0/8", ForwardedHeader::Forwarded);
        assert_eq!(
            rfc7239.client_address(ip("10.0.0.2"), &forwarded),
            ip("2001:db8:cafe::17")
        );
        let xff = proxies("10.0.0.0/8", ForwardedHeader::XForwardedFor);
        assert_eq!(
            xff.client_address(ip("10.0.0.2"), &forwarded),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn bad_proxy_lists_are_rejected() {
        assert!(TrustedProxies::parse_list("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_list("proxy.internal").is_err());
        assert_eq!(TrustedProxies::parse_list(" ").unwrap(), vec![]);
    }
}
