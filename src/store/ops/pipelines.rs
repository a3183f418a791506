//! Pipeline monitors (product.md §11): a pipeline monitor is a monitor (same table, token,
//! slug, deadline index) of kind `pipeline`, with a [`PipelineState`] beside its state and a
//! bounded history of instances (each with its stage events inline), found also by instance
//! id alone.
//!
//! A stage ping is one writer operation ([`Store::record_stage`]): the monitor is found by its
//! token (or ping key + slug) inside the write, `monitor::pipeline::on_stage` decides from the
//! stored current instance, and the instance(s), the pipeline state, the monitor's status and
//! the deadline index entry (`armed_monitors`: the current instance's stall instant) commit
//! together. Stall deadlines go through the heartbeat path (`Store::monitor_deadlines`
//! branches on the kind here, [`pipeline_deadline`]), so the scheduler arms and re-arms them,
//! also across a restart, exactly like heartbeat deadlines.

use super::monitors::{MonitorChange, PingTarget};
use super::{get, get_raw, put, put_raw, remove, scan_prefix};
use crate::model::{
    BrandId, Flip, FlipCause, INSTANCES_KEPT_MAX, InstanceId, Monitor, MonitorId, MonitorKind, MonitorState, Page,
    PipelineState,
};
use crate::monitor::heartbeat::{self, Status, Transition};
use crate::monitor::pipeline::{self, Instance, InstanceStatus, Refusal, Signal, StagePing};
use crate::store::codec;
use crate::store::tables::{
    ARMED_MONITORS, MONITOR_SLUGS, MONITOR_STATES, MONITOR_TOKENS, MONITORS, PING_KEY_HASH, PIPELINE_INSTANCE_IDS,
    PIPELINE_INSTANCES, PIPELINE_STATES, key,
};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// A stage ping to record.
#[derive(Debug, Clone)]
pub struct StageWrite {
    pub target: PingTarget,
    /// The stage as the ping names it (a listed stage's name or path; any path for a dynamic
    /// pipeline).
    pub stage: String,
    /// The ping, its `path` filled in by the store from `stage`.
    pub ping: StagePing,
    /// The id of the instance the ping may open.
    pub new_instance: InstanceId,
    pub now: Millis,
}

/// What a stage ping did (`Store::record_stage`).
#[derive(Debug, Clone)]
pub enum StageResult {
    /// No monitor answers to the target.
    NotFound,
    /// The monitor is not a pipeline (nothing written).
    NotPipeline,
    /// The pipeline does not list this stage (nothing written).
    UnknownStage,
    /// The stage text is not a valid path, and the pipeline has no stage of that name
    /// (`pipeline::malformed_path`, or any non-path for a dynamic pipeline; nothing written).
    BadPath,
    Applied(Box<PipelineChange>),
}

/// A recorded stage ping's effects.
#[derive(Debug, Clone)]
pub struct PipelineChange {
    pub monitor: Monitor,
    /// The monitor's status change (pipelines: `new` → `up`; `up` ⇄ `down` while the current
    /// instance is stalled) and the deadline to arm, as for a heartbeat ping.
    pub change: MonitorChange,
    /// The current instance after the ping (`None`: refused, no instance open).
    pub instance: Option<Instance>,
    pub opened: bool,
    /// Strict mode refused the stage (recorded in the instance's history; 409 at the API).
    pub refused: Option<Refusal>,
    /// Instances whose status changed (for the instance gauge).
    pub moves: Vec<Move>,
}

/// An instance's status change: (before, after); `None` before: opened now; `None` after:
/// removed from the bounded history.
pub type Move = (Option<InstanceStatus>, Option<InstanceStatus>);

fn mkey(brand: BrandId, id: MonitorId) -> Vec<u8> {
    key(&[brand.as_bytes(), id.as_bytes()])
}

fn ikey(brand: BrandId, monitor: MonitorId, inst: InstanceId) -> Vec<u8> {
    key(&[brand.as_bytes(), monitor.as_bytes(), inst.as_bytes()])
}

/// The monitor status a pipeline shows for its current instance.
fn status_for(inst: Option<&Instance>) -> Status {
    match inst.map(|i| i.status) {
        None => Status::New,
        Some(InstanceStatus::Stalled) => Status::Down,
        Some(_) => Status::Up,
    }
}

fn load_pipeline(
    w: &redb::WriteTransaction,
    brand: BrandId,
    id: MonitorId,
) -> Result<(PipelineState, Option<Instance>), StoreError> {
    let k = mkey(brand, id);
    let states = w.open_table(PIPELINE_STATES).map_err(StoreError::from_db)?;
    let ps: PipelineState = get(&states, "pipeline_states", &k)?.unwrap_or_default();
    let current = match ps.current {
        Some(c) => {
            let t = w.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
            get::<Instance>(&t, "pipeline_instances", &ikey(brand, id, c))?
        }
        None => None,
    };
    Ok((ps, current))
}

/// Writes an instance (a new one into the bounded history with its id index entry). Returns
/// the status of the oldest instance removed to make room, if one was.
fn put_instance(
    w: &redb::WriteTransaction,
    brand: BrandId,
    id: MonitorId,
    ps: &mut PipelineState,
    inst: &Instance,
    new: bool,
) -> Result<Option<InstanceStatus>, StoreError> {
    let mut removed = None;
    let mut t = w.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
    put(&mut t, &ikey(brand, id, inst.id), inst)?;
    if new {
        let mut ids = w.open_table(PIPELINE_INSTANCE_IDS).map_err(StoreError::from_db)?;
        put_raw(&mut ids, &key(&[brand.as_bytes(), inst.id.as_bytes()]), id.as_bytes())?;
        ps.instances_total += 1;
        ps.instances_kept += 1;
        if ps.instances_kept > INSTANCES_KEPT_MAX {
            let mut oldest = None;
            scan_prefix(&t, &mkey(brand, id), |k, v| {
                oldest = Some(k.to_vec());
                removed = Some(codec::decode::<Instance>("pipeline_instances", v)?.status);
                Ok(false)
            })?;
            if let Some(k) = oldest {
                remove(&mut t, &k)?;
                if let Some(old) = k.get(32..48) {
                    remove(&mut ids, &key(&[brand.as_bytes(), old]))?;
                }
                ps.instances_kept -= 1;
            }
        }
    }
    Ok(removed)
}

/// Writes the monitor's status for its current instance, the pipeline state and the deadline
/// index entry; returns the monitor change (with the deadline to arm).
#[allow(clippy::too_many_arguments)]
fn settle(
    w: &redb::WriteTransaction,
    brand: BrandId,
    id: MonitorId,
    ps: &PipelineState,
    current: Option<&Instance>,
    signals: Vec<Signal>,
    deadline_ms: Option<Millis>,
    cause: FlipCause,
    now: Millis,
) -> Result<MonitorChange, StoreError> {
    let k = mkey(brand, id);
    let mut st: MonitorState = {
        let states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
        get(&states, "monitor_states", &k)?
            .ok_or(StoreError::Corrupt { table: "monitor_states", detail: "a monitor without its state".into() })?
    };
    if cause == FlipCause::Stage {
        st.pings_total += 1;
    }
    let from = st.state.status;
    let to = status_for(current);
    if to != from {
        st.state.status = to;
        st.state.since_ms = now;
        // Recorded like a heartbeat's status change (same bounded history).
        // A stall raises `stalled`, alerted to `monitor_down` rules; a recovery raises none.
        let signal = (to == Status::Down).then_some(heartbeat::Signal::MonitorDown);
        let flip = Flip { seq: st.flips_total, from, to, at_ms: now, deadline_ms, cause, signal };
        super::monitors::put_flip(w, &k, &mut st, &flip)?;
    }
    let mut states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
    st.state.last_ping_ms = current.and_then(|i| i.events.last()).map(|e| e.at_ms).or(st.state.last_ping_ms);
    // A pipeline has no heartbeat deadlines: only its current instance's stall instant,
    // shown as the monitor's `down_at` (the instant it turns down).
    st.state.late_at = None;
    st.state.down_at = current.and_then(|i| i.stall_at);
    st.state.run = None;
    put(&mut states, &k, &st)?;
    let mut pstates = w.open_table(PIPELINE_STATES).map_err(StoreError::from_db)?;
    put(&mut pstates, &k, ps)?;
    let deadline = current.and_then(|i| i.stall_at);
    let mut armed = w.open_table(ARMED_MONITORS).map_err(StoreError::from_db)?;
    match deadline {
        Some(d) => put_raw(&mut armed, &k, &d.to_le_bytes())?,
        None => remove(&mut armed, &k)?,
    }
    let transition = Transition { from, state: st.state.clone(), signal: None, duration_ms: None, deadline_ms };
    raise_pipeline_signals(w, brand, id, &signals, now)?;
    Ok(MonitorChange { brand, monitor: id, transition, deadline, pipeline_signals: signals })
}

/// Queues a pipeline's `stalled` and `budget_exceeded` signals for alerting, inside the write
/// that raised them (`store::ops::alerts`): `stalled` goes to `monitor_down` rules,
/// `budget_exceeded` to `budget_exceeded` rules.
fn raise_pipeline_signals(
    w: &redb::WriteTransaction,
    brand: BrandId,
    id: MonitorId,
    signals: &[Signal],
    now: Millis,
) -> Result<(), StoreError> {
    use crate::monitor::alert::Signal as Alert;
    if signals.is_empty() {
        return Ok(());
    }
    let name = {
        let t = w.open_table(crate::store::tables::MONITORS).map_err(StoreError::from_db)?;
        get::<crate::model::Monitor>(&t, "monitors", &mkey(brand, id))?.map(|m| m.name).unwrap_or_default()
    };
    for s in signals {
        let (monitor, name) = (id.0, name.clone());
        let alert = match s {
            Signal::Stalled { waiting_for, .. } => {
                Alert::Stalled { monitor, name, stage: waiting_for.as_ref().map(|p| p.to_string()).unwrap_or_default() }
            }
            Signal::BudgetExceededInstance { cost_usd, budget_usd, .. }
            | Signal::BudgetExceededDay { cost_usd, budget_usd, .. } => {
                Alert::BudgetExceeded { monitor, name, cost: *cost_usd, budget: *budget_usd }
            }
        };
        super::alerts::enqueue_signal(w, brand, alert, now)?;
    }
    Ok(())
}

/// A pipeline monitor's timer went off (inside `Store::monitor_deadlines`): its current
/// instance turns `stalled` when due; otherwise nothing is written and the current deadline
/// is reported.
pub(super) fn pipeline_deadline(
    w: &redb::WriteTransaction,
    m: &Monitor,
    now: Millis,
) -> Result<MonitorChange, StoreError> {
    let (brand, id) = (m.brand, m.id);
    let (mut ps, current) = load_pipeline(w, brand, id)?;
    let spec = m.pipeline.clone().unwrap_or_else(dynamic_spec);
    match current.as_ref().and_then(|i| pipeline::on_deadline(&spec, i, now)) {
        Some((inst, signal)) => {
            let due = current.as_ref().and_then(|i| i.stall_at);
            put_instance(w, brand, id, &mut ps, &inst, false)?;
            settle(w, brand, id, &ps, Some(&inst), vec![signal], due, FlipCause::Stalled, now)
        }
        None => {
            let states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
            let st: MonitorState = get(&states, "monitor_states", &mkey(brand, id))?
                .ok_or(StoreError::Corrupt { table: "monitor_states", detail: "a monitor without its state".into() })?;
            let s = st.state.status;
            let transition =
                Transition { from: s, state: st.state, signal: None, duration_ms: None, deadline_ms: None };
            let deadline = current.and_then(|i| i.stall_at);
            Ok(MonitorChange { brand, monitor: id, transition, deadline, pipeline_signals: Vec::new() })
        }
    }
}

/// The spec of a pipeline monitor created by a dynamic ping (`/dhk … start=yes`): no listed
/// stages, not strict, no timeouts, no budgets.
pub fn dynamic_spec() -> pipeline::Spec {
    pipeline::Spec {
        stages: Vec::new(),
        strict: false,
        dynamic: true,
        timeout_seconds: None,
        budget_per_instance_usd: None,
        budget_per_day_usd: None,
    }
}

fn resolve_in_write(
    w: &redb::WriteTransaction,
    target: &PingTarget,
) -> Result<Option<(BrandId, MonitorId)>, StoreError> {
    let tokens = w.open_table(MONITOR_TOKENS).map_err(StoreError::from_db)?;
    let keys = w.open_table(PING_KEY_HASH).map_err(StoreError::from_db)?;
    let slugs = w.open_table(MONITOR_SLUGS).map_err(StoreError::from_db)?;
    super::monitors::resolve(&tokens, &keys, &slugs, target)
}

impl Store {
    /// Records a stage ping and applies it (`pipeline::on_stage`): one operation. A monitor
    /// that is not a pipeline, or a stage the pipeline does not list, writes nothing.
    pub async fn record_stage(&self, s: StageWrite) -> Result<StageResult, StoreError> {
        self.write(move |w| {
            let Some((brand, id)) = resolve_in_write(w, &s.target)? else { return Ok(StageResult::NotFound) };
            let k = mkey(brand, id);
            let m = {
                let t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
                match get::<Monitor>(&t, "monitors", &k)? {
                    Some(m) => m,
                    None => return Ok(StageResult::NotFound),
                }
            };
            if m.kind != MonitorKind::Pipeline {
                return Ok(StageResult::NotPipeline);
            }
            let spec = m.pipeline.clone().unwrap_or_else(dynamic_spec);
            let Some(path) = spec.resolve(&s.stage) else {
                return Ok(if spec.dynamic || pipeline::malformed_path(&s.stage) {
                    StageResult::BadPath
                } else {
                    StageResult::UnknownStage
                });
            };
            let mut ping = s.ping;
            ping.path = path;
            let (mut ps, current) = load_pipeline(w, brand, id)?;
            // A dynamic stage already named keeps its name (`stagename` names it once).
            if spec.dynamic
                && let Ok(i) = ps.seen.binary_search_by(|(p, _)| p.cmp(&ping.path))
                && let Some(known) = &ps.seen[i].1
            {
                ping.name = Some(known.clone());
            }
            let o = match pipeline::on_stage(&spec, current.as_ref(), &ps.day, &ping, s.new_instance, s.now) {
                Ok(o) => o,
                Err(pipeline::StageError::UnknownStage) => return Ok(StageResult::UnknownStage),
            };
            ps.day = o.day.clone();
            if spec.dynamic {
                let label = ping.name.clone();
                match ps.seen.binary_search_by(|(p, _)| p.cmp(&ping.path)) {
                    // The first label a stage is given sticks (a later `stagename` does
                    // not rename it).
                    Ok(i) => {
                        if ps.seen[i].1.is_none() {
                            ps.seen[i].1 = label;
                        }
                    }
                    Err(i) if ps.seen.len() < pipeline::STAGES_MAX => ps.seen.insert(i, (ping.path.clone(), label)),
                    Err(_) => {}
                }
            }
            let mut moves = Vec::new();
            if let Some(old) = &o.abandoned {
                put_instance(w, brand, id, &mut ps, old, false)?;
                moves.push((current.as_ref().map(|c| c.status), Some(old.status)));
            }
            if let Some(inst) = &o.instance {
                let before = if o.opened { None } else { current.as_ref().map(|c| c.status) };
                if before != Some(inst.status) {
                    moves.push((before, Some(inst.status)));
                }
            }
            match &o.instance {
                Some(inst) => {
                    if let Some(gone) = put_instance(w, brand, id, &mut ps, inst, o.opened)? {
                        moves.push((Some(gone), None));
                    }
                    ps.current = Some(inst.id);
                }
                None => ps.refused_without_instance += 1,
            }
            // A refusal without an open instance leaves the current (ended) one as it is.
            let shown = o.instance.as_ref().or(current.as_ref());
            let change = settle(w, brand, id, &ps, shown, o.signals.clone(), None, FlipCause::Stage, s.now)?;
            Ok(StageResult::Applied(Box::new(PipelineChange {
                monitor: m,
                change,
                instance: o.instance,
                opened: o.opened,
                refused: o.refused,
                moves,
            })))
        })
        .await
    }

    /// `rerun` of an instance: a new `pending` instance of the same monitor becomes current
    /// (the current one, if still open, is abandoned); the next opening stage continues it.
    /// `NotFound("Instance")` for an id that is not one of the brand's.
    pub async fn rerun_instance(
        &self,
        brand: BrandId,
        of: InstanceId,
        new_id: InstanceId,
        payload: Option<String>,
        now: Millis,
    ) -> Result<(Monitor, Instance, MonitorChange, Vec<Move>), StoreError> {
        self.write(move |w| {
            let id = {
                let ids = w.open_table(PIPELINE_INSTANCE_IDS).map_err(StoreError::from_db)?;
                let raw =
                    get_raw(&ids, &key(&[brand.as_bytes(), of.as_bytes()]))?.ok_or(StoreError::NotFound("Instance"))?;
                MonitorId(codec::decode_id("pipeline_instance_ids", &raw)?)
            };
            let m = {
                let t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
                get::<Monitor>(&t, "monitors", &mkey(brand, id))?.ok_or(StoreError::NotFound("Instance"))?
            };
            let (mut ps, current) = load_pipeline(w, brand, id)?;
            let mut moves = Vec::new();
            if let Some(mut old) = current.filter(|i| i.status.is_open()) {
                moves.push((Some(old.status), Some(InstanceStatus::Abandoned)));
                old.status = InstanceStatus::Abandoned;
                old.ended_ms = Some(now);
                old.stall_at = None;
                old.failure_reason = Some("a rerun was requested before this instance completed".into());
                put_instance(w, brand, id, &mut ps, &old, false)?;
            }
            let mut inst = Instance::new(new_id, now);
            inst.rerun_of = Some(of);
            inst.rerun_payload = payload;
            if let Some(gone) = put_instance(w, brand, id, &mut ps, &inst, true)? {
                moves.push((Some(gone), None));
            }
            ps.current = Some(inst.id);
            let change = settle(w, brand, id, &ps, Some(&inst), Vec::new(), None, FlipCause::Update, now)?;
            moves.push((None, Some(inst.status)));
            Ok((m, inst, change, moves))
        })
        .await
    }

    /// A pipeline monitor's running record and current instance.
    pub fn get_pipeline_state(
        &self,
        brand: BrandId,
        id: MonitorId,
    ) -> Result<(PipelineState, Option<Instance>), StoreError> {
        self.read(|r| {
            let k = mkey(brand, id);
            let states = r.open_table(PIPELINE_STATES).map_err(StoreError::from_db)?;
            let ps: PipelineState = get(&states, "pipeline_states", &k)?.unwrap_or_default();
            let current = match ps.current {
                Some(c) => {
                    let t = r.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
                    get(&t, "pipeline_instances", &ikey(brand, id, c))?
                }
                None => None,
            };
            Ok((ps, current))
        })
    }

    /// One page (1-based) of a pipeline monitor's instances, newest first.
    pub fn list_instances(
        &self,
        brand: BrandId,
        id: MonitorId,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Instance>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
            super::monitors::newest_first(&t, "pipeline_instances", &mkey(brand, id), page, per_page)
        })
    }

    /// An instance of the brand by its id alone, with its monitor.
    pub fn get_instance(&self, brand: BrandId, inst: InstanceId) -> Result<Option<(Monitor, Instance)>, StoreError> {
        self.read(|r| {
            let ids = r.open_table(PIPELINE_INSTANCE_IDS).map_err(StoreError::from_db)?;
            let Some(raw) = get_raw(&ids, &key(&[brand.as_bytes(), inst.as_bytes()]))? else { return Ok(None) };
            let id = MonitorId(codec::decode_id("pipeline_instance_ids", &raw)?);
            let t = r.open_table(MONITORS).map_err(StoreError::from_db)?;
            let Some(m) = get::<Monitor>(&t, "monitors", &mkey(brand, id))? else { return Ok(None) };
            let t = r.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
            Ok(get::<Instance>(&t, "pipeline_instances", &ikey(brand, id, inst))?.map(|i| (m, i)))
        })
    }

    /// How many kept instances are in each status (the metrics gauge's starting point).
    pub fn count_instances_by_status(&self) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
            let mut counts = [0u64; 5];
            scan_prefix(&t, &[], |_, v| {
                let i: Instance = codec::decode("pipeline_instances", v)?;
                if let Some(n) = InstanceStatus::ALL.iter().position(|s| *s == i.status) {
                    counts[n] += 1;
                }
                Ok(true)
            })?;
            Ok(InstanceStatus::ALL.iter().copied().zip(counts).collect())
        })
    }
}

/// Removes a pipeline monitor's records (inside `Store::delete_monitor`).
pub(super) fn delete_pipeline(w: &redb::WriteTransaction, brand: BrandId, id: MonitorId) -> Result<(), StoreError> {
    let k = mkey(brand, id);
    let mut t = w.open_table(PIPELINE_INSTANCES).map_err(StoreError::from_db)?;
    let mut keys = Vec::new();
    scan_prefix(&t, &k, |key, _| {
        keys.push(key.to_vec());
        Ok(true)
    })?;
    let mut ids = w.open_table(PIPELINE_INSTANCE_IDS).map_err(StoreError::from_db)?;
    for key_ in keys {
        remove(&mut t, &key_)?;
        if let Some(inst) = key_.get(32..48) {
            remove(&mut ids, &key(&[brand.as_bytes(), inst]))?;
        }
    }
    let mut states = w.open_table(PIPELINE_STATES).map_err(StoreError::from_db)?;
    remove(&mut states, &k)
}
