//! Inbound events (product.md §10) against the real binary: sources with their verification
//! modes, the ingest URL, dedup, subscriptions with type patterns, filters and transforms,
//! fan-out to webhooks, workflows and debounce schedules, `send_event`, the event log and
//! tenancy.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::receiver::Receiver;
use crate::support::*;

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A webhook template whose body carries the event's fields through `{{ event.… }}`.
pub(crate) fn event_template(api: &Api, rx: &Receiver, body: Value) -> String {
    let domain = api.add_domain(&rx.host());
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "event sink", "webhook_description": "events", "method": "POST", "path": "/sink",
            "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
            "request_timeout_in_milliseconds": 2000, "request_body_json": body, "headers_json": {}, "query_params_json": {}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["webhook_uuid"].as_str().expect("webhook_uuid").to_string()
}

pub(crate) fn add_source(api: &Api, body: Value) -> (String, String) {
    let r = api.post("add_source", body);
    assert_eq!(r.status, 200, "{}", r.text);
    (r.json["source_uuid"].as_str().expect("uuid").to_string(), r.json["ingest_url"].as_str().expect("url").to_string())
}

pub(crate) fn subscribe(api: &Api, body: Value) -> String {
    let r = api.post("add_subscription", body);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["subscription_uuid"].as_str().expect("subscription_uuid").to_string()
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("key");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

pub(crate) fn ingest(api: &Api, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut rb = api.bare(reqwest::Method::POST, url).body(body.to_vec());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    Api::send(rb)
}

pub(crate) fn event_details(api: &Api, id: &str) -> Value {
    let r = api.post("get_event_details", json!({"event_uuid": id}));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["data"].clone()
}

#[test]
fn a_signed_github_push_is_stored_routed_and_delivered_and_a_forged_one_is_refused_and_logged() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    api.add_secret("gh_secret", "It's a Secret to Everybody");
    let template = event_template(
        &api,
        &rx,
        json!({"ref": "{{ event.body.ref }}", "type": "{{ event.type }}", "id": "{{ event.uuid }}"}),
    );
    let (source, url) = add_source(
        &api,
        json!({"source_name": "GitHub", "verification": {"type": "github", "secret_key": "gh_secret"},
            "event_type_from": {"header": "X-GitHub-Event"}}),
    );
    assert!(url.starts_with("/v1/ingest/src_") && url.len() >= "/v1/ingest/src_".len() + 32, "{url}");
    subscribe(
        &api,
        json!({"subscription_name": "pushes", "source_uuid": source, "event_types": ["push"],
            "schedule_to": "webhook", "model_to_schedule_uuid": template}),
    );

    let body = br#"{"ref":"refs/heads/main","commits":[1,2]}"#;
    let sig = format!("sha256={}", hmac_hex(b"It's a Secret to Everybody", body));
    let r = ingest(
        &api,
        &url,
        &[("x-hub-signature-256", &sig), ("x-github-event", "push"), ("content-type", "application/json")],
        body,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let event = r.json["event_uuid"].as_str().expect("event_uuid").to_string();
    assert_eq!(r.json["duplicate"], false);

    rx.wait_for(1, WAIT);
    let got = rx.requests();
    assert_eq!(got[0].json(), json!({"ref": "refs/heads/main", "type": "push", "id": event}));
    let key = format!("hw_evt_{}_", event.replace('-', ""));
    assert!(got[0].header("idempotency-key").is_some_and(|k| k.starts_with(&key)), "{:?}", got[0].headers);

    // A forged signature: 401, recorded as rejected with its reason, never routed; the answer
    // names the stored event (body and header) and the request.
    let r = ingest(&api, &url, &[("x-hub-signature-256", "sha256=00ff"), ("x-github-event", "push")], body);
    assert_eq!(r.status, 401, "{}", r.text);
    let rejected = r.json["event_uuid"].as_str().expect("rejected event_uuid").to_string();
    assert_eq!(r.headers.get("x-hookwheel-event-uuid").and_then(|v| v.to_str().ok()), Some(rejected.as_str()));
    assert_eq!(r.headers.get("x-request-id").and_then(|v| v.to_str().ok()), r.json["request_id"].as_str());
    // The URL with a trailing slash is the same source, path `/`.
    let r = ingest(&api, &format!("{url}/"), &[("x-github-event", "push")], body);
    assert_eq!(r.status, 401, "{}", r.text);
    let slash = r.json["event_uuid"].as_str().expect("event_uuid").to_string();
    assert_eq!(event_details(&api, &slash)["request"]["path"], "/");
    let r = ingest(&api, &url, &[("x-github-event", "push")], body);
    assert_eq!(r.status, 401, "{}", r.text);

    let detail = event_details(&api, &event);
    assert_eq!(detail["status"], "accepted");
    assert_eq!(detail["event_type"], "push");
    assert_eq!(detail["request"]["headers"]["x-hub-signature-256"], "[redacted]", "{detail}");
    assert_eq!(detail["request"]["body"]["ref"], "refs/heads/main");
    let deliveries = detail["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["outcome"], "execution");
    let execution = deliveries[0]["execution_uuid"].as_str().expect("execution").to_string();
    wait_for("the execution to succeed", WAIT, || {
        (event_details(&api, &event)["deliveries"][0]["execution_status"] == "succeeded").then_some(())
    });
    let x = api.post("get_execution_details", json!({"execution_uuid": execution}));
    assert_eq!(x.json["data"]["trigger"], "event");
    assert_eq!(x.json["data"]["event_uuid"], event.as_str());

    let forged = event_details(&api, &rejected);
    assert_eq!(forged["status"], "rejected");
    assert_eq!(forged["event_type"], "push", "a refused request is listed with its claimed type");
    assert_eq!(forged["reason"], "verification failed: signature does not match", "{forged}");
    assert_eq!(forged["deliveries"], json!([]));
    let log = api.get(&format!("get_events_paginated?source_uuid={source}&filter_status=rejected"));
    assert_eq!(log.json["meta"]["total_count"], 3, "{}", log.text);
    let accepted = api.get("get_events_paginated?filter_status=accepted");
    assert_eq!(accepted.json["meta"]["total_count"], 1, "{}", accepted.text);
    assert_eq!(rx.count(), 1, "refused requests are never delivered");
    let metrics = d.metrics();
    assert!(metrics.contains("hookwheel_events_total{outcome=\"accepted\"} 1"), "{metrics}");
    assert!(metrics.contains("hookwheel_events_total{outcome=\"rejected\"} 3"), "{metrics}");
    assert!(metrics.contains("hookwheel_event_executions_total 1"), "{metrics}");
}

#[test]
fn repeats_within_the_dedup_window_are_one_event_and_answer_duplicate() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let template = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    let (_, url) = add_source(
        &api,
        json!({"source_name": "deduped", "dedup": {"by": "header", "key": "x-delivery", "window_seconds": 3600}}),
    );
    subscribe(&api, json!({"subscription_name": "all", "schedule_to": "webhook", "model_to_schedule_uuid": template}));
    let first = ingest(&api, &url, &[("x-delivery", "d-1")], br#"{"n":1}"#);
    assert_eq!(first.status, 202, "{}", first.text);
    let again = ingest(&api, &url, &[("x-delivery", "d-1")], br#"{"n":1}"#);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json, json!({"success": true, "duplicate": true, "event_uuid": first.json["event_uuid"]}));
    assert_eq!(
        again.headers.get("x-hookwheel-event-uuid").and_then(|v| v.to_str().ok()),
        first.json["event_uuid"].as_str()
    );
    let other = ingest(&api, &url, &[("x-delivery", "d-2")], br#"{"n":2}"#);
    assert_eq!(other.status, 202);
    rx.wait_for(2, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 2, "the duplicate is not routed");
    let dupes = api.get("get_events_paginated?filter_status=duplicate");
    assert_eq!(dupes.json["meta"]["total_count"], 1);
    assert_eq!(dupes.json["data"][0]["duplicate_of"], first.json["event_uuid"]);

    // send_event is idempotent by event_id.
    let a = api.post("send_event", json!({"event_type": "x", "payload": {"n": 3}, "event_id": "ext-1"}));
    let b = api.post("send_event", json!({"event_type": "x", "payload": {"n": 3}, "event_id": "ext-1"}));
    assert_eq!((a.json["duplicate"].clone(), b.json["duplicate"].clone()), (json!(false), json!(true)));
    assert_eq!(a.json["event_uuid"], b.json["event_uuid"]);
}

#[test]
fn subscriptions_select_by_wildcard_types_and_filters() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let template = event_template(&api, &rx, json!({"sub": "{{ sub }}", "id": "{{ event.body.id }}"}));
    let add = |name: &str, types: Value, filter: Value| {
        subscribe(
            &api,
            json!({"subscription_name": name, "event_types": types, "filter": filter, "schedule_to": "webhook",
                "model_to_schedule_uuid": template, "transform": format!("{{sub: \"{name}\", event: .event}}")}),
        )
    };
    add("orders", json!(["order.*"]), json!([]));
    add("big", json!([]), json!([{"field": "event.body.total", "operator": "gt", "value": 100}]));
    add(
        "eu",
        json!(["*"]),
        json!([{"field": "event.labels.region", "operator": "in", "value": ["eu", "uk"]},
        {"field": "event.body.tags", "operator": "contains", "value": "vip"}]),
    );
    add(
        "no_coupon",
        json!(["order.created"]),
        json!([{"field": "event.body.coupon", "operator": "exists", "value": false}]),
    );

    let send = |id: &str, ty: &str, body: Value, labels: Value| {
        let mut body = body;
        body["id"] = json!(id);
        let r = api.post("send_event", json!({"event_type": ty, "payload": body, "labels": labels}));
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["executions_created"].as_u64().expect("count")
    };
    assert_eq!(send("e1", "order.created", json!({"total": 250, "tags": ["vip"]}), json!({"region": "eu"})), 4);
    assert_eq!(send("e2", "order.item.added", json!({"total": "99.5", "coupon": "X"}), json!({})), 1);
    assert_eq!(
        send("e3", "user.created", json!({"note": "no total"}), json!({"region": "us"})),
        0,
        "a missing field never compares"
    );
    assert_eq!(send("e4", "user.created", json!({"total": 101, "tags": "vip"}), json!({"region": "uk"})), 2);
    rx.wait_for(7, WAIT);
    let mut seen: Vec<(String, String)> = rx
        .requests()
        .iter()
        .map(|r| (r.json()["id"].as_str().unwrap_or("").into(), r.json()["sub"].as_str().unwrap_or("").into()))
        .collect();
    seen.sort();
    let want: Vec<(String, String)> = [
        ("e1", "big"),
        ("e1", "eu"),
        ("e1", "no_coupon"),
        ("e1", "orders"),
        ("e2", "orders"),
        ("e4", "big"),
        ("e4", "eu"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);
}

#[test]
fn another_brands_sources_subscriptions_and_events_are_404() {
    let d = TestDaemon::start();
    let api = d.client();
    let other = d.new_brand("other", None);
    let them = api.as_brand(&other.brand, &other.key);
    let (source, url) = add_source(&api, json!({"source_name": "mine"}));
    let r = ingest(&api, &url, &[], br#"{"a":1}"#);
    let event = r.json["event_uuid"].as_str().expect("event").to_string();
    for (action, body) in [
        ("get_source_details", json!({"source_uuid": source})),
        ("update_source", json!({"source_uuid": source, "source_name": "x"})),
        ("rotate_source_ingest_token", json!({"source_uuid": source})),
        ("delete_source", json!({"source_uuid": source})),
        ("get_event_details", json!({"event_uuid": event})),
    ] {
        let r = them.post(action, body);
        assert_eq!(r.status, 404, "{action}: {}", r.text);
    }
    // Their subscription may not name my source.
    let r = them.post(
        "add_subscription",
        json!({"subscription_name": "x", "source_uuid": source, "schedule_to": "webhook",
        "model_to_schedule_uuid": "0193a4e2-6a2b-7c4d-8e9f-2a3b4c5d6e71"}),
    );
    assert_eq!((r.status, r.json["source_uuid"].clone()), (404, json!(source)), "{}", r.text);
    assert_eq!(them.get("get_events_paginated").json["meta"]["total_count"], 0);
    // Nor may their bulk retry name my template (an unknown target is 404 like an unknown
    // subscription, not a job that matches nothing).
    let template = api.add_template(&api.add_domain("127.0.0.1:9"), "mine");
    let r = them.post("bulk_retry_executions", json!({"target_uuid": template}));
    assert_eq!((r.status, r.json["target_uuid"].clone()), (404, json!(template)), "{}", r.text);
    assert_eq!(api.post("bulk_retry_executions", json!({"target_uuid": template})).status, 200);
    // A range that ends before it starts is refused, naming `to`.
    let r = api.get("get_events_paginated?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z");
    assert_invalid(&r, "to");
    // An unencoded `+` arrives as a space: the error says how to send it.
    let r = api.get("get_events_paginated?from=2026-01-01T00:00:00+01:00");
    assert_invalid(&r, "from");
    assert!(r.text.contains("%2B"), "{}", r.text);
    // Rotating the token retires the old URL at once.
    let r = api.post("rotate_source_ingest_token", json!({"source_uuid": source}));
    let new_url = r.json["ingest_url"].as_str().expect("url").to_string();
    assert_ne!(new_url, url);
    assert_eq!(ingest(&api, &url, &[], b"{}").status, 404);
    assert_eq!(ingest(&api, &new_url, &[], b"{}").status, 202);
    let detail = api.post("get_source_details", json!({"source_uuid": source}));
    assert_eq!(detail.json["data"]["ingest_url"], new_url.as_str());
}

#[test]
fn a_standard_webhooks_and_a_basic_auth_source_verify_and_refuse() {
    let d = TestDaemon::start();
    let api = d.client();
    let secret =
        format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef"));
    api.add_secret("sw", &secret);
    api.add_secret("pw", "opensesame");
    let (_, sw_url) = add_source(
        &api,
        json!({"source_name": "sw", "verification": {"type": "standard_webhooks", "secret_key": "sw"}}),
    );
    let (_, basic_url) = add_source(
        &api,
        json!({"source_name": "basic", "verification": {"type": "basic_auth", "username": "aladdin", "password_secret_key": "pw"},
            "response_status_code": 200, "response_body": {"ok": true}}),
    );
    let body = br#"{"x":1}"#;
    let sign = |ts: i64| {
        let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).expect("b64");
        let mut m = Hmac::<Sha256>::new_from_slice(&key).expect("key");
        m.update(format!("msg_1.{ts}.").as_bytes());
        m.update(body);
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes()))
    };
    let now = unix_now_s();
    let ok = ingest(
        &api,
        &sw_url,
        &[("webhook-id", "msg_1"), ("webhook-timestamp", &now.to_string()), ("webhook-signature", &sign(now))],
        body,
    );
    assert_eq!(ok.status, 202, "{}", ok.text);
    let stale_ts = now - 301;
    let stale = ingest(
        &api,
        &sw_url,
        &[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &stale_ts.to_string()),
            ("webhook-signature", &sign(stale_ts)),
        ],
        body,
    );
    assert_eq!(stale.status, 401, "{}", stale.text);
    let reason = event_details(&api, stale.json["event_uuid"].as_str().expect("id"))["reason"].clone();
    assert_eq!(reason, "verification failed: timestamp outside the tolerance");

    let good = ingest(&api, &basic_url, &[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")], b"a=1");
    assert_eq!((good.status, good.json.clone()), (200, json!({"ok": true})), "{}", good.text);
    let bad = ingest(&api, &basic_url, &[("authorization", "Basic YWxhZGRpbjpvcGVu")], b"a=1");
    assert_eq!(bad.status, 401);
    let log = api.get("get_events_paginated?filter_status=accepted");
    assert_eq!(log.json["meta"]["total_count"], 2, "{}", log.text);
    let basic = &log.json["data"][0];
    let detail = event_details(&api, basic["event_uuid"].as_str().expect("id"));
    assert_eq!(detail["request"]["headers"]["authorization"], "[redacted]");
    assert_eq!(
        (detail["request"]["body"].clone(), detail["request"]["body_encoding"].clone()),
        (json!("a=1"), json!("text"))
    );
}

#[test]
fn a_failing_transform_records_its_route_and_creates_no_execution() {
    let d = TestDaemon::start_with("[events]\ntransform_budget_ms = 50\n");
    let api = d.client();
    let rx = Receiver::start();
    let template = event_template(&api, &rx, json!({"n": "{{ n }}"}));
    let bad = api.post(
        "add_subscription",
        json!({"subscription_name": "x", "schedule_to": "webhook", "model_to_schedule_uuid": template, "transform": "{n: .event.body.n"}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("transform"), "{}", bad.text);
    for (name, program) in [
        ("number", ".event.body.n"),
        ("runaway", "def f: f; f"),
        ("nesting", "reduce range(100000) as $i (0; [.]) | {a: 1}"),
        ("ok", "{n: .event.body.n}"),
    ] {
        subscribe(
            &api,
            json!({"subscription_name": name, "schedule_to": "webhook", "model_to_schedule_uuid": template, "transform": program}),
        );
    }
    let r = api.post("send_event", json!({"event_type": "t", "payload": {"n": 7}}));
    assert_eq!((r.status, r.json["executions_created"].clone()), (200, json!(1)), "{}", r.text);
    let detail = event_details(&api, r.json["event_uuid"].as_str().expect("id"));
    let mut outcomes: Vec<String> = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["outcome"].as_str().unwrap_or("").to_string())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["execution", "transform_failed", "transform_failed", "transform_failed"], "{detail}");
    for d in detail["deliveries"].as_array().expect("deliveries") {
        if d["outcome"] == "transform_failed" {
            assert!(d["detail"].as_str().is_some_and(|s| !s.is_empty()) && d["execution_uuid"].is_null(), "{d}");
        }
    }
    rx.wait_for(1, WAIT);
    assert_eq!(rx.requests()[0].json(), json!({"n": 7}));
    // The daemon kept answering while the runaway transform ran.
    assert_eq!(api.get("get_sources_paginated").status, 200);
}

#[test]
fn credentials_cannot_become_an_event_type_or_dedup_key_and_refused_bodies_are_cut() {
    let d = TestDaemon::start();
    let api = d.client();
    api.add_secret("tok", "s3cr3t-token-value");
    let token = json!({"type": "header_token", "header": "X-Token", "secret_key": "tok"});
    let r = api.post(
        "add_source",
        json!({"source_name": "a", "verification": token, "event_type_from": {"header": "x-token"}}),
    );
    assert_invalid(&r, "event_type_from.header");
    let r = api.post(
        "add_source",
        json!({"source_name": "b", "verification": token, "dedup": {"by": "header", "key": "Authorization", "window_seconds": 60}}),
    );
    assert_invalid(&r, "dedup.key");
    // A setting the type does not read is refused, not stored and ignored.
    for (verification, field) in [
        (json!({"type": "github", "secret_key": "tok", "header": "X-Other"}), "verification.header"),
        (json!({"type": "none", "secret_key": "tok"}), "verification.secret_key"),
        (json!({"type": "stripe", "secret_key": "tok", "prefix": "v1="}), "verification.prefix"),
        (
            json!({"type": "header_token", "header": "X-Token", "secret_key": "tok", "tolerance_seconds": 60}),
            "verification.tolerance_seconds",
        ),
    ] {
        let r = api.post("add_source", json!({"source_name": "x", "verification": verification}));
        assert_invalid(&r, field);
    }
    // A secret's value pasted where its name goes: 404 naming the field, the value not echoed.
    let r = api.post(
        "add_source",
        json!({"source_name": "x", "verification": {"type": "github", "secret_key": "It's a Secret to Everybody"}}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.json["verification.secret_key"].as_str().is_some_and(|m| m.contains("add_system_secret")), "{}", r.text);
    assert!(!r.text.contains("Secret to Everybody"), "{}", r.text);
    assert_eq!(api.get("get_sources_paginated").json["meta"]["total_count"], 0, "nothing was stored");
    let (source, url) =
        add_source(&api, json!({"source_name": "c", "verification": token, "response_status_code": 204}));
    let r = api.post("update_source", json!({"source_uuid": source, "event_type_from": {"header": "X-Token"}}));
    assert_invalid(&r, "event_type_from.header");
    let ok = ingest(&api, &url, &[("x-token", "s3cr3t-token-value")], b"{}");
    assert_eq!((ok.status, ok.text.as_str()), (204, ""));
    let big = vec![b'x'; 64 * 1024];
    let refused = ingest(&api, &url, &[("x-token", "wrong")], &big);
    assert_eq!(refused.status, 401);
    let detail = event_details(&api, refused.json["event_uuid"].as_str().expect("id"));
    let body = detail["request"]["body"].as_str().expect("text");
    assert!(body.len() < 1200 && body.ends_with("(65536 bytes, truncated)"), "{body}");
}

/// Over its rate a source answers 429 with `Retry-After`; every 429 is counted, and the first
/// of each second is on record as a rejected event with the count refused since.
#[test]
fn a_source_over_its_rate_answers_429_and_keeps_a_bounded_record() {
    let d = TestDaemon::start_with("[events]\ningest_rate_per_second = 1\ningest_burst = 1\n");
    let api = d.client();
    let (source, url) = add_source(&api, json!({"source_name": "limited"}));
    let answers: Vec<Resp> = (0..6).map(|i| ingest(&api, &url, &[], format!(r#"{{"i":{i}}}"#).as_bytes())).collect();
    let limited: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(
        answers.iter().all(|r| r.status == 202 || r.status == 429),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(!limited.is_empty(), "six requests at once against 1/s with a burst of 1");
    assert!(limited.iter().all(|r| r.headers.get("retry-after").is_some()));
    let first = limited[0].json["event_uuid"].as_str().expect("the first 429 is recorded");
    let detail = event_details(&api, first);
    assert_eq!(detail["status"], "rejected");
    assert!(
        detail["reason"].as_str().is_some_and(|r| r.starts_with("rate limited: over 1 requests per second")),
        "{detail}"
    );
    let recorded = api.get(&format!("get_events_paginated?source_uuid={source}&filter_status=rejected"));
    let recorded = recorded.json["meta"]["total_count"].as_u64().expect("count");
    let with_id = limited.iter().filter(|r| r.json["event_uuid"].is_string()).count() as u64;
    assert_eq!(recorded, with_id, "each recorded 429 names its event");
    assert!(recorded >= 1 && recorded < limited.len() as u64 + 1);
    let metrics = d.metrics();
    assert!(
        metrics.contains(&format!("hookwheel_events_total{{outcome=\"rejected\"}} {}", limited.len())),
        "every 429 is counted: {metrics}"
    );
}

/// Sources and subscriptions are kept in memory between writes of them (every arriving event
/// resolves both): each change applies to the very next request after its answer, with the
/// copies warm.
#[test]
fn a_source_or_subscription_change_applies_to_the_next_event() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let template = event_template(&api, &rx, json!({"sub": "{{ sub }}", "n": "{{ event.body.n }}"}));
    let (source, url) = add_source(&api, json!({"source_name": "kept"}));
    let add = |name: &str| {
        subscribe(
            &api,
            json!({"subscription_name": name, "event_types": [], "schedule_to": "webhook",
                "model_to_schedule_uuid": template, "transform": format!("{{sub: \"{name}\", event: .event}}")}),
        )
    };
    let first = add("first");
    let send = |url: &str, n: u32| ingest(&api, url, &[], format!(r#"{{"n":{n}}}"#).as_bytes());
    // Two events warm both copies.
    assert_eq!(send(&url, 1).status, 202);
    assert_eq!(send(&url, 2).status, 202);

    let r = api.post("update_source", json!({"source_uuid": source, "response_status_code": 200}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(send(&url, 3).status, 200, "the source's new answer at once");

    add("second");
    assert_eq!(send(&url, 4).status, 200);
    let r = api.post("update_subscription", json!({"subscription_uuid": first, "enabled": false}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(send(&url, 5).status, 200);

    let r = api.post("rotate_source_ingest_token", json!({"source_uuid": source}));
    assert_eq!(r.status, 200, "{}", r.text);
    let rotated = r.json["ingest_url"].as_str().expect("ingest_url").to_string();
    assert_eq!(send(&url, 6).status, 404, "the previous URL is gone at once");
    assert_eq!(send(&rotated, 7).status, 200);
    let r = api.post("delete_source", json!({"source_uuid": source}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(send(&rotated, 8).status, 404, "a deleted source takes nothing more");

    // Every execution is recorded before its event is answered: exactly these seven.
    let r = api.get("get_executions_paginated?page=1");
    assert_eq!(r.json["meta"]["total_count"], 7, "{}", r.text);
    assert_eq!(rx.wait_for(7, WAIT), 7);
    let mut seen: Vec<(String, String)> = rx
        .requests()
        .iter()
        .map(|r| (r.json()["n"].to_string(), r.json()["sub"].as_str().unwrap_or("").into()))
        .collect();
    seen.sort();
    let want: Vec<(String, String)> = [
        ("1", "first"),
        ("2", "first"),
        ("3", "first"),
        ("4", "first"),
        ("4", "second"),
        ("5", "second"),
        ("7", "second"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);
}

/// A template whose body nests 31 arrays around a whole-value placeholder, given a value 157
/// levels deep by a subscription's transform, renders a body 188 levels deep: deeper than any
/// body the API accepts and, recorded in the execution, deeper than the store reads back. A
/// schema 5 build wrote that record, then answered every list of the brand's executions with
/// a 500 and refused to start. The execution now fails before any request, saying why; the
/// event and the lists read, nothing reached the receiver, and the daemon restarts.
#[test]
fn a_rendered_body_deeper_than_the_api_accepts_fails_its_execution_and_nothing_else() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let nest = |depth: usize, inner: Value| (0..depth).fold(inner, |v, _| json!([v]));
    let template = event_template(&api, &rx, nest(31, json!("{{ x }}")));
    let (_, url) = add_source(&api, json!({"source_name": "deep", "event_type_from": {"body_field": "type"}}));
    subscribe(
        &api,
        json!({"subscription_name": "deep", "event_types": ["deep.1"], "schedule_to": "webhook",
            "model_to_schedule_uuid": template, "transform": "{x: (reduce range(157) as $i (0; [.]))}"}),
    );
    let r = ingest(&api, &url, &[], br#"{"type":"deep.1"}"#);
    assert_eq!(r.status, 202, "{}", r.text);
    let event = r.json["event_uuid"].as_str().expect("event_uuid").to_string();
    let execution = wait_for("the execution to end", WAIT, || {
        let d = event_details(&api, &event);
        (d["deliveries"][0]["execution_status"] == "failed").then(|| d["deliveries"][0]["execution_uuid"].clone())
    });
    // The answers hold the 158-level context, past what this test's JSON parser reads: their
    // text is checked.
    let x = api.post("get_execution_details", json!({"execution_uuid": execution}));
    assert_eq!(x.status, 200, "{}", x.text);
    assert!(x.text.contains("the rendered body nests more than 128 levels deep"), "{}", x.text);
    assert_eq!(rx.count(), 0, "nothing was sent");
    let list = api.get("get_executions_paginated");
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains(r#""status":"failed""#), "{}", list.text);
    d.restart();
    let api = d.client();
    assert_eq!(api.get("get_executions_paginated").status, 200);
    assert_eq!(event_details(&api, &event)["deliveries"][0]["execution_status"], "failed");
}
