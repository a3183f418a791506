//! The dashboard at `/ui/` against the real binary: over plain HTTP (cookies, headers, CSRF,
//! brand scoping, revocation, sign-out) and in a real headless Chromium driven by Selenium
//! through the system's chromedriver (`tests/ui/test_ui.py`; screenshots at 360 and 1440 px
//! into `target/ui-screenshots/`). The browser test fails, never skips, without Chromium.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::{Api, TestDaemon, assert_ok, wait_for};

const WAIT: Duration = Duration::from_secs(60);
/// No API rate limit: the tests read many pages.
const CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n";

/// A browser-less dashboard client: no redirects followed, the session cookie kept by hand.
struct Ui {
    base: String,
    http: Client,
    session: Option<String>,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn cookies(&self) -> Vec<String> {
        self.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }
    /// The first CSRF token in a form of the page.
    fn csrf(&self) -> String {
        let at = self.text.find("name=\"csrf\" value=\"").expect("a form with a csrf field") + 19;
        self.text[at..at + 64].to_string()
    }
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v.to_string()).unwrap_or_default()
}

impl Ui {
    fn new(d: &TestDaemon) -> Ui {
        crate::support::install_crypto();
        let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Ui { base: d.base.clone(), http, session: None }
    }

    fn with_http(d: &TestDaemon, http: Client) -> Ui {
        Ui { base: d.base.clone(), http, session: None }
    }

    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Page {
        let rb = match &self.session {
            Some(s) => rb.header(COOKIE, format!("hw_session={s}")),
            None => rb,
        };
        let r = rb.send().expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Page { status, headers, text: r.text().unwrap_or_default() }
    }

    fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
    }

    /// Signs in with the sign-in page's own form; returns the answer of the `POST`.
    fn sign_in(&mut self, brand: &str, key: &str) -> Page {
        let form = self.get("/ui/sign-in");
        assert_eq!(form.status, 200, "{}", form.text);
        let signin =
            form.cookies().iter().find(|c| c.starts_with("hw_signin=")).map(|c| cookie_value(c)).expect("cookie");
        let token = form.csrf();
        let body = format!("csrf={token}&brand_uuid={}&api_key={}", urlencode(brand), urlencode(key));
        let r = self.send(
            self.http
                .post(format!("{}/ui/sign-in", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(COOKIE, format!("hw_signin={signin}"))
                .body(body),
        );
        if let Some(c) = r.cookies().iter().find(|c| c.starts_with("hw_session=")) {
            self.session = Some(cookie_value(c));
        }
        r
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

fn interval_schedule(api: &Api, template: &str, name: &str) -> String {
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 5,
            "interval_period": "minute", "is_one_off_task": false, "name": name}),
    );
    assert_ok(&r);
    r.json["schedule_uuid"].as_str().expect("schedule_uuid").to_string()
}

/// A webhook template on `rx` whose one run fails (the receiver answers 500 once); returns the
/// failed execution's id.
fn failed_execution(api: &Api, rx: &Receiver, template: &str) -> String {
    rx.push_script(Script::status(500));
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template}));
    assert_ok(&r);
    let id = r.json["execution_uuid"].as_str().expect("execution_uuid").to_string();
    wait_for("the execution to fail", WAIT, || {
        let r = api.post("get_execution_details", json!({"execution_uuid": id}));
        (r.json["data"]["status"] == "failed").then_some(())
    });
    id
}

#[test]
fn sign_in_sets_a_strict_session_cookie_and_every_answer_carries_the_security_headers() {
    let d = TestDaemon::start_with(CONFIG);
    let mut ui = Ui::new(&d);

    for path in ["/ui/", "/ui", "/ui/executions"] {
        let r = ui.get(path);
        assert_eq!((r.status, r.location()), (303, "/ui/sign-in"), "{path} signed out: to the sign-in page");
    }
    let page = ui.get("/ui/sign-in");
    assert!(page.headers.get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
    for (h, v) in [
        ("content-security-policy", hookwheel::ui::CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
        ("content-type", "text/html; charset=utf-8"),
    ] {
        assert_eq!(page.headers.get(h).and_then(|v| v.to_str().ok()), Some(v), "{h}");
    }
    assert!(hookwheel::ui::CSP.contains("default-src 'self'") && hookwheel::ui::CSP.contains("frame-ancestors 'none'"));
    assert!(!page.text.contains("<script>") && !page.text.contains("style="), "no inline script or style");

    let wrong = ui.sign_in(&d.brand, "hwk_not-the-key");
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(wrong.text.contains("not right"), "{}", wrong.text);
    assert!(!wrong.text.contains("hwk_not-the-key"), "the key is never shown back");
    assert!(ui.session.is_none());

    let ok = ui.sign_in(&d.brand, &d.key);
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.location(), "/ui/");
    let cookie = ok.cookies().into_iter().find(|c| c.starts_with("hw_session=")).expect("session cookie");
    let id = cookie_value(&cookie);
    assert_eq!(id.len(), 64, "256 bits in hex");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure attribute");
    let logged = wait_for("the sign-in in the log", WAIT, || {
        let out = d.output();
        out.contains("dashboard sign-in").then_some(out)
    });
    let after = logged.split("dashboard sign-in").nth(1).unwrap_or_default();
    assert!(!after.contains(&d.key) && !after.contains("hwk_not-the-key"), "the key is never logged: {logged}");

    let home = ui.get("/ui/");
    assert_eq!(home.status, 200, "{}", home.text);
    assert!(home.text.contains("Overview") && home.text.contains("failed executions"), "{}", home.text);
    assert!(home.text.contains("No first request measured"), "nothing fired yet: {}", home.text);
    let metrics = d.metrics();
    assert!(metrics.contains("route=\"ui\""), "dashboard answers are in the request metrics: {metrics}");
    // Signing in again ends the session the browser held.
    let first = ui.session.clone();
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    assert_ne!(ui.session, first, "a new id at every sign-in");
    let newer = ui.session.take();
    ui.session = first;
    assert_eq!(ui.get("/ui/").status, 303, "the earlier session ended");
    ui.session = newer;
    assert_eq!(home.headers.get("content-security-policy").and_then(|v| v.to_str().ok()), Some(hookwheel::ui::CSP));

    // Assets: embedded, cached for a year under a versioned or hashed name.
    let css = ui.get(&format!("/ui/assets/{}", hookwheel::ui::css_name()));
    assert_eq!(css.status, 200);
    assert_eq!(
        css.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("public, max-age=31536000, immutable")
    );
    assert!(css.text.contains(":focus-visible"));
    let js = ui.get(&format!("/ui/assets/{}", hookwheel::ui::HTMX_NAME));
    assert_eq!(js.status, 200);
    assert!(js.text.starts_with("/*! htmx 2.0.11"), "license header kept");
    assert_eq!(ui.get("/ui/assets/other.js").status, 404);
    assert_eq!(ui.get("/ui/no/such/page").status, 404);
}

#[test]
fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let domain = api.add_domain("127.0.0.1:9");
    let template = api.add_template(&domain, "t");
    let schedule = interval_schedule(&api, &template, "every five");
    let hostile = "<script>alert(1)</script>&\"'";
    interval_schedule(&api, &template, hostile);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let status =
        || api.post("get_single_schedule_details", json!({"schedule_uuid": schedule})).json["data"]["status"].clone();

    let list = ui.get("/ui/schedules");
    assert!(!list.text.contains(hostile) && !list.text.contains("<script>alert"), "{}", list.text);
    assert!(list.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;'"), "escaped: {}", list.text);
    let page = ui.get(&format!("/ui/schedules/{schedule}"));
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("every 5 minutes"), "{}", page.text);
    let token = page.csrf();
    let path = format!("/ui/schedules/{schedule}/status");
    for form in [vec![("to", "paused")], vec![("to", "paused"), ("csrf", "0".repeat(64).as_str())]] {
        let r = ui.post(&path, &form);
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(status(), "active", "a refused post changes nothing");
    }
    // The header htmx sends is accepted as well as the field.
    let r = ui.send(
        ui.http
            .post(format!("{}{path}", ui.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-csrf-token", &token)
            .body("to=paused"),
    );
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(status(), "paused");
    let r = ui.post(&path, &[("to", "active"), ("csrf", &token)]);
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(status(), "active");
    // The API's validation answers through the page: a bad value names the field.
    let r = ui.post(&path, &[("to", "sideways"), ("csrf", &token)]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("update_status_to"), "{}", r.text);
    // The viewer's zone: times in it beside the schedule's own (UTC here, the brand's).
    let r = ui.post("/ui/zone", &[("zone", "Asia/Tokyo")]);
    assert_eq!(r.status, 403, "{}", r.text);
    let r = ui.post("/ui/zone", &[("zone", "Mars/Olympus"), ("csrf", &token)]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("zone"), "{}", r.text);
    let r = ui.send(
        ui.http
            .post(format!("{}/ui/zone", ui.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("referer", format!("{}/ui/schedules?status=active", ui.base))
            .body(format!("zone=Asia%2FTokyo&csrf={token}")),
    );
    assert_eq!((r.status, r.location()), (303, "/ui/schedules?status=active"), "{}", r.text);
    let list = ui.get("/ui/schedules");
    assert!(list.text.contains("Next fire (Asia/Tokyo)") && list.text.contains("JST (Asia/Tokyo)"), "{}", list.text);
    assert!(list.text.contains(" UTC</time>"), "the schedule's own zone too: {}", list.text);
    let r = ui.post("/ui/zone", &[("zone", ""), ("csrf", &token)]);
    assert_eq!((r.status, r.location()), (303, "/ui/"));
    assert!(ui.get("/ui/schedules").text.contains("Next fire (UTC)"));
    // The sign-in form needs its own token too.
    let r = ui.post("/ui/sign-in", &[("brand_uuid", &d.brand), ("api_key", &d.key)]);
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn another_brands_ids_are_a_404_page() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "t");
    let execution = failed_execution(&api, &rx, &template);
    let schedule = interval_schedule(&api, &template, "mine");

    let other = d.new_brand("other", None);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&other.brand, &other.key).status, 303);
    for path in [format!("/ui/executions/{execution}"), format!("/ui/schedules/{schedule}")] {
        let r = ui.get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert!(r.text.contains("not found"), "{}", r.text);
    }
    let token = ui.get("/ui/").csrf();
    let r = ui.post(&format!("/ui/executions/{execution}/retry"), &[("csrf", &token)]);
    assert_eq!(r.status, 404, "{}", r.text);
    let r = ui.get("/ui/executions/not-a-uuid");
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("execution_uuid"), "{}", r.text);
}

#[test]
fn the_overview_shows_the_lateness_of_the_last_24_hours() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let template = api.add_template(&api.add_domain(&rx.host()), "t");
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": {}}));
    assert_ok(&r);
    wait_for("a first request measured", WAIT, || {
        let r = api.get("get_lateness_summary");
        (r.json["data"]["measured"].as_u64() >= Some(1)).then_some(())
    });
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let home = ui.get("/ui/");
    assert_eq!(home.status, 200, "{}", home.text);
    for what in ["lateness p50", "lateness p99", "lateness max", "over 1 first requests of the last 24 hours"] {
        assert!(home.text.contains(what), "{what}: {}", home.text);
    }
    assert!(!home.text.contains("No first request measured"), "{}", home.text);
}

#[test]
fn revoking_the_key_and_signing_out_end_the_session() {
    let d = TestDaemon::start_with(CONFIG);
    let c = d.new_brand("revocable", Some("Europe/Berlin"));
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&c.brand, &c.key).status, 303);
    assert_eq!(ui.get("/ui/").status, 200);
    let (code, out, err) = d.cli(&["key", "revoke", &c.key[..12]]);
    assert_eq!(code, 0, "{out}{err}");
    let r = ui.get("/ui/");
    assert_eq!((r.status, r.location()), (303, "/ui/sign-in?ended=1"), "a revoked key ends the session");
    // A new key opens a new session; signing out ends it and its cookie.
    let (code, out, err) = d.cli(&["key", "create", "--brand", &c.brand, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let key: Value = serde_json::from_str(out.trim()).expect("json");
    let key = key["api_key"].as_str().expect("api_key").to_string();
    assert_eq!(ui.sign_in(&c.brand, &key).status, 303);
    let home = ui.get("/ui/");
    assert_eq!(home.status, 200);
    assert!(home.text.contains("Europe/Berlin"), "times are shown in the brand's zone");
    let r = ui.post("/ui/sign-out", &[]);
    assert_eq!(r.status, 403, "sign-out is a form post with the token too");
    let r = ui.post("/ui/sign-out", &[("csrf", &home.csrf())]);
    assert_eq!((r.status, r.location()), (303, "/ui/sign-in"));
    assert!(r.cookies().iter().any(|c| c.starts_with("hw_session=;") && c.contains("Max-Age=0")), "{:?}", r.cookies());
    let r = ui.get("/ui/schedules");
    assert_eq!((r.status, r.location()), (303, "/ui/sign-in?ended=1"), "the old cookie is refused");
    let r = ui.post("/ui/zone", &[("zone", "UTC")]);
    assert_eq!(r.location(), "/ui/sign-in?ended=1", "a form sent after the session ended too");
    let page = ui.get("/ui/sign-in?ended=1");
    assert!(page.text.contains("Your session ended; sign in again."), "{}", page.text);
    assert!(page.text.contains("initial-credentials.json"), "the sign-in page says where credentials come from");
    assert!(page.text.contains("hookwheel key create --brand"), "{}", page.text);
    assert!(!ui.get("/ui/sign-in").text.contains("session ended"));
}

#[test]
fn under_tls_the_session_cookie_is_secure() {
    let dir = crate::support::temp_dir();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("rcgen");
    std::fs::write(&cert_file, cert.pem()).expect("cert");
    std::fs::write(&key_file, signing_key.serialize_pem()).expect("key");
    let d = TestDaemon::start_with(&format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n{CONFIG}",
        cert_file.display(),
        key_file.display()
    ));
    assert!(d.base.starts_with("https://"), "{}", d.base);
    crate::support::install_crypto();
    let http = Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem().as_bytes()).expect("PEM")])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut ui = Ui::with_http(&d, http);
    let form = ui.get("/ui/sign-in");
    assert!(
        form.cookies().iter().any(|c| c.starts_with("hw_signin=") && c.contains("; Secure")),
        "{:?}",
        form.cookies()
    );
    let r = ui.sign_in(&d.brand, &d.key);
    assert_eq!(r.status, 303, "{}", r.text);
    let cookie = r.cookies().into_iter().find(|c| c.starts_with("hw_session=")).expect("session cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let home = ui.get("/ui/");
    assert_eq!(home.status, 200);
    for r in [&home, &form, &r] {
        assert_eq!(
            r.headers.get("strict-transport-security").and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{:?}",
            r.headers
        );
    }
}

#[test]
fn failed_sign_ins_are_limited_per_address_but_never_the_right_pair() {
    let d = TestDaemon::start_with(CONFIG);
    let mut ui = Ui::new(&d);
    for n in 1..=10 {
        let r = ui.sign_in(&d.brand, "hwk_wrong");
        assert_eq!(r.status, 401, "attempt {n}: {}", r.text);
    }
    let r = ui.sign_in(&d.brand, "hwk_wrong");
    assert_eq!(r.status, 429, "{}", r.text);
    let r = ui.sign_in("not-a-uuid", "hwk_wrong");
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(ui.session.is_none());
    // The limiter throttles failures only: the right pair from the same address signs in.
    let r = ui.sign_in(&d.brand, &d.key);
    assert_eq!((r.status, r.location()), (303, "/ui/"), "{}", r.text);
    assert!(ui.session.is_some());
    assert_eq!(ui.get("/ui/").status, 200);
}

#[test]
fn dashboard_in_a_real_headless_chromium() {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: install Debian's chromium and chromium-driver (scripts/test does)"
        );
    }
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "nightly report");
    let schedule = interval_schedule(&api, &template, "browser-visible schedule");
    let failed = failed_execution(&api, &rx, &template);
    let r = api.post(
        "add_cron_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "cron_expression": "0 7 * * 1-5",
            "cron_timezone": "Europe/Berlin", "is_one_off_task": false, "name": "weekday report"}),
    );
    assert_ok(&r);

    // A workflow waiting for approval before its `pay` step.
    let wf = api.post(
        "add_workflow_template",
        json!({"workflow_name": "payout", "workflow_description": "ui test", "runtype": "fifo_sequential"}),
    );
    assert_ok(&wf);
    let wf = wf.json["workflow_uuid"].as_str().expect("workflow_uuid").to_string();
    for (index, ident, approval) in [(0, "prepare", false), (1, "pay", true)] {
        let r = api.post(
            "add_workflow_step",
            json!({"index": index, "workflow_uuid": wf, "webhook_name": ident, "webhook_description": "s",
                "method": "POST", "path": format!("/{ident}"), "domain_uuid": domain,
                "human_approval_required": approval, "step_identifier": ident,
                "on_success_next_step_identifier": "", "on_fail_next_step_identifier": "", "delay_to_next_step": 0,
                "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
                "request_timeout_in_milliseconds": 5000, "request_body_json": {}, "headers_json": {},
                "query_params_json": {}}),
        );
        assert_ok(&r);
    }
    let r = api.post("execute_workflow", json!({"workflow_uuid": wf, "initial_context": {"amount": 5}}));
    assert_ok(&r);
    let run = r.json["run_uuid"].as_str().expect("run_uuid").to_string();
    let plan = wait_for("the approval to be listed", WAIT, || {
        api.all_pages("get_all_pending_approvals_paginated").into_iter().find(|p| p["run_uuid"] == run.as_str())
    });
    let plan = plan["execution_plan_uuid"].as_str().expect("plan").to_string();

    // A heartbeat monitor that has been pinged once (up), for the board.
    let r = api.post("add_monitor", json!({"monitor_name": "nightly backup", "interval_seconds": 3600}));
    assert_ok(&r);
    let ping = r.json["ping_url"].as_str().expect("ping_url").to_string();
    let r = api.bare(reqwest::Method::POST, &ping).send().expect("ping");
    assert!(r.status().is_success(), "ping: {}", r.status());

    // Another brand's execution, for the 404 page.
    let other = d.new_brand("other", None);
    let other_api = api.as_brand(&other.brand, &other.key);
    let other_domain = other_api.add_domain(&rx.host());
    let other_template = other_api.add_template(&other_domain, "theirs");
    let theirs = failed_execution(&other_api, &rx, &other_template);

    // An event routed to the template by a subscription, for the events pages and replay.
    let r = api.post(
        "add_subscription",
        json!({"subscription_name": "orders", "schedule_to": "webhook", "model_to_schedule_uuid": template}),
    );
    assert_ok(&r);
    let r = api.post("send_event", json!({"event_type": "order.created", "payload": {"n": 1}}));
    assert_ok(&r);
    let event = r.json["event_uuid"].as_str().expect("event_uuid").to_string();
    let r = api.post("add_source", json!({"source_name": "stripe-live", "verification": {"type": "none"}}));
    assert_ok(&r);

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("ui-screenshots");
    let profile = tempfile::tempdir().expect("profile dir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/test_ui.py");
    let out = Command::new(crate::python::selenium())
        .arg(script)
        .env("HW_URL", &d.base)
        .env("HW_BRAND", &d.brand)
        .env("HW_KEY", &d.key)
        .env("HW_SCHEDULE", &schedule)
        .env("HW_SCHEDULE_NAME", "browser-visible schedule")
        .env("HW_FAILED", &failed)
        .env("HW_PLAN", &plan)
        .env("HW_OTHER_EXECUTION", &theirs)
        .env("HW_MONITOR_NAME", "nightly backup")
        .env("HW_EVENT", &event)
        .env("HW_TEMPLATE", &template)
        .env("HW_SHOTS", &shots)
        .env("HW_PROFILE", profile.path())
        .env("SE_OFFLINE", "true")
        .output()
        .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ALL PASSED"), "{stdout}\n{stderr}");

    // What the browser did reached the daemon: the run went on past its approval…
    wait_for("the approved step at the receiver", WAIT, || {
        rx.requests().iter().any(|r| r.path == "/pay").then_some(())
    });
    // …and the failed execution was retried (a new execution linked to it succeeded).
    let retried = wait_for("the retry to succeed", WAIT, || {
        api.all_pages("get_executions_paginated")
            .into_iter()
            .find(|e| e["retry_of"] == failed.as_str() && e["status"] == "succeeded")
    });
    assert_eq!(retried["trigger"], "manual");
    // …and the domain's signing key was rotated (the new key and the previous one, overlapping).
    let keys = api.post("get_domain_signing_secret", json!({"domain_uuid": domain}));
    assert_ok(&keys);
    assert_eq!(keys.json["data"]["active_secrets"].as_array().map(Vec::len), Some(2), "{}", keys.text);
    for width in [360, 1440] {
        for page in ["sign-in", "overview", "schedules", "schedule", "executions", "execution", "approvals", "confirm"]
        {
            let f = shots.join(format!("{page}-{width}.png"));
            assert!(f.exists(), "no screenshot {}", f.display());
        }
    }
}

/// The load harness's record builders (`benches/load/records.rs`): realistic executions
/// written through the library.
#[path = "../../benches/load/records.rs"]
mod records;

/// Every list page reads one page through the indexed operations: with 100,000 executions
/// stored (1 % failed, ten schedules), each page answers well within a generous bound. The
/// times are printed (debug build, loopback, best of three); the bound only catches a page
/// that reads the whole table, it is not a speed test.
#[test]
fn pages_read_one_page_with_100_000_executions_stored() {
    const ROWS: usize = 100_000;
    let mut d = TestDaemon::start_with(CONFIG);
    d.stop();
    let brand = hookwheel::model::BrandId::parse(&d.brand).expect("brand");
    let store_file = d.store_file();
    let schedules = tokio::runtime::Runtime::new().expect("runtime").block_on(async move {
        let store = hookwheel::store::Store::open(
            &store_file,
            hookwheel::store::WriterSettings {
                commit_batch_max: 64,
                write_queue_capacity: 256,
                cache_bytes: 64 * 1024 * 1024,
                ..Default::default()
            },
            hookwheel::metrics::Metrics::new(),
        )
        .expect("open the store");
        let step_ms = 100;
        let first = crate::support::unix_now_s() * 1000 - ROWS as i64 * step_ms;
        let schedules = records::fill_executions(&store, brand, ROWS, 10, first, step_ms).await;
        store.shutdown().await;
        schedules
    });
    d.launch().expect("restart");
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let failed = ui.get("/ui/executions?status=failed");
    let one =
        failed.text.split("/ui/executions/").nth(1).and_then(|s| s.get(..36)).expect("a failed execution").to_string();
    let schedule = schedules[0].0.to_string();
    for path in [
        "/ui/".to_string(),
        "/ui/executions".to_string(),
        "/ui/executions?status=failed&page=5".to_string(),
        format!("/ui/executions?schedule={schedule}&page=3"),
        "/ui/schedules".to_string(),
        format!("/ui/schedules/{schedule}"),
        format!("/ui/executions/{one}"),
    ] {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = crate::support::now();
            let r = ui.get(&path);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            best = best.min(crate::support::now() - t);
        }
        println!("{path}: {} ms", best.as_millis());
        assert!(best < Duration::from_secs(5), "{path} took {best:?} with {ROWS} executions");
    }
}

/// A daemon whose API rate limit is 2 a minute: a sign-in and one page take both tokens (the
/// next one comes 30 s later).
const TWO_A_MINUTE: &str = "[api]\nrate_limit_per_minute = 2\n";

#[test]
fn sign_out_works_while_the_key_is_rate_limited() {
    let d = TestDaemon::start_with(TWO_A_MINUTE);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let home = ui.get("/ui/");
    assert_eq!(home.status, 200, "{}", home.text);
    let token = home.csrf();
    let r = ui.post("/ui/sign-out", &[("csrf", "0".repeat(64).as_str())]);
    assert_eq!(r.status, 403, "a wrong token still refuses: {}", r.text);
    let r = ui.post("/ui/sign-out", &[("csrf", &token)]);
    assert_eq!((r.status, r.location()), (303, "/ui/sign-in"), "{}", r.text);
    assert!(r.cookies().iter().any(|c| c.starts_with("hw_session=;") && c.contains("Max-Age=0")), "{:?}", r.cookies());
    let r = ui.get("/ui/");
    assert_eq!((r.status, r.location()), (303, "/ui/sign-in?ended=1"), "the session ended");
}

#[test]
fn a_rate_limited_poll_keeps_the_fragment_and_the_session() {
    let d = TestDaemon::start_with(TWO_A_MINUTE);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    assert_eq!(ui.get("/ui/").status, 200, "the last token");
    for path in ["/ui/monitors/board", "/ui/approvals/list"] {
        let r = ui.send(ui.http.get(format!("{}{path}", ui.base)).header("HX-Request", "true"));
        assert_eq!(r.status, 204, "{path}: {}", r.text);
        assert!(r.headers.get("hx-redirect").is_none(), "{path}: not signed out: {:?}", r.headers);
    }
    // A page (not a fragment) answers the 429 page with a Retry-After.
    let r = ui.get("/ui/schedules");
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);
    // The session is still there: a wrong token is refused (without a session, sign-out has
    // nothing to check and answers 303).
    let r = ui.post("/ui/sign-out", &[("csrf", "0".repeat(64).as_str())]);
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn without_a_session_every_htmx_request_gets_hx_redirect_to_sign_in() {
    let d = TestDaemon::start_with(CONFIG);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let token = ui.get("/ui/").csrf();
    assert_eq!(ui.post("/ui/sign-out", &[("csrf", &token)]).status, 303);
    for path in [
        "/ui/executions",
        "/ui/executions/0190a0b8-0000-7000-8000-000000000000",
        "/ui/approvals/list",
        "/ui/monitors/board",
        "/ui/",
    ] {
        let r = ui.send(ui.http.get(format!("{}{path}", ui.base)).header("HX-Request", "true"));
        assert_eq!(r.status, 204, "{path}: {}", r.text);
        assert_eq!(r.headers.get("hx-redirect").and_then(|v| v.to_str().ok()), Some("/ui/sign-in?ended=1"), "{path}");
        assert!(r.headers.get(LOCATION).is_none(), "{path}");
        if !path.ends_with("/list") && !path.ends_with("/board") {
            // A page (not a fragment, which only htmx asks for) without htmx: a redirect.
            let r = ui.get(path);
            assert_eq!((r.status, r.location()), (303, "/ui/sign-in?ended=1"), "{path} without htmx");
        }
    }
    let r = ui.send(
        ui.http
            .post(format!("{}/ui/zone", ui.base))
            .header("HX-Request", "true")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={token}&zone=")),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.headers.get("hx-redirect").and_then(|v| v.to_str().ok()), Some("/ui/sign-in?ended=1"));
    // Without any session cookie: the plain sign-in page.
    let r = ui.send(ui.http.get(format!("{}/ui/executions", ui.base)).header("HX-Request", "true").header(COOKIE, ""));
    assert_eq!(r.status, 204, "{}", r.text);
}

#[test]
fn a_sign_in_cookie_not_of_the_servers_form_gets_a_fresh_token() {
    let d = TestDaemon::start_with(CONFIG);
    let ui = Ui::new(&d);
    for bad in ["x", "AAAA", "<b>hi</b>", &"a".repeat(63), &"G".repeat(64)] {
        let r = ui.send(
            ui.http.get(format!("{}/ui/sign-in", ui.base)).header(COOKIE, format!("hw_signin={}", urlencode(bad))),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let token = r.csrf();
        assert_ne!(token.get(..bad.len()), Some(bad), "{bad}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{token}");
        assert!(r.cookies().iter().any(|c| c.starts_with(&format!("hw_signin={token};"))), "{:?}", r.cookies());
        // Signing in with the odd cookie and its own value as the token is refused.
        let r = ui.send(
            ui.http
                .post(format!("{}/ui/sign-in", ui.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(COOKIE, format!("hw_signin={}", urlencode(bad)))
                .body(format!("csrf={}&brand_uuid={}&api_key={}", urlencode(bad), d.brand, urlencode(&d.key))),
        );
        assert_eq!(r.status, 403, "{bad}: {}", r.text);
    }
    let good = "0123456789abcdef".repeat(4);
    let r = ui.send(ui.http.get(format!("{}/ui/sign-in", ui.base)).header(COOKIE, format!("hw_signin={good}")));
    assert_eq!(r.csrf(), good, "a token of the server's form is kept");
}

#[test]
fn a_post_from_another_origin_is_refused_and_changes_nothing() {
    let d = TestDaemon::start_with(CONFIG);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let token = ui.get("/ui/").csrf();
    let post = |origin: &str| {
        ui.send(
            ui.http
                .post(format!("{}/ui/zone", ui.base))
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={token}&zone=Asia%2FTokyo")),
        )
    };
    let r = post("https://evil.example");
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(!ui.get("/ui/").text.contains("Asia/Tokyo"), "nothing changed");
    let own = d.base.trim_end_matches('/').to_string();
    let r = post(&own);
    assert_eq!(r.status, 303, "the daemon's own origin: {}", r.text);
    assert!(ui.get("/ui/").text.contains("Asia/Tokyo"));
    // No Origin at all: the token decides.
    assert_eq!(ui.post("/ui/zone", &[("csrf", &token), ("zone", "")]).status, 303);
}

#[test]
fn the_approval_confirm_page_knows_the_plan() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let plan = |title: &str| {
        let r = api.post("create_approval_request", json!({"title": title, "timeout_seconds": 3600}));
        assert_ok(&r);
        r.json["execution_plan_uuid"].as_str().expect("execution_plan_uuid").to_string()
    };
    let (waiting, decided) = (plan("Deploy to production"), plan("Rotate keys"));
    assert_ok(&api.post("human_approval_action", json!({"execution_plan_uuid": decided, "action": "approve"})));
    let other = d.new_brand("other", None);
    let theirs = {
        let api = Api::new(&d.base, &other.brand, &other.key);
        let r = api.post("create_approval_request", json!({"title": "Theirs", "timeout_seconds": 3600}));
        assert_ok(&r);
        r.json["execution_plan_uuid"].as_str().expect("execution_plan_uuid").to_string()
    };

    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let r = ui.get(&format!("/ui/approvals/{waiting}/confirm?decision=approve"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Deploy to production"), "{}", r.text);
    let r = ui.get(&format!("/ui/approvals/{decided}/confirm?decision=approve"));
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("already decided"), "{}", r.text);
    for id in [theirs.as_str(), "0190a0b8-0000-7000-8000-000000000000"] {
        let r = ui.get(&format!("/ui/approvals/{id}/confirm?decision=reject"));
        assert_eq!(r.status, 404, "{id}: {}", r.text);
        assert!(!r.text.contains("Theirs"), "{}", r.text);
    }
    let r = ui.get("/ui/approvals/not-a-uuid/confirm?decision=approve");
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("execution_plan_uuid"), "{}", r.text);
}

#[test]
fn a_get_of_a_post_only_url_goes_to_the_page_of_its_action() {
    let d = TestDaemon::start_with(CONFIG);
    let c = d.new_brand("reloads", None);
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&c.brand, &c.key).status, 303);
    let id = "0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21";
    for (path, to) in [
        ("/ui/zone".to_string(), "/ui/".to_string()),
        ("/ui/sign-out".to_string(), "/ui/".to_string()),
        ("/ui/events/replay".to_string(), "/ui/events".to_string()),
        (format!("/ui/schedules/{id}/status"), format!("/ui/schedules/{id}")),
        (format!("/ui/executions/{id}/retry"), format!("/ui/executions/{id}")),
        (format!("/ui/approvals/{id}/decide"), "/ui/approvals".to_string()),
        (format!("/ui/monitors/{id}/pause"), "/ui/monitors".to_string()),
        (format!("/ui/domains/{id}/reset"), "/ui/domains".to_string()),
    ] {
        let r = ui.get(&path);
        assert_eq!((r.status, r.location()), (303, to.as_str()), "{path}");
    }
    // A method a page does not take: a 405 page in the layout with a way back.
    let r = ui.post("/ui/schedules", &[]);
    assert_eq!(r.status, 405);
    assert!(r.text.contains("Back to the overview") && r.text.contains("<nav"), "{}", r.text);
    // A bad zone sent from a POST-only URL's page goes back to the overview, not to it.
    let token = ui.get("/ui/").csrf();
    let r = ui.send(
        ui.http
            .post(format!("{}/ui/zone", ui.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("referer", format!("{}/ui/events/replay", ui.base))
            .body(format!("csrf={token}&zone=UTC")),
    );
    assert_eq!((r.status, r.location()), (303, "/ui/"));
    let r = ui.send(
        ui.http
            .post(format!("{}/ui/zone", ui.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("referer", format!("{}/ui/schedules?page=1", ui.base))
            .body(format!("csrf={token}&zone=UTC")),
    );
    assert_eq!((r.status, r.location()), (303, "/ui/schedules?page=1"));
    // A bad value keeps a way back to the page the form was on.
    let r = ui.send(
        ui.http
            .post(format!("{}/ui/events/replay", ui.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("referer", format!("{}/ui/events?status=accepted", ui.base))
            .body(format!("csrf={token}&from=yesterday&to=2026-01-02T00:00:00Z")),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("ISO-8601"), "{}", r.text);
    assert!(r.text.contains("href=\"/ui/events?status=accepted\">Back</a>"), "{}", r.text);
    assert!(ui.get("/ui/events").text.contains("From (ISO-8601"), "the form's label agrees with the error");
}

#[test]
fn an_unnamed_schedule_is_shown_by_its_driver_in_words() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "t");
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 5,
            "interval_period": "minute", "is_one_off_task": false}),
    );
    assert_ok(&r);
    let id = r.json["schedule_uuid"].as_str().expect("schedule_uuid").to_string();
    let mut ui = Ui::new(&d);
    assert_eq!(ui.sign_in(&d.brand, &d.key).status, 303);
    let label = format!("every 5 minutes \u{b7} \u{2026}{}", &id[id.len() - 8..]);
    let list = ui.get("/ui/schedules");
    assert!(list.text.contains(&label), "{}", list.text);
    assert!(list.text.contains(&format!("aria-label=\"Pause {label}\"")), "{}", list.text);
    let page = ui.get(&format!("/ui/schedules/{id}"));
    assert!(page.text.contains(&format!("<title>{label} \u{2014} hookwheel</title>")), "{}", page.text);
    assert!(page.text.contains(&format!("<h1>{label}</h1>")), "{}", page.text);
    assert!(
        page.text.contains("interval_value=5") && page.text.contains("interval_period=minute"),
        "raw driver values"
    );
    // Pausing from the list goes back to the list, which says what happened.
    let r =
        ui.post(&format!("/ui/schedules/{id}/status"), &[("csrf", &list.csrf()), ("to", "paused"), ("back", "list")]);
    assert_eq!((r.status, r.location()), (303, "/ui/schedules?notice=status"));
    let list = ui.get(r.location());
    assert!(
        list.text.contains("The schedule&#39;s status was changed.")
            || list.text.contains("The schedule's status was changed."),
        "{}",
        list.text
    );
}
