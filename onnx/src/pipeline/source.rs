//! Video to video, phase 4 (diffusers' VideoToVideoSDPipeline and WanVideoToVideoPipeline
//! `prepare_latents`): the source frames are fitted to the clip, encoded by the VAE encoder in
//! bounded calls, taken from the encoder's Gaussian (sampled, or its mean, as the family's
//! pipeline does) and normalised into the denoiser's latent space. The caller then noises them
//! to the first step that runs with the scheduler's own `add_noise`.
//!
//! Three kinds of encoder graph, as for decoding (`decode.rs`):
//! * per frame (SD's VAE, unet3d): `[N, 3, H, W] -> [N, 2C, h, w]`, `decode_chunk_frames`
//!   frames per call;
//! * stateful (Wan's causal VAE): the first frame, then `temporal_compression` frames per call,
//!   each call giving one latent frame `[1, 2C, 1, h, w]`, its causal caches carried over;
//! * whole clip (LTX): `[1, 3, F, H, W] -> [1, 2C, F', h, w]` in one call.

use super::{Run, Settings};
use crate::control::Phase;
use crate::error::{Error, Result};
use crate::family::{LatentStats, SourceLatent};
use crate::image::{self, RgbImage};
use crate::model::Model;
use crate::noise::SeededNoise;
use crate::package::Manifest;
use crate::pipeline::GenerateRequest;
use crate::runtime::{Graph, Input, TensorF32};

/// The clean latents of the source, normalised, in the latent layout `[1, C, F', h, w]`.
pub(super) fn encode_video(
    run: &mut Run<'_>,
    model: &Model,
    encoder: &Graph,
    req: &GenerateRequest,
    settings: &Settings,
) -> Result<Vec<f32>> {
    let m = model.package().manifest();
    let (Some(spec), Some(video)) = (&m.vae_encoder, &req.video) else {
        return Err(Error::setting(
            "video to video needs source frames and the package's VAE encoder",
        ));
    };
    let shape = &settings.latent_shape;
    let &[1, c, f_lat, h, w] = shape.as_slice() else {
        return Err(Error::package(format!(
            "video to video needs a video model (latents [1, C, F, h, w]); this one's are {shape:?}"
        )));
    };
    let (width, height) = (settings.width, settings.height);
    let frames = settings.frames as usize;
    // Fitted one frame at a time, as each call needs them: the fitted clip is never held whole.
    let fitted = |i: usize| -> Vec<f32> {
        let img: &RgbImage = &video[i];
        image::to_model_input(&image::fit(img, width, height, req.image_fit))
    };
    let rank = encoder.input(&spec.input).map_or(0, |p| p.shape.len());
    let per_chunk = c * h * w;
    // The Gaussian's mean and log-variance, in the latent layout, filled latent frame by frame
    // from each call's `[2C, h, w]` (mean channels, then log-variance channels).
    let mut mean = vec![0.0f32; c * f_lat * h * w];
    let mut logvar = vec![0.0f32; c * f_lat * h * w];
    let mut frame_latent = |fi: usize, params: &[f32]| {
        let (m_part, lv_part) = params.split_at(per_chunk);
        for ci in 0..c {
            let dst = (ci * f_lat + fi) * h * w;
            let src = ci * h * w..(ci + 1) * h * w;
            mean[dst..dst + h * w].copy_from_slice(&m_part[src.clone()]);
            logvar[dst..dst + h * w].copy_from_slice(&lv_part[src]);
        }
    };
    let plane = (width * height) as usize;
    let expect = |out: &TensorF32, want: &[usize]| -> Result<()> {
        if out.shape != want {
            return Err(Error::package(format!(
                "the VAE encoder {} returned shape {:?}; expected {want:?} (the mean and \
                 log-variance of {c} latent channels at the clip's latent size)",
                encoder.path().display(),
                out.shape
            )));
        }
        Ok(())
    };
    if rank == 4 {
        // per frame, a bounded batch per call
        if f_lat != frames {
            return Err(Error::package(
                "a per-frame VAE encoder needs one latent frame per frame (temporal_compression 1)",
            ));
        }
        let chunk = (m.vae.decode_chunk_frames as usize).max(1);
        let mut f0 = 0;
        while f0 < frames {
            run.check_cancel()?;
            let n = chunk.min(frames - f0);
            let mut pixels = Vec::with_capacity(n * 3 * plane);
            for i in f0..f0 + n {
                pixels.extend(fitted(i));
            }
            let x_shape = [n, 3, height as usize, width as usize];
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
            expect(&out, &[n, 2 * c, h, w])?;
            for (k, params) in out.data.chunks_exact(2 * per_chunk).enumerate() {
                frame_latent(f0 + k, params);
            }
            f0 += n;
            report(run, f0, frames);
        }
    } else if spec.stateful {
        let t = m.temporal_compression.max(1) as usize;
        let names = encoder.state_pairs();
        let state_in: Vec<&str> = names.iter().map(|(i, _)| i.as_str()).collect();
        let state_out: Vec<&str> = names.iter().map(|(_, o)| o.as_str()).collect();
        let mut state = None;
        for fi in 0..f_lat {
            run.check_cancel()?;
            // the first frame alone, then t frames per latent frame (frames = t k + 1)
            let (start, n) = if fi == 0 {
                (0, 1)
            } else {
                (1 + (fi - 1) * t, t)
            };
            let mut pixels = vec![0.0f32; 3 * n * plane];
            for k in 0..n {
                let px = fitted(start + k);
                // [3, H, W] -> [3, n, H, W]
                for ch in 0..3 {
                    let dst = (ch * n + k) * plane;
                    pixels[dst..dst + plane].copy_from_slice(&px[ch * plane..(ch + 1) * plane]);
                }
            }
            let x_shape = [1, 3, n, height as usize, width as usize];
            let (mut out, next, took) = encoder.run_stateful(
                &[(
                    spec.input.as_str(),
                    Input::F32 {
                        shape: &x_shape,
                        data: &pixels,
                    },
                )],
                &state_in,
                state.take(),
                &[spec.output.as_str()],
                &state_out,
                &mut *run.observer,
            )?;
            state = Some(next);
            run.timings.vae_encoder += took;
            let params = out.remove(0);
            expect(&params, &[1, 2 * c, 1, h, w])?;
            frame_latent(fi, &params.data);
            report(run, fi + 1, f_lat);
        }
    } else {
        // the whole clip in one call
        run.check_cancel()?;
        let mut pixels = vec![0.0f32; 3 * frames * plane];
        for k in 0..frames {
            let px = fitted(k);
            for ch in 0..3 {
                let dst = (ch * frames + k) * plane;
                pixels[dst..dst + plane].copy_from_slice(&px[ch * plane..(ch + 1) * plane]);
            }
        }
        let x_shape = [1, 3, frames, height as usize, width as usize];
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
        expect(&out, &[1, 2 * c, f_lat, h, w])?;
        // [1, 2C, F', h, w] -> per latent frame [2C, h, w]
        let mut params = vec![0.0f32; 2 * per_chunk];
        for fi in 0..f_lat {
            for ch in 0..2 * c {
                let src = (ch * f_lat + fi) * h * w;
                params[ch * h * w..(ch + 1) * h * w].copy_from_slice(&out.data[src..src + h * w]);
            }
            frame_latent(fi, &params);
        }
        report(run, 1, 1);
    }
    let mut latents = mean;
    if model.family().source_latent() == SourceLatent::Sample {
        // DiagonalGaussianDistribution.sample: mean + exp(0.5 * clamp(logvar, -30, 20)) * eps
        let eps = match &req.video_noise {
            Some(n) => n.data.clone(),
            None => SeededNoise::for_video(req.seed).take(latents.len()),
        };
        for ((x, lv), e) in latents.iter_mut().zip(&logvar).zip(&eps) {
            *x += (0.5 * lv.clamp(-30.0, 20.0)).exp() * e;
        }
    }
    normalize(m, model.family().latent_stats(), c, &mut latents);
    Ok(latents)
}

/// Takes VAE latents into the denoiser's space, the inverse of the pipeline's `denormalize`:
/// `(x - mean) * (1 / std)` (Wan), `(x - mean) * scaling_factor / std` (LTX), else
/// `(x - shift_factor) * scaling_factor` (SD's VAE: VideoToVideoSDPipeline's
/// `scaling_factor * latents`).
fn normalize(m: &Manifest, form: LatentStats, c: usize, latents: &mut [f32]) {
    let per_channel = latents.len() / c.max(1);
    let sf = m.vae.scaling_factor;
    match (&m.vae.latents_mean, &m.vae.latents_std) {
        (Some(mean), Some(std)) if mean.len() == c && std.len() == c => {
            for (ci, block) in latents.chunks_mut(per_channel).enumerate() {
                match form {
                    LatentStats::DivideByInverseStd => {
                        let inv = 1.0f32 / std[ci];
                        block.iter_mut().for_each(|x| *x = (*x - mean[ci]) * inv);
                    }
                    LatentStats::TimesStdOverScale => {
                        block
                            .iter_mut()
                            .for_each(|x| *x = (*x - mean[ci]) * sf / std[ci]);
                    }
                }
            }
        }
        _ => {
            let shift = m.vae.shift_factor;
            latents.iter_mut().for_each(|x| *x = (*x - shift) * sf);
        }
    }
}

fn report(run: &mut Run<'_>, done: usize, total: usize) {
    let frac = super::ENCODE_SHARE * done as f32 / total.max(1) as f32;
    run.report(Phase::EncodingSource, done, total, frac);
}
