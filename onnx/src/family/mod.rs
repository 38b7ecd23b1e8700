//! Model families: what differs between model architectures, behind one small interface, so the
//! denoising loop in [`crate::pipeline`] never changes when a family is added.
//!
//! A family says how latents are shaped for a clip, and how to lay latents out frame-first for
//! the VAE decoder. Families with packed token latents (LTX-Video) or per-channel latent
//! normalisation (Wan) add their own implementations of these hooks.

mod sd;
mod unet3d;

use crate::error::{Error, Result};
use crate::package::{FamilyName, Manifest};
use crate::runtime::TensorF32;

/// The family-specific parts of generation.
pub(crate) trait Family: Send + Sync {
    /// Rank of the denoiser's sample input and output.
    fn sample_rank(&self) -> usize;

    /// Checks the frame count the user asked for.
    fn check_frames(&self, frames: u32) -> Result<()>;

    /// The latent shape (batch 1) for a clip of `frames` frames at `width` x `height` pixels.
    fn latent_shape(&self, m: &Manifest, frames: u32, width: u32, height: u32) -> Vec<usize>;

    /// Reorders batch-1 latents into `[frames, channels, h, w]` for a per-frame VAE decoder.
    fn frames_first(&self, latents: &TensorF32) -> Result<TensorF32>;
}

/// The implementation of a family.
pub(crate) fn for_name(name: FamilyName) -> &'static dyn Family {
    match name {
        FamilyName::Unet3d => &unet3d::Unet3d,
        FamilyName::Sd => &sd::StableDiffusion,
    }
}

fn shape_error(what: &str, shape: &[usize]) -> Error {
    Error::setting(format!(
        "{what} latents have shape {shape:?}, which this model cannot decode"
    ))
}
