//! Behaviour of the whole cache: single flight, hand-over after failure, disk tier, damage.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, SystemTime};

use crate::cache::disk::STALE_TEMP_AGE;
use crate::cache::{CachedClip, ClipCache, ClipKey, Origin, disk_dir_from};

/// A fresh folder under the system temp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "promptreel-cache-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn clips(&self) -> PathBuf {
        self.0.join("clips")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const MB: usize = 1 << 20;

fn key(name: &str) -> ClipKey {
    ClipKey::from_parts(&[("prompt", name), ("seed", "1")])
}

/// A 2-frame 4x4 clip (384 bytes of samples) whose samples depend on `seed`.
fn make_clip(seed: u32) -> CachedClip {
    CachedClip {
        frames: (0..96u32)
            .map(|i| ((i * 31 + seed * 7) % 97) as f32 / 96.0)
            .collect(),
        frame_count: 2,
        width: 4,
        height: 4,
        fps: 24.0,
        summary: format!("clip {seed}"),
    }
}

fn bits(clip: &CachedClip) -> Vec<u32> {
    clip.frames.iter().map(|f| f.to_bits()).collect()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn never() -> Result<CachedClip, String> {
    panic!("the generator must not run here")
}

#[test]
fn cache_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ClipCache>();
    check::<Arc<CachedClip>>();
}

#[test]
fn single_flight_runs_one_generation() {
    let cache = Arc::new(ClipCache::new(64 * MB, None));
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, runs, start) = (cache.clone(), runs.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                cache
                    .get_or_generate(&key("flight"), || {
                        thread::sleep(Duration::from_millis(200));
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, String>(make_clip(1))
                    })
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let first = &results[0].0;
    assert!(results.iter().all(|(clip, _)| Arc::ptr_eq(clip, first)));
    let generated = results
        .iter()
        .filter(|(_, o)| *o == Origin::Generated)
        .count();
    assert_eq!(generated, 1);
    assert!(
        results
            .iter()
            .all(|(_, o)| matches!(o, Origin::Generated | Origin::Waited | Origin::Memory))
    );
    assert_eq!(cache.stats().generations, 1);
    assert_eq!(cache.stats().memory_clips, 1);
}

#[test]
fn different_keys_generate_in_parallel() {
    let cache = Arc::new(ClipCache::new(64 * MB, None));
    let start = Arc::new(Barrier::new(4));
    let began = std::time::Instant::now();
    let threads: Vec<_> = (0..4u32)
        .map(|n| {
            let (cache, start) = (cache.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                cache
                    .get_or_generate(&key(&format!("parallel {n}")), || {
                        thread::sleep(Duration::from_millis(300));
                        Ok::<_, String>(make_clip(n))
                    })
                    .unwrap()
                    .1
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Origin::Generated);
    }
    // Serialised generations would take 1.2 s; the lock is not held while generating.
    assert!(began.elapsed() < Duration::from_millis(1000));
    assert_eq!(cache.stats().generations, 4);
}

/// What `get_or_generate` returns with a `String` error.
type Outcome = Result<Served, String>;
/// A clip and how it was obtained.
type Served = (Arc<CachedClip>, Origin);

/// Starts a leader whose generator signals, waits, then ends with `ending`; then 7 callers
/// whose own generators succeed. Returns the leader's result, the callers' results and how
/// many of the callers' generators ran.
fn hand_over(
    cache: &Arc<ClipCache>,
    name: &'static str,
    ending: fn() -> Result<CachedClip, String>,
) -> (thread::Result<Outcome>, Vec<Served>, usize) {
    let (started_tx, started_rx) = mpsc::channel();
    let leader = {
        let cache = cache.clone();
        thread::spawn(move || {
            cache.get_or_generate(&key(name), || {
                started_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(200));
                ending()
            })
        })
    };
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..7 {
        let (cache, runs, done_tx) = (cache.clone(), runs.clone(), done_tx.clone());
        thread::spawn(move || {
            let result = cache.get_or_generate(&key(name), || {
                thread::sleep(Duration::from_millis(100));
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(make_clip(2))
            });
            done_tx.send(result.unwrap()).unwrap();
        });
    }
    // A hang would fail here instead of blocking the test run forever.
    let waited: Vec<_> = (0..7)
        .map(|_| done_rx.recv_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    (leader.join(), waited, runs.load(Ordering::SeqCst))
}

fn check_hand_over(waited: &[Served], runs: usize) {
    assert_eq!(runs, 1, "exactly one waiter generates again");
    assert!(waited.iter().all(|(c, _)| Arc::ptr_eq(c, &waited[0].0)));
    assert_eq!(bits(&waited[0].0), bits(&make_clip(2)));
    let generated = waited
        .iter()
        .filter(|(_, o)| *o == Origin::Generated)
        .count();
    assert_eq!(generated, 1);
}

#[test]
fn failing_generator_hands_over_to_a_waiter() {
    let cache = Arc::new(ClipCache::new(64 * MB, None));
    let (leader, waited, runs) = hand_over(&cache, "fails", || Err("cancelled".into()));
    assert_eq!(leader.unwrap().unwrap_err(), "cancelled");
    check_hand_over(&waited, runs);
    assert_eq!(cache.stats().generations, 2);
    assert!(cache.get(&key("fails")).is_some());
}

#[test]
fn panicking_generator_does_not_strand_waiters() {
    let cache = Arc::new(ClipCache::new(64 * MB, None));
    let (leader, waited, runs) = hand_over(&cache, "panics", || panic!("generator blew up"));
    assert!(leader.is_err(), "the panic reaches the leader's caller");
    check_hand_over(&waited, runs);
    assert_eq!(cache.stats().generations, 2);
}

#[test]
fn lru_evicts_and_get_refreshes() {
    // Room for two clips (each 384 + 6 bytes), not three.
    let cache = ClipCache::new(2 * 390 + 100, None);
    let origin = |name: &str, seed| {
        cache
            .get_or_generate(&key(name), || Ok::<_, String>(make_clip(seed)))
            .unwrap()
            .1
    };
    assert_eq!(origin("a", 1), Origin::Generated);
    assert_eq!(origin("b", 2), Origin::Generated);
    assert!(cache.get(&key("a")).is_some()); // a is now the most recent
    assert_eq!(origin("c", 3), Origin::Generated); // evicts b
    assert_eq!(cache.stats().memory_clips, 2);
    assert_eq!(cache.stats().memory_bytes, 2 * 390);
    assert_eq!(origin("a", 1), Origin::Memory);
    assert_eq!(origin("c", 3), Origin::Memory);
    assert!(cache.get(&key("b")).is_none());
    assert_eq!(origin("b", 2), Origin::Generated);
}

#[test]
fn oversized_clip_is_served_but_not_retained() {
    let cache = ClipCache::new(100, None);
    let (clip, origin) = cache
        .get_or_generate(&key("big"), || Ok::<_, String>(make_clip(1)))
        .unwrap();
    assert_eq!((origin, clip.frame_count), (Origin::Generated, 2));
    assert_eq!(cache.stats().memory_clips, 0);
    assert!(cache.get(&key("big")).is_none());
}

#[test]
fn disk_hit_in_a_new_cache_is_bit_identical() {
    let dir = TestDir::new("disk");
    let first = ClipCache::new(64 * MB, Some(dir.clips()));
    let (made, origin) = first
        .get_or_generate(&key("disk"), || Ok::<_, String>(make_clip(5)))
        .unwrap();
    assert_eq!(origin, Origin::Generated);
    // Exactly the clip file: no temporary files left behind.
    assert_eq!(
        file_names(&dir.clips()),
        vec![format!("{}.prclip", key("disk").hex())]
    );

    let second = ClipCache::new(64 * MB, Some(dir.clips()));
    let (read, origin) = second.get_or_generate(&key("disk"), never).unwrap();
    assert_eq!(origin, Origin::Disk);
    assert_eq!(bits(&read), bits(&made));
    assert_eq!(*read, *made);
    assert_eq!(second.stats().disk_hits, 1);
    assert_eq!(second.stats().generations, 0);
    // Promoted to memory.
    assert_eq!(
        second.get_or_generate(&key("disk"), never).unwrap().1,
        Origin::Memory
    );

    let third = ClipCache::new(64 * MB, Some(dir.clips()));
    assert_eq!(third.get(&key("disk")).map(|c| bits(&c)), Some(bits(&made)));
    assert_eq!(third.stats().disk_hits, 1);
    assert!(third.get(&key("other")).is_none());
}

#[test]
fn concurrent_callers_read_the_disk_once() {
    let dir = TestDir::new("disk-flight");
    // 12 MB, so that reading and hashing it takes long enough for the callers to overlap.
    let big = CachedClip {
        frames: (0..16 * 256 * 256 * 3)
            .map(|i| (i % 255) as f32 / 255.0)
            .collect(),
        frame_count: 16,
        width: 256,
        height: 256,
        fps: 24.0,
        summary: String::new(),
    };
    ClipCache::new(64 * MB, Some(dir.clips()))
        .get_or_generate(&key("shared"), || Ok::<_, String>(big))
        .unwrap();
    let cache = Arc::new(ClipCache::new(64 * MB, Some(dir.clips())));
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, start) = (cache.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                cache.get_or_generate(&key("shared"), never).unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|(c, _)| Arc::ptr_eq(c, &results[0].0)));
    assert_eq!(
        results.iter().filter(|(_, o)| *o == Origin::Disk).count(),
        1
    );
    assert_eq!(cache.stats().disk_hits, 1);
    assert_eq!(cache.stats().generations, 0);
}

/// Writes a clip with one cache, damages the file with `damage`, and checks that a new cache
/// treats it as a miss, deletes it, counts it, then regenerates and rewrites it.
fn check_damage(name: &str, damage: impl FnOnce(&Path)) {
    let dir = TestDir::new(name);
    let path = dir.clips().join(format!("{}.prclip", key(name).hex()));
    ClipCache::new(64 * MB, Some(dir.clips()))
        .get_or_generate(&key(name), || Ok::<_, String>(make_clip(4)))
        .unwrap();
    assert!(path.is_file());
    damage(&path);

    let cache = ClipCache::new(64 * MB, Some(dir.clips()));
    assert!(
        cache.get(&key(name)).is_none(),
        "{name}: damaged clip served"
    );
    assert!(!path.exists(), "{name}: damaged file kept");
    assert_eq!(cache.stats().damaged_files, 1);
    assert_eq!(cache.stats().disk_hits, 0);

    let (clip, origin) = cache
        .get_or_generate(&key(name), || Ok::<_, String>(make_clip(4)))
        .unwrap();
    assert_eq!(origin, Origin::Generated);
    assert_eq!(bits(&clip), bits(&make_clip(4)));
    let fresh = ClipCache::new(64 * MB, Some(dir.clips()));
    assert_eq!(
        fresh.get_or_generate(&key(name), never).unwrap().1,
        Origin::Disk
    );
}

#[test]
fn truncated_file_is_regenerated() {
    check_damage("truncated", |path| {
        let len = fs::metadata(path).unwrap().len();
        let file = fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(len - 10).unwrap();
    });
}

#[test]
fn flipped_payload_byte_is_regenerated() {
    check_damage("flipped", |path| {
        let mut bytes = fs::read(path).unwrap();
        // Inside the samples: past the 84-byte header and the summary.
        let at = 84 + "clip 4".len() + 101;
        bytes[at] ^= 0x04;
        fs::write(path, bytes).unwrap();
    });
}

#[test]
fn garbage_file_is_regenerated() {
    check_damage("garbage", |path| {
        let garbage: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        fs::write(path, garbage).unwrap();
    });
}

#[test]
fn empty_file_is_regenerated() {
    check_damage("empty", |path| fs::write(path, b"").unwrap());
}

#[test]
fn unwritable_disk_dir_still_serves_from_memory() {
    let dir = TestDir::new("unwritable");
    let blocker = dir.0.join("not-a-folder");
    fs::write(&blocker, b"a regular file").unwrap();
    let cache = ClipCache::new(64 * MB, Some(blocker.join("clips")));
    let (clip, origin) = cache
        .get_or_generate(&key("nowhere"), || Ok::<_, String>(make_clip(6)))
        .unwrap();
    assert_eq!(origin, Origin::Generated);
    assert_eq!(bits(&clip), bits(&make_clip(6)));
    assert_eq!(cache.stats().disk_write_failures, 1);
    assert_eq!(
        cache.get_or_generate(&key("nowhere"), never).unwrap().1,
        Origin::Memory
    );
    // A second failing write is counted too (reported on stderr only once).
    cache
        .get_or_generate(&key("nowhere 2"), || Ok::<_, String>(make_clip(7)))
        .unwrap();
    assert_eq!(cache.stats().disk_write_failures, 2);
    assert!(blocker.is_file());
}

#[test]
fn purge_drops_memory_but_keeps_disk() {
    let dir = TestDir::new("purge");
    let cache = ClipCache::new(64 * MB, Some(dir.clips()));
    let (made, _) = cache
        .get_or_generate(&key("purge"), || Ok::<_, String>(make_clip(8)))
        .unwrap();
    assert_eq!(cache.stats().memory_clips, 1);
    cache.purge_memory();
    assert_eq!(
        (cache.stats().memory_clips, cache.stats().memory_bytes),
        (0, 0)
    );
    // The handed-out clip is still valid.
    assert_eq!(made.frame_count, 2);
    let (read, origin) = cache.get_or_generate(&key("purge"), never).unwrap();
    assert_eq!(origin, Origin::Disk);
    assert_eq!(bits(&read), bits(&made));
    assert_eq!(cache.stats().memory_clips, 1);
    assert_eq!(cache.stats().generations, 1);
}

#[test]
fn get_does_not_wait_for_a_generation() {
    let cache = Arc::new(ClipCache::new(64 * MB, None));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let leader = {
        let cache = cache.clone();
        thread::spawn(move || {
            cache.get_or_generate(&key("slow"), || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok::<_, String>(make_clip(9))
            })
        })
    };
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(cache.get(&key("slow")).is_none());
    release_tx.send(()).unwrap();
    leader.join().unwrap().unwrap();
    assert!(cache.get(&key("slow")).is_some());
    assert_eq!(cache.stats().memory_hits, 1);
}

/// Sets `path`'s modification time `ago` into the past.
fn age(path: &Path, ago: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

/// A temporary file name as a writer of `key`'s clip in process `pid` makes it.
fn temp_name(key: &ClipKey, pid: u32) -> String {
    format!(".{}.{pid}-7-1764583200000000000-0.tmp", key.hex())
}

#[test]
fn opening_the_cache_sweeps_only_stale_temporary_files() {
    let dir = TestDir::new("sweep");
    let clips = dir.clips();
    // A clip file, twice the sweep age: served, never swept.
    let (made, _) = ClipCache::new(64 * MB, Some(clips.clone()))
        .get_or_generate(&key("kept"), || Ok::<_, String>(make_clip(10)))
        .unwrap();
    let clip_file = format!("{}.prclip", key("kept").hex());
    age(&clips.join(&clip_file), 2 * STALE_TEMP_AGE);
    // A dead writer's temporary file, twice the sweep age: swept.
    let stale = temp_name(&key("killed"), 4242);
    fs::write(clips.join(&stale), b"half a clip").unwrap();
    age(&clips.join(&stale), 2 * STALE_TEMP_AGE);
    // A temporary file a live writer is filling right now: kept.
    let fresh = temp_name(&key("writing"), 4243);
    fs::write(clips.join(&fresh), b"a clip in progress").unwrap();
    // Another fresh one, just under the limit: kept.
    let recent = temp_name(&key("slow writer"), 4244);
    fs::write(clips.join(&recent), b"a slow clip in progress").unwrap();
    age(
        &clips.join(&recent),
        STALE_TEMP_AGE - Duration::from_secs(120),
    );
    // Old files that are not ours, even ones ending in .tmp: kept.
    let foreign = ["notes.txt", "other-app.tmp", ".tmp", "readme.prclip.tmp"];
    for name in foreign {
        fs::write(clips.join(name), b"not a clip").unwrap();
        age(&clips.join(name), 2 * STALE_TEMP_AGE);
    }
    // A folder named like a temporary file: kept.
    let folder = temp_name(&key("folder"), 4245);
    fs::create_dir(clips.join(&folder)).unwrap();

    let cache = ClipCache::new(64 * MB, Some(clips.clone()));

    let mut want: Vec<String> = [clip_file, fresh, recent, folder]
        .into_iter()
        .chain(foreign.map(String::from))
        .collect();
    want.sort();
    assert_eq!(
        file_names(&clips),
        want,
        "only the stale temporary file goes"
    );
    let (read, origin) = cache.get_or_generate(&key("kept"), never).unwrap();
    assert_eq!(origin, Origin::Disk);
    assert_eq!(bits(&read), bits(&made));
}

#[test]
fn opening_a_cache_whose_folder_is_missing_creates_nothing() {
    let dir = TestDir::new("sweep-missing");
    let cache = ClipCache::new(64 * MB, Some(dir.clips()));
    assert!(
        !dir.clips().exists(),
        "the folder waits for the first write"
    );
    cache
        .get_or_generate(&key("first"), || Ok::<_, String>(make_clip(11)))
        .unwrap();
    assert_eq!(
        file_names(&dir.clips()),
        vec![format!("{}.prclip", key("first").hex())]
    );
}

#[test]
fn default_disk_dir_prefers_the_environment() {
    let user = || Some(PathBuf::from("/home/u/.cache"));
    assert_eq!(
        disk_dir_from(Some("/farm/share".into()), user),
        Some(PathBuf::from("/farm/share"))
    );
    assert_eq!(
        disk_dir_from(Some("".into()), user),
        Some(PathBuf::from("/home/u/.cache/promptreel/clips"))
    );
    assert_eq!(
        disk_dir_from(None, user),
        Some(PathBuf::from("/home/u/.cache/promptreel/clips"))
    );
    assert_eq!(disk_dir_from(None, || None), None);
    // The real lookup does not panic, whatever the environment.
    let _ = ClipCache::default_disk_dir();
}

#[test]
fn peek_finds_memory_and_disk_without_reading_or_generating() {
    use crate::cache::Peek;
    let dir = TestDir::new("peek");
    let cache = ClipCache::new(64 * MB, Some(dir.clips()));
    assert!(matches!(cache.peek(&key("a")), Peek::Missing));
    let (clip, _) = cache
        .get_or_generate(&key("a"), || Ok::<_, String>(make_clip(1)))
        .unwrap();
    assert!(matches!(cache.peek(&key("a")), Peek::Memory(c) if Arc::ptr_eq(&c, &clip)));
    cache.purge_memory();
    assert!(matches!(cache.peek(&key("a")), Peek::Disk));
    let stats = cache.stats();
    assert_eq!(
        (stats.disk_hits, stats.generations),
        (0, 1),
        "peek reads nothing"
    );
    assert!(matches!(cache.peek(&key("b")), Peek::Missing));
}

/// On Windows the clips live in the user's local application data, which is not roamed to
/// other machines of a domain: `%LOCALAPPDATA%\promptreel\clips` (checked under Wine by the
/// Windows lane).
#[cfg(windows)]
#[test]
fn on_windows_the_default_folder_is_in_local_app_data() {
    let local = PathBuf::from(std::env::var_os("LOCALAPPDATA").expect("LOCALAPPDATA is set"));
    assert_eq!(
        disk_dir_from(None, dirs::cache_dir),
        Some(local.join("promptreel").join("clips"))
    );
}
