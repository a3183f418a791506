//! The workflow engine, pure: `step(run, workflow, event, now, max_steps, ids) -> (run,
//! effects)`.
//!
//! The scheduler loop owns runs: it persists the new run state with the effects' records in
//! one commit, then performs the effects (step deliveries through the delivery engine, timers
//! in the wheel). Nothing here does I/O, reads the clock or draws an id: time and the ids of
//! new approval plans ([`IdSource`]) come from the caller.
//!
//! FIFO (`fifo_sequential`): start at the lowest index; after a step, success follows
//! `on_success_next_step_identifier` or the next index; failure follows
//! `on_fail_next_step_identifier` or `failure_strategy` (`stop` ends the run `failed`,
//! `continue` goes to the next index). A false condition skips the step and follows its success
//! route. `delay_to_next_step` waits on a timer. An approval step pauses before it runs.
//! Concurrent: every step starts at once; the run ends when all have; `continue` makes a run
//! with failures `completed_with_failures`. A failed run retries per `retry_strategy`. Every run
//! is bounded by `max_steps_per_run` step visits (cycles are allowed). A route that names no
//! step of the workflow (routes may point forward when they are written) fails the run when a
//! visit reaches it, with a reason naming the route and its step.

pub mod approval;
pub mod condition;

use serde_json::{Map, Value, json};

use crate::model::{
    ApprovalPlan, ExecutionId, FailureStrategy, IdSource, KeyId, PlanId, PlanStatus, RetryStrategy, Run, RunStatus,
    RunType, Step, StepId, StepRun, StepStatus, TimeoutAction, Waiting, Workflow,
};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start,
    /// Start (a rerun) at these steps instead of the first (FIFO: the first of them).
    StartAt(Vec<StepId>),
    /// A step visit's delivery ended.
    StepDone {
        visit: usize,
        ok: bool,
        status_code: Option<u16>,
        response: Option<Value>,
        error: Option<String>,
    },
    /// The run's timer (delay or workflow retry) fired.
    Timer,
    /// `cancel_execution` on the run's execution.
    Cancel,
    /// An approval plan's deadline passed.
    ApprovalDeadline {
        plan: PlanId,
    },
    /// A person approved or rejected a plan.
    Decision {
        plan: PlanId,
        approve: bool,
        by: Option<KeyId>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start the HTTP call of this visit (its context is in the visit).
    Deliver {
        visit: usize,
    },
    CreatePlan(ApprovalPlan),
    DecidePlan {
        plan: PlanId,
        status: PlanStatus,
        by: Option<KeyId>,
        at: Millis,
    },
    /// Arm the run's timer (delay or retry).
    Timer {
        at: Millis,
    },
    ApprovalTimer {
        plan: PlanId,
        at: Millis,
    },
    /// The run reached a final status.
    Finished,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The plan is not waiting (approved/rejected already, or unknown to this run).
    PlanNotWaiting,
    /// The run is finished.
    RunFinished,
    /// The new state could not be stored (the caller reports an internal error).
    NotStored,
}

/// The context a step sees: the initial context's keys, plus `step` with `response` (the
/// previous visit's parsed response) and, per earlier step identifier, `{response,
/// status_code}`.
pub fn step_context(run: &Run) -> Value {
    let mut ctx: Map<String, Value> = run.initial_context.clone();
    let mut steps = Map::new();
    let mut last: Option<&StepRun> = None;
    for v in &run.visits {
        if matches!(v.status, StepStatus::Succeeded | StepStatus::Failed) {
            steps.insert(
                v.identifier.clone(),
                json!({"response": v.response.clone().unwrap_or(Value::Null), "status_code": v.status_code}),
            );
            last = Some(v);
        }
    }
    if let Some(l) = last {
        steps.insert("response".into(), l.response.clone().unwrap_or(Value::Null));
        steps.insert("status_code".into(), json!(l.status_code));
    }
    ctx.insert("step".into(), Value::Object(steps));
    Value::Object(ctx)
}

struct Ctx<'a> {
    wf: &'a Workflow,
    ids: &'a mut dyn IdSource,
    now: Millis,
    max_steps: u32,
    effects: Vec<Effect>,
    /// Concurrent mode: steps are still being entered together; settle once they all are.
    starting: bool,
}

impl Ctx<'_> {
    fn step(&self, id: StepId) -> Option<&Step> {
        self.wf.steps.iter().find(|s| s.id == id)
    }
    fn by_identifier(&self, ident: &str) -> Option<&Step> {
        self.wf.steps.iter().find(|s| s.identifier == ident)
    }
    fn first(&self) -> Option<&Step> {
        self.wf.steps.iter().min_by_key(|s| s.index)
    }
    fn after(&self, index: i64) -> Option<&Step> {
        self.wf.steps.iter().filter(|s| s.index > index).min_by_key(|s| s.index)
    }
}

/// Applies one event at `now`, bounding the run to `max_steps` step visits; new approval plans
/// take their ids from `ids`. `Err` when the event cannot apply (the caller answers 409 for a
/// decision on a plan that is not waiting).
pub fn step(
    run: &Run,
    wf: &Workflow,
    ev: Event,
    now: Millis,
    max_steps: u32,
    ids: &mut dyn IdSource,
) -> Result<(Run, Vec<Effect>), Refused> {
    let mut r = run.clone();
    if r.status.is_finished() {
        return Err(Refused::RunFinished);
    }
    let mut cx = Ctx { wf, ids, now, max_steps, effects: Vec::new(), starting: false };
    match ev {
        Event::Start => match wf.runtype {
            RunType::FifoSequential => match cx.first().map(|s| s.id) {
                Some(first) => enter(&mut r, &mut cx, first),
                None => finish(&mut r, &mut cx, RunStatus::Succeeded, Some("the workflow has no steps".into())),
            },
            RunType::Concurrently => {
                let ids: Vec<StepId> = wf.steps.iter().map(|s| s.id).collect();
                if ids.is_empty() {
                    finish(&mut r, &mut cx, RunStatus::Succeeded, Some("the workflow has no steps".into()));
                }
                cx.starting = true;
                for id in ids {
                    enter(&mut r, &mut cx, id);
                }
                cx.starting = false;
                settle_concurrent(&mut r, &mut cx);
            }
        },
        Event::StartAt(steps) => match wf.runtype {
            RunType::FifoSequential => match steps.first() {
                Some(s) => enter(&mut r, &mut cx, *s),
                None => finish(&mut r, &mut cx, RunStatus::Succeeded, None),
            },
            RunType::Concurrently => {
                cx.starting = true;
                for s in steps {
                    enter(&mut r, &mut cx, s);
                }
                cx.starting = false;
                settle_concurrent(&mut r, &mut cx);
            }
        },
        Event::StepDone { visit, ok, status_code, response, error } => {
            let Some(v) = r.visits.get_mut(visit) else { return Err(Refused::RunFinished) };
            if v.status.is_finished() {
                return Ok((r, Vec::new()));
            }
            v.status = if ok { StepStatus::Succeeded } else { StepStatus::Failed };
            v.status_code = status_code;
            v.response = response;
            v.error = error;
            v.finished_ms = Some(now);
            let step = v.step;
            after_step(&mut r, &mut cx, step, ok);
        }
        Event::Timer => match r.waiting.take() {
            Some(Waiting::Delay { next, .. }) => enter(&mut r, &mut cx, next),
            Some(Waiting::Retry { from, .. }) => {
                r.workflow_retries += 1;
                r.status = RunStatus::Running;
                match (wf.runtype, from) {
                    (RunType::FifoSequential, Some(s)) => enter(&mut r, &mut cx, s),
                    (RunType::FifoSequential, None) => {
                        if let Some(first) = cx.first().map(|s| s.id) {
                            enter(&mut r, &mut cx, first);
                        }
                    }
                    (RunType::Concurrently, _) => {
                        let ids: Vec<StepId> = match wf.retry_strategy {
                            RetryStrategy::FromInitialStep => wf.steps.iter().map(|s| s.id).collect(),
                            _ => {
                                let failed: Vec<StepId> = latest_visits(&r)
                                    .into_iter()
                                    .filter(|v| matches!(v.status, StepStatus::Failed | StepStatus::Rejected))
                                    .map(|v| v.step)
                                    .collect();
                                failed
                            }
                        };
                        cx.starting = true;
                        for id in ids {
                            enter(&mut r, &mut cx, id);
                        }
                        cx.starting = false;
                        settle_concurrent(&mut r, &mut cx);
                    }
                }
            }
            None => {}
        },
        Event::ApprovalDeadline { plan } => {
            let Some(visit) = waiting_visit(&r, plan) else { return Err(Refused::PlanNotWaiting) };
            let step = cx.step(r.visits[visit].step).cloned();
            let approve = step.is_some_and(|s| s.approval_timeout_action == TimeoutAction::Approve);
            decide(&mut r, &mut cx, visit, plan, approve, None);
        }
        Event::Decision { plan, approve, by } => {
            let Some(visit) = waiting_visit(&r, plan) else { return Err(Refused::PlanNotWaiting) };
            decide(&mut r, &mut cx, visit, plan, approve, by);
        }
        Event::Cancel => {
            let waiting: Vec<PlanId> =
                r.visits.iter().filter(|v| v.status == StepStatus::WaitingApproval).filter_map(|v| v.plan).collect();
            for plan in waiting {
                cx.effects.push(Effect::DecidePlan { plan, status: PlanStatus::Rejected, by: None, at: now });
            }
            finish(&mut r, &mut cx, RunStatus::Cancelled, Some("cancelled through the API".into()));
        }
    }
    Ok((r, cx.effects))
}

fn waiting_visit(r: &Run, plan: PlanId) -> Option<usize> {
    r.visits.iter().position(|v| v.plan == Some(plan) && v.status == StepStatus::WaitingApproval)
}

/// The most recent visit of every step (concurrent runs and retries).
fn latest_visits(r: &Run) -> Vec<&StepRun> {
    let mut out: Vec<&StepRun> = Vec::new();
    for v in r.visits.iter().rev() {
        if !out.iter().any(|o| o.step == v.step) {
            out.push(v);
        }
    }
    out
}

/// Starts a visit of `step`: bound check, condition, approval gate, or delivery.
fn enter(r: &mut Run, cx: &mut Ctx<'_>, step_id: StepId) {
    let Some(step) = cx.step(step_id).cloned() else {
        finish(r, cx, RunStatus::Failed, Some("a route names a step that no longer exists".into()));
        return;
    };
    if r.steps_started >= cx.max_steps {
        finish(
            r,
            cx,
            RunStatus::Failed,
            Some(format!("stopped after {} step visits (max_steps_per_run)", cx.max_steps)),
        );
        return;
    }
    r.steps_started += 1;
    let context = step_context(r);
    let mut visit = StepRun {
        step: step.id,
        identifier: step.identifier.clone(),
        index: step.index,
        status: StepStatus::Pending,
        execution: None,
        status_code: None,
        response: None,
        error: None,
        started_ms: Some(cx.now),
        finished_ms: None,
        context: Some(context.clone()),
        plan: None,
    };
    if let Some(c) = &step.condition
        && !condition::holds(c, &context)
    {
        visit.status = StepStatus::Skipped;
        visit.finished_ms = Some(cx.now);
        visit.error = Some(format!("condition {} {} {} is false", c.field, c.operator.as_str(), c.value));
        r.visits.push(visit);
        after_step(r, cx, step.id, true);
        return;
    }
    let idx = r.visits.len();
    if step.human_approval_required {
        let plan = cx.ids.plan();
        let deadline = step.approval_timeout_seconds.map(|s| cx.now + i64::from(s) * 1000);
        visit.status = StepStatus::WaitingApproval;
        visit.plan = Some(plan);
        r.visits.push(visit);
        r.status = RunStatus::WaitingApproval;
        cx.effects.push(Effect::CreatePlan(ApprovalPlan {
            id: plan,
            brand: r.brand,
            run: r.id,
            workflow: cx.wf.id,
            workflow_name: cx.wf.name.clone(),
            step: step.id,
            identifier: step.identifier.clone(),
            index: step.index,
            visit: idx,
            delay_to_next_step_seconds: step.delay_to_next_step_seconds,
            status: PlanStatus::WaitingApproval,
            deadline_ms: deadline,
            timeout_action: step.approval_timeout_action,
            decided_by: None,
            decided_at: None,
            created_ms: cx.now,
            notes: None,
            standalone: None,
        }));
        if let Some(at) = deadline {
            cx.effects.push(Effect::ApprovalTimer { plan, at });
        }
        return;
    }
    visit.status = StepStatus::Running;
    r.visits.push(visit);
    if r.status == RunStatus::WaitingApproval && !r.visits.iter().any(|v| v.status == StepStatus::WaitingApproval) {
        r.status = RunStatus::Running;
    }
    cx.effects.push(Effect::Deliver { visit: idx });
}

fn decide(r: &mut Run, cx: &mut Ctx<'_>, visit: usize, plan: PlanId, approve: bool, by: Option<KeyId>) {
    cx.effects.push(Effect::DecidePlan {
        plan,
        status: if approve { PlanStatus::Approved } else { PlanStatus::Rejected },
        by,
        at: cx.now,
    });
    let step = r.visits[visit].step;
    if approve {
        r.visits[visit].status = StepStatus::Running;
        r.visits[visit].context = Some(step_context(r));
        if !r.visits.iter().any(|v| v.status == StepStatus::WaitingApproval) {
            r.status = RunStatus::Running;
        }
        cx.effects.push(Effect::Deliver { visit });
    } else {
        r.visits[visit].status = StepStatus::Rejected;
        r.visits[visit].finished_ms = Some(cx.now);
        r.visits[visit].error = Some(match by {
            Some(_) => "rejected by a person".into(),
            None => "approval timed out (approval_timeout_action reject)".into(),
        });
        if !r.visits.iter().any(|v| v.status == StepStatus::WaitingApproval) {
            r.status = RunStatus::Running;
        }
        after_step(r, cx, step, false);
    }
}

/// Routing after a visit of `step` ended (`ok`: succeeded or skipped).
fn after_step(r: &mut Run, cx: &mut Ctx<'_>, step_id: StepId, ok: bool) {
    if cx.wf.runtype == RunType::Concurrently {
        settle_concurrent(r, cx);
        return;
    }
    let Some(step) = cx.step(step_id).cloned() else {
        finish(r, cx, RunStatus::Failed, Some("a step of the run no longer exists (deleted during the run)".into()));
        return;
    };
    let (route_field, route) = if ok {
        ("on_success_next_step_identifier", step.on_success.as_deref())
    } else {
        ("on_fail_next_step_identifier", step.on_fail.as_deref())
    };
    let next = match route.filter(|s| !s.is_empty()) {
        Some(ident) => match cx.by_identifier(ident) {
            Some(s) => Some(s.id),
            None => {
                // A route may be written before its target step exists; one that still names
                // no step is a mistake in the workflow, not a failure of the call, so it ends
                // the run without a workflow retry (a retry would reach the same route).
                let why =
                    format!("{route_field} {ident:?} of step {:?} names no step in this workflow", step.identifier);
                finish(r, cx, RunStatus::Failed, Some(why));
                return;
            }
        },
        None if ok => cx.after(step.index).map(|s| s.id),
        None => match cx.wf.failure_strategy {
            FailureStrategy::Stop => {
                run_failed(r, cx, step_id, format!("step {} failed", step.identifier));
                return;
            }
            FailureStrategy::Continue => cx.after(step.index).map(|s| s.id),
        },
    };
    match next {
        None => {
            // Failures that no `on_fail` route handled (the run went on by `continue`) make
            // the run `completed_with_failures`; a later successful visit of the same step
            // (a workflow retry) supersedes its failure.
            let unhandled = latest_visits(r).iter().any(|v| {
                matches!(v.status, StepStatus::Failed | StepStatus::Rejected)
                    && cx.step(v.step).is_none_or(|s| s.on_fail.as_deref().is_none_or(str::is_empty))
            });
            let status = if unhandled { RunStatus::CompletedWithFailures } else { RunStatus::Succeeded };
            finish(r, cx, status, None);
        }
        Some(n) if step.delay_to_next_step_seconds > 0 => {
            let until = cx.now + i64::from(step.delay_to_next_step_seconds) * 1000;
            r.waiting = Some(Waiting::Delay { until, next: n });
            cx.effects.push(Effect::Timer { at: until });
        }
        Some(n) => enter(r, cx, n),
    }
}

/// Concurrent mode: when no visit is still open, the run ends.
fn settle_concurrent(r: &mut Run, cx: &mut Ctx<'_>) {
    if r.status.is_finished() || r.waiting.is_some() || cx.starting {
        return;
    }
    // Only the steps the run started count: a step added to the workflow meanwhile does not
    // hold the run open.
    let latest = latest_visits(r);
    if latest.iter().any(|v| !v.status.is_finished()) {
        return;
    }
    let failed = latest
        .iter()
        .find(|v| matches!(v.status, StepStatus::Failed | StepStatus::Rejected))
        .map(|v| (v.step, v.identifier.clone()));
    match failed {
        None => finish(r, cx, RunStatus::Succeeded, None),
        Some(_) if cx.wf.failure_strategy == FailureStrategy::Continue => {
            finish(r, cx, RunStatus::CompletedWithFailures, None)
        }
        Some((step, ident)) => run_failed(r, cx, step, format!("step {ident} failed")),
    }
}

/// The run failed: retry it per `retry_strategy` or end it `failed`.
fn run_failed(r: &mut Run, cx: &mut Ctx<'_>, failed_step: StepId, why: String) {
    if cx.wf.retry_strategy != RetryStrategy::None && r.workflow_retries < cx.wf.max_retries {
        let until = cx.now + i64::from(cx.wf.retry_delay_seconds) * 1000;
        let from = match cx.wf.retry_strategy {
            RetryStrategy::FromFailedStep => Some(failed_step),
            _ => None,
        };
        r.waiting = Some(Waiting::Retry { until, from });
        r.reason = Some(format!("{why}; retrying the workflow"));
        cx.effects.push(Effect::Timer { at: until });
        return;
    }
    finish(r, cx, RunStatus::Failed, Some(why));
}

fn finish(r: &mut Run, cx: &mut Ctx<'_>, status: RunStatus, reason: Option<String>) {
    if r.status.is_finished() {
        return;
    }
    r.status = status;
    r.waiting = None;
    r.finished_ms = Some(cx.now);
    if reason.is_some() {
        r.reason = reason;
    }
    cx.effects.push(Effect::Finished);
}

/// A new run of `wf` for execution `id`.
pub fn new_run(id: ExecutionId, wf: &Workflow, initial_context: Map<String, Value>, now: Millis) -> Run {
    Run {
        id,
        brand: wf.brand,
        workflow: wf.id,
        status: RunStatus::Running,
        initial_context,
        visits: Vec::new(),
        waiting: None,
        steps_started: 0,
        workflow_retries: 0,
        created_ms: now,
        finished_ms: None,
        reason: None,
    }
}

#[cfg(test)]
mod tests;
