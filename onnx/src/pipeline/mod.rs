//! The text-to-video pipeline, in numbered phases (after diffusers' pipelines):
//! 1. check the request, 2. encode the prompts, 3. timesteps, 4. initial latents,
//! 5. the denoising loop with classifier-free guidance, 6. VAE decoding in bounded chunks,
//! 7. post-processing into RGB frames.
//!
//! Cancellation is checked before every denoiser call and every VAE chunk, so a cancel returns
//! within one step.

mod request;

use std::time::Instant;

pub use request::{
    GenerateRequest, MAX_GUIDANCE, MAX_OUTPUT_VALUES, MAX_SIDE, MAX_STEPS, Settings,
};

use crate::control::{Observer, Phase, Progress};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::noise::SeededNoise;
use crate::package::GraphRole;
use crate::runtime::{Graph, Input, Provider, TensorF32};
use crate::scheduler::{self, Scheduler};
use crate::video::{Timings, Video};

/// Share of the progress bar given to the prompt encoding and to decoding; the rest is steps.
const ENCODE_SHARE: f32 = 0.02;
const DECODE_SHARE: f32 = 0.10;

/// Generates a clip. Safe to call from several threads on the same model.
pub fn generate(
    model: &Model,
    req: &GenerateRequest,
    observer: &mut dyn Observer,
) -> Result<Video> {
    let started = Instant::now();
    let mut run = Run {
        observer,
        started,
        timings: Timings::default(),
        warnings: Vec::new(),
    };

    // 1. Check inputs.
    let settings = request::resolve(model, req)?;
    let m = model.package().manifest();
    // Before anything is allocated: a generation that cannot fit is refused in words.
    let memory_estimate = crate::budget::check(model, &settings, model.runtime().arena_cap())?;
    run.check_cancel()?;

    // 2. Encode the prompts (negative first, as diffusers orders the CFG batch).
    let guided = settings.uses_guidance();
    let text_encoder = run.session(model, GraphRole::TextEncoder)?;
    let cond = run.encode(model, &text_encoder, &req.prompt, "prompt")?;
    let uncond = if guided {
        Some(run.encode(
            model,
            &text_encoder,
            &req.negative_prompt,
            "negative prompt",
        )?)
    } else {
        None
    };
    run.report(Phase::EncodingPrompt, 1, 1, ENCODE_SHARE);

    // 3. Timesteps.
    let (kind, karras) = settings
        .scheduler
        .map_or((None, None), |(k, c)| (Some(k), c));
    let mut sched: Box<dyn Scheduler> =
        scheduler::build(model.package().scheduler_config(), kind, karras)?;
    sched.set_timesteps(settings.steps as usize)?;
    let timesteps = sched.timesteps().to_vec();

    // 4. Initial latents: supplied or seeded, scaled by the scheduler's initial sigma.
    let shape = settings.latent_shape.clone();
    let mut latents = match &req.initial_latents {
        Some(l) => l.data.clone(),
        None => SeededNoise::new(req.seed).take(shape.iter().product()),
    };
    let sigma = sched.init_noise_sigma();
    if sigma != 1.0 {
        latents.iter_mut().for_each(|x| *x *= sigma);
    }

    // 5. Denoising loop.
    let denoiser = run.session(model, GraphRole::Denoiser)?;
    let batch_cfg = m.cfg_batch;
    let mut step_noise = SeededNoise::for_steps(req.seed);
    let per_sample: usize = shape.iter().product();
    let mut model_in = vec![0.0f32; per_sample];
    let mut guided_out = vec![0.0f32; per_sample];
    // Batched guidance: the [negative, prompt] hidden states are the same every step, so they
    // are joined once; the doubled latent buffer is reused.
    let mut batched = match &uncond {
        Some(u) if batch_cfg => {
            let mut ehs = u.clone();
            ehs.data.extend_from_slice(&cond.data);
            ehs.shape[0] = 2;
            Some((ehs, vec![0.0f32; per_sample * 2]))
        }
        _ => None,
    };
    for (i, &t) in timesteps.iter().enumerate() {
        run.check_cancel()?;
        let step_started = Instant::now();
        model_in.copy_from_slice(&latents);
        sched.scale_model_input(&mut model_in, i);
        match (&uncond, batched.as_mut()) {
            (None, _) => {
                let out = run.denoise(model, &denoiser, &model_in, &shape, t, &cond, 1)?;
                guided_out.copy_from_slice(&out.data);
            }
            (Some(_), Some((ehs, both))) => {
                both[..per_sample].copy_from_slice(&model_in);
                both[per_sample..].copy_from_slice(&model_in);
                let out = run.denoise(model, &denoiser, both, &shape, t, ehs, 2)?;
                let (u, c) = out.data.split_at(per_sample);
                guide(&mut guided_out, u, c, settings.guidance);
            }
            (Some(uncond), None) => {
                let u = run.denoise(model, &denoiser, &model_in, &shape, t, uncond, 1)?;
                run.check_cancel()?;
                let c = run.denoise(model, &denoiser, &model_in, &shape, t, &cond, 1)?;
                guide(&mut guided_out, &u.data, &c.data, settings.guidance);
            }
        }
        sched.step(&guided_out, i, &mut latents, &mut step_noise)?;
        run.timings.steps.push(step_started.elapsed());
        let frac = ENCODE_SHARE
            + (1.0 - ENCODE_SHARE - DECODE_SHARE) * (i + 1) as f32 / timesteps.len() as f32;
        run.report(Phase::Denoising, i + 1, timesteps.len(), frac);
    }

    // 6. Decode, a bounded number of frames at a time.
    let vae = run.session(model, GraphRole::VaeDecoder)?;
    let scale = 1.0 / m.vae.scaling_factor;
    let shift = m.vae.shift_factor;
    latents.iter_mut().for_each(|x| *x = *x * scale + shift);
    let lat = TensorF32::new(shape, latents)?;
    let per_frame = model.family().frames_first(&lat)?;
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
    let (width, height) = (settings.width as usize, settings.height as usize);
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
        )?;
        run.timings.vae_decoder += took;
        // 7. Post-process: [n, 3, H, W] in [-1, 1] -> [n, H, W, 3] in [0, 1].
        append_rgb(&mut frames, &out, n, width, height, vae.path())?;
        f0 += n;
        let frac = 1.0 - DECODE_SHARE + DECODE_SHARE * f0 as f32 / n_frames as f32;
        run.report(Phase::Decoding, f0, n_frames, frac);
    }

    run.timings.total = started.elapsed();
    let providers = model
        .providers()
        .into_iter()
        .map(|(role, p): (GraphRole, Provider)| (role.label().to_string(), p.label().to_string()))
        .collect();
    Ok(Video {
        frames,
        frame_count: n_frames,
        width,
        height,
        fps: m.native.fps,
        timings: run.timings,
        providers,
        warnings: run.warnings,
        settings,
        scheduler: sched.name().to_string(),
        memory_estimate,
    })
}

/// Classifier-free guidance (Ho & Salimans 2022, eq. 6): u + g (c - u).
fn guide(out: &mut [f32], uncond: &[f32], cond: &[f32], g: f32) {
    for ((o, &u), &c) in out.iter_mut().zip(uncond).zip(cond) {
        *o = u + g * (c - u);
    }
}

/// Appends decoded frames `[n, 3, H, W]` as interleaved RGB in [0, 1].
fn append_rgb(
    frames: &mut Vec<f32>,
    out: &TensorF32,
    n: usize,
    width: usize,
    height: usize,
    vae_path: &std::path::Path,
) -> Result<()> {
    if out.shape != [n, 3, height, width] {
        return Err(Error::package(format!(
            "the VAE decoder {} returned shape {:?}, expected {:?}; its spatial factor does not \
             match spatial_compression in promptreel.json",
            vae_path.display(),
            out.shape,
            [n, 3, height, width]
        )));
    }
    let plane = width * height;
    for f in 0..n {
        let base = f * 3 * plane;
        let (r, rest) = out.data[base..base + 3 * plane].split_at(plane);
        let (g, b) = rest.split_at(plane);
        for i in 0..plane {
            for v in [r[i], g[i], b[i]] {
                frames.push((v * 0.5 + 0.5).clamp(0.0, 1.0));
            }
        }
    }
    Ok(())
}

/// State shared by the phases of one generation.
struct Run<'o> {
    observer: &'o mut dyn Observer,
    started: Instant,
    timings: Timings,
    warnings: Vec<String>,
}

impl Run<'_> {
    fn check_cancel(&mut self) -> Result<()> {
        if self.observer.should_cancel() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }

    /// The session for `role`; the first use creates it, which is timed apart from running.
    fn session(&mut self, model: &Model, role: GraphRole) -> Result<std::sync::Arc<Graph>> {
        let started = Instant::now();
        let g = model.graph(role)?;
        self.timings.session_load += started.elapsed();
        Ok(g)
    }

    fn report(&mut self, phase: Phase, done: usize, total: usize, fraction: f32) {
        let p = Progress {
            phase,
            done,
            total,
            fraction,
            elapsed: self.started.elapsed(),
        };
        self.observer.progress(&p);
    }

    /// Tokenises and encodes one prompt into `[1, T, D]` hidden states.
    fn encode(&mut self, model: &Model, te: &Graph, prompt: &str, what: &str) -> Result<TensorF32> {
        let m = model.package().manifest();
        let enc = model.package().tokenizer().encode(prompt)?;
        if enc.truncated_tokens > 0 {
            self.warnings.push(format!(
                "the {what} is too long: the model reads {} tokens, so the last {} were ignored",
                model.package().tokenizer().max_length(),
                enc.truncated_tokens
            ));
        }
        if !enc.unknown_words.is_empty() {
            self.warnings.push(format!(
                "the model does not know these words of the {what}: {}",
                enc.unknown_words.join(", ")
            ));
        }
        let shape = [1, enc.ids.len()];
        let mut inputs = vec![(
            m.text_encoder.input_ids.as_str(),
            Input::I64 {
                shape: &shape,
                data: &enc.ids,
            },
        )];
        if let Some(mask) = &m.text_encoder.attention_mask {
            inputs.push((
                mask.as_str(),
                Input::I64 {
                    shape: &shape,
                    data: &enc.attention_mask,
                },
            ));
        }
        let (out, took) = te.run(&inputs, &m.text_encoder.output)?;
        self.timings.text_encoder += took;
        Ok(out)
    }

    /// One denoiser call on `batch` copies of the latent.
    #[allow(clippy::too_many_arguments)]
    fn denoise(
        &mut self,
        model: &Model,
        unet: &Graph,
        sample: &[f32],
        shape: &[usize],
        t: f32,
        ehs: &TensorF32,
        batch: usize,
    ) -> Result<TensorF32> {
        let d = &model.package().manifest().denoiser;
        let mut sample_shape = shape.to_vec();
        sample_shape[0] = batch;
        // The timestep is a scalar or one value per batch item, as the graph declares.
        let ts_rank = unet.input(&d.timestep).map_or(0, |p| p.shape.len());
        let ts_data = vec![t; batch];
        let ts_shape: Vec<usize> = if ts_rank == 0 { vec![] } else { vec![batch] };
        let ts_data = if ts_rank == 0 {
            &ts_data[..1]
        } else {
            &ts_data[..]
        };
        let (out, took) = unet.run(
            &[
                (
                    d.sample.as_str(),
                    Input::F32 {
                        shape: &sample_shape,
                        data: sample,
                    },
                ),
                (
                    d.timestep.as_str(),
                    Input::F32 {
                        shape: &ts_shape,
                        data: ts_data,
                    },
                ),
                (
                    d.encoder_hidden_states.as_str(),
                    Input::F32 {
                        shape: &ehs.shape,
                        data: &ehs.data,
                    },
                ),
            ],
            &d.output,
        )?;
        self.timings.denoiser += took;
        if out.shape != sample_shape {
            return Err(Error::package(format!(
                "the denoiser {} returned shape {:?} for a sample of shape {sample_shape:?}",
                unet.path().display(),
                out.shape
            )));
        }
        Ok(out)
    }
}
