//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` with `load-dynamic` panics when it has to find the library itself, so we always hand it
//! an absolute, checked path. The search order is: an explicit path (CLI flag, the plugin's
//! bundle), `PROMPTREEL_ORT_LIB`, then the library next to the running program.
//!
//! There is deliberately no fallback into a build tree (such as `target/onnxruntime/`): a path
//! compiled into a release binary hides a broken install, and on another machine that folder may
//! be writable by anyone, so a plugin inside an editor would run whatever library sits there.
//! Tests and scripts point `PROMPTREEL_ORT_LIB` at the copy `tools/fetch_onnxruntime.sh` caches.
//!
//! Telemetry: the official ONNX Runtime builds collect usage events and, on Linux and macOS,
//! write a device id and an event queue under `~/.cache/Microsoft/`. [`load`] opts out before the
//! library is opened (see [`crate::runtime::ffi::opt_out_of_telemetry`]) and again on the
//! environment, so nothing is collected or written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, Result};

/// The environment variable that points at `libonnxruntime` explicitly.
pub const ORT_LIB_ENV: &str = "PROMPTREEL_ORT_LIB";

/// The ONNX Runtime version the project pins (the wheel `tools/fetch_onnxruntime.sh` extracts).
pub const PINNED_ORT_VERSION: &str = "1.32.0";

/// The oldest ONNX Runtime minor version (1.x) the engine accepts: the C API level `ort` is
/// built against.
pub const MIN_ORT_MINOR: u32 = ort::MINOR_VERSION;

/// The platform's file name of the runtime library.
pub fn library_file_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "onnxruntime.dll"
    } else if cfg!(target_os = "macos") {
        "libonnxruntime.dylib"
    } else {
        "libonnxruntime.so"
    }
}

/// Where to look, in order, and why each place is on the list.
pub fn candidate_paths(explicit: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push((p.to_path_buf(), "the path given explicitly"));
        // NOTE: an explicit path is final; falling back elsewhere would hide a user's mistake.
        return out;
    }
    if let Some(p) = std::env::var_os(ORT_LIB_ENV).filter(|v| !v.is_empty()) {
        out.push((PathBuf::from(p), "PROMPTREEL_ORT_LIB"));
        return out;
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push((dir.join(library_file_name()), "next to the running program"));
    }
    out
}

/// Resolves the library path: the first existing candidate, made absolute.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    let candidates = candidate_paths(explicit);
    for (path, _) in &candidates {
        if path.is_file() {
            return std::path::absolute(path)
                .map_err(|e| Error::io("resolve the ONNX Runtime library path", path, e));
        }
    }
    let tried: Vec<String> = candidates
        .iter()
        .map(|(p, why)| format!("{} ({why})", p.display()))
        .collect();
    Err(Error::new(
        ErrorKind::Runtime,
        format!(
            "ONNX Runtime library not found; looked at: {}. Put onnxruntime {PINNED_ORT_VERSION} \
             there, or point {ORT_LIB_ENV} (or --ort-lib) at a {} of version 1.{MIN_ORT_MINOR} or \
             newer (in a checkout, `bash tools/fetch_onnxruntime.sh` prints one)",
            tried.join(", "),
            library_file_name()
        ),
    ))
}

/// The loaded runtime: the ort environment plus where it came from.
pub struct Runtime {
    pub(crate) env: ort::environment::Environment,
    library: PathBuf,
    version: String,
    arena_cap: Option<u64>,
    /// The library as [`crate::runtime::ffi::open_library`] opened it, never closed: `ort`'s
    /// own handle refers to this module (on Windows, the one whose imports were resolved from
    /// its own folder).
    _pinned: libloading::Library,
}

impl Runtime {
    /// The absolute path of the loaded library.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The folder of the loaded library, where ONNX Runtime also looks for its provider
    /// libraries and a GPU bundle keeps its CUDA libraries.
    pub fn library_dir(&self) -> PathBuf {
        self.library
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// The version string the library reports, e.g. "1.32.0".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The cap on ONNX Runtime's CPU tensor memory, when one is set (see [`crate::budget`]).
    pub fn arena_cap(&self) -> Option<u64> {
        self.arena_cap
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("version", &self.version)
            .field("arena_cap", &self.arena_cap)
            .finish()
    }
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Loads ONNX Runtime once per process and returns it; later calls return the same runtime.
///
/// The process can hold only one ONNX Runtime: once loaded, a later call naming another library
/// gets the loaded one (its path is in [`Runtime::library`]). A failed load can be retried.
pub fn load(explicit: Option<&Path>) -> Result<Arc<Runtime>> {
    let mut slot = RUNTIME.lock();
    if let Some(rt) = slot.as_ref() {
        return Ok(rt.clone());
    }
    let path = locate(explicit)?;
    // Read first: a bad PROMPTREEL_MEMORY_LIMIT_MB must fail before an environment exists.
    let arena_cap = crate::budget::arena_limit()?;
    // Before the library is opened: its telemetry reads the switch when it initialises.
    crate::runtime::ffi::opt_out_of_telemetry();
    let (pinned, version) = read_version(&path)?;
    // NOTE: ort panics on some internal invariants while loading; keep any panic inside.
    let built = std::panic::catch_unwind(|| -> Result<ort::environment::Environment> {
        let builder = ort::init_from(&path).map_err(|e| {
            Error::new(
                ErrorKind::Runtime,
                format!("could not load ONNX Runtime from {}: {e}", path.display()),
            )
        })?;
        // NOTE: the environment-level switch covers Windows' ETW provider; the variable set
        // above is what stops the device id and event queue on Linux and macOS.
        builder
            .with_name("promptreel")
            .with_telemetry(false)
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Runtime,
                    format!("could not start ONNX Runtime: {e}"),
                )
            })
    })
    .map_err(|_| {
        Error::new(
            ErrorKind::Runtime,
            format!(
                "loading ONNX Runtime from {} failed unexpectedly",
                path.display()
            ),
        )
    })??;
    // The hard guard behind the estimate: every session allocates its tensors from one capped
    // arena (see `Graph::load`), so running out is an error, not the kernel's OOM killer.
    if let Some(cap) = arena_cap {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        crate::runtime::ffi::register_capped_cpu_arena(&built, cap)
            .map_err(|e| Error::new(ErrorKind::Runtime, format!("ONNX Runtime {e}")))?;
    }
    let rt = Arc::new(Runtime {
        env: built,
        library: path,
        version,
        arena_cap,
        _pinned: pinned,
    });
    *slot = Some(rt.clone());
    Ok(rt)
}

/// Returns the runtime if it has been loaded, without loading it.
pub fn loaded() -> Option<Arc<Runtime>> {
    RUNTIME.lock().clone()
}

/// Reads the library's version through its C entry point before `ort` touches it, so an old
/// or foreign library is a clear error rather than a panic deep in `ort`.
fn read_version(path: &Path) -> Result<(libloading::Library, String)> {
    let lib_err = |what: String| {
        Error::new(
            ErrorKind::Runtime,
            format!(
                "{} is not a usable ONNX Runtime library: {what}. Run `bash tools/fetch_onnxruntime.sh` \
                 or point {ORT_LIB_ENV} at onnxruntime 1.{MIN_ORT_MINOR} or newer",
                path.display()
            ),
        )
    };
    let (lib, version) = crate::runtime::ffi::library_version(path).map_err(lib_err)?;
    check_version(&version).map_err(lib_err)?;
    Ok((lib, version))
}

/// Refuses versions older than [`MIN_ORT_MINOR`] (and strings that are not versions).
fn check_version(version: &str) -> std::result::Result<(), String> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(1), Some(minor)) if minor >= MIN_ORT_MINOR => Ok(()),
        (Some(major), Some(_)) if major > 1 => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "its version is {version}, older than the 1.{MIN_ORT_MINOR} this build needs"
        )),
        _ => Err(format!(
            "it reports the version {version:?}, which is not a version number"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_garbled_versions_are_refused() {
        assert!(check_version(PINNED_ORT_VERSION).is_ok());
        assert!(check_version("2.0.0").is_ok());
        let old = check_version("1.16.3").err().unwrap_or_default();
        assert!(
            old.contains("1.16.3") && old.contains(&format!("1.{MIN_ORT_MINOR}")),
            "{old}"
        );
        assert!(check_version("banana").is_err());
    }

    #[test]
    fn an_explicit_path_is_final_and_a_missing_one_is_named() {
        let c = candidate_paths(Some(Path::new("/x/libonnxruntime.so")));
        assert_eq!(c.len(), 1);
        let e = locate(Some(Path::new("/x/libonnxruntime.so")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("/x/libonnxruntime.so") && e.contains("fetch_onnxruntime.sh"),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_is_not_onnx_runtime_is_refused() {
        let fake =
            std::env::temp_dir().join(format!("promptreel-fake-ort-{}.so", std::process::id()));
        std::fs::write(&fake, b"not a library").expect("write");
        let e = read_version(&fake)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not a usable ONNX Runtime library"), "{e}");
    }
}
