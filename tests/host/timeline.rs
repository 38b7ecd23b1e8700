//! The time line suite, version 1: each instance has a current time; `gotoTime` moves it and is
//! recorded; the bounds are the project's frames, 0 to duration - 1.

use std::ffi::c_void;

use ofx_sys::*;

use super::ffi::{OK, guard, lock, write_out};
use super::registry;

/// The suite handed out by `fetchSuite("OfxTimeLineSuite", 1)`.
pub static TIME_LINE_SUITE: OfxTimeLineSuiteV1 = OfxTimeLineSuiteV1 {
    getTime: Some(get_time),
    gotoTime: Some(goto_time),
    getTimeBounds: Some(get_time_bounds),
};

unsafe extern "C" fn get_time(instance: *mut c_void, time: *mut f64) -> OfxStatus {
    guard("getTime", || {
        let effect = registry::effect(instance as usize)?;
        let now = *lock(&effect.runtime.time);
        // SAFETY: writable per the suite.
        unsafe { write_out(time, now) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn goto_time(instance: *mut c_void, time: f64) -> OfxStatus {
    guard("gotoTime", || {
        let effect = registry::effect(instance as usize)?;
        *lock(&effect.runtime.time) = time;
        lock(&effect.host.time_moves).push(time);
        Ok(OK)
    })
}

unsafe extern "C" fn get_time_bounds(
    instance: *mut c_void,
    first: *mut f64,
    last: *mut f64,
) -> OfxStatus {
    guard("getTimeBounds", || {
        let effect = registry::effect(instance as usize)?;
        let duration = effect.host.config.project.duration;
        // SAFETY: writable per the suite.
        unsafe {
            write_out(first, 0.0)?;
            write_out(last, (duration - 1.0).max(0.0))?;
        }
        Ok(OK)
    })
}
