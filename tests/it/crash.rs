//! Crash safety with the real binary: 200 schedules firing every second to a loopback
//! receiver, `kill -9` at random moments ten times, restart each time. A Chronos-style checker
//! then matches every due instant to a received request or to a recorded `missed`/`skipped`
//! execution, and checks that duplicates carry the original's Idempotency-Key.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use crate::receiver::Receiver;
use crate::support::TestDaemon;

const SCHEDULES: usize = 200;
const KILLS: usize = 10;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[allow(clippy::disallowed_methods)] // the test compares against the real clock the daemon uses
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn kill_9_ten_times_loses_no_fire() {
    let seed = now_ms() as u64;
    println!("crash test seed {seed}");
    let mut rng = Lcg(seed);
    let rx = Receiver::start();
    let mut d = TestDaemon::start_with("[api]\npage_size = 1000\nrate_limit_per_minute = 0\n");
    let api = d.client();
    let domain = api.add_domain(&rx.host());
    // A receiver starved of CPU (the suite runs tests side by side) may answer late: a generous
    // timeout and retries keep a slow answer from ending as a failed delivery, so that every
    // instant is either delivered or recorded missed/skipped.
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "crash", "webhook_description": "test", "method": "POST", "path": "/hook",
               "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 5,
               "request_timeout_in_milliseconds": 10000, "request_body_json": {}, "headers_json": {}, "query_params_json": {}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let template = r.json["webhook_uuid"].as_str().unwrap().to_string();

    // A common anchor a few seconds ahead, on a whole second: instants are start + k s. A
    // schedule whose creation answers after the anchor (a loaded machine) owes only the
    // instants after its answer: its earlier ones had passed before it existed.
    let start = (now_ms() / 1000 + 10) * 1000;
    let start_iso = jiff::Timestamp::from_millisecond(start).unwrap().to_string();
    let mut ids = Vec::new();
    for _ in 0..SCHEDULES {
        let r = api.post(
            "add_interval_schedule",
            json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
                   "interval_period": "second", "is_one_off_task": false, "start_at": start_iso}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids.push((r.json["schedule_uuid"].as_str().unwrap().to_string(), now_ms()));
    }

    for k in 0..KILLS {
        std::thread::sleep(Duration::from_millis(3000 + rng.next(7000)));
        d.kill9();
        let down = rng.next(2500);
        println!("kill {k}: down {down} ms");
        std::thread::sleep(Duration::from_millis(down));
        d.restart();
    }
    std::thread::sleep(Duration::from_secs(4));
    // Every instant up to here must be accounted for: delivered, or recorded missed/skipped.
    let horizon = now_ms() - 1000;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(d.stop(), Some(0), "graceful stop");

    // An execution still queued at the graceful stop is kept in the store and delivered after
    // the next start: on a loaded machine delivery can run seconds behind, and that is late,
    // not lost. So the check restarts the daemon (the receiver is still up) and gives the
    // backlog up to a minute; an instant with no record at all never arrives and fails it.
    d.restart();
    let api = d.client();
    let wait_until = now_ms() + 60_000;
    let (missing, fired, missed, duplicates) = loop {
        let (missing, fired, missed, duplicates) = account(&api, &rx, &ids, start, horizon);
        if missing.is_empty() || now_ms() > wait_until {
            break (missing, fired, missed, duplicates);
        }
        println!("{} due instants not delivered yet; waiting", missing.len());
        std::thread::sleep(Duration::from_secs(2));
    };
    println!("fired {fired}, missed/skipped {missed}, duplicate deliveries {duplicates}");
    if !missing.is_empty() {
        // What the store holds for the first few, to tell "never created" from "never sent".
        let detail: Vec<String> =
            missing.iter().take(10).map(|(id, t)| format!("{id} @ {t}: {}", stored_status(&api, id, *t))).collect();
        panic!("seed {seed}: {} due instants neither delivered nor recorded, e.g. {detail:#?}", missing.len());
    }
    assert!(fired > SCHEDULES * 30, "seed {seed}: only {fired} deliveries");
}

/// Matches every due instant of `ids` (schedule id, when its creation answered) from `start`
/// to `horizon` (each second; from the creation's answer if that came later) to a request the
/// receiver got (by Idempotency-Key) or to a `missed`/`skipped` execution. Returns the
/// unaccounted instants, and how many were delivered, recorded missed/skipped, and delivered
/// more than once (extra copies, which carry the original's key).
fn account(
    api: &crate::support::Api,
    rx: &Receiver,
    ids: &[(String, i64)],
    start: i64,
    horizon: i64,
) -> (Vec<(String, i64)>, usize, usize, usize) {
    let mut received: HashMap<String, usize> = HashMap::new();
    for r in rx.requests() {
        let key = r.header("idempotency-key").expect("every request carries Idempotency-Key").to_string();
        assert_eq!(r.header("webhook-id"), Some(key.as_str()), "webhook-id equals the Idempotency-Key");
        *received.entry(key).or_default() += 1;
    }
    // Each key names one of the schedules and one of its instants (on the whole-second grid).
    let simple_ids: HashSet<String> = ids.iter().map(|(id, _)| id.replace('-', "")).collect();
    for key in received.keys() {
        let known = key
            .strip_prefix("hw_")
            .and_then(|k| k.split_once('_'))
            .and_then(|(id, t)| Some((id, t.parse::<i64>().ok()?)))
            .is_some_and(|(id, t)| simple_ids.contains(id) && t >= start && (t - start) % 1000 == 0);
        assert!(known, "a request carried an unknown key {key}");
    }
    let mut missing = Vec::new();
    let (mut fired, mut missed, mut duplicates) = (0usize, 0usize, 0usize);
    for (id, created) in ids {
        let simple = id.replace('-', "");
        let mut accounted: HashSet<i64> = HashSet::new();
        for status in ["missed", "skipped"] {
            for at in scheduled_ats(api, id, Some(status)).into_iter().map(|(at, _)| at) {
                accounted.insert(at);
                missed += 1;
            }
        }
        let mut t = start;
        while t <= horizon {
            match received.get(&format!("hw_{simple}_{t}")) {
                Some(n) => {
                    fired += 1;
                    duplicates += n - 1;
                }
                None if accounted.contains(&t) || t <= *created => {}
                None => missing.push((id.clone(), t)),
            }
            t += 1000;
        }
    }
    (missing, fired, missed, duplicates)
}

/// A schedule's executions (first page of up to 1,000, optionally of one status) as
/// (scheduled instant in ms, status).
fn scheduled_ats(api: &crate::support::Api, id: &str, status: Option<&str>) -> Vec<(i64, String)> {
    let filter = status.map(|s| format!("&filter_status={s}")).unwrap_or_default();
    let r = api.get(&format!("get_executions_paginated?schedule_uuid={id}{filter}&page=1"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["meta"]["total_count"].as_u64().unwrap() <= 1000, "more than one page");
    r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = e["scheduled_at"].as_str().unwrap();
            let at = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", text)
                .map(|t| t.as_millisecond())
                .unwrap_or_else(|_| text.parse::<jiff::Timestamp>().unwrap().as_millisecond());
            (at, e["status"].as_str().unwrap_or("?").to_string())
        })
        .collect()
}

/// The status of the execution recorded for schedule `id` at instant `t`, or that there is none.
fn stored_status(api: &crate::support::Api, id: &str, t: i64) -> String {
    let found: Vec<String> =
        scheduled_ats(api, id, None).into_iter().filter(|(at, _)| *at == t).map(|(_, s)| s).collect();
    if found.is_empty() { "no execution recorded".to_string() } else { format!("execution(s) {found:?}") }
}
