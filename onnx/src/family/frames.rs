//! The frame rule of causal video VAEs (Wan, LTX): the first frame gets a latent frame of its
//! own and every `t` frames after it share one, so clips have `t*k + 1` frames.

use crate::error::{Error, Result};
use crate::package::Manifest;

/// Refuses a frame count that is not `t*k + 1` (or above `max`), naming the nearest valid ones.
pub(super) fn check(family: &str, t: u32, max: u32, frames: u32) -> Result<()> {
    if frames == 0 || frames > max || !(frames - 1).is_multiple_of(t) {
        let near = nearest(t, max, frames);
        let other = if near >= frames {
            near.saturating_sub(t).max(1)
        } else {
            (near + t).min(max)
        };
        let (a, b) = (near.min(other), near.max(other));
        let choice = if a == b {
            format!("use {a}")
        } else {
            format!("use {a} or {b}")
        };
        return Err(Error::setting(format!(
            "frames {frames}: this {family} model makes {t}k+1 frames (1, {}, {}, ... up to \
             {max}); {choice}",
            1 + t,
            1 + 2 * t
        )));
    }
    Ok(())
}

/// The valid frame count nearest to `frames` (`max` must itself be valid).
pub(super) fn nearest(t: u32, max: u32, frames: u32) -> u32 {
    let k = (f64::from(frames.max(1) - 1) / f64::from(t)).round() as u32;
    (k * t + 1).min(max)
}

/// The largest `t*k + 1` not above `limit`.
pub(super) fn max_for(t: u32, limit: u32) -> u32 {
    ((limit - 1) / t) * t + 1
}

/// The frames `latent_frames` latent frames decode to.
pub(super) fn for_latents(t: u32, latent_frames: u32) -> u32 {
    (latent_frames.max(1) - 1) * t + 1
}

/// Batch-1 latents `[1, C, (F-1)/t+1, H/s, W/s]` for the manifest's factors.
pub(super) fn latent_shape(m: &Manifest, frames: u32, width: u32, height: u32) -> Vec<usize> {
    let s = m.spatial_compression.max(1);
    let t = m.temporal_compression.max(1);
    vec![
        1,
        m.latent_channels as usize,
        ((frames.max(1) - 1) / t + 1) as usize,
        (height / s) as usize,
        (width / s) as usize,
    ]
}
