//! The command line: one function per subcommand. Errors become a message on stderr and a
//! non-zero exit code; `anyhow` lives here and in `daemon`, nowhere deeper.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use serde_json::Value;

use crate::admin::{self, AdminCtx, AdminRequest};
use crate::config::{Config, LogFormat, Overrides};
use crate::daemon::{self, DataDir};
use crate::metrics::Metrics;
use crate::store::{OpenMode, STORE_FILE, StoreError};
use crate::time::{SystemClock, tz};
use crate::vault::Vault;

fn long_version() -> &'static str {
    let (v, source) = tz::database_version();
    Box::leak(format!("{} (tzdb {v}, {source})", env!("CARGO_PKG_VERSION")).into_boxed_str())
}

#[derive(Parser)]
#[command(
    name = "hookwheel",
    version = long_version(),
    about = "Self-hosted scheduler daemon with a HookPulse-compatible API",
    after_help = crate::manual::MAIN_EXAMPLES
)]
struct Cli {
    /// Configuration file (TOML). Without it, the embedded defaults apply.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (overrides server.data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    #[command(after_help = crate::manual::SERVE_EXAMPLES)]
    Serve {
        /// Address to listen on (overrides server.listen; repeat for several).
        #[arg(long, value_name = "ADDR")]
        listen: Vec<String>,
    },
    /// Manage brands (tenants).
    #[command(subcommand, after_help = crate::manual::BRAND_EXAMPLES)]
    Brand(BrandCmd),
    /// Manage API keys.
    #[command(subcommand, after_help = crate::manual::KEY_EXAMPLES)]
    Key(KeyCmd),
    /// Configuration tools.
    #[command(subcommand, after_help = crate::manual::CONFIG_EXAMPLES)]
    Config(ConfigCmd),
    /// Write a consistent copy of the store to a new file.
    #[command(after_help = crate::manual::BACKUP_EXAMPLES)]
    Backup {
        /// The backup file to create (mode 0600); an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Secret-vault tools.
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Schedule tools that need no daemon.
    #[command(subcommand, after_help = crate::manual::SCHEDULE_EXAMPLES)]
    Schedule(ScheduleCmd),
    /// Print a shell completion script on stdout.
    #[command(after_help = crate::manual::COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: crate::manual::Shell,
    },
    /// Print the man page hookwheel(1) on stdout, or write every page into a directory.
    #[command(after_help = crate::manual::MAN_EXAMPLES)]
    Man {
        /// Write hookwheel.1 and one page per subcommand (hookwheel-key-revoke.1, ...) into DIR
        /// instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Tools for trying hookwheel out on a development machine.
    #[command(subcommand)]
    Dev(DevCmd),
    /// View schedules of every brand (daemon running or stopped).
    #[command(subcommand)]
    Schedules(crate::cli_views::SchedulesCmd),
    /// View executions of every brand, or follow them as they end (daemon running or stopped;
    /// tail needs it running).
    #[command(subcommand)]
    Executions(crate::cli_views::ExecutionsCmd),
    /// Whether the daemon runs: uptime, armed timers, queue depths, last errors, and what the
    /// store holds.
    Status(crate::cli_views::StatusArgs),
}

#[derive(Subcommand)]
enum DevCmd {
    /// A tiny HTTP receiver that prints every request it gets and checks Standard Webhooks
    /// signatures when given the domain's signing secret (get_domain_signing_secret).
    /// It answers each request with --status and the JSON {"ok", "method", "path",
    /// "received_at", "echo": <the request body>}.
    #[command(
        after_help = "Examples:\n  hookwheel dev receiver\n  HOOKWHEEL_WEBHOOK_SECRET=whsec_... hookwheel dev receiver --listen 127.0.0.1:9000\n  hookwheel dev receiver --status 503 --json"
    )]
    Receiver {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
        /// A `whsec_…` signing secret to check signatures with (repeat during a rotation).
        /// Prefer the HOOKWHEEL_WEBHOOK_SECRET environment variable (space-separated secrets):
        /// command lines are visible to other users of the machine.
        #[arg(long, value_name = "WHSEC")]
        secret: Vec<String>,
        /// HTTP status to answer every request with (e.g. 500 to watch retries).
        #[arg(long, value_name = "CODE", default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..=599))]
        status: u16,
        /// Print one JSON object per request instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ScheduleCmd {
    /// The next fire instants of a driver with rules, computed offline exactly as the daemon's
    /// preview_schedule does. Give the fields of the matching add_*_schedule call as KEY=VALUE,
    /// e.g. `driver_type=cron cron_expression='30 2 * * *' cron_timezone=America/New_York count=5`;
    /// values that parse as JSON (numbers, true/false, arrays, objects) are taken as such.
    Preview {
        /// A field of the add_*_schedule body, e.g. driver_type=interval or interval_seconds=300.
        #[arg(value_name = "KEY=VALUE", required = true)]
        fields: Vec<String>,
        /// Rules as a JSON array of add_schedule_rule bodies.
        #[arg(long, value_name = "JSON")]
        rules: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Args)]
struct JsonFlag {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BrandCmd {
    /// Create a brand; prints its UUID.
    Create {
        /// The brand's display name.
        #[arg(long)]
        name: String,
        /// IANA time zone for timestamps shown to this brand.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List brands.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create an API key for a brand; prints the key once.
    Create {
        /// The brand the key belongs to (its UUID, as `brand list` shows it).
        #[arg(long, value_name = "UUID")]
        brand: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List a brand's keys (prefix, created, last used, revoked).
    List {
        /// The brand whose keys to list (its UUID).
        #[arg(long, value_name = "UUID")]
        brand: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Revoke a key by its id or its shown prefix (hwk_ + 8 characters). Takes effect at once.
    ///
    /// The whole key is refused: on a command line it would stay in the shell's history.
    Revoke {
        /// The key's id (UUID) or its prefix (hwk_ + 8 characters), as `key list` shows them.
        #[arg(value_name = "KEY_PREFIX_OR_ID")]
        key: String,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate the configuration; lists every problem and exits non-zero if there is any.
    Check,
    /// Print the commented default configuration.
    Defaults,
}

#[derive(Subcommand)]
enum VaultCmd {
    /// Generate a new master key and re-encrypt every secret with it.
    RotateKey,
}

/// The command line's definition, for the completion and man page generators and their tests.
pub fn command() -> clap::Command {
    Cli::command()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookwheel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, listen: Option<Vec<String>>) -> anyhow::Result<(Config, Overrides)> {
    let overrides = Overrides { listen, data_dir: cli.data_dir.clone() };
    let cfg = Config::load(cli.config.as_deref(), &overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((cfg, overrides))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve { listen } => {
            let listen = if listen.is_empty() { None } else { Some(listen.clone()) };
            let (cfg, overrides) = load_config(&cli, listen)?;
            let reload = init_logging(cfg.log_format, &cfg.log_level);
            runtime()?.block_on(daemon::serve(cfg, cli.config.clone(), overrides, reload))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCmd::Check) => {
            let source =
                cli.config.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded defaults".into());
            match Config::load(cli.config.as_deref(), &Overrides { listen: None, data_dir: cli.data_dir.clone() }) {
                Ok(cfg) => {
                    // The files the configuration names must load too (`ExecStartPre` runs this).
                    if let Some(t) = &cfg.tls
                        && let Err(e) = crate::server::Tls::load(&t.cert_file, &t.key_file)
                    {
                        eprintln!(
                            "{source}: server.tls: cannot load certificate {} / key {}: {e}",
                            t.cert_file.display(),
                            t.key_file.display()
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                    println!("{source}: OK");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprint!("{source}: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Config(ConfigCmd::Defaults) => {
            print!("{}", crate::config::DEFAULT_TOML);
            Ok(ExitCode::SUCCESS)
        }
        Command::Brand(BrandCmd::Create { name, timezone, out }) => {
            let v = admin_call(&cli, AdminRequest::BrandCreate { name: name.clone(), timezone: timezone.clone() })?;
            print_value(&v, out.json, |v| format!("{}\n", v["brand_uuid"].as_str().unwrap_or("")));
            Ok(ExitCode::SUCCESS)
        }
        Command::Brand(BrandCmd::List { out }) => {
            let v = admin_call(&cli, AdminRequest::BrandList)?;
            print_value(&v, out.json, |v| {
                let mut s = format!("{:<36}  {:<24}  {}\n", "BRAND UUID", "TIMEZONE", "NAME");
                for b in v["brands"].as_array().into_iter().flatten() {
                    s += &format!(
                        "{:<36}  {:<24}  {}\n",
                        str_of(&b["brand_uuid"]),
                        str_of(&b["timezone"]),
                        str_of(&b["name"])
                    );
                }
                s
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCmd::Create { brand, out }) => {
            let v = admin_call(&cli, AdminRequest::KeyCreate { brand: brand.clone() })?;
            print_value(&v, out.json, |v| format!("{}\n", str_of(&v["api_key"])));
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCmd::List { brand, out }) => {
            let v = admin_call(&cli, AdminRequest::KeyList { brand: brand.clone() })?;
            print_value(&v, out.json, |v| {
                let mut s = format!(
                    "{:<36}  {:<12}  {:<24}  {:<24}  {}\n",
                    "KEY ID", "PREFIX", "CREATED", "LAST USED", "REVOKED"
                );
                for k in v["keys"].as_array().into_iter().flatten() {
                    s += &format!(
                        "{:<36}  {:<12}  {:<24}  {:<24}  {}\n",
                        str_of(&k["key_id"]),
                        str_of(&k["prefix"]),
                        str_of(&k["created_at"]),
                        str_of(&k["last_used_at"]),
                        str_of(&k["revoked_at"])
                    );
                }
                s
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCmd::Revoke { key }) => {
            if let Some(refusal) = crate::auth::whole_key_refusal(key) {
                bail!(refusal);
            }
            let v = admin_call(&cli, AdminRequest::KeyRevoke { key: key.clone() })?;
            println!("revoked {} ({})", str_of(&v["key_id"]), str_of(&v["prefix"]));
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { out } => {
            backup(&cli, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule(ScheduleCmd::Preview { fields, rules, out }) => {
            let v = preview_offline(fields, rules.as_deref())?;
            print_value(&v, out.json, |v| {
                let mut s = String::new();
                for t in v["fire_times"].as_array().into_iter().flatten() {
                    s += &format!("{}  {}\n", str_of(&t["utc"]), str_of(&t["local"]));
                }
                s
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            match crate::manual::completions(Cli::command(), *shell, &mut std::io::stdout().lock()) {
                // A reader that stops early (`| head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                other => {
                    other.context("cannot write the completion script")?;
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Man { out_dir } => crate::manual::man(Cli::command(), out_dir.as_deref()),
        Command::Schedules(cmd) => crate::cli_views::schedules(&load_config(&cli, None)?.0, cmd),
        Command::Executions(cmd) => crate::cli_views::executions(&load_config(&cli, None)?.0, cmd),
        Command::Status(args) => crate::cli_views::status(&load_config(&cli, None)?.0, args),
        Command::Vault(VaultCmd::RotateKey) => {
            let v = admin_call(&cli, AdminRequest::VaultRotate)?;
            println!("vault master key rotated; {} secret(s) re-encrypted", v["resealed_secrets"]);
            Ok(ExitCode::SUCCESS)
        }
        Command::Dev(DevCmd::Receiver { listen, secret, status, json }) => {
            let mut secrets = secret.clone();
            if let Ok(env) = std::env::var("HOOKWHEEL_WEBHOOK_SECRET") {
                secrets.extend(env.split_whitespace().map(str::to_string));
            }
            let status = axum::http::StatusCode::from_u16(*status).context("--status")?;
            crate::devreceiver::run(crate::devreceiver::Options { listen: *listen, secrets, status, json: *json })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How long the offline preview may search, in milliseconds: longer than the daemon's default
/// budget, since it holds up nobody else.
const PREVIEW_OFFLINE_BUDGET_MS: u64 = 10_000;

fn preview_offline(fields: &[String], rules: Option<&str>) -> anyhow::Result<Value> {
    let mut body = serde_json::Map::new();
    for f in fields {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("{f:?}: expected KEY=VALUE"))?;
        let value = match serde_json::from_str::<Value>(v) {
            Ok(j @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => j,
            _ => Value::String(v.to_string()),
        };
        body.insert(k.to_string(), value);
    }
    if let Some(r) = rules {
        body.insert("rules".into(), serde_json::from_str(r).context("--rules must be a JSON array")?);
    }
    let input = crate::api::input::from_body(body).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let now = <SystemClock as crate::time::Clock>::now_ms(&SystemClock);
    let budget = crate::api::compute::Budget::new(PREVIEW_OFFLINE_BUDGET_MS);
    crate::api::schedules::preview_request(input, None, "UTC", now, &budget)
        .map_err(|e| anyhow::anyhow!("{}", e.message()))
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn print_value(v: &Value, json: bool, text: impl Fn(&Value) -> String) {
    if json {
        println!("{v}");
    } else {
        print!("{}", text(v));
    }
}

/// Sends the request to the running daemon, or, when none runs, executes it on the store.
fn admin_call(cli: &Cli, req: AdminRequest) -> anyhow::Result<Value> {
    let (cfg, _) = load_config(cli, None)?;
    if let Some(answer) = admin::call(&cfg.data_dir, &req).map_err(anyhow::Error::msg)? {
        return answer.map_err(anyhow::Error::msg);
    }
    offline(&cfg, req)
}

/// Runs an admin request on the store itself (no daemon answers). Only `serve` creates a
/// store: a missing data directory, store file or vault key is an error and nothing is created.
fn offline(cfg: &Config, req: AdminRequest) -> anyhow::Result<Value> {
    let store_file = cfg.data_dir.join(STORE_FILE);
    if !store_file.exists() {
        return Err(StoreError::Missing(store_file).into());
    }
    daemon::ensure_data_dir(&cfg.data_dir, DataDir::MustExist)?;
    runtime()?.block_on(async {
        let store = daemon::open_store(cfg, OpenMode::MustExist, Metrics::new())?;
        let result = async {
            let vault = Vault::load_with(cfg.vault_key.clone(), &store, OpenMode::MustExist).await?;
            let cx = AdminCtx { store: store.clone(), vault, clock: Arc::new(SystemClock), live: None };
            admin::execute(&cx, req).await.map_err(anyhow::Error::msg)
        }
        .await;
        store.shutdown().await;
        result
    })
}

/// `backup --out FILE`: the file is created new (an existing one is refused, never
/// overwritten) and ends up with mode 0600 whatever the umask, since it holds sealed secrets
/// and key hashes. With the daemon running, the daemon writes the copy into the data directory
/// (0600) and it is hard-linked to `out` (or, across file systems, copied into a new 0600 file).
fn backup(cli: &Cli, out: &Path) -> anyhow::Result<()> {
    if out.symlink_metadata().is_ok() {
        bail!("{} already exists; choose a new file", out.display());
    }
    let (cfg, _) = load_config(cli, None)?;
    let partial = cfg.data_dir.join(format!("backup-{}.redb.partial", uuid::Uuid::new_v4().simple()));
    let req = AdminRequest::Backup { out: partial.clone() };
    let rows = match admin::call(&cfg.data_dir, &req).map_err(anyhow::Error::msg)? {
        Some(answer) => {
            let v = answer.map_err(anyhow::Error::msg)?;
            let moved = move_private(&partial, out);
            let _ = std::fs::remove_file(&partial);
            moved?;
            v["rows"].as_u64().unwrap_or(0)
        }
        None => offline(&cfg, AdminRequest::Backup { out: out.to_path_buf() })?["rows"].as_u64().unwrap_or(0),
    };
    println!("backup written to {} ({rows} records)", out.display());
    Ok(())
}

/// Puts the file `from` at `to`, which must not exist yet, with mode 0600, and makes it
/// durable. A hard link keeps the one inode (no copy, no window with other permissions); when
/// linking is not possible (another file system, a link restriction) the bytes are copied into
/// a file created new with mode 0600.
fn move_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let exists = || anyhow::anyhow!("{} already exists; choose a new file", to.display());
    match std::fs::hard_link(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(_) => {
            let mut src = std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
            let mut dst =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to).map_err(|e| {
                    match e.kind() {
                        std::io::ErrorKind::AlreadyExists => exists(),
                        _ => anyhow::Error::new(e).context(format!("cannot write {}", to.display())),
                    }
                })?;
            let copied = std::io::copy(&mut src, &mut dst).and_then(|_| dst.sync_all());
            if let Err(e) = copied {
                drop(dst);
                let _ = std::fs::remove_file(to);
                return Err(e).with_context(|| format!("cannot write {}", to.display()));
            }
        }
    }
    let f = std::fs::File::open(to).with_context(|| format!("cannot open {}", to.display()))?;
    // The file is ours and new: make it exactly 0600 whatever the umask let through.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set mode 0600 on {}", to.display()))?;
    f.sync_all()?;
    if let Some(dir) = to.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Sets up tracing to stderr in the configured format; returns a function that changes the
/// filter later (SIGHUP).
fn init_logging(format: LogFormat, level: &str) -> daemon::LogReload {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, reload};
    let filter = EnvFilter::builder().parse(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => registry.with(fmt.json()).try_init(),
        LogFormat::Text => registry.with(fmt).try_init(),
    };
    Box::new(move |level: &str| {
        let f = EnvFilter::builder().parse(level).map_err(|e| e.to_string())?;
        handle.reload(f).map_err(|e| e.to_string())
    })
}
