//! `promptreel-bundle`: build and install `Promptreel.ofx.bundle`.
//!
//! ```text
//! cargo run -p promptreel-bundle -- build [--gpu cuda|tensorrt] [--debug] [--no-build] [--model DIR] [--out DIR]
//! cargo run -p promptreel-bundle -- install [--gpu cuda|tensorrt | --bundle PATH] [--to DIR]
//! ```
//!
//! `build` makes `<target>/bundle/Promptreel.ofx.bundle` with the CPU build of ONNX Runtime
//! (`tools/fetch_onnxruntime.sh`). `--gpu cuda` (Linux x86-64) makes
//! `<target>/bundle-cuda/Promptreel.ofx.bundle` instead, with ONNX Runtime's GPU build and its
//! CUDA provider (`tools/fetch_onnxruntime.sh --gpu cuda`), the NVIDIA libraries it needs and
//! their `gpu-runtime.json` (`tools/fetch_cuda_libraries.sh cuda`), all next to the plugin: about
//! 2.2 GiB, for NVIDIA driver 580 or newer. `--gpu tensorrt` would add ONNX Runtime's TensorRT
//! provider and TensorRT, in `<target>/bundle-tensorrt/`; it is refused for now, as PyPI has no
//! wheel of the TensorRT libraries (`tools/fetch_cuda_libraries.sh tensorrt` says so).
//!
//! Every bundle carries the licences of what it redistributes in
//! `Contents/Resources/licenses/`: ONNX Runtime's `LICENSE` and `ThirdPartyNotices.txt`, which
//! the fetch script keeps next to its library, and in a GPU flavour the NVIDIA wheels' licences.
//!
//! `<target>` is `$CARGO_TARGET_DIR`, else `target/`. The GPU scripts cache their downloads and
//! libraries there too (this tool hands them that folder as `CARGO_TARGET_DIR`); the CPU build
//! of ONNX Runtime stays in `target/onnxruntime/`, where the tests look for it.
//!
//! `install` copies `<target>/bundle/` (with `--gpu`, that flavour's bundle; or `--bundle PATH`)
//! into `--to DIR`, default `~/OFX/Plugins`.
//!
//! A release build ships the plugin without its debug information, which goes next to the
//! bundle (`Promptreel.ofx.debug/`); `--debug` builds keep it in the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use promptreel_bundle::{
    Assembled, BUNDLE_NAME, Error, Flavour, GPU_RUNTIME_FILE, GpuManifest, GpuRuntime, Inputs,
    LICENSES_DIR, ORT_LICENSE_FILES, Result, assemble, assemble_gpu, default_install_dir,
    disk_size, install, platform,
};

const USAGE: &str = "usage: promptreel-bundle build [--gpu cuda|tensorrt] [--debug] [--no-build] [--model DIR] [--out DIR]
       promptreel-bundle install [--gpu cuda|tensorrt | --bundle PATH] [--to DIR]";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The model the bundle ships: bundle/models/default, else the engine's tiny test model.
fn default_model() -> PathBuf {
    let trained = repo_root().join("bundle/models/default");
    if trained.join("promptreel.json").is_file() {
        return trained;
    }
    eprintln!(
        "promptreel-bundle: note: bundle/models/default is absent; shipping the tiny random-weight test model"
    );
    repo_root().join("onnx/tests/data/tiny-unet3d")
}

/// Runs `bash tools/<script> <args>` (progress on our stderr) and returns the path it prints
/// last on stdout. It gets [`target_dir`] as `CARGO_TARGET_DIR`, so scripts that follow that
/// variable cache into the folder this tool reads.
fn run_script(script: &str, args: &[&str]) -> Result<PathBuf> {
    let path = repo_root().join("tools").join(script);
    let target = std::path::absolute(target_dir())
        .map_err(|e| Error(format!("could not resolve the target folder: {e}")))?;
    let output = Command::new("bash")
        .arg(&path)
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error(format!("could not run tools/{script}: {e}")))?;
    let command = std::iter::once(format!("tools/{script}"))
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    if !output.status.success() {
        return Err(Error(format!("{command} failed ({})", output.status)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| Error(format!("{command} printed no path")))?;
    Ok(PathBuf::from(printed.trim()))
}

/// The CPU build of ONNX Runtime: `<target>/onnxruntime/` when its licence files are there too,
/// else where the fetch script puts it (which fetches a cache made without them again).
fn ort_library() -> Result<PathBuf> {
    let dir = target_dir().join("onnxruntime");
    let lib = dir.join(platform().ort);
    if lib.is_file() && ORT_LICENSE_FILES.iter().all(|n| dir.join(n).is_file()) {
        return Ok(lib);
    }
    // NOTE: the script caches into target/onnxruntime whatever CARGO_TARGET_DIR says (the tests
    // look there); the path it prints is the one to take.
    run_script("fetch_onnxruntime.sh", &[])
}

/// ONNX Runtime's GPU build and the GPU runtime of `flavour`, fetched when missing or stale (the
/// scripts do nothing when their output is up to date).
fn gpu_runtime(flavour: Flavour) -> Result<(PathBuf, GpuRuntime)> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err(Error(format!(
            "the {flavour} bundle is built for Linux x86-64 only (NVIDIA's CUDA wheels and \
             onnxruntime-gpu are Linux x86-64 libraries)"
        )));
    }
    // NOTE: the libraries first: the script explains why the TensorRT flavour cannot be built
    // (PyPI has no TensorRT library wheel) before anything is downloaded.
    let libraries = run_script("fetch_cuda_libraries.sh", &[flavour.name()])?;
    let ort_library = run_script("fetch_onnxruntime.sh", &["--gpu", "cuda"])?;
    let ort_dir = ort_library
        .parent()
        .ok_or_else(|| Error(format!("{} has no folder", ort_library.display())))?;
    // The two scripts pin ONNX Runtime's version separately (PROMPTREEL_ORT_GPU_VERSION sets both).
    let manifest = GpuManifest::read(&libraries.join(GPU_RUNTIME_FILE))?;
    let version_file = ort_dir.join("VERSION");
    let version = std::fs::read_to_string(&version_file)
        .map_err(|e| Error(format!("could not read {}: {e}", version_file.display())))?;
    if version.trim() != manifest.onnxruntime {
        return Err(Error(format!(
            "{} holds ONNX Runtime {}, but the libraries in {} were collected for {}; run both \
             fetch scripts with the same PROMPTREEL_ORT_GPU_VERSION",
            ort_dir.display(),
            version.trim(),
            libraries.display(),
            manifest.onnxruntime
        )));
    }
    Ok((
        ort_library.clone(),
        GpuRuntime::fetched(flavour, &libraries, ort_dir),
    ))
}

/// The value after `flag`; an error when `flag` is last.
fn value(args: &[String], flag: &str) -> Result<Option<String>> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| Error(format!("{flag} needs a value\n{USAGE}"))),
    }
}

fn path_value(args: &[String], flag: &str) -> Result<Option<PathBuf>> {
    Ok(value(args, flag)?.map(PathBuf::from))
}

fn flavour(args: &[String]) -> Result<Option<Flavour>> {
    value(args, "--gpu")?
        .map(|name| Flavour::parse(&name))
        .transpose()
}

/// The default output folder of a flavour: `<target>/bundle`, `<target>/bundle-cuda`, ...
fn default_out_dir(flavour: Option<Flavour>) -> PathBuf {
    target_dir().join(flavour.map_or("bundle", Flavour::out_dir_name))
}

fn build(args: &[String]) -> Result<Assembled> {
    let gpu = flavour(args)?;
    // Fetched before the plugin is built, so a download or platform problem shows at once.
    let runtime = gpu.map(gpu_runtime).transpose()?;
    let debug = args.iter().any(|a| a == "--debug");
    let profile = if debug { "debug" } else { "release" };
    if !args.iter().any(|a| a == "--no-build") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root())
            .args(["build", "-p", "promptreel-ofx", "--lib"]);
        if !debug {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .map_err(|e| Error(format!("could not run cargo: {e}")))?;
        if !status.success() {
            return Err(Error("cargo build of the plugin failed".into()));
        }
    }
    let inputs = Inputs {
        plugin: target_dir().join(profile).join(platform().cdylib),
        ort_library: match &runtime {
            Some((ort, _)) => ort.clone(),
            None => ort_library()?,
        },
        model: path_value(args, "--model")?.unwrap_or_else(default_model),
        out_dir: path_value(args, "--out")?.unwrap_or_else(|| default_out_dir(gpu)),
        split_debug_info: !debug,
    };
    match &runtime {
        Some((_, runtime)) => assemble_gpu(&inputs, runtime),
        None => assemble(&inputs),
    }
}

/// `bytes` in MiB, or GiB from 1 GiB on, with one decimal.
fn size(bytes: u64) -> String {
    let mib = bytes as f64 / f64::from(1 << 20);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// One line of the summary.
fn line(label: &str, bytes: u64, what: &str) {
    println!("  {label:<13}{:>9}  {what}", size(bytes));
}

/// The total size of `paths`.
fn total_size(paths: &[PathBuf]) -> Result<u64> {
    paths.iter().map(|p| disk_size(p)).sum()
}

/// Prints where the bundle is and what it weighs.
fn summary(made: &Assembled) -> Result<()> {
    if let Some(warning) = &made.warning {
        eprintln!("promptreel-bundle: warning: {warning}");
    }
    println!("{}", made.bundle.display());
    line("bundle", disk_size(&made.bundle)?, "in all");
    let inside = made
        .binary
        .strip_prefix(&made.bundle)
        .unwrap_or(&made.binary);
    let how = if made.debug_file.is_some() {
        "without debug information"
    } else {
        "as built"
    };
    line(
        "plug-in",
        disk_size(&made.binary)?,
        &format!("{} ({how})", inside.display()),
    );
    if let Some(gpu) = &made.gpu {
        let ort = made.binary.with_file_name(platform().ort);
        line(
            "ONNX Runtime",
            disk_size(&ort)? + total_size(&gpu.providers)?,
            &format!(
                "{} GPU build, with {} provider libraries",
                gpu.manifest.onnxruntime,
                gpu.providers.len()
            ),
        );
        line(
            "GPU runtime",
            total_size(&gpu.libraries)?,
            &gpu.manifest.describe(),
        );
    }
    line(
        "licences",
        total_size(&made.licenses)?,
        &format!(
            "{} files in Contents/Resources/{LICENSES_DIR}/",
            made.licenses.len()
        ),
    );
    if let Some(debug) = &made.debug_file {
        line(
            "debug info",
            disk_size(debug)?,
            &format!(
                "{} (not part of the bundle; keep it for crash reports)",
                debug.display()
            ),
        );
    }
    Ok(())
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") => summary(&build(&args[1..])?),
        Some("install") => {
            let bundle = match path_value(&args, "--bundle")? {
                Some(path) => path,
                None => default_out_dir(flavour(&args)?).join(BUNDLE_NAME),
            };
            let dir = path_value(&args, "--to")?
                .or_else(default_install_dir)
                .ok_or_else(|| Error("no home folder; pass --to DIR".into()))?;
            let path = install(&bundle, &dir)?;
            println!("installed {}", path.display());
            Ok(())
        }
        _ => Err(Error(USAGE.into())),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("promptreel-bundle: {e}");
            ExitCode::FAILURE
        }
    }
}
