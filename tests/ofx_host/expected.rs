//! What the scenario compares the plug-in's frames with: the engine run directly on the same
//! settings. `expected_pixels` is the lead's to implement (see its TODO); until then every
//! comparison is skipped and only the scenario's consistency checks run.

use std::path::PathBuf;

use ofx_sys::OfxRectI;

use super::host::{BitDepth, Instance, Rendered};

/// The settings of one generation, as the scenario sets them on the instance.
#[derive(Clone, Debug)]
pub struct Generation {
    pub model_dir: PathBuf,
    pub prompt: String,
    pub negative: String,
    pub seed: i32,
    pub steps: i32,
    /// Frames to generate (0: the model's default).
    pub frames: i32,
    pub guidance: f64,
    /// Choice indices, as set on the instance.
    pub scheduler: i32,
    pub resolution: i32,
    pub fit: i32,
    pub output_colour: i32,
    /// Retiming choice index (0 Hold, 1 Blend).
    pub retiming: i32,
}

/// What one render asked for.
// NOTE: the fields are read by `expected_pixels` once it is implemented.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Host time; the plug-in shows model frame floor(time * model fps / host fps) (Hold) or
    /// the blend of the two nearest (Blend), held at the last frame.
    pub time: f64,
    /// The host's (project's) frame rate.
    pub host_fps: f64,
    pub render_scale: f64,
    /// The render window, in pixels at that scale (rows y1..y2, columns x1..x2).
    pub window: OfxRectI,
    /// Project size in pixels at scale 1.
    pub project: (f64, f64),
    pub depth: BitDepth,
}

/// The frame the plug-in should output, computed independently of it: the engine run directly
/// on `generation` (same model, prompt, seed, steps, scheduler; CPU), the model frame shown at
/// host time `target.time`, mapped onto the project with the plug-in's public fit/resample and
/// output-colour code. RGBA in [0, 1], ordered like [`Rendered::pixels`]: row `window.y1`
/// first, `x1..x2` within a row, y up. Clips are generated once per settings and kept.
pub fn expected_pixels(generation: &Generation, target: &Target) -> Option<Vec<[f32; 4]>> {
    use promptreel_engine::{
        Device, GenerateRequest, SessionOptions, Silent, Video, generate, registry,
    };
    use promptreel_ofx::effect::params::{COLOURS, FITS, RESOLUTIONS, RETIMINGS, SCHEDULERS};
    use promptreel_ofx::effect::render::{FramePick, blend, pick_frame};
    use promptreel_ofx::resample::{Target, render_canvas};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    static CLIPS: OnceLock<Mutex<HashMap<String, Arc<Video>>>> = OnceLock::new();
    let pick = |i: i32| usize::try_from(i).expect("choice index");
    let resolution = RESOLUTIONS[pick(generation.resolution)].1;
    let request = GenerateRequest {
        prompt: generation.prompt.clone(),
        negative_prompt: generation.negative.clone(),
        seed: generation.seed.max(0) as u64,
        steps: generation.steps as u32,
        guidance: generation.guidance as f32,
        guidance_2: None,
        frames: (generation.frames > 0).then_some(generation.frames as u32),
        width: resolution.map(|r| r.0),
        height: resolution.map(|r| r.1),
        scheduler: SCHEDULERS[pick(generation.scheduler)].1.map(str::to_owned),
        initial_latents: None,
        max_sequence_length: None,
        // Models conditioned on the frame rate (LTX) run at the host's, as the plug-in does.
        frame_rate: promptreel_engine::package::Manifest::read(&generation.model_dir)
            .ok()
            .filter(|m| m.denoiser.rope_interpolation_scale.is_some())
            .map(|_| target.host_fps as f32),
        ..Default::default()
    };
    let key = format!("{generation:?} {:?}", request.frame_rate);
    let cached = CLIPS
        .get_or_init(Default::default)
        .lock()
        .expect("clips")
        .get(&key)
        .cloned();
    let video = match cached {
        Some(v) => v,
        None => {
            let options = SessionOptions {
                device: Device::Cpu,
                intra_threads: 0,
                ..Default::default()
            };
            let model = registry::get(&generation.model_dir, options, None)
                .expect("engine loads the model");
            let v = Arc::new(generate(&model, &request, &mut Silent).expect("engine generates"));
            CLIPS
                .get_or_init(Default::default)
                .lock()
                .expect("clips")
                .insert(key, v.clone());
            v
        }
    };
    let shown = pick_frame(
        target.time,
        video.frame_count,
        video.fps,
        target.host_fps,
        RETIMINGS[pick(generation.retiming)].1,
    );
    let pixels = match shown {
        FramePick::Exact(i) => video.frame(i)?.to_vec(),
        FramePick::Blend { first, weight } => {
            blend(video.frame(first)?, video.frame(first + 1)?, weight)
        }
    };
    let cw = (target.project.0 * target.render_scale).round() as usize;
    let ch = (target.project.1 * target.render_scale).round() as usize;
    let target_canvas = Target {
        width: cw,
        height: ch,
        pixel_aspect: 1.0,
        fit: FITS[pick(generation.fit)].1,
        colour: COLOURS[pick(generation.output_colour)].1,
    };
    let canvas = render_canvas(&pixels, video.width, video.height, &target_canvas).expect("canvas");
    let w = target.window;
    let mut out = Vec::new();
    for y in w.y1..w.y2 {
        let row = usize::try_from(ch as i32 - 1 - y)
            .ok()
            .filter(|r| *r < ch)
            .map(|r| canvas.row(r));
        for x in w.x1..w.x2 {
            let px = match (row, usize::try_from(x)) {
                (Some(r), Ok(c)) if c < cw => [r[c * 4], r[c * 4 + 1], r[c * 4 + 2], r[c * 4 + 3]],
                _ => [0.0, 0.0, 0.0, 1.0],
            };
            out.push(px);
        }
    }
    Some(out)
}

/// Largest per-channel difference between two pixel lists of equal length.
pub fn max_difference(a: &[[f32; 4]], b: &[[f32; 4]]) -> f32 {
    assert_eq!(a.len(), b.len(), "pixel counts differ");
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| p.iter().zip(q).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f32::max)
}

/// Checks a render against [`expected_pixels`] when that is implemented.
pub fn compare_with_engine(
    generation: &Generation,
    inst: &Instance,
    r: &Rendered,
    time: f64,
    scale: f64,
) {
    let p = &inst.host().config.project;
    let depth = r.image.depth;
    let target = Target {
        time,
        host_fps: p.frame_rate,
        render_scale: scale,
        window: r.window,
        project: (p.width, p.height),
        depth,
    };
    if let Some(expected) = expected_pixels(generation, &target) {
        let tolerance = depth.quantum() * 1.01 + 1e-3;
        let diff = max_difference(&r.pixels(), &expected);
        assert!(
            diff <= tolerance,
            "frame {time} at scale {scale} ({depth:?}) differs from the engine by {diff}"
        );
    }
}
