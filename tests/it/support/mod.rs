//! Test harness: a real `hookwheel serve` process on a temp data directory and port 0, with
//! helpers for authenticated JSON calls. Output of the daemon is kept and printed when a test
//! fails, so a failure shows what the daemon said.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub mod netns;

pub const BIN: &str = env!("CARGO_BIN_EXE_hookwheel");

/// How long to wait for a starting daemon to print its address. A readiness wait, not an
/// assertion about speed: it only bounds a hang.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Credentials {
    pub brand: String,
    pub key: String,
}

pub struct TestDaemon {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Option<Child>,
    pub base: String,
    pub brand: String,
    pub key: String,
    output: Arc<Mutex<Vec<String>>>,
    extra_config: String,
    pub tls: bool,
    /// Extra environment variables of the daemon process.
    pub env: Vec<(String, String)>,
    /// A command the daemon is started under, e.g. `["prlimit", "--nofile=64"]`.
    pub command_prefix: Vec<String>,
}

/// Creates a fresh temporary directory for a daemon.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hookwheel-it-").tempdir().expect("temp dir")
}

impl TestDaemon {
    /// Starts a daemon on a new temp dir with the default test config.
    pub fn start() -> TestDaemon {
        Self::start_with("")
    }

    /// Starts a daemon on a new temp dir; `extra_config` is TOML appended to the test config
    /// (it may add keys to any section, `[server]` too, except `listen`, `data_dir` and
    /// `shutdown_grace_seconds`).
    pub fn start_with(extra_config: &str) -> TestDaemon {
        let mut d = TestDaemon::unstarted(temp_dir(), extra_config);
        d.launch().expect("daemon starts");
        let creds = d.initial_credentials();
        d.brand = creds.brand;
        d.key = creds.key;
        d
    }

    /// A daemon on `tmp` (whose `data/` may already hold a store), not started yet; the
    /// credentials are empty until set.
    pub fn unstarted(tmp: tempfile::TempDir, extra_config: &str) -> TestDaemon {
        let dir = tmp.path().to_path_buf();
        TestDaemon {
            dir,
            _tmp: Some(tmp),
            child: None,
            base: String::new(),
            brand: String::new(),
            key: String::new(),
            output: Arc::new(Mutex::new(Vec::new())),
            extra_config: extra_config.to_string(),
            tls: extra_config.contains("cert_file"),
            env: Vec::new(),
            command_prefix: Vec::new(),
        }
    }

    /// Starts a daemon on a new temp dir like [`TestDaemon::start_with`], with extra
    /// environment variables and a command it runs under (`prefix`, may be empty).
    pub fn start_custom(extra_config: &str, env: &[(&str, &str)], prefix: &[&str]) -> TestDaemon {
        let mut d = TestDaemon::unstarted(temp_dir(), extra_config);
        d.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        d.command_prefix = prefix.iter().map(|s| s.to_string()).collect();
        d.launch().unwrap_or_else(|out| panic!("daemon did not start:\n{out}"));
        let creds = d.initial_credentials();
        d.brand = creds.brand;
        d.key = creds.key;
        d
    }

    /// Starts a daemon on a prepared directory (e.g. a restored backup) with known credentials.
    pub fn start_on(tmp: tempfile::TempDir, extra_config: &str, creds: &Credentials) -> TestDaemon {
        let mut d = TestDaemon::unstarted(tmp, extra_config);
        d.launch().unwrap_or_else(|out| panic!("daemon did not start:\n{out}"));
        d.brand = creds.brand.clone();
        d.key = creds.key.clone();
        d
    }

    pub fn credentials(&self) -> Credentials {
        Credentials { brand: self.brand.clone(), key: self.key.clone() }
    }

    /// The store file.
    pub fn store_file(&self) -> PathBuf {
        self.data_dir().join("hookwheel.redb")
    }

    /// The vault master key file.
    pub fn vault_key_file(&self) -> PathBuf {
        self.data_dir().join("vault.key")
    }

    /// Creates a brand (optionally with a time zone) and an API key for it with the CLI, which
    /// talks to the running daemon over its admin socket (or opens the store when stopped).
    pub fn new_brand(&self, name: &str, timezone: Option<&str>) -> Credentials {
        let mut args = vec!["brand", "create", "--name", name, "--json"];
        if let Some(tz) = timezone {
            args.extend(["--timezone", tz]);
        }
        let (code, out, err) = self.cli(&args);
        assert_eq!(code, 0, "brand create failed: {out}{err}");
        let v: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("brand create --json printed {out:?}: {e}"));
        let brand = v["brand_uuid"].as_str().expect("brand_uuid").to_string();
        let (code, out, err) = self.cli(&["key", "create", "--brand", &brand, "--json"]);
        assert_eq!(code, 0, "key create failed: {out}{err}");
        let v: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("key create --json printed {out:?}: {e}"));
        assert_eq!(v["brand_uuid"], brand.as_str(), "{v}");
        Credentials { brand, key: v["api_key"].as_str().expect("api_key").to_string() }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("hookwheel.toml")
    }

    /// The config file the daemon runs with. Keys of a `[server]` table in `extra` join the
    /// test's own `[server]` table (TOML allows a table once).
    pub fn write_config(&self, extra: &str) {
        let (mut server, mut rest) = (String::new(), String::new());
        let mut in_server = false;
        for line in extra.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                in_server = t == "[server]";
                if in_server {
                    continue;
                }
            }
            let to = if in_server { &mut server } else { &mut rest };
            to.push_str(line);
            to.push('\n');
        }
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = \"{}\"\nshutdown_grace_seconds = 5\n{server}\n{rest}\n",
            self.data_dir().display(),
        );
        std::fs::write(self.config_path(), text).expect("write config");
    }

    pub fn set_extra_config(&mut self, extra: &str) {
        self.extra_config = extra.to_string();
        self.write_config(extra);
    }

    /// Starts the process; returns the daemon's stderr if it exits before listening.
    pub fn launch(&mut self) -> Result<(), String> {
        self.write_config(&self.extra_config.clone());
        let mut cmd = match self.command_prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = cmd
            .args(["serve", "--config"])
            .arg(self.config_path())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            // Not a systemd unit's process unless a test says so (the first-start key is shown).
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookwheel");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let out = self.output.clone();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let out2 = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                out2.lock().unwrap().push(format!("[stderr] {line}"));
                let _ = tx2.send(String::new());
            }
        });
        let deadline = now() + START_TIMEOUT;
        self.child = Some(child);
        loop {
            let left = deadline.saturating_duration_since(now());
            match rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) if line.is_empty() => {}
                Ok(line) => {
                    out.lock().unwrap().push(line.clone());
                    if let Some(addr) = line.strip_prefix("hookwheel listening on ") {
                        self.base = addr.trim().to_string();
                        // Keep draining stdout in the background.
                        let out3 = out.clone();
                        std::thread::spawn(move || {
                            while let Ok(l) = rx.recv() {
                                if !l.is_empty() {
                                    out3.lock().unwrap().push(l);
                                }
                            }
                        });
                        return Ok(());
                    }
                }
                Err(_) => {
                    let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                    if status.is_some() || now() >= deadline {
                        std::thread::sleep(Duration::from_millis(200));
                        let _ = self.child.take().map(|mut c| c.kill().and_then(|_| c.wait()));
                        return Err(self.output());
                    }
                }
            }
        }
    }

    pub fn initial_credentials(&self) -> Credentials {
        let text = std::fs::read_to_string(self.data_dir().join("initial-credentials.json")).expect("credentials file");
        let v: Value = serde_json::from_str(&text).unwrap();
        Credentials { brand: v["brand_uuid"].as_str().unwrap().into(), key: v["api_key"].as_str().unwrap().into() }
    }

    /// Everything the daemon printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.pid().to_string()]).status().expect("kill").success();
        assert!(ok, "kill {sig} failed");
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        self.signal("-KILL");
        let _ = self.child.take().map(|mut c| c.wait());
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal("-TERM");
        let status = self.child.take().map(|mut c| c.wait().expect("wait"));
        status.and_then(|s| s.code())
    }

    pub fn sighup(&self) {
        self.signal("-HUP");
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.launch().unwrap_or_else(|out| panic!("daemon did not restart:\n{out}"));
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn client(&self) -> Api {
        Api::new(&self.base, &self.brand, &self.key)
    }

    /// Configures a fault-injection point in the running daemon (test builds have failpoints)
    /// through its admin socket: `actions` in the `fail` crate's syntax, or `off`.
    pub fn failpoint(&self, name: &str, actions: &str) {
        use std::io::{BufRead, Write};
        let socket = self.data_dir().join("admin.sock");
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("admin socket");
        let req = serde_json::json!({"op": "failpoint", "name": name, "actions": actions});
        writeln!(stream, "{req}").expect("write admin request");
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).expect("admin answer");
        assert!(line.contains("\"ok\""), "failpoint {name}={actions} refused: {line}");
    }

    /// The daemon's `/metrics` text.
    pub fn metrics(&self) -> String {
        self.client().plain_get("/metrics").text
    }

    /// Runs the CLI against this daemon's config; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        run_cli(&self.config_path(), args)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- daemon output ----\n{}\n-----------------------", self.output());
        }
    }
}

pub fn run_cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).arg("--config").arg(config).output().expect("run cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A minimal authenticated client for the JSON API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub brand: String,
    pub key: String,
    http: reqwest::blocking::Client,
}

/// A response: status, headers and parsed JSON (Null when the body is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Api {
    pub fn new(base: &str, brand: &str, key: &str) -> Api {
        install_crypto();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Api { base: base.into(), brand: brand.into(), key: key.into(), http }
    }

    pub fn with_http(mut self, http: reqwest::blocking::Client) -> Api {
        self.http = http;
        self
    }

    pub fn as_brand(&self, brand: &str, key: &str) -> Api {
        Api { base: self.base.clone(), brand: brand.into(), key: key.into(), http: self.http.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An authenticated request builder for `/v1/api/<action>/`.
    pub fn request(&self, method: reqwest::Method, action: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .request(method, self.url(&format!("/v1/api/{action}/")))
            .header("x-hookpulse-api-key", &self.key)
            .header("x-brand-uuid", &self.brand)
    }

    pub fn send(rb: reqwest::blocking::RequestBuilder) -> Resp {
        let r = rb.send().expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, json, text }
    }

    pub fn post(&self, action: &str, body: Value) -> Resp {
        Self::send(self.request(reqwest::Method::POST, action).json(&body))
    }

    pub fn delete(&self, action: &str, body: Value) -> Resp {
        Self::send(self.request(reqwest::Method::DELETE, action).json(&body))
    }

    pub fn get(&self, action_and_query: &str) -> Resp {
        let (action, query) = action_and_query.split_once('?').unwrap_or((action_and_query, ""));
        let url = if query.is_empty() {
            self.url(&format!("/v1/api/{action}/"))
        } else {
            self.url(&format!("/v1/api/{action}/?{query}"))
        };
        Self::send(self.http.get(url).header("x-hookpulse-api-key", &self.key).header("x-brand-uuid", &self.brand))
    }

    /// A request to any path (e.g. `/v1/api/add_domain` without the slash), with credentials.
    pub fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("x-hookpulse-api-key", &self.key)
            .header("x-brand-uuid", &self.brand)
    }

    /// A request to any path without credentials.
    pub fn bare(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// Like [`Api::post`], but a transport error (e.g. the daemon was killed) is returned.
    pub fn try_post(&self, action: &str, body: Value) -> Result<Resp, reqwest::Error> {
        let r = self.request(reqwest::Method::POST, action).json(&body).send()?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text()?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp { status, headers, json, text })
    }

    /// Every item of a paginated list, page after page.
    pub fn all_pages(&self, action: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let sep = if action.contains('?') { '&' } else { '?' };
            let r = self.get(&format!("{action}{sep}page={page}"));
            assert_eq!(r.status, 200, "{action} page {page}: {}", r.text);
            let items = r.json["data"].as_array().unwrap_or_else(|| panic!("{action}: no data array: {}", r.text));
            out.extend(items.iter().cloned());
            if !r.json["meta"]["has_next"].as_bool().expect("meta.has_next") {
                break;
            }
            assert!(page < 1000, "{action}: more than 1000 pages");
        }
        out
    }

    /// The `meta.total_count` of a paginated list.
    pub fn total(&self, action: &str) -> u64 {
        let r = self.get(&format!("{action}?page=1"));
        assert_eq!(r.status, 200, "{action}: {}", r.text);
        r.json["meta"]["total_count"].as_u64().unwrap_or_else(|| panic!("{action}: no total_count: {}", r.text))
    }

    /// GET without auth (operational endpoints).
    pub fn plain_get(&self, path: &str) -> Resp {
        Self::send(self.http.get(self.url(path)))
    }

    /// Adds an http domain for `host` with limits off; returns its uuid.
    pub fn add_domain(&self, host: &str) -> String {
        let r = self.post(
            "add_domain",
            serde_json::json!({"protocol_type": "http", "domain": host, "rate_limit_enabled": false,
                "concurrency_control_enabled": false, "max_concurrent_jobs": 0, "max_requests_per_second": 0}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["domain_uuid"].as_str().expect("domain_uuid").to_string()
    }

    /// Adds a template on a domain; returns its uuid.
    pub fn add_template(&self, domain_uuid: &str, name: &str) -> String {
        let r = self.post(
            "add_webhook_template",
            serde_json::json!({"webhook_name": name, "webhook_description": "test", "method": "POST", "path": "/hook",
                "domain_uuid": domain_uuid, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
                "request_timeout_in_milliseconds": 1000, "request_body_json": {}, "headers_json": {}, "query_params_json": {}}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["webhook_uuid"].as_str().expect("webhook_uuid").to_string()
    }

    /// Adds a secret; returns its uuid.
    pub fn add_secret(&self, key: &str, value: &str) -> String {
        let r = self.post("add_system_secret", serde_json::json!({"secret_key": key, "secret_value": value}));
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["secret_uuid"].as_str().expect("secret_uuid").to_string()
    }
}

/// The monotonic clock, to bound the harness's own waits. (The daemon reads time only through
/// `hookwheel::time`; `clippy.toml` forbids `Instant::now` elsewhere, so the tests read it here.)
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// Seconds since the Unix epoch (to check epoch-valued headers).
#[allow(clippy::disallowed_methods)]
pub fn unix_now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

/// Polls `f` until it returns `Some`, for at most `timeout`; panics naming `what` otherwise.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the error envelope: `success: false`, a non-empty `error`, and a `request_id` that is
/// also in the `x-request-id` header.
pub fn assert_error_envelope(r: &Resp) {
    assert_eq!(r.json["success"], Value::Bool(false), "not an error envelope: {} {}", r.status, r.text);
    assert!(r.json["error"].as_str().is_some_and(|e| !e.is_empty()), "no error message: {}", r.text);
    let rid = r.json["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {}", r.text));
    assert!(!rid.is_empty(), "empty request_id: {}", r.text);
    let header = r.headers.get("x-request-id").and_then(|v| v.to_str().ok());
    assert_eq!(header, Some(rid), "x-request-id header differs from the body's request_id");
}

/// An error answer with this status whose message is exactly `error`.
pub fn assert_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "expected {status} {error:?}, got: {}", r.text);
    assert_error_envelope(r);
    assert_eq!(r.error(), error, "{}", r.text);
}

/// An error answer with this status whose message starts with `prefix` (the daemon may add an
/// explanation in parentheses after the documented message).
pub fn assert_error_starts(r: &Resp, status: u16, prefix: &str) {
    assert_eq!(r.status, status, "expected {status} {prefix:?}..., got: {}", r.text);
    assert_error_envelope(r);
    assert!(r.error().starts_with(prefix), "expected an error starting with {prefix:?}, got {:?}", r.error());
}

/// A 400 `Invalid field value: <field>...`.
pub fn assert_invalid(r: &Resp, field: &str) {
    assert_error_starts(r, 400, &format!("Invalid field value: {field}"));
    let rest = &r.error()[format!("Invalid field value: {field}").len()..];
    assert!(rest.is_empty() || rest.starts_with(' '), "the error names another field: {:?}", r.error());
}

/// A successful answer: 200 and `success: true`.
pub fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["success"], Value::Bool(true), "{}", r.text);
}

/// The keys of a JSON object, sorted.
pub fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

/// Runs `serve --config <config>`, which must refuse to start (a refusal is immediate; a
/// minute bounds a hang only, and a start that goes on is killed and fails the test with
/// `what`); returns (exit code, stderr).
pub fn refused_serve(config: &std::path::Path, what: &str) -> (i32, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let deadline = now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for serve") {
            break s;
        }
        if now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started: {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    (status.code().unwrap_or(-1), err)
}
