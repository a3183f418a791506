//! The dashboard's sessions, in memory: a session ends at idle expiry, at absolute expiry, at
//! sign-out, when its API key is revoked (checked by the caller on every request) and when the
//! daemon restarts (nothing is stored: docs/ui.md, "Sessions"). Time comes from the caller.
//!
//! A session id is 256 random bits, sent to the browser as 64 hex characters in the
//! `hw_session` cookie; the table is keyed by the id's SHA-256, so the ids themselves are kept
//! nowhere. Each session has its own CSRF token (256 random bits, 64 hex characters), compared
//! in constant time.

use std::collections::HashMap;
use std::sync::Mutex;

use subtle::ConstantTimeEq;

use crate::model::{BrandId, KeyId};
use crate::time::Millis;

/// A session ends after this long without a request (12 h).
pub const IDLE_MS: Millis = 12 * 3600 * 1000;
/// A session ends this long after sign-in, however busy (7 days).
pub const ABSOLUTE_MS: Millis = 7 * 24 * 3600 * 1000;
/// At most this many sessions at once over all keys: a last resort; signing in beyond it is
/// refused (a 503 page) and ends nobody's session.
pub const SESSIONS_MAX: usize = 10_000;
/// At most this many sessions per API key; signing in beyond it ends that key's least recently
/// used session (never another key's).
pub const SESSIONS_PER_KEY_MAX: usize = 100;
/// At most this many sessions per brand (over all its keys); signing in beyond it ends that
/// brand's least recently used session, so one brand with many keys cannot fill the table.
pub const SESSIONS_PER_BRAND_MAX: usize = 1_000;

/// What a live session knows: who signed in, with which key, and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub brand: BrandId,
    pub key_id: KeyId,
    /// The SHA-256 of the API key signed in with (as stored with the key), to re-check on every
    /// request that the key still exists and is unrevoked.
    pub key_hash: [u8; 32],
    /// The CSRF token, 64 hex characters.
    pub csrf: String,
    pub created_ms: Millis,
    pub last_seen_ms: Millis,
    /// The zone the viewer chose to see times in (`None`: the brand's).
    pub zone: Option<String>,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        presented.len() == self.csrf.len() && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    fn expired(&self, now: Millis) -> bool {
        now - self.last_seen_ms >= IDLE_MS || now - self.created_ms >= ABSOLUTE_MS
    }
}

/// The session table.
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
    max: usize,
    per_key: usize,
    per_brand: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_limits(SESSIONS_MAX, SESSIONS_PER_KEY_MAX).per_brand(SESSIONS_PER_BRAND_MAX)
    }
}

/// 256 random bits as 64 hex characters.
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    // The OS random source; without one there is no safe session id, as for API keys (auth).
    getrandom::fill(&mut b).expect("OS random source");
    hex::encode(b)
}

/// Leaves fewer than `limit` sessions that match `mine` in `t`: expired ones go first, then the
/// least recently used ones. Sessions that do not match are never touched.
fn make_room(t: &mut HashMap<[u8; 32], Session>, now: Millis, limit: usize, mine: impl Fn(&Session) -> bool) {
    if t.values().filter(|s| mine(s)).count() < limit {
        return;
    }
    t.retain(|_, s| !mine(s) || !s.expired(now));
    loop {
        let matching = t.iter().filter(|(_, s)| mine(s));
        if matching.clone().count() < limit {
            break;
        }
        let Some(oldest) = matching.min_by_key(|(_, s)| s.last_seen_ms).map(|(k, _)| *k) else { break };
        t.remove(&oldest);
    }
}

impl Sessions {
    /// A table that holds at most `max` sessions, at most `per_key` of them for one API key.
    /// (No brand limit of its own: see [`Sessions::per_brand`].)
    pub fn with_limits(max: usize, per_key: usize) -> Sessions {
        Sessions { table: Mutex::new(HashMap::new()), max: max.max(1), per_key: per_key.max(1), per_brand: usize::MAX }
    }

    /// The same table with at most `per_brand` sessions per brand.
    pub fn per_brand(self, per_brand: usize) -> Sessions {
        Sessions { per_brand: per_brand.max(1), ..self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session: its id (the cookie's value) and the session. When the key already has
    /// [`SESSIONS_PER_KEY_MAX`] sessions, its least recently used one ends. When the whole table
    /// is full (expired sessions dropped first), `None`: the sign-in is refused and no other
    /// key's session ends.
    pub fn open(&self, brand: BrandId, key_id: KeyId, key_hash: [u8; 32], now: Millis) -> Option<(String, Session)> {
        let mut t = self.lock();
        make_room(&mut t, now, self.per_key, |s| s.key_id == key_id);
        make_room(&mut t, now, self.per_brand, |s| s.brand == brand);
        if t.len() >= self.max {
            t.retain(|_, s| !s.expired(now));
        }
        if t.len() >= self.max {
            return None;
        }
        let id = random_hex();
        let session =
            Session { brand, key_id, key_hash, csrf: random_hex(), created_ms: now, last_seen_ms: now, zone: None };
        t.insert(crate::auth::sha256(id.as_bytes()), session.clone());
        Some((id, session))
    }

    /// The live session of the cookie value `id`, its last use moved to `now`; `None` for an
    /// unknown or expired one (an expired one is removed).
    pub fn touch(&self, id: &str, now: Millis) -> Option<Session> {
        let key = crate::auth::sha256(id.as_bytes());
        let mut t = self.lock();
        let s = t.get_mut(&key)?;
        if s.expired(now) {
            t.remove(&key);
            return None;
        }
        s.last_seen_ms = now;
        Some(s.clone())
    }

    /// Sets the zone the session's viewer sees times in (`None`: the brand's). Whether the
    /// session was found.
    pub fn set_zone(&self, id: &str, zone: Option<String>) -> bool {
        match self.lock().get_mut(&crate::auth::sha256(id.as_bytes())) {
            Some(s) => {
                s.zone = zone;
                true
            }
            None => false,
        }
    }

    /// Ends the session of the cookie value `id` (sign-out; a revoked key). Unknown ids are
    /// ignored.
    pub fn end(&self, id: &str) {
        self.lock().remove(&crate::auth::sha256(id.as_bytes()));
    }

    /// How many sessions the table holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the table holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(s: &Sessions, b: BrandId, k: KeyId, now: Millis) -> (String, Session) {
        s.open(b, k, [1; 32], now).expect("room for a session")
    }

    fn ids() -> (BrandId, KeyId) {
        (BrandId(uuid::Uuid::now_v7()), KeyId(uuid::Uuid::now_v7()))
    }

    #[test]
    fn a_session_lives_while_used_and_ends_after_the_idle_time() {
        let s = Sessions::default();
        let (b, k) = ids();
        let (id, opened) = open(&s, b, k, 1_000);
        assert_eq!(id.len(), 64);
        assert_eq!(opened.csrf.len(), 64);
        assert_ne!(id, opened.csrf);
        let t = 1_000 + IDLE_MS - 1;
        assert_eq!(s.touch(&id, t).map(|x| x.brand), Some(b));
        // Used just now: the idle clock restarted.
        assert!(s.touch(&id, t + IDLE_MS - 1).is_some());
        assert!(s.touch(&id, t + IDLE_MS - 1 + IDLE_MS).is_none(), "idle for 12 h: ended");
        assert!(s.is_empty(), "an expired session is removed");
    }

    #[test]
    fn a_busy_session_still_ends_at_the_absolute_expiry() {
        let s = Sessions::default();
        let (b, k) = ids();
        let (id, _) = open(&s, b, k, 0);
        let mut now = 0;
        while now + IDLE_MS / 2 < ABSOLUTE_MS {
            now += IDLE_MS / 2;
            assert!(s.touch(&id, now).is_some(), "used every 6 h: alive at {now}");
        }
        assert!(s.touch(&id, ABSOLUTE_MS).is_none(), "7 days after sign-in: ended");
    }

    #[test]
    fn sign_out_ends_the_session_and_unknown_ids_find_nothing() {
        let s = Sessions::default();
        let (b, k) = ids();
        let (id, _) = open(&s, b, k, 0);
        let (other, _) = open(&s, b, k, 0);
        assert!(s.touch("00", 1).is_none());
        assert!(s.touch(&id.to_uppercase(), 1).is_none());
        s.end(&id);
        assert!(s.touch(&id, 1).is_none());
        assert!(s.touch(&other, 1).is_some(), "only that session ended");
    }

    #[test]
    fn the_viewer_zone_is_kept_per_session() {
        let s = Sessions::default();
        let (b, k) = ids();
        let (one, _) = open(&s, b, k, 0);
        let (two, _) = open(&s, b, k, 0);
        assert!(s.set_zone(&one, Some("Asia/Tokyo".into())));
        assert_eq!(s.touch(&one, 1).and_then(|x| x.zone).as_deref(), Some("Asia/Tokyo"));
        assert_eq!(s.touch(&two, 1).and_then(|x| x.zone), None);
        assert!(s.set_zone(&one, None));
        assert_eq!(s.touch(&one, 1).and_then(|x| x.zone), None);
        assert!(!s.set_zone("unknown", None));
    }

    #[test]
    fn a_key_is_capped_by_ending_its_own_least_recently_used() {
        let s = Sessions::with_limits(10, 2);
        let (b, k) = ids();
        let (other_b, other_k) = ids();
        let (x, _) = open(&s, other_b, other_k, 0);
        let (a, _) = open(&s, b, k, 0);
        let (c, _) = open(&s, b, k, 10);
        assert!(s.touch(&a, 20).is_some(), "a is now the most recently used");
        let (d, _) = open(&s, b, k, 30);
        assert_eq!(s.len(), 3);
        assert!(s.touch(&c, 40).is_none(), "c was the key's least recently used");
        assert!(s.touch(&a, 40).is_some());
        assert!(s.touch(&d, 40).is_some());
        assert!(s.touch(&x, 40).is_some(), "another key's older session is untouched");
    }

    #[test]
    fn one_key_signing_in_again_and_again_ends_no_other_keys_session() {
        let s = Sessions::with_limits(50, 5);
        let (b, k) = ids();
        let others: Vec<_> = (0..10).map(|_| ids()).map(|(ob, ok)| open(&s, ob, ok, 0).0).collect();
        for n in 0..1_000 {
            open(&s, b, k, 1 + n);
        }
        assert_eq!(s.len(), 15, "10 others + the key's 5");
        for o in &others {
            assert!(s.touch(o, 2_000).is_some(), "another key's idle session survives");
        }
    }

    #[test]
    fn a_brand_with_many_keys_ends_its_own_sessions_not_another_brands() {
        let s = Sessions::with_limits(30, 5).per_brand(10);
        let (other_b, other_k) = ids();
        let theirs = open(&s, other_b, other_k, 0).0;
        let brand = ids().0;
        // 20 keys of one brand, 5 sign-ins each: the brand keeps at most 10 sessions.
        for n in 0..100 {
            let k = KeyId(uuid::Uuid::from_u128(n / 5 + 1));
            open(&s, brand, k, 1 + n as i64);
        }
        assert_eq!(s.len(), 11, "10 of the brand + the other brand's one");
        assert!(s.touch(&theirs, 200).is_some(), "the other brand's idle session survives");
        assert!(s.open(other_b, other_k, [1; 32], 201).is_some(), "and it can still sign in");
    }

    #[test]
    fn a_full_table_refuses_a_new_session_instead_of_ending_others() {
        let s = Sessions::with_limits(3, 100);
        let held: Vec<_> = (0..3).map(|_| ids()).map(|(b, k)| open(&s, b, k, 0).0).collect();
        let (b, k) = ids();
        assert!(s.open(b, k, [1; 32], 10).is_none(), "full: refused");
        for h in &held {
            assert!(s.touch(h, 20).is_some());
        }
        // Expired sessions make room.
        assert!(s.open(b, k, [1; 32], 20 + IDLE_MS).is_some());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_compared_exactly() {
        let s = Sessions::default();
        let (b, k) = ids();
        let (_, one) = open(&s, b, k, 0);
        let (_, two) = open(&s, b, k, 0);
        assert_ne!(one.csrf, two.csrf);
        assert!(one.csrf_matches(&one.csrf));
        assert!(!one.csrf_matches(&two.csrf));
        assert!(!one.csrf_matches(""));
        assert!(!one.csrf_matches(&one.csrf[..63]));
        assert!(!one.csrf_matches(&format!("{}0", one.csrf)));
    }
}
