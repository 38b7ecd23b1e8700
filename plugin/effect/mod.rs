//! The "Text to Video" generator effect: plugin logic with no raw pointers and no `unsafe`.
//!
//! File order follows openfx-misc's effects: identity and capabilities here, parameters in
//! [`params`], describe / describe-in-context in [`describe`], the instance in [`instance`],
//! generation and caching in [`generate`], pixels in [`render`].

#![forbid(unsafe_code)]

pub mod describe;
pub mod generate;
pub mod instance;
pub mod params;
pub mod render;

use std::ffi::CStr;

use crate::ofx::{EffectHandle, OfxResult, PropertySet, Status, sys};

/// The plugin's identifier; never change it (hosts store it in projects).
pub const IDENTIFIER: &CStr = c"org.promptreel.TextToVideo";
/// The version hosts see: the package's major and minor version (the workspace `Cargo.toml`,
/// which the bundle's `Info.plist` and `promptreel --version` report too). Bump the major
/// version there when old projects would render differently or lose parameters.
pub const VERSION_MAJOR: u32 = parse_version_part(env!("CARGO_PKG_VERSION_MAJOR"));
/// See [`VERSION_MAJOR`].
pub const VERSION_MINOR: u32 = parse_version_part(env!("CARGO_PKG_VERSION_MINOR"));
pub const LABEL: &str = "Text to Video";
pub const GROUPING: &str = "Promptreel";
pub const DESCRIPTION: &str =
    "Generates video from a text prompt with a diffusion model running in ONNX Runtime.";

/// The optional input clip of the General context (image-to-video later; unused for now).
pub const SOURCE_CLIP: &CStr = c"Source";

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

/// Unload: drop what this load created.
pub fn unload() -> OfxResult<Status> {
    generate::purge_all();
    Ok(Status::Ok)
}

/// Routes the actions the effect handles; everything else gets "reply default".
pub fn dispatch(
    action: &CStr,
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    out_args: Option<&PropertySet>,
) -> OfxResult<Status> {
    if action == sys::kOfxActionDescribe {
        describe::describe(effect)
    } else if action == sys::kOfxImageEffectActionDescribeInContext {
        describe::describe_in_context(effect, in_args)
    } else if action == sys::kOfxActionCreateInstance {
        instance::create(effect)
    } else if action == sys::kOfxActionDestroyInstance {
        instance::destroy(effect)
    } else if action == sys::kOfxActionInstanceChanged {
        instance::changed(effect, in_args)
    } else if action == sys::kOfxImageEffectActionGetClipPreferences {
        render::clip_preferences(effect, out_args)
    } else if action == sys::kOfxImageEffectActionGetTimeDomain {
        render::time_domain(effect, out_args)
    } else if action == sys::kOfxImageEffectActionGetRegionOfDefinition {
        render::region_of_definition(effect, out_args)
    } else if action == sys::kOfxImageEffectActionRender {
        render::render(effect, in_args)
    } else if action == sys::kOfxActionPurgeCaches {
        generate::purge_all();
        Ok(Status::Ok)
    } else {
        Ok(Status::ReplyDefault)
    }
}
