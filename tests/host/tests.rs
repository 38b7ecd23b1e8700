//! Unit tests of the host machinery: each suite called through its C function pointers, as a
//! plug-in would (including the variadic ones, called variadically from Rust).

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::ptr::null_mut;
use std::sync::Arc;

use ofx_sys::*;

use super::app::{Host, HostConfig};
use super::effect::{Effect, EffectKind, Runtime};
use super::message::{MESSAGE_SUITE_V2, format};
use super::param_suite::PARAMETER_SUITE;
use super::params::{ParamSet, ParamType, Value};
use super::prop_schema::Def;
use super::property_suite::PROPERTY_SUITE;
use super::props::{Access, Dim, PropValue, PropertySet};
use super::registry::{self, Object};

fn set_handle(set: &Arc<PropertySet>) -> OfxPropertySetHandle {
    Arc::as_ptr(set).cast_mut().cast()
}

fn test_set(host: &Host) -> Arc<PropertySet> {
    let set = Arc::new(PropertySet::new(
        "test set",
        false,
        host.shared.diag.clone(),
    ));
    Def::new(&set)
        .str1(c"s", "one")
        .int_n(c"i4", &[1, 2, 3, 4])
        .dbl_var(c"dv", &[])
        .ptr1(c"p")
        .ro()
        .int1(c"ro", 5);
    registry::register(Object::Props(set.clone()));
    set
}

#[test]
fn property_suite_reads_writes_and_reports_errors() {
    let host = Host::new(HostConfig::natron_like());
    let set = test_set(&host);
    let h = set_handle(&set);
    let s = &PROPERTY_SUITE;
    // SAFETY: every call passes valid strings and out pointers of the right type.
    unsafe {
        let mut v: *mut c_char = null_mut();
        assert_eq!(
            s.propGetString.unwrap()(h, c"s".as_ptr(), 0, &mut v),
            kOfxStatOK
        );
        assert_eq!(CStr::from_ptr(v), c"one");
        assert_eq!(
            s.propSetString.unwrap()(h, c"s".as_ptr(), 0, c"two".as_ptr()),
            kOfxStatOK
        );
        // The old pointer stays readable (retired, not freed).
        assert_eq!(CStr::from_ptr(v), c"one");
        assert_eq!(set.str(c"s").as_deref(), Some("two"));

        let mut i = 0;
        assert_eq!(
            s.propGetInt.unwrap()(h, c"i4".as_ptr(), 3, &mut i),
            kOfxStatOK
        );
        assert_eq!(i, 4);
        assert_eq!(
            s.propGetInt.unwrap()(h, c"i4".as_ptr(), 4, &mut i),
            kOfxStatErrBadIndex
        );
        assert_eq!(
            s.propGetInt.unwrap()(h, c"i4".as_ptr(), -1, &mut i),
            kOfxStatErrBadIndex
        );
        assert_eq!(
            s.propSetInt.unwrap()(h, c"i4".as_ptr(), 4, 9),
            kOfxStatErrBadIndex
        );
        let mut four = [0; 4];
        assert_eq!(
            s.propGetIntN.unwrap()(h, c"i4".as_ptr(), 4, four.as_mut_ptr()),
            kOfxStatOK
        );
        assert_eq!(four, [1, 2, 3, 4]);
        assert_eq!(
            s.propSetIntN.unwrap()(h, c"i4".as_ptr(), 2, [7, 8].as_ptr()),
            kOfxStatOK
        );
        assert_eq!(set.ints(c"i4"), Some(vec![7, 8, 3, 4]));
        assert_eq!(s.propReset.unwrap()(h, c"i4".as_ptr()), kOfxStatOK);
        assert_eq!(set.ints(c"i4"), Some(vec![1, 2, 3, 4]));

        // Variable dimension: append by index == dimension only.
        let mut n = -1;
        assert_eq!(
            s.propGetDimension.unwrap()(h, c"dv".as_ptr(), &mut n),
            kOfxStatOK
        );
        assert_eq!(n, 0);
        assert_eq!(
            s.propSetDouble.unwrap()(h, c"dv".as_ptr(), 0, 1.5),
            kOfxStatOK
        );
        assert_eq!(
            s.propSetDouble.unwrap()(h, c"dv".as_ptr(), 2, 1.5),
            kOfxStatErrBadIndex
        );
        assert_eq!(
            s.propSetDoubleN.unwrap()(h, c"dv".as_ptr(), 3, [1.0, 2.0, 3.0].as_ptr()),
            kOfxStatOK
        );
        assert_eq!(
            s.propGetDimension.unwrap()(h, c"dv".as_ptr(), &mut n),
            kOfxStatOK
        );
        assert_eq!(n, 3);

        let mut p: *mut c_void = null_mut();
        let target = 0x1234usize as *mut c_void;
        assert_eq!(
            s.propSetPointer.unwrap()(h, c"p".as_ptr(), 0, target),
            kOfxStatOK
        );
        assert_eq!(
            s.propGetPointer.unwrap()(h, c"p".as_ptr(), 0, &mut p),
            kOfxStatOK
        );
        assert_eq!(p, target);

        // Unknown property, wrong type, read-only, NULLs, bad handles.
        assert_eq!(
            s.propGetInt.unwrap()(h, c"nope".as_ptr(), 0, &mut i),
            kOfxStatErrUnknown
        );
        assert_eq!(
            s.propSetInt.unwrap()(h, c"nope".as_ptr(), 0, 1),
            kOfxStatErrUnknown
        );
        assert_eq!(
            s.propGetDimension.unwrap()(h, c"nope".as_ptr(), &mut n),
            kOfxStatErrUnknown
        );
        assert_eq!(
            s.propGetInt.unwrap()(h, c"s".as_ptr(), 0, &mut i),
            kOfxStatErrValue
        );
        assert_eq!(
            s.propSetInt.unwrap()(h, c"ro".as_ptr(), 0, 1),
            kOfxStatErrValue
        );
        assert_eq!(
            s.propGetInt.unwrap()(h, std::ptr::null(), 0, &mut i),
            kOfxStatErrBadHandle
        );
        assert_eq!(
            s.propGetInt.unwrap()(h, c"ro".as_ptr(), 0, null_mut()),
            kOfxStatErrBadHandle
        );
        assert_eq!(
            s.propGetInt.unwrap()(null_mut(), c"ro".as_ptr(), 0, &mut i),
            kOfxStatErrBadHandle
        );
        let bogus = 0xdead_beef_usize as OfxPropertySetHandle;
        assert_eq!(
            s.propGetInt.unwrap()(bogus, c"ro".as_ptr(), 0, &mut i),
            kOfxStatErrBadHandle
        );
    }
    assert!(host.unknown_properties().iter().any(|u| u.contains("nope")));
    assert_eq!(host.violations().len(), 2, "{:?}", host.violations());
    registry::retire(Arc::as_ptr(&set) as usize);
    let mut i = 0;
    // SAFETY: a stale (retired) handle must be refused without being dereferenced.
    let st = unsafe { PROPERTY_SUITE.propGetInt.unwrap()(h, c"ro".as_ptr(), 0, &mut i) };
    assert_eq!(st, kOfxStatErrBadHandle);
}

#[test]
fn lenient_sets_create_properties_and_record_them() {
    let host = Host::new(HostConfig::natron_like());
    let set = Arc::new(PropertySet::new("lenient", true, host.shared.diag.clone()));
    assert_eq!(set.plugin_set(c"new", 0, PropValue::Int(3)), Ok(()));
    assert_eq!(set.int(c"new"), Some(3));
    assert_eq!(
        host.unknown_properties(),
        vec!["lenient: new (set, created)".to_owned()]
    );
    set.define(
        c"fixed",
        Dim::Fixed(1),
        Access::ReadWrite,
        vec![PropValue::Double(1.0)],
    );
    assert_eq!(
        set.plugin_set(c"fixed", 1, PropValue::Double(2.0)),
        Err(kOfxStatErrBadIndex)
    );
}

/// A descriptor set with one parameter of every value type, and its instance.
pub(super) fn param_fixture(host: &Host) -> (Arc<ParamSet>, Arc<Effect>) {
    let diag = host.shared.diag.clone();
    let props = Arc::new(PropertySet::new("fx", false, diag.clone()));
    let desc = ParamSet::new(props.clone(), false, diag);
    for (ty, name) in [
        (ParamType::Integer, c"i"),
        (ParamType::Double, c"d"),
        (ParamType::String, c"s"),
        (ParamType::Rgba, c"rgba"),
        (ParamType::Integer3D, c"i3"),
        (ParamType::Boolean, c"b"),
        (ParamType::PushButton, c"button"),
    ] {
        desc.define(ty, name, false).expect("defined");
    }
    assert_eq!(
        desc.define(ParamType::Double, c"d", false).err(),
        Some(kOfxStatErrExists)
    );
    let runtime = Arc::new(Runtime::new(host.shared.clone()));
    let set = ParamSet::instantiate(&desc, props.clone(), false, &runtime);
    let effect = Effect::register(
        EffectKind::Instance(super::Context::Generator),
        props,
        set.clone(),
        host.shared.clone(),
        runtime,
    );
    (set, effect)
}

#[test]
fn variadic_parameter_values_round_trip() {
    let host = Host::new(HostConfig::natron_like());
    let (set, _effect) = param_fixture(&host);
    let h = |n: &str| set.get(n).expect("param").handle();
    let s = &PARAMETER_SUITE;
    // SAFETY: every variadic call passes what the parameter's type needs.
    unsafe {
        assert_eq!(s.paramSetValue.unwrap()(h("i"), 42 as c_int), kOfxStatOK);
        let mut i: c_int = 0;
        assert_eq!(
            s.paramGetValue.unwrap()(h("i"), &mut i as *mut c_int),
            kOfxStatOK
        );
        assert_eq!(i, 42);
        assert_eq!(s.paramSetValue.unwrap()(h("i"), -7 as c_int), kOfxStatOK);
        assert_eq!(
            s.paramGetValueAtTime.unwrap()(h("i"), 3.0, &mut i as *mut c_int),
            kOfxStatOK
        );
        assert_eq!(i, -7);

        assert_eq!(s.paramSetValue.unwrap()(h("d"), 0.25f64), kOfxStatOK);
        let mut d = 0.0f64;
        assert_eq!(
            s.paramGetValue.unwrap()(h("d"), &mut d as *mut f64),
            kOfxStatOK
        );
        assert_eq!(d, 0.25);
        // Keys: linear between them, held outside.
        assert_eq!(
            s.paramSetValueAtTime.unwrap()(h("d"), 0.0, 1.0f64),
            kOfxStatOK
        );
        assert_eq!(
            s.paramSetValueAtTime.unwrap()(h("d"), 10.0, 2.0f64),
            kOfxStatOK
        );
        assert_eq!(
            s.paramGetValueAtTime.unwrap()(h("d"), 5.0, &mut d as *mut f64),
            kOfxStatOK
        );
        assert!((d - 1.5).abs() < 1e-12);
        assert_eq!(
            s.paramGetDerivative.unwrap()(h("d"), 5.0, &mut d as *mut f64),
            kOfxStatOK
        );
        assert!((d - 0.1).abs() < 1e-6, "{d}");
        assert_eq!(
            s.paramGetIntegral.unwrap()(h("d"), 0.0, 10.0, &mut d as *mut f64),
            kOfxStatOK
        );
        assert!((d - 15.0).abs() < 1e-6, "{d}");
        let mut n: c_uint = 0;
        assert_eq!(s.paramGetNumKeys.unwrap()(h("d"), &mut n), kOfxStatOK);
        assert_eq!(n, 2);
        let mut k: c_int = -1;
        assert_eq!(
            s.paramGetKeyIndex.unwrap()(h("d"), 5.0, 1, &mut k),
            kOfxStatOK
        );
        assert_eq!(k, 1);
        assert_eq!(
            s.paramGetKeyIndex.unwrap()(h("d"), 5.0, 0, &mut k),
            kOfxStatFailed
        );
        assert_eq!(s.paramDeleteKey.unwrap()(h("d"), 10.0), kOfxStatOK);
        assert_eq!(s.paramDeleteKey.unwrap()(h("d"), 10.0), kOfxStatErrBadIndex);
        assert_eq!(s.paramDeleteAllKeys.unwrap()(h("d")), kOfxStatOK);

        assert_eq!(
            s.paramSetValue.unwrap()(h("s"), c"hello".as_ptr()),
            kOfxStatOK
        );
        let mut text: *const c_char = std::ptr::null();
        assert_eq!(
            s.paramGetValue.unwrap()(h("s"), &mut text as *mut *const c_char),
            kOfxStatOK
        );
        assert_eq!(CStr::from_ptr(text), c"hello");

        let rgba = [0.1f64, 0.2, 0.3, 0.4];
        assert_eq!(
            s.paramSetValue.unwrap()(h("rgba"), rgba[0], rgba[1], rgba[2], rgba[3]),
            kOfxStatOK
        );
        let mut out = [0.0f64; 4];
        let [r, g, b, a] = out.each_mut().map(|x| x as *mut f64);
        assert_eq!(
            s.paramGetValueAtTime.unwrap()(h("rgba"), 1.0, r, g, b, a),
            kOfxStatOK
        );
        assert_eq!(out, rgba);

        assert_eq!(
            s.paramSetValue.unwrap()(h("i3"), 1 as c_int, 2 as c_int, 3 as c_int),
            kOfxStatOK
        );
        let mut v = [0 as c_int; 3];
        let [x, y, z] = v.each_mut().map(|x| x as *mut c_int);
        assert_eq!(s.paramGetValue.unwrap()(h("i3"), x, y, z), kOfxStatOK);
        assert_eq!(v, [1, 2, 3]);

        assert_eq!(s.paramSetValue.unwrap()(h("b"), 1 as c_int), kOfxStatOK);
        assert_eq!(
            s.paramGetValue.unwrap()(h("button"), &mut i as *mut c_int),
            kOfxStatErrUnsupported
        );
        assert_eq!(
            s.paramGetValue.unwrap()(h("i"), null_mut::<c_int>()),
            kOfxStatErrBadHandle
        );
        assert_eq!(
            s.paramGetValue.unwrap()(null_mut(), &mut i as *mut c_int),
            kOfxStatErrBadHandle
        );
    }
    assert_eq!(set.get("b").unwrap().value(), Some(Value::Bool(true)));
    assert_eq!(set.get("s").unwrap().value(), Some(Value::str("hello")));
    let pending =
        super::ffi::lock(&set.get("i").unwrap().runtime.clone().unwrap().pending_edits).len();
    assert!(pending >= 6, "plug-in edits are queued for InstanceChanged");
}

#[test]
fn messages_are_formatted_and_recorded() {
    // SAFETY: the %s arguments are valid strings.
    let (text, short) = unsafe {
        format(
            c"%s has %d items (%5.2f%%) %u %c",
            &[c"list".as_ptr() as usize, (-3i32) as u32 as usize],
            &[2.5],
        )
    };
    assert_eq!(text, "list has -3 items (2.50%) <?> <?>");
    assert!(short);

    let host = Host::new(HostConfig::natron_like());
    let (_set, effect) = param_fixture(&host);
    let h: *mut c_void = effect.handle().cast();
    let m = &MESSAGE_SUITE_V2;
    // SAFETY: variadic calls with a format and matching arguments.
    unsafe {
        let st = m.message.unwrap()(
            h,
            kOfxMessageError.as_ptr(),
            c"id.1".as_ptr(),
            c"bad %s (%d)".as_ptr(),
            c"folder".as_ptr(),
            12 as c_int,
        );
        assert_eq!(st, kOfxStatOK);
        let st = m.message.unwrap()(
            h,
            kOfxMessageQuestion.as_ptr(),
            std::ptr::null::<c_char>(),
            c"ok? %f".as_ptr(),
            0.5f64,
        );
        assert_eq!(st, kOfxStatReplyYes);
        let st = m.setPersistentMessage.unwrap()(
            h,
            kOfxMessageWarning.as_ptr(),
            std::ptr::null::<c_char>(),
            c"stuck".as_ptr(),
        );
        assert_eq!(st, kOfxStatOK);
        assert!(super::ffi::lock(&effect.runtime.persistent).is_some());
        assert_eq!(m.clearPersistentMessage.unwrap()(h), kOfxStatOK);
        assert!(super::ffi::lock(&effect.runtime.persistent).is_none());
        assert_eq!(
            m.clearPersistentMessage.unwrap()(0x10usize as *mut c_void),
            kOfxStatErrBadHandle
        );
    }
    let messages = host.messages();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].text, "bad folder (12)");
    assert_eq!(messages[0].id.as_deref(), Some("id.1"));
    assert!(messages[0].is_error());
    assert_eq!(messages[1].text, "ok? 0.5");
    assert!(messages[2].persistent);
}
