//! The operator's views on the command line: `hookwheel schedules list|show`, `hookwheel
//! executions list|show|tail` and `hookwheel status`.
//!
//! Each works with the daemon running or stopped. With the daemon running (it holds the
//! store's file lock) the request goes through its admin socket; with it stopped the command
//! opens the store file read-only itself (a file left unclean by a crash is repaired first by
//! a writable open, the same as `brand list` makes). `executions tail` follows the running
//! daemon and fails at once when it is stopped. The host operator sees every brand; `--brand`
//! narrows a view to one (docs/design.md, "Operator views"). Text tables by default, `--json`
//! for scripts (one JSON object; `tail`: one object per line).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::{self, AdminRequest};
use crate::config::Config;
use crate::daemon::{self, DataDir};
use crate::metrics::Metrics;
use crate::store::{OpenMode, STORE_FILE, Store, StoreError};
use crate::time::{Clock, SystemClock};

/// Rows `executions list` shows unless `--limit` says otherwise.
const LIST_LIMIT_DEFAULT: u64 = 20;
/// Longest reason or response excerpt printed in a text table or view.
const TEXT_CHARS_MAX: usize = 200;

/// `--json`.
#[derive(Args, Debug, Clone, Copy)]
pub struct Json {
    /// Print JSON instead of a table (one object; `executions tail`: one object per line).
    #[arg(long)]
    pub json: bool,
}

/// `hookwheel schedules ...`.
#[derive(Subcommand, Debug)]
pub enum SchedulesCmd {
    /// List schedules: id, brand, status, driver, next fire, runs, name.
    List {
        /// Only this brand's schedules (default: every brand).
        #[arg(long, value_name = "UUID")]
        brand: Option<String>,
        /// Only schedules in this status: active, paused, completed, expired or inactive.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        #[command(flatten)]
        out: Json,
    },
    /// Show one schedule (any brand): its settings, state and last executions.
    Show {
        /// The schedule's UUID.
        #[arg(value_name = "SCHEDULE_UUID")]
        id: String,
        #[command(flatten)]
        out: Json,
    },
}

/// Filters shared by `executions list` and `executions tail`.
#[derive(Args, Debug, Clone)]
pub struct ExecutionFilters {
    /// Only failed executions.
    #[arg(long)]
    pub failed: bool,
    /// Only executions of this schedule.
    #[arg(long, value_name = "SCHEDULE_UUID")]
    pub schedule: Option<String>,
    /// Only this brand's executions (default: every brand).
    #[arg(long, value_name = "UUID")]
    pub brand: Option<String>,
}

/// `hookwheel executions ...`.
#[derive(Subcommand, Debug)]
pub enum ExecutionsCmd {
    /// List the newest executions (newest first): id, schedule, status, scheduled instant,
    /// attempts, lateness, reason.
    List {
        #[command(flatten)]
        filters: ExecutionFilters,
        /// How many executions to show (1 to 10000).
        #[arg(long, value_name = "N", default_value_t = LIST_LIMIT_DEFAULT)]
        limit: u64,
        #[command(flatten)]
        out: Json,
    },
    /// Show one execution (any brand), attempt by attempt (secrets appear masked, as recorded).
    Show {
        /// The execution's UUID.
        #[arg(value_name = "EXECUTION_UUID")]
        id: String,
        #[command(flatten)]
        out: Json,
    },
    /// Follow the running daemon: print each execution as it ends, until interrupted.
    Tail {
        #[command(flatten)]
        filters: ExecutionFilters,
        #[command(flatten)]
        out: Json,
    },
}

/// `hookwheel status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub out: Json,
}

/// Runs `schedules list|show`.
pub fn schedules(cfg: &Config, cmd: &SchedulesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SchedulesCmd::List { brand, status, out } => {
            let v = view(cfg, AdminRequest::ScheduleList { brand: brand.clone(), status: status.clone() })?;
            print(&v, out.json, schedule_table);
        }
        SchedulesCmd::Show { id, out } => {
            let v = view(cfg, AdminRequest::ScheduleShow { id: id.clone() })?;
            print(&v, out.json, schedule_text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `executions list|show|tail`.
pub fn executions(cfg: &Config, cmd: &ExecutionsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ExecutionsCmd::List { filters, limit, out } => {
            if !(1..=admin::views::LIST_LIMIT_MAX).contains(limit) {
                anyhow::bail!("--limit must be between 1 and {}", admin::views::LIST_LIMIT_MAX);
            }
            let f = filters.clone();
            let req =
                AdminRequest::ExecutionList { brand: f.brand, schedule: f.schedule, failed: f.failed, limit: *limit };
            let v = view(cfg, req)?;
            print(&v, out.json, execution_table);
        }
        ExecutionsCmd::Show { id, out } => {
            let v = view(cfg, AdminRequest::ExecutionShow { id: id.clone() })?;
            print(&v, out.json, execution_text);
        }
        ExecutionsCmd::Tail { filters, out } => {
            let f = filters.clone();
            let req = AdminRequest::ExecutionTail { brand: f.brand, schedule: f.schedule, failed: f.failed };
            let json = out.json;
            let started = || eprintln!("hookwheel: following the daemon's executions as they end (Ctrl-C stops)");
            let found = admin::call_tail(&cfg.data_dir, &req, started, |row| {
                if json {
                    println!("{row}");
                } else if let Some(n) = row["missed"].as_u64() {
                    eprintln!("hookwheel: fell behind; {n} execution(s) not shown");
                } else {
                    println!("{}", tail_line(&row));
                }
                true
            })
            .map_err(anyhow::Error::msg)?;
            if !found {
                anyhow::bail!(
                    "the daemon is not running (no admin socket at {}): `executions tail` follows a running \
                     daemon; `hookwheel executions list` shows what the store holds",
                    admin::socket_path(&cfg.data_dir).display()
                );
            }
            anyhow::bail!("the daemon closed the tail (it stopped)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `status`.
pub fn status(cfg: &Config, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let v = view(cfg, AdminRequest::Status)?;
    print(&v, args.out.json, status_text);
    Ok(ExitCode::SUCCESS)
}

/// Asks the running daemon, or, when none answers, reads the store itself.
fn view(cfg: &Config, req: AdminRequest) -> anyhow::Result<Value> {
    if let Some(answer) = admin::call(&cfg.data_dir, &req).map_err(anyhow::Error::msg)? {
        return answer.map_err(anyhow::Error::msg);
    }
    offline(cfg, &req)
}

/// Answers a view from the store file, opened read-only (the daemon is stopped). A file that
/// needs redb's repair after a crash is opened the way every admin command opens it (writable,
/// which repairs it) and read the same.
fn offline(cfg: &Config, req: &AdminRequest) -> anyhow::Result<Value> {
    let path = cfg.data_dir.join(STORE_FILE);
    if !path.exists() {
        return Err(StoreError::Missing(path).into());
    }
    daemon::ensure_data_dir(&cfg.data_dir, DataDir::MustExist)?;
    let now = SystemClock.now_ms();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = match Store::open_read_only(&path, Metrics::new()) {
            Ok(s) => s,
            Err(StoreError::NeedsRepair(_)) => daemon::open_store(cfg, OpenMode::MustExist, Metrics::new())?,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot open the store {}", path.display()))),
        };
        let result = admin::view(&store, None, req, now).map_err(anyhow::Error::msg);
        store.shutdown().await;
        result
    })
}

fn print(v: &Value, json: bool, text: impl Fn(&Value) -> String) {
    if json {
        println!("{v}");
    } else {
        print!("{}", text(v));
    }
}

/// A string field, `-` when absent.
fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most [`TEXT_CHARS_MAX`] characters on one line.
fn short(v: &Value) -> String {
    let text = s(v).replace(['\n', '\r'], " ");
    if text.chars().count() > TEXT_CHARS_MAX {
        let cut: String = text.chars().take(TEXT_CHARS_MAX).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn schedule_table(v: &Value) -> String {
    let mut out = format!(
        "{:<36}  {:<36}  {:<9}  {:<8}  {:<24}  {:>6}  {}\n",
        "SCHEDULE", "BRAND", "STATUS", "DRIVER", "NEXT FIRE (UTC)", "RUNS", "NAME"
    );
    for r in v["schedules"].as_array().into_iter().flatten() {
        out += &format!(
            "{:<36}  {:<36}  {:<9}  {:<8}  {:<24}  {:>6}  {}\n",
            s(&r["schedule_uuid"]),
            s(&r["brand_uuid"]),
            s(&r["status"]),
            s(&r["driver"]),
            s(&r["next_fire_at"]),
            s(&r["total_triggered"]),
            short(&r["name"])
        );
    }
    out
}

/// `key: value` lines for the given fields of `v`.
fn fields(v: &Value, names: &[(&str, &str)]) -> String {
    let width = names.iter().map(|(_, label)| label.len()).max().unwrap_or(0) + 1;
    names.iter().map(|(key, label)| format!("{:<width$} {}\n", format!("{label}:"), short(&v[*key]))).collect()
}

fn schedule_text(v: &Value) -> String {
    let mut out = fields(
        v,
        &[
            ("schedule_uuid", "schedule"),
            ("brand_uuid", "brand"),
            ("name", "name"),
            ("status", "status"),
            ("reason", "reason"),
            ("driver", "driver"),
            ("target_kind", "target kind"),
            ("target_uuid", "target"),
            ("next_fire_at", "next fire"),
            ("last_run_at", "last run"),
            ("total_triggered", "runs"),
            ("misfire_policy", "misfire policy"),
            ("overlap_policy", "overlap policy"),
            ("jitter_seconds", "jitter seconds"),
            ("rules", "rules"),
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("executions_total", "executions"),
        ],
    );
    out += &format!("driver settings: {}\n", v["driver_settings"]);
    let recent = v["recent_executions"].as_array().cloned().unwrap_or_default();
    if !recent.is_empty() {
        out += "recent executions:\n";
        out += &execution_table(&serde_json::json!({"executions": recent}));
    }
    out
}

/// The REASON shown for an execution row: its final reason, or while retries are pending
/// `retrying at <time>: <last attempt's error>`.
fn why(r: &Value) -> Value {
    match (&r["reason"], &r["last_error"], &r["next_attempt_at"]) {
        (Value::String(reason), _, _) => Value::String(reason.clone()),
        (_, Value::String(err), Value::String(at)) => Value::String(format!("retrying at {at}: {err}")),
        _ => Value::Null,
    }
}

fn execution_table(v: &Value) -> String {
    let mut out = format!(
        "{:<36}  {:<36}  {:<9}  {:<24}  {:>5}  {:>8}  {}\n",
        "EXECUTION", "SCHEDULE", "STATUS", "SCHEDULED (UTC)", "TRIES", "LATE MS", "REASON"
    );
    for r in v["executions"].as_array().into_iter().flatten() {
        out += &format!(
            "{:<36}  {:<36}  {:<9}  {:<24}  {:>5}  {:>8}  {}\n",
            s(&r["execution_uuid"]),
            s(&r["schedule_uuid"]),
            s(&r["status"]),
            s(&r["scheduled_at"]),
            s(&r["attempts"]),
            s(&r["lateness_ms"]),
            short(&why(r))
        );
    }
    if let Some(total) = v["total"].as_u64() {
        let shown = v["executions"].as_array().map_or(0, Vec::len);
        if (shown as u64) < total {
            out += &format!("({shown} of {total} shown; --limit shows more)\n");
        }
    }
    out
}

fn execution_text(v: &Value) -> String {
    let mut out = fields(
        v,
        &[
            ("execution_uuid", "execution"),
            ("brand_uuid", "brand"),
            ("schedule_uuid", "schedule"),
            ("target_kind", "target kind"),
            ("target_uuid", "target"),
            ("trigger", "trigger"),
            ("status", "status"),
            ("reason", "reason"),
            ("scheduled_at", "scheduled"),
            ("due_at", "due"),
            ("finished_at", "finished"),
            ("next_attempt_at", "next attempt"),
            ("lateness_ms", "lateness ms"),
            ("idempotency_key", "idempotency key"),
            ("retry_of", "retry of"),
            ("workflow_run", "workflow run"),
        ],
    );
    for a in v["attempt_details"].as_array().into_iter().flatten() {
        out += &format!(
            "attempt {}: {}  {} {}  -> {}  {} ms{}\n",
            s(&a["attempt"]),
            s(&a["started_at"]),
            s(&a["request"]["method"]),
            s(&a["request"]["url"]),
            s(&a["status_code"]),
            s(&a["latency_ms"]),
            match &a["error"] {
                Value::Null => String::new(),
                e => format!("  error: {}", short(e)),
            }
        );
        if !a["response_excerpt"].is_null() {
            out += &format!("  response: {}\n", short(&a["response_excerpt"]));
        }
    }
    out
}

fn tail_line(r: &Value) -> String {
    format!(
        "{}  {:<9}  execution {}  schedule {}  brand {}  attempts {}{}",
        s(&r["finished_at"]),
        s(&r["status"]),
        s(&r["execution_uuid"]),
        s(&r["schedule_uuid"]),
        s(&r["brand_uuid"]),
        s(&r["attempts"]),
        match &r["reason"] {
            Value::Null => String::new(),
            e => format!("  {}", short(e)),
        }
    )
}

fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

fn status_text(v: &Value) -> String {
    let st = &v["store"];
    let mut out = String::new();
    if v["daemon"] == "running" {
        out += &format!(
            "daemon:           running (pid {}, version {}) since {}, up {}\n",
            s(&v["pid"]),
            s(&v["version"]),
            s(&v["started_at"]),
            duration(v["uptime_seconds"].as_u64().unwrap_or(0))
        );
        out += &format!("armed timers:     {}\n", s(&v["armed_timers"]));
        out += &format!("in flight:        {}\n", s(&v["in_flight"]));
        out += &format!("deferred:         {}\n", s(&v["deferred"]));
        let depths: Vec<String> = v["queue_depths"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| format!("{} {}", s(&q["domain_uuid"]), s(&q["depth"])))
            .collect();
        out +=
            &format!("queue depths:     {}\n", if depths.is_empty() { "all empty".into() } else { depths.join(", ") });
        let writable = if v["store_writable"] == true {
            "writable".to_string()
        } else {
            format!("NOT WRITABLE: {}", short(&v["store_error"]))
        };
        out += &format!("store:            {writable}\n");
    } else {
        out += "daemon:           stopped (from the store file)\n";
    }
    out += &format!("store file:       {}\n", s(&st["path"]));
    out += &format!("brands:           {}\n", s(&st["brands"]));
    let schedules: Vec<String> =
        st["schedules"].as_object().into_iter().flatten().map(|(k, n)| format!("{} {k}", s(n))).collect();
    out += &format!("schedules:        {}\n", schedules.join(", "));
    let monitors: Vec<String> =
        st["monitors"].as_object().into_iter().flatten().map(|(k, n)| format!("{} {k}", s(n))).collect();
    out += &format!("monitors:         {}\n", monitors.join(", "));
    out += &format!("unfinished executions: {}\n", s(&st["unfinished_executions"]));
    let errors = v["last_errors"].as_array().cloned().unwrap_or_default();
    if errors.is_empty() {
        out += "last errors:      none\n";
    } else {
        out += "last errors:\n";
        for e in &errors {
            // A failure still retrying shows when its next attempt is due, marked as such.
            let when = if e["finished_at"].is_null() {
                format!("{} (next retry)", s(&e["next_attempt_at"]))
            } else {
                s(&e["finished_at"])
            };
            out += &format!(
                "  {}  execution {}  schedule {}  {}\n",
                when,
                s(&e["execution_uuid"]),
                s(&e["schedule_uuid"]),
                short(&why(e))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m 5s");
        assert_eq!(duration(3_725), "1h 2m 5s");
        assert_eq!(duration(90_061), "1d 1h 1m");
    }

    #[test]
    fn long_reasons_are_cut_on_one_line() {
        let v = Value::String(format!("a\nb{}", "x".repeat(500)));
        let t = short(&v);
        assert!(t.starts_with("a b") && t.ends_with('…') && t.chars().count() == TEXT_CHARS_MAX + 1, "{t}");
    }
}
