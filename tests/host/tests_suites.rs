//! Unit tests of the progress, multi-thread, memory, image and loader parts, and of
//! `fetchSuite`, each called through C function pointers as a plug-in would.

use std::ffi::{CStr, c_int, c_uint, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicU32, Ordering};

use ofx_sys::*;

use super::app::{Host, HostConfig};
use super::effect_suite::IMAGE_EFFECT_SUITE;
use super::image::{BitDepth, ImageBuffer};
use super::multithread::MULTI_THREAD_SUITE;
use super::progress::{PROGRESS_SUITE_V2, ProgressEvent};
use super::tests::param_fixture;
use super::timeline::TIME_LINE_SUITE;
use super::{memory, mock_plugin};

#[test]
fn progress_can_cancel_and_abort() {
    let host = Host::new(HostConfig::natron_like());
    let (_set, effect) = param_fixture(&host);
    let h: *mut c_void = effect.handle().cast();
    host.cancel_progress_after(Some(2));
    host.abort_after_progress(Some(3));
    let p = &PROGRESS_SUITE_V2;
    // SAFETY: progress calls with an instance handle and valid strings.
    let replies: Vec<OfxStatus> = unsafe {
        assert_eq!(
            p.progressStart.unwrap()(h, c"Go".as_ptr(), std::ptr::null()),
            kOfxStatOK
        );
        let r = (1..=4)
            .map(|i| p.progressUpdate.unwrap()(h, f64::from(i) / 4.0))
            .collect();
        assert_eq!(p.progressEnd.unwrap()(h), kOfxStatOK);
        r
    };
    assert_eq!(
        replies,
        [kOfxStatOK, kOfxStatOK, kOfxStatReplyNo, kOfxStatReplyNo]
    );
    assert!(effect.runtime.abort_flag.load(Ordering::SeqCst));
    let events = host.progress_events();
    assert_eq!(
        events.first(),
        Some(&ProgressEvent::Start {
            label: "Go".into(),
            id: None
        })
    );
    assert_eq!(events.last(), Some(&ProgressEvent::End));
    assert!(host.violations().is_empty(), "{:?}", host.violations());
    // SAFETY: an update outside a session is a violation, not a crash.
    unsafe { p.progressUpdate.unwrap()(h, 2.0) };
    assert_eq!(host.violations().len(), 2);
}

static RAN: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" fn count_thread(index: c_uint, max: c_uint, arg: *mut c_void) {
    assert_eq!(arg as usize, 77);
    assert!(index < max);
    let mut me = u32::MAX;
    // SAFETY: the suite's own functions, from a spawned thread.
    unsafe {
        MULTI_THREAD_SUITE.multiThreadIndex.unwrap()(&mut me);
        assert_eq!(MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap()(), 1);
    }
    assert_eq!(me, index);
    RAN.fetch_add(1 << index, Ordering::SeqCst);
}

#[test]
fn multithread_runs_every_index_and_mutexes_are_recursive() {
    let s = &MULTI_THREAD_SUITE;
    // SAFETY: suite calls with valid function, argument and out pointers.
    unsafe {
        assert_eq!(
            s.multiThread.unwrap()(Some(count_thread), 5, 77usize as *mut c_void),
            kOfxStatOK
        );
        assert_eq!(RAN.load(Ordering::SeqCst), 0b11111);
        assert_eq!(s.multiThreadIsSpawnedThread.unwrap()(), 0);
        assert_eq!(
            s.multiThread.unwrap()(None, 2, null_mut()),
            kOfxStatErrBadHandle
        );
        let mut n = 0;
        assert_eq!(s.multiThreadNumCPUs.unwrap()(&mut n), kOfxStatOK);
        assert!(n >= 1);

        let mut m: OfxMutexHandle = null_mut();
        assert_eq!(s.mutexCreate.unwrap()(&mut m, 1), kOfxStatOK);
        assert_eq!(s.mutexLock.unwrap()(m), kOfxStatOK);
        let addr = m as usize;
        let other = std::thread::spawn(move || {
            MULTI_THREAD_SUITE.mutexTryLock.unwrap()(addr as OfxMutexHandle)
        });
        assert_eq!(other.join().unwrap(), kOfxStatFailed);
        assert_eq!(s.mutexUnLock.unwrap()(m), kOfxStatOK);
        assert_eq!(s.mutexUnLock.unwrap()(m), kOfxStatOK);
        let other = std::thread::spawn(move || {
            MULTI_THREAD_SUITE.mutexTryLock.unwrap()(addr as OfxMutexHandle)
        });
        assert_eq!(other.join().unwrap(), kOfxStatOK);
        assert_eq!(s.mutexDestroy.unwrap()(m), kOfxStatOK);
        assert_eq!(s.mutexLock.unwrap()(m), kOfxStatErrBadHandle);
    }
}

#[test]
fn memory_suite_tracks_allocations() {
    let s = &memory::MEMORY_SUITE;
    let mut p: *mut c_void = null_mut();
    // SAFETY: suite calls with out pointers; the bad frees must be refused.
    unsafe {
        assert_eq!(s.memoryAlloc.unwrap()(null_mut(), 1000, &mut p), kOfxStatOK);
        assert_eq!(p as usize % 64, 0);
        p.cast::<u8>().write_bytes(1, 1000);
        assert_eq!(s.memoryFree.unwrap()(p), kOfxStatOK);
        assert_eq!(s.memoryFree.unwrap()(p), kOfxStatErrBadHandle);
        assert_eq!(
            s.memoryAlloc.unwrap()(null_mut(), 8, null_mut()),
            kOfxStatErrBadHandle
        );
    }
}

#[test]
fn negative_row_bytes_put_the_bottom_row_last_in_memory() {
    let bounds = OfxRectI {
        x1: 10,
        y1: 20,
        x2: 13,
        y2: 24,
    };
    let image = ImageBuffer::new(bounds, BitDepth::Byte, true, 4);
    assert_eq!(image.stride, 3 * 4 + 4);
    assert_eq!(image.row_bytes(), -16);
    // Writing through the specification's formula lands on the pixel read back.
    for y in 20..24isize {
        for x in 10..13isize {
            let offset = (y - 20) * image.row_bytes() as isize + (x - 10) * 4;
            // SAFETY: inside the buffer by the layout documented in the image module.
            unsafe { image.data_ptr().offset(offset).write((y * 10 + x) as u8) };
        }
    }
    assert_eq!(
        image.pixel(12, 23).unwrap()[0],
        (23.0 * 10.0 + 12.0) / 255.0
    );
    assert_eq!(image.pixel(10, 20).unwrap()[0], 210.0 / 255.0);
    assert!(!image.is_poisoned(11, 21));
    assert_eq!(image.poisoned_count(bounds), 0);
    let fresh = ImageBuffer::new(bounds, BitDepth::Float, false, 0);
    assert_eq!(fresh.poisoned_count(bounds), 12);
}

#[test]
fn fetch_suite_honours_the_configuration() {
    let full = Host::new(HostConfig::natron_like());
    let bare = Host::new(HostConfig::minimal());
    let fetch = |host: &Host, name: &CStr, v: c_int| {
        let ofx = host.shared.ofx_host_ptr();
        // SAFETY: the host's own struct and fetchSuite.
        unsafe { ((*ofx).fetchSuite.unwrap())((*ofx).host, name.as_ptr(), v) }.is_null()
    };
    for (name, v) in [
        (kOfxMultiThreadSuite, 1),
        (kOfxProgressSuite, 2),
        (kOfxMessageSuite, 2),
    ] {
        assert!(!fetch(&full, name, v), "{name:?}");
        assert!(fetch(&bare, name, v), "{name:?}");
    }
    assert!(!fetch(&bare, kOfxPropertySuite, 1));
    assert!(fetch(&full, kOfxPropertySuite, 2));
    assert!(fetch(&full, c"NoSuchSuite", 1));
    assert_eq!(
        bare.suite_requests().iter().filter(|r| r.granted).count(),
        1
    );
}

#[test]
fn loader_reports_missing_binaries_and_entry_points() {
    let host = Host::new(HostConfig::natron_like());
    let missing = host.open("/nonexistent/Promptreel.ofx").unwrap_err();
    assert!(matches!(missing, super::HostError::Load(_)), "{missing}");
    let not_ofx = host.open("libc.so.6").unwrap_err();
    assert!(
        matches!(
            not_ofx,
            super::HostError::MissingSymbol("OfxGetNumberOfPlugins")
        ),
        "{not_ofx}"
    );
    let _guard = mock_plugin::exclusive();
    // The mock binary has two plug-ins; claim a third, which OfxGetPlugin gives as NULL.
    let binary = host.open_in_process(mock_plugin::get_plugin, 3);
    assert!(binary.plugin(2).is_err(), "a NULL plug-in is refused");
    assert!(binary.plugin(3).is_err());
    assert_eq!(
        binary.identifiers(),
        vec![
            mock_plugin::ID.to_str().unwrap().to_owned(),
            mock_plugin::FILTER_ID.to_str().unwrap().to_owned()
        ]
    );
}

#[test]
fn image_memory_locks_nest_and_frees_once() {
    let s = &IMAGE_EFFECT_SUITE;
    let mut m: OfxImageMemoryHandle = null_mut();
    let (mut a, mut b): (*mut c_void, *mut c_void) = (null_mut(), null_mut());
    // SAFETY: suite calls with out pointers; the misuse at the end must be refused.
    unsafe {
        assert_eq!(
            s.imageMemoryAlloc.unwrap()(null_mut(), 4096, &mut m),
            kOfxStatOK
        );
        assert_eq!(s.imageMemoryLock.unwrap()(m, &mut a), kOfxStatOK);
        assert_eq!(s.imageMemoryLock.unwrap()(m, &mut b), kOfxStatOK);
        assert_eq!(a, b);
        assert_eq!(a as usize % 16, 0);
        a.cast::<u8>().write_bytes(7, 4096);
        assert_eq!(s.imageMemoryUnlock.unwrap()(m), kOfxStatOK);
        assert_eq!(s.imageMemoryUnlock.unwrap()(m), kOfxStatOK);
        assert_eq!(s.imageMemoryUnlock.unwrap()(m), kOfxStatErrBadHandle);
        assert_eq!(s.imageMemoryFree.unwrap()(m), kOfxStatOK);
        assert_eq!(s.imageMemoryFree.unwrap()(m), kOfxStatErrBadHandle);
        assert_eq!(s.imageMemoryLock.unwrap()(m, &mut a), kOfxStatErrBadHandle);
    }
}

#[test]
fn timeline_moves_and_bounds() {
    let host = Host::new(HostConfig::natron_like());
    let (_set, effect) = param_fixture(&host);
    let h: *mut c_void = effect.handle().cast();
    let s = &TIME_LINE_SUITE;
    let (mut now, mut first, mut last) = (-1.0, -1.0, -1.0);
    // SAFETY: suite calls with an instance handle and out pointers.
    unsafe {
        assert_eq!(s.gotoTime.unwrap()(h, 3.0), kOfxStatOK);
        assert_eq!(s.getTime.unwrap()(h, &mut now), kOfxStatOK);
        assert_eq!(
            s.getTimeBounds.unwrap()(h, &mut first, &mut last),
            kOfxStatOK
        );
        assert_eq!(
            s.getTime.unwrap()(null_mut(), &mut now),
            kOfxStatErrBadHandle
        );
    }
    assert_eq!(
        (now, first, last),
        (3.0, 0.0, host.config().project.duration - 1.0)
    );
    assert_eq!(host.time_moves(), [3.0]);
}

#[test]
fn output_images_exist_only_during_renders() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let binary = host.open_in_process(mock_plugin::get_plugin, 1);
    let plugin = binary.plugin(0).expect("the mock");
    assert_eq!(plugin.load(), kOfxStatOK);
    assert_eq!(plugin.describe(), kOfxStatOK);
    assert_eq!(
        plugin.describe_in_context(super::Context::General),
        kOfxStatOK
    );
    let inst = plugin
        .create_instance(super::Context::General)
        .expect("instance");
    let s = &IMAGE_EFFECT_SUITE;
    let e = inst.effect.handle();
    let (mut out, mut source, mut image) = (null_mut(), null_mut(), null_mut());
    // SAFETY: suite calls with valid names and out pointers.
    unsafe {
        assert_eq!(
            s.clipGetHandle.unwrap()(e, c"Output".as_ptr(), &mut out, null_mut()),
            kOfxStatOK
        );
        assert_eq!(
            s.clipGetHandle.unwrap()(e, c"Source".as_ptr(), &mut source, null_mut()),
            kOfxStatOK
        );
        assert_eq!(
            s.clipGetHandle.unwrap()(e, c"Nope".as_ptr(), &mut source, null_mut()),
            kOfxStatErrUnknown
        );
        assert_eq!(
            s.clipGetImage.unwrap()(source, 0.0, std::ptr::null(), &mut image),
            kOfxStatFailed
        );
        assert_eq!(
            s.clipGetImage.unwrap()(out, 0.0, std::ptr::null(), &mut image),
            kOfxStatFailed
        );
        assert_eq!(
            s.clipDefine.unwrap()(e, c"Late".as_ptr(), null_mut()),
            kOfxStatErrBadHandle
        );
        assert_eq!(
            s.clipReleaseImage.unwrap()(null_mut()),
            kOfxStatErrBadHandle
        );
    }
    assert_eq!(host.violations().len(), 2, "{:?}", host.violations());
    assert_eq!(inst.destroy(), kOfxStatOK);
    assert_eq!(plugin.unload(), kOfxStatOK);
}
