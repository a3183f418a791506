//! API keys: stored by id, found by the SHA-256 of the key.

use std::collections::HashMap;

use super::{all_prefix, get, get_raw, put, put_raw};
use crate::model::{ApiKey, BrandId, KeyId};
use crate::store::codec;
use crate::store::tables::{API_KEY_HASH, API_KEYS, BRANDS};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// How an operator names a key on the command line: its id or its shown prefix.
#[derive(Debug, Clone)]
pub enum KeyRef {
    Id(KeyId),
    Prefix(String),
}

impl Store {
    pub async fn create_key(&self, key: ApiKey) -> Result<ApiKey, StoreError> {
        self.write(move |w| {
            let brands = w.open_table(BRANDS).map_err(StoreError::from_db)?;
            if get_raw(&brands, key.brand.as_bytes())?.is_none() {
                return Err(StoreError::NotFound("Brand"));
            }
            let mut keys = w.open_table(API_KEYS).map_err(StoreError::from_db)?;
            let mut hashes = w.open_table(API_KEY_HASH).map_err(StoreError::from_db)?;
            put(&mut keys, key.id.as_bytes(), &key)?;
            put_raw(&mut hashes, &key.hash, key.id.as_bytes())?;
            Ok(key)
        })
        .await
    }

    /// The key whose SHA-256 is `hash`, revoked or not.
    pub fn find_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        self.read(|r| {
            let hashes = r.open_table(API_KEY_HASH).map_err(StoreError::from_db)?;
            let Some(id) = get_raw(&hashes, hash)? else {
                return Ok(None);
            };
            let keys = r.open_table(API_KEYS).map_err(StoreError::from_db)?;
            get(&keys, "api_keys", &id)
        })
    }

    pub fn list_keys(&self, brand: BrandId) -> Result<Vec<ApiKey>, StoreError> {
        self.read(|r| {
            let t = r.open_table(API_KEYS).map_err(StoreError::from_db)?;
            let mut keys: Vec<ApiKey> = all_prefix(&t, "api_keys", &[])?;
            keys.retain(|k| k.brand == brand);
            keys.sort_by_key(|k| k.created_ms);
            Ok(keys)
        })
    }

    /// Revokes a key by id or by its shown prefix (which must match exactly one key).
    /// Revoking twice is harmless; the first revocation time is kept.
    pub async fn revoke_key(&self, which: KeyRef, now: Millis) -> Result<ApiKey, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(API_KEYS).map_err(StoreError::from_db)?;
            let mut key: ApiKey = match &which {
                KeyRef::Id(id) => get(&t, "api_keys", id.as_bytes())?.ok_or(StoreError::NotFound("API key"))?,
                KeyRef::Prefix(p) => {
                    let all: Vec<ApiKey> = all_prefix(&t, "api_keys", &[])?;
                    let mut hits =
                        all.into_iter().filter(|k| k.prefix.starts_with(p.as_str()) || p.starts_with(&k.prefix));
                    let first = hits.next().ok_or(StoreError::NotFound("API key"))?;
                    if hits.next().is_some() {
                        return Err(StoreError::Invalid(format!(
                            "key prefix {p} matches more than one key; use the key id"
                        )));
                    }
                    first
                }
            };
            if key.revoked_ms.is_none() {
                key.revoked_ms = Some(now);
                put(&mut t, key.id.as_bytes(), &key)?;
            }
            Ok(key)
        })
        .await
    }

    /// Records last-use times (batched by the caller; minute precision is plenty).
    pub async fn touch_keys(&self, used: HashMap<KeyId, Millis>) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(API_KEYS).map_err(StoreError::from_db)?;
            for (id, at) in used {
                let Some(raw) = get_raw(&t, id.as_bytes())? else {
                    continue;
                };
                let mut key: ApiKey = codec::decode("api_keys", &raw)?;
                if key.last_used_ms.is_none_or(|old| old < at) {
                    key.last_used_ms = Some(at);
                    put(&mut t, id.as_bytes(), &key)?;
                }
            }
            Ok(())
        })
        .await
    }
}
