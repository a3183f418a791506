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

pub mod fire;
mod runs;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::delivery::{DeliveryEvent, Dispatch};
use crate::metrics::Metrics;
use crate::model::{BrandId, ExecutionId, Schedule, ScheduleId};
use crate::store::{FireWrite, Store};
use crate::time::{Clock, Millis};
use crate::wheel::{TimerId, Wheel};

/// Capacity of the command channel (API → scheduler); senders wait when it is full.
pub const COMMAND_QUEUE_CAPACITY: usize = 4096;
/// Longest sleep between wall-clock checks, so a clock step is noticed within this bound.
const SLEEP_MAX_MS: i64 = 1000;
/// How long before its instant a fire is recorded. The durable commit (an fsync) then happens
/// ahead of time and delivery waits for the instant, so lateness is not the commit latency.
/// A schedule paused or changed within this window still fires the already recorded instant.
pub const PREFIRE_MS: i64 = 20;
/// Most workflow step results folded into one commit.
const STEP_RESULTS_BATCH_MAX: usize = 512;

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
        reply: oneshot::Sender<Result<(), crate::workflow::Refused>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// The API's handle to the scheduler.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<Command>,
}

impl SchedulerHandle {
    pub async fn arm(&self, brand: BrandId, id: ScheduleId) {
        let _ = self.tx.send(Command::Arm(brand, id)).await;
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
        rx.await.unwrap_or(Err(crate::workflow::Refused::NotStored))
    }

    pub async fn resume_run(&self, brand: BrandId, run: ExecutionId, steps: Vec<crate::model::StepId>) {
        let _ = self.tx.send(Command::ResumeRun(brand, run, steps)).await;
    }

    pub async fn start_run(&self, brand: BrandId, execution: ExecutionId) {
        let _ = self.tx.send(Command::StartRun(brand, execution)).await;
    }

    /// Applies an approval decision; `Err` when the plan is not waiting.
    pub async fn decide(
        &self,
        brand: BrandId,
        plan: crate::model::PlanId,
        approve: bool,
        by: crate::model::KeyId,
    ) -> Result<(), crate::workflow::Refused> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Decide { brand, plan, approve, by, reply }).await.is_err() {
            return Err(crate::workflow::Refused::RunFinished);
        }
        rx.await.unwrap_or(Err(crate::workflow::Refused::RunFinished))
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
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
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
}

/// The armed timers, compactly: a slot per timer (its index is its timer id in the wheel) plus
/// a map from key to slot. About 100 bytes per armed schedule with the wheel's own entry, so a
/// million armed schedules fit well inside the memory goal.
#[derive(Default)]
struct Armed {
    slots: Vec<Option<(BrandId, Key)>>,
    free: Vec<u32>,
    by_key: HashMap<Key, u32>,
}

impl Armed {
    fn len(&self) -> usize {
        self.by_key.len()
    }
    fn insert(&mut self, brand: BrandId, key: Key) -> TimerId {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some((brand, key));
                s
            }
            None => {
                self.slots.push(Some((brand, key)));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(key, slot);
        TimerId::from(slot)
    }
    /// Forgets a timer; returns its id if it was armed.
    fn remove(&mut self, key: Key) -> Option<TimerId> {
        let slot = self.by_key.remove(&key)?;
        self.slots[slot as usize].take()?;
        self.free.push(slot);
        Some(TimerId::from(slot))
    }
    fn by_timer(&self, timer: TimerId) -> Option<(BrandId, Key)> {
        self.slots.get(timer as usize).copied().flatten()
    }
}

pub struct Scheduler<D: Dispatch> {
    store: Store,
    clock: Arc<dyn Clock>,
    delivery: D,
    metrics: Metrics,
    wheel: Wheel,
    armed: Armed,
    /// Executions of each schedule that are still running (overlap policies).
    running: HashMap<ScheduleId, usize>,
    started_at: Millis,
    /// Most step visits one workflow run may make.
    step_visits_max: u32,
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
    let now = clock.now_ms();
    let mut s = Scheduler {
        store,
        clock,
        delivery,
        metrics,
        wheel: Wheel::new(now.max(0) as u64),
        armed: Armed::default(),
        running: HashMap::new(),
        started_at: now,
        step_visits_max: runs::MAX_STEPS_PER_RUN,
    };
    let watch = crate::time::Stopwatch::start();
    let mut due_now = Vec::new();
    let mut armed = Vec::new();
    s.store.for_each_armed(|brand, id, deadline| armed.push((brand, id, deadline)))?;
    for (brand, id, deadline) in armed {
        s.arm_at(brand, id, Some(deadline), &mut due_now);
    }
    // Every unfinished execution is resumed: a retry waiting for its backoff gets its timer
    // back, the rest go to delivery now (which re-parks what its queues cannot hold).
    s.store.clear_spilled().await?;
    let pending = s.store.pending_executions()?;
    let resumed = pending.len();
    let mut workflow_starts = Vec::new();
    for e in pending {
        // A workflow step's execution carries its run's schedule, but only the run's own
        // execution counts as running (it alone reports its end to `on_finished`).
        if let Some(id) = e.schedule
            && e.step.is_none()
        {
            *s.running.entry(id).or_default() += 1;
        }
        match e.next_attempt_ms {
            _ if e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none() => workflow_starts.push(e),
            Some(at) if at > now => s.arm_retry(e.brand, e.id, at),
            _ => s.delivery.dispatch(e),
        }
    }
    let runs = s.rearm_runs().await?;
    for e in workflow_starts {
        s.start_run(e).await;
    }
    tracing::info!(
        armed = s.armed.len(),
        resumed,
        runs,
        seconds = watch.elapsed_secs(),
        "scheduler re-armed schedules"
    );
    s.metrics.set_armed(s.armed.len());
    let task = tokio::spawn(s.run(rx, finished, due_now));
    Ok((SchedulerHandle { tx }, task))
}

impl<D: Dispatch> Scheduler<D> {
    /// Arms (or re-arms, or disarms) a schedule per its stored state. A timer that is already
    /// due is queued in `due_now`.
    fn arm(&mut self, s: &Schedule, due_now: &mut Vec<(BrandId, ScheduleId)>) {
        self.arm_at(s.brand, s.id, s.timer_deadline(), due_now);
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
        let at = (at.max(0) as u64).max(self.wheel.elapsed() + 1);
        let timer = self.armed.insert(brand, key);
        let _ = self.wheel.insert(timer, at);
    }

    fn resume_execution(&self, brand: BrandId, execution: ExecutionId) {
        match self.store.get_execution(brand, execution) {
            Ok(Some(e)) if !e.status.is_finished() => self.delivery.dispatch(e),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, execution = %execution, "cannot load an execution to retry")
            }
        }
    }

    fn arm_at(
        &mut self,
        brand: BrandId,
        id: ScheduleId,
        deadline: Option<Millis>,
        due_now: &mut Vec<(BrandId, ScheduleId)>,
    ) {
        self.disarm(id);
        let Some(deadline) = deadline.map(|d| d - PREFIRE_MS) else {
            return;
        };
        let timer = self.armed.insert(brand, Key::Schedule(id));
        if self.wheel.insert(timer, deadline.max(0) as u64).is_err() {
            self.armed.remove(Key::Schedule(id));
            due_now.push((brand, id));
        }
    }

    fn disarm(&mut self, id: ScheduleId) {
        if let Some(timer) = self.armed.remove(Key::Schedule(id)) {
            self.wheel.cancel(timer);
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut finished: mpsc::Receiver<DeliveryEvent>,
        initial_due: Vec<(BrandId, ScheduleId)>,
    ) {
        let mut due: Vec<(BrandId, ScheduleId)> = initial_due;
        let mut expired = Vec::new();
        let mut run_timers = Vec::new();
        loop {
            if !due.is_empty() {
                self.fire(std::mem::take(&mut due)).await;
                continue;
            }
            let now = self.clock.now_ms();
            let sleep_ms = match self.wheel.next_deadline() {
                Some(d) => (d as i64 - now).clamp(0, SLEEP_MAX_MS),
                None => SLEEP_MAX_MS,
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(Command::StartRun(brand, id)) => {
                        // Start every run queued right now together (one commit).
                        let mut execs: Vec<crate::model::Execution> =
                            self.store.get_execution(brand, id).ok().flatten().into_iter().collect();
                        let mut other = None;
                        while execs.len() < STEP_RESULTS_BATCH_MAX {
                            match rx.try_recv() {
                                Ok(Command::StartRun(b, i)) => execs.extend(self.store.get_execution(b, i).ok().flatten()),
                                Ok(cmd) => {
                                    other = Some(cmd);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.start_runs(execs).await;
                        if let Some(cmd) = other
                            && self.command(cmd, &mut due).await
                        {
                            return;
                        }
                    }
                    Some(cmd) => {
                        if self.command(cmd, &mut due).await {
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
                            DeliveryEvent::Finished { brand, schedule: Some(id) } => self.on_finished(brand, id).await,
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
            self.wheel.advance(now.max(0) as u64, &mut expired);
            for (timer, _) in expired.drain(..) {
                match self.armed.by_timer(timer) {
                    Some((brand, key @ Key::Schedule(id))) => {
                        self.armed.remove(key);
                        due.push((brand, id));
                    }
                    Some((brand, key @ Key::Retry(execution))) => {
                        self.armed.remove(key);
                        self.resume_execution(brand, execution);
                    }
                    Some((brand, key @ (Key::RunTimer(_) | Key::Approval(_)))) => {
                        self.armed.remove(key);
                        run_timers.push((brand, key));
                    }
                    None => {}
                }
            }
            for (brand, key) in run_timers.drain(..) {
                match key {
                    Key::RunTimer(run) => self.on_run_timer(brand, run).await,
                    Key::Approval(plan) => self.on_approval_deadline(brand, plan).await,
                    _ => {}
                }
            }
        }
    }

    /// Handles one API command; true when the loop must stop.
    async fn command(&mut self, cmd: Command, due: &mut Vec<(BrandId, ScheduleId)>) -> bool {
        match cmd {
            Command::Arm(brand, id) => {
                match self.store.get_schedule(brand, id) {
                    Ok(Some(s)) => self.arm(&s, due),
                    Ok(None) => self.disarm(id),
                    Err(e) => tracing::error!(error = %e, schedule = %id, "cannot load schedule to arm"),
                }
                self.metrics.set_armed(self.armed.len());
            }
            Command::Disarm(id) => {
                self.disarm(id);
                self.metrics.set_armed(self.armed.len());
            }
            Command::Armed(reply) => {
                let _ = reply.send(self.armed.len());
            }
            Command::SetStepVisitsMax(n) => self.step_visits_max = n,
            Command::CancelRun(brand, run, reply) => {
                let mut done = Err(crate::workflow::Refused::RunFinished);
                if let Ok(Some(r)) = self.store.get_run(brand, run)
                    && let Ok(Some(wf)) = self.store.get_workflow(brand, r.workflow)
                {
                    done = self.apply(r, &wf, crate::workflow::Event::Cancel, None).await;
                }
                let _ = reply.send(done);
            }
            Command::ResumeRun(brand, run, steps) => {
                if let (Ok(Some(r)), Ok(Some(e))) =
                    (self.store.get_run(brand, run), self.store.get_execution(brand, run))
                    && let Ok(Some(wf)) = self.store.get_workflow(brand, r.workflow)
                {
                    let _ = self.apply(r, &wf, crate::workflow::Event::StartAt(steps), Some(e)).await;
                }
            }
            Command::Decide { brand, plan, approve, by, reply } => {
                let r = self.decide(brand, plan, Some((approve, by))).await;
                let _ = reply.send(r);
            }
            Command::StartRun(brand, id) => {
                if let Ok(Some(e)) = self.store.get_execution(brand, id) {
                    self.start_run(e).await;
                }
            }
            Command::Shutdown(reply) => {
                let _ = reply.send(());
                return true;
            }
        }
        false
    }

    /// Fires every due schedule of this tick with one store commit.
    async fn fire(&mut self, ids: Vec<(BrandId, ScheduleId)>) {
        let now = self.clock.now_ms();
        let mut writes = Vec::with_capacity(ids.len());
        for (brand, id) in ids {
            self.disarm(id);
            let s = match self.store.get_schedule(brand, id) {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, schedule = %id, "cannot load a due schedule");
                    continue;
                }
            };
            let running = self.running.get(&id).copied().unwrap_or(0);
            let plan =
                fire::on_due_until(&s, now, now + PREFIRE_MS, self.started_at, running, &mut crate::model::FreshIds);
            if let Some(at) = s.timer_deadline() {
                self.metrics.observe_fire_lateness(now + PREFIRE_MS - at);
            }
            writes.push(FireWrite {
                expected_version: s.version,
                schedule: plan.schedule,
                executions: plan.executions,
            });
        }
        self.commit(writes).await;
    }

    /// Persists fire plans, re-arms their schedules and dispatches what fired.
    async fn commit(&mut self, writes: Vec<FireWrite>) {
        if writes.is_empty() {
            return;
        }
        let plans: Vec<(Schedule, Vec<crate::model::Execution>)> =
            writes.iter().map(|w| (w.schedule.clone(), w.executions.clone())).collect();
        let results = match self.store.record_fires(writes).await {
            Ok(r) => r,
            Err(e) => {
                // Nothing was committed: re-arm from the stored state and try again then.
                tracing::error!(error = %e, fires = plans.len(), "could not record fires; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut due = Vec::new();
                for (s, _) in &plans {
                    if let Ok(Some(stored)) = self.store.get_schedule(s.brand, s.id) {
                        self.arm(&stored, &mut due);
                    }
                }
                Box::pin(self.fire(due)).await;
                return;
            }
        };
        let mut due = Vec::new();
        let mut runs = Vec::new();
        for ((mut s, execs), committed) in plans.into_iter().zip(results) {
            if !committed {
                // The schedule changed under us (API update, delete): act on what is stored now.
                if let Ok(Some(stored)) = self.store.get_schedule(s.brand, s.id) {
                    self.arm(&stored, &mut due);
                }
                continue;
            }
            s.version += 1;
            self.arm(&s, &mut due);
            for e in execs {
                self.metrics.observe_fire(s.driver.kind(), e.status.as_str());
                if e.status == crate::model::ExecutionStatus::Pending {
                    *self.running.entry(s.id).or_default() += 1;
                    if e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none() {
                        runs.push(e);
                    } else {
                        self.delivery.dispatch(e);
                    }
                }
            }
        }
        self.start_runs(runs).await;
        self.metrics.set_armed(self.armed.len());
        if !due.is_empty() {
            Box::pin(self.fire(due)).await;
        }
    }

    async fn on_finished(&mut self, brand: BrandId, id: ScheduleId) {
        let left = match self.running.get_mut(&id) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            self.running.remove(&id);
        }
        if left > 0 {
            return;
        }
        let Ok(Some(s)) = self.store.get_schedule(brand, id) else {
            return;
        };
        if let Some(plan) = fire::release_buffered(&s, self.clock.now_ms(), &mut crate::model::FreshIds) {
            self.commit(vec![FireWrite {
                expected_version: s.version,
                schedule: plan.schedule,
                executions: plan.executions,
            }])
            .await;
        }
    }
}
