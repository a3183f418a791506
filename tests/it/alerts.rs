//! Notification channels and alert rules (product.md §12, issue 11 items 5 and 6) against the
//! real binary, loopback receivers and a loopback SMTP sink (Python's `aiosmtpd`): a monitor
//! that stops pinging alerts exactly once per channel (a signed webhook, a Slack body, a
//! mail), also across a `kill -9`; `execution_failed`, `circuit_open`, `approval_waiting`,
//! `failure_rate` (to Discord), `lateness`, the cooldown's `suppressed` history, the test send,
//! and input errors naming the field.
//!
//! Waits are generous polls (bounds on a hang, never speed assertions).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::{Api, TestDaemon, assert_invalid, assert_ok, wait_for};

const POLL_MAX: Duration = Duration::from_secs(40);

/// A loopback SMTP sink (aiosmtpd) writing each mail as a JSON line to a file.
struct SmtpSink {
    child: Child,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let py = crate::python::smtp_sink_python();
        let dir = crate::support::temp_dir();
        let out = dir.path().join("mails.jsonl");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/sink.py");
        let mut child = Command::new(py)
            .arg(script)
            .arg(port.to_string())
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("sink output");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        SmtpSink { child, port, out, _dir: dir }
    }

    fn config(&self) -> String {
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"alerts@hookwheel.test\"\n",
            self.port
        )
    }

    fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn channel(api: &Api, body: Value) -> (String, Value) {
    let r = api.post("add_notification_channel", body);
    assert_ok(&r);
    (r.json["channel_uuid"].as_str().expect("channel_uuid").to_string(), r.json["data"].clone())
}

fn webhook_channel(api: &Api, rx: &Receiver, name: &str) -> (String, String) {
    let (id, data) =
        channel(api, json!({"channel_name": name, "type": "webhook", "url": format!("http://{}/alerts", rx.host())}));
    (id, data["signing_secret"].as_str().expect("a webhook channel's signing secret").to_string())
}

fn rule(api: &Api, body: Value) -> String {
    let r = api.post("add_alert_rule", body);
    assert_ok(&r);
    r.json["alert_rule_uuid"].as_str().expect("alert_rule_uuid").to_string()
}

fn alerts(api: &Api) -> Vec<Value> {
    api.all_pages("get_alerts_paginated")
}

fn monitor(api: &Api, interval: u32, grace: u32) -> (String, String) {
    let r = api.post(
        "add_monitor",
        json!({"monitor_name": "Nightly backup", "interval_seconds": interval, "grace_seconds": grace}),
    );
    assert_ok(&r);
    (r.json["monitor_uuid"].as_str().unwrap().to_string(), r.json["ping_url"].as_str().unwrap().to_string())
}

fn ping(api: &Api, url: &str) {
    let r = Api::send(api.bare(reqwest::Method::GET, url));
    assert_eq!(r.status, 200, "{}", r.text);
}

fn status(api: &Api, id: &str) -> String {
    let r = api.post("get_monitor_details", json!({"monitor_uuid": id}));
    assert_ok(&r);
    r.json["data"]["status"].as_str().unwrap().to_string()
}

fn wait_status(api: &Api, id: &str, want: &str) {
    wait_for(&format!("monitor {want}"), POLL_MAX, || {
        if status(api, id) == want {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    });
}

fn wait_requests(rx: &Receiver, n: usize) -> Vec<crate::receiver::Received> {
    assert_eq!(rx.wait_for(n, POLL_MAX), n, "{n} request(s) expected");
    rx.requests()
}

/// Checks a Standard Webhooks signature with the channel's secret.
fn assert_signed(req: &crate::receiver::Received, secret: &str) {
    let id = req.header("webhook-id").expect("webhook-id");
    let ts: i64 = req.header("webhook-timestamp").expect("webhook-timestamp").parse().expect("a timestamp");
    let sig = req.header("webhook-signature").expect("webhook-signature");
    let ok = sig
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| hookwheel::delivery::signing::verify(secret, id, ts, &req.body, s));
    assert!(ok, "the alert's signature verifies with the channel's secret");
}

#[test]
fn a_monitor_that_stops_pinging_alerts_once_per_channel_webhook_slack_and_email() {
    let sink = SmtpSink::start();
    let d = TestDaemon::start_with(&sink.config());
    let api = d.client();
    let hook_rx = Receiver::start();
    let slack_rx = Receiver::start();
    let (hook, secret) = webhook_channel(&api, &hook_rx, "ops webhook");
    let slack_url = format!("http://{}/services/T0001/B0001/s3cr3tSlackToken", slack_rx.host());
    let (slack, slack_view) = channel(&api, json!({"channel_name": "ops slack", "type": "slack", "url": slack_url}));
    assert_eq!(slack_view["url_origin"], format!("http://{}", slack_rx.host()));
    let (mail, _) = channel(&api, json!({"channel_name": "ops mail", "type": "email", "email_to": "ops@example.com"}));
    let (id, url) = monitor(&api, 1, 1);
    let rule_id =
        rule(&api, json!({"rule_type": "monitor_down", "channel_uuids": [hook, slack, mail], "monitor_uuid": id}));

    ping(&api, &url);
    wait_status(&api, &id, "up");
    wait_status(&api, &id, "down");

    let hooks = wait_requests(&hook_rx, 1);
    let body = hooks[0].json();
    assert_eq!(body["type"], "alert.monitor_down", "{body}");
    assert_eq!(body["rule_type"], "monitor_down");
    assert_eq!(body["alert_rule_uuid"], rule_id.as_str());
    assert_eq!(body["signal"]["monitor_uuid"], id.as_str());
    assert!(body["summary"].as_str().unwrap().contains("\"Nightly backup\" is DOWN"), "{body}");
    assert_signed(&hooks[0], &secret);

    let slacks = wait_requests(&slack_rx, 1);
    assert_eq!(slacks[0].path, "/services/T0001/B0001/s3cr3tSlackToken");
    let text = slacks[0].json()["text"].as_str().expect("Slack's text").to_string();
    assert!(text.contains("\"Nightly backup\" is DOWN"), "{text}");

    let mails = wait_for("one mail", POLL_MAX, || {
        let m = sink.mails();
        if m.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
            return None;
        }
        Some(m)
    });
    assert_eq!(mails[0]["to"], json!(["ops@example.com"]));
    assert_eq!(mails[0]["from"], "alerts@hookwheel.test");
    let data = mails[0]["data"].as_str().unwrap();
    assert!(data.contains("Subject: [hookwheel] Monitor \"Nightly backup\" is DOWN"), "{data}");

    // Exactly one each, however long one waits.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!((hook_rx.count(), slack_rx.count(), sink.mails().len()), (1, 1, 1));
    let history = alerts(&api);
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["outcome"], "sent");
    assert_eq!(history[0]["execution_uuids"].as_array().unwrap().len(), 3);

    // The Slack URL's secret path is never shown or logged.
    for action in ["get_notification_channels_paginated", "get_alerts_paginated", "get_executions_paginated"] {
        let r = api.get(action);
        assert!(!r.text.contains("s3cr3tSlackToken"), "{action}: {}", r.text);
    }
    let r = api.post("get_notification_channel_details", json!({"channel_uuid": slack}));
    assert!(!r.text.contains("s3cr3tSlackToken"), "{}", r.text);
    assert!(!d.output().contains("s3cr3tSlackToken"), "the log shows the Slack URL");
    let m = d.metrics();
    assert!(m.contains("hookwheel_alerts_total{rule_type=\"monitor_down\",outcome=\"sent\"} 1"), "{m}");
}

#[test]
fn a_kill_9_while_a_monitor_is_due_still_alerts_once_after_the_restart() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let (hook, _) = webhook_channel(&api, &rx, "ops");
    let (id, url) = monitor(&api, 2, 1);
    rule(&api, json!({"rule_type": "monitor_down", "channel_uuids": [hook]}));
    ping(&api, &url);
    wait_status(&api, &id, "up");
    d.kill9();
    std::thread::sleep(Duration::from_secs(4));
    d.restart();
    let api = d.client();
    wait_status(&api, &id, "down");
    let got = wait_requests(&rx, 1);
    assert_eq!(got[0].json()["signal"]["monitor_uuid"], id.as_str());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.count(), 1, "alerted once");
    assert_eq!(alerts(&api).len(), 1);
}

#[test]
fn a_second_down_within_the_cooldown_is_suppressed_and_recorded() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let (hook, _) = webhook_channel(&api, &rx, "ops");
    let (id, url) = monitor(&api, 1, 1);
    let r = rule(&api, json!({"rule_type": "monitor_down", "channel_uuids": [hook], "cooldown_seconds": 3600}));
    for _ in 0..2 {
        ping(&api, &url);
        wait_status(&api, &id, "up");
        wait_status(&api, &id, "down");
    }
    let history = wait_for("two alerts", POLL_MAX, || {
        let h = alerts(&api);
        if h.len() < 2 {
            std::thread::sleep(Duration::from_millis(100));
            return None;
        }
        Some(h)
    });
    let outcomes: Vec<&str> = history.iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["suppressed", "sent"], "newest first: {history:?}");
    assert_eq!(history[0]["execution_uuids"], json!([]));
    assert_eq!(rx.count(), 1);
    let only = api.get(&format!("get_alerts_paginated?alert_rule_uuid={r}&outcome=suppressed"));
    assert_ok(&only);
    assert_eq!(only.json["data"].as_array().unwrap().len(), 1);
    let m = d.metrics();
    assert!(m.contains("hookwheel_alerts_total{rule_type=\"monitor_down\",outcome=\"suppressed\"} 1"), "{m}");
}

#[test]
fn execution_failed_circuit_open_approval_waiting_and_the_test_send() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let (hook, secret) = webhook_channel(&api, &rx, "ops");
    // A receiver that always fails, behind a breaker that opens at the first failure.
    let failing = Receiver::start();
    failing.set_script(Script::status(500));
    let r = api.post(
        "add_domain",
        json!({"protocol_type": "http", "domain": failing.host(), "circuit_breaker_enabled": true,
            "failure_threshold": 1, "open_seconds": 600}),
    );
    assert_ok(&r);
    let domain = r.json["domain_uuid"].as_str().unwrap().to_string();
    let template = api.add_template(&domain, "failing");
    rule(&api, json!({"rule_type": "execution_failed", "channel_uuids": [hook], "webhook_uuid": template}));
    rule(&api, json!({"rule_type": "circuit_open", "channel_uuids": [hook], "domain_uuid": domain}));
    rule(&api, json!({"rule_type": "approval_waiting", "channel_uuids": [hook], "waiting_seconds": 1}));

    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": {}}));
    assert_ok(&r);
    let execution = r.json["execution_uuid"].as_str().unwrap().to_string();
    let r = api.post("create_approval_request", json!({"title": "Deploy to production", "timeout_seconds": 3600}));
    assert_ok(&r);
    let plan = r.json["execution_plan_uuid"].as_str().unwrap().to_string();

    let got = wait_requests(&rx, 3);
    let mut kinds: Vec<String> = got.iter().map(|g| g.json()["rule_type"].as_str().unwrap().to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["approval_waiting", "circuit_open", "execution_failed"]);
    for g in &got {
        assert_signed(g, &secret);
        let b = g.json();
        match b["rule_type"].as_str().unwrap() {
            "execution_failed" => {
                assert_eq!(b["signal"]["execution_uuid"], execution.as_str());
                assert!(b["signal"]["reason"].as_str().unwrap().contains("HTTP 500"), "{b}");
            }
            "circuit_open" => assert_eq!(b["signal"]["domain_uuid"], domain.as_str()),
            _ => {
                assert_eq!(b["signal"]["execution_plan_uuid"], plan.as_str());
                assert_eq!(b["signal"]["title"], "Deploy to production");
            }
        }
    }
    // Each once: the plan keeps waiting and the circuit stays open, with no repeat.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.count(), 3);

    let r = api.post("test_notification_channel", json!({"channel_uuid": hook}));
    assert_ok(&r);
    let got = wait_requests(&rx, 4);
    let test = got.iter().find(|g| g.json()["type"] == "alert.test").expect("the test alert");
    assert_signed(test, &secret);
    assert_eq!(alerts(&api).len(), 3, "a test send is not in the history");
}

#[test]
fn a_failure_rate_rule_alerts_a_discord_channel() {
    let d = TestDaemon::start();
    let api = d.client();
    let discord = Receiver::start();
    let (chan, _) = channel(
        &api,
        json!({"channel_name": "discord", "type": "discord",
            "url": format!("http://{}/api/webhooks/1/tok3n", discord.host())}),
    );
    let failing = Receiver::start();
    failing.set_script(Script::status(503));
    let domain = api.add_domain(&failing.host());
    let template = api.add_template(&domain, "flaky");
    rule(
        &api,
        json!({"rule_type": "failure_rate", "channel_uuids": [chan], "domain_uuid": domain,
            "threshold_percent": 50, "window_seconds": 300, "min_count": 2}),
    );
    for _ in 0..2 {
        assert_ok(&api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": {}})));
    }
    let got = wait_requests(&discord, 1);
    assert_eq!(got[0].path, "/api/webhooks/1/tok3n");
    let content = got[0].json()["content"].as_str().expect("Discord's content").to_string();
    assert!(content.contains("Failure rate 100% (2 of 2 executions)"), "{content}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(discord.count(), 1, "once per cooldown");
}

#[test]
fn a_lateness_rule_fires_on_a_late_fire() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let (hook, _) = webhook_channel(&api, &rx, "ops");
    let target = Receiver::start();
    let template = api.add_template(&api.add_domain(&target.host()), "job");
    rule(&api, json!({"rule_type": "lateness", "channel_uuids": [hook], "lateness_ms": 1000, "window_seconds": 600}));
    // A clocked fire 5 s in the past (within its misfire grace) runs at once, ~5 s late.
    let at = jiff::Timestamp::from_second(crate::support::unix_now_s() - 5).expect("an instant");
    let r = api.post(
        "add_clocked_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template,
            "clocked_run_at": at.to_string(), "clocked_timezone": "UTC", "misfire_grace_seconds": 60}),
    );
    assert_ok(&r);
    let got = wait_requests(&rx, 1);
    let b = got[0].json();
    assert_eq!(b["rule_type"], "lateness", "{b}");
    assert!(b["signal"]["p99_ms"].as_i64().unwrap() > 1000, "{b}");
}

#[test]
fn inputs_are_checked_and_name_the_field() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    // Channels.
    assert_invalid(
        &api.post("add_notification_channel", json!({"channel_name": "x", "type": "slack", "url": "ftp://x/y"})),
        "url",
    );
    let r = api.post("add_notification_channel", json!({"channel_name": "x", "type": "slack"}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("url"), "{}", r.text);
    assert_invalid(
        &api.post("add_notification_channel", json!({"channel_name": "x", "type": "pager", "url": "http://a/"})),
        "type",
    );
    assert_invalid(
        &api.post(
            "add_notification_channel",
            json!({"channel_name": "x", "type": "email", "email_to": "a@example.com"}),
        ),
        "type",
    );
    assert_invalid(
        &api.post(
            "add_notification_channel",
            json!({"channel_name": "x", "type": "webhook", "url": "http://a/", "email_to": "a@b.c"}),
        ),
        "email_to",
    );
    let (hook, _) = webhook_channel(&api, &rx, "ops");
    // Rules.
    assert_invalid(
        &api.post("add_alert_rule", json!({"rule_type": "failure_rate", "channel_uuids": [hook]})),
        "threshold_percent",
    );
    assert_invalid(
        &api.post(
            "add_alert_rule",
            json!({"rule_type": "monitor_down", "channel_uuids": [hook], "waiting_seconds": 5}),
        ),
        "waiting_seconds",
    );
    assert_invalid(
        &api.post("add_alert_rule", json!({"rule_type": "monitor_down", "channel_uuids": []})),
        "channel_uuids",
    );
    let missing = "0193a4e3-37f8-781a-9bfc-f708192a3b4e";
    let r = api.post("add_alert_rule", json!({"rule_type": "monitor_down", "channel_uuids": [missing]}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("channel_uuids"), "{}", r.text);
    let r = api
        .post("add_alert_rule", json!({"rule_type": "monitor_down", "channel_uuids": [hook], "monitor_uuid": missing}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("monitor_uuid"), "{}", r.text);
    let domain = api.add_domain("example.com");
    assert_invalid(
        &api.post(
            "add_alert_rule",
            json!({"rule_type": "monitor_down", "channel_uuids": [hook], "domain_uuid": domain}),
        ),
        "domain_uuid",
    );
    let r = rule(&api, json!({"rule_type": "circuit_open", "channel_uuids": [hook], "domain_uuid": domain}));
    let details = api.post("get_alert_rule_details", json!({"alert_rule_uuid": r}));
    assert_ok(&details);
    assert_eq!(details.json["data"]["domain_uuid"], domain.as_str());
    assert_eq!(details.json["data"]["cooldown_seconds"], 300);
    let updated = api.post("update_alert_rule", json!({"alert_rule_uuid": r, "cooldown_seconds": 60}));
    assert_ok(&updated);
    assert_eq!(updated.json["data"]["cooldown_seconds"], 60);
    // A channel a rule uses cannot be deleted.
    let r2 = api.post("delete_notification_channel", json!({"channel_uuid": hook}));
    assert_eq!(r2.status, 409, "{}", r2.text);
    assert_eq!(r2.json["alert_rule_uuid"], r.as_str());
    assert_ok(&api.post("delete_alert_rule", json!({"alert_rule_uuid": r})));
    assert_ok(&api.post("delete_notification_channel", json!({"channel_uuid": hook})));
    // Another brand sees nothing.
    let (hook2, _) = webhook_channel(&api, &rx, "again");
    let other = d.new_brand("other", None);
    let other = api.as_brand(&other.brand, &other.key);
    let r = other.post("get_notification_channel_details", json!({"channel_uuid": hook2}));
    assert_eq!(r.status, 404, "{}", r.text);
    let r = other.post("add_alert_rule", json!({"rule_type": "monitor_down", "channel_uuids": [hook2]}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(other.total("get_notification_channels_paginated"), 0);
}

#[test]
fn a_failed_workflow_run_alerts_once_and_its_failed_step_does_not_alert_on_its_own() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let (hook, _) = webhook_channel(&api, &rx, "ops");
    let failing = Receiver::start();
    failing.set_script(Script::status(500));
    let domain = api.add_domain(&failing.host());
    let r = api.post(
        "add_workflow_template",
        json!({"workflow_name": "nightly", "workflow_description": "test", "runtype": "fifo_sequential"}),
    );
    assert_ok(&r);
    let wf = r.json["workflow_uuid"].as_str().unwrap().to_string();
    let r = api.post(
        "add_workflow_step",
        json!({"index": 0, "workflow_uuid": wf, "webhook_name": "step a", "webhook_description": "a step",
            "method": "POST", "path": "/a", "domain_uuid": domain, "human_approval_required": false,
            "step_identifier": "a", "on_success_next_step_identifier": "", "on_fail_next_step_identifier": "",
            "delay_to_next_step": 0, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
            "request_timeout_in_milliseconds": 5000, "request_body_json": {}, "headers_json": {},
            "query_params_json": {}}),
    );
    assert_ok(&r);
    // Brand-wide: a step's failure would match too if it raised one.
    rule(&api, json!({"rule_type": "execution_failed", "channel_uuids": [hook]}));
    let r = api.post("execute_workflow", json!({"workflow_uuid": wf, "initial_context": {}}));
    assert_ok(&r);
    let run = r.json["run_uuid"].as_str().unwrap().to_string();
    let got = wait_requests(&rx, 1);
    let b = got[0].json();
    assert_eq!(b["signal"]["execution_uuid"], run.as_str(), "{b}");
    assert_eq!(b["signal"]["target_kind"], "workflow");
    assert_eq!(b["signal"]["target_uuid"], wf.as_str());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.count(), 1, "the run alerts, its step does not");
}

#[test]
fn a_stalled_pipeline_alerts_monitor_down_rules_and_a_budget_overrun_alerts_budget_exceeded() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let (hook, _) = webhook_channel(&api, &rx, "ops");
    let r = api.post(
        "add_monitor",
        json!({"monitor_name": "etl", "kind": "pipeline", "stages": ["a", "b"], "timeout_seconds": 1,
            "budget_per_instance_usd": 0.01}),
    );
    assert_ok(&r);
    let (id, url) =
        (r.json["monitor_uuid"].as_str().unwrap().to_string(), r.json["ping_url"].as_str().unwrap().to_string());
    rule(&api, json!({"rule_type": "monitor_down", "channel_uuids": [hook], "monitor_uuid": id}));
    rule(&api, json!({"rule_type": "budget_exceeded", "channel_uuids": [hook], "monitor_uuid": id}));
    assert_eq!(api.plain_get(&format!("{url}/stage/a?cost_usd=0.02")).status, 200);
    let got = wait_requests(&rx, 2);
    let mut kinds: Vec<String> = got.iter().map(|g| g.json()["signal"]["kind"].as_str().unwrap().to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["budget_exceeded", "stalled"]);
    let stalled = got.iter().map(|g| g.json()).find(|b| b["signal"]["kind"] == "stalled").unwrap();
    assert_eq!(stalled["rule_type"], "monitor_down");
    assert_eq!(stalled["signal"]["monitor_uuid"], id.as_str());
    assert!(stalled["summary"].as_str().unwrap().contains("\"etl\" stalled"), "{stalled}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.count(), 2);
}

#[test]
fn an_alert_sent_to_a_ping_url_of_the_daemon_is_refused_and_does_not_loop() {
    let d = TestDaemon::start();
    let api = d.client();
    let (id, url) = monitor(&api, 3600, 60);
    ping(&api, &url);
    wait_status(&api, &id, "up");
    // A monitor_down alert pings the monitor back up, a monitor_up alert fails it again, with
    // no cooldown: without the guard this turns round as fast as the daemon can send.
    let (up, _) = channel(&api, json!({"channel_name": "up", "type": "webhook", "url": format!("{}{url}", d.base)}));
    let (fail, _) =
        channel(&api, json!({"channel_name": "fail", "type": "slack", "url": format!("{}{url}/fail", d.base)}));
    rule(&api, json!({"rule_type": "monitor_down", "channel_uuids": [up], "cooldown_seconds": 0}));
    rule(&api, json!({"rule_type": "monitor_up", "channel_uuids": [fail], "cooldown_seconds": 0}));
    let r = Api::send(api.bare(reqwest::Method::GET, &format!("{url}/fail")));
    assert_eq!(r.status, 200, "{}", r.text);
    wait_status(&api, &id, "down");
    // The channel's send reaches the ping route and is refused there.
    let refused = wait_for("the alert's send answered", POLL_MAX, || {
        let sent = alerts(&api).first().and_then(|a| a["execution_uuids"][0].as_str().map(str::to_string));
        let status = sent.and_then(|e| {
            let r = api.post("get_execution_details", json!({"execution_uuid": e}));
            r.json["data"]["attempts"][0]["status_code"].as_i64()
        });
        if status.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        status
    });
    assert_eq!(refused, 409);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(status(&api, &id), "down", "the refused alert did not ping the monitor up");
    let history = alerts(&api);
    assert_eq!(history.len(), 1, "one monitor_down alert, no round after it: {history:?}");
    // A request without the header still pings.
    ping(&api, &url);
    wait_status(&api, &id, "up");

    // The other routes an alert could feed back through refuse it too and write nothing: an
    // ingest URL (its subscriptions may ping) and PingPulse's approval requests.
    let (_, ingest) = crate::events::add_source(&api, json!({"source_name": "loop"}));
    let key = api.get("get_ping_key").json["ping_key"].as_str().expect("ping key").to_string();
    for path in [ingest.clone(), format!("/api/approvals?key={key}")] {
        let r = Api::send(
            api.bare(reqwest::Method::POST, &path)
                .header("x-hookwheel-alert", "monitor_down")
                .header("content-type", "application/json")
                .body(r#"{"context": "Deploy"}"#),
        );
        assert_eq!(r.status, 409, "{path}: {}", r.text);
        assert!(r.text.contains("alert loop"), "{}", r.text);
    }
    assert_eq!(api.get("get_events_paginated").json["data"], json!([]), "nothing ingested");
    assert_eq!(api.get("get_all_pending_approvals_paginated").json["data"], json!([]), "no approval opened");
}
