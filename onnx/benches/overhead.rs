//! Engine benchmark: prints figures, asserts nothing.
//!
//! ```text
//! cargo bench -p promptreel-engine --bench overhead            # all figures
//! cargo bench -p promptreel-engine --bench overhead -- large   # configurations whose name has "large"
//! PROMPTREEL_BENCH_PYTHON=/path/to/python cargo bench ...      # python with onnxruntime, numpy, tokenizers
//! PROMPTREEL_BENCH_PAIRS=5 cargo bench ...                     # alternating pairs (default 3)
//! PROMPTREEL_BENCH_THREADS=2 cargo bench ...                   # intra-op threads (default: all CPUs)
//! PROMPTREEL_BENCH_PYTHON_ARGS="--no-mem-pattern" cargo bench ...  # extra python arguments
//! ```
//! For each configuration (the tiny fixture at its native 64x64x8, and the same weights at
//! 256x256x16) it warms up both sides, our engine in this process and `tools/bench_python_ort.py
//! --serve` (onnxruntime's Python package running the same graphs with the same DDIM schedule and
//! thread count, fed the same initial latents) in a child process, then alternates one timed
//! generation of ours with one of theirs (ABAB..., `PROMPTREEL_BENCH_PAIRS` pairs) so that drift
//! and background load fall on both sides alike. It prints each pair, then medians [min-max]:
//! - overhead: wall time minus the summed ONNX Runtime run time, as a share of the wall time
//!   (target: at most 3% tiny, 1% large);
//! - seconds per step, and the denoiser's ONNX Runtime time per step, for both sides;
//! - ours / theirs per pair, for seconds per step, denoiser ONNX Runtime time and total (goal at
//!   most 1.0);
//! - peak resident memory of each process next to the size of the weights;
//! - the CPU time other processes (and the hypervisor) took while the pairs ran, as a share of the
//!   machine (Linux): figures taken above a few percent are noisy.
//!
//! Figures are meaningful on an idle machine only; see docs/benchmarks.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use promptreel_engine::noise::SeededNoise;
use promptreel_engine::{
    Device, GenerateRequest, Model, SessionOptions, Silent, TensorF32, Timings, generate, npy,
    registry,
};

struct Config {
    name: &'static str,
    /// The fixture package under onnx/tests/data.
    package: &'static str,
    width: u32,
    height: u32,
    frames: u32,
    steps: u32,
    scheduler: &'static str,
    guidance: f32,
    baseline: Baseline,
}

/// What our engine is timed against.
#[derive(Clone, Copy, PartialEq)]
enum Baseline {
    /// tools/bench_python_ort.py: the same graphs through onnxruntime's Python package.
    PythonOrt,
    /// A diffusers pipeline on PyTorch CPU with the same tiny weights (goal ours/theirs at most
    /// 0.7): `script` in tools/ runs `folder` in onnx/tests/data.
    DiffusersTorch(Torch),
}

/// A PyTorch baseline: the script that runs it, the diffusers folder, the pipeline's name.
#[derive(Clone, Copy, PartialEq)]
struct Torch {
    script: &'static str,
    folder: &'static str,
    pipeline: &'static str,
}

const WAN_TORCH: Torch = Torch {
    script: "bench_wan_torch.py",
    folder: "tiny-wan-diffusers",
    pipeline: "WanPipeline",
};

const LTX_TORCH: Torch = Torch {
    script: "bench_ltx_torch.py",
    folder: "tiny-ltx-diffusers",
    pipeline: "LTXPipeline",
};

const CONFIGS: &[Config] = &[
    Config {
        name: "tiny 64x64x8",
        package: "tiny-unet3d",
        width: 64,
        height: 64,
        frames: 8,
        steps: 20,
        scheduler: "ddim",
        guidance: 7.5,
        baseline: Baseline::PythonOrt,
    },
    Config {
        name: "large 256x256x16",
        package: "tiny-unet3d",
        width: 256,
        height: 256,
        frames: 16,
        steps: 4,
        scheduler: "ddim",
        guidance: 7.5,
        baseline: Baseline::PythonOrt,
    },
    Config {
        name: "wan tiny 48x32x9",
        package: "tiny-wan",
        width: 48,
        height: 32,
        frames: 9,
        steps: 10,
        scheduler: "unipc",
        guidance: 5.0,
        baseline: Baseline::DiffusersTorch(WAN_TORCH),
    },
    Config {
        name: "wan large 256x256x17",
        package: "tiny-wan",
        width: 256,
        height: 256,
        frames: 17,
        steps: 4,
        scheduler: "unipc",
        guidance: 5.0,
        baseline: Baseline::DiffusersTorch(WAN_TORCH),
    },
    Config {
        name: "ltx tiny 96x64x17",
        package: "tiny-ltx",
        width: 96,
        height: 64,
        frames: 17,
        steps: 10,
        scheduler: "flow-euler",
        guidance: 3.0,
        baseline: Baseline::DiffusersTorch(LTX_TORCH),
    },
    Config {
        name: "ltx large 512x512x25",
        package: "tiny-ltx",
        width: 512,
        height: 512,
        frames: 25,
        steps: 4,
        scheduler: "flow-euler",
        guidance: 3.0,
        baseline: Baseline::DiffusersTorch(LTX_TORCH),
    },
];

const PROMPT: &str = "a red ball moving right";
const NEGATIVE: &str = "blur";
const SEED: u64 = 1;

/// Pairs below this are a quick look, not a figure to quote.
const MIN_PAIRS: usize = 3;

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|t| t.trim().parse().ok())
}

fn threads() -> usize {
    env_usize("PROMPTREEL_BENCH_THREADS").unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

fn pairs() -> usize {
    env_usize("PROMPTREEL_BENCH_PAIRS")
        .unwrap_or(MIN_PAIRS)
        .max(1)
}

fn peak_rss_mib() -> f64 {
    promptreel_engine::memory::peak_resident_bytes().map_or(0.0, |b| b as f64 / (1 << 20) as f64)
}

/// One timed generation of either side.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    total: f64,
    /// Time inside ONNX Runtime's run calls, all graphs.
    ort: f64,
    s_per_step: f64,
    /// Time inside the denoiser's run calls, per step.
    denoiser_per_step: f64,
    /// Our share of wall time outside ONNX Runtime (ours only).
    overhead: f64,
}

impl Run {
    fn ours(t: &Timings) -> Self {
        Self {
            total: t.total.as_secs_f64(),
            ort: t.runtime_total().as_secs_f64(),
            s_per_step: t.seconds_per_step(),
            denoiser_per_step: t.denoiser.as_secs_f64() / t.steps.len().max(1) as f64,
            overhead: t.overhead_ratio(),
        }
    }

    fn theirs(v: &serde_json::Value) -> Option<Self> {
        Some(Self {
            total: v["total_s"].as_f64()?,
            ort: v["ort_s"].as_f64()?,
            s_per_step: v["s_per_step"].as_f64()?,
            denoiser_per_step: v["denoiser_run_s_per_step"].as_f64()?,
            overhead: 0.0,
        })
    }
}

/// Median, minimum and maximum.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(values: impl IntoIterator<Item = f64>) -> Spread {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Spread {
        median,
        min: v[0],
        max: v[n - 1],
    }
}

impl std::fmt::Display for Spread {
    /// `1.234 [1.200-1.300]`, with the precision given (default 3).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(3);
        write!(f, "{:.p$} [{:.p$}-{:.p$}]", self.median, self.min, self.max)
    }
}

/// `tools/bench_python_ort.py --serve`, warmed up, answering one timed generation per request.
struct Python {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    peak_rss_mib: f64,
}

impl Python {
    fn start(model: &Model, c: &Config, threads: usize, latents: &Path) -> Result<Self, String> {
        let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools");
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let (python, mut cmd) = match c.baseline {
            Baseline::PythonOrt => {
                let python =
                    std::env::var("PROMPTREEL_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
                let mut cmd = Command::new(&python);
                cmd.arg(tools.join("bench_python_ort.py"))
                    .args(["--model", &data.join(c.package).to_string_lossy()])
                    // Same session options as ours: CPU sessions run without the memory pattern.
                    .arg("--no-mem-pattern");
                let extra = std::env::var("PROMPTREEL_BENCH_PYTHON_ARGS").unwrap_or_default();
                cmd.args(extra.split_whitespace());
                (python, cmd)
            }
            Baseline::DiffusersTorch(torch) => {
                let python = std::env::var("PROMPTREEL_BENCH_TORCH_PYTHON")
                    .unwrap_or_else(|_| "python3".into());
                let mut cmd = Command::new(&python);
                let length = model.package().tokenizer().max_length();
                cmd.arg(tools.join(torch.script))
                    .args(["--folder", &data.join(torch.folder).to_string_lossy()])
                    .args(["--max-sequence-length", &length.to_string()]);
                (python, cmd)
            }
        };
        let mut child = cmd
            .args(["--prompt", PROMPT, "--negative-prompt", NEGATIVE])
            .args(["--steps", &c.steps.to_string()])
            .args(["--frames", &c.frames.to_string()])
            .args(["--width", &c.width.to_string()])
            .args(["--height", &c.height.to_string()])
            .args(["--guidance", &c.guidance.to_string()])
            .args(["--latents", &latents.to_string_lossy()])
            .args(["--threads", &threads.to_string()])
            .args(["--warmup", "1", "--serve"])
            // The Python package's ONNX Runtime would otherwise write telemetry into HOME.
            .env("ORT_DISABLE_TELEMETRY", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {python}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // Drained on a thread so that a chatty stderr cannot block the child.
        let stderr = child.stderr.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                text
            })
        });
        let mut py = Self {
            child,
            stdin,
            stdout,
            stderr,
            peak_rss_mib: 0.0,
        };
        let ready = py.read_json()?;
        if ready["ready"].as_bool() != Some(true) {
            return Err(py.fail("no ready line"));
        }
        Ok(py)
    }

    fn read_json(&mut self) -> Result<serde_json::Value, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return Err(self.fail("it stopped")),
        }
        let v: serde_json::Value = serde_json::from_str(line.trim())
            .map_err(|e| format!("bad JSON line ({e}): {line}"))?;
        if let Some(rss) = v["peak_rss_mib"].as_f64() {
            self.peak_rss_mib = rss;
        }
        Ok(v)
    }

    /// One timed generation.
    fn run(&mut self) -> Result<Run, String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(b"run\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot talk to the python baseline: {e}"))?;
        let v = self.read_json()?;
        Run::theirs(&v).ok_or_else(|| format!("python answered without timings: {v}"))
    }

    /// Ends the child and returns `what` with the last line it wrote on stderr.
    fn fail(&mut self, what: &str) -> String {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let err = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        format!(
            "{what}: {}",
            err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("")
        )
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        // End of input ends the server; wait so that it is gone before the next configuration.
        self.stdin = None;
        let _ = self.child.wait();
    }
}

/// CPU time counters from /proc (Linux), in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    /// Busy ticks of the whole machine, steal included.
    busy: u64,
    /// All ticks of the whole machine.
    all: u64,
    /// Ticks of this process and of the python child.
    ours: u64,
}

fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state is the first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn cpu_sample(child: Option<u32>) -> Option<CpuSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let v: Vec<u64> = cpu
        .split_whitespace()
        .take(8)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if v.len() < 8 {
        return None;
    }
    let idle = v[3] + v[4];
    let all: u64 = v.iter().sum();
    // A child that has gone cannot be accounted for: no sample rather than a wrong one.
    let child_ticks = match child {
        Some(pid) => process_ticks(&pid.to_string())?,
        None => 0,
    };
    Some(CpuSample {
        busy: all - idle,
        all,
        ours: process_ticks("self")? + child_ticks,
    })
}

/// The share of the machine that others used between two samples.
fn background_share(a: CpuSample, b: CpuSample) -> Option<f64> {
    let all = b.all.checked_sub(a.all)?;
    if all == 0 {
        return None;
    }
    let busy = b.busy.saturating_sub(a.busy);
    let ours = b.ours.saturating_sub(a.ours);
    Some(busy.saturating_sub(ours) as f64 / all as f64)
}

/// The initial latents of `c` (the engine's seeded noise), given to both sides so that they
/// compute on the same data; the python side reads them from an .npy file.
fn latents(model: &Model, c: &Config) -> TensorF32 {
    let m = model.package().manifest();
    let s = m.spatial_compression;
    // Wan's causal VAE: 4k+1 frames are k+1 latent frames
    let t = m.temporal_compression.max(1);
    let shape = vec![
        1,
        m.latent_channels as usize,
        ((c.frames - 1) / t + 1) as usize,
        (c.height / s) as usize,
        (c.width / s) as usize,
    ];
    let n = shape.iter().product();
    TensorF32 {
        shape,
        data: SeededNoise::new(SEED).take(n),
    }
}

fn request(c: &Config, latents: TensorF32) -> GenerateRequest {
    GenerateRequest {
        prompt: PROMPT.into(),
        negative_prompt: NEGATIVE.into(),
        seed: SEED,
        steps: c.steps,
        guidance: c.guidance,
        guidance_2: None,
        frames: Some(c.frames),
        width: Some(c.width),
        height: Some(c.height),
        scheduler: Some(c.scheduler.into()),
        initial_latents: Some(latents),
        ..Default::default()
    }
}

fn bench(model: &Model, c: &Config, threads: usize, pairs: usize) {
    let lat = latents(model, c);
    let npy_path = std::env::temp_dir().join(format!(
        "promptreel-bench-{}-{}x{}x{}.npy",
        std::process::id(),
        c.width,
        c.height,
        c.frames
    ));
    let req = request(c, lat.clone());
    println!("{} ({} steps)", c.name, c.steps);
    // Warm-up: the first runs at a shape grow the arenas (and, with the memory pattern, the
    // second allocates the planned block); a generation runs the denoiser once per step.
    if let Err(e) = generate(model, &req, &mut Silent) {
        eprintln!("{}: {e}", c.name);
        return;
    }
    let started = std::fs::write(&npy_path, npy::encode_f32(&lat))
        .map_err(|e| format!("cannot write {}: {e}", npy_path.display()))
        .and_then(|()| Python::start(model, c, threads, &npy_path));
    let _ = std::fs::remove_file(&npy_path); // read at start-up
    let mut python = match started {
        Ok(p) => Some(p),
        Err(e) => {
            let hint = match c.baseline {
                Baseline::PythonOrt => {
                    "set PROMPTREEL_BENCH_PYTHON to a python with onnxruntime, numpy, tokenizers"
                }
                Baseline::DiffusersTorch(_) => {
                    "set PROMPTREEL_BENCH_TORCH_PYTHON to a python with tools/requirements.txt"
                }
            };
            println!("  (python baseline skipped: {e}; {hint})");
            None
        }
    };
    let child = python.as_ref().map(Python::pid);
    let before = cpu_sample(child);
    let mut ours: Vec<Run> = Vec::with_capacity(pairs);
    let mut theirs: Vec<Run> = Vec::with_capacity(pairs);
    for pair in 1..=pairs {
        let a = match generate(model, &req, &mut Silent) {
            Ok(v) => Run::ours(&v.timings),
            Err(e) => {
                eprintln!("{}: {e}", c.name);
                return;
            }
        };
        ours.push(a);
        let b = match python.as_mut().map(Python::run) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                println!("  (python baseline stopped: {e})");
                python = None;
                None
            }
            None => None,
        };
        match b {
            Some(b) => {
                theirs.push(b);
                println!(
                    "  pair {pair}: ours {:.4} s/step (ORT denoiser {:.4})  theirs {:.4} s/step (denoiser {:.4})  ours/theirs {:.3}",
                    a.s_per_step,
                    a.denoiser_per_step,
                    b.s_per_step,
                    b.denoiser_per_step,
                    a.s_per_step / b.s_per_step
                );
            }
            None => println!(
                "  run {pair}: ours {:.4} s/step (ORT denoiser {:.4})",
                a.s_per_step, a.denoiser_per_step
            ),
        }
    }
    let after = cpu_sample(child);

    let med = |runs: &[Run], f: fn(&Run) -> f64| spread(runs.iter().map(f));
    println!(
        "  ours    total {:>7.3} s  ORT {:>7.3} s  overhead {:>5.2}%  {:.4} s/step  ORT denoiser {:.4} s/step  peak RSS {:.0} MiB",
        med(&ours, |r| r.total).median,
        med(&ours, |r| r.ort).median,
        100.0 * med(&ours, |r| r.overhead).median,
        med(&ours, |r| r.s_per_step),
        med(&ours, |r| r.denoiser_per_step),
        peak_rss_mib()
    );
    if let Some(py) = python.as_ref().filter(|_| !theirs.is_empty()) {
        println!(
            "  theirs  total {:>7.3} s  ORT {:>7.3} s                   {:.4} s/step  denoiser {:.4} s/step  peak RSS {:.0} MiB",
            med(&theirs, |r| r.total).median,
            med(&theirs, |r| r.ort).median,
            med(&theirs, |r| r.s_per_step),
            med(&theirs, |r| r.denoiser_per_step),
            py.peak_rss_mib
        );
        let ratio = |f: fn(&Run) -> f64| spread(ours.iter().zip(&theirs).map(|(a, b)| f(a) / f(b)));
        println!(
            "  ours/theirs over {} pairs: per step {}  ORT denoiser {}  total {}",
            theirs.len(),
            ratio(|r| r.s_per_step),
            ratio(|r| r.denoiser_per_step),
            ratio(|r| r.total)
        );
    }
    if let (Some(a), Some(b)) = (before, after)
        && let Some(bg) = background_share(a, b)
    {
        println!(
            "  other load while timing: {:.1}% of the machine{}",
            100.0 * bg,
            if bg > 0.05 {
                " (not idle: these figures are noisy)"
            } else {
                ""
            }
        );
    }
    if pairs < MIN_PAIRS {
        println!("  (fewer than {MIN_PAIRS} pairs: a quick look, not a figure to quote)");
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects configurations by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let threads = threads();
    let pairs = pairs();
    let options = SessionOptions {
        device: Device::Cpu,
        intra_threads: threads,
        ..Default::default()
    };
    println!(
        "promptreel engine benchmark: CPU, {threads} threads, {pairs} pair(s) of runs (ours, \
         baseline, ours, ...); medians [min-max]"
    );
    for c in CONFIGS {
        if filter.as_deref().is_some_and(|f| !c.name.contains(f)) {
            continue;
        }
        let model_dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(c.package);
        let model = match registry::get(&model_dir, options.clone(), None) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("cannot load the fixture model {}: {e}", model_dir.display());
                std::process::exit(1);
            }
        };
        let weights_mib = model.package().weight_bytes() as f64 / (1 << 20) as f64;
        println!(
            "{} ({weights_mib:.1} MiB of weights), against {}",
            c.package,
            match c.baseline {
                Baseline::PythonOrt => "the same graphs in onnxruntime's Python package".into(),
                Baseline::DiffusersTorch(t) => format!("diffusers' {} on PyTorch CPU", t.pipeline),
            }
        );
        bench(&model, c, threads, pairs);
    }
}
