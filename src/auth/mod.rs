//! API keys: generation, hashing and verification.
//!
//! A key is `hwk_` followed by 43 base64url characters (32 random bytes = 256 bits). Only its
//! SHA-256 is stored; a fast hash is right for 256-bit random secrets (nothing to brute-force),
//! and a slow one per request would hand attackers a CPU lever. The stored hash is compared in
//! constant time. The first 12 characters (`hwk_` + 8) are the key's shown, revocable prefix.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::model::{ApiKey, BrandId, KeyId};
use crate::time::Millis;

pub const KEY_PREFIX: &str = "hwk_";
const KEY_RANDOM_BYTES: usize = 32;
/// Characters of a key shown in listings: the typed prefix plus 8.
pub const SHOWN_PREFIX_CHARS: usize = KEY_PREFIX.len() + 8;

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Why `key revoke` refuses `reference`, when it is more than a key's shown prefix: a whole key
/// (or most of one) does not belong on a command line, where shell history and the process
/// list keep it. The message names the prefix to give instead (shown by `key list`, not a
/// secret) and never repeats the rest. `None` for anything else (an id, a prefix, garbage,
/// which the lookup answers).
pub fn whole_key_refusal(reference: &str) -> Option<String> {
    let prefix = reference.get(..SHOWN_PREFIX_CHARS)?;
    if !reference.starts_with(KEY_PREFIX) || reference.len() == SHOWN_PREFIX_CHARS {
        return None;
    }
    Some(format!(
        "refusing a whole API key on the command line (it was not used or sent anywhere): give the key's \
         prefix {prefix} or its id, as `hookwheel key list --brand UUID` shows them; then clear the key \
         from your shell history"
    ))
}

/// A new key: the stored record and the plaintext, which is shown once and never stored.
pub fn generate_key(brand: BrandId, now: Millis) -> (ApiKey, Zeroizing<String>) {
    let mut random = Zeroizing::new([0u8; KEY_RANDOM_BYTES]);
    getrandom::fill(random.as_mut()).expect("OS random source");
    let plain = Zeroizing::new(format!("{KEY_PREFIX}{}", base64url(random.as_ref())));
    let record = ApiKey {
        id: KeyId::new(),
        brand,
        prefix: plain[..SHOWN_PREFIX_CHARS].to_string(),
        hash: sha256(plain.as_bytes()),
        created_ms: now,
        last_used_ms: None,
        revoked_ms: None,
    };
    (record, plain)
}

/// True when `presented` hashes to the stored hash (constant-time comparison).
pub fn verify(presented: &str, stored: &ApiKey) -> bool {
    bool::from(sha256(presented.as_bytes()).ct_eq(&stored.hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_key_is_refused_for_revocation_without_being_repeated() {
        let (_, plain) = generate_key(BrandId::new(), 0);
        let msg = whole_key_refusal(&plain).expect("refused");
        assert!(msg.contains(&plain[..SHOWN_PREFIX_CHARS]), "names the prefix: {msg}");
        assert!(!msg.contains(&plain[SHOWN_PREFIX_CHARS..SHOWN_PREFIX_CHARS + 4]), "repeats the key: {msg}");
        // One character more than the prefix is already too much of the key.
        assert!(whole_key_refusal(&plain[..SHOWN_PREFIX_CHARS + 1]).is_some());
        assert_eq!(whole_key_refusal(&plain[..SHOWN_PREFIX_CHARS]), None);
        assert_eq!(whole_key_refusal("0192f6a4-1c7e-7d3a-9a51-2f0c8e6b4d21"), None);
        assert_eq!(whole_key_refusal("short"), None);
        // Not a character boundary at the prefix length: no panic, and no key format either.
        assert_eq!(whole_key_refusal("hwk_a€€€€€"), None);
    }

    #[test]
    fn keys_are_long_random_typed_and_verifiable() {
        let brand = BrandId::new();
        let (rec, plain) = generate_key(brand, 0);
        assert!(plain.starts_with("hwk_"));
        assert_eq!(plain.len(), 4 + 43);
        assert_eq!(rec.prefix, &plain[..12]);
        assert!(verify(&plain, &rec));
        assert!(!verify("hwk_wrong", &rec));
        let (_, other) = generate_key(brand, 0);
        assert_ne!(*plain, *other);
    }

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
