//! Webhook endpoints: where a merchant's events go, each with its own URL, signing secret and
//! event filter (up to [`MAX_ENDPOINTS_PER_MERCHANT`]), and the rules over them: which endpoints
//! an event fans out to, which secrets sign a delivery while a rotation overlaps, and what the
//! reference's single-URL `webhooks/config` shows (the merchant's oldest, "default", endpoint).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{GatewayError, Refusal};
use crate::event::{Event, EventType};
use crate::ids::{DeliveryId, EndpointId, MerchantId};
use crate::webhook::WebhookConfig;

/// The most endpoints a merchant may have (Stripe's limit).
pub const MAX_ENDPOINTS_PER_MERCHANT: i64 = 16;

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest endpoint description accepted, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// The largest `metadata` object accepted, in bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The filter that subscribes an endpoint to every event.
pub const ALL_EVENTS: &str = "*";

/// Whether an endpoint receives new deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EndpointStatus {
    /// Events matching its filter become deliveries to it.
    Enabled,
    /// It gets no new deliveries, and its pending ones are not sent.
    Disabled,
}

impl EndpointStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    /// Parses a stored or requested status.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enabled" => Some(Self::Enabled),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// The events an endpoint subscribes to: `["*"]`, or known event names without repeats.
///
/// ```
/// use gateway_core::endpoint::EnabledEvents;
/// use gateway_core::event::EventType;
///
/// let names = vec!["payment.success".into(), "payment.failed".into(), "payment.success".into()];
/// let events = EnabledEvents::parse(names)?;
/// assert_eq!(events.names(), ["payment.success", "payment.failed"]); // repeats dropped
/// assert!(events.matches(EventType::PaymentFailed));
/// assert!(!events.matches(EventType::RefundProcessed));
/// assert!(EnabledEvents::all().matches(EventType::RefundProcessed));
///
/// assert!(EnabledEvents::parse(vec!["payment.refunded".into()]).is_err()); // unknown
/// assert!(EnabledEvents::parse(vec!["*".into(), "payment.success".into()]).is_err());
/// assert!(EnabledEvents::parse(vec![]).is_err());
/// # Ok::<(), gateway_core::GatewayError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct EnabledEvents(Vec<String>);

impl EnabledEvents {
    /// Every event (`["*"]`).
    pub fn all() -> Self {
        Self(vec![ALL_EVENTS.to_owned()])
    }

    /// Validates a client's list: not empty, `*` only on its own, every name a known event.
    pub fn parse(names: Vec<String>) -> Result<Self, GatewayError> {
        if names.is_empty() {
            return Err(GatewayError::bad_request(
                "enabled_events must list at least one event type, or \"*\"",
            ));
        }
        if names.iter().any(|n| n == ALL_EVENTS) {
            return if names.len() == 1 {
                Ok(Self::all())
            } else {
                Err(GatewayError::bad_request(
                    "enabled_events: \"*\" cannot be combined with other event types",
                ))
            };
        }
        let mut kept: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            if EventType::parse(&name).is_none() {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                return Err(GatewayError::bad_request(format!(
                    "enabled_events: unknown event type (known: {}, or \"*\")",
                    known.join(", ")
                )));
            }
            if !kept.contains(&name) {
                kept.push(name);
            }
        }
        Ok(Self(kept))
    }

    /// Wraps a list read back from storage, trusted to have been validated when written.
    pub fn from_trusted(names: Vec<String>) -> Self {
        Self(names)
    }

    /// The names, as stored and shown.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// Whether an event of `event_type` passes this filter.
    pub fn matches(&self, event_type: EventType) -> bool {
        self.0
            .iter()
            .any(|n| n == ALL_EVENTS || n == event_type.as_str())
    }
}

/// A webhook endpoint as shown (its secrets never are, except once: see [`EndpointWithSecret`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    /// `we_` + 16 alphanumerics.
    pub id: EndpointId,
    /// Whose endpoint; never shown.
    #[serde(skip)]
    pub merchant_id: MerchantId,
    /// Where deliveries go.
    pub url: String,
    /// The merchant's note.
    pub description: Option<String>,
    /// The events it receives.
    pub enabled_events: EnabledEvents,
    /// The merchant's key/value data.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Whether it receives new deliveries.
    pub status: EndpointStatus,
    /// Why the gateway disabled it, if it did (`null` when enabled or disabled by hand).
    pub disabled_reason: Option<String>,
    /// Since when its deliveries have failed without a single success (`null` while its latest
    /// attempt succeeded, or before its first); the endpoint is disabled once this is older than
    /// the gateway's failing period. Kept by the gateway, never set by the merchant.
    pub failing_since: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// An endpoint with its signing secret: the answer to its creation, the one time it is shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of 32 random bytes.
    pub secret: String,
}

/// The answer to an endpoint's secret rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedEndpointSecret {
    /// The endpoint.
    pub id: EndpointId,
    /// The new secret, shown once.
    pub secret: String,
    /// Until when the replaced secret keeps signing beside it.
    pub previous_secret_expires_at: Timestamp,
}

/// `POST /api/v1/webhooks/endpoints`.
///
/// ```
/// # use std::sync::Arc;
/// # use gateway_core::merchant::SecretHasher;
/// # use gateway_core::{Clock, GatewayBuilder, SimulatedBank, SimulationConfig, SystemClock};
/// # use gateway_core::WorkerConfig;
/// # use accept::Accept;
/// # mod accept {
/// #     use gateway_core::transport::{TransportError, WebhookRequest, WebhookResponse};
/// #     pub struct Accept;
/// #     #[async_trait::async_trait]
/// #     impl gateway_core::WebhookTransport for Accept {
/// #         async fn post(&self, _: WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
/// #             Ok(WebhookResponse { status: 200, body: String::new(), retry_after: None })
/// #         }
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
/// # let store = gateway_store::open(&url).await?;
/// # let pepper = "a pepper from your configuration";
/// # let now = SystemClock.now();
/// # let (row, credentials) = SecretHasher::new(pepper).issue("shop@example.com", "Shop", now);
/// # store.insert_merchant(&row).await?;
/// # let config = SimulationConfig { test_mode: true, test_delay: std::time::Duration::ZERO, ..SimulationConfig::default() };
/// # let built = GatewayBuilder::new(store)
/// #     .pepper(pepper)
/// #     .processor(Arc::new(SimulatedBank::new(config)))
/// #     .transport(Arc::new(Accept))
/// #     .build()?;
/// # let gateway = built.gateway();
/// # let worker = Arc::new(built.worker(WorkerConfig::default()));
/// # let merchant = gateway.authenticate(&credentials.api_key, &credentials.api_secret).await?;
/// use gateway_core::endpoint::{CreateEndpoint, EndpointStatus};
///
/// let request: CreateEndpoint = serde_json::from_value(serde_json::json!({
///     "url": "https://shop.example/webhooks",
///     "enabled_events": ["payment.success", "payment.failed"],
/// }))?;
/// let created = gateway.create_endpoint(merchant, request).await?;
/// assert!(created.secret.starts_with("whsec_")); // shown this once
/// assert_eq!(created.endpoint.status, EndpointStatus::Enabled);
/// assert_eq!(created.endpoint.enabled_events.names(), ["payment.success", "payment.failed"]);
///
/// let bad: CreateEndpoint = serde_json::from_value(serde_json::json!({
///     "url": "ftp://shop.example/webhooks",
///     "enabled_events": ["*"],
/// }))?;
/// assert!(gateway.create_endpoint(merchant, bad).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// An http(s) URL.
    pub url: String,
    /// A note for the merchant.
    #[serde(default)]
    pub description: Option<String>,
    /// Event types to receive, or `["*"]` for all.
    pub enabled_events: Vec<String>,
    /// Key/value data kept with the endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

/// `PATCH /api/v1/webhooks/endpoints/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// A new http(s) URL.
    #[serde(default)]
    pub url: Option<String>,
    /// A new note; `""` clears it.
    #[serde(default)]
    pub description: Option<String>,
    /// New event types, or `["*"]`.
    #[serde(default)]
    pub enabled_events: Option<Vec<String>>,
    /// New key/value data (replaces the old).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A validated change to an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// A new filter.
    pub enabled_events: Option<EnabledEvents>,
    /// New metadata.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// A new status.
    pub status: Option<EndpointStatus>,
}

impl EndpointPatch {
    /// Validates a PATCH body; `validate_url` checks a new URL with the webhook URL rules.
    pub fn parse(
        request: UpdateEndpoint,
        validate_url: impl Fn(&str) -> Result<(), GatewayError>,
    ) -> Result<Self, GatewayError> {
        if let Some(url) = &request.url {
            validate_url(url)?;
        }
        let status = match request.status.as_deref() {
            None => None,
            Some(s) => Some(EndpointStatus::parse(s).ok_or_else(|| {
                GatewayError::bad_request("status must be \"enabled\" or \"disabled\"")
            })?),
        };
        Ok(Self {
            url: request.url,
            description: request
                .description
                .map(|d| description(Some(d)))
                .transpose()?,
            enabled_events: request
                .enabled_events
                .map(EnabledEvents::parse)
                .transpose()?,
            metadata: request.metadata.map(|m| metadata(Some(m))).transpose()?,
            status,
        })
    }

    /// Whether the change starts the endpoint's health afresh: enabling it clears its
    /// `failing_since` (see [`crate::endpoint_health`]), so a re-enabled endpoint is judged on
    /// its attempts from then on, not disabled again by its first failure.
    pub fn resets_health(&self) -> bool {
        self.status == Some(EndpointStatus::Enabled)
    }

    /// Applies the change to `endpoint` at `now`. Enabling clears `disabled_reason` and
    /// `failing_since`.
    pub fn apply(&self, endpoint: &mut WebhookEndpoint, now: Timestamp) {
        if let Some(url) = &self.url {
            endpoint.url.clone_from(url);
        }
        if let Some(description) = &self.description {
            endpoint.description.clone_from(description);
        }
        if let Some(events) = &self.enabled_events {
            endpoint.enabled_events = events.clone();
        }
        if let Some(metadata) = &self.metadata {
            endpoint.metadata.clone_from(metadata);
        }
        if let Some(status) = self.status {
            if status == EndpointStatus::Enabled {
                endpoint.disabled_reason = None;
            }
            endpoint.status = status;
        }
        if self.resets_health() {
            endpoint.failing_since = None;
        }
        endpoint.updated_at = now;
    }
}

impl WebhookEndpoint {
    /// A new enabled endpoint from a validated creation request (`validate_url` applies the
    /// webhook URL rules).
    pub fn create(
        merchant_id: MerchantId,
        request: CreateEndpoint,
        validate_url: impl Fn(&str) -> Result<(), GatewayError>,
        now: Timestamp,
    ) -> Result<Self, GatewayError> {
        validate_url(&request.url)?;
        Ok(Self {
            id: EndpointId::generate(),
            merchant_id,
            url: request.url,
            description: description(request.description)?,
            enabled_events: EnabledEvents::parse(request.enabled_events)?,
            metadata: metadata(request.metadata)?,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        })
    }
}

/// An empty description is none; a long one is refused.
fn description(value: Option<String>) -> Result<Option<String>, GatewayError> {
    match value {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => Err(GatewayError::bad_request(
            format!("description must be at most {MAX_DESCRIPTION_LEN} characters"),
        )),
        Some(d) if d.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Metadata must be a JSON object of bounded size; absent or `null` is `{}`.
fn metadata(
    value: Option<serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, GatewayError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(serde_json::Map::new()),
        Some(serde_json::Value::Object(map)) => {
            let size = serde_json::to_string(&map).map_or(usize::MAX, |s| s.len());
            if size > MAX_METADATA_BYTES {
                Err(GatewayError::bad_request(format!(
                    "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"
                )))
            } else {
                Ok(map)
            }
        }
        Some(_) => Err(GatewayError::bad_request("metadata must be a JSON object")),
    }
}

/// Decides whether a merchant that has `existing` endpoints may add one.
pub fn admit_new_endpoint(existing: i64) -> Result<(), Refusal> {
    if existing >= MAX_ENDPOINTS_PER_MERCHANT {
        Err(Refusal::TooManyEndpoints {
            max: MAX_ENDPOINTS_PER_MERCHANT,
        })
    } else {
        Ok(())
    }
}

/// What fan-out needs to know of an endpoint, as the store read it in the event's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Disabled endpoints get nothing.
    pub status: EndpointStatus,
    /// Which events it receives.
    pub enabled_events: EnabledEvents,
}

/// One delivery core decided to create: an event bound for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDelivery<'e> {
    /// The delivery's id (also its `webhook-id`).
    pub delivery_id: DeliveryId,
    /// Where it goes.
    pub endpoint_id: EndpointId,
    /// What it carries.
    pub event: &'e Event,
}

/// Decides the deliveries `events` become: one per enabled endpoint whose filter matches, in
/// the order of `endpoints`. The first delivery of an event takes the event's `delivery_id`.
pub fn fan_out<'e>(events: &'e [Event], endpoints: &[Subscription]) -> Vec<PlannedDelivery<'e>> {
    let mut planned = Vec::new();
    for event in events {
        let matching = endpoints.iter().filter(|e| {
            e.status == EndpointStatus::Enabled && e.enabled_events.matches(event.event_type)
        });
        push_planned(&mut planned, event, matching);
    }
    planned
}

/// Decides where a test event goes: to every enabled endpoint, whatever its filter;
/// `WebhookUrlMissing` when there is none.
pub fn fan_out_test<'e>(
    event: &'e Event,
    endpoints: &[Subscription],
) -> Result<Vec<PlannedDelivery<'e>>, Refusal> {
    let mut planned = Vec::new();
    let enabled = endpoints
        .iter()
        .filter(|e| e.status == EndpointStatus::Enabled);
    push_planned(&mut planned, event, enabled);
    if planned.is_empty() {
        Err(Refusal::WebhookUrlMissing)
    } else {
        Ok(planned)
    }
}

fn push_planned<'e, 's>(
    planned: &mut Vec<PlannedDelivery<'e>>,
    event: &'e Event,
    endpoints: impl Iterator<Item = &'s Subscription>,
) {
    for (n, endpoint) in endpoints.enumerate() {
        planned.push(PlannedDelivery {
            delivery_id: if n == 0 {
                event.delivery_id
            } else {
                DeliveryId::generate()
            },
            endpoint_id: endpoint.endpoint_id.clone(),
            event,
        });
    }
}

/// An endpoint's signing secrets as stored: the current one and, after a rotation, the one it
/// replaced with the time that one stops signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecrets {
    /// Signs every delivery.
    pub current: String,
    /// The replaced secret and until when it also signs.
    pub previous: Option<(String, Timestamp)>,
}

impl StoredSecrets {
    /// The secrets that sign a delivery attempted at `now`, newest first: the current one, and
    /// the previous one while its overlap lasts.
    pub fn signing_at(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.current.as_str()];
        if let Some((previous, until)) = &self.previous
            && now < *until
        {
            secrets.push(previous.as_str());
        }
        secrets
    }
}

/// Where a delivery goes now: its endpoint's URL while the endpoint is enabled, nowhere
/// otherwise (a disabled or deleted endpoint's pending deliveries are not sent).
pub fn target_url(status: Option<EndpointStatus>, url: Option<String>) -> Option<String> {
    match status {
        Some(EndpointStatus::Enabled) => url,
        _ => None,
    }
}

/// The merchant's default endpoint as `webhooks/config` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultEndpoint {
    /// Its URL.
    pub url: String,
    /// Its status.
    pub status: EndpointStatus,
    /// Its current secret.
    pub secret: String,
}

/// What `GET /api/v1/webhooks/config` shows: the default endpoint's URL while it is enabled
/// (`null` otherwise) and its secret, or the merchant's own secret before it has an endpoint.
pub fn legacy_config(default: Option<DefaultEndpoint>, merchant_secret: String) -> WebhookConfig {
    match default {
        Some(d) => WebhookConfig {
            webhook_url: (d.status == EndpointStatus::Enabled).then_some(d.url),
            webhook_secret: d.secret,
        },
        None => WebhookConfig {
            webhook_url: None,
            webhook_secret: merchant_secret,
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A subscription of a fresh endpoint to `events`, for tests of fan-out rules.
    pub(crate) fn sub(events: &[&str], status: EndpointStatus) -> Subscription {
        Subscription {
            endpoint_id: EndpointId::generate(),
            status,
            enabled_events: EnabledEvents::parse(events.iter().map(|s| (*s).to_owned()).collect())
                .unwrap(),
        }
    }

    #[test]
    fn an_event_fans_out_to_each_enabled_endpoint_whose_filter_matches() {
        let now = Timestamp::from_millis(1_000);
        let merchant = crate::merchant::test_merchant::ID;
        let events = [Event::test(merchant, now), Event::test(merchant, now)];
        let all = sub(&["*"], EndpointStatus::Enabled);
        let tests_only = sub(&["webhook.test"], EndpointStatus::Enabled);
        let payments = sub(&["payment.success"], EndpointStatus::Enabled);
        let off = sub(&["*"], EndpointStatus::Disabled);
        let planned = fan_out(&events, &[all.clone(), tests_only.clone(), payments, off]);
        let targets: Vec<_> = planned.iter().map(|p| &p.endpoint_id).collect();
        assert_eq!(
            targets,
            vec![
                &all.endpoint_id,
                &tests_only.endpoint_id,
                &all.endpoint_id,
                &tests_only.endpoint_id
            ]
        );
        assert_eq!(planned[0].delivery_id, events[0].delivery_id);
        assert_ne!(planned[1].delivery_id, events[0].delivery_id);
        assert_eq!(planned[2].delivery_id, events[1].delivery_id);
    }

    #[test]
    fn a_test_event_goes_to_every_enabled_endpoint_or_is_refused_without_one() {
        let event = Event::test(
            crate::merchant::test_merchant::ID,
            Timestamp::from_millis(0),
        );
        let planned = fan_out_test(
            &event,
            &[sub(&["refund.processed"], EndpointStatus::Enabled)],
        );
        assert_eq!(planned.map(|p| p.len()), Ok(1));
        assert_eq!(
            fan_out_test(&event, &[sub(&["*"], EndpointStatus::Disabled)]),
            Err(Refusal::WebhookUrlMissing)
        );
    }

    #[test]
    fn filters_refuse_unknown_events_empty_lists_and_star_with_others() {
        assert!(EnabledEvents::parse(vec!["payment.nope".into()]).is_err());
        assert!(EnabledEvents::parse(vec![]).is_err());
        assert!(EnabledEvents::parse(vec!["*".into(), "payment.success".into()]).is_err());
        let deduped =
            EnabledEvents::parse(vec!["payment.success".into(), "payment.success".into()]).unwrap();
        assert_eq!(deduped.names(), ["payment.success"]);
    }

    #[test]
    fn a_rotated_out_secret_signs_until_its_overlap_ends() {
        let secrets = StoredSecrets {
            current: "new".into(),
            previous: Some(("old".into(), Timestamp::from_millis(10))),
        };
        assert_eq!(
            secrets.signing_at(Timestamp::from_millis(9)),
            ["new", "old"]
        );
        assert_eq!(secrets.signing_at(Timestamp::from_millis(10)), ["new"]);
    }

    #[test]
    fn the_sixteenth_endpoint_is_the_last() {
        assert!(admit_new_endpoint(15).is_ok());
        assert!(admit_new_endpoint(16).is_err());
    }

    #[test]
    fn the_config_shows_the_default_endpoints_url_only_while_it_is_enabled() {
        let default = |status| DefaultEndpoint {
            url: "https://m.example/h".into(),
            status,
            secret: "whsec_endpoint".into(),
        };
        let enabled = legacy_config(Some(default(EndpointStatus::Enabled)), "whsec_m".into());
        assert_eq!(enabled.webhook_url.as_deref(), Some("https://m.example/h"));
        assert_eq!(enabled.webhook_secret, "whsec_endpoint");
        let disabled = legacy_config(Some(default(EndpointStatus::Disabled)), "whsec_m".into());
        assert_eq!(disabled.webhook_url, None);
        assert_eq!(disabled.webhook_secret, "whsec_endpoint");
        let none = legacy_config(None, "whsec_m".into());
        assert_eq!(
            (none.webhook_url, none.webhook_secret.as_str()),
            (None, "whsec_m")
        );
        assert_eq!(
            target_url(Some(EndpointStatus::Disabled), Some("u".into())),
            None
        );
        assert_eq!(target_url(None, None), None);
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_enabling_clears_the_reason() {
        let now = Timestamp::from_millis(5);
        let request = CreateEndpoint {
            url: "https://m.example/h".into(),
            description: Some("keep".into()),
            enabled_events: vec!["*".into()],
            metadata: None,
        };
        let mut endpoint =
            WebhookEndpoint::create(crate::merchant::test_merchant::ID, request, |_| Ok(()), now)
                .unwrap();
        endpoint.status = EndpointStatus::Disabled;
        endpoint.disabled_reason = Some("failing for 5 days".into());
        let patch = EndpointPatch::parse(
            UpdateEndpoint {
                status: Some("enabled".into()),
                ..UpdateEndpoint::default()
            },
            |_| Ok(()),
        )
        .unwrap();
        patch.apply(&mut endpoint, Timestamp::from_millis(9));
        assert_eq!(endpoint.status, EndpointStatus::Enabled);
        assert_eq!(endpoint.disabled_reason, None);
        assert_eq!(endpoint.description.as_deref(), Some("keep"));
        assert_eq!(endpoint.url, "https://m.example/h");
        assert_eq!(endpoint.updated_at, Timestamp::from_millis(9));
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(metadata(Some(serde_json::json!([1]))).is_err());
        assert!(metadata(Some(serde_json::json!({"k": "x".repeat(5000)}))).is_err());
        assert_eq!(metadata(None).unwrap().len(), 0);
    }
}
