//! Checking what a receiver gets, independently of the gateway's own signing code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use wiremock::Request;

/// HMAC-SHA256 of `message` under `key`, computed with the `hmac` crate (not the gateway's).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The value of header `name` of a request the receiver got; panics if it is missing.
pub fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing {name}"))
}

/// The Standard Webhooks `v1,` signature of `request` under `secret` (`whsec_` + base64 key).
pub fn standard_signature(secret: &str, request: &Request) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 key");
    let mut signed = format!(
        "{}.{}.",
        header(request, "webhook-id"),
        header(request, "webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&request.body);
    format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)))
}
