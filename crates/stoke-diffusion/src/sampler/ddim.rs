//! DDPM ancestral sampling [HO20, Alg. 2] and DDIM [SONG21DDIM, Eq. 12], stepping as
//! diffusers' `DDPMScheduler` and `DDIMScheduler` do, written in the VE frame.
//!
//! On a grid `sigma_i` (from a discrete schedule: [`sigmas_for_timesteps`]),
//! `alpha_bar_i = 1 / (1 + sigma_i^2)` and diffusers' VP sample is `x_vp = sqrt(alpha_bar) x`.
//! A final `sigma = 0` is diffusers' "previous `alpha_bar` = 1" at the last step.

use burn::tensor::{Tensor, TensorData};
use stoke_core::schedule::DiscreteSchedule;

use serde::{Deserialize, Serialize};
use stoke_core::validate::{in_range, non_negative, positive};

use super::{Calls, Sampler, check_sigmas};
use crate::denoiser::{Denoised, Denoiser};
use crate::error::{DiffusionError, Result};
use crate::noise::NoiseSource;
use crate::tensor::{batch_of, features_of, host};

/// The VE noise levels of `timesteps` (descending) on `schedule`, then `0`:
/// `sigma_i = sqrt((1 - alpha_bar_i) / alpha_bar_i)`.
///
/// # Errors
/// A timestep outside the schedule; a level that is infinite (zero-terminal-SNR schedules
/// have no VE view at their last step); timesteps not strictly descending.
pub fn sigmas_for_timesteps(schedule: &DiscreteSchedule, timesteps: &[usize]) -> Result<Vec<f64>> {
    let table = schedule.sigmas();
    let mut sigmas = Vec::with_capacity(timesteps.len() + 1);
    for &t in timesteps {
        let sigma = *table.get(t).ok_or(DiffusionError::OutOfRange {
            name: "timestep",
            value: t as f64,
            range: "[0, num_train_timesteps)",
        })?;
        non_negative("sigma of a timestep", sigma)?;
        sigmas.push(sigma);
    }
    sigmas.push(0.0);
    check_sigmas(&sigmas)?;
    Ok(sigmas)
}

/// What to do to the predicted `x0` before a DDPM/DDIM step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum X0Correction {
    /// Use it as predicted.
    None,
    /// Clamp to `[-range, range]` (diffusers' `clip_sample`, `clip_sample_range = 1`).
    Clip {
        /// The bound.
        range: f64,
    },
    /// Imagen's dynamic thresholding: per sample, `s` = the `ratio` quantile of `|x0|`,
    /// clamped to `[1, max_value]`; then `x0 <- clamp(x0, -s, s) / s` [SAHARIA22, Sec. 2.3]
    /// (diffusers' `thresholding`, defaults `ratio = 0.995`, `max_value = 1`).
    DynamicThreshold {
        /// The quantile `p` of `|x0|`.
        ratio: f64,
        /// The largest threshold `s`.
        max_value: f64,
    },
}

impl X0Correction {
    /// Checks the parameters.
    ///
    /// # Errors
    /// A non-positive clip range; a ratio outside `[0, 1]`; a maximum below 1.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::None => {}
            Self::Clip { range } => {
                positive("clip_sample_range", range)?;
            }
            Self::DynamicThreshold { ratio, max_value } => {
                in_range("dynamic_thresholding_ratio", ratio, 0.0, 1.0, "[0, 1]")?;
                in_range("sample_max_value", max_value, 1.0, f64::MAX, "[1, inf)")?;
            }
        }
        Ok(())
    }

    /// Applies the correction.
    ///
    /// # Shapes
    /// `x0: [batch, ...]`; the result has the same shape.
    ///
    /// # Errors
    /// As [`X0Correction::validate`].
    pub fn apply<const D: usize>(&self, x0: Tensor<D>) -> Result<Tensor<D>> {
        self.validate()?;
        Ok(match *self {
            Self::None => x0,
            Self::Clip { range } => x0.clamp(-range, range),
            Self::DynamicThreshold { ratio, max_value } => dynamic_threshold(x0, ratio, max_value),
        })
    }
}

/// The `q` quantile of sorted values with linear interpolation (torch.quantile's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, frac) = (position.floor() as usize, position.fract());
    let high = (low + 1).min(sorted.len() - 1);
    sorted[low] + frac * (sorted[high] - sorted[low])
}

fn dynamic_threshold<const D: usize>(x0: Tensor<D>, ratio: f64, max_value: f64) -> Tensor<D> {
    let (batch, features, dims, device) = (batch_of(&x0), features_of(&x0), x0.dims(), x0.device());
    let mut values = host(x0);
    for row in values.chunks_mut(features) {
        let mut sorted: Vec<f64> = row.iter().map(|v| v.abs()).collect();
        sorted.sort_by(f64::total_cmp);
        let s = quantile(&sorted, ratio).clamp(1.0, max_value);
        for v in row.iter_mut() {
            *v = v.clamp(-s, s) / s;
        }
    }
    debug_assert_eq!(values.len(), batch * features);
    Tensor::from_data(TensorData::new(values, dims), &device)
}

/// `alpha_bar = 1 / (1 + sigma^2)`, the VP signal level of a VE noise level.
fn alpha_bar(sigma: f64) -> f64 {
    1.0 / (1.0 + sigma * sigma)
}

/// The variance of DDPM's reverse step [HO20, Sec. 3.2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DdpmVariance {
    /// The posterior variance `beta_tilde = (1 - alpha_bar_prev)/(1 - alpha_bar) beta`
    /// (diffusers' `fixed_small`, the default).
    #[default]
    FixedSmall,
    /// `beta` itself (diffusers' `fixed_large`).
    FixedLarge,
}

/// DDPM ancestral sampling: `x0 = D(x; sigma)` (corrected), then draw `x_prev` from the
/// posterior `q(x_prev | x, x0)` with mean `sqrt(ab_prev) beta / (1 - ab) x0 +
/// sqrt(alpha) (1 - ab_prev)/(1 - ab) x_vp` [HO20, Eq. 7] and the chosen variance; no noise
/// on the step to `sigma = 0`. Here `alpha = ab / ab_prev`, `beta = 1 - alpha`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ddpm {
    /// The reverse-step variance.
    pub variance: DdpmVariance,
    /// Clipping or thresholding of the predicted `x0`.
    pub correction: X0Correction,
}

impl Default for Ddpm {
    fn default() -> Self {
        Self { variance: DdpmVariance::FixedSmall, correction: X0Correction::None }
    }
}

impl Sampler for Ddpm {
    fn validate(&self) -> Result<()> {
        self.correction.validate()
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>> {
        for step_idx in 0..sigmas.len() - 1 {
            let (sigma, sigma_prev) = (sigmas[step_idx], sigmas[step_idx + 1]);
            let x0 = self.correction.apply(model.call(&x, sigma, step_idx)?)?;
            let (ab, ab_prev) = (alpha_bar(sigma), alpha_bar(sigma_prev));
            let alpha = ab / ab_prev;
            let beta = 1.0 - alpha;
            // Posterior mean coefficients [HO20, Eq. 7], on x_vp = sqrt(ab) x.
            let c_x0 = ab_prev.sqrt() * beta / (1.0 - ab);
            let c_xt = alpha.sqrt() * (1.0 - ab_prev) / (1.0 - ab) * ab.sqrt();
            let mean = x0.mul_scalar(c_x0) + x.mul_scalar(c_xt);
            let variance = match self.variance {
                // diffusers clamps at 1e-20 so that a later log or sqrt stays finite.
                DdpmVariance::FixedSmall => ((1.0 - ab_prev) / (1.0 - ab) * beta).max(1e-20),
                DdpmVariance::FixedLarge => beta,
            };
            let mut x_vp = mean;
            if sigma_prev > 0.0 {
                let eps = noise.standard_normal(x_vp.dims(), &x_vp.device())?;
                x_vp = x_vp + eps.mul_scalar(variance.sqrt());
            }
            x = x_vp.div_scalar(ab_prev.sqrt());
        }
        Ok(x)
    }
}

/// DDIM with stochasticity `eta` (0: deterministic) [SONG21DDIM, Eq. 12, 16]:
/// `x_prev_vp = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - s^2) eps + s z` with
/// `s = eta sqrt((1 - ab_prev)/(1 - ab)) sqrt(1 - ab/ab_prev)`. As in diffusers, `eps` is
/// the model's own (from the uncorrected `x0`), and the correction touches only the `x0`
/// term.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ddim {
    /// `eta` (0: DDIM, 1: DDPM-like variance).
    pub eta: f64,
    /// Clipping or thresholding of the predicted `x0`.
    pub correction: X0Correction,
}

impl Default for Ddim {
    fn default() -> Self {
        Self { eta: 0.0, correction: X0Correction::None }
    }
}

impl Sampler for Ddim {
    fn validate(&self) -> Result<()> {
        non_negative("eta", self.eta)?;
        self.correction.validate()
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>> {
        for step_idx in 0..sigmas.len() - 1 {
            let (sigma, sigma_prev) = (sigmas[step_idx], sigmas[step_idx + 1]);
            let x0 = model.call(&x, sigma, step_idx)?;
            // eps = (x - x0) / sigma in the VE frame.
            let eps = (x - x0.clone()).div_scalar(sigma);
            let x0 = self.correction.apply(x0)?;
            let (ab, ab_prev) = (alpha_bar(sigma), alpha_bar(sigma_prev));
            let variance = (1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev);
            let std = self.eta * variance.max(0.0).sqrt();
            // Clamp: rounding can push 1 - ab_prev - std^2 just below zero when eta = 1.
            let c_eps = (1.0 - ab_prev - std * std).max(0.0).sqrt();
            let mut x_vp = x0.mul_scalar(ab_prev.sqrt()) + eps.mul_scalar(c_eps);
            if std > 0.0 {
                let z = noise.standard_normal(x_vp.dims(), &x_vp.device())?;
                x_vp = x_vp + z.mul_scalar(std);
            }
            x = x_vp.div_scalar(ab_prev.sqrt());
        }
        Ok(x)
    }
}
