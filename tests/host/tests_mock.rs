//! The host driving the in-process mock plug-in through a whole session, under several host
//! configurations.

use std::sync::Arc;

use ofx_sys::*;
use rand::seq::SliceRandom;

use super::mock_plugin::{self, ID};
use super::{BitDepth, Context, Host, HostConfig, Instance, ProgressEvent, RenderRequest, Value};

const OK: OfxStatus = kOfxStatOK;

fn close(a: f32, b: f32, tolerance: f32) -> bool {
    (a - b).abs() <= tolerance
}

/// The mock writes r = gain, g = x / width, b = time / 10, a = 1.
fn check_pixel(px: [f32; 4], gain: f32, x: f32, width: f32, time: f32, tolerance: f32) {
    let want = [gain, x / width, time / 10.0, 1.0];
    for c in 0..4 {
        assert!(
            close(px[c], want[c], tolerance),
            "pixel {px:?}, expected {want:?}"
        );
    }
}

fn scan(host: &Host) {
    let binary = host.open_in_process(mock_plugin::get_plugin, 1);
    let plugin = binary.find(ID.to_str().unwrap()).expect("the mock");
    assert_eq!(plugin.load(), OK);
    assert_eq!(plugin.describe(), OK);
    assert_eq!(
        plugin.supported_contexts(),
        [Context::Generator, Context::General]
    );
    assert_eq!(plugin.unload(), OK);
    drop(plugin);
    binary.close().expect("nothing holds the binary");
}

fn render_everything(host: &Host, inst: &Arc<Instance>) {
    let config = host.config();
    assert_eq!(inst.set_param("gain", Value::Double(0.75)), OK);
    let prefs = inst.clip_preferences();
    assert_eq!(prefs.status, OK);
    assert!(prefs.frame_varying);
    assert_eq!(prefs.output_depth, "OfxBitDepthFloat");
    let (st, rod) = inst.region_of_definition(0.0, 1.0);
    assert_eq!(st, OK);
    assert_eq!((rod.x2, rod.y2), (64.0, 48.0));

    let r = inst.render(&RenderRequest::at(2.0));
    assert!(r.ok(), "{}", r.status);
    assert_eq!(r.unwritten(), 0);
    assert_eq!((r.images_fetched, r.images_unreleased), (1, 0));
    assert_eq!(r.image.negative_rows, config.negative_row_bytes);
    check_pixel(r.image.pixel(10, 5).unwrap(), 0.75, 10.0, 64.0, 2.0, 1e-6);

    // Frames in random order from four threads.
    let mut times: Vec<f64> = (0..8).map(f64::from).collect();
    times.shuffle(&mut rand::rng());
    std::thread::scope(|s| {
        for chunk in times.chunks(2) {
            s.spawn(move || {
                for &t in chunk {
                    let r = inst.render(&RenderRequest::at(t));
                    assert!(r.ok());
                    check_pixel(
                        r.image.pixel(63, 47).unwrap(),
                        0.75,
                        63.0,
                        64.0,
                        t as f32,
                        1e-6,
                    );
                }
            });
        }
    });

    let half = inst.render(&RenderRequest::at(1.0).scaled(0.5));
    assert!(half.ok());
    assert_eq!((half.image.width(), half.image.height()), (32, 24));
    check_pixel(
        half.image.pixel(10, 5).unwrap(),
        0.75,
        10.0,
        32.0,
        1.0,
        1e-6,
    );

    for depth in [BitDepth::Short, BitDepth::Byte] {
        assert_eq!(inst.set_output_depth(depth).status, OK);
        let r = inst.render(&RenderRequest::at(3.0));
        assert!(r.ok());
        assert_eq!(r.image.depth, depth);
        check_pixel(
            r.image.pixel(20, 7).unwrap(),
            0.75,
            20.0,
            64.0,
            3.0,
            depth.quantum(),
        );
    }
    inst.set_output_depth(BitDepth::Float);

    let window = OfxRectI {
        x1: 8,
        y1: 8,
        x2: 24,
        y2: 20,
    };
    let tile = inst.render(&RenderRequest::at(4.0).tile(window));
    assert!(tile.ok());
    let b = tile.image.bounds;
    assert_eq!([b.x1, b.y1, b.x2, b.y2], [8, 8, 24, 20]);
    assert_eq!(tile.unwritten(), 0);

    inst.abort_after_checks(Some(2));
    assert_eq!(inst.render(&RenderRequest::at(5.0)).status, kOfxStatFailed);
    inst.abort_after_checks(None);
    assert!(inst.render(&RenderRequest::at(5.0)).ok());
}

fn run(config: HostConfig) {
    let _guard = mock_plugin::exclusive();
    let host = Host::new(config.clone());
    scan(&host);
    scan(&host);

    let binary = host.open_in_process(mock_plugin::get_plugin, 1);
    let plugin = binary.plugin(0).expect("the mock");
    assert_eq!(plugin.version(), (1, 2));
    assert_eq!(plugin.load(), OK);
    assert_eq!(plugin.describe(), OK);
    let desc = plugin.descriptor_props().unwrap();
    assert_eq!(desc.str(kOfxPropLabel).as_deref(), Some("Mock"));
    assert_eq!(
        desc.strs(kOfxImageEffectPropSupportedPixelDepths)
            .unwrap()
            .len(),
        3
    );
    assert!(host.unknown_properties().iter().any(|p| p.contains("Cuda")));
    for context in [Context::Generator, Context::General] {
        assert_eq!(plugin.describe_in_context(context), OK);
    }
    assert_eq!(plugin.clip_names(Context::Generator), ["Output"]);
    assert_eq!(plugin.clip_names(Context::General), ["Output", "Source"]);
    let source = plugin.clip_props(Context::General, "Source").unwrap();
    assert_eq!(source.int(kOfxImageClipPropOptional), Some(1));
    assert_eq!(
        plugin.param_type(Context::Generator, "go").as_deref(),
        Some("OfxParamTypePushButton")
    );

    let inst = Arc::new(plugin.create_instance(Context::Generator).expect("created"));
    assert_eq!(inst.param("count"), Some(Value::Int(3)));
    assert_eq!(inst.param("text"), Some(Value::str("hi")));
    assert_eq!(
        inst.param("colour"),
        Some(Value::Doubles(vec![0.1, 0.2, 0.3, 0.4]))
    );
    assert_eq!(inst.param("flag"), Some(Value::Bool(false)));
    render_everything(&host, &inst);

    // Generate with a cancel after three updates.
    host.clear_records();
    host.cancel_progress_after(Some(3));
    assert_eq!(inst.press("go"), OK);
    host.cancel_progress_after(None);
    if config.progress_suite {
        assert_eq!(inst.param_str("status"), "cancelled at 4");
        let events = host.progress_events();
        assert_eq!(events.len(), 6, "{events:?}");
        assert!(
            matches!(events[4], ProgressEvent::Update { reply, .. } if reply == kOfxStatReplyNo)
        );
        assert_eq!(events.last(), Some(&ProgressEvent::End));
        assert_eq!(inst.press("go"), OK);
        assert_eq!(inst.param_str("status"), "done");
    } else {
        assert_eq!(inst.param_str("status"), "done");
    }

    // An error: reported with a message (when there is a suite) and the status parameter.
    assert_eq!(inst.set_param("count", Value::Int(7)), kOfxStatFailed);
    assert_eq!(inst.param_str("status"), "error");
    if config.message_suite {
        let errors: Vec<_> = host
            .messages()
            .into_iter()
            .filter(|m| m.is_error())
            .collect();
        assert_eq!(errors[0].text, "count 7 is bad: seven");
        assert_eq!(inst.persistent_message().unwrap().text, "persistent seven");
        assert_eq!(inst.set_param("count", Value::Int(2)), OK);
        assert!(inst.persistent_message().is_none());
    }
    assert!(
        inst.render(&RenderRequest::at(0.0)).ok(),
        "the host keeps going"
    );

    let general = plugin.create_instance(Context::General).expect("created");
    general.store_param("count", &Value::Int(5));
    assert_eq!(general.time_domain(), (OK, [0.0, 4.0]));
    assert_eq!(general.purge_caches(), kOfxStatReplyDefault);
    assert_eq!(general.destroy(), OK);

    assert_eq!(
        inst.begin_sequence_render([0.0, 7.0], 1.0, false),
        kOfxStatReplyDefault
    );
    assert_eq!(
        inst.end_sequence_render([0.0, 7.0], 1.0, false),
        kOfxStatReplyDefault
    );
    let inst = Arc::into_inner(inst).expect("render threads are done");
    assert_eq!(inst.destroy(), OK);
    assert_eq!(plugin.unload(), OK);
    drop(plugin);
    binary.close().expect("closed");
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn mock_session_on_a_natron_like_host() {
    run(HostConfig::natron_like());
}

#[test]
fn mock_session_on_a_resolve_like_host_with_negative_rows() {
    run(HostConfig {
        negative_row_bytes: true,
        ..HostConfig::resolve_like()
    });
}

#[test]
fn mock_session_on_a_minimal_host() {
    run(HostConfig::minimal());
}
