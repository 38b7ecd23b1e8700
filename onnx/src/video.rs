//! The result of a generation: RGB frames plus what it took to make them.

use std::time::Duration;

use crate::pipeline::Settings;

/// Time spent, per graph and per denoising step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// ONNX Runtime time in the text encoder (all prompts).
    pub text_encoder: Duration,
    /// ONNX Runtime time in the denoiser (all steps, both guidance branches).
    pub denoiser: Duration,
    /// ONNX Runtime time in the VAE decoder (all chunks).
    pub vae_decoder: Duration,
    /// ONNX Runtime time in the VAE encoder (image to video's conditioning image).
    pub vae_encoder: Duration,
    /// Wall time of each denoising step, including the scheduler.
    pub steps: Vec<Duration>,
    /// Wall time of the whole generation.
    pub total: Duration,
    /// Time spent creating ONNX Runtime sessions (first use of a model only).
    pub session_load: Duration,
}

impl Timings {
    /// Time spent inside ONNX Runtime.
    pub fn runtime_total(&self) -> Duration {
        self.text_encoder + self.denoiser + self.vae_decoder + self.vae_encoder
    }

    /// Share of the wall time spent outside ONNX Runtime (our overhead), 0..=1. Session
    /// creation is ONNX Runtime's work too and happens once per model, so it is left out of
    /// both sides.
    pub fn overhead_ratio(&self) -> f64 {
        let total = self.total.saturating_sub(self.session_load).as_secs_f64();
        if total <= 0.0 {
            return 0.0;
        }
        ((total - self.runtime_total().as_secs_f64()) / total).max(0.0)
    }

    /// Mean wall seconds per denoising step.
    pub fn seconds_per_step(&self) -> f64 {
        if self.steps.is_empty() {
            return 0.0;
        }
        self.steps.iter().map(Duration::as_secs_f64).sum::<f64>() / self.steps.len() as f64
    }
}

/// Generated frames: `frame_count` frames of `height` x `width` interleaved RGB f32 in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    pub frames: Vec<f32>,
    pub frame_count: usize,
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    pub timings: Timings,
    /// (graph, provider) for every session used, e.g. ("denoiser", "CPU").
    pub providers: Vec<(String, String)>,
    /// Things the user should know (truncated prompt, unknown words).
    pub warnings: Vec<String>,
    /// The resolved settings.
    pub settings: Settings,
    /// The scheduler that ran.
    pub scheduler: String,
    /// The memory estimate this generation was admitted with (see [`crate::budget`]).
    pub memory_estimate: crate::budget::Estimate,
}

impl Video {
    /// The RGB values of frame `i` (`height * width * 3` values).
    pub fn frame(&self, i: usize) -> Option<&[f32]> {
        let n = self.width * self.height * 3;
        self.frames.get(i * n..(i + 1) * n)
    }

    /// The providers, deduplicated, e.g. "CPU".
    pub fn device_label(&self) -> String {
        let mut v: Vec<&str> = self.providers.iter().map(|(_, p)| p.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.join("+")
    }
}
