//! The scheduler: one event loop that owns the timing wheel.
//!
//! It arms one timer per active schedule at its cursor (plus jitter). When timers expire it
//! loads the schedules, decides with the pure [`fire::on_due`], commits every resulting
//! execution together with the advanced cursors in one store write (group commit across all
//! schedules due in the same tick), re-arms them, and only then hands the fired executions to
//! delivery. API changes reach it as [`Command`]s over a bounded channel; the store stays the
//! source of truth (the loop re-reads a schedule before acting on it).
//! After waking it re-reads the wall clock, so an early wake-up fires nothing and a clock step
//! forward fires everything that became due; sleeps are capped so a step is noticed quickly.
//!
//! When the store cannot write (disk full, I/O error) the loop waits and retries with backoff
//! instead of dropping work: its inputs queue up in their bounded channels (back-pressure),
//! and the instants that came due meanwhile follow their schedule's misfire policy once the
//! store recovers, exactly as after a restart. Nothing here recurses: follow-up work (a
//! schedule due again at once, a buffered fire released) goes back to the loop's work queue.

pub mod alerts;
pub mod fire;
mod runs;
#[cfg(all(test, feature = "failpoints"))]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hashbrown::HashTable;
use tokio::sync::{mpsc, oneshot};

use crate::delivery::{DeliveryEvent, Dispatch};
use crate::metrics::Metrics;
use crate::model::{BrandId, ExecutionId, Schedule, ScheduleId};
use crate::store::{FireWrite, Store, StoreError};
use crate::time::{Clock, Millis};
use crate::wheel::{TimerId, Wheel};

/// Capacity of the command channel (API → scheduler); senders wait when it is full.
pub const COMMAND_QUEUE_CAPACITY: usize = 4096;
/// Longest an API call waits for the scheduler's answer (a cancel, an approval decision). The
/// loop answers at once unless it is waiting for the store; then the call answers 503/507
/// instead of hanging.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest sleep between wall-clock checks, so a clock step is noticed within this bound.
const SLEEP_MAX_MS: i64 = 1000;
/// How long before its instant a fire is recorded. The durable commit (an fsync) then happens
/// ahead of time and delivery waits for the instant, so lateness is not the commit latency.
/// A schedule paused or changed within this window still fires the already recorded instant.
pub const PREFIRE_MS: i64 = 20;
/// Schedule timers are grouped into slots of this many ms: a schedule's timer goes off at the
/// start of the slot holding its instant − [`PREFIRE_MS`], so the fires due within one slot
/// are taken at one wake-up and recorded by one store operation (at 5,000 fires/s about 20
/// per wake-up instead of the 5 due in one 1 ms tick). A fire is thus recorded between
/// `PREFIRE_MS` and `PREFIRE_MS + FIRE_SLOT_MS − 1` ms ahead; its send still waits for the
/// instant. Retry, run, approval and monitor timers are not grouped: none of them may go off
/// early.
pub const FIRE_SLOT_MS: i64 = 4;
/// How far ahead of `now` a woken schedule's instants are recorded: the prefire plus the slot.
const FIRE_HORIZON_MS: i64 = PREFIRE_MS + FIRE_SLOT_MS - 1;

/// When a schedule timer whose instant (jitter included) is `deadline` goes off: the start of
/// the [`FIRE_SLOT_MS`] slot holding `deadline − PREFIRE_MS` (ms since the epoch).
fn fire_timer_ms(deadline: Millis) -> Millis {
    (deadline - PREFIRE_MS).div_euclid(FIRE_SLOT_MS) * FIRE_SLOT_MS
}

/// Most monitor deadlines applied in one commit.
const MONITOR_DEADLINES_PER_COMMIT_MAX: usize = 4096;
/// Most workflow step results folded into one commit.
const STEP_RESULTS_BATCH_MAX: usize = 512;
/// A schedule is kept in memory after its fire ([`Scheduler::fired`]) when its next timer is
/// within this many ms.
const FIRED_KEPT_WITHIN_MS: Millis = 60_000;
/// At most this many schedules are kept after their fire (about 1 KiB each).
const FIRED_KEPT_MAX: usize = 16_384;

/// Most due schedules fired in one tick (one commit); the rest follow in the next tick, after
/// the loop has looked at its channels.
const FIRES_PER_TICK_MAX: usize = 4096;
/// Backoff while the store cannot write: from this, doubling, up to [`STORE_RETRY_MAX_MS`].
const STORE_RETRY_MIN_MS: u64 = 100;
const STORE_RETRY_MAX_MS: u64 = 5000;
/// A start-up backlog of pending executions is handed to delivery this many at a time, and
/// only while delivery has fewer than [`RESUME_LOAD_MAX`] executions on hand.
const RESUME_BATCH: usize = 256;
const RESUME_LOAD_MAX: usize = 10_000;
/// How long a schedule whose fire cannot be recorded (a corrupt record, not an I/O fault)
/// waits before it is tried again.
const FIRE_ERROR_RETRY_MS: i64 = 60_000;

pub enum Command {
    /// (Re)load a schedule from the store and arm it per its status and cursor.
    Arm(BrandId, ScheduleId),
    /// Forget a schedule's timer (deleted).
    Disarm(ScheduleId),
    /// How many timers are armed (tests, metrics).
    Armed(oneshot::Sender<usize>),
    /// Sets the bound on step visits per workflow run (config, reload).
    SetStepVisitsMax(u32),
    /// Start the run of a recorded workflow execution (`execute_workflow`, reruns).
    StartRun(BrandId, ExecutionId),
    /// Deliver a recorded execution started outside the loop (`trigger_schedule_now`,
    /// `retry_execution`, `execute_webhook_template`): an execution of a schedule counts as
    /// running for its overlap policy from now until it finishes.
    Dispatch(Box<crate::model::Execution>),
    /// Cancel a workflow run (its execution was cancelled through the API).
    CancelRun(BrandId, ExecutionId, oneshot::Sender<Result<(), crate::workflow::Refused>>),
    /// Continue a stored run (a rerun from its failed step) at these steps.
    ResumeRun(BrandId, ExecutionId, Vec<crate::model::StepId>),
    /// A person's approval decision; the answer says whether the plan was waiting.
    Decide {
        brand: BrandId,
        plan: crate::model::PlanId,
        approve: bool,
        by: crate::model::KeyId,
        /// The decider's note, recorded on the plan.
        notes: Option<String>,
        reply: oneshot::Sender<Result<(), crate::workflow::Refused>>,
    },
    /// Arm (or with `None` disarm) a monitor's timer at its next deadline (after a ping, an
    /// update, a pause or a delete has committed).
    ArmMonitor(BrandId, crate::model::MonitorId, Option<Millis>),
    /// A new standalone approval request's deadline (stored already).
    ArmApproval(BrandId, crate::model::PlanId, Millis),
    Shutdown(oneshot::Sender<()>),
}

/// The API's handle to the scheduler.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<Command>,
    /// Set by [`SchedulerHandle::shutdown`]: a loop waiting for the store gives up.
    stopping: Arc<AtomicBool>,
}

impl SchedulerHandle {
    pub async fn arm(&self, brand: BrandId, id: ScheduleId) {
        let _ = self.tx.send(Command::Arm(brand, id)).await;
    }
    /// Arms a monitor's timer at `deadline` (`None`: disarms it).
    pub async fn arm_monitor(&self, brand: BrandId, id: crate::model::MonitorId, deadline: Option<Millis>) {
        let _ = self.tx.send(Command::ArmMonitor(brand, id, deadline)).await;
    }
    pub async fn disarm(&self, id: ScheduleId) {
        let _ = self.tx.send(Command::Disarm(id)).await;
    }
    /// Cancels a run; `Err(RunFinished)` when it had already finished.
    pub async fn cancel_run(&self, brand: BrandId, run: ExecutionId) -> Result<(), crate::workflow::Refused> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::CancelRun(brand, run, reply)).await.is_err() {
            return Err(crate::workflow::Refused::NotStored);
        }
        tokio::time::timeout(REPLY_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(Err(crate::workflow::Refused::NotStored))
    }

    pub async fn resume_run(&self, brand: BrandId, run: ExecutionId, steps: Vec<crate::model::StepId>) {
        let _ = self.tx.send(Command::ResumeRun(brand, run, steps)).await;
    }

    pub async fn start_run(&self, brand: BrandId, execution: ExecutionId) {
        let _ = self.tx.send(Command::StartRun(brand, execution)).await;
    }

    /// Hands a recorded execution to delivery through the loop (see [`Command::Dispatch`]).
    pub async fn dispatch(&self, e: crate::model::Execution) {
        let _ = self.tx.send(Command::Dispatch(Box::new(e))).await;
    }

    /// Applies an approval decision (with the decider's note); `Err` when the plan is not
    /// waiting.
    pub async fn decide(
        &self,
        brand: BrandId,
        plan: crate::model::PlanId,
        approve: bool,
        by: crate::model::KeyId,
        notes: Option<String>,
    ) -> Result<(), crate::workflow::Refused> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Decide { brand, plan, approve, by, notes, reply }).await.is_err() {
            return Err(crate::workflow::Refused::RunFinished);
        }
        match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(answer) => answer.unwrap_or(Err(crate::workflow::Refused::RunFinished)),
            Err(_) => Err(crate::workflow::Refused::NotStored),
        }
    }

    /// Arms the deadline of a stored standalone approval request at `at` (ms).
    pub async fn arm_approval(&self, brand: BrandId, plan: crate::model::PlanId, at: Millis) {
        let _ = self.tx.send(Command::ArmApproval(brand, plan, at)).await;
    }

    pub async fn set_step_visits_max(&self, n: u32) {
        let _ = self.tx.send(Command::SetStepVisitsMax(n)).await;
    }

    pub async fn armed(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Armed(tx)).await.is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Counts and logs what a committed ping or deadline did to a monitor: the status gauge, and
/// its signal (one WARN line for `monitor_down`, INFO for `monitor_up`). The alert itself was
/// queued inside the same write (`store::ops::alerts`) and is sent by [`alerts`].
pub fn report_monitor_change(metrics: &Metrics, c: &crate::store::MonitorChange) {
    let t = &c.transition;
    if t.changed() {
        metrics.monitor_moved(Some(t.from.as_str()), Some(t.state.status.as_str()));
    }
    match t.signal {
        Some(crate::monitor::heartbeat::Signal::MonitorDown) => {
            metrics.observe_monitor_signal("monitor_down");
            tracing::warn!(brand = %c.brand, monitor = %c.monitor, from = t.from.as_str(), "monitor_down");
        }
        Some(crate::monitor::heartbeat::Signal::MonitorUp) => {
            metrics.observe_monitor_signal("monitor_up");
            tracing::info!(brand = %c.brand, monitor = %c.monitor, "monitor_up");
        }
        None => {}
    }
    for sig in &c.pipeline_signals {
        match sig {
            crate::monitor::pipeline::Signal::Stalled { instance, waiting_for, .. } => {
                metrics.observe_pipeline_stalled();
                metrics.pipeline_instance_moved(Some("running"), Some("stalled"));
                let waiting = waiting_for.as_ref().map(|p| p.to_string()).unwrap_or_default();
                tracing::warn!(brand = %c.brand, monitor = %c.monitor, instance = %instance, waiting_for = %waiting, "stalled");
            }
            other => {
                tracing::warn!(brand = %c.brand, monitor = %c.monitor, signal = ?other, "budget_exceeded");
            }
        }
    }
}

/// What a timer is for: a schedule's next fire, or an execution's next attempt (a retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Schedule(ScheduleId),
    Retry(ExecutionId),
    /// A workflow run's delay or retry timer.
    RunTimer(ExecutionId),
    /// An approval plan's deadline.
    Approval(crate::model::PlanId),
    /// A heartbeat monitor's next deadline (late or down).
    Monitor(crate::model::MonitorId),
}

/// The armed timers, compactly: a slot per timer (its index is its timer id in the wheel)
/// holding the brand's number and the key, plus a hash table of slot numbers found through the
/// slot's key (`hashbrown::HashTable<u32>`: 4 bytes and a control byte per bucket, the key is
/// not stored twice). A slot is 24 bytes, its bucket ≈ 10; with the wheel's 16 (its slab is
/// indexed by these slot numbers), a million armed schedules take ≈ 50 MB (product.md §9:
/// 1,000,000 armed schedules in 128 MiB RSS).
#[derive(Default)]
struct Armed {
    slots: Vec<Option<(u32, Key)>>,
    free: Vec<u32>,
    by_key: HashTable<u32>,
    hasher: std::hash::RandomState,
    /// The brands of armed timers, numbered in order of first use (a handful per daemon).
    brands: Vec<BrandId>,
    brand_numbers: HashMap<BrandId, u32>,
}

/// The hash of the key in `slot` (the table rehashes through the slots when it grows).
fn rehash(slots: &[Option<(u32, Key)>], hasher: &std::hash::RandomState, slot: u32) -> u64 {
    slots[slot as usize].map_or(0, |(_, k)| std::hash::BuildHasher::hash_one(hasher, k))
}

impl Armed {
    fn len(&self) -> usize {
        self.by_key.len()
    }
    /// Makes room for `n` more timers at once.
    fn reserve(&mut self, n: usize) {
        self.slots.reserve_exact(n);
        let Armed { by_key, slots, hasher, .. } = self;
        by_key.reserve(n, |&s| rehash(slots, hasher, s));
    }
    fn hash(&self, key: &Key) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }
    fn brand_number(&mut self, brand: BrandId) -> u32 {
        *self.brand_numbers.entry(brand).or_insert_with(|| {
            self.brands.push(brand);
            (self.brands.len() - 1) as u32
        })
    }
    /// Arms `key` in a free slot (the caller has removed any earlier timer of `key`).
    fn insert(&mut self, brand: BrandId, key: Key) -> TimerId {
        let b = self.brand_number(brand);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some((b, key));
                s
            }
            None => {
                self.slots.push(Some((b, key)));
                (self.slots.len() - 1) as u32
            }
        };
        let hash = self.hash(&key);
        let Armed { by_key, slots, hasher, .. } = self;
        by_key.insert_unique(hash, slot, |&s| rehash(slots, hasher, s));
        TimerId::from(slot)
    }
    /// Forgets a timer; returns its id if it was armed.
    fn remove(&mut self, key: Key) -> Option<TimerId> {
        let hash = self.hash(&key);
        let Armed { by_key, slots, .. } = self;
        let entry = by_key.find_entry(hash, |&s| slots[s as usize].is_some_and(|(_, k)| k == key)).ok()?;
        let slot = entry.remove().0;
        self.slots[slot as usize].take()?;
        self.free.push(slot);
        Some(TimerId::from(slot))
    }
    fn by_timer(&self, timer: TimerId) -> Option<(BrandId, Key)> {
        let (b, key) = self.slots.get(timer as usize).copied().flatten()?;
        Some((self.brands[b as usize], key))
    }
}

pub struct Scheduler<D: Dispatch> {
    store: Store,
    clock: Arc<dyn Clock>,
    delivery: D,
    metrics: Metrics,
    wheel: Wheel,
    armed: Armed,
    /// Executions of each schedule that are still running (overlap policies), by id: each is
    /// counted once when it starts and once when it ends, however it was started.
    running: HashMap<ScheduleId, HashSet<ExecutionId>>,
    /// Schedules as this loop's own fire commits wrote them, kept for their next fire when it
    /// is near ([`FIRED_KEPT_WITHIN_MS`], at most [`FIRED_KEPT_MAX`]), so that a schedule firing
    /// every second is not read back from the store each time. An API change sends `Arm` or
    /// `Disarm`, which drops the copy; any other write bumps the record's version, so a fire
    /// computed from a stale copy is refused by the store's version check and the stored
    /// record is re-read ([`Scheduler::after_fires`]).
    fired: HashMap<ScheduleId, Schedule>,
    /// Instants due before this came due while the daemon was down (or the store could not
    /// write) and follow the misfire policy; later ones all fire.
    started_at: Millis,
    /// Most step visits one workflow run may make.
    step_visits_max: u32,
    /// Follow-up work for the loop (schedules due now, buffered fires to release).
    work: VecDeque<Work>,
    /// Timers armed through [`Scheduler::arm_key`] that were due when armed: they go off at
    /// the next tick ([`Scheduler::collect_due`]) instead of waiting in the wheel.
    due: Vec<(TimerId, Key)>,
    /// Unfinished executions found at start-up, still to hand to delivery (or to start, for a
    /// workflow run): ids only, resumed in batches as delivery's load allows.
    resume: VecDeque<(BrandId, ExecutionId)>,
    /// Since when the store has been failing (None while it works).
    outage_since: Option<Millis>,
    stopping: Arc<AtomicBool>,
    /// The note of the decision being applied to a workflow plan (taken by its `DecidePlan`).
    decision_notes: Option<String>,
}

/// Work the loop queues for itself instead of recursing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A schedule's timer is due: fire it.
    Fire(BrandId, ScheduleId),
    /// Nothing of a schedule runs any more: release its buffered fire, if any.
    Release(BrandId, ScheduleId),
}

/// Starts the scheduler: re-arms every active schedule, resumes unfinished executions, and
/// runs the loop on a task. Returns the handle and the sender delivery reports completions to.
pub async fn start<D: Dispatch>(
    store: Store,
    clock: Arc<dyn Clock>,
    delivery: D,
    metrics: Metrics,
    finished: mpsc::Receiver<DeliveryEvent>,
) -> Result<(SchedulerHandle, tokio::task::JoinHandle<()>), crate::store::StoreError> {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
    let mut s = Scheduler::new(store, clock, delivery, metrics);
    let (now, stopping) = (s.started_at, s.stopping.clone());
    let watch = crate::time::Stopwatch::start();
    // Straight from the index into the wheel, with room made once: no list of a million
    // entries in between, and no table doubling (each would leave its peak in the RSS).
    let n = s.store.armed_count()?;
    s.armed.reserve(n);
    s.wheel.reserve(n);
    let store = s.store.clone();
    store.for_each_armed(|brand, id, deadline| s.arm_at(brand, id, Some(deadline)))?;
    // Monitors: every deadline back in the wheel; one that passed while the daemon was down
    // goes off on the first tick (one transition to the furthest state).
    let mut monitors = Vec::new();
    s.store.for_each_monitor_deadline(|brand, id, deadline| monitors.push((brand, id, deadline)))?;
    let monitors_armed = monitors.len();
    for (brand, id, deadline) in monitors {
        s.arm_key(brand, Key::Monitor(id), deadline);
    }
    let counts = s.store.count_monitors_by_status()?;
    s.metrics.set_monitor_counts(counts.into_iter().map(|(st, n)| (st.as_str(), n as i64)));
    let instances = s.store.count_instances_by_status()?;
    s.metrics.set_pipeline_instance_counts(instances.into_iter().map(|(st, n)| (st.as_str(), n as i64)));
    // Every unfinished execution is resumed: a retry waiting for its backoff gets its timer
    // back, the rest go to delivery now (which re-parks what its queues cannot hold).
    if let Err(e) = s.store.clear_spilled().await {
        // A store that cannot write at start-up (a full disk) must not keep the daemon from
        // starting: parked entries left behind only point at executions resumed below.
        tracing::warn!(error = %e, "could not clear the parked-execution table at start-up");
    }
    let mut resumed = 0usize;
    let mut retries = Vec::new();
    let (running, resume, metrics) = (&mut s.running, &mut s.resume, &s.metrics);
    s.store.for_each_pending(
        |e| {
            resumed += 1;
            // A workflow step's execution carries its run's schedule, but only the run's own
            // execution counts as running (it alone reports its end to `on_finished`).
            if let Some(id) = e.schedule
                && e.step.is_none()
            {
                running.entry(id).or_default().insert(e.id);
            }
            match e.next_attempt_ms {
                Some(at)
                    if at > now
                        && (e.trigger == crate::model::Trigger::Event
                            || !(e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none())) =>
                {
                    retries.push((e.brand, e.id, at))
                }
                _ => resume.push_back((e.brand, e.id)),
            }
        },
        |id, e| {
            // Left in the store as it is (a later release or a repair may read it); counted
            // and logged, never resumed.
            metrics.observe_store_fault("corrupt");
            tracing::error!(
                execution = %id.0,
                error = %e,
                "an unfinished execution's record cannot be read; it is not resumed"
            );
        },
    )?;
    for (brand, id, at) in retries {
        s.arm_retry(brand, id, at);
    }
    let runs = s.rearm_runs().await?;
    tracing::info!(
        armed = s.armed.len(),
        monitors = monitors_armed,
        resumed,
        runs,
        seconds = watch.elapsed_secs(),
        "scheduler re-armed schedules"
    );
    s.metrics.set_armed(s.armed.len());
    let task = tokio::spawn(s.run(rx, finished));
    Ok((SchedulerHandle { tx, stopping }, task))
}

impl<D: Dispatch> Scheduler<D> {
    /// A scheduler with nothing armed, its wheel at the clock's time.
    fn new(store: Store, clock: Arc<dyn Clock>, delivery: D, metrics: Metrics) -> Self {
        let now = clock.now_ms();
        Scheduler {
            store,
            clock,
            delivery,
            metrics,
            wheel: Wheel::new(now.max(0) as u64),
            armed: Armed::default(),
            running: HashMap::new(),
            fired: HashMap::new(),
            started_at: now,
            step_visits_max: runs::MAX_STEPS_PER_RUN,
            work: VecDeque::new(),
            due: Vec::new(),
            resume: VecDeque::new(),
            outage_since: None,
            stopping: Arc::new(AtomicBool::new(false)),
            decision_notes: None,
        }
    }

    /// Arms (or re-arms, or disarms) a schedule per its stored state. A timer that is already
    /// due goes to the work queue.
    fn arm(&mut self, s: &Schedule) {
        self.arm_at(s.brand, s.id, s.timer_deadline());
    }

    /// Arms a retry timer: at `at` the execution goes back to delivery.
    fn arm_retry(&mut self, brand: BrandId, execution: ExecutionId, at: Millis) {
        self.arm_key(brand, Key::Retry(execution), at);
    }

    /// Arms (or re-arms) a non-schedule timer; one already due goes off on the next tick.
    fn arm_key(&mut self, brand: BrandId, key: Key, at: Millis) {
        if let Some(old) = self.armed.remove(key) {
            self.wheel.cancel(old);
        }
        let timer = self.armed.insert(brand, key);
        if self.wheel_insert(timer, at).is_err() {
            // Due already: it goes off at the next tick, whatever the clock reads then (a
            // stand-in deadline just after the wheel's time would wait for the clock to regain
            // it if the clock stepped back before that tick).
            self.due.push((timer, key));
        }
    }

    /// Collects into `expired` the timers due at `now_ms`: first those that were due already
    /// when armed ([`Scheduler::arm_key`]) and are still armed as they were (not cancelled,
    /// not re-armed for a later instant), each with `now_ms` as its deadline, then those the
    /// wheel expires.
    fn collect_due(&mut self, now_ms: u64, expired: &mut Vec<(TimerId, u64)>) {
        // The queue first: a timer re-armed into the wheel since it was queued is skipped
        // here and expired once by the wheel below.
        for (timer, key) in self.due.drain(..) {
            if self.wheel.deadline(timer).is_none() && self.armed.by_timer(timer).is_some_and(|(_, k)| k == key) {
                expired.push((timer, now_ms));
            }
        }
        self.wheel.advance(now_ms, expired);
    }

    /// Puts `timer` in the wheel at `at` (epoch ms); `Err` when `at` is due by the wall clock.
    ///
    /// The wheel's time is the latest clock reading the loop has seen. When the wall clock has
    /// since stepped back (a manual `date -s`, a VM resumed from an old snapshot), an instant
    /// between the clock and the wheel's time is not due yet, but the wheel would call it due
    /// and a schedule armed for it would go round arm → due → woken early → arm without ever
    /// sleeping; and a timer that is due, put just after the wheel's time, would wait for the
    /// clock to regain that time. So the wheel is first moved back to the clock
    /// ([`Wheel::rewind`], once per step back: the wheel then follows the clock again).
    fn wheel_insert(&mut self, timer: TimerId, at: Millis) -> Result<(), TimerId> {
        let at = at.max(0) as u64;
        if at <= self.wheel.elapsed() {
            let now = self.clock.now_ms().max(0) as u64;
            if now < self.wheel.elapsed() {
                tracing::warn!(
                    stepped_back_ms = self.wheel.elapsed() - now,
                    armed = self.wheel.len(),
                    "the wall clock stepped back; the timers are re-placed at its time"
                );
                self.wheel.rewind(now);
            }
        }
        self.wheel.insert(timer, at)
    }

    async fn resume_execution(&mut self, brand: BrandId, execution: ExecutionId) {
        match self.read(|st| st.get_execution(brand, execution)).await {
            // Cancelled while its retry waited: it ends here for its schedule's overlap policy.
            Ok(Some(e)) if e.status.is_finished() => self.ended_elsewhere(&e),
            // A workflow run whose start was delayed: the engine starts it (once: a run that
            // exists already is left alone).
            Ok(Some(e)) if e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none() => {
                self.start_run(e).await
            }
            Ok(Some(e)) => self.delivery.dispatch(e),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, execution = %execution, "cannot load an execution to retry")
            }
        }
    }

    fn arm_at(&mut self, brand: BrandId, id: ScheduleId, deadline: Option<Millis>) {
        self.disarm(id);
        let Some(deadline) = deadline.map(fire_timer_ms) else {
            return;
        };
        let timer = self.armed.insert(brand, Key::Schedule(id));
        if self.wheel_insert(timer, deadline).is_err() {
            self.armed.remove(Key::Schedule(id));
            self.work.push_back(Work::Fire(brand, id));
        }
    }

    fn disarm(&mut self, id: ScheduleId) {
        if let Some(timer) = self.armed.remove(Key::Schedule(id)) {
            self.wheel.cancel(timer);
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, mut finished: mpsc::Receiver<DeliveryEvent>) {
        let mut expired = Vec::new();
        let mut run_timers = Vec::new();
        let mut monitors_due = Vec::new();
        loop {
            self.do_work().await;
            let now = self.clock.now_ms();
            let sleep_ms = if !self.work.is_empty() || !self.due.is_empty() {
                0 // more work queued, or timers due: just give the channels a turn
            } else if !self.resume.is_empty() {
                // A start-up backlog waits for delivery's load to drop: look again soon.
                50
            } else {
                match self.wheel.next_deadline() {
                    Some(d) => (d as i64 - now).clamp(0, SLEEP_MAX_MS),
                    None => SLEEP_MAX_MS,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(Command::StartRun(brand, id)) => {
                        // Start every run queued right now together (one commit).
                        let mut ids = vec![(brand, id)];
                        let mut other = None;
                        while ids.len() < STEP_RESULTS_BATCH_MAX {
                            match rx.try_recv() {
                                Ok(Command::StartRun(b, i)) => ids.push((b, i)),
                                Ok(cmd) => {
                                    other = Some(cmd);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        let mut execs = Vec::with_capacity(ids.len());
                        for (b, i) in ids {
                            match self.read(|st| st.get_execution(b, i)).await {
                                Ok(Some(e)) => execs.push(e),
                                Ok(None) => {}
                                Err(e) => tracing::error!(error = %e, execution = %i, "cannot load a workflow execution to start"),
                            }
                        }
                        self.start_runs(execs).await;
                        if let Some(cmd) = other
                            && self.command(cmd).await
                        {
                            return;
                        }
                    }
                    Some(cmd) => {
                        if self.command(cmd).await {
                            return;
                        }
                    }
                },
                Some(ev) = finished.recv() => {
                    // Drain what else is queued: step results of many runs commit together.
                    let mut steps = Vec::new();
                    let mut next = Some(ev);
                    while let Some(ev) = next.take() {
                        match ev {
                            DeliveryEvent::Finished { brand, schedule: Some(id), execution } => self.on_finished(brand, id, execution),
                            DeliveryEvent::Finished { schedule: None, .. } => {}
                            DeliveryEvent::RetryAt { brand, execution, at } => self.arm_retry(brand, execution, at),
                            DeliveryEvent::StepFinished { brand, step, ok, status_code, response, error } => {
                                let ev = crate::workflow::Event::StepDone { visit: step.visit, ok, status_code, response, error };
                                steps.push((brand, step, ev));
                            }
                        }
                        if steps.len() < STEP_RESULTS_BATCH_MAX {
                            next = finished.try_recv().ok();
                        }
                    }
                    self.on_steps_finished(steps).await;
                }
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            }
            // Re-read the wall clock: fire whatever is due now, however long we slept.
            let now = self.clock.now_ms();
            expired.clear();
            self.collect_due(now.max(0) as u64, &mut expired);
            for (timer, _) in expired.drain(..) {
                match self.armed.by_timer(timer) {
                    Some((brand, key @ Key::Schedule(id))) => {
                        self.armed.remove(key);
                        self.work.push_back(Work::Fire(brand, id));
                    }
                    Some((brand, key @ (Key::Retry(_) | Key::RunTimer(_) | Key::Approval(_)))) => {
                        self.armed.remove(key);
                        run_timers.push((brand, key));
                    }
                    Some((brand, key @ Key::Monitor(id))) => {
                        self.armed.remove(key);
                        monitors_due.push((brand, id));
                    }
                    None => {}
                }
            }
            if !monitors_due.is_empty() {
                self.on_monitor_deadlines(std::mem::take(&mut monitors_due)).await;
            }
            for (brand, key) in std::mem::take(&mut run_timers) {
                match key {
                    Key::Retry(execution) => self.resume_execution(brand, execution).await,
                    Key::RunTimer(run) => self.on_run_timer(brand, run).await,
                    Key::Approval(plan) => self.on_approval_deadline(brand, plan).await,
                    Key::Schedule(_) | Key::Monitor(_) => {}
                }
            }
        }
    }

    /// Does one round of queued work: every due schedule (up to [`FIRES_PER_TICK_MAX`]) in
    /// one commit, then the buffered fires to release.
    async fn do_work(&mut self) {
        self.resume_some().await;
        if self.work.is_empty() {
            return;
        }
        let mut fires = Vec::new();
        let mut releases = Vec::new();
        let mut seen = HashSet::new();
        while let Some(w) = self.work.pop_front() {
            match w {
                Work::Fire(brand, id) => {
                    if seen.insert(id) {
                        fires.push((brand, id));
                    }
                    if fires.len() >= FIRES_PER_TICK_MAX {
                        break;
                    }
                }
                Work::Release(brand, id) => releases.push((brand, id)),
            }
        }
        self.fire(fires).await;
        for (brand, id) in releases {
            self.release(brand, id).await;
        }
    }

    /// Hands the next batch of the start-up backlog to delivery (workflow runs to the engine),
    /// if delivery's load allows.
    async fn resume_some(&mut self) {
        if self.resume.is_empty() || self.delivery.load() >= RESUME_LOAD_MAX {
            return;
        }
        let mut runs = Vec::new();
        for _ in 0..RESUME_BATCH {
            let Some((brand, id)) = self.resume.pop_front() else { break };
            match self.read(|st| st.get_execution(brand, id)).await {
                Ok(Some(e)) if e.status.is_finished() => self.ended_elsewhere(&e),
                Ok(Some(e)) if e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none() => runs.push(e),
                Ok(Some(e)) => self.delivery.dispatch(e),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, execution = %id, "cannot load an execution to resume"),
            }
        }
        self.start_runs(runs).await;
        if self.resume.is_empty() {
            tracing::info!("scheduler: every unfinished execution has been resumed");
        }
    }

    /// Handles one API command; true when the loop must stop.
    async fn command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Arm(brand, id) => {
                self.fired.remove(&id);
                match self.read(|st| st.get_schedule(brand, id)).await {
                    Ok(Some(s)) => self.arm(&s),
                    Ok(None) => self.disarm(id),
                    Err(e) => tracing::error!(error = %e, schedule = %id, "cannot load schedule to arm"),
                }
                self.metrics.set_armed(self.armed.len());
            }
            Command::Disarm(id) => {
                self.fired.remove(&id);
                self.disarm(id);
                self.metrics.set_armed(self.armed.len());
            }
            Command::Armed(reply) => {
                let _ = reply.send(self.armed.len());
            }
            Command::SetStepVisitsMax(n) => self.step_visits_max = n,
            Command::CancelRun(brand, run, reply) => {
                let done = match self.load_run(brand, run).await {
                    Ok(Some((r, wf))) => self.apply(r, &wf, crate::workflow::Event::Cancel, None).await,
                    Ok(None) => Err(crate::workflow::Refused::RunFinished),
                    Err(_) => Err(crate::workflow::Refused::NotStored),
                };
                let _ = reply.send(done);
            }
            Command::ResumeRun(brand, run, steps) => {
                let parent = self.read(|st| st.get_execution(brand, run)).await;
                match (self.load_run(brand, run).await, parent) {
                    (Ok(Some((r, wf))), Ok(Some(e))) => {
                        let _ = self.apply(r, &wf, crate::workflow::Event::StartAt(steps), Some(e)).await;
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::error!(error = %e, run = %run, "cannot load a workflow run to resume")
                    }
                    _ => {}
                }
            }
            Command::Decide { brand, plan, approve, by, notes, reply } => {
                let r = self.decide(brand, plan, Some((approve, by)), notes).await;
                let _ = reply.send(r);
            }
            Command::ArmApproval(brand, plan, at) => self.arm_key(brand, Key::Approval(plan), at),
            Command::StartRun(brand, id) => match self.read(|st| st.get_execution(brand, id)).await {
                Ok(Some(e)) => self.start_run(e).await,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, execution = %id, "cannot load a workflow execution to start"),
            },
            Command::Dispatch(e) => {
                // A delayed start (an event subscription's `delay_seconds`) waits in the wheel.
                if let Some(at) = e.next_attempt_ms
                    && at > self.clock.now_ms()
                    && e.attempts.is_empty()
                {
                    self.arm_retry(e.brand, e.id, at);
                    return false;
                }
                if let Some(id) = e.schedule
                    && e.step.is_none()
                {
                    self.running.entry(id).or_default().insert(e.id);
                }
                self.delivery.dispatch(*e);
            }
            Command::ArmMonitor(brand, id, deadline) => match deadline {
                Some(at) => self.arm_key(brand, Key::Monitor(id), at),
                None => {
                    if let Some(timer) = self.armed.remove(Key::Monitor(id)) {
                        self.wheel.cancel(timer);
                    }
                }
            },
            Command::Shutdown(reply) => {
                let _ = reply.send(());
                return true;
            }
        }
        false
    }

    /// Monitors whose timers went off: their deadlines applied in one commit per
    /// [`MONITOR_DEADLINES_PER_COMMIT_MAX`], each re-armed at its next deadline. A write that
    /// fails for another reason than an unavailable store re-arms them a minute later.
    async fn on_monitor_deadlines(&mut self, due: Vec<(BrandId, crate::model::MonitorId)>) {
        for chunk in due.chunks(MONITOR_DEADLINES_PER_COMMIT_MAX) {
            let clock = self.clock.clone();
            let chunk = chunk.to_vec();
            let batch = chunk.clone();
            let result = self
                .write(move |st| {
                    let batch = batch.clone();
                    let now = clock.now_ms();
                    async move { st.monitor_deadlines(batch, now).await }
                })
                .await;
            match result {
                Ok(changes) => {
                    for c in changes {
                        report_monitor_change(&self.metrics, &c);
                        match c.deadline {
                            Some(at) => self.arm_key(c.brand, Key::Monitor(c.monitor), at),
                            None => {
                                if let Some(timer) = self.armed.remove(Key::Monitor(c.monitor)) {
                                    self.wheel.cancel(timer);
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, monitors = chunk.len(), "could not apply monitor deadlines; trying again in a minute");
                    let at = self.clock.now_ms() + FIRE_ERROR_RETRY_MS;
                    for (brand, id) in chunk {
                        self.arm_key(brand, Key::Monitor(id), at);
                    }
                }
            }
        }
        self.metrics.set_armed(self.armed.len());
    }

    /// A run and its workflow, from the store.
    async fn load_run(
        &mut self,
        brand: BrandId,
        run: ExecutionId,
    ) -> Result<Option<(crate::model::Run, crate::model::Workflow)>, StoreError> {
        let Some(r) = self.read(|st| st.get_run(brand, run)).await? else { return Ok(None) };
        let workflow = r.workflow;
        Ok(self.read(|st| st.get_workflow(brand, workflow)).await?.map(|wf| (r, wf)))
    }

    /// Fires due schedules with one store commit. Waits for the store while it cannot write,
    /// recomputing the fires on every attempt (so instants that came due meanwhile follow the
    /// misfire policy); a fire that fails for another reason is retried on its own, so one bad
    /// record cannot hold up the others.
    async fn fire(&mut self, ids: Vec<(BrandId, ScheduleId)>) {
        if ids.is_empty() {
            return;
        }
        let mut attempt = 0;
        loop {
            let now = self.clock.now_ms();
            let mut writes = Vec::with_capacity(ids.len());
            for &(brand, id) in &ids {
                self.disarm(id);
                let kept = self.fired.remove(&id).filter(|s| s.brand == brand);
                let s = match kept {
                    Some(s) => Ok(Some(s)),
                    None => self.read(|st| st.get_schedule(brand, id)).await,
                };
                let s = match s {
                    Ok(Some(s)) => s,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, schedule = %id, "cannot load a due schedule");
                        self.arm_key(brand, Key::Schedule(id), now + FIRE_ERROR_RETRY_MS);
                        continue;
                    }
                };
                // Woken before its deadline (the start-up re-arm reads a lower bound of each
                // deadline, `store::ARMED_SLACK_MS`; with jitter the cursor alone could already
                // be due then), or no longer armable: nothing to record, only the timer to set.
                let early = s.timer_deadline().is_some_and(|d| d > now + FIRE_HORIZON_MS);
                let plan = (!early).then(|| {
                    let running = self.running.get(&id).map_or(0, HashSet::len);
                    fire::on_due_until(
                        &s,
                        now,
                        now + FIRE_HORIZON_MS,
                        self.started_at,
                        running,
                        &mut crate::model::FreshIds,
                    )
                });
                let Some(plan) = plan.filter(|p| !p.executions.is_empty() || p.schedule != s) else {
                    self.arm(&s);
                    let deadline = s.timer_deadline();
                    self.keep_fired(s, deadline);
                    continue;
                };
                if let Some(at) = s.timer_deadline() {
                    // From `PREFIRE_MS` before the instant whatever the slot (a fire taken early
                    // with its slot counts 0), so that 25 ms means 5 ms after the instant.
                    self.metrics.observe_fire_lateness(now + PREFIRE_MS - at);
                }
                writes.push(FireWrite {
                    expected_version: s.version,
                    schedule: plan.schedule,
                    executions: plan.executions,
                });
            }
            if writes.is_empty() {
                self.metrics.set_armed(self.armed.len());
                return;
            }
            match self.store.record_fires(writes.clone()).await {
                Ok(results) => {
                    self.store_recovered();
                    self.after_fires(writes, results).await;
                    return;
                }
                Err(e) if e.is_unavailable() => {
                    if !self.store_wait(&e, &mut attempt).await {
                        return;
                    }
                }
                Err(e) if writes.len() > 1 => {
                    tracing::warn!(error = %e, fires = writes.len(), "could not record fires; recording them one by one");
                    for w in writes {
                        Box::pin(self.fire(vec![(w.schedule.brand, w.schedule.id)])).await;
                    }
                    return;
                }
                Err(e) => {
                    let s = &writes[0].schedule;
                    tracing::error!(
                        error = %e, brand = %s.brand, schedule = %s.id,
                        retry_in_seconds = FIRE_ERROR_RETRY_MS / 1000,
                        "could not record a schedule's fire"
                    );
                    self.arm_key(s.brand, Key::Schedule(s.id), now + FIRE_ERROR_RETRY_MS);
                    return;
                }
            }
        }
    }

    /// After a fire commit: re-arms the schedules and dispatches what fired.
    async fn after_fires(&mut self, writes: Vec<FireWrite>, results: Vec<bool>) {
        let mut runs = Vec::new();
        for (w, committed) in writes.into_iter().zip(results) {
            let mut s = w.schedule;
            if !committed {
                // The schedule changed under us (API update, delete): act on what is stored now.
                let (brand, id) = (s.brand, s.id);
                match self.read(|st| st.get_schedule(brand, id)).await {
                    Ok(Some(stored)) => self.arm(&stored),
                    Ok(None) => self.disarm(id),
                    Err(e) => {
                        tracing::error!(error = %e, schedule = %id, "cannot reload a changed schedule");
                        self.arm_key(brand, Key::Schedule(id), self.clock.now_ms() + FIRE_ERROR_RETRY_MS);
                    }
                }
                continue;
            }
            s.version += 1;
            // Computed once: with jitter it hashes the fire's key.
            let deadline = s.timer_deadline();
            self.arm_at(s.brand, s.id, deadline);
            if s.status.is_final() {
                tracing::info!(brand = %s.brand, schedule = %s.id, status = s.status.as_str(),
                    reason = s.reason.as_deref().unwrap_or(""), "schedule ended");
            }
            // The line names the brand and schedule itself: a span per fire (formatted when
            // created, whatever the log level) cost about 1 % of the daemon's CPU at 8,000
            // fires/s, for this one debug line (delivery tasks have spans of their own).
            for e in w.executions {
                self.metrics.observe_fire(s.driver.kind(), e.status.as_str());
                tracing::debug!(
                    brand = %s.brand,
                    schedule = %s.id,
                    execution = %e.id,
                    status = e.status.as_str(),
                    scheduled_at = %crate::time::format_utc(e.scheduled_ms),
                    "fired"
                );
                if e.status == crate::model::ExecutionStatus::Pending {
                    self.metrics.activity().fired(1);
                    self.running.entry(s.id).or_default().insert(e.id);
                    if e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none() {
                        runs.push(e);
                    } else {
                        self.delivery.dispatch(e);
                    }
                }
            }
            self.keep_fired(s, deadline);
        }
        self.start_runs(runs).await;
        self.metrics.set_armed(self.armed.len());
    }

    /// Keeps a schedule as its fire commit stored it, when its next timer (`deadline`) is near.
    fn keep_fired(&mut self, s: Schedule, deadline: Option<Millis>) {
        let near = deadline.is_some_and(|d| d - self.clock.now_ms() <= FIRED_KEPT_WITHIN_MS);
        if near && (self.fired.len() < FIRED_KEPT_MAX || self.fired.contains_key(&s.id)) {
            self.fired.insert(s.id, s);
        } else {
            self.fired.remove(&s.id);
        }
    }

    /// An execution that ended without delivery (cancelled while it waited for a retry or
    /// to be resumed): it no longer counts as running for its schedule.
    fn ended_elsewhere(&mut self, e: &crate::model::Execution) {
        if let Some(schedule) = e.schedule
            && e.step.is_none()
        {
            self.on_finished(e.brand, schedule, e.id);
        }
    }

    /// An execution of a schedule finished: it no longer counts as running; when none does, a
    /// buffered fire is released (by the loop). A schedule kept after its fire
    /// ([`Scheduler::fired`]) without a buffered fire has nothing to release, and is not read
    /// back from the store (it was, on every execution's end): only a committed fire buffers
    /// one, and that commit replaces the kept copy. Other writes only clear a buffered
    /// instant, so a kept copy can be stale only the other way (it says buffered, the store
    /// does not), and then the release reads the store and finds nothing to do.
    fn on_finished(&mut self, brand: BrandId, id: ScheduleId, execution: ExecutionId) {
        let Some(set) = self.running.get_mut(&id) else { return };
        if !set.remove(&execution) || !set.is_empty() {
            return;
        }
        self.running.remove(&id);
        if self.fired.get(&id).is_some_and(|s| s.brand == brand && s.buffered_ms.is_none()) {
            return;
        }
        self.work.push_back(Work::Release(brand, id));
    }

    /// Releases a schedule's buffered fire, if nothing of it runs (any more).
    async fn release(&mut self, brand: BrandId, id: ScheduleId) {
        if self.running.get(&id).is_some_and(|r| !r.is_empty()) {
            return;
        }
        let s = match self.read(|st| st.get_schedule(brand, id)).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, schedule = %id, "cannot load a schedule to release its buffered fire");
                return;
            }
        };
        let Some(plan) = fire::release_buffered(&s, self.clock.now_ms(), &mut crate::model::FreshIds) else { return };
        let write = FireWrite { expected_version: s.version, schedule: plan.schedule, executions: plan.executions };
        let mut attempt = 0;
        loop {
            match self.store.record_fires(vec![write.clone()]).await {
                Ok(results) => {
                    self.store_recovered();
                    return self.after_fires(vec![write], results).await;
                }
                Err(e) if e.is_unavailable() => {
                    if !self.store_wait(&e, &mut attempt).await {
                        return;
                    }
                }
                Err(e) => {
                    // The buffered instant stays stored: it fires when the schedule next comes due.
                    tracing::error!(error = %e, schedule = %id, "could not release a buffered fire");
                    return;
                }
            }
        }
    }

    /// A store read for the loop: while the store is unavailable (reopening after an I/O
    /// error), waits and tries again; other errors are returned.
    async fn read<T>(&mut self, f: impl Fn(&Store) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            match f(&self.store) {
                Err(e) if e.is_unavailable() => {
                    if !self.store_wait(&e, &mut attempt).await {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// A store write for the loop, retried like [`Scheduler::read`]. `f` builds the write
    /// afresh for each attempt.
    async fn write<T, F>(&mut self, f: impl Fn(Store) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 0;
        loop {
            match f(self.store.clone()).await {
                Err(e) if e.is_unavailable() => {
                    if !self.store_wait(&e, &mut attempt).await {
                        return Err(e);
                    }
                }
                other => {
                    if other.is_ok() {
                        self.store_recovered();
                    }
                    return other;
                }
            }
        }
    }

    /// The store cannot write (or read): logs the outage once, moves the misfire boundary to
    /// now (instants due while the store is down are treated like instants due while the daemon
    /// was down) and sleeps with backoff. False when the daemon is stopping (give up).
    async fn store_wait(&mut self, e: &StoreError, attempt: &mut u32) -> bool {
        if self.stopping.load(Ordering::SeqCst) {
            return false;
        }
        let now = self.clock.now_ms();
        if self.outage_since.is_none() {
            tracing::warn!(error = %e, "scheduler: the store cannot write; fires wait and follow their misfire policy once it recovers");
            self.outage_since = Some(now);
        }
        self.started_at = self.started_at.max(now);
        let ms = (STORE_RETRY_MIN_MS << (*attempt).min(6)).min(STORE_RETRY_MAX_MS);
        *attempt += 1;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        true
    }

    fn store_recovered(&mut self) {
        if let Some(since) = self.outage_since.take() {
            tracing::info!(
                outage_seconds = (self.clock.now_ms() - since) / 1000,
                "scheduler: the store writes again; resuming"
            );
        }
    }
}
