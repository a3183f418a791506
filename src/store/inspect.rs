//! A read-only window on the store for the simulation test (`scheduler::sim`): one snapshot
//! from which the checker reads schedule records, the executions added since its last look, the
//! pending index and chosen execution records. It goes around the failpoints, so the checker
//! sees the store as it is while faults are injected into the daemon's own reads and writes.

use std::collections::HashSet;

use redb::{ReadTransaction, ReadableDatabase, ReadableTableMetadata};

use super::tables::{EXECUTIONS, PENDING_EXECUTIONS, SCHEDULES, key};
use super::{Store, StoreError, codec};
use crate::model::{BrandId, Execution, ExecutionId, Schedule, ScheduleId};

/// One read snapshot of the store (see [`Store::inspect`]).
pub(crate) struct Inspect {
    r: ReadTransaction,
}

impl Store {
    /// Runs `f` on one snapshot, without the failpoints. `Unavailable` while the writer
    /// reopens the file after an I/O fault.
    pub(crate) fn inspect<T>(&self, f: impl FnOnce(&Inspect) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let db = self.slot.get()?;
        let r = db.begin_read().map_err(StoreError::from_db)?;
        f(&Inspect { r })
    }
}

impl Inspect {
    /// Calls `f(id, raw record)` for every schedule of `brand`, in key order.
    pub fn schedules_raw(&self, brand: BrandId, mut f: impl FnMut(ScheduleId, &[u8])) -> Result<(), StoreError> {
        let t = self.r.open_table(SCHEDULES).map_err(StoreError::from_db)?;
        for entry in t.range::<&[u8]>(brand.as_bytes().as_slice()..).map_err(StoreError::from_db)? {
            let (k, v) = entry.map_err(StoreError::from_db)?;
            let k = k.value();
            if !k.starts_with(brand.as_bytes()) {
                break;
            }
            f(ScheduleId(codec::decode_id("schedules", &k[16..32])?), v.value());
        }
        Ok(())
    }

    /// Decodes a raw schedule record from [`Inspect::schedules_raw`].
    pub fn decode_schedule(raw: &[u8]) -> Result<Schedule, StoreError> {
        codec::decode("schedules", raw)
    }

    /// Calls `f` for every execution of `brand` whose id sorts after `after` (all of them for
    /// `None`), in id order; ids are time-ordered (v7), so these are the newest.
    pub fn executions_after(
        &self,
        brand: BrandId,
        after: Option<ExecutionId>,
        mut f: impl FnMut(Execution),
    ) -> Result<(), StoreError> {
        let t = self.r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
        let start = match after {
            Some(id) => key(&[brand.as_bytes(), id.as_bytes()]),
            None => brand.as_bytes().to_vec(),
        };
        for entry in t.range::<&[u8]>(start.as_slice()..).map_err(StoreError::from_db)? {
            let (k, v) = entry.map_err(StoreError::from_db)?;
            let k = k.value();
            if !k.starts_with(brand.as_bytes()) {
                break;
            }
            if k == start.as_slice() {
                continue;
            }
            f(codec::decode("executions", v.value())?);
        }
        Ok(())
    }

    /// The ids in the pending index (executions recorded and not finished).
    pub fn pending(&self) -> Result<HashSet<ExecutionId>, StoreError> {
        let t = self.r.open_table(PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
        let mut out = HashSet::new();
        for entry in t.range::<&[u8]>(..).map_err(StoreError::from_db)? {
            let (k, _) = entry.map_err(StoreError::from_db)?;
            out.insert(ExecutionId(codec::decode_id("pending_executions", k.value())?));
        }
        Ok(out)
    }

    /// How many ids the pending index holds (O(1)).
    pub fn pending_len(&self) -> Result<u64, StoreError> {
        let t = self.r.open_table(PENDING_EXECUTIONS).map_err(StoreError::from_db)?;
        t.len().map_err(StoreError::from_db)
    }

    /// One execution record.
    pub fn execution(&self, brand: BrandId, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        let t = self.r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
        match t.get(key(&[brand.as_bytes(), id.as_bytes()]).as_slice()).map_err(StoreError::from_db)? {
            Some(v) => codec::decode("executions", v.value()).map(Some),
            None => Ok(None),
        }
    }
}
