//! The host itself: its configuration, its property set, `fetchSuite`, and the records tests
//! assert on (messages, progress, suites fetched, diagnostics).

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::diag::Diagnostics;
use super::effect::Context;
use super::ffi::{guard_value, lock, lossy, opt_cstr};
use super::image::BitDepth;
use super::message::{MESSAGE_SUITE_V1, MESSAGE_SUITE_V2, Message};
use super::progress::{PROGRESS_SUITE_V1, PROGRESS_SUITE_V2, ProgressEvent};
use super::registry::{self, Object};
use super::{
    effect_suite, memory, multithread, param_suite, prop_schema, property_suite, props, timeline,
};

/// The project an instance lives in.
#[derive(Clone, Debug)]
pub struct Project {
    /// Size in canonical coordinates (pixels at render scale 1 when the PAR is 1).
    pub width: f64,
    pub height: f64,
    pub pixel_aspect_ratio: f64,
    pub frame_rate: f64,
    /// Length of the effect on the time line, in frames.
    pub duration: f64,
}

impl Default for Project {
    fn default() -> Self {
        Self {
            width: 96.0,
            height: 72.0,
            pixel_aspect_ratio: 1.0,
            frame_rate: 24.0,
            duration: 8.0,
        }
    }
}

/// What kind of host to be.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// `kOfxPropName` of the host.
    pub name: String,
    /// `kOfxPropLabel` of the host.
    pub label: String,
    /// Call the binary's optional `OfxSetHost` entry point after loading it.
    pub call_ofx_set_host: bool,
    /// Offer the multi-thread suite (Resolve does not).
    pub multithread_suite: bool,
    /// Offer the progress suite, versions 1 and 2.
    pub progress_suite: bool,
    /// Offer the message suite, versions 1 and 2.
    pub message_suite: bool,
    /// Offer the time line suite.
    pub timeline_suite: bool,
    /// Contexts the host supports.
    pub contexts: Vec<Context>,
    /// Pixel depths the host supports.
    pub depths: Vec<BitDepth>,
    /// `kOfxImageEffectHostPropIsBackground`.
    pub is_background: bool,
    /// `kOfxPropIsInteractive` on instances.
    pub interactive: bool,
    /// Let the plug-in create properties this host does not define (still recorded).
    pub lenient_properties: bool,
    /// The project of every instance.
    pub project: Project,
    /// Hand out images with negative row bytes (see the `image` module).
    pub negative_row_bytes: bool,
    /// Extra bytes at the end of every image row.
    pub row_padding: usize,
    /// Send InstanceChanged (reason "plugin edited") after the plug-in sets a parameter.
    pub notify_plugin_edits: bool,
    /// The reply to `kOfxMessageQuestion` messages.
    pub question_reply: OfxStatus,
    /// `kOfxImageEffectPropTemporalClipAccess` of the host: plug-ins that declare temporal
    /// access may fetch input images at times other than the one being rendered.
    pub temporal_clip_access: bool,
}

impl HostConfig {
    /// A full-featured interactive host, like Natron: every suite, `OfxSetHost` called,
    /// temporal clip access.
    pub fn natron_like() -> Self {
        Self {
            name: "org.promptreel.TestHost".into(),
            label: "Promptreel Test Host".into(),
            call_ofx_set_host: true,
            multithread_suite: true,
            progress_suite: true,
            message_suite: true,
            timeline_suite: true,
            contexts: vec![Context::Generator, Context::General, Context::Filter],
            depths: vec![BitDepth::Float, BitDepth::Short, BitDepth::Byte],
            is_background: false,
            interactive: true,
            lenient_properties: false,
            project: Project::default(),
            negative_row_bytes: false,
            row_padding: 0,
            notify_plugin_edits: true,
            question_reply: kOfxStatReplyYes,
            temporal_clip_access: true,
        }
    }

    /// A host without the multi-thread suite and without `OfxSetHost`, like DaVinci Resolve,
    /// which also hands out padded rows here to catch packed-row assumptions.
    pub fn resolve_like() -> Self {
        Self {
            call_ofx_set_host: false,
            multithread_suite: false,
            row_padding: 64,
            // NOTE: from public plug-in behaviour, not from a Resolve document: temporal
            // filters such as Neat Video fetch neighbouring source frames in Resolve, so its
            // OpenFX host grants temporal clip access to filters.
            temporal_clip_access: true,
            ..Self::natron_like()
        }
    }

    /// A host with none of the optional suites (multi-thread, progress, message, time line)
    /// and without temporal clip access: only the frame being rendered can be fetched.
    pub fn minimal() -> Self {
        Self {
            multithread_suite: false,
            progress_suite: false,
            message_suite: false,
            timeline_suite: false,
            temporal_clip_access: false,
            ..Self::natron_like()
        }
    }
}

/// One `fetchSuite` call.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteRequest {
    pub name: String,
    pub version: i32,
    /// Whether a suite was returned.
    pub granted: bool,
}

/// The `OfxHost` struct handed to the plug-in.
#[derive(Debug)]
pub struct HostStruct(Box<OfxHost>);

// SAFETY: the struct holds the host property-set handle (an address registered in the
// registry, whose object is `Send + Sync`) and a function pointer; it is never mutated after
// construction.
unsafe impl Send for HostStruct {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for HostStruct {}

/// The state every host object refers to.
#[derive(Debug)]
pub struct HostShared {
    pub config: HostConfig,
    pub diag: Arc<Diagnostics>,
    /// The host's property set (`OfxHost::host`).
    pub props: Arc<props::PropertySet>,
    ofx_host: HostStruct,
    /// Every message posted, in order.
    pub messages: Mutex<Vec<Message>>,
    /// Every progress call, in order.
    pub progress: Mutex<Vec<ProgressEvent>>,
    /// Answer `kOfxStatReplyNo` to progress updates after this many in one progress session.
    pub cancel_progress_after: Mutex<Option<usize>>,
    /// Raise the abort flag of the instance after this many progress updates in one session.
    pub abort_after_progress: Mutex<Option<usize>>,
    /// Whether a progress session is open.
    pub progress_open: AtomicBool,
    /// Updates in the current progress session.
    pub progress_updates: AtomicUsize,
    /// Every `fetchSuite` call.
    pub fetched: Mutex<Vec<SuiteRequest>>,
    /// Every `gotoTime` call.
    pub time_moves: Mutex<Vec<f64>>,
}

impl HostShared {
    /// The `OfxHost` pointer to hand to `setHost` / `OfxSetHost`.
    pub fn ofx_host_ptr(&self) -> *mut OfxHost {
        std::ptr::from_ref::<OfxHost>(&self.ofx_host.0).cast_mut()
    }
}

/// A host. Cheap to clone; every clone is the same host.
#[derive(Clone, Debug)]
pub struct Host {
    pub shared: Arc<HostShared>,
}

impl Host {
    /// A host with this configuration.
    pub fn new(config: HostConfig) -> Self {
        let diag = Arc::new(Diagnostics::default());
        let props = Arc::new(prop_schema::host_props(&config, diag.clone()));
        let ofx_host = HostStruct(Box::new(OfxHost {
            host: Arc::as_ptr(&props).cast_mut().cast(),
            fetchSuite: Some(fetch_suite),
        }));
        let shared = Arc::new(HostShared {
            config,
            diag,
            props: props.clone(),
            ofx_host,
            messages: Mutex::default(),
            progress: Mutex::default(),
            cancel_progress_after: Mutex::default(),
            abort_after_progress: Mutex::default(),
            progress_open: AtomicBool::new(false),
            progress_updates: AtomicUsize::new(0),
            fetched: Mutex::default(),
            time_moves: Mutex::default(),
        });
        registry::register(Object::HostProps(props, Arc::downgrade(&shared)));
        Self { shared }
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// Every message posted so far (transient and persistent).
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.shared.messages).clone()
    }

    /// Every progress call so far.
    pub fn progress_events(&self) -> Vec<ProgressEvent> {
        lock(&self.shared.progress).clone()
    }

    /// Forgets recorded messages and progress.
    pub fn clear_records(&self) {
        lock(&self.shared.messages).clear();
        lock(&self.shared.progress).clear();
    }

    /// Makes `progressUpdate` answer `kOfxStatReplyNo` (the user pressed Cancel) once `n`
    /// updates of the current progress session were answered OK. None: never cancel.
    pub fn cancel_progress_after(&self, n: Option<usize>) {
        *lock(&self.shared.cancel_progress_after) = n;
    }

    /// Raises the instance's abort flag once `n` progress updates were seen in a session.
    pub fn abort_after_progress(&self, n: Option<usize>) {
        *lock(&self.shared.abort_after_progress) = n;
    }

    /// Every `fetchSuite` call so far.
    pub fn suite_requests(&self) -> Vec<SuiteRequest> {
        lock(&self.shared.fetched).clone()
    }

    /// Every protocol violation recorded for this host.
    pub fn violations(&self) -> Vec<String> {
        self.shared.diag.violations()
    }

    /// Every unknown property the plug-in touched on this host's sets.
    pub fn unknown_properties(&self) -> Vec<String> {
        self.shared.diag.unknown_properties()
    }

    /// Every `gotoTime` the plug-in asked for.
    pub fn time_moves(&self) -> Vec<f64> {
        lock(&self.shared.time_moves).clone()
    }
}

/// Which suite, if any, answers (name, version) on this host.
fn suite_for(config: &HostConfig, name: &CStr, version: c_int) -> Option<*const c_void> {
    fn p<T>(suite: &'static T) -> Option<*const c_void> {
        Some(std::ptr::from_ref(suite).cast())
    }
    match (name, version) {
        (n, 1) if n == kOfxPropertySuite => p(&property_suite::PROPERTY_SUITE),
        (n, 1) if n == kOfxParameterSuite => p(&param_suite::PARAMETER_SUITE),
        (n, 1) if n == kOfxImageEffectSuite => p(&effect_suite::IMAGE_EFFECT_SUITE),
        (n, 1) if n == kOfxMemorySuite => p(&memory::MEMORY_SUITE),
        (n, 1) if n == kOfxMultiThreadSuite && config.multithread_suite => {
            p(&multithread::MULTI_THREAD_SUITE)
        }
        (n, 1) if n == kOfxMessageSuite && config.message_suite => p(&MESSAGE_SUITE_V1),
        (n, 2) if n == kOfxMessageSuite && config.message_suite => p(&MESSAGE_SUITE_V2),
        (n, 1) if n == kOfxProgressSuite && config.progress_suite => p(&PROGRESS_SUITE_V1),
        (n, 2) if n == kOfxProgressSuite && config.progress_suite => p(&PROGRESS_SUITE_V2),
        (n, 1) if n == kOfxTimeLineSuite && config.timeline_suite => p(&timeline::TIME_LINE_SUITE),
        _ => None,
    }
}

/// `OfxHost::fetchSuite`.
unsafe extern "C" fn fetch_suite(
    host: OfxPropertySetHandle,
    name: *const c_char,
    version: c_int,
) -> *const c_void {
    guard_value("fetchSuite", std::ptr::null(), || {
        let Ok(shared) = registry::host(host as usize) else {
            return std::ptr::null();
        };
        // SAFETY: NULL or a NUL-terminated string per the API.
        let Some(name) = (unsafe { opt_cstr(name) }) else {
            shared
                .diag
                .violation("fetchSuite called with a NULL suite name");
            return std::ptr::null();
        };
        let suite = suite_for(&shared.config, name, version);
        lock(&shared.fetched).push(SuiteRequest {
            name: lossy(name),
            version,
            granted: suite.is_some(),
        });
        suite.unwrap_or(std::ptr::null())
    })
}
