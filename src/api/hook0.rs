//! The Hook0 dialect (product.md §10; Hook0's API reference, "Events"): `POST /api/v1/events`,
//! `POST /api/v1/events/batch`, `GET /api/v1/events` and `GET /api/v1/events/{event_id}`, so
//! an application written against Hook0 moves over by changing its base URL.
//!
//! Thin routes onto the same operations as the native API: the caller is the API key of
//! `Authorization: Bearer <key>` (the key check and the per-key rate limit of
//! `super::dispatch`), each event is read as a `send_event` input and goes through
//! `events::publish_input` (one rule set, one routing path), the log is the event store read
//! by cursor (`Store::events_before`). Only the shapes are Hook0's: the answers and the error
//! body `{"error": {type, message, code, details, request_id}}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::events::{SendEvent, publish_input};
use super::fields::{InstantText, Int, Line, List};
use super::ratelimit::Decision;
use super::request::Req;
use super::{App, LiveSettings, dispatch};
use crate::events::route::EVENT_TYPE_CHARS_MAX;
use crate::model::{Brand, Event, EventId, EventStatus, ExecutionId, ExecutionStatus};
use crate::store::EventFilter;
use crate::time::{Millis, Stopwatch, format_utc};

/// Most events in one `POST /api/v1/events/batch` (Hook0's documented limit, "API Limits and
/// Guidelines"); the whole body is still bounded by `api.body_bytes_max`.
pub const BATCH_EVENTS_MAX: usize = 100;
/// Page size of `GET /api/v1/events` when `limit` is absent (Hook0's default).
pub const LIST_LIMIT_DEFAULT: usize = 20;
/// Largest `limit` (Hook0's maximum).
pub const LIST_LIMIT_MAX: i64 = 100;
/// Longest `cursor` text (ours are 22 characters: an event id in URL-safe base64).
const CURSOR_CHARS_MAX: usize = 64;
/// Longest `application_id` (accepted and ignored: the brand is the API key's).
pub const APPLICATION_ID_CHARS_MAX: usize = 256;
/// The cursors [`cursor_of`] gives: 16 bytes in URL-safe base64 without padding, so 22
/// characters whose last holds 2 bits (the base64 crate refuses other trailing bits).
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{21}[AQgw]$";

/// `POST /api/v1/events/batch`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Up to [`BATCH_EVENTS_MAX`] events, each a `send_event` body; each is checked on its own.
    pub events: List<Value, BATCH_EVENTS_MAX>,
}

/// `GET /api/v1/events`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Events per page, 1–100 (default 20).
    pub limit: Option<Int<1, LIST_LIMIT_MAX>>,
    /// The `pagination.next_cursor` of the previous page.
    pub cursor: Option<Line<CURSOR_CHARS_MAX>>,
    /// Only events whose type matches this pattern (`*` wildcards; a plain type is exact).
    pub event_type: Option<Line<EVENT_TYPE_CHARS_MAX>>,
    /// Received at or after this instant (RFC 3339).
    pub since: Option<InstantText>,
    /// Received before this instant (RFC 3339).
    #[schemars(extend("x-not-before-field" = "since"))]
    pub until: Option<InstantText>,
    /// Hook0's application filter: accepted and ignored (a brand is one application).
    #[allow(dead_code, reason = "accepted so that Hook0 clients may send it; never read")]
    pub application_id: Option<Line<APPLICATION_ID_CHARS_MAX>>,
}

/// The authenticated caller of a Hook0 route.
struct Caller {
    brand: Brand,
    live: LiveSettings,
    now: Millis,
}

type Answer = Result<(StatusCode, Value), ApiError>;

/// `ANY /api/v1/events`: `POST` publishes one event, `GET` lists events.
pub async fn events(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let route = if method == Method::GET { "hook0_list_events" } else { "hook0_send_event" };
    let (app, headers) = (&app, &headers);
    serve(app, route, headers, |c| async move {
        match method {
            Method::POST => send(app, &c, read(headers, query, body, &c.live, false).await?, false).await,
            Method::GET => list(app, &c, read(headers, query, Body::empty(), &c.live, true).await?),
            _ => Err(ApiError::MethodNotAllowed("GET or POST".into())),
        }
    })
    .await
}

/// `ANY /api/v1/event`: Hook0's ingestion path (singular), `POST` only, the same as
/// `POST /api/v1/events`.
pub async fn event_singular(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let (app, headers) = (&app, &headers);
    serve(app, "hook0_send_event", headers, |c| async move {
        match method {
            Method::POST => send(app, &c, read(headers, query, body, &c.live, false).await?, true).await,
            _ => Err(ApiError::MethodNotAllowed("POST".into())),
        }
    })
    .await
}

/// `ANY /api/v1/events/batch`: `POST` publishes up to [`BATCH_EVENTS_MAX`] events.
pub async fn batch(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let (app, headers) = (&app, &headers);
    serve(app, "hook0_send_events_batch", headers, |c| async move {
        match method {
            Method::POST => send_batch(app, &c, read(headers, query, body, &c.live, false).await?).await,
            _ => Err(ApiError::MethodNotAllowed("POST".into())),
        }
    })
    .await
}

/// `ANY /api/v1/events/{event_id}`: `GET` shows one event with its delivery counts.
pub async fn event(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let app = &app;
    serve(app, "hook0_get_event", &headers, |c| async move {
        if method != Method::GET {
            return Err(ApiError::MethodNotAllowed("GET".into()));
        }
        if let Some((name, _)) = dispatch::parse_query(query.as_deref()).first() {
            return Err(ApiError::UnknownField { field: name.clone(), suggestion: None });
        }
        let id = uuid::Uuid::parse_str(id.trim_end_matches('/'))
            .map_err(|_| ApiError::invalid("event_id", "expected a UUID"))?;
        show(app, &c, EventId(id))
    })
    .await
}

/// Authentication, the per-key rate limit, the operation, the answer in Hook0's shapes, and
/// the request's id, rate-limit headers and metrics.
async fn serve<F, Fut>(app: &Arc<App>, route: &'static str, headers: &HeaderMap, op: F) -> Response
where
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Answer>,
{
    let watch = Stopwatch::start();
    let rid = dispatch::new_request_id();
    let mut rate: Option<Decision> = None;
    let outcome = async {
        let live = app.live();
        let now = app.clock.now_ms();
        let presented = bearer(headers)?;
        let key = dispatch::api_key(app, presented)?;
        let brand = app.store.get_brand(key.brand)?.ok_or(ApiError::Unauthorized("Invalid API key"))?;
        dispatch::admit(app, key.id, &live, now, &mut rate)?;
        op(Caller { brand, live, now }).await
    }
    .await;
    let response = match outcome {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(request_id = %rid, route, error = %detail, "internal error");
            }
            let mut r = (e.status(), axum::Json(error_body(&e, &rid))).into_response();
            dispatch::error_headers(&e, &mut r);
            match &e {
                ApiError::Unauthorized(_) => {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                ApiError::MethodNotAllowed(allowed) => {
                    if let Ok(v) = HeaderValue::from_str(&allowed.replace(" or ", ", ")) {
                        r.headers_mut().insert(header::ALLOW, v);
                    }
                }
                _ => {}
            }
            r
        }
    };
    dispatch::finish(response, &rid, rate, app, route, watch)
}

/// The key of `Authorization: Bearer <key>` (the scheme's name in any case, RFC 9110 §11.1).
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    const MISSING: &str = "Missing API key: send it as Authorization: Bearer <api key>";
    let value = headers.get(header::AUTHORIZATION).ok_or(ApiError::Unauthorized(MISSING))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("Invalid API key"))?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized(MISSING))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthorized(MISSING));
    }
    Ok(token)
}

/// The request's typed input, read exactly as the native API reads its own (`Req::input`):
/// the body limit, JSON content type, depth and duplicate-key checks of `super::dispatch`; a
/// query parameter on a body route is an unknown field.
async fn read(
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
    live: &LiveSettings,
    from_query: bool,
) -> Result<Req, ApiError> {
    let body = if from_query {
        Map::new()
    } else {
        dispatch::parse_body(&dispatch::read_body(headers, body, live).await?, live)?
    };
    Ok(Req { body, query: dispatch::parse_query(query.as_deref()), from_query })
}

/// The `payload_content_type`s of Hook0's ingestion API, and the one this dialect routes.
const PAYLOAD_TYPES: &[&str] = &["application/json", "text/plain", "application/octet-stream+base64"];

/// One event of a Hook0 body as a `send_event` input. Hook0's own fields are read first:
/// `application_id` (a string of at most [`APPLICATION_ID_CHARS_MAX`] characters, dropped),
/// `occurred_at` (RFC 3339, checked and dropped: events are ordered by when they arrived) and
/// `payload_content_type` with a `payload` given as a string (Hook0's ingestion format):
/// `application/json` is parsed as the payload; text and binary payloads are refused (400
/// naming the field) — an ingest URL takes those.
fn event_input(mut body: Map<String, Value>) -> Result<SendEvent, ApiError> {
    if let Some(t) = body.remove("occurred_at")
        && !t.is_null()
    {
        let text = t.as_str().ok_or_else(|| ApiError::invalid("occurred_at", "expected an RFC 3339 date-time"))?;
        crate::schedule::clocked::parse_instant(text, "UTC").map_err(|why| ApiError::invalid("occurred_at", why))?;
    }
    match body.remove("payload_content_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == PAYLOAD_TYPES[0] => {
            if let Some(Value::String(text)) = body.get("payload") {
                let parsed: Value = serde_json::from_str(text).map_err(|_| {
                    ApiError::invalid(
                        "payload",
                        "payload_content_type is application/json but payload is not JSON text",
                    )
                })?;
                body.insert("payload".into(), parsed);
            }
        }
        Some(Value::String(t)) if PAYLOAD_TYPES.contains(&t.as_str()) => {
            return Err(ApiError::invalid(
                "payload_content_type",
                "only application/json payloads are published here; send text or binary bodies to a source's ingest URL",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "payload_content_type",
                format!("expected one of {}", PAYLOAD_TYPES.join(", ")),
            ));
        }
    }
    match body.remove("application_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.chars().count() <= APPLICATION_ID_CHARS_MAX => {}
        Some(Value::String(_)) => {
            return Err(ApiError::invalid("application_id", format!("at most {APPLICATION_ID_CHARS_MAX} characters")));
        }
        Some(_) => return Err(ApiError::invalid("application_id", "expected a string")),
    }
    super::input::from_body(body)
}

/// When the event `id` was received (the first event of a duplicate; `now` if it is gone).
fn created_at(app: &App, c: &Caller, id: EventId) -> Result<String, ApiError> {
    Ok(format_utc(app.store.get_event(c.brand.id, id)?.map_or(c.now, |e| e.received_ms)))
}

/// `POST /api/v1/events`: `201 {"event_id", "status": "accepted", "created_at"}`; a repeated
/// `event_id` is `200` with the first event's id and `"status": "duplicate"`.
async fn send(app: &Arc<App>, c: &Caller, req: Req, ingestion_path: bool) -> Answer {
    if let Some((name, _)) = req.query.first() {
        return Err(ApiError::UnknownField { field: name.clone(), suggestion: None });
    }
    let (id, duplicate, _) = publish_input(app, &c.brand.id, event_input(req.body)?, c.now).await?;
    let (status, word, created_at) = if duplicate {
        (StatusCode::OK, "duplicate", created_at(app, c, id)?)
    } else {
        (StatusCode::CREATED, "accepted", format_utc(c.now))
    };
    let mut answer = json!({"event_id": id.to_string(), "status": word, "created_at": created_at});
    // Hook0's ingestion path answers the instant as `received_at`.
    if ingestion_path {
        answer["received_at"] = answer["created_at"].clone();
    }
    Ok((status, answer))
}

/// The outcome of one event of a batch.
fn batch_result(outcome: &Result<(EventId, bool, usize), ApiError>) -> Value {
    match outcome {
        Ok((id, duplicate, _)) => {
            json!({"event_id": id.to_string(), "status": if *duplicate { "duplicate" } else { "accepted" }})
        }
        Err(e) => json!({"event_id": Value::Null, "status": "rejected", "error": error_detail(e)}),
    }
}

/// `POST /api/v1/events/batch`: each event is checked and published on its own, all of them
/// at once, so their writes share group commits (`join_in_order`). The answer lists each
/// event's `event_id` and `status` (`accepted`, `duplicate` or `rejected` with an `error`
/// naming the field) in the batch's order: 201 when at least one event was accepted, else 200.
async fn send_batch(app: &Arc<App>, c: &Caller, req: Req) -> Answer {
    let batch: Batch = req.input()?;
    let brand = c.brand.id;
    let now = c.now;
    let runs = batch.events.0.into_iter().enumerate().map(|(i, v)| {
        let app = app.clone();
        async move {
            let at = format!("events[{i}]");
            let outcome = match v {
                Value::Object(m) => match event_input(m) {
                    Ok(input) => publish_input(&app, &brand, input, now).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| e.within(&at)),
                _ => Err(ApiError::invalid(&at, "expected a JSON object")),
            };
            (i, outcome)
        }
    });
    let outcomes = join_in_order(runs.collect()).await;
    let (mut accepted, mut duplicates, mut rejected) = (0usize, 0usize, 0usize);
    let mut results = Vec::with_capacity(outcomes.len());
    for (i, outcome) in outcomes {
        match &outcome {
            Ok((_, false, _)) => accepted += 1,
            Ok((_, true, _)) => duplicates += 1,
            Err(e) => {
                rejected += 1;
                if let ApiError::Internal(detail) = e {
                    tracing::error!(route = "hook0_send_events_batch", index = i, error = %detail, "internal error");
                }
            }
        }
        results.push(batch_result(&outcome));
    }
    let status = if accepted > 0 { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, json!({"events": results, "total_accepted": accepted + duplicates, "total_rejected": rejected})))
}

/// Runs `futs` together on the calling task and returns their outputs in their order. Each is
/// first polled in its turn, so what they do before their first wait (drawing an event id,
/// queueing their write) happens in order too.
async fn join_in_order<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// The opaque cursor of the page after event `id`: its 16 bytes in URL-safe base64.
pub fn cursor_of(id: uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The event id a cursor stands for; 400 naming `cursor` for anything this API did not give.
fn cursor_id(s: &str) -> Result<uuid::Uuid, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()
        .and_then(|b| uuid::Uuid::from_slice(&b).ok())
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API gave (use pagination.next_cursor)"))
}

/// `GET /api/v1/events`: accepted events, newest first, `limit` per page, paged by cursor.
fn list(app: &App, c: &Caller, req: Req) -> Answer {
    let q: ListQuery = req.input()?;
    let filter = EventFilter {
        source: None,
        event_type: q.event_type.map(|t| t.0),
        status: Some(EventStatus::Accepted),
        from_ms: InstantText::utc_millis_of(q.since.as_ref(), "since")?,
        to_ms: InstantText::utc_millis_of(q.until.as_ref(), "until")?,
    };
    if let (Some(since), Some(until)) = (filter.from_ms, filter.to_ms)
        && until < since
    {
        return Err(ApiError::invalid("until", "must not be before since"));
    }
    let cursor = q.cursor.map(|s| cursor_id(&s.0)).transpose()?;
    let limit = q.limit.map_or(LIST_LIMIT_DEFAULT, |l| l.get() as usize);
    let (items, next) = app.store.events_before(c.brand.id, cursor, limit, &filter)?;
    Ok((
        StatusCode::OK,
        json!({
            "data": items.iter().map(item).collect::<Vec<_>>(),
            "pagination": {"next_cursor": next.map(cursor_of), "has_more": next.is_some()},
        }),
    ))
}

/// An event in Hook0's shape. `processed_at` is when it was routed: in the commit that stored
/// it, so the same instant unless a replay routed it again later (then the latest).
fn item(e: &Event) -> Value {
    let processed = e.routes.iter().map(|r| r.routed_ms).max().unwrap_or(e.received_ms);
    json!({
        "id": e.id.to_string(),
        "event_type": e.event_type,
        "payload": e.body,
        "labels": e.labels,
        "created_at": format_utc(e.received_ms),
        "processed_at": format_utc(processed),
    })
}

/// `GET /api/v1/events/{event_id}`: the event with `delivery_stats` over its executions: every
/// attempt made, executions that succeeded, that ended otherwise (failed, cancelled), and that
/// are still to run or retry. Routes without an execution (a debounce trigger, a failed
/// transform) are not deliveries; executions removed by retention are no longer counted.
fn show(app: &App, c: &Caller, id: EventId) -> Answer {
    let e = app
        .store
        .get_event(c.brand.id, id)?
        .filter(|e| e.status == EventStatus::Accepted)
        .ok_or(ApiError::NotFound("Event"))?;
    let ids: Vec<ExecutionId> = e.routes.iter().filter_map(|r| r.execution).collect();
    let executions = app.store.executions_by_id(c.brand.id, &ids)?;
    let (mut attempts, mut succeeded, mut failed, mut pending) = (0usize, 0usize, 0usize, 0usize);
    for x in executions.iter().flatten() {
        attempts += x.attempts.len();
        match x.status {
            ExecutionStatus::Succeeded => succeeded += 1,
            ExecutionStatus::Pending | ExecutionStatus::Running => pending += 1,
            _ => failed += 1,
        }
    }
    let mut v = item(&e);
    if let Value::Object(m) = &mut v {
        m.insert(
            "delivery_stats".into(),
            json!({
                "total_attempts": attempts,
                "successful_deliveries": succeeded,
                "failed_deliveries": failed,
                "pending_deliveries": pending,
            }),
        );
    }
    Ok((StatusCode::OK, v))
}

/// The field an error names, if it names one.
fn field_of(e: &ApiError) -> Option<&str> {
    match e {
        ApiError::Missing(f) | ApiError::Invalid { field: f, .. } | ApiError::UnknownField { field: f, .. } => {
            Some(f.as_str())
        }
        _ => None,
    }
}

/// Every `type` of a Hook0 error body ([`kind_of`]).
pub const ERROR_TYPES: &[&str] = &[
    "validation_error",
    "authentication_error",
    "not_found",
    "invalid_request",
    "conflict",
    "rate_limit_error",
    "service_unavailable",
    "internal_error",
];
/// Every `code` of a Hook0 error body ([`kind_of`]).
pub const ERROR_CODES: &[&str] = &[
    "MISSING_PARAMETER",
    "INVALID_PARAMETER",
    "INVALID_BODY",
    "UNSUPPORTED_MEDIA_TYPE",
    "PAYLOAD_TOO_LARGE",
    "UNAUTHORIZED",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "CONFLICT",
    "RATE_LIMIT_EXCEEDED",
    "STORE_UNAVAILABLE",
    "INTERNAL_ERROR",
];

/// Hook0's `type` and `code` of an error (one of [`ERROR_TYPES`], one of [`ERROR_CODES`]).
fn kind_of(e: &ApiError) -> (&'static str, &'static str) {
    match e {
        ApiError::Missing(_) => ("validation_error", "MISSING_PARAMETER"),
        ApiError::Invalid { .. } | ApiError::UnknownField { .. } => ("validation_error", "INVALID_PARAMETER"),
        ApiError::BadBody(_) => ("validation_error", "INVALID_BODY"),
        ApiError::UnsupportedMediaType => ("validation_error", "UNSUPPORTED_MEDIA_TYPE"),
        ApiError::TooLarge(_) => ("validation_error", "PAYLOAD_TOO_LARGE"),
        ApiError::Unauthorized(_) => ("authentication_error", "UNAUTHORIZED"),
        ApiError::NotFound(_) | ApiError::NotFoundWith { .. } | ApiError::UnknownAction { .. } => {
            ("not_found", "NOT_FOUND")
        }
        ApiError::MethodNotAllowed(_) => ("invalid_request", "METHOD_NOT_ALLOWED"),
        ApiError::Conflict { .. } => ("conflict", "CONFLICT"),
        ApiError::RateLimited | ApiError::Busy(_) => ("rate_limit_error", "RATE_LIMIT_EXCEEDED"),
        ApiError::Unavailable { .. } => ("service_unavailable", "STORE_UNAVAILABLE"),
        ApiError::Internal(_) => ("internal_error", "INTERNAL_ERROR"),
    }
}

/// One event's error in a batch: `{type, code, message, field?}`.
fn error_detail(e: &ApiError) -> Value {
    let (kind, code) = kind_of(e);
    let mut v = json!({"type": kind, "code": code, "message": e.message()});
    if let (Some(field), Value::Object(m)) = (field_of(e), &mut v) {
        m.insert("field".into(), json!(field));
    }
    v
}

/// Hook0's error body (its reference, "Error Handling"): `{"error": {"type", "message",
/// "code", "details": [{"field", "message"}], "request_id"}}`. The message is the native
/// API's; `details` names the field when there is one.
pub fn error_body(e: &ApiError, request_id: &str) -> Value {
    let (kind, code) = kind_of(e);
    let details: Vec<Value> = field_of(e).map(|f| json!({"field": f, "message": e.message()})).into_iter().collect();
    json!({"error": {
        "type": kind,
        "message": e.message(),
        "code": code,
        "details": details,
        "request_id": request_id,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_hook0s_shape_and_name_their_field() {
        let e = ApiError::Missing("event_type".into());
        assert_eq!(
            error_body(&e, "r1"),
            json!({"error": {
                "type": "validation_error",
                "message": "Missing required field: event_type",
                "code": "MISSING_PARAMETER",
                "details": [{"field": "event_type", "message": "Missing required field: event_type"}],
                "request_id": "r1",
            }})
        );
        let e = ApiError::Unauthorized("Invalid API key");
        assert_eq!(error_body(&e, "r2")["error"]["code"], "UNAUTHORIZED");
        assert_eq!(error_body(&e, "r2")["error"]["details"], json!([]));
        let e = ApiError::invalid("payload", "expected a JSON object or array").within("events[3]");
        assert_eq!(
            error_detail(&e),
            json!({"type": "validation_error", "code": "INVALID_PARAMETER", "field": "events[3].payload",
                "message": "Invalid field value: events[3].payload (expected a JSON object or array)"})
        );
    }

    /// The document's enums of `type` and `code` hold every error's (a new `ApiError` variant
    /// must be added here, and to the lists if its kind is new).
    #[test]
    fn every_error_kind_is_in_the_documented_lists() {
        let all = [
            ApiError::Missing("f".into()),
            ApiError::invalid("f", "x"),
            ApiError::BadBody(None),
            ApiError::UnknownField { field: "f".into(), suggestion: None },
            ApiError::Unauthorized("Invalid API key"),
            ApiError::NotFound("Event"),
            ApiError::UnknownAction { action: "a".into(), suggestion: None },
            ApiError::NotFoundWith { what: "Event", key: "event_uuid", id: "x".into() },
            ApiError::MethodNotAllowed("GET".into()),
            ApiError::Conflict { message: "m".into(), extra: Map::new() },
            ApiError::TooLarge(1),
            ApiError::UnsupportedMediaType,
            ApiError::RateLimited,
            ApiError::Busy("b"),
            ApiError::Unavailable { disk_full: true },
            ApiError::Internal("i".into()),
        ];
        for e in &all {
            let (kind, code) = kind_of(e);
            assert!(ERROR_TYPES.contains(&kind), "{kind}");
            assert!(ERROR_CODES.contains(&code), "{code}");
        }
    }

    #[test]
    fn a_cursor_is_the_event_id_and_nothing_else_is_one() {
        for id in [uuid::Uuid::nil(), uuid::Uuid::max(), uuid::Uuid::now_v7()] {
            let c = cursor_of(id);
            let (head, last) = c.split_at(21);
            assert!(head.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'), "{c}");
            assert!("AQgw".contains(last), "{c} does not match CURSOR_PATTERN");
        }
        let id = uuid::Uuid::now_v7();
        let c = cursor_of(id);
        assert_eq!(c.len(), 22);
        assert_eq!(cursor_id(&c).expect("cursor"), id);
        for bad in ["", "abc", "!!!!", &cursor_of(id)[..21], "eyJpZCI6IjEyMyJ9"] {
            assert!(matches!(cursor_id(bad), Err(ApiError::Invalid { ref field, .. }) if field == "cursor"), "{bad}");
        }
    }

    #[test]
    fn the_bearer_key_is_read_from_the_authorization_header() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).expect("header"));
            h
        };
        assert_eq!(bearer(&with("Bearer hwk_abc")).ok(), Some("hwk_abc"));
        assert_eq!(bearer(&with("bearer  hwk_abc ")).ok(), Some("hwk_abc"));
        for bad in ["Basic aGk6aGk=", "Bearer", "Bearer ", "hwk_abc"] {
            assert!(matches!(bearer(&with(bad)), Err(ApiError::Unauthorized(_))), "{bad}");
        }
        assert!(matches!(bearer(&HeaderMap::new()), Err(ApiError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn join_in_order_keeps_the_order_of_its_futures_not_of_their_endings() {
        let futs: Vec<_> = (0..5u64)
            .map(|i| async move {
                for _ in 0..(5 - i) {
                    tokio::task::yield_now().await;
                }
                i
            })
            .collect();
        assert_eq!(join_in_order(futs).await, vec![0, 1, 2, 3, 4]);
    }
}
