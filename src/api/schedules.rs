//! Schedule endpoints: the documented `add_{interval,cron,clocked,solar}_schedule`,
//! `add_schedule_rule`, `get_schedules_paginated`, `get_single_schedule_details`,
//! `change_schedule_status`, `delete_schedule`; the SDK's variants; and the extensions
//! `add_debounce_schedule`, `trigger_debounce_schedule`, `update_schedule`,
//! `preview_schedule`, `trigger_schedule_now`, `list_schedule_rules`, `delete_schedule_rule`.
//!
//! Handlers validate and write through the store; the scheduler is told to (re)arm afterwards
//! and always acts on the stored state.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::ApiError;
use super::reply::{ApiResult, ok, paginated};
use super::request::Cx;
use super::request::{Names, Req};
use crate::model::{
    Execution, MisfirePolicy, OverlapPolicy, RuleId, Schedule, ScheduleId, ScheduleRule, ScheduleStatus, TargetKind,
    TemplateId, WorkflowId,
};
use crate::schedule::clocked::{ClockedSpec, parse_instant};
use crate::schedule::cron::{CronError, CronSpec};
use crate::schedule::debounce::{DebounceSpec, Mode, TriggerOutcome};
use crate::schedule::interval::{IntervalSpec, Period};
use crate::schedule::rules::{Rule, format_time_of_day, parse_time_of_day};
use crate::schedule::solar::SolarEvent;
use crate::schedule::{Driver, PREVIEW_COUNT_MAX, SolarSpec, preview};
use crate::store::StoreError;
use crate::time::{Millis, format_utc, tz};

const SCHEDULE_UUID: Names = &["schedule_uuid"];
const SCHEDULE_TO: Names = &["schedule_to"];
const MODEL_UUID: Names = &["model_to_schedule_uuid"];
const CONTEXT: Names = &["initial_context_template", "initial_context"];
const ONE_OFF: Names = &["is_one_off_task"];

const INTERVAL_VALUE_MAX: i64 = 1_000_000;
/// Months: a century, well inside the calendar's range.
const INTERVAL_MONTHS_MAX: i64 = 1200;
const MISFIRE_GRACE_SECONDS_MAX: i64 = 30 * 86_400;
const JITTER_SECONDS_MAX: i64 = 86_400;
const DEBOUNCE_SECONDS_MAX: i64 = 30 * 86_400;
const NAME_CHARS_MAX: usize = 200;
const PREVIEW_COUNT_DEFAULT: usize = 10;
/// Most rules one schedule may carry.
const RULES_PER_SCHEDULE_MAX: usize = 50;

fn sid(req: &Req) -> Result<ScheduleId, ApiError> {
    req.uuid(SCHEDULE_UUID).map(ScheduleId)
}

fn load(cx: &Cx, req: &Req) -> Result<Schedule, ApiError> {
    cx.app.store.get_schedule(cx.brand.id, sid(req)?)?.ok_or(ApiError::NotFound("Schedule"))
}

fn zone_field(req: &Req, names: Names) -> Result<Option<String>, ApiError> {
    match req.opt_string(names)? {
        None => Ok(None),
        Some(z) if tz::zone(&z).is_some() => Ok(Some(z)),
        Some(_) => {
            Err(ApiError::invalid(req.field(names).expect("present").0, "not an IANA time zone; see get_timezones"))
        }
    }
}

/// A coordinate given as a string (documented) or a number (SDK), within ±`max`.
fn coordinate(req: &Req, names: Names, max: f64, required: bool) -> Result<Option<f64>, ApiError> {
    let Some((name, v)) = req.field(names) else {
        return if required { Err(ApiError::Missing(names[0].into())) } else { Ok(None) };
    };
    let x = match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() && x.abs() <= max => Ok(Some(x)),
        Some(_) => Err(ApiError::invalid(name, format!("must be between -{max} and {max}"))),
        None => Err(ApiError::invalid(name, "expected decimal degrees, e.g. \"40.7128\"")),
    }
}

fn solar_event(req: &Req, names: Names, required: bool) -> Result<Option<SolarEvent>, ApiError> {
    match req.opt_string(names)? {
        None if required => Err(ApiError::Missing(names[0].into())),
        None => Ok(None),
        Some(e) => SolarEvent::parse(&e).map(Some).ok_or_else(|| {
            ApiError::invalid(req.field(names).expect("present").0, "expected sunrise, sunset, civil_dawn, civil_dusk, nautical_dawn, nautical_dusk, astronomical_dawn, astronomical_dusk or solar_noon")
        }),
    }
}

/// Builds a driver of `kind` from the request. With `base`, absent fields keep its values
/// (update); otherwise required fields must be present.
fn parse_driver(req: &Req, kind: &str, now: Millis, base: Option<&Driver>, sdk: bool) -> Result<Driver, ApiError> {
    let one_off = |current: bool| -> Result<bool, ApiError> {
        match req.opt_bool(ONE_OFF)? {
            Some(b) => Ok(b),
            None if base.is_some() || sdk => Ok(current),
            None => Err(ApiError::Missing("is_one_off_task".into())),
        }
    };
    Ok(match kind {
        "interval" => {
            let cur = match base {
                Some(Driver::Interval(s)) => Some(*s),
                _ => None,
            };
            let (value, period) = match (
                req.opt_int(&["interval_value"], 1, INTERVAL_VALUE_MAX)?,
                req.opt_int(&["interval_seconds"], 1, INTERVAL_VALUE_MAX)?,
            ) {
                (Some(v), _) => {
                    let p = match req.opt_string(&["interval_period"])? {
                        Some(p) => Period::parse(&p).ok_or_else(|| {
                            ApiError::invalid("interval_period", "expected second, minute, hour, day, week or month")
                        })?,
                        None => cur.map(|c| c.period).ok_or_else(|| ApiError::Missing("interval_period".into()))?,
                    };
                    if p == Period::Month && v > INTERVAL_MONTHS_MAX {
                        return Err(ApiError::invalid(
                            "interval_value",
                            format!("at most {INTERVAL_MONTHS_MAX} for months"),
                        ));
                    }
                    (v as u32, p)
                }
                (None, Some(secs)) if sdk => (secs as u32, Period::Second),
                _ => match cur {
                    Some(c) => {
                        let p = match req.opt_string(&["interval_period"])? {
                            Some(p) => Period::parse(&p).ok_or_else(|| {
                                ApiError::invalid(
                                    "interval_period",
                                    "expected second, minute, hour, day, week or month",
                                )
                            })?,
                            None => c.period,
                        };
                        (c.value, p)
                    }
                    None => return Err(ApiError::Missing("interval_value".into())),
                },
            };
            let start_at = match req.opt_string(&["start_at"])? {
                Some(s) => Some(parse_instant(&s, "UTC").map_err(|why| ApiError::invalid("start_at", why))?),
                None => None,
            };
            let (anchor_ms, anchor_fires) = match (start_at, cur) {
                (Some(s), _) => (s, true),
                (None, Some(c))
                    if base.is_some()
                        && req.opt_int(&["interval_value"], 1, INTERVAL_VALUE_MAX)?.is_none()
                        && req.opt_string(&["interval_period"])?.is_none() =>
                {
                    (c.anchor_ms, c.anchor_fires)
                }
                _ => (now, false),
            };
            Driver::Interval(IntervalSpec {
                value,
                period,
                anchor_ms,
                anchor_fires,
                one_off: one_off(cur.is_some_and(|c| c.one_off))?,
            })
        }
        "cron" => {
            let cur = match base {
                Some(Driver::Cron(s)) => Some(s.clone()),
                _ => None,
            };
            let expression = match (req.opt_string(&["cron_expression"])?, &cur) {
                (Some(e), _) => e,
                (None, Some(c)) => c.expression.clone(),
                (None, None) => return Err(ApiError::Missing("cron_expression".into())),
            };
            let tz_names: Names = if sdk { &["cron_timezone", "timezone"] } else { &["cron_timezone"] };
            let timezone = match (zone_field(req, tz_names)?, &cur) {
                (Some(z), _) => z,
                (None, Some(c)) => c.timezone.clone(),
                (None, None) if sdk => "UTC".into(),
                (None, None) => return Err(ApiError::Missing("cron_timezone".into())),
            };
            let spec = CronSpec::new(expression, timezone, one_off(cur.as_ref().is_some_and(|c| c.one_off))?);
            spec.validate(now).map_err(|e| match e {
                CronError::Expression(why) => ApiError::invalid("cron_expression", why),
                CronError::Zone => ApiError::invalid("cron_timezone", "not an IANA time zone"),
                CronError::NeverFires => ApiError::invalid("cron_expression", "never matches a date"),
            })?;
            Driver::Cron(spec)
        }
        "clocked" => {
            let cur = match base {
                Some(Driver::Clocked(s)) => Some(s.clone()),
                _ => None,
            };
            let at_names: Names = if sdk { &["clocked_run_at", "scheduled_time"] } else { &["clocked_run_at"] };
            let tz_names: Names = if sdk { &["clocked_timezone", "timezone"] } else { &["clocked_timezone"] };
            let timezone = match (zone_field(req, tz_names)?, &cur) {
                (Some(z), _) => z,
                (None, Some(c)) => c.timezone.clone(),
                (None, None) if sdk => "UTC".into(),
                (None, None) => return Err(ApiError::Missing("clocked_timezone".into())),
            };
            let run_at = match (req.opt_string(at_names)?, &cur) {
                (Some(s), _) => s,
                (None, Some(c)) => c.run_at.clone(),
                (None, None) => return Err(ApiError::Missing("clocked_run_at".into())),
            };
            let run_at_ms =
                parse_instant(&run_at, &timezone).map_err(|why| ApiError::invalid("clocked_run_at", why))?;
            Driver::Clocked(ClockedSpec { run_at_ms, run_at, timezone })
        }
        "solar" => {
            let cur = match base {
                Some(Driver::Solar(s)) => Some(s.clone()),
                _ => None,
            };
            let lat_names: Names = if sdk { &["solar_lat", "latitude"] } else { &["solar_lat"] };
            let lon_names: Names = if sdk { &["solar_long", "longitude"] } else { &["solar_long"] };
            let event = match (solar_event(req, &["solar_event"], cur.is_none())?, &cur) {
                (Some(e), _) => e,
                (None, Some(c)) => c.event,
                (None, None) => return Err(ApiError::Missing("solar_event".into())),
            };
            let lat =
                coordinate(req, lat_names, 90.0, cur.is_none())?.or(cur.as_ref().map(|c| c.lat)).expect("required");
            let lon =
                coordinate(req, lon_names, 180.0, cur.is_none())?.or(cur.as_ref().map(|c| c.lon)).expect("required");
            let offset = req
                .opt_int(&["solar_offset_seconds"], -86_400, 86_400)?
                .map(|o| o as i32)
                .or(cur.as_ref().map(|c| c.offset_seconds))
                .unwrap_or(0);
            Driver::Solar(SolarSpec {
                event,
                lat,
                lon,
                offset_seconds: offset,
                one_off: one_off(cur.as_ref().is_some_and(|c| c.one_off))?,
            })
        }
        "debounce" => {
            let cur = match base {
                Some(Driver::Debounce(s)) => Some(*s),
                _ => None,
            };
            let window = match (req.opt_int(&["debounce_seconds"], 1, DEBOUNCE_SECONDS_MAX)?, cur) {
                (Some(w), _) => w as u32,
                (None, Some(c)) => c.window_seconds,
                (None, None) => return Err(ApiError::Missing("debounce_seconds".into())),
            };
            let mode = match req.opt_string(&["debounce_mode"])? {
                Some(m) => {
                    Mode::parse(&m).ok_or_else(|| ApiError::invalid("debounce_mode", "expected trailing or leading"))?
                }
                None => cur.map(|c| c.mode).unwrap_or(Mode::Trailing),
            };
            let max_wait = match req.opt_int(&["max_wait_seconds"], 1, DEBOUNCE_SECONDS_MAX)? {
                Some(m) if (m as u32) < window => {
                    return Err(ApiError::invalid("max_wait_seconds", "must be at least debounce_seconds"));
                }
                Some(m) => Some(m as u32),
                None => cur.and_then(|c| c.max_wait_seconds),
            };
            if max_wait.is_some() && mode == Mode::Leading {
                return Err(ApiError::invalid("max_wait_seconds", "only applies to debounce_mode trailing"));
            }
            Driver::Debounce(DebounceSpec { window_seconds: window, mode, max_wait_seconds: max_wait })
        }
        _ => {
            return Err(ApiError::invalid("schedule_type", "expected interval, cron, clocked, solar or debounce"));
        }
    })
}

/// Extension settings accepted on every create (and update).
fn apply_common(req: &Req, s: &mut Schedule) -> Result<(), ApiError> {
    if let Some(c) = req.opt_object(CONTEXT)? {
        s.initial_context = c;
    }
    if let Some(m) = req.opt_string(&["misfire_policy"])? {
        s.misfire = MisfirePolicy::parse(&m)
            .ok_or_else(|| ApiError::invalid("misfire_policy", "expected fire_once, skip or fire_all"))?;
    }
    if let Some(g) = req.opt_int(&["misfire_grace_seconds"], 0, MISFIRE_GRACE_SECONDS_MAX)? {
        s.misfire_grace_seconds = g as u32;
    }
    if let Some(o) = req.opt_string(&["overlap_policy"])? {
        s.overlap = OverlapPolicy::parse(&o)
            .ok_or_else(|| ApiError::invalid("overlap_policy", "expected allow, skip or buffer_one"))?;
    }
    if let Some(j) = req.opt_int(&["jitter_seconds"], 0, JITTER_SECONDS_MAX)? {
        s.jitter_seconds = j as u32;
    }
    if let Some(n) = req.opt_string(&["name"])? {
        if n.chars().count() > NAME_CHARS_MAX {
            return Err(ApiError::invalid("name", format!("longer than {NAME_CHARS_MAX} characters")));
        }
        s.name = Some(n);
    }
    Ok(())
}

/// Sets the cursor for a newly created or changed driver, from `now`. Clocked times in the
/// past are accepted within the misfire grace (they fire at once) and refused beyond it.
fn initial_cursor(s: &mut Schedule, now: Millis) -> Result<(), ApiError> {
    s.status = ScheduleStatus::Active;
    s.reason = None;
    s.next_fire_ms = match &s.driver {
        Driver::Clocked(c) => {
            // In the future, or in the past within the grace (then it fires at once).
            if now - c.run_at_ms <= i64::from(s.misfire_grace_seconds) * 1000 {
                Some(c.run_at_ms)
            } else {
                return Err(ApiError::invalid(
                    "clocked_run_at",
                    format!("is more than misfire_grace_seconds ({}) in the past", s.misfire_grace_seconds),
                ));
            }
        }
        Driver::Debounce(d) => d.due(&s.debounce),
        d => d.next_after(now),
    };
    if s.next_fire_ms.is_none() && !matches!(s.driver, Driver::Debounce(_)) {
        s.status = ScheduleStatus::Completed;
        s.reason = Some(match s.driver {
            Driver::Solar(_) => "the solar event does not occur within the next 366 days".into(),
            _ => "no further fire times".into(),
        });
    }
    Ok(())
}

/// Resolves the target: documented `schedule_to` + `model_to_schedule_uuid`, or (SDK) a
/// `webhook_url`, for which a template is found or registered.
async fn target(cx: &Cx, req: &Req, sdk: bool) -> Result<(TargetKind, Uuid), ApiError> {
    if sdk && !req.has(MODEL_UUID) && req.has(&["webhook_url"]) {
        let url = req.string(&["webhook_url"])?;
        let id = super::templates::template_for_url(cx, &url).await?;
        return Ok((TargetKind::Webhook, id.0));
    }
    let kind = req.string(SCHEDULE_TO)?;
    let kind =
        TargetKind::parse(&kind).ok_or_else(|| ApiError::invalid("schedule_to", "expected webhook or workflow"))?;
    let id = req.uuid(MODEL_UUID)?;
    if kind == TargetKind::Webhook && cx.app.store.get_template(cx.brand.id, TemplateId(id))?.is_none() {
        return Err(ApiError::NotFound("Webhook"));
    }
    if kind == TargetKind::Workflow && cx.app.store.get_workflow(cx.brand.id, WorkflowId(id))?.is_none() {
        return Err(ApiError::NotFound("Workflow"));
    }
    Ok((kind, id))
}

async fn create(cx: Cx, req: Req, kind: &str, sdk: bool) -> ApiResult {
    // The SDK's webhook_url registers a template: validate the driver before writing it.
    let early = if sdk { Some(parse_driver(&req, kind, cx.now, None, sdk)?) } else { None };
    let (target_kind, target_id) = target(&cx, &req, sdk).await?;
    let driver = match early {
        Some(d) => d,
        None => parse_driver(&req, kind, cx.now, None, sdk)?,
    };
    let defaults = cx.app.live().schedule_defaults;
    let mut s = Schedule {
        id: ScheduleId::new(),
        brand: cx.brand.id,
        name: None,
        target_kind,
        target_id,
        driver,
        initial_context: Map::new(),
        misfire: defaults.misfire_policy,
        misfire_grace_seconds: defaults.misfire_grace_seconds,
        overlap: OverlapPolicy::Allow,
        jitter_seconds: 0,
        status: ScheduleStatus::Active,
        reason: None,
        rules: Vec::new(),
        next_fire_ms: None,
        last_run_ms: None,
        total_triggered: 0,
        debounce: Default::default(),
        buffered_ms: None,
        version: 0,
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    apply_common(&req, &mut s)?;
    initial_cursor(&mut s, cx.now)?;
    let s = cx.app.store.create_schedule(s).await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule added successfully", "schedule_uuid": s.id.to_string()}))
}

pub async fn add_interval(cx: Cx, req: Req) -> ApiResult {
    create(cx, req, "interval", false).await
}
pub async fn add_cron(cx: Cx, req: Req) -> ApiResult {
    create(cx, req, "cron", false).await
}
pub async fn add_clocked(cx: Cx, req: Req) -> ApiResult {
    create(cx, req, "clocked", false).await
}
pub async fn add_solar(cx: Cx, req: Req) -> ApiResult {
    create(cx, req, "solar", false).await
}
pub async fn add_debounce(cx: Cx, req: Req) -> ApiResult {
    create(cx, req, "debounce", false).await
}

/// The SDK's `create_schedule`: `schedule_type` plus the driver's fields (SDK or documented
/// names), targeting `webhook_url` or a documented target.
pub async fn add_sdk(cx: Cx, req: Req) -> ApiResult {
    let kind = req.string(&["schedule_type", "driver_type"])?;
    create(cx, req, &kind.clone(), true).await
}

// ---- reading ----

/// "2 hours 30 minutes": the two largest non-zero units.
pub fn human_duration(ms: i64) -> String {
    if ms < 1000 {
        return "less than a second".into();
    }
    let secs = ms / 1000;
    let units = [(secs / 86_400, "day"), (secs / 3600 % 24, "hour"), (secs / 60 % 60, "minute"), (secs % 60, "second")];
    units
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, u)| format!("{n} {u}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The next run shown to clients: only an active schedule has one (a paused or inactive
/// schedule keeps its stored cursor, but it will not fire there; resuming recomputes it).
fn next_run(s: &Schedule) -> Option<Millis> {
    if s.status == ScheduleStatus::Active { s.next_fire_ms } else { None }
}

fn locale_details(s: &Schedule, brand_tz: &str, now: Millis) -> Value {
    json!({
        "preferred_timezone": brand_tz,
        "time_left_to_trigger": next_run(s).map(|n| human_duration(n - now)),
        "last_run_at_by_preferred_timezone": s.last_run_ms.map(|t| tz::format_in_zone(t, brand_tz)),
        "next_run_at_by_preferred_timezone": next_run(s).map(|t| tz::format_in_zone(t, brand_tz)),
    })
}

fn opt_utc(t: Option<Millis>) -> Value {
    t.map(|t| Value::String(format_utc(t))).unwrap_or(Value::Null)
}

fn list_item(s: &Schedule, brand_tz: &str, now: Millis) -> Value {
    json!({
        "reason": s.reason,
        "status": s.status.as_str(),
        "type": s.target_kind.as_str(),
        "model_uuid": s.target_id.to_string(),
        "driver_type": s.driver.kind(),
        "last_run_at": opt_utc(s.last_run_ms),
        "next_run_at": opt_utc(next_run(s)),
        "total_schedule_triggered": s.total_triggered,
        "locale_timezone_converted_details": locale_details(s, brand_tz, now),
        "schedule_uuid": s.id.to_string(),
        "name": s.name,
    })
}

fn driver_view(d: &Driver) -> Value {
    let mut v = json!({
        "type": d.kind(),
        "interval_value": null, "interval_period": null,
        "cron_expression": null, "cron_timezone": null,
        "clocked_run_at": null, "clocked_timezone": null,
        "solar_event": null, "solar_lat": null, "solar_long": null,
        "is_one_off": d.is_one_off(), "solar_offset": null,
        "start_at": null,
        "debounce_seconds": null, "debounce_mode": null, "max_wait_seconds": null,
    });
    let o = v.as_object_mut().expect("object literal");
    match d {
        Driver::Interval(s) => {
            o.insert("interval_value".into(), json!(s.value));
            o.insert("interval_period".into(), json!(s.period.as_str()));
            if s.anchor_fires {
                o.insert("start_at".into(), json!(format_utc(s.anchor_ms)));
            }
        }
        Driver::Cron(s) => {
            o.insert("cron_expression".into(), json!(s.expression));
            o.insert("cron_timezone".into(), json!(s.timezone));
        }
        Driver::Clocked(s) => {
            o.insert("clocked_run_at".into(), json!(s.run_at));
            o.insert("clocked_timezone".into(), json!(s.timezone));
        }
        Driver::Solar(s) => {
            o.insert("solar_event".into(), json!(s.event.as_str()));
            o.insert("solar_lat".into(), json!(s.lat.to_string()));
            o.insert("solar_long".into(), json!(s.lon.to_string()));
            o.insert("solar_offset".into(), json!(s.offset_seconds));
        }
        Driver::Debounce(s) => {
            o.insert("debounce_seconds".into(), json!(s.window_seconds));
            o.insert("debounce_mode".into(), json!(s.mode.as_str()));
            o.insert("max_wait_seconds".into(), json!(s.max_wait_seconds));
        }
    }
    v
}

pub fn rule_view(r: &ScheduleRule, zone_default: &str) -> Value {
    let mut v = json!({
        "rule_uuid": r.id.to_string(),
        "rule_type": r.rule.type_name(),
        "start_time": null, "end_time": null, "timezone": null,
        "allow_days": null, "allow_months": null, "allow_weekdays": null,
        "exclusion_dates": null,
        "solar_start_event": null, "solar_end_event": null, "solar_lat": null, "solar_long": null,
        "max_run_to_terminate_after": null, "expire_at": null,
    });
    let o = v.as_object_mut().expect("object literal");
    match &r.rule {
        Rule::TimeWindow { start_seconds, end_seconds, timezone } => {
            o.insert("start_time".into(), json!(format_time_of_day(*start_seconds)));
            o.insert("end_time".into(), json!(format_time_of_day(*end_seconds)));
            o.insert("timezone".into(), json!(timezone));
        }
        Rule::CalendarWindow { days, months, weekdays, timezone } => {
            o.insert("allow_days".into(), json!(days));
            o.insert("allow_months".into(), json!(months));
            o.insert("allow_weekdays".into(), json!(weekdays));
            o.insert("timezone".into(), json!(timezone));
        }
        Rule::SolarWindow { start, end, lat, lon } => {
            o.insert("solar_start_event".into(), json!(start.as_str()));
            o.insert("solar_end_event".into(), json!(end.as_str()));
            o.insert("solar_lat".into(), json!(lat.to_string()));
            o.insert("solar_long".into(), json!(lon.to_string()));
        }
        Rule::Exclusion { dates, timezone } => {
            o.insert("exclusion_dates".into(), json!(dates.iter().map(|d| d.to_string()).collect::<Vec<_>>()));
            o.insert("timezone".into(), json!(timezone));
        }
        Rule::Termination { max_runs, expire_at_ms } => {
            o.insert("max_run_to_terminate_after".into(), json!(max_runs));
            o.insert("expire_at".into(), opt_utc(*expire_at_ms));
        }
    }
    let _ = zone_default;
    v
}

fn target_names(cx: &Cx, s: &Schedule) -> (Value, Value) {
    if s.target_kind == TargetKind::Webhook
        && let Ok(Some(t)) = cx.app.store.get_template(cx.brand.id, TemplateId(s.target_id))
    {
        return (json!(t.name), json!(t.description));
    }
    if s.target_kind == TargetKind::Workflow
        && let Ok(Some(w)) = cx.app.store.get_workflow(cx.brand.id, WorkflowId(s.target_id))
    {
        return (json!(w.name), json!(w.description));
    }
    (Value::Null, Value::Null)
}

fn detail_view(cx: &Cx, s: &Schedule) -> Value {
    let tz = cx.brand.timezone.as_str();
    let (target_name, target_description) = target_names(cx, s);
    json!({
        "driver": driver_view(&s.driver),
        "status": s.status.as_str(),
        "reason": s.reason,
        "type": s.target_kind.as_str(),
        "last_run_at": opt_utc(s.last_run_ms),
        "next_run_at": opt_utc(next_run(s)),
        "locale_timezone_converted_details": locale_details(s, tz, cx.now),
        "schedule_uuid": s.id.to_string(),
        "schedule_applied_model_uuid": s.target_id.to_string(),
        "target_name": target_name,
        "target_description": target_description,
        "total_triggered": s.total_triggered,
        "rules": s.rules.iter().map(|r| rule_view(r, s.display_zone(tz))).collect::<Vec<_>>(),
        "name": s.name,
        "initial_context_template": s.initial_context,
        "misfire_policy": s.misfire.as_str(),
        "misfire_grace_seconds": s.misfire_grace_seconds,
        "overlap_policy": s.overlap.as_str(),
        "jitter_seconds": s.jitter_seconds,
        "inserted_at": tz::format_in_zone(s.created_ms, tz),
    })
}

async fn list_with(cx: Cx, req: Req, status_names: &[&str], required: bool) -> ApiResult {
    let page = req.page()?;
    let raw = status_names.iter().find_map(|n| req.query.get(*n).filter(|v| !v.is_empty()).map(|v| (*n, v.clone())));
    let status = match raw {
        None if required => return Err(ApiError::Missing(status_names[0].into())),
        None => None,
        Some((name, v)) => Some(
            ScheduleStatus::parse(&v)
                .ok_or_else(|| ApiError::invalid(name, "expected active, inactive, paused, completed or expired"))?,
        ),
    };
    let items = cx.app.store.list_schedules(cx.brand.id, status, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |s| list_item(s, &tz, cx.now))
}

pub async fn list(cx: Cx, req: Req) -> ApiResult {
    list_with(cx, req, &["filter_status"], true).await
}

/// The SDK's `get_schedules` (`status` optional).
pub async fn list_sdk(cx: Cx, req: Req) -> ApiResult {
    list_with(cx, req, &["status", "filter_status"], false).await
}

pub async fn detail(cx: Cx, req: Req) -> ApiResult {
    let s = load(&cx, &req)?;
    ok(json!({"success": true, "data": detail_view(&cx, &s)}))
}

// ---- changing ----

fn status_change(cx: &Cx, s: &mut Schedule, to: ScheduleStatus, field: &str) -> Result<(), StoreError> {
    if s.status.is_final() {
        return Err(StoreError::Invalid(format!("{field}: a {} schedule cannot change status", s.status.as_str())));
    }
    match to {
        ScheduleStatus::Paused => {
            s.status = ScheduleStatus::Paused;
            s.reason = Some("paused through the API".into());
        }
        _ => {
            if s.status == ScheduleStatus::Active {
                return Ok(());
            }
            if s.target_kind == TargetKind::Webhook
                && cx.app.store.get_template(s.brand, TemplateId(s.target_id)).ok().flatten().is_none()
            {
                return Err(StoreError::Invalid(format!("{field}: the target webhook template no longer exists")));
            }
            if s.target_kind == TargetKind::Workflow
                && cx.app.store.get_workflow(s.brand, WorkflowId(s.target_id)).ok().flatten().is_none()
            {
                return Err(StoreError::Invalid(format!("{field}: the target workflow no longer exists")));
            }
            // Resume: next fire computed from now, no catch-up.
            let mut fresh = s.clone();
            initial_cursor(&mut fresh, cx.now).map_err(|e| StoreError::Invalid(e.message()))?;
            s.status = fresh.status;
            s.reason = fresh.reason;
            s.next_fire_ms = fresh.next_fire_ms;
            s.buffered_ms = None;
        }
    }
    Ok(())
}

fn store_invalid_to_api(e: StoreError, field: &str) -> ApiError {
    match e {
        StoreError::Invalid(msg) => {
            let why = msg.split_once(": ").map(|(_, w)| w.to_string()).unwrap_or(msg);
            ApiError::invalid(field, why)
        }
        other => other.into(),
    }
}

async fn change_status_with(cx: Cx, req: Req, names: Names) -> ApiResult {
    let id = sid(&req)?;
    let raw = req.string(names)?;
    let field = req.field(names).expect("present").0;
    let to = match raw.as_str() {
        "active" => ScheduleStatus::Active,
        "paused" | "stopped" => ScheduleStatus::Paused,
        _ => return Err(ApiError::invalid(field, "expected active or paused")),
    };
    let cx2 = cx.clone();
    let field_owned = field.to_string();
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, id, cx.now, move |s| status_change(&cx2, s, to, &field_owned))
        .await
        .map_err(|e| store_invalid_to_api(e, field))?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule status updated", "status": s.status.as_str()}))
}

pub async fn change_status(cx: Cx, req: Req) -> ApiResult {
    change_status_with(cx, req, &["update_status_to"]).await
}

/// The SDK's `update_schedule_status` (`status`; `stopped` means paused).
pub async fn change_status_sdk(cx: Cx, req: Req) -> ApiResult {
    change_status_with(cx, req, &["status", "update_status_to"]).await
}

pub async fn delete(cx: Cx, req: Req) -> ApiResult {
    let id = sid(&req)?;
    match cx.app.store.delete_schedule(cx.brand.id, id).await {
        Ok(()) => {
            cx.app.scheduler.disarm(id).await;
            // The documented success text really is under "error".
            ok(json!({"success": true, "error": "Schedule deleted successfully", "schedule_uuid": id.to_string()}))
        }
        Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("Schedule")),
        Err(e) => Err(e.into()),
    }
}

pub async fn update(cx: Cx, req: Req) -> ApiResult {
    let current = load(&cx, &req)?;
    let driver_fields = [
        "interval_value",
        "interval_period",
        "interval_seconds",
        "start_at",
        "is_one_off_task",
        "cron_expression",
        "cron_timezone",
        "clocked_run_at",
        "clocked_timezone",
        "solar_event",
        "solar_lat",
        "solar_long",
        "solar_offset_seconds",
        "debounce_seconds",
        "debounce_mode",
        "max_wait_seconds",
    ];
    let driver_changed = driver_fields.iter().any(|f| req.body.get(*f).is_some_and(|v| !v.is_null()));
    let new_driver = if driver_changed {
        Some(parse_driver(&req, current.driver.kind(), cx.now, Some(&current.driver), false)?)
    } else {
        None
    };
    let mut probe = current.clone();
    apply_common(&req, &mut probe)?;
    if let Some(d) = &new_driver {
        probe.driver = d.clone();
        if probe.status == ScheduleStatus::Active {
            initial_cursor(&mut probe, cx.now)?;
        }
    }
    let now = cx.now;
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, now, move |s| {
            if s.status.is_final() && new_driver.is_some() {
                return Err(StoreError::Invalid(format!("a {} schedule cannot be changed", s.status.as_str())));
            }
            s.initial_context = probe.initial_context;
            s.misfire = probe.misfire;
            s.misfire_grace_seconds = probe.misfire_grace_seconds;
            s.overlap = probe.overlap;
            s.jitter_seconds = probe.jitter_seconds;
            s.name = probe.name;
            if new_driver.is_some() {
                s.driver = probe.driver;
                if s.status == ScheduleStatus::Active {
                    s.next_fire_ms = probe.next_fire_ms;
                    s.status = probe.status;
                    s.reason = probe.reason;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| store_invalid_to_api(e, "schedule_uuid"))?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(
        json!({"success": true, "details": "Schedule updated successfully", "schedule_uuid": s.id.to_string(), "next_run_at": opt_utc(next_run(&s))}),
    )
}

// ---- rules ----

const RULE_FIELDS: &[(&str, &[&str])] = &[
    ("time_window", &["start_time", "end_time", "timezone"]),
    ("calendar_window", &["allow_days", "allow_months", "allow_weekdays", "timezone"]),
    ("solar_window", &["solar_start_event", "solar_end_event", "solar_lat", "solar_long"]),
    ("exclusion", &["exclusion_dates", "timezone"]),
    ("termination", &["max_run_to_terminate_after", "expire_at"]),
];

fn int_list(req: &Req, name: &'static str, min: i64, max: i64) -> Result<Vec<u8>, ApiError> {
    match req.body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(i as u8),
                _ => Err(ApiError::invalid(name, format!("expected integers from {min} to {max}"))),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(name, "expected an array of integers")),
    }
}

/// Parses a rule body (`rule_type` + its fields); fields of another rule type are refused.
pub fn parse_rule(req: &Req, default_zone: &str) -> Result<Rule, ApiError> {
    let rule_type = req.string(&["rule_type"])?;
    let Some((_, own)) = RULE_FIELDS.iter().find(|(t, _)| *t == rule_type) else {
        return Err(ApiError::invalid(
            "rule_type",
            "expected time_window, calendar_window, solar_window, exclusion or termination",
        ));
    };
    for (_, fields) in RULE_FIELDS {
        for f in *fields {
            if !own.contains(f) && req.body.get(*f).is_some_and(|v| !v.is_null()) {
                return Err(ApiError::invalid(f, format!("not a field of rule_type {rule_type}")));
            }
        }
    }
    let zone = zone_field(req, &["timezone"])?.unwrap_or_else(|| default_zone.to_string());
    Ok(match rule_type.as_str() {
        "time_window" => {
            let start = parse_time_of_day(&req.string(&["start_time"])?)
                .ok_or_else(|| ApiError::invalid("start_time", "expected HH:mm:ss"))?;
            let end = parse_time_of_day(&req.string(&["end_time"])?)
                .ok_or_else(|| ApiError::invalid("end_time", "expected HH:mm:ss"))?;
            if start == end {
                return Err(ApiError::invalid("end_time", "must differ from start_time"));
            }
            Rule::TimeWindow { start_seconds: start, end_seconds: end, timezone: zone }
        }
        "calendar_window" => {
            let days = int_list(req, "allow_days", 1, 31)?;
            let months = int_list(req, "allow_months", 1, 12)?;
            let weekdays = int_list(req, "allow_weekdays", 0, 6)?;
            if days.is_empty() && months.is_empty() && weekdays.is_empty() {
                return Err(ApiError::Missing("allow_days".into()));
            }
            Rule::CalendarWindow { days, months, weekdays, timezone: zone }
        }
        "solar_window" => Rule::SolarWindow {
            start: solar_event(req, &["solar_start_event"], true)?.expect("required"),
            end: solar_event(req, &["solar_end_event"], true)?.expect("required"),
            lat: coordinate(req, &["solar_lat"], 90.0, true)?.expect("required"),
            lon: coordinate(req, &["solar_long"], 180.0, true)?.expect("required"),
        },
        "exclusion" => {
            let dates = match req.body.get("exclusion_dates") {
                Some(Value::Array(a)) if !a.is_empty() => a
                    .iter()
                    .map(|v| v.as_str().and_then(|s| s.parse::<jiff::civil::Date>().ok()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| ApiError::invalid("exclusion_dates", "expected YYYY-MM-DD dates"))?,
                None | Some(Value::Null) => {
                    return Err(ApiError::Missing("exclusion_dates".into()));
                }
                Some(_) => {
                    return Err(ApiError::invalid("exclusion_dates", "expected a non-empty array of YYYY-MM-DD dates"));
                }
            };
            Rule::Exclusion { dates, timezone: zone }
        }
        _ => {
            let max_runs = req.opt_int(&["max_run_to_terminate_after"], 1, i64::MAX)?.map(|m| m as u64);
            let expire = match req.body.get("expire_at") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => {
                    Some(parse_instant(s, &zone).map_err(|why| ApiError::invalid("expire_at", why))?)
                }
                Some(_) => {
                    return Err(ApiError::invalid("expire_at", "expected an ISO-8601 date-time"));
                }
            };
            if max_runs.is_none() && expire.is_none() {
                return Err(ApiError::Missing("max_run_to_terminate_after".into()));
            }
            Rule::Termination { max_runs, expire_at_ms: expire }
        }
    })
}

pub async fn add_rule(cx: Cx, req: Req) -> ApiResult {
    let current = load(&cx, &req)?;
    let rule = parse_rule(&req, current.display_zone(&cx.brand.timezone))?;
    let id = RuleId::new();
    let now = cx.now;
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, now, move |s| {
            if s.rules.len() >= RULES_PER_SCHEDULE_MAX {
                return Err(StoreError::Invalid(format!("a schedule has at most {RULES_PER_SCHEDULE_MAX} rules")));
            }
            if let Rule::Termination { max_runs, expire_at_ms } = &rule
                && s.status == ScheduleStatus::Active
            {
                if max_runs.is_some_and(|m| s.total_triggered >= m) {
                    s.status = ScheduleStatus::Completed;
                    s.reason = Some("max_run_to_terminate_after reached".into());
                    s.next_fire_ms = None;
                } else if expire_at_ms.is_some_and(|e| e <= now) {
                    s.status = ScheduleStatus::Expired;
                    s.reason = Some("expire_at reached".into());
                    s.next_fire_ms = None;
                }
            }
            s.rules.push(ScheduleRule { id, rule, created_ms: now });
            Ok(())
        })
        .await
        .map_err(|e| store_invalid_to_api(e, "schedule_uuid"))?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule rule added successfully", "rule_uuid": id.to_string()}))
}

pub async fn list_rules(cx: Cx, req: Req) -> ApiResult {
    let s = load(&cx, &req)?;
    let zone = s.display_zone(&cx.brand.timezone).to_string();
    ok(json!({"success": true, "data": s.rules.iter().map(|r| rule_view(r, &zone)).collect::<Vec<_>>()}))
}

pub async fn delete_rule(cx: Cx, req: Req) -> ApiResult {
    let rule_id = RuleId(req.uuid(&["rule_uuid"])?);
    let current = load(&cx, &req)?;
    if !current.rules.iter().any(|r| r.id == rule_id) {
        return Err(ApiError::NotFound("Rule"));
    }
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, cx.now, move |s| {
            s.rules.retain(|r| r.id != rule_id);
            Ok(())
        })
        .await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule rule deleted successfully", "rule_uuid": rule_id.to_string()}))
}

// ---- preview and triggers ----

pub async fn preview_times(cx: Cx, req: Req) -> ApiResult {
    let schedule = if req.has(SCHEDULE_UUID) { Some(load(&cx, &req)?) } else { None };
    let data = preview_request(&req, schedule.as_ref(), &cx.brand.timezone, cx.now)?;
    ok(json!({"success": true, "data": data}))
}

/// The preview itself, shared by `preview_schedule` and the offline `hookwheel schedule
/// preview`: the next `count` instants of a stored schedule (from its cursor) or of driver
/// fields (`driver_type` + the fields of the matching `add_*_schedule`), with `rules` applied.
pub fn preview_request(
    req: &Req,
    schedule: Option<&Schedule>,
    brand_zone: &str,
    now: Millis,
) -> Result<Value, ApiError> {
    let count =
        req.opt_int(&["count"], 1, PREVIEW_COUNT_MAX as i64)?.map(|c| c as usize).unwrap_or(PREVIEW_COUNT_DEFAULT);
    let from = match req.opt_string(&["from"])? {
        Some(f) => Some(parse_instant(&f, "UTC").map_err(|why| ApiError::invalid("from", why))?),
        None => None,
    };
    let extra_rules: Vec<Rule> = match req.body.get("rules") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| match r {
                Value::Object(o) => parse_rule(
                    &Req { method: req.method.clone(), body: o.clone(), query: Default::default() },
                    brand_zone,
                ),
                _ => Err(ApiError::invalid("rules", "expected rule objects")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid("rules", "expected an array of rule objects"));
        }
    };
    let (driver, mut rules, runs_done, start, zone) = match schedule {
        Some(s) => {
            let zone = s.display_zone(brand_zone).to_string();
            if s.status != ScheduleStatus::Active {
                return Ok(json!({"fire_times": [], "timezone": zone, "status": s.status.as_str()}));
            }
            let start = match (from, s.next_fire_ms) {
                (Some(f), _) => f,
                // Start at the cursor, so the first instant shown is the next one that fires.
                (None, Some(c)) => c - 1,
                (None, None) => now,
            };
            (
                s.driver.clone(),
                s.rules.iter().map(|r| r.rule.clone()).collect::<Vec<_>>(),
                s.total_triggered,
                start,
                zone,
            )
        }
        None => {
            let kind = req.string(&["driver_type", "schedule_type"])?;
            let driver = parse_driver(req, &kind, now, None, true)?;
            let zone = driver.zone().unwrap_or(brand_zone).to_string();
            (driver, Vec::new(), 0, from.unwrap_or(now), zone)
        }
    };
    rules.extend(extra_rules);
    let times = preview(&driver, &rules, start, count, runs_done);
    let data: Vec<Value> = times
        .iter()
        .map(|t| json!({"utc": crate::time::format_utc_seconds(*t), "local": tz::format_in_zone_seconds(*t, &zone)}))
        .collect();
    Ok(json!({"fire_times": data, "timezone": zone}))
}

fn manual_execution(s: &Schedule, now: Millis, context: Map<String, Value>) -> Execution {
    Execution::manual(s.brand, Some(s.id), (s.target_kind, s.target_id), context, now)
}

pub async fn trigger_now(cx: Cx, req: Req) -> ApiResult {
    let s = load(&cx, &req)?;
    let mut context = s.initial_context.clone();
    if let Some(extra) = req.opt_object(&["context", "initial_context"])? {
        context.extend(extra);
    }
    let e = cx.app.store.create_execution(manual_execution(&s, cx.now, context)).await?;
    let id = e.id;
    cx.app.dispatch(e).await;
    ok(json!({"success": true, "details": "Schedule triggered", "execution_uuid": id.to_string()}))
}

pub async fn trigger_debounce(cx: Cx, req: Req) -> ApiResult {
    let current = load(&cx, &req)?;
    if !matches!(current.driver, Driver::Debounce(_)) {
        return Err(ApiError::invalid("schedule_uuid", "not a debounce schedule"));
    }
    if current.status != ScheduleStatus::Active {
        return Err(ApiError::conflict(format!(
            "Schedule is {}; only active schedules accept triggers",
            current.status.as_str()
        )));
    }
    let context = req.opt_object(&["context"])?;
    let now = cx.now;
    let (s, outcome) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, now, move |s| {
            let Driver::Debounce(spec) = s.driver.clone() else {
                return Err(StoreError::Invalid("not a debounce schedule".into()));
            };
            if s.status != ScheduleStatus::Active {
                return Err(StoreError::Invalid("schedule is not active".into()));
            }
            let out = spec.trigger(&mut s.debounce, now, context);
            if let TriggerOutcome::FireAt(at) = out {
                s.next_fire_ms = Some(at);
            }
            Ok(out)
        })
        .await
        .map_err(|e| store_invalid_to_api(e, "schedule_uuid"))?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    let (fire_at, absorbed) = match outcome {
        TriggerOutcome::FireAt(at) => (json!(format_utc(at)), false),
        TriggerOutcome::Absorbed => (Value::Null, true),
    };
    ok(json!({"success": true, "details": "Debounce trigger accepted", "fire_at": fire_at, "absorbed": absorbed}))
}
