//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::triton_repo::TritonRepoArgs;

#[derive(Parser)]
#[command(
    name = "promptreel",
    version,
    about = "Text-to-video with ONNX Runtime"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Render a clip from a prompt into PNG frames and an animated preview.
    Generate(Box<GenerateArgs>),
    /// Show what a model package contains and whether it is valid.
    Inspect(InspectArgs),
    /// Show which devices (execution providers) can run here, and what each one lacks.
    Devices(DevicesArgs),
    /// Write a Triton model repository for a model package (the remote backend's server side).
    TritonRepo(TritonRepoArgs),
}

#[derive(Args)]
pub struct DevicesArgs {
    /// The ONNX Runtime library (default: $PROMPTREEL_ORT_LIB, or next to this program).
    #[arg(long, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
}

/// Where ONNX Runtime comes from and how it runs.
#[derive(Args, Clone)]
pub struct RuntimeArgs {
    /// The ONNX Runtime library (default: $PROMPTREEL_ORT_LIB, next to this program, or the
    /// copy cached by tools/fetch_onnxruntime.sh).
    #[arg(long, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
    /// auto, cpu, cuda, tensorrt, directml, coreml or remote (graphs run on --server).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// A KServe v2 server (Triton) that runs the graphs: http://host:8001. Implies --device
    /// remote. Its token, if it needs one, comes from $PROMPTREEL_SERVER_TOKEN.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The longest one graph call on the server may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub server_timeout: f64,
    /// ONNX Runtime intra-op threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// auto, resident (keep every graph loaded) or sequential (load each graph for its phase
    /// only: peak memory about the largest graph). auto = sequential when the model's weights
    /// exceed half of the free memory.
    #[arg(long, default_value = "auto")]
    pub memory_mode: String,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// The model package folder (default: the bundled model).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// What to show.
    #[arg(long, value_name = "TEXT")]
    pub prompt: OsString,
    /// What to steer away from (default: nothing).
    #[arg(long, value_name = "TEXT")]
    pub negative: Option<OsString>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Denoising steps (default: the package's recommendation, else 25).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Classifier-free guidance scale, 1 = off (default: the package's recommendation, else 7.5).
    #[arg(long)]
    pub guidance: Option<f32>,
    /// Wan 2.2 A14B: guidance of the low-noise transformer's steps (default: --guidance).
    #[arg(long, value_name = "SCALE")]
    pub guidance_2: Option<f32>,
    /// Frame count (default: the model's).
    #[arg(long)]
    pub frames: Option<u32>,
    #[arg(long)]
    pub width: Option<u32>,
    #[arg(long)]
    pub height: Option<u32>,
    /// ddim, euler, euler-a, dpm++2m, dpm++2m-karras, flow-euler or unipc (default: the model's).
    #[arg(long)]
    pub scheduler: Option<String>,
    /// Text tokens per prompt, for Wan and LTX models (default: the package's; WanPipeline's
    /// is 512, LTXPipeline's 128).
    #[arg(long, value_name = "N")]
    pub max_sequence_length: Option<u32>,
    /// Frames per second of the clip (default: the model's); LTX ties its motion to it.
    #[arg(long, value_name = "FPS")]
    pub frame_rate: Option<f32>,
    /// Image to video (LTX): start the clip from this RGB PNG, fitted to the clip's size.
    #[arg(long, value_name = "FILE.png")]
    pub image: Option<PathBuf>,
    /// How --image is fitted when its aspect ratio differs: crop (fill the frame, cut the
    /// overflow) or stretch (diffusers' default resize).
    #[arg(long, value_name = "crop|stretch", default_value = "crop")]
    pub image_fit: String,
    /// Video to video (restyle): the source clip, a folder of PNG frames (in name order) or an
    /// animated GIF, fitted to the clip's size like --image; needs a model with a VAE encoder.
    #[arg(long, value_name = "DIR|FILE.gif")]
    pub video: Option<PathBuf>,
    /// Video to video: how far from the source to go, 0 (the source, through the VAE) to 1
    /// (only its noise level kept); default 0.6.
    #[arg(long, value_name = "0..1")]
    pub strength: Option<f32>,
    /// The noise the --video's latents are sampled with (float32 .npy shaped like the latents)
    /// instead of seeded noise; for parity tests against diffusers.
    #[arg(long, value_name = "FILE.npy")]
    pub video_noise: Option<PathBuf>,
    /// LTX 0.9.1+: the VAE's decode timestep (default: the package's).
    #[arg(long, value_name = "T")]
    pub decode_timestep: Option<f32>,
    /// LTX 0.9.1+: how much decode noise is mixed in before decoding (default: the package's).
    #[arg(long, value_name = "SCALE")]
    pub decode_noise_scale: Option<f32>,
    /// LTX: decode in overlapping tiles as diffusers' enable_tiling() does (on), in one call
    /// (off), or tiled when one call would need more than 2 GiB (auto).
    #[arg(long, value_name = "auto|on|off", default_value = "auto")]
    pub vae_tiling: String,
    /// Start from these initial latents (float32 .npy, unpacked [1, C, F, h, w] for video
    /// models) instead of seeded noise.
    #[arg(long, value_name = "FILE.npy")]
    pub latents: Option<PathBuf>,
    /// The decode noise (float32 .npy shaped like the latents) instead of seeded noise; for
    /// parity tests against diffusers.
    #[arg(long, value_name = "FILE.npy")]
    pub decode_noise: Option<PathBuf>,
    /// The noise the --image's latent is sampled with (float32 .npy [1, C, 1, h, w]) instead of
    /// seeded noise; for parity tests against diffusers.
    #[arg(long, value_name = "FILE.npy")]
    pub image_noise: Option<PathBuf>,
    /// Write a JSON report (settings, providers, timings, peak memory).
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Also write the raw frames as float32 .npy [F, H, W, 3].
    #[arg(long)]
    pub npy: bool,
    /// Output folder for frame_0000.png, ... and preview.gif.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The model package folder.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Only check files, without loading ONNX Runtime.
    #[arg(long)]
    pub no_runtime: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}
