//! Standalone approval requests (product.md §11, `create_approval_request`), pure: deciding
//! one — by a person through `human_approval_action` or by its deadline's `timeout_action` —
//! and the execution of the target its decision starts. The scheduler commits the decided plan
//! and that execution in one write, then dispatches the execution. Nothing here reads the
//! clock or draws an id.

use serde_json::{Map, Value, json};

use super::Refused;
use crate::model::{ApprovalPlan, Execution, ExecutionId, KeyId, PlanStatus, TimeoutAction};
use crate::time::Millis;

/// A standalone plan after its decision, with the execution of the chosen target (None when
/// no target was given for that outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub plan: ApprovalPlan,
    pub execution: Option<Execution>,
}

/// Decides a waiting standalone plan: `decision` is a person's (`approve`, key id); `None`
/// applies the plan's `timeout_action`. The target's execution gets `execution_id`, the
/// idempotency key `hw_apr_<plan>_<approve|reject>` (stable: one per plan and outcome) and as
/// context the request's `context` with `approval` set to [`approval_context`].
///
/// Errors: [`Refused::PlanNotWaiting`] when the plan is decided already or is a workflow
/// step's plan.
pub fn decide(
    plan: &ApprovalPlan,
    decision: Option<(bool, KeyId)>,
    notes: Option<String>,
    now: Millis,
    execution_id: ExecutionId,
) -> Result<Decided, Refused> {
    let Some(standalone) = plan.standalone.as_deref() else { return Err(Refused::PlanNotWaiting) };
    if plan.status != PlanStatus::WaitingApproval {
        return Err(Refused::PlanNotWaiting);
    }
    let approve = decision.map_or(plan.timeout_action == TimeoutAction::Approve, |(a, _)| a);
    let mut p = plan.clone();
    p.status = if approve { PlanStatus::Approved } else { PlanStatus::Rejected };
    p.decided_by = decision.map(|(_, by)| by);
    p.decided_at = Some(now);
    p.notes = notes;
    let mut s = standalone.clone();
    s.timed_out = decision.is_none();
    let target = if approve { s.on_approve } else { s.on_reject };
    let execution = target.map(|t| {
        let mut context: Map<String, Value> = s.context.clone();
        context.insert("approval".into(), approval_context(&p, approve, s.timed_out));
        let mut e = Execution::manual_as(execution_id, p.brand, None, (t.kind, t.id), context, now);
        e.idempotency_key = format!("hw_apr_{}_{}", p.id.0.simple(), decision_word(approve));
        e
    });
    s.execution = execution.as_ref().map(|e| e.id);
    p.standalone = Some(Box::new(s));
    Ok(Decided { plan: p, execution })
}

/// `approve` or `reject`.
pub fn decision_word(approve: bool) -> &'static str {
    if approve { "approve" } else { "reject" }
}

/// The `approval` object a target's execution sees: `execution_plan_uuid`, `title`,
/// `decision` (`approve` | `reject`), `decided_by` (the API key's id; null when the timeout
/// decided), `timed_out`, `notes`.
pub fn approval_context(plan: &ApprovalPlan, approve: bool, timed_out: bool) -> Value {
    json!({
        "execution_plan_uuid": plan.id.to_string(),
        "title": plan.standalone.as_deref().map(|s| s.title.as_str()),
        "decision": decision_word(approve),
        "decided_by": plan.decided_by.map(|k| k.to_string()),
        "timed_out": timed_out,
        "notes": plan.notes,
    })
}

/// A standalone request's status: `waiting_approval`, `approved`, `rejected` or `timed_out`
/// (decided by its deadline; `decision` in the answer says which way).
pub fn request_status(plan: &ApprovalPlan) -> &'static str {
    match plan.status {
        PlanStatus::WaitingApproval => "waiting_approval",
        _ if plan.standalone.as_deref().is_some_and(|s| s.timed_out) => "timed_out",
        PlanStatus::Approved => "approved",
        PlanStatus::Rejected => "rejected",
    }
}

/// Whole seconds until `deadline` (rounded up), 0 once it passed or without a deadline.
pub fn seconds_remaining(deadline: Option<Millis>, now: Millis) -> u64 {
    deadline.map_or(0, |d| u64::try_from(d.saturating_sub(now)).map_or(0, |ms| ms.div_ceil(1000)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApprovalTarget, BrandId, PlanId, StandaloneApproval, StepId, TargetKind, WorkflowId};

    fn plan(action: TimeoutAction, on_approve: bool, on_reject: bool) -> ApprovalPlan {
        let target = |n: u128| ApprovalTarget { kind: TargetKind::Webhook, id: uuid::Uuid::from_u128(n) };
        let mut context = Map::new();
        context.insert("order".into(), json!(42));
        ApprovalPlan {
            id: PlanId(uuid::Uuid::from_u128(7)),
            brand: BrandId(uuid::Uuid::from_u128(1)),
            run: ExecutionId(uuid::Uuid::nil()),
            workflow: WorkflowId(uuid::Uuid::nil()),
            workflow_name: String::new(),
            step: StepId(uuid::Uuid::nil()),
            identifier: String::new(),
            index: 0,
            visit: 0,
            delay_to_next_step_seconds: 0,
            status: PlanStatus::WaitingApproval,
            deadline_ms: Some(301_000),
            timeout_action: action,
            decided_by: None,
            decided_at: None,
            created_ms: 1_000,
            notes: None,
            standalone: Some(Box::new(StandaloneApproval {
                title: "Deploy".into(),
                context,
                on_approve: on_approve.then(|| target(10)),
                on_reject: on_reject.then(|| target(20)),
                timed_out: false,
                execution: None,
            })),
        }
    }

    const EXEC: ExecutionId = ExecutionId(uuid::Uuid::from_u128(99));

    #[test]
    fn a_person_approves_and_the_approve_target_runs() {
        let key = KeyId(uuid::Uuid::from_u128(5));
        let d = decide(&plan(TimeoutAction::Reject, true, true), Some((true, key)), Some("ok".into()), 2_000, EXEC)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(d.plan.status, PlanStatus::Approved);
        assert_eq!(d.plan.decided_by, Some(key));
        assert_eq!(d.plan.decided_at, Some(2_000));
        assert_eq!(request_status(&d.plan), "approved");
        let e = d.execution.unwrap_or_else(|| panic!("no execution"));
        assert_eq!(e.id, EXEC);
        assert_eq!(e.target_id, uuid::Uuid::from_u128(10));
        assert_eq!(e.idempotency_key, format!("hw_apr_{}_approve", uuid::Uuid::from_u128(7).simple()));
        assert_eq!(e.due_ms, 2_000);
        assert_eq!(e.context["order"], json!(42));
        assert_eq!(
            e.context["approval"],
            json!({"execution_plan_uuid": PlanId(uuid::Uuid::from_u128(7)).to_string(), "title": "Deploy",
                   "decision": "approve", "decided_by": key.to_string(), "timed_out": false, "notes": "ok"})
        );
        assert_eq!(d.plan.standalone.as_deref().and_then(|s| s.execution), Some(EXEC));
    }

    #[test]
    fn rejection_runs_the_reject_target_and_none_without_one() {
        let key = KeyId(uuid::Uuid::from_u128(5));
        let d = decide(&plan(TimeoutAction::Reject, true, true), Some((false, key)), None, 2_000, EXEC)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(request_status(&d.plan), "rejected");
        let e = d.execution.unwrap_or_else(|| panic!("no execution"));
        assert_eq!(e.target_id, uuid::Uuid::from_u128(20));
        assert!(e.idempotency_key.ends_with("_reject"));
        let d = decide(&plan(TimeoutAction::Reject, true, false), Some((false, key)), None, 2_000, EXEC)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(d.execution, None);
        assert_eq!(d.plan.standalone.as_deref().and_then(|s| s.execution), None);
        assert_eq!(d.plan.status, PlanStatus::Rejected);
    }

    #[test]
    fn the_timeout_takes_its_action() {
        let d = decide(&plan(TimeoutAction::Approve, true, true), None, None, 301_000, EXEC)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(d.plan.status, PlanStatus::Approved);
        assert_eq!(d.plan.decided_by, None);
        assert_eq!(request_status(&d.plan), "timed_out");
        let e = d.execution.unwrap_or_else(|| panic!("no execution"));
        assert_eq!(e.target_id, uuid::Uuid::from_u128(10));
        assert_eq!(e.context["approval"]["timed_out"], json!(true));
        assert_eq!(e.context["approval"]["decided_by"], Value::Null);
        let d = decide(&plan(TimeoutAction::Reject, true, true), None, None, 301_000, EXEC)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(d.plan.status, PlanStatus::Rejected);
        assert_eq!(d.execution.map(|e| e.target_id), Some(uuid::Uuid::from_u128(20)));
    }

    #[test]
    fn a_decided_or_workflow_plan_is_refused() {
        let key = KeyId(uuid::Uuid::from_u128(5));
        let d = decide(&plan(TimeoutAction::Reject, true, true), Some((true, key)), None, 2_000, EXEC)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(decide(&d.plan, Some((false, key)), None, 3_000, EXEC), Err(Refused::PlanNotWaiting));
        assert_eq!(decide(&d.plan, None, None, 3_000, EXEC), Err(Refused::PlanNotWaiting));
        let mut wf = plan(TimeoutAction::Reject, true, true);
        wf.standalone = None;
        assert_eq!(decide(&wf, Some((true, key)), None, 2_000, EXEC), Err(Refused::PlanNotWaiting));
    }

    #[test]
    fn seconds_remaining_rounds_up_and_stops_at_zero() {
        assert_eq!(seconds_remaining(Some(10_000), 0), 10);
        assert_eq!(seconds_remaining(Some(10_000), 1), 10);
        assert_eq!(seconds_remaining(Some(10_000), 9_001), 1);
        assert_eq!(seconds_remaining(Some(10_000), 10_000), 0);
        assert_eq!(seconds_remaining(Some(10_000), 20_000), 0);
        assert_eq!(seconds_remaining(None, 0), 0);
    }
}
