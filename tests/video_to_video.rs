//! End to end: the "Video to Video" effect of the built plug-in in the headless test host
//! (`tests/host/`), in the Filter context with a synthetic Source (a red square moving right on
//! a dark blue ground): Restyle on the Natron-like and Resolve-like presets, frames equal to the
//! engine's own `generate` for the same request; a changed Source frame regenerates, an
//! unchanged or unused one does not (generations counted as clip files in the disk cache);
//! Animate refused for a UNet3D model and working for the tiny LTX package; every bad input
//! refused in words, with nothing generated; and a host without temporal clip access.
//!
//! Needs what `tests/ofx_host.rs` needs: the plug-in cdylib (built with this test, or
//! `$PROMPTREEL_OFX_BINARY`), ONNX Runtime (`target/onnxruntime/`, or `$PROMPTREEL_ORT_LIB`), and
//! the model packages in `bundle/models/default` and `onnx/tests/data/`.

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod host;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use host::{
    BitDepth, Context, Host, HostConfig, ImageBuffer, Instance, RenderRequest, Rendered,
    SourceClip, Value,
};
use ofx_sys::*;
use promptreel_engine::image::{ImageFit, RgbImage};
use promptreel_engine::{Device, GenerateRequest, SessionOptions, Silent, Video};
use promptreel_ofx::effect::params::{FITS, Retiming};
use promptreel_ofx::effect::render::{FramePick, blend, pick_frame};
use promptreel_ofx::resample::{Colour, Target, render_canvas};

const TEXT_ID: &str = "org.promptreel.TextToVideo";
const VIDEO_ID: &str = "org.promptreel.VideoToVideo";
const OK: OfxStatus = kOfxStatOK;
/// Option indices.
const RESTYLE: i32 = 0;
const ANIMATE: i32 = 1;
const ON_RENDER_ON: i32 = 1;
const FIT: i32 = 0;
const FILL: i32 = 1;

/// The plug-in keeps process-wide state: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$PROMPTREEL_OFX_BINARY`, else the cdylib cargo built together with this test.
fn plugin_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMPTREEL_OFX_BINARY") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let name = "libpromptreel_ofx.so";
    [deps.join(name), deps.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("no plug-in binary: build the crate (cargo build) or set PROMPTREEL_OFX_BINARY")
        })
}

/// Sets the plug-in's environment once (ONNX Runtime, a fresh disk cache for this process);
/// returns the cache folder.
fn prepare_environment() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let ort = std::env::var_os("PROMPTREEL_ORT_LIB")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target/onnxruntime/libonnxruntime.so"));
        assert!(ort.is_file(), "missing ONNX Runtime {}", ort.display());
        let cache =
            std::env::temp_dir().join(format!("promptreel-v2v-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).expect("cache folder");
        // SAFETY: runs once, before this process loads the plug-in or ONNX Runtime.
        unsafe {
            std::env::set_var("PROMPTREEL_ORT_LIB", &ort);
            std::env::set_var("PROMPTREEL_CACHE_DIR", &cache);
            std::env::remove_var("PROMPTREEL_MODEL");
        }
        cache
    })
}

fn succeeded(status: OfxStatus) -> bool {
    status == kOfxStatOK || status == kOfxStatReplyDefault
}

/// The `.prclip` files in the disk cache: one per clip generated.
fn clip_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|list| {
            list.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "prclip"))
                .count()
        })
        .unwrap_or(0)
}

fn bundled_model() -> PathBuf {
    workspace().join("bundle/models/default")
}

fn test_model(name: &str) -> PathBuf {
    workspace().join("onnx/tests/data").join(name)
}

/// The Source: `frames` frames of `size` x `size` from host time `first`, a dark blue ground
/// with a 12-pixel red square moving 2 pixels right per frame; `colour` recolours frame
/// `recolour` (to change one frame).
struct Square {
    size: i32,
    frames: usize,
    first: f64,
}

impl Square {
    fn pixel(&self, i: usize, x: i32, y: i32, red: [f32; 3]) -> [f32; 4] {
        let x0 = 4 + 2 * i as i32;
        let y0 = self.size / 2 - 6;
        if (x0..x0 + 12).contains(&x) && (y0..y0 + 12).contains(&y) {
            [red[0], red[1], red[2], 1.0]
        } else {
            [0.05, 0.08, 0.3, 1.0]
        }
    }

    fn clip(&self) -> SourceClip {
        SourceClip::from_fn(self.size, self.size, self.frames, self.first, |i, x, y| {
            self.pixel(i, x, y, [0.9, 0.1, 0.1])
        })
    }

    /// Frame `i` with another square colour, as the host hands it out (float RGBA).
    fn recoloured(&self, i: usize, red: [f32; 3]) -> ImageBuffer {
        let bounds = OfxRectI {
            x1: 0,
            y1: 0,
            x2: self.size,
            y2: self.size,
        };
        ImageBuffer::from_fn(bounds, BitDepth::Float, |x, y| self.pixel(i, x, y, red))
    }

    /// Frame `i` as the engine takes it: 8-bit RGB, rows top to bottom (OpenFX rows go up).
    fn rgb(&self, i: usize, red: [f32; 3]) -> RgbImage {
        let mut data = Vec::new();
        for y in (0..self.size).rev() {
            for x in 0..self.size {
                let p = self.pixel(i, x, y, red);
                for v in &p[..3] {
                    data.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
        RgbImage::new(self.size as u32, self.size as u32, data).expect("image")
    }
}

const RED: [f32; 3] = [0.9, 0.1, 0.1];
const GREEN: [f32; 3] = [0.1, 0.9, 0.2];

/// What a test generates.
#[derive(Clone, Debug)]
struct Settings {
    model: PathBuf,
    prompt: String,
    seed: i32,
    steps: i32,
    frames: i32,
    mode: i32,
    strength: f64,
    fit: i32,
}

/// A plug-in binary loaded into a host, both effects loaded and described.
struct Loaded {
    host: Host,
    binary: host::Binary,
    video: host::Plugin,
    text: host::Plugin,
}

impl Loaded {
    fn new(config: HostConfig) -> Self {
        let host = Host::new(config);
        let binary = host.open(plugin_binary()).expect("loads");
        if let Some(status) = binary.set_host_status() {
            assert!(succeeded(status), "OfxSetHost answered {status}");
        }
        assert_eq!(binary.count(), 2, "two effects in the binary");
        let ids = binary.identifiers();
        assert!(ids.contains(&TEXT_ID.to_owned()) && ids.contains(&VIDEO_ID.to_owned()));
        let text = binary.find(TEXT_ID).expect("Text to Video");
        let video = binary.find(VIDEO_ID).expect("Video to Video");
        for p in [&text, &video] {
            assert_eq!(p.load(), OK);
            assert_eq!(p.describe(), OK);
        }
        Self {
            host,
            binary,
            video,
            text,
        }
    }

    /// Unloads both effects (Text to Video first: Video to Video must keep working until its
    /// own Unload) and closes the binary; no protocol violation may have happened.
    fn close(self, check: impl FnOnce(&host::Plugin)) {
        assert_eq!(self.text.unload(), OK);
        check(&self.video);
        assert_eq!(self.video.unload(), OK);
        drop(self.text);
        drop(self.video);
        self.binary.close().expect("dlclose");
        assert!(
            self.host.violations().is_empty(),
            "protocol violations: {:#?}",
            self.host.violations()
        );
    }

    fn option(&self, param: &str, word: &str) -> i32 {
        let options = self
            .video
            .param_props(Context::Filter, param)
            .and_then(|p| p.strs(kOfxParamPropChoiceOption))
            .unwrap_or_default();
        options
            .iter()
            .position(|o| o.to_lowercase().contains(word))
            .unwrap_or_else(|| panic!("no {word} option in {param}: {options:?}")) as i32
    }
}

/// Sets the settings on an instance, as a user would.
fn apply(loaded: &Loaded, inst: &Instance, s: &Settings) {
    let cpu = loaded.option("device", "cpu");
    let edits = [
        ("modelFolder", Value::str(s.model.to_string_lossy())),
        ("device", Value::Int(cpu)),
        ("prompt", Value::str(&s.prompt)),
        ("seed", Value::Int(s.seed)),
        ("steps", Value::Int(s.steps)),
        ("frames", Value::Int(s.frames)),
        ("mode", Value::Int(s.mode)),
        ("strength", Value::Double(s.strength)),
        ("fit", Value::Int(s.fit)),
        ("generateOnRender", Value::Int(ON_RENDER_ON)),
    ];
    for (name, value) in edits {
        let status = inst.set_param(name, value);
        assert!(
            succeeded(status),
            "InstanceChanged({name}) answered {status}"
        );
    }
}

/// The engine's own clip for `s` made from `video` (Restyle) or `image` (Animate), at the
/// host's rate for models conditioned on it.
fn engine_clip(s: &Settings, source: Source, host_fps: f64, fit: ImageFit) -> Arc<Video> {
    static CLIPS: OnceLock<Mutex<Vec<EngineClip>>> = OnceLock::new();
    let manifest = promptreel_engine::package::Manifest::read(&s.model).expect("manifest");
    let frames = match s.frames {
        0 => manifest.native.frames,
        f => f as u32,
    };
    let mut request = GenerateRequest {
        prompt: s.prompt.clone(),
        seed: s.seed as u64,
        steps: s.steps as u32,
        guidance: 7.5,
        frames: Some(frames),
        frame_rate: manifest
            .denoiser
            .rope_interpolation_scale
            .is_some()
            .then_some(host_fps as f32),
        image_fit: fit,
        ..GenerateRequest::default()
    };
    match source {
        Source::Video(frames) => {
            request.video = Some(frames);
            request.strength = Some(s.strength as f32);
        }
        Source::Image(image) => request.image = Some(image),
    }
    let key = format!("{request:?}");
    let clips = CLIPS.get_or_init(Default::default);
    if let Some((_, v)) = clips
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(k, _)| *k == key)
    {
        return v.clone();
    }
    let options = SessionOptions {
        device: Device::Cpu,
        intra_threads: 0,
        ..Default::default()
    };
    let model =
        promptreel_engine::registry::get(&s.model, options, None).expect("the engine loads");
    let video = Arc::new(
        promptreel_engine::generate(&model, &request, &mut Silent).expect("the engine generates"),
    );
    clips
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((key, video.clone()));
    video
}

/// A clip the engine made, by its request's `Debug` text.
type EngineClip = (String, Arc<Video>);

enum Source {
    Video(Vec<RgbImage>),
    Image(RgbImage),
}

/// Checks a render of host `time` against the engine's clip, which starts at `first`.
fn assert_engine_frame(
    r: &Rendered,
    video: &Video,
    s: &Settings,
    time: f64,
    first: f64,
    p: &host::Project,
) {
    assert_eq!(r.status, OK, "render at {time}");
    assert_eq!(r.unwritten(), 0, "render at {time}: pixels left unwritten");
    assert_eq!(
        r.images_unreleased, 0,
        "render at {time}: images not released"
    );
    let pick = pick_frame(
        time - first,
        video.frame_count,
        video.fps,
        p.frame_rate,
        Retiming::Blend,
    );
    let pixels = match pick {
        FramePick::Exact(i) => video.frame(i).expect("frame").to_vec(),
        FramePick::Blend { first, weight } => blend(
            video.frame(first).expect("frame"),
            video.frame(first + 1).expect("frame"),
            weight,
        ),
    };
    let (cw, ch) = (p.width as usize, p.height as usize);
    let canvas = render_canvas(
        &pixels,
        video.width,
        video.height,
        &Target {
            width: cw,
            height: ch,
            pixel_aspect: 1.0,
            fit: FITS[s.fit as usize].1,
            colour: Colour::Srgb,
        },
    )
    .expect("canvas");
    let w = r.window;
    let got = r.pixels();
    let mut i = 0;
    let mut worst = 0.0f32;
    for y in w.y1..w.y2 {
        let row = canvas.row(ch - 1 - y as usize);
        for x in w.x1..w.x2 {
            let c = x as usize;
            for k in 0..4 {
                worst = worst.max((got[i][k] - row[c * 4 + k]).abs());
            }
            i += 1;
        }
    }
    let tolerance = r.image.depth.quantum() * 1.01 + 1e-3;
    assert!(
        worst <= tolerance,
        "frame {time} differs from the engine's by {worst}"
    );
}

/// Renders `time`; the render must fail and the error (message or Status line) must contain
/// every one of `words`. Nothing may be generated.
fn assert_refused(loaded: &Loaded, inst: &Instance, cache: &Path, time: f64, words: &[&str]) {
    let before = clip_files(cache);
    loaded.host.clear_records();
    let r = inst.render(&RenderRequest::at(time));
    assert_ne!(r.status, OK, "the render must fail ({words:?})");
    assert_eq!(r.images_unreleased, 0, "images not released");
    let status = inst.param_str("status");
    let message = loaded
        .host
        .messages()
        .into_iter()
        .filter(|m| m.is_error())
        .map(|m| m.text)
        .collect::<Vec<_>>()
        .join(" | ");
    for word in words {
        let found =
            status.contains(word) || (loaded.host.config().message_suite && message.contains(word));
        assert!(
            found,
            "{word:?} is not in the Status line {status:?} nor the messages {message:?}"
        );
    }
    let pressed = inst.press("generate");
    assert!(!succeeded(pressed), "Generate must refuse too ({words:?})");
    let status = inst.param_str("status");
    for word in words {
        assert!(
            status.contains(word),
            "{word:?} is not in the Status line {status:?}"
        );
    }
    assert_eq!(
        clip_files(cache),
        before,
        "nothing is generated ({words:?})"
    );
}

/// The descriptions: contexts, the Source clip, temporal access, the new parameters.
fn check_description(loaded: &Loaded) {
    let v = &loaded.video;
    let contexts = v.supported_contexts();
    assert!(
        contexts.contains(&Context::Filter) && contexts.contains(&Context::General),
        "{contexts:?}"
    );
    assert!(!contexts.contains(&Context::Generator));
    let d = v.descriptor_props().expect("descriptor");
    assert_eq!(d.str(kOfxPropLabel).as_deref(), Some("Video to Video"));
    assert_eq!(
        d.str(kOfxImageEffectPluginPropGrouping).as_deref(),
        Some("Promptreel")
    );
    assert_eq!(d.int(kOfxImageEffectPropTemporalClipAccess), Some(1));
    for context in [Context::Filter, Context::General] {
        assert_eq!(v.describe_in_context(context), OK, "{context:?}");
        let clips = v.clip_names(context);
        assert!(
            clips.contains(&"Source".to_owned()) && clips.contains(&"Output".to_owned()),
            "{clips:?}"
        );
        let source = v.clip_props(context, "Source").expect("Source");
        assert_eq!(source.int(kOfxImageClipPropOptional), Some(0), "mandatory");
    }
    assert_ne!(v.describe_in_context(Context::Generator), OK);
    let types = [
        ("mode", "OfxParamTypeChoice"),
        ("strength", "OfxParamTypeDouble"),
        ("prompt", "OfxParamTypeString"),
        ("retiming", "OfxParamTypeChoice"),
        ("generateOnRender", "OfxParamTypeChoice"),
        ("generate", "OfxParamTypePushButton"),
    ];
    for (name, ty) in types {
        assert_eq!(
            v.param_type(Context::Filter, name).as_deref(),
            Some(ty),
            "{name}"
        );
    }
    let strength = v
        .param_props(Context::Filter, "strength")
        .expect("strength");
    assert_eq!(strength.double(kOfxParamPropDefault), Some(0.6));
    assert_eq!(strength.double(kOfxParamPropMin), Some(0.0));
    assert_eq!(strength.double(kOfxParamPropMax), Some(1.0));
    // Text to Video is as it was: a generator, no Mode.
    assert!(
        loaded
            .text
            .supported_contexts()
            .contains(&Context::Generator)
    );
    assert_eq!(loaded.text.describe_in_context(Context::Generator), OK);
    assert_eq!(loaded.text.param_type(Context::Generator, "mode"), None);
}

/// Restyle of the moving square in the Filter context on a host configured as `config`.
fn restyle_scenario(config: HostConfig, seed: i32) {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = prepare_environment();
    let loaded = Loaded::new(config);
    check_description(&loaded);
    let p = loaded.host.config().project.clone();
    let square = Square {
        size: 72,
        frames: 30,
        first: 10.0,
    };
    let s = Settings {
        model: bundled_model(),
        prompt: "a blue ball moving right on a black background".into(),
        seed,
        steps: 2,
        frames: 0,
        mode: RESTYLE,
        strength: 0.6,
        fit: FIT,
    };
    let inst = Arc::new(
        loaded
            .video
            .create_instance(Context::Filter)
            .expect("instance"),
    );
    apply(&loaded, &inst, &s);

    // Nothing connected: refused in words.
    assert_refused(&loaded, &inst, cache, 0.0, &["needs a Source clip"]);

    inst.connect_clip("Source", square.clip());
    // The clip's 8 model frames at 8 fps come from every third Source frame on 24 fps.
    let needed: Vec<f64> = (0..8).map(|i| square.first + 3.0 * f64::from(i)).collect();
    let asked = inst.ask_frames_needed(square.first + 5.0);
    assert_eq!(asked.status, OK);
    assert_eq!(asked.ranges, vec![("Source".to_owned(), [10.0, 31.0])]);
    // The General context asks the time domain: the clip in host frames from the Source's
    // first frame (8 frames at 8 fps on 24 fps).
    let general = loaded
        .video
        .create_instance(Context::General)
        .expect("General instance");
    apply(&loaded, &general, &s);
    general.connect_clip("Source", square.clip());
    assert_eq!(general.time_domain(), (OK, [10.0, 33.0]));
    assert_eq!(general.destroy(), OK);

    let before = clip_files(cache);
    inst.clear_input_fetches();
    assert!(
        succeeded(inst.press("generate")),
        "Generate: {}",
        inst.param_str("status")
    );
    let status = inst.param_str("status");
    assert!(status.contains("8 frames, 32x32"), "{status:?}");
    assert_eq!(clip_files(cache), before + 1, "one clip generated");
    let fetched: Vec<f64> = inst.input_fetches().iter().map(|f| f.time).collect();
    assert!(
        needed.iter().all(|t| fetched.contains(t)),
        "Generate reads the Source frames {needed:?}, read {fetched:?}"
    );

    let video = engine_clip(
        &s,
        Source::Video(
            needed
                .iter()
                .map(|t| square.rgb((t - square.first) as usize, RED))
                .collect(),
        ),
        p.frame_rate,
        ImageFit::Stretch,
    );
    let times = [10.0, 11.0, 12.0, 13.0, 20.0, 31.0, 33.0, 5.0, 60.0];
    for &t in &times {
        inst.clear_input_fetches();
        let r = inst.render(&RenderRequest::at(t));
        assert_engine_frame(&r, &video, &s, t, square.first, &p);
        let fetches = inst.input_fetches();
        let read: Vec<f64> = fetches.iter().map(|f| f.time).collect();
        assert_eq!(
            read, needed,
            "a render at {t} reads the clip's Source frames"
        );
    }
    assert_eq!(
        clip_files(cache),
        before + 1,
        "renders of a generated clip generate nothing"
    );
    // Unchanged Source: Generate answers from the cache.
    assert!(succeeded(inst.press("generate")));
    assert!(
        inst.param_str("status").contains("(from cache)"),
        "{}",
        inst.param_str("status")
    );

    // A Source frame the clip does not use changes: still the same clip.
    inst.replace_source_frame("Source", 1, square.recoloured(1, GREEN));
    let r = inst.render(&RenderRequest::at(12.0));
    assert_engine_frame(&r, &video, &s, 12.0, square.first, &p);
    assert_eq!(
        clip_files(cache),
        before + 1,
        "an unused frame changed: nothing generated"
    );

    // A frame it uses changes: a new clip, made from the new pixels.
    inst.replace_source_frame("Source", 3, square.recoloured(3, GREEN));
    let r = inst.render(&RenderRequest::at(13.0));
    assert_eq!(
        clip_files(cache),
        before + 2,
        "a used frame changed: generated again"
    );
    let changed = engine_clip(
        &s,
        Source::Video(
            needed
                .iter()
                .map(|t| {
                    let i = (t - square.first) as usize;
                    square.rgb(i, if i == 3 { GREEN } else { RED })
                })
                .collect(),
        ),
        p.frame_rate,
        ImageFit::Stretch,
    );
    assert_engine_frame(&r, &changed, &s, 13.0, square.first, &p);
    assert!(
        changed.frames != video.frames,
        "the new Source makes another clip"
    );
    let r = inst.render(&RenderRequest::at(14.0));
    assert_engine_frame(&r, &changed, &s, 14.0, square.first, &p);
    assert_eq!(clip_files(cache), before + 2);

    // Renders from several threads at once, out of order.
    std::thread::scope(|scope| {
        for chunk in [[10.0, 30.0], [25.0, 11.0], [17.0, 22.0]] {
            let inst = &inst;
            let (changed, s, p) = (&changed, &s, &p);
            scope.spawn(move || {
                for t in chunk {
                    let r = inst.render(&RenderRequest::at(t));
                    assert_engine_frame(&r, changed, s, t, 10.0, p);
                }
            });
        }
    });
    assert_eq!(clip_files(cache), before + 2);

    let inst = Arc::into_inner(inst).expect("no render threads left");
    assert_eq!(inst.destroy(), OK);
    loaded.close(|video| {
        // Video to Video still works after Text to Video unloaded.
        let inst = video.create_instance(Context::Filter).expect("instance");
        assert_eq!(inst.destroy(), OK);
    });
}

#[test]
fn video_to_video_restyles_a_moving_square_on_a_natron_like_host() {
    restyle_scenario(HostConfig::natron_like(), 2024);
}

#[test]
fn video_to_video_restyles_a_moving_square_on_a_resolve_like_host() {
    restyle_scenario(HostConfig::resolve_like(), 4048);
}

/// Every bad input of issue 13, each refused in words (render and Generate), nothing cached;
/// then Animate with the tiny LTX package works, frames equal to the engine's.
#[test]
fn video_to_video_refuses_bad_input_and_animates_with_ltx() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = prepare_environment();
    let loaded = Loaded::new(HostConfig::natron_like());
    let p = loaded.host.config().project.clone();
    let square = Square {
        size: 72,
        frames: 30,
        first: 0.0,
    };
    let s = Settings {
        model: bundled_model(),
        prompt: "a blue ball moving right on a black background".into(),
        seed: 77,
        steps: 2,
        frames: 0,
        mode: RESTYLE,
        strength: 0.6,
        fit: FIT,
    };
    assert_eq!(loaded.video.describe_in_context(Context::Filter), OK);
    let inst = loaded
        .video
        .create_instance(Context::Filter)
        .expect("instance");
    apply(&loaded, &inst, &s);
    inst.connect_clip("Source", square.clip());

    // Strength out of range (a host need not clamp).
    for bad in [1.5, -0.25] {
        assert!(succeeded(inst.set_param("strength", Value::Double(bad))));
        assert_refused(
            &loaded,
            &inst,
            cache,
            0.0,
            &["Strength", "out of range", "0 (keep the Source) to 1"],
        );
    }
    assert!(succeeded(
        inst.set_param("strength", Value::Double(s.strength))
    ));

    // Pixels of another shape than the output's.
    inst.connect_clip("Source", square.clip().pixel_aspect(2.0));
    assert_refused(
        &loaded,
        &inst,
        cache,
        0.0,
        &["pixel aspect ratio is 2", "the output's is 1"],
    );

    // Too short: 8 model frames on 24 fps need 22 Source frames.
    let short = Square {
        frames: 12,
        ..square
    };
    inst.connect_clip("Source", short.clip());
    assert_refused(
        &loaded,
        &inst,
        cache,
        0.0,
        &["too short", "needs 22 Source frames", "has 12"],
    );
    inst.connect_clip("Source", square.clip());

    // A model without a VAE encoder cannot restyle.
    let no_encoder = test_model("tiny-wan-fp16");
    let manifest = promptreel_engine::package::Manifest::read(&no_encoder).expect("manifest");
    assert!(
        manifest.vae_encoder.is_none(),
        "the test needs a package without an encoder"
    );
    assert!(succeeded(inst.set_param(
        "modelFolder",
        Value::str(no_encoder.to_string_lossy())
    )));
    assert_refused(
        &loaded,
        &inst,
        cache,
        0.0,
        &["Restyle needs a model with a VAE encoder"],
    );

    // Animate with a UNet3D model: the families that can are named.
    let animate = loaded.option("mode", "animate");
    assert_eq!(animate, ANIMATE);
    assert!(succeeded(inst.set_param(
        "modelFolder",
        Value::str(s.model.to_string_lossy())
    )));
    assert!(succeeded(inst.set_param("mode", Value::Int(ANIMATE))));
    assert_refused(
        &loaded,
        &inst,
        cache,
        0.0,
        &[
            "Animate first frame needs an image-to-video model",
            "unet3d",
            "the families that can: ltx",
        ],
    );

    // Animate with the tiny LTX package: a clip from the Source's first frame.
    let ltx = Settings {
        model: test_model("tiny-ltx"),
        prompt: "a lighthouse at dusk".into(),
        seed: 11,
        steps: 2,
        frames: 9,
        mode: ANIMATE,
        strength: 0.6,
        fit: FILL,
    };
    apply(&loaded, &inst, &ltx);
    inst.connect_clip(
        "Source",
        Square {
            first: 4.0,
            ..square
        }
        .clip(),
    );
    let asked = inst.ask_frames_needed(6.0);
    assert_eq!(
        asked.ranges,
        vec![("Source".to_owned(), [4.0, 4.0])],
        "Animate reads the first frame"
    );
    let before = clip_files(cache);
    inst.clear_input_fetches();
    let r = inst.render(&RenderRequest::at(6.0));
    let reads: Vec<f64> = inst.input_fetches().iter().map(|f| f.time).collect();
    assert!(
        !reads.is_empty() && reads.iter().all(|t| *t == 4.0),
        "only the first frame is read: {reads:?}"
    );
    assert_eq!(clip_files(cache), before + 1);
    let video = engine_clip(
        &ltx,
        Source::Image(square.rgb(0, RED)),
        p.frame_rate,
        ImageFit::Crop,
    );
    assert_engine_frame(&r, &video, &ltx, 6.0, 4.0, &p);
    for t in [4.0, 9.0, 12.0, 40.0] {
        let r = inst.render(&RenderRequest::at(t));
        assert_engine_frame(&r, &video, &ltx, t, 4.0, &p);
    }
    assert_eq!(clip_files(cache), before + 1);
    assert_eq!(inst.destroy(), OK);

    // Disconnected Source on a General-context instance: refused in words.
    assert_eq!(loaded.video.describe_in_context(Context::General), OK);
    let general = loaded
        .video
        .create_instance(Context::General)
        .expect("General");
    apply(&loaded, &general, &s);
    assert_refused(&loaded, &general, cache, 0.0, &["needs a Source clip"]);
    assert_eq!(general.destroy(), OK);
    loaded.close(|_| {});
}

/// A host without temporal clip access: Restyle refuses, saying why; Animate animates the
/// frame being rendered (the only one it may read).
#[test]
fn video_to_video_on_a_host_without_temporal_clip_access() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = prepare_environment();
    let config = HostConfig::minimal();
    assert!(!config.temporal_clip_access);
    let loaded = Loaded::new(config);
    let p = loaded.host.config().project.clone();
    let square = Square {
        size: 72,
        frames: 30,
        first: 0.0,
    };
    let s = Settings {
        model: bundled_model(),
        prompt: "a blue ball moving right on a black background".into(),
        seed: 5,
        steps: 2,
        frames: 0,
        mode: RESTYLE,
        strength: 0.6,
        fit: FIT,
    };
    assert_eq!(loaded.video.describe_in_context(Context::Filter), OK);
    let inst = loaded
        .video
        .create_instance(Context::Filter)
        .expect("instance");
    apply(&loaded, &inst, &s);
    inst.connect_clip("Source", square.clip());
    assert_refused(
        &loaded,
        &inst,
        cache,
        3.0,
        &["Restyle needs a host with temporal clip access"],
    );

    let ltx = Settings {
        model: test_model("tiny-ltx"),
        prompt: "a lighthouse at dusk".into(),
        seed: 12,
        steps: 2,
        frames: 9,
        mode: ANIMATE,
        strength: 0.6,
        fit: FILL,
    };
    apply(&loaded, &inst, &ltx);
    let before = clip_files(cache);
    inst.clear_input_fetches();
    let r = inst.render(&RenderRequest::at(3.0));
    let reads: Vec<f64> = inst.input_fetches().iter().map(|f| f.time).collect();
    assert!(
        !reads.is_empty() && reads.iter().all(|t| *t == 3.0),
        "only the frame rendering is read: {reads:?}"
    );
    let video = engine_clip(
        &ltx,
        Source::Image(square.rgb(3, RED)),
        p.frame_rate,
        ImageFit::Crop,
    );
    assert_engine_frame(&r, &video, &ltx, 3.0, 0.0, &p);
    assert_eq!(clip_files(cache), before + 1);
    assert_eq!(inst.destroy(), OK);
    loaded.close(|_| {});
}
