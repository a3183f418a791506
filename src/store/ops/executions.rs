//! Executions: one per fire or manual run, updated attempt by attempt; unfinished ones are
//! indexed so that a restart resumes them.

use std::ops::Bound;
use std::sync::{Arc, Mutex};

use super::index::{self, EncodedExecution, ExecTables, tag};
use super::{get, get_raw, remove, scan_prefix};
use crate::model::{BrandId, DomainId, Execution, ExecutionId, ExecutionStatus, Page, ScheduleId, TargetKind};
use crate::store::codec;
use crate::store::tables::{COUNTS, EXEC_BY_STATUS, EXEC_BY_TARGET, EXEC_BY_TIME, EXECUTIONS, SCHEDULES, SPILLED, key};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// Filters of the execution list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub schedule: Option<ScheduleId>,
    pub status: Option<ExecutionStatus>,
    pub target: Option<uuid::Uuid>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl ExecutionFilter {
    /// True when `e` passes every filter (the meaning the indexed list reads keep).
    pub fn matches(&self, e: &Execution) -> bool {
        self.status.is_none_or(|s| e.status == s)
            && self.target.is_none_or(|t| e.target_id == t)
            && self.schedule.is_none_or(|s| e.schedule == Some(s))
            && self.from_ms.is_none_or(|f| e.scheduled_ms >= f)
            && self.to_ms.is_none_or(|t| e.scheduled_ms < t)
    }
}

/// The `execution_failed` signal of an execution that has ended failed after its retries: a
/// webhook delivery or a workflow run (a workflow step's failure shows as its run's). A
/// channel send never raises it (no alert loops). Returns the brand, the signal and its
/// instant.
fn execution_failed_signal(e: &Execution) -> Option<(BrandId, crate::monitor::alert::Signal, Millis)> {
    if e.status != ExecutionStatus::Failed || e.step.is_some() || e.target_kind == TargetKind::Channel {
        return None;
    }
    let signal = crate::monitor::alert::Signal::ExecutionFailed {
        execution: e.id.0,
        schedule: e.schedule.map(|s| s.0),
        target_kind: e.target_kind.as_str().to_string(),
        target: e.target_id,
        reason: e.reason.clone().unwrap_or_default(),
    };
    Some((e.brand, signal, e.finished_ms.unwrap_or(e.created_ms)))
}

/// Raises `execution_failed` for an execution that has just ended failed after its retries
/// (see [`execution_failed_signal`]).
pub(crate) fn raise_execution_failed(w: &redb::WriteTransaction, e: &Execution) -> Result<(), StoreError> {
    match execution_failed_signal(e) {
        Some((brand, signal, at)) => super::alerts::enqueue_signal(w, brand, signal, at),
        None => Ok(()),
    }
}

/// An outcome waiting in the [`OutcomeQueue`], with the channel its caller waits on.
pub(crate) struct QueuedOutcome {
    encoded: EncodedExecution,
    failed: Option<(BrandId, crate::monitor::alert::Signal, Millis)>,
    reply: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

type Reply = tokio::sync::oneshot::Sender<Result<bool, StoreError>>;
/// An outcome's reply with the answer it gets after the commit.
type Answer = (Reply, Result<bool, StoreError>);

/// Outcome writes ([`Store::put_execution`]) waiting for the writer operation that takes them
/// all: write combining. Under load each delivery's outcome was its own operation, and each
/// operation opened the execution table and two index tables and wrote its counters: 20,000
/// of the writer's 150,000 instructions per execution (`write_path`, callgrind).
///
/// Under load its operations are paced ([`OUTCOME_OPERATION_SPACING`]): the next one starts no
/// sooner than that after the previous one started, so that the outcomes of that interval share
/// it. Unpaced, the queue handed the writer an operation as soon as the last one was answered,
/// one per commit cycle (one `fdatasync`), and at 2,000 fires/s the daemon committed 835 times
/// a second (docs/design.md, "Commits per fire below saturation").
#[derive(Default)]
pub(crate) struct OutcomeQueue {
    queued: Mutex<Vec<QueuedOutcome>>,
    /// When the last operation was handed to the writer (tokio's clock, so that tests with
    /// paused time see the pacing as they see every other timer).
    last_started: Mutex<Option<tokio::time::Instant>>,
}

impl OutcomeQueue {
    /// Queues an outcome; true when the queue was empty, so the caller must hand the writer
    /// an operation that takes it.
    fn push(&self, o: QueuedOutcome) -> bool {
        let mut q = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        q.push(o);
        q.len() == 1
    }

    /// The oldest queued outcomes, at most [`OUTCOMES_PER_OPERATION`], inside the writer
    /// operation. What stays queued is left to the same task's next operation
    /// ([`Store::put_execution`]); once the queue is empty, the next outcome starts another.
    fn take(&self) -> Vec<QueuedOutcome> {
        let mut q = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(OUTCOMES_PER_OPERATION);
        q.drain(..n).collect()
    }

    /// Every queued outcome (to answer them all when the writer refuses an operation).
    fn take_all(&self) -> Vec<QueuedOutcome> {
        std::mem::take(&mut *self.queued.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn is_empty(&self) -> bool {
        self.queued.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Waits until [`OUTCOME_OPERATION_SPACING`] after the previous operation started (at
    /// once when that is past: an outcome alone is never held), then marks this one started.
    async fn pace(&self) {
        let previous = *self.last_started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = previous {
            tokio::time::sleep_until(previous + OUTCOME_OPERATION_SPACING).await;
        }
        *self.last_started.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokio::time::Instant::now());
    }
}

/// Least time between the starts of two outcome operations ([`OutcomeQueue::pace`]). An
/// outcome's commit only tells its caller that it is durable; nothing is sent later for it
/// (a workflow's next step and the overlap policies wait for it, at most this much longer
/// under load). A fire is a separate operation and is not paced.
const OUTCOME_OPERATION_SPACING: std::time::Duration = std::time::Duration::from_millis(4);

/// The most outcomes one shared operation writes: it bounds the operation's undo log (a copy
/// of each replaced record) and how long it holds the writer, and a fire queued behind a
/// flood of outcomes waits for at most this many.
const OUTCOMES_PER_OPERATION: usize = 256;

/// One shared operation of [`Store::put_execution`]: writes the outcomes it takes from
/// `queue` and answers each after the commit (a failed commit or operation answers each with
/// its error instead). False when the writer refused the operation without running it (the
/// store is closed or cannot write): then every queued outcome is answered with that error,
/// as no other operation takes the queue while it is not empty.
async fn write_queued_outcomes(store: &Store, queue: &Arc<OutcomeQueue>) -> bool {
    // The answers, filled inside the operation; `None` afterwards: it never ran.
    let answers: Arc<Mutex<Option<Vec<Answer>>>> = Arc::default();
    let (filled, taken) = (answers.clone(), queue.clone());
    let written = store
        .write(move |w| {
            let mut out = filled.lock().unwrap_or_else(|e| e.into_inner());
            write_outcomes(w, taken.take(), out.insert(Vec::new()))
        })
        .await;
    let ran = answers.lock().unwrap_or_else(|e| e.into_inner()).take();
    match ran {
        Some(answers) => {
            for (reply, answer) in answers {
                let _ = reply.send(written.clone().and(answer));
            }
            true
        }
        None => {
            let e = written.err().unwrap_or(StoreError::Panicked);
            for o in queue.take_all() {
                let _ = o.reply.send(Err(e.clone()));
            }
            false
        }
    }
}

/// Writes `outcomes` in one open transaction: each over its stored record, unless that record
/// is absent (`NotFound`, that outcome only) or cancelled (`false`). Appends every outcome's
/// reply with its answer to `out`, also when a store error ends the operation (each outcome
/// not written yet is answered with it; the writer undoes the operation's writes).
fn write_outcomes(
    w: &redb::WriteTransaction,
    outcomes: Vec<QueuedOutcome>,
    out: &mut Vec<Answer>,
) -> Result<(), StoreError> {
    if outcomes.is_empty() {
        return Ok(()); // another task's operation took them
    }
    let mut outcomes = outcomes.into_iter();
    let mut signals = Vec::new();
    let written = (|| {
        let mut t = ExecTables::open(w)?;
        for QueuedOutcome { encoded, failed, reply } in outcomes.by_ref() {
            let answer = write_outcome(&mut t, &encoded);
            if let Err(e) = &answer
                && !matches!(e, StoreError::NotFound(_))
            {
                out.push((reply, Err(e.clone())));
                return Err(e.clone());
            }
            if let Ok((true, Some(stored))) = answer
                && stored != ExecutionStatus::Failed
            {
                signals.extend(failed);
            }
            out.push((reply, answer.map(|(written, _)| written)));
        }
        t.finish(w)
    })();
    if let Err(e) = written {
        out.extend(outcomes.map(|o| (o.reply, Err(e.clone()))));
        return Err(e);
    }
    for (brand, signal, at) in signals {
        super::alerts::enqueue_signal(w, brand, signal, at)?;
    }
    Ok(())
}

/// One outcome of [`write_outcomes`]: `(written, the stored status it replaced)`.
fn write_outcome(
    t: &mut ExecTables<'_>,
    encoded: &EncodedExecution,
) -> Result<(bool, Option<ExecutionStatus>), StoreError> {
    let (brand, id, status) = (encoded.facts.brand, encoded.facts.id, encoded.facts.status);
    // The status is all this needs of the stored record: an unfinished one is known from its
    // status row, without reading the record.
    let stored = match t.unfinished_facts(&encoded.facts)? {
        Some(unfinished) => unfinished,
        None => t.facts(brand, id)?.ok_or(StoreError::NotFound("Execution"))?,
    };
    if stored.status == ExecutionStatus::Cancelled && status != ExecutionStatus::Cancelled {
        return Ok((false, Some(stored.status)));
    }
    t.save_over(encoded, &stored)?;
    Ok((true, Some(stored.status)))
}

impl Store {
    /// Records a new execution (manual runs; fires go through `record_fires`).
    pub async fn create_execution(&self, e: Execution) -> Result<Execution, StoreError> {
        self.write(move |w| {
            super::schedules::upsert_executions(w, std::slice::from_ref(&e))?;
            Ok(e)
        })
        .await
    }

    /// Replaces an execution record (attempt results, status); a finished one leaves the
    /// pending index. A record cancelled meanwhile stays cancelled: `Ok(false)`. The record is
    /// encoded on the caller's thread, before the write.
    ///
    /// Outcomes written at the same time share one writer operation ([`OutcomeQueue`]): the
    /// first joins a queue and hands the writer an operation that takes every outcome queued
    /// until it runs; the others only join the queue. Each caller hears back after the commit,
    /// with its own answer.
    ///
    /// Errors: `NotFound` when no record of the execution is stored (only that caller's);
    /// an unavailable store fails every outcome of the shared operation, whose writes are all
    /// undone. After any other fault of the shared operation each of its outcomes is written
    /// again in an operation of its own, so a fault answers only the outcome it belongs to.
    pub async fn put_execution(&self, e: &Execution) -> Result<bool, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let outcome = QueuedOutcome { encoded: EncodedExecution::of(e), failed: execution_failed_signal(e), reply };
        if self.outcomes.push(outcome) {
            // The operation runs in its own task, so that the callers that joined its queue
            // hear back even if this caller stops waiting.
            let (store, queue) = (self.clone(), self.outcomes.clone());
            tokio::spawn(async move {
                // One operation after another until the queue is empty, paced.
                loop {
                    queue.pace().await;
                    if !write_queued_outcomes(&store, &queue).await || queue.is_empty() {
                        break;
                    }
                }
            });
        }
        // A dropped reply without an answer: the shared operation panicked (the writer logged
        // it and undid its writes).
        match answer.await.unwrap_or(Err(StoreError::Panicked)) {
            // The shared operation failed on a fault that may be another outcome's (a corrupt
            // record, a panic): written on its own, this outcome gets its own answer, as before
            // outcomes were combined. A store that cannot write fails them all alike.
            Err(err) if !err.is_unavailable() && !matches!(err, StoreError::NotFound(_)) => {
                let outcome = QueuedOutcome {
                    encoded: EncodedExecution::of(e),
                    failed: execution_failed_signal(e),
                    reply: tokio::sync::oneshot::channel().0,
                };
                self.write(move |w| {
                    let mut out = Vec::with_capacity(1);
                    write_outcomes(w, vec![outcome], &mut out)?;
                    Ok(out.pop().map_or(Err(StoreError::Panicked), |(_, answer)| answer))
                })
                .await?
            }
            answer => answer,
        }
    }

    /// Cancels an unfinished execution; a finished one is a conflict.
    pub async fn cancel_execution(&self, brand: BrandId, id: ExecutionId, now: i64) -> Result<Execution, StoreError> {
        self.write(move |w| {
            let mut t = ExecTables::open(w)?;
            let mut e = t.get(brand, id)?.ok_or(StoreError::NotFound("Execution"))?;
            if e.status.is_finished() {
                return Err(StoreError::State(format!(
                    "Execution cannot be cancelled: the execution is already {}",
                    e.status.as_str()
                )));
            }
            e.status = ExecutionStatus::Cancelled;
            e.finished_ms = Some(now);
            e.next_attempt_ms = None;
            t.save(&e)?;
            t.finish(w)?;
            Ok(e)
        })
        .await
    }

    /// Parks an execution of `domain` in the store (its in-memory queue is full).
    pub async fn spill(&self, domain: DomainId, brand: BrandId, id: ExecutionId) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SPILLED).map_err(StoreError::from_db)?;
            super::put_raw(&mut t, &key(&[domain.as_bytes(), id.as_bytes()]), brand.as_bytes())
        })
        .await
    }

    /// Takes (and removes) up to `n` parked executions of `domain`, oldest first.
    pub async fn take_spilled(&self, domain: DomainId, n: usize) -> Result<Vec<(BrandId, ExecutionId)>, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SPILLED).map_err(StoreError::from_db)?;
            let mut found = Vec::new();
            scan_prefix(&t, domain.as_bytes(), |k, v| {
                found.push((k.to_vec(), v.to_vec()));
                Ok(found.len() < n)
            })?;
            let mut out = Vec::with_capacity(found.len());
            for (k, v) in found {
                remove(&mut t, &k)?;
                out.push((
                    BrandId(codec::decode_id("spilled", &v)?),
                    ExecutionId(codec::decode_id("spilled", &k[16..32])?),
                ));
            }
            Ok(out)
        })
        .await
    }

    /// Forgets every parked execution (on start, when all pending executions are re-queued).
    pub async fn clear_spilled(&self) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SPILLED).map_err(StoreError::from_db)?;
            let mut keys: Vec<Vec<u8>> = Vec::new();
            super::scan_prefix(&t, &[], |k, _| {
                keys.push(k.to_vec());
                Ok(true)
            })?;
            for k in keys {
                remove(&mut t, &k)?;
            }
            Ok(())
        })
        .await
    }

    pub fn get_execution(&self, brand: BrandId, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        self.read(|r| {
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            get(&t, "executions", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    /// A brand's executions, newest first, filtered, one page: reads the page's records and a
    /// bounded number of index rows, never the brand's whole table.
    ///
    /// - No filter: the record table backwards from the brand's newest; total from a counter.
    /// - One of status, schedule or target: that index backwards; total from its counter.
    /// - A time range alone: the scheduled-instant index over the range, newest scheduled
    ///   first; the total counts the range's index rows.
    /// - Several filters: the filtered index with the smallest counter drives, each of its rows
    ///   is checked against the others by a point lookup in their indexes (the scheduled
    ///   instant is in the row), so the cost grows with the smallest filtered set, not with the
    ///   brand's executions.
    pub fn list_executions(
        &self,
        brand: BrandId,
        filter: &ExecutionFilter,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Execution>, StoreError> {
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        self.read(|r| {
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            let counts = r.open_table(COUNTS).map_err(StoreError::from_db)?;
            let b = brand.as_bytes();
            // (index table, key prefix, counter) of each filter given, besides time. The
            // schedule's rows are in the schedule table, keyed by the flipped id
            // (`index::schedule_row_key`); the other indexes end in the plain id.
            let mut dims: Vec<(crate::store::tables::Bytes, Vec<u8>, u64)> = Vec::new();
            if let Some(st) = filter.status {
                let code = [index::exec_status_code(st)];
                let n = index::read_count(&counts, &index::counter_key(tag::EXEC_STATUS, &[b, &code]))?;
                dims.push((EXEC_BY_STATUS, key(&[b, &code]), n));
            }
            if let Some(s) = filter.schedule {
                let n = index::read_count(&counts, &index::counter_key(tag::EXEC_SCHEDULE, &[b, s.as_bytes()]))?;
                dims.push((SCHEDULES, key(&[b, s.as_bytes()]), n));
            }
            if let Some(target) = filter.target {
                let n = index::read_count(&counts, &index::counter_key(tag::EXEC_TARGET, &[b, target.as_bytes()]))?;
                dims.push((EXEC_BY_TARGET, key(&[b, target.as_bytes()]), n));
            }
            let timed = filter.from_ms.is_some() || filter.to_ms.is_some();
            let mut ids: Vec<[u8; 16]> = Vec::new();
            let mut total = 0u64;
            let mut take = |id: &[u8], total: &mut u64| {
                if *total >= skip && (ids.len() as u64) < per_page {
                    ids.push(id.try_into().unwrap_or([0; 16]));
                }
                *total += 1;
            };
            if dims.is_empty() && !timed {
                total = index::read_count(&counts, &index::counter_key(tag::EXECUTIONS, &[b]))?;
                let items = index::page_of_records(&t, "executions", b, (skip, per_page), true)?;
                return Ok(Page { items, total });
            } else if dims.is_empty() {
                let idx = r.open_table(EXEC_BY_TIME).map_err(StoreError::from_db)?;
                let lo = key(&[b, &index::ord_ms(filter.from_ms.unwrap_or(Millis::MIN))]);
                let hi = match filter.to_ms {
                    Some(to) => key(&[b, &index::ord_ms(to)]),
                    None => index::prefix_end(b).unwrap_or_default(),
                };
                index::scan_range(
                    &idx,
                    Bound::Included(lo.as_slice()),
                    Bound::Excluded(hi.as_slice()),
                    true,
                    |k, _| {
                        take(&k[24..40], &mut total);
                        Ok(true)
                    },
                )?;
            } else {
                dims.sort_by_key(|d| d.2);
                let (driver, prefix, n) = dims.remove(0);
                let others = dims
                    .iter()
                    .map(|(def, prefix, _)| {
                        Ok((*def, r.open_table(*def).map_err(StoreError::from_db)?, prefix.clone()))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let idx = r.open_table(driver).map_err(StoreError::from_db)?;
                if others.is_empty() && !timed {
                    // One filter: the page's rows only, after skipping the earlier ones.
                    total = n;
                    let mut seen = 0u64;
                    index::scan_exec_rows(driver, &idx, &prefix, |id, _| {
                        if seen >= skip && (ids.len() as u64) < per_page {
                            ids.push(id.try_into().unwrap_or([0; 16]));
                        }
                        seen += 1;
                        Ok((ids.len() as u64) < per_page)
                    })?;
                } else {
                    index::scan_exec_rows(driver, &idx, &prefix, |id, v| {
                        let at = v.try_into().map_or(0, Millis::from_le_bytes);
                        let in_time = filter.from_ms.is_none_or(|f| at >= f) && filter.to_ms.is_none_or(|to| at < to);
                        if in_time {
                            let mut all = true;
                            for (def, t2, p2) in &others {
                                if get_raw(t2, &index::exec_row_key(*def, p2, id))?.is_none() {
                                    all = false;
                                    break;
                                }
                            }
                            if all {
                                take(id, &mut total);
                            }
                        }
                        Ok(true)
                    })?;
                }
            }
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(e) = get::<Execution>(&t, "executions", &key(&[b, &id]))? {
                    items.push(e);
                }
            }
            Ok(Page { items, total })
        })
    }

    /// How many executions are recorded and not finished (from the status counters).
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        self.read(|r| {
            let counts = r.open_table(COUNTS).map_err(StoreError::from_db)?;
            index::unfinished_count(&counts)
        })
    }

    /// Visits every execution recorded and not finished, to resume it after a restart: brand
    /// by brand, oldest first ([`index::for_each_unfinished`]). One read snapshot; nothing is
    /// collected, so a start-up with a million pending executions does not hold them all in
    /// memory.
    ///
    /// A record that does not decode (`Corrupt`) goes to `unreadable(id, error)` and the
    /// visit goes on: one damaged execution must not keep every brand's daemon from starting.
    /// Errors: a read fault of the store (the visit stops).
    pub fn for_each_pending(
        &self,
        mut f: impl FnMut(Execution),
        mut unreadable: impl FnMut(ExecutionId, StoreError),
    ) -> Result<(), StoreError> {
        self.read(|r| {
            let by_status = r.open_table(EXEC_BY_STATUS).map_err(StoreError::from_db)?;
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            index::for_each_unfinished(&by_status, |brand, id| {
                match get::<Execution>(&t, "executions", &key(&[brand, id])) {
                    Ok(Some(e)) => f(e),
                    Ok(None) => {}
                    Err(e @ StoreError::Corrupt { .. }) => {
                        let id = uuid::Uuid::from_slice(id).map_err(|_| index::unfinished_row_corrupt())?;
                        unreadable(ExecutionId(id), e)
                    }
                    Err(e) => return Err(e),
                }
                Ok(())
            })
        })
    }
}
