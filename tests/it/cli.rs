//! The admin CLI (product.md §2, §3): brands and keys with the daemon stopped and running,
//! key listing and revocation, and `config check`; operations safety (issue 8 cases 21–23):
//! only `serve` creates a store, the data directory is checked and never chmodded, backups
//! are private.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Api, BIN, Credentials, TestDaemon, assert_error, assert_ok, run_cli, temp_dir};

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

/// A shell prefix that runs the program with umask 000, so every permission bit a file or
/// directory ends up with is one hookwheel asked for.
const UMASK_000: [&str; 3] = ["sh", "-c", "umask 000 && exec \"$0\" \"$@\""];

/// Runs the CLI in `cwd` with `args` (no `--config` added) under umask 000.
fn cli_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(UMASK_000[0])
        .args(&UMASK_000[1..])
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every path under `dir` (relative), sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).mode() & 0o7777
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The admin commands that need a store, each with valid arguments.
fn admin_commands(out: &Path) -> Vec<Vec<String>> {
    let brand = uuid::Uuid::new_v4().to_string();
    let backup_out = out.to_str().unwrap().to_string();
    [
        vec!["brand", "list"],
        vec!["brand", "list", "--json"],
        vec!["brand", "create", "--name", "acme"],
        vec!["key", "create", "--brand", &brand],
        vec!["key", "list", "--brand", &brand],
        vec!["key", "revoke", "hwk_abcdefgh"],
        vec!["backup", "--out", &backup_out],
        vec!["vault", "rotate-key"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn admin_commands_without_a_store_fail_and_create_nothing() {
    let cwd = temp_dir();
    let elsewhere = temp_dir();
    let backup = elsewhere.path().join("b.redb");
    let existing_empty = temp_dir();
    for cmd in admin_commands(&backup) {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        // The default data directory (./hookwheel-data) does not exist.
        let (code, out, err) = cli_in(cwd.path(), &args);
        assert_ne!(code, 0, "{cmd:?} succeeded without a store: {out}{err}");
        assert!(
            err.contains(
                "no store at ./hookwheel-data/hookwheel.redb: the daemon has not run with this data directory yet"
            ),
            "{cmd:?}: {err}"
        );
        assert_eq!(tree(cwd.path()), Vec::<PathBuf>::new(), "{cmd:?} created files");
        // --data-dir naming a missing directory, and an existing empty one.
        let missing = cwd.path().join("nope/data");
        let mut with_dir = args.clone();
        with_dir.extend(["--data-dir", missing.to_str().unwrap()]);
        let (code, _, err) = cli_in(cwd.path(), &with_dir);
        assert_ne!(code, 0, "{cmd:?} --data-dir <missing>");
        assert!(
            err.contains(&format!(
                "no store at {}/hookwheel.redb: the daemon has not run with this data directory yet",
                missing.display()
            )),
            "{err}"
        );
        assert_eq!(tree(cwd.path()), Vec::<PathBuf>::new(), "{cmd:?} --data-dir <missing> created files");
        let mut with_dir = args.clone();
        with_dir.extend(["--data-dir", existing_empty.path().to_str().unwrap()]);
        let (code, _, err) = cli_in(cwd.path(), &with_dir);
        assert_ne!(code, 0, "{cmd:?} --data-dir <empty>");
        assert!(err.contains("no store at"), "{err}");
        assert_eq!(tree(existing_empty.path()), Vec::<PathBuf>::new(), "{cmd:?} wrote into an empty data dir");
        assert!(!backup.exists(), "{cmd:?} wrote a backup without a store");
    }
    // Commands that need no store still work there, and create nothing either.
    let (code, out, err) = cli_in(
        cwd.path(),
        &["schedule", "preview", "driver_type=interval", "interval_value=1", "interval_period=hour", "count=2"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = cli_in(cwd.path(), &["config", "check"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(tree(cwd.path()), Vec::<PathBuf>::new());
}

#[test]
fn admin_commands_never_create_a_vault_key() {
    let mut d = TestDaemon::start();
    assert_eq!(d.stop(), Some(0));
    // A store whose key file is gone: the commands refuse, and no new key appears.
    std::fs::remove_file(d.vault_key_file()).unwrap();
    let (code, _, err) = d.cli(&["brand", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("vault master key") && err.contains("missing"), "{err}");
    let (code, _, _) = d.cli(&["vault", "rotate-key"]);
    assert_ne!(code, 0);
    assert!(!d.vault_key_file().exists(), "an admin command created a vault key");
}

/// Runs `serve` on `d`'s config, which must refuse to start; returns (exit code, stderr).
fn refused_serve(d: &TestDaemon) -> (i32, String) {
    d.write_config("");
    crate::support::refused_serve(&d.config_path(), "on an unsafe data directory")
}

#[test]
fn serve_refuses_a_data_directory_others_can_write_and_never_changes_its_mode() {
    for unsafe_mode in [0o1777, 0o777, 0o770, 0o720, 0o702] {
        let d = TestDaemon::unstarted(temp_dir(), "");
        let data = d.data_dir();
        std::fs::create_dir(&data).unwrap();
        set_mode(&data, unsafe_mode);
        let (code, err) = refused_serve(&d);
        assert_ne!(code, 0, "mode {unsafe_mode:o} accepted: {err}");
        // A shared (sticky) directory such as /tmp is never one to chmod: the advice is a
        // directory of hookwheel's own; otherwise chmod is offered too.
        let fix = if unsafe_mode & 0o1000 != 0 {
            format!("{}/hookwheel", data.display())
        } else {
            format!("chmod 700 {}", data.display())
        };
        let who = if unsafe_mode & 0o022 == 0o020 { "group" } else { "user" };
        for part in [data.to_str().unwrap(), &format!("mode {unsafe_mode:04o}"), &fix, who] {
            assert!(err.contains(part), "{part:?} missing from: {err}");
        }
        if unsafe_mode & 0o1000 != 0 {
            assert!(!err.contains("chmod"), "no chmod advice for a shared directory: {err}");
        }
        assert_eq!(mode(&data), unsafe_mode, "the data directory's mode was changed");
        assert_eq!(tree(&data), Vec::<PathBuf>::new(), "files were created in a refused directory");
    }
}

#[test]
fn serve_refuses_a_data_directory_owned_by_another_user() {
    let d = TestDaemon::unstarted(temp_dir(), "");
    let data = d.data_dir();
    std::fs::create_dir(&data).unwrap();
    set_mode(&data, 0o700);
    // nobody:nogroup (the tests run as root, like CI).
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).expect("chown needs root");
    let (code, err) = refused_serve(&d);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains(data.to_str().unwrap()) && err.contains("owned by uid 65534"), "{err}");
    assert!(err.contains("chown"), "the message says how to fix it: {err}");
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (65534, 0o700), "owner or mode changed");
    assert_eq!(tree(&data), Vec::<PathBuf>::new());
}

#[test]
fn serve_creates_a_missing_data_directory_0700_and_accepts_one_others_may_only_read() {
    // Missing: created with exactly 0700 even under umask 000.
    let mut d = TestDaemon::unstarted(temp_dir(), "");
    d.command_prefix = UMASK_000.iter().map(|s| s.to_string()).collect();
    d.launch().unwrap_or_else(|out| panic!("no start:\n{out}"));
    assert_eq!(mode(&d.data_dir()), 0o700);
    for f in ["hookwheel.redb", "vault.key", "initial-credentials.json"] {
        assert_eq!(mode(&d.data_dir().join(f)) & 0o077, 0, "{f} is readable by others");
    }
    assert_eq!(d.stop(), Some(0));

    // 0755 (readable, not writable, by others) is accepted and left as it is.
    let mut d = TestDaemon::unstarted(temp_dir(), "");
    std::fs::create_dir(d.data_dir()).unwrap();
    set_mode(&d.data_dir(), 0o755);
    d.launch().unwrap_or_else(|out| panic!("a 0755 data directory was refused:\n{out}"));
    assert_eq!(mode(&d.data_dir()), 0o755, "the data directory was chmodded");
    assert_eq!(mode(&d.data_dir().join("admin.sock")) & 0o077, 0);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn admin_commands_refuse_an_unsafe_data_directory_without_changing_it() {
    let mut d = TestDaemon::start();
    assert_eq!(d.stop(), Some(0));
    set_mode(&d.data_dir(), 0o1777);
    let (code, _, err) = d.cli(&["brand", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("mode 1777") && err.contains("a directory of hookwheel's own"), "{err}");
    assert_eq!(mode(&d.data_dir()), 0o1777);
    set_mode(&d.data_dir(), 0o700);
    let (code, _, err) = d.cli(&["brand", "list"]);
    assert_eq!(code, 0, "{err}");
}

/// `backup --out` with umask 000 for the CLI (and the daemon, when it runs): the file is 0600;
/// an existing `--out` is refused and left untouched.
fn check_backup(d: &TestDaemon, out_dir: &Path, name: &str) {
    let out = out_dir.join(name);
    let config = d.config_path();
    let (code, stdout, err) =
        cli_in(out_dir, &["backup", "--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert_eq!(mode(&out), 0o600, "{name}: the backup is readable by others");
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    let leftovers: Vec<_> =
        tree(&d.data_dir()).into_iter().filter(|p| p.to_string_lossy().contains("backup")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let existing = out_dir.join(format!("existing-{name}"));
    std::fs::write(&existing, b"keep me").unwrap();
    set_mode(&existing, 0o644);
    let (code, _, err) =
        cli_in(out_dir, &["backup", "--out", existing.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_ne!(code, 0, "{name}: an existing --out was accepted");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert_eq!(mode(&existing), 0o644);
}

#[test]
fn backups_are_0600_with_the_daemon_running_and_stopped() {
    let mut d = TestDaemon::unstarted(temp_dir(), "");
    d.command_prefix = UMASK_000.iter().map(|s| s.to_string()).collect();
    d.launch().unwrap_or_else(|out| panic!("no start:\n{out}"));
    let out_dir = temp_dir();
    check_backup(&d, out_dir.path(), "running.redb");
    assert_eq!(d.stop(), Some(0));
    check_backup(&d, out_dir.path(), "stopped.redb");
}
