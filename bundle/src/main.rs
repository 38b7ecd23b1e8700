//! `promptreel-bundle`: build and install `Promptreel.ofx.bundle`.
//!
//! ```text
//! cargo run -p promptreel-bundle -- build [--target windows] [--gpu cuda|tensorrt|directml] [--debug] [--no-build] [--model DIR] [--out DIR]
//! cargo run -p promptreel-bundle -- install [--target windows] [--gpu cuda|tensorrt|directml | --bundle PATH] [--to DIR]
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
//! `--target windows` makes the 64-bit Windows bundle on Linux: the plugin cross-built with
//! `cargo build --target x86_64-pc-windows-gnu` (mingw-w64 links it), ONNX Runtime's Windows
//! build from `tools/fetch_onnxruntime.sh --platform win64` (`onnxruntime.dll` and
//! `onnxruntime_providers_shared.dll`, cached in the repository's `target/onnxruntime-win64/`),
//! in `<target>/bundle-win64/`. With `--gpu directml` it ships ONNX Runtime's DirectML build and
//! `DirectML.dll` instead (`... --platform win64 --gpu directml`), in
//! `<target>/bundle-win64-directml/`; the plugin is the same build, as every Windows build of
//! the engine has DirectML compiled in. The CUDA flavours are Linux x86-64 only, and DirectML is
//! Windows only: other combinations are refused. `--target linux` (or `host`) is the default,
//! the system this runs on.
//!
//! `install` copies `<target>/bundle/` (with `--target` and `--gpu`, that bundle; or `--bundle
//! PATH`) into `--to DIR`, default `~/OFX/Plugins` on Linux and macOS, and on Windows
//! `%CommonProgramFiles%\OFX\Plugins` (`C:\Program Files\Common Files\OFX\Plugins`), the
//! folder every Windows host scans (it takes an administrator). A Windows bundle built on Linux
//! is installed on the Windows machine: without `--to`, `install --target windows` says so.
//!
//! A release build ships the plugin without its debug information, which goes next to the
//! bundle (`Promptreel.ofx.debug/`; for Windows split by mingw-w64's objcopy, `$OBJCOPY_WIN64`);
//! `--debug` builds keep it in the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use promptreel_bundle::{
    Assembled, BUNDLE_NAME, Error, Flavour, GPU_RUNTIME_FILE, GpuManifest, GpuRuntime, Inputs,
    LICENSES_DIR, ORT_LICENSE_FILES, Platform, Result, Target, WINDOWS_INSTALL_DIR, WindowsFlavour,
    assemble_for, assemble_gpu, default_install_dir, disk_size, install, platform,
};

const USAGE: &str = "usage: promptreel-bundle build [--target windows] [--gpu cuda|tensorrt|directml] [--debug] [--no-build] [--model DIR] [--out DIR]
       promptreel-bundle install [--target windows] [--gpu cuda|tensorrt|directml | --bundle PATH] [--to DIR]";

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

/// The bundle `--target` and `--gpu` ask for: the target, and for the host a GPU flavour or
/// none. DirectML is a flavour of the Windows target ([`WindowsFlavour`]); the CUDA flavours
/// exist for Linux x86-64 only.
fn choice(args: &[String]) -> Result<(Target, Option<Flavour>)> {
    let target = value(args, "--target")?
        .map(|name| Target::parse(&name))
        .transpose()?
        .unwrap_or(Target::Host);
    let gpu = value(args, "--gpu")?;
    match (target, gpu.as_deref()) {
        (target, None) => Ok((target, None)),
        (Target::Host, Some("directml")) => Err(Error(
            "--gpu directml is the Windows bundle with ONNX Runtime's DirectML build; add \
             --target windows"
                .into(),
        )),
        (Target::Host, Some(name)) => match Flavour::parse(name) {
            Ok(flavour) => Ok((Target::Host, Some(flavour))),
            Err(e) => Err(Error(format!("{e} (or directml, with --target windows)"))),
        },
        (Target::Windows(_), Some(name)) => {
            if Flavour::parse(name).is_ok() {
                return Err(Error(format!(
                    "the {name} bundle is built for Linux x86-64 only (NVIDIA's CUDA wheels and \
                     onnxruntime-gpu are Linux x86-64 libraries); for Windows use --gpu \
                     directml, or no --gpu for the CPU build"
                )));
            }
            let flavour = WindowsFlavour::parse(name)?;
            Ok((Target::Windows(flavour), None))
        }
    }
}

/// The default output folder of a bundle: `<target>/bundle`, `<target>/bundle-cuda`,
/// `<target>/bundle-win64`, ...
fn default_out_dir(target: Target, flavour: Option<Flavour>) -> PathBuf {
    target_dir().join(flavour.map_or(target.out_dir_name(), Flavour::out_dir_name))
}

/// ONNX Runtime's Windows build of `flavour` with its further libraries, from the fetch script,
/// which does nothing when its cache is complete.
fn windows_ort_library(flavour: WindowsFlavour) -> Result<PathBuf> {
    match flavour {
        WindowsFlavour::Cpu => run_script("fetch_onnxruntime.sh", &["--platform", "win64"]),
        WindowsFlavour::DirectMl => run_script(
            "fetch_onnxruntime.sh",
            &["--platform", "win64", "--gpu", "directml"],
        ),
    }
}

/// The oldest ONNX Runtime 1.x minor version the plug-in loads: the C API level the workspace
/// builds `ort` against, its `api-NN` feature in the workspace's Cargo.toml (read when this tool
/// is compiled, so it follows that pin). The engine refuses an older library at load time.
fn engine_min_ort_minor() -> Option<u32> {
    const WORKSPACE: &str = include_str!("../../Cargo.toml");
    let ort = WORKSPACE.lines().find(|l| l.starts_with("ort ="))?;
    let level = &ort[ort.find("\"api-")? + "\"api-".len()..];
    level[..level.find('"')?].parse().ok()
}

/// A warning when ONNX Runtime `version` (`1.24.4`) is older than the plug-in loads (`min_minor`
/// being [`engine_min_ort_minor`]): such a bundle is complete but its plug-in refuses its runtime.
fn old_runtime_warning(version: &str, min_minor: u32, variable: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    (major == 1 && minor < min_minor).then(|| {
        format!(
            "the bundle's ONNX Runtime is {version}, older than 1.{min_minor}, the oldest the \
             plug-in loads (it is built against ONNX Runtime's C API {min_minor}): the plug-in will \
             refuse it; pin a newer wheel with {variable} when one is published"
        )
    })
}

/// What [`build`] made, and what the summary says about it besides [`Assembled`].
struct Built {
    made: Assembled,
    target: Target,
    /// For a Windows bundle, which ONNX Runtime it ships (`1.32.0, CPU build`).
    ort: Option<String>,
    /// Why the bundle may not work although it is complete.
    warnings: Vec<String>,
}

fn build(args: &[String]) -> Result<Built> {
    let (target, gpu) = choice(args)?;
    // Fetched before the plugin is built, so a download or platform problem shows at once.
    let runtime = gpu.map(gpu_runtime).transpose()?;
    // NOTE: resolved, so that on Windows itself the host's bundle takes the Windows runtime
    // (with its further libraries) rather than the lone DLL target/onnxruntime/ holds there.
    let windows = match target.resolved() {
        Target::Windows(flavour) => Some((flavour, windows_ort_library(flavour)?)),
        Target::Host => None,
    };
    let debug = args.iter().any(|a| a == "--debug");
    let profile = if debug { "debug" } else { "release" };
    // An explicit Windows target is a cross build; the host's bundle is a native one.
    let triple = match target {
        Target::Windows(_) => Some(Target::WINDOWS_TRIPLE),
        Target::Host => None,
    };
    if !args.iter().any(|a| a == "--no-build") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root()).arg("build");
        if let Some(triple) = triple {
            cmd.args(["--target", triple]);
        }
        cmd.args(["-p", "promptreel-ofx", "--lib"]);
        // NOTE: no feature for the DirectML flavour: every Windows build of the engine has
        // DirectML compiled in (onnx/Cargo.toml), so both Windows bundles share one build.
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
    let build_dir = match triple {
        Some(triple) => target_dir().join(triple).join(profile),
        None => target_dir().join(profile),
    };
    let inputs = Inputs {
        plugin: build_dir.join(Platform::for_target(target).cdylib),
        ort_library: match (&runtime, &windows) {
            (Some((ort, _)), _) => ort.clone(),
            (None, Some((_, ort))) => ort.clone(),
            (None, None) => ort_library()?,
        },
        model: path_value(args, "--model")?.unwrap_or_else(default_model),
        out_dir: path_value(args, "--out")?.unwrap_or_else(|| default_out_dir(target, gpu)),
        split_debug_info: !debug,
    };
    let made = match &runtime {
        Some((_, runtime)) => assemble_gpu(&inputs, runtime)?,
        None => assemble_for(&inputs, target)?,
    };
    let mut ort = None;
    let mut warnings = Vec::new();
    if let Some((flavour, library)) = &windows {
        let version_file = library.with_file_name("VERSION");
        let version = std::fs::read_to_string(&version_file)
            .map_err(|e| Error(format!("could not read {}: {e}", version_file.display())))?;
        let version = version.trim();
        let (what, variable) = match flavour {
            WindowsFlavour::Cpu => ("CPU build", "PROMPTREEL_ORT_VERSION"),
            WindowsFlavour::DirectMl => ("DirectML build", "PROMPTREEL_ORT_DIRECTML_VERSION"),
        };
        ort = Some(format!("{version}, {what}"));
        if let Some(min) = engine_min_ort_minor() {
            warnings.extend(old_runtime_warning(version, min, variable));
        }
    }
    Ok(Built {
        made,
        target,
        ort,
        warnings,
    })
}

/// Where `install` puts a bundle of `target` without `--to`: the host's plugin folder
/// ([`default_install_dir`]); a Windows bundle made elsewhere has no folder here to go to.
fn install_dir(target: Target) -> Result<PathBuf> {
    if matches!(target, Target::Windows(_)) && !cfg!(target_os = "windows") {
        return Err(Error(format!(
            "a Windows bundle is installed on the Windows machine: copy {BUNDLE_NAME} into \
             {WINDOWS_INSTALL_DIR} there (or pass --to DIR to copy it somewhere here)"
        )));
    }
    default_install_dir().ok_or_else(|| Error("no home folder; pass --to DIR".into()))
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
fn summary(built: &Built) -> Result<()> {
    let made = &built.made;
    for warning in made.warning.iter().chain(&built.warnings) {
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
    if let Some(what) = &built.ort {
        let name = Platform::for_target(built.target).ort;
        line(
            "ONNX Runtime",
            disk_size(&made.binary.with_file_name(name))?,
            &format!("{name} {what}"),
        );
    }
    if !made.runtime_libraries.is_empty() {
        let names: Vec<_> = made
            .runtime_libraries
            .iter()
            .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
            .collect();
        line(
            "runtime libs",
            total_size(&made.runtime_libraries)?,
            &format!("{} (next to ONNX Runtime)", names.join(", ")),
        );
    }
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
            let (target, gpu) = choice(&args)?;
            let bundle = match path_value(&args, "--bundle")? {
                Some(path) => path,
                None => default_out_dir(target, gpu).join(BUNDLE_NAME),
            };
            let dir = match path_value(&args, "--to")? {
                Some(dir) => dir,
                None => install_dir(target)?,
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn refused(line: &str) -> String {
        choice(&args(line)).expect_err(line).to_string()
    }

    #[test]
    fn target_and_gpu_choose_the_bundle() {
        let cases = [
            ("", Target::Host, None),
            ("--target linux", Target::Host, None),
            ("--gpu cuda", Target::Host, Some(Flavour::Cuda)),
            (
                "--target host --gpu tensorrt",
                Target::Host,
                Some(Flavour::TensorRt),
            ),
            (
                "--target windows",
                Target::Windows(WindowsFlavour::Cpu),
                None,
            ),
            (
                "--gpu directml --target windows",
                Target::Windows(WindowsFlavour::DirectMl),
                None,
            ),
        ];
        for (line, target, gpu) in cases {
            assert_eq!(choice(&args(line)).expect(line), (target, gpu), "{line}");
        }
        assert_eq!(
            default_out_dir(Target::Windows(WindowsFlavour::DirectMl), None),
            target_dir().join("bundle-win64-directml")
        );
        assert_eq!(
            default_out_dir(Target::Host, Some(Flavour::Cuda)),
            target_dir().join("bundle-cuda")
        );
    }

    #[test]
    fn impossible_combinations_are_refused_in_a_sentence() {
        let e = refused("--gpu directml");
        assert!(e.contains("--target windows"), "{e}");
        for gpu in ["cuda", "tensorrt"] {
            let e = refused(&format!("--target windows --gpu {gpu}"));
            assert!(
                e.contains("Linux x86-64 only") && e.contains("directml"),
                "{e}"
            );
        }
        let e = refused("--target windows --gpu rocm");
        assert!(e.contains("\"rocm\"") && e.contains("directml"), "{e}");
        let e = refused("--gpu rocm");
        assert!(
            e.contains("cuda or tensorrt") && e.contains("directml"),
            "{e}"
        );
        let e = refused("--target macos");
        assert!(e.contains("\"macos\"") && e.contains("windows"), "{e}");
        let e = refused("--target");
        assert!(e.contains("--target needs a value"), "{e}");
    }

    #[test]
    fn a_windows_bundle_made_here_is_not_installed_here_by_default() {
        if cfg!(target_os = "windows") {
            return;
        }
        let e = install_dir(Target::Windows(WindowsFlavour::Cpu))
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains(BUNDLE_NAME) && e.contains(WINDOWS_INSTALL_DIR) && e.contains("--to"),
            "{e}"
        );
    }

    #[test]
    fn an_older_runtime_than_the_engine_loads_is_warned_about() {
        let min = engine_min_ort_minor().expect("the workspace's ort api-NN feature");
        assert!(min >= 20, "{min}");
        let w = old_runtime_warning("1.24.4", 31, "PROMPTREEL_ORT_DIRECTML_VERSION")
            .expect("a warning");
        assert!(
            w.contains("1.24.4") && w.contains("1.31") && w.contains("PROMPTREEL_ORT_DIRECTML"),
            "{w}"
        );
        for fine in ["1.31.0", "1.32.0", "2.0.0", "not a version"] {
            assert_eq!(old_runtime_warning(fine, 31, "X"), None, "{fine}");
        }
    }
}
