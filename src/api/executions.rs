//! Execution log (extension): `get_executions_paginated` (filters) and `get_execution_details`.
//! Failed executions are the dead-letter queue (`?filter_status=failed`).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::fields::{Context, Id, InstantText, Int, OneOf};
use super::reply::{ApiResult, PAGE_MAX, ok, page_number, paginated};
use super::request::Cx;
use crate::model::{Execution, ExecutionId, ExecutionStatus, ScheduleId, TargetKind, TemplateId, Trigger};
use crate::store::ExecutionFilter;
use crate::time::{format_utc, tz};

/// `get_executions_paginated` (query): every filter is optional.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionsQuery {
    /// 1-based page number (default 1).
    pub page: Option<Int<1, PAGE_MAX>>,
    /// Only this schedule's executions.
    pub schedule_uuid: Option<Id>,
    /// Only executions of this webhook template or workflow.
    pub target_uuid: Option<Id>,
    /// Only executions in this status (`failed` = the dead-letter queue).
    #[serde(alias = "status")]
    #[schemars(extend("x-aliases" = ["status"]))]
    pub filter_status: Option<OneOf<ExecutionStatus>>,
    /// Scheduled at or after this RFC 3339 instant.
    pub from: Option<InstantText>,
    /// Scheduled before this RFC 3339 instant.
    pub to: Option<InstantText>,
}

/// `get_lateness_summary` (query).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatenessQuery {
    /// Hours to summarise, the current one included (1–24, default 24).
    pub window_hours: Option<Int<1, { crate::activity::LATENESS_HOURS_MAX as i64 }>>,
}

/// An execution by id: `get_execution_details`, `retry_execution`, `cancel_execution`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRef {
    /// The execution's id.
    pub execution_uuid: Id,
}

/// `execute_webhook_template`: run a template once, now.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteTemplate {
    /// The webhook template's id.
    #[serde(alias = "template_uuid")]
    #[schemars(extend("x-aliases" = ["template_uuid"]))]
    pub webhook_uuid: Id,
    /// Keys the template reads as `{{ initial.key }}`.
    #[serde(alias = "initial_context_template", alias = "context")]
    #[schemars(extend("x-aliases" = ["initial_context_template", "context"]))]
    pub initial_context: Option<Context>,
}

fn summary(e: &Execution) -> Value {
    json!({
        "execution_uuid": e.id.to_string(),
        "schedule_uuid": e.schedule.map(|s| s.to_string()),
        "target_type": e.target_kind.as_str(),
        "target_uuid": e.target_id.to_string(),
        "trigger": e.trigger,
        "status": e.status.as_str(),
        "scheduled_at": format_utc(e.scheduled_ms),
        "due_at": format_utc(e.due_ms),
        "idempotency_key": e.idempotency_key,
        "lateness_ms": e.lateness_ms,
        "attempt_count": e.attempts.len(),
        "last_status_code": e.attempts.last().and_then(|a| a.status_code),
        "reason": e.reason,
        "skipped_rule_uuid": e.skipped_rule.map(|r| r.to_string()),
        "created_at": format_utc(e.created_ms),
        "finished_at": e.finished_ms.map(format_utc),
        "next_attempt_at": e.next_attempt_ms.map(format_utc),
        "retry_of": e.retry_of.map(|r| r.to_string()),
        "event_uuid": e.event.map(|r| r.event.to_string()),
        "subscription_uuid": e.event.map(|r| r.subscription.to_string()),
    })
}

pub async fn list(cx: Cx, input: ExecutionsQuery) -> ApiResult {
    let page = page_number(input.page);
    let filter = ExecutionFilter {
        schedule: input.schedule_uuid.map(|i| ScheduleId(i.0)),
        status: input.filter_status.map(|s| s.0),
        target: input.target_uuid.map(|i| i.0),
        from_ms: InstantText::utc_millis_of(input.from.as_ref(), "from")?,
        to_ms: InstantText::utc_millis_of(input.to.as_ref(), "to")?,
    };
    let items = cx.app.store.list_executions(cx.brand.id, &filter, page, cx.page_size)?;
    paginated(items, page, cx.page_size, &cx.brand.timezone, summary)
}

/// `get_lateness_summary`: the brand's first-request lateness (request start − scheduled
/// instant) over the last hours, from the daemon's memory (so only since its last start): how
/// many first requests were measured, the p50 / p99 as the upper bound of their histogram
/// bucket (`crate::activity::LATENESS_BOUNDS_MS`; `null` past the last bound or without data)
/// and the exact maximum.
pub async fn lateness(cx: Cx, input: LatenessQuery) -> ApiResult {
    let hours = input.window_hours.map_or(crate::activity::LATENESS_HOURS_MAX as i64, |h| h.get()) as usize;
    let s = cx.app.metrics.activity().lateness_summary(cx.brand.id, cx.now, hours);
    let bound = |v: Option<i64>| v.filter(|ms| *ms != i64::MAX);
    ok(json!({
        "success": true,
        "data": {
            "window_hours": hours,
            "since": format_utc(s.since_ms),
            "measured": s.measured,
            "lateness_p50_at_most_ms": bound(s.p50_at_most_ms),
            "lateness_p99_at_most_ms": bound(s.p99_at_most_ms),
            "lateness_max_ms": s.max_ms,
            "bucket_bounds_ms": crate::activity::LATENESS_BOUNDS_MS,
        }
    }))
}

pub async fn detail(cx: Cx, input: ExecutionRef) -> ApiResult {
    let id = ExecutionId(input.execution_uuid.0);
    let e = cx.app.store.get_execution(cx.brand.id, id)?.ok_or(ApiError::NotFound("Execution"))?;
    let mut data = summary(&e);
    let o = data.as_object_mut().expect("object");
    o.insert("context".into(), Value::Object(e.context.clone()));
    o.insert("inserted_at".into(), json!(tz::format_in_zone(e.created_ms, &cx.brand.timezone)));
    o.insert("attempts".into(), Value::Array(e.attempts.iter().map(crate::activity::attempt_row).collect()));
    ok(json!({"success": true, "data": data}))
}

/// `retry_execution`: re-runs a failed (or cancelled) execution as a new one linked to it,
/// with the same idempotency key (it is the same message to the receiver).
pub async fn retry(cx: Cx, input: ExecutionRef) -> ApiResult {
    let id = ExecutionId(input.execution_uuid.0);
    let old = cx.app.store.get_execution(cx.brand.id, id)?.ok_or(ApiError::NotFound("Execution"))?;
    if old.step.is_some() {
        return Err(ApiError::conflict("This execution is a workflow step; rerun its run with rerun_workflow_run"));
    }
    if !matches!(old.status, ExecutionStatus::Failed | ExecutionStatus::Cancelled) {
        return Err(ApiError::conflict(format!(
            "Only failed or cancelled executions can be retried; this one is {}",
            old.status.as_str()
        )));
    }
    let new = retried(old, cx.now);
    let e = cx.app.store.create_execution(new).await?;
    let new_id = e.id;
    cx.app.dispatch(e).await;
    ok(
        json!({"success": true, "details": "Execution retried", "execution_uuid": new_id.to_string(), "retry_of": id.to_string()}),
    )
}

/// A new pending execution that re-runs `old` (a failed or cancelled one) now: same target,
/// context, idempotency key and event link, `retry_of` set. `retry_execution` and
/// `bulk_retry_executions` both make theirs here.
pub fn retried(old: Execution, now: crate::time::Millis) -> Execution {
    Execution {
        id: ExecutionId::new(),
        trigger: Trigger::Manual,
        status: ExecutionStatus::Pending,
        scheduled_ms: now,
        due_ms: now,
        attempts: Vec::new(),
        lateness_ms: None,
        next_attempt_ms: None,
        retry_of: Some(old.id),
        skipped_rule: None,
        reason: None,
        created_ms: now,
        finished_ms: None,
        ..old
    }
}

/// `cancel_execution`: stops a pending execution (a waiting retry included).
pub async fn cancel(cx: Cx, input: ExecutionRef) -> ApiResult {
    let id = ExecutionId(input.execution_uuid.0);
    let e = cx.app.store.get_execution(cx.brand.id, id)?.ok_or(ApiError::NotFound("Execution"))?;
    if e.target_kind == TargetKind::Workflow && e.step.is_none() && cx.app.store.get_run(cx.brand.id, id)?.is_some() {
        // A workflow run: the engine cancels it (and rejects its waiting approvals).
        return match cx.app.scheduler.cancel_run(cx.brand.id, id).await {
            Ok(()) => ok(json!({"success": true, "details": "Execution cancelled", "execution_uuid": id.to_string()})),
            Err(crate::workflow::Refused::NotStored) => Err(store_unavailable(&cx)),
            Err(_) => Err(ApiError::conflict(format!(
                "Execution cannot be cancelled: the run is already {}",
                e.status.as_str()
            ))),
        };
    }
    // A finished execution is the store's `State` conflict (409).
    let e = cx.app.store.cancel_execution(cx.brand.id, id, cx.now).await?;
    ok(json!({"success": true, "details": "Execution cancelled", "execution_uuid": e.id.to_string()}))
}

/// `execute_webhook_template` (`{webhook_uuid, initial_context}`): runs a template once, now.
pub async fn execute_template(cx: Cx, input: ExecuteTemplate) -> ApiResult {
    let template = TemplateId(input.webhook_uuid.0);
    if cx.app.store.get_template(cx.brand.id, template)?.is_none() {
        return Err(ApiError::NotFound("Webhook"));
    }
    let context = input.initial_context.unwrap_or_default().0;
    let e = Execution::manual(cx.brand.id, None, (TargetKind::Webhook, template.0), context, cx.now);
    let id = e.id;
    let e = cx.app.store.create_execution(e).await?;
    cx.app.dispatch(e).await;
    ok(json!({"success": true, "details": "Webhook execution started", "execution_uuid": id.to_string()}))
}

/// The scheduler could not store a change (the store cannot write, or the scheduler waits for
/// it): 507 when the disk is full, else 503; the client may retry.
pub(super) fn store_unavailable(cx: &Cx) -> ApiError {
    ApiError::Unavailable { disk_full: cx.app.store.write_health().disk_full }
}
