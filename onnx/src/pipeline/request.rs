//! What the caller asks for, and the checks that turn it into concrete settings.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::package::{FamilyName, Manifest};
use crate::runtime::TensorF32;
use crate::scheduler::SchedulerKind;

/// The most denoising steps accepted.
pub const MAX_STEPS: u32 = 1000;
/// The largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// The largest guidance scale accepted.
pub const MAX_GUIDANCE: f32 = 100.0;
/// The most text tokens a prompt may be padded to.
pub const MAX_TEXT_TOKENS: u32 = 4096;
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
    /// Wan 2.2 A14B: the guidance of the low-noise transformer's steps (`guidance_scale_2`);
    /// `None` = `guidance`.
    pub guidance_2: Option<f32>,
    pub frames: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// A scheduler name (see `SchedulerKind::all_names`); `None` = the package's own.
    pub scheduler: Option<String>,
    /// Initial latents instead of seeded noise, unscaled (multiplied by the scheduler's
    /// init_noise_sigma, as diffusers does with supplied latents). Their shape fixes the size.
    pub initial_latents: Option<TensorF32>,
    /// Text tokens each prompt is padded to, for models that read a variable length (Wan's
    /// `max_sequence_length`); `None` = the package's.
    pub max_sequence_length: Option<u32>,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 0,
            steps: 25,
            guidance: 7.5,
            guidance_2: None,
            frames: None,
            width: None,
            height: None,
            scheduler: None,
            initial_latents: None,
            max_sequence_length: None,
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
    /// The low-noise transformer's guidance (two-transformer models; else = `guidance`).
    pub guidance_2: f32,
    pub scheduler: Option<(SchedulerKind, Option<bool>)>,
    pub latent_shape: Vec<usize>,
    /// Text tokens per prompt.
    pub text_tokens: u32,
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
        Some([.., f, h, w]) if family.sample_rank() == 5 => (
            Some(family.frames_for_latents(m, *f as u32)),
            Some(*w as u32 * s),
            Some(*h as u32 * s),
        ),
        Some([.., h, w]) => (Some(1), Some(*w as u32 * s), Some(*h as u32 * s)),
        _ => (None, None, None),
    };
    let frames = req.frames.or(lf).unwrap_or(m.native.frames);
    family.check_frames(m, frames)?;
    let width = req.width.or(lw).unwrap_or(m.native.width);
    let height = req.height.or(lh).unwrap_or(m.native.height);
    let k = size_multiple(m);
    for (name, v) in [("width", width), ("height", height)] {
        if v == 0 || v > MAX_SIDE {
            return Err(Error::setting(format!(
                "{name} {v} is out of range; choose {k} to {MAX_SIDE}"
            )));
        }
        if v % k != 0 {
            let down = (v / k).max(1) * k;
            let why = if k == s {
                "the model's VAE factor".to_string()
            } else {
                format!("the VAE's factor {s} times the transformer's patch")
            };
            return Err(Error::setting(format!(
                "{name} {v} is not a multiple of {k}, {why}; use {down} or {}",
                down + k
            )));
        }
    }
    let text_tokens = req.max_sequence_length.unwrap_or(m.tokenizer.max_length);
    if req.max_sequence_length.is_some() && m.family != FamilyName::Wan {
        return Err(Error::setting(format!(
            "max sequence length: this {} model reads exactly {} tokens per prompt; the \
             setting is for Wan models",
            m.family.as_str(),
            m.tokenizer.max_length
        )));
    }
    if !(1..=MAX_TEXT_TOKENS).contains(&text_tokens) {
        return Err(Error::setting(format!(
            "max sequence length {text_tokens} is out of range; choose 1 to {MAX_TEXT_TOKENS} \
             (Wan uses 512)"
        )));
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
    if let Some(g2) = req.guidance_2 {
        if m.denoiser_2.is_none() {
            return Err(Error::setting(
                "guidance 2 is for two-transformer Wan 2.2 models (A14B); this model has one \
                 denoiser, so leave it unset",
            ));
        }
        if !g2.is_finite() || !(0.0..=MAX_GUIDANCE).contains(&g2) {
            return Err(Error::setting(format!(
                "guidance 2 {g2} is not a number between 0 and {MAX_GUIDANCE}"
            )));
        }
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
        guidance_2: req.guidance_2.unwrap_or(req.guidance),
        scheduler,
        latent_shape,
        text_tokens,
    })
}

/// A size moved to the nearest one the model can make, with a sentence per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapped {
    pub frames: u32,
    pub width: u32,
    pub height: u32,
    /// "Frames 8 -> 9: this model makes 4k+1 frames", one per value that moved.
    pub notes: Vec<String>,
}

/// The valid frame count and size nearest to the given ones, for hosts whose parameters cannot
/// refuse a value (the plug-in snaps and says so in its Status line; the CLI refuses instead).
pub fn snap(m: &Manifest, frames: u32, width: u32, height: u32) -> Snapped {
    let family = crate::family::for_name(m.family);
    let mut notes = Vec::new();
    let f = family.nearest_frames(m, frames);
    if f != frames {
        let rule = match (m.family, m.temporal_compression) {
            (FamilyName::Sd, _) => "this model makes stills".to_string(),
            (_, t) if t > 1 => format!("this model makes {t}k+1 frames"),
            _ => "out of range".to_string(),
        };
        notes.push(format!("Frames {frames} -> {f}: {rule}"));
    }
    let k = size_multiple(m);
    let mut side = |name: &str, v: u32| {
        let top = (MAX_SIDE / k) * k;
        let s = (((v + k / 2) / k) * k).clamp(k, top);
        if s != v {
            notes.push(format!(
                "{name} {v} -> {s}: sides are multiples of {k} for this model"
            ));
        }
        s
    };
    let width = side("Width", width);
    let height = side("Height", height);
    Snapped {
        frames: f,
        width,
        height,
        notes,
    }
}

/// What width and height must be multiples of.
pub fn size_multiple(m: &Manifest) -> u32 {
    m.size_multiple.unwrap_or(m.spatial_compression).max(1)
}
