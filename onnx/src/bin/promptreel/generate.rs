//! `promptreel generate`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use promptreel_engine::remote::ServerConfig;
use promptreel_engine::{
    Device, Error, GenerateRequest, MemoryMode, Observer, Phase, Progress, Result, SessionOptions,
    Video, generate, npy, registry,
};

use crate::args::{GenerateArgs, RuntimeArgs};
use crate::output;

/// Steps and guidance when neither the command line nor the package says.
const DEFAULT_STEPS: u32 = 25;
const DEFAULT_GUIDANCE: f32 = 7.5;

pub fn run(a: GenerateArgs) -> Result<()> {
    let model_dir = match &a.model {
        Some(m) => m.clone(),
        None => default_model()?,
    };
    let model = registry::get(
        &model_dir,
        session_options(&a.runtime)?,
        a.runtime.ort_lib.as_deref(),
    )?;
    // Steps and guidance left unset take the package's recommendation (LTX: 50 and 3).
    let defaults = model
        .package()
        .manifest()
        .defaults
        .clone()
        .unwrap_or_default();
    let req = GenerateRequest {
        prompt: utf8(a.prompt, "--prompt")?,
        negative_prompt: a
            .negative
            .map(|n| utf8(n, "--negative"))
            .transpose()?
            .unwrap_or_default(),
        seed: a.seed,
        steps: a.steps.or(defaults.steps).unwrap_or(DEFAULT_STEPS),
        guidance: a.guidance.or(defaults.guidance).unwrap_or(DEFAULT_GUIDANCE),
        guidance_2: a.guidance_2,
        frames: a.frames,
        width: a.width,
        height: a.height,
        scheduler: a.scheduler.clone(),
        initial_latents: a.latents.as_deref().map(npy::read_f32).transpose()?,
        max_sequence_length: a.max_sequence_length,
        frame_rate: a.frame_rate,
        image: a
            .image
            .as_deref()
            .map(promptreel_engine::image::RgbImage::read_png)
            .transpose()?,
        image_fit: promptreel_engine::image::ImageFit::parse(&a.image_fit)?,
        image_noise: a.image_noise.as_deref().map(npy::read_f32).transpose()?,
        decode_timestep: a.decode_timestep,
        decode_noise_scale: a.decode_noise_scale,
        decode_noise: a.decode_noise.as_deref().map(npy::read_f32).transpose()?,
        video: match &a.video {
            Some(path) => {
                // Only the clip's frames are read (the model's length unless --frames says).
                let native = model.package().manifest().native.frames;
                let limit = a.frames.unwrap_or(native) as usize;
                Some(promptreel_engine::source_frames::read(path, limit)?)
            }
            None => None,
        },
        strength: a.strength,
        video_noise: a.video_noise.as_deref().map(npy::read_f32).transpose()?,
        vae_tiling: match a.vae_tiling.trim().to_ascii_lowercase().as_str() {
            "auto" => None,
            "on" => Some(true),
            "off" => Some(false),
            other => {
                return Err(Error::setting(format!(
                    "--vae-tiling {other:?} is not one of auto, on, off"
                )));
            }
        },
    };

    interrupt::install();
    let mut bar = Bar::new();
    let result = generate(&model, &req, &mut bar);
    bar.finish();
    let video = result?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Error::io("create the output folder", &a.out, e))?;
    for w in &video.warnings {
        eprintln!("promptreel: warning: {w}");
    }

    let written = output::write_frames(&video, &a.out)?;
    output::write_gif(&video, &a.out.join("preview.gif"))?;
    if a.npy {
        output::write_npy(&video, &a.out.join("frames.npy"))?;
    }
    if let Some(path) = &a.report {
        output::write_report(&video, &req, &model, &bar.peaks, path)?;
    }
    println!("{}", summary(&video, written, &a.out));
    Ok(())
}

/// The one-line summary printed at the end.
pub fn summary(v: &Video, written: usize, out: &std::path::Path) -> String {
    format!(
        "{} frames, {}x{}, {}, {} steps at {:.3} s/step, total {:.2} s (ONNX Runtime {:.2} s) -> {} ({written} PNGs + preview.gif)",
        v.frame_count,
        v.width,
        v.height,
        v.device_label(),
        v.timings.steps.len(),
        v.timings.seconds_per_step(),
        v.timings.total.as_secs_f64(),
        v.timings.runtime_total().as_secs_f64(),
        out.display()
    )
}

pub fn session_options(r: &RuntimeArgs) -> Result<SessionOptions> {
    let mut device = Device::parse(&r.device)?;
    let server = match &r.server {
        Some(url) => {
            match device {
                Device::Auto => device = Device::Remote,
                Device::Remote => {}
                other => {
                    return Err(Error::setting(format!(
                        "--server runs the graphs on a server, but --device {other} asks for \
                         this machine; drop one of them"
                    )));
                }
            }
            if !(r.server_timeout.is_finite() && r.server_timeout > 0.0) {
                return Err(Error::setting(format!(
                    "--server-timeout {} is not a number of seconds above 0",
                    r.server_timeout
                )));
            }
            let timeout = std::time::Duration::from_secs_f64(r.server_timeout.min(86_400.0));
            Some(ServerConfig::parse(url)?.with_call_timeout(timeout)?)
        }
        None if device == Device::Remote => {
            return Err(Error::setting(
                "--device remote needs the server's address: --server http://host:8001",
            ));
        }
        None => None,
    };
    Ok(SessionOptions {
        device,
        server,
        intra_threads: r.threads,
        memory: MemoryMode::parse(&r.memory_mode)?,
    })
}

fn utf8(s: OsString, flag: &str) -> Result<String> {
    s.into_string().map_err(|bad| {
        Error::setting(format!(
            "{flag} is not valid UTF-8 text ({}); pass the prompt in UTF-8",
            bad.to_string_lossy()
        ))
    })
}

/// The bundled model: `$PROMPTREEL_MODEL`, else `models/default` next to the program (the layout
/// of an installed CLI). No build-tree path is compiled in: in a checkout, pass `--model`.
fn default_model() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PROMPTREEL_MODEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let next_to_program = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("models").join("default")));
    next_to_program
        .filter(|c| c.join("promptreel.json").is_file())
        .ok_or_else(|| {
            Error::package(
                "no model given and no bundled model next to the program; pass --model DIR (a \
                 model package folder, e.g. bundle/models/default in a checkout) or set \
                 PROMPTREEL_MODEL",
            )
        })
}

/// A terminal progress bar with ETA (hidden when stderr is not a terminal), which also records
/// the peak resident memory of each phase for the report.
struct Bar {
    bar: ProgressBar,
    /// (phase, peak bytes) in the order the phases ran.
    peaks: Vec<(Phase, u64)>,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(1000);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{wide_bar}] {percent}% {msg} (ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        promptreel_engine::memory::reset_peak();
        Self {
            bar,
            peaks: Vec::new(),
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Files the peak since the last report and starts a new one. The work between two reports
    /// belongs to the later one's phase (running its steps), except before a phase's opening
    /// report (0 done): that is the end of the previous phase (releasing its session).
    fn record_peak(&mut self, phase: Phase, done: usize) {
        let phase = match self.peaks.last() {
            Some(&(previous, _)) if done == 0 => previous,
            _ => phase,
        };
        let Some(peak) = promptreel_engine::memory::peak_resident_bytes() else {
            return;
        };
        match self.peaks.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, v)) => *v = (*v).max(peak),
            None => self.peaks.push((phase, peak)),
        }
        promptreel_engine::memory::reset_peak();
    }
}

/// Ctrl-C asks the generation to stop between steps (exit status 130) instead of killing the
/// process in the middle of writing files.
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    static CANCEL: AtomicBool = AtomicBool::new(false);

    #[cfg(unix)]
    extern "C" fn on_sigint(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        CANCEL.store(true, Ordering::SeqCst);
    }

    /// `CTRL_C_EVENT` and `CTRL_BREAK_EVENT`, the console's interrupt keys.
    #[cfg(windows)]
    const CTRL_C_OR_BREAK: [u32; 2] = [0, 1];

    #[cfg(windows)]
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn SetConsoleCtrlHandler(
            handler: Option<unsafe extern "system" fn(u32) -> i32>,
            add: i32,
        ) -> i32;
    }

    /// Runs on a thread of its own that Windows starts for the console event.
    #[cfg(windows)]
    unsafe extern "system" fn on_console_event(event: u32) -> i32 {
        if CTRL_C_OR_BREAK.contains(&event) {
            CANCEL.store(true, Ordering::SeqCst);
            1 // handled: the process goes on and stops between steps
        } else {
            0 // closing the console, logging off: the default handler ends the process
        }
    }

    /// Routes SIGINT (a Windows console's Ctrl+C and Ctrl+Break) to the cancel flag.
    pub fn install() {
        #[cfg(unix)]
        // SAFETY: installs a handler that only performs an atomic store.
        unsafe {
            libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        }
        #[cfg(windows)]
        // SAFETY: registers a handler that only performs an atomic store; failing to register
        // leaves Ctrl+C ending the process, as it would without it.
        unsafe {
            SetConsoleCtrlHandler(Some(on_console_event), 1);
        }
    }

    pub fn requested() -> bool {
        CANCEL.load(Ordering::SeqCst)
    }
}

impl Observer for Bar {
    fn should_cancel(&mut self) -> bool {
        interrupt::requested()
    }

    fn progress(&mut self, p: &Progress) {
        self.record_peak(p.phase, p.done);
        self.bar.set_position((p.fraction * 1000.0) as u64);
        self.bar
            .set_message(format!("{:?} {}/{}", p.phase, p.done, p.total));
    }
}
