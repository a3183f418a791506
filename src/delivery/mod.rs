//! Delivery: turns a recorded execution into the exact HTTP request its template describes
//! and records what happened, attempt by attempt.
//!
//! The scheduler hands executions over through the [`Dispatch`] seam. For each attempt the
//! [`Engine`] waits for the execution's instant (fires are recorded ahead of time), renders the
//! template (secrets injected only into the request, masked in the record), passes the
//! domain's traffic guard ([`guard`]: FIFO, concurrency cap, GCRA rate, spill to the store when
//! the in-memory queue is full), signs (Standard Webhooks), sends through the pooled client
//! whose resolver enforces the egress policy ([`client`]), and classifies the outcome
//! ([`retry`]). A retry is not a sleep: the execution is persisted with its next attempt time
//! and the scheduler arms a wheel timer ([`DeliveryEvent::RetryAt`]), so it survives restarts.

pub mod client;
pub mod egress;
pub mod guard;
pub mod request;
pub mod retry;
pub mod signing;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use tokio::sync::{Semaphore, mpsc};

use crate::metrics::Metrics;
use crate::model::{
    Attempt, BrandId, Domain, DomainId, Execution, ExecutionId, ExecutionStatus, ScheduleId, StepRef, TargetKind,
    TemplateId, WebhookTemplate,
};
use crate::store::Store;
use crate::time::{Clock, Millis, Stopwatch};
use crate::vault::Vault;
use client::SharedPolicy;
use egress::EgressPolicy;
use retry::Outcome;

/// Receives executions to carry out.
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(&self, exec: Execution);
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

pub struct Engine {
    store: Store,
    vault: Vault,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    http: reqwest::Client,
    policy: SharedPolicy,
    /// `egress.proxy_url` is set: targets are resolved and judged before they go to the proxy.
    proxied: bool,
    limits: RwLock<DeliveryLimits>,
    global: Arc<Semaphore>,
    gates: Mutex<HashMap<DomainId, Arc<guard::Gate>>>,
    events: mpsc::Sender<DeliveryEvent>,
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
        Ok(Arc::new(Engine {
            http: client::build(policy.clone(), limits.max_in_flight, proxy.as_ref())?,
            policy,
            proxied: proxy.is_some(),
            global: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits: RwLock::new(limits),
            gates: Mutex::new(HashMap::new()),
            store,
            vault,
            clock,
            metrics,
            events,
        }))
    }

    /// Applies reloaded limits and egress policy (`max_in_flight` needs a restart).
    pub fn reconfigure(&self, limits: DeliveryLimits, policy: EgressPolicy) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    fn limits(&self) -> DeliveryLimits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    fn gate(&self, domain: DomainId) -> Arc<guard::Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(domain).or_insert_with(|| Arc::new(guard::Gate::new(self.clock.clone()))).clone()
    }

    /// Queue depth per domain (in memory + spilled), for metrics.
    pub fn queue_depths(&self) -> Vec<(DomainId, usize)> {
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(d, g)| (*d, g.depth())).collect()
    }
}

impl Dispatch for Arc<Engine> {
    fn dispatch(&self, exec: Execution) {
        let me = self.clone();
        tokio::spawn(async move { me.run(exec, false).await });
    }
}

impl Engine {
    fn template_target(&self, brand: BrandId, id: TemplateId) -> Result<(WebhookTemplate, Domain), String> {
        let t = self.store.get_template(brand, id).ok().flatten().ok_or("webhook template not found (deleted?)")?;
        let d = self.store.get_domain(brand, t.domain).ok().flatten().ok_or("the template's domain was not found")?;
        Ok((t, d))
    }

    /// A workflow step's inline call, as a template.
    fn step_target(&self, brand: BrandId, sr: StepRef) -> Result<(WebhookTemplate, Domain), String> {
        let wf = self.store.get_workflow(brand, sr.workflow).ok().flatten().ok_or("workflow not found (deleted?)")?;
        let s = wf.steps.iter().find(|s| s.id == sr.step).ok_or("workflow step not found (deleted?)")?;
        let d = self.store.get_domain(brand, s.domain).ok().flatten().ok_or("the step's domain was not found")?;
        Ok((s.as_template(brand), d))
    }
}

/// How one attempt ended, before it is recorded.
struct AttemptResult {
    attempt: Attempt,
    outcome: Outcome,
}

impl Engine {
    /// Carries out the next attempt of an execution (`refill`: it comes back from the spill,
    /// so it goes straight into the in-memory queue).
    async fn run(self: Arc<Self>, exec: Execution, refill: bool) {
        let at = exec.next_attempt_ms.unwrap_or(exec.due_ms);
        let wait = at - self.clock.now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        // A retry re-reads its record: it may have been cancelled while it waited. (A first
        // attempt comes straight from its commit; a cancel racing it still wins, because the
        // outcome is not written over a cancelled record.)
        let mut exec = if exec.attempts.is_empty() && exec.next_attempt_ms.is_none() {
            exec
        } else {
            match self.store.get_execution(exec.brand, exec.id) {
                Ok(Some(e)) if !e.status.is_finished() => e,
                _ => return,
            }
        };
        let target = match exec.step {
            Some(sr) => self.step_target(exec.brand, sr),
            // A workflow run itself is driven by the scheduler; only its steps come here.
            None if exec.target_kind == TargetKind::Workflow => return,
            None => self.template_target(exec.brand, TemplateId(exec.target_id)),
        };
        let (template, domain) = match target {
            Ok(x) => x,
            Err(why) => return self.fail(exec, why).await,
        };
        let req = match request::render(&self.store, &self.vault, exec.brand, &template, &domain, &exec.context) {
            Ok(r) => r,
            Err(e) => return self.fail(exec, e.to_string()).await,
        };

        // The domain's traffic guard; beyond the in-memory bound, park in the store.
        let gate = self.gate(domain.id);
        let limits = self.limits();
        if !refill
            && (gate.spilled.load(Ordering::SeqCst) > 0
                || gate.queued.load(Ordering::SeqCst) >= limits.queue_memory_max)
        {
            match self.store.spill(domain.id, exec.brand, exec.id).await {
                Ok(()) => {
                    gate.spilled.fetch_add(1, Ordering::SeqCst);
                    // The queue may have drained while this one was being parked (its last
                    // pass saw nothing spilled): without this nothing would bring it back.
                    self.refill(domain.id, gate, limits.queue_memory_max);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not park an execution; it waits in memory")
                }
            }
        }
        let Some(pass) = gate.pass(guard::Limits::of(&domain)).await else {
            return;
        };
        self.clone().refill(domain.id, gate.clone(), limits.queue_memory_max);
        let Ok(global) = self.global.clone().acquire_owned().await else {
            return;
        };

        let result =
            self.attempt(&exec, &domain, &req, template.retry.request_timeout_ms, limits.max_response_bytes).await;
        drop((pass, global));

        let attempts_done = exec.attempts.len() as u32 + 1;
        let now = self.clock.now_ms();
        if exec.lateness_ms.is_none() {
            exec.lateness_ms = Some(result.attempt.started_ms - exec.scheduled_ms);
            self.metrics.observe_lateness(result.attempt.started_ms - exec.scheduled_ms);
        }
        self.metrics.observe_attempt(result.outcome == Outcome::Success);
        self.metrics.observe_delivery_latency(result.attempt.latency_ms);
        exec.attempts.push(result.attempt);
        match retry::next_attempt_at(&template.retry, attempts_done, &result.outcome, now, limits.retry_delay_max_ms) {
            Some(at) => {
                exec.next_attempt_ms = Some(at);
                let (brand, id) = (exec.brand, exec.id);
                if let Ok(true) = self.store.put_execution(exec).await {
                    let _ = self.events.send(DeliveryEvent::RetryAt { brand, execution: id, at }).await;
                }
            }
            None => {
                exec.next_attempt_ms = None;
                exec.status = if result.outcome == Outcome::Success {
                    ExecutionStatus::Succeeded
                } else {
                    ExecutionStatus::Failed
                };
                exec.finished_ms = Some(now);
                self.finish(exec).await;
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
            let Ok(taken) = self.store.take_spilled(domain, room.min(spilled)).await else {
                return;
            };
            gate.spilled.fetch_sub(taken.len(), Ordering::SeqCst);
            for (brand, id) in taken {
                if let Ok(Some(e)) = self.store.get_execution(brand, id) {
                    tokio::spawn(self.clone().run(e, true));
                }
            }
        });
    }

    async fn attempt(
        &self,
        exec: &Execution,
        domain: &crate::model::Domain,
        req: &request::Rendered,
        timeout_ms: u32,
        max_response: usize,
    ) -> AttemptResult {
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
                request: req.masked.clone(),
                response_excerpt: excerpt,
                response_json: None,
            },
            outcome,
        };
        let url = req.url.clone();
        if let Err(denied) = client::check_literal(&url, &self.policy) {
            return finish(None, Some(denied.to_string()), None, 0, Outcome::Permanent);
        }
        if self.proxied {
            match client::check_via_proxy(&url, &self.policy).await {
                Ok(()) => {}
                Err(client::ProxyCheckError::Denied(denied)) => {
                    return finish(None, Some(denied.to_string()), None, 0, Outcome::Permanent);
                }
                Err(e) => {
                    let why = format!("connection failed: {}", error_chain(&e));
                    return finish(None, Some(why), None, 0, Outcome::Retryable { retry_after_ms: None });
                }
            }
        }
        let ts = started.div_euclid(1000);
        let body = req.body.clone().unwrap_or_default();
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
        headers.insert("idempotency-key", key.clone());
        headers.insert("webhook-id", key);
        headers.insert("webhook-timestamp", HeaderValue::from(ts));
        if refs.is_empty() {
            headers.remove("webhook-signature");
        } else {
            let sig = signing::signature_header(&refs, &exec.idempotency_key, ts, &body);
            match HeaderValue::from_str(&sig) {
                Ok(v) => headers.insert("webhook-signature", v),
                Err(_) => {
                    let why = "the signature is not a valid header value".to_string();
                    return finish(None, Some(why), None, 0, Outcome::Permanent);
                }
            };
        }
        let mut rb = self
            .http
            .request(req.method.clone(), url)
            .timeout(Duration::from_millis(u64::from(timeout_ms)))
            .headers(headers);
        if let Some(b) = &req.body {
            rb = rb.body(b.clone());
        }
        let watch = Stopwatch::start();
        match rb.send().await {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
                // Keep at most max_response bytes; stop reading there.
                let mut kept: Vec<u8> = Vec::new();
                let mut read_error = None;
                while kept.len() < max_response {
                    match resp.chunk().await {
                        Ok(Some(c)) => kept.extend_from_slice(&c[..c.len().min(max_response - kept.len())]),
                        Ok(None) => break,
                        Err(e) => {
                            read_error = Some(format!("reading the response: {}", error_chain(&e.without_url())));
                            break;
                        }
                    }
                }
                let latency_ms = (watch.elapsed_secs() * 1000.0) as i64;
                let outcome = retry::classify(Some(code), retry_after.as_deref(), self.clock.now_ms());
                let error = match (code, location) {
                    (300..=399, Some(loc)) => Some(format!("redirect to {loc} (redirects are not followed)")),
                    _ if code == 410 => Some("410 Gone: the receiver asked to stop; no more retries".into()),
                    _ => read_error,
                };
                let excerpt = String::from_utf8_lossy(&kept[..kept.len().min(RESPONSE_EXCERPT_BYTES_MAX)]).into_owned();
                let mut r = finish(Some(code), error, Some(excerpt), latency_ms, outcome);
                r.attempt.response_json = serde_json::from_slice(&kept).ok();
                r
            }
            Err(e) => {
                // The error would show the rendered URL, which may carry secrets.
                let e = e.without_url();
                let latency_ms = (watch.elapsed_secs() * 1000.0) as i64;
                if let Some(denied) = client::egress_denial(&e) {
                    return finish(None, Some(denied.to_string()), None, latency_ms, Outcome::Permanent);
                }
                let what = if e.is_timeout() {
                    format!("timeout after {timeout_ms} ms")
                } else if e.is_connect() {
                    format!("connection failed: {}", error_chain(&e))
                } else {
                    format!("request failed: {}", error_chain(&e))
                };
                finish(None, Some(what), None, latency_ms, Outcome::Retryable { retry_after_ms: None })
            }
        }
    }

    /// Fails an execution before any request (rendering, missing template): not retried.
    async fn fail(&self, mut exec: Execution, reason: String) {
        exec.status = ExecutionStatus::Failed;
        exec.reason = Some(reason);
        exec.next_attempt_ms = None;
        exec.finished_ms = Some(self.clock.now_ms());
        self.finish(exec).await;
    }

    async fn finish(&self, exec: Execution) {
        let (brand, schedule, status, execution) = (exec.brand, exec.schedule, exec.status, exec.id);
        self.metrics.observe_execution(status.as_str());
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
        match self.store.put_execution(exec).await {
            Ok(_) => {
                let ev = step_event.unwrap_or(DeliveryEvent::Finished { brand, schedule, execution });
                let _ = self.events.send(ev).await;
            }
            Err(e) => tracing::error!(error = %e, "could not record an execution outcome"),
        }
    }
}

/// An error and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
