//! What the caller asks for, and the checks that turn it into concrete settings.

use crate::error::{Error, Result};
use crate::image::{ImageFit, RgbImage};
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
/// Whole-clip VAE decoders are tiled, unless asked otherwise, when one call's estimated
/// working memory would exceed this (LTX at 768x512x161 would need tens of GB).
pub const TILE_ABOVE_BYTES: u64 = 2 << 30;
/// The highest frame rate accepted, in frames per second.
pub const MAX_FRAME_RATE: f32 = 240.0;
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
    /// With source frames (video to video) they are the noise `add_noise` mixes into the
    /// source's latents.
    pub initial_latents: Option<TensorF32>,
    /// Text tokens each prompt is padded to, for models that read a variable length (Wan's
    /// `max_sequence_length`); `None` = the package's.
    pub max_sequence_length: Option<u32>,
    /// The clip's frame rate; `None` = the package's native one. LTX also conditions its
    /// motion on it (the rotary position scale); for other models it only labels the clip.
    pub frame_rate: Option<f32>,
    /// Image to video: the clip's first frame (any size; fitted to the clip by `image_fit`).
    pub image: Option<RgbImage>,
    /// How an image of another aspect ratio is fitted to the clip.
    pub image_fit: ImageFit,
    /// The noise the VAE encoder's sample is drawn with, shaped like the encoded image
    /// (`[1, C, 1, h, w]`); `None` = from the seed. For parity tests.
    pub image_noise: Option<TensorF32>,
    /// Timestep-conditioned VAEs (LTX): the decoder's timestep and the share of decode noise
    /// mixed in first; `None` = the package's.
    pub decode_timestep: Option<f32>,
    pub decode_noise_scale: Option<f32>,
    /// The decode noise, shaped like the latents (`[1, C, F, h, w]`); `None` = from the seed.
    pub decode_noise: Option<TensorF32>,
    /// Whole-clip VAE decoders (LTX): decode in overlapping tiles as diffusers'
    /// `enable_tiling()` with framewise decoding does (`Some(true)`), in one call
    /// (`Some(false)`), or tiled exactly when one call would need more than
    /// [`TILE_ABOVE_BYTES`] (`None`; a rule of the size alone, so a clip is the same on every
    /// machine).
    pub vae_tiling: Option<bool>,
    /// Video to video (restyle): the source frames, in order, the first being the clip's first
    /// frame. Any size (fitted to the clip by `image_fit`); at least the clip's frame count, and
    /// frames past it are not used.
    pub video: Option<Vec<RgbImage>>,
    /// Video to video: how far from the source to go, 0 to 1 (diffusers' `strength`: the first
    /// `1 - strength` of the schedule is skipped; 0 returns the source through the VAE, 1 keeps
    /// only its noise level). `None` = [`DEFAULT_STRENGTH`].
    pub strength: Option<f32>,
    /// The noise the VAE encoder's sample is drawn with for families that sample it (unet3d),
    /// shaped like the latents; `None` = from the seed. For parity tests.
    pub video_noise: Option<TensorF32>,
}

/// Video to video's strength when the request leaves it open (VideoToVideoSDPipeline's).
pub const DEFAULT_STRENGTH: f32 = 0.6;

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
            frame_rate: None,
            image: None,
            image_fit: ImageFit::default(),
            image_noise: None,
            decode_timestep: None,
            decode_noise_scale: None,
            decode_noise: None,
            vae_tiling: None,
            video: None,
            strength: None,
            video_noise: None,
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
    /// Frames per second.
    pub frame_rate: f32,
    /// Timestep-conditioned VAEs: the decode timestep and noise scale (else `None`).
    pub decode: Option<(f32, f32)>,
    /// Whether the clip starts from a conditioning image.
    pub image: bool,
    /// Whether a whole-clip VAE decoder runs tile by tile.
    pub vae_tiled: bool,
    /// Video to video: the strength, and the index of the first step that runs (diffusers'
    /// `t_start`; equal to `steps` when no step runs and the source is decoded as encoded).
    pub video: Option<VideoStart>,
}

/// Where a video-to-video generation enters the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoStart {
    pub strength: f32,
    pub first_step: u32,
}

impl VideoStart {
    /// diffusers' `get_timesteps`: `init = min(int(steps * strength), steps)` steps run, the
    /// first `steps - init` are skipped.
    pub fn new(steps: u32, strength: f32) -> Self {
        let init = ((f64::from(steps) * f64::from(strength)).floor() as u32).min(steps);
        Self {
            strength,
            first_step: steps - init,
        }
    }
}

impl Settings {
    /// Settings for a size on a model, the rest at the package's defaults (one step): what
    /// memory estimates made without a request (inspect, benchmarks) use.
    pub fn at_size(m: &Manifest, frames: u32, width: u32, height: u32, guidance: f32) -> Self {
        Self {
            frames,
            width,
            height,
            steps: 1,
            guidance,
            guidance_2: guidance,
            scheduler: None,
            latent_shape: vec![],
            text_tokens: m.tokenizer.max_length,
            frame_rate: m.native.fps as f32,
            decode: m
                .vae_decoder
                .timestep
                .as_ref()
                .map(|_| (m.vae.decode_timestep.unwrap_or(0.0), 0.0)),
            image: false,
            vae_tiled: tiles_by_default(m, frames, width, height),
            video: None,
        }
    }

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
    if req.max_sequence_length.is_some() && !matches!(m.family, FamilyName::Wan | FamilyName::Ltx) {
        return Err(Error::setting(format!(
            "max sequence length: this {} model reads exactly {} tokens per prompt; the \
             setting is for Wan and LTX models",
            m.family.as_str(),
            m.tokenizer.max_length
        )));
    }
    if !(1..=MAX_TEXT_TOKENS).contains(&text_tokens) {
        return Err(Error::setting(format!(
            "max sequence length {text_tokens} is out of range; choose 1 to {MAX_TEXT_TOKENS} \
             (Wan uses 512, LTX 128)"
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
    let frame_rate = req.frame_rate.unwrap_or(m.native.fps as f32);
    if !(frame_rate.is_finite() && frame_rate > 0.0 && frame_rate <= MAX_FRAME_RATE) {
        return Err(Error::setting(format!(
            "frame rate {frame_rate} is out of range; choose a value above 0 and up to \
             {MAX_FRAME_RATE} (LTX-Video is made for 24 to 30)"
        )));
    }
    let decode = resolve_decode(m, req, &latent_shape)?;
    if req.image.is_some() {
        if !family.takes_image() {
            return Err(Error::setting(format!(
                "image: this {} model makes video from text only; image to video needs an LTX \
                 model",
                m.family.as_str()
            )));
        }
        if m.vae_encoder.is_none() {
            return Err(Error::setting(format!(
                "image: the model package {} has no VAE encoder, which image to video needs; \
                 export it again without --no-vae-encoder",
                model.package().root().display()
            )));
        }
    }
    if req.image.is_none() && req.image_noise.is_some() {
        return Err(Error::setting(
            "image noise was given without an image; it is the noise the image is encoded with",
        ));
    }
    let video = resolve_video(model, req, frames, &latent_shape)?;
    let vae_tiled = match req.vae_tiling {
        Some(on) => on && family.decodes_whole_clip(),
        None => tiles_by_default(m, frames, width, height),
    };
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
        frame_rate,
        decode,
        image: req.image.is_some(),
        vae_tiled,
        video,
    })
}

/// Video to video: checks the source frames and strength against the model and the clip.
fn resolve_video(
    model: &Model,
    req: &GenerateRequest,
    frames: u32,
    latent_shape: &[usize],
) -> Result<Option<VideoStart>> {
    let m = model.package().manifest();
    let Some(video) = &req.video else {
        if req.strength.is_some() || req.video_noise.is_some() {
            return Err(Error::setting(
                "strength and video noise are for video to video; give source frames too",
            ));
        }
        return Ok(None);
    };
    if req.image.is_some() {
        return Err(Error::setting(
            "give either an image (image to video) or source frames (video to video), not both",
        ));
    }
    if m.vae_encoder.is_none() {
        return Err(Error::setting(format!(
            "video to video needs the model's VAE encoder, and the package {} has none; \
             export it again without --no-vae-encoder, or use a model that has one",
            model.package().root().display()
        )));
    }
    if (video.len() as u64) < u64::from(frames) {
        return Err(Error::setting(format!(
            "the source has {} frames, but the clip is {frames} frames long; give at least \
             {frames} source frames or lower the frame count",
            video.len()
        )));
    }
    if let Some(first) = video.first()
        && let Some((i, f)) = video
            .iter()
            .take(frames as usize)
            .enumerate()
            .find(|(_, f)| (f.width, f.height) != (first.width, first.height))
    {
        return Err(Error::setting(format!(
            "source frame {} is {}x{}, but the first is {}x{}; every source frame must be \
             the same size",
            i + 1,
            f.width,
            f.height,
            first.width,
            first.height
        )));
    }

    let strength = req.strength.unwrap_or(DEFAULT_STRENGTH);
    if !(strength.is_finite() && (0.0..=1.0).contains(&strength)) {
        return Err(Error::setting(format!(
            "strength {strength} is out of range; choose 0 (keep the source) to 1 (ignore it), \
             e.g. {DEFAULT_STRENGTH}"
        )));
    }
    if let Some(n) = &req.video_noise {
        if n.shape != latent_shape {
            return Err(Error::setting(format!(
                "the video noise has shape {:?}, but the latents have shape {latent_shape:?}",
                n.shape
            )));
        }
        if n.data.iter().any(|x| !x.is_finite()) {
            return Err(Error::setting(
                "the video noise contains NaN or infinite values",
            ));
        }
    }
    Ok(Some(VideoStart::new(req.steps, strength)))
}

/// Whether a whole-clip VAE decoder runs tiled when the request leaves it open: when one call
/// would need more than [`TILE_ABOVE_BYTES`] by the package's memory profile. A rule of the size
/// alone, so the same clip comes out on every machine.
fn tiles_by_default(m: &Manifest, frames: u32, width: u32, height: u32) -> bool {
    if !crate::family::for_name(m.family).decodes_whole_clip() {
        return false;
    }
    let per_pixel = crate::budget::profile(m)
        .vae_decoder
        .map_or(0, |v| v.bytes_per_position);
    let one_call = u64::from(frames) * u64::from(width) * u64::from(height) * per_pixel;
    one_call > TILE_ABOVE_BYTES
}

/// The decode timestep and noise scale of a timestep-conditioned VAE (LTX-Video 0.9.1+): the
/// request's, else the package's; the noise scale defaults to the timestep (diffusers' rule).
fn resolve_decode(
    m: &Manifest,
    req: &GenerateRequest,
    latent_shape: &[usize],
) -> Result<Option<(f32, f32)>> {
    let asked = req.decode_timestep.is_some()
        || req.decode_noise_scale.is_some()
        || req.decode_noise.is_some();
    if m.vae_decoder.timestep.is_none() {
        if asked {
            return Err(Error::setting(
                "decode timestep, noise scale and noise are for timestep-conditioned VAEs \
                 (LTX-Video 0.9.1 and later); this model's VAE takes no timestep, so leave them \
                 unset",
            ));
        }
        return Ok(None);
    }
    let t = req.decode_timestep.or(m.vae.decode_timestep).unwrap_or(0.0);
    let scale = req
        .decode_noise_scale
        .or(req.decode_timestep)
        .or(m.vae.decode_noise_scale)
        .unwrap_or(t);
    for (name, v) in [("decode timestep", t), ("decode noise scale", scale)] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err(Error::setting(format!(
                "{name} {v} is out of range; choose 0 to 1 (LTX-Video's documentation uses \
                 0.03 and 0.025)"
            )));
        }
    }
    if let Some(n) = &req.decode_noise {
        if n.shape != latent_shape {
            return Err(Error::setting(format!(
                "the decode noise has shape {:?}, but the latents have shape {latent_shape:?}",
                n.shape
            )));
        }
        if n.data.iter().any(|x| !x.is_finite()) {
            return Err(Error::setting(
                "the decode noise contains NaN or infinite values",
            ));
        }
    }
    Ok(Some((t, scale)))
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
