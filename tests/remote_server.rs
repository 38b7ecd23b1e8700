//! End to end: Device = Remote server in the built plug-in, loaded by the headless test host
//! (`tests/host/`, Natron-like preset), against a real KServe v2 server (MLServer with our
//! runtime, `onnx/tests/support/mlserver.rs`) serving the bundled model's graphs. An empty
//! Server is refused in words before anything runs; the remote clip is generated with its
//! device named in the Status line, and every host frame of it is the same bits as the CPU's
//! clip of the same settings (generated afresh, the cache emptied in between: the clip's key
//! holds no device). Then the server is killed: a render fails with a sentence naming the
//! server, nothing is cached, and the host goes on rendering on the CPU.
//!
//! Needs what `tests/ofx_host.rs` needs (the plug-in cdylib, ONNX Runtime), the model package in
//! `bundle/models/default`, and MLServer (`tools/fetch_mlserver.sh` installs it into
//! `target/mlserver/venv` on first use, or `$PROMPTREEL_MLSERVER_PYTHON`).

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod host;
#[path = "../onnx/tests/support/mlserver.rs"]
mod mlserver;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use host::{Context, Host, HostConfig, Instance, RenderRequest, Value};
use mlserver::MlServer;
use ofx_sys::*;

const PLUGIN_ID: &str = "org.promptreel.TextToVideo";
const OK: OfxStatus = kOfxStatOK;
const ON_RENDER_ON: i32 = 1;

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
    let name = "libpromptreel_ofx.so";
    [deps.join(name), deps.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("no plug-in binary: build the crate (cargo build) or set PROMPTREEL_OFX_BINARY")
        })
}

/// Sets the plug-in's environment once (ONNX Runtime, a fresh disk cache for this process);
/// returns the cache folder.
fn prepare_environment() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let ort = std::env::var_os("PROMPTREEL_ORT_LIB")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target/onnxruntime/libonnxruntime.so"));
        assert!(ort.is_file(), "missing ONNX Runtime {}", ort.display());
        let cache =
            std::env::temp_dir().join(format!("promptreel-remote-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).expect("cache folder");
        // SAFETY: runs once, before this process loads the plug-in or ONNX Runtime (this file
        // holds one test, so no other thread reads the environment meanwhile).
        unsafe {
            std::env::set_var("PROMPTREEL_ORT_LIB", &ort);
            std::env::set_var("PROMPTREEL_CACHE_DIR", &cache);
            std::env::remove_var("PROMPTREEL_MODEL");
        }
        cache
    })
}

fn succeeded(status: OfxStatus) -> bool {
    status == kOfxStatOK || status == kOfxStatReplyDefault
}

/// The `.prclip` files in the disk cache: one per clip generated.
fn clip_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|list| {
            list.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "prclip"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The Device option whose label is `label`.
fn device_option(plugin: &host::Plugin, label: &str) -> i32 {
    let options = plugin
        .param_props(Context::Generator, "device")
        .and_then(|p| p.strs(kOfxParamPropChoiceOption))
        .unwrap_or_default();
    let at = options.iter().position(|o| o == label);
    at.map(|i| i as i32)
        .unwrap_or_else(|| panic!("no Device option {label:?} in {options:?}"))
}

/// Every host frame of the clip, in order, as the bits of their float pixels.
fn render_every_frame(inst: &Instance, what: &str) -> Vec<Vec<u32>> {
    let (status, [first, last]) = inst.time_domain();
    assert!(succeeded(status), "{what}: time domain");
    let (first, last) = (first as i32, last as i32);
    assert!(last > first, "{what}: a clip of several frames");
    (first..=last)
        .map(|t| {
            let r = inst.render(&RenderRequest::at(f64::from(t)));
            assert_eq!(r.status, OK, "{what}: frame {t}");
            assert_eq!(r.unwritten(), 0, "{what}: frame {t} left unwritten");
            r.pixels().iter().flatten().map(|v| v.to_bits()).collect()
        })
        .collect()
}

/// Presses Generate, which must succeed; returns the Status line.
fn generate(inst: &Instance, what: &str) -> String {
    let status = inst.press("generate");
    let text = inst.param_str("status");
    assert!(
        succeeded(status),
        "{what}: Generate answered {status}; status {text:?}"
    );
    text
}

#[test]
fn a_remote_server_makes_the_cpus_bits_and_its_failures_are_sentences() {
    let cache = prepare_environment();
    let model = workspace().join("bundle/models/default");
    let mut server = MlServer::for_package(&model);
    let url = server.url();

    let host = Host::new(HostConfig::natron_like());
    let binary = host.open(plugin_binary()).expect("loads");
    if let Some(status) = binary.set_host_status() {
        assert!(succeeded(status), "OfxSetHost answered {status}");
    }
    let plugin = binary.find(PLUGIN_ID).expect("the plug-in");
    assert_eq!(plugin.load(), OK);
    assert_eq!(plugin.describe(), OK);
    assert_eq!(plugin.describe_in_context(Context::Generator), OK);
    assert_eq!(
        plugin
            .param_type(Context::Generator, "serverAddress")
            .as_deref(),
        Some("OfxParamTypeString")
    );
    let (cpu, remote) = (
        device_option(&plugin, "CPU"),
        device_option(&plugin, "Remote server"),
    );
    assert_eq!(cpu, 1, "saved projects keep their Device");

    let inst = plugin
        .create_instance(Context::Generator)
        .expect("instance");
    let settings = [
        ("modelFolder", Value::str(model.to_string_lossy())),
        (
            "prompt",
            Value::str("a red ball moving right on a black background"),
        ),
        ("seed", Value::Int(2024)),
        ("steps", Value::Int(6)),
        ("generateOnRender", Value::Int(ON_RENDER_ON)),
        ("device", Value::Int(remote)),
    ];
    assert!(succeeded(inst.set_params(&settings)));

    // Remote server with no address: a sentence naming the parameter, before anything runs.
    let text = inst.param_str("status");
    assert!(
        text.contains("needs a server address") && text.contains("Server parameter"),
        "Status with an empty Server: {text:?}"
    );
    assert!(!succeeded(inst.press("generate")));
    let text = inst.param_str("status");
    assert!(
        text.starts_with("Promptreel cannot use these settings: ")
            && text.contains("Server parameter"),
        "{text:?}"
    );
    assert_ne!(inst.render(&RenderRequest::at(0.0)).status, OK);
    assert!(clip_files(cache).is_empty(), "nothing generated");

    // The remote clip; the Status line names the device.
    assert!(succeeded(inst.set_param("serverAddress", Value::str(&url))));
    let text = inst.param_str("status");
    assert!(text.starts_with("Not generated yet"), "{text:?}");
    let text = generate(&inst, "remote");
    assert!(
        text.contains("remote server") && !text.contains("from cache"),
        "Status after the remote generation: {text:?}"
    );
    let from_server = render_every_frame(&inst, "remote");
    let files = clip_files(cache);
    assert_eq!(files.len(), 1, "one clip file: {files:?}");

    // The same settings on the CPU, generated afresh: the key holds no device, so the cache is
    // emptied first (disk, then memory).
    std::fs::remove_file(&files[0]).expect("remove the remote clip file");
    assert!(succeeded(inst.purge_caches()));
    assert!(succeeded(inst.set_param("device", Value::Int(cpu))));
    let text = generate(&inst, "CPU");
    assert!(
        text.contains("CPU") && !text.contains("from cache"),
        "Status after the CPU generation: {text:?}"
    );
    let here = render_every_frame(&inst, "CPU");
    assert_eq!(here.len(), from_server.len());
    for (t, (a, b)) in from_server.iter().zip(&here).enumerate() {
        let differing = a.iter().zip(b).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "frame {t}: {differing} values differ");
    }
    let first = &here[0];
    assert!(
        first.iter().any(|v| *v != first[0]),
        "the frames are a picture, not a constant"
    );

    // The server dies: a render of an uncached clip fails with a sentence naming it, and
    // leaves nothing in the cache.
    server.kill();
    let edits = [("device", Value::Int(remote)), ("seed", Value::Int(2025))];
    assert!(succeeded(inst.set_params(&edits)));
    let before = clip_files(cache);
    host.clear_records();
    let r = inst.render(&RenderRequest::at(0.0));
    assert_ne!(r.status, OK, "a render through a dead server");
    assert_eq!(r.images_unreleased, 0);
    let names_server = |t: &str| {
        (t.contains("cannot reach") || t.contains("lost the connection")) && t.contains(&url)
    };
    let messages = host.messages();
    assert!(
        messages
            .iter()
            .any(|m| m.is_error() && names_server(&m.text)),
        "no error message names the server: {messages:?}"
    );
    assert!(!succeeded(inst.press("generate")));
    let text = inst.param_str("status");
    assert!(
        text.starts_with("The remote server could not run this generation: ")
            && names_server(&text),
        "Status after the server died: {text:?}"
    );
    assert_eq!(
        clip_files(cache),
        before,
        "a failed generation caches nothing"
    );

    // The host goes on: the same clip on the CPU.
    assert!(succeeded(inst.set_param("device", Value::Int(cpu))));
    let r = inst.render(&RenderRequest::at(0.0));
    assert_eq!(r.status, OK, "the CPU after the server died");
    assert_eq!(clip_files(cache).len(), before.len() + 1);

    assert_eq!(inst.destroy(), OK);
    assert_eq!(plugin.unload(), OK);
    drop(plugin);
    binary.close().expect("dlclose");
    assert!(
        host.violations().is_empty(),
        "protocol violations: {:#?}",
        host.violations()
    );
}
