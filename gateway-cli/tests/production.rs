//! No test doors in production, tried as a careless operator and an attacker would: the public
//! test login never works on a production database, development commands cannot touch one, a
//! mistyped SQLite path is not silently created, and test settings refuse to start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{BIN, authed, client, serve};

const SALT: &str = "a-production-salt-0123456789";

/// The environment of a production process on the SQLite file `db`.
fn production(db: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", format!("sqlite://{}", db.display())),
        ("GATEWAY_ENV", "production".into()),
        ("API_SECRET_SALT", SALT.into()),
        ("PROCESSOR", "simulated".into()),
    ]
}

/// Runs `gateway <args>` with exactly `env` (plus the inherited environment minus the
/// gateway's own variables).
fn gateway(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env("RUST_LOG", "warn");
    for var in [
        "GATEWAY_ENV",
        "TEST_MODE",
        "PROCESSOR",
        "API_SECRET_SALT",
        "DATABASE_URL",
    ] {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Deletes the recorded environment, as in a database from before environments were recorded.
async fn forget_environment(url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("DELETE FROM gateway_meta WHERE key = 'environment'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The status of `GET /api/v1/orders` with the reference's public test credentials.
async fn public_test_login(base: &str) -> u16 {
    authed(
        &client(),
        reqwest::Method::GET,
        format!("{base}/api/v1/orders"),
    )
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_development_command_never_touches_a_production_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let env = production(&db);
    let migrated = gateway(&["migrate"], &env);
    assert!(migrated.status.success(), "{}", stderr(&migrated));

    // The careless operator: the production salt, but no GATEWAY_ENV.
    let careless = gateway(
        &["merchants", "list"],
        &[
            ("DATABASE_URL", format!("sqlite://{}", db.display())),
            ("API_SECRET_SALT", SALT.into()),
        ],
    );
    assert!(
        !careless.status.success(),
        "a development command opened a production database"
    );
    assert!(
        stderr(&careless).contains("production database"),
        "{}",
        stderr(&careless)
    );

    let server = serve(&[], &env).await;
    let base = server.base.as_deref().unwrap();
    assert_eq!(public_test_login(base).await, 401);
    let health = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["processor"], "simulated", "{health}");
    assert_eq!(health["status"], "healthy", "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_to_run_while_the_public_test_login_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("legacy.db");
    let url = format!("sqlite://{}", db.display());
    // A database from before environments were recorded, seeded with the test merchant under
    // the production salt (what a development `serve` with that salt used to do).
    let seeded = gateway(
        &["migrate"],
        &[
            ("DATABASE_URL", url.clone()),
            ("API_SECRET_SALT", SALT.into()),
        ],
    );
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    forget_environment(&url).await;

    let env = production(&db);
    let refused = gateway(&["worker"], &env);
    assert!(
        !refused.status.success(),
        "production ran with the public test login"
    );
    let message = stderr(&refused);
    assert!(
        message.contains("key_test_abc123") && message.contains("merchants rotate"),
        "{message}"
    );

    let rotated = gateway(&["merchants", "rotate", "test@example.com"], &env);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let server = serve(&[], &env).await;
    assert_eq!(
        public_test_login(server.base.as_deref().unwrap()).await,
        401
    );
}

#[tokio::test]
async fn production_refuses_test_mode_and_an_implicit_simulated_bank() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let mut env = production(&db);
    env.push(("TEST_MODE", "true".into()));
    let test_mode = gateway(&["migrate"], &env);
    assert!(!test_mode.status.success());
    assert!(
        stderr(&test_mode).contains("TEST_MODE"),
        "{}",
        stderr(&test_mode)
    );

    let implicit: Vec<_> = production(&db)
        .into_iter()
        .filter(|(key, _)| *key != "PROCESSOR")
        .collect();
    let no_processor = gateway(&["migrate"], &implicit);
    assert!(!no_processor.status.success());
    assert!(
        stderr(&no_processor).contains("PROCESSOR"),
        "{}",
        stderr(&no_processor)
    );
    assert!(!db.exists(), "nothing was created by refused commands");
}

#[tokio::test]
async fn production_never_creates_a_missing_sqlite_file_but_migrate_does() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("gatewya.db");
    let env = production(&typo);
    let listed = gateway(&["merchants", "list"], &env);
    assert!(
        !listed.status.success(),
        "a mistyped path opened as an empty database"
    );
    assert!(
        stderr(&listed).contains("does not exist"),
        "{}",
        stderr(&listed)
    );
    assert!(!typo.exists());

    let migrated = gateway(&["migrate"], &env);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(typo.exists());
    assert!(gateway(&["merchants", "list"], &env).status.success());
}
