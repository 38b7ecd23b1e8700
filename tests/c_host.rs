//! The plug-in seen from C: `tests/c_host_smoke/smoke.c`, compiled with the system C compiler
//! against our headers in `ofx-sys/include`, loads the built cdylib with `dlopen`, prints what
//! it reports, hands it a host whose `fetchSuite` knows no suite, and sends Load and Unload.
//!
//! What the plug-in must do there: report `org.promptreel.TextToVideo`, API
//! `OfxImageEffectPluginAPI` version 1, plug-in version the package's major.minor; answer Load
//! with `kOfxStatErrMissingHostFeature` (4), since without the property, parameter and image
//! effect suites it cannot work, naming the missing suite on stderr; answer Unload with OK; and
//! never crash the host, which exits 0.
//!
//! Needs: a C compiler as `cc` (or `$CC`) and `libdl`.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGIN_ID: &str = "org.promptreel.TextToVideo";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$PROMPTREEL_OFX_BINARY`, else the cdylib cargo built together with this test (`deps/`,
/// beside the test executable; `cargo test` does not refresh the copy one folder up).
fn plugin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMPTREEL_OFX_BINARY") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let name = "libpromptreel_ofx.so";
    [deps.join(name), deps.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {name} next to {}: build the crate", deps.display()))
}

/// A folder under cargo's per-target temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("c-host-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles the smoke host into `dir` with the warnings-as-errors flags its header names.
fn compile_smoke_host(dir: &Path) -> PathBuf {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let exe = dir.join("smoke");
    let root = workspace();
    let output = Command::new(&compiler)
        .args(["-std=c99", "-Wall", "-Werror", "-I"])
        .arg(root.join("ofx-sys/include"))
        .arg(root.join("tests/c_host_smoke/smoke.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the C compiler {compiler:?} ({e}); install one: `apt-get install gcc`"
            )
        });
    assert!(
        output.status.success(),
        "{compiler} failed to compile smoke.c against ofx-sys/include:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// What one run of the smoke host printed.
struct Run {
    /// `key=value` lines of stdout, first value per key.
    values: HashMap<String, String>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "the smoke host printed no {key}=\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn run_smoke_host(exe: &Path, plugin: &Path, set_host: bool) -> Run {
    let mut cmd = Command::new(exe);
    cmd.arg(plugin);
    if set_host {
        cmd.arg("--set-host");
    }
    let output = cmd.output().expect("run the smoke host");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "the smoke host did not exit 0 (a crash shows as no code: {})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let mut values = HashMap::new();
    for line in stdout.lines() {
        if let Some((key, value)) = line.split_once('=') {
            values
                .entry(key.to_owned())
                .or_insert_with(|| value.to_owned());
        }
    }
    Run {
        values,
        stdout,
        stderr,
    }
}

fn check_run(run: &Run, set_host: bool) {
    // Text to Video (first) and Video to Video.
    assert_eq!(run.get("number_of_plugins"), "2");
    assert_eq!(run.get("pluginIdentifier"), PLUGIN_ID);
    assert_eq!(run.get("pluginApi"), "OfxImageEffectPluginAPI");
    assert_eq!(run.get("apiVersion"), "1");
    let package = concat!(
        env!("CARGO_PKG_VERSION_MAJOR"),
        ".",
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(run.get("pluginVersion"), package);
    assert_eq!(run.get("is_image_effect"), "1");
    assert_eq!(run.get("OfxSetHost_exported"), "1");
    if set_host {
        assert_eq!(run.get("OfxSetHost_status"), "0 kOfxStatOK");
    }
    // Without suites the plug-in cannot work: Load must fail with "missing host feature"
    // (not crash, not claim success), after asking for the property suite with the host's
    // own property handle, and say on stderr which suite is missing.
    assert_eq!(
        run.get("load_status"),
        "4 kOfxStatErrMissingHostFeature",
        "stderr:\n{}",
        run.stderr
    );
    let fetch = run.get("fetchSuite");
    assert!(
        fetch.starts_with("OfxPropertySuite v1") && fetch.contains("host_ok=1"),
        "first fetchSuite call: {fetch}"
    );
    assert!(
        run.stderr.contains("OfxPropertySuite"),
        "the Load error should name the missing suite; stderr:\n{}",
        run.stderr
    );
    assert_eq!(run.get("unload_status"), "0 kOfxStatOK");
    let calls: usize = run.get("fetch_suite_calls").parse().expect("a count");
    assert!(calls >= 1, "Load fetched no suite");
    assert_eq!(run.get("done"), "1");
}

#[test]
fn a_c_host_without_suites_loads_and_unloads_the_plugin_without_a_crash() {
    let dir = TempDir::new("smoke");
    let exe = compile_smoke_host(&dir.0);
    let plugin = plugin_binary();
    eprintln!("plug-in binary: {}", plugin.display());
    for set_host in [false, true] {
        let run = run_smoke_host(&exe, &plugin, set_host);
        eprintln!("--set-host {set_host}:\n{}{}", run.stdout, run.stderr);
        check_run(&run, set_host);
    }
}
