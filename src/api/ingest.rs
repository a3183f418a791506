//! `ANY /v1/ingest/<token>[/<path>]`: a source's public ingest URL (product.md §10). No API
//! key: the token is the credential, found by its SHA-256 (the lookup compares digests, so
//! its time says nothing about how much of a guessed token was right).
//!
//! Checks in order: unknown token 404; the source's rate (`events.ingest_rate_per_second`,
//! GCRA per source) 429; body over the API body limit 413; address not in `ip_allow_cidrs`
//! 403; verification failed 401. Every refusal after the token is known is recorded as a
//! `rejected` event with its reason, in bounded form; of the 429s, the first of each second
//! per source (with the count refused since), so a flood cannot fill the store.
//! An accepted event is committed with its routing before the answer (`events::route_event`);
//! a repeat within the dedup window is answered `200 {"success": true, "duplicate": true,
//! "event_uuid": <the first>}` and not routed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::App;
use super::error::ApiError;
use super::events::{route_event, token_hash};
use crate::config::EventLimits;
use crate::delivery::egress::Cidr;
use crate::events::route;
use crate::events::verify::{Encoding, Verification, verify};
use crate::model::{Event, EventId, EventStatus, Source, SourceId, SourceVerification, VerificationKind};
use crate::store::{DedupWrite, Recorded};
use crate::time::Stopwatch;

/// Bytes of a refused request's body kept in the event log.
pub const REJECTED_BODY_BYTES_MAX: usize = 1024;

/// The per-source ingest rate limit, and the record of its refusals: per source, the second
/// of the last recorded 429 and how many were refused since without a record.
#[derive(Default)]
pub struct IngestLimiter {
    rate: super::ratelimit::KeyedRate<SourceId>,
    refusals: Mutex<HashMap<SourceId, (i64, u64)>>,
}

impl IngestLimiter {
    /// `Err(seconds to wait)` when the source is over its rate.
    fn check(&self, limits: EventLimits, source: SourceId) -> Result<(), u64> {
        self.rate.check(limits, &source)
    }

    /// Whether a 429 of `source` at `now_ms` is the first of its second, to be recorded:
    /// `Some(refused since the last record, not recorded)`, else `None` (counted only).
    fn record_refusal(&self, source: SourceId, now_ms: i64) -> Option<u64> {
        let second = now_ms.div_euclid(1000);
        let mut g = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let entry = g.entry(source).or_insert((i64::MIN, 0));
        if entry.0 == second {
            entry.1 += 1;
            return None;
        }
        let unrecorded = entry.1;
        *entry = (second, 0);
        Some(unrecorded)
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error(e: &ApiError, rid: &str) -> Response {
    let mut r = answer(e.status(), e.body(rid));
    if let ApiError::Unavailable { .. } = e {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5u32));
    }
    if let ApiError::TooLarge(_) = e {
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// `ANY /v1/ingest/{token}`, `/v1/ingest/{token}/` (path `/`) and `/v1/ingest/{token}/{*rest}`.
#[allow(clippy::too_many_arguments, reason = "one axum extractor per part of the request")]
pub async fn entry(
    State(app): State<Arc<App>>,
    Path(params): Path<Vec<(String, String)>>,
    uri: axum::http::Uri,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let rid = uuid::Uuid::now_v7().simple().to_string();
    let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str()).unwrap_or("");
    let rest = match params.iter().find(|(k, _)| k == "rest") {
        Some((_, v)) => format!("/{v}"),
        None if uri.path().ends_with('/') => "/".to_string(),
        None => String::new(),
    };
    let peer = peer.map(|axum::Extension(ConnectInfo(a))| a.ip().to_canonical());
    let r = match ingest(&app, token, rest, method, &headers, peer, query, body, &rid).await {
        Ok(r) => r,
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(request_id = %rid, route = "ingest", error = %detail, "internal error");
            }
            error(&e, &rid)
        }
    };
    let mut r = r;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-request-id", v);
    }
    app.metrics.observe_request("ingest", r.status().as_u16(), watch.elapsed_secs());
    r
}

#[allow(clippy::too_many_arguments)]
async fn ingest(
    app: &Arc<App>,
    token: &str,
    path: String,
    method: Method,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    query: Option<String>,
    body: Body,
    rid: &str,
) -> Result<Response, ApiError> {
    let source = app.source_by_token(&token_hash(token))?.ok_or(ApiError::NotFound("Ingest URL"))?;
    let live = app.live();
    let now = app.clock.now_ms();
    if let Err(wait) = app.ingest_limiter.check(live.events, source.id) {
        let mut body =
            json!({"success": false, "error": "Too many requests for this source (events.ingest_rate_per_second)"});
        // The first 429 of each second is stored (bounded, without body or headers) with how
        // many went unrecorded before it; the rest are counted only, so a flood cannot fill
        // the store at the rate it is sent.
        match app.ingest_limiter.record_refusal(source.id, now) {
            Some(unrecorded) => {
                let mut event = request_event(&source, &method, path, peer, now);
                event.status = EventStatus::Rejected;
                event.reason = Some(format!(
                    "rate limited: over {} requests per second (events.ingest_rate_per_second); \
                     {unrecorded} more refused since the last such record",
                    live.events.ingest_rate_per_second
                ));
                bound_refused(&mut event);
                let id = event.id;
                route_event(app, event, None, now).await?;
                body["event_uuid"] = json!(id.to_string());
            }
            None => app.metrics.observe_event(Some(source.id), "rejected"),
        }
        let mut r = answer(StatusCode::TOO_MANY_REQUESTS, body);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(r);
    }
    let header = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let kept_headers = route::keep_headers(
        headers.iter().map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())),
        source.verification.header.as_deref(),
    );
    let mut event = request_event(&source, &method, path, peer, now);
    event.query = query_map(query.as_deref());
    event.headers = kept_headers;
    let raw = match super::dispatch::read_limited(body, live.api.body_bytes_max).await {
        Ok(raw) => raw,
        Err(e @ ApiError::TooLarge(_)) => {
            event.status = EventStatus::Rejected;
            bound_refused(&mut event);
            event.reason = Some(format!("body larger than {} bytes", live.api.body_bytes_max));
            route_event(app, event, None, now).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (body, encoding) = route::keep_body(&raw);
    event.body = body;
    event.body_encoding = encoding;
    // The type is read before the checks, so a refused request is listed with its claimed type
    // (for triage; a refused event is never routed).
    event.event_type = source.event_type_from.as_ref().and_then(|t| route::event_type(t, &header, &event.body));
    if !source.ip_allow_cidrs.is_empty() && !peer.is_some_and(|ip| allowed(&source.ip_allow_cidrs, ip)) {
        return refuse(app, event, StatusCode::FORBIDDEN, "address not allowed", now, rid).await;
    }
    match verification(app, &source) {
        Err(why) => return refuse(app, event, StatusCode::UNAUTHORIZED, &why, now, rid).await,
        Ok(v) => {
            if let Err(refusal) = verify(&v, &header, &raw, now.div_euclid(1000)) {
                let why = format!("verification failed: {refusal}");
                return refuse(app, event, StatusCode::UNAUTHORIZED, &why, now, rid).await;
            }
        }
    }
    let dedup = source.dedup.as_ref().and_then(|d| {
        let key = route::dedup_key(&d.by, &header, &event.body, &raw)?;
        Some(DedupWrite { scope: *source.id.as_bytes(), key, window_ms: i64::from(d.window_seconds) * 1000 })
    });
    event.dedup_key = dedup.as_ref().map(|d| d.key.clone());
    match route_event(app, event, dedup, now).await?.0 {
        Recorded::Duplicate { first, .. } => {
            let r =
                answer(StatusCode::OK, json!({"success": true, "duplicate": true, "event_uuid": first.to_string()}));
            Ok(with_event_header(r, first))
        }
        Recorded::Accepted { event, .. } => {
            let status = StatusCode::from_u16(source.response_status_code).unwrap_or(StatusCode::ACCEPTED);
            let body = source
                .response_body
                .clone()
                .unwrap_or_else(|| json!({"success": true, "duplicate": false, "event_uuid": event.id.to_string()}));
            // 204 and 205 carry no body (RFC 9110 §15.3.5, §15.3.6).
            let r = if matches!(status.as_u16(), 204 | 205) { status.into_response() } else { answer(status, body) };
            Ok(with_event_header(r, event.id))
        }
    }
}

/// The event a request to `source`'s URL starts as: accepted, with its method, path and client
/// address, and nothing read from it yet.
fn request_event(source: &Source, method: &Method, path: String, peer: Option<std::net::IpAddr>, now: i64) -> Event {
    Event {
        id: EventId::received_at(now),
        brand: source.brand,
        source: Some(source.id),
        status: EventStatus::Accepted,
        reason: None,
        event_type: None,
        dedup_key: None,
        duplicate_of: None,
        method: method.as_str().to_string(),
        path,
        query: Map::new(),
        headers: Map::new(),
        body: Value::Null,
        body_encoding: crate::model::BodyEncoding::Json,
        client_ip: peer.map(|p| p.to_string()),
        labels: Map::new(),
        received_ms: now,
        routes: Vec::new(),
    }
}

/// Records a refused request (`rejected`, never routed) and answers it.
async fn refuse(
    app: &Arc<App>,
    mut event: Event,
    status: StatusCode,
    why: &str,
    now: i64,
    rid: &str,
) -> Result<Response, ApiError> {
    event.status = EventStatus::Rejected;
    bound_refused(&mut event);
    event.reason = Some(why.to_string());
    let id = event.id;
    route_event(app, event, None, now).await?;
    let message = match status {
        StatusCode::FORBIDDEN => "Forbidden: this address may not send to this source",
        _ => "Unauthorized: the request's signature or credentials did not verify",
    };
    let r =
        answer(status, json!({"success": false, "error": message, "event_uuid": id.to_string(), "request_id": rid}));
    Ok(with_event_header(r, id))
}

/// Most bytes of a refused request's path, of each header value and of its query string kept.
const REJECTED_PART_BYTES_MAX: usize = 256;
/// Most headers of a refused request kept.
const REJECTED_HEADERS_MAX: usize = 32;

/// `text` cut to at most `max` bytes (at a character boundary), saying how long it was.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes, truncated)", &text[..end], text.len())
}

/// Whoever knows an ingest URL can send refused requests: their records are bounded as a
/// whole, so forged requests cannot fill the disk at the request limit's rate. The body is cut
/// to [`REJECTED_BODY_BYTES_MAX`], the path and each header value to
/// [`REJECTED_PART_BYTES_MAX`], at most [`REJECTED_HEADERS_MAX`] headers are kept (names cut
/// too), and a query string longer than [`REJECTED_PART_BYTES_MAX`] is kept as its cut text.
fn bound_refused(event: &mut Event) {
    let text = match &event.body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() > REJECTED_BODY_BYTES_MAX {
        event.body = Value::String(cut(&text, REJECTED_BODY_BYTES_MAX));
        event.body_encoding = crate::model::BodyEncoding::Text;
    }
    event.path = cut(&event.path, REJECTED_PART_BYTES_MAX);
    let total = event.headers.len();
    let mut kept = Map::new();
    for (name, value) in std::mem::take(&mut event.headers).into_iter().take(REJECTED_HEADERS_MAX) {
        let value = match value {
            Value::String(v) => Value::String(cut(&v, REJECTED_PART_BYTES_MAX)),
            other => Value::String(cut(&other.to_string(), REJECTED_PART_BYTES_MAX)),
        };
        kept.insert(cut(&name, REJECTED_PART_BYTES_MAX), value);
    }
    if total > REJECTED_HEADERS_MAX {
        kept.insert("…".into(), Value::String(format!("{} more headers not kept", total - REJECTED_HEADERS_MAX)));
    }
    event.headers = kept;
    let query = serde_json::to_string(&event.query).unwrap_or_default();
    if query.len() > REJECTED_PART_BYTES_MAX {
        event.query = Map::from_iter([("…".to_string(), Value::String(cut(&query, REJECTED_PART_BYTES_MAX)))]);
    }
}

/// `x-hookwheel-event-uuid`: the stored event's id (the first event's, for a duplicate), on
/// every answer that stored or matched an event.
fn with_event_header(mut r: Response, id: EventId) -> Response {
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        r.headers_mut().insert("x-hookwheel-event-uuid", v);
    }
    r
}

fn allowed(cidrs: &[String], ip: std::net::IpAddr) -> bool {
    cidrs.iter().any(|c| {
        Cidr::parse(c)
            .or_else(|| {
                let a: std::net::IpAddr = c.parse().ok()?;
                Cidr::parse(&format!("{a}/{}", if a.is_ipv4() { 32 } else { 128 }))
            })
            .is_some_and(|c| c.contains(ip))
    })
}

fn query_map(q: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        match m.get_mut(k.as_ref()) {
            Some(Value::Array(a)) => a.push(Value::String(v.into_owned())),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, Value::String(v.into_owned())]);
            }
            None => {
                m.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    m
}

/// The source's verification with its secrets opened from the vault; `Err` names what is
/// missing (never a value).
fn verification(app: &App, s: &Source) -> Result<Verification, String> {
    let v: &SourceVerification = &s.verification;
    let secret = |name: &Option<String>| -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        let name = name.as_deref().unwrap_or("");
        let found = app
            .store
            .find_secret(s.brand, name)
            .map_err(|e| format!("verification secret {name:?} could not be read: {e}"))?
            .ok_or_else(|| format!("verification secret {name:?} does not exist"))?;
        app.vault.open(found.id, &found.sealed).map_err(|_| format!("verification secret {name:?} could not be opened"))
    };
    let text = |b: zeroize::Zeroizing<Vec<u8>>| zeroize::Zeroizing::new(String::from_utf8_lossy(&b).into_owned());
    Ok(match v.kind {
        VerificationKind::None => Verification::None,
        VerificationKind::HmacSha256 => Verification::HmacSha256 {
            header: v.header.clone().unwrap_or_default(),
            prefix: v.prefix.clone().unwrap_or_default(),
            encoding: if v.base64 { Encoding::Base64 } else { Encoding::Hex },
            secret: secret(&v.secret_key)?,
        },
        VerificationKind::StandardWebhooks => Verification::StandardWebhooks {
            secrets: vec![text(secret(&v.secret_key)?)],
            tolerance_s: u64::from(v.tolerance_seconds),
        },
        VerificationKind::Stripe => Verification::StripeSignature {
            secret: secret(&v.secret_key)?,
            tolerance_s: u64::from(v.tolerance_seconds),
        },
        VerificationKind::BasicAuth => Verification::BasicAuth {
            username: v.username.clone().unwrap_or_default(),
            password: text(secret(&v.password_secret_key)?),
        },
        VerificationKind::HeaderToken => Verification::HeaderToken {
            header: v.header.clone().unwrap_or_default(),
            token: text(secret(&v.secret_key)?),
        },
    })
}
