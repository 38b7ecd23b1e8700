//! Small helpers shared by every `extern "C"` callback: panic guards, C string reading and
//! poison-tolerant locking.
//!
//! Since Rust 1.81 a panic that reaches an `extern "C"` boundary aborts the process, which
//! would take the test runner down with it. Every callback therefore runs its body inside
//! [`guard`] (or [`guard_value`]), which turns a panic into `kOfxStatErrFatal` (or a neutral
//! value) and records it in the orphan diagnostics.

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ofx_sys::*;

use super::diag;

/// `kOfxStatOK`, spelled short for the many `Ok(OK)` returns.
pub const OK: OfxStatus = kOfxStatOK;

/// What a guarded callback body returns: `Ok(status)` or `Err(status)`; both are returned to
/// the plug-in as they are (`Err` only exists so `?` can be used on lookups).
pub type Reply = Result<OfxStatus, OfxStatus>;

/// Runs a callback body, converting a panic into `kOfxStatErrFatal`.
pub fn guard(callback: &'static str, body: impl FnOnce() -> Reply) -> OfxStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) | Ok(Err(status)) => status,
        Err(payload) => {
            diag::orphan(format!(
                "host callback {callback} panicked: {}",
                panic_text(&*payload)
            ));
            kOfxStatErrFatal
        }
    }
}

/// Runs a callback body whose C return type is not a status, using `fallback` on panic.
pub fn guard_value<T>(callback: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            diag::orphan(format!(
                "host callback {callback} panicked: {}",
                panic_text(&*payload)
            ));
            fallback
        }
    }
}

/// The message of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Reads a NUL-terminated string argument; NULL is `kOfxStatErrBadHandle`.
///
/// # Safety
/// `ptr` must be NULL or point at a NUL-terminated string that outlives `'a`.
pub unsafe fn cstr<'a>(ptr: *const c_char) -> Result<&'a CStr, OfxStatus> {
    if ptr.is_null() {
        return Err(kOfxStatErrBadHandle);
    }
    // SAFETY: non-NULL, and the caller promises NUL termination and lifetime.
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// Like [`cstr`], but NULL is allowed and gives `None`.
///
/// # Safety
/// As [`cstr`].
pub unsafe fn opt_cstr<'a>(ptr: *const c_char) -> Option<&'a CStr> {
    // SAFETY: forwarded contract.
    unsafe { cstr(ptr) }.ok()
}

/// Writes `value` through an out pointer; NULL is `kOfxStatErrBadHandle`.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T`.
pub unsafe fn write_out<T>(out: *mut T, value: T) -> Result<(), OfxStatus> {
    if out.is_null() {
        return Err(kOfxStatErrBadHandle);
    }
    // SAFETY: non-NULL; the caller promises it is writable.
    unsafe { out.write(value) };
    Ok(())
}

/// Locks a mutex, ignoring poisoning: a panic in one callback must not wedge the host.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The specification's name of a status, or its number.
pub fn status_name(status: OfxStatus) -> String {
    ofx_sys::status::name(status)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("status {status}"))
}

/// A `&CStr` as an owned `String` (lossy), for records and messages.
pub fn lossy(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}
