//! Seeing what the daemon does (issue 9, part 3): the log tells the story at info level (one
//! WARN line per failed execution with its ids, a periodic summary line), and the operator's
//! CLI views (`schedules`, `executions`, `status`) answer with the daemon running and stopped,
//! as text and as JSON; `executions tail` follows the running daemon.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Receiver, Script};
use crate::support::{Api, BIN, TestDaemon, assert_ok, now, wait_for};

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(30);

fn json_out(what: &str, (code, out, err): (i32, String, String)) -> Value {
    assert_eq!(code, 0, "{what}: {out}{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{what}: not one JSON object ({e}): {out:?}"))
}

fn text_out(what: &str, (code, out, err): (i32, String, String)) -> String {
    assert_eq!(code, 0, "{what}: {out}{err}");
    out
}

/// A template on `domain` (`POST /hook`), with `max_retries` retries 1 s apart.
fn template(api: &Api, domain: &str, max_retries: u32) -> String {
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "observed", "method": "POST", "path": "/hook", "domain_uuid": domain,
               "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": max_retries,
               "request_timeout_in_milliseconds": 3000, "request_body_json": {"hello": "world"}}),
    );
    assert_ok(&r);
    r.json["webhook_uuid"].as_str().unwrap().to_string()
}

fn execute(api: &Api, template: &str) -> String {
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template, "initial_context": {}}));
    assert_ok(&r);
    r.json["execution_uuid"].as_str().unwrap().to_string()
}

fn every_second(api: &Api, template: &str, one_off: bool) -> String {
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
               "interval_period": "second", "is_one_off_task": one_off}),
    );
    assert_ok(&r);
    r.json["schedule_uuid"].as_str().unwrap().to_string()
}

fn hourly(api: &Api, template: &str) -> String {
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
               "interval_period": "hour", "is_one_off_task": false}),
    );
    assert_ok(&r);
    r.json["schedule_uuid"].as_str().unwrap().to_string()
}

fn status_of(api: &Api, id: &str) -> String {
    let r = api.post("get_execution_details", json!({"execution_uuid": id}));
    assert_ok(&r);
    r.json["data"]["status"].as_str().unwrap_or("").to_string()
}

fn wait_status(api: &Api, id: &str, want: &str) {
    wait_for(&format!("execution {id} {want}"), WAIT, || (status_of(api, id) == want).then_some(()));
}

fn count(api: &Api, query: &str) -> u64 {
    let r = api.get(&format!("get_executions_paginated?{query}&page=1"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["meta"]["total_count"].as_u64().expect("total_count")
}

/// The number after `name=` in a log line.
fn field(line: &str, name: &str) -> Option<i64> {
    let at = line.find(&format!(" {name}="))? + name.len() + 2;
    let digits: String = line[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    digits.parse().ok()
}

fn summary_lines(out: &str) -> Vec<String> {
    out.lines().filter(|l| l.contains(" INFO ") && l.contains(": summary ")).map(str::to_string).collect()
}

#[test]
fn a_failed_execution_logs_one_warn_line_with_its_ids_and_the_summary_counts_the_interval() {
    let mut d = TestDaemon::start_with(
        "[api]\nrate_limit_per_minute = 0\n\n[log]\nlevel = \"info\"\nsummary_interval_seconds = 1\n",
    );
    let api = d.client();
    // An idle daemon logs no summary.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(summary_lines(&d.output()).is_empty(), "an idle interval logged a summary:\n{}", d.output());

    let failing = Receiver::start();
    failing.set_script(Script::status(500));
    let bad_domain = api.add_domain(&failing.host());
    let bad = template(&api, &bad_domain, 1);
    let ok_rx = Receiver::start();
    let good = template(&api, &api.add_domain(&ok_rx.host()), 0);

    // A schedule that fails every second (two attempts each), and one manual success.
    let schedule = every_second(&api, &bad, false);
    let success = execute(&api, &good);
    wait_status(&api, &success, "succeeded");
    wait_for("two failed executions", WAIT, || (count(&api, "filter_status=failed") >= 2).then_some(()));
    let r = api.post("change_schedule_status", json!({"schedule_uuid": schedule, "update_status_to": "paused"}));
    assert_ok(&r);
    wait_for("no unfinished execution", WAIT, || {
        (count(&api, "filter_status=pending") + count(&api, "filter_status=running") == 0).then_some(())
    });
    let failed = count(&api, "filter_status=failed");
    let fired = count(&api, &format!("schedule_uuid={schedule}")) - count(&api, "filter_status=skipped");

    // The summary lines add up to what happened: every fire, the one success, every failure.
    let sums = wait_for("summary lines that add up", WAIT, || {
        let lines = summary_lines(&d.output());
        let sum = |name: &str| lines.iter().map(|l| field(l, name).unwrap_or(0)).sum::<i64>();
        let sums = (sum("fires"), sum("succeeded"), sum("failed"));
        (sums == (fired as i64, 1, failed as i64)).then_some(lines)
    });
    for l in &sums {
        assert!(field(l, "interval_seconds") == Some(1), "{l}");
        assert!(l.contains("lateness_p99_ms="), "{l}");
    }
    assert!(
        sums.iter().any(|l| field(l, "lateness_p99_ms").is_some_and(|ms| (0..5000).contains(&ms))),
        "no interval with a p99 lateness: {sums:#?}"
    );

    assert_eq!(d.stop(), Some(0));
    let out = d.output();
    // The store (read with the daemon stopped) and the log agree: one WARN line per failed
    // execution, none per attempt, each with the ids of the span.
    let list = json_out("executions list --failed", d.cli(&["executions", "list", "--failed", "--json"]));
    let rows = list["executions"].as_array().expect("executions");
    assert_eq!(rows.len() as u64, failed, "{list:#}");
    let warn_lines: Vec<&str> = out.lines().filter(|l| l.contains(" WARN ")).collect();
    let failures: Vec<&&str> = warn_lines.iter().filter(|l| l.contains("execution failed")).collect();
    assert_eq!(failures.len() as u64, failed, "one WARN line per failed execution:\n{out}");
    for row in rows {
        assert_eq!(row["attempts"], 2, "{row}");
        let id = row["execution_uuid"].as_str().unwrap();
        let mine: Vec<&&str> = warn_lines.iter().filter(|l| l.contains(&format!("execution={id}"))).collect();
        assert_eq!(mine.len(), 1, "execution {id}: {mine:#?}");
        let l = mine[0];
        for want in [
            format!("brand={}", d.brand),
            format!("schedule={schedule}"),
            format!("execution={id}"),
            "attempt=2".to_string(),
            format!("domain={bad_domain}"),
            format!("target={bad}"),
            "HTTP 500".to_string(),
        ] {
            assert_eq!(l.matches(&want).count(), 1, "{want} not once in {l}");
        }
    }
    // At info level no line per fire or per attempt, and the success logs nothing.
    assert!(!out.contains("attempt ended") && !out.contains(": fired"), "{out}");
    assert!(!out.contains(&success), "a successful execution was logged at info level:\n{out}");
}

/// Runs the CLI with `args` plus `--json` and parses the object.
fn cli_json(d: &TestDaemon, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    json_out(&args.join(" "), d.cli(&all))
}

fn ids(v: &Value, list: &str, key: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {v:#}"))
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn schedules_executions_and_status_with_the_daemon_running_and_stopped() {
    let mut d = TestDaemon::start_with("[api]\nrate_limit_per_minute = 0\n");
    let api = d.client();
    let ok_rx = Receiver::start();
    let failing = Receiver::start();
    failing.set_script(Script::status(503));
    // Brand A (the first brand): a one-off schedule that fires once and completes, a manual run.
    let good = template(&api, &api.add_domain(&ok_rx.host()), 0);
    let one_off = every_second(&api, &good, true);
    let manual = execute(&api, &good);
    // Brand B: an active hourly schedule and a failing manual run.
    let b = d.new_brand("second", None);
    let api_b = api.as_brand(&b.brand, &b.key);
    let bad = template(&api_b, &api_b.add_domain(&failing.host()), 0);
    let hourly_b = hourly(&api_b, &bad);
    let failed = execute(&api_b, &bad);
    wait_status(&api, &manual, "succeeded");
    wait_status(&api_b, &failed, "failed");
    let fired = wait_for("the one-off fire", WAIT, || {
        let r = api.get(&format!("get_executions_paginated?schedule_uuid={one_off}&filter_status=succeeded&page=1"));
        r.json["data"].as_array().and_then(|a| a.first()).and_then(|e| e["execution_uuid"].as_str()).map(String::from)
    });

    let views = |d: &TestDaemon| -> Vec<(String, Value)> {
        let mut v = Vec::new();
        for args in [
            vec!["schedules", "list"],
            vec!["schedules", "list", "--brand", &b.brand],
            vec!["schedules", "list", "--status", "active"],
            vec!["schedules", "show", &one_off],
            vec!["executions", "list"],
            vec!["executions", "list", "--failed"],
            vec!["executions", "list", "--schedule", &one_off],
            vec!["executions", "list", "--brand", &d.brand, "--limit", "1"],
            vec!["executions", "show", &failed],
        ] {
            v.push((args.join(" "), cli_json(d, &args)));
        }
        v
    };
    let check = |d: &TestDaemon, v: &[(String, Value)]| {
        let get = |name: &str| &v.iter().find(|(n, _)| n.starts_with(name)).unwrap().1;
        let all = get("schedules list");
        let mut got = ids(all, "schedules", "schedule_uuid");
        got.sort();
        let mut want = vec![one_off.clone(), hourly_b.clone()];
        want.sort();
        assert_eq!(got, want, "every brand's schedules: {all:#}");
        assert_eq!(ids(&v[1].1, "schedules", "schedule_uuid"), [hourly_b.as_str()], "--brand");
        assert_eq!(v[1].1["schedules"][0]["brand_uuid"], b.brand.as_str());
        assert_eq!(ids(&v[2].1, "schedules", "schedule_uuid"), [hourly_b.as_str()], "--status active");
        let show = &v[3].1;
        assert_eq!(show["schedule_uuid"], one_off.as_str());
        assert_eq!(show["brand_uuid"], d.brand.as_str());
        assert_eq!((show["status"].as_str(), show["driver"].as_str()), (Some("completed"), Some("interval")));
        assert_eq!(ids(show, "recent_executions", "execution_uuid"), [fired.as_str()]);
        let execs = &v[4].1;
        let mut got = ids(execs, "executions", "execution_uuid");
        let newest_first = got.clone();
        got.sort();
        let mut want = vec![manual.clone(), failed.clone(), fired.clone()];
        want.sort();
        assert_eq!(got, want, "every brand's executions: {execs:#}");
        let mut sorted = newest_first.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(newest_first, sorted, "newest first (UUIDv7 order)");
        assert_eq!(ids(&v[5].1, "executions", "execution_uuid"), [failed.as_str()], "--failed");
        assert_eq!(v[5].1["executions"][0]["reason"], "failed after 1 attempt: HTTP 503");
        assert_eq!(ids(&v[6].1, "executions", "execution_uuid"), [fired.as_str()], "--schedule");
        let limited = &v[7].1;
        assert_eq!((limited["total"].as_u64(), limited["executions"].as_array().map(Vec::len)), (Some(2), Some(1)));
        let e = &v[8].1;
        assert_eq!((e["execution_uuid"].as_str(), e["status"].as_str()), (Some(failed.as_str()), Some("failed")));
        assert_eq!(e["brand_uuid"], b.brand.as_str());
        let a = &e["attempt_details"][0];
        assert_eq!((a["status_code"].as_u64(), a["request"]["method"].as_str()), (Some(503), Some("POST")), "{e:#}");
    };
    let running = views(&d);
    check(&d, &running);

    // Text tables name the same things.
    let t = text_out("schedules list", d.cli(&["schedules", "list"]));
    assert!(
        t.starts_with("SCHEDULE") && t.contains(&one_off) && t.contains(&hourly_b) && t.contains("completed"),
        "{t}"
    );
    let t = text_out("schedules show", d.cli(&["schedules", "show", &hourly_b]));
    assert!(t.contains("brand:") && t.contains(&b.brand) && t.contains("active"), "{t}");
    let t = text_out("executions list", d.cli(&["executions", "list", "--failed"]));
    assert!(t.starts_with("EXECUTION") && t.contains(&failed) && t.contains("HTTP 503") && !t.contains(&manual), "{t}");
    let t = text_out("executions show", d.cli(&["executions", "show", &failed]));
    assert!(t.contains("attempt 1:") && t.contains("-> 503") && t.contains("POST http://"), "{t}");

    let st = cli_json(&d, &["status"]);
    assert_eq!(st["daemon"], "running", "{st:#}");
    assert!(st["uptime_seconds"].as_u64().is_some() && st["started_at"].is_string(), "{st:#}");
    assert_eq!(st["armed_timers"], 1, "the hourly schedule is armed: {st:#}");
    assert_eq!(st["store_writable"], true);
    assert_eq!(st["queue_depths"], json!([]));
    assert_eq!(st["store"]["brands"], 2);
    assert_eq!(st["store"]["schedules"]["active"], 1);
    assert_eq!(st["store"]["schedules"]["completed"], 1);
    assert_eq!(st["store"]["unfinished_executions"], 0);
    assert_eq!(st["store"]["monitors"], json!({"new": 0, "up": 0, "late": 0, "down": 0, "paused": 0}));
    assert_eq!(ids(&st, "last_errors", "execution_uuid"), [failed.as_str()]);
    let t = text_out("status", d.cli(&["status"]));
    assert!(t.contains("running (pid") && t.contains("armed timers:     1") && t.contains(&failed), "{t}");
    assert!(t.contains("monitors:         0 down, 0 late, 0 new, 0 paused, 0 up"), "{t}");

    // Bad input names what is wrong.
    let nobody = uuid::Uuid::new_v4().to_string();
    for (args, want) in [
        (vec!["schedules", "show", nobody.as_str()], "not found"),
        (vec!["executions", "show", "nope"], "not an execution UUID"),
        (vec!["executions", "list", "--brand", nobody.as_str()], "not found"),
        (vec!["schedules", "list", "--status", "sleeping"], "--status"),
        (vec!["executions", "list", "--limit", "0"], "--limit"),
    ] {
        let (code, out, err) = d.cli(&args);
        assert!(code != 0 && err.contains(want), "{args:?}: {code} {out}{err}");
    }

    // Stopped: the same answers, read from the store file.
    assert_eq!(d.stop(), Some(0));
    let stopped = views(&d);
    check(&d, &stopped);
    for ((name, a), (_, b)) in running.iter().zip(&stopped) {
        assert_eq!(a, b, "{name}: the daemon and the store file answer differently");
    }
    let st = cli_json(&d, &["status"]);
    assert_eq!(st["daemon"], "stopped", "{st:#}");
    assert_eq!(st["store"]["brands"], 2);
    assert_eq!(st["store"]["schedules"]["active"], 1);
    assert_eq!(ids(&st, "last_errors", "execution_uuid"), [failed.as_str()]);
    let t = text_out("status", d.cli(&["status"]));
    assert!(t.contains("stopped") && t.contains(&failed) && t.contains("hookwheel.redb"), "{t}");
    let t = text_out("executions list", d.cli(&["executions", "list"]));
    assert!(t.contains(&manual) && t.contains(&failed), "{t}");
    let (code, _, err) = d.cli(&["executions", "tail"]);
    assert!(code != 0 && err.contains("not running"), "tail with the daemon stopped: {code} {err}");
    // Reading left the store as it was: nothing was written, the daemon starts on it.
    d.restart();
    assert_eq!(cli_json(&d, &["executions", "list"]), running[4].1);
}

/// Starts `hookwheel executions tail` on `d` and waits until it follows the daemon.
fn start_tail(d: &TestDaemon, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["executions", "tail"])
        .args(args)
        .arg("--config")
        .arg(d.config_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(format!("out {l}"));
        }
    });
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("err {l}"));
        }
    });
    let first = rx.recv_timeout(WAIT).expect("tail says it follows");
    assert!(first.starts_with("err ") && first.contains("following"), "{first}");
    (child, rx)
}

fn next_line(rx: &std::sync::mpsc::Receiver<String>) -> String {
    rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no line from tail within {WAIT:?}"))
}

#[test]
fn executions_tail_prints_each_execution_as_it_ends() {
    let mut d = TestDaemon::start_with("[api]\nrate_limit_per_minute = 0\n");
    let api = d.client();
    let ok_rx = Receiver::start();
    let failing = Receiver::start();
    failing.set_script(Script::status(500));
    let good = template(&api, &api.add_domain(&ok_rx.host()), 0);
    let bad = template(&api, &api.add_domain(&failing.host()), 0);
    let (mut json_tail, json_rx) = start_tail(&d, &["--json"]);
    // Ids are taken in any spelling a UUID has.
    let (mut failed_tail, failed_rx) = start_tail(&d, &["--failed", "--brand", &d.brand.to_uppercase()]);

    let s = execute(&api, &good);
    let line = next_line(&json_rx);
    let row: Value = serde_json::from_str(line.strip_prefix("out ").expect("stdout")).expect("a JSON line");
    assert_eq!((row["execution_uuid"].as_str(), row["status"].as_str()), (Some(s.as_str()), Some("succeeded")));
    assert_eq!((row["brand_uuid"].as_str(), row["attempts"].as_u64()), (Some(d.brand.as_str()), Some(1)));
    assert!(row["finished_at"].is_string(), "{row}");
    let f = execute(&api, &bad);
    let row: Value = serde_json::from_str(next_line(&json_rx).strip_prefix("out ").unwrap()).unwrap();
    assert_eq!((row["execution_uuid"].as_str(), row["status"].as_str()), (Some(f.as_str()), Some("failed")));
    assert_eq!(row["reason"], "failed after 1 attempt: HTTP 500");
    // The --failed text tail saw only the failure.
    let l = next_line(&failed_rx);
    assert!(l.starts_with("out ") && l.contains("failed") && l.contains(&f) && l.contains("HTTP 500"), "{l}");
    assert!(!l.contains(&s));
    failed_tail.kill().expect("stop the text tail");
    let _ = failed_tail.wait();
    // A stopping daemon ends the tail with an error.
    assert_eq!(d.stop(), Some(0));
    let start = now();
    let status = loop {
        if let Some(st) = json_tail.try_wait().expect("tail status") {
            break st;
        }
        assert!(now() - start < WAIT, "the tail outlived the daemon");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    // The readers of its output end when the pipes close: read until then (a line may still
    // be on its way when the process has exited).
    let mut rest = Vec::new();
    while let Ok(l) = json_rx.recv_timeout(WAIT) {
        rest.push(l);
    }
    assert!(rest.iter().any(|l| l.starts_with("err ") && l.contains("stopped")), "{rest:?}");
}

#[test]
fn the_views_read_a_store_that_a_kill_9_left_unclean() {
    let mut d = TestDaemon::start_with("[api]\nrate_limit_per_minute = 0\n");
    let api = d.client();
    let rx = Receiver::start();
    let t = template(&api, &api.add_domain(&rx.host()), 0);
    let id = execute(&api, &t);
    wait_status(&api, &id, "succeeded");
    d.kill9();
    let list = cli_json(&d, &["executions", "list"]);
    assert_eq!(ids(&list, "executions", "execution_uuid"), [id.as_str()], "{list:#}");
    assert_eq!(cli_json(&d, &["status"])["daemon"], "stopped");
    d.restart();
    assert_eq!(cli_json(&d, &["executions", "show", &id])["status"], "succeeded");
}

#[test]
fn a_target_failing_through_its_retries_shows_before_the_execution_ends() {
    let d = TestDaemon::start();
    let api = d.client();
    let failing = Receiver::start();
    failing.set_script(Script::status(503));
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "slow retries", "method": "POST", "path": "/hook",
               "domain_uuid": api.add_domain(&failing.host()), "retry_delay": 3600,
               "retry_backoff_mode": "linear", "max_retries": 3, "request_body_json": {}}),
    );
    assert_ok(&r);
    let id = execute(&api, r.json["webhook_uuid"].as_str().unwrap());
    // The first attempt fails; the next is an hour away.
    wait_for("the first attempt", WAIT, || (failing.requests().len() == 1).then_some(()));
    let status = wait_for("status to list the retrying execution", WAIT, || {
        let v = cli_json(&d, &["status"]);
        v["last_errors"].as_array().and_then(|e| e.iter().find(|r| r["execution_uuid"] == id.as_str()).cloned())
    });
    assert_eq!(status["status"], "pending", "{status:#}");
    assert_eq!(status["last_error"], "HTTP 503", "{status:#}");
    assert!(status["next_attempt_at"].is_string(), "{status:#}");
    let text = text_out("status", d.cli(&["status"]));
    assert!(text.contains(&format!("execution {id}")) && text.contains(": HTTP 503"), "{text}");
    let list = text_out("executions list", d.cli(&["executions", "list"]));
    let row = list.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert!(row.contains("retrying at ") && row.ends_with(": HTTP 503"), "{row}");
}

#[test]
fn the_lateness_summary_counts_a_brands_first_requests_and_no_other_brands() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let good = template(&api, &api.add_domain(&rx.host()), 0);
    let schedule = every_second(&api, &good, false);
    wait_for("two succeeded executions", WAIT, || (count(&api, "filter_status=succeeded") >= 2).then_some(()));
    let r = api.post("change_schedule_status", json!({"schedule_uuid": schedule, "update_status_to": "paused"}));
    assert_ok(&r);

    let r = api.get("get_lateness_summary");
    assert_eq!(r.status, 200, "{}", r.text);
    let s = &r.json["data"];
    assert_eq!(s["window_hours"], 24);
    assert!(s["measured"].as_u64().unwrap() >= 2, "{s}");
    let (p50, p99, max) =
        (s["lateness_p50_at_most_ms"].as_i64(), s["lateness_p99_at_most_ms"].as_i64(), s["lateness_max_ms"].as_i64());
    assert!(p50.is_some() && p99.is_some() && max.is_some(), "{s}");
    // The percentiles are bucket bounds: p50 ≤ p99, and the max lies within p99's bucket or above.
    assert!(p50 <= p99, "{s}");
    let bounds: Vec<i64> = s["bucket_bounds_ms"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
    assert!(bounds.contains(&p99.unwrap()), "{s}");
    let r = api.get("get_lateness_summary?window_hours=1");
    assert_eq!(r.json["data"]["measured"], s["measured"], "{}", r.text);

    // Another brand has measured nothing; a window outside 1–24 is refused by name.
    let other = d.new_brand("other", None);
    let r = api.as_brand(&other.brand, &other.key).get("get_lateness_summary");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["data"]["measured"], 0, "{}", r.text);
    assert!(r.json["data"]["lateness_p99_at_most_ms"].is_null(), "{}", r.text);
    for bad in ["0", "25", "x"] {
        let r = api.get(&format!("get_lateness_summary?window_hours={bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.text.contains("window_hours"), "{bad}: {}", r.text);
    }
}
