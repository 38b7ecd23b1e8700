//! LTX-Video: the engine against diffusers' LTXPipeline and LTXImageToVideoPipeline on the
//! tiny random-weight package (`tools/make_ltx_fixtures.py`), the schedule against diffusers'
//! FlowMatchEulerDiscreteScheduler with LTX's dynamic shift and terminal stretch, and the
//! refusals of bad input.

mod common;

use std::path::Path;

use promptreel_engine::image::{ImageFit, RgbImage};
use promptreel_engine::scheduler;
use promptreel_engine::{GenerateRequest, Silent, generate, npy};
use serde_json::Value;

/// Largest difference from diffusers' frames allowed (values in [0, 1]).
const TOLERANCE: f32 = 1e-4;
/// Largest difference from diffusers' sigmas allowed.
const SCHEDULE_TOLERANCE: f64 = 1e-5;

fn read_case(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).expect("case.json"))
        .expect("case json")
}

fn f32_of(case: &Value, key: &str) -> Option<f32> {
    case[key].as_f64().map(|v| v as f32)
}

/// The request a case describes, with diffusers' noises.
fn request(case: &Value, dir: &Path) -> GenerateRequest {
    let image = case["image"]
        .as_str()
        .map(|name| RgbImage::read_png(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")));
    let read = |name: &str| {
        let p = dir.join(name);
        p.exists()
            .then(|| npy::read_f32(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    };
    GenerateRequest {
        prompt: case["prompt"].as_str().unwrap_or_default().into(),
        negative_prompt: case["negative_prompt"].as_str().unwrap_or_default().into(),
        steps: case["steps"].as_u64().expect("steps") as u32,
        guidance: f32_of(case, "guidance").expect("guidance"),
        frames: Some(case["frames"].as_u64().expect("frames") as u32),
        width: Some(case["width"].as_u64().expect("width") as u32),
        height: Some(case["height"].as_u64().expect("height") as u32),
        frame_rate: f32_of(case, "frame_rate"),
        decode_timestep: f32_of(case, "decode_timestep"),
        decode_noise_scale: f32_of(case, "decode_noise_scale"),
        image_fit: case["image_fit"]
            .as_str()
            .map_or(ImageFit::Crop, |s| ImageFit::parse(s).expect("fit")),
        image,
        initial_latents: read("latents.npy"),
        decode_noise: read("decode_noise.npy"),
        image_noise: read("image_noise.npy"),
        ..Default::default()
    }
}

#[test]
fn every_ltx_case_matches_diffusers() {
    let dirs = common::case_dirs(&common::data().join("ltx-parity"));
    assert!(
        dirs.len() >= 4,
        "expected the recorded cases, found {}",
        dirs.len()
    );
    let (mut worst, mut images, mut unguided, mut latent_frames) = (0.0f32, 0, 0, 0);
    for dir in &dirs {
        let case = read_case(dir);
        let model = common::model(case["package"].as_str().expect("package"));
        assert_eq!(
            case["max_sequence_length"].as_u64(),
            Some(model.package().tokenizer().max_length() as u64),
            "the case was made with the package's text length"
        );
        let req = request(&case, dir);
        images += usize::from(req.image.is_some());
        unguided += usize::from(req.guidance <= 1.0);
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
            "ltx parity {:<16} {} frames {}x{} guidance {} image {} max |ours - diffusers| = \
             {diff:.2e}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            video.frame_count,
            video.width,
            video.height,
            req.guidance,
            req.image.is_some()
        );
        assert!(
            diff <= TOLERANCE,
            "{}: {diff} exceeds {TOLERANCE}",
            dir.display()
        );
        worst = worst.max(diff);
        latent_frames = latent_frames.max(video.settings.latent_shape[2]);
    }
    assert!(
        images >= 2 && unguided >= 1,
        "image and unguided cases exist"
    );
    assert!(latent_frames >= 3, "some case spans 3+ latent frames");
    println!("ltx parity: {} cases, worst {worst:.2e}", dirs.len());
}

/// `numpy.linspace(1, 1/n, n)` as LTXPipeline passes it.
fn pipeline_sigmas(n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![1.0];
    }
    let step = (1.0 / n as f64 - 1.0) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + 1.0).collect();
    v[n - 1] = 1.0 / n as f64;
    v
}

fn check_schedule(config: &scheduler::SchedulerConfig, seq: usize, steps: usize, want: &Value) {
    let mut s = scheduler::build(config, None, None).expect("scheduler");
    assert!(
        s.uses_dynamic_shifting(),
        "LTX's scheduler shifts dynamically"
    );
    let mu = config.dynamic_shift_mu(seq);
    if let Some(m) = want["mu"].as_f64() {
        assert!(
            (mu - m).abs() < 1e-9,
            "mu {mu} vs diffusers {m} (seq {seq})"
        );
    }
    s.set_dynamic_shift_mu(mu).expect("mu");
    s.set_timesteps_from_sigmas(&pipeline_sigmas(steps))
        .expect("schedule");
    let ours: Vec<f64> = s.timesteps().iter().map(|t| f64::from(*t)).collect();
    let theirs: Vec<f64> = want["timesteps"]
        .as_array()
        .expect("timesteps")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "steps {steps} seq {seq}");
    for (a, b) in ours.iter().zip(&theirs) {
        // timesteps are sigma * 1000
        assert!(
            (a - b).abs() / 1000.0 <= SCHEDULE_TOLERANCE,
            "steps {steps} seq {seq}: {a} vs {b}"
        );
    }
}

#[test]
fn the_schedule_matches_diffusers_with_dynamic_shift_and_terminal_stretch() {
    let model = common::model("tiny-ltx");
    let config = model.package().scheduler_config();
    assert!(
        config.shift_terminal.is_some(),
        "the fixture stretches to a terminal sigma"
    );
    let mut checked = 0;
    for dir in common::case_dirs(&common::data().join("ltx-parity")) {
        let case = read_case(&dir);
        // the latent sequence length: frames x latent height x latent width
        let seq = case["latent_shape"].as_array().expect("latent_shape")[2..]
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .product();
        check_schedule(
            config,
            seq,
            case["steps"].as_u64().expect("steps") as usize,
            &case,
        );
        checked += 1;
    }
    let refs = common::data().join("schedulers/ltx_schedules.json");
    let refs: Value =
        serde_json::from_str(&std::fs::read_to_string(&refs).expect("ltx_schedules.json"))
            .expect("json");
    let config = scheduler::SchedulerConfig::from_json_str(&refs["config"].to_string())
        .expect("the reference config");
    for case in refs["cases"].as_array().expect("cases") {
        let seq = case["image_seq_len"].as_u64().expect("image_seq_len") as usize;
        let steps = case["steps"].as_u64().expect("steps") as usize;
        if case["nan"].as_bool() == Some(true) {
            // diffusers divides 0 by 0 here (one step starts at sigma 1); we refuse in words
            let mut s = scheduler::build(&config, None, None).expect("scheduler");
            s.set_dynamic_shift_mu(config.dynamic_shift_mu(seq))
                .expect("mu");
            let err = s
                .set_timesteps_from_sigmas(&pipeline_sigmas(steps))
                .expect_err("refused")
                .to_string();
            assert!(err.contains("at least 2 steps"), "{err}");
            continue;
        }
        check_schedule(&config, seq, steps, case);
        checked += 1;
    }
    assert!(checked >= 8, "{checked} schedules checked");
}

fn base() -> GenerateRequest {
    GenerateRequest {
        prompt: "a paper boat on a pond".into(),
        steps: 2,
        guidance: 1.0,
        frames: Some(9),
        width: Some(64),
        height: Some(64),
        ..Default::default()
    }
}

fn refused(model: &promptreel_engine::Model, req: &GenerateRequest) -> String {
    generate(model, req, &mut Silent)
        .expect_err("refused")
        .to_string()
}

#[test]
fn bad_settings_are_refused_in_words() {
    let model = common::model("tiny-ltx");
    let cases: Vec<(GenerateRequest, &[&str])> = vec![
        (
            GenerateRequest {
                frames: Some(16),
                ..base()
            },
            &["frames 16", "8k+1", "use 9 or 17"],
        ),
        (
            GenerateRequest {
                width: Some(80),
                ..base()
            },
            &["width 80", "multiple of 32", "64 or 96"],
        ),
        (
            GenerateRequest {
                frame_rate: Some(0.0),
                ..base()
            },
            &["frame rate 0"],
        ),
        (
            GenerateRequest {
                decode_timestep: Some(1.5),
                ..base()
            },
            &["decode timestep 1.5", "0 to 1"],
        ),
        (
            GenerateRequest {
                decode_noise: Some(promptreel_engine::TensorF32 {
                    shape: vec![1, 2, 3],
                    data: vec![0.0; 6],
                }),
                ..base()
            },
            &["decode noise has shape [1, 2, 3]"],
        ),
        (
            GenerateRequest {
                image_noise: Some(promptreel_engine::TensorF32 {
                    shape: vec![1],
                    data: vec![0.0],
                }),
                ..base()
            },
            &["image noise", "without an image"],
        ),
    ];
    for (req, needles) in cases {
        let err = refused(&model, &req);
        for n in needles {
            assert!(err.contains(n), "{n:?} missing from: {err}");
        }
    }
}

fn red_image() -> RgbImage {
    RgbImage::new(8, 8, [200u8, 30, 30].repeat(64)).expect("image")
}

#[test]
fn an_image_needs_a_vae_encoder_and_an_image_to_video_family() {
    // a package exported without its VAE encoder
    let dir = common::copy_package("tiny-ltx", "ltx-no-encoder");
    let manifest = dir.join("promptreel.json");
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("manifest")).expect("json");
    m.as_object_mut().expect("object").remove("vae_encoder");
    std::fs::write(&manifest, m.to_string()).expect("write");
    std::fs::remove_dir_all(dir.join("vae_encoder")).expect("remove encoder");
    let model = promptreel_engine::registry::get(&dir, common::cpu(1), None).expect("loads");
    let req = GenerateRequest {
        image: Some(red_image()),
        ..base()
    };
    let err = refused(&model, &req);
    assert!(
        err.contains("no VAE encoder") && err.contains("--no-vae-encoder"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // a text-to-video family
    let wan = common::model("tiny-wan");
    let req = GenerateRequest {
        image: Some(red_image()),
        frames: Some(5),
        width: Some(32),
        height: Some(32),
        ..base()
    };
    let err = refused(&wan, &req);
    assert!(err.contains("text only"), "{err}");
}

#[test]
fn the_image_holds_the_first_frame_and_the_frame_rate_changes_motion() {
    let model = common::model("tiny-ltx");
    let plain = generate(&model, &base(), &mut Silent).expect("text to video");
    let with_image = generate(
        &model,
        &GenerateRequest {
            image: Some(red_image()),
            ..base()
        },
        &mut Silent,
    )
    .expect("image to video");
    assert!(with_image.settings.image && !plain.settings.image);
    let diff = common::max_abs_diff(&plain.frames, &with_image.frames);
    assert!(diff > 1e-3, "the image changed the clip ({diff})");
    // Same seed, other frame rate: the rotary scale differs, so do the frames; the clip is
    // labelled with the rate it was made for.
    let faster = generate(
        &model,
        &GenerateRequest {
            frame_rate: Some(50.0),
            ..base()
        },
        &mut Silent,
    )
    .expect("at 50 fps");
    assert_eq!(faster.fps, 50.0);
    assert!(common::max_abs_diff(&plain.frames, &faster.frames) > 1e-4);
    // and the same request again is the same clip
    let again = generate(&model, &base(), &mut Silent).expect("again");
    assert_eq!(plain.frames, again.frames);
}

#[test]
fn tiled_decoding_matches_diffusers_enable_tiling() {
    // diffusers' AutoencoderKLLTXVideo with enable_tiling() and framewise decoding; the
    // references keep every k-th row and column (full frames at these sizes are tens of MB)
    let dirs = common::case_dirs(&common::data().join("ltx-parity-tiled"));
    assert!(
        dirs.len() >= 2,
        "expected the tiled cases, found {}",
        dirs.len()
    );
    for dir in &dirs {
        let case = read_case(dir);
        assert_eq!(case["vae_tiling"], true);
        let model = common::model(case["package"].as_str().expect("package"));
        let req = GenerateRequest {
            vae_tiling: Some(true),
            ..request(&case, dir)
        };
        let video = generate(&model, &req, &mut Silent)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(video.settings.vae_tiled);
        let sub: Vec<usize> = case["subsample"]
            .as_array()
            .expect("subsample")
            .iter()
            .map(|v| v.as_u64().expect("step") as usize)
            .collect();
        let expected = npy::read_f32(&dir.join("frames_sub.npy")).expect("frames_sub");
        let (f, h, w) = (video.frame_count, video.height, video.width);
        assert_eq!(
            expected.shape,
            vec![f, h.div_ceil(sub[0]), w.div_ceil(sub[1]), 3],
            "{}",
            dir.display()
        );
        let mut ours = Vec::with_capacity(expected.data.len());
        for fi in 0..f {
            for y in (0..h).step_by(sub[0]) {
                for x in (0..w).step_by(sub[1]) {
                    let i = ((fi * h + y) * w + x) * 3;
                    ours.extend_from_slice(&video.frames[i..i + 3]);
                }
            }
        }
        let diff = common::max_abs_diff(&ours, &expected.data);
        println!(
            "ltx tiled parity {:<22} {f} frames {w}x{h} max |ours - diffusers| = {diff:.2e}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        assert!(
            diff <= TOLERANCE,
            "{}: {diff} exceeds {TOLERANCE}",
            dir.display()
        );
        // and the tiles changed the picture: one call gives other frames
        let whole = generate(
            &model,
            &GenerateRequest {
                vae_tiling: Some(false),
                ..request(&case, dir)
            },
            &mut Silent,
        )
        .expect("untiled");
        assert!(!whole.settings.vae_tiled);
        assert!(common::max_abs_diff(&whole.frames, &video.frames) > 1e-4);
    }
}

#[test]
fn a_float16_text_encoder_package_stays_close_and_is_counted_at_its_cpu_size() {
    // tiny-ltx exported with --fp16: only T5 is float16 (its wo layers float32)
    let fp16 = common::model("tiny-ltx-fp16");
    let fp32 = common::model("tiny-ltx");
    assert!(
        fp16.package()
            .manifest()
            .memory
            .as_ref()
            .is_some_and(|m| m.float16_text_encoder && !m.float16_weights)
    );
    let mut worst = 0.0f32;
    for dir in common::case_dirs(&common::data().join("ltx-parity")) {
        let case = read_case(&dir);
        let expected = npy::read_f32(&dir.join("frames.npy")).expect("frames");
        let video = generate(&fp16, &request(&case, &dir), &mut Silent)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let diff = common::max_abs_diff(&video.frames, &expected.data);
        println!(
            "ltx fp16 text encoder {:<16} max |ours - diffusers fp32| = {diff:.2e}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        assert!(diff <= 1e-3, "{}: {diff}", dir.display());
        worst = worst.max(diff);
    }
    assert!(
        worst > 0.0,
        "the float16 encoder changes the numbers a little"
    );
    // The estimate counts the float16 text encoder at 2.5x its disk size, the rest as is.
    let settings = promptreel_engine::Settings::at_size(fp16.package().manifest(), 17, 96, 64, 3.0);
    let mode = promptreel_engine::MemoryMode::Resident;
    let e16 = promptreel_engine::budget::estimate_package(fp16.package(), &settings, mode);
    let e32 = promptreel_engine::budget::estimate_package(fp32.package(), &settings, mode);
    let te = |m: &promptreel_engine::Model| {
        m.package()
            .graph(promptreel_engine::package::GraphRole::TextEncoder)
            .map_or(0, |g| g.bytes)
    };
    assert_eq!(e16.weights - e32.weights, te(&fp16) * 5 / 2 - te(&fp32));
}
