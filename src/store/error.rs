//! The store's one error type.

use std::path::PathBuf;
use std::sync::Arc;

/// What a store operation can fail with.
///
/// `NotFound`, `Conflict`, `InUse`, `Rejected` and `State` are answers about the data (the API
/// maps them to 404/409/400/409); `Unavailable` means the store cannot write right now (the API
/// answers 507 or 503 and the caller may retry); the rest are faults (500, logged with their
/// cause).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{what} already exists")]
    Conflict { what: &'static str, existing: Option<uuid::Uuid> },
    #[error("{what} is in use by {by}")]
    InUse { what: &'static str, by: String },
    /// A value the operation was given cannot be applied to the stored data; `field` is the
    /// request field it came from (the API answers 400 `Invalid field value: <field> (<why>)`).
    #[error("{field}: {why}")]
    Rejected { field: String, why: String },
    /// The object's state forbids the operation (cancelling a finished execution, changing a
    /// completed schedule): the API answers 409 with this message.
    #[error("{0}")]
    State(String),
    /// An administrative request the store refuses (CLI): the message says why.
    #[error("{0}")]
    Invalid(String),
    #[error("the store file {0} is open in another process")]
    Locked(PathBuf),
    /// An admin command found no store where it looked (only `serve` creates one).
    #[error("no store at {}: the daemon has not run with this data directory yet (start it first), or this is not its data directory (pass --data-dir, or --config with the daemon's configuration)", .0.display())]
    Missing(PathBuf),
    /// A read-only open found a file that was not closed cleanly: redb repairs it only when it
    /// is opened for writing.
    #[error("the store file {} was not closed cleanly and needs a repair, which only a writable open makes", .0.display())]
    NeedsRepair(PathBuf),
    #[error("corrupt record in table {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The store cannot write at the moment: the disk is full (`disk_full`) or the file gave an
    /// I/O error. Nothing of the operation was written; it may be retried once the store
    /// recovers (see `Store::write_health`).
    #[error("the store cannot write{}: {cause}", if *.disk_full { " (disk full)" } else { "" })]
    Unavailable { disk_full: bool, cause: String },
    #[error("database error: {0}")]
    Db(Arc<redb::Error>),
    #[error("the store is shut down")]
    Closed,
    /// The operation panicked inside the writer (a bug): it was logged and its writes undone.
    #[error("a store operation failed unexpectedly; nothing of it was written")]
    Panicked,
}

impl StoreError {
    /// Wraps a redb error. I/O errors (and redb's refusal after one, until the file is
    /// reopened) become [`StoreError::Unavailable`], with `disk_full` for ENOSPC and EDQUOT.
    pub(crate) fn from_db(e: impl Into<redb::Error>) -> Self {
        let e = e.into();
        match &e {
            redb::Error::Io(io) => StoreError::Unavailable { disk_full: is_disk_full(io), cause: e.to_string() },
            redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                StoreError::Unavailable { disk_full: false, cause: e.to_string() }
            }
            _ => StoreError::Db(Arc::new(e)),
        }
    }

    /// True for faults of the file itself (I/O), after which the write transaction that saw
    /// them cannot commit.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// A `Rejected` error for `field`.
    pub fn rejected(field: impl Into<String>, why: impl Into<String>) -> Self {
        StoreError::Rejected { field: field.into(), why: why.into() }
    }
}

/// ENOSPC or EDQUOT: the file system has no room (or the user's quota is used up).
fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}
