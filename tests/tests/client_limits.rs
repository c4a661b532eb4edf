//! Limits that see the real client (issue 12, findings 4 and 5): behind a trusted proxy each
//! customer has their own checkout bucket and a spoofed `X-Forwarded-For` from anyone else is
//! ignored; failed authentication is limited per client address and per key id from one
//! address, with 429 and `Retry-After`, while the right secret from elsewhere still works.
//!
//! Requests carry the TCP peer as `ConnectInfo`, as `gateway serve` sets it; the limiters read
//! the test's manual clock, so nothing here depends on how fast the machine is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use gateway_core::merchant::SecretHasher;
use gateway_core::{GatewayService, SimulatedBank};
use gateway_http::AppState;
use gateway_http::client::{ForwardedHeader, TrustedProxies};
use gateway_http::rate_limit::{AuthLimiter, CheckoutLimiter, LimiterClock};
use tests::{Backend, TEST_PEPPER, TestApp, TestOptions};
use tower::ServiceExt;

const KEY: &str = "key_test_abc123";
const SECRET: &str = "secret_test_xyz789";
const PROXY: &str = "10.0.0.5:40000";

/// The real router over the test app's database, with limiters on the test's clock.
fn router(app: &TestApp, trusted: &str, checkout_per_minute: u32) -> Router {
    let bank = Arc::new(SimulatedBank::seeded(TestOptions::default().simulation, 7));
    let gateway = GatewayService::new(app.store.clone(), bank, SecretHasher::new(TEST_PEPPER))
        .with_clock(app.clock.clone());
    let clock = LimiterClock::from_clock(app.clock.clone());
    gateway_http::router(AppState {
        checkout_limiter: Arc::new(CheckoutLimiter::with_clock(
            checkout_per_minute,
            clock.clone(),
        )),
        auth_limiter: Arc::new(AuthLimiter::new(30, 10, clock)),
        trusted_proxies: Arc::new(TrustedProxies::new(
            TrustedProxies::parse_list(trusted).unwrap(),
            ForwardedHeader::XForwardedFor,
        )),
        ..AppState::new(Arc::new(gateway))
    })
}

/// GET `path` from TCP peer `peer` with `headers`; the status and `Retry-After`.
async fn get(
    router: &Router,
    peer: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<u64>) {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut request = Request::get(path).extension(ConnectInfo(peer));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status(), retry_after)
}

#[tokio::test]
async fn behind_a_trusted_proxy_two_customers_do_not_share_a_checkout_bucket() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    let order = app.create_order(50000).await;
    let router = router(&app, "10.0.0.0/8", 3);
    let path = format!("/api/v1/checkout/orders/{order}");
    let as_customer = |address: &'static str| [("x-api-key", KEY), ("x-forwarded-for", address)];

    for _ in 0..3 {
        let (status, _) = get(&router, PROXY, &path, &as_customer("198.51.100.1")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, retry_after) = get(&router, PROXY, &path, &as_customer("198.51.100.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after, Some(20));

    let (status, _) = get(&router, PROXY, &path, &as_customer("198.51.100.2")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another customer behind the same proxy"
    );

    // What the client wrote left of the proxy's entry is ignored.
    let spoofed = [
        ("x-api-key", KEY),
        ("x-forwarded-for", "6.6.6.6, 198.51.100.1"),
    ];
    let (status, _) = get(&router, PROXY, &path, &spoofed).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    app.advance(Duration::from_secs(20));
    let (status, _) = get(&router, PROXY, &path, &as_customer("198.51.100.1")).await;
    assert_eq!(status, StatusCode::OK, "the bucket refills with time");
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    let order = app.create_order(50000).await;
    let router = router(&app, "10.0.0.0/8", 3);
    let path = format!("/api/v1/checkout/orders/{order}");
    let spoofs = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"];
    let mut statuses = Vec::new();
    for spoof in spoofs {
        let headers = [("x-api-key", KEY), ("x-forwarded-for", spoof)];
        statuses.push(get(&router, "203.0.113.9:5000", &path, &headers).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn many_wrong_secrets_get_429_while_the_right_secret_from_elsewhere_still_works() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    let router = router(&app, "", 120);
    let attacker = "203.0.113.9:5000";
    let wrong = [("x-api-key", KEY), ("x-api-secret", "secret_guess")];
    let right = [("x-api-key", KEY), ("x-api-secret", SECRET)];

    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(get(&router, attacker, "/api/v1/orders", &wrong).await);
    }
    let unauthorized = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(
        unauthorized, 11,
        "ten failures a minute per key and address, then a block"
    );
    assert!(
        statuses[11..].iter().all(|&(s, retry)| {
            s == StatusCode::TOO_MANY_REQUESTS && retry.is_some_and(|r| (1..=6).contains(&r))
        }),
        "{statuses:?}"
    );

    let (status, _) = get(&router, attacker, "/api/v1/orders", &right).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the blocked address waits too"
    );
    let (status, _) = get(&router, "198.51.100.20:443", "/api/v1/orders", &right).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the merchant's own server is not held up"
    );

    app.advance(Duration::from_secs(6));
    let (status, _) = get(&router, attacker, "/api/v1/orders", &right).await;
    assert_eq!(status, StatusCode::OK, "the block ends by itself");
}

#[tokio::test]
async fn probing_many_key_ids_from_one_address_gets_429() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    let router = router(&app, "", 120);
    let prober = "203.0.113.9:5000";
    let mut statuses = Vec::new();
    for i in 0..40 {
        let key = format!("key_probe_{i}");
        let headers = [("x-api-key", key.as_str()), ("x-api-secret", "nope")];
        statuses.push(get(&router, prober, "/api/v1/orders", &headers).await.0);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        31,
        "thirty failures a minute per address, then a block"
    );
    assert_eq!(statuses[39], StatusCode::TOO_MANY_REQUESTS);

    // Unknown publishable keys on the checkout endpoints count as failures too.
    let (status, _) = get(
        &router,
        prober,
        "/api/v1/checkout/orders/order_x",
        &[("x-api-key", "key_probe_checkout")],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let right = [("x-api-key", KEY), ("x-api-secret", SECRET)];
    let (status, _) = get(&router, "198.51.100.20:443", "/api/v1/orders", &right).await;
    assert_eq!(status, StatusCode::OK);
}
