//! The security suite (cases 1–5 of the 2026-11-30 fault list), against the real binary:
//! a rendered URL never leaves its domain (path values from the context and from a step
//! response, query keys and values); proxy variables of the environment never bypass the
//! egress policy and a configured proxy is only used for targets the policy allows; every
//! IPv6 spelling of a denied IPv4 address is refused (default and strict presets); CR/LF in
//! header values is a 400 at create and a single clean failure at render; and exactly one
//! line per header name reaches the receiver.
//!
//! Every test that names an address off loopback runs in its own network namespace that has
//! only loopback, with a private /etc/hosts (`support::netns`): a regression fails the test
//! and cannot send a packet off the machine.

use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::netns::{self, METADATA_NAME};
use crate::support::{Api, TestDaemon, assert_invalid, assert_ok, now, unix_now_s};

/// No API rate limit (the tests poll), hookwheel's debug logs on (the leak checks read them).
const BASE_CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n\n[log]\nlevel = \"info,hookwheel=debug\"\n";

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(20);

const FINAL: &[&str] = &["succeeded", "failed", "cancelled"];

fn daemon(extra: &str) -> TestDaemon {
    TestDaemon::start_with(&format!("{BASE_CONFIG}\n{extra}"))
}

/// A template on `domain` (`POST /hook`, retries on) with `fields` merged over; the retries
/// show that a refusal is final (it must not be retried).
fn template(api: &Api, domain: &str, fields: Value) -> String {
    let mut body = json!({"webhook_name": "security", "method": "POST", "path": "/hook",
        "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 2,
        "request_timeout_in_milliseconds": 3000, "request_body_json": {}, "headers_json": {},
        "query_params_json": {}});
    for (k, v) in fields.as_object().expect("fields object") {
        body[k] = v.clone();
    }
    let r = api.post("add_webhook_template", body);
    assert_ok(&r);
    r.json["webhook_uuid"].as_str().unwrap().to_string()
}

fn add_domain(api: &Api, protocol: &str, host: &str) -> String {
    let r = api.post("add_domain", json!({"protocol_type": protocol, "domain": host}));
    assert_ok(&r);
    r.json["domain_uuid"].as_str().unwrap().to_string()
}

fn execute(api: &Api, template: &str, context: Value) -> String {
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": context}));
    assert_ok(&r);
    r.json["execution_uuid"].as_str().unwrap().to_string()
}

fn details(api: &Api, id: &str) -> Value {
    let r = api.post("get_execution_details", json!({"execution_uuid": id}));
    assert_ok(&r);
    r.json["data"].clone()
}

fn wait_final(api: &Api, id: &str) -> Value {
    let deadline = now() + WAIT;
    loop {
        let d = details(api, id);
        if FINAL.contains(&d["status"].as_str().unwrap_or("")) {
            return d;
        }
        assert!(now() < deadline, "execution {id} did not finish: {d:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn attempts(e: &Value) -> &Vec<Value> {
    e["attempts"].as_array().unwrap_or_else(|| panic!("no attempts array: {e:#}"))
}

/// Failed before any request, once: no attempt, no retry pending; returns the reason.
fn assert_failed_before_sending(api: &Api, id: &str, what: &str) -> String {
    let done = wait_final(api, id);
    assert_eq!(done["status"], "failed", "{what}: {done:#}");
    assert!(attempts(&done).is_empty(), "{what}: a request was attempted: {done:#}");
    assert!(done["next_attempt_at"].is_null(), "{what}: a retry is pending: {done:#}");
    done["reason"].as_str().unwrap_or_else(|| panic!("{what}: no reason: {done:#}")).to_string()
}

/// Refused by the egress policy: failed, at most one attempt without a status, no retry.
fn assert_egress_refused(api: &Api, template: &str, what: &str) {
    let id = execute(api, template, json!({}));
    let done = wait_final(api, &id);
    assert_eq!(done["status"], "failed", "{what}: {done:#}");
    let a = attempts(&done);
    assert!(a.len() <= 1, "{what}: retried: {done:#}");
    assert!(done["next_attempt_at"].is_null(), "{what}: {done:#}");
    let why = format!(
        "{} {}",
        done["reason"].as_str().unwrap_or(""),
        a.first().and_then(|x| x["error"].as_str()).unwrap_or("")
    );
    assert!(why.contains("egress policy refuses"), "{what}: the failure names the egress policy: {done:#}");
    if let Some(x) = a.first() {
        assert!(x["status_code"].is_null(), "{what}: {x:#}");
    }
}

// Case 1: the rendered URL stays on its domain -------------------------------------------------

#[test]
fn a_rendered_path_never_moves_the_request_to_another_authority() {
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let other = Receiver::start_on("127.0.0.2");
    let token = format!("Tok{}", unix_now_s());
    api.add_secret("tok", &token);
    let domain = api.add_domain(&rx.host());
    let t = template(
        &api,
        &domain,
        json!({"path": "{{ initial.p }}", "headers_json": {"Authorization": "Bearer {{ #tok }}"}}),
    );
    let h2 = other.host();
    for p in [
        format!("@{h2}/x"),
        format!("{h2}/x"),
        format!(":{}@{}/x", other.port, other.ip),
        format!("\\\\{h2}/x"),
        format!("?@{h2}/x"),
        format!("#@{h2}/x"),
        String::new(),
        "/a/../x".to_string(),
        "/./x".to_string(),
    ] {
        let id = execute(&api, &t, json!({"p": p}));
        let reason = assert_failed_before_sending(&api, &id, &p);
        assert!(reason.starts_with("path: "), "{p:?}: the reason names path: {reason}");
        assert!(!reason.contains(&token) && !reason.contains(&h2), "{p:?}: the reason shows no value: {reason}");
    }
    assert_eq!((rx.count(), other.count()), (0, 0), "nothing was sent anywhere");

    // A whole-path value that is a path stays on the domain, as path data.
    for (p, want) in [
        (format!("//{h2}/x"), format!("//{}%3A{}/x", other.ip, other.port)),
        (format!("/x/@{h2}"), format!("/x/%40{}%3A{}", other.ip, other.port)),
    ] {
        let id = execute(&api, &t, json!({"p": p}));
        assert_eq!(wait_final(&api, &id)["status"], "succeeded");
        let got = rx.requests().pop().expect("a request");
        assert_eq!(got.path, want, "{p:?}");
        assert_eq!(got.header("authorization"), Some(format!("Bearer {token}").as_str()));
        let url = attempts(&details(&api, &id))[0]["request"]["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&format!("http://{}/", rx.host())), "recorded {url}");
    }
    assert_eq!(other.count(), 0, "the other authority never saw a request (nor the secret)");
}

#[test]
fn values_in_the_path_and_query_are_percent_encoded_data() {
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let t = template(
        &api,
        &domain,
        json!({"path": "/items/{{ initial.id }}/view",
               "query_params_json": {"q k&=": "{{ initial.q }}", "plain": "1"}}),
    );
    let id = execute(&api, &t, json!({"id": "a/../b?c=d#e f%", "q": "1&admin=true#x y"}));
    assert_eq!(wait_final(&api, &id)["status"], "succeeded");
    let got = rx.requests().pop().expect("a request");
    let (path, query) = got.path.split_once('?').expect("a query");
    assert_eq!(path, "/items/a%2F..%2Fb%3Fc%3Dd%23e%20f%25/view");
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort();
    assert_eq!(pairs, ["plain=1", "q%20k%26%3D=1%26admin%3Dtrue%23x%20y"], "keys and values are encoded");

    // A value that is a dot segment would be removed by URL normalisation: refused.
    for v in ["..", "."] {
        let id = execute(&api, &t, json!({"id": v, "q": ""}));
        let reason = assert_failed_before_sending(&api, &id, v);
        assert!(reason.starts_with("path: "), "{reason}");
    }
    assert_eq!(rx.count(), 1);
}

fn add_workflow(api: &Api) -> String {
    let r = api.post(
        "add_workflow_template",
        json!({"workflow_name": "wf", "workflow_description": "t", "runtype": "fifo_sequential"}),
    );
    assert_ok(&r);
    r.json["workflow_uuid"].as_str().unwrap().to_string()
}

/// Every documented `add_workflow_step` field.
fn step_body(wf: &str, domain: &str, index: usize, ident: &str, path: &str, headers: Value) -> Value {
    json!({"index": index, "workflow_uuid": wf, "webhook_name": ident, "webhook_description": "s",
        "method": "POST", "path": path, "domain_uuid": domain, "human_approval_required": false,
        "step_identifier": ident, "on_success_next_step_identifier": "",
        "on_fail_next_step_identifier": "", "delay_to_next_step": 0, "retry_delay": 1,
        "retry_backoff_mode": "linear", "max_retries": 2, "request_timeout_in_milliseconds": 3000,
        "request_body_json": {}, "headers_json": headers, "query_params_json": {}})
}

fn add_workflow_with_steps(api: &Api, domain: &str, second_path: &str) -> String {
    let wf = add_workflow(api);
    for (i, (ident, path)) in [("a", "/a"), ("b", second_path)].into_iter().enumerate() {
        assert_ok(&api.post("add_workflow_step", step_body(&wf, domain, i, ident, path, json!({}))));
    }
    wf
}

fn run_to_end(api: &Api, wf: &str) -> Value {
    let r = api.post("execute_workflow", json!({"workflow_uuid": wf, "initial_context": {}}));
    assert_ok(&r);
    let run = r.json["run_uuid"].as_str().unwrap().to_string();
    let deadline = now() + WAIT;
    loop {
        let r = api.post("get_workflow_run_details", json!({"run_uuid": run}));
        assert_ok(&r);
        let s = r.json["data"]["status"].as_str().unwrap_or("").to_string();
        if ["succeeded", "failed", "completed_with_failures", "cancelled"].contains(&s.as_str()) {
            return r.json["data"].clone();
        }
        assert!(now() < deadline, "run {run} did not end: {}", r.text);
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_step_response_cannot_move_the_next_step_off_its_domain() {
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let other = Receiver::start_on("127.0.0.2");
    let answer = json!({"next": format!("@{}/x", other.host()), "id": "../../admin"});
    rx.set_script(Script { body: answer.to_string(), ..Script::default() });
    let domain = api.add_domain(&rx.host());

    let wf = add_workflow_with_steps(&api, &domain, "{{ step.response.next }}");
    let run = run_to_end(&api, &wf);
    assert_eq!(run["status"], "failed", "{run:#}");
    let b = &run["steps"][1];
    assert_eq!(b["step_identifier"], "b", "{run:#}");
    assert_eq!(b["status"], "failed", "{run:#}");
    assert!(b["error"].as_str().unwrap_or("").starts_with("path: "), "the step's error names path: {run:#}");
    assert_eq!(rx.count(), 1, "only step a was sent");

    let wf = add_workflow_with_steps(&api, &domain, "/items/{{ step.response.id }}");
    let run = run_to_end(&api, &wf);
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(rx.requests().pop().unwrap().path, "/items/..%2F..%2Fadmin");
    assert_eq!(other.count(), 0);
}

// Case 2: proxies ---------------------------------------------------------------------------

const PROXY_VARS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];

#[test]
fn proxy_environment_variables_do_not_bypass_the_egress_policy() {
    let hosts = [
        ("169.254.169.254", METADATA_NAME),
        ("127.0.0.1", "mixed.hookwheel.test"),
        ("169.254.169.254", "mixed.hookwheel.test"),
    ];
    netns::isolated(module_path!(), "proxy_environment_variables_do_not_bypass_the_egress_policy", &hosts, || {
        let proxy = Receiver::start();
        let url = format!("http://{}", proxy.host());
        let mut env: Vec<(&str, &str)> = PROXY_VARS.iter().map(|v| (*v, url.as_str())).collect();
        env.push(("NO_PROXY", ""));
        let d = TestDaemon::start_custom(BASE_CONFIG, &env, &[]);
        let api = d.client();
        for (protocol, host) in [("http", METADATA_NAME), ("https", METADATA_NAME), ("http", "169.254.169.254")] {
            let t = template(&api, &add_domain(&api, protocol, host), json!({}));
            assert_egress_refused(&api, &t, &format!("{protocol}://{host}"));
        }
        // Allowed targets are reached directly, not through the environment's proxy: the
        // receiver sees an origin-form request. A name with a denied and an allowed address
        // connects to the allowed one only.
        let rx = Receiver::start();
        for host in [rx.host(), format!("mixed.hookwheel.test:{}", rx.port)] {
            let t = template(&api, &api.add_domain(&host), json!({}));
            let id = execute(&api, &t, json!({}));
            assert_eq!(wait_final(&api, &id)["status"], "succeeded", "{host}");
            assert_eq!(rx.requests().pop().unwrap().path, "/hook");
        }
        assert_eq!(proxy.count(), 0, "the proxy of the environment received nothing");
    });
}

#[test]
fn a_configured_proxy_is_used_only_for_targets_the_policy_allows() {
    let hosts = [
        ("127.0.0.1", "allowed.hookwheel.test"),
        ("169.254.169.254", METADATA_NAME),
        ("127.0.0.1", "mixed.hookwheel.test"),
        ("169.254.169.254", "mixed.hookwheel.test"),
        ("::169.254.169.254", "v6meta.hookwheel.test"),
    ];
    netns::isolated(module_path!(), "a_configured_proxy_is_used_only_for_targets_the_policy_allows", &hosts, || {
        let proxy = Receiver::start();
        let env_proxy = Receiver::start();
        let env_url = format!("http://{}", env_proxy.host());
        let config = format!("{BASE_CONFIG}\n[egress]\nproxy_url = \"http://{}\"\n", proxy.host());
        let d = TestDaemon::start_custom(&config, &[("HTTP_PROXY", env_url.as_str())], &[]);
        let api = d.client();
        let target = Receiver::start();

        let host = format!("allowed.hookwheel.test:{}", target.port);
        let t = template(&api, &api.add_domain(&host), json!({}));
        let id = execute(&api, &t, json!({}));
        assert_eq!(wait_final(&api, &id)["status"], "succeeded");
        let got = proxy.requests();
        assert_eq!(got.len(), 1, "the configured proxy carried the request");
        assert_eq!(got[0].path, format!("http://{host}/hook"), "absolute-form target through the proxy");

        for host in [
            METADATA_NAME.to_string(),
            "169.254.169.254".to_string(),
            "[::169.254.169.254]".to_string(),
            "v6meta.hookwheel.test".to_string(),
            // One of its addresses is denied; the proxy could pick any of them.
            format!("mixed.hookwheel.test:{}", target.port),
        ] {
            let t = template(&api, &api.add_domain(&host), json!({}));
            assert_egress_refused(&api, &t, &host);
        }
        assert_eq!(proxy.count(), 1, "no refused target reached the proxy");
        assert_eq!((env_proxy.count(), target.count()), (0, 0));
    });
}

// Case 3: IPv6 spellings of denied IPv4 addresses --------------------------------------------

#[test]
fn every_ipv6_spelling_of_a_denied_ipv4_address_is_refused() {
    let hosts = [("::169.254.169.254", "compat.hookwheel.test"), ("2002:a9fe:a9fe::1", "sixtofour.hookwheel.test")];
    netns::isolated(module_path!(), "every_ipv6_spelling_of_a_denied_ipv4_address_is_refused", &hosts, || {
        let metadata = [
            "[::169.254.169.254]",
            "[::a9fe:a9fe]",
            "[::ffff:169.254.169.254]",
            "[::ffff:0:169.254.169.254]",
            "[64:ff9b::169.254.169.254]",
            "[64:ff9b:1::a9fe:a9fe]",
            "[64:ff9b:1:a9fe:a9:fe00::]",
            "[2002:a9fe:a9fe::1]",
            "[2001:0:4136:e378:8000:63bf:5601:5601]",
            "[2001:0:a9fe:a9fe::a247:27dd]",
            "compat.hookwheel.test",
            "sixtofour.hookwheel.test",
        ];
        let private = [
            "[::10.1.2.3]",
            "[::ffff:10.1.2.3]",
            "[::ffff:0:10.1.2.3]",
            "[64:ff9b::10.1.2.3]",
            "[64:ff9b:1::a01:203]",
            "[2002:a01:203::1]",
            "[2001:0:4136:e378:8000:63bf:f5fe:fdfc]",
            "[::127.0.0.1]",
            "[2002:7f00:1::1]",
            "[::192.168.1.1]",
        ];
        for (preset, hosts) in
            [("default", metadata.to_vec()), ("strict", [metadata.as_slice(), private.as_slice()].concat())]
        {
            let d = daemon(&format!("[egress]\npreset = \"{preset}\"\n"));
            let api = d.client();
            for host in hosts {
                let t = template(&api, &add_domain(&api, "http", host), json!({}));
                assert_egress_refused(&api, &t, &format!("{host} under {preset}"));
            }
        }
    });
}

// Case 4: CR/LF and other bytes HTTP does not allow in headers -------------------------------

fn template_count(api: &Api) -> u64 {
    api.total("get_webhook_template_paginated")
}

#[test]
fn header_names_and_values_http_does_not_allow_are_refused_at_create() {
    let d = daemon("");
    let api = d.client();
    let domain = api.add_domain("127.0.0.1:9");
    let bad: Vec<Value> = vec![
        json!({"X-A": "v\r\nX-B: 1"}),
        json!({"X-A": "v\nX-B: 1"}),
        json!({"X-A": "v\r"}),
        json!({"X-A": "a\u{0}b"}),
        json!({"X-A": "a\u{7f}b"}),
        json!({"X-A": "\u{1b}[31m"}),
        json!({"X-A": "{{ #k }}\r\n"}),
        json!({"X A": "v"}),
        json!({"X:A": "v"}),
        json!({"X-A\r\nX-B": "v"}),
        json!({"": "v"}),
        json!({"X-A": "1", "x-a": "2"}),
        json!({"Host": "evil.example"}),
        json!({"Content-Length": "5"}),
        json!({"Transfer-Encoding": "chunked"}),
        json!({"Connection": "close"}),
    ];
    let before = template_count(&api);
    for h in &bad {
        let mut body = json!({"webhook_name": "t", "method": "POST", "path": "/x", "domain_uuid": domain});
        body["headers_json"] = h.clone();
        assert_invalid(&api.post("add_webhook_template", body), "headers_json");
    }
    assert_eq!(template_count(&api), before, "nothing was stored");

    // Update: refused, the template unchanged.
    let t = template(&api, &domain, json!({"headers_json": {"X-Ok": "1\tand é"}}));
    for h in &bad {
        let r = api.post("update_webhook_template", json!({"webhook_uuid": t, "headers_json": h}));
        assert_invalid(&r, "headers_json");
    }
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": t}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["headers_json"], json!({"X-Ok": "1\tand é"}));

    // Workflow steps' inline headers.
    let wf = add_workflow(&api);
    for h in &bad {
        let r = api.post("add_workflow_step", step_body(&wf, &domain, 0, "s", "/s", h.clone()));
        assert_invalid(&r, "headers_json");
    }
    let r = api.post("single_workflow_template_detail", json!({"workflow_uuid": wf}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["workflow_steps"], json!([]), "no step was stored: {}", r.text);
}

#[test]
fn a_secret_or_context_value_that_breaks_a_header_fails_the_execution_once() {
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let secret_line = format!("X-Secret-Line{}", unix_now_s());
    api.add_secret("crlf", &format!("v\r\n{secret_line}: 1"));
    let by_secret = template(&api, &domain, json!({"headers_json": {"X-Sec": "Bearer {{ #crlf }}"}}));
    let by_context = template(&api, &domain, json!({"headers_json": {"X-Ctx": "{{ initial.h }}"}}));
    for (t, ctx, name) in [
        (&by_secret, json!({}), "X-Sec"),
        (&by_context, json!({"h": "a\nX-Context-Line: 2"}), "X-Ctx"),
        (&by_context, json!({"h": "nul\u{0}byte"}), "X-Ctx"),
    ] {
        let id = execute(&api, t, ctx);
        let reason = assert_failed_before_sending(&api, &id, name);
        assert_eq!(
            reason,
            format!(
                "header {name}: the rendered value contains CR, LF or another character not allowed in a header value"
            ),
            "the reason names the header, never the value"
        );
        let text = api.post("get_execution_details", json!({"execution_uuid": id})).text;
        assert!(!text.contains(&secret_line), "the secret is shown nowhere: {text}");
    }
    assert_eq!(rx.count(), 0, "nothing was sent");
    assert!(!d.output().contains(&secret_line), "the secret is not in the log");
}

// Case 5: one line per header name --------------------------------------------------------------

#[test]
fn exactly_one_line_per_header_name_reaches_the_receiver() {
    let d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let t = template(
        &api,
        &domain,
        json!({"headers_json": {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": "mine",
            "WEBHOOK-ID": "forged",
            "webhook-timestamp": "1",
            "Webhook-Signature": "v1,forged",
            "User-Agent": "custom-agent/1",
            "Accept": "text/plain",
        }}),
    );
    let plain = template(&api, &domain, json!({}));
    let get = template(&api, &domain, json!({"method": "GET", "headers_json": {"content-type": "text/plain"}}));
    for t in [&t, &plain, &get] {
        let id = execute(&api, t, json!({}));
        assert_eq!(wait_final(&api, &id)["status"], "succeeded");
    }
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        let mut names: Vec<String> = r.raw_headers.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
        names.sort();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique, "a header name appears twice: {:?}", r.raw_headers);
    }
    let got = &reqs[0];
    for name in
        ["content-type", "idempotency-key", "webhook-id", "webhook-timestamp", "webhook-signature", "user-agent"]
    {
        assert_eq!(got.header_lines(name), 1, "{name}: {:?}", got.raw_headers);
    }
    assert_eq!(got.header("content-type"), Some("application/json; charset=utf-8"), "the template's wins");
    assert_eq!(got.header("user-agent"), Some("custom-agent/1"), "the template's wins");
    assert_eq!(got.header("accept"), Some("text/plain"));
    let key = got.header("idempotency-key").unwrap();
    assert!(key.starts_with("hw_manual_"), "the daemon's key wins: {key}");
    assert_eq!(got.header("webhook-id"), Some(key));
    let ts: i64 = got.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((ts - unix_now_s()).abs() < 60, "the daemon's timestamp wins: {ts}");
    let sig = got.header("webhook-signature").unwrap();
    assert!(sig.starts_with("v1,") && sig != "v1,forged", "the daemon's signature wins: {sig}");
    assert_eq!(reqs[1].header("content-type"), Some("application/json"), "the default without a template value");
    assert_eq!(reqs[2].header_lines("content-type"), 1);
    assert_eq!(reqs[2].header("content-type"), Some("text/plain"));
    // The record lists the template headers that were sent, not the ones the daemon replaced.
    let done = wait_final(&api, &execute(&api, &t, json!({})));
    let recorded = attempts(&done)[0]["request"]["headers"].as_object().unwrap().clone();
    let mut keys: Vec<&str> = recorded.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["Accept", "Content-Type", "User-Agent"], "{done:#}");
}

#[test]
fn a_reloaded_egress_policy_applies_to_connections_already_pooled() {
    // A connection opened under the `default` preset must not carry a request after a reload
    // to `strict` denies its address (loopback here; nothing leaves the machine).
    let mut d = daemon("");
    let api = d.client();
    let rx = Receiver::start();
    let port = rx.host().rsplit(':').next().unwrap().to_string();
    let domain = add_domain(&api, "http", &format!("localhost:{port}"));
    let t = template(&api, &domain, json!({"max_retries": 0}));
    let first = wait_final(&api, &execute(&api, &t, json!({})));
    assert_eq!(first["status"], "succeeded", "{first:#}");
    d.set_extra_config(&format!("{BASE_CONFIG}\n[egress]\npreset = \"strict\"\n"));
    d.sighup();
    crate::support::wait_for("the reload", WAIT, || d.output().contains("configuration reloaded").then_some(()));
    let seen = rx.count();
    assert_egress_refused(&api, &t, "after the reload to strict");
    assert_eq!(rx.count(), seen, "a request reached the receiver over the old pooled connection");
}
