//! Engine benchmark: prints figures, asserts nothing.
//!
//! ```text
//! cargo bench -p promptreel-engine --bench overhead            # all figures
//! PROMPTREEL_BENCH_PYTHON=/path/to/python cargo bench ...      # python with onnxruntime, numpy, tokenizers
//! ```
//! For each configuration (the tiny fixture at its native 64x64x8, and the same weights at
//! 256x256x16) it runs a warm-up generation, then timed ones, and prints:
//! - overhead: wall time minus the summed ONNX Runtime run time, as a share of the wall time
//!   (target: at most 3% tiny, 1% large);
//! - seconds per step and in total, next to `tools/bench_python_ort.py` running the same graphs
//!   with the same DDIM schedule and thread count through onnxruntime's Python package
//!   (ratio ours / theirs, goal at most 1.0);
//! - peak resident memory next to the size of the weights.

use std::path::{Path, PathBuf};
use std::process::Command;

use promptreel_engine::{Device, GenerateRequest, SessionOptions, Silent, generate, registry};

struct Config {
    name: &'static str,
    width: u32,
    height: u32,
    frames: u32,
    steps: u32,
    runs: usize,
}

const CONFIGS: &[Config] = &[
    Config {
        name: "tiny 64x64x8",
        width: 64,
        height: 64,
        frames: 8,
        steps: 20,
        runs: 3,
    },
    Config {
        name: "large 256x256x16",
        width: 256,
        height: 256,
        frames: 16,
        steps: 4,
        runs: 1,
    },
];

fn threads() -> usize {
    std::env::var("PROMPTREEL_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

fn peak_rss_mib() -> f64 {
    promptreel_engine::memory::peak_resident_bytes().map_or(0.0, |b| b as f64 / (1 << 20) as f64)
}

/// Runs the Python baseline; `None` when Python's onnxruntime is unavailable.
fn python_seconds(model: &Path, c: &Config, threads: usize) -> Option<(f64, f64)> {
    let python = std::env::var("PROMPTREEL_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/bench_python_ort.py");
    let out = Command::new(&python)
        .arg(script)
        .args(["--model", &model.to_string_lossy()])
        .args([
            "--prompt",
            "a red ball moving right",
            "--negative-prompt",
            "blur",
        ])
        .args([
            "--steps",
            &c.steps.to_string(),
            "--frames",
            &c.frames.to_string(),
        ])
        .args([
            "--width",
            &c.width.to_string(),
            "--height",
            &c.height.to_string(),
        ])
        .args(["--guidance", "7.5", "--threads", &threads.to_string()])
        .args(["--warmup", "1", "--runs", &c.runs.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "python baseline unavailable: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()?
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&line).ok()?;
    Some((v["total_s"].as_f64()?, v["s_per_step"].as_f64()?))
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects configurations by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let model_dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-unet3d");
    let threads = threads();
    let options = SessionOptions {
        device: Device::Cpu,
        intra_threads: threads,
    };
    let model = match registry::get(&model_dir, options, None) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cannot load the fixture model: {e}");
            std::process::exit(1);
        }
    };
    let weights_mib = model.package().weight_bytes() as f64 / (1 << 20) as f64;
    println!(
        "promptreel engine benchmark: {} ({weights_mib:.1} MiB of weights), CPU, {threads} threads",
        model.package().manifest().name
    );
    for c in CONFIGS {
        if filter.as_deref().is_some_and(|f| !c.name.contains(f)) {
            continue;
        }
        let req = GenerateRequest {
            prompt: "a red ball moving right".into(),
            negative_prompt: "blur".into(),
            seed: 1,
            steps: c.steps,
            guidance: 7.5,
            frames: Some(c.frames),
            width: Some(c.width),
            height: Some(c.height),
            scheduler: Some("ddim".into()),
            initial_latents: None,
        };
        if let Err(e) = generate(&model, &req, &mut Silent) {
            eprintln!("{}: {e}", c.name);
            continue;
        }
        let mut best: Option<promptreel_engine::Timings> = None;
        for _ in 0..c.runs {
            match generate(&model, &req, &mut Silent) {
                Ok(v) => {
                    if best.as_ref().is_none_or(|b| v.timings.total < b.total) {
                        best = Some(v.timings);
                    }
                }
                Err(e) => eprintln!("{}: {e}", c.name),
            }
        }
        let Some(t) = best else { continue };
        let total = t.total.as_secs_f64();
        println!(
            "{:<18} total {total:>7.3} s  ORT {:>7.3} s  overhead {:>5.2}%  {:.4} s/step  peak RSS {:.0} MiB",
            c.name,
            t.runtime_total().as_secs_f64(),
            100.0 * t.overhead_ratio(),
            t.seconds_per_step(),
            peak_rss_mib()
        );
        match python_seconds(&model_dir, c, threads) {
            Some((py_total, py_step)) => println!(
                "{:<18} python onnxruntime {py_total:>7.3} s ({py_step:.4} s/step): ours/theirs total {:.3}, per step {:.3}",
                "",
                total / py_total,
                t.seconds_per_step() / py_step
            ),
            None => println!(
                "{:<18} (python baseline skipped: set PROMPTREEL_BENCH_PYTHON to a python with onnxruntime, numpy, tokenizers)",
                ""
            ),
        }
    }
}
