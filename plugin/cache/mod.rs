//! The clip cache: a generated clip is never generated twice.
//!
//! Not when several render threads ask for frames of one clip at once (single flight, see
//! `flight.rs`), not across plugin instances (one [`ClipCache`] is shared), not after the host
//! restarts (the disk tier, see `disk.rs`), and not on another machine of a render farm sharing
//! the folder (the same [`ClipKey`] names the same file everywhere).
//!
//! Lookups go memory, then an in-progress generation of the same key, then disk, then the
//! caller's generator. One mutex guards the memory tier and the in-flight map; it is never held
//! while generating or doing disk I/O.

// NOTE: nothing here may panic on any input, file data included; tests may.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod clip;
mod disk;
mod flight;
mod key;
mod memory;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

pub use crate::cache::clip::{CHANNELS, CachedClip};
pub use crate::cache::key::ClipKey;

use crate::cache::disk::{DiskStore, Load};
use crate::cache::flight::{Flight, Leader};
use crate::cache::memory::MemoryLru;

/// Environment variable naming the disk cache folder (a farm points every node at one share);
/// the engine keeps TensorRT's engines beside the clips by the same variable.
pub use promptreel_engine::runtime::device::CACHE_DIR_ENV;

/// How a clip was obtained.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Origin {
    /// Already in memory.
    Memory,
    /// Read from the disk cache (and now in memory).
    Disk,
    /// This call ran the generator.
    Generated,
    /// Another thread was producing it; this call waited for that.
    Waited,
}

/// What [`ClipCache::peek`] found.
#[derive(Clone, Debug)]
pub enum Peek {
    /// In memory (or just finished by another thread).
    Memory(Arc<CachedClip>),
    /// A file on disk.
    Disk,
    /// Nowhere.
    Missing,
}

/// Counters for tests and the status line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CacheStats {
    /// Bytes of clips held in memory.
    pub memory_bytes: usize,
    /// Clips held in memory.
    pub memory_clips: usize,
    /// Generator calls started (including ones that failed).
    pub generations: u64,
    /// Clips read from disk.
    pub disk_hits: u64,
    /// Lookups answered from memory.
    pub memory_hits: u64,
    /// Damaged disk files found (and deleted).
    pub damaged_files: u64,
    /// Clips that could not be written to disk (they stayed in memory).
    pub disk_write_failures: u64,
}

/// The lock-protected part of the cache.
struct Inner {
    /// Clips in memory.
    memory: MemoryLru,
    /// Keys being read from disk or generated right now.
    flights: HashMap<ClipKey, Arc<Flight>>,
}

/// Counters updated outside the lock.
#[derive(Default)]
struct Counters {
    /// See [`CacheStats::generations`].
    generations: AtomicU64,
    /// See [`CacheStats::disk_hits`].
    disk_hits: AtomicU64,
    /// See [`CacheStats::memory_hits`].
    memory_hits: AtomicU64,
    /// See [`CacheStats::damaged_files`].
    damaged_files: AtomicU64,
    /// See [`CacheStats::disk_write_failures`].
    disk_write_failures: AtomicU64,
}

/// Adds one to a counter.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Clips by key in memory (LRU) and on disk, with at most one generation per key at a time.
/// `Send + Sync`: share it through an `Arc` or a global.
pub struct ClipCache {
    /// Memory tier and in-flight map.
    inner: Mutex<Inner>,
    /// Disk tier, if enabled.
    disk: Option<DiskStore>,
    /// Statistics.
    counters: Counters,
    /// Whether a disk write failure was already reported on stderr.
    disk_warned: AtomicBool,
    /// Whether a disk read failure (not damage) was already reported on stderr.
    read_warned: AtomicBool,
}

impl ClipCache {
    /// `memory_limit`: bytes of clips kept in memory (LRU beyond it; a single clip larger than
    /// the limit is still returned, just not retained). `disk_dir`: `None` disables the disk
    /// cache; the folder is created on the first write.
    #[must_use]
    pub fn new(memory_limit: usize, disk_dir: Option<PathBuf>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                memory: MemoryLru::new(memory_limit),
                flights: HashMap::new(),
            }),
            disk: disk_dir.map(DiskStore::new),
            counters: Counters::default(),
            disk_warned: AtomicBool::new(false),
            read_warned: AtomicBool::new(false),
        }
    }

    /// The default disk folder: `$PROMPTREEL_CACHE_DIR` if set and non-empty, else the user
    /// cache dir joined with `promptreel/clips`; `None` if neither is known.
    #[must_use]
    pub fn default_disk_dir() -> Option<PathBuf> {
        disk_dir_from(std::env::var_os(CACHE_DIR_ENV), dirs::cache_dir)
    }

    /// The disk folder in use, if any.
    #[must_use]
    pub fn disk_dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskStore::dir)
    }

    /// The clip for `key` from memory, else from disk (a valid disk hit is promoted to memory).
    /// Never generates, and never waits for a generation in progress (that is a miss).
    #[must_use]
    pub fn get(&self, key: &ClipKey) -> Option<Arc<CachedClip>> {
        {
            let mut inner = self.inner.lock();
            if let Some(clip) = inner.memory.get(key) {
                bump(&self.counters.memory_hits);
                return Some(clip);
            }
            if let Some(flight) = inner.flights.get(key) {
                // NOTE: its leader has already looked at the disk (or is looking now); reading
                // the file here too could race with the leader deleting a damaged one.
                let clip = flight.finished_clip();
                if clip.is_some() {
                    bump(&self.counters.memory_hits);
                }
                return clip;
            }
        }
        let clip = Arc::new(self.load_from_disk(key)?);
        self.remember(*key, Arc::clone(&clip));
        Some(clip)
    }

    /// Where the clip for `key` is, without reading a file, generating or waiting: for a
    /// Status line. A clip on disk is only known to have a file (not that it is intact).
    #[must_use]
    pub fn peek(&self, key: &ClipKey) -> Peek {
        {
            let mut inner = self.inner.lock();
            if let Some(clip) = inner.memory.get(key) {
                return Peek::Memory(clip);
            }
            if let Some(clip) = inner.flights.get(key).and_then(|f| f.finished_clip()) {
                return Peek::Memory(clip);
            }
        }
        match &self.disk {
            Some(disk) if disk.path_for(key).is_file() => Peek::Disk,
            _ => Peek::Missing,
        }
    }

    /// Single flight: returns the cached clip, or runs `generate` exactly once per key across
    /// all threads calling concurrently; the others block until it finishes and get the same
    /// `Arc`. If the generating call fails (`Err`, or a panic) the waiters do not inherit that:
    /// one of them becomes the new generator and calls its own closure (the first may simply
    /// have been cancelled by its host thread). On success the clip goes to memory and disk; a
    /// disk write failure is reported once on stderr and does not fail the call.
    ///
    /// # Errors
    ///
    /// This call's own `generate` error, when this call was the one generating. A panic in
    /// `generate` propagates to this call's caller (the waiters are released first).
    pub fn get_or_generate<E>(
        &self,
        key: &ClipKey,
        generate: impl FnOnce() -> Result<CachedClip, E>,
    ) -> Result<(Arc<CachedClip>, Origin), E> {
        let leader = loop {
            let flight = {
                let mut inner = self.inner.lock();
                if let Some(clip) = inner.memory.get(key) {
                    bump(&self.counters.memory_hits);
                    return Ok((clip, Origin::Memory));
                }
                match inner.flights.entry(*key) {
                    Entry::Occupied(entry) => Arc::clone(entry.get()),
                    Entry::Vacant(entry) => {
                        let flight = Arc::new(Flight::new());
                        entry.insert(Arc::clone(&flight));
                        break Leader::new(self, *key, flight);
                    }
                }
            };
            if let Some(clip) = flight.wait() {
                return Ok((clip, Origin::Waited));
            }
            // The leader failed and has unregistered: try to lead.
        };

        // This thread leads `key`; waiters are released when `leader` settles or drops.
        if let Some(clip) = self.load_from_disk(key) {
            let clip = Arc::new(clip);
            self.remember(*key, Arc::clone(&clip));
            leader.succeed(Arc::clone(&clip));
            return Ok((clip, Origin::Disk));
        }
        bump(&self.counters.generations);
        let clip = Arc::new(generate()?);
        self.remember(*key, Arc::clone(&clip));
        leader.succeed(Arc::clone(&clip));
        // NOTE: the flight stays registered through the write, so that a clip too large for
        // memory is handed out from the flight rather than generated again meanwhile.
        self.store_on_disk(key, &clip);
        drop(leader);
        Ok((clip, Origin::Generated))
    }

    /// Drops every in-memory clip (the host's `kOfxActionPurgeCaches`); the disk cache stays.
    /// Clips already handed out stay alive with their holders.
    pub fn purge_memory(&self) {
        self.inner.lock().memory.clear();
    }

    /// Current statistics.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let (memory_bytes, memory_clips) = {
            let inner = self.inner.lock();
            (inner.memory.bytes(), inner.memory.len())
        };
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            memory_bytes,
            memory_clips,
            generations: read(&self.counters.generations),
            disk_hits: read(&self.counters.disk_hits),
            memory_hits: read(&self.counters.memory_hits),
            damaged_files: read(&self.counters.damaged_files),
            disk_write_failures: read(&self.counters.disk_write_failures),
        }
    }

    /// Unregisters `flight` for `key` (called by its [`Leader`] guard when it drops).
    fn end_flight(&self, key: &ClipKey, flight: &Arc<Flight>) {
        let mut inner = self.inner.lock();
        if inner
            .flights
            .get(key)
            .is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            inner.flights.remove(key);
        }
    }

    /// Puts `clip` in memory (if it fits the limit at all).
    fn remember(&self, key: ClipKey, clip: Arc<CachedClip>) {
        self.inner.lock().memory.insert(key, clip);
    }

    /// Reads `key` from disk, counting hits and damaged files. Call without the lock.
    fn load_from_disk(&self, key: &ClipKey) -> Option<CachedClip> {
        let disk = self.disk.as_ref()?;
        match disk.load(key) {
            Load::Hit(clip) => {
                bump(&self.counters.disk_hits);
                Some(clip)
            }
            Load::Miss => None,
            Load::Unreadable(err) => {
                if !self.read_warned.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "promptreel: cannot read the clip cache file {} ({err}); treating it \
                         as a miss",
                        disk.path_for(key).display()
                    );
                }
                None
            }
            Load::Damaged(reason) => {
                bump(&self.counters.damaged_files);
                eprintln!(
                    "promptreel: removed damaged cache file {} ({reason}); the clip will be \
                     generated again",
                    disk.path_for(key).display()
                );
                None
            }
        }
    }

    /// Writes `clip` to disk if enabled; a failure is counted and reported once, never raised.
    /// Call without the lock.
    fn store_on_disk(&self, key: &ClipKey, clip: &CachedClip) {
        let Some(disk) = &self.disk else {
            return;
        };
        if let Err(err) = disk.store(key, clip) {
            bump(&self.counters.disk_write_failures);
            if !self.disk_warned.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "promptreel: cannot write the clip cache in {} ({err}); clips stay in \
                     memory only",
                    disk.dir().display()
                );
            }
        }
    }
}

impl fmt::Debug for ClipCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClipCache")
            .field("disk_dir", &self.disk_dir())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// [`ClipCache::default_disk_dir`] with its inputs passed in (testable without touching the
/// process environment).
fn disk_dir_from(
    env: Option<OsString>,
    user_cache_dir: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    match env {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => user_cache_dir().map(|dir| dir.join("promptreel").join("clips")),
    }
}
