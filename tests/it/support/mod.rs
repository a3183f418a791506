//! Test harness: a real `hookwheel serve` process on a temp data directory and port 0, with
//! helpers for authenticated JSON calls. Output of the daemon is kept and printed when a test
//! fails, so a failure shows what the daemon said.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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
    /// (it may add keys to any section except `[server]`'s listen/data_dir).
    pub fn start_with(extra_config: &str) -> TestDaemon {
        let tmp = temp_dir();
        let dir = tmp.path().to_path_buf();
        let mut d = TestDaemon {
            dir,
            _tmp: Some(tmp),
            child: None,
            base: String::new(),
            brand: String::new(),
            key: String::new(),
            output: Arc::new(Mutex::new(Vec::new())),
            extra_config: extra_config.to_string(),
            tls: extra_config.contains("cert_file"),
        };
        d.launch().expect("daemon starts");
        let creds = d.initial_credentials();
        d.brand = creds.brand;
        d.key = creds.key;
        d
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("hookwheel.toml")
    }

    /// The config file the daemon runs with.
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = \"{}\"\nshutdown_grace_seconds = 5\n\n{}\n",
            self.data_dir().display(),
            extra
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
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(self.config_path())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
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
        let deadline = Instant::now() + START_TIMEOUT;
        self.child = Some(child);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
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
                    if status.is_some() || Instant::now() >= deadline {
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
        let url = if query.is_empty() { self.url(&format!("/v1/api/{action}/")) } else { self.url(&format!("/v1/api/{action}/?{query}")) };
        Self::send(self.http.get(url).header("x-hookpulse-api-key", &self.key).header("x-brand-uuid", &self.brand))
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
