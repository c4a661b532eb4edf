//! Micro-benchmarks of the work on every request or delivery: credential check, id generation,
//! payment JSON encoding, idempotency fingerprinting and webhook signing.
//! Run with `cargo bench -p gateway-core --bench hot_path`.

#![allow(missing_docs, clippy::unwrap_used)]

use divan::{Bencher, black_box};
use gateway_core::clock::Timestamp;
use gateway_core::event::{Event, EventType};
use gateway_core::idempotency::{IdempotencyKey, fingerprint_body};
use gateway_core::ids::{OrderId, PaymentId};
use gateway_core::instrument::StoredInstrument;
use gateway_core::merchant::SecretHasher;
use gateway_core::money::{Amount, Currency};
use gateway_core::payment::Payment;
use gateway_core::{HmacSigner, verify_standard_signature};

fn main() {
    divan::main();
}

fn payment() -> Payment {
    Payment::new_pending(
        gateway_core::merchant::test_merchant::ID,
        OrderId::generate(),
        Amount::new(50_000).unwrap(),
        Currency::INR,
        StoredInstrument::Upi {
            vpa: "user@paytm".into(),
        },
        Timestamp::from_millis(1_705_314_600_000),
    )
}

#[divan::bench]
fn check_api_secret(bencher: Bencher) {
    let hasher = SecretHasher::new("bench-pepper-0123456789");
    let hash = hasher.hash("secret_test_xyz789");
    bencher.bench(|| hasher.verify(black_box("secret_test_xyz789"), black_box(&hash)));
}

#[divan::bench]
fn generate_payment_id() -> PaymentId {
    PaymentId::generate()
}

#[divan::bench]
fn encode_payment_json(bencher: Bencher) {
    let payment = payment();
    bencher.bench(|| serde_json::to_vec(black_box(&payment)).unwrap());
}

#[divan::bench]
fn fingerprint_card_request(bencher: Bencher) {
    let body = serde_json::json!({
        "order_id": "order_NXhj67fGH2jk9mPq", "method": "card",
        "card": { "number": "4111 1111 1111 1111", "expiry_month": 12, "expiry_year": 2030, "cvv": "123", "holder_name": "A Customer" }
    });
    bencher.bench(|| {
        IdempotencyKey::new(
            "unique_request_id_123",
            "POST",
            "/api/v1/payments",
            &fingerprint_body(black_box(&body)),
        )
        .unwrap()
    });
}

#[divan::bench]
fn sign_webhook(bencher: Bencher) {
    let event = Event::payment(
        EventType::PaymentSuccess,
        &payment(),
        Timestamp::from_millis(1_705_314_600_000),
    );
    bencher.bench(|| {
        HmacSigner::headers(
            black_box("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "2b8e…",
            1_705_314_600,
            event.payload.as_bytes(),
        )
    });
}

#[divan::bench]
fn verify_webhook(bencher: Bencher) {
    let event = Event::payment(
        EventType::PaymentSuccess,
        &payment(),
        Timestamp::from_millis(1_705_314_600_000),
    );
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let headers = HmacSigner::headers(secret, "msg", 1_705_314_600, event.payload.as_bytes());
    bencher.bench(|| {
        verify_standard_signature(
            secret,
            "msg",
            1_705_314_600,
            black_box(event.payload.as_bytes()),
            &headers.standard_signature,
            1_705_314_600,
            300,
        )
    });
}
