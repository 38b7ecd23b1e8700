//! The binary's three exported symbols, one plugin description per effect, and the action
//! dispatcher.
//!
//! Every call from the host lands in [`main_entry`], which catches panics, turns the action
//! string and handles into safe types, runs the effect code, and maps any error to an OFX status
//! plus a message the user can read. Nothing unwinds into the host.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use ofx_sys as sys;

use crate::effect::{self, EffectKind};
use crate::ofx::{
    EffectHandle, MessageKind, OfxError, OfxResult, PropertySet, Status, current_host,
    install_host, set_host_pointer, uninstall_host,
};

/// The plugin descriptions the host reads. `OfxPlugin` holds raw pointers, so it is not `Sync`
/// by itself; every pointer here points at static, immutable data.
struct PluginStatic(sys::OfxPlugin);
// SAFETY: all pointers are to 'static string literals and functions; nothing is mutated.
unsafe impl Sync for PluginStatic {}

/// One description per effect, in [`EffectKind::ALL`]'s order. Each has its own main entry,
/// which is how an action knows its effect.
static PLUGINS: [PluginStatic; 2] = [
    plugin_static(EffectKind::TextToVideo, main_entry_text),
    plugin_static(EffectKind::VideoToVideo, main_entry_video),
];

type MainEntry = unsafe extern "C" fn(
    *const c_char,
    *const c_void,
    sys::OfxPropertySetHandle,
    sys::OfxPropertySetHandle,
) -> sys::OfxStatus;

const fn plugin_static(kind: EffectKind, main: MainEntry) -> PluginStatic {
    let identifier = match kind {
        EffectKind::TextToVideo => effect::IDENTIFIER,
        EffectKind::VideoToVideo => effect::VIDEO_IDENTIFIER,
    };
    PluginStatic(sys::OfxPlugin {
        pluginApi: sys::kOfxImageEffectPluginApi.as_ptr(),
        apiVersion: 1,
        pluginIdentifier: identifier.as_ptr(),
        pluginVersionMajor: effect::VERSION_MAJOR,
        pluginVersionMinor: effect::VERSION_MINOR,
        setHost: Some(set_host),
        mainEntry: Some(main),
    })
}

/// Effects of this binary loaded now: the host's suites are dropped, and caches purged, only
/// when the last one unloads (a host may unload one effect while it uses the other).
static LOADED: AtomicUsize = AtomicUsize::new(0);

/// OFX 1.5: the host may announce itself before asking for plugins. We only need setHost.
#[unsafe(no_mangle)]
pub extern "C" fn OfxSetHost(host: *const sys::OfxHost) -> sys::OfxStatus {
    if !host.is_null() {
        set_host_pointer(host as *mut sys::OfxHost);
    }
    sys::kOfxStatOK
}

/// Two plugins in this binary: Text to Video and Video to Video.
#[unsafe(no_mangle)]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    PLUGINS.len() as c_int
}

/// A plugin's description, or null for an index out of range.
#[unsafe(no_mangle)]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut sys::OfxPlugin {
    match usize::try_from(nth).ok().and_then(|i| PLUGINS.get(i)) {
        Some(p) => &p.0 as *const sys::OfxPlugin as *mut sys::OfxPlugin,
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn set_host(host: *mut sys::OfxHost) {
    // NOTE: only stores a pointer; cannot panic.
    set_host_pointer(host);
}

/// Text to Video's actions.
unsafe extern "C" fn main_entry_text(
    action: *const c_char,
    handle: *const c_void,
    in_args: sys::OfxPropertySetHandle,
    out_args: sys::OfxPropertySetHandle,
) -> sys::OfxStatus {
    // SAFETY: the host's arguments, passed on as they came.
    unsafe { main_entry(EffectKind::TextToVideo, action, handle, in_args, out_args) }
}

/// Video to Video's actions.
unsafe extern "C" fn main_entry_video(
    action: *const c_char,
    handle: *const c_void,
    in_args: sys::OfxPropertySetHandle,
    out_args: sys::OfxPropertySetHandle,
) -> sys::OfxStatus {
    // SAFETY: the host's arguments, passed on as they came.
    unsafe { main_entry(EffectKind::VideoToVideo, action, handle, in_args, out_args) }
}

/// Every action arrives here.
///
/// # Safety
/// `action` is null or a NUL-terminated string; the handles are the host's for this action.
unsafe fn main_entry(
    kind: EffectKind,
    action: *const c_char,
    handle: *const c_void,
    in_args: sys::OfxPropertySetHandle,
    out_args: sys::OfxPropertySetHandle,
) -> sys::OfxStatus {
    if action.is_null() {
        return sys::kOfxStatErrBadHandle;
    }
    // SAFETY: the host passes a NUL-terminated action name.
    let action = unsafe { CStr::from_ptr(action) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        dispatch(kind, action, handle, in_args, out_args)
    }));
    match result {
        Ok(Ok(status)) => status.to_raw(),
        Ok(Err(err)) => report(action, handle, err),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            report(
                action,
                handle,
                OfxError::new(
                    Status::Failed,
                    format!("Promptreel hit an internal error ({what}); please report it"),
                ),
            )
        }
    }
}

/// Shows the error to the user where possible and returns its status.
fn report(action: &CStr, handle: *const c_void, err: OfxError) -> sys::OfxStatus {
    let status = err.status;
    // Messages only go to instances (never descriptors), and only for actions with a handle.
    let instance_action = action != sys::kOfxActionLoad
        && action != sys::kOfxActionUnload
        && action != sys::kOfxActionDescribe
        && action != sys::kOfxImageEffectActionDescribeInContext;
    if instance_action && status != Status::ReplyDefault {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(host) = current_host()
                && let Some(effect) = EffectHandle::from_raw(handle, host.clone())
            {
                host.set_persistent_message(&effect, MessageKind::Error, &err.message);
            }
        }));
    }
    eprintln!("Promptreel: {}: {}", action.to_string_lossy(), err.message);
    status.to_raw()
}

/// Routes an action to the effect.
fn dispatch(
    kind: EffectKind,
    action: &CStr,
    handle: *const c_void,
    in_args: sys::OfxPropertySetHandle,
    out_args: sys::OfxPropertySetHandle,
) -> OfxResult<Status> {
    if action == sys::kOfxActionLoad {
        // NOTE: fetched again on every Load: the host may have unloaded and reloaded us.
        install_host()?;
        let status = effect::load()?;
        LOADED.fetch_add(1, Ordering::SeqCst);
        return Ok(status);
    }
    if action == sys::kOfxActionUnload {
        let before = LOADED
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            })
            .unwrap_or(0);
        if before > 1 {
            // Another effect of this binary is still loaded and needs the host's suites.
            return Ok(Status::Ok);
        }
        let status = effect::unload();
        uninstall_host();
        return status;
    }
    let host = current_host()?;
    let effect = EffectHandle::from_raw(handle, host.clone()).ok_or_else(|| {
        OfxError::new(Status::ErrBadHandle, "the host passed a null effect handle")
    })?;
    let in_args = PropertySet::from_raw_opt(in_args, host.prop);
    let out_args = PropertySet::from_raw_opt(out_args, host.prop);
    effect::dispatch(kind, action, &effect, in_args.as_ref(), out_args.as_ref())
}
