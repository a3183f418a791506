//! Heartbeat-monitor endpoints (product.md §11): `add_monitor`, `get_monitors_paginated`,
//! `get_monitor_details`, `update_monitor`, `delete_monitor`, `pause_monitor`,
//! `resume_monitor`, `get_monitor_pings_paginated`, and the brand's ping key (`get_ping_key`,
//! `rotate_ping_key`). The public ping routes are [`super::ping`].
//!
//! A monitor's ping token is drawn here, sealed by the vault and indexed by its SHA-256 (as a
//! source's ingest token); the details open it to show the ping URL. Every change commits
//! first and then re-arms the monitor's timer in the scheduler.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::compute::Lane;
use super::error::ApiError;
use super::fields::{Choices, Id, Int, Line, List, OneOf, Zone};
use super::reply::{ApiResult, PAGE_MAX, PageQuery, ok, page_number, paginated};
use super::request::Cx;
use super::schedules::{CRON_CHARS_MAX, optional_cron_schema};
use crate::model::{Flip, Monitor, MonitorId, MonitorKind, MonitorState, PING_BODY_BYTES_MAX, Ping, PingKey};
use crate::monitor::heartbeat::{self, GRACE_SECONDS_MAX, INTERVAL_SECONDS_MAX, Period, Spec};
use crate::monitor::pipeline;
use crate::schedule::cron::CronSpec;
use crate::store::StoreError;
use crate::time::tz::format_in_zone;

const NAME_CHARS_MAX: usize = 256;
/// Longest slug.
pub const SLUG_CHARS_MAX: usize = 100;
/// Default grace: one hour (Healthchecks' default).
const GRACE_SECONDS_DEFAULT: u32 = 3600;
/// Status changes shown by `get_monitor_details`.
const FLIPS_SHOWN: u64 = 20;
/// Bytes of randomness in a ping token or ping key.
const TOKEN_BYTES: usize = 24;

type IntervalSeconds = Int<1, { INTERVAL_SECONDS_MAX as i64 }>;
type GraceSeconds = Int<0, { GRACE_SECONDS_MAX as i64 }>;

/// `kind`: `heartbeat` (default) or `pipeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindIn {
    Heartbeat,
    Pipeline,
}

impl Choices for KindIn {
    const VALUES: &'static [&'static str] = &["heartbeat", "pipeline"];
    fn choose(s: &str) -> Option<Self> {
        match s {
            "heartbeat" => Some(KindIn::Heartbeat),
            "pipeline" => Some(KindIn::Pipeline),
            _ => None,
        }
    }
}

/// `add_monitor`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMonitor {
    /// A name for people (1–256 characters).
    pub monitor_name: Line<NAME_CHARS_MAX>,
    /// `heartbeat` (default) or `pipeline` (stage pings; see `stages`).
    pub kind: Option<OneOf<KindIn>>,
    /// The expected period in seconds (1 to 31536000): a ping is due this long after the last
    /// success. Give this or `cron_expression`.
    pub interval_seconds: Option<IntervalSeconds>,
    /// A cron expression (5 or 6 fields, macros, `L`, `W`, `#`): a ping is due at the first
    /// matching instant after the last success. Give this or `interval_seconds`.
    #[schemars(schema_with = "optional_cron_schema")]
    pub cron_expression: Option<Line<CRON_CHARS_MAX>>,
    /// The IANA zone `cron_expression` is read in (default UTC); only with `cron_expression`.
    pub cron_timezone: Option<Zone>,
    /// How long past due (or past a run's start) before the monitor is `down`, seconds
    /// (0 to 31536000, default 3600).
    pub grace_seconds: Option<GraceSeconds>,
    /// The monitor's address under the brand's ping key: 1–100 of `[a-z0-9_-]`, unique in the
    /// brand. Default: made from `monitor_name`.
    #[schemars(extend("pattern" = "^[a-z0-9_-]+$"))]
    pub slug: Option<Line<SLUG_CHARS_MAX>>,
    /// A pipeline's stages, in order (1–200): each a name (`"ingest"`) or an object
    /// `{"name", "path", "timeout_seconds"}`; `path` is a hierarchical stage path such as
    /// `2.1` (default: the stage's 1-based position), increasing in the order listed.
    /// `kind` `pipeline` only.
    #[schemars(schema_with = "super::pipelines::stages_schema")]
    pub stages: Option<List<Value, { pipeline::STAGES_MAX }>>,
    /// Strict mode: a stage out of order is refused (409) and recorded. Default `false`.
    /// `kind` `pipeline` only.
    pub strict: Option<bool>,
    /// The time allowed to reach each next stage unless the stage gives its own, seconds
    /// (1 to 604800); past it the instance is `stalled`. Default: none. `kind` `pipeline` only.
    pub timeout_seconds: Option<Int<1, { pipeline::TIMEOUT_SECONDS_MAX as i64 }>>,
    /// A budget per instance, USD: passing it raises `budget_exceeded` once per instance.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1_000_000_000))]
    pub budget_per_instance_usd: Option<f64>,
    /// A budget per UTC day over the monitor's instances, USD: passing it raises
    /// `budget_exceeded` once per day.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1_000_000_000))]
    pub budget_per_day_usd: Option<f64>,
}

/// `get_monitor_details`, `delete_monitor`, `pause_monitor`, `resume_monitor`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorRef {
    /// The monitor's id.
    pub monitor_uuid: Id,
}

/// `update_monitor`. Absent fields keep their values.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMonitor {
    /// The monitor's id.
    pub monitor_uuid: Id,
    /// A new name.
    pub monitor_name: Option<Line<NAME_CHARS_MAX>>,
    /// Switch to (or change) an interval period, seconds.
    pub interval_seconds: Option<IntervalSeconds>,
    /// Switch to (or change) a cron period.
    #[schemars(schema_with = "optional_cron_schema")]
    pub cron_expression: Option<Line<CRON_CHARS_MAX>>,
    /// The cron period's zone (a cron monitor only).
    pub cron_timezone: Option<Zone>,
    /// A new grace, seconds.
    pub grace_seconds: Option<GraceSeconds>,
    /// A new slug (the old slug URL answers 404 at once).
    #[schemars(extend("pattern" = "^[a-z0-9_-]+$"))]
    pub slug: Option<Line<SLUG_CHARS_MAX>>,
    /// A pipeline's new stage list (as in `add_monitor`).
    #[schemars(schema_with = "super::pipelines::stages_schema")]
    pub stages: Option<List<Value, { pipeline::STAGES_MAX }>>,
    /// A pipeline's strict mode.
    pub strict: Option<bool>,
    /// A pipeline's default stage timeout, seconds.
    pub timeout_seconds: Option<Int<1, { pipeline::TIMEOUT_SECONDS_MAX as i64 }>>,
    /// A pipeline's budget per instance, USD.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1_000_000_000))]
    pub budget_per_instance_usd: Option<f64>,
    /// A pipeline's budget per day, USD.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1_000_000_000))]
    pub budget_per_day_usd: Option<f64>,
}

/// `get_monitor_pings_paginated`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingsQuery {
    /// The monitor's id.
    pub monitor_uuid: Id,
    /// 1-based page number (default 1); newest ping first.
    pub page: Option<Int<1, PAGE_MAX>>,
}

/// A fresh random credential: `prefix` + 192 random bits, URL-safe base64 (32 characters).
pub fn new_secret_token(prefix: &str) -> Result<String, ApiError> {
    use base64::Engine;
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(format!("random: {e}")))?;
    Ok(format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)))
}

/// SHA-256 of a ping token or ping key: the index key that finds it.
pub fn secret_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn ping_url(token: &str) -> String {
    format!("/ping/{token}")
}

/// A slug made from a name: lower-case letters and digits, other runs turned into one `-`.
fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut s = out.trim_end_matches('-').to_string();
    s.truncate(SLUG_CHARS_MAX - 4);
    if s.is_empty() { "monitor".into() } else { s.trim_end_matches('-').to_string() }
}

pub(super) fn check_slug(field: &str, slug: &str) -> Result<String, ApiError> {
    if slug.is_empty() || !slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(ApiError::invalid(field, format!("use 1-{SLUG_CHARS_MAX} of a-z, 0-9, '-' or '_'")));
    }
    Ok(slug.to_string())
}

fn not_blank(field: &str, s: &str) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApiError::invalid(field, "must not be blank"));
    }
    Ok(t.to_string())
}

/// Checks a spec off the async workers (a cron expression's first match is a search).
async fn validated(cx: &Cx, spec: Spec) -> Result<Spec, ApiError> {
    if let Period::Interval { .. } = spec.period {
        spec.validate(cx.now).map_err(|e| ApiError::invalid(e.field, e.why))?;
        return Ok(spec);
    }
    let now = cx.now;
    cx.app
        .compute
        .run(Lane::Change, cx.app.live().api.compute_budget_ms, move |_| {
            spec.validate(now).map(|()| spec).map_err(|e| ApiError::invalid(e.field, e.why))
        })
        .await?
}

fn period_fields(spec: &Spec) -> Value {
    match &spec.period {
        Period::Interval { seconds } => {
            json!({"interval_seconds": seconds, "cron_expression": null, "cron_timezone": null})
        }
        Period::Cron(c) => {
            json!({"interval_seconds": null, "cron_expression": c.expression, "cron_timezone": c.timezone})
        }
    }
}

fn at(ms: Option<i64>, tz: &str) -> Value {
    ms.map_or(Value::Null, |t| json!(format_in_zone(t, tz)))
}

fn item(m: &Monitor, st: &MonitorState, tz: &str) -> Value {
    let s = &st.state;
    let mut v = json!({
        "monitor_uuid": m.id.to_string(),
        "monitor_name": m.name,
        "kind": m.kind.as_str(),
        "slug": m.slug,
        "status": s.status.as_str(),
        "grace_seconds": m.spec.grace_seconds,
        "last_ping_at": at(s.last_ping_ms, tz),
        "next_due_at": at(s.next_due(&m.spec), tz),
        "down_at": at(s.down_at, tz),
        "status_since": format_in_zone(s.since_ms, tz),
        "started_at": at(s.run.as_ref().map(|r| r.started_ms), tz),
        "pings_total": st.pings_total,
        "inserted_at": format_in_zone(m.created_ms, tz),
        "updated_at": format_in_zone(m.updated_ms, tz),
    });
    if let (Some(o), Value::Object(p)) = (v.as_object_mut(), period_fields(&m.spec)) {
        o.extend(p);
    }
    if let (Some(o), Value::Object(p)) = (v.as_object_mut(), super::pipelines::monitor_fields(m, st, tz)) {
        o.extend(p);
    }
    v
}

fn flip_item(f: &Flip, tz: &str) -> Value {
    json!({
        "from": f.from.as_str(),
        "to": f.to.as_str(),
        "at": format_in_zone(f.at_ms, tz),
        "deadline_at": at(f.deadline_ms, tz),
        "cause": f.cause.as_str(),
        "signal": f.signal.map(|s| s.as_str()),
    })
}

fn ping_item(p: &Ping, tz: &str) -> Value {
    json!({
        "ping_uuid": p.id.to_string(),
        "kind": p.kind.as_str(),
        "exit_status": p.exit_status,
        "rid": p.rid,
        "method": p.method,
        "via": p.via,
        "client_ip": p.client_ip,
        "user_agent": p.user_agent,
        "body": p.body,
        "body_bytes": p.body_bytes,
        "body_truncated": p.body_bytes > PING_BODY_BYTES_MAX as u64,
        "duration_ms": p.duration_ms,
        "status_after": p.status_after.as_str(),
        "received_at": format_in_zone(p.received_ms, tz),
    })
}

fn load(cx: &Cx, id: Id) -> Result<(Monitor, MonitorState), ApiError> {
    cx.app.store.get_monitor(cx.brand.id, MonitorId(id.0))?.ok_or(ApiError::NotFound("Monitor"))
}

/// The period an input asks for, given the current one (`None` for a new monitor). Both
/// `interval_seconds` and `cron_expression` → 400 naming `cron_expression`; `cron_timezone`
/// on an interval period → 400 naming it.
fn period_of(
    interval: Option<IntervalSeconds>,
    cron: Option<String>,
    zone: Option<String>,
    current: Option<&Period>,
) -> Result<Option<Period>, ApiError> {
    match (interval, cron, zone, current) {
        (Some(_), Some(_), _, _) => {
            Err(ApiError::invalid("cron_expression", "give either interval_seconds or cron_expression, not both"))
        }
        (Some(_), None, Some(_), _) => Err(ApiError::invalid("cron_timezone", "only with cron_expression")),
        (Some(s), None, None, _) => Ok(Some(Period::Interval { seconds: s.get() as u32 })),
        (None, Some(e), z, current) => {
            let zone = z.or_else(|| match current {
                Some(Period::Cron(c)) => Some(c.timezone.clone()),
                _ => None,
            });
            Ok(Some(Period::Cron(CronSpec::new(e, zone.unwrap_or_else(|| "UTC".into()), false))))
        }
        (None, None, Some(z), Some(Period::Cron(c))) => {
            Ok(Some(Period::Cron(CronSpec::new(c.expression.clone(), z, false))))
        }
        (None, None, Some(_), _) => Err(ApiError::invalid("cron_timezone", "only with cron_expression")),
        (None, None, None, Some(_)) => Ok(None),
        (None, None, None, None) => {
            Err(ApiError::invalid("interval_seconds", "give interval_seconds or cron_expression"))
        }
    }
}

/// The heartbeat spec a pipeline monitor carries (unused: a pipeline has no period).
pub(super) fn pipeline_placeholder_spec() -> Spec {
    Spec { period: Period::Interval { seconds: INTERVAL_SECONDS_MAX }, grace_seconds: 0 }
}

/// Creates a monitor (a new ping token, sealed; a slug made from the name unless `slug` is
/// chosen) and counts it. Returns it with its plain token.
pub(super) async fn insert_monitor(
    app: &super::App,
    brand: crate::model::BrandId,
    now: crate::time::Millis,
    name: String,
    slug: Option<String>,
    spec: Spec,
    pipeline: Option<pipeline::Spec>,
) -> Result<(Monitor, String), ApiError> {
    let (slug, chosen) = match slug {
        Some(s) => (s, true),
        None => (slugify(&name), false),
    };
    let id = MonitorId::new();
    let token = new_secret_token("hwp_")?;
    let mut m = Monitor {
        id,
        brand,
        name,
        slug: slug.clone(),
        kind: if pipeline.is_some() { MonitorKind::Pipeline } else { MonitorKind::Heartbeat },
        pipeline,
        spec,
        token: app.vault.seal_ping_token(id, &token),
        token_hash: secret_hash(&token),
        created_ms: now,
        updated_ms: now,
    };
    // A slug made from the name takes the first free `-2`, `-3`, … suffix; a chosen one is 409.
    let mut n = 1;
    let created = loop {
        match app.store.create_monitor(m.clone(), MonitorState::new(now)).await {
            Err(StoreError::Conflict { .. }) if !chosen && n < 20 => {
                n += 1;
                m.slug = format!("{slug}-{n}");
            }
            other => break other?,
        }
    };
    app.metrics.monitor_moved(None, Some(heartbeat::Status::New.as_str()));
    Ok((created, token))
}

/// Refuses the pipeline fields on a heartbeat (400 naming the first one given).
fn no_pipeline_fields(
    stages: bool,
    strict: bool,
    timeout: bool,
    per_instance: bool,
    per_day: bool,
) -> Result<(), ApiError> {
    for (given, field) in [
        (stages, "stages"),
        (strict, "strict"),
        (timeout, "timeout_seconds"),
        (per_instance, "budget_per_instance_usd"),
        (per_day, "budget_per_day_usd"),
    ] {
        if given {
            return Err(ApiError::invalid(field, "only for kind pipeline"));
        }
    }
    Ok(())
}

/// Refuses the heartbeat fields on a pipeline (400 naming the first one given).
fn no_heartbeat_fields(interval: bool, cron: bool, zone: bool, grace: bool) -> Result<(), ApiError> {
    for (given, field) in
        [(interval, "interval_seconds"), (cron, "cron_expression"), (zone, "cron_timezone"), (grace, "grace_seconds")]
    {
        if given {
            return Err(ApiError::invalid(field, "not for kind pipeline (a pipeline has stages and timeouts)"));
        }
    }
    Ok(())
}

pub async fn add(cx: Cx, i: AddMonitor) -> ApiResult {
    let name = not_blank("monitor_name", &i.monitor_name.0)?;
    let slug = i.slug.as_ref().map(|s| check_slug("slug", &s.0)).transpose()?;
    if i.kind.is_some_and(|k| k.0 == KindIn::Pipeline) {
        no_heartbeat_fields(
            i.interval_seconds.is_some(),
            i.cron_expression.is_some(),
            i.cron_timezone.is_some(),
            i.grace_seconds.is_some(),
        )?;
        let spec = super::pipelines::spec_of(
            i.stages.map(|s| s.0).unwrap_or_default(),
            i.strict.unwrap_or(false),
            i.timeout_seconds.map(|t| t.u32()),
            i.budget_per_instance_usd,
            i.budget_per_day_usd,
        )?;
        let (created, token) =
            insert_monitor(&cx.app, cx.brand.id, cx.now, name, slug, pipeline_placeholder_spec(), Some(spec)).await?;
        return ok(json!({
            "success": true,
            "details": "Monitor added",
            "monitor_uuid": created.id.to_string(),
            "ping_url": ping_url(&token),
            "slug": created.slug,
            "status": "new",
        }));
    }
    no_pipeline_fields(
        i.stages.is_some(),
        i.strict.is_some(),
        i.timeout_seconds.is_some(),
        i.budget_per_instance_usd.is_some(),
        i.budget_per_day_usd.is_some(),
    )?;
    let period = period_of(i.interval_seconds, i.cron_expression.map(|c| c.0), i.cron_timezone.map(|z| z.0), None)?
        .ok_or_else(|| ApiError::invalid("interval_seconds", "give interval_seconds or cron_expression"))?;
    let grace = i.grace_seconds.map_or(GRACE_SECONDS_DEFAULT, |g| g.get() as u32);
    let spec = validated(&cx, Spec { period, grace_seconds: grace }).await?;
    let (created, token) = insert_monitor(&cx.app, cx.brand.id, cx.now, name, slug, spec, None).await?;
    let id = created.id;
    ok(json!({
        "success": true,
        "details": "Monitor added",
        "monitor_uuid": id.to_string(),
        "ping_url": ping_url(&token),
        "slug": created.slug,
        "status": "new",
    }))
}

pub async fn list(cx: Cx, i: PageQuery) -> ApiResult {
    let page = i.number();
    let items = cx.app.store.list_monitors(cx.brand.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |(m, st)| item(m, st, &tz))
}

pub async fn details(cx: Cx, i: MonitorRef) -> ApiResult {
    let (m, st) = load(&cx, i.monitor_uuid)?;
    let tz = cx.brand.timezone.clone();
    let token = cx
        .app
        .vault
        .open_ping_token(m.id, &m.token)
        .map_err(|e| ApiError::Internal(format!("monitor {}: {e}", m.id)))?;
    let flips = cx.app.store.recent_flips(cx.brand.id, m.id, FLIPS_SHOWN)?;
    let mut v = item(&m, &st, &tz);
    v["ping_url"] = json!(ping_url(&token));
    v["status_changes"] = Value::Array(flips.iter().map(|f| flip_item(f, &tz)).collect());
    ok(json!({"success": true, "data": v}))
}

pub async fn update(cx: Cx, i: UpdateMonitor) -> ApiResult {
    let (current, _) = load(&cx, i.monitor_uuid)?;
    let name = i.monitor_name.map(|n| not_blank("monitor_name", &n.0)).transpose()?;
    let slug = i.slug.map(|s| check_slug("slug", &s.0)).transpose()?;
    if let Some(cur) = &current.pipeline {
        no_heartbeat_fields(
            i.interval_seconds.is_some(),
            i.cron_expression.is_some(),
            i.cron_timezone.is_some(),
            i.grace_seconds.is_some(),
        )?;
        let spec = match (&i.stages, cur.dynamic) {
            (Some(stages), _) => super::pipelines::spec_of(
                stages.0.clone(),
                i.strict.unwrap_or(cur.strict),
                i.timeout_seconds.map(|t| t.u32()).or(cur.timeout_seconds),
                i.budget_per_instance_usd.or(cur.budget_per_instance_usd),
                i.budget_per_day_usd.or(cur.budget_per_day_usd),
            )?,
            (None, _) => {
                let mut s = cur.clone();
                s.strict = i.strict.unwrap_or(s.strict);
                s.timeout_seconds = i.timeout_seconds.map(|t| t.u32()).or(s.timeout_seconds);
                s.budget_per_instance_usd = i.budget_per_instance_usd.or(s.budget_per_instance_usd);
                s.budget_per_day_usd = i.budget_per_day_usd.or(s.budget_per_day_usd);
                s.validate().map_err(|e| ApiError::invalid(&e.field, e.why))?;
                s
            }
        };
        let (m, st, deadline) = cx
            .app
            .store
            .update_monitor(cx.brand.id, current.id, cx.now, move |m| {
                if let Some(n) = name {
                    m.name = n;
                }
                if let Some(s) = slug {
                    m.slug = s;
                }
                m.pipeline = Some(spec);
                Ok(())
            })
            .await?;
        cx.app.scheduler.arm_monitor(m.brand, m.id, deadline).await;
        return ok(json!({
            "success": true,
            "details": "Monitor updated",
            "monitor_uuid": m.id.to_string(),
            "slug": m.slug,
            "status": st.state.status.as_str(),
        }));
    }
    no_pipeline_fields(
        i.stages.is_some(),
        i.strict.is_some(),
        i.timeout_seconds.is_some(),
        i.budget_per_instance_usd.is_some(),
        i.budget_per_day_usd.is_some(),
    )?;
    let period = period_of(
        i.interval_seconds,
        i.cron_expression.map(|c| c.0),
        i.cron_timezone.map(|z| z.0),
        Some(&current.spec.period),
    )?;
    let spec = Spec {
        period: period.unwrap_or_else(|| current.spec.period.clone()),
        grace_seconds: i.grace_seconds.map_or(current.spec.grace_seconds, |g| g.get() as u32),
    };
    let spec = validated(&cx, spec).await?;
    let (m, st, deadline) = cx
        .app
        .store
        .update_monitor(cx.brand.id, current.id, cx.now, move |m| {
            if let Some(n) = name {
                m.name = n;
            }
            if let Some(s) = slug {
                m.slug = s;
            }
            m.spec = spec;
            Ok(())
        })
        .await?;
    cx.app.scheduler.arm_monitor(m.brand, m.id, deadline).await;
    ok(json!({
        "success": true,
        "details": "Monitor updated",
        "monitor_uuid": m.id.to_string(),
        "slug": m.slug,
        "status": st.state.status.as_str(),
    }))
}

pub async fn delete(cx: Cx, i: MonitorRef) -> ApiResult {
    let (current, st) = load(&cx, i.monitor_uuid)?;
    // A pipeline's instances leave the instance gauge with it.
    let instances = match current.kind {
        MonitorKind::Pipeline => {
            cx.app.store.list_instances(cx.brand.id, current.id, 1, u64::from(crate::model::INSTANCES_KEPT_MAX))?.items
        }
        MonitorKind::Heartbeat => Vec::new(),
    };
    let m = cx.app.store.delete_monitor(cx.brand.id, MonitorId(i.monitor_uuid.0)).await?;
    cx.app.scheduler.arm_monitor(m.brand, m.id, None).await;
    cx.app.metrics.monitor_moved(Some(st.state.status.as_str()), None);
    for inst in instances {
        cx.app.metrics.pipeline_instance_moved(Some(inst.status.as_str()), None);
    }
    ok(json!({"success": true, "details": "Monitor deleted", "monitor_uuid": m.id.to_string()}))
}

async fn set_paused(cx: Cx, i: MonitorRef, pause: bool) -> ApiResult {
    let (m, st, change) =
        cx.app.store.set_monitor_paused(cx.brand.id, MonitorId(i.monitor_uuid.0), pause, cx.now).await?;
    crate::scheduler::report_monitor_change(&cx.app.metrics, &change);
    cx.app.scheduler.arm_monitor(m.brand, m.id, change.deadline).await;
    ok(json!({
        "success": true,
        "details": if pause { "Monitor paused" } else { "Monitor resumed" },
        "monitor_uuid": m.id.to_string(),
        "status": st.state.status.as_str(),
    }))
}

pub async fn pause(cx: Cx, i: MonitorRef) -> ApiResult {
    set_paused(cx, i, true).await
}

pub async fn resume(cx: Cx, i: MonitorRef) -> ApiResult {
    set_paused(cx, i, false).await
}

pub async fn pings(cx: Cx, i: PingsQuery) -> ApiResult {
    let (m, _) = load(&cx, i.monitor_uuid)?;
    let page = page_number(i.page);
    let items = cx.app.store.list_pings(cx.brand.id, m.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |p| ping_item(p, &tz))
}

/// `get_ping_key`, `rotate_ping_key`: no input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

fn key_answer(cx: &Cx, k: &PingKey, details: &str) -> ApiResult {
    let plain = cx
        .app
        .vault
        .open_ping_key(k.brand, &k.sealed)
        .map_err(|e| ApiError::Internal(format!("ping key of brand {}: {e}", k.brand)))?;
    ok(json!({
        "success": true,
        "details": details,
        "ping_key": plain.as_str(),
        "ping_url_template": format!("/ping/{}/<slug>", plain.as_str()),
        "inserted_at": format_in_zone(k.created_ms, &cx.brand.timezone),
    }))
}

fn fresh_key(cx: &Cx) -> Result<PingKey, ApiError> {
    let key = new_secret_token("hwpk_")?;
    Ok(PingKey {
        brand: cx.brand.id,
        sealed: cx.app.vault.seal_ping_key(cx.brand.id, &key),
        hash: secret_hash(&key),
        created_ms: cx.now,
    })
}

/// The brand's ping key; the first call creates it.
pub async fn get_ping_key(cx: Cx, _: NoInput) -> ApiResult {
    let k = match cx.app.store.get_ping_key(cx.brand.id)? {
        Some(k) => k,
        None => cx.app.store.put_ping_key(fresh_key(&cx)?, false).await?,
    };
    key_answer(&cx, &k, "Ping key")
}

/// A new ping key; slug URLs under the previous one answer 404 at once.
pub async fn rotate_ping_key(cx: Cx, _: NoInput) -> ApiResult {
    let k = cx.app.store.put_ping_key(fresh_key(&cx)?, true).await?;
    key_answer(&cx, &k, "Ping key rotated; slug URLs under the previous key answer 404 from now on")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slugify("Nightly DB backup"), "nightly-db-backup");
        assert_eq!(slugify("  --ÄÖ!! "), "monitor");
        assert_eq!(slugify("a_b  c"), "a_b-c");
        assert!(slugify(&"x".repeat(500)).len() <= SLUG_CHARS_MAX);
        assert!(check_slug("slug", "Bad Slug").is_err());
        assert_eq!(check_slug("slug", "ok-1_2").unwrap(), "ok-1_2");
    }
}
