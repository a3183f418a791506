//! Replay and bulk-retry jobs and their endpoints (`replay_events`, `bulk_retry_executions`,
//! `get_replay_job`, `cancel_replay_job`): one task per running job walks its cursor in batches of
//! [`JOB_BATCH`], and commits each batch's new executions (and the routes a replay adds to
//! its events) together with the advanced cursor and counts (`Store::job_step`). A restart
//! resumes every running job from its last commit ([`resume`]), so no item is skipped or done
//! twice. A job with `rate_per_second` reads at most that many items per batch (a replay
//! fewer when each event may go to several subscriptions) and waits after each batch until
//! its new executions fit the rate. A store that cannot write makes the job wait and try the
//! same batch again.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::error::ApiError;
use super::events::{load_source, load_subscription, plan_routes};
use super::executions::retried;
use super::fields::{Id, InstantText, Int, Name};
use super::reply::{ApiResult, ok};
use super::request::Cx;
use crate::events::route;
use crate::events::route::EVENT_TYPE_CHARS_MAX;
use crate::model::{Job, JobKind, JobStatus, Subscription};
use crate::model::{JobId, TemplateId, WorkflowId};
use crate::store::JobStep;
use crate::store::StoreError;
use crate::time::format_utc;

/// Items one job step reads and commits (a paced job takes at most its `rate_per_second`).
pub const JOB_BATCH: usize = 64;
/// How long a job waits before trying a batch again after a store error.
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// Starts the task of a running job.
pub fn spawn(app: Arc<App>, job: Job) {
    tokio::spawn(run(app, job));
}

/// Resumes every job still running in the store (at start).
pub fn resume(app: &Arc<App>) -> Result<usize, StoreError> {
    let jobs = app.store.running_jobs()?;
    let n = jobs.len();
    for j in jobs {
        spawn(app.clone(), j);
    }
    Ok(n)
}

async fn run(app: Arc<App>, mut job: Job) {
    loop {
        match step(&app, &job).await {
            Ok(Some(next)) => {
                let made = next.created - job.created;
                job = next;
                if job.status != JobStatus::Running {
                    tracing::info!(job = %job.id, status = job.status.as_str(), created = job.created, "job finished");
                    return;
                }
                if let Some(rate) = job.rate_per_second
                    && made > 0
                {
                    tokio::time::sleep(Duration::from_secs_f64(made as f64 / f64::from(rate))).await;
                }
            }
            // Cancelled or changed elsewhere: stop.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "job step failed; trying again");
                tokio::time::sleep(RETRY_WAIT).await;
                match app.store.get_job(job.brand, job.id) {
                    Ok(Some(j)) if j.status == JobStatus::Running => job = j,
                    Ok(_) => return,
                    Err(_) => {}
                }
            }
        }
    }
}

/// One batch: the job as committed, or `None` when the job stopped being this one.
async fn step(app: &Arc<App>, job: &Job) -> Result<Option<Job>, String> {
    let now = app.clock.now_ms();
    let mut next = job.clone();
    next.updated_ms = now;
    // A paced job reads at most one second's worth per step, so that no second sees more new
    // executions than its rate (a whole batch at once would be a burst of 64).
    let batch = job.rate_per_second.map_or(JOB_BATCH, |r| (r as usize).clamp(1, JOB_BATCH));
    let mut executions = Vec::new();
    let mut routes = Vec::new();
    let done;
    match &job.kind {
        JobKind::Replay { source, event_type, from_ms, to_ms, subscription } => {
            let subs: Vec<Subscription> = match subscription {
                Some(id) => {
                    app.store.get_subscription(job.brand, *id).map_err(|e| e.to_string())?.into_iter().collect()
                }
                None => app.store.brand_subscriptions(job.brand).map_err(|e| e.to_string())?,
            };
            // An event may go to every enabled subscription: a paced batch reads as many
            // events as fit its rate when each does.
            let fan_out = if subscription.is_some() { 1 } else { subs.iter().filter(|s| s.enabled).count().max(1) };
            let n = if job.rate_per_second.is_some() { (batch / fan_out).max(1) } else { batch };
            let (events, cursor, scanned) =
                app.store.events_after(job.brand, job.cursor, *from_ms, *to_ms, n).map_err(|e| e.to_string())?;
            done = scanned == 0;
            next.cursor = cursor;
            next.scanned += scanned;
            for e in events.iter().filter(|e| {
                e.status == crate::model::EventStatus::Accepted
                    && source.is_none_or(|s| e.source == Some(s))
                    && event_type.as_ref().is_none_or(|t| route::type_matches(t, e.event_type.as_deref()))
            }) {
                let ctx = route::context(e);
                let chosen: Vec<&Subscription> = subs
                    .iter()
                    .filter(|s| {
                        // A named subscription is replayed to even while disabled.
                        let s2 = Subscription { enabled: true, ..(*s).clone() };
                        (subscription.is_some() || s.enabled) && route::selects(&s2, e, &ctx)
                    })
                    .collect();
                if chosen.is_empty() {
                    continue;
                }
                next.matched += 1;
                let r = plan_routes(app, e, ctx, &chosen, now, Some(job.id)).await.map_err(|e| format!("{e:?}"))?;
                routes.extend(r.routes.into_iter().map(|route| (e.id, route)));
                executions.extend(r.executions);
            }
        }
        JobKind::BulkRetry { subscription, target, from_ms, to_ms } => {
            let (failed, cursor, scanned) = app
                .store
                .failed_executions_after(job.brand, job.cursor, batch, |x| {
                    x.created_ms >= *from_ms
                        && x.created_ms < *to_ms
                        && subscription.is_none_or(|s| x.event.is_some_and(|r| r.subscription == s))
                        && target.is_none_or(|t| x.target_id == t)
                })
                .map_err(|e| e.to_string())?;
            done = scanned == 0;
            next.cursor = cursor;
            next.scanned += scanned;
            next.matched += failed.len() as u64;
            executions.extend(failed.into_iter().map(|old| retried(old, now)));
        }
    }
    next.created += executions.len() as u64;
    if done {
        next.status = JobStatus::Completed;
        next.finished_ms = Some(now);
    }
    let committed = app
        .store
        .job_step(JobStep { job: next.clone(), expected_cursor: job.cursor, executions: executions.clone(), routes })
        .await
        .map_err(|e| e.to_string())?;
    if !committed {
        return Ok(None);
    }
    for x in executions {
        if let Some(r) = x.event {
            app.metrics.observe_event_executions(r.subscription, 1);
        }
        app.dispatch(x).await;
    }
    Ok(Some(next))
}

// ---- the job endpoints: replay_events, bulk_retry_executions, get_replay_job, cancel_replay_job ----

/// `replay_events`: route accepted events again, as new executions.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayEvents {
    /// Events received at or after this instant (RFC 3339).
    pub from: InstantText,
    /// Events received before this instant (RFC 3339).
    #[schemars(extend("x-not-before-field" = "from"))]
    pub to: InstantText,
    /// Only this source's events.
    pub source_uuid: Option<Id>,
    /// Only events whose type matches this pattern.
    pub event_type: Option<Name<EVENT_TYPE_CHARS_MAX>>,
    /// Only to this subscription (it need not be enabled); absent: every enabled subscription
    /// that selects the event.
    pub subscription_uuid: Option<Id>,
    /// Executions created per second at most (default: as fast as the store takes them).
    pub rate_per_second: Option<Int<1, 100_000>>,
}

/// `bulk_retry_executions`: re-run failed executions, as new executions.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRetry {
    /// Executions created at or after this instant (RFC 3339; default: the oldest).
    pub from: Option<InstantText>,
    /// Executions created before this instant (RFC 3339; default, and at most: now).
    #[schemars(extend("x-not-before-field" = "from"))]
    pub to: Option<InstantText>,
    /// Only executions this subscription created.
    pub subscription_uuid: Option<Id>,
    /// Only executions of this webhook template or workflow.
    pub target_uuid: Option<Id>,
    /// Executions created per second at most (default: as fast as the store takes them).
    pub rate_per_second: Option<Int<1, 100_000>>,
}

/// `get_replay_job`, `cancel_replay_job`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    /// The job's id.
    pub job_uuid: Id,
}

fn job_view(j: &Job) -> Value {
    let (kind, filter) = match &j.kind {
        JobKind::Replay { source, event_type, from_ms, to_ms, subscription } => (
            "replay",
            json!({
                "source_uuid": source.map(|s| s.to_string()),
                "event_type": event_type,
                "from": format_utc(*from_ms),
                "to": format_utc(*to_ms),
                "subscription_uuid": subscription.map(|s| s.to_string()),
            }),
        ),
        JobKind::BulkRetry { subscription, target, from_ms, to_ms } => (
            "bulk_retry",
            json!({
                "subscription_uuid": subscription.map(|s| s.to_string()),
                "target_uuid": target.map(|t| t.to_string()),
                "from": format_utc(*from_ms),
                "to": format_utc(*to_ms),
            }),
        ),
    };
    json!({
        "job_uuid": j.id.to_string(),
        "kind": kind,
        "status": j.status.as_str(),
        "filter": filter,
        "rate_per_second": j.rate_per_second,
        "scanned": j.scanned,
        "matched": j.matched,
        "created": j.created,
        "created_at": format_utc(j.created_ms),
        "updated_at": format_utc(j.updated_ms),
        "finished_at": j.finished_ms.map(format_utc),
    })
}

fn new_job(cx: &Cx, kind: JobKind, rate: Option<Int<1, 100_000>>) -> Job {
    Job {
        id: JobId::new(),
        brand: cx.brand.id,
        kind,
        rate_per_second: rate.map(|r| r.get() as u32),
        status: JobStatus::Running,
        cursor: None,
        scanned: 0,
        matched: 0,
        created: 0,
        created_ms: cx.now,
        updated_ms: cx.now,
        finished_ms: None,
    }
}

async fn start_job(cx: &Cx, job: Job) -> ApiResult {
    let job = cx.app.store.create_job(job).await?;
    spawn(cx.app.clone(), job.clone());
    ok(json!({"success": true, "details": "Job started", "job_uuid": job.id.to_string(), "data": job_view(&job)}))
}

pub async fn replay(cx: Cx, i: ReplayEvents) -> ApiResult {
    let from_ms = i.from.utc_millis("from")?;
    let to_ms = i.to.utc_millis("to")?;
    if to_ms < from_ms {
        return Err(ApiError::invalid("to", "must not be before from"));
    }
    // Only events received before the job: one that arrives while it runs is routed live, and
    // a replay of it too would deliver it twice (a `to` in the future is read as now).
    let to_ms = to_ms.min(cx.now);
    let subscription = i.subscription_uuid.map(|s| load_subscription(&cx, s)).transpose()?.map(|s| s.id);
    let source = i.source_uuid.map(|s| load_source(&cx, s)).transpose()?.map(|s| s.id);
    let kind = JobKind::Replay { source, event_type: i.event_type.map(|t| t.0), from_ms, to_ms, subscription };
    let job = new_job(&cx, kind, i.rate_per_second);
    start_job(&cx, job).await
}

pub async fn bulk_retry(cx: Cx, i: BulkRetry) -> ApiResult {
    let from_ms = InstantText::utc_millis_of(i.from.as_ref(), "from")?.unwrap_or(0);
    let to_ms = InstantText::utc_millis_of(i.to.as_ref(), "to")?.unwrap_or(cx.now);
    if i.to.is_some() && to_ms < from_ms {
        return Err(ApiError::invalid("to", "must not be before from"));
    }
    // Only executions that exist now: the job's own retries (created from now on) must never
    // match, or a target that keeps failing would have them retried again and again.
    let to_ms = to_ms.min(cx.now);
    if from_ms > to_ms {
        return Err(ApiError::invalid("from", "is after now: nothing can have failed yet"));
    }
    let subscription = i.subscription_uuid.map(|s| load_subscription(&cx, s)).transpose()?.map(|s| s.id);
    // Like `subscription_uuid`, an unknown target is 404 rather than a job that matches nothing.
    if let Some(t) = &i.target_uuid {
        let store = &cx.app.store;
        let known = store.get_template(cx.brand.id, TemplateId(t.0))?.is_some()
            || store.get_workflow(cx.brand.id, WorkflowId(t.0))?.is_some();
        if !known {
            return Err(ApiError::NotFoundWith { what: "Target", key: "target_uuid", id: t.0.to_string() });
        }
    }
    let kind = JobKind::BulkRetry { subscription, target: i.target_uuid.map(|t| t.0), from_ms, to_ms };
    let job = new_job(&cx, kind, i.rate_per_second);
    start_job(&cx, job).await
}

pub async fn job_details(cx: Cx, i: JobRef) -> ApiResult {
    let j = cx.app.store.get_job(cx.brand.id, JobId(i.job_uuid.0))?.ok_or(ApiError::NotFound("Job"))?;
    ok(json!({"success": true, "data": job_view(&j)}))
}

pub async fn cancel_job(cx: Cx, i: JobRef) -> ApiResult {
    let j = cx.app.store.cancel_job(cx.brand.id, JobId(i.job_uuid.0), cx.now).await.map_err(|e| match e {
        StoreError::State(m) => ApiError::conflict(m),
        other => other.into(),
    })?;
    ok(json!({"success": true, "details": "Job cancelled", "job_uuid": j.id.to_string(), "data": job_view(&j)}))
}
