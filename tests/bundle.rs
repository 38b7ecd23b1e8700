//! The bundle, end to end: `promptreel_bundle::assemble` builds `Promptreel.ofx.bundle` from
//! the cdylib cargo built for this test run, the cached ONNX Runtime and the tiny test model
//! (as the default model); the layout is checked; `install` copies it into a plug-in folder
//! (twice, to check it replaces an installed bundle cleanly); then the headless host in
//! `tests/host/` loads the *installed* binary and renders a frame with nothing but the bundle
//! to go on: `PROMPTREEL_ORT_LIB` and `PROMPTREEL_MODEL` unset and the Model folder parameter
//! empty, so the plug-in must find ONNX Runtime and its default model inside the bundle.
//!
//! Needs: the plug-in cdylib (built with this test, or `$PROMPTREEL_OFX_BINARY`), ONNX Runtime
//! at `target/onnxruntime/libonnxruntime.so` (`tools/fetch_onnxruntime.sh` puts it there) and
//! `onnx/tests/data/tiny-unet3d/`.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

#[path = "host/mod.rs"]
mod host;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use host::{Context, Host, HostConfig, RenderRequest, Value};
use ofx_sys::*;
use promptreel_bundle::{BUNDLE_NAME, IDENTIFIER, Inputs, assemble, install, platform};

const PLUGIN_ID: &str = "org.promptreel.TextToVideo";

/// The plug-in keeps process-wide state; the tests touching the file system and the plug-in
/// run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$PROMPTREEL_OFX_BINARY`, else the cdylib cargo built together with this test.
fn plugin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMPTREEL_OFX_BINARY") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    // NOTE: `cargo test` relinks the copy in `deps/`; the one a folder up may be stale.
    let name = platform().cdylib;
    [deps.join(name), deps.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {name} next to {}: build the crate", deps.display()))
}

fn ort_library() -> PathBuf {
    let lib = workspace().join("target/onnxruntime").join(platform().ort);
    assert!(
        lib.is_file(),
        "missing ONNX Runtime {} (run tools/fetch_onnxruntime.sh)",
        lib.display()
    );
    lib
}

fn tiny_model() -> PathBuf {
    let dir = workspace().join("onnx/tests/data/tiny-unet3d");
    assert!(
        dir.join("promptreel.json").is_file(),
        "missing test model {}",
        dir.display()
    );
    dir
}

/// A folder under cargo's per-target temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("bundle-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Clears the variables that would point the plug-in outside its bundle, and gives it a
/// fresh disk cache (so the render below really generates, and so loads ONNX Runtime).
fn prepare_environment(cache: &Path) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: runs once, before this process loads the plug-in or ONNX Runtime (the only
        // code here that reads these variables through libc); the host's unit tests running
        // beside it do not read the environment.
        unsafe {
            std::env::remove_var("PROMPTREEL_ORT_LIB");
            std::env::remove_var("PROMPTREEL_MODEL");
            std::env::set_var("PROMPTREEL_CACHE_DIR", cache);
        }
    });
}

/// Names of the entries of a folder, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The `<string>` value following `<key>{key}</key>` in a property list.
fn plist_string(plist: &str, key: &str) -> Option<String> {
    let after = &plist[plist.find(&format!("<key>{key}</key>"))?..];
    let start = after.find("<string>")? + "<string>".len();
    let end = after[start..].find("</string>")?;
    Some(after[start..start + end].trim().to_owned())
}

/// Width, height and whether the PNG carries alpha (RGBA or grey + alpha colour type, or a
/// `tRNS` chunk), read from its chunks.
fn png_info(bytes: &[u8]) -> (u32, u32, bool) {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    assert!(bytes.starts_with(SIGNATURE), "not a PNG file");
    let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let mut at = SIGNATURE.len();
    let (mut width, mut height, mut colour_type, mut trns, mut end) = (0, 0, 0u8, false, false);
    while at + 12 <= bytes.len() {
        let len = be32(at) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = at + 8;
        assert!(data + len + 4 <= bytes.len(), "truncated PNG chunk");
        match kind {
            b"IHDR" => {
                width = be32(data);
                height = be32(data + 4);
                colour_type = bytes[data + 9];
            }
            b"tRNS" => trns = true,
            b"IEND" => end = true,
            _ => {}
        }
        at = data + len + 4;
    }
    assert!(end, "PNG without an IEND chunk");
    (width, height, matches!(colour_type, 4 | 6) || trns)
}

/// Checks the assembled bundle's layout; returns the binary inside it.
fn check_layout(bundle: &Path, plugin: &Path) -> PathBuf {
    let p = platform();
    assert_eq!(
        bundle.file_name().and_then(|n| n.to_str()),
        Some(BUNDLE_NAME)
    );
    let contents = bundle.join("Contents");
    let plist = std::fs::read_to_string(contents.join("Info.plist")).expect("Contents/Info.plist");
    let executable = plist_string(&plist, "CFBundleExecutable").expect("CFBundleExecutable");
    assert_eq!(
        executable, "Promptreel.ofx",
        "named like the bundle without .bundle"
    );
    assert_eq!(
        plist_string(&plist, "CFBundleIdentifier").as_deref(),
        Some(PLUGIN_ID)
    );

    if cfg!(target_arch = "x86_64") {
        assert_eq!(p.dir, "Linux-x86-64");
    }
    let bin_dir = contents.join(p.dir);
    let binary = bin_dir.join(&executable);
    assert!(binary.is_file(), "missing {}", binary.display());
    assert!(
        std::fs::read(&binary).expect("the binary") == std::fs::read(plugin).expect("the build"),
        "the bundled binary is not the built plug-in"
    );
    let ort = bin_dir.join(p.ort);
    assert!(ort.is_file(), "ONNX Runtime belongs next to the binary");

    assert_eq!(IDENTIFIER, PLUGIN_ID);
    let resources = contents.join("Resources");
    let png = std::fs::read(resources.join(format!("{PLUGIN_ID}.png"))).expect("the PNG icon");
    let (width, height, alpha) = png_info(&png);
    assert!(
        width >= 128 && height >= 128,
        "icon is {width}x{height}; hosts want at least 128x128"
    );
    assert!(alpha, "the icon needs an alpha channel");
    let svg = std::fs::read_to_string(resources.join(format!("{PLUGIN_ID}.svg"))).expect("SVG");
    assert!(
        svg.contains("<svg") && svg.contains("</svg>"),
        "not an SVG file"
    );
    let model = resources.join("models/default");
    assert!(
        model.join("promptreel.json").is_file(),
        "no default model package"
    );
    assert_eq!(
        entries(&model),
        entries(&tiny_model()),
        "the default model is copied whole"
    );
    binary
}

/// Whether a library whose path contains `name` is mapped into this process, and where.
fn mapped(name: &str) -> Vec<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let mut paths: Vec<PathBuf> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(name))
        .map(PathBuf::from)
        .collect();
    paths.dedup();
    paths
}

/// Loads the installed binary in the headless host and renders one frame with only the
/// bundle to find the runtime and the model in.
fn render_from_installed_bundle(binary: &Path) {
    assert!(
        mapped("libonnxruntime").is_empty(),
        "ONNX Runtime was loaded before the plug-in"
    );
    let host = Host::new(HostConfig::natron_like());
    let lib = host.open(binary).expect("the installed binary loads");
    let plugin = lib.find(PLUGIN_ID).expect("the plug-in");
    assert_eq!(plugin.load(), kOfxStatOK);
    assert_eq!(plugin.describe(), kOfxStatOK);
    assert_eq!(plugin.describe_in_context(Context::Generator), kOfxStatOK);
    let inst = plugin
        .create_instance(Context::Generator)
        .expect("an instance");
    assert_eq!(
        inst.param_str("modelFolder"),
        "",
        "Model folder starts empty (the bundled model)"
    );
    let cpu = plugin
        .param_props(Context::Generator, "device")
        .and_then(|p| p.strs(kOfxParamPropChoiceOption))
        .and_then(|o| o.iter().position(|o| o.eq_ignore_ascii_case("cpu")))
        .expect("a CPU device option");
    let status = inst.set_params(&[
        ("prompt", Value::str("a lighthouse at dusk")),
        ("seed", Value::Int(2024)),
        ("steps", Value::Int(2)),
        ("device", Value::Int(i32::try_from(cpu).expect("index"))),
    ]);
    assert!(
        status == kOfxStatOK || status == kOfxStatReplyDefault,
        "{status}"
    );

    let r = inst.render(&RenderRequest::at(0.0));
    let text = inst.param_str("status");
    assert_eq!(
        r.status,
        kOfxStatOK,
        "render from the installed bundle failed; status {text:?}, messages {:?}",
        host.messages()
    );
    assert_eq!(r.unwritten(), 0, "pixels left unwritten");
    assert_eq!(r.images_unreleased, 0);
    let pixels = r.pixels();
    assert!(!pixels.is_empty());
    assert!(
        pixels.iter().flatten().all(|v| v.is_finite()),
        "non-finite pixels"
    );
    assert!(
        pixels.iter().any(|p| p != &pixels[0]),
        "a flat frame: nothing was generated"
    );

    // The runtime that ran is the bundle's, not the repository's cached copy.
    let bin_dir = binary
        .canonicalize()
        .expect("canonical path")
        .parent()
        .expect("binary folder")
        .to_path_buf();
    let loaded = mapped("libonnxruntime");
    assert!(
        !loaded.is_empty() && loaded.iter().all(|p| p.starts_with(&bin_dir)),
        "ONNX Runtime should come from {}; mapped: {loaded:?}",
        bin_dir.display()
    );
    assert!(
        host.messages().iter().all(|m| !m.is_error()),
        "{:?}",
        host.messages()
    );

    assert_eq!(inst.destroy(), kOfxStatOK);
    assert_eq!(plugin.unload(), kOfxStatOK);
    drop(plugin);
    lib.close().expect("dlclose");
    assert!(
        host.violations().is_empty(),
        "protocol violations: {:#?}",
        host.violations()
    );
}

#[test]
fn assembled_bundle_installs_and_renders_with_only_its_own_runtime_and_model() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = TempDir::new("cache");
    prepare_environment(cache.path());
    let build = TempDir::new("build");
    let plugins = TempDir::new("plugins");
    let plugin = plugin_binary();
    eprintln!("plug-in binary: {}", plugin.display());

    let inputs = Inputs {
        plugin: plugin.clone(),
        ort_library: ort_library(),
        model: tiny_model(),
        out_dir: build.path().to_path_buf(),
    };
    let bundle = assemble(&inputs).unwrap_or_else(|e| panic!("assemble: {e}"));
    assert_eq!(bundle, build.path().join(BUNDLE_NAME));
    check_layout(&bundle, &plugin);
    // Assembling again replaces the bundle and leaves no temporary folder behind.
    assert_eq!(
        assemble(&inputs).unwrap_or_else(|e| panic!("assemble again: {e}")),
        bundle
    );
    assert_eq!(entries(build.path()), [BUNDLE_NAME]);

    let installed = install(&bundle, plugins.path()).unwrap_or_else(|e| panic!("install: {e}"));
    assert_eq!(installed, plugins.path().join(BUNDLE_NAME));
    // A second install over a modified one restores it exactly.
    let stale = installed.join("Contents/Resources/stale-file.txt");
    std::fs::write(&stale, "left over from an older version").expect("plant a stale file");
    std::fs::remove_file(installed.join("Contents/Info.plist")).expect("damage the install");
    let again = install(&bundle, plugins.path()).unwrap_or_else(|e| panic!("reinstall: {e}"));
    assert_eq!(again, installed);
    assert!(
        !stale.exists(),
        "reinstalling kept a file of the old install"
    );
    assert_eq!(
        entries(plugins.path()),
        [BUNDLE_NAME],
        "install left a temporary folder behind"
    );
    let binary = check_layout(&installed, &plugin);

    render_from_installed_bundle(&binary);
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = TempDir::new("not-a-plugin");
    let fake = dir.path().join("libpromptreel_ofx.so");
    std::fs::write(&fake, b"\x7fELF but not really a plug-in").expect("write a fake plug-in");
    let out = dir.path().join("out");
    let result = assemble(&Inputs {
        plugin: fake,
        ort_library: ort_library(),
        model: tiny_model(),
        out_dir: out.clone(),
    });
    let err = result.expect_err("a non-plug-in must not be bundled");
    assert!(
        err.to_string().contains("OfxGetPlugin"),
        "the error should name the missing entry point: {err}"
    );
    assert!(
        !out.join(BUNDLE_NAME).exists(),
        "a bundle was created anyway"
    );
}
