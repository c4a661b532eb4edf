//! The reqwest transport configures TLS for itself and leaves the process-wide rustls provider
//! to the host (a test of its own process: nothing else here installs one).

#![cfg(feature = "http-client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway_core::transport::ReqwestTransport;

#[test]
fn building_the_transport_installs_no_process_wide_tls_provider() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    ReqwestTransport::new(false).expect("the transport builds without a global provider");
    ReqwestTransport::new(true).expect("and again");
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "the host's choice of provider is left alone"
    );
}
