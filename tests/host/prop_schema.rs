//! Which properties each kind of property set defines, with types, dimensions, defaults and
//! access, after the OpenFX 1.4 property reference (plus the 1.5 string-choice parameter).
//!
//! Anything not listed here is unknown to this host: the plug-in gets `kOfxStatErrUnknown` and
//! the access is recorded (see [`super::diag`]). GPU, colour-management and other 1.5 host
//! features are deliberately absent: this host has none of them.

use std::ffi::CStr;
use std::sync::Arc;

use ofx_sys::*;

use super::app::HostConfig;
use super::diag::Diagnostics;
use super::effect::Context;
use super::params::{ParamType, Storage};
use super::props::{Access, Dim, PropType, PropValue, PropertySet};
use super::source::Connection;

/// Concise definitions on one set with a current access mode.
pub struct Def<'a> {
    set: &'a PropertySet,
    access: Access,
}

impl<'a> Def<'a> {
    /// Starts defining on `set`, plug-in writable.
    pub fn new(set: &'a PropertySet) -> Self {
        Self {
            set,
            access: Access::ReadWrite,
        }
    }

    /// Following definitions are read-only for the plug-in.
    pub fn ro(&mut self) -> &mut Self {
        self.access = Access::ReadOnly;
        self
    }

    /// Following definitions are writable by the plug-in.
    pub fn rw(&mut self) -> &mut Self {
        self.access = Access::ReadWrite;
        self
    }

    fn def(&mut self, name: &CStr, ty: PropType, dim: Dim, values: Vec<PropValue>) -> &mut Self {
        self.set.define_typed(name, ty, dim, self.access, values);
        self
    }

    /// One string.
    pub fn str1(&mut self, name: &CStr, value: &str) -> &mut Self {
        self.def(
            name,
            PropType::Str,
            Dim::Fixed(1),
            vec![PropValue::str(value)],
        )
    }

    /// A fixed number of strings.
    pub fn str_n(&mut self, name: &CStr, values: &[&str]) -> &mut Self {
        let v = values.iter().map(|s| PropValue::str(s)).collect();
        self.def(name, PropType::Str, Dim::Fixed(values.len()), v)
    }

    /// Any number of strings.
    pub fn str_var(&mut self, name: &CStr, values: &[&str]) -> &mut Self {
        let v = values.iter().map(|s| PropValue::str(s)).collect();
        self.def(name, PropType::Str, Dim::Var, v)
    }

    /// One int.
    pub fn int1(&mut self, name: &CStr, value: i32) -> &mut Self {
        self.def(
            name,
            PropType::Int,
            Dim::Fixed(1),
            vec![PropValue::Int(value)],
        )
    }

    /// A fixed number of ints.
    pub fn int_n(&mut self, name: &CStr, values: &[i32]) -> &mut Self {
        let v = values.iter().copied().map(PropValue::Int).collect();
        self.def(name, PropType::Int, Dim::Fixed(values.len()), v)
    }

    /// Any number of ints.
    pub fn int_var(&mut self, name: &CStr, values: &[i32]) -> &mut Self {
        let v = values.iter().copied().map(PropValue::Int).collect();
        self.def(name, PropType::Int, Dim::Var, v)
    }

    /// One double.
    pub fn dbl1(&mut self, name: &CStr, value: f64) -> &mut Self {
        self.def(
            name,
            PropType::Double,
            Dim::Fixed(1),
            vec![PropValue::Double(value)],
        )
    }

    /// A fixed number of doubles.
    pub fn dbl_n(&mut self, name: &CStr, values: &[f64]) -> &mut Self {
        let v = values.iter().copied().map(PropValue::Double).collect();
        self.def(name, PropType::Double, Dim::Fixed(values.len()), v)
    }

    /// Any number of doubles.
    pub fn dbl_var(&mut self, name: &CStr, values: &[f64]) -> &mut Self {
        let v = values.iter().copied().map(PropValue::Double).collect();
        self.def(name, PropType::Double, Dim::Var, v)
    }

    /// One pointer (NULL).
    pub fn ptr1(&mut self, name: &CStr) -> &mut Self {
        self.def(name, PropType::Ptr, Dim::Fixed(1), vec![PropValue::Ptr(0)])
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &'static CStr) -> Vec<&'static str> {
    items
        .iter()
        .map(|i| name(i).to_str().expect("ASCII constant"))
        .collect()
}

/// The host's own property set.
pub fn host_props(config: &HostConfig, diag: Arc<Diagnostics>) -> PropertySet {
    let set = PropertySet::new("host", false, diag);
    let contexts = names(&config.contexts, |c| c.as_cstr());
    let depths = names(&config.depths, |d| d.as_cstr());
    let native_origin = kOfxHostNativeOriginBottomLeft.to_str().expect("ASCII");
    Def::new(&set)
        .ro()
        .str1(kOfxPropType, "OfxTypeImageEffectHost")
        .str1(kOfxPropName, &config.name)
        .str1(kOfxPropLabel, &config.label)
        .int_var(kOfxPropAPIVersion, &[1, 4])
        .int_var(kOfxPropVersion, &[1, 0, 0])
        .str1(kOfxPropVersionLabel, "1.0.0")
        .ptr1(kOfxPropHostOSHandle)
        .int1(
            kOfxImageEffectHostPropIsBackground,
            i32::from(config.is_background),
        )
        .int1(kOfxImageEffectPropSupportsOverlays, 0)
        .int1(kOfxImageEffectPropSupportsMultiResolution, 1)
        .int1(kOfxImageEffectPropSupportsTiles, 1)
        .int1(
            kOfxImageEffectPropTemporalClipAccess,
            i32::from(config.temporal_clip_access),
        )
        .str_var(
            kOfxImageEffectPropSupportedComponents,
            &["OfxImageComponentRGBA"],
        )
        .str_var(kOfxImageEffectPropSupportedContexts, &contexts)
        .str_var(kOfxImageEffectPropSupportedPixelDepths, &depths)
        .int1(kOfxImageEffectPropSupportsMultipleClipDepths, 1)
        .int1(kOfxImageEffectPropSupportsMultipleClipPARs, 0)
        .int1(kOfxImageEffectPropSetableFrameRate, 0)
        .int1(kOfxImageEffectPropSetableFielding, 0)
        .int1(kOfxImageEffectInstancePropSequentialRender, 2)
        .int1(kOfxImageEffectPropRenderQualityDraft, 1)
        .str1(kOfxImageEffectHostPropNativeOrigin, native_origin)
        .str1(kOfxImageEffectPropOpenGLRenderSupported, "false")
        .int1(kOfxParamHostPropSupportsCustomInteract, 0)
        .int1(kOfxParamHostPropSupportsCustomAnimation, 0)
        .int1(kOfxParamHostPropSupportsStringAnimation, 0)
        .int1(kOfxParamHostPropSupportsBooleanAnimation, 0)
        .int1(kOfxParamHostPropSupportsChoiceAnimation, 0)
        .int1(kOfxParamHostPropSupportsStrChoice, 0)
        .int1(kOfxParamHostPropSupportsStrChoiceAnimation, 0)
        .int1(kOfxParamHostPropMaxParameters, -1)
        .int1(kOfxParamHostPropMaxPages, 0)
        .int_n(kOfxParamHostPropPageRowColumnCount, &[0, 0]);
    set
}

/// The descriptor passed to Describe.
pub fn effect_descriptor(set: &PropertySet, bundle_path: &str) {
    let thread_safety = kOfxImageEffectRenderInstanceSafe.to_str().expect("ASCII");
    Def::new(set)
        .ro()
        .str1(kOfxPropType, "OfxTypeImageEffect")
        .str1(kOfxPluginPropFilePath, bundle_path)
        .rw()
        .str1(kOfxPropLabel, "")
        .str1(kOfxPropShortLabel, "")
        .str1(kOfxPropLongLabel, "")
        .int_var(kOfxPropVersion, &[])
        .str1(kOfxPropVersionLabel, "")
        .str1(kOfxPropPluginDescription, "")
        .str_n(kOfxPropIcon, &["", ""])
        .str_var(kOfxImageEffectPropSupportedContexts, &[])
        .str_var(kOfxImageEffectPropSupportedPixelDepths, &[])
        .str1(kOfxImageEffectPluginPropGrouping, "")
        .int1(kOfxImageEffectPluginPropSingleInstance, 0)
        .str1(kOfxImageEffectPluginRenderThreadSafety, thread_safety)
        .int1(kOfxImageEffectPluginPropHostFrameThreading, 1)
        .ptr1(kOfxImageEffectPluginPropOverlayInteractV1)
        .int1(kOfxImageEffectPropSupportsMultiResolution, 1)
        .int1(kOfxImageEffectPropSupportsTiles, 1)
        .int1(kOfxImageEffectPropTemporalClipAccess, 0)
        .int1(kOfxImageEffectPluginPropFieldRenderTwiceAlways, 1)
        .int1(kOfxImageEffectPropSupportsMultipleClipDepths, 0)
        .int1(kOfxImageEffectPropSupportsMultipleClipPARs, 0)
        .str_var(kOfxImageEffectPropClipPreferencesSlaveParam, &[])
        .int1(kOfxImageEffectInstancePropSequentialRender, 0)
        .str1(kOfxImageEffectPropOpenGLRenderSupported, "false")
        .str_var(kOfxPluginPropParamPageOrder, &[]);
}

/// Instance-only properties, added after a copy of the descriptor's (read-only) values.
pub fn effect_instance(set: &PropertySet, context: Context, config: &HostConfig, plugin: usize) {
    let p = &config.project;
    let context = context.as_cstr().to_str().expect("ASCII");
    Def::new(set)
        .ro()
        .str1(kOfxPropType, "OfxTypeImageEffectInstance")
        .str1(kOfxImageEffectPropContext, context)
        .dbl_n(kOfxImageEffectPropProjectSize, &[p.width, p.height])
        .dbl_n(kOfxImageEffectPropProjectOffset, &[0.0, 0.0])
        .dbl_n(kOfxImageEffectPropProjectExtent, &[p.width, p.height])
        .dbl1(
            kOfxImageEffectPropProjectPixelAspectRatio,
            p.pixel_aspect_ratio,
        )
        .dbl1(kOfxImageEffectInstancePropEffectDuration, p.duration)
        .dbl1(kOfxImageEffectPropFrameRate, p.frame_rate)
        .int1(kOfxPropIsInteractive, i32::from(config.interactive))
        .rw()
        .ptr1(kOfxPropInstanceData)
        .int1(kOfxPropParamSetNeedsSyncing, 0);
    set.define(
        kOfxImageEffectPropPluginHandle,
        Dim::Fixed(1),
        Access::ReadOnly,
        vec![PropValue::Ptr(plugin)],
    );
    // NOTE: the specification lets instances change these three.
    for name in [
        kOfxImageEffectInstancePropSequentialRender,
        kOfxImageEffectPropSupportsTiles,
        kOfxImageEffectPropOpenGLRenderSupported,
    ] {
        set.set_access(name, Access::ReadWrite);
    }
}

/// A clip defined with `clipDefine`.
pub fn clip_descriptor(set: &PropertySet, name: &str) {
    let field = kOfxImageFieldDoubled.to_str().expect("ASCII");
    Def::new(set)
        .ro()
        .str1(kOfxPropType, "OfxTypeClip")
        .str1(kOfxPropName, name)
        .rw()
        .str1(kOfxPropLabel, name)
        .str1(kOfxPropShortLabel, name)
        .str1(kOfxPropLongLabel, name)
        .str_var(kOfxImageEffectPropSupportedComponents, &[])
        .int1(kOfxImageEffectPropTemporalClipAccess, 0)
        .int1(kOfxImageClipPropOptional, 0)
        .str1(kOfxImageClipPropFieldExtraction, field)
        .int1(kOfxImageClipPropIsMask, 0)
        .int1(kOfxImageEffectPropSupportsTiles, 1);
}

/// Instance-only clip properties, added after a read-only copy of the descriptor's.
pub fn clip_instance(set: &PropertySet, connected: bool, config: &HostConfig, depth: &str) {
    let p = &config.project;
    let rgba = kOfxImageComponentRGBA.to_str().expect("ASCII");
    let premult = kOfxImagePreMultiplied.to_str().expect("ASCII");
    let field = kOfxImageFieldNone.to_str().expect("ASCII");
    let range = [0.0, (p.duration - 1.0).max(0.0)];
    Def::new(set)
        .ro()
        .str1(kOfxImageEffectPropPixelDepth, depth)
        .str1(kOfxImageEffectPropComponents, rgba)
        .str1(kOfxImageClipPropUnmappedPixelDepth, depth)
        .str1(kOfxImageClipPropUnmappedComponents, rgba)
        .str1(kOfxImageEffectPropPreMultiplication, premult)
        .dbl1(kOfxImagePropPixelAspectRatio, p.pixel_aspect_ratio)
        .dbl1(kOfxImageEffectPropFrameRate, p.frame_rate)
        .dbl_n(kOfxImageEffectPropFrameRange, &range)
        .str1(kOfxImageClipPropFieldOrder, field)
        .int1(kOfxImageClipPropConnected, i32::from(connected))
        .dbl_n(kOfxImageEffectPropUnmappedFrameRange, &range)
        .dbl1(kOfxImageEffectPropUnmappedFrameRate, p.frame_rate)
        .int1(kOfxImageClipPropContinuousSamples, 0);
}

/// An input clip instance's properties once `source` is connected; `depth` is what the host
/// maps the source's own depth to before clip preferences.
pub fn clip_connected(set: &PropertySet, source: &Connection, depth: &str, config: &HostConfig) {
    let rgba = kOfxImageComponentRGBA.to_str().expect("ASCII");
    let own_depth = source.depth.as_cstr().to_str().expect("ASCII");
    let rate = source.frame_rate.unwrap_or(config.project.frame_rate);
    let range = source.frame_range();
    Def::new(set)
        .ro()
        .int1(kOfxImageClipPropConnected, 1)
        .str1(kOfxImageEffectPropPixelDepth, depth)
        .str1(kOfxImageEffectPropComponents, rgba)
        .str1(kOfxImageClipPropUnmappedPixelDepth, own_depth)
        .str1(kOfxImageClipPropUnmappedComponents, rgba)
        .str1(
            kOfxImageEffectPropPreMultiplication,
            &source.premultiplication,
        )
        .dbl1(kOfxImagePropPixelAspectRatio, source.pixel_aspect_ratio)
        .dbl1(kOfxImageEffectPropFrameRate, rate)
        .dbl_n(kOfxImageEffectPropFrameRange, &range)
        .str1(kOfxImageClipPropFieldOrder, &source.field_order)
        .dbl_n(kOfxImageEffectPropUnmappedFrameRange, &range)
        .dbl1(kOfxImageEffectPropUnmappedFrameRate, rate)
        .int1(kOfxImageClipPropContinuousSamples, 0);
}

/// A parameter defined with `paramDefine`.
pub fn param_descriptor(set: &PropertySet, ty: ParamType, name: &CStr) {
    let name = name.to_str().unwrap_or("");
    let mut d = Def::new(set);
    d.ro()
        .str1(kOfxPropType, "OfxTypeParameter")
        .str1(kOfxPropName, name)
        .str1(kOfxParamPropType, ty.as_cstr().to_str().expect("ASCII"))
        .rw()
        .str1(kOfxPropLabel, name)
        .str1(kOfxPropShortLabel, name)
        .str1(kOfxPropLongLabel, name)
        .str_n(kOfxPropIcon, &["", ""])
        .int1(kOfxParamPropSecret, 0)
        .str1(kOfxParamPropHint, "")
        .str1(kOfxParamPropScriptName, name)
        .str1(kOfxParamPropParent, "")
        .int1(kOfxParamPropEnabled, 1)
        .ptr1(kOfxParamPropDataPtr);
    if matches!(ty, ParamType::Group) {
        d.int1(kOfxParamPropGroupOpen, 1);
    }
    if matches!(ty, ParamType::Page) {
        d.str_var(kOfxParamPropPageChild, &[]);
    }
    if matches!(ty, ParamType::Group | ParamType::Page) {
        return;
    }
    d.ptr1(kOfxParamPropInteractV1)
        .dbl_n(kOfxParamPropInteractSize, &[0.0, 0.0])
        .dbl1(kOfxParamPropInteractSizeAspect, 1.0)
        .int_n(kOfxParamPropInteractMinimumSize, &[10, 10])
        .int_n(kOfxParamPropInteractPreferedSize, &[10, 10])
        .int1(kOfxParamPropCanUndo, 1);
    if ty == ParamType::PushButton {
        return;
    }
    d.int1(kOfxParamPropAnimates, 1)
        .int1(kOfxParamPropIsAnimating, 0)
        .int1(kOfxParamPropIsAutoKeying, 0)
        .int1(kOfxParamPropPersistant, 1)
        .int1(kOfxParamPropEvaluateOnChange, 1)
        .int1(kOfxParamPropPluginMayWrite, 0)
        .str1(
            kOfxParamPropCacheInvalidation,
            "OfxParamInvalidateValueChange",
        );
    match ty.storage() {
        Storage::Ints(n) => {
            d.int_n(kOfxParamPropDefault, &vec![0; n]);
            if !matches!(ty, ParamType::Boolean | ParamType::Choice) {
                d.int_n(kOfxParamPropMin, &vec![i32::MIN; n])
                    .int_n(kOfxParamPropMax, &vec![i32::MAX; n])
                    .int_n(kOfxParamPropDisplayMin, &vec![i32::MIN; n])
                    .int_n(kOfxParamPropDisplayMax, &vec![i32::MAX; n]);
            }
            if n > 1 {
                d.str_n(kOfxParamPropDimensionLabel, &["x", "y", "z"][..n]);
            }
        }
        Storage::Doubles(n) => {
            d.dbl_n(kOfxParamPropDefault, &vec![0.0; n])
                .dbl_n(kOfxParamPropMin, &vec![-f64::MAX; n])
                .dbl_n(kOfxParamPropMax, &vec![f64::MAX; n])
                .dbl_n(kOfxParamPropDisplayMin, &vec![-f64::MAX; n])
                .dbl_n(kOfxParamPropDisplayMax, &vec![f64::MAX; n])
                .dbl1(kOfxParamPropIncrement, 1.0)
                .int1(kOfxParamPropDigits, 2)
                .str1(kOfxParamPropDoubleType, "OfxParamDoubleTypePlain")
                .str1(
                    kOfxParamPropDefaultCoordinateSystem,
                    "OfxParamCoordinatesCanonical",
                );
            if ty == ParamType::Double {
                d.int1(kOfxParamPropShowTimeMarker, 0);
            }
            if n > 1 {
                let labels: &[&str] = if matches!(ty, ParamType::Rgb | ParamType::Rgba) {
                    &["r", "g", "b", "a"]
                } else {
                    &["x", "y", "z"]
                };
                d.str_n(kOfxParamPropDimensionLabel, &labels[..n]);
            }
            if ty == ParamType::Double2D {
                d.int1(kOfxParamPropHasHostOverlayHandle, 0)
                    .int1(kOfxParamPropUseHostOverlayHandle, 0);
            }
        }
        Storage::Str => {
            d.str1(kOfxParamPropDefault, "");
        }
        Storage::Nothing => {}
    }
    match ty {
        ParamType::Choice => {
            d.str_var(kOfxParamPropChoiceOption, &[])
                .int_var(kOfxParamPropChoiceOrder, &[]);
        }
        ParamType::StrChoice => {
            d.str_var(kOfxParamPropChoiceOption, &[])
                .str_var(kOfxParamPropChoiceEnum, &[])
                .int_var(kOfxParamPropChoiceOrder, &[]);
        }
        ParamType::String => {
            d.str1(kOfxParamPropStringMode, "OfxParamStringIsSingleLine")
                .int1(kOfxParamPropStringFilePathExists, 1);
        }
        ParamType::Custom => {
            d.ptr1(kOfxParamPropCustomInterpCallbackV1);
        }
        _ => {}
    }
}

/// Adjusts a copy of a descriptor's properties into an instance's.
pub fn param_instance(set: &PropertySet) {
    set.host_set_strs(kOfxPropType, &["OfxTypeParameterInstance"]);
    for name in [
        kOfxPropType,
        kOfxPropName,
        kOfxParamPropType,
        kOfxParamPropScriptName,
        kOfxParamPropParent,
        kOfxParamPropIsAnimating,
        kOfxParamPropIsAutoKeying,
        kOfxParamPropAnimates,
        kOfxParamPropPersistant,
        kOfxParamPropStringMode,
    ] {
        set.set_access(name, Access::ReadOnly);
    }
}

/// An image from `clipGetImage`.
#[allow(clippy::too_many_arguments)]
pub fn image(
    set: &PropertySet,
    depth: &str,
    premult: &str,
    scale: [f64; 2],
    par: f64,
    data: usize,
    bounds: OfxRectI,
    rod: OfxRectI,
    row_bytes: i32,
    field: &str,
    unique_id: &str,
) {
    let rect = |r: OfxRectI| [r.x1, r.y1, r.x2, r.y2];
    let rgba = kOfxImageComponentRGBA.to_str().expect("ASCII");
    Def::new(set)
        .ro()
        .str1(kOfxPropType, "OfxTypeImage")
        .str1(kOfxImageEffectPropPixelDepth, depth)
        .str1(kOfxImageEffectPropComponents, rgba)
        .str1(kOfxImageEffectPropPreMultiplication, premult)
        .dbl_n(kOfxImageEffectPropRenderScale, &scale)
        .dbl1(kOfxImagePropPixelAspectRatio, par)
        .int_n(kOfxImagePropBounds, &rect(bounds))
        .int_n(kOfxImagePropRegionOfDefinition, &rect(rod))
        .int1(kOfxImagePropRowBytes, row_bytes)
        .str1(kOfxImagePropField, field)
        .str1(kOfxImagePropUniqueIdentifier, unique_id);
    set.define(
        kOfxImagePropData,
        Dim::Fixed(1),
        Access::ReadOnly,
        vec![PropValue::Ptr(data)],
    );
}

/// Starts an action's inArgs: read-only for the plug-in.
pub fn in_args(action: &CStr, diag: Arc<Diagnostics>) -> PropertySet {
    PropertySet::new(format!("{} inArgs", action.to_string_lossy()), false, diag)
}

/// Starts an action's outArgs: writable by the plug-in.
pub fn out_args(action: &CStr, diag: Arc<Diagnostics>) -> PropertySet {
    PropertySet::new(format!("{} outArgs", action.to_string_lossy()), false, diag)
}
