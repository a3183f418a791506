//! The per-domain circuit breaker against the real binary and a loopback receiver that fails
//! (500) until the test lets it recover: the circuit opens after `failure_threshold` failures
//! in a row, holds the queued work (nothing failed, no retries used), sends one probe when
//! half-open, re-opens on a failed probe, and once the receiver recovers delivers every
//! execution exactly once (counted by `Idempotency-Key` at the receiver); the open state
//! survives a `kill -9`; `reset_domain_circuit` closes it; another brand gets 404.
//!
//! The daemon runs on real time: `open_seconds` is small and every wait is a poll with a
//! generous deadline, never a sleep that asserts speed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::{Api, TestDaemon, assert_error, assert_invalid, assert_ok, wait_for};

/// No API rate limit: the tests poll a lot.
const CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n";

/// Bounds waits; only a hang reaches it.
const WAIT: Duration = Duration::from_secs(60);

/// A receiver that answers 500 until `healthy` is set, then 200, and logs every answer with
/// the request's `Idempotency-Key`.
struct Flaky {
    rx: Receiver,
    healthy: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Flaky {
    fn start() -> Flaky {
        let rx = Receiver::start();
        let healthy = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let (h, a) = (healthy.clone(), answers.clone());
        rx.set_chooser(move |r| {
            let status = if h.load(Ordering::SeqCst) { 200 } else { 500 };
            let key = r.header("idempotency-key").unwrap_or("").to_string();
            a.lock().unwrap().push((key, status));
            Script::status(status)
        });
        Flaky { rx, healthy, answers }
    }

    fn answers(&self) -> Vec<(String, u16)> {
        self.answers.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    fn recover(&self) {
        self.healthy.store(true, Ordering::SeqCst);
    }
}

/// An http domain on the receiver with the breaker on.
fn breaker_domain(api: &Api, rx: &Receiver, threshold: u32, open_seconds: u32) -> String {
    let r = api.post(
        "add_domain",
        json!({"protocol_type": "http", "domain": rx.host(), "circuit_breaker_enabled": true,
            "failure_threshold": threshold, "open_seconds": open_seconds}),
    );
    assert_ok(&r);
    r.json["domain_uuid"].as_str().unwrap().to_string()
}

/// A template with plenty of retries, 1 s apart (linear).
fn template(api: &Api, domain: &str) -> String {
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "breaker", "method": "POST", "path": "/hook", "domain_uuid": domain,
            "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 30,
            "request_timeout_in_milliseconds": 3000, "request_body_json": {}, "headers_json": {},
            "query_params_json": {}}),
    );
    assert_ok(&r);
    r.json["webhook_uuid"].as_str().unwrap().to_string()
}

fn execute(api: &Api, template: &str, i: usize) -> String {
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": {"i": i}}));
    assert_ok(&r);
    r.json["execution_uuid"].as_str().unwrap().to_string()
}

fn details(api: &Api, id: &str) -> Value {
    let r = api.post("get_execution_details", json!({"execution_uuid": id}));
    assert_ok(&r);
    r.json["data"].clone()
}

fn health(api: &Api, domain: &str) -> Value {
    let r = api.post("get_domain_health", json!({"domain_uuid": domain}));
    assert_ok(&r);
    r.json["data"].clone()
}

#[allow(clippy::disallowed_methods)] // compared with the instants the daemon reads off the real clock
fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn ms(s: &Value) -> i64 {
    s.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(|| panic!("not an instant: {s}"))
        .as_millisecond()
}

/// Waits until every execution succeeded; fails at once if one ends otherwise.
fn wait_all_succeeded(api: &Api, ids: &[String]) -> Vec<Value> {
    wait_for("every execution to succeed", WAIT, || {
        let all: Vec<Value> = ids.iter().map(|id| details(api, id)).collect();
        for e in &all {
            let status = e["status"].as_str().unwrap_or("");
            assert!(status == "pending" || status == "succeeded", "an execution ended {status}: {e:#}");
        }
        all.iter().all(|e| e["status"] == "succeeded").then_some(all)
    })
}

/// Every execution reached the receiver with exactly one 200 (its own key), and every attempt
/// an execution recorded is a request the receiver answered (the breaker used up none).
fn assert_delivered_once(flaky: &Flaky, executions: &[Value]) {
    let answers = flaky.answers();
    let mut ok_by_key: HashMap<&str, usize> = HashMap::new();
    for (key, status) in &answers {
        if *status == 200 {
            *ok_by_key.entry(key.as_str()).or_default() += 1;
        }
    }
    assert_eq!(ok_by_key.len(), executions.len(), "one key per execution: {answers:?}");
    assert!(ok_by_key.values().all(|n| *n == 1), "each execution delivered exactly once: {ok_by_key:?}");
    let attempts: usize = executions.iter().map(|e| e["attempts"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(attempts, answers.len(), "every recorded attempt is a request the receiver answered");
}

/// Opens after 5 failures in a row, holds queued work without failing it or charging it
/// retries, lets one probe through when half-open (a failed probe re-opens it), and after
/// recovery delivers every execution exactly once.
#[test]
fn an_open_circuit_holds_the_work_probes_once_and_delivers_everything_once() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let flaky = Flaky::start();
    let domain = breaker_domain(&api, &flaky.rx, 5, 2);
    let t = template(&api, &domain);
    // A circuit never used dates from the domain's creation, not from its first read.
    let created_by = wall_ms();
    std::thread::sleep(Duration::from_millis(1100));
    let h = health(&api, &domain);
    assert_eq!((h["state"].as_str(), h["consecutive_failures"].as_u64()), (Some("closed"), Some(0)), "{h:#}");
    assert!(ms(&h["state_changed_at"]) <= created_by, "{h:#}");
    assert!(ms(&h["counters"]["since"]) <= created_by, "{h:#}");

    // Five executions fail once each: the circuit opens after the fifth.
    let mut ids: Vec<String> = (0..5).map(|i| execute(&api, &t, i)).collect();
    let opened = wait_for("the circuit to open", WAIT, || {
        let h = health(&api, &domain);
        (h["state"] == "open").then_some(h)
    });
    assert_eq!(flaky.count(), 5, "exactly five requests opened it");
    assert_eq!(opened["consecutive_failures"], 5, "{opened:#}");
    assert_eq!(opened["counters"]["failures"], 5, "{opened:#}");
    assert_eq!(opened["counters"]["attempts"], 5, "{opened:#}");
    assert!(opened["opened_at"].is_string() && opened["next_probe_at"].is_string(), "{opened:#}");
    let first_probe_at = ms(&opened["next_probe_at"]);
    assert_eq!(first_probe_at - ms(&opened["opened_at"]), 2_000, "open for open_seconds");

    // Five more are queued while it is open: held, not failed, not attempted.
    ids.extend((5..10).map(|i| execute(&api, &t, i)));
    for id in &ids[5..] {
        let e = details(&api, id);
        assert_eq!(e["status"], "pending", "{e:#}");
    }
    // The probe: one request, not before the open time is over; it fails and re-opens.
    let reopened = wait_for("the failed probe to re-open the circuit", WAIT, || {
        let h = health(&api, &domain);
        (h["consecutive_failures"] == 6 && h["state"] == "open").then_some(h)
    });
    let answers = flaky.answers();
    assert_eq!(answers.len(), 6, "a single probe while half-open: {answers:?}");
    let probe_arrival = flaky.rx.requests()[5].at_ms;
    assert!(probe_arrival >= first_probe_at, "the probe came {} ms early", first_probe_at - probe_arrival);
    assert_eq!(reopened["opened_at"], opened["opened_at"], "the same open spell");
    assert!(ms(&reopened["next_probe_at"]) > first_probe_at, "{reopened:#}");
    for id in &ids {
        let e = details(&api, id);
        assert_eq!(e["status"], "pending", "nothing fails because of the breaker: {e:#}");
        assert!(e["attempts"].as_array().unwrap().len() <= 1, "held attempts use no retries: {e:#}");
    }

    // Recovery: the next probe succeeds, the circuit closes, and everything drains.
    flaky.recover();
    let executions = wait_all_succeeded(&api, &ids);
    assert_delivered_once(&flaky, &executions);
    let closed = health(&api, &domain);
    assert_eq!(closed["state"], "closed", "{closed:#}");
    assert_eq!(closed["consecutive_failures"], 0);
    assert!(closed["opened_at"].is_null() && closed["next_probe_at"].is_null(), "{closed:#}");
    let failures = flaky.answers().iter().filter(|(_, s)| *s == 500).count() as u64;
    assert_eq!(closed["counters"]["successes"], 10, "{closed:#}");
    assert_eq!(closed["counters"]["failures"], failures, "{closed:#}");

    // Metrics: transitions counted, no domain id in the labels by default.
    let text = api.plain_get("/metrics").text;
    assert!(text.contains("hookwheel_circuit_state{state=\"closed\"} 1"), "{text}");
    assert!(text.contains("hookwheel_circuit_transitions_total{to=\"open\"} 2"), "{text}");
    assert!(text.contains("hookwheel_circuit_transitions_total{to=\"closed\"} 1"), "{text}");
    assert!(!text.contains(&domain), "no tenant ids in labels");
}

/// `kill -9` while the circuit is open: after the restart it is still open (or probing), and
/// the held work drains once the receiver recovers, each execution delivered once.
#[test]
fn an_open_circuit_survives_kill_9_and_drains_after_recovery() {
    let mut d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let flaky = Flaky::start();
    let domain = breaker_domain(&api, &flaky.rx, 5, 2);
    let t = template(&api, &domain);
    let mut ids: Vec<String> = (0..5).map(|i| execute(&api, &t, i)).collect();
    wait_for("the circuit to open", WAIT, || (health(&api, &domain)["state"] == "open").then_some(()));
    // Each failed attempt is recorded after the transition it caused was stored.
    wait_for("the five failed attempts to be recorded", WAIT, || {
        ids.iter().all(|id| details(&api, id)["attempt_count"] == 1).then_some(())
    });
    ids.extend((5..8).map(|i| execute(&api, &t, i)));

    d.kill9();
    d.restart();
    let api = d.client();
    let h = health(&api, &domain);
    let state = h["state"].as_str().unwrap_or("");
    assert!(state == "open" || state == "half_open", "the circuit is not closed after the restart: {h:#}");
    assert!(h["consecutive_failures"].as_u64() >= Some(5), "{h:#}");
    assert!(h["opened_at"].is_string(), "{h:#}");

    flaky.recover();
    let executions = wait_all_succeeded(&api, &ids);
    assert_delivered_once(&flaky, &executions);
    assert_eq!(health(&api, &domain)["state"], "closed");
}

/// `reset_domain_circuit` closes an open circuit (held work goes at once) and zeroes its
/// counters; turning the breaker off releases a held queue too; settings are bounded and
/// echoed; another brand's domain is 404.
#[test]
fn reset_and_disable_close_the_circuit_and_other_brands_get_404() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let flaky = Flaky::start();
    let domain = breaker_domain(&api, &flaky.rx, 1, 3_600);
    let t = template(&api, &domain);

    // Settings: echoed, defaulted, bounded.
    let found = api.post("get_domain_uuid", json!({"domain": flaky.rx.host(), "protocol_type": "http"}));
    assert_ok(&found);
    assert_eq!(found.json["data"]["circuit_breaker_enabled"], true);
    assert_eq!(
        (found.json["data"]["failure_threshold"].as_u64(), found.json["data"]["open_seconds"].as_u64()),
        (Some(1), Some(3600))
    );
    let plain = api.post("add_domain", json!({"protocol_type": "https", "domain": "plain.example"}));
    assert_ok(&plain);
    let listed = api.all_pages("get_domain_paginated");
    let p = listed.iter().find(|x| x["domain_name"] == "plain.example").expect("listed");
    assert_eq!(
        (p["circuit_breaker_enabled"].as_bool(), p["failure_threshold"].as_u64(), p["open_seconds"].as_u64()),
        (Some(false), Some(5), Some(30))
    );
    for (field, value) in [
        ("failure_threshold", json!(0)),
        ("failure_threshold", json!(1001)),
        ("open_seconds", json!(0)),
        ("open_seconds", json!(86_401)),
    ] {
        let r = api.post("update_domain", json!({"domain_uuid": domain, field: value}));
        assert_invalid(&r, field);
    }

    // One failure opens it (threshold 1, open for an hour); the next execution is held.
    let first = execute(&api, &t, 0);
    wait_for("the circuit to open", WAIT, || (health(&api, &domain)["state"] == "open").then_some(()));
    let held = execute(&api, &t, 1);
    flaky.recover();
    let r = api.post("reset_domain_circuit", json!({"domain_uuid": domain}));
    assert_ok(&r);
    assert_eq!(r.json["domain_uuid"], domain.as_str());
    let data = &r.json["data"];
    assert_eq!(data["state"], "closed", "{data:#}");
    assert_eq!(
        (data["consecutive_failures"].as_u64(), data["counters"]["attempts"].as_u64()),
        (Some(0), Some(0)),
        "{data:#}"
    );
    let executions = wait_all_succeeded(&api, &[first.clone(), held.clone()]);
    assert_delivered_once(&flaky, &executions);

    // Disabling the breaker releases a held queue at once.
    flaky.healthy.store(false, Ordering::SeqCst);
    let third = execute(&api, &t, 2);
    wait_for("the circuit to open again", WAIT, || (health(&api, &domain)["state"] == "open").then_some(()));
    let fourth = execute(&api, &t, 3);
    flaky.recover();
    assert_ok(&api.post("update_domain", json!({"domain_uuid": domain, "circuit_breaker_enabled": false})));
    wait_all_succeeded(&api, &[third, fourth]);
    let h = health(&api, &domain);
    assert_eq!((h["state"].as_str(), h["circuit_breaker_enabled"].as_bool()), (Some("closed"), Some(false)), "{h:#}");

    // Another brand: 404 on both, and nothing changes.
    let other = d.new_brand("other", None);
    let theirs = api.as_brand(&other.brand, &other.key);
    assert_error(&theirs.post("get_domain_health", json!({"domain_uuid": domain})), 404, "Domain not found");
    assert_error(&theirs.post("reset_domain_circuit", json!({"domain_uuid": domain})), 404, "Domain not found");
}

/// A receiver failing 60 % of requests (500, 200, 500, 200, 500, repeating: never three
/// failures in a row) until it recovers, logging every answer with its `Idempotency-Key`.
fn sixty_percent() -> Flaky {
    let rx = Receiver::start();
    let healthy = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let (h, a) = (healthy.clone(), answers.clone());
    let mut n = 0usize;
    rx.set_chooser(move |r| {
        let status = if h.load(Ordering::SeqCst) || n % 5 == 1 || n % 5 == 3 { 200 } else { 500 };
        n += 1;
        a.lock().unwrap().push((r.header("idempotency-key").unwrap_or("").to_string(), status));
        Script::status(status)
    });
    Flaky { rx, healthy, answers }
}

/// The failure-rate trip: a receiver failing 60 % of its requests (never `failure_threshold`
/// in a row) opens a circuit set to 50 % over 60 s from 10 attempts; the work queued meanwhile
/// is held (pending, not attempted); the counters and the open state survive a restart; after
/// recovery the probe closes it and every execution is delivered exactly once.
#[test]
fn a_receiver_failing_sixty_percent_trips_the_rate_breaker_and_nothing_is_lost() {
    let mut d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let flaky = sixty_percent();
    let r = api.post(
        "add_domain",
        json!({"protocol_type": "http", "domain": flaky.rx.host(), "circuit_breaker_enabled": true,
            "failure_threshold": 100, "open_seconds": 2, "failure_rate_percent": 50,
            "failure_rate_window_seconds": 60, "failure_rate_min_count": 10}),
    );
    assert_ok(&r);
    let domain = r.json["domain_uuid"].as_str().unwrap().to_string();
    let h = health(&api, &domain);
    assert_eq!(
        (&h["failure_rate_percent"], &h["failure_rate_window_seconds"], &h["failure_rate_min_count"]),
        (&json!(50), &json!(60), &json!(10)),
        "{h:#}"
    );
    for (field, value) in [
        ("failure_rate_percent", json!(101)),
        ("failure_rate_percent", json!(-1)),
        ("failure_rate_window_seconds", json!(0)),
        ("failure_rate_window_seconds", json!(86_401)),
        ("failure_rate_min_count", json!(0)),
    ] {
        assert_invalid(&api.post("update_domain", json!({"domain_uuid": domain, field: value})), field);
    }
    // Retries 5 s apart: no retry starts before the ten first attempts have ended.
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "rate", "method": "POST", "path": "/hook", "domain_uuid": domain,
            "retry_delay": 5, "retry_backoff_mode": "linear", "max_retries": 30,
            "request_timeout_in_milliseconds": 3000, "request_body_json": {}}),
    );
    assert_ok(&r);
    let t = r.json["webhook_uuid"].as_str().unwrap().to_string();

    // Ten executions: their first attempts fail 6 of 10, never 3 in a row; the tenth outcome
    // is the first judged (min_count 10) and opens the circuit.
    let mut ids: Vec<String> = (0..10).map(|i| execute(&api, &t, i)).collect();
    let opened = wait_for("the rate breaker to open", WAIT, || {
        let h = health(&api, &domain);
        (h["state"] == "open").then_some(h)
    });
    let attempts = opened["window"]["attempts"].as_u64().unwrap_or(0);
    let failures = opened["window"]["failures"].as_u64().unwrap_or(0);
    assert!(attempts >= 10 && failures * 100 >= 50 * attempts, "opened by the rate: {opened:#}");
    assert!(opened["consecutive_failures"].as_u64() < Some(3), "not by a streak: {opened:#}");
    assert_eq!(opened["window"]["seconds"], 60);

    // Work queued while open is held: pending, never attempted.
    ids.extend((10..15).map(|i| execute(&api, &t, i)));
    for id in &ids[10..] {
        let e = details(&api, id);
        assert_eq!((e["status"].as_str(), e["attempts"].as_array().map(Vec::len)), (Some("pending"), Some(0)), "{e:#}");
    }
    // Each failed attempt is recorded after the transition it caused was stored.
    wait_for("the ten first attempts to be recorded", WAIT, || {
        ids[..10].iter().all(|id| details(&api, id)["attempt_count"].as_u64() >= Some(1)).then_some(())
    });

    // A restart keeps the state and the counters stored with the transition, and the gauge
    // has them from the start.
    let counted = opened["counters"]["attempts"].as_u64().unwrap_or(0);
    d.stop();
    d.restart();
    let api = d.client();
    let text = api.plain_get("/metrics").text;
    assert!(
        text.contains("hookwheel_circuit_state{state=\"open\"} 1")
            || text.contains("hookwheel_circuit_state{state=\"half_open\"} 1"),
        "{text}"
    );
    let h = health(&api, &domain);
    let state = h["state"].as_str().unwrap_or("");
    assert!(state == "open" || state == "half_open", "{h:#}");
    assert!(counted >= 10 && h["counters"]["attempts"].as_u64() >= Some(counted), "counters kept: {h:#}");
    assert_eq!(h["opened_at"], opened["opened_at"], "{h:#}");

    // Recovery: the probe succeeds, the circuit closes, everything is delivered once.
    flaky.recover();
    let executions = wait_all_succeeded(&api, &ids);
    assert_delivered_once(&flaky, &executions);
    let closed = health(&api, &domain);
    assert_eq!(closed["state"], "closed", "{closed:#}");
    assert_eq!(closed["counters"]["successes"], 15, "one success per execution, across the restart: {closed:#}");
}
