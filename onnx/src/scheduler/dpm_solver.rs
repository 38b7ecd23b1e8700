//! DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
//! Diffusion Probabilistic Models"), as diffusers' `DPMSolverMultistepScheduler` with
//! `algorithm_type = "dpmsolver++"`: orders 1 to 3, midpoint or Heun second-order rule.
//!
//! With `lambda = ln(alpha_t / sigma_t)` (half the log-SNR) and `h = lambda_t - lambda_s`, the
//! first-order update is eq. 8 of the paper (DDIM in data-prediction form):
//!   `x_t = (sigma_t / sigma_s) x_s - alpha_t (e^-h - 1) x0_s`,
//! and the multistep second-order update is algorithm 2 (2M).

use super::betas::{alphas_cumprod, np_interp, np_linspace, train_timesteps};
use super::config::{
    AlgorithmType, FinalSigmasType, PredictionType, SchedulerConfig, SolverType, TimestepSpacing,
    VarianceType,
};
use super::sigmas::{
    FlowShift, alpha_sigma_lambda, exponential_sigmas, karras_sigmas, multistep_timesteps,
    np_round, shift_flow_sigmas, sigma_to_t,
};
use super::{
    NoiseSource, Scheduler, check_consecutive, check_sigma_options, check_step_call,
    check_step_count, refuse_thresholding,
};
use crate::error::{Error, Result};

const CLASS: &str = "DPMSolverMultistepScheduler";

/// How the inference sigmas are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigmaSpacing {
    /// Interpolated at the spaced timesteps.
    Interpolated,
    /// Karras et al. 2022, eq. 5.
    Karras,
    /// Evenly spaced in log sigma.
    Exponential,
    /// Evenly spaced in lambda (log sigma), Lu et al. 2022.
    UniformLambda,
    /// Flow-matching sigmas `shift * s / (1 + (shift - 1) s)`.
    Flow,
}

/// diffusers' `DPMSolverMultistepScheduler`, DPM-Solver++ only.
#[derive(Debug, Clone)]
pub struct DpmSolverScheduler {
    /// Training `alpha-bar_0`, for `final_sigmas_type = sigma_min`.
    alpha_cumprod_0: f32,
    /// Training sigmas, ascending with the timestep, float32.
    train_sigmas: Vec<f32>,
    /// Their float32 logs.
    log_sigmas: Vec<f32>,
    /// Training timestep count left after `lambda_min_clipped`.
    last_timestep: usize,
    /// `num_train_timesteps`.
    num_train: usize,
    /// What the denoiser predicts.
    prediction: PredictionType,
    /// Timestep spacing (default linspace).
    spacing: TimestepSpacing,
    /// Added to leading timesteps.
    steps_offset: usize,
    /// Where the inference sigmas come from.
    sigma_spacing: SigmaSpacing,
    /// Karras / uniform-lambda timesteps are rounded (not for the cosine schedule).
    round_timesteps: bool,
    /// `use_flow_sigmas`: flow-matching alpha / sigma (even under Karras sigmas, as diffusers).
    flow_alphas: bool,
    /// Shift of flow sigmas (`exp(mu)` once a dynamic-shift mu is set).
    flow_shift: f64,
    /// `use_dynamic_shifting`: a mu may replace `flow_shift`.
    dynamic_shifting: bool,
    /// Bounds for Karras / exponential sigmas. Not constructor arguments of the diffusers class,
    /// but `from_config` registers them when the file has them, and the conversion reads them.
    sigma_min: Option<f64>,
    /// Config upper bound for Karras / exponential sigmas.
    sigma_max: Option<f64>,
    /// Highest multistep order, 1 to 3.
    solver_order: usize,
    /// Second-order rule.
    solver_type: SolverType,
    /// First-order final step(s) for schedules under 15 steps.
    lower_order_final: bool,
    /// Always end with a first-order step.
    euler_at_final: bool,
    /// Sigma appended after the last step.
    final_sigma: FinalSigmasType,
    /// Karras sigmas in use (for `name`).
    karras_name: bool,
    /// Sigmas of the current schedule, one more than the steps.
    sigmas: Vec<f32>,
    /// Timesteps of the current schedule (integers), f32.
    timesteps: Vec<f32>,
    /// Converted model outputs (x0 predictions) of the last `solver_order` steps, newest last.
    history: Vec<Vec<f32>>,
    /// Steps taken since `set_timesteps`, capped at `solver_order` (diffusers' `lower_order_nums`).
    lower_order_nums: usize,
    /// Index of the last step taken, to insist on consecutive steps.
    last_step: Option<usize>,
}

impl DpmSolverScheduler {
    /// Builds the scheduler from a config, with `DPMSolverMultistepScheduler`'s defaults.
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        refuse_thresholding(config, CLASS)?;
        check_sigma_options(config, CLASS)?;
        match config
            .algorithm_type
            .unwrap_or(AlgorithmType::DpmSolverPlusPlus)
        {
            AlgorithmType::DpmSolverPlusPlus => {}
            other => {
                return Err(Error::package(format!(
                    "{CLASS}: algorithm_type {other:?} is not supported; only \"dpmsolver++\" \
                     (DPM-Solver++) is implemented"
                )));
            }
        }
        if matches!(
            config.variance_type,
            Some(VarianceType::Learned | VarianceType::LearnedRange)
        ) {
            return Err(Error::package(format!(
                "{CLASS}: learned variance (variance_type learned / learned_range) is not supported"
            )));
        }
        let solver_order = config.solver_order.unwrap_or(2);
        if !(1..=3).contains(&solver_order) {
            return Err(Error::package(format!(
                "{CLASS}: solver_order is {solver_order}, expected 1, 2 or 3"
            )));
        }
        let use_flow = config.use_flow_sigmas.unwrap_or(false);
        let sigma_spacing = if config.use_karras_sigmas.unwrap_or(false) {
            SigmaSpacing::Karras
        } else if config.use_lu_lambdas.unwrap_or(false) {
            SigmaSpacing::UniformLambda
        } else if config.use_exponential_sigmas.unwrap_or(false) {
            SigmaSpacing::Exponential
        } else if use_flow {
            SigmaSpacing::Flow
        } else {
            SigmaSpacing::Interpolated
        };
        let prediction = config.prediction_type.unwrap_or(PredictionType::Epsilon);
        if prediction == PredictionType::FlowPrediction && !use_flow {
            return Err(Error::package(format!(
                "{CLASS}: prediction_type \"flow_prediction\" needs use_flow_sigmas: true"
            )));
        }
        let alphas_cumprod = alphas_cumprod(config, true)?;
        let num_train = train_timesteps(config)?;
        // diffusers: `lambda_t = ln(sqrt(a)) - ln(sqrt(1 - a))` in float32; the schedule stops
        // where lambda falls below `lambda_min_clipped` (searchsorted on the flipped lambdas).
        let lambda_min = config.lambda_min_clipped.unwrap_or(f64::NEG_INFINITY);
        let clipped = alphas_cumprod
            .iter()
            .rev()
            .map(|a| f64::from(a.sqrt().ln() - (1.0 - a).sqrt().ln()))
            .take_while(|l| *l < lambda_min)
            .count();
        let train_sigmas = super::betas::training_sigmas(&alphas_cumprod);
        let log_sigmas = train_sigmas.iter().map(|s| s.ln()).collect();
        let karras_name = sigma_spacing == SigmaSpacing::Karras;
        Ok(Self {
            alpha_cumprod_0: alphas_cumprod[0],
            train_sigmas,
            log_sigmas,
            last_timestep: num_train - clipped,
            num_train,
            prediction,
            spacing: config.timestep_spacing.unwrap_or(TimestepSpacing::Linspace),
            steps_offset: config.steps_offset.unwrap_or(0),
            sigma_spacing,
            round_timesteps: config.beta_schedule
                != Some(super::config::BetaSchedule::SquaredCosCapV2),
            flow_alphas: use_flow,
            flow_shift: config.flow_shift.unwrap_or(1.0),
            sigma_min: config.sigma_min,
            sigma_max: config.sigma_max,
            dynamic_shifting: config.use_dynamic_shifting.unwrap_or(false),
            solver_order,
            solver_type: config.solver_type.unwrap_or(SolverType::Midpoint),
            lower_order_final: config.lower_order_final.unwrap_or(true),
            euler_at_final: config.euler_at_final.unwrap_or(false),
            final_sigma: config.final_sigmas_type.unwrap_or(FinalSigmasType::Zero),
            karras_name,
            sigmas: Vec::new(),
            timesteps: Vec::new(),
            history: Vec::new(),
            lower_order_nums: 0,
            last_step: None,
        })
    }

    /// The sigmas of the current schedule (one more than the timesteps).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// `(alpha_t, sigma_t, lambda_t)` for the schedule entry `i`.
    fn point(&self, i: usize) -> (f32, f32, f32) {
        alpha_sigma_lambda(self.sigmas[i], self.flow_alphas)
    }
}

impl Scheduler for DpmSolverScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        check_step_count(num_inference_steps, self.num_train)?;
        let n = num_inference_steps;
        let mut timesteps = multistep_timesteps(
            self.spacing,
            self.num_train,
            self.last_timestep,
            n,
            self.steps_offset,
        );
        if timesteps.is_empty() {
            return Err(Error::setting(format!(
                "{CLASS}: lambda_min_clipped leaves no timesteps for {n} steps"
            )));
        }
        let ts = &self.train_sigmas;
        let sigma_min = self.sigma_min.unwrap_or(f64::from(ts[0]));
        let sigma_max = self.sigma_max.unwrap_or(f64::from(ts[ts.len() - 1]));
        let to_t = |sigmas: &[f64], round: bool| -> Vec<f64> {
            sigmas
                .iter()
                .map(|s| sigma_to_t(*s, &self.log_sigmas))
                .map(|t| if round { np_round(t) } else { t })
                .collect()
        };
        let sigmas: Vec<f64> = match self.sigma_spacing {
            SigmaSpacing::Interpolated => timesteps.iter().map(|t| np_interp(*t, ts)).collect(),
            SigmaSpacing::Karras => {
                let s = karras_sigmas(sigma_min, sigma_max, n);
                timesteps = to_t(&s, self.round_timesteps);
                s
            }
            SigmaSpacing::Exponential => {
                let s = exponential_sigmas(sigma_min, sigma_max, n);
                timesteps = to_t(&s, false);
                s
            }
            SigmaSpacing::UniformLambda => {
                // Lambdas here are diffusers' `log_sigmas`, spaced evenly from max to min.
                let ls = &self.log_sigmas;
                let (min, max) = (f64::from(ls[0]), f64::from(ls[ls.len() - 1]));
                let s: Vec<f64> = np_linspace(0.0, 1.0, n)
                    .into_iter()
                    .map(|ramp| (max + ramp * (min - max)).exp())
                    .collect();
                timesteps = to_t(&s, self.round_timesteps);
                s
            }
            SigmaSpacing::Flow => {
                let mut s: Vec<f64> = np_linspace(1.0, 1.0 / self.num_train as f64, n + 1)
                    .into_iter()
                    .map(|alpha| 1.0 - alpha)
                    .collect();
                shift_flow_sigmas(&mut s, FlowShift::Static(self.flow_shift), None);
                s.reverse();
                s.pop();
                timesteps = s.iter().map(|s| s * self.num_train as f64).collect();
                s
            }
        };
        let last = match self.final_sigma {
            FinalSigmasType::Zero => 0.0,
            FinalSigmasType::SigmaMin => {
                let a = self.alpha_cumprod_0;
                ((1.0 - a) / a).sqrt()
            }
        };
        self.sigmas = sigmas
            .iter()
            .map(|s| *s as f32)
            .chain(std::iter::once(last))
            .collect();
        // diffusers stores int64 timesteps: a cast, truncating toward zero.
        self.timesteps = timesteps.iter().map(|t| t.trunc() as f32).collect();
        self.history.clear();
        self.lower_order_nums = 0;
        self.last_step = None;
        Ok(())
    }

    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f32 {
        1.0
    }

    fn scale_model_input(&self, _sample: &mut [f32], _step_index: usize) {}

    fn add_noise(&self, sample: &mut [f32], noise: &[f32], step_index: usize) -> Result<()> {
        super::check_add_noise(self.name(), step_index, self.timesteps.len(), sample, noise)?;
        // alpha_t x0 + sigma_t eps (1 - sigma and sigma with flow sigmas)
        let (alpha, sigma, _) = self.point(step_index);
        super::mix(sample, noise, alpha, sigma);
        Ok(())
    }

    fn step(
        &mut self,
        model_output: &[f32],
        step_index: usize,
        sample: &mut [f32],
        _noise: &mut dyn NoiseSource,
    ) -> Result<()> {
        let steps = self.timesteps.len();
        check_step_call(self.name(), step_index, steps, model_output, sample)?;
        check_consecutive("dpm++", self.last_step, step_index)?;
        if self.history.last().is_some_and(|h| h.len() != sample.len()) {
            return Err(Error::setting(
                "dpm++ scheduler: the sample size changed between steps".to_string(),
            ));
        }
        let is_last = step_index == steps - 1;
        let short = self.lower_order_final && steps < 15;
        let lower_order_final =
            is_last && (self.euler_at_final || short || self.final_sigma == FinalSigmasType::Zero);
        let lower_order_second = step_index + 2 == steps && short;

        // convert_model_output: the data prediction x0 (DPM-Solver++ works on x0, section 4).
        let (alpha_s0, sigma_s0, lambda_s0) = self.point(step_index);
        let raw_sigma = self.sigmas[step_index];
        let x0: Vec<f32> = sample
            .iter()
            .zip(model_output)
            .map(|(x, m)| match self.prediction {
                PredictionType::Epsilon => (*x - sigma_s0 * m) / alpha_s0,
                PredictionType::VPrediction => alpha_s0 * *x - sigma_s0 * m,
                PredictionType::Sample => *m,
                PredictionType::FlowPrediction => *x - raw_sigma * m,
            })
            .collect();
        if self.history.len() == self.solver_order {
            self.history.remove(0);
        }
        self.history.push(x0);

        let (alpha_t, sigma_t, lambda_t) = self.point(step_index + 1);
        let h = lambda_t - lambda_s0;
        let ratio = sigma_t / sigma_s0;
        let phi = alpha_t * ((-h).exp() - 1.0);
        let order = if self.solver_order == 1 || self.lower_order_nums < 1 || lower_order_final {
            1
        } else if self.solver_order == 2 || self.lower_order_nums < 2 || lower_order_second {
            2
        } else {
            3
        };
        let n = self.history.len();
        match order {
            1 => {
                let m0 = &self.history[n - 1];
                for (x, d0) in sample.iter_mut().zip(m0) {
                    *x = ratio * *x - phi * d0;
                }
            }
            2 => {
                let (m0, m1) = (&self.history[n - 1], &self.history[n - 2]);
                let (_, _, lambda_s1) = self.point(step_index - 1);
                let r0 = (lambda_s0 - lambda_s1) / h;
                let inv_r0 = 1.0 / r0;
                // Midpoint (algorithm 2): -0.5 * phi * D1; Heun: alpha_t ((e^-h - 1)/h + 1) D1.
                let c1 = match self.solver_type {
                    SolverType::Midpoint => 0.5 * phi,
                    SolverType::Heun => -(alpha_t * (((-h).exp() - 1.0) / h + 1.0)),
                };
                for ((x, a), b) in sample.iter_mut().zip(m0).zip(m1) {
                    let d1 = inv_r0 * (a - b);
                    *x = ratio * *x - phi * a - c1 * d1;
                }
            }
            _ => {
                let (m0, m1, m2) = (
                    &self.history[n - 1],
                    &self.history[n - 2],
                    &self.history[n - 3],
                );
                let (_, _, lambda_s1) = self.point(step_index - 1);
                let (_, _, lambda_s2) = self.point(step_index - 2);
                let (h0, h1) = (lambda_s0 - lambda_s1, lambda_s1 - lambda_s2);
                let (r0, r1) = (h0 / h, h1 / h);
                let (inv_r0, inv_r1) = (1.0 / r0, 1.0 / r1);
                let w = r0 / (r0 + r1);
                let inv_sum = 1.0 / (r0 + r1);
                let em1 = (-h).exp() - 1.0;
                let c1 = alpha_t * (em1 / h + 1.0);
                let c2 = alpha_t * ((em1 + h) / (h * h) - 0.5);
                for (((x, a), b), c) in sample.iter_mut().zip(m0).zip(m1).zip(m2) {
                    let d1_0 = inv_r0 * (a - b);
                    let d1_1 = inv_r1 * (b - c);
                    let d1 = d1_0 + w * (d1_0 - d1_1);
                    let d2 = inv_sum * (d1_0 - d1_1);
                    *x = ratio * *x - phi * a + c1 * d1 - c2 * d2;
                }
            }
        }
        if self.lower_order_nums < self.solver_order {
            self.lower_order_nums += 1;
        }
        self.last_step = Some(step_index);
        Ok(())
    }

    fn name(&self) -> &'static str {
        match (self.solver_order, self.karras_name) {
            (1, false) => "dpm++1m",
            (1, true) => "dpm++1m-karras",
            (3, false) => "dpm++3m",
            (3, true) => "dpm++3m-karras",
            (_, false) => "dpm++2m",
            (_, true) => "dpm++2m-karras",
        }
    }

    fn uses_dynamic_shifting(&self) -> bool {
        self.dynamic_shifting && self.sigma_spacing == SigmaSpacing::Flow
    }

    fn set_dynamic_shift_mu(&mut self, mu: f64) -> Result<()> {
        if !self.uses_dynamic_shifting() {
            return Err(Error::setting(format!(
                "{CLASS}: a dynamic-shift mu needs use_dynamic_shifting and use_flow_sigmas"
            )));
        }
        // diffusers: `flow_shift = exp(mu)` (exponential time shift).
        self.flow_shift = mu.exp();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn other_algorithms_are_refused() {
        let config = SchedulerConfig {
            algorithm_type: Some(AlgorithmType::SdeDpmSolverPlusPlus),
            ..Default::default()
        };
        let e = DpmSolverScheduler::new(&config).unwrap_err();
        assert!(e.message().contains("dpmsolver++"), "{e}");
        let config = SchedulerConfig {
            solver_order: Some(4),
            ..Default::default()
        };
        assert!(DpmSolverScheduler::new(&config).is_err());
    }

    #[test]
    fn steps_must_be_consecutive() {
        let mut s = DpmSolverScheduler::new(&SchedulerConfig::default()).unwrap();
        s.set_timesteps(5).unwrap();
        let mut x = vec![0.3f32; 4];
        let m = [0.1f32; 4];
        s.step(&m, 0, &mut x, &mut super::super::tests::Constant(0.0))
            .unwrap();
        let e = s
            .step(&m, 2, &mut x, &mut super::super::tests::Constant(0.0))
            .unwrap_err();
        assert!(e.message().contains("consecutive"), "{e}");
        // Restart: the history is gone.
        s.set_timesteps(5).unwrap();
        s.step(&m, 3, &mut x, &mut super::super::tests::Constant(0.0))
            .unwrap();
    }

    #[test]
    fn default_linspace_schedule() {
        let mut s = DpmSolverScheduler::new(&SchedulerConfig::default()).unwrap();
        s.set_timesteps(4).unwrap();
        // linspace(0, 999, 5).round() = [0, 250, 500, 749, 999] (749.25 -> 749, 249.75 -> 250).
        assert_eq!(s.timesteps(), &[999.0, 749.0, 500.0, 250.0]);
        assert_eq!(s.name(), "dpm++2m");
    }
}
