//! Engine table tests: a workflow builder, events, and the resulting statuses and effects.

use serde_json::{Map, json};

use super::*;
use crate::model::{BrandId, Condition, ConditionOp, DomainId, HttpMethod, RetryPolicy, SeqIds};

/// The run of every table: the engine's output depends only on its inputs, ids included.
const RUN: ExecutionId = ExecutionId(uuid::Uuid::from_u128(0x5EED));

/// A workflow with these (identifier, index) steps; every id is fixed (step `i` of the list is
/// `0x5700 + i`), so two builds of the same workflow are equal.
pub(crate) fn wf(runtype: RunType, steps: &[(&str, i64)]) -> Workflow {
    let id = |n: u128| uuid::Uuid::from_u128(n);
    Workflow {
        id: crate::model::WorkflowId(id(0xF10)),
        brand: BrandId(id(0xB0)),
        name: "wf".into(),
        description: String::new(),
        runtype,
        failure_strategy: FailureStrategy::Stop,
        retry_strategy: RetryStrategy::None,
        max_retries: 0,
        retry_delay_seconds: 0,
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, (ident, index))| Step {
                id: StepId(id(0x5700 + i as u128)),
                index: *index,
                identifier: (*ident).into(),
                webhook_id: id(0x4700 + i as u128),
                name: (*ident).into(),
                description: String::new(),
                method: HttpMethod::Post,
                path: "/".into(),
                domain: DomainId(id(0xD0)),
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
    /// Plans get ids 1, 2, 3, … in the order the engine creates them.
    ids: SeqIds,
}

impl Sim {
    fn start(wf: Workflow) -> Sim {
        let run = new_run(RUN, &wf, json!({"n": 5}).as_object().unwrap().clone(), 0);
        let mut s = Sim { wf, run, now: 0, effects: Vec::new(), ids: SeqIds::new() };
        s.ev(Event::Start);
        s
    }
    fn ev(&mut self, e: Event) {
        let (r, fx) = step(&self.run, &self.wf, e, self.now, 50, &mut self.ids).unwrap();
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
        step(&s.run, &s.wf, Event::Decision { plan, approve: true, by: None }, 0, 50, &mut SeqIds::new()).is_err(),
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

// ---- Table tests over every routing case of product §6 ----

fn cond(field: &str, op: &str, value: serde_json::Value) -> Option<Condition> {
    Some(Condition { field: field.into(), operator: ConditionOp::parse(op).unwrap(), value })
}

impl Sim {
    /// Like `start`, with this initial context.
    fn start_with(wf: Workflow, context: serde_json::Value) -> Sim {
        let run = new_run(RUN, &wf, context.as_object().unwrap().clone(), 0);
        let mut s = Sim { wf, run, now: 0, effects: Vec::new(), ids: SeqIds::new() };
        s.ev(Event::Start);
        s
    }
    /// Applies an event and keeps the state only when it was accepted.
    fn try_ev(&mut self, e: Event) -> Result<(), Refused> {
        let (r, fx) = step(&self.run, &self.wf, e, self.now, 50, &mut self.ids)?;
        self.run = r;
        self.effects = fx;
        Ok(())
    }
    /// The visits the last event asked to deliver.
    fn delivers(&self) -> Vec<usize> {
        self.effects
            .iter()
            .filter_map(|e| if let Effect::Deliver { visit } = e { Some(*visit) } else { None })
            .collect()
    }
    /// The plan the last event created.
    fn plan(&self) -> ApprovalPlan {
        self.effects
            .iter()
            .find_map(|e| if let Effect::CreatePlan(p) = e { Some(p.clone()) } else { None })
            .unwrap_or_else(|| panic!("no plan created: {:?}", self.effects))
    }
    fn done(&mut self, visit: usize, ok: bool) {
        self.ev(Event::StepDone {
            visit,
            ok,
            status_code: Some(if ok { 200 } else { 500 }),
            response: Some(json!({"visit": visit})),
            error: (!ok).then(|| "HTTP 500".into()),
        });
    }
    fn finished(&self) -> bool {
        self.effects.contains(&Effect::Finished)
    }
}

/// One FIFO routing case: steps (identifier, index), a change to the workflow, the outcome of
/// each delivery in order, the expected visits and the final status.
struct Route {
    name: &'static str,
    steps: &'static [(&'static str, i64)],
    setup: fn(&mut Workflow),
    answers: &'static [bool],
    trail: &'static [&'static str],
    status: RunStatus,
}

#[test]
fn fifo_routing_table() {
    let cases = [
        Route {
            name: "success goes to the next index, the last step ends the run",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |_| {},
            answers: &[true, true, true],
            trail: &["a:succeeded", "b:succeeded", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "index order, not insertion order; gaps and negative indexes",
            steps: &[("x", 10), ("y", -5), ("z", 3)],
            setup: |_| {},
            answers: &[true, true, true],
            trail: &["y:succeeded", "z:succeeded", "x:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "a one-step workflow ends after its step",
            steps: &[("only", 0)],
            setup: |_| {},
            answers: &[true],
            trail: &["only:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "success route jumps ahead",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| set(w, "a", |s| s.on_success = Some("c".into())),
            answers: &[true, true],
            trail: &["a:succeeded", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "success routes may go back to a lower index",
            steps: &[("a", 0), ("b", 1), ("c", 2), ("d", 3)],
            setup: |w| {
                set(w, "a", |s| s.on_success = Some("c".into()));
                set(w, "c", |s| s.on_success = Some("b".into()));
                set(w, "b", |s| s.on_success = Some("d".into()));
            },
            answers: &[true, true, true, true],
            trail: &["a:succeeded", "c:succeeded", "b:succeeded", "d:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "success ignores the failure route",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| set(w, "a", |s| s.on_fail = Some("c".into())),
            answers: &[true, true, true],
            trail: &["a:succeeded", "b:succeeded", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "empty-string success route = no route: next index",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| set(w, "a", |s| s.on_success = Some(String::new())),
            answers: &[true, true],
            trail: &["a:succeeded", "b:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "null (None) success route = no route: next index",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| set(w, "a", |s| s.on_success = None),
            answers: &[true, true],
            trail: &["a:succeeded", "b:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "failure route is followed; a handled failure does not fail the run",
            steps: &[("a", 0), ("b", 1), ("cleanup", 2)],
            setup: |w| set(w, "a", |s| s.on_fail = Some("cleanup".into())),
            answers: &[false, true],
            trail: &["a:failed", "cleanup:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "failure route to an earlier step",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| set(w, "c", |s| s.on_fail = Some("b".into())),
            answers: &[true, true, false, true, true],
            trail: &["a:succeeded", "b:succeeded", "c:failed", "b:succeeded", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "failure route wins over failure_strategy continue",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| {
                w.failure_strategy = FailureStrategy::Continue;
                set(w, "a", |s| s.on_fail = Some("c".into()));
            },
            answers: &[false, true],
            trail: &["a:failed", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "the failure route's own failure with no route stops the run",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| set(w, "a", |s| s.on_fail = Some("c".into())),
            answers: &[false, false],
            trail: &["a:failed", "c:failed"],
            status: RunStatus::Failed,
        },
        Route {
            name: "no failure route, stop (default): the run fails at once",
            steps: &[("a", 0), ("b", 1)],
            setup: |_| {},
            answers: &[false],
            trail: &["a:failed"],
            status: RunStatus::Failed,
        },
        Route {
            name: "empty-string failure route = no route: stop",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| set(w, "a", |s| s.on_fail = Some(String::new())),
            answers: &[false],
            trail: &["a:failed"],
            status: RunStatus::Failed,
        },
        Route {
            name: "failure in the middle, stop: later steps never run",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |_| {},
            answers: &[true, false],
            trail: &["a:succeeded", "b:failed"],
            status: RunStatus::Failed,
        },
        Route {
            name: "no failure route, continue: next index, completed_with_failures",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| w.failure_strategy = FailureStrategy::Continue,
            answers: &[false, true],
            trail: &["a:failed", "b:succeeded"],
            status: RunStatus::CompletedWithFailures,
        },
        Route {
            name: "empty-string failure route with continue = no route: completed_with_failures",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| {
                w.failure_strategy = FailureStrategy::Continue;
                set(w, "a", |s| s.on_fail = Some(String::new()));
            },
            answers: &[false, true],
            trail: &["a:failed", "b:succeeded"],
            status: RunStatus::CompletedWithFailures,
        },
        Route {
            name: "continue: the last step's failure ends the run completed_with_failures",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| w.failure_strategy = FailureStrategy::Continue,
            answers: &[true, false],
            trail: &["a:succeeded", "b:failed"],
            status: RunStatus::CompletedWithFailures,
        },
        Route {
            name: "continue: every step fails, every step still runs",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| w.failure_strategy = FailureStrategy::Continue,
            answers: &[false, false, false],
            trail: &["a:failed", "b:failed", "c:failed"],
            status: RunStatus::CompletedWithFailures,
        },
        Route {
            name: "continue: a success route after an unhandled failure keeps completed_with_failures",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| {
                w.failure_strategy = FailureStrategy::Continue;
                set(w, "b", |s| s.on_success = Some("c".into()));
            },
            answers: &[false, true, true],
            trail: &["a:failed", "b:succeeded", "c:succeeded"],
            status: RunStatus::CompletedWithFailures,
        },
        Route {
            name: "false condition: skipped, success route followed (not the failure route)",
            steps: &[("a", 0), ("b", 1), ("c", 2), ("d", 3)],
            setup: |w| {
                set(w, "b", |s| {
                    s.condition = cond("{{ step.response.go }}", "eq", json!("yes"));
                    s.on_success = Some("d".into());
                    s.on_fail = Some("c".into());
                })
            },
            answers: &[true, true],
            trail: &["a:succeeded", "b:skipped", "d:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "false condition without a success route: next index",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| set(w, "b", |s| s.condition = cond("n", "gt", json!("100"))),
            answers: &[true, true],
            trail: &["a:succeeded", "b:skipped", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "true condition: the step runs",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| set(w, "b", |s| s.condition = cond("initial.n", "eq", json!("5"))),
            answers: &[true, true],
            trail: &["a:succeeded", "b:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "a skipped last step ends the run succeeded",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| set(w, "b", |s| s.condition = cond("missing.field", "eq", json!("x"))),
            answers: &[true],
            trail: &["a:succeeded", "b:skipped"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "a skipped first step (condition on the initial context)",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| set(w, "a", |s| s.condition = cond("n", "lt", json!(3))),
            answers: &[true],
            trail: &["a:skipped", "b:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "condition on a named earlier step's status code",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| {
                set(w, "b", |s| s.condition = cond("step.a.status_code", "ne", json!(200)));
                set(w, "c", |s| s.condition = cond("step.a.status_code", "gte", json!("200")));
            },
            answers: &[true, true],
            trail: &["a:succeeded", "b:skipped", "c:succeeded"],
            status: RunStatus::Succeeded,
        },
        Route {
            name: "skips do not hide an earlier unhandled failure (continue)",
            steps: &[("a", 0), ("b", 1)],
            setup: |w| {
                w.failure_strategy = FailureStrategy::Continue;
                set(w, "b", |s| s.condition = cond("n", "eq", json!(0)));
            },
            answers: &[false],
            trail: &["a:failed", "b:skipped"],
            status: RunStatus::CompletedWithFailures,
        },
    ];
    for c in cases {
        let mut w = wf(RunType::FifoSequential, c.steps);
        (c.setup)(&mut w);
        let mut s = Sim::start(w);
        for (i, ok) in c.answers.iter().enumerate() {
            assert!(!s.run.status.is_finished(), "{}: run ended before answer {i}: {:?}", c.name, s.trail());
            s.answer(*ok, json!({"i": i}));
        }
        assert_eq!(s.trail(), c.trail, "{}", c.name);
        assert_eq!(s.run.status, c.status, "{}", c.name);
        assert!(s.finished(), "{}: the last event reports Finished: {:?}", c.name, s.effects);
        assert!(s.delivers().is_empty(), "{}: nothing delivered after the end", c.name);
        assert_eq!(s.run.finished_ms, Some(0), "{}", c.name);
        assert!(s.run.waiting.is_none(), "{}", c.name);
    }
}

/// A route that names no step when a run reaches it (routes may be written before their
/// target step exists): the run fails at once, naming the route field, its value and its step;
/// no workflow retry, no `failure_strategy` fallback.
struct Dangling {
    name: &'static str,
    steps: &'static [(&'static str, i64)],
    setup: fn(&mut Workflow),
    answers: &'static [bool],
    trail: &'static [&'static str],
    status: RunStatus,
    reason: Option<&'static str>,
}

#[test]
fn routes_that_name_no_step_table() {
    let cases = [
        Dangling {
            name: "on_fail route to a step not added (yet)",
            steps: &[("ask", 0), ("next", 1)],
            setup: |w| set(w, "ask", |s| s.on_fail = Some("cleanup".into())),
            answers: &[false],
            trail: &["ask:failed"],
            status: RunStatus::Failed,
            reason: Some("on_fail_next_step_identifier \"cleanup\" of step \"ask\" names no step in this workflow"),
        },
        Dangling {
            name: "on_success route to a step not added (yet)",
            steps: &[("ask", 0), ("next", 1)],
            setup: |w| set(w, "ask", |s| s.on_success = Some("done".into())),
            answers: &[true],
            trail: &["ask:succeeded"],
            status: RunStatus::Failed,
            reason: Some("on_success_next_step_identifier \"done\" of step \"ask\" names no step in this workflow"),
        },
        Dangling {
            name: "a later step's dangling route, reached after earlier steps ran",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| set(w, "b", |s| s.on_success = Some("gone".into())),
            answers: &[true, true],
            trail: &["a:succeeded", "b:succeeded"],
            status: RunStatus::Failed,
            reason: Some("on_success_next_step_identifier \"gone\" of step \"b\" names no step in this workflow"),
        },
        Dangling {
            name: "a skipped step follows its success route, dangling too",
            steps: &[("a", 0), ("b", 1), ("c", 2)],
            setup: |w| {
                set(w, "b", |s| {
                    s.condition = cond("n", "gt", json!(100));
                    s.on_success = Some("gone".into());
                })
            },
            answers: &[true],
            trail: &["a:succeeded", "b:skipped"],
            status: RunStatus::Failed,
            reason: Some("on_success_next_step_identifier \"gone\" of step \"b\" names no step in this workflow"),
        },
        Dangling {
            name: "a dangling failure route is not followed when the step succeeds",
            steps: &[("ask", 0), ("next", 1)],
            setup: |w| set(w, "ask", |s| s.on_fail = Some("cleanup".into())),
            answers: &[true, true],
            trail: &["ask:succeeded", "next:succeeded"],
            status: RunStatus::Succeeded,
            reason: None,
        },
        Dangling {
            name: "failure_strategy continue does not paper over a dangling failure route",
            steps: &[("ask", 0), ("next", 1)],
            setup: |w| {
                w.failure_strategy = FailureStrategy::Continue;
                set(w, "ask", |s| s.on_fail = Some("cleanup".into()));
            },
            answers: &[false],
            trail: &["ask:failed"],
            status: RunStatus::Failed,
            reason: Some("on_fail_next_step_identifier \"cleanup\" of step \"ask\" names no step in this workflow"),
        },
        Dangling {
            name: "no workflow retry for a dangling route (it would reach the same route)",
            steps: &[("ask", 0), ("next", 1)],
            setup: |w| {
                w.retry_strategy = RetryStrategy::FromFailedStep;
                w.max_retries = 3;
                set(w, "ask", |s| s.on_success = Some("done".into()));
            },
            answers: &[true],
            trail: &["ask:succeeded"],
            status: RunStatus::Failed,
            reason: Some("on_success_next_step_identifier \"done\" of step \"ask\" names no step in this workflow"),
        },
        Dangling {
            name: "the forward route of case 13 once its step was added: followed",
            steps: &[("ask", 0), ("next", 1), ("cleanup", 2)],
            setup: |w| set(w, "ask", |s| s.on_fail = Some("cleanup".into())),
            answers: &[false, true],
            trail: &["ask:failed", "cleanup:succeeded"],
            status: RunStatus::Succeeded,
            reason: None,
        },
    ];
    for c in cases {
        let mut w = wf(RunType::FifoSequential, c.steps);
        (c.setup)(&mut w);
        let mut s = Sim::start(w);
        for (i, ok) in c.answers.iter().enumerate() {
            assert!(!s.run.status.is_finished(), "{}: run ended before answer {i}: {:?}", c.name, s.trail());
            s.answer(*ok, json!({"i": i}));
        }
        assert_eq!(s.trail(), c.trail, "{}", c.name);
        assert_eq!(s.run.status, c.status, "{}", c.name);
        assert_eq!(s.run.reason.as_deref(), c.reason, "{}", c.name);
        assert_eq!(s.effects, vec![Effect::Finished], "{}: ends at once, no retry timer, nothing delivered", c.name);
        assert!(s.run.waiting.is_none(), "{}", c.name);
        assert_eq!(s.run.workflow_retries, 0, "{}", c.name);
    }
}

#[test]
fn every_step_skipped_or_no_steps_ends_at_start() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    set(&mut w, "a", |s| s.condition = cond("n", "gt", json!(10)));
    set(&mut w, "b", |s| s.condition = cond("n", "in", json!("1,2,3")));
    let s = Sim::start(w);
    assert_eq!(s.trail(), ["a:skipped", "b:skipped"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    assert_eq!(s.effects, vec![Effect::Finished]);
    for runtype in [RunType::FifoSequential, RunType::Concurrently] {
        let s = Sim::start(wf(runtype, &[]));
        assert_eq!(s.run.status, RunStatus::Succeeded, "{runtype:?}");
        assert_eq!(s.effects, vec![Effect::Finished], "{runtype:?}");
    }
}

#[test]
fn skipped_visits_record_why_and_are_not_a_response() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]);
    set(&mut w, "b", |s| s.condition = cond("{{ step.response.kind }}", "eq", json!("x")));
    let mut s = Sim::start(w);
    s.answer(true, json!({"kind": "y", "v": 1}));
    let b = &s.run.visits[1];
    assert_eq!(b.status, StepStatus::Skipped);
    assert!(b.execution.is_none() && b.status_code.is_none());
    assert!(b.error.as_deref().unwrap().contains("is false"), "{:?}", b.error);
    // c sees a's response as "the previous step's" (a skip has none).
    let ctx = s.run.visits[2].context.clone().unwrap();
    assert_eq!(ctx["step"]["response"], json!({"kind": "y", "v": 1}));
    assert!(ctx["step"].get("b").is_none(), "{ctx}");
    assert_eq!(ctx["n"], 5, "initial keys at the top: {ctx}");
}

#[test]
fn step_context_has_initial_previous_and_named_results() {
    let mut s = Sim::start_with(
        wf(RunType::FifoSequential, &[("fetch", 0), ("check", 1), ("use", 2)]),
        json!({"user": {"id": 9}, "flag": true}),
    );
    s.done(0, true);
    s.ev(Event::StepDone {
        visit: 1,
        ok: false,
        status_code: Some(422),
        response: Some(json!({"error": "bad"})),
        error: Some("HTTP 422".into()),
    });
    // stop → failed; the context of a third visit is computed from the run as it is.
    let ctx = step_context(&s.run);
    assert_eq!(ctx["user"]["id"], 9);
    assert_eq!(ctx["flag"], true);
    assert_eq!(ctx["step"]["fetch"], json!({"response": {"visit": 0}, "status_code": 200}));
    assert_eq!(ctx["step"]["check"], json!({"response": {"error": "bad"}, "status_code": 422}));
    assert_eq!(ctx["step"]["response"], json!({"error": "bad"}), "the latest finished visit");
    assert_eq!(ctx["step"]["status_code"], 422);
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(s.run.reason.as_deref(), Some("step check failed"));
}

#[test]
fn delay_to_next_step_on_success_and_failure_routes() {
    // Success route with a delay: timer, then exactly the routed step.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]);
    set(&mut w, "a", |s| {
        s.on_success = Some("c".into());
        s.delay_to_next_step_seconds = 3;
    });
    let mut s = Sim::start(w);
    s.now = 500;
    s.answer(true, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 3_500 }]);
    let c_id = s.wf.steps.iter().find(|x| x.identifier == "c").unwrap().id;
    assert_eq!(s.run.waiting, Some(Waiting::Delay { until: 3_500, next: c_id }));
    assert_eq!(s.run.status, RunStatus::Running);
    s.now = 3_500;
    s.ev(Event::Timer);
    assert_eq!(s.delivers(), [1]);
    assert!(s.run.waiting.is_none());
    assert_eq!(s.run.visits[1].started_ms, Some(3_500));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "c:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);

    // Failure route with a delay.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("recover", 2)]);
    set(&mut w, "a", |s| {
        s.on_fail = Some("recover".into());
        s.delay_to_next_step_seconds = 7;
    });
    let mut s = Sim::start(w);
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 7_000 }]);
    assert!(matches!(s.run.waiting, Some(Waiting::Delay { until: 7_000, .. })));
    s.now = 7_000;
    s.ev(Event::Timer);
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:failed", "recover:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);

    // Failure with continue and a delay: the next index after the delay.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    w.failure_strategy = FailureStrategy::Continue;
    set(&mut w, "a", |s| s.delay_to_next_step_seconds = 2);
    let mut s = Sim::start(w);
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 2_000 }]);
    s.now = 2_000;
    s.ev(Event::Timer);
    s.answer(true, json!({}));
    assert_eq!(s.run.status, RunStatus::CompletedWithFailures);

    // Failure with stop: no delay, the run fails now.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    set(&mut w, "a", |s| s.delay_to_next_step_seconds = 2);
    let mut s = Sim::start(w);
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Finished]);
    assert_eq!(s.run.status, RunStatus::Failed);

    // A delay on the last step: nothing to wait for.
    let mut w = wf(RunType::FifoSequential, &[("a", 0)]);
    set(&mut w, "a", |s| s.delay_to_next_step_seconds = 60);
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    assert_eq!(s.effects, vec![Effect::Finished]);
    assert_eq!(s.run.status, RunStatus::Succeeded);

    // A skipped step's delay still separates it from the next.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    set(&mut w, "a", |s| {
        s.condition = cond("n", "eq", json!(6));
        s.delay_to_next_step_seconds = 4;
    });
    let s = Sim::start(w);
    assert_eq!(s.trail(), ["a:skipped"]);
    assert_eq!(s.effects, vec![Effect::Timer { at: 4_000 }]);
}

#[test]
fn timers_are_idempotent() {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    set(&mut w, "a", |s| s.delay_to_next_step_seconds = 1);
    let mut s = Sim::start(w);
    // A timer while nothing waits does nothing.
    s.ev(Event::Timer);
    assert!(s.effects.is_empty());
    assert_eq!(s.trail(), ["a:running"]);
    s.done(0, true);
    s.now = 1_000;
    s.ev(Event::Timer);
    assert_eq!(s.delivers(), [1]);
    // The same timer again (e.g. re-armed after a restart) starts nothing twice.
    s.ev(Event::Timer);
    assert!(s.effects.is_empty());
    assert_eq!(s.trail(), ["a:succeeded", "b:running"]);
    // A duplicate completion of a visit is ignored.
    s.done(1, true);
    assert!(s.finished());
    let before = s.run.clone();
    assert_eq!(
        step(
            &before,
            &s.wf,
            Event::StepDone { visit: 1, ok: true, status_code: None, response: None, error: None },
            0,
            50,
            &mut SeqIds::new()
        ),
        Err(Refused::RunFinished)
    );
    assert_eq!(step(&before, &s.wf, Event::Timer, 0, 50, &mut SeqIds::new()), Err(Refused::RunFinished));
    assert_eq!(step(&before, &s.wf, Event::Start, 0, 50, &mut SeqIds::new()), Err(Refused::RunFinished));
}

#[test]
fn duplicate_step_completion_is_ignored() {
    let mut s = Sim::start(wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]));
    s.done(0, true);
    assert_eq!(s.delivers(), [1]);
    // Delivery reports visit 0 again (a resumed delivery after a crash).
    s.done(0, false);
    assert!(s.effects.is_empty());
    assert_eq!(s.trail(), ["a:succeeded", "b:running"]);
}

fn retry_wf(runtype: RunType, strategy: RetryStrategy, max: u32) -> Workflow {
    let mut w = wf(runtype, &[("a", 0), ("b", 1)]);
    w.retry_strategy = strategy;
    w.max_retries = max;
    w.retry_delay_seconds = 10;
    w
}

#[test]
fn workflow_retry_from_failed_step_exhausted_fails() {
    let mut s = Sim::start(retry_wf(RunType::FifoSequential, RetryStrategy::FromFailedStep, 2));
    s.answer(true, json!({}));
    for attempt in 1..=2u32 {
        s.answer(false, json!({}));
        assert_eq!(s.effects, vec![Effect::Timer { at: s.now + 10_000 }], "retry {attempt}");
        assert_eq!(s.run.status, RunStatus::Running, "waiting for a workflow retry is not an end");
        assert!(s.run.reason.as_deref().unwrap().contains("retrying"), "{:?}", s.run.reason);
        s.now += 10_000;
        s.ev(Event::Timer);
        assert_eq!(s.run.workflow_retries, attempt);
        assert_eq!(s.delivers(), [s.run.visits.len() - 1]);
        assert_eq!(s.run.visits.last().unwrap().identifier, "b", "from the failed step");
    }
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Finished]);
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(s.run.workflow_retries, 2);
    assert_eq!(s.run.reason.as_deref(), Some("step b failed"));
    assert_eq!(s.trail(), ["a:succeeded", "b:failed", "b:failed", "b:failed"]);
}

#[test]
fn workflow_retry_from_initial_step() {
    // Succeeds on the retry: everything again from the first step.
    let mut s = Sim::start(retry_wf(RunType::FifoSequential, RetryStrategy::FromInitialStep, 1));
    s.answer(true, json!({"round": 1}));
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 10_000 }]);
    assert_eq!(s.run.waiting, Some(Waiting::Retry { until: 10_000, from: None }));
    s.now = 10_000;
    s.ev(Event::Timer);
    assert_eq!(s.delivers(), [2]);
    assert_eq!(s.run.visits[2].identifier, "a");
    s.answer(true, json!({"round": 2}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "b:failed", "a:succeeded", "b:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    assert_eq!(s.run.workflow_retries, 1);
    // The retried b saw the retried a's response.
    assert_eq!(s.run.visits[3].context.as_ref().unwrap()["step"]["response"]["round"], 2);

    // Exhausted: failed after max retries.
    let mut s = Sim::start(retry_wf(RunType::FifoSequential, RetryStrategy::FromInitialStep, 1));
    s.answer(false, json!({}));
    s.now = 10_000;
    s.ev(Event::Timer);
    s.answer(false, json!({}));
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(s.trail(), ["a:failed", "a:failed"]);

    // retry_strategy none ignores workflow_max_retries.
    let mut s = Sim::start(retry_wf(RunType::FifoSequential, RetryStrategy::None, 5));
    s.answer(false, json!({}));
    assert_eq!(s.effects, vec![Effect::Finished]);
    assert_eq!(s.run.status, RunStatus::Failed);

    // A failure handled by a route or by continue is not a run failure: no retry.
    let mut w = retry_wf(RunType::FifoSequential, RetryStrategy::FromInitialStep, 3);
    w.failure_strategy = FailureStrategy::Continue;
    let mut s = Sim::start(w);
    s.answer(false, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.run.status, RunStatus::CompletedWithFailures);
    assert_eq!(s.run.workflow_retries, 0);
}

#[test]
fn workflow_retry_in_concurrent_mode() {
    // from_failed_step: only the failed steps start again.
    let mut s = Sim::start(retry_wf(RunType::Concurrently, RetryStrategy::FromFailedStep, 1));
    assert_eq!(s.delivers(), [0, 1]);
    s.done(0, true);
    s.done(1, false);
    assert_eq!(s.effects, vec![Effect::Timer { at: 10_000 }]);
    s.now = 10_000;
    s.ev(Event::Timer);
    assert_eq!(s.delivers(), [2]);
    assert_eq!(s.run.visits[2].identifier, "b");
    s.done(2, true);
    assert_eq!(s.run.status, RunStatus::Succeeded);

    // from_initial_step: every step again; exhausted → failed.
    let mut s = Sim::start(retry_wf(RunType::Concurrently, RetryStrategy::FromInitialStep, 1));
    s.done(0, true);
    s.done(1, false);
    s.now = 10_000;
    s.ev(Event::Timer);
    assert_eq!(s.delivers(), [2, 3]);
    s.done(2, true);
    s.done(3, false);
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(s.run.workflow_retries, 1);
}

#[test]
fn a_rejected_approval_is_retried_with_a_new_plan() {
    let mut w = retry_wf(RunType::FifoSequential, RetryStrategy::FromFailedStep, 1);
    set(&mut w, "b", |s| s.human_approval_required = true);
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    let first = s.plan().id;
    s.ev(Event::Decision { plan: first, approve: false, by: None });
    assert!(matches!(s.run.waiting, Some(Waiting::Retry { .. })));
    s.now = 10_000;
    s.ev(Event::Timer);
    let second = s.plan().id;
    assert_ne!(first, second);
    assert_eq!(s.run.status, RunStatus::WaitingApproval);
    assert_eq!(s.try_ev(Event::Decision { plan: first, approve: true, by: None }), Err(Refused::PlanNotWaiting));
    s.ev(Event::Decision { plan: second, approve: true, by: None });
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "b:rejected", "b:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
}

/// a → gate (approval, 5 s delay, success route to `next`) → … → next (the last index);
/// with a failure route, `recover` sits between them (so it too ends at `next`).
fn approval_wf(on_fail: Option<&str>) -> Workflow {
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("gate", 1), ("recover", 2), ("next", 3)]);
    set(&mut w, "gate", |s| {
        s.human_approval_required = true;
        s.delay_to_next_step_seconds = 5;
        s.on_success = Some("next".into());
        s.on_fail = on_fail.map(String::from);
    });
    if on_fail.is_none() {
        w.steps.retain(|s| s.identifier != "recover");
    }
    w
}

#[test]
fn approval_approve_creates_plan_and_resumes_the_same_visit() {
    let mut s = Sim::start(approval_wf(None));
    s.now = 1_000;
    s.answer(true, json!({"amount": 12}));
    assert_eq!(s.run.status, RunStatus::WaitingApproval);
    assert!(s.delivers().is_empty(), "an approval step does not run before the decision");
    let plan = s.plan();
    assert_eq!(plan.id, PlanId(SeqIds::id(1)), "the first id the engine drew from its caller's source");
    assert_eq!(plan.run, s.run.id);
    assert_eq!(plan.workflow, s.wf.id);
    assert_eq!(plan.identifier, "gate");
    assert_eq!(plan.index, 1);
    assert_eq!(plan.visit, 1);
    assert_eq!(plan.delay_to_next_step_seconds, 5);
    assert_eq!(plan.status, PlanStatus::WaitingApproval);
    assert_eq!(plan.deadline_ms, None);
    assert_eq!(plan.created_ms, 1_000);
    assert!(!s.effects.iter().any(|e| matches!(e, Effect::ApprovalTimer { .. })), "no timeout configured");
    assert_eq!(s.trail(), ["a:succeeded", "gate:waiting_approval"]);
    assert_eq!(s.run.visits[1].plan, Some(plan.id));

    let key = KeyId::new();
    s.now = 2_000;
    s.ev(Event::Decision { plan: plan.id, approve: true, by: Some(key) });
    assert_eq!(
        s.effects,
        vec![
            Effect::DecidePlan { plan: plan.id, status: PlanStatus::Approved, by: Some(key), at: 2_000 },
            Effect::Deliver { visit: 1 }
        ]
    );
    assert_eq!(s.run.status, RunStatus::Running);
    assert_eq!(s.trail(), ["a:succeeded", "gate:running"]);
    // The approved step sees the context as of the decision.
    assert_eq!(s.run.visits[1].context.as_ref().unwrap()["step"]["response"]["amount"], 12);
    // Deciding twice, either way, or letting the deadline pass now: refused.
    for ev in [
        Event::Decision { plan: plan.id, approve: true, by: Some(key) },
        Event::Decision { plan: plan.id, approve: false, by: Some(key) },
        Event::ApprovalDeadline { plan: plan.id },
        Event::Decision { plan: PlanId(SeqIds::id(999)), approve: true, by: None },
    ] {
        assert_eq!(step(&s.run, &s.wf, ev.clone(), 0, 50, &mut SeqIds::new()), Err(Refused::PlanNotWaiting), "{ev:?}");
    }
    // The step's delay and success route apply after it ran.
    s.answer(true, json!({}));
    assert_eq!(s.effects, vec![Effect::Timer { at: 7_000 }]);
    s.now = 7_000;
    s.ev(Event::Timer);
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "gate:succeeded", "next:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
}

#[test]
fn approval_reject_with_and_without_a_failure_route() {
    // Without a route (stop): rejected, the run fails.
    let mut s = Sim::start(approval_wf(None));
    s.answer(true, json!({}));
    let plan = s.plan().id;
    let key = KeyId::new();
    s.ev(Event::Decision { plan, approve: false, by: Some(key) });
    assert_eq!(s.effects[0], Effect::DecidePlan { plan, status: PlanStatus::Rejected, by: Some(key), at: 0 });
    assert!(s.finished());
    assert_eq!(s.trail(), ["a:succeeded", "gate:rejected"]);
    assert_eq!(s.run.visits[1].error.as_deref(), Some("rejected by a person"));
    assert_eq!(s.run.status, RunStatus::Failed);
    assert_eq!(
        s.try_ev(Event::Decision { plan, approve: true, by: Some(key) }),
        Err(Refused::RunFinished),
        "a decision on a finished run is refused"
    );

    // With a route: rejected, then the route (after the step's delay).
    let mut s = Sim::start(approval_wf(Some("recover")));
    s.answer(true, json!({}));
    let plan = s.plan().id;
    s.ev(Event::Decision { plan, approve: false, by: Some(key) });
    assert_eq!(s.run.status, RunStatus::Running);
    assert!(s.effects.contains(&Effect::Timer { at: 5_000 }));
    assert_eq!(s.try_ev(Event::Decision { plan, approve: false, by: None }), Err(Refused::PlanNotWaiting));
    s.now = 5_000;
    s.ev(Event::Timer);
    s.answer(true, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "gate:rejected", "recover:succeeded", "next:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded, "a rejection handled by a route");

    // Without a route, continue: next index, completed_with_failures.
    let mut w = approval_wf(None);
    w.failure_strategy = FailureStrategy::Continue;
    set(&mut w, "gate", |s| s.delay_to_next_step_seconds = 0);
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    let plan = s.plan().id;
    s.ev(Event::Decision { plan, approve: false, by: None });
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "gate:rejected", "next:succeeded"]);
    assert_eq!(s.run.status, RunStatus::CompletedWithFailures);
}

#[test]
fn approval_timeout_rejects_or_approves() {
    for (action, expect) in [(TimeoutAction::Reject, "rejected"), (TimeoutAction::Approve, "approved")] {
        let mut w = approval_wf(Some("recover"));
        set(&mut w, "gate", |s| {
            s.approval_timeout_seconds = Some(30);
            s.approval_timeout_action = action;
            s.delay_to_next_step_seconds = 0;
        });
        let mut s = Sim::start(w);
        s.now = 1_000;
        s.answer(true, json!({}));
        let plan = s.plan();
        assert_eq!(plan.deadline_ms, Some(31_000), "{expect}");
        assert_eq!(plan.timeout_action, action);
        assert!(s.effects.contains(&Effect::ApprovalTimer { plan: plan.id, at: 31_000 }), "{expect}");
        s.now = 31_000;
        s.ev(Event::ApprovalDeadline { plan: plan.id });
        let status = if action == TimeoutAction::Approve { PlanStatus::Approved } else { PlanStatus::Rejected };
        assert_eq!(s.effects[0], Effect::DecidePlan { plan: plan.id, status, by: None, at: 31_000 }, "{expect}");
        // A person deciding after the timeout is refused.
        assert_eq!(
            step(
                &s.run,
                &s.wf,
                Event::Decision { plan: plan.id, approve: true, by: Some(KeyId::new()) },
                0,
                50,
                &mut SeqIds::new()
            ),
            Err(Refused::PlanNotWaiting),
            "{expect}"
        );
        s.answer(true, json!({}));
        s.answer(true, json!({}));
        if action == TimeoutAction::Approve {
            assert_eq!(s.trail(), ["a:succeeded", "gate:succeeded", "next:succeeded"]);
        } else {
            assert_eq!(s.run.visits[1].error.as_deref(), Some("approval timed out (approval_timeout_action reject)"));
            assert_eq!(s.trail(), ["a:succeeded", "gate:rejected", "recover:succeeded", "next:succeeded"]);
        }
        assert_eq!(s.run.status, RunStatus::Succeeded, "{expect}");
    }
    // A deadline after a person decided is refused (the scheduler ignores it).
    let mut w = approval_wf(None);
    set(&mut w, "gate", |s| s.approval_timeout_seconds = Some(30));
    let mut s = Sim::start(w);
    s.answer(true, json!({}));
    let plan = s.plan().id;
    s.ev(Event::Decision { plan, approve: true, by: None });
    assert_eq!(s.try_ev(Event::ApprovalDeadline { plan }), Err(Refused::PlanNotWaiting));
    assert_eq!(s.trail(), ["a:succeeded", "gate:running"]);
}

#[test]
fn approval_on_the_first_step_and_behind_a_false_condition() {
    let mut w = wf(RunType::FifoSequential, &[("gate", 0), ("b", 1)]);
    set(&mut w, "gate", |s| s.human_approval_required = true);
    let s = Sim::start(w.clone());
    assert_eq!(s.run.status, RunStatus::WaitingApproval);
    assert_eq!(s.trail(), ["gate:waiting_approval"]);
    assert!(s.delivers().is_empty());
    // A false condition skips the step without asking anyone.
    set(&mut w, "gate", |s| s.condition = cond("n", "eq", json!(0)));
    let s = Sim::start(w);
    assert!(!s.effects.iter().any(|e| matches!(e, Effect::CreatePlan(_))));
    assert_eq!(s.trail(), ["gate:skipped", "b:running"]);
    assert_eq!(s.run.status, RunStatus::Running);
}

#[test]
fn concurrent_mode_table() {
    // (name, failure_strategy, outcomes of a, b, c in completion order, expected status)
    /// (visit, succeeded) in completion order.
    type Outcomes = &'static [(usize, bool)];
    let cases: &[(&str, FailureStrategy, Outcomes, RunStatus)] = &[
        ("all succeed", FailureStrategy::Stop, &[(2, true), (0, true), (1, true)], RunStatus::Succeeded),
        ("one fails, stop", FailureStrategy::Stop, &[(0, false), (1, true), (2, true)], RunStatus::Failed),
        ("the last one fails, stop", FailureStrategy::Stop, &[(0, true), (1, true), (2, false)], RunStatus::Failed),
        (
            "one fails, continue",
            FailureStrategy::Continue,
            &[(1, true), (0, false), (2, true)],
            RunStatus::CompletedWithFailures,
        ),
        (
            "all fail, continue",
            FailureStrategy::Continue,
            &[(0, false), (1, false), (2, false)],
            RunStatus::CompletedWithFailures,
        ),
        ("all succeed, continue", FailureStrategy::Continue, &[(0, true), (1, true), (2, true)], RunStatus::Succeeded),
    ];
    for (name, strategy, outcomes, status) in cases {
        let mut w = wf(RunType::Concurrently, &[("a", 0), ("b", 1), ("c", 2)]);
        w.failure_strategy = *strategy;
        // Routes and delays do not apply in concurrent mode.
        set(&mut w, "a", |s| {
            s.on_success = Some("b".into());
            s.on_fail = Some("c".into());
            s.delay_to_next_step_seconds = 9;
        });
        let mut s = Sim::start(w);
        assert_eq!(s.delivers(), [0, 1, 2], "{name}: all start at once");
        assert_eq!(s.trail(), ["a:running", "b:running", "c:running"], "{name}");
        for (i, (visit, ok)) in outcomes.iter().enumerate() {
            assert!(!s.run.status.is_finished(), "{name}: ended before every step did");
            s.done(*visit, *ok);
            assert!(s.delivers().is_empty(), "{name}: no step starts twice");
            assert!(!s.effects.iter().any(|e| matches!(e, Effect::Timer { .. })), "{name}: no delays");
            assert_eq!(s.finished(), i == outcomes.len() - 1, "{name}: Finished only at the end");
        }
        assert_eq!(s.run.status, *status, "{name}");
        assert_eq!(s.run.visits.len(), 3, "{name}");
    }
}

#[test]
fn concurrent_skips_and_conditions_on_the_initial_context() {
    let mut w = wf(RunType::Concurrently, &[("a", 0), ("b", 1), ("c", 2)]);
    set(&mut w, "b", |s| s.condition = cond("initial.n", "gt", json!(5)));
    set(&mut w, "c", |s| s.condition = cond("n", "lte", json!(5)));
    let mut s = Sim::start(w);
    assert_eq!(s.delivers(), [0, 2]);
    assert_eq!(s.trail(), ["a:running", "b:skipped", "c:running"]);
    s.done(0, true);
    s.done(2, true);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    // Every step skipped: the run ends at its start.
    let mut w = wf(RunType::Concurrently, &[("a", 0), ("b", 1)]);
    set(&mut w, "a", |s| s.condition = cond("n", "eq", json!(1)));
    set(&mut w, "b", |s| s.condition = cond("n", "eq", json!(2)));
    let s = Sim::start(w);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    assert_eq!(s.effects.iter().filter(|e| **e == Effect::Finished).count(), 1);
}

#[test]
fn concurrent_approval_step() {
    for (approve, strategy, expect) in [
        (true, FailureStrategy::Stop, RunStatus::Succeeded),
        (false, FailureStrategy::Stop, RunStatus::Failed),
        (false, FailureStrategy::Continue, RunStatus::CompletedWithFailures),
    ] {
        let mut w = wf(RunType::Concurrently, &[("a", 0), ("gate", 1), ("c", 2)]);
        w.failure_strategy = strategy;
        set(&mut w, "gate", |s| s.human_approval_required = true);
        let mut s = Sim::start(w);
        assert_eq!(s.delivers(), [0, 2], "the others start at once");
        let plan = s.plan();
        assert_eq!(plan.visit, 1);
        assert_eq!(s.run.status, RunStatus::WaitingApproval);
        s.done(0, true);
        s.done(2, true);
        assert_eq!(s.run.status, RunStatus::WaitingApproval, "still waiting once the others ended");
        assert!(!s.finished());
        s.ev(Event::Decision { plan: plan.id, approve, by: None });
        if approve {
            assert_eq!(s.delivers(), [1]);
            assert_eq!(s.run.status, RunStatus::Running);
            s.done(1, true);
        } else {
            assert_eq!(s.trail(), ["a:succeeded", "gate:rejected", "c:succeeded"]);
        }
        assert!(s.finished());
        assert_eq!(s.run.status, expect, "approve={approve} {strategy:?}");
    }
}

#[test]
fn cycles_through_two_steps_and_retry_loops_are_bounded() {
    // a → b → a → … stops at the visit bound.
    let mut w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1)]);
    set(&mut w, "b", |s| s.on_success = Some("a".into()));
    let run = new_run(RUN, &w, Map::new(), 0);
    let mut ids = SeqIds::new();
    let (mut run, mut fx) = step(&run, &w, Event::Start, 0, 5, &mut ids).unwrap();
    while !run.status.is_finished() {
        let visit =
            fx.iter().find_map(|e| if let Effect::Deliver { visit } = e { Some(*visit) } else { None }).unwrap();
        (run, fx) = step(
            &run,
            &w,
            Event::StepDone { visit, ok: true, status_code: Some(200), response: None, error: None },
            0,
            5,
            &mut ids,
        )
        .unwrap();
    }
    assert_eq!(run.visits.len(), 5);
    assert_eq!(run.steps_started, 5);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.reason.as_deref(), Some("stopped after 5 step visits (max_steps_per_run)"));
    assert!(fx.contains(&Effect::Finished));

    // A failure route back to the same step retries it until it succeeds.
    let mut w = wf(RunType::FifoSequential, &[("poll", 0), ("after", 1)]);
    set(&mut w, "poll", |s| s.on_fail = Some("poll".into()));
    let mut s = Sim::start(w);
    s.answer(false, json!({}));
    s.answer(false, json!({}));
    s.answer(true, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["poll:failed", "poll:failed", "poll:succeeded", "after:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);

    // Skipped visits count against the bound too.
    let mut w = wf(RunType::FifoSequential, &[("a", 0)]);
    set(&mut w, "a", |s| {
        s.condition = cond("n", "eq", json!(0));
        s.on_success = Some("a".into());
    });
    let s = Sim::start(w);
    assert_eq!(s.run.visits.len(), 50);
    assert_eq!(s.run.status, RunStatus::Failed);
}

#[test]
fn start_at_reruns_from_a_failed_step_fifo() {
    let w = wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]);
    // The first run: a succeeds, b fails.
    let mut first = Sim::start(w.clone());
    first.answer(true, json!({"token": "t1"}));
    first.answer(false, json!({}));
    assert_eq!(first.run.status, RunStatus::Failed);
    // The rerun carries the earlier successes and starts at b (as rerun_workflow_run does).
    let mut run = new_run(RUN, &w, first.run.initial_context.clone(), 100);
    run.visits = first.run.visits[..1].to_vec();
    let b = w.steps[1].id;
    let mut s = Sim { wf: w.clone(), run, now: 100, effects: Vec::new(), ids: SeqIds::new() };
    s.ev(Event::StartAt(vec![b, w.steps[2].id]));
    assert_eq!(s.delivers(), [1], "FIFO starts at the first of the given steps only");
    assert_eq!(s.run.visits[1].identifier, "b");
    assert_eq!(s.run.visits[1].context.as_ref().unwrap()["step"]["a"]["response"]["token"], "t1");
    s.answer(true, json!({}));
    s.answer(true, json!({}));
    assert_eq!(s.trail(), ["a:succeeded", "b:succeeded", "c:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
    // Nothing to start: the run ends succeeded.
    let mut s =
        Sim { wf: w.clone(), run: new_run(RUN, &w, Map::new(), 0), now: 0, effects: Vec::new(), ids: SeqIds::new() };
    s.ev(Event::StartAt(Vec::new()));
    assert_eq!(s.run.status, RunStatus::Succeeded);
    // A finished run cannot be started again.
    assert_eq!(step(&first.run, &w, Event::StartAt(vec![b]), 0, 50, &mut SeqIds::new()), Err(Refused::RunFinished));
}

#[test]
fn start_at_reruns_the_failed_steps_concurrently() {
    let w = wf(RunType::Concurrently, &[("a", 0), ("b", 1), ("c", 2)]);
    let mut first = Sim::start(w.clone());
    first.done(0, true);
    first.done(1, false);
    first.done(2, false);
    assert_eq!(first.run.status, RunStatus::Failed);
    let mut run = new_run(RUN, &w, Map::new(), 0);
    run.visits = first.run.visits.iter().filter(|v| v.status == StepStatus::Succeeded).cloned().collect();
    let mut s = Sim { wf: w.clone(), run, now: 0, effects: Vec::new(), ids: SeqIds::new() };
    s.ev(Event::StartAt(vec![w.steps[1].id, w.steps[2].id]));
    assert_eq!(s.delivers(), [1, 2], "only the failed steps start, together");
    s.done(2, true);
    assert!(!s.run.status.is_finished());
    s.done(1, true);
    assert_eq!(s.trail(), ["a:succeeded", "b:succeeded", "c:succeeded"]);
    assert_eq!(s.run.status, RunStatus::Succeeded);
}

#[test]
fn a_step_added_during_a_concurrent_run_does_not_hold_the_run_open() {
    let mut s = Sim::start(wf(RunType::Concurrently, &[("a", 0), ("b", 1)]));
    assert_eq!(s.delivers(), [0, 1]);
    // add_workflow_step while the run is in flight: the run goes on with the steps it started.
    let mut extra = wf(RunType::Concurrently, &[("late", 2)]).steps.remove(0);
    extra.id = StepId(uuid::Uuid::from_u128(0x57FF));
    s.wf.steps.push(extra);
    s.done(0, true);
    s.done(1, true);
    assert!(s.finished(), "the run ends when the steps it started ended: {:?}", s.trail());
    assert_eq!(s.run.status, RunStatus::Succeeded);
}

#[test]
fn a_step_deleted_during_its_visit_ends_the_run() {
    for ok in [true, false] {
        let mut s = Sim::start(wf(RunType::FifoSequential, &[("a", 0), ("b", 1), ("c", 2)]));
        s.done(0, true);
        // delete_workflow_step of b while b's request is in flight.
        s.wf.steps.retain(|x| x.identifier != "b");
        s.done(1, ok);
        assert!(s.finished(), "ok={ok}: the run must not wait forever: {:?} {:?}", s.trail(), s.effects);
        assert_eq!(s.run.status, RunStatus::Failed, "ok={ok}");
        assert!(s.run.reason.as_deref().unwrap_or("").contains("no longer exists"), "{:?}", s.run.reason);
    }
}
