//! Model-based tests: generated histories of orders, payments (every test instrument),
//! captures, refunds, idempotency-key replays and worker runs, drawn from the model's state
//! ([`generators`]), are applied both to the real service (the router over a real database,
//! through [`TestApp`]) and to a small pure model ([`reference`]); after every step the answer, every object the case made and the events the
//! step emitted must match ([`service`]). A concurrent variant fires captures and refunds at
//! one payment at once and checks the invariants ([`concurrent`]).
//!
//! Each test shares one app per backend across its cases, each case a merchant of its own
//! ([`client`]). CI runs a few cases per backend; `PROPTEST_CASES` raises it, e.g. a long run:
//! `PROPTEST_CASES=10000 cargo test --release -p tests --test model` (about 7 minutes on
//! PostgreSQL and 5 on SQLite for the histories on a quiet 2-core machine). Every failure prints the
//! seed (`PROPTEST_RNG_SEED=<seed>` replays the run exactly) and the shortest failing history
//! proptest found, step by step with the service's answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "model/client.rs"]
mod client;
#[path = "model/concurrent.rs"]
mod concurrent;
#[path = "model/generators.rs"]
mod generators;
#[path = "model/reference.rs"]
mod reference;
#[path = "model/service.rs"]
mod service;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use proptest_state_machine::ReferenceStateMachine;
use tests::{Backend, TestApp, TestOptions};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use reference::{Answer, Command, DECLINED_REASON, Model, PROCESSING_DELAY_MS};
use service::Case;

/// Generated histories per backend in an ordinary `cargo test` run.
const CI_CASES: u32 = 48;
/// Concurrent batches per backend in an ordinary `cargo test` run.
const CI_BATCHES: u32 = 24;
/// The longest generated history (the final settling step comes on top).
const MAX_COMMANDS: usize = 24;

/// The seed of every run that names none: CI runs the same histories every time, and a long
/// run explores others with `PROPTEST_RNG_SEED=<any number>`.
const DEFAULT_SEED: u64 = 20_261_130;

/// The runner's settings: `PROPTEST_CASES` or `ci_cases` cases; the seed from
/// `PROPTEST_RNG_SEED` or [`DEFAULT_SEED`], returned so a failure can name it.
fn config(ci_cases: u32) -> (Config, u64) {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = ci_cases;
    }
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => DEFAULT_SEED,
    };
    config.rng_seed = RngSeed::Fixed(seed);
    config.failure_persistence = None;
    (config, seed)
}

/// Runs `cases` of `strategy` through `test`, panicking with the seed and the minimal failing
/// input if one fails.
fn run<S: Strategy>(
    test: &str,
    backend: Backend,
    ci_cases: u32,
    strategy: &S,
    case: impl Fn(usize, S::Value) -> Result<(), TestCaseError>,
) {
    let (config, seed) = config(ci_cases);
    let cases = config.cases;
    let started = Instant::now();
    let number = AtomicUsize::new(0);
    let result = TestRunner::new(config).run(strategy, |value| {
        case(number.fetch_add(1, Ordering::Relaxed), value)
    });
    eprintln!(
        "{test} on {backend:?}: {cases} cases (seed {seed}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!(
            "{e}\n\nreplay with: PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases} \
             cargo test -p tests --test model {test}"
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A webhook receiver that answers 200 to everything and keeps nothing.
async fn receiver() -> MockServer {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// One app per test, shared by its cases (each case is a merchant of its own), and the
/// receiver its webhooks go to.
async fn shared_app(backend: Backend, options: TestOptions) -> (Arc<TestApp>, MockServer) {
    let app = TestApp::with_options_on(backend, options).await;
    (Arc::new(app), receiver().await)
}

/// One generated history: each command goes to the model and to the service, and after each
/// the service must look as the model says; a last worker run settles everything.
async fn history(
    app: &Arc<TestApp>,
    webhook_url: &str,
    tally: &Mutex<BTreeMap<String, usize>>,
    name: String,
    mut model: Model,
    commands: Vec<Command>,
    seen: Option<Arc<AtomicUsize>>,
) -> Result<(), TestCaseError> {
    let mut case = Case::start(app, name, webhook_url).await;
    let settle = Command::RunWorker {
        advance_ms: PROCESSING_DELAY_MS,
    };
    for (i, command) in commands.iter().chain([&settle]).enumerate() {
        if let Some(seen) = seen.as_ref().filter(|_| i < commands.len()) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        model = model.apply(command);
        if let Ok(mut tally) = tally.lock() {
            *tally.entry(label(&model.answer)).or_default() += 1;
        }
        case.step(command, &model).await.map_err(|e| {
            TestCaseError::fail(format!(
                "step {}: {e}\n\nthe history:\n{}",
                i + 1,
                case.log()
            ))
        })?;
    }
    Ok(())
}

/// An answer's kind, for the tally of what the histories exercised.
fn label(answer: &Answer) -> String {
    match answer {
        Answer::Nothing => "worker ran".into(),
        Answer::Created(object) => format!(
            "created {}",
            format!("{object:?}").split('(').next().unwrap_or("")
        ),
        Answer::Captured(_) => "captured".into(),
        Answer::Replayed(_) => "replayed".into(),
        Answer::Refused(why) => format!("refused: {why:?}"),
    }
}

fn the_service_behaves_as_the_model_says(backend: Backend) {
    let runtime = runtime();
    // Payments and refunds wait for the bank, which declines refunds given DECLINED_REASON.
    let mut options = TestOptions {
        declined_refund_reason: Some(DECLINED_REASON.into()),
        ..TestOptions::default()
    };
    options.simulation.test_delay = Duration::from_millis(PROCESSING_DELAY_MS);
    let (app, receiver) = runtime.block_on(shared_app(backend, options));
    let tally = Mutex::new(BTreeMap::new());
    run(
        "the_service_behaves_as_the_model_says",
        backend,
        CI_CASES,
        &Model::sequential_strategy(1..=MAX_COMMANDS),
        |n, (initial, commands, seen)| {
            runtime.block_on(history(
                &app,
                &receiver.uri(),
                &tally,
                format!("case{n}"),
                initial,
                commands,
                seen,
            ))
        },
    );
    eprintln!(
        "answers the histories expected: {:?}",
        tally.lock().map(|t| t.clone())
    );
}

fn concurrent_captures_and_refunds_keep_the_invariants(backend: Backend) {
    let runtime = runtime();
    let (app, receiver) = runtime.block_on(shared_app(backend, TestOptions::default()));
    run(
        "concurrent_captures_and_refunds_keep_the_invariants",
        backend,
        CI_BATCHES,
        &concurrent::batches(),
        |n, batch| {
            runtime
                .block_on(concurrent::fire(
                    &app,
                    &format!("batch{n}"),
                    &receiver.uri(),
                    &batch,
                ))
                .map_err(TestCaseError::fail)
        },
    );
}

mod the_service_behaves_as_the_model_says {
    use super::*;

    #[test]
    fn sqlite() {
        the_service_behaves_as_the_model_says(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        the_service_behaves_as_the_model_says(Backend::Postgres);
    }
}

mod concurrent_captures_and_refunds_keep_the_invariants {
    use super::*;

    #[test]
    fn sqlite() {
        concurrent_captures_and_refunds_keep_the_invariants(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        concurrent_captures_and_refunds_keep_the_invariants(Backend::Postgres);
    }
}
