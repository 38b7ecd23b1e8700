//! The effects: "Text to Video" (a generator) and "Video to Video" (a filter restyling its
//! Source, or animating its first frame), one code path parametrised by [`EffectKind`]; plugin
//! logic with no raw pointers and no `unsafe`.
//!
//! File order follows openfx-misc's effects: identity and capabilities here, parameters in
//! [`params`], describe / describe-in-context in [`describe`], the instance in [`instance`],
//! generation and caching in [`generate`], the Source clip of Video to Video in [`source`]
//! (its pixels in [`source_pixels`]),
//! Generate on render in [`on_render`], pixels in [`render`].

#![forbid(unsafe_code)]

pub mod describe;
pub mod generate;
pub mod instance;
pub mod on_render;
pub mod params;
pub mod render;
pub mod source;
pub mod source_pixels;

use std::ffi::CStr;

use crate::ofx::{EffectHandle, OfxResult, PropertySet, Status, sys};

/// Text to Video's identifier; never change it (hosts store it in projects).
pub const IDENTIFIER: &CStr = c"org.promptreel.TextToVideo";
/// Video to Video's identifier; never change it.
pub const VIDEO_IDENTIFIER: &CStr = c"org.promptreel.VideoToVideo";
/// The version hosts see: the package's major and minor version (the workspace `Cargo.toml`,
/// which the bundle's `Info.plist` and `promptreel --version` report too). Bump the major
/// version there when old projects would render differently or lose parameters.
pub const VERSION_MAJOR: u32 = parse_version_part(env!("CARGO_PKG_VERSION_MAJOR"));
/// See [`VERSION_MAJOR`].
pub const VERSION_MINOR: u32 = parse_version_part(env!("CARGO_PKG_VERSION_MINOR"));
pub const GROUPING: &str = "Promptreel";

/// The input clip: optional in Text to Video's General context (unused there), mandatory in
/// Video to Video (the Filter context requires this name).
pub const SOURCE_CLIP: &CStr = c"Source";

/// Which of the binary's two effects an action is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EffectKind {
    /// "Text to Video": a generator.
    TextToVideo,
    /// "Video to Video": a filter on its Source clip.
    VideoToVideo,
}

impl EffectKind {
    /// Both, in the order `OfxGetPlugin` lists them.
    pub const ALL: [Self; 2] = [Self::TextToVideo, Self::VideoToVideo];

    pub fn identifier(self) -> &'static CStr {
        match self {
            Self::TextToVideo => IDENTIFIER,
            Self::VideoToVideo => VIDEO_IDENTIFIER,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::TextToVideo => "Text to Video",
            Self::VideoToVideo => "Video to Video",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::TextToVideo => {
                "Generates video from a text prompt with a diffusion model running in ONNX \
                 Runtime."
            }
            Self::VideoToVideo => {
                "Restyles its Source clip with a text prompt (video to video), or animates the \
                 Source's first frame (image to video), with a diffusion model running in ONNX \
                 Runtime."
            }
        }
    }

    /// The contexts it supports.
    pub fn contexts(self) -> &'static [&'static CStr] {
        match self {
            Self::TextToVideo => &[
                sys::kOfxImageEffectContextGenerator,
                sys::kOfxImageEffectContextGeneral,
            ],
            Self::VideoToVideo => &[
                sys::kOfxImageEffectContextFilter,
                sys::kOfxImageEffectContextGeneral,
            ],
        }
    }

    /// Whether it reads the Source clip.
    pub fn reads_source(self) -> bool {
        self == Self::VideoToVideo
    }
}

/// A decimal version number, parsed at compile time (a bad one fails the build).
const fn parse_version_part(digits: &str) -> u32 {
    match u32::from_str_radix(digits, 10) {
        Ok(value) => value,
        Err(_) => panic!("the package version is not numeric"),
    }
}

/// Load: nothing heavy — ONNX Runtime and models load on first generation.
pub fn load() -> OfxResult<Status> {
    Ok(Status::Ok)
}

/// Unload (of the binary's last loaded effect): drop what the loads created.
pub fn unload() -> OfxResult<Status> {
    generate::purge_all();
    Ok(Status::Ok)
}

/// Routes the actions the effect handles; everything else gets "reply default".
pub fn dispatch(
    kind: EffectKind,
    action: &CStr,
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    out_args: Option<&PropertySet>,
) -> OfxResult<Status> {
    if action == sys::kOfxActionDescribe {
        describe::describe(effect, kind)
    } else if action == sys::kOfxImageEffectActionDescribeInContext {
        describe::describe_in_context(effect, in_args, kind)
    } else if action == sys::kOfxActionCreateInstance {
        instance::create(effect, kind)
    } else if action == sys::kOfxActionDestroyInstance {
        instance::destroy(effect)
    } else if action == sys::kOfxActionInstanceChanged {
        instance::changed(effect, in_args, kind)
    } else if action == sys::kOfxImageEffectActionGetClipPreferences {
        render::clip_preferences(effect, out_args)
    } else if action == sys::kOfxImageEffectActionGetTimeDomain {
        render::time_domain(effect, out_args, kind)
    } else if action == sys::kOfxImageEffectActionGetRegionOfDefinition {
        render::region_of_definition(effect, out_args)
    } else if action == sys::kOfxImageEffectActionGetFramesNeeded && kind.reads_source() {
        source::frames_needed(effect, in_args, out_args)
    } else if action == sys::kOfxImageEffectActionGetRegionsOfInterest && kind.reads_source() {
        source::regions_of_interest(effect, in_args, out_args)
    } else if action == sys::kOfxImageEffectActionRender {
        render::render(effect, in_args, kind)
    } else if action == sys::kOfxActionPurgeCaches {
        generate::purge_all();
        Ok(Status::Ok)
    } else {
        Ok(Status::ReplyDefault)
    }
}
