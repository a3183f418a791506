//! Pipeline monitors, the pure core: a pipeline is a list of stages; a run of it is an
//! **instance**, opened by its first stage and advanced by the next ones (PingPulse's stage
//! pings, product.md §11).
//!
//! Semantics (PingPulse's static and dynamic workflows where product.md §11 is silent):
//!
//! - **Stages** have paths: `1`, `2`, `3` for a list of stages, or hierarchical paths such as
//!   `2.1` and `3.4.2`. Paths compare numerically segment by segment (`2` < `2.1` < `2.10` <
//!   `3`). A static pipeline lists its stages in increasing path order; a dynamic pipeline
//!   (created by `/dhk … start=yes`) has none listed and learns them from its pings.
//! - **Opening**: the first stage (or any stage with `start`) opens a new instance. One
//!   instance is current per monitor; a current instance that has not ended is then
//!   `abandoned`. A rerun instance (`pending`) is continued by the next opening ping instead.
//!   Without a current instance, a later stage opens one in non-strict mode and is refused in
//!   strict mode.
//! - **Advancing**: in strict mode the stage must be the next listed stage after the furthest
//!   one reached; anything else (a repeat, a stage out of order, a skipped stage) is refused
//!   and recorded in the instance's history as `refused`. In non-strict mode every known stage
//!   is accepted (one out of order is recorded with `in_order: false`).
//! - **Timeouts**: after a stage, the next listed stage must arrive within its
//!   `timeout_seconds` (else the pipeline's default); past that instant the instance is
//!   `stalled` (one `stalled` signal). A stalled instance is still current: a later stage
//!   continues it (`running` again, the stall stays in its record).
//! - **Completion**: the last listed stage, or any stage with `final`, completes the instance.
//! - **Costs**: a stage ping may carry `model_id`, `tokens_in`, `tokens_out`, `cost_usd`; an
//!   instance sums them. A breach of `budget_per_instance_usd` raises `budget_exceeded` once
//!   per instance; of `budget_per_day_usd` (the monitor's accepted costs of one UTC day) once
//!   per day. Refused pings count no cost.
//!
//! Everything here takes `now` (ms since the epoch) and new ids from the caller.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// A pipeline instance's id: a UUID v7 chosen by the caller (`model` re-exports it; the pure
/// core never makes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId(pub uuid::Uuid);

impl InstanceId {
    /// Parses a hyphenated (or simple) UUID; `None` when it is not one.
    pub fn parse(s: &str) -> Option<InstanceId> {
        uuid::Uuid::parse_str(s.trim()).ok().map(InstanceId)
    }

    /// The 16 bytes of the UUID (store keys).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Most stages a pipeline lists (or a dynamic pipeline learns).
pub const STAGES_MAX: usize = 200;
/// Most dynamic pipeline monitors (created by `/dhk … start=yes`) a brand may have; a start
/// on a new slug beyond it is refused (409), so a leaked ping key cannot fill the store.
pub const DYNAMIC_PIPELINES_PER_BRAND_MAX: usize = 1_000;
/// Most segments of a hierarchical stage path.
pub const PATH_SEGMENTS_MAX: usize = 8;
/// Longest stage timeout, seconds (7 days).
pub const TIMEOUT_SECONDS_MAX: u32 = 604_800;
/// Stage events kept per instance (later ones count in `events_total` only).
pub const EVENTS_KEPT_MAX: usize = 500;
/// One UTC day, ms.
const DAY_MS: i64 = 86_400_000;
/// Largest `cost_usd` one stage ping may carry, USD (larger ones are refused at the API).
pub const STAGE_COST_USD_MAX: f64 = 1_000_000.0;
/// Largest `tokens_in` / `tokens_out` one stage ping may carry (10^12).
pub const STAGE_TOKENS_MAX: u64 = 1_000_000_000_000;
/// Largest budget (`budget_per_instance_usd`, `budget_per_day_usd`), USD.
pub const BUDGET_USD_MAX: f64 = 1_000_000_000.0;
/// Cap of a running cost total (an instance's, a day's), USD: sums saturate here so a stored
/// total is always finite (JSON has no infinity).
pub const COST_TOTAL_USD_MAX: f64 = 1e15;

/// `total + add`, saturating at [`COST_TOTAL_USD_MAX`]; a non-finite or negative `add` adds
/// nothing, a non-finite `total` (an old record) counts as the cap.
pub fn add_cost(total: f64, add: f64) -> f64 {
    let total = if total.is_finite() { total.max(0.0) } else { COST_TOTAL_USD_MAX };
    let add = if add.is_finite() && add > 0.0 { add.min(STAGE_COST_USD_MAX) } else { 0.0 };
    (total + add).min(COST_TOTAL_USD_MAX)
}

/// A stage path: `1`, `2.1`, `3.4.2`; each segment 1 to 2^32-1. Ordered numerically by
/// segments (the derived order of the segment vector).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StagePath(pub Vec<u32>);

impl Default for StagePath {
    /// Stage 1.
    fn default() -> Self {
        StagePath(vec![1])
    }
}

impl StagePath {
    /// Parses `2.1`; `None` for an empty segment, a zero, a non-digit or too many segments.
    pub fn parse(s: &str) -> Option<StagePath> {
        let mut out = Vec::new();
        for seg in s.trim().split('.') {
            if seg.is_empty() || seg.len() > 9 || !seg.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u32 = seg.parse().ok()?;
            if n == 0 {
                return None;
            }
            out.push(n);
        }
        if out.len() > PATH_SEGMENTS_MAX { None } else { Some(StagePath(out)) }
    }

    /// The path of the `n`th (1-based) listed stage of a flat pipeline.
    pub fn nth(n: u32) -> StagePath {
        StagePath(vec![n])
    }
}

/// What a stage path looks like, for error messages.
pub const PATH_SHAPE: &str = "a stage path such as \"2.1\": 1 to 8 numbers of 1 to 999999999, joined by dots";

/// A stage text that is made like a path (digits, dots, signs) but is not a valid one (`0`,
/// `-1`, `1..2`, nine segments, a segment of ten digits), or is empty: a malformed request
/// (400 naming the stage field), never an unknown stage (404). Stage names cannot look like
/// paths ([`Spec::validate`]), so this needs no spec.
pub fn malformed_path(stage: &str) -> bool {
    let t = stage.trim();
    t.is_empty()
        || (t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+')) && StagePath::parse(t).is_none())
}

impl fmt::Display for StagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// One listed stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub path: StagePath,
    pub name: Option<String>,
    /// How long this stage may take to arrive after the previous one, seconds (default: the
    /// pipeline's `timeout_seconds`).
    pub timeout_seconds: Option<u32>,
}

/// A pipeline's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// In increasing path order; empty for a dynamic pipeline.
    pub stages: Vec<Stage>,
    pub strict: bool,
    /// Learns its stages from its pings (`/dhk`); no stage is unknown, none is last.
    pub dynamic: bool,
    /// Default time allowed for the next stage, seconds; `None`: no stall detection.
    pub timeout_seconds: Option<u32>,
    pub budget_per_instance_usd: Option<f64>,
    pub budget_per_day_usd: Option<f64>,
}

/// Why a spec was refused; names the API field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// `stages[2].timeout_seconds`, `budget_per_day_usd`, …
    pub field: String,
    pub why: String,
}

impl Spec {
    /// Checks the stage list (non-empty unless dynamic, increasing paths, at most
    /// [`STAGES_MAX`], unique names), timeouts and budgets.
    pub fn validate(&self) -> Result<(), SpecError> {
        let err = |field: &str, why: &str| Err(SpecError { field: field.to_string(), why: why.to_string() });
        if !self.dynamic && self.stages.is_empty() {
            return err("stages", "a pipeline needs at least one stage");
        }
        if self.stages.len() > STAGES_MAX {
            return err("stages", &format!("at most {STAGES_MAX} stages"));
        }
        for (i, w) in self.stages.windows(2).enumerate() {
            if w[0].path >= w[1].path {
                return err(
                    &format!("stages[{}].path", i + 1),
                    &format!("stage paths must increase in the order listed ({} after {})", w[1].path, w[0].path),
                );
            }
        }
        for (i, s) in self.stages.iter().enumerate() {
            if let Some(n) = &s.name {
                let field = format!("stages[{i}].name");
                if self.stages[..i].iter().any(|o| o.name.as_ref() == Some(n)) {
                    return err(&field, &format!("stage name {n:?} is listed twice"));
                }
                if n.contains('/') {
                    return err(&field, "a stage name has no `/`");
                }
                // A name made like a path would be read as one: only the stage's own path.
                if n.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'))
                    && StagePath::parse(n).as_ref() != Some(&s.path)
                {
                    return err(
                        &field,
                        &format!(
                            "stage name {n:?} reads as a stage path; a name of digits and dots may only be the \
                             stage's own path ({})",
                            s.path
                        ),
                    );
                }
            }
            if s.timeout_seconds.is_some_and(|t| t == 0 || t > TIMEOUT_SECONDS_MAX) {
                return err(&format!("stages[{i}].timeout_seconds"), &format!("1 to {TIMEOUT_SECONDS_MAX}"));
            }
        }
        if self.timeout_seconds.is_some_and(|t| t == 0 || t > TIMEOUT_SECONDS_MAX) {
            return err("timeout_seconds", &format!("1 to {TIMEOUT_SECONDS_MAX}"));
        }
        for (field, b) in
            [("budget_per_instance_usd", self.budget_per_instance_usd), ("budget_per_day_usd", self.budget_per_day_usd)]
        {
            if b.is_some_and(|b| !b.is_finite() || b <= 0.0 || b > BUDGET_USD_MAX) {
                return err(field, &format!("a positive amount in USD, at most {BUDGET_USD_MAX}"));
            }
        }
        Ok(())
    }

    /// The listed stage a ping names: by name, else by path (`3`, `2.1`).
    pub fn find(&self, stage: &str) -> Option<&Stage> {
        if let Some(s) = self.stages.iter().find(|s| s.name.as_deref() == Some(stage)) {
            return Some(s);
        }
        let p = StagePath::parse(stage)?;
        self.stages.iter().find(|s| s.path == p)
    }

    /// The path a ping's stage text names: a listed stage by name or path; for a dynamic
    /// pipeline any valid path. `None`: no such stage.
    pub fn resolve(&self, stage: &str) -> Option<StagePath> {
        match self.find(stage) {
            Some(s) => Some(s.path.clone()),
            None if self.dynamic => StagePath::parse(stage),
            None => None,
        }
    }

    fn first(&self) -> Option<&StagePath> {
        self.stages.first().map(|s| &s.path)
    }

    fn is_first(&self, p: &StagePath) -> bool {
        match self.first() {
            Some(f) => f == p,
            // A dynamic pipeline: stage 1 opens (as `start=yes` does).
            None => p.0 == [1],
        }
    }

    fn is_last(&self, p: &StagePath) -> bool {
        !self.dynamic && self.stages.last().is_some_and(|s| &s.path == p)
    }

    /// The listed stage after `p`.
    fn next_after(&self, p: &StagePath) -> Option<&Stage> {
        self.stages.iter().find(|s| &s.path > p)
    }

    /// When the stage after `p` must have arrived, for a stage reached at `now`.
    fn stall_at(&self, p: &StagePath, now: Millis) -> Option<Millis> {
        let next = self.next_after(p);
        let t = next.and_then(|s| s.timeout_seconds).or(self.timeout_seconds)?;
        if !self.dynamic && next.is_none() {
            return None;
        }
        Some(now.saturating_add(i64::from(t) * 1000))
    }
}

/// An instance's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// A rerun waiting for its first stage.
    Pending,
    Running,
    Stalled,
    Completed,
    /// A new instance opened before this one ended.
    Abandoned,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 5] = [
        InstanceStatus::Pending,
        InstanceStatus::Running,
        InstanceStatus::Stalled,
        InstanceStatus::Completed,
        InstanceStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Pending => "pending",
            InstanceStatus::Running => "running",
            InstanceStatus::Stalled => "stalled",
            InstanceStatus::Completed => "completed",
            InstanceStatus::Abandoned => "abandoned",
        }
    }

    /// Still current: a stage ping continues it.
    pub fn is_open(self) -> bool {
        matches!(self, InstanceStatus::Pending | InstanceStatus::Running | InstanceStatus::Stalled)
    }
}

/// A stage ping's cost fields (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub model_id: Option<String>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// A stage ping as the core sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StagePing {
    pub path: StagePath,
    /// A label given with the ping (`stagename`); used only when the stage has no listed name
    /// (a listed stage keeps its own).
    pub name: Option<String>,
    /// `start=yes`: open a new instance at this stage.
    pub start: bool,
    /// `final=yes`: this stage completes the instance.
    pub final_stage: bool,
    pub agent: Option<String>,
    pub cost: Cost,
    /// The ping's other fields as text (kept with the event; already cut by the caller).
    pub payload: String,
}

/// One stage ping as recorded in its instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageEvent {
    /// 0-based position in the instance's history.
    pub step: u32,
    pub path: StagePath,
    pub name: Option<String>,
    pub accepted: bool,
    /// Accepted after a later stage (non-strict mode).
    pub in_order: bool,
    /// Why it was refused.
    pub refusal: Option<String>,
    pub at_ms: Millis,
    /// Time since the instance's previous accepted stage (its start for the first), ms.
    pub elapsed_ms: i64,
    pub agent: Option<String>,
    pub cost: Cost,
    pub payload: String,
}

/// One run of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub status: InstanceStatus,
    pub created_ms: Millis,
    /// The first accepted stage (`None` while pending).
    pub started_ms: Option<Millis>,
    /// Completed or abandoned.
    pub ended_ms: Option<Millis>,
    /// The furthest stage reached.
    pub furthest: Option<StagePath>,
    /// When it turns `stalled` (only while running).
    pub stall_at: Option<Millis>,
    /// When it last turned `stalled`.
    pub stalled_ms: Option<Millis>,
    /// While stalled: the stage it waits for.
    #[serde(default)]
    pub waiting_for: Option<StagePath>,
    pub failure_reason: Option<String>,
    pub events: Vec<StageEvent>,
    /// Stage pings in all (accepted and refused); `events` keeps the first [`EVENTS_KEPT_MAX`].
    pub events_total: u32,
    pub refused_total: u32,
    /// Accepted costs, USD; finite, at most [`COST_TOTAL_USD_MAX`].
    #[serde(deserialize_with = "total_usd")]
    pub cost_usd: f64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub budget_exceeded: bool,
    /// The instance this one reruns.
    pub rerun_of: Option<InstanceId>,
    /// A rerun's `payload_modifications`, as text.
    pub rerun_payload: Option<String>,
}

impl Instance {
    /// A new instance; `pending` until its first stage (a rerun), or opened by one.
    pub fn new(id: InstanceId, now: Millis) -> Instance {
        Instance {
            id,
            status: InstanceStatus::Pending,
            created_ms: now,
            started_ms: None,
            ended_ms: None,
            furthest: None,
            stall_at: None,
            stalled_ms: None,
            waiting_for: None,
            failure_reason: None,
            events: Vec::new(),
            events_total: 0,
            refused_total: 0,
            cost_usd: 0.0,
            tokens_in: 0,
            tokens_out: 0,
            budget_exceeded: false,
            rerun_of: None,
            rerun_payload: None,
        }
    }

    /// The first agent named by an accepted stage.
    pub fn agent(&self) -> Option<&str> {
        self.events.iter().filter(|e| e.accepted).find_map(|e| e.agent.as_deref())
    }

    fn last_accepted_ms(&self) -> Millis {
        self.events.iter().rev().find(|e| e.accepted).map_or(self.started_ms.unwrap_or(self.created_ms), |e| e.at_ms)
    }

    fn record(&mut self, p: &StagePing, name: Option<String>, refusal: Option<String>, in_order: bool, now: Millis) {
        let elapsed = now - self.last_accepted_ms();
        let event = StageEvent {
            step: self.events_total,
            path: p.path.clone(),
            name,
            accepted: refusal.is_none(),
            in_order,
            refusal,
            at_ms: now,
            elapsed_ms: elapsed.max(0),
            agent: p.agent.clone(),
            cost: p.cost.clone(),
            payload: p.payload.clone(),
        };
        self.events_total = self.events_total.saturating_add(1);
        if self.events.len() < EVENTS_KEPT_MAX {
            self.events.push(event);
        }
    }
}

/// Reads a stored cost total; `null` (an infinite sum written before totals saturated) reads
/// as the cap, so such a record still loads.
fn total_usd<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    Ok(v.filter(|x| x.is_finite()).map_or(COST_TOTAL_USD_MAX, |x| x.clamp(0.0, COST_TOTAL_USD_MAX)))
}

/// The monitor's spending in one UTC day (the per-day budget).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayBudget {
    /// Days since the epoch (UTC).
    pub day: i64,
    /// Finite, at most [`COST_TOTAL_USD_MAX`].
    #[serde(deserialize_with = "total_usd")]
    pub cost_usd: f64,
    /// `budget_exceeded` raised for this day already.
    pub signaled: bool,
}

/// A signal for the alerting layer (product.md §11–12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "signal")]
pub enum Signal {
    /// The instance did not reach `waiting_for` by its deadline.
    Stalled { instance: InstanceId, waiting_for: Option<StagePath>, deadline_ms: Millis },
    /// The instance's costs passed `budget_per_instance_usd`.
    BudgetExceededInstance { instance: InstanceId, cost_usd: f64, budget_usd: f64 },
    /// The day's costs passed `budget_per_day_usd`.
    BudgetExceededDay { day: i64, cost_usd: f64, budget_usd: f64 },
}

impl Signal {
    /// The alert's name: `stalled` or `budget_exceeded`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Signal::Stalled { .. } => "stalled",
            Signal::BudgetExceededInstance { .. } | Signal::BudgetExceededDay { .. } => "budget_exceeded",
        }
    }
}

/// Why a stage ping is refused (recorded; 409 at the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Strict mode: not the next listed stage (`expected` with its listed name; `None`: the
    /// instance has no next stage).
    OutOfOrder { expected: Option<StagePath>, name: Option<String> },
    /// Strict mode: no instance is open and this is not the first stage.
    NoInstance,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OutOfOrder { expected: Some(e), name: Some(n) } => {
                write!(f, "stage out of order: expected stage {e} ({n:?})")
            }
            Refusal::OutOfOrder { expected: Some(e), name: None } => {
                write!(f, "stage out of order: expected stage {e}")
            }
            Refusal::OutOfOrder { expected: None, .. } => f.write_str("stage out of order: the instance is complete"),
            Refusal::NoInstance => f.write_str("no instance is open; the first stage opens one"),
        }
    }
}

/// A ping that cannot be applied at all (nothing recorded; 400/404 at the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageError {
    /// A static pipeline does not list this stage.
    UnknownStage,
}

/// What a stage ping did.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOutcome {
    /// The current instance after the ping (`None`: refused with no instance open).
    pub instance: Option<Instance>,
    /// The previous current instance, now abandoned (a new one opened while it was open).
    pub abandoned: Option<Instance>,
    /// A new instance was opened (the caller's id was used).
    pub opened: bool,
    pub refused: Option<Refusal>,
    pub day: DayBudget,
    pub signals: Vec<Signal>,
}

fn day_of(now: Millis) -> i64 {
    now.div_euclid(DAY_MS)
}

/// Applies a stage ping to the monitor's current instance (`current`; any status) at `now`;
/// `new_id` names the instance it may open.
pub fn on_stage(
    spec: &Spec,
    current: Option<&Instance>,
    day: &DayBudget,
    ping: &StagePing,
    new_id: InstanceId,
    now: Millis,
) -> Result<StageOutcome, StageError> {
    let listed = spec.stages.iter().find(|s| s.path == ping.path);
    if !spec.dynamic && listed.is_none() {
        return Err(StageError::UnknownStage);
    }
    // A listed stage's name wins: `stagename` only names a stage that has none.
    let name = listed.and_then(|s| s.name.clone()).or_else(|| ping.name.clone());
    let mut day =
        if day.day == day_of(now) { day.clone() } else { DayBudget { day: day_of(now), ..DayBudget::default() } };
    let open = current.filter(|i| i.status.is_open());
    let opens = ping.start || spec.is_first(&ping.path);
    let mut out = StageOutcome {
        instance: None,
        abandoned: None,
        opened: false,
        refused: None,
        day: day.clone(),
        signals: vec![],
    };

    // Which instance the ping applies to.
    let mut inst = match open {
        Some(i) if i.status == InstanceStatus::Pending && (opens || !spec.strict) => i.clone(),
        Some(i) if opens => {
            let mut old = i.clone();
            old.status = InstanceStatus::Abandoned;
            old.ended_ms = Some(now);
            old.stall_at = None;
            old.failure_reason = Some("a new instance was opened before this one completed".into());
            out.abandoned = Some(old);
            out.opened = true;
            Instance::new(new_id, now)
        }
        None if opens || !spec.strict => {
            out.opened = true;
            Instance::new(new_id, now)
        }
        None => {
            out.refused = Some(Refusal::NoInstance);
            return Ok(out);
        }
        Some(i) => i.clone(),
    };

    // Strict order: the next listed stage after the furthest reached.
    let fresh = inst.furthest.is_none();
    if spec.strict && !fresh {
        let next = inst.furthest.as_ref().and_then(|f| spec.next_after(f));
        if next.map(|s| &s.path) != Some(&ping.path) {
            let r =
                Refusal::OutOfOrder { expected: next.map(|s| s.path.clone()), name: next.and_then(|s| s.name.clone()) };
            inst.refused_total = inst.refused_total.saturating_add(1);
            inst.record(ping, name, Some(r.to_string()), false, now);
            out.refused = Some(r);
            out.instance = Some(inst);
            return Ok(out);
        }
    } else if spec.strict && fresh && !opens {
        // A pending rerun in strict mode starts at the first stage.
        let first = spec.stages.first();
        let r =
            Refusal::OutOfOrder { expected: first.map(|s| s.path.clone()), name: first.and_then(|s| s.name.clone()) };
        inst.refused_total = inst.refused_total.saturating_add(1);
        inst.record(ping, name, Some(r.to_string()), false, now);
        out.refused = Some(r);
        out.instance = Some(inst);
        return Ok(out);
    }

    // Accepted.
    inst.waiting_for = None;
    let in_order = inst.furthest.as_ref().is_none_or(|f| &ping.path > f);
    if inst.started_ms.is_none() {
        inst.started_ms = Some(now);
    }
    inst.record(ping, name, None, in_order, now);
    if in_order {
        inst.furthest = Some(ping.path.clone());
    }
    let c = &ping.cost;
    let cost = c.cost_usd.unwrap_or(0.0);
    inst.cost_usd = add_cost(inst.cost_usd, cost);
    inst.tokens_in = inst.tokens_in.saturating_add(c.tokens_in.unwrap_or(0).min(STAGE_TOKENS_MAX));
    inst.tokens_out = inst.tokens_out.saturating_add(c.tokens_out.unwrap_or(0).min(STAGE_TOKENS_MAX));
    day.cost_usd = add_cost(day.cost_usd, cost);
    if let Some(b) = spec.budget_per_instance_usd
        && !inst.budget_exceeded
        && inst.cost_usd > b
    {
        inst.budget_exceeded = true;
        out.signals.push(Signal::BudgetExceededInstance { instance: inst.id, cost_usd: inst.cost_usd, budget_usd: b });
    }
    if let Some(b) = spec.budget_per_day_usd
        && !day.signaled
        && day.cost_usd > b
    {
        day.signaled = true;
        out.signals.push(Signal::BudgetExceededDay { day: day.day, cost_usd: day.cost_usd, budget_usd: b });
    }
    let furthest = inst.furthest.clone().unwrap_or_else(|| ping.path.clone());
    if ping.final_stage || spec.is_last(&furthest) {
        inst.status = InstanceStatus::Completed;
        inst.ended_ms = Some(now);
        inst.stall_at = None;
        inst.failure_reason = None;
    } else {
        inst.status = InstanceStatus::Running;
        if in_order {
            inst.stall_at = spec.stall_at(&furthest, now);
        }
    }
    out.day = day;
    out.instance = Some(inst);
    Ok(out)
}

/// The instance's stall timer went off at `now`: a running instance past its `stall_at`
/// turns `stalled` (one signal); anything else is unchanged (`None`).
pub fn on_deadline(spec: &Spec, inst: &Instance, now: Millis) -> Option<(Instance, Signal)> {
    let due = inst.stall_at?;
    if inst.status != InstanceStatus::Running || due > now {
        return None;
    }
    let mut i = inst.clone();
    let waiting_for = i.furthest.as_ref().and_then(|f| spec.next_after(f)).map(|s| s.path.clone());
    i.status = InstanceStatus::Stalled;
    i.stall_at = None;
    i.stalled_ms = Some(now);
    i.waiting_for = waiting_for.clone();
    i.failure_reason = Some(match &waiting_for {
        Some(p) => format!("Stage {p} timeout"),
        None => "Next stage timeout".into(),
    });
    Some((i, Signal::Stalled { instance: inst.id, waiting_for, deadline_ms: due }))
}

/// Compares two stage path texts numerically (for sorting a tree's keys); unparsable ones
/// sort last, by text.
pub fn compare_paths(a: &str, b: &str) -> Ordering {
    match (StagePath::parse(a), StagePath::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Clock, ManualClock};

    const T0: Millis = 1_780_000_000_000;

    fn id(n: u128) -> InstanceId {
        InstanceId(uuid::Uuid::from_u128(n))
    }

    fn path(s: &str) -> StagePath {
        StagePath::parse(s).unwrap()
    }

    fn flat(n: u32, strict: bool, timeout: Option<u32>) -> Spec {
        Spec {
            stages: (1..=n)
                .map(|i| Stage { path: StagePath::nth(i), name: Some(format!("s{i}")), timeout_seconds: None })
                .collect(),
            strict,
            dynamic: false,
            timeout_seconds: timeout,
            budget_per_instance_usd: None,
            budget_per_day_usd: None,
        }
    }

    fn ping(p: &str) -> StagePing {
        StagePing { path: path(p), ..StagePing::default() }
    }

    fn apply(spec: &Spec, cur: Option<&Instance>, p: &StagePing, n: u128, now: Millis) -> StageOutcome {
        on_stage(spec, cur, &DayBudget::default(), p, id(n), now).unwrap()
    }

    #[test]
    fn paths_parse_and_order_numerically_by_segment() {
        assert_eq!(path("3.4.2").to_string(), "3.4.2");
        for bad in ["", "0", "1.", ".1", "a", "1..2", "-1", "1.2.3.4.5.6.7.8.9"] {
            assert_eq!(StagePath::parse(bad), None, "{bad:?}");
            assert_eq!(malformed_path(bad), bad != "a", "{bad:?}");
        }
        for fine in ["1", "2.10", " 3 ", "ingest", "stage-1", "v1.2a"] {
            assert!(!malformed_path(fine), "{fine:?}");
        }
        assert!(malformed_path("99999999999") && malformed_path("+1"));
        let mut v = [path("10"), path("2.10"), path("2.2"), path("2"), path("1"), path("2.1")];
        v.sort();
        let s: Vec<String> = v.iter().map(|p| p.to_string()).collect();
        assert_eq!(s, ["1", "2", "2.1", "2.2", "2.10", "10"]);
        assert_eq!(compare_paths("2.10", "2.9"), Ordering::Greater);
    }

    #[test]
    fn an_instance_runs_in_order_with_timings_and_completes_at_the_last_stage() {
        let clock = ManualClock::new(T0);
        let spec = flat(3, true, Some(60));
        let o = apply(&spec, None, &ping("1"), 1, clock.now_ms());
        assert!(o.opened && o.refused.is_none());
        let i = o.instance.unwrap();
        assert_eq!((i.id, i.status, i.stall_at), (id(1), InstanceStatus::Running, Some(T0 + 60_000)));
        clock.advance(5_000);
        let i = apply(&spec, Some(&i), &ping("2"), 2, clock.now_ms()).instance.unwrap();
        assert_eq!((i.id, i.status, i.stall_at), (id(1), InstanceStatus::Running, Some(T0 + 65_000)));
        assert_eq!(i.events[1].elapsed_ms, 5_000);
        clock.advance(7_000);
        let o = apply(&spec, Some(&i), &ping("3"), 3, clock.now_ms());
        let i = o.instance.unwrap();
        assert!(!o.opened);
        assert_eq!((i.status, i.stall_at, i.ended_ms), (InstanceStatus::Completed, None, Some(T0 + 12_000)));
        assert_eq!(i.events.iter().map(|e| e.elapsed_ms).collect::<Vec<_>>(), [0, 5_000, 7_000]);
        assert_eq!(i.events.iter().map(|e| e.step).collect::<Vec<_>>(), [0, 1, 2]);
        // `stagename` does not rename a listed stage; it names one that has no name.
        let mut named = spec.clone();
        named.stages[1].name = None;
        let p = |s: &str| StagePing { path: path(s), name: Some("renamed".into()), ..StagePing::default() };
        let j = apply(&named, None, &p("1"), 9, T0).instance.unwrap();
        assert_eq!(j.events[0].name.as_deref(), Some("s1"));
        let j = apply(&named, Some(&j), &p("2"), 9, T0).instance.unwrap();
        assert_eq!(j.events[1].name.as_deref(), Some("renamed"));
        // Stages named by name resolve to their paths.
        assert_eq!(spec.find("s2").map(|s| s.path.clone()), Some(path("2")));
        assert_eq!(spec.find("3").map(|s| s.path.clone()), Some(path("3")));
        assert_eq!(spec.find("nope"), None);
    }

    #[test]
    fn strict_mode_refuses_out_of_order_and_records_it() {
        let spec = flat(3, true, None);
        let i = apply(&spec, None, &ping("1"), 1, T0).instance.unwrap();
        for bad in ["3", "1.0", "1"] {
            let Some(p) = StagePath::parse(bad) else { continue };
            let p = StagePing { path: p, ..StagePing::default() };
            if bad == "1" {
                // The first stage opens a new instance (the old one is abandoned).
                let o = apply(&spec, Some(&i), &p, 9, T0 + 1);
                assert!(o.opened);
                assert_eq!(o.abandoned.unwrap().status, InstanceStatus::Abandoned);
                continue;
            }
            let o = apply(&spec, Some(&i), &p, 2, T0 + 1);
            assert_eq!(o.refused, Some(Refusal::OutOfOrder { expected: Some(path("2")), name: Some("s2".into()) }));
            let r = o.instance.unwrap();
            assert_eq!((r.id, r.status, r.refused_total), (id(1), InstanceStatus::Running, 1));
            let e = r.events.last().unwrap();
            assert_eq!(e.refusal.as_deref(), Some("stage out of order: expected stage 2 (\"s2\")"));
            assert!(!e.accepted);
            assert_eq!(r.furthest, Some(path("1")));
        }
        // No instance open: a later stage is refused, nothing opened.
        let o = apply(&spec, None, &ping("2"), 3, T0);
        assert_eq!((o.refused, o.opened, o.instance), (Some(Refusal::NoInstance), false, None));
        // After completion too: the ended instance stays as it was.
        let i = apply(&spec, Some(&i), &ping("2"), 5, T0 + 2).instance.unwrap();
        let done = apply(&spec, Some(&i), &ping("3"), 5, T0 + 3).instance.unwrap();
        assert_eq!(done.status, InstanceStatus::Completed);
        let o = apply(&spec, Some(&done), &ping("2"), 6, T0 + 4);
        assert_eq!((o.refused, o.opened, o.instance), (Some(Refusal::NoInstance), false, None));
        // An unknown stage is an error.
        assert_eq!(on_stage(&spec, None, &DayBudget::default(), &ping("4"), id(4), T0), Err(StageError::UnknownStage));
    }

    #[test]
    fn non_strict_mode_accepts_out_of_order_skips_and_a_headless_start() {
        let spec = flat(4, false, None);
        let o = apply(&spec, None, &ping("2"), 1, T0);
        assert!(o.opened && o.refused.is_none());
        let i = o.instance.unwrap();
        let i = apply(&spec, Some(&i), &ping("3"), 2, T0 + 1).instance.unwrap();
        let o = apply(&spec, Some(&i), &ping("2"), 3, T0 + 2);
        assert!(o.refused.is_none());
        let i = o.instance.unwrap();
        assert_eq!((i.furthest.clone(), i.events[2].in_order), (Some(path("3")), false));
        let i = apply(&spec, Some(&i), &ping("4"), 4, T0 + 3).instance.unwrap();
        assert_eq!(i.status, InstanceStatus::Completed);
        // After completion, a later non-first stage opens a new instance (non-strict).
        let o = apply(&spec, Some(&i), &ping("3"), 5, T0 + 4);
        assert!(o.opened && o.abandoned.is_none());
    }

    #[test]
    fn a_stage_not_reached_in_time_stalls_the_instance_once_and_a_later_stage_continues_it() {
        let clock = ManualClock::new(T0);
        let mut spec = flat(3, false, Some(60));
        spec.stages[2].timeout_seconds = Some(10);
        let i = apply(&spec, None, &ping("1"), 1, clock.now_ms()).instance.unwrap();
        assert_eq!(i.stall_at, Some(T0 + 60_000));
        clock.advance(1_000);
        let i = apply(&spec, Some(&i), &ping("2"), 1, clock.now_ms()).instance.unwrap();
        // Stage 3's own timeout.
        assert_eq!(i.stall_at, Some(T0 + 11_000));
        clock.advance(9_999);
        assert_eq!(on_deadline(&spec, &i, clock.now_ms()), None);
        clock.advance(1);
        let (s, sig) = on_deadline(&spec, &i, clock.now_ms()).unwrap();
        assert_eq!(
            (s.status, s.stall_at, s.failure_reason.as_deref()),
            (InstanceStatus::Stalled, None, Some("Stage 3 timeout"))
        );
        assert_eq!(s.waiting_for, Some(path("3")));
        assert_eq!(sig, Signal::Stalled { instance: id(1), waiting_for: Some(path("3")), deadline_ms: T0 + 11_000 });
        assert_eq!(sig.as_str(), "stalled");
        // Once only.
        assert_eq!(on_deadline(&spec, &s, clock.now_ms() + 100_000), None);
        let i = apply(&spec, Some(&s), &ping("3"), 2, clock.now_ms() + 5).instance.unwrap();
        assert_eq!((i.id, i.status, i.stalled_ms), (id(1), InstanceStatus::Completed, Some(T0 + 11_000)));
        assert_eq!(i.waiting_for, None);
    }

    #[test]
    fn no_timeout_means_no_stall_and_completion_disarms() {
        let spec = flat(2, false, None);
        let i = apply(&spec, None, &ping("1"), 1, T0).instance.unwrap();
        assert_eq!(i.stall_at, None);
        let spec = flat(2, false, Some(5));
        let i = apply(&spec, None, &ping("1"), 1, T0).instance.unwrap();
        let done = apply(&spec, Some(&i), &ping("2"), 2, T0 + 1).instance.unwrap();
        assert_eq!((done.status, done.stall_at), (InstanceStatus::Completed, None));
        assert_eq!(on_deadline(&spec, &done, T0 + 1_000_000), None);
    }

    #[test]
    fn budgets_signal_once_per_instance_and_once_per_day() {
        let mut spec = flat(5, false, None);
        spec.budget_per_instance_usd = Some(0.10);
        spec.budget_per_day_usd = Some(0.25);
        let costly = |p: &str, usd: f64| StagePing {
            path: path(p),
            cost: Cost { model_id: Some("m".into()), tokens_in: Some(100), tokens_out: Some(50), cost_usd: Some(usd) },
            ..StagePing::default()
        };
        let mut day = DayBudget::default();
        let step = |cur: Option<&Instance>, day: &mut DayBudget, p: StagePing, n: u128, now: Millis| {
            let o = on_stage(&spec, cur, day, &p, id(n), now).unwrap();
            *day = o.day.clone();
            o
        };
        let o = step(None, &mut day, costly("1", 0.06), 1, T0);
        assert!(o.signals.is_empty());
        let o = step(o.instance.as_ref(), &mut day, costly("2", 0.06), 1, T0 + 1);
        let i = o.instance.unwrap();
        assert!(i.budget_exceeded);
        assert_eq!(o.signals.len(), 1);
        assert_eq!(o.signals[0].as_str(), "budget_exceeded");
        assert!(matches!(o.signals[0], Signal::BudgetExceededInstance { instance, .. } if instance == id(1)));
        assert_eq!((i.tokens_in, i.tokens_out), (200, 100));
        assert!((i.cost_usd - 0.12).abs() < 1e-9);
        let o = step(Some(&i), &mut day, costly("3", 0.06), 1, T0 + 2);
        assert!(o.signals.is_empty(), "once per instance");
        // A second instance the same day: the day's total passes 0.25.
        let o = step(None, &mut day, costly("1", 0.08), 2, T0 + 3);
        assert_eq!(o.signals.len(), 1);
        assert!(matches!(o.signals[0], Signal::BudgetExceededDay { .. }));
        let o = step(o.instance.as_ref(), &mut day, costly("2", 0.01), 2, T0 + 4);
        assert!(o.signals.is_empty(), "once per day");
        // The next UTC day starts over.
        let o = step(None, &mut day, costly("1", 0.09), 3, T0 + DAY_MS);
        assert!(o.signals.is_empty());
        assert!((o.day.cost_usd - 0.09).abs() < 1e-9);
    }

    #[test]
    fn cost_totals_saturate_finite_and_an_old_null_total_still_loads() {
        let spec = flat(3, false, None);
        let big = |p: &str| StagePing {
            path: path(p),
            cost: Cost { cost_usd: Some(1e308), tokens_in: Some(u64::MAX), ..Cost::default() },
            ..StagePing::default()
        };
        let mut day = DayBudget::default();
        let mut cur: Option<Instance> = None;
        for p in ["1", "2", "2", "2"] {
            let o = on_stage(&spec, cur.as_ref(), &day, &big(p), id(1), T0).unwrap();
            day = o.day.clone();
            cur = o.instance;
        }
        let i = cur.unwrap();
        // Each ping counts at most STAGE_COST_USD_MAX; the sums stay finite.
        assert_eq!(i.cost_usd, 4.0 * STAGE_COST_USD_MAX);
        assert_eq!(day.cost_usd, 4.0 * STAGE_COST_USD_MAX);
        assert_eq!(i.tokens_in, 4 * STAGE_TOKENS_MAX);
        assert_eq!(add_cost(COST_TOTAL_USD_MAX, 5.0), COST_TOTAL_USD_MAX);
        assert_eq!(add_cost(f64::INFINITY, 1.0), COST_TOTAL_USD_MAX);
        assert_eq!(add_cost(1.0, f64::NAN), 1.0);
        assert_eq!(add_cost(1.0, -3.0), 1.0);
        // A record written with a null total (an infinite sum, before saturation) reads.
        let mut v = serde_json::to_value(&i).unwrap();
        v["cost_usd"] = serde_json::Value::Null;
        let back: Instance = serde_json::from_value(v).unwrap();
        assert_eq!(back.cost_usd, COST_TOTAL_USD_MAX);
        let d: DayBudget = serde_json::from_str(r#"{"day": 3, "cost_usd": null, "signaled": true}"#).unwrap();
        assert_eq!(d.cost_usd, COST_TOTAL_USD_MAX);
        assert!(serde_json::to_value(&back).unwrap()["cost_usd"].is_f64());
        // Budgets are bounded.
        let mut s = flat(1, false, None);
        s.budget_per_instance_usd = Some(BUDGET_USD_MAX * 2.0);
        assert_eq!(s.validate().unwrap_err().field, "budget_per_instance_usd");
        s.budget_per_instance_usd = Some(f64::INFINITY);
        assert_eq!(s.validate().unwrap_err().field, "budget_per_instance_usd");
        s.budget_per_instance_usd = Some(BUDGET_USD_MAX);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn hierarchical_paths_in_strict_order_and_dynamic_pipelines() {
        let spec = Spec {
            stages: ["1", "2.1", "2.2", "3"]
                .iter()
                .map(|p| Stage { path: path(p), name: None, timeout_seconds: Some(30) })
                .collect(),
            strict: true,
            dynamic: false,
            timeout_seconds: None,
            budget_per_instance_usd: None,
            budget_per_day_usd: None,
        };
        assert_eq!(spec.validate(), Ok(()));
        let i = apply(&spec, None, &ping("1"), 1, T0).instance.unwrap();
        let o = apply(&spec, Some(&i), &ping("2.2"), 1, T0 + 1);
        assert_eq!(o.refused, Some(Refusal::OutOfOrder { expected: Some(path("2.1")), name: None }));
        assert_eq!(o.refused.unwrap().to_string(), "stage out of order: expected stage 2.1");
        let i = apply(&spec, Some(&i), &ping("2.1"), 1, T0 + 2).instance.unwrap();
        let i = apply(&spec, Some(&i), &ping("2.2"), 1, T0 + 3).instance.unwrap();
        let i = apply(&spec, Some(&i), &ping("3"), 1, T0 + 4).instance.unwrap();
        assert_eq!(i.status, InstanceStatus::Completed);

        // Dynamic: any path, start=yes opens, final=yes completes, default timeout applies.
        let dynamic = Spec {
            stages: vec![],
            strict: false,
            dynamic: true,
            timeout_seconds: Some(20),
            budget_per_instance_usd: None,
            budget_per_day_usd: None,
        };
        assert_eq!(dynamic.validate(), Ok(()));
        let start = StagePing { path: path("1"), start: true, name: Some("Ingest".into()), ..StagePing::default() };
        let i = apply(&dynamic, None, &start, 1, T0).instance.unwrap();
        assert_eq!((i.status, i.stall_at), (InstanceStatus::Running, Some(T0 + 20_000)));
        assert_eq!(i.events[0].name.as_deref(), Some("Ingest"));
        let i = apply(&dynamic, Some(&i), &ping("3.4.2"), 1, T0 + 1).instance.unwrap();
        assert_eq!(i.status, InstanceStatus::Running);
        let fin = StagePing { path: path("4"), final_stage: true, ..StagePing::default() };
        let i = apply(&dynamic, Some(&i), &fin, 1, T0 + 2).instance.unwrap();
        assert_eq!(i.status, InstanceStatus::Completed);
    }

    #[test]
    fn a_pending_rerun_is_continued_by_the_first_stage() {
        let spec = flat(2, true, None);
        let pending = Instance::new(id(7), T0);
        let o = apply(&spec, Some(&pending), &ping("1"), 8, T0 + 1);
        assert!(!o.opened && o.abandoned.is_none());
        let i = o.instance.unwrap();
        assert_eq!((i.id, i.status, i.started_ms), (id(7), InstanceStatus::Running, Some(T0 + 1)));
        // In strict mode a pending rerun must start at the first stage.
        let o = apply(&spec, Some(&pending), &ping("2"), 8, T0 + 1);
        assert_eq!(o.refused, Some(Refusal::OutOfOrder { expected: Some(path("1")), name: Some("s1".into()) }));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = flat(2, false, None);
        assert_eq!(s.validate(), Ok(()));
        s.stages.swap(0, 1);
        assert_eq!(s.validate().unwrap_err().field, "stages[1].path");
        let mut s = flat(2, false, Some(0));
        assert_eq!(s.validate().unwrap_err().field, "timeout_seconds");
        s.timeout_seconds = None;
        s.budget_per_day_usd = Some(-1.0);
        assert_eq!(s.validate().unwrap_err().field, "budget_per_day_usd");
        s.budget_per_day_usd = Some(f64::NAN);
        assert_eq!(s.validate().unwrap_err().field, "budget_per_day_usd");
        assert_eq!(flat(0, false, None).validate().unwrap_err().field, "stages");
        let mut s = flat(2, false, None);
        s.stages[1].name = s.stages[0].name.clone();
        assert_eq!(s.validate().unwrap_err().field, "stages[1].name");
        let mut s = flat(3, false, None);
        s.stages[2].timeout_seconds = Some(TIMEOUT_SECONDS_MAX + 1);
        let e = s.validate().unwrap_err();
        assert_eq!((e.field.as_str(), e.why.as_str()), ("stages[2].timeout_seconds", "1 to 604800"));
        // Names that read as another stage's path, or hold a `/`, are refused.
        for (bad, at) in
            [(["2", "1"], "stages[0].name"), (["1", "0"], "stages[1].name"), (["a/b", "c"], "stages[0].name")]
        {
            let mut s = flat(2, false, None);
            s.stages[0].name = Some(bad[0].into());
            s.stages[1].name = Some(bad[1].into());
            assert_eq!(s.validate().unwrap_err().field, at, "{bad:?}");
        }
        let mut s = flat(2, false, None);
        s.stages[0].name = Some("1".into());
        s.stages[1].name = Some("2".into());
        assert_eq!(s.validate(), Ok(()), "a name equal to its own path is fine");
    }
}
