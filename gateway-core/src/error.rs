//! Domain errors.
//!
//! Policy: every failure a client can cause is a precise variant here with a message fit to show
//! the client; hosts map variants to their protocol (HTTP status codes live in `gateway-http`).
//! Storage trouble arrives as `Unavailable` (retry later) or `Internal` (a bug or corruption),
//! whose details go to the log, not to the client.

use crate::store::StoreError;

/// A stable machine-readable code for a rejected request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed or invalid input.
    BadRequest,
    /// A VPA that is not `name@handle`.
    InvalidVpa,
    /// A card number, CVV or other card field that fails validation.
    InvalidCard,
    /// A card whose expiry has passed or is malformed.
    ExpiredCard,
}

impl ErrorCode {
    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST_ERROR",
            Self::InvalidVpa => "INVALID_VPA",
            Self::InvalidCard => "INVALID_CARD",
            Self::ExpiredCard => "EXPIRED_CARD",
        }
    }
}

/// Why a gateway operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The request is invalid; nothing changed.
    #[error("{message}")]
    Invalid {
        /// Machine code.
        code: ErrorCode,
        /// Human description.
        message: String,
    },
    /// The object is not in a state that allows the operation; nothing changed.
    #[error("{0}")]
    InvalidState(String),
    /// No such object for this merchant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Credentials missing or wrong.
    #[error("Invalid API credentials")]
    Authentication,
    /// The idempotency key was used with a different request.
    #[error("Idempotency key was already used with a different request")]
    IdempotencyMismatch,
    /// The operation conflicts with one in progress; retry later.
    #[error("{0}")]
    Conflict(String),
    /// Storage is unreachable; retry later.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// An unexpected failure (details logged, not shown).
    #[error("internal error")]
    Internal(String),
}

impl GatewayError {
    /// A `BAD_REQUEST_ERROR` with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Invalid {
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }

    /// An invalid request with a specific `code`.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    /// An operation the object's state does not allow.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::InvalidState(message.into())
    }

    /// The validation code, for `Invalid` errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Invalid { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::InvalidState(msg) => Self::InvalidState(msg),
            StoreError::RefundExceedsPayment { available } => Self::bad_request(format!(
                "Refund amount exceeds available amount (available: {available})"
            )),
            StoreError::Conflict(msg) => Self::Conflict(msg),
            StoreError::IdempotencyKeyTaken => Self::Conflict("Idempotency key is in use".into()),
            StoreError::LeaseLost => Self::Conflict("job lease lost".into()),
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "storage unavailable");
                Self::Unavailable
            }
            StoreError::Other(msg) => {
                tracing::error!(error = %msg, "storage error");
                Self::Internal(msg)
            }
        }
    }
}
