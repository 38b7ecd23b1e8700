//! The memory suite, version 1: 64-byte aligned allocations tracked by address, so a bad or
//! double free is answered with `kOfxStatErrBadHandle` instead of corrupting the heap.

use std::alloc::{Layout, alloc, dealloc};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{LazyLock, Mutex};

use ofx_sys::*;

use super::diag;
use super::ffi::{OK, guard, lock};

/// Alignment of every allocation.
const ALIGN: usize = 64;

/// Live allocations: address to layout.
static LIVE: LazyLock<Mutex<HashMap<usize, Layout>>> = LazyLock::new(Mutex::default);

/// The suite handed out by `fetchSuite("OfxMemorySuite", 1)`.
pub static MEMORY_SUITE: OfxMemorySuiteV1 = OfxMemorySuiteV1 {
    memoryAlloc: Some(memory_alloc),
    memoryFree: Some(memory_free),
};

/// Number of allocations not yet freed, process-wide.
pub fn outstanding() -> usize {
    lock(&LIVE).len()
}

unsafe extern "C" fn memory_alloc(
    _handle: *mut c_void,
    bytes: usize,
    out: *mut *mut c_void,
) -> OfxStatus {
    guard("memoryAlloc", || {
        if out.is_null() {
            return Err(kOfxStatErrBadHandle);
        }
        let layout = Layout::from_size_align(bytes.max(1), ALIGN).map_err(|_| kOfxStatErrMemory)?;
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc(layout) };
        if ptr.is_null() {
            return Err(kOfxStatErrMemory);
        }
        lock(&LIVE).insert(ptr as usize, layout);
        // SAFETY: non-NULL and writable per the suite.
        unsafe { out.write(ptr.cast()) };
        Ok(OK)
    })
}

unsafe extern "C" fn memory_free(ptr: *mut c_void) -> OfxStatus {
    guard("memoryFree", || {
        let Some(layout) = lock(&LIVE).remove(&(ptr as usize)) else {
            diag::orphan(format!(
                "memoryFree of {ptr:?}, which memoryAlloc did not return"
            ));
            return Err(kOfxStatErrBadHandle);
        };
        // SAFETY: allocated by `memory_alloc` with this layout, removed from the table so
        // freed once.
        unsafe { dealloc(ptr.cast(), layout) };
        Ok(OK)
    })
}
