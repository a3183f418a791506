//! The simulation's checker: after every step it reads one snapshot of the store (around the
//! failpoints) and the receiver's log, and checks the safety invariants incrementally — each
//! look reads only what changed since the last one, so a step costs microseconds however long
//! the history is. At the end it checks liveness and the whole history once more.
//!
//! Invariants (per step):
//! - every instant of a schedule's driver before its stored cursor has exactly one execution
//!   record, or is covered by one summarised `missed` record whose count is right, or is the
//!   schedule's buffered instant (`buffer_one`), recorded once it is released;
//! - a record is for an instant of its schedule's driver, with the fire's idempotency key and
//!   the deterministic jitter; `missed` only for an instant that came due while the daemon or
//!   the store was down; `skipped` only by a rule or an overlap policy the schedule has;
//! - cursors never move back; schedules without an end stay active; a `skip` or `buffer_one`
//!   schedule never has two unfinished executions;
//! - an execution leaves the pending index only with a final status, and a final status never
//!   changes (checked on a rotating sample every step, on all of them at the end);
//! - every request on the wire has a record, is not for a `missed`/`skipped` instant, is not
//!   before its due time, goes to its template's host and path with the secret header rendered
//!   and the webhook id equal to the key; no two requests of one execution are in flight at once;
//! - while the store has been healthy for a while, no active schedule falls behind.
//!
//! At the end: every instant up to the horizon is recorded, no execution up to it is still
//! pending, each schedule's `total_triggered` equals its fired records, and each execution's
//! recorded attempts pair one to one with requests on the wire (the only unrecorded requests are
//! the last ones of a life that was killed: at-least-once duplicates), with the answers the
//! receiver gave, the final status its last answer implies, and no retry before its backoff or
//! `Retry-After`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::transport::{Answer, Log};
use crate::delivery::retry;
use crate::model::{
    BrandId, Execution, ExecutionId, ExecutionStatus, OverlapPolicy, RetryPolicy, Schedule, ScheduleId, ScheduleStatus,
    fire_idempotency_key, jitter_ms,
};
use crate::schedule::Driver;
use crate::store::{Inspect, Store};
use crate::time::Millis;

/// How far an active schedule may fall behind while the store has been healthy this long.
const LAG_MAX_MS: i64 = 60_000;
/// Finished records re-read per step to check that final statuses never change.
const RECHECK_PER_STEP: usize = 8;
/// Every this many steps the pending index is read whole.
const FULL_SCAN_EVERY: u64 = 64;

/// What the simulation created a schedule with.
#[derive(Debug, Clone)]
pub(super) struct SchedSpec {
    pub id: ScheduleId,
    pub driver: Driver,
    pub jitter_seconds: u32,
    pub overlap: OverlapPolicy,
    /// The cursor it was created with.
    pub first: Option<Millis>,
    pub retry: RetryPolicy,
    pub host: String,
    pub path: String,
    pub signed: bool,
    pub has_window: bool,
    pub max_runs: Option<u64>,
}

struct SchedState {
    spec: SchedSpec,
    raw: Vec<u8>,
    cursor: Option<Millis>,
    deadline: Option<Millis>,
    status: ScheduleStatus,
    buffered: Option<Millis>,
    total_triggered: u64,
    /// The next instant to verify (`None`: the driver has no more).
    verified: Option<Millis>,
    /// Individual records per instant.
    records: HashMap<Millis, u32>,
    max_recorded: Option<Millis>,
    /// Summarised missed records: first instant → (last instant, count).
    summaries: BTreeMap<Millis, (Millis, u64)>,
    /// Buffered instants passed by the cursor, waiting for their record.
    deferred: Vec<Millis>,
    /// Records of instants that fired (pending, then succeeded/failed).
    fired: u64,
    /// Of those, the ones not finished.
    unfinished: HashSet<ExecutionId>,
}

struct ExecState {
    sched: usize,
    instant: Millis,
    due_ms: Millis,
    status: ExecutionStatus,
    attempts: usize,
}

/// Counters for the summary line.
#[derive(Debug, Default, Clone)]
pub(super) struct Stats {
    pub records: u64,
    pub fired: u64,
    pub missed: u64,
    pub summarised: u64,
    pub skipped: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub requests: u64,
    pub duplicates: u64,
    pub in_flight_at_end: u64,
    pub unreadable_steps: u64,
}

/// One life of the daemon, as the checker needs it.
#[derive(Debug, Clone, Copy)]
struct Life {
    killed: bool,
}

pub(super) struct Checker {
    seed: u64,
    brand: BrandId,
    scheds: Vec<SchedState>,
    by_id: HashMap<ScheduleId, usize>,
    execs: HashMap<ExecutionId, ExecState>,
    by_key: HashMap<String, ExecutionId>,
    order: Vec<ExecutionId>,
    recheck_at: usize,
    last_id: Option<ExecutionId>,
    pending: HashSet<ExecutionId>,
    log_seen: usize,
    /// Instants before this may be missed: the start of the current life or the end of the
    /// last store outage, whichever is later.
    missed_ok_before: Millis,
    /// Since when the store has been healthy in this life (no fault, writable).
    healthy_since: Option<Millis>,
    lives: Vec<Life>,
    checks: u64,
    pub stats: Stats,
}

impl Checker {
    pub fn new(seed: u64, brand: BrandId) -> Checker {
        Checker {
            seed,
            brand,
            scheds: Vec::new(),
            by_id: HashMap::new(),
            execs: HashMap::new(),
            by_key: HashMap::new(),
            order: Vec::new(),
            recheck_at: 0,
            last_id: None,
            pending: HashSet::new(),
            log_seen: 0,
            missed_ok_before: i64::MIN,
            healthy_since: None,
            lives: Vec::new(),
            checks: 0,
            stats: Stats::default(),
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("seed {:#x}: {what}", self.seed)
    }

    pub fn add_schedule(&mut self, spec: SchedSpec) {
        self.by_id.insert(spec.id, self.scheds.len());
        self.scheds.push(SchedState {
            raw: Vec::new(),
            cursor: spec.first,
            deadline: None,
            status: ScheduleStatus::Active,
            buffered: None,
            total_triggered: 0,
            verified: spec.first,
            records: HashMap::new(),
            max_recorded: None,
            summaries: BTreeMap::new(),
            deferred: Vec::new(),
            fired: 0,
            unfinished: HashSet::new(),
            spec,
        });
    }

    /// A new life (daemon process) starts at `now`.
    pub fn life_started(&mut self, now: Millis) {
        self.lives.push(Life { killed: false });
        self.missed_ok_before = self.missed_ok_before.max(now);
        self.healthy_since = None;
    }

    /// The current life was killed.
    pub fn life_killed(&mut self) {
        if let Some(l) = self.lives.last_mut() {
            l.killed = true;
        }
    }

    /// One step's check. `faulty`: a store fault is switched on (or the store is not
    /// writable yet), so instants may be missed until now.
    pub fn check(&mut self, store: &Store, log: &Arc<Mutex<Log>>, now: Millis, faulty: bool, life_start: Millis) {
        if faulty {
            self.missed_ok_before = self.missed_ok_before.max(now);
            self.healthy_since = None;
        } else if self.healthy_since.is_none() {
            self.healthy_since = Some(now);
        }
        let brand = self.brand;
        self.checks += 1;
        let full_scan = self.checks.is_multiple_of(FULL_SCAN_EVERY);
        let sample: Vec<ExecutionId> = (0..RECHECK_PER_STEP.min(self.order.len()))
            .map(|i| self.order[(self.recheck_at + i) % self.order.len()])
            .collect();
        self.recheck_at = self.recheck_at.wrapping_add(sample.len());
        let view = store.inspect(|v| {
            let mut changed = Vec::new();
            let mut seen = 0;
            v.schedules_raw(brand, |id, raw| {
                seen += 1;
                if let Some(&i) = self.by_id.get(&id)
                    && self.scheds[i].raw != raw
                {
                    changed.push((i, raw.to_vec()));
                }
            })?;
            let mut fresh = Vec::new();
            v.executions_after(brand, self.last_id, |e| fresh.push(e))?;
            // The pending index holds what was pending plus the new pending records, less
            // what finished: read it whole only when its size says something finished (and
            // now and then, to find ids it should not hold).
            let expected = self.pending.len() + fresh.iter().filter(|e| !e.status.is_finished()).count();
            let pending =
                if v.pending_len(brand)? != expected as u64 || full_scan { Some(v.pending(brand)?) } else { None };
            let mut left = Vec::new();
            if let Some(pending) = &pending {
                for id in self.pending.iter().filter(|id| !pending.contains(id)) {
                    left.push((*id, v.execution(brand, *id)?));
                }
            }
            let mut again = Vec::new();
            for id in &sample {
                again.push((*id, v.execution(brand, *id)?));
            }
            Ok((seen, changed, fresh, pending, left, again))
        });
        let (seen, changed, fresh, pending, left, again) = match view {
            Ok(v) => v,
            Err(e) if e.is_unavailable() => {
                // The writer is reopening the file: look again next step.
                self.stats.unreadable_steps += 1;
                return;
            }
            Err(e) => self.fail(format!("the checker cannot read the store: {e}")),
        };
        if seen != self.scheds.len() {
            self.fail(format!("{seen} schedules stored, {} created", self.scheds.len()));
        }
        // What finished first: a fire recorded in the same snapshot may depend on it.
        for (id, e) in left {
            self.left_pending(id, e);
        }
        for e in fresh {
            self.ingest(e);
        }
        if let Some(pending) = &pending {
            for id in pending {
                if !self.pending.contains(id) {
                    self.fail(format!("execution {id} is in the pending index but not a pending record"));
                }
            }
        }
        for (id, e) in again {
            self.recheck(id, e.as_ref());
        }
        for (i, raw) in changed {
            let s = Inspect::decode_schedule(&raw).unwrap_or_else(|e| self.fail(format!("schedule record: {e}")));
            self.scheds[i].raw = raw;
            self.schedule_changed(i, &s);
        }
        self.check_wire(log);
        self.check_lag(now, life_start);
    }

    /// A new execution record.
    fn ingest(&mut self, e: Execution) {
        self.last_id = Some(e.id);
        let Some(sid) = e.schedule else { self.fail(format!("execution {} has no schedule", e.id)) };
        let Some(&i) = self.by_id.get(&sid) else { self.fail(format!("execution {} of unknown schedule {sid}", e.id)) };
        let at = e.scheduled_ms;
        let s = &self.scheds[i];
        let key = fire_idempotency_key(sid, at);
        if e.idempotency_key != key {
            self.fail(format!("execution {} has key {} instead of {key}", e.id, e.idempotency_key));
        }
        let due = at + jitter_ms(&key, s.spec.jitter_seconds);
        if e.due_ms != due {
            self.fail(format!("execution {key}: due {} instead of {due}", e.due_ms));
        }
        let summary = e.status == ExecutionStatus::Missed
            && e.reason.as_deref().is_some_and(|r| r.contains("summarised in this record"));
        if summary {
            self.ingest_summary(i, &e);
        } else {
            if s.spec.driver.next_after(at - 1) != Some(at) {
                self.fail(format!("execution {key}: {at} is not an instant of {:?}", s.spec.driver));
            }
            if let Some((first, (last, _))) = s.summaries.range(..=at).next_back()
                && at <= *last
            {
                self.fail(format!("execution {key}: instant {at} is also in the summary {first}..={last}"));
            }
            let s = &mut self.scheds[i];
            let n = {
                let n = s.records.entry(at).or_default();
                *n += 1;
                *n
            };
            s.max_recorded = s.max_recorded.max(Some(at));
            if n > 1 {
                self.fail(format!("instant {at} of schedule {sid} is recorded {n} times"));
            }
        }
        self.stats.records += 1;
        match e.status {
            ExecutionStatus::Missed => {
                self.stats.missed += 1;
                if at >= self.missed_ok_before {
                    self.fail(format!(
                        "execution {key} is missed although the daemon and its store were up since {} (reason: {:?})",
                        self.missed_ok_before, e.reason
                    ));
                }
            }
            ExecutionStatus::Skipped => {
                self.stats.skipped += 1;
                let reason = e.reason.as_deref().unwrap_or("");
                let by_rule = e.skipped_rule.is_some();
                let ok = if by_rule {
                    self.scheds[i].spec.has_window
                } else {
                    reason.contains("overlap_policy") && self.scheds[i].spec.overlap != OverlapPolicy::Allow
                };
                if !ok {
                    self.fail(format!("execution {key} skipped without a cause the schedule has: {reason:?}"));
                }
            }
            ExecutionStatus::Pending | ExecutionStatus::Succeeded | ExecutionStatus::Failed => {
                self.stats.fired += 1;
                self.scheds[i].fired += 1;
            }
            other => self.fail(format!("execution {key} recorded as {}", other.as_str())),
        }
        if e.status.is_finished() {
            self.count_final(&e);
        } else {
            self.pending.insert(e.id);
            self.scheds[i].unfinished.insert(e.id);
            // `skip` and `buffer_one` start a fire only when nothing of the schedule runs.
            let s = &self.scheds[i];
            if s.unfinished.len() > 1 && s.spec.overlap != OverlapPolicy::Allow && !s.spec.driver.is_one_off() {
                let others: Vec<_> = s
                    .unfinished
                    .iter()
                    .filter(|x| **x != e.id)
                    .map(|x| (self.execs[x].instant, self.execs[x].attempts))
                    .collect();
                self.fail(format!(
                    "schedule {sid} (overlap {:?}): {key} ({:?}, created {}) fired while {others:?} (instant, attempts) had not finished",
                    s.spec.overlap, e.trigger, e.created_ms
                ));
            }
        }
        self.by_key.insert(key, e.id);
        self.order.push(e.id);
        self.execs.insert(
            e.id,
            ExecState { sched: i, instant: at, due_ms: e.due_ms, status: e.status, attempts: e.attempts.len() },
        );
    }

    /// A summarised `missed` record: "N instants from FIRST to LAST".
    fn ingest_summary(&mut self, i: usize, e: &Execution) {
        let reason = e.reason.as_deref().unwrap_or("");
        let parsed = (|| {
            let rest = reason.split("came due while the daemon was down: ").nth(1)?;
            let (n, rest) = rest.split_once(" instants from ")?;
            let (first, rest) = rest.split_once(" to ")?;
            let (last, _) = rest.split_once(' ')?;
            let ts = |t: &str| t.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond());
            Some((n.parse::<u64>().ok()?, ts(first)?, ts(last)?))
        })();
        let Some((n, first, last)) = parsed else { self.fail(format!("unreadable summary record: {reason:?}")) };
        if last != e.scheduled_ms {
            self.fail(format!("summary {reason:?} recorded at {}", e.scheduled_ms));
        }
        let s = &self.scheds[i];
        let mut count = 0u64;
        let mut t = Some(first);
        while let Some(x) = t.filter(|x| *x <= last) {
            if s.records.contains_key(&x) {
                self.fail(format!("instant {x} is in the summary {reason:?} and has its own record"));
            }
            count += 1;
            t = s.spec.driver.next_after(x);
        }
        if count != n || s.spec.driver.next_after(first - 1) != Some(first) {
            self.fail(format!("summary {reason:?}: the driver has {count} instants from {first} to {last}"));
        }
        if let Some((f, (l, _))) = s.summaries.range(..=last).next_back()
            && *l >= first
        {
            self.fail(format!("summaries {f}..={l} and {first}..={last} overlap"));
        }
        self.stats.summarised += n;
        self.scheds[i].summaries.insert(first, (last, n));
    }

    fn count_final(&mut self, e: &Execution) {
        match e.status {
            ExecutionStatus::Succeeded => self.stats.succeeded += 1,
            ExecutionStatus::Failed => self.stats.failed += 1,
            _ => {}
        }
    }

    /// An execution that was pending is no longer in the pending index.
    fn left_pending(&mut self, id: ExecutionId, e: Option<Execution>) {
        let Some(e) = e else { self.fail(format!("execution {id} left the pending index and its record is gone")) };
        if !matches!(e.status, ExecutionStatus::Succeeded | ExecutionStatus::Failed) {
            self.fail(format!("execution {} left the pending index as {}", e.idempotency_key, e.status.as_str()));
        }
        self.final_record_is_consistent(&e);
        let was = self.execs.get(&id).map_or(0, |st| st.attempts);
        if e.attempts.len() < was {
            self.fail(format!("execution {}: attempts went from {was} to {}", e.idempotency_key, e.attempts.len()));
        }
        if let Some(st) = self.execs.get_mut(&id) {
            st.status = e.status;
            st.attempts = e.attempts.len();
            self.scheds[st.sched].unfinished.remove(&id);
        }
        self.pending.remove(&id);
        self.count_final(&e);
    }

    /// A finished record on its own: the status its last attempt implies, a reason when failed.
    fn final_record_is_consistent(&self, e: &Execution) {
        let key = &e.idempotency_key;
        let Some(st) = self.execs.get(&e.id) else { return };
        let retry = &self.scheds[st.sched].spec.retry;
        let last = e.attempts.last();
        let ok = last.and_then(|a| a.status_code).is_some_and(|c| (200..300).contains(&c));
        match e.status {
            ExecutionStatus::Succeeded if !ok => self.fail(format!("execution {key} succeeded on {last:?}")),
            ExecutionStatus::Failed => {
                if ok {
                    self.fail(format!("execution {key} failed although its last attempt succeeded"));
                }
                if e.reason.as_deref().is_none_or(str::is_empty) {
                    self.fail(format!("execution {key} failed without a reason"));
                }
                let gone = last.and_then(|a| a.status_code) == Some(410);
                if !gone && e.attempts.len() != retry.max_retries as usize + 1 {
                    self.fail(format!(
                        "execution {key} failed after {} attempts with max_retries {}",
                        e.attempts.len(),
                        retry.max_retries
                    ));
                }
            }
            _ => {}
        }
        if e.attempts.len() > retry.max_retries as usize + 1 {
            self.fail(format!("execution {key}: {} attempts with max_retries {}", e.attempts.len(), retry.max_retries));
        }
    }

    /// Re-reads a record: a final status never changes, attempts never go away.
    fn recheck(&self, id: ExecutionId, e: Option<&Execution>) {
        let Some(st) = self.execs.get(&id) else { return };
        let Some(e) = e else { self.fail(format!("the record of execution {id} disappeared")) };
        if st.status.is_finished() && (e.status != st.status || e.attempts.len() != st.attempts) {
            self.fail(format!(
                "execution {} was {} with {} attempts and is now {} with {}",
                e.idempotency_key,
                st.status.as_str(),
                st.attempts,
                e.status.as_str(),
                e.attempts.len()
            ));
        }
        if e.attempts.len() < st.attempts {
            self.fail(format!("execution {}: attempts went back to {}", e.idempotency_key, e.attempts.len()));
        }
    }

    /// A schedule record changed: its cursor may have moved; verify the instants it passed.
    fn schedule_changed(&mut self, i: usize, s: &Schedule) {
        let st = &self.scheds[i];
        let id = st.spec.id;
        if let (Some(old), Some(new)) = (st.cursor, s.next_fire_ms)
            && new < old
        {
            self.fail(format!("schedule {id}: cursor moved back from {old} to {new}"));
        }
        if st.status != s.status && (st.status != ScheduleStatus::Active || !s.status.is_final()) {
            self.fail(format!("schedule {id}: status {} → {}", st.status.as_str(), s.status.as_str()));
        }
        if s.status.is_final() {
            let may_end = st.spec.driver.is_one_off() || st.spec.max_runs.is_some();
            if !may_end {
                self.fail(format!("schedule {id} ended ({:?}) although nothing ends it", s.reason));
            }
            if st.spec.max_runs.is_some_and(|m| s.total_triggered > m) {
                self.fail(format!("schedule {id}: {} runs, max_runs {:?}", s.total_triggered, st.spec.max_runs));
            }
        }
        if s.total_triggered < st.total_triggered {
            self.fail(format!("schedule {id}: total_triggered went back to {}", s.total_triggered));
        }
        // Everything before the cursor is decided; a final schedule decided what it recorded.
        let target = match s.next_fire_ms {
            Some(c) => Some(c),
            None if s.status.is_final() => st.max_recorded.map(|m| m + 1),
            None => self.fail(format!("active schedule {id} has no cursor: {s:?}")),
        };
        let st = &mut self.scheds[i];
        st.cursor = s.next_fire_ms;
        st.deadline = s.timer_deadline();
        st.status = s.status;
        st.buffered = s.buffered_ms;
        st.total_triggered = s.total_triggered;
        self.verify_upto(i, target);
        // Buffered instants the cursor passed: recorded once released (a schedule that ended
        // drops its buffered fire).
        let st = &self.scheds[i];
        let mut keep = Vec::new();
        for b in st.deferred.clone() {
            if st.buffered == Some(b) {
                keep.push(b);
            } else if st.records.get(&b).copied().unwrap_or(0) != 1 && !st.status.is_final() {
                self.fail(format!("schedule {id}: buffered instant {b} was released without a record"));
            }
        }
        self.scheds[i].deferred = keep;
    }

    /// Verifies every instant from the schedule's verified pointer up to (excluding) `target`.
    fn verify_upto(&mut self, i: usize, target: Option<Millis>) {
        let Some(target) = target else { return };
        loop {
            let st = &self.scheds[i];
            let Some(at) = st.verified.filter(|v| *v < target) else { return };
            let in_summary = st.summaries.range(..=at).next_back().is_some_and(|(_, (last, _))| at <= *last);
            let n = st.records.get(&at).copied().unwrap_or(0);
            let next = st.spec.driver.next_after(at);
            if !in_summary && n != 1 {
                if n == 0 && st.buffered == Some(at) {
                    self.scheds[i].deferred.push(at);
                } else {
                    self.fail(format!(
                        "schedule {} ({:?}): instant {at} is before the cursor {:?} and has {n} records",
                        st.spec.id, st.spec.driver, st.cursor
                    ));
                }
            }
            self.scheds[i].verified = next;
        }
    }

    /// New requests on the wire.
    fn check_wire(&mut self, log: &Arc<Mutex<Log>>) {
        let log = log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = log.violations.first() {
            self.fail(v.clone());
        }
        for sent in &log.sent[self.log_seen..] {
            let Some(id) = self.by_key.get(&sent.key) else {
                self.fail(format!("a request for {} at {} has no execution record", sent.key, sent.at_ms))
            };
            let st = &self.execs[id];
            let spec = &self.scheds[st.sched].spec;
            if matches!(st.status, ExecutionStatus::Missed | ExecutionStatus::Skipped) {
                self.fail(format!("a request for {}, which is {}", sent.key, st.status.as_str()));
            }
            if sent.at_ms < st.due_ms {
                self.fail(format!("a request for {} at {}, before it was due ({})", sent.key, sent.at_ms, st.due_ms));
            }
            let header_ok = sent.method == "POST"
                && sent.host == spec.host
                && sent.path == spec.path
                && sent.authorization.as_deref() == Some(super::AUTHORIZATION)
                && sent.signed == spec.signed
                && sent.webhook_id.as_deref() == Some(sent.key.as_str());
            if !header_ok {
                self.fail(format!("request for {} is not what its template says: {sent:?}", sent.key));
            }
        }
        self.log_seen = log.sent.len();
        self.stats.requests = log.sent.len() as u64;
    }

    /// While the store has been healthy for [`LAG_MAX_MS`] in this life, no active schedule is
    /// further behind than that.
    fn check_lag(&self, now: Millis, life_start: Millis) {
        let calm_since = self.healthy_since.unwrap_or(now).max(life_start);
        if now - calm_since < LAG_MAX_MS {
            return;
        }
        for st in &self.scheds {
            if let Some(d) = st.deadline
                && st.status == ScheduleStatus::Active
                && d < now - LAG_MAX_MS
            {
                self.fail(format!(
                    "schedule {} ({:?}) is behind: due at {d}, now {now}, store healthy since {calm_since}",
                    st.spec.id, st.spec.driver
                ));
            }
        }
    }

    /// Whether everything due up to `horizon` is decided and finished.
    pub fn quiet(&self, horizon: Millis) -> bool {
        self.scheds.iter().all(|s| {
            (s.status != ScheduleStatus::Active || s.cursor.is_some_and(|c| c > horizon))
                && s.buffered.is_none_or(|b| b > horizon)
                && s.deferred.iter().all(|b| *b > horizon)
        }) && self.pending.iter().all(|id| self.execs[id].instant > horizon)
    }

    /// What is not quiet yet (for the failure message).
    pub fn not_quiet(&self, horizon: Millis) -> String {
        let mut out = Vec::new();
        for s in &self.scheds {
            if s.status == ScheduleStatus::Active && s.cursor.is_none_or(|c| c <= horizon) {
                out.push(format!("schedule {} ({:?}) cursor {:?}", s.spec.id, s.spec.driver, s.cursor));
            }
            if s.buffered.is_some_and(|b| b <= horizon) {
                out.push(format!("schedule {} buffered {:?}", s.spec.id, s.buffered));
            }
        }
        for id in &self.pending {
            let e = &self.execs[id];
            if e.instant <= horizon {
                let key = fire_idempotency_key(self.scheds[e.sched].spec.id, e.instant);
                out.push(format!("execution {key} still pending with {} attempts", e.attempts));
            }
        }
        out.truncate(20);
        out.join("; ")
    }

    /// The end: the whole history once more, and the wire against the records.
    pub fn final_check(&mut self, store: &Store, log: &Arc<Mutex<Log>>, cap_ms: i64) {
        let brand = self.brand;
        let ids: Vec<ExecutionId> = self.order.clone();
        let records = store
            .inspect(|v| {
                let mut out = Vec::with_capacity(ids.len());
                for id in &ids {
                    out.push((*id, v.execution(brand, *id)?));
                }
                Ok(out)
            })
            .unwrap_or_else(|e| self.fail(format!("the checker cannot read the store at the end: {e}")));
        for st in &self.scheds {
            if st.fired != st.total_triggered {
                self.fail(format!(
                    "schedule {}: {} fired records, total_triggered {}",
                    st.spec.id, st.fired, st.total_triggered
                ));
            }
            if let Some(m) = st.spec.max_runs
                && st.status == ScheduleStatus::Completed
                && !st.spec.driver.is_one_off()
                && st.total_triggered != m
            {
                self.fail(format!("schedule {} completed after {} runs, max_runs {m}", st.spec.id, st.total_triggered));
            }
        }
        let log = log.lock().unwrap_or_else(|e| e.into_inner());
        let (mut duplicates, mut in_flight) = (0u64, 0u64);
        for (id, e) in records {
            self.recheck(id, e.as_ref());
            let Some(e) = e else { continue };
            if e.status.is_finished() {
                self.final_record_is_consistent(&e);
            }
            let spec = &self.scheds[self.execs[&id].sched].spec;
            let sent: Vec<&super::transport::Sent> = log
                .by_key
                .get(&e.idempotency_key)
                .map(|v| v.iter().map(|&i| &log.sent[i]).collect())
                .unwrap_or_default();
            let (d, f) = self.pair_attempts(&e, &sent, &spec.retry, cap_ms);
            duplicates += d;
            in_flight += f;
        }
        self.stats.duplicates = duplicates;
        self.stats.in_flight_at_end = in_flight;
    }

    /// Pairs an execution's recorded attempts with the requests the receiver got; returns how
    /// many requests were never recorded: the last of a killed life (a duplicate follows), and
    /// the one still in flight now.
    fn pair_attempts(
        &self,
        e: &Execution,
        sent: &[&super::transport::Sent],
        policy: &RetryPolicy,
        cap_ms: i64,
    ) -> (u64, u64) {
        let key = &e.idempotency_key;
        let mut ai = 0;
        let (mut unrecorded, mut in_flight) = (0, 0);
        let mut prev: Option<(&super::transport::Sent, usize)> = None;
        for (k, s) in sent.iter().enumerate() {
            if let Some(a) = e.attempts.get(ai)
                && a.started_ms == s.at_ms
            {
                let same = match s.answer {
                    Answer::Timeout => {
                        a.status_code.is_none() && a.error.as_deref().is_some_and(|x| x.starts_with("timeout"))
                    }
                    Answer::Reset { .. } => {
                        a.status_code.is_none()
                            && a.error.as_deref().is_some_and(|x| x.starts_with("connection failed"))
                    }
                    other => a.status_code == other.status(),
                };
                if !same || a.n as usize != ai + 1 {
                    self.fail(format!(
                        "execution {key}: attempt {} recorded as {a:?}, the receiver answered {:?}",
                        ai + 1,
                        s.answer
                    ));
                }
                if let Some((p, n)) = prev {
                    let earliest = earliest_retry(p, n, policy, cap_ms);
                    if s.at_ms < earliest {
                        self.fail(format!(
                            "execution {key}: attempt {} at {} before its retry time {earliest} (previous {:?} at {})",
                            ai + 1,
                            s.at_ms,
                            p.answer,
                            p.at_ms
                        ));
                    }
                }
                prev = Some((s, ai + 1));
                ai += 1;
                continue;
            }
            // Not recorded: only the last request of a life that was killed before recording it.
            let last_of_life = sent.get(k + 1).is_none_or(|n| n.life != s.life);
            let killed = self.lives.get(s.life as usize).is_some_and(|l| l.killed);
            // ... or the last request of the current life for an execution still under way.
            let current = s.life as usize + 1 == self.lives.len() && !e.status.is_finished();
            if !(last_of_life && (killed || current)) || (ai == e.attempts.len() && e.status.is_finished()) {
                self.fail(format!(
                    "execution {key} ({}): the request of life {} at {} ({:?}) has no recorded attempt (recorded: {:?})",
                    e.status.as_str(),
                    s.life,
                    s.at_ms,
                    s.answer,
                    e.attempts.iter().map(|a| (a.started_ms, a.status_code)).collect::<Vec<_>>()
                ));
            }
            if killed {
                unrecorded += 1;
            } else {
                in_flight += 1;
            }
        }
        if ai != e.attempts.len() {
            self.fail(format!("execution {key}: {} attempts recorded, {ai} requests received", e.attempts.len()));
        }
        (unrecorded, in_flight)
    }
}

/// The earliest time the attempt after `p` (the `n`-th, from 1) may start: the backoff, or the
/// `Retry-After` it answered, counted from when the answer came back.
fn earliest_retry(p: &super::transport::Sent, n: usize, policy: &RetryPolicy, cap_ms: i64) -> Millis {
    let answered = p.at_ms
        + match p.answer {
            Answer::Status { latency_ms, .. } | Answer::Reset { latency_ms } => latency_ms,
            Answer::Timeout => i64::from(policy.request_timeout_ms),
            Answer::RetryAfterSeconds { .. } | Answer::RetryAfterDate { .. } => 0,
        };
    match p.answer {
        Answer::RetryAfterSeconds { seconds, .. } => answered + (seconds * 1000).min(cap_ms),
        Answer::RetryAfterDate { .. } => {
            let date = p.retry_after_date_ms.unwrap_or(answered);
            date.max(answered).min(answered + cap_ms)
        }
        _ => answered + retry::backoff_ms(policy, n as u32, cap_ms),
    }
}
