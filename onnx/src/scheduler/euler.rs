//! Euler discrete (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
//! Generative Models", algorithm 2 with no churn), as diffusers' `EulerDiscreteScheduler`.
//!
//! The latents live in the variance-exploding parameterisation `x = x0 + sigma * eps`; the
//! denoiser, trained on variance-preserving inputs, sees `x / sqrt(sigma^2 + 1)`.

use super::betas::{alphas_cumprod, np_interp, torch_linspace_f32, train_timesteps};
use super::config::{
    FinalSigmasType, InterpolationType, PredictionType, SchedulerConfig, TimestepSpacing,
    TimestepType,
};
use super::sigmas::{exponential_sigmas, karras_sigmas, sigma_to_t, spaced_timesteps};
use super::{NoiseSource, Scheduler, check_sigma_options, check_step_call, check_step_count};
use crate::error::{Error, Result};

const CLASS: &str = "EulerDiscreteScheduler";

/// How sigmas are redistributed after interpolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigmaSpacing {
    /// As interpolated from the training sigmas.
    Interpolated,
    /// Karras et al. 2022, eq. 5.
    Karras,
    /// Evenly spaced in log sigma.
    Exponential,
}

/// diffusers' `EulerDiscreteScheduler` (no churn: `s_churn = 0`).
#[derive(Debug, Clone)]
pub struct EulerScheduler {
    /// Training `alpha-bar_0`, for `final_sigmas_type = sigma_min`.
    alpha_cumprod_0: f32,
    /// Training sigmas, ascending with the timestep, float32.
    train_sigmas: Vec<f32>,
    /// Their float32 logs.
    log_sigmas: Vec<f32>,
    /// `num_train_timesteps`.
    num_train: usize,
    /// What the denoiser predicts.
    prediction: PredictionType,
    /// Timestep spacing (default linspace).
    spacing: TimestepSpacing,
    /// Added to leading timesteps.
    steps_offset: usize,
    /// How sigmas are read off the training schedule.
    interpolation: InterpolationType,
    /// Karras / exponential redistribution, if any.
    sigma_spacing: SigmaSpacing,
    /// Config bound for Karras / exponential sigmas.
    sigma_min: Option<f64>,
    /// Config bound for Karras / exponential sigmas.
    sigma_max: Option<f64>,
    /// Feed `0.25 ln(sigma)` instead of timesteps (continuous + v-prediction).
    continuous_timesteps: bool,
    /// Sigma appended after the last step.
    final_sigma: FinalSigmasType,
    /// Sigmas of the current schedule, one more than the steps (float32, as diffusers keeps them).
    sigmas: Vec<f32>,
    /// Timesteps of the current schedule, f32.
    timesteps: Vec<f32>,
}

impl EulerScheduler {
    /// Builds the scheduler from a config, with `EulerDiscreteScheduler`'s defaults.
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        check_sigma_options(config, CLASS)?;
        let prediction = config.prediction_type.unwrap_or(PredictionType::Epsilon);
        if prediction == PredictionType::FlowPrediction {
            return Err(Error::package(format!(
                "{CLASS}: prediction_type \"flow_prediction\" is not supported; use epsilon, \
                 v_prediction or sample"
            )));
        }
        let alphas_cumprod = alphas_cumprod(config, true)?;
        let train_sigmas = super::betas::training_sigmas(&alphas_cumprod);
        let log_sigmas = train_sigmas.iter().map(|s| s.ln()).collect();
        let sigma_spacing = if config.use_karras_sigmas.unwrap_or(false) {
            SigmaSpacing::Karras
        } else if config.use_exponential_sigmas.unwrap_or(false) {
            SigmaSpacing::Exponential
        } else {
            SigmaSpacing::Interpolated
        };
        let continuous_timesteps = config.timestep_type == Some(TimestepType::Continuous)
            && prediction == PredictionType::VPrediction;
        // Before set_timesteps diffusers holds the full training schedule, flipped, plus 0.
        let mut sigmas: Vec<f32> = train_sigmas.iter().rev().copied().collect();
        sigmas.push(0.0);
        Ok(Self {
            alpha_cumprod_0: alphas_cumprod[0],
            num_train: train_timesteps(config)?,
            train_sigmas,
            log_sigmas,
            prediction,
            spacing: config.timestep_spacing.unwrap_or(TimestepSpacing::Linspace),
            steps_offset: config.steps_offset.unwrap_or(0),
            interpolation: config
                .interpolation_type
                .unwrap_or(InterpolationType::Linear),
            sigma_spacing,
            sigma_min: config.sigma_min,
            sigma_max: config.sigma_max,
            continuous_timesteps,
            final_sigma: config.final_sigmas_type.unwrap_or(FinalSigmasType::Zero),
            sigmas,
            timesteps: Vec::new(),
        })
    }

    /// The sigmas of the current schedule (one more than the timesteps).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }
}

/// `max(sigmas)`, or `sqrt(max^2 + 1)` for leading spacing (diffusers' `init_noise_sigma`, shared
/// with Euler ancestral).
pub(super) fn euler_init_noise_sigma(sigmas: &[f32], spacing: TimestepSpacing) -> f32 {
    let max = sigmas.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    match spacing {
        TimestepSpacing::Linspace | TimestepSpacing::Trailing => max,
        TimestepSpacing::Leading => (max * max + 1.0).sqrt(),
    }
}

/// Divides by `sqrt(sigma^2 + 1)`: the variance-preserving input the denoiser was trained on.
/// Does nothing when `step_index` is not below `steps`.
pub(super) fn euler_scale(sigmas: &[f32], steps: usize, sample: &mut [f32], step_index: usize) {
    let Some(&sigma) = sigmas.get(step_index).filter(|_| step_index < steps) else {
        return;
    };
    let denom = (sigma * sigma + 1.0).sqrt();
    for x in sample {
        *x /= denom;
    }
}

impl Scheduler for EulerScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        check_step_count(num_inference_steps, self.num_train)?;
        let n = num_inference_steps;
        // diffusers keeps these timesteps as a float32 array.
        let mut timesteps: Vec<f64> =
            spaced_timesteps(self.spacing, self.num_train, n, self.steps_offset)
                .into_iter()
                .map(|t| f64::from(t as f32))
                .collect();
        let mut sigmas: Vec<f64> = match self.interpolation {
            InterpolationType::Linear => timesteps
                .iter()
                .map(|t| np_interp(*t, &self.train_sigmas))
                .collect(),
            InterpolationType::LogLinear => {
                let (first, last) = (self.train_sigmas[0], self.train_sigmas[self.num_train - 1]);
                torch_linspace_f32(f64::from(last.ln()), f64::from(first.ln()), n + 1)
                    .into_iter()
                    .map(|l| f64::from(l.exp()))
                    .collect()
            }
        };
        if self.sigma_spacing != SigmaSpacing::Interpolated {
            let sigma_min = self.sigma_min.unwrap_or(sigmas[sigmas.len() - 1]);
            let sigma_max = self.sigma_max.unwrap_or(sigmas[0]);
            sigmas = match self.sigma_spacing {
                SigmaSpacing::Karras => karras_sigmas(sigma_min, sigma_max, n),
                _ => exponential_sigmas(sigma_min, sigma_max, n),
            };
            timesteps = sigmas
                .iter()
                .map(|s| sigma_to_t(*s, &self.log_sigmas))
                .collect();
        }
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
        self.timesteps = if self.continuous_timesteps {
            let body = &self.sigmas[..self.sigmas.len() - 1];
            body.iter().map(|s| 0.25 * s.ln()).collect()
        } else {
            timesteps.iter().map(|t| *t as f32).collect()
        };
        Ok(())
    }

    fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f32 {
        euler_init_noise_sigma(&self.sigmas, self.spacing)
    }

    fn scale_model_input(&self, sample: &mut [f32], step_index: usize) {
        euler_scale(&self.sigmas, self.timesteps.len(), sample, step_index);
    }

    fn add_noise(&self, sample: &mut [f32], noise: &[f32], step_index: usize) -> Result<()> {
        super::check_add_noise(self.name(), step_index, self.timesteps.len(), sample, noise)?;
        // x0 + sigma eps (the variance-exploding form)
        super::mix(sample, noise, 1.0, self.sigmas[step_index]);
        Ok(())
    }

    fn step(
        &mut self,
        model_output: &[f32],
        step_index: usize,
        sample: &mut [f32],
        _noise: &mut dyn NoiseSource,
    ) -> Result<()> {
        check_step_call(
            self.name(),
            step_index,
            self.timesteps.len(),
            model_output,
            sample,
        )?;
        let (Some(&sigma), Some(&sigma_next)) =
            (self.sigmas.get(step_index), self.sigmas.get(step_index + 1))
        else {
            return Err(Error::setting(format!(
                "euler scheduler: no sigma for step {step_index}"
            )));
        };
        // Without churn sigma_hat = sigma. Karras et al. 2022, algorithm 2, lines 5-8:
        //   d = (x - x0_pred) / sigma,  x_next = x + (sigma_next - sigma) * d
        let dt = sigma_next - sigma;
        let sigma_sq_1 = sigma * sigma + 1.0;
        let v_scale = -sigma / sigma_sq_1.sqrt();
        for (x, m) in sample.iter_mut().zip(model_output) {
            let x0 = match self.prediction {
                PredictionType::Epsilon => *x - sigma * m,
                // x0 = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * v  (VE form of v-pred).
                PredictionType::VPrediction => m * v_scale + *x / sigma_sq_1,
                _ => *m,
            };
            let derivative = (*x - x0) / sigma;
            *x += derivative * dt;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "euler"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn linspace_schedule_ends_at_zero() {
        let mut s = EulerScheduler::new(&SchedulerConfig::default()).unwrap();
        s.set_timesteps(3).unwrap();
        assert_eq!(s.timesteps(), &[999.0, 499.5, 0.0]);
        assert_eq!(s.sigmas().len(), 4);
        assert_eq!(s.sigmas()[3], 0.0);
        assert_eq!(s.init_noise_sigma(), s.sigmas()[0]);
    }

    #[test]
    fn two_sigma_kinds_are_refused() {
        let config = SchedulerConfig {
            use_karras_sigmas: Some(true),
            use_exponential_sigmas: Some(true),
            ..Default::default()
        };
        assert!(EulerScheduler::new(&config).is_err());
        let config = SchedulerConfig {
            use_beta_sigmas: Some(true),
            ..Default::default()
        };
        let e = EulerScheduler::new(&config).unwrap_err();
        assert!(e.message().contains("use_beta_sigmas"), "{e}");
    }
}
