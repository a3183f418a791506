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
    /// The run's own execution finished: (its schedule, its id), for overlap counting.
    finished_schedule: Option<(crate::model::ScheduleId, ExecutionId)>,
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
            let (brand, id) = (exec.brand, exec.id);
            if let Some(s) = exec.schedule {
                self.running.entry(s).or_default().insert(id);
            }
            match self.read(|st| st.get_run(brand, id)).await {
                Ok(None) => {}
                Ok(Some(_)) => continue, // already started (a resumed execution)
                Err(e) => {
                    // The execution stays pending: the next start resumes it.
                    tracing::error!(error = %e, execution = %id, "cannot check a workflow execution's run");
                    continue;
                }
            }
            let workflow = WorkflowId(exec.target_id);
            let wf = match self.read(|st| st.get_workflow(brand, workflow)).await {
                Ok(Some(wf)) => wf,
                Ok(None) => {
                    let mut e = exec;
                    e.status = ExecutionStatus::Failed;
                    e.reason = Some("workflow not found (deleted?)".into());
                    e.finished_ms = Some(self.clock.now_ms());
                    let schedule = e.schedule;
                    tracing::warn!(brand = %brand, execution = %id, schedule = ?schedule.map(|s| s.to_string()),
                        reason = "workflow not found (deleted?)", "execution failed");
                    self.metrics.activity().ended(&e);
                    if self
                        .write(|st| {
                            let e = e.clone();
                            async move { st.put_execution(&e).await }
                        })
                        .await
                        .is_ok()
                        && let Some(s) = schedule
                    {
                        self.on_finished(brand, s, id);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, execution = %id, "cannot load the workflow of an execution");
                    continue;
                }
            };
            let run = workflow::new_run(exec.id, &wf, exec.context.clone(), self.clock.now_ms());
            if let Ok(p) = self.prepare(run, &wf, Event::Start, Some(exec)).await {
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
        let p = self.prepare(run, wf, ev, parent).await?;
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
                None => match self.read(|st| st.get_run(brand, step.run)).await {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, run = %step.run, "cannot load a workflow run for a step result");
                        continue;
                    }
                },
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = workflows.entry(step.workflow) {
                match self.read(|st| st.get_workflow(brand, step.workflow)).await {
                    Ok(Some(wf)) => {
                        slot.insert(wf);
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, workflow = %step.workflow, "cannot load a workflow for a step result");
                        continue;
                    }
                }
            }
            let Some(wf) = workflows.get(&step.workflow) else { continue };
            match self.prepare(run.clone(), wf, ev, None).await {
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
    async fn prepare(
        &mut self,
        run: Run,
        wf: &Workflow,
        ev: Event,
        parent: Option<Execution>,
    ) -> Result<Prepared, Refused> {
        let now = self.clock.now_ms();
        let starts = matches!(ev, Event::Start | Event::StartAt(_));
        let (mut run, effects) = workflow::step(&run, wf, ev, now, self.step_visits_max, &mut crate::model::FreshIds)?;
        let parent = match parent {
            Some(p) => Some(p),
            None => {
                let (brand, id) = (run.brand, run.id);
                self.read(|st| st.get_execution(brand, id)).await.map_err(|e| {
                    tracing::error!(error = %e, run = %id, "cannot load a workflow run's execution");
                    Refused::NotStored
                })?
            }
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
                        event: parent.as_ref().and_then(|p| p.event),
                        created_ms: now,
                        finished_ms: None,
                    };
                    run.visits[visit].execution = Some(id);
                    rw.executions.push(exec.clone());
                    dispatch.push(exec);
                }
                Effect::CreatePlan(p) => rw.plans.push(p),
                Effect::DecidePlan { plan, status, by, at } => {
                    let brand = run.brand;
                    match self.read(|st| st.get_plan(brand, plan)).await {
                        Ok(Some(mut p)) => {
                            p.status = status;
                            p.decided_by = by;
                            p.decided_at = Some(at);
                            p.notes = self.decision_notes.take();
                            rw.plans.push(p);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(error = %e, plan = %plan, "cannot load an approval plan");
                            return Err(Refused::NotStored);
                        }
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
            self.metrics.activity().ended(&p);
            finished_schedule = p.schedule.map(|s| (s, p.id));
            if p.status == ExecutionStatus::Failed {
                tracing::warn!(brand = %p.brand, execution = %p.id, schedule = ?p.schedule.map(|s| s.to_string()),
                    workflow = %wf.id, reason = p.reason.as_deref().unwrap_or(""), "execution failed");
            }
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
        // While the store cannot write, this waits (and retries the same write): the loop
        // handles nothing else meanwhile, so no other change to these runs can come between.
        if let Err(e) = self
            .write(|st| {
                let rw = rw.clone();
                async move { st.write_run(rw).await }
            })
            .await
        {
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
            if let Some((s, execution)) = p.finished_schedule {
                self.on_finished(brand, s, execution);
            }
        }
        true
    }

    /// The run's delay/retry timer fired.
    pub(super) async fn on_run_timer(&mut self, brand: BrandId, run: ExecutionId) {
        match self.load_run(brand, run).await {
            Ok(Some((r, wf))) => {
                let _ = self.apply(r, &wf, Event::Timer, None).await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, run = %run, "cannot load a workflow run for its timer"),
        }
    }

    pub(super) async fn on_approval_deadline(&mut self, brand: BrandId, plan: PlanId) {
        let _ = self.decide(brand, plan, None, None).await;
    }

    /// Approve/reject (`approve` Some) or apply the timeout action (`None`), recording the
    /// decider's `notes`.
    pub(super) async fn decide(
        &mut self,
        brand: BrandId,
        plan: PlanId,
        decision: Option<(bool, KeyId)>,
        notes: Option<String>,
    ) -> Result<(), Refused> {
        let stored = |e: crate::store::StoreError| {
            tracing::error!(error = %e, plan = %plan, "cannot load an approval plan");
            Refused::NotStored
        };
        let p: ApprovalPlan =
            self.read(|st| st.get_plan(brand, plan)).await.map_err(stored)?.ok_or(Refused::PlanNotWaiting)?;
        if p.is_standalone() {
            return self.decide_standalone(&p, decision, notes).await;
        }
        let (run, wf) = self.load_run(brand, p.run).await.map_err(stored)?.ok_or(Refused::PlanNotWaiting)?;
        let ev = match decision {
            Some((approve, by)) => Event::Decision { plan, approve, by: Some(by) },
            None => Event::ApprovalDeadline { plan },
        };
        self.decision_notes = notes;
        let r = self.apply(run, &wf, ev, None).await;
        self.decision_notes = None;
        r
    }

    /// Decides a standalone approval request: the decided plan and the execution of the
    /// chosen target are one commit; the execution is dispatched after it (a workflow target
    /// starts its run). A crash after the commit resumes the execution like any pending one.
    async fn decide_standalone(
        &mut self,
        p: &ApprovalPlan,
        decision: Option<(bool, KeyId)>,
        notes: Option<String>,
    ) -> Result<(), Refused> {
        let now = self.clock.now_ms();
        let d = workflow::approval::decide(p, decision, notes, now, ExecutionId::new())?;
        let rw = RunWrite {
            runs: Vec::new(),
            plans: vec![d.plan.clone()],
            executions: d.execution.iter().cloned().collect(),
        };
        // While the store cannot write, this waits (and retries the same write).
        if let Err(e) = self
            .write(|st| {
                let rw = rw.clone();
                async move { st.write_run(rw).await }
            })
            .await
        {
            tracing::error!(error = %e, plan = %p.id, "could not record an approval decision; the request stays waiting");
            return Err(Refused::NotStored);
        }
        tracing::info!(brand = %p.brand, plan = %p.id, decision = workflow::approval::decision_word(d.plan.status == crate::model::PlanStatus::Approved),
            timed_out = decision.is_none(), execution = ?d.execution.as_ref().map(|e| e.id.to_string()), "approval request decided");
        if let Some(e) = d.execution {
            if e.target_kind == crate::model::TargetKind::Workflow {
                self.start_run(e).await;
            } else {
                self.delivery.dispatch(e);
            }
        }
        Ok(())
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
                let e = match self.read(|st| st.get_execution(r.brand, exec_id)).await {
                    Ok(Some(e)) => e,
                    Ok(None) => continue,
                    Err(e) => return Err(e),
                };
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
            let (brand, workflow) = (r.brand, r.workflow);
            if let Some(wf) = self.read(|st| st.get_workflow(brand, workflow)).await? {
                let _ = self.apply(r, &wf, Event::Start, None).await;
            }
        }
        Ok(runs.len())
    }
}
