//! `scheduler_config.json`: diffusers' scheduler settings, typed.
//!
//! diffusers writes one JSON object per scheduler, holding the constructor arguments of the class
//! named by `_class_name`. Pipelines routinely build a *different* scheduler from that file
//! (`EulerDiscreteScheduler.from_config(pndm_config)`), so every field here is optional: each
//! scheduler fills missing fields with its own diffusers default, and fields it does not know are
//! ignored, exactly like diffusers' `from_config`.
//!
//! Parsing goes through `serde_json::Value` rather than a derived `Deserialize` so that every error
//! names the field and the offending value. Python's `json` module writes non-finite floats as
//! bare `NaN` / `Infinity` / `-Infinity` (DPM-Solver configs carry `"lambda_min_clipped":
//! -Infinity`), which strict JSON parsers refuse; they are quoted before parsing and read back as
//! floats.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How the training betas are laid out over `num_train_timesteps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetaSchedule {
    /// `linspace(beta_start, beta_end)` (DDPM, Ho et al. 2020, section 4).
    Linear,
    /// `linspace(sqrt(beta_start), sqrt(beta_end))^2`, the latent-diffusion schedule.
    ScaledLinear,
    /// Cosine schedule, Nichol & Dhariwal 2021, eq. 17, betas capped at 0.999.
    SquaredCosCapV2,
}

/// What the denoiser predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionType {
    /// The added noise epsilon.
    Epsilon,
    /// The velocity `v = alpha_t * eps - sigma_t * x0` (Salimans & Ho 2022, section 4).
    VPrediction,
    /// The clean sample x0 (diffusers: `sample` or `original_sample`).
    Sample,
    /// A flow-matching velocity `eps - x0` (DPM-Solver with flow sigmas).
    FlowPrediction,
}

/// How inference timesteps are picked from the training range (Lin et al. 2023, table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepSpacing {
    /// Multiples of `num_train_timesteps / steps`, from 0, plus `steps_offset`.
    Leading,
    /// Multiples counted down from the last training timestep.
    Trailing,
    /// Evenly spread over `[0, num_train_timesteps - 1]`.
    Linspace,
}

/// The sigma appended after the last inference step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalSigmasType {
    /// End on sigma 0: a fully denoised sample.
    Zero,
    /// End on the smallest training sigma.
    SigmaMin,
}

/// DPM-Solver family member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmType {
    /// DPM-Solver++ (data prediction; Lu et al. 2022b). diffusers' `deis` maps here too.
    DpmSolverPlusPlus,
    /// DPM-Solver (noise prediction; Lu et al. 2022a). Not implemented.
    DpmSolver,
    /// Stochastic DPM-Solver++. Not implemented.
    SdeDpmSolverPlusPlus,
    /// Stochastic DPM-Solver. Not implemented.
    SdeDpmSolver,
}

/// Second-order update rule of DPM-Solver++.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverType {
    /// Midpoint rule (diffusers also maps `logrho`, `bh1`, `bh2` here).
    Midpoint,
    /// Heun's rule.
    Heun,
}

/// UniPC's `B(h)` (Zhao et al. 2023, "UniPC"), read from the same `solver_type`
/// key as [`SolverType`]; like diffusers, the DPM-Solver names select `bh2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniPcSolverType {
    /// `B(h) = h` (the paper's B1, recommended for few unconditional steps).
    Bh1,
    /// `B(h) = e^h - 1` (B2, diffusers' default).
    Bh2,
}

/// How Euler places sigmas between training timesteps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterpolationType {
    /// Linear interpolation of the training sigmas at the (fractional) timesteps.
    Linear,
    /// Sigmas evenly spaced in log space between the extreme training sigmas.
    LogLinear,
}

/// Whether Euler feeds the denoiser discrete timesteps or `0.25 * ln(sigma)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepType {
    /// The timesteps themselves.
    Discrete,
    /// `0.25 * ln(sigma)`; only used together with v-prediction (EDM-style models).
    Continuous,
}

/// Flow-matching resolution-dependent shift function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeShiftType {
    /// `e^mu / (e^mu + (1/t - 1))`.
    Exponential,
    /// `mu / (mu + (1/t - 1))`.
    Linear,
}

/// DDPM variance type; only the learned ones matter here (they are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// `fixed_small`.
    FixedSmall,
    /// `fixed_small_log`.
    FixedSmallLog,
    /// `fixed_large`.
    FixedLarge,
    /// `fixed_large_log`.
    FixedLargeLog,
    /// `learned`: the model outputs its variance in extra channels.
    Learned,
    /// `learned_range`: as `learned`, interpolated.
    LearnedRange,
}

/// A config enum: its JSON spellings.
trait ConfigEnum: Copy + 'static {
    const VALUES: &'static [(&'static str, Self)];
}

impl ConfigEnum for BetaSchedule {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("linear", Self::Linear),
        ("scaled_linear", Self::ScaledLinear),
        ("squaredcos_cap_v2", Self::SquaredCosCapV2),
    ];
}

impl ConfigEnum for PredictionType {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("epsilon", Self::Epsilon),
        ("v_prediction", Self::VPrediction),
        ("sample", Self::Sample),
        ("original_sample", Self::Sample),
        ("flow_prediction", Self::FlowPrediction),
    ];
}

impl ConfigEnum for TimestepSpacing {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("leading", Self::Leading),
        ("trailing", Self::Trailing),
        ("linspace", Self::Linspace),
    ];
}

impl ConfigEnum for FinalSigmasType {
    const VALUES: &'static [(&'static str, Self)] =
        &[("zero", Self::Zero), ("sigma_min", Self::SigmaMin)];
}

impl ConfigEnum for AlgorithmType {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("dpmsolver++", Self::DpmSolverPlusPlus),
        ("deis", Self::DpmSolverPlusPlus),
        ("dpmsolver", Self::DpmSolver),
        ("sde-dpmsolver++", Self::SdeDpmSolverPlusPlus),
        ("sde-dpmsolver", Self::SdeDpmSolver),
    ];
}

impl ConfigEnum for SolverType {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("midpoint", Self::Midpoint),
        ("heun", Self::Heun),
        ("logrho", Self::Midpoint),
        ("bh1", Self::Midpoint),
        ("bh2", Self::Midpoint),
    ];
}

impl ConfigEnum for UniPcSolverType {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("bh1", Self::Bh1),
        ("bh2", Self::Bh2),
        ("midpoint", Self::Bh2),
        ("heun", Self::Bh2),
        ("logrho", Self::Bh2),
    ];
}

impl ConfigEnum for InterpolationType {
    const VALUES: &'static [(&'static str, Self)] =
        &[("linear", Self::Linear), ("log_linear", Self::LogLinear)];
}

impl ConfigEnum for TimestepType {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("discrete", Self::Discrete),
        ("continuous", Self::Continuous),
    ];
}

impl ConfigEnum for TimeShiftType {
    const VALUES: &'static [(&'static str, Self)] =
        &[("exponential", Self::Exponential), ("linear", Self::Linear)];
}

impl ConfigEnum for VarianceType {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("fixed_small", Self::FixedSmall),
        ("fixed_small_log", Self::FixedSmallLog),
        ("fixed_large", Self::FixedLarge),
        ("fixed_large_log", Self::FixedLargeLog),
        ("learned", Self::Learned),
        ("learned_range", Self::LearnedRange),
    ];
}

/// diffusers' `scheduler_config.json`. `None` means "absent or null": the scheduler built from it
/// applies its own diffusers default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulerConfig {
    /// `_class_name`: the diffusers class the file was written for.
    pub class_name: Option<String>,
    /// Length of the training noise schedule (default 1000).
    pub num_train_timesteps: Option<usize>,
    /// First training beta (default 0.0001).
    pub beta_start: Option<f64>,
    /// Last training beta (default 0.02).
    pub beta_end: Option<f64>,
    /// Beta layout (default linear).
    pub beta_schedule: Option<BetaSchedule>,
    /// Explicit training betas, overriding the three fields above.
    pub trained_betas: Option<Vec<f32>>,
    /// What the denoiser predicts (default epsilon).
    pub prediction_type: Option<PredictionType>,
    /// Timestep spacing (default leading for DDIM, linspace for Euler and DPM-Solver).
    pub timestep_spacing: Option<TimestepSpacing>,
    /// Added to leading-spaced timesteps (default 0; Stable Diffusion uses 1).
    pub steps_offset: Option<usize>,
    /// DDIM: the alpha product after the last step is 1 (default true) or `alphas_cumprod[0]`.
    pub set_alpha_to_one: Option<bool>,
    /// DDIM: clip the predicted x0 (default true).
    pub clip_sample: Option<bool>,
    /// DDIM: clipping bound (default 1.0).
    pub clip_sample_range: Option<f64>,
    /// Dynamic thresholding (Imagen); refused when true.
    pub thresholding: Option<bool>,
    /// Rescale betas to zero terminal SNR (Lin et al. 2023, algorithm 1).
    pub rescale_betas_zero_snr: Option<bool>,
    /// Karras et al. 2022 sigmas (eq. 5, rho = 7) for Euler, DPM-Solver and flow matching.
    pub use_karras_sigmas: Option<bool>,
    /// Sigmas evenly spaced in log space.
    pub use_exponential_sigmas: Option<bool>,
    /// Beta-distribution sigmas; refused (needs the beta quantile function).
    pub use_beta_sigmas: Option<bool>,
    /// DPM-Solver: log-SNR evenly spaced (Lu et al. 2022, "uniform lambda").
    pub use_lu_lambdas: Option<bool>,
    /// DPM-Solver / UniPC: flow-matching sigmas.
    pub use_flow_sigmas: Option<bool>,
    /// DPM-Solver / UniPC: the shift applied to flow sigmas (default 1.0).
    pub flow_shift: Option<f64>,
    /// Euler: lower bound for Karras / exponential sigmas.
    pub sigma_min: Option<f64>,
    /// Euler: upper bound for Karras / exponential sigmas.
    pub sigma_max: Option<f64>,
    /// Sigma after the last step (default zero).
    pub final_sigmas_type: Option<FinalSigmasType>,
    /// DPM-Solver variant (default dpmsolver++).
    pub algorithm_type: Option<AlgorithmType>,
    /// DPM-Solver second-order rule (default midpoint).
    pub solver_type: Option<SolverType>,
    /// UniPC: `B(h)` from the same `solver_type` key (default bh2).
    pub unipc_solver_type: Option<UniPcSolverType>,
    /// DPM-Solver / UniPC order, 1 to 3 (default 2).
    pub solver_order: Option<usize>,
    /// DPM-Solver: first-order final steps when fewer than 15 steps; UniPC: lower orders for the
    /// last `solver_order - 1` steps (default true).
    pub lower_order_final: Option<bool>,
    /// UniPC: work on data (x0) predictions (default true); noise prediction is refused.
    pub predict_x0: Option<bool>,
    /// UniPC: step indices whose corrector is skipped (default none).
    pub disable_corrector: Option<Vec<usize>>,
    /// UniPC: a foreign predictor scheduler (any non-null value, as JSON text); refused.
    pub solver_p: Option<String>,
    /// DPM-Solver: first-order final step always (default false).
    pub euler_at_final: Option<bool>,
    /// DPM-Solver: truncates the schedule where log-SNR falls below this (default -inf).
    pub lambda_min_clipped: Option<f64>,
    /// DDPM variance type; learned variances are refused.
    pub variance_type: Option<VarianceType>,
    /// Euler sigma interpolation (default linear).
    pub interpolation_type: Option<InterpolationType>,
    /// Euler timestep type (default discrete).
    pub timestep_type: Option<TimestepType>,
    /// Flow matching: static shift (default 1.0).
    pub shift: Option<f64>,
    /// Flow matching / flow DPM: resolution-dependent shift from `mu` (default false).
    pub use_dynamic_shifting: Option<bool>,
    /// Dynamic shifting: mu at `base_image_seq_len` (default 0.5).
    pub base_shift: Option<f64>,
    /// Dynamic shifting: mu at `max_image_seq_len` (default 1.15).
    pub max_shift: Option<f64>,
    /// Dynamic shifting: small sequence length (default 256).
    pub base_image_seq_len: Option<usize>,
    /// Dynamic shifting: large sequence length (default 4096).
    pub max_image_seq_len: Option<usize>,
    /// Flow matching: run the sigmas from 0 to 1 (default false).
    pub invert_sigmas: Option<bool>,
    /// Flow matching: stretch shifted sigmas so the last one equals this.
    pub shift_terminal: Option<f64>,
    /// Flow matching dynamic shift function (default exponential).
    pub time_shift_type: Option<TimeShiftType>,
    /// Flow matching: re-noise every step instead of the Euler update (default false).
    pub stochastic_sampling: Option<bool>,
}

impl SchedulerConfig {
    /// Parses the text of a `scheduler_config.json`. Errors name the field and the bad value.
    pub fn from_json_str(text: &str) -> Result<Self> {
        Self::parse(text, "scheduler config")
    }

    /// Reads and parses a `scheduler_config.json`; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("read the scheduler config", path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// diffusers' `calculate_shift`: the dynamic-shift `mu` for a latent sequence of
    /// `image_seq_len` tokens, linear between (`base_image_seq_len`, `base_shift`) and
    /// (`max_image_seq_len`, `max_shift`).
    pub fn dynamic_shift_mu(&self, image_seq_len: usize) -> f64 {
        let base_len = self.base_image_seq_len.unwrap_or(256) as f64;
        let max_len = self.max_image_seq_len.unwrap_or(4096) as f64;
        let base_shift = self.base_shift.unwrap_or(0.5);
        let max_shift = self.max_shift.unwrap_or(1.15);
        let m = (max_shift - base_shift) / (max_len - base_len);
        let b = base_shift - m * base_len;
        image_seq_len as f64 * m + b
    }

    fn parse(text: &str, origin: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(&quote_non_finite(text))
            .map_err(|e| Error::package(format!("{origin} is not valid JSON: {e}")))?;
        let Some(obj) = value.as_object() else {
            return Err(Error::package(format!("{origin} must hold a JSON object")));
        };
        let r = Fields { obj, origin };
        Ok(Self {
            class_name: r.string("_class_name")?,
            num_train_timesteps: r.count("num_train_timesteps")?,
            beta_start: r.float("beta_start")?,
            beta_end: r.float("beta_end")?,
            beta_schedule: r.choice("beta_schedule")?,
            trained_betas: r.floats("trained_betas")?,
            prediction_type: r.choice("prediction_type")?,
            timestep_spacing: r.choice("timestep_spacing")?,
            steps_offset: r.count("steps_offset")?,
            set_alpha_to_one: r.flag("set_alpha_to_one")?,
            clip_sample: r.flag("clip_sample")?,
            clip_sample_range: r.float("clip_sample_range")?,
            thresholding: r.flag("thresholding")?,
            rescale_betas_zero_snr: r.flag("rescale_betas_zero_snr")?,
            use_karras_sigmas: r.flag("use_karras_sigmas")?,
            use_exponential_sigmas: r.flag("use_exponential_sigmas")?,
            use_beta_sigmas: r.flag("use_beta_sigmas")?,
            use_lu_lambdas: r.flag("use_lu_lambdas")?,
            use_flow_sigmas: r.flag("use_flow_sigmas")?,
            flow_shift: r.float("flow_shift")?,
            sigma_min: r.float("sigma_min")?,
            sigma_max: r.float("sigma_max")?,
            final_sigmas_type: r.choice("final_sigmas_type")?,
            algorithm_type: r.choice("algorithm_type")?,
            solver_type: r.choice("solver_type")?,
            unipc_solver_type: r.choice("solver_type")?,
            solver_order: r.count("solver_order")?,
            lower_order_final: r.flag("lower_order_final")?,
            predict_x0: r.flag("predict_x0")?,
            disable_corrector: r.counts("disable_corrector")?,
            solver_p: r.get("solver_p").map(Value::to_string),
            euler_at_final: r.flag("euler_at_final")?,
            lambda_min_clipped: r.float("lambda_min_clipped")?,
            variance_type: r.choice("variance_type")?,
            interpolation_type: r.choice("interpolation_type")?,
            timestep_type: r.choice("timestep_type")?,
            shift: r.float("shift")?,
            use_dynamic_shifting: r.flag("use_dynamic_shifting")?,
            base_shift: r.float("base_shift")?,
            max_shift: r.float("max_shift")?,
            base_image_seq_len: r.count("base_image_seq_len")?,
            max_image_seq_len: r.count("max_image_seq_len")?,
            invert_sigmas: r.flag("invert_sigmas")?,
            shift_terminal: r.float("shift_terminal")?,
            time_shift_type: r.choice("time_shift_type")?,
            stochastic_sampling: r.flag("stochastic_sampling")?,
        })
    }
}

/// Typed access to the fields of one config object, with errors naming field and value.
struct Fields<'a> {
    /// The parsed JSON object.
    obj: &'a Map<String, Value>,
    /// What to call the source in errors: a file path or "scheduler config".
    origin: &'a str,
}

impl Fields<'_> {
    /// The field's value, `None` when absent or null.
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, value: &Value, expected: &str) -> Error {
        Error::package(format!(
            "{}: field \"{key}\" is {value}, expected {expected}",
            self.origin
        ))
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, v, "a string")),
        }
    }

    fn flag(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.bad(key, v, "true or false")),
        }
    }

    fn float(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_float(v)
                .map(Some)
                .ok_or_else(|| self.bad(key, v, "a number")),
        }
    }

    fn count(&self, key: &str) -> Result<Option<usize>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        if let Some(n) = v.as_u64() {
            return usize::try_from(n)
                .map(Some)
                .map_err(|_| self.bad(key, v, "a smaller integer"));
        }
        // Integral floats (`1000.0`) are accepted: Python writes them for float-typed settings.
        match v.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e15 => Ok(Some(f as usize)),
            _ => Err(self.bad(key, v, "a non-negative integer")),
        }
    }

    fn counts(&self, key: &str) -> Result<Option<Vec<usize>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Some(items) = v.as_array() else {
            return Err(self.bad(key, v, "a list of non-negative integers"));
        };
        items
            .iter()
            .map(|item| {
                item.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        self.bad(
                            key,
                            item,
                            "a list of non-negative integers (this element is not one)",
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn floats(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Some(items) = v.as_array() else {
            return Err(self.bad(key, v, "a list of numbers"));
        };
        items
            .iter()
            .map(|item| {
                // NOTE: diffusers builds `torch.tensor(trained_betas, dtype=float32)`: one
                // round-to-nearest from the double, which `as f32` also does.
                as_float(item).map(|f| f as f32).ok_or_else(|| {
                    self.bad(
                        key,
                        item,
                        "a list of numbers (this element is not a number)",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn choice<T: ConfigEnum>(&self, key: &str) -> Result<Option<T>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let found = v
            .as_str()
            .and_then(|s| T::VALUES.iter().find(|(name, _)| *name == s));
        match found {
            Some((_, value)) => Ok(Some(*value)),
            None => {
                let names: Vec<String> =
                    T::VALUES.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                Err(self.bad(key, v, &format!("one of {}", names.join(", "))))
            }
        }
    }
}

/// A JSON number, or one of the quoted non-finite spellings produced by [`quote_non_finite`].
fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Quotes Python's bare `NaN`, `Infinity` and `-Infinity` tokens (outside strings) so that a
/// strict JSON parser accepts the text.
fn quote_non_finite(text: &str) -> String {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reads_a_stable_diffusion_config() {
        let text = r#"{
            "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0",
            "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
            "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
            "steps_offset": 1, "trained_betas": null, "clip_sample": false
        }"#;
        let c = SchedulerConfig::from_json_str(text).unwrap();
        assert_eq!(c.class_name.as_deref(), Some("PNDMScheduler"));
        assert_eq!(c.beta_schedule, Some(BetaSchedule::ScaledLinear));
        assert_eq!(c.steps_offset, Some(1));
        assert_eq!(c.set_alpha_to_one, Some(false));
        assert_eq!(c.trained_betas, None);
        assert_eq!(c.prediction_type, None);
    }

    #[test]
    fn accepts_python_infinity() {
        let text =
            r#"{"lambda_min_clipped": -Infinity, "_class_name": "NaN Infinity", "shift": NaN}"#;
        let c = SchedulerConfig::from_json_str(text).unwrap();
        assert_eq!(c.lambda_min_clipped, Some(f64::NEG_INFINITY));
        assert_eq!(c.class_name.as_deref(), Some("NaN Infinity"));
        assert!(c.shift.is_some_and(f64::is_nan));
    }

    #[test]
    fn bad_enum_names_field_and_value() {
        let e = SchedulerConfig::from_json_str(r#"{"beta_schedule": "cubic"}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Package);
        assert!(e.message().contains("beta_schedule"), "{e}");
        assert!(e.message().contains("cubic"), "{e}");
        assert!(e.message().contains("scaled_linear"), "{e}");
    }

    #[test]
    fn bad_types_name_the_field() {
        for (text, field) in [
            (r#"{"num_train_timesteps": -3}"#, "num_train_timesteps"),
            (r#"{"num_train_timesteps": 10.5}"#, "num_train_timesteps"),
            (r#"{"beta_start": "small"}"#, "beta_start"),
            (r#"{"clip_sample": 1}"#, "clip_sample"),
            (r#"{"trained_betas": [0.1, "x"]}"#, "trained_betas"),
            (r#"{"prediction_type": 3}"#, "prediction_type"),
        ] {
            let e = SchedulerConfig::from_json_str(text).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Package);
            assert!(e.message().contains(field), "{e}");
        }
    }

    #[test]
    fn bad_json_is_a_package_error() {
        let e = SchedulerConfig::from_json_str("{\"beta_start\": ").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Package);
        let e = SchedulerConfig::from_json_str("[1, 2]").unwrap_err();
        assert!(e.message().contains("object"), "{e}");
    }

    #[test]
    fn missing_file_names_it() {
        let path = Path::new("/nonexistent/scheduler_config.json");
        let e = SchedulerConfig::from_file(path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(
            e.message().contains("/nonexistent/scheduler_config.json"),
            "{e}"
        );
    }

    #[test]
    fn reads_unipc_fields() {
        let text = r#"{
            "_class_name": "UniPCMultistepScheduler", "solver_type": "bh1", "predict_x0": true,
            "disable_corrector": [0, 3], "solver_p": null, "use_flow_sigmas": true
        }"#;
        let c = SchedulerConfig::from_json_str(text).unwrap();
        assert_eq!(c.unipc_solver_type, Some(UniPcSolverType::Bh1));
        // DPM-Solver reads the same key as its midpoint rule, like diffusers.
        assert_eq!(c.solver_type, Some(SolverType::Midpoint));
        assert_eq!(c.disable_corrector, Some(vec![0, 3]));
        assert_eq!(c.solver_p, None);
        let c =
            SchedulerConfig::from_json_str(r#"{"solver_type": "heun", "solver_p": {}}"#).unwrap();
        assert_eq!(c.unipc_solver_type, Some(UniPcSolverType::Bh2));
        assert_eq!(c.solver_p.as_deref(), Some("{}"));
        for text in [
            r#"{"disable_corrector": [1, -2]}"#,
            r#"{"disable_corrector": 3}"#,
        ] {
            let e = SchedulerConfig::from_json_str(text).unwrap_err();
            assert!(e.message().contains("disable_corrector"), "{e}");
        }
    }

    #[test]
    fn integral_floats_count() {
        let c = SchedulerConfig::from_json_str(r#"{"num_train_timesteps": 1000.0}"#).unwrap();
        assert_eq!(c.num_train_timesteps, Some(1000));
    }

    #[test]
    fn dynamic_shift_mu_matches_calculate_shift() {
        let c = SchedulerConfig::default();
        assert!((c.dynamic_shift_mu(256) - 0.5).abs() < 1e-12);
        assert!((c.dynamic_shift_mu(4096) - 1.15).abs() < 1e-12);
    }
}
