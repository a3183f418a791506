//! The store: the only module that imports redb.
//!
//! Everything else talks to it through domain-level operations (`create_domain`,
//! `list_templates`, ...) that take and return `model` types, so a second backend can offer the
//! same interface. Reads open a redb read transaction on the caller's thread (a snapshot, never
//! blocked by writes). Every write goes through one writer thread ([`writer`]) that folds all
//! queued operations into one durable commit (group commit). Write operations validate first and
//! write after, so an operation that fails writes nothing even when its batch commits.
//! On-disk layout, encodings and the crash analysis: docs/design.md.

mod codec;
mod error;
mod health;
#[cfg(all(test, feature = "failpoints"))]
mod inspect;
mod ops;
mod tables;
mod undo;
mod writer;

pub use error::StoreError;
pub use health::WriteHealth;
#[cfg(all(test, feature = "failpoints"))]
pub(crate) use inspect::Inspect;
pub use ops::alerts::{OUTBOX_BATCH_MAX, OutboxPass, SIGNAL_WAKE, channel_execution};
pub use ops::events::{DedupWrite, EVENTS_PAGE_SCAN_MAX, EventFilter, EventWrite, JobStep, Recorded, SEND_EVENT_SCOPE};
pub use ops::executions::ExecutionFilter;
pub use ops::idempotency::IdempotentReply;
pub use ops::keys::KeyRef;
pub use ops::monitors::{MonitorChange, PingTarget, PingWrite, new_ping};
pub use ops::pipelines::{PipelineChange, StageResult, StageWrite, dynamic_spec};
pub use ops::prune::{PRUNE_BATCH_MAX, PRUNE_SCAN_MAX, PruneCounts};
pub use ops::schedules::{ARMED_SLACK_MS, FireWrite};
pub use ops::secrets::{Resealed, SealedSecretRef};
pub use ops::workflows::RunWrite;
pub use ops::workflows::STANDALONE_WAITING_MAX;

/// The record codec, re-exported for the store's benchmarks (`benches/store.rs`): encode and
/// decode one record as the tables hold it. Not an interface of the store.
#[doc(hidden)]
pub use codec::{decode as decode_record, encode as encode_record};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::metrics::Metrics;
use health::Health;
use tables::{ALL_TABLES, META};

/// A fault-injection point, compiled only with the `failpoints` feature (tests): `$name` is
/// configured through the `fail` crate (`FAILPOINTS` env var or `fail::cfg`); the closure gets
/// the configured argument and returns the enclosing function's value.
/// Only stores whose fault injection is on (see `Store::inject_faults`) are affected, so unit
/// tests that run in parallel in one process do not see each other's faults.
macro_rules! failpoint {
    ($name:literal, $f:expr) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name, $crate::store::faults::in_scope(), $f);
    };
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        if $crate::store::faults::in_scope() {
            fail::fail_point!($name);
        }
    };
}
pub(crate) use failpoint;

/// Which thread's store operations the failpoints apply to: the writer thread and every
/// reading thread set this from their store's switch before each operation. On by default in
/// the daemon (test builds configure it with `FAILPOINTS`); off by default in unit tests.
#[cfg(feature = "failpoints")]
pub(crate) mod faults {
    use std::cell::Cell;

    thread_local! {
        static IN_SCOPE: Cell<bool> = const { Cell::new(!cfg!(test)) };
    }

    pub fn in_scope() -> bool {
        IN_SCOPE.with(Cell::get)
    }

    pub fn set(on: bool) {
        IN_SCOPE.with(|c| c.set(on));
    }
}

/// The error an injected store fault returns: `corrupt` → a corrupt-record error (a fault that
/// leaves the transaction usable); anything else → an I/O error "no space left on device".
#[cfg(feature = "failpoints")]
pub(crate) fn injected_fault(arg: Option<String>) -> StoreError {
    match arg.as_deref() {
        Some("corrupt") => StoreError::Corrupt { table: "injected", detail: "injected fault".into() },
        Some("eio") => StoreError::from_db(std::io::Error::other("injected I/O error")),
        _ => StoreError::from_db(std::io::Error::from(std::io::ErrorKind::StorageFull)),
    }
}

/// The schema version this binary writes. Bump it and add a step to [`migrate`] whenever a
/// table or a record encoding changes.
pub const SCHEMA_VERSION: u32 = 6;

/// Name of the store file inside the data directory.
pub const STORE_FILE: &str = "hookwheel.redb";

/// Tuning of the single writer. `Default` is what stores opened without a configuration
/// (tools, tests) use: batches of 64, no commit delay.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Most operations folded into one commit.
    pub commit_batch_max: usize,
    /// Capacity of the queue in front of the writer.
    pub write_queue_capacity: usize,
    /// Bytes of redb's page cache (`store.cache_mib`).
    pub cache_bytes: usize,
    /// `store.commit_delay_us`: how long a batch that found at least `commit_siblings`
    /// operations queued waits for more before it commits. Zero: never waits.
    pub commit_delay: std::time::Duration,
    /// `store.commit_siblings`: operations queued at once that make a batch wait.
    pub commit_siblings: usize,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 64,
            cache_bytes: CACHE_BYTES_DEFAULT,
            commit_delay: std::time::Duration::ZERO,
            commit_siblings: 4,
        }
    }
}

/// The page cache of stores opened without a configuration (tools, tests): 64 MiB.
pub const CACHE_BYTES_DEFAULT: usize = 64 * 1024 * 1024;

/// The open database, replaceable: after an I/O error redb refuses every further operation
/// ("previous I/O error") until the file is opened again, which the writer does while it
/// recovers. Readers take a clone of the current handle for the length of one read.
pub(crate) struct DbSlot {
    db: RwLock<Option<Arc<Database>>>,
    /// Set instead of `db` for a store opened with [`Store::open_read_only`].
    read_only: Option<Arc<redb::ReadOnlyDatabase>>,
    path: PathBuf,
    cache_bytes: usize,
}

impl DbSlot {
    /// The current database, or `Unavailable` while it is being reopened.
    fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.db.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| StoreError::Unavailable {
            disk_full: false,
            cause: "the store is being reopened after an I/O error".into(),
        })
    }
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (and its tables) when it does not exist: `serve` only.
    CreateIfMissing,
    /// The file must exist: admin commands, so a command run in the wrong directory never
    /// leaves an empty store behind.
    MustExist,
}

/// A handle to the open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    slot: Arc<DbSlot>,
    health: Arc<Health>,
    writer: writer::Writer,
    /// [`Store::catalog_generation`].
    catalog: Arc<std::sync::atomic::AtomicU64>,
    /// Outcome writes waiting to share one writer operation ([`Store::put_execution`]).
    outcomes: Arc<ops::executions::OutcomeQueue>,
    /// Whether failpoints apply to this store (test builds).
    #[cfg(feature = "failpoints")]
    faults: Arc<std::sync::atomic::AtomicBool>,
}

/// Counts the writes queued in the writer or being committed, and signals when one is handed
/// over (test builds). The simulation test (`scheduler::sim`) runs the daemon under tokio's
/// paused clock, which jumps to the next timer whenever the runtime has nothing to do — also
/// while every task waits for the writer thread. The simulation blocks the runtime while a
/// write is in flight, so that a commit takes no simulated time, as it takes almost none of the
/// real time schedules are measured in.
#[cfg(all(test, feature = "failpoints"))]
#[derive(Default)]
pub(crate) struct WriteGauge {
    in_flight: std::sync::Mutex<usize>,
    idle: std::sync::Condvar,
    started: tokio::sync::Notify,
}

#[cfg(all(test, feature = "failpoints"))]
impl WriteGauge {
    /// Writes in flight.
    pub fn in_flight(&self) -> usize {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks the calling thread until no write is in flight (or `max` has passed).
    pub fn wait_idle(&self, max: std::time::Duration) {
        let n = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.idle.wait_timeout_while(n, max, |n| *n > 0);
    }

    /// Waits until a write is handed over (at once if one was since the last wait).
    pub async fn started(&self) {
        self.started.notified().await;
    }

    pub(crate) fn enter(self: &Arc<Self>) -> WriteInFlight {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.started.notify_one();
        WriteInFlight(self.clone())
    }
}

/// One write in flight; counted down when dropped (answered, or dropped unanswered).
#[cfg(all(test, feature = "failpoints"))]
pub(crate) struct WriteInFlight(Arc<WriteGauge>);

#[cfg(all(test, feature = "failpoints"))]
impl Drop for WriteInFlight {
    fn drop(&mut self) {
        let mut n = self.0.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl Store {
    /// Opens (or creates) the store file, migrates it to [`SCHEMA_VERSION`] and starts the
    /// writer thread. Fails with [`StoreError::Locked`] when another process has it open.
    pub fn open(path: &Path, settings: WriterSettings, metrics: Metrics) -> Result<Store, StoreError> {
        Self::open_with(path, OpenMode::CreateIfMissing, settings, metrics)
    }

    /// [`Store::open`] with an explicit [`OpenMode`]; `MustExist` fails with
    /// [`StoreError::Missing`] when there is no store file at `path`.
    pub fn open_with(
        path: &Path,
        mode: OpenMode,
        settings: WriterSettings,
        metrics: Metrics,
    ) -> Result<Store, StoreError> {
        let db = Arc::new(match mode {
            OpenMode::CreateIfMissing => open_file(path, settings.cache_bytes)?,
            OpenMode::MustExist => open_existing_file(path, settings.cache_bytes)?,
        });
        migrate(&db)?;
        let slot = Arc::new(DbSlot {
            db: RwLock::new(Some(db)),
            read_only: None,
            path: path.to_path_buf(),
            cache_bytes: settings.cache_bytes,
        });
        // Failpoints act in the daemon's test builds, not in the store's own unit tests
        // (which turn them on where they want them).
        Ok(Self::assemble(slot, settings, metrics, !cfg!(test)))
    }

    /// The handle around an opened file: its health and its writer thread. `faults_on`: the
    /// failpoints act (test builds with the `failpoints` feature only).
    fn assemble(slot: Arc<DbSlot>, settings: WriterSettings, metrics: Metrics, faults_on: bool) -> Store {
        let health = Arc::new(Health::new(metrics.clone()));
        #[cfg(feature = "failpoints")]
        let faults = Arc::new(std::sync::atomic::AtomicBool::new(faults_on));
        #[cfg(not(feature = "failpoints"))]
        let _ = faults_on;
        let catalog = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = writer::Writer::start(
            slot.clone(),
            health.clone(),
            settings,
            metrics,
            catalog.clone(),
            #[cfg(feature = "failpoints")]
            faults.clone(),
        );
        Store {
            slot,
            health,
            writer,
            catalog,
            outcomes: Arc::default(),
            #[cfg(feature = "failpoints")]
            faults,
        }
    }

    /// A counter bumped after every batch of writes that wrote a template, domain, source or
    /// subscription record (the writer's `CATALOG`; committed or not), before the writers hear
    /// back. A copy of those records is current as long as this still returns the value read
    /// *before* the copy was read: the delivery engine's target cache and the ingest path's
    /// source and subscription caches key their entries on it.
    pub fn catalog_generation(&self) -> u64 {
        self.catalog.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Opens an existing store file for reading only (the CLI's views while the daemon is
    /// stopped): nothing is created, migrated or written, and any number of readers may have it
    /// open at once, but not while a daemon holds it ([`StoreError::Locked`]). Writes fail with
    /// [`StoreError::Invalid`]. A file that was not closed cleanly needs redb's repair, which
    /// only a writable open does: that is [`StoreError::NeedsRepair`].
    pub fn open_read_only(path: &Path, metrics: Metrics) -> Result<Store, StoreError> {
        let db = match redb::Builder::new().set_cache_size(CACHE_BYTES_DEFAULT).open_read_only(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::Locked(path.to_path_buf())),
            Err(redb::DatabaseError::RepairAborted) => return Err(StoreError::NeedsRepair(path.to_path_buf())),
            Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(StoreError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(StoreError::from_db(e)),
        };
        let found = {
            let r = db.begin_read().map_err(StoreError::from_db)?;
            let meta = r.open_table(META).map_err(StoreError::from_db)?;
            let v = meta.get(tables::META_SCHEMA_VERSION).map_err(StoreError::from_db)?;
            v.map(|v| codec::decode_u32(v.value())).transpose()?
        };
        if found != Some(SCHEMA_VERSION) {
            return Err(StoreError::Invalid(format!(
                "the store has schema version {}, this binary reads version {SCHEMA_VERSION}; \
                 start the daemon of the matching version once (it migrates the store)",
                found.map_or_else(|| "none".to_string(), |v| v.to_string())
            )));
        }
        let slot = Arc::new(DbSlot {
            db: RwLock::new(None),
            read_only: Some(Arc::new(db)),
            path: path.to_path_buf(),
            cache_bytes: CACHE_BYTES_DEFAULT,
        });
        // The writer refuses every job of a read-only store (see `Store::write`); it only
        // exists so that the handle has the one shape.
        let settings = WriterSettings {
            commit_batch_max: 1,
            write_queue_capacity: 1,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        };
        Ok(Self::assemble(slot, settings, metrics, false))
    }

    pub fn path(&self) -> &Path {
        &self.slot.path
    }

    /// Runs `op` inside the next group commit and returns its result once the commit is durable.
    /// An operation that fails (error or panic) has its writes undone; the others of its batch
    /// still commit.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.slot.read_only.is_some() {
            return Err(StoreError::Invalid("the store is open read-only".into()));
        }
        let r = self.writer.write(op).await;
        if r.is_ok() {
            ops::alerts::after_commit();
        }
        r
    }

    /// Runs `f` against a consistent snapshot.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>) -> Result<T, StoreError> {
        #[cfg(feature = "failpoints")]
        faults::set(self.faults.load(std::sync::atomic::Ordering::SeqCst));
        failpoint!("store::read", |arg| Err(injected_fault(arg)));
        let r = match &self.slot.read_only {
            Some(db) => db.begin_read().map_err(StoreError::from_db)?,
            None => self.slot.get()?.begin_read().map_err(StoreError::from_db)?,
        };
        f(&r)
    }

    /// True when the store answers reads and accepts writes (for `/readyz` and the watchdog).
    pub fn is_healthy(&self) -> bool {
        self.write_health().writable
            && !self.writer.is_closed()
            && self.read(|r| Ok(r.open_table(META).is_ok())).unwrap_or(false)
    }

    /// Whether writes currently succeed, and the last write fault if not.
    pub fn write_health(&self) -> WriteHealth {
        self.health.snapshot()
    }

    /// Waits for queued writes to commit, then stops the writer thread.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
    }

    /// Writes a consistent copy of the whole store (one read snapshot) to `out`, a new file
    /// created with mode 0600 whatever the umask (it holds sealed secrets and key hashes); an
    /// existing file is refused, never overwritten. A copy that fails is removed.
    pub fn backup_to(&self, out: &Path) -> Result<u64, StoreError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(out).map_err(|e| {
                match e.kind() {
                    std::io::ErrorKind::AlreadyExists => {
                        StoreError::Invalid(format!("{} already exists", out.display()))
                    }
                    _ => StoreError::Invalid(format!("cannot create {}: {e}", out.display())),
                }
            })?;
        let copied = file
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::Invalid(format!("cannot set mode 0600 on {}: {e}", out.display())))
            .and_then(|()| self.copy_into(file));
        if copied.is_err() {
            let _ = std::fs::remove_file(out);
        }
        copied
    }

    /// Copies every table from one read snapshot into a new database in `file`.
    fn copy_into(&self, file: std::fs::File) -> Result<u64, StoreError> {
        let db = self.slot.get()?;
        let snapshot = db.begin_read().map_err(StoreError::from_db)?;
        let copy = Database::builder()
            .create_with_backend(redb::backends::FileBackend::new(file).map_err(StoreError::from_db)?)
            .map_err(StoreError::from_db)?;
        let w = copy.begin_write().map_err(StoreError::from_db)?;
        let mut rows = 0u64;
        for def in ALL_TABLES {
            let src = match snapshot.open_table(*def) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(StoreError::from_db(e)),
            };
            let mut dst = w.open_table(*def).map_err(StoreError::from_db)?;
            for entry in redb::ReadableTable::range::<&[u8]>(&src, ..).map_err(StoreError::from_db)? {
                let (k, v) = entry.map_err(StoreError::from_db)?;
                dst.insert(k.value(), v.value()).map_err(StoreError::from_db)?;
                rows += 1;
            }
        }
        w.commit().map_err(StoreError::from_db)?;
        Ok(rows)
    }

    /// Turns fault injection on or off for this store (test builds).
    #[cfg(feature = "failpoints")]
    pub fn inject_faults(&self, on: bool) {
        self.faults.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The writes in flight (test builds; see [`WriteGauge`]).
    #[cfg(all(test, feature = "failpoints"))]
    pub(crate) fn write_gauge(&self) -> Arc<WriteGauge> {
        self.writer.gauge.clone()
    }

    /// Every row of every table, in order (tests compare the whole store before and after an
    /// operation that must write nothing).
    #[cfg(feature = "failpoints")]
    pub fn dump(&self) -> Result<Vec<DumpRow>, StoreError> {
        self.read(|r| {
            let mut rows = Vec::new();
            for def in ALL_TABLES {
                let t = r.open_table(*def).map_err(StoreError::from_db)?;
                for entry in redb::ReadableTable::range::<&[u8]>(&t, ..).map_err(StoreError::from_db)? {
                    let (k, v) = entry.map_err(StoreError::from_db)?;
                    rows.push((redb::TableHandle::name(def), k.value().to_vec(), v.value().to_vec()));
                }
            }
            Ok(rows)
        })
    }
}

/// One row of [`Store::dump`]: table, key, value.
#[cfg(feature = "failpoints")]
pub type DumpRow = (&'static str, Vec<u8>, Vec<u8>);

/// Opens (creating if needed) the database file with a page cache of `cache_bytes`. A new file
/// is created with mode 0600 whatever the umask (redb itself would create it 0666 minus the
/// umask): it holds sealed secrets and key hashes.
fn open_file(path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path) {
        Ok(f) => f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(StoreError::from_db)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::from_db(e)),
    }
    match Database::builder().set_cache_size(cache_bytes).create(path) {
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StoreError::Locked(path.to_path_buf())),
        Err(e) => Err(StoreError::from_db(e)),
    }
}

/// Opens the database file only if it exists ([`StoreError::Missing`] otherwise): nothing is
/// created, not even an empty file.
fn open_existing_file(path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
    match Database::builder().set_cache_size(cache_bytes).open(path) {
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StoreError::Locked(path.to_path_buf())),
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(StoreError::Missing(path.to_path_buf()))
        }
        Err(e) => Err(StoreError::from_db(e)),
    }
}

/// Brings a store file to [`SCHEMA_VERSION`]: creates the tables of a new file and records the
/// version; refuses a file written by a newer binary. Each version adds one step from the one
/// before, run inside the same transaction as the version bump (a crash leaves the old version
/// whole):
/// - 1 → 2: the list indexes and counters (`ops::index`) are built from the records;
/// - 2 → 3: the `pending_executions` table is deleted (unfinished executions are read from
///   `exec_by_status`);
/// - 3 → 4: nothing is rewritten. Schedule records written from now on are in record format 2
///   (`codec`: a header with version and status before the JSON), which a schema 3 binary
///   cannot read, so the version bump makes it refuse the file instead; format 1 records
///   stay readable and are replaced at their next write;
/// - 4 → 5: nothing is rewritten either. Every record written from now on is in record format
///   3 (`codec`: MessagePack instead of JSON), which a schema 4 binary cannot read; format 1
///   and 2 records stay readable and are replaced at their next write;
/// - 5 → 6: the rows of `executions_by_schedule` move into the schedule table, after their
///   schedule's record, keyed by the flipped execution id (`ops::index::schedule_row_key`),
///   and that table is deleted; `schedule_ids` is filled from the schedule records (the
///   unfiltered schedule list pages through it). A schema 5 binary would read the rows as
///   schedule records, so it refuses the file.
fn migrate(db: &Database) -> Result<(), StoreError> {
    let w = db.begin_write().map_err(StoreError::from_db)?;
    let found = {
        let mut meta = w.open_table(META).map_err(StoreError::from_db)?;
        let found = meta
            .get(tables::META_SCHEMA_VERSION)
            .map_err(StoreError::from_db)?
            .map(|v| codec::decode_u32(v.value()))
            .transpose()?;
        if found.is_none() {
            meta.insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION.to_le_bytes().as_slice())
                .map_err(StoreError::from_db)?;
        }
        found
    };
    match found {
        None => {}
        Some(v) if v == SCHEMA_VERSION => {}
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::Invalid(format!(
                "the store has schema version {v}, newer than this binary supports ({SCHEMA_VERSION}); \
                 upgrade hookwheel or restore a backup"
            )));
        }
        Some(from @ (1..=5)) => {
            for def in ALL_TABLES {
                w.open_table(*def).map_err(StoreError::from_db)?;
            }
            let clock = crate::time::Stopwatch::start();
            // 1 → 2 builds the indexes in the newest layout (the by-schedule rows straight into
            // the schedule table), so 5 → 6 has nothing left to move.
            let records = if from == 1 { ops::index::build_all(&w)? } else { move_schedule_rows(&w)? };
            // 2 → 3: unfinished executions are found through `exec_by_status`; the table that
            // repeated them (in schema 1 and 2 files) goes.
            if from < 3 {
                w.delete_table(tables::PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
            }
            // 5 → 6: the by-schedule rows live in the schedule table now.
            w.delete_table(tables::EXECUTIONS_BY_SCHEDULE).map_err(StoreError::from_db)?;
            let mut meta = w.open_table(META).map_err(StoreError::from_db)?;
            meta.insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION.to_le_bytes().as_slice())
                .map_err(StoreError::from_db)?;
            tracing::info!(
                records,
                seconds = clock.elapsed_secs(),
                "store migrated from schema version {from} to {SCHEMA_VERSION}"
            );
        }
        Some(v) => {
            return Err(StoreError::Invalid(format!("no migration from schema version {v}")));
        }
    }
    for def in ALL_TABLES {
        w.open_table(*def).map_err(StoreError::from_db)?;
    }
    w.commit().map_err(StoreError::from_db)?;
    Ok(())
}

/// The 5 → 6 step of [`migrate`]: fills `schedule_ids` from the schedule records, then moves
/// every `executions_by_schedule` row (brand ‖ schedule ‖ execution id → scheduled instant)
/// into the schedule table at `ops::index::schedule_row_key`. Returns how many rows it wrote.
fn move_schedule_rows(w: &redb::WriteTransaction) -> Result<u64, StoreError> {
    let mut n = 0u64;
    {
        let schedules = w.open_table(tables::SCHEDULES).map_err(StoreError::from_db)?;
        let mut ids = w.open_table(tables::SCHEDULE_IDS).map_err(StoreError::from_db)?;
        ops::schedules::scan_records(&schedules, &[], |k, _| {
            ids.insert(k, [].as_slice()).map_err(StoreError::from_db)?;
            n += 1;
            Ok(true)
        })?;
    }
    let old = w.open_table(tables::EXECUTIONS_BY_SCHEDULE).map_err(StoreError::from_db)?;
    let mut schedules = w.open_table(tables::SCHEDULES).map_err(StoreError::from_db)?;
    for entry in redb::ReadableTable::range::<&[u8]>(&old, ..).map_err(StoreError::from_db)? {
        let (k, v) = entry.map_err(StoreError::from_db)?;
        let k = k.value();
        if k.len() != ops::index::SCHEDULE_KEY_LEN + 16 {
            return Err(StoreError::Corrupt {
                table: "executions_by_schedule",
                detail: "a row's key is not brand ‖ schedule ‖ execution id".into(),
            });
        }
        let row = ops::index::schedule_row_key(&k[..16], &k[16..32], &k[32..]);
        schedules.insert(row.as_slice(), v.value()).map_err(StoreError::from_db)?;
        n += 1;
    }
    Ok(n)
}

/// One fault-injecting test at a time: failpoints are process-wide (the `fail` crate), so the
/// store's fault tests and the simulation test (`scheduler::sim`) hold this while they
/// configure them.
#[cfg(all(test, feature = "failpoints"))]
pub(crate) static FAULT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[cfg(all(test, feature = "failpoints"))]
mod fault_tests;
#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod prune_tests;

#[cfg(test)]
mod read_only_tests {
    use super::*;
    use crate::model::{Brand, BrandId};

    fn settings() -> WriterSettings {
        WriterSettings {
            commit_batch_max: 8,
            write_queue_capacity: 8,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_read_only_store_reads_refuses_writes_and_never_opens_beside_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        assert!(matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Missing(_))));
        assert!(!path.exists(), "a read-only open created the file");
        let store = Store::open(&path, settings(), Metrics::new()).unwrap();
        let brand = Brand { id: BrandId::new(), name: "b".into(), timezone: "UTC".into(), created_ms: 1 };
        store.create_brand(brand.clone()).await.unwrap();
        assert!(matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Locked(_))));
        store.shutdown().await;
        let before = std::fs::read(&path).unwrap();

        let ro = Store::open_read_only(&path, Metrics::new()).unwrap();
        let second = Store::open_read_only(&path, Metrics::new()).expect("readers share the file");
        assert_eq!(ro.list_brands().unwrap(), vec![brand.clone()]);
        assert_eq!(second.get_brand(brand.id).unwrap(), Some(brand));
        let other = Brand { id: BrandId::new(), name: "c".into(), timezone: "UTC".into(), created_ms: 2 };
        assert!(matches!(ro.create_brand(other).await, Err(StoreError::Invalid(_))));
        ro.shutdown().await;
        second.shutdown().await;
        assert_eq!(std::fs::read(&path).unwrap(), before, "a read-only store changed the file");
    }
}

#[cfg(test)]
mod commit_delay_tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Brand, BrandId};

    fn commits(m: &Metrics) -> u64 {
        m.render()
            .lines()
            .find_map(|l| l.strip_prefix("hookwheel_store_commits_total "))
            .and_then(|n| n.parse().ok())
            .expect("the commit counter")
    }

    fn brand(n: i64) -> Brand {
        Brand { id: BrandId::new(), name: format!("b{n}"), timezone: "UTC".into(), created_ms: n }
    }

    fn open(dir: &tempfile::TempDir, delay: Duration, siblings: usize, m: &Metrics) -> Store {
        let s = WriterSettings { commit_delay: delay, commit_siblings: siblings, ..Default::default() };
        Store::open(&dir.path().join(STORE_FILE), s, m.clone()).unwrap()
    }

    #[tokio::test]
    async fn a_busy_batch_waits_for_writes_that_arrive_during_its_delay() {
        let dir = tempfile::tempdir().unwrap();
        let m = Metrics::new();
        // Every batch counts as busy (one sibling) and waits a long time, so a write sent shortly
        // after the first one joins its commit even on a slow machine.
        let store = open(&dir, Duration::from_secs(3), 1, &m);
        let before = commits(&m);
        let first = tokio::spawn({
            let s = store.clone();
            async move { s.create_brand(brand(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        store.create_brand(brand(2)).await.unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(commits(&m) - before, 1, "both writes in one commit");
        assert_eq!(store.list_brands().unwrap().len(), 2);
        store.shutdown().await;
    }

    #[tokio::test]
    async fn a_write_alone_commits_without_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let m = Metrics::new();
        // A batch waits only once 2 writes are queued; a lone write must not wait the hour.
        let store = open(&dir, Duration::from_secs(3600), 2, &m);
        let before = commits(&m);
        for n in 0..3 {
            tokio::time::timeout(Duration::from_secs(60), store.create_brand(brand(n)))
                .await
                .expect("a lone write waited for the commit delay")
                .unwrap();
        }
        assert_eq!(commits(&m) - before, 3);
        store.shutdown().await;
    }
}

#[cfg(test)]
mod catalog_generation_tests {
    use super::*;
    use crate::model::{Brand, BrandId};

    fn put(w: &redb::WriteTransaction, table: tables::Bytes) -> Result<(), StoreError> {
        let mut t = w.open_table(table).map_err(StoreError::from_db)?;
        ops::put_raw(&mut t, b"k", b"v")
    }

    /// The delivery engine keeps templates and domains, the ingest path sources and
    /// subscriptions, while this is unchanged: it must move with every write of one of them,
    /// before the writer hears back, and only with those.
    #[tokio::test]
    async fn the_catalog_generation_moves_with_catalog_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(STORE_FILE), WriterSettings::default(), Metrics::new()).unwrap();
        let g = store.catalog_generation();
        store
            .create_brand(Brand { id: BrandId::new(), name: "b".into(), timezone: "UTC".into(), created_ms: 1 })
            .await
            .unwrap();
        assert_eq!(store.catalog_generation(), g, "a brand is not a template or a domain");
        store.write(|w| put(w, tables::TEMPLATES)).await.unwrap();
        assert_eq!(store.catalog_generation(), g + 1, "seen as soon as the write is acknowledged");
        store.write(|w| put(w, tables::DOMAINS)).await.unwrap();
        assert_eq!(store.catalog_generation(), g + 2);
        // A refused operation's writes are undone; a copy read meanwhile is dropped anyway.
        let refused = store.write(|w| {
            put(w, tables::DOMAINS)?;
            Err::<(), _>(StoreError::Invalid("refused".into()))
        });
        assert!(refused.await.is_err());
        assert_eq!(store.catalog_generation(), g + 3);
        // The ingest path keeps sources (by token) and subscriptions the same way.
        for (i, table) in [tables::SOURCES, tables::SOURCE_TOKENS, tables::SUBSCRIPTIONS].into_iter().enumerate() {
            store.write(move |w| put(w, table)).await.unwrap();
            assert_eq!(store.catalog_generation(), g + 4 + i as u64, "{}", redb::TableHandle::name(&table));
        }
        store.write(|w| put(w, tables::EXECUTIONS)).await.unwrap();
        assert_eq!(store.catalog_generation(), g + 6, "an execution is not part of the catalog");
        store.shutdown().await;
    }
}
