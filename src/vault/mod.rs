//! The vault: AES-256-GCM sealing of secret values under one master key.
//!
//! Each write uses a fresh random 96-bit nonce and binds the secret's id as associated data,
//! so a ciphertext copied onto another secret does not open. The store keeps a sealed
//! "key check" so that a wrong master key is detected at start instead of yielding garbage.
//! Master-key custody and the crash-safe rotation protocol are described on [`rotate_key`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::model::{BrandId, ChannelId, DomainId, MonitorId, Sealed, SecretId, SigningKey, SourceId};
use crate::store::{OpenMode, SealedSecretRef, Store, StoreError};

const CHECK_PLAINTEXT: &[u8] = b"hookwheel vault key check v1";
const CHECK_AAD: &[u8] = b"hookwheel:vault-check";

/// Where the master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (hex, 64 characters), created with mode 0600 on first start.
    File(PathBuf),
    /// `$CREDENTIALS_DIRECTORY/<name>` (systemd `LoadCredential[Encrypted]=`), raw 32 bytes or hex.
    Credential(String),
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "the vault master key does not match this store (the key check failed to decrypt); \
         refusing to start rather than return garbage. Restore the right key to {0}"
    )]
    WrongKey(String),
    #[error(
        "the store holds sealed secrets but the vault master key {0} is missing; restore it (a new key cannot open old secrets)"
    )]
    MissingKey(String),
    /// An admin command found no key file and the store has no key check: only `serve`
    /// creates a master key.
    #[error(
        "no vault master key at {0}; only `hookwheel serve` creates one (pass --data-dir or --config to name the daemon's)"
    )]
    NoKeyFile(String),
    #[error("vault master key {path}: {detail}")]
    BadKeyFile { path: String, detail: String },
    #[error("cannot read the systemd credential {0}: $CREDENTIALS_DIRECTORY is not set or the file is missing")]
    NoCredential(String),
    #[error(
        "key rotation writes a new key file and cannot replace a systemd credential; rotate it with systemd-creds and restart"
    )]
    RotateNeedsFile,
    #[error("a sealed value failed to decrypt (wrong key or tampered record)")]
    Decrypt,
    #[error("vault key file I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    fn generate() -> MasterKey {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).expect("OS random source");
        MasterKey(k)
    }

    fn parse(bytes: &[u8], origin: &str) -> Result<MasterKey, VaultError> {
        let bad = |detail: &str| VaultError::BadKeyFile { path: origin.to_string(), detail: detail.to_string() };
        let mut k = Zeroizing::new([0u8; 32]);
        if bytes.len() == 32 {
            k.copy_from_slice(bytes);
            return Ok(MasterKey(k));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("expected 32 raw bytes or 64 hex characters"))?.trim();
        if text.len() != 64 {
            return Err(bad("expected 32 raw bytes or 64 hex characters"));
        }
        for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(|_| bad("not hex"))?;
            k[i] = u8::from_str_radix(pair, 16).map_err(|_| bad("not hex"))?;
        }
        Ok(MasterKey(k))
    }

    fn to_hex(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(65));
        for b in self.0.iter() {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
        s
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(self.0.as_ref()).expect("32-byte key")
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("OS random source");
        let ciphertext = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption of an in-memory buffer");
        Sealed { nonce, ciphertext }
    }

    fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.cipher()
            .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Decrypt)
    }

    /// HMAC-SHA256 under a key derived from the master key for `purpose` (HKDF-style: the
    /// derived key is HMAC(master, purpose)), so a digest stored somewhere reveals nothing of
    /// a short value without the master key.
    fn keyed_digest(&self, purpose: &[u8], data: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut derive = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_ref()).expect("any key length");
        derive.update(purpose);
        let derived: Zeroizing<[u8; 32]> = Zeroizing::new(derive.finalize().into_bytes().into());
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(derived.as_ref()).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn opens_check(&self, check: &Sealed) -> bool {
        self.open(CHECK_AAD, check).is_ok_and(|p| p.as_slice() == CHECK_PLAINTEXT)
    }
}

/// The master key, and from the start of a key rotation the other key of the pair: the new
/// one while the rotation commits, then the previous one until the next rotation or restart.
/// A record read just before or after a rotation's commit is sealed under either, so opening
/// tries both (AES-GCM authenticates: the wrong key fails, it never returns other bytes).
struct Keys {
    current: MasterKey,
    other: Option<MasterKey>,
}

impl Keys {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Sealed {
        self.current.seal(aad, plaintext)
    }

    fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.current.open(aad, sealed).or_else(|e| match &self.other {
            Some(other) => other.open(aad, sealed),
            None => Err(e),
        })
    }

    fn keyed_digest(&self, purpose: &[u8], data: &[u8]) -> [u8; 32] {
        self.current.keyed_digest(purpose, data)
    }
}

/// Seals and opens secret values. Cheap to clone; rotation swaps the key for every clone.
#[derive(Clone)]
pub struct Vault {
    key: Arc<RwLock<Keys>>,
    source: KeySource,
    /// Held shared by every mutating API call (from sealing a value until its record is
    /// committed), and exclusively by a key rotation, so no value sealed with the old key
    /// commits after the rotation resealed.
    rotation: Arc<tokio::sync::RwLock<()>>,
}

impl Vault {
    /// Loads the master key (generating it on a first start with the file source), verifies it
    /// against the store's key check, and records the check if the store has none yet.
    pub async fn load(source: KeySource, store: &Store) -> Result<Vault, VaultError> {
        Self::load_with(source, store, OpenMode::CreateIfMissing).await
    }

    /// [`Vault::load`] where `mode` says whether a missing key file may be generated:
    /// [`OpenMode::MustExist`] (admin commands) fails with [`VaultError::NoKeyFile`] instead, so
    /// only `serve` ever creates a master key.
    pub async fn load_with(source: KeySource, store: &Store, mode: OpenMode) -> Result<Vault, VaultError> {
        let check = store.vault_check()?;
        let key = match &source {
            KeySource::File(path) => load_key_file(path, check.as_ref(), mode)?,
            KeySource::Credential(name) => {
                let dir =
                    std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| VaultError::NoCredential(name.clone()))?;
                let path = Path::new(&dir).join(name);
                let bytes = Zeroizing::new(std::fs::read(&path).map_err(|_| VaultError::NoCredential(name.clone()))?);
                MasterKey::parse(&bytes, &path.display().to_string())?
            }
        };
        match &check {
            Some(c) if !key.opens_check(c) => return Err(VaultError::WrongKey(describe(&source))),
            Some(_) => {}
            None => store.set_vault_check(key.seal(CHECK_AAD, CHECK_PLAINTEXT)).await?,
        }
        Ok(Vault {
            key: Arc::new(RwLock::new(Keys { current: key, other: None })),
            source,
            rotation: Arc::new(tokio::sync::RwLock::new(())),
        })
    }

    fn key(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.key.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Hold this from sealing a value until its record is committed.
    pub async fn sealing(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.rotation.read().await
    }

    /// Seals a secret value, binding the secret id.
    pub fn seal(&self, id: SecretId, plaintext: &[u8]) -> Sealed {
        self.key().seal(id.as_bytes(), plaintext)
    }

    /// Opens a secret value; fails if the ciphertext belongs to another id or was altered.
    pub fn open(&self, id: SecretId, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.key().open(id.as_bytes(), sealed)
    }

    /// A keyed digest of `data` for `purpose` (e.g. the fingerprint of a request that carries a
    /// secret value): equal inputs give equal digests under one master key, and a digest
    /// cannot be turned back into a short value without that key.
    pub fn keyed_digest(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        self.key().keyed_digest(purpose.as_bytes(), data)
    }

    /// Seals a domain signing secret, binding the domain id and the key's creation time.
    pub fn seal_signing(&self, domain: DomainId, created_ms: i64, secret: &str) -> Sealed {
        self.key().seal(&signing_aad(domain, created_ms), secret.as_bytes())
    }

    /// Opens a domain signing secret.
    pub fn open_signing(&self, domain: DomainId, key: &SigningKey) -> Result<Zeroizing<String>, VaultError> {
        let plain = self.key().open(&signing_aad(domain, key.created_ms), &key.sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| VaultError::Decrypt)
    }

    /// Seals a source's ingest token, binding the source id.
    pub fn seal_token(&self, source: SourceId, token: &str) -> Sealed {
        self.key().seal(&token_aad(source), token.as_bytes())
    }

    /// Opens a source's ingest token.
    pub fn open_token(&self, source: SourceId, sealed: &Sealed) -> Result<Zeroizing<String>, VaultError> {
        let plain = self.key().open(&token_aad(source), sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| VaultError::Decrypt)
    }

    /// Seals a monitor's ping token, binding the monitor id.
    pub fn seal_ping_token(&self, monitor: MonitorId, token: &str) -> Sealed {
        self.key().seal(&ping_token_aad(monitor), token.as_bytes())
    }

    /// Opens a monitor's ping token.
    pub fn open_ping_token(&self, monitor: MonitorId, sealed: &Sealed) -> Result<Zeroizing<String>, VaultError> {
        let plain = self.key().open(&ping_token_aad(monitor), sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| VaultError::Decrypt)
    }

    /// Seals a brand's ping key, binding the brand id.
    pub fn seal_ping_key(&self, brand: BrandId, ping_key: &str) -> Sealed {
        self.key().seal(&ping_key_aad(brand), ping_key.as_bytes())
    }

    /// Opens a brand's ping key.
    pub fn open_ping_key(&self, brand: BrandId, sealed: &Sealed) -> Result<Zeroizing<String>, VaultError> {
        let plain = self.key().open(&ping_key_aad(brand), sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| VaultError::Decrypt)
    }

    /// Seals a notification channel's URL (Slack and Discord URLs are credentials), binding
    /// the channel id.
    pub fn seal_channel_url(&self, channel: ChannelId, url: &str) -> Sealed {
        self.key().seal(&channel_url_aad(channel), url.as_bytes())
    }

    /// Opens a notification channel's URL.
    pub fn open_channel_url(&self, channel: ChannelId, sealed: &Sealed) -> Result<Zeroizing<String>, VaultError> {
        let plain = self.key().open(&channel_url_aad(channel), sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| VaultError::Decrypt)
    }

    /// Re-encrypts every secret under a new master key.
    ///
    /// Crash-safe order: (1) write the new key to `<key file>.new` and fsync; (2) commit every
    /// resealed value plus the new key check in one store transaction; (3) rename `.new` over the
    /// key file. A crash after (1) leaves the old key valid (the `.new` file is ignored because it
    /// fails the check); a crash after (2) is finished at the next start, which finds that only
    /// `.new` opens the check and renames it into place.
    ///
    /// In the running daemon, opening tries both keys of the pair from the start of (2) on
    /// (the new key while the commit lands, then the previous one), so a request that read a
    /// record on either side of the commit never fails to open it; the previous key stays in
    /// memory until the next rotation or restart.
    pub async fn rotate_key(&self, store: &Store) -> Result<usize, VaultError> {
        let KeySource::File(path) = &self.source else {
            return Err(VaultError::RotateNeedsFile);
        };
        let _exclusive = self.rotation.write().await;
        let new_key = MasterKey::generate();
        let pending = pending_path(path);
        write_key_file(&pending, &new_key)?;

        let secrets = store.all_secrets()?;
        let mut resealed = Vec::with_capacity(secrets.len());
        for s in &secrets {
            let plain = self.open(s.id, &s.sealed)?;
            resealed.push(SealedSecretRef { brand: s.brand, id: s.id, sealed: new_key.seal(s.id.as_bytes(), &plain) });
        }
        let domains = store.all_domains()?;
        let mut resealed_domains = domains.clone();
        for d in &mut resealed_domains {
            for k in &mut d.signing {
                let aad = signing_aad(d.id, k.created_ms);
                let plain = self.key().open(&aad, &k.sealed)?;
                k.sealed = new_key.seal(&aad, &plain);
            }
        }
        let sources = store.all_sources()?;
        let mut resealed_sources = sources.clone();
        for src in &mut resealed_sources {
            let aad = token_aad(src.id);
            let plain = self.key().open(&aad, &src.token)?;
            src.token = new_key.seal(&aad, &plain);
        }
        let monitors = store.all_monitors()?;
        let mut resealed_monitors = monitors.clone();
        for m in &mut resealed_monitors {
            let aad = ping_token_aad(m.id);
            let plain = self.key().open(&aad, &m.token)?;
            m.token = new_key.seal(&aad, &plain);
        }
        let ping_keys = store.all_ping_keys()?;
        let mut resealed_ping_keys = ping_keys.clone();
        for k in &mut resealed_ping_keys {
            let aad = ping_key_aad(k.brand);
            let plain = self.key().open(&aad, &k.sealed)?;
            k.sealed = new_key.seal(&aad, &plain);
        }
        let channels = store.all_channels()?;
        let mut resealed_channels = channels.clone();
        for c in &mut resealed_channels {
            if let crate::model::ChannelAddress::Url { sealed, .. } = &mut c.address {
                let aad = channel_url_aad(c.id);
                let plain = self.key().open(&aad, sealed)?;
                *sealed = new_key.seal(&aad, &plain);
            }
            if let Some(sealed) = &mut c.signing {
                let aad = signing_aad(DomainId(c.id.0), c.created_ms);
                let plain = self.key().open(&aad, sealed)?;
                *sealed = new_key.seal(&aad, &plain);
            }
        }
        // From here a record may be read sealed under either key (the commit below is not
        // seen by every reader at the same instant as the key swap after it).
        let prior_other = self.key.write().unwrap_or_else(|e| e.into_inner()).other.replace(new_key.clone());
        let resealed = async {
            // A failed commit (disk full, a concurrent change), for the rotation's failure path.
            #[cfg(feature = "failpoints")]
            fail::fail_point!("vault::reseal", |arg| Err(crate::store::injected_fault(arg)));
            store
                .reseal_all(
                    crate::store::Resealed {
                        secrets: resealed,
                        expected_secrets: secrets,
                        domains: resealed_domains,
                        expected_domains: domains,
                        sources: resealed_sources,
                        expected_sources: sources,
                        monitors: resealed_monitors,
                        expected_monitors: monitors,
                        ping_keys: resealed_ping_keys,
                        expected_ping_keys: ping_keys,
                        channels: resealed_channels,
                        expected_channels: channels,
                    },
                    new_key.seal(CHECK_AAD, CHECK_PLAINTEXT),
                )
                .await
        }
        .await;
        let n = match resealed {
            Ok(n) => n,
            Err(e) => {
                // Nothing was resealed: the new key never sealed a stored value, so the
                // fallback key goes back to what it was before this rotation.
                self.key.write().unwrap_or_else(|e| e.into_inner()).other = prior_other;
                return Err(e.into());
            }
        };
        {
            let mut keys = self.key.write().unwrap_or_else(|e| e.into_inner());
            let previous = std::mem::replace(&mut keys.current, new_key);
            keys.other = Some(previous);
        }
        std::fs::rename(&pending, path)?;
        sync_parent(path);
        Ok(n)
    }
}

/// Associated data of a domain signing secret: domain id and creation time.
/// Associated data of a source's ingest token.
fn token_aad(source: SourceId) -> Vec<u8> {
    let mut aad = b"ingest-token:".to_vec();
    aad.extend_from_slice(source.as_bytes());
    aad
}

/// Associated data of a notification channel's URL.
fn channel_url_aad(channel: ChannelId) -> Vec<u8> {
    let mut aad = b"channel-url:".to_vec();
    aad.extend_from_slice(channel.as_bytes());
    aad
}

/// Associated data of a monitor's ping token.
fn ping_token_aad(monitor: MonitorId) -> Vec<u8> {
    let mut aad = b"ping-token:".to_vec();
    aad.extend_from_slice(monitor.as_bytes());
    aad
}

/// Associated data of a brand's ping key.
fn ping_key_aad(brand: BrandId) -> Vec<u8> {
    let mut aad = b"ping-key:".to_vec();
    aad.extend_from_slice(brand.as_bytes());
    aad
}

fn signing_aad(domain: DomainId, created_ms: i64) -> Vec<u8> {
    let mut aad = b"domain-signing:".to_vec();
    aad.extend_from_slice(domain.as_bytes());
    aad.extend_from_slice(&created_ms.to_le_bytes());
    aad
}

fn describe(source: &KeySource) -> String {
    match source {
        KeySource::File(p) => p.display().to_string(),
        KeySource::Credential(n) => format!("systemd credential {n}"),
    }
}

fn pending_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

fn load_key_file(path: &Path, check: Option<&Sealed>, mode: OpenMode) -> Result<MasterKey, VaultError> {
    let pending = pending_path(path);
    let read = |p: &Path| -> Result<Option<MasterKey>, VaultError> {
        match std::fs::read(p) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                MasterKey::parse(&bytes, &p.display().to_string()).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    let current = read(path)?;
    let Some(check) = check else {
        // A store without a key check has never sealed anything: use the file or create one.
        if let Some(k) = current {
            return Ok(k);
        }
        if mode == OpenMode::MustExist {
            return Err(VaultError::NoKeyFile(path.display().to_string()));
        }
        let k = MasterKey::generate();
        write_key_file(path, &k)?;
        return Ok(k);
    };
    if let Some(k) = &current
        && k.opens_check(check)
    {
        let _ = std::fs::remove_file(&pending); // an abandoned rotation
        return Ok(current.expect("checked above"));
    }
    // A rotation that committed but did not rename: finish it.
    if let Some(k) = read(&pending)?
        && k.opens_check(check)
    {
        std::fs::rename(&pending, path)?;
        sync_parent(path);
        return Ok(k);
    }
    match current {
        Some(_) => Err(VaultError::WrongKey(path.display().to_string())),
        None => Err(VaultError::MissingKey(path.display().to_string())),
    }
}

/// Writes a key file with mode 0600 (never readable by others, even briefly) and fsyncs it.
fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), VaultError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    let mut hex = key.to_hex();
    f.write_all(hex.as_bytes())?;
    hex.zeroize();
    f.sync_all()?;
    sync_parent(path);
    Ok(())
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
    {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_binds_the_id_and_uses_fresh_nonces() {
        let k = MasterKey::generate();
        let a = SecretId::new();
        let b = SecretId::new();
        let s1 = k.seal(a.as_bytes(), b"hunter2");
        let s2 = k.seal(a.as_bytes(), b"hunter2");
        assert_ne!(s1.nonce, s2.nonce);
        assert_ne!(s1.ciphertext, s2.ciphertext);
        assert_eq!(k.open(a.as_bytes(), &s1).unwrap().as_slice(), b"hunter2");
        assert!(k.open(b.as_bytes(), &s1).is_err(), "another id's AAD must not open it");
        assert!(MasterKey::generate().open(a.as_bytes(), &s1).is_err(), "another key must not open it");
        assert!(!s1.ciphertext.windows(7).any(|w| w == b"hunter2"));
    }

    fn small_store(dir: &Path) -> Store {
        Store::open(
            &dir.join("s.redb"),
            crate::store::WriterSettings {
                commit_batch_max: 8,
                write_queue_capacity: 8,
                cache_bytes: crate::store::CACHE_BYTES_DEFAULT,
                ..Default::default()
            },
            crate::metrics::Metrics::new(),
        )
        .unwrap()
    }

    /// A record read just before a rotation's commit holds the old key's seal, one read just
    /// after it the new key's, whichever key the reader's vault holds at that instant: both
    /// open, on both sides of the swap. (A flood of ingest requests during
    /// `hookwheel vault rotate-key` got one 401 in 2,549 when only the current key was tried.)
    #[tokio::test]
    async fn a_value_read_on_either_side_of_a_rotation_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let path = dir.path().join("vault.key");
        let vault = Vault::load(KeySource::File(path.clone()), &store).await.unwrap();
        let id = SecretId::new();
        let before = vault.seal(id, b"v");
        // While the rotation commits, a record may already hold the new key's seal.
        let next = MasterKey::generate();
        vault.key.write().unwrap().other = Some(next.clone());
        let resealed = next.seal(id.as_bytes(), b"v");
        assert_eq!(vault.open(id, &resealed).unwrap().as_slice(), b"v");
        vault.key.write().unwrap().other = None;
        assert!(vault.open(id, &resealed).is_err(), "a key outside the pair never opens a value");
        // After the swap, a copy read before the commit still opens.
        vault.rotate_key(&store).await.unwrap();
        assert_eq!(vault.open(id, &before).unwrap().as_slice(), b"v");
        let fresh = Vault::load_with(KeySource::File(path), &store, OpenMode::MustExist).await.unwrap();
        assert!(fresh.open(id, &before).is_err(), "the key file holds the new key only");
        assert_eq!(fresh.open(id, &vault.seal(id, b"w")).unwrap().as_slice(), b"w", "new values use the new key");
        store.shutdown().await;
    }

    /// A rotation whose commit fails leaves the vault as it was: the current key, and the
    /// previous rotation's key still accepted for a copy read before that rotation committed.
    #[cfg(feature = "failpoints")]
    #[tokio::test]
    async fn a_failed_rotation_keeps_both_keys_of_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let path = dir.path().join("vault.key");
        let vault = Vault::load(KeySource::File(path.clone()), &store).await.unwrap();
        let id = SecretId::new();
        let before_first = vault.seal(id, b"v");
        vault.rotate_key(&store).await.unwrap();
        let after_first = vault.seal(id, b"v");
        fail::cfg("vault::reseal", "1*return").unwrap();
        let failed = vault.rotate_key(&store).await;
        fail::remove("vault::reseal");
        assert!(failed.is_err(), "the injected commit failure is reported");
        assert_eq!(vault.open(id, &after_first).unwrap().as_slice(), b"v");
        assert_eq!(
            vault.open(id, &before_first).unwrap().as_slice(),
            b"v",
            "the key the last rotation replaced still opens a copy read before it"
        );
        let fresh = Vault::load_with(KeySource::File(path), &store, OpenMode::MustExist).await.unwrap();
        assert_eq!(fresh.open(id, &after_first).unwrap().as_slice(), b"v", "the key file is unchanged");
        store.shutdown().await;
    }

    #[tokio::test]
    async fn only_create_if_missing_generates_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let path = dir.path().join("vault.key");
        // A store that never sealed anything (no key check) and no key file: an admin command
        // refuses and creates nothing.
        let r = Vault::load_with(KeySource::File(path.clone()), &store, OpenMode::MustExist).await;
        assert!(matches!(&r, Err(VaultError::NoKeyFile(p)) if p == &path.display().to_string()), "{:?}", r.err());
        assert!(!path.exists());
        assert!(store.vault_check().unwrap().is_none(), "nothing recorded in the store");
        // serve creates it; afterwards both modes load the same key.
        let created = Vault::load(KeySource::File(path.clone()), &store).await.unwrap();
        assert!(path.exists());
        let loaded = Vault::load_with(KeySource::File(path.clone()), &store, OpenMode::MustExist).await.unwrap();
        let id = SecretId::new();
        assert_eq!(loaded.open(id, &created.seal(id, b"v")).unwrap().as_slice(), b"v");
        store.shutdown().await;
    }

    #[test]
    fn key_files_parse_as_hex_or_raw() {
        let k = MasterKey::generate();
        let hex = k.to_hex();
        let parsed = MasterKey::parse(hex.as_bytes(), "t").unwrap();
        assert_eq!(parsed.0.as_ref(), k.0.as_ref());
        let raw = MasterKey::parse(k.0.as_ref(), "t").unwrap();
        assert_eq!(raw.0.as_ref(), k.0.as_ref());
        assert!(MasterKey::parse(b"short", "t").is_err());
    }
}
