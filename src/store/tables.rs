//! Table definitions. Every table maps bytes to bytes; keys are built from fixed-width ids so
//! that a brand's objects sit in one contiguous, creation-ordered key range.

use redb::TableDefinition;

pub type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// Store-wide records: schema version, vault key check.
pub const META: Bytes = TableDefinition::new("meta");
pub const META_SCHEMA_VERSION: &[u8] = b"schema_version";
pub const META_VAULT_CHECK: &[u8] = b"vault_check";
/// Written by the writer's recovery probe (a small real commit after an I/O fault).
pub const META_WRITE_PROBE: &[u8] = b"write_probe";

/// brand id (16) -> Brand
pub const BRANDS: Bytes = TableDefinition::new("brands");
/// key id (16) -> ApiKey
pub const API_KEYS: Bytes = TableDefinition::new("api_keys");
/// SHA-256 of the key (32) -> key id (16)
pub const API_KEY_HASH: Bytes = TableDefinition::new("api_key_hash");
/// brand (16) + domain id (16) -> Domain
pub const DOMAINS: Bytes = TableDefinition::new("domains");
/// brand (16) + "proto://host" -> domain id (16); uniqueness of a brand's domains
pub const DOMAIN_NAMES: Bytes = TableDefinition::new("domain_names");
/// brand (16) + domain id (16) -> DomainCircuit; the circuit breaker's state, written at each
/// transition (absent: closed, never used)
pub const DOMAIN_CIRCUITS: Bytes = TableDefinition::new("domain_circuits");
/// brand (16) + template id (16) -> WebhookTemplate
pub const TEMPLATES: Bytes = TableDefinition::new("templates");
/// brand (16) + domain id (16) + template id (16) -> empty; who uses a domain
pub const TEMPLATE_BY_DOMAIN: Bytes = TableDefinition::new("template_by_domain");
/// brand (16) + secret id (16) -> Secret (value sealed)
pub const SECRETS: Bytes = TableDefinition::new("secrets");
/// brand (16) + secret key name -> secret id (16)
pub const SECRET_NAMES: Bytes = TableDefinition::new("secret_names");
/// brand (16) + SHA-256(Idempotency-Key) (32) -> IdempotentReply
pub const IDEMPOTENCY: Bytes = TableDefinition::new("idempotency");

/// Two kinds of entry (schema 6):
/// - brand (16) + schedule id (16) -> Schedule (driver, rules, cursor, debounce state);
/// - brand (16) + schedule id (16) + !execution id (16, every bit flipped) -> the execution's
///   scheduled instant (i64 LE): the schedule's executions, newest first right after its
///   record, so that a fire's record and its row share a B-tree leaf
///   (`ops::index::schedule_row_key`). They stay when the schedule is deleted.
///
/// A walk over the records seeks past each schedule's rows (`ops::schedules::scan_records`).
pub const SCHEDULES: Bytes = TableDefinition::new("schedules");
/// brand (16) + schedule id (16) -> empty; every schedule, for the unfiltered list (schema 6)
pub const SCHEDULE_IDS: Bytes = TableDefinition::new("schedule_ids");
/// brand (16) + schedule id (16) -> timer deadline (i64 LE ms): every active schedule with a
/// next fire, so a restart re-arms without decoding schedule records
pub const ARMED_SCHEDULES: Bytes = TableDefinition::new("armed_schedules");
/// brand (16) + target id (16) + schedule id (16) -> empty; schedules of a template/workflow
pub const SCHEDULE_BY_TARGET: Bytes = TableDefinition::new("schedule_by_target");
/// brand (16) + status code (1) + schedule id (16) -> empty; schema 2
pub const SCHEDULES_BY_STATUS: Bytes = TableDefinition::new("schedules_by_status");
/// brand (16) + execution id (16) -> Execution
pub const EXECUTIONS: Bytes = TableDefinition::new("executions");
/// brand (16) + schedule id (16) + execution id (16) -> empty (schema 2 to 5: the value is
/// the scheduled instant, i64 LE). Schema 1 to 5 only: the 5 → 6 migration moves its rows
/// into [`SCHEDULES`] and deletes it.
pub const EXECUTIONS_BY_SCHEDULE: Bytes = TableDefinition::new("executions_by_schedule");
/// execution id (16) -> brand (16); executions not finished yet. Schema 2 only: the 2 → 3
/// migration deletes it, as `exec_by_status` holds the same rows (`ops::index`).
pub const PENDING_EXECUTIONS: Bytes = TableDefinition::new("pending_executions");
/// brand (16) + status code (1) + execution id (16) -> scheduled instant (i64 LE); schema 2
pub const EXEC_BY_STATUS: Bytes = TableDefinition::new("exec_by_status");
/// brand (16) + target id (16) + execution id (16) -> scheduled instant (i64 LE); schema 2
pub const EXEC_BY_TARGET: Bytes = TableDefinition::new("exec_by_target");
/// brand (16) + ord(scheduled instant) (8) + execution id (16) -> empty; schema 2
pub const EXEC_BY_TIME: Bytes = TableDefinition::new("exec_by_time");
/// ord(finished instant) (8) + brand (16) + execution id (16) -> empty: finished executions
/// in the order retention removes them; schema 2
pub const EXEC_EXPIRY: Bytes = TableDefinition::new("exec_expiry");
/// counter key (tag + parts, `ops::index::tag`) -> u64 LE: list totals without counting
/// records; schema 2
pub const COUNTS: Bytes = TableDefinition::new("counts");

/// domain id (16) + execution id (16) -> brand (16); executions parked because their
/// domain's in-memory queue was full (delivery.queue_memory_max), in creation order
pub const SPILLED: Bytes = TableDefinition::new("spilled");

/// brand (16) + workflow id (16) -> Workflow (steps inline)
pub const WORKFLOWS: Bytes = TableDefinition::new("workflows");
/// brand (16) + domain id (16) + workflow id (16) -> empty; workflows whose steps use a domain
pub const WORKFLOW_BY_DOMAIN: Bytes = TableDefinition::new("workflow_by_domain");
/// brand (16) + run id (= execution id) (16) -> Run
pub const RUNS: Bytes = TableDefinition::new("runs");
/// brand (16) + plan id (16) -> ApprovalPlan
pub const PLANS: Bytes = TableDefinition::new("plans");
/// brand (16) + workflow id (16) + run id (16) -> empty; schema 2
pub const RUNS_BY_WORKFLOW: Bytes = TableDefinition::new("runs_by_workflow");
/// brand (16) + plan id (16) -> empty: plans waiting for a decision; schema 2
pub const PLANS_WAITING: Bytes = TableDefinition::new("plans_waiting");

/// brand (16) + source id (16) -> Source
pub const SOURCES: Bytes = TableDefinition::new("sources");
/// SHA-256 of an ingest token (32) -> brand (16) + source id (16)
pub const SOURCE_TOKENS: Bytes = TableDefinition::new("source_tokens");
/// brand (16) + subscription id (16) -> Subscription
pub const SUBSCRIPTIONS: Bytes = TableDefinition::new("subscriptions");
/// brand (16) + event id (16) -> Event (accepted, rejected and duplicate requests)
pub const EVENTS: Bytes = TableDefinition::new("events");
/// brand (16) + source id (16; zeros: `send_event`) + event id (16) -> empty; schema 2
pub const EVENTS_BY_SOURCE: Bytes = TableDefinition::new("events_by_source");
/// brand (16) + status code (1) + event id (16) -> empty; schema 2
pub const EVENTS_BY_STATUS: Bytes = TableDefinition::new("events_by_status");
/// brand (16) + scope (16: the source id, or zeros for `send_event`) + SHA-256 of the dedup
/// key (32) -> first event id (16) + expiry (i64 LE ms)
pub const EVENT_DEDUP: Bytes = TableDefinition::new("event_dedup");
/// brand (16) + job id (16) -> Job (replays, bulk retries)
pub const JOBS: Bytes = TableDefinition::new("jobs");
/// job id (16) -> brand (16); jobs still running (resumed after a restart)
pub const RUNNING_JOBS: Bytes = TableDefinition::new("running_jobs");

/// brand (16) + monitor id (16) -> Monitor (configuration, sealed ping token)
pub const MONITORS: Bytes = TableDefinition::new("monitors");
/// brand (16) + monitor id (16) -> MonitorState (status, deadlines, counters; written per ping)
pub const MONITOR_STATES: Bytes = TableDefinition::new("monitor_states");
/// SHA-256 of a ping token (32) -> brand (16) + monitor id (16)
pub const MONITOR_TOKENS: Bytes = TableDefinition::new("monitor_tokens");
/// brand (16) + slug -> monitor id (16); uniqueness of a brand's slugs
pub const MONITOR_SLUGS: Bytes = TableDefinition::new("monitor_slugs");
/// brand (16) + monitor id (16) + ping id (16, v7) -> Ping; the newest PINGS_KEPT_MAX
pub const MONITOR_PINGS: Bytes = TableDefinition::new("monitor_pings");
/// brand (16) + monitor id (16) + sequence (u64 BE) -> Flip; the newest FLIPS_KEPT_MAX
pub const MONITOR_FLIPS: Bytes = TableDefinition::new("monitor_flips");
/// brand (16) + monitor id (16) -> next deadline (i64 LE ms): every monitor with a timer, so a
/// restart re-arms without decoding monitor records
pub const ARMED_MONITORS: Bytes = TableDefinition::new("armed_monitors");
/// brand (16) + monitor id (16) -> PipelineState (current instance, counters, day budget)
pub const PIPELINE_STATES: Bytes = TableDefinition::new("pipeline_states");
/// brand (16) + monitor id (16) + instance id (16, v7) -> pipeline Instance (with its stage
/// events); the newest INSTANCES_KEPT_MAX per monitor
pub const PIPELINE_INSTANCES: Bytes = TableDefinition::new("pipeline_instances");
/// brand (16) + instance id (16) -> monitor id (16); finds an instance by its id alone
pub const PIPELINE_INSTANCE_IDS: Bytes = TableDefinition::new("pipeline_instance_ids");
/// brand (16) -> PingKey
pub const PING_KEYS: Bytes = TableDefinition::new("ping_keys");
/// SHA-256 of a ping key (32) -> brand (16)
pub const PING_KEY_HASH: Bytes = TableDefinition::new("ping_key_hash");

/// brand (16) + channel id (16) -> NotificationChannel (URL sealed)
pub const NOTIFICATION_CHANNELS: Bytes = TableDefinition::new("notification_channels");
/// brand (16) + alert rule id (16) -> AlertRule
pub const ALERT_RULES: Bytes = TableDefinition::new("alert_rules");
/// brand (16) + channel id (16) + alert rule id (16) -> empty; which rules use a channel
pub const ALERT_RULE_BY_CHANNEL: Bytes = TableDefinition::new("alert_rule_by_channel");
/// brand (16) + alert id (16, v7) -> AlertRecord; the newest ALERTS_KEPT_MAX per brand
pub const ALERTS: Bytes = TableDefinition::new("alerts");
/// brand (16) -> alerts in the history (u64 LE)
pub const ALERT_COUNTS: Bytes = TableDefinition::new("alert_counts");
/// outbox id (16, v7) -> OutboxSignal; raised signals the alert worker has not applied yet
pub const ALERT_OUTBOX: Bytes = TableDefinition::new("alert_outbox");
/// brand (16) + alert rule id (16) + subject id (16) -> last alert sent (i64 LE ms)
pub const ALERT_COOLDOWNS: Bytes = TableDefinition::new("alert_cooldowns");
/// brand (16) + alert rule id (16) + plan id (16) -> empty; approval_waiting raised once per
/// rule and plan
pub const ALERT_APPROVAL_MARKS: Bytes = TableDefinition::new("alert_approval_marks");

/// Every table, for creation on open and for backups.
pub const ALL_TABLES: &[Bytes] = &[
    META,
    BRANDS,
    API_KEYS,
    API_KEY_HASH,
    DOMAINS,
    DOMAIN_NAMES,
    DOMAIN_CIRCUITS,
    TEMPLATES,
    TEMPLATE_BY_DOMAIN,
    SECRETS,
    SECRET_NAMES,
    IDEMPOTENCY,
    SCHEDULES,
    ARMED_SCHEDULES,
    SCHEDULE_BY_TARGET,
    SCHEDULES_BY_STATUS,
    SCHEDULE_IDS,
    EXECUTIONS,
    EXEC_BY_STATUS,
    EXEC_BY_TARGET,
    EXEC_BY_TIME,
    EXEC_EXPIRY,
    COUNTS,
    SPILLED,
    WORKFLOWS,
    WORKFLOW_BY_DOMAIN,
    RUNS,
    PLANS,
    RUNS_BY_WORKFLOW,
    PLANS_WAITING,
    SOURCES,
    SOURCE_TOKENS,
    SUBSCRIPTIONS,
    EVENTS,
    EVENTS_BY_SOURCE,
    EVENTS_BY_STATUS,
    EVENT_DEDUP,
    JOBS,
    RUNNING_JOBS,
    MONITORS,
    MONITOR_STATES,
    MONITOR_TOKENS,
    MONITOR_SLUGS,
    MONITOR_PINGS,
    MONITOR_FLIPS,
    ARMED_MONITORS,
    PIPELINE_STATES,
    PIPELINE_INSTANCES,
    PIPELINE_INSTANCE_IDS,
    PING_KEYS,
    PING_KEY_HASH,
    NOTIFICATION_CHANNELS,
    ALERT_RULES,
    ALERT_RULE_BY_CHANNEL,
    ALERTS,
    ALERT_COUNTS,
    ALERT_OUTBOX,
    ALERT_COOLDOWNS,
    ALERT_APPROVAL_MARKS,
];

/// Concatenates key parts.
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}
