//! Heartbeat monitors against the real binary (product.md §11, issue 11 item 1): pings on time
//! keep a monitor up, a missing ping turns it down within a second of its deadline (measured
//! from the recorded status change, not from how fast this machine is), `/fail` and exit
//! statuses, `rid` run durations, slug URLs under the brand's ping key, body capture, a
//! `kill -9` across a deadline, brand isolation and input errors naming the field.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, TestDaemon, wait_for};

/// How long a poll waits for a status before the test fails (a bound on a hang, not a speed
/// assertion).
const POLL_MAX: Duration = Duration::from_secs(30);

fn ms(t: &Value) -> i64 {
    t.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {t}"))
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{t}: {e}"))
        .as_millisecond()
}

fn add(api: &Api, body: Value) -> (String, String, String) {
    let r = api.post("add_monitor", body);
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json["monitor_uuid"].as_str().expect("monitor_uuid").to_string();
    let url = r.json["ping_url"].as_str().expect("ping_url").to_string();
    assert!(url.starts_with("/ping/hwp_"), "{url}");
    (id, url, r.json["slug"].as_str().expect("slug").to_string())
}

fn details(api: &Api, id: &str) -> Value {
    let r = api.post("get_monitor_details", json!({"monitor_uuid": id}));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["data"].clone()
}

fn ping(api: &Api, method: reqwest::Method, path: &str) -> (u16, String) {
    let r = Api::send(api.bare(method, path));
    (r.status, r.text)
}

fn get_ping(api: &Api, path: &str) {
    let (status, text) = ping(api, reqwest::Method::GET, path);
    assert_eq!((status, text.as_str()), (200, "OK"), "{path}");
}

fn wait_status(api: &Api, id: &str, status: &str) -> Value {
    wait_for(&format!("monitor {id} to be {status}"), POLL_MAX, || {
        let d = details(api, id);
        if d["status"] == status {
            return Some(d);
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    })
}

fn pings(api: &Api, id: &str) -> Vec<Value> {
    api.all_pages(&format!("get_monitor_pings_paginated?monitor_uuid={id}"))
}

#[test]
fn a_monitor_pinged_on_time_stays_up_and_one_that_stops_is_down_within_a_second_of_its_deadline() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, url, slug) =
        add(&api, json!({"monitor_name": "Nightly backup", "interval_seconds": 2, "grace_seconds": 1}));
    assert_eq!(slug, "nightly-backup");
    let fresh = details(&api, &id);
    assert_eq!(
        (fresh["status"].as_str(), &fresh["next_due_at"], &fresh["last_ping_at"]),
        (Some("new"), &Value::Null, &Value::Null)
    );
    assert_eq!(fresh["ping_url"], url.as_str());

    // Pinged every 0.5 s (well inside the 2 s period) for 4 s: up all along.
    for _ in 0..8 {
        get_ping(&api, &url);
        let now = details(&api, &id);
        assert_eq!(now["status"], "up", "{now}");
        assert_eq!(ms(&now["next_due_at"]) - ms(&now["last_ping_at"]), 2_000, "{now}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let before = details(&api, &id);
    let changes = before["status_changes"].as_array().expect("status_changes");
    assert_eq!(changes.len(), 1, "only new → up: {before}");
    assert_eq!((changes[0]["from"].as_str(), changes[0]["to"].as_str()), (Some("new"), Some("up")));

    // It stops: late at last ping + 2 s, down at + 3 s, each noticed within 1 s.
    let last = ms(&before["last_ping_at"]);
    let down = wait_status(&api, &id, "down");
    let changes = down["status_changes"].as_array().expect("status_changes");
    assert_eq!(changes.len(), 3, "{down}");
    let (to_down, to_late) = (&changes[0], &changes[1]);
    assert_eq!(
        (to_late["from"].as_str(), to_late["to"].as_str(), to_late["cause"].as_str()),
        (Some("up"), Some("late"), Some("deadline"))
    );
    assert_eq!(
        (to_down["from"].as_str(), to_down["to"].as_str(), to_down["signal"].as_str()),
        (Some("late"), Some("down"), Some("monitor_down"))
    );
    assert_eq!(ms(&to_late["deadline_at"]), last + 2_000);
    assert_eq!(ms(&to_down["deadline_at"]), last + 3_000);
    for c in [to_late, to_down] {
        let lag = ms(&c["at"]) - ms(&c["deadline_at"]);
        assert!((0..=1_000).contains(&lag), "noticed {lag} ms after the deadline: {c}");
    }
    assert_eq!(down["next_due_at"], Value::Null);

    // A ping brings it back up, with a monitor_up signal.
    get_ping(&api, &url);
    let up = details(&api, &id);
    assert_eq!(up["status"], "up");
    assert_eq!(up["status_changes"][0]["signal"], "monitor_up");

    let m = d.metrics();
    assert!(m.contains("hookwheel_pings_total{kind=\"success\"} 9"), "{m}");
    assert!(m.contains("hookwheel_monitors{status=\"up\"} 1"), "{m}");
    assert!(m.contains("hookwheel_monitor_signals_total{signal=\"monitor_down\"} 1"), "{m}");
    assert!(!m.contains(&id), "no monitor ids in metric labels");
}

#[test]
fn fail_and_exit_status_pings_and_the_url_family() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, url, _) = add(&api, json!({"monitor_name": "etl", "interval_seconds": 3600}));
    assert_eq!(details(&api, &id)["grace_seconds"], 3600, "default grace: one hour");

    get_ping(&api, &format!("{url}/fail"));
    let down = details(&api, &id);
    assert_eq!(down["status"], "down");
    assert_eq!(down["status_changes"][0]["signal"], "monitor_down");
    get_ping(&api, &format!("{url}/0"));
    assert_eq!(details(&api, &id)["status"], "up");
    get_ping(&api, &format!("{url}/1"));
    assert_eq!(details(&api, &id)["status"], "down");
    get_ping(&api, &format!("{url}/255"));
    assert_eq!(details(&api, &id)["status"], "down");
    // POST and HEAD are pings too.
    let (status, _) = ping(&api, reqwest::Method::HEAD, &url);
    assert_eq!(status, 200);
    assert_eq!(details(&api, &id)["status"], "up");
    let r = Api::send(api.bare(reqwest::Method::POST, &url).body("done"));
    assert_eq!((r.status, r.text.as_str()), (200, "OK"));

    assert_eq!(ping(&api, reqwest::Method::GET, &format!("{url}/256")), (400, "invalid exit status (0-255)".into()));
    assert_eq!(ping(&api, reqwest::Method::GET, &format!("{url}/nope")), (404, "not found".into()));
    assert_eq!(ping(&api, reqwest::Method::GET, "/ping/hwp_unknown"), (404, "not found".into()));
    assert_eq!(ping(&api, reqwest::Method::PUT, &url).0, 405);

    let history = pings(&api, &id);
    let kinds: Vec<(&str, Value, &str)> = history
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["exit_status"].clone(), p["method"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("success", Value::Null, "POST"),
            ("success", Value::Null, "HEAD"),
            ("fail", json!(255), "GET"),
            ("fail", json!(1), "GET"),
            ("success", json!(0), "GET"),
            ("fail", Value::Null, "GET"),
        ]
    );
    assert_eq!(history[0]["body"], "done");
    assert_eq!(history[0]["status_after"], "up");
    assert_eq!(history[2]["status_after"], "down");
}

#[test]
fn rid_pairs_a_start_with_its_end_into_a_run_duration() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, url, _) = add(&api, json!({"monitor_name": "job", "interval_seconds": 3600, "grace_seconds": 600}));
    get_ping(&api, &format!("{url}/start?rid=run-a"));
    let started = details(&api, &id);
    assert_eq!(started["status"], "new", "a start alone does not make a monitor up");
    assert_ne!(started["started_at"], Value::Null);
    std::thread::sleep(Duration::from_millis(300));
    get_ping(&api, &format!("{url}/start?rid=run-b"));
    get_ping(&api, &format!("{url}?rid=run-b"));
    get_ping(&api, &format!("{url}/0?rid=unknown"));

    let history = pings(&api, &id);
    assert_eq!(history.len(), 4);
    let (unmatched, end_b, start_b) = (&history[0], &history[1], &history[2]);
    assert_eq!(unmatched["duration_ms"], Value::Null, "{unmatched}");
    assert_eq!(end_b["rid"], "run-b");
    let run = end_b["duration_ms"].as_i64().expect("a paired end has a duration");
    assert_eq!(run, ms(&end_b["received_at"]) - ms(&start_b["received_at"]));
    assert!((0..60_000).contains(&run), "{end_b}");
    assert_eq!(start_b["kind"], "start");

    let (status, text) = ping(&api, reqwest::Method::GET, &format!("{url}?rid={}", "x".repeat(65)));
    assert_eq!(status, 400, "{text}");
}

#[test]
fn slug_urls_under_the_brand_ping_key_and_its_rotation() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, _, slug) = add(&api, json!({"monitor_name": "x", "slug": "db-backup", "interval_seconds": 60}));
    assert_eq!(slug, "db-backup");
    let k = api.get("get_ping_key");
    assert_eq!(k.status, 200, "{}", k.text);
    let key = k.json["ping_key"].as_str().expect("ping_key").to_string();
    assert_eq!(api.get("get_ping_key").json["ping_key"], key.as_str(), "the key is stable");

    get_ping(&api, &format!("/ping/{key}/db-backup"));
    assert_eq!(details(&api, &id)["status"], "up");
    get_ping(&api, &format!("/ping/{key}/db-backup/fail"));
    assert_eq!(details(&api, &id)["status"], "down");
    get_ping(&api, &format!("/ping/{key}/db-backup/start"));
    assert_eq!(ping(&api, reqwest::Method::GET, &format!("/ping/{key}/other")).0, 404);
    assert_eq!(pings(&api, &id)[0]["via"], "slug");

    let rotated = api.post("rotate_ping_key", json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_key = rotated.json["ping_key"].as_str().expect("ping_key").to_string();
    assert_ne!(new_key, key);
    assert_eq!(ping(&api, reqwest::Method::GET, &format!("/ping/{key}/db-backup")).0, 404);
    get_ping(&api, &format!("/ping/{new_key}/db-backup/0"));
    assert_eq!(details(&api, &id)["status"], "up");

    // A slug given explicitly is unique in the brand; one made from a name gets a suffix.
    let r = api.post("add_monitor", json!({"monitor_name": "y", "slug": "db-backup", "interval_seconds": 60}));
    assert_eq!(r.status, 409, "{}", r.text);
    let (_, _, a) = add(&api, json!({"monitor_name": "Same name", "interval_seconds": 60}));
    let (_, _, b) = add(&api, json!({"monitor_name": "Same name", "interval_seconds": 60}));
    assert_eq!((a.as_str(), b.as_str()), ("same-name", "same-name-2"));
}

#[test]
fn a_ping_body_is_kept_to_its_first_10_kib() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, url, _) = add(&api, json!({"monitor_name": "b", "interval_seconds": 60}));
    let big = "a".repeat(12 * 1024);
    let r = Api::send(api.bare(reqwest::Method::POST, &url).body(big));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers.get("ping-body-limit").and_then(|v| v.to_str().ok()), Some("10240"));
    let r = Api::send(api.bare(reqwest::Method::POST, &url).body("small log line"));
    assert_eq!(r.status, 200);
    let history = pings(&api, &id);
    assert_eq!(
        (history[0]["body"].as_str(), history[0]["body_truncated"].as_bool()),
        (Some("small log line"), Some(false))
    );
    assert_eq!(history[1]["body"].as_str().map(str::len), Some(10 * 1024));
    assert_eq!(history[1]["body_bytes"], 12 * 1024);
    assert_eq!(history[1]["body_truncated"], true);
}

#[test]
fn a_monitor_due_while_the_daemon_is_killed_is_down_after_restart_with_one_transition() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let (id, url, _) = add(&api, json!({"monitor_name": "k", "interval_seconds": 2, "grace_seconds": 1}));
    get_ping(&api, &url);
    let last = ms(&details(&api, &id)["last_ping_at"]);
    d.kill9();
    // Both deadlines (late at +2 s, down at +3 s) pass while the daemon is down.
    std::thread::sleep(Duration::from_millis(4_000));
    d.restart();
    let api = d.client();
    let down = wait_status(&api, &id, "down");
    // Nothing more comes later.
    std::thread::sleep(Duration::from_millis(1_500));
    let down = {
        let again = details(&api, &id);
        assert_eq!(again["status_changes"], down["status_changes"], "no further change");
        again
    };
    let changes = down["status_changes"].as_array().expect("status_changes");
    let to_down: Vec<&Value> = changes.iter().filter(|c| c["to"] == "down").collect();
    assert_eq!(to_down.len(), 1, "exactly one down transition: {down}");
    assert_eq!((to_down[0]["from"].as_str(), to_down[0]["signal"].as_str()), (Some("up"), Some("monitor_down")));
    assert_eq!(ms(&to_down[0]["deadline_at"]), last + 3_000);
    assert_eq!(changes.len(), 2, "new → up, up → down: {down}");
    let m = d.metrics();
    assert!(m.contains("hookwheel_monitor_signals_total{signal=\"monitor_down\"} 1"), "{m}");
    assert!(m.contains("hookwheel_monitors{status=\"down\"} 1"), "{m}");
}

#[test]
fn pause_resume_delete_and_another_brand_sees_nothing() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, url, _) = add(&api, json!({"monitor_name": "p", "interval_seconds": 1, "grace_seconds": 0}));
    get_ping(&api, &url);
    let r = api.post("pause_monitor", json!({"monitor_uuid": id}));
    assert_eq!((r.status, r.json["status"].as_str()), (200, Some("paused")), "{}", r.text);
    std::thread::sleep(Duration::from_millis(2_000));
    let paused = details(&api, &id);
    assert_eq!(
        (paused["status"].as_str(), &paused["down_at"]),
        (Some("paused"), &Value::Null),
        "no deadline while paused"
    );
    let r = api.post("resume_monitor", json!({"monitor_uuid": id}));
    assert_eq!(r.json["status"], "new", "{}", r.text);

    let other = d.new_brand("other", None);
    let them = api.as_brand(&other.brand, &other.key);
    for action in ["get_monitor_details", "pause_monitor", "resume_monitor", "update_monitor"] {
        let r = them.post(action, json!({"monitor_uuid": id}));
        assert_eq!(r.status, 404, "{action}: {}", r.text);
    }
    assert_eq!(them.get(&format!("get_monitor_pings_paginated?monitor_uuid={id}")).status, 404);
    assert_eq!(them.delete("delete_monitor", json!({"monitor_uuid": id})).status, 404);
    assert_eq!(them.total("get_monitors_paginated"), 0);
    // Another brand's ping key does not reach this brand's slugs.
    let their_key = them.get("get_ping_key").json["ping_key"].as_str().expect("ping_key").to_string();
    assert_eq!(ping(&api, reqwest::Method::GET, &format!("/ping/{their_key}/p")).0, 404);

    let r = api.delete("delete_monitor", json!({"monitor_uuid": id}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ping(&api, reqwest::Method::GET, &url), (404, "not found".into()));
    assert_eq!(api.post("get_monitor_details", json!({"monitor_uuid": id})).status, 404);
}

#[test]
fn bad_monitor_input_is_400_naming_the_field() {
    let d = TestDaemon::start();
    let api = d.client();
    let cases = [
        (json!({"monitor_name": "a", "interval_seconds": 60, "cron_expression": "* * * * *"}), "cron_expression"),
        (json!({"monitor_name": "a"}), "interval_seconds"),
        (json!({"monitor_name": "a", "interval_seconds": 60, "grace_seconds": -1}), "grace_seconds"),
        (json!({"monitor_name": "a", "interval_seconds": 60, "grace_seconds": 31_536_001}), "grace_seconds"),
        (json!({"monitor_name": "a", "interval_seconds": 0}), "interval_seconds"),
        (
            json!({"monitor_name": "a", "cron_expression": "0 3 * * *", "cron_timezone": "Mars/Olympus"}),
            "cron_timezone",
        ),
        (json!({"monitor_name": "a", "cron_expression": "61 * * * *"}), "cron_expression"),
        (json!({"monitor_name": "a", "interval_seconds": 60, "cron_timezone": "UTC"}), "cron_timezone"),
        (json!({"monitor_name": "a", "interval_seconds": 60, "kind": "pipeline"}), "interval_seconds"),
        (json!({"monitor_name": "a", "interval_seconds": 60, "stages": ["a"]}), "stages"),
        (json!({"monitor_name": "a", "interval_seconds": 60, "slug": "Bad Slug"}), "slug"),
        (json!({"monitor_name": " ", "interval_seconds": 60}), "monitor_name"),
    ];
    for (body, field) in cases {
        let r = api.post("add_monitor", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.error().contains(field), "{body}: the error names {field}: {}", r.error());
    }
    assert_eq!(api.total("get_monitors_paginated"), 0, "nothing was created");

    // A cron monitor in a zone: its next due instant comes from the cron driver.
    let (id, url, _) = add(
        &api,
        json!({"monitor_name": "c", "cron_expression": "30 2 * * *", "cron_timezone": "Asia/Tokyo", "grace_seconds": 600}),
    );
    get_ping(&api, &url);
    let m = details(&api, &id);
    assert_eq!((m["cron_expression"].as_str(), m["cron_timezone"].as_str()), (Some("30 2 * * *"), Some("Asia/Tokyo")));
    let due = ms(&m["next_due_at"]);
    let in_tokyo =
        jiff::Timestamp::from_millisecond(due).unwrap().to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
    assert_eq!((in_tokyo.hour(), in_tokyo.minute()), (2, 30), "{m}");
    // Switching the period on update; both at once is refused there too.
    let r =
        api.post("update_monitor", json!({"monitor_uuid": id, "interval_seconds": 60, "cron_expression": "* * * * *"}));
    assert_eq!(r.status, 400, "{}", r.text);
    let r = api.post("update_monitor", json!({"monitor_uuid": id, "interval_seconds": 60}));
    assert_eq!(r.status, 200, "{}", r.text);
    let m = details(&api, &id);
    assert_eq!((m["interval_seconds"].as_i64(), &m["cron_expression"]), (Some(60), &Value::Null));
    assert_eq!(ms(&m["next_due_at"]) - ms(&m["last_ping_at"]), 60_000);
}
