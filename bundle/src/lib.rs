//! Builds `Promptreel.ofx.bundle` and installs it.
//!
//! Layout (OpenFX bundle convention):
//! ```text
//! Promptreel.ofx.bundle/Contents/
//!   Info.plist
//!   Resources/org.promptreel.TextToVideo.png, .svg   the icon
//!   Resources/models/default/                          the bundled model package
//!   Linux-x86-64/Promptreel.ofx                        the plugin (MacOS/ or Win64/ elsewhere)
//!   Linux-x86-64/libonnxruntime.so                     ONNX Runtime, loaded by absolute path
//! ```
//! The plugin finds the runtime and the model relative to its own binary.

mod icon;

use std::fs;
use std::path::{Path, PathBuf};

/// The bundle's folder name.
pub const BUNDLE_NAME: &str = "Promptreel.ofx.bundle";
/// The plugin identifier, which names the icon files.
pub const IDENTIFIER: &str = "org.promptreel.TextToVideo";

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
    /// Where to create `Promptreel.ofx.bundle`.
    pub out_dir: PathBuf,
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

/// Assembles the bundle into `inputs.out_dir`, replacing an older one, and returns its path.
/// It is built in a temporary folder next to the target and renamed into place, so a host
/// scanning plugins never sees half a bundle.
pub fn assemble(inputs: &Inputs) -> Result<PathBuf> {
    let p = platform();
    check_exports(&inputs.plugin)?;
    if !inputs.ort_library.is_file() {
        return Err(Error(format!(
            "ONNX Runtime library {} is missing; run `bash tools/fetch_onnxruntime.sh`",
            inputs.ort_library.display()
        )));
    }
    if !inputs.model.join("promptreel.json").is_file() {
        return Err(Error(format!(
            "{} is not a model package (no promptreel.json)",
            inputs.model.display()
        )));
    }
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

    let binary = "Promptreel.ofx";
    fs::write(contents.join("Info.plist"), info_plist(binary))
        .context("write", &contents.join("Info.plist"))?;
    fs::copy(&inputs.plugin, bin_dir.join(binary)).context("copy", &inputs.plugin)?;
    fs::copy(&inputs.ort_library, bin_dir.join(p.ort)).context("copy", &inputs.ort_library)?;
    let png = resources.join(format!("{IDENTIFIER}.png"));
    fs::write(&png, icon::png(256)).context("write", &png)?;
    let svg = resources.join(format!("{IDENTIFIER}.svg"));
    fs::write(&svg, icon::SVG).context("write", &svg)?;
    copy_dir(&inputs.model, &resources.join("models").join("default"))?;

    if final_path.exists() {
        fs::remove_dir_all(&final_path).context("remove the old bundle", &final_path)?;
    }
    fs::rename(&tmp, &final_path).context("move the bundle into place at", &final_path)?;
    Ok(final_path)
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
