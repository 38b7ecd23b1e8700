//! The host: the `OfxHost` pointer from setHost, and the suites fetched from it on Load.

use std::ffi::{CStr, CString, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use ofx_sys as sys;
use parking_lot::RwLock;

use super::error::{OfxError, OfxResult};
use super::handles::EffectHandle;
use super::props::PropertySet;

/// Suites the host provides, fetched on Load. The references point into the host and stay
/// valid while the plugin is loaded; they are dropped on Unload.
pub struct Host {
    pub(crate) props: PropertySet,
    pub(crate) prop: &'static sys::OfxPropertySuiteV1,
    pub(crate) param: &'static sys::OfxParameterSuiteV1,
    pub(crate) effect: &'static sys::OfxImageEffectSuiteV1,
    message_v2: Option<&'static sys::OfxMessageSuiteV2>,
    message_v1: Option<&'static sys::OfxMessageSuiteV1>,
    progress_v2: Option<&'static sys::OfxProgressSuiteV2>,
    progress_v1: Option<&'static sys::OfxProgressSuiteV1>,
    multithread: bool,
}

// SAFETY: the suites are tables of C function pointers the host publishes for use from any
// thread (OFX allows suite calls from render threads); we never mutate them.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

static HOST_PTR: AtomicPtr<sys::OfxHost> = AtomicPtr::new(std::ptr::null_mut());
static HOST: RwLock<Option<Arc<Host>>> = RwLock::new(None);

/// Remembers the host pointer (setHost); it stays valid while the binary is loaded.
pub fn set_host_pointer(host: *mut sys::OfxHost) {
    HOST_PTR.store(host, Ordering::SeqCst);
}

/// Fetches the suites (Load). Fails when setHost was never called or a required suite is missing.
pub fn install_host() -> OfxResult<Arc<Host>> {
    let ptr = HOST_PTR.load(Ordering::SeqCst);
    if ptr.is_null() {
        return Err(OfxError::missing_feature(
            "the host did not call setHost before Load",
        ));
    }
    // SAFETY: the host gave us this pointer in setHost and guarantees it outlives the plugin.
    let ofx_host = unsafe { &*ptr };
    let fetch = ofx_host
        .fetchSuite
        .ok_or_else(|| OfxError::missing_feature("the host has no fetchSuite function"))?;
    let get = |name: &CStr, version: i32| -> *const c_void {
        // SAFETY: fetchSuite takes the host's property handle and a NUL-terminated name.
        unsafe { fetch(ofx_host.host, name.as_ptr(), version) }
    };
    /// Turns a suite pointer into a reference.
    fn suite<T>(p: *const c_void) -> Option<&'static T> {
        // SAFETY: a non-null suite pointer from fetchSuite points at a host-owned table of the
        // requested type and version, valid until the plugin is unloaded.
        (!p.is_null()).then(|| unsafe { &*(p as *const T) })
    }
    let required = |name: &CStr, p: *const c_void| {
        if p.is_null() {
            Err(OfxError::missing_feature(format!(
                "the host does not provide the {} suite, which Promptreel needs",
                name.to_string_lossy()
            )))
        } else {
            Ok(p)
        }
    };
    let prop = suite(required(
        sys::kOfxPropertySuite,
        get(sys::kOfxPropertySuite, 1),
    )?);
    let param = suite(required(
        sys::kOfxParameterSuite,
        get(sys::kOfxParameterSuite, 1),
    )?);
    let effect = suite(required(
        sys::kOfxImageEffectSuite,
        get(sys::kOfxImageEffectSuite, 1),
    )?);
    let (Some(prop), Some(param), Some(effect)) = (prop, param, effect) else {
        return Err(OfxError::missing_feature(
            "a required host suite is missing",
        ));
    };
    let host = Arc::new(Host {
        props: PropertySet::from_raw(ofx_host.host, prop),
        prop,
        param,
        effect,
        message_v2: suite(get(sys::kOfxMessageSuite, 2)),
        message_v1: suite(get(sys::kOfxMessageSuite, 1)),
        progress_v2: suite(get(sys::kOfxProgressSuite, 2)),
        progress_v1: suite(get(sys::kOfxProgressSuite, 1)),
        multithread: !get(sys::kOfxMultiThreadSuite, 1).is_null(),
    });
    *HOST.write() = Some(host.clone());
    Ok(host)
}

/// Forgets the suites (Unload).
pub fn uninstall_host() {
    *HOST.write() = None;
}

/// The suites of the current load, if loaded.
pub fn current_host() -> OfxResult<Arc<Host>> {
    HOST.read()
        .clone()
        .ok_or_else(|| OfxError::missing_feature("an action arrived before Load (or after Unload)"))
}

/// What kind of message to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Error,
    Warning,
    Message,
}

impl MessageKind {
    fn raw(self) -> &'static CStr {
        match self {
            Self::Error => sys::kOfxMessageError,
            Self::Warning => sys::kOfxMessageWarning,
            Self::Message => sys::kOfxMessageMessage,
        }
    }
}

fn c_text(s: &str) -> CString {
    // NOTE: a NUL inside a message would end it early; replace instead of failing.
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl Host {
    /// The host's own properties.
    pub fn properties(&self) -> &PropertySet {
        &self.props
    }

    /// The host's name (kOfxPropName), e.g. "DaVinciResolve".
    pub fn name(&self) -> String {
        self.props
            .get_string(sys::kOfxPropName, 0)
            .unwrap_or_default()
    }

    /// Whether the host lets effects fetch input frames other than the one rendering
    /// (`kOfxImageEffectPropTemporalClipAccess` of the host; absent counts as no).
    pub fn temporal_clip_access(&self) -> bool {
        self.props
            .get_int(sys::kOfxImageEffectPropTemporalClipAccess, 0)
            .is_ok_and(|v| v != 0)
    }

    /// Whether the host offers the multithread suite (Resolve does not).
    pub fn has_multithread(&self) -> bool {
        self.multithread
    }

    /// Whether a message suite exists.
    pub fn has_messages(&self) -> bool {
        self.message_v1.is_some() || self.message_v2.is_some()
    }

    /// Shows a message attached to an instance (never a descriptor). Returns false when the
    /// host has no message suite.
    pub fn post_message(&self, effect: &EffectHandle, kind: MessageKind, text: &str) -> bool {
        let Some(m) = self.message_v1.or(self.message_v2.map(|v2| {
            // SAFETY: V2 starts with the same `message` member as V1.
            unsafe { &*(v2 as *const sys::OfxMessageSuiteV2 as *const sys::OfxMessageSuiteV1) }
        })) else {
            return false;
        };
        let Some(f) = m.message else { return false };
        let text = c_text(text);
        // SAFETY: the handle is a live instance; the format string is "%s" with one C string.
        let status = unsafe {
            f(
                effect.raw() as *mut c_void,
                kind.raw().as_ptr(),
                std::ptr::null(),
                c"%s".as_ptr(),
                text.as_ptr(),
            )
        };
        status == sys::kOfxStatOK || status == sys::kOfxStatReplyDefault
    }

    /// Sets the instance's persistent message (v2); falls back to a one-off message.
    pub fn set_persistent_message(
        &self,
        effect: &EffectHandle,
        kind: MessageKind,
        text: &str,
    ) -> bool {
        if let Some(f) = self.message_v2.and_then(|m| m.setPersistentMessage) {
            let text = c_text(text);
            // SAFETY: as in post_message.
            let status = unsafe {
                f(
                    effect.raw() as *mut c_void,
                    kind.raw().as_ptr(),
                    std::ptr::null(),
                    c"%s".as_ptr(),
                    text.as_ptr(),
                )
            };
            return status == sys::kOfxStatOK;
        }
        self.post_message(effect, kind, text)
    }

    /// Clears the persistent message (v2 only).
    pub fn clear_persistent_message(&self, effect: &EffectHandle) {
        if let Some(f) = self.message_v2.and_then(|m| m.clearPersistentMessage) {
            // SAFETY: the handle is a live instance.
            let _ = unsafe { f(effect.raw() as *mut c_void) };
        }
    }

    /// Starts a progress bar (v2, else v1); `None` when the host has no progress suite.
    pub fn start_progress(&self, effect: &EffectHandle, label: &str, id: &str) -> Option<Progress> {
        let label_c = c_text(label);
        let id_c = c_text(id);
        let handle = effect.raw() as *mut c_void;
        if let Some(p) = self.progress_v2 {
            let (Some(begin), Some(update), Some(end)) =
                (p.progressStart, p.progressUpdate, p.progressEnd)
            else {
                return None;
            };
            // SAFETY: live instance handle, NUL-terminated strings.
            let status = unsafe { begin(handle, label_c.as_ptr(), id_c.as_ptr()) };
            return (status == sys::kOfxStatOK).then_some(Progress {
                handle,
                update,
                end,
            });
        }
        let p = self.progress_v1?;
        let (Some(begin), Some(update), Some(end)) =
            (p.progressStart, p.progressUpdate, p.progressEnd)
        else {
            return None;
        };
        // SAFETY: as above.
        let status = unsafe { begin(handle, label_c.as_ptr()) };
        (status == sys::kOfxStatOK).then_some(Progress {
            handle,
            update,
            end,
        })
    }
}

/// A running progress bar; ends when dropped.
pub struct Progress {
    handle: *mut c_void,
    update: unsafe extern "C" fn(*mut c_void, f64) -> sys::OfxStatus,
    end: unsafe extern "C" fn(*mut c_void) -> sys::OfxStatus,
}

impl Progress {
    /// Reports `fraction` (0..=1); returns false when the user pressed cancel.
    pub fn update(&mut self, fraction: f64) -> bool {
        // SAFETY: the handle was valid when the bar started and the action is still running.
        let status = unsafe { (self.update)(self.handle, fraction.clamp(0.0, 1.0)) };
        status != sys::kOfxStatReplyNo
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // SAFETY: ends the bar this value started.
        let _ = unsafe { (self.end)(self.handle) };
    }
}
