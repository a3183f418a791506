//! The delivery engine against the real binary and a loopback receiver: rendering with secrets
//! (and that they leak nowhere), failures before any request, retries and their timing,
//! `410`/`Retry-After`/redirects/timeouts/resets, response capture limits, retries across a
//! `kill -9`, the per-domain traffic guard (concurrency cap, spill to the store, rate limit),
//! Standard Webhooks signatures checked by the official Python library, the egress policy,
//! the dead-letter queue (retry/cancel) and delivery metrics.
//!
//! Executions are started with `execute_webhook_template` and observed with
//! `get_execution_details`. Timing assertions are correctness bounds (a retry must not come
//! before its delay, nor absurdly late), never speed tests.

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::python::python;
use crate::receiver::{Received, Receiver, Script};
use crate::support::netns::{self, METADATA_NAME};
use crate::support::{Api, TestDaemon, assert_ok, now, unix_now_s};

/// Config every daemon here runs with: no API rate limit (the bulk tests start hundreds of
/// executions and poll a lot), hookwheel's own debug logs on (so the leak check sees them).
const BASE_CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n\n[log]\nlevel = \"info,hookwheel=debug\"\n";

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(20);

fn daemon(extra: &str) -> TestDaemon {
    TestDaemon::start_with(&format!("{BASE_CONFIG}\n{extra}"))
}

#[allow(clippy::disallowed_methods)] // compared with the receiver's real-clock arrival times
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("not an RFC 3339 instant: {s:?}: {e}")).as_millisecond()
}

/// A template on `domain` (`POST /hook`, empty body, no retries) with `fields` merged over.
fn template(api: &Api, domain: &str, fields: Value) -> String {
    let mut body = json!({"webhook_name": "delivery", "method": "POST", "path": "/hook",
        "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
        "request_timeout_in_milliseconds": 3000, "request_body_json": {}, "headers_json": {},
        "query_params_json": {}});
    for (k, v) in fields.as_object().expect("fields object") {
        body[k] = v.clone();
    }
    let r = api.post("add_webhook_template", body);
    assert_ok(&r);
    r.json["webhook_uuid"].as_str().unwrap().to_string()
}

/// Adds an http domain for `host` with the given traffic-guard fields; returns its uuid.
fn domain_with(api: &Api, host: &str, limits: Value) -> String {
    let mut body = json!({"protocol_type": "http", "domain": host});
    for (k, v) in limits.as_object().expect("limits object") {
        body[k] = v.clone();
    }
    let r = api.post("add_domain", body);
    assert_ok(&r);
    r.json["domain_uuid"].as_str().unwrap().to_string()
}

fn execute(api: &Api, template: &str, context: Value) -> String {
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": context}));
    assert_ok(&r);
    r.json["execution_uuid"].as_str().unwrap_or_else(|| panic!("no execution_uuid: {}", r.text)).to_string()
}

/// `get_execution_details` → `data`.
fn details(api: &Api, id: &str) -> Value {
    let r = api.post("get_execution_details", json!({"execution_uuid": id}));
    assert_ok(&r);
    r.json["data"].clone()
}

const FINAL: &[&str] = &["succeeded", "failed", "cancelled"];

/// Polls until the execution reaches a final status; returns its details.
fn wait_final(api: &Api, id: &str, timeout: Duration) -> Value {
    let mut last = Value::Null;
    let found = poll(timeout, || {
        last = details(api, id);
        FINAL.contains(&last["status"].as_str().unwrap_or("")).then(|| last.clone())
    });
    found.unwrap_or_else(|| panic!("execution {id} did not finish within {timeout:?}: {last:#}"))
}

/// Polls until the execution has `n` attempts and a next attempt time (waiting to retry).
fn wait_retry_pending(api: &Api, id: &str, n: u64) -> Value {
    let mut last = Value::Null;
    poll(WAIT, || {
        last = details(api, id);
        (last["attempt_count"] == n && last["next_attempt_at"].is_string()).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("execution {id} never waited for retry {n}: {last:#}"))
}

/// Polls `f` every 20 ms until it returns `Some` or `timeout` passes.
fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn attempts(e: &Value) -> &Vec<Value> {
    e["attempts"].as_array().unwrap_or_else(|| panic!("no attempts array: {e:#}"))
}

/// Gaps between consecutive arrivals, ms.
fn gaps(reqs: &[Received]) -> Vec<i64> {
    reqs.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect()
}

/// `meta.total_count` of an execution list query.
fn count_executions(api: &Api, query: &str) -> u64 {
    let r = api.get(&format!("get_executions_paginated?{query}&page=1"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["meta"]["total_count"].as_u64().expect("total_count")
}

/// The daemon, its API client and a receiver with a plain domain on it.
struct Env {
    d: TestDaemon,
    api: Api,
    rx: Receiver,
    domain: String,
}

fn env(extra: &str) -> Env {
    env_on(daemon(extra))
}

fn env_on(d: TestDaemon) -> Env {
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    Env { d, api, rx, domain }
}

// 1 ------------------------------------------------------------------------------------------

#[test]
fn secrets_reach_the_receiver_only_and_values_keep_their_types() {
    // Every log line of every crate, at trace level, is searched for the secrets below.
    let e = env_on(TestDaemon::start_with("[api]\nrate_limit_per_minute = 0\n\n[log]\nlevel = \"trace\"\n"));
    let api = &e.api;
    let tag = now_ms();
    let secrets = [
        ("path_tok", format!("PathSecret{tag}x7")),
        ("hdr_tok", format!("HeaderSecret{tag}q2")),
        ("query_tok", format!("QuerySecret{tag}k9")),
        ("body_tok", format!("BodySecret{tag}z4")),
    ];
    for (k, v) in &secrets {
        api.add_secret(k, v);
    }
    let fields = json!({
        "path": "/hook/{{ #path_tok }}",
        "headers_json": {"authorization": "Bearer {{ #hdr_tok }}", "x-count": "{{ initial.n }}"},
        "query_params_json": {"key": "{{#query_tok}}", "n": "{{ n }}"},
        "request_body_json": {"n": "{{ initial.n }}", "obj": "{{ initial.obj }}",
            "text": "n is {{ initial.n }}!", "secret": "{{ #body_tok }}",
            "nested": {"list": ["{{ initial.obj.b }}", "x-{{ #body_tok }}"]}},
    });
    let t = template(api, &e.domain, fields.clone());
    // The same request to a receiver that resets the connection and to a closed port: the
    // recorded errors must not carry the rendered URL (secrets in its path and query).
    let resetting = Receiver::start();
    resetting.set_script(Script::reset());
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let failing: Vec<String> = [resetting.host(), format!("127.0.0.1:{closed_port}")]
        .iter()
        .map(|host| {
            let t = template(api, &api.add_domain(host), fields.clone());
            execute(api, &t, json!({"n": 1, "obj": {"b": "c"}}))
        })
        .collect();
    // A schedule on the template (far in the future), so its detail responses are searched too.
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": t, "interval_value": 1,
               "interval_period": "hour", "is_one_off_task": false,
               "initial_context_template": {"n": 1}}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().unwrap().to_string();

    let ctx = json!({"n": 5, "obj": {"a": [1, 2], "b": "c"}});
    let id = execute(api, &t, ctx.clone());
    let done = wait_final(api, &id, WAIT);
    assert_eq!(done["status"], "succeeded", "{done:#}");

    let reqs = e.rx.requests();
    assert_eq!(reqs.len(), 1, "one request");
    let got = &reqs[0];
    assert_eq!(got.method, "POST");
    let (path, query) = got.path.split_once('?').expect("a query string");
    assert_eq!(path, format!("/hook/{}", secrets[0].1), "secret in the path");
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort();
    assert_eq!(pairs, [format!("key={}", secrets[2].1).as_str(), "n=5"], "secret and number in the query");
    assert_eq!(got.header("authorization"), Some(format!("Bearer {}", secrets[1].1).as_str()), "secret in a header");
    assert_eq!(got.header("x-count"), Some("5"));
    assert_eq!(
        got.json(),
        json!({"n": 5, "obj": {"a": [1, 2], "b": "c"}, "text": "n is 5!", "secret": secrets[3].1,
               "nested": {"list": ["c", format!("x-{}", secrets[3].1)]}}),
        "a whole placeholder keeps the value's type (number, object); embedded ones become text"
    );

    // The record shows the placeholders where secrets went in.
    let a = &attempts(&done)[0];
    let req = &a["request"];
    assert!(req["url"].as_str().unwrap().ends_with("/hook/{{ #path_tok }}"), "{req:#}");
    assert_eq!(req["headers"]["authorization"], "Bearer {{ #hdr_tok }}");
    assert_eq!(req["query"]["key"], "{{ #query_tok }}");
    assert_eq!(req["body"]["secret"], "{{ #body_tok }}");
    assert_eq!(req["body"]["n"], 5);

    for id in &failing {
        let f = wait_final(api, id, WAIT);
        assert_eq!(f["status"], "failed", "{f:#}");
        assert!(attempts(&f)[0]["error"].as_str().is_some_and(|s| !s.is_empty()), "{f:#}");
    }
    assert_eq!(resetting.count(), 1, "the resetting receiver saw the request");

    // Nowhere else: logs, execution views, template and schedule views, the store file.
    let log = e.d.output();
    assert!(log.contains(" TRACE ") && log.contains("attempt ended"), "the daemon did not log at trace level:\n{log}");
    let mut texts = vec![
        ("daemon output", e.d.output()),
        ("get_execution_details", api.post("get_execution_details", json!({"execution_uuid": id})).text),
        ("get_executions_paginated", api.get("get_executions_paginated?page=1").text),
        ("single_webhook_template_detail", api.post("single_webhook_template_detail", json!({"webhook_uuid": t})).text),
        ("get_webhook_template_paginated", api.get("get_webhook_template_paginated?page=1").text),
        (
            "get_single_schedule_details",
            api.post("get_single_schedule_details", json!({"schedule_uuid": schedule})).text,
        ),
        ("get_schedules_paginated", api.get("get_schedules_paginated?page=1").text),
        ("get_secrets_paginated", api.get("get_secrets_paginated?page=1").text),
    ];
    for id in &failing {
        texts.push((
            "get_execution_details of a failed attempt",
            api.post("get_execution_details", json!({"execution_uuid": id})).text,
        ));
        texts.push(("hookwheel executions show (failed)", e.d.cli(&["executions", "show", id]).1));
    }
    // The operator's CLI views, as text and JSON.
    for args in [
        vec!["executions", "show", id.as_str()],
        vec!["executions", "show", id.as_str(), "--json"],
        vec!["executions", "list", "--json"],
        vec!["executions", "list"],
        vec!["schedules", "show", schedule.as_str(), "--json"],
        vec!["status", "--json"],
    ] {
        let (code, out, err) = e.d.cli(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        texts.push(("a CLI view", out));
    }
    for (what, text) in &texts {
        assert!(text.len() > 20, "{what} answered nothing to search: {text:?}");
        for (k, v) in &secrets {
            if let Some(at) = text.find(v.as_str()) {
                let from = text.floor_char_boundary(at.saturating_sub(120));
                let to = text.ceil_char_boundary((at + v.len() + 40).min(text.len()));
                panic!("secret {k} appears in {what}: …{}…", &text[from..to]);
            }
        }
    }
    let store = std::fs::read(e.d.store_file()).expect("read the store file");
    for (k, v) in &secrets {
        assert!(!store.windows(v.len()).any(|w| w == v.as_bytes()), "secret {k} is in the store file in plaintext");
    }
}

// 2 ------------------------------------------------------------------------------------------

#[test]
fn unresolvable_variables_and_missing_secrets_fail_before_any_request() {
    let e = env("");
    let api = &e.api;
    let gone = api.add_secret("gone", "was-here");
    let r = api.delete("delete_secret", json!({"secret_uuid": gone}));
    assert_ok(&r);
    let cases = [
        ("initial.nope", json!({"request_body_json": {"x": "{{ initial.nope }}"}})),
        ("#never_added", json!({"headers_json": {"authorization": "Bearer {{ #never_added }}"}})),
        ("#gone", json!({"path": "/hook/{{ #gone }}"})),
    ];
    let mut ids = Vec::new();
    for (name, fields) in &cases {
        let mut fields = fields.clone();
        fields["max_retries"] = json!(3);
        let t = template(api, &e.domain, fields);
        ids.push((name, execute(api, &t, json!({"n": 1}))));
    }
    for (name, id) in &ids {
        let done = wait_final(api, id, WAIT);
        assert_eq!(done["status"], "failed", "{name}: {done:#}");
        let reason = done["reason"].as_str().unwrap_or("");
        assert!(reason.contains(*name), "{name}: the reason names the variable: {reason:?}");
        assert_eq!(done["attempt_count"], 0, "{name}: no attempt: {done:#}");
        assert_eq!(attempts(&done).len(), 0, "{name}");
        assert!(done["next_attempt_at"].is_null(), "{name}: not retried");
    }
    assert_eq!(e.rx.count(), 0, "the receiver got nothing");
}

// 3 ------------------------------------------------------------------------------------------

/// The engine keeps templates and domains between writes of them: each change (a template's
/// path or domain, a domain's host) is used by the very next execution.
#[test]
fn every_change_of_a_template_or_its_domain_is_used_by_the_next_execution() {
    let e = env("");
    let t = template(&e.api, &e.domain, json!({"path": "/first"}));
    let delivered = |rx: &Receiver, n: usize| {
        poll(WAIT, || (rx.requests().len() >= n).then(|| rx.requests()))
            .unwrap_or_else(|| panic!("{n} deliveries did not arrive"))
    };
    for (i, path) in ["/first", "/first", "/second", "/third"].into_iter().enumerate() {
        if i >= 2 {
            assert_ok(&e.api.post("update_webhook_template", json!({"webhook_uuid": t, "path": path})));
        }
        let done = wait_final(&e.api, &execute(&e.api, &t, json!({})), WAIT);
        assert_eq!(done["status"], "succeeded", "{done:#}");
        assert_eq!(delivered(&e.rx, i + 1)[i].path, path, "delivery {i} went to the template as it was");
    }
    // The domain renamed onto another receiver: the next execution goes there.
    let rx2 = Receiver::start();
    let r =
        e.api.post("update_domain", json!({"domain_uuid": e.domain, "domain": rx2.host(), "protocol_type": "http"}));
    assert_ok(&r);
    let done = wait_final(&e.api, &execute(&e.api, &t, json!({})), WAIT);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(delivered(&rx2, 1)[0].path, "/third");
    assert_eq!(e.rx.requests().len(), 4, "nothing more reached the old host");
    // Moved to a new domain on the first receiver again.
    let back = e.api.add_domain(&e.rx.host());
    assert_ok(&e.api.post("update_webhook_template", json!({"webhook_uuid": t, "domain_uuid": back})));
    let done = wait_final(&e.api, &execute(&e.api, &t, json!({})), WAIT);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(delivered(&e.rx, 5).len(), 5);
    assert_eq!(rx2.requests().len(), 1);
}

#[test]
fn linear_retries_wait_delay_times_n_and_end_in_success() {
    let e = env("");
    let t = template(&e.api, &e.domain, json!({"max_retries": 2, "retry_delay": 1, "retry_backoff_mode": "linear"}));
    e.rx.push_scripts([Script::status(500), Script::status(500)]);
    let id = execute(&e.api, &t, json!({}));
    let done = wait_final(&e.api, &id, WAIT);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let reqs = e.rx.requests();
    assert_eq!(reqs.len(), 3, "1 attempt + 2 retries");
    let g = gaps(&reqs);
    assert!(g[0] >= 1000 && g[0] < 4000, "retry 1 after 1 s: {g:?}");
    assert!(g[1] >= 2000 && g[1] < 5000, "retry 2 after 2 s: {g:?}");
    let codes: Vec<Value> = attempts(&done).iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(500), json!(200)], "{done:#}");
    let numbers: Vec<Value> = attempts(&done).iter().map(|a| a["attempt"].clone()).collect();
    assert_eq!(numbers, [json!(1), json!(2), json!(3)]);
    assert!(done["next_attempt_at"].is_null());
    let keys: HashSet<&str> = reqs.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    assert_eq!(keys.len(), 1, "every attempt carries the same Idempotency-Key");
}

#[test]
fn exponential_retries_double_the_delay_and_exhaust_into_failed() {
    let e = env("");
    let t =
        template(&e.api, &e.domain, json!({"max_retries": 3, "retry_delay": 1, "retry_backoff_mode": "exponential"}));
    e.rx.set_script(Script::status(500));
    let id = execute(&e.api, &t, json!({}));
    let done = wait_final(&e.api, &id, Duration::from_secs(30));
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_eq!(attempts(&done).len(), 4, "1 attempt + 3 retries: {done:#}");
    for a in attempts(&done) {
        assert_eq!(a["status_code"], 500);
    }
    let reqs = e.rx.requests();
    assert_eq!(reqs.len(), 4);
    let g = gaps(&reqs);
    for (i, want) in [1000, 2000, 4000].into_iter().enumerate() {
        assert!(g[i] >= want && g[i] < want + 3000, "retry {} after {want} ms: {g:?}", i + 1);
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.rx.count(), 4, "no attempt after the retries ran out");
}

// 4 ------------------------------------------------------------------------------------------

#[test]
fn gone_410_stops_retrying() {
    let e = env("");
    let t = template(&e.api, &e.domain, json!({"max_retries": 3, "retry_delay": 1}));
    e.rx.set_script(Script::status(410));
    let id = execute(&e.api, &t, json!({}));
    let done = wait_final(&e.api, &id, WAIT);
    assert_eq!(done["status"], "failed", "{done:#}");
    let a = attempts(&done);
    assert_eq!(a.len(), 1, "{done:#}");
    assert_eq!(a[0]["status_code"], 410);
    assert!(a[0]["error"].as_str().unwrap_or("").contains("410"), "the error mentions 410: {:#}", a[0]);
    assert!(done["next_attempt_at"].is_null());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.rx.count(), 1, "no retry after 410");
}

// 5 ------------------------------------------------------------------------------------------

#[test]
fn retry_after_is_honoured_on_429_and_503() {
    let d = daemon("");
    let api = d.client();
    let mut runs = Vec::new();
    for status in [429, 503] {
        let rx = Receiver::start();
        let domain = api.add_domain(&rx.host());
        let t = template(&api, &domain, json!({"max_retries": 2, "retry_delay": 1, "retry_backoff_mode": "linear"}));
        rx.push_script(Script::status(status).with_header("Retry-After", "2"));
        runs.push((status, rx, execute(&api, &t, json!({}))));
    }
    for (status, rx, id) in &runs {
        let done = wait_final(&api, id, WAIT);
        assert_eq!(done["status"], "succeeded", "{status}: {done:#}");
        let codes: Vec<Value> = attempts(&done).iter().map(|a| a["status_code"].clone()).collect();
        assert_eq!(codes, [json!(status), json!(200)], "{done:#}");
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 2, "{status}");
        let g = gaps(&reqs)[0];
        assert!(
            (2000..5000).contains(&g),
            "{status}: the retry waits Retry-After (2 s), not retry_delay (1 s): {g} ms"
        );
    }
}

#[test]
fn retry_after_is_honoured_in_every_http_date_form() {
    // RFC 9110 §5.6.7: IMF-fixdate, RFC 850 and asctime name the same instant; the retry is
    // scheduled exactly at it (whole seconds, a minute ahead, so no rounding or race). A value
    // in no form is ignored and the template's backoff (1 s) applies.
    let d = daemon("");
    let api = d.client();
    let at = jiff::Timestamp::from_second(now_ms() / 1000 + 60).unwrap();
    let utc = at.to_zoned(jiff::tz::TimeZone::UTC);
    let forms = [
        ("IMF-fixdate", utc.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        ("RFC 850", utc.strftime("%A, %d-%b-%y %H:%M:%S GMT").to_string()),
        ("asctime", utc.strftime("%a %b %e %H:%M:%S %Y").to_string()),
        ("garbage", "in a minute".to_string()),
    ];
    let mut runs = Vec::new();
    for (form, value) in forms {
        let rx = Receiver::start();
        let domain = api.add_domain(&rx.host());
        let t = template(&api, &domain, json!({"max_retries": 1, "retry_delay": 1, "retry_backoff_mode": "linear"}));
        rx.push_script(Script::status(503).with_header("Retry-After", &value));
        runs.push((form, value, rx, execute(&api, &t, json!({}))));
    }
    for (form, value, _rx, id) in &runs {
        if *form == "garbage" {
            let done = wait_final(&api, id, WAIT);
            let a = attempts(&done);
            assert_eq!(a.len(), 2, "{form}: retried after the backoff: {done:#}");
            let gap = ms(a[1]["started_at"].as_str().unwrap()) - ms(a[0]["started_at"].as_str().unwrap());
            assert!((1000..10_000).contains(&gap), "{form} {value:?}: the backoff (1 s) applies: {gap} ms");
            continue;
        }
        let waiting = wait_retry_pending(&api, id, 1);
        assert_eq!(
            ms(waiting["next_attempt_at"].as_str().unwrap()),
            at.as_millisecond(),
            "{form} {value:?}: the retry is due at the date: {waiting:#}"
        );
        assert_ok(&api.post("cancel_execution", json!({"execution_uuid": id})));
    }
}

// 6 ------------------------------------------------------------------------------------------

#[test]
fn redirects_fail_with_the_location_recorded_and_are_not_followed() {
    let e = env("");
    let location = format!("http://{}/elsewhere", e.rx.host());
    e.rx.set_script(Script::status(302).with_header("Location", &location));
    let t = template(&e.api, &e.domain, json!({"max_retries": 0}));
    let id = execute(&e.api, &t, json!({}));
    let done = wait_final(&e.api, &id, WAIT);
    assert_eq!(done["status"], "failed", "a 3xx is a failure: {done:#}");
    let a = &attempts(&done)[0];
    assert_eq!(a["status_code"], 302);
    assert!(a["error"].as_str().unwrap_or("").contains(&location), "the Location is recorded: {a:#}");
    std::thread::sleep(Duration::from_millis(300));
    let paths: Vec<String> = e.rx.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/hook"], "the redirect was not followed");
}

// 7 ------------------------------------------------------------------------------------------

#[test]
fn timeouts_and_connection_resets_fail_the_attempt() {
    let d = daemon("");
    let api = d.client();

    let slow = Receiver::start();
    slow.set_script(Script::default().with_delay(Duration::from_secs(2)));
    let t = template(
        &api,
        &api.add_domain(&slow.host()),
        json!({"max_retries": 0, "request_timeout_in_milliseconds": 500}),
    );
    let timeout_id = execute(&api, &t, json!({}));

    let resetting = Receiver::start();
    resetting.push_script(Script::reset());
    let t = template(&api, &api.add_domain(&resetting.host()), json!({"max_retries": 2, "retry_delay": 1}));
    let reset_id = execute(&api, &t, json!({}));

    let done = wait_final(&api, &timeout_id, WAIT);
    assert_eq!(done["status"], "failed", "{done:#}");
    let a = &attempts(&done)[0];
    assert!(a["status_code"].is_null(), "{a:#}");
    assert!(
        a["error"].as_str().unwrap_or("").to_lowercase().contains("timeout"),
        "the error mentions the timeout: {a:#}"
    );
    let latency = a["latency_ms"].as_i64().unwrap();
    assert!(
        (400..1900).contains(&latency),
        "the attempt ended at the 500 ms timeout, not the 2 s answer: {latency} ms"
    );

    let done = wait_final(&api, &reset_id, WAIT);
    assert_eq!(done["status"], "succeeded", "retried after the reset: {done:#}");
    let a = attempts(&done);
    assert_eq!(a.len(), 2, "{done:#}");
    assert!(a[0]["status_code"].is_null(), "{:#}", a[0]);
    assert!(a[0]["error"].as_str().is_some_and(|s| !s.is_empty()), "the reset is recorded as an error: {:#}", a[0]);
    assert_eq!(a[1]["status_code"], 200);
    assert_eq!(resetting.count(), 2);
}

// 8 ------------------------------------------------------------------------------------------

#[test]
fn oversized_responses_are_cut_to_a_short_excerpt() {
    for (extra, most) in [("", 2048), ("[delivery]\nmax_response_bytes = 1000\n", 1000)] {
        let e = env(extra);
        e.rx.set_script(Script::default().with_body_bytes(1 << 20));
        let t = template(&e.api, &e.domain, json!({"max_retries": 0}));
        let id = execute(&e.api, &t, json!({}));
        let done = wait_final(&e.api, &id, WAIT);
        assert_eq!(done["status"], "succeeded", "{extra}: {done:#}");
        let excerpt = attempts(&done)[0]["response_excerpt"]
            .as_str()
            .unwrap_or_else(|| panic!("no excerpt: {done:#}"))
            .to_string();
        assert!(
            !excerpt.is_empty() && excerpt.len() <= most && excerpt.bytes().all(|b| b == b'x'),
            "{extra:?}: an excerpt of at most {most} bytes, got {}",
            excerpt.len()
        );
        assert_eq!(attempts(&done)[0]["status_code"], 200);
        assert!(e.d.output().len() < 200_000, "the body did not go to the log");
    }
}

// 9 ------------------------------------------------------------------------------------------

#[test]
fn a_retry_waiting_during_kill_9_happens_once_after_restart() {
    let mut e = env("");
    let t = template(&e.api, &e.domain, json!({"max_retries": 2, "retry_delay": 5, "retry_backoff_mode": "linear"}));
    e.rx.push_script(Script::status(500));
    let id = execute(&e.api, &t, json!({}));
    let waiting = wait_retry_pending(&e.api, &id, 1);
    let next_at = ms(waiting["next_attempt_at"].as_str().unwrap());
    e.d.kill9();
    e.d.restart();
    let api = e.d.client();

    assert_eq!(e.rx.wait_for(2, Duration::from_secs(30)), 2, "the retry happened after the restart");
    let done = wait_final(&api, &id, WAIT);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(attempts(&done).len(), 2, "{done:#}");
    let reqs = e.rx.requests();
    assert!(reqs[1].at_ms >= next_at, "the retry came {} ms before next_attempt_at", next_at - reqs[1].at_ms);
    assert!(reqs[1].at_ms < next_at + 5000, "the retry came {} ms after next_attempt_at", reqs[1].at_ms - next_at);
    assert_eq!(reqs[0].header("idempotency-key"), reqs[1].header("idempotency-key"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(e.rx.count(), 2, "exactly one more request, not two");
}

// 10 -----------------------------------------------------------------------------------------

/// Starts `n` executions of `template` from 4 client threads; returns their ids.
fn execute_many(api: &Api, template: &str, n: usize) -> Vec<String> {
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let (api, template) = (api.clone(), template.to_string());
            std::thread::spawn(move || {
                (k..n).step_by(4).map(|i| execute(&api, &template, json!({"i": i}))).collect::<Vec<_>>()
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().expect("client thread")).collect()
}

fn concurrency_cap_holds(extra: &str) {
    const N: usize = 200;
    let d = daemon(extra);
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(Script::default().with_delay(Duration::from_millis(300)));
    let domain = domain_with(&api, &rx.host(), json!({"concurrency_control_enabled": true, "max_concurrent_jobs": 3}));
    let t = template(&api, &domain, json!({"max_retries": 0}));
    let ids = execute_many(&api, &t, N);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), N);

    let query = format!("target_uuid={t}&filter_status=succeeded");
    let mut succeeded = 0;
    let all = poll(Duration::from_secs(70), || {
        succeeded = count_executions(&api, &query);
        (succeeded == N as u64).then_some(())
    });
    assert!(all.is_some(), "{extra:?}: only {succeeded} of {N} executions succeeded; received {}", rx.count());
    assert_eq!(count_executions(&api, &format!("target_uuid={t}")), N as u64);
    std::thread::sleep(Duration::from_millis(500));
    let reqs = rx.requests();
    let keys: HashSet<&str> = reqs.iter().map(|r| r.header("idempotency-key").expect("Idempotency-Key")).collect();
    assert_eq!(reqs.len(), N, "{extra:?}: every execution arrived exactly once");
    assert_eq!(keys.len(), N, "{extra:?}: distinct Idempotency-Keys");
    let max = rx.max_in_flight();
    assert!(max <= 3, "{extra:?}: {max} requests in flight at once, cap is 3");
    assert_eq!(max, 3, "{extra:?}: with 200 waiting, the cap of 3 should be used in full");
}

#[test]
fn concurrency_cap_limits_requests_in_flight() {
    concurrency_cap_holds("");
}

#[test]
fn concurrency_cap_with_a_small_memory_queue_spills_and_loses_nothing() {
    concurrency_cap_holds("[delivery]\nqueue_memory_max = 20\n");
}

// 11 -----------------------------------------------------------------------------------------

#[test]
fn rate_limit_spaces_request_starts_evenly() {
    const N: usize = 15;
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let domain = domain_with(&api, &rx.host(), json!({"rate_limit_enabled": true, "max_requests_per_second": 5}));
    let t = template(&api, &domain, json!({"max_retries": 0}));
    // One request first, so the burst reuses a pooled connection: otherwise the first one's
    // arrival is later by the connection setup, which shortens the first measured gap.
    execute(&api, &t, json!({"warm-up": true}));
    assert_eq!(rx.wait_for(1, WAIT), 1);
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..N {
        execute(&api, &t, json!({"i": i}));
    }
    assert_eq!(rx.wait_for(N + 1, Duration::from_secs(30)), N + 1);
    let mut at: Vec<i64> = rx.requests()[1..].iter().map(|r| r.at_ms).collect();
    at.sort();
    let g: Vec<i64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(g.iter().all(|x| *x >= 180), "request starts at 5/s are ~200 ms apart: {g:?}");
    assert!(at.windows(6).all(|w| w[5] - w[0] >= 950), "at most 5 starts in any one-second window: {g:?}");
    let total = at[N - 1] - at[0];
    assert!(total >= 2600, "15 starts at 5/s take ≥ 2.8 s, took {total} ms");
}

// 12 -----------------------------------------------------------------------------------------

/// Runs tests/sdk/verify_signature.py once per case (secret, request); true = verified.
fn verify_with_python(cases: &[(&str, &Received)]) -> Vec<bool> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/verify_signature.py");
    cases
        .iter()
        .map(|(secret, req)| {
            let headers: serde_json::Map<String, Value> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
                .iter()
                .filter_map(|h| req.header(h).map(|v| (h.to_string(), json!(v))))
                .collect();
            let input = json!({"secret": secret, "headers": headers,
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&req.body)});
            let mut child = Command::new(python())
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run verify_signature.py");
            child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            match out.status.code() {
                Some(0) if stdout.trim() == "verified" => true,
                Some(1) if stdout.starts_with("not verified") => false,
                _ => panic!("verify_signature.py failed: {stdout}{}", String::from_utf8_lossy(&out.stderr)),
            }
        })
        .collect()
}

fn signing_secret(api: &Api, domain: &str) -> Value {
    let r = api.post("get_domain_signing_secret", json!({"domain_uuid": domain}));
    assert_ok(&r);
    r.json["data"].clone()
}

#[test]
fn requests_are_signed_per_standard_webhooks() {
    let e = env("");
    let api = &e.api;
    let t = template(
        api,
        &e.domain,
        json!({"request_body_json": {"hello": "wörld", "n": "{{ initial.n }}", "list": [1, 2.5, null]}}),
    );
    let old = signing_secret(api, &e.domain)["signing_secret"].as_str().unwrap().to_string();
    assert!(old.starts_with("whsec_"), "{old}");

    let id = execute(api, &t, json!({"n": 7}));
    assert_eq!(wait_final(api, &id, WAIT)["status"], "succeeded");
    let first = e.rx.requests()[0].clone();
    let key = first.header("idempotency-key").expect("Idempotency-Key");
    assert_eq!(first.header("webhook-id"), Some(key));
    let ts: i64 = first.header("webhook-timestamp").expect("webhook-timestamp").parse().expect("unix seconds");
    assert!((ts - unix_now_s()).abs() < 60, "webhook-timestamp {ts} is not close to now");
    let sig = first.header("webhook-signature").expect("webhook-signature");
    assert!(sig.starts_with("v1,") && !sig.contains(' '), "one v1 signature: {sig}");
    assert_eq!(first.header("user-agent"), Some(concat!("hookwheel/", env!("CARGO_PKG_VERSION"))));

    let mut tampered = first.clone();
    tampered.body = br#"{"hello":"world","n":8}"#.to_vec();
    let mut wrong_id = first.clone();
    wrong_id.headers.insert("webhook-id".into(), "hw_manual_other".into());
    let wrong_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(
        verify_with_python(&[(&old, &first), (&old, &tampered), (&old, &wrong_id), (wrong_secret, &first)]),
        [true, false, false, false],
        "verifies; a tampered body, another id or another secret does not"
    );

    // Rotation: the new secret signs, the old one signs alongside during the overlap.
    let r = api.post("rotate_domain_signing_secret", json!({"domain_uuid": e.domain}));
    assert_ok(&r);
    let data = signing_secret(api, &e.domain);
    let new = data["signing_secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(data["active_secrets"].as_array().map(Vec::len), Some(2), "{data:#}");
    let id = execute(api, &t, json!({"n": 8}));
    assert_eq!(wait_final(api, &id, WAIT)["status"], "succeeded");
    let second = e.rx.requests()[1].clone();
    let sigs: Vec<&str> = second.header("webhook-signature").unwrap().split(' ').collect();
    assert_eq!(sigs.len(), 2, "two signatures during the overlap: {sigs:?}");
    assert!(sigs.iter().all(|s| s.starts_with("v1,")), "{sigs:?}");
    // Each signature alone, to show that both are valid (one per secret).
    let only = |sig: &str| {
        let mut r = second.clone();
        r.headers.insert("webhook-signature".into(), sig.into());
        r
    };
    let (s0, s1) = (only(sigs[0]), only(sigs[1]));
    let mut tampered = second.clone();
    tampered.body.push(b' ');
    assert_eq!(
        verify_with_python(&[
            (&new, &second),
            (&old, &second),
            (&new, &s0),
            (&old, &s1),
            (&old, &s0),
            (&new, &s1),
            (&new, &tampered),
            (&old, &tampered),
        ]),
        [true, true, true, true, false, false, false, false],
        "both secrets verify (new first, old second); a tampered body does not"
    );
}

// 13 -----------------------------------------------------------------------------------------

/// Runs a template with retries and expects an egress refusal: failed, one attempt at most,
/// no retry, the error naming the egress policy.
fn assert_egress_blocked(api: &Api, template: &str, what: &str) {
    let id = execute(api, template, json!({}));
    let done = wait_final(api, &id, WAIT);
    assert_eq!(done["status"], "failed", "{what}: {done:#}");
    let a = attempts(&done);
    assert!(a.len() <= 1, "{what}: retried: {done:#}");
    assert!(done["next_attempt_at"].is_null(), "{what}: {done:#}");
    let why = format!(
        "{} {}",
        done["reason"].as_str().unwrap_or(""),
        a.first().and_then(|x| x["error"].as_str()).unwrap_or("")
    );
    assert!(why.contains("egress policy"), "{what}: the failure names the egress policy: {done:#}");
    if let Some(x) = a.first() {
        assert!(x["status_code"].is_null(), "{what}: {x:#}");
    }
}

/// Runs in its own network namespace (only loopback) with a private /etc/hosts that maps
/// `metadata.hookwheel.test` to the metadata address: nothing outside the test changes, and a
/// regression cannot send a packet off the machine.
#[test]
fn egress_policy_blocks_metadata_addresses_in_every_encoding() {
    netns::isolated(
        module_path!(),
        "egress_policy_blocks_metadata_addresses_in_every_encoding",
        METADATA_HOSTS,
        metadata_addresses_are_blocked,
    );
}

const METADATA_HOSTS: &[(&str, &str)] = &[("169.254.169.254", METADATA_NAME)];

fn metadata_addresses_are_blocked() {
    let d = daemon("");
    let api = d.client();
    let retrying = json!({"max_retries": 2, "retry_delay": 1});
    let mut tested = Vec::new();
    for host in [
        "169.254.169.254",
        "[::ffff:169.254.169.254]",
        "2852039166",
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "169.254.169.254:8080",
        "[fd00:ec2::254]",
        METADATA_NAME,
    ] {
        let r = api.post("add_domain", json!({"protocol_type": "http", "domain": host}));
        if r.status == 400 {
            // Refused as a host: it can never be a delivery target.
            assert!(r.error().starts_with("Invalid field value: domain"), "{host}: {}", r.text);
            continue;
        }
        assert_ok(&r);
        let domain = r.json["domain_uuid"].as_str().unwrap();
        let t = template(&api, domain, retrying.clone());
        assert_egress_blocked(&api, &t, host);
        tested.push(host);
    }
    assert!(
        tested.contains(&"169.254.169.254") && tested.contains(&METADATA_NAME),
        "the plain address and the name were tested: {tested:?}"
    );
    // SDK style: the template's url registers the domain on the fly.
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://0xa9fea9fe/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "https://metadata.hookwheel.test/computeMetadata/v1/",
    ] {
        let r = api.post(
            "add_webhook_template",
            json!({"name": "sdk", "url": url, "method": "GET", "max_retries": 2, "retry_delay": 1}),
        );
        assert_ok(&r);
        assert_egress_blocked(&api, r.json["webhook_uuid"].as_str().unwrap(), url);
    }
}

#[test]
fn strict_egress_blocks_loopback_unless_allowed() {
    let rx = Receiver::start();
    {
        let d = daemon("[egress]\npreset = \"strict\"\n");
        let api = d.client();
        for host in [rx.host(), format!("localhost:{}", rx.port)] {
            let t = template(&api, &api.add_domain(&host), json!({"max_retries": 1}));
            assert_egress_blocked(&api, &t, &host);
        }
        assert_eq!(rx.count(), 0, "nothing reached the loopback receiver");
    }
    let d = daemon("[egress]\npreset = \"strict\"\nallow_cidrs = [\"127.0.0.0/8\"]\n");
    let api = d.client();
    for host in [rx.host(), format!("localhost:{}", rx.port)] {
        let t = template(&api, &api.add_domain(&host), json!({}));
        let id = execute(&api, &t, json!({}));
        let done = wait_final(&api, &id, WAIT);
        assert_eq!(done["status"], "succeeded", "{host}: an allowed private range: {done:#}");
    }
    assert_eq!(rx.count(), 2);
}

// 14 -----------------------------------------------------------------------------------------

#[test]
fn failed_executions_are_dead_letters_that_can_be_retried() {
    let e = env("");
    let api = &e.api;
    e.rx.set_script(Script::status(500));
    let t = template(api, &e.domain, json!({"max_retries": 0}));
    let id = execute(api, &t, json!({"order": 42}));
    let done = wait_final(api, &id, WAIT);
    assert_eq!(done["status"], "failed", "{done:#}");

    let r = api.get("get_executions_paginated?filter_status=failed&page=1");
    assert_eq!(r.status, 200, "{}", r.text);
    let listed: Vec<&str> =
        r.json["data"].as_array().unwrap().iter().map(|x| x["execution_uuid"].as_str().unwrap()).collect();
    assert_eq!(listed, [id.as_str()], "the dead-letter queue");
    assert_eq!(count_executions(api, "filter_status=succeeded"), 0);

    // The receiver recovers; the dead letter is re-run as a new, linked execution.
    e.rx.set_script(Script::default());
    let r = api.post("retry_execution", json!({"execution_uuid": id}));
    assert_ok(&r);
    let new = r.json["execution_uuid"].as_str().unwrap().to_string();
    assert_ne!(new, id);
    let again = wait_final(api, &new, WAIT);
    assert_eq!(again["status"], "succeeded", "{again:#}");
    assert_eq!(again["retry_of"], id.as_str());
    assert_eq!(again["context"], json!({"order": 42}));
    assert_eq!(details(api, &id)["status"], "failed", "the original stays failed");
    let reqs = e.rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("idempotency-key"),
        reqs[1].header("idempotency-key"),
        "the same message to the receiver"
    );
    assert_eq!(reqs[1].json(), reqs[0].json());
    let r = api.post("retry_execution", json!({"execution_uuid": new}));
    assert_eq!(r.status, 409, "a succeeded execution is not retried: {}", r.text);
}

#[test]
fn cancel_stops_a_waiting_retry() {
    let e = env("");
    let api = &e.api;
    e.rx.set_script(Script::status(500));
    let t = template(api, &e.domain, json!({"max_retries": 3, "retry_delay": 2, "retry_backoff_mode": "linear"}));
    let id = execute(api, &t, json!({}));
    let waiting = wait_retry_pending(api, &id, 1);
    let next_at = ms(waiting["next_attempt_at"].as_str().unwrap());
    let r = api.post("cancel_execution", json!({"execution_uuid": id}));
    assert_ok(&r);
    let d = details(api, &id);
    assert_eq!(d["status"], "cancelled", "{d:#}");
    assert!(d["next_attempt_at"].is_null(), "{d:#}");

    // Well past when the retry was due: still only the first request.
    let until = next_at + 3000;
    while now_ms() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(e.rx.count(), 1, "no request after the cancel");
    let d = details(api, &id);
    assert_eq!(d["status"], "cancelled", "{d:#}");
    assert_eq!(d["attempt_count"], 1);

    let r = api.post("cancel_execution", json!({"execution_uuid": id}));
    assert_eq!(r.status, 409, "cancelling twice: {}", r.text);
    e.rx.set_script(Script::default());
    let ok_t = template(api, &e.domain, json!({}));
    let done_id = execute(api, &ok_t, json!({}));
    assert_eq!(wait_final(api, &done_id, WAIT)["status"], "succeeded");
    let r = api.post("cancel_execution", json!({"execution_uuid": done_id}));
    assert_eq!(r.status, 409, "a finished execution: {}", r.text);
}

// 15 -----------------------------------------------------------------------------------------

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l[name.len()..].trim().parse().ok())
}

#[test]
fn metrics_count_attempts_and_latency() {
    let e = env("");
    e.rx.push_script(Script::status(500));
    let t = template(&e.api, &e.domain, json!({"max_retries": 1, "retry_delay": 1}));
    let id = execute(&e.api, &t, json!({}));
    assert_eq!(wait_final(&e.api, &id, WAIT)["status"], "succeeded");
    let text = e.api.plain_get("/metrics").text;
    let success = metric(&text, "hookwheel_attempts_total{outcome=\"success\"}");
    assert_eq!(success, Some(1.0), "{text}");
    let failure = text
        .lines()
        .filter(|l| l.starts_with("hookwheel_attempts_total{") && !l.contains("\"success\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    assert_eq!(failure, 1.0, "one failed attempt: {text}");
    let count = metric(&text, "hookwheel_delivery_latency_seconds_count");
    assert_eq!(count, Some(2.0), "two attempts observed: {text}");
}

/// Regression: parked executions were never brought back when the in-memory queue drained
/// while they were being written to the store (the last pass saw nothing spilled), and never at
/// all with `queue_memory_max = 1` (the refill room was `max / 2` = 0). A burst against a cap
/// of one with a tiny queue hits both.
#[test]
fn spilled_executions_come_back_even_when_the_queue_drains_meanwhile() {
    const N: usize = 150;
    for max in [1, 2] {
        let d = daemon(&format!("[delivery]\nqueue_memory_max = {max}\n"));
        let api = d.client();
        let rx = Receiver::start();
        let domain =
            domain_with(&api, &rx.host(), json!({"concurrency_control_enabled": true, "max_concurrent_jobs": 1}));
        let t = template(&api, &domain, json!({"max_retries": 0}));
        let threads: Vec<_> = (0..8)
            .map(|k| {
                let (api, t) = (api.clone(), t.clone());
                std::thread::spawn(move || {
                    for i in (k..N).step_by(8) {
                        execute(&api, &t, json!({"i": i}));
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().expect("client thread");
        }
        let query = format!("target_uuid={t}&filter_status=succeeded");
        let mut succeeded = 0;
        let all = poll(Duration::from_secs(30), || {
            succeeded = count_executions(&api, &query);
            (succeeded == N as u64).then_some(())
        });
        assert!(all.is_some(), "queue_memory_max = {max}: only {succeeded} of {N} succeeded; received {}", rx.count());
        let keys: HashSet<String> =
            rx.requests().iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
        assert_eq!((rx.count(), keys.len()), (N, N), "each exactly once");
        assert_eq!(rx.max_in_flight(), 1, "the cap of one held");
    }
}

/// A daemon with `delivery.max_in_flight = max_in_flight` and `n` executions just started
/// against a receiver that takes 100 ms per request (a backlog that delivery works off at
/// `max_in_flight` × 10/s): the daemon, its client, the receiver, the template and the
/// execution ids.
fn slow_backlog(max_in_flight: usize, n: usize) -> (TestDaemon, Api, Receiver, String, Vec<String>) {
    let d = daemon(&format!("[delivery]\nmax_in_flight = {max_in_flight}\n"));
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(Script::default().with_delay(Duration::from_millis(100)));
    let domain = domain_with(&api, &rx.host(), json!({}));
    let t = template(&api, &domain, json!({"max_retries": 0}));
    let ids = execute_many(&api, &t, n);
    (d, api, rx, t, ids)
}

/// Delivery slower than what it is handed holds a bounded number of tasks: beyond 4 ×
/// `max_in_flight` busy ones (`delivery::DEFER_FACTOR`), recorded executions wait as ids and
/// are read back as tasks end; every one is still delivered, exactly once. (Before, each held
/// a task of about 36 KiB: 6.9 GiB of RSS after 70 s at 20,000 offered executions/s.)
#[test]
fn a_backlog_beyond_the_busy_bound_waits_as_ids_and_every_execution_is_delivered_once() {
    const N: usize = 120;
    const BOUND: u64 = 4 * 2;
    let (d, api, rx, t, ids) = slow_backlog(2, N);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), N);

    let query = format!("target_uuid={t}&filter_status=succeeded");
    let (mut peak_live, mut peak_deferred, mut succeeded) = (0, 0, 0);
    let all = poll(Duration::from_secs(60), || {
        let (code, out, err) = d.cli(&["status", "--json"]);
        assert_eq!(code, 0, "status: {err}");
        let v: Value = serde_json::from_str(&out).expect("status JSON");
        peak_live = peak_live.max(v["in_flight"].as_u64().expect("in_flight"));
        peak_deferred = peak_deferred.max(v["deferred"].as_u64().expect("deferred"));
        succeeded = count_executions(&api, &query);
        (succeeded == N as u64).then_some(())
    });
    assert!(all.is_some(), "only {succeeded} of {N} succeeded; received {}", rx.count());
    assert!(peak_deferred > 0, "a backlog of {N} at 20/s waited as ids");
    // Busy tasks stay within the bound; a task waiting at the domain's guard is not busy, so
    // a few more may be live for a moment.
    assert!(peak_live <= 2 * BOUND, "{peak_live} delivery tasks at once, bound {BOUND}");
    std::thread::sleep(Duration::from_millis(300));
    let keys: HashSet<String> =
        rx.requests().iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    assert_eq!((rx.count(), keys.len()), (N, N), "each exactly once");
    assert!(rx.max_in_flight() <= 2, "max_in_flight = 2 held: {}", rx.max_in_flight());
}

/// Deferred executions are only ids in memory: a `kill -9` while many wait loses none of
/// them (each is pending in the store, and a start resumes every pending execution).
#[test]
fn a_kill_while_executions_are_deferred_loses_none_of_them() {
    const N: usize = 80;
    let (mut d, _, rx, t, ids) = slow_backlog(1, N);
    let waiting = poll(Duration::from_secs(10), || {
        let (_, out, _) = d.cli(&["status", "--json"]);
        let v: Value = serde_json::from_str(&out).ok()?;
        (v["deferred"].as_u64()? > 20).then_some(())
    });
    assert!(waiting.is_some(), "executions were deferred before the kill");
    d.kill9();
    assert!(rx.count() < N, "the kill came before every execution was sent");
    d.restart();
    let api = d.client();
    let query = format!("target_uuid={t}&filter_status=succeeded");
    let mut succeeded = 0;
    let all = poll(Duration::from_secs(60), || {
        succeeded = count_executions(&api, &query);
        (succeeded == N as u64).then_some(())
    });
    assert!(all.is_some(), "only {succeeded} of {N} succeeded after the restart");
    let keys: HashSet<String> =
        rx.requests().iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    assert_eq!(keys.len(), N, "every execution arrived");
    // At least once: the request in flight at the kill, and those whose outcome was not yet
    // committed, are sent again; the deferred ones were never sent and come once.
    assert!(rx.count() <= N + 4, "{} requests for {N} executions", rx.count());
    assert_eq!(ids.len(), N);
}

/// An execution cancelled while it waited as an id still ends for the scheduler: its
/// schedule's `skip` overlap policy does not count it as running forever. (Found by review:
/// every later fire was skipped until a restart.)
#[test]
fn a_deferred_execution_cancelled_while_it_waits_does_not_hold_its_schedule() {
    let (d, api, _rx, t, _) = slow_backlog(1, 60);
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": t, "interval_value": 2,
               "interval_period": "second", "is_one_off_task": false, "overlap_policy": "skip"}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().expect("schedule_uuid").to_string();
    // Its first fire lands behind the backlog, deferred: cancel it there.
    let first = poll(WAIT, || {
        let r = api.get(&format!("get_executions_paginated?schedule_uuid={schedule}&filter_status=pending&page=1"));
        r.json["data"].as_array().and_then(|a| a.first()).and_then(|e| e["execution_uuid"].as_str()).map(str::to_string)
    })
    .expect("a pending execution of the schedule");
    let (_, out, _) = d.cli(&["status", "--json"]);
    let status: Value = serde_json::from_str(&out).expect("status JSON");
    assert!(status["deferred"].as_u64().unwrap_or(0) > 0, "the backlog is deferred: {status}");
    assert_ok(&api.post("cancel_execution", json!({"execution_uuid": first})));
    // The backlog drains (about 6 s); then the schedule's fires run again.
    let ran = poll(Duration::from_secs(30), || {
        (count_executions(&api, &format!("schedule_uuid={schedule}&filter_status=succeeded")) > 0).then_some(())
    });
    let skipped = count_executions(&api, &format!("schedule_uuid={schedule}&filter_status=skipped"));
    assert!(
        ran.is_some(),
        "no fire of the schedule ran after its deferred execution was cancelled ({skipped} skipped)"
    );
}

/// An execution cancelled while its retry waits ends for its schedule too: a `skip` schedule
/// runs its next fires instead of skipping them as if the cancelled one still ran.
#[test]
fn a_retry_cancelled_while_it_waits_does_not_hold_its_schedule() {
    let e = env("");
    e.rx.set_script(Script::status(503));
    let t = template(&e.api, &e.domain, json!({"max_retries": 3, "retry_delay": 4, "retry_backoff_mode": "linear"}));
    let r = e.api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": t, "interval_value": 2,
               "interval_period": "second", "is_one_off_task": false, "overlap_policy": "skip"}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().expect("schedule_uuid").to_string();
    let of_schedule = |status: &str| {
        let r = e.api.get(&format!("get_executions_paginated?schedule_uuid={schedule}&filter_status={status}&page=1"));
        r.json["data"].as_array().cloned().unwrap_or_default()
    };
    let first =
        poll(WAIT, || of_schedule("pending").first().and_then(|x| x["execution_uuid"].as_str()).map(str::to_string))
            .expect("a fire of the schedule");
    wait_retry_pending(&e.api, &first, 1);
    assert_ok(&e.api.post("cancel_execution", json!({"execution_uuid": first})));
    // After the cancelled one's retry was due (4 s), a later fire is attempted, not skipped.
    let attempted = poll(Duration::from_secs(20), || {
        of_schedule("pending")
            .iter()
            .chain(of_schedule("failed").iter())
            .find(|x| x["execution_uuid"] != first.as_str() && x["attempt_count"].as_u64().unwrap_or(0) > 0)
            .cloned()
    });
    assert!(
        attempted.is_some(),
        "no later fire was attempted after the waiting retry was cancelled ({} skipped)",
        of_schedule("skipped").len()
    );
}

#[test]
fn failures_are_logged_with_their_ids_and_the_reason_is_always_set() {
    // Case 24: an execution that ends failed after its retries, one failed by an unresolved
    // variable, and a schedule that turns inactive each give one WARN line with the ids and
    // the last error; a failed execution's `reason` is set in lists.
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(Script::status(500));
    let domain = api.add_domain(&rx.host());
    let t = template(&api, &domain, json!({"max_retries": 1, "retry_delay": 1}));
    let failed = execute(&api, &t, json!({}));
    let done = wait_final(&api, &failed, WAIT);
    assert_eq!(done["status"], "failed", "{done:#}");
    assert_eq!(done["reason"], "failed after 2 attempts: HTTP 500", "{done:#}");
    let unresolved_t = template(&api, &domain, json!({"path": "/u/{{ initial.missing }}"}));
    let unresolved = execute(&api, &unresolved_t, json!({}));
    let done = wait_final(&api, &unresolved, WAIT);
    assert!(done["reason"].as_str().is_some_and(|r| r.contains("missing")), "{done:#}");
    // A schedule whose template is deleted turns inactive.
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": unresolved_t, "interval_value": 1,
               "interval_period": "hour", "is_one_off_task": false}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().unwrap().to_string();
    assert_ok(&api.delete("delete_webhook_template", json!({"webhook_uuid": unresolved_t})));

    let list = api.all_pages("get_executions_paginated?filter_status=failed");
    assert!(list.len() >= 2, "{list:#?}");
    for e in &list {
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "a failed execution without a reason: {e:#}");
    }
    let out = crate::support::wait_for("the WARN lines", Duration::from_secs(10), || {
        let out = d.output();
        (out.matches("execution failed").count() >= 2 && out.contains("schedule turned inactive")).then_some(out)
    });
    // This daemon logs hookwheel's debug lines too (a line per attempt): the WARN line, once.
    let line = |needle: &str| {
        let warns: Vec<&str> = out.lines().filter(|l| l.contains(needle) && l.contains(" WARN ")).collect();
        assert_eq!(warns.len(), 1, "not one WARN line with {needle}:\n{out}");
        warns[0].to_string()
    };
    let l = line(&format!("execution={failed}"));
    assert!(l.contains("WARN") && l.contains("execution failed"), "{l}");
    assert!(l.contains(&format!("brand={}", d.brand)) && l.contains(&format!("target={t}")), "{l}");
    assert!(l.contains("HTTP 500"), "the last error is in the line: {l}");
    let l = line(&format!("execution={unresolved}"));
    assert!(l.contains("WARN") && l.contains("missing"), "{l}");
    let l = line(&format!("schedule={schedule}"));
    assert!(l.contains("WARN") && l.contains("schedule turned inactive"), "{l}");
}
