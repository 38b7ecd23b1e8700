//! Phase 6 and 7: VAE decoding in bounded chunks, then RGB frames in [0, 1].
//!
//! Two kinds of decoder graph:
//! * per frame (SD's VAE, for unet3d and sd): `[N, C, h, w] -> [N, 3, H, W]`, run on
//!   `decode_chunk_frames` frames at a time;
//! * stateful (Wan's causal video VAE): `[1, C, 1, h, w]` plus its causal caches ->
//!   `[1, 3, T, H, W]` plus the updated caches, run once per latent frame. The caches start
//!   empty (zero frames, which the graph reads as "first chunk") and each call's go to the
//!   next, so memory is one chunk's whatever the clip length (docs/model-package.md);
//! * whole clip (LTX's VAE, not causal): `[1, C, F, h, w]` (plus a decode timestep `[1]` for
//!   timestep-conditioned decoders) -> `[1, 3, T, H, W]` in one call; its memory grows with
//!   the clip, which the estimate made before generation accounts for.

use super::tiled::{self, Tiling, Vol};
use super::{DECODE_SHARE, Run};
use crate::control::Phase;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::package::Manifest;
use crate::runtime::{Graph, Input, TensorF32};

/// Decodes `[1, C, F, h, w]` / `[1, C, h, w]` latents with a per-frame decoder graph; returns
/// the interleaved RGB frames and their count.
pub(super) fn per_frame(
    run: &mut Run<'_>,
    model: &Model,
    vae: &Graph,
    latents: &TensorF32,
    width: usize,
    height: usize,
) -> Result<(Vec<f32>, usize)> {
    let m = model.package().manifest();
    let per_frame = model.family().frames_first(latents)?;
    let (n_frames, c, h, w) = match per_frame.shape.as_slice() {
        &[f, c, h, w] => (f, c, h, w),
        s => {
            return Err(Error::package(format!(
                "unexpected frame latent shape {s:?}"
            )));
        }
    };
    let chunk = (m.vae.decode_chunk_frames as usize).max(1);
    let frame_len = c * h * w;
    let mut frames = Vec::with_capacity(n_frames * width * height * 3);
    let mut f0 = 0;
    while f0 < n_frames {
        run.check_cancel()?;
        let n = chunk.min(n_frames - f0);
        let data = &per_frame.data[f0 * frame_len..(f0 + n) * frame_len];
        let input_shape = [n, c, h, w];
        let (out, took) = vae.run(
            &[(
                m.vae_decoder.input.as_str(),
                Input::F32 {
                    shape: &input_shape,
                    data,
                },
            )],
            &m.vae_decoder.output,
            &mut *run.observer,
        )?;
        run.timings.vae_decoder += took;
        // [n, 3, H, W] in [-1, 1] -> [n, H, W, 3] in [0, 1].
        check_decoded(&out, &[n, 3, height, width], vae)?;
        append_rgb(&mut frames, &out.data, n, width * height);
        f0 += n;
        report(run, f0, n_frames);
    }
    Ok((frames, n_frames))
}

/// Decodes `[1, C, F', h, w]` latents with a stateful step graph, one latent frame per call.
pub(super) fn stateful(
    run: &mut Run<'_>,
    m: &Manifest,
    vae: &Graph,
    latents: &TensorF32,
    width: usize,
    height: usize,
) -> Result<(Vec<f32>, usize)> {
    let &[1, c, f, h, w] = latents.shape.as_slice() else {
        return Err(Error::package(format!(
            "the stateful VAE decoder takes [1, C, F, h, w] latents, not {:?}",
            latents.shape
        )));
    };
    let spec = &m.vae_decoder;
    let names = vae.state_pairs();
    let state_in: Vec<&str> = names.iter().map(|(i, _)| i.as_str()).collect();
    let state_out: Vec<&str> = names.iter().map(|(_, o)| o.as_str()).collect();
    // None: the first call's caches are empty (zero frames), the graph's "first chunk" signal.
    let mut state = None;
    let plane = h * w;
    let mut chunk = vec![0.0f32; c * plane];
    let mut frames = Vec::new();
    let mut n_frames = 0;
    for fi in 0..f {
        run.check_cancel()?;
        // [1, C, F, h, w] -> this latent frame's [1, C, 1, h, w]
        for ci in 0..c {
            let src = (ci * f + fi) * plane;
            chunk[ci * plane..(ci + 1) * plane].copy_from_slice(&latents.data[src..src + plane]);
        }
        let x_shape = [1, c, 1, h, w];
        let inputs = [(
            spec.input.as_str(),
            Input::F32 {
                shape: &x_shape,
                data: &chunk,
            },
        )];
        let (mut out, next, took) = vae.run_stateful(
            &inputs,
            &state_in,
            state.take(),
            &[spec.output.as_str()],
            &state_out,
            &mut *run.observer,
        )?;
        state = Some(next);
        run.timings.vae_decoder += took;
        let pixels = out.remove(0);
        let t = match pixels.shape.as_slice() {
            &[1, 3, t, hh, ww] if hh == height && ww == width && t > 0 => t,
            s => {
                return Err(Error::package(format!(
                    "the VAE decoder {} returned shape {s:?} for latent frame {fi}; expected \
                     [1, 3, T, {height}, {width}] (its factors must match spatial_compression in \
                     promptreel.json)",
                    vae.path().display()
                )));
            }
        };
        // [1, 3, T, H, W]: channel planes of T frames each -> T frames of interleaved RGB
        append_planar(&mut frames, &pixels.data, t, width * height);
        n_frames += t;
        report(run, fi + 1, f);
    }
    Ok((frames, n_frames))
}

/// Decodes `[1, C, F', h, w]` latents with a whole-clip decoder graph, at decode timestep `t`
/// where the decoder takes one: in one call, or tile by tile when `tiled` (see `tiled.rs`).
#[allow(clippy::too_many_arguments)]
pub(super) fn whole(
    run: &mut Run<'_>,
    m: &Manifest,
    vae: &Graph,
    latents: &TensorF32,
    t: Option<f32>,
    tiled: bool,
    width: usize,
    height: usize,
) -> Result<(Vec<f32>, usize)> {
    let &[1, c, f, h, w] = latents.shape.as_slice() else {
        return Err(Error::package(format!(
            "the VAE decoder takes [1, C, F, h, w] latents, not {:?}",
            latents.shape
        )));
    };
    let spec = &m.vae_decoder;
    let t_data = [t.unwrap_or(0.0)];
    let t_shape = [1];
    let z = Vol {
        c,
        t: f,
        h,
        w,
        data: latents.data.clone(),
    };
    let (spatial, temporal) = (
        m.spatial_compression as usize,
        m.temporal_compression.max(1) as usize,
    );
    let tiling = Tiling::DIFFUSERS;
    let calls = whole_calls(m, &latents.shape, tiled);
    let mut done = 0;
    let mut call = |window: &Vol| -> Result<Vol> {
        run.check_cancel()?;
        let shape = [1, window.c, window.t, window.h, window.w];
        let mut inputs = vec![(
            spec.input.as_str(),
            Input::F32 {
                shape: &shape,
                data: &window.data,
            },
        )];
        if let Some(name) = &spec.timestep {
            inputs.push((
                name.as_str(),
                Input::F32 {
                    shape: &t_shape,
                    data: &t_data,
                },
            ));
        }
        let (pixels, took) = vae.run(&inputs, &spec.output, &mut *run.observer)?;
        run.timings.vae_decoder += took;
        let (want_h, want_w) = (window.h * spatial, window.w * spatial);
        let out = match pixels.shape.as_slice() {
            &[1, 3, ot, oh, ow] if oh == want_h && ow == want_w && ot > 0 => Vol {
                c: 3,
                t: ot,
                h: oh,
                w: ow,
                data: pixels.data,
            },
            s => {
                return Err(Error::package(format!(
                    "the VAE decoder {} returned shape {s:?} for latents of shape {shape:?}; \
                     expected [1, 3, T, {want_h}, {want_w}] (its factors must match \
                     spatial_compression in promptreel.json)",
                    vae.path().display(),
                )));
            }
        };
        done += 1;
        report(run, done.min(calls), calls);
        Ok(out)
    };
    let pixels = if tiled {
        tiled::decode(&z, &tiling, spatial, temporal, &mut call)?
    } else {
        call(&z)?
    };
    if pixels.h != height || pixels.w != width {
        return Err(Error::package(format!(
            "the VAE decoder {} made {}x{} frames for a {width}x{height} clip",
            vae.path().display(),
            pixels.w,
            pixels.h
        )));
    }
    let mut frames = Vec::new();
    append_planar(&mut frames, &pixels.data, pixels.t, width * height);
    Ok((frames, pixels.t))
}

/// Appends `t` frames held planar, `[3, T, H, W]` (values in [-1, 1]), as interleaved RGB in
/// [0, 1].
fn append_planar(frames: &mut Vec<f32>, data: &[f32], t: usize, hw: usize) {
    frames.reserve(t * hw * 3);
    for ti in 0..t {
        let plane = |ch: usize| &data[(ch * t + ti) * hw..(ch * t + ti + 1) * hw];
        interleave(frames, plane(0), plane(1), plane(2));
    }
}

/// Decoder calls a whole-clip decode of latents `[1, C, F, h, w]` makes (progress steps).
pub(super) fn whole_calls(m: &Manifest, shape: &[usize], tiled: bool) -> usize {
    match shape {
        &[_, _, f, h, w] if tiled => tiled::count_calls(
            &Tiling::DIFFUSERS,
            m.spatial_compression as usize,
            m.temporal_compression.max(1) as usize,
            f,
            h,
            w,
        ),
        _ => 1,
    }
}

fn report(run: &mut Run<'_>, done: usize, total: usize) {
    let frac = 1.0 - DECODE_SHARE + DECODE_SHARE * done as f32 / total as f32;
    run.report(Phase::Decoding, done, total, frac);
}

fn check_decoded(out: &TensorF32, want: &[usize], vae: &Graph) -> Result<()> {
    if out.shape != want {
        return Err(Error::package(format!(
            "the VAE decoder {} returned shape {:?}, expected {want:?}; its spatial factor does not \
             match spatial_compression in promptreel.json",
            vae.path().display(),
            out.shape,
        )));
    }
    Ok(())
}

/// Appends decoded frames `[n, 3, H, W]` (values in [-1, 1]) as interleaved RGB in [0, 1].
fn append_rgb(frames: &mut Vec<f32>, data: &[f32], n: usize, plane: usize) {
    for f in 0..n {
        let base = f * 3 * plane;
        let (r, rest) = data[base..base + 3 * plane].split_at(plane);
        let (g, b) = rest.split_at(plane);
        interleave(frames, r, g, b);
    }
}

/// Appends one frame's R, G and B planes (values in [-1, 1]) as interleaved RGB in [0, 1].
fn interleave(frames: &mut Vec<f32>, r: &[f32], g: &[f32], b: &[f32]) {
    let to_unit = |v: f32| (v * 0.5 + 0.5).clamp(0.0, 1.0);
    frames.extend(
        r.iter()
            .zip(g)
            .zip(b)
            .flat_map(|((&r, &g), &b)| [to_unit(r), to_unit(g), to_unit(b)]),
    );
}
