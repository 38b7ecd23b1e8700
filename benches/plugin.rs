//! Plug-in benchmark, through the headless OpenFX host in `tests/host/`:
//!
//! 1. Load and describe: `dlopen`, `OfxSetHost`, `OfxGetPlugin`, `setHost`, Load, Describe and
//!    DescribeInContext(Generator), timed over 20 fresh loads (each ends with Unload and
//!    `dlclose`); and whether ONNX Runtime got mapped into the process by then (it must not:
//!    hosts load and describe every plug-in at start-up and while scanning). Target: < 20 ms.
//! 2. Rendering a cached frame into a 1920x1080 RGBA float image, against copying the same
//!    number of bytes with `copy_from_slice`: median of 20 Render actions after one warm-up
//!    render that generates the clip (tiny model, 2 steps). Target: at most 2x the copy.
//!
//! Prints figures; asserts nothing. Run with `cargo bench --bench plugin`.
//!
//! Needs: the plug-in cdylib cargo builds with this bench (`target/release/deps/`), or
//! `$PROMPTREEL_OFX_BINARY`; ONNX Runtime at `target/onnxruntime/libonnxruntime.so` (or
//! `$PROMPTREEL_ORT_LIB`); the tiny model package in `onnx/tests/data/tiny-unet3d/`.

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[path = "../tests/host/mod.rs"]
// NOTE: cargo compiles benches with `cfg(test)`, which brings in the host's own unit-test
// modules; without a test harness their `#[test]` functions vanish and leave imports unused.
#[allow(unused_imports)]
mod host;

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn main() {
    bench::run();
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn main() {
    println!("plugin benchmark: the headless test host runs on x86-64 and AArch64 Linux only");
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod bench {
    use std::path::{Path, PathBuf};
    use std::process::exit;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ofx_sys::*;

    use super::host::effect::RenderTarget;
    use super::host::ffi::lock;
    use super::host::prop_schema::Def;
    use super::host::{
        BitDepth, Context, Host, HostConfig, ImageBuffer, Instance, Project, RenderRequest, Value,
    };

    const PLUGIN_ID: &str = "org.promptreel.TextToVideo";
    /// Timed repetitions of each measurement.
    const RUNS: usize = 20;
    const WIDTH: usize = 1920;
    const HEIGHT: usize = 1080;
    /// Bytes of one RGBA float frame.
    const FRAME_BYTES: usize = WIDTH * HEIGHT * 4 * 4;

    fn workspace() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The plug-in binary and where it came from.
    fn plugin_binary() -> (PathBuf, &'static str) {
        if let Some(path) = std::env::var_os("PROMPTREEL_OFX_BINARY") {
            return (path.into(), "$PROMPTREEL_OFX_BINARY");
        }
        let exe = std::env::current_exe().unwrap_or_default();
        let deps = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = "libpromptreel_ofx.so";
        if deps.join(name).is_file() {
            return (deps.join(name), "built by cargo with this bench");
        }
        let up = deps.join("..").join(name);
        if up.is_file() {
            return (up, "NOT rebuilt with this bench (may be stale)");
        }
        eprintln!(
            "plugin benchmark: no {name} in {}; build it with `cargo build --release --lib` \
             or point PROMPTREEL_OFX_BINARY at a build",
            deps.display()
        );
        exit(2);
    }

    /// Points the plug-in at ONNX Runtime and a fresh disk cache; runs before anything is
    /// loaded, while this process has one thread.
    fn prepare_environment() -> PathBuf {
        let ort = std::env::var_os("PROMPTREEL_ORT_LIB")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target/onnxruntime/libonnxruntime.so"));
        if !ort.is_file() {
            eprintln!(
                "plugin benchmark: missing ONNX Runtime {} (run tools/fetch_onnxruntime.sh)",
                ort.display()
            );
            exit(2);
        }
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("plugin-bench-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        // SAFETY: called first thing in `main`, before any other thread exists and before the
        // plug-in or ONNX Runtime (the only readers of these variables) are loaded.
        unsafe {
            std::env::set_var("PROMPTREEL_ORT_LIB", &ort);
            std::env::set_var("PROMPTREEL_CACHE_DIR", &cache);
            std::env::remove_var("PROMPTREEL_MODEL");
        }
        cache
    }

    /// Whether a mapping whose path contains `name` is in this process.
    fn mapped(name: &str) -> bool {
        std::fs::read_to_string("/proc/self/maps")
            .map(|maps| maps.lines().any(|l| l.contains(name)))
            .unwrap_or(false)
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    fn ok(status: OfxStatus) -> bool {
        status == kOfxStatOK || status == kOfxStatReplyDefault
    }

    /// One load: everything a host does before it can show the effect in its menus. Returns
    /// its time and whether ONNX Runtime was mapped right after it.
    fn load_and_describe(host: &Host, path: &Path) -> (Duration, bool) {
        let started = Instant::now();
        let binary = host.open(path).unwrap_or_else(|e| {
            eprintln!("plugin benchmark: {e}");
            exit(1);
        });
        let plugin = binary.find(PLUGIN_ID).unwrap_or_else(|e| {
            eprintln!("plugin benchmark: {e}");
            exit(1);
        });
        let statuses = [
            plugin.load(),
            plugin.describe(),
            plugin.describe_in_context(Context::Generator),
        ];
        let took = started.elapsed();
        let ort_mapped = mapped("libonnxruntime");
        if !statuses.iter().all(|s| ok(*s)) {
            eprintln!("plugin benchmark: Load/Describe/DescribeInContext answered {statuses:?}");
        }
        plugin.unload();
        drop(plugin);
        if let Err(e) = binary.close() {
            eprintln!("plugin benchmark: dlclose: {e}");
        }
        (took, ort_mapped)
    }

    fn bench_load(path: &Path) {
        let host = Host::new(HostConfig::natron_like());
        let mut samples = Vec::with_capacity(RUNS);
        let mut ort_after_load = false;
        let mut unloads = 0;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for _ in 0..RUNS {
            let (took, ort_mapped) = load_and_describe(&host, path);
            samples.push(took);
            ort_after_load |= ort_mapped;
            if !mapped(&file_name) {
                unloads += 1;
            }
        }
        let first = samples[0];
        println!("load + describe (dlopen, OfxSetHost, OfxGetPlugin, setHost, Load, Describe,");
        println!("                 DescribeInContext(Generator)), {RUNS} loads:");
        println!("  first load:              {:8.3} ms", ms(first));
        println!(
            "  median:                  {:8.3} ms   (target < 20 ms)",
            ms(median(samples.clone()))
        );
        println!(
            "  slowest:                 {:8.3} ms",
            ms(samples.iter().copied().max().unwrap_or_default())
        );
        println!(
            "  dlclose unmapped the binary: {unloads} of {RUNS} times{}",
            if unloads == 0 {
                " (later loads reuse the mapping: only the first is a cold dlopen)"
            } else {
                ""
            }
        );
        println!(
            "  libonnxruntime mapped after Load/Describe: {}",
            if ort_after_load {
                "YES (it must not be)"
            } else {
                "no"
            }
        );
    }

    /// Sends Render for time 0 into `buffer` directly, as `Instance::render` does, so the
    /// timing holds the plug-in's work and not the host's buffer allocation.
    fn render_action(inst: &Instance, buffer: &Arc<ImageBuffer>, id: u64) -> (OfxStatus, Duration) {
        let runtime = inst.runtime().clone();
        let b = buffer.bounds;
        lock(&runtime.targets).push(RenderTarget {
            id,
            thread: std::thread::current().id(),
            time: 0.0,
            render_scale: [1.0, 1.0],
            field: kOfxImageFieldNone,
            buffer: buffer.clone(),
            rod_pixels: b,
        });
        let args = inst.in_args(kOfxImageEffectActionRender);
        Def::new(&args.props)
            .ro()
            .dbl1(kOfxPropTime, 0.0)
            .str1(
                kOfxImageEffectPropFieldToRender,
                kOfxImageFieldNone.to_str().unwrap_or_default(),
            )
            .int_n(kOfxImageEffectPropRenderWindow, &[b.x1, b.y1, b.x2, b.y2])
            .dbl_n(kOfxImageEffectPropRenderScale, &[1.0, 1.0])
            .int1(kOfxImageEffectPropSequentialRenderStatus, 0)
            .int1(kOfxImageEffectPropInteractiveRenderStatus, 0)
            .int1(kOfxImageEffectPropRenderQualityDraft, 0);
        let started = Instant::now();
        let status = inst.call(kOfxImageEffectActionRender, Some(&args), None);
        let took = started.elapsed();
        lock(&runtime.targets).retain(|t| t.id != id);
        (status, took)
    }

    fn bench_render(path: &Path) {
        let config = HostConfig {
            project: Project {
                width: WIDTH as f64,
                height: HEIGHT as f64,
                ..Project::default()
            },
            ..HostConfig::natron_like()
        };
        let host = Host::new(config);
        let binary = host.open(path).unwrap_or_else(|e| {
            eprintln!("plugin benchmark: {e}");
            exit(1);
        });
        let plugin = binary.find(PLUGIN_ID).unwrap_or_else(|e| {
            eprintln!("plugin benchmark: {e}");
            exit(1);
        });
        plugin.load();
        plugin.describe();
        plugin.describe_in_context(Context::Generator);
        let Ok(inst) = plugin.create_instance(Context::Generator) else {
            eprintln!("plugin benchmark: CreateInstance failed");
            exit(1);
        };
        let cpu = plugin
            .param_props(Context::Generator, "device")
            .and_then(|p| p.strs(kOfxParamPropChoiceOption))
            .and_then(|o| o.iter().position(|o| o.eq_ignore_ascii_case("cpu")))
            .unwrap_or(1);
        let model = workspace().join("onnx/tests/data/tiny-unet3d");
        inst.set_params(&[
            ("modelFolder", Value::str(model.to_string_lossy())),
            ("device", Value::Int(i32::try_from(cpu).unwrap_or(1))),
            (
                "prompt",
                Value::str("a red ball bouncing on a wooden floor"),
            ),
            ("seed", Value::Int(7)),
            ("steps", Value::Int(2)),
        ]);
        inst.set_output_depth(BitDepth::Float);

        let started = Instant::now();
        let warm = inst.render(&RenderRequest::at(0.0));
        let warm_took = started.elapsed();
        if warm.status != kOfxStatOK {
            eprintln!(
                "plugin benchmark: the warm-up render answered {}; status {:?}, messages {:?}",
                warm.status,
                inst.param_str("status"),
                host.messages()
            );
            exit(1);
        }
        drop(warm);

        // One host render for reference: Instance::render also allocates and fills a fresh
        // 33 MB buffer, as a host would.
        let started = Instant::now();
        let full = inst.render(&RenderRequest::at(0.0));
        let host_render = started.elapsed();
        drop(full);

        let bounds = OfxRectI {
            x1: 0,
            y1: 0,
            x2: WIDTH as i32,
            y2: HEIGHT as i32,
        };
        let buffer = Arc::new(ImageBuffer::new(bounds, BitDepth::Float, false, 0));
        let mut renders = Vec::with_capacity(RUNS);
        let mut failures = 0;
        // The first pass faults the buffer's pages in; it is not counted.
        for id in 0..=RUNS as u64 {
            let (status, took) = render_action(&inst, &buffer, 1_000_000 + id);
            if status != kOfxStatOK {
                failures += 1;
            }
            if id > 0 {
                renders.push(took);
            }
        }
        let unwritten = buffer.poisoned_count(bounds);

        let source = vec![0x3Fu8; FRAME_BYTES];
        let mut target = vec![0u8; FRAME_BYTES];
        target.copy_from_slice(&source);
        let copies: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(&mut target).copy_from_slice(std::hint::black_box(&source));
                started.elapsed()
            })
            .collect();

        let render = median(renders);
        let copy = median(copies);
        println!();
        println!(
            "cached frame into {WIDTH}x{HEIGHT} RGBA float ({:.1} MB), median of {RUNS}:",
            FRAME_BYTES as f64 / 1e6
        );
        println!(
            "  warm-up render (generates the clip, 2 steps): {:8.1} ms",
            ms(warm_took)
        );
        println!("  Render action:           {:8.3} ms", ms(render));
        println!("  copy_from_slice:         {:8.3} ms", ms(copy));
        println!(
            "  ratio render / copy:     {:8.2} x   (target <= 2x)",
            render.as_secs_f64() / copy.as_secs_f64().max(1e-12)
        );
        println!(
            "  (one host render incl. allocating and filling its buffer: {:.3} ms)",
            ms(host_render)
        );
        if failures > 0 || unwritten > 0 {
            println!("  WARNING: {failures} renders failed, {unwritten} pixels left unwritten");
        }

        inst.destroy();
        plugin.unload();
        drop(plugin);
        let _ = binary.close();
    }

    pub fn run() {
        let cache = prepare_environment();
        let (path, origin) = plugin_binary();
        println!("plug-in binary: {} ({origin})", path.display());
        if mapped("libonnxruntime") {
            println!("note: libonnxruntime was mapped before the plug-in was loaded");
        }
        bench_load(&path);
        bench_render(&path);
        let _ = std::fs::remove_dir_all(cache);
    }
}
