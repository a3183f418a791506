//! The public ping routes of heartbeat monitors (product.md §11), in Healthchecks.io's URL
//! family (https://healthchecks.io/docs/http_api/):
//!
//! - `/ping/<token>` success, `/ping/<token>/start`, `/ping/<token>/fail`,
//!   `/ping/<token>/<exit_status>` (0 success, 1–255 failure; above 255 → 400);
//! - `/ping/<ping_key>/<slug>` and the same suffixes below it;
//! - `/ping/<token>/stage/<stage>` and `/ping/<ping_key>/<slug>/stage/<stage>`: a pipeline
//!   monitor's stage ping ([`super::pipelines`]).
//!
//! `GET`, `POST` and `HEAD`; `?rid=<run id>` pairs a start with its end. No API key: the token
//! (or the brand's ping key) is the credential, found by its SHA-256. Answers are plain text as
//! Healthchecks gives them: `200 OK`, `404 not found`, `400 invalid …`, `429 rate limited`
//! (per monitor, `events.ingest_rate_per_second` / `events.ingest_burst`, as ingest URLs),
//! `413` over the API body limit, `503` while the store cannot write. A two-segment path is a
//! token with a suffix when its first segment is a known token, otherwise a ping key and slug.
//!
//! Each ping is one durable write before the answer (`Store::record_ping`); the first 10 KiB of
//! the body is kept with its full length. Then the monitor's timer is re-armed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::ApiError;
use super::monitors::secret_hash;
use crate::model::{MonitorId, PING_BODY_BYTES_MAX, PingId};
use crate::monitor::heartbeat::PingKind;
use crate::store::{MonitorChange, PingTarget, PingWrite, new_ping};
use crate::time::Stopwatch;

/// Longest run id (`rid`) accepted.
pub const RID_CHARS_MAX: usize = 64;
/// Longest `User-Agent` kept with a ping.
const USER_AGENT_CHARS_MAX: usize = 256;
/// Longest path segment looked up (tokens and keys are 32–37 characters; slugs at most 100).
const SEGMENT_CHARS_MAX: usize = 128;

/// The per-monitor ping rate limit (the `[events]` ingest rate and burst).
pub type PingLimiter = super::ratelimit::KeyedRate<MonitorId>;

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// What the path's last segment asks for.
enum Suffix {
    Success,
    Start,
    Fail,
    Exit(u8),
}

/// A plain-text refusal: status and body.
type Refusal = (StatusCode, &'static str);

/// Reads a suffix segment: `start`, `fail` or an exit status. `Err` is the answer.
fn suffix(s: &str) -> Result<Suffix, Refusal> {
    match s {
        "start" => Ok(Suffix::Start),
        "fail" => Ok(Suffix::Fail),
        _ if !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) => match s.parse::<u16>() {
            Ok(n) if n <= 255 => Ok(Suffix::Exit(n as u8)),
            _ => Err((StatusCode::BAD_REQUEST, "invalid exit status (0-255)")),
        },
        _ => Err((StatusCode::NOT_FOUND, "not found")),
    }
}

/// `GET|POST|HEAD /ping/{a}`, `/ping/{a}/{b}`, `/ping/{a}/{b}/{c}`, `/ping/{a}/{b}/{c}/{d}`.
pub async fn entry(
    State(app): State<Arc<App>>,
    Path(segments): Path<Vec<(String, String)>>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let rid = uuid::Uuid::now_v7().simple().to_string();
    let segs: Vec<&str> = segments.iter().map(|(_, v)| v.as_str()).collect();
    let peer = peer.map(|axum::Extension(ConnectInfo(a))| a.ip().to_canonical());
    let mut r = match ping(&app, &segs, method, &headers, peer, query.as_deref(), body).await {
        Ok(r) => r,
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(request_id = %rid, route = "ping", error = %detail, "internal error");
            }
            let mut r = (e.status(), e.message()).into_response();
            if let ApiError::Unavailable { .. } = e {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5u32));
            }
            if let ApiError::TooLarge(_) = e {
                r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-request-id", v);
    }
    r.headers_mut().insert("ping-body-limit", HeaderValue::from(PING_BODY_BYTES_MAX));
    app.metrics.observe_request("ping", r.status().as_u16(), watch.elapsed_secs());
    r
}

/// The run id of the query, if any; `Err` is the answer (400).
fn run_id(query: Option<&str>) -> Result<Option<String>, Refusal> {
    let Some(q) = query else { return Ok(None) };
    let mut rid = None;
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        if k == "rid" {
            if v.is_empty() || v.len() > RID_CHARS_MAX || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err((StatusCode::BAD_REQUEST, "invalid rid (1-64 printable ASCII characters)"));
            }
            rid = Some(v.into_owned());
        }
    }
    Ok(rid)
}

async fn ping(
    app: &Arc<App>,
    segs: &[&str],
    method: Method,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    query: Option<&str>,
    body: Body,
) -> Result<Response, ApiError> {
    if !matches!(method, Method::GET | Method::POST | Method::HEAD) {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST, HEAD"));
        return Ok(r);
    }
    if segs.iter().any(|s| s.len() > SEGMENT_CHARS_MAX) {
        return Ok(text(StatusCode::NOT_FOUND, "not found"));
    }
    // Which monitor, and what the ping says.
    let token_target = || PingTarget::Token(secret_hash(segs[0]));
    let slug_target = |key: &str, slug: &str| PingTarget::Slug { key_hash: secret_hash(key), slug: slug.to_string() };
    // Stage pings: `<token>/stage/<stage>` (when the first segment is a token) and
    // `<key>/<slug>/stage/<stage>`.
    let stage = match *segs {
        [_, "stage", stage] => {
            let t = token_target();
            app.store.find_monitor_for_ping(&t)?.map(|found| (t, found, stage))
        }
        [key, slug, "stage", stage] => {
            let t = slug_target(key, slug);
            match app.store.find_monitor_for_ping(&t)? {
                Some(found) => Some((t, found, stage)),
                None => return Ok(text(StatusCode::NOT_FOUND, "not found")),
            }
        }
        [_, _, _, _] => return Ok(text(StatusCode::NOT_FOUND, "not found")),
        _ => None,
    };
    if let Some((target, (_, monitor), stage)) = stage {
        if let Err(wait) = check_rate(app, &monitor) {
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, "rate limited");
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return Ok(r);
        }
        return super::pipelines::ping_stage(app, target, stage, query, body).await;
    }
    let (target, found, what) = match *segs {
        [_] => {
            let t = token_target();
            let found = app.store.find_monitor_for_ping(&t)?;
            (t, found, Suffix::Success)
        }
        [key, b] => {
            let t = token_target();
            match app.store.find_monitor_for_ping(&t)? {
                Some(found) => match suffix(b) {
                    Ok(s) => (t, Some(found), s),
                    Err((status, body)) => return Ok(text(status, body)),
                },
                None => {
                    let t = slug_target(key, b);
                    let found = app.store.find_monitor_for_ping(&t)?;
                    (t, found, Suffix::Success)
                }
            }
        }
        [key, slug, c] => {
            let t = slug_target(key, slug);
            let found = app.store.find_monitor_for_ping(&t)?;
            if found.is_none() {
                return Ok(text(StatusCode::NOT_FOUND, "not found"));
            }
            match suffix(c) {
                Ok(s) => (t, found, s),
                Err((status, body)) => return Ok(text(status, body)),
            }
        }
        _ => return Ok(text(StatusCode::NOT_FOUND, "not found")),
    };
    let Some((_, monitor)) = found else { return Ok(text(StatusCode::NOT_FOUND, "not found")) };
    let rid = match run_id(query) {
        Ok(r) => r,
        Err((status, body)) => return Ok(text(status, body)),
    };
    let live = app.live();
    if let Err(wait) = check_rate(app, &monitor) {
        let mut r = text(StatusCode::TOO_MANY_REQUESTS, "rate limited");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(r);
    }
    let raw = super::dispatch::read_limited(body, live.api.body_bytes_max).await?;
    let kept = &raw[..raw.len().min(PING_BODY_BYTES_MAX)];
    let (kind, exit_status) = match what {
        Suffix::Success => (PingKind::Success, None),
        Suffix::Start => (PingKind::Start, None),
        Suffix::Fail => (PingKind::Fail, None),
        Suffix::Exit(code) => (PingKind::from_exit_status(code), Some(code)),
    };
    let via = match target {
        PingTarget::Token(_) => "token",
        PingTarget::Slug { .. } => "slug",
    };
    let mut p = ping_record(app, kind, exit_status, &method, via, peer, headers);
    p.rid = rid;
    p.body = String::from_utf8_lossy(kept).into_owned();
    p.body_bytes = raw.len() as u64;
    match commit(app, target, p).await? {
        Some(_) => Ok(text(StatusCode::OK, "OK")),
        None => Ok(text(StatusCode::NOT_FOUND, "not found")),
    }
}

/// The per-monitor ping rate limit (`events.ingest_rate_per_second`, `events.ingest_burst`),
/// shared by every ping URL family (`/ping`, PingPulse's `/hbk` and `/phk`). `Err` is the
/// number of seconds to wait (at least 1).
pub(super) fn check_rate(app: &App, monitor: &MonitorId) -> Result<(), u64> {
    app.ping_limiter.check(app.live().events, monitor)
}

/// A ping record received now through `via` (`token`, `slug`, `hbk`, `phk`): the request's
/// method, client address and `User-Agent` (cut to 256 characters); no body, no run id.
pub(super) fn ping_record(
    app: &App,
    kind: PingKind,
    exit_status: Option<u8>,
    method: &Method,
    via: &str,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
) -> crate::model::Ping {
    let mut p = new_ping(PingId::new(), kind, exit_status, app.clock.now_ms());
    p.method = method.as_str().to_string();
    p.via = via.to_string();
    p.client_ip = peer.map(|ip| ip.to_string());
    p.user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(USER_AGENT_CHARS_MAX).collect());
    p
}

/// Stores a ping (one durable write, `Store::record_ping`), counts it and re-arms the
/// monitor's timer. `None`: no monitor answers to `target` (deleted meanwhile).
pub(super) async fn commit(
    app: &App,
    target: PingTarget,
    p: crate::model::Ping,
) -> Result<Option<MonitorChange>, ApiError> {
    let kind = p.kind;
    let Some(change) = app.store.record_ping(PingWrite { target, ping: p }).await? else {
        return Ok(None);
    };
    app.metrics.observe_ping(kind.as_str());
    crate::scheduler::report_monitor_change(&app.metrics, &change);
    app.scheduler.arm_monitor(change.brand, change.monitor, change.deadline).await;
    Ok(Some(change))
}
