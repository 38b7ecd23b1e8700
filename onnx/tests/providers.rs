//! Execution providers on a machine without a GPU: what the CUDA path says when something is
//! missing, how `auto` falls back (and says so), that the CUDA build of ONNX Runtime still renders
//! on the CPU, and that IO binding (how the denoiser keeps its text inputs on the device) gives
//! the same numbers as a plain call.
//!
//! The CUDA checks run the `promptreel` program, because the NVIDIA driver is loaded once per
//! process. A stand-in driver (`libcuda.so.1` built here from C, found through
//! `LD_LIBRARY_PATH`) reports whatever CUDA version and device count a test asks for, so the
//! driver checks are exercised without NVIDIA hardware.
//!
//! `PROMPTREEL_ORT_CUDA_LIB` points at the CUDA build of ONNX Runtime
//! (`bash tools/fetch_onnxruntime.sh --gpu cuda`; tools/test.sh sets it). Without it the tests
//! that need that build are skipped with a note, except under CI, where they fail.

#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use promptreel_engine::npy;
use promptreel_engine::package::GraphRole;
use promptreel_engine::runtime::Input;

/// A fresh folder for one test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "promptreel-providers-{test}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the scratch folder");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The CPU ONNX Runtime the other tests use.
fn cpu_ort() -> PathBuf {
    PathBuf::from(
        std::env::var_os("PROMPTREEL_ORT_LIB")
            .expect("PROMPTREEL_ORT_LIB (tools/test.sh sets it; see tools/fetch_onnxruntime.sh)"),
    )
}

/// The CUDA build of ONNX Runtime, when fetched.
fn cuda_ort() -> Option<PathBuf> {
    let lib = std::env::var_os("PROMPTREEL_ORT_CUDA_LIB").map(PathBuf::from);
    match lib {
        Some(l) if l.is_file() => Some(l),
        other => {
            let why = format!(
                "the CUDA build of ONNX Runtime is not here ({other:?}): run \
                 `bash tools/fetch_onnxruntime.sh --gpu cuda` and set PROMPTREEL_ORT_CUDA_LIB \
                 (tools/test.sh does both)"
            );
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// Whether this machine has an NVIDIA driver of its own (the no-driver checks then cannot run).
fn has_real_driver() -> bool {
    let found = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib/x86_64-linux-gnu",
    ]
    .iter()
    .any(|d| Path::new(d).join("libcuda.so.1").exists());
    if found {
        eprintln!(
            "skipped: this machine has an NVIDIA driver; the no-driver check needs one without"
        );
    }
    found
}

/// A folder that looks like a CUDA bundle's platform folder to the checks that come before
/// ONNX Runtime touches CUDA: the CPU ONNX Runtime, a stand-in CUDA provider file and a
/// `gpu-runtime.json` asking for CUDA 13.0 and preloading `preload`.
fn stand_in_cuda_runtime(scratch: &Scratch, preload: &[&str]) -> PathBuf {
    let dir = scratch.path("runtime");
    fs::create_dir_all(&dir).expect("create");
    let lib = dir.join("libonnxruntime.so");
    fs::copy(cpu_ort(), &lib).expect("copy ONNX Runtime");
    fs::write(dir.join("libonnxruntime_providers_cuda.so"), b"stand-in").expect("write");
    let manifest = serde_json::json!({
        "format": 1, "flavour": "cuda", "onnxruntime": "1.31.1", "cuda": "13.0",
        "driver": "580", "preload": preload,
    });
    fs::write(dir.join("gpu-runtime.json"), manifest.to_string()).expect("write");
    lib
}

/// Builds the stand-in NVIDIA driver into `dir/libcuda.so.1`. It answers the driver API calls
/// Promptreel makes from environment variables: FAKE_CUDA_VERSION (cuDriverGetVersion, default
/// 13000), FAKE_CUDA_INIT (cuInit's result, default 0), FAKE_CUDA_DEVICES (default 1) and
/// FAKE_CUDA_MEMORY_MB (the GPU's memory, default 8192).
fn stand_in_driver(dir: &Path) {
    let source = dir.join("fake_cuda.c");
    fs::write(
        &source,
        r#"
#include <stdlib.h>
#include <string.h>
static int env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v ? atoi(v) : fallback;
}
int cuDriverGetVersion(int *v) { *v = env_int("FAKE_CUDA_VERSION", 13000); return 0; }
int cuInit(unsigned int flags) { (void)flags; return env_int("FAKE_CUDA_INIT", 0); }
int cuDeviceGetCount(int *n) { *n = env_int("FAKE_CUDA_DEVICES", 1); return 0; }
int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return 0; }
int cuDeviceGetName(char *name, int len, int device) {
    (void)device; strncpy(name, "Stand-in GPU", (size_t)len); return 0;
}
int cuDeviceTotalMem_v2(size_t *bytes, int device) {
    (void)device; *bytes = (size_t)env_int("FAKE_CUDA_MEMORY_MB", 8192) << 20; return 0;
}
"#,
    )
    .expect("write the stand-in driver's source");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&compiler)
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .arg(&source)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler {compiler:?} ({e}): apt-get install gcc")
        });
    assert!(
        out.status.success(),
        "building the stand-in driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What one run of the program did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(self.code, Some(code), "wrong exit status\n{self}");
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}\n{self}");
        }
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `promptreel generate` on tiny-unet3d (2 steps, 4 frames, 32x32, one thread) with `ort` on
/// `device`, writing `frames.npy` and `report.json` into `out`; `env` adds variables (the stand-in driver's).
fn generate(ort: &Path, device: &str, out: &Path, env: &[(&str, OsString)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptreel"));
    cmd.arg("generate")
        .arg("--model")
        .arg(common::data().join("tiny-unet3d"))
        .args(["--prompt", "a red ball bouncing on a green floor"])
        .args([
            "--steps", "2", "--frames", "4", "--width", "32", "--height", "32",
        ])
        .args(["--threads", "1", "--npy", "--device", device])
        .arg("--ort-lib")
        .arg(ort)
        .arg("--out")
        .arg(out)
        .arg("--report")
        .arg(out.join("report.json"))
        .env_remove("PROMPTREEL_ORT_LIB")
        .env_remove("LD_LIBRARY_PATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("start promptreel");
    let run = Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the program panicked\n{run}"
    );
    run
}

fn frames(out: &Path) -> Vec<f32> {
    npy::read_f32(&out.join("frames.npy"))
        .unwrap_or_else(|e| panic!("read {}: {e}", out.display()))
        .data
}

#[test]
fn a_cpu_runtime_asked_for_cuda_says_it_has_no_cuda_provider() {
    let s = Scratch::new("cpu-runtime");
    let dir = s.path("runtime");
    fs::create_dir_all(&dir).expect("create");
    let lib = dir.join("libonnxruntime.so");
    fs::copy(cpu_ort(), &lib).expect("copy");
    generate(&lib, "cuda", &s.path("out"), &[]).expect(
        4,
        &[
            "no CUDA provider",
            "libonnxruntime_providers_cuda.so",
            "--gpu cuda",
            "CPU device",
        ],
    );
    generate(&lib, "tensorrt", &s.path("out"), &[])
        .expect(4, &["no TensorRT provider", "CUDA device"]);
}

#[test]
fn without_a_driver_cuda_names_the_driver_and_the_version_it_needs() {
    if has_real_driver() {
        return;
    }
    let s = Scratch::new("no-driver");
    let lib = stand_in_cuda_runtime(&s, &[]);
    generate(&lib, "cuda", &s.path("out"), &[]).expect(
        4,
        &[
            "no NVIDIA driver found",
            "libcuda.so.1",
            "580",
            "CUDA 13.0",
            "CPU device",
        ],
    );
}

#[test]
fn the_driver_checks_name_an_old_driver_a_missing_gpu_and_a_missing_library() {
    let s = Scratch::new("stand-in-driver");
    let drivers = s.path("driver");
    fs::create_dir_all(&drivers).expect("create");
    stand_in_driver(&drivers);
    let lib = stand_in_cuda_runtime(&s, &["libcudart.so.13"]);
    let env = |pairs: &[(&str, &str)]| -> Vec<(&'static str, OsString)> {
        let mut v: Vec<(&'static str, OsString)> =
            vec![("LD_LIBRARY_PATH", drivers.clone().into_os_string())];
        for (k, val) in pairs {
            let k: &'static str = match *k {
                "FAKE_CUDA_VERSION" => "FAKE_CUDA_VERSION",
                "FAKE_CUDA_INIT" => "FAKE_CUDA_INIT",
                _ => "FAKE_CUDA_DEVICES",
            };
            v.push((k, OsString::from(val)));
        }
        v
    };
    let out = s.path("out");
    generate(&lib, "cuda", &out, &env(&[("FAKE_CUDA_VERSION", "12040")])).expect(
        4,
        &[
            "supports CUDA 12.4",
            "need CUDA 13.0",
            "driver 580 or newer",
        ],
    );
    generate(&lib, "cuda", &out, &env(&[("FAKE_CUDA_INIT", "100")]))
        .expect(4, &["no NVIDIA GPU found", "CUDA_VISIBLE_DEVICES"]);
    generate(&lib, "cuda", &out, &env(&[("FAKE_CUDA_DEVICES", "0")]))
        .expect(4, &["no NVIDIA GPU found", "reports 0 devices"]);
    // A driver and a GPU, but the bundle lost a library it lists.
    generate(&lib, "cuda", &out, &env(&[])).expect(
        4,
        &[
            "CUDA bundle is incomplete",
            "libcudart.so.13 is missing",
            "--gpu cuda",
        ],
    );
}

#[test]
fn auto_falls_back_to_the_cpu_says_why_and_renders_the_same_clip() {
    if has_real_driver() {
        return;
    }
    let s = Scratch::new("auto");
    let lib = stand_in_cuda_runtime(&s, &[]);
    let auto = generate(&lib, "auto", &s.path("auto"), &[]);
    auto.expect(
        0,
        &["running on CPU instead of CUDA", "no NVIDIA driver found"],
    );
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(s.path("auto").join("report.json")).expect("report.json"))
            .expect("JSON");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("instead of CUDA"), "{warnings}");
    assert!(
        report["providers"]
            .as_object()
            .is_some_and(|p| p.values().all(|v| v == "CPU")),
        "{}",
        report["providers"]
    );
    let cpu = generate(&lib, "cpu", &s.path("cpu"), &[]);
    cpu.expect(0, &[]);
    assert!(
        !cpu.stderr.contains("instead of"),
        "an explicit CPU run has nothing to report\n{cpu}"
    );
    assert_eq!(frames(&s.path("auto")), frames(&s.path("cpu")));
}

#[test]
fn the_cuda_build_of_onnx_runtime_renders_on_the_cpu_and_refuses_cuda_in_words() {
    let Some(cuda_lib) = cuda_ort() else { return };
    let s = Scratch::new("cuda-build");
    let ours = generate(&cuda_lib, "cpu", &s.path("cuda-build"), &[]);
    ours.expect(0, &[]);
    let reference = generate(&cpu_ort(), "cpu", &s.path("cpu-build"), &[]);
    reference.expect(0, &[]);
    // Two ONNX Runtime versions (1.31 GPU build, 1.32 CPU): the same kernels to within rounding.
    let (a, b) = (frames(&s.path("cuda-build")), frames(&s.path("cpu-build")));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-4,
        "the CUDA build's CPU frames differ by {worst}"
    );

    if !has_real_driver() {
        generate(&cuda_lib, "cuda", &s.path("out"), &[])
            .expect(4, &["no NVIDIA driver found", "libcuda.so.1"]);
    }
    // With a driver and a GPU, ONNX Runtime itself loads its real CUDA provider, which finds
    // none of the CUDA libraries here (no bundle): its loader's message comes through.
    let drivers = s.path("driver");
    fs::create_dir_all(&drivers).expect("create");
    stand_in_driver(&drivers);
    generate(
        &cuda_lib,
        "cuda",
        &s.path("out"),
        &[("LD_LIBRARY_PATH", drivers.into_os_string())],
    )
    .expect(
        4,
        &[
            "ONNX Runtime could not start CUDA",
            "libcublas",
            "CPU device",
        ],
    );
}

#[test]
fn a_bound_call_equals_a_plain_call_and_follows_each_rebinding() {
    let model = common::model("tiny-unet3d");
    let m = model.package().manifest();
    let unet = model.graph(GraphRole::Denoiser).expect("denoiser");
    let d = &m.denoiser;
    let sample_port = unet.input(&d.sample).expect("sample input");
    let ehs_port = unet.input(&d.encoder_hidden_states).expect("text input");
    let dims = |p: &promptreel_engine::runtime::Port, fill: &[usize]| -> Vec<usize> {
        p.shape
            .iter()
            .zip(fill)
            .map(|(&d, &f)| if d > 0 { d as usize } else { f })
            .collect()
    };
    let sample_shape = dims(sample_port, &[1, 4, 2, 4, 4]);
    let ehs_shape = dims(ehs_port, &[1, 8, 32]);
    let n: usize = sample_shape.iter().product();
    let wave =
        |k: f32, len: usize| -> Vec<f32> { (0..len).map(|i| (i as f32 * k).sin()).collect() };
    let ehs = wave(0.37, ehs_shape.iter().product());
    let t_shape: Vec<usize> = match unet.input(&d.timestep).map(|p| p.shape.len()) {
        Some(1) => vec![1],
        _ => vec![],
    };
    let plain = |sample: &[f32], t: f32| {
        unet.run(
            &[
                (
                    d.sample.as_str(),
                    Input::F32 {
                        shape: &sample_shape,
                        data: sample,
                    },
                ),
                (
                    d.timestep.as_str(),
                    Input::F32 {
                        shape: &t_shape,
                        data: &[t],
                    },
                ),
                (
                    d.encoder_hidden_states.as_str(),
                    Input::F32 {
                        shape: &ehs_shape,
                        data: &ehs,
                    },
                ),
            ],
            &d.output,
            &mut promptreel_engine::Silent,
        )
        .expect("plain run")
        .0
    };
    let mut b = unet.binding(&d.output).expect("binding");
    unet.bind(
        &mut b,
        &d.encoder_hidden_states,
        &Input::F32 {
            shape: &ehs_shape,
            data: &ehs,
        },
    )
    .expect("bind the text");
    let mut bound = |sample: &[f32], t: f32| {
        unet.bind(
            &mut b,
            &d.sample,
            &Input::F32 {
                shape: &sample_shape,
                data: sample,
            },
        )
        .expect("bind the sample");
        unet.bind(
            &mut b,
            &d.timestep,
            &Input::F32 {
                shape: &t_shape,
                data: &[t],
            },
        )
        .expect("bind the timestep");
        unet.run_bound(&b, &mut promptreel_engine::Silent)
            .expect("bound run")
            .0
    };
    let (s1, s2) = (wave(0.11, n), wave(0.53, n));
    let first = bound(&s1, 500.0);
    assert_eq!(first, plain(&s1, 500.0));
    let second = bound(&s2, 20.0);
    assert_ne!(
        second.data, first.data,
        "the rebound sample and timestep were not used"
    );
    assert_eq!(second, plain(&s2, 20.0));
    let e = unet
        .binding("no_such_output")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("no_such_output"), "{e}");
}

#[test]
fn a_generation_that_fits_the_gpu_goes_on_to_onnx_runtime() {
    let s = Scratch::new("fits");
    let drivers = s.path("driver");
    fs::create_dir_all(&drivers).expect("create");
    stand_in_driver(&drivers);
    // Everything the checks ask for, but the provider file is a stand-in: ONNX Runtime's own
    // attempt to load it is the first thing to fail, past the driver and memory checks.
    let lib = stand_in_cuda_runtime(&s, &[]);
    let out = s.path("out");
    let env = |extra: Option<(&'static str, &str)>| {
        let mut v = vec![("LD_LIBRARY_PATH", drivers.clone().into_os_string())];
        v.extend(extra.map(|(k, val)| (k, OsString::from(val))));
        v
    };
    generate(&lib, "cuda", &out, &env(None))
        .expect(4, &["ONNX Runtime could not start CUDA", "CPU device"]);
    // A GPU too small for the generation: refused before anything loads, on the GPU's numbers
    // (tiny-unet3d needs tens of MiB; the cap is 85% of the memory, or the variable).
    generate(&lib, "cuda", &out, &env(Some(("FAKE_CUDA_MEMORY_MB", "8"))))
        .expect(7, &["CUDA may use on the Stand-in GPU only", "MiB"]);
    generate(
        &lib,
        "cuda",
        &out,
        &env(Some(("PROMPTREEL_GPU_MEMORY_LIMIT_MB", "lots"))),
    )
    .expect(2, &["PROMPTREEL_GPU_MEMORY_LIMIT_MB", "\"lots\""]);
}

#[test]
fn devices_lists_what_runs_here_and_what_each_provider_lacks() {
    let s = Scratch::new("devices");
    let drivers = s.path("driver");
    fs::create_dir_all(&drivers).expect("create");
    stand_in_driver(&drivers);
    let lib = stand_in_cuda_runtime(&s, &[]);
    let devices = |ort: &Path, driver: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptreel"));
        cmd.arg("devices")
            .arg("--ort-lib")
            .arg(ort)
            .env_remove("LD_LIBRARY_PATH");
        if driver {
            cmd.env("LD_LIBRARY_PATH", &drivers);
        }
        let o = cmd.output().expect("start promptreel");
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let gpu = devices(&lib, true);
    for line in [
        "GPU runtime: Promptreel's cuda bundle, CUDA 13.0 libraries (NVIDIA driver 580 or newer)",
        "  CPU       yes: available",
        "  CUDA      yes: Stand-in GPU, 8.0 GiB, driver supports CUDA 13.0",
        "  TensorRT  no: this ONNX Runtime has no TensorRT provider",
    ] {
        assert!(gpu.contains(line), "{line:?} missing from\n{gpu}");
    }
    let cpu = devices(&cpu_ort(), false);
    assert!(cpu.contains("GPU runtime: none"), "{cpu}");
    assert!(
        cpu.contains("  CUDA      no: this ONNX Runtime has no CUDA provider"),
        "{cpu}"
    );
}
