//! The API reference at `/docs` (Swagger UI) shares its origin with the dashboard, which keeps
//! the merchant's API secret in `sessionStorage` (issue 12, finding 12): every one of its
//! answers carries a strict CSP that forbids framing, inline and foreign script, and requests
//! to other origins, and the one inline style it needs is allowed by a hash that matches the
//! vendored Swagger UI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use base64::Engine;
use sha2::{Digest, Sha256};
use tests::{Backend, TestApp, TestResponse};

async fn get(app: &TestApp, path: &str) -> TestResponse {
    app.send(Method::GET, path, None, &[], Vec::new()).await
}

fn header<'a>(response: &'a TestResponse, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn every_docs_answer_forbids_framing_inline_script_and_foreign_requests() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    for path in [
        "/docs",
        "/docs/",
        "/docs/swagger-initializer.js",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/no-such-file",
    ] {
        let response = get(&app, path).await;
        let csp = header(&response, "content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self';",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    }
}

#[tokio::test]
async fn the_swagger_page_needs_no_inline_script_and_its_one_inline_style_is_hashed() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    let page = get(&app, "/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.text.matches("<script").count(),
        page.text.matches("<script src=").count(),
        "every script is a file: {}",
        page.text
    );
    assert!(!page.text.contains("<style"), "{}", page.text);
    let initializer = get(&app, "/docs/swagger-initializer.js").await;
    assert!(initializer.text.contains("/api/v1/openapi.json"));
    assert!(initializer.text.contains("\"queryConfigEnabled\": false"));

    let preset = get(&app, "/docs/swagger-ui-standalone-preset.js").await;
    let opening = "createElement(\"style\",null,\"";
    let start = preset.text.find(opening).unwrap() + opening.len();
    let end = start + preset.text[start..].find('"').unwrap();
    let style = &preset.text[start..end];
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains(&format!("style-src 'self' 'sha256-{hash}'")),
        "the logo style {style:?} hashes to {hash}, not in {csp}"
    );
}
