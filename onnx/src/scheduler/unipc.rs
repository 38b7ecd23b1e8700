//! UniPC multistep (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast
//! Sampling of Diffusion Models"), as diffusers' `UniPCMultistepScheduler` with `predict_x0 =
//! true` (the data-prediction form, UniPC with DPM-Solver++-style updates): UniP-p predictor,
//! UniC-p corrector, orders 1 to 3, `B(h) = h` (bh1) or `e^h - 1` (bh2), VP or flow-matching
//! sigmas (Wan 2.1 ships it with `flow_prediction` and `use_flow_sigmas`).
//!
//! With `lambda = ln(alpha_t / sigma_t)`, `h = lambda_t - lambda_s0` and `x0_i` the data
//! predictions of the last steps, the predictor (UniP-p in data form) is
//!   `x_t = (sigma_t / sigma_s0) x - alpha_t (e^-h - 1) x0_0 - alpha_t B(-h) sum_k rho_k D_k`,
//! `D_k = (x0_k - x0_0) / r_k`, `r_k = (lambda_sk - lambda_s0) / h`, the `rho` solving the
//! order conditions `sum_k rho_k r_k^(j-1) = j! phi_j / B(-h)` (`phi_j` the phi-functions of
//! exponential integrators at `-h`, by diffusers' recurrence; `rho = 1/2` for order 2). The
//! corrector redoes the previous step once the model has been evaluated at its result, with the
//! new prediction as one more point (`rho = 1/2` for order 1), and the predictor then starts from
//! the corrected sample. Every scalar is float32 as in diffusers (only the small rho systems are
//! solved in float64), so the rounding matches to the last bit or two.

use super::betas::{alphas_cumprod, np_interp, np_linspace, train_timesteps, training_sigmas};
use super::config::{
    FinalSigmasType, PredictionType, SchedulerConfig, TimeShiftType, TimestepSpacing,
    UniPcSolverType,
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

const CLASS: &str = "UniPCMultistepScheduler";

/// Highest supported `solver_order`.
const MAX_ORDER: usize = 3;

/// How the inference sigmas are chosen (diffusers' `set_timesteps` branches, in its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigmaSpacing {
    /// VP sigmas interpolated at the spaced timesteps.
    Interpolated,
    /// Karras et al. 2022, eq. 5, over the VP training sigmas (mapped to `s / (s + 1)` under
    /// flow sigmas).
    Karras,
    /// Evenly spaced in log sigma (VP only).
    Exponential,
    /// Flow-matching sigmas `shift * s / (1 + (shift - 1) s)` from 1 down to `1 / num_train`.
    Flow,
}

/// diffusers' `UniPCMultistepScheduler` (`predict_x0 = true`, no `solver_p`).
#[derive(Debug, Clone)]
pub struct UniPcScheduler {
    /// Training `alpha-bar_0`, for `final_sigmas_type = sigma_min` with interpolated sigmas.
    alpha_cumprod_0: f32,
    /// Training sigmas, ascending with the timestep, float32.
    train_sigmas: Vec<f32>,
    /// Their float32 logs.
    log_sigmas: Vec<f32>,
    /// `num_train_timesteps`.
    num_train: usize,
    /// What the denoiser predicts.
    prediction: PredictionType,
    /// Timestep spacing for VP sigmas (default linspace).
    spacing: TimestepSpacing,
    /// Added to leading timesteps.
    steps_offset: usize,
    /// Where the inference sigmas come from.
    sigma_spacing: SigmaSpacing,
    /// `use_flow_sigmas`: flow-matching alpha / sigma (also under Karras sigmas, as diffusers).
    flow_alphas: bool,
    /// Static shift of flow sigmas.
    flow_shift: f64,
    /// `use_dynamic_shifting`: flow sigmas are shifted by `mu` instead of `flow_shift`.
    dynamic_shifting: bool,
    /// Dynamic shift function.
    time_shift: TimeShiftType,
    /// Dynamic-shift `mu` for the next `set_timesteps`.
    mu: Option<f64>,
    /// Stretch target for the last flow sigma, if any.
    shift_terminal: Option<f64>,
    /// Config bounds for Karras / exponential sigmas.
    sigma_min: Option<f64>,
    /// See `sigma_min`.
    sigma_max: Option<f64>,
    /// Highest multistep order, 1 to 3.
    solver_order: usize,
    /// `B(h)` variant.
    bh: UniPcSolverType,
    /// Lower orders for the last `solver_order - 1` steps.
    lower_order_final: bool,
    /// Sigma appended after the last step.
    final_sigma: FinalSigmasType,
    /// Step indices after which no corrector runs (diffusers' `disable_corrector`).
    disable_corrector: Vec<usize>,
    /// Sigmas of the current schedule, one more than the steps.
    sigmas: Vec<f32>,
    /// Timesteps of the current schedule (integers), f32.
    timesteps: Vec<f32>,
    /// Data predictions of the last `solver_order` steps, newest last.
    history: Vec<Vec<f32>>,
    /// The sample the last predictor started from (the corrector's `x_s0`).
    last_sample: Option<Vec<f32>>,
    /// Order of the last predictor step (the next corrector uses it).
    this_order: usize,
    /// Steps taken since `set_timesteps`, capped at `solver_order`.
    lower_order_nums: usize,
    /// Index of the last step taken, to insist on consecutive steps.
    last_step: Option<usize>,
}

impl UniPcScheduler {
    /// Builds the scheduler from a config, with `UniPCMultistepScheduler`'s defaults.
    pub fn new(config: &SchedulerConfig) -> Result<Self> {
        refuse_thresholding(config, CLASS)?;
        check_sigma_options(config, CLASS)?;
        if !config.predict_x0.unwrap_or(true) {
            return Err(Error::package(format!(
                "{CLASS}: predict_x0: false (noise-prediction UniPC) is not supported; only the \
                 data-prediction form (predict_x0: true, the default) is implemented"
            )));
        }
        if let Some(solver_p) = &config.solver_p {
            return Err(Error::package(format!(
                "{CLASS}: solver_p is {solver_p}; a foreign predictor (solver_p + UniC) is not \
                 supported, set it to null"
            )));
        }
        let solver_order = config.solver_order.unwrap_or(2);
        if !(1..=MAX_ORDER).contains(&solver_order) {
            return Err(Error::package(format!(
                "{CLASS}: solver_order is {solver_order}, expected 1, 2 or 3"
            )));
        }
        let use_flow = config.use_flow_sigmas.unwrap_or(false);
        let sigma_spacing = if config.use_karras_sigmas.unwrap_or(false) {
            SigmaSpacing::Karras
        } else if config.use_exponential_sigmas.unwrap_or(false) {
            SigmaSpacing::Exponential
        } else if use_flow {
            SigmaSpacing::Flow
        } else {
            SigmaSpacing::Interpolated
        };
        if use_flow && sigma_spacing == SigmaSpacing::Exponential {
            // diffusers feeds VP-sized sigmas (up to ~150) to the flow alpha `1 - sigma`.
            return Err(Error::package(format!(
                "{CLASS}: use_exponential_sigmas together with use_flow_sigmas is not supported \
                 (diffusers computes the logarithm of a negative alpha); turn one off"
            )));
        }
        let prediction = config.prediction_type.unwrap_or(PredictionType::Epsilon);
        if prediction == PredictionType::FlowPrediction && !use_flow {
            return Err(Error::package(format!(
                "{CLASS}: prediction_type \"flow_prediction\" needs use_flow_sigmas: true"
            )));
        }
        if let Some(terminal) = config.shift_terminal
            && !use_flow
        {
            return Err(Error::package(format!(
                "{CLASS}: shift_terminal is {terminal}, but it is only supported with \
                 use_flow_sigmas: true"
            )));
        }
        let flow_shift = config.flow_shift.unwrap_or(1.0);
        if use_flow && !(flow_shift.is_finite() && flow_shift > 0.0) {
            return Err(Error::package(format!(
                "{CLASS}: flow_shift is {flow_shift}, expected a positive number"
            )));
        }
        let final_sigma = config.final_sigmas_type.unwrap_or(FinalSigmasType::Zero);
        let lower_order_final = config.lower_order_final.unwrap_or(true);
        if !lower_order_final && solver_order > 1 && final_sigma == FinalSigmasType::Zero {
            // The last predictor's r_k = (lambda_sk - lambda_s0) / h is 0 for h = inf, and
            // diffusers returns inf / NaN.
            return Err(Error::package(format!(
                "{CLASS}: lower_order_final: false with final_sigmas_type \"zero\" and \
                 solver_order {solver_order} is not supported (the last multistep update divides \
                 by zero; diffusers returns inf / NaN); set lower_order_final: true or \
                 final_sigmas_type \"sigma_min\""
            )));
        }
        let alphas_cumprod = alphas_cumprod(config, true)?;
        let num_train = train_timesteps(config)?;
        let train_sigmas = training_sigmas(&alphas_cumprod);
        let log_sigmas = train_sigmas.iter().map(|s| s.ln()).collect();
        Ok(Self {
            alpha_cumprod_0: alphas_cumprod[0],
            train_sigmas,
            log_sigmas,
            num_train,
            prediction,
            spacing: config.timestep_spacing.unwrap_or(TimestepSpacing::Linspace),
            steps_offset: config.steps_offset.unwrap_or(0),
            sigma_spacing,
            flow_alphas: use_flow,
            flow_shift,
            dynamic_shifting: config.use_dynamic_shifting.unwrap_or(false),
            time_shift: config.time_shift_type.unwrap_or(TimeShiftType::Exponential),
            mu: None,
            // diffusers tests `if shift_terminal:`, so 0 means "off".
            shift_terminal: config.shift_terminal.filter(|s| *s != 0.0),
            sigma_min: config.sigma_min,
            sigma_max: config.sigma_max,
            solver_order,
            bh: config.unipc_solver_type.unwrap_or(UniPcSolverType::Bh2),
            lower_order_final,
            final_sigma,
            disable_corrector: config.disable_corrector.clone().unwrap_or_default(),
            sigmas: Vec::new(),
            timesteps: Vec::new(),
            history: Vec::new(),
            last_sample: None,
            this_order: 1,
            lower_order_nums: 0,
            last_step: None,
        })
    }

    /// The sigmas of the current schedule (one more than the timesteps).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// Flow sigmas from 1 down to `1 / num_train` (shifted, stretched), and their timesteps.
    fn flow_sigmas(&self, n: usize) -> Result<Vec<f64>> {
        let mut sigmas = np_linspace(1.0, 1.0 / self.num_train as f64, n + 1);
        sigmas.pop();
        let shift = if self.dynamic_shifting {
            let Some(mu) = self.mu else {
                return Err(Error::setting(format!(
                    "{CLASS}: use_dynamic_shifting is on, so the schedule needs a mu: call \
                     set_dynamic_shift_mu (SchedulerConfig::dynamic_shift_mu computes it from the \
                     latent sequence length) before set_timesteps"
                )));
            };
            FlowShift::Dynamic {
                mu,
                kind: self.time_shift,
            }
        } else {
            FlowShift::Static(self.flow_shift)
        };
        shift_flow_sigmas(&mut sigmas, shift, self.shift_terminal);
        // diffusers keeps the first sigma off 1 so that `ln(alpha) = ln(1 - sigma)` is finite.
        const EPS: f64 = 1e-6;
        if (sigmas[0] - 1.0).abs() < EPS {
            sigmas[0] -= EPS;
        }
        Ok(sigmas)
    }

    /// `(alpha_t, sigma_t, lambda_t)` for the schedule entry `i`.
    fn point(&self, i: usize) -> (f32, f32, f32) {
        alpha_sigma_lambda(self.sigmas[i], self.flow_alphas)
    }

    /// The update of order `order` from schedule entry `s` to `s + 1`, shared by the predictor
    /// (`x0_new` None: the UniP step from `x` with the history's newest prediction as `x0_0`)
    /// and the corrector (`x0_new` Some: the UniC step redoing the previous step, `x` its start,
    /// with the history's newest prediction as `x0_0` and `x0_new` the prediction at `s + 1`).
    /// Older history entries `x0_k` belong to the schedule entries `s - k`. Writes into `out`.
    fn update(&self, s: usize, order: usize, x: &[f32], x0_new: Option<&[f32]>, out: &mut [f32]) {
        let (alpha_t, sigma_t, lambda_t) = self.point(s + 1);
        let (_, sigma_s0, lambda_s0) = self.point(s);
        let h = lambda_t - lambda_s0;
        let hh = -h;
        let h_phi_1 = hh.exp_m1();
        let b_h = match self.bh {
            UniPcSolverType::Bh1 => hh,
            UniPcSolverType::Bh2 => hh.exp_m1(),
        };
        let ratio = sigma_t / sigma_s0;
        let c0 = alpha_t * h_phi_1;
        let cb = alpha_t * b_h;
        let n = self.history.len();
        let m0 = &self.history[n - 1];

        // r_k for the older points, then 1 for the point at the step's end.
        let rks: Vec<f32> = (1..order)
            .map(|k| (self.point(s - k).2 - lambda_s0) / h)
            .chain(std::iter::once(1.0))
            .collect();
        // Right-hand sides phi_j(h) j! / B(h), j = 1..=order, by diffusers' recurrence.
        let b = {
            let mut b = Vec::with_capacity(order);
            let mut h_phi_k = h_phi_1 / hh - 1.0;
            let mut factorial = 1u32;
            for j in 1..=order {
                b.push(h_phi_k * factorial as f32 / b_h);
                factorial *= j as u32 + 1;
                h_phi_k = h_phi_k / hh - 1.0 / factorial as f32;
            }
            b
        };
        // rho for the older points (`rhos[..order - 1]`) and, for the corrector, the new one.
        let rhos: Vec<f32> = match (x0_new, order) {
            (None, 1) => Vec::new(),
            (None, 2) | (Some(_), 1) => vec![0.5],
            (None, _) => solve(&rks[..order - 1], &b[..order - 1]),
            (Some(_), _) => solve(&rks, &b),
        };

        for (j, o) in out.iter_mut().enumerate() {
            let a = m0[j];
            let base = ratio * x[j] - c0 * a;
            let mut res = 0.0f32;
            for k in 1..order {
                let d = (self.history[n - 1 - k][j] - a) / rks[k - 1];
                res += rhos[k - 1] * d;
            }
            *o = match x0_new {
                // Order 1: no correction term. (diffusers subtracts `alpha_t B(h) * 0`, which
                // is NaN for bh1 on a last step to sigma 0, where B(h) = -inf.)
                None if order == 1 => base,
                None => base - cb * res,
                Some(new) => base - cb * (res + rhos[order - 1] * (new[j] - a)),
            };
        }
    }
}

/// Solves the order conditions `sum_k rho_k r_k^i = b_i` (`i = 0..len`, a Vandermonde system),
/// by Gaussian elimination with partial pivoting in float64 on the float32 matrix (diffusers
/// builds `r^i` in float32), like diffusers' `torch.linalg.solve` (float32 LAPACK) up to its
/// last-bit rounding.
fn solve(rks: &[f32], b: &[f32]) -> Vec<f32> {
    let n = rks.len();
    let mut m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut row: Vec<f64> = rks.iter().map(|r| f64::from(r.powi(i as i32))).collect();
            row.push(f64::from(b[i]));
            row
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))
            .unwrap_or(col);
        m.swap(col, pivot);
        let (top, bottom) = m.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for row in bottom {
            let f = row[col] / pivot_row[col];
            for (r, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *r -= f * p;
            }
        }
    }
    let mut x = vec![0.0f64; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|c| m[row][c] * x[c]).sum();
        x[row] = (m[row][n] - tail) / m[row][row];
    }
    x.into_iter().map(|v| v as f32).collect()
}

impl Scheduler for UniPcScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        check_step_count(num_inference_steps, self.num_train)?;
        let n = num_inference_steps;
        let train = self.num_train as f64;
        let ts = &self.train_sigmas;
        let sigma_min = self.sigma_min.unwrap_or(f64::from(ts[0]));
        let sigma_max = self.sigma_max.unwrap_or(f64::from(ts[ts.len() - 1]));
        let (sigmas, timesteps): (Vec<f64>, Vec<f64>) = match self.sigma_spacing {
            SigmaSpacing::Interpolated => {
                let t = multistep_timesteps(
                    self.spacing,
                    self.num_train,
                    self.num_train,
                    n,
                    self.steps_offset,
                );
                (t.iter().map(|t| np_interp(*t, ts)).collect(), t)
            }
            SigmaSpacing::Karras => {
                let s = karras_sigmas(sigma_min, sigma_max, n);
                if self.flow_alphas {
                    let s: Vec<f64> = s.iter().map(|s| s / (s + 1.0)).collect();
                    let t = s.iter().map(|s| s * train).collect();
                    (s, t)
                } else {
                    let t = s
                        .iter()
                        .map(|s| np_round(sigma_to_t(*s, &self.log_sigmas)))
                        .collect();
                    (s, t)
                }
            }
            SigmaSpacing::Exponential => {
                let s = exponential_sigmas(sigma_min, sigma_max, n);
                let t = s.iter().map(|s| sigma_to_t(*s, &self.log_sigmas)).collect();
                (s, t)
            }
            SigmaSpacing::Flow => {
                let s = self.flow_sigmas(n)?;
                let t = s.iter().map(|s| s * train).collect();
                (s, t)
            }
        };
        let last = match (self.final_sigma, self.sigma_spacing) {
            (FinalSigmasType::Zero, _) => 0.0,
            // Interpolated sigmas end on the smallest training sigma, the others repeat their
            // own last sigma (a zero-length final step).
            (FinalSigmasType::SigmaMin, SigmaSpacing::Interpolated) => {
                let a = self.alpha_cumprod_0;
                ((1.0 - a) / a).sqrt()
            }
            (FinalSigmasType::SigmaMin, _) => sigmas[n - 1] as f32,
        };
        self.sigmas = sigmas
            .iter()
            .map(|s| *s as f32)
            .chain(std::iter::once(last))
            .collect();
        // diffusers stores int64 timesteps: a cast, truncating toward zero.
        self.timesteps = timesteps.iter().map(|t| t.trunc() as f32).collect();
        self.history.clear();
        self.last_sample = None;
        self.this_order = 1;
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
        check_consecutive("unipc", self.last_step, step_index)?;
        if self
            .last_sample
            .as_ref()
            .is_some_and(|l| l.len() != sample.len())
        {
            return Err(Error::setting(
                "unipc scheduler: the sample size changed between steps".to_string(),
            ));
        }
        let i = step_index;

        // convert_model_output: the data prediction x0, from the sample before correction.
        let (alpha_s, sigma_s, _) = self.point(i);
        let raw_sigma = self.sigmas[i];
        let x0: Vec<f32> = sample
            .iter()
            .zip(model_output)
            .map(|(x, m)| match self.prediction {
                PredictionType::Epsilon => (*x - sigma_s * m) / alpha_s,
                PredictionType::VPrediction => alpha_s * *x - sigma_s * m,
                PredictionType::Sample => *m,
                PredictionType::FlowPrediction => *x - raw_sigma * m,
            })
            .collect();

        // UniC: redo the previous step with the prediction just made (skipped after the steps
        // listed in disable_corrector).
        let last_sample = self.last_sample.take();
        if let Some(last) = &last_sample
            && !self.disable_corrector.contains(&(i - 1))
        {
            self.update(i - 1, self.this_order, last, Some(&x0), sample);
        }

        // The corrected sample is where the predictor starts, and the next corrector's start.
        if self.history.len() == self.solver_order {
            self.history.remove(0);
        }
        self.history.push(x0);
        let order = if self.lower_order_final {
            self.solver_order.min(steps - i)
        } else {
            self.solver_order
        };
        self.this_order = order.min(self.lower_order_nums + 1);
        let start = match last_sample {
            Some(mut buf) => {
                buf.copy_from_slice(sample);
                buf
            }
            None => sample.to_vec(),
        };
        self.update(i, self.this_order, &start, None, sample);
        self.last_sample = Some(start);

        if self.lower_order_nums < self.solver_order {
            self.lower_order_nums += 1;
        }
        self.last_step = Some(step_index);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "unipc"
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
        self.mu = Some(mu);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::Constant;
    use super::*;

    /// Wan 2.1's scheduler settings.
    fn wan(shift: f64) -> SchedulerConfig {
        SchedulerConfig::from_json_str(&format!(
            r#"{{"_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction",
                "use_flow_sigmas": true, "flow_shift": {shift}, "solver_order": 2,
                "solver_type": "bh2", "predict_x0": true, "lower_order_final": true,
                "final_sigmas_type": "zero", "timestep_spacing": "linspace",
                "disable_corrector": [], "solver_p": null, "thresholding": false}}"#
        ))
        .unwrap()
    }

    #[test]
    fn unsupported_settings_are_refused() {
        for (json, key) in [
            (r#"{"predict_x0": false}"#, "predict_x0"),
            (
                r#"{"solver_p": {"_class_name": "DDIMScheduler"}}"#,
                "solver_p",
            ),
            (r#"{"thresholding": true}"#, "thresholding"),
            (r#"{"use_beta_sigmas": true}"#, "use_beta_sigmas"),
            (r#"{"solver_order": 4}"#, "solver_order"),
            (
                r#"{"prediction_type": "flow_prediction"}"#,
                "use_flow_sigmas",
            ),
            (r#"{"shift_terminal": 0.1}"#, "shift_terminal"),
            (
                r#"{"use_flow_sigmas": true, "use_exponential_sigmas": true}"#,
                "use_exponential_sigmas",
            ),
            (r#"{"lower_order_final": false}"#, "lower_order_final"),
            (
                r#"{"use_flow_sigmas": true, "flow_shift": -1}"#,
                "flow_shift",
            ),
        ] {
            let config = SchedulerConfig::from_json_str(json).unwrap();
            let e = UniPcScheduler::new(&config).unwrap_err();
            assert!(e.message().contains(key), "{json}: {e}");
            assert!(e.message().contains(CLASS), "{json}: {e}");
        }
        // A null solver_p and an empty disable_corrector are diffusers' defaults.
        UniPcScheduler::new(&wan(3.0)).unwrap();
    }

    #[test]
    fn wan_schedule() {
        let mut s = UniPcScheduler::new(&wan(1.0)).unwrap();
        s.set_timesteps(4).unwrap();
        // linspace(1, 0.001, 5)[:-1] = [1, 0.75025, 0.5005, 0.25075], the first moved off 1.
        assert_eq!(s.timesteps(), &[999.0, 750.0, 500.0, 250.0]);
        assert_eq!(s.sigmas()[0], 0.999_999);
        assert_eq!(s.sigmas()[4], 0.0);
        assert!(!s.uses_dynamic_shifting());
    }

    #[test]
    fn last_step_to_zero_returns_the_prediction() {
        // With sigma 0 next, the first-order step is x0 itself, for bh1 too (diffusers: NaN).
        for bh in ["bh1", "bh2"] {
            let config =
                SchedulerConfig::from_json_str(&format!(r#"{{"solver_type": "{bh}"}}"#)).unwrap();
            let mut s = UniPcScheduler::new(&config).unwrap();
            s.set_timesteps(3).unwrap();
            let mut x = vec![0.3f32; 4];
            for i in 0..3 {
                s.step(&[0.1; 4], i, &mut x, &mut Constant(0.0)).unwrap();
            }
            assert!(x.iter().all(|v| v.is_finite()), "{bh}: {x:?}");
        }
    }

    #[test]
    fn steps_must_be_consecutive() {
        let mut s = UniPcScheduler::new(&wan(3.0)).unwrap();
        s.set_timesteps(5).unwrap();
        let mut x = vec![0.3f32; 4];
        let m = [0.1f32; 4];
        s.step(&m, 0, &mut x, &mut Constant(0.0)).unwrap();
        let e = s.step(&m, 2, &mut x, &mut Constant(0.0)).unwrap_err();
        assert!(e.message().contains("consecutive"), "{e}");
        let e = s
            .step(&m[..3], 1, &mut x[..3], &mut Constant(0.0))
            .unwrap_err();
        assert!(e.message().contains("size"), "{e}");
        // Restart: the history is gone, any start index is fine.
        s.set_timesteps(5).unwrap();
        s.step(&m, 3, &mut x, &mut Constant(0.0)).unwrap();
        s.step(&m, 4, &mut x, &mut Constant(0.0)).unwrap();
    }

    #[test]
    fn dynamic_shift_needs_mu() {
        let mut config = wan(1.0);
        config.use_dynamic_shifting = Some(true);
        let mut s = UniPcScheduler::new(&config).unwrap();
        assert!(s.uses_dynamic_shifting());
        let e = s.set_timesteps(4).unwrap_err();
        assert!(e.message().contains("mu"), "{e}");
        s.set_dynamic_shift_mu(0.0).unwrap();
        s.set_timesteps(4).unwrap();
        // mu = 0 is the identity shift.
        assert_eq!(s.timesteps(), &[999.0, 750.0, 500.0, 250.0]);
        let mut vp = UniPcScheduler::new(&SchedulerConfig::default()).unwrap();
        assert!(vp.set_dynamic_shift_mu(0.5).is_err());
    }

    #[test]
    fn solve_matches_the_order_conditions() {
        let rks = [-0.8f32, -1.9, 1.0];
        let b = [0.3f32, -0.2, 0.7];
        let rho = solve(&rks, &b);
        for (i, bi) in b.iter().enumerate() {
            let lhs: f32 = rks
                .iter()
                .zip(&rho)
                .map(|(r, p)| r.powi(i as i32) * p)
                .sum();
            assert!((lhs - bi).abs() < 1e-5, "{lhs} vs {bi}");
        }
    }
}
