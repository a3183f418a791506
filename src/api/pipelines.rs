//! Pipeline monitors (product.md §11; docs/api.md "Pipelines"): the stage-ping routes, the
//! PingPulse dialect's static and dynamic workflow routes, instance history and reruns, and
//! `get_pipeline_instances_paginated`. A pipeline is a monitor of kind `pipeline`
//! (`add_monitor` with `stages`); the decisions are `crate::monitor::pipeline`'s.
//!
//! - `GET|POST|HEAD /ping/<token>/stage/<stage>` and `/ping/<ping_key>/<slug>/stage/<stage>`:
//!   a stage ping (`<stage>` a listed stage's name or path). Plain-text answers as the other
//!   ping URLs: `OK`, `404 not found` (no such monitor or stage), `409` (strict mode refused
//!   the stage; recorded, or the monitor is a heartbeat; nothing written), `400` naming a
//!   field.
//! - `GET|POST /shk/{workflow_id}?stage=N`, `/dhk/{workflow_id}?stagePath=2.1` (with
//!   `start`, `final`, `stagename`, `agent`; `start=yes` on an unknown slug creates a dynamic,
//!   non-strict pipeline monitor with that slug), `GET /dhk/{workflow_id}/tree`,
//!   `GET /api/workflows/{workflow_id}/instances`, `GET /api/instances/{id}/timeline`,
//!   `POST /api/instances/{id}/rerun`: the PingPulse reference's shapes, keyed by the brand's
//!   ping key in `key` (as `super::pingpulse`).
//!
//! Stage pings may carry `model_id`, `tokens_in` (or `input_tokens`, or `usage.input_tokens`),
//! `tokens_out` (or `output_tokens`, `usage.output_tokens`) and `cost_usd`, in the query or a
//! JSON body (`cost_usd` 0 to 1,000,000, token counts 0 to 10^12; 400 naming the field); the
//! ping's fields that are not [`RESERVED_STAGE_FIELDS`] are kept with the stage event as its
//! payload (first 10 KiB). A malformed stage path is 400 naming `stage` / `stagePath`; a
//! brand has at most `pipeline::DYNAMIC_PIPELINES_PER_BRAND_MAX` dynamic pipelines (409).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::App;
use super::error::ApiError;
use super::fields::{Id, Int};
use super::monitors::{check_slug, insert_monitor, pipeline_placeholder_spec};
use super::pingpulse::{Fail, Params, answer, finish, only};
use super::reply::{ApiResult, PAGE_MAX, page_number, paginated};
use super::request::Cx;
use crate::model::{InstanceId, Monitor, MonitorId, MonitorKind, MonitorState, PING_BODY_BYTES_MAX};
use crate::monitor::pipeline::{
    self, Cost, Instance, InstanceStatus, Spec, Stage, StageEvent, StagePath, StagePing, compare_paths,
};
use crate::store::{PingTarget, PipelineChange, StageResult, StageWrite, dynamic_spec};
use crate::time::tz::format_in_zone;
use crate::time::{Millis, Stopwatch, format_utc};

/// Longest stage name, agent or model id, in characters.
pub const LABEL_CHARS_MAX: usize = 200;
/// Instances shown by `GET /api/workflows/{id}/instances` besides the running one.
const RECENT_INSTANCES: u64 = 10;
/// Longest path segment looked up.
const SEGMENT_CHARS_MAX: usize = 128;
/// Longest `payload_modifications` of a rerun kept, bytes.
const RERUN_PAYLOAD_BYTES_MAX: usize = 10 * 1024;

/// The schema of `stages`: names, or `{"name", "path", "timeout_seconds"}` objects.
pub fn stages_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["array", "null"],
        "minItems": 1,
        "maxItems": pipeline::STAGES_MAX,
        "x-stages-ordered": true,
        "items": {"anyOf": [
            {"type": "string", "minLength": 1, "maxLength": LABEL_CHARS_MAX, "pattern": "\\S"},
            {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "name": {"type": ["string", "null"], "maxLength": LABEL_CHARS_MAX, "pattern": "\\S", "description": "The stage's name (unique in the pipeline); a stage ping may name the stage by it."},
                    "path": {"type": ["string", "null"], "pattern": "^[1-9][0-9]{0,8}(\\.[1-9][0-9]{0,8}){0,7}$", "description": "A hierarchical stage path such as `2.1` (default: the stage's 1-based position)."},
                    "timeout_seconds": {"type": ["integer", "null"], "minimum": 1, "maximum": pipeline::TIMEOUT_SECONDS_MAX, "description": "The time allowed to reach this stage after the previous one, seconds (default: the pipeline's `timeout_seconds`)."}
                }
            }
        ]}
    })
}

fn label(field: &str, v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if s.chars().count() > LABEL_CHARS_MAX || s.chars().any(char::is_control) => {
            Err(ApiError::invalid(field, format!("1-{LABEL_CHARS_MAX} characters, no control characters")))
        }
        Value::String(s) => Ok(Some(s.trim().to_string())),
        _ => Err(ApiError::invalid(field, "a string is expected")),
    }
}

/// A listed stage's name: like [`label`], but a blank one is refused rather than dropped.
fn stage_name(field: &str, v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::String(s) if s.trim().is_empty() => Err(ApiError::invalid(field, "a stage name must not be blank")),
        _ => label(field, v),
    }
}

/// A pipeline spec from `add_monitor`'s / `update_monitor`'s fields; 400 naming the field.
pub fn spec_of(
    stages: Vec<Value>,
    strict: bool,
    timeout_seconds: Option<u32>,
    budget_per_instance_usd: Option<f64>,
    budget_per_day_usd: Option<f64>,
) -> Result<Spec, ApiError> {
    let mut out = Vec::with_capacity(stages.len());
    for (n, v) in stages.iter().enumerate() {
        let position = StagePath::nth(n as u32 + 1);
        let at = |f: &str| format!("stages[{n}].{f}");
        let stage = match v {
            Value::String(_) => {
                Stage { path: position, name: stage_name(&format!("stages[{n}]"), v)?, timeout_seconds: None }
            }
            Value::Object(o) => {
                const FIELDS: [&str; 3] = ["name", "path", "timeout_seconds"];
                if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                    return Err(ApiError::UnknownField {
                        field: format!("stages[{n}].{k}"),
                        suggestion: super::input::closest(k, &FIELDS),
                    });
                }
                let path = match o.get("path") {
                    None | Some(Value::Null) => position,
                    Some(Value::String(p)) => {
                        StagePath::parse(p).ok_or_else(|| ApiError::invalid(&at("path"), pipeline::PATH_SHAPE))?
                    }
                    Some(_) => return Err(ApiError::invalid(&at("path"), pipeline::PATH_SHAPE)),
                };
                let max = pipeline::TIMEOUT_SECONDS_MAX;
                let bad_timeout = || ApiError::invalid(&at("timeout_seconds"), format!("an integer, 1 to {max}"));
                let timeout = match o.get("timeout_seconds") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(t)) => {
                        Some(t.as_u64().and_then(|t| u32::try_from(t).ok()).ok_or_else(bad_timeout)?)
                    }
                    Some(_) => return Err(bad_timeout()),
                };
                Stage {
                    path,
                    name: stage_name(&at("name"), o.get("name").unwrap_or(&Value::Null))?,
                    timeout_seconds: timeout,
                }
            }
            _ => return Err(ApiError::invalid(&format!("stages[{n}]"), "each stage is a name or an object")),
        };
        out.push(stage);
    }
    let spec =
        Spec { stages: out, strict, dynamic: false, timeout_seconds, budget_per_instance_usd, budget_per_day_usd };
    spec.validate().map_err(|e| ApiError::invalid(&e.field, e.why))?;
    Ok(spec)
}

fn stage_view(s: &Stage) -> Value {
    json!({"path": s.path.to_string(), "name": s.name, "timeout_seconds": s.timeout_seconds})
}

/// The monitor fields of a pipeline (`null` for a heartbeat), and for a pipeline the
/// heartbeat fields it has not (`interval_seconds` and `grace_seconds` null, `next_due_at` =
/// the stall instant).
pub fn monitor_fields(m: &Monitor, st: &MonitorState, tz: &str) -> Value {
    match (&m.pipeline, m.kind) {
        (Some(p), MonitorKind::Pipeline) => json!({
            "stages": p.stages.iter().map(stage_view).collect::<Vec<_>>(),
            "strict": p.strict,
            "dynamic": p.dynamic,
            "timeout_seconds": p.timeout_seconds,
            "budget_per_instance_usd": p.budget_per_instance_usd,
            "budget_per_day_usd": p.budget_per_day_usd,
            "interval_seconds": null,
            "grace_seconds": null,
            "next_due_at": st.state.down_at.map(|t| format_in_zone(t, tz)),
        }),
        _ => json!({
            "stages": null,
            "strict": null,
            "dynamic": null,
            "timeout_seconds": null,
            "budget_per_instance_usd": null,
            "budget_per_day_usd": null,
        }),
    }
}

// ---- reading a stage ping's fields ----

fn flag(p: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match p.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" => Ok(true),
            "no" | "false" | "0" | "" => Ok(false),
            _ => Err(ApiError::invalid(field, "`yes` or `no`")),
        },
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(_) => Err(ApiError::invalid(field, "`yes` or `no`")),
    }
}

fn count(field: &str, v: Option<&Value>) -> Result<Option<u64>, ApiError> {
    let max = pipeline::STAGE_TOKENS_MAX;
    let bad = || ApiError::invalid(field, format!("a whole number of tokens, 0 to {max}"));
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if n <= max { Ok(Some(n)) } else { Err(bad()) }
}

fn usd(field: &str, v: Option<&Value>) -> Result<Option<f64>, ApiError> {
    let max = pipeline::STAGE_COST_USD_MAX;
    let bad = || ApiError::invalid(field, format!("an amount in USD, 0 to {max}"));
    let x = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) if s.len() <= 32 => s.trim().parse::<f64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if x.is_finite() && (0.0..=max).contains(&x) { Ok(Some(x)) } else { Err(bad()) }
}

/// The cost fields of a stage ping (PingPulse's `usage` object too); 400 naming the field.
pub fn cost_of(p: &Map<String, Value>) -> Result<Cost, ApiError> {
    let usage = p.get("usage").and_then(Value::as_object);
    let tokens_in = match count("tokens_in", p.get("tokens_in"))? {
        Some(n) => Some(n),
        None => match count("input_tokens", p.get("input_tokens"))? {
            Some(n) => Some(n),
            None => count("usage.input_tokens", usage.and_then(|u| u.get("input_tokens")))?,
        },
    };
    let tokens_out = match count("tokens_out", p.get("tokens_out"))? {
        Some(n) => Some(n),
        None => match count("output_tokens", p.get("output_tokens"))? {
            Some(n) => Some(n),
            None => count("usage.output_tokens", usage.and_then(|u| u.get("output_tokens")))?,
        },
    };
    Ok(Cost {
        model_id: label("model_id", p.get("model_id").unwrap_or(&Value::Null))?,
        tokens_in,
        tokens_out,
        cost_usd: usd("cost_usd", p.get("cost_usd"))?,
    })
}

/// The stage ping fields hookwheel reads itself; they are never part of the event's payload.
/// (`metadata` and any other field are the caller's, kept as payload.)
pub const RESERVED_STAGE_FIELDS: [&str; 14] = [
    "key",
    "agent",
    "cost_usd",
    "model_id",
    "tokens_in",
    "tokens_out",
    "input_tokens",
    "output_tokens",
    "usage",
    "stagename",
    "stagePath",
    "stage",
    "start",
    "final",
];

/// Everything but the reserved fields ([`RESERVED_STAGE_FIELDS`]), as the event's payload
/// text (first 10 KiB).
fn payload_of(p: &Map<String, Value>) -> String {
    let mut m = p.clone();
    for k in RESERVED_STAGE_FIELDS {
        m.remove(k);
    }
    if m.is_empty() {
        return String::new();
    }
    let full = Value::Object(m).to_string();
    let mut end = full.len().min(PING_BODY_BYTES_MAX);
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    full[..end].to_string()
}

/// A stage ping from request fields (its path is filled in by the store).
fn stage_ping_of(p: &Map<String, Value>) -> Result<StagePing, ApiError> {
    Ok(StagePing {
        path: StagePath::nth(1),
        name: label("stagename", p.get("stagename").unwrap_or(&Value::Null))?,
        start: flag(p, "start")?,
        final_stage: flag(p, "final")?,
        agent: label("agent", p.get("agent").unwrap_or(&Value::Null))?,
        cost: cost_of(p)?,
        payload: payload_of(p),
    })
}

/// Counts and arms what a stage ping did: the monitor's status gauge and timer, the instance
/// gauge, the signals.
async fn report(app: &App, c: &PipelineChange) {
    app.metrics.observe_ping("stage");
    for (from, to) in &c.moves {
        app.metrics.pipeline_instance_moved(from.map(InstanceStatus::as_str), to.map(InstanceStatus::as_str));
    }
    crate::scheduler::report_monitor_change(&app.metrics, &c.change);
    app.scheduler.arm_monitor(c.change.brand, c.change.monitor, c.change.deadline).await;
}

/// Records a stage ping (one durable write) and reports it.
async fn commit(app: &App, target: PingTarget, stage: String, ping: StagePing) -> Result<StageResult, ApiError> {
    let now = app.clock.now_ms();
    let r = app
        .store
        .record_stage(StageWrite { target, stage, ping, new_instance: InstanceId(uuid::Uuid::now_v7()), now })
        .await?;
    if let StageResult::Applied(c) = &r {
        report(app, c).await;
    }
    Ok(r)
}

// ---- /ping/<token>/stage/<stage> ----

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// A stage ping on the `/ping` URL family (called by `super::ping` for `…/stage/<stage>`):
/// the query's fields and a JSON object body's are the ping's fields (another body is kept as
/// its payload text).
pub(super) async fn ping_stage(
    app: &App,
    target: PingTarget,
    stage: &str,
    query: Option<&str>,
    body: Body,
) -> Result<Response, ApiError> {
    let mut fields = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        fields.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let raw = super::dispatch::read_limited(body, app.live().api.body_bytes_max).await?;
    let mut other_body = None;
    if !raw.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Value>(&raw) {
            Ok(Value::Object(o)) => fields.extend(o),
            // A body that opens like a JSON object carries stage fields (costs, `final`):
            // one that does not parse is refused rather than kept as text with its fields
            // silently lost. Any other body (log output) is kept as text.
            Err(e) if raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => {
                return Err(ApiError::invalid("body", format!("not a valid JSON object ({e})")));
            }
            _ => {
                let kept = &raw[..raw.len().min(PING_BODY_BYTES_MAX)];
                other_body = Some(String::from_utf8_lossy(kept).into_owned());
            }
        }
    }
    let mut ping = stage_ping_of(&fields)?;
    if let Some(b) = other_body {
        ping.payload = b;
    }
    Ok(match commit(app, target, stage.to_string(), ping).await? {
        StageResult::NotFound => text(StatusCode::NOT_FOUND, "not found"),
        StageResult::UnknownStage => text(StatusCode::NOT_FOUND, "stage not found"),
        StageResult::BadPath => return Err(bad_path("stage")),
        StageResult::NotPipeline => text(
            StatusCode::CONFLICT,
            "this monitor is a heartbeat (kind: heartbeat): stage pings are for pipeline monitors",
        ),
        StageResult::Applied(c) => match &c.refused {
            Some(r) => text(StatusCode::CONFLICT, r.to_string()),
            None => text(StatusCode::OK, "OK"),
        },
    })
}

// ---- PingPulse: /shk, /dhk ----

fn slug_target(key_hash: [u8; 32], slug: &str) -> Result<PingTarget, Fail> {
    if slug.len() > SEGMENT_CHARS_MAX {
        return Err(ApiError::NotFound("Workflow").into());
    }
    Ok(PingTarget::Slug { key_hash, slug: slug.to_string() })
}

/// The string value of a stage field (`stage`, `stagePath`): numbers are accepted as text.
fn stage_text(p: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match p.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= SEGMENT_CHARS_MAX => Ok(Some(s.trim().into())),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::invalid(field, "a stage number or path such as \"2.1\"")),
    }
}

/// A workflow's stage ping answer (or its refusal).
fn stage_answer(slug: &str, c: &PipelineChange, dynamic_route: bool) -> Result<Response, Fail> {
    if let Some(r) = &c.refused {
        let mut body = json!({"status": "error", "error": r.to_string()});
        if let Some(i) = &c.instance {
            body["instance_id"] = json!(i.id.to_string());
        }
        return Ok(answer(StatusCode::CONFLICT, body));
    }
    let inst = c.instance.as_ref().ok_or(ApiError::Internal("a stage ping without its instance".into()))?;
    let path = inst.events.last().map(|e| e.path.clone()).unwrap_or_else(|| StagePath::nth(1));
    let mut body = json!({
        "status": "success",
        "workflow_id": slug,
        "instance_id": inst.id.to_string(),
    });
    if dynamic_route {
        body["stage_path"] = json!(path.to_string());
    } else {
        body["stage_order"] = match path.0.as_slice() {
            [n] => json!(n),
            _ => json!(path.to_string()),
        };
    }
    body["workflow_status"] = json!(inst.status.as_str());
    Ok(answer(StatusCode::OK, body))
}

/// 400 for a stage text that is not a path (`field`: the route's stage field).
fn bad_path(field: &str) -> ApiError {
    ApiError::invalid(field, pipeline::PATH_SHAPE)
}

/// The stage text, refused (400 naming `field`) when it is a malformed path.
fn checked_stage(field: &str, stage: String) -> Result<String, ApiError> {
    if pipeline::malformed_path(&stage) { Err(bad_path(field)) } else { Ok(stage) }
}

fn applied(r: StageResult, what: &'static str, field: &str) -> Result<Box<PipelineChange>, Fail> {
    match r {
        StageResult::Applied(c) => Ok(c),
        StageResult::BadPath => Err(bad_path(field).into()),
        StageResult::NotFound => Err(ApiError::NotFound(what).into()),
        StageResult::UnknownStage => Err(ApiError::NotFound("Stage").into()),
        StageResult::NotPipeline => Err(ApiError::conflict(
            "this monitor is a heartbeat (kind: heartbeat): stage pings are for pipeline monitors",
        )
        .into()),
    }
}

/// `GET|POST /shk/{workflow_id}?stage=N`: a stage ping on the pipeline monitor whose slug is
/// `workflow_id` (`stage` a listed stage's number, path or name). Answers
/// `{"status": "success", "workflow_id", "instance_id", "stage_order", "workflow_status"}`;
/// 409 `{"status": "error", "error", "instance_id"}` when strict mode refuses the stage.
pub async fn shk(
    State(app): State<Arc<App>>,
    Path(workflow_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::GET, Method::POST], "GET, POST")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (_, key_hash) = params.brand(&app)?;
        let stage = stage_text(&params.0, "stage")?.ok_or_else(|| ApiError::Missing("stage".into()))?;
        let stage = checked_stage("stage", stage)?;
        let target = slug_target(key_hash, &workflow_id)?;
        let (_, id) = app.store.find_monitor_for_ping(&target)?.ok_or(ApiError::NotFound("Workflow"))?;
        super::ping::check_rate(&app, &id).map_err(Fail::Slow)?;
        let ping = stage_ping_of(&params.0)?;
        let c = applied(commit(&app, target, stage, ping).await?, "Workflow", "stage")?;
        stage_answer(&workflow_id, &c, false)
    }
    .await;
    finish(&app, watch, r)
}

/// `GET|POST /dhk/{workflow_id}?stagePath=P` (also `stage=P`), with `start`, `final`,
/// `stagename`, `agent` and the cost fields. `start=yes` on a slug no monitor of the brand
/// has creates a dynamic pipeline monitor named and slugged `workflow_id` (non-strict, no
/// timeouts; set them with `update_monitor`). Answers `{"status": "success", "workflow_id",
/// "instance_id", "stage_path", "workflow_status"}`.
pub async fn dhk(
    State(app): State<Arc<App>>,
    Path(workflow_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::GET, Method::POST], "GET, POST")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (brand, key_hash) = params.brand(&app)?;
        let (field, stage) = match stage_text(&params.0, "stagePath")? {
            Some(s) => ("stagePath", s),
            None => ("stage", stage_text(&params.0, "stage")?.ok_or_else(|| ApiError::Missing("stagePath".into()))?),
        };
        // Checked before a start may create the monitor.
        let stage = checked_stage(field, stage)?;
        let ping = stage_ping_of(&params.0)?;
        let target = slug_target(key_hash, &workflow_id)?;
        let id = match app.store.find_monitor_for_ping(&target)? {
            Some((_, id)) => id,
            None if ping.start => {
                let slug = check_slug("workflow_id", &workflow_id)?;
                let now = app.clock.now_ms();
                let created = insert_monitor(
                    &app,
                    brand,
                    now,
                    workflow_id.clone(),
                    Some(slug),
                    pipeline_placeholder_spec(),
                    Some(dynamic_spec()),
                )
                .await;
                match created {
                    Ok((m, _)) => m.id,
                    // Created meanwhile by a concurrent start, else the brand's cap (409).
                    Err(e @ ApiError::Conflict { .. }) => match app.store.find_monitor_for_ping(&target)? {
                        Some((_, id)) => id,
                        None => return Err(e.into()),
                    },
                    Err(e) => return Err(e.into()),
                }
            }
            None => return Err(ApiError::NotFound("Workflow").into()),
        };
        super::ping::check_rate(&app, &id).map_err(Fail::Slow)?;
        let c = applied(commit(&app, target, stage, ping).await?, "Workflow", field)?;
        stage_answer(&workflow_id, &c, true)
    }
    .await;
    finish(&app, watch, r)
}

/// The stages a pipeline knows (listed, or seen by a dynamic one), with their labels.
fn known_stages(m: &Monitor, seen: &[(StagePath, Option<String>)]) -> Vec<(StagePath, Option<String>)> {
    let mut out: Vec<(StagePath, Option<String>)> = match &m.pipeline {
        Some(p) if !p.dynamic => p.stages.iter().map(|s| (s.path.clone(), s.name.clone())).collect(),
        _ => seen.to_vec(),
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The newest accepted (else refused) event of each stage path in an instance.
fn latest_events(i: &Instance) -> Vec<&StageEvent> {
    let mut out: Vec<&StageEvent> = Vec::new();
    for e in &i.events {
        match out.iter_mut().find(|x| x.path == e.path) {
            Some(x) if e.accepted || !x.accepted => *x = e,
            Some(_) => {}
            None => out.push(e),
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `stage_statuses` of an instance: each reached stage `healthy` (or `refused`), the stage a
/// stalled instance waits for `stalled`.
fn stage_statuses(i: &Instance) -> Value {
    let mut out = Map::new();
    for e in latest_events(i) {
        out.insert(
            e.path.to_string(),
            json!({
                "status": if e.accepted { "healthy" } else { "refused" },
                "stage_name": e.name,
                "agent_code": e.agent,
            }),
        );
    }
    if let (InstanceStatus::Stalled, Some(p)) = (i.status, &i.waiting_for) {
        out.insert(p.to_string(), json!({"status": "stalled", "stage_name": null, "agent_code": null}));
    }
    Value::Object(out)
}

fn rounded(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

/// An instance in the PingPulse shape (`running_instance`, `recent_instances`).
fn instance_view(i: &Instance) -> Value {
    let mut v = json!({
        "id": i.id.to_string(),
        "status": i.status.as_str(),
        "started_at": i.started_ms.map(format_utc),
        "agent_code": i.agent(),
        "stage_statuses": stage_statuses(i),
        "total_cost_usd": rounded(i.cost_usd),
        "tokens_in": i.tokens_in,
        "tokens_out": i.tokens_out,
        "budget_exceeded": i.budget_exceeded,
    });
    if i.status == InstanceStatus::Completed {
        v["completed_at"] = json!(i.ended_ms.map(format_utc));
    }
    if let Some(r) = &i.failure_reason {
        v["failure_reason"] = json!(r);
    }
    if let Some(r) = i.rerun_of {
        v["rerun_of"] = json!(r.to_string());
    }
    v
}

/// A GET route's brand and monitor (by slug), 404 `Workflow` otherwise.
async fn workflow(
    app: &App,
    workflow_id: &str,
    method: &Method,
    query: Option<&str>,
    body: Body,
) -> Result<(crate::model::BrandId, Monitor), Fail> {
    only(method, &[Method::GET], "GET")?;
    let params = Params::read(app, query, body).await?;
    let (brand, key_hash) = params.brand(app)?;
    let target = slug_target(key_hash, workflow_id)?;
    let (_, id) = app.store.find_monitor_for_ping(&target)?.ok_or(ApiError::NotFound("Workflow"))?;
    let (m, _) = app.store.get_monitor(brand, id)?.ok_or(ApiError::NotFound("Workflow"))?;
    if m.kind != MonitorKind::Pipeline {
        return Err(ApiError::NotFound("Workflow").into());
    }
    Ok((brand, m))
}

/// `GET /dhk/{workflow_id}/tree`: each known stage path (listed, or seen so far) with its
/// status in the current instance — `healthy` reached, `pending` not yet, `stalled` awaited
/// past its timeout, `refused` refused — and its `stage_name` when it has one.
pub async fn tree(
    State(app): State<Arc<App>>,
    Path(workflow_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        let (brand, m) = workflow(&app, &workflow_id, &method, query.as_deref(), body).await?;
        let (ps, current) = app.store.get_pipeline_state(brand, m.id)?;
        let statuses = current.as_ref().map(stage_statuses).unwrap_or(Value::Object(Map::new()));
        let mut out: Vec<(String, Value)> = Vec::new();
        for (path, name) in known_stages(&m, &ps.seen) {
            let key = path.to_string();
            let reached = statuses.get(&key);
            let status = reached.and_then(|r| r.get("status")).cloned().unwrap_or(json!("pending"));
            let name =
                reached.and_then(|r| r.get("stage_name")).filter(|n| !n.is_null()).cloned().or(name.map(Value::String));
            let mut entry = json!({"status": status});
            if let Some(n) = name {
                entry["stage_name"] = n;
            }
            out.push((key, entry));
        }
        out.sort_by(|a, b| compare_paths(&a.0, &b.0));
        Ok(answer(StatusCode::OK, Value::Object(out.into_iter().collect())))
    }
    .await;
    finish(&app, watch, r)
}

/// `GET /api/workflows/{workflow_id}/instances`: `{"running_instance": <the current instance
/// while pending, running or stalled, else null>, "recent_instances": [the 10 newest others,
/// newest first]}`.
pub async fn workflow_instances(
    State(app): State<Arc<App>>,
    Path(workflow_id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        let (brand, m) = workflow(&app, &workflow_id, &method, query.as_deref(), body).await?;
        let (ps, _) = app.store.get_pipeline_state(brand, m.id)?;
        let page = app.store.list_instances(brand, m.id, 1, RECENT_INSTANCES + 1)?;
        let mut running = None;
        let mut recent = Vec::new();
        for i in &page.items {
            if Some(i.id) == ps.current && i.status.is_open() {
                running = Some(instance_view(i));
            } else if (recent.len() as u64) < RECENT_INSTANCES {
                recent.push(instance_view(i));
            }
        }
        Ok(answer(StatusCode::OK, json!({"running_instance": running, "recent_instances": recent})))
    }
    .await;
    finish(&app, watch, r)
}

fn instance_id(s: &str) -> Result<InstanceId, Fail> {
    uuid::Uuid::try_parse(s).map(InstanceId).map_err(|_| ApiError::NotFound("Instance").into())
}

/// `GET /api/instances/{instance_id}/timeline`: `{"instance_id", "workflow_id", "status",
/// "total_steps", "timeline": [{"step", "stage_path", "stage_name", "status": "success" |
/// "refused", "executed_at", "response_time_ms" (since the previous accepted stage),
/// "agent_code", "model_id", "input_tokens", "output_tokens", "cost_usd",
/// "cumulative_cost_usd", "context_size_bytes" (the payload's), "handoff_reason" (null),
/// "payload"}]}`.
pub async fn timeline(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::GET], "GET")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (brand, _) = params.brand(&app)?;
        let (m, i) = app.store.get_instance(brand, instance_id(&id)?)?.ok_or(ApiError::NotFound("Instance"))?;
        let mut cumulative = 0.0;
        let steps: Vec<Value> = i
            .events
            .iter()
            .map(|e| {
                if e.accepted {
                    cumulative += e.cost.cost_usd.unwrap_or(0.0);
                }
                let payload = if e.payload.is_empty() {
                    Value::Null
                } else {
                    // An object body is kept as its JSON (cut at 10 KiB, then it reads as the
                    // text it is); any other body as text, which stays text even when it reads
                    // as JSON (`123`, `[1]`).
                    match serde_json::from_str::<Value>(&e.payload) {
                        Ok(o @ Value::Object(_)) => o,
                        _ => Value::String(e.payload.clone()),
                    }
                };
                json!({
                    "step": e.step,
                    "stage_path": e.path.to_string(),
                    "stage_name": e.name,
                    "status": if e.accepted { "success" } else { "refused" },
                    "refusal": e.refusal,
                    "executed_at": format_utc(e.at_ms),
                    "response_time_ms": e.elapsed_ms,
                    "agent_code": e.agent,
                    "model_id": e.cost.model_id,
                    "input_tokens": e.cost.tokens_in,
                    "output_tokens": e.cost.tokens_out,
                    "cost_usd": e.cost.cost_usd,
                    "cumulative_cost_usd": rounded(cumulative),
                    "context_size_bytes": e.payload.len(),
                    "handoff_reason": null,
                    "payload": payload,
                })
            })
            .collect();
        Ok(answer(
            StatusCode::OK,
            json!({
                "instance_id": i.id.to_string(),
                "workflow_id": m.slug,
                "status": i.status.as_str(),
                "total_steps": i.events_total,
                "total_cost_usd": rounded(i.cost_usd),
                "budget_exceeded": i.budget_exceeded,
                "timeline": steps,
            }),
        ))
    }
    .await;
    finish(&app, watch, r)
}

/// `POST /api/instances/{instance_id}/rerun` (optional `payload_modifications` object, kept
/// with the new instance): a new `pending` instance of the same pipeline becomes current (an
/// open current instance is abandoned); the next stage ping that opens an instance continues
/// it. 201 `{"new_instance_id", "session_id", "message"}`; `session_id` is the new
/// instance's id too (hookwheel has no separate debugging sessions).
pub async fn rerun(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let watch = Stopwatch::start();
    let r = async {
        only(&method, &[Method::POST], "POST")?;
        let params = Params::read(&app, query.as_deref(), body).await?;
        let (brand, _) = params.brand(&app)?;
        for k in params.0.keys() {
            if !matches!(k.as_str(), "key" | "payload_modifications") {
                return Err(ApiError::UnknownField { field: k.clone(), suggestion: None }.into());
            }
        }
        let payload = match params.0.get("payload_modifications") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => {
                let s = v.to_string();
                if s.len() > RERUN_PAYLOAD_BYTES_MAX {
                    return Err(ApiError::invalid("payload_modifications", "at most 10 KiB").into());
                }
                Some(s)
            }
            Some(_) => return Err(ApiError::invalid("payload_modifications", "an object is expected").into()),
        };
        let of = instance_id(&id)?;
        let new_id = InstanceId(uuid::Uuid::now_v7());
        let (_, inst, change, moves) = app.store.rerun_instance(brand, of, new_id, payload, app.clock.now_ms()).await?;
        for (from, to) in &moves {
            app.metrics.pipeline_instance_moved(from.map(InstanceStatus::as_str), to.map(InstanceStatus::as_str));
        }
        crate::scheduler::report_monitor_change(&app.metrics, &change);
        app.scheduler.arm_monitor(change.brand, change.monitor, change.deadline).await;
        Ok(answer(
            StatusCode::CREATED,
            json!({
                "new_instance_id": inst.id.to_string(),
                "session_id": inst.id.to_string(),
                "message": "Instance created and ready for re-execution",
            }),
        ))
    }
    .await;
    finish(&app, watch, r)
}

// ---- get_pipeline_instances_paginated ----

/// `get_pipeline_instances_paginated`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancesQuery {
    /// The pipeline monitor's id.
    pub monitor_uuid: Id,
    /// 1-based page number (default 1); newest instance first.
    pub page: Option<Int<1, PAGE_MAX>>,
}

fn at(ms: Option<Millis>, tz: &str) -> Value {
    ms.map_or(Value::Null, |t| json!(format_in_zone(t, tz)))
}

fn event_item(e: &StageEvent, tz: &str) -> Value {
    json!({
        "step": e.step,
        "stage_path": e.path.to_string(),
        "stage_name": e.name,
        "accepted": e.accepted,
        "in_order": e.in_order,
        "refusal": e.refusal,
        "at": format_in_zone(e.at_ms, tz),
        "elapsed_ms": e.elapsed_ms,
        "agent": e.agent,
        "model_id": e.cost.model_id,
        "tokens_in": e.cost.tokens_in,
        "tokens_out": e.cost.tokens_out,
        "cost_usd": e.cost.cost_usd,
    })
}

fn instance_item(i: &Instance, tz: &str) -> Value {
    json!({
        "instance_uuid": i.id.to_string(),
        "status": i.status.as_str(),
        "created_at": format_in_zone(i.created_ms, tz),
        "started_at": at(i.started_ms, tz),
        "ended_at": at(i.ended_ms, tz),
        "furthest_stage": i.furthest.as_ref().map(|p| p.to_string()),
        "stall_at": at(i.stall_at, tz),
        "stalled_at": at(i.stalled_ms, tz),
        "failure_reason": i.failure_reason,
        "events_total": i.events_total,
        "refused_total": i.refused_total,
        "cost_usd": rounded(i.cost_usd),
        "tokens_in": i.tokens_in,
        "tokens_out": i.tokens_out,
        "budget_exceeded": i.budget_exceeded,
        "rerun_of": i.rerun_of.map(|r| r.to_string()),
        "stages": i.events.iter().map(|e| event_item(e, tz)).collect::<Vec<_>>(),
    })
}

/// A pipeline monitor's instances, newest first, with each stage's timing and costs.
pub async fn instances(cx: Cx, i: InstancesQuery) -> ApiResult {
    let (m, _) =
        cx.app.store.get_monitor(cx.brand.id, MonitorId(i.monitor_uuid.0))?.ok_or(ApiError::NotFound("Monitor"))?;
    if m.kind != MonitorKind::Pipeline {
        return Err(ApiError::NotFound("Pipeline monitor"));
    }
    let page = page_number(i.page);
    let items = cx.app.store.list_instances(cx.brand.id, m.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |x| instance_item(x, &tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_lists_from_names_and_objects() {
        let s =
            spec_of(vec![json!("ingest"), json!({"name": "train", "timeout_seconds": 30})], true, Some(60), None, None)
                .unwrap();
        assert_eq!(s.stages[0].path, StagePath::nth(1));
        assert_eq!(s.stages[1].timeout_seconds, Some(30));
        let s = spec_of(
            vec![json!({"path": "1"}), json!({"path": "2.1"}), json!({"path": "2.2"})],
            false,
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(s.stages[2].path.to_string(), "2.2");
        let field = |r: Result<Spec, ApiError>| match r {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(field(spec_of(vec![], false, None, None, None)), "stages");
        assert_eq!(field(spec_of(vec![json!(5)], false, None, None, None)), "stages[0]");
        assert_eq!(
            field(spec_of(vec![json!({"path": "2"}), json!({"path": "1"})], false, None, None, None)),
            "stages[1].path"
        );
        assert_eq!(field(spec_of(vec![json!("a"), json!({"path": "0"})], false, None, None, None)), "stages[1].path");
        assert_eq!(
            field(spec_of(vec![json!("a"), json!({"timeout_seconds": -1})], false, None, None, None)),
            "stages[1].timeout_seconds"
        );
        assert_eq!(field(spec_of(vec![json!("2"), json!("1")], false, None, None, None)), "stages[0].name");
        assert_eq!(field(spec_of(vec![json!("a/b")], false, None, None, None)), "stages[0].name");
        assert_eq!(field(spec_of(vec![json!(" ")], false, None, None, None)), "stages[0]");
        assert_eq!(field(spec_of(vec![json!("a"), json!({"name": ""})], false, None, None, None)), "stages[1].name");
        // An object without a name is a stage known by its path.
        assert_eq!(spec_of(vec![json!({})], false, None, None, None).unwrap().stages[0].name, None);
        match spec_of(vec![json!({"timeout_secnds": 5})], false, None, None, None) {
            Err(e @ ApiError::UnknownField { .. }) => {
                assert_eq!(e.message(), "Unknown field: stages[0].timeout_secnds (did you mean timeout_seconds?)")
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert_eq!(field(spec_of(vec![json!("a")], false, None, Some(0.0), None)), "budget_per_instance_usd");
    }

    #[test]
    fn cost_fields_and_aliases() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        let c = cost_of(&m(json!({"model_id": "claude-3-opus", "usage": {"input_tokens": 1500, "output_tokens": 500}, "cost_usd": 0.045})))
            .unwrap();
        assert_eq!((c.tokens_in, c.tokens_out, c.cost_usd), (Some(1500), Some(500), Some(0.045)));
        let c = cost_of(&m(json!({"tokens_in": "10", "tokens_out": "20", "cost_usd": "0.5"}))).unwrap();
        assert_eq!((c.tokens_in, c.tokens_out, c.cost_usd), (Some(10), Some(20), Some(0.5)));
        let field = |v: Value| match cost_of(&m(v)) {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"cost_usd": -1})), "cost_usd");
        assert_eq!(field(json!({"cost_usd": "x"})), "cost_usd");
        assert_eq!(field(json!({"tokens_in": 1.5})), "tokens_in");
        assert!(flag(&m(json!({"final": "yes"})), "final").unwrap());
        assert!(flag(&m(json!({"final": "maybe"})), "final").is_err());
        assert_eq!(payload_of(&m(json!({"key": "secret", "stage": "1", "task": "x"}))), "{\"task\":\"x\"}");
        // Every reserved field is taken out; `metadata` and the rest stay.
        let mut all: Map<String, Value> = RESERVED_STAGE_FIELDS.iter().map(|k| (k.to_string(), json!("1"))).collect();
        assert_eq!(payload_of(&all), "");
        all.insert("metadata".into(), json!({"run": 7}));
        assert_eq!(payload_of(&all), "{\"metadata\":{\"run\":7}}");
        // Bounds (issue 11): cost_usd 0..=1e6, tokens 0..=1e12.
        assert_eq!(field(json!({"cost_usd": 1e308})), "cost_usd");
        assert_eq!(field(json!({"cost_usd": "1000000.5"})), "cost_usd");
        assert_eq!(field(json!({"tokens_out": 1_000_000_000_001u64})), "tokens_out");
        assert_eq!(field(json!({"usage": {"input_tokens": u64::MAX}})), "usage.input_tokens");
        let c = cost_of(&m(json!({"cost_usd": 1_000_000, "tokens_in": 1_000_000_000_000u64}))).unwrap();
        assert_eq!((c.cost_usd, c.tokens_in), (Some(1e6), Some(1_000_000_000_000)));
    }
}
