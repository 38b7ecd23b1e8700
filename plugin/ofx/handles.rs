//! Effect and clip handles.

use std::ffi::{CStr, c_void};
use std::sync::Arc;

use ofx_sys as sys;

use super::error::{OfxError, OfxResult, check};
use super::host::Host;
use super::image::Image;
use super::params::ParamSet;
use super::props::PropertySet;

/// An image effect handle (descriptor or instance) of the current action.
#[derive(Clone)]
pub struct EffectHandle {
    handle: sys::OfxImageEffectHandle,
    host: Arc<Host>,
}

// SAFETY: an opaque host token, valid from any thread while the effect exists.
unsafe impl Send for EffectHandle {}
unsafe impl Sync for EffectHandle {}

impl EffectHandle {
    /// Wraps the handle an action received; `None` for null.
    pub(crate) fn from_raw(handle: *const c_void, host: Arc<Host>) -> Option<Self> {
        (!handle.is_null()).then_some(Self {
            handle: handle as sys::OfxImageEffectHandle,
            host,
        })
    }

    pub(crate) fn raw(&self) -> sys::OfxImageEffectHandle {
        self.handle
    }

    /// The host this effect lives in.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The effect's property set.
    pub fn properties(&self) -> OfxResult<PropertySet> {
        let f = self
            .host
            .effect
            .getPropertySet
            .ok_or_else(|| OfxError::missing_feature("getPropertySet"))?;
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: live effect handle, out-pointer to a local.
        check("getPropertySet", unsafe { f(self.handle, &mut p) })?;
        PropertySet::from_raw_opt(p, self.host.prop)
            .ok_or_else(|| OfxError::failed("the host gave no effect properties"))
    }

    /// The effect's parameter set.
    pub fn params(&self) -> OfxResult<ParamSet> {
        let f = self
            .host
            .effect
            .getParamSet
            .ok_or_else(|| OfxError::missing_feature("getParamSet"))?;
        let mut p: sys::OfxParamSetHandle = std::ptr::null_mut();
        // SAFETY: as above.
        check("getParamSet", unsafe { f(self.handle, &mut p) })?;
        if p.is_null() {
            return Err(OfxError::failed("the host gave no parameter set"));
        }
        Ok(ParamSet::from_raw(p, self.host.param, self.host.prop))
    }

    /// Defines a clip (Describe in context) and returns its descriptor properties.
    pub fn define_clip(&self, name: &CStr) -> OfxResult<PropertySet> {
        let f = self
            .host
            .effect
            .clipDefine
            .ok_or_else(|| OfxError::missing_feature("clipDefine"))?;
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: live descriptor handle, NUL-terminated name, out-pointer to a local.
        check("clipDefine", unsafe {
            f(self.handle, name.as_ptr(), &mut p)
        })?;
        PropertySet::from_raw_opt(p, self.host.prop)
            .ok_or_else(|| OfxError::failed("the host gave no clip properties"))
    }

    /// The instance's clip called `name`.
    pub fn clip(&self, name: &CStr) -> OfxResult<Clip> {
        let f = self
            .host
            .effect
            .clipGetHandle
            .ok_or_else(|| OfxError::missing_feature("clipGetHandle"))?;
        let mut clip: sys::OfxImageClipHandle = std::ptr::null_mut();
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: as above.
        check("clipGetHandle", unsafe {
            f(self.handle, name.as_ptr(), &mut clip, &mut p)
        })?;
        let props = PropertySet::from_raw_opt(p, self.host.prop).ok_or_else(|| {
            OfxError::failed(format!("the host has no clip {}", name.to_string_lossy()))
        })?;
        if clip.is_null() {
            return Err(OfxError::failed(format!(
                "the host has no clip {}",
                name.to_string_lossy()
            )));
        }
        Ok(Clip {
            handle: clip,
            props,
            host: self.host.clone(),
        })
    }

    /// Whether the host wants the current render to stop.
    pub fn abort_requested(&self) -> bool {
        match self.host.effect.abort {
            // SAFETY: live instance handle.
            Some(f) => unsafe { f(self.handle) != 0 },
            None => false,
        }
    }

    /// Stores a pointer-sized value as the instance's private data.
    pub fn set_instance_data(&self, data: *mut c_void) -> OfxResult<()> {
        self.properties()?
            .set_pointer(sys::kOfxPropInstanceData, 0, data)
    }

    /// The instance's private data pointer (null if none).
    pub fn instance_data(&self) -> OfxResult<*mut c_void> {
        self.properties()?.get_pointer(sys::kOfxPropInstanceData, 0)
    }
}

/// A clip of an instance.
pub struct Clip {
    handle: sys::OfxImageClipHandle,
    props: PropertySet,
    host: Arc<Host>,
}

// SAFETY: opaque host token.
unsafe impl Send for Clip {}
unsafe impl Sync for Clip {}

impl Clip {
    pub fn properties(&self) -> &PropertySet {
        &self.props
    }

    /// The clip's region of definition at `time` in canonical coordinates: x1, y1, x2, y2.
    pub fn region_of_definition(&self, time: f64) -> OfxResult<[f64; 4]> {
        let f = self
            .host
            .effect
            .clipGetRegionOfDefinition
            .ok_or_else(|| OfxError::missing_feature("clipGetRegionOfDefinition"))?;
        let mut rect = sys::OfxRectD {
            x1: 0.0,
            y1: 0.0,
            x2: 0.0,
            y2: 0.0,
        };
        // SAFETY: live clip handle, out-pointer to a local.
        check("clipGetRegionOfDefinition", unsafe {
            f(self.handle, time, &mut rect)
        })?;
        Ok([rect.x1, rect.y1, rect.x2, rect.y2])
    }

    /// Fetches the clip's image at `time` (the output image when this is the output clip).
    pub fn image(&self, time: f64) -> OfxResult<Image> {
        let f = self
            .host
            .effect
            .clipGetImage
            .ok_or_else(|| OfxError::missing_feature("clipGetImage"))?;
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: live clip handle; a null region asks for the whole image.
        check("clipGetImage", unsafe {
            f(self.handle, time, std::ptr::null(), &mut p)
        })?;
        let props = PropertySet::from_raw_opt(p, self.host.prop)
            .ok_or_else(|| OfxError::failed("the host returned no image"))?;
        let release = self.host.effect.clipReleaseImage;
        Image::new(props, release)
    }
}
