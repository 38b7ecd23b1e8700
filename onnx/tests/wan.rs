//! The wan family end to end: our frames against diffusers' WanPipeline on a tiny random Wan
//! (tests/data/tiny-wan, references in tests/data/wan-parity, both made by
//! tools/make_wan_fixtures.py), and the settings a Wan model refuses.

mod common;

use std::path::Path;

use promptreel_engine::{ErrorKind, GenerateRequest, Silent, generate, npy};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn read_case(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).expect("case.json"))
        .expect("case json")
}

fn request(case: &Value, dir: &Path) -> GenerateRequest {
    GenerateRequest {
        prompt: case["prompt"].as_str().unwrap_or_default().into(),
        negative_prompt: case["negative_prompt"].as_str().unwrap_or_default().into(),
        steps: case["steps"].as_u64().expect("steps") as u32,
        guidance: case["guidance"].as_f64().expect("guidance") as f32,
        guidance_2: case["guidance_2"].as_f64().map(|g| g as f32),
        frames: Some(case["frames"].as_u64().expect("frames") as u32),
        width: Some(case["width"].as_u64().expect("width") as u32),
        height: Some(case["height"].as_u64().expect("height") as u32),
        scheduler: Some(case["scheduler"].as_str().expect("scheduler").into()),
        initial_latents: Some(npy::read_f32(&dir.join("latents.npy")).expect("latents")),
        ..Default::default()
    }
}

#[test]
fn every_wan_case_matches_diffusers() {
    let dirs = common::case_dirs(&common::data().join("wan-parity"));
    assert!(
        dirs.len() >= 7,
        "expected the recorded cases, found {}",
        dirs.len()
    );
    let mut worst = 0.0f32;
    let mut longest = 0;
    let mut packages = std::collections::BTreeSet::new();
    for dir in &dirs {
        let case = read_case(dir);
        let package = case["package"].as_str().expect("package");
        packages.insert(package.to_string());
        let model = common::model(package);
        // the package's length is the one the case was made with
        assert_eq!(
            case["max_sequence_length"].as_u64(),
            Some(model.package().tokenizer().max_length() as u64)
        );
        let req = request(&case, dir);
        let expected = npy::read_f32(&dir.join("frames.npy")).expect("frames");
        let video = generate(&model, &req, &mut Silent)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(
            vec![video.frame_count, video.height, video.width, 3],
            expected.shape,
            "frame shape of {}",
            dir.display()
        );
        let diff = common::max_abs_diff(&video.frames, &expected.data);
        println!(
            "wan parity {:<20} {:<14} {} frames {}x{} max |ours - diffusers| = {diff:.2e}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            package,
            video.frame_count,
            video.width,
            video.height
        );
        assert!(
            diff <= TOLERANCE,
            "{}: {diff} exceeds {TOLERANCE}",
            dir.display()
        );
        worst = worst.max(diff);
        longest = longest.max(video.frame_count);
    }
    // The VAE's stateful loop ran over at least 4 latent frames somewhere.
    assert!(
        longest >= 13,
        "no case decodes 4+ latent frames ({longest} frames)"
    );
    // Wan 2.1, Wan 2.2 A14B (two transformers) and TI2V (per-token timesteps, 48-channel VAE)
    assert_eq!(packages.len(), 3, "{packages:?}");
    println!("wan parity: {} cases, worst {worst:.2e}", dirs.len());
}

#[test]
fn the_low_noise_transformer_takes_over_with_its_own_guidance() {
    // The A14B case's second guidance changes the frames: the low-noise transformer ran.
    let model = common::model("tiny-wan-a14b");
    let dir = common::data().join("wan-parity/a14b_two_guidances");
    let case = read_case(&dir);
    let req = request(&case, &dir);
    assert_eq!(req.guidance_2, Some(3.0));
    let two = generate(&model, &req, &mut Silent).expect("two guidances");
    let one = generate(
        &model,
        &GenerateRequest {
            guidance_2: None,
            ..req.clone()
        },
        &mut Silent,
    )
    .expect("one guidance");
    let diff = common::max_abs_diff(&two.frames, &one.frames);
    assert!(diff > 1e-4, "guidance 2 made no difference ({diff})");
    // both transformers ran and are reported
    assert!(
        two.providers.iter().any(|(r, _)| r == "low-noise denoiser"),
        "{:?}",
        two.providers
    );
    // in sequential mode only the transformer in use is loaded; the frames are the same
    let dir_seq = common::copy_package("tiny-wan-a14b", "sequential");
    let seq = promptreel_engine::registry::get(
        &dir_seq,
        promptreel_engine::SessionOptions {
            memory: promptreel_engine::MemoryMode::Sequential,
            ..common::cpu(1)
        },
        None,
    )
    .expect("model");
    let v = generate(&seq, &req, &mut Silent).expect("sequential");
    assert!(common::max_abs_diff(&v.frames, &two.frames) < 1e-5);
    assert_eq!(
        seq.loaded_weight_bytes(),
        0,
        "sequential mode released every session"
    );
    // guidance 2 on a one-transformer model is refused in words
    let e = generate(
        &common::model("tiny-wan"),
        &GenerateRequest {
            guidance_2: Some(2.0),
            ..req
        },
        &mut Silent,
    )
    .expect_err("refused");
    assert!(e.to_string().contains("guidance 2"), "{e}");
}

#[test]
fn prompt_ids_match_the_pipeline_after_cleaning() {
    for dir in common::case_dirs(&common::data().join("wan-parity")) {
        let case = read_case(&dir);
        let model = common::model(case["package"].as_str().expect("package"));
        let tok = model.package().tokenizer();
        let cleaned = promptreel_engine::prompt_clean::wan_prompt_clean(
            case["prompt"].as_str().unwrap_or(""),
        );
        let want: Vec<i64> =
            serde_json::from_value(case["input_ids"]["prompt"].clone()).expect("ids");
        assert_eq!(
            tok.encode(&cleaned).expect("encode").ids,
            want,
            "{}",
            dir.display()
        );
    }
}

#[test]
fn the_text_length_is_a_setting_and_changes_the_result() {
    let model = common::model("tiny-wan");
    let dir = common::data().join("wan-parity/unipc_no_guidance");
    let case = read_case(&dir);
    let base = request(&case, &dir);
    let a = generate(&model, &base, &mut Silent).expect("default length");
    let longer = GenerateRequest {
        max_sequence_length: Some(40),
        ..base.clone()
    };
    let b = generate(&model, &longer, &mut Silent).expect("length 40");
    assert_eq!(b.settings.text_tokens, 40);
    let diff = common::max_abs_diff(&a.frames, &b.frames);
    // WanPipeline's result depends on the padded length (the padding rows are zeros, but the
    // transformer attends to them).
    assert!(diff > 1e-5, "length 40 gave the same frames (diff {diff})");

    let long_prompt = GenerateRequest {
        prompt: "a very long prompt about many things ".repeat(20),
        steps: 1,
        ..base.clone()
    };
    let v = generate(&model, &long_prompt, &mut Silent).expect("long prompt runs");
    assert!(
        v.warnings
            .iter()
            .any(|w| w.contains("too long") && w.contains("24 tokens")),
        "{:?}",
        v.warnings
    );
}

#[test]
fn wan_refuses_frames_and_sizes_it_cannot_make() {
    let model = common::model("tiny-wan");
    let base = GenerateRequest {
        prompt: "a fox".into(),
        steps: 1,
        guidance: 1.0,
        frames: Some(5),
        width: Some(32),
        height: Some(32),
        ..Default::default()
    };
    for (frames, want) in [
        (0, "use 1"),
        (2, "use 1 or 5"),
        (8, "use 5 or 9"),
        (12, "use 9 or 13"),
    ] {
        let e = generate(
            &model,
            &GenerateRequest {
                frames: Some(frames),
                ..base.clone()
            },
            &mut Silent,
        )
        .expect_err("frames refused");
        assert_eq!(e.kind(), ErrorKind::InvalidSetting);
        assert!(
            e.to_string().contains(want) && e.to_string().contains("4k+1"),
            "{frames}: {e}"
        );
    }
    for (w, h, want) in [
        (40, 32, "width 40 is not a multiple of 16"),
        (32, 24, "height 24"),
    ] {
        let e = generate(
            &model,
            &GenerateRequest {
                width: Some(w),
                height: Some(h),
                ..base.clone()
            },
            &mut Silent,
        )
        .expect_err("size refused");
        let msg = e.to_string();
        assert!(msg.contains(want) && msg.contains("use"), "{w}x{h}: {msg}");
    }
    let e = generate(
        &model,
        &GenerateRequest {
            max_sequence_length: Some(0),
            ..base.clone()
        },
        &mut Silent,
    )
    .expect_err("length 0 refused");
    assert!(e.to_string().contains("max sequence length 0"), "{e}");
    // a sequence length on a CLIP model is refused in words
    let clip = common::model("tiny-unet3d");
    let e = generate(
        &clip,
        &GenerateRequest {
            max_sequence_length: Some(40),
            frames: Some(2),
            width: Some(16),
            height: Some(16),
            ..base.clone()
        },
        &mut Silent,
    )
    .expect_err("CLIP length refused");
    assert!(e.to_string().contains("Wan"), "{e}");
    // the latents' shape says the frame count: 3 latent frames = 9 frames
    let lat = npy::read_f32(&common::data().join("wan-parity/unipc_cfg/latents.npy")).expect("npy");
    let v = generate(
        &model,
        &GenerateRequest {
            frames: None,
            width: None,
            height: None,
            initial_latents: Some(lat),
            ..base
        },
        &mut Silent,
    )
    .expect("latents fix the size");
    assert_eq!((v.frame_count, v.width, v.height), (9, 32, 32));
}

/// Cancels once the decoder has reported `after` latent frames.
struct CancelInDecode {
    after: usize,
    decoded: usize,
}

impl promptreel_engine::Observer for CancelInDecode {
    fn progress(&mut self, p: &promptreel_engine::Progress) {
        if p.phase == promptreel_engine::Phase::Decoding {
            self.decoded = p.done;
        }
    }
    fn should_cancel(&mut self) -> bool {
        self.decoded >= self.after
    }
}

#[test]
fn cancelling_during_the_stateful_decode_stops_it() {
    let model = common::model("tiny-wan");
    let dir = common::data().join("wan-parity/unipc_17_frames");
    let req = request(&read_case(&dir), &dir);
    let mut obs = CancelInDecode {
        after: 2,
        decoded: 0,
    };
    let e = generate(&model, &req, &mut obs).expect_err("cancelled");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(obs.decoded, 2, "the decode stopped at the next chunk");
}

/// `--fp16` keeps what overflows in float16 in float32 (T5's `wo`, Wan's time embedder and
/// norms): the float16 package's frames stay within float16 precision of diffusers' float32
/// ones on every Wan 2.1 case.
#[test]
fn the_fp16_package_follows_diffusers_within_half_precision() {
    use promptreel_engine::package::GraphRole;
    let model = common::model("tiny-wan-fp16");
    let den = model.graph(GraphRole::Denoiser).expect("denoiser");
    let sample = den.input("sample").expect("sample");
    assert_eq!(format!("{:?}", sample.elem), "Float16");
    let mut worst = 0.0f32;
    for dir in common::case_dirs(&common::data().join("wan-parity")) {
        let case = read_case(&dir);
        if case["package"] != "tiny-wan" {
            continue;
        }
        let expected = npy::read_f32(&dir.join("frames.npy")).expect("frames");
        let video = generate(&model, &request(&case, &dir), &mut Silent).expect("fp16 generates");
        let diff = common::max_abs_diff(&video.frames, &expected.data);
        println!(
            "wan fp16 {:<20} max |ours fp16 - diffusers fp32| = {diff:.2e}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        worst = worst.max(diff);
    }
    assert!(worst > 0.0 && worst < 1e-2, "fp16 frames differ by {worst}");
}
