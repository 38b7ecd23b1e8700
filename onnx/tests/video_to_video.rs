//! Video to video (restyle) through the engine:
//!
//! * the shipped default model restyles a red ball moving right into a blue one that still moves
//!   right, over many sources (scored like the default model's prompt test);
//! * strength 0 gives the source back through the VAE (the error is printed), strength 1 a clip
//!   of the prompt's own;
//! * the same frames as diffusers' VideoToVideoSDPipeline (tiny unet3d) and
//!   WanVideoToVideoPipeline (tiny Wan) from the same noise (`tools/make_v2v_fixtures.py`);
//! * bad sources and settings are refused in sentences that name the value.

mod common;
mod default_model {
    pub mod score;
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use default_model::score::{self, Frame};
use promptreel_engine::image::RgbImage;
use promptreel_engine::{
    FnObserver, GenerateRequest, Model, Phase, Silent, Video, generate, npy, registry,
};
use serde_json::Value;

const PARITY_TOLERANCE: f32 = 1e-4;
/// Restyle accuracy the default model must reach (measured: see the test's printout).
const MIN_RESTYLE_COLOUR: f64 = 0.8;
const MIN_RESTYLE_DIRECTION: f64 = 0.8;

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/default")
}

fn default_model() -> Arc<Model> {
    registry::get(&default_dir(), common::cpu(2), None).expect("the default model loads")
}

/// A 32x32 clip of `frames` frames: a disc of `colour` (linear 0..1) and `radius` whose centre
/// moves from `start` by `travel` pixels to the right, on a flat `background` level, drawn with
/// 4x4 supersampling like the training clips.
fn ball_clip(
    colour: [f32; 3],
    background: f32,
    radius: f32,
    start: (f32, f32),
    travel: f32,
    frames: usize,
) -> Vec<RgbImage> {
    let (w, h) = (32usize, 32usize);
    (0..frames)
        .map(|i| {
            let cx = start.0 + travel * i as f32 / (frames - 1).max(1) as f32;
            let cy = start.1;
            let mut data = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                for x in 0..w {
                    let mut cover = 0.0f32;
                    for sy in 0..4 {
                        for sx in 0..4 {
                            let px = x as f32 + (sx as f32 + 0.5) / 4.0;
                            let py = y as f32 + (sy as f32 + 0.5) / 4.0;
                            if (px - cx).powi(2) + (py - cy).powi(2) <= radius * radius {
                                cover += 1.0 / 16.0;
                            }
                        }
                    }
                    for c in colour {
                        let v = background * (1.0 - cover) + c * cover;
                        data.push((v * 255.0).round().clamp(0.0, 255.0) as u8);
                    }
                }
            }
            RgbImage::new(w as u32, h as u32, data).expect("image")
        })
        .collect()
}

fn frames_of(video: &Video) -> Vec<Frame<'_>> {
    (0..video.frame_count)
        .map(|i| Frame {
            rgb: video.frame(i).expect("frame"),
            width: video.width,
            height: video.height,
        })
        .collect()
}

/// The source as the engine's `[F, H, W, 3]` floats in [0, 1].
fn as_floats(clip: &[RgbImage]) -> Vec<f32> {
    clip.iter()
        .flat_map(|f| f.data.iter().map(|&b| f32::from(b) / 255.0))
        .collect()
}

fn restyle(model: &Model, prompt: &str, source: &[RgbImage], strength: f32, seed: u64) -> Video {
    let req = GenerateRequest {
        prompt: prompt.into(),
        seed,
        video: Some(source.to_vec()),
        strength: Some(strength),
        ..GenerateRequest::default()
    };
    generate(model, &req, &mut Silent).expect("restyle")
}

/// Eight-plus red balls moving right (sizes, heights, speeds and both backgrounds), each
/// restyled into "a blue ball ..." at strength 0.5.
fn red_balls() -> Vec<(Vec<RgbImage>, &'static str)> {
    let red = score::PALETTE[0].1;
    (0..12)
        .map(|i| {
            let background = if i % 2 == 0 { "black" } else { "gray" };
            let level = if i % 2 == 0 { 0.0 } else { 0.5 };
            let radius = 4.0 + (i % 3) as f32;
            let start = (6.0 + (i % 4) as f32, 9.0 + (i * 5 % 14) as f32);
            let travel = 12.0 + (i % 3) as f32 * 3.0;
            (ball_clip(red, level, radius, start, travel, 8), background)
        })
        .collect()
}

#[test]
fn restyle_turns_a_red_ball_blue_and_keeps_it_moving_right() {
    let model = default_model();
    let sources = red_balls();
    let (mut colour_ok, mut direction_ok, mut source_right) = (0, 0, 0);
    let mut misses = Vec::new();
    for (i, (clip, background)) in sources.iter().enumerate() {
        // the source itself scores as what it is: the test's scorer sees red moving right
        let src_floats = as_floats(clip);
        let src_frames: Vec<Frame> = src_floats
            .chunks(32 * 32 * 3)
            .map(|rgb| Frame {
                rgb,
                width: 32,
                height: 32,
            })
            .collect();
        assert_eq!(score::colour_of(&src_frames), Some("red"), "source {i}");
        source_right += usize::from(score::direction_of(&src_frames) == Some("right"));

        let prompt = format!("a blue ball moving right on a {background} background");
        let video = restyle(&model, &prompt, clip, 0.5, 500 + i as u64);
        let frames = frames_of(&video);
        let colour = score::colour_of(&frames);
        let direction = score::direction_of(&frames);
        colour_ok += usize::from(colour == Some("blue"));
        direction_ok += usize::from(direction == Some("right"));
        if colour != Some("blue") || direction != Some("right") {
            misses.push(format!("source {i}: {colour:?} {direction:?}"));
        }
    }
    assert_eq!(source_right, sources.len(), "every source moves right");
    let n = sources.len() as f64;
    let (c, d) = (colour_ok as f64 / n, direction_ok as f64 / n);
    println!(
        "restyle at strength 0.5, {} red balls moving right -> \"a blue ball moving right\": \
         blue {:.0}%, right {:.0}%",
        sources.len(),
        c * 100.0,
        d * 100.0
    );
    for m in &misses {
        println!("  miss: {m}");
    }
    assert!(c >= MIN_RESTYLE_COLOUR, "colour accuracy {c:.2}");
    assert!(d >= MIN_RESTYLE_DIRECTION, "direction accuracy {d:.2}");
}

#[test]
fn strength_zero_returns_the_source_and_one_ignores_it() {
    let model = default_model();
    let mut worst_mean = 0.0f32;
    let mut worst_max = 0.0f32;
    for (i, (clip, _)) in red_balls().iter().take(4).enumerate() {
        let video = restyle(&model, "a blue ball moving right", clip, 0.0, i as u64);
        let src = as_floats(clip);
        assert_eq!(video.frames.len(), src.len());
        // no denoising step ran: what comes back is the source through the VAE (its encoder's
        // sample and its decoder), so the difference is the VAE's reconstruction error
        assert!(video.timings.steps.is_empty(), "strength 0 runs no step");
        let mean = video
            .frames
            .iter()
            .zip(&src)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / src.len() as f32;
        worst_mean = worst_mean.max(mean);
        worst_max = worst_max.max(common::max_abs_diff(&video.frames, &src));
        let frames = frames_of(&video);
        assert_eq!(
            score::colour_of(&frames),
            Some("red"),
            "source {i} stays red"
        );
    }
    println!(
        "strength 0: the default model's VAE reconstruction error over 4 sources: mean \
         |out - source| {worst_mean:.4}, max {worst_max:.3} (0..1 units)"
    );
    assert!(worst_mean < 0.03, "mean reconstruction error {worst_mean}");

    // strength 1 runs every step from pure-noise level: the source no longer decides the colour
    let (clip, _) = &red_balls()[0];
    let full = restyle(&model, "a green square moving left", clip, 1.0, 7);
    assert_eq!(full.timings.steps.len(), 25);
    let frames = frames_of(&full);
    assert_eq!(score::colour_of(&frames), Some("green"));
}

#[test]
fn steps_skip_by_strength_and_progress_counts_the_steps_that_run() {
    let model = default_model();
    let (clip, _) = &red_balls()[1];
    for (steps, strength, run) in [(25, 0.5, 12), (10, 0.75, 7), (4, 0.2, 0), (20, 1.0, 20)] {
        let mut source_reports = 0;
        let mut denoise_totals = Vec::new();
        let req = GenerateRequest {
            prompt: "a blue ball moving right".into(),
            steps,
            video: Some(clip.clone()),
            strength: Some(strength),
            ..GenerateRequest::default()
        };
        let mut obs = FnObserver {
            on_progress: |p: &promptreel_engine::Progress| match p.phase {
                Phase::EncodingSource => source_reports += 1,
                Phase::Denoising => denoise_totals.push(p.total),
                _ => {}
            },
            cancel: || false,
        };
        let video = generate(&model, &req, &mut obs).expect("generate");

        assert_eq!(
            video.timings.steps.len(),
            run,
            "{steps} steps at {strength}"
        );
        assert!(source_reports >= 1, "the source encoding reports progress");
        assert!(
            denoise_totals.iter().all(|&t| t == run),
            "{denoise_totals:?}"
        );
        let s = video.settings.video.expect("video settings");
        assert_eq!(s.first_step as usize, steps as usize - run);
    }
}

/// Runs one recorded diffusers case and returns max |ours - diffusers|; with `reversed`, the
/// source plays backwards (to show the comparison depends on the source).
fn parity_case(dir: &Path, reversed: bool) -> f32 {
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).expect("case.json"))
            .expect("case json");
    let model = common::model(case["package"].as_str().expect("package"));
    let [f, h, w] = ["frames", "height", "width"].map(|k| case[k].as_u64().expect(k) as usize);
    let mut frames = read_u8_frames(&dir.join("video.npy"), f, h, w);
    if reversed {
        frames.reverse();
    }
    let noise_path = dir.join("video_noise.npy");
    let req = GenerateRequest {
        prompt: case["prompt"].as_str().expect("prompt").into(),
        negative_prompt: case["negative_prompt"].as_str().unwrap_or("").into(),
        steps: case["steps"].as_u64().expect("steps") as u32,
        guidance: case["guidance"].as_f64().expect("guidance") as f32,
        scheduler: case["scheduler"].as_str().map(str::to_owned),
        frames: Some(f as u32),
        width: Some(w as u32),
        height: Some(h as u32),
        initial_latents: Some(npy::read_f32(&dir.join("noise.npy")).expect("noise.npy")),
        video: Some(frames),
        strength: Some(case["strength"].as_f64().expect("strength") as f32),
        video_noise: noise_path
            .exists()
            .then(|| npy::read_f32(&noise_path).expect("video_noise.npy")),
        max_sequence_length: case["max_sequence_length"].as_u64().map(|n| n as u32),
        ..GenerateRequest::default()
    };
    let out = generate(&model, &req, &mut Silent).expect("generate");
    if let Some(t_start) = case["t_start"].as_u64() {
        assert_eq!(
            out.settings.video.map(|v| v.first_step),
            Some(t_start as u32),
            "{}: the first step run",
            dir.display()
        );
    }
    let expected = npy::read_f32(&dir.join("frames.npy")).expect("frames.npy");
    assert_eq!(
        vec![out.frame_count, out.height, out.width, 3],
        expected.shape
    );
    common::max_abs_diff(&out.frames, &expected.data)
}

#[test]
fn restyle_matches_diffusers_video_to_video_pipelines() {
    let root = common::data().join("v2v-parity");
    let dirs = common::case_dirs(&root);
    let families: Vec<String> = dirs
        .iter()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        families.iter().any(|n| n.starts_with("unet3d"))
            && families.iter().any(|n| n.starts_with("wan")),
        "expected unet3d and wan cases in {} (tools/make_v2v_fixtures.py writes them)",
        root.display()
    );
    for dir in dirs {
        let diff = parity_case(&dir, false);
        // the random-weight models dampen the source's effect on the frames, but not below this
        let reversed = parity_case(&dir, true);
        println!(
            "video to video parity {:<22} max |ours - diffusers| = {diff:.2e} (source \
             reversed: {reversed:.2e})",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        assert!(diff <= PARITY_TOLERANCE, "{}: {diff}", dir.display());
        assert!(
            reversed > 10.0 * PARITY_TOLERANCE,
            "{}: the source barely matters ({reversed})",
            dir.display()
        );
    }
}

/// The source frames of a case: `video.npy`, uint8 `[F, H, W, 3]` (its data is the file's last
/// F*H*W*3 bytes; the header is checked for the element type and shape).
fn read_u8_frames(path: &Path, f: usize, h: usize, w: usize) -> Vec<RgbImage> {
    let bytes = std::fs::read(path).expect("video.npy");
    let n = f * h * w * 3;
    let header = String::from_utf8_lossy(&bytes[..bytes.len() - n]);
    assert!(
        header.contains("'|u1'"),
        "{}: not uint8: {header}",
        path.display()
    );
    assert!(
        header.contains(&format!("({f}, {h}, {w}, 3)")),
        "{}: shape: {header}",
        path.display()
    );
    bytes[bytes.len() - n..]
        .chunks(h * w * 3)
        .map(|d| RgbImage::new(w as u32, h as u32, d.to_vec()).expect("frame"))
        .collect()
}

fn refusal(model: &Model, req: GenerateRequest) -> String {
    let e = generate(model, &req, &mut Silent).expect_err("refused");
    e.to_string()
}

#[test]
fn bad_sources_and_settings_are_refused_in_words() {
    let model = default_model();
    let (clip, _) = &red_balls()[0];
    let base = GenerateRequest {
        prompt: "a blue ball".into(),
        steps: 2,
        video: Some(clip.clone()),
        ..GenerateRequest::default()
    };
    for bad in [-0.1f32, 1.5, f32::NAN] {
        let e = refusal(
            &model,
            GenerateRequest {
                strength: Some(bad),
                ..base.clone()
            },
        );
        assert!(e.contains("strength") && e.contains("choose 0"), "{e}");
    }
    let e = refusal(
        &model,
        GenerateRequest {
            video: Some(clip[..5].to_vec()),
            ..base.clone()
        },
    );
    assert!(
        e.contains("the source has 5 frames") && e.contains("8 frames"),
        "{e}"
    );
    let mut mixed = clip.clone();
    mixed[3] = RgbImage::new(16, 16, vec![0; 16 * 16 * 3]).expect("image");
    let e = refusal(
        &model,
        GenerateRequest {
            video: Some(mixed),
            ..base.clone()
        },
    );
    assert!(e.contains("source frame 4 is 16x16"), "{e}");
    let e = refusal(
        &model,
        GenerateRequest {
            image: Some(clip[0].clone()),
            ..base.clone()
        },
    );
    assert!(
        e.contains("not both") || e.contains("image to video needs"),
        "{e}"
    );
    let e = refusal(
        &model,
        GenerateRequest {
            video: None,
            strength: Some(0.5),
            ..base.clone()
        },
    );
    assert!(e.contains("give source frames"), "{e}");
    let wrong = promptreel_engine::TensorF32::new(vec![1, 4, 8, 4, 4], vec![0.0; 512]).unwrap();
    let e = refusal(
        &model,
        GenerateRequest {
            video_noise: Some(wrong),
            ..base.clone()
        },
    );
    assert!(e.contains("video noise has shape"), "{e}");

    // a package without a VAE encoder
    let dir = std::env::temp_dir().join(format!("promptreel-v2v-noenc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&default_dir(), &dir);
    let manifest = dir.join("promptreel.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["vae_encoder"] = Value::Null;
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    std::fs::remove_dir_all(dir.join("vae_encoder")).unwrap();
    let no_encoder = registry::get(&dir, common::cpu(1), None).expect("loads");
    let e = refusal(&no_encoder, base.clone());
    assert!(
        e.contains("VAE encoder") && e.contains(&dir.display().to_string()),
        "{e}"
    );
    drop(no_encoder);
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_cli_restyles_a_gif_and_a_folder_of_frames() {
    let exe = env!("CARGO_BIN_EXE_promptreel");
    let tmp = std::env::temp_dir().join(format!("promptreel-v2v-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let (clip, _) = &red_balls()[2];
    // a GIF source
    let gif_path = tmp.join("source.gif");
    {
        let f = std::fs::File::create(&gif_path).unwrap();
        let mut enc = gif::Encoder::new(f, 32, 32, &[]).unwrap();
        for frame in clip {
            let px = frame.data.clone();
            enc.write_frame(&gif::Frame::from_rgb(32, 32, &px)).unwrap();
        }
    }
    let run = |video: &Path, out: &str, strength: &str| {
        std::process::Command::new(exe)
            .args([
                "generate",
                "--prompt",
                "a blue ball moving right",
                "--steps",
                "6",
            ])
            .arg("--model")
            .arg(default_dir())
            .arg("--video")
            .arg(video)
            .args(["--strength", strength, "--npy"])
            .arg("--out")
            .arg(tmp.join(out))
            .output()
            .expect("run promptreel")
    };
    let out = run(&gif_path, "from-gif", "0.5");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = npy::read_f32(&tmp.join("from-gif/frames.npy")).unwrap();
    assert_eq!(frames.shape, [8, 32, 32, 3]);
    // the folder the first run wrote is a source too (frame_0000.png, ...)
    let out = run(&tmp.join("from-gif"), "from-folder", "0.3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&tmp.join("from-gif"), "bad", "2");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strength 2 is out of range"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Every family with a VAE encoder restyles: Wan (stateful causal encoder, the mean) and LTX
/// (whole-clip encoder, sampled). At strength 0 no denoiser runs, so the prompt cannot matter;
/// above it, it does.
#[test]
fn wan_and_ltx_packages_restyle_too() {
    for (name, frames, side) in [("tiny-wan", 9u32, 32u32), ("tiny-ltx", 9, 64)] {
        let model = common::model(name);
        let clip: Vec<RgbImage> = (0..frames)
            .map(|i| {
                let data = (0..side * side)
                    .flat_map(|p| {
                        let x = p % side;
                        let on = x >= i * 2 && x < i * 2 + 8;
                        if on { [230, 40, 30] } else { [20, 20, 60] }
                    })
                    .collect();
                RgbImage::new(side, side, data).expect("frame")
            })
            .collect();
        let run = |prompt: &str, strength: f32| {
            let req = GenerateRequest {
                prompt: prompt.into(),
                steps: 4,
                guidance: 1.0,
                frames: Some(frames),
                width: Some(side),
                height: Some(side),
                video: Some(clip.clone()),
                strength: Some(strength),
                ..GenerateRequest::default()
            };
            generate(&model, &req, &mut Silent).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let a = run("a red square", 0.0);
        let b = run("a green circle", 0.0);
        assert_eq!(a.frame_count, frames as usize, "{name}");
        assert!(a.timings.vae_encoder > std::time::Duration::ZERO, "{name}");
        assert_eq!(a.frames, b.frames, "{name}: strength 0 runs no denoiser");
        let c = run("a red square", 0.5);
        let d = run("a green circle", 0.5);
        assert_eq!(c.timings.steps.len(), 2, "{name}");
        assert_ne!(
            c.frames, d.frames,
            "{name}: the prompt steers the steps that run"
        );
        assert_ne!(a.frames, c.frames, "{name}");
    }
}
