//! LTX-Video 0.9.x (diffusers' LTXPipeline and LTXImageToVideoPipeline): a diffusion
//! transformer denoises latents of shape `[B, C, (F-1)/t+1, H/s, W/s]` (t = 8, s = 32 for the
//! real checkpoints; the factors are read from the manifest). The exported transformer takes
//! the latents unpacked and one timestep per latent frame, so the first frame can hold an
//! encoded image at timestep 0 (image to video). Prompts are encoded without a mask; the mask
//! goes to the transformer. The VAE decodes the whole clip in one call.

use super::{Family, LatentStats, frames, shape_error};
use crate::error::Result;
use crate::package::Manifest;
use crate::runtime::TensorF32;

/// Frames a clip may have at most, before rounding down to the frame rule (LTX-Video makes up
/// to 257; longer clips are left to the memory estimate to refuse or allow).
const FRAME_LIMIT: u32 = 1024;

pub(crate) struct Ltx;

/// Frames per latent frame after the first.
fn step(m: &Manifest) -> u32 {
    m.temporal_compression.max(1)
}

impl Family for Ltx {
    fn sample_rank(&self) -> usize {
        5
    }

    fn check_frames(&self, m: &Manifest, n: u32) -> Result<()> {
        frames::check("LTX", step(m), frames::max_for(step(m), FRAME_LIMIT), n)
    }

    fn nearest_frames(&self, m: &Manifest, n: u32) -> u32 {
        frames::nearest(step(m), frames::max_for(step(m), FRAME_LIMIT), n)
    }

    fn frames_for_latents(&self, m: &Manifest, latent_frames: u32) -> u32 {
        frames::for_latents(step(m), latent_frames)
    }

    fn latent_shape(&self, m: &Manifest, frames: u32, width: u32, height: u32) -> Vec<usize> {
        frames::latent_shape(m, frames, width, height)
    }

    fn frames_first(&self, latents: &TensorF32) -> Result<TensorF32> {
        // The whole clip goes to the decoder at once; nothing is reordered per frame.
        Err(shape_error("LTX", &latents.shape))
    }

    fn latent_stats(&self) -> LatentStats {
        LatentStats::TimesStdOverScale
    }

    fn pipeline_sigmas(&self, steps: usize) -> Option<Vec<f64>> {
        // LTXPipeline: np.linspace(1.0, 1 / num_inference_steps, num_inference_steps)
        let n = steps.max(1);
        Some(crate::scheduler::np_linspace(1.0, 1.0 / n as f64, n))
    }

    fn takes_image(&self) -> bool {
        true
    }

    fn decodes_whole_clip(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let text = crate::package::manifest::tests::SAMPLE
            .replace("\"unet3d\"", "\"ltx\"")
            .replace(
                "\"spatial_compression\": 8,",
                "\"spatial_compression\": 32, \"temporal_compression\": 8,",
            )
            .replace(
                "\"scaling_factor\": 0.18215",
                "\"scaling_factor\": 1.0, \"latents_mean\": [0, 0, 0, 0], \"latents_std\": [1, 1, 1, 1]",
            );
        Manifest::parse(&text, std::path::Path::new("m.json")).expect("ltx manifest")
    }

    #[test]
    fn frames_are_8k_plus_1_and_errors_name_the_nearest() {
        let m = manifest();
        for ok in [1, 9, 17, 161, 257] {
            assert!(Ltx.check_frames(&m, ok).is_ok(), "{ok}");
        }
        for (bad, want) in [(0, "use 1"), (8, "use 1 or 9"), (160, "use 153 or 161")] {
            let err = Ltx.check_frames(&m, bad).expect_err("refused").to_string();
            assert!(err.contains(want) && err.contains("8k+1"), "{bad}: {err}");
        }
        assert_eq!(Ltx.nearest_frames(&m, 12), 9);
        assert_eq!(Ltx.nearest_frames(&m, 14), 17);
        assert_eq!(Ltx.nearest_frames(&m, 5000), 1017);
        assert!(Ltx.check_frames(&m, 1017).is_ok());
        assert_eq!(Ltx.frames_for_latents(&m, 21), 161);
    }

    #[test]
    fn latents_follow_the_vae_factors() {
        let m = manifest();
        assert_eq!(Ltx.latent_shape(&m, 161, 768, 512), vec![1, 4, 21, 16, 24]);
    }

    #[test]
    fn sigmas_are_linspace_1_to_1_over_n() {
        let s = Ltx.pipeline_sigmas(4).expect("sigmas");
        assert_eq!(s, vec![1.0, 0.75, 0.5, 0.25]);
        assert_eq!(Ltx.pipeline_sigmas(1).expect("one"), vec![1.0]);
    }
}
