//! No answer and no log line repeats card data or a secret, whatever JSON type it was sent as.
//!
//! A property test: every card field, nested (`card.number`, …) and flat (`card_number`, …), and
//! the `X-Api-Secret` header get random values of every JSON type, most of them holding runs of
//! six or more digits, on both payment-creating routes. No such run may come back in a response
//! body or show up in the log, captured for the test by a tracing subscriber writing to memory
//! in both of the binary's formats (pretty, and JSON with every span's fields), including the
//! lines of the jobs the requests caused.
//! The runner is seeded, so a run is repeatable; `PROPTEST_CASES` raises the number of cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use tests::{Backend, Credentials, TestApp, TestOptions};

/// Cases per backend unless `PROPTEST_CASES` asks for more.
const DEFAULT_CASES: u32 = 48;

/// A test card that passes every check: it must never be echoed either.
const NUMBER: &str = "4111111111111111";

/// The routes that take a card.
const ROUTES: [&str; 2] = ["/api/v1/payments", "/api/v1/checkout/payments"];

/// How the card is laid out in the body.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `"card": {"number": …, "cvv": …, "expiry_month": …, "expiry_year": …, "holder_name": …}`.
    Nested,
    /// The reference's `card_number`, `card_expiry`, `card_cvv`, `card_holder_name`.
    Flat,
    /// Both at once.
    Both,
}

/// The nested card's fields with a valid JSON text for each.
const NESTED: [(&str, &str); 5] = [
    ("number", "\"4111111111111111\""),
    ("cvv", "\"123\""),
    ("expiry_month", "12"),
    ("expiry_year", "2030"),
    ("holder_name", "\"A Customer\""),
];

/// The flat fields with a valid JSON text for each.
const FLAT: [(&str, &str); 4] = [
    ("card_number", "\"4111111111111111\""),
    ("card_cvv", "\"123\""),
    ("card_expiry", "\"12/30\""),
    ("card_holder_name", "\"A Customer\""),
];

/// One request: the card's shape, a replacement JSON text (or the valid value) for each nested
/// and each flat field, and a replacement `X-Api-Secret`, if any.
#[derive(Debug, Clone)]
struct Case {
    shape: Shape,
    nested: Vec<Option<String>>,
    flat: Vec<Option<String>>,
    secret: Option<String>,
}

/// JSON text of any type: integers (up to far past `u64`), negative numbers, decimals,
/// exponents (some out of range), digit strings, spaced card numbers, booleans, null, and
/// arrays and objects (with digit keys) of these.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[1-9][0-9]{5,30}",
        "-[1-9][0-9]{5,20}",
        "[1-9][0-9]{5,12}\\.[0-9]{1,6}",
        "[1-9][0-9]{5,9}[eE][+-]?[0-9]{1,3}",
        "\"[0-9]{6,20}\"",
        "\"[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}\"",
        "\"[a-z]{0,3}[0-9]{6,12}[a-z /]{0,3}\"",
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("null".to_owned()),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec(("[0-9]{6,10}", inner), 0..3).prop_map(|entries| {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(key, value)| format!("\"{key}\":{value}"))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }),
        ]
    })
}

fn requests() -> impl Strategy<Value = Case> {
    let field = || prop::option::weighted(0.5, json_text());
    (
        prop_oneof![Just(Shape::Nested), Just(Shape::Flat), Just(Shape::Both)],
        prop::collection::vec(field(), NESTED.len()),
        prop::collection::vec(field(), FLAT.len()),
        prop::option::weighted(0.2, json_text()),
    )
        .prop_map(|(shape, nested, flat, secret)| Case {
            shape,
            nested,
            flat,
            secret,
        })
}

impl Case {
    /// The request body, as JSON text (so that numbers past `u64` go out as written).
    fn body(&self, order: &str) -> String {
        let fields = |spec: &[(&str, &str)], values: &[Option<String>]| -> Vec<String> {
            spec.iter()
                .zip(values)
                .map(|((name, valid), value)| {
                    format!("\"{name}\":{}", value.as_deref().unwrap_or(valid))
                })
                .collect()
        };
        let mut parts = vec![
            format!("\"order_id\":\"{order}\""),
            "\"method\":\"card\"".to_owned(),
        ];
        if matches!(self.shape, Shape::Nested | Shape::Both) {
            parts.push(format!(
                "\"card\":{{{}}}",
                fields(&NESTED, &self.nested).join(",")
            ));
        }
        if matches!(self.shape, Shape::Flat | Shape::Both) {
            parts.extend(fields(&FLAT, &self.flat));
        }
        format!("{{{}}}", parts.join(","))
    }

    /// Every run of six or more digits the request carries, the valid card number included.
    fn digit_runs(&self) -> Vec<String> {
        let mut runs = vec![NUMBER.to_owned()];
        for text in self
            .nested
            .iter()
            .chain(&self.flat)
            .chain([&self.secret])
            .flatten()
        {
            runs.extend(digit_runs(text));
        }
        runs
    }
}

/// The maximal runs of at least six ASCII digits in `text`.
fn digit_runs(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() >= 6)
        .map(str::to_owned)
        .collect()
}

/// Log output kept in memory, shared by every writer the subscriber makes.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything written since the last call, emptying the buffer.
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

impl io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The log in both formats the binary writes (see `gateway-cli/src/logging.rs`): the pretty
/// lines and the JSON lines with the current span and the span list.
struct Captured {
    pretty: CapturedLog,
    json: CapturedLog,
}

impl Captured {
    /// Everything logged since the last call, both formats, with timings dropped.
    fn take(&self) -> String {
        format!(
            "{}\n{}",
            pretty_without_timings(&self.pretty.take()),
            json_without_timings(&self.json.take())
        )
    }
}

/// Every event at every level, in both formats, without timestamps (whose digits could match
/// by chance).
fn capture_the_log() -> (Captured, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::layer::SubscriberExt;

    let captured = Captured {
        pretty: CapturedLog::default(),
        json: CapturedLog::default(),
    };
    let (pretty, json) = (captured.pretty.clone(), captured.json.clone());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(move || pretty.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_ansi(false)
                .without_time()
                .with_writer(move || json.clone()),
        );
    (captured, tracing::subscriber::set_default(subscriber))
}

/// Fields that hold how long something took: an `elapsed=1.234567ms` is not data anyone sent.
const TIMINGS: [&str; 3] = ["elapsed", "elapsed_secs", "latency_ms"];

/// The pretty log with timings dropped.
fn pretty_without_timings(log: &str) -> String {
    log.split_whitespace()
        .filter(|token| !TIMINGS.iter().any(|t| token.starts_with(t)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The JSON log with timings dropped from each line's fields; every line must be JSON.
fn json_without_timings(log: &str) -> String {
    log.lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a JSON log line does not parse ({e}): {line}"));
            if let Some(fields) = value["fields"].as_object_mut() {
                fields.retain(|name, _| !TIMINGS.contains(&name.as_str()));
            }
            value.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn no_answer_or_log_line_repeats_card_data_or_secrets(backend: Backend) {
    let (log, _guard) = capture_the_log();
    // One thread, so every request logs through the subscriber set above.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = TestOptions {
        checkout_requests_per_minute: 1_000_000,
        ..TestOptions::default()
    };
    let app = runtime.block_on(TestApp::with_options_on(backend, options));
    let order = runtime.block_on(app.create_order(5000));
    tracing::info!("the capture works");
    assert_eq!(log.take().matches("the capture works").count(), 2);
    runtime.block_on(app.get("/api/v1/orders"));
    let request = log.take();
    assert!(
        request.contains(r#""name":"request""#) && request.contains("request_id"),
        "the JSON lines carry the request span: {request}"
    );

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let credentials = Credentials::test_merchant();
    let result = runner.run(&requests(), |case| {
        let body = case.body(&order);
        let secret = case.secret.clone().unwrap_or(credentials.secret.clone());
        let runs = case.digit_runs();
        for route in ROUTES {
            let headers = [
                ("x-api-key", credentials.key.as_str()),
                ("x-api-secret", secret.as_str()),
            ];
            let response = runtime.block_on(app.send(
                Method::POST,
                route,
                None,
                &headers,
                body.clone().into_bytes(),
            ));
            prop_assert!(
                !response.status.is_server_error(),
                "{route} {body} -> {}",
                response.text
            );
            for run in &runs {
                prop_assert!(
                    !response.text.contains(run.as_str()),
                    "{route} echoed {run}: {body} -> {}",
                    response.text
                );
            }
            prop_assert!(!response.text.contains(&credentials.secret));
        }
        // The jobs the requests caused log too, in their spans.
        runtime.block_on(app.run_jobs());
        let logged = log.take();
        for run in &runs {
            prop_assert!(
                !logged.contains(run.as_str()),
                "{run} was logged for {body}: {logged}"
            );
        }
        prop_assert!(!logged.contains(&credentials.secret));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

mod no_answer_or_log_line_repeats_card_data_or_secrets {
    use super::*;

    #[test]
    fn sqlite() {
        no_answer_or_log_line_repeats_card_data_or_secrets(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        no_answer_or_log_line_repeats_card_data_or_secrets(Backend::Postgres);
    }
}
