//! The instance-data pointer: an `Arc<Instance>` handed to the host as a raw pointer on
//! CreateInstance and taken back on DestroyInstance (nih-plug's explicit lifetime habit).

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::Arc;

use crate::effect::instance::Instance;

/// A new strong reference to the instance behind `ptr` (null gives `None`).
pub fn borrow(ptr: *mut c_void) -> Option<Arc<Instance>> {
    if ptr.is_null() {
        return None;
    }
    let ptr = ptr as *const Instance;
    // SAFETY: non-null instance-data pointers only ever come from `Arc::into_raw` in
    // `effect::instance::create`, and stay alive until `release` runs in DestroyInstance, after
    // which the property is cleared.
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// Drops the reference `create` leaked.
pub fn release(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: see `borrow`; called once per instance, after the pointer is cleared.
    drop(unsafe { Arc::from_raw(ptr as *const Instance) });
}
