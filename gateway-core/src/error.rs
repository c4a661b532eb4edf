//! Domain errors.
//!
//! Policy: every failure a client can cause is a precise variant here with a message fit to show
//! the client; hosts map variants to their protocol (HTTP status codes live in `gateway-http`).
//! Storage trouble arrives as `Unavailable` (retry later) or `Internal` (a bug or corruption),
//! whose details go to the log, not to the client.

use crate::store::StoreError;

/// A stable machine-readable code for a rejected request.
///
/// ```
/// use gateway_core::instrument::validate_vpa;
/// use gateway_core::ErrorCode;
///
/// let error = validate_vpa("not-a-vpa").unwrap_err();
/// assert_eq!(error.code(), Some(ErrorCode::InvalidVpa));
/// assert_eq!(ErrorCode::InvalidVpa.as_str(), "INVALID_VPA");
/// ```
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

/// A money rule's refusal: the one place each rule's client-facing text is written. Decision
/// functions in the domain modules return these; stores pass them on unchanged.
///
/// ```
/// use gateway_core::{GatewayError, Refusal};
///
/// let refusal = Refusal::RefundExceedsAvailable { available: 20_000 };
/// assert_eq!(refusal.to_string(), "Refund amount exceeds available amount (available: 20000)");
/// // Only a refusal about something in progress is worth asking again.
/// assert!(!refusal.is_transient());
/// assert!(Refusal::DeliveryInFlight.is_transient());
/// // The gateway returns it as `GatewayError::Refused`.
/// assert!(matches!(GatewayError::from(refusal), GatewayError::Refused(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The order has a successful payment.
    #[error("Order has already been paid")]
    OrderAlreadyPaid,
    /// The order has a payment that is pending or succeeded.
    #[error("Order already has a payment in progress")]
    PaymentInProgress,
    /// The payment is pending, failed or already captured.
    #[error("Payment not in capturable state")]
    NotCapturable,
    /// The payment has a refund that is not `failed`: its money is (being) returned.
    #[error("Payment has been refunded and cannot be captured")]
    CaptureAfterRefund,
    /// A capture for less or more than the payment.
    #[error("Capture amount must equal the payment amount")]
    CaptureAmountMismatch,
    /// Only a successful payment can be refunded.
    #[error("Payment not in refundable state")]
    NotRefundable,
    /// The refund would take the payment's non-failed refunds above its amount.
    #[error("Refund amount exceeds available amount (available: {available})")]
    RefundExceedsAvailable {
        /// What can still be refunded.
        available: i64,
    },
    /// A payment or refund leaves `pending` once.
    #[error("{0} has already been settled")]
    AlreadySettled(&'static str),
    /// Webhooks need the merchant's URL.
    #[error("Webhook URL is not configured")]
    WebhookUrlMissing,
    /// The merchant has as many webhook endpoints as allowed.
    #[error("A merchant can have at most {max} webhook endpoints; delete one to add another")]
    TooManyEndpoints {
        /// The limit.
        max: i64,
    },
    /// A manual retry while an attempt of the delivery is running.
    #[error("An attempt of this delivery is in progress; retry shortly")]
    DeliveryInFlight,
    /// Recovering deliveries to an endpoint that would not be sent them.
    #[error(
        "The webhook endpoint is disabled; enable it (PATCH status \"enabled\") before recovering its deliveries"
    )]
    EndpointDisabled,
    /// Resending an event to an endpoint that would not be sent it.
    #[error(
        "The webhook endpoint is disabled; enable it (PATCH status \"enabled\") before resending events to it"
    )]
    ResendToDisabledEndpoint,
    /// Resending an event that no enabled endpoint subscribes to.
    #[error(
        "No enabled webhook endpoint receives {event_type} events; name one with endpoint_id or add one"
    )]
    NoEndpointForEvent {
        /// The event's type.
        event_type: &'static str,
    },
}

impl Refusal {
    /// Whether asking again later may succeed (the refusal is about something in progress).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::DeliveryInFlight)
    }
}

/// Why a gateway operation did not happen.
///
/// A host maps each variant to its protocol; this is the mapping `gateway-http` uses (its
/// `ApiError`), with the message shown to the client and the details of `Internal` kept for
/// the log:
///
/// ```
/// use gateway_core::{GatewayError, Refusal};
///
/// fn http_status(error: &GatewayError) -> u16 {
///     match error {
///         GatewayError::Invalid { .. } => 400,
///         GatewayError::Refused(refusal) if refusal.is_transient() => 409,
///         GatewayError::Refused(_) => 400,
///         GatewayError::NotFound(_) => 404,
///         GatewayError::Authentication => 401,
///         GatewayError::IdempotencyMismatch => 422,
///         GatewayError::Conflict(_) => 409,
///         GatewayError::Unavailable => 503,
///         _ => 500, // `Internal`, and variants added later
///     }
/// }
///
/// let invalid = GatewayError::bad_request("amount must be at least 100");
/// assert_eq!(http_status(&invalid), 400);
/// assert_eq!(invalid.to_string(), "amount must be at least 100");
/// assert_eq!(invalid.code().map(|c| c.as_str()), Some("BAD_REQUEST_ERROR"));
/// assert_eq!(http_status(&GatewayError::NotFound("Order")), 404);
/// assert_eq!(http_status(&Refusal::DeliveryInFlight.into()), 409);
/// let internal = GatewayError::Internal("disk I/O error".into());
/// assert_eq!((http_status(&internal), internal.to_string().as_str()), (500, "internal error"));
/// ```
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
    /// A money rule refused the operation; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
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

    /// The validation code, for `Invalid` errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Invalid { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<crate::processor::ProcessorError> for GatewayError {
    fn from(e: crate::processor::ProcessorError) -> Self {
        tracing::warn!(error = %e, "processor unavailable");
        Self::Unavailable
    }
}

impl From<crate::signer::SignerError> for GatewayError {
    fn from(e: crate::signer::SignerError) -> Self {
        tracing::warn!(error = %e, "signer unavailable");
        Self::Unavailable
    }
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Refused(refusal) => Self::Refused(refusal),
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
