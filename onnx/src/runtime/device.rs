//! Execution devices: which ONNX Runtime execution provider runs a graph.
//!
//! The user picks a [`Device`]; each graph session then records the provider that actually
//! registered. A provider that fails to register is an error for an explicit device, and for
//! `auto` the next candidate is tried and the fallback is reported — never silent.

use std::fmt;

use crate::error::{Error, ErrorKind, Result};

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
}

impl Device {
    /// Every name [`Device::parse`] accepts.
    pub const NAMES: &'static [&'static str] =
        &["auto", "cpu", "cuda", "tensorrt", "directml", "coreml"];

    /// Parses a device name (case-insensitive).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "cpu" => Self::Cpu,
            "cuda" => Self::Cuda,
            "tensorrt" | "trt" => Self::TensorRt,
            "directml" | "dml" => Self::DirectMl,
            "coreml" => Self::CoreMl,
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
        }
    }

    /// Providers to try, best first, for this request.
    pub(crate) fn candidates(self) -> Vec<Provider> {
        match self {
            Self::Auto => {
                let mut v = Vec::new();
                if cfg!(feature = "tensorrt") {
                    v.push(Provider::TensorRt);
                }
                if cfg!(feature = "cuda") {
                    v.push(Provider::Cuda);
                }
                if cfg!(feature = "directml") {
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
        }
    }

    /// Whether ONNX Runtime's memory pattern (one pre-planned block per input shape) is on.
    /// DirectML cannot run with it. On the CPU it is off: at every new shape it plans another
    /// block beside the old one in the arena, which doubled the peak (4.5 GB instead of 2.3 GB at
    /// 256x256x16) for no measured speed (docs/benchmarks.md).
    pub(crate) fn wants_memory_pattern(self) -> bool {
        !matches!(self, Self::DirectMl | Self::Cpu)
    }

    /// The ort dispatch that registers this provider, failing loudly; `None` for the CPU.
    pub(crate) fn dispatch(self) -> Result<Option<ort::ep::ExecutionProviderDispatch>> {
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
        match self {
            Self::Cpu => Ok(None),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Some(ort::ep::CUDA::default().build().error_on_failure())),
            #[cfg(feature = "tensorrt")]
            Self::TensorRt => Ok(Some(
                ort::ep::TensorRT::default().build().error_on_failure(),
            )),
            #[cfg(feature = "directml")]
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
    fn auto_always_ends_with_cpu_and_explicit_is_alone() {
        assert_eq!(Device::Auto.candidates().last(), Some(&Provider::Cpu));
        assert_eq!(Device::Cuda.candidates(), vec![Provider::Cuda]);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_provider_not_compiled_in_says_how_to_get_it() {
        let err = Provider::Cuda
            .dispatch()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
