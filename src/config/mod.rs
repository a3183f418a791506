//! Configuration: one TOML file over embedded defaults, validated completely, then typed.
//!
//! The defaults *are* `config/hookwheel.toml` (embedded at build time), so that file lists every
//! key by construction. Loading: parse the user's file, compare it key by key against the
//! defaults (unknown keys and wrong types are errors), merge, then validate values. Every problem
//! is collected with its key path and reported together. [`Config`] has no `Default`: the only
//! way to get one is through this pipeline, which `hookwheel config check` runs too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

pub use crate::delivery::DeliveryLimits;
pub use crate::delivery::channel::{SmtpConfig, SmtpTls};
use crate::delivery::egress::{Cidr, EgressPolicy, Preset};
use crate::model::MisfirePolicy;
use crate::vault::KeySource;

/// The commented example file, which doubles as the defaults.
pub const DEFAULT_TOML: &str = include_str!("../../config/hookwheel.toml");

/// One configuration problem, with the dotted key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key's dotted path (`server.listen[0]`), empty for a file-level problem.
    pub path: String,
    pub message: String,
    /// The 1-based line of the file where the key (or, for a missing key, its table) is
    /// written; `None` for a value that comes from the defaults or an override.
    pub line: Option<usize>,
}

impl ConfigError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { path: path.into(), message: message.into(), line: None }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.path, self.line) {
            (p, _) if p.is_empty() => write!(f, "{}", self.message),
            (p, Some(l)) => write!(f, "{p}: {} (line {l})", self.message),
            (p, None) => write!(f, "{p}: {}", self.message),
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} configuration problem(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub data_dir: PathBuf,
    pub shutdown_grace: Duration,
    pub tls: Option<TlsFiles>,
    pub log_format: LogFormat,
    /// A validated tracing filter directive.
    pub log_level: String,
    /// `log.summary_interval_seconds`: how often the one-line activity summary is logged;
    /// `None` (0) = never. Restart to change.
    pub log_summary_interval: Option<Duration>,
    pub api: ApiLimits,
    pub metrics_bearer_token: Option<String>,
    /// `metrics.tenant_labels`: whether `/metrics` labels series with tenant identifiers
    /// (domain UUIDs). Off by default. Live.
    pub metrics_tenant_labels: bool,
    pub vault_key: KeySource,
    pub commit_batch_max: usize,
    pub write_queue_capacity: usize,
    /// `store.cache_mib`, in bytes.
    pub store_cache_bytes: usize,
    /// `store.commit_delay_us`: how long a busy batch waits for more writes (0 to 10,000 µs,
    /// well inside the 20 ms a fire is recorded ahead of its instant).
    pub commit_delay: Duration,
    /// `store.commit_siblings`: writes queued at once that make a batch wait (1 to 1,000).
    pub commit_siblings: usize,
    pub schedule_defaults: ScheduleDefaults,
    pub delivery: DeliveryLimits,
    pub egress: EgressPolicy,
    /// `egress.proxy_url`: the only proxy deliveries use (none when empty; the environment's
    /// proxy variables are never read). Restart to change.
    pub egress_proxy: Option<url::Url>,
    /// `[server]` connection limits. Restart to change.
    pub server: ServerLimits,
    /// 0 = keep forever.
    pub retention_days: u32,
    pub workflows: WorkflowLimits,
    pub events: EventLimits,
    /// `[smtp]`: where `email` channels send; `None` when `smtp.host` is empty.
    pub smtp: Option<SmtpConfig>,
}

/// `[events]`: ingest limits and event retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Requests per second per source; 0 = unlimited.
    pub ingest_rate_per_second: u32,
    pub ingest_burst: u32,
    pub transform_budget_ms: u64,
    /// 0 = keep forever.
    pub retention_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowLimits {
    pub steps_per_workflow_max: usize,
    pub step_visits_per_run_max: u32,
}

/// Defaults for schedules created without the corresponding fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleDefaults {
    pub misfire_policy: MisfirePolicy,
    pub misfire_grace_seconds: u32,
}

/// API limits that can change on reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    pub body_bytes_max: usize,
    pub json_depth_max: usize,
    pub page_size: u64,
    /// 0 = unlimited.
    pub rate_limit_per_minute: u32,
    pub idempotency_ttl_seconds: u64,
    /// Longest time one CPU-bound request (a schedule preview) may compute, in milliseconds.
    pub compute_budget_ms: u64,
}

/// Connection limits of the API listeners (config `[server]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A new connection must send a complete request head (after the TLS handshake, which
    /// this bounds too) within this; so must a kept-alive one once its next request started.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this long quiet.
    pub idle_timeout: Duration,
    /// The whole request body must arrive within this of the request head (408 otherwise).
    pub body_timeout: Duration,
    /// Most open connections over all listeners; at the cap no more are accepted (they wait
    /// in the kernel's backlog) until one closes.
    pub connections_max: usize,
}

/// Command-line values that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<Vec<String>>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads `file` (or only the defaults), applies overrides, validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigErrors> {
        let text = match file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| ConfigErrors(vec![ConfigError::new("", format!("cannot read {}: {e}", p.display()))]))?,
            None => String::new(),
        };
        Config::from_toml(&text, overrides)
    }

    /// Validates a TOML text over the defaults.
    pub fn from_toml(text: &str, overrides: &Overrides) -> Result<Config, ConfigErrors> {
        let mut merged: Table = DEFAULT_TOML.parse().expect("the embedded default config parses");
        let user: Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map(|s| line_column(text, s.start)).map(|(l, c)| format!(" at line {l}, column {c}"));
            ConfigErrors(vec![ConfigError::new(
                "",
                format!("not valid TOML{}: {}", at.unwrap_or_default(), e.message().trim_end()),
            )])
        })?;
        let mut errors = Vec::new();
        merge_checked(&mut merged, user, "", &mut errors);
        if let Some(l) = &overrides.listen {
            set(&mut merged, &["server", "listen"], Value::Array(l.iter().cloned().map(Value::String).collect()));
        }
        if let Some(d) = &overrides.data_dir {
            set(&mut merged, &["server", "data_dir"], Value::String(d.display().to_string()));
        }
        let config = validate(&merged, &mut errors);
        if errors.is_empty() {
            return Ok(config);
        }
        if let Ok(doc) = toml::de::DeTable::parse(text) {
            for e in &mut errors {
                e.line = key_offset(doc.get_ref(), &e.path).map(|at| line_column(text, at).0);
            }
        }
        Err(ConfigErrors(errors))
    }
}

/// Where the key at `path` (`server.tls.cert_file`, `server.listen[1]`) is written in the
/// parsed file: the byte offset of the deepest part of the path the file has (so a missing key
/// points at its table's header), `None` when the file has none of it.
fn key_offset(doc: &toml::de::DeTable<'_>, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut found = None;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key) else { return found };
        found = Some(k.span().start);
        let mut value = v;
        if let (Some(i), toml::de::DeValue::Array(items)) = (index, v.get_ref()) {
            match items.get(i) {
                Some(item) => {
                    found = Some(item.span().start);
                    value = item;
                }
                None => return found,
            }
        }
        match value.get_ref() {
            toml::de::DeValue::Table(t) if parts.peek().is_some() => table = t,
            _ => return found,
        }
    }
    found
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn set(t: &mut Table, path: &[&str], v: Value) {
    let mut cur = t;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p).and_then(Value::as_table_mut).expect("section exists in defaults");
    }
    cur.insert(path[path.len() - 1].to_string(), v);
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Merges `user` into `defaults`, reporting keys the defaults lack and values of another type.
fn merge_checked(defaults: &mut Table, user: Table, prefix: &str, errors: &mut Vec<ConfigError>) {
    for (k, v) in user {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match defaults.get_mut(&k) {
            None => {
                let near = defaults
                    .keys()
                    .map(|d| (strsim::jaro_winkler(&k, d), d))
                    .filter(|(score, _)| *score >= 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, d)| format!(" (did you mean {d}?)"));
                errors.push(ConfigError::new(path, format!("unknown key{}", near.unwrap_or_default())))
            }
            Some(Value::Table(d)) => match v {
                Value::Table(u) => merge_checked(d, u, &path, errors),
                other => errors.push(ConfigError::new(path, format!("expected a table, found {}", type_name(&other)))),
            },
            Some(d) => {
                if std::mem::discriminant(d) == std::mem::discriminant(&v) {
                    *d = v;
                } else {
                    errors.push(ConfigError::new(path, format!("expected {}, found {}", type_name(d), type_name(&v))));
                }
            }
        }
    }
}

/// Reads typed values out of the merged table, recording semantic problems.
struct Reader<'a> {
    root: &'a Table,
    errors: &'a mut Vec<ConfigError>,
}

impl Reader<'_> {
    fn value(&self, path: &str) -> &Value {
        let mut cur = self.root;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            cur = cur[*p].as_table().expect("section exists in defaults");
        }
        &cur[parts[parts.len() - 1]]
    }
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }
    fn str(&self, path: &str) -> String {
        self.value(path).as_str().unwrap_or_default().to_string()
    }
    fn opt_str(&self, path: &str) -> Option<String> {
        Some(self.str(path)).filter(|s| !s.is_empty())
    }
    fn int(&mut self, path: &str, min: i64, max: i64) -> i64 {
        let v = self.value(path).as_integer().unwrap_or_default();
        if v < min || v > max {
            self.err(path, format!("must be between {min} and {max}, found {v}"));
            return min;
        }
        v
    }
    fn one_of(&mut self, path: &str, allowed: &[&str]) -> String {
        let v = self.str(path);
        if !allowed.contains(&v.as_str()) {
            self.err(path, format!("must be one of {}, found {v:?}", allowed.join(", ")));
        }
        v
    }
}

/// `egress.proxy_url`: `http://` or `https://`, a host, an optional port and credentials,
/// nothing else. The message never repeats the value (it may hold a password).
fn proxy_url(raw: &str) -> Result<url::Url, &'static str> {
    const SHAPE: &str = "expected a proxy URL like \"http://proxy.internal:3128\" (http or https, a host, \
                         an optional port, no path, query or fragment)";
    let u = url::Url::parse(raw.trim()).map_err(|_| SHAPE)?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none();
    if ok { Ok(u) } else { Err(SHAPE) }
}

fn validate(root: &Table, errors: &mut Vec<ConfigError>) -> Config {
    let mut r = Reader { root, errors };

    let mut listen = Vec::new();
    let listen_values = r.value("server.listen").as_array().cloned().unwrap_or_default();
    if listen_values.is_empty() {
        r.err("server.listen", "needs at least one address");
    }
    for (i, v) in listen_values.iter().enumerate() {
        let path = format!("server.listen[{i}]");
        match v.as_str().map(str::parse::<SocketAddr>) {
            Some(Ok(a)) => listen.push(a),
            Some(Err(_)) => r.err(&path, format!("not an IP:port address: {}", v)),
            None => r.err(&path, format!("expected a string, found {}", type_name(v))),
        }
    }
    let data_dir = PathBuf::from(r.str("server.data_dir"));
    if data_dir.as_os_str().is_empty() {
        r.err("server.data_dir", "must not be empty");
    }
    let shutdown_grace = Duration::from_secs(r.int("server.shutdown_grace_seconds", 0, 3600) as u64);
    let tls = match (r.opt_str("server.tls.cert_file"), r.opt_str("server.tls.key_file")) {
        (Some(c), Some(k)) => Some(TlsFiles { cert_file: c.into(), key_file: k.into() }),
        (None, None) => None,
        (Some(_), None) => {
            r.err("server.tls.key_file", "must be set when server.tls.cert_file is");
            None
        }
        (None, Some(_)) => {
            r.err("server.tls.cert_file", "must be set when server.tls.key_file is");
            None
        }
    };

    let log_format = match r.one_of("log.format", &["text", "json"]).as_str() {
        "json" => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let log_level = r.str("log.level");
    if tracing_subscriber::EnvFilter::builder().parse(&log_level).is_err() {
        r.err("log.level", format!("not a valid log filter: {log_level:?}"));
    }

    let log_summary_interval = match r.int("log.summary_interval_seconds", 0, 86_400) {
        0 => None,
        n => Some(Duration::from_secs(n as u64)),
    };

    let api = ApiLimits {
        body_bytes_max: r.int("api.body_bytes_max", 1024, 64 * 1024 * 1024) as usize,
        json_depth_max: r.int("api.json_depth_max", 2, 128) as usize,
        page_size: r.int("api.page_size", 1, 1000) as u64,
        rate_limit_per_minute: r.int("api.rate_limit_per_minute", 0, 10_000_000) as u32,
        idempotency_ttl_seconds: r.int("api.idempotency_ttl_seconds", 60, 30 * 86_400) as u64,
        compute_budget_ms: r.int("api.compute_budget_ms", 1, 60_000) as u64,
    };
    let metrics_bearer_token = r.opt_str("metrics.bearer_token");
    let metrics_tenant_labels = r.value("metrics.tenant_labels").as_bool().unwrap_or(false);

    let vault_key = match r.one_of("vault.master_key_source", &["file", "systemd-credential"]).as_str() {
        "systemd-credential" => {
            let name = r.str("vault.credential_name");
            if name.is_empty() || name.contains('/') {
                r.err("vault.credential_name", "must be a plain file name");
            }
            KeySource::Credential(name)
        }
        _ => KeySource::File(
            r.opt_str("vault.master_key_file").map(PathBuf::from).unwrap_or_else(|| data_dir.join("vault.key")),
        ),
    };

    let commit_batch_max = r.int("store.commit_batch_max", 1, 100_000) as usize;
    let write_queue_capacity = r.int("store.write_queue_capacity", 1, 1_000_000) as usize;
    let store_cache_bytes = r.int("store.cache_mib", 1, 65_536) as usize * 1024 * 1024;
    let commit_delay = Duration::from_micros(r.int("store.commit_delay_us", 0, 10_000) as u64);
    let commit_siblings = r.int("store.commit_siblings", 1, 1_000) as usize;

    let misfire = r.one_of("schedules.misfire_policy", &["fire_once", "skip", "fire_all"]);
    let schedule_defaults = ScheduleDefaults {
        misfire_policy: MisfirePolicy::parse(&misfire).unwrap_or(MisfirePolicy::FireOnce),
        misfire_grace_seconds: r.int("schedules.misfire_grace_seconds", 0, 30 * 86_400) as u32,
    };
    let delivery = DeliveryLimits {
        max_in_flight: r.int("delivery.max_in_flight", 1, 1_000_000) as usize,
        max_response_bytes: r.int("delivery.max_response_bytes", 0, 64 * 1024 * 1024) as usize,
        retry_delay_max_ms: r.int("delivery.retry_delay_max_seconds", 1, 30 * 86_400) * 1000,
        queue_memory_max: r.int("delivery.queue_memory_max", 1, 10_000_000) as usize,
        signing_overlap_ms: r.int("delivery.signing_overlap_seconds", 0, 30 * 86_400) * 1000,
    };
    let preset = match r.one_of("egress.preset", &["default", "strict"]).as_str() {
        "strict" => Preset::Strict,
        _ => Preset::Default,
    };
    let mut cidrs = |path: &str| -> Vec<Cidr> {
        let values = r.value(path).as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match v.as_str().and_then(Cidr::parse) {
                Some(c) => out.push(c),
                None => r.err(&format!("{path}[{i}]"), format!("not an address range like \"10.0.0.0/8\": {v}")),
            }
        }
        out
    };
    let egress = EgressPolicy { preset, allow: cidrs("egress.allow_cidrs"), deny: cidrs("egress.deny_cidrs") };
    let egress_proxy = r.opt_str("egress.proxy_url").and_then(|raw| match proxy_url(&raw) {
        Ok(u) => Some(u),
        Err(why) => {
            r.err("egress.proxy_url", why);
            None
        }
    });
    let server = ServerLimits {
        header_read_timeout: Duration::from_secs(r.int("server.header_read_timeout_seconds", 1, 3600) as u64),
        idle_timeout: Duration::from_secs(r.int("server.idle_timeout_seconds", 1, 86_400) as u64),
        body_timeout: Duration::from_secs(r.int("server.body_timeout_seconds", 1, 3600) as u64),
        connections_max: r.int("server.connections_max", 1, 1_000_000) as usize,
    };
    let retention_days = r.int("retention.executions_days", 0, 36_500) as u32;
    let events = EventLimits {
        ingest_rate_per_second: r.int("events.ingest_rate_per_second", 0, 10_000_000) as u32,
        ingest_burst: r.int("events.ingest_burst", 1, 10_000_000) as u32,
        transform_budget_ms: r.int("events.transform_budget_ms", 1, 10_000) as u64,
        retention_days: r.int("events.retention_days", 0, 36_500) as u32,
    };
    let workflows = WorkflowLimits {
        steps_per_workflow_max: r.int("workflows.steps_per_workflow_max", 1, 10_000) as usize,
        step_visits_per_run_max: r.int("workflows.step_visits_per_run_max", 1, 1_000_000) as u32,
    };

    let smtp = r.opt_str("smtp.host").map(|host| {
        let tls = match r.one_of("smtp.tls", &["none", "starttls", "tls"]).as_str() {
            "none" => SmtpTls::None,
            "tls" => SmtpTls::Tls,
            _ => SmtpTls::StartTls,
        };
        let username = r.opt_str("smtp.username");
        let password_file = r.opt_str("smtp.password_file").map(PathBuf::from);
        if username.is_some() != password_file.is_some() {
            r.err("smtp.password_file", "smtp.username and smtp.password_file go together");
        }
        let from = r.str("smtp.from");
        if !from.contains('@') || from.chars().any(char::is_control) {
            r.err("smtp.from", "expected an address like \"alerts@example.com\"");
        }
        SmtpConfig {
            host,
            port: r.int("smtp.port", 1, 65_535) as u16,
            tls,
            username,
            password_file,
            from,
            timeout: Duration::from_secs(r.int("smtp.timeout_seconds", 1, 600) as u64),
        }
    });

    Config {
        listen,
        data_dir,
        shutdown_grace,
        tls,
        log_format,
        log_level,
        log_summary_interval,
        api,
        metrics_bearer_token,
        metrics_tenant_labels,
        vault_key,
        commit_batch_max,
        write_queue_capacity,
        store_cache_bytes,
        commit_delay,
        commit_siblings,
        schedule_defaults,
        delivery,
        egress,
        egress_proxy,
        server,
        retention_days,
        workflows,
        events,
        smtp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, Vec<String>> {
        Config::from_toml(text, &Overrides::default()).map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let c = check("").unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.data_dir, PathBuf::from("./hookwheel-data"));
        assert_eq!(c.vault_key, KeySource::File(PathBuf::from("./hookwheel-data/vault.key")));
        assert_eq!(c.api.body_bytes_max, 1 << 20);
        assert!(c.tls.is_none());
        assert_eq!(c.egress, EgressPolicy::default());
        assert_eq!(c.delivery.retry_delay_max_ms, 86_400_000);
        assert_eq!(c.schedule_defaults.misfire_policy, MisfirePolicy::FireOnce);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let errs = check(
            "[server]\nlisten = [\"nope\"]\nport = 1\n[log]\nformat = \"xml\"\n[api]\npage_size = \"ten\"\n[server.tls]\ncert_file = \"c.pem\"\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs.iter().any(|e| e.starts_with("server.port: unknown key")));
        assert!(errs.iter().any(|e| e.starts_with("server.listen[0]: not an IP:port")));
        assert!(errs.iter().any(|e| e.starts_with("log.format: must be one of text, json")));
        assert!(errs.iter().any(|e| e.starts_with("api.page_size: expected an integer, found a string")));
        assert!(errs.iter().any(|e| e.starts_with("server.tls.key_file: must be set")));
    }

    #[test]
    fn problems_name_the_line_and_syntax_errors_the_column() {
        let errs = check("# comment\n[server]\nlisten = [\"127.0.0.1:1\", \"nope\"]\ndata_dri = \"/x\"\n").unwrap_err();
        assert_eq!(
            errs,
            vec![
                "server.data_dri: unknown key (did you mean data_dir?) (line 4)".to_string(),
                "server.listen[1]: not an IP:port address: \"nope\" (line 3)".to_string(),
            ]
        );
        let errs = check("[server]\nlisten = [\"127.0.0.1:1\"\n[log]\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("not valid TOML at line 3, column 1: "), "{errs:?}");
        let errs = check("[log]\nlevel = info\n").unwrap_err();
        assert!(errs[0].starts_with("not valid TOML at line 2, column 9: "), "{errs:?}");
        // A key missing from the file points at its table.
        let errs = check("\n[server.tls]\ncert_file = \"c.pem\"\n").unwrap_err();
        assert_eq!(errs, vec!["server.tls.key_file: must be set when server.tls.cert_file is (line 2)".to_string()]);
    }

    #[test]
    fn the_summary_interval_is_in_seconds_and_zero_turns_it_off() {
        assert_eq!(check("").unwrap().log_summary_interval, Some(Duration::from_secs(60)));
        let c = check("[log]\nsummary_interval_seconds = 2\n").unwrap();
        assert_eq!(c.log_summary_interval, Some(Duration::from_secs(2)));
        assert_eq!(check("[log]\nsummary_interval_seconds = 0\n").unwrap().log_summary_interval, None);
        let errs = check("[log]\nsummary_interval_seconds = -1\n").unwrap_err();
        assert_eq!(errs, ["log.summary_interval_seconds: must be between 0 and 86400, found -1 (line 2)"]);
    }

    #[test]
    fn egress_ranges_are_validated_one_by_one() {
        let errs =
            check("[egress]\npreset = \"strict\"\nallow_cidrs = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("egress.allow_cidrs[1]: not an address range"));
        let c = check("[egress]\npreset = \"strict\"\nallow_cidrs = [\"10.0.0.0/8\"]\n").unwrap();
        assert_eq!(c.egress.preset, Preset::Strict);
        assert_eq!(c.egress.allow.len(), 1);
    }

    #[test]
    fn the_proxy_url_is_validated_without_repeating_it() {
        assert_eq!(check("").unwrap().egress_proxy, None);
        let c = check("[egress]\nproxy_url = \"http://user:pw@proxy.internal:3128\"\n").unwrap();
        assert_eq!(c.egress_proxy.unwrap().host_str(), Some("proxy.internal"));
        for bad in ["socks5://p:1080", "http://p:3128/path", "proxy:3128", "http://p:3128/?q", "ftp://p:21"] {
            let errs = check(&format!("[egress]\nproxy_url = \"{bad}\"\n")).unwrap_err();
            assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
            assert!(errs[0].starts_with("egress.proxy_url: expected a proxy URL"), "{bad}: {errs:?}");
        }
        let errs = check("[egress]\nproxy_url = \"http://user:s3cret@p:3128/x\"\n").unwrap_err();
        assert!(!errs[0].contains("s3cret"), "{errs:?}");
    }

    #[test]
    fn server_limits_have_units_and_bounds() {
        let c = check("").unwrap();
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.server.body_timeout, Duration::from_secs(30));
        assert_eq!(c.server.connections_max, 1024);
        let errs = check("[server]\nheader_read_timeout_seconds = 0\nconnections_max = 0\n").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("server.header_read_timeout_seconds: must be between 1")));
        assert!(errs.iter().any(|e| e.starts_with("server.connections_max: must be between 1")));
    }

    #[test]
    fn overrides_win_over_the_file() {
        let o = Overrides { listen: Some(vec!["127.0.0.1:0".into()]), data_dir: Some("/tmp/x".into()) };
        let c = Config::from_toml("[server]\nlisten = [\"127.0.0.1:9\"]\n", &o).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn smtp_is_off_without_a_host_and_checked_with_one() {
        assert_eq!(check("").unwrap().smtp, None);
        let c = check("[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\n").unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls, smtp.username), (2525, SmtpTls::None, None));
        let errs = check("[smtp]\nhost = \"m\"\ntls = \"ssl\"\nusername = \"u\"\nfrom = \"x\"\n").unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("smtp.tls: must be one of none, starttls, tls")));
        assert!(errs.iter().any(|e| e.starts_with("smtp.password_file: smtp.username and")));
        assert!(errs.iter().any(|e| e.starts_with("smtp.from: expected an address")));
        // No inline password key exists.
        assert!(check("[smtp]\npassword = \"x\"\n").unwrap_err()[0].starts_with("smtp.password: unknown key"));
    }

    #[test]
    fn invalid_toml_is_one_clear_error() {
        let errs = check("[server\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("not valid TOML"));
    }
}
