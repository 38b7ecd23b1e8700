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

/// Runs `code` with `tools/` on the import path; returns stdout (panics on failure).
fn python(code: &str) -> String {
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools");
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .env("PYTHONPATH", &tools)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_memory_section_is_derived_from_the_configs_and_matches_the_shipped_model() {
    // The default model's architecture (tools/default_model/train.py) through the exporter's
    // derivation gives exactly the section its manifest ships.
    let derived = python(
        "import json; from promptreel_export.memory import memory_profile; print(json.dumps(\
         memory_profile('PromptreelVideoTransformer', {'patch_size': 2, 'dim': 160, 'heads': 4, \
         'mlp_ratio': 4.0}, {'block_out_channels': [16, 32, 32]})))",
    );
    let derived: serde_json::Value = serde_json::from_str(derived.trim()).expect("JSON");
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default/promptreel.json");
    let shipped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).expect("manifest")).expect("JSON");
    assert_eq!(shipped["memory"], derived);

    // A ModelScope-shaped UNet3D: its blocks read attention_head_dim as the head width (320
    // channels = 5 heads of 64), every site is fused, and the largest attention is the
    // full-resolution one, spatial and temporal.
    let unet3d = python(
        "import json; from promptreel_export.memory import memory_profile; print(json.dumps(\
         memory_profile('UNet3DConditionModel', {'block_out_channels': [320, 640, 1280, 1280], \
         'attention_head_dim': 64, 'down_block_types': ['CrossAttnDownBlock3D'] * 3 + \
         ['DownBlock3D'], 'up_block_types': ['UpBlock3D'] + ['CrossAttnUpBlock3D'] * 3}, \
         {'block_out_channels': [128, 256, 512, 512]})))",
    );
    let unet3d: serde_json::Value = serde_json::from_str(unet3d.trim()).expect("JSON");
    let sites = unet3d["denoiser"]["attention"].as_array().expect("sites");
    for span in ["frame", "time"] {
        assert!(
            sites.iter().any(|s| s["span"] == span
                && s["downsample"] == 1
                && s["heads"] == 5
                && s["head_dim"] == 64
                && s.get("keys").is_none()),
            "{span} attention at full resolution missing: {sites:?}"
        );
    }
    assert!(sites.iter().any(|s| s["keys"] == "text"));
    assert!(sites.iter().all(|s| s["fused"] == true), "{sites:?}");
    // the temporal transformer on the input features: 8 heads of attention_head_dim
    assert!(
        sites
            .iter()
            .any(|s| s["span"] == "time" && s["heads"] == 8 && s["head_dim"] == 64),
        "{sites:?}"
    );
    assert!(
        sites.iter().all(|s| s["downsample"].as_u64() <= Some(8)),
        "{sites:?}"
    );
}

/// A WanPipeline folder with config files only (enough for the exporter's checks).
fn wan_folder(tag: &str, text_dim: u32, d_model: u32, skip: &[&str]) -> PathBuf {
    let dir = pipeline_folder(
        tag,
        r#"{"_class_name": "WanPipeline",
            "tokenizer": ["transformers", "T5TokenizerFast"],
            "text_encoder": ["transformers", "UMT5EncoderModel"],
            "transformer": ["diffusers", "WanTransformer3DModel"],
            "transformer_2": [null, null],
            "vae": ["diffusers", "AutoencoderKLWan"],
            "scheduler": ["diffusers", "UniPCMultistepScheduler"]}"#,
    );
    let configs = [
        ("tokenizer", "tokenizer_config.json", "{}".to_string()),
        (
            "text_encoder",
            "config.json",
            format!(r#"{{"d_model": {d_model}}}"#),
        ),
        (
            "transformer",
            "config.json",
            format!(r#"{{"text_dim": {text_dim}, "in_channels": 16}}"#),
        ),
        ("vae", "config.json", r#"{"z_dim": 16}"#.to_string()),
    ];
    for (sub, file, text) in configs {
        if skip.contains(&sub) {
            continue;
        }
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        std::fs::write(dir.join(sub).join(file), text).expect("write config");
    }
    dir
}

#[test]
fn wan_folders_missing_a_part_or_mismatched_are_refused_by_name() {
    for (part, needle) in [("vae", "'vae'"), ("tokenizer", "'tokenizer'")] {
        let dir = wan_folder(&format!("wan-no-{part}"), 32, 32, &[part]);
        let out = dir.join("package");
        let (code, err) = export(&dir, &out);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(needle) && err.contains("WanPipeline") && err.contains("needs"),
            "{part}: {err}"
        );
        assert!(!out.exists());
    }
    let dir = wan_folder("wan-dims", 64, 32, &[]);
    let out = dir.join("package");
    let (code, err) = export(&dir, &out);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("text_dim 64") && err.contains("d_model 32"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bf16_is_refused_with_the_reason_and_the_alternative() {
    let dir = wan_folder("wan-bf16", 32, 32, &[]);
    let out = dir.join("package");
    let output = Command::new("python3")
        .arg(exporter())
        .arg(&dir)
        .arg(&out)
        .arg("--bf16")
        .output()
        .expect("python3 runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("bfloat16") && err.contains("--fp16"), "{err}");
    assert!(!out.exists());
}

/// An LTX-Video folder with config files only (enough for the exporter's checks). `transformer`
/// and `vae` are extra JSON fields for those configs.
fn ltx_folder(tag: &str, pipeline: &str, skip: &[&str], transformer: &str, vae: &str) -> PathBuf {
    let dir = pipeline_folder(
        tag,
        &format!(
            r#"{{"_class_name": "{pipeline}",
                "tokenizer": ["transformers", "T5TokenizerFast"],
                "text_encoder": ["transformers", "T5EncoderModel"],
                "transformer": ["diffusers", "LTXVideoTransformer3DModel"],
                "vae": ["diffusers", "AutoencoderKLLTXVideo"],
                "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}}"#
        ),
    );
    let configs = [
        ("tokenizer", "tokenizer_config.json", "{}".to_string()),
        (
            "text_encoder",
            "config.json",
            r#"{"d_model": 32}"#.to_string(),
        ),
        (
            "transformer",
            "config.json",
            format!(
                r#"{{"caption_channels": 32, "in_channels": 8, "out_channels": 8, "patch_size": 1,
                     "patch_size_t": 1{transformer}}}"#
            ),
        ),
        (
            "vae",
            "config.json",
            format!(r#"{{"latent_channels": 8, "timestep_conditioning": true{vae}}}"#),
        ),
        (
            "scheduler",
            "scheduler_config.json",
            r#"{"_class_name": "FlowMatchEulerDiscreteScheduler"}"#.to_string(),
        ),
    ];
    for (sub, file, text) in configs {
        if skip.contains(&sub) {
            continue;
        }
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        std::fs::write(dir.join(sub).join(file), text).expect("write config");
    }
    dir
}

/// Runs the exporter with extra flags; returns (exit code, stderr).
fn export_with(folder: &Path, out: &Path, flags: &[&str]) -> (i32, String) {
    let output = Command::new("python3")
        .arg(exporter())
        .arg(folder)
        .arg(out)
        .args(flags)
        .output()
        .expect("python3 runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn ltx_folders_missing_a_part_or_mismatched_are_refused_by_name() {
    for (part, pipeline) in [
        ("vae", "LTXPipeline"),
        ("tokenizer", "LTXImageToVideoPipeline"),
        ("scheduler", "LTXConditionPipeline"),
        ("text_encoder", "LTXPipeline"),
        ("transformer", "LTXPipeline"),
    ] {
        let dir = ltx_folder(&format!("ltx-no-{part}"), pipeline, &[part], "", "");
        let out = dir.join("package");
        let (code, err) = export(&dir, &out);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("'{part}'")) && err.contains(pipeline) && err.contains("needs"),
            "{part}: {err}"
        );
        assert!(!out.exists());
    }
    let cases = [
        (
            r#", "caption_channels": 64"#,
            "",
            &["caption_channels 64", "d_model 32"][..],
        ),
        (
            r#", "in_channels": 16"#,
            "",
            &["in_channels 16", "latent_channels 8"][..],
        ),
        (
            r#", "out_channels": 4"#,
            "",
            &["out_channels 4", "latent_channels 8"][..],
        ),
        (r#", "patch_size": 2"#, "", &["patch_size 2", "1x1"][..]),
        (r#", "patch_size_t": 2"#, "", &["patch_size_t 2", "1x1"][..]),
        (
            "",
            r#", "decoder_inject_noise": [true, true, true, false]"#,
            &["decoder_inject_noise", "0.9.5"][..],
        ),
    ];
    for (i, (transformer, vae, needles)) in cases.iter().enumerate() {
        let dir = ltx_folder(
            &format!("ltx-mismatch-{i}"),
            "LTXPipeline",
            &[],
            transformer,
            vae,
        );
        let out = dir.join("package");
        let (code, err) = export(&dir, &out);
        assert_eq!(code, 2, "{err}");
        for needle in *needles {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(!out.exists());
    }
}

#[test]
fn ltx_options_that_do_not_apply_are_refused_in_words() {
    let dir = ltx_folder("ltx-fp16", "LTXPipeline", &[], "", "");
    // --fp16 applies (the T5 text encoder in float16): it passes the option checks and the
    // export stops only at the existing package folder, before torch is needed
    std::fs::create_dir_all(dir.join("package")).expect("package dir");
    let (code, err) = export_with(&dir, &dir.join("package"), &["--fp16"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already exists") && !err.contains("--fp16"),
        "{err}"
    );
    std::fs::remove_dir_all(dir.join("package")).expect("remove package dir");

    let (code, err) = export_with(&dir, &dir.join("package"), &["--bf16"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bfloat16"), "{err}");

    // LTX-Video 0.9.0's VAE takes no timestep: the decode settings do not apply
    let plain = ltx_folder(
        "ltx-no-tcond",
        "LTXPipeline",
        &[],
        "",
        r#", "timestep_conditioning": false"#,
    );
    for flag in ["--decode-timestep", "--decode-noise-scale"] {
        let (code, err) = export_with(&plain, &plain.join("package"), &[flag, "0.05"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(flag) && err.contains("timestep_conditioning"),
            "{err}"
        );
        assert!(!plain.join("package").exists());
    }

    // ... nor to other families
    let wan = wan_folder("wan-decode-timestep", 32, 32, &[]);
    let (code, err) = export_with(&wan, &wan.join("package"), &["--decode-timestep", "0.05"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("LTX-Video"), "{err}");
}

#[test]
fn every_ltx_pipeline_class_is_accepted_as_family_ltx() {
    // The three pipelines share their parts; --check reads the configs only (no torch here).
    for pipeline in [
        "LTXPipeline",
        "LTXImageToVideoPipeline",
        "LTXConditionPipeline",
    ] {
        let dir = ltx_folder(&format!("ltx-check-{pipeline}"), pipeline, &[], "", "");
        let output = Command::new("python3")
            .arg(exporter())
            .arg(&dir)
            .arg("--check")
            .output()
            .expect("python3 runs");
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{pipeline}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            out.contains(pipeline) && out.contains("'family': 'ltx'"),
            "{pipeline}: {out}"
        );
    }
}
