//! The host driving filters: a binary with two plug-ins, footage connected to input clips,
//! `clipGetImage` on inputs (depths, scales, identifiers, ranges), temporal clip access and its
//! refusal, GetFramesNeeded, fetch counting and image leaks, using the mock's filter.

use std::ffi::{c_uint, c_void};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use ofx_sys::*;

use super::effect_suite::IMAGE_EFFECT_SUITE;
use super::mock_plugin::filter::{self, FilterOptions, Temporal};
use super::mock_plugin::{self, FILTER_ID, ID};
use super::multithread::{MULTI_THREAD_SUITE, action_thread};
use super::props::PropertySet;
use super::registry;
use super::{
    BitDepth, Context, Host, HostConfig, ImageBuffer, Instance, Plugin, RenderRequest, SourceClip,
    Value,
};

const OK: OfxStatus = kOfxStatOK;

/// A 64x48 clip of 16 frames: a grey background (value 0.1 + frame / 100 in every channel)
/// with an 8x8 white square moving 2 pixels right per frame. Alpha is 1.
fn moving_square(first_time: f64) -> SourceClip {
    SourceClip::from_fn(64, 48, 16, first_time, square_pixel)
}

fn square_pixel(frame: usize, x: i32, y: i32) -> [f32; 4] {
    let left = 4 + 2 * frame as i32;
    if (left..left + 8).contains(&x) && (20..28).contains(&y) {
        [1.0, 1.0, 1.0, 1.0]
    } else {
        let v = 0.1 + frame as f32 / 100.0;
        [v, v, v, 1.0]
    }
}

fn close(a: [f32; 4], b: [f32; 4], tolerance: f32) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

/// The mean of the square clip's pixel (x, y) over `frames`.
fn mean_of(frames: &[usize], x: i32, y: i32) -> [f32; 4] {
    let mut sum = [0.0f32; 4];
    for &f in frames {
        let p = square_pixel(f, x, y);
        for c in 0..4 {
            sum[c] += p[c];
        }
    }
    sum.map(|s| s / frames.len() as f32)
}

/// Loads the mock binary's filter with `options`, described in the Filter context.
fn filter_plugin(host: &Host, options: FilterOptions) -> (super::Binary, Plugin) {
    filter::set_options(options);
    let binary = host.open_in_process(mock_plugin::get_plugin, 2);
    let plugin = binary
        .find(FILTER_ID.to_str().unwrap())
        .expect("the filter");
    assert_eq!(plugin.load(), OK);
    assert_eq!(plugin.describe(), OK);
    assert_eq!(plugin.supported_contexts(), [Context::Filter]);
    assert_eq!(plugin.describe_in_context(Context::Filter), OK);
    (binary, plugin)
}

fn close_all(plugin: Plugin, binary: super::Binary) {
    assert_eq!(plugin.unload(), OK);
    drop(plugin);
    binary.close().expect("nothing holds the binary");
}

/// `clipGetImage` through the suite, as a plug-in calls it.
fn fetch(inst: &Instance, clip: &str, time: f64) -> (OfxStatus, OfxPropertySetHandle) {
    let clip = inst.clip(clip).expect("clip");
    let handle: OfxImageClipHandle = Arc::as_ptr(&clip).cast_mut().cast();
    let mut image = 0x1usize as OfxPropertySetHandle;
    // SAFETY: a live clip handle and a writable out pointer.
    let st = unsafe {
        IMAGE_EFFECT_SUITE.clipGetImage.unwrap()(handle, time, std::ptr::null(), &mut image)
    };
    (st, image)
}

fn image_props(image: OfxPropertySetHandle) -> Arc<PropertySet> {
    registry::props(image as usize).expect("a live image")
}

fn release(image: OfxPropertySetHandle) {
    // SAFETY: an image fetched through the suite.
    assert_eq!(
        unsafe { IMAGE_EFFECT_SUITE.clipReleaseImage.unwrap()(image) },
        OK
    );
}

/// Pixel (x, y) of an image handle, read as a plug-in would (any depth, any row bytes).
fn image_pixel(image: OfxPropertySetHandle, x: i32, y: i32) -> [f32; 4] {
    let p = image_props(image);
    let data = p.ptr(kOfxImagePropData).unwrap() as *const u8;
    let row_bytes = p.int(kOfxImagePropRowBytes).unwrap() as isize;
    let b = p.ints(kOfxImagePropBounds).unwrap();
    let depth = BitDepth::from_name(&p.str(kOfxImageEffectPropPixelDepth).unwrap()).unwrap();
    let size = depth.channel_bytes();
    let offset = (y - b[1]) as isize * row_bytes + ((x - b[0]) as usize * 4 * size) as isize;
    // SAFETY: (x, y) is inside the bounds of a live image.
    std::array::from_fn(|c| unsafe {
        let q = data.offset(offset).add(c * size);
        match depth {
            BitDepth::Float => q.cast::<f32>().read_unaligned(),
            BitDepth::Short => f32::from(q.cast::<u16>().read_unaligned()) / 65535.0,
            BitDepth::Byte => f32::from(q.read()) / 255.0,
        }
    })
}

fn clip_rod(inst: &Instance, clip: &str, time: f64) -> (OfxStatus, [f64; 4]) {
    let clip = inst.clip(clip).expect("clip");
    let handle: OfxImageClipHandle = Arc::as_ptr(&clip).cast_mut().cast();
    let mut r = OfxRectD {
        x1: 0.0,
        y1: 0.0,
        x2: 0.0,
        y2: 0.0,
    };
    // SAFETY: a live clip handle and a writable rectangle.
    let st = unsafe { IMAGE_EFFECT_SUITE.clipGetRegionOfDefinition.unwrap()(handle, time, &mut r) };
    (st, [r.x1, r.y1, r.x2, r.y2])
}

#[test]
fn a_binary_with_two_plugins_loads_describes_and_unloads_each() {
    let _guard = mock_plugin::exclusive();
    filter::set_options(FilterOptions::plain());
    let host = Host::new(HostConfig::natron_like());
    let binary = host.open_in_process(mock_plugin::get_plugin, 2);
    assert_eq!(binary.count(), 2);
    assert_eq!(
        binary.identifiers(),
        [ID.to_str().unwrap(), FILTER_ID.to_str().unwrap()]
    );
    let generator = binary.find(ID.to_str().unwrap()).expect("generator");
    let filter = binary.find(FILTER_ID.to_str().unwrap()).expect("filter");
    assert_eq!(filter.version(), (2, 0));
    assert!(binary.find("org.promptreel.test.Nope").is_err());
    for plugin in [&generator, &filter] {
        assert_eq!(plugin.load(), OK);
        assert_eq!(plugin.describe(), OK);
    }
    assert_eq!(generator.describe_in_context(Context::Generator), OK);
    assert_eq!(filter.describe_in_context(Context::Filter), OK);
    assert_eq!(filter.clip_names(Context::Filter), ["Output", "Source"]);

    let gen_inst = generator.create_instance(Context::Generator).expect("gen");
    let filter_inst = filter.create_instance(Context::Filter).expect("filter");
    filter_inst.connect_clip("Source", moving_square(0.0));
    assert!(filter_inst.render(&RenderRequest::at(1.0)).ok());
    assert!(gen_inst.render(&RenderRequest::at(1.0)).ok());
    assert_eq!(filter_inst.destroy(), OK);

    // Unloading one plug-in leaves the other working (the binary's shared state stays).
    assert_eq!(filter.unload(), OK);
    drop(filter);
    assert!(gen_inst.render(&RenderRequest::at(2.0)).ok());
    assert_eq!(gen_inst.destroy(), OK);
    assert_eq!(generator.unload(), OK);
    drop(generator);
    binary.close().expect("closed");
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn a_filter_renders_its_connected_source() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let (binary, plugin) = filter_plugin(&host, FilterOptions::plain());
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    assert_eq!(inst.context, Context::Filter);
    assert!(!inst.temporal_access_declared());

    // Unconnected: no images, no region, a failed render, and nothing to report.
    let source = inst.clip("Source").unwrap();
    assert_eq!(source.props.int(kOfxImageClipPropConnected), Some(0));
    assert_eq!(fetch(&inst, "Source", 0.0).0, kOfxStatFailed);
    assert_eq!(clip_rod(&inst, "Source", 0.0).0, kOfxStatFailed);
    assert_eq!(inst.render(&RenderRequest::at(0.0)).status, kOfxStatFailed);

    let prefs = inst.connect_clip("Source", moving_square(0.0).frame_rate(25.0));
    assert_eq!(prefs.status, OK);
    let p = &source.props;
    assert_eq!(p.int(kOfxImageClipPropConnected), Some(1));
    assert_eq!(
        p.doubles(kOfxImageEffectPropFrameRange),
        Some(vec![0.0, 15.0])
    );
    assert_eq!(
        p.doubles(kOfxImageEffectPropUnmappedFrameRange),
        Some(vec![0.0, 15.0])
    );
    assert_eq!(p.double(kOfxImageEffectPropFrameRate), Some(25.0));
    assert_eq!(p.double(kOfxImagePropPixelAspectRatio), Some(1.0));
    assert_eq!(
        p.str(kOfxImageEffectPropPixelDepth).as_deref(),
        Some("OfxBitDepthFloat")
    );
    assert_eq!(
        p.str(kOfxImageClipPropUnmappedPixelDepth).as_deref(),
        Some("OfxBitDepthFloat")
    );
    for name in [
        kOfxImageEffectPropComponents,
        kOfxImageClipPropUnmappedComponents,
    ] {
        assert_eq!(p.str(name).as_deref(), Some("OfxImageComponentRGBA"));
    }
    assert_eq!(
        p.str(kOfxImageClipPropFieldOrder).as_deref(),
        Some("OfxFieldNone")
    );
    assert_eq!(p.int(kOfxImageClipPropContinuousSamples), Some(0));
    assert_eq!(clip_rod(&inst, "Source", 3.0), (OK, [0.0, 0.0, 64.0, 48.0]));
    // The filter replies default: the output is the Source's region.
    let (st, rod) = inst.region_of_definition(3.0, 1.0);
    assert_eq!(st, kOfxStatReplyDefault);
    assert_eq!([rod.x1, rod.y1, rod.x2, rod.y2], [0.0, 0.0, 64.0, 48.0]);

    assert_eq!(inst.set_param("gain", Value::Double(0.5)), OK);
    let r = inst.render(&RenderRequest::at(3.0));
    assert!(r.ok(), "{}", r.status);
    assert_eq!((r.image.width(), r.image.height()), (64, 48));
    assert_eq!(r.unwritten(), 0);
    assert_eq!((r.images_fetched, r.images_unreleased), (1, 0));
    assert_eq!(r.input_fetches.len(), 1);
    assert_eq!(r.fetches_of("Source"), 1);
    let f = &r.input_fetches[0];
    assert_eq!((f.clip.as_str(), f.time, f.frame), ("Source", 3.0, 3));
    assert_eq!(f.render_time, Some(3.0));
    assert!(r.frames_needed.is_none(), "not a temporal effect");
    for (x, y) in [(0, 0), (10, 22), (14, 27), (63, 47)] {
        let want = square_pixel(3, x, y);
        let want = [want[0] * 0.5, want[1] * 0.5, want[2] * 0.5, want[3]];
        assert!(close(r.image.pixel(x, y).unwrap(), want, 1e-6));
    }
    assert_eq!(inst.source_fetches(), 1);
    assert!(inst.render(&RenderRequest::at(3.0)).ok());
    assert_eq!(inst.source_fetches(), 2, "no cache: fetched again");

    // Outside the source: no image, a failed render, not a violation.
    assert_eq!(inst.render(&RenderRequest::at(16.0)).status, kOfxStatFailed);
    let (st, image) = fetch(&inst, "Source", -1.0);
    assert_eq!(st, kOfxStatFailed);
    assert!(image.is_null());
    assert_eq!(inst.source_fetches(), 2);

    // A source starting later: times map to frames from its first time.
    inst.connect_clip("Source", moving_square(100.0));
    assert_eq!(
        source.props.doubles(kOfxImageEffectPropFrameRange),
        Some(vec![100.0, 115.0])
    );
    let r = inst.render(&RenderRequest::at(103.4));
    assert!(r.ok());
    assert_eq!(r.input_fetches[0].frame, 3);
    assert_eq!(inst.render(&RenderRequest::at(3.0)).status, kOfxStatFailed);

    inst.disconnect_clip("Source");
    assert_eq!(source.props.int(kOfxImageClipPropConnected), Some(0));
    assert_eq!(
        inst.render(&RenderRequest::at(103.0)).status,
        kOfxStatFailed
    );
    assert_eq!(inst.open_images(), 0);
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn temporal_filters_fetch_neighbours_and_answer_frames_needed() {
    let _guard = mock_plugin::exclusive();
    for config in [HostConfig::natron_like(), HostConfig::resolve_like()] {
        assert!(config.temporal_clip_access);
        for temporal in [Temporal::OnEffect, Temporal::OnClip] {
            let host = Host::new(config.clone());
            assert_eq!(
                host.shared.props.int(kOfxImageEffectPropTemporalClipAccess),
                Some(1)
            );
            let options = FilterOptions {
                temporal,
                ..FilterOptions::temporal()
            };
            let (binary, plugin) = filter_plugin(&host, options);
            let inst = plugin.create_instance(Context::Filter).expect("instance");
            assert!(inst.temporal_access_declared());
            inst.connect_clip("Source", moving_square(0.0));

            assert_eq!(
                inst.frames_needed(5.0),
                (OK, vec![("Source".to_owned(), [4.0, 6.0])])
            );
            let r = inst.render(&RenderRequest::at(3.0));
            assert!(r.ok());
            let times: Vec<f64> = r.input_fetches.iter().map(|f| f.time).collect();
            assert_eq!(times, [2.0, 3.0, 4.0]);
            let needed = r.frames_needed.as_ref().expect("asked before the render");
            assert_eq!(needed.ranges, [("Source".to_owned(), [2.0, 4.0])]);
            assert!(r.fetched_outside_frames_needed().is_empty());
            for (x, y) in [(0, 0), (9, 21), (12, 24), (20, 27)] {
                let want = mean_of(&[2, 3, 4], x, y);
                assert!(
                    close(r.image.pixel(x, y).unwrap(), want, 1e-6),
                    "({x}, {y})"
                );
            }
            // At the ends, the missing neighbour is simply not there.
            let first = inst.render(&RenderRequest::at(0.0));
            assert!(first.ok());
            assert_eq!(first.input_fetches.len(), 2);
            assert_eq!(
                first.frames_needed.unwrap().ranges,
                [("Source".to_owned(), [0.0, 1.0])]
            );
            assert!(close(
                first.image.pixel(5, 22).unwrap(),
                mean_of(&[0, 1], 5, 22),
                1e-6
            ));
            assert_eq!(inst.source_fetches(), 5);
            assert_eq!(inst.destroy(), OK);
            close_all(plugin, binary);
            assert!(host.violations().is_empty(), "{:?}", host.violations());
        }
    }
}

#[test]
fn frames_needed_defaults_to_the_current_frame() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let options = FilterOptions {
        frames_needed_default: true,
        ..FilterOptions::temporal()
    };
    let (binary, plugin) = filter_plugin(&host, options);
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    inst.connect_clip("Source", moving_square(0.0));
    assert_eq!(
        inst.frames_needed(7.0),
        (
            kOfxStatReplyDefault,
            vec![("Source".to_owned(), [7.0, 7.0])]
        )
    );
    let r = inst.render(&RenderRequest::at(7.0));
    assert!(r.ok());
    // Recorded, not enforced: the test sees what the plug-in fetched beyond its answer.
    assert_eq!(
        r.fetched_outside_frames_needed(),
        [("Source".to_owned(), 6.0), ("Source".to_owned(), 8.0)]
    );
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn fetching_other_times_needs_host_support_and_a_declaration() {
    let _guard = mock_plugin::exclusive();
    // A host without temporal access: the plug-in declared it, the host refuses neighbours.
    let host = Host::new(HostConfig::minimal());
    assert_eq!(
        host.shared.props.int(kOfxImageEffectPropTemporalClipAccess),
        Some(0)
    );
    let (binary, plugin) = filter_plugin(&host, FilterOptions::temporal());
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    inst.connect_clip("Source", moving_square(0.0));
    let r = inst.render(&RenderRequest::at(3.0));
    assert!(r.ok(), "the mock copes with refused neighbours");
    assert!(r.frames_needed.is_none(), "not asked on a host without it");
    assert_eq!(r.input_fetches.len(), 1);
    assert!(close(
        r.image.pixel(10, 22).unwrap(),
        square_pixel(3, 10, 22),
        1e-6
    ));
    let v = host.violations();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter().all(|v| v.contains("does not support temporal")),
        "{v:?}"
    );
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);

    // A host with it, and a plug-in that did not declare it.
    let host = Host::new(HostConfig::natron_like());
    let options = FilterOptions {
        average: true,
        ..FilterOptions::plain()
    };
    let (binary, plugin) = filter_plugin(&host, options);
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    inst.connect_clip("Source", moving_square(0.0));
    let r = inst.render(&RenderRequest::at(3.0));
    assert!(r.ok());
    assert!(r.frames_needed.is_none());
    assert_eq!(r.input_fetches.len(), 1);
    let v = host.violations();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v[0].contains("clipGetImage(Source, 2)") && v[0].contains("did not set"),
        "{v:?}"
    );
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
}

#[test]
fn input_images_follow_clip_preferences_scale_and_layout() {
    let _guard = mock_plugin::exclusive();
    let config = HostConfig {
        negative_row_bytes: true,
        ..HostConfig::resolve_like()
    };
    let host = Host::new(config);
    let (binary, plugin) = filter_plugin(&host, FilterOptions::plain());
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    let source = inst.clip("Source").unwrap();

    // An 8-bit source the plug-in takes as it is.
    inst.connect_clip(
        "Source",
        moving_square(0.0)
            .with_depth(BitDepth::Byte)
            .pixel_aspect(2.0),
    );
    assert_eq!(
        source.props.str(kOfxImageEffectPropPixelDepth).as_deref(),
        Some("OfxBitDepthByte")
    );
    assert_eq!(
        source.props.double(kOfxImagePropPixelAspectRatio),
        Some(2.0)
    );
    assert_eq!(
        clip_rod(&inst, "Source", 0.0),
        (OK, [0.0, 0.0, 128.0, 48.0])
    );
    let (st, image) = fetch(&inst, "Source", 2.0);
    assert_eq!(st, OK);
    let p = image_props(image);
    assert_eq!(
        p.str(kOfxImageEffectPropPixelDepth).as_deref(),
        Some("OfxBitDepthByte")
    );
    assert_eq!(p.double(kOfxImagePropPixelAspectRatio), Some(2.0));
    assert_eq!(p.ints(kOfxImagePropBounds), Some(vec![0, 0, 64, 48]));
    assert_eq!(
        p.ints(kOfxImagePropRegionOfDefinition),
        Some(vec![0, 0, 64, 48])
    );
    assert_eq!(p.int(kOfxImagePropRowBytes), Some(-(64 * 4 + 64)));
    assert_eq!(
        p.doubles(kOfxImageEffectPropRenderScale),
        Some(vec![1.0, 1.0])
    );
    assert_eq!(p.str(kOfxImagePropField).as_deref(), Some("OfxFieldNone"));
    assert!(close(
        image_pixel(image, 9, 21),
        square_pixel(2, 9, 21),
        BitDepth::Byte.quantum()
    ));
    assert!(close(
        image_pixel(image, 30, 40),
        square_pixel(2, 30, 40),
        BitDepth::Byte.quantum()
    ));
    let id = p.str(kOfxImagePropUniqueIdentifier).unwrap();
    release(image);
    let fetches = inst.input_fetches();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].render_time, None, "fetched outside a render");
    assert_eq!(fetches[0].unique_id, id);

    // Unique identifiers: same content, same identifier; new content, a new one.
    let unique = |time: f64| {
        let (st, image) = fetch(&inst, "Source", time);
        assert_eq!(st, OK);
        let id = image_props(image)
            .str(kOfxImagePropUniqueIdentifier)
            .unwrap();
        release(image);
        id
    };
    assert_eq!(unique(2.0), id);
    assert_ne!(unique(3.0), id);
    let bounds = OfxRectI {
        x1: 0,
        y1: 0,
        x2: 64,
        y2: 48,
    };
    inst.replace_source_frame(
        "Source",
        2,
        ImageBuffer::from_fn(bounds, BitDepth::Byte, |_, _| [0.0, 0.0, 0.0, 1.0]),
    );
    let replaced = unique(2.0);
    assert_ne!(replaced, id);
    assert_eq!(unique(2.0), replaced);

    // The plug-in asks for float on Source: images come converted.
    filter::set_options(FilterOptions {
        source_depth: Some(kOfxBitDepthFloat),
        ..FilterOptions::plain()
    });
    let prefs = inst.clip_preferences();
    assert_eq!(prefs.status, OK);
    assert_eq!(
        source.props.str(kOfxImageEffectPropPixelDepth).as_deref(),
        Some("OfxBitDepthFloat")
    );
    assert_eq!(
        source
            .props
            .str(kOfxImageClipPropUnmappedPixelDepth)
            .as_deref(),
        Some("OfxBitDepthByte")
    );
    let (st, image) = fetch(&inst, "Source", 3.0);
    assert_eq!(st, OK);
    assert_eq!(
        image_props(image)
            .str(kOfxImageEffectPropPixelDepth)
            .as_deref(),
        Some("OfxBitDepthFloat")
    );
    let float_id = image_props(image)
        .str(kOfxImagePropUniqueIdentifier)
        .unwrap();
    assert!(
        float_id.contains("OfxBitDepthFloat"),
        "the depth is part of the identifier: {float_id}"
    );
    let want = (0.13f32 * 255.0).round() / 255.0;
    assert!(close(
        image_pixel(image, 40, 5),
        [want, want, want, 1.0],
        1e-6
    ));
    release(image);

    // Rendering at half scale: the source comes at half scale too.
    let r = inst.render(&RenderRequest::at(4.0).scaled(0.5));
    assert!(r.ok());
    let f = &r.input_fetches[0];
    assert_eq!(f.render_time, Some(4.0));
    assert!(f.unique_id.ends_with("@0.5"), "{}", f.unique_id);
    assert!(close(
        r.image.pixel(7, 11).unwrap(),
        square_pixel(4, 15, 23),
        BitDepth::Byte.quantum()
    ));

    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn without_mixed_depths_the_source_takes_the_output_depth() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let options = FilterOptions {
        multiple_depths: false,
        ..FilterOptions::plain()
    };
    let (binary, plugin) = filter_plugin(&host, options);
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    inst.connect_clip("Source", moving_square(0.0).with_depth(BitDepth::Short));
    let source = inst.clip("Source").unwrap();
    assert_eq!(
        source.props.str(kOfxImageEffectPropPixelDepth).as_deref(),
        Some("OfxBitDepthFloat")
    );
    assert_eq!(
        source
            .props
            .str(kOfxImageClipPropUnmappedPixelDepth)
            .as_deref(),
        Some("OfxBitDepthShort")
    );
    inst.set_output_depth(BitDepth::Byte);
    assert_eq!(
        source.props.str(kOfxImageEffectPropPixelDepth).as_deref(),
        Some("OfxBitDepthByte")
    );
    let r = inst.render(&RenderRequest::at(1.0));
    assert!(r.ok());
    assert_eq!(r.image.depth, BitDepth::Byte);
    assert!(close(
        r.image.pixel(8, 22).unwrap(),
        square_pixel(1, 8, 22),
        BitDepth::Byte.quantum()
    ));
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn images_fetched_outside_renders_must_be_released_before_destroy() {
    let _guard = mock_plugin::exclusive();
    for leak in [false, true] {
        let host = Host::new(HostConfig::natron_like());
        let options = FilterOptions {
            leak_analysis: leak,
            ..FilterOptions::plain()
        };
        let (binary, plugin) = filter_plugin(&host, options);
        let inst = plugin.create_instance(Context::Filter).expect("instance");
        assert_eq!(inst.press("analyse"), OK);
        assert_eq!(inst.param_str("status"), "no source");
        inst.connect_clip("Source", moving_square(0.0));
        assert_eq!(inst.press("analyse"), OK);
        assert_eq!(inst.param_str("status"), "red 0.100");
        assert_eq!(inst.source_fetches(), 1);
        assert_eq!(inst.input_fetches()[0].render_time, None);
        assert_eq!(inst.open_images(), usize::from(leak));
        assert_eq!(inst.destroy(), OK);
        let v = host.violations();
        if leak {
            assert_eq!(v.len(), 1, "{v:?}");
            assert!(v[0].contains("destroyed with 1 image(s) not released"));
        } else {
            assert!(v.is_empty(), "{v:?}");
        }
        close_all(plugin, binary);
    }
}

#[test]
fn a_caching_filter_fetches_each_source_frame_once() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let options = FilterOptions {
        cache: true,
        ..FilterOptions::temporal()
    };
    let (binary, plugin) = filter_plugin(&host, options);
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    inst.connect_clip("Source", moving_square(0.0));
    assert_eq!(inst.render(&RenderRequest::at(3.0)).input_fetches.len(), 3);
    let r = inst.render(&RenderRequest::at(4.0));
    assert_eq!(r.input_fetches.len(), 1, "only frame 5 is new");
    assert_eq!(r.input_fetches[0].time, 5.0);
    assert_eq!(inst.render(&RenderRequest::at(3.0)).input_fetches.len(), 0);
    assert_eq!(inst.source_fetches(), 4);
    // Reconnecting tells the plug-in (InstanceChanged for the clip), which drops its cache.
    inst.connect_clip("Source", moving_square(0.0));
    assert_eq!(inst.render(&RenderRequest::at(3.0)).input_fetches.len(), 3);
    inst.clear_input_fetches();
    assert_eq!(inst.source_fetches(), 0);
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn concurrent_renders_get_their_own_frames() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let (binary, plugin) = filter_plugin(&host, FilterOptions::temporal());
    let inst = plugin.create_instance(Context::Filter).expect("instance");
    inst.connect_clip("Source", moving_square(0.0));
    std::thread::scope(|s| {
        for start in 0..4 {
            let inst = &inst;
            s.spawn(move || {
                for t in (start..16).step_by(4) {
                    let t = f64::from(t);
                    let r = inst.render(&RenderRequest::at(t));
                    assert!(r.ok());
                    assert!(!r.input_fetches.is_empty());
                    for f in &r.input_fetches {
                        assert_eq!(f.render_time, Some(t));
                        assert!((f.time - t).abs() <= 1.0);
                    }
                }
            });
        }
    });
    assert_eq!(inst.source_fetches(), 16 * 3 - 2);
    assert_eq!(inst.destroy(), OK);
    close_all(plugin, binary);
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn the_filter_context_requires_a_source_clip() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let options = FilterOptions {
        skip_source: true,
        ..FilterOptions::plain()
    };
    let (binary, plugin) = filter_plugin(&host, options);
    let v = host.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("Filter") && v[0].contains("no clip Source"),
        "{v:?}"
    );
    close_all(plugin, binary);
}

#[test]
fn the_general_context_connects_its_optional_source() {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(HostConfig::natron_like());
    let binary = host.open_in_process(mock_plugin::get_plugin, 1);
    let plugin = binary.plugin(0).expect("the mock");
    assert_eq!(plugin.load(), OK);
    assert_eq!(plugin.describe(), OK);
    assert_eq!(plugin.describe_in_context(Context::General), OK);
    let inst = plugin.create_instance(Context::General).expect("instance");
    assert_eq!(inst.connect_clip("Source", moving_square(2.0)).status, OK);
    let (st, image) = fetch(&inst, "Source", 5.0);
    assert_eq!(st, OK);
    assert!(close(
        image_pixel(image, 10, 22),
        square_pixel(3, 10, 22),
        0.0
    ));
    release(image);
    assert_eq!(inst.input_fetches()[0].frame, 3);
    assert_eq!(
        inst.regions_of_interest(
            0.0,
            1.0,
            OfxRectD {
                x1: 1.0,
                y1: 2.0,
                x2: 3.0,
                y2: 4.0
            }
        )
        .1
        .len(),
        1
    );
    inst.disconnect_clip("Source");
    assert_eq!(fetch(&inst, "Source", 5.0).0, kOfxStatFailed);
    assert_eq!(inst.destroy(), OK);
    assert_eq!(plugin.unload(), OK);
    drop(plugin);
    binary.close().expect("closed");
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

unsafe extern "C" fn record_action_thread(_index: c_uint, _max: c_uint, arg: *mut c_void) {
    // SAFETY: `arg` is the Mutex the test passed.
    let seen = unsafe { &*arg.cast::<Mutex<Vec<ThreadId>>>() };
    seen.lock().unwrap().push(action_thread());
}

#[test]
fn multi_thread_workers_belong_to_the_calling_action() {
    let seen: Mutex<Vec<ThreadId>> = Mutex::default();
    let arg = std::ptr::from_ref(&seen).cast_mut().cast();
    // SAFETY: the worker only reads `arg` as the Mutex above, which outlives the call.
    let st = unsafe { MULTI_THREAD_SUITE.multiThread.unwrap()(Some(record_action_thread), 3, arg) };
    assert_eq!(st, OK);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 3);
    let me = std::thread::current().id();
    assert!(seen.iter().all(|t| *t == me));
    assert_eq!(action_thread(), me);
}
