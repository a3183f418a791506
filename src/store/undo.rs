//! The undo log of the operation the writer is running.
//!
//! Operations share one write transaction (group commit), so an operation that fails after it
//! wrote must take its writes back before the others commit. Every write goes through the
//! table helpers in `ops` (`put`, `put_raw`, `remove`), which record the previous value of the
//! key here; when the operation returns an error or panics, the writer restores those values
//! in reverse order. The log lives in a thread-local of the writer thread: it is active only
//! between [`begin`] and [`take`].

use std::cell::RefCell;

use redb::{TableDefinition, WriteTransaction};

use super::StoreError;

pub(super) struct Entry {
    table: String,
    key: Vec<u8>,
    /// The value before the write; `None` when the key did not exist.
    old: Option<Vec<u8>>,
}

thread_local! {
    static LOG: RefCell<Option<Vec<Entry>>> = const { RefCell::new(None) };
}

/// Starts recording (the writer, before each operation).
pub(super) fn begin() {
    LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
}

/// Stops recording and returns what was recorded.
pub(super) fn take() -> Vec<Entry> {
    LOG.with(|l| l.borrow_mut().take().unwrap_or_default())
}

/// True while an operation runs (outside one — migrations, tests — nothing is recorded).
pub(super) fn active() -> bool {
    LOG.with(|l| l.borrow().is_some())
}

/// Whether any of `entries` wrote to one of `tables` (by name).
pub(super) fn touches(entries: &[Entry], tables: &[&str]) -> bool {
    entries.iter().any(|e| tables.contains(&e.table.as_str()))
}

/// Records that `key` in `table` held `old` before a write.
pub(super) fn record(table: &str, key: &[u8], old: Option<Vec<u8>>) {
    LOG.with(|l| {
        if let Some(log) = l.borrow_mut().as_mut() {
            log.push(Entry { table: table.to_string(), key: key.to_vec(), old });
        }
    });
}

/// Restores every recorded key, newest first. An error here leaves the transaction in an
/// unknown state: the writer then aborts the whole batch.
pub(super) fn rollback(w: &WriteTransaction, entries: Vec<Entry>) -> Result<(), StoreError> {
    for e in entries.into_iter().rev() {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&e.table);
        let mut t = w.open_table(def).map_err(StoreError::from_db)?;
        match e.old {
            Some(v) => t.insert(e.key.as_slice(), v.as_slice()).map_err(StoreError::from_db)?,
            None => t.remove(e.key.as_slice()).map_err(StoreError::from_db)?,
        };
    }
    Ok(())
}
