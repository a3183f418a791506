//! Durability and custody of data at rest (product.md §7, §8; docs/design.md): acknowledged
//! writes survive `kill -9`, the store file never holds plaintext secrets or API keys, the vault
//! key is checked at start and rotates, backups restore, and SIGTERM exits 0.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, TestDaemon, assert_ok, temp_dir, wait_for};

/// Everything a brand can read back: domain list items, template details, secret list items
/// and values, each by id.
#[derive(Debug, PartialEq)]
struct Snapshot {
    domains: BTreeMap<String, Value>,
    templates: BTreeMap<String, Value>,
    secrets: BTreeMap<String, Value>,
    values: BTreeMap<String, Value>,
}

fn by_id(items: Vec<Value>, id: &str) -> BTreeMap<String, Value> {
    items.into_iter().map(|v| (v[id].as_str().unwrap_or_else(|| panic!("no {id}: {v}")).to_string(), v)).collect()
}

fn snapshot(api: &Api) -> Snapshot {
    let domains = by_id(api.all_pages("get_domain_paginated"), "domain_uuid");
    let templates = by_id(api.all_pages("get_webhook_template_paginated"), "webhook_uuid")
        .into_keys()
        .map(|id| {
            let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": id}));
            assert_ok(&r);
            (id, r.json["data"].clone())
        })
        .collect();
    let secrets = by_id(api.all_pages("get_secrets_paginated"), "secret_uuid");
    let values = secrets
        .keys()
        .map(|id| {
            let r = api.post("get_value_of_secret", json!({"secret_uuid": id}));
            assert_ok(&r);
            (id.clone(), r.json["data"].clone())
        })
        .collect();
    Snapshot { domains, templates, secrets, values }
}

fn secret_value(api: &Api, id: &str) -> String {
    let r = api.post("get_value_of_secret", json!({"secret_uuid": id}));
    assert_ok(&r);
    r.json["data"]["secret_value"].as_str().unwrap().to_string()
}

#[derive(Default)]
struct Acked {
    domains: Vec<String>,
    templates: Vec<String>,
    secrets: Vec<(String, String)>,
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut d = TestDaemon::start();
    let api = d.client();
    const THREADS: usize = 4;
    const PER_THREAD: usize = 5;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let api = api.clone();
            std::thread::spawn(move || {
                let mut acked = Acked::default();
                for i in 0..PER_THREAD {
                    let domain = api.add_domain(&format!("t{t}-{i}.burst.example"));
                    let r = api.post(
                        "add_webhook_template",
                        json!({"webhook_name": format!("burst {t}/{i}"), "webhook_description": "burst",
                            "method": "PUT", "path": format!("/t/{t}/{i}"), "domain_uuid": domain,
                            "max_retries": i, "request_body_json": {"t": t, "i": i, "s": "{{ #burst_key }}"},
                            "headers_json": {"X-I": i.to_string()}, "query_params_json": {"q": "v"}}),
                    );
                    assert_ok(&r);
                    acked.templates.push(r.json["webhook_uuid"].as_str().unwrap().to_string());
                    acked.domains.push(domain);
                    let value = format!("value-{t}-{i}-{}", uuid::Uuid::new_v4());
                    let id = api.add_secret(&format!("burst_{t}_{i}"), &value);
                    acked.secrets.push((id, value));
                }
                acked
            })
        })
        .collect();
    let acked: Vec<Acked> = handles.into_iter().map(|h| h.join().expect("burst thread")).collect();

    let before = snapshot(&api);
    let total: usize = acked.iter().map(|a| a.domains.len() + a.templates.len() + a.secrets.len()).sum();
    assert_eq!(total, THREADS * PER_THREAD * 3);
    for a in &acked {
        for id in &a.domains {
            assert!(before.domains.contains_key(id), "acknowledged domain {id} not listed");
        }
        for id in &a.templates {
            assert!(before.templates.contains_key(id), "acknowledged template {id} not listed");
        }
        for (id, value) in &a.secrets {
            assert_eq!(before.values[id]["secret_value"], value.as_str());
        }
    }
    assert_eq!(before.domains.len(), THREADS * PER_THREAD);
    assert_eq!(before.templates.len(), THREADS * PER_THREAD);
    assert_eq!(before.secrets.len(), THREADS * PER_THREAD);

    d.kill9();
    d.restart();
    let after = snapshot(&d.client());
    assert_eq!(after, before, "the store after kill -9 differs from what was acknowledged");
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_write() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let count = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..3)
        .map(|t| {
            let api = api.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..500 {
                    let value = format!("live-{t}-{i}-{}", uuid::Uuid::new_v4());
                    let body = json!({"secret_key": format!("live_{t}_{i}"), "secret_value": value});
                    match api.try_post("add_system_secret", body) {
                        Ok(r) => {
                            assert_ok(&r);
                            acked.push((r.json["secret_uuid"].as_str().unwrap().to_string(), value));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        // The daemon is gone: what was not answered may or may not be stored.
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    wait_for("30 acknowledged writes", Duration::from_secs(60), || (count.load(Ordering::SeqCst) >= 30).then_some(()));
    d.kill9();
    let acked: Vec<(String, String)> = handles.into_iter().flat_map(|h| h.join().expect("writer thread")).collect();
    assert!(acked.len() >= 30);

    d.restart();
    let api = d.client();
    let stored = api.total("get_secrets_paginated") as usize;
    assert!(stored >= acked.len(), "{stored} stored < {} acknowledged", acked.len());
    for (id, value) in &acked {
        assert_eq!(&secret_value(&api, id), value, "acknowledged secret {id} lost or changed");
    }
}

/// The ways a byte string could sit in the store: raw, as a JSON array of byte values (how
/// serde writes a `Vec<u8>`), or hex.
fn encodings(s: &str) -> Vec<Vec<u8>> {
    let bytes = s.as_bytes();
    vec![
        bytes.to_vec(),
        bytes.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",").into_bytes(),
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn store_file_never_holds_secret_values_or_api_keys() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let values: Vec<String> = (0..4).map(|i| format!("CANARY{i}-{tag}")).collect();
    let name = format!("canary_name_{tag}");
    let s0 = api.add_secret(&name, &values[0]);
    // Through the SDK alias, with an Idempotency-Key (whose answer the store keeps).
    let r = Api::send(
        api.request(reqwest::Method::POST, "add_system_secret")
            .header("Idempotency-Key", "canary-1")
            .json(&json!({"key": format!("second_{tag}"), "value": values[1]})),
    );
    assert_ok(&r);
    // An update: neither the old nor the new value may remain.
    let s2 = api.add_secret(&format!("third_{tag}"), &values[2]);
    let r = Api::send(
        api.request(reqwest::Method::POST, "update_secret_value")
            .header("Idempotency-Key", "canary-2")
            .json(&json!({"secret_uuid": s2, "secret_value": values[3]})),
    );
    assert_ok(&r);
    let domain = api.add_domain("canary.example");
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "uses canary", "method": "POST", "path": "/c", "domain_uuid": domain,
            "headers_json": {"Authorization": format!("Bearer {{{{ #{name} }}}}")}}),
    );
    assert_ok(&r);
    // A second API key, used once (its last use is recorded at shutdown).
    let other = d.new_brand("canary-brand", None);
    assert_ok(&api.as_brand(&other.brand, &other.key).get("get_domain_paginated?page=1"));
    assert_eq!(secret_value(&api, &s0), values[0]);
    assert_eq!(secret_value(&api, &s2), values[3]);

    assert_eq!(d.stop(), Some(0));
    let file = std::fs::read(d.store_file()).expect("store file");
    assert!(contains(&file, name.as_bytes()), "the secret's name is not in the store: the search does not work");
    for v in &values {
        for e in encodings(v) {
            assert!(!contains(&file, &e), "secret value {v} is in the store file ({})", String::from_utf8_lossy(&e));
        }
    }
    for key in [&d.key, &other.key] {
        assert!(key.starts_with("hwk_"));
        for e in encodings(key) {
            assert!(!contains(&file, &e), "API key {key} is in the store file");
        }
        // The key's shown prefix is stored (for listing), which shows the search sees keys.
        assert!(contains(&file, &key.as_bytes()[..12]), "key prefix not stored?");
    }
    // Nor in the daemon's log.
    let log = d.output();
    for v in &values {
        assert!(!log.contains(v.as_str()), "secret value {v} was logged:\n{log}");
    }
    assert!(!log.contains(other.key.as_str()), "an API key was logged");
}

#[test]
fn a_wrong_or_missing_master_key_refuses_to_start() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let id = api.add_secret("guarded", "GUARDED-VALUE");
    assert_eq!(d.stop(), Some(0));

    let original = std::fs::read_to_string(d.vault_key_file()).expect("vault.key");
    assert_eq!(original.trim().len(), 64, "the key file holds 64 hex characters");
    let other: String = original.trim().chars().map(|c| if c == '0' { '1' } else { '0' }).collect();
    std::fs::write(d.vault_key_file(), format!("{other}\n")).unwrap();
    let out = failed_launch(&mut d, "the daemon started with the wrong master key");
    assert!(out.contains("does not match"), "{out}");
    assert!(!out.contains("GUARDED-VALUE"));

    std::fs::remove_file(d.vault_key_file()).unwrap();
    let out = failed_launch(&mut d, "the daemon started without its master key");
    assert!(out.contains("missing"), "{out}");
    assert!(!out.contains("does not match"), "{out}");

    std::fs::write(d.vault_key_file(), &original).unwrap();
    d.launch().unwrap_or_else(|out| panic!("the right key was refused:\n{out}"));
    assert_eq!(secret_value(&d.client(), &id), "GUARDED-VALUE");
}

#[test]
fn vault_key_rotation_while_running_and_while_stopped() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let b = d.new_brand("rot-b", None);
    let b_api = api.as_brand(&b.brand, &b.key);
    let ids = [api.add_secret("rot_one", "ROT-ONE"), api.add_secret("rot_two", "ROT-TWO")];
    let b_id = b_api.add_secret("rot_b", "ROT-B");
    // Sealed tokens too: a source's ingest token, a monitor's ping token, the brand's ping key.
    let r = api.post("add_source", json!({"source_name": "rot"}));
    let (source, ingest_url) = (r.json["source_uuid"].clone(), r.json["ingest_url"].clone());
    let r = api.post("add_monitor", json!({"monitor_name": "rot", "interval_seconds": 3600}));
    let (monitor, ping_url) = (r.json["monitor_uuid"].clone(), r.json["ping_url"].clone());
    let ping_key = api.get("get_ping_key").json["ping_key"].clone();
    assert!(ingest_url.is_string() && ping_url.is_string() && ping_key.is_string());
    // A notification channel's sealed URL and signing secret.
    let alerts_rx = crate::receiver::Receiver::start();
    let r = api.post(
        "add_notification_channel",
        json!({"channel_name": "rot", "type": "webhook", "url": format!("http://{}/rot", alerts_rx.host())}),
    );
    let (channel, signing) = (r.json["channel_uuid"].clone(), r.json["data"]["signing_secret"].clone());
    assert!(signing.is_string(), "{}", r.text);
    // After each rotation the details still show the same URLs and key, and they still work.
    let tokens_unchanged = |api: &Api| {
        let s = api.post("get_source_details", json!({"source_uuid": source}));
        assert_eq!(s.json["data"]["ingest_url"], ingest_url, "{}", s.text);
        let m = api.post("get_monitor_details", json!({"monitor_uuid": monitor}));
        assert_eq!(m.json["data"]["ping_url"], ping_url, "{}", m.text);
        assert_eq!(api.get("get_ping_key").json["ping_key"], ping_key);
        let url = ingest_url.as_str().unwrap_or_default();
        let r = Api::send(api.bare(reqwest::Method::POST, url).body("{}"));
        assert_eq!(r.status, 202, "{}", r.text);
        let r = Api::send(api.bare(reqwest::Method::GET, ping_url.as_str().unwrap_or_default()));
        assert_eq!(r.status, 200, "{}", r.text);
        let c = api.post("get_notification_channel_details", json!({"channel_uuid": channel}));
        assert_eq!(c.json["data"]["signing_secret"], signing, "{}", c.text);
        let sent = alerts_rx.count();
        let t = api.post("test_notification_channel", json!({"channel_uuid": channel}));
        assert_eq!(t.status, 200, "{}", t.text);
        assert_eq!(alerts_rx.wait_for(sent + 1, Duration::from_secs(30)), sent + 1, "the channel URL opens");
    };
    let key0 = std::fs::read(d.vault_key_file()).unwrap();

    let (code, out, err) = d.cli(&["vault", "rotate-key"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 secret(s)"), "{out}");
    let key1 = std::fs::read(d.vault_key_file()).unwrap();
    assert_ne!(key1, key0, "the key file did not change");
    assert_eq!(secret_value(&api, &ids[0]), "ROT-ONE");
    assert_eq!(secret_value(&api, &ids[1]), "ROT-TWO");
    assert_eq!(secret_value(&b_api, &b_id), "ROT-B");
    tokens_unchanged(&api);
    // New secrets use the new key, and a restart loads it.
    let after = api.add_secret("rot_three", "ROT-THREE");
    d.restart();
    // A restart listens on a new port: new clients.
    let api = d.client();
    assert_eq!(secret_value(&api, &ids[0]), "ROT-ONE");
    assert_eq!(secret_value(&api, &after), "ROT-THREE");

    assert_eq!(d.stop(), Some(0));
    let (code, out, err) = d.cli(&["vault", "rotate-key"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 secret(s)"), "{out}");
    let key2 = std::fs::read(d.vault_key_file()).unwrap();
    assert_ne!(key2, key1);
    assert!(!d.data_dir().join("vault.key.new").exists(), "a rotation left vault.key.new behind");
    d.launch().unwrap_or_else(|out| panic!("no start after an offline rotation:\n{out}"));
    let api = d.client();
    let b_api = api.as_brand(&b.brand, &b.key);
    assert_eq!(secret_value(&api, &ids[0]), "ROT-ONE");
    assert_eq!(secret_value(&api, &ids[1]), "ROT-TWO");
    assert_eq!(secret_value(&api, &after), "ROT-THREE");
    assert_eq!(secret_value(&b_api, &b_id), "ROT-B");
    tokens_unchanged(&api);
    // The old key no longer opens the store.
    assert_eq!(d.stop(), Some(0));
    std::fs::write(d.vault_key_file(), &key1).unwrap();
    let out = failed_launch(&mut d, "an old key opened the rotated store");
    assert!(out.contains("does not match"), "{out}");
}

/// Launches a daemon that must fail to start; returns what it printed this time.
fn failed_launch(d: &mut TestDaemon, what: &str) -> String {
    let before = d.output().len();
    let out = d.launch().err().unwrap_or_else(|| panic!("{what}"));
    out.get(before..).unwrap_or(&out).to_string()
}

/// Starts a daemon on a copy of `backup` with `vault_key`, as the restore procedure says.
fn restore(backup: &std::path::Path, vault_key: &std::path::Path, creds: &crate::support::Credentials) -> TestDaemon {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(backup, data.join("hookwheel.redb")).unwrap();
    std::fs::copy(vault_key, data.join("vault.key")).unwrap();
    TestDaemon::start_on(tmp, "", creds)
}

#[test]
fn backups_while_running_and_while_stopped_restore() {
    let mut d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("backup.example");
    api.add_template(&domain, "backed up");
    api.add_secret("backup_secret", "BACKUP-VALUE");
    let first = snapshot(&api);

    let out_dir = temp_dir();
    let running = out_dir.path().join("running.redb");
    let (code, out, err) = d.cli(&["backup", "--out", running.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::metadata(&running).unwrap().len() > 0);
    let leftovers: Vec<_> = std::fs::read_dir(d.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("backup"))
        .collect();
    assert!(leftovers.is_empty(), "partial backup files left in the data dir: {leftovers:?}");
    // An existing file is never overwritten.
    let (code, _, err) = d.cli(&["backup", "--out", running.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("exists"), "{err}");

    // Written after the first backup: only in the second.
    api.add_domain("later.example");
    let second = snapshot(&api);
    assert_eq!(d.stop(), Some(0));
    let stopped = out_dir.path().join("stopped.redb");
    let (code, out, err) = d.cli(&["backup", "--out", stopped.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    let creds = d.credentials();
    let r1 = restore(&running, &d.vault_key_file(), &creds);
    assert_eq!(snapshot(&r1.client()), first, "the running backup differs from the store at that time");
    let r2 = restore(&stopped, &d.vault_key_file(), &creds);
    assert_eq!(snapshot(&r2.client()), second, "the stopped backup differs from the store");
    // The restored store is fully usable.
    let c = r2.client();
    c.add_secret("after_restore", "NEW");
    assert_eq!(c.total("get_secrets_paginated"), 2);
}

#[test]
fn sigterm_stops_cleanly_with_exit_code_0() {
    let mut d = TestDaemon::start();
    let api = d.client();
    api.add_domain("term.example");
    assert!(d.data_dir().join("admin.sock").exists(), "the admin socket is bound before \"listening\"");
    assert_eq!(d.stop(), Some(0));
    assert!(!d.data_dir().join("admin.sock").exists(), "the admin socket was left behind");
    // A signal right after "listening" is handled, never fatal: SIGTERM exits 0, SIGHUP reloads.
    for _ in 0..5 {
        d.launch().unwrap_or_else(|out| panic!("no restart:\n{out}"));
        assert_eq!(d.stop(), Some(0), "SIGTERM right after start was not handled");
    }
    d.launch().unwrap_or_else(|out| panic!("no restart:\n{out}"));
    d.sighup();
    assert_eq!(d.client().plain_get("/healthz").status, 200);
    assert!(d.is_running(), "SIGHUP right after start killed the daemon");
    assert_eq!(d.client().total("get_domain_paginated"), 1);
    assert_eq!(d.stop(), Some(0));
}

/// A copy of `tests/fixtures/<name>` (a data directory a previous release wrote: store,
/// vault key, initial credentials) in a fresh temp dir, and the daemon started on it.
fn daemon_on_fixture(name: &str) -> TestDaemon {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    for f in ["hookwheel.redb", "vault.key", "initial-credentials.json"] {
        std::fs::copy(from.join(f), data.join(f)).unwrap_or_else(|e| panic!("{name}/{f}: {e}"));
    }
    let text = std::fs::read_to_string(data.join("initial-credentials.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let creds = crate::support::Credentials {
        brand: v["brand_uuid"].as_str().unwrap().into(),
        key: v["api_key"].as_str().unwrap().into(),
    };
    TestDaemon::start_on(tmp, "", &creds)
}

/// The data directories the schema 4 release wrote open in this build through the daemon (the
/// store migrates to schema 5 at start) and every list of the brand answers 200 with what
/// that release stored, before and after a restart; the event a schema 4 build stored with a
/// 127-level body, whose JSON record it could never read back, lists and shows.
#[test]
fn data_directories_of_the_previous_release_open_and_list() {
    let lists = [
        "get_domain_paginated",
        "get_webhook_template_paginated",
        "get_schedules_paginated?filter_status=paused",
        "get_executions_paginated",
        "get_workflow_template_paginated",
        "get_workflow_runs_paginated",
        "get_sources_paginated",
        "get_subscriptions_paginated",
        "get_events_paginated",
        "get_monitors_paginated",
        "get_secrets_paginated",
        "get_all_pending_approvals_paginated",
    ];
    let mut d = daemon_on_fixture("store-v4");
    for round in ["first start", "after a restart"] {
        let api = d.client();
        for list in lists {
            let r = api.get(list);
            assert_eq!(r.status, 200, "{round}: {list}: {}", r.text);
        }
        // The 9 that release recorded, and more once the fixture's active schedule fires
        // again after the start (its misfire policy decides when).
        let executions = api.total("get_executions_paginated");
        assert!(executions >= 9, "{round}: {executions} executions");
        let schedules: u64 = ["active", "inactive", "paused", "completed", "expired"]
            .iter()
            .map(|s| {
                api.get(&format!("get_schedules_paginated?filter_status={s}&page=1")).json["meta"]["total_count"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(schedules, 5, "{round}");
        assert_eq!(api.total("get_events_paginated"), 1, "{round}");
        d.restart();
    }

    let d = daemon_on_fixture("store-v4-deep");
    let api = d.client();
    let r = api.get("get_events_paginated");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.total("get_events_paginated"), 2);
    let ids: Vec<String> = r
        .text
        .match_indices(r#""event_uuid":""#)
        .map(|(i, m)| r.text[i + m.len()..i + m.len() + 36].to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{}", r.text);
    let deep = "[".repeat(127) + &"]".repeat(127);
    let bodies: Vec<String> = ids
        .iter()
        .map(|id| {
            let r = api.post("get_event_details", json!({"event_uuid": id}));
            assert_eq!(r.status, 200, "{}", r.text);
            r.text
        })
        .collect();
    assert!(bodies.iter().any(|t| t.contains(&format!("\"body\":{deep},"))), "the deep body: {bodies:?}");
    assert!(bodies.iter().any(|t| t.contains(r#""body":{"shallow":true}"#)), "{bodies:?}");
}
