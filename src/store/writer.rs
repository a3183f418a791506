//! The single writer: a dedicated thread that owns every redb write transaction.
//!
//! Callers enqueue operations on a bounded channel (they wait when it is full). The thread takes
//! the first queued operation, drains up to `commit_batch_max - 1` more without waiting (and,
//! when at least `commit_siblings` were queued, waits `commit_delay` and drains again), runs
//! them all in one write transaction and commits once (`Durability::Immediate`: durable when
//! `commit` returns). Only then does each caller get its result. A write transaction is never
//! held across an `.await`, because it lives on this thread alone.
//!
//! Faults never end the thread:
//! - an operation that returns an error or panics has its writes undone ([`super::undo`]) and
//!   gets its error; the rest of the batch commits;
//! - the list counters the batch's operations changed are written once, after the last one
//!   (`ops::index::batch_counts`); a failure there fails the whole batch, as a failed commit;
//! - an I/O error (disk full, EIO) fails the whole batch with [`StoreError::Unavailable`] and
//!   marks the store not writable ([`Health`]). redb refuses every later operation on that
//!   handle ("previous I/O error"), so the thread reopens the database file, at most once per
//!   [`RECOVERY_INTERVAL`], and probes with a small write until a commit succeeds again. While
//!   not writable, writes fail fast with `Unavailable` between probes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redb::{Database, TableHandle, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::health::Health;
#[cfg(feature = "failpoints")]
use super::injected_fault;
use super::ops::index::batch_counts;
use super::tables::{DOMAINS, SOURCE_TOKENS, SOURCES, SUBSCRIPTIONS, TEMPLATES};
use super::{DbSlot, StoreError, WriterSettings, failpoint, undo};
use crate::metrics::Metrics;
use crate::time::Stopwatch;

/// The tables whose records are kept in memory between writes, keyed on
/// [`super::Store::catalog_generation`]: what a delivery attempt resolves (templates, domains)
/// and what an ingest request resolves (sources by token, a brand's subscriptions). They change
/// rarely; no per-fire or per-event write touches them.
pub const CATALOG: [super::tables::Bytes; 5] = [TEMPLATES, DOMAINS, SOURCES, SOURCE_TOKENS, SUBSCRIPTIONS];

/// How often a store that cannot write tries to recover (reopen the file, commit a probe).
/// Writes that arrive in between fail at once instead of waiting for the disk. Unit tests use
/// a short interval: the simulation test (`scheduler::sim`) injects many store outages and
/// would otherwise spend a real second on each.
pub const RECOVERY_INTERVAL: Duration = Duration::from_millis(if cfg!(test) { 50 } else { 1000 });

/// While the last fault was a full disk, a recovery probe is only tried once the file system
/// has at least this much free space: a probe on a full disk fails, and every failure makes
/// redb refuse the handle (reads included) until the file is reopened.
const PROBE_FREE_BYTES_MIN: u64 = 4 * 1024 * 1024;

/// How long a reopen waits for readers to let go of the old database handle.
const REOPEN_WAIT: Duration = Duration::from_secs(5);

/// Runs an operation inside the batch's transaction (or, with `Err`, reports why it could not
/// run) and returns its outcome plus the continuation that delivers its result once the
/// commit outcome is known.
type Job = Box<dyn FnOnce(Result<&WriteTransaction, StoreError>) -> Ran + Send>;
type Completion = Box<dyn FnOnce(&Result<(), StoreError>) + Send>;

struct Ran {
    /// The operation's own error, if it failed (its writes must then be undone).
    error: Option<StoreError>,
    complete: Completion,
}

enum Msg {
    Job(Job),
    Stop(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    /// Writes queued or being committed (unit tests: the simulation test waits for them).
    #[cfg(all(test, feature = "failpoints"))]
    pub(super) gauge: Arc<super::WriteGauge>,
}

impl Writer {
    pub fn start(
        slot: Arc<DbSlot>,
        health: Arc<Health>,
        settings: WriterSettings,
        metrics: Metrics,
        catalog: Arc<AtomicU64>,
        #[cfg(feature = "failpoints")] faults: Arc<std::sync::atomic::AtomicBool>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(settings.write_queue_capacity.max(1));
        let batch_max = settings.commit_batch_max.max(1);
        let thread = Thread {
            slot,
            health,
            metrics,
            batch_max,
            commit_delay: settings.commit_delay,
            commit_siblings: settings.commit_siblings.max(1),
            last_recovery: None,
            catalog,
            #[cfg(feature = "failpoints")]
            faults,
        };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || thread.run(rx))
            .expect("spawn the store writer thread");
        Writer {
            tx,
            #[cfg(all(test, feature = "failpoints"))]
            gauge: Arc::default(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        #[cfg(all(test, feature = "failpoints"))]
        let busy = self.gauge.enter();
        let job: Job = Box::new(move |w| {
            failpoint!("store::op");
            let result = w.and_then(op);
            let error = result.as_ref().err().cloned();
            Ran {
                error,
                complete: Box::new(move |commit: &Result<(), StoreError>| {
                    let out = match (commit, result) {
                        (Ok(()), r) => r,
                        // The operation failed on its own (its writes were undone): its error.
                        (Err(_), Err(e)) => Err(e),
                        (Err(e), Ok(_)) => Err(e.clone()),
                    };
                    let _ = reply.send(out);
                    #[cfg(all(test, feature = "failpoints"))]
                    drop(busy);
                }),
            }
        });
        self.tx.send(Msg::Job(job)).await.map_err(|_| StoreError::Closed)?;
        // A dropped reply without an answer: the operation panicked (the writer logged it and
        // undid its writes).
        answer.await.map_err(|_| StoreError::Panicked)?
    }

    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

struct Thread {
    slot: Arc<DbSlot>,
    health: Arc<Health>,
    metrics: Metrics,
    batch_max: usize,
    /// `store.commit_delay_us`: how long a busy batch waits for more operations.
    commit_delay: Duration,
    /// `store.commit_siblings`: the batch size (drained without waiting) that counts as busy.
    commit_siblings: usize,
    /// When the last recovery attempt started (while not writable).
    last_recovery: Option<Stopwatch>,
    /// [`super::Store::catalog_generation`]: bumped after a batch that wrote a [`CATALOG`]
    /// table, before its callers hear back.
    catalog: Arc<AtomicU64>,
    #[cfg(feature = "failpoints")]
    faults: Arc<std::sync::atomic::AtomicBool>,
}

impl Thread {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        // A small runtime of its own, only to wait on the queue with a timeout while the store
        // recovers (the thread is not inside the daemon's runtime).
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().ok();
        let stop = loop {
            match catch_unwind(AssertUnwindSafe(|| self.serve(&mut rx, rt.as_ref()))) {
                Ok(stop) => break stop,
                Err(panic) => {
                    // Not an operation's panic (those are caught per operation): the batch
                    // logic itself. Keep serving; the callers of the lost batch got an error.
                    self.metrics.observe_store_fault("panic");
                    tracing::error!(panic = panic_message(&*panic), "store writer panicked; it keeps serving");
                    // Never spin on a fault that repeats.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        // Release the database (and its file lock) before confirming the stop.
        *self.slot.db.write().unwrap_or_else(|e| e.into_inner()) = None;
        drop(rx);
        if let Some(s) = stop {
            let _ = s.send(());
        }
    }

    /// Serves batches until asked to stop (`Some`) or every sender is gone (`None`).
    fn serve(
        &mut self,
        rx: &mut mpsc::Receiver<Msg>,
        rt: Option<&tokio::runtime::Runtime>,
    ) -> Option<oneshot::Sender<()>> {
        loop {
            let first = if self.health.is_writable() {
                rx.blocking_recv()
            } else {
                // Not writable: wake up to probe even when no write arrives.
                match rt {
                    Some(rt) => match rt.block_on(async { tokio::time::timeout(RECOVERY_INTERVAL, rx.recv()).await }) {
                        Ok(m) => m,
                        Err(_) => {
                            self.try_recover();
                            continue;
                        }
                    },
                    None => rx.blocking_recv(),
                }
            };
            let first = first?;
            let mut jobs = Vec::new();
            let mut stop = None;
            match first {
                Msg::Job(j) => jobs.push(j),
                Msg::Stop(s) => stop = Some(s),
            }
            // Drain what is already queued, without waiting: this is the group in group commit.
            while jobs.len() < self.batch_max && stop.is_none() {
                match rx.try_recv() {
                    Ok(Msg::Job(j)) => jobs.push(j),
                    Ok(Msg::Stop(s)) => stop = Some(s),
                    Err(_) => break,
                }
            }
            // Under load (at least `commit_siblings` operations were already queued), wait
            // `commit_delay` for more before committing: fewer, larger commits cost less CPU per
            // operation (each commit copies the pages it touches and syncs). Alone, an operation
            // commits at once. The rule is PostgreSQL's `commit_delay` / `commit_siblings`.
            if stop.is_none()
                && jobs.len() >= self.commit_siblings
                && jobs.len() < self.batch_max
                && !self.commit_delay.is_zero()
            {
                std::thread::sleep(self.commit_delay);
                while jobs.len() < self.batch_max && stop.is_none() {
                    match rx.try_recv() {
                        Ok(Msg::Job(j)) => jobs.push(j),
                        Ok(Msg::Stop(s)) => stop = Some(s),
                        Err(_) => break,
                    }
                }
            }
            if !jobs.is_empty() {
                self.batch(jobs);
            }
            if stop.is_some() {
                return stop;
            }
        }
    }

    /// Runs one batch: every job in one transaction, one commit.
    fn batch(&mut self, jobs: Vec<Job>) {
        #[cfg(feature = "failpoints")]
        super::faults::set(self.faults.load(std::sync::atomic::Ordering::SeqCst));
        if !self.health.is_writable() && !self.try_recover() {
            let err = self.health.unavailable();
            fail_all(jobs, &err);
            return;
        }
        let db = match self.slot.get() {
            Ok(db) => db,
            Err(e) => return fail_all(jobs, &e),
        };
        let watch = Stopwatch::start();
        let batch = jobs.len();
        let w = match db.begin_write() {
            Ok(w) => w,
            Err(e) => {
                let e = StoreError::from_db(e);
                // This handle must be let go of before the file can be reopened.
                drop(db);
                self.fault("commit", &e);
                return fail_all(jobs, &e);
            }
        };
        let mut completions: Vec<Completion> = Vec::with_capacity(batch);
        let mut broken: Option<StoreError> = None;
        let mut catalog_written = false;
        let mut jobs = jobs.into_iter();
        let held = batch_counts::begin();
        for job in jobs.by_ref() {
            undo::begin();
            let ran = catch_unwind(AssertUnwindSafe(|| job(Ok(&w))));
            let writes = undo::take();
            catalog_written |= CATALOG.iter().any(|t| writes.touches(&[t.name()]));
            batch_counts::operation_ended(matches!(ran, Ok(Ran { error: None, .. })));
            let failed = match ran {
                Ok(Ran { error: None, complete }) => {
                    completions.push(complete);
                    continue;
                }
                Ok(Ran { error: Some(e), complete }) => {
                    completions.push(complete);
                    e
                }
                Err(panic) => {
                    // The job (and its reply channel) is gone: its caller sees the panic as an
                    // error. Undo what it wrote and go on with the batch.
                    self.metrics.observe_store_fault("panic");
                    tracing::error!(
                        panic = panic_message(&*panic),
                        "a store operation panicked; its writes are undone"
                    );
                    StoreError::Panicked
                }
            };
            if failed.is_unavailable() {
                // An I/O fault: redb will not commit this transaction.
                broken = Some(failed);
                break;
            }
            if !writes.is_empty()
                && let Err(e) = writes.rollback(&w)
            {
                tracing::error!(error = %e, "could not undo a failed store operation; the batch is abandoned");
                broken = Some(e);
                break;
            }
        }
        // The batch's counter changes, once per key, before the commit.
        let counts = held.end();
        if broken.is_none()
            && let Err(e) = counts.apply_batch(&w)
        {
            broken = Some(e);
        }
        if let Some(e) = broken {
            drop(w);
            drop(db);
            let e =
                if e.is_unavailable() { e } else { StoreError::Unavailable { disk_full: false, cause: e.to_string() } };
            self.fault("write", &e);
            self.catalog_written(catalog_written);
            let outcome = Err(e.clone());
            completions.into_iter().for_each(|c| c(&outcome));
            fail_all(jobs.collect(), &e);
            return;
        }
        let outcome = commit(w);
        drop(db);
        match &outcome {
            Ok(()) => self.health.succeeded(),
            Err(e) => self.fault("commit", e),
        }
        self.metrics.observe_commit(watch.elapsed_secs(), batch);
        self.catalog_written(catalog_written);
        completions.into_iter().for_each(|c| c(&outcome));
    }

    /// Bumps the catalog generation after a batch that wrote a [`CATALOG`] table (whether it
    /// committed or not: a copy taken before it is then never used again).
    fn catalog_written(&self, written: bool) {
        if written {
            self.catalog.fetch_add(1, Ordering::Release);
        }
    }

    /// Records a fault. An I/O fault makes the store not writable and drops the database
    /// handle (redb refuses it from now on); the next recovery reopens the file.
    fn fault(&mut self, kind: &'static str, e: &StoreError) {
        self.metrics.observe_store_fault(kind);
        match e {
            StoreError::Unavailable { disk_full, cause } => {
                self.health.failed(*disk_full, cause);
                *self.slot.db.write().unwrap_or_else(|e| e.into_inner()) = None;
                self.last_recovery = Some(Stopwatch::start());
                // Reads need a handle redb accepts: reopen at once, not at the next probe.
                self.reopen_now();
            }
            other => tracing::error!(error = %other, kind, "store write failed"),
        }
    }

    /// While not writable: at most once per [`RECOVERY_INTERVAL`], reopens the database file if
    /// needed and commits a probe write. True when the store writes again.
    fn try_recover(&mut self) -> bool {
        if self.last_recovery.as_ref().is_some_and(|w| w.elapsed_secs() < RECOVERY_INTERVAL.as_secs_f64()) {
            return false;
        }
        self.last_recovery = Some(Stopwatch::start());
        if self.slot.db.read().unwrap_or_else(|e| e.into_inner()).is_none() && !self.reopen_now() {
            return false;
        }
        if self.health.snapshot().disk_full && self.free_bytes().is_some_and(|free| free < PROBE_FREE_BYTES_MIN) {
            return false;
        }
        let probe = (|| {
            let db = self.slot.get()?;
            let w = db.begin_write().map_err(StoreError::from_db)?;
            {
                let mut meta = w.open_table(super::tables::META).map_err(StoreError::from_db)?;
                meta.insert(super::tables::META_WRITE_PROBE, [1u8].as_slice()).map_err(StoreError::from_db)?;
            }
            commit(w)
        })();
        match probe {
            Ok(()) => {
                self.health.succeeded();
                true
            }
            Err(e) => {
                self.fault("commit", &e);
                false
            }
        }
    }

    /// Reopens the database file into the slot; false (logged) when it cannot yet.
    fn reopen_now(&mut self) -> bool {
        match self.reopen() {
            Ok(db) => {
                self.metrics.observe_store_fault("reopen");
                tracing::info!("store: database file reopened after an I/O error");
                *self.slot.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "store: cannot reopen the database file yet");
                false
            }
        }
    }

    /// Free bytes for an unprivileged writer on the store's file system (`None` if unknown).
    fn free_bytes(&self) -> Option<u64> {
        let dir = self.slot.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        rustix::fs::statvfs(dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// Opens the database file again, once every reader has let go of the old handle (redb
    /// holds a file lock per open handle).
    fn reopen(&self) -> Result<Database, StoreError> {
        let watch = Stopwatch::start();
        loop {
            match super::open_file(&self.slot.path, self.slot.cache_bytes) {
                Err(StoreError::Locked(_)) if watch.elapsed_secs() < REOPEN_WAIT.as_secs_f64() => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }
}

/// Commits (durably). The `store::commit` failpoint fails it instead.
fn commit(w: WriteTransaction) -> Result<(), StoreError> {
    // An injected failure drops (aborts) the transaction, as a failed commit does.
    failpoint!("store::commit", |arg| Err(injected_fault(arg)));
    w.commit().map_err(StoreError::from_db)
}

fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    let outcome = Err(e.clone());
    for j in jobs {
        // Not run: the job reports `e` and its completion sees the failed outcome.
        if let Ok(ran) = catch_unwind(AssertUnwindSafe(|| j(Err(e.clone())))) {
            (ran.complete)(&outcome);
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
