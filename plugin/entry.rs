//! The binary's three exported symbols and the action dispatcher.
//!
//! Every call from the host lands in [`main_entry`], which catches panics, turns the action
//! string and handles into safe types, runs the effect code, and maps any error to an OFX status
//! plus a message the user can read. Nothing unwinds into the host.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ofx_sys as sys;

use crate::effect;
use crate::ofx::{
    EffectHandle, MessageKind, OfxError, OfxResult, PropertySet, Status, current_host,
    install_host, set_host_pointer, uninstall_host,
};

/// The plugin description the host reads. `OfxPlugin` holds raw pointers, so it is not `Sync`
/// by itself; every pointer here points at static, immutable data.
struct PluginStatic(sys::OfxPlugin);
// SAFETY: all pointers are to 'static string literals and functions; nothing is mutated.
unsafe impl Sync for PluginStatic {}

static PLUGIN: PluginStatic = PluginStatic(sys::OfxPlugin {
    pluginApi: sys::kOfxImageEffectPluginApi.as_ptr(),
    apiVersion: 1,
    pluginIdentifier: effect::IDENTIFIER.as_ptr(),
    pluginVersionMajor: effect::VERSION_MAJOR,
    pluginVersionMinor: effect::VERSION_MINOR,
    setHost: Some(set_host),
    mainEntry: Some(main_entry),
});

/// OFX 1.5: the host may announce itself before asking for plugins. We only need setHost.
#[unsafe(no_mangle)]
pub extern "C" fn OfxSetHost(host: *const sys::OfxHost) -> sys::OfxStatus {
    if !host.is_null() {
        set_host_pointer(host as *mut sys::OfxHost);
    }
    sys::kOfxStatOK
}

/// One plugin in this binary.
#[unsafe(no_mangle)]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    1
}

/// The plugin's description, or null for an index out of range.
#[unsafe(no_mangle)]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut sys::OfxPlugin {
    if nth == 0 {
        &PLUGIN.0 as *const sys::OfxPlugin as *mut sys::OfxPlugin
    } else {
        std::ptr::null_mut()
    }
}

unsafe extern "C" fn set_host(host: *mut sys::OfxHost) {
    // NOTE: only stores a pointer; cannot panic.
    set_host_pointer(host);
}

/// Every action arrives here.
unsafe extern "C" fn main_entry(
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
        dispatch(action, handle, in_args, out_args)
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
    action: &CStr,
    handle: *const c_void,
    in_args: sys::OfxPropertySetHandle,
    out_args: sys::OfxPropertySetHandle,
) -> OfxResult<Status> {
    if action == sys::kOfxActionLoad {
        install_host()?;
        return effect::load();
    }
    if action == sys::kOfxActionUnload {
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
    effect::dispatch(action, &effect, in_args.as_ref(), out_args.as_ref())
}
