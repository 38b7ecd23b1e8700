//! Promptreel's engine: turns (model package, prompt, settings) into video frames by running
//! exported diffusion graphs through ONNX Runtime.
//!
//! ```no_run
//! use promptreel_engine::{GenerateRequest, SessionOptions, Silent, generate, registry};
//! # fn main() -> promptreel_engine::Result<()> {
//! let model = registry::get("bundle/models/tiny".as_ref(), SessionOptions::default(), None)?;
//! let req = GenerateRequest { prompt: "a red ball moving right".into(), ..Default::default() };
//! let video = generate(&model, &req, &mut Silent)?;
//! println!("{} frames of {}x{}", video.frame_count, video.width, video.height);
//! # Ok(()) }
//! ```
//!
//! Layout: [`runtime`] (library loading, providers, graphs), [`package`] (model folders),
//! [`model`] + [`registry`] (shared sessions), [`tokenizer`], [`scheduler`], [`family`]
//! (per-architecture hooks), [`pipeline`] (the phases), [`video`] (the result).

#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod budget;
pub mod control;
pub mod error;
mod family;
pub mod image;
pub mod memory;
pub mod model;
pub mod noise;
pub mod npy;
pub mod package;
pub mod paths;
pub mod pipeline;
pub mod prompt_clean;
pub mod registry;
pub mod remote;
pub mod runtime;
pub mod scheduler;
pub mod source_frames;
pub mod tokenizer;
pub mod video;

pub use control::{CancelToken, FnObserver, Observer, Phase, Progress, Silent};
pub use error::{Error, ErrorKind, Result};
pub use model::Model;
pub use package::ModelPackage;
pub use pipeline::{GenerateRequest, Settings, generate};
pub use runtime::{Device, MemoryMode, Provider, SessionOptions, TensorF32};
pub use video::{Timings, Video};
