//! The one entry point for `/v1/api/<action>/`: lookup, auth, rate limit, body, idempotency,
//! handler, envelope, metrics. Handlers never see an unauthenticated or malformed request.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::endpoints::{self, Endpoint};
use super::error::ApiError;
use super::ratelimit::Decision;
use super::reply::Reply;
use super::request::{Cx, Req, percent_decode};
use super::{App, LiveSettings};
use crate::auth;
use crate::model::{ApiKey, Brand, BrandId, KeyId};
use crate::store::IdempotentReply;
use crate::time::Stopwatch;

const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;
/// `Retry-After` (seconds) on a 507/503 answer while the store cannot write: about how often
/// the store retries its writes while it recovers.
const STORE_UNAVAILABLE_RETRY_AFTER_S: u32 = 5;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn not_found(State(app): State<Arc<App>>) -> Response {
    let watch = Stopwatch::start();
    let rid = new_request_id();
    let response = error_response(&ApiError::NotFound("Resource"), &rid, None);
    finish(response, &rid, None, &app, "unknown", watch)
}

pub async fn entry(
    State(app): State<Arc<App>>,
    Path(action): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let rid = new_request_id();
    let endpoint = endpoints::find(action.trim_end_matches('/'));
    let route = endpoint.map(|e| e.name).unwrap_or("unknown");
    let mut rate = None;
    let outcome = handle(&app, &action, endpoint, method, &headers, query, body, &mut rate).await;
    let response = match outcome {
        Ok((reply, replayed)) => {
            let mut r = (reply.status, axum::Json(reply.body)).into_response();
            if replayed {
                r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            r
        }
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(request_id = %rid, route, error = %detail, "internal error");
            }
            error_response(&e, &rid, endpoint)
        }
    };
    finish(response, &rid, rate, &app, route, watch)
}

pub(super) fn finish(
    mut r: Response,
    rid: &str,
    rate: Option<Decision>,
    app: &App,
    route: &str,
    watch: Stopwatch,
) -> Response {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert(REQUEST_ID, v);
    }
    if let Some(d) = rate {
        h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(d.reset_epoch_s));
        if !d.allowed {
            h.insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after_s));
        }
    }
    app.metrics.observe_request(route, r.status().as_u16(), watch.elapsed_secs());
    r
}

fn error_response(e: &ApiError, rid: &str, endpoint: Option<&Endpoint>) -> Response {
    let mut r = (e.status(), axum::Json(e.body(rid))).into_response();
    error_headers(e, &mut r);
    if let (ApiError::MethodNotAllowed(_), Some(ep)) = (e, endpoint) {
        let allow = ep.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        if let Ok(v) = HeaderValue::from_str(&allow) {
            r.headers_mut().insert(header::ALLOW, v);
        }
    }
    r
}

/// The headers an error's answer carries whatever its body's dialect: `Connection: close`
/// after a 413, `Retry-After` while the store cannot write or a queue is full.
pub(crate) fn error_headers(e: &ApiError, r: &mut Response) {
    if let ApiError::TooLarge(_) = e {
        // The rest of the body is left unread and the connection is closed after this answer
        // (lingering, so a client still sending reads it: see `server`): say so, or a client
        // reuses the dead connection for its next request.
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let ApiError::Unavailable { .. } = e {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(STORE_UNAVAILABLE_RETRY_AFTER_S));
    }
    if let ApiError::Busy(_) = e {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u32));
    }
}

/// The 404 for an action name no endpoint has, naming the closest one when it is close
/// enough to be a typo (`add_interval_schedul`, `get_execution_paginated`).
fn unknown_action(action: &str) -> ApiError {
    let action = action.trim_end_matches('/');
    let suggestion = endpoints::ENDPOINTS
        .iter()
        .map(|e| (strsim::jaro_winkler(action, e.name), e.name))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name);
    // The name is echoed, so keep it short and printable.
    let shown: String = action.chars().filter(|c| !c.is_control()).take(64).collect();
    ApiError::UnknownAction { action: shown, suggestion }
}

pub(super) fn new_request_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    app: &Arc<App>,
    action: &str,
    endpoint: Option<&'static Endpoint>,
    method: Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
    rate: &mut Option<Decision>,
) -> Result<(Reply, bool), ApiError> {
    let endpoint = endpoint.ok_or_else(|| unknown_action(action))?;
    let live = app.live();
    let now = app.clock.now_ms();
    let (brand, key_id) = authenticate(app, headers)?;
    admit(app, key_id, &live, now, rate)?;

    if !endpoint.methods.contains(&method) {
        let allowed = endpoint.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(" or ");
        return Err(ApiError::MethodNotAllowed(allowed));
    }
    let raw = read_body(headers, body, &live).await?;
    let req = Req {
        body: parse_body(&raw, &live)?,
        query: parse_query(query.as_deref()),
        from_query: endpoint.reads_query(),
    };
    let cx = Cx { app: app.clone(), brand, key_id, now, page_size: live.api.page_size };

    // A change may seal values (secrets, signing keys): it holds the vault's sealing guard
    // until its records are committed, so a master-key rotation never misses one.
    let vault = app.vault.clone();
    let _sealing = if endpoint.mutating { Some(vault.sealing().await) } else { None };
    let idem_key = headers.get("idempotency-key").map(|v| v.to_str().map(str::to_string));
    match idem_key {
        Some(key) if endpoint.mutating => {
            let key = key.map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
            if key.is_empty() || key.len() > IDEMPOTENCY_KEY_CHARS_MAX {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    format!("must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} characters"),
                ));
            }
            idempotent(cx, endpoint, req, &key, &raw, live.api.idempotency_ttl_seconds).await
        }
        _ => (endpoint.op.run)(cx, req).await.map(|r| (r, false)),
    }
}

/// Runs the endpoint `action` for an already authenticated `brand` and key exactly as
/// `/v1/api/<action>/` does after its key check: the same typed input reading and validation
/// (`input` is the JSON object the request would carry: the body of a `POST` endpoint, or the
/// query parameters of a `GET` one, each value as its text), the same brand scoping, the
/// vault's sealing guard for a change. The dashboard's one way to read or change anything.
/// The rate limit is taken once per dashboard request with [`admit_key`], not per call.
/// Errors: the endpoint's own [`ApiError`]s; an unknown action is `UnknownAction`.
pub(crate) async fn call(
    app: &Arc<App>,
    brand: Brand,
    key_id: KeyId,
    action: &str,
    input: Value,
) -> Result<Reply, ApiError> {
    let endpoint = endpoints::find(action).ok_or_else(|| unknown_action(action))?;
    let Value::Object(fields) = input else {
        return Err(ApiError::BadBody(Some("expected a JSON object".into())));
    };
    let live = app.live();
    let req = if endpoint.reads_query() {
        let query = fields
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        Req { body: Map::new(), query, from_query: true }
    } else {
        Req { body: fields, query: Vec::new(), from_query: false }
    };
    let cx = Cx { app: app.clone(), brand, key_id, now: app.clock.now_ms(), page_size: live.api.page_size };
    let vault = app.vault.clone();
    let _sealing = if endpoint.mutating { Some(vault.sealing().await) } else { None };
    (endpoint.op.run)(cx, req).await
}

/// The per-key rate limit and last-use record of [`admit`] for a caller outside `/v1/api/` (one
/// dashboard request). Errors: `RateLimited`.
pub(crate) fn admit_key(app: &App, key_id: KeyId) -> Result<(), ApiError> {
    let mut rate = None;
    admit(app, key_id, &app.live(), app.clock.now_ms(), &mut rate)
}

/// Runs a mutating call at most once per (brand, Idempotency-Key) within the TTL and replays
/// the first successful answer. Concurrent duplicates get 409 while the first is running.
async fn idempotent(
    cx: Cx,
    endpoint: &Endpoint,
    req: Req,
    key: &str,
    raw: &[u8],
    ttl_s: u64,
) -> Result<(Reply, bool), ApiError> {
    let app = cx.app.clone();
    let brand = cx.brand.id;
    let key_hash = auth::sha256(key.as_bytes());
    let request_hash = fingerprint(&app, &req, raw);
    let now = cx.now;
    if let Some(prev) = app.store.get_idempotent(brand, &key_hash)?
        && prev.created_ms + (ttl_s as i64) * 1000 > now
    {
        if prev.action != endpoint.name || prev.request_hash != request_hash {
            return Err(ApiError::conflict("Idempotency-Key was already used for a different request"));
        }
        let status = StatusCode::from_u16(prev.status).unwrap_or(StatusCode::OK);
        let body = stored_answer(&prev.body)?;
        return Ok((Reply { status, body }, true));
    }
    let slot = (brand, key_hash);
    if !app.idempotency_in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(slot) {
        return Err(ApiError::conflict("A request with this Idempotency-Key is still in progress"));
    }
    // Frees the slot however the call ends (also when the client goes away mid-call).
    struct InFlight<'a>(&'a App, (BrandId, [u8; 32]));
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.idempotency_in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
        }
    }
    let _in_flight = InFlight(&app, slot);
    let result = (endpoint.op.run)(cx, req).await;
    if let Ok(reply) = &result
        && reply.status.is_success()
    {
        let rec = IdempotentReply {
            action: endpoint.name.to_string(),
            request_hash,
            status: reply.status.as_u16(),
            body: reply.body.to_string(),
            created_ms: now,
        };
        if let Err(e) = app.store.put_idempotent(brand, key_hash, rec).await {
            tracing::warn!(error = %e, "could not record an idempotent answer");
        }
    }
    result.map(|r| (r, false))
}

/// Fields whose values are secrets: in a request's fingerprint only as a keyed digest (the
/// vault's key), so the stored idempotency record holds nothing a short secret could be
/// guessed from, and a retry with the same key but another secret value is still "a
/// different request" (409), not a silent replay of the first.
const SECRET_FIELDS: &[&str] = &["secret_value", "value"];

/// What identifies "the same request" for an Idempotency-Key: the body, secrets digested.
fn fingerprint(app: &App, req: &Req, raw: &[u8]) -> [u8; 32] {
    if SECRET_FIELDS.iter().any(|f| req.body.contains_key(*f)) {
        let mut body = req.body.clone();
        for f in SECRET_FIELDS {
            if let Some(v) = body.get_mut(*f) {
                let digest = app.vault.keyed_digest("idempotency fingerprint", v.to_string().as_bytes());
                *v = Value::String(digest.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
        return auth::sha256(Value::Object(body).to_string().as_bytes());
    }
    auth::sha256(raw)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty())
}

/// Checks `x-hookpulse-api-key` + `x-brand-uuid`: the key must exist, be unrevoked and belong
/// to that brand. Every failure is a 401 that reveals nothing about which part was wrong
/// beyond the documented messages.
fn authenticate(app: &App, headers: &HeaderMap) -> Result<(Brand, KeyId), ApiError> {
    let presented = header_str(headers, "x-hookpulse-api-key")
        .ok_or(ApiError::Unauthorized("Missing API key: send it in the x-hookpulse-api-key header"))?;
    let brand_raw = header_str(headers, "x-brand-uuid")
        .ok_or(ApiError::Unauthorized("Missing brand UUID: send it in the x-brand-uuid header"))?;
    authenticate_pair(app, brand_raw, presented)
}

/// The key check of [`authenticate`] for a brand UUID and an API key given some other way (the
/// dashboard's sign-in form): the same 401s.
pub(crate) fn authenticate_pair(app: &App, brand_raw: &str, presented: &str) -> Result<(Brand, KeyId), ApiError> {
    let brand_id = BrandId::parse(brand_raw).ok_or(ApiError::Unauthorized("Invalid brand UUID"))?;
    let key = api_key(app, presented)?;
    if key.brand != brand_id {
        return Err(ApiError::Unauthorized("Authentication failed"));
    }
    let brand = app.store.get_brand(brand_id)?.ok_or(ApiError::Unauthorized("Invalid brand UUID"))?;
    Ok((brand, key.id))
}

/// The unrevoked API key `presented` is: 401 `Invalid API key` for an unknown or a revoked key
/// alike. The one key check of both schemes (`x-hookpulse-api-key` here, `Authorization:
/// Bearer` in the Hook0 dialect).
pub(super) fn api_key(app: &App, presented: &str) -> Result<ApiKey, ApiError> {
    app.store
        .find_key_by_hash(&auth::sha256(presented.as_bytes()))?
        .filter(|k| auth::verify(presented, k) && k.revoked_ms.is_none())
        .ok_or(ApiError::Unauthorized("Invalid API key"))
}

/// The per-key rate limit (`api.rate_limit_per_minute`; its decision goes to `rate` for the
/// `X-RateLimit-*` headers) and the key's last use. Shared with the Hook0 dialect.
pub(super) fn admit(
    app: &App,
    key_id: KeyId,
    live: &LiveSettings,
    now: crate::time::Millis,
    rate: &mut Option<Decision>,
) -> Result<(), ApiError> {
    if live.api.rate_limit_per_minute > 0 {
        let d = app.rate.check(key_id, live.api.rate_limit_per_minute, now);
        *rate = Some(d);
        if !d.allowed {
            return Err(ApiError::RateLimited);
        }
    }
    app.key_usage.lock().unwrap_or_else(|e| e.into_inner()).insert(key_id, now);
    Ok(())
}

pub(super) async fn read_body(headers: &HeaderMap, body: Body, live: &LiveSettings) -> Result<bytes::Bytes, ApiError> {
    let limit = live.api.body_bytes_max;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (limit + OVERSIZED_BODY_DRAIN_BYTES_MAX) as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let raw = read_limited(body, limit).await?;
    if !raw.iter().all(u8::is_ascii_whitespace)
        && let Some(ct) = header_str(headers, "content-type")
    {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    Ok(raw)
}

/// How much of an oversized body is still read, and dropped, before the 413 answer (a body
/// declared larger than the limit plus this is refused unread). Either way the connection then
/// closes with a lingering close (`server`), which keeps reading what the client still sends
/// for a bounded time, so the client reads its 413 instead of a reset.
const OVERSIZED_BODY_DRAIN_BYTES_MAX: usize = 1024 * 1024;

/// The body, if it has at most `limit` bytes. A longer one is read on (and dropped) up to
/// [`OVERSIZED_BODY_DRAIN_BYTES_MAX`] more, then refused with 413.
pub(super) async fn read_limited(mut body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use axum::body::HttpBody;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while seen <= limit + OVERSIZED_BODY_DRAIN_BYTES_MAX {
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = next else { break };
        let Ok(frame) = frame else {
            return Err(if seen > limit {
                ApiError::TooLarge(limit)
            } else {
                ApiError::BadBody(Some("the request body could not be read".into()))
            });
        };
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= limit {
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        return Err(ApiError::TooLarge(limit));
    }
    Ok(buf.freeze())
}

/// An answer kept for an `Idempotency-Key`, read back for the replay. It is our own JSON, as
/// deep as the answer was, so serde_json's 127-level limit does not apply; its depth is
/// checked on the bytes first, so a damaged one cannot exhaust the stack.
fn stored_answer(text: &str) -> Result<Value, ApiError> {
    const DEPTH_MAX: usize = 256;
    if crate::model::json_depth(text.as_bytes(), DEPTH_MAX) > DEPTH_MAX {
        return Err(ApiError::Internal(format!("a kept answer nests more than {DEPTH_MAX} levels")));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let v = serde::Deserialize::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    v.map_err(|e| ApiError::Internal(e.to_string()))
}

pub(super) fn parse_body(raw: &[u8], live: &LiveSettings) -> Result<Map<String, Value>, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let depth = crate::model::json_depth(raw, usize::MAX);
    if depth > live.api.json_depth_max {
        return Err(ApiError::BadBody(Some(format!(
            "JSON nested {depth} levels deep; the limit is {}",
            live.api.json_depth_max
        ))));
    }
    let duplicate = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(raw);
    // The depth is bounded above; serde_json's own limit (127 levels) would refuse a body as
    // deep as `api.json_depth_max` allows (128) as "recursion limit exceeded" instead.
    de.disable_recursion_limit();
    let parsed = serde::de::DeserializeSeed::deserialize(NoDuplicateKeys(&duplicate), &mut de).and_then(|v| {
        de.end()?;
        Ok(v)
    });
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::BadBody(Some("expected a JSON object".into()))),
        Err(e) => match duplicate.into_inner() {
            Some(key) => Err(ApiError::invalid(&key, "given more than once in the body")),
            None => Err(ApiError::BadBody(Some(json_syntax_error(&e)))),
        },
    }
}

/// `not valid JSON: <what> at line L, column C` for a body serde_json could not read. Only the
/// kind of error is named, never the text around it (a body may hold a secret).
fn json_syntax_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "the body ends early".to_string(),
        serde_json::error::Category::Syntax => {
            // serde_json's messages ("expected `,` or `}`", "trailing comma", "invalid escape",
            // "control character (\\u0000-\\u001F) found while parsing a string") never quote
            // the input; its Display adds the position, which is given below instead.
            let full = e.to_string();
            match full.rsplit_once(" at line ") {
                Some((msg, _)) => msg.to_string(),
                None => full,
            }
        }
        serde_json::error::Category::Io | serde_json::error::Category::Data => "unreadable value".to_string(),
    };
    format!("not valid JSON: {what} at line {}, column {}", e.line(), e.column())
}

/// Reads a JSON value like `serde_json::Value` does, but refuses an object that names a key
/// twice (RFC 8259 leaves the meaning open; serde_json keeps the last, a proxy in front may
/// keep the first): the key is recorded in the cell and the read fails.
struct NoDuplicateKeys<'a>(&'a std::cell::RefCell<Option<String>>);

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicateKeys<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(NoDuplicateKeys(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let e = serde::de::Error::custom(format!("duplicate key {key:?}"));
                *self.0.borrow_mut() = Some(key);
                return Err(e);
            }
            let v = map.next_value_seed(NoDuplicateKeys(self.0))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The decoded `name=value` pairs of a query string, in order (duplicates kept: the input
/// reader refuses them).
pub(super) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}
