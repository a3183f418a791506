//! Inbound events (product.md §10): sources (verified ingest URLs), subscriptions (which
//! events start which target), the event log with each event's routing, and the replay and
//! bulk-retry jobs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{BrandId, Condition, EventId, ExecutionId, JobId, Sealed, SourceId, SubscriptionId};
use crate::time::Millis;

/// How a source checks that a request comes from its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationKind {
    None,
    HmacSha256,
    StandardWebhooks,
    /// Stripe's `stripe-signature: t=…,v1=…` scheme.
    Stripe,
    BasicAuth,
    HeaderToken,
}

impl VerificationKind {
    pub const ALL: [VerificationKind; 6] = [
        VerificationKind::None,
        VerificationKind::HmacSha256,
        VerificationKind::StandardWebhooks,
        VerificationKind::Stripe,
        VerificationKind::BasicAuth,
        VerificationKind::HeaderToken,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationKind::None => "none",
            VerificationKind::HmacSha256 => "hmac_sha256",
            VerificationKind::StandardWebhooks => "standard_webhooks",
            VerificationKind::Stripe => "stripe",
            VerificationKind::BasicAuth => "basic_auth",
            VerificationKind::HeaderToken => "header_token",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A source's verification as stored: names of vault secrets, never their values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceVerification {
    pub kind: VerificationKind,
    /// The preset it was made from (`github`, `shopify`), shown back; only data.
    #[serde(default)]
    pub preset: Option<String>,
    /// `hmac_sha256`: the signature header; `header_token`: the token header.
    pub header: Option<String>,
    /// `hmac_sha256`: text before the signature (`sha256=`).
    pub prefix: Option<String>,
    /// `hmac_sha256`: `hex` (default) or `base64`.
    pub base64: bool,
    /// The vault secret (`#key` name) holding the HMAC key, the `whsec_` secret or the token.
    pub secret_key: Option<String>,
    /// `standard_webhooks`, `stripe`: accepted clock difference, seconds (default 300).
    pub tolerance_seconds: u32,
    /// `basic_auth`.
    pub username: Option<String>,
    /// `basic_auth`: the vault secret holding the password.
    pub password_secret_key: Option<String>,
}

/// What identifies a repeated delivery of the same event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "key")]
pub enum DedupBy {
    /// A header's value (`x-github-delivery`, `webhook-id`).
    Header(String),
    /// A path in the JSON body (`id`, `data.object.id`).
    BodyField(String),
    /// SHA-256 of the raw body.
    PayloadHash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dedup {
    pub by: DedupBy,
    pub window_seconds: u32,
}

/// Where an event's type comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeFrom {
    Header(String),
    BodyField(String),
    Fixed(String),
}

/// An ingest endpoint of a brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: SourceId,
    pub brand: BrandId,
    pub name: String,
    pub verification: SourceVerification,
    /// CIDRs (`203.0.113.0/24`, `2001:db8::/32`, or single addresses); empty: any address.
    pub ip_allow_cidrs: Vec<String>,
    pub dedup: Option<Dedup>,
    pub event_type_from: Option<TypeFrom>,
    pub response_status_code: u16,
    pub response_body: Option<Value>,
    /// The ingest token, sealed by the vault (the source id as associated data).
    pub token: Sealed,
    /// SHA-256 of the token: the index key that finds the source.
    pub token_hash: [u8; 32],
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// What a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionTarget {
    /// A webhook template's execution.
    Webhook,
    /// A workflow run.
    Workflow,
    /// A trigger of a debounce schedule: a burst of events becomes one fire.
    DebounceSchedule,
}

impl SubscriptionTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionTarget::Webhook => "webhook",
            SubscriptionTarget::Workflow => "workflow",
            SubscriptionTarget::DebounceSchedule => "debounce_schedule",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(SubscriptionTarget::Webhook),
            "workflow" => Some(SubscriptionTarget::Workflow),
            "debounce_schedule" => Some(SubscriptionTarget::DebounceSchedule),
            _ => None,
        }
    }
}

/// Which events start which target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub brand: BrandId,
    pub name: String,
    /// `None`: events of every source of the brand and of `send_event`.
    pub source: Option<SourceId>,
    /// Type patterns with `*` wildcards; empty: every type.
    pub event_types: Vec<String>,
    /// Conditions over `event.…`, all of which must hold.
    pub filter: Vec<Condition>,
    /// A jq program mapping `{"event": …}` to the target's initial context.
    pub transform: Option<String>,
    pub target: SubscriptionTarget,
    pub target_id: Uuid,
    pub delay_seconds: u32,
    pub enabled: bool,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Accepted,
    Rejected,
    Duplicate,
}

impl EventStatus {
    pub const ALL: [EventStatus; 3] = [EventStatus::Accepted, EventStatus::Rejected, EventStatus::Duplicate];
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Accepted => "accepted",
            EventStatus::Rejected => "rejected",
            EventStatus::Duplicate => "duplicate",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How a body was kept: parsed JSON, UTF-8 text, or base64 of other bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    Json,
    Text,
    Base64,
}

impl BodyEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyEncoding::Json => "json",
            BodyEncoding::Text => "text",
            BodyEncoding::Base64 => "base64",
        }
    }
}

/// What routing an event to one subscription led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum RouteOutcome {
    /// An execution was created (`Route::execution`).
    Execution,
    /// A debounce schedule was triggered (its fire carries the latest event).
    DebounceTriggered,
    /// The transform failed: no execution.
    TransformFailed(String),
    /// The target is gone (deleted template, workflow or schedule): no execution.
    TargetMissing(String),
}

impl RouteOutcome {
    pub fn kind(&self) -> &'static str {
        match self {
            RouteOutcome::Execution => "execution",
            RouteOutcome::DebounceTriggered => "debounce_triggered",
            RouteOutcome::TransformFailed(_) => "transform_failed",
            RouteOutcome::TargetMissing(_) => "target_missing",
        }
    }
    pub fn detail(&self) -> Option<&str> {
        match self {
            RouteOutcome::TransformFailed(d) | RouteOutcome::TargetMissing(d) => Some(d),
            _ => None,
        }
    }
}

/// One subscription's share of an event: routed at ingest, or by a replay job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub subscription: SubscriptionId,
    pub outcome: RouteOutcome,
    pub execution: Option<ExecutionId>,
    /// The replay job that made this route (`None`: routed when the event arrived).
    pub job: Option<JobId>,
    pub routed_ms: Millis,
}

/// One received (or refused) request, or one `send_event` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub brand: BrandId,
    /// `None`: published with `send_event`.
    pub source: Option<SourceId>,
    pub status: EventStatus,
    /// Why it was rejected (`signature mismatch`, `address not allowed`, …).
    pub reason: Option<String>,
    pub event_type: Option<String>,
    /// The dedup key (ingest) or the caller's `event_id` (`send_event`).
    pub dedup_key: Option<String>,
    /// A duplicate's original.
    pub duplicate_of: Option<EventId>,
    pub method: String,
    /// The path after the ingest token (`/v1/ingest/<token>/a/b` → `/a/b`), `""` if none.
    pub path: String,
    pub query: Map<String, Value>,
    /// Lower-case names; credentials and signatures redacted.
    pub headers: Map<String, Value>,
    pub body: Value,
    pub body_encoding: BodyEncoding,
    pub client_ip: Option<String>,
    pub labels: Map<String, Value>,
    pub received_ms: Millis,
    pub routes: Vec<Route>,
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JobKind {
    /// Routes accepted events again (new executions).
    Replay {
        source: Option<SourceId>,
        event_type: Option<String>,
        from_ms: Millis,
        to_ms: Millis,
        subscription: Option<SubscriptionId>,
    },
    /// Re-runs failed executions (new executions, `retry_of` set).
    BulkRetry { subscription: Option<SubscriptionId>, target: Option<Uuid>, from_ms: Millis, to_ms: Millis },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Completed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// A replay or bulk-retry job: a cursor walked in batches, each batch committed with the
/// executions it creates, so a restart continues where the last commit left off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub brand: BrandId,
    pub kind: JobKind,
    /// Items per second (`None`: as fast as the store takes them).
    pub rate_per_second: Option<u32>,
    pub status: JobStatus,
    /// The last key visited (an event or execution id); the next batch starts after it.
    pub cursor: Option<Uuid>,
    /// Items looked at, matched, and executions created.
    pub scanned: u64,
    pub matched: u64,
    pub created: u64,
    pub created_ms: Millis,
    pub updated_ms: Millis,
    pub finished_ms: Option<Millis>,
}

/// Links an execution to the event and subscription that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub event: EventId,
    pub subscription: SubscriptionId,
}

/// The idempotency key of an event's execution for a subscription (product.md §10); a
/// replay's carries its job, so a receiver that drops repeated keys still sees a replay.
pub fn event_idempotency_key(event: EventId, subscription: SubscriptionId, job: Option<JobId>) -> String {
    match job {
        None => format!("hw_evt_{}_{}", event.0.simple(), subscription.0.simple()),
        Some(j) => format!("hw_evt_{}_{}_{}", event.0.simple(), subscription.0.simple(), j.0.simple()),
    }
}
