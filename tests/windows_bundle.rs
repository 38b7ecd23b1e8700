//! The Windows bundle as a Windows host process sees it (run under Wine by the Windows lane of
//! `tools/test.sh`): which `onnxruntime.dll` the plug-in loads, and what it says when it cannot.
//!
//! - A bundle without its `onnxruntime.dll` says so in the host's error, naming the missing
//!   file, even with another `onnxruntime.dll` on `PATH`, and loads no runtime at all.
//! - With another `onnxruntime.dll` already loaded by the host (Resolve ships its own), the
//!   plug-in still loads and renders with the one in its bundle (`LoadLibraryExW` of the
//!   absolute path, with the altered search path).
//! - The DirectML flavour, asked for DirectML where Direct3D 12 cannot run (Wine has no GPU
//!   here), fails the generation with a sentence that names DirectML and the CPU, not a crash.
//!
//! Each scenario runs in its own process (one ONNX Runtime per process, as in `tests/trust.rs`):
//! a `#[test]` re-runs this executable on one `#[ignore]`d child test. The bundles come from
//! `promptreel-bundle build --target windows [--gpu directml]` (default folders under
//! `target/`, or `$PROMPTREEL_WIN64_BUNDLE` and `$PROMPTREEL_WIN64_DIRECTML_BUNDLE`).

#![cfg(all(windows, target_arch = "x86_64"))]

mod host;

use std::ffi::{OsStr, OsString, c_void};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use host::{Context, Host, HostConfig, RenderRequest, Value};
use ofx_sys::*;

const PLUGIN_ID: &str = "org.promptreel.TextToVideo";
const RUNTIME: &str = "onnxruntime.dll";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `Promptreel.ofx.bundle` of a flavour: `$<var>`, else its default build folder.
fn bundle(var: &str, out_dir: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        workspace()
            .join("target")
            .join(out_dir)
            .join("Promptreel.ofx.bundle")
    });
    assert!(
        path.join("Contents/Win64/Promptreel.ofx").is_file(),
        "no Windows bundle at {}: run `cargo run -p promptreel-bundle -- build --target windows \
         --debug` (add `--gpu directml` for the DirectML one), or set {var}",
        path.display()
    );
    path
}

fn cpu_bundle() -> PathBuf {
    bundle("PROMPTREEL_WIN64_BUNDLE", "bundle-win64")
}

fn directml_bundle() -> PathBuf {
    bundle("PROMPTREEL_WIN64_DIRECTML_BUNDLE", "bundle-win64-directml")
}

fn binary_of(bundle: &Path) -> PathBuf {
    bundle.join("Contents/Win64/Promptreel.ofx")
}

fn tiny_model() -> PathBuf {
    workspace().join("onnx/tests/data/tiny-unet3d")
}

/// A fresh folder under cargo's temporary folder for this test binary.
fn temp_dir(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("win-bundle-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let dst = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dst);
        } else {
            std::fs::copy(entry.path(), &dst).expect("copy");
        }
    }
}

fn env_path(key: &str) -> PathBuf {
    std::env::var_os(key)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{key} is set by the parent test"))
}

/// Runs child test `name` in a fresh process with `vars` set (a `None` value removes it); the
/// plug-in must find its runtime on its own, so `PROMPTREEL_ORT_LIB` is always removed.
fn run_child(name: &str, vars: &[(&str, Option<OsString>)]) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("test executable"));
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for v in [
        "PROMPTREEL_ORT_LIB",
        "PROMPTREEL_MODEL",
        "PROMPTREEL_OFX_BINARY",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("start the child test");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 passed") || !out.status.success(),
        "child {name} did not run exactly one test:\n{text}"
    );
    (out.status.success() && text.contains("1 passed"), text)
}

// ---------------------------------------------------------------------------------------------
// The process's modules, from Windows itself.

#[link(name = "kernel32")]
unsafe extern "system" {
    fn GetCurrentProcess() -> *mut c_void;
    fn K32EnumProcessModules(
        process: *mut c_void,
        modules: *mut *mut c_void,
        bytes: u32,
        needed: *mut u32,
    ) -> i32;
    fn GetModuleFileNameW(module: *mut c_void, buffer: *mut u16, size: u32) -> u32;
    fn LoadLibraryW(name: *const u16) -> *mut c_void;
}

/// The full path of every module (EXE and DLL) loaded in this process.
fn loaded_modules() -> Vec<PathBuf> {
    let mut handles = vec![std::ptr::null_mut::<c_void>(); 1024];
    let mut needed = 0u32;
    let bytes = u32::try_from(handles.len() * size_of::<*mut c_void>()).expect("size");
    // SAFETY: `handles` has room for `bytes` bytes of module handles; `needed` receives the size.
    let ok = unsafe {
        K32EnumProcessModules(
            GetCurrentProcess(),
            handles.as_mut_ptr(),
            bytes,
            &mut needed,
        )
    };
    assert_ne!(ok, 0, "EnumProcessModules failed");
    let count = (needed as usize / size_of::<*mut c_void>()).min(handles.len());
    handles[..count]
        .iter()
        .filter_map(|&module| {
            let mut name = vec![0u16; 32_768];
            // SAFETY: `name` holds that many UTF-16 units; `module` came from the enumeration.
            let n = unsafe { GetModuleFileNameW(module, name.as_mut_ptr(), 32_768) } as usize;
            (n > 0).then(|| PathBuf::from(OsString::from_wide(&name[..n])))
        })
        .collect()
}

/// The loaded modules named `onnxruntime.dll`, their paths in lower case (Windows paths compare
/// without case).
fn loaded_runtimes() -> Vec<String> {
    loaded_modules()
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(OsStr::new(RUNTIME)))
        })
        .map(|p| p.to_string_lossy().to_lowercase())
        .collect()
}

/// `path` made absolute the way Windows names a module (drive letter, backslashes), lower case.
fn module_name_of(path: &Path) -> String {
    std::path::absolute(path)
        .expect("absolute path")
        .to_string_lossy()
        .replace('/', "\\")
        .to_lowercase()
}

// ---------------------------------------------------------------------------------------------
// A host session with one Generator instance.

struct Session {
    host: Host,
    plugin: Option<host::Plugin>,
    inst: Option<host::Instance>,
    binary: Option<host::loader::Binary>,
}

impl Session {
    fn open(binary_path: &Path) -> Self {
        let host = Host::new(HostConfig::natron_like());
        let binary = host.open(binary_path).expect("the plug-in binary loads");
        let plugin = binary.find(PLUGIN_ID).expect("the plug-in");
        assert_eq!(plugin.load(), kOfxStatOK);
        assert_eq!(plugin.describe(), kOfxStatOK);
        assert_eq!(plugin.describe_in_context(Context::Generator), kOfxStatOK);
        let inst = plugin
            .create_instance(Context::Generator)
            .expect("an instance");
        let s = Self {
            host,
            plugin: Some(plugin),
            inst: Some(inst),
            binary: Some(binary),
        };
        s.set(&[
            ("modelFolder", Value::str(tiny_model().to_string_lossy())),
            ("device", Value::Int(s.device_index("cpu"))),
            ("steps", Value::Int(2)),
        ]);
        s
    }

    /// The Device option whose label contains `word`.
    fn device_index(&self, word: &str) -> i32 {
        let options = self
            .plugin
            .as_ref()
            .expect("plug-in")
            .param_props(Context::Generator, "device")
            .and_then(|p| p.strs(kOfxParamPropChoiceOption))
            .expect("Device options");
        let i = options
            .iter()
            .position(|o| o.to_lowercase().contains(word))
            .unwrap_or_else(|| panic!("no Device option {word:?} in {options:?}"));
        i32::try_from(i).expect("index")
    }

    fn inst(&self) -> &host::Instance {
        self.inst.as_ref().expect("instance")
    }

    fn set(&self, values: &[(&str, Value)]) {
        let status = self.inst().set_params(values);
        assert!(
            status == kOfxStatOK || status == kOfxStatReplyDefault,
            "setting {values:?} answered {status}"
        );
    }

    /// The error messages the plug-in posted (persistent or not).
    fn errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = self
            .host
            .messages()
            .iter()
            .filter(|m| m.is_error())
            .map(|m| m.text.clone())
            .collect();
        if let Some(m) = self.inst().persistent_message().filter(|m| m.is_error()) {
            errors.push(m.text);
        }
        errors
    }

    fn close(mut self) {
        if let Some(inst) = self.inst.take() {
            assert_eq!(inst.destroy(), kOfxStatOK);
        }
        if let Some(plugin) = self.plugin.take() {
            assert_eq!(plugin.unload(), kOfxStatOK);
        }
        if let Some(binary) = self.binary.take() {
            binary.close().expect("FreeLibrary");
        }
    }
}

/// A folder holding a copy of the bundle's `onnxruntime.dll`: another runtime with the same name,
/// as a host or the `PATH` may have one.
fn decoy_runtime(label: &str) -> PathBuf {
    let dir = temp_dir(label);
    std::fs::copy(
        binary_of(&cpu_bundle()).with_file_name(RUNTIME),
        dir.join(RUNTIME),
    )
    .expect("copy the decoy runtime");
    dir
}

// ---------------------------------------------------------------------------------------------
// A bundle without its runtime, with another one on PATH.

#[test]
fn a_bundle_missing_its_runtime_says_so_and_takes_none_from_path() {
    let build = temp_dir("no-runtime");
    let copy = build.join("Promptreel.ofx.bundle");
    copy_dir(&cpu_bundle(), &copy);
    let lib = binary_of(&copy).with_file_name(RUNTIME);
    std::fs::remove_file(&lib).expect("remove the bundle's runtime");
    let decoy = decoy_runtime("path-decoy");
    let mut path = OsString::from(&decoy);
    path.push(";");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let (ok, text) = run_child(
        "child_missing_runtime",
        &[
            ("PATH", Some(path)),
            (
                "PROMPTREEL_CACHE_DIR",
                Some(temp_dir("no-runtime-cache").into()),
            ),
            ("WIN_BINARY", Some(binary_of(&copy).into())),
            ("WIN_EXPECTED_LIB", Some(lib.into())),
        ],
    );
    assert!(ok, "{text}");
    let _ = std::fs::remove_dir_all(&build);
    let _ = std::fs::remove_dir_all(&decoy);
}

#[test]
#[ignore = "run by a_bundle_missing_its_runtime_says_so_and_takes_none_from_path"]
fn child_missing_runtime() {
    let expected = env_path("WIN_EXPECTED_LIB");
    let s = Session::open(&env_path("WIN_BINARY"));
    s.set(&[("prompt", Value::str("a red ball moving right"))]);
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_ne!(r.status, kOfxStatOK, "a render without a runtime must fail");
    let text = s.errors().join(" | ");
    let named = |p: &Path| text.to_lowercase().contains(&module_name_of(p));
    assert!(
        text.contains("missing from its bundle")
            && (named(&expected) || text.contains(&*expected.to_string_lossy())),
        "the error should name the library the bundle lacks ({}): {text}",
        expected.display()
    );
    assert_eq!(
        loaded_runtimes(),
        Vec::<String>::new(),
        "an onnxruntime.dll from outside the bundle was loaded"
    );
    s.close();
}

// ---------------------------------------------------------------------------------------------
// Another onnxruntime.dll already in the host process.

#[test]
fn the_bundled_runtime_is_used_when_the_host_loaded_another() {
    let decoy = decoy_runtime("host-decoy");
    let (ok, text) = run_child(
        "child_host_has_a_runtime",
        &[
            (
                "PROMPTREEL_CACHE_DIR",
                Some(temp_dir("host-decoy-cache").into()),
            ),
            ("WIN_BINARY", Some(binary_of(&cpu_bundle()).into())),
            ("WIN_DECOY", Some(decoy.join(RUNTIME).into())),
        ],
    );
    assert!(ok, "{text}");
    let _ = std::fs::remove_dir_all(&decoy);
}

#[test]
#[ignore = "run by the_bundled_runtime_is_used_when_the_host_loaded_another"]
fn child_host_has_a_runtime() {
    let decoy = env_path("WIN_DECOY");
    let wide: Vec<u16> = decoy.as_os_str().encode_wide().chain([0]).collect();
    // SAFETY: a NUL-terminated path to a copy of ONNX Runtime; loading it runs its initialisers,
    // as a host that uses ONNX Runtime itself would have.
    let module = unsafe { LoadLibraryW(wide.as_ptr()) };
    assert!(
        !module.is_null(),
        "the host's own runtime {} loads",
        decoy.display()
    );
    let binary = env_path("WIN_BINARY");
    let s = Session::open(&binary);
    s.set(&[("prompt", Value::str("a lighthouse at dusk"))]);
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_eq!(r.status, kOfxStatOK, "{:?}", s.errors());
    let runtimes = loaded_runtimes();
    let bundled = module_name_of(&binary.with_file_name(RUNTIME));
    assert!(
        runtimes.contains(&bundled) && runtimes.contains(&module_name_of(&decoy)),
        "both the host's runtime and the bundle's should be loaded, as two modules: {runtimes:?}"
    );
    s.close();
}

// ---------------------------------------------------------------------------------------------
// DirectML where Direct3D 12 cannot run.

#[test]
fn asking_for_directml_without_direct3d_12_is_a_sentence() {
    let (ok, text) = run_child(
        "child_directml_unavailable",
        &[
            (
                "PROMPTREEL_CACHE_DIR",
                Some(temp_dir("directml-cache").into()),
            ),
            ("WIN_BINARY", Some(binary_of(&directml_bundle()).into())),
        ],
    );
    assert!(ok, "{text}");
}

#[test]
#[ignore = "run by asking_for_directml_without_direct3d_12_is_a_sentence"]
fn child_directml_unavailable() {
    let s = Session::open(&env_path("WIN_BINARY"));
    let directml = s.device_index("directml");
    s.set(&[
        ("prompt", Value::str("a boat on a lake")),
        ("device", Value::Int(directml)),
    ]);
    let status = s.inst().press("generate");
    assert_ne!(
        status, kOfxStatOK,
        "Generate on DirectML under Wine should fail"
    );
    let status_line = s.inst().param_str("status");
    let says = |t: &str| {
        let t = t.to_lowercase();
        t.contains("directml") && t.contains("cpu")
    };
    assert!(
        says(&status_line),
        "the Status line should say DirectML cannot run and to choose the CPU: {status_line:?}"
    );
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_ne!(
        r.status, kOfxStatOK,
        "a render on an unavailable device must fail"
    );
    assert!(
        s.errors().iter().any(|e| says(e)),
        "no error message explains the device: {:?}",
        s.errors()
    );
    // The same instance recovers on the CPU with the DirectML build of ONNX Runtime.
    s.set(&[("device", Value::Int(s.device_index("cpu")))]);
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_eq!(r.status, kOfxStatOK, "{:?}", s.errors());
    s.close();
}
