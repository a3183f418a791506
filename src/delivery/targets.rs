//! The templates and domains executions are delivered to, kept between the store's writes of
//! them.
//!
//! Every attempt resolves its webhook template and the template's domain: two store reads and
//! two record decodes (5.8 % of the daemon's CPU at 5,000 fires/s, measured with `perf`). They
//! change rarely, so the engine keeps the last copies it read, each tagged with the store's
//! [`crate::store::Store::catalog_generation`] as read *before* the copy was read. An entry is
//! used only while the generation is unchanged: any write to a template or a domain (API,
//! CLI, a signing-key rotation, a circuit transition) bumps it before the writer hears back,
//! so no attempt that starts after a write has been acknowledged uses a copy from before it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crate::model::{BrandId, Domain, TemplateId, WebhookTemplate};

/// Entries kept at most; at the bound the cache starts over empty (it refills from the store
/// on the next attempt of each target).
pub const TARGET_CACHE_MAX: usize = 4096;

/// A template with its domain, as shared by the attempts that go to them.
pub type Copies = (Arc<WebhookTemplate>, Arc<Domain>);

/// The engine's cache: a brand's template (by id) with its domain.
pub type TargetCache = GenerationCache<(BrandId, TemplateId), Copies>;

/// Values tagged with the generation they were read at; a lookup names the current one.
pub struct GenerationCache<K, V> {
    entries: Mutex<HashMap<K, (u64, V)>>,
    max: usize,
}

impl<K, V> Default for GenerationCache<K, V> {
    fn default() -> Self {
        GenerationCache { entries: Mutex::new(HashMap::new()), max: TARGET_CACHE_MAX }
    }
}

impl<K: Hash + Eq, V: Clone> GenerationCache<K, V> {
    /// The value of `key` when it was read at `generation`.
    pub fn get(&self, key: &K, generation: u64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(g, _)| *g == generation).map(|(_, v)| v.clone())
    }

    /// Keeps a value read after the generation was `generation` (read it first, then the
    /// value: a write between the two then only makes the entry useless, never wrong).
    pub fn put(&self, key: K, generation: u64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serves_only_its_generation() {
        let cache = GenerationCache::<(u8, u8), &str>::default();
        cache.put((1, 1), 7, "v7");
        assert_eq!(cache.get(&(1, 1), 7), Some("v7"));
        assert_eq!(cache.get(&(1, 1), 8), None, "a later generation never gets an older copy");
        assert_eq!(cache.get(&(2, 1), 7), None, "another brand's id is another key");
        cache.put((1, 1), 8, "v8");
        assert_eq!(cache.get(&(1, 1), 8), Some("v8"));
    }

    #[test]
    fn the_cache_starts_over_at_its_bound() {
        let cache = GenerationCache::<usize, usize> { entries: Mutex::default(), max: 3 };
        for k in 0..3 {
            cache.put(k, 1, k);
        }
        cache.put(0, 1, 10);
        assert_eq!(cache.get(&1, 1), Some(1), "replacing a key never empties the cache");
        cache.put(3, 1, 3);
        assert_eq!(cache.get(&1, 1), None, "full: emptied before the new key");
        assert_eq!(cache.get(&3, 1), Some(3));
    }
}
