//! `docs/api.md` and the served OpenAPI document describe the same endpoints: every documented
//! operation is in the guide, and every endpoint the guide names exists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

fn operations() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(gateway_http::openapi()).unwrap();
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

fn guide() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap()
}

#[test]
fn every_documented_operation_is_described_in_the_api_guide() {
    let guide = guide();
    let missing: Vec<_> = operations()
        .into_iter()
        .filter(|(method, path)| {
            let mention = format!("`{method} {path}");
            !guide
                .match_indices(&mention)
                .any(|(i, _)| matches!(guide[i + mention.len()..].chars().next(), Some('`' | '?')))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/api.md does not describe: {missing:?}"
    );
}

#[test]
fn every_endpoint_the_api_guide_names_exists() {
    let operations = operations();
    let guide = guide();
    let mut named = BTreeSet::new();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        for (i, _) in guide.match_indices(&format!("`{method} /")) {
            let rest = &guide[i + 1 + method.len() + 1..];
            let end = rest.find(['`', '?', ' ']).unwrap_or(rest.len());
            named.insert((method.to_owned(), rest[..end].to_owned()));
        }
    }
    assert!(
        named.len() >= 15,
        "the guide names its endpoints as `METHOD /path`: {named:?}"
    );
    let unknown: Vec<_> = named.difference(&operations).collect();
    assert!(
        unknown.is_empty(),
        "docs/api.md names endpoints the API does not have: {unknown:?}"
    );
}
