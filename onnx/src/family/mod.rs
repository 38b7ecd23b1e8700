//! Model families: what differs between model architectures, behind one small interface, so the
//! denoising loop in [`crate::pipeline`] never changes when a family is added.
//!
//! A family says which frame counts it makes, how latents are shaped for a clip, how to lay
//! latents out frame-first for a per-frame VAE decoder, and how prompts are prepared. What the
//! manifest can say (per-channel latent statistics, a stateful VAE, the size multiple) is read
//! from the manifest by the pipeline, not hard-wired here.

mod frames;
mod ltx;
mod sd;
mod unet3d;
mod wan;

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::package::{FamilyName, Manifest};
use crate::runtime::TensorF32;

/// The family-specific parts of generation.
pub(crate) trait Family: Send + Sync {
    /// Rank of the denoiser's sample input and output.
    fn sample_rank(&self) -> usize;

    /// Checks the frame count the user asked for.
    fn check_frames(&self, m: &Manifest, frames: u32) -> Result<()>;

    /// The valid frame count nearest to `frames` (what a host parameter snaps to).
    fn nearest_frames(&self, m: &Manifest, frames: u32) -> u32;

    /// The frame count a clip of `latent_frames` latent frames decodes to.
    fn frames_for_latents(&self, m: &Manifest, latent_frames: u32) -> u32;

    /// The latent shape (batch 1) for a clip of `frames` frames at `width` x `height` pixels.
    fn latent_shape(&self, m: &Manifest, frames: u32, width: u32, height: u32) -> Vec<usize>;

    /// Reorders batch-1 latents into `[frames, channels, h, w]` for a per-frame VAE decoder.
    fn frames_first(&self, latents: &TensorF32) -> Result<TensorF32>;

    /// The prompt as the pipeline hands it to the tokenizer.
    fn clean_prompt<'a>(&self, prompt: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(prompt)
    }

    /// Whether the text encoder's rows past the prompt's tokens are zeroed before the denoiser
    /// sees them (WanPipeline does; CLIP pipelines hand the padding rows over as computed).
    fn zero_text_padding(&self) -> bool {
        false
    }

    /// How per-channel latent statistics (`vae.latents_mean` / `latents_std`) take denoised
    /// latents into the VAE's space; the two pipelines round differently.
    fn latent_stats(&self) -> LatentStats {
        LatentStats::DivideByInverseStd
    }

    /// The sigmas the pipeline hands its scheduler for `steps` steps, where it chooses them
    /// (LTXPipeline: `linspace(1, 1/N, N)`); `None`: the scheduler spaces its own.
    fn pipeline_sigmas(&self, steps: usize) -> Option<Vec<f64>> {
        let _ = steps;
        None
    }

    /// Whether a clip can start from a conditioning image (image to video).
    fn takes_image(&self) -> bool {
        false
    }

    /// Whether the VAE decoder takes the whole clip in one call (neither per frame nor
    /// stateful: LTX's decoder is not causal).
    fn decodes_whole_clip(&self) -> bool {
        false
    }

    /// Video to video: how a source frame's latent is taken from the VAE encoder's Gaussian.
    /// VideoToVideoSDPipeline samples it; WanVideoToVideoPipeline takes its mean.
    fn source_latent(&self) -> SourceLatent {
        SourceLatent::Sample
    }
}

/// See [`Family::source_latent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceLatent {
    /// `mean + exp(logvar / 2) * eps` (diffusers' `sample_mode="sample"`).
    Sample,
    /// The mean (diffusers' `sample_mode="argmax"`).
    Mean,
}

/// See [`Family::latent_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatentStats {
    /// WanPipeline: `x / (1 / std) + mean`.
    DivideByInverseStd,
    /// LTXPipeline's `_denormalize_latents`: `x * std / scaling_factor + mean`.
    TimesStdOverScale,
}

/// The implementation of a family.
pub(crate) fn for_name(name: FamilyName) -> &'static dyn Family {
    match name {
        FamilyName::Unet3d => &unet3d::Unet3d,
        FamilyName::Sd => &sd::StableDiffusion,
        FamilyName::Wan => &wan::Wan,
        FamilyName::Ltx => &ltx::Ltx,
    }
}

fn shape_error(what: &str, shape: &[usize]) -> Error {
    Error::setting(format!(
        "{what} latents have shape {shape:?}, which this model cannot decode"
    ))
}
