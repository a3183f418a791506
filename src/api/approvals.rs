//! Standalone approval requests (product.md §11): `create_approval_request` and
//! `get_approval_request`. A request is an approval plan without a workflow run: it is listed
//! by `get_all_pending_approvals_paginated` and decided by `human_approval_action` like a
//! workflow step's plan (api/workflows.rs); its deadline is a wheel timer
//! (`SchedulerHandle::arm_approval`, re-armed on start with every waiting plan). The decision
//! and the execution of the chosen target are one commit (`workflow::approval`).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::error::ApiError;
use super::fields::{Context, Id, Int, Name, OneOf};
use super::reply::{ApiResult, ok};
use super::request::Cx;
use crate::model::{
    ApprovalPlan, ApprovalTarget, BrandId, ExecutionId, PlanId, PlanStatus, StandaloneApproval, StepId, TargetKind,
    TemplateId, TimeoutAction, WorkflowId,
};
use crate::time::{Millis, format_utc};
use crate::workflow::approval::{request_status, seconds_remaining};

/// Longest `title`.
pub const TITLE_CHARS_MAX: usize = 200;
/// Longest `timeout_seconds`: one day (PingPulse's bound for approvals).
pub const TIMEOUT_SECONDS_MAX: i64 = 86_400;
/// `timeout_seconds` when none is given (PingPulse's default).
pub const TIMEOUT_SECONDS_DEFAULT: i64 = 300;

/// What a decided request runs: the `schedule_to` + `model_to_schedule_uuid` pair of
/// `add_subscription`, without `debounce_schedule`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetIn {
    /// `webhook` (a webhook template) or `workflow`.
    pub schedule_to: OneOf<TargetKind>,
    /// The webhook template or workflow (of the caller's brand).
    pub model_to_schedule_uuid: Id,
}

/// `create_approval_request`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApproval {
    /// What is to be approved, shown in the pending list (not blank).
    pub title: Name<TITLE_CHARS_MAX>,
    /// Data for the decider and for the target's execution (an object; default `{}`).
    pub context: Option<Context>,
    /// Seconds until the request decides itself by `timeout_action` (1 to 86,400; default 300).
    pub timeout_seconds: Option<Int<1, TIMEOUT_SECONDS_MAX>>,
    /// What the timeout decides: `reject` (default) or `approve`.
    pub timeout_action: Option<OneOf<TimeoutAction>>,
    /// Runs once when the request is approved (by a person or the timeout).
    pub on_approve: Option<TargetIn>,
    /// Runs once when the request is rejected (by a person or the timeout).
    pub on_reject: Option<TargetIn>,
}

/// `get_approval_request`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRef {
    /// The request's id (from `create_approval_request`).
    #[serde(alias = "execution_plan_id")]
    #[schemars(extend("x-aliases" = ["execution_plan_id"]))]
    pub execution_plan_uuid: Id,
}

/// Checks a target exists in the caller's brand; `field` names it in the 404.
fn target(cx: &Cx, t: Option<TargetIn>, field: &'static str) -> Result<Option<ApprovalTarget>, ApiError> {
    let Some(t) = t else { return Ok(None) };
    let (kind, id) = (t.schedule_to.0, t.model_to_schedule_uuid.0);
    let (found, what) = match kind {
        TargetKind::Webhook => (cx.app.store.get_template(cx.brand.id, TemplateId(id))?.is_some(), "Webhook"),
        TargetKind::Workflow => (cx.app.store.get_workflow(cx.brand.id, WorkflowId(id))?.is_some(), "Workflow"),
        // `schedule_to` never parses to a channel.
        TargetKind::Channel => (false, "Webhook"),
    };
    if !found {
        return Err(ApiError::NotFoundWith { what, key: field, id: id.to_string() });
    }
    Ok(Some(ApprovalTarget { kind, id }))
}

/// A standalone approval request to create (checked already): what `create_approval_request`
/// and PingPulse's `POST /api/approvals` share.
pub struct Standalone {
    pub title: String,
    pub context: serde_json::Map<String, Value>,
    /// 1 to [`TIMEOUT_SECONDS_MAX`].
    pub timeout_seconds: i64,
    pub timeout_action: TimeoutAction,
    pub on_approve: Option<ApprovalTarget>,
    pub on_reject: Option<ApprovalTarget>,
}

/// Stores a standalone approval plan waiting from `now` and arms its deadline
/// (`now + timeout_seconds`). The one way such a request is created.
pub async fn create_standalone(
    app: &App,
    brand: BrandId,
    now: Millis,
    r: Standalone,
) -> Result<ApprovalPlan, ApiError> {
    let deadline = now + r.timeout_seconds * 1000;
    let nil = uuid::Uuid::nil();
    let plan = ApprovalPlan {
        id: PlanId::new(),
        brand,
        run: ExecutionId(nil),
        workflow: WorkflowId(nil),
        workflow_name: String::new(),
        step: StepId(nil),
        identifier: String::new(),
        index: 0,
        visit: 0,
        delay_to_next_step_seconds: 0,
        status: PlanStatus::WaitingApproval,
        deadline_ms: Some(deadline),
        timeout_action: r.timeout_action,
        decided_by: None,
        decided_at: None,
        created_ms: now,
        notes: None,
        standalone: Some(Box::new(StandaloneApproval {
            title: r.title,
            context: r.context,
            on_approve: r.on_approve,
            on_reject: r.on_reject,
            timed_out: false,
            execution: None,
        })),
    };
    let plan = app.store.create_plan(plan).await?;
    app.scheduler.arm_approval(plan.brand, plan.id, deadline).await;
    Ok(plan)
}

pub async fn create_approval_request(cx: Cx, i: CreateApproval) -> ApiResult {
    let on_approve = target(&cx, i.on_approve, "on_approve.model_to_schedule_uuid")?;
    let on_reject = target(&cx, i.on_reject, "on_reject.model_to_schedule_uuid")?;
    let timeout = i.timeout_seconds.map_or(TIMEOUT_SECONDS_DEFAULT, |t| t.get());
    let request = Standalone {
        title: i.title.0,
        context: i.context.map(|c| c.0).unwrap_or_default(),
        timeout_seconds: timeout,
        timeout_action: i.timeout_action.map_or(TimeoutAction::Reject, |a| a.0),
        on_approve,
        on_reject,
    };
    let plan = create_standalone(&cx.app, cx.brand.id, cx.now, request).await?;
    let deadline = plan.deadline_ms.unwrap_or(cx.now);
    ok(json!({
        "success": true,
        "details": "Approval request created",
        "execution_plan_uuid": plan.id.to_string(),
        "status": "waiting_approval",
        "deadline_at": format_utc(deadline),
    }))
}

fn target_view(t: Option<ApprovalTarget>) -> Value {
    t.map_or(Value::Null, |t| json!({"schedule_to": t.kind.as_str(), "model_to_schedule_uuid": t.id.to_string()}))
}

pub async fn get_approval_request(cx: Cx, i: ApprovalRef) -> ApiResult {
    let p = cx
        .app
        .store
        .get_plan(cx.brand.id, PlanId(i.execution_plan_uuid.0))?
        .filter(ApprovalPlan::is_standalone)
        .ok_or(ApiError::NotFound("Approval request"))?;
    let Some(s) = p.standalone.as_deref() else { return Err(ApiError::NotFound("Approval request")) };
    let decision = match p.status {
        PlanStatus::WaitingApproval => Value::Null,
        PlanStatus::Approved => json!("approve"),
        PlanStatus::Rejected => json!("reject"),
    };
    let remaining = if p.status == PlanStatus::WaitingApproval { seconds_remaining(p.deadline_ms, cx.now) } else { 0 };
    ok(json!({"success": true, "data": {
        "execution_plan_uuid": p.id.to_string(),
        "title": s.title,
        "context": s.context,
        "status": request_status(&p),
        "decision": decision,
        "timeout_action": match p.timeout_action { TimeoutAction::Reject => "reject", TimeoutAction::Approve => "approve" },
        "deadline_at": p.deadline_ms.map(format_utc),
        "seconds_remaining": remaining,
        "decided_by": p.decided_by.map(|k| k.to_string()),
        "decided_at": p.decided_at.map(format_utc),
        "notes": p.notes,
        "on_approve": target_view(s.on_approve),
        "on_reject": target_view(s.on_reject),
        "execution_uuid": s.execution.map(|e| e.to_string()),
        "created_at": format_utc(p.created_ms),
    }}))
}
