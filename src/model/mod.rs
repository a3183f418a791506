//! Domain types shared by the store, the vault and the API: tenants, credentials, domains,
//! webhook templates and secrets, with typed ids.
//!
//! Invariants: every object belongs to exactly one brand, and every lookup is by (brand, id),
//! so another brand's id behaves like an unknown one. These types derive serde only for the
//! store's record codec (`store::codec`); the API has its own wire DTOs.

mod alert;
mod event;
mod ids;
mod monitor;
mod schedule;
mod text;
mod workflow;

pub use alert::*;
pub use event::*;
pub use ids::{
    AlertId, AlertRuleId, BrandId, ChannelId, DomainId, EventId, ExecutionId, FreshIds, IdSource, InstanceId, JobId,
    KeyId, MonitorId, PingId, PlanId, RuleId, ScheduleId, SecretId, SeqIds, SourceId, StepId, SubscriptionId,
    TemplateId, WorkflowId,
};
pub use monitor::*;
pub use schedule::*;
pub use text::{is_invisible_format, json_depth};
pub use workflow::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::Millis;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brand {
    pub id: BrandId,
    pub name: String,
    /// IANA zone used for `inserted_at`, list `timezone` echoes and localised schedule times.
    pub timezone: String,
    pub created_ms: Millis,
}

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    pub brand: BrandId,
    /// The first characters of the key (`hwk_` + 8), safe to show and to revoke by.
    pub prefix: String,
    pub hash: [u8; 32],
    pub created_ms: Millis,
    pub last_used_ms: Option<Millis>,
    pub revoked_ms: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Protocol::Http),
            "https" => Some(Protocol::Https),
            _ => None,
        }
    }
}

/// A delivery target host with its traffic-guard settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    pub id: DomainId,
    pub brand: BrandId,
    pub protocol: Protocol,
    /// Host name or address, with an optional `:port`; lower-cased; no scheme, no path.
    pub host: String,
    pub rate_limit_enabled: bool,
    pub concurrency_control_enabled: bool,
    pub max_concurrent_jobs: u32,
    pub max_requests_per_second: u32,
    /// Standard Webhooks signing secrets, newest first; older ones sign until `expires_ms`
    /// (rotation overlap). Sealed by the vault with the domain id as associated data.
    #[serde(default)]
    pub signing: Vec<SigningKey>,
    /// The circuit breaker's settings (absent in records written before it existed: off).
    #[serde(default)]
    pub breaker: BreakerSettings,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// A domain's circuit-breaker settings (product.md §12: `circuit_breaker_enabled`,
/// `failure_threshold`, `open_seconds`; the failure-rate trip's `failure_rate_percent`,
/// `failure_rate_window_seconds`, `failure_rate_min_count`, names chosen here as §12 gives
/// none). Fields missing from older records take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerSettings {
    pub enabled: bool,
    /// Consecutive failed attempts that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe attempt goes through, in seconds.
    pub open_seconds: u32,
    /// The share of failed attempts (1-100 %) over the window that opens the circuit; 0 = the
    /// rate trip is off.
    #[serde(default)]
    pub failure_rate_percent: u32,
    /// The failure-rate window, in seconds.
    #[serde(default = "BreakerSettings::default_rate_window")]
    pub failure_rate_window_seconds: u32,
    /// Fewest attempts in the window before the rate is judged.
    #[serde(default = "BreakerSettings::default_rate_min_count")]
    pub failure_rate_min_count: u32,
}

impl BreakerSettings {
    pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
    pub const DEFAULT_OPEN_SECONDS: u32 = 30;
    pub const DEFAULT_RATE_WINDOW_SECONDS: u32 = 60;
    pub const DEFAULT_RATE_MIN_COUNT: u32 = 10;

    fn default_rate_window() -> u32 {
        Self::DEFAULT_RATE_WINDOW_SECONDS
    }

    fn default_rate_min_count() -> u32 {
        Self::DEFAULT_RATE_MIN_COUNT
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            enabled: false,
            failure_threshold: Self::DEFAULT_FAILURE_THRESHOLD,
            open_seconds: Self::DEFAULT_OPEN_SECONDS,
            failure_rate_percent: 0,
            failure_rate_window_seconds: Self::DEFAULT_RATE_WINDOW_SECONDS,
            failure_rate_min_count: Self::DEFAULT_RATE_MIN_COUNT,
        }
    }
}

/// Buckets of a [`RateWindow`].
pub const RATE_WINDOW_BUCKETS: usize = 10;

/// The attempts and failures of the breaker's failure-rate window, in
/// [`RATE_WINDOW_BUCKETS`] buckets of a tenth of the window each (`delivery::breaker` fills
/// and reads it). Empty: `bucket_ms` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateWindow {
    /// The width of one bucket, ms.
    pub bucket_ms: i64,
    /// Per bucket: its number (instant / `bucket_ms`), attempts, failures.
    pub buckets: [(i64, u32, u32); RATE_WINDOW_BUCKETS],
}

/// Where a domain's circuit stands (`delivery::breaker` moves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CircuitState {
    /// Attempts go through.
    Closed,
    /// Attempts wait until `until_ms`; `opened_ms` is when this open spell began (a failed
    /// probe re-opens without moving it).
    Open { opened_ms: Millis, until_ms: Millis },
    /// One probe attempt may go (or is in flight); the others wait for its outcome.
    HalfOpen { opened_ms: Millis, probe_in_flight: bool },
}

impl CircuitState {
    /// `closed`, `open` or `half_open` (the API's and the metrics' names).
    pub fn name(&self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open { .. } => "open",
            CircuitState::HalfOpen { .. } => "half_open",
        }
    }
}

/// A domain's circuit as kept in memory by delivery and stored at each transition (table
/// `domain_circuits`). Counters count attempts since `counters_since_ms` (the first use or the
/// last `reset_domain_circuit`); between transitions they live in memory only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCircuit {
    pub state: CircuitState,
    /// Failed attempts since the last successful one (or the last reset).
    pub consecutive_failures: u32,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub counters_since_ms: Millis,
    /// When the state last changed.
    pub changed_ms: Millis,
    /// Bumped at every transition; the store keeps the record with the highest.
    pub seq: u64,
    /// The failure-rate window (absent in records written before it existed: empty).
    #[serde(default)]
    pub window: RateWindow,
}

impl DomainCircuit {
    /// A closed circuit with zero counters.
    pub fn new(now: Millis) -> Self {
        DomainCircuit {
            state: CircuitState::Closed,
            consecutive_failures: 0,
            attempts: 0,
            successes: 0,
            failures: 0,
            counters_since_ms: now,
            changed_ms: now,
            seq: 0,
            window: RateWindow::default(),
        }
    }
}

/// One signing secret of a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    pub sealed: Sealed,
    pub created_ms: Millis,
    /// Set on the previous secret when a new one replaces it.
    pub expires_ms: Option<Millis>,
}

impl Domain {
    /// The secrets that sign at `now`, newest first.
    pub fn active_signing(&self, now: Millis) -> impl Iterator<Item = &SigningKey> {
        self.signing.iter().filter(move |k| k.expires_ms.is_none_or(|e| e > now))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
    Patch,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Patch => "PATCH",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "PUT" => Some(HttpMethod::Put),
            "DELETE" => Some(HttpMethod::Delete),
            "PATCH" => Some(HttpMethod::Patch),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Linear,
    Exponential,
}

impl Backoff {
    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Linear => "linear",
            Backoff::Exponential => "exponential",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(Backoff::Linear),
            "exponential" => Some(Backoff::Exponential),
            _ => None,
        }
    }
}

/// Retry and timeout settings of one HTTP call (template or workflow step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Base delay between attempts, in seconds.
    pub retry_delay_seconds: u32,
    pub backoff: Backoff,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Bound on one attempt, in milliseconds.
    pub request_timeout_ms: u32,
}

impl RetryPolicy {
    /// The defaults the HookPulse docs state for workflow steps, used for templates too.
    pub const DEFAULT: RetryPolicy =
        RetryPolicy { retry_delay_seconds: 10, backoff: Backoff::Linear, max_retries: 5, request_timeout_ms: 5000 };
    /// Upper bounds accepted by the API.
    pub const MAX_RETRIES_MAX: u32 = 100;
    pub const RETRY_DELAY_SECONDS_MAX: u32 = 86_400;
    pub const REQUEST_TIMEOUT_MS_MAX: u32 = 300_000;
}

/// A reusable outbound HTTP call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTemplate {
    pub id: TemplateId,
    pub brand: BrandId,
    pub name: String,
    pub description: String,
    pub method: HttpMethod,
    /// Templatable path on the domain, starting with `/` (or a placeholder).
    pub path: String,
    pub domain: DomainId,
    pub retry: RetryPolicy,
    pub body: Value,
    pub headers: Map<String, Value>,
    pub query: Map<String, Value>,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// A secret as stored: its value is sealed by the vault (AES-256-GCM, id as associated data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub id: SecretId,
    pub brand: BrandId,
    /// The name used as `{{ #key }}`.
    pub key: String,
    pub sealed: Sealed,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// Ciphertext produced by the vault. Opaque to everything but `vault/`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// One page of a brand-scoped list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Items in the whole list, all pages together.
    pub total: u64,
}
