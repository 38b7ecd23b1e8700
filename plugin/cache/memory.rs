//! The in-memory tier: clips by key, least-recently-used evicted beyond a byte limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::cache::clip::CachedClip;
use crate::cache::key::ClipKey;

/// One retained clip.
struct Entry {
    /// The shared clip.
    clip: Arc<CachedClip>,
    /// Its last-use stamp, the key of its place in `MemoryLru::recency`.
    stamp: u64,
    /// `clip.bytes()` when it was inserted.
    bytes: usize,
}

/// Clips held in memory up to `limit` bytes; not thread-safe on its own (the cache locks it).
pub(crate) struct MemoryLru {
    /// Byte budget.
    limit: usize,
    /// Bytes currently retained.
    bytes: usize,
    /// Next use stamp; grows on every insert and hit.
    clock: u64,
    /// The clips.
    entries: HashMap<ClipKey, Entry>,
    /// Keys by last-use stamp, oldest first.
    recency: BTreeMap<u64, ClipKey>,
}

impl MemoryLru {
    /// An empty store holding at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
        }
    }

    /// The clip for `key`, marking it most recently used.
    pub(crate) fn get(&mut self, key: &ClipKey) -> Option<Arc<CachedClip>> {
        let stamp = self.tick();
        let entry = self.entries.get_mut(key)?;
        self.recency.remove(&entry.stamp);
        entry.stamp = stamp;
        self.recency.insert(stamp, *key);
        Some(Arc::clone(&entry.clip))
    }

    /// Keeps `clip` as the most recently used, evicting the least recently used ones until the
    /// total fits. Returns whether it was retained: a clip larger than the whole limit is not.
    pub(crate) fn insert(&mut self, key: ClipKey, clip: Arc<CachedClip>) -> bool {
        self.remove(&key);
        let bytes = clip.bytes();
        if bytes > self.limit {
            return false;
        }
        let stamp = self.tick();
        self.recency.insert(stamp, key);
        self.entries.insert(key, Entry { clip, stamp, bytes });
        self.bytes = self.bytes.saturating_add(bytes);
        // NOTE: the new entry is the newest and fits alone, so this never evicts it.
        while self.bytes > self.limit {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(entry.bytes);
            }
        }
        true
    }

    /// Forgets `key`'s clip, if held.
    pub(crate) fn remove(&mut self, key: &ClipKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.recency.remove(&entry.stamp);
            self.bytes = self.bytes.saturating_sub(entry.bytes);
        }
    }

    /// Forgets every clip.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.recency.clear();
        self.bytes = 0;
    }

    /// Bytes retained.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Clips retained.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether `key` is retained, without touching its recency.
    #[cfg(test)]
    pub(crate) fn contains(&self, key: &ClipKey) -> bool {
        self.entries.contains_key(key)
    }

    /// A fresh use stamp.
    fn tick(&mut self) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clip of exactly `floats * 4` bytes (empty summary).
    fn clip(floats: usize) -> Arc<CachedClip> {
        Arc::new(CachedClip {
            frames: vec![0.5; floats],
            frame_count: 1,
            width: floats / 3,
            height: 1,
            fps: 24.0,
            summary: String::new(),
        })
    }

    fn key(n: u8) -> ClipKey {
        ClipKey::from_bytes([n; 32])
    }

    #[test]
    fn evicts_least_recently_used_beyond_limit() {
        let mut lru = MemoryLru::new(300 * 4);
        assert!(lru.insert(key(1), clip(120)));
        assert!(lru.insert(key(2), clip(120)));
        assert_eq!((lru.len(), lru.bytes()), (2, 240 * 4));
        assert!(lru.insert(key(3), clip(120)));
        assert!(!lru.contains(&key(1)));
        assert!(lru.contains(&key(2)) && lru.contains(&key(3)));
        assert_eq!((lru.len(), lru.bytes()), (2, 240 * 4));
    }

    #[test]
    fn get_refreshes_recency() {
        let mut lru = MemoryLru::new(300 * 4);
        lru.insert(key(1), clip(120));
        lru.insert(key(2), clip(120));
        assert!(lru.get(&key(1)).is_some());
        lru.insert(key(3), clip(120));
        assert!(lru.contains(&key(1)));
        assert!(!lru.contains(&key(2)));
        assert!(lru.contains(&key(3)));
    }

    #[test]
    fn large_insert_evicts_several() {
        let mut lru = MemoryLru::new(300 * 4);
        for n in 1..=5 {
            lru.insert(key(n), clip(60));
        }
        assert_eq!(lru.len(), 5);
        lru.insert(key(9), clip(240));
        assert_eq!(lru.len(), 2);
        assert!(lru.contains(&key(5)) && lru.contains(&key(9)));
        assert_eq!(lru.bytes(), 300 * 4);
    }

    #[test]
    fn oversized_clip_is_not_retained() {
        let mut lru = MemoryLru::new(100 * 4);
        lru.insert(key(1), clip(60));
        assert!(!lru.insert(key(2), clip(120)));
        assert!(lru.contains(&key(1)));
        assert!(!lru.contains(&key(2)));
        assert_eq!(lru.bytes(), 60 * 4);
    }

    #[test]
    fn reinsert_replaces_and_clear_empties() {
        let mut lru = MemoryLru::new(1000);
        lru.insert(key(1), clip(30));
        lru.insert(key(1), clip(60));
        assert_eq!((lru.len(), lru.bytes()), (1, 240));
        lru.clear();
        assert_eq!((lru.len(), lru.bytes()), (0, 0));
        assert!(lru.get(&key(1)).is_none());
    }
}
