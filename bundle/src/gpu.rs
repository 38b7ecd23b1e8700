//! GPU flavours of the bundle (Linux x86-64): ONNX Runtime's GPU build with its CUDA (and
//! TensorRT) provider, and the NVIDIA libraries those providers need, all next to the plugin.
//!
//! The NVIDIA libraries come from a folder that `tools/fetch_cuda_libraries.sh` fills from
//! NVIDIA's wheels, together with [`GPU_RUNTIME_FILE`]: which CUDA version and driver they need,
//! and the order the engine loads them in (`preload`, by absolute path, before ONNX Runtime
//! loads its provider). [`GpuRuntime::check`] refuses a folder that lacks one of them, so a
//! bundle never ships half a runtime. The wheels' licences lie in the same folder
//! (`licenses/<package>.txt`, listed under `licenses`); the bundle ships them in
//! `Contents/Resources/licenses/nvidia/`, and a folder without them is refused too.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Context, Error, Result};

/// The file that describes a GPU runtime, in the fetched folder and in the bundle.
pub const GPU_RUNTIME_FILE: &str = "gpu-runtime.json";
/// The [`GPU_RUNTIME_FILE`] format this crate reads (and the engine).
pub const GPU_RUNTIME_FORMAT: u32 = 1;

/// Which GPU runtime a bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// ONNX Runtime's CUDA provider with CUDA, cuBLAS, cuRAND, cuFFT, NVRTC and cuDNN.
    Cuda,
    /// The CUDA flavour plus ONNX Runtime's TensorRT provider and TensorRT.
    TensorRt,
}

impl Flavour {
    /// Every flavour.
    pub const ALL: [Flavour; 2] = [Flavour::Cuda, Flavour::TensorRt];

    /// `cuda` or `tensorrt`, as on the command line and in [`GPU_RUNTIME_FILE`].
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                Error(format!(
                    "unknown GPU flavour {name:?}: use cuda or tensorrt"
                ))
            })
    }

    /// The flavour's name, as [`Flavour::parse`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Cuda => "cuda",
            Flavour::TensorRt => "tensorrt",
        }
    }

    /// ONNX Runtime's provider libraries the flavour ships next to ONNX Runtime's library.
    pub fn provider_libraries(self) -> &'static [&'static str] {
        match self {
            Flavour::Cuda => &[
                "libonnxruntime_providers_shared.so",
                "libonnxruntime_providers_cuda.so",
            ],
            Flavour::TensorRt => &[
                "libonnxruntime_providers_shared.so",
                "libonnxruntime_providers_cuda.so",
                "libonnxruntime_providers_tensorrt.so",
            ],
        }
    }

    /// The default output folder's name, under cargo's target folder (`bundle-cuda`), so a GPU
    /// build does not replace the CPU bundle in `bundle/`.
    pub fn out_dir_name(self) -> &'static str {
        match self {
            Flavour::Cuda => "bundle-cuda",
            Flavour::TensorRt => "bundle-tensorrt",
        }
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One wheel the libraries were taken from (detail; the engine does not need it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Wheel {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

/// [`GPU_RUNTIME_FILE`]: what a GPU runtime holds and needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GpuManifest {
    /// [`GPU_RUNTIME_FORMAT`].
    pub format: u32,
    /// `cuda` or `tensorrt`.
    pub flavour: String,
    /// The ONNX Runtime version the libraries were collected for.
    pub onnxruntime: String,
    /// The CUDA version (major.minor) the driver must support.
    pub cuda: String,
    /// The oldest NVIDIA driver branch that supports it, for messages.
    pub driver: String,
    /// File names in the same folder, in the order the engine loads them.
    pub preload: Vec<String>,
    /// The licences of the wheels the libraries come from: paths relative to the folder
    /// (`licenses/nvidia-cublas.txt`), no two with the same file name. Absent in a description
    /// made before they were collected, which [`GpuRuntime::check`] refuses.
    #[serde(default)]
    pub licenses: Vec<String>,
    /// Where they came from.
    #[serde(default)]
    pub wheels: Vec<Wheel>,
}

/// Whether `s` is digits, a dot, digits (`13.0`).
fn is_major_minor(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.split_once('.')
        .is_some_and(|(major, minor)| digits(major) && digits(minor))
}

impl GpuManifest {
    /// Parses and checks the text of `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |why: String| {
            Error(format!(
                "{} is not a usable GPU runtime description: {why}",
                path.display()
            ))
        };
        let m: Self = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if m.format != GPU_RUNTIME_FORMAT {
            return Err(bad(format!(
                "format {} is not the format {GPU_RUNTIME_FORMAT} this promptreel-bundle reads",
                m.format
            )));
        }
        Flavour::parse(&m.flavour).map_err(|e| bad(format!("\"flavour\": {e}")))?;
        if !is_major_minor(&m.cuda) {
            return Err(bad(format!(
                "\"cuda\": {:?} is not a major.minor version",
                m.cuda
            )));
        }
        if m.driver.is_empty() || !m.driver.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!(
                "\"driver\": {:?} is not a driver branch number",
                m.driver
            )));
        }
        if m.preload.is_empty() {
            return Err(bad("\"preload\" names no library".into()));
        }
        let mut seen = HashSet::new();
        for name in &m.preload {
            // The engine refuses the same names: anything but a plain file name in the folder.
            if name.is_empty() || name.contains(['/', '\\']) || name.contains("..") {
                return Err(bad(format!(
                    "the preload entry {name:?} is not a file name"
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(bad(format!("the preload entry {name:?} appears twice")));
            }
        }
        let mut seen = HashSet::new();
        for path in &m.licenses {
            // A relative path inside the folder, in plain components.
            let plain = !path.contains('\\')
                && path
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..");
            if !plain {
                return Err(bad(format!(
                    "the licenses entry {path:?} is not a path inside the folder"
                )));
            }
            let name = path.rsplit('/').next().unwrap_or(path);
            if !seen.insert(name) {
                return Err(bad(format!(
                    "the licenses entry {path:?} has the file name of another one"
                )));
            }
        }
        Ok(m)
    }

    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).context("read", path)?;
        Self::parse(&text, path)
    }

    /// The TensorRT version, when a TensorRT wheel is recorded.
    pub fn tensorrt_version(&self) -> Option<&str> {
        self.wheels
            .iter()
            .find(|w| w.name.starts_with("tensorrt"))
            .map(|w| w.version.as_str())
    }

    /// What the libraries are and need, for people: `CUDA 13.0 libraries (NVIDIA driver 580 or
    /// newer)`.
    pub fn describe(&self) -> String {
        let what = match (self.flavour.as_str(), self.tensorrt_version()) {
            ("tensorrt", Some(v)) => format!("CUDA {} and TensorRT {v} libraries", self.cuda),
            ("tensorrt", None) => format!("CUDA {} and TensorRT libraries", self.cuda),
            _ => format!("CUDA {} libraries", self.cuda),
        };
        format!("{what} (NVIDIA driver {} or newer)", self.driver)
    }
}

/// The GPU runtime that goes into a bundle.
#[derive(Debug, Clone)]
pub struct GpuRuntime {
    pub flavour: Flavour,
    /// The folder holding [`GPU_RUNTIME_FILE`] and every library its `preload` names
    /// (`tools/fetch_cuda_libraries.sh` fills `<target>/cuda-libraries/<flavour>/`).
    pub dir: PathBuf,
    /// Further files that go next to the plugin: ONNX Runtime's provider libraries
    /// (`tools/fetch_onnxruntime.sh --gpu cuda` caches them next to the GPU build's library).
    pub files: Vec<PathBuf>,
}

impl GpuRuntime {
    /// The runtime `tools/fetch_cuda_libraries.sh <flavour>` and `tools/fetch_onnxruntime.sh
    /// --gpu cuda` leave in `libraries` and `onnxruntime`.
    pub fn fetched(flavour: Flavour, libraries: &Path, onnxruntime: &Path) -> Self {
        GpuRuntime {
            flavour,
            dir: libraries.to_path_buf(),
            files: flavour
                .provider_libraries()
                .iter()
                .map(|name| onnxruntime.join(name))
                .collect(),
        }
    }

    /// Reads the description, and checks that it is this flavour's, that every file it names
    /// and every file of [`GpuRuntime::files`] exists, and that no two files, nor a file and one
    /// of `taken` (the names the bundle uses already), share a name in the platform folder.
    pub fn check(&self, taken: &[&str]) -> Result<GpuManifest> {
        let manifest = GpuManifest::read(&self.dir.join(GPU_RUNTIME_FILE))?;
        let fetch = format!("run `bash tools/fetch_cuda_libraries.sh {}`", self.flavour);
        if manifest.flavour != self.flavour.name() {
            return Err(Error(format!(
                "{} describes the {} runtime, not the {} one; {fetch}",
                self.dir.join(GPU_RUNTIME_FILE).display(),
                manifest.flavour,
                self.flavour
            )));
        }
        for name in &manifest.preload {
            let path = self.dir.join(name);
            if !path.is_file() {
                return Err(Error(format!(
                    "{name} is missing from {}, though its {GPU_RUNTIME_FILE} lists it; {fetch}",
                    self.dir.display()
                )));
            }
        }
        if manifest.licenses.is_empty() {
            return Err(Error(format!(
                "{} lists no licence files, which the bundle must ship (it was made before they \
                 were collected); {fetch}",
                self.dir.join(GPU_RUNTIME_FILE).display()
            )));
        }
        for name in &manifest.licenses {
            let path = self.dir.join(name);
            if !path.is_file() {
                return Err(Error(format!(
                    "the licence {name} is missing from {}, though its {GPU_RUNTIME_FILE} lists \
                     it; {fetch}",
                    self.dir.display()
                )));
            }
        }
        for path in &self.files {
            if !path.is_file() {
                return Err(Error(format!(
                    "{} is missing; run `bash tools/fetch_onnxruntime.sh --gpu cuda`",
                    path.display()
                )));
            }
        }
        let mut names: HashSet<String> = taken.iter().map(|s| s.to_string()).collect();
        let extra = self.files.iter().map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        for name in manifest
            .preload
            .iter()
            .cloned()
            .chain([GPU_RUNTIME_FILE.to_string()])
            .chain(extra)
        {
            if name.is_empty() || !names.insert(name.clone()) {
                return Err(Error(format!(
                    "the GPU runtime's file name {name:?} is used twice in the bundle"
                )));
            }
        }
        Ok(manifest)
    }
}

/// The GPU runtime inside a built bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledGpu {
    pub flavour: Flavour,
    /// Its description, as copied into the bundle.
    pub manifest: GpuManifest,
    /// ONNX Runtime's provider libraries in the bundle.
    pub providers: Vec<PathBuf>,
    /// The NVIDIA libraries in the bundle, in load order.
    pub libraries: Vec<PathBuf>,
}

/// What [`copy_runtime`] copied, where.
pub(crate) struct Copied {
    pub providers: Vec<PathBuf>,
    pub libraries: Vec<PathBuf>,
    pub licenses: Vec<PathBuf>,
}

/// Copies the checked runtime (`manifest` from [`GpuRuntime::check`]) into `bin_dir`, and its
/// licences, by file name, into `licenses_dir` (created).
pub(crate) fn copy_runtime(
    gpu: &GpuRuntime,
    manifest: &GpuManifest,
    bin_dir: &Path,
    licenses_dir: &Path,
) -> Result<Copied> {
    let mut providers = Vec::new();
    for src in &gpu.files {
        let name = src.file_name().expect("checked: a file name");
        let dst = bin_dir.join(name);
        fs::copy(src, &dst).context("copy", src)?;
        providers.push(dst);
    }
    let mut libraries = Vec::new();
    for name in &manifest.preload {
        let src = gpu.dir.join(name);
        let dst = bin_dir.join(name);
        fs::copy(&src, &dst).context("copy", &src)?;
        libraries.push(dst);
    }
    let src = gpu.dir.join(GPU_RUNTIME_FILE);
    fs::copy(&src, bin_dir.join(GPU_RUNTIME_FILE)).context("copy", &src)?;
    fs::create_dir_all(licenses_dir).context("create", licenses_dir)?;
    let mut licenses = Vec::new();
    for name in &manifest.licenses {
        let src = gpu.dir.join(name);
        let dst = licenses_dir.join(src.file_name().expect("checked: a file name"));
        fs::copy(&src, &dst).context("copy", &src)?;
        licenses.push(dst);
    }
    Ok(Copied {
        providers,
        libraries,
        licenses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "format": 1,
  "flavour": "cuda",
  "onnxruntime": "1.31.1",
  "cuda": "13.0",
  "driver": "580",
  "preload": ["libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13"],
  "licenses": ["licenses/nvidia-cuda-runtime.txt", "licenses/nvidia-cublas.txt"],
  "wheels": [{"name": "nvidia-cublas", "version": "13.0.2.14",
              "file": "nvidia_cublas-13.0.2.14-py3-none-manylinux_2_27_x86_64.whl",
              "sha256": "0cf2"}]
}"#;

    fn parse(text: &str) -> Result<GpuManifest> {
        GpuManifest::parse(text, Path::new("/x/gpu-runtime.json"))
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("refused").to_string()
    }

    #[test]
    fn a_good_description_is_read_whole() {
        let m = parse(GOOD).expect("parsed");
        assert_eq!(m.flavour, "cuda");
        assert_eq!(m.cuda, "13.0");
        assert_eq!(m.driver, "580");
        assert_eq!(m.preload.len(), 3);
        assert_eq!(m.wheels[0].version, "13.0.2.14");
        assert_eq!(
            m.licenses,
            [
                "licenses/nvidia-cuda-runtime.txt",
                "licenses/nvidia-cublas.txt"
            ]
        );
        assert_eq!(
            m.describe(),
            "CUDA 13.0 libraries (NVIDIA driver 580 or newer)"
        );
        // Without wheel detail it is still valid: that key is optional.
        let bare = GOOD
            .split(",\n  \"wheels\"")
            .next()
            .expect("head")
            .to_owned()
            + "}";
        assert!(parse(&bare).expect("parsed").wheels.is_empty());
        // Nor are the licences, for reading; a bundle refuses a runtime without them.
        let older = GOOD.replace(
            "\"licenses\": [\"licenses/nvidia-cuda-runtime.txt\", \"licenses/nvidia-cublas.txt\"],",
            "",
        );
        assert_ne!(older, GOOD);
        assert!(parse(&older).expect("parsed").licenses.is_empty());
    }

    #[test]
    fn tensorrt_is_described_with_its_version() {
        let text = GOOD.replace("\"cuda\",", "\"tensorrt\",").replace(
            "\"wheels\": [",
            "\"wheels\": [{\"name\": \"tensorrt-cu13-libs\", \"version\": \"10.16.1.11\", \
             \"file\": \"t.whl\", \"sha256\": \"ab\"}, ",
        );
        let m = parse(&text).expect("parsed");
        assert_eq!(
            m.describe(),
            "CUDA 13.0 and TensorRT 10.16.1.11 libraries (NVIDIA driver 580 or newer)"
        );
    }

    #[test]
    fn bad_descriptions_are_refused_naming_the_file_and_the_fault() {
        let cases = [
            ("{ not json", "key must be a string"),
            (
                &GOOD.replace("\"cuda\": \"13.0\",", ""),
                "missing field `cuda`",
            ),
            (
                &GOOD.replace("\"driver\": \"580\",", ""),
                "missing field `driver`",
            ),
            (&GOOD.replace("\"format\": 1", "\"format\": 2"), "format 2"),
            (
                &GOOD.replace("\"flavour\": \"cuda\"", "\"flavour\": \"rocm\""),
                "rocm",
            ),
            (&GOOD.replace("\"13.0\"", "\"thirteen\""), "\"thirteen\""),
            (
                &GOOD.replace("\"580\"", "\"580 or newer\""),
                "driver branch",
            ),
            (
                &GOOD.replace("\"libcublas.so.13\"]", "\"../libcublas.so.13\"]"),
                "not a file name",
            ),
            (
                &GOOD.replace("\"libcublas.so.13\"]", "\"libcudart.so.13\"]"),
                "appears twice",
            ),
            (
                &GOOD.replace("licenses/nvidia-cublas.txt", "../nvidia-cublas.txt"),
                "not a path inside the folder",
            ),
            (
                &GOOD.replace("licenses/nvidia-cublas.txt", "/licenses/nvidia-cublas.txt"),
                "not a path inside the folder",
            ),
            (
                &GOOD.replace(
                    "licenses/nvidia-cublas.txt",
                    "other/nvidia-cuda-runtime.txt",
                ),
                "the file name of another one",
            ),
            (
                r#"{"format": 1, "flavour": "cuda", "onnxruntime": "1.31.1", "cuda": "13.0",
                    "driver": "580", "preload": []}"#,
                "names no library",
            ),
            ("[1, 2]", "invalid type"),
        ];
        for (text, why) in cases {
            let e = error(text);
            assert!(e.contains("/x/gpu-runtime.json"), "{e}");
            assert!(e.contains(why), "expected {why:?} in: {e}");
        }
    }

    #[test]
    fn an_unreadable_description_names_its_path() {
        let e = GpuManifest::read(Path::new("/no/such/folder/gpu-runtime.json"))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("/no/such/folder/gpu-runtime.json"), "{e}");
    }

    #[test]
    fn flavours_parse_and_name_themselves() {
        for f in Flavour::ALL {
            assert_eq!(Flavour::parse(f.name()).expect("parsed"), f);
            assert!(
                f.provider_libraries()
                    .contains(&"libonnxruntime_providers_cuda.so")
            );
        }
        assert!(
            Flavour::TensorRt
                .provider_libraries()
                .contains(&"libonnxruntime_providers_tensorrt.so")
        );
        assert_eq!(Flavour::Cuda.out_dir_name(), "bundle-cuda");
        let e = Flavour::parse("rocm").expect_err("refused").to_string();
        assert!(e.contains("rocm") && e.contains("cuda or tensorrt"), "{e}");
    }
}
