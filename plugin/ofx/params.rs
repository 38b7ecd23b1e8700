//! Parameters: defining them on descriptors, reading and writing them on instances.

use std::ffi::{CStr, CString, c_char, c_int};

use ofx_sys as sys;

use super::error::{OfxError, OfxResult, check};
use super::props::PropertySet;

/// Parameter types the plugin uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Double,
    Boolean,
    Choice,
    PushButton,
    Page,
    Group,
}

impl ParamType {
    fn raw(self) -> &'static CStr {
        match self {
            Self::String => sys::kOfxParamTypeString,
            Self::Integer => sys::kOfxParamTypeInteger,
            Self::Double => sys::kOfxParamTypeDouble,
            Self::Boolean => sys::kOfxParamTypeBoolean,
            Self::Choice => sys::kOfxParamTypeChoice,
            Self::PushButton => sys::kOfxParamTypePushButton,
            Self::Page => sys::kOfxParamTypePage,
            Self::Group => sys::kOfxParamTypeGroup,
        }
    }
}

/// A parameter set (of a descriptor or of an instance).
#[derive(Clone, Copy)]
pub struct ParamSet {
    handle: sys::OfxParamSetHandle,
    suite: &'static sys::OfxParameterSuiteV1,
    props: &'static sys::OfxPropertySuiteV1,
}

// SAFETY: opaque host handles usable from any thread of the current action.
unsafe impl Send for ParamSet {}
unsafe impl Sync for ParamSet {}

/// One parameter of an instance.
#[derive(Clone, Copy)]
pub struct Param {
    handle: sys::OfxParamHandle,
    suite: &'static sys::OfxParameterSuiteV1,
    props: PropertySet,
}

// SAFETY: as for ParamSet.
unsafe impl Send for Param {}
unsafe impl Sync for Param {}

fn cname(name: &str) -> OfxResult<CString> {
    CString::new(name)
        .map_err(|_| OfxError::failed(format!("parameter name {name:?} contains NUL")))
}

impl ParamSet {
    pub(crate) fn from_raw(
        handle: sys::OfxParamSetHandle,
        suite: &'static sys::OfxParameterSuiteV1,
        props: &'static sys::OfxPropertySuiteV1,
    ) -> Self {
        Self {
            handle,
            suite,
            props,
        }
    }

    /// Defines a parameter (Describe in context) and returns its property set.
    pub fn define(&self, kind: ParamType, name: &str) -> OfxResult<PropertySet> {
        let f = self.suite.paramDefine.ok_or_else(|| {
            OfxError::missing_feature("the host's parameter suite lacks paramDefine")
        })?;
        let n = cname(name)?;
        let mut props: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: live param set handle, NUL-terminated type and name, out-pointer to a local.
        check(&format!("paramDefine({name})"), unsafe {
            f(self.handle, kind.raw().as_ptr(), n.as_ptr(), &mut props)
        })?;
        if props.is_null() {
            return Err(OfxError::failed(format!(
                "the host gave no properties for parameter {name}"
            )));
        }
        Ok(PropertySet::from_raw(props, self.props))
    }

    /// The instance parameter called `name`.
    pub fn get(&self, name: &str) -> OfxResult<Param> {
        let f = self.suite.paramGetHandle.ok_or_else(|| {
            OfxError::missing_feature("the host's parameter suite lacks paramGetHandle")
        })?;
        let n = cname(name)?;
        let mut handle: sys::OfxParamHandle = std::ptr::null_mut();
        let mut props: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: as in define.
        check(&format!("paramGetHandle({name})"), unsafe {
            f(self.handle, n.as_ptr(), &mut handle, &mut props)
        })?;
        if handle.is_null() || props.is_null() {
            return Err(OfxError::failed(format!(
                "the host has no parameter {name}"
            )));
        }
        Ok(Param {
            handle,
            suite: self.suite,
            props: PropertySet::from_raw(props, self.props),
        })
    }
}

macro_rules! param_fn {
    ($self:ident, $name:ident) => {
        $self.suite.$name.ok_or_else(|| {
            OfxError::missing_feature(concat!(
                "the host's parameter suite lacks ",
                stringify!($name)
            ))
        })?
    };
}

impl Param {
    /// The parameter's properties (label, enabled, ...).
    pub fn properties(&self) -> &PropertySet {
        &self.props
    }

    /// An integer, boolean or choice value at `time`.
    pub fn get_int(&self, time: f64) -> OfxResult<i32> {
        let f = param_fn!(self, paramGetValueAtTime);
        let mut v: c_int = 0;
        // SAFETY: int-like params take one `int*` after the time (OFX variadic convention).
        check("paramGetValueAtTime", unsafe {
            f(self.handle, time, &mut v as *mut c_int)
        })?;
        Ok(v)
    }

    /// A double value at `time`.
    pub fn get_double(&self, time: f64) -> OfxResult<f64> {
        let f = param_fn!(self, paramGetValueAtTime);
        let mut v = 0.0f64;
        // SAFETY: double params take one `double*` after the time.
        check("paramGetValueAtTime", unsafe {
            f(self.handle, time, &mut v as *mut f64)
        })?;
        Ok(v)
    }

    /// A string value at `time` (strings do not animate here, but the call is the same).
    pub fn get_string(&self, time: f64) -> OfxResult<String> {
        let f = param_fn!(self, paramGetValueAtTime);
        let mut v: *const c_char = std::ptr::null();
        // SAFETY: string params take one `const char**`; the host keeps the string alive until
        // the next call, and we copy it at once.
        check("paramGetValueAtTime", unsafe {
            f(self.handle, time, &mut v as *mut *const c_char)
        })?;
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: a NUL-terminated host string.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }

    /// Sets an integer, boolean or choice value (not allowed during render).
    pub fn set_int(&self, v: i32) -> OfxResult<()> {
        let f = param_fn!(self, paramSetValue);
        // SAFETY: int-like params take one `int` value.
        check("paramSetValue", unsafe { f(self.handle, v as c_int) })
    }

    /// Sets a string value (not allowed during render).
    pub fn set_string(&self, v: &str) -> OfxResult<()> {
        let f = param_fn!(self, paramSetValue);
        let c = CString::new(v.replace('\0', " ")).unwrap_or_default();
        // SAFETY: string params take one `const char*`, copied by the host.
        check("paramSetValue", unsafe { f(self.handle, c.as_ptr()) })
    }
}
