//! tools/export.py refuses what it cannot export, before touching torch or the weights: the
//! message names what it found and what it supports, the exit status is 2, and no package
//! folder is left behind. (Exports themselves need torch, which CI does not install; the default
//! model in bundle/models/default is the exporter's output, checked by default_model.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn exporter() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/export.py")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("promptreel-export-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the exporter on `folder` into `out`; returns (exit code, stderr).
fn export(folder: &Path, out: &Path) -> (i32, String) {
    let output = Command::new("python3")
        .arg(exporter())
        .arg(folder)
        .arg(out)
        .output()
        .expect("python3 runs (the README assumes a machine with Python 3)");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn pipeline_folder(tag: &str, index: &str) -> PathBuf {
    let dir = scratch(tag);
    std::fs::write(dir.join("model_index.json"), index).expect("write index");
    dir
}

#[test]
fn an_unsupported_pipeline_class_is_refused_by_name() {
    let dir = pipeline_folder(
        "svd",
        r#"{"_class_name": "StableVideoDiffusionPipeline",
            "unet": ["diffusers", "UNetSpatioTemporalConditionModel"]}"#,
    );
    let out = dir.join("package");
    let (code, err) = export(&dir, &out);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("StableVideoDiffusionPipeline"), "{err}");
    assert!(
        err.contains("TextToVideoSDPipeline") && err.contains("StableDiffusionPipeline"),
        "{err}"
    );
    assert!(!out.exists(), "no package is written");
}

#[test]
fn an_unsupported_denoiser_class_is_refused_by_name() {
    let dir = pipeline_folder(
        "motion",
        r#"{"_class_name": "TextToVideoSDPipeline",
            "unet": ["diffusers", "UNetMotionModel"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "vae": ["diffusers", "AutoencoderKL"]}"#,
    );
    let (code, err) = export(&dir, &dir.join("package"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("UNetMotionModel"), "{err}");
    assert!(
        err.contains("UNet3DConditionModel") && err.contains("PromptreelVideoTransformer"),
        "{err}"
    );
}

#[test]
fn a_folder_without_model_index_is_refused() {
    let dir = scratch("empty");
    let (code, err) = export(&dir, &dir.join("package"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("model_index.json"), "{err}");
}

#[test]
fn an_existing_package_is_not_overwritten_without_force() {
    let dir = pipeline_folder(
        "exists",
        r#"{"_class_name": "StableDiffusionPipeline",
            "unet": ["diffusers", "UNet2DConditionModel"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "vae": ["diffusers", "AutoencoderKL"]}"#,
    );
    let out = dir.join("package");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("keep.txt"), "precious").expect("write");
    let (code, err) = export(&dir, &out);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).expect("still there"),
        "precious"
    );
}
