//! Stored answers to API calls that carried an `Idempotency-Key`.

use serde::{Deserialize, Serialize};

use super::{get, put};
use crate::model::BrandId;
use crate::store::tables::{IDEMPOTENCY, key};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// The first successful answer to a call, replayed for retries of the same call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotentReply {
    /// The API action the key was first used with.
    pub action: String,
    /// SHA-256 of the request body, to detect a key reused for a different request.
    pub request_hash: [u8; 32],
    pub status: u16,
    pub body: String,
    pub created_ms: Millis,
}

impl Store {
    pub fn get_idempotent(&self, brand: BrandId, key_hash: &[u8; 32]) -> Result<Option<IdempotentReply>, StoreError> {
        self.read(|r| {
            let t = r.open_table(IDEMPOTENCY).map_err(StoreError::from_db)?;
            get(&t, "idempotency", &key(&[brand.as_bytes(), key_hash]))
        })
    }

    /// Records an answer unless one is already recorded (the first answer wins).
    pub async fn put_idempotent(
        &self,
        brand: BrandId,
        key_hash: [u8; 32],
        reply: IdempotentReply,
    ) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(IDEMPOTENCY).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), &key_hash]);
            if get::<IdempotentReply>(&t, "idempotency", &k)?.is_none() {
                put(&mut t, &k, &reply)?;
            }
            Ok(())
        })
        .await
    }
}
