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
//! The layout follows a [`Target`]: by default the system this tool runs on ([`platform`]), or
//! 64-bit Windows from Linux ([`Target::Windows`], the plugin cross-built with mingw-w64), where
//! the platform folder is `Win64/` and ONNX Runtime's further libraries
//! ([`Platform::runtime_libraries`]) lie flat beside it:
//! ```text
//! Promptreel.ofx.bundle/Contents/
//!   Win64/Promptreel.ofx                     the plugin, a DLL (OFX names it .ofx everywhere)
//!   Win64/onnxruntime.dll                    ONNX Runtime, loaded by absolute path
//!   Win64/onnxruntime_providers_shared.dll   shipped with it, as in the wheel
//!   Win64/DirectML.dll                       the DirectML flavour only
//!   Resources/...                            as above
//! ```
//! They come from `tools/fetch_onnxruntime.sh --platform win64 [--gpu directml]`; a folder that
//! lacks one of them makes no bundle.
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
//! for symbolising crash reports, and the binary names it in a `.gnu_debuglink` section. The
//! Windows plugin, a mingw-w64 build, carries DWARF too, and is split the same way by
//! `x86_64-w64-mingw32-objcopy` (GDB and `addr2line` follow the link).

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

/// The default Windows plugin folder, which every OFX host on Windows scans (the
/// `%CommonProgramFiles%\OFX\Plugins` of a stock 64-bit Windows).
pub const WINDOWS_INSTALL_DIR: &str = r"C:\Program Files\Common Files\OFX\Plugins";

/// Which ONNX Runtime build a Windows bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowsFlavour {
    /// The `onnxruntime` wheel's build: the CPU provider.
    Cpu,
    /// ONNX Runtime's DirectML build (from Microsoft's npm package `onnxruntime-node`, as
    /// `tools/fetch_onnxruntime.sh` explains): the DirectML provider (any Direct3D 12 GPU) and
    /// the CPU one, with `DirectML.dll` beside it.
    DirectMl,
}

impl WindowsFlavour {
    /// `directml`, as after `--gpu` (the CPU flavour has no name there: it is no `--gpu`).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "directml" => Ok(WindowsFlavour::DirectMl),
            _ => Err(Error(format!(
                "unknown Windows GPU flavour {name:?}: use directml"
            ))),
        }
    }
}

/// Which system a bundle is for. The layout ([`Platform::for_target`]), the ONNX Runtime it
/// ships and the command that fetches that ONNX Runtime ([`Target::fetch_command`]) follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The system this tool runs on, as [`platform`] describes it: Linux x86-64 or arm64 and
    /// macOS, with the ONNX Runtime `tools/fetch_onnxruntime.sh` caches for this machine; on
    /// Windows, the layout of [`Target::Windows`] with the CPU build.
    Host,
    /// 64-bit Windows, the plugin built for `x86_64-pc-windows-gnu` (on Linux, with mingw-w64),
    /// with one of ONNX Runtime's Windows builds.
    Windows(WindowsFlavour),
}

impl Target {
    /// The Rust target the plugin is cross-built for, when it is not the host.
    pub const WINDOWS_TRIPLE: &'static str = "x86_64-pc-windows-gnu";

    /// `windows` (the CPU flavour: `--gpu directml` picks the other), or `linux` or `host` for
    /// the system this runs on, as after `--target`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "windows" => Ok(Target::Windows(WindowsFlavour::Cpu)),
            "linux" | "host" => Ok(Target::Host),
            _ => Err(Error(format!(
                "unknown target {name:?}: use windows (or linux / host, this machine's, the \
                 default)"
            ))),
        }
    }

    /// [`Target::Host`] as the Windows target when this runs on Windows (whose layout is that
    /// target's), else the target itself.
    pub fn resolved(self) -> Target {
        match self {
            Target::Host if cfg!(target_os = "windows") => Target::Windows(WindowsFlavour::Cpu),
            other => other,
        }
    }

    /// The command that caches this target's ONNX Runtime, for error messages.
    pub fn fetch_command(self) -> &'static str {
        match self.resolved() {
            Target::Host => "bash tools/fetch_onnxruntime.sh",
            Target::Windows(WindowsFlavour::Cpu) => {
                "bash tools/fetch_onnxruntime.sh --platform win64"
            }
            Target::Windows(WindowsFlavour::DirectMl) => {
                "bash tools/fetch_onnxruntime.sh --platform win64 --gpu directml"
            }
        }
    }

    /// The default output folder's name under cargo's target folder, one per target and
    /// flavour, so building one bundle never replaces another: `bundle`, `bundle-win64`,
    /// `bundle-win64-directml`.
    pub fn out_dir_name(self) -> &'static str {
        match self {
            Target::Host => "bundle",
            Target::Windows(WindowsFlavour::Cpu) => "bundle-win64",
            Target::Windows(WindowsFlavour::DirectMl) => "bundle-win64-directml",
        }
    }
}

/// The platform folder inside `Contents/` and the file names there.
pub struct Platform {
    pub dir: &'static str,
    /// The cdylib cargo builds.
    pub cdylib: &'static str,
    /// The ONNX Runtime library name the engine looks for next to the plugin.
    pub ort: &'static str,
    /// ONNX Runtime's further libraries, taken from beside [`Platform::ort`] and shipped beside
    /// it under the same names (Windows: `onnxruntime_providers_shared.dll`, and
    /// `DirectML.dll` in the DirectML flavour); a bundle is not made without every one. The GPU
    /// flavours' provider libraries are not here but in [`GpuRuntime`].
    pub runtime_libraries: &'static [&'static str],
}

impl Platform {
    /// The layout of `target`'s bundle.
    pub fn for_target(target: Target) -> Platform {
        let windows = |runtime_libraries| Platform {
            dir: "Win64",
            cdylib: "promptreel_ofx.dll",
            ort: "onnxruntime.dll",
            runtime_libraries,
        };
        match target.resolved() {
            Target::Windows(WindowsFlavour::Cpu) => windows(&["onnxruntime_providers_shared.dll"]),
            Target::Windows(WindowsFlavour::DirectMl) => {
                windows(&["onnxruntime_providers_shared.dll", "DirectML.dll"])
            }
            Target::Host if cfg!(target_os = "macos") => Platform {
                dir: "MacOS",
                cdylib: "libpromptreel_ofx.dylib",
                ort: "libonnxruntime.dylib",
                runtime_libraries: &[],
            },
            Target::Host if cfg!(target_arch = "aarch64") => Platform {
                dir: "Linux-arm-64",
                cdylib: "libpromptreel_ofx.so",
                ort: "libonnxruntime.so",
                runtime_libraries: &[],
            },
            Target::Host => Platform {
                dir: "Linux-x86-64",
                cdylib: "libpromptreel_ofx.so",
                ort: "libonnxruntime.so",
                runtime_libraries: &[],
            },
        }
    }
}

/// The layout for the platform this runs on ([`Target::Host`]).
pub fn platform() -> Platform {
    Platform::for_target(Target::Host)
}

/// What goes into a bundle. Which system it is for is [`assemble_for`]'s argument (this struct
/// stays as it was, so code that fills it in keeps compiling).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The built plugin cdylib.
    pub plugin: PathBuf,
    /// The ONNX Runtime library, with the target's [`Platform::runtime_libraries`] and
    /// [`ORT_LICENSE_FILES`] beside it.
    pub ort_library: PathBuf,
    /// The default model package folder.
    pub model: PathBuf,
    /// Where to create `Promptreel.ofx.bundle` (and [`DEBUG_DIR_NAME`]).
    pub out_dir: PathBuf,
    /// Ship the plugin without its debug information, which goes to [`DEBUG_DIR_NAME`] instead
    /// (Linux, and Windows from mingw-w64's DWARF; macOS and MSVC builds keep it out of the
    /// binary already). `false` ships the binary as built, for debugging the plugin inside a
    /// host.
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
    /// ONNX Runtime's further libraries inside, next to it ([`Platform::runtime_libraries`]:
    /// on Windows `onnxruntime_providers_shared.dll`, and `DirectML.dll`); empty elsewhere.
    pub runtime_libraries: Vec<PathBuf>,
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

/// The `objcopy` to run for `target`'s binaries: for the host `$OBJCOPY`, else the one on the
/// `PATH`; for Windows `$OBJCOPY_WIN64`, else mingw-w64's, which reads and writes PE files (the
/// host's binutils may be built for ELF only).
fn objcopy_program(target: Target) -> OsString {
    let (variable, default) = match target {
        Target::Host => ("OBJCOPY", "objcopy"),
        Target::Windows(_) => ("OBJCOPY_WIN64", "x86_64-w64-mingw32-objcopy"),
    };
    std::env::var_os(variable).unwrap_or_else(|| default.into())
}

/// Whether a bundle for `target` ships its plugin's debug information apart, when asked to: ELF
/// on Linux, and the mingw-w64 DLL of a Windows target, both DWARF that `objcopy` splits.
/// macOS (dSYM) and a Windows host's MSVC build (PDB) keep it out of the binary already.
fn splits_debug_info(target: Target) -> bool {
    match target {
        Target::Host => cfg!(target_os = "linux"),
        Target::Windows(_) => true,
    }
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

/// Assembles the bundle for the system this runs on into `inputs.out_dir`, replacing an older
/// one (and its debug information), and says what it made. It is built in a temporary folder
/// next to the target and renamed into place, so a host scanning plugins never sees half a
/// bundle.
pub fn assemble(inputs: &Inputs) -> Result<Assembled> {
    assemble_for(inputs, Target::Host)
}

/// [`assemble`] for `target`: its layout ([`Platform::for_target`]), its further ONNX Runtime
/// libraries from beside `inputs.ort_library` (the error names the first one missing and the
/// fetch command), and its `objcopy` for the debug information.
pub fn assemble_for(inputs: &Inputs, target: Target) -> Result<Assembled> {
    assemble_with(inputs, target, None, &objcopy_program(target))
}

/// [`assemble`] for a GPU flavour: `inputs.ort_library` is ONNX Runtime's GPU build, and `gpu`
/// is copied next to it, after checking that every library its [`GPU_RUNTIME_FILE`] lists is
/// there (the error names the first one missing).
pub fn assemble_gpu(inputs: &Inputs, gpu: &GpuRuntime) -> Result<Assembled> {
    assemble_with(
        inputs,
        Target::Host,
        Some(gpu),
        &objcopy_program(Target::Host),
    )
}

/// [`assemble`] for `target`, with a GPU runtime or not, splitting debug information with the
/// program `objcopy`.
fn assemble_with(
    inputs: &Inputs,
    target: Target,
    gpu: Option<&GpuRuntime>,
    objcopy: &OsStr,
) -> Result<Assembled> {
    let p = Platform::for_target(target);
    check_exports(&inputs.plugin)?;
    let fetch = if gpu.is_some() {
        "bash tools/fetch_onnxruntime.sh --gpu cuda"
    } else {
        target.fetch_command()
    };
    if !inputs.ort_library.is_file() {
        return Err(Error(format!(
            "ONNX Runtime library {} is missing; run `{fetch}`",
            inputs.ort_library.display()
        )));
    }
    let ort_dir = inputs.ort_library.parent().unwrap_or(Path::new(""));
    for name in p.runtime_libraries {
        // NOTE: checked before anything is written: a bundle without one would show it only
        // on the user's machine, when ONNX Runtime first reaches for it.
        if !ort_dir.join(name).is_file() {
            return Err(Error(format!(
                "{name} is missing from {}: ONNX Runtime needs it next to {} in the bundle; run \
                 `{fetch}`",
                ort_dir.display(),
                inputs.ort_library.display()
            )));
        }
    }
    // NOTE: a bundle that redistributes ONNX Runtime without its licence is not made at all.
    for name in ORT_LICENSE_FILES {
        let path = ort_dir.join(name);
        if !path.is_file() {
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
    if inputs.split_debug_info && splits_debug_info(target) {
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
                let install = match target {
                    Target::Host => "install binutils",
                    Target::Windows(_) => {
                        "install binutils-mingw-w64-x86-64 (or point OBJCOPY_WIN64 at mingw-w64's \
                         objcopy)"
                    }
                };
                warning = Some(format!(
                    "the plugin keeps its debug information (objcopy: {e}); {install} for a \
                     smaller bundle"
                ));
                fs::remove_dir_all(&tmp_debug_dir).context("remove", &tmp_debug_dir)?;
            }
        }
    }
    if !split {
        fs::copy(&inputs.plugin, bin_dir.join(BINARY_NAME)).context("copy", &inputs.plugin)?;
    }
    fs::copy(&inputs.ort_library, bin_dir.join(p.ort)).context("copy", &inputs.ort_library)?;
    let mut runtime_libraries = Vec::new();
    for name in p.runtime_libraries {
        let src = ort_dir.join(name);
        let dst = bin_dir.join(name);
        fs::copy(&src, &dst).context("copy", &src)?;
        runtime_libraries.push(dst);
    }
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
    let runtime_libraries = moved(runtime_libraries);
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
        runtime_libraries,
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

/// The plugin folder hosts search, for a bundle of the system this runs on: `~/OFX/Plugins`
/// on Linux and macOS (per user); on Windows `%CommonProgramFiles%\OFX\Plugins`
/// ([`WINDOWS_INSTALL_DIR`] when the variable is unset), the one folder every Windows host
/// scans, which takes an administrator to write. `None` without a home folder.
pub fn default_install_dir() -> Option<PathBuf> {
    if cfg!(target_os = "windows") {
        return Some(windows_install_dir(std::env::var_os("CommonProgramFiles")));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join("OFX").join("Plugins"))
}

/// The Windows plugin folder under `common_program_files` (`%CommonProgramFiles%`), or
/// [`WINDOWS_INSTALL_DIR`] without it.
fn windows_install_dir(common_program_files: Option<OsString>) -> PathBuf {
    match common_program_files.filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("OFX").join("Plugins"),
        None => PathBuf::from(WINDOWS_INSTALL_DIR),
    }
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
        let made = assemble_with(&inputs, Target::Host, None, missing.as_os_str())
            .expect("assembled all the same");
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
        if Command::new(objcopy_program(Target::Host))
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
            &objcopy_program(Target::Host),
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
            let made = assemble_with(&inputs, Target::Host, Some(&gpu), OsStr::new("objcopy"))
                .expect("assembled");
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

    /// Inputs for a Windows bundle of `flavour`: a stand-in plugin DLL, and ONNX Runtime's
    /// Windows build in `win64/` with its further libraries and licence files.
    fn fake_windows_inputs(dir: &Path, flavour: WindowsFlavour) -> Inputs {
        let mut inputs = fake_inputs(dir);
        inputs.plugin = dir.join("promptreel_ofx.dll");
        fs::write(&inputs.plugin, b"MZ, not PE, but it names OfxGetPlugin\0").expect("write");
        let ort = dir.join("win64");
        fs::create_dir_all(&ort).expect("create");
        inputs.ort_library = ort.join("onnxruntime.dll");
        fs::write(&inputs.ort_library, b"windows runtime").expect("write");
        fake_ort_licenses(&ort, "windows");
        for name in Platform::for_target(Target::Windows(flavour)).runtime_libraries {
            fs::write(ort.join(name), format!("library {name}")).expect("write");
        }
        inputs
    }

    const WINDOWS_FLAVOURS: [WindowsFlavour; 2] = [WindowsFlavour::Cpu, WindowsFlavour::DirectMl];

    #[test]
    fn a_windows_bundle_has_its_runtime_libraries_next_to_the_plugin() {
        for flavour in WINDOWS_FLAVOURS {
            let scratch = Scratch::new(&format!("windows-{flavour:?}"));
            let mut inputs = fake_windows_inputs(&scratch.0, flavour);
            inputs.split_debug_info = false;
            let target = Target::Windows(flavour);
            let made = assemble_for(&inputs, target).expect("assembled");

            let bin_dir = made.bundle.join("Contents/Win64");
            assert_eq!(made.binary, bin_dir.join("Promptreel.ofx"));
            let mut expected = vec![
                "Promptreel.ofx",
                "onnxruntime.dll",
                "onnxruntime_providers_shared.dll",
            ];
            if flavour == WindowsFlavour::DirectMl {
                expected.push("DirectML.dll");
            }
            expected.sort();
            assert_eq!(platform_folder(&made), expected, "{flavour:?}");
            assert_eq!(
                fs::read(&made.binary).expect("read"),
                fs::read(&inputs.plugin).expect("read"),
                "the plugin ships as built"
            );
            assert_eq!(
                fs::read(bin_dir.join("onnxruntime.dll")).expect("read"),
                b"windows runtime"
            );
            let names: Vec<_> = made
                .runtime_libraries
                .iter()
                .map(|p| {
                    assert_eq!(p.parent(), Some(bin_dir.as_path()), "{}", p.display());
                    let name = p.file_name().expect("name").to_string_lossy().into_owned();
                    assert_eq!(
                        fs::read_to_string(p).expect("read"),
                        format!("library {name}")
                    );
                    name
                })
                .collect();
            assert_eq!(
                names,
                Platform::for_target(target).runtime_libraries,
                "{flavour:?}"
            );

            assert_eq!(bundled_licenses(&made), expected_ort_licenses("windows"));
            let contents = made.bundle.join("Contents");
            let plist = fs::read_to_string(contents.join("Info.plist")).expect("Info.plist");
            assert!(
                plist.contains("<key>CFBundleExecutable</key><string>Promptreel.ofx</string>"),
                "{plist}"
            );
            for icon in [format!("{IDENTIFIER}.png"), format!("{IDENTIFIER}.svg")] {
                assert!(contents.join("Resources").join(&icon).is_file(), "{icon}");
            }
            assert!(
                contents
                    .join("Resources/models/default/promptreel.json")
                    .is_file()
            );
            assert_eq!((made.debug_file, made.gpu), (None, None));
        }
    }

    #[test]
    fn a_windows_runtime_without_a_further_library_is_refused_naming_it_and_the_fetch() {
        let cases = [
            (
                WindowsFlavour::Cpu,
                "onnxruntime_providers_shared.dll",
                "run `bash tools/fetch_onnxruntime.sh --platform win64`",
            ),
            (
                WindowsFlavour::DirectMl,
                "onnxruntime_providers_shared.dll",
                "run `bash tools/fetch_onnxruntime.sh --platform win64 --gpu directml`",
            ),
            (
                WindowsFlavour::DirectMl,
                "DirectML.dll",
                "run `bash tools/fetch_onnxruntime.sh --platform win64 --gpu directml`",
            ),
        ];
        for (flavour, missing, fetch) in cases {
            let scratch = Scratch::new(&format!("windows-no-{missing}"));
            let inputs = fake_windows_inputs(&scratch.0, flavour);
            fs::remove_file(scratch.0.join("win64").join(missing)).expect("remove");
            let e = assemble_for(&inputs, Target::Windows(flavour))
                .expect_err("refused")
                .to_string();
            assert!(e.contains(missing) && e.contains(fetch), "{e}");
            assert!(
                !inputs.out_dir.exists(),
                "nothing is made without the library"
            );
        }

        // The CPU build's folder, which has no DirectML.dll, makes no DirectML bundle.
        let scratch = Scratch::new("windows-cpu-as-directml");
        let inputs = fake_windows_inputs(&scratch.0, WindowsFlavour::Cpu);
        let e = assemble_for(&inputs, Target::Windows(WindowsFlavour::DirectMl))
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("DirectML.dll") && e.contains("--gpu directml"),
            "{e}"
        );

        // And ONNX Runtime itself, or its licence, likewise name the Windows fetch.
        fs::remove_file(scratch.0.join("win64/LICENSE")).expect("remove");
        let e = assemble_for(&inputs, Target::Windows(WindowsFlavour::Cpu))
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("LICENSE") && e.contains("fetch_onnxruntime.sh --platform win64` again"),
            "{e}"
        );
        fs::remove_file(&inputs.ort_library).expect("remove");
        let e = assemble_for(&inputs, Target::Windows(WindowsFlavour::Cpu))
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("onnxruntime.dll") && e.contains("fetch_onnxruntime.sh --platform win64`"),
            "{e}"
        );
    }

    #[test]
    fn a_windows_bundle_without_mingw_objcopy_keeps_debug_information_with_a_warning() {
        let scratch = Scratch::new("windows-no-objcopy");
        let inputs = fake_windows_inputs(&scratch.0, WindowsFlavour::Cpu);
        let missing = scratch.0.join("no-such-objcopy");
        let made = assemble_with(
            &inputs,
            Target::Windows(WindowsFlavour::Cpu),
            None,
            missing.as_os_str(),
        )
        .expect("assembled all the same");
        assert_eq!(made.debug_file, None);
        let warning = made.warning.expect("a warning");
        assert!(
            warning.contains("no-such-objcopy") && warning.contains("OBJCOPY_WIN64"),
            "{warning}"
        );
        assert_eq!(
            fs::read(&made.binary).expect("read"),
            fs::read(&inputs.plugin).expect("read")
        );
    }

    /// Whether `needle` occurs in `haystack`.
    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn mingw_objcopy_splits_a_windows_dll_like_an_elf_library() {
        // A real PE DLL with DWARF, from mingw-w64's C compiler, when it is installed.
        let scratch = Scratch::new("windows-split");
        let source = scratch.0.join("plugin.c");
        fs::write(
            &source,
            "__declspec(dllexport) int OfxGetPlugin(int n) { return n * 2; }\n\
             __declspec(dllexport) int OfxGetNumberOfPlugins(void) { return 1; }\n",
        )
        .expect("write");
        // NOTE: not the stand-in's name, which fake_windows_inputs writes below.
        let dll = scratch.0.join("built.dll");
        let built = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-g", "-O0", "-shared", "-o"])
            .arg(&dll)
            .arg(&source)
            .status();
        let objcopy = objcopy_program(Target::Windows(WindowsFlavour::Cpu));
        let have_objcopy = Command::new(&objcopy).arg("--version").output().is_ok();
        if !matches!(built, Ok(s) if s.success()) || !have_objcopy {
            eprintln!("no mingw-w64 gcc and objcopy here; skipped");
            return;
        }
        let mut inputs = fake_windows_inputs(&scratch.0, WindowsFlavour::Cpu);
        inputs.plugin = dll;
        let made = assemble_for(&inputs, Target::Windows(WindowsFlavour::Cpu)).expect("assembled");
        assert_eq!(made.warning, None);
        let debug_file = inputs
            .out_dir
            .join(DEBUG_DIR_NAME)
            .join("Promptreel.ofx.debug");
        assert_eq!(made.debug_file.as_deref(), Some(debug_file.as_path()));
        let shipped = fs::read(&made.binary).expect("read");
        let original = fs::read(&inputs.plugin).expect("read");
        let debug = fs::read(&debug_file).expect("read");
        assert!(shipped.starts_with(b"MZ"), "still a PE file");
        assert!(contains(&original, b".debug_info"));
        assert!(
            !contains(&shipped, b".debug_info"),
            "the shipped DLL keeps DWARF"
        );
        assert!(
            contains(&debug, b".debug_info"),
            "the debug file lacks DWARF"
        );
        assert!(
            contains(&shipped, b"Promptreel.ofx.debug\0"),
            "no .gnu_debuglink naming the debug file"
        );
        assert!(shipped.len() < original.len());
        check_exports(&made.binary).expect("the entry point stays exported");
    }

    #[test]
    fn targets_parse_and_name_their_folders_and_fetch_commands() {
        assert_eq!(
            Target::parse("windows").expect("parsed"),
            Target::Windows(WindowsFlavour::Cpu)
        );
        for host in ["linux", "host"] {
            assert_eq!(Target::parse(host).expect("parsed"), Target::Host);
        }
        let e = Target::parse("macos").expect_err("refused").to_string();
        assert!(e.contains("\"macos\"") && e.contains("windows"), "{e}");
        assert_eq!(
            WindowsFlavour::parse("directml").expect("parsed"),
            WindowsFlavour::DirectMl
        );
        let e = WindowsFlavour::parse("cuda")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("directml"), "{e}");

        assert_eq!(
            Target::Windows(WindowsFlavour::Cpu).out_dir_name(),
            "bundle-win64"
        );
        assert_eq!(
            Target::Windows(WindowsFlavour::DirectMl).out_dir_name(),
            "bundle-win64-directml"
        );
        assert_eq!(Target::Host.out_dir_name(), "bundle");
        assert_eq!(
            Target::Windows(WindowsFlavour::DirectMl).fetch_command(),
            "bash tools/fetch_onnxruntime.sh --platform win64 --gpu directml"
        );
        let windows = Platform::for_target(Target::Windows(WindowsFlavour::Cpu));
        assert_eq!(
            (windows.dir, windows.cdylib, windows.ort),
            ("Win64", "promptreel_ofx.dll", "onnxruntime.dll")
        );
        if cfg!(target_os = "linux") {
            assert_eq!(Target::Host.resolved(), Target::Host);
            assert_eq!(
                Target::Host.fetch_command(),
                "bash tools/fetch_onnxruntime.sh"
            );
            assert!(platform().runtime_libraries.is_empty());
        }
    }

    #[test]
    fn the_windows_plugin_folder_is_under_common_program_files() {
        assert_eq!(
            windows_install_dir(Some(r"D:\Common Files".into())),
            Path::new(r"D:\Common Files").join("OFX").join("Plugins")
        );
        for unset in [None, Some(OsString::new())] {
            assert_eq!(
                windows_install_dir(unset),
                Path::new(r"C:\Program Files\Common Files\OFX\Plugins")
            );
        }
        if cfg!(target_os = "windows") {
            assert!(
                default_install_dir()
                    .expect("a folder")
                    .ends_with(Path::new("OFX").join("Plugins"))
            );
        }
    }
}
