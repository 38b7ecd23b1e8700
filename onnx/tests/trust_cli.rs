//! The CLI writes only what it is asked to (no telemetry files in the user's home) and refuses
//! a generation that cannot fit in memory with a sentence, before generating.

use std::path::{Path, PathBuf};
use std::process::Command;

fn default_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default")
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("trust-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `promptreel` with a fresh HOME and without the variables that make ONNX Runtime skip its
/// telemetry by itself (it stays quiet on CI machines).
fn promptreel(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptreel"));
    cmd.env("HOME", home);
    for v in [
        "XDG_CACHE_HOME",
        "CI",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "TF_BUILD",
        "CIRCLECI",
        "ORT_DISABLE_TELEMETRY",
        "PROMPTREEL_MEMORY_LIMIT_MB",
        "PROMPTREEL_MODEL",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

/// `promptreel generate` of the default prompt with the default model into `out`, plus `extra`.
fn generate(cmd: &mut Command, out: &Path, extra: &[&str]) -> std::process::Output {
    cmd.args(["generate", "--prompt", "a red ball moving right"])
        .args(extra)
        .arg("--model")
        .arg(default_model())
        .arg("--out")
        .arg(out)
        .output()
        .expect("run promptreel")
}

#[test]
fn a_generation_writes_nothing_into_the_home_folder() {
    let home = temp_dir("home");
    let out = temp_dir("out");
    let run = generate(&mut promptreel(&home), &out, &["--steps", "2"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!files_under(&out).is_empty(), "no frames written");
    let written = files_under(&home);
    assert!(
        written.is_empty(),
        "files written into HOME (ONNX Runtime telemetry?): {written:?}"
    );
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_thousand_frames_are_refused_before_generating() {
    let home = temp_dir("refuse");
    let out = home.join("clip");
    let started = std::time::Instant::now();
    let run = generate(
        promptreel(&home).env("PROMPTREEL_MEMORY_LIMIT_MB", "256"),
        &out,
        &["--frames", "1024"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(7),
        "memory refusals exit with 7: {stderr}"
    );
    assert!(
        stderr.contains("lower Frames from 1024 to") && stderr.contains("256 MiB"),
        "{stderr}"
    );
    assert!(
        !out.exists(),
        "a refused generation created its output folder"
    );
    assert!(
        started.elapsed().as_secs() < 20,
        "refusing took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&home);
}
