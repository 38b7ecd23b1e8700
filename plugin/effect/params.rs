//! The effect's parameters: one table of names, labels, hints and ranges used both by Describe
//! and by the instance (no key string is typed twice), and the reading of their values.

use promptreel_engine::GenerateRequest;

use super::EffectKind;
pub use super::on_render::OnRender;
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
    "Where the model runs. Auto: CUDA in the CUDA bundle (the Status line says if it falls back), \
     else the CPU. Remote server: the studio's inference server named in Server."
);
meta!(
    SERVER,
    "serverAddress",
    "Server",
    "The address of the studio's inference server (Triton or any KServe v2 server), e.g. \
     http://gpu-server:8001; used when Device is Remote server. A token, if the server needs \
     one, comes from the PROMPTREEL_SERVER_TOKEN environment variable and is never saved in the \
     project."
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
meta!(
    ON_RENDER,
    "generateOnRender",
    "Generate on render",
    "Whether rendering a frame not generated yet starts the generation. On: it does. Off: only \
     Generate does; until then frames show a slate. Auto: On when this model on this device \
     made its last clip in under 10 s (with no clip yet: only the bundled model)."
);
meta!(
    RETIMING,
    "retiming",
    "Retiming",
    "How the model's clip plays at another frame rate. Hold: each model frame repeats. Blend: \
     the two nearest model frames are mixed."
);

meta!(
    MODE,
    "mode",
    "Mode",
    "Restyle: the Source clip remade as the prompt says (video to video). Animate first frame: a \
     clip that starts from the Source's first frame (image to video; LTX models)."
);
meta!(
    STRENGTH,
    "strength",
    "Strength",
    "Restyle: how far from the Source to go. 0 keeps the Source, 1 ignores it (only its length \
     and size remain)."
);

/// A page: script name, label, parameters.
pub type Page = (&'static str, &'static str, &'static [&'static Meta]);

/// Text to Video's pages and what goes on them.
pub const PAGES: &[Page] = &[
    (
        "pagePrompt",
        "Prompt",
        &[
            &PROMPT, &NEGATIVE, &SEED, &NEW_SEED, &GENERATE, &ON_RENDER, &STATUS,
        ],
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
            &SERVER,
        ],
    ),
    ("pageOutput", "Output", &[&FIT, &COLOUR, &RETIMING]),
];

/// Video to Video's pages: Text to Video's, with Mode and Strength under the prompt.
pub const VIDEO_PAGES: &[Page] = &[
    (
        "pagePrompt",
        "Prompt",
        &[
            &PROMPT, &NEGATIVE, &MODE, &STRENGTH, &SEED, &NEW_SEED, &GENERATE, &ON_RENDER, &STATUS,
        ],
    ),
    PAGES[1],
    PAGES[2],
];

/// The pages of `kind`.
pub fn pages(kind: EffectKind) -> &'static [Page] {
    match kind {
        EffectKind::TextToVideo => PAGES,
        EffectKind::VideoToVideo => VIDEO_PAGES,
    }
}

/// Ranges: (min, max, display min, display max, default).
pub const SEED_RANGE: (i32, i32, i32, i32, i32) = (0, i32::MAX, 0, 99_999, 0);
pub const STEPS_RANGE: (i32, i32, i32, i32, i32) = (1, 1000, 1, 100, 25);
pub const FRAMES_RANGE: (i32, i32, i32, i32, i32) = (0, 1024, 0, 128, 0);
pub const GUIDANCE_RANGE: (f64, f64, f64, f64, f64) = (0.0, 100.0, 0.0, 20.0, 7.5);
pub const GUIDANCE_2_RANGE: (f64, f64, f64, f64, f64) = (0.0, 100.0, 0.0, 20.0, 0.0);
/// Video to Video's Strength: diffusers' video-to-video default, 0.6.
pub const STRENGTH_RANGE: (f64, f64, f64, f64, f64) = (0.0, 1.0, 0.0, 1.0, 0.6);

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
    // NOTE: appended too; the address is the Server parameter.
    ("Remote server", "remote"),
];

pub const COLOURS: &[(&str, Colour)] =
    &[("sRGB (display)", Colour::Srgb), ("Linear", Colour::Linear)];

pub const ON_RENDER_OPTIONS: &[(&str, OnRender)] = &[
    ("Auto", OnRender::Auto),
    ("On", OnRender::On),
    ("Off", OnRender::Off),
];

/// What Video to Video makes of its Source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Video to video: the Source's frames, re-made towards the prompt by Strength.
    Restyle,
    /// Image to video: a clip starting from the Source's first frame.
    Animate,
}

impl Mode {
    /// The name in the clip's key.
    pub fn key_name(self) -> &'static str {
        match self {
            Self::Restyle => "restyle",
            Self::Animate => "animate",
        }
    }
}

// NOTE: append new modes, so projects keep their choice.
pub const MODES: &[(&str, Mode)] = &[
    ("Restyle (video to video)", Mode::Restyle),
    ("Animate first frame (image to video)", Mode::Animate),
];

/// How model frames map onto host frames when the frame rates differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retiming {
    /// Each host frame shows the model frame it falls in.
    Hold,
    /// Each host frame mixes the two nearest model frames by its position between them.
    Blend,
}

pub const RETIMINGS: &[(&str, Retiming)] = &[("Hold", Retiming::Hold), ("Blend", Retiming::Blend)];
/// Blend: the default (projects saved before the parameter existed get it too).
pub const RETIMING_DEFAULT: i32 = 1;

/// Everything the parameters say, read at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub request: GenerateRequest,
    /// Empty = the bundled model.
    pub model_folder: String,
    pub device: &'static str,
    /// The Server parameter, trimmed (used only when `device` is "remote"; not part of the
    /// clip's key: remote and local frames are the same bits).
    pub server: String,
    pub fit: Fit,
    pub colour: Colour,
    /// How the clip plays at the host's frame rate (display only: not part of the clip's key).
    pub retiming: Retiming,
    /// Whether a render may generate (not part of the clip's key).
    pub on_render: OnRender,
    /// The host's frame rate for the output; models conditioned on the frame rate (LTX) are
    /// run at it, so motion plays at the right speed on the timeline.
    pub host_fps: Option<f64>,
    /// Video to Video's settings; `None` for Text to Video.
    pub video: Option<VideoValues>,
}

/// Video to Video's own parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoValues {
    pub mode: Mode,
    /// As the parameter says (checked against 0..=1 before use: a host need not clamp).
    pub strength: f64,
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
    /// Reads every parameter of `kind` at `time`.
    pub fn read(params: &ParamSet, time: f64, kind: EffectKind) -> OfxResult<Self> {
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
            server: text(&SERVER)?.trim().to_string(),
            fit: choice(FITS, int(&FIT)?, FIT.label)?,
            colour: choice(COLOURS, int(&COLOUR)?, COLOUR.label)?,
            retiming: choice(RETIMINGS, int(&RETIMING)?, RETIMING.label)?,
            on_render: choice(ON_RENDER_OPTIONS, int(&ON_RENDER)?, ON_RENDER.label)?,
            host_fps: None,
            video: match kind {
                EffectKind::TextToVideo => None,
                EffectKind::VideoToVideo => Some(VideoValues {
                    mode: choice(MODES, int(&MODE)?, MODE.label)?,
                    strength: params.get(STRENGTH.name)?.get_double(time)?,
                }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptreel_engine::Device;

    #[test]
    fn every_device_option_is_an_engine_device_and_remote_is_last() {
        for (label, name) in DEVICES {
            assert!(Device::parse(name).is_ok(), "{label}: {name}");
        }
        // Appended: the indices saved in projects keep their meaning.
        let names: Vec<&str> = DEVICES.iter().map(|(_, n)| *n).collect();
        assert_eq!(
            names,
            [
                "auto", "cpu", "cuda", "directml", "coreml", "tensorrt", "remote"
            ]
        );
        assert_eq!(
            Device::parse(DEVICES[DEVICES.len() - 1].1).ok(),
            Some(Device::Remote)
        );
    }

    #[test]
    fn server_follows_device_and_its_hint_names_the_token_variable() {
        for kind in [EffectKind::TextToVideo, EffectKind::VideoToVideo] {
            let (_, _, generation) = pages(kind)[1];
            let at = |m: &Meta| generation.iter().position(|p| p.name == m.name);
            assert_eq!(
                at(&SERVER),
                at(&DEVICE).map(|i| i + 1),
                "{kind:?}: Server right after Device"
            );
        }
        assert!(SERVER.hint.contains(promptreel_engine::remote::TOKEN_ENV));
        assert!(SERVER.hint.contains("never saved"));
    }
}
