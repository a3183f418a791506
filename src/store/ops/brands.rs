//! Brands (tenants).

use super::{all_prefix, get, put};
use crate::model::{ApiKey, Brand, BrandId};
use crate::store::tables::{API_KEY_HASH, API_KEYS, BRANDS};
use crate::store::{Store, StoreError};

impl Store {
    pub async fn create_brand(&self, brand: Brand) -> Result<Brand, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(BRANDS).map_err(StoreError::from_db)?;
            put(&mut t, brand.id.as_bytes(), &brand)?;
            Ok(brand)
        })
        .await
    }

    /// Creates a brand and its first key in one commit (first-run bootstrap: a crash can never
    /// leave a brand that nobody holds a key for).
    pub async fn create_brand_with_key(&self, brand: Brand, key: ApiKey) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut brands = w.open_table(BRANDS).map_err(StoreError::from_db)?;
            let mut keys = w.open_table(API_KEYS).map_err(StoreError::from_db)?;
            let mut hashes = w.open_table(API_KEY_HASH).map_err(StoreError::from_db)?;
            put(&mut brands, brand.id.as_bytes(), &brand)?;
            put(&mut keys, key.id.as_bytes(), &key)?;
            super::put_raw(&mut hashes, &key.hash, key.id.as_bytes())?;
            Ok(())
        })
        .await
    }

    pub fn get_brand(&self, id: BrandId) -> Result<Option<Brand>, StoreError> {
        self.read(|r| {
            let t = r.open_table(BRANDS).map_err(StoreError::from_db)?;
            get(&t, "brands", id.as_bytes())
        })
    }

    pub fn list_brands(&self) -> Result<Vec<Brand>, StoreError> {
        self.read(|r| {
            let t = r.open_table(BRANDS).map_err(StoreError::from_db)?;
            let mut all: Vec<Brand> = all_prefix(&t, "brands", &[])?;
            all.sort_by_key(|b| b.created_ms);
            Ok(all)
        })
    }
}
