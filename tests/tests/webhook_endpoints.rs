//! Webhook endpoints (`/api/v1/webhooks/endpoints`): their lifecycle, limits and secrets; the
//! reference's `webhooks/config` acting on the default endpoint, and the migration that creates
//! it; and events fanning out to every matching enabled endpoint in their transaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gateway_core::merchant::test_merchant;
use gateway_core::store::PageRequest;
use gateway_store::testing::TestDatabase;
use serde_json::{Value, json};
use tests::signing::{header, hmac_sha256, standard_signature};
use tests::{Credentials, TestApp, TestResponse, conformance};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// The `event` of every request `server` received, in arrival order.
async fn events_received(server: &MockServer) -> Vec<String> {
    let mut events: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    events.sort();
    events
}

const ENDPOINTS: &str = "/api/v1/webhooks/endpoints";

async fn create_endpoint(app: &TestApp, body: Value) -> TestResponse {
    app.post(ENDPOINTS, body).await
}

/// Creates an endpoint for `url` receiving `events`; returns its JSON (with its secret).
async fn endpoint_for(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let created = create_endpoint(app, json!({ "url": url, "enabled_events": events })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.json
}

async fn patch(app: &TestApp, path: &str, body: Value) -> TestResponse {
    app.send(
        Method::PATCH,
        path,
        Some(&Credentials::test_merchant()),
        &[],
        body.to_string().into_bytes(),
    )
    .await
}

async fn delete(app: &TestApp, credentials: &Credentials, path: &str) -> TestResponse {
    app.send(Method::DELETE, path, Some(credentials), &[], Vec::new())
        .await
}

conformance! {
    async fn an_endpoint_is_created_listed_shown_changed_and_deleted(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let created = create_endpoint(
            &app,
            json!({
                "url": "https://merchant.example/hooks",
                "description": "orders service",
                "enabled_events": ["payment.success", "refund.processed"],
                "metadata": { "team": "payments" },
            }),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.id();
        let random = id.strip_prefix("we_").unwrap();
        assert_eq!(random.len(), 16);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(created.json["url"], "https://merchant.example/hooks");
        assert_eq!(created.json["description"], "orders service");
        assert_eq!(
            created.json["enabled_events"],
            json!(["payment.success", "refund.processed"])
        );
        assert_eq!(created.json["metadata"], json!({ "team": "payments" }));
        assert_eq!(created.json["status"], "enabled");
        assert_eq!(created.json["disabled_reason"], Value::Null);
        assert!(created.json["created_at"].is_string());
        let secret = created.json["secret"].as_str().unwrap();
        let raw = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);

        // The secret is shown once: never when read back.
        let shown = app.get(&format!("{ENDPOINTS}/{id}")).await;
        assert_eq!(shown.status, StatusCode::OK);
        assert!(shown.json.get("secret").is_none(), "{}", shown.text);
        assert!(!shown.text.contains(secret));

        app.advance(Duration::from_secs(1));
        let newer = endpoint_for(&app, "https://merchant.example/other", &["*"]).await;
        let list = app.get(&format!("{ENDPOINTS}?limit=1")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.json["total"], 2);
        assert_eq!(list.json["limit"], 1);
        assert_eq!(list.json["offset"], 0);
        assert_eq!(list.json["data"][0]["id"], newer["id"], "newest first");
        assert!(!list.text.contains("whsec_"));
        let second = app.get(&format!("{ENDPOINTS}?limit=1&offset=1")).await;
        assert_eq!(second.json["data"][0]["id"], id.as_str());

        let changed = patch(
            &app,
            &format!("{ENDPOINTS}/{id}"),
            json!({
                "url": "https://merchant.example/v2",
                "description": "",
                "enabled_events": ["*"],
                "metadata": { "v": 2 },
                "status": "disabled",
            }),
        )
        .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.json["url"], "https://merchant.example/v2");
        assert_eq!(changed.json["description"], Value::Null);
        assert_eq!(changed.json["enabled_events"], json!(["*"]));
        assert_eq!(changed.json["metadata"], json!({ "v": 2 }));
        assert_eq!(changed.json["status"], "disabled");
        let enabled = patch(&app, &format!("{ENDPOINTS}/{id}"), json!({ "status": "enabled" })).await;
        assert_eq!(enabled.json["status"], "enabled");
        assert_eq!(enabled.json["url"], "https://merchant.example/v2", "absent fields stay");

        let deleted = delete(&app, &Credentials::test_merchant(), &format!("{ENDPOINTS}/{id}")).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(&format!("{ENDPOINTS}/{id}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.get(ENDPOINTS).await.json["total"], 1);
    }
}

conformance! {
    async fn a_repeated_creation_with_the_same_idempotency_key_creates_one_endpoint(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let body = json!({ "url": "https://merchant.example/h", "enabled_events": ["*"] });
        let first = app.post_idempotent(ENDPOINTS, "endpoint-1", body.clone()).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let again = app.post_idempotent(ENDPOINTS, "endpoint-1", body).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.json, first.json);
        assert_eq!(app.get(ENDPOINTS).await.json["total"], 1);
        let different = app
            .post_idempotent(
                ENDPOINTS,
                "endpoint-1",
                json!({ "url": "https://merchant.example/other", "enabled_events": ["*"] }),
            )
            .await;
        assert!(different.status.is_client_error(), "{}", different.text);
        assert_eq!(app.get(ENDPOINTS).await.json["total"], 1);
    }
}

conformance! {
    async fn a_merchant_has_at_most_sixteen_endpoints(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        for n in 0..16 {
            endpoint_for(&app, &format!("https://merchant.example/{n}"), &["*"]).await;
        }
        let seventeenth = create_endpoint(
            &app,
            json!({ "url": "https://merchant.example/17", "enabled_events": ["*"] }),
        )
        .await;
        assert_eq!(seventeenth.status, StatusCode::BAD_REQUEST, "{}", seventeenth.text);
        assert!(
            seventeenth.json["error"]["description"]
                .as_str()
                .unwrap()
                .contains("at most 16 webhook endpoints"),
            "{}",
            seventeenth.text
        );
        assert_eq!(app.get(ENDPOINTS).await.json["total"], 16);
        // Another merchant's count is its own.
        let other = app.create_merchant("other@example.com").await;
        let theirs = app
            .post_as(
                &other,
                ENDPOINTS,
                json!({ "url": "https://other.example/h", "enabled_events": ["*"] }),
            )
            .await;
        assert_eq!(theirs.status, StatusCode::CREATED);
    }
}

conformance! {
    async fn bad_endpoint_input_is_a_4xx_json_error_never_a_500(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let wrong_scheme = create_endpoint(
            &app,
            json!({ "url": "ftp://a.example", "enabled_events": ["*"] }),
        )
        .await;
        assert_eq!(
            wrong_scheme.json["error"]["description"],
            "url must be an http or https URL"
        );
        for bad in [
            json!({ "url": "https://a.example", "enabled_events": ["payment.nope"] }),
            json!({ "url": "https://a.example", "enabled_events": [] }),
            json!({ "url": "https://a.example", "enabled_events": ["*", "payment.success"] }),
            json!({ "url": "https://a.example", "enabled_events": "payment.success" }),
            json!({ "url": "https://a.example" }),
            json!({ "url": "ftp://a.example", "enabled_events": ["*"] }),
            json!({ "url": "not a url", "enabled_events": ["*"] }),
            json!({ "url": 5, "enabled_events": ["*"] }),
            json!({ "enabled_events": ["*"] }),
            json!({ "url": "https://a.example", "enabled_events": ["*"], "metadata": [1] }),
            json!({ "url": "https://a.example", "enabled_events": ["*"], "metadata": { "k": "x".repeat(5000) } }),
            json!({ "url": "https://a.example", "enabled_events": ["*"], "description": "d".repeat(501) }),
            json!({ "url": "https://a.example", "enabled_events": ["*"], "secret": "mine" }),
        ] {
            let response = create_endpoint(&app, bad.clone()).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}: {}", response.text);
            assert!(response.json["error"]["code"].is_string(), "{}", response.text);
        }
        let raw = app
            .send(
                Method::POST,
                ENDPOINTS,
                Some(&Credentials::test_merchant()),
                &[],
                b"{not json".to_vec(),
            )
            .await;
        assert_eq!(raw.status, StatusCode::BAD_REQUEST);

        let endpoint = endpoint_for(&app, "https://a.example/h", &["*"]).await;
        let path = format!("{ENDPOINTS}/{}", endpoint["id"].as_str().unwrap());
        for bad in [
            json!({ "status": "paused" }),
            json!({ "enabled_events": ["nope"] }),
            json!({ "url": "gopher://x" }),
            json!({ "metadata": "x" }),
            json!({ "unknown": true }),
        ] {
            let response = patch(&app, &path, bad.clone()).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}: {}", response.text);
        }
        assert_eq!(app.get(&path).await.json["status"], "enabled", "nothing changed");
        for id in ["we_short", "nope", "we_AAAAAAAAAAAAAAAA", "we_%27--AAAAAAAAAAAA"] {
            let response = app.get(&format!("{ENDPOINTS}/{id}")).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{id}");
        }
        for query in ["endpoint_id=nope", "event=payment.nope"] {
            let response = app.get(&format!("/api/v1/webhooks?{query}")).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        }
    }
}

conformance! {
    async fn another_merchants_endpoint_answers_404(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let endpoint = endpoint_for(&app, "https://a.example/h", &["*"]).await;
        let path = format!("{ENDPOINTS}/{}", endpoint["id"].as_str().unwrap());
        let other = app.create_merchant("other@example.com").await;
        assert_eq!(app.get_as(&other, &path).await.status, StatusCode::NOT_FOUND);
        let changed = app
            .send(
                Method::PATCH,
                &path,
                Some(&other),
                &[],
                json!({ "status": "disabled" }).to_string().into_bytes(),
            )
            .await;
        assert_eq!(changed.status, StatusCode::NOT_FOUND);
        assert_eq!(delete(&app, &other, &path).await.status, StatusCode::NOT_FOUND);
        let rotated = app
            .post_as(&other, &format!("{path}/secret/rotate"), json!({}))
            .await;
        assert_eq!(rotated.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get_as(&other, ENDPOINTS).await.json["total"], 0);
        let mine = app.get(&path).await;
        assert_eq!(mine.json["status"], "enabled");
    }
}

conformance! {
    async fn a_rotated_secret_signs_beside_the_old_one_for_24_hours(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver().await;
        let endpoint = endpoint_for(&app, &server.uri(), &["*"]).await;
        let old = endpoint["secret"].as_str().unwrap().to_owned();
        let path = format!("{ENDPOINTS}/{}", endpoint["id"].as_str().unwrap());

        let rotated = app.post(&format!("{path}/secret/rotate"), json!({})).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
        let new = rotated.json["secret"].as_str().unwrap().to_owned();
        assert!(new.starts_with("whsec_"));
        assert_ne!(new, old);
        assert_eq!(rotated.json["id"], endpoint["id"]);
        assert!(rotated.json["previous_secret_expires_at"].is_string());
        assert!(!app.get(&path).await.text.contains(&new), "shown once");

        assert_eq!(app.post("/api/v1/webhooks/test", json!({})).await.status, StatusCode::OK);
        app.run_jobs().await;
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(
            header(request, "webhook-signature"),
            format!(
                "{} {}",
                standard_signature(&new, request),
                standard_signature(&old, request)
            ),
            "both secrets sign, the new one first"
        );
        assert_eq!(
            header(request, "x-webhook-signature"),
            hex::encode(hmac_sha256(new.as_bytes(), &request.body))
        );

        // Once the overlap is over, only the new secret signs.
        app.advance(Duration::from_secs(24 * 60 * 60 + 1));
        assert_eq!(app.post("/api/v1/webhooks/test", json!({})).await.status, StatusCode::OK);
        app.run_jobs().await;
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            header(&requests[1], "webhook-signature"),
            standard_signature(&new, &requests[1])
        );
    }
}

conformance! {
    async fn the_reference_config_acts_on_the_default_endpoint(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let config = app.get("/api/v1/webhooks/config").await;
        assert_eq!(config.json, json!({ "webhook_url": null, "webhook_secret": test_merchant::WEBHOOK_SECRET }));
        assert_eq!(app.get(ENDPOINTS).await.json["total"], 0);

        // The first PUT creates the default endpoint, for every event, with the merchant's secret.
        app.set_webhook_url("https://merchant.example/first").await;
        let list = app.get(ENDPOINTS).await;
        assert_eq!(list.json["total"], 1);
        let default = list.json["data"][0].clone();
        assert_eq!(default["url"], "https://merchant.example/first");
        assert_eq!(default["enabled_events"], json!(["*"]));
        assert_eq!(
            app.get("/api/v1/webhooks/config").await.json,
            json!({ "webhook_url": "https://merchant.example/first", "webhook_secret": test_merchant::WEBHOOK_SECRET })
        );

        // Later endpoints do not change what the config shows; PUT changes the default one.
        app.advance(Duration::from_secs(1));
        endpoint_for(&app, "https://merchant.example/second", &["payment.success"]).await;
        app.set_webhook_url("https://merchant.example/moved").await;
        let shown = app.get(&format!("{ENDPOINTS}/{}", default["id"].as_str().unwrap())).await;
        assert_eq!(shown.json["url"], "https://merchant.example/moved");
        assert_eq!(app.get(ENDPOINTS).await.json["total"], 2);

        // Clearing the URL stops deliveries to it: the default endpoint is disabled, and a
        // later PUT enables the same endpoint again.
        let cleared = app
            .put("/api/v1/webhooks/config", json!({ "webhook_url": null }))
            .await;
        assert_eq!(cleared.status, StatusCode::OK);
        assert_eq!(cleared.json["webhook_url"], Value::Null);
        let shown = app.get(&format!("{ENDPOINTS}/{}", default["id"].as_str().unwrap())).await;
        assert_eq!(shown.json["status"], "disabled");
        app.set_webhook_url("https://merchant.example/back").await;
        let shown = app.get(&format!("{ENDPOINTS}/{}", default["id"].as_str().unwrap())).await;
        assert_eq!(shown.json["status"], "enabled");
        assert_eq!(shown.json["url"], "https://merchant.example/back");

        // Regenerating replaces the default endpoint's secret at once.
        let regenerated = app
            .post("/api/v1/webhooks/secret/regenerate", json!({}))
            .await;
        let secret = regenerated.json["webhook_secret"].as_str().unwrap().to_owned();
        assert_eq!(
            app.get("/api/v1/webhooks/config").await.json["webhook_secret"],
            secret.as_str()
        );
    }
}

conformance! {
    async fn regenerating_the_secret_re_signs_the_default_endpoints_deliveries_only(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let default_server = receiver().await;
        let other_server = receiver().await;
        app.set_webhook_url(&default_server.uri()).await;
        // Created later, so not the default (the oldest; a tie goes to the smaller id).
        app.advance(Duration::from_secs(1));
        let other = endpoint_for(&app, &other_server.uri(), &["*"]).await;
        let regenerated = app
            .post("/api/v1/webhooks/secret/regenerate", json!({}))
            .await;
        let secret = regenerated.json["webhook_secret"].as_str().unwrap().to_owned();
        assert_eq!(app.post("/api/v1/webhooks/test", json!({})).await.status, StatusCode::OK);
        app.run_jobs().await;
        let to_default = default_server.received_requests().await.unwrap();
        assert_eq!(to_default.len(), 1);
        assert_eq!(
            header(&to_default[0], "webhook-signature"),
            standard_signature(&secret, &to_default[0])
        );
        let to_other = other_server.received_requests().await.unwrap();
        assert_eq!(to_other.len(), 1);
        assert_eq!(
            header(&to_other[0], "webhook-signature"),
            standard_signature(other["secret"].as_str().unwrap(), &to_other[0])
        );
    }
}

conformance! {
    async fn events_fan_out_to_each_enabled_endpoint_whose_filter_matches(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let successes = receiver().await;
        let early = receiver().await;
        let off = receiver().await;
        let a = endpoint_for(&app, &successes.uri(), &["payment.success"]).await;
        let b = endpoint_for(&app, &early.uri(), &["payment.created", "payment.pending"]).await;
        let c = endpoint_for(&app, &off.uri(), &["*"]).await;
        let disabled = patch(
            &app,
            &format!("{ENDPOINTS}/{}", c["id"].as_str().unwrap()),
            json!({ "status": "disabled" }),
        )
        .await;
        assert_eq!(disabled.status, StatusCode::OK);

        app.successful_payment(50_000).await;
        app.run_jobs().await;
        assert_eq!(events_received(&successes).await, ["payment.success"]);
        assert_eq!(events_received(&early).await, ["payment.created", "payment.pending"]);
        assert!(events_received(&off).await.is_empty(), "a disabled endpoint gets nothing");

        let deliveries = app.deliveries().await;
        assert_eq!(deliveries.len(), 3);
        for delivery in &deliveries {
            assert_eq!(delivery["status"], "success");
            let expected = if delivery["event"] == "payment.success" { &a["id"] } else { &b["id"] };
            assert_eq!(&delivery["endpoint_id"], expected, "{delivery}");
        }
        let to_b = app
            .get(&format!("/api/v1/webhooks?endpoint_id={}", b["id"].as_str().unwrap()))
            .await;
        assert_eq!(to_b.status, StatusCode::OK);
        assert_eq!(to_b.json["total"], 2);
        let to_c = app
            .get(&format!("/api/v1/webhooks?endpoint_id={}", c["id"].as_str().unwrap()))
            .await;
        assert_eq!(to_c.json["total"], 0);
        let pending = app
            .get(&format!(
                "/api/v1/webhooks?endpoint_id={}&event=payment.pending",
                b["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(pending.json["total"], 1);
        assert_eq!(pending.json["data"][0]["event"], "payment.pending");
        let successes_listed = app.get("/api/v1/webhooks?event=payment.success").await;
        assert_eq!(successes_listed.json["total"], 1);
    }
}

conformance! {
    async fn a_test_webhook_goes_to_every_enabled_endpoint_whatever_its_filter(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let first = receiver().await;
        let second = receiver().await;
        let off = receiver().await;
        endpoint_for(&app, &first.uri(), &["refund.processed"]).await;
        endpoint_for(&app, &second.uri(), &["*"]).await;
        let c = endpoint_for(&app, &off.uri(), &["*"]).await;
        patch(
            &app,
            &format!("{ENDPOINTS}/{}", c["id"].as_str().unwrap()),
            json!({ "status": "disabled" }),
        )
        .await;
        let test = app.post("/api/v1/webhooks/test", json!({})).await;
        assert_eq!(test.status, StatusCode::OK, "{}", test.text);
        app.run_jobs().await;
        assert_eq!(events_received(&first).await, ["webhook.test"]);
        assert_eq!(events_received(&second).await, ["webhook.test"]);
        assert!(events_received(&off).await.is_empty());
        let shown = app
            .get(&format!("/api/v1/webhooks/{}", test.json["id"].as_str().unwrap()))
            .await;
        assert_eq!(shown.status, StatusCode::OK, "the answer names a real delivery");
    }
}

conformance! {
    async fn a_deleted_or_disabled_endpoints_pending_deliveries_are_not_sent(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = receiver().await;
        let endpoint = endpoint_for(&app, &server.uri(), &["*"]).await;
        let path = format!("{ENDPOINTS}/{}", endpoint["id"].as_str().unwrap());
        assert_eq!(app.post("/api/v1/webhooks/test", json!({})).await.status, StatusCode::OK);
        assert_eq!(patch(&app, &path, json!({ "status": "disabled" })).await.status, StatusCode::OK);
        app.run_jobs().await;
        assert!(server.received_requests().await.unwrap().is_empty());
        assert_eq!(app.deliveries().await[0]["status"], "failed");
    }
}

/// Applies the migrations before webhook endpoints existed (0001–0005) to `database`, then
/// stores a merchant with a webhook URL and a delivery, as a database of that time would hold.
async fn database_before_endpoints(database: &TestDatabase) -> gateway_core::ids::MerchantId {
    let backend = match database.backend() {
        tests::Backend::Sqlite => "sqlite",
        tests::Backend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gateway-store/migrations")
        .join(backend);
    let old = std::env::temp_dir().join(format!("gateway-0005-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&old).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "0006" {
            std::fs::copy(entry.path(), old.join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.as_path()).await.unwrap();
    let merchant = gateway_core::ids::MerchantId::generate();
    let rows = [
        format!(
            "INSERT INTO merchants (id, email, business_name, api_key, api_secret_hash, webhook_url, webhook_secret, created_at, updated_at)
             VALUES ('{merchant}', 'old@example.com', 'Old', 'key_old', X'00', 'https://old.example/hook', 'whsec_old_secret', 1, 1)"
        ),
        format!(
            "INSERT INTO merchants (id, email, business_name, api_key, api_secret_hash, webhook_url, webhook_secret, created_at, updated_at)
             VALUES ('{}', 'nourl@example.com', 'No URL', 'key_nourl', X'00', NULL, 'whsec_x', 1, 1)",
            uuid::Uuid::new_v4()
        ),
        format!(
            "INSERT INTO webhook_deliveries (id, merchant_id, event, payload, status, attempts, created_at, updated_at)
             VALUES ('{}', '{merchant}', 'payment.success', '{{}}', 'success', 1, 1, 1)",
            uuid::Uuid::new_v4()
        ),
    ];
    match database.backend() {
        tests::Backend::Sqlite => {
            let options = database
                .url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run(&pool).await.unwrap();
            for row in &rows {
                sqlx::query(sqlx::AssertSqlSafe(row.clone()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        tests::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            for row in &rows {
                let row = row.replace("X'00'", "'\\x00'::bytea");
                sqlx::query(sqlx::AssertSqlSafe(row))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }
    std::fs::remove_dir_all(&old).unwrap();
    merchant
}

conformance! {
    async fn the_migration_moves_a_merchants_url_and_secret_into_a_default_endpoint(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let merchant = database_before_endpoints(&database).await;
        let store = gateway_store::open(&database.url).await.unwrap();

        let config = store.webhook_config(merchant).await.unwrap();
        assert_eq!(config.webhook_url.as_deref(), Some("https://old.example/hook"));
        assert_eq!(config.webhook_secret, "whsec_old_secret");
        let endpoints = store
            .list_endpoints(merchant, PageRequest::default())
            .await
            .unwrap();
        assert_eq!(endpoints.total, 1);
        let endpoint = &endpoints.data[0];
        assert_eq!(endpoint.url, "https://old.example/hook");
        assert_eq!(endpoint.enabled_events.names(), ["*"]);
        let random = endpoint.id.as_str().strip_prefix("we_").unwrap();
        assert_eq!(random.len(), 16);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));

        let deliveries = store
            .list_deliveries(merchant, PageRequest::default())
            .await
            .unwrap();
        assert_eq!(deliveries.data[0].endpoint_id.as_ref(), Some(&endpoint.id));
        let target = store
            .delivery_target(deliveries.data[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(target.url.as_deref(), Some("https://old.example/hook"));
        assert_eq!(target.secrets.current, "whsec_old_secret");

        let merchants = store.list_merchants().await.unwrap();
        let without = merchants.iter().find(|m| m.email == "nourl@example.com").unwrap();
        assert_eq!(
            store.list_endpoints(without.id, PageRequest::default()).await.unwrap().total,
            0
        );
        assert_eq!(store.webhook_config(without.id).await.unwrap().webhook_secret, "whsec_x");
    }
}
