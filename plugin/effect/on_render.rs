//! Generate on render: whether rendering a frame whose clip is not generated may start the
//! generation, and the record of how long generations took that Auto decides by.
//!
//! With a real model a clip takes minutes; scrubbing, opening a project or changing an
//! unrelated parameter must not start that by surprise. Auto lets renders generate when this
//! model on this device made its last clip in under [`FAST_ENOUGH`]; with no record yet, only
//! the bundled model (about a second) does. A final render (the host says it is not
//! interactive: a Deliver page, a render farm) generates under Auto whatever the record says,
//! so a slate never ends up in delivered footage. The record is one small JSON file in the clip
//! cache folder ([`RECORD_FILE`], written atomically), mirrored in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

/// The Generate on render setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnRender {
    /// On when the last clip of this model on this device was fast (see [`decide`]).
    Auto,
    /// A render of a frame not generated yet generates the clip (the behaviour before the
    /// setting existed).
    On,
    /// Only the Generate button generates; such frames show a slate.
    Off,
}

/// Auto generates on render when the last generation took less than this.
pub const FAST_ENOUGH: Duration = Duration::from_secs(10);

/// The record's file name, in the clip cache folder.
pub const RECORD_FILE: &str = "generation-times.json";

/// Whether a render may generate, and the words that say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub generate: bool,
    /// E.g. "Generate on render is Off because the last clip took 3 min 12 s".
    pub why: String,
}

/// The decision for `setting`, given how long this model on this device took the last time
/// (`None`: never recorded), whether the model is the bundled one, and whether the render is a
/// final one (`batch`: the host said it is not interactive, as a Deliver page or a render farm
/// does). Auto spares interactive renders (scrubbing, opening a project) the surprise; a final
/// render that showed a slate would put it in the delivered footage, so Auto generates there.
pub fn decide(setting: OnRender, last: Option<Duration>, bundled: bool, batch: bool) -> Decision {
    let (generate, why) = match (setting, last) {
        (OnRender::On, _) => (true, "Generate on render is On".to_string()),
        (OnRender::Off, _) => (false, "Generate on render is Off".to_string()),
        (OnRender::Auto, _) if batch => (
            true,
            "Generate on render is Auto, and a final render generates".to_string(),
        ),
        (OnRender::Auto, Some(took)) if took < FAST_ENOUGH => (
            true,
            format!(
                "Generate on render is On because the last clip took {}",
                duration_words(took)
            ),
        ),
        (OnRender::Auto, Some(took)) => (
            false,
            format!(
                "Generate on render is Off because the last clip took {}",
                duration_words(took)
            ),
        ),
        (OnRender::Auto, None) if bundled => (
            true,
            "Generate on render is On for the bundled model".to_string(),
        ),
        (OnRender::Auto, None) => (
            false,
            "Generate on render is Off because this model has not made a clip on this device \
             yet"
            .to_string(),
        ),
    };
    Decision { generate, why }
}

/// "0.8 s", "14 s", "3 min 12 s", "2 h 5 min".
pub fn duration_words(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 9.95 {
        return format!("{secs:.1} s");
    }
    let whole = secs.round() as u64;
    match whole {
        0..60 => format!("{whole} s"),
        60..3600 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3600, whole % 3600 / 60),
    }
}

/// Seconds by model package identity, then by device setting.
type Times = BTreeMap<String, BTreeMap<String, f64>>;

/// A file's modification time and length: when either changes, the file is read again.
type Stamp = Option<(SystemTime, u64)>;

/// The record of the last generation's wall time per (model package, device): a JSON file
/// (when there is a folder for it) and its copy in memory, read again when the file changes
/// (another host or farm node generated).
#[derive(Debug)]
pub struct TimeRecord {
    file: Option<PathBuf>,
    /// The file's stamp when read, and what it held; `None` until first read.
    times: Mutex<Option<(Stamp, Times)>>,
}

/// Makes temporary file names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TimeRecord {
    /// A record kept in `dir` (created on the first write), or in memory only.
    pub fn new(dir: Option<&Path>) -> Self {
        Self {
            file: dir.map(|d| d.join(RECORD_FILE)),
            times: Mutex::new(None),
        }
    }

    /// How long `identity` on `device` took the last time.
    pub fn last(&self, identity: &str, device: &str) -> Option<Duration> {
        let mut held = self.times.lock();
        let stamp = self.stamp();
        let fresh = match held.take() {
            // Without a file the memory is the record.
            Some((seen, times)) if seen == stamp || self.file.is_none() => (seen, times),
            _ => (stamp, self.read_file()),
        };
        let (_, times) = held.insert(fresh);
        let secs = *times.get(identity)?.get(device)?;
        Duration::try_from_secs_f64(secs).ok()
    }

    /// The record file's stamp now (`None`: no file).
    fn stamp(&self) -> Stamp {
        let meta = std::fs::metadata(self.file.as_ref()?).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Records that `identity` on `device` took `took`. The file is read again first (another
    /// process may have written it) and replaced atomically; a failure to write keeps the
    /// record in memory only and is reported once on stderr.
    pub fn set(&self, identity: &str, device: &str, took: Duration) {
        let mut held = self.times.lock();
        let mut fresh = match (&self.file, held.take()) {
            (None, Some((_, times))) => times,
            _ => self.read_file(),
        };
        fresh
            .entry(identity.to_string())
            .or_default()
            .insert(device.to_string(), took.as_secs_f64());
        if let Err(e) = self.write_file(&fresh) {
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "promptreel: cannot write the generation times to {} ({e}); Generate on \
                     render's Auto remembers them until the host quits",
                    self.file.as_deref().unwrap_or(Path::new("")).display()
                );
            }
        }
        *held = Some((self.stamp(), fresh));
    }

    /// The file's records; nothing for a missing or unreadable file (it is only a hint).
    fn read_file(&self) -> Times {
        let Some(text) = self
            .file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
        else {
            return Times::new();
        };
        let Ok(Value::Object(root)) = serde_json::from_str::<Value>(&text) else {
            return Times::new();
        };
        let mut times = Times::new();
        if let Some(Value::Object(models)) = root.get("last_seconds") {
            for (identity, devices) in models {
                let Value::Object(devices) = devices else {
                    continue;
                };
                for (device, secs) in devices {
                    if let Some(s) = secs.as_f64().filter(|s| s.is_finite() && *s >= 0.0) {
                        times
                            .entry(identity.clone())
                            .or_default()
                            .insert(device.clone(), s);
                    }
                }
            }
        }
        times
    }

    /// Writes `times` to a temporary file beside the record and renames it into place.
    fn write_file(&self, times: &Times) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let dir = file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let models: Map<String, Value> = times
            .iter()
            .map(|(id, devices)| {
                let devices: Map<String, Value> =
                    devices.iter().map(|(d, s)| (d.clone(), json!(s))).collect();
                (id.clone(), Value::Object(devices))
            })
            .collect();
        let body = json!({
            "format": 1,
            "what": "Promptreel: the last generation's wall time in seconds, by model package \
                     and device (Generate on render: Auto)",
            "last_seconds": models,
        });
        let text = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(
            ".{RECORD_FILE}.{}-{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// The process-wide record, in the clip cache's folder.
pub fn record() -> &'static TimeRecord {
    static RECORD: OnceLock<TimeRecord> = OnceLock::new();
    RECORD.get_or_init(|| TimeRecord::new(super::generate::clip_cache().disk_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Option<Duration> {
        Some(Duration::from_secs_f64(s))
    }

    #[test]
    fn auto_follows_the_last_generation_time() {
        let fast = decide(OnRender::Auto, secs(1.2), false, false);
        assert!(fast.generate, "{fast:?}");
        let slow = decide(OnRender::Auto, secs(192.0), false, false);
        assert!(!slow.generate);
        assert_eq!(
            slow.why,
            "Generate on render is Off because the last clip took 3 min 12 s"
        );
        assert!(
            !decide(OnRender::Auto, secs(10.0), true, false).generate,
            "10 s is not under 10 s"
        );
        assert!(decide(OnRender::Auto, secs(9.9), false, false).generate);
        // A record beats the bundled rule both ways.
        assert!(!decide(OnRender::Auto, secs(60.0), true, false).generate);
        // No record: only the bundled model.
        assert!(decide(OnRender::Auto, None, true, false).generate);
        let unknown = decide(OnRender::Auto, None, false, false);
        assert!(
            !unknown.generate && unknown.why.contains("not made a clip"),
            "{unknown:?}"
        );
        // On and Off ignore the record.
        assert!(decide(OnRender::On, secs(9999.0), false, false).generate);
        // a final render never shows a slate under Auto, whatever the record says
        assert!(decide(OnRender::Auto, secs(600.0), false, true).generate);
        assert!(decide(OnRender::Auto, None, false, true).generate);
        // Off stays off: the user chose it
        assert!(!decide(OnRender::Off, None, true, true).generate);
        assert!(!decide(OnRender::Off, secs(0.1), true, false).generate);
        assert_eq!(
            decide(OnRender::Off, None, false, false).why,
            "Generate on render is Off"
        );
    }

    #[test]
    fn durations_read_naturally() {
        let words = |s: f64| duration_words(Duration::from_secs_f64(s));
        assert_eq!(words(0.84), "0.8 s");
        assert_eq!(words(14.2), "14 s");
        assert_eq!(words(192.0), "3 min 12 s");
        assert_eq!(words(7500.0), "2 h 5 min");
    }

    #[test]
    fn the_record_survives_a_restart_and_merges_with_other_writers() {
        let dir = std::env::temp_dir().join(format!(
            "promptreel-on-render-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let a = TimeRecord::new(Some(&dir));
        assert_eq!(a.last("model@1#1", "cpu"), None);
        a.set("model@1#1", "cpu", Duration::from_millis(1500));
        assert_eq!(
            a.last("model@1#1", "cpu"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(a.last("model@1#1", "cuda"), None);
        // Another process (a second record on the same folder) adds its own.
        let b = TimeRecord::new(Some(&dir));
        assert_eq!(
            b.last("model@1#1", "cpu"),
            Some(Duration::from_millis(1500))
        );
        b.set("other@2#3", "cuda", Duration::from_secs(200));
        a.set("model@1#1", "cpu", Duration::from_secs(3));
        let c = TimeRecord::new(Some(&dir));
        assert_eq!(c.last("model@1#1", "cpu"), Some(Duration::from_secs(3)));
        assert_eq!(c.last("other@2#3", "cuda"), Some(Duration::from_secs(200)));
        // No temporary files are left behind.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        assert_eq!(names, vec![RECORD_FILE.to_string()]);
        // A damaged file is no record at all, and is replaced on the next write.
        std::fs::write(dir.join(RECORD_FILE), "{ not json").expect("write");
        let d = TimeRecord::new(Some(&dir));
        assert_eq!(d.last("model@1#1", "cpu"), None);
        d.set("model@1#1", "cpu", Duration::from_secs(1));
        assert_eq!(
            TimeRecord::new(Some(&dir)).last("model@1#1", "cpu"),
            Some(Duration::from_secs(1))
        );
        // A change by another process is seen by a record that already read the file.
        let e = TimeRecord::new(Some(&dir));
        assert_eq!(e.last("model@1#1", "cpu"), Some(Duration::from_secs(1)));
        TimeRecord::new(Some(&dir)).set("model@1#1", "cpu", Duration::from_secs(250));
        assert_eq!(e.last("model@1#1", "cpu"), Some(Duration::from_secs(250)));
        let _ = std::fs::remove_dir_all(&dir);
        // Without a folder the record lives in memory.
        let m = TimeRecord::new(None);
        m.set("x", "cpu", Duration::from_secs(2));
        assert_eq!(m.last("x", "cpu"), Some(Duration::from_secs(2)));
    }
}
