//! The bundle, end to end: `promptreel_bundle::assemble` builds `Promptreel.ofx.bundle` from
//! the cdylib cargo built for this test run, the cached ONNX Runtime and the tiny test model
//! (as the default model); the layout is checked, with the plug-in binary stripped of its debug
//! information (read from the ELF section headers), which lies next to the bundle instead, and
//! the package version everywhere the bundle states one; `install` copies it into a plug-in folder
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
use promptreel_bundle::{
    BINARY_NAME, BUNDLE_NAME, DEBUG_DIR_NAME, IDENTIFIER, Inputs, assemble, install, platform,
};

const PLUGIN_ID: &str = "org.promptreel.TextToVideo";
/// The package version (the workspace's): `Info.plist` states it whole, the plug-in its major
/// and minor numbers. (`promptreel --version` is checked in `onnx/tests/cli.rs`.)
const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The package's (major, minor) version.
fn package_major_minor() -> (u32, u32) {
    let number = |s: &str| s.parse::<u32>().expect("a numeric version");
    (
        number(env!("CARGO_PKG_VERSION_MAJOR")),
        number(env!("CARGO_PKG_VERSION_MINOR")),
    )
}

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

/// One ELF section header.
struct Section {
    name: String,
    /// `sh_type`; `SHT_NOBITS` (8) occupies no bytes in the file.
    kind: u32,
    offset: usize,
    size: usize,
}

/// The section headers of a 64-bit little-endian ELF file (x86-64 and AArch64 Linux).
fn elf_sections(bytes: &[u8]) -> Vec<Section> {
    assert!(
        bytes.starts_with(b"\x7fELF") && bytes.get(4) == Some(&2) && bytes.get(5) == Some(&1),
        "not a 64-bit little-endian ELF file"
    );
    let at = |offset: usize, len: usize| -> u64 {
        let field = bytes
            .get(offset..offset + len)
            .unwrap_or_else(|| panic!("ELF field at {offset} past the end"));
        field
            .iter()
            .rev()
            .fold(0, |acc, &b| (acc << 8) | u64::from(b))
    };
    let to_usize = |v: u64| usize::try_from(v).expect("fits");
    let table = to_usize(at(0x28, 8));
    let entry_size = to_usize(at(0x3a, 2));
    let count = to_usize(at(0x3c, 2));
    let names_index = to_usize(at(0x3e, 2));
    assert!(entry_size >= 0x28 && count > 0, "no section headers");
    let header = |i: usize| {
        let h = table + i * entry_size;
        (
            at(h, 4),
            u32::try_from(at(h + 4, 4)).expect("u32"),
            to_usize(at(h + 0x18, 8)),
            to_usize(at(h + 0x20, 8)),
        )
    };
    let (_, _, names_offset, names_size) = header(names_index);
    let names = &bytes[names_offset..names_offset + names_size];
    (0..count)
        .map(|i| {
            let (name, kind, offset, size) = header(i);
            let name = &names[to_usize(name)..];
            let end = name
                .iter()
                .position(|&b| b == 0)
                .expect("a terminated name");
            Section {
                name: String::from_utf8_lossy(&name[..end]).into_owned(),
                kind,
                offset,
                size,
            }
        })
        .collect()
}

/// The file bytes of section `name`, if the file has it with contents.
fn section<'a>(bytes: &'a [u8], sections: &[Section], name: &str) -> Option<&'a [u8]> {
    const SHT_NOBITS: u32 = 8;
    let s = sections
        .iter()
        .find(|s| s.name == name && s.kind != SHT_NOBITS)?;
    Some(&bytes[s.offset..s.offset + s.size])
}

/// The CRC-32 (zlib's, which `.gnu_debuglink` uses) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes
        .iter()
        .fold(!0u32, |c, &b| table[usize::from((c as u8) ^ b)] ^ (c >> 8))
}

/// Checks that the bundled `binary` is the built `plugin` without its debug information.
fn check_stripped(binary: &Path, plugin: &Path) {
    let shipped = std::fs::read(binary).expect("the bundled binary");
    let built = std::fs::read(plugin).expect("the build");
    let shipped_sections = elf_sections(&shipped);
    let built_sections = elf_sections(&built);
    assert!(
        section(&built, &built_sections, ".debug_info").is_some(),
        "the test's plug-in build has no debug information to split off"
    );
    let debug_sections: Vec<&str> = shipped_sections
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| n.starts_with(".debug_") || n.starts_with(".zdebug_"))
        .collect();
    assert!(
        debug_sections.is_empty(),
        "the bundled binary keeps debug sections {debug_sections:?}"
    );
    assert!(
        shipped.len() < built.len() / 2,
        "the bundled binary ({} bytes) is not much smaller than the build ({} bytes)",
        shipped.len(),
        built.len()
    );
    assert!(
        section(&shipped, &shipped_sections, ".symtab").is_some(),
        "the symbol table stays, for backtraces"
    );
    assert_eq!(
        section(&shipped, &shipped_sections, ".text"),
        section(&built, &built_sections, ".text"),
        "the bundled binary's code is not the built plug-in's"
    );
}

/// Checks that `debug_file`, outside `bundle`, holds the built `plugin`'s debug information and
/// is the file the bundled binary's `.gnu_debuglink` names.
fn check_debug_file(bundle: &Path, binary: &Path, plugin: &Path, debug_file: &Path) {
    assert!(
        !debug_file.starts_with(bundle),
        "the debug information is inside the bundle"
    );
    let shipped = std::fs::read(binary).expect("the bundled binary");
    let shipped_sections = elf_sections(&shipped);
    let built = std::fs::read(plugin).expect("the build");
    let built_sections = elf_sections(&built);
    let debug = std::fs::read(debug_file).expect("the debug file");
    let debug_sections = elf_sections(&debug);
    assert_eq!(
        section(&debug, &debug_sections, ".debug_info"),
        section(&built, &built_sections, ".debug_info"),
        "the debug file lacks the build's .debug_info"
    );
    let link = section(&shipped, &shipped_sections, ".gnu_debuglink").expect(".gnu_debuglink");
    let name_end = link
        .iter()
        .position(|&b| b == 0)
        .expect("a terminated name");
    assert_eq!(
        std::str::from_utf8(&link[..name_end]).ok(),
        debug_file.file_name().and_then(|n| n.to_str()),
        "the debug link names another file"
    );
    let crc = u32::from_le_bytes(link[link.len() - 4..].try_into().expect("4 bytes"));
    assert_eq!(
        crc,
        crc32(&debug),
        "the debug link's checksum is not the debug file's"
    );
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
    for key in ["CFBundleShortVersionString", "CFBundleVersion"] {
        assert_eq!(
            plist_string(&plist, key).as_deref(),
            Some(PACKAGE_VERSION),
            "{key} is not the package version"
        );
    }

    if cfg!(target_arch = "x86_64") {
        assert_eq!(p.dir, "Linux-x86-64");
    }
    let bin_dir = contents.join(p.dir);
    let binary = bin_dir.join(&executable);
    assert!(binary.is_file(), "missing {}", binary.display());
    check_stripped(&binary, plugin);
    let ort = bin_dir.join(p.ort);
    assert!(ort.is_file(), "ONNX Runtime belongs next to the binary");

    assert_eq!(IDENTIFIER, PLUGIN_ID);
    let resources = contents.join("Resources");
    // What the bundle redistributes comes with its licence.
    for file in ["LICENSE", "ThirdPartyNotices.txt"] {
        let licence = resources.join("licenses").join("onnxruntime").join(file);
        let size = std::fs::metadata(&licence).map_or(0, |m| m.len());
        assert!(size > 100, "{} is missing or empty", licence.display());
    }
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
    assert_eq!(
        plugin.version(),
        package_major_minor(),
        "OfxGetPlugin(0)'s pluginVersionMajor/Minor are not the package version"
    );
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
        split_debug_info: true,
    };
    let made = assemble(&inputs).unwrap_or_else(|e| panic!("assemble: {e}"));
    assert_eq!(
        made.warning, None,
        "objcopy (binutils) is needed to split debug information"
    );
    let bundle = made.bundle.clone();
    assert_eq!(bundle, build.path().join(BUNDLE_NAME));
    let debug_file = build
        .path()
        .join(DEBUG_DIR_NAME)
        .join(format!("{BINARY_NAME}.debug"));
    assert_eq!(made.debug_file.as_deref(), Some(debug_file.as_path()));
    assert_eq!(check_layout(&bundle, &plugin), made.binary);
    check_debug_file(&bundle, &made.binary, &plugin, &debug_file);
    // Assembling again replaces the bundle and its debug information and leaves no temporary
    // folder behind.
    assert_eq!(
        assemble(&inputs).unwrap_or_else(|e| panic!("assemble again: {e}")),
        made
    );
    check_debug_file(&bundle, &made.binary, &plugin, &debug_file);
    assert_eq!(entries(build.path()), [BUNDLE_NAME, DEBUG_DIR_NAME]);

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
        split_debug_info: true,
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

#[test]
fn without_splitting_the_binary_ships_as_built_and_old_debug_information_goes() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let build = TempDir::new("unsplit");
    let plugin = plugin_binary();
    let mut inputs = Inputs {
        plugin: plugin.clone(),
        ort_library: ort_library(),
        model: tiny_model(),
        out_dir: build.path().to_path_buf(),
        split_debug_info: true,
    };
    let split = assemble(&inputs).unwrap_or_else(|e| panic!("assemble: {e}"));
    assert!(split.debug_file.is_some(), "{:?}", split.warning);

    inputs.split_debug_info = false;
    let unsplit = assemble(&inputs).unwrap_or_else(|e| panic!("assemble unsplit: {e}"));
    assert_eq!((unsplit.debug_file, unsplit.warning), (None, None));
    assert!(
        std::fs::read(&unsplit.binary).expect("the binary")
            == std::fs::read(&plugin).expect("the build"),
        "the bundled binary is not the built plug-in"
    );
    assert_eq!(
        entries(build.path()),
        [BUNDLE_NAME],
        "debug information of another build stayed next to the bundle"
    );
}
