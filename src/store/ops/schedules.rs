//! Schedules: created against an existing target, changed only by read-modify-write inside the
//! writer (each write bumps `version`), and fired by [`Store::record_fires`], which commits the
//! executions of a fire together with the schedule's advanced cursor.

use super::index::{self, EncodedExecution, ExecTables, ScheduleFacts};
use super::{get, get_raw, put_raw, remove, scan_prefix};
use crate::model::{BrandId, Execution, Page, Schedule, ScheduleId, ScheduleStatus, TargetKind};
use crate::store::codec;
use crate::store::tables::{
    ARMED_SCHEDULES, COUNTS, SCHEDULE_BY_TARGET, SCHEDULE_IDS, SCHEDULES, SCHEDULES_BY_STATUS, TEMPLATES, key,
};
use crate::store::{Store, StoreError};

pub(crate) fn skey(brand: BrandId, id: ScheduleId) -> Vec<u8> {
    key(&[brand.as_bytes(), id.as_bytes()])
}

/// Visits the schedule records under `prefix` (a brand, or nothing for all brands) in key
/// order, `f(key, record)` until it returns false, seeking past each schedule's execution rows
/// (`index::schedule_row_key`) instead of reading them: the cost grows with the schedules, not
/// with their executions. A plain range with no read failpoint: the simulation's checker reads
/// through this too (`store::inspect`).
///
/// Errors: the store's read errors; nothing is decoded here.
pub(crate) fn scan_records(
    t: &impl redb::ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut from = prefix.to_vec();
    loop {
        let mut seek = None;
        for entry in t.range::<&[u8]>(from.as_slice()..).map_err(StoreError::from_db)? {
            let (k, v) = entry.map_err(StoreError::from_db)?;
            let k = k.value();
            if !k.starts_with(prefix) {
                return Ok(());
            }
            if k.len() == index::SCHEDULE_KEY_LEN {
                if !f(k, v.value())? {
                    return Ok(());
                }
            } else {
                // An execution row: the next record is past all of this schedule's rows.
                seek = Some(k.get(..index::SCHEDULE_KEY_LEN).and_then(index::prefix_end));
                break;
            }
        }
        match seek {
            Some(Some(next)) => from = next,
            _ => return Ok(()),
        }
    }
}

/// Every schedule record under `prefix`, decoded, in key order ([`scan_records`]).
///
/// Errors: the store's read errors; `Corrupt` for a record that does not decode.
pub(crate) fn all_records<T: serde::de::DeserializeOwned>(
    t: &impl redb::ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    scan_records(t, prefix, |_, v| {
        out.push(codec::decode("schedules", v)?);
        Ok(true)
    })?;
    Ok(out)
}

/// Writes a schedule record and keeps its armed-index entry, status index and counters in
/// step; `old` is the record it replaces (`None`: a new schedule), which every caller has
/// read already.
pub(crate) fn save(
    w: &redb::WriteTransaction,
    t: &mut super::BytesTable<'_>,
    s: &Schedule,
    old: Option<ScheduleFacts>,
) -> Result<(), StoreError> {
    let mut armed = w.open_table(ARMED_SCHEDULES).map_err(StoreError::from_db)?;
    save_encoded(w, t, &mut armed, &EncodedSchedule::of(s), old)
}

/// A schedule record encoded by its caller, before the write, with what its indexes need.
struct EncodedSchedule {
    facts: ScheduleFacts,
    /// The armed index's deadline (`Schedule::timer_deadline`; `None`: not armed).
    deadline: Option<crate::time::Millis>,
    bytes: Vec<u8>,
}

impl EncodedSchedule {
    fn of(s: &Schedule) -> Self {
        let facts = ScheduleFacts::of(s);
        let bytes = codec::encode_with_header(&facts.header(), s);
        EncodedSchedule { facts, deadline: s.timer_deadline(), bytes }
    }
}

/// [`save`] of an encoded record, with the armed index already open (a batch of fires opens it
/// once).
fn save_encoded(
    w: &redb::WriteTransaction,
    t: &mut super::BytesTable<'_>,
    armed: &mut super::BytesTable<'_>,
    s: &EncodedSchedule,
    old: Option<ScheduleFacts>,
) -> Result<(), StoreError> {
    put_raw(t, &skey(s.facts.brand, s.facts.id), &s.bytes)?;
    index_saved(w, armed, s, old)
}

/// Brings the status index, the counters and the armed index in step with a schedule record
/// just written; `old` is the one it replaced (`None`: a new schedule).
fn index_saved(
    w: &redb::WriteTransaction,
    armed: &mut super::BytesTable<'_>,
    s: &EncodedSchedule,
    old: Option<ScheduleFacts>,
) -> Result<(), StoreError> {
    let k = skey(s.facts.brand, s.facts.id);
    index::reindex_schedule(w, old.as_ref(), Some(&s.facts))?;
    match s.deadline {
        Some(d) => {
            let stored =
                get_raw(armed, &k)?.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map(i64::from_le_bytes);
            if armed_entry_stale(stored, d) { put_raw(armed, &k, &d.to_le_bytes()) } else { Ok(()) }
        }
        None => remove(armed, &k),
    }
}

/// How far an armed-index entry may lag behind its schedule's timer deadline, in ms.
///
/// The entry is a lower bound of the deadline, read only by the start-up re-arm: a schedule
/// woken at a bound that came too early finds its cursor not due (`fire::on_due_until`) and
/// is re-armed at its real deadline, without a write. Keeping the bound up to a minute old
/// spares a schedule firing every second 59 of every 60 rewrites of its entry, each a
/// B-tree leaf of its own on the fire commit (8 % of the store writer's CPU per execution
/// in `write_path`).
pub const ARMED_SLACK_MS: i64 = 60_000;

/// True when the armed index must be rewritten for the deadline `d`: no entry (or an
/// unreadable one), an entry later than `d` (a bound must never be late), or one more than
/// [`ARMED_SLACK_MS`] behind it.
fn armed_entry_stale(stored: Option<i64>, d: i64) -> bool {
    stored.is_none_or(|b| b > d || d.saturating_sub(b) > ARMED_SLACK_MS)
}

fn target_key(s: &Schedule) -> Vec<u8> {
    key(&[s.brand.as_bytes(), s.target_id.as_bytes(), s.id.as_bytes()])
}

/// Writes executions, new or existing, with their index rows and counters, inside an open
/// transaction.
pub(crate) fn upsert_executions(w: &redb::WriteTransaction, execs: &[Execution]) -> Result<(), StoreError> {
    let mut t = ExecTables::open(w)?;
    for e in execs {
        t.save(e)?;
    }
    t.finish(w)
}

/// [`upsert_executions`] of records encoded before the write.
pub(crate) fn upsert_encoded(w: &redb::WriteTransaction, execs: &[EncodedExecution]) -> Result<(), StoreError> {
    let mut t = ExecTables::open(w)?;
    for e in execs {
        t.save_encoded(e)?;
    }
    t.finish(w)
}

/// One schedule's fire, as computed by the scheduler from `expected_version`.
#[derive(Debug, Clone)]
pub struct FireWrite {
    pub schedule: Schedule,
    pub expected_version: u64,
    pub executions: Vec<Execution>,
}

impl Store {
    /// Creates a schedule; a webhook target must be a template of the same brand.
    pub async fn create_schedule(&self, s: Schedule) -> Result<Schedule, StoreError> {
        self.write(move |w| {
            if s.target_kind == TargetKind::Webhook {
                let templates = w.open_table(TEMPLATES).map_err(StoreError::from_db)?;
                if get_raw(&templates, &key(&[s.brand.as_bytes(), s.target_id.as_bytes()]))?.is_none() {
                    return Err(StoreError::NotFound("Webhook"));
                }
            }
            let mut t = w.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            let mut by_target = w.open_table(SCHEDULE_BY_TARGET).map_err(StoreError::from_db)?;
            save(w, &mut t, &s, None)?;
            put_raw(&mut by_target, &target_key(&s), &[])?;
            Ok(s)
        })
        .await
    }

    pub fn get_schedule(&self, brand: BrandId, id: ScheduleId) -> Result<Option<Schedule>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            get(&t, "schedules", &skey(brand, id))
        })
    }

    /// A brand's schedules, optionally only those in `status`, one page, oldest first. Reads
    /// the page's records only: through the status index when filtered, the total from a
    /// counter.
    pub fn list_schedules(
        &self,
        brand: BrandId,
        status: Option<ScheduleStatus>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Schedule>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            let counts = r.open_table(COUNTS).map_err(StoreError::from_db)?;
            let skip = page.saturating_sub(1).saturating_mul(per_page);
            let b = brand.as_bytes();
            match status {
                None => {
                    let total = index::read_count(&counts, &index::counter_key(index::tag::SCHEDULES, &[b]))?;
                    let idx = r.open_table(SCHEDULE_IDS).map_err(StoreError::from_db)?;
                    let records = (&t, "schedules", &b[..]);
                    let items = index::page_via_index(&idx, b, records, (skip, per_page), false)?;
                    Ok(Page { items, total })
                }
                Some(st) => {
                    let code = [index::schedule_status_code(st)];
                    let total =
                        index::read_count(&counts, &index::counter_key(index::tag::SCHEDULE_STATUS, &[b, &code]))?;
                    let idx = r.open_table(SCHEDULES_BY_STATUS).map_err(StoreError::from_db)?;
                    let records = (&t, "schedules", &b[..]);
                    let items = index::page_via_index(&idx, &key(&[b, &code]), records, (skip, per_page), false)?;
                    Ok(Page { items, total })
                }
            }
        })
    }

    /// Every schedule of every brand.
    pub fn all_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            all_records(&t, &[])
        })
    }

    /// How many schedules are armed (the armed index's length, read without a scan).
    pub fn armed_count(&self) -> Result<usize, StoreError> {
        self.read(|r| {
            let t = r.open_table(ARMED_SCHEDULES).map_err(StoreError::from_db)?;
            Ok(redb::ReadableTableMetadata::len(&t).map_err(StoreError::from_db)? as usize)
        })
    }

    /// Calls `f(brand, schedule, bound)` for every armed schedule, from the compact index
    /// (start-up re-arm reads 40 bytes per schedule, no records). `bound` is a lower bound of
    /// the schedule's timer deadline, at most [`ARMED_SLACK_MS`] before it.
    pub fn for_each_armed(&self, mut f: impl FnMut(BrandId, ScheduleId, i64)) -> Result<(), StoreError> {
        self.read(|r| {
            let t = r.open_table(ARMED_SCHEDULES).map_err(StoreError::from_db)?;
            scan_prefix(&t, &[], |k, v| {
                let brand = BrandId(codec::decode_id("armed_schedules", &k[..16])?);
                let id = ScheduleId(codec::decode_id("armed_schedules", &k[16..32])?);
                let d =
                    i64::from_le_bytes(v.try_into().map_err(|_| StoreError::Corrupt {
                        table: "armed_schedules",
                        detail: "bad deadline".into(),
                    })?);
                f(brand, id, d);
                Ok(true)
            })
        })
    }

    /// Read-modify-write of one schedule inside the writer. `f` may refuse (its error is
    /// returned and nothing is written); the version and `updated_ms` are bumped on success.
    pub async fn update_schedule<T: Send + 'static>(
        &self,
        brand: BrandId,
        id: ScheduleId,
        now: i64,
        f: impl FnOnce(&mut Schedule) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<(Schedule, T), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            let k = skey(brand, id);
            let mut s: Schedule = get(&t, "schedules", &k)?.ok_or(StoreError::NotFound("Schedule"))?;
            let old = ScheduleFacts::of(&s);
            let out = f(&mut s)?;
            s.version += 1;
            s.updated_ms = now;
            save(w, &mut t, &s, Some(old))?;
            Ok((s, out))
        })
        .await
    }

    /// Deletes a schedule and its rules (its executions stay in the log, and so do their rows
    /// in the schedule table: `get_executions_paginated?schedule_uuid=` still lists them).
    pub async fn delete_schedule(&self, brand: BrandId, id: ScheduleId) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            let k = skey(brand, id);
            let s: Schedule = get(&t, "schedules", &k)?.ok_or(StoreError::NotFound("Schedule"))?;
            let mut by_target = w.open_table(SCHEDULE_BY_TARGET).map_err(StoreError::from_db)?;
            remove(&mut by_target, &target_key(&s))?;
            let mut armed = w.open_table(ARMED_SCHEDULES).map_err(StoreError::from_db)?;
            remove(&mut armed, &k)?;
            remove(&mut t, &k)?;
            index::reindex_schedule(w, Some(&ScheduleFacts::of(&s)), None)
        })
        .await
    }

    /// Commits fires: for each schedule whose stored version still equals the one the fire was
    /// computed from, the new schedule state and its executions, all in this one commit.
    /// Returns, per fire, whether it was committed (`false`: the schedule changed meanwhile).
    pub async fn record_fires(&self, fires: Vec<FireWrite>) -> Result<Vec<bool>, StoreError> {
        // The records are encoded here, on the caller's thread, not on the writer's: each
        // schedule as it will be stored if its version still matches.
        let fires: Vec<(u64, EncodedSchedule, Vec<EncodedExecution>)> = fires
            .into_iter()
            .map(|mut f| {
                f.schedule.version = f.expected_version + 1;
                let executions = f.executions.iter().map(EncodedExecution::of).collect();
                (f.expected_version, EncodedSchedule::of(&f.schedule), executions)
            })
            .collect();
        self.write(move |w| {
            let mut results = Vec::with_capacity(fires.len());
            let mut t = w.open_table(SCHEDULES).map_err(StoreError::from_db)?;
            let mut armed = w.open_table(ARMED_SCHEDULES).map_err(StoreError::from_db)?;
            let mut accepted = Vec::new();
            for (expected_version, schedule, executions) in fires {
                let k = skey(schedule.facts.brand, schedule.facts.id);
                // The new record is written first and the one it replaced checked after: one
                // walk down the schedule table instead of a read and then a write (the table
                // holds every schedule's execution rows too). Only the replaced record's header
                // is read. A fire computed from another version (the schedule was changed or
                // deleted meanwhile, which is rare) puts back what it replaced.
                let old = super::replace_raw(&mut t, &k, &schedule.bytes)?;
                let current = old.as_deref().map(|v| ScheduleFacts::read(&k, v)).transpose()?;
                let ok = current.as_ref().is_some_and(|c| c.version == expected_version);
                if ok {
                    index_saved(w, &mut armed, &schedule, current)?;
                    accepted.extend(executions);
                } else {
                    match &old {
                        Some(v) => put_raw(&mut t, &k, v)?,
                        None => remove(&mut t, &k)?,
                    }
                }
                results.push(ok);
            }
            drop((t, armed));
            upsert_encoded(w, &accepted)?;
            Ok(results)
        })
        .await
    }

    /// Marks the schedules of a deleted target `inactive` (inside the target's delete).
    pub(crate) fn deactivate_schedules_of(
        w: &redb::WriteTransaction,
        brand: BrandId,
        target: uuid::Uuid,
        reason: &str,
        now: i64,
    ) -> Result<Vec<ScheduleId>, StoreError> {
        let by_target = w.open_table(SCHEDULE_BY_TARGET).map_err(StoreError::from_db)?;
        let prefix = key(&[brand.as_bytes(), target.as_bytes()]);
        let mut ids = Vec::new();
        scan_prefix(&by_target, &prefix, |k, _| {
            ids.push(ScheduleId(codec::decode_id("schedule_by_target", &k[32..48])?));
            Ok(true)
        })?;
        drop(by_target);
        let mut t = w.open_table(SCHEDULES).map_err(StoreError::from_db)?;
        for id in &ids {
            let k = skey(brand, *id);
            if let Some(mut s) = get::<Schedule>(&t, "schedules", &k)?
                && !s.status.is_final()
            {
                let old = ScheduleFacts::of(&s);
                s.status = ScheduleStatus::Inactive;
                s.reason = Some(reason.to_string());
                s.version += 1;
                s.updated_ms = now;
                save(w, &mut t, &s, Some(old))?;
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::{ARMED_SLACK_MS, armed_entry_stale};

    #[test]
    fn an_armed_entry_is_rewritten_when_absent_late_or_more_than_the_slack_behind() {
        let d = 1_000_000;
        assert!(armed_entry_stale(None, d), "no entry yet");
        assert!(armed_entry_stale(Some(d + 1), d), "an entry after the deadline would wake it late");
        assert!(armed_entry_stale(Some(d - ARMED_SLACK_MS - 1), d), "more than the slack behind");
        assert!(!armed_entry_stale(Some(d - ARMED_SLACK_MS), d), "exactly the slack behind is kept");
        assert!(!armed_entry_stale(Some(d), d));
        assert!(armed_entry_stale(Some(i64::MIN), i64::MAX), "no overflow at the extremes");
        assert!(armed_entry_stale(Some(i64::MAX), i64::MIN));
    }
}
