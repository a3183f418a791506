//! Secondary indexes and counters: what makes a list page cost the same with 1,000 or
//! 1,000,000 records (product.md §9, "indexed reads").
//!
//! Each indexed kind of record (executions, runs, approval plans, schedules) has a *facts*
//! struct: the few fields its indexes are keyed on, decoded from a stored record without the
//! rest of it. Every write of such a record goes through one function here that compares the
//! facts of the record it replaces with the new one and changes only the index rows that
//! differ, in the same write (and so the same commit and undo log) as the record, and the
//! counters that differ.
//!
//! Counters live in [`COUNTS`]: one `u64 LE` per key, a tag byte then the brand and the
//! filter's value (a status code, a schedule id...). A list reads its `total_count` from one
//! counter instead of counting records. Counter changes are summed in [`Deltas`]; inside the
//! writer's batches they are held over the whole batch and written once per key before its
//! commit ([`batch_counts`]), and a write that checks a counter reads it with
//! [`read_count_in_write`].
//!
//! Index row layouts (all keys but the schedule table's rows sort newest last, as ids are
//! UUIDv7 and instants are stored order-preserving, see [`ord_ms`]):
//! - `exec_by_status`: brand ‖ status code ‖ execution id → scheduled instant (i64 LE)
//! - `exec_by_target`: brand ‖ target id ‖ execution id → scheduled instant
//! - a schedule's executions, in the schedule table after the schedule's record: brand ‖
//!   schedule id ‖ !execution id (flipped, so newest first, beside the record a fire
//!   rewrites; [`schedule_row_key`]) → scheduled instant. Schemas 2 to 5 kept them in a table
//!   of their own (`executions_by_schedule`, keyed by the plain id), a second B-tree leaf per
//!   fire; the 5 → 6 migration moved them
//! - `schedule_ids`: brand ‖ schedule id → empty (every schedule: the unfiltered list pages
//!   through it instead of the schedule table, which holds the rows too)
//! - `exec_by_time`: brand ‖ ord(scheduled instant) ‖ execution id → empty
//! - `exec_expiry`: ord(finished instant) ‖ brand ‖ execution id → empty (finished ones only;
//!   retention reads the expired ones from its start, never scanning the rest)
//! - unfinished executions (resumed after a restart) are the `exec_by_status` rows of the
//!   pending and running codes: schema 2 kept them in a table of their own too
//!   (`pending_executions`), two more row changes per execution on the fire path, dropped by
//!   the 2 → 3 migration
//! - `runs_by_workflow`: brand ‖ workflow id ‖ run id → empty
//! - `plans_waiting`: brand ‖ plan id → empty (plans waiting for a decision)
//! - `schedules_by_status`: brand ‖ status code ‖ schedule id → empty
//! - `events_by_source`: brand ‖ source id (zeros: `send_event`) ‖ event id → empty
//! - `events_by_status`: brand ‖ status code ‖ event id → empty

use std::collections::BTreeMap;
use std::ops::Bound;

use redb::{ReadableTable, WriteTransaction};
use serde::Deserialize;

use super::{BytesTable, get_raw, put_raw, remove};
use crate::model::{
    BrandId, Event, EventId, EventStatus, Execution, ExecutionId, ExecutionStatus, PlanId, PlanStatus, ScheduleId,
    ScheduleStatus, SourceId, WorkflowId,
};
use crate::store::StoreError;
use crate::store::codec;
use crate::store::tables::{
    Bytes, COUNTS, EVENTS, EVENTS_BY_SOURCE, EVENTS_BY_STATUS, EXEC_BY_STATUS, EXEC_BY_TARGET, EXEC_BY_TIME,
    EXEC_EXPIRY, EXECUTIONS, PLANS, PLANS_WAITING, RUNS, RUNS_BY_WORKFLOW, SCHEDULE_IDS, SCHEDULES,
    SCHEDULES_BY_STATUS, key,
};
use crate::time::Millis;

/// Counter tags (the first byte of a [`COUNTS`] key).
pub(crate) mod tag {
    /// brand → executions
    pub const EXECUTIONS: u8 = b'e';
    /// brand ‖ status code → executions in that status
    pub const EXEC_STATUS: u8 = b's';
    /// brand ‖ schedule id → executions of that schedule
    pub const EXEC_SCHEDULE: u8 = b'c';
    /// brand ‖ target id → executions of that template, workflow or channel
    pub const EXEC_TARGET: u8 = b't';
    /// brand → workflow runs
    pub const RUNS: u8 = b'r';
    /// brand ‖ workflow id → runs of that workflow
    pub const RUNS_WORKFLOW: u8 = b'w';
    /// brand → approval plans waiting for a decision
    pub const PLANS_WAITING: u8 = b'p';
    /// brand → standalone approval requests waiting for a decision
    pub const STANDALONE_WAITING: u8 = b'q';
    /// brand → schedules
    pub const SCHEDULES: u8 = b'S';
    /// brand ‖ status code → schedules in that status
    pub const SCHEDULE_STATUS: u8 = b'u';
    /// brand → events
    pub const EVENTS: u8 = b'v';
    /// brand ‖ source id (zeros: published with `send_event`) → events of that source
    pub const EVENT_SOURCE: u8 = b'o';
    /// brand ‖ status code → events in that status
    pub const EVENT_STATUS: u8 = b'x';
}

/// A [`COUNTS`] key: the tag, then the parts.
pub(crate) fn counter_key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(tag);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// The value of one counter (0 when absent).
/// Not for a write that checks a counter inside the writer's batch: that one reads
/// [`read_count_in_write`] (a debug assertion says so).
pub(crate) fn read_count(t: &impl ReadableTable<&'static [u8], &'static [u8]>, k: &[u8]) -> Result<u64, StoreError> {
    debug_assert!(!batch_counts::active(), "a counter read inside a batch must add its held changes");
    stored_count(t, k)
}

fn stored_count(t: &impl ReadableTable<&'static [u8], &'static [u8]>, k: &[u8]) -> Result<u64, StoreError> {
    Ok(get_raw(t, k)?.map_or(0, |v| decode_u64(&v)))
}

/// The value of one counter as a write sees it: the stored value plus the changes the writer's
/// batch holds for it so far ([`batch_counts`]). A write that checks a counter (a cap) reads it
/// with this, so that operations sharing a batch see each other's changes.
pub(crate) fn read_count_in_write(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    k: &[u8],
) -> Result<u64, StoreError> {
    Ok(shifted(stored_count(t, k)?, batch_counts::held(k)))
}

fn decode_u64(v: &[u8]) -> u64 {
    v.try_into().map_or(0, u64::from_le_bytes)
}

/// Counter changes, summed per key and written once by [`Deltas::apply_in`] or
/// [`Deltas::apply_batch`].
#[derive(Debug, Default)]
pub(crate) struct Deltas(BTreeMap<Vec<u8>, i64>);

impl Deltas {
    pub(crate) fn add(&mut self, k: Vec<u8>, d: i64) {
        *self.0.entry(k).or_default() += d;
    }

    /// Writes the changes in `w`, or, while the writer runs a batch ([`batch_counts`]), adds
    /// them to the running operation's share of the batch's changes (outside a batch: the
    /// migrations, which run before the writer starts).
    pub(crate) fn apply_in(self, w: &WriteTransaction) -> Result<(), StoreError> {
        match batch_counts::hold(self) {
            Some(unheld) => unheld.write(w),
            None => Ok(()),
        }
    }

    /// Writes a whole batch's changes (the writer, after the batch's last operation, before
    /// its commit): straight to the table, outside every operation's undo log. An error fails
    /// the whole batch, as a failed commit does.
    pub(crate) fn apply_batch(self, w: &WriteTransaction) -> Result<(), StoreError> {
        crate::store::failpoint!("store::counts", |arg| Err(crate::store::injected_fault(arg)));
        self.write(w)
    }

    /// Writes the summed changes; a counter never goes below 0, and one that reaches 0 is
    /// removed (so counters of deleted schedules or workflows do not pile up).
    fn write(self, w: &WriteTransaction) -> Result<(), StoreError> {
        if self.0.values().all(|d| *d == 0) {
            return Ok(());
        }
        let mut counts = w.open_table(COUNTS).map_err(StoreError::from_db)?;
        for (k, d) in self.0 {
            if d == 0 {
                continue;
            }
            let now = counts.get(k.as_slice()).map_err(StoreError::from_db)?.map_or(0, |v| decode_u64(v.value()));
            let next = shifted(now, d);
            if next == 0 {
                counts.remove(k.as_slice()).map_err(StoreError::from_db)?;
            } else {
                counts.insert(k.as_slice(), next.to_le_bytes().as_slice()).map_err(StoreError::from_db)?;
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Deltas) {
        for (k, d) in other.0 {
            self.add(k, d);
        }
    }
}

/// Counter changes summed over the writer's whole batch and written once per key before its
/// commit, instead of once per operation (a batch of 500 outcomes of one brand changes the
/// same two status counters 500 times). An operation's share joins the batch's only when the
/// operation succeeds: a failed one's is dropped, as its other writes are undone. No write
/// checks a counter without [`read_count_in_write`] (lists read them in read transactions,
/// after the commit).
pub(crate) mod batch_counts {
    use std::cell::RefCell;

    use super::Deltas;

    thread_local! {
        /// (the batch's changes, the running operation's), while the writer runs a batch.
        static HELD: RefCell<Option<(Deltas, Deltas)>> = const { RefCell::new(None) };
    }

    /// The writer, before a batch's first operation: holds changes until [`Batch::end`] (or
    /// until the guard is dropped, should the batch's own code panic: nothing stays held).
    pub(crate) fn begin() -> Batch {
        HELD.with(|h| *h.borrow_mut() = Some((Deltas::default(), Deltas::default())));
        Batch(())
    }

    /// A batch holding counter changes (see [`begin`]).
    pub(crate) struct Batch(());

    impl Batch {
        /// After the batch's last operation: the changes to write. Nothing is held afterwards.
        pub(crate) fn end(self) -> Deltas {
            HELD.with(|h| h.borrow_mut().take()).map(|(batch, _)| batch).unwrap_or_default()
        }
    }

    impl Drop for Batch {
        fn drop(&mut self) {
            HELD.with(|h| h.borrow_mut().take());
        }
    }

    /// True while the writer runs a batch on this thread.
    pub(crate) fn active() -> bool {
        HELD.with(|h| h.borrow().is_some())
    }

    /// The writer, after each operation: its changes join the batch's (`ok`) or are dropped.
    pub(crate) fn operation_ended(ok: bool) {
        HELD.with(|h| {
            if let Some((batch, op)) = h.borrow_mut().as_mut() {
                let op = std::mem::take(op);
                if ok {
                    batch.merge(op);
                }
            }
        })
    }

    /// The change held for counter `k` so far: the batch's and the running operation's.
    pub(super) fn held(k: &[u8]) -> i64 {
        HELD.with(|h| {
            h.borrow()
                .as_ref()
                .map_or(0, |(batch, op)| batch.0.get(k).copied().unwrap_or(0) + op.0.get(k).copied().unwrap_or(0))
        })
    }

    /// Adds `d` to the running operation's changes while a batch runs; otherwise gives it back.
    pub(super) fn hold(d: Deltas) -> Option<Deltas> {
        HELD.with(|h| match h.borrow_mut().as_mut() {
            Some((_, op)) => {
                op.merge(d);
                None
            }
            None => Some(d),
        })
    }
}

/// A counter moved by `d`, never below 0.
fn shifted(now: u64, d: i64) -> u64 {
    if d < 0 { now.saturating_sub(d.unsigned_abs()) } else { now.saturating_add(d as u64) }
}

/// An instant as 8 bytes that sort like the instant (sign bit flipped, big-endian).
pub(crate) fn ord_ms(ms: Millis) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The smallest key greater than every key that starts with `prefix` (`None`: no such key,
/// the prefix is all 0xff).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Visits the keys and values under `prefix` newest (greatest key) first, until `f` returns
/// false.
pub(crate) fn scan_prefix_rev(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let end = prefix_end(prefix);
    let hi = match &end {
        Some(e) => Bound::Excluded(e.as_slice()),
        None => Bound::Unbounded,
    };
    scan_range(t, Bound::Included(prefix), hi, true, f)
}

/// Visits the entries of a key range in order (or reversed), until `f` returns false.
pub(crate) fn scan_range(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    reverse: bool,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let range = t.range::<&[u8]>((lo, hi)).map_err(StoreError::from_db)?;
    if reverse {
        for entry in range.rev() {
            let (k, v) = entry.map_err(StoreError::from_db)?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
    } else {
        for entry in range {
            let (k, v) = entry.map_err(StoreError::from_db)?;
            if !f(k.value(), v.value())? {
                break;
            }
        }
    }
    Ok(())
}

/// One page of records straight from a record table: the entries under `prefix` (newest
/// first when `reverse`), after skipping `skip` of them without decoding, at most `per_page`.
pub(crate) fn page_of_records<T: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    prefix: &[u8],
    page: (u64, u64),
    reverse: bool,
) -> Result<Vec<T>, StoreError> {
    page_of(t, prefix, page, reverse, |_, v| codec::decode(name, v).map(Some))
}

/// One page of records through an index: the index rows under `prefix` (newest first when
/// `reverse`), after skipping `skip` of them, at most `per_page`, each row's record read from
/// `records` at `brand ‖ the row's last 16 bytes` (the record's id).
pub(crate) fn page_via_index<T: serde::de::DeserializeOwned>(
    idx: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    (records, name, brand): (&impl ReadableTable<&'static [u8], &'static [u8]>, &'static str, &[u8]),
    page: (u64, u64),
    reverse: bool,
) -> Result<Vec<T>, StoreError> {
    page_of(idx, prefix, page, reverse, |k, _| {
        let id = k.len().checked_sub(16).map(|at| &k[at..]).ok_or_else(|| StoreError::Corrupt {
            table: name,
            detail: "an index row's key is shorter than a record id".into(),
        })?;
        super::get::<T>(records, name, &key(&[brand, id]))
    })
}

/// The rows under `prefix` (newest first when `reverse`) from the `skip`-th on, each turned
/// into an item by `item` (`None`: a row without its record, skipped), until `per_page` items.
fn page_of<T>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    (skip, per_page): (u64, u64),
    reverse: bool,
    mut item: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut items = Vec::new();
    let mut seen = 0u64;
    if per_page == 0 {
        return Ok(items);
    }
    let visit = |k: &[u8], v: &[u8]| {
        if seen >= skip
            && let Some(it) = item(k, v)?
        {
            items.push(it);
        }
        seen += 1;
        Ok((items.len() as u64) < per_page)
    };
    if reverse {
        scan_prefix_rev(t, prefix, visit)?
    } else {
        super::scan_prefix(t, prefix, visit)?
    }
    Ok(items)
}

/// Writes (`d` > 0) or removes (`d` < 0) one empty-valued index row.
fn set_row(idx: &mut BytesTable<'_>, k: &[u8], d: i64) -> Result<(), StoreError> {
    if d > 0 { put_raw(idx, k, &[]) } else { remove(idx, k) }
}

/// The stored code of an execution status (index keys and counters; never renumber).
pub(crate) fn exec_status_code(s: ExecutionStatus) -> u8 {
    match s {
        ExecutionStatus::Pending => 1,
        ExecutionStatus::Running => 2,
        ExecutionStatus::Succeeded => 3,
        ExecutionStatus::Failed => 4,
        ExecutionStatus::Skipped => 5,
        ExecutionStatus::Missed => 6,
        ExecutionStatus::Cancelled => 7,
    }
}

/// The stored code of an event status (index keys and counters; never renumber).
pub(crate) fn event_status_code(s: EventStatus) -> u8 {
    match s {
        EventStatus::Accepted => 1,
        EventStatus::Rejected => 2,
        EventStatus::Duplicate => 3,
    }
}

/// The source part of an event index key: the source id, or zeros for `send_event`.
pub(crate) fn event_source_part(source: Option<SourceId>) -> [u8; 16] {
    source.map_or([0; 16], |s| *s.as_bytes())
}

/// The stored code of a schedule status (index keys and counters; never renumber).
pub(crate) fn schedule_status_code(s: ScheduleStatus) -> u8 {
    match s {
        ScheduleStatus::Active => 1,
        ScheduleStatus::Paused => 2,
        ScheduleStatus::Completed => 3,
        ScheduleStatus::Expired => 4,
        ScheduleStatus::Inactive => 5,
    }
}

// ---------------------------------------------------------------------------------------------
// Executions

/// The fields of an execution its indexes are keyed on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ExecFacts {
    pub id: ExecutionId,
    pub brand: BrandId,
    pub schedule: Option<ScheduleId>,
    pub target_id: uuid::Uuid,
    pub status: ExecutionStatus,
    pub scheduled_ms: Millis,
    pub finished_ms: Option<Millis>,
}

impl From<&Execution> for ExecFacts {
    fn from(e: &Execution) -> Self {
        ExecFacts {
            id: e.id,
            brand: e.brand,
            schedule: e.schedule,
            target_id: e.target_id,
            status: e.status,
            scheduled_ms: e.scheduled_ms,
            finished_ms: e.finished_ms,
        }
    }
}

/// An execution record encoded by its caller, before the write: the store's one writer
/// thread then only copies the bytes and changes the index rows (encoding an execution as
/// JSON was 2.8 % of the daemon's CPU at 20,000 offered executions/s, all of it on that
/// thread).
#[derive(Debug)]
pub(crate) struct EncodedExecution {
    pub facts: ExecFacts,
    /// The record as stored ([`codec::encode`]).
    pub bytes: Vec<u8>,
}

impl EncodedExecution {
    pub(crate) fn of(e: &Execution) -> Self {
        EncodedExecution { facts: ExecFacts::from(e), bytes: codec::encode(e) }
    }
}

/// The slots of [`ExecTables::idx`], in [`EXEC_INDEXES`] order.
const BY_STATUS: usize = 0;
const BY_TARGET: usize = 1;
const BY_SCHEDULE: usize = 2;
const BY_TIME: usize = 3;
const EXPIRY: usize = 4;
/// The by-schedule rows live in the schedule table, after their schedule's record
/// ([`schedule_row_key`]).
const EXEC_INDEXES: [Bytes; 5] = [EXEC_BY_STATUS, EXEC_BY_TARGET, SCHEDULES, EXEC_BY_TIME, EXEC_EXPIRY];

/// Length of a schedule record's key (brand ‖ schedule id) in the schedule table; its
/// execution rows' keys are 16 bytes longer.
pub(crate) const SCHEDULE_KEY_LEN: usize = 32;

/// The key of an execution's row in the schedule table: brand (16) ‖ schedule id (16) ‖ the
/// execution id with every bit flipped (16). Execution ids are time-ordered (UUID v7), so the
/// flipped ids sort newest first and the newest row follows its schedule's record: a fire
/// writes the record and its row on one B-tree leaf instead of two (with 20,000 schedules
/// firing, the separate row's leaf cost about a fifth of the throughput; docs/design.md).
pub(crate) fn schedule_row_key(brand: &[u8], schedule: &[u8], execution: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(brand.len() + schedule.len() + execution.len());
    k.extend_from_slice(brand);
    k.extend_from_slice(schedule);
    k.extend(execution.iter().map(|b| !b));
    k
}

/// The execution id of a row in the schedule table (its last 16 bytes, flipped back).
///
/// Errors: `Corrupt` for a key that is not a row's (brand ‖ schedule ‖ !id).
pub(crate) fn schedule_row_execution(k: &[u8]) -> Result<[u8; 16], StoreError> {
    match k.get(SCHEDULE_KEY_LEN..) {
        Some(id) if id.len() == 16 => Ok(std::array::from_fn(|i| !id[i])),
        _ => Err(StoreError::Corrupt {
            table: "schedules",
            detail: "an execution row's key is not brand ‖ schedule ‖ id".into(),
        }),
    }
}

/// The key of an execution's row under `prefix` in the execution index `def`: the schedule
/// table's rows end in the flipped id ([`schedule_row_key`]), the other indexes' in the id.
pub(crate) fn exec_row_key(def: Bytes, prefix: &[u8], id: &[u8]) -> Vec<u8> {
    if is_schedule_table(def) { schedule_row_key(prefix, &[], id) } else { key(&[prefix, id]) }
}

/// Visits the rows of one execution index under `prefix` (a filter's value), newest first:
/// `f(execution id, scheduled instant bytes)` until it returns false.
pub(crate) fn scan_exec_rows(
    def: Bytes,
    idx: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    if is_schedule_table(def) {
        scan_schedule_rows(idx, prefix, |id, v| f(id, v))
    } else {
        scan_prefix_rev(idx, prefix, |k, v| f(&k[k.len().saturating_sub(16)..], v))
    }
}

fn is_schedule_table(def: Bytes) -> bool {
    redb::TableHandle::name(&def) == redb::TableHandle::name(&SCHEDULES)
}

/// Visits the execution rows of one schedule (`prefix` = brand ‖ schedule id) in the schedule
/// table, newest first: `f(execution id, scheduled instant bytes)` until it returns false.
/// The schedule's record (the key equal to `prefix`) is not visited.
pub(crate) fn scan_schedule_rows(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    mut f: impl FnMut(&[u8; 16], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let end = prefix_end(prefix);
    let hi = match &end {
        Some(e) => Bound::Excluded(e.as_slice()),
        None => Bound::Unbounded,
    };
    scan_range(t, Bound::Excluded(prefix), hi, false, |k, v| f(&schedule_row_execution(k)?, v))
}

/// The status codes of executions not finished yet ([`exec_status_code`] of pending and
/// running): their `exec_by_status` rows are what a restart resumes.
pub(crate) const UNFINISHED_CODES: [u8; 2] = [1, 2];

impl ExecFacts {
    /// The index rows of this execution: (slot, key, value).
    fn rows(&self) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
        let (b, id) = (self.brand.as_bytes(), self.id.as_bytes());
        let at = self.scheduled_ms.to_le_bytes().to_vec();
        let mut rows = vec![
            (BY_STATUS, key(&[b, &[exec_status_code(self.status)], id]), at.clone()),
            (BY_TARGET, key(&[b, self.target_id.as_bytes(), id]), at.clone()),
            (BY_TIME, key(&[b, &ord_ms(self.scheduled_ms), id]), Vec::new()),
        ];
        if let Some(s) = self.schedule {
            rows.push((BY_SCHEDULE, schedule_row_key(b, s.as_bytes(), id), at));
        }
        if self.status.is_finished()
            && let Some(f) = self.finished_ms
        {
            rows.push((EXPIRY, key(&[&ord_ms(f), b, id]), Vec::new()));
        }
        rows
    }

    fn counters(&self) -> Vec<Vec<u8>> {
        let b = self.brand.as_bytes();
        let mut c = vec![
            counter_key(tag::EXECUTIONS, &[b]),
            counter_key(tag::EXEC_STATUS, &[b, &[exec_status_code(self.status)]]),
            counter_key(tag::EXEC_TARGET, &[b, self.target_id.as_bytes()]),
        ];
        if let Some(s) = self.schedule {
            c.push(counter_key(tag::EXEC_SCHEDULE, &[b, s.as_bytes()]));
        }
        c
    }
}

/// Visits the unfinished executions of every brand through `exec_by_status`: `f(brand, id)`
/// for each row of the [`UNFINISHED_CODES`], brand by brand, oldest first within a status.
/// It seeks from one brand to the next, so it reads those rows and one more key per brand,
/// never the finished ones.
///
/// Errors: `Corrupt` for a row whose key is not brand (16) ‖ code (1) ‖ id (16).
pub(crate) fn for_each_unfinished(
    idx: &impl ReadableTable<&'static [u8], &'static [u8]>,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut from = Vec::new();
    loop {
        let brand: Vec<u8> = {
            let mut range = idx.range::<&[u8]>(from.as_slice()..).map_err(StoreError::from_db)?;
            let Some(entry) = range.next() else { return Ok(()) };
            let (k, _) = entry.map_err(StoreError::from_db)?;
            k.value().get(..16).ok_or_else(unfinished_row_corrupt)?.to_vec()
        };
        for_each_unfinished_of(idx, &brand, |id| f(&brand, id))?;
        match prefix_end(&brand) {
            Some(next) => from = next,
            None => return Ok(()),
        }
    }
}

/// Visits one brand's unfinished executions (its `exec_by_status` rows of the
/// [`UNFINISHED_CODES`]): `f(id)`, oldest first within a status.
///
/// Errors: `Corrupt` for a row whose key is not brand (16) ‖ code (1) ‖ id (16).
pub(crate) fn for_each_unfinished_of(
    idx: &impl ReadableTable<&'static [u8], &'static [u8]>,
    brand: &[u8],
    mut f: impl FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    // A plain range (no read failpoint): the simulation's checker reads through this too,
    // around the faults it injects into the daemon (`store::inspect`).
    for code in UNFINISHED_CODES {
        let prefix = key(&[brand, &[code]]);
        for entry in idx.range::<&[u8]>(prefix.as_slice()..).map_err(StoreError::from_db)? {
            let (k, _) = entry.map_err(StoreError::from_db)?;
            let Some(id) = k.value().strip_prefix(prefix.as_slice()) else { break };
            if id.len() != 16 {
                return Err(unfinished_row_corrupt());
            }
            f(id)?;
        }
    }
    Ok(())
}

pub(crate) fn unfinished_row_corrupt() -> StoreError {
    StoreError::Corrupt { table: "exec_by_status", detail: "a row's key is not brand ‖ code ‖ id".into() }
}

/// How many executions are unfinished, summed over every brand's status counters (one
/// counter row per brand and status, never the records).
pub(crate) fn unfinished_count(counts: &impl ReadableTable<&'static [u8], &'static [u8]>) -> Result<u64, StoreError> {
    let mut n = 0u64;
    super::scan_prefix(counts, &[tag::EXEC_STATUS], |k, v| {
        if k.len() == 1 + 16 + 1 && UNFINISHED_CODES.contains(&k[17]) {
            n = n.saturating_add(decode_u64(v));
        }
        Ok(true)
    })?;
    Ok(n)
}

/// The execution record table with its index tables and the counters, open in one write.
/// Every write of an execution record goes through [`ExecTables::save`] or
/// [`ExecTables::remove`]; [`ExecTables::finish`] writes the counter changes (an operation that
/// returns early with an error skips it, and the writer takes the whole operation back).
pub(crate) struct ExecTables<'w> {
    pub records: BytesTable<'w>,
    w: &'w WriteTransaction,
    /// The index tables, each opened at its first write (a finished execution changes 2 of
    /// the 5; opening a table costs a B-tree lookup of its root).
    idx: [Option<BytesTable<'w>>; 5],
    deltas: Deltas,
}

impl<'w> ExecTables<'w> {
    pub(crate) fn open(w: &'w WriteTransaction) -> Result<Self, StoreError> {
        let records = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
        Ok(ExecTables { records, w, idx: Default::default(), deltas: Deltas::default() })
    }

    /// The index table of `slot`, opened at its first use.
    fn index(&mut self, slot: usize) -> Result<&mut BytesTable<'w>, StoreError> {
        match &mut self.idx[slot] {
            Some(t) => Ok(t),
            empty => Ok(empty.insert(self.w.open_table(EXEC_INDEXES[slot]).map_err(StoreError::from_db)?)),
        }
    }

    pub(crate) fn get(&self, brand: BrandId, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        super::get(&self.records, "executions", &key(&[brand.as_bytes(), id.as_bytes()]))
    }

    /// The indexed fields of a stored execution (decodes only those).
    pub(crate) fn facts(&self, brand: BrandId, id: ExecutionId) -> Result<Option<ExecFacts>, StoreError> {
        super::get(&self.records, "executions", &key(&[brand.as_bytes(), id.as_bytes()]))
    }

    /// The facts of the stored record of `new`'s execution when that record is unfinished
    /// (pending or running), read from `exec_by_status` instead of decoding the record: an
    /// execution has exactly one status row, and its other indexed fields (brand, schedule,
    /// target, scheduled instant) never change once it is stored, while `finished_ms` is
    /// keyed only for finished ones. `None`: the stored record is finished, or absent; the
    /// caller then reads it ([`ExecTables::facts`]). Costs one or two lookups in the status
    /// index instead of a record read and a JSON decode on every outcome write.
    pub(crate) fn unfinished_facts(&mut self, new: &ExecFacts) -> Result<Option<ExecFacts>, StoreError> {
        let (b, id) = (new.brand.as_bytes(), new.id.as_bytes());
        for status in [ExecutionStatus::Pending, ExecutionStatus::Running] {
            if super::get_raw(self.index(BY_STATUS)?, &key(&[b, &[exec_status_code(status)], id]))?.is_some() {
                return Ok(Some(ExecFacts { status, finished_ms: None, ..new.clone() }));
            }
        }
        Ok(None)
    }

    /// Writes an execution record (new or replacing one) and brings its index rows and
    /// counters in step; returns the facts of the record it replaced.
    pub(crate) fn save(&mut self, e: &Execution) -> Result<Option<ExecFacts>, StoreError> {
        self.save_encoded(&EncodedExecution::of(e))
    }

    /// [`ExecTables::save`] of a record encoded before the write (off the writer thread).
    pub(crate) fn save_encoded(&mut self, e: &EncodedExecution) -> Result<Option<ExecFacts>, StoreError> {
        let k = key(&[e.facts.brand.as_bytes(), e.facts.id.as_bytes()]);
        let old = super::replace_raw(&mut self.records, &k, &e.bytes)?;
        let old = old.map(|v| codec::decode::<ExecFacts>("executions", &v)).transpose()?;
        self.reindex(old.as_ref(), Some(&e.facts))?;
        Ok(old)
    }

    /// [`ExecTables::save_encoded`] over a stored record whose facts the caller has just read
    /// (the replaced record is not decoded again).
    pub(crate) fn save_over(&mut self, e: &EncodedExecution, old: &ExecFacts) -> Result<(), StoreError> {
        let k = key(&[e.facts.brand.as_bytes(), e.facts.id.as_bytes()]);
        put_raw(&mut self.records, &k, &e.bytes)?;
        self.reindex(Some(old), Some(&e.facts))
    }

    /// Removes an execution record with its index rows; returns its facts (`None`: absent).
    pub(crate) fn remove(&mut self, brand: BrandId, id: ExecutionId) -> Result<Option<ExecFacts>, StoreError> {
        let k = key(&[brand.as_bytes(), id.as_bytes()]);
        let Some(v) = get_raw(&self.records, &k)? else { return Ok(None) };
        let old: ExecFacts = codec::decode("executions", &v)?;
        remove(&mut self.records, &k)?;
        self.reindex(Some(&old), None)?;
        Ok(Some(old))
    }

    /// Adds the index rows and counters of a stored record (the schema 1 → 2 migration).
    pub(crate) fn index_stored(&mut self, facts: &ExecFacts) -> Result<(), StoreError> {
        self.reindex(None, Some(facts))
    }

    fn reindex(&mut self, old: Option<&ExecFacts>, new: Option<&ExecFacts>) -> Result<(), StoreError> {
        if old.is_some() && old == new {
            return Ok(());
        }
        let old_rows = old.map(ExecFacts::rows).unwrap_or_default();
        let new_rows = new.map(ExecFacts::rows).unwrap_or_default();
        for (slot, k, _) in old_rows.iter().filter(|r| !new_rows.iter().any(|n| n.0 == r.0 && n.1 == r.1)) {
            remove(self.index(*slot)?, k)?;
        }
        for (slot, k, v) in &new_rows {
            if !old_rows.iter().any(|o| o.0 == *slot && o.1 == *k && o.2 == *v) {
                put_raw(self.index(*slot)?, k, v)?;
            }
        }
        let old_c = old.map(ExecFacts::counters).unwrap_or_default();
        let new_c = new.map(ExecFacts::counters).unwrap_or_default();
        for c in old_c.iter().filter(|c| !new_c.contains(c)) {
            self.deltas.add(c.clone(), -1);
        }
        for c in new_c.into_iter().filter(|c| !old_c.contains(c)) {
            self.deltas.add(c, 1);
        }
        Ok(())
    }

    /// Writes the counter changes (after the tables are closed).
    pub(crate) fn finish(self, w: &WriteTransaction) -> Result<(), StoreError> {
        let ExecTables { records, idx, deltas, .. } = self;
        drop(records);
        drop(idx);
        deltas.apply_in(w)
    }
}

// ---------------------------------------------------------------------------------------------
// Runs, plans, schedules

/// The fields of a run its index is keyed on.
#[derive(Debug, Deserialize)]
pub(crate) struct RunFacts {
    pub id: ExecutionId,
    pub brand: BrandId,
    pub workflow: WorkflowId,
}

/// Writes a run record; a new run gets its index row and counters.
pub(crate) fn save_run(w: &WriteTransaction, run: &crate::model::Run) -> Result<(), StoreError> {
    let mut t = w.open_table(RUNS).map_err(StoreError::from_db)?;
    let old = super::replace_raw(&mut t, &key(&[run.brand.as_bytes(), run.id.as_bytes()]), &codec::encode(run))?;
    drop(t);
    if old.is_none() {
        index_run(w, &RunFacts { id: run.id, brand: run.brand, workflow: run.workflow }, 1)?;
    }
    Ok(())
}

/// Removes a run record with its index row and counters.
pub(crate) fn remove_run(w: &WriteTransaction, brand: BrandId, id: ExecutionId) -> Result<bool, StoreError> {
    let mut t = w.open_table(RUNS).map_err(StoreError::from_db)?;
    let k = key(&[brand.as_bytes(), id.as_bytes()]);
    let Some(v) = get_raw(&t, &k)? else { return Ok(false) };
    let facts: RunFacts = codec::decode("runs", &v)?;
    remove(&mut t, &k)?;
    drop(t);
    index_run(w, &facts, -1)?;
    Ok(true)
}

/// Adds (`d` = 1) or removes (`d` = −1) a run's index row and counts it.
pub(crate) fn index_run(w: &WriteTransaction, f: &RunFacts, d: i64) -> Result<(), StoreError> {
    let (b, wf) = (f.brand.as_bytes(), f.workflow.as_bytes());
    let mut idx = w.open_table(RUNS_BY_WORKFLOW).map_err(StoreError::from_db)?;
    let k = key(&[b, wf, f.id.as_bytes()]);
    if d > 0 {
        put_raw(&mut idx, &k, &[])?
    } else {
        remove(&mut idx, &k)?
    }
    drop(idx);
    let mut deltas = Deltas::default();
    deltas.add(counter_key(tag::RUNS, &[b]), d);
    deltas.add(counter_key(tag::RUNS_WORKFLOW, &[b, wf]), d);
    deltas.apply_in(w)
}

/// The fields of an approval plan its index is keyed on.
#[derive(Debug, Deserialize)]
pub(crate) struct PlanFacts {
    pub id: PlanId,
    pub brand: BrandId,
    pub status: PlanStatus,
    #[serde(default)]
    pub standalone: Option<serde::de::IgnoredAny>,
}

impl PlanFacts {
    fn waiting(&self) -> bool {
        self.status == PlanStatus::WaitingApproval
    }
}

/// Writes an approval plan record and keeps the waiting index and counters in step.
pub(crate) fn save_plan(w: &WriteTransaction, p: &crate::model::ApprovalPlan) -> Result<(), StoreError> {
    let mut t = w.open_table(PLANS).map_err(StoreError::from_db)?;
    let old = super::replace_raw(&mut t, &key(&[p.brand.as_bytes(), p.id.as_bytes()]), &codec::encode(p))?;
    drop(t);
    let old = old.map(|v| codec::decode::<PlanFacts>("plans", &v)).transpose()?;
    let was = old.as_ref().is_some_and(PlanFacts::waiting);
    let is = p.status == PlanStatus::WaitingApproval;
    if was != is {
        let facts = PlanFacts {
            id: p.id,
            brand: p.brand,
            status: p.status,
            standalone: p.is_standalone().then_some(serde::de::IgnoredAny),
        };
        index_waiting_plan(w, &facts, if is { 1 } else { -1 })?;
    }
    Ok(())
}

/// Removes an approval plan record with its index row and counters.
pub(crate) fn remove_plan(w: &WriteTransaction, brand: BrandId, id: PlanId) -> Result<bool, StoreError> {
    let mut t = w.open_table(PLANS).map_err(StoreError::from_db)?;
    let k = key(&[brand.as_bytes(), id.as_bytes()]);
    let Some(v) = get_raw(&t, &k)? else { return Ok(false) };
    let facts: PlanFacts = codec::decode("plans", &v)?;
    remove(&mut t, &k)?;
    drop(t);
    if facts.waiting() {
        index_waiting_plan(w, &facts, -1)?;
    }
    Ok(true)
}

/// Adds (`d` = 1) or removes (`d` = −1) a waiting plan's index row and counts it.
pub(crate) fn index_waiting_plan(w: &WriteTransaction, f: &PlanFacts, d: i64) -> Result<(), StoreError> {
    let b = f.brand.as_bytes();
    let mut idx = w.open_table(PLANS_WAITING).map_err(StoreError::from_db)?;
    let k = key(&[b, f.id.as_bytes()]);
    if d > 0 {
        put_raw(&mut idx, &k, &[])?
    } else {
        remove(&mut idx, &k)?
    }
    drop(idx);
    let mut deltas = Deltas::default();
    deltas.add(counter_key(tag::PLANS_WAITING, &[b]), d);
    if f.standalone.is_some() {
        deltas.add(counter_key(tag::STANDALONE_WAITING, &[b]), d);
    }
    deltas.apply_in(w)
}

/// The fields of a schedule its index is keyed on, and its version (a fire's check).
#[derive(Debug, Deserialize)]
pub(crate) struct ScheduleFacts {
    pub id: ScheduleId,
    pub brand: BrandId,
    pub status: ScheduleStatus,
    #[serde(default)]
    pub version: u64,
}

/// Length of a schedule record's header: version (u64, little-endian) ‖ status
/// ([`schedule_status_code`]).
const SCHEDULE_HEADER: usize = 9;

impl ScheduleFacts {
    pub(crate) fn of(s: &crate::model::Schedule) -> ScheduleFacts {
        ScheduleFacts { id: s.id, brand: s.brand, status: s.status, version: s.version }
    }

    /// The record header of a schedule with these facts (record formats 2 and 3, see `codec`);
    /// brand and id are the record's key.
    pub(crate) fn header(&self) -> [u8; SCHEDULE_HEADER] {
        let mut h = [0; SCHEDULE_HEADER];
        h[..8].copy_from_slice(&self.version.to_le_bytes());
        h[8] = schedule_status_code(self.status);
        h
    }

    /// The facts of a stored schedule record under `key` (brand ‖ id): from the header of a
    /// format 2 or 3 record, without decoding the record (a fire reads them for every
    /// schedule it advances: parsing the JSON was 9 % of the store writer's instructions per
    /// execution in `write_path`); a record without a header (format 1, written before
    /// schema 4) is decoded.
    ///
    /// Errors: `Corrupt` for a key that is not 32 bytes, a header of another length or an
    /// unknown status code, or a record without a header that does not decode.
    pub(crate) fn read(key: &[u8], bytes: &[u8]) -> Result<ScheduleFacts, StoreError> {
        let Some(h) = codec::header(bytes) else { return codec::decode("schedules", bytes) };
        let corrupt = |detail: &str| StoreError::Corrupt { table: "schedules", detail: detail.into() };
        let (Ok(version), Some(&code), Some((brand, id))) =
            (<[u8; 8]>::try_from(h.get(..8).unwrap_or_default()), h.get(8), key.split_at_checked(16))
        else {
            return Err(corrupt("bad record header"));
        };
        if h.len() != SCHEDULE_HEADER {
            return Err(corrupt("bad record header"));
        }
        let status = ScheduleStatus::ALL
            .into_iter()
            .find(|s| schedule_status_code(*s) == code)
            .ok_or_else(|| corrupt("unknown status code in the record header"))?;
        Ok(ScheduleFacts {
            id: crate::model::ScheduleId(codec::decode_id("schedules", id)?),
            brand: BrandId(codec::decode_id("schedules", brand)?),
            status,
            version: u64::from_le_bytes(version),
        })
    }
}

/// Brings the status index and counters of a schedule in step with a write: `old` is the
/// record it replaced (`None`: a new one), `new` the one written (`None`: removed).
pub(crate) fn reindex_schedule(
    w: &WriteTransaction,
    old: Option<&ScheduleFacts>,
    new: Option<&ScheduleFacts>,
) -> Result<(), StoreError> {
    let old_s = old.map(|f| f.status);
    let new_s = new.map(|f| f.status);
    if old.is_some() && old_s == new_s {
        return Ok(());
    }
    let Some(f) = new.or(old) else { return Ok(()) };
    let b = f.brand.as_bytes();
    let mut idx = w.open_table(SCHEDULES_BY_STATUS).map_err(StoreError::from_db)?;
    let mut deltas = Deltas::default();
    if let Some(s) = old_s {
        let code = schedule_status_code(s);
        remove(&mut idx, &key(&[b, &[code], f.id.as_bytes()]))?;
        deltas.add(counter_key(tag::SCHEDULE_STATUS, &[b, &[code]]), -1);
    }
    if let Some(s) = new_s {
        let code = schedule_status_code(s);
        put_raw(&mut idx, &key(&[b, &[code], f.id.as_bytes()]), &[])?;
        deltas.add(counter_key(tag::SCHEDULE_STATUS, &[b, &[code]]), 1);
    }
    drop(idx);
    let created = match (old.is_some(), new.is_some()) {
        (false, true) => 1,
        (true, false) => -1,
        _ => 0,
    };
    if created != 0 {
        deltas.add(counter_key(tag::SCHEDULES, &[b]), created);
        let mut ids = w.open_table(SCHEDULE_IDS).map_err(StoreError::from_db)?;
        set_row(&mut ids, &key(&[b, f.id.as_bytes()]), created)?;
    }
    deltas.apply_in(w)
}

/// The fields of an event its indexes are keyed on (an event's source and status never change
/// once it is stored).
#[derive(Debug, Deserialize)]
pub(crate) struct EventFacts {
    pub id: EventId,
    pub brand: BrandId,
    pub source: Option<SourceId>,
    pub status: EventStatus,
}

/// Writes an event record (`t` is the open `events` table); a new event gets its index rows
/// and counters.
pub(crate) fn save_event(w: &WriteTransaction, t: &mut BytesTable<'_>, e: &Event) -> Result<(), StoreError> {
    save_event_encoded(w, t, e, &codec::encode(e))
}

/// [`save_event`] of `e` as encoded before the write (off the writer thread).
pub(crate) fn save_event_encoded(
    w: &WriteTransaction,
    t: &mut BytesTable<'_>,
    e: &Event,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let old = super::replace_raw(t, &key(&[e.brand.as_bytes(), e.id.as_bytes()]), bytes)?;
    if old.is_none() {
        index_event(w, &EventFacts { id: e.id, brand: e.brand, source: e.source, status: e.status }, 1)?;
    }
    Ok(())
}

/// Removes an event record (`t` is the open `events` table) with its index rows and counters.
pub(crate) fn remove_event(w: &WriteTransaction, t: &mut BytesTable<'_>, k: &[u8]) -> Result<bool, StoreError> {
    let Some(v) = get_raw(t, k)? else { return Ok(false) };
    let facts: EventFacts = codec::decode("events", &v)?;
    remove(t, k)?;
    index_event(w, &facts, -1)?;
    Ok(true)
}

/// Adds (`d` = 1) or removes (`d` = −1) an event's index rows and counts it.
pub(crate) fn index_event(w: &WriteTransaction, f: &EventFacts, d: i64) -> Result<(), StoreError> {
    let (b, id) = (f.brand.as_bytes(), f.id.as_bytes());
    let source = event_source_part(f.source);
    let code = [event_status_code(f.status)];
    for (def, k) in [(EVENTS_BY_SOURCE, key(&[b, &source, id])), (EVENTS_BY_STATUS, key(&[b, &code, id]))] {
        let mut idx = w.open_table(def).map_err(StoreError::from_db)?;
        set_row(&mut idx, &k, d)?;
    }
    let mut deltas = Deltas::default();
    deltas.add(counter_key(tag::EVENTS, &[b]), d);
    deltas.add(counter_key(tag::EVENT_SOURCE, &[b, &source]), d);
    deltas.add(counter_key(tag::EVENT_STATUS, &[b, &code]), d);
    deltas.apply_in(w)
}

// ---------------------------------------------------------------------------------------------
// Schema 1 → 2

/// Builds every index and counter of schema 2 from the records of a schema 1 store, inside the
/// migration's write: executions (whose by-schedule rows gain the scheduled
/// instant), runs, waiting plans and schedules. Returns how many records were indexed.
pub(crate) fn build_all(w: &WriteTransaction) -> Result<u64, StoreError> {
    let mut n = 0u64;
    {
        let mut facts = Vec::new();
        let records = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
        super::scan_prefix(&records, &[], |_, v| {
            facts.push(codec::decode::<ExecFacts>("executions", v)?);
            Ok(true)
        })?;
        drop(records);
        let mut t = ExecTables::open(w)?;
        for f in &facts {
            t.index_stored(f)?;
        }
        n += facts.len() as u64;
        t.finish(w)?;
    }
    let runs: Vec<RunFacts> = collect(w, RUNS, "runs")?;
    for r in &runs {
        index_run(w, r, 1)?;
    }
    let plans: Vec<PlanFacts> = collect(w, PLANS, "plans")?;
    for p in plans.iter().filter(|p| p.waiting()) {
        index_waiting_plan(w, p, 1)?;
    }
    let schedules: Vec<ScheduleFacts> =
        super::schedules::all_records(&w.open_table(SCHEDULES).map_err(StoreError::from_db)?, &[])?;
    for s in &schedules {
        reindex_schedule(w, None, Some(s))?;
    }
    let events: Vec<EventFacts> = collect(w, EVENTS, "events")?;
    for e in &events {
        index_event(w, e, 1)?;
    }
    Ok(n + (runs.len() + plans.len() + schedules.len() + events.len()) as u64)
}

fn collect<T: serde::de::DeserializeOwned>(
    w: &WriteTransaction,
    def: Bytes,
    name: &'static str,
) -> Result<Vec<T>, StoreError> {
    let t = w.open_table(def).map_err(StoreError::from_db)?;
    super::all_prefix(&t, name, &[])
}

/// Test support: recomputes every index row and counter from the records and asserts the
/// tables hold exactly those (no row missing, none extra, every counter exact).
#[cfg(test)]
pub(crate) fn assert_consistent(store: &crate::store::Store) {
    use std::collections::{BTreeMap, BTreeSet};

    use redb::TableHandle;
    type Rows = BTreeSet<(Vec<u8>, Vec<u8>)>;
    let table = |def: Bytes| -> Rows {
        store
            .read(|r| {
                let t = r.open_table(def).map_err(StoreError::from_db)?;
                let mut out = BTreeSet::new();
                super::scan_prefix(&t, &[], |k, v| {
                    out.insert((k.to_vec(), v.to_vec()));
                    Ok(true)
                })?;
                Ok(out)
            })
            .expect("read table")
    };
    let decode_all = |def: Bytes| -> Vec<Vec<u8>> { table(def).into_iter().map(|(_, v)| v).collect() };
    let mut expected: BTreeMap<String, Rows> = BTreeMap::new();
    let mut counters: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for d in EXEC_INDEXES {
        expected.insert(d.name().to_string(), Rows::new());
    }
    for v in decode_all(EXECUTIONS) {
        let f: ExecFacts = codec::decode("executions", &v).expect("execution facts");
        for (slot, k, v) in f.rows() {
            expected.get_mut(EXEC_INDEXES[slot].name()).expect("slot").insert((k, v));
        }
        for c in f.counters() {
            *counters.entry(c).or_default() += 1;
        }
    }
    let mut runs = Rows::new();
    for v in decode_all(RUNS) {
        let f: RunFacts = codec::decode("runs", &v).expect("run facts");
        let (b, wf) = (f.brand.as_bytes(), f.workflow.as_bytes());
        runs.insert((key(&[b, wf, f.id.as_bytes()]), Vec::new()));
        *counters.entry(counter_key(tag::RUNS, &[b])).or_default() += 1;
        *counters.entry(counter_key(tag::RUNS_WORKFLOW, &[b, wf])).or_default() += 1;
    }
    expected.insert(RUNS_BY_WORKFLOW.name().to_string(), runs);
    let mut waiting = Rows::new();
    for v in decode_all(PLANS) {
        let f: PlanFacts = codec::decode("plans", &v).expect("plan facts");
        if f.waiting() {
            let b = f.brand.as_bytes();
            waiting.insert((key(&[b, f.id.as_bytes()]), Vec::new()));
            *counters.entry(counter_key(tag::PLANS_WAITING, &[b])).or_default() += 1;
            if f.standalone.is_some() {
                *counters.entry(counter_key(tag::STANDALONE_WAITING, &[b])).or_default() += 1;
            }
        }
    }
    expected.insert(PLANS_WAITING.name().to_string(), waiting);
    let (mut by_status, mut ids) = (Rows::new(), Rows::new());
    let (records, rows): (Rows, Rows) = table(SCHEDULES).into_iter().partition(|(k, _)| k.len() == SCHEDULE_KEY_LEN);
    for (k, v) in records {
        let f: ScheduleFacts = codec::decode("schedules", &v).expect("schedule facts");
        // What a fire reads of the record (its header) is what the record holds.
        let read = ScheduleFacts::read(&k, &v).expect("schedule header");
        assert_eq!(
            (read.id, read.brand, read.status, read.version),
            (f.id, f.brand, f.status, f.version),
            "a schedule's record header disagrees with its record"
        );
        let (b, code) = (f.brand.as_bytes(), schedule_status_code(f.status));
        by_status.insert((key(&[b, &[code], f.id.as_bytes()]), Vec::new()));
        ids.insert((key(&[b, f.id.as_bytes()]), Vec::new()));
        *counters.entry(counter_key(tag::SCHEDULES, &[b])).or_default() += 1;
        *counters.entry(counter_key(tag::SCHEDULE_STATUS, &[b, &[code]])).or_default() += 1;
    }
    expected.insert(SCHEDULES_BY_STATUS.name().to_string(), by_status);
    expected.insert(SCHEDULE_IDS.name().to_string(), ids);
    let (mut by_source, mut ev_status) = (Rows::new(), Rows::new());
    for v in decode_all(EVENTS) {
        let f: EventFacts = codec::decode("events", &v).expect("event facts");
        let (b, id) = (f.brand.as_bytes(), f.id.as_bytes());
        let (source, code) = (event_source_part(f.source), event_status_code(f.status));
        by_source.insert((key(&[b, &source, id]), Vec::new()));
        ev_status.insert((key(&[b, &[code], id]), Vec::new()));
        *counters.entry(counter_key(tag::EVENTS, &[b])).or_default() += 1;
        *counters.entry(counter_key(tag::EVENT_SOURCE, &[b, &source])).or_default() += 1;
        *counters.entry(counter_key(tag::EVENT_STATUS, &[b, &[code]])).or_default() += 1;
    }
    expected.insert(EVENTS_BY_SOURCE.name().to_string(), by_source);
    expected.insert(EVENTS_BY_STATUS.name().to_string(), ev_status);
    let defs = EXEC_INDEXES
        .iter()
        .chain(&[
            RUNS_BY_WORKFLOW,
            PLANS_WAITING,
            SCHEDULES_BY_STATUS,
            SCHEDULE_IDS,
            EVENTS_BY_SOURCE,
            EVENTS_BY_STATUS,
        ])
        .copied();
    for def in defs {
        // The schedule table's execution rows are an index; its records are checked above.
        let found = if def.name() == SCHEDULES.name() { rows.clone() } else { table(def) };
        let want = &expected[def.name()];
        let missing: Vec<_> = want.difference(&found).take(3).collect();
        let extra: Vec<_> = found.difference(want).take(3).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{}: missing {missing:?}, extra {extra:?}", def.name());
    }
    let found: BTreeMap<Vec<u8>, u64> = table(COUNTS).into_iter().map(|(k, v)| (k, decode_u64(&v))).collect();
    assert_eq!(found, counters, "counters out of step with the records");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_sort_like_their_bytes_across_zero_and_the_extremes() {
        let ms = [Millis::MIN, -1_000, -1, 0, 1, 1_796_131_953_553, Millis::MAX];
        for pair in ms.windows(2) {
            assert!(ord_ms(pair[0]) < ord_ms(pair[1]), "{} !< {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn the_end_of_a_prefix_is_the_next_key_after_all_of_it() {
        assert_eq!(prefix_end(&[1, 2, 3]), Some(vec![1, 2, 4]));
        assert_eq!(prefix_end(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
