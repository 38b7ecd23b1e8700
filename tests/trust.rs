//! What makes an editor or a studio's IT stop trusting a plug-in, checked through the headless
//! host: a host abort or a user's cancel turning into an error; a setting that would exhaust
//! memory; files written outside the clip cache; a bundle missing its runtime library.
//!
//! Each scenario needs its own process (ONNX Runtime, its memory cap and its telemetry switch are
//! per process, as is the plug-in's state), so every `#[test]` here re-runs this test binary on
//! one `#[ignore]`d child test with the environment the scenario needs, and checks the child's
//! exit status and output. The children are not meant to be run on their own.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod host;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use host::{Context, Host, HostConfig, RenderRequest, Value};
use ofx_sys::*;

const PLUGIN_ID: &str = "org.promptreel.TextToVideo";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ONNX Runtime library the tests use (`$PROMPTREEL_ORT_LIB`, else the fetched copy).
fn ort_library() -> PathBuf {
    let lib = std::env::var_os("PROMPTREEL_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/onnxruntime/libonnxruntime.so"));
    assert!(
        lib.is_file(),
        "missing ONNX Runtime {} (run tools/fetch_onnxruntime.sh)",
        lib.display()
    );
    lib
}

/// The plug-in cdylib cargo built with this test.
fn plugin_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let name = "libpromptreel_ofx.so";
    [deps.join(name), deps.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {name} next to {}: build the crate", deps.display()))
}

/// A fresh folder under cargo's temporary folder for this test binary.
fn temp_dir(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("trust-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// Variables that would let ONNX Runtime skip its telemetry on its own (it stays quiet on CI
/// machines), or point the plug-in elsewhere; children start without them.
const CLEARED: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "TF_BUILD",
    "CIRCLECI",
    "ORT_DISABLE_TELEMETRY",
    "PROMPTREEL_MODEL",
    "PROMPTREEL_OFX_BINARY",
    "PROMPTREEL_MEMORY_LIMIT_MB",
    "XDG_CACHE_HOME",
];

struct ChildRun {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs child test `name` in a fresh process with `vars` set (a `None` value removes it).
fn run_child(name: &str, vars: &[(&str, Option<OsString>)]) -> ChildRun {
    let mut cmd = Command::new(std::env::current_exe().expect("test executable"));
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for v in CLEARED {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("start the child test");
    let run = ChildRun {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        run.stdout.contains("1 passed"),
        "child {name} did not run exactly one test:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

/// What the plug-in printed about actions (it prefixes those lines with "Promptreel:").
fn plugin_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("Promptreel:"))
        .collect()
}

/// A loaded plug-in with one Generator instance, for the children.
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
        let cpu = plugin
            .param_props(Context::Generator, "device")
            .and_then(|p| p.strs(kOfxParamPropChoiceOption))
            .and_then(|o| o.iter().position(|o| o.eq_ignore_ascii_case("cpu")))
            .expect("a CPU device option");
        let s = Self {
            host,
            plugin: Some(plugin),
            inst: Some(inst),
            binary: Some(binary),
        };
        s.set(&[("device", Value::Int(i32::try_from(cpu).expect("index")))]);
        s
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
            binary.close().expect("dlclose");
        }
    }
}

/// Clip files in the disk cache folder (anything but temporary files).
/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files
}

/// The clip files (`.prclip`) under `cache`; the cache folder also holds the record of
/// generation times that Generate on render reads.
fn cached_clips(cache: &Path) -> Vec<PathBuf> {
    files_under(cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "prclip"))
        .collect()
}

fn tiny_model() -> PathBuf {
    workspace().join("onnx/tests/data/tiny-unet3d")
}

fn default_model() -> PathBuf {
    workspace().join("bundle/models/default")
}

fn env_path(key: &str) -> PathBuf {
    std::env::var_os(key)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{key} is set by the parent test"))
}

// ---------------------------------------------------------------------------------------------
// Host abort and user cancel.

#[test]
fn a_host_abort_and_a_users_cancel_are_not_errors() {
    let cache = temp_dir("abort-cache");
    let run = run_child(
        "child_abort_and_cancel",
        &[
            ("PROMPTREEL_ORT_LIB", Some(ort_library().into())),
            ("PROMPTREEL_CACHE_DIR", Some(cache.clone().into())),
        ],
    );
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        plugin_lines(&run.stderr),
        Vec::<&str>::new(),
        "the plug-in printed about an abort or a cancel"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
#[ignore = "run by a_host_abort_and_a_users_cancel_are_not_errors in its own process"]
fn child_abort_and_cancel() {
    let cache = env_path("PROMPTREEL_CACHE_DIR");
    let s = Session::open(&plugin_binary());
    s.set(&[
        ("modelFolder", Value::str(tiny_model().to_string_lossy())),
        ("prompt", Value::str("a boat on a lake")),
        ("seed", Value::Int(11)),
        ("steps", Value::Int(6)),
    ]);

    // The host aborts after a few checks: the render stops, answers OK, shows nothing.
    s.inst().abort_after_checks(Some(3));
    let aborted = s.inst().render(&RenderRequest::at(0.0));
    let checks = s.inst().abort_checks();
    s.inst().abort_after_checks(None);
    s.inst().set_abort(false);
    assert_eq!(
        aborted.status, kOfxStatOK,
        "an aborted render answers kOfxStatOK, as the OpenFX examples do"
    );
    assert!(
        checks <= 4,
        "the plug-in asked abort() {checks} times: it did not stop within one step"
    );
    assert_eq!(s.errors(), Vec::<String>::new(), "an abort left an error");
    assert_eq!(
        cached_clips(&cache),
        Vec::<PathBuf>::new(),
        "the partial generation was cached"
    );

    // Rendering again generates the clip in full (nothing partial was kept) and caches it.
    let full = s.inst().render(&RenderRequest::at(0.0));
    assert_eq!(full.status, kOfxStatOK, "{:?}", s.errors());
    assert_eq!(full.unwritten(), 0);
    assert_eq!(cached_clips(&cache).len(), 1, "the finished clip is cached");

    // The user cancels Generate from the progress dialog: Status says so, no error.
    s.set(&[("seed", Value::Int(12))]);
    s.host.cancel_progress_after(Some(2));
    let pressed = s.inst().press("generate");
    s.host.cancel_progress_after(None);
    assert!(
        pressed == kOfxStatOK || pressed == kOfxStatReplyDefault,
        "Generate answered {pressed} after a cancel"
    );
    assert_eq!(s.inst().param_str("status"), "Cancelled");
    assert_eq!(s.errors(), Vec::<String>::new(), "a cancel left an error");
    assert_eq!(
        cached_clips(&cache).len(),
        1,
        "the cancelled clip was cached"
    );
    s.close();
}

// ---------------------------------------------------------------------------------------------
// Memory: refused in words before generating; an allocation past the cap is an error.

#[test]
fn a_thousand_frames_are_refused_with_a_sentence_naming_frames() {
    let run = run_child(
        "child_memory_refusal",
        &[
            ("PROMPTREEL_ORT_LIB", Some(ort_library().into())),
            ("PROMPTREEL_CACHE_DIR", Some(temp_dir("refusal").into())),
            // The same on every machine: Promptreel may use 256 MiB. (With fused attention
            // 1024 frames of the default model need about 0.6 GiB of working memory; unfused
            // they needed tens of GiB.)
            ("PROMPTREEL_MEMORY_LIMIT_MB", Some("256".into())),
        ],
    );
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
}

#[test]
#[ignore = "run by a_thousand_frames_are_refused_with_a_sentence_naming_frames"]
fn child_memory_refusal() {
    let s = Session::open(&plugin_binary());
    s.set(&[
        ("modelFolder", Value::str(default_model().to_string_lossy())),
        ("prompt", Value::str("a red ball moving right")),
        ("frames", Value::Int(1024)),
    ]);
    let before = std::time::Instant::now();
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_ne!(r.status, kOfxStatOK, "1024 frames must be refused");
    let errors = s.errors();
    let text = errors.join(" | ");
    assert!(
        text.contains("lower Frames from 1024 to")
            && text.contains("needs about")
            && text.contains("Promptreel may use only 256 MiB"),
        "the refusal should say what it needs and which setting to lower: {text}"
    );
    assert!(
        before.elapsed().as_secs() < 20,
        "refusing took {:?}: it must not start generating",
        before.elapsed()
    );
    // A size that fits still renders afterwards.
    s.set(&[("frames", Value::Int(8)), ("steps", Value::Int(2))]);
    let ok = s.inst().render(&RenderRequest::at(0.0));
    assert_eq!(ok.status, kOfxStatOK, "{:?}", s.errors());
    s.close();
}

#[test]
fn an_allocation_past_the_memory_cap_is_a_plain_sentence() {
    // A package that understates its memory gets past the estimate; the capped arena stops it.
    let pkg = temp_dir("understated");
    copy_dir(&default_model(), &pkg);
    let manifest = pkg.join("promptreel.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("manifest"))
            .expect("manifest JSON");
    m["memory"] = serde_json::json!({
        "denoiser": { "bytes_per_position": 16, "attention": [] }
    });
    std::fs::write(&manifest, m.to_string()).expect("write manifest");
    let run = run_child(
        "child_arena_cap",
        &[
            ("PROMPTREEL_ORT_LIB", Some(ort_library().into())),
            ("PROMPTREEL_CACHE_DIR", Some(temp_dir("arena").into())),
            ("PROMPTREEL_MEMORY_LIMIT_MB", Some("200".into())),
            ("TRUST_MODEL", Some(pkg.clone().into())),
        ],
    );
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let _ = std::fs::remove_dir_all(&pkg);
}

#[test]
#[ignore = "run by an_allocation_past_the_memory_cap_is_a_plain_sentence"]
fn child_arena_cap() {
    let s = Session::open(&plugin_binary());
    s.set(&[
        (
            "modelFolder",
            Value::str(env_path("TRUST_MODEL").to_string_lossy()),
        ),
        ("prompt", Value::str("a red ball moving right")),
        ("frames", Value::Int(1024)),
        ("steps", Value::Int(2)),
    ]);
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_ne!(r.status, kOfxStatOK, "1024 frames cannot fit in 200 MiB");
    let text = s.errors().join(" | ");
    assert!(
        text.contains("ran out of memory")
            && text.contains("Lower Frames")
            && !text.contains("bfc_arena"),
        "an arena failure must read as a plain sentence: {text}"
    );
    s.close();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        let dst = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nothing written outside the clip cache.

#[test]
fn a_render_writes_nothing_outside_the_clip_cache() {
    let home = temp_dir("home");
    let run = run_child(
        "child_render_once",
        &[
            ("PROMPTREEL_ORT_LIB", Some(ort_library().into())),
            ("HOME", Some(home.clone().into())),
            // The default cache folder, under the fresh HOME.
            ("PROMPTREEL_CACHE_DIR", None),
        ],
    );
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let cache = home.join(".cache/promptreel/clips");
    let files = files_under(&home);
    assert!(
        files.iter().any(|f| f.starts_with(&cache)),
        "the render did not use the default cache folder: {files:?}"
    );
    let outside: Vec<&PathBuf> = files.iter().filter(|f| !f.starts_with(&cache)).collect();
    assert!(
        outside.is_empty(),
        "files written outside the clip cache: {outside:?}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
#[ignore = "run by a_render_writes_nothing_outside_the_clip_cache"]
fn child_render_once() {
    let s = Session::open(&plugin_binary());
    s.set(&[
        ("modelFolder", Value::str(tiny_model().to_string_lossy())),
        ("prompt", Value::str("a lighthouse at dusk")),
        ("steps", Value::Int(2)),
    ]);
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_eq!(r.status, kOfxStatOK, "{:?}", s.errors());
    s.close();
}

// ---------------------------------------------------------------------------------------------
// A bundle without its runtime library.

#[test]
fn a_bundle_missing_its_runtime_says_so_and_loads_nothing_else() {
    let build = temp_dir("no-runtime");
    let made = promptreel_bundle::assemble(&promptreel_bundle::Inputs {
        plugin: plugin_binary(),
        ort_library: ort_library(),
        model: tiny_model(),
        out_dir: build.clone(),
        split_debug_info: false,
    })
    .unwrap_or_else(|e| panic!("assemble: {e}"));
    let bin_dir = made.binary.parent().expect("binary folder").to_path_buf();
    let lib = bin_dir.join(promptreel_bundle::platform().ort);
    std::fs::remove_file(&lib).expect("remove the bundle's runtime");
    let run = run_child(
        "child_missing_runtime",
        &[
            ("PROMPTREEL_ORT_LIB", None),
            (
                "PROMPTREEL_CACHE_DIR",
                Some(temp_dir("no-runtime-cache").into()),
            ),
            ("TRUST_BINARY", Some(made.binary.clone().into())),
            ("TRUST_EXPECTED_LIB", Some(lib.into())),
        ],
    );
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let _ = std::fs::remove_dir_all(&build);
}

#[test]
#[ignore = "run by a_bundle_missing_its_runtime_says_so_and_loads_nothing_else"]
fn child_missing_runtime() {
    let expected = env_path("TRUST_EXPECTED_LIB");
    let s = Session::open(&env_path("TRUST_BINARY"));
    s.set(&[
        ("prompt", Value::str("a red ball moving right")),
        ("steps", Value::Int(2)),
    ]);
    let r = s.inst().render(&RenderRequest::at(0.0));
    assert_ne!(r.status, kOfxStatOK, "a render without a runtime must fail");
    let text = s.errors().join(" | ");
    let canonical = expected
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .map(|d| d.join(expected.file_name().expect("file name")))
        .expect("bundle folder");
    assert!(
        text.contains("missing from its bundle")
            && (text.contains(&*expected.to_string_lossy())
                || text.contains(&*canonical.to_string_lossy())),
        "the error should name the library the bundle lacks: {text}"
    );
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    assert!(
        !maps.contains("libonnxruntime"),
        "an ONNX Runtime from outside the bundle was loaded"
    );
    s.close();
}
