//! The success answers of the API, as JSON Schema types: one type per answer shape, named in
//! the endpoint table next to the handler, so `/openapi.json` states per operation what a
//! `200` carries. The handlers build these answers as JSON; the schemathesis run
//! (`tests/it/schemathesis.rs`, check `response_schema_conformance`) holds every answer of
//! every operation against its schema here, so the two cannot drift apart unnoticed.
//!
//! Objects are open (`additionalProperties` unset): a client must ignore fields it does not
//! know, and the daemon may add some. A field that may be `null` is optional in the schema.

// Schema-only types: the handlers' JSON is checked against them, nothing constructs them.
#![allow(dead_code)]

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use super::fields::OneOf;
use crate::model::{ExecutionStatus, HttpMethod, Protocol, RunType, ScheduleStatus, TargetKind};

/// A string schema with a fixed shape; `$name` is the type, the rest is the schema.
macro_rules! string_schema {
    ($(#[$m:meta])* $name:ident => $schema:tt) => {
        $(#[$m])*
        pub struct $name;
        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

string_schema!(
    /// A UUID in its hyphenated form.
    Uuid => {"type": "string", "format": "uuid"}
);
string_schema!(
    /// An RFC 3339 instant in UTC with milliseconds: `2026-03-08T08:00:00.000Z`.
    Utc => {"type": "string", "format": "date-time"}
);
string_schema!(
    /// An RFC 3339 instant with the offset of a zone: `2026-03-08T03:00:00.000-05:00`.
    Local => {"type": "string", "format": "date-time"}
);
string_schema!(
    /// A schedule driver type.
    DriverType => {"type": "string", "enum": ["interval", "cron", "clocked", "solar", "debounce"]}
);
string_schema!(
    /// A schedule rule type.
    RuleType => {"type": "string", "enum": ["time_window", "calendar_window", "solar_window", "exclusion", "termination"]}
);
string_schema!(
    /// What started an execution.
    TriggerKind => {"type": "string", "enum": ["schedule", "manual", "debounce", "event", "alert"]}
);
string_schema!(
    /// A workflow run's status.
    RunStatus => {"type": "string", "enum": ["running", "waiting_approval", "succeeded", "failed", "completed_with_failures", "cancelled"]}
);
string_schema!(
    /// A step visit's status in a run.
    StepStatus => {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "skipped", "waiting_approval", "rejected"]}
);
string_schema!(
    /// An execution plan's status (`active` once approved).
    PlanStatus => {"type": "string", "enum": ["waiting_approval", "active", "rejected"]}
);
string_schema!(
    /// What happens when an approval times out.
    TimeoutActionValue => {"type": "string", "enum": ["reject", "approve"]}
);
string_schema!(
    /// A retry backoff mode.
    BackoffValue => {"type": "string", "enum": ["linear", "exponential"]}
);
string_schema!(
    /// A workflow's failure strategy.
    FailureStrategyValue => {"type": "string", "enum": ["stop", "continue"]}
);
string_schema!(
    /// A workflow's retry strategy.
    RetryStrategyValue => {"type": "string", "enum": ["none", "from_failed_step", "from_initial_step"]}
);
string_schema!(
    /// A misfire policy.
    MisfireValue => {"type": "string", "enum": ["fire_once", "skip", "fire_all"]}
);
string_schema!(
    /// An overlap policy.
    OverlapValue => {"type": "string", "enum": ["allow", "skip", "buffer_one"]}
);
string_schema!(
    /// A debounce mode.
    DebounceModeValue => {"type": "string", "enum": ["trailing", "leading"]}
);
string_schema!(
    /// A solar event name.
    SolarEventValue => {"type": "string", "enum": ["sunrise", "sunset", "civil_dawn", "civil_dusk", "nautical_dawn",
        "nautical_dusk", "astronomical_dawn", "astronomical_dusk", "solar_noon"]}
);
string_schema!(
    /// An interval period.
    PeriodValue => {"type": "string", "enum": ["second", "minute", "hour", "day", "week", "month"]}
);
string_schema!(
    /// A condition operator.
    OperatorValue => {"type": "string", "enum": ["eq", "ne", "lt", "gt", "lte", "gte", "in", "contains", "exists"]}
);
string_schema!(
    /// A routing field of a step.
    RouteField => {"type": "string", "enum": ["on_success_next_step_identifier", "on_fail_next_step_identifier"]}
);
string_schema!(
    /// A domain's scheme; empty when the domain is gone.
    ProtocolOrGone => {"type": "string", "enum": ["https", "http", ""]}
);
string_schema!(
    /// A circuit breaker's state.
    CircuitStateValue => {"type": "string", "enum": ["closed", "open", "half_open"]}
);
string_schema!(
    /// Why a preview stopped early.
    StoppedBy => {"type": "string", "enum": ["time_budget"]}
);

/// Every success answer starts with `"success": true`.
#[derive(JsonSchema)]
pub struct Done {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
}

/// `add_domain`, `update_domain`, `delete_domain`.
#[derive(JsonSchema)]
pub struct DomainChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The domain's id.
    pub domain_uuid: Uuid,
}

/// The traffic-guard settings and identity of a domain.
#[derive(JsonSchema)]
pub struct DomainItem {
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// The host, with its port when one was given.
    pub domain_name: String,
    /// The scheme requests use.
    pub protocol_type: OneOf<Protocol>,
    /// Whether request starts are spaced by `max_requests_per_second`.
    pub rate_limit_enabled: bool,
    /// Whether at most `max_concurrent_jobs` requests are in flight.
    pub concurrency_control_enabled: bool,
    /// Most requests in flight at once (0 when off).
    pub max_concurrent_jobs: u32,
    /// Most request starts per second (0 when off).
    pub max_requests_per_second: u32,
    /// Whether the circuit breaker holds the domain's queue after repeated failures.
    pub circuit_breaker_enabled: bool,
    /// Failed attempts in a row that open the circuit.
    pub failure_threshold: u32,
    /// Seconds the circuit stays open before one probe attempt.
    pub open_seconds: u32,
    /// When the domain was added, in the brand's zone.
    pub inserted_at: Local,
}

/// Attempts to a domain since `since` (the first use since the start, or the last reset).
#[derive(JsonSchema)]
pub struct CircuitCounters {
    /// Attempts that sent a request.
    pub attempts: u64,
    /// Attempts the receiver answered (not 5xx, 408 or 429).
    pub successes: u64,
    /// Attempts without an answer, or answered 5xx, 408 or 429.
    pub failures: u64,
    /// Since when they count.
    pub since: Utc,
}

/// A domain's circuit breaker and queue.
#[derive(JsonSchema)]
pub struct DomainHealth {
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// Whether the breaker is on.
    pub circuit_breaker_enabled: bool,
    /// Failed attempts in a row that open the circuit.
    pub failure_threshold: u32,
    /// Seconds the circuit stays open before one probe attempt.
    pub open_seconds: u32,
    /// `closed` (attempts go), `open` (attempts wait), `half_open` (one probe goes).
    pub state: CircuitStateValue,
    /// Failed attempts since the last successful one.
    pub consecutive_failures: u32,
    /// When the current open spell began; `null` while closed.
    pub opened_at: Option<Utc>,
    /// While open: when the next probe may go (in the past: with the next attempt).
    pub next_probe_at: Option<Utc>,
    /// Whether the probe attempt is in flight (half-open).
    pub probe_in_flight: bool,
    /// When the state last changed.
    pub state_changed_at: Utc,
    /// Executions waiting in the domain's queue (in memory and parked in the store).
    pub queued: u64,
    /// Attempt counts.
    pub counters: CircuitCounters,
}

/// `get_domain_health`.
#[derive(JsonSchema)]
pub struct DomainHealthAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The domain's circuit and queue.
    pub data: DomainHealth,
}

/// `reset_domain_circuit`.
#[derive(JsonSchema)]
pub struct CircuitReset {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// The domain's circuit and queue after the reset.
    pub data: DomainHealth,
}

/// `get_domain_uuid`.
#[derive(JsonSchema)]
pub struct DomainFound {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// The domain.
    pub data: DomainItem,
}

/// One active signing secret of a domain.
#[derive(JsonSchema)]
pub struct SigningSecretItem {
    /// The secret, `whsec_` followed by base64 (Standard Webhooks).
    pub signing_secret: String,
    /// When the secret was made.
    pub created_at: Utc,
    /// When the secret stops signing; `null` for the current one.
    pub expires_at: Option<Utc>,
}

/// The signing secrets of a domain.
#[derive(JsonSchema)]
pub struct SigningSecrets {
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// The secret that signs new requests.
    pub signing_secret: Option<String>,
    /// Every secret signing now, newest first.
    pub active_secrets: Vec<SigningSecretItem>,
}

/// `get_domain_signing_secret`.
#[derive(JsonSchema)]
pub struct SigningSecretAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The domain's signing secrets.
    pub data: SigningSecrets,
}

/// `rotate_domain_signing_secret`.
#[derive(JsonSchema)]
pub struct SigningRotated {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// When the previous secret stops signing.
    pub previous_expires_at: Utc,
}

/// Paging of a list answer.
#[derive(JsonSchema)]
pub struct PageMeta {
    /// The page shown (1-based).
    pub page: u64,
    /// Items in the whole list.
    pub total_count: u64,
    /// Items per page (`api.page_size`).
    pub per_page: u64,
    /// Pages in the whole list (0 for an empty list).
    pub total_pages: u64,
    /// Whether a later page exists.
    pub has_next: bool,
    /// Whether an earlier page exists.
    pub has_prev: bool,
}

/// A page of a list.
#[derive(JsonSchema)]
pub struct Paginated<T> {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The items of this page.
    pub data: Vec<T>,
    /// Where this page lies in the list.
    pub meta: PageMeta,
    /// The brand's zone, in which local times are shown.
    pub timezone: String,
}

/// A webhook template's domain.
#[derive(JsonSchema)]
pub struct DomainRefView {
    /// The host (empty when the domain is gone).
    pub domain: String,
    /// The scheme (empty when the domain is gone).
    pub protocol_type: ProtocolOrGone,
}

/// A webhook template as listed.
#[derive(JsonSchema)]
pub struct TemplateItem {
    /// The template's id.
    pub webhook_uuid: Uuid,
    /// The template's name.
    pub webhook_name: String,
    /// The template's description.
    pub webhook_description: String,
    /// The HTTP method.
    pub method: OneOf<HttpMethod>,
    /// The request path, with `{{ }}` placeholders.
    pub path: String,
    /// Timeout of one attempt, in milliseconds.
    pub request_timeout_in_milliseconds: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Seconds before the first retry.
    pub retry_delay: u64,
    /// How the delay grows between retries.
    pub retry_backoff_mode: BackoffValue,
    /// The domain requests go to.
    pub domain_details: DomainRefView,
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// When the template was created, in the brand's zone.
    pub inserted_at: Local,
}

/// A webhook template with its request parts.
#[derive(JsonSchema)]
pub struct TemplateDetail {
    /// The template's id.
    pub webhook_uuid: Uuid,
    /// The template's name.
    pub webhook_name: String,
    /// The template's description.
    pub webhook_description: String,
    /// The HTTP method.
    pub method: OneOf<HttpMethod>,
    /// The request path, with `{{ }}` placeholders.
    pub path: String,
    /// Timeout of one attempt, in milliseconds.
    pub request_timeout_in_milliseconds: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Seconds before the first retry.
    pub retry_delay: u64,
    /// How the delay grows between retries.
    pub retry_backoff_mode: BackoffValue,
    /// The domain requests go to.
    pub domain_details: DomainRefView,
    /// The domain's id.
    pub domain_uuid: Uuid,
    /// When the template was created, in the brand's zone.
    pub inserted_at: Local,
    /// The brand's zone.
    pub timezone: String,
    /// Request headers (values may hold placeholders).
    pub headers_json: Map<String, Value>,
    /// Query parameters (values may hold placeholders).
    pub query_params_json: Map<String, Value>,
    /// The request body template (an object or an array).
    pub request_body_json: Value,
    /// Secret names the template reads as `{{ #name }}`.
    pub expected_system_variables: Vec<String>,
}

/// `single_webhook_template_detail`, `get_webhook_template_uuid`.
#[derive(JsonSchema)]
pub struct TemplateDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The template.
    pub data: TemplateDetail,
}

/// `add_webhook_template`.
#[derive(JsonSchema)]
pub struct TemplateAdded {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The new template's id.
    pub webhook_uuid: Uuid,
    /// The new template's id (the SDK's name).
    pub webhook_template_id: Uuid,
    /// What was done, in words.
    pub message: String,
}

/// `update_webhook_template`, `delete_webhook_template`.
#[derive(JsonSchema)]
pub struct TemplateChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The template's id.
    pub webhook_uuid: Uuid,
}

/// `add_system_secret`, `update_secret_value`, `delete_secret`.
#[derive(JsonSchema)]
pub struct SecretChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The secret's id.
    pub secret_uuid: Uuid,
}

/// A secret without its value.
#[derive(JsonSchema)]
pub struct SecretItem {
    /// The secret's id.
    pub secret_uuid: Uuid,
    /// The secret's name.
    pub secret_key: String,
    /// How a template reads it: `{{ #name }}`.
    pub call_key: String,
    /// When the secret was stored, in the brand's zone.
    pub inserted_at: Local,
    /// When its value last changed, in the brand's zone.
    pub updated_at: Local,
}

/// `get_system_secret_uuid`.
#[derive(JsonSchema)]
pub struct SecretAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The secret, without its value.
    pub data: SecretItem,
}

/// A secret with its value.
#[derive(JsonSchema)]
pub struct SecretValueItem {
    /// The secret's id.
    pub secret_uuid: Uuid,
    /// The secret's name.
    pub secret_key: String,
    /// The secret's value.
    pub secret_value: String,
    /// How a template reads it: `{{ #name }}`.
    pub call_key: String,
}

/// `get_value_of_secret`.
#[derive(JsonSchema)]
pub struct SecretValueAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The secret with its value.
    pub data: SecretValueItem,
}

/// `add_*_schedule`, `add_schedule`, `update_schedule`.
#[derive(JsonSchema)]
pub struct ScheduleChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The schedule's id.
    pub schedule_uuid: Uuid,
}

/// `delete_schedule`: the documented answer carries its success text under `error`.
#[derive(JsonSchema)]
pub struct ScheduleDeleted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// `Schedule deleted successfully` (the documented field name).
    pub error: String,
    /// The deleted schedule's id.
    pub schedule_uuid: Uuid,
}

/// `change_schedule_status`, `update_schedule_status`.
#[derive(JsonSchema)]
pub struct StatusChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The schedule's status now.
    pub status: OneOf<ScheduleStatus>,
}

/// `add_schedule_rule`, `delete_schedule_rule`.
#[derive(JsonSchema)]
pub struct RuleChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The rule's id.
    pub rule_uuid: Uuid,
}

/// Local times of a schedule in the brand's zone.
#[derive(JsonSchema)]
pub struct LocaleDetails {
    /// The brand's zone.
    pub preferred_timezone: String,
    /// Time until the next fire, in words; `null` when none is due.
    pub time_left_to_trigger: Option<String>,
    /// The last fire, in the brand's zone.
    pub last_run_at_by_preferred_timezone: Option<Local>,
    /// The next fire, in the brand's zone.
    pub next_run_at_by_preferred_timezone: Option<Local>,
}

/// A schedule as listed.
#[derive(JsonSchema)]
pub struct ScheduleItem {
    /// The schedule's id.
    pub schedule_uuid: Uuid,
    /// The schedule's name (`null` when it has none).
    pub name: Option<String>,
    /// The schedule's status.
    pub status: OneOf<ScheduleStatus>,
    /// Why the schedule is in its status (e.g. its target was deleted), when known.
    pub reason: Option<String>,
    /// The kind of target.
    #[serde(rename = "type")]
    pub target_type: OneOf<TargetKind>,
    /// The target's id (webhook template or workflow).
    pub model_uuid: Uuid,
    /// The driver type.
    pub driver_type: DriverType,
    /// The last fire.
    pub last_run_at: Option<Utc>,
    /// The next fire.
    pub next_run_at: Option<Utc>,
    /// Fires so far.
    pub total_schedule_triggered: u64,
    /// The same times in the brand's zone.
    pub locale_timezone_converted_details: LocaleDetails,
}

/// A schedule's driver; the fields of other driver types are `null`.
#[derive(JsonSchema)]
pub struct DriverView {
    /// The driver type.
    #[serde(rename = "type")]
    pub driver_type: DriverType,
    /// Interval: how many periods between fires.
    pub interval_value: Option<u64>,
    /// Interval: the period.
    pub interval_period: Option<PeriodValue>,
    /// Interval: the anchor instant, when one was given.
    pub start_at: Option<Utc>,
    /// Cron: the expression.
    pub cron_expression: Option<String>,
    /// Cron: the IANA zone.
    pub cron_timezone: Option<String>,
    /// Clocked: the run instant as given (a local time in `clocked_timezone`, or with an offset).
    pub clocked_run_at: Option<String>,
    /// Clocked: the IANA zone.
    pub clocked_timezone: Option<String>,
    /// Solar: the event.
    pub solar_event: Option<SolarEventValue>,
    /// Solar: latitude in decimal degrees, as text.
    pub solar_lat: Option<String>,
    /// Solar: longitude in decimal degrees, as text.
    pub solar_long: Option<String>,
    /// Solar: seconds added to the event.
    pub solar_offset: Option<i64>,
    /// Whether the schedule fires once only.
    pub is_one_off: bool,
    /// Debounce: the quiet window in seconds.
    pub debounce_seconds: Option<u64>,
    /// Debounce: the mode.
    pub debounce_mode: Option<DebounceModeValue>,
    /// Debounce: the longest wait from the first trigger, in seconds.
    pub max_wait_seconds: Option<u64>,
}

/// A schedule rule; the fields of other rule types are `null`.
#[derive(JsonSchema)]
pub struct RuleView {
    /// The rule's id.
    pub rule_uuid: Uuid,
    /// The rule type.
    pub rule_type: RuleType,
    /// Time window: start, `HH:MM:SS`.
    pub start_time: Option<String>,
    /// Time window: end, `HH:MM:SS`.
    pub end_time: Option<String>,
    /// The IANA zone the rule reads dates and times in.
    pub timezone: Option<String>,
    /// Calendar window: days of the month allowed (1–31).
    pub allow_days: Option<Vec<u8>>,
    /// Calendar window: months allowed (1–12).
    pub allow_months: Option<Vec<u8>>,
    /// Calendar window: weekdays allowed (0 = Sunday … 6).
    pub allow_weekdays: Option<Vec<u8>>,
    /// Exclusion: dates (`YYYY-MM-DD`) without fires.
    pub exclusion_dates: Option<Vec<String>>,
    /// Solar window: the event that opens the window.
    pub solar_start_event: Option<SolarEventValue>,
    /// Solar window: the event that closes the window.
    pub solar_end_event: Option<SolarEventValue>,
    /// Solar window: latitude, as text.
    pub solar_lat: Option<String>,
    /// Solar window: longitude, as text.
    pub solar_long: Option<String>,
    /// Termination: the schedule completes after this many fires.
    pub max_run_to_terminate_after: Option<u64>,
    /// Termination: the schedule expires at this instant.
    pub expire_at: Option<Utc>,
}

/// A schedule with its driver, rules and policies.
#[derive(JsonSchema)]
pub struct ScheduleDetail {
    /// The schedule's id.
    pub schedule_uuid: Uuid,
    /// The schedule's name (`null` when it has none).
    pub name: Option<String>,
    /// The driver.
    pub driver: DriverView,
    /// The schedule's status.
    pub status: OneOf<ScheduleStatus>,
    /// Why the schedule is in its status, when known.
    pub reason: Option<String>,
    /// The kind of target.
    #[serde(rename = "type")]
    pub target_type: OneOf<TargetKind>,
    /// The target's id.
    pub schedule_applied_model_uuid: Uuid,
    /// The target's name (`null` when the target is gone).
    pub target_name: Option<String>,
    /// The target's description (`null` when the target is gone).
    pub target_description: Option<String>,
    /// The last fire.
    pub last_run_at: Option<Utc>,
    /// The next fire.
    pub next_run_at: Option<Utc>,
    /// The same times in the brand's zone.
    pub locale_timezone_converted_details: LocaleDetails,
    /// Fires so far.
    pub total_triggered: u64,
    /// The schedule's rules.
    pub rules: Vec<RuleView>,
    /// The context each execution starts with.
    pub initial_context_template: Map<String, Value>,
    /// What happens to fires missed while the daemon was down.
    pub misfire_policy: MisfireValue,
    /// How late a missed fire may still run, in seconds.
    pub misfire_grace_seconds: u64,
    /// What happens when a fire comes while the previous run is unfinished.
    pub overlap_policy: OverlapValue,
    /// Random delay added to each fire, up to this many seconds.
    pub jitter_seconds: u64,
    /// When the schedule was created, in the brand's zone.
    pub inserted_at: Local,
}

/// `get_single_schedule_details`, `get_schedule_uuid`.
#[derive(JsonSchema)]
pub struct ScheduleDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The schedule.
    pub data: ScheduleDetail,
}

/// `list_schedule_rules`.
#[derive(JsonSchema)]
pub struct RulesAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The schedule's rules.
    pub data: Vec<RuleView>,
}

/// One fire instant of a preview.
#[derive(JsonSchema)]
pub struct FireTime {
    /// The instant in UTC.
    pub utc: Utc,
    /// The instant in the schedule's zone.
    pub local: Local,
}

/// The next fire instants.
#[derive(JsonSchema)]
pub struct Preview {
    /// The instants, earliest first.
    pub fire_times: Vec<FireTime>,
    /// The zone of the `local` times.
    pub timezone: String,
    /// `false` when the time budget ran out before `count` instants were found.
    pub complete: bool,
    /// The schedule's status, when it is not active (then no instants are listed).
    pub status: Option<OneOf<ScheduleStatus>>,
    /// Why the search stopped early.
    pub stopped_by: Option<StoppedBy>,
    /// Where the search stopped; ask again with `from` set to it.
    pub searched_until: Option<Utc>,
    /// An explanation of an early stop.
    pub note: Option<String>,
}

/// `preview_schedule`.
#[derive(JsonSchema)]
pub struct PreviewAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The preview.
    pub data: Preview,
}

/// `trigger_schedule_now`, `cancel_execution`, `execute_webhook_template`.
#[derive(JsonSchema)]
pub struct ExecutionStarted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The execution's id.
    pub execution_uuid: Uuid,
}

/// `retry_execution`.
#[derive(JsonSchema)]
pub struct ExecutionRetried {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The new execution's id.
    pub execution_uuid: Uuid,
    /// The execution it retries.
    pub retry_of: Uuid,
}

/// `trigger_debounce_schedule`.
#[derive(JsonSchema)]
pub struct DebounceTriggered {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// When the schedule fires now; `null` when the trigger was absorbed.
    pub fire_at: Option<Utc>,
    /// Whether the trigger was absorbed into an already planned fire.
    pub absorbed: bool,
}

/// An execution as listed.
#[derive(JsonSchema)]
pub struct ExecutionItem {
    /// The execution's id.
    pub execution_uuid: Uuid,
    /// The schedule that fired it (`null` for a manual run).
    pub schedule_uuid: Option<Uuid>,
    /// The kind of target: `webhook`, `workflow`, or `channel` (an alert send).
    pub target_type: ExecutionTargetValue,
    /// The target's id.
    pub target_uuid: Uuid,
    /// What started it.
    pub trigger: TriggerKind,
    /// Its status.
    pub status: OneOf<ExecutionStatus>,
    /// The instant it was due by its schedule.
    pub scheduled_at: Utc,
    /// The instant it was due with jitter applied.
    pub due_at: Utc,
    /// The `Idempotency-Key` header sent with its requests.
    pub idempotency_key: String,
    /// How late it started, in milliseconds.
    pub lateness_ms: Option<i64>,
    /// HTTP attempts so far.
    pub attempt_count: u64,
    /// The status code of the last attempt.
    pub last_status_code: Option<u16>,
    /// Why it ended as it did, when known.
    pub reason: Option<String>,
    /// The rule that skipped it.
    pub skipped_rule_uuid: Option<Uuid>,
    /// When it was recorded.
    pub created_at: Utc,
    /// When it finished.
    pub finished_at: Option<Utc>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Utc>,
    /// The execution it retries.
    pub retry_of: Option<Uuid>,
    /// The inbound event that created it.
    pub event_uuid: Option<Uuid>,
    /// The subscription that routed the event here.
    pub subscription_uuid: Option<Uuid>,
}

/// One HTTP attempt.
#[derive(JsonSchema)]
pub struct AttemptView {
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// When it started.
    pub started_at: Utc,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// The answer's status code (`null` when none came).
    pub status_code: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// The request as sent, with secrets shown as `{{ #key }}`.
    pub request: Value,
    /// The start of the answer's body, secrets masked.
    pub response_excerpt: Option<String>,
}

/// An execution with its attempts.
#[derive(JsonSchema)]
pub struct ExecutionDetail {
    /// The execution's id.
    pub execution_uuid: Uuid,
    /// The schedule that fired it (`null` for a manual run).
    pub schedule_uuid: Option<Uuid>,
    /// The kind of target: `webhook`, `workflow`, or `channel` (an alert send).
    pub target_type: ExecutionTargetValue,
    /// The target's id.
    pub target_uuid: Uuid,
    /// What started it.
    pub trigger: TriggerKind,
    /// Its status.
    pub status: OneOf<ExecutionStatus>,
    /// The instant it was due by its schedule.
    pub scheduled_at: Utc,
    /// The instant it was due with jitter applied.
    pub due_at: Utc,
    /// The `Idempotency-Key` header sent with its requests.
    pub idempotency_key: String,
    /// How late it started, in milliseconds.
    pub lateness_ms: Option<i64>,
    /// HTTP attempts so far.
    pub attempt_count: u64,
    /// The status code of the last attempt.
    pub last_status_code: Option<u16>,
    /// Why it ended as it did, when known.
    pub reason: Option<String>,
    /// The rule that skipped it.
    pub skipped_rule_uuid: Option<Uuid>,
    /// When it was recorded.
    pub created_at: Utc,
    /// When it finished.
    pub finished_at: Option<Utc>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Utc>,
    /// The execution it retries.
    pub retry_of: Option<Uuid>,
    /// The inbound event that created it.
    pub event_uuid: Option<Uuid>,
    /// The subscription that routed the event here.
    pub subscription_uuid: Option<Uuid>,
    /// The context its templates read.
    pub context: Map<String, Value>,
    /// When it was recorded, in the brand's zone.
    pub inserted_at: Local,
    /// Every attempt, first first.
    pub attempts: Vec<AttemptView>,
}

/// `get_execution_details`.
#[derive(JsonSchema)]
pub struct ExecutionDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The execution.
    pub data: ExecutionDetail,
}

/// `add_workflow_template`, `update_workflow_template`, `delete_workflow_template`.
#[derive(JsonSchema)]
pub struct WorkflowChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The workflow's id.
    pub workflow_uuid: Uuid,
}

/// `add_workflow_step`, `update_workflow_step`, `delete_workflow_step`.
#[derive(JsonSchema)]
pub struct StepChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The step's id.
    pub step_uuid: Uuid,
}

/// A workflow as listed.
#[derive(JsonSchema)]
pub struct WorkflowItem {
    /// The workflow's id.
    pub workflow_uuid: Uuid,
    /// The workflow's name.
    pub workflow_name: String,
    /// The workflow's description.
    pub workflow_description: String,
    /// How its steps run.
    pub runtype: OneOf<RunType>,
    /// How many steps it has.
    pub total_workflow_steps: u64,
    /// When it was created, in the brand's zone.
    pub inserted_at: Local,
}

/// The domain of a step's request.
#[derive(JsonSchema)]
pub struct StepDomain {
    /// The scheme (empty when the domain is gone).
    pub protocol: ProtocolOrGone,
    /// The host (empty when the domain is gone).
    pub domain: String,
}

/// A step's request.
#[derive(JsonSchema)]
pub struct StepWebhook {
    /// The request path, with placeholders.
    pub path: String,
    /// The domain requests go to.
    pub domain: StepDomain,
    /// The HTTP method.
    pub method: OneOf<HttpMethod>,
    /// The id of the step's webhook.
    pub webhook_uuid: Uuid,
    /// The step's webhook name.
    pub webhook_name: String,
    /// Request headers.
    pub headers_json: Map<String, Value>,
    /// Query parameters.
    pub query_params_json: Map<String, Value>,
    /// The request body template.
    pub request_body_json: Value,
    /// Secret names the request reads as `{{ #name }}`.
    pub expected_system_variables: Vec<String>,
    /// The domain's id.
    pub domain_uuid: Uuid,
}

/// A condition on a step.
#[derive(JsonSchema)]
pub struct ConditionView {
    /// The context path compared.
    pub field: String,
    /// The comparison.
    pub operator: OperatorValue,
    /// The value compared with.
    pub value: Value,
}

/// A workflow step.
#[derive(JsonSchema)]
pub struct StepView {
    /// The step's id.
    pub step_uuid: Uuid,
    /// The step's position.
    pub index: i64,
    /// The step's name, used by routes.
    pub step_identifier: String,
    /// The brand's zone.
    pub timezone: String,
    /// When the step was added, in the brand's zone.
    pub inserted_at: Local,
    /// Whether the step waits for a human decision.
    pub human_approval_required: bool,
    /// Seconds to wait before the next step.
    pub delay_to_next_step: u64,
    /// The step's request.
    pub webhook: StepWebhook,
    /// Conditions that must hold for the step to run.
    pub execution_conditions: Vec<ConditionView>,
    /// The step run after a success.
    pub on_success_next_step_identifier: Option<String>,
    /// The step run after a failure.
    pub on_fail_next_step_identifier: Option<String>,
    /// Seconds before the first retry.
    pub retry_delay: u64,
    /// How the delay grows between retries.
    pub retry_backoff_mode: BackoffValue,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Timeout of one attempt, in milliseconds.
    pub request_timeout_in_milliseconds: u64,
    /// How long an approval may wait, in seconds.
    pub approval_timeout_seconds: Option<u64>,
    /// What happens when the approval times out.
    pub approval_timeout_action: TimeoutActionValue,
}

/// A route to a step that does not exist.
#[derive(JsonSchema)]
pub struct DanglingRoute {
    /// The step with the route.
    pub step_identifier: String,
    /// The routing field.
    pub field: RouteField,
    /// The missing step it names.
    pub target: String,
}

/// A workflow with its steps.
#[derive(JsonSchema)]
pub struct WorkflowDetail {
    /// The workflow's id.
    pub workflow_uuid: Uuid,
    /// The workflow's name.
    pub workflow_name: String,
    /// The workflow's description.
    pub workflow_description: String,
    /// How its steps run.
    pub runtype: OneOf<RunType>,
    /// The brand's zone.
    pub timezone: String,
    /// When it was created, in the brand's zone.
    pub inserted_at: Local,
    /// Its steps, in order.
    pub workflow_steps: Vec<StepView>,
    /// What a failed step does to the run.
    pub failure_strategy: FailureStrategyValue,
    /// How a failed run is retried.
    pub retry_strategy: RetryStrategyValue,
    /// Run retries after a failure.
    pub workflow_max_retries: u32,
    /// Seconds before a run retry.
    pub workflow_retry_delay: u64,
    /// Routes naming steps that do not exist.
    pub dangling_routes: Vec<DanglingRoute>,
}

/// `single_workflow_template_detail`, `get_workflow_template_uuid`.
#[derive(JsonSchema)]
pub struct WorkflowDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The workflow.
    pub data: WorkflowDetail,
}

/// `execute_workflow`.
#[derive(JsonSchema)]
pub struct RunStarted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The run's id.
    pub run_uuid: Uuid,
    /// The run's id again (a run is an execution of the workflow).
    pub execution_uuid: Uuid,
}

/// `rerun_workflow_run`.
#[derive(JsonSchema)]
pub struct RunRestarted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The new run's id.
    pub run_uuid: Uuid,
    /// The run it repeats.
    pub rerun_of: Uuid,
}

/// A run as listed.
#[derive(JsonSchema)]
pub struct RunItem {
    /// The run's id.
    pub run_uuid: Uuid,
    /// The workflow's id.
    pub workflow_uuid: Uuid,
    /// The run's status.
    pub status: RunStatus,
    /// Why it ended as it did, when known.
    pub reason: Option<String>,
    /// When it started.
    pub created_at: Utc,
    /// When it finished.
    pub finished_at: Option<Utc>,
    /// Step visits started.
    pub steps_started: u64,
    /// Run retries so far.
    pub workflow_retries: u32,
}

/// One visit of a step in a run.
#[derive(JsonSchema)]
pub struct VisitView {
    /// The step's id.
    pub step_uuid: Uuid,
    /// The step's name.
    pub step_identifier: String,
    /// The step's position.
    pub index: i64,
    /// The visit's status.
    pub status: StepStatus,
    /// The execution that made the step's request.
    pub execution_uuid: Option<Uuid>,
    /// The plan waiting for an approval.
    pub execution_plan_uuid: Option<Uuid>,
    /// When the visit started.
    pub started_at: Option<Utc>,
    /// When it finished.
    pub finished_at: Option<Utc>,
    /// The last answer's status code.
    pub status_code: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// The start of the last answer's body, secrets masked.
    pub response_excerpt: Option<String>,
    /// Every attempt.
    pub attempts: Vec<AttemptView>,
    /// The context after the step.
    pub context: Option<Value>,
}

/// A run's timeline.
#[derive(JsonSchema)]
pub struct RunDetail {
    /// The run's id.
    pub run_uuid: Uuid,
    /// The workflow's id.
    pub workflow_uuid: Uuid,
    /// The run's status.
    pub status: RunStatus,
    /// Why it ended as it did, when known.
    pub reason: Option<String>,
    /// The context the run started with.
    pub initial_context: Map<String, Value>,
    /// When it started.
    pub created_at: Utc,
    /// When it finished.
    pub finished_at: Option<Utc>,
    /// Run retries so far.
    pub workflow_retries: u32,
    /// Each step visit, in order.
    pub steps: Vec<VisitView>,
}

/// `get_workflow_run_details`.
#[derive(JsonSchema)]
pub struct RunDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The run.
    pub data: RunDetail,
}

/// An execution plan waiting for a decision: a workflow step's (`kind` `workflow_step`, with
/// its workflow, run and step) or a standalone approval request's (`kind` `standalone`, with
/// `title` and `context`).
#[derive(JsonSchema)]
pub struct ApprovalItem {
    /// The plan's id (what `human_approval_action` takes).
    pub execution_plan_uuid: Uuid,
    /// `workflow_step` or `standalone`.
    pub kind: ApprovalKind,
    /// The workflow's id (workflow steps).
    pub workflow_uuid: Option<Uuid>,
    /// The workflow's name (workflow steps).
    pub workflow_name: Option<String>,
    /// The waiting step's name (workflow steps).
    pub step_identifier: Option<String>,
    /// The waiting step's position (workflow steps).
    pub workflow_index: Option<i64>,
    /// The request's title (standalone requests).
    pub title: Option<String>,
    /// The request's context (standalone requests).
    pub context: Option<Map<String, Value>>,
    /// The plan's status.
    pub status: PlanStatus,
    /// Always `true`.
    pub human_approval_required: bool,
    /// Seconds to wait before the next step (workflow steps).
    pub delay_to_next_step: Option<u64>,
    /// When the plan was made, in the brand's zone.
    pub inserted_at: Local,
    /// The run's id (workflow steps).
    pub run_uuid: Option<Uuid>,
    /// When the approval times out.
    pub deadline_at: Option<Utc>,
    /// What the timeout decides.
    pub timeout_action: TimeoutActionValue,
}

string_schema!(
    /// What an execution plan gates.
    ApprovalKind => {"type": "string", "enum": ["workflow_step", "standalone"]}
);
string_schema!(
    /// A standalone approval request's status (`timed_out`: decided by `timeout_action`).
    ApprovalRequestStatus => {"type": "string", "enum": ["waiting_approval", "approved", "rejected", "timed_out"]}
);
string_schema!(
    /// A decision.
    DecisionValue => {"type": "string", "enum": ["approve", "reject"]}
);

/// `create_approval_request`.
#[derive(JsonSchema)]
pub struct ApprovalCreated {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The request's id (what `human_approval_action` and `get_approval_request` take).
    pub execution_plan_uuid: Uuid,
    /// Always `waiting_approval`.
    pub status: ApprovalRequestStatus,
    /// When the timeout decides.
    pub deadline_at: Utc,
}

/// An approval request's target (`on_approve`, `on_reject`).
#[derive(JsonSchema)]
pub struct ApprovalTargetView {
    /// `webhook` or `workflow`.
    pub schedule_to: OneOf<TargetKind>,
    /// The webhook template or workflow.
    pub model_to_schedule_uuid: Uuid,
}

/// A standalone approval request.
#[derive(JsonSchema)]
pub struct ApprovalRequest {
    /// The request's id.
    pub execution_plan_uuid: Uuid,
    /// What is to be approved.
    pub title: String,
    /// The context given at creation.
    pub context: Map<String, Value>,
    /// `waiting_approval`, `approved`, `rejected` or `timed_out`.
    pub status: ApprovalRequestStatus,
    /// The decision once made (also by the timeout).
    pub decision: Option<DecisionValue>,
    /// What the timeout decides.
    pub timeout_action: TimeoutActionValue,
    /// When the timeout decides.
    pub deadline_at: Option<Utc>,
    /// Whole seconds until the timeout decides (0 once decided).
    pub seconds_remaining: u64,
    /// The id of the API key that decided (null: waiting or decided by the timeout).
    pub decided_by: Option<Uuid>,
    /// When it was decided.
    pub decided_at: Option<Utc>,
    /// The decider's note.
    pub notes: Option<String>,
    /// Runs on approval.
    pub on_approve: Option<ApprovalTargetView>,
    /// Runs on rejection.
    pub on_reject: Option<ApprovalTargetView>,
    /// The execution of the target the decision started (`get_execution_details`).
    pub execution_uuid: Option<Uuid>,
    /// When it was created.
    pub created_at: Utc,
}

/// `get_approval_request`.
#[derive(JsonSchema)]
pub struct ApprovalRequestAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The request.
    pub data: ApprovalRequest,
}

/// `human_approval_action`.
#[derive(JsonSchema)]
pub struct Decided {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub message: String,
}

/// `get_lateness_summary`.
#[derive(JsonSchema)]
pub struct LatenessSummaryAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    pub data: LatenessSummary,
}

/// A brand's first-request lateness over the last hours (kept in the daemon's memory since it
/// started).
#[derive(JsonSchema)]
pub struct LatenessSummary {
    /// Hours summarised, the current one included.
    pub window_hours: u32,
    /// Start of the first hour summarised (RFC 3339, UTC).
    pub since: String,
    /// First requests measured in the window.
    pub measured: u64,
    /// Upper bound (ms) of the histogram bucket holding the median; `null` without data or
    /// past the last bound.
    pub lateness_p50_at_most_ms: Option<i64>,
    /// The same for the 99th percentile (nearest rank).
    pub lateness_p99_at_most_ms: Option<i64>,
    /// The largest lateness measured, ms; `null` without data.
    pub lateness_max_ms: Option<i64>,
    /// The histogram's bucket bounds, ms.
    pub bucket_bounds_ms: Vec<i64>,
}

/// `get_timezones`.
#[derive(JsonSchema)]
pub struct Timezones {
    /// Always `true` on a success answer.
    pub success: bool,
    /// Every IANA zone name the API accepts.
    pub data: Vec<String>,
    /// The version of the time-zone database.
    pub tzdb_version: String,
    /// Where the time-zone database was read from.
    pub tzdb_source: String,
}

string_schema!(
    /// Always `ok`.
    HealthStatus => {"type": "string", "enum": ["ok"]}
);
string_schema!(
    /// Whether the daemon serves.
    ReadyStatus => {"type": "string", "enum": ["ready", "not ready"]}
);
string_schema!(
    /// The store's state.
    StoreStatus => {"type": "string", "enum": ["ok", "disk full", "unavailable"]}
);

/// `/healthz`.
#[derive(JsonSchema)]
pub struct Health {
    /// Always `ok`: the process serves HTTP.
    pub status: HealthStatus,
}

/// The time-zone database in use.
#[derive(JsonSchema)]
pub struct Tzdb {
    /// Its version (`2025b`).
    pub version: String,
    /// Where it was read from (the system or the bundled copy).
    pub source: String,
}

/// `/readyz` (200 when ready, 503 when not).
#[derive(JsonSchema)]
pub struct Ready {
    /// Whether the store is open and writable and start-up has finished.
    pub status: ReadyStatus,
    /// The store's state.
    pub store: StoreStatus,
    /// The store's last write error.
    pub store_error: Option<String>,
    /// The time-zone database.
    pub tzdb: Tzdb,
    /// The daemon's version.
    pub version: String,
}

string_schema!(
    /// An inbound event's status.
    EventStatusValue => {"type": "string", "enum": ["accepted", "rejected", "duplicate"]}
);
string_schema!(
    /// A subscription's target kind.
    SubscriptionTargetValue => {"type": "string", "enum": ["webhook", "workflow", "debounce_schedule"]}
);
string_schema!(
    /// What routing an event to a subscription led to.
    RouteOutcomeValue => {"type": "string", "enum": ["execution", "debounce_triggered", "transform_failed", "target_missing"]}
);
string_schema!(
    /// A job's kind.
    JobKindValue => {"type": "string", "enum": ["replay", "bulk_retry"]}
);
string_schema!(
    /// A job's status.
    JobStatusValue => {"type": "string", "enum": ["running", "completed", "cancelled"]}
);

/// `add_source`, `rotate_source_ingest_token`.
#[derive(JsonSchema)]
pub struct SourceAdded {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The source's id.
    pub source_uuid: Uuid,
    /// The path of the source's public ingest URL: `/v1/ingest/<token>`.
    pub ingest_url: String,
}

/// `update_source`, `delete_source`.
#[derive(JsonSchema)]
pub struct SourceChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The source's id.
    pub source_uuid: Uuid,
}

/// A source as listed (without its ingest URL).
#[derive(JsonSchema)]
pub struct SourceItem {
    /// The source's id.
    pub source_uuid: Uuid,
    /// Its display name.
    pub source_name: String,
    /// `{type, header?, prefix?, encoding?, secret_key?, tolerance_seconds?, username?,
    /// password_secret_key?}`: names of vault secrets, never values.
    pub verification: Map<String, Value>,
    /// Addresses allowed to send (empty: any).
    pub ip_allow_cidrs: Vec<String>,
    /// `{by, key?, window_seconds}`.
    pub dedup: Option<Map<String, Value>>,
    /// `{header | body_field | fixed}`.
    pub event_type_from: Option<Map<String, Value>>,
    /// The status an accepted request is answered with.
    pub response_status_code: u16,
    /// The body an accepted request is answered with, when set.
    pub response_body: Option<Value>,
    /// Created, in the brand's zone.
    pub inserted_at: Local,
    /// Last changed, in the brand's zone.
    pub updated_at: Local,
}

/// A source with its ingest URL: every field of a listed source, plus `ingest_url`.
#[derive(JsonSchema)]
pub struct SourceDetail {
    /// The fields of a listed source.
    #[schemars(flatten)]
    pub item: SourceItem,
    /// The path of the public ingest URL: `/v1/ingest/<token>`.
    pub ingest_url: String,
}

/// `get_source_details`.
#[derive(JsonSchema)]
pub struct SourceDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The source.
    pub data: SourceDetail,
}

/// `add_subscription`, `update_subscription`, `delete_subscription`.
#[derive(JsonSchema)]
pub struct SubscriptionChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The subscription's id.
    pub subscription_uuid: Uuid,
}

/// A subscription.
#[derive(JsonSchema)]
pub struct SubscriptionItem {
    /// The subscription's id.
    pub subscription_uuid: Uuid,
    /// Its display name.
    pub subscription_name: String,
    /// Only this source's events (`null`: every source and `send_event`).
    pub source_uuid: Option<Uuid>,
    /// Type patterns (`*` wildcards); empty: every type.
    pub event_types: Vec<String>,
    /// `{field, operator, value}` conditions, all of which must hold.
    pub filter: Vec<Map<String, Value>>,
    /// The jq transform, if any.
    pub transform: Option<String>,
    /// The target kind.
    pub schedule_to: SubscriptionTargetValue,
    /// The target's id.
    pub model_to_schedule_uuid: Uuid,
    /// Seconds between an event and its execution.
    pub delay_seconds: u32,
    /// Whether it routes events.
    pub enabled: bool,
    /// Created, in the brand's zone.
    pub inserted_at: Local,
    /// Last changed, in the brand's zone.
    pub updated_at: Local,
}

/// `get_subscription_details`.
#[derive(JsonSchema)]
pub struct SubscriptionDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The subscription.
    pub data: SubscriptionItem,
}

/// `send_event`.
#[derive(JsonSchema)]
pub struct EventSent {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The event's id (the first event's, for a duplicate `event_id`).
    pub event_uuid: Uuid,
    /// Whether an event with this `event_id` had already been received.
    pub duplicate: bool,
    /// Executions the event created.
    pub executions_created: u64,
}

/// An event as listed.
#[derive(JsonSchema)]
pub struct EventItem {
    /// The event's id.
    pub event_uuid: Uuid,
    /// Its source (`null` for `send_event`).
    pub source_uuid: Option<Uuid>,
    /// Its type, when the source extracts one.
    pub event_type: Option<String>,
    /// `accepted`, `rejected` or `duplicate`.
    pub status: EventStatusValue,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// A duplicate's original event.
    pub duplicate_of: Option<Uuid>,
    /// The dedup key or the caller's `event_id`.
    pub event_id: Option<String>,
    /// When it was received.
    pub received_at: Utc,
    /// Subscriptions it was routed to.
    pub routes: u64,
    /// Executions it created.
    pub executions: u64,
}

/// One subscription's share of an event.
#[derive(JsonSchema)]
pub struct EventDelivery {
    /// The subscription.
    pub subscription_uuid: Uuid,
    /// What routing led to.
    pub outcome: RouteOutcomeValue,
    /// Why no execution was made, when none was.
    pub detail: Option<String>,
    /// The execution it created.
    pub execution_uuid: Option<Uuid>,
    /// That execution's status now.
    pub execution_status: Option<OneOf<ExecutionStatus>>,
    /// The replay job that made it (`null`: routed on arrival).
    pub job_uuid: Option<Uuid>,
    /// When it was routed.
    pub routed_at: Utc,
}

/// An event with its request and deliveries.
#[derive(JsonSchema)]
pub struct EventDetail {
    /// The event's id.
    pub event_uuid: Uuid,
    /// `accepted`, `rejected` or `duplicate`.
    pub status: EventStatusValue,
    /// When it was received.
    pub received_at: Utc,
    /// `{method, path, query, headers, body, body_encoding, client_ip}` with credentials and
    /// signatures redacted.
    pub request: Map<String, Value>,
    /// Labels (`send_event`).
    pub labels: Map<String, Value>,
    /// Each subscription's share.
    pub deliveries: Vec<EventDelivery>,
}

/// `get_event_details`.
#[derive(JsonSchema)]
pub struct EventDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The event.
    pub data: EventDetail,
}

/// A replay or bulk-retry job.
#[derive(JsonSchema)]
pub struct JobView {
    /// The job's id.
    pub job_uuid: Uuid,
    /// `replay` or `bulk_retry`.
    pub kind: JobKindValue,
    /// `running`, `completed` or `cancelled`.
    pub status: JobStatusValue,
    /// What it selects.
    pub filter: Map<String, Value>,
    /// Executions created per second at most.
    pub rate_per_second: Option<u32>,
    /// Records looked at.
    pub scanned: u64,
    /// Records that matched.
    pub matched: u64,
    /// Executions created.
    pub created: u64,
    /// When it started.
    pub created_at: Utc,
    /// Its last progress.
    pub updated_at: Utc,
    /// When it ended.
    pub finished_at: Option<Utc>,
}

/// `replay_events`, `bulk_retry_executions`, `get_replay_job`, `cancel_replay_job`.
#[derive(JsonSchema)]
pub struct JobAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The job.
    pub data: JobView,
}

string_schema!(
    /// A monitor's status.
    MonitorStatusValue => {"type": "string", "enum": ["new", "up", "late", "down", "paused"]}
);
string_schema!(
    /// A monitor's kind.
    MonitorKindValue => {"type": "string", "enum": ["heartbeat", "pipeline"]}
);
string_schema!(
    /// A ping's kind.
    PingKindValue => {"type": "string", "enum": ["success", "start", "fail"]}
);
string_schema!(
    /// The method of a ping.
    PingMethodValue => {"type": "string", "enum": ["GET", "POST", "HEAD"]}
);
string_schema!(
    /// What changed a monitor's status.
    FlipCauseValue => {"type": "string", "enum": ["ping", "deadline", "pause", "resume", "update", "stage", "stalled"]}
);
string_schema!(
    /// A monitor signal.
    SignalValue => {"type": "string", "enum": ["monitor_down", "monitor_up"]}
);

/// `add_monitor`.
#[derive(JsonSchema)]
pub struct MonitorAdded {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The monitor's id.
    pub monitor_uuid: Uuid,
    /// The path of the monitor's ping URL: `/ping/<token>`.
    pub ping_url: String,
    /// The monitor's slug (its address under the brand's ping key).
    pub slug: String,
    /// `new`.
    pub status: MonitorStatusValue,
}

/// `update_monitor`, `pause_monitor`, `resume_monitor`.
#[derive(JsonSchema)]
pub struct MonitorChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The monitor's id.
    pub monitor_uuid: Uuid,
    /// The status after the change.
    pub status: MonitorStatusValue,
    /// `update_monitor`: the slug after the change.
    pub slug: Option<String>,
}

/// `delete_monitor`.
#[derive(JsonSchema)]
pub struct MonitorDeleted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The monitor's id.
    pub monitor_uuid: Uuid,
}

/// A monitor as listed.
#[derive(JsonSchema)]
pub struct MonitorItem {
    /// The monitor's id.
    pub monitor_uuid: Uuid,
    /// Its name.
    pub monitor_name: String,
    /// `heartbeat` or `pipeline`.
    pub kind: MonitorKindValue,
    /// Its slug.
    pub slug: String,
    /// `new`, `up`, `late`, `down` or `paused`.
    pub status: MonitorStatusValue,
    /// The interval period, seconds (`null` for a cron period).
    pub interval_seconds: Option<u32>,
    /// The cron period's expression.
    pub cron_expression: Option<String>,
    /// The cron period's zone.
    pub cron_timezone: Option<String>,
    /// Grace, seconds (`null` for a pipeline, which has no heartbeat period).
    pub grace_seconds: Option<u32>,
    /// The last success or failure ping (a start does not count).
    pub last_ping_at: Option<Local>,
    /// When the next success ping is due (up or late monitors).
    pub next_due_at: Option<Local>,
    /// When the monitor turns `down` if no ping comes.
    pub down_at: Option<Local>,
    /// When the monitor entered its status.
    pub status_since: Local,
    /// The open run's start (a `/start` without its end yet).
    pub started_at: Option<Local>,
    /// Pings received in all.
    pub pings_total: u64,
    /// A pipeline's stages (`null` for a heartbeat).
    pub stages: Option<Vec<PipelineStageItem>>,
    /// A pipeline's strict mode (`null` for a heartbeat).
    pub strict: Option<bool>,
    /// A pipeline created by a dynamic stage ping (`/dhk … start=yes`): it learns its stages.
    pub dynamic: Option<bool>,
    /// A pipeline's default stage timeout, seconds.
    pub timeout_seconds: Option<u32>,
    /// A pipeline's budget per instance, USD.
    pub budget_per_instance_usd: Option<f64>,
    /// A pipeline's budget per UTC day, USD.
    pub budget_per_day_usd: Option<f64>,
    /// Created, in the brand's zone.
    pub inserted_at: Local,
    /// Last changed, in the brand's zone.
    pub updated_at: Local,
}

/// One status change.
#[derive(JsonSchema)]
pub struct MonitorFlipItem {
    /// The status before.
    pub from: MonitorStatusValue,
    /// The status after.
    pub to: MonitorStatusValue,
    /// When it changed.
    pub at: Local,
    /// A deadline's change: the deadline that expired (`at − deadline_at` is how late the
    /// change was noticed).
    pub deadline_at: Option<Local>,
    /// `ping`, `deadline`, `pause`, `resume` or `update`.
    pub cause: FlipCauseValue,
    /// The signal raised, if any.
    pub signal: Option<SignalValue>,
}

/// A monitor with its ping URL and recent status changes.
#[derive(JsonSchema)]
pub struct MonitorDetail {
    /// The monitor's id.
    pub monitor_uuid: Uuid,
    /// Its name.
    pub monitor_name: String,
    /// `heartbeat` or `pipeline`.
    pub kind: MonitorKindValue,
    /// Its slug.
    pub slug: String,
    /// The path of its ping URL: `/ping/<token>`.
    pub ping_url: String,
    /// `new`, `up`, `late`, `down` or `paused`.
    pub status: MonitorStatusValue,
    /// The interval period, seconds.
    pub interval_seconds: Option<u32>,
    /// The cron period's expression.
    pub cron_expression: Option<String>,
    /// The cron period's zone.
    pub cron_timezone: Option<String>,
    /// Grace, seconds (`null` for a pipeline, which has no heartbeat period).
    pub grace_seconds: Option<u32>,
    /// The last success or failure ping.
    pub last_ping_at: Option<Local>,
    /// When the next success ping is due.
    pub next_due_at: Option<Local>,
    /// When the monitor turns `down` if no ping comes.
    pub down_at: Option<Local>,
    /// When the monitor entered its status.
    pub status_since: Local,
    /// The newest status changes (at most 20), newest first.
    pub status_changes: Vec<MonitorFlipItem>,
    /// A pipeline's stages (`null` for a heartbeat).
    pub stages: Option<Vec<PipelineStageItem>>,
    /// A pipeline's strict mode (`null` for a heartbeat).
    pub strict: Option<bool>,
    /// A pipeline created by a dynamic stage ping (`/dhk … start=yes`): it learns its stages.
    pub dynamic: Option<bool>,
    /// A pipeline's default stage timeout, seconds.
    pub timeout_seconds: Option<u32>,
    /// A pipeline's budget per instance, USD.
    pub budget_per_instance_usd: Option<f64>,
    /// A pipeline's budget per UTC day, USD.
    pub budget_per_day_usd: Option<f64>,
}

/// A pipeline's listed stage.
#[derive(JsonSchema)]
pub struct PipelineStageItem {
    /// Its path: `1`, `2`, or hierarchical such as `2.1`.
    pub path: String,
    /// Its name.
    pub name: Option<String>,
    /// The time allowed to reach it after the previous stage, seconds (else the pipeline's).
    pub timeout_seconds: Option<u32>,
}

string_schema!(
    /// A pipeline instance's status.
    InstanceStatusValue => {"type": "string", "enum": ["pending", "running", "stalled", "completed", "abandoned"]}
);

/// One stage ping of an instance.
#[derive(JsonSchema)]
pub struct PipelineStageEventItem {
    /// Its 0-based position in the instance's history.
    pub step: u32,
    /// The stage's path.
    pub stage_path: String,
    /// The stage's label.
    pub stage_name: Option<String>,
    /// Accepted (`false`: refused by strict mode).
    pub accepted: bool,
    /// Reached after no later stage (non-strict mode accepts stages out of order).
    pub in_order: bool,
    /// Why it was refused.
    pub refusal: Option<String>,
    /// When it arrived.
    pub at: Local,
    /// Time since the previous accepted stage (the instance's start for the first), ms.
    pub elapsed_ms: i64,
    /// The agent named by the ping.
    pub agent: Option<String>,
    /// The model named by the ping.
    pub model_id: Option<String>,
    /// Input tokens.
    pub tokens_in: Option<u64>,
    /// Output tokens.
    pub tokens_out: Option<u64>,
    /// Cost, USD.
    pub cost_usd: Option<f64>,
}

/// One instance of a pipeline.
#[derive(JsonSchema)]
pub struct PipelineInstanceItem {
    /// The instance's id (PingPulse's `instance_id`).
    pub instance_uuid: Uuid,
    /// `pending` (a rerun before its first stage), `running`, `stalled`, `completed` or
    /// `abandoned` (a new instance was opened before it completed).
    pub status: InstanceStatusValue,
    /// Created.
    pub created_at: Local,
    /// Its first accepted stage.
    pub started_at: Option<Local>,
    /// Completed or abandoned.
    pub ended_at: Option<Local>,
    /// The furthest stage reached.
    pub furthest_stage: Option<String>,
    /// When it turns `stalled` unless the next stage arrives.
    pub stall_at: Option<Local>,
    /// When it last turned `stalled`.
    pub stalled_at: Option<Local>,
    /// Why it stalled or was abandoned.
    pub failure_reason: Option<String>,
    /// Stage pings in all (the first 500 are listed).
    pub events_total: u32,
    /// Stage pings refused (strict mode).
    pub refused_total: u32,
    /// Total cost, USD.
    pub cost_usd: f64,
    /// Total input tokens.
    pub tokens_in: u64,
    /// Total output tokens.
    pub tokens_out: u64,
    /// Its costs passed `budget_per_instance_usd`.
    pub budget_exceeded: bool,
    /// The instance this one reruns.
    pub rerun_of: Option<Uuid>,
    /// Its stage pings in order.
    pub stages: Vec<PipelineStageEventItem>,
}

/// `get_monitor_details`.
#[derive(JsonSchema)]
pub struct MonitorDetailAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The monitor.
    pub data: MonitorDetail,
}

/// One ping of a monitor's history.
#[derive(JsonSchema)]
pub struct PingItem {
    /// The ping's id.
    pub ping_uuid: Uuid,
    /// `success`, `start` or `fail`.
    pub kind: PingKindValue,
    /// The exit status of an exit-status ping.
    pub exit_status: Option<u8>,
    /// The run id (`?rid=`).
    pub rid: Option<String>,
    /// `GET`, `POST` or `HEAD`.
    pub method: PingMethodValue,
    /// `token` or `slug`: which URL form was used.
    pub via: String,
    /// The sender's address.
    pub client_ip: Option<String>,
    /// The sender's `User-Agent` (first 256 characters).
    pub user_agent: Option<String>,
    /// The body's first 10 KiB, as text.
    pub body: String,
    /// The body's full length, bytes.
    pub body_bytes: u64,
    /// Whether `body` was cut at 10 KiB.
    pub body_truncated: bool,
    /// An end ping paired with its start: the run's duration, ms.
    pub duration_ms: Option<i64>,
    /// The monitor's status after this ping.
    pub status_after: MonitorStatusValue,
    /// When it arrived.
    pub received_at: Local,
}

/// `get_ping_key`, `rotate_ping_key`.
#[derive(JsonSchema)]
pub struct PingKeyAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The brand's ping key: `/ping/<ping_key>/<slug>` addresses a monitor by slug.
    pub ping_key: String,
    /// `/ping/<ping_key>/<slug>`.
    pub ping_url_template: String,
    /// When the key was made.
    pub inserted_at: Local,
}

string_schema!(
    /// What an execution delivers to.
    ExecutionTargetValue => {"type": "string", "enum": ["webhook", "workflow", "channel"]}
);
string_schema!(
    /// A notification channel's type.
    ChannelTypeValue => {"type": "string", "enum": ["webhook", "slack", "discord", "email"]}
);
string_schema!(
    /// An alert rule's type.
    AlertRuleTypeValue => {"type": "string", "enum": ["execution_failed", "failure_rate", "lateness", "monitor_down",
        "monitor_up", "circuit_open", "approval_waiting", "budget_exceeded"]}
);
string_schema!(
    /// What became of an alert: sent, or suppressed by its rule's cooldown.
    AlertOutcomeValue => {"type": "string", "enum": ["sent", "suppressed"]}
);

/// A notification channel.
#[derive(JsonSchema)]
pub struct ChannelView {
    /// The channel's id.
    pub channel_uuid: Uuid,
    /// Its name.
    pub channel_name: String,
    /// `webhook`, `slack`, `discord` or `email`.
    #[serde(rename = "type")]
    pub kind: ChannelTypeValue,
    /// The URL's origin (`scheme://host[:port]`); the full URL is never shown.
    pub url_origin: Option<String>,
    /// An email channel's recipients, comma-separated.
    pub email_to: Option<String>,
    /// A `webhook` channel's Standard Webhooks signing secret (`add_notification_channel`
    /// and `get_notification_channel_details` only).
    pub signing_secret: Option<String>,
    /// Created, in the brand's zone.
    pub inserted_at: Local,
    /// Last changed, in the brand's zone.
    pub updated_at: Local,
}

/// `add_notification_channel`, `update_notification_channel`.
#[derive(JsonSchema)]
pub struct ChannelChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The channel's id.
    pub channel_uuid: Uuid,
    /// The channel.
    pub data: ChannelView,
}

/// `get_notification_channel_details`.
#[derive(JsonSchema)]
pub struct ChannelAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The channel.
    pub data: ChannelView,
}

/// `delete_notification_channel`.
#[derive(JsonSchema)]
pub struct ChannelDeleted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The channel's id.
    pub channel_uuid: Uuid,
}

/// `test_notification_channel`.
#[derive(JsonSchema)]
pub struct ChannelTested {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The channel's id.
    pub channel_uuid: Uuid,
    /// The send (an execution with the channel's retries; see `get_execution_details`).
    pub execution_uuid: Uuid,
}

/// An alert rule.
#[derive(JsonSchema)]
pub struct AlertRuleView {
    /// The rule's id.
    pub alert_rule_uuid: Uuid,
    /// Its type.
    pub rule_type: AlertRuleTypeValue,
    /// The channels it alerts.
    pub channel_uuids: Vec<Uuid>,
    /// The watched monitor, if any.
    pub monitor_uuid: Option<Uuid>,
    /// The watched domain, if any.
    pub domain_uuid: Option<Uuid>,
    /// The watched webhook template, if any.
    pub webhook_uuid: Option<Uuid>,
    /// The watched workflow, if any.
    pub workflow_uuid: Option<Uuid>,
    /// The watched schedule, if any.
    pub schedule_uuid: Option<Uuid>,
    /// `failure_rate`: the threshold, %.
    pub threshold_percent: Option<u32>,
    /// `failure_rate`, `lateness`: the window, seconds.
    pub window_seconds: Option<u32>,
    /// `failure_rate`, `lateness`: the minimum count.
    pub min_count: Option<u32>,
    /// `lateness`: the p99 bound, ms.
    pub lateness_ms: Option<u64>,
    /// `approval_waiting`: the wait, seconds.
    pub waiting_seconds: Option<u32>,
    /// The cooldown, seconds.
    pub cooldown_seconds: u32,
    /// Created, in the brand's zone.
    pub inserted_at: Local,
    /// Last changed, in the brand's zone.
    pub updated_at: Local,
}

/// `add_alert_rule`, `update_alert_rule`.
#[derive(JsonSchema)]
pub struct AlertRuleChanged {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The rule's id.
    pub alert_rule_uuid: Uuid,
    /// The rule.
    pub data: AlertRuleView,
}

/// `get_alert_rule_details`.
#[derive(JsonSchema)]
pub struct AlertRuleAnswer {
    /// Always `true` on a success answer.
    pub success: bool,
    /// The rule.
    pub data: AlertRuleView,
}

/// `delete_alert_rule`.
#[derive(JsonSchema)]
pub struct AlertRuleDeleted {
    /// Always `true` on a success answer.
    pub success: bool,
    /// What was done, in words.
    pub details: String,
    /// The rule's id.
    pub alert_rule_uuid: Uuid,
}

/// One alert of the history.
#[derive(JsonSchema)]
pub struct AlertItem {
    /// The alert's id (also `alert_uuid` in the payload channels receive).
    pub alert_uuid: Uuid,
    /// The rule that matched.
    pub alert_rule_uuid: Uuid,
    /// The rule's type.
    pub rule_type: AlertRuleTypeValue,
    /// `sent` or `suppressed` (cooldown).
    pub outcome: AlertOutcomeValue,
    /// What happened, in words.
    pub summary: String,
    /// The signal: `kind` and the ids it concerns.
    pub signal: Map<String, Value>,
    /// The rule's channels.
    pub channel_uuids: Vec<Uuid>,
    /// The channel sends (executions; empty when suppressed).
    pub execution_uuids: Vec<Uuid>,
    /// When the signal was raised.
    pub raised_at: Local,
    /// When the rule was applied.
    pub inserted_at: Local,
}
