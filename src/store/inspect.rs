//! A read-only window on the store for the simulation test (`scheduler::sim`): one snapshot
//! from which the checker reads schedule records, the executions added since its last look, the
//! pending index and chosen execution records. It goes around the failpoints, so the checker
//! sees the store as it is while faults are injected into the daemon's own reads and writes.

use std::collections::HashSet;

use redb::{ReadTransaction, ReadableDatabase};

use super::ops::index::{self, UNFINISHED_CODES, tag};
use super::tables::{COUNTS, EXEC_BY_STATUS, EXECUTIONS, SCHEDULES, key};
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
        super::ops::schedules::scan_records(&t, brand.as_bytes(), |k, v| {
            f(ScheduleId(codec::decode_id("schedules", &k[16..32])?), v);
            Ok(true)
        })
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

    /// The ids of `brand`'s executions recorded and not finished (its `exec_by_status` rows
    /// of the pending and running codes).
    pub fn pending(&self, brand: BrandId) -> Result<HashSet<ExecutionId>, StoreError> {
        let t = self.r.open_table(EXEC_BY_STATUS).map_err(StoreError::from_db)?;
        let mut out = HashSet::new();
        index::for_each_unfinished_of(&t, brand.as_bytes(), |id| {
            out.insert(ExecutionId(codec::decode_id("exec_by_status", id)?));
            Ok(())
        })?;
        Ok(out)
    }

    /// How many of `brand`'s executions are unfinished, from its status counters (O(1)).
    pub fn pending_len(&self, brand: BrandId) -> Result<u64, StoreError> {
        let counts = self.r.open_table(COUNTS).map_err(StoreError::from_db)?;
        let mut n = 0;
        for code in UNFINISHED_CODES {
            n += index::read_count(&counts, &index::counter_key(tag::EXEC_STATUS, &[brand.as_bytes(), &[code]]))?;
        }
        Ok(n)
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
