//! Retention: pruning finished executions (with their runs and approval plans), orphaned runs
//! and plans, and expired idempotency records, in small batches.
//!
//! A pass never holds the writer for long: it reads candidates from a snapshot (outside the
//! writer, from a key cursor, at most [`PRUNE_SCAN_MAX`] records per read), then removes at
//! most [`PRUNE_BATCH_MAX`] of them in one store write that checks each candidate again, so
//! other writes run between batches and a record that changed since the read is left alone.
//! Each batch is one operation of the writer: it removes all of its records or, on failure,
//! none. Entry points: [`Store::prune_executions`], [`Store::prune_runs`],
//! [`Store::prune_plans`], [`Store::prune_idempotent`], [`Store::prune_events`],
//! [`Store::prune_dedup`].

use std::ops::Bound;

use redb::WriteTransaction;
use serde::Deserialize;

use super::idempotency::IdempotentReply;
use super::index::{self, ExecTables};
use super::{get, get_raw, remove};
use crate::model::{ApprovalPlan, ExecutionStatus, Run, RunStatus};
#[cfg(feature = "failpoints")]
use crate::store::injected_fault;
use crate::store::tables::{EVENT_DEDUP, EVENTS, EXEC_EXPIRY, EXECUTIONS, IDEMPOTENCY, PLANS, RUNS, key};
use crate::store::{Store, StoreError, failpoint};
use crate::time::{Millis, Stopwatch};

/// Most records one prune batch removes (executions, runs, plans or idempotency records; an
/// execution's index rows, counters, run and plans go with it). product.md §9: pruning never
/// stalls a fire commit by more than 2 ms. Measured on 100,000 finished executions in a release
/// build (`cargo bench --bench load -- prune`, another write committing every ms meanwhile):
/// with schema 2's index rows a batch of 128 held the writer up to 4.56 ms, a batch of 32 at
/// most 1.37 ms (3,125 batches, 5.7 s for the pass; the other writes' p99 3.2 ms).
pub const PRUNE_BATCH_MAX: usize = 32;

/// Most records one candidate read examines, so that a read snapshot stays short even when
/// few records are due for removal.
pub const PRUNE_SCAN_MAX: usize = 10_000;

/// What one prune pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PruneCounts {
    /// Execution records removed (each with its index rows).
    pub executions: u64,
    /// Workflow run records removed.
    pub runs: u64,
    /// Approval plans removed.
    pub plans: u64,
    /// Idempotency records removed.
    pub idempotency: u64,
    /// Event records removed.
    pub events: u64,
    /// Expired dedup entries removed.
    pub dedup: u64,
    /// Store writes the pass made (batches that removed something or found their candidates
    /// changed).
    pub batches: u64,
    /// The longest time one batch ran inside the writer's transaction, in milliseconds
    /// (excluding the commit, which other operations of the group share).
    pub longest_batch_ms: f64,
}

impl PruneCounts {
    fn add(&mut self, b: &PruneCounts) {
        self.executions += b.executions;
        self.runs += b.runs;
        self.plans += b.plans;
        self.idempotency += b.idempotency;
        self.events += b.events;
        self.dedup += b.dedup;
        self.batches += b.batches;
        self.longest_batch_ms = self.longest_batch_ms.max(b.longest_batch_ms);
    }

    /// Records removed, all kinds together.
    pub fn removed(&self) -> u64 {
        self.executions + self.runs + self.plans + self.idempotency + self.events + self.dedup
    }
}

/// Which table a pass sweeps and its rule.
#[derive(Debug, Clone, Copy)]
enum Sweep {
    /// Finished executions that finished before the instant.
    Executions { before: Millis },
    /// Finished runs whose execution no longer exists.
    Runs,
    /// Plans whose run no longer exists, and standalone approval requests decided before
    /// `before`.
    Plans { before: Millis },
    /// Idempotency records created before the instant.
    Idempotency { before: Millis },
    /// Events received before the instant (accepted, rejected and duplicate).
    Events { before: Millis },
    /// Dedup entries that expired before the instant.
    Dedup { before: Millis },
}

/// The fields of an execution record a batch needs to remove it and its index rows.
#[derive(Deserialize)]
struct ExecutionRef {
    id: crate::model::ExecutionId,
    brand: crate::model::BrandId,
    status: ExecutionStatus,
    finished_ms: Option<Millis>,
    #[serde(default)]
    step: Option<crate::model::StepRef>,
}

#[derive(Deserialize)]
struct RunEnd {
    status: RunStatus,
}

#[derive(Deserialize)]
struct PlanOwner {
    brand: crate::model::BrandId,
    run: crate::model::ExecutionId,
    /// Present on a standalone approval request, which has no run and is never an orphan.
    #[serde(default)]
    standalone: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    decided_at: Option<Millis>,
}

/// A standalone approval request decided before `before` is past retention (one still waiting
/// always stays).
fn standalone_expired(decided_at: Option<Millis>, before: Millis) -> bool {
    decided_at.is_some_and(|d| d < before)
}

#[derive(Deserialize)]
struct Created {
    created_ms: Millis,
}

#[derive(Deserialize)]
struct Received {
    received_ms: Millis,
}

/// The expiry of a dedup entry (first event id (16) + expiry (i64 LE)).
fn dedup_expiry(v: &[u8]) -> Millis {
    v.get(16..24).and_then(|b| b.try_into().ok()).map_or(Millis::MIN, i64::from_le_bytes)
}

/// Candidates found by one read, and where the next read starts (`None`: the table is done).
struct Candidates {
    keys: Vec<Vec<u8>>,
    next: Option<Vec<u8>>,
}

impl Store {
    /// Deletes finished executions that finished before `before`, with their index rows (the
    /// by-schedule one in the schedule table); an execution that is a workflow run's goes
    /// together with the run record (finished) and the run's approval plans. Never touches an unfinished
    /// execution, nor any execution of a run that is still running or waiting (its own or a
    /// step's). Runs in batches of at most [`PRUNE_BATCH_MAX`] executions, each its own write.
    pub async fn prune_executions(&self, before: Millis) -> Result<PruneCounts, StoreError> {
        self.sweep(Sweep::Executions { before }).await
    }

    /// Deletes finished runs whose execution no longer exists (pruned before runs were pruned
    /// with it), with their approval plans. A run that is running or waiting stays.
    pub async fn prune_runs(&self) -> Result<PruneCounts, StoreError> {
        self.sweep(Sweep::Runs).await
    }

    /// Deletes approval plans whose run no longer exists, and standalone approval requests
    /// decided before `before` (the executions' retention); a plan of an existing run (waiting
    /// or decided) and a standalone request still waiting stay.
    pub async fn prune_plans(&self, before: Millis) -> Result<PruneCounts, StoreError> {
        self.sweep(Sweep::Plans { before }).await
    }

    /// Deletes idempotency records created before `before`, in batches.
    pub async fn prune_idempotent(&self, before: Millis) -> Result<PruneCounts, StoreError> {
        self.sweep(Sweep::Idempotency { before }).await
    }

    /// Deletes events received before `before` (their executions follow the executions'
    /// retention), in batches.
    pub async fn prune_events(&self, before: Millis) -> Result<PruneCounts, StoreError> {
        self.sweep(Sweep::Events { before }).await
    }

    /// Deletes dedup entries whose window ended before `now`, in batches.
    pub async fn prune_dedup(&self, now: Millis) -> Result<PruneCounts, StoreError> {
        self.sweep(Sweep::Dedup { before: now }).await
    }

    /// One pass over a table: read candidates from the cursor, remove them in one write, go on
    /// until the table's end.
    async fn sweep(&self, sweep: Sweep) -> Result<PruneCounts, StoreError> {
        self.sweep_with(sweep, PRUNE_SCAN_MAX, PRUNE_BATCH_MAX).await
    }

    /// [`Store::sweep`] with explicit read and batch sizes.
    async fn sweep_with(&self, sweep: Sweep, scan_max: usize, batch_max: usize) -> Result<PruneCounts, StoreError> {
        let mut total = PruneCounts::default();
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let found = self.prune_candidates(sweep, cursor.as_deref(), scan_max, batch_max)?;
            if !found.keys.is_empty() {
                let keys = found.keys;
                let batch = self.write(move |w| remove_batch(w, sweep, &keys)).await?;
                total.add(&batch);
                // Let other tasks (and their writes) go first.
                tokio::task::yield_now().await;
            }
            match found.next {
                Some(next) => cursor = Some(next),
                None => return Ok(total),
            }
        }
    }

    /// Reads up to `batch_max` candidates of `sweep` after the key `after`, examining at most
    /// `scan_max` records.
    fn prune_candidates(
        &self,
        sweep: Sweep,
        after: Option<&[u8]>,
        scan_max: usize,
        batch_max: usize,
    ) -> Result<Candidates, StoreError> {
        self.read(|r| {
            let table = match sweep {
                Sweep::Executions { .. } => EXECUTIONS,
                Sweep::Runs => RUNS,
                Sweep::Plans { .. } => PLANS,
                Sweep::Idempotency { .. } => IDEMPOTENCY,
                Sweep::Events { .. } => EVENTS,
                Sweep::Dedup { .. } => EVENT_DEDUP,
            };
            if let Sweep::Executions { before } = sweep {
                return expired_executions(r, before, after, batch_max);
            }
            let t = r.open_table(table).map_err(StoreError::from_db)?;
            let executions = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            let runs = r.open_table(RUNS).map_err(StoreError::from_db)?;
            failpoint!("store::get", |arg| Err(injected_fault(arg)));
            let range = match after {
                Some(k) => t.range::<&[u8]>((Bound::Excluded(k), Bound::Unbounded)),
                None => t.range::<&[u8]>(..),
            }
            .map_err(StoreError::from_db)?;
            let mut keys = Vec::new();
            let mut examined = 0;
            for entry in range {
                let (k, v) = entry.map_err(StoreError::from_db)?;
                let (k, v) = (k.value(), v.value());
                examined += 1;
                let due = match sweep {
                    Sweep::Executions { .. } => false,
                    Sweep::Runs => {
                        let run: RunEnd = crate::store::codec::decode("runs", v)?;
                        run.status.is_finished() && get_raw(&executions, k)?.is_none()
                    }
                    Sweep::Plans { before } => {
                        let p: PlanOwner = crate::store::codec::decode("plans", v)?;
                        if p.standalone.is_some() {
                            standalone_expired(p.decided_at, before)
                        } else {
                            get_raw(&runs, &key(&[p.brand.as_bytes(), p.run.as_bytes()]))?.is_none()
                        }
                    }
                    Sweep::Idempotency { before } => {
                        let c: Created = crate::store::codec::decode("idempotency", v)?;
                        c.created_ms < before
                    }
                    Sweep::Events { before } => {
                        let e: Received = crate::store::codec::decode("events", v)?;
                        e.received_ms < before
                    }
                    Sweep::Dedup { before } => dedup_expiry(v) < before,
                };
                if due {
                    keys.push(k.to_vec());
                }
                if keys.len() >= batch_max || examined >= scan_max {
                    return Ok(Candidates { keys, next: Some(k.to_vec()) });
                }
            }
            Ok(Candidates { keys, next: None })
        })
    }
}

/// One batch inside the writer: removes every candidate that still qualifies (the rule is
/// checked again on the current data) and counts what went.
fn remove_batch(w: &WriteTransaction, sweep: Sweep, keys: &[Vec<u8>]) -> Result<PruneCounts, StoreError> {
    let clock = Stopwatch::start();
    let mut counts = PruneCounts { batches: 1, ..PruneCounts::default() };
    match sweep {
        Sweep::Executions { before } => {
            for k in keys {
                remove_execution(w, k, before, &mut counts)?;
            }
        }
        Sweep::Runs => {
            for k in keys {
                let runs = w.open_table(RUNS).map_err(StoreError::from_db)?;
                let Some(run) = get::<Run>(&runs, "runs", k)? else { continue };
                drop(runs);
                let executions = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
                if !run.status.is_finished() || get_raw(&executions, k)?.is_some() {
                    continue;
                }
                drop(executions);
                remove_run(w, &run, &mut counts)?;
            }
        }
        Sweep::Plans { before } => {
            let runs = w.open_table(RUNS).map_err(StoreError::from_db)?;
            let mut plans = w.open_table(PLANS).map_err(StoreError::from_db)?;
            for k in keys {
                let Some(p) = get::<ApprovalPlan>(&plans, "plans", k)? else { continue };
                let due = if p.is_standalone() {
                    standalone_expired(p.decided_at, before)
                } else {
                    get_raw(&runs, &key(&[p.brand.as_bytes(), p.run.as_bytes()]))?.is_none()
                };
                if !due {
                    continue;
                }
                drop(plans);
                index::remove_plan(w, p.brand, p.id)?;
                plans = w.open_table(PLANS).map_err(StoreError::from_db)?;
                counts.plans += 1;
            }
        }
        Sweep::Idempotency { before } => {
            let mut t = w.open_table(IDEMPOTENCY).map_err(StoreError::from_db)?;
            for k in keys {
                match get::<IdempotentReply>(&t, "idempotency", k)? {
                    Some(r) if r.created_ms < before => {
                        remove(&mut t, k)?;
                        counts.idempotency += 1;
                    }
                    _ => {}
                }
            }
        }
        Sweep::Events { before } => {
            let mut t = w.open_table(EVENTS).map_err(StoreError::from_db)?;
            for k in keys {
                match get::<Received>(&t, "events", k)? {
                    Some(e) if e.received_ms < before => {
                        index::remove_event(w, &mut t, k)?;
                        counts.events += 1;
                    }
                    _ => {}
                }
            }
        }
        Sweep::Dedup { before } => {
            let mut t = w.open_table(EVENT_DEDUP).map_err(StoreError::from_db)?;
            for k in keys {
                if get_raw(&t, k)?.is_some_and(|v| dedup_expiry(&v) < before) {
                    remove(&mut t, k)?;
                    counts.dedup += 1;
                }
            }
        }
    }
    counts.longest_batch_ms = clock.elapsed_secs() * 1000.0;
    Ok(counts)
}

/// Removes the execution at `k` (brand ‖ id) if it finished before `before` and belongs to no
/// run that is still unfinished; a run of its own goes with it.
fn remove_execution(
    w: &WriteTransaction,
    k: &[u8],
    before: Millis,
    counts: &mut PruneCounts,
) -> Result<(), StoreError> {
    let executions = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
    let Some(e) = get::<ExecutionRef>(&executions, "executions", k)? else { return Ok(()) };
    drop(executions);
    if !e.status.is_finished() || e.finished_ms.is_none_or(|f| f >= before) {
        return Ok(());
    }
    let runs = w.open_table(RUNS).map_err(StoreError::from_db)?;
    let own_run = get::<Run>(&runs, "runs", k)?;
    // The run this execution is part of: its own (a workflow run's execution) or the one its
    // step belongs to. While that run is unfinished, the execution stays.
    let part_of = match (&own_run, &e.step) {
        (Some(run), _) => Some(run.clone()),
        (None, Some(step)) => get::<Run>(&runs, "runs", &key(&[e.brand.as_bytes(), step.run.as_bytes()]))?,
        (None, None) => None,
    };
    drop(runs);
    if part_of.is_some_and(|r| !r.status.is_finished()) {
        return Ok(());
    }
    // The record goes with every index row of it (schedule, status, target, time, expiry,
    // pending) and its counters.
    let mut t = ExecTables::open(w)?;
    t.remove(e.brand, e.id)?;
    t.finish(w)?;
    counts.executions += 1;
    if let Some(run) = own_run {
        remove_run(w, &run, counts)?;
    }
    Ok(())
}

/// Removes a finished run and the approval plans it owns (those its visits name whose `run` is
/// this run; a rerun's visits may name its predecessor's plans, which stay with their own run).
fn remove_run(w: &WriteTransaction, run: &Run, counts: &mut PruneCounts) -> Result<(), StoreError> {
    index::remove_run(w, run.brand, run.id)?;
    counts.runs += 1;
    for id in run.visits.iter().filter_map(|v| v.plan) {
        let plans = w.open_table(PLANS).map_err(StoreError::from_db)?;
        let owned = get::<ApprovalPlan>(&plans, "plans", &key(&[run.brand.as_bytes(), id.as_bytes()]))?
            .is_some_and(|p| p.run == run.id);
        drop(plans);
        if owned {
            index::remove_plan(w, run.brand, id)?;
            counts.plans += 1;
        }
    }
    Ok(())
}

/// Up to `batch_max` executions that finished before `before`, oldest finish first, after the
/// expiry-index key `after`: a range read of the expiry index from its start, so it never
/// looks at an execution that is not expired (the candidate's key is brand ‖ id).
fn expired_executions(
    r: &redb::ReadTransaction,
    before: Millis,
    after: Option<&[u8]>,
    batch_max: usize,
) -> Result<Candidates, StoreError> {
    let t = r.open_table(EXEC_EXPIRY).map_err(StoreError::from_db)?;
    failpoint!("store::get", |arg| Err(injected_fault(arg)));
    let hi = index::ord_ms(before);
    let lo = match after {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    };
    let mut keys = Vec::new();
    let mut last = None;
    index::scan_range(&t, lo, Bound::Excluded(hi.as_slice()), false, |k, _| {
        keys.push(k[8..40].to_vec());
        last = Some(k.to_vec());
        Ok(keys.len() < batch_max)
    })?;
    let next = if keys.len() >= batch_max { last } else { None };
    Ok(Candidates { keys, next })
}

/// Hooks for the unit tests (`store::prune_tests`): the two halves of an executions batch, and
/// a pass with small read and batch sizes.
#[cfg(test)]
impl Store {
    pub(crate) fn prune_candidates_for_tests(&self, before: Millis) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.prune_candidates(Sweep::Executions { before }, None, PRUNE_SCAN_MAX, PRUNE_BATCH_MAX)?.keys)
    }

    pub(crate) async fn prune_batch_for_tests(
        &self,
        before: Millis,
        keys: Vec<Vec<u8>>,
    ) -> Result<PruneCounts, StoreError> {
        self.write(move |w| remove_batch(w, Sweep::Executions { before }, &keys)).await
    }

    pub(crate) async fn prune_executions_with(
        &self,
        before: Millis,
        scan_max: usize,
        batch_max: usize,
    ) -> Result<PruneCounts, StoreError> {
        self.sweep_with(Sweep::Executions { before }, scan_max, batch_max).await
    }
}
