//! A small generator plug-in compiled into the test, used to exercise the host: it reaches the
//! host only through the suites' C function pointers (including the variadic ones), exactly as
//! a plug-in binary would.
//!
//! Contexts Generator and General (with an optional Source clip); parameters "text" (string),
//! "count" (int), "gain" (double), "mode" (choice), "flag" (boolean), "colour" (RGBA), "go"
//! (push button) and "status" (string). Render writes r = gain, g = x / width, b = time / 10,
//! a = 1 into the window, rows split over the multi-thread suite when there is one. "go" runs
//! ten progress steps and writes "done" or "cancelled at N" to "status"; count 7 posts an
//! error message. It keeps its host in globals, so tests using it take [`MOCK_LOCK`].
//!
//! The same "binary" holds a second plug-in, a filter ([`FILTER_ID`], in [`filter`]), whose
//! behaviour tests choose with [`filter::FilterOptions`].

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ofx_sys::*;

/// Serialises tests that use the mock plug-in (it keeps its host in globals).
pub static MOCK_LOCK: Mutex<()> = Mutex::new(());

/// Takes [`MOCK_LOCK`].
pub fn exclusive() -> MutexGuard<'static, ()> {
    MOCK_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The mock's identifier.
pub const ID: &CStr = c"org.promptreel.test.Mock";

/// The mock filter's identifier (plug-in 1 of the binary).
pub const FILTER_ID: &CStr = c"org.promptreel.test.MockFilter";

static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(null_mut());

#[derive(Clone, Copy)]
struct Suites {
    prop: &'static OfxPropertySuiteV1,
    param: &'static OfxParameterSuiteV1,
    effect: &'static OfxImageEffectSuiteV1,
    message: Option<&'static OfxMessageSuiteV2>,
    progress: Option<&'static OfxProgressSuiteV2>,
    mt: Option<&'static OfxMultiThreadSuiteV1>,
}

static SUITES: Mutex<Option<Suites>> = Mutex::new(None);

fn suites() -> Suites {
    SUITES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .expect("the mock was loaded")
}

/// Fetches a suite as `T`.
///
/// # Safety
/// `T` must be the suite struct of that name and version.
unsafe fn fetch<T>(name: &CStr, version: c_int) -> Option<&'static T> {
    let host = HOST.load(Ordering::SeqCst);
    // SAFETY: the host pointer given to setHost outlives the plug-in.
    let host = unsafe { host.as_ref() }?;
    // SAFETY: the host's fetchSuite; the returned struct is static.
    unsafe {
        (host.fetchSuite?)(host.host, name.as_ptr(), version)
            .cast::<T>()
            .as_ref()
    }
}

unsafe extern "C" fn set_host(host: *mut OfxHost) {
    HOST.store(host, Ordering::SeqCst);
}

/// The plug-in struct; its pointers are to static strings.
struct StaticPlugin(OfxPlugin);
// SAFETY: the struct is immutable and points only at `'static` C string literals.
unsafe impl Sync for StaticPlugin {}

static PLUGIN: StaticPlugin = StaticPlugin(OfxPlugin {
    pluginApi: c"OfxImageEffectPluginAPI".as_ptr(),
    apiVersion: 1,
    pluginIdentifier: ID.as_ptr(),
    pluginVersionMajor: 1,
    pluginVersionMinor: 2,
    setHost: Some(set_host),
    mainEntry: Some(main_entry),
});

static FILTER_PLUGIN: StaticPlugin = StaticPlugin(OfxPlugin {
    pluginApi: c"OfxImageEffectPluginAPI".as_ptr(),
    apiVersion: 1,
    pluginIdentifier: FILTER_ID.as_ptr(),
    pluginVersionMajor: 2,
    pluginVersionMinor: 0,
    setHost: Some(set_host),
    mainEntry: Some(filter::main_entry),
});

/// `OfxGetPlugin` of the mock "binary": the generator, then the filter (open it with a count
/// of 2 to see both).
pub unsafe extern "C" fn get_plugin(index: c_int) -> *mut OfxPlugin {
    match index {
        0 => std::ptr::from_ref(&PLUGIN.0).cast_mut(),
        1 => std::ptr::from_ref(&FILTER_PLUGIN.0).cast_mut(),
        _ => null_mut(),
    }
}

/// How many of the binary's plug-ins are loaded: the suites are shared and dropped when the
/// last one unloads, as a real binary with several plug-ins must do.
static LOADS: Mutex<usize> = Mutex::new(0);

/// Load: fetches the suites (once per binary).
fn load() -> OfxStatus {
    // SAFETY: each name is fetched with its own struct type.
    let fetched = unsafe {
        match (
            fetch(kOfxPropertySuite, 1),
            fetch(kOfxParameterSuite, 1),
            fetch(kOfxImageEffectSuite, 1),
        ) {
            (Some(prop), Some(param), Some(effect)) => Some(Suites {
                prop,
                param,
                effect,
                message: fetch(kOfxMessageSuite, 2),
                progress: fetch(kOfxProgressSuite, 2),
                mt: fetch(kOfxMultiThreadSuite, 1),
            }),
            _ => None,
        }
    };
    let Some(fetched) = fetched else {
        return kOfxStatErrMissingHostFeature;
    };
    *SUITES.lock().unwrap_or_else(PoisonError::into_inner) = Some(fetched);
    *LOADS.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    kOfxStatOK
}

/// Unload: drops the suites when no plug-in of the binary stays loaded.
fn unload() -> OfxStatus {
    let mut loads = LOADS.lock().unwrap_or_else(PoisonError::into_inner);
    *loads = loads.saturating_sub(1);
    if *loads == 0 {
        *SUITES.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
    kOfxStatOK
}

// ---------------------------------------------------------------------------------------------
// Small wrappers over the suites (each is one C call; all unsafe by nature)
// ---------------------------------------------------------------------------------------------

fn set_str(p: OfxPropertySetHandle, name: &CStr, i: c_int, v: &CStr) -> OfxStatus {
    // SAFETY: a property suite call with valid strings.
    unsafe { (suites().prop.propSetString.unwrap())(p, name.as_ptr(), i, v.as_ptr()) }
}

fn set_int(p: OfxPropertySetHandle, name: &CStr, i: c_int, v: c_int) -> OfxStatus {
    // SAFETY: a property suite call with a valid string.
    unsafe { (suites().prop.propSetInt.unwrap())(p, name.as_ptr(), i, v) }
}

fn set_dbl(p: OfxPropertySetHandle, name: &CStr, i: c_int, v: f64) -> OfxStatus {
    // SAFETY: a property suite call with a valid string.
    unsafe { (suites().prop.propSetDouble.unwrap())(p, name.as_ptr(), i, v) }
}

fn get_int(p: OfxPropertySetHandle, name: &CStr, i: c_int) -> c_int {
    let mut v = 0;
    // SAFETY: a property suite call with a valid string and out pointer.
    unsafe { (suites().prop.propGetInt.unwrap())(p, name.as_ptr(), i, &mut v) };
    v
}

fn get_dbl(p: OfxPropertySetHandle, name: &CStr, i: c_int) -> f64 {
    let mut v = 0.0;
    // SAFETY: as above.
    unsafe { (suites().prop.propGetDouble.unwrap())(p, name.as_ptr(), i, &mut v) };
    v
}

fn get_str(p: OfxPropertySetHandle, name: &CStr, i: c_int) -> String {
    let mut v: *mut c_char = null_mut();
    // SAFETY: as above; the host owns the returned string.
    let st = unsafe { (suites().prop.propGetString.unwrap())(p, name.as_ptr(), i, &mut v) };
    if st != kOfxStatOK || v.is_null() {
        return String::new();
    }
    // SAFETY: a host string, valid while we read it.
    unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
}

fn get_ptr(p: OfxPropertySetHandle, name: &CStr) -> *mut c_void {
    let mut v = null_mut();
    // SAFETY: as above.
    unsafe { (suites().prop.propGetPointer.unwrap())(p, name.as_ptr(), 0, &mut v) };
    v
}

fn effect_props(e: OfxImageEffectHandle) -> OfxPropertySetHandle {
    let mut p = null_mut();
    // SAFETY: an image effect suite call with an out pointer.
    unsafe { (suites().effect.getPropertySet.unwrap())(e, &mut p) };
    p
}

fn param(e: OfxImageEffectHandle, name: &CStr) -> OfxParamHandle {
    let s = suites();
    let (mut set, mut h) = (null_mut(), null_mut());
    // SAFETY: suite calls with out pointers; a NULL property-set out pointer is allowed.
    unsafe {
        (s.effect.getParamSet.unwrap())(e, &mut set);
        (s.param.paramGetHandle.unwrap())(set, name.as_ptr(), &mut h, null_mut());
    }
    h
}

fn param_int(e: OfxImageEffectHandle, name: &CStr, time: f64) -> c_int {
    let mut v: c_int = 0;
    // SAFETY: the variadic getter with one int pointer, as for int parameters.
    unsafe {
        (suites().param.paramGetValueAtTime.unwrap())(param(e, name), time, &mut v as *mut c_int)
    };
    v
}

fn param_dbl(e: OfxImageEffectHandle, name: &CStr, time: f64) -> f64 {
    let mut v = 0.0f64;
    // SAFETY: the variadic getter with one double pointer, as for double parameters.
    unsafe {
        (suites().param.paramGetValueAtTime.unwrap())(param(e, name), time, &mut v as *mut f64)
    };
    v
}

fn set_status(e: OfxImageEffectHandle, text: &str) {
    let text = CString::new(text).expect("no NUL");
    // SAFETY: the variadic setter with one C string, as for string parameters.
    unsafe { (suites().param.paramSetValue.unwrap())(param(e, c"status"), text.as_ptr()) };
}

fn define(set: OfxParamSetHandle, ty: &CStr, name: &CStr) -> OfxPropertySetHandle {
    let mut props = null_mut();
    // SAFETY: paramDefine with valid strings and an out pointer.
    unsafe { (suites().param.paramDefine.unwrap())(set, ty.as_ptr(), name.as_ptr(), &mut props) };
    props
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

unsafe extern "C" fn main_entry(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: the host passes a valid action string.
    let action = unsafe { CStr::from_ptr(action) };
    let e: OfxImageEffectHandle = handle.cast_mut().cast();
    if action == kOfxActionLoad {
        return load();
    }
    if action == kOfxActionUnload {
        return unload();
    }
    if action == kOfxActionDescribe {
        return describe(e);
    }
    if action == kOfxImageEffectActionDescribeInContext {
        return describe_in_context(e, &get_str(in_args, kOfxImageEffectPropContext, 0));
    }
    if action == kOfxActionCreateInstance {
        let data = Box::into_raw(Box::new(0u64));
        // SAFETY: a property suite call.
        unsafe {
            (suites().prop.propSetPointer.unwrap())(
                effect_props(e),
                kOfxPropInstanceData.as_ptr(),
                0,
                data.cast(),
            )
        };
        return kOfxStatOK;
    }
    if action == kOfxActionDestroyInstance {
        let data = get_ptr(effect_props(e), kOfxPropInstanceData);
        // SAFETY: the box made in CreateInstance.
        drop(unsafe { Box::from_raw(data.cast::<u64>()) });
        return kOfxStatOK;
    }
    if action == kOfxActionInstanceChanged {
        return instance_changed(e, &get_str(in_args, kOfxPropName, 0));
    }
    if action == kOfxImageEffectActionGetClipPreferences {
        set_int(out_args, kOfxImageEffectFrameVarying, 0, 1);
        return kOfxStatOK;
    }
    if action == kOfxImageEffectActionGetRegionOfDefinition {
        for (i, v) in [0.0, 0.0, 64.0, 48.0].into_iter().enumerate() {
            set_dbl(
                out_args,
                kOfxImageEffectPropRegionOfDefinition,
                i as c_int,
                v,
            );
        }
        return kOfxStatOK;
    }
    if action == kOfxImageEffectActionGetTimeDomain {
        let count = param_int(e, c"count", 0.0);
        set_dbl(out_args, kOfxImageEffectPropFrameRange, 0, 0.0);
        set_dbl(
            out_args,
            kOfxImageEffectPropFrameRange,
            1,
            f64::from(count - 1),
        );
        return kOfxStatOK;
    }
    if action == kOfxImageEffectActionRender {
        return render(e, in_args);
    }
    kOfxStatReplyDefault
}

fn describe(e: OfxImageEffectHandle) -> OfxStatus {
    let p = effect_props(e);
    set_str(p, kOfxPropLabel, 0, c"Mock");
    set_str(p, kOfxImageEffectPluginPropGrouping, 0, c"Test");
    set_str(
        p,
        kOfxImageEffectPropSupportedContexts,
        0,
        kOfxImageEffectContextGenerator,
    );
    set_str(
        p,
        kOfxImageEffectPropSupportedContexts,
        1,
        kOfxImageEffectContextGeneral,
    );
    let depths = [
        kOfxBitDepthFloat.as_ptr(),
        kOfxBitDepthShort.as_ptr(),
        kOfxBitDepthByte.as_ptr(),
    ];
    // SAFETY: three valid strings.
    unsafe {
        (suites().prop.propSetStringN.unwrap())(
            p,
            kOfxImageEffectPropSupportedPixelDepths.as_ptr(),
            3,
            depths.as_ptr(),
        )
    };
    set_str(
        p,
        kOfxImageEffectPluginRenderThreadSafety,
        0,
        kOfxImageEffectRenderFullySafe,
    );
    // A 1.5 property this host does not know: must answer ErrUnknown, not crash.
    let unknown = set_str(p, kOfxImageEffectPropCudaRenderSupported, 0, c"false");
    if unknown != kOfxStatErrUnknown {
        return kOfxStatFailed;
    }
    kOfxStatOK
}

fn describe_in_context(e: OfxImageEffectHandle, context: &str) -> OfxStatus {
    let s = suites();
    let mut clip = null_mut();
    // SAFETY: clipDefine with a valid name and out pointer.
    unsafe { (s.effect.clipDefine.unwrap())(e, c"Output".as_ptr(), &mut clip) };
    set_str(
        clip,
        kOfxImageEffectPropSupportedComponents,
        0,
        kOfxImageComponentRGBA,
    );
    if context == kOfxImageEffectContextGeneral.to_str().unwrap() {
        // SAFETY: as above.
        unsafe { (s.effect.clipDefine.unwrap())(e, c"Source".as_ptr(), &mut clip) };
        set_int(clip, kOfxImageClipPropOptional, 0, 1);
    }
    let mut set = null_mut();
    // SAFETY: getParamSet with an out pointer.
    unsafe { (s.effect.getParamSet.unwrap())(e, &mut set) };
    let p = define(set, kOfxParamTypeString, c"text");
    set_str(p, kOfxParamPropDefault, 0, c"hi");
    let p = define(set, kOfxParamTypeInteger, c"count");
    set_int(p, kOfxParamPropDefault, 0, 3);
    set_int(p, kOfxParamPropMin, 0, 0);
    set_int(p, kOfxParamPropMax, 0, 10);
    let p = define(set, kOfxParamTypeDouble, c"gain");
    set_dbl(p, kOfxParamPropDefault, 0, 0.5);
    let p = define(set, kOfxParamTypeChoice, c"mode");
    set_str(p, kOfxParamPropChoiceOption, 0, c"a");
    set_str(p, kOfxParamPropChoiceOption, 1, c"b");
    define(set, kOfxParamTypeBoolean, c"flag");
    let p = define(set, kOfxParamTypeRGBA, c"colour");
    for (i, v) in [0.1, 0.2, 0.3, 0.4].into_iter().enumerate() {
        set_dbl(p, kOfxParamPropDefault, i as c_int, v);
    }
    define(set, kOfxParamTypePushButton, c"go");
    let p = define(set, kOfxParamTypeString, c"status");
    set_int(p, kOfxParamPropEnabled, 0, 0);
    kOfxStatOK
}

fn instance_changed(e: OfxImageEffectHandle, name: &str) -> OfxStatus {
    let s = suites();
    let h: *mut c_void = e.cast();
    match name {
        "go" => {
            let Some(progress) = s.progress else {
                set_status(e, "done");
                return kOfxStatOK;
            };
            // SAFETY: progress suite calls with an instance handle and valid strings.
            unsafe {
                (progress.progressStart.unwrap())(h, c"Working".as_ptr(), c"mock.go".as_ptr())
            };
            let mut result = String::from("done");
            for step in 1..=10 {
                // SAFETY: as above.
                let reply =
                    unsafe { (progress.progressUpdate.unwrap())(h, f64::from(step) / 10.0) };
                if reply == kOfxStatReplyNo {
                    result = format!("cancelled at {step}");
                    break;
                }
            }
            // SAFETY: as above.
            unsafe { (progress.progressEnd.unwrap())(h) };
            set_status(e, &result);
        }
        "count" if param_int(e, c"count", 0.0) == 7 => {
            if let Some(m) = s.message {
                // SAFETY: the variadic message call with a format and its arguments.
                unsafe {
                    (m.message.unwrap())(
                        h,
                        kOfxMessageError.as_ptr(),
                        c"mock.count".as_ptr(),
                        c"count %d is bad: %s".as_ptr(),
                        7 as c_int,
                        c"seven".as_ptr(),
                    );
                    (m.setPersistentMessage.unwrap())(
                        h,
                        kOfxMessageError.as_ptr(),
                        null_mut::<c_char>(),
                        c"%s".as_ptr(),
                        c"persistent seven".as_ptr(),
                    );
                }
            }
            set_status(e, "error");
            return kOfxStatFailed;
        }
        "count" => {
            if let Some(m) = s.message {
                // SAFETY: as above.
                unsafe { (m.clearPersistentMessage.unwrap())(h) };
            }
        }
        _ => {}
    }
    kOfxStatOK
}

/// What a render's worker threads need.
struct Job {
    data: *mut u8,
    row_bytes: isize,
    bounds: [c_int; 4],
    window: [c_int; 4],
    depth: String,
    pixel: [f32; 4],
    width: f32,
    effect: OfxImageEffectHandle,
    aborted: std::sync::atomic::AtomicBool,
}

/// Writes rows `index`, `index + count`, ... of the window.
unsafe extern "C" fn work(index: c_uint, count: c_uint, arg: *mut c_void) {
    // SAFETY: `arg` is the Job of the render that called multiThread.
    let job = unsafe { &*arg.cast::<Job>() };
    let [x1, y1, x2, y2] = job.window;
    let mut y = y1 + index as c_int;
    while y < y2 {
        // SAFETY: the image effect suite's abort with the instance handle.
        if unsafe { (suites().effect.abort.unwrap())(job.effect) } != 0 {
            job.aborted.store(true, Ordering::SeqCst);
            return;
        }
        for x in x1..x2 {
            let mut px = job.pixel;
            px[1] = x as f32 / job.width;
            let offset = (y - job.bounds[1]) as isize * job.row_bytes;
            // SAFETY: (x, y) is inside the image bounds the host gave.
            unsafe {
                let row = job.data.offset(offset);
                match job.depth.as_str() {
                    "OfxBitDepthFloat" => {
                        let p = row.cast::<f32>().offset(((x - job.bounds[0]) * 4) as isize);
                        for (c, v) in px.iter().enumerate() {
                            p.add(c).write_unaligned(*v);
                        }
                    }
                    "OfxBitDepthShort" => {
                        let p = row.cast::<u16>().offset(((x - job.bounds[0]) * 4) as isize);
                        for (c, v) in px.iter().enumerate() {
                            p.add(c)
                                .write_unaligned((v.clamp(0.0, 1.0) * 65535.0).round() as u16);
                        }
                    }
                    _ => {
                        let p = row.offset(((x - job.bounds[0]) * 4) as isize);
                        for (c, v) in px.iter().enumerate() {
                            p.add(c).write((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                        }
                    }
                }
            }
        }
        y += count as c_int;
    }
}

fn render(e: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxStatus {
    let s = suites();
    let time = get_dbl(in_args, kOfxPropTime, 0);
    let window = [0, 1, 2, 3].map(|i| get_int(in_args, kOfxImageEffectPropRenderWindow, i));
    let (mut clip, mut image) = (null_mut(), null_mut());
    // SAFETY: image effect suite calls with valid names and out pointers.
    unsafe {
        (s.effect.clipGetHandle.unwrap())(e, c"Output".as_ptr(), &mut clip, null_mut());
        let st = (s.effect.clipGetImage.unwrap())(clip, time, std::ptr::null(), &mut image);
        if st != kOfxStatOK {
            return st;
        }
    }
    let scale = get_dbl(image, kOfxImageEffectPropRenderScale, 0);
    let job = Job {
        data: get_ptr(image, kOfxImagePropData).cast(),
        row_bytes: get_int(image, kOfxImagePropRowBytes, 0) as isize,
        bounds: [0, 1, 2, 3].map(|i| get_int(image, kOfxImagePropBounds, i)),
        window,
        depth: get_str(image, kOfxImageEffectPropPixelDepth, 0),
        pixel: [
            param_dbl(e, c"gain", time) as f32,
            0.0,
            (time / 10.0) as f32,
            1.0,
        ],
        width: (64.0 * scale) as f32,
        effect: e,
        aborted: false.into(),
    };
    let arg = std::ptr::from_ref(&job).cast_mut().cast();
    match s.mt {
        // SAFETY: multiThread with our worker and the job, which outlives the call.
        Some(mt) => unsafe {
            (mt.multiThread.unwrap())(Some(work), 3, arg);
        },
        // SAFETY: as above, on this thread.
        None => unsafe { work(0, 1, arg) },
    }
    // SAFETY: releasing the image we fetched.
    unsafe { (s.effect.clipReleaseImage.unwrap())(image) };
    if job.aborted.load(Ordering::SeqCst) {
        return kOfxStatFailed;
    }
    kOfxStatOK
}

// ---------------------------------------------------------------------------------------------
// The filter
// ---------------------------------------------------------------------------------------------

pub mod filter {
    //! A filter (context Filter: Source and Output) that copies Source at the render time
    //! into Output times "gain", or with temporal averaging the mean of Source at T-1, T and
    //! T+1 (those that exist). Parameters "gain" (double, 1), "analyse" (push button: fetches
    //! Source at time 0 outside any render and writes its pixel (0, 0) red to "status") and
    //! "status". What it declares and does is set with [`FilterOptions`] before Describe.

    use std::collections::HashMap;
    use std::ffi::{CStr, c_char, c_int, c_void};
    use std::ptr::null_mut;
    use std::sync::{Mutex, PoisonError};

    use ofx_sys::*;

    use super::{
        effect_props, get_dbl, get_int, get_ptr, get_str, param_dbl, set_dbl, set_int, set_status,
        set_str, suites,
    };

    /// Where the filter declares temporal clip access.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub enum Temporal {
        /// Not at all.
        #[default]
        No,
        /// `kOfxImageEffectPropTemporalClipAccess` on the effect descriptor.
        OnEffect,
        /// On the Source clip descriptor only.
        OnClip,
    }

    /// The filter's behaviour (global: tests using it hold the mock lock).
    #[derive(Clone, Copy, Debug, Default)]
    pub struct FilterOptions {
        /// What it declares.
        pub temporal: Temporal,
        /// Average Source at T-1..T+1 (whatever was declared).
        pub average: bool,
        /// Define no Source clip in the Filter context (against the specification).
        pub skip_source: bool,
        /// `kOfxImageEffectPropSupportsMultipleClipDepths`.
        pub multiple_depths: bool,
        /// Ask for this depth on Source in GetClipPreferences.
        pub source_depth: Option<&'static CStr>,
        /// Reply default to GetFramesNeeded.
        pub frames_needed_default: bool,
        /// Keep fetched Source frames by time (and scale) until InstanceChanged or
        /// PurgeCaches, instead of fetching them for every render.
        pub cache: bool,
        /// Never release the image "analyse" fetched.
        pub leak_analysis: bool,
    }

    impl FilterOptions {
        /// Declares temporal access on the effect and averages three frames.
        pub fn temporal() -> Self {
            Self {
                temporal: Temporal::OnEffect,
                average: true,
                multiple_depths: true,
                ..Self::default()
            }
        }

        /// Copies the frame at T; supports mixed clip depths.
        pub fn plain() -> Self {
            Self {
                multiple_depths: true,
                ..Self::default()
            }
        }
    }

    /// Starts as `FilterOptions::default()`.
    static OPTIONS: Mutex<FilterOptions> = Mutex::new(FilterOptions {
        temporal: Temporal::No,
        average: false,
        skip_source: false,
        multiple_depths: false,
        source_depth: None,
        frames_needed_default: false,
        cache: false,
        leak_analysis: false,
    });

    /// Sets the filter's behaviour (before Describe, for what it declares).
    pub fn set_options(options: FilterOptions) {
        *OPTIONS.lock().unwrap_or_else(PoisonError::into_inner) = options;
    }

    fn options() -> FilterOptions {
        *OPTIONS.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Source frames kept by the cache: (time, scale) in thousandths -> frame.
    type Cache = Mutex<HashMap<(i64, i64), Frame>>;

    /// A copy of an image's pixels.
    #[derive(Clone)]
    struct Frame {
        bounds: [c_int; 4],
        pixels: Vec<[f32; 4]>,
    }

    impl Frame {
        fn at(&self, x: c_int, y: c_int) -> Option<[f32; 4]> {
            let [x1, y1, x2, y2] = self.bounds;
            if x < x1 || x >= x2 || y < y1 || y >= y2 {
                return None;
            }
            Some(self.pixels[((y - y1) * (x2 - x1) + (x - x1)) as usize])
        }
    }

    /// An image handle's memory.
    struct View {
        data: *mut u8,
        row_bytes: isize,
        bounds: [c_int; 4],
        depth: String,
    }

    impl View {
        fn of(image: OfxPropertySetHandle) -> Self {
            Self {
                data: get_ptr(image, kOfxImagePropData).cast(),
                row_bytes: get_int(image, kOfxImagePropRowBytes, 0) as isize,
                bounds: [0, 1, 2, 3].map(|i| get_int(image, kOfxImagePropBounds, i)),
                depth: get_str(image, kOfxImageEffectPropPixelDepth, 0),
            }
        }

        /// Address of channel 0 of (x, y), inside the bounds.
        fn address(&self, x: c_int, y: c_int) -> *mut u8 {
            let channel = match self.depth.as_str() {
                "OfxBitDepthFloat" => 4,
                "OfxBitDepthShort" => 2,
                _ => 1,
            };
            let column = ((x - self.bounds[0]) * 4 * channel) as isize;
            // SAFETY: (x, y) is inside the bounds of the image the host gave.
            unsafe {
                self.data
                    .offset((y - self.bounds[1]) as isize * self.row_bytes + column)
            }
        }

        fn read(&self) -> Frame {
            let [x1, y1, x2, y2] = self.bounds;
            let mut pixels = Vec::new();
            for y in y1..y2 {
                for x in x1..x2 {
                    let p = self.address(x, y);
                    // SAFETY: a whole pixel at `p` inside the image.
                    pixels.push(std::array::from_fn(|c| unsafe {
                        match self.depth.as_str() {
                            "OfxBitDepthFloat" => p.cast::<f32>().add(c).read_unaligned(),
                            "OfxBitDepthShort" => {
                                f32::from(p.cast::<u16>().add(c).read_unaligned()) / 65535.0
                            }
                            _ => f32::from(p.add(c).read()) / 255.0,
                        }
                    }));
                }
            }
            Frame {
                bounds: self.bounds,
                pixels,
            }
        }

        fn write(&self, x: c_int, y: c_int, px: [f32; 4]) {
            let p = self.address(x, y);
            for (c, v) in px.into_iter().enumerate() {
                // SAFETY: a whole pixel at `p` inside the image.
                unsafe {
                    match self.depth.as_str() {
                        "OfxBitDepthFloat" => p.cast::<f32>().add(c).write_unaligned(v),
                        "OfxBitDepthShort" => p
                            .cast::<u16>()
                            .add(c)
                            .write_unaligned((v.clamp(0.0, 1.0) * 65535.0).round() as u16),
                        _ => p.add(c).write((v.clamp(0.0, 1.0) * 255.0).round() as u8),
                    }
                }
            }
        }
    }

    fn clip(e: OfxImageEffectHandle, name: &CStr) -> OfxImageClipHandle {
        let mut clip = null_mut();
        // SAFETY: clipGetHandle with a valid name and out pointer.
        unsafe {
            (suites().effect.clipGetHandle.unwrap())(e, name.as_ptr(), &mut clip, null_mut())
        };
        clip
    }

    fn clip_props(clip: OfxImageClipHandle) -> OfxPropertySetHandle {
        let mut props = null_mut();
        // SAFETY: clipGetPropertySet with an out pointer.
        unsafe { (suites().effect.clipGetPropertySet.unwrap())(clip, &mut props) };
        props
    }

    fn image(clip: OfxImageClipHandle, time: f64) -> Result<OfxPropertySetHandle, OfxStatus> {
        let mut image = null_mut();
        // SAFETY: clipGetImage with an out pointer and no region.
        let st = unsafe {
            (suites().effect.clipGetImage.unwrap())(clip, time, std::ptr::null(), &mut image)
        };
        if st == kOfxStatOK { Ok(image) } else { Err(st) }
    }

    fn release(image: OfxPropertySetHandle) {
        // SAFETY: an image this plug-in fetched.
        unsafe { (suites().effect.clipReleaseImage.unwrap())(image) };
    }

    fn cache(e: OfxImageEffectHandle) -> &'static Cache {
        let data = get_ptr(effect_props(e), kOfxPropInstanceData);
        // SAFETY: the box made in CreateInstance, alive until DestroyInstance.
        unsafe { &*data.cast::<Cache>() }
    }

    fn key(time: f64, scale: f64) -> (i64, i64) {
        (
            (time * 1000.0).round() as i64,
            (scale * 1000.0).round() as i64,
        )
    }

    /// The filter's `mainEntry`.
    pub(super) unsafe extern "C" fn main_entry(
        action: *const c_char,
        handle: *const c_void,
        in_args: OfxPropertySetHandle,
        out_args: OfxPropertySetHandle,
    ) -> OfxStatus {
        // SAFETY: the host passes a valid action string.
        let action = unsafe { CStr::from_ptr(action) };
        let e: OfxImageEffectHandle = handle.cast_mut().cast();
        let o = options();
        if action == kOfxActionLoad {
            return super::load();
        }
        if action == kOfxActionUnload {
            return super::unload();
        }
        if action == kOfxActionDescribe {
            return describe(e, &o);
        }
        if action == kOfxImageEffectActionDescribeInContext {
            return describe_in_context(e, &o);
        }
        if action == kOfxActionCreateInstance {
            let data = Box::into_raw(Box::new(Cache::default()));
            // SAFETY: a property suite call.
            unsafe {
                (suites().prop.propSetPointer.unwrap())(
                    effect_props(e),
                    kOfxPropInstanceData.as_ptr(),
                    0,
                    data.cast(),
                )
            };
            return kOfxStatOK;
        }
        if action == kOfxActionDestroyInstance {
            let data = get_ptr(effect_props(e), kOfxPropInstanceData);
            // SAFETY: the box made in CreateInstance.
            drop(unsafe { Box::from_raw(data.cast::<Cache>()) });
            return kOfxStatOK;
        }
        if action == kOfxActionPurgeCaches {
            cache(e)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            return kOfxStatOK;
        }
        if action == kOfxActionInstanceChanged {
            cache(e)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            if get_str(in_args, kOfxPropName, 0) == "analyse" {
                return analyse(e, &o);
            }
            return kOfxStatOK;
        }
        if action == kOfxImageEffectActionGetClipPreferences {
            if let Some(depth) = o.source_depth {
                set_str(out_args, c"OfxImageClipPropDepth_Source", 0, depth);
            }
            return kOfxStatOK;
        }
        if action == kOfxImageEffectActionGetFramesNeeded {
            if o.frames_needed_default {
                return kOfxStatReplyDefault;
            }
            let time = get_dbl(in_args, kOfxPropTime, 0);
            let props = clip_props(clip(e, c"Source"));
            let (first, last) = (
                get_dbl(props, kOfxImageEffectPropFrameRange, 0),
                get_dbl(props, kOfxImageEffectPropFrameRange, 1),
            );
            let (from, to) = if o.average {
                ((time - 1.0).max(first), (time + 1.0).min(last))
            } else {
                (time, time)
            };
            let key = c"OfxImageClipPropFrameRange_Source";
            set_dbl(out_args, key, 0, from);
            set_dbl(out_args, key, 1, to);
            return kOfxStatOK;
        }
        if action == kOfxImageEffectActionRender {
            return render(e, in_args, &o);
        }
        kOfxStatReplyDefault
    }

    fn describe(e: OfxImageEffectHandle, o: &FilterOptions) -> OfxStatus {
        let p = effect_props(e);
        set_str(p, kOfxPropLabel, 0, c"Mock filter");
        set_str(
            p,
            kOfxImageEffectPropSupportedContexts,
            0,
            kOfxImageEffectContextFilter,
        );
        for (i, d) in [kOfxBitDepthFloat, kOfxBitDepthShort, kOfxBitDepthByte]
            .into_iter()
            .enumerate()
        {
            set_str(p, kOfxImageEffectPropSupportedPixelDepths, i as c_int, d);
        }
        set_int(
            p,
            kOfxImageEffectPropSupportsMultipleClipDepths,
            0,
            c_int::from(o.multiple_depths),
        );
        set_int(
            p,
            kOfxImageEffectPropTemporalClipAccess,
            0,
            c_int::from(o.temporal == Temporal::OnEffect),
        );
        set_str(
            p,
            kOfxImageEffectPluginRenderThreadSafety,
            0,
            kOfxImageEffectRenderFullySafe,
        );
        kOfxStatOK
    }

    fn describe_in_context(e: OfxImageEffectHandle, o: &FilterOptions) -> OfxStatus {
        let s = suites();
        let mut clip = null_mut();
        // SAFETY: clipDefine with a valid name and out pointer.
        unsafe { (s.effect.clipDefine.unwrap())(e, c"Output".as_ptr(), &mut clip) };
        set_str(
            clip,
            kOfxImageEffectPropSupportedComponents,
            0,
            kOfxImageComponentRGBA,
        );
        if !o.skip_source {
            // SAFETY: as above.
            unsafe { (s.effect.clipDefine.unwrap())(e, c"Source".as_ptr(), &mut clip) };
            set_str(
                clip,
                kOfxImageEffectPropSupportedComponents,
                0,
                kOfxImageComponentRGBA,
            );
            set_int(
                clip,
                kOfxImageEffectPropTemporalClipAccess,
                0,
                c_int::from(o.temporal == Temporal::OnClip),
            );
        }
        let mut set = null_mut();
        // SAFETY: getParamSet with an out pointer.
        unsafe { (s.effect.getParamSet.unwrap())(e, &mut set) };
        let p = super::define(set, kOfxParamTypeDouble, c"gain");
        set_dbl(p, kOfxParamPropDefault, 0, 1.0);
        super::define(set, kOfxParamTypePushButton, c"analyse");
        super::define(set, kOfxParamTypeString, c"status");
        kOfxStatOK
    }

    /// Fetches Source at time 0 outside any render.
    fn analyse(e: OfxImageEffectHandle, o: &FilterOptions) -> OfxStatus {
        let Ok(img) = image(clip(e, c"Source"), 0.0) else {
            set_status(e, "no source");
            return kOfxStatOK;
        };
        let frame = View::of(img).read();
        let red = frame.at(0, 0).map_or(-1.0, |p| p[0]);
        set_status(e, &format!("red {red:.3}"));
        if !o.leak_analysis {
            release(img);
        }
        kOfxStatOK
    }

    /// Source at `time` (from the cache when it keeps frames), None where there is none.
    fn source(
        e: OfxImageEffectHandle,
        time: f64,
        scale: f64,
        o: &FilterOptions,
    ) -> Result<Frame, OfxStatus> {
        let key = key(time, scale);
        if o.cache {
            let kept = cache(e).lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(frame) = kept.get(&key) {
                return Ok(frame.clone());
            }
        }
        let img = image(clip(e, c"Source"), time)?;
        let frame = View::of(img).read();
        release(img);
        if o.cache {
            cache(e)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, frame.clone());
        }
        Ok(frame)
    }

    fn render(
        e: OfxImageEffectHandle,
        in_args: OfxPropertySetHandle,
        o: &FilterOptions,
    ) -> OfxStatus {
        let time = get_dbl(in_args, kOfxPropTime, 0);
        let scale = get_dbl(in_args, kOfxImageEffectPropRenderScale, 0);
        let window = [0, 1, 2, 3].map(|i| get_int(in_args, kOfxImageEffectPropRenderWindow, i));
        let gain = param_dbl(e, c"gain", time) as f32;
        let times: &[f64] = if o.average {
            &[time - 1.0, time, time + 1.0]
        } else {
            &[time]
        };
        let mut frames = Vec::new();
        for &t in times {
            match source(e, t, scale, o) {
                Ok(frame) => frames.push(frame),
                Err(st) if t == time => return st,
                Err(_) => {}
            }
        }
        let out = match image(clip(e, c"Output"), time) {
            Ok(img) => img,
            Err(st) => return st,
        };
        let view = View::of(out);
        let [x1, y1, x2, y2] = window;
        for y in y1..y2 {
            for x in x1..x2 {
                let mut sum = [0.0f32; 4];
                for f in &frames {
                    let px = f.at(x, y).unwrap_or([0.0; 4]);
                    for c in 0..4 {
                        sum[c] += px[c];
                    }
                }
                let n = frames.len() as f32;
                let px = [
                    sum[0] / n * gain,
                    sum[1] / n * gain,
                    sum[2] / n * gain,
                    sum[3] / n,
                ];
                view.write(x, y, px);
            }
        }
        release(out);
        kOfxStatOK
    }
}
