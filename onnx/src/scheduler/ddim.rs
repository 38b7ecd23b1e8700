//! DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models"), deterministic
//! (eta = 0), as diffusers' `DDIMScheduler`.

use super::betas::{alphas_cumprod, train_timesteps};
use super::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use super::sigmas::{np_round, spaced_timesteps};
use super::{NoiseSource, Scheduler, check_step_call, check_step_count, refuse_thresholding};
use crate::error::{Error, Result};

const CLASS: &str = "DDIMScheduler";

/// diffusers' `DDIMScheduler` with `eta = 0`.
#[derive(Debug, Clone)]
pub struct DdimScheduler {
    /// Training `alpha-bar_t`, float32.
    alphas_cumprod: Vec<f32>,
    /// `alpha-bar` used after the last step: 1 or `alphas_cumprod[0]`.
    final_alpha_cumprod: f32,
    /// `num_train_timesteps`.
    num_train: usize,
    /// What the denoiser predicts.
    prediction: PredictionType,
    /// Timestep spacing (default leading).
    spacing: TimestepSpacing,
    /// Added to leading timesteps.
    steps_offset: usize,
    /// Clip bound for the predicted x0, when `clip_sample` is on.
    clip: Option<f32>,
    /// The requested step count (the stride `num_train / steps` uses it).
    num_inference_steps: usize,
    /// Integer timesteps of the current schedule.
    timesteps_int: Vec<usize>,
    /// The same, as f32.
    timesteps: Vec<f32>,
}

impl DdimScheduler {
    /// Builds the scheduler from a config, with `DDIMScheduler`'s defaults for missing fields.
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        refuse_thresholding(config, CLASS)?;
        let prediction = config.prediction_type.unwrap_or(PredictionType::Epsilon);
        if prediction == PredictionType::FlowPrediction {
            return Err(Error::package(format!(
                "{CLASS}: prediction_type \"flow_prediction\" is not supported; use epsilon, \
                 v_prediction or sample"
            )));
        }
        let alphas_cumprod = alphas_cumprod(config, false)?;
        let final_alpha_cumprod = if config.set_alpha_to_one.unwrap_or(true) {
            1.0
        } else {
            alphas_cumprod[0]
        };
        let clip = config
            .clip_sample
            .unwrap_or(true)
            .then(|| config.clip_sample_range.unwrap_or(1.0) as f32);
        Ok(Self {
            final_alpha_cumprod,
            num_train: train_timesteps(config)?,
            alphas_cumprod,
            prediction,
            spacing: config.timestep_spacing.unwrap_or(TimestepSpacing::Leading),
            steps_offset: config.steps_offset.unwrap_or(0),
            clip,
            num_inference_steps: 0,
            timesteps_int: Vec::new(),
            timesteps: Vec::new(),
        })
    }
}

impl Scheduler for DdimScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        check_step_count(num_inference_steps, self.num_train)?;
        let raw = spaced_timesteps(
            self.spacing,
            self.num_train,
            num_inference_steps,
            self.steps_offset,
        );
        let timesteps: Vec<usize> = raw.iter().map(|t| np_round(*t).max(0.0) as usize).collect();
        if let Some(t) = timesteps.iter().find(|t| **t >= self.num_train) {
            return Err(Error::package(format!(
                "{CLASS}: steps_offset {} puts timestep {t} past the training range (0 to {})",
                self.steps_offset,
                self.num_train - 1
            )));
        }
        self.num_inference_steps = num_inference_steps;
        self.timesteps = timesteps.iter().map(|t| *t as f32).collect();
        self.timesteps_int = timesteps;
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
        super::check_add_noise(
            self.name(),
            step_index,
            self.timesteps_int.len(),
            sample,
            noise,
        )?;
        // sqrt(a_t) x0 + sqrt(1 - a_t) eps, at the step's integer timestep
        let a = self.alphas_cumprod[self.timesteps_int[step_index]];
        super::mix(sample, noise, a.sqrt(), (1.0 - a).sqrt());
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
            self.timesteps_int.len(),
            model_output,
            sample,
        )?;
        let t = self.timesteps_int[step_index];
        // NOTE: diffusers steps back by `num_train // steps` whatever the spacing.
        let prev_t = t.checked_sub(self.num_train / self.num_inference_steps);
        let alpha_t = self.alphas_cumprod[t];
        let alpha_prev = prev_t.map_or(self.final_alpha_cumprod, |p| self.alphas_cumprod[p]);
        let beta_t = 1.0 - alpha_t;
        let (sqrt_alpha_t, sqrt_beta_t) = (alpha_t.sqrt(), beta_t.sqrt());
        // DDIM eq. 12 with sigma_t = 0:
        //   x_{t-1} = sqrt(a_{t-1}) * x0_pred + sqrt(1 - a_{t-1}) * eps_pred
        let sqrt_alpha_prev = alpha_prev.sqrt();
        let direction = (1.0 - alpha_prev).sqrt();
        for (x, m) in sample.iter_mut().zip(model_output) {
            let (mut x0, eps) = match self.prediction {
                PredictionType::Epsilon => ((*x - sqrt_beta_t * m) / sqrt_alpha_t, *m),
                PredictionType::Sample => (*m, (*x - sqrt_alpha_t * m) / sqrt_beta_t),
                // v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho 2022, eq. 6 rearranged).
                _ => (
                    sqrt_alpha_t * *x - sqrt_beta_t * m,
                    sqrt_alpha_t * m + sqrt_beta_t * *x,
                ),
            };
            if let Some(range) = self.clip {
                x0 = x0.clamp(-range, range);
            }
            *x = sqrt_alpha_prev * x0 + direction * eps;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "ddim"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sd_leading_schedule() {
        let config = SchedulerConfig {
            steps_offset: Some(1),
            beta_schedule: Some(super::super::BetaSchedule::ScaledLinear),
            beta_start: Some(0.00085),
            beta_end: Some(0.012),
            ..Default::default()
        };
        let mut s = DdimScheduler::new(&config).unwrap();
        s.set_timesteps(5).unwrap();
        assert_eq!(s.timesteps(), &[801.0, 601.0, 401.0, 201.0, 1.0]);
    }

    #[test]
    fn big_offset_is_refused() {
        let config = SchedulerConfig {
            steps_offset: Some(500),
            ..Default::default()
        };
        let mut s = DdimScheduler::new(&config).unwrap();
        assert!(s.set_timesteps(2).is_err());
    }

    #[test]
    fn flow_prediction_is_refused() {
        let config = SchedulerConfig {
            prediction_type: Some(PredictionType::FlowPrediction),
            ..Default::default()
        };
        assert!(DdimScheduler::new(&config).is_err());
    }
}
