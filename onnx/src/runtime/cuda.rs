//! Getting CUDA ready before ONNX Runtime is asked for it: the bundle's GPU libraries, the
//! NVIDIA driver, and a GPU.
//!
//! ONNX Runtime loads its CUDA provider (`libonnxruntime_providers_cuda.so`) from its own folder,
//! and that provider finds cuBLAS, cuDNN and the CUDA runtime by name through the system's
//! library search. A Promptreel CUDA bundle carries those libraries next to ONNX Runtime with a
//! `gpu-runtime.json` that lists them in dependency order; [`prepare`] loads each by absolute
//! path first, so the provider's by-name lookups find the bundle's copies and nothing from the
//! system's library path (studios' IT asks for exactly that). The one library that must come from
//! the system is the NVIDIA driver (`libcuda.so.1`, `nvcuda.dll`): it is checked first, with its
//! CUDA version, so a machine without a usable GPU gets a sentence naming what is missing instead
//! of ONNX Runtime's loader message.
//!
//! Everything here runs once per process; the outcome (a [`CudaDevice`] or the error) is kept.

use std::ffi::{CStr, c_char, c_int};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// The file a GPU bundle writes next to ONNX Runtime.
pub const GPU_RUNTIME_FILE: &str = "gpu-runtime.json";

/// The provider library ONNX Runtime loads for CUDA, from its own folder.
pub fn cuda_provider_file() -> &'static str {
    if cfg!(windows) {
        "onnxruntime_providers_cuda.dll"
    } else {
        "libonnxruntime_providers_cuda.so"
    }
}

/// The provider library ONNX Runtime loads for TensorRT, from its own folder.
pub fn tensorrt_provider_file() -> &'static str {
    if cfg!(windows) {
        "onnxruntime_providers_tensorrt.dll"
    } else {
        "libonnxruntime_providers_tensorrt.so"
    }
}

/// The NVIDIA driver's library, which always comes from the system.
pub fn driver_library() -> &'static str {
    if cfg!(windows) {
        "nvcuda.dll"
    } else {
        "libcuda.so.1"
    }
}

/// `gpu-runtime.json`: what a GPU bundle ships and needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GpuRuntime {
    pub format: u32,
    /// "cuda" or "tensorrt" (which adds the TensorRT libraries).
    pub flavour: String,
    /// The ONNX Runtime version the libraries were collected for.
    pub onnxruntime: String,
    /// The CUDA version (major.minor) the driver must support.
    pub cuda: String,
    /// The oldest NVIDIA driver branch for that CUDA version, for messages.
    pub driver: String,
    /// Library file names in the same folder, in the order they are loaded.
    pub preload: Vec<String>,
}

impl GpuRuntime {
    /// Reads `dir/gpu-runtime.json`; `Ok(None)` when the folder has none (a CPU bundle, or an
    /// ONNX Runtime from elsewhere).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(GPU_RUNTIME_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let bad = |why: String| {
            Error::new(
                ErrorKind::Device,
                format!(
                    "{} is damaged ({why}); rebuild the GPU bundle with `promptreel-bundle build \
                     --gpu cuda`",
                    path.display()
                ),
            )
        };
        let g: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if g.format != 1 {
            return Err(bad(format!(
                "format {} is not the format 1 this build reads",
                g.format
            )));
        }
        if g.required_driver_api().is_none() {
            return Err(bad(format!("\"cuda\": {:?} is not a version", g.cuda)));
        }
        if let Some(name) = g
            .preload
            .iter()
            .find(|n| n.is_empty() || n.contains(['/', '\\']) || n.contains(".."))
        {
            return Err(bad(format!(
                "the preload entry {name:?} is not a file name"
            )));
        }
        Ok(Some(g))
    }

    /// The CUDA version as the driver API reports versions (13.0 → 13000).
    pub fn required_driver_api(&self) -> Option<i32> {
        driver_api_version(&self.cuda)
    }
}

/// "13.0" → 13000, as `cuDriverGetVersion` reports.
fn driver_api_version(v: &str) -> Option<i32> {
    let mut parts = v.trim().split('.');
    let major: i32 = parts.next()?.parse().ok()?;
    let minor: i32 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    if parts.next().is_some() || !(1..100).contains(&major) || !(0..100).contains(&minor) {
        return None;
    }
    Some(major * 1000 + minor * 10)
}

/// 13020 → "13.2".
fn version_text(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// The GPU CUDA will run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDevice {
    /// The device's name, e.g. "NVIDIA H200".
    pub name: String,
    /// Its memory in bytes.
    pub total_memory: u64,
    /// The CUDA version the driver supports, e.g. "13.0".
    pub driver_cuda: String,
}

/// Which provider to prepare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Cuda,
    TensorRt,
}

static PREPARED: OnceLock<std::result::Result<CudaDevice, String>> = OnceLock::new();

/// Checks that the ONNX Runtime in `ort_dir` can run `flavour` on this machine and loads the
/// bundle's GPU libraries; the outcome is kept for the process. Errors are `ErrorKind::Device`
/// with a sentence naming the missing library, driver or GPU and what to do.
pub(crate) fn prepare(ort_dir: &Path, flavour: Flavour) -> Result<CudaDevice> {
    let manifest = GpuRuntime::read(ort_dir)?;
    if flavour == Flavour::TensorRt {
        check_tensorrt(ort_dir, manifest.as_ref())?;
    }
    let outcome = PREPARED.get_or_init(|| prepare_once(ort_dir, manifest.as_ref()));
    outcome
        .clone()
        .map_err(|message| Error::new(ErrorKind::Device, message))
}

/// TensorRT needs its provider library and, in a bundle, the TensorRT libraries.
fn check_tensorrt(ort_dir: &Path, manifest: Option<&GpuRuntime>) -> Result<()> {
    let provider = ort_dir.join(tensorrt_provider_file());
    if !provider.is_file() {
        return Err(Error::new(
            ErrorKind::Device,
            format!(
                "this ONNX Runtime has no TensorRT provider ({} is missing): choose the CUDA \
                 device (Promptreel's CUDA bundle) or the CPU device",
                provider.display()
            ),
        ));
    }
    if let Some(m) = manifest
        && m.flavour != "tensorrt"
    {
        return Err(Error::new(
            ErrorKind::Device,
            format!(
                "this is Promptreel's {} bundle, without TensorRT's libraries (libnvinfer, \
                 libnvonnxparser): PyPI has no wheel of them, so no bundle built from PyPI \
                 carries them (docs/gpu.md); choose the CUDA device",
                m.flavour
            ),
        ));
    }
    Ok(())
}

fn prepare_once(
    ort_dir: &Path,
    manifest: Option<&GpuRuntime>,
) -> std::result::Result<CudaDevice, String> {
    if cfg!(target_os = "macos") {
        return Err("CUDA does not exist on macOS; choose CoreML or the CPU device".into());
    }
    let provider = ort_dir.join(cuda_provider_file());
    if !provider.is_file() {
        return Err(format!(
            "this ONNX Runtime has no CUDA provider ({} is missing): install Promptreel's CUDA \
             bundle (`promptreel-bundle build --gpu cuda`), or choose the CPU device",
            provider.display()
        ));
    }
    let (need, driver_branch) = match manifest {
        Some(m) => (m.required_driver_api(), Some(m.driver.as_str())),
        None => (None, None),
    };
    let device = driver::probe(need, driver_branch)?;
    if let Some(m) = manifest {
        preload(ort_dir, m)?;
    }
    Ok(device)
}

/// Loads the bundle's libraries by absolute path, in the listed order, and keeps them loaded.
fn preload(dir: &Path, m: &GpuRuntime) -> std::result::Result<(), String> {
    let paths: Vec<PathBuf> = m.preload.iter().map(|n| dir.join(n)).collect();
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        return Err(format!(
            "the CUDA bundle is incomplete: {} is missing; rebuild it with `promptreel-bundle \
             build --gpu {}`, or choose the CPU device",
            missing.display(),
            m.flavour
        ));
    }
    for path in &paths {
        // SAFETY: loading runs the library's initialisers. These are NVIDIA's libraries that the
        // bundle shipped for exactly this purpose, loaded once per process.
        let lib = unsafe { open(path) }.map_err(|e| {
            format!(
                "could not load {} from the CUDA bundle: {}",
                path.display(),
                loader_message(&e)
            )
        })?;
        // NOTE: never unloaded: ONNX Runtime's provider and cuDNN's own by-name loads resolve to
        // this copy for the rest of the process.
        std::mem::forget(lib);
    }
    Ok(())
}

/// The loader's own words: libloading's message ("dlopen failed") plus the system's reason.
fn loader_message(e: &libloading::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(why) => format!("{e}: {why}"),
        None => e.to_string(),
    }
}

/// Opens a library by absolute path with every symbol bound now, so a broken file fails here
/// with the loader's message rather than at the first call.
///
/// # Safety
/// As [`libloading::Library::new`]: the library's initialisers run.
unsafe fn open(path: &Path) -> std::result::Result<libloading::Library, libloading::Error> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: forwarded to the caller.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
    }
    #[cfg(not(unix))]
    {
        // SAFETY: forwarded to the caller.
        unsafe { libloading::Library::new(path) }
    }
}

/// The NVIDIA driver API, reached through the driver library itself (no CUDA toolkit needed).
mod driver {
    use libloading::Symbol;

    use super::*;

    // Driver API signatures from NVIDIA's CUDA Driver API reference (CUresult is an int).
    type CuInit = unsafe extern "C" fn(flags: u32) -> c_int;
    type CuDriverGetVersion = unsafe extern "C" fn(version: *mut c_int) -> c_int;
    type CuDeviceGetCount = unsafe extern "C" fn(count: *mut c_int) -> c_int;
    type CuDeviceGet = unsafe extern "C" fn(device: *mut c_int, ordinal: c_int) -> c_int;
    type CuDeviceGetName =
        unsafe extern "C" fn(name: *mut c_char, len: c_int, device: c_int) -> c_int;
    type CuDeviceTotalMem = unsafe extern "C" fn(bytes: *mut usize, device: c_int) -> c_int;

    const CUDA_SUCCESS: c_int = 0;
    const CUDA_ERROR_NO_DEVICE: c_int = 100;
    const CUDA_ERROR_INSUFFICIENT_DRIVER: c_int = 35;

    /// The driver's `symbol` (NUL-terminated) as `T`, or a sentence saying the driver lacks it.
    ///
    /// # Safety
    /// `T` must be the symbol's documented signature.
    unsafe fn symbol<'l, T>(
        lib: &'l libloading::Library,
        symbol: &[u8],
        wanted: &str,
    ) -> std::result::Result<Symbol<'l, T>, String> {
        // SAFETY: forwarded to the caller.
        unsafe { lib.get::<T>(symbol) }.map_err(|_| {
            format!(
                "{} is not a usable NVIDIA driver (it lacks {}); reinstall {wanted}",
                driver_library(),
                String::from_utf8_lossy(symbol.strip_suffix(b"\0").unwrap_or(symbol))
            )
        })
    }

    /// Loads the driver, checks its CUDA version against `need` and finds GPU 0.
    pub(super) fn probe(
        need: Option<i32>,
        branch: Option<&str>,
    ) -> std::result::Result<CudaDevice, String> {
        let name = driver_library();
        let wanted = match (need, branch) {
            (Some(v), Some(b)) => {
                format!("the NVIDIA driver {b} or newer (CUDA {})", version_text(v))
            }
            _ => "the NVIDIA driver".to_string(),
        };
        // SAFETY: the NVIDIA driver's library, loaded by its documented name from the system;
        // CUDA cannot run without it and ONNX Runtime's provider loads the same file.
        let lib = unsafe { libloading::Library::new(name) }.map_err(|e| {
            format!(
                "no NVIDIA driver found: {name} could not be loaded ({}). CUDA needs an NVIDIA \
                 GPU with {wanted}; install the driver, or choose the CPU device",
                loader_message(&e)
            )
        })?;
        // SAFETY: every symbol is looked up with its type from NVIDIA's reference; the
        // out-pointers below point at live locals of the right type and size.
        let device = unsafe {
            let init: Symbol<CuInit> = symbol(&lib, b"cuInit\0", &wanted)?;
            let version: Symbol<CuDriverGetVersion> =
                symbol(&lib, b"cuDriverGetVersion\0", &wanted)?;
            let count: Symbol<CuDeviceGetCount> = symbol(&lib, b"cuDeviceGetCount\0", &wanted)?;
            let get: Symbol<CuDeviceGet> = symbol(&lib, b"cuDeviceGet\0", &wanted)?;
            let get_name: Symbol<CuDeviceGetName> = symbol(&lib, b"cuDeviceGetName\0", &wanted)?;
            let total_mem: Symbol<CuDeviceTotalMem> =
                symbol(&lib, b"cuDeviceTotalMem_v2\0", &wanted)?;

            let mut v: c_int = 0;
            let rc = version(&mut v);
            if rc != CUDA_SUCCESS {
                return Err(format!(
                    "the NVIDIA driver ({name}) did not report its CUDA version (error {rc}); \
                     reinstall {wanted}"
                ));
            }
            if let Some(need) = need
                && v < need
            {
                return Err(format!(
                    "the NVIDIA driver supports CUDA {} but this bundle's CUDA libraries need \
                     CUDA {}: update to {wanted}, or choose the CPU device",
                    version_text(v),
                    version_text(need)
                ));
            }
            let rc = init(0);
            if rc == CUDA_ERROR_NO_DEVICE {
                return Err(format!(
                    "no NVIDIA GPU found: the driver ({name}, CUDA {}) sees no device; check that \
                     the GPU is installed and visible to this process (CUDA_VISIBLE_DEVICES), or \
                     choose the CPU device",
                    version_text(v)
                ));
            }
            if rc == CUDA_ERROR_INSUFFICIENT_DRIVER {
                return Err(format!(
                    "the NVIDIA driver is older than its own CUDA library (error 35, \
                     insufficient driver): reinstall {wanted}"
                ));
            }
            if rc != CUDA_SUCCESS {
                return Err(format!(
                    "the NVIDIA driver could not start (cuInit returned error {rc}); check the \
                     driver installation (`nvidia-smi`), or choose the CPU device"
                ));
            }
            let mut n: c_int = 0;
            if count(&mut n) != CUDA_SUCCESS || n < 1 {
                return Err(format!(
                    "no NVIDIA GPU found: the driver ({name}, CUDA {}) reports {n} devices; \
                     choose the CPU device",
                    version_text(v)
                ));
            }
            let mut dev: c_int = 0;
            let mut buf = [0 as c_char; 128];
            let mut bytes: usize = 0;
            let ok = get(&mut dev, 0) == CUDA_SUCCESS
                && get_name(buf.as_mut_ptr(), buf.len() as c_int - 1, dev) == CUDA_SUCCESS
                && total_mem(&mut bytes, dev) == CUDA_SUCCESS;
            if !ok {
                return Err(format!(
                    "the NVIDIA driver found {n} GPUs but could not describe the first; check \
                     `nvidia-smi`, or choose the CPU device"
                ));
            }
            let last = buf.len() - 1;
            buf[last] = 0;
            CudaDevice {
                name: CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
                total_memory: bytes as u64,
                driver_cuda: version_text(v),
            }
        };
        // NOTE: kept loaded: the CUDA provider links the same driver library.
        std::mem::forget(lib);
        Ok(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "promptreel-gpu-runtime-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch folder");
        dir
    }

    #[test]
    fn versions_read_as_the_driver_reports_them() {
        assert_eq!(driver_api_version("13.0"), Some(13000));
        assert_eq!(driver_api_version("12.4"), Some(12040));
        assert_eq!(driver_api_version("13"), Some(13000));
        assert_eq!(driver_api_version("13.x"), None);
        assert_eq!(driver_api_version("1.2.3"), None);
        assert_eq!(version_text(12040), "12.4");
        assert_eq!(version_text(13000), "13.0");
    }

    #[test]
    fn a_gpu_runtime_file_is_read_and_a_damaged_one_named() {
        let dir = scratch("read");
        assert_eq!(
            GpuRuntime::read(&dir).ok(),
            Some(None),
            "no file: no GPU runtime"
        );
        let good = r#"{"format": 1, "flavour": "cuda", "onnxruntime": "1.31.1", "cuda": "13.0",
            "driver": "580", "preload": ["libcudart.so.13", "libcublas.so.13"],
            "wheels": [{"name": "nvidia-cublas"}]}"#;
        std::fs::write(dir.join(GPU_RUNTIME_FILE), good).expect("write");
        let g = GpuRuntime::read(&dir).expect("read").expect("present");
        assert_eq!(g.preload, ["libcudart.so.13", "libcublas.so.13"]);
        assert_eq!(g.required_driver_api(), Some(13000));
        for (bad, says) in [
            ("{", "damaged"),
            (r#"{"format": 1}"#, "missing field"),
            (&good.replace("\"format\": 1", "\"format\": 2"), "format 2"),
            (&good.replace("13.0", "thirteen"), "thirteen"),
            (
                &good.replace("libcudart.so.13", "../evil.so"),
                "not a file name",
            ),
        ] {
            std::fs::write(dir.join(GPU_RUNTIME_FILE), bad).expect("write");
            let e = GpuRuntime::read(&dir)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(GPU_RUNTIME_FILE) && e.contains(says) && e.contains("--gpu cuda"),
                "{bad}: {e}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tensorrt_without_its_provider_or_libraries_says_which() {
        let dir = scratch("trt");
        let e = check_tensorrt(&dir, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(tensorrt_provider_file()) && e.contains("CUDA device"),
            "{e}"
        );
        std::fs::write(dir.join(tensorrt_provider_file()), b"").expect("write");
        let cuda_only = GpuRuntime {
            format: 1,
            flavour: "cuda".into(),
            onnxruntime: "1.31.1".into(),
            cuda: "13.0".into(),
            driver: "580".into(),
            preload: vec![],
        };
        let e = check_tensorrt(&dir, Some(&cuda_only))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("cuda bundle") && e.contains("libnvinfer"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
