//! The store: the only module that imports redb.
//!
//! Everything else talks to it through domain-level operations (`create_domain`,
//! `list_templates`, ...) that take and return `model` types, so a second backend can offer the
//! same interface. Reads open a redb read transaction on the caller's thread (a snapshot, never
//! blocked by writes). Every write goes through one writer thread ([`writer`]) that folds all
//! queued operations into one durable commit (group commit). Write operations validate first and
//! write after, so an operation that fails writes nothing even when its batch commits.
//! On-disk layout, encodings and the crash analysis: docs/design.md.

mod codec;
mod error;
mod ops;
mod tables;
mod writer;

pub use error::StoreError;
pub use ops::executions::ExecutionFilter;
pub use ops::idempotency::IdempotentReply;
pub use ops::keys::KeyRef;
pub use ops::schedules::FireWrite;
pub use ops::secrets::SealedSecretRef;
pub use ops::workflows::RunWrite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::metrics::Metrics;
use tables::{ALL_TABLES, META};

/// The schema version this binary writes. Bump it and add a step to [`migrate`] whenever a
/// table or a record encoding changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Name of the store file inside the data directory.
pub const STORE_FILE: &str = "hookwheel.redb";

/// Tuning of the single writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Most operations folded into one commit.
    pub commit_batch_max: usize,
    /// Capacity of the queue in front of the writer.
    pub write_queue_capacity: usize,
}

/// A handle to the open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: writer::Writer,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store file, migrates it to [`SCHEMA_VERSION`] and starts the
    /// writer thread. Fails with [`StoreError::Locked`] when another process has it open.
    pub fn open(path: &Path, settings: WriterSettings, metrics: Metrics) -> Result<Store, StoreError> {
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked(path.to_path_buf()));
            }
            Err(e) => return Err(StoreError::from_db(e)),
        };
        let db = Arc::new(db);
        migrate(&db)?;
        let writer = writer::Writer::start(db.clone(), settings, metrics);
        Ok(Store { db, writer, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `op` inside the next group commit and returns its result once the commit is durable.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write(op).await
    }

    /// Runs `f` against a consistent snapshot.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let r = self.db.begin_read().map_err(StoreError::from_db)?;
        f(&r)
    }

    /// True when the store answers reads (for `/readyz` and the watchdog).
    pub fn is_healthy(&self) -> bool {
        self.read(|r| Ok(r.open_table(META).is_ok())).unwrap_or(false) && !self.writer.is_closed()
    }

    /// Waits for queued writes to commit, then stops the writer thread.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
    }

    /// Writes a consistent copy of the whole store (one read snapshot) to `out`, a new file.
    pub fn backup_to(&self, out: &Path) -> Result<u64, StoreError> {
        if out.exists() {
            return Err(StoreError::Invalid(format!("{} already exists", out.display())));
        }
        let snapshot = self.db.begin_read().map_err(StoreError::from_db)?;
        let copy = Database::create(out).map_err(StoreError::from_db)?;
        let w = copy.begin_write().map_err(StoreError::from_db)?;
        let mut rows = 0u64;
        for def in ALL_TABLES {
            let src = match snapshot.open_table(*def) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(StoreError::from_db(e)),
            };
            let mut dst = w.open_table(*def).map_err(StoreError::from_db)?;
            for entry in redb::ReadableTable::range::<&[u8]>(&src, ..).map_err(StoreError::from_db)? {
                let (k, v) = entry.map_err(StoreError::from_db)?;
                dst.insert(k.value(), v.value()).map_err(StoreError::from_db)?;
                rows += 1;
            }
        }
        w.commit().map_err(StoreError::from_db)?;
        Ok(rows)
    }
}

/// Brings a store file to [`SCHEMA_VERSION`]: creates the tables of a new file and records the
/// version; refuses a file written by a newer binary. The migration hook: each future version
/// adds one `from == N` step here, run inside the same transaction as the version bump.
fn migrate(db: &Database) -> Result<(), StoreError> {
    let w = db.begin_write().map_err(StoreError::from_db)?;
    let found = {
        let mut meta = w.open_table(META).map_err(StoreError::from_db)?;
        let found = meta
            .get(tables::META_SCHEMA_VERSION)
            .map_err(StoreError::from_db)?
            .map(|v| codec::decode_u32(v.value()))
            .transpose()?;
        if found.is_none() {
            meta.insert(tables::META_SCHEMA_VERSION, SCHEMA_VERSION.to_le_bytes().as_slice())
                .map_err(StoreError::from_db)?;
        }
        found
    };
    match found {
        None => {}
        Some(v) if v == SCHEMA_VERSION => {}
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::Invalid(format!(
                "the store has schema version {v}, newer than this binary supports ({SCHEMA_VERSION}); \
                 upgrade hookwheel or restore a backup"
            )));
        }
        Some(v) => {
            // No older version exists yet: version 1 is the first. Future steps go here.
            return Err(StoreError::Invalid(format!("no migration from schema version {v}")));
        }
    }
    for def in ALL_TABLES {
        w.open_table(*def).map_err(StoreError::from_db)?;
    }
    w.commit().map_err(StoreError::from_db)?;
    Ok(())
}
