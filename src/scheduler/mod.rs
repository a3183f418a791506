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
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::delivery::{Dispatch, Finished};
use crate::metrics::Metrics;
use crate::model::{BrandId, Schedule, ScheduleId, ScheduleStatus};
use crate::store::{FireWrite, Store};
use crate::time::{Clock, Millis};
use crate::wheel::{TimerId, Wheel};

/// Capacity of the command channel (API → scheduler); senders wait when it is full.
pub const COMMAND_QUEUE_CAPACITY: usize = 4096;
/// Longest sleep between wall-clock checks, so a clock step is noticed within this bound.
const SLEEP_MAX_MS: i64 = 1000;

pub enum Command {
    /// (Re)load a schedule from the store and arm it per its status and cursor.
    Arm(BrandId, ScheduleId),
    /// Forget a schedule's timer (deleted).
    Disarm(ScheduleId),
    /// How many timers are armed (tests, metrics).
    Armed(oneshot::Sender<usize>),
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

struct Armed {
    brand: BrandId,
    timer: TimerId,
}

pub struct Scheduler<D: Dispatch> {
    store: Store,
    clock: Arc<dyn Clock>,
    delivery: D,
    metrics: Metrics,
    wheel: Wheel,
    armed: HashMap<ScheduleId, Armed>,
    timers: HashMap<TimerId, ScheduleId>,
    next_timer: TimerId,
    /// Executions of each schedule that are still running (overlap policies).
    running: HashMap<ScheduleId, usize>,
    started_at: Millis,
}

/// Starts the scheduler: re-arms every active schedule, resumes unfinished executions, and
/// runs the loop on a task. Returns the handle and the sender delivery reports completions to.
pub async fn start<D: Dispatch>(
    store: Store,
    clock: Arc<dyn Clock>,
    delivery: D,
    metrics: Metrics,
    finished: mpsc::Receiver<Finished>,
) -> Result<(SchedulerHandle, tokio::task::JoinHandle<()>), crate::store::StoreError> {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
    let now = clock.now_ms();
    let mut s = Scheduler {
        store,
        clock,
        delivery,
        metrics,
        wheel: Wheel::new(now.max(0) as u64),
        armed: HashMap::new(),
        timers: HashMap::new(),
        next_timer: 1,
        running: HashMap::new(),
        started_at: now,
    };
    let watch = crate::time::Stopwatch::start();
    let mut due_now = Vec::new();
    for sched in s.store.all_schedules()? {
        s.arm(&sched, &mut due_now);
    }
    let pending = s.store.pending_executions()?;
    let resumed = pending.len();
    for e in pending {
        if let Some(id) = e.schedule {
            *s.running.entry(id).or_default() += 1;
        }
        s.delivery.dispatch(e);
    }
    tracing::info!(
        armed = s.armed.len(),
        resumed,
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
    fn arm(&mut self, s: &Schedule, due_now: &mut Vec<ScheduleId>) {
        self.disarm(s.id);
        if s.status != ScheduleStatus::Active {
            return;
        }
        let Some(deadline) = fire::timer_deadline(s) else {
            return;
        };
        let timer = self.next_timer;
        self.next_timer += 1;
        self.armed.insert(
            s.id,
            Armed {
                brand: s.brand,
                timer,
            },
        );
        self.timers.insert(timer, s.id);
        if self.wheel.insert(timer, deadline.max(0) as u64).is_err() {
            due_now.push(s.id);
        }
    }

    fn disarm(&mut self, id: ScheduleId) {
        if let Some(a) = self.armed.remove(&id) {
            self.wheel.cancel(a.timer);
            self.timers.remove(&a.timer);
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut finished: mpsc::Receiver<Finished>,
        initial_due: Vec<ScheduleId>,
    ) {
        let mut due: Vec<ScheduleId> = initial_due;
        let mut expired = Vec::new();
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
                    Some(Command::Arm(brand, id)) => {
                        match self.store.get_schedule(brand, id) {
                            Ok(Some(s)) => self.arm(&s, &mut due),
                            Ok(None) => self.disarm(id),
                            Err(e) => tracing::error!(error = %e, schedule = %id, "cannot load schedule to arm"),
                        }
                        self.metrics.set_armed(self.armed.len());
                    }
                    Some(Command::Disarm(id)) => {
                        self.disarm(id);
                        self.metrics.set_armed(self.armed.len());
                    }
                    Some(Command::Armed(reply)) => { let _ = reply.send(self.armed.len()); }
                    Some(Command::Shutdown(reply)) => { let _ = reply.send(()); return; }
                    None => return,
                },
                Some(f) = finished.recv() => {
                    if let Some(id) = f.schedule {
                        self.on_finished(id).await;
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            }
            // Re-read the wall clock: fire whatever is due now, however long we slept.
            let now = self.clock.now_ms();
            expired.clear();
            self.wheel.advance(now.max(0) as u64, &mut expired);
            for (timer, _) in expired.drain(..) {
                if let Some(id) = self.timers.remove(&timer) {
                    due.push(id);
                }
            }
        }
    }

    /// Fires every due schedule of this tick with one store commit.
    async fn fire(&mut self, ids: Vec<ScheduleId>) {
        let now = self.clock.now_ms();
        let mut writes = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(armed) = self.armed.remove(&id) else {
                continue;
            };
            let s = match self.store.get_schedule(armed.brand, id) {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, schedule = %id, "cannot load a due schedule");
                    continue;
                }
            };
            let running = self.running.get(&id).copied().unwrap_or(0);
            let plan = fire::on_due(&s, now, self.started_at, running);
            if let Some(at) = s.next_fire_ms {
                self.metrics.observe_fire_lateness(now - at);
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
        let plans: Vec<(Schedule, Vec<crate::model::Execution>)> = writes
            .iter()
            .map(|w| (w.schedule.clone(), w.executions.clone()))
            .collect();
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
                self.metrics
                    .observe_fire(s.driver.kind(), e.status.as_str());
                if e.status == crate::model::ExecutionStatus::Pending {
                    *self.running.entry(s.id).or_default() += 1;
                    self.delivery.dispatch(e);
                }
            }
        }
        self.metrics.set_armed(self.armed.len());
        if !due.is_empty() {
            Box::pin(self.fire(due)).await;
        }
    }

    async fn on_finished(&mut self, id: ScheduleId) {
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
        let Some(brand) = self.armed.get(&id).map(|a| a.brand) else {
            return;
        };
        let Ok(Some(s)) = self.store.get_schedule(brand, id) else {
            return;
        };
        if let Some(plan) = fire::release_buffered(&s, self.clock.now_ms()) {
            self.commit(vec![FireWrite {
                expected_version: s.version,
                schedule: plan.schedule,
                executions: plan.executions,
            }])
            .await;
        }
    }
}
