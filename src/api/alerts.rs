//! Notification channels, alert rules and the alert history (product.md §12):
//! `add_notification_channel`, `get_notification_channels_paginated`,
//! `get_notification_channel_details`, `update_notification_channel`,
//! `delete_notification_channel`, `test_notification_channel`, `add_alert_rule`,
//! `get_alert_rules_paginated`, `get_alert_rule_details`, `update_alert_rule`,
//! `delete_alert_rule`, `get_alerts_paginated`.
//!
//! A channel's URL is sealed by the vault at once and never shown again in full: answers show
//! its origin (`url_origin`). A `webhook` channel gets its own Standard Webhooks signing
//! secret, shown by `add_notification_channel` and `get_notification_channel_details`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::fields::{Id, Int, Line, List, OneOf};
use super::reply::{ApiResult, PAGE_MAX, PageQuery, ok, page_number, paginated};
use super::request::Cx;
use crate::delivery::channel::{URL_CHARS_MAX, check_url};
use crate::model::{
    AlertOutcome, AlertRecord, AlertRule, AlertRuleId, ChannelAddress, ChannelId, ChannelKind, DomainId, MonitorId,
    NotificationChannel, ScheduleId, TemplateId, WorkflowId,
};
use crate::monitor::alert::{COOLDOWN_SECONDS_DEFAULT, RuleSpec, RuleType, Thresholds, WatchKind};
use crate::time::tz::format_in_zone;

const NAME_CHARS_MAX: usize = 256;
/// Longest `email_to` (comma-separated addresses).
const EMAIL_TO_CHARS_MAX: usize = 1024;
/// Most recipients of an email channel.
const RECIPIENTS_MAX: usize = 20;
/// Most channels of one rule.
const RULE_CHANNELS_MAX: usize = 20;

type Percent = Int<1, 100>;
type WindowSeconds = Int<1, { crate::monitor::alert::WINDOW_SECONDS_MAX as i64 }>;
type MinCount = Int<1, 1_000_000>;
type LatenessMs = Int<0, 86_400_000>;
type WaitingSeconds = Int<1, 31_536_000>;
type CooldownSeconds = Int<0, 604_800>;

/// `add_notification_channel`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddChannel {
    /// A name for people (1–256 characters).
    pub channel_name: Line<NAME_CHARS_MAX>,
    /// `webhook` (a signed JSON alert), `slack`, `discord` (their incoming-webhook formats) or
    /// `email` (needs `[smtp]` in the configuration).
    #[serde(rename = "type")]
    pub kind: OneOf<ChannelKind>,
    /// The http(s) URL to POST to (`webhook`, `slack`, `discord`). It is a credential: stored
    /// sealed, shown only as its origin.
    #[schemars(schema_with = "url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// The recipients of an `email` channel, comma-separated (at most 20).
    #[schemars(schema_with = "email_to_schema")]
    pub email_to: Option<Line<EMAIL_TO_CHARS_MAX>>,
}

/// An optional channel URL: `format: http-url`, bounded, or `null`.
fn url_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [{"type": "string", "format": "http-url"}, {"type": "null"}],
        "x-bounded-by": format!("an http(s) URL, at most {URL_CHARS_MAX} characters"),
    })
}

/// Optional recipients: `format: email-list` (1–20 comma-separated addresses), or `null`.
fn email_to_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [{"type": "string", "format": "email-list"}, {"type": "null"}],
        "x-bounded-by": format!("1-{RECIPIENTS_MAX} comma-separated addresses, at most {EMAIL_TO_CHARS_MAX} characters"),
    })
}

/// `get_notification_channel_details`, `delete_notification_channel`,
/// `test_notification_channel`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRef {
    /// The channel's id.
    pub channel_uuid: Id,
}

/// `update_notification_channel`. Absent fields keep their values; the type cannot change.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    /// The channel's id.
    pub channel_uuid: Id,
    /// A new name.
    pub channel_name: Option<Line<NAME_CHARS_MAX>>,
    /// A new URL (`webhook`, `slack`, `discord`).
    #[schemars(schema_with = "url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// New recipients (`email`).
    #[schemars(schema_with = "email_to_schema")]
    pub email_to: Option<Line<EMAIL_TO_CHARS_MAX>>,
}

/// `add_alert_rule`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRule {
    /// `execution_failed`, `failure_rate`, `lateness`, `monitor_down`, `monitor_up`,
    /// `circuit_open`, `approval_waiting` or `budget_exceeded`.
    pub rule_type: OneOf<RuleType>,
    /// The channels to alert (1–20, of this brand).
    pub channel_uuids: List<Id, RULE_CHANNELS_MAX>,
    /// Watch one monitor (`monitor_down`, `monitor_up`, `budget_exceeded`).
    pub monitor_uuid: Option<Id>,
    /// Watch one domain (`failure_rate`, `circuit_open`).
    pub domain_uuid: Option<Id>,
    /// Watch one webhook template (`execution_failed`, `failure_rate`, `lateness`).
    pub webhook_uuid: Option<Id>,
    /// Watch one workflow (`execution_failed`, `failure_rate`, `lateness`, `approval_waiting`).
    pub workflow_uuid: Option<Id>,
    /// Watch one schedule (`execution_failed`, `failure_rate`, `lateness`).
    pub schedule_uuid: Option<Id>,
    /// `failure_rate` (required): the share of failed executions in the window, 1–100 %.
    pub threshold_percent: Option<Percent>,
    /// `failure_rate`, `lateness` (required): the window, seconds (1–86400).
    pub window_seconds: Option<WindowSeconds>,
    /// `failure_rate`, `lateness`: fewest executions in the window before it is judged
    /// (default 1).
    pub min_count: Option<MinCount>,
    /// `lateness` (required): the p99 lateness above which the rule fires, ms.
    pub lateness_ms: Option<LatenessMs>,
    /// `approval_waiting` (required): how long a plan waits before the rule fires, seconds.
    pub waiting_seconds: Option<WaitingSeconds>,
    /// At most one alert per rule and subject within this many seconds (default 300; 0 = no
    /// cooldown); the others are recorded as `suppressed`.
    pub cooldown_seconds: Option<CooldownSeconds>,
}

/// `get_alert_rule_details`, `delete_alert_rule`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRef {
    /// The rule's id.
    pub alert_rule_uuid: Id,
}

/// `update_alert_rule`. Absent fields keep their values; a watched-object field replaces the
/// watched object; a new `rule_type` needs its own thresholds.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    /// The rule's id.
    pub alert_rule_uuid: Id,
    /// A new type (its thresholds must be given).
    pub rule_type: Option<OneOf<RuleType>>,
    /// New channels (1–20).
    pub channel_uuids: Option<List<Id, RULE_CHANNELS_MAX>>,
    /// Watch this monitor.
    pub monitor_uuid: Option<Id>,
    /// Watch this domain.
    pub domain_uuid: Option<Id>,
    /// Watch this webhook template.
    pub webhook_uuid: Option<Id>,
    /// Watch this workflow.
    pub workflow_uuid: Option<Id>,
    /// Watch this schedule.
    pub schedule_uuid: Option<Id>,
    /// A new threshold, %.
    pub threshold_percent: Option<Percent>,
    /// A new window, seconds.
    pub window_seconds: Option<WindowSeconds>,
    /// A new minimum count.
    pub min_count: Option<MinCount>,
    /// A new lateness bound, ms.
    pub lateness_ms: Option<LatenessMs>,
    /// A new wait, seconds.
    pub waiting_seconds: Option<WaitingSeconds>,
    /// A new cooldown, seconds.
    pub cooldown_seconds: Option<CooldownSeconds>,
}

/// `get_alerts_paginated`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// 1-based page number (default 1); newest alert first.
    pub page: Option<Int<1, PAGE_MAX>>,
    /// Only this rule's alerts.
    pub alert_rule_uuid: Option<Id>,
    /// Only `sent` or only `suppressed` alerts.
    pub outcome: Option<OneOf<AlertOutcome>>,
}

fn not_blank(field: &str, s: &str) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApiError::invalid(field, "must not be blank"));
    }
    Ok(t.to_string())
}

/// Parses `email_to`: 1–20 comma-separated addresses.
fn recipients(raw: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.parse::<lettre::Address>().is_err() {
            return Err(ApiError::invalid("email_to", "expected addresses like ops@example.com, comma-separated"));
        }
        if !out.iter().any(|a: &String| a.eq_ignore_ascii_case(part)) {
            out.push(part.to_string());
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid("email_to", "needs at least one address"));
    }
    if out.len() > RECIPIENTS_MAX {
        return Err(ApiError::invalid("email_to", format!("at most {RECIPIENTS_MAX} addresses")));
    }
    Ok(out)
}

/// The sealed address of a channel of `kind` from `url` / `email_to`.
fn address(
    cx: &Cx,
    id: ChannelId,
    kind: ChannelKind,
    url: Option<&str>,
    email_to: Option<&str>,
) -> Result<ChannelAddress, ApiError> {
    match (kind, url, email_to) {
        (ChannelKind::Email, Some(_), _) => Err(ApiError::invalid("url", "an email channel takes email_to")),
        (ChannelKind::Email, None, Some(to)) => Ok(ChannelAddress::Email { to: recipients(to)? }),
        (ChannelKind::Email, None, None) => Err(ApiError::Missing("email_to".into())),
        (_, _, Some(_)) => Err(ApiError::invalid("email_to", "only an email channel takes email_to")),
        (_, Some(u), None) => {
            let (parsed, origin) = check_url(u).map_err(|why| ApiError::invalid("url", why))?;
            Ok(ChannelAddress::Url { sealed: cx.app.vault.seal_channel_url(id, parsed.as_str()), origin })
        }
        (_, None, None) => Err(ApiError::Missing("url".into())),
    }
}

fn channel_item(c: &NotificationChannel, tz: &str) -> Value {
    let (origin, to) = match &c.address {
        ChannelAddress::Url { origin, .. } => (json!(origin), Value::Null),
        ChannelAddress::Email { to } => (Value::Null, json!(to.join(", "))),
    };
    json!({
        "channel_uuid": c.id.to_string(),
        "channel_name": c.name,
        "type": c.kind.as_str(),
        "url_origin": origin,
        "email_to": to,
        "inserted_at": format_in_zone(c.created_ms, tz),
        "updated_at": format_in_zone(c.updated_ms, tz),
    })
}

fn load_channel(cx: &Cx, id: Id) -> Result<NotificationChannel, ApiError> {
    cx.app.store.get_channel(cx.brand.id, ChannelId(id.0))?.ok_or(ApiError::NotFound("Notification channel"))
}

/// A `webhook` channel's signing secret, opened (`None` for other types).
fn signing_secret(cx: &Cx, c: &NotificationChannel) -> Result<Option<String>, ApiError> {
    let Some(sealed) = &c.signing else { return Ok(None) };
    let key = crate::model::SigningKey { sealed: sealed.clone(), created_ms: c.created_ms, expires_ms: None };
    let plain = cx
        .app
        .vault
        .open_signing(DomainId(c.id.0), &key)
        .map_err(|e| ApiError::Internal(format!("channel {}: {e}", c.id)))?;
    Ok(Some(plain.as_str().to_string()))
}

pub async fn add_channel(cx: Cx, i: AddChannel) -> ApiResult {
    let name = not_blank("channel_name", &i.channel_name.0)?;
    let kind = i.kind.0;
    if kind == ChannelKind::Email && !cx.app.delivery.smtp_configured() {
        return Err(ApiError::invalid(
            "type",
            "email channels need an SMTP server: set [smtp] host in the configuration",
        ));
    }
    let id = ChannelId::new();
    let address =
        address(&cx, id, kind, i.url.as_ref().map(|u| u.0.as_str()), i.email_to.as_ref().map(|e| e.0.as_str()))?;
    let secret = (kind == ChannelKind::Webhook).then(crate::delivery::signing::new_secret);
    let c = NotificationChannel {
        id,
        brand: cx.brand.id,
        name,
        kind,
        address,
        signing: secret.as_ref().map(|s| cx.app.vault.seal_signing(DomainId(id.0), cx.now, s)),
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    let c = cx.app.store.create_channel(c).await?;
    let mut v = channel_item(&c, &cx.brand.timezone);
    v["signing_secret"] = json!(secret);
    ok(json!({"success": true, "details": "Notification channel added", "channel_uuid": c.id.to_string(), "data": v}))
}

pub async fn list_channels(cx: Cx, i: PageQuery) -> ApiResult {
    let page = i.number();
    let items = cx.app.store.list_channels(cx.brand.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |c| channel_item(c, &tz))
}

pub async fn channel_details(cx: Cx, i: ChannelRef) -> ApiResult {
    let c = load_channel(&cx, i.channel_uuid)?;
    let mut v = channel_item(&c, &cx.brand.timezone);
    v["signing_secret"] = json!(signing_secret(&cx, &c)?);
    ok(json!({"success": true, "data": v}))
}

pub async fn update_channel(cx: Cx, i: UpdateChannel) -> ApiResult {
    let current = load_channel(&cx, i.channel_uuid)?;
    let name = i.channel_name.map(|n| not_blank("channel_name", &n.0)).transpose()?;
    let address = if i.url.is_some() || i.email_to.is_some() {
        Some(address(
            &cx,
            current.id,
            current.kind,
            i.url.as_ref().map(|u| u.0.as_str()),
            i.email_to.as_ref().map(|e| e.0.as_str()),
        )?)
    } else {
        None
    };
    let c = cx
        .app
        .store
        .update_channel(cx.brand.id, current.id, cx.now, move |c| {
            if let Some(n) = name {
                c.name = n;
            }
            if let Some(a) = address {
                c.address = a;
            }
            Ok(())
        })
        .await?;
    ok(json!({
        "success": true,
        "details": "Notification channel updated",
        "channel_uuid": c.id.to_string(),
        "data": channel_item(&c, &cx.brand.timezone),
    }))
}

pub async fn delete_channel(cx: Cx, i: ChannelRef) -> ApiResult {
    let c = match cx.app.store.delete_channel(cx.brand.id, ChannelId(i.channel_uuid.0)).await {
        Err(crate::store::StoreError::Conflict { existing, .. }) => {
            let mut extra = serde_json::Map::new();
            if let Some(rule) = existing {
                extra.insert("alert_rule_uuid".into(), json!(rule.to_string()));
            }
            return Err(ApiError::Conflict {
                message: "Notification channel is used by an alert rule; remove it from the rule first".into(),
                extra,
            });
        }
        other => other?,
    };
    ok(json!({"success": true, "details": "Notification channel deleted", "channel_uuid": c.id.to_string()}))
}

/// Sends a test alert to the channel now (one execution through the delivery engine, with
/// the channel's retries); the answer carries its `execution_uuid`. Not in the alert history.
pub async fn test_channel(cx: Cx, i: ChannelRef) -> ApiResult {
    let c = load_channel(&cx, i.channel_uuid)?;
    let test = uuid::Uuid::now_v7();
    let payload = json!({
        "type": "alert.test",
        "alert_uuid": test.to_string(),
        "alert_rule_uuid": null,
        "rule_type": "test",
        "brand_uuid": cx.brand.id.to_string(),
        "summary": format!("Test alert of the notification channel \"{}\"", c.name),
        "signal": {"kind": "test", "channel_uuid": c.id.to_string()},
        "raised_at": crate::time::format_utc(cx.now),
    });
    let e = crate::store::channel_execution(cx.brand.id, c.id, &test.simple().to_string(), &payload, cx.now);
    let e = cx.app.store.create_execution(e).await?;
    let id = e.id;
    cx.app.dispatch(e).await;
    ok(json!({
        "success": true,
        "details": "Test alert queued: get_execution_details with execution_uuid shows whether it was delivered",
        "channel_uuid": c.id.to_string(),
        "execution_uuid": id.to_string(),
    }))
}

// ---- rules ----

/// The watched object named by the input (at most one), checked to exist in the brand.
fn watch_of(cx: &Cx, fields: [(WatchKind, Option<Id>); 5]) -> Result<Option<(WatchKind, uuid::Uuid)>, ApiError> {
    let mut found: Option<(WatchKind, uuid::Uuid)> = None;
    for (kind, id) in fields {
        let Some(id) = id else { continue };
        if let Some((first, _)) = found {
            return Err(ApiError::invalid(
                kind.field(),
                format!("a rule watches one object; {} is given too", first.field()),
            ));
        }
        let b = cx.brand.id;
        let (exists, what) = match kind {
            WatchKind::Monitor => (cx.app.store.get_monitor(b, MonitorId(id.0))?.is_some(), "Monitor"),
            WatchKind::Domain => (cx.app.store.get_domain(b, DomainId(id.0))?.is_some(), "Domain"),
            WatchKind::Webhook => (cx.app.store.get_template(b, TemplateId(id.0))?.is_some(), "Webhook"),
            WatchKind::Workflow => (cx.app.store.get_workflow(b, WorkflowId(id.0))?.is_some(), "Workflow"),
            WatchKind::Schedule => (cx.app.store.get_schedule(b, ScheduleId(id.0))?.is_some(), "Schedule"),
        };
        if !exists {
            return Err(ApiError::NotFoundWith { what, key: kind.field(), id: id.0.to_string() });
        }
        found = Some((kind, id.0));
    }
    Ok(found)
}

/// The rule's channels: 1–20 of the brand, duplicates dropped.
fn channels_of(cx: &Cx, ids: &[Id]) -> Result<Vec<ChannelId>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::invalid("channel_uuids", "needs at least one channel"));
    }
    let mut out: Vec<ChannelId> = Vec::new();
    for id in ids {
        if cx.app.store.get_channel(cx.brand.id, ChannelId(id.0))?.is_none() {
            return Err(ApiError::NotFoundWith {
                what: "Notification channel",
                key: "channel_uuids",
                id: id.0.to_string(),
            });
        }
        if !out.contains(&ChannelId(id.0)) {
            out.push(ChannelId(id.0));
        }
    }
    Ok(out)
}

fn rule_item(r: &AlertRule, tz: &str) -> Value {
    let th = &r.spec.thresholds;
    let mut v = json!({
        "alert_rule_uuid": r.id.to_string(),
        "rule_type": r.spec.rule_type.as_str(),
        "channel_uuids": r.channels.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "monitor_uuid": null,
        "domain_uuid": null,
        "webhook_uuid": null,
        "workflow_uuid": null,
        "schedule_uuid": null,
        "threshold_percent": th.threshold_percent,
        "window_seconds": th.window_seconds,
        "min_count": th.min_count,
        "lateness_ms": th.lateness_ms,
        "waiting_seconds": th.waiting_seconds,
        "cooldown_seconds": r.spec.cooldown_seconds,
        "inserted_at": format_in_zone(r.created_ms, tz),
        "updated_at": format_in_zone(r.updated_ms, tz),
    });
    if let Some((kind, id)) = r.spec.watch {
        v[kind.field()] = json!(id.to_string());
    }
    v
}

fn checked(spec: RuleSpec) -> Result<RuleSpec, ApiError> {
    spec.validate().map_err(|e| ApiError::invalid(e.field, e.why))?;
    Ok(spec)
}

pub async fn add_rule(cx: Cx, i: AddRule) -> ApiResult {
    let rule_type = i.rule_type.0;
    let watch = watch_of(
        &cx,
        [
            (WatchKind::Monitor, i.monitor_uuid),
            (WatchKind::Domain, i.domain_uuid),
            (WatchKind::Webhook, i.webhook_uuid),
            (WatchKind::Workflow, i.workflow_uuid),
            (WatchKind::Schedule, i.schedule_uuid),
        ],
    )?;
    let spec = checked(RuleSpec {
        rule_type,
        watch,
        thresholds: Thresholds {
            threshold_percent: i.threshold_percent.map(|v| v.get() as u32),
            window_seconds: i.window_seconds.map(|v| v.get() as u32),
            min_count: i.min_count.map(|v| v.get() as u32),
            lateness_ms: i.lateness_ms.map(|v| v.get() as u64),
            waiting_seconds: i.waiting_seconds.map(|v| v.get() as u32),
        },
        cooldown_seconds: i.cooldown_seconds.map_or(COOLDOWN_SECONDS_DEFAULT, |v| v.get() as u32),
    })?;
    let channels = channels_of(&cx, &i.channel_uuids.0)?;
    let r = AlertRule {
        id: AlertRuleId::new(),
        brand: cx.brand.id,
        spec,
        channels,
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    let r = cx.app.store.create_alert_rule(r).await.map_err(channel_gone)?;
    ok(json!({
        "success": true,
        "details": "Alert rule added",
        "alert_rule_uuid": r.id.to_string(),
        "data": rule_item(&r, &cx.brand.timezone),
    }))
}

/// A channel deleted between the check and the write: 404 naming `channel_uuids`.
fn channel_gone(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::NotFound("Notification channel") => {
            ApiError::NotFoundWith { what: "Notification channel", key: "channel_uuids", id: String::new() }
        }
        other => other.into(),
    }
}

pub async fn list_rules(cx: Cx, i: PageQuery) -> ApiResult {
    let page = i.number();
    let items = cx.app.store.list_alert_rules(cx.brand.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |r| rule_item(r, &tz))
}

fn load_rule(cx: &Cx, id: Id) -> Result<AlertRule, ApiError> {
    cx.app.store.get_alert_rule(cx.brand.id, AlertRuleId(id.0))?.ok_or(ApiError::NotFound("Alert rule"))
}

pub async fn rule_details(cx: Cx, i: RuleRef) -> ApiResult {
    let r = load_rule(&cx, i.alert_rule_uuid)?;
    ok(json!({"success": true, "data": rule_item(&r, &cx.brand.timezone)}))
}

pub async fn update_rule(cx: Cx, i: UpdateRule) -> ApiResult {
    let current = load_rule(&cx, i.alert_rule_uuid)?;
    let watch = watch_of(
        &cx,
        [
            (WatchKind::Monitor, i.monitor_uuid),
            (WatchKind::Domain, i.domain_uuid),
            (WatchKind::Webhook, i.webhook_uuid),
            (WatchKind::Workflow, i.workflow_uuid),
            (WatchKind::Schedule, i.schedule_uuid),
        ],
    )?;
    let rule_type = i.rule_type.map_or(current.spec.rule_type, |t| t.0);
    // A new type starts from no thresholds (the old type's would not fit it).
    let base = if rule_type == current.spec.rule_type { current.spec.thresholds } else { Thresholds::default() };
    let spec = checked(RuleSpec {
        rule_type,
        watch: watch.or(if rule_type == current.spec.rule_type { current.spec.watch } else { None }),
        thresholds: Thresholds {
            threshold_percent: i.threshold_percent.map(|v| v.get() as u32).or(base.threshold_percent),
            window_seconds: i.window_seconds.map(|v| v.get() as u32).or(base.window_seconds),
            min_count: i.min_count.map(|v| v.get() as u32).or(base.min_count),
            lateness_ms: i.lateness_ms.map(|v| v.get() as u64).or(base.lateness_ms),
            waiting_seconds: i.waiting_seconds.map(|v| v.get() as u32).or(base.waiting_seconds),
        },
        cooldown_seconds: i.cooldown_seconds.map_or(current.spec.cooldown_seconds, |v| v.get() as u32),
    })?;
    let channels = i.channel_uuids.map(|c| channels_of(&cx, &c.0)).transpose()?;
    let r = cx
        .app
        .store
        .update_alert_rule(cx.brand.id, current.id, cx.now, move |r| {
            r.spec = spec;
            if let Some(c) = channels {
                r.channels = c;
            }
            Ok(())
        })
        .await
        .map_err(channel_gone)?;
    ok(json!({
        "success": true,
        "details": "Alert rule updated",
        "alert_rule_uuid": r.id.to_string(),
        "data": rule_item(&r, &cx.brand.timezone),
    }))
}

pub async fn delete_rule(cx: Cx, i: RuleRef) -> ApiResult {
    let r = cx.app.store.delete_alert_rule(cx.brand.id, AlertRuleId(i.alert_rule_uuid.0)).await?;
    ok(json!({"success": true, "details": "Alert rule deleted", "alert_rule_uuid": r.id.to_string()}))
}

fn alert_item(a: &AlertRecord, tz: &str) -> Value {
    json!({
        "alert_uuid": a.id.to_string(),
        "alert_rule_uuid": a.rule.to_string(),
        "rule_type": a.rule_type,
        "outcome": a.outcome.as_str(),
        "summary": a.summary,
        "signal": a.signal.to_json(),
        "channel_uuids": a.channels.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "execution_uuids": a.executions.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "raised_at": format_in_zone(a.raised_ms, tz),
        "inserted_at": format_in_zone(a.at_ms, tz),
    })
}

pub async fn list_alerts(cx: Cx, i: AlertsQuery) -> ApiResult {
    let page = page_number(i.page);
    let rule = i.alert_rule_uuid.map(|r| AlertRuleId(r.0));
    let items = cx.app.store.list_alerts(cx.brand.id, rule, i.outcome.map(|o| o.0), page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |a| alert_item(a, &tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked_and_deduplicated() {
        assert_eq!(
            recipients("a@example.com, A@example.com,b@example.com").unwrap(),
            ["a@example.com", "b@example.com"]
        );
        assert!(recipients(" , ").is_err());
        assert!(recipients("not an address").is_err());
        assert!(recipients("a@example.com\r\nBcc: x@example.com").is_err());
    }
}
