//! Administration: brands, API keys, backups and vault-key rotation, and the operator's
//! read-only views ([`views`]: schedules, executions, status, the live tail), for the CLI.
//!
//! The same [`execute`] runs in two places. With the daemon stopped, the CLI opens the store
//! itself and calls it directly. With the daemon running (it holds the store's file lock), the
//! CLI sends the request over the admin channel: a Unix socket in the data directory, mode
//! 0600 inside a 0700 directory, so only the daemon's own OS user can reach it. The protocol is
//! one JSON request line and one JSON answer line per connection, except
//! [`AdminRequest::ExecutionTail`], which is answered with one line per ended execution until
//! the client disconnects.

pub mod views;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::auth;
use crate::model::{Brand, BrandId, KeyId};
use crate::store::{KeyRef, Store};
use crate::time::{Clock, Millis, format_utc, tz};
use crate::vault::Vault;

/// File name of the admin socket inside the data directory.
pub const SOCKET_FILE: &str = "admin.sock";
/// Longest request line accepted on the socket.
const REQUEST_BYTES_MAX: usize = 64 * 1024;
const BRAND_NAME_CHARS_MAX: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    BrandCreate {
        name: String,
        timezone: String,
    },
    BrandList,
    KeyCreate {
        brand: String,
    },
    KeyList {
        brand: String,
    },
    KeyRevoke {
        key: String,
    },
    /// Writes a consistent snapshot to `out` (a path in the data directory; the CLI moves it).
    Backup {
        out: PathBuf,
    },
    VaultRotate,
    /// Schedules of every brand, or of `brand`; optionally only those in `status`.
    ScheduleList {
        #[serde(default)]
        brand: Option<String>,
        #[serde(default)]
        status: Option<String>,
    },
    /// One schedule (looked up in every brand) with its last executions.
    ScheduleShow {
        id: String,
    },
    /// The newest `limit` executions, filtered.
    ExecutionList {
        #[serde(default)]
        brand: Option<String>,
        #[serde(default)]
        schedule: Option<String>,
        #[serde(default)]
        failed: bool,
        limit: u64,
    },
    /// One execution (looked up in every brand), attempt by attempt.
    ExecutionShow {
        id: String,
    },
    /// Streams every execution that ends from now on (daemon only): a first answer line
    /// `{"ok": {"tailing": true}}`, then one `{"ok": <execution row>}` line per execution and
    /// `{"ok": {"missed": N}}` when the reader fell behind by N.
    ExecutionTail {
        #[serde(default)]
        brand: Option<String>,
        #[serde(default)]
        schedule: Option<String>,
        #[serde(default)]
        failed: bool,
    },
    /// Whether the daemon runs, its uptime, armed timers, queues, last errors, and what the
    /// store holds.
    Status,
    /// Configures a fault-injection point (test builds only): `actions` in the `fail` crate's
    /// syntax (`return`, `return(corrupt)`, `panic`, `1*off->return`, `off`...).
    #[cfg(feature = "failpoints")]
    Failpoint {
        name: String,
        actions: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAnswer {
    Ok(Value),
    Error(String),
}

/// What admin operations act on.
pub struct AdminCtx {
    pub store: Store,
    pub vault: Vault,
    pub clock: Arc<dyn Clock>,
    /// The running daemon's state for the views; `None` when the CLI opened the store itself.
    pub live: Option<views::Live>,
}

impl AdminRequest {
    /// The read-only views: they need neither the vault nor a writable store.
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            AdminRequest::ScheduleList { .. }
                | AdminRequest::ScheduleShow { .. }
                | AdminRequest::ExecutionList { .. }
                | AdminRequest::ExecutionShow { .. }
                | AdminRequest::ExecutionTail { .. }
                | AdminRequest::Status
        )
    }
}

/// Answers a view request ([`AdminRequest::is_view`]) from `store`; `live` is the running
/// daemon's state (`None`: the daemon is stopped). Other requests are refused.
pub fn view(store: &Store, live: Option<&views::Live>, req: &AdminRequest, now: Millis) -> Result<Value, String> {
    match req {
        AdminRequest::ScheduleList { brand, status } => {
            views::schedule_list(store, brand.as_deref(), status.as_deref())
        }
        AdminRequest::ScheduleShow { id } => views::schedule_show(store, id),
        AdminRequest::ExecutionList { brand, schedule, failed, limit } => {
            let q = views::ExecutionQuery { brand: brand.clone(), schedule: schedule.clone(), failed: *failed };
            views::execution_list(store, &q, *limit)
        }
        AdminRequest::ExecutionShow { id } => views::execution_show(store, id),
        AdminRequest::Status => views::status(store, live, now),
        AdminRequest::ExecutionTail { .. } => {
            Err("executions tail follows the running daemon; it is not running (see `executions list`)".into())
        }
        _ => Err("not a view".into()),
    }
}

fn parse_brand(s: &str) -> Result<BrandId, String> {
    BrandId::parse(s).ok_or_else(|| format!("{s:?} is not a brand UUID"))
}

fn opt_time(t: Option<i64>) -> Value {
    t.map(|t| Value::String(format_utc(t))).unwrap_or(Value::Null)
}

/// Runs one admin operation. Errors are operator-facing sentences.
pub async fn execute(cx: &AdminCtx, req: AdminRequest) -> Result<Value, String> {
    let now = cx.clock.now_ms();
    match req {
        AdminRequest::BrandCreate { name, timezone } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > BRAND_NAME_CHARS_MAX {
                return Err(format!("--name must be 1 to {BRAND_NAME_CHARS_MAX} characters"));
            }
            if tz::zone(&timezone).is_none() {
                return Err(format!(
                    "--timezone {timezone:?} is not an IANA time zone (see GET /v1/api/get_timezones/)"
                ));
            }
            let brand = Brand { id: BrandId::new(), name, timezone, created_ms: now };
            let b = cx.store.create_brand(brand).await.map_err(|e| e.to_string())?;
            Ok(json!({"brand_uuid": b.id.to_string(), "name": b.name, "timezone": b.timezone}))
        }
        AdminRequest::BrandList => {
            let brands = cx.store.list_brands().map_err(|e| e.to_string())?;
            Ok(json!({"brands": brands.iter().map(|b| json!({
                "brand_uuid": b.id.to_string(), "name": b.name, "timezone": b.timezone, "created_at": format_utc(b.created_ms),
            })).collect::<Vec<_>>()}))
        }
        AdminRequest::KeyCreate { brand } => {
            let brand = parse_brand(&brand)?;
            let (record, plain) = auth::generate_key(brand, now);
            let k = cx.store.create_key(record).await.map_err(|e| e.to_string())?;
            Ok(
                json!({"key_id": k.id.to_string(), "api_key": plain.as_str(), "brand_uuid": brand.to_string(), "prefix": k.prefix}),
            )
        }
        AdminRequest::KeyList { brand } => {
            let brand = parse_brand(&brand)?;
            if cx.store.get_brand(brand).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("brand {brand} not found"));
            }
            let keys = cx.store.list_keys(brand).map_err(|e| e.to_string())?;
            Ok(json!({"keys": keys.iter().map(|k| json!({
                "key_id": k.id.to_string(), "prefix": k.prefix, "created_at": format_utc(k.created_ms),
                "last_used_at": opt_time(k.last_used_ms), "revoked_at": opt_time(k.revoked_ms),
            })).collect::<Vec<_>>()}))
        }
        AdminRequest::KeyRevoke { key } => {
            let which = if let Some(id) = KeyId::parse(&key) {
                KeyRef::Id(id)
            } else if let Some(refusal) = auth::whole_key_refusal(&key) {
                return Err(refusal);
            } else if key.starts_with(auth::KEY_PREFIX) && key.len() == auth::SHOWN_PREFIX_CHARS {
                KeyRef::Prefix(key)
            } else {
                return Err(format!(
                    "give a key id (UUID) or the key's {}-character prefix (hwk_...)",
                    auth::SHOWN_PREFIX_CHARS
                ));
            };
            let k = cx.store.revoke_key(which, now).await.map_err(|e| e.to_string())?;
            Ok(json!({"key_id": k.id.to_string(), "prefix": k.prefix, "revoked_at": opt_time(k.revoked_ms)}))
        }
        AdminRequest::Backup { out } => {
            let rows = cx.store.backup_to(&out).map_err(|e| e.to_string())?;
            Ok(json!({"path": out, "rows": rows}))
        }
        AdminRequest::VaultRotate => {
            let n = cx.vault.rotate_key(&cx.store).await.map_err(|e| e.to_string())?;
            Ok(json!({"resealed_secrets": n}))
        }
        r @ (AdminRequest::ScheduleList { .. }
        | AdminRequest::ScheduleShow { .. }
        | AdminRequest::ExecutionList { .. }
        | AdminRequest::ExecutionShow { .. }
        | AdminRequest::ExecutionTail { .. }
        | AdminRequest::Status) => {
            // Views read (a status counts every schedule): off the async workers.
            let (store, live) = (cx.store.clone(), cx.live.clone());
            tokio::task::spawn_blocking(move || view(&store, live.as_ref(), &r, now))
                .await
                .unwrap_or_else(|e| Err(format!("the view failed: {e}")))
        }
        #[cfg(feature = "failpoints")]
        AdminRequest::Failpoint { name, actions } => {
            if actions == "off" {
                fail::remove(&name);
            } else {
                fail::cfg(&name, &actions)?;
            }
            Ok(json!({"failpoint": name, "actions": actions}))
        }
    }
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Binds the admin socket (mode 0600), removing a stale socket file first. Done before the
/// daemon reports that it listens, so a CLI call right after start finds the socket.
pub fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the admin socket until the task is dropped.
pub async fn serve(listener: tokio::net::UnixListener, cx: Arc<AdminCtx>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let cx = cx.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read).take(REQUEST_BYTES_MAX as u64);
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match serde_json::from_str::<AdminRequest>(&line) {
                Ok(AdminRequest::ExecutionTail { brand, schedule, failed }) => {
                    let q = views::ExecutionQuery { brand, schedule, failed };
                    tail(&cx, q, reader.into_inner().into_inner(), write).await;
                    return;
                }
                Ok(req) => {
                    let op = format!("{req:?}");
                    let op = op.split([' ', '{']).next().unwrap_or("").to_string();
                    let view = req.is_view();
                    let result = execute(&cx, req).await;
                    // Views only read: a `watch hookwheel status` must not fill the journal.
                    if view {
                        tracing::debug!(op, ok = result.is_ok(), "admin request");
                    } else {
                        tracing::info!(op, ok = result.is_ok(), "admin request");
                    }
                    match result {
                        Ok(v) => AdminAnswer::Ok(v),
                        Err(e) => AdminAnswer::Error(e),
                    }
                }
                Err(e) => AdminAnswer::Error(format!("bad admin request: {e}")),
            };
            let mut text = serde_json::to_string(&answer).unwrap_or_default();
            text.push('\n');
            let _ = write.write_all(text.as_bytes()).await;
        });
    }
}

use tokio::io::AsyncReadExt as _;

fn answer_line(answer: &AdminAnswer) -> String {
    let mut text = serde_json::to_string(answer).unwrap_or_default();
    text.push('\n');
    text
}

/// Serves one `executions tail` connection: a first line once the filters are checked, then a
/// line per ended execution that passes them, until the client goes away (its end of the
/// socket closes: reading it returns) or the daemon stops.
async fn tail(
    cx: &AdminCtx,
    q: views::ExecutionQuery,
    mut read: tokio::net::unix::OwnedReadHalf,
    mut write: tokio::net::unix::OwnedWriteHalf,
) {
    let Some(live) = &cx.live else { return };
    let q = match q.check(&cx.store) {
        Ok(q) => q,
        Err(e) => {
            let _ = write.write_all(answer_line(&AdminAnswer::Error(e)).as_bytes()).await;
            return;
        }
    };
    let mut ended = live.metrics.activity().subscribe();
    tracing::debug!(op = "ExecutionTail", "admin request");
    if write.write_all(answer_line(&AdminAnswer::Ok(json!({"tailing": true}))).as_bytes()).await.is_err() {
        return;
    }
    let mut scratch = [0u8; 64];
    loop {
        let line = tokio::select! {
            // The client sends nothing more: any return (EOF, error, stray bytes) ends the tail.
            _ = read.read(&mut scratch) => return,
            next = ended.recv() => match next {
                Ok(row) if q.matches(&row) => answer_line(&AdminAnswer::Ok(row)),
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    answer_line(&AdminAnswer::Ok(json!({"missed": n})))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        if write.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Follows a running daemon's `executions tail`: calls `started` once the daemon follows, then
/// `each` with every execution row (and `{"missed": N}` notes) until the daemon goes away or
/// `each` returns false. `Ok(false)`: no daemon answers on the socket.
pub fn call_tail(
    data_dir: &Path,
    req: &AdminRequest,
    started: impl FnOnce(),
    mut each: impl FnMut(Value) -> bool,
) -> Result<bool, String> {
    use std::io::{BufRead, Write};
    let path = socket_path(data_dir);
    let stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(false);
        }
        Err(e) => return Err(format!("cannot reach the daemon's admin socket {}: {e}", path.display())),
    };
    let mut text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    text.push('\n');
    (&stream).write_all(text.as_bytes()).map_err(|e| format!("admin socket: {e}"))?;
    let mut first = true;
    let mut started = Some(started);
    for line in std::io::BufReader::new(&stream).lines() {
        let line = line.map_err(|e| format!("admin socket: {e}"))?;
        match serde_json::from_str::<AdminAnswer>(&line) {
            Ok(AdminAnswer::Ok(_)) if first => {
                first = false;
                if let Some(f) = started.take() {
                    f();
                }
            }
            Ok(AdminAnswer::Ok(v)) => {
                if !each(v) {
                    return Ok(true);
                }
            }
            Ok(AdminAnswer::Error(e)) => return Err(e),
            Err(_) => return Err("the daemon sent a line that is not an admin answer".into()),
        }
    }
    if first {
        return Err("the daemon closed the admin connection without an answer".into());
    }
    Ok(true)
}

/// Sends one request to a running daemon. `Ok(None)` means no daemon answers on the socket.
pub fn call(data_dir: &Path, req: &AdminRequest) -> Result<Option<Result<Value, String>>, String> {
    use std::io::{BufRead, Write};
    let path = socket_path(data_dir);
    let stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => {
            return Err(format!("cannot reach the daemon's admin socket {}: {e}", path.display()));
        }
    };
    let mut text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    text.push('\n');
    (&stream).write_all(text.as_bytes()).map_err(|e| format!("admin socket: {e}"))?;
    let mut line = String::new();
    std::io::BufReader::new(&stream).read_line(&mut line).map_err(|e| format!("admin socket: {e}"))?;
    match serde_json::from_str::<AdminAnswer>(&line) {
        Ok(AdminAnswer::Ok(v)) => Ok(Some(Ok(v))),
        Ok(AdminAnswer::Error(e)) => Ok(Some(Err(e))),
        Err(_) => Err("the daemon closed the admin connection without an answer".into()),
    }
}
