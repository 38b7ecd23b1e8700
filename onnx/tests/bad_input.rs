//! Bad input of every kind gives a typed error whose message names the file or value and the
//! fix; nothing panics.

mod common;

use std::fs;
use std::path::Path;

use promptreel_engine::{
    ErrorKind, GenerateRequest, ModelPackage, Silent, TensorF32, generate, registry,
};

fn open_err(dir: &Path) -> (ErrorKind, String) {
    let e = ModelPackage::open(dir).expect_err("package should be refused");
    (e.kind(), e.to_string())
}

fn gen_err(req: GenerateRequest) -> (ErrorKind, String) {
    let model = common::model("tiny-unet3d");
    let e = generate(&model, &req, &mut Silent).expect_err("request should be refused");
    (e.kind(), e.to_string())
}

fn small(prompt: &str) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.into(),
        steps: 1,
        frames: Some(2),
        width: Some(16),
        height: Some(16),
        ..Default::default()
    }
}

#[test]
fn missing_folder_and_missing_files_are_named() {
    let (kind, msg) = open_err(Path::new("/nonexistent/promptreel-model"));
    assert_eq!(kind, ErrorKind::Package);
    assert!(msg.contains("/nonexistent/promptreel-model"), "{msg}");

    let dir = common::copy_package("tiny-unet3d", "nomanifest");
    fs::remove_file(dir.join("promptreel.json")).expect("rm");
    let (_, msg) = open_err(&dir);
    assert!(
        msg.contains("promptreel.json") && msg.contains("export"),
        "{msg}"
    );

    let dir = common::copy_package("tiny-unet3d", "nounet");
    fs::remove_file(dir.join("unet/model.onnx")).expect("rm");
    let (kind, msg) = open_err(&dir);
    assert_eq!(kind, ErrorKind::Package);
    assert!(
        msg.contains("unet/model.onnx") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn truncated_and_corrupt_graphs_are_refused_before_onnx_runtime() {
    let dir = common::copy_package("tiny-unet3d", "truncated");
    let path = dir.join("unet/model.onnx");
    let bytes = fs::read(&path).expect("read");
    fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let (kind, msg) = open_err(&dir);
    assert_eq!(kind, ErrorKind::Package);
    assert!(
        msg.contains("unet/model.onnx") && msg.contains("truncated or corrupt"),
        "{msg}"
    );

    let dir = common::copy_package("tiny-unet3d", "garbage");
    fs::write(
        dir.join("vae_decoder/model.onnx"),
        b"this is not a protobuf at all",
    )
    .expect("write");
    let (_, msg) = open_err(&dir);
    assert!(msg.contains("vae_decoder/model.onnx"), "{msg}");
}

#[test]
fn manifest_mistakes_are_refused_by_name() {
    let cases = [
        ("\"family\": \"unet3d\"", "\"family\": \"ltx\"", "ltx"),
        (
            "\"format\": 1,",
            "\"format\": 1, \"colour\": \"red\",",
            "colour",
        ),
        (
            "\"latent_channels\": 4",
            "\"latent_channels\": 0",
            "latent_channels",
        ),
    ];
    for (i, (from, to, needle)) in cases.iter().enumerate() {
        let dir = common::copy_package("tiny-unet3d", &format!("manifest{i}"));
        let path = dir.join("promptreel.json");
        let text = fs::read_to_string(&path).expect("read").replace(from, to);
        fs::write(&path, text).expect("write");
        let (kind, msg) = open_err(&dir);
        assert_eq!(kind, ErrorKind::Package, "{msg}");
        assert!(
            msg.contains(needle) && msg.contains("promptreel.json"),
            "{needle}: {msg}"
        );
    }
}

#[test]
fn wrong_tensor_names_ranks_and_family_are_caught_when_sessions_load() {
    // A tensor name the graph does not have.
    let dir = common::copy_package("tiny-unet3d", "names");
    let path = dir.join("promptreel.json");
    let text = fs::read_to_string(&path)
        .expect("read")
        .replace("\"out_sample\"", "\"noise_pred\"");
    fs::write(&path, text).expect("write");
    let model = registry::get(&dir, common::cpu(1), None).expect("static checks pass");
    let e = model.load_all().expect_err("name check");
    assert_eq!(e.kind(), ErrorKind::Package);
    assert!(
        e.to_string().contains("noise_pred") && e.to_string().contains("out_sample"),
        "{e}"
    );

    // An sd denoiser declared as unet3d: rank 4 where 5 is needed.
    let dir = common::copy_package("tiny-sd", "family");
    let path = dir.join("promptreel.json");
    let text = fs::read_to_string(&path)
        .expect("read")
        .replace("\"family\": \"sd\"", "\"family\": \"unet3d\"");
    fs::write(&path, text).expect("write");
    let model = registry::get(&dir, common::cpu(1), None).expect("static checks pass");
    let e = model.load_all().expect_err("rank check");
    assert!(
        e.to_string().contains("rank 4") && e.to_string().contains("rank 5"),
        "{e}"
    );

    // A timestep dtype that disagrees with the graph.
    let dir = common::copy_package("tiny-unet3d", "tsdtype");
    let path = dir.join("promptreel.json");
    let text = fs::read_to_string(&path).expect("read").replace(
        "\"timestep_dtype\": \"float32\"",
        "\"timestep_dtype\": \"int64\"",
    );
    fs::write(&path, text).expect("write");
    let model = registry::get(&dir, common::cpu(1), None).expect("static checks pass");
    let e = model.load_all().expect_err("dtype check");
    assert!(e.to_string().contains("timestep_dtype"), "{e}");
}

#[test]
fn sidecar_escaping_the_folder_is_refused_and_one_inside_works() {
    // The committed external-data package runs and matches the inline one.
    let inside = common::model("tiny-sd-external");
    let inline = common::model("tiny-sd");
    let req = GenerateRequest {
        prompt: "a fox".into(),
        steps: 2,
        seed: 3,
        ..Default::default()
    };
    let a = generate(&inside, &req, &mut Silent).expect("external data works");
    let b = generate(&inline, &req, &mut Silent).expect("inline works");
    assert!(common::max_abs_diff(&a.frames, &b.frames) < 1e-6);

    // Rewrite the recorded location to climb out of the package.
    let dir = common::copy_package("tiny-sd-external", "escape");
    let graph = dir.join("vae_decoder/model.onnx");
    let bytes = fs::read(&graph).expect("read");
    let from = b"model.onnx_data";
    let to = b"../../etc/passw";
    assert_eq!(from.len(), to.len());
    let pos = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("location recorded");
    let mut patched = bytes.clone();
    patched[pos..pos + to.len()].copy_from_slice(to);
    fs::write(&graph, patched).expect("write");
    let (kind, msg) = open_err(&dir);
    assert_eq!(kind, ErrorKind::Package);
    assert!(
        msg.contains("outside the model folder") && msg.contains("../../etc/passw"),
        "{msg}"
    );
}

#[test]
fn sizes_not_divisible_by_the_vae_factor_name_the_value_and_a_fix() {
    let (kind, msg) = gen_err(GenerateRequest {
        width: Some(30),
        ..small("x")
    });
    assert_eq!(kind, ErrorKind::InvalidSetting);
    assert!(
        msg.contains("width 30") && msg.contains("24 or 32"),
        "{msg}"
    );
    let (_, msg) = gen_err(GenerateRequest {
        height: Some(0),
        ..small("x")
    });
    assert!(msg.contains("height 0"), "{msg}");
}

#[test]
fn zero_or_absurd_steps_and_frames_are_refused() {
    for (req, needle) in [
        (
            GenerateRequest {
                steps: 0,
                ..small("x")
            },
            "steps 0",
        ),
        (
            GenerateRequest {
                steps: 100_000,
                ..small("x")
            },
            "steps 100000",
        ),
        (
            GenerateRequest {
                frames: Some(0),
                ..small("x")
            },
            "frames 0",
        ),
        (
            GenerateRequest {
                frames: Some(1_000_000),
                ..small("x")
            },
            "frames 1000000",
        ),
    ] {
        let (kind, msg) = gen_err(req);
        assert_eq!(kind, ErrorKind::InvalidSetting, "{msg}");
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    // A still-image model makes exactly one frame.
    let model = common::model("tiny-sd");
    let e = generate(
        &model,
        &GenerateRequest {
            frames: Some(4),
            ..small("x")
        },
        &mut Silent,
    )
    .expect_err("sd frames");
    assert!(e.to_string().contains("exactly 1 frame"), "{e}");
}

#[test]
fn guidance_nan_and_out_of_range_are_refused() {
    for g in [f32::NAN, f32::INFINITY, -1.0, 1000.0] {
        let (kind, msg) = gen_err(GenerateRequest {
            guidance: g,
            ..small("x")
        });
        assert_eq!(kind, ErrorKind::InvalidSetting);
        assert!(msg.contains("guidance"), "{msg}");
    }
}

#[test]
fn unknown_scheduler_lists_the_valid_names() {
    let (kind, msg) = gen_err(GenerateRequest {
        scheduler: Some("plms".into()),
        ..small("x")
    });
    assert_eq!(kind, ErrorKind::InvalidSetting);
    assert!(msg.contains("plms") && msg.contains("ddim"), "{msg}");
}

#[test]
fn empty_long_and_unicode_prompts_render_and_truncation_is_reported() {
    let model = common::model("tiny-unet3d");
    let empty = generate(&model, &small(""), &mut Silent).expect("empty prompt is unconditional");
    assert!(empty.warnings.is_empty());
    let long = "a red ball moving right ".repeat(420); // ~10,000 characters
    assert!(long.len() >= 10_000);
    let v = generate(&model, &small(&long), &mut Silent).expect("long prompt renders");
    assert!(
        v.warnings
            .iter()
            .any(|w| w.contains("too long") && w.contains("32 tokens")),
        "{:?}",
        v.warnings
    );
    let v = generate(&model, &small("ein roter Ball, 赤いボール 🎈"), &mut Silent)
        .expect("unicode renders");
    assert!(v.frames.iter().all(|x| x.is_finite()));
    let huge = "x".repeat(2 << 20);
    let (kind, msg) = gen_err(small(&huge));
    assert_eq!(kind, ErrorKind::InvalidSetting);
    assert!(msg.contains("bytes"), "{msg}");
}

#[test]
fn latents_of_the_wrong_shape_or_with_nan_are_refused() {
    let bad = TensorF32 {
        shape: vec![1, 4, 2, 3, 3],
        data: vec![0.0; 72],
    };
    let (kind, msg) = gen_err(GenerateRequest {
        initial_latents: Some(bad),
        ..small("x")
    });
    assert_eq!(kind, ErrorKind::InvalidSetting);
    assert!(
        msg.contains("initial latents") && msg.contains("[1, 4, 2, 2, 2]"),
        "{msg}"
    );
    let nan = TensorF32 {
        shape: vec![1, 4, 2, 2, 2],
        data: vec![f32::NAN; 32],
    };
    let (_, msg) = gen_err(GenerateRequest {
        initial_latents: Some(nan),
        ..small("x")
    });
    assert!(msg.contains("NaN"), "{msg}");
}

#[test]
fn a_missing_runtime_library_is_a_clear_error_not_a_panic() {
    let e = promptreel_engine::runtime::locate(Some(Path::new("/nonexistent/libonnxruntime.so")))
        .expect_err("missing");
    assert_eq!(e.kind(), ErrorKind::Runtime);
    assert!(
        e.to_string().contains("/nonexistent/libonnxruntime.so")
            && e.to_string().contains("fetch_onnxruntime"),
        "{e}"
    );
}
