//! Workflows (compat §2.3, §2.5, §4; product §6) against the real binary and a loopback
//! receiver: the documented create/list/detail shapes and the SDK's variants, validation,
//! brand isolation, FIFO data flow with conditions, concurrent overlap, human approval
//! (approve, reject, 409 on acting twice), `kill -9` while a run waits on an approval or on
//! `delay_to_next_step`, runs started by `execute_workflow` and by a schedule, and reruns.
//!
//! Runs are observed with `get_workflow_run_details`; what reached the receiver is counted by
//! path. Timing assertions are correctness bounds, never speed tests.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::{
    Api, TestDaemon, assert_error, assert_error_starts, assert_invalid, assert_ok, keys_of, wait_for,
};

/// No API rate limit: the tests poll a lot.
const BASE_CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n";

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(20);

const RUN_FINAL: &[&str] = &["succeeded", "failed", "completed_with_failures", "cancelled"];

fn daemon() -> TestDaemon {
    TestDaemon::start_with(BASE_CONFIG)
}

fn ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("not an RFC 3339 instant: {s:?}: {e}")).as_millisecond()
}

fn merge(mut body: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("extra object") {
        body[k] = v.clone();
    }
    body
}

/// `add_workflow_template` with the documented fields; returns `workflow_uuid`.
fn add_workflow(api: &Api, name: &str, runtype: &str, extra: Value) -> String {
    let body = merge(json!({"workflow_name": name, "workflow_description": "test", "runtype": runtype}), extra);
    let r = api.post("add_workflow_template", body);
    assert_ok(&r);
    r.json["workflow_uuid"].as_str().unwrap_or_else(|| panic!("no workflow_uuid: {}", r.text)).to_string()
}

/// Every documented `add_workflow_step` field (no retries, no routes), `extra` merged over.
fn step_body(wf: &str, domain: &str, ident: &str, index: i64, path: &str, extra: Value) -> Value {
    merge(
        json!({"index": index, "workflow_uuid": wf, "webhook_name": format!("step {ident}"),
            "webhook_description": "a step", "method": "POST", "path": path, "domain_uuid": domain,
            "human_approval_required": false, "step_identifier": ident,
            "on_success_next_step_identifier": "", "on_fail_next_step_identifier": "",
            "delay_to_next_step": 0, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
            "request_timeout_in_milliseconds": 5000, "request_body_json": {}, "headers_json": {},
            "query_params_json": {}}),
        extra,
    )
}

/// Adds a step; returns `step_uuid`.
fn add_step(api: &Api, wf: &str, domain: &str, ident: &str, index: i64, path: &str, extra: Value) -> String {
    let r = api.post("add_workflow_step", step_body(wf, domain, ident, index, path, extra));
    assert_ok(&r);
    r.json["step_uuid"].as_str().unwrap_or_else(|| panic!("no step_uuid: {}", r.text)).to_string()
}

fn detail(api: &Api, wf: &str) -> Value {
    let r = api.post("single_workflow_template_detail", json!({"workflow_uuid": wf}));
    assert_ok(&r);
    r.json["data"].clone()
}

/// `execute_workflow`; returns `run_uuid`.
fn execute(api: &Api, wf: &str, context: Value) -> String {
    let r = api.post("execute_workflow", json!({"workflow_uuid": wf, "initial_context": context}));
    assert_ok(&r);
    let run = r.json["run_uuid"].as_str().unwrap_or_else(|| panic!("no run_uuid: {}", r.text)).to_string();
    assert_eq!(r.json["execution_uuid"], run.as_str(), "a run is identified by its execution");
    run
}

fn run_details(api: &Api, run: &str) -> Value {
    let r = api.post("get_workflow_run_details", json!({"run_uuid": run}));
    assert_ok(&r);
    r.json["data"].clone()
}

/// Polls a run until `f` accepts its details.
fn wait_run(api: &Api, run: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = crate::support::now() + WAIT;
    loop {
        let last = run_details(api, run);
        if f(&last) {
            return last;
        }
        assert!(crate::support::now() < deadline, "run {run}: timed out waiting for {what}: {last:#}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits for the run to end; asserts its final status.
fn wait_final(api: &Api, run: &str, status: &str) -> Value {
    let d = wait_run(api, run, "a final status", |d| RUN_FINAL.contains(&d["status"].as_str().unwrap_or("")));
    assert_eq!(d["status"], status, "{d:#}");
    d
}

/// `step_identifier:status` of every visit of the timeline.
fn trail(d: &Value) -> Vec<String> {
    d["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {d:#}"))
        .iter()
        .map(|s| format!("{}:{}", s["step_identifier"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect()
}

/// How many requests reached the receiver at this path (the query string ignored).
fn hits(rx: &Receiver, path: &str) -> usize {
    rx.requests().iter().filter(|r| r.path.split('?').next() == Some(path)).count()
}

/// The waiting approval plan of `run`, once listed.
fn wait_plan(api: &Api, run: &str) -> Value {
    wait_for("an approval plan to be listed", WAIT, || {
        api.all_pages("get_all_pending_approvals_paginated").into_iter().find(|p| p["run_uuid"] == run)
    })
}

/// Every run listed by `get_workflow_runs_paginated?workflow_uuid=` (all pages).
fn runs_of(api: &Api, wf: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1..100 {
        let r = api.get(&format!("get_workflow_runs_paginated?workflow_uuid={wf}&page={page}"));
        assert_ok(&r);
        out.extend(r.json["data"].as_array().unwrap_or_else(|| panic!("no data: {}", r.text)).iter().cloned());
        if r.json["meta"]["has_next"] != true {
            break;
        }
    }
    out
}

fn approval(api: &Api, plan: &str, action: &str) -> crate::support::Resp {
    api.post("human_approval_action", json!({"action": action, "execution_plan_uuid": plan}))
}

#[test]
fn templates_and_steps_read_back_in_the_documented_shapes() {
    let d = daemon();
    let c = d.new_brand("shapes", Some("Asia/Kolkata"));
    let api = d.client().as_brand(&c.brand, &c.key);
    let host = "api.example.com";
    let domain = api.add_domain(host);

    let r = api.post(
        "add_workflow_template",
        json!({"workflow_name": "Orders", "workflow_description": "order pipeline", "runtype": "fifo_sequential"}),
    );
    assert_ok(&r);
    assert_eq!(keys_of(&r.json), ["details", "success", "workflow_uuid"], "{}", r.text);
    assert_eq!(r.json["details"], "Webhook Template added");
    let wf = r.json["workflow_uuid"].as_str().unwrap().to_string();

    // Steps added out of index order; routes given as "" and null both mean "no route".
    let notify = add_step(
        &api,
        &wf,
        &domain,
        "notify",
        2,
        "/notify",
        json!({"headers_json": {"X-Token": "{{ #tok }}"}, "on_success_next_step_identifier": null}),
    );
    let r = api.post(
        "add_workflow_step",
        step_body(&wf, &domain, "fetch", 0, "/fetch", json!({"on_fail_next_step_identifier": null})),
    );
    assert_ok(&r);
    assert_eq!(keys_of(&r.json), ["details", "step_uuid", "success"], "{}", r.text);
    assert_eq!(r.json["details"], "Workflow webhook added successfully");
    let fetch = r.json["step_uuid"].as_str().unwrap().to_string();
    let decide = add_step(
        &api,
        &wf,
        &domain,
        "decide",
        1,
        "/decide/{{ step.response.id }}",
        json!({"execution_condition": {"field": "{{ step.fetch.response.status }}", "operator": "eq", "value": "ok"},
            "delay_to_next_step": 3, "human_approval_required": true, "on_fail_next_step_identifier": "notify"}),
    );
    assert_eq!(BTreeSet::from([&fetch, &decide, &notify]).len(), 3);

    let r = api.get("get_workflow_template_paginated?page=1");
    assert_ok(&r);
    assert_eq!(r.json["timezone"], "Asia/Kolkata");
    assert_eq!(r.json["meta"]["total_count"], 1, "{}", r.text);
    let item = &r.json["data"][0];
    assert_eq!(
        keys_of(item),
        ["inserted_at", "runtype", "total_workflow_steps", "workflow_description", "workflow_name", "workflow_uuid"]
    );
    assert_eq!(item["workflow_uuid"], wf.as_str());
    assert_eq!(item["workflow_name"], "Orders");
    assert_eq!(item["workflow_description"], "order pipeline");
    assert_eq!(item["runtype"], "fifo_sequential");
    assert_eq!(item["total_workflow_steps"], 3);
    assert!(item["inserted_at"].as_str().unwrap().ends_with("+05:30"), "in the brand's zone: {item}");

    let data = detail(&api, &wf);
    for k in [
        "timezone",
        "inserted_at",
        "workflow_name",
        "workflow_uuid",
        "workflow_description",
        "runtype",
        "workflow_steps",
    ] {
        assert!(data.get(k).is_some(), "detail lacks {k}: {data:#}");
    }
    assert_eq!(data["timezone"], "Asia/Kolkata");
    assert_eq!(data["workflow_uuid"], wf.as_str());
    assert_eq!(data["runtype"], "fifo_sequential");
    let steps = data["workflow_steps"].as_array().unwrap();
    let idents: Vec<&str> = steps.iter().map(|s| s["step_identifier"].as_str().unwrap()).collect();
    assert_eq!(idents, ["fetch", "decide", "notify"], "ordered by index");
    let indexes: Vec<i64> = steps.iter().map(|s| s["index"].as_i64().unwrap()).collect();
    assert_eq!(indexes, [0, 1, 2]);
    for s in steps {
        for k in [
            "index",
            "timezone",
            "inserted_at",
            "step_identifier",
            "human_approval_required",
            "delay_to_next_step",
            "webhook",
            "step_uuid",
            "execution_conditions",
        ] {
            assert!(s.get(k).is_some(), "a step lacks {k}: {s:#}");
        }
        let w = &s["webhook"];
        for k in [
            "path",
            "domain",
            "method",
            "webhook_uuid",
            "webhook_name",
            "headers_json",
            "query_params_json",
            "request_body_json",
            "expected_system_variables",
        ] {
            assert!(w.get(k).is_some(), "a step's webhook lacks {k}: {w:#}");
        }
        assert_eq!(w["domain"], json!({"protocol": "http", "domain": host}), "protocol, not protocol_type");
        assert!(s["execution_conditions"].is_array(), "{s:#}");
        assert!(s["inserted_at"].as_str().unwrap().ends_with("+05:30"), "{s:#}");
    }
    assert_eq!(steps[0]["step_uuid"], fetch.as_str());
    assert_eq!(steps[1]["step_uuid"], decide.as_str());
    assert_eq!(steps[0]["execution_conditions"], json!([]));
    assert_eq!(
        steps[1]["execution_conditions"],
        json!([{"value": "ok", "operator": "eq", "field": "{{ step.fetch.response.status }}"}])
    );
    assert_eq!(steps[1]["human_approval_required"], true);
    assert_eq!(steps[1]["delay_to_next_step"], 3);
    assert_eq!(steps[1]["webhook"]["path"], "/decide/{{ step.response.id }}");
    assert_eq!(steps[0]["webhook"]["method"], "POST");
    assert_eq!(steps[0]["webhook"]["webhook_name"], "step fetch");
    assert_eq!(steps[2]["webhook"]["headers_json"], json!({"X-Token": "{{ #tok }}"}));
    assert_eq!(steps[2]["webhook"]["expected_system_variables"], json!(["tok"]));
    assert_eq!(steps[0]["webhook"]["expected_system_variables"], json!([]));
    // Extensions in the step view: routes ("" and null read back as null) and retry settings.
    assert_eq!(steps[0]["on_success_next_step_identifier"], Value::Null);
    assert_eq!(steps[0]["on_fail_next_step_identifier"], Value::Null);
    assert_eq!(steps[1]["on_fail_next_step_identifier"], "notify");
    assert_eq!(steps[0]["max_retries"], 0);

    // The SDK's detail path and key return the same document.
    let r = api.post("get_workflow_template_uuid", json!({"template_uuid": wf}));
    assert_ok(&r);
    assert_eq!(r.json["data"], data);

    // The SDK's create shapes: name + mode aliases, inline steps (a full url registers or
    // reuses its domain).
    for (mode, runtype) in [("fifo", "fifo_sequential"), ("concurrent", "concurrently")] {
        let r = api.post("add_workflow_template", json!({"name": format!("sdk {mode}"), "mode": mode}));
        assert_ok(&r);
        let data = detail(&api, r.json["workflow_uuid"].as_str().unwrap());
        assert_eq!(data["runtype"], runtype, "mode {mode}");
        assert_eq!(data["workflow_name"], format!("sdk {mode}"));
        assert_eq!(data["workflow_steps"], json!([]));
    }
    let r = api.post(
        "add_workflow_template",
        json!({"name": "sdk inline", "steps": [
            {"name": "Validate", "type": "webhook", "url": format!("http://{host}/validate?src=sdk"), "method": "PUT", "id": "validate"},
            {"name": "Process", "type": "webhook", "url": "http://other.example.com/process", "method": "POST",
             "condition": {"field": "{{ initial.kind }}", "operator": "in", "value": "a,b"}}]}),
    );
    assert_ok(&r);
    let inline = detail(&api, r.json["workflow_uuid"].as_str().unwrap());
    assert_eq!(inline["runtype"], "concurrently", "the SDK's default mode");
    let s = inline["workflow_steps"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["step_identifier"], "validate");
    assert_eq!(s[0]["index"], 0);
    assert_eq!(s[0]["webhook"]["method"], "PUT");
    assert_eq!(s[0]["webhook"]["path"], "/validate");
    assert_eq!(s[0]["webhook"]["query_params_json"], json!({"src": "sdk"}));
    assert_eq!(s[0]["webhook"]["domain_uuid"], domain.as_str(), "the known domain is reused");
    assert_eq!(s[1]["index"], 1);
    assert_eq!(s[1]["webhook"]["domain"], json!({"protocol": "http", "domain": "other.example.com"}));
    assert_eq!(s[1]["execution_conditions"][0]["operator"], "in");

    // update_workflow_template (POST, the SDK's template_uuid): fields not sent keep their values.
    let r = api.post(
        "update_workflow_template",
        json!({"template_uuid": wf, "workflow_name": "Orders v2", "failure_strategy": "continue",
            "retry_strategy": "from_failed_step", "workflow_max_retries": 2, "workflow_retry_delay": 5}),
    );
    assert_ok(&r);
    let data = detail(&api, &wf);
    assert_eq!(data["workflow_name"], "Orders v2");
    assert_eq!(data["workflow_description"], "order pipeline");
    assert_eq!(data["runtype"], "fifo_sequential");
    assert_eq!(data["failure_strategy"], "continue");
    assert_eq!(data["retry_strategy"], "from_failed_step");
    assert_eq!(data["workflow_max_retries"], 2);
    assert_eq!(data["workflow_retry_delay"], 5);
    assert_eq!(data["workflow_steps"].as_array().unwrap().len(), 3);

    // update_workflow_step: a new index reorders; fields not sent keep their values.
    let r = api.post(
        "update_workflow_step",
        json!({"step_uuid": notify, "index": -1, "path": "/notify2", "on_success_next_step_identifier": "decide"}),
    );
    assert_ok(&r);
    assert_eq!(r.json["step_uuid"], notify.as_str());
    let steps = detail(&api, &wf)["workflow_steps"].clone();
    let idents: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["step_identifier"].as_str().unwrap()).collect();
    assert_eq!(idents, ["notify", "fetch", "decide"]);
    assert_eq!(steps[0]["webhook"]["path"], "/notify2");
    assert_eq!(steps[0]["webhook"]["headers_json"], json!({"X-Token": "{{ #tok }}"}));
    assert_eq!(steps[0]["on_success_next_step_identifier"], "decide");
    assert_eq!(steps[0]["index"], -1);

    // delete_workflow_step: refused while another step routes to it (nothing changes).
    let r = api.post("delete_workflow_step", json!({"step_uuid": decide}));
    assert_invalid(&r, "step_uuid");
    assert_eq!(detail(&api, &wf)["workflow_steps"].as_array().unwrap().len(), 3);
    let r = api.post(
        "update_workflow_step",
        json!({"step_uuid": notify, "workflow_uuid": wf, "on_success_next_step_identifier": ""}),
    );
    assert_ok(&r);
    let r = api.delete("delete_workflow_step", json!({"step_uuid": decide}));
    assert_ok(&r);
    let r = api.post("delete_workflow_step", json!({"step_uuid": decide}));
    assert_error(&r, 404, "Step not found");
    let item = api.all_pages("get_workflow_template_paginated").into_iter().find(|w| w["workflow_uuid"] == wf);
    assert_eq!(item.expect("listed")["total_workflow_steps"], 2);

    // delete_workflow_template (POST, template_uuid).
    let r = api.post("delete_workflow_template", json!({"template_uuid": wf}));
    assert_ok(&r);
    let r = api.post("single_workflow_template_detail", json!({"workflow_uuid": wf}));
    assert_error(&r, 404, "Workflow not found");
    let r = api.post("get_workflow_template_uuid", json!({"template_uuid": wf}));
    assert_error(&r, 404, "Workflow not found");
    let r = api.delete("delete_workflow_template", json!({"workflow_uuid": wf}));
    assert_error(&r, 404, "Workflow not found");
    assert!(!api.all_pages("get_workflow_template_paginated").iter().any(|w| w["workflow_uuid"] == wf));
}

#[test]
fn validation_names_the_field_and_writes_nothing() {
    let d = daemon();
    let api = d.client();
    let domain = api.add_domain("api.example.com");

    let cases: &[(Value, &str)] = &[
        (json!({"workflow_description": "x", "runtype": "fifo_sequential"}), "workflow_name"),
        (json!({"workflow_name": "x", "workflow_description": "x"}), "runtype"),
    ];
    for (body, field) in cases {
        let r = api.post("add_workflow_template", body.clone());
        assert_error(&r, 400, &format!("Missing required field: {field}"));
    }
    let cases: &[(Value, &str)] = &[
        (json!({"runtype": "parallel"}), "runtype"),
        (json!({"workflow_name": "  "}), "workflow_name"),
        (json!({"failure_strategy": "sometimes"}), "failure_strategy"),
        (json!({"retry_strategy": "always"}), "retry_strategy"),
        (json!({"workflow_max_retries": -1}), "workflow_max_retries"),
        (json!({"workflow_retry_delay": "soon"}), "workflow_retry_delay"),
    ];
    for (extra, field) in cases {
        let body = merge(
            json!({"workflow_name": "x", "workflow_description": "x", "runtype": "fifo_sequential"}),
            extra.clone(),
        );
        assert_invalid(&api.post("add_workflow_template", body), field);
    }
    assert_eq!(api.total("get_workflow_template_paginated"), 0, "refused calls wrote nothing");

    let wf = add_workflow(&api, "fifo", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "a", 0, "/a", json!({}));
    let base = step_body(&wf, &domain, "b", 1, "/b", json!({}));
    let without = |field: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    for field in ["index", "step_identifier", "workflow_uuid", "method", "path", "domain_uuid"] {
        let r = api.post("add_workflow_step", without(field));
        assert_error(&r, 400, &format!("Missing required field: {field}"));
    }
    let cases: &[(Value, &str)] = &[
        (json!({"step_identifier": "a"}), "step_identifier"),
        (json!({"step_identifier": "has space"}), "step_identifier"),
        (json!({"on_success_next_step_identifier": "not an id"}), "on_success_next_step_identifier"),
        (json!({"on_fail_next_step_identifier": "x/y"}), "on_fail_next_step_identifier"),
        (json!({"on_success_next_step_identifier": 5}), "on_success_next_step_identifier"),
        (
            json!({"execution_condition": {"field": "x", "operator": "between", "value": "1"}}),
            "execution_condition.operator",
        ),
        (json!({"execution_condition": "x eq 1"}), "execution_condition"),
        (json!({"method": "FETCH"}), "method"),
        (json!({"path": "no-slash"}), "path"),
        (json!({"delay_to_next_step": -1}), "delay_to_next_step"),
        (json!({"approval_timeout_action": "maybe"}), "approval_timeout_action"),
        (json!({"human_approval_required": "yes"}), "human_approval_required"),
        (json!({"max_retries": -1}), "max_retries"),
        (json!({"workflow_uuid": "not-a-uuid"}), "workflow_uuid"),
    ];
    for (extra, field) in cases {
        let r = api.post("add_workflow_step", merge(base.clone(), extra.clone()));
        assert_invalid(&r, field);
    }
    let r = api.post(
        "add_workflow_step",
        merge(base.clone(), json!({"execution_condition": {"operator": "eq", "value": "1"}})),
    );
    assert_error(&r, 400, "Missing required field: execution_condition.field");
    let r =
        api.post("add_workflow_step", merge(base.clone(), json!({"domain_uuid": uuid::Uuid::new_v4().to_string()})));
    assert_error(&r, 404, "Domain not found");
    let r =
        api.post("add_workflow_step", merge(base.clone(), json!({"workflow_uuid": uuid::Uuid::new_v4().to_string()})));
    assert_error(&r, 404, "Workflow not found");
    // A route may name the step itself or one added earlier.
    add_step(&api, &wf, &domain, "b", 1, "/b/{{ step.a.response.id }}", json!({"on_fail_next_step_identifier": "a"}));
    assert_eq!(detail(&api, &wf)["workflow_steps"].as_array().unwrap().len(), 2, "refused steps wrote nothing");
    // Renaming a step other steps route to would break the route.
    let a = detail(&api, &wf)["workflow_steps"][0]["step_uuid"].as_str().unwrap().to_string();
    let r = api.post("update_workflow_step", json!({"step_uuid": a, "step_identifier": "a2"}));
    assert_invalid(&r, "step_identifier");

    // Concurrent workflows cannot resolve {{ step… }}: the 400 names the field that uses it.
    let cw = add_workflow(&api, "conc", "concurrently", json!({}));
    let cbase = step_body(&cw, &domain, "c", 0, "/c", json!({}));
    let cases: &[(Value, &str)] = &[
        (json!({"request_body_json": {"x": {"y": ["{{ step.response.x }}"]}}}), "request_body_json"),
        (json!({"path": "/c/{{step.a.response.id}}"}), "path"),
        (json!({"headers_json": {"X-Prev": "{{ step.status_code }}"}}), "headers_json"),
        (json!({"query_params_json": {"q": "id-{{ step.a.response.id }}"}}), "query_params_json"),
        (
            json!({"execution_condition": {"field": "step.response.ok", "operator": "eq", "value": "true"}}),
            "execution_condition.field",
        ),
    ];
    for (extra, field) in cases {
        let r = api.post("add_workflow_step", merge(cbase.clone(), extra.clone()));
        assert_invalid(&r, field);
        assert!(r.error().contains("concurrent"), "{}", r.error());
    }
    // Initial-context variables and secrets are fine.
    add_step(
        &api,
        &cw,
        &domain,
        "c",
        0,
        "/c/{{ initial.id }}",
        json!({"request_body_json": {"k": "{{ #key }}", "v": "{{ v }}"},
            "execution_condition": {"field": "{{ initial.kind }}", "operator": "eq", "value": "x"}}),
    );
    // A FIFO workflow using step variables cannot become concurrent.
    let r = api.post("update_workflow_template", json!({"workflow_uuid": wf, "runtype": "concurrently"}));
    assert_invalid(&r, "runtype");
    assert_eq!(detail(&api, &wf)["runtype"], "fifo_sequential");
    // The SDK's inline steps are checked the same way, and a refused template is not created.
    let before = api.total("get_workflow_template_paginated");
    let r = api.post(
        "add_workflow_template",
        json!({"name": "sdk", "mode": "concurrent", "steps": [{"url": "http://api.example.com/x", "body": {"x": "{{ step.response.x }}"}}]}),
    );
    assert_invalid(&r, "request_body_json");
    let r = api.post("add_workflow_template", json!({"name": "sdk", "mode": "fifo", "steps": [{"name": "no target"}]}));
    assert_error(&r, 400, "Missing required field: steps[0].method");
    let r = api.post("add_workflow_template", json!({"name": "sdk", "mode": "fifo", "steps": [{"method": "GET"}]}));
    assert_error(&r, 400, "Missing required field: steps[0].path");
    let r = api.post(
        "add_workflow_template",
        json!({"name": "sdk", "mode": "fifo", "steps": [{"url": "http://api.example.com/x", "id": "s"}, {"url": "http://api.example.com/y", "id": "s"}]}),
    );
    assert_invalid(&r, "step_identifier");
    let r = api.post("add_workflow_template", json!({"name": "sdk", "mode": "fifo", "steps": "all of them"}));
    assert_invalid(&r, "steps");
    assert_eq!(api.total("get_workflow_template_paginated"), before);
    // A refused create registers no domain for its steps' urls either.
    let domains = api.total("get_domain_paginated");
    let r = api.post(
        "add_workflow_template",
        json!({"name": "sdk", "mode": "fifo", "steps": [{"url": "http://new.example.com/x", "id": "s"}, {"url": "http://new.example.com/y", "id": "s"}]}),
    );
    assert_invalid(&r, "step_identifier");
    let r = api.post(
        "add_workflow_template",
        json!({"name": "sdk", "mode": "fifo", "steps": [{"url": "http://new.example.com/x"},
            {"path": "/y", "domain_uuid": uuid::Uuid::new_v4().to_string(), "method": "GET"}]}),
    );
    assert_error(&r, 404, "Domain not found");
    let r = api.post(
        "add_workflow_step",
        merge(
            base.clone(),
            json!({"url": "http://new.example.com/z", "path": null, "domain_uuid": null, "step_identifier": "a"}),
        ),
    );
    assert_invalid(&r, "step_identifier");
    assert_eq!(api.total("get_domain_paginated"), domains, "refused calls registered no domain");
    assert_eq!(api.total("get_workflow_template_paginated"), before);
}

/// Case 13 (API half): HookPulse clients add steps in index order, so a route may name a step
/// that does not exist yet. It is accepted, and the detail view flags it until that step exists.
#[test]
fn a_route_may_name_a_step_added_later_and_dangling_routes_are_flagged() {
    let d = daemon();
    let api = d.client();
    let domain = api.add_domain("api.example.com");
    let wf = add_workflow(&api, "forward", "fifo_sequential", json!({}));
    let r = api.post(
        "add_workflow_step",
        step_body(&wf, &domain, "ask", 0, "/ask", json!({"on_fail_next_step_identifier": "cleanup"})),
    );
    assert_ok(&r);
    let data = detail(&api, &wf);
    assert_eq!(
        data["dangling_routes"],
        json!([{"step_identifier": "ask", "field": "on_fail_next_step_identifier", "target": "cleanup"}])
    );
    assert_eq!(data["workflow_steps"][0]["on_fail_next_step_identifier"], "cleanup");
    add_step(&api, &wf, &domain, "next", 1, "/next", json!({"on_success_next_step_identifier": "later"}));
    let data = detail(&api, &wf);
    assert_eq!(
        data["dangling_routes"],
        json!([
            {"step_identifier": "ask", "field": "on_fail_next_step_identifier", "target": "cleanup"},
            {"step_identifier": "next", "field": "on_success_next_step_identifier", "target": "later"},
        ])
    );
    add_step(&api, &wf, &domain, "cleanup", 2, "/cleanup", json!({}));
    let data = detail(&api, &wf);
    assert_eq!(
        data["dangling_routes"],
        json!([{"step_identifier": "next", "field": "on_success_next_step_identifier", "target": "later"}])
    );
    // Clearing the route (null) removes the flag; the SDK's get_workflow_template_uuid shows it too.
    let next = data["workflow_steps"][1]["step_uuid"].as_str().unwrap().to_string();
    let r = api.post("update_workflow_step", json!({"step_uuid": next, "on_success_next_step_identifier": null}));
    assert_ok(&r);
    let r = api.post("get_workflow_template_uuid", json!({"template_uuid": wf}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["dangling_routes"], json!([]));
    assert_eq!(r.json["data"]["workflow_steps"][1]["on_success_next_step_identifier"], Value::Null);
    // A route must still be a possible identifier.
    let r = api.post(
        "add_workflow_step",
        step_body(&wf, &domain, "bad", 3, "/bad", json!({"on_fail_next_step_identifier": "no such step!"})),
    );
    assert_error_starts(&r, 400, "Invalid field value: on_fail_next_step_identifier (");
    assert_eq!(detail(&api, &wf)["workflow_steps"].as_array().unwrap().len(), 3);
}

#[test]
fn another_brands_workflows_steps_runs_and_plans_are_not_found() {
    let d = daemon();
    let a = d.client();
    let domain_a = a.add_domain("api.example.com");
    let wf = add_workflow(&a, "gated", "fifo_sequential", json!({}));
    let step = add_step(&a, &wf, &domain_a, "gate", 0, "/gate", json!({"human_approval_required": true}));
    let run = execute(&a, &wf, json!({}));
    let plan = wait_plan(&a, &run)["execution_plan_uuid"].as_str().unwrap().to_string();

    let cb = d.new_brand("other", None);
    let b = a.as_brand(&cb.brand, &cb.key);
    let domain_b = b.add_domain("api.example.com");
    let wf_b = add_workflow(&b, "mine", "fifo_sequential", json!({}));
    let not_found: Vec<(&str, Value, &str)> = vec![
        ("single_workflow_template_detail", json!({"workflow_uuid": wf}), "Workflow not found"),
        ("get_workflow_template_uuid", json!({"template_uuid": wf}), "Workflow not found"),
        ("update_workflow_template", json!({"workflow_uuid": wf, "workflow_name": "x"}), "Workflow not found"),
        ("delete_workflow_template", json!({"template_uuid": wf}), "Workflow not found"),
        ("add_workflow_step", step_body(&wf, &domain_b, "x", 1, "/x", json!({})), "Workflow not found"),
        ("update_workflow_step", json!({"step_uuid": step, "path": "/x"}), "Step not found"),
        ("update_workflow_step", json!({"step_uuid": step, "workflow_uuid": wf, "path": "/x"}), "Workflow not found"),
        ("update_workflow_step", json!({"step_uuid": step, "workflow_uuid": wf_b, "path": "/x"}), "Step not found"),
        ("delete_workflow_step", json!({"step_uuid": step}), "Step not found"),
        ("execute_workflow", json!({"workflow_uuid": wf}), "Workflow not found"),
        ("get_workflow_run_details", json!({"run_uuid": run}), "Run not found"),
        ("rerun_workflow_run", json!({"run_uuid": run, "from": "initial_step"}), "Run not found"),
        (
            "human_approval_action",
            json!({"action": "approve", "execution_plan_uuid": plan}),
            "Execution plan not found",
        ),
        ("human_approval_action", json!({"action": "reject", "execution_plan_uuid": plan}), "Execution plan not found"),
        ("add_workflow_step", step_body(&wf_b, &domain_a, "x", 0, "/x", json!({})), "Domain not found"),
        (
            "add_interval_schedule",
            json!({"schedule_to": "workflow", "model_to_schedule_uuid": wf, "interval_value": 1,
                "interval_period": "hour", "is_one_off_task": false}),
            "Workflow not found",
        ),
    ];
    for (action, body, error) in not_found {
        let r = b.post(action, body.clone());
        assert_error(&r, 404, error);
    }
    for list in
        ["get_workflow_template_paginated", "get_workflow_runs_paginated", "get_all_pending_approvals_paginated"]
    {
        let items = b.all_pages(list);
        let text = serde_json::to_string(&items).unwrap();
        assert!(!text.contains(&wf) && !text.contains(&run) && !text.contains(&plan), "{list} leaks: {text}");
    }
    let r = b.get("get_schedules_paginated?filter_status=active&page=1");
    assert_eq!(r.json["meta"]["total_count"], 0, "the refused schedule was not created: {}", r.text);
    // Brand A's run is untouched: still waiting, its plan still decidable by A.
    assert_eq!(run_details(&a, &run)["status"], "waiting_approval");
    assert_eq!(detail(&a, &wf)["workflow_name"], "gated");
    let r = approval(&a, &plan, "reject");
    assert_ok(&r);
    wait_final(&a, &run, "failed");
}

#[test]
fn fifo_passes_a_typed_response_value_forward_and_skips_by_condition() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "pipeline", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "create", 0, "/s1", json!({"request_body_json": {"user": "{{ initial.user }}"}}));
    add_step(
        &api,
        &wf,
        &domain,
        "charge",
        1,
        "/s2",
        json!({"request_body_json": {"order_id": "{{ step.response.order.id }}", "tags": "{{ step.create.response.order.tags }}",
            "text": "order {{ step.response.order.id }} for {{ user }}", "paid": "{{ step.response.paid }}",
            "code": "{{ step.create.status_code }}"}}),
    );
    add_step(
        &api,
        &wf,
        &domain,
        "refund",
        2,
        "/s3",
        json!({"execution_condition": {"field": "{{ step.create.response.status }}", "operator": "eq", "value": "cancelled"}}),
    );
    rx.push_script(Script {
        status: 201,
        body: r#"{"order": {"id": 4711, "tags": ["a", "b"]}, "status": "created", "paid": false}"#.into(),
        ..Script::default()
    });
    let run = execute(&api, &wf, json!({"user": "ann"}));
    let done = wait_final(&api, &run, "succeeded");

    let paths: Vec<String> = rx.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/s1", "/s2"], "steps in order, the skipped one never called");
    let reqs = rx.requests();
    assert_eq!(reqs[0].json(), json!({"user": "ann"}));
    assert_eq!(
        reqs[1].json(),
        json!({"order_id": 4711, "tags": ["a", "b"], "text": "order 4711 for ann", "paid": false, "code": 201}),
        "whole-value placeholders keep their JSON type"
    );

    assert_eq!(trail(&done), ["create:succeeded", "charge:succeeded", "refund:skipped"]);
    assert_eq!(done["run_uuid"], run.as_str());
    assert_eq!(done["workflow_uuid"], wf.as_str());
    assert_eq!(done["initial_context"], json!({"user": "ann"}));
    assert!(done["finished_at"].is_string(), "{done:#}");
    let steps = done["steps"].as_array().unwrap();
    let create = &steps[0];
    assert_eq!(create["status_code"], 201);
    assert_eq!(create["attempts"].as_array().unwrap().len(), 1, "{create:#}");
    assert_eq!(create["attempts"][0]["attempt"], 1);
    assert_eq!(create["attempts"][0]["status_code"], 201);
    assert!(create["execution_uuid"].is_string());
    assert_eq!(create["context"]["user"], "ann");
    assert_eq!(create["context"]["step"], json!({}), "the first step saw no earlier results");
    let charge = &steps[1];
    assert_eq!(charge["context"]["step"]["response"]["order"]["id"], 4711, "{charge:#}");
    assert_eq!(charge["context"]["step"]["create"]["status_code"], 201);
    assert_eq!(charge["attempts"][0]["request"]["body"]["order_id"], 4711, "{charge:#}");
    assert!(ms(charge["started_at"].as_str().unwrap()) >= ms(create["finished_at"].as_str().unwrap()));
    let refund = &steps[2];
    assert_eq!(refund["attempts"], json!([]));
    assert_eq!(refund["execution_uuid"], Value::Null);
    assert!(refund["error"].as_str().unwrap().contains("is false"), "{refund:#}");
    assert_eq!(refund["context"]["step"]["response"]["ok"], true, "the previous step's response: {refund:#}");

    let runs = runs_of(&api, &wf);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_uuid"], run.as_str());
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["steps_started"], 3);
    // The run is an execution too.
    let r = api.post("get_execution_details", json!({"execution_uuid": run}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["status"], "succeeded", "{}", r.text);
}

#[test]
fn conditions_compare_big_integers_exactly() {
    // 2^53 + 1 in a response against 2^53 in a condition: the same f64, different integers.
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "big numbers", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "read", 0, "/read", json!({}));
    let when = |value: Value| json!({"execution_condition": {"field": "{{ step.read.response.v }}", "operator": "eq", "value": value}});
    add_step(&api, &wf, &domain, "two53", 1, "/two53", when(json!(9007199254740992u64)));
    add_step(&api, &wf, &domain, "two53_text", 2, "/two53_text", when(json!("9007199254740992")));
    add_step(&api, &wf, &domain, "exact", 3, "/exact", when(json!(9007199254740993u64)));
    rx.push_script(Script { body: r#"{"v": 9007199254740993}"#.into(), ..Script::default() });
    let run = execute(&api, &wf, json!({}));
    let done = wait_final(&api, &run, "succeeded");
    assert_eq!(trail(&done), ["read:succeeded", "two53:skipped", "two53_text:skipped", "exact:succeeded"]);
    assert_eq!((hits(&rx, "/two53"), hits(&rx, "/exact")), (0, 1));
}

#[test]
fn concurrent_steps_are_in_flight_together() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(Script::default().with_delay(Duration::from_millis(500)));
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "fan-out", "concurrently", json!({}));
    for i in 0..3 {
        add_step(&api, &wf, &domain, &format!("c{i}"), i, &format!("/c{i}"), json!({"request_body_json": {"i": i}}));
    }
    let run = execute(&api, &wf, json!({}));
    let done = wait_final(&api, &run, "succeeded");
    let reqs = rx.requests();
    let paths: BTreeSet<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["/c0", "/c1", "/c2"]));
    assert_eq!(reqs.len(), 3);
    let first = reqs.iter().map(|r| r.at_ms).min().unwrap();
    let last = reqs.iter().map(|r| r.at_ms).max().unwrap();
    // One after another, each would arrive at least 500 ms after the previous one.
    assert!(last - first < 450, "arrivals spread over {} ms", last - first);
    assert_eq!(rx.max_in_flight(), 3, "all three requests were in flight at once");
    let mut t = trail(&done);
    t.sort();
    assert_eq!(t, ["c0:succeeded", "c1:succeeded", "c2:succeeded"]);
}

#[test]
fn approval_waits_is_listed_approved_once_and_rejection_takes_the_failure_route() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "payout", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "prepare", 0, "/prepare", json!({}));
    add_step(&api, &wf, &domain, "pay", 1, "/pay", json!({"human_approval_required": true, "delay_to_next_step": 1}));
    add_step(&api, &wf, &domain, "receipt", 2, "/receipt", json!({}));
    let run = execute(&api, &wf, json!({}));
    let item = wait_plan(&api, &run);
    for k in [
        "execution_plan_uuid",
        "workflow_uuid",
        "workflow_name",
        "step_identifier",
        "workflow_index",
        "status",
        "human_approval_required",
        "delay_to_next_step",
        "inserted_at",
    ] {
        assert!(item.get(k).is_some(), "a pending approval lacks {k}: {item:#}");
    }
    assert_eq!(item["workflow_uuid"], wf.as_str());
    assert_eq!(item["workflow_name"], "payout");
    assert_eq!(item["step_identifier"], "pay");
    assert_eq!(item["workflow_index"], 1);
    assert_eq!(item["status"], "waiting_approval");
    assert_eq!(item["human_approval_required"], true);
    assert_eq!(item["delay_to_next_step"], 1);
    assert!(item["inserted_at"].as_str().unwrap().ends_with("+00:00"), "{item}");
    let plan = item["execution_plan_uuid"].as_str().unwrap().to_string();
    let r = api.get("get_all_pending_approvals_paginated?page=1");
    assert_ok(&r);
    assert!(r.json["meta"].is_object() && r.json["timezone"].is_string(), "{}", r.text);

    let waiting = run_details(&api, &run);
    assert_eq!(waiting["status"], "waiting_approval");
    assert_eq!(trail(&waiting), ["prepare:succeeded", "pay:waiting_approval"]);
    assert_eq!(waiting["steps"][1]["execution_plan_uuid"], plan.as_str());
    assert_eq!(hits(&rx, "/pay"), 0, "the step waits before it runs");
    // A waiting run cannot be rerun.
    let r = api.post("rerun_workflow_run", json!({"run_uuid": run, "from": "initial_step"}));
    assert_eq!(r.status, 409, "{}", r.text);

    let r = approval(&api, &plan, "maybe");
    assert_invalid(&r, "action");
    let r = approval(&api, &uuid::Uuid::new_v4().to_string(), "approve");
    assert_error(&r, 404, "Execution plan not found");
    let r = approval(&api, &plan, "approve");
    assert_ok(&r);
    assert_eq!(r.json, json!({"success": true, "message": "Workflow approved and resumed"}));
    for action in ["approve", "reject"] {
        let r = approval(&api, &plan, action);
        assert_eq!(r.status, 409, "acting again ({action}): {}", r.text);
        assert_eq!(r.json["success"], false);
    }
    assert!(!api.all_pages("get_all_pending_approvals_paginated").iter().any(|p| p["execution_plan_uuid"] == plan));
    let done = wait_final(&api, &run, "succeeded");
    assert_eq!(trail(&done), ["prepare:succeeded", "pay:succeeded", "receipt:succeeded"]);
    let pay_done = ms(done["steps"][1]["finished_at"].as_str().unwrap());
    let receipt_start = ms(done["steps"][2]["started_at"].as_str().unwrap());
    assert!(receipt_start - pay_done >= 990, "delay_to_next_step after an approved step: {}", receipt_start - pay_done);
    for p in ["/prepare", "/pay", "/receipt"] {
        assert_eq!(hits(&rx, p), 1, "{p} called once");
    }
    let r = approval(&api, &plan, "approve");
    assert_eq!(r.status, 409, "a finished run's plan: {}", r.text);

    // Rejected: the step does not run; the failure route does.
    let wf2 = add_workflow(&api, "guarded", "fifo_sequential", json!({}));
    // A route may only name a step that exists: the target is added first.
    add_step(&api, &wf2, &domain, "cleanup", 2, "/cleanup", json!({}));
    add_step(
        &api,
        &wf2,
        &domain,
        "gate",
        0,
        "/gate",
        json!({"human_approval_required": true, "on_fail_next_step_identifier": "cleanup"}),
    );
    add_step(&api, &wf2, &domain, "after", 1, "/after", json!({}));
    let run2 = execute(&api, &wf2, json!({}));
    let plan2 = wait_plan(&api, &run2)["execution_plan_uuid"].as_str().unwrap().to_string();
    let r = approval(&api, &plan2, "reject");
    assert_ok(&r);
    assert_eq!(r.json, json!({"success": true, "message": "Workflow rejected and skipped"}));
    let r = approval(&api, &plan2, "approve");
    assert_eq!(r.status, 409, "{}", r.text);
    let done = wait_final(&api, &run2, "succeeded");
    assert_eq!(trail(&done), ["gate:rejected", "cleanup:succeeded"]);
    assert_eq!(done["steps"][0]["error"], "rejected by a person");
    assert_eq!((hits(&rx, "/gate"), hits(&rx, "/after"), hits(&rx, "/cleanup")), (0, 0, 1));
    assert!(api.all_pages("get_all_pending_approvals_paginated").is_empty());
}

#[test]
fn kill9_while_waiting_for_approval_continues_exactly_once() {
    let mut d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "durable approval", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "before", 0, "/before", json!({}));
    add_step(&api, &wf, &domain, "gate", 1, "/gate", json!({"human_approval_required": true}));
    add_step(&api, &wf, &domain, "after", 2, "/after", json!({}));
    let run = execute(&api, &wf, json!({"k": 1}));
    let plan = wait_plan(&api, &run)["execution_plan_uuid"].as_str().unwrap().to_string();

    d.kill9();
    d.launch().unwrap_or_else(|out| panic!("daemon did not restart:\n{out}"));
    let api = d.client();
    let listed = wait_plan(&api, &run);
    assert_eq!(listed["execution_plan_uuid"], plan.as_str(), "the pending approval survived");
    assert_eq!(run_details(&api, &run)["status"], "waiting_approval");
    let r = approval(&api, &plan, "approve");
    assert_ok(&r);
    let done = wait_final(&api, &run, "succeeded");
    assert_eq!(trail(&done), ["before:succeeded", "gate:succeeded", "after:succeeded"]);
    assert_eq!(done["steps"][2]["context"]["k"], 1);
    for p in ["/before", "/gate", "/after"] {
        assert_eq!(
            hits(&rx, p),
            1,
            "{p} exactly once: {:?}",
            rx.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
        );
    }
}

#[test]
fn kill9_during_delay_to_next_step_continues_exactly_once_after_the_delay() {
    let mut d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "durable delay", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "first", 0, "/first", json!({"delay_to_next_step": 3}));
    add_step(
        &api,
        &wf,
        &domain,
        "second",
        1,
        "/second",
        json!({"request_body_json": {"prev": "{{ step.response.ok }}"}}),
    );
    let run = execute(&api, &wf, json!({}));
    let waiting = wait_run(&api, &run, "the first step to end", |d| trail(d) == ["first:succeeded"]);
    assert_eq!(waiting["status"], "running");
    let first_done = ms(waiting["steps"][0]["finished_at"].as_str().unwrap());
    assert_eq!(hits(&rx, "/second"), 0, "the delay is still running when the daemon dies");

    d.kill9();
    d.launch().unwrap_or_else(|out| panic!("daemon did not restart:\n{out}"));
    let api = d.client();
    let done = wait_final(&api, &run, "succeeded");
    assert_eq!(trail(&done), ["first:succeeded", "second:succeeded"]);
    assert_eq!((hits(&rx, "/first"), hits(&rx, "/second")), (1, 1), "each step exactly once");
    let second = rx.requests().into_iter().find(|r| r.path == "/second").unwrap();
    assert!(second.at_ms >= first_done + 3000 - 5, "the delay was kept: {} ms", second.at_ms - first_done);
    assert_eq!(second.json(), json!({"prev": true}), "the earlier response survived the restart");
}

#[test]
fn execute_schedule_and_rerun_start_runs() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(Script { body: r#"{"n": 2}"#.into(), ..Script::default() });
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "two steps", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "r1", 0, "/r1", json!({}));
    add_step(
        &api,
        &wf,
        &domain,
        "r2",
        1,
        "/r2",
        json!({"request_body_json": {"v": "{{ initial.v }}", "prev": "{{ step.response.n }}"}}),
    );
    rx.push_scripts([Script { body: r#"{"n": 1}"#.into(), ..Script::default() }, Script::status(500)]);
    let run = execute(&api, &wf, json!({"v": "x"}));
    let failed = wait_final(&api, &run, "failed");
    assert_eq!(trail(&failed), ["r1:succeeded", "r2:failed"]);
    assert_eq!(failed["steps"][1]["status_code"], 500);
    assert!(failed["reason"].as_str().unwrap().contains("r2"), "{failed:#}");
    let r = api.post("get_execution_details", json!({"execution_uuid": run}));
    assert_eq!(r.json["data"]["status"], "failed", "{}", r.text);

    // From the failed step: only r2 runs again, with r1's earlier response.
    let r = api.post("rerun_workflow_run", json!({"run_uuid": run, "from": "failed_step"}));
    assert_ok(&r);
    assert_eq!(r.json["rerun_of"], run.as_str());
    let rerun = r.json["run_uuid"].as_str().unwrap().to_string();
    assert_ne!(rerun, run);
    let done = wait_final(&api, &rerun, "succeeded");
    assert_eq!(trail(&done), ["r1:succeeded", "r2:succeeded"]);
    assert_eq!((hits(&rx, "/r1"), hits(&rx, "/r2")), (1, 2), "r1 was not called again");
    assert_eq!(rx.requests().last().unwrap().json(), json!({"v": "x", "prev": 1}));
    let r = api.post("rerun_workflow_run", json!({"run_uuid": rerun, "from": "failed_step"}));
    assert_invalid(&r, "from");
    let r = api.post("rerun_workflow_run", json!({"run_uuid": run, "from": "the_middle"}));
    assert_invalid(&r, "from");

    // From the initial step, with a new context: everything again.
    let r =
        api.post("rerun_workflow_run", json!({"run_uuid": run, "from": "initial_step", "initial_context": {"v": "y"}}));
    assert_ok(&r);
    let rerun2 = r.json["run_uuid"].as_str().unwrap().to_string();
    let done = wait_final(&api, &rerun2, "succeeded");
    assert_eq!(trail(&done), ["r1:succeeded", "r2:succeeded"]);
    assert_eq!((hits(&rx, "/r1"), hits(&rx, "/r2")), (2, 3));
    assert_eq!(rx.requests().last().unwrap().json(), json!({"v": "y", "prev": 2}));
    assert_eq!(done["initial_context"], json!({"v": "y"}));

    // A schedule targeting a workflow starts a run per fire, with its initial context.
    let tick = add_workflow(&api, "ticker", "fifo_sequential", json!({}));
    add_step(&api, &tick, &domain, "tick", 0, "/tick", json!({"request_body_json": {"v": "{{ initial.v }}"}}));
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "workflow", "model_to_schedule_uuid": tick, "interval_value": 1,
            "interval_period": "second", "is_one_off_task": false, "initial_context_template": {"v": "sched"}}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().unwrap().to_string();
    wait_for("two scheduled runs to call the receiver", WAIT, || (hits(&rx, "/tick") >= 2).then_some(()));
    let r = api.delete("delete_schedule", json!({"schedule_uuid": schedule}));
    assert_ok(&r);
    for req in rx.requests().iter().filter(|r| r.path == "/tick") {
        assert_eq!(req.json(), json!({"v": "sched"}));
    }
    let runs = runs_of(&api, &tick);
    assert!(runs.len() >= 2, "{runs:#?}");
    assert!(runs.iter().all(|r| r["workflow_uuid"] == tick.as_str()));
    for r in &runs {
        wait_final(&api, r["run_uuid"].as_str().unwrap(), "succeeded");
    }
    // Every run of the brand, newest first, each listed once.
    let all = api.all_pages("get_workflow_runs_paginated");
    let ids: Vec<&str> = all.iter().map(|r| r["run_uuid"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    for id in [&run, &rerun, &rerun2] {
        assert!(ids.contains(&id.as_str()), "{id} listed");
    }
    assert_eq!(all.len(), 3 + runs.len(), "only these runs exist");
    let created: Vec<i64> = all.iter().map(|r| ms(r["created_at"].as_str().unwrap())).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");
    assert_eq!(runs_of(&api, &wf).len(), 3);
    assert!(runs_of(&api, &uuid::Uuid::new_v4().to_string()).is_empty());

    // A workflow schedule's detail names the workflow; deleting the workflow deactivates the
    // schedule, which cannot be resumed then.
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "workflow", "model_to_schedule_uuid": tick, "interval_value": 1,
            "interval_period": "hour", "is_one_off_task": false}),
    );
    assert_ok(&r);
    let hourly = r.json["schedule_uuid"].as_str().unwrap().to_string();
    let r = api.post("get_single_schedule_details", json!({"schedule_uuid": hourly}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["type"], "workflow");
    assert_eq!(r.json["data"]["schedule_applied_model_uuid"], tick.as_str());
    assert_eq!(r.json["data"]["target_name"], "ticker");
    assert_eq!(r.json["data"]["target_description"], "test");
    assert_ok(&api.post("delete_workflow_template", json!({"workflow_uuid": tick})));
    let r = api.post("get_single_schedule_details", json!({"schedule_uuid": hourly}));
    assert_eq!(r.json["data"]["status"], "inactive", "{}", r.text);
    let r = api.post("change_schedule_status", json!({"schedule_uuid": hourly, "update_status_to": "active"}));
    assert_invalid(&r, "update_status_to");
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "workflow", "model_to_schedule_uuid": tick, "interval_value": 1,
            "interval_period": "hour", "is_one_off_task": false}),
    );
    assert_error(&r, 404, "Workflow not found");
}

/// `get_execution_details` data of an execution (a run or a step).
fn execution(api: &Api, id: &str) -> Value {
    let r = api.post("get_execution_details", json!({"execution_uuid": id}));
    assert_ok(&r);
    r.json["data"].clone()
}

#[test]
fn scheduled_runs_send_no_step_before_their_instant() {
    // Fires are recorded (and their runs started) a little ahead of their instant; the first
    // step must still reach the receiver at or after the instant recorded in the run's
    // execution, and the lateness on record must be measured from it.
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "on time", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "first", 0, "/first", json!({}));
    add_step(&api, &wf, &domain, "second", 1, "/second", json!({}));
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "workflow", "model_to_schedule_uuid": wf, "interval_value": 1,
            "interval_period": "second", "is_one_off_task": false}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().unwrap().to_string();
    wait_for("three scheduled runs to call the receiver", WAIT, || (hits(&rx, "/first") >= 3).then_some(()));
    assert_ok(&api.delete("delete_schedule", json!({"schedule_uuid": schedule})));
    let runs = runs_of(&api, &wf);
    assert!(runs.len() >= 3, "{runs:#?}");
    // Every step of every run has been received once its run is final.
    let finals: Vec<Value> =
        runs.iter().map(|r| wait_final(&api, r["run_uuid"].as_str().unwrap(), "succeeded")).collect();
    let received = rx.requests();
    for (r, done) in runs.iter().zip(finals) {
        let run_id = r["run_uuid"].as_str().unwrap();
        let run = execution(&api, run_id);
        assert_eq!(run["trigger"], "schedule", "{run:#}");
        let instant = ms(run["scheduled_at"].as_str().unwrap());
        let due = ms(run["due_at"].as_str().unwrap());
        for (i, visit) in done["steps"].as_array().unwrap().iter().enumerate() {
            let step = execution(&api, visit["execution_uuid"].as_str().unwrap());
            let key = step["idempotency_key"].as_str().unwrap();
            let arrivals: Vec<i64> =
                received.iter().filter(|q| q.header("idempotency-key") == Some(key)).map(|q| q.at_ms).collect();
            assert_eq!(arrivals.len(), 1, "step {i} of run {run_id} was received once: {step:#}");
            assert!(
                arrivals[0] >= due,
                "step {i} of run {run_id} arrived at {} ms, {} ms before the run's instant {}",
                arrivals[0],
                due - arrivals[0],
                run["due_at"]
            );
            let started = ms(step["attempts"][0]["started_at"].as_str().unwrap());
            assert!(started >= due, "step {i} started before the run's instant: {step:#}");
            let lateness = step["lateness_ms"].as_i64().unwrap_or_else(|| panic!("no lateness: {step:#}"));
            assert_eq!(lateness, started - ms(step["scheduled_at"].as_str().unwrap()), "{step:#}");
            if i == 0 {
                // The first step is due with its run; its lateness counts from the run's instant.
                assert_eq!(step["scheduled_at"], run["scheduled_at"], "{step:#}");
                assert_eq!(step["due_at"], run["due_at"], "{step:#}");
                assert_eq!(lateness, started - instant);
                // The run's own lateness is its first request's.
                assert_eq!(run["lateness_ms"], lateness, "{run:#}");
            }
            assert!(lateness >= 0, "{step:#}");
        }
    }
}

#[test]
fn a_restart_during_a_scheduled_runs_step_does_not_block_its_schedule() {
    let mut d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    // The first request stays in flight long enough to kill the daemon under it.
    rx.push_script(Script::default().with_delay(Duration::from_secs(3)));
    let domain = api.add_domain(&rx.host());
    let wf = add_workflow(&api, "slow", "fifo_sequential", json!({}));
    add_step(&api, &wf, &domain, "slow", 0, "/slow", json!({"request_timeout_in_milliseconds": 10000}));
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "workflow", "model_to_schedule_uuid": wf, "interval_value": 1,
            "interval_period": "second", "is_one_off_task": false, "overlap_policy": "skip"}),
    );
    assert_ok(&r);
    assert_eq!(rx.wait_for(1, WAIT), 1, "the first run's step reached the receiver");
    d.kill9();
    d.launch().unwrap_or_else(|out| panic!("daemon did not restart:\n{out}"));
    // The interrupted step is delivered again and its run ends; the schedule's later fires
    // must then start new runs instead of being skipped as overlapping forever.
    let n = rx.wait_for(4, WAIT);
    assert!(n >= 4, "only {n} requests: the schedule stopped starting runs after the restart");
}

#[test]
fn an_approval_timeout_applies_its_action() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let mut runs = Vec::new();
    for action in ["approve", "reject"] {
        let wf = add_workflow(&api, &format!("timeout {action}"), "fifo_sequential", json!({}));
        add_step(
            &api,
            &wf,
            &domain,
            "gate",
            0,
            &format!("/{action}"),
            json!({"human_approval_required": true, "approval_timeout_seconds": 1, "approval_timeout_action": action}),
        );
        let run = execute(&api, &wf, json!({}));
        let plan = wait_plan(&api, &run);
        let created = ms(run_details(&api, &run)["created_at"].as_str().unwrap());
        let deadline = ms(plan["deadline_at"].as_str().unwrap_or_else(|| panic!("no deadline_at: {plan}")));
        assert!((deadline - created - 1000).abs() < 500, "deadline {} ms after the run started", deadline - created);
        runs.push((action, run, plan["execution_plan_uuid"].as_str().unwrap().to_string()));
    }
    for (action, run, plan) in runs {
        let done =
            wait_run(&api, &run, "the approval timeout", |d| RUN_FINAL.contains(&d["status"].as_str().unwrap_or("")));
        if action == "approve" {
            assert_eq!(done["status"], "succeeded", "{done:#}");
            assert_eq!(trail(&done), ["gate:succeeded"]);
            assert_eq!(hits(&rx, "/approve"), 1);
        } else {
            assert_eq!(done["status"], "failed", "{done:#}");
            assert_eq!(trail(&done), ["gate:rejected"]);
            assert!(done["steps"][0]["error"].as_str().unwrap().contains("timed out"), "{done:#}");
            assert_eq!(hits(&rx, "/reject"), 0);
        }
        let r = approval(&api, &plan, "approve");
        assert_eq!(r.status, 409, "{action}: decided by the timeout: {}", r.text);
    }
    assert!(api.all_pages("get_all_pending_approvals_paginated").is_empty());
}
