//! Memory budget: how much a generation will hold at its peak, estimated from the package before
//! anything runs, and the limit it must fit.
//!
//! A setting must never get the host killed. Two guards:
//! 1. [`check`] refuses, in words, a generation whose estimated peak exceeds the memory the
//!    machine can give now (or the runtime's cap), naming the setting to lower and by how much.
//! 2. ONNX Runtime's CPU arena is capped ([`arena_limit`], applied when the runtime loads), so an
//!    allocation the estimate missed fails as an error, which [`crate::error`] turns into the same
//!    kind of sentence, instead of the kernel's out-of-memory killer ending the process.
//!
//! The estimate follows what the graphs hold as exported: weights (file sizes), activations
//! linear in positions, and the largest attention. An unfused attention
//! (MatMul-Softmax-MatMul) holds about [`UNFUSED_SCORE_COPIES`] tensors of batch x heads x
//! queries x keys floats at once; a fused one (MultiHeadAttention, what our exporter writes)
//! holds its inputs, the kernel's heads-first copies of them and its output: linear in tokens.

pub mod system;

pub use system::available_memory;

use crate::error::{Error, ErrorKind, Result};
use crate::model::Model;
use crate::package::manifest::{
    AttentionKeys, AttentionSite, AttentionSpan, FamilyName, GraphMemory, Manifest, MemoryProfile,
};
use crate::package::{GraphRole, ModelPackage};
use crate::pipeline::Settings;
use crate::runtime::MemoryMode;

/// The variable that sets the memory cap for ONNX Runtime's tensors, in MiB. Without it the cap
/// is [`DEFAULT_ARENA_SHARE`] of the memory available when the runtime loads.
pub const MEMORY_LIMIT_ENV: &str = "PROMPTREEL_MEMORY_LIMIT_MB";

/// Share of the then-available memory the arena may take when no limit is set.
pub const DEFAULT_ARENA_SHARE: f64 = 0.9;

/// The smallest cap used, so a momentarily busy machine does not make every model fail.
const MIN_ARENA_BYTES: u64 = 256 << 20;

/// Copies of the attention score matrix alive at once in an unfused export: the scores and the
/// softmax output (measured: 2.0 copies on the default model at 2k-4k tokens, CPU, no memory
/// pattern), plus one for the arena's rounding and the next layer's inputs.
const UNFUSED_SCORE_COPIES: u64 = 3;

/// Head width assumed for a fused attention whose manifest does not give it (the widest in
/// today's video models).
const FUSED_HEAD_DIM: u64 = 128;

/// Query-sized tensors a fused attention holds at once: the graph's query, the kernel's
/// heads-first copy of it, and the output (ONNX Runtime's CPU MultiHeadAttention; its flash
/// kernel's tiles are per thread and small).
const FUSED_QUERY_COPIES: u64 = 3;

/// Key-sized tensors: keys and values, and the kernel's heads-first copies of both.
const FUSED_KEY_COPIES: u64 = 4;

/// The process and ONNX Runtime's own code and buffers, before any model.
const RUNTIME_BASE_BYTES: u64 = 96 << 20;

/// Bytes per float the graphs compute in (fp16 exports are upcast in places; count f32).
const FLOAT: u64 = 4;

/// What a generation will hold at its peak, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// Weights of the graphs a generation loads (text encoder, denoiser, VAE decoder).
    pub weights: u64,
    /// The denoiser's working memory for one call (both guidance halves when batched).
    pub denoiser: u64,
    /// The largest single attention inside that.
    pub denoiser_attention: u64,
    /// The VAE decoder's working memory for one chunk of frames.
    pub vae_decoder: u64,
    /// Latents and finished frames kept by the pipeline.
    pub buffers: u64,
    /// In sequential memory mode, the weights of the text encoder, the denoiser and the VAE
    /// decoder apart: only the running phase's graph is loaded, so the peak is the largest
    /// phase, not the sum.
    pub phase_weights: Option<[u64; 3]>,
}

impl Estimate {
    /// The part ONNX Runtime allocates while running (the arena's share).
    pub fn working(&self) -> u64 {
        self.denoiser.max(self.vae_decoder)
    }

    /// Everything, with the runtime's base.
    pub fn total(&self) -> u64 {
        let models = match self.phase_weights {
            Some([text, denoiser, vae]) => text
                .max(denoiser + self.denoiser)
                .max(vae + self.vae_decoder),
            None => self.weights + self.working(),
        };
        RUNTIME_BASE_BYTES + models + self.buffers
    }
}

/// Where the graphs' weights and working memory live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// ONNX Runtime's CPU provider, in host memory: float16 weights are widened to float32
    /// copies where it computes in float32.
    #[default]
    Host,
    /// A GPU provider (CUDA): weights stay as stored, float16 included; the latents and the
    /// finished frames stay in host memory.
    Gpu,
}

/// The generation's size as the graphs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Samples per denoiser call: 2 when guidance runs batched.
    pub batch: u64,
    pub frames: u64,
    pub latent_height: u64,
    pub latent_width: u64,
    pub height: u64,
    pub width: u64,
    /// Frames decoded per VAE call.
    pub decode_frames: u64,
    /// Pixels per side of the largest VAE call (the frame, or a tile of it).
    pub decode_height: u64,
    pub decode_width: u64,
    /// Text tokens the prompt is padded to.
    pub text_tokens: u64,
}

impl Size {
    /// The size of a generation with `settings` on a model with manifest `m`.
    pub fn of(m: &Manifest, settings: &Settings) -> Self {
        // Wan's 4k+1 frames are (F - 1) / 4 + 1 latent frames: the same as ceil(F / 4) (LTX:
        // 8k+1 and 8).
        let latent_frames = if m.family == FamilyName::Sd {
            1
        } else {
            u64::from(settings.frames.div_ceil(m.temporal_compression.max(1)))
        };
        let s = u64::from(m.spatial_compression.max(1));
        // A tiled decode's largest call, in output frames and pixels (else unbounded).
        let ltx_tile = if settings.vae_tiled {
            let t = m.temporal_compression.max(1) as usize;
            let (f, h, w) = crate::pipeline::largest_tiled_call(
                m.spatial_compression as usize,
                t,
                latent_frames as usize,
                (settings.height / m.spatial_compression.max(1)) as usize,
                (settings.width / m.spatial_compression.max(1)) as usize,
            );
            (((f.max(1) - 1) * t + 1) as u64, h as u64 * s, w as u64 * s)
        } else {
            (u64::MAX, u64::MAX, u64::MAX)
        };
        Self {
            batch: if settings.uses_guidance() && m.cfg_batch {
                2
            } else {
                1
            },
            frames: latent_frames.max(1),
            latent_height: (u64::from(settings.height) / s).max(1),
            latent_width: (u64::from(settings.width) / s).max(1),
            height: u64::from(settings.height),
            width: u64::from(settings.width),
            decode_frames: if m.family == FamilyName::Ltx {
                // LTX's decoder takes the whole clip in one call, or a window of it when tiled
                u64::from(settings.frames.max(1)).min(ltx_tile.0)
            } else if m.vae_decoder.stateful {
                // one latent frame per call, which decodes to temporal_compression frames
                u64::from(m.temporal_compression.max(1))
            } else {
                u64::from(m.vae.decode_chunk_frames.max(1)).min(latent_frames.max(1))
            },
            text_tokens: u64::from(settings.text_tokens.max(1)),
            decode_height: u64::from(settings.height).min(ltx_tile.1),
            decode_width: u64::from(settings.width).min(ltx_tile.2),
        }
    }
}

/// The manifest's memory profile, or the family's conservative default for packages exported
/// before profiles existed.
pub fn profile(m: &Manifest) -> MemoryProfile {
    if let Some(p) = &m.memory {
        return p.clone();
    }
    // Defaults sized for diffusers' UNets: 320 channels at full latent resolution with about a
    // dozen tensors alive, spatial attention there with 8 heads (SD 1.x and ModelScope use 5 or
    // 8), temporal attention for video, and the SD VAE's 128-channel full-resolution decoder
    // with one attention at latent resolution.
    let spatial = AttentionSite {
        span: AttentionSpan::Frame,
        downsample: 1,
        heads: 8,
        keys: AttentionKeys::SelfTokens,
        head_dim: None,
        fused: false,
    };
    let mut attention = vec![
        spatial,
        AttentionSite {
            keys: AttentionKeys::Text,
            ..spatial
        },
    ];
    if m.family == FamilyName::Unet3d {
        attention.push(AttentionSite {
            span: AttentionSpan::Time,
            ..spatial
        });
    }
    MemoryProfile {
        denoiser: GraphMemory {
            bytes_per_position: 320 * 12 * FLOAT,
            attention,
        },
        vae_decoder: Some(GraphMemory {
            bytes_per_position: 128 * 6 * FLOAT,
            attention: vec![AttentionSite {
                heads: 1,
                ..spatial
            }],
        }),
        float16_weights: false,
        float16_text_encoder: false,
    }
}

/// One attention site's calls per graph run, queries per call and keys per call.
fn attention_shape(site: &AttentionSite, size: &Size, batch: u64) -> (u64, u64, u64) {
    let ds = u64::from(site.downsample.max(1));
    let per_frame = (size.latent_height.div_ceil(ds)) * (size.latent_width.div_ceil(ds));
    let (calls, queries) = match site.span {
        AttentionSpan::Clip => (batch, size.frames * per_frame),
        AttentionSpan::Frame => (batch * size.frames, per_frame),
        AttentionSpan::Time => (batch * per_frame, size.frames),
    };
    let keys = match site.keys {
        AttentionKeys::SelfTokens => queries,
        AttentionKeys::Text => size.text_tokens,
    };
    (calls, queries, keys)
}

/// The most tokens one of the denoiser's attention calls sees (queries of its largest
/// self-attention): the figure whose square an unfused export holds.
pub fn attention_tokens(m: &Manifest, size: &Size) -> u64 {
    profile(m)
        .denoiser
        .attention
        .iter()
        .map(|a| attention_shape(a, size, 1).1)
        .max()
        .unwrap_or(0)
}

/// Bytes one attention site holds at its peak, for `batch` samples.
fn attention_bytes(site: &AttentionSite, size: &Size, batch: u64) -> u64 {
    let (calls, queries, keys) = attention_shape(site, size, batch);
    let heads = u64::from(site.heads.max(1));
    if site.fused {
        let width = heads * site.head_dim.map_or(FUSED_HEAD_DIM, u64::from).max(1);
        let tokens = calls
            .saturating_mul((FUSED_QUERY_COPIES * queries).saturating_add(FUSED_KEY_COPIES * keys))
            .saturating_mul(width)
            .saturating_mul(FLOAT);
        // With a mask (a text mask on cross attention, say) ONNX Runtime's CPU kernel computes
        // the scores unfused, and the bias is one more head's worth; over text keys that is
        // still linear in queries, so count it there. (A mask on self-attention would be
        // quadratic; no exported family has one, and the manifest does not say which sites are
        // masked: docs/fused-attention.md.)
        let masked_scores = match site.keys {
            AttentionKeys::Text => calls
                .saturating_mul(heads + 1)
                .saturating_mul(queries)
                .saturating_mul(keys)
                .saturating_mul(FLOAT),
            AttentionKeys::SelfTokens => 0,
        };
        tokens.saturating_add(masked_scores)
    } else {
        calls
            .saturating_mul(heads)
            .saturating_mul(queries)
            .saturating_mul(keys)
            .saturating_mul(FLOAT * UNFUSED_SCORE_COPIES)
    }
}

fn largest_attention(g: &GraphMemory, size: &Size, batch: u64) -> u64 {
    g.attention
        .iter()
        .map(|a| attention_bytes(a, size, batch))
        .max()
        .unwrap_or(0)
}

/// Estimates the peak memory of a generation of `size` with the package described by `m`,
/// whose graphs weigh `weights` bytes on disk.
pub fn estimate(m: &Manifest, weights: u64, size: &Size) -> Estimate {
    estimate_in(m, weights, size, Placement::Host)
}

/// [`estimate`], for graphs placed as `placement` says.
pub fn estimate_in(m: &Manifest, weights: u64, size: &Size, placement: Placement) -> Estimate {
    let p = profile(m);
    let weights = in_memory(&p, weights, placement);
    let positions = size.frames * size.latent_height * size.latent_width;
    let denoiser_attention = largest_attention(&p.denoiser, size, size.batch);
    let denoiser = positions
        .saturating_mul(size.batch)
        .saturating_mul(p.denoiser.bytes_per_position)
        .saturating_add(denoiser_attention);
    let vae_decoder = p.vae_decoder.as_ref().map_or(0, |v| {
        let chunk = Size { frames: 1, ..*size };
        let pixels = size.decode_frames * size.decode_height * size.decode_width;
        pixels
            .saturating_mul(v.bytes_per_position)
            .saturating_add(largest_attention(v, &chunk, size.decode_frames))
    });
    // A whole-clip decoder (LTX) hands back the clip's pixels planar before they become frames;
    // tiled, the window before the current one and the current one are held besides.
    let vae_decoder = if m.family == FamilyName::Ltx {
        let clip = size.frames.saturating_sub(1) * u64::from(m.temporal_compression.max(1)) + 1;
        let tiled = size.decode_height < size.height || size.decode_width < size.width;
        let windows = if tiled || size.decode_frames < clip {
            2 * size.decode_frames
        } else {
            0
        };
        vae_decoder.saturating_add((clip + windows) * size.height * size.width * 3 * FLOAT)
    } else {
        vae_decoder
    };
    let latent_values = positions * u64::from(m.latent_channels) * size.batch;
    let frame_values =
        size.frames * u64::from(m.temporal_compression.max(1)) * size.height * size.width * 3;
    Estimate {
        weights,
        denoiser,
        denoiser_attention,
        vae_decoder,
        // Latents (a few copies in the loop) and the decoded frames.
        buffers: (latent_values * 4 + frame_values) * FLOAT,
        phase_weights: None,
    }
}

/// What weights of `bytes` on disk hold once loaded: float16 graphs on ONNX Runtime's CPU
/// provider keep float32 copies of the weights it runs in float32 (measured 2.4x on the Wan
/// 1.3B transformer; counted as 2.5x). On a GPU they stay as stored.
fn in_memory(p: &MemoryProfile, bytes: u64, placement: Placement) -> u64 {
    if p.float16_weights && placement == Placement::Host {
        bytes.saturating_mul(5) / 2
    } else {
        bytes
    }
}

/// The estimate for `settings` on `model`, in the model's memory mode.
pub fn estimate_for(model: &Model, settings: &Settings) -> Estimate {
    estimate_package(model.package(), settings, model.memory_mode())
}

/// [`estimate_for`], for graphs placed as `placement` says.
fn estimate_for_in(model: &Model, settings: &Settings, placement: Placement) -> Estimate {
    estimate_package_in(model.package(), settings, model.memory_mode(), placement)
}

/// The estimate for `settings` on the package `pkg` when its sessions are kept as `mode` says
/// (`Auto` as [`resolve_mode`] decides it now).
pub fn estimate_package(pkg: &ModelPackage, settings: &Settings, mode: MemoryMode) -> Estimate {
    estimate_package_in(pkg, settings, mode, Placement::Host)
}

/// [`estimate_package`], for graphs placed as `placement` says.
pub fn estimate_package_in(
    pkg: &ModelPackage,
    settings: &Settings,
    mode: MemoryMode,
    placement: Placement,
) -> Estimate {
    let bytes = |r: GraphRole| pkg.graph(r).map_or(0, |g| g.bytes);
    // Wan 2.2 A14B's two transformers: both resident, or one at a time in sequential mode.
    let (d1, d2) = (bytes(GraphRole::Denoiser), bytes(GraphRole::Denoiser2));
    let p = profile(pkg.manifest());
    let te = bytes(GraphRole::TextEncoder);
    // A float16 text encoder beside float32 graphs (LTX --fp16): the 1.5x its CPU session
    // holds beyond its size on disk (in_memory's 2.5x, for that graph alone).
    let te_extra = if p.float16_text_encoder && !p.float16_weights && placement == Placement::Host {
        te.saturating_mul(3) / 2
    } else {
        0
    };
    let phases = [te, d1.max(d2), bytes(GraphRole::VaeDecoder)];
    // Image and video to video load the VAE encoder too; it stays loaded unless sessions are
    // sequential (its phase, before denoising, then weighs no more than the decoder's).
    let encoder = if settings.image || settings.video.is_some() {
        bytes(GraphRole::VaeEncoder)
    } else {
        0
    };
    let mut e = estimate_in(
        pkg.manifest(),
        phases.iter().sum::<u64>() + d1.min(d2) + encoder,
        &Size::of(pkg.manifest(), settings),
        placement,
    );
    e.weights = e.weights.saturating_add(te_extra);
    if resolve_mode(mode, pkg.weight_bytes()) == MemoryMode::Sequential {
        let mut w = phases.map(|b| in_memory(&p, b, placement));
        w[0] = w[0].saturating_add(te_extra);
        e.phase_weights = Some(w);
    }
    e
}

/// The mode `mode` comes to for a package whose weights are `weight_bytes`: `Auto` is
/// sequential when they exceed half of the memory available now, else resident.
pub fn resolve_mode(mode: MemoryMode, weight_bytes: u64) -> MemoryMode {
    match mode {
        MemoryMode::Auto => match available_memory() {
            Some(free) if weight_bytes > free / 2 => MemoryMode::Sequential,
            _ => MemoryMode::Resident,
        },
        mode => mode,
    }
}

/// The cap for ONNX Runtime's CPU arena: `$PROMPTREEL_MEMORY_LIMIT_MB` when set, else
/// [`DEFAULT_ARENA_SHARE`] of the memory available now; `None` when neither is known.
pub fn arena_limit() -> Result<Option<u64>> {
    if let Some(v) = std::env::var_os(MEMORY_LIMIT_ENV).filter(|v| !v.is_empty()) {
        let text = v.to_string_lossy();
        let mib: u64 = text.trim().parse().map_err(|_| {
            Error::setting(format!(
                "{MEMORY_LIMIT_ENV} is {text:?}; set it to a whole number of MiB (e.g. 8192) or \
                 leave it unset"
            ))
        })?;
        return Ok(Some((mib << 20).max(64 << 20)));
    }
    Ok(available_memory().map(|a| ((a as f64 * DEFAULT_ARENA_SHARE) as u64).max(MIN_ARENA_BYTES)))
}

/// Formats bytes for people: "1.5 GiB", "320 MiB".
pub fn human(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", (b / MIB).max(1.0))
    }
}

/// Refuses `settings` when their estimate does not fit: the memory available now (plus the
/// weights this model already holds), or the runtime's cap (`arena_cap`, the arena part).
///
/// A generation that will run on CUDA is checked against the GPU instead: its weights and
/// working memory against the cap on CUDA's arena, and only the latents and frames against the
/// host's free memory.
pub fn check(model: &Model, settings: &Settings, arena_cap: Option<u64>) -> Result<Estimate> {
    if model.options().server.is_some() {
        return check_remote(model, settings);
    }
    if let Some(gpu) = crate::runtime::device::cuda_target(model)? {
        return check_gpu(model, settings, &gpu);
    }
    let est = estimate_for(model, settings);
    let held = model.loaded_weight_bytes();
    if let Some(cap) = arena_cap
        && est.working() > cap
    {
        return Err(refusal(
            model,
            settings,
            &est,
            Limit {
                placement: Placement::Host,
                need: est.working(),
                have: cap,
                what: "Promptreel may use",
                memory: "memory",
            },
        ));
    }
    if let Some(available) = available_memory() {
        let need = est.total().saturating_sub(held);
        if need > available {
            return Err(refusal(
                model,
                settings,
                &est,
                Limit {
                    placement: Placement::Host,
                    need,
                    have: available,
                    what: "the machine has free",
                    memory: "memory",
                },
            ));
        }
    }
    Ok(est)
}

/// [`check`] for a generation whose graphs run on a remote server: their weights and working
/// memory are the server's (one that runs out answers RESOURCE_EXHAUSTED, which becomes a
/// sentence). Here live the latents and frames, and one call's tensors on the wire besides
/// (counted as the buffers again).
fn check_remote(model: &Model, settings: &Settings) -> Result<Estimate> {
    let est = estimate_for_in(model, settings, Placement::Gpu);
    let here = est.buffers.saturating_mul(2);
    if let Some(available) = available_memory()
        && here > available
    {
        return Err(refusal(
            model,
            settings,
            &est,
            Limit {
                placement: Placement::Gpu,
                need: here,
                have: available,
                what: "the machine has free",
                memory: "memory",
            },
        ));
    }
    Ok(est)
}

/// [`check`] for a generation on CUDA's GPU `gpu`.
fn check_gpu(
    model: &Model,
    settings: &Settings,
    gpu: &crate::runtime::cuda::CudaDevice,
) -> Result<Estimate> {
    let est = estimate_for_in(model, settings, Placement::Gpu);
    let cap = crate::runtime::device::gpu_memory_cap(gpu)?;
    // The latents and frames are the host's part; everything else is on the GPU.
    let on_gpu = est.total().saturating_sub(est.buffers);
    if on_gpu > cap {
        let what = format!("CUDA may use on the {}", gpu.name);
        return Err(refusal(
            model,
            settings,
            &est,
            Limit {
                placement: Placement::Gpu,
                need: on_gpu,
                have: cap,
                what: &what,
                memory: "GPU memory",
            },
        ));
    }
    if let Some(available) = available_memory()
        && est.buffers > available
    {
        return Err(refusal(
            model,
            settings,
            &est,
            Limit {
                placement: Placement::Gpu,
                need: est.buffers,
                have: available,
                what: "the machine has free",
                memory: "memory",
            },
        ));
    }
    Ok(est)
}

/// What a refused generation ran into.
struct Limit<'a> {
    /// Where the graphs run (the advice's smaller settings are estimated there).
    placement: Placement,
    need: u64,
    have: u64,
    /// Whose limit `have` is: "the machine has free", "CUDA may use on the NVIDIA ...".
    what: &'a str,
    /// Which memory: "memory" or "GPU memory".
    memory: &'a str,
}

/// The sentence for a refused generation: what it needs, what there is, and which setting to
/// lower to what.
fn refusal(model: &Model, settings: &Settings, est: &Estimate, limit: Limit<'_>) -> Error {
    let Limit {
        placement,
        need,
        have,
        what,
        memory,
    } = limit;
    let m = model.package().manifest();
    let fits = |s: &Settings| {
        let e = estimate_for_in(model, s, placement);
        let need_s = need.saturating_sub(est.working().saturating_add(est.buffers))
            + e.working()
            + e.buffers;
        need_s <= have
    };
    let mut advice = Vec::new();
    if m.family != FamilyName::Sd && settings.frames > 1 {
        // The most frames that fit, found by halving then stepping (the estimate is monotonic).
        let mut lo = 1u32;
        let mut hi = settings.frames;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let trial = Settings {
                frames: mid,
                ..settings.clone()
            };
            if fits(&trial) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        // Wan and LTX make tk+1 frames: advise one they can make.
        let t = m.temporal_compression.max(1);
        let lo = (lo - 1) / t * t + 1;
        let trial = Settings {
            frames: lo,
            ..settings.clone()
        };
        if fits(&trial) {
            advice.push(format!(
                "lower Frames from {} to {} or fewer",
                settings.frames, lo
            ));
        }
    }
    let s = m.spatial_compression.max(1) * 8;
    let mut side = (settings.width.max(settings.height) / s) * s;
    while side >= s {
        let scale = f64::from(side) / f64::from(settings.width.max(settings.height));
        let round = |v: u32| (((f64::from(v) * scale) as u32) / s * s).max(s);
        let trial = Settings {
            width: round(settings.width),
            height: round(settings.height),
            ..settings.clone()
        };
        if trial.width < settings.width && fits(&trial) {
            advice.push(format!(
                "lower Resolution from {}x{} to {}x{} or smaller",
                settings.width, settings.height, trial.width, trial.height
            ));
            break;
        }
        side -= s;
    }
    let unguided = Settings {
        guidance: 1.0,
        guidance_2: 1.0,
        ..settings.clone()
    };
    if settings.uses_guidance() && m.cfg_batch && fits(&unguided) {
        advice.push("set Guidance to 1 (no guidance halves the denoiser's memory)".into());
    }
    let advice = match advice.split_last() {
        None => "use a smaller model or a machine with more memory".to_string(),
        Some((only, [])) => only.clone(),
        Some((last, rest)) => format!("{}, or {last}", rest.join(", ")),
    };
    Error::new(
        ErrorKind::Memory,
        format!(
            "this generation needs about {} of {memory} ({} frames at {}x{}; the attention \
             alone takes {}), but {what} only {}: {advice}",
            human(need),
            settings.frames,
            settings.width,
            settings.height,
            human(est.denoiser_attention),
            human(have)
        ),
    )
}

#[cfg(test)]
mod tests;
