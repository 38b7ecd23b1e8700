//! `promptreel.json`: our manifest of a model package (format in docs/model-package.md).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The manifest file name inside a package folder.
pub const MANIFEST_FILE: &str = "promptreel.json";

/// The manifest format this engine reads.
pub const FORMAT_VERSION: u32 = 1;

/// Model families the engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilyName {
    /// ModelScope / Zeroscope: UNet3D over `[B, C, F, h, w]`, per-frame VAE.
    Unet3d,
    /// Stable Diffusion stills: UNet2D over `[B, C, h, w]`.
    Sd,
    /// Wan 2.1 / 2.2 (WanPipeline): a diffusion transformer over `[B, C, F', h, w]` with a
    /// causal video VAE (4x temporal compression) decoded by a stateful step graph.
    Wan,
    /// LTX-Video 0.9.x (LTXPipeline, LTXImageToVideoPipeline): a diffusion transformer over
    /// `[B, C, F', h, w]` with per-frame timesteps (frame 0 can be a conditioning image), and a
    /// video VAE (8x temporal, 32x spatial) that decodes the whole clip at once, conditioned on
    /// a decode timestep.
    Ltx,
}

impl FamilyName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unet3d => "unet3d",
            Self::Sd => "sd",
            Self::Wan => "wan",
            Self::Ltx => "ltx",
        }
    }
}

/// The element type of the denoiser's timestep input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestepDtype {
    Float32,
    Float16,
    Int64,
}

/// Native generation settings of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Native {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub fps: f64,
}

/// The generation settings the model's authors recommend, where they differ from the CLI's
/// general defaults (25 steps, guidance 7.5): LTXPipeline's are 50 and 3.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f32>,
}

/// VAE settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeSettings {
    pub scaling_factor: f32,
    #[serde(default)]
    pub shift_factor: f32,
    #[serde(default = "default_chunk")]
    pub decode_chunk_frames: u32,
    /// Per-channel latent statistics (Wan): the pipeline hands the VAE `x * std + mean`
    /// instead of dividing by `scaling_factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latents_mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latents_std: Option<Vec<f32>>,
    /// Timestep-conditioned VAEs (LTX-Video 0.9.1 and later): the timestep the decoder is run
    /// at, and how much of the decode noise is mixed into the latents first (`None`: the same
    /// as `decode_timestep`, diffusers' rule). Requests may override both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_timestep: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_noise_scale: Option<f32>,
}

fn default_chunk() -> u32 {
    8
}

/// Tokenizer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerSpec {
    #[serde(default = "default_tokenizer_path")]
    pub path: String,
    pub max_length: u32,
    #[serde(default)]
    pub pad_token: Option<String>,
}

fn default_tokenizer_path() -> String {
    "tokenizer/tokenizer.json".into()
}

/// The text encoder graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextEncoderSpec {
    #[serde(default = "default_text_encoder_path")]
    pub path: String,
    #[serde(default = "default_input_ids")]
    pub input_ids: String,
    #[serde(default)]
    pub attention_mask: Option<String>,
    #[serde(default = "default_last_hidden_state")]
    pub output: String,
}

fn default_text_encoder_path() -> String {
    "text_encoder/model.onnx".into()
}
fn default_input_ids() -> String {
    "input_ids".into()
}
fn default_last_hidden_state() -> String {
    "last_hidden_state".into()
}

/// The denoiser graph (UNet or transformer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenoiserSpec {
    #[serde(default = "default_denoiser_path")]
    pub path: String,
    #[serde(default = "default_sample")]
    pub sample: String,
    #[serde(default = "default_timestep")]
    pub timestep: String,
    #[serde(default = "default_ehs")]
    pub encoder_hidden_states: String,
    #[serde(default = "default_out_sample")]
    pub output: String,
    pub timestep_dtype: TimestepDtype,
    /// LTX: the text tokens' mask (int64 `[B, L]`), which the transformer turns into an
    /// attention bias (LTX's text encoder runs without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_attention_mask: Option<String>,
    /// LTX: the rotary position scale, float32 `[3]`: (temporal factor / frame rate, spatial
    /// factor, spatial factor), so a clip's motion is tied to its frame rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_interpolation_scale: Option<String>,
}

fn default_denoiser_path() -> String {
    "unet/model.onnx".into()
}
fn default_sample() -> String {
    "sample".into()
}
fn default_timestep() -> String {
    "timestep".into()
}
fn default_ehs() -> String {
    "encoder_hidden_states".into()
}
fn default_out_sample() -> String {
    "out_sample".into()
}

/// A VAE graph (decoder or encoder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeGraphSpec {
    pub path: String,
    pub input: String,
    pub output: String,
    /// A step graph over `[B, C, T, h, w]` chunks whose causal caches are inputs `cache_in_<i>`
    /// and outputs `cache_out_<i>` (docs/model-package.md, "stateful VAE graphs"); otherwise a
    /// per-frame graph over `[N, C, h, w]`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stateful: bool,
    /// A decoder conditioned on a timestep (float32 `[B]`): the input's name. LTX-Video 0.9.1+.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestep: Option<String>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub version: String,
    pub family: FamilyName,
    pub latent_channels: u32,
    pub spatial_compression: u32,
    #[serde(default = "one")]
    pub temporal_compression: u32,
    /// What width and height must be multiples of (the VAE's factor times the transformer's
    /// patch); absent: `spatial_compression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_multiple: Option<u32>,
    pub native: Native,
    /// Recommended steps and guidance (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Defaults>,
    pub vae: VaeSettings,
    #[serde(default = "yes")]
    pub cfg_batch: bool,
    pub tokenizer: TokenizerSpec,
    pub text_encoder: TextEncoderSpec,
    pub denoiser: DenoiserSpec,
    /// Wan 2.2 A14B: the low-noise transformer, which takes over from `denoiser` for timesteps
    /// below `boundary_ratio` x the scheduler's `num_train_timesteps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denoiser_2: Option<DenoiserSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_ratio: Option<f32>,
    pub vae_decoder: VaeGraphSpec,
    #[serde(default)]
    pub vae_encoder: Option<VaeGraphSpec>,
    #[serde(default = "default_scheduler_path")]
    pub scheduler: String,
    /// What the graphs hold in memory as exported (attention layout, activation sizes), for the
    /// estimate made before a generation. Absent: the family's conservative defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryProfile>,
}

/// The memory a package's graphs need, as a function of the generation size (see
/// `crate::budget`). The exporter writes it from the model's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryProfile {
    pub denoiser: GraphMemory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vae_decoder: Option<GraphMemory>,
    /// The weights are stored in float16 (`--fp16`). ONNX Runtime's CPU provider runs much of
    /// such a graph in float32 and keeps a float32 copy of those weights beside the float16
    /// ones, so in memory they weigh more than on disk (measured: 2.4x, Wan 1.3B).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub float16_weights: bool,
    /// Only the text encoder's weights are float16 (LTX's `--fp16`: T5-XXL halves to 9.5 GB on
    /// disk while the transformer stays float32); counted like `float16_weights`, for that graph.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub float16_text_encoder: bool,
}

/// One graph's working memory: a part linear in positions plus its largest attention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphMemory {
    /// Bytes of activations held per position for one sample: per latent position (frame x
    /// latent height x latent width) for the denoiser, per output pixel for the VAE decoder.
    pub bytes_per_position: u64,
    /// The attention layers, one entry per distinct shape (repeats do not add up: ONNX Runtime
    /// frees one layer's scores before the next layer runs).
    #[serde(default)]
    pub attention: Vec<AttentionSite>,
}

/// The shape of one kind of attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionSite {
    /// Which tokens attend to each other.
    pub span: AttentionSpan,
    /// Latent positions per token side (a transformer's patch size; 2^level in a UNet).
    #[serde(default = "one")]
    pub downsample: u32,
    pub heads: u32,
    /// `text`: queries attend to the prompt's tokens (cross attention); `self` otherwise.
    #[serde(default)]
    pub keys: AttentionKeys,
    /// Width of one head (queries and keys); absent in packages exported before it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u32>,
    /// Exported as a fused kernel (`com.microsoft` MultiHeadAttention): memory linear in tokens.
    #[serde(default)]
    pub fused: bool,
}

/// Which tokens one attention call sees together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionSpan {
    /// Every token of the clip (joint space-time attention).
    Clip,
    /// The tokens of one frame (spatial attention; frames go into the batch).
    Frame,
    /// One position across the frames (temporal attention; positions go into the batch).
    Time,
}

/// What the queries attend to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKeys {
    #[default]
    #[serde(rename = "self")]
    SelfTokens,
    Text,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_scheduler_path() -> String {
    "scheduler/scheduler_config.json".into()
}

impl Manifest {
    /// Parses manifest text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| {
            Error::package(format!(
                "{} is not a valid Promptreel manifest: {e}. See docs/model-package.md for the \
                 fields (unknown fields are refused; `family` is one of: unet3d, sd, wan, ltx)",
                path.display()
            ))
        })?;
        m.check(path)?;
        Ok(m)
    }

    /// Reads and parses `dir/promptreel.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::package(format!(
                    "{} has no {MANIFEST_FILE}; a model package needs one (export the model with \
                     tools/export.py, or see docs/model-package.md)",
                    dir.display()
                ))
            } else {
                Error::io("read", &path, e)
            }
        })?;
        Self::parse(&text, &path)
    }

    /// Value checks serde cannot express.
    fn check(&self, path: &Path) -> Result<()> {
        let bad = |what: String| Err(Error::package(format!("{}: {what}", path.display())));
        if self.format != FORMAT_VERSION {
            return bad(format!(
                "manifest format {} is not supported; this engine reads format {FORMAT_VERSION}",
                self.format
            ));
        }
        if self.name.trim().is_empty() || self.version.trim().is_empty() {
            return bad("`name` and `version` must not be empty".into());
        }
        if self.latent_channels == 0 || self.latent_channels > 1024 {
            return bad(format!(
                "latent_channels {} is out of range 1..=1024",
                self.latent_channels
            ));
        }
        if !(1..=64).contains(&self.spatial_compression) {
            return bad(format!(
                "spatial_compression {} is out of range 1..=64",
                self.spatial_compression
            ));
        }
        match self.family {
            FamilyName::Wan | FamilyName::Ltx if !(1..=8).contains(&self.temporal_compression) => {
                return bad(format!(
                    "temporal_compression {} is out of range 1..=8",
                    self.temporal_compression
                ));
            }
            FamilyName::Unet3d | FamilyName::Sd if self.temporal_compression != 1 => {
                return bad(format!(
                    "temporal_compression {} is not supported by the {} family (1 expected)",
                    self.temporal_compression,
                    self.family.as_str()
                ));
            }
            _ => {}
        }
        if let Some(k) = self.size_multiple
            && (k == 0 || k > 256 || k % self.spatial_compression != 0)
        {
            return bad(format!(
                "size_multiple {k} must be a multiple of spatial_compression {} and at most 256",
                self.spatial_compression
            ));
        }
        match (&self.vae.latents_mean, &self.vae.latents_std) {
            (None, None) => {}
            (Some(mean), Some(std)) => {
                let c = self.latent_channels as usize;
                if mean.len() != c || std.len() != c {
                    return bad(format!(
                        "vae.latents_mean and vae.latents_std need {c} values each (one per latent \
                         channel), not {} and {}",
                        mean.len(),
                        std.len()
                    ));
                }
                if mean.iter().any(|v| !v.is_finite())
                    || std.iter().any(|v| !(v.is_finite() && *v > 0.0))
                {
                    return bad(
                        "vae.latents_mean must be finite and vae.latents_std positive".into(),
                    );
                }
            }
            _ => return bad("vae.latents_mean and vae.latents_std go together".into()),
        }
        match (&self.denoiser_2, self.boundary_ratio) {
            (None, None) => {}
            (Some(_), Some(r)) if r > 0.0 && r < 1.0 => {}
            (Some(_), Some(r)) => {
                return bad(format!(
                    "boundary_ratio {r} must be between 0 and 1 (Wan 2.2: 0.875)"
                ));
            }
            _ => {
                return bad(
                    "denoiser_2 and boundary_ratio go together (the second transformer takes over \
                     below the boundary)"
                        .into(),
                );
            }
        }
        if self.family == FamilyName::Wan {
            if self.text_encoder.attention_mask.is_none() {
                return bad("a wan package's text encoder takes an attention mask: set \
                     text_encoder.attention_mask (the exporter writes \"attention_mask\")"
                    .into());
            }
            if !self.vae_decoder.stateful {
                return bad("a wan package's VAE decoder is a stateful step graph: set \
                     vae_decoder.stateful to true (export it with tools/export.py)"
                    .into());
            }
        } else if self.family == FamilyName::Ltx {
            if self.vae.latents_mean.is_none() {
                return bad("an ltx package carries its VAE's latent statistics: set \
                     vae.latents_mean and vae.latents_std (the exporter reads them from the VAE's \
                     buffers)"
                    .into());
            }
            if self.vae_decoder.stateful {
                return bad("the ltx family decodes the whole clip in one call; remove \
                     vae_decoder.stateful"
                    .into());
            }
        } else if self.vae_decoder.stateful {
            return bad(format!(
                "the {} family decodes frame by frame; vae_decoder.stateful is for wan packages",
                self.family.as_str()
            ));
        }
        let n = &self.native;
        if n.width == 0 || n.height == 0 || n.frames == 0 || !(n.fps > 0.0 && n.fps.is_finite()) {
            return bad(format!(
                "native size {}x{}, {} frames at {} fps must all be positive",
                n.width, n.height, n.frames, n.fps
            ));
        }
        if self.family == FamilyName::Sd && n.frames != 1 {
            return bad(format!(
                "the sd family makes stills: native.frames must be 1, not {}",
                n.frames
            ));
        }
        if !(self.vae.scaling_factor.is_finite() && self.vae.scaling_factor > 0.0) {
            return bad(format!(
                "vae.scaling_factor {} must be positive",
                self.vae.scaling_factor
            ));
        }
        for (name, v) in [
            ("vae.decode_timestep", self.vae.decode_timestep),
            ("vae.decode_noise_scale", self.vae.decode_noise_scale),
        ] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return bad(format!("{name} {v} must be between 0 and 1"));
            }
        }
        if (self.vae.decode_timestep.is_some() || self.vae.decode_noise_scale.is_some())
            && self.vae_decoder.timestep.is_none()
        {
            return bad(
                "vae.decode_timestep and vae.decode_noise_scale need a timestep-conditioned \
                 VAE decoder (vae_decoder.timestep names its input)"
                    .into(),
            );
        }
        if let Some(d) = &self.defaults {
            if d.steps.is_some_and(|s| s == 0 || s > 1000) {
                return bad("defaults.steps must be 1 to 1000".into());
            }
            if d.guidance
                .is_some_and(|g| !(g.is_finite() && (0.0..=100.0).contains(&g)))
            {
                return bad("defaults.guidance must be 0 to 100".into());
            }
        }
        if self.vae.decode_chunk_frames == 0 {
            return bad("vae.decode_chunk_frames must be at least 1".into());
        }
        if !(1..=4096).contains(&self.tokenizer.max_length) {
            return bad(format!(
                "tokenizer.max_length {} is out of range 1..=4096",
                self.tokenizer.max_length
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{
      "format": 1, "name": "m", "version": "1", "family": "unet3d",
      "latent_channels": 4, "spatial_compression": 8,
      "native": {"width": 64, "height": 64, "frames": 8, "fps": 8.0},
      "vae": {"scaling_factor": 0.18215},
      "tokenizer": {"max_length": 77},
      "text_encoder": {},
      "denoiser": {"timestep_dtype": "float32"},
      "vae_decoder": {"path": "vae_decoder/model.onnx", "input": "latent_sample", "output": "sample"}
    }"#;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("pkg/promptreel.json"))
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let m = parse(SAMPLE).expect("valid");
        assert_eq!(m.family, FamilyName::Unet3d);
        assert_eq!(m.denoiser.path, "unet/model.onnx");
        assert_eq!(m.denoiser.output, "out_sample");
        assert_eq!(m.vae.decode_chunk_frames, 8);
        assert!(m.cfg_batch);
        assert_eq!(m.scheduler, "scheduler/scheduler_config.json");
    }

    #[test]
    fn unknown_field_is_refused_by_name() {
        let text = SAMPLE.replacen(
            "\"format\": 1,",
            "\"format\": 1, \"latnet_channels\": 4,",
            1,
        );
        let err = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("latnet_channels") && err.contains("pkg/promptreel.json"),
            "{err}"
        );
    }

    #[test]
    fn wrong_family_is_refused_with_the_valid_names() {
        let text = SAMPLE.replace("\"unet3d\"", "\"cogvideox\"");
        let err = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("cogvideox") && err.contains("unet3d, sd, wan, ltx"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for (from, to, needle) in [
            ("\"format\": 1", "\"format\": 2", "format 2"),
            (
                "\"spatial_compression\": 8",
                "\"spatial_compression\": 0",
                "spatial_compression",
            ),
            ("\"max_length\": 77", "\"max_length\": 0", "max_length"),
            ("\"fps\": 8.0", "\"fps\": 0.0", "fps"),
        ] {
            let err = parse(&SAMPLE.replace(from, to))
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().unwrap_or_default().contains(needle),
                "{from}: {err:?}"
            );
        }
    }
}
