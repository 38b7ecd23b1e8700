//! Parity with diffusers: replays the reference trajectories written by
//! `tools/make_scheduler_refs.py` (fixtures in `tests/data/schedulers/`) through
//! `promptreel_engine::scheduler` and compares timesteps, `init_noise_sigma`, scaled model inputs
//! and the sample after every step, to a relative tolerance of 1e-5
//! (`|ours - theirs| <= 1e-5 * max(1, |theirs|)`).
//!
//! Each replay starts from diffusers' initial sample, feeds diffusers' (fake) model outputs and,
//! for ancestral / stochastic schedulers, the noise diffusers drew; the sample is then carried by
//! our scheduler alone, so errors would accumulate rather than be reset every step.

use std::path::PathBuf;

use promptreel_engine::scheduler::{self, NoiseSource, Scheduler, SchedulerConfig, SchedulerKind};
use serde_json::Value;

/// The relative tolerance, unless a case sets its own `tolerance` (see the generator script).
const TOLERANCE: f64 = 1e-5;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/schedulers")
}

fn load(name: &str) -> Value {
    let path = data_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
                .collect()
        })
        .unwrap_or_default()
}

/// Relative error as the tolerance defines it.
fn rel_err(ours: f32, theirs: f32) -> f64 {
    let (a, b) = (f64::from(ours), f64::from(theirs));
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    (a - b).abs() / b.abs().max(1.0)
}

/// Compares two arrays; returns the largest relative error or a description of the mismatch.
fn compare(what: &str, ours: &[f32], theirs: &[f32]) -> Result<f64, String> {
    compare_with(TOLERANCE, what, ours, theirs)
}

/// [`compare`] with a given tolerance.
fn compare_with(tolerance: f64, what: &str, ours: &[f32], theirs: &[f32]) -> Result<f64, String> {
    if ours.len() != theirs.len() {
        return Err(format!(
            "{what}: {} values, diffusers has {}",
            ours.len(),
            theirs.len()
        ));
    }
    let mut worst = 0.0f64;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let e = rel_err(*a, *b);
        if e > tolerance {
            return Err(format!(
                "{what}[{i}]: ours {a}, diffusers {b} (relative error {e:.2e})"
            ));
        }
        worst = worst.max(e);
    }
    Ok(worst)
}

/// Hands out the noise diffusers drew for the current step.
struct RecordedNoise {
    noise: Option<Vec<f32>>,
    calls: usize,
    bad_len: bool,
}

impl NoiseSource for RecordedNoise {
    fn fill(&mut self, out: &mut [f32]) {
        self.calls += 1;
        match &self.noise {
            Some(n) if n.len() == out.len() => out.copy_from_slice(n),
            _ => {
                self.bad_len = true;
                out.fill(0.0);
            }
        }
    }
}

/// Builds the scheduler a case describes.
fn build(case: &Value) -> Result<Box<dyn Scheduler>, String> {
    let text = serde_json::to_string(&case["config"]).map_err(|e| e.to_string())?;
    let config = SchedulerConfig::from_json_str(&text).map_err(|e| format!("config: {e}"))?;
    let kind = match case["kind"].as_str() {
        Some(name) => {
            let (kind, karras) = SchedulerKind::parse(name).map_err(|e| e.to_string())?;
            if karras.is_some() && karras != case["karras"].as_bool() {
                return Err(format!("kind {name} implies karras {karras:?}"));
            }
            Some(kind)
        }
        None => None,
    };
    let mut s = scheduler::build(&config, kind, case["karras"].as_bool())
        .map_err(|e| format!("build: {e}"))?;
    if let Some(mu) = case["mu"].as_f64() {
        s.set_dynamic_shift_mu(mu).map_err(|e| format!("mu: {e}"))?;
    }
    Ok(s)
}

/// The largest absolute difference between two arrays of equal length (for the report).
fn max_abs_diff(ours: &[f32], theirs: &[f32]) -> f64 {
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .fold(0.0, f64::max)
}

/// Replays one trajectory case; returns the largest relative error seen and the largest
/// absolute difference of a sample.
fn replay(case: &Value) -> Result<(f64, f64), String> {
    let mut s = build(case)?;
    let steps = case["steps"].as_u64().ok_or("no steps")? as usize;
    s.set_timesteps(steps)
        .map_err(|e| format!("set_timesteps: {e}"))?;
    let mut worst = compare("timesteps", s.timesteps(), &floats(&case["timesteps"]))?;
    let sigma = case["init_noise_sigma"]
        .as_f64()
        .ok_or("no init_noise_sigma")? as f32;
    worst = worst.max(compare(
        "init_noise_sigma",
        &[s.init_noise_sigma()],
        &[sigma],
    )?);
    let tolerance = case["tolerance"].as_f64().unwrap_or(TOLERANCE);
    let mut sample = floats(&case["initial_sample"]);
    let mut worst_abs = 0.0f64;
    let trajectory = case["trajectory"].as_array().ok_or("no trajectory")?;
    if trajectory.len() != s.timesteps().len() {
        return Err(format!(
            "{} steps recorded, {} timesteps",
            trajectory.len(),
            s.timesteps().len()
        ));
    }
    for (i, step) in trajectory.iter().enumerate() {
        let mut scaled = sample.clone();
        s.scale_model_input(&mut scaled, i);
        let expected_scaled = match &step["scaled_input"] {
            Value::Null => sample.clone(),
            v => floats(v),
        };
        let what = format!("step {i} scaled input");
        worst = worst.max(compare_with(tolerance, &what, &scaled, &expected_scaled)?);
        let noise = (!step["noise"].is_null()).then(|| floats(&step["noise"]));
        let expects_noise = noise.is_some();
        let mut source = RecordedNoise {
            noise,
            calls: 0,
            bad_len: false,
        };
        s.step(&floats(&step["model_output"]), i, &mut sample, &mut source)
            .map_err(|e| format!("step {i}: {e}"))?;
        if source.calls != usize::from(expects_noise) || source.bad_len {
            return Err(format!(
                "step {i}: drew noise {} times (diffusers: {})",
                source.calls,
                usize::from(expects_noise)
            ));
        }
        let what = format!("step {i} sample");
        let expected = floats(&step["sample"]);
        worst = worst.max(compare_with(tolerance, &what, &sample, &expected)?);
        worst_abs = worst_abs.max(max_abs_diff(&sample, &expected));
    }
    Ok((worst, worst_abs))
}

#[test]
fn trajectories_match_diffusers() {
    let files = [
        "ddim.json",
        "euler.json",
        "euler_ancestral.json",
        "dpm_solver.json",
        "flow_match.json",
        "unipc.json",
    ];
    let (mut passed, mut total) = (0usize, 0usize);
    let mut failures = Vec::new();
    for file in files {
        let doc = load(file);
        for case in doc["cases"].as_array().into_iter().flatten() {
            total += 1;
            let name = case["name"].as_str().unwrap_or("?");
            match replay(case) {
                Ok((worst, worst_abs)) => {
                    passed += 1;
                    println!(
                        "ok   {file}: {name} (max relative error {worst:.1e}, max sample \
                         difference {worst_abs:.1e})"
                    );
                }
                Err(e) => {
                    println!("FAIL {file}: {name}: {e}");
                    failures.push(format!("{file}: {name}: {e}"));
                }
            }
        }
    }
    println!("scheduler parity: {passed}/{total} trajectory cases passed");
    assert!(total >= 30, "expected at least 30 cases, found {total}");
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn schedules_match_diffusers() {
    let doc = load("schedules.json");
    let (mut passed, mut total) = (0usize, 0usize);
    let mut failures = Vec::new();
    for group in doc["cases"].as_array().into_iter().flatten() {
        for run in group["runs"].as_array().into_iter().flatten() {
            total += 1;
            let steps = run["steps"].as_u64().unwrap_or(0) as usize;
            let label = format!(
                "{} {} steps, config {}",
                group["kind"], steps, group["config"]
            );
            let result = build(group).and_then(|mut s| {
                s.set_timesteps(steps)
                    .map_err(|e| format!("set_timesteps: {e}"))?;
                compare("timesteps", s.timesteps(), &floats(&run["timesteps"]))?;
                let sigma = run["init_noise_sigma"].as_f64().unwrap_or(f64::NAN) as f32;
                compare("init_noise_sigma", &[s.init_noise_sigma()], &[sigma])
            });
            match result {
                Ok(_) => passed += 1,
                Err(e) => failures.push(format!("{label}: {e}")),
            }
        }
    }
    println!("scheduler parity: {passed}/{total} schedules passed");
    assert!(
        total >= 100,
        "expected at least 100 schedules, found {total}"
    );
    assert!(
        failures.is_empty(),
        "{} schedules failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
