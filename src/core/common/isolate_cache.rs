//! A small cache for facts an isolate may reuse across requests for a while: entries expire
//! `ttl` after they were stored and the cache never holds more than `capacity` of them.
//!
//! What is cached, and why each is safe, is said where each cache is declared (the token path
//! in `edge/tenancy/tenant_api.rs`). Times are the machine's real milliseconds, never the test clock:
//! an entry's age is how long it has really been trusted.

use std::collections::HashMap;

pub struct IsolateCache<V> {
    entries: HashMap<String, (V, i64)>,
    ttl_ms: i64,
    capacity: usize,
}

impl<V: Clone> IsolateCache<V> {
    pub fn new(ttl_ms: i64, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            ttl_ms,
            capacity: capacity.max(1),
        }
    }

    /// The entry stored under `key` less than the TTL ago, if any.
    pub fn get(&self, key: &str, now_ms: i64) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(_, stored_at)| fresh(*stored_at, now_ms, self.ttl_ms))
            .map(|(value, _)| value.clone())
    }

    /// Stores `value`. A full cache first drops its expired entries, then, if still full,
    /// everything: a burst of new keys costs a few lookups again, never unbounded memory.
    pub fn put(&mut self, key: &str, value: V, now_ms: i64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(key) {
            let ttl = self.ttl_ms;
            self.entries.retain(|_, (_, at)| fresh(*at, now_ms, ttl));
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(key.to_owned(), (value, now_ms));
    }

    /// Forgets every entry `drop` picks (a revocation on this isolate takes effect at once).
    pub fn forget_where(&mut self, drop: impl Fn(&V) -> bool) {
        self.entries.retain(|_, (value, _)| !drop(value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Stored at `stored_at` and not yet `ttl` old; a clock that went backwards trusts nothing.
fn fresh(stored_at: i64, now_ms: i64, ttl_ms: i64) -> bool {
    now_ms >= stored_at && now_ms - stored_at < ttl_ms
}

#[cfg(test)]
mod tests {
    use super::IsolateCache;

    #[test]
    fn an_entry_is_served_until_its_ttl_has_passed() {
        let mut cache = IsolateCache::new(1_000, 10);
        cache.put("k", 7, 5_000);
        assert_eq!(cache.get("k", 5_000), Some(7));
        assert_eq!(cache.get("k", 5_999), Some(7));
        assert_eq!(cache.get("k", 6_000), None);
        assert_eq!(cache.get("other", 5_000), None);
    }

    #[test]
    fn a_clock_that_went_backwards_trusts_nothing() {
        let mut cache = IsolateCache::new(1_000, 10);
        cache.put("k", 7, 5_000);
        assert_eq!(cache.get("k", 4_999), None);
    }

    #[test]
    fn storing_again_restarts_the_ttl() {
        let mut cache = IsolateCache::new(1_000, 10);
        cache.put("k", 1, 0);
        cache.put("k", 2, 900);
        assert_eq!(cache.get("k", 1_500), Some(2));
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_everything() {
        let mut cache = IsolateCache::new(1_000, 2);
        cache.put("old", 1, 0);
        cache.put("young", 2, 1_500);
        // "old" has expired: it makes room, "young" stays.
        cache.put("new", 3, 1_600);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("young", 1_600), Some(2));
        assert_eq!(cache.get("new", 1_600), Some(3));
        // Nothing expired: everything goes, and the cache never grows past its capacity.
        cache.put("newest", 4, 1_700);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("newest", 1_700), Some(4));
        assert_eq!(cache.get("young", 1_700), None);
        // Storing a key already held never evicts.
        cache.put("newest", 5, 1_800);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn forgetting_drops_exactly_the_entries_picked() {
        let mut cache = IsolateCache::new(1_000, 10);
        cache.put("a", 1, 0);
        cache.put("b", 2, 0);
        cache.forget_where(|v| *v == 1);
        assert_eq!(cache.get("a", 10), None);
        assert_eq!(cache.get("b", 10), Some(2));
        assert!(!cache.is_empty());
    }
}
