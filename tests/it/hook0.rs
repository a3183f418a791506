//! The Hook0 dialect (`/api/v1/events…`, product.md §10) against the real binary, with the
//! request bodies of Hook0's own reference ("Send Event", "Send Multiple Events (Batch)")
//! sent verbatim and the answers checked against the shapes the reference shows.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// Hook0's reference, "Send Event", the request body as printed.
const SEND_EVENT_EXAMPLE: &str = r#"{
  "event_type": "user.created",
  "payload": {
    "user_id": "user_123",
    "email": "john.doe@example.com",
    "name": "John Doe",
    "plan": "pro",
    "created_at": "2024-01-15T10:30:00Z"
  },
  "labels": {
    "environment": "production",
    "source": "api",
    "priority": "high"
  }
}"#;

/// Hook0's reference, "Send Multiple Events (Batch)", the request body as printed.
const BATCH_EXAMPLE: &str = r#"{
  "events": [
    {
      "event_type": "user.created",
      "payload": { "user_id": "user_123" },
      "labels": { "source": "batch" }
    },
    {
      "event_type": "user.updated",
      "payload": { "user_id": "user_124" },
      "labels": { "source": "batch" }
    }
  ]
}"#;

/// A Hook0 client: the daemon's base URL and a bearer API key.
struct Hook0<'a> {
    api: &'a Api,
    key: String,
}

impl Hook0<'_> {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.api.bare(method, path).header("authorization", format!("Bearer {}", self.key))
    }
    fn post_raw(&self, path: &str, body: &str) -> Resp {
        Api::send(
            self.request(reqwest::Method::POST, path).header("content-type", "application/json").body(body.to_string()),
        )
    }
    fn post(&self, path: &str, body: Value) -> Resp {
        self.post_raw(path, &body.to_string())
    }
    fn get(&self, path: &str) -> Resp {
        Api::send(self.request(reqwest::Method::GET, path))
    }
}

fn hook0(api: &Api) -> Hook0<'_> {
    Hook0 { api, key: api.key.clone() }
}

/// A webhook template posting the event's fields to `path` on the receiver.
fn template(api: &Api, domain: &str, path: &str) -> String {
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": format!("sink {path}"), "webhook_description": "events", "method": "POST", "path": path,
            "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
            "request_timeout_in_milliseconds": 2000, "headers_json": {}, "query_params_json": {},
            "request_body_json": {"type": "{{ event.type }}", "user": "{{ event.body.user_id }}",
                "source": "{{ event.labels.source }}", "id": "{{ event.uuid }}"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["webhook_uuid"].as_str().expect("webhook_uuid").to_string()
}

fn subscribe(api: &Api, name: &str, types: Value, template: &str) {
    let r = api.post(
        "add_subscription",
        json!({"subscription_name": name, "event_types": types, "schedule_to": "webhook",
            "model_to_schedule_uuid": template}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok())
}

/// Checks Hook0's error body and returns its `details` fields.
fn assert_hook0_error(r: &Resp, status: u16, code: &str) -> Vec<String> {
    assert_eq!(r.status, status, "{}", r.text);
    let e = &r.json["error"];
    assert_eq!(keys_of(e), ["code", "details", "message", "request_id", "type"], "{}", r.text);
    assert_eq!(e["code"], code, "{}", r.text);
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(r.headers.get("x-request-id").and_then(|v| v.to_str().ok()), e["request_id"].as_str());
    e["details"].as_array().expect("details").iter().map(|d| d["field"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn the_references_send_event_is_accepted_routed_and_shown_with_its_delivery_stats() {
    let d = TestDaemon::start();
    let api = d.client();
    let h = hook0(&api);
    let rx = Receiver::start();
    rx.set_chooser(|r| if r.path == "/fail" { Script::status(500) } else { Script::default() });
    let domain = api.add_domain(&rx.host());
    subscribe(&api, "users", json!(["user.*"]), &template(&api, &domain, "/ok"));
    subscribe(&api, "failing", json!(["user.created"]), &template(&api, &domain, "/fail"));

    let r = h.post_raw("/api/v1/events", SEND_EVENT_EXAMPLE);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(keys_of(&r.json), ["created_at", "event_id", "status"], "{}", r.text);
    assert_eq!(r.json["status"], "accepted");
    assert!(is_uuid(&r.json["event_id"]) && is_rfc3339(&r.json["created_at"]), "{}", r.text);
    let id = r.json["event_id"].as_str().expect("id").to_string();

    rx.wait_for(2, WAIT);
    let mut got: Vec<(String, Value)> = rx.requests().iter().map(|q| (q.path.clone(), q.json())).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let body = json!({"type": "user.created", "user": "user_123", "source": "api", "id": id});
    assert_eq!(got, vec![("/fail".to_string(), body.clone()), ("/ok".to_string(), body)]);

    // Get Event: the reference's keys (no application_id: a brand is one application) and the
    // delivery counts once both executions have ended.
    let shown = wait_for("both deliveries to end", WAIT, || {
        let r = h.get(&format!("/api/v1/events/{id}"));
        assert_eq!(r.status, 200, "{}", r.text);
        (r.json["delivery_stats"]["pending_deliveries"] == 0).then_some(r.json)
    });
    assert_eq!(
        keys_of(&shown),
        ["created_at", "delivery_stats", "event_type", "id", "labels", "payload", "processed_at"],
        "{shown}"
    );
    let example: Value = serde_json::from_str(SEND_EVENT_EXAMPLE).expect("example");
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["event_type"], "user.created");
    assert_eq!(shown["payload"], example["payload"]);
    assert_eq!(shown["labels"], example["labels"]);
    assert_eq!(shown["created_at"], r.json["created_at"]);
    assert!(is_rfc3339(&shown["processed_at"]));
    assert_eq!(
        shown["delivery_stats"],
        json!({"total_attempts": 2, "successful_deliveries": 1, "failed_deliveries": 1, "pending_deliveries": 0})
    );

    // The same event_id twice: one event; the repeat answers the first one's id, not routed.
    let mut with_id = example.clone();
    with_id["event_id"] = json!("evt_1234567890");
    let first = h.post("/api/v1/events", with_id.clone());
    assert_eq!((first.status, first.json["status"].clone()), (201, json!("accepted")), "{}", first.text);
    let again = h.post("/api/v1/events", with_id);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.json,
        json!({"event_id": first.json["event_id"], "status": "duplicate", "created_at": first.json["created_at"]})
    );
    rx.wait_for(4, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 4, "the repeat is not routed");
}

#[test]
fn the_references_batch_is_accepted_and_a_malformed_event_is_rejected_alone() {
    let d = TestDaemon::start();
    let api = d.client();
    let h = hook0(&api);
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    subscribe(&api, "users", json!(["user.*"]), &template(&api, &domain, "/ok"));

    let r = h.post_raw("/api/v1/events/batch", BATCH_EXAMPLE);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(keys_of(&r.json), ["events", "total_accepted", "total_rejected"], "{}", r.text);
    assert_eq!((r.json["total_accepted"].clone(), r.json["total_rejected"].clone()), (json!(2), json!(0)));
    let results = r.json["events"].as_array().expect("events");
    assert_eq!(results.len(), 2);
    for e in results {
        assert_eq!(keys_of(e), ["event_id", "status"], "{e}");
        assert_eq!(e["status"], "accepted");
        assert!(is_uuid(&e["event_id"]), "{e}");
    }
    assert_ne!(results[0]["event_id"], results[1]["event_id"]);
    rx.wait_for(2, WAIT);
    let mut got: Vec<(String, String, String)> = rx
        .requests()
        .iter()
        .map(|q| {
            let j = q.json();
            let s = |k: &str| j[k].as_str().unwrap_or("").to_string();
            (s("id"), s("type"), s("user"))
        })
        .collect();
    got.sort();
    let mut want = vec![
        (results[0]["event_id"].as_str().unwrap_or("").to_string(), "user.created".into(), "user_123".into()),
        (results[1]["event_id"].as_str().unwrap_or("").to_string(), "user.updated".into(), "user_124".into()),
    ];
    want.sort();
    assert_eq!(got, want, "each event of the batch is routed with its own body");

    // One missing its type, one with a payload that is not JSON object/array, one not an object:
    // each rejected with its field named; the others accepted and routed.
    let r = h.post(
        "/api/v1/events/batch",
        json!({"events": [
            {"event_type": "user.created", "payload": {"user_id": "a"}, "labels": {"source": "batch"}},
            {"payload": {"user_id": "b"}, "labels": {"source": "batch"}},
            {"event_type": "user.created", "payload": "not an object"},
            "user.created",
            {"event_type": "user.deleted", "payload": {"user_id": "c"}, "labels": {"source": "batch"}},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((r.json["total_accepted"].clone(), r.json["total_rejected"].clone()), (json!(2), json!(3)));
    let results = r.json["events"].as_array().expect("events");
    let statuses: Vec<&str> = results.iter().map(|e| e["status"].as_str().unwrap_or("")).collect();
    assert_eq!(statuses, ["accepted", "rejected", "rejected", "rejected", "accepted"]);
    let fields: Vec<&str> = results.iter().map(|e| e["error"]["field"].as_str().unwrap_or("")).collect();
    assert_eq!(fields, ["", "events[1].event_type", "events[2].payload", "events[3]", ""]);
    assert_eq!(results[1]["error"]["code"], "MISSING_PARAMETER");
    assert_eq!(results[1]["event_id"], Value::Null);
    rx.wait_for(4, WAIT);
    let users: HashSet<String> =
        rx.requests().iter().map(|q| q.json()["user"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(users, ["user_123", "user_124", "a", "c"].iter().map(|s| s.to_string()).collect());

    // Nothing accepted: 200. More than 100 events: the whole batch is refused, naming `events`.
    let r = h.post("/api/v1/events/batch", json!({"events": [{"payload": {}}]}));
    assert_eq!((r.status, r.json["total_rejected"].clone()), (200, json!(1)), "{}", r.text);
    let many: Vec<Value> = (0..101).map(|i| json!({"event_type": "bulk", "payload": {"i": i}})).collect();
    let r = h.post("/api/v1/events/batch", json!({"events": many}));
    assert_eq!(assert_hook0_error(&r, 400, "INVALID_PARAMETER"), ["events"]);
    let r = h.post("/api/v1/events/batch", json!({"evnts": []}));
    assert_eq!(assert_hook0_error(&r, 400, "INVALID_PARAMETER"), ["evnts"]);
}

#[test]
fn listing_by_cursor_walks_every_accepted_event_once_newest_first() {
    let d = TestDaemon::start();
    let api = d.client();
    let h = hook0(&api);
    let mut sent = Vec::new();
    for i in 0..9 {
        let ty = if i % 3 == 0 { "order.created" } else { "user.created" };
        let r = h.post("/api/v1/events", json!({"event_type": ty, "payload": {"i": i}}));
        assert_eq!(r.status, 201, "{}", r.text);
        sent.push((r.json["event_id"].as_str().expect("id").to_string(), ty));
    }
    let batch: Vec<Value> = (9..25)
        .map(|i| json!({"event_type": if i % 3 == 0 { "order.created" } else { "user.created" }, "payload": {"i": i}}))
        .collect();
    let r = h.post("/api/v1/events/batch", json!({"events": batch}));
    assert_eq!(r.status, 201, "{}", r.text);
    for (i, e) in r.json["events"].as_array().expect("events").iter().enumerate() {
        let ty = if (i + 9) % 3 == 0 { "order.created" } else { "user.created" };
        sent.push((e["event_id"].as_str().expect("id").to_string(), ty));
    }
    // A repeat and a refused native request are not Hook0 events.
    let dup = h.post("/api/v1/events", json!({"event_type": "x", "payload": {}, "event_id": "once"}));
    let again = h.post("/api/v1/events", json!({"event_type": "x", "payload": {}, "event_id": "once"}));
    assert_eq!((dup.status, again.status), (201, 200));
    sent.push((dup.json["event_id"].as_str().expect("id").to_string(), "x"));
    let newest_first: Vec<String> = sent.iter().rev().map(|(id, _)| id.clone()).collect();

    let walk = |query: &str, limit: usize| {
        let (mut ids, mut pages, mut cursor): (Vec<String>, usize, Option<String>) = (Vec::new(), 0, None);
        loop {
            let mut path = format!("/api/v1/events?limit={limit}{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = h.get(&path);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            assert_eq!(keys_of(&r.json), ["data", "pagination"]);
            let data = r.json["data"].as_array().expect("data");
            assert!(data.len() <= limit);
            for e in data {
                assert_eq!(keys_of(e), ["created_at", "event_type", "id", "labels", "payload", "processed_at"], "{e}");
                ids.push(e["id"].as_str().expect("id").to_string());
            }
            pages += 1;
            let more = r.json["pagination"]["has_more"].as_bool().expect("has_more");
            assert_eq!(more, r.json["pagination"]["next_cursor"].is_string(), "{}", r.text);
            if !more {
                return (ids, pages);
            }
            cursor = Some(r.json["pagination"]["next_cursor"].as_str().expect("cursor").to_string());
            assert!(pages < 100);
        }
    };
    let (ids, pages) = walk("", 7);
    assert_eq!(ids, newest_first, "every event exactly once, newest first (a batch in its order)");
    assert_eq!(pages, 4);
    let (orders, _) = walk("&event_type=order.created", 2);
    let want: Vec<String> =
        sent.iter().rev().filter(|(_, t)| *t == "order.created").map(|(id, _)| id.clone()).collect();
    assert_eq!((orders.len(), orders), (9, want));

    let first = h.get("/api/v1/events");
    assert_eq!(first.json["data"].as_array().map(Vec::len), Some(20), "default limit");
    assert_eq!(first.json["pagination"]["has_more"], true);
    assert_eq!(first.json["data"][0]["payload"], json!({}));
    let late = h.get("/api/v1/events?since=2999-01-01T00:00:00Z");
    assert_eq!(late.json, json!({"data": [], "pagination": {"next_cursor": null, "has_more": false}}));
    let early = h.get("/api/v1/events?until=2000-01-01T00:00:00Z&application_id=app_1234567890");
    assert_eq!(early.json["data"], json!([]), "{}", early.text);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=eyJpZCI6IjEyMyJ9", "cursor"),
        ("since=yesterday", "since"),
        ("page=2", "page"),
    ] {
        let r = h.get(&format!("/api/v1/events?{query}"));
        assert_eq!(assert_hook0_error(&r, 400, "INVALID_PARAMETER"), [field], "{query}");
    }
}

#[test]
fn a_bearer_key_is_checked_like_any_api_key_and_brands_stay_apart() {
    let d = TestDaemon::start_with("[api]\nbody_bytes_max = 4096\nrate_limit_per_minute = 1000\n");
    let api = d.client();
    let h = hook0(&api);
    let r = h.post_raw("/api/v1/events", SEND_EVENT_EXAMPLE);
    assert_eq!(r.status, 201, "{}", r.text);
    let mine = r.json["event_id"].as_str().expect("id").to_string();
    assert_eq!(r.headers.get("x-ratelimit-limit").and_then(|v| v.to_str().ok()), Some("1000"));

    // No key, another scheme, a wrong key: 401 in Hook0's shape.
    let none = Api::send(api.bare(reqwest::Method::GET, "/api/v1/events"));
    assert_hook0_error(&none, 401, "UNAUTHORIZED");
    assert_eq!(none.headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let basic = Api::send(api.bare(reqwest::Method::GET, "/api/v1/events").header("authorization", "Basic eDp5"));
    assert_hook0_error(&basic, 401, "UNAUTHORIZED");
    let wrong = Hook0 { api: &api, key: format!("{}x", api.key) };
    assert_hook0_error(&wrong.get("/api/v1/events"), 401, "UNAUTHORIZED");
    assert_hook0_error(&wrong.post_raw("/api/v1/events", SEND_EVENT_EXAMPLE), 401, "UNAUTHORIZED");
    // The native headers are not a Hook0 credential.
    let native = Api::send(api.authed(reqwest::Method::GET, "/api/v1/events"));
    assert_hook0_error(&native, 401, "UNAUTHORIZED");

    // Another brand's key: its own events only; mine are 404 to it.
    let other = d.new_brand("other", None);
    let them = Hook0 { api: &api, key: other.key.clone() };
    let r = them.post("/api/v1/events", json!({"event_type": "theirs", "payload": {"n": 1}}));
    assert_eq!(r.status, 201, "{}", r.text);
    let theirs = r.json["event_id"].as_str().expect("id").to_string();
    assert_hook0_error(&them.get(&format!("/api/v1/events/{mine}")), 404, "NOT_FOUND");
    assert_hook0_error(&h.get(&format!("/api/v1/events/{theirs}")), 404, "NOT_FOUND");
    let listed = them.get("/api/v1/events");
    let ids: Vec<&str> =
        listed.json["data"].as_array().expect("data").iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, [theirs.as_str()]);
    assert_eq!(h.get(&format!("/api/v1/events/{mine}")).status, 200);
    assert_eq!(assert_hook0_error(&h.get("/api/v1/events/evt_1234567890"), 400, "INVALID_PARAMETER"), ["event_id"]);

    // A revoked key is refused at once.
    let (code, out, err) = d.cli(&["key", "revoke", &other.key[..12]]);
    assert_eq!(code, 0, "{out}{err}");
    assert_hook0_error(&them.get("/api/v1/events"), 401, "UNAUTHORIZED");
    assert_hook0_error(&them.post("/api/v1/events", json!({"event_type": "t", "payload": {}})), 401, "UNAUTHORIZED");

    // Body limit, content type, unknown fields, methods.
    let big = json!({"event_type": "big", "payload": {"blob": "x".repeat(8_000)}});
    let r = h.post("/api/v1/events", big);
    assert_hook0_error(&r, 413, "PAYLOAD_TOO_LARGE");
    let r =
        Api::send(h.request(reqwest::Method::POST, "/api/v1/events").header("content-type", "text/plain").body("{}"));
    assert_hook0_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    let r = h.post("/api/v1/events", json!({"event_type": "t", "payload": {}, "occured_at": "now"}));
    assert_eq!(assert_hook0_error(&r, 400, "INVALID_PARAMETER"), ["occured_at"]);
    let r = h.post("/api/v1/events", json!({"payload": {}}));
    assert_eq!(assert_hook0_error(&r, 400, "MISSING_PARAMETER"), ["event_type"]);
    let r = h.post("/api/v1/events", json!({"event_type": "  ", "payload": {}, "application_id": "app_1"}));
    assert_eq!(assert_hook0_error(&r, 400, "INVALID_PARAMETER"), ["event_type"]);
    let r = Api::send(h.request(reqwest::Method::DELETE, "/api/v1/events"));
    assert_hook0_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
}

#[test]
fn hook0_calls_share_the_keys_rate_limit() {
    let d = TestDaemon::start_with("[api]\nrate_limit_per_minute = 3\n");
    let api = d.client();
    let h = hook0(&api);
    assert_eq!(h.post("/api/v1/events", json!({"event_type": "a", "payload": {}})).status, 201);
    assert_eq!(api.get("get_events_paginated").status, 200);
    assert_eq!(h.get("/api/v1/events").status, 200);
    let r = h.get("/api/v1/events");
    assert_hook0_error(&r, 429, "RATE_LIMIT_EXCEEDED");
    assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);
    assert_eq!(api.get("get_events_paginated").status, 429, "one bucket per key, whichever dialect");
}

/// Hook0's ingestion path (`POST /api/v1/event`, singular) with its own body format: `payload`
/// as JSON text with `payload_content_type`, `occurred_at`, `application_id`. The payload is
/// parsed and routed like any event; Hook0's other payload types are refused naming the field.
#[test]
fn hook0s_ingestion_path_and_json_text_payloads_are_accepted() {
    let d = TestDaemon::start();
    let api = d.client();
    let h = hook0(&api);
    let body = json!({
        "application_id": "2b1c2a6e-0a4f-4bd7-9f7b-5d4e1b6f2a11",
        "event_id": "8a3c8f6e-5a8e-4a59-9f2a-4c1b0a3e7d21",
        "event_type": "users.account.created",
        "payload": "{\"user_id\": 42, \"plan\": \"pro\"}",
        "payload_content_type": "application/json",
        "labels": {"all": "yes"},
        "occurred_at": "2026-11-30T10:00:00Z",
    });
    let r = h.post("/api/v1/event/", body.clone());
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["status"], "accepted");
    assert_eq!(r.json["received_at"], r.json["created_at"]);
    let id = r.json["event_id"].as_str().expect("event_id").to_string();
    let shown = h.get(&format!("/api/v1/events/{id}"));
    assert_eq!(shown.json["payload"], json!({"user_id": 42, "plan": "pro"}), "{}", shown.text);
    // The same event_id again is a duplicate of the first, on either path.
    let again = h.post("/api/v1/events", body.clone());
    assert_eq!((again.status, again.json["event_id"].as_str()), (200, Some(id.as_str())), "{}", again.text);

    let mut bad = body.clone();
    bad["event_id"] = json!("another");
    bad["payload"] = json!("not json");
    assert_eq!(assert_hook0_error(&h.post("/api/v1/event", bad.clone()), 400, "INVALID_PARAMETER"), ["payload"]);
    bad["payload_content_type"] = json!("text/plain");
    assert_eq!(
        assert_hook0_error(&h.post("/api/v1/event", bad.clone()), 400, "INVALID_PARAMETER"),
        ["payload_content_type"]
    );
    bad["payload_content_type"] = json!("application/json");
    bad["payload"] = json!({"ok": true});
    bad["occurred_at"] = json!("yesterday");
    assert_eq!(assert_hook0_error(&h.post("/api/v1/event", bad), 400, "INVALID_PARAMETER"), ["occurred_at"]);
    let r = h.get("/api/v1/event");
    assert_eq!(r.status, 405, "{}", r.text);
}
