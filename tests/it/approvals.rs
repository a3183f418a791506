//! Standalone approval requests (product §11, `create_approval_request`) against the real
//! binary and a loopback receiver: listed beside workflow approvals, decided by the same
//! `human_approval_action` (409 on a second decision), the approve / reject targets run once
//! with the request's context and the decision, the timeout takes its `timeout_action`, a
//! deadline survives `kill -9`, validation names the field, and another brand sees nothing.
//!
//! Timing assertions are correctness bounds (generous waits), never speed tests.

use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::Receiver;
use crate::support::{Api, TestDaemon, assert_error, assert_error_starts, assert_invalid, assert_ok, wait_for};

/// No API rate limit: the tests poll a lot.
const BASE_CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n";

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(30);

fn daemon() -> TestDaemon {
    TestDaemon::start_with(BASE_CONFIG)
}

/// A webhook template posting to `path` with the request's `order` and the `approval` object.
fn target(api: &Api, domain: &str, path: &str) -> String {
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": format!("target {path}"), "method": "POST", "path": path, "domain_uuid": domain,
            "max_retries": 0, "request_body_json": {"order": "{{ initial.order }}", "approval": "{{ initial.approval }}"}}),
    );
    assert_ok(&r);
    r.json["webhook_uuid"].as_str().unwrap_or_else(|| panic!("no webhook_uuid: {}", r.text)).to_string()
}

fn webhook(id: &str) -> Value {
    json!({"schedule_to": "webhook", "model_to_schedule_uuid": id})
}

/// `create_approval_request`; returns `execution_plan_uuid`.
fn create(api: &Api, body: Value) -> String {
    let r = api.post("create_approval_request", body);
    assert_ok(&r);
    assert_eq!(r.json["status"], "waiting_approval", "{}", r.text);
    r.json["execution_plan_uuid"].as_str().unwrap_or_else(|| panic!("no execution_plan_uuid: {}", r.text)).to_string()
}

fn request(api: &Api, plan: &str) -> Value {
    let r = api.post("get_approval_request", json!({"execution_plan_uuid": plan}));
    assert_ok(&r);
    r.json["data"].clone()
}

fn wait_status(api: &Api, plan: &str, status: &str) -> Value {
    wait_for(&format!("approval request {plan} to be {status}"), WAIT, || {
        let d = request(api, plan);
        (d["status"] == status).then_some(d)
    })
}

fn decide(api: &Api, plan: &str, action: &str) -> crate::support::Resp {
    api.post("human_approval_action", json!({"execution_plan_uuid": plan, "action": action}))
}

fn hits(rx: &Receiver, path: &str) -> Vec<Value> {
    rx.requests().iter().filter(|r| r.path == path).map(|r| r.json()).collect()
}

/// Waits until `path` got at least one request, then a little longer, and returns them all
/// (so a duplicate sent right after the first is seen).
fn settled_hits(rx: &Receiver, path: &str) -> Vec<Value> {
    wait_for(&format!("a request to {path}"), WAIT, || (!hits(rx, path).is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(1500));
    hits(rx, path)
}

fn pending(api: &Api) -> Vec<Value> {
    api.all_pages("get_all_pending_approvals_paginated")
}

#[test]
fn a_standalone_request_is_listed_with_workflow_approvals_and_approving_runs_its_target_once() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let approved = target(&api, &domain, "/approved");
    let rejected = target(&api, &domain, "/rejected");

    // A workflow run waiting at an approval step.
    let r = api.post("add_workflow_template", json!({"workflow_name": "gated", "runtype": "fifo_sequential"}));
    assert_ok(&r);
    let wf = r.json["workflow_uuid"].as_str().unwrap().to_string();
    let r = api.post(
        "add_workflow_step",
        json!({"workflow_uuid": wf, "index": 0, "step_identifier": "gate", "webhook_name": "gate", "method": "POST",
            "path": "/gate", "domain_uuid": domain, "human_approval_required": true}),
    );
    assert_ok(&r);
    let r = api.post("execute_workflow", json!({"workflow_uuid": wf, "initial_context": {}}));
    assert_ok(&r);
    let run = r.json["run_uuid"].as_str().or(r.json["execution_uuid"].as_str()).unwrap().to_string();
    let wf_plan = wait_for("the workflow's approval plan", WAIT, || {
        pending(&api).into_iter().find(|p| p["run_uuid"] == run.as_str())
    })["execution_plan_uuid"]
        .as_str()
        .unwrap()
        .to_string();

    let plan = create(
        &api,
        json!({"title": "Refund order 1042", "context": {"order": 1042},
            "on_approve": webhook(&approved), "on_reject": webhook(&rejected)}),
    );
    let list = pending(&api);
    let wf_item = list.iter().find(|p| p["execution_plan_uuid"] == wf_plan.as_str()).expect("workflow plan listed");
    assert_eq!(wf_item["kind"], "workflow_step");
    let item = list.iter().find(|p| p["execution_plan_uuid"] == plan.as_str()).expect("standalone request listed");
    assert_eq!(item["kind"], "standalone");
    assert_eq!(item["title"], "Refund order 1042");
    assert_eq!(item["context"], json!({"order": 1042}));
    assert_eq!(item["status"], "waiting_approval");
    assert_eq!(item["timeout_action"], "reject");

    let before = request(&api, &plan);
    assert_eq!(before["status"], "waiting_approval");
    assert_eq!(before["decision"], Value::Null);
    let left = before["seconds_remaining"].as_u64().unwrap();
    assert!((290..=300).contains(&left), "default timeout is 300 s: {before:#}");

    let r = api.post(
        "human_approval_action",
        json!({"execution_plan_uuid": plan, "action": "approve", "notes": "checked the invoice"}),
    );
    assert_ok(&r);
    assert_eq!(r.json["message"], "Approval request approved");

    let got = settled_hits(&rx, "/approved");
    assert_eq!(got.len(), 1, "the approve target runs exactly once: {got:?}");
    assert_eq!(got[0]["order"], 1042);
    let approval = &got[0]["approval"];
    assert_eq!(approval["execution_plan_uuid"], plan.as_str());
    assert_eq!(approval["decision"], "approve");
    assert_eq!(approval["notes"], "checked the invoice");
    assert_eq!(approval["timed_out"], false);
    assert!(approval["decided_by"].as_str().is_some_and(|k| k.len() == 36), "{approval:#}");
    assert!(hits(&rx, "/rejected").is_empty());

    let after = request(&api, &plan);
    assert_eq!(after["status"], "approved");
    assert_eq!(after["decision"], "approve");
    assert_eq!(after["notes"], "checked the invoice");
    assert_eq!(after["seconds_remaining"], 0);
    assert_eq!(after["decided_by"], approval["decided_by"]);
    let exec = after["execution_uuid"].as_str().expect("the target's execution").to_string();
    let e = wait_for("the target execution to succeed", WAIT, || {
        let r = api.post("get_execution_details", json!({"execution_uuid": exec}));
        (r.json["data"]["status"] == "succeeded").then_some(r.json["data"].clone())
    });
    assert_eq!(e["idempotency_key"].as_str(), Some(format!("hw_apr_{}_approve", plan.replace('-', "")).as_str()));

    // A second decision, either way, is 409 and runs nothing.
    for action in ["approve", "reject"] {
        let r = decide(&api, &plan, action);
        assert_error(&r, 409, "Execution plan is not waiting for approval (it is approved)");
    }
    let list = pending(&api);
    assert!(!list.iter().any(|p| p["execution_plan_uuid"] == plan.as_str()), "decided: no longer pending");
    assert!(list.iter().any(|p| p["execution_plan_uuid"] == wf_plan.as_str()), "the workflow plan still waits");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hits(&rx, "/approved").len(), 1);
    assert!(hits(&rx, "/rejected").is_empty());
}

#[test]
fn rejecting_runs_the_reject_target_and_a_request_without_targets_just_records() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let approved = target(&api, &domain, "/approved");
    let rejected = target(&api, &domain, "/rejected");
    let plan = create(
        &api,
        json!({"title": "Deploy", "context": {"order": 7}, "on_approve": webhook(&approved), "on_reject": webhook(&rejected)}),
    );
    let r = decide(&api, &plan, "reject");
    assert_ok(&r);
    assert_eq!(r.json["message"], "Approval request rejected");
    let got = settled_hits(&rx, "/rejected");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["order"], 7);
    assert_eq!(got[0]["approval"]["decision"], "reject");
    assert_eq!(got[0]["approval"]["notes"], Value::Null);
    assert!(hits(&rx, "/approved").is_empty());
    let d = request(&api, &plan);
    assert_eq!((d["status"].as_str(), d["decision"].as_str()), (Some("rejected"), Some("reject")));

    let bare = create(&api, json!({"title": "No targets"}));
    assert_ok(&decide(&api, &bare, "approve"));
    let d = request(&api, &bare);
    assert_eq!(d["status"], "approved");
    assert_eq!(d["execution_uuid"], Value::Null);
    assert_eq!(d["context"], json!({}));
    assert_eq!(rx.count(), 1, "nothing else was sent");
}

#[test]
fn a_timeout_takes_its_action_and_runs_the_target_once() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let approved = target(&api, &domain, "/approved");
    let rejected = target(&api, &domain, "/rejected");
    let plan = create(
        &api,
        json!({"title": "Auto", "context": {"order": 1}, "timeout_seconds": 1, "timeout_action": "approve",
            "on_approve": webhook(&approved), "on_reject": webhook(&rejected)}),
    );
    let d = wait_status(&api, &plan, "timed_out");
    assert_eq!(d["decision"], "approve");
    assert_eq!(d["decided_by"], Value::Null);
    let got = settled_hits(&rx, "/approved");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["approval"]["timed_out"], true);
    assert_eq!(got[0]["approval"]["decided_by"], Value::Null);
    assert!(hits(&rx, "/rejected").is_empty());
    assert_error(&decide(&api, &plan, "reject"), 409, "Execution plan is not waiting for approval (it is timed_out)");

    // The default timeout action rejects.
    let plan = create(
        &api,
        json!({"title": "Auto reject", "context": {"order": 2}, "timeout_seconds": 1, "on_approve": webhook(&approved), "on_reject": webhook(&rejected)}),
    );
    let d = wait_status(&api, &plan, "timed_out");
    assert_eq!(d["decision"], "reject");
    let got = settled_hits(&rx, "/rejected");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["order"], 2);
    assert_eq!(hits(&rx, "/approved").len(), 1);
}

#[test]
fn kill9_while_pending_the_deadline_still_fires_once_after_restart() {
    let mut d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let approved = target(&api, &domain, "/approved");
    let soon = create(
        &api,
        json!({"title": "Soon", "context": {"order": 3}, "timeout_seconds": 2, "timeout_action": "approve",
            "on_approve": webhook(&approved)}),
    );
    let later = create(&api, json!({"title": "Later", "timeout_seconds": 3600, "on_approve": webhook(&approved)}));

    d.kill9();
    d.launch().unwrap_or_else(|out| panic!("daemon did not restart:\n{out}"));
    let api = d.client();
    let done = wait_status(&api, &soon, "timed_out");
    assert_eq!(done["decision"], "approve");
    let got = settled_hits(&rx, "/approved");
    assert_eq!(got.len(), 1, "the deadline fired once: {got:?}");
    assert_eq!(got[0]["order"], 3);
    assert_eq!(got[0]["approval"]["execution_plan_uuid"], soon.as_str());

    let still = request(&api, &later);
    assert_eq!(still["status"], "waiting_approval");
    assert!(still["seconds_remaining"].as_u64().is_some_and(|s| s > 3000), "{still:#}");
    assert!(pending(&api).iter().any(|p| p["execution_plan_uuid"] == later.as_str()));
}

#[test]
fn bad_input_is_400_naming_the_field_and_creates_nothing() {
    let d = daemon();
    let api = d.client();
    let domain = api.add_domain("127.0.0.1:9");
    let hook = target(&api, &domain, "/t");
    let r = api.post("create_approval_request", json!({"context": {}}));
    assert_error(&r, 400, "Missing required field: title");
    let long = "x".repeat(201);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"title": "  "}), "title"),
        (json!({"title": long}), "title"),
        (json!({"title": "a\u{0}b"}), "title"),
        (json!({"title": "t", "context": [1]}), "context"),
        (json!({"title": "t", "context": "x"}), "context"),
        (json!({"title": "t", "timeout_seconds": 0}), "timeout_seconds"),
        (json!({"title": "t", "timeout_seconds": 86_401}), "timeout_seconds"),
        (json!({"title": "t", "timeout_seconds": "soon"}), "timeout_seconds"),
        (json!({"title": "t", "timeout_action": "deny"}), "timeout_action"),
        (
            json!({"title": "t", "on_approve": {"schedule_to": "debounce_schedule", "model_to_schedule_uuid": hook}}),
            "on_approve.schedule_to",
        ),
        (
            json!({"title": "t", "on_reject": {"schedule_to": "webhook", "model_to_schedule_uuid": "nope"}}),
            "on_reject.model_to_schedule_uuid",
        ),
        (json!({"title": "t", "on_approve": "webhook"}), "on_approve"),
    ];
    for (body, field) in cases {
        let r = api.post("create_approval_request", body.clone());
        assert_invalid(&r, field);
    }
    let r = api.post("create_approval_request", json!({"title": "t", "on_approve": {"schedule_to": "webhook"}}));
    assert_error(&r, 400, "Missing required field: on_approve.model_to_schedule_uuid");
    let r = api.post("create_approval_request", json!({"title": "t", "timeout": 5}));
    assert_error_starts(&r, 400, "Unknown field: timeout");
    let missing = uuid::Uuid::now_v7().to_string();
    let r = api.post("create_approval_request", json!({"title": "t", "on_approve": webhook(&missing)}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.error().starts_with("Webhook not found"), "{}", r.text);
    let r = api.post(
        "create_approval_request",
        json!({"title": "t", "on_reject": {"schedule_to": "workflow", "model_to_schedule_uuid": hook}}),
    );
    assert_eq!(r.status, 404, "a webhook's id is no workflow: {}", r.text);
    assert!(pending(&api).is_empty(), "nothing was created");

    let plan = create(&api, json!({"title": "t"}));
    let r = api.post(
        "human_approval_action",
        json!({"execution_plan_uuid": plan, "action": "approve", "notes": "n".repeat(2001)}),
    );
    assert_invalid(&r, "notes");
    let r = decide(&api, &plan, "maybe");
    assert_invalid(&r, "action");
    assert_eq!(request(&api, &plan)["status"], "waiting_approval", "a refused decision decides nothing");
    let r = api.post("get_approval_request", json!({"execution_plan_uuid": missing}));
    assert_error(&r, 404, "Approval request not found");
}

#[test]
fn another_brands_approval_requests_are_not_found() {
    let d = daemon();
    let a = d.client();
    let domain = a.add_domain("127.0.0.1:9");
    let hook = target(&a, &domain, "/t");
    let plan = create(&a, json!({"title": "secret plans", "on_approve": webhook(&hook)}));

    let cb = d.new_brand("other", None);
    let b = a.as_brand(&cb.brand, &cb.key);
    let r = b.post("get_approval_request", json!({"execution_plan_uuid": plan}));
    assert_error(&r, 404, "Approval request not found");
    for action in ["approve", "reject"] {
        let r = decide(&b, &plan, action);
        assert_error(&r, 404, "Execution plan not found");
    }
    let text = serde_json::to_string(&pending(&b)).unwrap();
    assert!(!text.contains(&plan) && !text.contains("secret plans"), "the list leaks: {text}");
    let r = b.post("create_approval_request", json!({"title": "t", "on_approve": webhook(&hook)}));
    assert_eq!(r.status, 404, "another brand's template is no target: {}", r.text);

    assert_eq!(request(&a, &plan)["status"], "waiting_approval", "untouched");
    assert_ok(&decide(&a, &plan, "reject"));
}

#[test]
fn an_approval_can_start_a_workflow_run_with_the_decision_in_its_context() {
    let d = daemon();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let r = api.post("add_workflow_template", json!({"workflow_name": "after approval", "runtype": "fifo_sequential"}));
    assert_ok(&r);
    let wf = r.json["workflow_uuid"].as_str().unwrap().to_string();
    let r = api.post(
        "add_workflow_step",
        json!({"workflow_uuid": wf, "index": 0, "step_identifier": "ship", "webhook_name": "ship", "method": "POST",
            "path": "/ship", "domain_uuid": domain, "max_retries": 0,
            "request_body_json": {"order": "{{ initial.order }}", "approval": "{{ initial.approval }}"}}),
    );
    assert_ok(&r);
    let plan = create(
        &api,
        json!({"title": "Ship it", "context": {"order": 9},
            "on_approve": {"schedule_to": "workflow", "model_to_schedule_uuid": wf}}),
    );
    assert_ok(&decide(&api, &plan, "approve"));
    let got = settled_hits(&rx, "/ship");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["order"], 9);
    assert_eq!(got[0]["approval"]["decision"], "approve");
    let run = request(&api, &plan)["execution_uuid"].as_str().expect("the run's execution").to_string();
    let r = wait_for("the run to succeed", WAIT, || {
        let r = api.post("get_workflow_run_details", json!({"run_uuid": run}));
        (r.json["data"]["status"] == "succeeded").then_some(r)
    });
    assert_eq!(r.json["data"]["workflow_uuid"], wf.as_str());
}
