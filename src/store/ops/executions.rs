//! Executions: one per fire or manual run, updated attempt by attempt; unfinished ones are
//! indexed so that a restart resumes them.

use super::{get, page_prefix, put, remove, scan_prefix};
use crate::model::{BrandId, DomainId, Execution, ExecutionId, ExecutionStatus, Page, ScheduleId, TargetKind};
use crate::store::codec;
use crate::store::tables::{EXECUTIONS, EXECUTIONS_BY_SCHEDULE, PENDING_EXECUTIONS, SPILLED, key};
use crate::store::{Store, StoreError};

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
    fn matches(&self, e: &Execution) -> bool {
        self.status.is_none_or(|s| e.status == s)
            && self.target.is_none_or(|t| e.target_id == t)
            && self.schedule.is_none_or(|s| e.schedule == Some(s))
            && self.from_ms.is_none_or(|f| e.scheduled_ms >= f)
            && self.to_ms.is_none_or(|t| e.scheduled_ms < t)
    }
}

/// Raises `execution_failed` for an execution that has just ended failed after its retries:
/// a webhook delivery or a workflow run (a workflow step's failure shows as its run's). A
/// channel send never raises it (no alert loops).
pub(crate) fn raise_execution_failed(w: &redb::WriteTransaction, e: &Execution) -> Result<(), StoreError> {
    if e.status != ExecutionStatus::Failed || e.step.is_some() || e.target_kind == TargetKind::Channel {
        return Ok(());
    }
    let signal = crate::monitor::alert::Signal::ExecutionFailed {
        execution: e.id.0,
        schedule: e.schedule.map(|s| s.0),
        target_kind: e.target_kind.as_str().to_string(),
        target: e.target_id,
        reason: e.reason.clone().unwrap_or_default(),
    };
    super::alerts::enqueue_signal(w, e.brand, signal, e.finished_ms.unwrap_or(e.created_ms))
}

impl Store {
    /// Records a new execution (manual runs; fires go through `record_fires`).
    pub async fn create_execution(&self, e: Execution) -> Result<Execution, StoreError> {
        self.write(move |w| {
            super::schedules::insert_executions(w, std::slice::from_ref(&e))?;
            Ok(e)
        })
        .await
    }

    /// Replaces an execution record (attempt results, status); a finished one leaves the
    /// pending index. A record cancelled meanwhile stays cancelled: `Ok(false)`.
    pub async fn put_execution(&self, e: Execution) -> Result<bool, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            let k = key(&[e.brand.as_bytes(), e.id.as_bytes()]);
            let stored = match get::<Execution>(&t, "executions", &k)? {
                None => return Err(StoreError::NotFound("Execution")),
                Some(stored)
                    if stored.status == ExecutionStatus::Cancelled && e.status != ExecutionStatus::Cancelled =>
                {
                    return Ok(false);
                }
                Some(stored) => stored,
            };
            put(&mut t, &k, &e)?;
            drop(t);
            if stored.status != ExecutionStatus::Failed {
                raise_execution_failed(w, &e)?;
            }
            if e.status.is_finished() {
                let mut pending = w.open_table(PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
                remove(&mut pending, e.id.as_bytes())?;
            }
            Ok(true)
        })
        .await
    }

    /// Cancels an unfinished execution; a finished one is a conflict.
    pub async fn cancel_execution(&self, brand: BrandId, id: ExecutionId, now: i64) -> Result<Execution, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let mut e: Execution = get(&t, "executions", &k)?.ok_or(StoreError::NotFound("Execution"))?;
            if e.status.is_finished() {
                return Err(StoreError::State(format!(
                    "Execution cannot be cancelled: the execution is already {}",
                    e.status.as_str()
                )));
            }
            e.status = ExecutionStatus::Cancelled;
            e.finished_ms = Some(now);
            e.next_attempt_ms = None;
            put(&mut t, &k, &e)?;
            let mut pending = w.open_table(PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
            remove(&mut pending, id.as_bytes())?;
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

    /// A brand's executions, newest first, filtered, one page.
    pub fn list_executions(
        &self,
        brand: BrandId,
        filter: &ExecutionFilter,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Execution>, StoreError> {
        self.read(|r| {
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            if filter.schedule.is_none()
                && filter.status.is_none()
                && filter.target.is_none()
                && filter.from_ms.is_none()
                && filter.to_ms.is_none()
            {
                let mut p: Page<Execution> = page_prefix(&t, "executions", brand.as_bytes(), 1, u64::MAX)?;
                p.items.reverse();
                let skip = page.saturating_sub(1).saturating_mul(per_page) as usize;
                p.items = p.items.into_iter().skip(skip).take(per_page as usize).collect();
                return Ok(p);
            }
            let mut all: Vec<Execution> = Vec::new();
            match filter.schedule {
                Some(s) => {
                    let idx = r.open_table(EXECUTIONS_BY_SCHEDULE).map_err(StoreError::from_db)?;
                    let prefix = key(&[brand.as_bytes(), s.as_bytes()]);
                    let mut ids = Vec::new();
                    scan_prefix(&idx, &prefix, |k, _| {
                        ids.push(k[32..48].to_vec());
                        Ok(true)
                    })?;
                    for id in ids {
                        if let Some(e) = get::<Execution>(&t, "executions", &key(&[brand.as_bytes(), &id]))? {
                            all.push(e);
                        }
                    }
                }
                None => {
                    scan_prefix(&t, brand.as_bytes(), |_, v| {
                        all.push(codec::decode("executions", v)?);
                        Ok(true)
                    })?;
                }
            }
            all.retain(|e| filter.matches(e));
            all.reverse();
            let total = all.len() as u64;
            let skip = page.saturating_sub(1).saturating_mul(per_page) as usize;
            Ok(Page { items: all.into_iter().skip(skip).take(per_page as usize).collect(), total })
        })
    }

    /// How many executions are recorded and not finished (the unfinished index's length).
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        self.read(|r| {
            let pending = r.open_table(PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
            redb::ReadableTableMetadata::len(&pending).map_err(StoreError::from_db)
        })
    }

    /// Executions recorded but not finished (to resume after a restart).
    /// Visits every unfinished execution (one read snapshot; nothing is collected, so a
    /// start-up with a million pending executions does not hold them all in memory).
    pub fn for_each_pending(&self, mut f: impl FnMut(Execution)) -> Result<(), StoreError> {
        self.read(|r| {
            let pending = r.open_table(PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            scan_prefix(&pending, &[], |k, v| {
                if let Some(e) = get::<Execution>(&t, "executions", &key(&[v, k]))? {
                    f(e);
                }
                Ok(true)
            })
        })
    }
}
