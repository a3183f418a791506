//! The operator's read-only views: schedules, executions and the daemon's status, as JSON for
//! the CLI (`hookwheel schedules|executions|status`).
//!
//! They answer the same from a running daemon (through the admin socket, with [`Live`]) and
//! from a store opened read-only while it is stopped (`live` is `None`). The host operator sees
//! every brand: each view covers all brands unless a brand filter is given, and an id is looked
//! up in every brand (the API's brand scoping protects tenants from each other; the operator of
//! the host can read the whole store file anyway). Records hold secrets only masked, so these
//! views never show one.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::activity::execution_row;
use crate::metrics::Metrics;
use crate::model::{
    Brand, BrandId, DomainId, Execution, ExecutionId, ExecutionStatus, Schedule, ScheduleId, ScheduleStatus,
};
use crate::store::{ExecutionFilter, Store};
use crate::time::{Millis, format_utc};

/// Most rows `executions list` prints.
pub const LIST_LIMIT_MAX: u64 = 10_000;
/// Executions shown under `schedules show`.
const SCHEDULE_RECENT_EXECUTIONS: u64 = 5;
/// Failed executions shown by `status` while the daemon is stopped (read from the store).
const STORE_RECENT_FAILURES: u64 = 5;

/// What the running daemon's engine can tell about its load.
pub trait EngineView: Send + Sync {
    /// Executions waiting at each domain's traffic guard (in memory + parked in the store).
    fn queue_depths(&self) -> Vec<(DomainId, usize)>;
    /// Delivery tasks running (the deferred executions are counted apart).
    fn in_flight(&self) -> usize;
    /// Recorded executions waiting, as ids, for a delivery task (the engine is behind).
    fn deferred(&self) -> usize;
}

/// The running daemon's side of the views (absent while it is stopped).
#[derive(Clone)]
pub struct Live {
    pub metrics: Metrics,
    /// When the daemon started (ms since the epoch).
    pub started_ms: Millis,
    pub engine: Arc<dyn EngineView>,
}

fn store_err(e: crate::store::StoreError) -> String {
    e.to_string()
}

/// The brands a view covers: all, or the one named by `--brand` (which must exist).
pub fn brands(store: &Store, filter: Option<&str>) -> Result<Vec<Brand>, String> {
    let all = store.list_brands().map_err(store_err)?;
    match filter {
        None => Ok(all),
        Some(s) => {
            let id = BrandId::parse(s).ok_or_else(|| format!("--brand {s:?} is not a brand UUID"))?;
            let b: Vec<Brand> = all.into_iter().filter(|b| b.id == id).collect();
            if b.is_empty() {
                return Err(format!("brand {id} not found"));
            }
            Ok(b)
        }
    }
}

fn time(t: Option<Millis>) -> Value {
    t.map(|t| Value::String(format_utc(t))).unwrap_or(Value::Null)
}

fn schedule_row(s: &Schedule) -> Value {
    json!({
        "schedule_uuid": s.id.to_string(),
        "brand_uuid": s.brand.to_string(),
        "name": s.name,
        "driver": s.driver.kind(),
        "target_kind": s.target_kind.as_str(),
        "target_uuid": s.target_id.to_string(),
        "status": s.status.as_str(),
        "next_fire_at": time(s.next_fire_ms.filter(|_| s.status == ScheduleStatus::Active)),
        "last_run_at": time(s.last_run_ms),
        "total_triggered": s.total_triggered,
        "reason": s.reason,
    })
}

/// `schedules list`: every schedule of the brands covered, optionally only those in `status`.
pub fn schedule_list(store: &Store, brand: Option<&str>, status: Option<&str>) -> Result<Value, String> {
    let status = match status {
        None => None,
        Some(s) => Some(ScheduleStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = ScheduleStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("--status {s:?} is not one of {}", all.join(", "))
        })?),
    };
    let mut rows = Vec::new();
    for b in brands(store, brand)? {
        let page = store.list_schedules(b.id, status, 1, u64::MAX).map_err(store_err)?;
        rows.extend(page.items.iter().map(schedule_row));
    }
    Ok(json!({"schedules": rows}))
}

fn find_schedule(store: &Store, id: &str) -> Result<Schedule, String> {
    let sid = ScheduleId::parse(id).ok_or_else(|| format!("{id:?} is not a schedule UUID"))?;
    for b in store.list_brands().map_err(store_err)? {
        if let Some(s) = store.get_schedule(b.id, sid).map_err(store_err)? {
            return Ok(s);
        }
    }
    Err(format!("schedule {sid} not found"))
}

/// `schedules show ID`: the schedule's settings, state and its last executions.
pub fn schedule_show(store: &Store, id: &str) -> Result<Value, String> {
    let s = find_schedule(store, id)?;
    let filter = ExecutionFilter { schedule: Some(s.id), ..Default::default() };
    let recent = store.list_executions(s.brand, &filter, 1, SCHEDULE_RECENT_EXECUTIONS).map_err(store_err)?;
    let mut v = schedule_row(&s);
    let extra = json!({
        "driver_settings": serde_json::to_value(&s.driver).unwrap_or(Value::Null),
        "misfire_policy": s.misfire.as_str(),
        "misfire_grace_seconds": s.misfire_grace_seconds,
        "overlap_policy": s.overlap.as_str(),
        "jitter_seconds": s.jitter_seconds,
        "rules": s.rules.len(),
        "initial_context": s.initial_context,
        "created_at": format_utc(s.created_ms),
        "updated_at": format_utc(s.updated_ms),
        "executions_total": recent.total,
        "recent_executions": recent.items.iter().map(execution_row).collect::<Vec<_>>(),
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    Ok(v)
}

/// Filters of `executions list` and `executions tail`.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    pub brand: Option<String>,
    pub schedule: Option<String>,
    pub failed: bool,
}

impl ExecutionQuery {
    fn schedule_id(&self) -> Result<Option<ScheduleId>, String> {
        self.schedule
            .as_deref()
            .map(|s| ScheduleId::parse(s).ok_or_else(|| format!("--schedule {s:?} is not a schedule UUID")))
            .transpose()
    }

    /// Checks the filters (a brand that exists, well-formed ids) before a tail starts; returns
    /// them with the ids spelled as the rows spell them, for [`ExecutionQuery::matches`].
    pub fn check(&self, store: &Store) -> Result<ExecutionQuery, String> {
        let brand = match self.brand.as_deref() {
            Some(b) => brands(store, Some(b))?.first().map(|b| b.id.to_string()),
            None => None,
        };
        let schedule = self.schedule_id()?.map(|s| s.to_string());
        Ok(ExecutionQuery { brand, schedule, failed: self.failed })
    }

    /// Whether an [`execution_row`] passes the filters (as returned by [`ExecutionQuery::check`]).
    pub fn matches(&self, row: &Value) -> bool {
        (!self.failed || row["status"] == ExecutionStatus::Failed.as_str())
            && self.brand.as_deref().is_none_or(|b| row["brand_uuid"].as_str() == Some(b))
            && self.schedule.as_deref().is_none_or(|s| row["schedule_uuid"].as_str() == Some(s))
    }
}

/// `executions list`: the newest `limit` executions of the brands covered (newest first).
pub fn execution_list(store: &Store, q: &ExecutionQuery, limit: u64) -> Result<Value, String> {
    let limit = limit.clamp(1, LIST_LIMIT_MAX);
    let filter = ExecutionFilter {
        schedule: q.schedule_id()?,
        status: q.failed.then_some(ExecutionStatus::Failed),
        ..Default::default()
    };
    let mut all: Vec<Execution> = Vec::new();
    let mut total = 0;
    for b in brands(store, q.brand.as_deref())? {
        let page = store.list_executions(b.id, &filter, 1, limit).map_err(store_err)?;
        total += page.total;
        all.extend(page.items);
    }
    // Execution ids are UUIDv7: their order is the order they were created in.
    all.sort_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(limit as usize);
    Ok(json!({"total": total, "executions": all.iter().map(execution_row).collect::<Vec<_>>()}))
}

/// `executions show ID`: the whole record, attempt by attempt (requests as recorded: secrets
/// masked).
pub fn execution_show(store: &Store, id: &str) -> Result<Value, String> {
    let eid = ExecutionId::parse(id).ok_or_else(|| format!("{id:?} is not an execution UUID"))?;
    let mut found = None;
    for b in store.list_brands().map_err(store_err)? {
        if let Some(e) = store.get_execution(b.id, eid).map_err(store_err)? {
            found = Some(e);
            break;
        }
    }
    let e = found.ok_or_else(|| format!("execution {eid} not found"))?;
    let mut v = execution_row(&e);
    let attempts: Vec<Value> = e.attempts.iter().map(crate::activity::attempt_row).collect();
    let extra = json!({
        "trigger": e.trigger,
        "idempotency_key": e.idempotency_key,
        "due_at": format_utc(e.due_ms),
        "created_at": format_utc(e.created_ms),
        "retry_of": e.retry_of.map(|r| r.to_string()),
        "workflow_run": e.step.map(|s| s.run.to_string()),
        "context": e.context,
        "attempt_details": attempts,
    });
    if let (Some(o), Value::Object(x)) = (v.as_object_mut(), extra) {
        o.extend(x);
    }
    Ok(v)
}

/// `status`: what the store holds and, with the daemon running, what it is doing.
pub fn status(store: &Store, live: Option<&Live>, now: Millis) -> Result<Value, String> {
    let brands = store.list_brands().map_err(store_err)?;
    let mut by_status: BTreeMap<&'static str, u64> = ScheduleStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for s in store.all_schedules().map_err(store_err)? {
        *by_status.entry(s.status.as_str()).or_default() += 1;
    }
    let pending = store.pending_count().map_err(store_err)?;
    let monitor_counts = store.count_monitors_by_status().map_err(store_err)?;
    let monitors: BTreeMap<&'static str, u64> = crate::monitor::heartbeat::Status::ALL
        .iter()
        .map(|s| (s.as_str(), monitor_counts.get(s).copied().unwrap_or(0)))
        .collect();
    let store_view = json!({
        "path": store.path().display().to_string(),
        "brands": brands.len(),
        "schedules": by_status,
        "monitors": monitors,
        "unfinished_executions": pending,
    });
    let Some(live) = live else {
        // Stopped: the last failures are those the store holds.
        let q = ExecutionQuery { failed: true, ..Default::default() };
        let recent = execution_list(store, &q, STORE_RECENT_FAILURES)?;
        return Ok(json!({
            "daemon": "stopped",
            "store": store_view,
            "last_errors": recent["executions"],
        }));
    };
    let health = store.write_health();
    let mut depths: Vec<(DomainId, usize)> = live.engine.queue_depths().into_iter().filter(|(_, n)| *n > 0).collect();
    depths.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut last_errors = live.metrics.activity().recent_errors();
    last_errors.reverse();
    Ok(json!({
        "daemon": "running",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "started_at": format_utc(live.started_ms),
        "uptime_seconds": (now - live.started_ms).max(0) / 1000,
        "armed_timers": live.metrics.armed(),
        "in_flight": live.engine.in_flight(),
        "deferred": live.engine.deferred(),
        "queue_depths": depths.iter().map(|(d, n)| json!({"domain_uuid": d.to_string(), "depth": n})).collect::<Vec<_>>(),
        "store_writable": health.writable,
        "store_error": health.last_error,
        "store": store_view,
        "last_errors": last_errors,
    }))
}
