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

/// `OfxGetPlugin` of the mock "binary".
pub unsafe extern "C" fn get_plugin(index: c_int) -> *mut OfxPlugin {
    if index == 0 {
        std::ptr::from_ref(&PLUGIN.0).cast_mut()
    } else {
        null_mut()
    }
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
        let ok = fetched.is_some();
        *SUITES.lock().unwrap_or_else(PoisonError::into_inner) = fetched;
        return if ok {
            kOfxStatOK
        } else {
            kOfxStatErrMissingHostFeature
        };
    }
    if action == kOfxActionUnload {
        *SUITES.lock().unwrap_or_else(PoisonError::into_inner) = None;
        return kOfxStatOK;
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
