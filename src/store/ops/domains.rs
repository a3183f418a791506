//! Domains: unique per brand by `protocol://host`; cannot be deleted while templates use them.

use super::{any_with_prefix, get, get_raw, page_prefix, put, put_raw, remove};
use crate::model::{BrandId, Domain, DomainId, Page, Protocol};
use crate::store::codec::decode_id;
use crate::store::tables::{DOMAIN_NAMES, DOMAINS, TEMPLATE_BY_DOMAIN, key};
use crate::store::{Store, StoreError};

pub(crate) fn name_key(brand: BrandId, protocol: Protocol, host: &str) -> Vec<u8> {
    key(&[brand.as_bytes(), protocol.as_str().as_bytes(), b"://", host.as_bytes()])
}

/// Inserts a new domain inside an open write transaction, refusing a duplicate name.
pub(crate) fn insert_domain(w: &redb::WriteTransaction, d: &Domain) -> Result<(), StoreError> {
    let mut names = w.open_table(DOMAIN_NAMES).map_err(StoreError::from_db)?;
    let nk = name_key(d.brand, d.protocol, &d.host);
    if let Some(existing) = get_raw(&names, &nk)? {
        return Err(StoreError::Conflict { what: "Domain", existing: Some(decode_id("domain_names", &existing)?) });
    }
    let mut t = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
    put(&mut t, &key(&[d.brand.as_bytes(), d.id.as_bytes()]), d)?;
    put_raw(&mut names, &nk, d.id.as_bytes())
}

impl Store {
    pub async fn create_domain(&self, d: Domain) -> Result<Domain, StoreError> {
        self.write(move |w| {
            insert_domain(w, &d)?;
            Ok(d)
        })
        .await
    }

    pub fn get_domain(&self, brand: BrandId, id: DomainId) -> Result<Option<Domain>, StoreError> {
        self.read(|r| {
            let t = r.open_table(DOMAINS).map_err(StoreError::from_db)?;
            get(&t, "domains", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    pub fn find_domain(&self, brand: BrandId, protocol: Protocol, host: &str) -> Result<Option<Domain>, StoreError> {
        self.read(|r| {
            let names = r.open_table(DOMAIN_NAMES).map_err(StoreError::from_db)?;
            let Some(id) = get_raw(&names, &name_key(brand, protocol, host))? else {
                return Ok(None);
            };
            let t = r.open_table(DOMAINS).map_err(StoreError::from_db)?;
            get(&t, "domains", &key(&[brand.as_bytes(), &id]))
        })
    }

    /// Every domain of every brand (vault rotation, signing-secret migration).
    pub fn all_domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.read(|r| {
            let t = r.open_table(DOMAINS).map_err(StoreError::from_db)?;
            super::all_prefix(&t, "domains", &[])
        })
    }

    /// Replaces a domain's signing keys (rotation, migration); other fields are kept.
    pub async fn set_domain_signing(
        &self,
        brand: BrandId,
        id: DomainId,
        signing: Vec<crate::model::SigningKey>,
    ) -> Result<Domain, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let mut d: Domain = get(&t, "domains", &k)?.ok_or(StoreError::NotFound("Domain"))?;
            d.signing = signing;
            put(&mut t, &k, &d)?;
            Ok(d)
        })
        .await
    }

    pub fn list_domains(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<Domain>, StoreError> {
        self.read(|r| {
            let t = r.open_table(DOMAINS).map_err(StoreError::from_db)?;
            page_prefix(&t, "domains", brand.as_bytes(), page, per_page)
        })
    }

    /// Replaces a domain record (same id and brand); keeps the name index in step.
    pub async fn update_domain(&self, d: Domain) -> Result<Domain, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
            let k = key(&[d.brand.as_bytes(), d.id.as_bytes()]);
            let old: Domain = get(&t, "domains", &k)?.ok_or(StoreError::NotFound("Domain"))?;
            let mut names = w.open_table(DOMAIN_NAMES).map_err(StoreError::from_db)?;
            let new_name = name_key(d.brand, d.protocol, &d.host);
            let old_name = name_key(old.brand, old.protocol, &old.host);
            if new_name != old_name {
                if let Some(existing) = get_raw(&names, &new_name)? {
                    return Err(StoreError::Conflict {
                        what: "Domain",
                        existing: Some(decode_id("domain_names", &existing)?),
                    });
                }
                remove(&mut names, &old_name)?;
                put_raw(&mut names, &new_name, d.id.as_bytes())?;
            }
            // Signing keys change only through set_domain_signing (a concurrent rotation wins).
            let mut d = d;
            d.signing = old.signing;
            put(&mut t, &k, &d)?;
            Ok(d)
        })
        .await
    }

    pub async fn delete_domain(&self, brand: BrandId, id: DomainId) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let d: Domain = get(&t, "domains", &k)?.ok_or(StoreError::NotFound("Domain"))?;
            let users = w.open_table(TEMPLATE_BY_DOMAIN).map_err(StoreError::from_db)?;
            if any_with_prefix(&users, &k)? {
                return Err(StoreError::InUse { what: "Domain", by: "webhook templates".into() });
            }
            if Store::domain_used_by_workflows(w, brand, id)? {
                return Err(StoreError::InUse { what: "Domain", by: "workflow steps".into() });
            }
            let mut names = w.open_table(DOMAIN_NAMES).map_err(StoreError::from_db)?;
            remove(&mut names, &name_key(brand, d.protocol, &d.host))?;
            remove(&mut t, &k)
        })
        .await
    }
}
