//! Card numbers and CVVs never reach the database file or its WAL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tests::TestApp;

const NUMBER: &str = "4111111111111111";
const SPACED: &str = "4111 1111 1111 1111";
const CVV: &str = "739";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn card_numbers_and_cvvs_never_reach_storage() {
    let app = TestApp::spawn().await;
    let order = app.create_order(5000).await;
    for number in [NUMBER, SPACED] {
        let body = json!({ "order_id": order, "method": "card", "card": { "number": number, "expiry_month": "12", "expiry_year": "2031", "cvv": CVV } });
        let response = app
            .post_idempotent("/api/v1/payments", &format!("card-{}", number.len()), body)
            .await;
        assert_eq!(response.status.as_u16(), 201, "{}", response.text);
    }
    app.run_jobs().await;

    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !contains(&bytes, NUMBER.as_bytes()),
                "card number in {path}"
            );
            assert!(
                !contains(&bytes, SPACED.as_bytes()),
                "spaced card number in {path}"
            );
            assert!(
                !contains(&bytes, format!("\"cvv\":\"{CVV}\"").as_bytes()),
                "CVV in {path}"
            );
            assert!(
                !contains(&bytes, format!("\"{CVV}\"").as_bytes()),
                "CVV in {path}"
            );
            all.extend_from_slice(&bytes);
        }
    }
    assert!(
        contains(&all, br#"visa"#) && contains(&all, b"1111"),
        "the scan sees the payments: network and last4 are stored"
    );
}
