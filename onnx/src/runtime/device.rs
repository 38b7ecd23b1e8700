//! Execution devices: which ONNX Runtime execution provider runs a graph.
//!
//! The user picks a [`Device`]; each graph session then records the provider that actually
//! registered. A provider that fails to register is an error for an explicit device, and for
//! `auto` the next candidate is tried and the fallback is reported — never silent.

use std::fmt;
use std::path::{Path, PathBuf};

use super::cuda;

use crate::error::{Error, ErrorKind, Result};

/// The library the DirectML build of ONNX Runtime carries beside `onnxruntime.dll`, and the
/// DirectML bundle ships (`tools/fetch_onnxruntime.sh --platform win64 --gpu directml`): its
/// presence is what marks that build.
pub const DIRECTML_LIBRARY: &str = "DirectML.dll";

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The best provider compiled into this build that registers on this machine.
    #[default]
    Auto,
    Cpu,
    Cuda,
    TensorRt,
    DirectMl,
    CoreMl,
    /// A KServe v2 server (Triton) runs the graphs; the address is
    /// [`SessionOptions::server`](super::SessionOptions::server).
    Remote,
}

impl Device {
    /// Every name [`Device::parse`] accepts.
    pub const NAMES: &'static [&'static str] = &[
        "auto", "cpu", "cuda", "tensorrt", "directml", "coreml", "remote",
    ];

    /// Parses a device name (case-insensitive).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "cpu" => Self::Cpu,
            "cuda" => Self::Cuda,
            "tensorrt" | "trt" => Self::TensorRt,
            "directml" | "dml" => Self::DirectMl,
            "coreml" => Self::CoreMl,
            "remote" | "server" => Self::Remote,
            _ => {
                return Err(Error::setting(format!(
                    "unknown device {name:?}; choose one of: {}",
                    Self::NAMES.join(", ")
                )));
            }
        })
    }

    /// The name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
            Self::DirectMl => "directml",
            Self::CoreMl => "coreml",
            Self::Remote => "remote",
        }
    }

    /// Providers to try, best first, for this request on the ONNX Runtime in `ort_dir`.
    ///
    /// `auto` tries CUDA only where that ONNX Runtime has its CUDA provider next to it (a CUDA
    /// bundle): on a CPU bundle it is the CPU at once, with nothing to report. TensorRT builds an
    /// engine per graph and shape on first use (minutes), so it runs only when asked for.
    pub(crate) fn candidates(self, ort_dir: &Path) -> Vec<Provider> {
        match self {
            Self::Auto => {
                let mut v = Vec::new();
                if cfg!(feature = "cuda") && ort_dir.join(cuda::cuda_provider_file()).is_file() {
                    v.push(Provider::Cuda);
                }
                // Likewise DirectML only with the DirectML build's DirectML.dll beside ONNX
                // Runtime (the DirectML bundle); the CPU build has no such provider.
                if cfg!(any(feature = "directml", windows))
                    && ort_dir.join(DIRECTML_LIBRARY).is_file()
                {
                    v.push(Provider::DirectMl);
                }
                if cfg!(feature = "coreml") {
                    v.push(Provider::CoreMl);
                }
                v.push(Provider::Cpu);
                v
            }
            Self::Cpu => vec![Provider::Cpu],
            Self::Cuda => vec![Provider::Cuda],
            Self::TensorRt => vec![Provider::TensorRt],
            Self::DirectMl => vec![Provider::DirectMl],
            Self::CoreMl => vec![Provider::CoreMl],
            Self::Remote => vec![Provider::Remote],
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The execution provider a session actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Cpu,
    Cuda,
    TensorRt,
    DirectMl,
    CoreMl,
    /// The graph runs on a remote server (`Graph::remote`), not in a local session.
    Remote,
}

impl Provider {
    /// A short name for status lines and reports ("CPU", "CUDA", ...).
    pub fn label(self) -> &'static str {
        match self {
            Self::Cpu => "CPU",
            Self::Cuda => "CUDA",
            Self::TensorRt => "TensorRT",
            Self::DirectMl => "DirectML",
            Self::CoreMl => "CoreML",
            Self::Remote => "remote server",
        }
    }

    /// The cargo feature that compiles this provider in.
    fn feature(self) -> &'static str {
        match self {
            Self::Cpu => "",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
            Self::DirectMl => "directml",
            Self::CoreMl => "coreml",
            Self::Remote => "",
        }
    }

    /// Whether ONNX Runtime's memory pattern (one pre-planned block per input shape) is on.
    /// DirectML cannot run with it. On the CPU it is off: at every new shape it plans another
    /// block beside the old one in the arena, which doubled the peak (4.5 GB instead of 2.3 GB at
    /// 256x256x16) for no measured speed (docs/benchmarks.md).
    pub(crate) fn wants_memory_pattern(self) -> bool {
        !matches!(self, Self::DirectMl | Self::Cpu | Self::Remote)
    }

    /// The ort dispatch that registers this provider, failing loudly; `None` for the CPU.
    ///
    /// GPU providers are checked first ([`cuda::prepare`]): the provider library next to the
    /// ONNX Runtime in `ort_dir`, the NVIDIA driver and its CUDA version, a GPU; and a bundle's
    /// CUDA libraries are loaded from the bundle. Each missing piece is a sentence of its own.
    pub(crate) fn dispatch(
        self,
        ort_dir: &Path,
    ) -> Result<Option<ort::ep::ExecutionProviderDispatch>> {
        let not_built = || {
            Error::new(
                ErrorKind::Device,
                format!(
                    "this build of Promptreel has no {} support; rebuild with `--features {}` \
                     or choose the CPU device",
                    self.label(),
                    self.feature()
                ),
            )
        };
        // NOTE: only the GPU providers read it; without their features it would be unused.
        let _ = ort_dir;
        match self {
            Self::Cpu => Ok(None),
            Self::Remote => Err(Error::new(
                ErrorKind::Device,
                "the remote device runs graphs on a server, not in ONNX Runtime here; give the \
                 server's address (--server URL, or the Server parameter)",
            )),
            #[cfg(feature = "cuda")]
            Self::Cuda => {
                let gpu = cuda::prepare(ort_dir, cuda::Flavour::Cuda)?;
                Ok(Some(
                    ort::ep::CUDA::default()
                        .with_device_id(0)
                        .with_memory_limit(gpu_memory_cap(&gpu)? as usize)
                        .build()
                        .error_on_failure(),
                ))
            }
            #[cfg(feature = "tensorrt")]
            Self::TensorRt => {
                cuda::prepare(ort_dir, cuda::Flavour::TensorRt)?;
                let cache = engine_cache_dir();
                std::fs::create_dir_all(&cache)
                    .map_err(|e| Error::io("create the TensorRT engine cache", &cache, e))?;
                let cache = cache.display().to_string();
                Ok(Some(
                    ort::ep::TensorRT::default()
                        .with_device_id(0)
                        .with_engine_cache(true)
                        .with_engine_cache_path(&cache)
                        .with_timing_cache(true)
                        .with_timing_cache_path(&cache)
                        .build()
                        .error_on_failure(),
                ))
            }
            #[cfg(any(feature = "directml", windows))]
            Self::DirectMl => Ok(Some(
                ort::ep::DirectML::default().build().error_on_failure(),
            )),
            #[cfg(feature = "coreml")]
            Self::CoreMl => Ok(Some(ort::ep::CoreML::default().build().error_on_failure())),
            #[allow(unreachable_patterns)]
            _ => Err(not_built()),
        }
    }
}

/// Whether `provider` can run on this machine with the runtime `rt`, in a line for people: the
/// GPU and its memory for CUDA, the engine cache for TensorRT; the error says what is missing.
/// DirectML and CoreML only register when a session starts, so for them it says whether they are
/// compiled in. (The CLI's `promptreel devices`.)
pub fn probe(rt: &super::Runtime, provider: Provider) -> Result<String> {
    let dir = rt.library_dir();
    let describe = |gpu: &cuda::CudaDevice| {
        format!(
            "{}, {:.1} GiB, driver supports CUDA {}",
            gpu.name,
            gpu.total_memory as f64 / f64::from(1u32 << 30),
            gpu.driver_cuda
        )
    };
    match provider {
        Provider::Cpu => Ok("available".into()),
        Provider::Cuda if cfg!(feature = "cuda") => {
            cuda::prepare(&dir, cuda::Flavour::Cuda).map(|g| describe(&g))
        }
        Provider::TensorRt if cfg!(feature = "tensorrt") => {
            cuda::prepare(&dir, cuda::Flavour::TensorRt).map(|g| {
                format!(
                    "{}; engines kept in {}",
                    describe(&g),
                    engine_cache_dir().display()
                )
            })
        }
        Provider::DirectMl if cfg!(any(feature = "directml", windows)) => {
            Ok("compiled in; checked when a model loads".into())
        }
        Provider::CoreMl if cfg!(feature = "coreml") => {
            Ok("compiled in; checked when a model loads".into())
        }
        other => other.dispatch(&dir).map(|_| String::new()),
    }
}

/// The GPU a generation on `model` will run on: its CUDA device when the model's device is CUDA
/// (or TensorRT), or `auto` where CUDA comes first and starts; `None` for the CPU and the
/// others. A CUDA that cannot start is the same error here as when its sessions load.
pub(crate) fn cuda_target(model: &crate::model::Model) -> Result<Option<cuda::CudaDevice>> {
    let dir = model.runtime().library_dir();
    match model.options().device {
        Device::Cuda if cfg!(feature = "cuda") => {
            cuda::prepare(&dir, cuda::Flavour::Cuda).map(Some)
        }
        Device::TensorRt if cfg!(feature = "tensorrt") => {
            cuda::prepare(&dir, cuda::Flavour::TensorRt).map(Some)
        }
        Device::Auto if Device::Auto.candidates(&dir).first() == Some(&Provider::Cuda) => {
            // A CUDA that cannot start: auto runs on the CPU, and that is checked instead.
            Ok(cuda::prepare(&dir, cuda::Flavour::Cuda).ok())
        }
        _ => Ok(None),
    }
}

/// The variable that caps CUDA's memory arena, in MiB. Without it the cap is
/// [`DEFAULT_GPU_SHARE`] of the GPU's memory.
pub const GPU_MEMORY_LIMIT_ENV: &str = "PROMPTREEL_GPU_MEMORY_LIMIT_MB";

/// Share of the GPU's memory CUDA's arena may take when no limit is set: the rest stays for the
/// host application (an editor draws its viewer with the same GPU) and cuDNN's workspaces.
pub const DEFAULT_GPU_SHARE: f64 = 0.85;

/// The cap on ONNX Runtime's CUDA arena for `gpu`: an allocation beyond it fails as an error
/// the user reads, instead of taking the memory the host application needs.
pub(crate) fn gpu_memory_cap(gpu: &cuda::CudaDevice) -> Result<u64> {
    match std::env::var(GPU_MEMORY_LIMIT_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            let mib: u64 = v.trim().parse().ok().filter(|&m| m >= 64).ok_or_else(|| {
                Error::setting(format!(
                    "{GPU_MEMORY_LIMIT_ENV}={v:?} is not a number of MiB (64 or more); set it \
                     to e.g. 20000 for 20 GB, or unset it to use {:.0}% of the GPU",
                    DEFAULT_GPU_SHARE * 100.0
                ))
            })?;
            Ok(mib << 20)
        }
        _ => Ok((gpu.total_memory as f64 * DEFAULT_GPU_SHARE) as u64),
    }
}

/// The variable naming Promptreel's cache folder (the plug-in's clips, TensorRT's engines).
pub const CACHE_DIR_ENV: &str = "PROMPTREEL_CACHE_DIR";

/// Where TensorRT keeps the engines it builds, next to the plug-in's clip cache: `tensorrt/` in
/// `$PROMPTREEL_CACHE_DIR`, else `promptreel/tensorrt` in the user's cache folder, beside the
/// plug-in's `promptreel/clips` (`~/.cache`, `~/Library/Caches`, `%LOCALAPPDATA%`). Building an
/// engine takes minutes; kept, the next session starts in seconds.
pub fn engine_cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("tensorrt"),
        None => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("promptreel")
            .join("tensorrt"),
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_listed_name_and_rejects_others() {
        for name in Device::NAMES {
            assert_eq!(Device::parse(name).map(Device::name).ok(), Some(*name));
        }
        assert_eq!(Device::parse(" CUDA ").ok(), Some(Device::Cuda));
        let err = Device::parse("gpu")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"gpu\"") && err.contains("directml"), "{err}");
    }

    #[test]
    fn auto_tries_cuda_only_where_the_runtime_has_it() {
        let dir = std::env::temp_dir().join(format!("promptreel-auto-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create");
        let auto = Device::Auto.candidates(&dir);
        assert_eq!(auto.last(), Some(&Provider::Cpu));
        assert!(!auto.contains(&Provider::Cuda), "a CPU runtime: {auto:?}");
        assert!(
            !auto.contains(&Provider::TensorRt),
            "TensorRT only when asked: {auto:?}"
        );
        std::fs::write(dir.join(cuda::cuda_provider_file()), b"").expect("write");
        let auto = Device::Auto.candidates(&dir);
        assert_eq!(
            auto.first() == Some(&Provider::Cuda),
            cfg!(feature = "cuda"),
            "{auto:?}"
        );
        assert_eq!(Device::Cuda.candidates(&dir), vec![Provider::Cuda]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_provider_not_compiled_in_says_how_to_get_it() {
        let err = Provider::Cuda
            .dispatch(Path::new("."))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
