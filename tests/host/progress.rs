//! The progress suite, versions 1 and 2: every call is recorded; the test can make
//! `progressUpdate` answer `kOfxStatReplyNo` (the user pressed Cancel) after N updates, or
//! raise the instance's abort flag after N updates.

use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;

use ofx_sys::*;

use super::effect::Effect;
use super::ffi::{OK, Reply, guard, lock, lossy, opt_cstr};
use super::registry;

/// One progress call.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    Start {
        label: String,
        /// Version 2's message id.
        id: Option<String>,
    },
    Update {
        value: f64,
        /// What the host answered: `kOfxStatOK`, or `kOfxStatReplyNo` to cancel.
        reply: OfxStatus,
    },
    End,
}

/// The suite handed out by `fetchSuite("OfxProgressSuite", 1)`.
pub static PROGRESS_SUITE_V1: OfxProgressSuiteV1 = OfxProgressSuiteV1 {
    progressStart: Some(progress_start_v1),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};

/// The suite handed out by `fetchSuite("OfxProgressSuite", 2)`.
pub static PROGRESS_SUITE_V2: OfxProgressSuiteV2 = OfxProgressSuiteV2 {
    progressStart: Some(progress_start_v2),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};

/// The instance behind a progress call; the specification requires an instance.
fn instance(handle: *mut c_void, call: &str) -> Result<std::sync::Arc<Effect>, OfxStatus> {
    let effect = registry::effect(handle as usize)?;
    if !effect.is_instance() {
        effect
            .host
            .diag
            .violation(format!("{call} with a descriptor handle"));
        return Err(kOfxStatErrBadHandle);
    }
    Ok(effect)
}

/// Shared body of both `progressStart` versions.
fn start(handle: *mut c_void, label: Option<String>, id: Option<String>) -> Reply {
    let effect = instance(handle, "progressStart")?;
    let host = &effect.host;
    if host.progress_open.swap(true, Ordering::SeqCst) {
        host.diag
            .violation("progressStart while a progress session is already open");
    }
    host.progress_updates.store(0, Ordering::SeqCst);
    lock(&host.progress).push(ProgressEvent::Start {
        label: label.unwrap_or_default(),
        id,
    });
    Ok(OK)
}

unsafe extern "C" fn progress_start_v1(handle: *mut c_void, label: *const c_char) -> OfxStatus {
    guard("progressStart", || {
        // SAFETY: NULL or a NUL-terminated string per the suite.
        let label = unsafe { opt_cstr(label) }.map(lossy);
        start(handle, label, None)
    })
}

unsafe extern "C" fn progress_start_v2(
    handle: *mut c_void,
    label: *const c_char,
    id: *const c_char,
) -> OfxStatus {
    guard("progressStart", || {
        // SAFETY: NULL or NUL-terminated strings per the suite.
        let (label, id) = unsafe { (opt_cstr(label).map(lossy), opt_cstr(id).map(lossy)) };
        start(handle, label, id)
    })
}

unsafe extern "C" fn progress_update(handle: *mut c_void, value: f64) -> OfxStatus {
    guard("progressUpdate", || {
        let effect = instance(handle, "progressUpdate")?;
        let host = &effect.host;
        if !host.progress_open.load(Ordering::SeqCst) {
            host.diag.violation("progressUpdate without progressStart");
        }
        if !(0.0..=1.0).contains(&value) {
            host.diag
                .violation(format!("progressUpdate({value}) outside [0, 1]"));
        }
        let seen = host.progress_updates.fetch_add(1, Ordering::SeqCst) + 1;
        if lock(&host.abort_after_progress).is_some_and(|n| seen >= n) {
            effect.runtime.abort_flag.store(true, Ordering::SeqCst);
        }
        let cancel = lock(&host.cancel_progress_after).is_some_and(|n| seen > n);
        let reply = if cancel { kOfxStatReplyNo } else { OK };
        lock(&host.progress).push(ProgressEvent::Update { value, reply });
        Ok(reply)
    })
}

unsafe extern "C" fn progress_end(handle: *mut c_void) -> OfxStatus {
    guard("progressEnd", || {
        let effect = instance(handle, "progressEnd")?;
        let host = &effect.host;
        if !host.progress_open.swap(false, Ordering::SeqCst) {
            host.diag.violation("progressEnd without progressStart");
        }
        lock(&host.progress).push(ProgressEvent::End);
        Ok(OK)
    })
}
