//! Secrets (values sealed by the vault; this module never sees plaintext) and the vault's
//! key-check record.

use super::{all_prefix, get, get_raw, page_prefix, put, put_raw, remove};
use crate::model::{BrandId, Domain, Monitor, NotificationChannel, Page, PingKey, Sealed, Secret, SecretId, Source};
use crate::store::codec::{self, decode_id};
use crate::store::tables::{
    DOMAINS, META, META_VAULT_CHECK, MONITORS, NOTIFICATION_CHANNELS, PING_KEYS, SECRET_NAMES, SECRETS, SOURCES, key,
};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// A secret's new ciphertext during a master-key rotation.
#[derive(Debug, Clone)]
pub struct SealedSecretRef {
    pub brand: BrandId,
    pub id: SecretId,
    pub sealed: Sealed,
}

/// Everything a master-key rotation re-encrypts, with the records as read before (the
/// rotation commits only if they are unchanged).
#[derive(Debug, Clone)]
pub struct Resealed {
    pub secrets: Vec<SealedSecretRef>,
    pub expected_secrets: Vec<Secret>,
    pub domains: Vec<Domain>,
    pub expected_domains: Vec<Domain>,
    pub sources: Vec<Source>,
    pub expected_sources: Vec<Source>,
    /// Monitors with their ping tokens resealed.
    pub monitors: Vec<Monitor>,
    pub expected_monitors: Vec<Monitor>,
    /// Ping keys resealed.
    pub ping_keys: Vec<PingKey>,
    pub expected_ping_keys: Vec<PingKey>,
    /// Notification channels with their URLs and signing secrets resealed.
    pub channels: Vec<NotificationChannel>,
    pub expected_channels: Vec<NotificationChannel>,
}

fn name_key(brand: BrandId, name: &str) -> Vec<u8> {
    key(&[brand.as_bytes(), name.as_bytes()])
}

impl Store {
    /// Creates a secret; a brand's secret names are unique (`Conflict` carries the existing id).
    pub async fn create_secret(&self, s: Secret) -> Result<Secret, StoreError> {
        self.write(move |w| {
            let mut names = w.open_table(SECRET_NAMES).map_err(StoreError::from_db)?;
            let nk = name_key(s.brand, &s.key);
            if let Some(existing) = get_raw(&names, &nk)? {
                return Err(StoreError::Conflict {
                    what: "Secret",
                    existing: Some(decode_id("secret_names", &existing)?),
                });
            }
            let mut t = w.open_table(SECRETS).map_err(StoreError::from_db)?;
            put(&mut t, &key(&[s.brand.as_bytes(), s.id.as_bytes()]), &s)?;
            put_raw(&mut names, &nk, s.id.as_bytes())?;
            Ok(s)
        })
        .await
    }

    pub fn get_secret(&self, brand: BrandId, id: SecretId) -> Result<Option<Secret>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SECRETS).map_err(StoreError::from_db)?;
            get(&t, "secrets", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    pub fn find_secret(&self, brand: BrandId, name: &str) -> Result<Option<Secret>, StoreError> {
        self.read(|r| {
            let names = r.open_table(SECRET_NAMES).map_err(StoreError::from_db)?;
            let Some(id) = get_raw(&names, &name_key(brand, name))? else {
                return Ok(None);
            };
            let t = r.open_table(SECRETS).map_err(StoreError::from_db)?;
            get(&t, "secrets", &key(&[brand.as_bytes(), &id]))
        })
    }

    pub fn list_secrets(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<Secret>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SECRETS).map_err(StoreError::from_db)?;
            page_prefix(&t, "secrets", brand.as_bytes(), page, per_page)
        })
    }

    /// Every secret of every brand (for master-key rotation).
    pub fn all_secrets(&self) -> Result<Vec<Secret>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SECRETS).map_err(StoreError::from_db)?;
            all_prefix(&t, "secrets", &[])
        })
    }

    pub async fn update_secret_value(
        &self,
        brand: BrandId,
        id: SecretId,
        sealed: Sealed,
        now: Millis,
    ) -> Result<Secret, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SECRETS).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let mut s: Secret = get(&t, "secrets", &k)?.ok_or(StoreError::NotFound("Secret"))?;
            s.sealed = sealed;
            s.updated_ms = now;
            put(&mut t, &k, &s)?;
            Ok(s)
        })
        .await
    }

    pub async fn delete_secret(&self, brand: BrandId, id: SecretId) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SECRETS).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let s: Secret = get(&t, "secrets", &k)?.ok_or(StoreError::NotFound("Secret"))?;
            let mut names = w.open_table(SECRET_NAMES).map_err(StoreError::from_db)?;
            remove(&mut names, &name_key(brand, &s.key))?;
            remove(&mut t, &k)
        })
        .await
    }

    /// The vault's key-check ciphertext, if the store has one yet.
    pub fn vault_check(&self) -> Result<Option<Sealed>, StoreError> {
        self.read(|r| {
            let t = r.open_table(META).map_err(StoreError::from_db)?;
            get(&t, "meta", META_VAULT_CHECK)
        })
    }

    pub async fn set_vault_check(&self, check: Sealed) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(META).map_err(StoreError::from_db)?;
            put(&mut t, META_VAULT_CHECK, &check)
        })
        .await
    }

    /// Master-key rotation: replaces every secret's ciphertext and the key check in one commit.
    /// Fails (writing nothing) if a secret changed or vanished since it was read.
    /// Domains and sources are replaced whole (signing keys and ingest tokens resealed); they
    /// too must be unchanged.
    pub async fn reseal_all(&self, r: Resealed, check: Sealed) -> Result<usize, StoreError> {
        self.write(move |w| {
            let Resealed {
                secrets: resealed,
                expected_secrets: expected,
                domains,
                expected_domains,
                sources,
                expected_sources,
                monitors,
                expected_monitors,
                ping_keys,
                expected_ping_keys,
                channels,
                expected_channels,
            } = r;
            let mut t = w.open_table(SECRETS).map_err(StoreError::from_db)?;
            let current: Vec<Secret> = all_prefix(&t, "secrets", &[])?;
            let mut dt = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
            let current_domains: Vec<Domain> = all_prefix(&dt, "domains", &[])?;
            let mut st = w.open_table(SOURCES).map_err(StoreError::from_db)?;
            let current_sources: Vec<Source> = all_prefix(&st, "sources", &[])?;
            let mut mt = w.open_table(MONITORS).map_err(StoreError::from_db)?;
            let current_monitors: Vec<Monitor> = all_prefix(&mt, "monitors", &[])?;
            let mut kt = w.open_table(PING_KEYS).map_err(StoreError::from_db)?;
            let current_ping_keys: Vec<PingKey> = all_prefix(&kt, "ping_keys", &[])?;
            let mut ct = w.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            let current_channels: Vec<NotificationChannel> = all_prefix(&ct, "notification_channels", &[])?;
            if current != expected
                || current_domains != expected_domains
                || current_sources != expected_sources
                || current_monitors != expected_monitors
                || current_ping_keys != expected_ping_keys
                || current_channels != expected_channels
            {
                return Err(StoreError::State("secrets changed during key rotation; run it again".into()));
            }
            for d in &domains {
                put(&mut dt, &key(&[d.brand.as_bytes(), d.id.as_bytes()]), d)?;
            }
            for s in &sources {
                put(&mut st, &key(&[s.brand.as_bytes(), s.id.as_bytes()]), s)?;
            }
            for m in &monitors {
                put(&mut mt, &key(&[m.brand.as_bytes(), m.id.as_bytes()]), m)?;
            }
            for k in &ping_keys {
                put(&mut kt, k.brand.as_bytes(), k)?;
            }
            for c in &channels {
                put(&mut ct, &key(&[c.brand.as_bytes(), c.id.as_bytes()]), c)?;
            }
            for r in &resealed {
                let k = key(&[r.brand.as_bytes(), r.id.as_bytes()]);
                let raw = get_raw(&t, &k)?.ok_or(StoreError::NotFound("Secret"))?;
                let mut s: Secret = codec::decode("secrets", &raw)?;
                s.sealed = r.sealed.clone();
                put(&mut t, &k, &s)?;
            }
            let mut meta = w.open_table(META).map_err(StoreError::from_db)?;
            put(&mut meta, META_VAULT_CHECK, &check)?;
            Ok(resealed.len())
        })
        .await
    }
}
