//! Runs each example program as built and checks that it did what it says: the examples are
//! documentation, and this keeps them true.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Longest any example may run before it counts as hung and is killed.
const DEADLINE: Duration = Duration::from_secs(60);

/// What a finished program left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the binary at `path` with `args` to completion, killing it after [`DEADLINE`].
fn run(path: &str, args: &[&str]) -> Run {
    let mut child = Command::new(path)
        .args(args)
        .env_remove("PORT")
        .env_remove("WEBHOOK_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {path}: {e}"));
    // Drain both pipes while the program runs, so a chatty program never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the example") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{path} still running after {DEADLINE:?}; killed. stderr so far:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    Run {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Asserts a clean exit, showing the program's output if not.
fn assert_success(name: &str, run: &Run) {
    assert!(
        run.status.success(),
        "{name} exited with {}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
}

#[test]
fn embed_core_settles_a_upi_payment_without_an_http_server() {
    let run = run(env!("CARGO_BIN_EXE_embed_core"), &[]);
    assert_success("embed_core", &run);

    let payment: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the payment as JSON ({e}):\n{}", run.stdout));
    assert!(
        payment["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("pay_"))
    );
    assert_eq!(payment["status"], "success");
    assert_eq!(payment["method"], "upi");
    assert_eq!(payment["vpa"], "success@paytm");
    assert_eq!(payment["amount"], 50000);
    assert!(run.stderr.contains("worker stopped"), "{}", run.stderr);
}

#[test]
fn embed_router_serves_the_shop_with_the_gateway_mounted_under_payments() {
    let run = run(env!("CARGO_BIN_EXE_embed_router"), &["--self-test"]);
    assert_success("embed_router", &run);

    assert!(
        run.stdout.starts_with("listening on http://127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("self-test passed"), "{}", run.stderr);
    assert!(run.stderr.ends_with("stopped\n"), "{}", run.stderr);
}

#[test]
fn verify_webhook_accepts_a_signed_delivery_and_rejects_tampered_ones() {
    let run = run(env!("CARGO_BIN_EXE_verify_webhook"), &["--self-test"]);
    assert_success("verify_webhook", &run);

    assert!(
        run.stdout.contains("accepted payment.success"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("rejected: ").count(),
        3,
        "tampered, stale and unsigned deliveries are all refused:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("rejected: X-Webhook-Signature"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("outside the tolerance"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("self-test passed"), "{}", run.stderr);
}

#[test]
fn the_examples_refuse_unknown_arguments() {
    for path in [
        env!("CARGO_BIN_EXE_embed_router"),
        env!("CARGO_BIN_EXE_verify_webhook"),
    ] {
        let run = run(path, &["--no-such-flag"]);
        assert!(!run.status.success(), "{path} accepted --no-such-flag");
        assert!(run.stderr.contains("unknown argument"), "{}", run.stderr);
    }
}
