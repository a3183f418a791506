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
///
/// Bounded by a total weight (1 per entry unless [`GenerationCache::put_weighted`] says
/// otherwise): an entry that would pass the bound empties the cache first. Only entries of
/// the newest generation seen are kept: the generation never goes back, so older ones can
/// never be used again and are dropped at the first lookup or put that names a newer one.
pub struct GenerationCache<K, V> {
    entries: Mutex<Entries<K, V>>,
    max: usize,
}

struct Entries<K, V> {
    /// key → (generation, value, weight).
    map: HashMap<K, (u64, V, usize)>,
    /// The sum of the weights in `map`.
    weight: usize,
    /// The newest generation named by a lookup or a put: every entry is of this one.
    newest: u64,
}

impl<K, V> Entries<K, V> {
    /// Drops every entry when `generation` is newer than theirs; false when it is older (a
    /// value read at it is already out of date).
    fn at(&mut self, generation: u64) -> bool {
        if generation > self.newest {
            self.map.clear();
            self.weight = 0;
            self.newest = generation;
        }
        generation == self.newest
    }
}

impl<K, V> Default for GenerationCache<K, V> {
    fn default() -> Self {
        GenerationCache::with_max_weight(TARGET_CACHE_MAX)
    }
}

impl<K, V> GenerationCache<K, V> {
    /// An empty cache holding at most `max` of weight.
    pub fn with_max_weight(max: usize) -> Self {
        GenerationCache { entries: Mutex::new(Entries { map: HashMap::new(), weight: 0, newest: 0 }), max }
    }
}

impl<K: Hash + Eq, V: Clone> GenerationCache<K, V> {
    /// The value of `key` when it was read at `generation`.
    pub fn get(&self, key: &K, generation: u64) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.at(generation) {
            return None;
        }
        entries.map.get(key).filter(|(g, ..)| *g == generation).map(|(_, v, _)| v.clone())
    }

    /// Keeps a value read after the generation was `generation` (read it first, then the
    /// value: a write between the two then only makes the entry useless, never wrong).
    pub fn put(&self, key: K, generation: u64, value: V) {
        self.put_weighted(key, generation, value, 1);
    }

    /// [`GenerationCache::put`] of a value that counts `weight` towards the bound (e.g. a
    /// list: its length). A value heavier than the whole bound is not kept.
    pub fn put_weighted(&self, key: K, generation: u64, value: V, weight: usize) {
        if weight > self.max {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.at(generation) {
            return;
        }
        let replaced = entries.map.get(&key).map_or(0, |e| e.2);
        if entries.weight - replaced + weight > self.max {
            entries.map.clear();
            entries.weight = 0;
        } else {
            entries.weight -= replaced;
        }
        entries.weight += weight;
        entries.map.insert(key, (generation, value, weight));
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
        let cache = GenerationCache::<usize, usize>::with_max_weight(3);
        for k in 0..3 {
            cache.put(k, 1, k);
        }
        cache.put(0, 1, 10);
        assert_eq!(cache.get(&1, 1), Some(1), "replacing a key never empties the cache");
        cache.put(3, 1, 3);
        assert_eq!(cache.get(&1, 1), None, "full: emptied before the new key");
        assert_eq!(cache.get(&3, 1), Some(3));
    }

    #[test]
    fn a_newer_generation_drops_every_older_entry_and_an_older_put_is_not_kept() {
        let cache = GenerationCache::<u8, &str>::with_max_weight(10);
        cache.put_weighted(1, 5, "big", 9);
        assert_eq!(cache.get(&2, 6), None);
        let e = cache.entries.lock().unwrap();
        assert_eq!((e.map.len(), e.weight), (0, 0), "a lookup at a newer generation frees the old entries");
        drop(e);
        cache.put(1, 5, "late");
        assert_eq!(cache.get(&1, 5), None, "read before the newest generation: never kept");
        assert!(cache.entries.lock().unwrap().map.is_empty());
        cache.put(1, 6, "v6");
        assert_eq!(cache.get(&1, 6), Some("v6"));
    }

    #[test]
    fn weighted_entries_count_their_weight_and_one_heavier_than_the_bound_is_never_kept() {
        let cache = GenerationCache::<u8, &str>::with_max_weight(10);
        cache.put_weighted(1, 1, "six", 6);
        cache.put_weighted(2, 1, "four", 4);
        assert_eq!((cache.get(&1, 1), cache.get(&2, 1)), (Some("six"), Some("four")));
        cache.put_weighted(2, 1, "three", 3);
        assert_eq!(cache.get(&1, 1), Some("six"), "a lighter replacement fits");
        cache.put_weighted(3, 1, "two", 2);
        assert_eq!(cache.get(&1, 1), None, "11 > 10: emptied first");
        assert_eq!(cache.get(&3, 1), Some("two"));
        cache.put_weighted(4, 1, "eleven", 11);
        assert_eq!(cache.get(&4, 1), None, "heavier than the whole bound");
        assert_eq!(cache.get(&3, 1), Some("two"), "and it evicts nothing");
    }
}
