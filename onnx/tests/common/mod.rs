//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptreel_engine::{Device, Model, SessionOptions, registry};

/// `onnx/tests/data`.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// CPU sessions with a fixed thread count, so results do not depend on the machine.
pub fn cpu(threads: usize) -> SessionOptions {
    SessionOptions {
        device: Device::Cpu,
        intra_threads: threads,
        ..Default::default()
    }
}

/// A fixture model from the shared registry.
pub fn model(name: &str) -> Arc<Model> {
    registry::get(&data().join(name), cpu(1), None)
        .unwrap_or_else(|e| panic!("loading {name}: {e:?}"))
}

/// A fresh copy of fixture package `name` in a temp folder, to damage in a test.
pub fn copy_package(name: &str, tag: &str) -> PathBuf {
    let dst = std::env::temp_dir().join(format!("promptreel-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    copy_dir(&data().join(name), &dst);
    dst
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

/// The recorded cases under `root`: every folder holding a `case.json`, sorted by name.
pub fn case_dirs(root: &Path) -> Vec<PathBuf> {
    dirs_holding(root, "case.json")
}

/// Every folder under `root` holding a file named `marker`, sorted by name.
pub fn dirs_holding(root: &Path, marker: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(marker).is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
