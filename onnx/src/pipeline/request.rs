//! What the caller asks for, and the checks that turn it into concrete settings.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::runtime::TensorF32;
use crate::scheduler::SchedulerKind;

/// The most denoising steps accepted.
pub const MAX_STEPS: u32 = 1000;
/// The largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// The largest guidance scale accepted.
pub const MAX_GUIDANCE: f32 = 100.0;
/// The most output values (frames x height x width x 3) a generation may produce: 4 GiB of f32.
pub const MAX_OUTPUT_VALUES: u64 = 1 << 30;

/// A generation request. `None` fields take the model's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    /// The negative prompt (empty = unconditional, as diffusers does).
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: u32,
    /// Classifier-free guidance scale; at most 1.0 disables guidance (diffusers' rule).
    pub guidance: f32,
    pub frames: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// A scheduler name (see `SchedulerKind::all_names`); `None` = the package's own.
    pub scheduler: Option<String>,
    /// Initial latents instead of seeded noise, unscaled (multiplied by the scheduler's
    /// init_noise_sigma, as diffusers does with supplied latents). Their shape fixes the size.
    pub initial_latents: Option<TensorF32>,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 0,
            steps: 25,
            guidance: 7.5,
            frames: None,
            width: None,
            height: None,
            scheduler: None,
            initial_latents: None,
        }
    }
}

/// A request with every value resolved and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub frames: u32,
    pub width: u32,
    pub height: u32,
    pub steps: u32,
    pub guidance: f32,
    pub scheduler: Option<(SchedulerKind, Option<bool>)>,
    pub latent_shape: Vec<usize>,
}

impl Settings {
    /// Whether classifier-free guidance runs.
    pub fn uses_guidance(&self) -> bool {
        self.guidance > 1.0
    }
}

/// Phase 1: checks the request against the model and resolves defaults.
pub(crate) fn resolve(model: &Model, req: &GenerateRequest) -> Result<Settings> {
    let m = model.package().manifest();
    let family = model.family();
    let s = m.spatial_compression;
    // Supplied latents fix the size wherever the request leaves it open.
    let (lf, lw, lh) = match req.initial_latents.as_ref().map(|l| l.shape.as_slice()) {
        Some([.., f, h, w]) if family.sample_rank() == 5 => {
            (Some(*f as u32), Some(*w as u32 * s), Some(*h as u32 * s))
        }
        Some([.., h, w]) => (Some(1), Some(*w as u32 * s), Some(*h as u32 * s)),
        _ => (None, None, None),
    };
    let frames = req.frames.or(lf).unwrap_or(m.native.frames);
    family.check_frames(frames)?;
    let width = req.width.or(lw).unwrap_or(m.native.width);
    let height = req.height.or(lh).unwrap_or(m.native.height);
    for (name, v) in [("width", width), ("height", height)] {
        if v == 0 || v > MAX_SIDE {
            return Err(Error::setting(format!(
                "{name} {v} is out of range; choose {s} to {MAX_SIDE}"
            )));
        }
        if v % s != 0 {
            let down = (v / s).max(1) * s;
            return Err(Error::setting(format!(
                "{name} {v} is not a multiple of {s}, the model's VAE factor; use {down} or {}",
                down + s
            )));
        }
    }
    if u64::from(frames) * u64::from(width) * u64::from(height) * 3 > MAX_OUTPUT_VALUES {
        return Err(Error::setting(format!(
            "{frames} frames of {width}x{height} would need more than 4 GiB of output; \
             lower the frame count or the resolution"
        )));
    }
    if req.steps == 0 || req.steps > MAX_STEPS {
        return Err(Error::setting(format!(
            "steps {} is out of range; choose 1 to {MAX_STEPS}",
            req.steps
        )));
    }
    if !req.guidance.is_finite() || !(0.0..=MAX_GUIDANCE).contains(&req.guidance) {
        return Err(Error::setting(format!(
            "guidance {} is not a number between 0 and {MAX_GUIDANCE}; 7.5 is typical, 1 turns \
             guidance off",
            req.guidance
        )));
    }
    let scheduler = req
        .scheduler
        .as_deref()
        .map(SchedulerKind::parse)
        .transpose()?;
    let mut latent_shape = family.latent_shape(m, frames, width, height);
    if let Some(l) = &req.initial_latents {
        if l.shape != latent_shape {
            return Err(Error::setting(format!(
                "the initial latents have shape {:?}, but {frames} frames at {width}x{height} \
                 need {latent_shape:?}",
                l.shape
            )));
        }
        if l.data.iter().any(|x| !x.is_finite()) {
            return Err(Error::setting(
                "the initial latents contain NaN or infinite values",
            ));
        }
        latent_shape = l.shape.clone();
    }
    Ok(Settings {
        frames,
        width,
        height,
        steps: req.steps,
        guidance: req.guidance,
        scheduler,
        latent_shape,
    })
}
