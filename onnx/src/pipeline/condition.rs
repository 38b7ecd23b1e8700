//! Image to video (LTXImageToVideoPipeline's `prepare_latents`): the conditioning image is
//! fitted to the clip, encoded by the VAE encoder, sampled from the encoder's distribution,
//! normalised by the latent statistics, and becomes the first latent frame. That frame is
//! denoised at timestep 0 and restored after every step, so the clip starts on the image.

use super::{Run, Settings};
use crate::error::{Error, Result};
use crate::image::{self, RgbImage};
use crate::model::Model;
use crate::noise::SeededNoise;
use crate::pipeline::GenerateRequest;
use crate::runtime::{Graph, Input};

/// The image's normalised latent, `[C, h, w]`: the clip's first latent frame.
pub(super) struct FirstFrame {
    data: Vec<f32>,
}

/// Encodes `image` into the first latent frame of a clip of `settings`' size.
pub(super) fn encode_image(
    run: &mut Run<'_>,
    model: &Model,
    encoder: &Graph,
    req: &GenerateRequest,
    image: &RgbImage,
    settings: &Settings,
) -> Result<FirstFrame> {
    let m = model.package().manifest();
    let Some(spec) = &m.vae_encoder else {
        return Err(Error::setting(
            "image to video needs the package's VAE encoder, and this package has none",
        ));
    };
    let (width, height) = (settings.width, settings.height);
    let fitted = image::fit(image, width, height, req.image_fit);
    let pixels = image::to_model_input(&fitted);
    let x_shape = [1, 3, 1, height as usize, width as usize];
    let (out, took) = encoder.run(
        &[(
            spec.input.as_str(),
            Input::F32 {
                shape: &x_shape,
                data: &pixels,
            },
        )],
        &spec.output,
        &mut *run.observer,
    )?;
    run.timings.vae_encoder += took;
    let c = m.latent_channels as usize;
    let s = m.spatial_compression;
    let (h, w) = ((height / s) as usize, (width / s) as usize);
    if out.shape != [1, 2 * c, 1, h, w] {
        return Err(Error::package(format!(
            "the VAE encoder {} returned shape {:?} for a {width}x{height} image; expected \
             [1, {}, 1, {h}, {w}] (the mean and log-variance of {c} latent channels)",
            encoder.path().display(),
            out.shape,
            2 * c
        )));
    }
    let n = c * h * w;
    let noise = match &req.image_noise {
        Some(t) if t.shape != [1, c, 1, h, w] => {
            return Err(Error::setting(format!(
                "the image noise has shape {:?}, but the encoded image has shape \
                 [1, {c}, 1, {h}, {w}]",
                t.shape
            )));
        }
        Some(t) => t.data.clone(),
        None => SeededNoise::for_image(req.seed).take(n),
    };
    let (mean, logvar) = out.data.split_at(n);
    let (lm, ls) = match (&m.vae.latents_mean, &m.vae.latents_std) {
        (Some(lm), Some(ls)) => (lm.as_slice(), ls.as_slice()),
        _ => {
            return Err(Error::package(
                "image to video needs the VAE's latent statistics (vae.latents_mean and \
                 vae.latents_std in promptreel.json)",
            ));
        }
    };
    let plane = h * w;
    let mut data = vec![0.0f32; n];
    for (i, z) in data.iter_mut().enumerate() {
        // DiagonalGaussianDistribution.sample: mean + exp(0.5 * clamp(logvar, -30, 20)) * eps
        let std = (0.5 * logvar[i].clamp(-30.0, 20.0)).exp();
        let sample = mean[i] + std * noise[i];
        // LTX's _normalize_latents, per channel: (x - mean) * scaling_factor / std, called by
        // LTXImageToVideoPipeline with its default scaling factor of 1 (the real VAE's is 1
        // too), so the factor is left out as there
        let ci = i / plane;
        *z = (sample - lm[ci]) * 1.0 / ls[ci];
    }
    Ok(FirstFrame { data })
}

/// Writes the image's latent into the first latent frame of `[1, C, F, h, w]` latents.
pub(super) fn set_first_frame(latents: &mut [f32], shape: &[usize], first: &FirstFrame) {
    let &[_, c, f, h, w] = shape else {
        return;
    };
    let plane = h * w;
    for ci in 0..c {
        let dst = ci * f * plane;
        latents[dst..dst + plane].copy_from_slice(&first.data[ci * plane..(ci + 1) * plane]);
    }
}
