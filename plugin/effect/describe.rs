//! Describe and Describe-in-context: what the host shows before any instance exists, for
//! either effect.

use std::ffi::CStr;

use super::params::{self as p, Meta};
use super::{EffectKind, GROUPING, SOURCE_CLIP};
use crate::ofx::{
    EffectHandle, OfxError, OfxResult, ParamSet, ParamType, PropertySet, Status, sys,
};

/// The effect's global properties.
pub fn describe(effect: &EffectHandle, kind: EffectKind) -> OfxResult<Status> {
    let props = effect.properties()?;
    props.set_string(sys::kOfxPropLabel, 0, kind.label())?;
    props.set_string(sys::kOfxImageEffectPluginPropGrouping, 0, GROUPING)?;
    // Optional properties: hosts that do not know them may refuse; that is fine.
    let _ = props.set_string(sys::kOfxPropPluginDescription, 0, kind.description());
    props.set_strings(sys::kOfxImageEffectPropSupportedContexts, kind.contexts())?;
    props.set_strings(
        sys::kOfxImageEffectPropSupportedPixelDepths,
        &[
            sys::kOfxBitDepthFloat,
            sys::kOfxBitDepthShort,
            sys::kOfxBitDepthByte,
        ],
    )?;
    props.set_int(sys::kOfxImageEffectPluginPropSingleInstance, 0, 0)?;
    props.set_string(
        sys::kOfxImageEffectPluginRenderThreadSafety,
        0,
        as_str(sys::kOfxImageEffectRenderFullySafe),
    )?;
    // We split rows across threads ourselves; the host need not tile for us.
    props.set_int(sys::kOfxImageEffectPluginPropHostFrameThreading, 0, 0)?;
    // NOTE: Video to Video hashes the Source's pixels into the clip's key, so it must see whole
    // frames at full resolution: a tile or a proxy-scale Source would be another clip. The
    // output is still only a fit of the generated frames.
    let whole_frames = i32::from(!kind.reads_source());
    props.set_int(sys::kOfxImageEffectPropSupportsTiles, 0, whole_frames)?;
    props.set_int(
        sys::kOfxImageEffectPropSupportsMultiResolution,
        0,
        whole_frames,
    )?;
    // Video to Video reads every Source frame its clip is made from, whichever frame renders.
    props.set_int(
        sys::kOfxImageEffectPropTemporalClipAccess,
        0,
        i32::from(kind.reads_source()),
    )?;
    props.set_int(sys::kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0)?;
    let _ = props.set_int(sys::kOfxImageEffectPluginPropFieldRenderTwiceAlways, 0, 0);
    // OFX 1.5: CPU rendering only; the model may still run on a GPU through ONNX Runtime.
    let _ = props.set_string(sys::kOfxImageEffectPropCPURenderSupported, 0, "true");
    let _ = props.set_string(sys::kOfxImageEffectPropCudaRenderSupported, 0, "false");
    let _ = props.set_string(sys::kOfxImageEffectPropMetalRenderSupported, 0, "false");
    let _ = props.set_string(sys::kOfxImageEffectPropOpenCLRenderSupported, 0, "false");
    let _ = props.set_string(
        sys::kOfxImageEffectPropColourManagementStyle,
        0,
        as_str(sys::kOfxImageEffectColourManagementNone),
    );
    Ok(Status::Ok)
}

fn as_str(c: &'static CStr) -> &'static str {
    c.to_str().unwrap_or_default()
}

/// Clips and parameters for a context.
pub fn describe_in_context(
    effect: &EffectHandle,
    in_args: Option<&PropertySet>,
    kind: EffectKind,
) -> OfxResult<Status> {
    let context = in_args
        .map(|a| a.get_string(sys::kOfxImageEffectPropContext, 0))
        .transpose()?
        .unwrap_or_default();
    if !kind.contexts().iter().any(|c| as_str(c) == context) {
        return Err(OfxError::new(
            Status::ErrUnsupported,
            format!("{} does not support the context {context}", kind.label()),
        ));
    }
    let general = context == as_str(sys::kOfxImageEffectContextGeneral);
    let components: &[&CStr] = &[sys::kOfxImageComponentRGBA, sys::kOfxImageComponentRGB];
    let whole_frames = i32::from(!kind.reads_source());
    let out = effect.define_clip(sys::kOfxImageEffectOutputClipName)?;
    out.set_strings(sys::kOfxImageEffectPropSupportedComponents, components)?;
    out.set_int(sys::kOfxImageEffectPropSupportsTiles, 0, whole_frames)?;
    if kind.reads_source() {
        // Filter and General: the Source is what the effect works on.
        let src = effect.define_clip(SOURCE_CLIP)?;
        src.set_strings(sys::kOfxImageEffectPropSupportedComponents, components)?;
        src.set_int(sys::kOfxImageClipPropOptional, 0, 0)?;
        src.set_int(sys::kOfxImageEffectPropSupportsTiles, 0, 0)?;
        src.set_int(sys::kOfxImageEffectPropTemporalClipAccess, 0, 1)?;
    } else if general {
        let src = effect.define_clip(SOURCE_CLIP)?;
        src.set_strings(sys::kOfxImageEffectPropSupportedComponents, components)?;
        src.set_int(sys::kOfxImageClipPropOptional, 0, 1)?;
        src.set_int(sys::kOfxImageEffectPropSupportsTiles, 0, 1)?;
    }
    define_params(&effect.params()?, kind)?;
    Ok(Status::Ok)
}

/// Sets the label, hint and script name every parameter shares; nothing animates.
fn common(props: &PropertySet, m: &Meta) -> OfxResult<()> {
    props.set_string(sys::kOfxPropLabel, 0, m.label)?;
    props.set_string(sys::kOfxParamPropHint, 0, m.hint)?;
    props.set_string(sys::kOfxParamPropScriptName, 0, m.name)?;
    Ok(())
}

fn no_animation(props: &PropertySet) -> OfxResult<()> {
    props.set_int(sys::kOfxParamPropAnimates, 0, 0)
}

fn string_param(ps: &ParamSet, m: &Meta, mode: &'static CStr, default: &str) -> OfxResult<()> {
    let props = ps.define(ParamType::String, m.name)?;
    common(&props, m)?;
    no_animation(&props)?;
    props.set_string(sys::kOfxParamPropStringMode, 0, as_str(mode))?;
    props.set_string(sys::kOfxParamPropDefault, 0, default)
}

fn int_param(ps: &ParamSet, m: &Meta, r: (i32, i32, i32, i32, i32)) -> OfxResult<()> {
    let props = ps.define(ParamType::Integer, m.name)?;
    common(&props, m)?;
    no_animation(&props)?;
    props.set_int(sys::kOfxParamPropMin, 0, r.0)?;
    props.set_int(sys::kOfxParamPropMax, 0, r.1)?;
    props.set_int(sys::kOfxParamPropDisplayMin, 0, r.2)?;
    props.set_int(sys::kOfxParamPropDisplayMax, 0, r.3)?;
    props.set_int(sys::kOfxParamPropDefault, 0, r.4)
}

fn double_param(
    ps: &ParamSet,
    m: &Meta,
    r: (f64, f64, f64, f64, f64),
    increment: f64,
    digits: i32,
) -> OfxResult<()> {
    let props = ps.define(ParamType::Double, m.name)?;
    common(&props, m)?;
    no_animation(&props)?;
    props.set_double(sys::kOfxParamPropMin, 0, r.0)?;
    props.set_double(sys::kOfxParamPropMax, 0, r.1)?;
    props.set_double(sys::kOfxParamPropDisplayMin, 0, r.2)?;
    props.set_double(sys::kOfxParamPropDisplayMax, 0, r.3)?;
    props.set_double(sys::kOfxParamPropDefault, 0, r.4)?;
    let _ = props.set_double(sys::kOfxParamPropIncrement, 0, increment);
    let _ = props.set_int(sys::kOfxParamPropDigits, 0, digits);
    Ok(())
}

fn choice_param<T>(ps: &ParamSet, m: &Meta, options: &[(&str, T)], default: i32) -> OfxResult<()> {
    let props = ps.define(ParamType::Choice, m.name)?;
    common(&props, m)?;
    no_animation(&props)?;
    for (i, (label, _)) in options.iter().enumerate() {
        props.set_string(sys::kOfxParamPropChoiceOption, i, label)?;
    }
    props.set_int(sys::kOfxParamPropDefault, 0, default)
}

fn button(ps: &ParamSet, m: &Meta) -> OfxResult<()> {
    let props = ps.define(ParamType::PushButton, m.name)?;
    common(&props, m)
}

/// Every parameter, then the pages that hold them.
fn define_params(ps: &ParamSet, kind: EffectKind) -> OfxResult<()> {
    string_param(
        ps,
        &p::PROMPT,
        sys::kOfxParamStringIsMultiLine,
        "a red ball moving right on a black background",
    )?;
    string_param(ps, &p::NEGATIVE, sys::kOfxParamStringIsMultiLine, "")?;
    if kind.reads_source() {
        choice_param(ps, &p::MODE, p::MODES, 0)?;
        double_param(ps, &p::STRENGTH, p::STRENGTH_RANGE, 0.05, 2)?;
    }
    int_param(ps, &p::SEED, p::SEED_RANGE)?;
    button(ps, &p::NEW_SEED)?;
    int_param(ps, &p::STEPS, p::STEPS_RANGE)?;
    for (meta, r) in [
        (&p::GUIDANCE, p::GUIDANCE_RANGE),
        (&p::GUIDANCE_2, p::GUIDANCE_2_RANGE),
    ] {
        double_param(ps, meta, r, 0.5, 1)?;
    }
    choice_param(ps, &p::SCHEDULER, p::SCHEDULERS, 0)?;
    int_param(ps, &p::FRAMES, p::FRAMES_RANGE)?;
    choice_param(ps, &p::RESOLUTION, p::RESOLUTIONS, 0)?;
    choice_param(ps, &p::FIT, p::FITS, 0)?;
    string_param(ps, &p::MODEL, sys::kOfxParamStringIsDirectoryPath, "")?;
    choice_param(ps, &p::DEVICE, p::DEVICES, 0)?;
    // NOTE: always enabled: no other parameter here is enabled by another's value, and hosts
    // differ in how they show a disabled string; the hint says it is used with Remote server.
    string_param(ps, &p::SERVER, sys::kOfxParamStringIsSingleLine, "")?;
    choice_param(ps, &p::COLOUR, p::COLOURS, 0)?;
    choice_param(ps, &p::RETIMING, p::RETIMINGS, p::RETIMING_DEFAULT)?;
    button(ps, &p::GENERATE)?;
    choice_param(ps, &p::ON_RENDER, p::ON_RENDER_OPTIONS, 0)?;
    {
        let props = ps.define(ParamType::String, p::STATUS.name)?;
        common(&props, &p::STATUS)?;
        no_animation(&props)?;
        props.set_string(
            sys::kOfxParamPropStringMode,
            0,
            as_str(sys::kOfxParamStringIsLabel),
        )?;
        props.set_string(sys::kOfxParamPropDefault, 0, "not generated yet")?;
        props.set_int(sys::kOfxParamPropEvaluateOnChange, 0, 0)?;
        let _ = props.set_int(sys::kOfxParamPropEnabled, 0, 0);
    }
    for (name, label, children) in p::pages(kind) {
        let page = ps.define(ParamType::Page, name)?;
        page.set_string(sys::kOfxPropLabel, 0, label)?;
        for (i, child) in children.iter().enumerate() {
            page.set_string(sys::kOfxParamPropPageChild, i, child.name)?;
        }
    }
    Ok(())
}
