//! Memory benchmark: peak memory of whole generations against the engine's estimate, and how it
//! grows with tokens. Prints figures, asserts nothing.
//!
//! ```text
//! cargo bench -p promptreel-engine --bench memory                   # every configuration
//! cargo bench -p promptreel-engine --bench memory -- default        # names containing "default"
//! PROMPTREEL_BENCH_BEFORE=/tmp/before cargo bench ... --bench memory  # also an older export
//! PROMPTREEL_BENCH_STEPS=2 PROMPTREEL_BENCH_THREADS=2 cargo bench ... # (defaults: 2, all CPUs)
//! ```
//! Every configuration runs in a fresh `promptreel generate` process (the CLI this crate builds),
//! so each peak is that generation's alone: ONNX Runtime's arena never shrinks, and a process
//! that ran a larger size first would report that size's peak. From the CLI's report it prints the
//! estimate the engine made before starting (`onnx/src/budget/`), the peak resident memory the
//! process reached (Linux `VmHWM`) and seconds per step.
//!
//! The default model's configurations double the tokens of its joint space-time attention at
//! each step (4k, 8k, 16k; 32k with `-- 32k`). A peak linear in tokens grows by twice as much at
//! each doubling; a quadratic one (an unfused, MatMul-Softmax-MatMul export) by four times as
//! much.
//!
//! The Wan configurations run the tiny Wan package in `resident` and `sequential` memory mode
//! and print the peak of each phase; `-- wan-1.3B` runs the real-size random Wan 1.3B package
//! that tools/wan_real_size.py builds (`PROMPTREEL_BENCH_WAN_REAL=/tmp/promptreel-wan13b/package`).
//!
//! `PROMPTREEL_BENCH_BEFORE` names a folder with older exports of the same packages
//! (`default/`, `tiny-unet3d/`), for before/after figures; docs/benchmarks.md shows how to take
//! them out of git. Configurations the engine refuses for memory print the estimate it refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use promptreel_engine::Settings;
use promptreel_engine::budget::{Size, attention_tokens, human};
use promptreel_engine::package::manifest::Manifest;

struct Config {
    name: &'static str,
    /// Package folder name: `default` (bundle/models/) or a test fixture (onnx/tests/data/).
    package: &'static str,
    width: u32,
    height: u32,
    frames: u32,
    /// Part of the token-doubling series whose growth is printed.
    series: bool,
    /// Run only when asked for by name (minutes per step on two cores).
    on_request: bool,
    /// The CLI's --memory-mode.
    mode: &'static str,
    /// More CLI arguments (LTX: --vae-tiling).
    extra: &'static [&'static str],
}

const CONFIGS: &[Config] = &[
    Config {
        name: "default 4k tokens",
        package: "default",
        width: 256,
        height: 256,
        frames: 4,
        series: true,
        on_request: false,
        mode: "auto",
        extra: &[],
    },
    Config {
        name: "default 8k tokens",
        package: "default",
        width: 256,
        height: 256,
        frames: 8,
        series: true,
        on_request: false,
        mode: "auto",
        extra: &[],
    },
    Config {
        name: "default 16k tokens",
        package: "default",
        width: 256,
        height: 256,
        frames: 16,
        series: true,
        on_request: false,
        mode: "auto",
        extra: &[],
    },
    Config {
        name: "default 32k tokens",
        package: "default",
        width: 256,
        height: 256,
        frames: 32,
        series: true,
        on_request: true,
        mode: "auto",
        extra: &[],
    },
    Config {
        name: "tiny-unet3d 128x128x16",
        package: "tiny-unet3d",
        width: 128,
        height: 128,
        frames: 16,
        series: false,
        on_request: false,
        mode: "auto",
        extra: &[],
    },
    Config {
        name: "tiny-unet3d 256x256x16",
        package: "tiny-unet3d",
        width: 256,
        height: 256,
        frames: 16,
        series: false,
        on_request: false,
        mode: "auto",
        extra: &[],
    },
    // Wan: the stateful VAE and the memory modes. The per-phase peaks show what each mode holds.
    Config {
        name: "tiny-wan 256x256x17 resident",
        package: "tiny-wan",
        width: 256,
        height: 256,
        frames: 17,
        series: false,
        on_request: false,
        mode: "resident",
        extra: &[],
    },
    Config {
        name: "tiny-wan 256x256x17 sequential",
        package: "tiny-wan",
        width: 256,
        height: 256,
        frames: 17,
        series: false,
        on_request: false,
        mode: "sequential",
        extra: &[],
    },
    // LTX: the whole-clip VAE decoder in one call and in diffusers' tiles (a 2x2 grid of
    // 512-pixel tiles over 3-latent-frame windows): the decoding phase's peak is what differs.
    Config {
        name: "tiny-ltx 768x768x33 whole",
        package: "tiny-ltx",
        width: 768,
        height: 768,
        frames: 33,
        series: false,
        on_request: false,
        mode: "sequential",
        extra: &["--vae-tiling", "off"],
    },
    Config {
        name: "tiny-ltx 768x768x33 tiled",
        package: "tiny-ltx",
        width: 768,
        height: 768,
        frames: 33,
        series: false,
        on_request: false,
        mode: "sequential",
        extra: &["--vae-tiling", "on"],
    },
    // Wan2.1-T2V-1.3B's transformer at full size with random weights (tools/wan_real_size.py
    // builds the package; set PROMPTREEL_BENCH_WAN_REAL to its folder; minutes per step).
    Config {
        name: "wan-1.3B 64x64x33 resident",
        package: "env:PROMPTREEL_BENCH_WAN_REAL",
        width: 64,
        height: 64,
        frames: 33,
        series: false,
        on_request: true,
        mode: "resident",
        extra: &[],
    },
    Config {
        name: "wan-1.3B 64x64x33 sequential",
        package: "env:PROMPTREEL_BENCH_WAN_REAL",
        width: 64,
        height: 64,
        frames: 33,
        series: false,
        on_request: true,
        mode: "sequential",
        extra: &[],
    },
];

const GUIDANCE: f32 = 7.5;
const MIB: f64 = (1u64 << 20) as f64;

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn package_dir(name: &str, root: Option<&Path>) -> PathBuf {
    if let Some(var) = name.strip_prefix("env:") {
        return std::env::var_os(var).map(PathBuf::from).unwrap_or_default();
    }
    if let Some(root) = root {
        return root.join(name);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if name == "default" {
        here.join("../bundle/models/default")
    } else {
        here.join("tests/data").join(name)
    }
}

/// What one generation reported.
enum Outcome {
    Ran {
        estimate: u64,
        peak: u64,
        seconds_per_step: f64,
        /// Peak per phase (encoding, denoising, decoding), from the CLI's report.
        phases: Vec<(String, u64)>,
    },
    /// Refused for memory before starting: the engine's sentence.
    Refused(String),
    Failed(String),
}

fn run(c: &Config, model: &Path, steps: usize, threads: usize, scratch: &Path) -> Outcome {
    let report = scratch.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = Command::new(env!("CARGO_BIN_EXE_promptreel"))
        .args([
            "generate",
            "--prompt",
            "a red ball moving right on a black background",
        ])
        .arg("--model")
        .arg(model)
        .args([
            "--width",
            &c.width.to_string(),
            "--height",
            &c.height.to_string(),
        ])
        .args([
            "--frames",
            &c.frames.to_string(),
            "--steps",
            &steps.to_string(),
        ])
        .args(["--guidance", &GUIDANCE.to_string(), "--seed", "1"])
        .args(["--threads", &threads.to_string()])
        .args(["--memory-mode", c.mode])
        .args(c.extra)
        .arg("--report")
        .arg(&report)
        .arg("--out")
        .arg(scratch.join("frames"))
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(format!("could not start the CLI: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.code() == Some(7) {
        return Outcome::Refused(stderr);
    }
    if !out.status.success() {
        return Outcome::Failed(stderr);
    }
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match (
        v["estimated_peak_bytes"].as_u64(),
        v["peak_resident_bytes"].as_u64(),
        v["seconds"]["mean_per_step"].as_f64(),
    ) {
        (Some(estimate), Some(peak), Some(seconds_per_step)) => Outcome::Ran {
            estimate,
            peak,
            seconds_per_step,
            phases: ["encoding", "denoising", "decoding"]
                .iter()
                .filter_map(|p| {
                    v["peak_resident_bytes_by_phase"][p]
                        .as_u64()
                        .map(|b| (p.to_string(), b))
                })
                .collect(),
        },
        _ => Outcome::Failed(format!("no figures in the report {}", report.display())),
    }
}

fn tokens(model: &Path, c: &Config) -> Option<u64> {
    let m = Manifest::read(model).ok()?;
    let settings = Settings::at_size(&m, c.frames, c.width, c.height, GUIDANCE);
    Some(attention_tokens(&m, &Size::of(&m, &settings)))
}

/// Runs every selected configuration with the packages under `root` (ours when `None`) and
/// prints one line each; returns (config index, tokens, outcome).
fn table(
    label: &str,
    root: Option<&Path>,
    configs: &[(usize, &Config)],
    steps: usize,
    threads: usize,
) -> Vec<(usize, u64, Outcome)> {
    println!("\n{label}");
    println!(
        "  {:<24} {:>8} {:>10} {:>10} {:>9} {:>9}",
        "configuration", "tokens", "estimate", "measured", "est/meas", "s/step"
    );
    let scratch =
        std::env::temp_dir().join(format!("promptreel-bench-memory-{}", std::process::id()));
    let mut rows = Vec::new();
    for &(i, c) in configs {
        let model = package_dir(c.package, root);
        if model.as_os_str().is_empty() {
            println!("  {:<24} skipped: set {}", c.name, &c.package[4..]);
            continue;
        }
        let _ = std::fs::create_dir_all(&scratch);
        let t = tokens(&model, c).unwrap_or(0);
        let outcome = run(c, &model, steps, threads, &scratch);
        match &outcome {
            Outcome::Ran {
                estimate,
                peak,
                seconds_per_step,
                phases,
            } => {
                println!(
                    "  {:<24} {:>8} {:>6.0} MiB {:>6.0} MiB {:>9.2} {:>9.2}",
                    c.name,
                    t,
                    *estimate as f64 / MIB,
                    *peak as f64 / MIB,
                    *estimate as f64 / *peak as f64,
                    seconds_per_step
                );
                if c.mode != "auto" {
                    let each: Vec<String> = phases
                        .iter()
                        .map(|(p, b)| format!("{p} {:.0} MiB", *b as f64 / MIB))
                        .collect();
                    println!(
                        "  {:<24} peak by phase ({}): {}",
                        "",
                        c.mode,
                        each.join(", ")
                    );
                }
            }
            Outcome::Refused(why) => {
                println!("  {:<24} {:>8} refused for memory: {}", c.name, t, why)
            }
            Outcome::Failed(why) => println!("  {:<24} {:>8} FAILED: {}", c.name, t, why),
        }
        rows.push((i, t, outcome));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    rows
}

/// How the peak grows along the token-doubling series: MiB per 1k tokens between neighbours,
/// and the ratio of successive increments (2 when linear in tokens, 4 when quadratic).
fn growth(rows: &[(usize, u64, Outcome)]) {
    let points: Vec<(u64, f64)> = rows
        .iter()
        .filter(|(i, _, _)| CONFIGS[*i].series)
        .filter_map(|(_, t, o)| match o {
            Outcome::Ran { peak, .. } => Some((*t, *peak as f64 / MIB)),
            _ => None,
        })
        .collect();
    if points.len() < 2 {
        return;
    }
    let mut line = String::from("  growth along the default model's series:");
    let mut last_step: Option<f64> = None;
    for w in points.windows(2) {
        let ((t0, p0), (t1, p1)) = (w[0], w[1]);
        let step = p1 - p0;
        line += &format!(
            "  {}k->{}k +{:.0} MiB ({:.1} MiB per 1k tokens",
            t0 / 1024,
            t1 / 1024,
            step,
            step / ((t1 - t0) as f64 / 1024.0)
        );
        if let Some(prev) = last_step {
            line += &format!(", x{:.2} the previous increment", step / prev);
        }
        line += ")";
        last_step = Some(step);
    }
    println!("{line}");
    println!(
        "  (doubling the tokens: a peak linear in tokens doubles its increment, a quadratic one quadruples it)"
    );
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let steps = env_usize("PROMPTREEL_BENCH_STEPS").unwrap_or(2).max(1);
    let threads = env_usize("PROMPTREEL_BENCH_THREADS").unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let configs: Vec<(usize, &Config)> = CONFIGS
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            if filter.is_empty() {
                !c.on_request
            } else {
                filter.iter().any(|f| c.name.contains(f.as_str()))
            }
        })
        .collect();
    println!(
        "promptreel memory benchmark: one generation per fresh process, CPU, {threads} thread(s), \
         {steps} step(s), guidance {GUIDANCE}; peak resident memory (VmHWM) against the engine's \
         estimate"
    );
    let now = table("this export", None, &configs, steps, threads);
    growth(&now);
    let Some(before_root) = std::env::var_os("PROMPTREEL_BENCH_BEFORE").map(PathBuf::from) else {
        return;
    };
    let before = table(
        &format!("before: {}", before_root.display()),
        Some(&before_root),
        &configs,
        steps,
        threads,
    );
    growth(&before);
    println!("\nbefore -> now");
    for ((i, _, b), (_, _, n)) in before.iter().zip(&now) {
        let fmt = |o: &Outcome| match o {
            Outcome::Ran {
                peak,
                seconds_per_step,
                ..
            } => format!("{} peak, {seconds_per_step:.2} s/step", human(*peak)),
            Outcome::Refused(_) => "refused for memory".to_string(),
            Outcome::Failed(_) => "failed".to_string(),
        };
        println!("  {:<24} {:>28} -> {}", CONFIGS[*i].name, fmt(b), fmt(n));
    }
}
