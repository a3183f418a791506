//! Inbound events under abuse (product.md §10, §7): what a sender who knows an ingest URL but
//! not its secret can make the daemon store, what a replay may route, and what one brand's
//! transform may cost the daemon.

use serde_json::{Value, json};

use crate::events::{WAIT, add_source, event_details, event_template, ingest, subscribe};
use crate::receiver::Receiver;
use crate::support::*;

/// Peak resident memory of a process, in KiB (Linux `VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmHWM value")
}

#[test]
fn a_refused_request_keeps_a_bounded_record_headers_query_and_path_included() {
    let d = TestDaemon::start();
    let api = d.client();
    api.add_secret("tok", "s3cr3t-token-value");
    let (_, url) = add_source(
        &api,
        json!({"source_name": "guarded", "verification": {"type": "header_token", "header": "X-Token", "secret_key": "tok"}}),
    );
    // Anyone who knows the URL can send this: the body is cut to 1 KiB, but 40 headers of
    // 4 KiB, a 4 KiB path suffix and an 8 KiB query are all kept.
    let pad = "A".repeat(4096);
    let names: Vec<String> = (0..40).map(|i| format!("x-pad-{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), pad.as_str())).collect();
    headers.push(("x-token", "wrong"));
    let target = format!("{url}/{}?q={}", "p".repeat(4096), "B".repeat(8192));
    let refused = ingest(&api, &target, &headers, b"{}");
    assert_eq!(refused.status, 401, "{}", refused.text);
    let detail = event_details(&api, refused.json["event_uuid"].as_str().expect("event_uuid"));
    assert_eq!(detail["status"], "rejected");
    let stored = serde_json::to_string(&detail["request"]).expect("json").len();
    assert!(
        stored <= 16 * 1024,
        "a refused request is stored with {stored} bytes of headers, query and path (the body alone is cut to 1 KiB)"
    );
}

#[test]
fn a_replay_does_not_route_again_an_event_that_arrives_while_it_runs() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let template = event_template(&api, &rx, json!({"id": "{{ event.uuid }}"}));
    let (_, url) = add_source(&api, json!({"source_name": "orders"}));
    subscribe(&api, json!({"subscription_name": "all", "schedule_to": "webhook", "model_to_schedule_uuid": template}));
    for n in 0..5 {
        assert_eq!(ingest(&api, &url, &[], format!(r#"{{"n":{n}}}"#).as_bytes()).status, 202);
    }
    // A slow replay of "everything up to far in the future".
    let r = api.post(
        "replay_events",
        json!({"from": "2020-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z", "rate_per_second": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let job = r.json["job_uuid"].as_str().expect("job_uuid").to_string();
    // An event that arrives after the replay was asked for is routed live, once.
    let live = ingest(&api, &url, &[], br#"{"n":"live"}"#);
    assert_eq!(live.status, 202, "{}", live.text);
    let status = api.post("get_replay_job", json!({"job_uuid": job}));
    assert_eq!(status.json["data"]["status"], "running", "the replay is still running: {}", status.text);
    wait_for("the replay to finish", WAIT, || {
        let r = api.post("get_replay_job", json!({"job_uuid": job}));
        (r.json["data"]["status"] != "running").then_some(())
    });
    let detail = event_details(&api, live.json["event_uuid"].as_str().expect("event_uuid"));
    let deliveries = detail["deliveries"].as_array().expect("deliveries");
    let replayed: Vec<&Value> = deliveries.iter().filter(|r| !r["job_uuid"].is_null()).collect();
    assert!(replayed.is_empty(), "the live event was also replayed, so delivered twice: {deliveries:?}");
    let done = api.post("get_replay_job", json!({"job_uuid": job}));
    assert_eq!(done.json["data"]["created"], 5, "{}", done.text);
}

#[test]
fn one_transform_run_cannot_grow_the_daemon_by_hundreds_of_megabytes() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let template = event_template(&api, &rx, json!({}));
    // `matches` builds every match in one built-in call, which no step, budget or value limit
    // sees: 600,000 one-character matches of a string well within the 1 MiB string limit.
    let sub = subscribe(
        &api,
        json!({"subscription_name": "heavy", "event_types": ["heavy"],
            "transform": r#"{n: ("a" * 600000 | [matches(".";"g")] | length)}"#,
            "schedule_to": "webhook", "model_to_schedule_uuid": template}),
    );
    let before = peak_rss_kib(d.pid());
    let r = api.post("send_event", json!({"event_type": "heavy", "payload": {}}));
    assert_eq!(r.status, 200, "{}", r.text);
    let grown_mib = peak_rss_kib(d.pid()).saturating_sub(before) / 1024;
    let detail = event_details(&api, r.json["event_uuid"].as_str().expect("event_uuid"));
    let route = detail["deliveries"].as_array().expect("deliveries").iter().find(|x| x["subscription_uuid"] == sub);
    assert_eq!(route.map(|x| x["outcome"].clone()), Some(json!("transform_failed")), "{detail}");
    assert!(grown_mib < 256, "one transform run (200 ms budget) grew the daemon's peak memory by {grown_mib} MiB");
}
