//! Delivery: turns a recorded execution into the exact HTTP request its template describes
//! and records what happened, attempt by attempt.
//!
//! The scheduler hands executions over through the [`Dispatch`] seam. For each attempt the
//! [`Engine`] waits for the execution's instant (fires are recorded ahead of time), renders the
//! template (secrets injected only into the request, masked in the record), passes the
//! domain's traffic guard ([`guard`]: FIFO, concurrency cap, GCRA rate, spill to the store when
//! the in-memory queue is full), signs (Standard Webhooks), sends through the pooled client
//! whose resolver enforces the egress policy ([`client`], behind the [`transport`] seam), and
//! classifies the outcome ([`retry`]). A retry is not a sleep: the execution is persisted with
//! its next attempt time and the scheduler arms a wheel timer ([`DeliveryEvent::RetryAt`]), so
//! it survives restarts.
//!
//! One attempt is four steps with a type between each: [`Engine::prepare`] (wait for the
//! instant, reload, resolve the target, render) → [`Engine::admit`] (the domain's guard, or a
//! spill) → [`Engine::attempt`] (sign, send, classify) → [`Engine::record`] (a retry time or
//! the final status). A store that cannot be read or written delays an execution — it waits
//! and tries again — and never fails it: only the receiver's answers and the template decide
//! an outcome.
//!
//! Each domain has a circuit breaker ([`breaker`], run by its guard): after `failure_threshold`
//! failed attempts in a row the domain's queue is held for `open_seconds`, then one probe
//! attempt decides whether it drains or stays held. Each attempt's outcome is reported to the
//! breaker before its concurrency slot is given back.

pub mod breaker;
pub mod channel;
pub mod client;
pub mod egress;
pub mod guard;
pub mod release;
pub mod request;
pub mod retry;
pub mod signing;
pub mod targets;
pub mod transport;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use tokio::sync::{Semaphore, mpsc};
use transport::{Incoming, Outgoing, SendError, Transport};

use crate::metrics::Metrics;
use crate::model::{
    Attempt, BrandId, Domain, DomainId, Execution, ExecutionId, ExecutionStatus, ScheduleId, StepRef, TargetKind,
    TemplateId, WebhookTemplate,
};
use crate::store::{Store, StoreError};
use crate::time::{Clock, Millis, Stopwatch};
use crate::vault::Vault;
use client::SharedPolicy;
use egress::EgressPolicy;
use retry::Outcome;

// The daemon's own headers (`request::DAEMON_HEADERS`), named once: a `&str` name is parsed
// again at every insert.
const IDEMPOTENCY_KEY: header::HeaderName = header::HeaderName::from_static("idempotency-key");
const WEBHOOK_ID: header::HeaderName = header::HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: header::HeaderName = header::HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: header::HeaderName = header::HeaderName::from_static("webhook-signature");

/// A boxed future: rare paths return one, so that the hot steps' futures stay small.
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Receives executions to carry out.
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(&self, exec: Execution);
    /// Executions handed over and not yet done (waiting for their instant, queued at a
    /// domain, in flight, being recorded). The scheduler resumes a start-up backlog only while
    /// this is low, so a restart with many pending executions does not start them all at once.
    fn load(&self) -> usize {
        0
    }
}

/// Delivery limits (config `[delivery]`) that can change on reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryLimits {
    pub max_in_flight: usize,
    pub max_response_bytes: usize,
    pub retry_delay_max_ms: i64,
    pub queue_memory_max: usize,
    pub signing_overlap_ms: i64,
}

/// Where deliveries may go (config `[egress]`): the address policy and the optional proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    pub policy: EgressPolicy,
    /// `egress.proxy_url`; `None` = direct connections (proxy variables of the environment
    /// are never used).
    pub proxy: Option<reqwest::Url>,
}

/// What delivery tells the scheduler.
#[derive(Debug, Clone)]
pub enum DeliveryEvent {
    /// A workflow step's delivery reached a final status.
    StepFinished {
        brand: BrandId,
        step: StepRef,
        ok: bool,
        status_code: Option<u16>,
        response: Option<serde_json::Value>,
        error: Option<String>,
    },
    /// An execution reached a final status (for overlap policies).
    Finished { brand: BrandId, schedule: Option<ScheduleId>, execution: ExecutionId },
    /// An execution failed an attempt and retries at `at`: arm a timer.
    RetryAt { brand: BrandId, execution: ExecutionId, at: Millis },
}

/// Most bytes of a response excerpt shown in an execution record.
const RESPONSE_EXCERPT_BYTES_MAX: usize = 2048;
/// Characters of a redirect's `Location` kept in an attempt's error.
const REDIRECT_LOCATION_CHARS_MAX: usize = 512;

/// `text` cut to `max` characters, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

pub struct Engine {
    store: Store,
    vault: Vault,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    transport: Arc<dyn Transport>,
    policy: SharedPolicy,
    limits: RwLock<DeliveryLimits>,
    global: Arc<Semaphore>,
    gates: Mutex<HashMap<DomainId, Arc<guard::Gate>>>,
    /// Each domain's circuit breaker, read from the store at its first use since the start.
    circuits: Mutex<HashMap<DomainId, Arc<guard::Circuit>>>,
    events: mpsc::Sender<DeliveryEvent>,
    /// Dispatched executions whose task has not ended ([`Dispatch::load`]).
    live: std::sync::atomic::AtomicUsize,
    /// Of those, the ones waiting at a domain's guard (bounded per domain by
    /// `delivery.queue_memory_max`, parked in the store beyond it).
    gated: std::sync::atomic::AtomicUsize,
    /// Recorded executions handed over while [`DEFER_FACTOR`] × `max_in_flight` tasks were busy
    /// (live and not at a guard), oldest first: ids only, each read back from the store when
    /// a task ends ([`Engine::pump`]).
    deferred: Mutex<std::collections::VecDeque<(BrandId, ExecutionId)>>,
    /// A task looks at the deferred ones every [`DEFER_TICK`] while any wait (so that they go
    /// on when the busy tasks move to a stalled domain's guard instead of ending).
    deferred_ticking: std::sync::atomic::AtomicBool,
    /// Busy tasks beyond which executions are deferred: [`DEFER_FACTOR`] × `max_in_flight` as
    /// at the start (the in-flight semaphore keeps its start-up size too).
    defer_at: usize,
    /// Config `[smtp]`: where `email` channel sends go (`None`: they fail with a reason).
    smtp: RwLock<Option<channel::SmtpConfig>>,
    /// Finishes the wait for an instant precisely (the daemon's real clock); `None`: tokio's
    /// timer alone (ms ticks; tests with a manual clock).
    release: std::sync::OnceLock<Arc<release::ReleaseTimer>>,
    /// Webhook templates with their domains, kept between writes of them ([`targets`]).
    targets: targets::TargetCache,
}

impl Engine {
    pub fn new(
        store: Store,
        vault: Vault,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        limits: DeliveryLimits,
        egress: Egress,
        events: mpsc::Sender<DeliveryEvent>,
    ) -> Result<Arc<Engine>, reqwest::Error> {
        let Egress { policy, proxy } = egress;
        let policy: SharedPolicy = Arc::new(RwLock::new(policy));
        let transport = Arc::new(transport::HttpTransport::new(policy.clone(), limits.max_in_flight, proxy)?);
        Ok(Self::with_transport(store, vault, clock, metrics, limits, policy, transport, events))
    }

    /// An engine that sends through `transport` (tests: a scripted one).
    #[allow(clippy::too_many_arguments)]
    pub fn with_transport(
        store: Store,
        vault: Vault,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        limits: DeliveryLimits,
        policy: SharedPolicy,
        transport: Arc<dyn Transport>,
        events: mpsc::Sender<DeliveryEvent>,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            transport,
            policy,
            global: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits: RwLock::new(limits),
            gates: Mutex::new(HashMap::new()),
            circuits: Mutex::new(HashMap::new()),
            store,
            vault,
            clock,
            metrics,
            events,
            live: std::sync::atomic::AtomicUsize::new(0),
            gated: std::sync::atomic::AtomicUsize::new(0),
            deferred: Mutex::new(std::collections::VecDeque::new()),
            deferred_ticking: std::sync::atomic::AtomicBool::new(false),
            defer_at: limits.max_in_flight.max(1).saturating_mul(DEFER_FACTOR),
            smtp: RwLock::new(None),
            release: std::sync::OnceLock::new(),
            targets: targets::TargetCache::default(),
        })
    }

    /// Waits for instants with `timer` from now on (the daemon, whose clock is the real one:
    /// `release` module docs). A second call changes nothing.
    pub fn set_release_timer(&self, timer: Arc<release::ReleaseTimer>) {
        let _ = self.release.set(timer);
    }

    /// Sets the SMTP server `email` channels send through (config `[smtp]`).
    pub fn set_smtp(&self, smtp: Option<channel::SmtpConfig>) {
        *self.smtp.write().unwrap_or_else(|e| e.into_inner()) = smtp;
    }

    /// Whether an SMTP server is configured (`email` channels can be created).
    pub fn smtp_configured(&self) -> bool {
        self.smtp.read().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn smtp(&self) -> Option<channel::SmtpConfig> {
        self.smtp.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies reloaded limits and egress policy (`max_in_flight` needs a restart).
    pub fn reconfigure(&self, limits: DeliveryLimits, policy: EgressPolicy) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
        let changed = {
            let mut current = self.policy.write().unwrap_or_else(|e| e.into_inner());
            let changed = *current != policy;
            *current = policy;
            changed
        };
        if changed {
            // Pooled connections were judged under the old policy: drop them with the client.
            self.transport.policy_changed();
        }
    }

    fn limits(&self) -> DeliveryLimits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    fn gate(&self, circuit: &Arc<guard::Circuit>) -> Arc<guard::Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(circuit.domain)
            .or_insert_with(|| Arc::new(guard::Gate::new(self.clock.clone(), circuit.clone())))
            .clone()
    }

    /// The circuit breaker of a domain (`d.brand`'s), read from the store at its first use.
    pub fn circuit(&self, d: &Domain) -> Result<Arc<guard::Circuit>, StoreError> {
        if let Some(c) = self.circuits.lock().unwrap_or_else(|e| e.into_inner()).get(&d.id) {
            return Ok(c.clone());
        }
        let stored = self.store.get_domain_circuit(d.brand, d.id)?;
        Ok(self.new_circuit(d, stored))
    }

    fn new_circuit(&self, d: &Domain, stored: Option<crate::model::DomainCircuit>) -> Arc<guard::Circuit> {
        let c = guard::Circuit::new(
            d.brand,
            d.id,
            stored,
            (d.breaker, d.updated_ms),
            // A circuit never stored yet dates from the domain's creation (its counters run
            // since then), not from the first time someone looked.
            d.created_ms.min(self.clock.now_ms()),
            self.store.clone(),
            self.metrics.clone(),
        );
        self.circuits.lock().unwrap_or_else(|e| e.into_inner()).entry(d.id).or_insert_with(|| Arc::new(c)).clone()
    }

    /// A domain's settings changed (`update_domain`): a held queue re-reads its breaker's.
    pub fn domain_changed(&self, d: &Domain) {
        if let Some(c) = self.circuits.lock().unwrap_or_else(|e| e.into_inner()).get(&d.id) {
            c.configure(d.breaker, d.updated_ms);
        }
    }

    /// Executions of a domain waiting at its guard (in memory + parked in the store).
    pub fn queue_depth(&self, domain: DomainId) -> usize {
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).get(&domain).map_or(0, |g| g.depth())
    }

    /// Queue depth per domain (in memory + spilled), for metrics.
    pub fn queue_depths(&self) -> Vec<(DomainId, usize)> {
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(d, g)| (*d, g.depth())).collect()
    }
}

impl Dispatch for Arc<Engine> {
    /// Starts the execution's task, unless [`DEFER_FACTOR`] × `max_in_flight` tasks are busy
    /// or others wait already: then only its id waits, in order ([`Engine::pump`]).
    fn dispatch(&self, exec: Execution) {
        {
            let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
            if !deferred.is_empty() || self.busy() >= self.defer_at {
                deferred.push_back((exec.brand, exec.id));
                drop(deferred);
                self.pump();
                self.tick_deferred();
                return;
            }
        }
        self.spawn_run(exec, false);
    }

    /// Live tasks plus deferred executions: everything handed over and not done.
    fn load(&self) -> usize {
        self.live.load(Ordering::SeqCst) + self.deferred_len()
    }
}

/// One live delivery task, counted in [`Engine::live`] until dropped (also when its future is
/// dropped or panics); its end lets the next deferred executions go.
struct LiveTask(Arc<Engine>);

impl LiveTask {
    fn start(engine: &Arc<Engine>) -> LiveTask {
        engine.live.fetch_add(1, Ordering::SeqCst);
        LiveTask(engine.clone())
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        // Not while a runtime drops its tasks from outside (nothing could start then).
        if tokio::runtime::Handle::try_current().is_ok() {
            self.0.pump();
        }
    }
}

/// A task waiting at a domain's guard, counted in [`Engine::gated`] until dropped.
struct Gated<'a>(&'a Engine);

impl<'a> Gated<'a> {
    fn enter(engine: &'a Engine) -> Gated<'a> {
        engine.gated.fetch_add(1, Ordering::SeqCst);
        Gated(engine)
    }
}

impl Drop for Gated<'_> {
    fn drop(&mut self) {
        self.0.gated.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Busy delivery tasks (live, not waiting at a domain's guard) beyond which dispatched
/// executions wait as ids, as a multiple of `delivery.max_in_flight`: enough to keep every
/// in-flight slot fed. Without it an engine slower than its fires (CPU-bound at 20,000
/// offered executions/s on 2 cores) held a task per backlog execution, about 36 KiB each:
/// 6.9 GiB of RSS after 70 s.
pub const DEFER_FACTOR: usize = 4;

/// How often deferred executions are looked at while any wait, besides each task's end.
const DEFER_TICK: Duration = Duration::from_millis(20);

impl Engine {
    fn busy(&self) -> usize {
        self.live.load(Ordering::SeqCst).saturating_sub(self.gated.load(Ordering::SeqCst))
    }

    /// An execution found finished before it was sent (cancelled while it waited, deferred
    /// or for its retry): it ends for the scheduler, whose overlap policies count it as
    /// running until then. (A workflow step's run is cancelled as a whole, by the engine.)
    async fn ended_unsent(&self, e: &Execution) {
        if e.step.is_none() {
            let ended = DeliveryEvent::Finished { brand: e.brand, schedule: e.schedule, execution: e.id };
            let _ = self.events.send(ended).await;
        }
    }

    /// Delivery tasks running (waiting for an instant, at a guard, in flight, being recorded).
    pub fn live_tasks(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Executions waiting as ids for a delivery task (see [`Dispatch::dispatch`]).
    pub fn deferred_len(&self) -> usize {
        self.deferred.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Runs one execution in its own task, counted in [`Dispatch::load`]; when it ends, the
    /// next deferred ones get their turn.
    fn spawn_run(self: &Arc<Self>, exec: Execution, refill: bool) {
        let live = LiveTask::start(self);
        tokio::spawn(async move {
            live.0.clone().run(exec, refill).await;
            drop(live);
        });
    }

    /// Keeps one task calling [`Engine::pump`] every [`DEFER_TICK`] until nothing is deferred.
    fn tick_deferred(self: &Arc<Self>) {
        if self.deferred_ticking.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(DEFER_TICK).await;
                me.pump();
                if me.deferred_len() == 0 {
                    me.deferred_ticking.store(false, Ordering::SeqCst);
                    // One deferred in between, after the look: it is this task's again.
                    if me.deferred_len() == 0 || me.deferred_ticking.swap(true, Ordering::SeqCst) {
                        return;
                    }
                }
            }
        });
    }

    /// Starts deferred executions, oldest first, while fewer than the bound are busy: each is
    /// read back from the store (a finished or deleted one is skipped; one that cannot be
    /// read resumes on the next start, like every unfinished execution).
    fn pump(self: &Arc<Self>) {
        loop {
            if self.busy() >= self.defer_at {
                return;
            }
            let Some((brand, id)) = self.deferred.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                return;
            };
            let live = LiveTask::start(self);
            tokio::spawn(async move {
                let me = live.0.clone();
                match me.patiently(id, || me.store.get_execution(brand, id)).await {
                    Ok(Some(e)) if !e.status.is_finished() => me.run(e, false).await,
                    Ok(Some(e)) => me.ended_unsent(&e).await,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, execution = %id, "cannot read a deferred execution; it resumes on the next start")
                    }
                }
                drop(live);
            });
        }
    }
}

/// Backoff while the store cannot be read or written: from this, doubling, up to
/// [`STORE_RETRY_MAX_MS`]. The execution waits; it is neither failed nor retried for it.
const STORE_RETRY_MIN_MS: u64 = 100;
const STORE_RETRY_MAX_MS: u64 = 5000;

/// What an execution is delivered to.
struct Target {
    template: Arc<WebhookTemplate>,
    domain: Arc<Domain>,
    /// A notification channel's send: the template and domain are its carrier
    /// ([`channel::carrier`]).
    channel: Option<crate::model::NotificationChannel>,
}

/// Why a target could not be resolved.
enum Unresolvable {
    /// The template, workflow step or domain is gone: the execution fails (not retried).
    Gone(&'static str),
    /// The store did not answer: the execution waits for it.
    Store(StoreError),
}

impl From<StoreError> for Unresolvable {
    fn from(e: StoreError) -> Self {
        Unresolvable::Store(e)
    }
}

/// An execution ready to go through its domain's guard: its current record, target and
/// rendered request. Boxed between the steps of an attempt (1.4 KiB moved as a pointer).
struct Prepared {
    exec: Execution,
    target: Target,
    req: request::Rendered,
}

/// What [`Engine::resolve`] made of an execution.
enum Resolution {
    Ready(Box<Prepared>),
    /// It cannot be sent (the reason): it fails, not retried.
    Fail(Execution, String),
    /// The store did not answer: it waits for it (`true`: its target had resolved, so its
    /// domain is known).
    Wait(Execution, StoreError, bool),
}

/// How one attempt ended, before it is recorded.
struct AttemptResult {
    attempt: Attempt,
    outcome: Outcome,
    /// When the outcome was classified: a `Retry-After` delay counts from here, so the retry
    /// lands exactly on a `Retry-After` date however long recording takes.
    classified_ms: Millis,
}

impl Engine {
    /// Carries out the next attempt of an execution (`refill`: it comes back from the spill,
    /// so it goes straight into the in-memory queue).
    ///
    /// Runs inside the span `attempt{brand, schedule, execution, attempt, domain}` (error
    /// level, so that it is on at every log level and every line an attempt logs carries the
    /// ids). One span, not an execution span with an attempt child: each span costs a registry
    /// slot and a formatting of its fields, about 2 % of the daemon's CPU per span at 8,000
    /// executions/s. At `info` an execution logs nothing unless it fails (one WARN line);
    /// `debug` adds a line per attempt.
    async fn run(self: Arc<Self>, exec: Execution, refill: bool) {
        use tracing::Instrument;
        // The attempt and domain are recorded by `prepare` once known (a field recorded twice
        // would show twice).
        let span = tracing::error_span!(
            "attempt",
            brand = %exec.brand,
            schedule = exec.schedule.map(tracing::field::display),
            execution = %exec.id,
            attempt = tracing::field::Empty,
            domain = tracing::field::Empty
        );
        self.run_attempt(exec, refill).instrument(span).await
    }

    /// One attempt: [`Engine::prepare`] → [`Engine::admit`] → [`Engine::attempt`] →
    /// [`Engine::record`]. Each step's future is boxed: an execution's task then holds only the step it is in
    /// (an unboxed chain made every spawned task 12.7 KiB, copied at each spawn).
    async fn run_attempt(self: Arc<Self>, exec: Execution, refill: bool) {
        let Some(p) = Box::pin(self.prepare(exec)).await else { return };
        let limits = self.limits();
        // A channel send passes no domain guard and no circuit breaker.
        let (p, pass) = if p.target.channel.is_some() {
            (p, None)
        } else {
            let Some((p, pass)) = Box::pin(self.clone().admit(p, refill, limits)).await else { return };
            (p, Some(pass))
        };
        let Ok(global) = self.global.clone().acquire_owned().await else {
            return;
        };
        if pass.as_ref().is_some_and(|p| p.is_probe()) {
            tracing::debug!("this attempt is the circuit breaker's probe");
        }
        let mut p = p;
        let result = match &p.target.channel {
            Some(c) if c.kind == crate::model::ChannelKind::Email => Box::pin(self.attempt_email(&p, c)).await,
            _ => Box::pin(self.attempt(&mut p, limits.max_response_bytes)).await,
        };
        if let Some(pass) = pass {
            // Nothing was sent when the outcome is final without an HTTP status (egress
            // refused, an invalid header value): the breaker does not count it.
            let (status, outcome) = (result.attempt.status_code, &result.outcome);
            let sent = !(status.is_none() && *outcome == Outcome::Permanent);
            pass.finish(breaker::verdict(status, outcome, sent), self.clock.now_ms()).await;
        }
        drop(global);
        Box::pin(self.record(p, result, limits)).await;
    }

    /// Waits for the execution's instant, reloads a retry's record (a cancel wins), resolves
    /// its target and renders its request (a first attempt does both before the wait). `None`
    /// when there is nothing to send (cancelled, finished, a workflow run, or failed here: a
    /// gone target, a render error).
    ///
    /// The resolving is synchronous ([`Engine::resolve`]); this future holds only the
    /// execution and small values across its waits.
    async fn prepare(&self, exec: Execution) -> Option<Box<Prepared>> {
        let at = exec.next_attempt_ms.unwrap_or(exec.due_ms);
        let first = exec.attempts.is_empty() && exec.next_attempt_ms.is_none();
        // A workflow run itself is driven by the scheduler; only its steps come here.
        let deliverable = |e: &Execution| e.step.is_some() || e.target_kind != TargetKind::Workflow;
        // A first attempt resolves its target and renders its request before the wait (it was
        // recorded up to `scheduler::PREFIRE_MS` ahead), so that only admission, signing and
        // the send remain after its instant. Anything but success is left to the path after
        // the wait, which decides it at the instant as before.
        let mut exec = if first && deliverable(&exec) {
            match self.resolve(exec, false) {
                Resolution::Ready(p) => {
                    self.wait_for(at).await;
                    tracing::Span::current().record("attempt", 1);
                    tracing::Span::current().record("domain", tracing::field::display(p.target.domain.id));
                    return Some(p);
                }
                Resolution::Fail(exec, _) | Resolution::Wait(exec, ..) => exec,
            }
        } else {
            exec
        };
        self.wait_for(at).await;
        // A retry re-reads its record: it may have been cancelled while it waited. (A first
        // attempt comes straight from its commit; a cancel racing it still wins, because the
        // outcome is not written over a cancelled record.)
        if !first {
            let (brand, id) = (exec.brand, exec.id);
            let reread = Box::pin(self.patiently(id, || self.store.get_execution(brand, id)));
            exec = match reread.await {
                Ok(Some(e)) if !e.status.is_finished() => e,
                Ok(Some(e)) => {
                    self.ended_unsent(&e).await;
                    return None;
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(error = %e, execution = %id, "cannot read an execution to retry; it resumes on the next start");
                    return None;
                }
            };
        }
        if !deliverable(&exec) {
            return None;
        }
        // A retry's record was just re-read: its attempt number is the stored one.
        tracing::Span::current().record("attempt", exec.attempts.len() + 1);
        let mut attempt = 0u32;
        let mut record_domain = true;
        loop {
            match self.resolve(exec, record_domain) {
                Resolution::Ready(p) => return Some(p),
                Resolution::Fail(exec, why) => {
                    self.fail(exec, why).await;
                    return None;
                }
                Resolution::Wait(back, e, target_resolved) => {
                    // The domain is recorded once, when first known.
                    record_domain &= !target_resolved;
                    self.store_wait(back.id, &e, &mut attempt).await;
                    exec = back;
                }
            }
        }
    }

    /// Resolves an execution's target and renders its request, without waiting
    /// (`record_domain`: the domain is recorded on the current span once known).
    fn resolve(&self, exec: Execution, record_domain: bool) -> Resolution {
        let target = match self.target(&exec) {
            Ok(target) => target,
            Err(Unresolvable::Gone(why)) => return Resolution::Fail(exec, why.to_string()),
            Err(Unresolvable::Store(e)) if e.is_unavailable() => return Resolution::Wait(exec, e, false),
            // A corrupt record: no later attempt can do better.
            Err(Unresolvable::Store(e)) => return Resolution::Fail(exec, format!("store: {e}")),
        };
        if record_domain {
            tracing::Span::current().record("domain", tracing::field::display(target.domain.id));
        }
        // Err(Ok(why)): the execution fails; Err(Err(e)): it waits for the store.
        let rendered: Result<_, Result<String, StoreError>> = match &target.channel {
            Some(c) => self.render_channel(c, &exec).map_err(Ok),
            None => {
                request::render(&self.store, &self.vault, exec.brand, &target.template, &target.domain, &exec.context)
                    .map_err(|e| match e {
                        request::RenderError::Store(e) if e.is_unavailable() => Err(e),
                        request::RenderError::Store(e) => Ok(format!("store: {e}")),
                        e => Ok(e.to_string()),
                    })
            }
        };
        match rendered {
            Ok(req) => Resolution::Ready(Box::new(Prepared { exec, target, req })),
            Err(Ok(why)) => Resolution::Fail(exec, why),
            Err(Err(e)) => Resolution::Wait(exec, e, true),
        }
    }

    /// Waits for an attempt's instant (ms since the epoch): on the release timer when the
    /// daemon has one, else on tokio's.
    async fn wait_for(&self, at: i64) {
        match self.release.get() {
            Some(timer) => timer.wait_until_us(at.saturating_mul(1_000)).await,
            None => {
                let wait = at - self.clock.now_ms();
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                }
            }
        }
    }

    /// The template (or workflow step) and domain an execution goes to.
    fn target(&self, exec: &Execution) -> Result<Target, Unresolvable> {
        let brand = exec.brand;
        if exec.target_kind == TargetKind::Channel {
            let c = self
                .store
                .get_channel(brand, crate::model::ChannelId(exec.target_id))?
                .ok_or(Unresolvable::Gone("notification channel not found (deleted?)"))?;
            let (template, domain) = channel::carrier(&c);
            return Ok(Target { template: Arc::new(template), domain: Arc::new(domain), channel: Some(c) });
        }
        let Some(sr) = exec.step else {
            let (template, domain) = self.webhook_target(brand, TemplateId(exec.target_id))?;
            return Ok(Target { template, domain, channel: None });
        };
        let wf =
            self.store.get_workflow(brand, sr.workflow)?.ok_or(Unresolvable::Gone("workflow not found (deleted?)"))?;
        let step = wf
            .steps
            .iter()
            .find(|s| s.id == sr.step)
            .ok_or(Unresolvable::Gone("workflow step not found (deleted?)"))?;
        let template = step.as_template(brand);
        let domain = self.domain(brand, template.domain)?;
        Ok(Target { template: Arc::new(template), domain: Arc::new(domain), channel: None })
    }

    /// The domain a template (or workflow step) sends to.
    fn domain(&self, brand: BrandId, id: DomainId) -> Result<Domain, Unresolvable> {
        self.store.get_domain(brand, id)?.ok_or(Unresolvable::Gone("the target's domain was not found"))
    }

    /// A webhook template with its domain, from the [`targets`] cache while no template or
    /// domain has been written since they were read.
    fn webhook_target(&self, brand: BrandId, id: TemplateId) -> Result<targets::Copies, Unresolvable> {
        // Read before the records: a write in between leaves an entry no later lookup uses.
        let generation = self.store.catalog_generation();
        if let Some(copies) = self.targets.get(&(brand, id), generation) {
            return Ok(copies);
        }
        let template =
            self.store.get_template(brand, id)?.ok_or(Unresolvable::Gone("webhook template not found (deleted?)"))?;
        let domain = self.domain(brand, template.domain)?;
        let copies = (Arc::new(template), Arc::new(domain));
        self.targets.put((brand, id), generation, copies.clone());
        Ok(copies)
    }

    /// The request (or, for email, the record) of a channel send; the error fails it.
    fn render_channel(
        &self,
        c: &crate::model::NotificationChannel,
        exec: &Execution,
    ) -> Result<request::Rendered, String> {
        match &c.address {
            crate::model::ChannelAddress::Url { sealed, .. } => {
                let url = self
                    .vault
                    .open_channel_url(c.id, sealed)
                    .map_err(|_| "the channel URL cannot be opened with the vault's key".to_string())?;
                channel::render_http(c, &url, &exec.context)
            }
            crate::model::ChannelAddress::Email { to } => {
                let host = self.smtp().map(|s| s.host).unwrap_or_else(|| "smtp.invalid".into());
                channel::render_email(to, &exec.context, &host)
            }
        }
    }

    /// Sends an email channel's alert through `[smtp]` and classifies the outcome like an
    /// HTTP attempt (a connection failure or a 4xx answer is retried; a 5xx answer or a
    /// missing `[smtp]` is final).
    async fn attempt_email(&self, p: &Prepared, c: &crate::model::NotificationChannel) -> AttemptResult {
        let started = self.clock.now_ms();
        let n = p.exec.attempts.len() as u32 + 1;
        let watch = Stopwatch::start();
        let to = match &c.address {
            crate::model::ChannelAddress::Email { to } => to.clone(),
            crate::model::ChannelAddress::Url { .. } => Vec::new(),
        };
        let sent = match self.smtp() {
            None => Err(channel::MailError {
                retry: false,
                why: "no SMTP server is configured ([smtp] host is empty)".into(),
            }),
            Some(smtp) => {
                let subject = p.req.masked["headers"]["subject"].as_str().unwrap_or("[hookwheel] alert").to_string();
                let text = String::from_utf8_lossy(p.req.body.as_deref().unwrap_or_default()).into_owned();
                channel::send_email(&smtp, &to, &subject, text, &p.exec.idempotency_key).await
            }
        };
        let latency_ms = (watch.elapsed_secs() * 1000.0) as i64;
        let (error, outcome) = match sent {
            Ok(()) => (None, Outcome::Success),
            Err(e) if e.retry => (Some(e.why), Outcome::Retryable { retry_after_ms: None }),
            Err(e) => (Some(e.why), Outcome::Permanent),
        };
        AttemptResult {
            attempt: Attempt {
                n,
                started_ms: started,
                latency_ms,
                status_code: None,
                error,
                request: p.req.masked.clone(),
                response_excerpt: None,
                response_json: None,
            },
            outcome,
            classified_ms: self.clock.now_ms(),
        }
    }

    /// Passes the domain's traffic guard; beyond the in-memory bound, parks the execution in
    /// the store instead (`None`: parked, it comes back through [`Engine::refill`]).
    async fn admit(
        self: Arc<Self>,
        p: Box<Prepared>,
        refill: bool,
        limits: DeliveryLimits,
    ) -> Option<(Box<Prepared>, guard::Pass)> {
        let domain = p.target.domain.id;
        let circuit = self.circuit_patiently(&p).await;
        let gate = self.gate(&circuit);
        if !refill
            && (gate.spilled.load(Ordering::SeqCst) > 0
                || gate.queued.load(Ordering::SeqCst) >= limits.queue_memory_max)
        {
            match Box::pin(self.store.spill(domain, p.exec.brand, p.exec.id)).await {
                Ok(()) => {
                    gate.spilled.fetch_add(1, Ordering::SeqCst);
                    // The queue may have drained while this one was being parked (its last
                    // pass saw nothing spilled): without this nothing would bring it back.
                    self.refill(domain, gate, limits.queue_memory_max);
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not park an execution; it waits in memory")
                }
            }
        }
        // Waiting at the guard does not count as busy: a slow domain's queue (bounded by
        // `queue_memory_max`) must not hold back the other domains' executions.
        // (Entering the guard starts no deferred execution: a healthy domain's guard passes at
        // once, and a start per entry made tasks pile up at the in-flight limit behind it.)
        let gated = Gated::enter(&self);
        let pass = gate.pass(guard::Limits::of(&p.target.domain)).await;
        drop(gated);
        let pass = pass?;
        self.clone().refill(domain, gate.clone(), limits.queue_memory_max);
        Some((p, pass))
    }

    /// The domain's circuit, waiting while the store cannot be read; a record that cannot be
    /// decoded is replaced by a closed circuit (logged), so the domain is never stuck on it.
    async fn circuit_patiently(&self, p: &Prepared) -> Arc<guard::Circuit> {
        let mut attempt = 0u32;
        loop {
            match self.circuit(&p.target.domain) {
                Ok(c) => return c,
                Err(e) if e.is_unavailable() => self.store_wait(p.exec.id, &e, &mut attempt).await,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the domain's circuit breaker record; it starts closed");
                    return self.new_circuit(&p.target.domain, None);
                }
            }
        }
    }

    /// Brings parked executions back once the in-memory queue has room.
    fn refill(self: Arc<Self>, domain: DomainId, gate: Arc<guard::Gate>, max: usize) {
        let spilled = gate.spilled.load(Ordering::SeqCst);
        // At least one, so a queue bound of 1 still refills.
        let room = (max / 2).max(1).saturating_sub(gate.queued.load(Ordering::SeqCst));
        if spilled == 0 || room == 0 {
            return;
        }
        tokio::spawn(async move {
            let taken = match self.store.take_spilled(domain, room.min(spilled)).await {
                Ok(t) => t,
                Err(e) => {
                    // Still parked: the next pass of this domain's queue tries again.
                    tracing::warn!(error = %e, domain = %domain, "could not bring parked executions back yet");
                    return;
                }
            };
            gate.spilled.fetch_sub(taken.len(), Ordering::SeqCst);
            for (brand, id) in taken {
                match self.patiently(id, || self.store.get_execution(brand, id)).await {
                    Ok(Some(e)) => self.spawn_run(e, true),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, execution = %id, "cannot read a parked execution; it resumes on the next start")
                    }
                }
            }
        });
    }

    /// Signs and sends one attempt and classifies what came back.
    ///
    /// The daemon's headers are [`request::DAEMON_HEADERS`]: the idempotency key twice
    /// (`idempotency-key`, and `webhook-id` with `webhook-timestamp` and `webhook-signature`
    /// as Standard Webhooks names them).
    async fn attempt(&self, p: &mut Prepared, max_response_bytes: usize) -> AttemptResult {
        // The recorded request goes into the attempt (`record` drops the rendered one).
        let masked = std::mem::take(&mut p.req.masked);
        let (exec, domain, req) = (&p.exec, &p.target.domain, &p.req);
        let timeout_ms = p.target.template.retry.request_timeout_ms;
        let started = self.clock.now_ms();
        let n = exec.attempts.len() as u32 + 1;
        let finish = |status_code: Option<u16>,
                      error: Option<String>,
                      excerpt: Option<String>,
                      latency_ms: i64,
                      outcome: Outcome| AttemptResult {
            attempt: Attempt {
                n,
                started_ms: started,
                latency_ms,
                status_code,
                error,
                request: masked,
                response_excerpt: excerpt,
                response_json: None,
            },
            outcome,
            classified_ms: self.clock.now_ms(),
        };
        let ts = started.div_euclid(1000);
        let body = req.body.as_deref().unwrap_or_default();
        let secrets: Vec<zeroize::Zeroizing<String>> =
            domain.active_signing(started).filter_map(|k| self.vault.open_signing(domain.id, k).ok()).collect();
        let refs: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        // One line per header name: the template's headers, the daemon's default content type
        // unless the template set one, then the daemon's own headers over any template value.
        let mut headers = req.headers.clone();
        if req.body.is_some() && !headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let Ok(key) = HeaderValue::from_str(&exec.idempotency_key) else {
            let why = "the execution's idempotency key is not a valid header value".to_string();
            return finish(None, Some(why), None, 0, Outcome::Permanent);
        };
        headers.insert(IDEMPOTENCY_KEY, key.clone());
        headers.insert(WEBHOOK_ID, key);
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(ts));
        if refs.is_empty() {
            headers.remove(WEBHOOK_SIGNATURE);
        } else {
            let sig = signing::signature_header(&refs, &exec.idempotency_key, ts, body);
            match HeaderValue::from_str(&sig) {
                Ok(v) => headers.insert(WEBHOOK_SIGNATURE, v),
                Err(_) => {
                    let why = "the signature is not a valid header value".to_string();
                    return finish(None, Some(why), None, 0, Outcome::Permanent);
                }
            };
        }
        let out = Outgoing {
            method: req.method.clone(),
            url: req.url.clone(),
            headers,
            body: req.body.clone(),
            timeout: Duration::from_millis(u64::from(timeout_ms)),
            max_response_bytes,
        };
        let watch = Stopwatch::start();
        let sent = self.transport.send(out).await;
        let latency_ms = (watch.elapsed_secs() * 1000.0) as i64;
        match sent {
            Ok(Incoming { status: code, retry_after, location, body: kept, read_error }) => {
                let now = self.clock.now_ms();
                let outcome = retry::classify(Some(code), retry_after.as_deref(), now);
                let error = match (code, location) {
                    // The location is the receiver's text: it may echo this request's
                    // secrets (a path or query holding one) and may be of any length.
                    (300..=399, Some(loc)) => Some(format!(
                        "redirect to {} (redirects are not followed)",
                        clip(&req.mask_secrets(&loc), REDIRECT_LOCATION_CHARS_MAX)
                    )),
                    _ if code == 410 => Some("410 Gone: the receiver asked to stop; no more retries".into()),
                    _ => read_error,
                };
                // A receiver may echo what it was sent: the secrets of this request never
                // reach the record (nor, through a step's response, the next step's context).
                let text = req.mask_secrets(&String::from_utf8_lossy(&kept));
                let mut cut = text.len().min(RESPONSE_EXCERPT_BYTES_MAX);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let excerpt = text[..cut].to_string();
                let mut r = finish(Some(code), error, Some(excerpt), latency_ms, outcome);
                r.attempt.response_json = serde_json::from_slice(&kept).ok().map(|v| req.mask_secrets_in(v));
                r.classified_ms = now;
                r
            }
            Err(SendError::Denied(denied)) => {
                finish(None, Some(denied.to_string()), None, latency_ms, Outcome::Permanent)
            }
            Err(e) => {
                let what = match e {
                    SendError::Timeout => format!("timeout after {timeout_ms} ms"),
                    SendError::Connect(why) => format!("connection failed: {why}"),
                    SendError::Other(why) => format!("request failed: {why}"),
                    SendError::Denied(_) => unreachable!("handled above"),
                };
                finish(None, Some(what), None, latency_ms, Outcome::Retryable { retry_after_ms: None })
            }
        }
    }

    /// Records an attempt: the next attempt's time (and a wheel timer), or the final status.
    async fn record(&self, p: Box<Prepared>, result: AttemptResult, limits: DeliveryLimits) {
        let Prepared { mut exec, target, .. } = *p;
        let attempts_done = exec.attempts.len() as u32 + 1;
        let now = self.clock.now_ms();
        if exec.lateness_ms.is_none() {
            exec.lateness_ms = Some(result.attempt.started_ms - exec.scheduled_ms);
            self.metrics.observe_lateness(result.attempt.started_ms - exec.scheduled_ms);
            self.metrics.activity().lateness(result.attempt.started_ms - exec.scheduled_ms);
            self.metrics.activity().first_request(exec.brand, now, result.attempt.started_ms - exec.scheduled_ms);
        }
        tracing::debug!(
            status_code = result.attempt.status_code,
            error = result.attempt.error.as_deref(),
            latency_ms = result.attempt.latency_ms,
            outcome = ?result.outcome,
            "attempt ended"
        );
        self.metrics.observe_attempt(result.outcome == Outcome::Success);
        self.metrics.observe_delivery_latency(result.attempt.latency_ms);
        let last = attempt_summary(&result.attempt);
        exec.attempts.push(result.attempt);
        let retry = &target.template.retry;
        match retry::next_attempt_at(
            retry,
            attempts_done,
            &result.outcome,
            result.classified_ms,
            limits.retry_delay_max_ms,
        ) {
            Some(at) => {
                tracing::debug!(next_attempt_at = %crate::time::format_utc(at), "retry scheduled");
                exec.next_attempt_ms = Some(at);
                let (brand, id) = (exec.brand, exec.id);
                self.metrics.activity().retrying(&exec);
                if let Some(true) = Box::pin(self.put_patiently(exec)).await {
                    let _ = self.events.send(DeliveryEvent::RetryAt { brand, execution: id, at }).await;
                }
            }
            None => {
                exec.next_attempt_ms = None;
                if target.channel.is_none() {
                    self.metrics.feed_alert_outcome(crate::monitor::alert::Outcome {
                        at_ms: now,
                        brand: exec.brand.0,
                        ok: result.outcome == Outcome::Success,
                        lateness_ms: exec.lateness_ms,
                        domain: Some(target.domain.id.0),
                        webhook: (exec.step.is_none()).then_some(exec.target_id),
                        workflow: exec.step.map(|s| s.workflow.0),
                        schedule: exec.schedule.map(|s| s.0),
                    });
                }
                if result.outcome == Outcome::Success {
                    exec.status = ExecutionStatus::Succeeded;
                } else {
                    exec.status = ExecutionStatus::Failed;
                    let tries =
                        if attempts_done == 1 { "1 attempt".to_string() } else { format!("{attempts_done} attempts") };
                    exec.reason = Some(format!("failed after {tries}: {last}"));
                }
                exec.finished_ms = Some(now);
                Box::pin(self.finish(exec)).await;
            }
        }
    }

    /// Fails an execution before any request (rendering, missing template): not retried.
    /// (Boxed: a rare path, kept out of the futures of the steps that call it.)
    fn fail(&self, mut exec: Execution, reason: String) -> Boxed<'_, ()> {
        Box::pin(async move {
            exec.status = ExecutionStatus::Failed;
            exec.reason = Some(reason);
            exec.next_attempt_ms = None;
            exec.finished_ms = Some(self.clock.now_ms());
            self.finish(exec).await;
        })
    }

    /// Records a final status and tells the scheduler. A failed execution is logged: one WARN
    /// line, whose span ([`Engine::run`]) carries the brand, schedule, execution, attempt and
    /// domain, with the target and the last error.
    async fn finish(&self, exec: Execution) {
        let (brand, schedule, status, execution) = (exec.brand, exec.schedule, exec.status, exec.id);
        self.metrics.observe_execution(status.as_str());
        // Reported once recorded, so that a tail reader who looks the execution up finds it ended.
        let activity = self.metrics.activity();
        let ended = activity.needs_row(status, execution).then(|| crate::activity::execution_row(&exec));
        if status == ExecutionStatus::Failed && exec.target_kind == TargetKind::Channel {
            let rule_type = exec.context.get("rule_type").and_then(|v| v.as_str()).unwrap_or("test");
            self.metrics.observe_alert(rule_type, "failed");
        }
        if status == ExecutionStatus::Failed {
            tracing::warn!(
                target = %exec.target_id,
                target_kind = ?exec.target_kind,
                url = exec.attempts.last().and_then(|a| a.request["url"].as_str()).unwrap_or(""),
                reason = exec.reason.as_deref().unwrap_or(""),
                "execution failed"
            );
        } else {
            tracing::debug!(status = status.as_str(), attempts = exec.attempts.len(), "execution ended");
        }
        let step_event = exec.step.map(|step| {
            let last = exec.attempts.last();
            DeliveryEvent::StepFinished {
                brand,
                step,
                ok: status == ExecutionStatus::Succeeded,
                status_code: last.and_then(|a| a.status_code),
                response: last.and_then(|a| a.response_json.clone()),
                error: exec.reason.clone().or_else(|| last.and_then(|a| a.error.clone())),
            }
        });
        if self.put_patiently(exec).await.is_some() {
            match ended {
                Some(row) => activity.ended_row(status, row),
                None => activity.ended_quietly(status),
            }
            let ev = step_event.unwrap_or(DeliveryEvent::Finished { brand, schedule, execution });
            let _ = self.events.send(ev).await;
        }
    }

    /// Writes an execution record, waiting while the store cannot write (the outcome stays
    /// in memory meanwhile). `Some(false)`: it was cancelled meanwhile and stays cancelled;
    /// `None`: a fault other than an unavailable store (logged; the execution stays pending in
    /// the store and resumes on the next start).
    async fn put_patiently(&self, exec: Execution) -> Option<bool> {
        let mut attempt = 0u32;
        loop {
            match self.store.put_execution(&exec).await {
                Ok(written) => return Some(written),
                Err(e) if e.is_unavailable() => self.store_wait(exec.id, &e, &mut attempt).await,
                Err(e) => {
                    tracing::error!(error = %e, execution = %exec.id, "could not record an execution outcome");
                    return None;
                }
            }
        }
    }

    /// A store read that waits while the store is unavailable.
    async fn patiently<T>(&self, id: ExecutionId, f: impl Fn() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 0u32;
        loop {
            match f() {
                Err(e) if e.is_unavailable() => self.store_wait(id, &e, &mut attempt).await,
                other => return other,
            }
        }
    }

    /// Logs the first wait for an unavailable store and sleeps its backoff (boxed: a rare path).
    fn store_wait(&self, id: ExecutionId, e: &StoreError, attempt: &mut u32) -> Boxed<'static, ()> {
        if *attempt == 0 {
            tracing::warn!(error = %e, execution = %id, "the store is unavailable; the execution waits for it");
        }
        let ms = (STORE_RETRY_MIN_MS << (*attempt).min(6)).min(STORE_RETRY_MAX_MS);
        *attempt += 1;
        Box::pin(tokio::time::sleep(Duration::from_millis(ms)))
    }
}

/// One line on how an attempt ended (the status or the error), for an execution's `reason`.
fn attempt_summary(a: &Attempt) -> String {
    match (a.status_code, &a.error) {
        (Some(code), Some(e)) => format!("HTTP {code}: {e}"),
        (Some(code), None) => format!("HTTP {code}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "no answer".into(),
    }
}

#[cfg(test)]
#[allow(unreachable_code, clippy::diverging_sub_expression)]
mod future_size_tests {
    use super::*;

    /// The size of the future `make` would return (never called).
    fn size_of_future<F>(_make: impl FnOnce() -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Each dispatched execution is a task whose future tokio allocates and copies whole at
    /// the spawn; the steps of an attempt are boxed so that it holds only the step it is in.
    /// Unboxed, it was 12,752 bytes (rustc 1.95); boxed, 1,904.
    #[test]
    fn an_execution_task_stays_small() {
        let engine: fn() -> Arc<Engine> = || unreachable!();
        let exec: fn() -> Execution = || unreachable!();
        let task = size_of_future(|| engine().run(exec(), false));
        assert!(task <= 4096, "an execution's task is {task} bytes");
    }
}
