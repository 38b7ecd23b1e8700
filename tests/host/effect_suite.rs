//! The image effect suite, version 1: effect and clip access, images, abort, image memory.
//!
//! Output images exist only during a render action: `Instance::render` registers a
//! [`RenderTarget`] for its thread and time, and `clipGetImage` on the Output clip wraps that
//! target's buffer in a fresh image property set. Input clips give a fresh copy of the frame
//! of their connected [source](super::source) at the asked time (also outside renders, as in
//! an analysis run from InstanceChanged); during a render, a time other than the one rendered
//! needs temporal clip access (the host's and the plug-in's), else it is a violation and
//! `kOfxStatFailed`. Unconnected clips and times outside the source give `kOfxStatFailed`.
//! Every image fetched in a render must be released before the action returns (the render
//! checks that); others before the instance is destroyed.
//!
//! [`RenderTarget`]: super::effect::RenderTarget

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ofx_sys::*;

use super::effect::{Clip, EffectKind};
use super::ffi::{OK, cstr, guard, guard_value, lock, write_out};
use super::image::{BitDepth, ImageMemory, LiveImage, next_image_id};
use super::props::{Access, PropertySet};
use super::registry::{self, Object};
use super::source::InputFetch;
use super::{multithread, prop_schema};

/// The suite handed out by `fetchSuite("OfxImageEffectSuite", 1)`.
pub static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: Some(get_property_set),
    getParamSet: Some(get_param_set),
    clipDefine: Some(clip_define),
    clipGetHandle: Some(clip_get_handle),
    clipGetPropertySet: Some(clip_get_property_set),
    clipGetImage: Some(clip_get_image),
    clipReleaseImage: Some(clip_release_image),
    clipGetRegionOfDefinition: Some(clip_get_region_of_definition),
    abort: Some(abort),
    imageMemoryAlloc: Some(image_memory_alloc),
    imageMemoryFree: Some(image_memory_free),
    imageMemoryLock: Some(image_memory_lock),
    imageMemoryUnlock: Some(image_memory_unlock),
};

fn props_handle(props: &Arc<PropertySet>) -> OfxPropertySetHandle {
    Arc::as_ptr(props).cast_mut().cast()
}

unsafe extern "C" fn get_property_set(
    effect: OfxImageEffectHandle,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("getPropertySet", || {
        let effect = registry::effect(effect as usize)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(out, props_handle(&effect.props)) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn get_param_set(
    effect: OfxImageEffectHandle,
    out: *mut OfxParamSetHandle,
) -> OfxStatus {
    guard("getParamSet", || {
        let effect = registry::effect(effect as usize)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(out, Arc::as_ptr(&effect.params).cast_mut().cast()) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn clip_define(
    effect: OfxImageEffectHandle,
    name: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("clipDefine", || {
        let effect = registry::effect(effect as usize)?;
        // SAFETY: NUL-terminated string per the suite.
        let name = unsafe { cstr(name) }?.to_string_lossy().into_owned();
        if !matches!(effect.kind, EffectKind::ContextDescriptor(_)) {
            effect.host.diag.violation(format!(
                "clipDefine({name}) outside DescribeInContext ({:?})",
                effect.kind
            ));
            return Err(kOfxStatErrBadHandle);
        }
        if effect.clip(&name).is_some() {
            return Err(kOfxStatErrExists);
        }
        let props = Arc::new(PropertySet::new(
            format!("clip descriptor {name}"),
            effect.host.config.lenient_properties,
            effect.host.diag.clone(),
        ));
        prop_schema::clip_descriptor(&props, &name);
        let clip = Arc::new(Clip::new(
            name,
            props.clone(),
            false,
            effect.runtime.clone(),
        ));
        effect.add_clip(clip);
        if !out.is_null() {
            // SAFETY: non-NULL and writable per the suite.
            unsafe { out.write(props_handle(&props)) };
        }
        Ok(OK)
    })
}

unsafe extern "C" fn clip_get_handle(
    effect: OfxImageEffectHandle,
    name: *const c_char,
    clip: *mut OfxImageClipHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("clipGetHandle", || {
        let effect = registry::effect(effect as usize)?;
        // SAFETY: NUL-terminated string per the suite.
        let name = unsafe { cstr(name) }?.to_string_lossy().into_owned();
        let found = effect.clip(&name).ok_or(kOfxStatErrUnknown)?;
        // SAFETY: writable per the suite (props may be NULL).
        unsafe {
            write_out(clip, Arc::as_ptr(&found).cast_mut().cast())?;
            if !props.is_null() {
                props.write(props_handle(&found.props));
            }
        }
        Ok(OK)
    })
}

unsafe extern "C" fn clip_get_property_set(
    clip: OfxImageClipHandle,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("clipGetPropertySet", || {
        let clip = registry::clip(clip as usize)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(out, props_handle(&clip.props)) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn clip_get_image(
    clip: OfxImageClipHandle,
    time: OfxTime,
    _region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("clipGetImage", || {
        let clip = registry::clip(clip as usize)?;
        let runtime = &clip.runtime;
        let diag = &runtime.host.diag;
        if out.is_null() {
            return Err(kOfxStatErrBadHandle);
        }
        // SAFETY: non-NULL and writable per the suite; NULL unless an image is given.
        unsafe { out.write(std::ptr::null_mut()) };
        if !clip.is_instance {
            diag.violation(format!("clipGetImage on descriptor clip {}", clip.name));
            return Err(kOfxStatErrBadHandle);
        }
        if !clip.connected() {
            return Err(kOfxStatFailed);
        }
        let image = if clip.is_output() {
            output_image(&clip, time)?
        } else {
            input_image(&clip, time)?
        };
        let handle = registry::register(Object::Image(image.clone()));
        lock(&runtime.open_images).push((handle, image.render_id));
        // SAFETY: non-NULL (checked) and writable per the suite.
        unsafe { out.write(handle as OfxPropertySetHandle) };
        Ok(OK)
    })
}

/// The Output image of the render of `time` in flight.
fn output_image(clip: &Arc<Clip>, time: f64) -> Result<Arc<LiveImage>, OfxStatus> {
    let runtime = &clip.runtime;
    let diag = &runtime.host.diag;
    let me = multithread::action_thread();
    let targets = lock(&runtime.targets);
    let target = targets
        .iter()
        .find(|t| t.thread == me && t.time == time)
        .or_else(|| targets.iter().find(|t| t.time == time));
    let Some(target) = target else {
        diag.violation(format!(
            "clipGetImage(Output, {time}) with no render of that time in flight"
        ));
        return Err(kOfxStatFailed);
    };
    let props = Arc::new(PropertySet::new("image", false, diag.clone()));
    let buffer = target.buffer.clone();
    buffer.note_fetch();
    let unique = format!("{}:{time}:{}", clip.name, next_image_id());
    prop_schema::image(
        &props,
        buffer.depth.as_cstr().to_str().expect("ASCII"),
        &clip
            .props
            .str(kOfxImageEffectPropPreMultiplication)
            .unwrap_or_default(),
        target.render_scale,
        clip.props
            .double(kOfxImagePropPixelAspectRatio)
            .unwrap_or(1.0),
        buffer.data_ptr() as usize,
        buffer.bounds,
        target.rod_pixels,
        buffer.row_bytes(),
        target.field.to_str().expect("ASCII"),
        &unique,
    );
    props.set_access(kOfxImagePropData, Access::ReadOnly);
    Ok(Arc::new(LiveImage {
        props,
        buffer,
        render_id: target.id,
        runtime: runtime.clone(),
    }))
}

/// Why an input image at `time` may not be fetched during the render of `render_time`, if it
/// may not: temporal access needs the host's support and the plug-in's declaration (on the
/// effect or on this clip).
fn temporal_refusal(clip: &Clip, time: f64, render_time: f64) -> Option<String> {
    if (time - render_time).abs() <= TIME_TOLERANCE {
        return None;
    }
    let host = clip.runtime.host.config.temporal_clip_access;
    let declared = clip.runtime.temporal_declared() || clip.declares_temporal_access();
    let why = match (host, declared) {
        (true, true) => return None,
        (false, _) => "this host does not support temporal clip access",
        (true, false) => {
            "the plug-in did not set kOfxImageEffectPropTemporalClipAccess on the effect or \
             the clip"
        }
    };
    Some(format!(
        "clipGetImage({}, {time}) during the render of time {render_time}: {why}",
        clip.name
    ))
}

/// Times closer than this are the same frame.
const TIME_TOLERANCE: f64 = 1e-6;

/// A fresh copy of the connected source's frame at `time`, at the clip's depth and the
/// render's scale.
fn input_image(clip: &Arc<Clip>, time: f64) -> Result<Arc<LiveImage>, OfxStatus> {
    let runtime = &clip.runtime;
    let host = &runtime.host;
    let diag = &host.diag;
    let connection = clip.connection().ok_or(kOfxStatFailed)?;
    let render = runtime.current_render();
    if let Some((_, render_time, _)) = render
        && let Some(refusal) = temporal_refusal(clip, time, render_time)
    {
        diag.violation(refusal);
        return Err(kOfxStatFailed);
    }
    let index = connection.frame_index(time).ok_or(kOfxStatFailed)?;
    let depth_name = clip
        .props
        .str(kOfxImageEffectPropPixelDepth)
        .unwrap_or_default();
    let depth = BitDepth::from_name(&depth_name).unwrap_or_else(|| {
        diag.violation(format!(
            "clip {} has depth {depth_name:?}, which this host cannot give",
            clip.name
        ));
        connection.depth
    });
    let scale = render.map_or([1.0, 1.0], |r| r.2);
    let (buffer, unique) = connection.image(
        &clip.name,
        index,
        depth,
        scale[0],
        host.config.negative_row_bytes,
        host.config.row_padding,
    );
    let buffer = Arc::new(buffer);
    buffer.note_fetch();
    let props = Arc::new(PropertySet::new("image", false, diag.clone()));
    prop_schema::image(
        &props,
        depth.as_cstr().to_str().expect("ASCII"),
        &clip
            .props
            .str(kOfxImageEffectPropPreMultiplication)
            .unwrap_or_default(),
        scale,
        clip.props
            .double(kOfxImagePropPixelAspectRatio)
            .unwrap_or(1.0),
        buffer.data_ptr() as usize,
        buffer.bounds,
        buffer.bounds,
        buffer.row_bytes(),
        kOfxImageFieldNone.to_str().expect("ASCII"),
        &unique,
    );
    let render_id = render.map_or(0, |r| r.0);
    lock(&runtime.input_fetches).push(InputFetch {
        clip: clip.name.clone(),
        time,
        frame: index,
        render_time: render.map(|r| r.1),
        render_id,
        unique_id: unique,
    });
    Ok(Arc::new(LiveImage {
        props,
        buffer,
        render_id,
        runtime: runtime.clone(),
    }))
}

unsafe extern "C" fn clip_release_image(image: OfxPropertySetHandle) -> OfxStatus {
    guard("clipReleaseImage", || {
        let address = image as usize;
        let image = registry::image(address)?;
        registry::retire(address);
        lock(&image.runtime.open_images).retain(|(h, _)| *h != address);
        Ok(OK)
    })
}

unsafe extern "C" fn clip_get_region_of_definition(
    clip: OfxImageClipHandle,
    time: OfxTime,
    bounds: *mut OfxRectD,
) -> OfxStatus {
    guard("clipGetRegionOfDefinition", || {
        let clip = registry::clip(clip as usize)?;
        if !clip.is_instance || !clip.connected() {
            return Err(kOfxStatFailed);
        }
        if let Some(connection) = clip.connection() {
            // SAFETY: writable per the suite.
            unsafe { write_out(bounds, connection.region_of_definition(time)) }?;
            return Ok(OK);
        }
        let p = &clip.runtime.host.config.project;
        let rod = lock(&clip.runtime.rod).unwrap_or(OfxRectD {
            x1: 0.0,
            y1: 0.0,
            x2: p.width,
            y2: p.height,
        });
        // SAFETY: writable per the suite.
        unsafe { write_out(bounds, rod) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn abort(effect: OfxImageEffectHandle) -> c_int {
    guard_value("abort", 0, || match registry::effect(effect as usize) {
        Ok(effect) => c_int::from(effect.runtime.should_abort()),
        Err(_) => 0,
    })
}

unsafe extern "C" fn image_memory_alloc(
    _effect: OfxImageEffectHandle,
    bytes: usize,
    out: *mut OfxImageMemoryHandle,
) -> OfxStatus {
    guard("imageMemoryAlloc", || {
        if out.is_null() {
            return Err(kOfxStatErrBadHandle);
        }
        let memory = Arc::new(ImageMemory::new(bytes).ok_or(kOfxStatErrMemory)?);
        let handle = registry::register(Object::ImageMemory(memory));
        // SAFETY: non-NULL and writable per the suite.
        unsafe { out.write(handle as OfxImageMemoryHandle) };
        Ok(OK)
    })
}

unsafe extern "C" fn image_memory_free(memory: OfxImageMemoryHandle) -> OfxStatus {
    guard("imageMemoryFree", || {
        let m = registry::image_memory(memory as usize)?;
        m.release();
        registry::retire(memory as usize);
        Ok(OK)
    })
}

unsafe extern "C" fn image_memory_lock(
    memory: OfxImageMemoryHandle,
    out: *mut *mut c_void,
) -> OfxStatus {
    guard("imageMemoryLock", || {
        let m = registry::image_memory(memory as usize)?;
        let ptr = m.ptr().ok_or(kOfxStatErrBadHandle)?;
        m.locks.fetch_add(1, Ordering::SeqCst);
        // SAFETY: writable per the suite.
        unsafe { write_out(out, ptr.cast()) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn image_memory_unlock(memory: OfxImageMemoryHandle) -> OfxStatus {
    guard("imageMemoryUnlock", || {
        let m = registry::image_memory(memory as usize)?;
        if m.locks.fetch_sub(1, Ordering::SeqCst) <= 0 {
            m.locks.fetch_add(1, Ordering::SeqCst);
            return Err(kOfxStatErrBadHandle);
        }
        Ok(OK)
    })
}
