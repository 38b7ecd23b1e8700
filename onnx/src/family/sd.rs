//! Stable Diffusion stills (optimum exports): a UNet2D over `[B, C, h, w]`, one frame.

use super::{Family, shape_error};
use crate::error::{Error, Result};
use crate::package::Manifest;
use crate::runtime::TensorF32;

pub(crate) struct StableDiffusion;

impl Family for StableDiffusion {
    fn sample_rank(&self) -> usize {
        4
    }

    fn check_frames(&self, _m: &Manifest, frames: u32) -> Result<()> {
        if frames != 1 {
            return Err(Error::setting(format!(
                "frames {frames}: this is a still-image (sd) model, which makes exactly 1 frame"
            )));
        }
        Ok(())
    }

    fn nearest_frames(&self, _m: &Manifest, _frames: u32) -> u32 {
        1
    }

    fn frames_for_latents(&self, _m: &Manifest, _latent_frames: u32) -> u32 {
        1
    }

    fn latent_shape(&self, m: &Manifest, _frames: u32, width: u32, height: u32) -> Vec<usize> {
        let s = m.spatial_compression;
        vec![
            1,
            m.latent_channels as usize,
            (height / s) as usize,
            (width / s) as usize,
        ]
    }

    fn frames_first(&self, latents: &TensorF32) -> Result<TensorF32> {
        match latents.shape.as_slice() {
            [1, _, _, _] => Ok(latents.clone()),
            s => Err(shape_error("Stable Diffusion", s)),
        }
    }
}
