//! The training noise schedule shared by the DDPM-type schedulers (DDIM, Euler, DPM-Solver), and
//! the array helpers that reproduce numpy's and torch's rounding.
//!
//! diffusers builds the betas and `alphas_cumprod` as float32 torch tensors and most timestep
//! arithmetic in float64 numpy; the helpers here keep those dtypes so our schedules match theirs to
//! the last bit or two rather than "approximately".

use super::config::{BetaSchedule, SchedulerConfig};
use crate::error::{Error, Result};

/// diffusers' default `num_train_timesteps`.
pub(super) const DEFAULT_TRAIN_TIMESTEPS: usize = 1000;

/// `num_train_timesteps`, with the diffusers default.
pub(super) fn train_timesteps(config: &SchedulerConfig) -> Result<usize> {
    let n = config
        .num_train_timesteps
        .unwrap_or(DEFAULT_TRAIN_TIMESTEPS);
    if n < 2 {
        return Err(Error::package(format!(
            "scheduler config: num_train_timesteps is {n}, expected at least 2"
        )));
    }
    Ok(n)
}

/// `alphas_cumprod` (the cumulative product of `1 - beta_t`, Ho et al. 2020 eq. 4 notation
/// `alpha-bar_t`) in float32, as diffusers' `__init__` computes it. `zero_snr_floor` applies the
/// Euler / DPM-Solver fix-up that replaces a zero terminal `alpha-bar` by 2^-24.
pub(super) fn alphas_cumprod(config: &SchedulerConfig, zero_snr_floor: bool) -> Result<Vec<f32>> {
    let n = train_timesteps(config)?;
    let betas = match &config.trained_betas {
        Some(betas) if betas.len() != n => {
            return Err(Error::package(format!(
                "scheduler config: trained_betas holds {} values but num_train_timesteps is {n}",
                betas.len()
            )));
        }
        Some(betas) => betas.clone(),
        None => {
            let start = config.beta_start.unwrap_or(0.0001);
            let end = config.beta_end.unwrap_or(0.02);
            match config.beta_schedule.unwrap_or(BetaSchedule::Linear) {
                BetaSchedule::Linear => torch_linspace_f32(start, end, n),
                BetaSchedule::ScaledLinear => torch_linspace_f32(start.sqrt(), end.sqrt(), n)
                    .into_iter()
                    .map(|b| b * b)
                    .collect(),
                BetaSchedule::SquaredCosCapV2 => cosine_betas(n),
            }
        }
    };
    if let Some(bad) = betas.iter().find(|b| !(0.0..1.0).contains(*b)) {
        return Err(Error::package(format!(
            "scheduler config: a training beta is {bad}, expected every beta in [0, 1) \
             (check beta_start, beta_end and trained_betas)"
        )));
    }
    let rescale = config.rescale_betas_zero_snr.unwrap_or(false);
    let betas = if rescale {
        rescale_zero_terminal_snr(&betas)
    } else {
        betas
    };
    let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
    let mut cumprod = cumprod_f32(&alphas);
    if rescale && zero_snr_floor {
        // NOTE: diffusers (Euler, DPM-Solver) avoids an infinite terminal sigma this way.
        if let Some(last) = cumprod.last_mut() {
            *last = ZERO_SNR_FLOOR;
        }
    }
    Ok(cumprod)
}

/// The `alpha-bar` diffusers puts at the end of a zero-terminal-SNR schedule (Euler, DPM-Solver)
/// so that the terminal sigma stays finite (about 4096).
const ZERO_SNR_FLOOR: f32 = 1.0 / 16_777_216.0;

/// Training sigmas `sqrt((1 - alpha-bar) / alpha-bar)` in float32, ascending with the timestep
/// (Karras et al. 2022, table 1, VP column).
pub(super) fn training_sigmas(alphas_cumprod: &[f32]) -> Vec<f32> {
    alphas_cumprod
        .iter()
        .map(|a| ((1.0 - a) / a).sqrt())
        .collect()
}

/// torch's CPU cumprod on float32: accumulates in double, rounds each output to float.
fn cumprod_f32(values: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    values
        .iter()
        .map(|v| {
            acc *= f64::from(*v);
            acc as f32
        })
        .collect()
}

/// Cosine schedule betas (Nichol & Dhariwal 2021, eq. 17), computed in double, capped at 0.999.
fn cosine_betas(n: usize) -> Vec<f32> {
    let alpha_bar = |t: f64| {
        ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0)
            .cos()
            .powi(2)
    };
    (0..n)
        .map(|i| {
            let t1 = i as f64 / n as f64;
            let t2 = (i + 1) as f64 / n as f64;
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
        })
        .collect()
}

/// Rescales betas to zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules and
/// Sample Steps are Flawed", algorithm 1), in float32 like diffusers.
fn rescale_zero_terminal_snr(betas: &[f32]) -> Vec<f32> {
    let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
    let mut sqrt_bar: Vec<f32> = cumprod_f32(&alphas).iter().map(|a| a.sqrt()).collect();
    let (Some(&first), Some(&last)) = (sqrt_bar.first(), sqrt_bar.last()) else {
        return betas.to_vec();
    };
    let scale = first / (first - last);
    for s in &mut sqrt_bar {
        *s = (*s - last) * scale;
    }
    let bar: Vec<f32> = sqrt_bar.iter().map(|s| s * s).collect();
    let mut out = Vec::with_capacity(bar.len());
    out.push(1.0 - bar[0]);
    out.extend(bar.windows(2).map(|w| 1.0 - w[1] / w[0]));
    out
}

/// `torch.linspace(start, end, steps, dtype=float32)` on the CPU: a float32 step, values from the
/// nearer end, each a fused multiply-add.
pub(super) fn torch_linspace_f32(start: f64, end: f64, steps: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if steps <= 1 {
        return vec![start; steps];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - i - 1) as f32, end)
            }
        })
        .collect()
}

/// `numpy.linspace(start, stop, num)` in float64 (endpoint included).
pub(crate) fn np_linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num <= 1 {
        return vec![start; num];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut out: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    out[num - 1] = stop;
    out
}

/// `numpy.arange(start, 0, -step)` for float64 `step > 0`: numpy's length rule and its fill rule
/// (`start + i * ((start - step) - start)`), which can yield one element more than
/// `start / step` suggests; diffusers inherits that, and so do we.
pub(super) fn np_arange_down(start: f64, step: f64) -> Vec<f64> {
    let len = ((0.0 - start) / -step).ceil();
    if !len.is_finite() || len <= 0.0 {
        return Vec::new();
    }
    let len = len as usize;
    let second = start + -step;
    let delta = second - start;
    (0..len)
        .map(|i| match i {
            0 => start,
            1 => second,
            _ => start + i as f64 * delta,
        })
        .collect()
}

/// `numpy.interp(x, arange(len(fp)), fp)`: piecewise-linear interpolation at `x`, clamped to the
/// end values.
pub(super) fn np_interp(x: f64, fp: &[f32]) -> f64 {
    let Some(&last) = fp.last() else {
        return f64::NAN;
    };
    let last_x = (fp.len() - 1) as f64;
    if x.is_nan() {
        return x;
    }
    if x >= last_x {
        return f64::from(last);
    }
    if x < 0.0 {
        return f64::from(fp[0]);
    }
    let j = x.floor() as usize;
    if x == j as f64 {
        return f64::from(fp[j]);
    }
    let slope = f64::from(fp[j + 1]) - f64::from(fp[j]);
    slope * (x - j as f64) + f64::from(fp[j])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn linspace_ends_exact() {
        let v = torch_linspace_f32(0.0001, 0.02, 1000);
        assert_eq!(v.len(), 1000);
        assert_eq!(v[0], 0.0001f32);
        assert_eq!(v[999], 0.02f32);
        assert_eq!(np_linspace(0.0, 999.0, 4), vec![0.0, 333.0, 666.0, 999.0]);
        assert_eq!(np_linspace(3.0, 9.0, 1), vec![3.0]);
    }

    #[test]
    fn arange_down_can_overshoot_like_numpy() {
        assert_eq!(
            np_arange_down(1000.0, 250.0),
            vec![1000.0, 750.0, 500.0, 250.0]
        );
        // numpy.arange(1000, 0, -1000/61) has 62 elements.
        assert_eq!(np_arange_down(1000.0, 1000.0 / 61.0).len(), 62);
    }

    #[test]
    fn interp_clamps_and_interpolates() {
        let fp = [1.0f32, 3.0, 7.0];
        assert_eq!(np_interp(-1.0, &fp), 1.0);
        assert_eq!(np_interp(0.5, &fp), 2.0);
        assert_eq!(np_interp(1.0, &fp), 3.0);
        assert_eq!(np_interp(1.25, &fp), 4.0);
        assert_eq!(np_interp(9.0, &fp), 7.0);
    }

    #[test]
    fn bad_trained_betas_are_refused() {
        let config = SchedulerConfig {
            num_train_timesteps: Some(3),
            trained_betas: Some(vec![0.1, 0.2]),
            ..Default::default()
        };
        assert!(alphas_cumprod(&config, false).is_err());
        let config = SchedulerConfig {
            num_train_timesteps: Some(2),
            trained_betas: Some(vec![0.1, 1.5]),
            ..Default::default()
        };
        let e = alphas_cumprod(&config, false).unwrap_err();
        assert!(e.message().contains("1.5"), "{e}");
    }

    #[test]
    fn zero_snr_ends_at_zero() {
        let config = SchedulerConfig {
            rescale_betas_zero_snr: Some(true),
            ..Default::default()
        };
        let ac = alphas_cumprod(&config, false).unwrap();
        assert_eq!(*ac.last().unwrap(), 0.0);
        let ac = alphas_cumprod(&config, true).unwrap();
        assert_eq!(*ac.last().unwrap(), 2f32.powi(-24));
    }
}
