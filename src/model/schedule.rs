//! Schedules and executions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{BrandId, ExecutionId, RuleId, ScheduleId};
use crate::schedule::Driver;
use crate::schedule::debounce::DebounceState;
use crate::schedule::rules::Rule;
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Webhook,
    Workflow,
    /// A notification channel's alert send (`target_id` is the channel's id); never a
    /// schedule's or an API caller's target.
    Channel,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Workflow => "workflow",
            TargetKind::Channel => "channel",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(TargetKind::Webhook),
            "workflow" => Some(TargetKind::Workflow),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleStatus {
    Active,
    Paused,
    Completed,
    Expired,
    Inactive,
}

impl ScheduleStatus {
    pub const ALL: [ScheduleStatus; 5] = [
        ScheduleStatus::Active,
        ScheduleStatus::Paused,
        ScheduleStatus::Completed,
        ScheduleStatus::Expired,
        ScheduleStatus::Inactive,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleStatus::Active => "active",
            ScheduleStatus::Paused => "paused",
            ScheduleStatus::Completed => "completed",
            ScheduleStatus::Expired => "expired",
            ScheduleStatus::Inactive => "inactive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// `completed` and `expired` are final.
    pub fn is_final(self) -> bool {
        matches!(self, ScheduleStatus::Completed | ScheduleStatus::Expired)
    }
}

/// What happens to instants that came due while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// One catch-up fire for the newest missed instant, if within the grace period.
    FireOnce,
    Skip,
    /// Every missed instant, the newest [`FIRE_ALL_MAX`] of them.
    FireAll,
}

/// Most catch-up fires `fire_all` makes for one schedule.
pub const FIRE_ALL_MAX: usize = 100;

impl MisfirePolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fire_once" => Some(MisfirePolicy::FireOnce),
            "skip" => Some(MisfirePolicy::Skip),
            "fire_all" => Some(MisfirePolicy::FireAll),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MisfirePolicy::FireOnce => "fire_once",
            MisfirePolicy::Skip => "skip",
            MisfirePolicy::FireAll => "fire_all",
        }
    }
}

/// What a recurring schedule does when its previous execution is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    Allow,
    Skip,
    BufferOne,
}

impl OverlapPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(OverlapPolicy::Allow),
            "skip" => Some(OverlapPolicy::Skip),
            "buffer_one" => Some(OverlapPolicy::BufferOne),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::Allow => "allow",
            OverlapPolicy::Skip => "skip",
            OverlapPolicy::BufferOne => "buffer_one",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRule {
    pub id: RuleId,
    pub rule: Rule,
    pub created_ms: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: ScheduleId,
    pub brand: BrandId,
    pub name: Option<String>,
    pub target_kind: TargetKind,
    pub target_id: Uuid,
    pub driver: Driver,
    pub initial_context: Map<String, Value>,
    pub misfire: MisfirePolicy,
    pub misfire_grace_seconds: u32,
    pub overlap: OverlapPolicy,
    pub jitter_seconds: u32,
    pub status: ScheduleStatus,
    pub reason: Option<String>,
    pub rules: Vec<ScheduleRule>,
    /// The cursor: the next scheduled instant (before jitter) that has not fired yet.
    pub next_fire_ms: Option<Millis>,
    pub last_run_ms: Option<Millis>,
    /// Runs that happened (skipped and missed instants do not count).
    pub total_triggered: u64,
    pub debounce: DebounceState,
    /// `buffer_one` overlap: an instant waiting for the running execution to finish.
    pub buffered_ms: Option<Millis>,
    /// Bumped by every write; a fire commits only against the version it was computed from.
    pub version: u64,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

impl Schedule {
    /// When the schedule's timer should go off: the cursor plus its jitter, if it is active.
    pub fn timer_deadline(&self) -> Option<Millis> {
        if self.status != ScheduleStatus::Active {
            return None;
        }
        let at = self.next_fire_ms?;
        Some(at + jitter_ms(&fire_idempotency_key(self.id, at), self.jitter_seconds))
    }

    /// The zone used to show this schedule's times: the driver's, else the brand's.
    pub fn display_zone<'a>(&'a self, brand_zone: &'a str) -> &'a str {
        self.driver.zone().unwrap_or(brand_zone)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Missed,
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Pending,
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Skipped,
        ExecutionStatus::Missed,
        ExecutionStatus::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Pending => "pending",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Skipped => "skipped",
            ExecutionStatus::Missed => "missed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
    pub fn is_finished(self) -> bool {
        !matches!(self, ExecutionStatus::Pending | ExecutionStatus::Running)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
    Debounce,
    /// An inbound event matched a subscription (`Execution::event`).
    Event,
    /// An alert rule sent to a notification channel (or `test_notification_channel`).
    Alert,
}

/// One HTTP attempt of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub n: u32,
    pub started_ms: Millis,
    pub latency_ms: i64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// The request as sent, with secrets shown as `{{ #key }}`.
    pub request: Value,
    pub response_excerpt: Option<String>,
    /// The response parsed as JSON (workflow steps read it; not shown in the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub brand: BrandId,
    pub schedule: Option<ScheduleId>,
    pub target_kind: TargetKind,
    pub target_id: Uuid,
    pub trigger: Trigger,
    /// The scheduled instant (before jitter); for manual runs, the request time.
    pub scheduled_ms: Millis,
    /// When it was due: scheduled instant plus jitter.
    pub due_ms: Millis,
    /// Stable across attempts and restarts: schedule id + scheduled instant.
    pub idempotency_key: String,
    pub status: ExecutionStatus,
    pub context: Map<String, Value>,
    /// The rule that blocked a skipped fire, or why it was skipped/missed.
    pub skipped_rule: Option<RuleId>,
    pub reason: Option<String>,
    pub attempts: Vec<Attempt>,
    /// First request start minus the scheduled instant.
    pub lateness_ms: Option<i64>,
    /// When the next attempt is due (a retry waiting for its backoff).
    #[serde(default)]
    pub next_attempt_ms: Option<Millis>,
    /// The failed execution this one re-runs (`retry_execution`).
    #[serde(default)]
    pub retry_of: Option<ExecutionId>,
    /// For a workflow step's delivery: which run and visit it belongs to.
    #[serde(default)]
    pub step: Option<StepRef>,
    /// For an event's execution: the event and the subscription that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<super::EventRef>,
    pub created_ms: Millis,
    pub finished_ms: Option<Millis>,
}

impl Execution {
    /// A new pending execution run by hand (API), due now, with a fresh id and its own
    /// idempotency key. Handlers use it; code that must be deterministic uses
    /// [`Execution::manual_as`].
    pub fn manual(
        brand: BrandId,
        schedule: Option<ScheduleId>,
        target: (TargetKind, Uuid),
        context: Map<String, Value>,
        now: Millis,
    ) -> Execution {
        Execution::manual_as(ExecutionId::new(), brand, schedule, target, context, now)
    }

    /// [`Execution::manual`] with the id chosen by the caller.
    pub fn manual_as(
        id: ExecutionId,
        brand: BrandId,
        schedule: Option<ScheduleId>,
        target: (TargetKind, Uuid),
        context: Map<String, Value>,
        now: Millis,
    ) -> Execution {
        Execution {
            id,
            brand,
            schedule,
            target_kind: target.0,
            target_id: target.1,
            trigger: Trigger::Manual,
            scheduled_ms: now,
            due_ms: now,
            idempotency_key: format!("hw_manual_{}", id.0.simple()),
            status: ExecutionStatus::Pending,
            context,
            skipped_rule: None,
            reason: None,
            attempts: Vec::new(),
            lateness_ms: None,
            next_attempt_ms: None,
            retry_of: None,
            step: None,
            event: None,
            created_ms: now,
            finished_ms: None,
        }
    }
}

/// The workflow step an execution delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRef {
    pub run: ExecutionId,
    pub workflow: super::WorkflowId,
    pub step: super::StepId,
    pub visit: usize,
}

/// The idempotency key of a schedule's fire: derived only from the schedule and the instant,
/// so every attempt, and a re-fire after a crash, carries the same one.
pub fn fire_idempotency_key(schedule: ScheduleId, instant: Millis) -> String {
    format!("hw_{}_{}", schedule.0.simple(), instant)
}

/// Deterministic jitter in `[0, jitter_seconds)` seconds (milliseconds), from the key.
pub fn jitter_ms(key: &str, jitter_seconds: u32) -> i64 {
    if jitter_seconds == 0 {
        return 0;
    }
    use sha2::Digest;
    let h = sha2::Sha256::digest(key.as_bytes());
    let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
    (n % (u64::from(jitter_seconds) * 1000)) as i64
}
