//! Domains: unique per brand by `protocol://host`; cannot be deleted while templates use them.
//! Each domain's circuit-breaker record sits beside it and goes with it.

use super::{any_with_prefix, get, get_raw, page_prefix, put, put_raw, remove};
use crate::model::{BrandId, CircuitState, Domain, DomainCircuit, DomainId, Page, Protocol};
use crate::store::codec::decode_id;
use crate::store::tables::{DOMAIN_CIRCUITS, DOMAIN_NAMES, DOMAINS, TEMPLATE_BY_DOMAIN, key};
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
            let mut circuits = w.open_table(DOMAIN_CIRCUITS).map_err(StoreError::from_db)?;
            if get_raw(&circuits, &k)?.is_some() {
                remove(&mut circuits, &k)?;
            }
            remove(&mut t, &k)
        })
        .await
    }

    /// The stored circuit-breaker record of a domain (`None`: never written — closed).
    pub fn get_domain_circuit(&self, brand: BrandId, id: DomainId) -> Result<Option<DomainCircuit>, StoreError> {
        self.read(|r| {
            let t = r.open_table(DOMAIN_CIRCUITS).map_err(StoreError::from_db)?;
            get(&t, "domain_circuits", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    /// Every domain of every brand with its circuit's state as stored (`closed` when no
    /// transition was ever written): the `hookwheel_circuit_state` gauge's starting point.
    pub fn circuit_states(&self) -> Result<Vec<(DomainId, &'static str)>, StoreError> {
        self.read(|r| {
            let t = r.open_table(DOMAINS).map_err(StoreError::from_db)?;
            let circuits = r.open_table(DOMAIN_CIRCUITS).map_err(StoreError::from_db)?;
            let mut out = Vec::new();
            super::scan_prefix(&t, &[], |k, v| {
                let d: Domain = crate::store::codec::decode("domains", v)?;
                let c: Option<DomainCircuit> = get(&circuits, "domain_circuits", k)?;
                out.push((d.id, c.map_or("closed", |c| c.state.name())));
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// Records a circuit-breaker transition (or a reset): written only when `c.seq` is newer
    /// than the stored record's, so transitions persisted out of order keep the latest.
    /// Returns whether it was written; `NotFound` when the domain is gone.
    ///
    /// This is the one place a transition becomes durable: the `circuit_open` alert rule
    /// (product.md §12) is to enqueue its alert here, in the same write as the transition, so
    /// that an alert is sent exactly when an opening is recorded, across crashes.
    pub async fn record_circuit_transition(
        &self,
        brand: BrandId,
        id: DomainId,
        c: DomainCircuit,
    ) -> Result<bool, StoreError> {
        self.write(move |w| {
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let domains = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
            let Some(domain) = get::<Domain>(&domains, "domains", &k)? else {
                return Err(StoreError::NotFound("Domain"));
            };
            drop(domains);
            let mut t = w.open_table(DOMAIN_CIRCUITS).map_err(StoreError::from_db)?;
            let stored: Option<DomainCircuit> = get(&t, "domain_circuits", &k)?;
            if stored.is_some_and(|s| s.seq >= c.seq) {
                return Ok(false);
            }
            put(&mut t, &k, &c)?;
            drop(t);
            // closed → open raises `circuit_open` (a failed probe re-opening does not).
            let was_closed = stored.is_none_or(|s| matches!(s.state, CircuitState::Closed));
            if was_closed && matches!(c.state, CircuitState::Open { .. }) {
                let host = format!("{}://{}", domain.protocol.as_str(), domain.host);
                let signal = crate::monitor::alert::Signal::CircuitOpen { domain: id.0, host };
                super::alerts::enqueue_signal(w, brand, signal, c.changed_ms)?;
            }
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Metrics;
    use crate::model::*;
    use crate::store::{CACHE_BYTES_DEFAULT, Store, StoreError, WriterSettings};

    #[tokio::test]
    async fn circuit_records_keep_the_newest_and_go_with_their_domain() {
        let dir = tempfile::tempdir().unwrap();
        let settings = WriterSettings {
            commit_batch_max: 8,
            write_queue_capacity: 8,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        };
        let store = Store::open(&dir.path().join("s.redb"), settings, Metrics::new()).unwrap();
        let brand = BrandId::new();
        let d = Domain {
            id: DomainId::new(),
            brand,
            protocol: Protocol::Https,
            host: "a.example".into(),
            rate_limit_enabled: false,
            concurrency_control_enabled: false,
            max_concurrent_jobs: 0,
            max_requests_per_second: 0,
            signing: Vec::new(),
            breaker: BreakerSettings {
                enabled: true,
                failure_threshold: 3,
                open_seconds: 2,
                ..BreakerSettings::default()
            },
            created_ms: 0,
            updated_ms: 0,
        };
        store.create_domain(d.clone()).await.unwrap();
        assert_eq!(store.get_domain(brand, d.id).unwrap().unwrap().breaker.failure_threshold, 3);
        assert_eq!(store.get_domain_circuit(brand, d.id).unwrap(), None);
        let mut open = DomainCircuit::new(0);
        open.state = CircuitState::Open { opened_ms: 5, until_ms: 2_005 };
        open.seq = 2;
        assert!(store.record_circuit_transition(brand, d.id, open).await.unwrap());
        let mut older = DomainCircuit::new(0);
        older.seq = 1;
        assert!(!store.record_circuit_transition(brand, d.id, older).await.unwrap(), "an older transition loses");
        assert_eq!(store.get_domain_circuit(brand, d.id).unwrap(), Some(open));
        // The gauge's starting point: the stored state, `closed` for a domain never written.
        let quiet = Domain { id: DomainId::new(), host: "b.example".into(), ..d.clone() };
        store.create_domain(quiet.clone()).await.unwrap();
        let mut states = store.circuit_states().unwrap();
        states.sort();
        let mut expected = vec![(d.id, "open"), (quiet.id, "closed")];
        expected.sort();
        assert_eq!(states, expected);
        store.delete_domain(brand, quiet.id).await.unwrap();
        // Another brand's id names nothing.
        assert_eq!(store.get_domain_circuit(BrandId::new(), d.id).unwrap(), None);
        let r = store.record_circuit_transition(BrandId::new(), d.id, open).await;
        assert!(matches!(r, Err(StoreError::NotFound("Domain"))), "{r:?}");
        store.delete_domain(brand, d.id).await.unwrap();
        assert_eq!(store.get_domain_circuit(brand, d.id).unwrap(), None);
        let r = store.record_circuit_transition(brand, d.id, open).await;
        assert!(matches!(r, Err(StoreError::NotFound("Domain"))), "no record for a deleted domain: {r:?}");
    }
}
