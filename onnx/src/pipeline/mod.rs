//! The text-to-video pipeline, in numbered phases (after diffusers' pipelines):
//!
//! 1. check the request;
//! 2. encode the prompts;
//! 3. timesteps;
//! 4. initial latents (with a conditioning image's latent as the first frame, `condition.rs`;
//!    video to video: the source's latents noised to the first step that runs, `source.rs`);
//! 5. the denoising loop with classifier-free guidance;
//! 6. VAE decoding in bounded chunks (or tiles, `tiled.rs`);
//! 7. post-processing into RGB frames.
//!
//! Cancellation is checked before every denoiser call and every VAE chunk, so a cancel returns
//! within one step.

mod condition;
mod decode;
mod request;
mod source;
mod tiled;

use std::time::Instant;

/// The largest latent window (frames, height, width) one call of a tiled whole-clip decoder
/// sees for latents of `[C, f, h, w]` (diffusers' tile sizes).
pub fn largest_tiled_call(
    spatial: usize,
    temporal: usize,
    f: usize,
    h: usize,
    w: usize,
) -> (usize, usize, usize) {
    tiled::largest_call(&tiled::Tiling::DIFFUSERS, spatial, temporal, f, h, w)
}

pub use request::{
    DEFAULT_STRENGTH, GenerateRequest, MAX_FRAME_RATE, MAX_GUIDANCE, MAX_OUTPUT_VALUES, MAX_SIDE,
    MAX_STEPS, MAX_TEXT_TOKENS, Settings, Snapped, VideoStart, size_multiple, snap,
};

use crate::control::{Observer, Phase, Progress};
use crate::error::{Error, Result};
use crate::family::LatentStats;
use crate::model::Model;
use crate::noise::SeededNoise;
use crate::package::GraphRole;
use crate::runtime::{Binding, Graph, Input, MemoryMode, Provider, TensorF32};
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
        providers: Vec::new(),
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
    let tokens = settings.text_tokens as usize;
    let cond = run.encode(model, &text_encoder, &req.prompt, "prompt", tokens)?;
    let uncond = if guided {
        Some(run.encode(
            model,
            &text_encoder,
            &req.negative_prompt,
            "negative prompt",
            tokens,
        )?)
    } else {
        None
    };
    run.report(Phase::EncodingPrompt, 1, 1, ENCODE_SHARE);
    let sequential = model.memory_mode() == MemoryMode::Sequential;
    if sequential {
        // The text encoder (UMT5-XXL: 11 GB in fp16) is done for this generation.
        drop(text_encoder);
        model.release(GraphRole::TextEncoder);
    }

    // 3. Timesteps.
    let (kind, karras) = settings
        .scheduler
        .map_or((None, None), |(k, c)| (Some(k), c));
    let config = model.package().scheduler_config();
    let mut sched: Box<dyn Scheduler> = scheduler::build(config, kind, karras)?;
    let shape = settings.latent_shape.clone();
    if sched.uses_dynamic_shifting() {
        // LTXPipeline (and Flux-style pipelines): mu grows with the latent sequence length,
        // frames x latent height x latent width (LTX's transformer patch is 1x1).
        let positions: usize = shape[2..].iter().product();
        sched.set_dynamic_shift_mu(config.dynamic_shift_mu(positions))?;
    }
    let steps = settings.steps as usize;
    match model.family().pipeline_sigmas(steps) {
        Some(sigmas) => sched.set_timesteps_from_sigmas(&sigmas)?,
        None => sched.set_timesteps(steps)?,
    }
    let timesteps = sched.timesteps().to_vec();
    // Video to video enters the schedule at `first` (diffusers' t_start); text to video at 0.
    let first = settings
        .video
        .map_or(0, |v| (v.first_step as usize).min(timesteps.len()));

    // 4. Initial latents: supplied or seeded, scaled by the scheduler's initial sigma; with a
    // conditioning image, its latent replaces the first latent frame (which then stays fixed).
    let mut latents = match &req.initial_latents {
        Some(l) => l.data.clone(),
        None => SeededNoise::new(req.seed).take(shape.iter().product()),
    };
    if settings.video.is_some() {
        // The noise is mixed into the source's latents at the first step that runs; with no
        // step to run (strength 0) the source is decoded as encoded.
        let encoder = run.session(model, GraphRole::VaeEncoder)?;
        let mut clean = source::encode_video(&mut run, model, &encoder, req, &settings)?;
        if sequential {
            drop(encoder);
            model.release(GraphRole::VaeEncoder);
        }
        if first < timesteps.len() {
            sched.add_noise(&mut clean, &latents, first)?;
        }
        latents = clean;
    } else {
        let sigma = sched.init_noise_sigma();
        if sigma != 1.0 {
            latents.iter_mut().for_each(|x| *x *= sigma);
        }
    }
    let first_frame = match &req.image {
        Some(image) => {
            let encoder = run.session(model, GraphRole::VaeEncoder)?;
            let f = condition::encode_image(&mut run, model, &encoder, req, image, &settings)?;
            if sequential {
                drop(encoder);
                model.release(GraphRole::VaeEncoder);
            }
            condition::set_first_frame(&mut latents, &shape, &f);
            Some(f)
        }
        None => None,
    };
    // What the transformer takes besides latents, timestep and text (LTX): the text mask and
    // the rotary scale tied to the frame rate.
    let rope = m.denoiser.rope_interpolation_scale.as_ref().map(|_| {
        let fps = f64::from(settings.frame_rate);
        let s = m.spatial_compression as f32;
        [(f64::from(m.temporal_compression) / fps) as f32, s, s]
    });

    // 5. Denoising loop.
    // A phase starts with a report of 0 done, after the previous phase's session is released
    // and before this one's loads (the CLI files its per-phase memory peaks by these).
    let to_run = timesteps.len() - first;
    run.report(Phase::Denoising, 0, to_run, ENCODE_SHARE);
    // Wan 2.2 A14B: the high-noise transformer runs while t >= boundary, then the low-noise
    // one with its own guidance (WanPipeline's rule).
    let boundary = m.boundary_ratio.map(|r| {
        r * model
            .package()
            .scheduler_config()
            .num_train_timesteps
            .unwrap_or(1000) as f32
    });
    let mut stage = Stage::High;
    let mut denoiser = run.session(model, GraphRole::Denoiser)?;
    let batch_cfg = m.cfg_batch;
    let mut step_noise = SeededNoise::for_steps(req.seed);
    let per_sample: usize = shape.iter().product();
    let mut model_in = vec![0.0f32; per_sample];
    let mut guided_out = vec![0.0f32; per_sample];
    // Batched guidance: the [negative, prompt] hidden states are the same every step, so they
    // are joined once; the doubled latent buffer is reused.
    let mut batched = match &uncond {
        Some(u) if batch_cfg => Some((u.joined(&cond), vec![0.0f32; per_sample * 2])),
        _ => None,
    };
    // The text inputs are bound to the denoiser once per text (IO binding: on a GPU they stay in
    // device memory for the whole loop); only latents and timestep go in per step. Index 0 is
    // the prompt (or the joined guidance batch), 1 the negative prompt when called apart.
    let mut bound: Vec<Binding> = Vec::new();
    for (i, &t) in timesteps.iter().enumerate().skip(first) {
        run.check_cancel()?;
        if stage == Stage::High && boundary.is_some_and(|b| t < b) {
            bound.clear();
            if sequential {
                // only the transformer in use stays loaded
                drop(denoiser);
                model.release(GraphRole::Denoiser);
            }
            denoiser = run.session(model, GraphRole::Denoiser2)?;
            stage = Stage::Low;
        }
        let (spec, g) = match stage {
            Stage::High => (&m.denoiser, settings.guidance),
            Stage::Low => (
                m.denoiser_2.as_ref().unwrap_or(&m.denoiser),
                settings.guidance_2,
            ),
        };
        if bound.is_empty() {
            let texts: Vec<&Text> = match (&uncond, &batched) {
                (None, _) => vec![&cond],
                (Some(_), Some((ehs, _))) => vec![ehs],
                (Some(u), None) => vec![&cond, u],
            };
            for text in texts {
                bound.push(bind_text(&denoiser, spec, text, rope)?);
            }
        }
        let step_started = Instant::now();
        model_in.copy_from_slice(&latents);
        sched.scale_model_input(&mut model_in, i);
        let call = Call {
            graph: &denoiser,
            spec,
            shape: &shape,
            t,
            fixed_first_frame: first_frame.is_some(),
        };
        match (&uncond, batched.as_mut(), bound.as_mut_slice()) {
            (None, _, [text]) => {
                let out = run.denoise(&call, text, &model_in, 1)?;
                guided_out.copy_from_slice(&out.data);
            }
            (Some(_), Some((_, both)), [joined]) => {
                both[..per_sample].copy_from_slice(&model_in);
                both[per_sample..].copy_from_slice(&model_in);
                let out = run.denoise(&call, joined, both, 2)?;
                let (u, c) = out.data.split_at(per_sample);
                guide(&mut guided_out, u, c, g);
            }
            (Some(_), None, [cond_text, uncond_text]) => {
                let u = run.denoise(&call, uncond_text, &model_in, 1)?;
                run.check_cancel()?;
                let c = run.denoise(&call, cond_text, &model_in, 1)?;
                guide(&mut guided_out, &u.data, &c.data, g);
            }
            _ => unreachable!("one binding per text, made above"),
        }
        sched.step(&guided_out, i, &mut latents, &mut step_noise)?;
        if let Some(f) = &first_frame {
            // LTXImageToVideoPipeline steps only the frames after the image's
            condition::set_first_frame(&mut latents, &shape, f);
        }
        run.timings.steps.push(step_started.elapsed());
        let done = i + 1 - first;
        let frac = ENCODE_SHARE + (1.0 - ENCODE_SHARE - DECODE_SHARE) * done as f32 / to_run as f32;
        run.report(Phase::Denoising, done, to_run, frac);
    }

    if sequential {
        drop(denoiser);
        model.release(match stage {
            Stage::High => GraphRole::Denoiser,
            Stage::Low => GraphRole::Denoiser2,
        });
    }

    // 6. Decode, a bounded number of frames at a time.
    let whole = model.family().decodes_whole_clip();
    let chunks = if whole {
        decode::whole_calls(m, &shape, settings.vae_tiled)
    } else if m.vae_decoder.stateful || shape.len() == 5 {
        shape.get(2).copied().unwrap_or(1)
    } else {
        1
    };
    run.report(Phase::Decoding, 0, chunks, 1.0 - DECODE_SHARE);
    let vae = run.session(model, GraphRole::VaeDecoder)?;
    denormalize(m, model.family().latent_stats(), &mut latents)?;
    if let Some((_, scale)) = settings.decode {
        // LTXPipeline: latents = (1 - s) * latents + s * noise, before a decode at timestep t
        let noise = match &req.decode_noise {
            Some(n) => n.data.clone(),
            None => SeededNoise::for_decode(req.seed).take(latents.len()),
        };
        for (x, n) in latents.iter_mut().zip(&noise) {
            *x = (1.0 - scale) * *x + scale * n;
        }
    }
    let lat = TensorF32::new(shape, latents)?;
    let (width, height) = (settings.width as usize, settings.height as usize);
    let (frames, n_frames) = if whole {
        let t = settings.decode.map(|(t, _)| t);
        decode::whole(
            &mut run,
            m,
            &vae,
            &lat,
            t,
            settings.vae_tiled,
            width,
            height,
        )?
    } else if m.vae_decoder.stateful {
        decode::stateful(&mut run, m, &vae, &lat, width, height)?
    } else {
        decode::per_frame(&mut run, model, &vae, &lat, width, height)?
    };
    if sequential {
        drop(vae);
        model.release(GraphRole::VaeDecoder);
    }

    run.timings.total = started.elapsed();
    // Recorded as the sessions were taken: in sequential mode they are gone by now.
    let providers = std::mem::take(&mut run.providers)
        .into_iter()
        .map(|(role, p): (GraphRole, Provider)| (role.label().to_string(), p.label().to_string()))
        .collect();
    Ok(Video {
        frames,
        frame_count: n_frames,
        width,
        height,
        fps: f64::from(settings.frame_rate),
        timings: run.timings,
        providers,
        warnings: run.warnings,
        settings,
        scheduler: sched.name().to_string(),
        memory_estimate,
    })
}

/// Which of a two-transformer model's denoisers runs (one-transformer models stay `High`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    High,
    Low,
}

/// What one denoiser call needs besides its inputs.
struct Call<'a> {
    graph: &'a Graph,
    spec: &'a crate::package::manifest::DenoiserSpec,
    shape: &'a [usize],
    t: f32,
    /// Image to video: the first latent frame is the image's, at timestep 0.
    fixed_first_frame: bool,
}

/// A denoiser binding holding one text's inputs: its hidden states, its mask (for transformers
/// that take one) and the rotary scale (LTX), which stay the same for every step.
fn bind_text(
    denoiser: &Graph,
    d: &crate::package::manifest::DenoiserSpec,
    text: &Text,
    rope: Option<[f32; 3]>,
) -> Result<Binding> {
    let mut b = denoiser.binding(&d.output)?;
    let ehs = &text.hidden;
    denoiser.bind(
        &mut b,
        &d.encoder_hidden_states,
        &Input::F32 {
            shape: &ehs.shape,
            data: &ehs.data,
        },
    )?;
    if let Some(name) = &d.encoder_attention_mask {
        let mask_shape = [ehs.shape[0], text.mask.len() / ehs.shape[0].max(1)];
        denoiser.bind(
            &mut b,
            name,
            &Input::I64 {
                shape: &mask_shape,
                data: &text.mask,
            },
        )?;
    }
    if let (Some(name), Some(rope)) = (&d.rope_interpolation_scale, rope.as_ref()) {
        denoiser.bind(
            &mut b,
            name,
            &Input::F32 {
                shape: &[3],
                data: rope,
            },
        )?;
    }
    Ok(b)
}

/// Classifier-free guidance (Ho & Salimans 2022, eq. 6): u + g (c - u).
fn guide(out: &mut [f32], uncond: &[f32], cond: &[f32], g: f32) {
    for ((o, &u), &c) in out.iter_mut().zip(uncond).zip(cond) {
        *o = u + g * (c - u);
    }
}

/// Hands the final latents to the VAE's space: `x * std + mean` per channel where the package
/// has latent statistics (Wan, computed as WanPipeline does: `x / (1 / std) + mean` in f32),
/// else `x / scaling_factor + shift_factor`.
fn denormalize(m: &crate::package::Manifest, form: LatentStats, latents: &mut [f32]) -> Result<()> {
    match (&m.vae.latents_mean, &m.vae.latents_std) {
        (Some(mean), Some(std)) => {
            let c = mean.len();
            let per_channel = latents.len() / c.max(1);
            if per_channel * c != latents.len() {
                return Err(Error::package(format!(
                    "vae.latents_mean has {c} values but the latents do not split into {c} channels"
                )));
            }
            // batch 1: [1, C, ...] is C contiguous blocks
            let sf = m.vae.scaling_factor;
            for (ci, block) in latents.chunks_mut(per_channel).enumerate() {
                match form {
                    LatentStats::DivideByInverseStd => {
                        let inv = 1.0f32 / std[ci];
                        block.iter_mut().for_each(|x| *x = *x / inv + mean[ci]);
                    }
                    LatentStats::TimesStdOverScale => {
                        block
                            .iter_mut()
                            .for_each(|x| *x = *x * std[ci] / sf + mean[ci]);
                    }
                }
            }
        }
        _ => {
            let scale = 1.0 / m.vae.scaling_factor;
            let shift = m.vae.shift_factor;
            latents.iter_mut().for_each(|x| *x = *x * scale + shift);
        }
    }
    Ok(())
}

/// A prompt's hidden states `[B, T, D]` and its tokens' mask `[B, T]`, row by row.
#[derive(Debug, Clone)]
struct Text {
    hidden: TensorF32,
    mask: Vec<i64>,
}

impl Text {
    /// `[self, other]` as one batch (the guidance batch: negative first, as diffusers orders it).
    fn joined(&self, other: &Text) -> Text {
        let mut hidden = self.hidden.clone();
        hidden.data.extend_from_slice(&other.hidden.data);
        hidden.shape[0] += other.hidden.shape[0];
        let mut mask = self.mask.clone();
        mask.extend_from_slice(&other.mask);
        Text { hidden, mask }
    }
}

/// State shared by the phases of one generation.
struct Run<'o> {
    observer: &'o mut dyn Observer,
    started: Instant,
    timings: Timings,
    warnings: Vec<String>,
    /// The provider each graph's session ran on.
    providers: Vec<(GraphRole, Provider)>,
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
        if !self.providers.iter().any(|(r, _)| *r == role) {
            self.providers.push((role, g.provider()));
        }
        if let Some(why) = g.passed_over() {
            // `auto` fell back: said once per generation, whichever graph met it first.
            let warning = format!("running on {} instead of {why}", g.provider());
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
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

    /// Tokenises and encodes one prompt into `[1, T, D]` hidden states (`T` = `tokens`).
    fn encode(
        &mut self,
        model: &Model,
        te: &Graph,
        prompt: &str,
        what: &str,
        tokens: usize,
    ) -> Result<Text> {
        let m = model.package().manifest();
        let family = model.family();
        let prompt = family.clean_prompt(prompt);
        let enc = model
            .package()
            .tokenizer()
            .encode_with_length(&prompt, tokens)?;
        if enc.truncated_tokens > 0 {
            self.warnings.push(format!(
                "the {what} is too long: the model reads {tokens} tokens, so the last {} were \
                 ignored",
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
        let (mut out, took) = te.run(&inputs, &m.text_encoder.output, &mut *self.observer)?;
        self.timings.text_encoder += took;
        if family.zero_text_padding() {
            // WanPipeline keeps the first sum(mask) rows and pads with zeros.
            let kept = enc.attention_mask.iter().filter(|&&v| v > 0).count();
            let width = out.shape.last().copied().unwrap_or(0);
            if let Some(rest) = out.data.get_mut(kept * width..) {
                rest.fill(0.0);
            }
        }
        Ok(Text {
            hidden: out,
            mask: enc.attention_mask,
        })
    }

    /// One denoiser call on `batch` copies of the latent, with the text bound in `text`.
    fn denoise(
        &mut self,
        call: &Call<'_>,
        text: &mut Binding,
        sample: &[f32],
        batch: usize,
    ) -> Result<TensorF32> {
        let (unet, d, t) = (call.graph, call.spec, call.t);
        let mut sample_shape = call.shape.to_vec();
        sample_shape[0] = batch;
        // The timestep is a scalar, one value per batch item, or one per batch item and latent
        // frame (LTX: an image's frame is at timestep 0, `t * (1 - mask)`), as the graph says.
        let ts_rank = unet.input(&d.timestep).map_or(0, |p| p.shape.len());
        let (ts_shape, ts_data): (Vec<usize>, Vec<f32>) = match ts_rank {
            0 => (vec![], vec![t]),
            1 => (vec![batch], vec![t; batch]),
            _ => {
                let frames = sample_shape.get(2).copied().unwrap_or(1);
                let row: Vec<f32> = (0..frames)
                    .map(|f| {
                        if call.fixed_first_frame && f == 0 {
                            0.0
                        } else {
                            t
                        }
                    })
                    .collect();
                (vec![batch, frames], row.repeat(batch))
            }
        };
        unet.bind(
            text,
            &d.sample,
            &Input::F32 {
                shape: &sample_shape,
                data: sample,
            },
        )?;
        unet.bind(
            text,
            &d.timestep,
            &Input::F32 {
                shape: &ts_shape,
                data: &ts_data,
            },
        )?;
        let (out, took) = unet.run_bound(text, &mut *self.observer)?;
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
