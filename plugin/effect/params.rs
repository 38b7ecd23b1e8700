//! The effect's parameters: one table of names, labels, hints and ranges used both by Describe
//! and by the instance (no key string is typed twice), and the reading of their values.

use promptreel_engine::GenerateRequest;

use crate::ofx::{OfxError, OfxResult, ParamSet};
use crate::resample::{Colour, Fit};

/// A parameter's identity and help text.
pub struct Meta {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
}

macro_rules! meta {
    ($id:ident, $name:literal, $label:literal, $hint:literal) => {
        pub const $id: Meta = Meta {
            name: $name,
            label: $label,
            hint: $hint,
        };
    };
}

meta!(
    PROMPT,
    "prompt",
    "Prompt",
    "What the clip shows, in plain words."
);
meta!(
    NEGATIVE,
    "negative",
    "Negative prompt",
    "What the clip should avoid (used when Guidance is above 1)."
);
meta!(
    SEED,
    "seed",
    "Seed",
    "The random seed: the same seed and settings give the same clip."
);
meta!(NEW_SEED, "newSeed", "New seed", "Pick a new random seed.");
meta!(
    STEPS,
    "steps",
    "Steps",
    "Denoising steps: more is slower and usually cleaner."
);
meta!(
    GUIDANCE,
    "guidance",
    "Guidance",
    "How strongly the prompt steers the clip; 1 turns guidance off."
);
meta!(
    GUIDANCE_2,
    "guidance2",
    "Guidance 2",
    "Two-transformer Wan 2.2 models (A14B): the guidance of the low-noise steps; 0 uses Guidance."
);
meta!(
    SCHEDULER,
    "scheduler",
    "Scheduler",
    "The sampling method; Model default uses the model's own."
);
meta!(
    FRAMES,
    "frames",
    "Frames",
    "Frames to generate; 0 uses the model's default length."
);
meta!(
    RESOLUTION,
    "resolution",
    "Resolution",
    "The size the model generates at, before fitting into the output."
);
meta!(
    FIT,
    "fit",
    "Fit into output",
    "Fit: whole clip, letterboxed. Fill: cover the frame, cropped. Stretch: distort to fill."
);
meta!(
    MODEL,
    "modelFolder",
    "Model folder",
    "A Promptreel model package folder; empty uses the bundled model."
);
meta!(
    DEVICE,
    "device",
    "Device",
    "Where the model runs. Auto: CUDA in the CUDA bundle (the Status line says if it falls back), else the CPU."
);
meta!(
    COLOUR,
    "outputColour",
    "Output colour",
    "sRGB display values (Resolve) or linear light (Natron, linear pipelines)."
);
meta!(
    GENERATE,
    "generate",
    "Generate",
    "Generate the clip now, with progress and a cancel button."
);
meta!(STATUS, "status", "Status", "What the last generation did.");

/// Pages and what goes on them.
pub const PAGES: &[(&str, &str, &[&Meta])] = &[
    (
        "pagePrompt",
        "Prompt",
        &[&PROMPT, &NEGATIVE, &SEED, &NEW_SEED, &GENERATE, &STATUS],
    ),
    (
        "pageGeneration",
        "Generation",
        &[
            &STEPS,
            &GUIDANCE,
            &GUIDANCE_2,
            &SCHEDULER,
            &FRAMES,
            &RESOLUTION,
            &MODEL,
            &DEVICE,
        ],
    ),
    ("pageOutput", "Output", &[&FIT, &COLOUR]),
];

/// Ranges: (min, max, display min, display max, default).
pub const SEED_RANGE: (i32, i32, i32, i32, i32) = (0, i32::MAX, 0, 99_999, 0);
pub const STEPS_RANGE: (i32, i32, i32, i32, i32) = (1, 1000, 1, 100, 25);
pub const FRAMES_RANGE: (i32, i32, i32, i32, i32) = (0, 1024, 0, 128, 0);
pub const GUIDANCE_RANGE: (f64, f64, f64, f64, f64) = (0.0, 100.0, 0.0, 20.0, 7.5);
pub const GUIDANCE_2_RANGE: (f64, f64, f64, f64, f64) = (0.0, 100.0, 0.0, 20.0, 0.0);

/// Scheduler options: (label, engine name or None for the model's own).
pub const SCHEDULERS: &[(&str, Option<&str>)] = &[
    ("Model default", None),
    ("DDIM", Some("ddim")),
    ("Euler", Some("euler")),
    ("Euler ancestral", Some("euler-a")),
    ("DPM++ 2M", Some("dpm++2m")),
    ("DPM++ 2M Karras", Some("dpm++2m-karras")),
    ("Flow-match Euler", Some("flow-euler")),
    // appended, so the choice indices saved in existing projects keep their meaning
    ("UniPC", Some("unipc")),
];

/// Resolution options: (label, size or None for the model's native size).
pub const RESOLUTIONS: &[(&str, Option<(u32, u32)>)] = &[
    ("Model native", None),
    ("256 x 256", Some((256, 256))),
    ("512 x 512", Some((512, 512))),
    ("576 x 320", Some((576, 320))),
    ("768 x 512", Some((768, 512))),
    ("1024 x 576", Some((1024, 576))),
];

pub const FITS: &[(&str, Fit)] = &[
    ("Fit", Fit::Fit),
    ("Fill", Fit::Fill),
    ("Stretch", Fit::Stretch),
];

pub const DEVICES: &[(&str, &str)] = &[
    ("Auto", "auto"),
    ("CPU", "cpu"),
    ("CUDA", "cuda"),
    ("DirectML", "directml"),
    ("CoreML", "coreml"),
    // NOTE: appended, so projects saved with the earlier list keep their choice.
    ("TensorRT", "tensorrt"),
];

pub const COLOURS: &[(&str, Colour)] =
    &[("sRGB (display)", Colour::Srgb), ("Linear", Colour::Linear)];

/// Everything the parameters say, read at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub request: GenerateRequest,
    /// Empty = the bundled model.
    pub model_folder: String,
    pub device: &'static str,
    pub fit: Fit,
    pub colour: Colour,
    /// The host's frame rate for the output; models conditioned on the frame rate (LTX) are
    /// run at it, so motion plays at the right speed on the timeline.
    pub host_fps: Option<f64>,
}

fn choice<T: Copy>(options: &[(&str, T)], index: i32, what: &str) -> OfxResult<T> {
    usize::try_from(index)
        .ok()
        .and_then(|i| options.get(i))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            OfxError::failed(format!("{what} option {index} is not one Promptreel knows"))
        })
}

impl Values {
    /// Reads every parameter at `time`.
    pub fn read(params: &ParamSet, time: f64) -> OfxResult<Self> {
        let int = |m: &Meta| params.get(m.name)?.get_int(time);
        let text = |m: &Meta| params.get(m.name)?.get_string(time);
        let frames = int(&FRAMES)?;
        let resolution = choice(RESOLUTIONS, int(&RESOLUTION)?, RESOLUTION.label)?;
        let request = GenerateRequest {
            prompt: text(&PROMPT)?,
            negative_prompt: text(&NEGATIVE)?,
            seed: int(&SEED)?.max(0) as u64,
            steps: int(&STEPS)?.max(0) as u32,
            guidance: params.get(GUIDANCE.name)?.get_double(time)? as f32,
            guidance_2: Some(params.get(GUIDANCE_2.name)?.get_double(time)? as f32)
                .filter(|g| *g > 0.0),
            frames: (frames > 0).then_some(frames as u32),
            width: resolution.map(|r| r.0),
            height: resolution.map(|r| r.1),
            scheduler: choice(SCHEDULERS, int(&SCHEDULER)?, SCHEDULER.label)?.map(str::to_owned),
            initial_latents: None,
            max_sequence_length: None,
            ..GenerateRequest::default()
        };
        Ok(Self {
            request,
            model_folder: text(&MODEL)?.trim().to_string(),
            device: choice(DEVICES, int(&DEVICE)?, DEVICE.label)?,
            fit: choice(FITS, int(&FIT)?, FIT.label)?,
            colour: choice(COLOURS, int(&COLOUR)?, COLOUR.label)?,
            host_fps: None,
        })
    }
}
