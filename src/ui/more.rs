//! The dashboard's pages for workflows (the step graph as server-rendered SVG, runs with their
//! timeline), events (log, detail with its executions, replay), monitors (a status board that
//! refreshes every 5 s), domains (limits, circuit state, queue depth, signing-key rotation) and
//! alerts (history). As everywhere in the dashboard, every read and action is an API operation
//! called through [`super::Ui::call`]; nothing here decides anything the API does not.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::pages::{
    csrf_field, list_url, notice, page, pager, pretty, short, short_id, status_badge, t, time_el, url_part, when,
};
use super::{Ui, Viewer, query};

fn rows(list: &Value) -> &[Value] {
    list["data"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn page_of(q: &HashMap<String, String>) -> String {
    q.get("page").cloned().unwrap_or_else(|| "1".into())
}

// ---- monitors ----

fn monitors_table(v: &Viewer, list: &Value) -> Markup {
    let zone = v.zone();
    html! {
        div.table-wrap {
            table {
                thead { tr { th { "Monitor" } th { "Status" } th { "Last ping" } th { "Next due" } th { "Pings" } th { "" } } }
                tbody {
                    @for m in rows(list) {
                        @let id = t(&m["monitor_uuid"]);
                        tr {
                            td { (t(&m["monitor_name"])) br; span.muted { (t(&m["kind"])) " \u{b7} " span.mono { (t(&m["slug"])) } } }
                            td { (status_badge(&m["status"])) br; span.muted { "since " (time_el(&m["status_since"], zone)) } }
                            td { (time_el(&m["last_ping_at"], zone)) }
                            td { (time_el(&m["next_due_at"], zone)) }
                            td { (t(&m["pings_total"])) }
                            td {
                                @let (action, label) = if m["status"] == "paused" { ("resume", "Resume") } else { ("pause", "Pause") };
                                form.inline method="post" action={ "/ui/monitors/" (url_part(&id)) "/" (action) } {
                                    (csrf_field(v))
                                    button.secondary type="submit" aria-label={ (label) " " (t(&m["monitor_name"])) } { (label) }
                                }
                            }
                        }
                    }
                    @if rows(list).is_empty() { tr { td colspan="6" { "No monitors. Create one with the API's add_monitor (POST /v1/api/add_monitor/)." } } }
                }
            }
        }
        (pager(list, "/ui/monitors"))
        p.muted { "Times in " (zone) "." }
    }
}

pub(super) async fn monitors(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let list = tri!(ui.call(&v, "get_monitors_paginated", json!({"page": page_of(&q)})).await);
    let board = html! {
        div #board hx-get={ "/ui/monitors/board?page=" (url_part(&page_of(&q))) } hx-trigger="every 5s" hx-swap="innerHTML" {
            (monitors_table(&v, &list))
        }
    };
    page(
        Some(&v),
        StatusCode::OK,
        "Monitors",
        "monitors",
        html! {
            (notice(q.get("notice").map(String::as_str)))
            h1 { "Monitors" }
            p.muted { "This board refreshes every 5 seconds." }
            (board)
        },
    )
}

pub(super) async fn monitors_board(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.fragment_viewer(&headers));
    let q = query(q);
    let Ok(list) = ui.call(&v, "get_monitors_paginated", json!({"page": page_of(&q)})).await else {
        return super::fragment_unchanged();
    };
    super::pages::html(StatusCode::OK, monitors_table(&v, &list))
}

pub(super) async fn monitor_action(
    State(ui): State<Arc<Ui>>,
    Path((id, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (v, _) = tri!(ui.post(req).await);
    let (endpoint, done) = match action.as_str() {
        "pause" => ("pause_monitor", "paused"),
        "resume" => ("resume_monitor", "resumed"),
        _ => return super::pages::error(Some(&v), StatusCode::NOT_FOUND, "Page not found"),
    };
    tri!(ui.call(&v, endpoint, json!({"monitor_uuid": id})).await);
    Redirect::to(&format!("/ui/monitors?notice={done}")).into_response()
}

// ---- domains ----

pub(super) async fn domains(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let list = tri!(ui.call(&v, "get_domain_paginated", json!({"page": page_of(&q)})).await);
    let mut health = Vec::new();
    for d in rows(&list) {
        let h = tri!(ui.call(&v, "get_domain_health", json!({"domain_uuid": t(&d["domain_uuid"])})).await);
        health.push(h["data"].clone());
    }
    page(
        Some(&v),
        StatusCode::OK,
        "Domains",
        "domains",
        html! {
            (notice(q.get("notice").map(String::as_str)))
            h1 { "Domains" }
            div.table-wrap {
                table {
                    thead { tr { th { "Domain" } th { "Limits" } th { "Circuit" } th { "Queued" } th { "Signing key" } } }
                    tbody {
                        @for (d, h) in rows(&list).iter().zip(&health) {
                            @let id = t(&d["domain_uuid"]);
                            tr {
                                td { (t(&d["protocol_type"])) "://" (t(&d["domain_name"])) br; span.muted { (short_id(&id)) } }
                                td {
                                    @if d["rate_limit_enabled"] == true { (t(&d["max_requests_per_second"])) " req/s" } @else { "no rate limit" }
                                    br;
                                    @if d["concurrency_control_enabled"] == true { "at most " (t(&d["max_concurrent_jobs"])) " at once" } @else { "no concurrency limit" }
                                }
                                td {
                                    @if d["circuit_breaker_enabled"] == true {
                                        (status_badge(&h["state"]))
                                        br; span.muted { (t(&h["consecutive_failures"])) " failures in a row (opens at " (t(&d["failure_threshold"])) ")" }
                                        @if !h["next_probe_at"].is_null() { br; span.muted { "next probe " (time_el(&h["next_probe_at"], v.zone())) } }
                                        @if h["state"] != "closed" {
                                            form.inline method="post" action={ "/ui/domains/" (url_part(&id)) "/reset" } {
                                                (csrf_field(&v)) button.secondary type="submit" { "Close circuit" }
                                            }
                                        }
                                    } @else { "no breaker" }
                                }
                                td { (t(&h["queued"])) }
                                td { a href={ "/ui/domains/" (url_part(&id)) "/rotate" } { "Rotate\u{2026}" } }
                            }
                        }
                        @if rows(&list).is_empty() { tr { td colspan="5" { "No domains. Add one with the API's add_domain (POST /v1/api/add_domain/)." } } }
                    }
                }
            }
            (pager(&list, "/ui/domains"))
        },
    )
}

pub(super) async fn domain_reset(State(ui): State<Arc<Ui>>, Path(id): Path<String>, req: Request) -> Response {
    let (v, _) = tri!(ui.post(req).await);
    tri!(ui.call(&v, "reset_domain_circuit", json!({"domain_uuid": id})).await);
    Redirect::to("/ui/domains?notice=reset").into_response()
}

/// The most domain-list pages read to name the domain on the rotation's confirmation.
const ROTATE_PAGES_MAX: u64 = 20;

/// The confirmation page of a signing-key rotation (the keys themselves are never shown).
pub(super) async fn domain_rotate_confirm(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let v = tri!(ui.viewer(&headers));
    // The domain must be the brand's (the API's 404 otherwise); its health names its id.
    let h = tri!(ui.call(&v, "get_domain_health", json!({"domain_uuid": id})).await);
    let h = &h["data"];
    // The API has no single-domain read: its name is looked up in the domain list (at most
    // ROTATE_PAGES_MAX pages; beyond that the id is shown).
    let mut shown = t(&h["domain_uuid"]);
    let mut page_no = 1u64;
    while page_no <= ROTATE_PAGES_MAX {
        let list = tri!(ui.call(&v, "get_domain_paginated", json!({"page": page_no})).await);
        if let Some(d) = rows(&list).iter().find(|d| d["domain_uuid"] == h["domain_uuid"]) {
            shown = format!("{}://{}", t(&d["protocol_type"]), t(&d["domain_name"]));
            break;
        }
        if list["meta"]["has_next"] != true {
            break;
        }
        page_no += 1;
    }
    page(
        Some(&v),
        StatusCode::OK,
        "Rotate the signing key",
        "domains",
        html! {
            h1 { "Rotate the signing key?" }
            p { "Deliveries to the domain " strong { (shown) } " will be signed with a new key. The current key stays valid for the overlap time, so receivers can switch over." }
            form method="post" action={ "/ui/domains/" (url_part(&id)) "/rotate" } {
                (csrf_field(&v))
                div.actions {
                    button.danger type="submit" { "Yes, rotate" }
                    a.button.secondary href="/ui/domains" { "Back" }
                }
            }
        },
    )
}

pub(super) async fn domain_rotate(State(ui): State<Arc<Ui>>, Path(id): Path<String>, req: Request) -> Response {
    let (v, _) = tri!(ui.post(req).await);
    tri!(ui.call(&v, "rotate_domain_signing_secret", json!({"domain_uuid": id})).await);
    Redirect::to("/ui/domains?notice=rotated").into_response()
}

// ---- alerts ----

pub(super) async fn alerts(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let list = tri!(ui.call(&v, "get_alerts_paginated", json!({"page": page_of(&q)})).await);
    let zone = v.zone();
    page(
        Some(&v),
        StatusCode::OK,
        "Alerts",
        "alerts",
        html! {
            h1 { "Alerts" }
            div.table-wrap {
                table {
                    thead { tr { th { "Raised" } th { "Rule" } th { "Outcome" } th { "Summary" } th { "Sends" } } }
                    tbody {
                        @for a in rows(&list) {
                            tr {
                                td { (time_el(&a["raised_at"], zone)) }
                                td { (t(&a["rule_type"])) }
                                td { (status_badge(&a["outcome"])) }
                                td { (t(&a["summary"])) }
                                td {
                                    @for e in a["execution_uuids"].as_array().map(Vec::as_slice).unwrap_or_default() {
                                        a.mono href={ "/ui/executions/" (url_part(&t(e))) } title=(t(e)) { (short(&t(e))) } br;
                                    }
                                }
                            }
                        }
                        @if rows(&list).is_empty() { tr { td colspan="5" { "No alerts. Alerts are raised by alert rules (add_alert_rule) sent to notification channels (add_notification_channel)." } } }
                    }
                }
            }
            (pager(&list, "/ui/alerts"))
        },
    )
}

// ---- workflows ----

pub(super) async fn workflows(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let list = tri!(ui.call(&v, "get_workflow_template_paginated", json!({"page": page_of(&q)})).await);
    let zone = v.zone();
    page(
        Some(&v),
        StatusCode::OK,
        "Workflows",
        "workflows",
        html! {
            h1 { "Workflows" }
            div.table-wrap {
                table {
                    thead { tr { th { "Workflow" } th { "Run type" } th { "Steps" } th { "Created" } } }
                    tbody {
                        @for w in rows(&list) {
                            tr {
                                td { a href={ "/ui/workflows/" (url_part(&t(&w["workflow_uuid"]))) } { (t(&w["workflow_name"])) } br; span.muted { (t(&w["workflow_description"])) } }
                                td { (t(&w["runtype"])) }
                                td { (t(&w["total_workflow_steps"])) }
                                td { (time_el(&w["inserted_at"], zone)) }
                            }
                        }
                        @if rows(&list).is_empty() { tr { td colspan="4" { "No workflows. Create one with the API's add_workflow_template and add_workflow_step." } } }
                    }
                }
            }
            (pager(&list, "/ui/workflows"))
        },
    )
}

const NODE_W: i64 = 220;
const NODE_H: i64 = 46;
const GAP: i64 = 34;
const LEFT: i64 = 90;

/// A condition in words: `field operator value`.
fn condition(c: &Value) -> String {
    format!("{} {} {}", t(&c["field"]), t(&c["operator"]), c["value"])
}

/// The step graph as SVG, drawn on the server: one box per step in index order, the order's
/// own edges (sequential runs) in grey, `on_success` routes in green on the right, `on_fail`
/// routes in red (dashed) on the left; a step with conditions says so in its box.
fn graph(steps: &[Value], sequential: bool) -> Markup {
    let y_of = |i: usize| 10 + (i as i64) * (NODE_H + GAP);
    let index: HashMap<String, usize> = steps.iter().enumerate().map(|(i, s)| (t(&s["step_identifier"]), i)).collect();
    let height = y_of(steps.len().max(1)) + 10;
    let width = LEFT + NODE_W + 90;
    let mid = LEFT + NODE_W / 2;
    let route = |from: usize, to: usize, right: bool| -> String {
        let (y1, y2) = (y_of(from) + NODE_H / 2, y_of(to) + NODE_H / 2);
        let (x, bend) = if right {
            (LEFT + NODE_W, LEFT + NODE_W + 40 + (from as i64 % 3) * 12)
        } else {
            (LEFT, LEFT - 40 - (from as i64 % 3) * 12)
        };
        format!("M{x},{y1} C{bend},{y1} {bend},{y2} {x},{y2}")
    };
    html! {
        svg.graph viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) role="img" aria-label="The workflow's steps and routes" {
            defs {
                marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M0,0 L10,5 L0,10 z" fill="#57606a" {}
                }
            }
            @for (i, s) in steps.iter().enumerate() {
                @let y = y_of(i);
                @if sequential && i + 1 < steps.len() && s["on_success_next_step_identifier"].is_null() {
                    line x1=(mid) y1=(y + NODE_H) x2=(mid) y2=(y + NODE_H + GAP) stroke="#57606a" stroke-width="1.5" marker-end="url(#arrow)" {}
                }
                @if let Some(to) = s["on_success_next_step_identifier"].as_str().and_then(|n| index.get(n)) {
                    path d=(route(i, *to, true)) fill="none" stroke="#1a7f37" stroke-width="1.5" marker-end="url(#arrow)" { title { "on success" } }
                }
                @if let Some(to) = s["on_fail_next_step_identifier"].as_str().and_then(|n| index.get(n)) {
                    path d=(route(i, *to, false)) fill="none" stroke="#b42318" stroke-width="1.5" stroke-dasharray="5 3" marker-end="url(#arrow)" { title { "on failure" } }
                }
                rect x=(LEFT) y=(y) width=(NODE_W) height=(NODE_H) rx="6" fill="#f6f8fa" stroke="#0b5cad" {}
                text x=(LEFT + 10) y=(y + 19) font-size="13" font-weight="600" fill="#1b1f24" {
                    (t(&s["index"])) ". " (t(&s["step_identifier"]))
                    @if s["human_approval_required"] == true { " \u{2714} approval" }
                }
                text x=(LEFT + 10) y=(y + 36) font-size="11" fill="#57606a" {
                    (t(&s["webhook"]["method"])) " " (t(&s["webhook"]["path"]))
                    @let n = s["execution_conditions"].as_array().map_or(0, Vec::len);
                    @if n > 0 { " \u{b7} if " (n) " condition" @if n > 1 { "s" } }
                }
            }
        }
    }
}

pub(super) async fn workflow(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let w = tri!(ui.call(&v, "single_workflow_template_detail", json!({"workflow_uuid": id})).await);
    let runs =
        tri!(ui.call(&v, "get_workflow_runs_paginated", json!({"workflow_uuid": id, "page": page_of(&q)})).await);
    let w = &w["data"];
    let steps = w["workflow_steps"].as_array().map(Vec::as_slice).unwrap_or_default();
    let zone = v.zone();
    page(
        Some(&v),
        StatusCode::OK,
        &t(&w["workflow_name"]),
        "workflows",
        html! {
            h1 { (t(&w["workflow_name"])) }
            p.muted { (t(&w["workflow_description"])) }
            dl.facts {
                dt { "Run type" } dd { (t(&w["runtype"])) }
                dt { "On failure" } dd { (t(&w["failure_strategy"])) " \u{b7} retries: " (t(&w["retry_strategy"])) " (" (t(&w["workflow_max_retries"])) ")" }
            }
            h2 { "Steps and routes" }
            p.muted { "Grey: the next step in order. Green (right): on success. Red, dashed (left): on failure." }
            div.graph-wrap { (graph(steps, w["runtype"] == "fifo_sequential")) }
            @for dr in w["dangling_routes"].as_array().map(Vec::as_slice).unwrap_or_default() {
                p.notice.error { "Step " (t(&dr["step_identifier"])) ": " (t(&dr["field"])) " names " (t(&dr["target"])) ", which is no step." }
            }
            div.table-wrap {
                table {
                    thead { tr { th { "#" } th { "Step" } th { "Request" } th { "Conditions" } th { "On success" } th { "On failure" } } }
                    tbody {
                        @for s in steps {
                            tr {
                                td { (t(&s["index"])) }
                                td.mono { (t(&s["step_identifier"])) @if s["human_approval_required"] == true { br; span.status { "approval" } } }
                                td { (t(&s["webhook"]["method"])) " " span.mono { (t(&s["webhook"]["path"])) } }
                                td { @for c in s["execution_conditions"].as_array().map(Vec::as_slice).unwrap_or_default() { span.mono { (condition(c)) } br; } }
                                td.mono { (t(&s["on_success_next_step_identifier"])) }
                                td.mono { (t(&s["on_fail_next_step_identifier"])) }
                            }
                        }
                    }
                }
            }
            h2 { "Runs" }
            div.table-wrap {
                table {
                    thead { tr { th { "Run" } th { "Status" } th { "Started (" (zone) ")" } th { "Steps" } } }
                    tbody {
                        @for r in rows(&runs) {
                            tr {
                                td.mono { a.row-link href={ "/ui/runs/" (url_part(&t(&r["run_uuid"]))) } title=(t(&r["run_uuid"])) { (short(&t(&r["run_uuid"]))) } }
                                td { (status_badge(&r["status"])) }
                                td { (time_el(&r["created_at"], zone)) }
                                td { (t(&r["steps_started"])) }
                            }
                        }
                        @if rows(&runs).is_empty() { tr { td colspan="4" { "No runs." } } }
                    }
                }
            }
            (pager(&runs, &format!("/ui/workflows/{}", url_part(&id))))
        },
    )
}

pub(super) async fn run(State(ui): State<Arc<Ui>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let v = tri!(ui.viewer(&headers));
    let r = tri!(ui.call(&v, "get_workflow_run_details", json!({"run_uuid": id})).await);
    let r = &r["data"];
    let zone = v.zone();
    let steps = r["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
    page(
        Some(&v),
        StatusCode::OK,
        "Run",
        "workflows",
        html! {
            h1 { "Run " span.mono { (t(&r["run_uuid"])) } }
            dl.facts {
                dt { "Status" } dd { (status_badge(&r["status"])) @if !r["reason"].is_null() { " " span.muted { (t(&r["reason"])) } } }
                dt { "Workflow" } dd { a href={ "/ui/workflows/" (url_part(&t(&r["workflow_uuid"]))) } { "its steps and routes" } }
                dt { "Started" } dd { (time_el(&r["created_at"], zone)) }
                dt { "Finished" } dd { (time_el(&r["finished_at"], zone)) }
            }
            h2 { "Timeline" }
            ol.timeline {
                @for s in steps {
                    li {
                        strong.mono { (t(&s["step_identifier"])) } " " (status_badge(&s["status"]))
                        br;
                        span.muted { (when(&s["started_at"], zone)) " \u{2192} " (when(&s["finished_at"], zone)) }
                        @if !s["status_code"].is_null() { " \u{b7} HTTP " (t(&s["status_code"])) }
                        @if let Some(e) = s["execution_uuid"].as_str() { " \u{b7} " a href={ "/ui/executions/" (url_part(e)) } { "execution" } }
                        @if !s["error"].is_null() { br; span.muted { (t(&s["error"])) } }
                    }
                }
                @if steps.is_empty() { li { "No step has started." } }
            }
            h2 { "Initial context" }
            pre { (pretty(&r["initial_context"])) }
        },
    )
}

// ---- events ----

/// A source's `event_type_from` in words: "header X-Event", "body field type", "always
/// order.created", "—" when unset.
fn type_from(v: &Value) -> String {
    if let Some(h) = v["header"].as_str() {
        format!("header {h}")
    } else if let Some(p) = v["body_field"].as_str() {
        format!("body field {p}")
    } else if let Some(f) = v["fixed"].as_str() {
        format!("always {f}")
    } else {
        "\u{2014}".into()
    }
}

pub(super) async fn events(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let mut input = json!({"page": page_of(&q)});
    for (form, field) in [("status", "filter_status"), ("source", "source_uuid")] {
        if let Some(val) = q.get(form).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            input[field] = json!(val);
        }
    }
    let list = tri!(ui.call(&v, "get_events_paginated", input).await);
    let sources = tri!(ui.call(&v, "get_sources_paginated", json!({})).await);
    let zone = v.zone();
    let source = q.get("source").map(|s| s.trim()).unwrap_or("");
    let status = q.get("status").map(String::as_str).unwrap_or("");
    let base = list_url("/ui/events", &[("status", status), ("source", source)]);
    page(
        Some(&v),
        StatusCode::OK,
        "Events",
        "events",
        html! {
            (notice(q.get("notice").map(String::as_str)))
            h1 { "Events" }
            h2 { "Sources" }
            div.table-wrap {
                table {
                    thead { tr { th { "Source" } th { "Verification" } th { "Event type from" } th { "Created (" (zone) ")" } } }
                    tbody {
                        @for s in rows(&sources) {
                            tr {
                                td { a href={ "/ui/events?source=" (url_part(&t(&s["source_uuid"]))) } title=(t(&s["source_uuid"])) { (t(&s["source_name"])) } }
                                td { (t(&s["verification"]["type"])) }
                                td { (type_from(&s["event_type_from"])) }
                                td { (time_el(&s["inserted_at"], zone)) }
                            }
                        }
                        @if rows(&sources).is_empty() { tr { td colspan="4" { "No sources. A source gives an ingest URL that receives events (add_source; get_source_details shows its URL)." } } }
                    }
                }
            }
            @if sources["meta"]["has_next"] == true { p.muted { "The first page of sources; get_sources_paginated lists the rest." } }
            h2 { "Event log" }
            form.filters method="get" action="/ui/events" {
                div {
                    label for="source" { "Source" }
                    select #source name="source" {
                        option value="" { "any" }
                        @for s in rows(&sources) {
                            @let sid = t(&s["source_uuid"]);
                            option value=(sid) selected[sid == source] { (t(&s["source_name"])) }
                        }
                    }
                }
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        option value="" { "any" }
                        @for s in ["accepted", "rejected", "duplicate"] { option value=(s) selected[status == s] { (s) } }
                    }
                }
                button type="submit" { "Show" }
            }
            div.table-wrap {
                table {
                    thead { tr { th { "Event" } th { "Type" } th { "Status" } th { "Received (" (zone) ")" } th { "Executions" } } }
                    tbody {
                        @for e in rows(&list) {
                            tr {
                                td.mono { a.row-link href={ "/ui/events/" (url_part(&t(&e["event_uuid"]))) } title=(t(&e["event_uuid"])) { (short(&t(&e["event_uuid"]))) } }
                                td { (t(&e["event_type"])) }
                                td { (status_badge(&e["status"])) @if !e["reason"].is_null() { br; span.muted { (t(&e["reason"])) } } }
                                td { (time_el(&e["received_at"], zone)) }
                                td { (t(&e["executions"])) }
                            }
                        }
                        @if rows(&list).is_empty() { tr { td colspan="5" { "No events. Events arrive at a source's ingest URL (add_source) and are routed by subscriptions (add_subscription)." } } }
                    }
                }
            }
            (pager(&list, &base))
            h2 { "Replay" }
            p.muted { "Sends the events received in a time range through their subscriptions again (a replay job)." }
            form.filters method="post" action="/ui/events/replay" {
                (csrf_field(&v))
                div { label for="from" { "From (ISO-8601, e.g. 2026-01-01T00:00:00Z)" } input #from name="from" required placeholder="2026-01-01T00:00:00Z"; }
                div { label for="to" { "To (ISO-8601, e.g. 2026-01-02T00:00:00Z)" } input #to name="to" required placeholder="2026-01-02T00:00:00Z"; }
                div {
                    label for="replay_source" { "Source" }
                    select #replay_source name="source_uuid" {
                        option value="" { "all" }
                        @for s in rows(&sources) { option value=(t(&s["source_uuid"])) { (t(&s["source_name"])) } }
                    }
                }
                button type="submit" { "Replay" }
            }
        },
    )
}

pub(super) async fn event(State(ui): State<Arc<Ui>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let v = tri!(ui.viewer(&headers));
    let e = tri!(ui.call(&v, "get_event_details", json!({"event_uuid": id})).await);
    let e = &e["data"];
    let zone = v.zone();
    let deliveries = e["deliveries"].as_array().map(Vec::as_slice).unwrap_or_default();
    // Each subscription's name (one read per distinct subscription; a deleted one keeps its id).
    let mut names: HashMap<String, String> = HashMap::new();
    for d in deliveries {
        let sid = t(&d["subscription_uuid"]);
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(sid) {
            let input = json!({"subscription_uuid": slot.key()});
            let name = match ui.call(&v, "get_subscription_details", input).await {
                Ok(s) => s["data"]["subscription_name"].as_str().map(str::to_string),
                Err(_) => None,
            };
            slot.insert(name.unwrap_or_default());
        }
    }
    page(
        Some(&v),
        StatusCode::OK,
        "Event",
        "events",
        html! {
            h1 { "Event " span.mono { (t(&e["event_uuid"])) } }
            dl.facts {
                dt { "Type" } dd { (t(&e["event_type"])) }
                dt { "Status" } dd { (status_badge(&e["status"])) }
                dt { "Received" } dd { (time_el(&e["received_at"], zone)) }
            }
            h2 { "Executions" }
            div.table-wrap {
                table {
                    thead { tr { th { "Subscription" } th { "Outcome" } th { "Execution" } th { "Routed" } } }
                    tbody {
                        @for d in deliveries {
                            tr {
                                @let sid = t(&d["subscription_uuid"]);
                                td { @match names.get(&sid).filter(|n| !n.is_empty()) { Some(n) => { (n) br; span.muted { (short_id(&sid)) } } None => (short_id(&sid)) } }
                                td { (t(&d["outcome"])) @if !d["detail"].is_null() { br; span.muted { (t(&d["detail"])) } } }
                                td {
                                    @if let Some(x) = d["execution_uuid"].as_str() { a.mono href={ "/ui/executions/" (url_part(x)) } title=(x) { (short(x)) } " " (status_badge(&d["execution_status"])) } @else { "\u{2014}" }
                                }
                                td { (time_el(&d["routed_at"], zone)) }
                            }
                        }
                        @if deliveries.is_empty() { tr { td colspan="4" { "Not routed to any subscription." } } }
                    }
                }
            }
            h2 { "Request (secrets masked)" }
            pre { (pretty(&e["request"])) }
        },
    )
}

pub(super) async fn replay(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let (v, form) = tri!(ui.post(req).await);
    let mut input = json!({});
    for k in ["from", "to", "source_uuid"] {
        if let Some(val) = form.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            input[k] = json!(val);
        }
    }
    tri!(ui.call(&v, "replay_events", input).await);
    Redirect::to("/ui/events?notice=replay").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sources_event_type_rule_reads_as_words() {
        assert_eq!(type_from(&json!({"header": "X-Event"})), "header X-Event");
        assert_eq!(type_from(&json!({"body_field": "data.type"})), "body field data.type");
        assert_eq!(type_from(&json!({"fixed": "order.created"})), "always order.created");
        assert_eq!(type_from(&Value::Null), "\u{2014}");
    }

    #[test]
    fn the_graph_draws_every_step_and_route_and_escapes_names() {
        let steps = vec![
            json!({"index": 0, "step_identifier": "a<b", "webhook": {"method": "POST", "path": "/a"},
                "on_success_next_step_identifier": null, "on_fail_next_step_identifier": "c", "execution_conditions": []}),
            json!({"index": 1, "step_identifier": "b", "webhook": {"method": "POST", "path": "/b"}, "human_approval_required": true,
                "on_success_next_step_identifier": "c", "on_fail_next_step_identifier": null,
                "execution_conditions": [{"field": "x", "operator": "eq", "value": 1}]}),
            json!({"index": 2, "step_identifier": "c", "webhook": {"method": "GET", "path": "/c"},
                "on_success_next_step_identifier": null, "on_fail_next_step_identifier": null, "execution_conditions": []}),
        ];
        let svg = graph(&steps, true).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("<line").count(), 1, "a → b in order; b routes to c on success; c is last");
        assert_eq!(svg.matches("stroke=\"#1a7f37\"").count(), 1, "one success route");
        assert_eq!(svg.matches("stroke=\"#b42318\"").count(), 1, "one failure route");
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"), "names are escaped");
        assert!(svg.contains("if 1 condition") && svg.contains("approval"));
        assert_eq!(condition(&steps[1]["execution_conditions"][0]), "x eq 1");
    }
}
