//! The Windows build of the command-line renderer, run under Wine: it renders the default prompt
//! with the bundled model to the same bytes as this Linux build, and asking it for DirectML
//! where Direct3D 12 cannot run is a sentence and exit status 4, not a crash.
//!
//! Both builds run the same pinned ONNX Runtime version (the Linux library and the `win_amd64`
//! wheel's `onnxruntime.dll`) on the same CPU, and the engine's own arithmetic (schedulers,
//! noise, colour conversion) is the same Rust code, so every PNG must match byte for byte.
//!
//! Run by the Windows lane of `tools/test.sh` (`tools/test_windows.sh`), which sets
//! `PROMPTREEL_WINE` (the Wine loader) and `PROMPTREEL_WINE_PREFIX` (its prefix, with the test
//! shim for `bcryptprimitives.dll`); without them these tests say so and pass. The Windows CLI
//! is `target/x86_64-pc-windows-gnu/debug/promptreel.exe` or `$PROMPTREEL_WIN64_CLI`.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Wine loader and prefix of the Windows lane, or `None` (with a note) outside it.
fn lane() -> Option<(PathBuf, PathBuf)> {
    match (
        std::env::var_os("PROMPTREEL_WINE"),
        std::env::var_os("PROMPTREEL_WINE_PREFIX"),
    ) {
        (Some(wine), Some(prefix)) => Some((wine.into(), prefix.into())),
        _ => {
            eprintln!(
                "skipped: not in the Windows lane (bash tools/test_windows.sh sets \
                 PROMPTREEL_WINE and PROMPTREEL_WINE_PREFIX)"
            );
            None
        }
    }
}

/// A file that must exist, with the command that makes it.
fn required(path: PathBuf, make: &str) -> PathBuf {
    assert!(path.is_file(), "missing {}: {make}", path.display());
    path
}

fn windows_cli() -> PathBuf {
    std::env::var_os("PROMPTREEL_WIN64_CLI")
        .map(PathBuf::from)
        .map(|p| required(p, "PROMPTREEL_WIN64_CLI names no file"))
        .unwrap_or_else(|| {
            required(
                workspace().join("target/x86_64-pc-windows-gnu/debug/promptreel.exe"),
                "cargo build --target x86_64-pc-windows-gnu -p promptreel-engine --bin promptreel",
            )
        })
}

/// The pinned `onnxruntime.dll` of a `tools/fetch_onnxruntime.sh --platform win64` cache.
fn windows_runtime(folder: &str, fetch: &str) -> PathBuf {
    required(
        workspace()
            .join("target")
            .join(folder)
            .join("onnxruntime.dll"),
        &format!("bash tools/fetch_onnxruntime.sh {fetch}"),
    )
}

/// `path` as a Windows program under Wine names it: the prefix maps drive Z: to `/`.
fn wine_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).expect("absolute path");
    format!("Z:{}", absolute.display()).replace('/', "\\")
}

/// Runs the Windows CLI under Wine with `args`.
fn run_windows(wine: &Path, prefix: &Path, args: &[String]) -> Output {
    Command::new(wine)
        .arg(windows_cli())
        .args(args)
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("PROMPTREEL_ORT_LIB")
        .env_remove("PROMPTREEL_MODEL")
        .output()
        .expect("start Wine")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh folder under cargo's temporary folder.
fn fresh(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("windows-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create");
    dir
}

/// The files of `dir` that a render writes (frames and preview), by name.
fn rendered(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("list the output")
        .map(|e| e.expect("entry"))
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".png") || name.ends_with(".gif")
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

/// The README's default prompt, with the bundled model, seed 1 and 20 steps, as `tools/demo.sh`
/// renders it.
const PROMPT: &str = "a red ball moving right on a black background";

#[test]
fn the_windows_cli_renders_the_default_prompt_bit_identically() {
    let Some((wine, prefix)) = lane() else {
        return;
    };
    let model = workspace().join("bundle/models/default");
    let common = |out: &Path, model: String| -> Vec<String> {
        [
            "generate", "--model", &model, "--prompt", PROMPT, "--steps", "20", "--seed", "1",
            "--device", "cpu", "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let linux_out = fresh("linux");
    let linux = Command::new(env!("CARGO_BIN_EXE_promptreel"))
        .args(common(&linux_out, model.display().to_string()))
        .output()
        .expect("run the Linux CLI");
    assert!(linux.status.success(), "{}", text(&linux));

    let windows_out = fresh("windows");
    let mut args = common(Path::new(&wine_path(&windows_out)), wine_path(&model));
    args.extend([
        "--ort-lib".to_string(),
        wine_path(&windows_runtime("onnxruntime-win64", "--platform win64")),
    ]);
    let windows = run_windows(&wine, &prefix, &args);
    assert!(windows.status.success(), "{}", text(&windows));

    let (a, b) = (rendered(&linux_out), rendered(&windows_out));
    assert!(
        a.iter().filter(|(n, _)| n.ends_with(".png")).count() >= 8,
        "the Linux CLI wrote {:?}",
        a.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert_eq!(
        a.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        b.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "the two builds wrote different files"
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs between the Linux and the Windows build"
        );
    }
    eprintln!("{} files byte-identical", a.len());
    let _ = std::fs::remove_dir_all(&linux_out);
    let _ = std::fs::remove_dir_all(&windows_out);
}

#[test]
fn asking_the_windows_cli_for_directml_without_direct3d_12_is_a_sentence() {
    let Some((wine, prefix)) = lane() else {
        return;
    };
    let out_dir = fresh("directml");
    let args: Vec<String> = [
        "generate".to_string(),
        "--model".into(),
        wine_path(&workspace().join("bundle/models/default")),
        "--prompt".into(),
        PROMPT.into(),
        "--steps".into(),
        "2".into(),
        "--device".into(),
        "directml".into(),
        "--ort-lib".into(),
        wine_path(&windows_runtime(
            "onnxruntime-directml",
            "--platform win64 --gpu directml",
        )),
        "--out".into(),
        wine_path(&out_dir),
    ]
    .into();
    let out = run_windows(&wine, &prefix, &args);
    let all = text(&out);
    // 4: a runtime or device error (the CLI's documented exit statuses); a crash under Wine
    // exits with an NTSTATUS or a signal instead.
    assert_eq!(out.status.code(), Some(4), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("directml") && stderr.contains("cpu"),
        "the error should name DirectML and the way out (the CPU): {all}"
    );
    assert!(
        !stderr.contains("panicked"),
        "a panic is not an error message: {all}"
    );
    assert!(rendered(&out_dir).is_empty(), "frames were written: {all}");
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn without_the_visual_cpp_runtime_the_windows_cli_says_what_to_install() {
    let Some((wine, prefix)) = lane() else {
        return;
    };
    // Wine's own MSVCP140.dll and VCRUNTIME140_1.dll stand in for Microsoft's; disabling them
    // is a Windows machine without the Visual C++ Redistributable, which onnxruntime.dll imports.
    let out = Command::new(&wine)
        .arg(windows_cli())
        .args(["devices", "--ort-lib"])
        .arg(wine_path(&windows_runtime(
            "onnxruntime-win64",
            "--platform win64",
        )))
        .env("WINEPREFIX", &prefix)
        .env("WINEDEBUG", "-all")
        .env(
            "WINEDLLOVERRIDES",
            "mscoree,mshtml=;msvcp140,vcruntime140_1=d",
        )
        .output()
        .expect("start Wine");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("onnxruntime.dll") && stderr.contains("Visual C++"),
        "the error should name the library and the runtime to install: {all}"
    );
}
