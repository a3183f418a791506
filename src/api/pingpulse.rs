//! The PingPulse dialect's pulses, process hooks and approvals (product.md §11; the PingPulse
//! API reference): thin routes onto the heartbeat monitors and the standalone approval
//! requests, so a job instrumented for PingPulse moves over by changing its base URL.
//!
//! - `GET|POST /hbk/{target_id}`: a success ping on the monitor whose slug is `target_id`.
//! - `GET|POST /phk/{id}/start` and `/phk/{id}/finish`: a start ping (answered with a new
//!   `run_id`) and the success ping that ends the run (`run_id` given, else the monitor's open
//!   run), with `metadata`; the run's duration is recorded with the finish ping.
//! - `POST /api/approvals` and `GET /api/approvals/{approval_id}`: a standalone approval
//!   request (`create_approval_request`), polled until `result` is 1 or 0.
//!
//! The credential is the brand's ping key (`get_ping_key`), passed as `key` in the query or in
//! the JSON body, found by its SHA-256; a missing or unknown key is 401. Pings go through the
//! same code as `/ping` (`ping::check_rate`, `ping::commit`: per-monitor rate limit, one
//! durable write, the timer re-armed). Answers are JSON: the reference's shapes on success,
//! `{"status": "error", "error": "<message>"}` otherwise (400 naming the field, 401, 404, 405,
//! 413 over `api.body_bytes_max`, 429 with `Retry-After`, 503 while the store cannot write).
//! The `key` is never stored: a ping keeps the request's other fields as its body.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::App;
use super::approvals::{Standalone, TIMEOUT_SECONDS_DEFAULT, TIMEOUT_SECONDS_MAX, TITLE_CHARS_MAX, create_standalone};
use super::error::ApiError;
use super::monitors::secret_hash;
use super::ping::{RID_CHARS_MAX, check_rate, commit, ping_record};
use crate::model::{ApprovalPlan, BrandId, MonitorId, PING_BODY_BYTES_MAX, PlanId, PlanStatus, TimeoutAction};
use crate::monitor::heartbeat::PingKind;
use crate::store::PingTarget;
use crate::time::{Stopwatch, format_utc};
use crate::workflow::approval::seconds_remaining;

/// Longest `context` of `POST /api/approvals`, in characters.
pub const CONTEXT_CHARS_MAX: usize = 10_000;
/// Longest `metadata` in the query string, in characters (longer metadata goes in a JSON
/// body, bounded by `api.body_bytes_max`).
pub const METADATA_QUERY_CHARS_MAX: usize = 1_024;
/// Longest path segment looked up (slugs are at most 100 characters; approval ids 36).
const SEGMENT_CHARS_MAX: usize = 128;
/// Longest ping key looked up (keys are 37 characters).
const KEY_CHARS_MAX: usize = 128;

/// The per-brand rate limit of `POST /api/approvals` (the `[events]` ingest rate and burst).
pub type ApprovalLimiter = super::ratelimit::KeyedRate<BrandId>;

/// Why a request is refused: an API error, or the rate limit with the seconds to wait.
pub(super) enum Fail {
    Api(ApiError),
    Slow(u64),
}

impl<E: Into<ApiError>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Api(e.into())
    }
}

pub(super) fn answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn error_body(message: impl Into<String>) -> Value {
    json!({"status": "error", "error": message.into()})
}

/// Renders a route's outcome, with the request id and the request metric.
pub(super) fn finish(app: &App, watch: Stopwatch, r: Result<Response, Fail>) -> Response {
    let rid = uuid::Uuid::now_v7().simple().to_string();
    let mut r = match r {
        Ok(r) => r,
        Err(Fail::Slow(wait)) => {
            let mut r = answer(StatusCode::TOO_MANY_REQUESTS, error_body("Rate limit exceeded"));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            r
        }
        Err(Fail::Api(e)) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(request_id = %rid, route = "pingpulse", error = %detail, "internal error");
            }
            let mut r = answer(e.status(), error_body(e.message()));
            match e {
                ApiError::Unavailable { .. } => {
                    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5u32));
                }
                ApiError::TooLarge(_) => {
                    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                ApiError::MethodNotAllowed(ref allow) => {
                    if let Ok(v) = HeaderValue::from_str(allow) {
                        r.headers_mut().insert(header::ALLOW, v);
                    }
                }
                _ => {}
            }
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-request-id", v);
    }
    app.metrics.observe_request("pingpulse", r.status().as_u16(), watch.elapsed_secs());
    r
}

pub(super) fn only(method: &Method, allowed: &[Method], allow: &str) -> Result<(), Fail> {
    if allowed.contains(method) { Ok(()) } else { Err(Fail::Api(ApiError::MethodNotAllowed(allow.to_string()))) }
}

/// A request's parameters: the query's, then the JSON body's (an object) over them.
pub(super) struct Params(pub(super) Map<String, Value>);

impl Params {
    /// Reads the query and the body (at most `api.body_bytes_max` bytes; empty, or a JSON
    /// object).
    pub(super) async fn read(app: &App, query: Option<&str>, body: Body) -> Result<Params, Fail> {
        let mut m = Map::new();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if k == "metadata" && v.chars().count() > METADATA_QUERY_CHARS_MAX {
                let why = format!(
                    "at most {METADATA_QUERY_CHARS_MAX} characters in the query; send longer metadata in a JSON body"
                );
                return Err(ApiError::invalid("metadata", why).into());
            }
            m.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        let raw = super::dispatch::read_limited(body, app.live().api.body_bytes_max).await?;
        if !raw.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(&raw) {
                Ok(Value::Object(o)) => m.extend(o),
                Ok(_) => return Err(ApiError::BadBody(Some("a JSON object is expected".into())).into()),
                Err(e) => return Err(ApiError::BadBody(Some(e.to_string())).into()),
            }
        }
        Ok(Params(m))
    }

    /// The brand whose ping key is `key`: 401 when it is missing or unknown.
    pub(super) fn brand(&self, app: &App) -> Result<(BrandId, [u8; 32]), Fail> {
        let key = match self.0.get("key") {
            Some(Value::String(k)) if !k.is_empty() => k,
            None => return Err(ApiError::Unauthorized("Missing API key: pass the ping key as `key`").into()),
            Some(_) => return Err(ApiError::Unauthorized("Invalid API key").into()),
        };
        if key.len() > KEY_CHARS_MAX {
            return Err(ApiError::Unauthorized("Invalid API key").into());
        }
        let hash = secret_hash(key);
        match app.store.brand_for_ping_key(&hash)? {
            Some(b) => Ok((b, hash)),
            None => Err(ApiError::Unauthorized("Invalid API key").into()),
        }
    }

    /// Everything but the key, as the ping's stored body (its first 10 KiB) and its length.
    fn ping_body(&self) -> (String, u64) {
        let mut m = self.0.clone();
        m.remove("key");
        if let Some(Value::String(s)) = m.get("metadata")
            && let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(s)
        {
            m.insert("metadata".into(), v);
        }
        if m.is_empty() {
            return (String::new(), 0);
        }
        let full = Value::Object(m).to_string();
        let mut end = full.len().min(PING_BODY_BYTES_MAX);
        while !full.is_char_boundary(end) {
            end -= 1;
        }
        (full[..end].to_string(), full.len() as u64)
    }

    /// `run_id`, if given: 1–64 printable ASCII characters (as `/ping`'s `rid`).
    fn run_id(&self) -> Result<Option<String>, Fail> {
        match self.0.get("run_id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s))
                if !s.is_empty() && s.len() <= RID_CHARS_MAX && s.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(ApiError::invalid("run_id", "1-64 printable ASCII characters").into()),
        }
    }
}

/// The monitor of the brand whose slug is `slug` (404 `Target not found` otherwise), checked
/// against its ping rate.
fn monitor(app: &App, key_hash: [u8; 32], slug: &str, what: &'static str) -> Result<(PingTarget, MonitorId), Fail> {
    if slug.len() > SEGMENT_CHARS_MAX {
        return Err(ApiError::NotFound(what).into());
    }
    let target = PingTarget::Slug { key_hash, slug: slug.to_string() };
    let Some((_, id)) = app.store.find_monitor_for_ping(&target)? else { return Err(ApiError::NotFound(what).into()) };
    check_rate(app, &id).map_err(Fail::Slow)?;
    Ok((target, id))
}

fn peer_ip(peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>) -> Option<std::net::IpAddr> {
    peer.map(|axum::Extension(ConnectInfo(a))| a.ip().to_canonical())
}

/// `GET|POST /hbk/{target_id}`: a pulse, i.e. a success ping on the monitor with that slug.
/// Answers `{"status": "success", "target_id", "monitor_status", "received_at"}`.
pub async fn hbk(
    State(app): State<Arc<App>>,
    Path(target_id): Path<String>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::GET, Method::POST], "GET, POST")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (_, key_hash) = params.brand(&app)?;
        let (target, _) = monitor(&app, key_hash, &target_id, "Target")?;
        let mut p = ping_record(&app, PingKind::Success, None, &method, "hbk", peer_ip(peer), &headers);
        (p.body, p.body_bytes) = params.ping_body();
        let received = p.received_ms;
        let change = commit(&app, target, p).await?.ok_or(ApiError::NotFound("Target"))?;
        Ok(answer(
            StatusCode::OK,
            json!({
                "status": "success",
                "target_id": target_id,
                "monitor_status": change.transition.state.status.as_str(),
                "received_at": format_utc(received),
            }),
        ))
    }
    .await;
    finish(&app, watch, r)
}

/// `GET|POST /phk/{id}/start|finish`: a process run on the monitor with slug `id`.
///
/// `start` is a start ping carrying a new run id (`run_<32 hex>`, or the caller's `run_id`)
/// and answers `{"status": "success", "process_hook_id", "run_id", "run_status": "running",
/// "started_at"}`. `finish` is a success ping that ends the run named by `run_id`, or without
/// one the monitor's open run (whatever its id); it answers `{"status": "success",
/// "process_hook_id", "run_id", "run_status": "completed", "duration_ms", "finished_at"}`,
/// with `run_id` and `duration_ms` null when no open run matched (the ping still counts).
pub async fn phk(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        let start = match action.as_str() {
            "start" => true,
            "finish" => false,
            _ => return Err(ApiError::NotFound("Resource").into()),
        };
        only(&method, &[Method::GET, Method::POST], "GET, POST")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (brand, key_hash) = params.brand(&app)?;
        let (target, monitor_id) = monitor(&app, key_hash, &id, "Process hook")?;
        let given = params.run_id()?;
        let rid = if start {
            Some(given.unwrap_or_else(|| format!("run_{}", uuid::Uuid::now_v7().simple())))
        } else {
            match given {
                Some(r) => Some(r),
                // The open run's id, so that the stored ping names the run it ends.
                None => app.store.get_monitor(brand, monitor_id)?.and_then(|(_, st)| st.state.run.and_then(|r| r.rid)),
            }
        };
        let kind = if start { PingKind::Start } else { PingKind::Success };
        let mut p = ping_record(&app, kind, None, &method, "phk", peer_ip(peer), &headers);
        p.rid = rid.clone();
        (p.body, p.body_bytes) = params.ping_body();
        let at = format_utc(p.received_ms);
        let change = commit(&app, target, p).await?.ok_or(ApiError::NotFound("Process hook"))?;
        let body = if start {
            json!({"status": "success", "process_hook_id": id, "run_id": rid, "run_status": "running", "started_at": at})
        } else {
            let d = change.transition.duration_ms;
            json!({
                "status": "success",
                "process_hook_id": id,
                "run_id": if d.is_some() { rid } else { None },
                "run_status": "completed",
                "duration_ms": d,
                "finished_at": at,
            })
        };
        Ok(answer(StatusCode::OK, body))
    }
    .await;
    finish(&app, watch, r)
}

/// The fields of `POST /api/approvals`, checked: `context` (required, 1–10,000 characters),
/// `timeout_seconds` (1–86,400, default 300; a number or a numeric string), `timeout_action`
/// (`deny` default | `approve`). Any other field but `key` is 400 naming it.
fn approval_fields(p: &Params) -> Result<(String, i64, TimeoutAction), ApiError> {
    for k in p.0.keys() {
        if !matches!(k.as_str(), "key" | "context" | "timeout_seconds" | "timeout_action") {
            return Err(ApiError::UnknownField { field: k.clone(), suggestion: None });
        }
    }
    let context = match p.0.get("context") {
        None | Some(Value::Null) => return Err(ApiError::Missing("context".into())),
        Some(Value::String(s)) if s.trim().is_empty() => return Err(ApiError::invalid("context", "must not be blank")),
        Some(Value::String(s)) if s.chars().count() > CONTEXT_CHARS_MAX => {
            return Err(ApiError::invalid("context", format!("at most {CONTEXT_CHARS_MAX} characters")));
        }
        Some(Value::String(s)) => {
            // Free text, like `notes`: tab and line ends are allowed, other control and
            // invisible formatting characters are not.
            super::fields::check_text(s, CONTEXT_CHARS_MAX).map_err(|why| ApiError::invalid("context", why))?;
            s.clone()
        }
        Some(_) => return Err(ApiError::invalid("context", "a string is expected")),
    };
    let range = || ApiError::invalid("timeout_seconds", format!("an integer from 1 to {TIMEOUT_SECONDS_MAX}"));
    let timeout = match p.0.get("timeout_seconds") {
        None | Some(Value::Null) => TIMEOUT_SECONDS_DEFAULT,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(range)?,
        Some(Value::String(s)) => s.parse::<i64>().map_err(|_| range())?,
        Some(_) => return Err(range()),
    };
    if !(1..=TIMEOUT_SECONDS_MAX).contains(&timeout) {
        return Err(range());
    }
    let action = match p.0.get("timeout_action") {
        None | Some(Value::Null) => TimeoutAction::Reject,
        Some(Value::String(s)) if s == "deny" => TimeoutAction::Reject,
        Some(Value::String(s)) if s == "approve" => TimeoutAction::Approve,
        Some(_) => return Err(ApiError::invalid("timeout_action", "`deny` or `approve`")),
    };
    Ok((context, timeout, action))
}

/// The title a PingPulse request shows in the pending list: the context's first line, cut to
/// 200 characters.
fn title_of(context: &str) -> String {
    let line = context.trim().lines().next().unwrap_or_default().trim();
    line.chars().filter(|c| !c.is_control()).take(TITLE_CHARS_MAX).collect()
}

/// `POST /api/approvals`: a standalone approval request (the same as `create_approval_request`
/// with `title` = the context's first line, `context` = `{"context": <the text>}`, `deny` =
/// `reject`, no targets). 201 `{"approval_id", "status": "pending", "result": null,
/// "expires_at"}`; `approval_id` is the request's `execution_plan_uuid`.
pub async fn approvals(State(app): State<Arc<App>>, method: Method, RawQuery(query): RawQuery, body: Body) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::POST], "POST")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (brand, _) = params.brand(&app)?;
        let (context, timeout_seconds, timeout_action) = approval_fields(&params)?;
        app.approval_limiter.check(app.live().events, &brand).map_err(Fail::Slow)?;
        let mut ctx = Map::new();
        ctx.insert("context".into(), Value::String(context.clone()));
        let request = Standalone {
            title: title_of(&context),
            context: ctx,
            timeout_seconds,
            timeout_action,
            on_approve: None,
            on_reject: None,
        };
        let plan = create_standalone(&app, brand, app.clock.now_ms(), request).await?;
        Ok(answer(
            StatusCode::CREATED,
            json!({
                "approval_id": plan.id.to_string(),
                "status": "pending",
                "result": null,
                "expires_at": plan.deadline_ms.map(format_utc),
            }),
        ))
    }
    .await;
    finish(&app, watch, r)
}

/// The poll answer of a standalone request (see [`approval`]).
fn poll_view(p: &ApprovalPlan, now: crate::time::Millis) -> Value {
    let timed_out = p.standalone.as_deref().is_some_and(|s| s.timed_out);
    match p.status {
        PlanStatus::WaitingApproval => json!({
            "approval_id": p.id.to_string(),
            "status": "pending",
            "result": null,
            "seconds_remaining": seconds_remaining(p.deadline_ms, now),
            "expires_at": p.deadline_ms.map(format_utc),
        }),
        PlanStatus::Approved | PlanStatus::Rejected => {
            let approved = p.status == PlanStatus::Approved;
            json!({
                "approval_id": p.id.to_string(),
                "status": if approved { "approved" } else { "denied" },
                "result": u8::from(approved),
                "notes": p.notes,
                "decided_by": p.decided_by.map(|k| k.to_string()),
                "decided_at": p.decided_at.map(format_utc),
                "timed_out": timed_out,
            })
        }
    }
}

/// `GET /api/approvals/{approval_id}`: while pending `{"approval_id", "status": "pending",
/// "result": null, "seconds_remaining", "expires_at"}`; once decided `{"approval_id",
/// "status": "approved"|"denied", "result": 1|0, "notes", "decided_by" (the deciding API key's
/// id; null when the timeout decided), "decided_at", "timed_out"}`. Any id that is not a
/// standalone request of the key's brand is 404.
pub async fn approval(
    State(app): State<Arc<App>>,
    Path(approval_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::GET], "GET")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (brand, _) = params.brand(&app)?;
        let id = uuid::Uuid::try_parse(&approval_id).map_err(|_| ApiError::NotFound("Approval"))?;
        let plan = app
            .store
            .get_plan(brand, PlanId(id))?
            .filter(ApprovalPlan::is_standalone)
            .ok_or(ApiError::NotFound("Approval"))?;
        Ok(answer(StatusCode::OK, poll_view(&plan, app.clock.now_ms())))
    }
    .await;
    finish(&app, watch, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Params {
        match v {
            Value::Object(m) => Params(m),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn approval_fields_default_map_deny_and_name_the_bad_field() {
        let (c, t, a) = approval_fields(&params(json!({"key": "k", "context": "Publish"}))).unwrap();
        assert_eq!((c.as_str(), t, a), ("Publish", 300, TimeoutAction::Reject));
        let (_, t, a) =
            approval_fields(&params(json!({"context": "x", "timeout_seconds": "86400", "timeout_action": "approve"})))
                .unwrap();
        assert_eq!((t, a), (86_400, TimeoutAction::Approve));
        let field = |v: Value| match approval_fields(&params(v)) {
            Err(ApiError::Invalid { field, .. }) | Err(ApiError::Missing(field)) => field,
            Err(ApiError::UnknownField { field, .. }) => format!("unknown {field}"),
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(field(json!({})), "context");
        assert_eq!(field(json!({"context": "  "})), "context");
        assert_eq!(field(json!({"context": "abc\rBcc: evil@x.com\u{0}"})), "context");
        assert_eq!(field(json!({"context": "a\u{202e}b"})), "context");
        assert!(approval_fields(&params(json!({"context": "Publish\n\tthe post\r\n"}))).is_ok());
        assert_eq!(title_of("Pub\u{7}lish\nmore"), "Publish");
        assert_eq!(field(json!({"context": 5})), "context");
        assert_eq!(field(json!({"context": "x".repeat(CONTEXT_CHARS_MAX + 1)})), "context");
        assert_eq!(field(json!({"context": "x", "timeout_seconds": 0})), "timeout_seconds");
        assert_eq!(field(json!({"context": "x", "timeout_seconds": 86_401})), "timeout_seconds");
        assert_eq!(field(json!({"context": "x", "timeout_seconds": 1.5})), "timeout_seconds");
        assert_eq!(field(json!({"context": "x", "timeout_action": "reject"})), "timeout_action");
        assert_eq!(field(json!({"context": "x", "title": "t"})), "unknown title");
    }

    #[test]
    fn titles_and_ping_bodies() {
        assert_eq!(title_of("  Publish blog post\nsecond line"), "Publish blog post");
        assert_eq!(title_of(&"é".repeat(300)).chars().count(), TITLE_CHARS_MAX);
        let p = params(json!({"key": "secret", "agent": "ci", "metadata": "{\"job\":\"nightly\"}"}));
        let (body, len) = p.ping_body();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v, json!({"agent": "ci", "metadata": {"job": "nightly"}}));
        assert_eq!(len as usize, body.len());
        assert_eq!(params(json!({"key": "secret"})).ping_body(), (String::new(), 0));
        let big = params(json!({"metadata": "é".repeat(PING_BODY_BYTES_MAX)}));
        let (body, len) = big.ping_body();
        assert!(body.len() <= PING_BODY_BYTES_MAX && len as usize > PING_BODY_BYTES_MAX);
    }
}
