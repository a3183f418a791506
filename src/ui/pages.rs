//! The dashboard's HTML, rendered with maud from the JSON the API operations answer. Every
//! value is escaped (no raw-HTML insertion of data); no inline script or style (the CSP forbids
//! them). Times are shown with their zone.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::Viewer;
use super::describe::describe;

/// The schedule statuses of the overview and the schedules filter, in order.
pub const SCHEDULE_STATUSES: &[&str] = &["active", "paused", "completed", "expired", "inactive"];
/// The execution statuses of the overview and the executions filter, in order.
pub const EXECUTION_STATUSES: &[&str] =
    &["pending", "running", "succeeded", "failed", "skipped", "missed", "cancelled"];

/// A value's text: strings as they are, numbers and booleans printed, null and absent as "—".
pub(super) fn t(v: &Value) -> String {
    match v {
        Value::Null => "\u{2014}".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A path segment as it may go into a URL: ids are UUIDs; anything else is percent-encoded.
pub(super) fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An id shortened for tables and labels: `…` and its last 8 characters. Not the first 8:
/// the ids are UUIDv7, whose first 8 hex digits are the creation time's high bits, the same
/// for everything created within about a minute; the last ones are random.
pub(super) fn short(id: &str) -> String {
    match id.len().checked_sub(8).and_then(|at| id.get(at..)) {
        Some(tail) if id.len() > 9 => format!("\u{2026}{tail}"),
        _ => id.to_string(),
    }
}

/// An id as a table shows it: its first 8 characters, the whole id in the `title`.
pub(super) fn short_id(id: &str) -> Markup {
    html! { span.mono title=(id) { (short(id)) } }
}

/// What a schedule is called on the pages: its name, or, unnamed (the API's `name` null or
/// empty), its driver in words and its short id (`every 5 minutes · 0192f6a4`).
pub fn schedule_label(s: &Value) -> String {
    match s["name"].as_str().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => {
            let id = s["schedule_uuid"].as_str().unwrap_or("");
            let words = describe(&s["driver"]);
            if id.is_empty() { words } else { format!("{words} \u{b7} {}", short(id)) }
        }
    }
}

/// An RFC 3339 instant (`v`, as the API answers it) in `zone`, with the zone named:
/// `2026-12-01 08:00:00 CET (Europe/Berlin)`, or `… UTC`. "—" when absent.
pub(super) fn when(v: &Value, zone: &str) -> String {
    let Some(text) = v.as_str() else { return "\u{2014}".into() };
    let Ok(ts) = text.parse::<jiff::Timestamp>() else { return text.to_string() };
    let tz = crate::time::tz::zone(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S %Z").to_string();
    if zone == "UTC" || local.ends_with(zone) { local } else { format!("{local} ({zone})") }
}

pub(super) fn time_el(v: &Value, zone: &str) -> Markup {
    html! {
        @if let Some(utc) = v.as_str() { time datetime=(utc) { (when(v, zone)) } } @else { "\u{2014}" }
    }
}

pub(super) fn status_badge(s: &Value) -> Markup {
    let s = t(s);
    html! { span class={ "status " (s) } { (s) } }
}

/// An HTML answer with `status`.
pub(super) fn html(status: StatusCode, body: Markup) -> Response {
    let mut r = (status, body.into_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

pub(super) fn csrf_field(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.session.csrf); }
}

const NAV: &[(&str, &str, &str)] = &[
    ("overview", "/ui/", "Overview"),
    ("schedules", "/ui/schedules", "Schedules"),
    ("executions", "/ui/executions", "Executions"),
    ("approvals", "/ui/approvals", "Approvals"),
    ("workflows", "/ui/workflows", "Workflows"),
    ("events", "/ui/events", "Events"),
    ("monitors", "/ui/monitors", "Monitors"),
    ("domains", "/ui/domains", "Domains"),
    ("alerts", "/ui/alerts", "Alerts"),
];

/// The page frame: head (stylesheet, htmx with its config in a meta tag), the navigation
/// with sign-out when signed in, and `body`.
pub(super) fn page(v: Option<&Viewer>, status: StatusCode, title: &str, current: &str, body: Markup) -> Response {
    let hx_headers = v.map(|v| format!("{{\"X-CSRF-Token\": \"{}\"}}", v.session.csrf));
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}"#;
                title { (title) " \u{2014} hookwheel" }
                link rel="icon" href={ "/ui/assets/" (super::icon_name()) } type="image/svg+xml";
                link rel="stylesheet" href={ "/ui/assets/" (super::css_name()) };
                script src={ "/ui/assets/" (super::HTMX_NAME) } defer {}
            }
            body hx-headers=[hx_headers] {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "hookwheel" }
                    @if let Some(v) = v {
                        nav aria-label="Main" {
                            @for (key, href, label) in NAV {
                                @if *key == current { a href=(href) aria-current="page" { (label) } }
                                @else { a href=(href) { (label) } }
                            }
                        }
                        span.muted-light { (v.brand.name) }
                        form method="post" action="/ui/sign-out" {
                            (csrf_field(v))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #content tabindex="-1" {
                    @if let Some(note) = v.and_then(|v| v.store_note) { p.notice.error role="alert" { (note) } }
                    (body)
                }
                @if let Some(v) = v {
                    footer {
                        form.zone method="post" action="/ui/zone" {
                            (csrf_field(v))
                            label for="zone" { "Times shown in" }
                            input #zone name="zone" value=(v.zone()) spellcheck="false" autocomplete="off";
                            button.secondary type="submit" { "Change" }
                            span.muted { "(empty: the brand's zone, " (v.brand.timezone) ")" }
                        }
                    }
                }
            }
        }
    };
    html(status, markup)
}

/// An error page with the API's status and message.
pub fn error(v: Option<&Viewer>, status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Unavailable",
        _ => "Not possible",
    };
    page(
        v,
        status,
        title,
        "",
        html! {
            h1 { (title) }
            p.notice.error { (message) }
            p.actions {
                @if let Some(back) = v.and_then(|v| v.back.as_deref()) { a.button href=(back) { "Back" } }
                a href="/ui/" { "Back to the overview" }
            }
        },
    )
}

/// The 403 page of a `POST` without the right CSRF token.
pub fn forbidden(v: Option<&Viewer>) -> Response {
    error(
        v,
        StatusCode::FORBIDDEN,
        "The form's security token is missing or out of date; nothing was changed. Reload the page and try again.",
    )
}

/// The sign-in form (`token`: its CSRF value, echoing the sign-in cookie).
pub fn sign_in(token: &str, problem: Option<&str>, status: StatusCode) -> Response {
    page(
        None,
        status,
        "Sign in",
        "",
        html! {
            h1 { "Sign in" }
            @if let Some(p) = problem { p.notice.error role="alert" { (p) } }
            form.signin method="post" action="/ui/sign-in" {
                input type="hidden" name="csrf" value=(token);
                div {
                    label for="brand_uuid" { "Brand UUID" }
                    input #brand_uuid name="brand_uuid" required autocomplete="username" spellcheck="false";
                }
                div {
                    label for="api_key" { "API key" }
                    input #api_key name="api_key" type="password" required autocomplete="current-password";
                }
                div { button type="submit" { "Sign in" } }
            }
            section.help {
                h2 { "Where the credentials come from" }
                p { "The same brand UUID and API key the HTTP API takes. On its first start the daemon prints brand \u{201c}default\u{201d} and an API key once and saves them to "
                    code { "initial-credentials.json" } " in its data directory (" code { "./hookwheel-data" } " by default, " code { "/var/lib/hookwheel" } " as a service)." }
                p { "Another key for a brand: " code { "hookwheel key create --brand <brand UUID>" } " (" code { "hookwheel brand list" } " shows the brands)." }
            }
        },
    )
}

pub(super) fn notice(n: Option<&str>) -> Markup {
    let text = match n {
        Some("status") => "The schedule's status was changed.",
        Some("retry") => "Retried: this is the new execution.",
        Some("cancel") => "The execution was cancelled.",
        Some("approved") => "Approved.",
        Some("rejected") => "Rejected.",
        Some("paused") => "The monitor is paused.",
        Some("resumed") => "The monitor is resumed.",
        Some("reset") => "The circuit is closed again.",
        Some("rotated") => "A new signing key is in use; the previous one stays valid for the overlap time.",
        Some("replay") => "The replay job started; its executions appear under Executions.",
        _ => return html! {},
    };
    html! { p.notice.ok role="status" { (text) } }
}

/// A list page's URL with its non-empty filters (`path?status=failed&schedule=…`), the base
/// the [`pager`] adds `page` to.
pub(super) fn list_url(path: &str, filters: &[(&str, &str)]) -> String {
    let mut url = path.to_string();
    for (k, val) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        let sep = if url.contains('?') { '&' } else { '?' };
        url.push_str(&format!("{sep}{k}={}", url_part(val)));
    }
    url
}

pub(super) fn pager(list: &Value, base: &str) -> Markup {
    let meta = &list["meta"];
    let page = meta["page"].as_u64().unwrap_or(1);
    let pages = meta["total_pages"].as_u64().unwrap_or(1).max(1);
    let sep = if base.contains('?') { '&' } else { '?' };
    if page > pages {
        return html! {
            nav.pager aria-label="Pages" {
                span.muted { "No page " (page) ": there " @if pages == 1 { "is 1 page" } @else { "are " (pages) " pages" } "." }
                a href={ (base) (sep) "page=" (pages) } { "Go to the last page" }
            }
        };
    }
    html! {
        nav.pager aria-label="Pages" {
            @if meta["has_prev"] == true { a href={ (base) (sep) "page=" (page - 1) } { "\u{2190} Previous" } }
            span.muted { "Page " (page) " of " (pages) " \u{b7} " (meta["total_count"].as_u64().unwrap_or(0)) " in all" }
            @if meta["has_next"] == true { a href={ (base) (sep) "page=" (page + 1) } { "Next \u{2192}" } }
        }
    }
}

pub fn overview(
    v: &Viewer,
    schedules: &[(&str, u64)],
    executions: &[(&str, u64)],
    failed: &Value,
    missed: u64,
    lateness: &Value,
) -> Response {
    let zone = v.zone();
    let measured = lateness["measured"].as_u64().unwrap_or(0);
    page(
        Some(v),
        StatusCode::OK,
        "Overview",
        "overview",
        html! {
            h1 { "Overview" }
            h2 { "Last 24 hours" }
            div.cards {
                a.card href="/ui/executions?status=failed" { span.n { (failed["meta"]["total_count"].as_u64().unwrap_or(0)) } "failed executions" }
                a.card href="/ui/executions?status=missed" { span.n { (missed) } "missed (late beyond their grace)" }
                @if measured > 0 {
                    div.card { span.n { (at_most(&lateness["lateness_p50_at_most_ms"])) } "lateness p50" }
                    div.card { span.n { (at_most(&lateness["lateness_p99_at_most_ms"])) } "lateness p99" }
                    div.card { span.n { (duration_ms(lateness["lateness_max_ms"].as_i64().unwrap_or(0))) } "lateness max" }
                }
            }
            p.muted {
                @if measured > 0 {
                    "Lateness: first request start − scheduled instant, over " (measured)
                    " first requests of the last 24 hours (kept in memory: none from before the daemon last started)."
                } @else {
                    "No first request measured in the last 24 hours since the daemon started, so no lateness yet."
                }
            }
            h2 { "Schedules" }
            div.cards {
                @for (status, n) in schedules {
                    a.card href={ "/ui/schedules?status=" (status) } { span.n { (n) } (status) }
                }
            }
            h2 { "Executions" }
            div.cards {
                @for (status, n) in executions {
                    a.card href={ "/ui/executions?status=" (status) } { span.n { (n) } (status) }
                }
            }
            h2 { "Latest failures (24 h)" }
            (executions_table(failed, zone, true))
        },
    )
}

/// A percentile bound of `get_lateness_summary`: "≤ 5 ms"; `null` is past the last bound.
fn at_most(v: &Value) -> String {
    match v.as_i64() {
        Some(0) => "0 ms".into(),
        Some(ms) => format!("≤ {}", duration_ms(ms)),
        None => "> 1 h".into(),
    }
}

/// A duration in ms as people read it: "0 ms", "250 ms", "2.5 s", "90 s".
fn duration_ms(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

/// The zone a schedule's times are shown in: its driver's own zone (cron, clocked), else the
/// brand's.
fn own_zone<'a>(s: &'a Value, brand_zone: &'a str) -> &'a str {
    let d = &s["driver"];
    d["cron_timezone"].as_str().or(d["clocked_timezone"].as_str()).unwrap_or(brand_zone)
}

fn status_button(v: &Viewer, s: &Value, back: &str) -> Markup {
    let id = t(&s["schedule_uuid"]);
    let (to, label) = match s["status"].as_str() {
        Some("active") => ("paused", "Pause"),
        Some("paused") => ("active", "Resume"),
        _ => return html! {},
    };
    html! {
        form.inline method="post" action={ "/ui/schedules/" (url_part(&id)) "/status" } {
            (csrf_field(v))
            input type="hidden" name="to" value=(to);
            input type="hidden" name="back" value=(back);
            button.secondary type="submit" aria-label={ (label) " " (schedule_label(s)) } { (label) }
        }
    }
}

pub fn schedules(v: &Viewer, list: &Value, rows: &[Value], status: Option<&str>, n: Option<&str>) -> Response {
    let zone = v.zone();
    let base = match status {
        Some(s) => format!("/ui/schedules?status={}", url_part(s)),
        None => "/ui/schedules".to_string(),
    };
    page(
        Some(v),
        StatusCode::OK,
        "Schedules",
        "schedules",
        html! {
            (notice(n))
            h1 { "Schedules" }
            form.filters method="get" action="/ui/schedules" {
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        option value="" { "any" }
                        @for s in SCHEDULE_STATUSES { option value=(s) selected[status == Some(*s)] { (s) } }
                    }
                }
                button type="submit" { "Show" }
            }
            div.table-wrap {
                table {
                    thead { tr { th { "Name" } th { "Status" } th { "Runs" } th { "Next fire (its zone)" } th { "Next fire (" (zone) ")" } th { "" } } }
                    tbody {
                        @for s in rows {
                            tr {
                                td {
                                    a.row-link href={ "/ui/schedules/" (url_part(&t(&s["schedule_uuid"]))) } { (schedule_label(s)) }
                                    @if s["name"].as_str().is_some_and(|n| !n.trim().is_empty()) { br; span.muted { (describe(&s["driver"])) } }
                                }
                                td { (status_badge(&s["status"])) }
                                td { (t(&s["total_triggered"])) }
                                td { (time_el(&s["next_run_at"], own_zone(s, &v.brand.timezone))) }
                                td { (time_el(&s["next_run_at"], zone)) }
                                td { (status_button(v, s, "list")) }
                            }
                        }
                        @if rows.is_empty() { tr { td colspan="6" { "No schedules. Create one with the API's add_interval_schedule, add_cron_schedule or add_clocked_schedule (POST /v1/api/<name>/; README, Walkthrough)." } } }
                    }
                }
            }
            (pager(list, &base))
        },
    )
}

pub fn schedule(v: &Viewer, s: &Value, preview: &Value, runs: &Value, n: Option<&str>) -> Response {
    let zone = v.zone();
    let own = own_zone(s, &v.brand.timezone);
    let id = t(&s["schedule_uuid"]);
    page(
        Some(v),
        StatusCode::OK,
        &schedule_label(s),
        "schedules",
        html! {
            (notice(n))
            h1 { (schedule_label(s)) }
            dl.facts {
                dt { "Status" } dd { (status_badge(&s["status"])) @if !s["reason"].is_null() { " " span.muted { (t(&s["reason"])) } } }
                dt { "Driver" } dd {
                    (describe(&s["driver"]))
                    @if let Some(fields) = s["driver"].as_object() {
                        br; code.raw { @for (i, (k, val)) in fields.iter().filter(|(_, x)| !x.is_null()).enumerate() { @if i > 0 { ", " } (k) "=" (t(val)) } }
                    }
                }
                dt { "Next fire" } dd { (time_el(&s["next_run_at"], own)) @if own != zone { br; (time_el(&s["next_run_at"], zone)) } }
                dt { "Last run" } dd { (time_el(&s["last_run_at"], own)) }
                dt { "Runs" } dd { (t(&s["total_triggered"])) }
                dt { "Target" } dd { (t(&s["type"])) " " (t(&s["target_name"])) }
                dt { "Misfire / overlap" } dd { (t(&s["misfire_policy"])) " / " (t(&s["overlap_policy"])) }
                dt { "Id" } dd.mono { (id) }
            }
            div.actions { (status_button(v, s, "detail")) }
            h2 { "Next 10 fires" }
            @let fires = preview["fire_times"].as_array().map(Vec::as_slice).unwrap_or_default();
            @if fires.is_empty() { p.muted { "None: the schedule does not fire again as it stands." } }
            @else {
                ol {
                    @for f in fires { li { (time_el(&f["utc"], own)) @if own != zone { br; span.muted { (time_el(&f["utc"], zone)) } } } }
                }
                @if preview["complete"] == false { p.muted { "More fires were not searched within the time budget." } }
            }
            h2 { "Executions" }
            (executions_table(runs, zone, false))
            (pager(runs, &format!("/ui/schedules/{}", url_part(&id))))
        },
    )
}

/// What an execution delivers, linked: a workflow run (the workflow and the run), a
/// schedule's fire (the schedule), else the target's type and short id.
pub(super) fn target_cell(e: &Value) -> Markup {
    let id = t(&e["execution_uuid"]);
    let target = t(&e["target_uuid"]);
    html! {
        @if e["target_type"] == "workflow" {
            a href={ "/ui/workflows/" (url_part(&target)) } title=(target) { "workflow" }
            " \u{b7} "
            a href={ "/ui/runs/" (url_part(&id)) } title=(id) { "run" }
        } @else if let Some(s) = e["schedule_uuid"].as_str() {
            (t(&e["target_type"])) ", schedule " a.mono href={ "/ui/schedules/" (url_part(s)) } title=(s) { (short(s)) }
        } @else {
            (t(&e["target_type"])) " " (short_id(&target))
        }
    }
}

/// An attempt's heading: its HTTP status code, or, without one (no answer), its error.
pub(super) fn attempt_heading(a: &Value) -> String {
    let outcome = match (&a["status_code"], a["error"].as_str().filter(|e| !e.is_empty())) {
        (Value::Null, Some(err)) => err.to_string(),
        (Value::Null, None) => "no answer".to_string(),
        (code, _) => t(code),
    };
    format!("Attempt {}: {outcome}", t(&a["attempt"]))
}

/// A table of executions (`with_reason`: a column with each one's reason, for failures).
pub(super) fn executions_table(list: &Value, zone: &str, with_reason: bool) -> Markup {
    let rows = list["data"].as_array().map(Vec::as_slice).unwrap_or_default();
    let columns = if with_reason { 8 } else { 7 };
    html! {
        div.table-wrap {
            table {
                thead { tr {
                    th { "Execution" } th { "Target" } th { "Status" }
                    @if with_reason { th { "Reason" } }
                    th { "Scheduled (" (zone) ")" } th { "Attempts" } th { "Last code" } th { "Trigger" }
                } }
                tbody {
                    @for e in rows {
                        @let id = t(&e["execution_uuid"]);
                        tr {
                            td.mono { a.row-link href={ "/ui/executions/" (url_part(&id)) } title=(id) { (short(&id)) } }
                            td { (target_cell(e)) }
                            td { (status_badge(&e["status"])) }
                            @if with_reason { td { (t(&e["reason"])) } }
                            td { (time_el(&e["scheduled_at"], zone)) }
                            td { (t(&e["attempt_count"])) }
                            td { (t(&e["last_status_code"])) }
                            td { (t(&e["trigger"])) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan=(columns) { "No executions." } } }
                }
            }
        }
    }
}

pub fn executions(v: &Viewer, list: &Value, q: &HashMap<String, String>) -> Response {
    let zone = v.zone();
    let status = q.get("status").map(String::as_str).unwrap_or("");
    let schedule = q.get("schedule").map(|s| s.trim()).unwrap_or("");
    let base = list_url("/ui/executions", &[("status", status), ("schedule", schedule)]);
    let sep = if base.contains('?') { '&' } else { '?' };
    let page_no = list["meta"]["page"].as_u64().unwrap_or(1);
    let self_url = format!("{base}{sep}page={page_no}");
    page(
        Some(v),
        StatusCode::OK,
        "Executions",
        "executions",
        html! {
            h1 { "Executions" }
            form.filters method="get" action="/ui/executions" {
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        option value="" { "any" }
                        @for s in EXECUTION_STATUSES { option value=(s) selected[status == *s] { (s) } }
                    }
                }
                div {
                    label for="schedule" { "Schedule id" }
                    input #schedule name="schedule" value=(schedule) spellcheck="false";
                }
                button type="submit" { "Show" }
            }
            // Refreshed in place every 5 s (htmx takes `#live` from the page it fetches).
            div #live hx-get=(self_url) hx-select="#live" hx-swap="outerHTML" hx-trigger="every 5s" {
                (executions_table(list, zone, false))
                (pager(list, &base))
            }
        },
    )
}

pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub fn execution(v: &Viewer, e: &Value, n: Option<&str>) -> Response {
    let zone = v.zone();
    let id = t(&e["execution_uuid"]);
    let status = e["status"].as_str().unwrap_or("");
    let attempts = e["attempts"].as_array().map(Vec::as_slice).unwrap_or_default();
    page(
        Some(v),
        StatusCode::OK,
        "Execution",
        "executions",
        html! {
            (notice(n))
            @let live = matches!(status, "pending" | "running");
            @let self_url = format!("/ui/executions/{}", url_part(&id));
            // While it may still change, refreshed in place every 5 s.
            div #live hx-get=[live.then_some(&self_url)] hx-select=[live.then_some("#live")]
                hx-swap=[live.then_some("outerHTML")] hx-trigger=[live.then_some("every 5s")] {
            h1 { "Execution " span.mono { (id) } }
            dl.facts {
                dt { "Status" } dd { (status_badge(&e["status"])) @if !e["reason"].is_null() { " " span.muted { (t(&e["reason"])) } } }
                dt { "Trigger" } dd { (t(&e["trigger"])) }
                dt { "Target" } dd { (target_cell(e)) }
                dt { "Schedule" } dd {
                    @if let Some(s) = e["schedule_uuid"].as_str() { a.mono href={ "/ui/schedules/" (url_part(s)) } { (s) } } @else { "\u{2014}" }
                }
                dt { "Scheduled" } dd { (time_el(&e["scheduled_at"], zone)) }
                dt { "Finished" } dd { (time_el(&e["finished_at"], zone)) }
                dt { "Next attempt" } dd { (time_el(&e["next_attempt_at"], zone)) }
                dt { "Lateness" } dd { @if e["lateness_ms"].is_null() { "\u{2014}" } @else { (t(&e["lateness_ms"])) " ms" } }
                dt { "Retry of" } dd {
                    @if let Some(r) = e["retry_of"].as_str() { a.mono href={ "/ui/executions/" (url_part(r)) } { (r) } } @else { "\u{2014}" }
                }
            }
            div.actions {
                @if matches!(status, "failed" | "cancelled") {
                    form.inline method="post" action={ "/ui/executions/" (url_part(&id)) "/retry" } {
                        (csrf_field(v)) button type="submit" { "Retry" }
                    }
                }
                @if matches!(status, "pending" | "running") {
                    form.inline method="post" action={ "/ui/executions/" (url_part(&id)) "/cancel" } {
                        (csrf_field(v)) button.danger type="submit" { "Cancel" }
                    }
                }
            }
            h2 { "Attempts" }
            @if attempts.is_empty() {
                p.muted {
                    @if e["target_type"] == "workflow" {
                        "A workflow run's execution makes no HTTP attempt itself; its steps do: see "
                        a href={ "/ui/runs/" (url_part(&id)) } { "the run" } "."
                    } @else if live { "No attempt yet." }
                    @else { "No attempt was made (" (status) ")." }
                }
            }
            @for a in attempts {
                section {
                    h3 { (attempt_heading(a)) }
                    dl.facts {
                        dt { "Started" } dd { (time_el(&a["started_at"], zone)) }
                        dt { "Latency" } dd { (t(&a["latency_ms"])) " ms" }
                        dt { "Error" } dd { (t(&a["error"])) }
                    }
                    h4 { "Request (secrets masked)" }
                    pre { (pretty(&a["request"])) }
                    h4 { "Response excerpt" }
                    pre { (t(&a["response_excerpt"])) }
                }
            }
            h2 { "Context" }
            pre { (pretty(&e["context"])) }
            }
        },
    )
}

/// The pending approvals table (also the fragment htmx polls).
pub fn approvals_table(list: &Value, zone: &str) -> Markup {
    let rows = list["data"].as_array().map(Vec::as_slice).unwrap_or_default();
    html! {
        div.table-wrap {
            table {
                thead { tr { th { "What" } th { "Waiting since" } th { "Deadline" } th { "Decide" } } }
                tbody {
                    @for p in rows {
                        @let id = t(&p["execution_plan_uuid"]);
                        tr {
                            td {
                                @if p["kind"] == "standalone" { (t(&p["title"])) }
                                @else { (t(&p["workflow_name"])) ", step " span.mono { (t(&p["step_identifier"])) } }
                                br; span.muted { (short_id(&id)) }
                            }
                            td { (time_el(&p["inserted_at"], zone)) }
                            td { (time_el(&p["deadline_at"], zone)) }
                            td {
                                a.button href={ "/ui/approvals/" (url_part(&id)) "/confirm?decision=approve" } { "Approve\u{2026}" }
                                " "
                                a.button.secondary href={ "/ui/approvals/" (url_part(&id)) "/confirm?decision=reject" } { "Reject\u{2026}" }
                            }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="4" { "Nothing waits for a decision." } } }
                }
            }
        }
        (pager(list, "/ui/approvals"))
    }
}

pub fn approvals(v: &Viewer, list: &Value, n: Option<&str>) -> Response {
    page(
        Some(v),
        StatusCode::OK,
        "Approvals",
        "approvals",
        html! {
            (notice(n))
            h1 { "Pending approvals" }
            p.muted { "This list refreshes every 5 seconds." }
            div #approvals hx-get="/ui/approvals/list" hx-trigger="every 5s" hx-swap="innerHTML" {
                (approvals_table(list, v.zone()))
            }
        },
    )
}

/// The confirmation page of a decision: the plan as the pending list shows it (`item`), with
/// `context` (a standalone request's own; a workflow step's from its run).
pub fn approval_confirm(v: &Viewer, id: &str, decision: &str, item: Option<&Value>, context: &Value) -> Response {
    let verb = if decision == "approve" { "Approve" } else { "Reject" };
    page(
        Some(v),
        StatusCode::OK,
        verb,
        "approvals",
        html! {
            h1 { (verb) "?" }
            @if let Some(p) = item {
                dl.facts {
                    @if p["kind"] == "standalone" { dt { "Request" } dd { (t(&p["title"])) } }
                    @else {
                        dt { "Workflow" } dd { (t(&p["workflow_name"])) }
                        dt { "Step" } dd.mono { (t(&p["step_identifier"])) }
                    }
                    dt { "Waiting since" } dd { (time_el(&p["inserted_at"], v.zone())) }
                    @if let Some(run) = p["run_uuid"].as_str() { dt { "Run" } dd { a href={ "/ui/runs/" (url_part(run)) } title=(run) { (short(run)) } } }
                    dt { "Context" } dd { @if context.is_null() { "\u{2014}" } @else { pre { (pretty(context)) } } }
                }
            } @else {
                p.muted { "This plan is not on the first page of pending approvals; its decision is checked when sent." }
            }
            form method="post" action={ "/ui/approvals/" (url_part(id)) "/decide" } {
                (csrf_field(v))
                input type="hidden" name="decision" value=(decision);
                div {
                    label for="notes" { "Notes (optional)" }
                    textarea #notes name="notes" rows="3" cols="40" maxlength="2000" {}
                }
                div.actions {
                    button type="submit" class=@if decision == "reject" { "danger" } { "Yes, " (verb.to_lowercase()) }
                    a.button.secondary href="/ui/approvals" { "Back" }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_url_carries_its_non_empty_filters_escaped() {
        assert_eq!(list_url("/ui/events", &[("status", ""), ("source", "")]), "/ui/events");
        assert_eq!(list_url("/ui/events", &[("status", "failed"), ("source", "")]), "/ui/events?status=failed");
        assert_eq!(
            list_url("/ui/executions", &[("status", "failed"), ("schedule", "a b&c")]),
            format!("/ui/executions?status=failed&schedule={}", url_part("a b&c"))
        );
    }
    use serde_json::json;

    #[test]
    fn an_unnamed_schedule_is_labelled_by_its_driver_and_short_id() {
        let driver = json!({"type": "interval", "interval_value": 5, "interval_period": "minute"});
        let id = "0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21";
        for name in [json!(null), json!(""), json!("  ")] {
            let s = json!({"schedule_uuid": id, "name": name, "driver": driver});
            assert_eq!(schedule_label(&s), "every 5 minutes \u{b7} \u{2026}8e6b4d21");
        }
        let s = json!({"schedule_uuid": id, "name": "nightly", "driver": driver});
        assert_eq!(schedule_label(&s), "nightly");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short(id), "\u{2026}8e6b4d21");
    }

    #[test]
    fn a_page_beyond_the_last_says_so_and_links_the_last() {
        let list =
            json!({"meta": {"page": 999, "total_pages": 3, "total_count": 120, "has_prev": true, "has_next": false}});
        let html = pager(&list, "/ui/executions?status=failed").into_string();
        assert!(html.contains("No page 999: there are 3 pages."), "{html}");
        assert!(html.contains("href=\"/ui/executions?status=failed&amp;page=3\""), "{html}");
        assert!(!html.contains("of 3"), "{html}");
        let empty =
            json!({"meta": {"page": 2, "total_pages": 0, "total_count": 0, "has_prev": true, "has_next": false}});
        let html = pager(&empty, "/ui/schedules").into_string();
        assert!(html.contains("there is 1 page") && html.contains("/ui/schedules?page=1"), "{html}");
        let fine =
            json!({"meta": {"page": 1, "total_pages": 1, "total_count": 3, "has_prev": false, "has_next": false}});
        assert!(pager(&fine, "/ui/schedules").into_string().contains("Page 1 of 1"));
    }

    #[test]
    fn an_attempt_without_an_answer_is_headed_by_its_error() {
        let a = json!({"attempt": 1, "status_code": null, "error": "connection refused"});
        assert_eq!(attempt_heading(&a), "Attempt 1: connection refused");
        assert_eq!(attempt_heading(&json!({"attempt": 2, "status_code": 503, "error": null})), "Attempt 2: 503");
        assert_eq!(attempt_heading(&json!({"attempt": 3, "status_code": null, "error": null})), "Attempt 3: no answer");
    }

    #[test]
    fn an_execution_links_its_target() {
        let run =
            json!({"execution_uuid": "r-1", "target_type": "workflow", "target_uuid": "w-1", "schedule_uuid": null});
        let html = target_cell(&run).into_string();
        assert!(html.contains("href=\"/ui/workflows/w-1\"") && html.contains("href=\"/ui/runs/r-1\""), "{html}");
        let fire = json!({"execution_uuid": "e", "target_type": "webhook", "target_uuid": "t", "schedule_uuid": "0192f6a4-1c7e"});
        let html = target_cell(&fire).into_string();
        assert!(html.contains("href=\"/ui/schedules/0192f6a4-1c7e\"") && html.contains(">\u{2026}6a4-1c7e<"), "{html}");
    }
}
