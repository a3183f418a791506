//! The HTTP API: HookPulse-compatible RPC endpoints under `/v1/api/<action>/`, plus the
//! operational endpoints `/healthz`, `/readyz`, `/metrics` and `/openapi.json`, a source's
//! ingest URL `/v1/ingest/<token>` ([`ingest`]), the monitors' ping URLs `/ping/…` ([`ping`]),
//! the PingPulse dialect's pulses, process hooks and approvals `/hbk/…`, `/phk/…`,
//! `/api/approvals…` ([`pingpulse`]), the pipelines' stage pings and workflow routes `/shk/…`,
//! `/dhk/…`, `/api/workflows/…`, `/api/instances/…` ([`pipelines`]), and the Hook0 dialect `/api/v1/events…`
//! ([`hook0`]), whose routes share the dispatcher's key check, rate limit and body reading.
//!
//! Every `/v1/api/` call goes through one dispatcher ([`dispatch`]): endpoint lookup, auth,
//! per-key rate limit, body limits, idempotency, then the endpoint's handler. A handler takes
//! one typed input (read and bounds-checked by [`input`] from the field types in [`fields`]),
//! validates what the types cannot, makes one store call and maps the result to the documented
//! envelope. The endpoint table ([`endpoints`]) is the single list that routing and
//! `/openapi.json` share; the request schemas come from the handlers' input types. CPU-bound
//! work runs through [`compute`], off the async workers.

mod alerts;
mod approvals;
pub mod compute;
pub(crate) mod dispatch;
mod domains;
pub mod endpoints;
pub mod error;
pub mod events;
mod examples;
mod executions;
pub mod fields;
mod hook0;
mod ingest;
pub mod input;
pub mod jobs;
pub mod monitors;
pub mod openapi;
mod ops;
pub mod ping;
pub mod pingpulse;
pub mod pipelines;
mod ratelimit;
pub mod reference;
mod reply;
pub mod request;
pub mod responses;
pub mod schedules;
mod secrets;
mod templates;
mod timezones;
mod workflows;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::routing::{any, get};

use crate::config::{ApiLimits, ScheduleDefaults};
use crate::delivery::targets::GenerationCache;
use crate::delivery::{Dispatch, Engine};
use crate::metrics::Metrics;
use crate::model::{BrandId, KeyId};
use crate::scheduler::SchedulerHandle;
use crate::store::{Store, StoreError};
use crate::time::{Clock, Millis};
use crate::vault::Vault;

/// Settings that a reload may change while the daemon runs.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub api: ApiLimits,
    pub metrics_bearer_token: Option<String>,
    pub schedule_defaults: ScheduleDefaults,
    pub delivery: crate::config::DeliveryLimits,
    pub workflows: crate::config::WorkflowLimits,
    pub events: crate::config::EventLimits,
}

/// What each of the ingest path's caches (sources by token, brands' subscriptions) keeps at
/// most, in KiB of the decoded records' estimated memory ([`kib_weight`]): 32 MiB. A record
/// or a brand's list heavier than that is read from the store for each event, as without the
/// cache.
pub const INGEST_CACHE_KIB_MAX: usize = 32 * 1024;

/// Bytes of memory per byte of compact JSON text a decoded record may take: `0,` is 2 bytes
/// of text and a 32-byte `serde_json::Value` in an array (measured: a 0.94 MB array of zeros
/// kept as a source's `response_body` held about 30 MB).
const MEMORY_PER_TEXT_BYTE: usize = 32;

/// A record's weight in an ingest cache, in KiB: 1 + its estimated memory (its compact JSON
/// size × [`MEMORY_PER_TEXT_BYTE`]).
fn kib_weight<T: serde::Serialize>(rec: &T) -> usize {
    1 + serde_json::to_vec(rec).map_or(0, |b| b.len().saturating_mul(MEMORY_PER_TEXT_BYTE) / 1024)
}

/// Shared state of the API.
pub struct App {
    pub store: Store,
    pub scheduler: SchedulerHandle,
    pub delivery: Arc<Engine>,
    pub vault: Vault,
    pub metrics: Metrics,
    pub clock: Arc<dyn Clock>,
    /// The gate in front of the blocking pool for CPU-bound requests.
    pub compute: compute::Compute,
    live: RwLock<LiveSettings>,
    rate: ratelimit::RateLimiter,
    /// Last use per key, flushed to the store periodically (not a write per request).
    key_usage: Mutex<HashMap<KeyId, Millis>>,
    /// Idempotency keys whose first request is still running.
    idempotency_in_flight: Mutex<HashSet<(BrandId, [u8; 32])>>,
    ready: AtomicBool,
    /// The per-source rate limit of ingest URLs.
    ingest_limiter: ingest::IngestLimiter,
    /// The per-monitor rate limit of ping URLs.
    ping_limiter: ping::PingLimiter,
    /// The per-brand rate limit of PingPulse's `POST /api/approvals`.
    approval_limiter: pingpulse::ApprovalLimiter,
    /// Compiled subscription transforms by source text (`events::contexts`).
    transforms: Mutex<HashMap<String, crate::events::transform::Transform>>,
    /// Sources by token hash, as the ingest path resolves them, kept while
    /// [`Store::catalog_generation`] is unchanged (unknown tokens are not kept); at most
    /// [`INGEST_CACHE_KIB_MAX`].
    sources: GenerationCache<[u8; 32], Arc<crate::model::Source>>,
    /// Each brand's subscriptions, as every arriving event is matched against them, kept the
    /// same way; at most [`INGEST_CACHE_KIB_MAX`].
    subscriptions: GenerationCache<BrandId, Arc<Vec<crate::model::Subscription>>>,
}

impl App {
    pub fn new(
        store: Store,
        vault: Vault,
        metrics: Metrics,
        clock: Arc<dyn Clock>,
        live: LiveSettings,
        scheduler: SchedulerHandle,
        delivery: Arc<Engine>,
    ) -> Arc<App> {
        Arc::new(App {
            store,
            scheduler,
            delivery,
            vault,
            compute: compute::Compute::new(metrics.clone()),
            metrics,
            clock,
            live: RwLock::new(live),
            rate: ratelimit::RateLimiter::default(),
            key_usage: Mutex::new(HashMap::new()),
            idempotency_in_flight: Mutex::new(HashSet::new()),
            ready: AtomicBool::new(false),
            ingest_limiter: ingest::IngestLimiter::default(),
            ping_limiter: ping::PingLimiter::default(),
            approval_limiter: pingpulse::ApprovalLimiter::default(),
            transforms: Mutex::new(HashMap::new()),
            sources: GenerationCache::with_max_weight(INGEST_CACHE_KIB_MAX),
            subscriptions: GenerationCache::with_max_weight(INGEST_CACHE_KIB_MAX),
        })
    }

    /// The source whose ingest token hashes to `hash`: a store read and a decode the first
    /// time, then the kept copy until a source, token or subscription is written.
    pub fn source_by_token(&self, hash: &[u8; 32]) -> Result<Option<Arc<crate::model::Source>>, StoreError> {
        // The generation before the record: a write in between leaves an entry no lookup uses.
        let generation = self.store.catalog_generation();
        if let Some(s) = self.sources.get(hash, generation) {
            return Ok(Some(s));
        }
        let Some(source) = self.store.find_source_by_token(hash)? else { return Ok(None) };
        let weight = kib_weight(&source);
        let source = Arc::new(source);
        self.sources.put_weighted(*hash, generation, source.clone(), weight);
        Ok(Some(source))
    }

    /// A brand's subscriptions (every one, in id order), kept like [`App::source_by_token`].
    pub fn subscriptions_of(&self, brand: BrandId) -> Result<Arc<Vec<crate::model::Subscription>>, StoreError> {
        let generation = self.store.catalog_generation();
        if let Some(subs) = self.subscriptions.get(&brand, generation) {
            return Ok(subs);
        }
        let subs = Arc::new(self.store.brand_subscriptions(brand)?);
        // A brand without subscriptions still takes a place.
        let weight = subs.iter().map(kib_weight).sum::<usize>().max(1);
        self.subscriptions.put_weighted(brand, generation, subs.clone(), weight);
        Ok(subs)
    }

    pub fn delivery_limits(&self) -> crate::config::DeliveryLimits {
        self.live().delivery
    }

    /// Starts a recorded execution: a workflow's run through the scheduler; an execution of a
    /// schedule through the scheduler too (it counts as running for the overlap policy until
    /// it finishes); anything else straight through delivery.
    pub async fn dispatch(&self, e: crate::model::Execution) {
        if e.next_attempt_ms.is_some_and(|at| at > self.clock.now_ms()) && e.attempts.is_empty() {
            // A delayed start waits in the scheduler's wheel, durable across restarts.
            self.scheduler.dispatch(e).await;
        } else if e.target_kind == crate::model::TargetKind::Workflow && e.step.is_none() {
            self.scheduler.start_run(e.brand, e.id).await;
        } else if e.schedule.is_some() {
            self.scheduler.dispatch(e).await;
        } else {
            self.delivery.dispatch(e);
        }
    }

    /// Schedules a delete turned `inactive` (their target is gone): one WARN line each, and
    /// their timers are dropped.
    pub async fn schedules_deactivated(&self, brand: BrandId, ids: &[crate::model::ScheduleId], why: &str) {
        for id in ids {
            tracing::warn!(brand = %brand, schedule = %id, reason = why, "schedule turned inactive");
            self.scheduler.disarm(*id).await;
        }
    }

    pub fn live(&self) -> LiveSettings {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_live(&self, live: LiveSettings) {
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = live;
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.store.is_healthy()
    }

    /// Takes the key-usage times collected since the last call.
    pub fn take_key_usage(&self) -> HashMap<KeyId, Millis> {
        std::mem::take(&mut *self.key_usage.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The API's router (every route but the dashboard's, which `daemon` nests under `/ui`).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/api/{action}", any(dispatch::entry))
        .route("/v1/api/{action}/", any(dispatch::entry))
        .route("/api/approvals/{approval_id}", any(pingpulse::approval))
        .route("/api/workflows/{workflow_id}/instances", any(pipelines::workflow_instances))
        .route("/api/instances/{instance_id}/timeline", any(pipelines::timeline))
        .route("/api/instances/{instance_id}/rerun", any(pipelines::rerun))
        .route("/api/v1/events", any(hook0::events))
        .route("/api/v1/events/", any(hook0::events))
        .route("/api/v1/event", any(hook0::event_singular))
        .route("/api/v1/event/", any(hook0::event_singular))
        .route("/api/v1/events/batch", any(hook0::batch))
        .route("/api/v1/events/batch/", any(hook0::batch))
        .route("/api/v1/events/{event_id}", any(hook0::event))
        .route("/api/v1/events/{event_id}/", any(hook0::event))
        .merge(guarded_routes())
        .fallback(dispatch::not_found)
        .with_state(app)
}

/// The public routes an alert could feed back into (heartbeat pings, process runs, stage
/// pings, approval requests, and ingest URLs, whose subscriptions may call any of these),
/// behind the alert-loop guard.
fn guarded_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/ping/{a}", any(ping::entry))
        .route("/ping/{a}/{b}", any(ping::entry))
        .route("/ping/{a}/{b}/{c}", any(ping::entry))
        .route("/ping/{a}/{b}/{c}/{d}", any(ping::entry))
        .route("/hbk/{target_id}", any(pingpulse::hbk))
        .route("/phk/{id}/{action}", any(pingpulse::phk))
        .route("/shk/{workflow_id}", any(pipelines::shk))
        .route("/dhk/{workflow_id}", any(pipelines::dhk))
        .route("/dhk/{workflow_id}/tree", any(pipelines::tree))
        .route("/v1/ingest/{token}", any(ingest::entry))
        .route("/v1/ingest/{token}/", any(ingest::entry))
        .route("/v1/ingest/{token}/{*rest}", any(ingest::entry))
        .route("/api/approvals", any(pingpulse::approvals))
        .route_layer(axum::middleware::from_fn(refuse_alert_loops))
}

/// Refuses (409) a request sent by a notification channel: every channel send carries
/// [`crate::delivery::channel::ALERT_HEADER`], so an alert whose channel URL is a ping, approval
/// or ingest URL of this daemon (or of another hookwheel) cannot turn a monitor up or down,
/// open an approval or route an event whose deliveries do, and so raise the next alert, round
/// after round.
async fn refuse_alert_loops(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.headers().contains_key(crate::delivery::channel::ALERT_HEADER) {
        return (
            axum::http::StatusCode::CONFLICT,
            [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "refused: a notification channel's alert cannot be sent back into hookwheel (alert loop)",
        )
            .into_response();
    }
    next.run(req).await
}
