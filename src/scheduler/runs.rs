//! Workflow runs inside the scheduler loop: the loop feeds events to the pure engine
//! (`workflow::step`), commits the new run state together with everything the effects create
//! (step executions, approval plans, the parent execution's final status) in one write, then
//! dispatches step deliveries and arms timers (delays, workflow retries, approval deadlines).

use std::collections::HashMap;

use super::{Key, Scheduler};
use crate::delivery::Dispatch;
use crate::model::{
    ApprovalPlan, BrandId, Execution, ExecutionId, ExecutionStatus, KeyId, PlanId, Run, RunStatus, StepRef, Trigger,
    Workflow, WorkflowId,
};
use crate::store::RunWrite;
use crate::workflow::{self, Effect, Event, Refused};

/// One engine step, ready to be committed and performed.
pub(super) struct Prepared {
    run: Run,
    write: RunWrite,
    timers: Vec<(Key, crate::time::Millis)>,
    dispatch: Vec<Execution>,
    finished_schedule: Option<crate::model::ScheduleId>,
}

/// Default bound on step visits per run (cycles are allowed, runs are not endless);
/// `workflows.step_visits_per_run_max` sets it.
pub const MAX_STEPS_PER_RUN: u32 = 1000;

impl<D: Dispatch> Scheduler<D> {
    /// Starts a run for a workflow execution (a schedule's fire or `execute_workflow`).
    pub(super) async fn start_run(&mut self, exec: Execution) {
        self.start_runs(vec![exec]).await;
    }

    /// Starts several runs with one commit (a burst of `execute_workflow` calls or fires).
    pub(super) async fn start_runs(&mut self, execs: Vec<Execution>) {
        let mut prepared = Vec::with_capacity(execs.len());
        for exec in execs {
            if self.store.get_run(exec.brand, exec.id).ok().flatten().is_some() {
                continue; // already started (a resumed execution)
            }
            let Some(wf) = self.store.get_workflow(exec.brand, WorkflowId(exec.target_id)).ok().flatten() else {
                let mut e = exec;
                e.status = ExecutionStatus::Failed;
                e.reason = Some("workflow not found (deleted?)".into());
                e.finished_ms = Some(self.clock.now_ms());
                let (brand, schedule) = (e.brand, e.schedule);
                if self.store.put_execution(e).await.is_ok()
                    && let Some(s) = schedule
                {
                    Box::pin(self.on_finished(brand, s)).await;
                }
                continue;
            };
            let run = workflow::new_run(exec.id, &wf, exec.context.clone(), self.clock.now_ms());
            if let Ok(p) = self.prepare(run, &wf, Event::Start, Some(exec)) {
                prepared.push(p);
            }
        }
        self.perform(prepared).await;
    }

    /// Feeds one event to the engine and performs its effects.
    pub(super) async fn apply(
        &mut self,
        run: Run,
        wf: &Workflow,
        ev: Event,
        parent: Option<Execution>,
    ) -> Result<(), Refused> {
        let p = self.prepare(run, wf, ev, parent)?;
        if self.perform(vec![p]).await { Ok(()) } else { Err(Refused::NotStored) }
    }

    /// Step results of many runs at once (a burst of completions): one engine step each, one
    /// commit for all of them. Events of the same run apply in order to its newest state.
    pub(super) async fn on_steps_finished(&mut self, events: Vec<(BrandId, StepRef, Event)>) {
        let mut latest: HashMap<ExecutionId, Run> = HashMap::new();
        let mut workflows: HashMap<WorkflowId, Workflow> = HashMap::new();
        let mut prepared = Vec::with_capacity(events.len());
        for (brand, step, ev) in events {
            let run = match latest.remove(&step.run) {
                Some(r) => r,
                None => match self.store.get_run(brand, step.run) {
                    Ok(Some(r)) => r,
                    _ => continue,
                },
            };
            let wf = match workflows.entry(step.workflow) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => match self.store.get_workflow(brand, step.workflow) {
                    Ok(Some(wf)) => v.insert(wf),
                    _ => continue,
                },
            };
            match self.prepare(run.clone(), wf, ev, None) {
                Ok(p) => {
                    latest.insert(step.run, p.run.clone());
                    prepared.push(p);
                }
                Err(_) => {
                    latest.insert(step.run, run);
                }
            }
        }
        self.perform(prepared).await;
    }

    /// Runs the engine for one event and turns its effects into records to write and actions
    /// to take after the write.
    fn prepare(&mut self, run: Run, wf: &Workflow, ev: Event, parent: Option<Execution>) -> Result<Prepared, Refused> {
        let now = self.clock.now_ms();
        let starts = matches!(ev, Event::Start | Event::StartAt(_));
        let (mut run, effects) = workflow::step(&run, wf, ev, now, self.step_visits_max, &mut crate::model::FreshIds)?;
        let parent = match parent {
            Some(p) => Some(p),
            None => self.store.get_execution(run.brand, run.id).ok().flatten(),
        };
        // A fire is recorded (and its run started) up to PREFIRE_MS before its instant, but no
        // step may be sent before it: the steps a run starts with are due when the run is, and
        // their lateness counts from the run's scheduled instant. Later steps are due at once.
        let (step_scheduled_ms, step_due_ms) = match &parent {
            Some(p) if starts => (p.scheduled_ms, p.due_ms),
            _ => (now, now),
        };
        let base_key = parent
            .as_ref()
            .map(|p| p.idempotency_key.clone())
            .unwrap_or_else(|| format!("hw_run_{}", run.id.0.simple()));
        let mut rw = RunWrite::default();
        let mut dispatch = Vec::new();
        let mut timers = Vec::new();
        let mut finished = false;
        for e in effects {
            match e {
                Effect::Deliver { visit } => {
                    let v = &run.visits[visit];
                    let id = ExecutionId::new();
                    let context = v.context.clone().and_then(|c| c.as_object().cloned()).unwrap_or_default();
                    let exec = Execution {
                        id,
                        brand: run.brand,
                        schedule: parent.as_ref().and_then(|p| p.schedule),
                        target_kind: crate::model::TargetKind::Workflow,
                        target_id: wf.id.0,
                        trigger: parent.as_ref().map(|p| p.trigger).unwrap_or(Trigger::Manual),
                        scheduled_ms: step_scheduled_ms,
                        due_ms: step_due_ms,
                        idempotency_key: format!("{base_key}_{}_{visit}", v.identifier),
                        status: ExecutionStatus::Pending,
                        context,
                        skipped_rule: None,
                        reason: None,
                        attempts: Vec::new(),
                        lateness_ms: None,
                        next_attempt_ms: None,
                        retry_of: None,
                        step: Some(StepRef { run: run.id, workflow: wf.id, step: v.step, visit }),
                        created_ms: now,
                        finished_ms: None,
                    };
                    run.visits[visit].execution = Some(id);
                    rw.executions.push(exec.clone());
                    dispatch.push(exec);
                }
                Effect::CreatePlan(p) => rw.plans.push(p),
                Effect::DecidePlan { plan, status, by, at } => {
                    if let Ok(Some(mut p)) = self.store.get_plan(run.brand, plan) {
                        p.status = status;
                        p.decided_by = by;
                        p.decided_at = Some(at);
                        rw.plans.push(p);
                    }
                }
                Effect::Timer { at } => timers.push((Key::RunTimer(run.id), at)),
                Effect::ApprovalTimer { plan, at } => timers.push((Key::Approval(plan), at)),
                Effect::Finished => finished = true,
            }
        }
        let mut finished_schedule = None;
        if finished && let Some(mut p) = parent.clone() {
            p.status = match run.status {
                RunStatus::Succeeded | RunStatus::CompletedWithFailures => ExecutionStatus::Succeeded,
                RunStatus::Cancelled => ExecutionStatus::Cancelled,
                _ => ExecutionStatus::Failed,
            };
            p.reason = Some(match &run.reason {
                Some(r) => format!("workflow run {}: {r}", run.status.as_str()),
                None => format!("workflow run {}", run.status.as_str()),
            });
            p.finished_ms = Some(now);
            if p.lateness_ms.is_none() {
                p.lateness_ms = self.first_request_lateness(&run, p.scheduled_ms);
            }
            self.metrics.observe_execution(p.status.as_str());
            finished_schedule = p.schedule;
            rw.executions.push(p);
        }
        Ok(Prepared { run, write: rw, timers, dispatch, finished_schedule })
    }

    /// A run's lateness: its first step request's start minus the run's `scheduled_ms` (the
    /// meaning `lateness_ms` has for every execution); `None` when no step request was made.
    fn first_request_lateness(&self, run: &Run, scheduled_ms: crate::time::Millis) -> Option<i64> {
        let mut first: Option<crate::time::Millis> = None;
        for v in &run.visits {
            // Visits are entered in time order: one entered after the earliest request found
            // cannot have made an earlier one.
            if first.is_some_and(|f| v.started_ms.is_some_and(|s| s > f)) {
                break;
            }
            let Some(id) = v.execution else { continue };
            match self.store.get_execution(run.brand, id) {
                Ok(Some(e)) => {
                    if let Some(a) = e.attempts.first() {
                        first = Some(first.map_or(a.started_ms, |f| f.min(a.started_ms)));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, run = %run.id, "cannot read a step execution; the run's lateness is not recorded");
                    return None;
                }
            }
        }
        first.map(|f| f - scheduled_ms)
    }

    /// Commits prepared engine steps in one write, then arms their timers, starts their step
    /// deliveries and reports finished runs to their schedules.
    /// False when nothing could be stored (the runs stay at their last stored state).
    async fn perform(&mut self, prepared: Vec<Prepared>) -> bool {
        if prepared.is_empty() {
            return true;
        }
        let mut rw = RunWrite::default();
        for p in &prepared {
            rw.runs.push(p.run.clone());
            rw.plans.extend(p.write.plans.iter().cloned());
            rw.executions.extend(p.write.executions.iter().cloned());
        }
        if let Err(e) = self.store.write_run(rw).await {
            tracing::error!(error = %e, "could not record workflow steps; the runs resume from their last state");
            return false;
        }
        for p in prepared {
            let brand = p.run.brand;
            for (key, at) in p.timers {
                self.arm_key(brand, key, at);
            }
            for e in p.dispatch {
                self.delivery.dispatch(e);
            }
            if let Some(s) = p.finished_schedule {
                Box::pin(self.on_finished(brand, s)).await;
            }
        }
        true
    }

    /// The run's delay/retry timer fired.
    pub(super) async fn on_run_timer(&mut self, brand: BrandId, run: ExecutionId) {
        let Ok(Some(r)) = self.store.get_run(brand, run) else { return };
        let Ok(Some(wf)) = self.store.get_workflow(brand, r.workflow) else { return };
        let _ = self.apply(r, &wf, Event::Timer, None).await;
    }

    pub(super) async fn on_approval_deadline(&mut self, brand: BrandId, plan: PlanId) {
        let _ = self.decide(brand, plan, None).await;
    }

    /// Approve/reject (`approve` Some) or apply the timeout action (`None`).
    pub(super) async fn decide(
        &mut self,
        brand: BrandId,
        plan: PlanId,
        decision: Option<(bool, KeyId)>,
    ) -> Result<(), Refused> {
        let p: ApprovalPlan = self.store.get_plan(brand, plan).ok().flatten().ok_or(Refused::PlanNotWaiting)?;
        let run = self.store.get_run(brand, p.run).ok().flatten().ok_or(Refused::PlanNotWaiting)?;
        let wf = self.store.get_workflow(brand, run.workflow).ok().flatten().ok_or(Refused::PlanNotWaiting)?;
        let ev = match decision {
            Some((approve, by)) => Event::Decision { plan, approve, by: Some(by) },
            None => Event::ApprovalDeadline { plan },
        };
        self.apply(run, &wf, ev, None).await
    }

    /// Start-up: re-arms the timers of unfinished runs and approval deadlines.
    pub(super) async fn rearm_runs(&mut self) -> Result<usize, crate::store::StoreError> {
        let runs = self.store.unfinished_runs()?;
        for r in &runs {
            if let Some(w) = &r.waiting {
                let at = match w {
                    crate::model::Waiting::Delay { until, .. } | crate::model::Waiting::Retry { until, .. } => *until,
                };
                self.arm_key(r.brand, Key::RunTimer(r.id), at);
            }
        }
        for p in self.store.all_waiting_plans()? {
            if let Some(at) = p.deadline_ms {
                self.arm_key(p.brand, Key::Approval(p.id), at);
            }
        }
        // A step whose result was committed just before a crash, before its run moved on: its
        // result is fed to the engine again (from the finished step execution).
        let mut results = Vec::new();
        let mut restart = Vec::new();
        for r in &runs {
            let active = r.visits.iter().any(|v| !v.status.is_finished());
            if !active && r.waiting.is_none() {
                restart.push(r.clone());
            }
            for (visit, v) in r.visits.iter().enumerate() {
                let Some(exec_id) = v.execution.filter(|_| v.status == crate::model::StepStatus::Running) else {
                    continue;
                };
                let Ok(Some(e)) = self.store.get_execution(r.brand, exec_id) else { continue };
                if !e.status.is_finished() {
                    continue; // still pending: delivery resumes it and reports back
                }
                let last = e.attempts.last();
                let ev = Event::StepDone {
                    visit,
                    ok: e.status == ExecutionStatus::Succeeded,
                    status_code: last.and_then(|a| a.status_code),
                    response: last.and_then(|a| a.response_json.clone()),
                    error: e.reason.clone().or_else(|| last.and_then(|a| a.error.clone())),
                };
                let step = StepRef { run: r.id, workflow: r.workflow, step: v.step, visit };
                results.push((r.brand, step, ev));
            }
        }
        self.on_steps_finished(results).await;
        // A run with nothing running and nothing to wait for (a crash inside a rerun, between
        // storing the run and starting its first step): start it from its first step.
        for r in restart {
            if let Ok(Some(wf)) = self.store.get_workflow(r.brand, r.workflow) {
                let _ = self.apply(r, &wf, Event::Start, None).await;
            }
        }
        Ok(runs.len())
    }
}
