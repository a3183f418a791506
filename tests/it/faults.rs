//! Fault injection against the real daemon: a full disk (a small tmpfs), injected read and
//! write failures, a panic inside the store writer. For each: the process stays up, answers
//! with the documented status, loses no acknowledged write and recovers without a restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::receiver::Receiver;
use crate::support::*;

/// A tmpfs mounted for one test, unmounted when dropped. Mounting needs root (CI runs as
/// root): a test that cannot mount fails, it never skips.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file; returns its path.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&chunk).is_err() || f.sync_data().is_err() {
            break;
        }
    }
    path
}

fn add_every_second_schedule(api: &Api, template: &str) -> String {
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
               "interval_period": "second", "is_one_off_task": false, "misfire_policy": "fire_once", "misfire_grace_seconds": 3600}),
    );
    assert_ok(&r);
    r.json["schedule_uuid"].as_str().expect("schedule_uuid").to_string()
}

#[test]
fn a_full_disk_answers_507_keeps_the_daemon_up_and_recovers_when_space_returns() {
    let tmp = temp_dir();
    let _fs = Tmpfs::mount(&tmp.path().join("data"), "16m");
    let mut d = TestDaemon::unstarted(tmp, "");
    d.launch().expect("daemon starts");
    let creds = d.initial_credentials();
    d.brand = creds.brand;
    d.key = creds.key;
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "tick");
    add_every_second_schedule(&api, &template);
    rx.wait_for(2, Duration::from_secs(30));
    let pid = d.pid();

    let filler = fill_disk(&d.data_dir());
    // The next commit (a fire, at the latest within a second) fails: writes answer 507.
    // redb grows its file in steps, so a few commits may still fit: the first write that
    // needs new space fails.
    let mut n = 0;
    let mut accepted = Vec::new();
    let r = wait_for("writes to answer 507", Duration::from_secs(30), || {
        n += 1;
        let name = format!("full-{n}.example");
        let r = api.post("add_domain", json!({"protocol_type": "https", "domain": name}));
        if r.status == 200 {
            accepted.push(name);
            return None;
        }
        Some((r, name))
    });
    let (r, refused) = r;
    assert_error_starts(&r, 507, "Insufficient storage");
    assert!(r.headers.get("retry-after").is_some(), "507 carries Retry-After: {:?}", r.headers);
    let r = api.delete("delete_domain", json!({"domain_uuid": domain}));
    assert!(r.status == 507 || r.status == 503, "a delete while the disk is full: {}", r.text);
    let ready = api.plain_get("/readyz");
    assert_eq!(ready.status, 503, "/readyz while writes fail: {}", ready.text);
    assert!(d.metrics().contains("hookwheel_store_writable 0"), "{}", d.metrics());
    // Stay full for a few seconds (fires come due meanwhile): reads keep working, the store
    // stays not ready (it does not flap while the disk is full).
    for _ in 0..10 {
        let r = api.get("get_domain_paginated?page=1");
        assert_eq!(r.status, 200, "a read while the disk is full: {}", r.text);
        assert_eq!(api.plain_get("/readyz").status, 503);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(d.is_running(), "the daemon died on a full disk:\n{}", d.output());
    assert!(d.output().contains("store: writes are failing"), "{}", d.output());

    std::fs::remove_file(&filler).unwrap();
    let r = wait_for("writes to succeed again", Duration::from_secs(30), || {
        let r = api.post("add_domain", json!({"protocol_type": "https", "domain": "after.example"}));
        (r.status == 200).then_some(r)
    });
    assert_ok(&r);
    wait_for("/readyz ready again", Duration::from_secs(10), || (api.plain_get("/readyz").status == 200).then_some(()));
    let before = rx.count();
    rx.wait_for(before + 2, Duration::from_secs(30));
    assert_eq!(d.pid(), pid, "recovered without a restart");
    assert!(d.metrics().contains("hookwheel_store_writable 1"));

    // Nothing acknowledged was lost: after a restart the domain created after recovery is there
    // and the one refused with 507 is not.
    d.restart();
    let api = d.client();
    let names: Vec<String> = api
        .all_pages("get_domain_paginated")
        .iter()
        .map(|d| d["domain_name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(names.contains(&"after.example".to_string()), "{names:?}");
    assert!(accepted.iter().all(|a| names.contains(a)), "every acknowledged create survived: {accepted:?} {names:?}");
    assert!(!names.contains(&refused), "the create refused with 507 was not written: {names:?}");
}

#[test]
fn a_panic_in_a_store_operation_is_a_500_and_the_next_write_succeeds() {
    let d = TestDaemon::start();
    let api = d.client();
    let before = api.total("get_domain_paginated");
    // The next store operation panics inside the writer.
    d.failpoint("store::op", "1*panic");
    let r = api.post("add_domain", json!({"protocol_type": "https", "domain": "panic.example"}));
    assert_error(&r, 500, "Internal server error");
    d.failpoint("store::op", "off");
    assert_eq!(api.total("get_domain_paginated"), before, "the panicking create wrote nothing");
    let r = api.post("add_domain", json!({"protocol_type": "https", "domain": "after-panic.example"}));
    assert_ok(&r);
    assert!(d.metrics().contains("hookwheel_store_faults_total{kind=\"panic\"} 1"), "{}", d.metrics());
    assert_eq!(api.plain_get("/readyz").status, 200);
}

#[test]
fn an_operation_failing_after_its_first_write_writes_nothing() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let before = api.total("get_webhook_template_paginated");
    // A template create writes the template and its domain index: fail the second write.
    d.failpoint("store::write", "1*off->return(corrupt)");
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "half", "method": "POST", "path": "/x", "domain_uuid": domain}),
    );
    d.failpoint("store::write", "off");
    assert_error(&r, 500, "Internal server error");
    assert_eq!(api.total("get_webhook_template_paginated"), before);
    // The domain is not held by a half-written template: it can be deleted.
    let r = api.delete("delete_domain", json!({"domain_uuid": domain}));
    assert_ok(&r);
    assert!(d.output().contains("internal error"), "the cause is logged: {}", d.output());
}

#[test]
fn read_failures_answer_503_never_not_found() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "t");
    d.failpoint("store::get", "return(eio)");
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": template}));
    d.failpoint("store::get", "off");
    assert_error_starts(&r, 503, "Service unavailable");
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": template}));
    assert_ok(&r);
}

#[test]
fn deliveries_and_fires_survive_a_commit_outage_without_a_restart() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "tick");
    let schedule = add_every_second_schedule(&api, &template);
    rx.wait_for(2, Duration::from_secs(30));
    let pid = d.pid();
    d.failpoint("store::commit", "return");
    std::thread::sleep(Duration::from_secs(4));
    d.failpoint("store::commit", "off");
    let after = rx.count();
    rx.wait_for(after + 3, Duration::from_secs(30));
    assert_eq!(d.pid(), pid);
    // Every instant from the first fire to now is delivered, pending or recorded (missed
    // while the store could not write, per misfire_policy fire_once: the newest fires).
    let execs = api.all_pages(&format!("get_executions_paginated?schedule_uuid={schedule}"));
    let mut instants: Vec<i64> = execs
        .iter()
        .filter_map(|e| e["scheduled_at"].as_str().map(str::to_string))
        .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .collect();
    instants.sort();
    instants.dedup();
    assert!(instants.len() >= 6, "{execs:?}");
    for w in instants.windows(2) {
        assert_eq!(w[1] - w[0], 1000, "an instant is neither delivered nor recorded between {} and {}", w[0], w[1]);
    }
}

#[test]
fn a_delivery_that_cannot_read_its_domain_waits_for_the_store_and_is_not_failed() {
    // Case 7: a read error inside delivery is neither "template not found" nor an unresolved
    // secret; the execution waits and is delivered once the store answers.
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    api.add_secret("tok", "s3cret-value");
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "t", "method": "POST", "path": "/x", "domain_uuid": domain,
               "headers_json": {"Authorization": "Bearer {{ #tok }}"}}),
    );
    assert_ok(&r);
    let template = r.json["webhook_uuid"].as_str().unwrap().to_string();
    // Only reads of domain records fail: the API call (which reads the template) commits the
    // execution, then delivery cannot read the template's domain.
    d.failpoint("store::get", "return(eio:domains)");
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": template}));
    assert_ok(&r);
    let id = r.json["execution_uuid"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.count(), 0, "nothing was sent while the store could not be read");
    d.failpoint("store::get", "off");
    rx.wait_for(1, Duration::from_secs(30));
    let e = wait_for("the execution to succeed", Duration::from_secs(30), || {
        let r = api.post("get_execution_details", json!({"execution_uuid": id}));
        (r.json["data"]["status"] == "succeeded").then_some(r.json)
    });
    assert_eq!(rx.requests()[0].header("authorization"), Some("Bearer s3cret-value"), "{e:#}");
    assert!(d.output().contains("the execution waits for it"), "{}", d.output());
}

#[test]
fn a_monitor_that_goes_down_during_a_commit_outage_is_alerted_once_when_the_store_recovers() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = Receiver::start();
    let r = api.post(
        "add_notification_channel",
        json!({"channel_name": "ops", "type": "webhook", "url": format!("http://{}/alerts", rx.host())}),
    );
    assert_ok(&r);
    let channel = r.json["channel_uuid"].as_str().unwrap().to_string();
    assert_ok(&api.post("add_alert_rule", json!({"rule_type": "monitor_down", "channel_uuids": [channel]})));
    let r = api.post("add_monitor", json!({"monitor_name": "m", "interval_seconds": 1, "grace_seconds": 1}));
    assert_ok(&r);
    let (id, url) =
        (r.json["monitor_uuid"].as_str().unwrap().to_string(), r.json["ping_url"].as_str().unwrap().to_string());
    assert_eq!(Api::send(api.bare(reqwest::Method::GET, &url)).status, 200);
    // The deadlines (late at +1 s, down at +2 s) pass while nothing can commit.
    d.failpoint("store::commit", "return");
    std::thread::sleep(Duration::from_secs(4));
    d.failpoint("store::commit", "off");
    wait_for("the monitor to be down", Duration::from_secs(30), || {
        let r = api.post("get_monitor_details", json!({"monitor_uuid": id}));
        (r.json["data"]["status"] == "down").then_some(())
    });
    rx.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.count(), 1, "one alert, neither lost nor repeated");
    assert_eq!(api.total("get_alerts_paginated"), 1);
}
