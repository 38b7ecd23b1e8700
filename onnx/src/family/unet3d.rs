//! ModelScope / Zeroscope (diffusers' TextToVideoSDPipeline): a UNet3D denoises latents of shape
//! `[B, C, F, h, w]`; the SD VAE decodes them one frame at a time.

use super::{Family, shape_error};
use crate::error::{Error, Result};
use crate::package::Manifest;
use crate::runtime::TensorF32;

/// The most frames a clip may have; far above what these models were trained on.
pub(crate) const MAX_FRAMES: u32 = 1024;

pub(crate) struct Unet3d;

impl Family for Unet3d {
    fn sample_rank(&self) -> usize {
        5
    }

    fn check_frames(&self, _m: &Manifest, frames: u32) -> Result<()> {
        if !(1..=MAX_FRAMES).contains(&frames) {
            return Err(Error::setting(format!(
                "frames {frames} is out of range; choose 1 to {MAX_FRAMES}"
            )));
        }
        Ok(())
    }

    fn nearest_frames(&self, _m: &Manifest, frames: u32) -> u32 {
        frames.clamp(1, MAX_FRAMES)
    }

    fn frames_for_latents(&self, _m: &Manifest, latent_frames: u32) -> u32 {
        latent_frames
    }

    fn latent_shape(&self, m: &Manifest, frames: u32, width: u32, height: u32) -> Vec<usize> {
        let s = m.spatial_compression;
        vec![
            1,
            m.latent_channels as usize,
            frames as usize,
            (height / s) as usize,
            (width / s) as usize,
        ]
    }

    fn frames_first(&self, latents: &TensorF32) -> Result<TensorF32> {
        let &[1, c, f, h, w] = latents.shape.as_slice() else {
            return Err(shape_error("UNet3D", &latents.shape));
        };
        // [1, C, F, h, w] -> [F, C, h, w]: each (channel, frame) plane moves as one block.
        let plane = h * w;
        let mut out = vec![0.0f32; latents.data.len()];
        for ci in 0..c {
            for fi in 0..f {
                let src = (ci * f + fi) * plane;
                let dst = (fi * c + ci) * plane;
                out[dst..dst + plane].copy_from_slice(&latents.data[src..src + plane]);
            }
        }
        TensorF32::new(vec![f, c, h, w], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_first_moves_planes() {
        // C=2, F=3, h=1, w=2: value = 100*c + 10*f + x
        let mut data = Vec::new();
        for c in 0..2 {
            for f in 0..3 {
                for x in 0..2 {
                    data.push((100 * c + 10 * f + x) as f32);
                }
            }
        }
        let t = TensorF32::new(vec![1, 2, 3, 1, 2], data).expect("shape");
        let out = Unet3d.frames_first(&t).expect("ok");
        assert_eq!(out.shape, vec![3, 2, 1, 2]);
        assert_eq!(&out.data[..4], &[0.0, 1.0, 100.0, 101.0]);
        assert_eq!(&out.data[8..], &[20.0, 21.0, 120.0, 121.0]);
    }

    #[test]
    fn frame_limits() {
        let m = crate::package::Manifest::parse(
            crate::package::manifest::tests::SAMPLE,
            std::path::Path::new("m.json"),
        )
        .expect("sample manifest");
        assert!(Unet3d.check_frames(&m, 0).is_err());
        assert!(Unet3d.check_frames(&m, MAX_FRAMES + 1).is_err());
        assert!(Unet3d.check_frames(&m, 16).is_ok());
    }
}
