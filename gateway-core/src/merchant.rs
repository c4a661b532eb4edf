//! Merchants and their credentials: API key + secret (stored only as a keyed hash) and the
//! webhook signing secret.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::crypto::{hmac_sha256, hmac_sha256_verify, random_alphanumeric, random_base64};
use crate::ids::MerchantId;

/// The reference's test merchant, seeded in development.
pub mod test_merchant {
    /// Its fixed id (the reference's).
    pub const ID: crate::ids::MerchantId =
        crate::ids::MerchantId::from_uuid(uuid::uuid!("550e8400-e29b-41d4-a716-446655440000"));
    /// Its email.
    pub const EMAIL: &str = "test@example.com";
    /// Its display name.
    pub const NAME: &str = "Test Merchant";
    /// Its API key.
    pub const API_KEY: &str = "key_test_abc123";
    /// Its API secret.
    pub const API_SECRET: &str = "secret_test_xyz789";
    /// Its webhook secret.
    pub const WEBHOOK_SECRET: &str = "whsec_test_abc123";
}

/// A merchant as the gateway knows it (without secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Merchant {
    /// UUID.
    pub id: MerchantId,
    /// Unique contact email.
    pub email: String,
    /// Display name.
    pub business_name: String,
    /// Public key id (`X-Api-Key`).
    pub api_key: String,
    /// Where webhooks go, if configured.
    pub webhook_url: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A merchant row to insert: the public fields plus the hashed secret and webhook secret.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    /// The merchant.
    pub merchant: Merchant,
    /// Keyed hash of the API secret (see [`SecretHasher`]).
    pub api_secret_hash: Vec<u8>,
    /// The webhook signing secret.
    pub webhook_secret: String,
}

/// Credentials as issued to a merchant: shown once, at creation.
#[derive(Clone, Serialize)]
pub struct IssuedCredentials {
    /// The merchant's id.
    pub id: MerchantId,
    /// Public key id.
    pub api_key: String,
    /// API secret; not recoverable later.
    pub api_secret: String,
    /// Webhook signing secret.
    pub webhook_secret: String,
}

impl std::fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("id", &self.id)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// What the gateway needs to check a request's credentials.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// Whose key it is.
    pub merchant_id: MerchantId,
    /// Keyed hash of the secret.
    pub api_secret_hash: Vec<u8>,
    /// The merchant's display name (shown on the checkout page).
    pub business_name: String,
}

/// Hashes API secrets with a server-side key (a "pepper"), so a leaked database does not leak
/// usable secrets, and verifies them in constant time.
///
/// ```
/// use gateway_core::merchant::SecretHasher;
///
/// let hasher = SecretHasher::new("a pepper from your configuration");
/// let (secret, hash) = hasher.new_api_secret();
/// assert!(hasher.verify(&secret, &hash));
/// assert!(!hasher.verify("secret_live_guess", &hash));
/// // Another pepper makes every stored hash useless.
/// assert!(!SecretHasher::new("another pepper entirely").verify(&secret, &hash));
/// assert_eq!(format!("{hasher:?}"), "SecretHasher([redacted])");
/// ```
#[derive(Clone)]
pub struct SecretHasher {
    pepper: Vec<u8>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher([redacted])")
    }
}

/// The pepper used in development when `API_SECRET_SALT` is not set. Never use it in production.
pub const DEVELOPMENT_PEPPER: &str = "gateway-development-pepper-do-not-use-in-production";

impl SecretHasher {
    /// A hasher keyed with `pepper` (the `API_SECRET_SALT` setting).
    pub fn new(pepper: impl Into<Vec<u8>>) -> Self {
        Self {
            pepper: pepper.into(),
        }
    }

    /// The keyed hash of `secret`.
    pub fn hash(&self, secret: &str) -> Vec<u8> {
        hmac_sha256(&self.pepper, &[secret.as_bytes()]).to_vec()
    }

    /// Whether `secret` hashes to `hash`, in constant time.
    pub fn verify(&self, secret: &str, hash: &[u8]) -> bool {
        hmac_sha256_verify(&self.pepper, &[secret.as_bytes()], hash)
    }

    /// A fresh API secret and its hash (for rotation).
    pub fn new_api_secret(&self) -> (String, Vec<u8>) {
        let secret = format!("secret_live_{}", random_alphanumeric(32));
        let hash = self.hash(&secret);
        (secret, hash)
    }

    /// Fresh credentials for a new merchant, and the row that stores them.
    ///
    /// The credentials are shown to the merchant once; the row (which holds only the secret's
    /// hash) goes to [`Store::insert_merchant`](crate::Store::insert_merchant):
    ///
    /// ```
    /// use gateway_core::merchant::SecretHasher;
    /// use gateway_core::{Clock, SystemClock};
    ///
    /// let hasher = SecretHasher::new("a pepper from your configuration");
    /// let (row, credentials) = hasher.issue("shop@example.com", "Example Shop", SystemClock.now());
    /// assert_eq!(row.merchant.api_key, credentials.api_key);
    /// assert!(credentials.api_key.starts_with("key_live_"));
    /// assert!(hasher.verify(&credentials.api_secret, &row.api_secret_hash));
    /// assert!(!format!("{credentials:?}").contains(&credentials.api_secret));
    /// ```
    pub fn issue(
        &self,
        email: &str,
        business_name: &str,
        now: Timestamp,
    ) -> (NewMerchant, IssuedCredentials) {
        let (api_secret, api_secret_hash) = self.new_api_secret();
        let issued = IssuedCredentials {
            id: crate::ids::MerchantId::generate(),
            api_key: format!("key_live_{}", random_alphanumeric(16)),
            api_secret,
            webhook_secret: generate_webhook_secret(),
        };
        let row = NewMerchant {
            merchant: Merchant {
                id: issued.id,
                email: email.to_owned(),
                business_name: business_name.to_owned(),
                api_key: issued.api_key.clone(),
                webhook_url: None,
                created_at: now,
            },
            api_secret_hash,
            webhook_secret: issued.webhook_secret.clone(),
        };
        (row, issued)
    }

    /// The reference's test merchant, hashed with this pepper.
    pub fn test_merchant(&self, now: Timestamp) -> NewMerchant {
        NewMerchant {
            merchant: Merchant {
                id: test_merchant::ID,
                email: test_merchant::EMAIL.into(),
                business_name: test_merchant::NAME.into(),
                api_key: test_merchant::API_KEY.into(),
                webhook_url: None,
                created_at: now,
            },
            api_secret_hash: self.hash(test_merchant::API_SECRET),
            webhook_secret: test_merchant::WEBHOOK_SECRET.into(),
        }
    }
}

/// A new webhook secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_webhook_secret() -> String {
    format!("whsec_{}", random_base64(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_secret_verifies() {
        let hasher = SecretHasher::new("pepper");
        let hash = hasher.hash("secret_test_xyz789");
        assert!(hasher.verify("secret_test_xyz789", &hash));
        assert!(!hasher.verify("secret_test_xyz788", &hash));
        assert!(!SecretHasher::new("other pepper").verify("secret_test_xyz789", &hash));
    }

    #[test]
    fn the_stored_hash_is_not_the_secret() {
        let (row, issued) = SecretHasher::new("p").issue("a@b.c", "A", Timestamp::from_millis(0));
        assert!(
            !row.api_secret_hash
                .windows(issued.api_secret.len())
                .any(|w| w == issued.api_secret.as_bytes())
        );
        assert!(issued.api_key.starts_with("key_live_"));
        assert!(!format!("{issued:?}").contains(&issued.api_secret));
    }

    #[test]
    fn webhook_secrets_are_whsec_and_32_random_bytes() {
        use base64::Engine;
        let secret = generate_webhook_secret();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(secret, generate_webhook_secret());
    }
}
