//! The PingPulse dialect's pulses, process hooks and approvals against the real binary
//! (product.md §11, issue 11 item 3): the reference's own curl examples with the base URL
//! swapped, `run_id` pairing and run durations, approval requests created, polled and decided
//! through the same `human_approval_action`, the timeout's action, brand isolation, and the
//! error answers (401 key, 404, 400 naming the field, 405).
//!
//! Timing assertions are correctness bounds (generous waits), never speed tests.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, Resp, TestDaemon, assert_ok, wait_for};

/// No API rate limit: the tests poll.
const BASE_CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n";

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(30);

/// The reference's base URL, replaced by the daemon's.
const REFERENCE_BASE: &str = "https://pingpulsehq.com";

fn ping_key(api: &Api) -> String {
    let r = api.get("get_ping_key");
    assert_ok(&r);
    r.json["ping_key"].as_str().unwrap_or_else(|| panic!("no ping_key: {}", r.text)).to_string()
}

/// A heartbeat monitor with this slug; returns its `monitor_uuid`.
fn monitor(api: &Api, slug: &str) -> String {
    let r = api.post(
        "add_monitor",
        json!({"monitor_name": slug, "slug": slug, "interval_seconds": 3600, "grace_seconds": 3600}),
    );
    assert_ok(&r);
    r.json["monitor_uuid"].as_str().unwrap_or_else(|| panic!("no monitor_uuid: {}", r.text)).to_string()
}

/// Runs a reference curl example with the base URL and key swapped; returns (status, JSON).
fn curl(example: &str, base: &str, key: &str) -> (u16, Value) {
    let cmd = example.replace(REFERENCE_BASE, base).replace("YOUR_KEY", key);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} -s -w '\\n%{{http_code}}'"))
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or_else(|| panic!("curl printed {text:?}"));
    let status = code.trim().parse().unwrap_or_else(|_| panic!("curl printed {text:?}"));
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{cmd}: {body:?}: {e}")))
}

fn pings(api: &Api, id: &str) -> Vec<Value> {
    api.all_pages(&format!("get_monitor_pings_paginated?monitor_uuid={id}"))
}

fn details(api: &Api, id: &str) -> Value {
    let r = api.post("get_monitor_details", json!({"monitor_uuid": id}));
    assert_ok(&r);
    r.json["data"].clone()
}

fn bare_get(api: &Api, path: &str) -> Resp {
    Api::send(api.bare(reqwest::Method::GET, path))
}

fn bare_post(api: &Api, path: &str, body: Value) -> Resp {
    Api::send(api.bare(reqwest::Method::POST, path).json(&body))
}

#[test]
fn the_reference_curl_examples_for_process_hooks_and_pulses_work_with_the_base_url_swapped() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let ph = monitor(&api, "ph123");
    let cron = monitor(&api, "cron_backup");
    let base = api.url("");

    // Process hook: GET start, GET finish.
    let (status, start) = curl(r#"curl "https://pingpulsehq.com/phk/ph123/start?key=YOUR_KEY""#, &base, &key);
    assert_eq!(status, 200, "{start}");
    assert_eq!(
        (&start["status"], &start["process_hook_id"], &start["run_status"]),
        (&json!("success"), &json!("ph123"), &json!("running"))
    );
    let run1 = start["run_id"].as_str().unwrap_or_else(|| panic!("no run_id: {start}")).to_string();
    assert!(run1.starts_with("run_") && run1.len() == 36, "{run1}");
    std::thread::sleep(Duration::from_millis(200));
    let (status, fin) = curl(r#"curl "https://pingpulsehq.com/phk/ph123/finish?key=YOUR_KEY""#, &base, &key);
    assert_eq!(status, 200, "{fin}");
    assert_eq!(
        (&fin["status"], &fin["run_status"], &fin["run_id"]),
        (&json!("success"), &json!("completed"), &json!(run1))
    );
    let d1 = fin["duration_ms"].as_i64().unwrap_or_else(|| panic!("no duration: {fin}"));
    assert!(d1 >= 200, "the run lasted at least the 200 ms slept: {fin}");

    // Process hook: POST start and finish with metadata.
    let (status, start) = curl(
        r#"curl -X POST "https://pingpulsehq.com/phk/ph123/start" \
  -H "Content-Type: application/json" \
  -d '{"key":"YOUR_KEY","agent":"ci-server","metadata":{"job":"nightly_backup"}}'"#,
        &base,
        &key,
    );
    assert_eq!(status, 200, "{start}");
    let run2 = start["run_id"].as_str().unwrap_or_else(|| panic!("no run_id: {start}")).to_string();
    assert_ne!(run2, run1, "each start is a new run");
    let (status, fin) = curl(
        r#"curl -X POST "https://pingpulsehq.com/phk/ph123/finish" \
  -H "Content-Type: application/json" \
  -d '{"key":"YOUR_KEY","agent":"ci-server","metadata":{"status":"success","duration_ms":45000}}'"#,
        &base,
        &key,
    );
    assert_eq!(status, 200, "{fin}");
    assert_eq!(fin["run_id"], run2.as_str(), "{fin}");
    assert!(fin["duration_ms"].as_i64().is_some_and(|d| d >= 0), "{fin}");

    // The monitor's ping history: four pings, the finishes with their run ids and durations,
    // the metadata kept, the key never stored.
    let got = pings(&api, &ph);
    assert_eq!(got.len(), 4, "{got:#?}");
    let kinds: Vec<&str> = got.iter().map(|p| p["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["success", "start", "success", "start"], "newest first: {got:#?}");
    assert_eq!((&got[2]["rid"], &got[2]["duration_ms"]), (&json!(run1), &json!(d1)), "{:#}", got[2]);
    assert_eq!(got[0]["rid"], run2.as_str());
    let body: Value = serde_json::from_str(got[0]["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null);
    assert_eq!(body, json!({"agent": "ci-server", "metadata": {"status": "success", "duration_ms": 45000}}));
    for p in &got {
        assert!(!p.to_string().contains(&key), "the key is never stored: {p}");
    }
    assert_eq!(details(&api, &ph)["status"], "up");

    // Pulses.
    let (status, pulse) = curl(r#"curl "https://pingpulsehq.com/hbk/cron_backup?key=YOUR_KEY""#, &base, &key);
    assert_eq!(status, 200, "{pulse}");
    assert_eq!(
        (&pulse["status"], &pulse["target_id"], &pulse["monitor_status"]),
        (&json!("success"), &json!("cron_backup"), &json!("up"))
    );
    let (status, pulse) = curl(
        r#"curl -X POST "https://pingpulsehq.com/hbk/cron_backup" \
  -H "Content-Type: application/json" \
  -d '{"key":"YOUR_KEY","status":"ok","rows_processed":1500}'"#,
        &base,
        &key,
    );
    assert_eq!(status, 200, "{pulse}");
    let got = pings(&api, &cron);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["via"], "hbk");
    let body: Value = serde_json::from_str(got[0]["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null);
    assert_eq!(body, json!({"status": "ok", "rows_processed": 1500}));
    let det = details(&api, &cron);
    assert_eq!(det["status"], "up");
    assert!(det["last_ping_at"].is_string(), "{det}");
}

#[test]
fn finish_pairs_with_the_named_run_only_and_errors_answer_as_the_reference_says() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let ph = monitor(&api, "nightly");

    let r = bare_get(&api, &format!("/phk/nightly/start?key={key}&run_id=job-42"));
    assert_eq!((r.status, &r.json["run_id"]), (200, &json!("job-42")), "{}", r.text);
    // Another run id does not end the open run.
    let r = bare_get(&api, &format!("/phk/nightly/finish?key={key}&run_id=job-41"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.json["run_id"], &r.json["duration_ms"]), (&Value::Null, &Value::Null), "{}", r.text);
    std::thread::sleep(Duration::from_millis(100));
    let r = bare_post(&api, "/phk/nightly/finish", json!({"key": key, "run_id": "job-42", "metadata": {"rows": 3}}));
    assert_eq!((r.status, &r.json["run_id"]), (200, &json!("job-42")), "{}", r.text);
    assert!(r.json["duration_ms"].as_i64().is_some_and(|d| d >= 100), "{}", r.text);
    assert!(pings(&api, &ph)[0]["duration_ms"].as_i64().is_some_and(|d| d >= 100));

    // Keys: missing or wrong → 401 on every route, nothing stored.
    for path in ["/hbk/nightly", "/phk/nightly/start", "/api/approvals/0190f0f0-0000-7000-8000-000000000000"] {
        let r = bare_get(&api, path);
        assert_eq!((r.status, &r.json["status"]), (401, &json!("error")), "{path}: {}", r.text);
        let r = bare_get(&api, &format!("{path}?key=hwk_wrong"));
        assert_eq!((r.status, r.json["error"].as_str()), (401, Some("Invalid API key")), "{path}: {}", r.text);
    }
    let r = bare_post(&api, "/api/approvals", json!({"key": "hwk_wrong", "context": "x"}));
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(pings(&api, &ph).len(), 3, "refused pings are not stored");

    // Unknown targets → 404; bad fields → 400 naming the field; other methods → 405.
    let r = bare_get(&api, &format!("/hbk/no-such-target?key={key}"));
    assert_eq!((r.status, &r.json["status"]), (404, &json!("error")), "{}", r.text);
    let r = bare_get(&api, &format!("/phk/nightly/restart?key={key}"));
    assert_eq!(r.status, 404, "{}", r.text);
    let r = bare_get(&api, &format!("/phk/nightly/finish?key={key}&run_id="));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap_or_default().contains("run_id"), "{}", r.text);
    let r = bare_get(&api, &format!("/phk/nightly/start?key={key}&metadata={}", "m".repeat(1025)));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap_or_default().contains("metadata"), "{}", r.text);
    let r = Api::send(api.bare(reqwest::Method::POST, &format!("/hbk/nightly?key={key}")).body("not json"));
    assert_eq!(r.status, 400, "{}", r.text);
    for (body, field) in [
        (json!({"key": key}), "context"),
        (json!({"key": key, "context": ""}), "context"),
        (json!({"key": key, "context": " \n "}), "context"),
        (json!({"key": key, "context": "x", "timeout_seconds": 86_401}), "timeout_seconds"),
        (json!({"key": key, "context": "x", "timeout_seconds": 0}), "timeout_seconds"),
        (json!({"key": key, "context": "x", "timeout_action": "maybe"}), "timeout_action"),
        (json!({"key": key, "context": "x", "colour": "red"}), "colour"),
    ] {
        let r = bare_post(&api, "/api/approvals", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.json["error"].as_str().unwrap_or_default().contains(field), "{body}: {}", r.text);
    }
    let r = Api::send(api.bare(reqwest::Method::DELETE, &format!("/hbk/nightly?key={key}")));
    assert_eq!(r.status, 405, "{}", r.text);
    let r = bare_get(&api, &format!("/api/approvals?key={key}"));
    assert_eq!(r.status, 405, "{}", r.text);
    assert!(api.all_pages("get_all_pending_approvals_paginated").is_empty(), "refused requests create nothing");

    // Over the body limit → 413.
    let big = "x".repeat(2 * 1024 * 1024);
    let r = Api::send(api.bare(reqwest::Method::POST, &format!("/hbk/nightly?key={key}")).body(big));
    assert_eq!(r.status, 413, "{}", r.text);
}

/// The reference's Python client, step 1: `POST /api/approvals` with the key in the query.
fn create(api: &Api, key: &str, context: &str, timeout: i64, default: &str) -> Value {
    let r = Api::send(
        api.bare(reqwest::Method::POST, &format!("/api/approvals?key={key}"))
            .json(&json!({"context": context, "timeout_seconds": timeout, "timeout_action": default})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

/// Step 2: `GET /api/approvals/{approval_id}`.
fn poll(api: &Api, key: &str, id: &str) -> Resp {
    Api::send(api.bare(reqwest::Method::GET, &format!("/api/approvals/{id}?key={key}")))
}

#[test]
fn an_approval_is_created_polled_and_decided_by_human_approval_action() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);

    let a = create(&api, &key, "Publish blog post: Q4 Earnings Report (1,500 words)", 300, "deny");
    let id = a["approval_id"].as_str().unwrap_or_else(|| panic!("no approval_id: {a}")).to_string();
    assert_eq!((&a["status"], &a["result"]), (&json!("pending"), &Value::Null), "{a}");
    let expires = a["expires_at"].as_str().unwrap_or_else(|| panic!("no expires_at: {a}"));
    let expires = expires.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{expires}: {e}")).as_second();
    let left = expires - crate::support::unix_now_s();
    assert!((290..=301).contains(&left), "expires 300 s from now: {a}");

    let r = poll(&api, &key, &id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.json["status"], &r.json["result"]), (&json!("pending"), &Value::Null), "{}", r.text);
    let s = r.json["seconds_remaining"].as_u64().unwrap_or_else(|| panic!("no seconds_remaining: {}", r.text));
    assert!((290..=300).contains(&s), "{}", r.text);

    // The same request as create_approval_request: in the pending list, with its title.
    let listed = api.all_pages("get_all_pending_approvals_paginated");
    let item = listed
        .iter()
        .find(|p| p["execution_plan_uuid"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in the pending list: {listed:#?}"));
    assert!(item.to_string().contains("Publish blog post: Q4 Earnings Report"), "{item}");
    let r = api.post("get_approval_request", json!({"execution_plan_uuid": id}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["timeout_action"], "reject", "deny maps to reject: {}", r.text);
    assert_eq!(r.json["data"]["context"], json!({"context": "Publish blog post: Q4 Earnings Report (1,500 words)"}));

    // Another brand's key does not see it.
    let other = d.new_brand("other", None);
    let other_api = api.as_brand(&other.brand, &other.key);
    let other_key = ping_key(&other_api);
    let r = poll(&api, &other_key, &id);
    assert_eq!((r.status, &r.json["status"]), (404, &json!("error")), "{}", r.text);

    let r = api.post(
        "human_approval_action",
        json!({"execution_plan_uuid": id, "action": "approve", "notes": "Looks good, proceed!"}),
    );
    assert_ok(&r);
    let r = poll(&api, &key, &id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.json["status"], &r.json["result"]), (&json!("approved"), &json!(1)), "{}", r.text);
    assert_eq!((&r.json["notes"], &r.json["timed_out"]), (&json!("Looks good, proceed!"), &json!(false)));
    assert!(r.json["decided_by"].is_string(), "{}", r.text);
    assert!(r.json.get("seconds_remaining").is_none(), "{}", r.text);
    // A second decision is refused as for any approval.
    let r = api.post("human_approval_action", json!({"execution_plan_uuid": id, "action": "reject"}));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(poll(&api, &key, &id).json["result"], 1);
}

#[test]
fn an_approval_that_times_out_takes_its_timeout_action() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let denied = create(&api, &key, "Drop the staging database", 1, "deny");
    let approved = create(&api, &key, "Rotate the logs", 1, "approve");
    let settled = |a: &Value| {
        let id = a["approval_id"].as_str().unwrap_or_default().to_string();
        wait_for(&format!("approval {id} to be decided"), WAIT, || {
            let r = poll(&api, &key, &id);
            assert_eq!(r.status, 200, "{}", r.text);
            if r.json["result"].is_null() {
                std::thread::sleep(Duration::from_millis(100));
                return None;
            }
            Some(r.json)
        })
    };
    let d0 = settled(&denied);
    assert_eq!((&d0["status"], &d0["result"], &d0["timed_out"]), (&json!("denied"), &json!(0), &json!(true)), "{d0}");
    assert_eq!(d0["decided_by"], Value::Null, "{d0}");
    let d1 = settled(&approved);
    assert_eq!((&d1["status"], &d1["result"], &d1["timed_out"]), (&json!("approved"), &json!(1), &json!(true)), "{d1}");
}

/// While the store cannot write, pulses, process pings and approval creates answer 503 with
/// `Retry-After` (nothing half-written), and work again once it can.
#[test]
fn a_store_that_cannot_write_answers_503_and_recovers() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let id = monitor(&api, "cron_backup");
    d.failpoint("store::write", "return(eio)");
    for r in [
        bare_get(&api, &format!("/hbk/cron_backup?key={key}")),
        bare_get(&api, &format!("/phk/cron_backup/start?key={key}")),
        bare_post(&api, "/api/approvals", json!({"key": key, "context": "Deploy"})),
    ] {
        assert_eq!((r.status, &r.json["status"]), (503, &json!("error")), "{}", r.text);
        assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);
    }
    d.failpoint("store::write", "off");
    wait_for("pulses to be stored again", WAIT, || {
        let r = bare_get(&api, &format!("/hbk/cron_backup?key={key}"));
        if r.status == 200 {
            return Some(());
        }
        assert_eq!(r.status, 503, "{}", r.text);
        std::thread::sleep(Duration::from_millis(200));
        None
    });
    assert_eq!(pings(&api, &id).len(), 1, "only the pulse after recovery was stored");
    assert!(api.all_pages("get_all_pending_approvals_paginated").is_empty());
}
