//! The engine's raw FFI into ONNX Runtime beside `ort`: asking a candidate library for its
//! version before `ort` is allowed near it, telemetry, and the capped arena. (The only other raw
//! calls are the NVIDIA driver's, in `cuda.rs`.)

use std::ffi::CStr;
use std::path::Path;

/// Opens the ONNX Runtime library at the absolute `path` for this process.
///
/// On Windows the library's own dependencies must come from its folder too, and a DLL of the
/// same name that the host loaded, or that lies on `PATH`, must not be taken instead:
/// `LoadLibraryExW` with `LOAD_WITH_ALTERED_SEARCH_PATH` and an absolute path loads exactly that
/// file and searches its folder first for what it imports. Once it is open, `ort`'s own
/// `LoadLibraryExW(path, 0)` of the same path finds this module and only counts a reference.
/// Elsewhere `dlopen` of an absolute path already means exactly that file.
///
/// # Safety
/// Loading a shared library runs its initialisers: `path` must be an ONNX Runtime build the
/// user or the project chose, which is the library the engine is about to use anyway.
pub(crate) unsafe fn open_library(path: &Path) -> Result<libloading::Library, libloading::Error> {
    #[cfg(windows)]
    {
        use libloading::os::windows::{LOAD_WITH_ALTERED_SEARCH_PATH, Library};
        // SAFETY: the caller's contract.
        unsafe { Library::load_with_flags(path, LOAD_WITH_ALTERED_SEARCH_PATH) }.map(Into::into)
    }
    #[cfg(not(windows))]
    {
        // SAFETY: the caller's contract.
        unsafe { libloading::Library::new(path) }
    }
}

/// Opens `path` (see [`open_library`]), calls `OrtGetApiBase()->GetVersionString()` and returns
/// the library, still open, with its version. [`crate::runtime::library::load`] keeps it open
/// for the process, so the library `ort` opens next by the same path is this one.
pub(crate) fn library_version(path: &Path) -> Result<(libloading::Library, String), String> {
    // SAFETY: the path was chosen by the user or the project as an ONNX Runtime build, which is
    // the library we are about to load anyway.
    let lib = unsafe { open_library(path) }.map_err(|e| {
        // NOTE: the official Windows builds import the Visual C++ runtime (MSVCP140.dll,
        // VCRUNTIME140_1.dll), which neither the wheels nor a bundle carry; without it the
        // loader's own message only says "the specified module could not be found".
        let hint = if cfg!(windows) {
            "; if the file is there, Windows may lack the Microsoft Visual C++ 2015-2022 \
             Redistributable (x64) that ONNX Runtime needs: install it from Microsoft"
        } else {
            ""
        };
        format!("it cannot be loaded ({e}){hint}")
    })?;
    // SAFETY: the symbol's type is the documented signature of `OrtGetApiBase`.
    let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase\0") }
            .map_err(|_| "it does not export OrtGetApiBase".to_string())?;
    // SAFETY: `OrtGetApiBase` takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".into());
    }
    // SAFETY: `base` is non-null and points at the library's static `OrtApiBase`; the returned
    // string is a static, NUL-terminated C string owned by the library, copied before unloading.
    let version = unsafe {
        let s = ((*base).GetVersionString)();
        if s.is_null() {
            return Err("it reports no version".into());
        }
        CStr::from_ptr(s).to_string_lossy().into_owned()
    };
    Ok((lib, version))
}

/// The variable with which ONNX Runtime's telemetry (1.32 and later on Linux and macOS) is
/// switched off before it initialises: no uploader, event queue or device id file is created.
pub const TELEMETRY_OPT_OUT_ENV: &str = "ORT_DISABLE_TELEMETRY";

/// Sets `ORT_DISABLE_TELEMETRY=1` for this process unless it is already set.
///
/// ONNX Runtime reads it when its telemetry initialises, at environment creation; the C API's
/// `DisableTelemetryEvents` needs an environment, so by the time it could be called the device id
/// file and event database under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` exist already.
/// The variable is the only switch that comes first. It stays set: ONNX Runtime latches the
/// decision, and a host's other ONNX Runtime users are better off opted out too.
pub(crate) fn opt_out_of_telemetry() {
    if std::env::var_os(TELEMETRY_OPT_OUT_ENV).is_some_and(|v| v == "1") {
        return;
    }
    // SAFETY: `set_var` races with threads reading the environment at the same moment. It runs
    // once per process, under the runtime lock, before ONNX Runtime (the only other reader we
    // start) exists; a host thread calling getenv at this instant is the remaining risk, and
    // there is no other switch that precedes the library's initialisation.
    unsafe { std::env::set_var(TELEMETRY_OPT_OUT_ENV, "1") };
}

/// Registers a CPU arena allocator on the environment whose total size is capped at
/// `max_bytes`, so an allocation beyond it fails inside ONNX Runtime as an error status instead
/// of growing until the kernel kills the process. Sessions opt in with the
/// `session.use_env_allocators` entry (see `Graph::load`).
///
/// ort 2.0.0-rc.15 has no safe wrapper for `CreateArenaCfgV2` / `CreateAndRegisterAllocator`,
/// hence this raw call; it runs once, right after the environment is created.
pub(crate) fn register_capped_cpu_arena(
    env: &ort::environment::Environment,
    max_bytes: usize,
) -> Result<(), String> {
    use ort::AsPointer;
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};

    let info = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Arena,
        MemoryType::Default,
    )
    .map_err(|e| format!("could not describe CPU memory: {e}"))?;
    let api = ort::api();
    // Keys from ONNX Runtime's OrtArenaCfg documentation. "max_mem" is the cap (the arena never
    // grows past it, whatever the strategy). kNextPowerOfTwo (0), ONNX Runtime's default, not
    // kSameAsRequested (1): growing by exactly what is asked fragmented the arena and made the
    // 256x256x16 benchmark's steps about 10% slower (docs/benchmarks.md).
    let keys = [c"max_mem".as_ptr(), c"arena_extend_strategy".as_ptr()];
    let values = [max_bytes, 0usize];
    let mut cfg: *mut ort::sys::OrtArenaCfg = std::ptr::null_mut();
    // SAFETY: `keys` and `values` hold `keys.len()` valid entries for the duration of the call;
    // `cfg` receives an owned pointer on success, released below.
    let status =
        unsafe { (api.CreateArenaCfgV2)(keys.as_ptr(), values.as_ptr(), keys.len(), &mut cfg) };
    take_status(api, status).map_err(|e| format!("could not configure the memory arena: {e}"))?;
    // SAFETY: `env` and `info` are live ONNX Runtime objects; `cfg` was just created. The
    // environment copies what it needs from `cfg`, which we then release.
    let status = unsafe {
        (api.CreateAndRegisterAllocator)(env.ptr().cast_mut(), info.ptr(), cfg.cast_const())
    };
    // SAFETY: `cfg` came from CreateArenaCfgV2 and is released exactly once.
    unsafe { (api.ReleaseArenaCfg)(cfg) };
    take_status(api, status).map_err(|e| format!("could not register the memory arena: {e}"))
}

/// Turns an `OrtStatus` pointer into a result, releasing it.
fn take_status(api: &ort::sys::OrtApi, status: ort::sys::OrtStatusPtr) -> Result<(), String> {
    let ptr = status.0;
    if ptr.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status owns a NUL-terminated message until it is released, once, here.
    let message = unsafe {
        let text = CStr::from_ptr((api.GetErrorMessage)(ptr))
            .to_string_lossy()
            .into_owned();
        (api.ReleaseStatus)(ptr);
        text
    };
    Err(message)
}
