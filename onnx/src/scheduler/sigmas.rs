//! Timestep spacings and sigma-schedule transforms shared by the schedulers.
//!
//! Each function reproduces one diffusers helper with its numpy dtype (float64 unless noted):
//! the three spacings of Lin et al. 2023 (table 2), Karras et al. 2022 sigmas (eq. 5),
//! exponential sigmas, uniform-lambda sigmas (Lu et al. 2022), and the sigma -> fractional
//! timestep inversion (`_sigma_to_t`).

use super::betas::{np_arange_down, np_linspace};
use super::config::{TimeShiftType, TimestepSpacing};

/// Rounds half to even, like `numpy.round`.
pub(super) fn np_round(x: f64) -> f64 {
    x.round_ties_even()
}

/// Descending inference timesteps from the training range `[0, num_train)`, as float64 values,
/// following diffusers' `set_timesteps` of DDIM / Euler:
///
/// * linspace: `linspace(0, num_train - 1, steps)` reversed (unrounded: callers round or cast),
/// * leading: `arange(steps) * (num_train // steps)` reversed, plus `offset`,
/// * trailing: `round(arange(num_train, 0, -num_train / steps)) - 1`.
///
/// NOTE: for some step counts (61, 103, 121, ... with 1000 training steps) numpy's float
/// `arange` yields one element too many, so diffusers' trailing schedules get `steps + 1`
/// timesteps ending in -1 (DDIM then reads `alphas_cumprod[-1]`, the noisiest value). We keep the
/// first `steps` timesteps instead; every other step count matches diffusers exactly.
pub(super) fn spaced_timesteps(
    spacing: TimestepSpacing,
    num_train: usize,
    steps: usize,
    offset: usize,
) -> Vec<f64> {
    match spacing {
        TimestepSpacing::Linspace => {
            let mut t = np_linspace(0.0, (num_train - 1) as f64, steps);
            t.reverse();
            t
        }
        TimestepSpacing::Leading => {
            let ratio = num_train / steps;
            (0..steps)
                .rev()
                .map(|i| (i * ratio + offset) as f64)
                .collect()
        }
        TimestepSpacing::Trailing => {
            np_arange_down(num_train as f64, num_train as f64 / steps as f64)
                .into_iter()
                .take(steps)
                .map(|t| np_round(t) - 1.0)
                .collect()
        }
    }
}

/// Karras et al. 2022, eq. 5 with rho = 7: `(max^(1/rho) + ramp * (min^(1/rho) - max^(1/rho)))^rho`.
pub(super) fn karras_sigmas(sigma_min: f64, sigma_max: f64, steps: usize) -> Vec<f64> {
    let rho = 7.0f64;
    let min_inv_rho = sigma_min.powf(1.0 / rho);
    let max_inv_rho = sigma_max.powf(1.0 / rho);
    np_linspace(0.0, 1.0, steps)
        .into_iter()
        .map(|ramp| (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)).powf(rho))
        .collect()
}

/// Sigmas evenly spaced in log space from `sigma_max` down to `sigma_min`.
pub(super) fn exponential_sigmas(sigma_min: f64, sigma_max: f64, steps: usize) -> Vec<f64> {
    np_linspace(sigma_max.ln(), sigma_min.ln(), steps)
        .into_iter()
        .map(f64::exp)
        .collect()
}

/// diffusers' `_sigma_to_t`: the fractional training timestep whose (log-)sigma is `sigma`,
/// interpolating linearly in log sigma between neighbouring training timesteps. `log_sigmas` are
/// the float32 logs of the ascending training sigmas.
pub(super) fn sigma_to_t(sigma: f64, log_sigmas: &[f32]) -> f64 {
    let n = log_sigmas.len();
    if n < 2 {
        return 0.0;
    }
    let log_sigma = sigma.max(1e-10).ln();
    // The last index whose log sigma is <= log_sigma (0 if none), at most n - 2.
    let low_idx = log_sigmas
        .iter()
        .rposition(|l| log_sigma - f64::from(*l) >= 0.0)
        .unwrap_or(0)
        .min(n - 2);
    let high_idx = low_idx + 1;
    let low = log_sigmas[low_idx];
    let high = log_sigmas[high_idx];
    // NOTE: `low - high` is a float32 subtraction in diffusers (numpy float32 scalars).
    let w = ((f64::from(low) - log_sigma) / f64::from(low - high)).clamp(0.0, 1.0);
    (1.0 - w) * low_idx as f64 + w * high_idx as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spacings_match_diffusers_examples() {
        // DDIM, 1000 training steps, 10 inference steps.
        let leading = spaced_timesteps(TimestepSpacing::Leading, 1000, 10, 1);
        assert_eq!(leading[0], 901.0);
        assert_eq!(leading[9], 1.0);
        let trailing = spaced_timesteps(TimestepSpacing::Trailing, 1000, 10, 0);
        assert_eq!(trailing[0], 999.0);
        assert_eq!(trailing[9], 99.0);
        let linspace = spaced_timesteps(TimestepSpacing::Linspace, 1000, 10, 0);
        assert_eq!(linspace[0], 999.0);
        assert_eq!(linspace[9], 0.0);
        // numpy's arange overshoots here; diffusers would return 62 timesteps ending in -1.
        let trailing = spaced_timesteps(TimestepSpacing::Trailing, 1000, 61, 0);
        assert_eq!(trailing.len(), 61);
        assert_eq!(trailing[60], 15.0);
    }

    #[test]
    fn karras_runs_from_max_to_min() {
        let s = karras_sigmas(0.03, 14.6, 5);
        assert!((s[0] - 14.6).abs() < 1e-12);
        assert!((s[4] - 0.03).abs() < 1e-12);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn sigma_to_t_inverts_training_sigmas() {
        let log_sigmas: Vec<f32> = [0.1f32, 0.2, 0.4, 0.8].iter().map(|s| s.ln()).collect();
        assert!((sigma_to_t(0.2, &log_sigmas) - 1.0).abs() < 1e-6);
        assert!((sigma_to_t((0.2f64 * 0.4).sqrt(), &log_sigmas) - 1.5).abs() < 1e-6);
        assert_eq!(sigma_to_t(5.0, &log_sigmas), 3.0);
        assert_eq!(sigma_to_t(0.0, &log_sigmas), 0.0);
    }
}

/// How flow-matching sigmas are shifted towards the noisy end.
#[derive(Debug, Clone, Copy)]
pub(super) enum FlowShift {
    /// `shift * s / (1 + (shift - 1) s)` (Esser et al. 2024, eq. 23).
    Static(f64),
    /// The resolution-dependent shift by `mu` (diffusers' `time_shift`).
    Dynamic { mu: f64, kind: TimeShiftType },
}

/// Shifts flow sigmas in place, then stretches them so the last lands on `terminal` when given
/// (diffusers' `time_shift` / static shift and `stretch_shift_to_terminal`, float64).
pub(super) fn shift_flow_sigmas(sigmas: &mut [f64], shift: FlowShift, terminal: Option<f64>) {
    for s in sigmas.iter_mut() {
        *s = match shift {
            FlowShift::Static(k) => k * *s / (1.0 + (k - 1.0) * *s),
            FlowShift::Dynamic {
                mu,
                kind: TimeShiftType::Exponential,
            } => mu.exp() / (mu.exp() + (1.0 / *s - 1.0)),
            FlowShift::Dynamic {
                mu,
                kind: TimeShiftType::Linear,
            } => mu / (mu + (1.0 / *s - 1.0)),
        };
    }
    if let (Some(terminal), Some(last)) = (terminal, sigmas.last().copied()) {
        let scale = (1.0 - last) / (1.0 - terminal);
        for s in sigmas.iter_mut() {
            *s = 1.0 - (1.0 - *s) / scale;
        }
    }
}

/// diffusers' `_sigma_to_alpha_sigma_t` in float32, and `lambda = ln(alpha) - ln(sigma)`: VP
/// `alpha = 1 / sqrt(sigma^2 + 1)`, `sigma_t = sigma * alpha`; flow `alpha = 1 - sigma`,
/// `sigma_t = sigma`.
pub(super) fn alpha_sigma_lambda(sigma: f32, flow: bool) -> (f32, f32, f32) {
    let (alpha, sigma) = if flow {
        (1.0 - sigma, sigma)
    } else {
        let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
        (alpha, sigma * alpha)
    };
    (alpha, sigma, alpha.ln() - sigma.ln())
}

/// The multistep solvers' spaced integer timesteps (DPM-Solver, UniPC: `set_timesteps` before any
/// sigma transform), float64, counting down from `last` (`num_train`, or less where DPM-Solver's
/// `lambda_min_clipped` cuts the noisiest end).
pub(super) fn multistep_timesteps(
    spacing: TimestepSpacing,
    num_train: usize,
    last: usize,
    n: usize,
    steps_offset: usize,
) -> Vec<f64> {
    match spacing {
        // One extra point, then the final 0 is dropped.
        TimestepSpacing::Linspace => {
            let mut t: Vec<f64> = np_linspace(0.0, (last as f64) - 1.0, n + 1)
                .into_iter()
                .map(np_round)
                .collect();
            t.reverse();
            t.pop();
            t
        }
        TimestepSpacing::Leading => {
            let ratio = last / (n + 1);
            (1..=n)
                .rev()
                .map(|i| (i * ratio + steps_offset) as f64)
                .collect()
        }
        TimestepSpacing::Trailing => {
            if last == num_train {
                spaced_timesteps(TimestepSpacing::Trailing, num_train, n, 0)
            } else {
                // Clipped: counts down from `last` with the unclipped stride.
                np_arange_down(last as f64, num_train as f64 / n as f64)
                    .into_iter()
                    .take(n)
                    .map(|t| np_round(t) - 1.0)
                    .collect()
            }
        }
    }
}
