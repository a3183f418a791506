//! The admin CLI (product.md §2, §3): brands and keys with the daemon stopped and running,
//! key listing and revocation, and `config check`.

use serde_json::Value;

use crate::support::{Api, Credentials, TestDaemon, assert_error, assert_ok, run_cli};

fn json_out(code: i32, out: &str, err: &str) -> Value {
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {out:?}"))
}

/// Creates a brand and a key with the CLI, checking the documented `--json` shapes.
fn brand_and_key(d: &TestDaemon, name: &str) -> Credentials {
    let (code, out, err) = d.cli(&["brand", "create", "--name", name, "--timezone", "Europe/London", "--json"]);
    let b = json_out(code, &out, &err);
    let brand = b["brand_uuid"].as_str().expect("brand_uuid").to_string();
    assert!(uuid::Uuid::parse_str(&brand).is_ok(), "{b}");
    assert_eq!(b["name"], name);
    assert_eq!(b["timezone"], "Europe/London");
    let (code, out, err) = d.cli(&["key", "create", "--brand", &brand, "--json"]);
    let k = json_out(code, &out, &err);
    assert_eq!(k["brand_uuid"], brand.as_str());
    assert!(k["key_id"].as_str().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{k}");
    let key = k["api_key"].as_str().expect("api_key").to_string();
    assert!(key.starts_with("hwk_") && key.len() >= 4 + 43, "a key has a prefix and 256 bits: {key}");
    Credentials { brand, key }
}

fn works(d: &TestDaemon, c: &Credentials) {
    let api = d.client().as_brand(&c.brand, &c.key);
    let r = api.get("get_domain_paginated?page=1");
    assert_ok(&r);
    assert_eq!(r.json["timezone"], "Europe/London");
}

#[test]
fn brands_and_keys_with_the_daemon_stopped_and_running() {
    let mut d = TestDaemon::start();
    assert_eq!(d.stop(), Some(0));
    let offline = brand_and_key(&d, "made offline");
    // Text output: the brand UUID, and the key, once each on a line.
    let (code, out, err) = d.cli(&["brand", "create", "--name", "text"]);
    assert_eq!(code, 0, "{err}");
    assert!(uuid::Uuid::parse_str(out.trim()).is_ok(), "{out:?}");
    let (code, out, err) = d.cli(&["key", "create", "--brand", out.trim()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().starts_with("hwk_"), "{out:?}");
    d.restart();
    works(&d, &offline);

    let online = brand_and_key(&d, "made online");
    works(&d, &online);
    // The brands are listed, whether the daemon runs or not.
    let (code, out, err) = d.cli(&["brand", "list", "--json"]);
    let list = json_out(code, &out, &err);
    let names: Vec<&str> = list["brands"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    for n in ["default", "made offline", "text", "made online"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    let (_, text, _) = d.cli(&["brand", "list"]);
    assert!(text.contains(&online.brand) && text.contains("Europe/London"), "{text}");
    assert_eq!(d.stop(), Some(0));
    let (code, out, err) = d.cli(&["brand", "list", "--json"]);
    assert_eq!(json_out(code, &out, &err)["brands"], list["brands"]);

    // Errors: unknown brand, bad zone, bad name.
    d.restart();
    let (code, _, err) = d.cli(&["key", "create", "--brand", &uuid::Uuid::new_v4().to_string()]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("not found"), "{err}");
    let (code, _, err) = d.cli(&["key", "create", "--brand", "nope"]);
    assert_ne!(code, 0, "{err}");
    let (code, _, _) = d.cli(&["brand", "create", "--name", "  "]);
    assert_ne!(code, 0);
}

#[test]
fn key_list_and_revoke_take_effect_at_once() {
    let d = TestDaemon::start();
    let c = brand_and_key(&d, "revocable");
    let (code, out, err) = d.cli(&["key", "create", "--brand", &c.brand, "--json"]);
    let second = json_out(code, &out, &err)["api_key"].as_str().unwrap().to_string();
    let prefix = &c.key[..12];
    works(&d, &c);

    let (code, out, err) = d.cli(&["key", "list", "--brand", &c.brand, "--json"]);
    let keys = json_out(code, &out, &err);
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().any(|k| k["prefix"] == prefix), "{keys:?}");
    assert!(keys.iter().all(|k| k["revoked_at"].is_null()));
    assert!(!out.contains(&c.key), "key list shows a whole key");
    let (code, text, _) = d.cli(&["key", "list", "--brand", &c.brand]);
    assert_eq!(code, 0);
    assert!(text.contains(prefix), "{text}");
    assert!(!text.contains(&c.key));

    let (code, out, err) = d.cli(&["key", "revoke", prefix]);
    assert_eq!(code, 0, "{out}{err}");
    // The very next call is refused; no restart.
    let api = d.client().as_brand(&c.brand, &c.key);
    let r = api.get("get_domain_paginated?page=1");
    assert_error(&r, 401, "Invalid API key");
    let r = api.post("add_domain", serde_json::json!({"protocol_type": "https", "domain": "x.example"}));
    assert_eq!(r.status, 401);
    // The brand's other key still works.
    assert_ok(&api.as_brand(&c.brand, &second).get("get_domain_paginated?page=1"));
    let (code, out, err) = d.cli(&["key", "list", "--brand", &c.brand, "--json"]);
    let keys = json_out(code, &out, &err);
    let revoked: Vec<&Value> = keys["keys"].as_array().unwrap().iter().filter(|k| !k["revoked_at"].is_null()).collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["prefix"], prefix);

    // Revoking by key id, and bad references.
    let id = keys["keys"].as_array().unwrap().iter().find(|k| k["revoked_at"].is_null()).unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, err) = d.cli(&["key", "revoke", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(api.as_brand(&c.brand, &second).get("get_domain_paginated?page=1").status, 401);
    let (code, _, _) = d.cli(&["key", "revoke", "hwk_zzzzzzzz"]);
    assert_ne!(code, 0);
    let (code, _, _) = d.cli(&["key", "revoke", "short"]);
    assert_ne!(code, 0);
    // The default brand's key is untouched.
    assert_ok(&d.client().get("get_domain_paginated?page=1"));
}

#[test]
fn revoked_while_stopped_stays_revoked() {
    let mut d = TestDaemon::start();
    let c = brand_and_key(&d, "offline revoke");
    assert_eq!(d.stop(), Some(0));
    let (code, _, err) = d.cli(&["key", "revoke", &c.key[..12]]);
    assert_eq!(code, 0, "{err}");
    d.restart();
    let r = Api::new(&d.base, &c.brand, &c.key).get("get_domain_paginated?page=1");
    assert_error(&r, 401, "Invalid API key");
}

#[test]
fn config_check_lists_every_problem_with_its_key_path() {
    let d = TestDaemon::start();
    let dir = crate::support::temp_dir();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = [\"127.0.0.1:0\"]\nbogus_key = 1\n\n[api]\npage_size = \"ten\"\n\n[log]\nformat = \"xml\"\n",
    )
    .unwrap();
    let (code, out, err) = run_cli(&bad, &["config", "check"]);
    assert_ne!(code, 0, "a bad file passed: {out}{err}");
    for path in ["server.bogus_key", "api.page_size", "log.format"] {
        assert!(err.contains(path), "{path} not reported:\n{err}");
    }
    assert!(err.contains("unknown key"), "{err}");
    assert!(err.contains("expected an integer"), "{err}");
    assert!(err.contains("xml"), "{err}");
    assert!(err.contains("3 configuration problem"), "{err}");

    // The daemon's own config, and the shipped example, are fine.
    let (code, out, err) = d.cli(&["config", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK"), "{out}");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/hookwheel.toml");
    let (code, out, err) = run_cli(&example, &["config", "check"]);
    assert_eq!(code, 0, "{out}{err}");

    // Not TOML at all, and a missing file.
    std::fs::write(&bad, "[server\n").unwrap();
    let (code, _, err) = run_cli(&bad, &["config", "check"]);
    assert_ne!(code, 0);
    assert!(err.contains("not valid TOML"), "{err}");
    let (code, _, _) = run_cli(&dir.path().join("missing.toml"), &["config", "check"]);
    assert_ne!(code, 0);
}
