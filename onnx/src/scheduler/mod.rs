//! Noise schedulers: how the denoising loop walks from noise to a clean latent.
//!
//! Every scheduler reimplements one diffusers 0.42 class behind the [`Scheduler`] trait, with the
//! same numbers: [`DdimScheduler`] (`DDIMScheduler`), [`EulerScheduler`]
//! (`EulerDiscreteScheduler`), [`EulerAncestralScheduler`] (`EulerAncestralDiscreteScheduler`),
//! [`DpmSolverScheduler`] (`DPMSolverMultistepScheduler`, DPM-Solver++),
//! [`UniPcScheduler`] (`UniPCMultistepScheduler`, Wan 2.1's) and [`FlowMatchEulerScheduler`]
//! (`FlowMatchEulerDiscreteScheduler`). Settings come from the
//! model's `scheduler_config.json` ([`SchedulerConfig`]); [`build`] picks the class from the file
//! or from the user's choice ([`SchedulerKind::parse`]).
//!
//! The loop, for `i` in `0..timesteps().len()`: scale a copy of the latents with
//! [`Scheduler::scale_model_input`], run the denoiser at `timesteps()[i]`, apply guidance, then
//! [`Scheduler::step`] updates the latents in place. Initial latents are N(0, 1) noise times
//! [`Scheduler::init_noise_sigma`].
//!
//! Tensors are flat `f32` slices; every scheduler is elementwise, so shapes do not matter.

mod betas;
mod config;
mod ddim;
mod dpm_solver;
mod euler;
mod euler_ancestral;
mod flow_match;
mod sigmas;
mod unipc;

pub(crate) use betas::np_linspace;
pub use config::{
    AlgorithmType, BetaSchedule, FinalSigmasType, InterpolationType, PredictionType,
    SchedulerConfig, SolverType, TimeShiftType, TimestepSpacing, TimestepType, UniPcSolverType,
    VarianceType,
};
pub use ddim::DdimScheduler;
pub use dpm_solver::DpmSolverScheduler;
pub use euler::EulerScheduler;
pub use euler_ancestral::EulerAncestralScheduler;
pub use flow_match::FlowMatchEulerScheduler;
pub use unipc::UniPcScheduler;

use crate::error::{Error, Result};

/// Fills buffers with standard-normal noise (ancestral schedulers draw from it).
pub trait NoiseSource {
    /// Overwrites every element of `out` with an independent N(0, 1) draw.
    fn fill(&mut self, out: &mut [f32]);
}

/// One diffusers scheduler. Call [`set_timesteps`](Scheduler::set_timesteps) before the loop.
pub trait Scheduler: Send {
    /// Prepares `num_inference_steps` steps; resets all step state (multistep history, step index).
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()>;
    /// The timesteps to feed the denoiser, in order, as f32 (flow matching uses fractional values).
    fn timesteps(&self) -> &[f32];
    /// Standard deviation of the initial noise (seeded N(0,1) noise / supplied latents are multiplied by it).
    fn init_noise_sigma(&self) -> f32;
    /// Scales the denoiser input in place for step `step_index` (identity for DDIM/DPM/flow;
    /// Euler-type divide by sqrt(sigma^2+1)). An out-of-range `step_index` leaves `sample` as is
    /// ([`step`](Scheduler::step) reports it).
    fn scale_model_input(&self, sample: &mut [f32], step_index: usize);
    /// One denoising step at `step_index` (0-based, in timesteps() order): given the (guided)
    /// model output and the current sample, writes x_prev into `sample` in place.
    fn step(
        &mut self,
        model_output: &[f32],
        step_index: usize,
        sample: &mut [f32],
        noise: &mut dyn NoiseSource,
    ) -> Result<()>;
    /// Noises a clean latent to the level of step `step_index` (diffusers' `add_noise`, or
    /// `scale_noise` for flow matching, at `timesteps()[step_index]`): where video to video
    /// enters the schedule. `noise` is N(0, 1), the size of `sample`.
    fn add_noise(&self, sample: &mut [f32], noise: &[f32], step_index: usize) -> Result<()>;
    /// Short name, e.g. "ddim".
    fn name(&self) -> &'static str;
    /// Denoiser evaluations per step (1 for every scheduler here; diffusers' `order`).
    fn order(&self) -> usize {
        1
    }
    /// True when the schedule depends on a resolution-dependent `mu` (Flux-style dynamic
    /// shifting): call [`set_dynamic_shift_mu`](Scheduler::set_dynamic_shift_mu) (for instance
    /// with [`SchedulerConfig::dynamic_shift_mu`]) before `set_timesteps`.
    fn uses_dynamic_shifting(&self) -> bool {
        false
    }
    /// Prepares a schedule from the pipeline's own sigmas (diffusers'
    /// `set_timesteps(sigmas=...)`; LTXPipeline passes `linspace(1, 1/N, N)`), shifted as the
    /// config says. Schedulers that take no sigma list space that many steps their own way.
    fn set_timesteps_from_sigmas(&mut self, sigmas: &[f64]) -> Result<()> {
        self.set_timesteps(sigmas.len())
    }
    /// Sets the dynamic-shift `mu` used by the next `set_timesteps` (diffusers'
    /// `set_timesteps(mu=...)`). Schedulers without dynamic shifting refuse it.
    fn set_dynamic_shift_mu(&mut self, mu: f64) -> Result<()> {
        let _ = mu;
        Err(Error::setting(format!(
            "the {} scheduler does not use dynamic shifting (use_dynamic_shifting is off)",
            self.name()
        )))
    }
}

/// The schedulers the engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    /// DDIM, eta = 0 (Song et al. 2021).
    Ddim,
    /// Euler (Karras et al. 2022, algorithm 2 without churn).
    Euler,
    /// Euler ancestral (k-diffusion `sample_euler_ancestral`).
    EulerAncestral,
    /// DPM-Solver++ multistep (Lu et al. 2022b), 2M by default.
    DpmSolverMultistep,
    /// Euler on a rectified-flow / flow-matching ODE (Esser et al. 2024).
    FlowMatchEuler,
    /// UniPC multistep predictor-corrector (Zhao et al. 2023), bh2 order 2 by default.
    UniPcMultistep,
}

/// User-facing names: (name, kind, karras override).
const NAMES: &[(&str, SchedulerKind, Option<bool>)] = &[
    ("ddim", SchedulerKind::Ddim, None),
    ("euler", SchedulerKind::Euler, None),
    ("euler-a", SchedulerKind::EulerAncestral, None),
    ("euler-ancestral", SchedulerKind::EulerAncestral, None),
    ("dpm++2m", SchedulerKind::DpmSolverMultistep, None),
    ("dpmpp-2m", SchedulerKind::DpmSolverMultistep, None),
    (
        "dpm++2m-karras",
        SchedulerKind::DpmSolverMultistep,
        Some(true),
    ),
    (
        "dpmpp-2m-karras",
        SchedulerKind::DpmSolverMultistep,
        Some(true),
    ),
    ("flow-euler", SchedulerKind::FlowMatchEuler, None),
    ("flow-match-euler", SchedulerKind::FlowMatchEuler, None),
    ("unipc", SchedulerKind::UniPcMultistep, None),
];

/// The name list returned by [`SchedulerKind::all_names`] (same order as `NAMES`).
const ALL_NAMES: &[&str] = &[
    "ddim",
    "euler",
    "euler-a",
    "euler-ancestral",
    "dpm++2m",
    "dpmpp-2m",
    "dpm++2m-karras",
    "dpmpp-2m-karras",
    "flow-euler",
    "flow-match-euler",
    "unipc",
];

/// diffusers class names.
const CLASS_NAMES: &[(&str, SchedulerKind)] = &[
    ("DDIMScheduler", SchedulerKind::Ddim),
    ("EulerDiscreteScheduler", SchedulerKind::Euler),
    (
        "EulerAncestralDiscreteScheduler",
        SchedulerKind::EulerAncestral,
    ),
    (
        "DPMSolverMultistepScheduler",
        SchedulerKind::DpmSolverMultistep,
    ),
    (
        "FlowMatchEulerDiscreteScheduler",
        SchedulerKind::FlowMatchEuler,
    ),
    ("UniPCMultistepScheduler", SchedulerKind::UniPcMultistep),
];

impl SchedulerKind {
    /// Parses user names: "ddim", "euler", "euler-a" / "euler-ancestral", "dpm++2m" / "dpmpp-2m",
    /// "dpm++2m-karras" / "dpmpp-2m-karras" (returns DpmSolverMultistep and karras=true),
    /// "flow-euler" / "flow-match-euler", "unipc". Case and surrounding blanks are ignored. The karras
    /// override is `None` for plain names: the model's config decides, as in diffusers'
    /// `from_config`.
    pub fn parse(name: &str) -> Result<(SchedulerKind, Option<bool>)> {
        let wanted = name.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(n, _, _)| *n == wanted)
            .map(|(_, kind, karras)| (*kind, *karras))
            .ok_or_else(|| {
                Error::setting(format!(
                    "unknown scheduler \"{name}\"; valid names are: {}",
                    ALL_NAMES.join(", ")
                ))
            })
    }

    /// From diffusers' `_class_name` (DDIMScheduler, EulerDiscreteScheduler,
    /// EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler,
    /// UniPCMultistepScheduler).
    pub fn from_class_name(name: &str) -> Option<SchedulerKind> {
        CLASS_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, kind)| *kind)
    }

    /// Every name [`parse`](SchedulerKind::parse) accepts.
    /// The name users type for this kind ("ddim", "unipc", ...).
    pub fn user_name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, k, _)| *k == self)
            .map_or("?", |(n, _, _)| n)
    }

    pub fn all_names() -> &'static [&'static str] {
        ALL_NAMES
    }

    /// The diffusers class this kind reimplements.
    pub fn class_name(self) -> &'static str {
        CLASS_NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }
}

/// Builds a scheduler. `kind` None = from config.class_name (error if unknown/missing, naming it).
/// `karras`: Some overrides use_karras_sigmas (meaningful for DPM-Solver, UniPC and Euler; a `true`
/// also switches off exponential, beta and uniform-lambda sigmas).
pub fn build(
    config: &SchedulerConfig,
    kind: Option<SchedulerKind>,
    karras: Option<bool>,
) -> Result<Box<dyn Scheduler>> {
    let kind = match kind {
        Some(kind) => kind,
        None => {
            let supported: Vec<&str> = CLASS_NAMES.iter().map(|(n, _)| *n).collect();
            match config.class_name.as_deref() {
                Some(class) => SchedulerKind::from_class_name(class).ok_or_else(|| {
                    Error::package(format!(
                        "the model's scheduler class \"{class}\" is not supported (supported: {}); \
                         choose a scheduler explicitly, one of: {}",
                        supported.join(", "),
                        ALL_NAMES.join(", ")
                    ))
                })?,
                None => {
                    return Err(Error::package(format!(
                        "the scheduler config has no _class_name; choose a scheduler explicitly, \
                         one of: {}",
                        ALL_NAMES.join(", ")
                    )));
                }
            }
        }
    };
    let mut config = for_kind(config, kind)?;
    if let Some(karras) = karras {
        config.use_karras_sigmas = Some(karras);
        if karras {
            config.use_exponential_sigmas = Some(false);
            config.use_beta_sigmas = Some(false);
            config.use_lu_lambdas = Some(false);
        }
    }
    Ok(match kind {
        SchedulerKind::Ddim => Box::new(DdimScheduler::new(&config)?),
        SchedulerKind::Euler => Box::new(EulerScheduler::new(&config)?),
        SchedulerKind::EulerAncestral => Box::new(EulerAncestralScheduler::new(&config)?),
        SchedulerKind::DpmSolverMultistep => Box::new(DpmSolverScheduler::new(&config)?),
        SchedulerKind::FlowMatchEuler => Box::new(FlowMatchEulerScheduler::new(&config)?),
        SchedulerKind::UniPcMultistep => Box::new(UniPcScheduler::new(&config)?),
    })
}

/// Whether the model's config describes a flow-matching model (rectified flow: the denoiser
/// predicts a velocity), as opposed to a variance-preserving diffusion model.
fn is_flow_model(config: &SchedulerConfig) -> bool {
    config
        .class_name
        .as_deref()
        .is_some_and(|c| c.starts_with("FlowMatch"))
        || config.use_flow_sigmas == Some(true)
        || config.prediction_type == Some(PredictionType::FlowPrediction)
}

/// Whether the config names a scheduler class of noise-prediction diffusion (ours, or one of
/// diffusers' other common ones) without a flow mode: an unknown class decides nothing.
fn is_diffusion_class(config: &SchedulerConfig) -> bool {
    const OTHERS: &[&str] = &[
        "PNDMScheduler",
        "DDPMScheduler",
        "LMSDiscreteScheduler",
        "HeunDiscreteScheduler",
        "KDPM2DiscreteScheduler",
        "DEISMultistepScheduler",
    ];
    !is_flow_model(config)
        && config.class_name.as_deref().is_some_and(|c| {
            SchedulerKind::from_class_name(c).is_some_and(|k| k != SchedulerKind::FlowMatchEuler)
                || OTHERS.contains(&c)
        })
}

/// The model's config as scheduler `kind` must read it.
///
/// diffusers' `from_config` hands one class's settings to another as they are, which is right
/// within a paradigm and meaningless across one: a flow-matching model sampled by DDIM makes
/// noise. So a flow model chosen with a multistep solver that has a flow mode (DPM-Solver, UniPC)
/// gets that mode, with the model's shift, as diffusers' documentation sets it up by hand; a
/// scheduler that cannot sample the model's paradigm is refused in words.
fn for_kind(config: &SchedulerConfig, kind: SchedulerKind) -> Result<SchedulerConfig> {
    let mut config = config.clone();
    let model = config.class_name.as_deref().unwrap_or("its").to_string();
    let flow = is_flow_model(&config);
    match kind {
        SchedulerKind::Ddim | SchedulerKind::Euler | SchedulerKind::EulerAncestral if flow => {
            return Err(Error::setting(format!(
                "this model is a flow-matching model ({model} scheduler config), which the {} \
                 scheduler cannot sample; choose flow-euler, unipc or dpm++2m, or the model's own",
                kind.user_name()
            )));
        }
        SchedulerKind::FlowMatchEuler if !flow && is_diffusion_class(&config) => {
            return Err(Error::setting(format!(
                "this model is a diffusion (noise-prediction) model ({model} scheduler config), \
                 which flow-euler cannot sample; choose ddim, euler, euler-a, dpm++2m or unipc, or \
                 the model's own"
            )));
        }
        SchedulerKind::FlowMatchEuler if config.shift.is_none() => {
            // A UniPC / DPM-Solver flow config calls its shift `flow_shift`.
            config.shift = config.flow_shift;
        }
        SchedulerKind::DpmSolverMultistep | SchedulerKind::UniPcMultistep
            if flow && config.use_flow_sigmas != Some(true) =>
        {
            config.use_flow_sigmas = Some(true);
            config.prediction_type = Some(PredictionType::FlowPrediction);
            config.flow_shift = config.flow_shift.or(config.shift);
        }
        _ => {}
    }
    Ok(config)
}

/// Refuses zero steps and more steps than training timesteps.
fn check_step_count(steps: usize, num_train: usize) -> Result<()> {
    if steps == 0 {
        return Err(Error::setting(
            "the number of inference steps must be at least 1",
        ));
    }
    if steps > num_train {
        return Err(Error::setting(format!(
            "{steps} inference steps requested, but the scheduler was trained with \
             {num_train} timesteps; use at most {num_train} steps"
        )));
    }
    Ok(())
}

/// Multistep solvers keep a history: refuses a step that does not follow the previous one.
fn check_consecutive(name: &str, last_step: Option<usize>, step_index: usize) -> Result<()> {
    match last_step {
        Some(last) if step_index != last + 1 => Err(Error::setting(format!(
            "{name} scheduler: step {step_index} called after step {last}; multistep solvers \
             need consecutive steps (call set_timesteps to start over)"
        ))),
        _ => Ok(()),
    }
}

/// Checks an `add_noise` call: the schedule is set, the index is in range, the buffers agree.
fn check_add_noise(
    name: &str,
    step_index: usize,
    steps: usize,
    sample: &[f32],
    noise: &[f32],
) -> Result<()> {
    if step_index >= steps {
        return Err(Error::setting(format!(
            "{name} scheduler: cannot add noise for step {step_index}: the schedule has {steps} \
             steps (call set_timesteps first)"
        )));
    }
    if sample.len() != noise.len() {
        return Err(Error::setting(format!(
            "{name} scheduler: the noise has {} values but the sample {}",
            noise.len(),
            sample.len()
        )));
    }
    Ok(())
}

/// `alpha * sample + sigma * noise`, element by element, in place.
fn mix(sample: &mut [f32], noise: &[f32], alpha: f32, sigma: f32) {
    for (x, n) in sample.iter_mut().zip(noise) {
        *x = alpha * *x + sigma * n;
    }
}

/// Checks a `step` call: the schedule is set, the index is in range, the buffers agree.
fn check_step_call(
    name: &str,
    step_index: usize,
    steps: usize,
    model_output: &[f32],
    sample: &[f32],
) -> Result<()> {
    if steps == 0 {
        return Err(Error::setting(format!(
            "{name} scheduler: call set_timesteps before step"
        )));
    }
    if step_index >= steps {
        return Err(Error::setting(format!(
            "{name} scheduler: step index {step_index} is out of range (the schedule has {steps} steps)"
        )));
    }
    if model_output.len() != sample.len() {
        return Err(Error::setting(format!(
            "{name} scheduler: the model output holds {} values but the sample holds {}",
            model_output.len(),
            sample.len()
        )));
    }
    Ok(())
}

/// Refuses dynamic thresholding (Saharia et al. 2022, section 2.3), which only DDIM, DPM-Solver
/// and UniPC offer in diffusers; the other classes ignore the field, as diffusers does.
fn refuse_thresholding(config: &SchedulerConfig, class: &str) -> Result<()> {
    if config.thresholding.unwrap_or(false) {
        return Err(Error::package(format!(
            "{class}: dynamic thresholding (thresholding: true) is not supported; it is meant for \
             pixel-space models, set it to false"
        )));
    }
    Ok(())
}

/// Refuses more than one of Karras / exponential / beta sigmas, like diffusers, and beta sigmas
/// (they need the beta distribution's quantile function). Only for the classes that have them.
fn check_sigma_options(config: &SchedulerConfig, class: &str) -> Result<()> {
    let set = [
        config.use_karras_sigmas,
        config.use_exponential_sigmas,
        config.use_beta_sigmas,
    ]
    .iter()
    .filter(|f| f.unwrap_or(false))
    .count();
    if set > 1 {
        return Err(Error::package(format!(
            "{class}: only one of use_karras_sigmas, use_exponential_sigmas and use_beta_sigmas \
             may be true"
        )));
    }
    if config.use_beta_sigmas.unwrap_or(false) {
        return Err(Error::package(format!(
            "{class}: use_beta_sigmas is not supported; use Karras or exponential sigmas"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A noise source that always yields one value.
    pub(super) struct Constant(pub f32);

    impl NoiseSource for Constant {
        fn fill(&mut self, out: &mut [f32]) {
            out.fill(self.0);
        }
    }

    /// Starting mid-schedule from `add_noise(x0, eps, k)` with a denoiser that predicts exactly
    /// (eps for epsilon prediction, eps - x0 for flow), every deterministic scheduler walks back
    /// to x0: `add_noise` puts the sample exactly where that scheduler's step expects it.
    #[test]
    fn add_noise_enters_the_schedule_where_step_expects() {
        let eps_config = SchedulerConfig::from_json_str(
            r#"{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                "num_train_timesteps": 1000, "prediction_type": "epsilon",
                "set_alpha_to_one": true, "timestep_spacing": "leading", "steps_offset": 1}"#,
        )
        .unwrap();
        let flow_config = SchedulerConfig::from_json_str(
            r#"{"num_train_timesteps": 1000, "prediction_type": "flow_prediction",
                "use_flow_sigmas": true, "flow_shift": 3.0, "shift": 3.0}"#,
        )
        .unwrap();
        let x0: Vec<f32> = (0..64)
            .map(|i| ((i * 37 % 17) as f32 / 8.0) - 1.0)
            .collect();
        let eps: Vec<f32> = (0..64)
            .map(|i| ((i * 13 % 11) as f32 / 5.0) - 1.0)
            .collect();
        let cases = [
            (&eps_config, SchedulerKind::Ddim, false),
            (&eps_config, SchedulerKind::Euler, false),
            (&eps_config, SchedulerKind::DpmSolverMultistep, false),
            (&eps_config, SchedulerKind::UniPcMultistep, false),
            (&flow_config, SchedulerKind::FlowMatchEuler, true),
            (&flow_config, SchedulerKind::UniPcMultistep, true),
        ];
        for (config, kind, flow) in cases {
            for start in [0usize, 3, 7] {
                let mut s = build(config, Some(kind), None).unwrap();
                s.set_timesteps(10).unwrap();
                let mut x = x0.clone();
                s.add_noise(&mut x, &eps, start).unwrap();
                let out: Vec<f32> = if flow {
                    eps.iter().zip(&x0).map(|(e, c)| e - c).collect()
                } else {
                    eps.clone()
                };
                for i in start..10 {
                    let mut scaled = x.clone();
                    s.scale_model_input(&mut scaled, i);
                    s.step(&out, i, &mut x, &mut Constant(0.0)).unwrap();
                }
                let err = x
                    .iter()
                    .zip(&x0)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(
                    err < 2e-3,
                    "{} from step {start}: |x - x0| = {err}",
                    s.name()
                );
            }
        }
        let mut s = build(&eps_config, Some(SchedulerKind::Ddim), None).unwrap();
        assert!(
            s.add_noise(&mut [0.0; 4], &[0.0; 4], 0).is_err(),
            "before set_timesteps"
        );
        s.set_timesteps(5).unwrap();
        assert!(
            s.add_noise(&mut [0.0; 4], &[0.0; 3], 0).is_err(),
            "size mismatch"
        );
        assert!(
            s.add_noise(&mut [0.0; 4], &[0.0; 4], 5).is_err(),
            "past the end"
        );
    }

    #[test]
    fn parses_every_listed_name() {
        for name in SchedulerKind::all_names() {
            SchedulerKind::parse(name).unwrap();
        }
        assert_eq!(
            SchedulerKind::parse(" DPM++2M-Karras ").unwrap(),
            (SchedulerKind::DpmSolverMultistep, Some(true))
        );
        assert_eq!(
            SchedulerKind::parse("euler-a").unwrap(),
            (SchedulerKind::EulerAncestral, None)
        );
        let e = SchedulerKind::parse("pndm").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSetting);
        assert!(
            e.message().contains("pndm") && e.message().contains("flow-euler"),
            "{e}"
        );
    }

    #[test]
    fn class_names_round_trip() {
        for (name, kind) in CLASS_NAMES {
            assert_eq!(SchedulerKind::from_class_name(name), Some(*kind));
            assert_eq!(kind.class_name(), *name);
        }
        assert_eq!(SchedulerKind::from_class_name("PNDMScheduler"), None);
    }

    #[test]
    fn build_needs_a_known_class() {
        let config = SchedulerConfig::from_json_str(r#"{"_class_name": "PNDMScheduler"}"#).unwrap();
        let e = build(&config, None, None).err().unwrap();
        assert!(e.message().contains("PNDMScheduler"), "{e}");
        let e = build(&SchedulerConfig::default(), None, None)
            .err()
            .unwrap();
        assert!(e.message().contains("_class_name"), "{e}");
        let s = build(&config, Some(SchedulerKind::Euler), None).unwrap();
        assert_eq!(s.name(), "euler");
    }

    #[test]
    fn every_scheduler_refuses_bad_calls() {
        let config = SchedulerConfig::default();
        for (_, kind) in CLASS_NAMES {
            let mut s = build(&config, Some(*kind), None).unwrap();
            let name = s.name();
            let mut sample = vec![0.5f32; 8];
            let out = vec![0.1f32; 8];
            // Before set_timesteps.
            let e = s
                .step(&out, 0, &mut sample, &mut Constant(0.0))
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSetting, "{name}");
            assert_eq!(
                s.set_timesteps(0).unwrap_err().kind(),
                ErrorKind::InvalidSetting
            );
            let e = s.set_timesteps(1001).unwrap_err();
            assert!(
                e.message().contains("1001") && e.message().contains("1000"),
                "{e}"
            );
            s.set_timesteps(4).unwrap();
            let steps = s.timesteps().len();
            let e = s
                .step(&out, steps, &mut sample, &mut Constant(0.0))
                .unwrap_err();
            assert!(e.message().contains("out of range"), "{name}: {e}");
            let e = s
                .step(&out[..7], 0, &mut sample, &mut Constant(0.0))
                .unwrap_err();
            assert!(e.message().contains('7'), "{name}: {e}");
            // Out-of-range scaling is a no-op, never a panic.
            s.scale_model_input(&mut sample, 99);
            assert!(sample.iter().all(|v| *v == 0.5), "{name}");
            for i in 0..steps {
                s.step(&out, i, &mut sample, &mut Constant(0.0)).unwrap();
            }
            assert!(sample.iter().all(|v| v.is_finite()), "{name}");
        }
    }

    #[test]
    fn a_scheduler_from_the_other_paradigm_is_refused_or_switched_to_its_flow_mode() {
        let flow = SchedulerConfig::from_json_str(
            r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#,
        )
        .unwrap();
        for kind in [
            SchedulerKind::Ddim,
            SchedulerKind::Euler,
            SchedulerKind::EulerAncestral,
        ] {
            let e = build(&flow, Some(kind), None).err().unwrap();
            assert_eq!(e.kind(), ErrorKind::InvalidSetting);
            assert!(
                e.message().contains(kind.user_name()) && e.message().contains("flow-euler"),
                "{e}"
            );
        }
        // UniPC and DPM-Solver on a flow model run in their flow mode with the model's shift:
        // the same schedule as a config written that way.
        let explicit = SchedulerConfig::from_json_str(
            r#"{"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": true,
                "prediction_type": "flow_prediction", "flow_shift": 3.0}"#,
        )
        .unwrap();
        for kind in [
            SchedulerKind::UniPcMultistep,
            SchedulerKind::DpmSolverMultistep,
        ] {
            let mut adapted = build(&flow, Some(kind), None).unwrap();
            let mut written = build(&explicit, Some(kind), None).unwrap();
            adapted.set_timesteps(10).unwrap();
            written.set_timesteps(10).unwrap();
            assert_eq!(adapted.timesteps(), written.timesteps(), "{kind:?}");
        }
        // flow-euler on a flow-mode UniPC config reads its flow_shift.
        let mut a = build(&explicit, Some(SchedulerKind::FlowMatchEuler), None).unwrap();
        let mut b = build(&flow, Some(SchedulerKind::FlowMatchEuler), None).unwrap();
        a.set_timesteps(10).unwrap();
        b.set_timesteps(10).unwrap();
        assert_eq!(a.timesteps(), b.timesteps());
        // flow-euler on a noise-prediction model is refused.
        let vp = SchedulerConfig::from_json_str(r#"{"_class_name": "DDIMScheduler"}"#).unwrap();
        let e = build(&vp, Some(SchedulerKind::FlowMatchEuler), None)
            .err()
            .unwrap();
        assert!(e.message().contains("flow-euler cannot"), "{e}");
        build(&vp, Some(SchedulerKind::UniPcMultistep), None).unwrap();
    }

    #[test]
    fn thresholding_is_refused() {
        let config = SchedulerConfig {
            thresholding: Some(true),
            ..Default::default()
        };
        for kind in [
            SchedulerKind::Ddim,
            SchedulerKind::DpmSolverMultistep,
            SchedulerKind::UniPcMultistep,
        ] {
            let e = build(&config, Some(kind), None).err().unwrap();
            assert!(e.message().contains("thresholding"), "{e}");
        }
        // Classes without the option ignore it, as diffusers' from_config does.
        build(&config, Some(SchedulerKind::Euler), None).unwrap();
    }

    #[test]
    fn mu_only_for_dynamic_shifting() {
        let mut s = build(&SchedulerConfig::default(), Some(SchedulerKind::Ddim), None).unwrap();
        assert!(!s.uses_dynamic_shifting());
        assert!(s.set_dynamic_shift_mu(0.7).is_err());
    }
}
