//! Executions: one per fire or manual run, updated attempt by attempt; unfinished ones are
//! indexed so that a restart resumes them.

use std::ops::Bound;

use super::index::{self, EncodedExecution, ExecTables, tag};
use super::{get, get_raw, remove, scan_prefix};
use crate::model::{BrandId, DomainId, Execution, ExecutionId, ExecutionStatus, Page, ScheduleId, TargetKind};
use crate::store::codec;
use crate::store::tables::{
    COUNTS, EXEC_BY_STATUS, EXEC_BY_TARGET, EXEC_BY_TIME, EXECUTIONS, EXECUTIONS_BY_SCHEDULE, SPILLED, key,
};
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
    pub async fn put_execution(&self, e: &Execution) -> Result<bool, StoreError> {
        let encoded = EncodedExecution::of(e);
        let failed = execution_failed_signal(e);
        self.write(move |w| {
            let (brand, id, status) = (encoded.facts.brand, encoded.facts.id, encoded.facts.status);
            let mut t = ExecTables::open(w)?;
            // The status is all this needs of the stored record: an unfinished one is known
            // from its status row, without reading the record.
            let stored = match t.unfinished_facts(&encoded.facts)? {
                Some(unfinished) => Some(unfinished),
                None => t.facts(brand, id)?,
            };
            let stored = match stored {
                None => return Err(StoreError::NotFound("Execution")),
                Some(stored) if stored.status == ExecutionStatus::Cancelled && status != ExecutionStatus::Cancelled => {
                    return Ok(false);
                }
                Some(stored) => stored,
            };
            t.save_over(&encoded, &stored)?;
            t.finish(w)?;
            if stored.status != ExecutionStatus::Failed
                && let Some((brand, signal, at)) = failed
            {
                super::alerts::enqueue_signal(w, brand, signal, at)?;
            }
            Ok(true)
        })
        .await
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
            // (index table, key prefix, counter) of each filter given, besides time.
            let mut dims: Vec<(crate::store::tables::Bytes, Vec<u8>, u64)> = Vec::new();
            if let Some(st) = filter.status {
                let code = [index::exec_status_code(st)];
                let n = index::read_count(&counts, &index::counter_key(tag::EXEC_STATUS, &[b, &code]))?;
                dims.push((EXEC_BY_STATUS, key(&[b, &code]), n));
            }
            if let Some(s) = filter.schedule {
                let n = index::read_count(&counts, &index::counter_key(tag::EXEC_SCHEDULE, &[b, s.as_bytes()]))?;
                dims.push((EXECUTIONS_BY_SCHEDULE, key(&[b, s.as_bytes()]), n));
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
                    .map(|(def, prefix, _)| Ok((r.open_table(*def).map_err(StoreError::from_db)?, prefix.clone())))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let idx = r.open_table(driver).map_err(StoreError::from_db)?;
                if others.is_empty() && !timed {
                    let records = (&t, "executions", &b[..]);
                    let items = index::page_via_index(&idx, &prefix, records, (skip, per_page), true)?;
                    return Ok(Page { items, total: n });
                } else {
                    index::scan_prefix_rev(&idx, &prefix, |k, v| {
                        let id = &k[k.len() - 16..];
                        let at = v.try_into().map_or(0, Millis::from_le_bytes);
                        let in_time = filter.from_ms.is_none_or(|f| at >= f) && filter.to_ms.is_none_or(|to| at < to);
                        if in_time {
                            let mut all = true;
                            for (t2, p2) in &others {
                                if get_raw(t2, &key(&[p2, id]))?.is_none() {
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
    pub fn for_each_pending(&self, mut f: impl FnMut(Execution)) -> Result<(), StoreError> {
        self.read(|r| {
            let by_status = r.open_table(EXEC_BY_STATUS).map_err(StoreError::from_db)?;
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            index::for_each_unfinished(&by_status, |brand, id| {
                if let Some(e) = get::<Execution>(&t, "executions", &key(&[brand, id]))? {
                    f(e);
                }
                Ok(())
            })
        })
    }
}
