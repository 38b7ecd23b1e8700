//! Builds `Promptreel.ofx.bundle` and installs it.
//!
//! Layout (OpenFX bundle convention):
//! ```text
//! Promptreel.ofx.bundle/Contents/
//!   Info.plist
//!   Resources/org.promptreel.TextToVideo.png, .svg   the icon
//!   Resources/models/default/                          the bundled model package
//!   Resources/licenses/onnxruntime/                    ONNX Runtime's licence and notices
//!   Resources/licenses/fonts/DejaVuSans-LICENSE.txt    the licence of the font the plugin embeds
//!   Linux-x86-64/Promptreel.ofx                        the plugin (MacOS/ or Win64/ elsewhere)
//!   Linux-x86-64/libonnxruntime.so                     ONNX Runtime, loaded by absolute path
//! ```
//! The plugin finds the runtime and the model relative to its own binary. ONNX Runtime's
//! `LICENSE` and `ThirdPartyNotices.txt` ([`ORT_LICENSE_FILES`]) are taken from next to its
//! library, where `tools/fetch_onnxruntime.sh` leaves them; without them no bundle is made.
//!
//! A GPU flavour ([`assemble_gpu`], Linux x86-64) ships ONNX Runtime's GPU build instead, and
//! next to it, flat in the same folder, its provider libraries
//! (`libonnxruntime_providers_shared.so`, `..._cuda.so`, for TensorRT `..._tensorrt.so`), the
//! NVIDIA libraries they need and [`GPU_RUNTIME_FILE`], which lists those in load order (see
//! [`gpu`]). The NVIDIA wheels' licences, which that file lists too, go to
//! `Resources/licenses/nvidia/<package>.txt` (`nvidia-cublas.txt`, ...).
//!
//! On Linux the plugin ships without its debug information, which is most of its size: that goes
//! to `Promptreel.ofx.debug/Promptreel.ofx.debug` next to the bundle (see [`DEBUG_DIR_NAME`]),
//! for symbolising crash reports, and the binary names it in a `.gnu_debuglink` section.

pub mod gpu;
mod icon;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use gpu::{AssembledGpu, Flavour, GPU_RUNTIME_FILE, GpuManifest, GpuRuntime};

/// The bundle's folder name.
pub const BUNDLE_NAME: &str = "Promptreel.ofx.bundle";
/// The plugin identifier, which names the icon files.
pub const IDENTIFIER: &str = "org.promptreel.TextToVideo";
/// The plugin binary's name inside the platform folder (the bundle's name without `.bundle`).
pub const BINARY_NAME: &str = "Promptreel.ofx";
/// The folder next to the bundle that holds the plugin's separate debug information, as
/// `<BINARY_NAME>.debug`. It is never installed.
pub const DEBUG_DIR_NAME: &str = "Promptreel.ofx.debug";
/// The folder in `Contents/Resources/` that holds the licences of what the bundle
/// redistributes: `onnxruntime/` ([`ORT_LICENSE_FILES`]) and, in a GPU flavour, `nvidia/`.
pub const LICENSES_DIR: &str = "licenses";
/// ONNX Runtime's licence files, found next to its library and shipped in
/// `Contents/Resources/licenses/onnxruntime/`.
pub const ORT_LICENSE_FILES: [&str; 2] = ["LICENSE", "ThirdPartyNotices.txt"];

/// Where the licence of the font the plugin embeds (DejaVu Sans, drawn on the slate of a frame
/// not generated yet) ships, under [`LICENSES_DIR`].
pub const FONT_LICENSE_FILE: &str = "fonts/DejaVuSans-LICENSE.txt";
/// That licence's text, from beside the font in the plugin's sources.
const FONT_LICENSE: &str = include_str!("../../plugin/assets/DejaVuSans-LICENSE.txt");

/// A bundling error: what failed, on which path.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds the failing step and path to an I/O error.
trait Context<T> {
    fn context(self, what: &str, path: &Path) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn context(self, what: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error(format!("could not {what} {}: {e}", path.display())))
    }
}

/// The platform folder inside `Contents/` and the file names there.
pub struct Platform {
    pub dir: &'static str,
    /// The cdylib cargo builds.
    pub cdylib: &'static str,
    /// The ONNX Runtime library name the engine looks for next to the plugin.
    pub ort: &'static str,
}

/// The layout for the platform this runs on.
pub fn platform() -> Platform {
    if cfg!(target_os = "windows") {
        Platform {
            dir: "Win64",
            cdylib: "promptreel_ofx.dll",
            ort: "onnxruntime.dll",
        }
    } else if cfg!(target_os = "macos") {
        Platform {
            dir: "MacOS",
            cdylib: "libpromptreel_ofx.dylib",
            ort: "libonnxruntime.dylib",
        }
    } else if cfg!(target_arch = "aarch64") {
        Platform {
            dir: "Linux-arm-64",
            cdylib: "libpromptreel_ofx.so",
            ort: "libonnxruntime.so",
        }
    } else {
        Platform {
            dir: "Linux-x86-64",
            cdylib: "libpromptreel_ofx.so",
            ort: "libonnxruntime.so",
        }
    }
}

/// What goes into a bundle.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The built plugin cdylib.
    pub plugin: PathBuf,
    /// The ONNX Runtime library.
    pub ort_library: PathBuf,
    /// The default model package folder.
    pub model: PathBuf,
    /// Where to create `Promptreel.ofx.bundle` (and [`DEBUG_DIR_NAME`]).
    pub out_dir: PathBuf,
    /// Ship the plugin without its debug information, which goes to [`DEBUG_DIR_NAME`] instead
    /// (ELF platforms; elsewhere the build keeps it out of the binary already). `false` ships
    /// the binary as built, for debugging the plugin inside a host.
    pub split_debug_info: bool,
}

/// What [`assemble`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// The plugin binary inside it.
    pub binary: PathBuf,
    /// The plugin's debug information, outside the bundle; `None` when none was split off.
    pub debug_file: Option<PathBuf>,
    /// Why the debug information stayed in the binary although splitting was asked for
    /// (`objcopy` missing or failing); the bundle is complete all the same.
    pub warning: Option<String>,
    /// The GPU runtime inside, for a GPU flavour.
    pub gpu: Option<AssembledGpu>,
    /// The licence files inside ([`LICENSES_DIR`]): ONNX Runtime's, the embedded font's
    /// ([`FONT_LICENSE_FILE`]), then the NVIDIA libraries'.
    pub licenses: Vec<PathBuf>,
}

/// Checks that the binary exports the OFX entry point (a build without it would load in no host).
pub fn check_exports(plugin: &Path) -> Result<()> {
    let bytes = fs::read(plugin).context("read", plugin)?;
    let found = bytes
        .windows(b"OfxGetPlugin\0".len())
        .any(|w| w == b"OfxGetPlugin\0");
    if !found {
        return Err(Error(format!(
            "{} does not export OfxGetPlugin; it is not an OFX plugin build",
            plugin.display()
        )));
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).context("create", to)?;
    for entry in fs::read_dir(from).context("list", from)? {
        let entry = entry.context("list", from)?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).context("copy", &src)?;
        }
    }
    Ok(())
}

/// The Info.plist every OFX bundle carries.
fn info_plist(binary: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleDevelopmentRegion</key><string>English</string>
  <key>CFBundleExecutable</key><string>{binary}</string>
  <key>CFBundleIdentifier</key><string>{IDENTIFIER}</string>
  <key>CFBundleInfoDictionaryVersion</key><string>6.0</string>
  <key>CFBundleName</key><string>Promptreel</string>
  <key>CFBundlePackageType</key><string>BNDL</string>
  <key>CFBundleShortVersionString</key><string>{version}</string>
  <key>CFBundleVersion</key><string>{version}</string>
</dict>
</plist>
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

/// The `objcopy` to run: `$OBJCOPY`, else the one on the `PATH`.
fn objcopy_program() -> OsString {
    std::env::var_os("OBJCOPY").unwrap_or_else(|| "objcopy".into())
}

/// Runs one `objcopy` command; the error says what failed.
fn run_objcopy(mut cmd: Command) -> std::result::Result<(), String> {
    let output = cmd
        .output()
        .map_err(|e| format!("could not run {:?}: {e}", cmd.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Writes `plugin`'s debug information to `debug_file` and a copy of `plugin` without it, but
/// with a `.gnu_debuglink` naming `debug_file`, to `stripped`. The symbol table stays, so
/// backtraces still name functions.
fn split_debug_info(
    objcopy: &OsStr,
    plugin: &Path,
    stripped: &Path,
    debug_file: &Path,
) -> std::result::Result<(), String> {
    let mut keep = Command::new(objcopy);
    keep.arg("--only-keep-debug").arg(plugin).arg(debug_file);
    run_objcopy(keep)?;
    let mut strip = Command::new(objcopy);
    // NOTE: the link records the debug file's name and CRC; the name is final already, so
    // renaming its folder into place later does not break it.
    strip
        .arg("--strip-debug")
        .arg(format!("--add-gnu-debuglink={}", debug_file.display()))
        .arg(plugin)
        .arg(stripped);
    run_objcopy(strip)
}

/// Assembles the bundle into `inputs.out_dir`, replacing an older one (and its debug
/// information), and says what it made. It is built in a temporary folder next to the target
/// and renamed into place, so a host scanning plugins never sees half a bundle.
pub fn assemble(inputs: &Inputs) -> Result<Assembled> {
    assemble_with(inputs, None, &objcopy_program())
}

/// [`assemble`] for a GPU flavour: `inputs.ort_library` is ONNX Runtime's GPU build, and `gpu`
/// is copied next to it, after checking that every library its [`GPU_RUNTIME_FILE`] lists is
/// there (the error names the first one missing).
pub fn assemble_gpu(inputs: &Inputs, gpu: &GpuRuntime) -> Result<Assembled> {
    assemble_with(inputs, Some(gpu), &objcopy_program())
}

/// [`assemble`], with a GPU runtime or not, splitting debug information with the program
/// `objcopy`.
fn assemble_with(inputs: &Inputs, gpu: Option<&GpuRuntime>, objcopy: &OsStr) -> Result<Assembled> {
    let p = platform();
    check_exports(&inputs.plugin)?;
    if !inputs.ort_library.is_file() {
        return Err(Error(format!(
            "ONNX Runtime library {} is missing; run `bash tools/fetch_onnxruntime.sh`",
            inputs.ort_library.display()
        )));
    }
    // NOTE: a bundle that redistributes ONNX Runtime without its licence is not made at all.
    let ort_dir = inputs.ort_library.parent().unwrap_or(Path::new(""));
    for name in ORT_LICENSE_FILES {
        let path = ort_dir.join(name);
        if !path.is_file() {
            let fetch = if gpu.is_some() {
                "bash tools/fetch_onnxruntime.sh --gpu cuda"
            } else {
                "bash tools/fetch_onnxruntime.sh"
            };
            return Err(Error(format!(
                "{} is missing: ONNX Runtime's licence files must lie next to {} to ship in the \
                 bundle; run `{fetch}` again",
                path.display(),
                inputs.ort_library.display()
            )));
        }
    }
    if !inputs.model.join("promptreel.json").is_file() {
        return Err(Error(format!(
            "{} is not a model package (no promptreel.json)",
            inputs.model.display()
        )));
    }
    let gpu = match gpu {
        Some(g) => Some((g, g.check(&[BINARY_NAME, p.ort])?)),
        None => None,
    };
    fs::create_dir_all(&inputs.out_dir).context("create", &inputs.out_dir)?;
    let final_path = inputs.out_dir.join(BUNDLE_NAME);
    let tmp = inputs
        .out_dir
        .join(format!(".{BUNDLE_NAME}.{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).context("remove", &tmp)?;
    }
    let contents = tmp.join("Contents");
    let bin_dir = contents.join(p.dir);
    let resources = contents.join("Resources");
    fs::create_dir_all(&bin_dir).context("create", &bin_dir)?;
    fs::create_dir_all(&resources).context("create", &resources)?;

    fs::write(contents.join("Info.plist"), info_plist(BINARY_NAME))
        .context("write", &contents.join("Info.plist"))?;
    let final_debug_dir = inputs.out_dir.join(DEBUG_DIR_NAME);
    let tmp_debug_dir = inputs
        .out_dir
        .join(format!(".{DEBUG_DIR_NAME}.{}", std::process::id()));
    let debug_name = format!("{BINARY_NAME}.debug");
    let mut warning = None;
    let mut split = false;
    if inputs.split_debug_info && cfg!(target_os = "linux") {
        if tmp_debug_dir.exists() {
            fs::remove_dir_all(&tmp_debug_dir).context("remove", &tmp_debug_dir)?;
        }
        fs::create_dir_all(&tmp_debug_dir).context("create", &tmp_debug_dir)?;
        match split_debug_info(
            objcopy,
            &inputs.plugin,
            &bin_dir.join(BINARY_NAME),
            &tmp_debug_dir.join(&debug_name),
        ) {
            Ok(()) => split = true,
            Err(e) => {
                // NOTE: a bundle with debug information inside works the same, only larger;
                // that is no reason to fail the build.
                warning = Some(format!(
                    "the plugin keeps its debug information (objcopy: {e}); install binutils \
                     for a smaller bundle"
                ));
                fs::remove_dir_all(&tmp_debug_dir).context("remove", &tmp_debug_dir)?;
            }
        }
    }
    if !split {
        fs::copy(&inputs.plugin, bin_dir.join(BINARY_NAME)).context("copy", &inputs.plugin)?;
    }
    fs::copy(&inputs.ort_library, bin_dir.join(p.ort)).context("copy", &inputs.ort_library)?;
    let licenses_dir = resources.join(LICENSES_DIR);
    let ort_licenses = licenses_dir.join("onnxruntime");
    fs::create_dir_all(&ort_licenses).context("create", &ort_licenses)?;
    let mut licenses = Vec::new();
    for name in ORT_LICENSE_FILES {
        let src = ort_dir.join(name);
        let dst = ort_licenses.join(name);
        fs::copy(&src, &dst).context("copy", &src)?;
        licenses.push(dst);
    }
    let font_license = licenses_dir.join(FONT_LICENSE_FILE);
    if let Some(dir) = font_license.parent() {
        fs::create_dir_all(dir).context("create", dir)?;
    }
    fs::write(&font_license, FONT_LICENSE).context("write", &font_license)?;
    licenses.push(font_license);
    // The paths as they will be once the bundle is in place.
    let moved = |v: Vec<PathBuf>| -> Vec<PathBuf> {
        v.iter()
            .map(|f| final_path.join(f.strip_prefix(&tmp).unwrap_or(f)))
            .collect()
    };
    let gpu = match gpu {
        Some((g, manifest)) => {
            let copied = gpu::copy_runtime(g, &manifest, &bin_dir, &licenses_dir.join("nvidia"));
            let copied = copied.inspect_err(|_| {
                // NOTE: gigabytes of half-copied libraries (a full disk) are not left behind.
                let _ = fs::remove_dir_all(&tmp);
                let _ = fs::remove_dir_all(&tmp_debug_dir);
            })?;
            licenses.extend(copied.licenses);
            Some(AssembledGpu {
                flavour: g.flavour,
                manifest,
                providers: moved(copied.providers),
                libraries: moved(copied.libraries),
            })
        }
        None => None,
    };
    let licenses = moved(licenses);
    let png = resources.join(format!("{IDENTIFIER}.png"));
    fs::write(&png, icon::png(256)).context("write", &png)?;
    let svg = resources.join(format!("{IDENTIFIER}.svg"));
    fs::write(&svg, icon::SVG).context("write", &svg)?;
    copy_dir(&inputs.model, &resources.join("models").join("default"))?;

    if final_path.exists() {
        fs::remove_dir_all(&final_path).context("remove the old bundle", &final_path)?;
    }
    fs::rename(&tmp, &final_path).context("move the bundle into place at", &final_path)?;
    // An older build's debug information would not match this binary: replace it, or drop it.
    if final_debug_dir.exists() {
        fs::remove_dir_all(&final_debug_dir)
            .context("remove the old debug information", &final_debug_dir)?;
    }
    let debug_file = if split {
        fs::rename(&tmp_debug_dir, &final_debug_dir)
            .context("move the debug information into place at", &final_debug_dir)?;
        Some(final_debug_dir.join(&debug_name))
    } else {
        None
    };
    Ok(Assembled {
        binary: final_path.join("Contents").join(p.dir).join(BINARY_NAME),
        bundle: final_path,
        debug_file,
        warning,
        gpu,
        licenses,
    })
}

/// The total size in bytes of the files under `path` (a file's own size for a file).
pub fn disk_size(path: &Path) -> Result<u64> {
    let meta = fs::symlink_metadata(path).context("read the size of", path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path).context("list", path)? {
        total += disk_size(&entry.context("list", path)?.path())?;
    }
    Ok(total)
}

/// The per-user plugin folder hosts search (`~/OFX/Plugins`).
pub fn default_install_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(|h| PathBuf::from(h).join("OFX").join("Plugins"))
}

/// Copies the bundle into `dir` (replacing an installed one) and returns the installed path.
pub fn install(bundle: &Path, dir: &Path) -> Result<PathBuf> {
    if !bundle.join("Contents").is_dir() {
        return Err(Error(format!(
            "{} is not a built bundle; build it first",
            bundle.display()
        )));
    }
    fs::create_dir_all(dir).context("create", dir)?;
    let target = dir.join(BUNDLE_NAME);
    let tmp = dir.join(format!(".{BUNDLE_NAME}.installing.{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).context("remove", &tmp)?;
    }
    copy_dir(bundle, &tmp)?;
    if target.exists() {
        fs::remove_dir_all(&target).context("remove the installed bundle", &target)?;
    }
    fs::rename(&tmp, &target).context("move the bundle into place at", &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder under the system temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("promptreel-bundle-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create a scratch folder");
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes stand-in ONNX Runtime licence files into `dir`, their text naming `what`.
    fn fake_ort_licenses(dir: &Path, what: &str) {
        for name in ORT_LICENSE_FILES {
            fs::write(dir.join(name), format!("{what} {name}")).expect("write");
        }
    }

    /// Inputs made of stand-in files: a "plugin" that only names the entry point, a "runtime"
    /// with its licence files and a one-file model package.
    fn fake_inputs(dir: &Path) -> Inputs {
        let plugin = dir.join("libpromptreel_ofx.so");
        fs::write(&plugin, b"not ELF, but it names OfxGetPlugin\0").expect("write");
        let ort_library = dir.join("libonnxruntime.so");
        fs::write(&ort_library, b"runtime").expect("write");
        fake_ort_licenses(dir, "cpu");
        let model = dir.join("model");
        fs::create_dir_all(&model).expect("create");
        fs::write(model.join("promptreel.json"), b"{}").expect("write");
        Inputs {
            plugin,
            ort_library,
            model,
            out_dir: dir.join("out"),
            split_debug_info: true,
        }
    }

    #[test]
    fn without_objcopy_the_binary_ships_as_built_with_a_warning() {
        let scratch = Scratch::new("no-objcopy");
        let inputs = fake_inputs(&scratch.0);
        let stale = inputs.out_dir.join(DEBUG_DIR_NAME);
        fs::create_dir_all(&stale).expect("plant old debug information");
        let missing = scratch.0.join("no-such-objcopy");
        let made =
            assemble_with(&inputs, None, missing.as_os_str()).expect("assembled all the same");
        assert_eq!(made.debug_file, None);
        let warning = made.warning.expect("a warning");
        assert!(warning.contains("no-such-objcopy"), "{warning}");
        assert_eq!(
            fs::read(&made.binary).expect("the bundled binary"),
            fs::read(&inputs.plugin).expect("the plugin")
        );
        assert!(
            !stale.exists(),
            "debug information of another build was kept"
        );
        let mut names: Vec<_> = fs::read_dir(&inputs.out_dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(names, [BUNDLE_NAME], "temporary folders left behind");
    }

    #[test]
    fn a_failing_objcopy_is_reported_with_its_message() {
        if Command::new(objcopy_program())
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("no objcopy here; skipped");
            return;
        }
        let scratch = Scratch::new("bad-elf");
        let inputs = fake_inputs(&scratch.0);
        let err = split_debug_info(
            &objcopy_program(),
            &inputs.plugin,
            &scratch.0.join("stripped"),
            &scratch.0.join("debug"),
        )
        .expect_err("objcopy refuses a file that is not ELF");
        assert!(err.contains("--only-keep-debug"), "{err}");
        let made = assemble(&inputs).expect("assembled all the same");
        assert!(made.warning.is_some() && made.debug_file.is_none());
    }

    /// The preload list of the stand-in CUDA runtime.
    const FAKE_PRELOAD: [&str; 4] = [
        "libcudart.so.13",
        "libcublasLt.so.13",
        "libcublas.so.13",
        "libcudnn.so.9",
    ];

    /// The packages of the stand-in CUDA runtime's licences (`licenses/<package>.txt`).
    const FAKE_LICENSED: [&str; 2] = ["nvidia-cuda-runtime", "nvidia-cudnn-cu13"];

    /// A stand-in GPU runtime: ONNX Runtime's "GPU build", its licence files and provider
    /// libraries in `ort/`, and tiny "NVIDIA libraries" with their licences and description in
    /// `libs/`. Points `inputs` at the GPU build of ONNX Runtime.
    fn fake_gpu(dir: &Path, inputs: &mut Inputs, flavour: Flavour) -> GpuRuntime {
        let ort = dir.join("ort");
        fs::create_dir_all(&ort).expect("create");
        inputs.ort_library = ort.join("libonnxruntime.so");
        fs::write(&inputs.ort_library, b"gpu runtime").expect("write");
        fake_ort_licenses(&ort, "gpu");
        for name in flavour.provider_libraries() {
            fs::write(ort.join(name), format!("provider {name}")).expect("write");
        }
        let libs = dir.join("libs");
        fs::create_dir_all(&libs).expect("create");
        for name in FAKE_PRELOAD {
            fs::write(libs.join(name), format!("library {name}")).expect("write");
        }
        fs::create_dir_all(libs.join("licenses")).expect("create");
        for package in FAKE_LICENSED {
            fs::write(
                libs.join(format!("licenses/{package}.txt")),
                format!("licence of {package}"),
            )
            .expect("write");
        }
        let preload = FAKE_PRELOAD.map(|n| format!("{n:?}")).join(", ");
        let licenses = FAKE_LICENSED
            .map(|p| format!("\"licenses/{p}.txt\""))
            .join(", ");
        fs::write(
            libs.join(GPU_RUNTIME_FILE),
            format!(
                r#"{{"format": 1, "flavour": "{flavour}", "onnxruntime": "1.31.1",
                    "cuda": "13.0", "driver": "580", "preload": [{preload}],
                    "licenses": [{licenses}]}}"#
            ),
        )
        .expect("write");
        GpuRuntime::fetched(flavour, &libs, &ort)
    }

    /// The names in the bundle's platform folder, sorted.
    fn platform_folder(made: &Assembled) -> Vec<String> {
        let dir = made.binary.parent().expect("the platform folder");
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The files under the bundle's `Contents/Resources/licenses/` (`onnxruntime/LICENSE`, ...)
    /// with their text, sorted.
    fn bundled_licenses(made: &Assembled) -> Vec<(String, String)> {
        let root = made.bundle.join("Contents/Resources").join(LICENSES_DIR);
        let mut found = Vec::new();
        for folder in fs::read_dir(&root).expect("list the licences") {
            let folder = folder.expect("entry").path();
            for file in fs::read_dir(&folder).expect("list") {
                let file = file.expect("entry").path();
                let name = file.strip_prefix(&root).expect("inside");
                found.push((
                    name.to_string_lossy().into_owned(),
                    fs::read_to_string(&file).expect("read"),
                ));
            }
        }
        found.sort();
        found
    }

    /// `(path under licenses/, text)` of the stand-in ONNX Runtime licence files of `what`,
    /// and of the embedded font's licence.
    fn expected_ort_licenses(what: &str) -> Vec<(String, String)> {
        let mut expected: Vec<(String, String)> = ORT_LICENSE_FILES
            .iter()
            .map(|n| (format!("onnxruntime/{n}"), format!("{what} {n}")))
            .collect();
        expected.push((FONT_LICENSE_FILE.to_string(), FONT_LICENSE.to_string()));
        expected.sort();
        expected
    }

    #[test]
    fn a_gpu_bundle_has_its_runtime_next_to_the_plugin() {
        for flavour in Flavour::ALL {
            let scratch = Scratch::new(&format!("gpu-{flavour}"));
            let mut inputs = fake_inputs(&scratch.0);
            inputs.split_debug_info = false;
            let gpu = fake_gpu(&scratch.0, &mut inputs, flavour);
            let made =
                assemble_with(&inputs, Some(&gpu), OsStr::new("objcopy")).expect("assembled");
            let bin_dir = made
                .binary
                .parent()
                .expect("the platform folder")
                .to_path_buf();

            let mut expected: Vec<String> = [BINARY_NAME, platform().ort, GPU_RUNTIME_FILE]
                .into_iter()
                .chain(FAKE_PRELOAD)
                .chain(flavour.provider_libraries().iter().copied())
                .map(String::from)
                .collect();
            expected.sort();
            assert_eq!(platform_folder(&made), expected, "{flavour}");
            assert_eq!(
                fs::read(bin_dir.join(platform().ort)).expect("read"),
                b"gpu runtime",
                "the bundle's ONNX Runtime is not the GPU build"
            );
            for name in FAKE_PRELOAD.iter().chain(flavour.provider_libraries()) {
                assert_eq!(
                    fs::read_to_string(bin_dir.join(name)).expect("read"),
                    fs::read_to_string(
                        if name.starts_with("libonnxruntime") {
                            scratch.0.join("ort")
                        } else {
                            scratch.0.join("libs")
                        }
                        .join(name)
                    )
                    .expect("read"),
                    "{name}"
                );
            }
            assert_eq!(
                fs::read(bin_dir.join(GPU_RUNTIME_FILE)).expect("read"),
                fs::read(scratch.0.join("libs").join(GPU_RUNTIME_FILE)).expect("read"),
            );

            let inside = made.gpu.as_ref().expect("the GPU runtime");
            assert_eq!(inside.flavour, flavour);
            assert_eq!(inside.manifest.flavour, flavour.name());
            let order: Vec<_> = inside
                .libraries
                .iter()
                .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
                .collect();
            assert_eq!(order, FAKE_PRELOAD, "the libraries in load order");
            for path in inside.libraries.iter().chain(&inside.providers) {
                assert!(
                    path.starts_with(&made.bundle) && path.is_file(),
                    "{}",
                    path.display()
                );
            }
            let mut licenses = expected_ort_licenses("gpu");
            licenses.extend(
                FAKE_LICENSED.map(|p| (format!("nvidia/{p}.txt"), format!("licence of {p}"))),
            );
            licenses.sort();
            assert_eq!(bundled_licenses(&made), licenses, "{flavour}");
            let mut listed: Vec<_> = made
                .licenses
                .iter()
                .map(|p| {
                    assert!(p.is_file(), "{}", p.display());
                    p.strip_prefix(made.bundle.join("Contents/Resources/licenses"))
                        .expect("in the bundle's licences")
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            listed.sort();
            assert_eq!(
                listed,
                licenses.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
            );

            let mut names: Vec<_> = fs::read_dir(&inputs.out_dir)
                .expect("list")
                .map(|e| e.expect("entry").file_name())
                .collect();
            names.sort();
            assert_eq!(names, [BUNDLE_NAME], "temporary folders left behind");
        }
    }

    #[test]
    fn the_cpu_bundle_carries_no_gpu_runtime() {
        let scratch = Scratch::new("cpu-flavour");
        let mut inputs = fake_inputs(&scratch.0);
        inputs.split_debug_info = false;
        let made = assemble(&inputs).expect("assembled");
        assert_eq!(made.gpu, None);
        let mut expected = vec![BINARY_NAME.to_string(), platform().ort.to_string()];
        expected.sort();
        assert_eq!(platform_folder(&made), expected);
        assert_eq!(
            fs::read(made.binary.with_file_name(platform().ort)).expect("read"),
            b"runtime"
        );
        assert_eq!(bundled_licenses(&made), expected_ort_licenses("cpu"));
        let licenses = made.bundle.join("Contents/Resources/licenses");
        let mut listed: Vec<PathBuf> = ORT_LICENSE_FILES
            .map(|n| licenses.join("onnxruntime").join(n))
            .to_vec();
        listed.push(licenses.join(FONT_LICENSE_FILE));
        assert_eq!(made.licenses, listed);
        assert!(
            FONT_LICENSE.contains("Bitstream Vera") && FONT_LICENSE.contains("DejaVu"),
            "the font's licence text"
        );
    }

    #[test]
    fn a_runtime_without_its_licence_files_is_refused_naming_the_missing_one() {
        for name in ORT_LICENSE_FILES {
            let scratch = Scratch::new(&format!("no-ort-licence-{name}"));
            let inputs = fake_inputs(&scratch.0);
            let missing = scratch.0.join(name);
            fs::remove_file(&missing).expect("remove");
            let e = assemble(&inputs).expect_err("refused").to_string();
            assert!(e.contains(&missing.display().to_string()), "{e}");
            assert!(
                e.contains("run `bash tools/fetch_onnxruntime.sh` again"),
                "{e}"
            );
            assert!(
                !inputs.out_dir.exists(),
                "nothing is made without the licence"
            );

            // The GPU build's, likewise, pointing at the GPU fetch.
            let mut inputs = fake_inputs(&scratch.0);
            let gpu = fake_gpu(&scratch.0, &mut inputs, Flavour::Cuda);
            let missing = scratch.0.join("ort").join(name);
            fs::remove_file(&missing).expect("remove");
            let e = assemble_gpu(&inputs, &gpu)
                .expect_err("refused")
                .to_string();
            assert!(e.contains(&missing.display().to_string()), "{e}");
            assert!(
                e.contains("run `bash tools/fetch_onnxruntime.sh --gpu cuda` again"),
                "{e}"
            );
            assert!(
                !inputs.out_dir.exists(),
                "nothing is made without the licence"
            );
        }
    }

    #[test]
    fn a_gpu_runtime_without_its_licences_is_refused() {
        let scratch = Scratch::new("gpu-no-licence");
        let mut inputs = fake_inputs(&scratch.0);
        let gpu = fake_gpu(&scratch.0, &mut inputs, Flavour::Cuda);
        let json = gpu.dir.join(GPU_RUNTIME_FILE);

        fs::remove_file(gpu.dir.join("licenses/nvidia-cudnn-cu13.txt")).expect("remove");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("licenses/nvidia-cudnn-cu13.txt") && e.contains(GPU_RUNTIME_FILE),
            "{e}"
        );
        assert!(e.contains("tools/fetch_cuda_libraries.sh cuda"), "{e}");

        // A description made before the licences were collected.
        let text = fs::read_to_string(&json).expect("read");
        let start = text
            .find(",\n                    \"licenses\"")
            .expect("the list");
        fs::write(&json, format!("{}}}", &text[..start])).expect("write");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains(&json.display().to_string()) && e.contains("no licence files"),
            "{e}"
        );
        assert!(e.contains("tools/fetch_cuda_libraries.sh cuda"), "{e}");
        assert!(
            !inputs.out_dir.exists(),
            "nothing is made of a refused runtime"
        );
    }

    #[test]
    fn a_missing_preload_library_is_refused_by_name() {
        let scratch = Scratch::new("gpu-missing");
        let mut inputs = fake_inputs(&scratch.0);
        let gpu = fake_gpu(&scratch.0, &mut inputs, Flavour::Cuda);
        fs::remove_file(gpu.dir.join("libcublasLt.so.13")).expect("remove");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("libcublasLt.so.13") && e.contains(GPU_RUNTIME_FILE),
            "{e}"
        );
        assert!(e.contains("tools/fetch_cuda_libraries.sh cuda"), "{e}");
        assert!(
            !inputs.out_dir.exists(),
            "nothing is made of a refused runtime"
        );
    }

    #[test]
    fn a_missing_provider_library_is_refused_by_name() {
        let scratch = Scratch::new("gpu-no-provider");
        let mut inputs = fake_inputs(&scratch.0);
        let gpu = fake_gpu(&scratch.0, &mut inputs, Flavour::TensorRt);
        fs::remove_file(scratch.0.join("ort/libonnxruntime_providers_tensorrt.so"))
            .expect("remove");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("libonnxruntime_providers_tensorrt.so"), "{e}");
        assert!(e.contains("fetch_onnxruntime.sh --gpu cuda"), "{e}");
    }

    #[test]
    fn a_bad_or_foreign_description_is_refused_naming_the_file() {
        let scratch = Scratch::new("gpu-bad-json");
        let mut inputs = fake_inputs(&scratch.0);
        let gpu = fake_gpu(&scratch.0, &mut inputs, Flavour::Cuda);
        let json = gpu.dir.join(GPU_RUNTIME_FILE);
        let good = fs::read_to_string(&json).expect("read");

        fs::write(&json, good.replace("\"driver\": \"580\",", "")).expect("write");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains(&json.display().to_string()) && e.contains("driver"),
            "{e}"
        );

        fs::write(&json, "{\"format\": 1,").expect("write");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(e.contains(&json.display().to_string()), "{e}");

        // The TensorRT runtime's description where the CUDA one is expected.
        fs::write(
            &json,
            good.replace("\"cuda\", \"onnx", "\"tensorrt\", \"onnx"),
        )
        .expect("write");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("tensorrt runtime, not the cuda one"), "{e}");

        // A library named like a file the bundle has already.
        fs::write(gpu.dir.join(platform().ort), b"x").expect("write");
        fs::write(
            &json,
            good.replace("\"libcudnn.so.9\"", &format!("{:?}", platform().ort)),
        )
        .expect("write");
        let e = assemble_gpu(&inputs, &gpu)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("used twice"), "{e}");
        assert!(
            !inputs.out_dir.exists(),
            "nothing is made of a refused runtime"
        );
    }

    #[test]
    fn sizes_add_up_over_folders() {
        let scratch = Scratch::new("sizes");
        fs::create_dir_all(scratch.0.join("a/b")).expect("create");
        fs::write(scratch.0.join("one"), [0u8; 10]).expect("write");
        fs::write(scratch.0.join("a/two"), [0u8; 200]).expect("write");
        fs::write(scratch.0.join("a/b/three"), [0u8; 3000]).expect("write");
        assert_eq!(disk_size(&scratch.0).expect("size"), 3210);
        assert_eq!(disk_size(&scratch.0.join("a/two")).expect("size"), 200);
    }
}
