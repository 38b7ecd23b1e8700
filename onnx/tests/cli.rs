//! The `promptreel` program run as a separate process, the way a user or a script runs it:
//! files written, the summary line, the JSON report, exit codes and messages for bad input, and
//! `inspect`. Every run is tiny (2 to 3 steps, 32x32 to 64x64) so the file stays fast.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use promptreel_engine::npy;
use serde_json::Value;

/// `onnx/tests/data`.
fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// A fresh folder for one test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("promptreel-cli-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the scratch folder");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What one run of the program did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Fails the test unless the program exited with `code`.
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "wrong exit status\n{self}");
        self
    }

    /// Fails the test unless stderr holds every one of `needles`.
    fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}\n{self}");
        }
        self
    }

    /// Fails the test unless stdout holds every one of `needles`.
    fn stdout_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stdout.contains(n), "stdout lacks {n:?}\n{self}");
        }
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `promptreel` with `args`; no run may end in a panic, whatever its exit status.
fn promptreel<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_promptreel"))
        .args(args)
        .env_remove("PROMPTREEL_MODEL")
        .output()
        .expect("start promptreel");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the program panicked\n{run}"
    );
    assert!(
        run.code.is_some(),
        "the program was killed by a signal\n{run}"
    );
    run
}

/// A `promptreel generate` command line: a small valid render that a test then alters.
struct Generate(Vec<(String, Option<OsString>)>);

impl Generate {
    /// 2 steps of 4 frames at 32x32 of tiny-unet3d on the CPU with one thread, into `out`.
    fn small(out: &Path) -> Self {
        let g = Self(Vec::new());
        g.set("--model", data().join("tiny-unet3d"))
            .set("--prompt", "a red ball bouncing on a green floor")
            .set("--steps", "2")
            .set("--frames", "4")
            .set("--width", "32")
            .set("--height", "32")
            .set("--device", "cpu")
            .set("--threads", "1")
            .set("--out", out)
    }

    /// Sets `flag` to `value`, replacing an earlier value (clap refuses a repeated flag).
    fn set(mut self, flag: &str, value: impl Into<OsString>) -> Self {
        let value = Some(value.into());
        match self.0.iter_mut().find(|(f, _)| f == flag) {
            Some(slot) => slot.1 = value,
            None => self.0.push((flag.to_string(), value)),
        }
        self
    }

    /// Drops `flag` and its value.
    fn unset(mut self, flag: &str) -> Self {
        self.0.retain(|(f, _)| f != flag);
        self
    }

    /// Adds a flag that takes no value.
    fn switch(mut self, flag: &str) -> Self {
        self.0.push((flag.to_string(), None));
        self
    }

    fn run(&self) -> Run {
        let mut args: Vec<OsString> = vec!["generate".into()];
        for (flag, value) in &self.0 {
            args.push(flag.into());
            args.extend(value.clone());
        }
        promptreel(&args)
    }
}

/// The names of the files in `dir`.
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn frame_name(i: usize) -> String {
    format!("frame_{i:04}.png")
}

/// Decodes an 8-bit RGB PNG: (width, height, pixels).
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("decode {}: {e}", path.display()));
    assert_eq!(
        info.color_type,
        png::ColorType::Rgb,
        "{} is not RGB",
        path.display()
    );
    assert_eq!(
        info.bit_depth,
        png::BitDepth::Eight,
        "{} is not 8-bit",
        path.display()
    );
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// A decoded GIF: its size, its loop setting and every frame as RGBA with its delay.
struct Gif {
    width: u16,
    height: u16,
    repeat: gif::Repeat,
    frames: Vec<(u16, u16, u16, Vec<u8>)>,
}

fn decode_gif(path: &Path) -> Gif {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts
        .read_info(Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("{} is not a GIF: {e}", path.display()));
    let mut frames = Vec::new();
    while let Some(f) = dec
        .read_next_frame()
        .unwrap_or_else(|e| panic!("decode {}: {e}", path.display()))
    {
        frames.push((f.width, f.height, f.delay, f.buffer.to_vec()));
    }
    Gif {
        width: dec.width(),
        height: dec.height(),
        repeat: dec.repeat(),
        frames,
    }
}

/// Mean absolute difference between an RGB and an RGBA image of the same size, in 8-bit units.
fn mean_rgb_diff(rgb: &[u8], rgba: &[u8]) -> f64 {
    assert_eq!(rgb.len() / 3, rgba.len() / 4, "pixel counts differ");
    let sum: u64 = rgb
        .chunks_exact(3)
        .zip(rgba.chunks_exact(4))
        .map(|(a, b)| (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>())
        .sum();
    sum as f64 / rgb.len() as f64
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()))
}

#[test]
fn generate_writes_frames_preview_report_and_summary() {
    let tmp = Scratch::new("generate");
    let out = tmp.path("out");
    let report = tmp.path("report.json");
    let run = Generate::small(&out)
        .set("--seed", "3")
        .set("--report", &report)
        .run();
    run.expect_code(0);

    // Exactly the frames and the preview: nothing half-written, nothing extra.
    let want: BTreeSet<String> = (0..4)
        .map(frame_name)
        .chain(["preview.gif".to_string()])
        .collect();
    assert_eq!(listing(&out), want, "files in the output folder");

    let pngs: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let (w, h, pixels) = decode_png(&out.join(frame_name(i)));
            assert_eq!((w, h), (32, 32), "size of frame {i}");
            assert_eq!(pixels.len(), 32 * 32 * 3, "RGB bytes of frame {i}");
            pixels
        })
        .collect();
    assert_ne!(
        pngs[0], pngs[3],
        "a clip whose first and last frames are identical"
    );

    let gif = decode_gif(&out.join("preview.gif"));
    assert_eq!((gif.width, gif.height), (32, 32), "preview size");
    assert_eq!(gif.frames.len(), 4, "preview frame count");
    assert_eq!(gif.repeat, gif::Repeat::Infinite, "the preview should loop");
    for (i, (w, h, delay, rgba)) in gif.frames.iter().enumerate() {
        assert_eq!((*w, *h), (32, 32), "size of preview frame {i}");
        // tiny-unet3d plays at 8 fps: 12.5 hundredths of a second per frame.
        assert!((12..=13).contains(delay), "preview frame {i} delay {delay}");
        // Palette quantisation changes pixels, never the picture: each preview frame is far
        // closer to its own PNG than to any other frame of the clip.
        let diffs: Vec<f64> = pngs.iter().map(|png| mean_rgb_diff(png, rgba)).collect();
        assert!(
            diffs[i] < 32.0,
            "preview frame {i} is far from {}: {diffs:.1?}",
            frame_name(i)
        );
        for (j, d) in diffs.iter().enumerate().filter(|(j, _)| *j != i) {
            assert!(
                diffs[i] * 2.0 < *d,
                "preview frame {i} is not {} (mean differences to the PNGs: {diffs:.1?}, frame {j}: {d:.1})",
                frame_name(i)
            );
        }
    }

    let summary = run.stdout.trim();
    assert_eq!(summary.lines().count(), 1, "one summary line\n{run}");
    run.stdout_has(&["4 frames", "32x32", "CPU", "2 steps", "s/step", "4 PNGs"]);

    let r = read_json(&report);
    assert_eq!(r["settings"]["steps"], 2, "{r:#}");
    assert_eq!(r["settings"]["frames"], 4, "{r:#}");
    assert_eq!(r["settings"]["width"], 32, "{r:#}");
    assert_eq!(r["settings"]["height"], 32, "{r:#}");
    assert_eq!(r["settings"]["seed"], 3, "{r:#}");
    assert_eq!(r["settings"]["device"], "cpu", "{r:#}");
    assert_eq!(r["settings"]["initial_latents"], false, "{r:#}");
    for graph in ["text encoder", "denoiser", "VAE decoder"] {
        assert_eq!(
            r["providers"][graph], "CPU",
            "provider of the {graph}: {r:#}"
        );
    }
    let per_step = r["seconds"]["per_step"]
        .as_array()
        .expect("seconds.per_step");
    assert_eq!(per_step.len(), 2, "{r:#}");
    assert!(
        per_step.iter().all(|s| s.as_f64().is_some_and(|s| s > 0.0)),
        "{r:#}"
    );
    assert!(
        r["peak_resident_bytes"].as_u64().is_some_and(|b| b > 0),
        "{r:#}"
    );
    assert!(
        r["model"]["weight_bytes"].as_u64().is_some_and(|b| b > 0),
        "{r:#}"
    );
    assert_eq!(r["warnings"], Value::Array(Vec::new()), "{r:#}");
    assert!(
        !listing(&tmp.0).iter().any(|f| f.ends_with(".part")),
        "a .part file next to the report"
    );
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_does_not() {
    let tmp = Scratch::new("seeds");
    let render = |name: &str, seed: &str| {
        let out = tmp.path(name);
        Generate::small(&out)
            .set("--seed", seed)
            .run()
            .expect_code(0);
        let mut files: Vec<Vec<u8>> = (0..4)
            .map(|i| fs::read(out.join(frame_name(i))).expect("frame"))
            .collect();
        files.push(fs::read(out.join("preview.gif")).expect("preview"));
        files
    };
    let a = render("a", "42");
    let b = render("b", "42");
    let c = render("c", "43");
    for i in 0..4 {
        assert_eq!(
            a[i],
            b[i],
            "{} differs between two runs with one seed",
            frame_name(i)
        );
        assert_ne!(
            a[i],
            c[i],
            "{} is the same for seeds 42 and 43",
            frame_name(i)
        );
    }
    assert_eq!(
        a[4], b[4],
        "preview.gif differs between two runs with one seed"
    );
}

/// Our scheduler name for a parity case's diffusers scheduler.
fn scheduler_name(case: &Value) -> &'static str {
    let karras = case["scheduler"]["config_overrides"]["use_karras_sigmas"]
        .as_bool()
        .unwrap_or(false);
    match (
        case["scheduler"]["class_name"].as_str().unwrap_or_default(),
        karras,
    ) {
        ("DDIMScheduler", _) => "ddim",
        ("EulerDiscreteScheduler", _) => "euler",
        ("EulerAncestralDiscreteScheduler", _) => "euler-a",
        ("DPMSolverMultistepScheduler", false) => "dpm++2m",
        ("DPMSolverMultistepScheduler", true) => "dpm++2m-karras",
        (other, _) => panic!("unknown scheduler {other} in a parity case"),
    }
}

/// Renders parity case `name` from its recorded latents through the CLI and checks the frames
/// against diffusers' within 1e-4, and the PNGs against those frames.
fn check_parity_case(name: &str, want_scheduler: &str) {
    let case_dir = data().join("parity").join(name);
    let case = read_json(&case_dir.join("case.json"));
    assert_eq!(scheduler_name(&case), want_scheduler, "scheduler of {name}");
    let number = |key: &str| {
        case[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {key}"))
            .to_string()
    };

    let tmp = Scratch::new(&format!("parity-{name}"));
    let out = tmp.path("out");
    let report = tmp.path("report.json");
    let mut cmd = Generate::small(&out)
        .set(
            "--model",
            data().join(case["package"].as_str().expect("package")),
        )
        .set("--prompt", case["prompt"].as_str().expect("prompt"))
        .set("--steps", number("steps"))
        .set("--guidance", number("guidance"))
        .set("--frames", number("frames"))
        .set("--width", number("width"))
        .set("--height", number("height"))
        .set("--scheduler", want_scheduler)
        .set("--latents", case_dir.join("latents.npy"))
        .set("--report", &report)
        .switch("--npy");
    if let Some(neg) = case["negative_prompt"].as_str() {
        cmd = cmd.set("--negative", neg);
    }
    cmd.run().expect_code(0);

    let expected = npy::read_f32(&case_dir.join("frames.npy")).expect("reference frames");
    let ours = npy::read_f32(&out.join("frames.npy")).expect("our frames.npy");
    assert_eq!(ours.shape, expected.shape, "{name}: frames.npy shape");
    let worst = ours
        .data
        .iter()
        .zip(&expected.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-4,
        "{name}: frames.npy differs from diffusers by {worst:e}"
    );

    // Each PNG is its frames.npy slice rounded to 8 bits, in the same [H, W, RGB] layout.
    let (f, h, w) = (ours.shape[0], ours.shape[1], ours.shape[2]);
    let per_frame = h * w * 3;
    for i in 0..f {
        let (pw, ph, pixels) = decode_png(&out.join(frame_name(i)));
        assert_eq!(
            (pw as usize, ph as usize),
            (w, h),
            "{name}: size of {}",
            frame_name(i)
        );
        let want: Vec<u8> = ours.data[i * per_frame..(i + 1) * per_frame]
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        assert!(
            pixels == want,
            "{name}: {} is not frames.npy[{i}] in 8 bits",
            frame_name(i)
        );
    }
    assert!(!out.join(frame_name(f)).exists(), "{name}: an extra frame");

    let r = read_json(&report);
    assert_eq!(r["settings"]["initial_latents"], true, "{r:#}");
    assert_eq!(r["settings"]["scheduler"], want_scheduler, "{r:#}");
}

#[test]
fn given_latents_reproduce_diffusers_unet3d_ddim_with_guidance() {
    check_parity_case("unet3d_ddim_cfg", "ddim");
}

#[test]
fn given_latents_reproduce_diffusers_unet3d_without_guidance_non_square() {
    check_parity_case("unet3d_no_cfg_48x32", "ddim");
}

#[test]
fn given_latents_reproduce_diffusers_sd_still() {
    check_parity_case("sd_ddim", "ddim");
}

#[test]
fn missing_model_folder_is_a_package_error_that_names_it() {
    let tmp = Scratch::new("nomodel");
    let missing = tmp.path("no-such-model");
    let out = tmp.path("out");
    Generate::small(&out)
        .set("--model", &missing)
        .run()
        .expect_code(3)
        .stderr_has(&[&missing.display().to_string()]);
    assert!(
        !out.exists(),
        "the output folder was created for a render that never started"
    );
}

#[test]
fn width_off_the_vae_grid_is_refused() {
    let tmp = Scratch::new("width30");
    let out = tmp.path("out");
    Generate::small(&out)
        .set("--width", "30")
        .run()
        .expect_code(2)
        .stderr_has(&["width 30", "multiple of 8"]);
    let pngs = if out.exists() {
        listing(&out)
            .into_iter()
            .filter(|f| f.ends_with(".png"))
            .count()
    } else {
        0
    };
    assert_eq!(pngs, 0, "frames written for a refused setting");
}

#[test]
fn zero_steps_is_refused() {
    let tmp = Scratch::new("steps0");
    Generate::small(&tmp.path("out"))
        .set("--steps", "0")
        .run()
        .expect_code(2)
        .stderr_has(&["steps 0"]);
}

#[test]
fn nan_guidance_is_refused() {
    let tmp = Scratch::new("nanguidance");
    Generate::small(&tmp.path("out"))
        .set("--guidance", "nan")
        .run()
        .expect_code(2)
        .stderr_has(&["guidance"]);
}

#[test]
fn unknown_device_is_refused_with_the_valid_names() {
    let tmp = Scratch::new("gpu");
    Generate::small(&tmp.path("out"))
        .set("--device", "gpu")
        .run()
        .expect_code(2)
        .stderr_has(&[
            "\"gpu\"", "auto", "cpu", "cuda", "tensorrt", "directml", "coreml",
        ]);
}

#[test]
fn unknown_scheduler_is_refused_with_the_valid_names() {
    let tmp = Scratch::new("plms");
    Generate::small(&tmp.path("out"))
        .set("--scheduler", "plms")
        .run()
        .expect_code(2)
        .stderr_has(&["\"plms\"", "ddim", "euler", "dpm++2m"]);
}

#[test]
fn missing_onnx_runtime_library_is_a_runtime_error_that_names_it() {
    let tmp = Scratch::new("nolib");
    Generate::small(&tmp.path("out"))
        .set("--ort-lib", "/nonexistent/libonnxruntime.so")
        .run()
        .expect_code(4)
        .stderr_has(&["/nonexistent/libonnxruntime.so"]);
}

#[test]
fn a_file_that_is_not_onnx_runtime_is_a_runtime_error() {
    let tmp = Scratch::new("notalib");
    let fake = tmp.path("libonnxruntime.so");
    fs::write(&fake, b"not a shared library").expect("write");
    Generate::small(&tmp.path("out"))
        .set("--ort-lib", &fake)
        .run()
        .expect_code(4)
        .stderr_has(&[&fake.display().to_string()]);
}

#[cfg(unix)]
#[test]
fn non_utf8_prompts_are_refused() {
    use std::os::unix::ffi::OsStringExt;
    let tmp = Scratch::new("latin1");
    let latin1 = || OsString::from_vec(b"caf\xe9".to_vec());
    Generate::small(&tmp.path("out"))
        .set("--prompt", latin1())
        .run()
        .expect_code(2)
        .stderr_has(&["--prompt", "UTF-8"]);
    Generate::small(&tmp.path("out"))
        .set("--negative", latin1())
        .run()
        .expect_code(2)
        .stderr_has(&["--negative", "UTF-8"]);
}

#[test]
fn latents_that_are_not_npy_are_refused_with_the_file_named() {
    let tmp = Scratch::new("notnpy");
    let bogus = tmp.path("latents.npy");
    fs::write(&bogus, b"{\"this\": \"is json\"}").expect("write");
    Generate::small(&tmp.path("out"))
        .set("--latents", &bogus)
        .run()
        .expect_code(2)
        .stderr_has(&[&bogus.display().to_string(), ".npy"]);
}

#[test]
fn latents_of_the_wrong_shape_are_refused() {
    let tmp = Scratch::new("wrongshape");
    // The case's latents are for 8 frames at 64x64; ask for 4 frames at 32x32.
    Generate::small(&tmp.path("out"))
        .set(
            "--latents",
            data().join("parity/unet3d_ddim_cfg/latents.npy"),
        )
        .run()
        .expect_code(2)
        .stderr_has(&["shape"]);
}

#[test]
fn a_very_long_prompt_renders_with_a_truncation_warning() {
    let tmp = Scratch::new("longprompt");
    let out = tmp.path("out");
    let prompt: String = "a red ball bouncing on a green floor "
        .chars()
        .cycle()
        .take(10_000)
        .collect();
    let run = Generate::small(&out).set("--prompt", prompt).run();
    run.expect_code(0)
        .stderr_has(&["warning", "prompt is too long", "ignored"])
        .stdout_has(&["4 frames"]);
    for i in 0..4 {
        assert!(
            out.join(frame_name(i)).is_file(),
            "{} missing",
            frame_name(i)
        );
    }
}

#[test]
fn unwritable_outputs_are_io_errors() {
    let tmp = Scratch::new("io");
    let file = tmp.path("a-file");
    fs::write(&file, b"x").expect("write");
    Generate::small(&file)
        .run()
        .expect_code(6)
        .stderr_has(&[&file.display().to_string()]);

    let report = tmp.path("missing-folder").join("report.json");
    Generate::small(&tmp.path("out"))
        .set("--report", &report)
        .run()
        .expect_code(6)
        .stderr_has(&[&report.display().to_string()]);
}

#[test]
fn version_is_the_package_version() {
    // The plug-in (major.minor) and the bundle's Info.plist state the same version; see
    // tests/bundle.rs in the workspace root.
    let want = format!("promptreel {}", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        let run = promptreel(&[flag]);
        run.expect_code(0);
        assert_eq!(run.stdout.trim(), want, "{run}");
    }
}

#[test]
fn unparsable_numbers_are_refused_by_the_argument_parser() {
    let tmp = Scratch::new("clap");
    Generate::small(&tmp.path("out"))
        .set("--steps", "two")
        .run()
        .expect_code(2)
        .stderr_has(&["--steps"]);
    Generate::small(&tmp.path("out"))
        .unset("--prompt")
        .run()
        .expect_code(2)
        .stderr_has(&["--prompt"]);
}

#[test]
fn inspect_reports_external_data_and_a_valid_package() {
    let model = data().join("tiny-sd-external");
    let run = promptreel(&[
        OsStr::new("inspect"),
        OsStr::new("--model"),
        model.as_os_str(),
        OsStr::new("--device"),
        OsStr::new("cpu"),
    ]);
    run.expect_code(0).stdout_has(&[
        "tiny-sd-external",
        "external data",
        "model.onnx_data",
        "valid",
        "on CPU",
    ]);
}

#[test]
fn inspect_names_a_truncated_graph() {
    let tmp = Scratch::new("inspect-truncated");
    let pkg = tmp.path("tiny-unet3d");
    let src = data().join("tiny-unet3d");
    for e in fs::read_dir(&src).expect("read fixture").flatten() {
        let to = pkg.join(e.file_name());
        if e.path().is_dir() {
            fs::create_dir_all(&to).expect("mkdir");
            for f in fs::read_dir(e.path()).expect("read").flatten() {
                fs::copy(f.path(), to.join(f.file_name())).expect("copy");
            }
        } else {
            fs::create_dir_all(&pkg).expect("mkdir");
            fs::copy(e.path(), &to).expect("copy");
        }
    }
    let graph = pkg.join("unet").join("model.onnx");
    let bytes = fs::read(&graph).expect("read graph");
    fs::write(&graph, &bytes[..bytes.len() / 3]).expect("truncate");

    let named = graph.display().to_string();
    for extra in [None, Some("--no-runtime")] {
        let mut args = vec![
            OsString::from("inspect"),
            "--model".into(),
            pkg.clone().into(),
        ];
        args.extend(extra.map(OsString::from));
        let run = promptreel(&args);
        assert_ne!(run.code, Some(0), "a truncated graph passed inspect\n{run}");
        run.expect_code(3).stderr_has(&[&named]);
        assert!(
            !run.stdout.contains("valid "),
            "a truncated package reported valid\n{run}"
        );
    }
    Generate::small(&tmp.path("out"))
        .set("--model", &pkg)
        .run()
        .expect_code(3)
        .stderr_has(&[&named]);
}

#[test]
fn inspect_without_runtime_checks_files_only() {
    let model = data().join("tiny-unet3d");
    let args = |extra: &[&str]| {
        let mut a = vec![
            OsString::from("inspect"),
            "--model".into(),
            model.clone().into(),
        ];
        a.extend(extra.iter().map(OsString::from));
        a
    };
    // A broken runtime path does not matter when the runtime is not loaded ...
    promptreel(&args(&[
        "--no-runtime",
        "--ort-lib",
        "/nonexistent/libonnxruntime.so",
    ]))
    .expect_code(0)
    .stdout_has(&["tiny-unet3d", "64x64", "8 frame", "valid", "not loaded"]);
    // ... and does when it is.
    promptreel(&args(&["--ort-lib", "/nonexistent/libonnxruntime.so"]))
        .expect_code(4)
        .stderr_has(&["/nonexistent/libonnxruntime.so"]);
}

#[test]
fn rendering_into_a_used_folder_leaves_only_this_clip() {
    let tmp = Scratch::new("reuse");
    let out = tmp.path("out");
    Generate::small(&out)
        .set("--frames", "6")
        .run()
        .expect_code(0);
    Generate::small(&out)
        .set("--frames", "3")
        .run()
        .expect_code(0);
    let pngs: BTreeSet<String> = listing(&out)
        .into_iter()
        .filter(|f| f.ends_with(".png"))
        .collect();
    let want: BTreeSet<String> = (0..3).map(frame_name).collect();
    assert_eq!(
        pngs, want,
        "the folder should hold exactly the 3 frames of the last render"
    );
}

/// 2 steps of tiny-ltx, 9 frames at 64x64, without guidance.
fn small_ltx(out: &Path) -> Generate {
    Generate::small(out)
        .set("--model", data().join("tiny-ltx"))
        .set("--frames", "9")
        .set("--width", "64")
        .set("--height", "64")
        .set("--guidance", "1")
}

#[test]
fn ltx_image_to_video_from_the_command_line() {
    let tmp = Scratch::new("ltx-image");
    let out = tmp.path("out");
    let report = tmp.path("report.json");
    small_ltx(&out)
        .set("--image", data().join("ltx-parity/i2v_resized/image.png"))
        .set("--frame-rate", "30")
        .set("--report", &report)
        .run()
        .expect_code(0)
        .stdout_has(&["9 frames", "64x64"]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(r["settings"]["image"], true);
    assert_eq!(r["settings"]["frame_rate"], 30.0);
    // the package's decode settings (LTX-Video 0.9.1's documented 0.03 / 0.025)
    assert!((r["settings"]["decode_timestep"].as_f64().expect("t") - 0.03).abs() < 1e-6);
    assert!((r["settings"]["decode_noise_scale"].as_f64().expect("s") - 0.025).abs() < 1e-6);
    assert_eq!(
        listing(&out).iter().filter(|f| f.ends_with(".png")).count(),
        9
    );
}

#[test]
fn ltx_bad_images_and_sizes_are_refused_in_words() {
    let tmp = Scratch::new("ltx-bad");
    let out = tmp.path("out");
    let images = data().join("image");
    // not RGB, unreadable, missing
    small_ltx(&out)
        .set("--image", images.join("gray.png"))
        .run()
        .expect_code(2)
        .stderr_has(&["gray.png", "RGB"]);
    small_ltx(&out)
        .set("--image", images.join("rgba_translucent.png"))
        .run()
        .expect_code(2)
        .stderr_has(&["rgba_translucent.png", "transparent"]);
    let not_png = tmp.path("notes.png");
    std::fs::write(&not_png, b"this is not a picture").expect("write");
    small_ltx(&out)
        .set("--image", &not_png)
        .run()
        .expect_code(2)
        .stderr_has(&["notes.png", "PNG"]);
    small_ltx(&out)
        .set("--image", tmp.path("missing.png"))
        .run()
        .expect_code(6)
        .stderr_has(&["missing.png"]);
    small_ltx(&out)
        .set("--image-fit", "squash")
        .run()
        .expect_code(2)
        .stderr_has(&["squash", "crop", "stretch"]);
    // the frame rule and the size rule
    small_ltx(&out)
        .set("--frames", "10")
        .run()
        .expect_code(2)
        .stderr_has(&["frames 10", "8k+1", "use 9 or 17"]);
    small_ltx(&out)
        .set("--height", "48")
        .run()
        .expect_code(2)
        .stderr_has(&["height 48", "multiple of 32"]);
    // decode settings belong to timestep-conditioned VAEs
    Generate::small(&out)
        .set("--decode-timestep", "0.05")
        .run()
        .expect_code(2)
        .stderr_has(&["decode timestep", "timestep-conditioned"]);
    let pngs = if out.exists() {
        listing(&out)
            .into_iter()
            .filter(|f| f.ends_with(".png"))
            .count()
    } else {
        0
    };
    assert_eq!(pngs, 0, "a refused render wrote frames");
}

#[test]
fn inspect_describes_an_ltx_package() {
    let run = promptreel(&[
        OsStr::new("inspect"),
        OsStr::new("--model"),
        data().join("tiny-ltx").as_os_str(),
    ]);
    run.expect_code(0).stdout_has(&[
        "8k+1",
        "multiples of 32",
        "whole-clip decoder conditioned on a decode timestep",
        "--image FILE.png",
        "--frame-rate",
    ]);
}

#[test]
fn unset_steps_and_guidance_take_the_package_recommendation() {
    // tiny-ltx carries LTXPipeline's 50 steps and guidance 3; tiny-unet3d carries none (25, 7.5)
    let tmp = Scratch::new("ltx-defaults");
    for (model, steps, guidance) in [("tiny-ltx", 50, 3.0), ("tiny-unet3d", 25, 7.5)] {
        let report = tmp.path(&format!("{model}.json"));
        let mut cmd = Generate::small(&tmp.path(model))
            .set("--model", data().join(model))
            .set("--report", &report)
            .unset("--steps");
        if model == "tiny-ltx" {
            cmd = cmd
                .set("--frames", "9")
                .set("--width", "32")
                .set("--height", "32");
        }
        cmd.run().expect_code(0);
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        assert_eq!(r["settings"]["steps"], steps, "{model}");
        assert_eq!(
            r["settings"]["guidance"].as_f64(),
            Some(guidance),
            "{model}"
        );
    }
    // an explicit value wins
    let report = tmp.path("explicit.json");
    small_ltx(&tmp.path("explicit"))
        .set("--report", &report)
        .run()
        .expect_code(0);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(r["settings"]["steps"], 2);
    assert_eq!(r["settings"]["guidance"].as_f64(), Some(1.0));
}
