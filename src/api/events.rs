//! Inbound-event endpoints (product.md §10): sources (`add_source`, `get_sources_paginated`,
//! `get_source_details`, `update_source`, `delete_source`, `rotate_source_ingest_token`),
//! subscriptions (`add_subscription`, `get_subscriptions_paginated`,
//! `get_subscription_details`, `update_subscription`, `delete_subscription`), `send_event`,
//! the event log (`get_events_paginated`, `get_event_details`) and jobs (`replay_events`,
//! `bulk_retry_executions`, `get_replay_job`, `cancel_replay_job`).
//!
//! [`route_event`] is the one path from an event to its executions, shared by the ingest URL
//! (`super::ingest`), `send_event`, the Hook0 dialect and replays: it selects subscriptions
//! (`events::route`), runs their transforms on the compute pool, and hands the event with
//! everything it creates to one store operation (`Store::record_event`), then dispatches.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::App;
use super::compute::Lane;
use super::error::ApiError;
use super::fields::{Context, HeaderName, Id, InstantText, Int, JsonBody, Line, List, Name, Nullable, OneOf, Text};
use super::reply::{ApiResult, PAGE_MAX, PageQuery, ok, page_number, paginated};
use super::request::Cx;
use crate::delivery::egress::Cidr;
use crate::events::route;
use crate::events::transform::Transform;
use crate::model::{
    BodyEncoding, Condition, ConditionOp, Dedup, DedupBy, Event, EventId, EventRef, EventStatus, Execution,
    ExecutionId, JobId, Route, RouteOutcome, ScheduleId, Source, SourceId, SourceVerification, Subscription,
    SubscriptionId, SubscriptionTarget, TargetKind, TemplateId, Trigger, TypeFrom, VerificationKind, WorkflowId,
    event_idempotency_key,
};
use crate::store::StoreError;
use crate::store::{DedupWrite, EventFilter, EventWrite, Recorded, SEND_EVENT_SCOPE};
use crate::time::{Millis, format_utc, tz};

const NAME_CHARS_MAX: usize = 256;
const HEADER_NAME_CHARS_MAX: usize = 128;
const SECRET_NAME_CHARS_MAX: usize = 128;
const PATH_CHARS_MAX: usize = 1024;
const EVENT_TYPE_CHARS_MAX: usize = route::EVENT_TYPE_CHARS_MAX;
const CIDRS_MAX: usize = 64;
const EVENT_TYPES_MAX: usize = 64;
const FILTERS_MAX: usize = 32;
/// Longest dedup window: 30 days, in seconds.
const DEDUP_WINDOW_SECONDS_MAX: i64 = 30 * 86_400;
/// Longest timestamp tolerance: one day, in seconds.
const TOLERANCE_SECONDS_MAX: i64 = 86_400;
/// Longest subscription delay: 30 days, in seconds.
const DELAY_SECONDS_MAX: i64 = 30 * 86_400;
/// Default accepted clock difference of timestamped signatures (Standard Webhooks, Stripe).
pub const TOLERANCE_SECONDS_DEFAULT: u32 = 300;
/// Compiled transforms kept by [`App::transforms`] (cleared whole when full).
pub const TRANSFORM_CACHE_MAX: usize = 1024;
/// Bytes of randomness in an ingest token (≥ 128 bits, product.md §10).
const TOKEN_BYTES: usize = 24;
/// Where an event's filter paths may point.
const FILTER_ROOTS: &[&str] = &[
    "event.body",
    "event.headers",
    "event.query",
    "event.labels",
    "event.type",
    "event.method",
    "event.path",
    "event.source_uuid",
];

/// The verification modes and the sender presets that expand to one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationType {
    Mode(VerificationKind),
    /// GitHub: `x-hub-signature-256`, `sha256=`, hex.
    Github,
    /// Shopify: `x-shopify-hmac-sha256`, base64.
    Shopify,
}

impl super::fields::Choices for VerificationType {
    const VALUES: &'static [&'static str] =
        &["none", "hmac_sha256", "standard_webhooks", "stripe", "basic_auth", "header_token", "github", "shopify"];
    fn choose(s: &str) -> Option<Self> {
        match s {
            "github" => Some(VerificationType::Github),
            "shopify" => Some(VerificationType::Shopify),
            other => VerificationKind::parse(other).map(VerificationType::Mode),
        }
    }
}

impl VerificationType {
    /// The name the API knows it by.
    pub fn name(self) -> &'static str {
        match self {
            VerificationType::Mode(k) => k.as_str(),
            VerificationType::Github => "github",
            VerificationType::Shopify => "shopify",
        }
    }
}

/// What each verification type reads of `verification`: `(type, required, optional)`. Any
/// other field is refused (400 naming it) rather than stored and ignored: a `header` given
/// with the `github` preset, or a `secret_key` with `none`, is a mistake the sender would
/// otherwise only find when requests are refused (or, worse, accepted unverified).
pub const VERIFICATION_FIELDS: &[(&str, &[&str], &[&str])] = &[
    ("none", &[], &[]),
    ("hmac_sha256", &["header", "secret_key"], &["prefix", "encoding"]),
    ("standard_webhooks", &["secret_key"], &["tolerance_seconds"]),
    ("stripe", &["secret_key"], &["tolerance_seconds"]),
    ("basic_auth", &["username", "password_secret_key"], &[]),
    ("header_token", &["header", "secret_key"], &[]),
    ("github", &["secret_key"], &[]),
    ("shopify", &["secret_key"], &[]),
];

/// The fields of `verification` besides `type`.
pub const VERIFICATION_SETTINGS: &[&str] =
    &["header", "prefix", "encoding", "secret_key", "tolerance_seconds", "username", "password_secret_key"];

/// `hex` or `base64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64Encoding(pub bool);

impl super::fields::Choices for Base64Encoding {
    const VALUES: &'static [&'static str] = &["hex", "base64"];
    fn choose(s: &str) -> Option<Self> {
        match s {
            "hex" => Some(Base64Encoding(false)),
            "base64" => Some(Base64Encoding(true)),
            _ => None,
        }
    }
}

/// `header`, `body_field` or `payload_hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupByName {
    Header,
    BodyField,
    PayloadHash,
}

impl super::fields::Choices for DedupByName {
    const VALUES: &'static [&'static str] = &["header", "body_field", "payload_hash"];
    fn choose(s: &str) -> Option<Self> {
        match s {
            "header" => Some(DedupByName::Header),
            "body_field" => Some(DedupByName::BodyField),
            "payload_hash" => Some(DedupByName::PayloadHash),
            _ => None,
        }
    }
}

/// A source's `verification`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationIn {
    /// `none`, `hmac_sha256`, `standard_webhooks`, `stripe`, `basic_auth`, `header_token`, or a
    /// sender preset: `github` (`x-hub-signature-256`, `sha256=`, hex) or `shopify`
    /// (`x-shopify-hmac-sha256`, base64).
    #[serde(rename = "type")]
    pub kind: OneOf<VerificationType>,
    /// `hmac_sha256`: the signature header; `header_token`: the header holding the token.
    pub header: Option<HeaderName<HEADER_NAME_CHARS_MAX>>,
    /// `hmac_sha256`: text before the signature, e.g. `sha256=`.
    pub prefix: Option<Line<64>>,
    /// `hmac_sha256`: `hex` (default) or `base64`.
    pub encoding: Option<OneOf<Base64Encoding>>,
    /// The vault secret (its `secret_key` name) holding the HMAC key, the `whsec_…` secret, the
    /// Stripe endpoint secret or the token.
    pub secret_key: Option<Name<SECRET_NAME_CHARS_MAX>>,
    /// `standard_webhooks`, `stripe`: accepted clock difference in seconds (default 300).
    pub tolerance_seconds: Option<Int<1, TOLERANCE_SECONDS_MAX>>,
    /// `basic_auth`: the user name.
    pub username: Option<Name<NAME_CHARS_MAX>>,
    /// `basic_auth`: the vault secret holding the password.
    pub password_secret_key: Option<Name<SECRET_NAME_CHARS_MAX>>,
}

/// A source's `dedup`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupIn {
    /// `header` (a header's value), `body_field` (a path in the JSON body) or `payload_hash`.
    pub by: OneOf<DedupByName>,
    /// The header name or body path (not for `payload_hash`).
    pub key: Option<Name<PATH_CHARS_MAX>>,
    /// How long a key marks repeats, in seconds (1 to 2,592,000).
    pub window_seconds: Int<1, DEDUP_WINDOW_SECONDS_MAX>,
}

/// A source's `event_type_from`: exactly one of the three.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeFromIn {
    /// A header whose value is the type (`x-github-event`).
    pub header: Option<HeaderName<HEADER_NAME_CHARS_MAX>>,
    /// A path in the JSON body (`type`, `data.kind`).
    pub body_field: Option<Name<PATH_CHARS_MAX>>,
    /// A fixed type for every event of the source.
    pub fixed: Option<Name<EVENT_TYPE_CHARS_MAX>>,
}

/// `add_source`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSource {
    /// Display name (not blank).
    pub source_name: Name<NAME_CHARS_MAX>,
    /// How requests are verified (default `{"type": "none"}`).
    pub verification: Option<VerificationIn>,
    /// Addresses allowed to send (`203.0.113.0/24`, `2001:db8::1`); empty or absent: any.
    pub ip_allow_cidrs: Option<List<Line<64>, CIDRS_MAX>>,
    /// Repeats of one delivery within a window are answered `duplicate: true` and not routed.
    pub dedup: Option<DedupIn>,
    /// Where the event type comes from (default: no type).
    pub event_type_from: Option<TypeFromIn>,
    /// The status answered to an accepted request, 200–299 (default 202).
    pub response_status_code: Option<Int<200, 299>>,
    /// A JSON body answered to an accepted request instead of the default answer.
    pub response_body: Option<JsonBody>,
}

/// `update_source` (absent fields keep their values; `dedup`, `event_type_from` and
/// `response_body` given as `null` are removed).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSource {
    /// The source's id.
    pub source_uuid: Id,
    /// Display name (not blank).
    pub source_name: Option<Name<NAME_CHARS_MAX>>,
    /// How requests are verified.
    pub verification: Option<VerificationIn>,
    /// Addresses allowed to send; `[]`: any.
    pub ip_allow_cidrs: Option<List<Line<64>, CIDRS_MAX>>,
    /// Dedup window; `null` removes it.
    #[serde(default)]
    pub dedup: Nullable<DedupIn>,
    /// Event type extraction; `null` removes it.
    #[serde(default)]
    pub event_type_from: Nullable<TypeFromIn>,
    /// The status answered to an accepted request, 200–299.
    pub response_status_code: Option<Int<200, 299>>,
    /// The body answered to an accepted request; `null` restores the default answer.
    #[serde(default)]
    pub response_body: Nullable<JsonBody>,
}

/// `get_source_details`, `delete_source`, `rotate_source_ingest_token`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// The source's id.
    pub source_uuid: Id,
}

/// One condition of a subscription's `filter`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterIn {
    /// A path under `event.body`, `event.headers`, `event.query`, `event.labels`,
    /// `event.type`, `event.method`, `event.path` or `event.source_uuid`.
    #[schemars(extend("pattern" = "^event\\.(body|headers|query|labels)(\\.[A-Za-z0-9_-]+)*$|^event\\.(type|method|path|source_uuid)$"))]
    pub field: Line<PATH_CHARS_MAX>,
    /// `eq`, `ne`, `lt`, `gt`, `lte`, `gte`, `in`, `contains` or `exists`.
    pub operator: OneOf<ConditionOp>,
    /// The value to compare with (for `exists`: `true`, the default, or `false`).
    pub value: Option<Value>,
}

/// `add_subscription`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSubscription {
    /// Display name (not blank).
    pub subscription_name: Name<NAME_CHARS_MAX>,
    /// Only events of this source (absent: every source of the brand and `send_event`).
    pub source_uuid: Option<Id>,
    /// Type patterns with `*` wildcards (`order.*`); absent or empty: every type.
    pub event_types: Option<List<Name<EVENT_TYPE_CHARS_MAX>, EVENT_TYPES_MAX>>,
    /// Conditions over the event, all of which must hold.
    pub filter: Option<List<FilterIn, FILTERS_MAX>>,
    /// A jq program mapping `{"event": …}` to the target's initial context (an object).
    pub transform: Option<Text<{ crate::events::transform::TRANSFORM_CHARS_MAX }>>,
    /// `webhook` (a webhook template), `workflow` or `debounce_schedule`.
    pub schedule_to: OneOf<SubscriptionTarget>,
    /// The webhook template, workflow or debounce schedule.
    pub model_to_schedule_uuid: Id,
    /// Start the execution this many seconds after the event (0 to 2,592,000; not with
    /// `debounce_schedule`, whose window is its delay).
    pub delay_seconds: Option<Int<0, DELAY_SECONDS_MAX>>,
    /// Whether it routes events (default true).
    pub enabled: Option<bool>,
}

/// `update_subscription` (absent fields keep their values; `source_uuid` and `transform` given
/// as `null` are removed).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    /// The subscription's id.
    pub subscription_uuid: Id,
    /// Display name (not blank).
    pub subscription_name: Option<Name<NAME_CHARS_MAX>>,
    /// Only events of this source; `null`: every source.
    #[serde(default)]
    pub source_uuid: Nullable<Id>,
    /// Type patterns; `[]`: every type.
    pub event_types: Option<List<Name<EVENT_TYPE_CHARS_MAX>, EVENT_TYPES_MAX>>,
    /// Conditions; `[]`: none.
    pub filter: Option<List<FilterIn, FILTERS_MAX>>,
    /// A jq program; `null` removes it.
    #[serde(default)]
    pub transform: Nullable<Text<{ crate::events::transform::TRANSFORM_CHARS_MAX }>>,
    /// `webhook`, `workflow` or `debounce_schedule` (with `model_to_schedule_uuid`).
    pub schedule_to: Option<OneOf<SubscriptionTarget>>,
    /// The target's id.
    pub model_to_schedule_uuid: Option<Id>,
    /// Seconds between the event and the execution.
    pub delay_seconds: Option<Int<0, DELAY_SECONDS_MAX>>,
    /// Whether it routes events.
    pub enabled: Option<bool>,
}

/// `get_subscription_details`, `delete_subscription`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRef {
    /// The subscription's id.
    pub subscription_uuid: Id,
}

/// `send_event`: an event the application publishes itself.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEvent {
    /// The event's type (`order.created`).
    pub event_type: Name<EVENT_TYPE_CHARS_MAX>,
    /// The event's body (any JSON).
    pub payload: Option<JsonBody>,
    /// Labels, read by filters as `event.labels.<name>`.
    pub labels: Option<Context>,
    /// The caller's id for the event: a second `send_event` with the same `event_id` is
    /// answered with the first event's `event_uuid` and `duplicate: true`, and not routed.
    pub event_id: Option<Name<NAME_CHARS_MAX>>,
}

/// `get_events_paginated`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// 1-based page number (default 1); newest first.
    pub page: Option<Int<1, PAGE_MAX>>,
    /// Only this source's events.
    pub source_uuid: Option<Id>,
    /// Only events whose type matches this pattern (`*` wildcards).
    pub event_type: Option<Name<EVENT_TYPE_CHARS_MAX>>,
    /// `accepted`, `rejected` or `duplicate`.
    pub filter_status: Option<OneOf<EventStatus>>,
    /// Received at or after this instant (RFC 3339).
    pub from: Option<InstantText>,
    /// Received before this instant (RFC 3339).
    #[schemars(extend("x-not-before-field" = "from"))]
    pub to: Option<InstantText>,
}

/// `get_event_details`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRefIn {
    /// The event's id.
    pub event_uuid: Id,
}

fn not_blank(field: &str, s: &str) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApiError::invalid(field, "must not be blank"));
    }
    Ok(t.to_string())
}

fn header_name(field: &str, s: &str) -> Result<String, ApiError> {
    let name = s.trim().to_ascii_lowercase();
    if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(ApiError::invalid(field, "not a valid HTTP header name"));
    }
    Ok(name)
}

/// Checks that a named vault secret exists (its value is read only when a request arrives).
fn secret_named(cx: &Cx, field: &'static str, name: Option<&Name<SECRET_NAME_CHARS_MAX>>) -> Result<String, ApiError> {
    let name = name.ok_or_else(|| ApiError::Missing(field.to_string()))?.0.trim().trim_start_matches('#').to_string();
    if cx.app.store.find_secret(cx.brand.id, &name)?.is_none() {
        // 404 naming the field, with what to do. The name is not echoed: a secret's value
        // pasted here by mistake must not come back in an answer a proxy may log.
        return Err(ApiError::NotFoundWith {
            what: "Secret",
            key: field,
            id: "no vault secret has this name; add it first with add_system_secret".into(),
        });
    }
    Ok(name)
}

fn verification(cx: &Cx, v: Option<VerificationIn>) -> Result<SourceVerification, ApiError> {
    let Some(v) = v else {
        return Ok(SourceVerification {
            kind: VerificationKind::None,
            preset: None,
            header: None,
            prefix: None,
            base64: false,
            secret_key: None,
            tolerance_seconds: TOLERANCE_SECONDS_DEFAULT,
            username: None,
            password_secret_key: None,
        });
    };
    let given = [
        ("header", v.header.is_some()),
        ("prefix", v.prefix.is_some()),
        ("encoding", v.encoding.is_some()),
        ("secret_key", v.secret_key.is_some()),
        ("tolerance_seconds", v.tolerance_seconds.is_some()),
        ("username", v.username.is_some()),
        ("password_secret_key", v.password_secret_key.is_some()),
    ];
    let name = v.kind.0.name();
    if let Some((_, required, optional)) = VERIFICATION_FIELDS.iter().find(|(t, _, _)| *t == name) {
        for (field, is_given) in given {
            if is_given && !required.contains(&field) && !optional.contains(&field) {
                return Err(ApiError::invalid(
                    &format!("verification.{field}"),
                    format!("not used by verification type {name}"),
                ));
            }
        }
    }
    let (kind, preset, header, prefix, base64) = match v.kind.0 {
        VerificationType::Github => (
            VerificationKind::HmacSha256,
            Some("github"),
            Some("x-hub-signature-256".to_string()),
            Some("sha256=".to_string()),
            false,
        ),
        VerificationType::Shopify => {
            (VerificationKind::HmacSha256, Some("shopify"), Some("x-shopify-hmac-sha256".to_string()), None, true)
        }
        VerificationType::Mode(k) => (
            k,
            None,
            v.header.as_ref().map(|h| header_name("verification.header", &h.0)).transpose()?,
            v.prefix.as_ref().map(|p| p.0.clone()).filter(|p| !p.is_empty()),
            v.encoding.is_some_and(|e| e.0.0),
        ),
    };
    let mut out = SourceVerification {
        kind,
        preset: preset.map(str::to_string),
        header: None,
        prefix: None,
        base64: false,
        secret_key: None,
        tolerance_seconds: v.tolerance_seconds.map_or(TOLERANCE_SECONDS_DEFAULT, |t| t.get() as u32),
        username: None,
        password_secret_key: None,
    };
    match kind {
        VerificationKind::None => {}
        VerificationKind::HmacSha256 => {
            out.header = Some(header.ok_or_else(|| ApiError::Missing("verification.header".into()))?);
            out.prefix = prefix;
            out.base64 = base64;
            out.secret_key = Some(secret_named(cx, "verification.secret_key", v.secret_key.as_ref())?);
        }
        VerificationKind::StandardWebhooks | VerificationKind::Stripe => {
            out.secret_key = Some(secret_named(cx, "verification.secret_key", v.secret_key.as_ref())?);
        }
        VerificationKind::HeaderToken => {
            out.header = Some(header.ok_or_else(|| ApiError::Missing("verification.header".into()))?);
            out.secret_key = Some(secret_named(cx, "verification.secret_key", v.secret_key.as_ref())?);
        }
        VerificationKind::BasicAuth => {
            let user = v.username.as_ref().ok_or_else(|| ApiError::Missing("verification.username".into()))?;
            if user.0.contains(':') || user.0.is_empty() {
                return Err(ApiError::invalid("verification.username", "must be non-empty without ':' (RFC 7617)"));
            }
            out.username = Some(user.0.clone());
            out.password_secret_key =
                Some(secret_named(cx, "verification.password_secret_key", v.password_secret_key.as_ref())?);
        }
    }
    Ok(out)
}

fn cidrs(list: Option<List<Line<64>, CIDRS_MAX>>) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for (i, c) in list.map(|l| l.0).unwrap_or_default().into_iter().enumerate() {
        let text = c.0.trim().to_string();
        let parsed = Cidr::parse(&text).or_else(|| {
            let ip: std::net::IpAddr = text.parse().ok()?;
            Cidr::parse(&format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }))
        });
        if parsed.is_none() {
            return Err(ApiError::invalid(
                &format!("ip_allow_cidrs[{i}]"),
                "not an address or range like 203.0.113.0/24",
            ));
        }
        out.push(text);
    }
    Ok(out)
}

fn dedup(d: DedupIn) -> Result<Dedup, ApiError> {
    let key = d.key.map(|k| k.0.trim().to_string()).filter(|k| !k.is_empty());
    let by = match d.by.0 {
        DedupByName::Header => {
            DedupBy::Header(key.ok_or_else(|| ApiError::Missing("dedup.key".into()))?.to_ascii_lowercase())
        }
        DedupByName::BodyField => DedupBy::BodyField(key.ok_or_else(|| ApiError::Missing("dedup.key".into()))?),
        DedupByName::PayloadHash => DedupBy::PayloadHash,
    };
    Ok(Dedup { by, window_seconds: d.window_seconds.get() as u32 })
}

/// Refuses a header whose value is a credential (redacted from the event) as an event type or
/// dedup key: it would be stored in clear as the event's type or `event_id`.
fn not_secret_header(field: &str, name: &str, v: &SourceVerification) -> Result<(), ApiError> {
    if route::is_redacted_header(name) || v.header.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(name)) {
        return Err(ApiError::invalid(field, "carries a credential or signature, which is never stored"));
    }
    Ok(())
}

/// The checks of a source's type and dedup headers against its verification.
fn check_headers(s: &Source) -> Result<(), ApiError> {
    if let Some(TypeFrom::Header(h)) = &s.event_type_from {
        not_secret_header("event_type_from.header", h, &s.verification)?;
    }
    if let Some(Dedup { by: DedupBy::Header(h), .. }) = &s.dedup {
        not_secret_header("dedup.key", h, &s.verification)?;
    }
    Ok(())
}

fn type_from(t: TypeFromIn) -> Result<TypeFrom, ApiError> {
    match (t.header, t.body_field, t.fixed) {
        (Some(h), None, None) => Ok(TypeFrom::Header(header_name("event_type_from.header", &h.0)?)),
        (None, Some(b), None) => Ok(TypeFrom::BodyField(not_blank("event_type_from.body_field", &b.0)?)),
        (None, None, Some(f)) => Ok(TypeFrom::Fixed(not_blank("event_type_from.fixed", &f.0)?)),
        _ => Err(ApiError::invalid("event_type_from", "give exactly one of header, body_field or fixed")),
    }
}

/// A fresh ingest token: 192 random bits, URL-safe base64 (32 characters).
fn new_token() -> Result<String, ApiError> {
    use base64::Engine;
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(format!("random: {e}")))?;
    Ok(format!("src_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)))
}

/// SHA-256 of an ingest token: the key that finds its source.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn ingest_url(token: &str) -> String {
    format!("/v1/ingest/{token}")
}

fn verification_view(v: &SourceVerification) -> Value {
    let mut o = json!({"type": v.preset.clone().unwrap_or_else(|| v.kind.as_str().to_string())});
    let m = o.as_object_mut().expect("object literal");
    if v.preset.is_some() {
        m.insert("mode".into(), json!(v.kind.as_str()));
    }
    if let Some(h) = &v.header {
        m.insert("header".into(), json!(h));
    }
    if let Some(p) = &v.prefix {
        m.insert("prefix".into(), json!(p));
    }
    if v.kind == VerificationKind::HmacSha256 {
        m.insert("encoding".into(), json!(if v.base64 { "base64" } else { "hex" }));
    }
    if let Some(k) = &v.secret_key {
        m.insert("secret_key".into(), json!(k));
    }
    if matches!(v.kind, VerificationKind::StandardWebhooks | VerificationKind::Stripe) {
        m.insert("tolerance_seconds".into(), json!(v.tolerance_seconds));
    }
    if let Some(u) = &v.username {
        m.insert("username".into(), json!(u));
    }
    if let Some(k) = &v.password_secret_key {
        m.insert("password_secret_key".into(), json!(k));
    }
    o
}

fn source_item(s: &Source, tz_name: &str) -> Value {
    json!({
        "source_uuid": s.id.to_string(),
        "source_name": s.name,
        "verification": verification_view(&s.verification),
        "ip_allow_cidrs": s.ip_allow_cidrs,
        "dedup": s.dedup.as_ref().map(|d| match &d.by {
            DedupBy::Header(h) => json!({"by": "header", "key": h, "window_seconds": d.window_seconds}),
            DedupBy::BodyField(p) => json!({"by": "body_field", "key": p, "window_seconds": d.window_seconds}),
            DedupBy::PayloadHash => json!({"by": "payload_hash", "window_seconds": d.window_seconds}),
        }),
        "event_type_from": s.event_type_from.as_ref().map(|t| match t {
            TypeFrom::Header(h) => json!({"header": h}),
            TypeFrom::BodyField(p) => json!({"body_field": p}),
            TypeFrom::Fixed(f) => json!({"fixed": f}),
        }),
        "response_status_code": s.response_status_code,
        "response_body": s.response_body,
        "inserted_at": tz::format_in_zone(s.created_ms, tz_name),
        "updated_at": tz::format_in_zone(s.updated_ms, tz_name),
    })
}

pub(super) fn load_source(cx: &Cx, id: Id) -> Result<Source, ApiError> {
    cx.app.store.get_source(cx.brand.id, SourceId(id.0))?.ok_or(ApiError::NotFound("Source"))
}

/// The source's details with its ingest URL (the token opened from the vault).
fn source_detail(cx: &Cx, s: &Source) -> Result<Value, ApiError> {
    let token =
        cx.app.vault.open_token(s.id, &s.token).map_err(|e| ApiError::Internal(format!("source {}: {e}", s.id)))?;
    let mut v = source_item(s, &cx.brand.timezone);
    v["ingest_url"] = json!(ingest_url(&token));
    Ok(v)
}

pub async fn add_source(cx: Cx, i: AddSource) -> ApiResult {
    let name = not_blank("source_name", &i.source_name.0)?;
    let verification = verification(&cx, i.verification)?;
    let id = SourceId::new();
    let token = new_token()?;
    let s = Source {
        id,
        brand: cx.brand.id,
        name,
        verification,
        ip_allow_cidrs: cidrs(i.ip_allow_cidrs)?,
        dedup: i.dedup.map(dedup).transpose()?,
        event_type_from: i.event_type_from.map(type_from).transpose()?,
        response_status_code: i.response_status_code.map_or(202, |c| c.get() as u16),
        response_body: i.response_body.map(|b| b.0),
        token: cx.app.vault.seal_token(id, &token),
        token_hash: token_hash(&token),
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    check_headers(&s)?;
    cx.app.store.create_source(s).await?;
    ok(
        json!({"success": true, "details": "Source added", "source_uuid": id.to_string(), "ingest_url": ingest_url(&token)}),
    )
}

pub async fn list_sources(cx: Cx, i: PageQuery) -> ApiResult {
    let page = i.number();
    let items = cx.app.store.list_sources(cx.brand.id, page, cx.page_size)?;
    let tz_name = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz_name, |s| source_item(s, &tz_name))
}

pub async fn source_details(cx: Cx, i: SourceRef) -> ApiResult {
    let s = load_source(&cx, i.source_uuid)?;
    ok(json!({"success": true, "data": source_detail(&cx, &s)?}))
}

pub async fn update_source(cx: Cx, i: UpdateSource) -> ApiResult {
    let current = load_source(&cx, i.source_uuid)?;
    let name = i.source_name.map(|n| not_blank("source_name", &n.0)).transpose()?;
    let verification = i.verification.map(|v| verification(&cx, Some(v))).transpose()?;
    let allow = i.ip_allow_cidrs.map(|l| cidrs(Some(l))).transpose()?;
    let dedup = match i.dedup {
        Nullable::Absent => None,
        Nullable::Null => Some(None),
        Nullable::Value(d) => Some(Some(dedup(d)?)),
    };
    let type_from = match i.event_type_from {
        Nullable::Absent => None,
        Nullable::Null => Some(None),
        Nullable::Value(t) => Some(Some(type_from(t)?)),
    };
    let body = match i.response_body {
        Nullable::Absent => None,
        Nullable::Null => Some(None),
        Nullable::Value(b) => Some(Some(b.0)),
    };
    let status = i.response_status_code.map(|c| c.get() as u16);
    let s = cx
        .app
        .store
        .update_source(cx.brand.id, current.id, cx.now, move |s| {
            if let Some(n) = name {
                s.name = n;
            }
            if let Some(v) = verification {
                s.verification = v;
            }
            if let Some(a) = allow {
                s.ip_allow_cidrs = a;
            }
            if let Some(d) = dedup {
                s.dedup = d;
            }
            if let Some(t) = type_from {
                s.event_type_from = t;
            }
            if let Some(b) = body {
                s.response_body = b;
            }
            if let Some(c) = status {
                s.response_status_code = c;
            }
            check_headers(s).map_err(|e| match e {
                ApiError::Invalid { field, why } => StoreError::rejected(field, why.unwrap_or_default()),
                other => StoreError::rejected("source", other.message()),
            })
        })
        .await?;
    ok(json!({"success": true, "details": "Source updated", "source_uuid": s.id.to_string()}))
}

pub async fn rotate_token(cx: Cx, i: SourceRef) -> ApiResult {
    let current = load_source(&cx, i.source_uuid)?;
    let token = new_token()?;
    let sealed = cx.app.vault.seal_token(current.id, &token);
    let hash = token_hash(&token);
    cx.app
        .store
        .update_source(cx.brand.id, current.id, cx.now, move |s| {
            s.token = sealed;
            s.token_hash = hash;
            Ok(())
        })
        .await?;
    ok(json!({
        "success": true,
        "details": "Ingest token rotated; the previous ingest URL answers 404 from now on",
        "source_uuid": current.id.to_string(),
        "ingest_url": ingest_url(&token),
    }))
}

pub async fn delete_source(cx: Cx, i: SourceRef) -> ApiResult {
    let id = SourceId(i.source_uuid.0);
    cx.app.store.delete_source(cx.brand.id, id).await?;
    ok(json!({"success": true, "details": "Source deleted", "source_uuid": id.to_string()}))
}

// ---- subscriptions ----

fn filter(list: Option<List<FilterIn, FILTERS_MAX>>) -> Result<Vec<Condition>, ApiError> {
    let mut out = Vec::new();
    for (i, f) in list.map(|l| l.0).unwrap_or_default().into_iter().enumerate() {
        let field = f.field.0.clone();
        if !filter_field_ok(&field) {
            return Err(ApiError::invalid(
                &format!("filter[{i}].field"),
                format!(
                    "must be one of {} followed by an optional .path of letters, digits, '_', '.' or '-', \
                     or event.type, event.method, event.path, event.source_uuid",
                    FILTER_ROOTS[..4].join(", ")
                ),
            ));
        }
        // `exists` takes `false` for "absent"; anything else (or nothing) means "present".
        // Other operators compare with `value`, `null` when left out.
        let value = match (f.operator.0, f.value) {
            (ConditionOp::Exists, Some(Value::Bool(false))) => Value::Bool(false),
            (ConditionOp::Exists, _) => Value::Bool(true),
            (_, v) => v.unwrap_or(Value::Null),
        };
        out.push(Condition { field, operator: f.operator.0, value });
    }
    Ok(out)
}

/// A filter path: `event.body|headers|query|labels` followed by any number of `.segment`s of
/// `[A-Za-z0-9_-]` (none empty: `event.body..x` is refused), or exactly
/// `event.type|method|path|source_uuid` (the schema's pattern).
fn filter_field_ok(field: &str) -> bool {
    let Some(rest) = field.strip_prefix("event.") else { return false };
    if matches!(rest, "type" | "method" | "path" | "source_uuid") {
        return true;
    }
    ["body", "headers", "query", "labels"].iter().any(|root| match rest.strip_prefix(root) {
        Some("") => true,
        Some(path) => path.strip_prefix('.').is_some_and(|p| {
            p.split('.')
                .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        }),
        None => false,
    })
}

fn event_types(list: Option<List<Name<EVENT_TYPE_CHARS_MAX>, EVENT_TYPES_MAX>>) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for (i, t) in list.map(|l| l.0).unwrap_or_default().into_iter().enumerate() {
        out.push(not_blank(&format!("event_types[{i}]"), &t.0)?);
    }
    Ok(out)
}

fn transform(t: Option<String>) -> Result<Option<String>, ApiError> {
    match t {
        None => Ok(None),
        Some(src) if src.trim().is_empty() => Ok(None),
        Some(src) => {
            crate::events::transform::compile(&src).map_err(|e| ApiError::invalid("transform", e.to_string()))?;
            Ok(Some(src))
        }
    }
}

/// Checks the target exists in the brand and fits the target kind.
fn check_target(cx: &Cx, target: SubscriptionTarget, id: uuid::Uuid, delay: u32) -> Result<(), ApiError> {
    let found = match target {
        SubscriptionTarget::Webhook => cx.app.store.get_template(cx.brand.id, TemplateId(id))?.is_some(),
        SubscriptionTarget::Workflow => cx.app.store.get_workflow(cx.brand.id, WorkflowId(id))?.is_some(),
        SubscriptionTarget::DebounceSchedule => match cx.app.store.get_schedule(cx.brand.id, ScheduleId(id))? {
            None => false,
            Some(s) if !matches!(s.driver, crate::schedule::Driver::Debounce(_)) => {
                return Err(ApiError::invalid("model_to_schedule_uuid", "not a debounce schedule"));
            }
            Some(_) if delay > 0 => {
                return Err(ApiError::invalid(
                    "delay_seconds",
                    "a debounce_schedule target has no delay of its own: its debounce window is the delay",
                ));
            }
            Some(_) => true,
        },
    };
    if !found {
        let what = match target {
            SubscriptionTarget::Webhook => "Webhook",
            SubscriptionTarget::Workflow => "Workflow",
            SubscriptionTarget::DebounceSchedule => "Schedule",
        };
        return Err(ApiError::NotFoundWith { what, key: "model_to_schedule_uuid", id: id.to_string() });
    }
    Ok(())
}

fn subscription_item(s: &Subscription, tz_name: &str) -> Value {
    json!({
        "subscription_uuid": s.id.to_string(),
        "subscription_name": s.name,
        "source_uuid": s.source.map(|x| x.to_string()),
        "event_types": s.event_types,
        "filter": s.filter.iter().map(|c| json!({"field": c.field, "operator": c.operator.as_str(), "value": c.value})).collect::<Vec<_>>(),
        "transform": s.transform,
        "schedule_to": s.target.as_str(),
        "model_to_schedule_uuid": s.target_id.to_string(),
        "delay_seconds": s.delay_seconds,
        "enabled": s.enabled,
        "inserted_at": tz::format_in_zone(s.created_ms, tz_name),
        "updated_at": tz::format_in_zone(s.updated_ms, tz_name),
    })
}

pub(super) fn load_subscription(cx: &Cx, id: Id) -> Result<Subscription, ApiError> {
    cx.app.store.get_subscription(cx.brand.id, SubscriptionId(id.0))?.ok_or(ApiError::NotFound("Subscription"))
}

pub async fn add_subscription(cx: Cx, i: AddSubscription) -> ApiResult {
    let name = not_blank("subscription_name", &i.subscription_name.0)?;
    let source = i.source_uuid.map(|s| SourceId(s.0));
    if let Some(s) = source
        && cx.app.store.get_source(cx.brand.id, s)?.is_none()
    {
        return Err(ApiError::NotFoundWith { what: "Source", key: "source_uuid", id: s.to_string() });
    }
    let delay = i.delay_seconds.map_or(0, |d| d.get() as u32);
    check_target(&cx, i.schedule_to.0, i.model_to_schedule_uuid.0, delay)?;
    let s = Subscription {
        id: SubscriptionId::new(),
        brand: cx.brand.id,
        name,
        source,
        event_types: event_types(i.event_types)?,
        filter: filter(i.filter)?,
        transform: transform(i.transform.map(|t| t.0))?,
        target: i.schedule_to.0,
        target_id: i.model_to_schedule_uuid.0,
        delay_seconds: delay,
        enabled: i.enabled.unwrap_or(true),
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    let s = cx.app.store.put_subscription(s).await?;
    ok(json!({"success": true, "details": "Subscription added", "subscription_uuid": s.id.to_string()}))
}

pub async fn list_subscriptions(cx: Cx, i: PageQuery) -> ApiResult {
    let page = i.number();
    let items = cx.app.store.list_subscriptions(cx.brand.id, page, cx.page_size)?;
    let tz_name = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz_name, |s| subscription_item(s, &tz_name))
}

pub async fn subscription_details(cx: Cx, i: SubscriptionRef) -> ApiResult {
    let s = load_subscription(&cx, i.subscription_uuid)?;
    ok(json!({"success": true, "data": subscription_item(&s, &cx.brand.timezone)}))
}

pub async fn update_subscription(cx: Cx, i: UpdateSubscription) -> ApiResult {
    let mut s = load_subscription(&cx, i.subscription_uuid)?;
    if let Some(n) = i.subscription_name {
        s.name = not_blank("subscription_name", &n.0)?;
    }
    match i.source_uuid {
        Nullable::Absent => {}
        Nullable::Null => s.source = None,
        Nullable::Value(id) => {
            if cx.app.store.get_source(cx.brand.id, SourceId(id.0))?.is_none() {
                return Err(ApiError::NotFoundWith { what: "Source", key: "source_uuid", id: id.0.to_string() });
            }
            s.source = Some(SourceId(id.0));
        }
    }
    if i.event_types.is_some() {
        s.event_types = event_types(i.event_types)?;
    }
    if i.filter.is_some() {
        s.filter = filter(i.filter)?;
    }
    match i.transform {
        Nullable::Absent => {}
        Nullable::Null => s.transform = None,
        Nullable::Value(t) => s.transform = transform(Some(t.0))?,
    }
    match (i.schedule_to, i.model_to_schedule_uuid) {
        (Some(t), Some(id)) => {
            s.target = t.0;
            s.target_id = id.0;
        }
        (None, Some(id)) => s.target_id = id.0,
        (Some(_), None) => return Err(ApiError::Missing("model_to_schedule_uuid".into())),
        (None, None) => {}
    }
    if let Some(d) = i.delay_seconds {
        s.delay_seconds = d.get() as u32;
    }
    if let Some(e) = i.enabled {
        s.enabled = e;
    }
    check_target(&cx, s.target, s.target_id, s.delay_seconds)?;
    let new = s.clone();
    let s = cx
        .app
        .store
        .update_subscription(cx.brand.id, s.id, cx.now, move |stored| {
            let (created, id, brand) = (stored.created_ms, stored.id, stored.brand);
            *stored = Subscription { created_ms: created, id, brand, ..new };
            Ok(())
        })
        .await?;
    ok(json!({"success": true, "details": "Subscription updated", "subscription_uuid": s.id.to_string()}))
}

pub async fn delete_subscription(cx: Cx, i: SubscriptionRef) -> ApiResult {
    let id = SubscriptionId(i.subscription_uuid.0);
    cx.app.store.delete_subscription(cx.brand.id, id).await?;
    ok(json!({"success": true, "details": "Subscription deleted", "subscription_uuid": id.to_string()}))
}

// ---- routing ----

/// A new execution of `sub`'s target for event `e` (after its delay).
pub fn event_execution(
    e: &Event,
    sub: &Subscription,
    context: Map<String, Value>,
    now: Millis,
    job: Option<JobId>,
) -> Execution {
    let kind = if sub.target == SubscriptionTarget::Workflow { TargetKind::Workflow } else { TargetKind::Webhook };
    let mut x = Execution::manual(e.brand, None, (kind, sub.target_id), context, now);
    x.trigger = Trigger::Event;
    x.idempotency_key = event_idempotency_key(e.id, sub.id, job);
    x.event = Some(EventRef { event: e.id, subscription: sub.id });
    if sub.delay_seconds > 0 {
        let at = now + i64::from(sub.delay_seconds) * 1000;
        x.scheduled_ms = at;
        x.due_ms = at;
        x.next_attempt_ms = Some(at);
    }
    x
}

/// The initial context of each selected subscription: its transform's output, or the event
/// context's object. Transforms run on the compute pool with `events.transform_budget_ms`
/// each; a failing one is `Err(message)`.
pub async fn contexts(
    app: &App,
    subs: &[&Subscription],
    ctx: Value,
) -> Result<Vec<Result<Map<String, Value>, String>>, ApiError> {
    if subs.iter().all(|s| s.transform.is_none()) {
        // One copy per subscription but the last, which takes the context itself.
        let plain = match ctx {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut out: Vec<_> = (1..subs.len()).map(|_| Ok(plain.clone())).collect();
        if !subs.is_empty() {
            out.push(Ok(plain));
        }
        return Ok(out);
    }
    // Compiled programs are kept by source text (`App::transforms`), so an event compiles none
    // that an earlier one already compiled.
    let cached: Vec<Option<(String, Option<Transform>)>> = {
        let cache = app.transforms.lock().unwrap_or_else(|e| e.into_inner());
        subs.iter().map(|s| s.transform.as_ref().map(|src| (src.clone(), cache.get(src).cloned()))).collect()
    };
    let budget_ms = app.live().events.transform_budget_ms;
    let tenant = subs.first().map_or(uuid::Uuid::nil(), |s| s.brand.0);
    let input = ctx;
    let (out, compiled) = app
        .compute
        .run_fair(Lane::Transform, tenant, budget_ms * cached.len().max(1) as u64, move |_| {
            let mut compiled = Vec::new();
            let out = cached
                .into_iter()
                .map(|p| match p {
                    None => Ok(input.as_object().cloned().unwrap_or_default()),
                    Some((src, t)) => {
                        let t = match t {
                            Some(t) => t,
                            None => {
                                let t = crate::events::transform::compile(&src).map_err(|e| e.to_string())?;
                                compiled.push((src, t.clone()));
                                t
                            }
                        };
                        // The budget counts the run only (a program is compiled once).
                        let watch = crate::time::Stopwatch::start();
                        let mut spent = || watch.elapsed_secs() * 1000.0 > budget_ms as f64;
                        match t.apply(&input, &mut spent).map_err(|e| e.to_string())? {
                            Value::Object(m) => Ok(m),
                            other => Err(format!("the transform gave {}, not an object", json_type(&other))),
                        }
                    }
                })
                .collect::<Vec<_>>();
            (out, compiled)
        })
        .await?;
    if !compiled.is_empty() {
        let mut cache = app.transforms.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() + compiled.len() > TRANSFORM_CACHE_MAX {
            cache.clear();
        }
        cache.extend(compiled);
    }
    Ok(out)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What an event leads to: its routes, executions and debounce triggers.
pub struct Routing {
    pub routes: Vec<Route>,
    pub executions: Vec<Execution>,
    pub debounce: Vec<(usize, ScheduleId, Map<String, Value>)>,
}

/// Routes an event to `subs` (already selected over `ctx`, the event's [`route::context`], which
/// the executions' contexts take): one route each, an execution for webhook and workflow
/// targets, a trigger for debounce schedules.
pub async fn plan_routes(
    app: &App,
    e: &Event,
    ctx: Value,
    subs: &[&Subscription],
    now: Millis,
    job: Option<JobId>,
) -> Result<Routing, ApiError> {
    let contexts = contexts(app, subs, ctx).await?;
    let mut r = Routing { routes: Vec::new(), executions: Vec::new(), debounce: Vec::new() };
    for (sub, context) in subs.iter().zip(contexts) {
        let mut route =
            Route { subscription: sub.id, outcome: RouteOutcome::Execution, execution: None, job, routed_ms: now };
        match context {
            Err(why) => route.outcome = RouteOutcome::TransformFailed(why),
            Ok(context) => match sub.target {
                SubscriptionTarget::DebounceSchedule => {
                    if job.is_some() {
                        route.outcome = RouteOutcome::TargetMissing("replays do not trigger debounce schedules".into());
                    } else {
                        route.outcome = RouteOutcome::DebounceTriggered;
                        r.debounce.push((r.routes.len(), ScheduleId(sub.target_id), context));
                    }
                }
                SubscriptionTarget::Webhook | SubscriptionTarget::Workflow => {
                    let x = event_execution(e, sub, context, now, job);
                    route.execution = Some(x.id);
                    r.executions.push(x);
                }
            },
        }
        r.routes.push(route);
    }
    Ok(r)
}

/// Selects, plans and stores an arriving event (with its dedup check), then dispatches what it
/// created. The event is durable, with all its routing, before this returns: (the record, with
/// its executions handed to the engine, and how many executions it created).
pub async fn route_event(
    app: &Arc<App>,
    mut event: Event,
    dedup: Option<DedupWrite>,
    now: Millis,
) -> Result<(Recorded, usize), ApiError> {
    let ctx = route::context(&event);
    // The brand's subscriptions are shared with the cache; the selected ones are borrowed.
    let all = if event.status == EventStatus::Accepted { Some(app.subscriptions_of(event.brand)?) } else { None };
    let subs: Vec<&Subscription> =
        all.iter().flat_map(|all| all.iter()).filter(|s| route::selects(s, &event, &ctx)).collect();
    let routing = plan_routes(app, &event, ctx, &subs, now, None).await?;
    event.routes = routing.routes;
    let source = event.source;
    let mut recorded = app
        .store
        .record_event(EventWrite { event, dedup, executions: routing.executions, debounce: routing.debounce, now })
        .await?;
    let mut created = 0;
    match &mut recorded {
        Recorded::Accepted { event, executions, debounced } => {
            created = executions.len();
            app.metrics
                .observe_event(source, if event.status == EventStatus::Rejected { "rejected" } else { "accepted" });
            // The engine takes the executions; the caller keeps their number only.
            for x in std::mem::take(executions) {
                if let Some(r) = x.event {
                    app.metrics.observe_event_executions(r.subscription, 1);
                }
                app.dispatch(x).await;
            }
            for s in debounced {
                app.scheduler.arm(event.brand, *s).await;
            }
        }
        Recorded::Duplicate { .. } => app.metrics.observe_event(source, "duplicate"),
    }
    Ok((recorded, created))
}

pub async fn send_event(cx: Cx, i: SendEvent) -> ApiResult {
    let (id, duplicate, executions) = publish_input(&cx.app, &cx.brand.id, i, cx.now).await?;
    ok(json!({
        "success": true,
        "details": if duplicate { "Duplicate event: already received with this event_id" } else { "Event accepted" },
        "event_uuid": id.to_string(),
        "duplicate": duplicate,
        "executions_created": executions,
    }))
}

/// A `send_event` input's checks, then [`publish`]: `send_event` and every event of the Hook0
/// dialect (`super::hook0`) go through here. Errors name the input's fields.
pub async fn publish_input(
    app: &Arc<App>,
    brand: &crate::model::BrandId,
    i: SendEvent,
    now: Millis,
) -> Result<(EventId, bool, usize), ApiError> {
    let ty = not_blank("event_type", &i.event_type.0)?;
    let event_id = i.event_id.map(|e| not_blank("event_id", &e.0)).transpose()?;
    publish(app, brand, ty, i.payload.map(|p| p.0), i.labels.map(|l| l.0), event_id, now).await
}

/// `send_event` and the Hook0 dialect's `POST /api/v1/events`: (event id, duplicate?, executions).
pub async fn publish(
    app: &Arc<App>,
    brand: &crate::model::BrandId,
    event_type: String,
    payload: Option<Value>,
    labels: Option<Map<String, Value>>,
    event_id: Option<String>,
    now: Millis,
) -> Result<(EventId, bool, usize), ApiError> {
    let event = Event {
        id: EventId::received_at(now),
        brand: *brand,
        source: None,
        status: EventStatus::Accepted,
        reason: None,
        event_type: Some(event_type),
        dedup_key: event_id.clone(),
        duplicate_of: None,
        method: String::new(),
        path: String::new(),
        query: Map::new(),
        headers: Map::new(),
        body: payload.unwrap_or(Value::Null),
        body_encoding: BodyEncoding::Json,
        client_ip: None,
        labels: labels.unwrap_or_default(),
        received_ms: now,
        routes: Vec::new(),
    };
    // An `event_id` counts as long as its first event is kept: the window is the events'
    // retention (the dedup entry is pruned with it; 0 = forever).
    let retention_days = app.live().events.retention_days;
    let window_ms = if retention_days == 0 { i64::MAX } else { i64::from(retention_days) * 86_400_000 };
    let dedup = event_id.map(|key| DedupWrite { scope: SEND_EVENT_SCOPE, key, window_ms });
    Ok(match route_event(app, event, dedup, now).await? {
        (Recorded::Accepted { event, .. }, created) => (event.id, false, created),
        (Recorded::Duplicate { first, .. }, _) => (first, true, 0),
    })
}

// ---- the event log ----

/// One event in a list.
pub fn event_item(e: &Event) -> Value {
    json!({
        "event_uuid": e.id.to_string(),
        "source_uuid": e.source.map(|s| s.to_string()),
        "event_type": e.event_type,
        "status": e.status.as_str(),
        "reason": e.reason,
        "duplicate_of": e.duplicate_of.map(|d| d.to_string()),
        "event_id": e.dedup_key,
        "received_at": format_utc(e.received_ms),
        "routes": e.routes.len(),
        "executions": e.routes.iter().filter(|r| r.execution.is_some()).count(),
    })
}

pub async fn list_events(cx: Cx, i: EventsQuery) -> ApiResult {
    let page = page_number(i.page);
    let filter = EventFilter {
        source: i.source_uuid.map(|s| SourceId(s.0)),
        event_type: i.event_type.map(|t| t.0),
        status: i.filter_status.map(|s| s.0),
        from_ms: InstantText::utc_millis_of(i.from.as_ref(), "from")?,
        to_ms: InstantText::utc_millis_of(i.to.as_ref(), "to")?,
    };
    if let (Some(from), Some(to)) = (filter.from_ms, filter.to_ms)
        && to < from
    {
        return Err(ApiError::invalid("to", "must not be before from"));
    }
    let items = cx.app.store.list_events(cx.brand.id, &filter, page, cx.page_size)?;
    paginated(items, page, cx.page_size, &cx.brand.timezone, event_item)
}

/// An event with the request as received and each route with its execution's status.
pub fn event_detail(app: &App, e: &Event, tz_name: &str) -> Result<Value, ApiError> {
    let ids: Vec<ExecutionId> = e.routes.iter().filter_map(|r| r.execution).collect();
    let execs = app.store.executions_by_id(e.brand, &ids)?;
    let status_of = |id: ExecutionId| {
        ids.iter().position(|x| *x == id).and_then(|i| execs.get(i).cloned().flatten()).map(|x| x.status.as_str())
    };
    let mut v = event_item(e);
    let m = v.as_object_mut().expect("object literal");
    m.insert("inserted_at".into(), json!(tz::format_in_zone(e.received_ms, tz_name)));
    m.insert(
        "request".into(),
        json!({
            "method": e.method,
            "path": e.path,
            "query": e.query,
            "headers": e.headers,
            "body": e.body,
            "body_encoding": e.body_encoding.as_str(),
            "client_ip": e.client_ip,
        }),
    );
    m.insert("labels".into(), Value::Object(e.labels.clone()));
    m.insert(
        "deliveries".into(),
        Value::Array(
            e.routes
                .iter()
                .map(|r| {
                    json!({
                        "subscription_uuid": r.subscription.to_string(),
                        "outcome": r.outcome.kind(),
                        "detail": r.outcome.detail(),
                        "execution_uuid": r.execution.map(|x| x.to_string()),
                        "execution_status": r.execution.and_then(status_of),
                        "job_uuid": r.job.map(|j| j.to_string()),
                        "routed_at": format_utc(r.routed_ms),
                    })
                })
                .collect(),
        ),
    );
    Ok(v)
}

pub async fn event_details(cx: Cx, i: EventRefIn) -> ApiResult {
    let e = cx.app.store.get_event(cx.brand.id, EventId(i.event_uuid.0))?.ok_or(ApiError::NotFound("Event"))?;
    ok(json!({"success": true, "data": event_detail(&cx.app, &e, &cx.brand.timezone)?}))
}

#[cfg(test)]
mod tests {
    use super::filter_field_ok;

    #[test]
    fn filter_paths_have_no_empty_segment() {
        for ok in ["event.body", "event.body.a", "event.body.a.b-c_d", "event.labels.env", "event.type"] {
            assert!(filter_field_ok(ok), "{ok}");
        }
        for bad in [
            "event.body.",
            "event.body..x",
            "event.body.a..b",
            "event.bodyx",
            "event.type.x",
            "body.a",
            "event.body.a b",
        ] {
            assert!(!filter_field_ok(bad), "{bad}");
        }
    }
}
