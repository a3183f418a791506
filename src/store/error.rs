//! The store's one error type.

use std::path::PathBuf;
use std::sync::Arc;

/// What a store operation can fail with. `NotFound`, `Conflict` and `InUse` are answers about
/// the data (the API maps them to 404/409); the rest are faults.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{what} already exists")]
    Conflict { what: &'static str, existing: Option<uuid::Uuid> },
    #[error("{what} is in use by {by}")]
    InUse { what: &'static str, by: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the store file {0} is open in another process")]
    Locked(PathBuf),
    #[error("corrupt record in table {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("database error: {0}")]
    Db(Arc<redb::Error>),
    #[error("the store is shut down")]
    Closed,
}

impl StoreError {
    pub(crate) fn from_db(e: impl Into<redb::Error>) -> Self {
        StoreError::Db(Arc::new(e.into()))
    }
}
