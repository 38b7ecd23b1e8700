//! The property suite, version 1: all eighteen functions over [`PropertySet`].
//!
//! Errors: unknown handle or NULL argument `kOfxStatErrBadHandle`; unknown property
//! `kOfxStatErrUnknown`; index or count out of range `kOfxStatErrBadIndex`; wrong type or a
//! write to a read-only property `kOfxStatErrValue` (also recorded as a violation).
//!
//! [`PropertySet`]: super::props::PropertySet

use std::ffi::{CString, c_char, c_int, c_void};

use ofx_sys::*;

use super::ffi::{OK, Reply, cstr, guard, write_out};
use super::props::{PropType, PropValue, RawValue};
use super::registry;

/// The suite handed out by `fetchSuite("OfxPropertySuite", 1)`.
pub static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
    propSetPointer: Some(prop_set_pointer),
    propSetString: Some(prop_set_string),
    propSetDouble: Some(prop_set_double),
    propSetInt: Some(prop_set_int),
    propSetPointerN: Some(prop_set_pointer_n),
    propSetStringN: Some(prop_set_string_n),
    propSetDoubleN: Some(prop_set_double_n),
    propSetIntN: Some(prop_set_int_n),
    propGetPointer: Some(prop_get_pointer),
    propGetString: Some(prop_get_string),
    propGetDouble: Some(prop_get_double),
    propGetInt: Some(prop_get_int),
    propGetPointerN: Some(prop_get_pointer_n),
    propGetStringN: Some(prop_get_string_n),
    propGetDoubleN: Some(prop_get_double_n),
    propGetIntN: Some(prop_get_int_n),
    propReset: Some(prop_reset),
    propGetDimension: Some(prop_get_dimension),
};

/// Shared body of the single-value setters.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
unsafe fn set_one(
    handle: OfxPropertySetHandle,
    name: *const c_char,
    index: c_int,
    value: impl FnOnce() -> Result<PropValue, OfxStatus>,
) -> Reply {
    let set = registry::props(handle as usize)?;
    // SAFETY: forwarded contract.
    let name = unsafe { cstr(name) }?;
    set.plugin_set(name, index, value()?)?;
    Ok(OK)
}

/// Shared body of the N setters: reads `count` values with `read(i)`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
unsafe fn set_n(
    handle: OfxPropertySetHandle,
    name: *const c_char,
    count: c_int,
    ty: PropType,
    read: impl Fn(usize) -> Result<PropValue, OfxStatus>,
) -> Reply {
    let set = registry::props(handle as usize)?;
    // SAFETY: forwarded contract.
    let name = unsafe { cstr(name) }?;
    let count = usize::try_from(count).map_err(|_| kOfxStatErrBadIndex)?;
    let values = (0..count).map(read).collect::<Result<Vec<_>, _>>()?;
    set.plugin_set_n(name, ty, values)?;
    Ok(OK)
}

/// Reads a C string value into a property value.
///
/// # Safety
/// `value` must be NULL or a NUL-terminated string.
unsafe fn string_value(value: *const c_char) -> Result<PropValue, OfxStatus> {
    // SAFETY: forwarded contract.
    let s = unsafe { cstr(value) }?;
    Ok(PropValue::Str(CString::from(s)))
}

unsafe extern "C" fn prop_set_pointer(
    h: OfxPropertySetHandle,
    name: *const c_char,
    index: c_int,
    value: *mut c_void,
) -> OfxStatus {
    // SAFETY: arguments as the suite specifies.
    guard("propSetPointer", || unsafe {
        set_one(h, name, index, || Ok(PropValue::Ptr(value as usize)))
    })
}

unsafe extern "C" fn prop_set_string(
    h: OfxPropertySetHandle,
    name: *const c_char,
    index: c_int,
    value: *const c_char,
) -> OfxStatus {
    // SAFETY: arguments as the suite specifies.
    guard("propSetString", || unsafe {
        set_one(h, name, index, || string_value(value))
    })
}

unsafe extern "C" fn prop_set_double(
    h: OfxPropertySetHandle,
    name: *const c_char,
    index: c_int,
    value: f64,
) -> OfxStatus {
    // SAFETY: arguments as the suite specifies.
    guard("propSetDouble", || unsafe {
        set_one(h, name, index, || Ok(PropValue::Double(value)))
    })
}

unsafe extern "C" fn prop_set_int(
    h: OfxPropertySetHandle,
    name: *const c_char,
    index: c_int,
    value: c_int,
) -> OfxStatus {
    // SAFETY: arguments as the suite specifies.
    guard("propSetInt", || unsafe {
        set_one(h, name, index, || Ok(PropValue::Int(value)))
    })
}

/// Checks an array argument of an N function.
fn array<T>(ptr: *const T, count: c_int) -> Result<(), OfxStatus> {
    if ptr.is_null() && count > 0 {
        return Err(kOfxStatErrBadHandle);
    }
    Ok(())
}

unsafe extern "C" fn prop_set_pointer_n(
    h: OfxPropertySetHandle,
    name: *const c_char,
    count: c_int,
    values: *const *mut c_void,
) -> OfxStatus {
    guard("propSetPointerN", || {
        array(values, count)?;
        // SAFETY: `values` holds `count` pointers (checked non-NULL above).
        unsafe {
            set_n(h, name, count, PropType::Ptr, |i| {
                Ok(PropValue::Ptr(values.add(i).read() as usize))
            })
        }
    })
}

unsafe extern "C" fn prop_set_string_n(
    h: OfxPropertySetHandle,
    name: *const c_char,
    count: c_int,
    values: *const *const c_char,
) -> OfxStatus {
    guard("propSetStringN", || {
        array(values, count)?;
        // SAFETY: `values` holds `count` string pointers.
        unsafe {
            set_n(h, name, count, PropType::Str, |i| {
                string_value(values.add(i).read())
            })
        }
    })
}

unsafe extern "C" fn prop_set_double_n(
    h: OfxPropertySetHandle,
    name: *const c_char,
    count: c_int,
    values: *const f64,
) -> OfxStatus {
    guard("propSetDoubleN", || {
        array(values, count)?;
        // SAFETY: `values` holds `count` doubles.
        unsafe {
            set_n(h, name, count, PropType::Double, |i| {
                Ok(PropValue::Double(values.add(i).read()))
            })
        }
    })
}

unsafe extern "C" fn prop_set_int_n(
    h: OfxPropertySetHandle,
    name: *const c_char,
    count: c_int,
    values: *const c_int,
) -> OfxStatus {
    guard("propSetIntN", || {
        array(values, count)?;
        // SAFETY: `values` holds `count` ints.
        unsafe {
            set_n(h, name, count, PropType::Int, |i| {
                Ok(PropValue::Int(values.add(i).read()))
            })
        }
    })
}

/// Shared body of the getters: reads `count` values (or the one at `index` when `count` is
/// None) and stores each through `write(i, value)`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `write` must be sound for every index.
unsafe fn get(
    h: OfxPropertySetHandle,
    name: *const c_char,
    index_or_count: c_int,
    many: bool,
    ty: PropType,
    out_is_null: bool,
    write: impl Fn(usize, RawValue),
) -> Reply {
    let set = registry::props(h as usize)?;
    // SAFETY: forwarded contract.
    let name = unsafe { cstr(name) }?;
    if out_is_null {
        return Err(kOfxStatErrBadHandle);
    }
    if many {
        for (i, v) in set
            .plugin_get_n(name, index_or_count, ty)?
            .into_iter()
            .enumerate()
        {
            write(i, v);
        }
    } else {
        write(0, set.plugin_get(name, index_or_count, ty)?);
    }
    Ok(OK)
}

/// Declares a getter `$fn` storing values of type `$ptr_ty` taken from `RawValue::$variant`.
macro_rules! getter {
    ($fn:ident, $label:literal, $many:expr, $ty:expr, $out:ty, $variant:ident, $conv:expr) => {
        unsafe extern "C" fn $fn(
            h: OfxPropertySetHandle,
            name: *const c_char,
            index_or_count: c_int,
            out: *mut $out,
        ) -> OfxStatus {
            guard($label, || {
                // SAFETY: `out` is non-NULL (checked by `get`) and, per the suite, valid for
                // `count` (N getters) or one (single getters) writes.
                unsafe {
                    get(
                        h,
                        name,
                        index_or_count,
                        $many,
                        $ty,
                        out.is_null(),
                        |i, v| {
                            if let RawValue::$variant(x) = v {
                                out.add(i).write($conv(x));
                            }
                        },
                    )
                }
            })
        }
    };
}

getter!(
    prop_get_pointer,
    "propGetPointer",
    false,
    PropType::Ptr,
    *mut c_void,
    Ptr,
    |p| p as *mut c_void
);
getter!(
    prop_get_string,
    "propGetString",
    false,
    PropType::Str,
    *mut c_char,
    Str,
    |s: *const c_char| s.cast_mut()
);
getter!(
    prop_get_double,
    "propGetDouble",
    false,
    PropType::Double,
    f64,
    Double,
    |d| d
);
getter!(
    prop_get_int,
    "propGetInt",
    false,
    PropType::Int,
    c_int,
    Int,
    |i| i
);
getter!(
    prop_get_pointer_n,
    "propGetPointerN",
    true,
    PropType::Ptr,
    *mut c_void,
    Ptr,
    |p| p as *mut c_void
);
getter!(
    prop_get_string_n,
    "propGetStringN",
    true,
    PropType::Str,
    *mut c_char,
    Str,
    |s: *const c_char| s.cast_mut()
);
getter!(
    prop_get_double_n,
    "propGetDoubleN",
    true,
    PropType::Double,
    f64,
    Double,
    |d| d
);
getter!(
    prop_get_int_n,
    "propGetIntN",
    true,
    PropType::Int,
    c_int,
    Int,
    |i| i
);

unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, name: *const c_char) -> OfxStatus {
    guard("propReset", || {
        let set = registry::props(h as usize)?;
        // SAFETY: a NUL-terminated string per the suite.
        let name = unsafe { cstr(name) }?;
        set.plugin_reset(name)?;
        Ok(OK)
    })
}

unsafe extern "C" fn prop_get_dimension(
    h: OfxPropertySetHandle,
    name: *const c_char,
    count: *mut c_int,
) -> OfxStatus {
    guard("propGetDimension", || {
        let set = registry::props(h as usize)?;
        // SAFETY: a NUL-terminated string per the suite.
        let name = unsafe { cstr(name) }?;
        let n = set.plugin_dimension(name)?;
        // SAFETY: `count` is NULL or writable per the suite.
        unsafe { write_out(count, c_int::try_from(n).unwrap_or(c_int::MAX)) }?;
        Ok(OK)
    })
}
