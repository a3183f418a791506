//! Execution log (extension): `get_executions_paginated` (filters) and `get_execution_details`.
//! Failed executions are the dead-letter queue (`?filter_status=failed`).

use serde_json::{Value, json};

use super::dispatch::Cx;
use super::error::ApiError;
use super::reply::{ApiResult, ok, paginated};
use super::request::Req;
use crate::model::{Execution, ExecutionId, ExecutionStatus, ScheduleId};
use crate::store::ExecutionFilter;
use crate::time::{format_utc, tz};

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
    })
}

fn query_uuid(req: &Req, name: &'static str) -> Result<Option<uuid::Uuid>, ApiError> {
    match req
        .query
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => uuid::Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "expected a UUID")),
    }
}

fn query_time(req: &Req, name: &'static str) -> Result<Option<i64>, ApiError> {
    match req
        .query
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_millisecond()))
            .map_err(|_| ApiError::invalid(name, "expected an RFC 3339 instant")),
    }
}

pub async fn list(cx: Cx, req: Req) -> ApiResult {
    let page = req.page()?;
    let status = match req
        .query
        .get("filter_status")
        .or(req.query.get("status"))
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => Some(ExecutionStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "filter_status",
                "expected pending, running, succeeded, failed, skipped, missed or cancelled",
            )
        })?),
    };
    let filter = ExecutionFilter {
        schedule: query_uuid(&req, "schedule_uuid")?.map(ScheduleId),
        status,
        target: query_uuid(&req, "target_uuid")?,
        from_ms: query_time(&req, "from")?,
        to_ms: query_time(&req, "to")?,
    };
    let items = cx
        .app
        .store
        .list_executions(cx.brand.id, &filter, page, cx.page_size)?;
    paginated(items, page, cx.page_size, &cx.brand.timezone, summary)
}

pub async fn detail(cx: Cx, req: Req) -> ApiResult {
    let id = ExecutionId(req.uuid(&["execution_uuid"])?);
    let e = cx
        .app
        .store
        .get_execution(cx.brand.id, id)?
        .ok_or(ApiError::NotFound("Execution"))?;
    let mut data = summary(&e);
    let o = data.as_object_mut().expect("object");
    o.insert("context".into(), Value::Object(e.context.clone()));
    o.insert(
        "inserted_at".into(),
        json!(tz::format_in_zone(e.created_ms, &cx.brand.timezone)),
    );
    o.insert(
        "attempts".into(),
        json!(
            e.attempts
                .iter()
                .map(|a| json!({
                    "attempt": a.n,
                    "started_at": format_utc(a.started_ms),
                    "latency_ms": a.latency_ms,
                    "status_code": a.status_code,
                    "error": a.error,
                    "request": a.request,
                    "response_excerpt": a.response_excerpt,
                }))
                .collect::<Vec<_>>()
        ),
    );
    ok(json!({"success": true, "data": data}))
}
