//! `hookwheel serve`: opens the store and vault, bootstraps the first brand, serves the API
//! (plain or TLS) and the admin socket, talks to systemd, reloads on SIGHUP and stops cleanly
//! on SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use crate::admin::{self, AdminCtx};
use crate::api::{self, App, LiveSettings};
use crate::auth;
use crate::config::{Config, Overrides};
use crate::delivery::{Egress, Engine};
use crate::metrics::Metrics;
use crate::model::{Brand, BrandId};
use crate::server::{Server, Tls};
use crate::store::{OpenMode, STORE_FILE, Store, StoreError, WriterSettings};
use crate::time::{Clock, SystemClock};
use crate::vault::Vault;

/// File written on first start with the bootstrap credentials (mode 0600).
pub const INITIAL_CREDENTIALS_FILE: &str = "initial-credentials.json";
/// How often key last-use times are flushed to the store.
const KEY_USAGE_FLUSH_SECONDS: u64 = 30;
/// How often the retention sweep runs (executions, runs, plans, idempotency records).
const PRUNE_SECONDS: u64 = 3600;

/// Changes the live log filter (set up by the CLI).
pub type LogReload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The bits of a data directory's mode that let someone other than its owner create, replace
/// or remove the files in it (group- and world-writable).
const DATA_DIR_FOREIGN_WRITE_BITS: u32 = 0o022;

/// What to do about a data directory that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDir {
    /// `serve`: create it (and missing parents) with mode 0700.
    Create,
    /// Admin commands: a missing directory means there is no store ([`crate::store::StoreError::Missing`]).
    MustExist,
}

/// Makes sure the data directory is safe to keep the store, the vault key and the admin socket
/// in, without ever changing an existing directory.
///
/// A missing directory is created with mode 0700 (parents as `create_dir_all` makes them) when
/// `missing` is [`DataDir::Create`]. An existing one (symlinks followed) must be a directory
/// owned by the user hookwheel runs as and writable by nobody else (no `g+w`/`o+w` bit, so a
/// 1777 directory such as `/tmp` is refused); read and search access for group and others
/// (0750, 0755) is accepted, since every file hookwheel keeps there is itself 0600 — the
/// decision is written down in README.md, "Configuration". The error names the path, what is
/// wrong with it and the command that fixes it; the directory is left as it was.
pub fn ensure_data_dir(dir: &Path, missing: DataDir) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing == DataDir::Create => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create the parent directory {}", parent.display()))?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {
                    // Ours since a moment ago: give it exactly 0700 whatever the umask took away.
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                        .with_context(|| format!("cannot set mode 0700 on the new data directory {}", dir.display()))?;
                    return Ok(());
                }
                // Created by someone else in between: check it like any existing directory.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::metadata(dir)
                    .with_context(|| format!("cannot inspect the data directory {}", dir.display()))?,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create the data directory {}", dir.display()));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(crate::store::StoreError::Missing(dir.join(STORE_FILE)).into());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot inspect the data directory {}", dir.display())),
    };
    let shown = dir.display();
    if !meta.is_dir() {
        anyhow::bail!("data directory {shown} is not a directory");
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        anyhow::bail!(
            "data directory {shown} is owned by uid {}, not by uid {me} that runs hookwheel; \
             run hookwheel as its owner, or give it to this user with `chown {me} {shown}`",
            meta.uid()
        );
    }
    let mode = meta.mode() & 0o7777;
    if mode & DATA_DIR_FOREIGN_WRITE_BITS != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and every user can write to it",
            (true, false) => "members of its group can write to it",
            _ => "every user can write to it",
        };
        // A shared directory (sticky bit: /tmp, /var/tmp) is never one to chmod.
        let fix = if mode & 0o1000 != 0 {
            format!("point --data-dir (or server.data_dir) at a directory of hookwheel's own, e.g. {shown}/hookwheel")
        } else {
            format!(
                "point --data-dir at a directory of hookwheel's own, or, if {shown} is hookwheel's alone, run `chmod 700 {shown}`"
            )
        };
        anyhow::bail!(
            "data directory {shown} has mode {mode:04o}: {who}, so others could replace the store, the vault key \
             or the admin socket; hookwheel does not change a directory's mode itself: {fix}"
        );
    }
    Ok(())
}

/// Opens the store of a data directory with the configured writer settings. With
/// [`OpenMode::MustExist`] a missing store is the error "no store at <path>; pass --data-dir"
/// and nothing is created.
pub fn open_store(cfg: &Config, mode: OpenMode, metrics: Metrics) -> anyhow::Result<Store> {
    let path = cfg.data_dir.join(STORE_FILE);
    let settings = WriterSettings {
        commit_batch_max: cfg.commit_batch_max,
        write_queue_capacity: cfg.write_queue_capacity,
        cache_bytes: cfg.store_cache_bytes,
        commit_delay: cfg.commit_delay,
        commit_siblings: cfg.commit_siblings,
    };
    // Another process may hold the file for a moment (an admin command or view reading the
    // stopped store while the service starts): wait for it rather than fail the start.
    let mut waits = 0;
    loop {
        match Store::open_with(&path, mode, settings, metrics.clone()) {
            Ok(store) => return Ok(store),
            Err(StoreError::Locked(_)) if waits < STORE_LOCKED_WAITS => {
                waits += 1;
                std::thread::sleep(STORE_LOCKED_WAIT);
            }
            Err(e @ StoreError::Missing(_)) => return Err(e.into()),
            Err(e) => return Err(e).with_context(|| format!("cannot open the store {}", path.display())),
        }
    }
}

/// How long [`open_store`] waits for another process to close the store file: 50 × 100 ms.
/// Longer than any admin command or view holds it; a second daemon on the same directory fails
/// after it.
const STORE_LOCKED_WAITS: u32 = 50;
const STORE_LOCKED_WAIT: Duration = Duration::from_millis(100);

/// With an empty store, creates brand `default` and one key, writes them to a 0600 file and
/// prints them once (the key only where the output is not kept: see [`crate::firstrun`]).
/// Brand and key are committed together.
async fn bootstrap(store: &Store, data_dir: &Path, now: i64) -> anyhow::Result<()> {
    if !store.list_brands()?.is_empty() {
        return Ok(());
    }
    let brand = Brand { id: BrandId::new(), name: "default".into(), timezone: "UTC".into(), created_ms: now };
    let (key, plain) = auth::generate_key(brand.id, now);
    let creds = json!({"brand_uuid": brand.id.to_string(), "api_key": plain.as_str()});
    let path = data_dir.join(INITIAL_CREDENTIALS_FILE);
    write_private(&path, format!("{creds:#}\n").as_bytes())?;
    let brand_id = brand.id;
    store.create_brand_with_key(brand, key).await?;
    let output = crate::firstrun::Environment::current().output();
    print!("{}", crate::firstrun::announcement(output, brand_id, plain.as_str(), &path));
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn live_settings(cfg: &Config) -> LiveSettings {
    LiveSettings {
        api: cfg.api,
        metrics_bearer_token: cfg.metrics_bearer_token.clone(),
        schedule_defaults: cfg.schedule_defaults,
        delivery: cfg.delivery,
        workflows: cfg.workflows,
        events: cfg.events,
    }
}

fn notify(states: &[sd_notify::NotifyState]) {
    // Outside systemd there is no NOTIFY_SOCKET and this does nothing.
    let _ = sd_notify::notify(states);
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn serve(
    cfg: Config,
    config_file: Option<PathBuf>,
    overrides: Overrides,
    log_reload: LogReload,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    #[cfg(feature = "failpoints")]
    configure_failpoints_from_env()?;
    // Signal handlers first: a SIGTERM or SIGHUP that arrives while starting (or right after
    // "listening" is printed) must be handled, not kill the process with the default action.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    // The listen addresses and the TLS certificate first: a busy port or an unreadable
    // certificate must fail the start before anything is created, above all before the
    // first-run bootstrap shows its key once.
    let mut listeners = Vec::new();
    let mut locals: Vec<SocketAddr> = Vec::new();
    for addr in &cfg.listen {
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        locals.push(listener.local_addr()?);
        listeners.push(listener);
    }
    // The certificate too: a start that cannot serve creates nothing.
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(Tls::load(&t.cert_file, &t.key_file).with_context(|| {
            format!("cannot load TLS certificate {} / key {}", t.cert_file.display(), t.key_file.display())
        })?)),
        None => None,
    };
    ensure_data_dir(&cfg.data_dir, DataDir::Create)?;
    let metrics = Metrics::new();
    metrics.set_tenant_labels(cfg.metrics_tenant_labels);
    let started_ms = SystemClock.now_ms();
    let store = open_store(&cfg, OpenMode::CreateIfMissing, metrics.clone())?;
    let vault = Vault::load(cfg.vault_key.clone(), &store).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    bootstrap(&store, &cfg.data_dir, clock.now_ms()).await?;
    crate::firstrun::warn_if_present(&cfg.data_dir.join(INITIAL_CREDENTIALS_FILE));

    ensure_signing_secrets(&store, &vault, clock.now_ms()).await?;
    // The circuit-state gauge covers every domain from the start, not only those used since.
    for (domain, state) in store.circuit_states()? {
        metrics.set_circuit_state(domain, state);
    }

    let (events_tx, events_rx) = tokio::sync::mpsc::channel(crate::scheduler::COMMAND_QUEUE_CAPACITY);
    let delivery = Engine::new(
        store.clone(),
        vault.clone(),
        clock.clone(),
        metrics.clone(),
        cfg.delivery,
        Egress { policy: cfg.egress.clone(), proxy: cfg.egress_proxy.clone() },
        events_tx,
    )
    .context("cannot set up the delivery HTTP client")?;
    delivery.set_release_timer(Arc::new(
        crate::delivery::release::ReleaseTimer::start().context("cannot start the release timer thread")?,
    ));
    let (scheduler, scheduler_task) =
        crate::scheduler::start(store.clone(), clock.clone(), delivery.clone(), metrics.clone(), events_rx).await?;
    scheduler.set_step_visits_max(cfg.workflows.step_visits_per_run_max).await;
    delivery.set_smtp(cfg.smtp.clone());
    let alerts_task =
        crate::scheduler::alerts::spawn(store.clone(), clock.clone(), metrics.clone(), Arc::new(delivery.clone()));
    let live =
        admin::views::Live { metrics: metrics.clone(), started_ms, engine: Arc::new(EngineLoad(delivery.clone())) };
    let summary = cfg.log_summary_interval.map(|every| tokio::spawn(summary(metrics.clone(), every)));
    let app = App::new(
        store.clone(),
        vault.clone(),
        metrics,
        clock.clone(),
        live_settings(&cfg),
        scheduler.clone(),
        delivery.clone(),
    );
    // The API's routes and, under /ui, the dashboard (which calls the API's operations; the API
    // knows nothing of it).
    let router = api::router(app.clone()).nest_service("/ui", crate::ui::router(app.clone()));
    let admin_cx =
        Arc::new(AdminCtx { store: store.clone(), vault: vault.clone(), clock: clock.clone(), live: Some(live) });
    let socket = admin::socket_path(&cfg.data_dir);
    let admin_listener =
        admin::bind(&socket).with_context(|| format!("cannot bind the admin socket {}", socket.display()))?;
    let admin_task = tokio::spawn(admin::serve(admin_listener, admin_cx));

    let server = Server::start(listeners, router, tls.clone(), cfg.server).context("cannot start the HTTP server")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    for local in locals {
        println!("hookwheel listening on {scheme}://{local}");
        tracing::info!(%local, scheme, "listening");
    }

    match crate::api::jobs::resume(&app) {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "resumed running replay and bulk-retry jobs"),
        Err(e) => tracing::warn!(error = %e, "could not read running jobs; they resume at the next start"),
    }
    let maintenance = tokio::spawn(maintenance(app.clone(), cfg.api.idempotency_ttl_seconds, cfg.retention_days));
    if let Some(interval) = sd_notify::watchdog_enabled() {
        tokio::spawn(watchdog(app.clone(), interval));
    }
    app.set_ready(true);
    let (tzv, tzs) = crate::time::tz::database_version();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), tzdb = tzv, tzdb_source = tzs, data_dir = %cfg.data_dir.display(), "hookwheel ready");
    notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("serving")]);

    let mut current = cfg.clone();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                current = reload(&app, current, config_file.as_deref(), &overrides, tls.as_ref(), &log_reload).await;
            }
        }
    }

    tracing::info!(grace_seconds = cfg.shutdown_grace.as_secs(), "stopping: no new requests, finishing in-flight ones");
    notify(&[sd_notify::NotifyState::Stopping]);
    app.set_ready(false);
    server.shutdown(cfg.shutdown_grace).await;
    alerts_task.abort();
    scheduler.shutdown().await;
    let _ = scheduler_task.await;
    admin_task.abort();
    maintenance.abort();
    if let Some(t) = summary {
        t.abort();
    }
    let _ = std::fs::remove_file(&socket);
    let usage = app.take_key_usage();
    if !usage.is_empty() {
        let _ = store.touch_keys(usage).await;
    }
    store.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Test builds: configures the failpoints listed in `FAILPOINTS` (`name=actions;...`, the
/// `fail` crate's format).
#[cfg(feature = "failpoints")]
fn configure_failpoints_from_env() -> anyhow::Result<()> {
    let Ok(spec) = std::env::var("FAILPOINTS") else { return Ok(()) };
    for item in spec.split(';').filter(|s| !s.trim().is_empty()) {
        let (name, actions) =
            item.split_once('=').with_context(|| format!("FAILPOINTS: {item:?} is not name=actions"))?;
        fail::cfg(name.trim(), actions.trim()).map_err(|e| anyhow::anyhow!("FAILPOINTS {name}: {e}"))?;
        tracing::warn!(failpoint = name.trim(), actions = actions.trim(), "fault injection configured");
    }
    Ok(())
}

/// SIGHUP: re-reads the config file; applies what can change live and logs what needs a restart.
async fn reload(
    app: &App,
    old: Config,
    file: Option<&Path>,
    overrides: &Overrides,
    tls: Option<&Arc<Tls>>,
    log_reload: &LogReload,
) -> Config {
    notify(&[sd_notify::NotifyState::Reloading, monotonic()]);
    let new = match Config::load(file, overrides) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reload refused, keeping the running configuration: {e}");
            notify(&[sd_notify::NotifyState::Ready]);
            return old;
        }
    };
    if let Err(e) = log_reload(&new.log_level) {
        tracing::error!("log.level not applied: {e}");
    }
    app.set_live(live_settings(&new));
    app.metrics.set_tenant_labels(new.metrics_tenant_labels);
    app.delivery.reconfigure(new.delivery, new.egress.clone());
    app.scheduler.set_step_visits_max(new.workflows.step_visits_per_run_max).await;
    if new.delivery.max_in_flight != old.delivery.max_in_flight {
        tracing::warn!("delivery.max_in_flight changes after a restart");
    }
    if let (Some(cfg), Some(files)) = (tls, &new.tls) {
        match cfg.reload(&files.cert_file, &files.key_file) {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(e) => tracing::error!("TLS certificate not reloaded: {e}"),
        }
    }
    let mut restart = Vec::new();
    if new.listen != old.listen {
        restart.push("server.listen");
    }
    if new.data_dir != old.data_dir {
        restart.push("server.data_dir");
    }
    if new.tls.is_some() != old.tls.is_some() {
        restart.push("server.tls (on/off)");
    }
    if new.log_format != old.log_format {
        restart.push("log.format");
    }
    if new.vault_key != old.vault_key {
        restart.push("vault.*");
    }
    if new.commit_batch_max != old.commit_batch_max
        || new.write_queue_capacity != old.write_queue_capacity
        || new.store_cache_bytes != old.store_cache_bytes
        || new.commit_delay != old.commit_delay
        || new.commit_siblings != old.commit_siblings
    {
        restart.push("store.*");
    }
    if new.shutdown_grace != old.shutdown_grace {
        restart.push("server.shutdown_grace_seconds");
    }
    if new.server != old.server {
        restart.push("server.*_timeout_seconds / server.connections_max");
    }
    if new.egress_proxy != old.egress_proxy {
        restart.push("egress.proxy_url");
    }
    if new.log_summary_interval != old.log_summary_interval {
        restart.push("log.summary_interval_seconds");
    }
    if new.smtp != old.smtp {
        restart.push("smtp.*");
    }
    if restart.is_empty() {
        tracing::info!("configuration reloaded");
    } else {
        tracing::warn!(needs_restart = %restart.join(", "), "configuration reloaded; these changes take effect after a restart");
    }
    notify(&[sd_notify::NotifyState::Ready]);
    new
}

fn monotonic() -> sd_notify::NotifyState<'static> {
    sd_notify::NotifyState::monotonic_usec_now().unwrap_or(sd_notify::NotifyState::Status("reloading"))
}

/// Gives every domain without one a signing secret: domains created before signing existed
/// (schema version 1) are migrated on the first start of a version that signs.
async fn ensure_signing_secrets(store: &Store, vault: &Vault, now: i64) -> anyhow::Result<()> {
    let mut n = 0;
    for d in store.all_domains()? {
        if d.signing.is_empty() {
            let key = crate::model::SigningKey {
                sealed: vault.seal_signing(d.id, now, &crate::delivery::signing::new_secret()),
                created_ms: now,
                expires_ms: None,
            };
            store.set_domain_signing(d.brand, d.id, vec![key]).await?;
            n += 1;
        }
    }
    if n > 0 {
        tracing::info!(domains = n, "created signing secrets for existing domains");
    }
    Ok(())
}

/// Periodic housekeeping: key last-use flush, queue-depth gauges and the retention sweep
/// ([`prune`]).
async fn maintenance(app: Arc<App>, idempotency_ttl_seconds: u64, retention_days: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(KEY_USAGE_FLUSH_SECONDS));
    let mut since_prune = u64::MAX / 2;
    loop {
        tick.tick().await;
        let usage = app.take_key_usage();
        if !usage.is_empty()
            && let Err(e) = app.store.touch_keys(usage).await
        {
            tracing::warn!(error = %e, "could not record API key usage");
        }
        app.metrics.set_queue_depths(app.delivery.queue_depths());
        app.metrics.set_deferred(app.delivery.deferred_len());
        let _ = tokio::task::spawn_blocking(release_free_heap).await;
        since_prune += KEY_USAGE_FLUSH_SECONDS;
        if since_prune >= PRUNE_SECONDS {
            since_prune = 0;
            prune(
                &app.store,
                app.clock.now_ms(),
                idempotency_ttl_seconds,
                retention_days,
                app.live().events.retention_days,
            )
            .await;
        }
    }
}

/// Hands the allocator's free heap pages back to the OS (glibc `malloc_trim(0)`, which also
/// releases whole free pages inside the heap). glibc keeps freed small blocks for reuse, so
/// the burst of 4 KiB page buffers the store frees after a crash repair or a sweep over a large
/// table would otherwise stay resident for the life of the process: measured on a 1.5 GiB store
/// after a `kill -9`, RSS 273 MiB after start-up without it, 145 MiB with it (as after a clean
/// start). Runs every maintenance tick (30 s) off the async workers; takes a few ms. The
/// binary's global allocator is mimalloc (src/main.rs), which returns its own free pages; this
/// covers what C code and the library's tests allocate through glibc.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and works on glibc's own heap under its own locks;
    // it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One retention sweep: executions past `retention_days` (0 = kept forever) with their runs
/// and plans, then runs and plans left without their execution or run, then idempotency
/// records past their TTL. Each pass works in small batches ([`crate::store::PRUNE_BATCH_MAX`]
/// records per store write), so API writes and fires interleave with it; a failed pass is
/// logged and retried at the next sweep.
async fn prune(store: &Store, now: i64, idempotency_ttl_seconds: u64, retention_days: u32, event_retention_days: u32) {
    let log = |what: &str, r: Result<crate::store::PruneCounts, StoreError>| match r {
        Ok(c) if c.removed() > 0 => tracing::info!(
            executions = c.executions,
            runs = c.runs,
            plans = c.plans,
            idempotency_records = c.idempotency,
            events = c.events,
            dedup_entries = c.dedup,
            batches = c.batches,
            longest_batch_ms = c.longest_batch_ms,
            "pruned {what}"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not prune {what}; retrying at the next sweep"),
    };
    if retention_days > 0 {
        let before = now - i64::from(retention_days) * 86_400_000;
        log("executions past retention", store.prune_executions(before).await);
        log("runs without an execution", store.prune_runs().await);
        log("approval plans without a run", store.prune_plans(before).await);
    }
    let before = now - i64::try_from(idempotency_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    log("expired idempotency records", store.prune_idempotent(before).await);
    if event_retention_days > 0 {
        let before = now - i64::from(event_retention_days) * 86_400_000;
        log("events past retention", store.prune_events(before).await);
    }
    log("expired dedup entries", store.prune_dedup(now).await);
}

/// The running delivery engine's load, for `hookwheel status`.
struct EngineLoad(Arc<Engine>);

impl admin::views::EngineView for EngineLoad {
    fn queue_depths(&self) -> Vec<(crate::model::DomainId, usize)> {
        self.0.queue_depths()
    }
    fn in_flight(&self) -> usize {
        self.0.live_tasks()
    }
    fn deferred(&self) -> usize {
        self.0.deferred_len()
    }
}

/// Logs one INFO line per interval (`log.summary_interval_seconds`) summing it up: fires,
/// executions succeeded and failed, and the p99 of their lateness in ms (see
/// [`crate::activity::Window`]). An interval in which nothing happened logs nothing.
async fn summary(metrics: Metrics, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: the first interval starts now.
    tick.tick().await;
    loop {
        tick.tick().await;
        let w = metrics.activity().take_window();
        if w.is_idle() {
            continue;
        }
        let p99 = w.lateness_p99_ms.map_or_else(|| "-".to_string(), |ms| ms.to_string());
        tracing::info!(
            interval_seconds = every.as_secs(),
            fires = w.fires,
            succeeded = w.succeeded,
            failed = w.failed,
            lateness_p99_ms = %p99,
            "summary"
        );
    }
}

/// Pings the systemd watchdog at half its interval, but only while the store answers.
async fn watchdog(app: Arc<App>, interval: Duration) {
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tick.tick().await;
        if app.store.is_healthy() {
            notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!("store unhealthy: withholding the watchdog ping");
        }
    }
}
