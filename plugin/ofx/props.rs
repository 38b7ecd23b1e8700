//! Property sets: typed get/set over the host's property suite.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use ofx_sys as sys;

use super::error::{OfxError, OfxResult, check};

/// A host property set (effect, clip, image, param, inArgs/outArgs, host).
#[derive(Clone, Copy)]
pub struct PropertySet {
    handle: sys::OfxPropertySetHandle,
    suite: &'static sys::OfxPropertySuiteV1,
}

// SAFETY: a property set handle is an opaque host token; OFX lets any thread of the current
// action use it, and we never outlive the action that gave it to us.
unsafe impl Send for PropertySet {}
unsafe impl Sync for PropertySet {}

macro_rules! suite_fn {
    ($self:ident, $name:ident) => {
        $self.suite.$name.ok_or_else(|| {
            OfxError::missing_feature(concat!(
                "the host's property suite lacks ",
                stringify!($name)
            ))
        })?
    };
}

fn text(s: &str) -> OfxResult<CString> {
    CString::new(s).map_err(|_| OfxError::failed(format!("text {s:?} contains a NUL character")))
}

impl PropertySet {
    /// Wraps a handle the host gave us for the current action.
    pub(crate) fn from_raw(
        handle: sys::OfxPropertySetHandle,
        suite: &'static sys::OfxPropertySuiteV1,
    ) -> Self {
        Self { handle, suite }
    }

    /// Wraps a possibly-null handle (inArgs/outArgs may be null).
    pub(crate) fn from_raw_opt(
        handle: sys::OfxPropertySetHandle,
        suite: &'static sys::OfxPropertySuiteV1,
    ) -> Option<Self> {
        (!handle.is_null()).then_some(Self { handle, suite })
    }

    pub(crate) fn raw(&self) -> sys::OfxPropertySetHandle {
        self.handle
    }

    pub fn get_string(&self, name: &CStr, index: usize) -> OfxResult<String> {
        let f = suite_fn!(self, propGetString);
        let mut out: *mut c_char = std::ptr::null_mut();
        // SAFETY: live handle, NUL-terminated name, out-pointer to a local.
        check("propGetString", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, &mut out)
        })?;
        if out.is_null() {
            return Ok(String::new());
        }
        // SAFETY: the host returns a NUL-terminated string it owns; we copy it at once.
        Ok(unsafe { CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned())
    }

    pub fn get_int(&self, name: &CStr, index: usize) -> OfxResult<i32> {
        let f = suite_fn!(self, propGetInt);
        let mut out: c_int = 0;
        // SAFETY: as in get_string.
        check("propGetInt", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, &mut out)
        })?;
        Ok(out)
    }

    pub fn get_double(&self, name: &CStr, index: usize) -> OfxResult<f64> {
        let f = suite_fn!(self, propGetDouble);
        let mut out = 0.0f64;
        // SAFETY: as in get_string.
        check("propGetDouble", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, &mut out)
        })?;
        Ok(out)
    }

    pub fn get_pointer(&self, name: &CStr, index: usize) -> OfxResult<*mut c_void> {
        let f = suite_fn!(self, propGetPointer);
        let mut out: *mut c_void = std::ptr::null_mut();
        // SAFETY: as in get_string.
        check("propGetPointer", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, &mut out)
        })?;
        Ok(out)
    }

    /// `n` doubles (e.g. a rectangle or a render scale).
    pub fn get_doubles<const N: usize>(&self, name: &CStr) -> OfxResult<[f64; N]> {
        let mut out = [0.0; N];
        for (i, v) in out.iter_mut().enumerate() {
            *v = self.get_double(name, i)?;
        }
        Ok(out)
    }

    /// `n` ints (e.g. pixel bounds).
    pub fn get_ints<const N: usize>(&self, name: &CStr) -> OfxResult<[i32; N]> {
        let mut out = [0; N];
        for (i, v) in out.iter_mut().enumerate() {
            *v = self.get_int(name, i)?;
        }
        Ok(out)
    }

    pub fn dimension(&self, name: &CStr) -> OfxResult<usize> {
        let f = suite_fn!(self, propGetDimension);
        let mut out: c_int = 0;
        // SAFETY: as in get_string.
        check("propGetDimension", unsafe {
            f(self.handle, name.as_ptr(), &mut out)
        })?;
        Ok(out.max(0) as usize)
    }

    /// Every string value of a multi-dimensional string property.
    pub fn get_strings(&self, name: &CStr) -> OfxResult<Vec<String>> {
        (0..self.dimension(name)?)
            .map(|i| self.get_string(name, i))
            .collect()
    }

    pub fn set_string(&self, name: &CStr, index: usize, value: &str) -> OfxResult<()> {
        let f = suite_fn!(self, propSetString);
        let v = text(value)?;
        // SAFETY: live handle; the host copies the string during the call.
        check("propSetString", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, v.as_ptr())
        })
    }

    pub fn set_int(&self, name: &CStr, index: usize, value: i32) -> OfxResult<()> {
        let f = suite_fn!(self, propSetInt);
        // SAFETY: live handle.
        check("propSetInt", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, value)
        })
    }

    pub fn set_double(&self, name: &CStr, index: usize, value: f64) -> OfxResult<()> {
        let f = suite_fn!(self, propSetDouble);
        // SAFETY: live handle.
        check("propSetDouble", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, value)
        })
    }

    pub(crate) fn set_pointer(
        &self,
        name: &CStr,
        index: usize,
        value: *mut c_void,
    ) -> OfxResult<()> {
        let f = suite_fn!(self, propSetPointer);
        // SAFETY: live handle; the host stores the pointer value only.
        check("propSetPointer", unsafe {
            f(self.handle, name.as_ptr(), index as c_int, value)
        })
    }

    /// Sets a list of strings at indices 0..n.
    pub fn set_strings(&self, name: &CStr, values: &[&CStr]) -> OfxResult<()> {
        for (i, v) in values.iter().enumerate() {
            let f = suite_fn!(self, propSetString);
            // SAFETY: live handle, static NUL-terminated strings.
            check("propSetString", unsafe {
                f(self.handle, name.as_ptr(), i as c_int, v.as_ptr())
            })?;
        }
        Ok(())
    }

    /// Sets `values` as doubles at indices 0..n.
    pub fn set_doubles(&self, name: &CStr, values: &[f64]) -> OfxResult<()> {
        values
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| self.set_double(name, i, *v))
    }
}
