//! The multi-thread suite, version 1: `multiThread` on scoped std threads, and recursive
//! mutexes.

use std::cell::Cell;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

use ofx_sys::*;

use super::ffi::{OK, guard, guard_value, lock, write_out};
use super::registry::{self, Object};

/// Upper bound on threads one `multiThread` call starts.
const MAX_THREADS: u32 = 64;

/// `multiThreadNumCPUs` answer for suites not tied to a host (the suite has no handle).
fn cpus() -> u32 {
    std::thread::available_parallelism().map_or(4, |n| n.get() as u32)
}

thread_local! {
    /// The index of a thread spawned by `multiThread`, None on other threads.
    static SPAWNED_INDEX: Cell<Option<u32>> = const { Cell::new(None) };
    /// On a thread spawned by `multiThread`: the thread that (directly or through nested
    /// `multiThread` calls) started it.
    static SPAWNED_BY: Cell<Option<ThreadId>> = const { Cell::new(None) };
}

/// The thread whose action the calling thread works for: the thread that called
/// `multiThread` (outermost, for nested calls) when called on a spawned thread, else the
/// calling thread itself. Renders are registered under this thread, so images fetched from
/// worker threads belong to the render that started them.
pub fn action_thread() -> ThreadId {
    SPAWNED_BY
        .with(Cell::get)
        .unwrap_or_else(|| std::thread::current().id())
}

/// The suite handed out by `fetchSuite("OfxMultiThreadSuite", 1)`.
pub static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multiThread: Some(multi_thread),
    multiThreadNumCPUs: Some(num_cpus),
    multiThreadIndex: Some(thread_index),
    multiThreadIsSpawnedThread: Some(is_spawned_thread),
    mutexCreate: Some(mutex_create),
    mutexDestroy: Some(mutex_destroy),
    mutexLock: Some(mutex_lock),
    mutexUnLock: Some(mutex_unlock),
    mutexTryLock: Some(mutex_try_lock),
};

/// The plug-in's argument pointer, moved into worker threads.
#[derive(Clone, Copy)]
struct Arg(*mut c_void);
// SAFETY: the plug-in asked for its function to be called with this pointer on several
// threads; sharing it is the whole point of the call, and the host never dereferences it.
unsafe impl Send for Arg {}

unsafe extern "C" fn multi_thread(
    func: OfxThreadFunctionV1,
    n_threads: c_uint,
    arg: *mut c_void,
) -> OfxStatus {
    guard("multiThread", || {
        let Some(func) = func else {
            return Err(kOfxStatErrBadHandle);
        };
        let n = n_threads.clamp(1, MAX_THREADS);
        let arg = Arg(arg);
        let owner = action_thread();
        std::thread::scope(|scope| {
            for index in 0..n {
                scope.spawn(move || {
                    let arg = arg;
                    SPAWNED_INDEX.with(|i| i.set(Some(index)));
                    SPAWNED_BY.with(|o| o.set(Some(owner)));
                    // SAFETY: the plug-in's thread function, called as the suite specifies.
                    unsafe { func(index, n, arg.0) };
                });
            }
        });
        Ok(OK)
    })
}

unsafe extern "C" fn num_cpus(out: *mut c_uint) -> OfxStatus {
    guard("multiThreadNumCPUs", || {
        // SAFETY: writable per the suite.
        unsafe { write_out(out, cpus()) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn thread_index(out: *mut c_uint) -> OfxStatus {
    guard("multiThreadIndex", || {
        let index = SPAWNED_INDEX.with(Cell::get).unwrap_or(0);
        // SAFETY: writable per the suite.
        unsafe { write_out(out, index) }?;
        Ok(OK)
    })
}

unsafe extern "C" fn is_spawned_thread() -> c_int {
    guard_value("multiThreadIsSpawnedThread", 0, || {
        c_int::from(SPAWNED_INDEX.with(Cell::get).is_some())
    })
}

/// A recursive mutex: the owning thread may lock it again; it is free when the count is 0.
#[derive(Debug, Default)]
pub struct HostMutex {
    state: Mutex<(Option<ThreadId>, usize)>,
    freed: Condvar,
}

impl HostMutex {
    /// Locks, blocking while another thread owns it.
    pub fn lock(&self) {
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        while state.0.is_some_and(|owner| owner != me) {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.0 = Some(me);
        state.1 += 1;
    }

    /// Locks if free or already owned by this thread.
    pub fn try_lock(&self) -> bool {
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        if state.0.is_some_and(|owner| owner != me) {
            return false;
        }
        state.0 = Some(me);
        state.1 += 1;
        true
    }

    /// Unlocks once; false if this thread does not own it.
    pub fn unlock(&self) -> bool {
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        if state.0 != Some(me) {
            return false;
        }
        state.1 -= 1;
        if state.1 == 0 {
            state.0 = None;
            self.freed.notify_one();
        }
        true
    }
}

unsafe extern "C" fn mutex_create(out: *mut OfxMutexHandle, lock_count: c_int) -> OfxStatus {
    guard("mutexCreate", || {
        if out.is_null() {
            return Err(kOfxStatErrBadHandle);
        }
        let mutex = Arc::new(HostMutex::default());
        for _ in 0..lock_count.max(0) {
            mutex.lock();
        }
        let handle = registry::register(Object::Mutex(mutex));
        // SAFETY: non-NULL and writable per the suite.
        unsafe { out.write(handle as OfxMutexHandle) };
        Ok(OK)
    })
}

unsafe extern "C" fn mutex_destroy(mutex: OfxMutexHandle) -> OfxStatus {
    guard("mutexDestroy", || {
        registry::mutex(mutex as usize)?;
        registry::retire(mutex as usize);
        Ok(OK)
    })
}

unsafe extern "C" fn mutex_lock(mutex: OfxMutexHandle) -> OfxStatus {
    guard("mutexLock", || {
        registry::mutex(mutex as usize)?.lock();
        Ok(OK)
    })
}

unsafe extern "C" fn mutex_unlock(mutex: OfxMutexHandle) -> OfxStatus {
    guard("mutexUnLock", || {
        if registry::mutex(mutex as usize)?.unlock() {
            Ok(OK)
        } else {
            super::diag::orphan("mutexUnLock by a thread that does not hold the mutex");
            Err(kOfxStatErrBadHandle)
        }
    })
}

unsafe extern "C" fn mutex_try_lock(mutex: OfxMutexHandle) -> OfxStatus {
    guard("mutexTryLock", || {
        if registry::mutex(mutex as usize)?.try_lock() {
            Ok(OK)
        } else {
            Err(kOfxStatFailed)
        }
    })
}
