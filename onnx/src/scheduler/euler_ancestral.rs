//! Euler ancestral, as diffusers' `EulerAncestralDiscreteScheduler` (after k-diffusion's
//! `sample_euler_ancestral`): an Euler step down to `sigma_down`, then fresh noise of standard
//! deviation `sigma_up`, with `sigma_down^2 + sigma_up^2 = sigma_next^2` (the ancestral split of
//! Song et al. 2021, eq. 6, DDPM limit).

use super::betas::{alphas_cumprod, np_interp, train_timesteps};
use super::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use super::euler::{euler_init_noise_sigma, euler_scale};
use super::sigmas::spaced_timesteps;
use super::{NoiseSource, Scheduler, check_step_call, check_step_count};
use crate::error::{Error, Result};

const CLASS: &str = "EulerAncestralDiscreteScheduler";

/// diffusers' `EulerAncestralDiscreteScheduler`.
#[derive(Debug, Clone)]
pub struct EulerAncestralScheduler {
    /// Training sigmas, ascending with the timestep, float32.
    train_sigmas: Vec<f32>,
    /// `num_train_timesteps`.
    num_train: usize,
    /// What the denoiser predicts (epsilon or v).
    prediction: PredictionType,
    /// Timestep spacing (default linspace).
    spacing: TimestepSpacing,
    /// Added to leading timesteps.
    steps_offset: usize,
    /// Sigmas of the current schedule, one more than the steps.
    sigmas: Vec<f32>,
    /// Timesteps of the current schedule, f32.
    timesteps: Vec<f32>,
    /// Scratch buffer for the noise of one step.
    noise: Vec<f32>,
}

impl EulerAncestralScheduler {
    /// Builds the scheduler from a config, with `EulerAncestralDiscreteScheduler`'s defaults.
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        let prediction = config.prediction_type.unwrap_or(PredictionType::Epsilon);
        if !matches!(
            prediction,
            PredictionType::Epsilon | PredictionType::VPrediction
        ) {
            return Err(Error::package(format!(
                "{CLASS}: prediction_type must be epsilon or v_prediction (diffusers does not \
                 implement the others for this scheduler either)"
            )));
        }
        let train_sigmas = super::betas::training_sigmas(&alphas_cumprod(config, true)?);
        let mut sigmas: Vec<f32> = train_sigmas.iter().rev().copied().collect();
        sigmas.push(0.0);
        Ok(Self {
            num_train: train_timesteps(config)?,
            train_sigmas,
            prediction,
            spacing: config.timestep_spacing.unwrap_or(TimestepSpacing::Linspace),
            steps_offset: config.steps_offset.unwrap_or(0),
            sigmas,
            timesteps: Vec::new(),
            noise: Vec::new(),
        })
    }

    /// The sigmas of the current schedule (one more than the timesteps).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }
}

impl Scheduler for EulerAncestralScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        check_step_count(num_inference_steps, self.num_train)?;
        let timesteps: Vec<f32> = spaced_timesteps(
            self.spacing,
            self.num_train,
            num_inference_steps,
            self.steps_offset,
        )
        .into_iter()
        .map(|t| t as f32)
        .collect();
        self.sigmas = timesteps
            .iter()
            .map(|t| np_interp(f64::from(*t), &self.train_sigmas) as f32)
            .chain(std::iter::once(0.0))
            .collect();
        self.timesteps = timesteps;
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
        noise: &mut dyn NoiseSource,
    ) -> Result<()> {
        check_step_call(
            self.name(),
            step_index,
            self.timesteps.len(),
            model_output,
            sample,
        )?;
        let (Some(&sigma), Some(&sigma_to)) =
            (self.sigmas.get(step_index), self.sigmas.get(step_index + 1))
        else {
            return Err(Error::setting(format!(
                "euler-a scheduler: no sigma for step {step_index}"
            )));
        };
        let (from_sq, to_sq) = (sigma * sigma, sigma_to * sigma_to);
        let sigma_up = (to_sq * (from_sq - to_sq) / from_sq).sqrt();
        // NOTE: rounding can make the radicand a hair negative; diffusers would return NaN there.
        let sigma_down = (to_sq - sigma_up * sigma_up).max(0.0).sqrt();
        let dt = sigma_down - sigma;
        let sigma_sq_1 = sigma * sigma + 1.0;
        let v_scale = -sigma / sigma_sq_1.sqrt();
        // NOTE: diffusers draws noise on every step, the last (sigma_up = 0) included; so do we,
        // keeping a seeded noise stream in step with it.
        self.noise.resize(sample.len(), 0.0);
        noise.fill(&mut self.noise);
        for ((x, m), n) in sample.iter_mut().zip(model_output).zip(&self.noise) {
            let x0 = match self.prediction {
                PredictionType::VPrediction => m * v_scale + *x / sigma_sq_1,
                _ => *x - sigma * m,
            };
            let derivative = (*x - x0) / sigma;
            *x = (*x + derivative * dt) + n * sigma_up;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "euler-a"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sample_prediction_is_refused() {
        let config = SchedulerConfig {
            prediction_type: Some(PredictionType::Sample),
            ..Default::default()
        };
        assert!(EulerAncestralScheduler::new(&config).is_err());
    }

    #[test]
    fn noise_enters_with_sigma_up() {
        struct Ones;
        impl NoiseSource for Ones {
            fn fill(&mut self, out: &mut [f32]) {
                out.fill(1.0);
            }
        }
        let mut s = EulerAncestralScheduler::new(&SchedulerConfig::default()).unwrap();
        s.set_timesteps(2).unwrap();
        // A perfect epsilon prediction of a zero image: x = sigma * eps, model says eps.
        let sigma = s.sigmas()[0];
        let mut x = vec![sigma; 4];
        s.step(&[1.0; 4], 0, &mut x, &mut Ones).unwrap();
        let to = s.sigmas()[1];
        let up = (to * to * (sigma * sigma - to * to) / (sigma * sigma)).sqrt();
        let down = (to * to - up * up).sqrt();
        assert!(
            (x[0] - (down + up)).abs() < 1e-4,
            "{} vs {}",
            x[0],
            down + up
        );
    }
}
