//! Wan 2.1 / 2.2 (diffusers' WanPipeline): a diffusion transformer denoises latents of shape
//! `[B, C, (F-1)/t+1, H/s, W/s]` (t = 4, s = 8 for Wan 2.1); a causal video VAE, exported as a
//! stateful step graph, decodes them one latent frame at a time. Prompts are cleaned as
//! WanPipeline cleans them, and the text encoder's rows past the prompt are zeroed.

use std::borrow::Cow;

use super::{Family, frames, shape_error};
use crate::error::Result;
use crate::package::Manifest;
use crate::prompt_clean::wan_prompt_clean;
use crate::runtime::TensorF32;

/// The most frames a clip may have (Wan makes 81; 1021 leaves room for longer experiments).
pub(crate) const MAX_FRAMES: u32 = 1021;

pub(crate) struct Wan;

/// Frames per latent frame after the first.
fn step(m: &Manifest) -> u32 {
    m.temporal_compression.max(1)
}

impl Family for Wan {
    fn source_latent(&self) -> super::SourceLatent {
        super::SourceLatent::Mean
    }

    fn sample_rank(&self) -> usize {
        5
    }

    fn check_frames(&self, m: &Manifest, frames: u32) -> Result<()> {
        frames::check("Wan", step(m), MAX_FRAMES, frames)
    }

    fn nearest_frames(&self, m: &Manifest, frames: u32) -> u32 {
        frames::nearest(step(m), MAX_FRAMES, frames)
    }

    fn frames_for_latents(&self, m: &Manifest, latent_frames: u32) -> u32 {
        frames::for_latents(step(m), latent_frames)
    }

    fn latent_shape(&self, m: &Manifest, frames: u32, width: u32, height: u32) -> Vec<usize> {
        frames::latent_shape(m, frames, width, height)
    }

    fn frames_first(&self, latents: &TensorF32) -> Result<TensorF32> {
        // Wan's VAE decodes whole latent clips through its stateful step graph; nothing is
        // reordered per frame.
        Err(shape_error("Wan", &latents.shape))
    }

    fn clean_prompt<'a>(&self, prompt: &'a str) -> Cow<'a, str> {
        Cow::Owned(wan_prompt_clean(prompt))
    }

    fn zero_text_padding(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let text = crate::package::manifest::tests::SAMPLE
            .replace("\"unet3d\"", "\"wan\"")
            .replace(
                "\"spatial_compression\": 8,",
                "\"spatial_compression\": 8, \"temporal_compression\": 4,",
            )
            .replace(
                "\"text_encoder\": {}",
                "\"text_encoder\": {\"attention_mask\": \"attention_mask\"}",
            )
            .replace(
                "\"output\": \"sample\"}",
                "\"output\": \"sample\", \"stateful\": true}",
            );
        Manifest::parse(&text, std::path::Path::new("m.json")).expect("wan manifest")
    }

    #[test]
    fn frames_are_4k_plus_1_and_errors_name_the_nearest() {
        let m = manifest();
        for ok in [1, 5, 9, 81] {
            assert!(Wan.check_frames(&m, ok).is_ok(), "{ok}");
        }
        for (bad, want) in [
            (0, "use 1"),
            (2, "use 1 or 5"),
            (4, "use 1 or 5"),
            (80, "use 77 or 81"),
        ] {
            let err = Wan.check_frames(&m, bad).expect_err("refused").to_string();
            assert!(err.contains(want) && err.contains("4k+1"), "{bad}: {err}");
        }
        assert_eq!(Wan.nearest_frames(&m, 0), 1);
        assert_eq!(Wan.nearest_frames(&m, 2), 1);
        assert_eq!(Wan.nearest_frames(&m, 4), 5);
        assert_eq!(Wan.nearest_frames(&m, 82), 81);
        assert_eq!(Wan.nearest_frames(&m, 5000), MAX_FRAMES);
        assert_eq!(Wan.frames_for_latents(&m, 21), 81);
    }

    #[test]
    fn latent_shape_follows_the_vae_factors() {
        let m = manifest();
        assert_eq!(Wan.latent_shape(&m, 81, 832, 480), vec![1, 4, 21, 60, 104]);
        assert_eq!(Wan.latent_shape(&m, 1, 64, 32), vec![1, 4, 1, 4, 8]);
    }
}
