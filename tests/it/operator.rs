//! Running hookwheel as an operator (issue 9 parts 5, 7 and the listen check of part 6): shell
//! completions and man pages from the binary, examples in `--help`, the first-start key kept
//! out of the systemd journal, the reminder while the credentials file exists, `key revoke`
//! refusing a whole key, `/metrics` without tenant identifiers, and a busy port that fails the
//! start before any credentials exist.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::{BIN, TestDaemon, assert_ok, temp_dir, wait_for};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run hookwheel");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sources the bash completion script and asks it to complete `words` (the last one being
/// the word under the cursor); returns the candidates.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _hookwheel hookwheel '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = Command::new("bash").args(["--norc", "--noprofile", "-c", &program]).output().expect("bash");
    assert!(out.status.success(), "bash failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

#[test]
fn bash_completion_completes_subcommands_and_options_and_zsh_and_fish_scripts_name_them() {
    let tmp = temp_dir();
    let (code, script, err) = run(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let file = tmp.path().join("hookwheel.bash");
    std::fs::write(&file, &script).unwrap();
    assert_eq!(bash_complete(&file, &["hookwheel", "ke"]), ["key"]);
    let subs = bash_complete(&file, &["hookwheel", "key", ""]);
    for s in ["create", "list", "revoke"] {
        assert!(subs.iter().any(|c| c == s), "{s} not in {subs:?}");
    }
    assert_eq!(bash_complete(&file, &["hookwheel", "completions", "f"]), ["fish"]);
    assert!(bash_complete(&file, &["hookwheel", "serve", "--li"]).contains(&"--listen".to_string()));

    let (code, zsh, err) = run(&["completions", "zsh"]);
    assert_eq!(code, 0, "{err}");
    assert!(zsh.starts_with("#compdef hookwheel"), "{zsh}");
    assert!(zsh.contains("revoke") && zsh.contains("--listen"), "{zsh}");
    let (code, fish, err) = run(&["completions", "fish"]);
    assert_eq!(code, 0, "{err}");
    assert!(fish.contains("complete -c hookwheel"), "{fish}");
    assert!(fish.contains("-a \"revoke\"") && fish.contains("-l listen"), "{fish}");

    // Only the three shells; the error lists them.
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("bash") && err.contains("zsh") && err.contains("fish"), "{err}");
}

#[test]
fn man_prints_the_main_page_and_writes_one_page_per_command() {
    let (code, page, err) = run(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH hookwheel 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS", ".SH EXAMPLES", ".SH VERSION"] {
        assert!(page.contains(section), "{section} missing:\n{page}");
    }
    assert!(page.contains("hookwheel\\-key\\-revoke(1)") || page.contains("hookwheel\\-key(1)"), "{page}");

    let tmp = temp_dir();
    let dir = tmp.path().join("man1");
    let (code, out, err) = run(&["man", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let listed: Vec<&str> = out.lines().collect();
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(listed.len(), files.len(), "{out}");
    for f in
        ["hookwheel.1", "hookwheel-serve.1", "hookwheel-key-revoke.1", "hookwheel-completions.1", "hookwheel-man.1"]
    {
        assert!(files.iter().any(|x| x == f), "{f} not in {files:?}");
    }
    // The top page on stdout is the file's text.
    assert_eq!(std::fs::read_to_string(dir.join("hookwheel.1")).unwrap(), page);
    let serve = std::fs::read_to_string(dir.join("hookwheel-serve.1")).unwrap();
    assert!(serve.contains("\\-\\-listen") && serve.contains(".SH EXAMPLES"), "{serve}");
}

#[test]
fn help_of_the_main_commands_shows_examples_that_run() {
    for cmd in
        [&[][..], &["serve"], &["brand"], &["key"], &["config"], &["backup"], &["schedule"], &["completions"], &["man"]]
    {
        let mut args = cmd.to_vec();
        args.push("--help");
        let (code, help, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        let example = format!("Examples:\n  hookwheel {}", cmd.first().copied().unwrap_or(""));
        assert!(help.contains(example.trim_end()), "`hookwheel {}` has no examples:\n{help}", cmd.join(" "));
    }
    // Examples that need no daemon work as written.
    let (code, out, err) =
        run(&["schedule", "preview", "driver_type=interval", "interval_seconds=90", "count=3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["fire_times"].as_array().map(Vec::len), Some(3), "{v}");
    let (code, out, err) = run(&[
        "schedule",
        "preview",
        "driver_type=cron",
        "cron_expression=30 2 * * *",
        "cron_timezone=America/New_York",
        "count=5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 5, "{out}");
    // Every argument of every command has help text (checked exhaustively by a unit test);
    // here as the user sees it.
    let (_, help, _) = run(&["key", "revoke", "--help"]);
    assert!(help.contains("<KEY_PREFIX_OR_ID>\n          The key's id (UUID) or its prefix"), "{help}");
    let (_, help, _) = run(&["backup", "--help"]);
    assert!(help.contains("--out <FILE>") && help.contains("never overwritten"), "{help}");
}

fn credentials_file(d: &TestDaemon) -> std::path::PathBuf {
    d.data_dir().join("initial-credentials.json")
}

/// The WARN line about the credentials file, once the daemon's stderr shows it.
fn reminder_lines(d: &TestDaemon) -> Vec<String> {
    d.output()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("holds a plaintext API key"))
        .map(String::from)
        .collect()
}

#[test]
fn on_a_terminal_the_first_key_is_shown_once_and_every_start_warns_while_the_file_exists() {
    let mut d = TestDaemon::start();
    let file = credentials_file(&d);
    let out = d.output();
    assert!(out.contains(&format!("x-hookpulse-api-key: {}", d.key)), "{out}");
    let warn = wait_for("the reminder", Duration::from_secs(10), || reminder_lines(&d).into_iter().next());
    assert!(warn.contains(&format!("rm {}", file.display())), "says how to remove it: {warn}");
    assert!(!warn.contains(&d.key), "{warn}");

    d.restart();
    // The key is not shown again, the reminder is.
    wait_for("the reminder after a restart", Duration::from_secs(10), || (reminder_lines(&d).len() == 2).then_some(()));
    assert_eq!(d.output().matches(&d.key).count(), 1, "{}", d.output());

    std::fs::remove_file(&file).unwrap();
    d.restart();
    assert_ok(&d.client().get("get_domain_paginated?page=1"));
    assert_eq!(d.stop(), Some(0));
    assert_eq!(reminder_lines(&d).len(), 2, "no reminder once the file is gone:\n{}", d.output());
}

#[test]
fn under_systemd_the_first_key_goes_only_to_the_credentials_file() {
    let d = TestDaemon::start_custom("", &[("INVOCATION_ID", "3f1e0c9d6a0b4d5e8f7a6b5c4d3e2f10")], &[]);
    let file = credentials_file(&d);
    let out = d.output();
    assert!(!d.key.is_empty() && !out.contains(&d.key), "the key reached the output:\n{out}");
    assert!(!out.contains("x-hookpulse-api-key"), "{out}");
    assert!(out.contains(&d.brand) && out.contains(&file.display().to_string()), "points at the file:\n{out}");
    let warn = wait_for("the reminder", Duration::from_secs(10), || reminder_lines(&d).into_iter().next());
    assert!(warn.contains(&format!("rm {}", file.display())), "{warn}");
    assert_ok(&d.client().get("get_domain_paginated?page=1"));
}

/// `JOURNAL_STREAM` alone (stdout connected to the journal, as with `systemd-run`): the key
/// stays out of that stream; a stale `JOURNAL_STREAM` naming another stream does not hide it.
#[test]
fn a_journal_stream_on_stdout_keeps_the_key_out_of_it() {
    use std::os::unix::fs::MetadataExt;
    for connected in [true, false] {
        let tmp = temp_dir();
        let data = tmp.path().join("data");
        let log = tmp.path().join("journal");
        let stream = std::fs::File::create(&log).unwrap();
        let meta = stream.metadata().unwrap();
        let journal = if connected { format!("{}:{}", meta.dev(), meta.ino()) } else { "1:2".to_string() };
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("INVOCATION_ID")
            .env("JOURNAL_STREAM", &journal)
            .stdout(stream.try_clone().unwrap())
            .stderr(stream)
            .spawn()
            .unwrap();
        let text = wait_for("the daemon to listen", Duration::from_secs(60), || {
            let t = std::fs::read_to_string(&log).unwrap();
            t.contains("hookwheel listening on").then_some(t)
        });
        let _ = child.kill();
        let _ = child.wait();
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(data.join("initial-credentials.json")).unwrap()).unwrap();
        let key = creds["api_key"].as_str().unwrap();
        assert_eq!(text.contains(key), !connected, "JOURNAL_STREAM={journal} connected={connected}:\n{text}");
    }
}

#[test]
fn key_revoke_refuses_a_whole_key_without_repeating_it_running_and_stopped() {
    let mut d = TestDaemon::start();
    for running in [true, false] {
        let (code, out, err) = d.cli(&["key", "revoke", &d.key]);
        assert_ne!(code, 0, "running={running}: {out}");
        assert!(!err.contains(&d.key) && !out.contains(&d.key), "the key was echoed: {err}");
        assert!(err.contains(&d.key[..12]) && err.contains("prefix"), "names the prefix to use: {err}");
        if running {
            assert_ok(&d.client().get("get_domain_paginated?page=1"));
            // The admin socket refuses it too, whoever sends it.
            use std::io::{BufRead, BufReader, Write};
            let mut s = std::os::unix::net::UnixStream::connect(d.data_dir().join("admin.sock")).unwrap();
            writeln!(s, "{}", json!({"op": "key_revoke", "key": d.key})).unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            assert!(line.contains("\"error\"") && !line.contains(&d.key), "{line}");
            assert_ok(&d.client().get("get_domain_paginated?page=1"));
            assert_eq!(d.stop(), Some(0));
        }
    }
    // The prefix works.
    let (code, out, err) = d.cli(&["key", "revoke", &d.key[..12]]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Any UUID in `text` (8-4-4-4-12 hex).
fn uuids_in(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let shape = [8, 4, 4, 4, 12];
    let mut found = Vec::new();
    for start in 0..b.len() {
        let mut i = start;
        let ok = shape.iter().enumerate().all(|(n, len)| {
            let hex = (0..*len).all(|k| b.get(i + k).is_some_and(u8::is_ascii_hexdigit));
            i += len;
            let dash = n == 4 || b.get(i) == Some(&b'-');
            i += usize::from(n < 4);
            hex && dash
        });
        if ok {
            found.push(text[start..start + 36].to_string());
        }
    }
    found
}

#[test]
fn metrics_carry_no_tenant_identifiers_by_default() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("127.0.0.1:9");
    let template = api.add_template(&domain, "probe");
    let r = api.post(
        "add_interval_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
               "interval_period": "hour", "is_one_off_task": false}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().unwrap().to_string();
    assert_ok(&api.get("get_domain_paginated?page=1"));
    let text = d.metrics();
    assert!(text.contains("hookwheel_http_requests_total{route=\"add_interval_schedule\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("\nhookwheel_domain_queue_depth "), "one unlabelled sample:\n{text}");
    for id in [&d.brand, &domain, &template, &schedule] {
        assert!(!text.contains(id.as_str()), "{id} in /metrics:\n{text}");
    }
    assert_eq!(uuids_in(&text), Vec::<String>::new(), "{text}");
    assert_eq!(uuids_in("a 0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21 b"), ["0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21"]);

    // The key that enables them is a checked boolean.
    let tmp = temp_dir();
    let cfg = tmp.path().join("m.toml");
    std::fs::write(&cfg, "[metrics]\ntenant_labels = true\n").unwrap();
    let (code, out, err) = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(&cfg, "[metrics]\ntenant_labels = \"yes\"\n").unwrap();
    let (code, _, err) = run(&["config", "check", "--config", cfg.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("metrics.tenant_labels"), "{err}");
}

/// Runs `serve` with `config`, which must fail; returns (exit code, stderr).
fn failed_serve(config: &Path) -> (i32, String) {
    crate::support::refused_serve(config, "it should have failed before creating anything")
}

#[test]
fn a_busy_port_fails_serve_before_the_first_run_creates_anything() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let config = tmp.path().join("busy.toml");
    // The busy address alone, and after a free one (which must not get the start going).
    for listen in [format!("[\"{addr}\"]"), format!("[\"127.0.0.1:0\", \"{addr}\"]")] {
        std::fs::write(&config, format!("[server]\nlisten = {listen}\ndata_dir = \"{}\"\n", data.display())).unwrap();
        let (code, err) = failed_serve(&config);
        assert_ne!(code, 0);
        assert!(err.contains(&addr.to_string()), "names the address: {err}");
        assert!(!data.exists(), "created {} on a failed start", data.display());
    }
    drop(busy);
    // On a free port the same fresh directory starts, and gets its credentials.
    let mut d = TestDaemon::unstarted(tmp, "");
    d.launch().unwrap_or_else(|out| panic!("did not start:\n{out}"));
    let creds = d.initial_credentials();
    assert!(creds.key.starts_with("hwk_"));
    assert_ok(&crate::support::Api::new(&d.base, &creds.brand, &creds.key).get("get_domain_paginated?page=1"));
}

#[test]
fn an_unreadable_certificate_fails_config_check_and_serve_before_anything_is_created() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tls.toml");
    let missing = tmp.path().join("missing.pem");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = \"{}\"\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            data.display(),
            missing.display(),
            missing.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN).args(["config", "check", "--config"]).arg(&config).output().expect("config check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "config check passes a configuration serve cannot start with: {err}");
    assert!(err.contains("server.tls") && err.contains(&missing.display().to_string()), "{err}");
    let (code, err) = failed_serve(&config);
    assert_ne!(code, 0);
    assert!(err.contains("cannot load TLS certificate"), "{err}");
    assert!(!data.exists(), "created {} on a failed start", data.display());
}

fn repo_file(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Lines that run an admin command (one that reaches the daemon's socket or store).
fn admin_command_lines(text: &str) -> Vec<&str> {
    let admin =
        ["hookwheel brand ", "hookwheel key ", "hookwheel backup ", "hookwheel vault ", "hookwheel config check "];
    text.lines().filter(|l| admin.iter().any(|a| l.contains(a))).collect()
}

/// The unit, the packaged configuration, the maintainer scripts and README's install section
/// agree: a fixed system user `hookwheel`, /usr/bin, /etc/hookwheel/hookwheel.toml,
/// /var/lib/hookwheel; every admin command shown runs as that user. (scripts/check-package
/// installs the built package and runs them.)
#[test]
fn the_unit_the_package_and_the_readme_agree_on_the_user_and_the_paths() {
    const CONFIG: &str = "--config /etc/hookwheel/hookwheel.toml";
    let unit = repo_file("systemd/hookwheel.service");
    let directives: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    for d in ["User=hookwheel", "Group=hookwheel", "StateDirectory=hookwheel", "WorkingDirectory=/var/lib/hookwheel"] {
        assert!(directives.contains(&d), "{d} missing from the unit");
    }
    assert!(!directives.iter().any(|d| d.starts_with("DynamicUser")), "the unit uses DynamicUser");
    let exec: Vec<&&str> = directives.iter().filter(|d| d.starts_with("ExecStart")).collect();
    assert_eq!(exec.len(), 2, "{exec:?}");
    for d in exec {
        assert!(d.contains("=/usr/bin/hookwheel ") && d.ends_with(CONFIG), "{d}");
    }

    let header: String = unit.lines().take_while(|l| l.starts_with('#') || l.is_empty()).collect::<Vec<_>>().join("\n");
    let readme = repo_file("README.md");
    let install = readme.split("## Install on a server").nth(1).expect("README has the install section");
    let install = install.split("\n## ").next().unwrap();
    for (what, text) in [("unit header", header.as_str()), ("README install section", install)] {
        let lines = admin_command_lines(text);
        assert!(lines.len() >= 2, "{what} shows no admin commands");
        for l in lines {
            assert!(
                l.contains("sudo -u hookwheel hookwheel ") || l.contains("runuser -u hookwheel -- hookwheel "),
                "{what}: not run as the daemon's user: {l}"
            );
            assert!(l.contains(CONFIG), "{what}: not on the service's configuration: {l}");
        }
    }

    // The packaged configuration is valid and puts the data where the unit's StateDirectory is.
    let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/hookwheel.toml");
    let (code, out, err) = run(&["config", "check", "--config", packaged.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let cfg: toml::Table = repo_file("packaging/deb/hookwheel.toml").parse().unwrap();
    assert_eq!(cfg["server"]["data_dir"].as_str(), Some("/var/lib/hookwheel"));
    let postinst = repo_file("packaging/deb/postinst");
    assert!(postinst.contains("useradd --system") && postinst.contains("#DEBHELPER#"), "{postinst}");

    // The package metadata installs the unit from systemd/ and the configuration as a conffile.
    let manifest: toml::Table = repo_file("Cargo.toml").parse().unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    assert_eq!(deb["systemd-units"]["unit-scripts"].as_str(), Some("systemd/"));
    assert_eq!(deb["conf-files"].as_array().unwrap()[0].as_str(), Some("/etc/hookwheel/hookwheel.toml"));
    let assets: Vec<String> =
        deb["assets"].as_array().unwrap().iter().map(|a| a[1].as_str().unwrap().to_string()).collect();
    for dest in ["usr/bin/", "etc/hookwheel/hookwheel.toml", "usr/share/man/man1/", "usr/share/doc/hookwheel/"] {
        assert!(assets.iter().any(|a| a == dest), "{dest} not in {assets:?}");
    }
}

#[test]
fn completions_written_to_a_closed_pipe_say_nothing() {
    // A pipe whose reader is gone before anything is written (`| head` that has stopped).
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(BIN).args(["completions", "bash"]).stdout(writer).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "", "a closed pipe is not an error");
}
