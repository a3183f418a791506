//! Schedule API (compat §2.4 and §4, product §4) against the real binary and a loopback
//! receiver: the documented create endpoints and shapes, delivery on a fixed grid with rendered
//! templates, the SDK's variants, the lifecycle (pause/resume, one-off, clocked, delete, target
//! deletion), validation, rules, preview, manual and debounce triggers, and a `kill -9` restart.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Received, Receiver};
use crate::support::{Api, TestDaemon, assert_error, assert_invalid, assert_ok, keys_of, now, wait_for};

const DRIVER_DOC: &[&str] = &[
    "type",
    "interval_value",
    "interval_period",
    "cron_expression",
    "cron_timezone",
    "clocked_run_at",
    "clocked_timezone",
    "solar_event",
    "solar_lat",
    "solar_long",
    "is_one_off",
    "solar_offset",
];
/// Driver fields of the extensions (`start_at`, debounce).
const DRIVER_EXT: &[&str] = &["start_at", "debounce_seconds", "debounce_mode", "max_wait_seconds"];
const DETAIL_DOC: &[&str] = &[
    "driver",
    "status",
    "type",
    "last_run_at",
    "next_run_at",
    "locale_timezone_converted_details",
    "schedule_uuid",
    "schedule_applied_model_uuid",
    "target_name",
    "target_description",
    "total_triggered",
    "rules",
];
const DETAIL_EXT: &[&str] = &[
    "reason",
    "name",
    "initial_context_template",
    "misfire_policy",
    "misfire_grace_seconds",
    "overlap_policy",
    "jitter_seconds",
    "inserted_at",
];
const LIST_DOC: &[&str] = &[
    "reason",
    "status",
    "type",
    "model_uuid",
    "driver_type",
    "last_run_at",
    "next_run_at",
    "total_schedule_triggered",
    "locale_timezone_converted_details",
    "schedule_uuid",
];
const LIST_EXT: &[&str] = &["name"];
const LOCALE: &[&str] = &[
    "preferred_timezone",
    "time_left_to_trigger",
    "last_run_at_by_preferred_timezone",
    "next_run_at_by_preferred_timezone",
];

const SECRET_VALUE: &str = "s3cr3t-Value-9f1c";

#[allow(clippy::disallowed_methods)] // the test compares against the real clock the daemon uses
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("not an ISO-8601 instant: {s:?}: {e}")).as_millisecond()
}

fn iso(t: i64) -> String {
    jiff::Timestamp::from_millisecond(t).unwrap().to_string()
}

/// The key set of `v` is exactly the documented keys plus the known extensions.
fn assert_keys(v: &Value, doc: &[&str], ext: &[&str], what: &str) {
    let mut want: Vec<String> = doc.iter().chain(ext).map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(keys_of(v), want, "{what}: {v}");
}

fn webhook(template: &str, fields: Value) -> Value {
    let mut body = json!({"schedule_to": "webhook", "model_to_schedule_uuid": template});
    for (k, v) in fields.as_object().expect("object") {
        body[k] = v.clone();
    }
    body
}

fn every(template: &str, value: i64, period: &str) -> Value {
    webhook(template, json!({"interval_value": value, "interval_period": period, "is_one_off_task": false}))
}

/// A create call: the documented answer plus the `schedule_uuid` extension; returns the uuid.
fn create(api: &Api, action: &str, body: Value) -> String {
    let r = api.post(action, body);
    assert_ok(&r);
    assert_eq!(keys_of(&r.json), ["details", "schedule_uuid", "success"], "{}", r.text);
    assert_eq!(r.json["details"], "Schedule added successfully");
    let id = r.json["schedule_uuid"].as_str().expect("schedule_uuid");
    uuid::Uuid::parse_str(id).expect("a UUID");
    id.to_string()
}

fn detail(api: &Api, id: &str) -> Value {
    let r = api.post("get_single_schedule_details", json!({"schedule_uuid": id}));
    assert_ok(&r);
    assert_eq!(keys_of(&r.json), ["data", "success"], "{}", r.text);
    r.json["data"].clone()
}

fn status_of(api: &Api, id: &str) -> String {
    detail(api, id)["status"].as_str().unwrap().to_string()
}

/// The schedule's item in `get_schedules_paginated?filter_status=<status>`, if listed there.
fn find_listed(api: &Api, id: &str, status: &str) -> Option<Value> {
    let r = api.get(&format!("get_schedules_paginated?filter_status={status}&page=1"));
    assert_ok(&r);
    r.json["data"].as_array().expect("data").iter().find(|s| s["schedule_uuid"] == id).cloned()
}

fn listed(api: &Api, id: &str, status: &str) -> Value {
    find_listed(api, id, status).unwrap_or_else(|| panic!("schedule {id} not listed with filter_status={status}"))
}

/// How many schedules the brand has, in any status.
fn schedule_count(api: &Api) -> u64 {
    api.total("get_schedule_paginated")
}

fn executions(api: &Api, id: &str, status: Option<&str>) -> Vec<Value> {
    let filter = status.map(|s| format!("&filter_status={s}")).unwrap_or_default();
    let r = api.get(&format!("get_executions_paginated?schedule_uuid={id}{filter}&page=1"));
    assert_ok(&r);
    r.json["data"].as_array().expect("data").clone()
}

fn wait_status(api: &Api, id: &str, status: &str, timeout: Duration) -> Value {
    wait_for(&format!("schedule {id} to be {status}"), timeout, || {
        let d = detail(api, id);
        (d["status"] == status).then_some(d)
    })
}

/// The scheduled instant in a fire's idempotency key `hw_<uuid without dashes>_<ms>`.
fn instant_of(key: &str, id: &str) -> i64 {
    let prefix = format!("hw_{}_", id.replace('-', ""));
    let rest = key.strip_prefix(&prefix).unwrap_or_else(|| panic!("key {key:?} is not {prefix}<instant>"));
    rest.parse().unwrap_or_else(|_| panic!("key {key:?}: no instant"))
}

/// Checks the fire headers of a received request and returns its scheduled instant.
fn fire_instant(r: &Received, id: &str) -> i64 {
    let key = r.header("idempotency-key").expect("Idempotency-Key header");
    assert_eq!(r.header("webhook-id"), Some(key), "webhook-id = Idempotency-Key");
    instant_of(key, id)
}

/// A daemon, a receiver and a plain template (`POST /hook`, empty body) on it.
struct Env {
    d: TestDaemon,
    api: Api,
    rx: Receiver,
    domain: String,
    template: String,
}

fn env() -> Env {
    let rx = Receiver::start();
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "schedule target");
    Env { d, api, rx, domain, template }
}

/// A template on its own receiver, so a test can watch several schedules apart.
fn target_on(api: &Api, name: &str) -> (Receiver, String) {
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let t = api.add_template(&domain, name);
    (rx, t)
}

#[test]
fn every_create_endpoint_answers_and_reads_back_in_the_documented_shapes() {
    let d = TestDaemon::start();
    let c = d.new_brand("x", Some("Asia/Kolkata"));
    let api = d.client().as_brand(&c.brand, &c.key);
    let domain = api.add_domain("127.0.0.1:9");
    let t = api.add_template(&domain, "shape target");

    let before = now_ms();
    let interval = create(
        &api,
        "add_interval_schedule",
        webhook(
            &t,
            json!({"interval_value": 10, "interval_period": "minute", "is_one_off_task": false,
                   "initial_context_template": {"test_name": "a", "n": 1}}),
        ),
    );
    let after = now_ms();
    let cron = create(
        &api,
        "add_cron_schedule",
        webhook(&t, json!({"cron_expression": "0 9 * * *", "cron_timezone": "Asia/Kolkata", "is_one_off_task": false})),
    );
    let clocked = create(
        &api,
        "add_clocked_schedule",
        webhook(&t, json!({"clocked_run_at": "2030-12-25T00:00:00+05:30", "clocked_timezone": "Asia/Kolkata"})),
    );
    let solar = create(
        &api,
        "add_solar_schedule",
        webhook(
            &t,
            json!({"solar_event": "sunrise", "solar_lat": "40.7128", "solar_long": "-74.0060",
                   "solar_offset_seconds": -300, "is_one_off_task": false}),
        ),
    );
    let debounce = create(&api, "add_debounce_schedule", webhook(&t, json!({"debounce_seconds": 5})));

    let own: &[(&str, &str, &[&str])] = &[
        (&interval, "interval", &["interval_value", "interval_period"]),
        (&cron, "cron", &["cron_expression", "cron_timezone"]),
        (&clocked, "clocked", &["clocked_run_at", "clocked_timezone"]),
        (&solar, "solar", &["solar_event", "solar_lat", "solar_long", "solar_offset"]),
        (&debounce, "debounce", &["debounce_seconds", "debounce_mode"]),
    ];
    let t_now = now_ms();
    for (id, kind, fields) in own {
        let data = detail(&api, id);
        assert_keys(&data, DETAIL_DOC, DETAIL_EXT, kind);
        let driver = &data["driver"];
        assert_keys(driver, DRIVER_DOC, DRIVER_EXT, kind);
        assert_eq!(driver["type"], *kind);
        assert_eq!(driver["is_one_off"], *kind == "clocked", "{kind}: {driver}");
        for f in DRIVER_DOC.iter().chain(DRIVER_EXT) {
            if ["type", "is_one_off"].contains(f) {
                continue;
            }
            assert_eq!(
                driver[*f].is_null(),
                !fields.contains(f),
                "{kind}: driver.{f} should be {} : {driver}",
                if fields.contains(f) { "set" } else { "null" }
            );
        }
        assert_eq!(data["status"], "active", "{kind}");
        assert_eq!(data["reason"], Value::Null, "{kind}");
        assert_eq!(data["type"], "webhook");
        assert_eq!(data["schedule_uuid"], *id);
        assert_eq!(data["schedule_applied_model_uuid"], t.as_str());
        assert_eq!(data["target_name"], "shape target");
        assert_eq!(data["target_description"], "test");
        assert_eq!(data["total_triggered"], 0);
        assert_eq!(data["rules"], json!([]));
        assert_eq!(data["last_run_at"], Value::Null);

        let loc = &data["locale_timezone_converted_details"];
        assert_keys(loc, LOCALE, &[], kind);
        assert_eq!(loc["preferred_timezone"], "Asia/Kolkata");
        assert_eq!(loc["last_run_at_by_preferred_timezone"], Value::Null);
        match data["next_run_at"].as_str() {
            Some(next) => {
                assert!(next.ends_with('Z'), "{kind}: next_run_at not UTC: {next}");
                let local = loc["next_run_at_by_preferred_timezone"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{kind}: no local next run: {loc}"));
                assert!(local.ends_with("+05:30"), "{kind}: {local}");
                assert_eq!(ms(local), ms(next), "{kind}: same instant");
                assert!(ms(next) > t_now, "{kind}: next_run_at {next} not in the future");
                assert!(loc["time_left_to_trigger"].is_string(), "{kind}: {loc}");
            }
            None => {
                assert_eq!(*kind, "debounce", "only debounce waits for a trigger");
                assert_eq!(loc["next_run_at_by_preferred_timezone"], Value::Null);
                assert_eq!(loc["time_left_to_trigger"], Value::Null);
            }
        }

        let item = listed(&api, id, "active");
        assert_keys(&item, LIST_DOC, LIST_EXT, kind);
        assert_eq!(item["model_uuid"], t.as_str());
        assert_eq!(item["driver_type"], *kind);
        assert_eq!(item["type"], "webhook");
        assert_eq!(item["status"], "active");
        assert_eq!(item["reason"], Value::Null);
        assert_eq!(item["last_run_at"], Value::Null);
        assert_eq!(item["next_run_at"], data["next_run_at"], "{kind}");
        assert_eq!(item["total_schedule_triggered"], 0);
        assert_keys(&item["locale_timezone_converted_details"], LOCALE, &[], kind);
        assert_eq!(item["locale_timezone_converted_details"]["preferred_timezone"], "Asia/Kolkata");
    }

    // Driver values, and next_run_at per driver.
    let i = detail(&api, &interval);
    assert_eq!(i["driver"]["interval_value"], 10);
    assert_eq!(i["driver"]["interval_period"], "minute");
    assert_eq!(i["initial_context_template"], json!({"test_name": "a", "n": 1}));
    let next = ms(i["next_run_at"].as_str().unwrap());
    assert!(
        (before + 600_000..=after + 600_000).contains(&next),
        "the first run is one interval after creation: {next} not in {before}+10min..{after}+10min"
    );

    let c = detail(&api, &cron);
    assert_eq!(c["driver"]["cron_expression"], "0 9 * * *");
    assert_eq!(c["driver"]["cron_timezone"], "Asia/Kolkata");
    let next = c["next_run_at"].as_str().unwrap();
    assert!(next.ends_with("T03:30:00.000Z"), "09:00 in Kolkata is 03:30Z: {next}");
    assert!(ms(next) - t_now <= 86_400_000, "the next match: {next}");
    let local = c["locale_timezone_converted_details"]["next_run_at_by_preferred_timezone"].as_str().unwrap();
    assert!(local.ends_with("T09:00:00.000+05:30"), "{local}");

    let k = detail(&api, &clocked);
    assert_eq!(k["driver"]["clocked_run_at"], "2030-12-25T00:00:00+05:30");
    assert_eq!(k["driver"]["clocked_timezone"], "Asia/Kolkata");
    assert_eq!(k["next_run_at"], "2030-12-24T18:30:00.000Z");

    let s = detail(&api, &solar);
    assert_eq!(s["driver"]["solar_event"], "sunrise");
    let lat: f64 = s["driver"]["solar_lat"].as_str().unwrap().parse().unwrap();
    let lon: f64 = s["driver"]["solar_long"].as_str().unwrap().parse().unwrap();
    assert_eq!((lat, lon), (40.7128, -74.006));
    assert_eq!(s["driver"]["solar_offset"], -300);
    let next = ms(s["next_run_at"].as_str().unwrap());
    assert!(next - t_now <= 2 * 86_400_000, "a daily event: {next}");
    // Sunrise in New York minus 5 minutes is between 09:00Z and 12:30Z all year.
    let minute_of_day = next.rem_euclid(86_400_000) / 60_000;
    assert!((9 * 60..=12 * 60 + 30).contains(&minute_of_day), "New York sunrise - 5 min at {}", iso(next));

    let b = detail(&api, &debounce);
    assert_eq!(b["driver"]["debounce_seconds"], 5);
    assert_eq!(b["driver"]["debounce_mode"], "trailing");
    assert_eq!(b["next_run_at"], Value::Null);

    // The list envelope.
    let r = api.get("get_schedules_paginated?filter_status=active&page=1");
    assert_eq!(keys_of(&r.json), ["data", "meta", "success", "timezone"]);
    assert_eq!(r.json["timezone"], "Asia/Kolkata");
    assert_eq!(r.json["meta"]["total_count"], 5);
    let r = api.get("get_schedules_paginated?filter_status=paused&page=1");
    assert_ok(&r);
    assert_eq!(r.json["meta"]["total_count"], 0);
    assert_eq!(r.json["data"], json!([]));
    // filter_status is required by the documented endpoint.
    let r = api.get("get_schedules_paginated?page=1");
    assert_error(&r, 400, "Missing required field: filter_status");
    let r = api.get("get_schedules_paginated?filter_status=sleeping&page=1");
    assert_invalid(&r, "filter_status");

    // Another brand sees none of them.
    let other = d.client();
    assert_eq!(schedule_count(&other), 0);
    let r = other.post("get_single_schedule_details", json!({"schedule_uuid": interval}));
    assert_error(&r, 404, "Schedule not found");
}

#[test]
fn an_interval_delivers_rendered_requests_on_a_fixed_grid() {
    let rx = Receiver::start();
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain(&rx.host());
    api.add_secret("api_token", SECRET_VALUE);
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "rendered", "webhook_description": "renders", "method": "POST",
               "path": "/hook/{{ initial.x }}", "domain_uuid": domain, "retry_delay": 1,
               "retry_backoff_mode": "linear", "max_retries": 0, "request_timeout_in_milliseconds": 2000,
               "request_body_json": {"x": "{{ initial.x }}", "n": "{{ initial.n }}", "token": "{{ #api_token }}"},
               "headers_json": {"Authorization": "Bearer {{ #api_token }}", "X-Init": "{{initial.x}}"},
               "query_params_json": {"q": "{{ initial.x }}"}}),
    );
    assert_ok(&r);
    let t = r.json["webhook_uuid"].as_str().unwrap().to_string();
    let mut body = every(&t, 1, "second");
    body["initial_context_template"] = json!({"x": "abc", "n": 5});
    let id = create(&api, "add_interval_schedule", body);

    assert!(rx.wait_for(3, Duration::from_secs(10)) >= 3, "3 fires");
    let reqs = rx.requests();
    let first_item = listed(&api, &id, "active");
    let mut instants = Vec::new();
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook/abc?q=abc");
        assert_eq!(r.header("authorization"), Some(format!("Bearer {SECRET_VALUE}").as_str()));
        assert_eq!(r.header("x-init"), Some("abc"));
        assert_eq!(
            r.json(),
            json!({"x": "abc", "n": 5, "token": SECRET_VALUE}),
            "the body keeps the context value's type"
        );
        let at = fire_instant(r, &id);
        assert!(r.at_ms >= at, "a request arrived before its instant: {} < {at}", r.at_ms);
        assert!(r.at_ms - at < 1000, "a request arrived {} ms late", r.at_ms - at);
        instants.push(at);
    }
    for w in instants.windows(2) {
        assert_eq!(w[1] - w[0], 1000, "instants exactly 1 s apart: {instants:?}");
    }
    for w in reqs.windows(2) {
        let gap = w[1].at_ms - w[0].at_ms;
        assert!((250..=1750).contains(&gap), "requests about 1 s apart, got {gap} ms");
    }

    // The counters advance with each fire.
    let n1 = first_item["total_schedule_triggered"].as_u64().unwrap();
    assert!(n1 >= 3, "{first_item}");
    let last1 = ms(first_item["last_run_at"].as_str().expect("last_run_at"));
    let next1 = ms(first_item["next_run_at"].as_str().expect("next_run_at"));
    assert_eq!((next1 - instants[0]) % 1000, 0, "next_run_at on the grid");
    assert!(next1 > *instants.last().unwrap(), "the cursor is past every instant sent");
    let item2 = wait_for("another fire", Duration::from_secs(5), || {
        let it = listed(&api, &id, "active");
        (it["total_schedule_triggered"].as_u64().unwrap() > n1).then_some(it)
    });
    assert!(ms(item2["last_run_at"].as_str().unwrap()) > last1);
    assert!(ms(item2["next_run_at"].as_str().unwrap()) > next1);

    // The execution log.
    let done = wait_for("3 succeeded executions", Duration::from_secs(5), || {
        let e = executions(&api, &id, Some("succeeded"));
        (e.len() >= 3).then_some(e)
    });
    let received_keys: BTreeSet<String> =
        rx.requests().iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    for e in &done {
        assert_eq!(e["status"], "succeeded");
        assert_eq!(e["schedule_uuid"], id.as_str());
        assert_eq!(e["trigger"], "schedule");
        assert_eq!(e["attempt_count"], 1);
        assert_eq!(e["last_status_code"], 200);
        let key = e["idempotency_key"].as_str().unwrap();
        assert!(received_keys.contains(key), "{key} was not received");
        assert_eq!(ms(e["scheduled_at"].as_str().unwrap()), instant_of(key, &id));
        let late = e["lateness_ms"].as_i64().unwrap_or_else(|| panic!("lateness_ms: {e}"));
        assert!((0..1000).contains(&late), "lateness {late}");
    }
    let eid = done[0]["execution_uuid"].as_str().unwrap();
    let r = api.post("get_execution_details", json!({"execution_uuid": eid}));
    assert_ok(&r);
    assert!(!r.text.contains(SECRET_VALUE), "the secret value leaked into execution details: {}", r.text);
    let attempts = r.json["data"]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{}", r.text);
    let a = &attempts[0];
    assert_eq!(a["attempt"], 1);
    assert_eq!(a["status_code"], 200);
    let req = &a["request"];
    assert_eq!(req["method"], "POST");
    assert!(req["url"].as_str().unwrap().ends_with("/hook/abc"), "{req}");
    assert_eq!(req["query"], json!({"q": "abc"}));
    assert_eq!(req["headers"]["Authorization"], "Bearer {{ #api_token }}");
    assert_eq!(req["headers"]["X-Init"], "abc");
    assert_eq!(req["body"], json!({"x": "abc", "n": 5, "token": "{{ #api_token }}"}));
    // Nor anywhere else a schedule is read.
    for text in [
        api.get(&format!("get_executions_paginated?schedule_uuid={id}&page=1")).text,
        api.post("get_single_schedule_details", json!({"schedule_uuid": id})).text,
        api.get("get_schedules_paginated?filter_status=active&page=1").text,
    ] {
        assert!(!text.contains(SECRET_VALUE), "secret leaked: {text}");
    }
}

#[test]
fn sdk_variants_create_list_read_change_and_delete() {
    let e = env();
    let api = &e.api;
    let url = format!("http://{}/sdk/hook?src=sdk", e.rx.host());
    let interval =
        create(api, "add_schedule", json!({"webhook_url": url, "schedule_type": "interval", "interval_seconds": 1}));
    let cron = create(
        api,
        "add_schedule",
        json!({"webhook_url": url, "schedule_type": "cron", "cron_expression": "0 9 * * *",
               "timezone": "America/New_York"}),
    );
    // The SDK's webhook_url target fires like any template.
    assert!(e.rx.wait_for(1, Duration::from_secs(5)) >= 1);
    let r = &e.rx.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/sdk/hook?src=sdk");
    fire_instant(r, &interval);

    let r = api.post("get_schedule_uuid", json!({"schedule_uuid": interval}));
    assert_ok(&r);
    let d = &r.json["data"];
    assert_eq!(d["driver"]["type"], "interval");
    assert_eq!(d["driver"]["interval_value"], 1);
    assert_eq!(d["driver"]["interval_period"], "second");
    assert_eq!(d["driver"]["is_one_off"], false);
    assert_eq!(d["type"], "webhook");
    let c = detail(api, &cron);
    assert_eq!(c["driver"]["cron_expression"], "0 9 * * *");
    assert_eq!(c["driver"]["cron_timezone"], "America/New_York");
    let next = ms(c["next_run_at"].as_str().unwrap());
    let local = jiff::Timestamp::from_millisecond(next).unwrap().in_tz("America/New_York").unwrap();
    assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");

    let ids = |status: &str| -> BTreeSet<String> {
        let q = if status.is_empty() {
            "get_schedule_paginated?page=1".to_string()
        } else {
            format!("get_schedule_paginated?page=1&status={status}")
        };
        let r = api.get(&q);
        assert_ok(&r);
        r.json["data"].as_array().unwrap().iter().map(|s| s["schedule_uuid"].as_str().unwrap().to_string()).collect()
    };
    let both: BTreeSet<String> = [interval.clone(), cron.clone()].into();
    assert_eq!(ids(""), both);
    assert_eq!(ids("active"), both);

    let change = |status: &str| {
        let r = api.post("update_schedule_status", json!({"schedule_uuid": interval, "status": status}));
        assert_ok(&r);
        assert_eq!(r.json["details"], "Schedule status updated");
    };
    change("paused");
    assert_eq!(status_of(api, &interval), "paused");
    assert_eq!(ids("paused"), [interval.clone()].into());
    assert_eq!(ids("active"), [cron.clone()].into());
    change("active");
    assert_eq!(status_of(api, &interval), "active");
    change("stopped");
    assert_eq!(status_of(api, &interval), "paused", "stopped means paused");
    let r = api.post("update_schedule_status", json!({"schedule_uuid": interval, "status": "finished"}));
    assert_invalid(&r, "status");

    // delete_schedule via POST, as the SDK sends it.
    let r = api.post("delete_schedule", json!({"schedule_uuid": interval}));
    assert_ok(&r);
    assert_eq!(r.json["error"], "Schedule deleted successfully");
    let r = api.post("delete_schedule", json!({"schedule_uuid": interval}));
    assert_error(&r, 404, "Schedule not found");
    let r = api.post("get_schedule_uuid", json!({"schedule_uuid": interval}));
    assert_error(&r, 404, "Schedule not found");
    assert_eq!(ids(""), [cron].into());
}

#[test]
fn pause_stops_fires_and_resume_continues_on_the_grid_without_catch_up() {
    let e = env();
    let api = &e.api;
    let id = create(api, "add_interval_schedule", every(&e.template, 1, "second"));
    // Pause just after a fire, so no fire is in flight.
    let n = e.rx.wait_for(2, Duration::from_secs(5));
    assert!(n >= 2);
    let r = api.post("change_schedule_status", json!({"schedule_uuid": id, "update_status_to": "paused"}));
    assert_ok(&r);
    assert_eq!(r.json["details"], "Schedule status updated");
    let paused_at = now_ms();
    let n = e.rx.count();
    let d = detail(api, &id);
    assert_eq!(d["status"], "paused");
    assert_eq!(d["next_run_at"], Value::Null, "a paused schedule has no next run");
    assert_eq!(d["locale_timezone_converted_details"]["time_left_to_trigger"], Value::Null);
    assert!(find_listed(api, &id, "paused").is_some());
    assert!(find_listed(api, &id, "active").is_none());
    let total_paused = d["total_triggered"].as_u64().unwrap();
    // Nothing to poll for: the assertion is that nothing arrives for 3 s.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(e.rx.count(), n, "a request arrived while paused");
    assert_eq!(detail(api, &id)["total_triggered"], total_paused);

    let r = api.post("change_schedule_status", json!({"schedule_uuid": id, "update_status_to": "active"}));
    assert_ok(&r);
    let resumed_at = now_ms();
    let d = detail(api, &id);
    assert_eq!(d["status"], "active");
    assert_eq!(d["reason"], Value::Null);
    let grid = fire_instant(&e.rx.requests()[0], &id);
    let next = ms(d["next_run_at"].as_str().expect("next_run_at after resume"));
    assert_eq!((next - grid) % 1000, 0, "still on the creation grid");
    assert!(next > paused_at + 3000 && next <= resumed_at + 1000, "the next fire is computed from now: {}", iso(next));
    assert!(e.rx.wait_for(n + 1, Duration::from_secs(5)) > n);
    // No catch-up burst: the first fire after resuming is the next grid instant, and no instant
    // of the paused period fired or was recorded.
    std::thread::sleep(Duration::from_millis(300));
    let after: Vec<i64> = e.rx.requests()[n..].iter().map(|r| fire_instant(r, &id)).collect();
    assert_eq!(after[0], next, "{after:?}");
    assert!(after.len() <= 2, "a catch-up burst: {after:?}");
    for status in ["missed", "skipped"] {
        assert_eq!(executions(api, &id, Some(status)), Vec::<Value>::new());
    }
}

#[test]
fn one_off_clocked_delete_and_target_deletion() {
    let e = env();
    let api = &e.api;
    let (rx_clocked, t_clocked) = target_on(api, "clocked target");
    let (rx_target, t_doomed) = target_on(api, "doomed target");

    let one_off = create(
        api,
        "add_interval_schedule",
        webhook(&e.template, json!({"interval_value": 1, "interval_period": "second", "is_one_off_task": true})),
    );
    assert_eq!(detail(api, &one_off)["driver"]["is_one_off"], true);
    // Five seconds ago: within the default misfire grace, so it fires at once.
    let clocked = create(
        api,
        "add_clocked_schedule",
        webhook(&t_clocked, json!({"clocked_run_at": iso((now_ms() - 5000) / 1000 * 1000), "clocked_timezone": "UTC"})),
    );
    let doomed = create(api, "add_interval_schedule", every(&t_doomed, 1, "hour"));

    let d = wait_status(api, &one_off, "completed", Duration::from_secs(5));
    assert_eq!(d["next_run_at"], Value::Null);
    assert_eq!(d["total_triggered"], 1);
    assert!(d["last_run_at"].is_string());
    assert!(d["reason"].is_string(), "{d}");
    let item = listed(api, &one_off, "completed");
    assert_eq!(item["total_schedule_triggered"], 1);
    let d = wait_status(api, &clocked, "completed", Duration::from_secs(5));
    assert_eq!(d["total_triggered"], 1);
    assert_eq!(rx_clocked.wait_for(1, Duration::from_secs(3)), 1);
    // Nothing more comes from either.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.rx.count(), 1, "a one-off fires once");
    assert_eq!(rx_clocked.count(), 1, "a clocked schedule fires once");

    // completed is final.
    for to in ["active", "paused"] {
        let r = api.post("change_schedule_status", json!({"schedule_uuid": one_off, "update_status_to": to}));
        assert_invalid(&r, "update_status_to");
    }
    assert_eq!(status_of(api, &one_off), "completed");

    // Deleting the target template leaves the schedule inactive, with a reason.
    let r = api.post("delete_webhook_template", json!({"webhook_uuid": t_doomed}));
    assert_ok(&r);
    let d = detail(api, &doomed);
    assert_eq!(d["status"], "inactive");
    assert!(d["reason"].as_str().is_some_and(|r| r.contains("deleted")), "{d}");
    assert_eq!(d["next_run_at"], Value::Null);
    let item = listed(api, &doomed, "inactive");
    assert!(item["reason"].is_string());
    assert!(find_listed(api, &doomed, "active").is_none());
    // It cannot be resumed without a target.
    let r = api.post("change_schedule_status", json!({"schedule_uuid": doomed, "update_status_to": "active"}));
    assert_invalid(&r, "update_status_to");
    assert_eq!(rx_target.count(), 0);

    // delete_schedule (DELETE with a JSON body, as documented), in any status.
    let before = schedule_count(api);
    for id in [&one_off, &doomed] {
        let r = api.delete("delete_schedule", json!({"schedule_uuid": id}));
        assert_ok(&r);
        assert_eq!(r.json["error"], "Schedule deleted successfully");
        let r = api.delete("delete_schedule", json!({"schedule_uuid": id}));
        assert_error(&r, 404, "Schedule not found");
    }
    assert_eq!(schedule_count(api), before - 2);
    let r = api.post("get_single_schedule_details", json!({"schedule_uuid": one_off}));
    assert_error(&r, 404, "Schedule not found");
    // Deleting a schedule keeps its target.
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": e.template}));
    assert_ok(&r);
}

#[test]
fn bad_input_is_a_400_naming_the_field_and_stores_nothing() {
    let e = env();
    let api = &e.api;
    let t = &e.template;
    let kept = create(api, "add_interval_schedule", every(t, 1, "hour"));
    let count = schedule_count(api);
    let day_ago = iso(now_ms() - 86_400_000);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "add_cron_schedule",
            webhook(t, json!({"cron_expression": "61 * * * *", "cron_timezone": "UTC", "is_one_off_task": false})),
            "cron_expression",
        ),
        (
            "add_cron_schedule",
            webhook(t, json!({"cron_expression": "0 9 * * *", "cron_timezone": "Mars/Base", "is_one_off_task": false})),
            "cron_timezone",
        ),
        (
            "add_clocked_schedule",
            webhook(t, json!({"clocked_run_at": "2030-01-01T00:00:00", "clocked_timezone": "Mars/Base"})),
            "clocked_timezone",
        ),
        (
            "add_solar_schedule",
            webhook(
                t,
                json!({"solar_event": "sunrise", "solar_lat": "91", "solar_long": "0", "is_one_off_task": false}),
            ),
            "solar_lat",
        ),
        (
            "add_solar_schedule",
            webhook(
                t,
                json!({"solar_event": "moonrise", "solar_lat": "10", "solar_long": "0", "is_one_off_task": false}),
            ),
            "solar_event",
        ),
        (
            "add_interval_schedule",
            webhook(t, json!({"interval_value": 0, "interval_period": "second", "is_one_off_task": false})),
            "interval_value",
        ),
        (
            "add_interval_schedule",
            webhook(t, json!({"interval_value": 1, "interval_period": "fortnight", "is_one_off_task": false})),
            "interval_period",
        ),
        (
            "add_clocked_schedule",
            webhook(t, json!({"clocked_run_at": day_ago, "clocked_timezone": "UTC"})),
            "clocked_run_at",
        ),
        (
            "add_interval_schedule",
            json!({"schedule_to": "email", "model_to_schedule_uuid": t, "interval_value": 1,
                   "interval_period": "second", "is_one_off_task": false}),
            "schedule_to",
        ),
        (
            "add_debounce_schedule",
            webhook(t, json!({"debounce_seconds": 1, "debounce_mode": "sideways"})),
            "debounce_mode",
        ),
    ];
    for (action, body, field) in cases {
        let r = api.post(action, body.clone());
        assert_invalid(&r, field);
        assert_eq!(schedule_count(api), count, "{action} {body} stored something");
    }
    let r = api.post("add_interval_schedule", webhook(t, json!({"interval_value": 1, "interval_period": "second"})));
    assert_error(&r, 400, "Missing required field: is_one_off_task");
    let r =
        api.post("add_cron_schedule", webhook(t, json!({"cron_expression": "0 9 * * *", "is_one_off_task": false})));
    assert_error(&r, 400, "Missing required field: cron_timezone");
    assert_eq!(schedule_count(api), count);

    // A target of another brand is unknown here.
    let c = e.d.new_brand("other", None);
    let other = api.as_brand(&c.brand, &c.key);
    let r = other.post("add_interval_schedule", every(t, 1, "second"));
    assert_error(&r, 404, "Webhook not found");
    assert_eq!(schedule_count(&other), 0);
    let r = other.post("change_schedule_status", json!({"schedule_uuid": kept, "update_status_to": "paused"}));
    assert_error(&r, 404, "Schedule not found");
    assert_eq!(status_of(api, &kept), "active");

    // Rules: fields of another rule type, unknown types, bad values; nothing attached.
    let rule_cases: Vec<(Value, &str)> = vec![
        (
            json!({"rule_type": "time_window", "start_time": "09:00:00", "end_time": "17:00:00",
                   "timezone": "UTC", "exclusion_dates": ["2026-12-25"]}),
            "exclusion_dates",
        ),
        (json!({"rule_type": "termination", "max_run_to_terminate_after": 2, "allow_days": [1]}), "allow_days"),
        (json!({"rule_type": "lunar_window"}), "rule_type"),
        (json!({"rule_type": "time_window", "start_time": "25:00:00", "end_time": "17:00:00"}), "start_time"),
        (json!({"rule_type": "calendar_window", "allow_days": [0, 15]}), "allow_days[0]"),
        (json!({"rule_type": "exclusion", "exclusion_dates": ["2026-02-30"]}), "exclusion_dates[0]"),
        (
            json!({"rule_type": "time_window", "start_time": "09:00:00", "end_time": "17:00:00",
                   "timezone": "Mars/Base"}),
            "timezone",
        ),
    ];
    for (mut body, field) in rule_cases {
        body["schedule_uuid"] = json!(kept);
        let r = api.post("add_schedule_rule", body.clone());
        assert_invalid(&r, field);
        let rules = api.post("list_schedule_rules", json!({"schedule_uuid": kept}));
        assert_ok(&rules);
        assert_eq!(rules.json["data"], json!([]), "{body} attached a rule");
    }
    assert_eq!(detail(api, &kept)["rules"], json!([]));
}

#[test]
fn rules_skip_fires_and_termination_completes() {
    let e = env();
    let api = &e.api;
    let (rx_term, t_term) = target_on(api, "terminating");
    // Both start on a grid 2 s ahead, so the rules are attached before the first fire.
    let start = (now_ms() / 1000 + 2) * 1000;
    let mut body = every(&e.template, 1, "second");
    body["start_at"] = json!(iso(start));
    let windowed = create(api, "add_interval_schedule", body);
    let mut body = every(&t_term, 1, "second");
    body["start_at"] = json!(iso(start));
    let term = create(api, "add_interval_schedule", body);
    assert_eq!(ms(detail(api, &windowed)["next_run_at"].as_str().unwrap()), start, "start_at fires at k = 0");

    // A window two to three hours from now (UTC), so now is outside it.
    let sod = (now_ms() / 1000).rem_euclid(86_400);
    let hms = |s: i64| {
        let s = s.rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let r = api.post(
        "add_schedule_rule",
        json!({"schedule_uuid": windowed, "rule_type": "time_window", "start_time": hms(sod + 7200),
               "end_time": hms(sod + 10_800), "timezone": "UTC"}),
    );
    assert_ok(&r);
    assert_eq!(r.json["details"], "Schedule rule added successfully");
    let rule = r.json["rule_uuid"].as_str().expect("rule_uuid").to_string();
    let r = api.post(
        "add_schedule_rule",
        json!({"schedule_uuid": term, "rule_type": "termination", "max_run_to_terminate_after": 2}),
    );
    assert_ok(&r);
    let term_rule = r.json["rule_uuid"].as_str().unwrap().to_string();
    assert!(now_ms() < start, "rules attached before the first fire");

    let r = api.post("list_schedule_rules", json!({"schedule_uuid": windowed}));
    assert_ok(&r);
    let rules = r.json["data"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{}", r.text);
    assert_eq!(rules[0]["rule_uuid"], rule.as_str());
    assert_eq!(rules[0]["rule_type"], "time_window");
    assert_eq!(rules[0]["start_time"], hms(sod + 7200));
    assert_eq!(rules[0]["end_time"], hms(sod + 10_800));
    assert_eq!(rules[0]["timezone"], "UTC");
    assert_eq!(detail(api, &windowed)["rules"][0]["rule_uuid"], rule.as_str());
    assert_eq!(detail(api, &term)["rules"][0]["max_run_to_terminate_after"], 2);

    // Blocked fires are recorded as skipped executions naming the rule; nothing is sent.
    let skipped = wait_for("2 skipped fires", Duration::from_secs(6), || {
        let s = executions(api, &windowed, Some("skipped"));
        (s.len() >= 2).then_some(s)
    });
    for s in &skipped {
        assert_eq!(s["skipped_rule_uuid"], rule.as_str(), "{s}");
        let at = ms(s["scheduled_at"].as_str().unwrap());
        assert_eq!((at - start) % 1000, 0);
        assert_eq!(s["attempt_count"], 0);
    }
    assert_eq!(e.rx.count(), 0, "a blocked fire reached the receiver");
    let d = detail(api, &windowed);
    assert_eq!(d["total_triggered"], 0, "skipped fires are not runs");
    assert_eq!(d["status"], "active");

    // Termination: exactly two runs, then completed.
    let d = wait_status(api, &term, "completed", Duration::from_secs(6));
    assert_eq!(d["total_triggered"], 2);
    assert_eq!(d["next_run_at"], Value::Null);
    assert!(d["reason"].is_string());
    assert_eq!(d["rules"][0]["rule_uuid"], term_rule.as_str());
    assert_eq!(rx_term.wait_for(2, Duration::from_secs(3)), 2);

    // Removing the rule lets the fires through.
    let r = api.post("delete_schedule_rule", json!({"schedule_uuid": windowed, "rule_uuid": rule}));
    assert_ok(&r);
    let r = api.post("list_schedule_rules", json!({"schedule_uuid": windowed}));
    assert_eq!(r.json["data"], json!([]));
    let r = api.post("delete_schedule_rule", json!({"schedule_uuid": windowed, "rule_uuid": rule}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(e.rx.wait_for(1, Duration::from_secs(4)) >= 1, "fires resume");
    for r in e.rx.requests() {
        assert_eq!((fire_instant(&r, &windowed) - start) % 1000, 0);
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(rx_term.count(), 2, "a completed schedule fires no more");
}

#[test]
fn preview_lists_the_next_instants() {
    let e = env();
    let api = &e.api;
    let r = api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "30 2 * * *", "cron_timezone": "America/New_York",
               "from": "2026-03-07T12:00:00Z", "count": 2}),
    );
    assert_ok(&r);
    assert_eq!(
        r.json["data"]["fire_times"],
        json!([
            {"utc": "2026-03-08T07:00:00Z", "local": "2026-03-08T03:00:00-04:00"},
            {"utc": "2026-03-09T06:30:00Z", "local": "2026-03-09T02:30:00-04:00"}
        ]),
        "the spring-forward gap runs at the first valid instant: {}",
        r.text
    );

    // With rules: an exclusion date and a weekday window.
    let r = api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "0 12 * * *", "cron_timezone": "UTC",
               "from": "2026-03-07T00:00:00Z", "count": 3,
               "rules": [{"rule_type": "exclusion", "exclusion_dates": ["2026-03-09"]},
                         {"rule_type": "calendar_window", "allow_weekdays": [1, 2, 3, 4, 5]}]}),
    );
    assert_ok(&r);
    let utc: Vec<&str> =
        r.json["data"]["fire_times"].as_array().unwrap().iter().map(|f| f["utc"].as_str().unwrap()).collect();
    // 2026-03-07 is a Saturday, the 9th is excluded.
    assert_eq!(utc, ["2026-03-10T12:00:00Z", "2026-03-11T12:00:00Z", "2026-03-12T12:00:00Z"]);
    let r = api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "0 12 * * *", "cron_timezone": "UTC",
               "rules": [{"rule_type": "time_window", "exclusion_dates": ["2026-03-09"]}]}),
    );
    assert_invalid(&r, "rules[0].exclusion_dates");
    let r = api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "0 12 * * *", "cron_timezone": "UTC", "count": 1001}),
    );
    assert_invalid(&r, "count");

    // By schedule: the first instant is the schedule's next_run_at.
    let id = create(api, "add_interval_schedule", every(&e.template, 1, "hour"));
    let next = ms(detail(api, &id)["next_run_at"].as_str().unwrap());
    let r = api.post("preview_schedule", json!({"schedule_uuid": id, "count": 3}));
    assert_ok(&r);
    let times: Vec<i64> = r.json["data"]["fire_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(ms(f["local"].as_str().unwrap()), ms(f["utc"].as_str().unwrap()));
            ms(f["utc"].as_str().unwrap())
        })
        .collect();
    assert_eq!(times, [next, next + 3_600_000, next + 7_200_000]);
    // The schedule's rules apply, and preview's own rules are added to them.
    let r = api.post(
        "add_schedule_rule",
        json!({"schedule_uuid": id, "rule_type": "termination", "max_run_to_terminate_after": 2}),
    );
    assert_ok(&r);
    let r = api.post("preview_schedule", json!({"schedule_uuid": id, "count": 5}));
    assert_eq!(r.json["data"]["fire_times"].as_array().unwrap().len(), 2, "{}", r.text);
}

#[test]
fn cron_day_fields_combine_as_in_crontab() {
    // Day-of-month `*/2` starts with `*`, so it is AND-ed with day-of-week `1` (Vixie cron,
    // cronie): odd days that are Mondays. Neither field starting with `*`: OR.
    let e = env();
    let preview = |expr: &str| -> Vec<String> {
        let r = e.api.post(
            "preview_schedule",
            json!({"driver_type": "cron", "cron_expression": expr, "cron_timezone": "UTC",
                   "from": "2024-12-31T23:59:00Z", "count": 3}),
        );
        assert_ok(&r);
        r.json["data"]["fire_times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["utc"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(preview("0 0 */2 * 1"), ["2025-01-13T00:00:00Z", "2025-01-27T00:00:00Z", "2025-02-03T00:00:00Z"]);
    assert_eq!(preview("0 0 1 * 1"), ["2025-01-01T00:00:00Z", "2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z"]);
    assert_eq!(preview("0 0 * * 1"), ["2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z", "2025-01-20T00:00:00Z"]);
    assert_eq!(preview("0 0 1-7 * *"), ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"]);
    assert_eq!(preview("0 0 */2 * *"), ["2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z", "2025-01-05T00:00:00Z"]);
}

#[test]
fn trigger_now_and_debounce_triggers() {
    let e = env();
    let api = &e.api;
    let domain = &e.domain;
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "ctx", "webhook_description": "echoes context", "method": "POST",
               "path": "/ctx", "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear",
               "max_retries": 0, "request_timeout_in_milliseconds": 2000,
               "request_body_json": {"n": "{{ initial.n }}", "who": "{{ initial.who }}"},
               "headers_json": {}, "query_params_json": {}}),
    );
    assert_ok(&r);
    let t = r.json["webhook_uuid"].as_str().unwrap().to_string();
    let ctx = json!({"n": 0, "who": "initial"});

    // trigger_schedule_now: one request at once, the schedule's cursor unchanged.
    let mut body = every(&t, 1, "hour");
    body["initial_context_template"] = ctx.clone();
    let hourly = create(api, "add_interval_schedule", body);
    let before = detail(api, &hourly);
    let r = api.post("trigger_schedule_now", json!({"schedule_uuid": hourly, "context": {"who": "manual"}}));
    assert_ok(&r);
    let exec = r.json["execution_uuid"].as_str().expect("execution_uuid").to_string();
    assert_eq!(e.rx.wait_for(1, Duration::from_secs(3)), 1);
    assert_eq!(e.rx.requests()[0].json(), json!({"n": 0, "who": "manual"}));
    assert!(e.rx.requests()[0].header("idempotency-key").is_some());
    let after = detail(api, &hourly);
    assert_eq!(after["next_run_at"], before["next_run_at"]);
    assert_eq!(after["status"], "active");
    let d = wait_for("the manual execution to finish", Duration::from_secs(3), || {
        let r = api.post("get_execution_details", json!({"execution_uuid": exec}));
        (r.json["data"]["status"] == "succeeded").then_some(r.json["data"].clone())
    });
    assert_eq!(d["trigger"], "manual");
    assert_eq!(d["schedule_uuid"], hourly.as_str());
    e.rx.received.lock().unwrap().clear();

    // Trailing debounce: three triggers 300 ms apart fire once, with the last context.
    let mut body = webhook(&t, json!({"debounce_seconds": 1}));
    body["initial_context_template"] = ctx.clone();
    let trailing = create(api, "add_debounce_schedule", body);
    let started = now();
    let mut last_fire_at = 0;
    for n in 1..=3 {
        if n > 1 {
            std::thread::sleep(Duration::from_millis(300));
        }
        let r = api.post("trigger_debounce_schedule", json!({"schedule_uuid": trailing, "context": {"n": n}}));
        assert_ok(&r);
        assert_eq!(r.json["absorbed"], false);
        let at = ms(r.json["fire_at"].as_str().expect("fire_at"));
        assert!(at > last_fire_at, "each trigger pushes the fire back");
        last_fire_at = at;
    }
    assert!(now() - started < Duration::from_millis(1000), "the triggers were not within one window");
    assert_eq!(ms(detail(api, &trailing)["next_run_at"].as_str().unwrap()), last_fire_at);
    assert_eq!(e.rx.count(), 0, "trailing mode waits for quiet");
    assert_eq!(e.rx.wait_for(1, Duration::from_secs(4)), 1);
    let got = &e.rx.requests()[0];
    assert!(got.at_ms >= last_fire_at, "fired {} ms before the window closed", last_fire_at - got.at_ms);
    assert_eq!(got.json(), json!({"n": 3, "who": "initial"}));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.rx.count(), 1, "one fire per burst");
    let d = detail(api, &trailing);
    assert_eq!(d["total_triggered"], 1);
    assert_eq!(d["next_run_at"], Value::Null);
    e.rx.received.lock().unwrap().clear();

    // Leading debounce: the first trigger fires at once, the window absorbs the next.
    let mut body = webhook(&t, json!({"debounce_seconds": 30, "debounce_mode": "leading"}));
    body["initial_context_template"] = ctx;
    let leading = create(api, "add_debounce_schedule", body);
    let r = api.post("trigger_debounce_schedule", json!({"schedule_uuid": leading, "context": {"n": 7}}));
    assert_ok(&r);
    assert_eq!(r.json["absorbed"], false);
    assert_eq!(e.rx.wait_for(1, Duration::from_secs(2)), 1);
    assert_eq!(e.rx.requests()[0].json(), json!({"n": 7, "who": "initial"}));
    let r = api.post("trigger_debounce_schedule", json!({"schedule_uuid": leading, "context": {"n": 8}}));
    assert_ok(&r);
    assert_eq!(r.json["absorbed"], true);
    assert_eq!(r.json["fire_at"], Value::Null);

    // Only debounce schedules take debounce triggers.
    let r = api.post("trigger_debounce_schedule", json!({"schedule_uuid": hourly}));
    assert_invalid(&r, "schedule_uuid");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.rx.count(), 1, "the absorbed trigger fired");
}

#[test]
fn after_kill_9_an_interval_keeps_its_grid_and_counters() {
    let mut e = env();
    let id = create(&e.api, "add_interval_schedule", every(&e.template, 1, "second"));
    assert!(e.rx.wait_for(2, Duration::from_secs(5)) >= 2);
    let first = fire_instant(&e.rx.requests()[0], &id);
    e.d.kill9();
    e.d.restart();
    let api = e.d.client();
    let n = e.rx.count();
    assert!(e.rx.wait_for(n + 2, Duration::from_secs(8)) >= n + 2);

    let received = e.rx.requests();
    let d = detail(&api, &id);
    assert_eq!(d["status"], "active");
    let next = ms(d["next_run_at"].as_str().unwrap());
    assert_eq!((next - first) % 1000, 0, "next_run_at on the grid");
    assert!(next <= now_ms() + 1000, "next_run_at {} too far", iso(next));
    for r in &received {
        let at = fire_instant(r, &id);
        assert_eq!((at - first) % 1000, 0, "instant {at} off the grid from {first}");
        assert!(at < next, "an instant at or after the cursor fired");
    }

    // Settle (pause, let deliveries finish), then the counter matches what was delivered.
    let r = api.post("change_schedule_status", json!({"schedule_uuid": id, "update_status_to": "paused"}));
    assert_ok(&r);
    let total = wait_for("deliveries to finish", Duration::from_secs(5), || {
        let pending = executions(&api, &id, Some("pending")).len() + executions(&api, &id, Some("running")).len();
        (pending == 0).then(|| detail(&api, &id)["total_triggered"].as_u64().unwrap())
    });
    let keys: BTreeSet<String> =
        e.rx.requests().iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    assert_eq!(total, keys.len() as u64, "total_triggered = distinct fires delivered");
    let succeeded = executions(&api, &id, Some("succeeded"));
    assert_eq!(succeeded.len() as u64, total);
    let item = listed(&api, &id, "paused");
    assert_eq!(item["total_schedule_triggered"], total);
    let last = ms(item["last_run_at"].as_str().unwrap());
    let newest = keys.iter().map(|k| instant_of(k, &id)).max().unwrap();
    assert!(last >= newest, "last_run_at {} is before the newest run {}", iso(last), iso(newest));
}

/// `hookwheel_compute_tasks` gauges from `/metrics`: (running, waiting).
fn compute_tasks(api: &Api) -> (u64, u64) {
    let m = api.plain_get("/metrics");
    let read = |state: &str| {
        let prefix = format!("hookwheel_compute_tasks{{state=\"{state}\"}} ");
        m.text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{}", m.text))
            .trim()
            .parse::<u64>()
            .expect("a gauge value")
    };
    (read("running"), read("waiting"))
}

/// Case 8: a preview whose rules never allow a fire is CPU-bound work. It runs off the request
/// workers, at most one per core, and stops at its time budget saying so; meanwhile `/healthz`
/// answers. No speed is assumed: the preview can only end by its budget (February 31st never
/// comes), and the previews are seen in flight (by the daemon's own gauges) both before and
/// after `/healthz` answered.
#[test]
fn heavy_previews_run_off_the_workers_and_stop_at_their_budget() {
    const BUDGET_MS: u64 = 3000;
    const PREVIEWS: u64 = 4;
    let d = TestDaemon::start_with(&format!("[api]\ncompute_budget_ms = {BUDGET_MS}\n"));
    let api = d.client();
    let body = json!({"driver_type": "cron", "cron_expression": "* * * * * *", "cron_timezone": "America/New_York",
                      "count": 1000,
                      "rules": [{"rule_type": "calendar_window", "allow_days": [31], "allow_months": [2]}]});
    assert_eq!(compute_tasks(&api), (0, 0));
    let clients: Vec<_> = (0..PREVIEWS)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            std::thread::spawn(move || api.post("preview_schedule", body))
        })
        .collect();
    wait_for("every preview in flight", Duration::from_secs(30), || {
        let (running, waiting) = compute_tasks(&api);
        (running >= 1 && running + waiting == PREVIEWS).then_some(())
    });
    for _ in 0..5 {
        let r = api.plain_get("/healthz");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "ok");
    }
    let (running, waiting) = compute_tasks(&api);
    assert!(running + waiting >= 1, "the previews ended before /healthz had answered: the test proves nothing");
    for c in clients {
        let r = c.join().expect("client thread");
        assert_ok(&r);
        let data = &r.json["data"];
        assert_eq!(data["fire_times"], json!([]), "{}", r.text);
        assert_eq!(data["complete"], false, "{}", r.text);
        assert_eq!(data["stopped_by"], "time_budget", "{}", r.text);
        assert!(data["searched_until"].as_str().is_some_and(|s| s.ends_with('Z')), "{}", r.text);
        assert!(
            data["note"].as_str().is_some_and(|n| n.contains(&format!("{BUDGET_MS} ms (api.compute_budget_ms)"))),
            "{}",
            r.text
        );
    }
    assert_eq!(compute_tasks(&api), (0, 0), "every task left the gauges");
    // A preview that finds its instants within the budget is complete.
    let r = api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "0 9 * * *", "cron_timezone": "UTC", "count": 3}),
    );
    assert_ok(&r);
    assert_eq!(r.json["data"]["complete"], true, "{}", r.text);
    assert!(r.json["data"].get("stopped_by").is_none(), "{}", r.text);
}

#[test]
fn manual_triggers_and_retries_count_as_running_for_the_overlap_policy() {
    // Case 11: a `skip` schedule with a `trigger_schedule_now` in flight. Every execution of
    // the schedule, however started, counts once when it starts and once when it ends, so two
    // of them never overlap at the receiver.
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(crate::receiver::Script::status(200).with_delay(Duration::from_millis(2500)));
    let domain = api.add_domain(&rx.host());
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "slow", "method": "POST", "path": "/slow", "domain_uuid": domain,
               "max_retries": 0, "request_timeout_in_milliseconds": 10000}),
    );
    assert_ok(&r);
    let t = r.json["webhook_uuid"].as_str().unwrap().to_string();
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": t, "interval_value": 1,
               "interval_period": "second", "is_one_off_task": false, "overlap_policy": "skip"}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().unwrap().to_string();
    let r = api.post("trigger_schedule_now", json!({"schedule_uuid": schedule}));
    assert_ok(&r);
    // Several receiver holds (2.5 s each) with a fire due every second.
    rx.wait_for(3, Duration::from_secs(60));
    assert_ok(&api.post("change_schedule_status", json!({"schedule_uuid": schedule, "update_status_to": "paused"})));
    assert_eq!(rx.max_in_flight(), 1, "two executions of one skip schedule overlapped");
    let skipped = api.all_pages(&format!("get_executions_paginated?schedule_uuid={schedule}&filter_status=skipped"));
    assert!(
        skipped.iter().any(|e| e["reason"].as_str().is_some_and(|r| r.contains("still running"))),
        "fires were skipped while an execution ran: {skipped:#?}"
    );
}

#[test]
fn a_flood_of_previews_is_bounded_and_never_delays_creates() {
    // Previews and schedule changes take separate permits, and waiting previews are bounded:
    // beyond the bound a preview is refused with 429 and Retry-After; a cron create goes
    // through while the previews still queue.
    const BUDGET_MS: u64 = 1500;
    let d = TestDaemon::start_with(&format!("[api]\ncompute_budget_ms = {BUDGET_MS}\nrate_limit_per_minute = 0\n"));
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "t");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let waiting_max = 16; // compute::PREVIEW_WAITING_MAX
    let clients = cores + waiting_max + 8;
    let body = json!({"driver_type": "cron", "cron_expression": "* * * * * *", "cron_timezone": "America/New_York",
                      "count": 1000,
                      "rules": [{"rule_type": "calendar_window", "allow_days": [31], "allow_months": [2]}]});
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            std::thread::spawn(move || api.post("preview_schedule", body))
        })
        .collect();
    wait_for("previews queued", Duration::from_secs(30), || {
        let (running, waiting) = compute_tasks(&api);
        (running >= 1 && waiting >= 1).then_some(())
    });
    let r = api.post(
        "add_cron_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "cron_expression": "0 9 * * 1-5",
               "cron_timezone": "America/New_York", "is_one_off_task": false}),
    );
    assert_ok(&r);
    let (_, still_waiting) = compute_tasks(&api);
    assert!(still_waiting >= 1, "the previews were done before the create answered: the test proves nothing");
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().expect("client")).collect();
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(answers.iter().all(|r| r.status == 200 || r.status == 429), "only 200 or 429");
    assert!(refused.len() >= clients - cores - waiting_max, "{} refused", refused.len());
    for r in refused {
        assert_eq!(r.error(), "Too many previews in progress; retry shortly");
        assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    }
}
