//! Flow-matching Euler, as diffusers' `FlowMatchEulerDiscreteScheduler` (Stable Diffusion 3,
//! Flux, most video DiTs).
//!
//! The latents follow the rectified-flow path `x_sigma = (1 - sigma) x0 + sigma eps` (Esser et
//! al. 2024, "Scaling Rectified Flow Transformers", eq. 3 with `a_t = 1 - t`, `b_t = t`); the
//! model predicts the velocity `eps - x0` and each step is an Euler step of that ODE,
//! `x_next = x + (sigma_next - sigma) v`. Timesteps are `sigma * num_train_timesteps`.
//! Resolution shift (Esser et al. 2024, eq. 23): `sigma' = shift sigma / (1 + (shift - 1) sigma)`.

use super::betas::{np_linspace, train_timesteps};
use super::config::{SchedulerConfig, TimeShiftType};
use super::sigmas::{FlowShift, exponential_sigmas, karras_sigmas, shift_flow_sigmas};
use super::{NoiseSource, Scheduler, check_sigma_options, check_step_call, check_step_count};
use crate::error::{Error, Result};

const CLASS: &str = "FlowMatchEulerDiscreteScheduler";

/// diffusers' `FlowMatchEulerDiscreteScheduler` (without per-token timesteps).
#[derive(Debug, Clone)]
pub struct FlowMatchEulerScheduler {
    /// `num_train_timesteps`.
    num_train: usize,
    /// Static shift (Esser et al. 2024, eq. 23).
    shift: f64,
    /// `use_dynamic_shifting`: the schedule needs a mu.
    dynamic_shifting: bool,
    /// Dynamic shift function.
    time_shift: TimeShiftType,
    /// Dynamic-shift `mu` for the next `set_timesteps`.
    mu: Option<f64>,
    /// Stretch target for the last sigma, if any.
    shift_terminal: Option<f64>,
    /// Karras sigmas.
    karras: bool,
    /// Exponential sigmas.
    exponential: bool,
    /// Run the sigmas from 0 towards 1.
    invert_sigmas: bool,
    /// Re-noise each step instead of the Euler update.
    stochastic: bool,
    /// Largest and smallest training sigma (after the static shift), as diffusers' `sigma_max`
    /// and `sigma_min` (float32 values).
    train_sigma_max: f64,
    /// See `train_sigma_max`.
    train_sigma_min: f64,
    /// Karras / exponential bounds from the config file, when present.
    sigma_min: Option<f64>,
    /// Config upper bound for Karras / exponential sigmas.
    sigma_max: Option<f64>,
    /// Sigmas of the current schedule, one more than the steps.
    sigmas: Vec<f32>,
    /// Timesteps of the current schedule (`sigma * num_train`).
    timesteps: Vec<f32>,
    /// Scratch buffer for one step of noise.
    noise: Vec<f32>,
}

impl FlowMatchEulerScheduler {
    /// Builds the scheduler from a config, with `FlowMatchEulerDiscreteScheduler`'s defaults.
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        check_sigma_options(config, CLASS)?;
        let num_train = train_timesteps(config)?;
        let shift = config.shift.unwrap_or(1.0);
        if !(shift.is_finite() && shift > 0.0) {
            return Err(Error::package(format!(
                "{CLASS}: shift is {shift}, expected a positive number"
            )));
        }
        let dynamic_shifting = config.use_dynamic_shifting.unwrap_or(false);
        // diffusers' __init__: training sigmas t / N (float32), statically shifted unless dynamic.
        let train_sigma = |t: f32| {
            let s = t / num_train as f32;
            if dynamic_shifting {
                s
            } else {
                // NOTE: torch casts the Python scalars `shift` and `shift - 1` to float32.
                (shift as f32) * s / (1.0 + ((shift - 1.0) as f32) * s)
            }
        };
        Ok(Self {
            num_train,
            shift,
            dynamic_shifting,
            time_shift: config.time_shift_type.unwrap_or(TimeShiftType::Exponential),
            mu: None,
            shift_terminal: config.shift_terminal.filter(|s| *s != 0.0),
            karras: config.use_karras_sigmas.unwrap_or(false),
            exponential: config.use_exponential_sigmas.unwrap_or(false),
            invert_sigmas: config.invert_sigmas.unwrap_or(false),
            stochastic: config.stochastic_sampling.unwrap_or(false),
            train_sigma_max: f64::from(train_sigma(num_train as f32)),
            train_sigma_min: f64::from(train_sigma(1.0)),
            sigma_min: config.sigma_min,
            sigma_max: config.sigma_max,
            sigmas: Vec::new(),
            timesteps: Vec::new(),
            noise: Vec::new(),
        })
    }

    /// The last steps shared by both ways of setting the schedule: inversion, timesteps, the
    /// terminal sigma.
    fn finish(&mut self, mut sigmas: Vec<f32>) -> Result<()> {
        if sigmas.iter().any(|s| !s.is_finite()) {
            // diffusers' stretch divides by 1 - last sigma, which is 0 when one step starts
            // and ends at sigma 1: it yields NaN; we say what to change instead.
            return Err(Error::setting(format!(
                "steps {}: this model's schedule stretches its last sigma to shift_terminal \
                 {}, which needs at least 2 steps",
                sigmas.len(),
                self.shift_terminal.unwrap_or(0.0)
            )));
        }
        let end = if self.invert_sigmas {
            for s in &mut sigmas {
                *s = 1.0 - *s;
            }
            1.0
        } else {
            0.0
        };
        let train = self.num_train as f32;
        self.timesteps = sigmas.iter().map(|s| s * train).collect();
        sigmas.push(end);
        self.sigmas = sigmas;
        Ok(())
    }

    /// The sigmas of the current schedule (one more than the timesteps).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }
}

impl Scheduler for FlowMatchEulerScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        check_step_count(num_inference_steps, self.num_train)?;
        let n = num_inference_steps;
        let train = self.num_train as f64;
        let mut sigmas: Vec<f64> = np_linspace(
            self.train_sigma_max * train,
            self.train_sigma_min * train,
            n,
        )
        .into_iter()
        .map(|t| t / train)
        .collect();
        let shift = if self.dynamic_shifting {
            let Some(mu) = self.mu else {
                return Err(Error::setting(format!(
                    "{CLASS}: use_dynamic_shifting is on, so the schedule needs a mu: call \
                     set_dynamic_shift_mu (SchedulerConfig::dynamic_shift_mu computes it from the \
                     latent sequence length) before set_timesteps"
                )));
            };
            // Esser et al. 2024, eq. 23 generalised: e^mu / (e^mu + (1/t - 1)) (sigma = 1).
            FlowShift::Dynamic {
                mu,
                kind: self.time_shift,
            }
        } else {
            FlowShift::Static(self.shift)
        };
        // ... then stretched so that the last sigma lands on `shift_terminal`, if set.
        shift_flow_sigmas(&mut sigmas, shift, self.shift_terminal);
        if self.karras || self.exponential {
            let sigma_min = self.sigma_min.unwrap_or(sigmas[n - 1]);
            let sigma_max = self.sigma_max.unwrap_or(sigmas[0]);
            sigmas = if self.karras {
                karras_sigmas(sigma_min, sigma_max, n)
            } else {
                exponential_sigmas(sigma_min, sigma_max, n)
            };
        }
        self.finish(sigmas.iter().map(|s| *s as f32).collect())
    }

    /// diffusers' `set_timesteps(sigmas=...)`, as LTXPipeline calls it with
    /// `linspace(1, 1/N, N)`: numpy casts the list to float32 first, so the shift and the
    /// terminal stretch are computed in float32 here too.
    fn set_timesteps_from_sigmas(&mut self, sigmas: &[f64]) -> Result<()> {
        check_step_count(sigmas.len(), self.num_train)?;
        if let Some(bad) = sigmas.iter().find(|s| !(**s > 0.0 && **s <= 1.0)) {
            return Err(Error::setting(format!(
                "{CLASS}: sigma {bad} of a custom schedule is outside (0, 1]"
            )));
        }
        let mut s: Vec<f32> = sigmas.iter().map(|v| *v as f32).collect();
        if self.dynamic_shifting {
            let Some(mu) = self.mu else {
                return Err(Error::setting(format!(
                    "{CLASS}: use_dynamic_shifting is on, so the schedule needs a mu: call \
                     set_dynamic_shift_mu before set_timesteps_from_sigmas"
                )));
            };
            // exponential: e^mu / (e^mu + (1/t - 1)); linear: mu / (mu + (1/t - 1))
            let e = match self.time_shift {
                TimeShiftType::Exponential => mu.exp() as f32,
                TimeShiftType::Linear => mu as f32,
            };
            for v in &mut s {
                *v = e / (e + (1.0 / *v - 1.0));
            }
        } else {
            let (k, k1) = (self.shift as f32, (self.shift - 1.0) as f32);
            for v in &mut s {
                *v = k * *v / (1.0 + k1 * *v);
            }
        }
        if let Some(term) = self.shift_terminal {
            let last = 1.0 - s[s.len() - 1];
            let scale = last / (1.0 - term) as f32;
            for v in &mut s {
                *v = 1.0 - (1.0 - *v) / scale;
            }
        }
        if self.karras || self.exponential {
            let n = s.len();
            let lo = self.sigma_min.unwrap_or(f64::from(s[n - 1]));
            let hi = self.sigma_max.unwrap_or(f64::from(s[0]));
            let spaced = if self.karras {
                karras_sigmas(lo, hi, n)
            } else {
                exponential_sigmas(lo, hi, n)
            };
            s = spaced.iter().map(|v| *v as f32).collect();
        }
        self.finish(s)
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
        // scale_noise: sigma eps + (1 - sigma) x0
        let sigma = self.sigmas[step_index];
        super::mix(sample, noise, 1.0 - sigma, sigma);
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
        let (sigma, sigma_next) = (self.sigmas[step_index], self.sigmas[step_index + 1]);
        if self.stochastic {
            // Re-noise: x0 = x - sigma v, then x_next = (1 - sigma_next) x0 + sigma_next eps.
            self.noise.resize(sample.len(), 0.0);
            noise.fill(&mut self.noise);
            for ((x, v), n) in sample.iter_mut().zip(model_output).zip(&self.noise) {
                let x0 = *x - sigma * v;
                *x = (1.0 - sigma_next) * x0 + sigma_next * n;
            }
        } else {
            let dt = sigma_next - sigma;
            for (x, v) in sample.iter_mut().zip(model_output) {
                *x += dt * v;
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "flow-euler"
    }

    fn uses_dynamic_shifting(&self) -> bool {
        self.dynamic_shifting
    }

    fn set_dynamic_shift_mu(&mut self, mu: f64) -> Result<()> {
        if !self.dynamic_shifting {
            return Err(Error::setting(format!(
                "{CLASS}: use_dynamic_shifting is off; the static shift {} applies",
                self.shift
            )));
        }
        if !mu.is_finite() {
            return Err(Error::setting(format!("{CLASS}: dynamic-shift mu is {mu}")));
        }
        self.mu = Some(mu);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unshifted_schedule() {
        let mut s = FlowMatchEulerScheduler::new(&SchedulerConfig::default()).unwrap();
        s.set_timesteps(4).unwrap();
        for (t, want) in s.timesteps().iter().zip([1000.0, 667.0, 334.0, 1.0]) {
            assert!((t - want).abs() < 1e-3, "{t} vs {want}");
        }
        assert_eq!(s.sigmas()[4], 0.0);
    }

    #[test]
    fn dynamic_shifting_needs_mu() {
        let config = SchedulerConfig {
            use_dynamic_shifting: Some(true),
            ..Default::default()
        };
        let mut s = FlowMatchEulerScheduler::new(&config).unwrap();
        assert!(s.uses_dynamic_shifting());
        let e = s.set_timesteps(4).unwrap_err();
        assert!(e.message().contains("mu"), "{e}");
        s.set_dynamic_shift_mu(config.dynamic_shift_mu(4096))
            .unwrap();
        s.set_timesteps(4).unwrap();
        assert!(s.timesteps()[1] > 667.0);
    }

    #[test]
    fn bad_shift_is_refused() {
        let config = SchedulerConfig {
            shift: Some(0.0),
            ..Default::default()
        };
        assert!(FlowMatchEulerScheduler::new(&config).is_err());
    }
}
