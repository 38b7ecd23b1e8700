//! `promptreel-bundle`: build and install `Promptreel.ofx.bundle`.
//!
//! ```text
//! cargo run -p promptreel-bundle -- build [--debug] [--no-build] [--model DIR] [--out DIR]
//! cargo run -p promptreel-bundle -- install [--to DIR]     (default ~/OFX/Plugins)
//! ```
//!
//! A release build ships the plugin without its debug information, which goes next to the
//! bundle (`Promptreel.ofx.debug/`); `--debug` builds keep it in the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use promptreel_bundle::{
    Assembled, BUNDLE_NAME, Error, Inputs, Result, assemble, default_install_dir, disk_size,
    install, platform,
};

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

fn ort_library() -> Result<PathBuf> {
    let lib = target_dir().join("onnxruntime").join(platform().ort);
    if !lib.is_file() {
        let status = Command::new("bash")
            .arg(repo_root().join("tools/fetch_onnxruntime.sh"))
            .status()
            .map_err(|e| Error(format!("could not run tools/fetch_onnxruntime.sh: {e}")))?;
        if !status.success() {
            return Err(Error("tools/fetch_onnxruntime.sh failed".into()));
        }
    }
    Ok(lib)
}

fn value(args: &[String], flag: &str) -> Option<PathBuf> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}

fn build(args: &[String]) -> Result<Assembled> {
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
        ort_library: ort_library()?,
        model: value(args, "--model").unwrap_or_else(default_model),
        out_dir: value(args, "--out").unwrap_or_else(|| target_dir().join("bundle")),
        split_debug_info: !debug,
    };
    assemble(&inputs)
}

/// `bytes` in MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Prints where the bundle is and what it weighs.
fn summary(made: &Assembled) -> Result<()> {
    if let Some(warning) = &made.warning {
        eprintln!("promptreel-bundle: warning: {warning}");
    }
    println!("{}", made.bundle.display());
    println!("  bundle      {:>9}  in all", mib(disk_size(&made.bundle)?));
    let inside = made
        .binary
        .strip_prefix(&made.bundle)
        .unwrap_or(&made.binary);
    let how = if made.debug_file.is_some() {
        "without debug information"
    } else {
        "as built"
    };
    println!(
        "  plug-in     {:>9}  {} ({how})",
        mib(disk_size(&made.binary)?),
        inside.display()
    );
    if let Some(debug) = &made.debug_file {
        println!(
            "  debug info  {:>9}  {} (not part of the bundle; keep it for crash reports)",
            mib(disk_size(debug)?),
            debug.display()
        );
    }
    Ok(())
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") => summary(&build(&args[1..])?),
        Some("install") => {
            let bundle = value(&args, "--bundle").unwrap_or_else(|| target_dir().join("bundle").join(BUNDLE_NAME));
            let dir = value(&args, "--to")
                .or_else(default_install_dir)
                .ok_or_else(|| Error("no home folder; pass --to DIR".into()))?;
            let path = install(&bundle, &dir)?;
            println!("installed {}", path.display());
            Ok(())
        }
        _ => Err(Error(
            "usage: promptreel-bundle build [--debug] [--no-build] [--model DIR] [--out DIR]\n       promptreel-bundle install [--bundle PATH] [--to DIR]".into(),
        )),
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
