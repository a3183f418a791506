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
}

impl StoreError {
    pub(crate) fn from_db(e: impl Into<redb::Error>) -> Self {
        StoreError::Db(Arc::new(e.into()))
    }

    /// A `Rejected` error for `field`.
    pub fn rejected(field: impl Into<String>, why: impl Into<String>) -> Self {
        StoreError::Rejected { field: field.into(), why: why.into() }
    }
}
