//! Replay and bulk-retry jobs: one task per running job walks its cursor in batches of
//! [`JOB_BATCH`], and commits each batch's new executions (and the routes a replay adds to
//! its events) together with the advanced cursor and counts (`Store::job_step`). A restart
//! resumes every running job from its last commit ([`resume`]), so no item is skipped or done
//! twice. A job with `rate_per_second` reads at most that many items per batch (a replay
//! fewer when each event may go to several subscriptions) and waits after each batch until
//! its new executions fit the rate. A store that cannot write makes the job wait and try the
//! same batch again.

use std::sync::Arc;
use std::time::Duration;

use super::App;
use super::events::plan_routes;
use super::executions::retried;
use crate::events::route;
use crate::model::{Job, JobKind, JobStatus, Subscription};
use crate::store::JobStep;
use crate::store::StoreError;

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
                let chosen: Vec<Subscription> = subs
                    .iter()
                    .filter(|s| {
                        // A named subscription is replayed to even while disabled.
                        let s2 = Subscription { enabled: true, ..(*s).clone() };
                        (subscription.is_some() || s.enabled) && route::selects(&s2, e, &ctx)
                    })
                    .cloned()
                    .collect();
                if chosen.is_empty() {
                    continue;
                }
                next.matched += 1;
                let r = plan_routes(app, e, &chosen, now, Some(job.id)).await.map_err(|e| format!("{e:?}"))?;
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
