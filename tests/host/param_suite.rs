//! The parameter suite, version 1.
//!
//! # Variadic functions
//! `paramGetValue`, `paramGetValueAtTime`, `paramGetDerivative`, `paramGetIntegral`,
//! `paramSetValue` and `paramSetValueAtTime` are C-variadic, and stable Rust cannot define a
//! variadic function. They are defined here with fixed arity instead and transmuted to the
//! suite's variadic pointer types. This is sound on the two targets this host supports because
//! there a variadic call passes its arguments exactly like a fixed-arity call:
//!
//! - x86-64 System V: integer and pointer arguments, named or variadic, go in rdi, rsi, rdx,
//!   rcx, r8, r9 in order; doubles go in xmm0..xmm7 in order, counted separately. (The caller
//!   also sets al to the number of vector registers used, which a fixed-arity callee ignores.)
//! - AArch64 Linux (AAPCS64; not Apple's variant): integers in x0..x7 and doubles in v0..v7,
//!   counted separately, variadic or not.
//!
//! So each function takes the handle, its named doubles (times), four integer-class slots and
//! (setters only) four double slots; every value any parameter type needs (at most four:
//! RGBA) arrives in registers. Slots the caller did not fill hold garbage, and are only read
//! as the parameter's type dictates: pointers for getters, ints (low 32 bits), C strings or
//! doubles for setters. A plug-in passing the wrong kind for a parameter's type breaks the
//! C contract exactly as it would on any host.

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::sync::Arc;

use ofx_sys::*;

use super::ffi::{OK, Reply, cstr, guard, lock, write_out};
use super::params::{Param, ParamType, Storage, Stored};
use super::props::PropertySet;
use super::registry;

type VaGet = unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus;
type VaAtTime = unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus;
type VaIntegral = unsafe extern "C" fn(OfxParamHandle, OfxTime, OfxTime, ...) -> OfxStatus;

type FixedGet = unsafe extern "C" fn(OfxParamHandle, usize, usize, usize, usize) -> OfxStatus;
type FixedGetAt =
    unsafe extern "C" fn(OfxParamHandle, f64, usize, usize, usize, usize) -> OfxStatus;
type FixedIntegral =
    unsafe extern "C" fn(OfxParamHandle, f64, f64, usize, usize, usize, usize) -> OfxStatus;
type FixedSet = unsafe extern "C" fn(
    OfxParamHandle,
    usize,
    usize,
    usize,
    usize,
    f64,
    f64,
    f64,
    f64,
) -> OfxStatus;
type FixedSetAt = unsafe extern "C" fn(
    OfxParamHandle,
    f64,
    usize,
    usize,
    usize,
    usize,
    f64,
    f64,
    f64,
    f64,
) -> OfxStatus;

/// The suite handed out by `fetchSuite("OfxParameterSuite", 1)`.
pub static PARAMETER_SUITE: OfxParameterSuiteV1 = OfxParameterSuiteV1 {
    paramDefine: Some(param_define),
    paramGetHandle: Some(param_get_handle),
    paramSetGetPropertySet: Some(param_set_get_property_set),
    paramGetPropertySet: Some(param_get_property_set),
    // SAFETY (this and the five transmutes below): see the module comment; the fixed-arity
    // functions read exactly the registers a variadic caller fills on the supported targets.
    paramGetValue: Some(unsafe { std::mem::transmute::<FixedGet, VaGet>(param_get_value) }),
    // SAFETY: as above.
    paramGetValueAtTime: Some(unsafe {
        std::mem::transmute::<FixedGetAt, VaAtTime>(param_get_value_at_time)
    }),
    // SAFETY: as above.
    paramGetDerivative: Some(unsafe {
        std::mem::transmute::<FixedGetAt, VaAtTime>(param_get_derivative)
    }),
    // SAFETY: as above.
    paramGetIntegral: Some(unsafe {
        std::mem::transmute::<FixedIntegral, VaIntegral>(param_get_integral)
    }),
    // SAFETY: as above.
    paramSetValue: Some(unsafe { std::mem::transmute::<FixedSet, VaGet>(param_set_value) }),
    // SAFETY: as above.
    paramSetValueAtTime: Some(unsafe {
        std::mem::transmute::<FixedSetAt, VaAtTime>(param_set_value_at_time)
    }),
    paramGetNumKeys: Some(param_get_num_keys),
    paramGetKeyTime: Some(param_get_key_time),
    paramGetKeyIndex: Some(param_get_key_index),
    paramDeleteKey: Some(param_delete_key),
    paramDeleteAllKeys: Some(param_delete_all_keys),
    paramCopy: Some(param_copy),
    paramEditBegin: Some(param_edit_begin),
    paramEditEnd: Some(param_edit_end),
};

/// Hands a property set out through an optional out pointer.
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn give_props(props: &Arc<PropertySet>, out: *mut OfxPropertySetHandle) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable per the caller.
        unsafe { out.write(Arc::as_ptr(props).cast_mut().cast()) };
    }
}

unsafe extern "C" fn param_define(
    set: OfxParamSetHandle,
    ty: *const c_char,
    name: *const c_char,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("paramDefine", || {
        let set = registry::param_set(set as usize)?;
        // SAFETY: NUL-terminated strings per the suite.
        let (ty_name, name) = unsafe { (cstr(ty)?, cstr(name)?) };
        if set.is_instance {
            set.diag.violation(format!(
                "paramDefine({name:?}) on an instance parameter set"
            ));
            return Err(kOfxStatErrBadHandle);
        }
        let Some(ty) = ParamType::from_cstr(ty_name) else {
            set.diag.violation(format!(
                "paramDefine({name:?}) with unknown type {ty_name:?}"
            ));
            return Err(kOfxStatErrUnknown);
        };
        let param = set.define(ty, name, false)?;
        // SAFETY: NULL or writable per the suite.
        unsafe { give_props(&param.props, props) };
        Ok(OK)
    })
}

unsafe extern "C" fn param_get_handle(
    set: OfxParamSetHandle,
    name: *const c_char,
    param: *mut OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("paramGetHandle", || {
        let set = registry::param_set(set as usize)?;
        // SAFETY: NUL-terminated string per the suite.
        let name = unsafe { cstr(name) }?;
        let found = set.get(&name.to_string_lossy()).ok_or(kOfxStatErrUnknown)?;
        // SAFETY: writable per the suite.
        unsafe {
            write_out(param, found.handle())?;
            give_props(&found.props, props);
        }
        Ok(OK)
    })
}

unsafe extern "C" fn param_set_get_property_set(
    set: OfxParamSetHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("paramSetGetPropertySet", || {
        let set = registry::param_set(set as usize)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(props, Arc::as_ptr(&set.effect_props).cast_mut().cast()) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn param_get_property_set(
    param: OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard("paramGetPropertySet", || {
        let param = registry::param(param as usize)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(props, Arc::as_ptr(&param.props).cast_mut().cast()) }?;
        Ok(OK)
    })
}

/// The instance parameter behind a value call (descriptors have no values).
fn value_param(handle: OfxParamHandle, call: &str) -> Result<Arc<Param>, OfxStatus> {
    let param = registry::param(handle as usize)?;
    if !param.is_instance {
        param
            .props
            .diag()
            .violation(format!("{call} on descriptor parameter {}", param.name));
        return Err(kOfxStatErrBadHandle);
    }
    if param.ty.storage() == Storage::Nothing {
        return Err(kOfxStatErrUnsupported);
    }
    Ok(param)
}

/// Writes a stored value through the getter's pointer slots.
///
/// # Safety
/// The slots must be valid pointers of the parameter type's C type, one per dimension.
unsafe fn write_value(value: &Stored, slots: [usize; 4]) -> Reply {
    if slots.iter().take(dimension(value)).any(|&p| p == 0) {
        return Err(kOfxStatErrBadHandle);
    }
    // SAFETY: per the function contract.
    unsafe {
        match value {
            Stored::Ints(v) => {
                for (x, &p) in v.iter().zip(&slots) {
                    (p as *mut c_int).write(*x);
                }
            }
            Stored::Doubles(v) => {
                for (x, &p) in v.iter().zip(&slots) {
                    (p as *mut f64).write(*x);
                }
            }
            Stored::Str(s) => (slots[0] as *mut *const c_char).write(s.as_ptr()),
            Stored::Nothing => return Err(kOfxStatErrUnsupported),
        }
    }
    Ok(OK)
}

/// The body of the value getters. Strings are handed out as pointers into the parameter's
/// own storage (not a copy), so they stay valid after the call.
///
/// # Safety
/// As [`write_value`].
unsafe fn get_at(param: &Param, time: f64, slots: [usize; 4]) -> Reply {
    let state = lock(&param.state);
    if let Some(ptr) = state.str_ptr_at(time) {
        if slots[0] == 0 {
            return Err(kOfxStatErrBadHandle);
        }
        // SAFETY: a `const char**` slot per the function contract.
        unsafe { (slots[0] as *mut *const c_char).write(ptr) };
        return Ok(OK);
    }
    // SAFETY: per the function contract.
    unsafe { write_value(&state.at(time), slots) }
}

fn dimension(value: &Stored) -> usize {
    match value {
        Stored::Ints(v) => v.len(),
        Stored::Doubles(v) => v.len(),
        Stored::Str(_) => 1,
        Stored::Nothing => 0,
    }
}

unsafe extern "C" fn param_get_value(
    h: OfxParamHandle,
    p0: usize,
    p1: usize,
    p2: usize,
    p3: usize,
) -> OfxStatus {
    guard("paramGetValue", || {
        let param = value_param(h, "paramGetValue")?;
        // NOTE: with keyframes, the "current" value is taken at the instance's time-line time.
        let time = param.runtime.as_ref().map_or(0.0, |r| *lock(&r.time));
        // SAFETY: the slots are the caller's out pointers (see the module comment).
        unsafe { get_at(&param, time, [p0, p1, p2, p3]) }
    })
}

unsafe extern "C" fn param_get_value_at_time(
    h: OfxParamHandle,
    time: f64,
    p0: usize,
    p1: usize,
    p2: usize,
    p3: usize,
) -> OfxStatus {
    guard("paramGetValueAtTime", || {
        let param = value_param(h, "paramGetValueAtTime")?;
        // SAFETY: the slots are the caller's out pointers (see the module comment).
        unsafe { get_at(&param, time, [p0, p1, p2, p3]) }
    })
}

/// Only double-valued types have derivatives and integrals.
fn double_param(h: OfxParamHandle, call: &str) -> Result<Arc<Param>, OfxStatus> {
    let param = value_param(h, call)?;
    match param.ty.storage() {
        Storage::Doubles(_) => Ok(param),
        _ => Err(kOfxStatErrBadHandle),
    }
}

/// Samples a double parameter's value (one entry per dimension).
fn doubles_at(param: &Param, time: f64) -> Vec<f64> {
    match lock(&param.state).at(time) {
        Stored::Doubles(v) => v,
        _ => Vec::new(),
    }
}

unsafe extern "C" fn param_get_derivative(
    h: OfxParamHandle,
    time: f64,
    p0: usize,
    p1: usize,
    p2: usize,
    p3: usize,
) -> OfxStatus {
    guard("paramGetDerivative", || {
        let param = double_param(h, "paramGetDerivative")?;
        // Central difference over the piecewise-linear curve.
        let e = 1e-3;
        let (a, b) = (doubles_at(&param, time - e), doubles_at(&param, time + e));
        let d = a.iter().zip(&b).map(|(a, b)| (b - a) / (2.0 * e)).collect();
        // SAFETY: the slots are the caller's out pointers.
        unsafe { write_value(&Stored::Doubles(d), [p0, p1, p2, p3]) }
    })
}

unsafe extern "C" fn param_get_integral(
    h: OfxParamHandle,
    t1: f64,
    t2: f64,
    p0: usize,
    p1: usize,
    p2: usize,
    p3: usize,
) -> OfxStatus {
    guard("paramGetIntegral", || {
        let param = double_param(h, "paramGetIntegral")?;
        // Trapezoids; exact for constant and linear segments aligned to the samples.
        const STEPS: usize = 256;
        let dt = (t2 - t1) / STEPS as f64;
        let mut sum = vec![0.0; doubles_at(&param, t1).len()];
        for i in 0..STEPS {
            let a = doubles_at(&param, t1 + dt * i as f64);
            let b = doubles_at(&param, t1 + dt * (i + 1) as f64);
            for (s, (a, b)) in sum.iter_mut().zip(a.iter().zip(&b)) {
                *s += (a + b) * 0.5 * dt;
            }
        }
        // SAFETY: the slots are the caller's out pointers.
        unsafe { write_value(&Stored::Doubles(sum), [p0, p1, p2, p3]) }
    })
}

/// Reads a setter's value from its slots, as the parameter's type dictates.
///
/// # Safety
/// For string types, `ints[0]` must be a NUL-terminated string.
unsafe fn read_value(
    ty: ParamType,
    ints: [usize; 4],
    doubles: [f64; 4],
) -> Result<Stored, OfxStatus> {
    Ok(match ty.storage() {
        // NOTE: an int occupies the low 32 bits of its register; the rest is undefined.
        Storage::Ints(n) => Stored::Ints(ints[..n].iter().map(|&v| v as u32 as i32).collect()),
        Storage::Doubles(n) => Stored::Doubles(doubles[..n].to_vec()),
        // SAFETY: per the function contract.
        Storage::Str => Stored::Str(unsafe { cstr(ints[0] as *const c_char) }?.to_owned()),
        Storage::Nothing => return Err(kOfxStatErrUnsupported),
    })
}

/// Records a plug-in edit for the follow-up InstanceChanged, and checks when it happened.
fn note_edit(param: &Param, call: &str) {
    if let Some(runtime) = &param.runtime {
        if runtime.rendering_on_this_thread() {
            param
                .props
                .diag()
                .violation(format!("{call}({}) during a render action", param.name));
        }
        lock(&runtime.pending_edits).push(param.name.clone());
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn param_set_value(
    h: OfxParamHandle,
    i0: usize,
    i1: usize,
    i2: usize,
    i3: usize,
    d0: f64,
    d1: f64,
    d2: f64,
    d3: f64,
) -> OfxStatus {
    guard("paramSetValue", || {
        let param = value_param(h, "paramSetValue")?;
        // SAFETY: the slots hold the caller's values (see the module comment).
        let value = unsafe { read_value(param.ty, [i0, i1, i2, i3], [d0, d1, d2, d3]) }?;
        lock(&param.state).set(value);
        note_edit(&param, "paramSetValue");
        Ok(OK)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn param_set_value_at_time(
    h: OfxParamHandle,
    time: f64,
    i0: usize,
    i1: usize,
    i2: usize,
    i3: usize,
    d0: f64,
    d1: f64,
    d2: f64,
    d3: f64,
) -> OfxStatus {
    guard("paramSetValueAtTime", || {
        let param = value_param(h, "paramSetValueAtTime")?;
        // SAFETY: the slots hold the caller's values (see the module comment).
        let value = unsafe { read_value(param.ty, [i0, i1, i2, i3], [d0, d1, d2, d3]) }?;
        lock(&param.state).set_key(time, value);
        note_edit(&param, "paramSetValueAtTime");
        Ok(OK)
    })
}

unsafe extern "C" fn param_get_num_keys(h: OfxParamHandle, count: *mut c_uint) -> OfxStatus {
    guard("paramGetNumKeys", || {
        let param = registry::param(h as usize)?;
        let n = lock(&param.state).keys.len();
        // SAFETY: writable per the suite.
        unsafe { write_out(count, c_uint::try_from(n).unwrap_or(c_uint::MAX)) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn param_get_key_time(
    h: OfxParamHandle,
    nth: c_uint,
    time: *mut OfxTime,
) -> OfxStatus {
    guard("paramGetKeyTime", || {
        let param = registry::param(h as usize)?;
        let t = lock(&param.state)
            .keys
            .get(nth as usize)
            .map(|k| k.0)
            .ok_or(kOfxStatErrBadIndex)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(time, t) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn param_get_key_index(
    h: OfxParamHandle,
    time: OfxTime,
    direction: c_int,
    index: *mut c_int,
) -> OfxStatus {
    guard("paramGetKeyIndex", || {
        let param = registry::param(h as usize)?;
        let state = lock(&param.state);
        let times = state.keys.iter().map(|k| k.0);
        let found = match direction {
            0 => times.clone().position(|t| t == time),
            d if d > 0 => times.clone().position(|t| t > time),
            _ => times.clone().rposition(|t| t < time),
        };
        let i = found.ok_or(kOfxStatFailed)?;
        // SAFETY: writable per the suite.
        unsafe { write_out(index, c_int::try_from(i).unwrap_or(c_int::MAX)) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn param_delete_key(h: OfxParamHandle, time: OfxTime) -> OfxStatus {
    guard("paramDeleteKey", || {
        let param = registry::param(h as usize)?;
        let mut state = lock(&param.state);
        let i = state
            .keys
            .iter()
            .position(|k| k.0 == time)
            .ok_or(kOfxStatErrBadIndex)?;
        state.keys.remove(i);
        Ok(OK)
    })
}

unsafe extern "C" fn param_delete_all_keys(h: OfxParamHandle) -> OfxStatus {
    guard("paramDeleteAllKeys", || {
        let param = registry::param(h as usize)?;
        lock(&param.state).keys.clear();
        Ok(OK)
    })
}

unsafe extern "C" fn param_copy(
    to: OfxParamHandle,
    from: OfxParamHandle,
    offset: OfxTime,
    range: *const OfxRangeD,
) -> OfxStatus {
    guard("paramCopy", || {
        let (to, from) = (
            registry::param(to as usize)?,
            registry::param(from as usize)?,
        );
        if to.ty != from.ty || Arc::ptr_eq(&to, &from) {
            return Err(kOfxStatErrValue);
        }
        // SAFETY: NULL or a readable range per the suite.
        let range = unsafe { range.as_ref() }.copied();
        let (value, keys) = {
            let s = lock(&from.state);
            (s.value.clone(), s.keys.clone())
        };
        let mut dst = lock(&to.state);
        dst.set(value);
        dst.keys.clear();
        for (t, v) in keys {
            if range.is_none_or(|r| t >= r.min && t <= r.max) {
                dst.set_key(t + offset, v);
            }
        }
        Ok(OK)
    })
}

unsafe extern "C" fn param_edit_begin(set: OfxParamSetHandle, name: *const c_char) -> OfxStatus {
    guard("paramEditBegin", || {
        let set = registry::param_set(set as usize)?;
        // SAFETY: NULL or a NUL-terminated string per the suite.
        let _label: Option<&CStr> = unsafe { super::ffi::opt_cstr(name) };
        *lock(&set.edit_depth) += 1;
        Ok(OK)
    })
}

unsafe extern "C" fn param_edit_end(set: OfxParamSetHandle) -> OfxStatus {
    guard("paramEditEnd", || {
        let set = registry::param_set(set as usize)?;
        let mut depth = lock(&set.edit_depth);
        if *depth == 0 {
            set.diag.violation("paramEditEnd without paramEditBegin");
            return Err(kOfxStatFailed);
        }
        *depth -= 1;
        Ok(OK)
    })
}
