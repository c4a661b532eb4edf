//! Card numbers and CVVs, nested or in the flat fields, never reach storage: the SQLite file
//! and its WAL, or a `pg_dump`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use sha2::{Digest, Sha256};
use tests::{TestApp, conformance};

const NUMBER: &str = "4111111111111111";
const SPACED: &str = "4111 1111 1111 1111";
const CVV: &str = "739";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

conformance! {
    async fn card_numbers_and_cvvs_never_reach_storage(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;

        let mut raw_fingerprints = Vec::new();
        for number in [NUMBER, SPACED] {
            let order = app.create_order(5000).await;
            let body = json!({ "order_id": order, "method": "card", "card": { "number": number, "expiry_month": "12", "expiry_year": "2031", "cvv": CVV } });
            // What a naive fingerprint of the whole request would be: brute-forceable into the card.
            let mut hasher = Sha256::new();
            hasher.update(b"POST /api/v1/payments\n");
            hasher.update(serde_json::to_vec(&body).unwrap());
            raw_fingerprints.push(hasher.finalize().to_vec());
            let response = app
                .post_idempotent("/api/v1/payments", &format!("card-{}", number.len()), body)
                .await;
            assert_eq!(response.status.as_u16(), 201, "{}", response.text);
        }
        app.run_jobs().await;

        let stored = app.stored_bytes();
        assert!(!stored.is_empty(), "the scan read the database");
        for fingerprint in &raw_fingerprints {
            assert!(!contains(&stored, fingerprint), "a hash of the raw card request is stored");
            assert!(!contains(&stored, hex::encode(fingerprint).as_bytes()), "a hash of the raw card request is stored");
        }
        assert!(!contains(&stored, NUMBER.as_bytes()), "card number stored");
        assert!(!contains(&stored, SPACED.as_bytes()), "spaced card number stored");
        assert!(!contains(&stored, format!("\"cvv\":\"{CVV}\"").as_bytes()), "CVV stored");
        assert!(!contains(&stored, format!("\"{CVV}\"").as_bytes()), "CVV stored");
        assert!(
            contains(&stored, b"visa") && contains(&stored, b"1111"),
            "the scan sees the payments: network and last4 are stored"
        );
    }
}

conformance! {
    async fn flat_card_numbers_and_cvvs_never_reach_storage(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        // Not a test card: the simulated bank settles it, so its job runs too.
        let number = "5555555555554444";
        let order = app.create_order(5000).await;
        let body = json!({ "order_id": order, "method": "card", "card_number": number, "card_expiry": "12/31", "card_cvv": CVV, "card_holder_name": "A Customer" });
        // What a fingerprint of the flat fields as sent would be: brute-forceable into the card.
        let mut hasher = Sha256::new();
        hasher.update(b"POST /api/v1/payments\n");
        hasher.update(serde_json::to_vec(&body).unwrap());
        let raw_fingerprint = hasher.finalize().to_vec();
        let response = app.post_idempotent("/api/v1/payments", "flat-card", body).await;
        assert_eq!(response.status.as_u16(), 201, "{}", response.text);
        assert_eq!(app.run_jobs().await, 1);

        let stored = app.stored_bytes();
        assert!(!contains(&stored, &raw_fingerprint), "a hash of the raw card request is stored");
        assert!(!contains(&stored, hex::encode(&raw_fingerprint).as_bytes()), "a hash of the raw card request is stored");
        assert!(!contains(&stored, number.as_bytes()), "card number stored");
        assert!(!contains(&stored, format!("\"{CVV}\"").as_bytes()), "CVV stored");
        assert!(!contains(&stored, b"card_cvv") && !contains(&stored, b"card_number"), "flat fields stored");
        assert!(
            contains(&stored, b"mastercard") && contains(&stored, b"4444"),
            "the scan sees the payment: network and last4 are stored"
        );
    }
}
