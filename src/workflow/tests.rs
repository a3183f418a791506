//! Engine table tests: a workflow builder, events, and the resulting statuses and effects.

use serde_json::{Map, json};

use super::*;
use crate::model::{BrandId, Condition, ConditionOp, DomainId, HttpMethod, RetryPolicy};

pub(crate) fn wf(runtype: RunType, steps: &[(&str, i64)]) -> Workflow {
    Workflow {
        id: crate::model::WorkflowId::new(),
        brand: BrandId::new(),
        name: "wf".into(),
        description: String::new(),
        runtype,
        failure_strategy: FailureStrategy::Stop,
        retry_strategy: RetryStrategy::None,
        max_retries: 0,
        retry_delay_seconds: 0,
        steps: steps
            .iter()
            .map(|(ident, index)| Step {
                id: StepId::new(),
                index: *index,
                identifier: (*ident).into(),
                webhook_id: uuid::Uuid::new_v4(),
                name: (*ident).into(),
                description: String::new(),
                method: HttpMethod::Post,
                path: "/".into(),
                domain: DomainId::new(),
                retry: RetryPolicy::DEFAULT,
                body: json!({}),
                headers: Map::new(),
                query: Map::new(),
                human_approval_required: false,
                on_success: None,
                on_fail: None,
                delay_to_next_step_seconds: 0,
                condition: None,
                approval_timeout_seconds: None,
                approval_timeout_action: TimeoutAction::Reject,
                created_ms: 0,
            })
            .collect(),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn set(w: &mut Workflow, ident: &str, f: impl FnOnce(&mut Step)) {
    f(w.steps.iter_mut().find(|s| s.identifier == ident).unwrap());
}

struct Sim {
    wf: Workflow,
    run: Run,
    now: Millis,
    effects: Vec<Effect>,
}

impl Sim {
    fn start(wf: Workflow) -> Sim {
        let run = new_run(ExecutionId::new(), &wf, json!({"n": 5}).as_object().unwrap().clone(), 0);
        let mut s = Sim { wf, run, now: 0, effects: Vec::new() };
        s.ev(Event::Start);
        s
    }
    fn ev(&mut self, e: Event) {
        let (r, fx) = step(&self.run, &self.wf, e, self.now, 50).unwrap();
        self.run = r;
        self.effects = fx;
    }
    /// The visit that is running (Deliver effect) — answers it.
    fn answer(&mut self, ok: bool, response: serde_json::Value) {
        let visit = self
            .effects
            .iter()
            .find_map(|e| if let Effect::Deliver { visit } = e { Some(*visit) } else { None })
            .expect("a delivery");
        self.ev(Event::StepDone {
            visit,
            ok,
            status_code: Some(if ok { 200 } else { 500 }),
            response: Some(response),
            error: None,
        });
    }
    fn trail(&self) -> Vec<String> {
        self.run.visits.iter().map(|v| format!("{}:{}", v.identifier, v.status.as_str())).collect()
    }
}

#[test]
fn fifo_runs_by_index_and_passes_responses_forward() {
    let mut s = Sim::start(wf(RunType::FifoSequential, &[("b", 1), ("a", 0), ("c", 2)]));
    s.answer(true, json!({"id": 42}));
    assert_eq!(
        s.run.visits[1].context.as_ref().unwrap()["step"]["response"]["id"],
        42,
        "step 2 sees step 1's response"
    );
    assert_eq!(s.run.visits[1].context.as_ref().unwrap()["step"]["a"]["status_code"], 200);
    s.answer(true, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "b:succeeded", "c:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    assert!(s.effects.contains(&Effect::Finished));
}

#[test]
fn routes_and_failure_strategies() {
    // Failure with an explicit route goes there and the run succeeds (handled).
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("cleanup", 2)]);
    set(&mut w, "a", |s| s.on_fail = Some("cleanup".into()));
    let mut s = Sim::start(w.clone());
    s.answer(false, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:failed", "cleanup:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    // No route, stop: the run fails at once.
    let mut s = Sim::start(wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]));
    s.answer(false, json!({}));
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(s.trail(), ["a:failed"]);
    // No route, continue: next index, and the run completes with failures.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    w.failure_strategy = FailureStrategy::Continue;
    let mut s = Sim::start(w);
    s.answer(false, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.run.status, RunStatus::CompletedWithFailures);
    // A success route skips ahead.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]);
    set(&mut w, "a", |s| s.on_success = Some("c".into()));
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "c:succeeded"]);
}

#[test]
fn false_condition_skips_and_follows_the_success_route() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]);
    set(&mut w, "b", |s| {
        s.condition = Some(Condition {
            field: "{{ step.response.status }}".into(),
            operator: ConditionOp::Eq,
            value: json!("go"),
        })
    });
    let mut s = Sim::start(w);
    s.answer(true, json!({"status": "stop"}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "b:skipped", "c:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
}

#[test]
fn delays_are_timers() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    set(&mut w, "a", |s| s.delay_to_next_step_seconds = 30);
    let mut s = Sim::start(w);
    s.now = 1000;
    s.answer(true, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 31_000 }]);
    assert!(matches!(s.run.waiting, Some(Waiting::Delay { until: 31_000, .. })));
    s.now = 31_000;
    s.ev(Event::Timer);
    assert!(matches!(s.effects[0], Effect::Deliver { visit: 1 }));
}

#[test]
fn approval_approve_reject_and_timeout() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("approve_me", 1), ("c", 2)]);
    set(&mut w, "approve_me", |s| {
        s.human_approval_required = true;
        s.approval_timeout_seconds = Some(60);
    });
    let mut s = Sim::start(w.clone());
    s.answer(true, json!({}));
    assert_eq!(s.run.status, RunStatus::WaitingApproval);
    let plan = s.effects.iter().find_map(|e| if let Effect::CreatePlan(p) = e { Some(p.id) } else { None }).unwrap();
    assert!(s.effects.contains(&Effect::ApprovalTimer { plan, at: 60_000 }));
    s.ev(Event::Decision { plan, approve: true, by: None });
    assert_eq!(s.run.status, RunStatus::Running);
    assert!(
        step(&s.run, &s.wf, Event::Decision { plan, approve: true, by: None }, 0, 50).is_err(),
        "a decided plan is not waiting"
    );
    s.answer(true, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.run.status, RunStatus::Succeeded);

    // Reject with no route: stop → failed.
    let mut s = Sim::start(w.clone());
    s.answer(true, json!({}));
    let plan = s.effects.iter().find_map(|e| if let Effect::CreatePlan(p) = e { Some(p.id) } else { None }).unwrap();
    s.ev(Event::Decision { plan, approve: false, by: None });
    assert_eq!(s.trail(), ["a:succeeded", "approve_me:rejected"]);
    assert_eq!(s.run.status, RunStatus::Failed);

    // Timeout with action approve runs the step.
    set(&mut w, "approve_me", |s| s.approval_timeout_action = TimeoutAction::Approve);
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    let plan = s.effects.iter().find_map(|e| if let Effect::CreatePlan(p) = e { Some(p.id) } else { None }).unwrap();
    s.ev(Event::ApprovalDeadline { plan });
    assert!(s.effects.iter().any(|e| matches!(e, Effect::Deliver { .. })));
}

#[test]
fn workflow_retry_strategies() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    w.retry_strategy = RetryStrategy::FromFailedStep;
    w.max_retries = 1;
    w.retry_delay_seconds = 10;
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 10_000 }]);
    s.now = 10_000;
    s.ev(Event::Timer);
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "b:failed", "b:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded, "the retried step's success supersedes its failure");
}

#[test]
fn concurrent_runs_start_everything_and_settle() {
    let mut s = Sim::start(wf(RunType::Concurrently, &[("a", 0), ("b", 1), ("c", 2)]));
    let delivers: Vec<usize> =
        s.effects.iter().filter_map(|e| if let Effect::Deliver { visit } = e { Some(*visit) } else { None }).collect();
    assert_eq!(delivers, [0, 1, 2]);
    s.ev(Event::StepDone { visit: 1, ok: true, status_code: Some(200), response: None, error: None });
    s.ev(Event::StepDone { visit: 0, ok: false, status_code: Some(500), response: None, error: None });
    assert_eq!(s.run.status, RunStatus::Running, "c still runs");
    s.ev(Event::StepDone { visit: 2, ok: true, status_code: Some(200), response: None, error: None });
    assert_eq!(s.run.status, RunStatus::Failed);
    let mut w = wf(RunType::Concurrently, &[("a", 0), ("b", 1)]);
    w.failure_strategy = FailureStrategy::Continue;
    let mut s = Sim::start(w);
    s.ev(Event::StepDone { visit: 0, ok: false, status_code: Some(500), response: None, error: None });
    s.ev(Event::StepDone { visit: 1, ok: true, status_code: Some(200), response: None, error: None });
    assert_eq!(s.run.status, RunStatus::CompletedWithFailures);
}

#[test]
fn cycles_are_bounded() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0)]);
    set(&mut w, "a", |s| s.on_success = Some("a".into()));
    let mut s = Sim::start(w);
    for _ in 0..60 {
        if s.run.status.is_finished() {
            break;
        }
        s.answer(true, json!({}));
    }
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(s.run.visits.len(), 50);
    assert!(s.run.reason.as_deref().unwrap().contains("max_steps_per_run"));
}
