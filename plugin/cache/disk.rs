//! The disk tier: one checksummed file per clip, `<dir>/<key hex>.prclip`, written atomically.
//!
//! File layout (all integers little-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | magic `PRCLIP\r\n` |
//! | 4 | format version, u32 ([`FORMAT_VERSION`]) |
//! | 32 | the clip's key (a file copied under the wrong name is caught) |
//! | 8 | `frame_count`, u64 |
//! | 8 | width, u64 |
//! | 8 | height, u64 |
//! | 8 | fps, f64 bits |
//! | 8 | summary length in bytes, u64 |
//! | n | summary, UTF-8 |
//! | 4 each | `frame_count * height * width * 3` f32 samples |
//! | 32 | SHA-256 of every byte before it |
//!
//! A file that fails any check is deleted and reported as damaged, so the clip is generated
//! again rather than served broken. Nothing here trusts a length from the file before comparing
//! it with the file's real size, so garbage cannot make it allocate or index out of bounds.
//!
//! A writer killed mid-write leaves its temporary file (`.<key hex>.<pid>-...tmp`) behind;
//! opening the store deletes such files once they are [`STALE_TEMP_AGE`] old.

use std::fs::{self, File};
use std::io::{self, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::cache::clip::{CHANNELS, CachedClip};
use crate::cache::key::ClipKey;

/// Version of the file layout, also hashed into every [`ClipKey`].
///
/// Bump it whenever the layout or the meaning of a clip's pixels changes: every key changes,
/// so old files are simply never looked up again.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// First bytes of every clip file. The `\r\n` catches text-mode line-ending conversion.
const MAGIC: [u8; 8] = *b"PRCLIP\r\n";
/// File name extension of clip files.
pub(crate) const EXTENSION: &str = "prclip";
/// Fixed header bytes: magic, version, key, four u64/f64 fields, summary length.
const HEADER_LEN: usize = 8 + 4 + 32 + 8 * 5;
/// Trailing SHA-256 bytes.
const DIGEST_LEN: usize = 32;
/// Largest width or height accepted.
const MAX_SIDE: u64 = 1 << 16;
/// Most frames accepted in one clip.
const MAX_FRAMES: u64 = 1 << 20;
/// Longest summary accepted, in bytes.
const MAX_SUMMARY: u64 = 1 << 20;
/// Highest frame rate accepted.
const MAX_FPS: f64 = 10_000.0;
/// Sample bytes converted per read or write call (a multiple of 4).
const CHUNK_BYTES: usize = 1 << 20;
/// Age (by modification time) past which a temporary file is taken for a dead writer's.
///
/// NOTE: a live writer touches its file at every buffered write, and writing even a large clip
/// takes seconds, so an hour leaves a wide margin for a slow network share.
pub(crate) const STALE_TEMP_AGE: Duration = Duration::from_secs(60 * 60);

/// Makes temporary file names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The outcome of looking a key up on disk.
#[derive(Debug)]
pub(crate) enum Load {
    /// A valid file.
    Hit(CachedClip),
    /// No file.
    Miss,
    /// A file the system failed to read (permissions, I/O error); kept, as it may be fine.
    Unreadable(io::Error),
    /// A damaged file, already deleted; the text says what was wrong.
    Damaged(&'static str),
}

/// Why reading a clip file failed.
#[derive(Debug)]
enum ReadError {
    /// The system failed; the file may be fine, so it is kept.
    Io(io::Error),
    /// The content is wrong; the file must go.
    Damaged(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        if err.kind() == ErrorKind::UnexpectedEof {
            Self::Damaged("file shorter than its header says")
        } else {
            Self::Io(err)
        }
    }
}

/// Clip files in one folder.
#[derive(Debug, Clone)]
pub(crate) struct DiskStore {
    /// The folder, created on the first write.
    dir: PathBuf,
}

impl DiskStore {
    /// A store in `dir`. Deletes temporary files that dead writers left there (see
    /// [`sweep_stale_temps`]); otherwise nothing is touched until the first read or write, and
    /// the folder is not created.
    pub(crate) fn new(dir: PathBuf) -> Self {
        sweep_stale_temps(&dir, SystemTime::now());
        Self { dir }
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `key`'s clip lives.
    pub(crate) fn path_for(&self, key: &ClipKey) -> PathBuf {
        self.dir.join(format!("{}.{EXTENSION}", key.hex()))
    }

    /// Reads `key`'s clip, deleting the file if it is damaged.
    pub(crate) fn load(&self, key: &ClipKey) -> Load {
        let path = self.path_for(key);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Load::Miss,
            Err(err) => return Load::Unreadable(err),
        };
        let len = match file.metadata() {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => return Load::Unreadable(io::Error::other("not a regular file")),
            Err(err) => return Load::Unreadable(err),
        };
        match read_clip(&mut file, len, key) {
            Ok(clip) => Load::Hit(clip),
            Err(ReadError::Io(err)) => Load::Unreadable(err),
            Err(ReadError::Damaged(reason)) => {
                // NOTE: closed before removal, which Windows requires. Another process may have
                // removed it already; either way it is gone.
                drop(file);
                let _ = fs::remove_file(&path);
                Load::Damaged(reason)
            }
        }
    }

    /// Writes `key`'s clip: to a uniquely named temporary file in the same folder, flushed to
    /// the device, then renamed over the final name, so readers see the old file or the whole
    /// new one and never a partial one. Creates the folder if missing.
    pub(crate) fn store(&self, key: &ClipKey, clip: &CachedClip) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(temp_name(key));
        let result =
            write_file(&temp, key, clip).and_then(|()| replace(&temp, &self.path_for(key)));
        if let Err(err) = result {
            let _ = fs::remove_file(&temp);
            return Err(err);
        }
        sync_dir(&self.dir);
        Ok(())
    }
}

/// How long [`replace`] waits in all for readers to let go of the file it replaces.
const REPLACE_PATIENCE: Duration = Duration::from_millis(1_500);

/// Renames `temp` over `path`.
///
/// Where the system cannot replace a file that another handle holds open (Windows without
/// POSIX rename semantics: FAT and exFAT drives, many network shares a render farm uses, and
/// Wine), the rename fails with "access denied" while a render thread or another machine reads
/// the old clip. Readers hold a clip only while they read it, so the rename is retried with a
/// growing pause, for [`REPLACE_PATIENCE`] in all; after that the error goes to the caller, who
/// keeps the clip in memory. Other errors are not retried.
fn replace(temp: &Path, path: &Path) -> io::Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match fs::rename(temp, path) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && path.exists() => {
                if started.elapsed() + pause > REPLACE_PATIENCE {
                    return Err(e);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// A temporary file name no other writer uses: hidden, with the key, pid, time and a process-wide
/// counter (the time separates machines sharing the folder whose pids happen to match; the
/// counter separates this process's threads).
// NOTE: no `std::thread::current()` here: in a plug-in it registers a thread-exit destructor in
// our library for the host's thread, and a host that unloads the plug-in and later ends that
// thread then jumps into unmapped code (seen as a crash at thread exit in the headless host).
fn temp_name(key: &ClipKey) -> String {
    let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(".{}.{}-{nanos}-{count}.tmp", key.hex(), std::process::id())
}

/// Whether `name` is one of [`temp_name`]'s: `.`, 64 hex digits, `.`, anything, `.tmp`.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    match rest.split_once('.') {
        Some((hex, _)) => hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// Deletes this cache's temporary files in `dir` last modified [`STALE_TEMP_AGE`] or more
/// before `now`, and returns how many went. Younger ones may belong to a writer still at work
/// (in this or another process, or on another machine sharing the folder) and stay, as does
/// every file not named like ours, every folder and link. Failures are ignored: the sweep only
/// saves disk space.
fn sweep_stale_temps(dir: &Path, now: SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(is_temp_name) {
            continue;
        }
        // NOTE: `DirEntry::metadata` does not follow links, so a link is never a file here.
        let Ok(meta) = entry.metadata() else { continue };
        let stale = meta.is_file()
            && meta
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age >= STALE_TEMP_AGE);
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Creates `path` (failing if it exists), writes the clip and flushes it to the device.
fn write_file(path: &Path, key: &ClipKey, clip: &CachedClip) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(CHUNK_BYTES, File::create_new(path)?);
    write_clip(&mut out, key, clip)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// Makes a rename in `dir` durable where the platform allows it; failure only costs durability.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Samples in a clip of these dimensions, or `None` if any is zero or absurd.
fn sample_count(frame_count: u64, width: u64, height: u64) -> Option<u64> {
    let in_range = |v: u64, max: u64| (1..=max).contains(&v);
    if !(in_range(frame_count, MAX_FRAMES)
        && in_range(width, MAX_SIDE)
        && in_range(height, MAX_SIDE))
    {
        return None;
    }
    frame_count
        .checked_mul(width)?
        .checked_mul(height)?
        .checked_mul(CHANNELS as u64)
}

/// Whether `fps` is a frame rate a clip can have.
fn fps_ok(fps: f64) -> bool {
    fps.is_finite() && fps > 0.0 && fps <= MAX_FPS
}

/// A writer that hashes everything passing through it.
struct HashingWriter<W> {
    /// Where the bytes go.
    inner: W,
    /// SHA-256 of the bytes so far.
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(buf)?;
        self.hasher.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Serialises `clip` in the file layout. Refuses clips the reader would reject, so that a
/// file this writes always reads back.
fn write_clip(out: &mut impl Write, key: &ClipKey, clip: &CachedClip) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(ErrorKind::InvalidInput, what.to_owned());
    let as_u64 = |v: usize| u64::try_from(v).map_err(|_| invalid("clip too large"));
    let frame_count = as_u64(clip.frame_count)?;
    let width = as_u64(clip.width)?;
    let height = as_u64(clip.height)?;
    let samples = sample_count(frame_count, width, height)
        .ok_or_else(|| invalid("clip dimensions out of range"))?;
    if as_u64(clip.frames.len())? != samples {
        return Err(invalid("frame data does not match the clip dimensions"));
    }
    if !fps_ok(clip.fps) {
        return Err(invalid("clip frame rate out of range"));
    }
    let summary_len = as_u64(clip.summary.len())?;
    if summary_len > MAX_SUMMARY {
        return Err(invalid("clip summary too long"));
    }

    let mut w = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
    };
    w.write_all(&MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_le_bytes())?;
    w.write_all(key.as_bytes())?;
    for field in [frame_count, width, height, clip.fps.to_bits(), summary_len] {
        w.write_all(&field.to_le_bytes())?;
    }
    w.write_all(clip.summary.as_bytes())?;
    let mut buf = Vec::with_capacity(CHUNK_BYTES);
    for chunk in clip.frames.chunks(CHUNK_BYTES / size_of::<f32>()) {
        buf.clear();
        for sample in chunk {
            buf.extend_from_slice(&sample.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    let digest: [u8; DIGEST_LEN] = w.hasher.finalize().into();
    w.inner.write_all(&digest)
}

/// Fixed-size fields taken one after another from the header, without indexing.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    /// The next `N` bytes.
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let bytes = self.0;
        let (head, rest) = bytes
            .split_first_chunk::<N>()
            .ok_or(ReadError::Damaged("header too short"))?;
        self.0 = rest;
        Ok(*head)
    }

    /// The next little-endian u64.
    fn u64(&mut self) -> Result<u64, ReadError> {
        self.take().map(u64::from_le_bytes)
    }
}

/// Parses and verifies a clip file of `file_len` bytes written for `key`.
fn read_clip(
    reader: &mut impl Read,
    file_len: u64,
    key: &ClipKey,
) -> Result<CachedClip, ReadError> {
    use ReadError::Damaged;

    // Phase 1: the fixed header, checked field by field.
    if file_len < (HEADER_LEN + DIGEST_LEN) as u64 {
        return Err(Damaged("file shorter than a header"));
    }
    let mut hasher = Sha256::new();
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header)?;
    hasher.update(header);
    let mut fields = Fields(&header);
    if fields.take::<8>()? != MAGIC {
        return Err(Damaged("not a clip file (bad magic)"));
    }
    if u32::from_le_bytes(fields.take()?) != FORMAT_VERSION {
        return Err(Damaged("unsupported format version"));
    }
    if fields.take::<32>()? != *key.as_bytes() {
        return Err(Damaged("written for another key"));
    }
    let frame_count = fields.u64()?;
    let width = fields.u64()?;
    let height = fields.u64()?;
    let fps = f64::from_bits(fields.u64()?);
    let summary_len = fields.u64()?;
    let samples =
        sample_count(frame_count, width, height).ok_or(Damaged("clip dimensions out of range"))?;
    if !fps_ok(fps) {
        return Err(Damaged("frame rate out of range"));
    }
    if summary_len > MAX_SUMMARY {
        return Err(Damaged("summary too long"));
    }

    // Phase 2: the sizes must add up to the real file size before anything is allocated.
    let payload_bytes = samples
        .checked_mul(size_of::<f32>() as u64)
        .ok_or(Damaged("clip dimensions out of range"))?;
    let expected_len = [summary_len, payload_bytes, DIGEST_LEN as u64]
        .into_iter()
        .try_fold(HEADER_LEN as u64, u64::checked_add);
    if expected_len != Some(file_len) {
        return Err(Damaged("file size does not match its header"));
    }
    let too_large = || Damaged("clip too large for this machine");
    let frame_count = usize::try_from(frame_count).map_err(|_| too_large())?;
    let width = usize::try_from(width).map_err(|_| too_large())?;
    let height = usize::try_from(height).map_err(|_| too_large())?;
    let samples = usize::try_from(samples).map_err(|_| too_large())?;
    let mut payload_left = usize::try_from(payload_bytes).map_err(|_| too_large())?;
    let summary_len = usize::try_from(summary_len).map_err(|_| too_large())?;

    // Phase 3: summary and samples, hashed as they stream in.
    let mut summary = vec![0u8; summary_len];
    reader.read_exact(&mut summary)?;
    hasher.update(&summary);
    let mut frames: Vec<f32> = Vec::new();
    frames
        .try_reserve_exact(samples)
        .map_err(|_| ReadError::Io(io::Error::from(ErrorKind::OutOfMemory)))?;
    let mut buf = vec![0u8; CHUNK_BYTES.min(payload_left)];
    while payload_left > 0 {
        let chunk = buf
            .get_mut(..CHUNK_BYTES.min(payload_left))
            .ok_or(Damaged("internal chunk size"))?;
        reader.read_exact(chunk)?;
        hasher.update(&*chunk);
        let (quads, _) = chunk.as_chunks::<4>();
        frames.extend(quads.iter().map(|q| f32::from_le_bytes(*q)));
        payload_left -= chunk.len();
    }

    // Phase 4: the checksum covers everything above.
    let mut digest = [0u8; DIGEST_LEN];
    reader.read_exact(&mut digest)?;
    let actual: [u8; DIGEST_LEN] = hasher.finalize().into();
    if digest != actual {
        return Err(Damaged("checksum mismatch"));
    }
    let summary = String::from_utf8(summary).map_err(|_| Damaged("summary is not UTF-8"))?;
    Ok(CachedClip {
        frames,
        frame_count,
        width,
        height,
        fps,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn key() -> ClipKey {
        ClipKey::from_parts(&[("prompt", "disk test")])
    }

    /// A small clip whose samples include values that a lossy encoding would change.
    fn clip() -> CachedClip {
        let mut frames: Vec<f32> = (0..2 * 3 * 2 * 3).map(|i| i as f32 / 35.0).collect();
        frames[0] = 1e-40; // subnormal
        frames[1] = f32::from_bits(0x3eaa_aaab);
        frames[2] = 1.0;
        frames[3] = -0.0;
        CachedClip {
            frames,
            frame_count: 2,
            width: 3,
            height: 2,
            fps: 23.976,
            summary: "tiny · 2 steps".into(),
        }
    }

    fn encode(key: &ClipKey, clip: &CachedClip) -> Vec<u8> {
        let mut out = Vec::new();
        write_clip(&mut out, key, clip).unwrap();
        out
    }

    fn decode(bytes: &[u8], key: &ClipKey) -> Result<CachedClip, ReadError> {
        read_clip(&mut Cursor::new(bytes), bytes.len() as u64, key)
    }

    fn bits(frames: &[f32]) -> Vec<u32> {
        frames.iter().map(|f| f.to_bits()).collect()
    }

    /// Rewrites the trailing checksum so a test reaches the check it is aimed at.
    fn reseal(bytes: &mut Vec<u8>) {
        bytes.truncate(bytes.len() - DIGEST_LEN);
        let digest: [u8; 32] = Sha256::digest(&bytes[..]).into();
        bytes.extend_from_slice(&digest);
    }

    #[test]
    fn round_trip_is_bit_identical() {
        let c = clip();
        let bytes = encode(&key(), &c);
        let header_and_summary = HEADER_LEN + c.summary.len();
        assert_eq!(bytes.len(), header_and_summary + c.frames.len() * 4 + 32);
        let back = decode(&bytes, &key()).unwrap();
        assert_eq!(bits(&back.frames), bits(&c.frames));
        assert_eq!(back.fps.to_bits(), c.fps.to_bits());
        assert_eq!(
            (
                back.frame_count,
                back.width,
                back.height,
                back.summary.as_str()
            ),
            (2, 3, 2, c.summary.as_str())
        );
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let good = encode(&key(), &clip());
        for i in 0..good.len() {
            for mask in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= mask;
                assert!(
                    matches!(decode(&bad, &key()), Err(ReadError::Damaged(_))),
                    "byte {i} mask {mask:#x} not detected"
                );
            }
        }
    }

    #[test]
    fn every_truncation_and_extension_is_caught() {
        let good = encode(&key(), &clip());
        for n in 0..good.len() {
            assert!(
                matches!(decode(&good[..n], &key()), Err(ReadError::Damaged(_))),
                "truncation to {n} not detected"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer, &key()),
            Err(ReadError::Damaged(_))
        ));
        // A file that shrinks while being read (its size said otherwise).
        let short = &good[..good.len() - 5];
        let err = read_clip(&mut Cursor::new(short), good.len() as u64, &key());
        assert!(matches!(err, Err(ReadError::Damaged(_))));
    }

    #[test]
    fn garbage_and_absurd_headers_are_caught() {
        for bytes in [
            Vec::new(),
            vec![0u8; 10],
            vec![0xffu8; 4096],
            b"PRCLIP\r\n".repeat(40),
        ] {
            assert!(matches!(decode(&bytes, &key()), Err(ReadError::Damaged(_))));
        }
        // Huge dimensions with a valid checksum must fail on size, not allocate.
        let mut bytes = encode(&key(), &clip());
        let width_at = 8 + 4 + 32 + 8;
        bytes[width_at..width_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        reseal(&mut bytes);
        assert!(matches!(
            decode(&bytes, &key()),
            Err(ReadError::Damaged("clip dimensions out of range"))
        ));
        let mut bytes = encode(&key(), &clip());
        bytes[width_at..width_at + 8].copy_from_slice(&3000u64.to_le_bytes());
        reseal(&mut bytes);
        assert!(matches!(
            decode(&bytes, &key()),
            Err(ReadError::Damaged("file size does not match its header"))
        ));
    }

    #[test]
    fn version_and_key_are_checked() {
        let mut bytes = encode(&key(), &clip());
        bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        reseal(&mut bytes);
        assert!(matches!(
            decode(&bytes, &key()),
            Err(ReadError::Damaged("unsupported format version"))
        ));
        let other = ClipKey::from_parts(&[("prompt", "other")]);
        let bytes = encode(&other, &clip());
        assert!(matches!(
            decode(&bytes, &key()),
            Err(ReadError::Damaged("written for another key"))
        ));
    }

    #[test]
    fn writer_refuses_clips_the_reader_would_reject() {
        let mut short = clip();
        short.frames.pop();
        let mut zero = clip();
        zero.frame_count = 0;
        zero.frames.clear();
        let mut nan_fps = clip();
        nan_fps.fps = f64::NAN;
        for bad in [short, zero, nan_fps] {
            let err = write_clip(&mut Vec::new(), &key(), &bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn multi_chunk_payload_round_trips() {
        // More than one CHUNK_BYTES of samples, with a ragged last chunk.
        let (w, h, n) = (300, 200, 5);
        let c = CachedClip {
            frames: (0..w * h * 3 * n)
                .map(|i| (i % 1013) as f32 / 1013.0)
                .collect(),
            frame_count: n,
            width: w,
            height: h,
            fps: 8.0,
            summary: String::new(),
        };
        assert!(c.frames.len() * 4 > CHUNK_BYTES);
        let back = decode(&encode(&key(), &c), &key()).unwrap();
        assert_eq!(bits(&back.frames), bits(&c.frames));
    }

    #[test]
    fn temp_names_are_recognised_and_nothing_else() {
        let temp = temp_name(&key());
        assert!(is_temp_name(&temp), "{temp}");
        let hex = key().hex();
        for other in [
            format!("{hex}.prclip"),
            format!("{hex}.tmp"),
            format!(".{hex}.tmp"),
            format!(".{}.1-2-3-4.tmp", &hex[1..]),
            format!(".g{}.1-2-3-4.tmp", &hex[1..]),
            format!("x{}", &temp[1..]),
            format!("{temp}.keep"),
            ".tmp".to_owned(),
            "notes.tmp".to_owned(),
        ] {
            assert!(!is_temp_name(&other), "{other}");
        }
    }

    /// A fresh folder under the system temp dir, removed on drop (even when an assertion fails).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "promptreel-disk-{label}-{}-{}",
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn store_and_load_through_the_folder() {
        let scratch = Scratch::new("unit");
        let dir = scratch.0.clone();
        let store = DiskStore::new(dir.join("nested/clips"));
        assert!(matches!(store.load(&key()), Load::Miss));
        store.store(&key(), &clip()).unwrap();
        store.store(&key(), &clip()).unwrap(); // overwriting is fine
        let names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.prclip", key().hex())]);
        match store.load(&key()) {
            Load::Hit(back) => assert_eq!(bits(&back.frames), bits(&clip().frames)),
            other => panic!("expected a hit, got {other:?}"),
        }
        fs::write(store.path_for(&key()), b"junk").unwrap();
        assert!(matches!(store.load(&key()), Load::Damaged(_)));
        assert!(!store.path_for(&key()).exists());
    }

    /// A render thread may be reading a clip file while another generation of the same key
    /// replaces it. Where a rename cannot replace an open file (Windows without POSIX rename
    /// semantics, and Wine: the Windows lane runs this there), the store waits for the reader;
    /// the reader keeps reading the complete old file either way.
    #[test]
    fn a_clip_is_replaced_once_a_reader_lets_go_of_the_old_file() {
        let scratch = Scratch::new("replace");
        let dir = scratch.0.clone();
        let store = DiskStore::new(dir.clone());
        store.store(&key(), &clip()).unwrap();
        let old = fs::read(store.path_for(&key())).unwrap();
        let mut other = clip();
        for v in &mut other.frames {
            *v = 1.0 - *v;
        }

        // A reader that holds the file for 300 ms, reading it slowly.
        let mut reader = File::open(store.path_for(&key())).unwrap();
        let held = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let mut chunk = [0u8; 16];
            let started = Instant::now();
            loop {
                let n = reader.read(&mut chunk).unwrap();
                bytes.extend_from_slice(&chunk[..n]);
                if n == 0 && started.elapsed() >= Duration::from_millis(300) {
                    return bytes;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        store
            .store(&key(), &other)
            .expect("replacing a clip file while a reader holds it briefly");
        assert_eq!(
            held.join().unwrap(),
            old,
            "the reader saw a mix of two files"
        );
        match store.load(&key()) {
            Load::Hit(back) => assert_eq!(bits(&back.frames), bits(&other.frames)),
            other => panic!("expected the new clip, got {other:?}"),
        }

        // A reader that never lets go: where the system refuses, the store gives up in time
        // and leaves the old file whole; no temporary file is left behind in any case.
        let holder = File::open(store.path_for(&key())).unwrap();
        let before = fs::read(store.path_for(&key())).unwrap();
        let started = Instant::now();
        if let Err(e) = store.store(&key(), &clip()) {
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            assert!(started.elapsed() < REPLACE_PATIENCE * 2, "waited too long");
            assert_eq!(fs::read(store.path_for(&key())).unwrap(), before);
        }
        drop(holder);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![format!("{}.prclip", key().hex())],
            "temporary files left"
        );
    }
}
