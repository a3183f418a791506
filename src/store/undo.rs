//! The undo log of the operation the writer is running.
//!
//! Operations share one write transaction (group commit), so an operation that fails after it
//! wrote must take its writes back before the others commit. Every write goes through the
//! table helpers in `ops` (`put`, `put_raw`, `remove`), which record the previous value of the
//! key here; when the operation returns an error or panics, the writer restores those values
//! in reverse order. The log lives in a thread-local of the writer thread: it is active only
//! between [`begin`] and [`take`].
//!
//! The log is written on every write of every operation and read only when one fails, so it
//! is kept cheap to write: the keys and previous values are copied back to back into one
//! buffer, and each table written is named once per operation ([`Log::tables`]), so recording
//! a write allocates nothing once the buffers have grown (a fire batch of 1,000 schedules
//! used to allocate three buffers per write: the table's name, the key and the old value).

use std::cell::RefCell;
use std::ops::Range;

use redb::{TableDefinition, WriteTransaction};

use super::StoreError;

/// What one operation wrote, in order.
#[derive(Default)]
pub(super) struct Log {
    /// The names of the tables written, each once, in the order first written.
    tables: Vec<String>,
    entries: Vec<Entry>,
    /// The keys and previous values of [`Log::entries`], back to back.
    bytes: Vec<u8>,
}

struct Entry {
    /// Index into [`Log::tables`].
    table: usize,
    /// Range of [`Log::bytes`] holding the key.
    key: Range<usize>,
    /// Range of [`Log::bytes`] holding the value before the write; `None` when the key did
    /// not exist.
    old: Option<Range<usize>>,
}

thread_local! {
    static LOG: RefCell<Option<Log>> = const { RefCell::new(None) };
}

/// Starts recording (the writer, before each operation).
pub(super) fn begin() {
    LOG.with(|l| *l.borrow_mut() = Some(Log::default()));
}

/// Stops recording and returns what was recorded.
pub(super) fn take() -> Log {
    LOG.with(|l| l.borrow_mut().take().unwrap_or_default())
}

/// The log's number for `table`, to [`record`] a write to it with: `None` outside an
/// operation (migrations, tests: nothing is recorded). Taken before the write, as the write borrows the table.
pub(super) fn table(table: &str) -> Option<usize> {
    LOG.with(|l| l.borrow_mut().as_mut().map(|log| log.table(table)))
}

/// Records that `key` in the table numbered `table` ([`table`]) held `old` before a write.
pub(super) fn record(table: usize, key: &[u8], old: Option<&[u8]>) {
    LOG.with(|l| {
        if let Some(log) = l.borrow_mut().as_mut() {
            log.push(table, key, old);
        }
    });
}

impl Log {
    fn table(&mut self, table: &str) -> usize {
        match self.tables.iter().rposition(|t| t == table) {
            Some(i) => i,
            None => {
                self.tables.push(table.to_string());
                self.tables.len() - 1
            }
        }
    }

    fn push(&mut self, table: usize, key: &[u8], old: Option<&[u8]>) {
        let mut copy = |b: &[u8]| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(b);
            start..self.bytes.len()
        };
        let key = copy(key);
        let old = old.map(copy);
        self.entries.push(Entry { table, key, old });
    }

    /// True when nothing was written.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the operation wrote to one of `tables` (by name).
    pub(super) fn touches(&self, tables: &[&str]) -> bool {
        self.tables.iter().any(|t| tables.contains(&t.as_str()))
    }

    /// Restores every recorded key, newest first. An error here leaves the transaction in an
    /// unknown state: the writer then aborts the whole batch.
    pub(super) fn rollback(self, w: &WriteTransaction) -> Result<(), StoreError> {
        for e in self.entries.iter().rev() {
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&self.tables[e.table]);
            let mut t = w.open_table(def).map_err(StoreError::from_db)?;
            let key = &self.bytes[e.key.clone()];
            match &e.old {
                Some(old) => t.insert(key, &self.bytes[old.clone()]).map_err(StoreError::from_db)?,
                None => t.remove(key).map_err(StoreError::from_db)?,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log hands back each write's table, key and previous value, newest first, from
    /// its shared buffer; a table is named once however often it is written.
    #[test]
    fn the_log_keeps_every_write_in_order() {
        let mut log = Log::default();
        let (a, b) = (log.table("a"), log.table("b"));
        log.push(a, b"k1", None);
        log.push(b, b"k2", Some(b"old2"));
        let a_again = log.table("a");
        log.push(a_again, b"k3", Some(b""));
        assert_eq!(log.tables, ["a", "b"]);
        type Seen<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);
        let seen: Vec<Seen> = log
            .entries
            .iter()
            .rev()
            .map(|e| (log.tables[e.table].as_str(), &log.bytes[e.key.clone()], e.old.clone().map(|r| &log.bytes[r])))
            .collect();
        assert_eq!(seen, [("a", &b"k3"[..], Some(&b""[..])), ("b", b"k2", Some(b"old2")), ("a", b"k1", None)]);
        assert!(log.touches(&["b", "z"]) && !log.touches(&["z"]));
        assert!(!log.is_empty() && Log::default().is_empty());
    }
}
