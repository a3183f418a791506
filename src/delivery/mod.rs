//! Delivery: turns a recorded execution into its HTTP request and records the outcome.
//!
//! The scheduler hands executions over through the [`Dispatch`] seam and is told when each one
//! finishes (for overlap policies). This is the single-attempt delivery: render, send once,
//! record status, latency and lateness. The full engine (retries, traffic guard, signing,
//! egress policy) replaces [`SimpleDelivery`] behind the same trait.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model::{
    Attempt, Domain, Execution, ExecutionStatus, ScheduleId, TargetKind, TemplateId,
    WebhookTemplate,
};
use crate::store::Store;
use crate::template::render::{ContextResolver, Masked, Unresolved, render_str, render_value};
use crate::time::Clock;
use crate::vault::Vault;

/// Most response bytes kept in an execution record.
const RESPONSE_EXCERPT_BYTES_MAX: usize = 1024;

/// Receives executions to carry out.
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(&self, exec: Execution);
}

/// Sent when an execution reaches a final status.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub schedule: Option<ScheduleId>,
}

pub struct SimpleDelivery {
    store: Store,
    vault: Vault,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    http: reqwest::Client,
    finished: mpsc::Sender<Finished>,
}

/// The shared HTTP client: pooled, HTTP/1.1 keep-alive and HTTP/2, no redirects followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hookwheel/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .build()
        .expect("HTTP client")
}

impl SimpleDelivery {
    pub fn new(
        store: Store,
        vault: Vault,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        finished: mpsc::Sender<Finished>,
    ) -> Arc<Self> {
        Arc::new(SimpleDelivery {
            store,
            vault,
            clock,
            metrics,
            http: http_client(),
            finished,
        })
    }
}

impl Dispatch for Arc<SimpleDelivery> {
    fn dispatch(&self, exec: Execution) {
        let me = self.clone();
        tokio::spawn(async move {
            let schedule = exec.schedule;
            let final_status = me.deliver(exec).await;
            if final_status.is_some() {
                let _ = me.finished.send(Finished { schedule }).await;
            }
        });
    }
}

/// The request an execution makes, rendered twice: to send, and with secrets masked to store.
struct Rendered {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    masked: Value,
}

fn encode_query_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl SimpleDelivery {
    fn render(
        &self,
        t: &WebhookTemplate,
        d: &Domain,
        context: &Map<String, Value>,
        brand: crate::model::BrandId,
    ) -> Result<Rendered, Unresolved> {
        let store = &self.store;
        let vault = &self.vault;
        let secrets = |name: &str| -> Option<String> {
            let s = store.find_secret(brand, name).ok().flatten()?;
            let plain = vault.open(s.id, &s.sealed).ok()?;
            String::from_utf8(plain.to_vec()).ok()
        };
        let mut r = ContextResolver {
            initial: context,
            secrets,
        };
        let path = render_str(&t.path, &mut r)?;
        let mut query = Vec::new();
        for (k, v) in &t.query {
            query.push((k.clone(), scalar_text(&render_value(v, &mut r)?)));
        }
        let mut headers = Vec::new();
        for (k, v) in &t.headers {
            headers.push((k.clone(), scalar_text(&render_value(v, &mut r)?)));
        }
        let has_body = !matches!(t.method, crate::model::HttpMethod::Get);
        let body = if has_body {
            Some(render_value(&t.body, &mut r)?)
        } else {
            None
        };

        let mut masked_r = Masked(&mut r);
        let masked_path = render_str(&t.path, &mut masked_r)?;
        let masked_headers: Map<String, Value> = t
            .headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    Value::String(scalar_text(&render_value(v, &mut masked_r)?)),
                ))
            })
            .collect::<Result<_, Unresolved>>()?;
        let masked_query: Map<String, Value> = t
            .query
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    Value::String(scalar_text(&render_value(v, &mut masked_r)?)),
                ))
            })
            .collect::<Result<_, Unresolved>>()?;
        let masked_body = if has_body {
            render_value(&t.body, &mut masked_r)?
        } else {
            Value::Null
        };

        let base = format!("{}://{}", d.protocol.as_str(), d.host);
        let qs = |q: &[(String, String)]| {
            q.iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        encode_query_component(k),
                        encode_query_component(v)
                    )
                })
                .collect::<Vec<_>>()
                .join("&")
        };
        let mut url = format!("{base}{path}");
        if !query.is_empty() {
            url = format!("{url}?{}", qs(&query));
        }
        let masked = json!({
            "method": t.method.as_str(),
            "url": format!("{base}{masked_path}"),
            "query": masked_query,
            "headers": masked_headers,
            "body": masked_body,
        });
        let method =
            reqwest::Method::from_bytes(t.method.as_str().as_bytes()).expect("known method");
        Ok(Rendered {
            method,
            url,
            headers,
            body,
            masked,
        })
    }

    /// Carries out one execution; returns its final status (None: left pending).
    async fn deliver(&self, mut exec: Execution) -> Option<ExecutionStatus> {
        if exec.target_kind == TargetKind::Workflow {
            // Workflow runs start when the workflow engine exists; the execution stays pending.
            return None;
        }
        let template = self
            .store
            .get_template(exec.brand, TemplateId(exec.target_id))
            .ok()
            .flatten();
        let domain = template
            .as_ref()
            .and_then(|t| self.store.get_domain(exec.brand, t.domain).ok().flatten());
        let outcome = match (template, domain) {
            (None, _) => Err("webhook template not found (deleted?)".to_string()),
            (Some(_), None) => Err("the template's domain was not found".to_string()),
            (Some(t), Some(d)) => self
                .render(&t, &d, &exec.context, exec.brand)
                .map(|r| (r, t.retry.request_timeout_ms))
                .map_err(|e| e.to_string()),
        };
        let (req, timeout_ms) = match outcome {
            Ok(x) => x,
            Err(error) => {
                exec.status = ExecutionStatus::Failed;
                exec.reason = Some(error);
                exec.finished_ms = Some(self.clock.now_ms());
                return self.save(exec).await;
            }
        };
        let started = self.clock.now_ms();
        let lateness = started - exec.scheduled_ms;
        if exec.lateness_ms.is_none() {
            exec.lateness_ms = Some(lateness);
            self.metrics.observe_lateness(lateness);
        }
        let mut rb = self
            .http
            .request(req.method.clone(), &req.url)
            .timeout(Duration::from_millis(u64::from(timeout_ms)))
            .header("idempotency-key", &exec.idempotency_key)
            .header("webhook-id", &exec.idempotency_key);
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = &req.body {
            rb = rb.json(b);
        }
        let watch = crate::time::Stopwatch::start();
        let result = rb.send().await;
        let (status_code, error, excerpt) = match result {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let bytes = resp.bytes().await.unwrap_or_default();
                let cut = &bytes[..bytes.len().min(RESPONSE_EXCERPT_BYTES_MAX)];
                (
                    Some(code),
                    None,
                    Some(String::from_utf8_lossy(cut).into_owned()),
                )
            }
            Err(e) => (
                None,
                Some(if e.is_timeout() {
                    "timeout".to_string()
                } else {
                    format!("request failed: {e}")
                }),
                None,
            ),
        };
        let latency_ms = (watch.elapsed_secs() * 1000.0) as i64;
        let ok = status_code.is_some_and(|c| (200..300).contains(&c));
        exec.attempts.push(Attempt {
            n: exec.attempts.len() as u32 + 1,
            started_ms: started,
            latency_ms,
            status_code,
            error,
            request: req.masked,
            response_excerpt: excerpt,
        });
        exec.status = if ok {
            ExecutionStatus::Succeeded
        } else {
            ExecutionStatus::Failed
        };
        exec.finished_ms = Some(self.clock.now_ms());
        self.metrics.observe_attempt(ok);
        self.save(exec).await
    }

    async fn save(&self, exec: Execution) -> Option<ExecutionStatus> {
        let status = exec.status;
        self.metrics.observe_execution(status.as_str());
        match self.store.put_execution(exec).await {
            Ok(()) => Some(status),
            Err(e) => {
                tracing::error!(error = %e, "could not record an execution outcome");
                None
            }
        }
    }
}
