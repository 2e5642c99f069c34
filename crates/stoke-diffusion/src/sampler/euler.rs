//! Euler and Heun on the probability-flow ODE, with EDM's optional stochastic "churn"
//! [KARRAS22, Alg. 1 and 2].

use burn::tensor::Tensor;

use serde::{Deserialize, Serialize};
use stoke_core::validate::non_negative;

use super::{Calls, Sampler, euler_step};
use crate::denoiser::{Denoised, Denoiser};
use crate::error::{DiffusionError, Result};
use crate::noise::NoiseSource;

/// EDM's churn: before step `i`, if `S_tmin <= sigma_i <= S_tmax`, raise the noise level to
/// `sigma_hat = sigma_i (1 + gamma)`, `gamma = min(S_churn / N, sqrt(2) - 1)`, by adding
/// noise of scale `S_noise sqrt(sigma_hat^2 - sigma_i^2)` [KARRAS22, Alg. 2].
/// `N` is the number of steps. The default (`S_churn = 0`) is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Churn {
    /// `S_churn` (0: deterministic).
    pub s_churn: f64,
    /// `S_tmin`: churn only at or above this level.
    pub s_tmin: f64,
    /// `S_tmax`: churn only at or below this level (may be `inf`, written `null` in JSON).
    #[serde(with = "crate::serde_inf")]
    pub s_tmax: f64,
    /// `S_noise`: the scale of the added noise (EDM's ImageNet setting is 1.003).
    pub s_noise: f64,
}

impl Default for Churn {
    fn default() -> Self {
        Self { s_churn: 0.0, s_tmin: 0.0, s_tmax: f64::INFINITY, s_noise: 1.0 }
    }
}

impl Churn {
    /// Checks the parameters.
    ///
    /// # Errors
    /// A negative or non-finite `s_churn`, `s_tmin` or `s_noise`; `s_tmax` NaN or below
    /// `s_tmin`.
    pub fn validate(&self) -> Result<()> {
        non_negative("s_churn", self.s_churn)?;
        non_negative("s_tmin", self.s_tmin)?;
        non_negative("s_noise", self.s_noise)?;
        let ordered = self.s_tmax >= self.s_tmin; // false for NaN too
        if !ordered {
            return Err(DiffusionError::OutOfRange {
                name: "s_tmax",
                value: self.s_tmax,
                range: "[s_tmin, inf]",
            });
        }
        Ok(())
    }

    /// `gamma_i` for level `sigma` on a grid of `n_steps` steps.
    pub fn gamma(&self, sigma: f64, n_steps: usize) -> f64 {
        if self.s_churn > 0.0 && (self.s_tmin..=self.s_tmax).contains(&sigma) {
            (self.s_churn / n_steps as f64).min(std::f64::consts::SQRT_2 - 1.0)
        } else {
            0.0
        }
    }

    /// Applies the churn to `x` at `sigmas[step_idx]`, returning `(x_hat, sigma_hat)`.
    fn apply<const D: usize, S: NoiseSource>(
        &self,
        x: Tensor<D>,
        sigma: f64,
        n_steps: usize,
        noise: &mut S,
    ) -> Result<(Tensor<D>, f64)> {
        let gamma = self.gamma(sigma, n_steps);
        if gamma <= 0.0 {
            return Ok((x, sigma));
        }
        let sigma_hat = sigma * (1.0 + gamma);
        let eps = noise.standard_normal(x.dims(), &x.device())?;
        let scale = self.s_noise * (sigma_hat * sigma_hat - sigma * sigma).sqrt();
        Ok((x + eps.mul_scalar(scale), sigma_hat))
    }
}

/// Euler's method on the probability-flow ODE, with optional churn (k-diffusion's
/// `sample_euler`): `x <- x + (sigma_{i+1} - sigma_hat) (x - D(x; sigma_hat)) / sigma_hat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Euler {
    /// Stochastic churn (none by default).
    pub churn: Churn,
}

impl Sampler for Euler {
    fn validate(&self) -> Result<()> {
        self.churn.validate()
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>> {
        let n_steps = sigmas.len() - 1;
        for step_idx in 0..n_steps {
            let (x_hat, sigma_hat) = self.churn.apply(x, sigmas[step_idx], n_steps, noise)?;
            let denoised = model.call(&x_hat, sigma_hat, step_idx)?;
            x = euler_step(x_hat, denoised, sigma_hat, sigmas[step_idx + 1] - sigma_hat);
        }
        Ok(x)
    }
}

/// Heun's second-order method [KARRAS22, Alg. 1]; with churn, Alg. 2. The step to
/// `sigma = 0` is a plain Euler step (the derivative is undefined at 0), as in EDM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Heun {
    /// Stochastic churn (none by default: Alg. 1).
    pub churn: Churn,
}

impl Sampler for Heun {
    fn validate(&self) -> Result<()> {
        self.churn.validate()
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>> {
        let n_steps = sigmas.len() - 1;
        for step_idx in 0..n_steps {
            let (x_hat, sigma_hat) = self.churn.apply(x, sigmas[step_idx], n_steps, noise)?;
            let sigma_next = sigmas[step_idx + 1];
            let dt = sigma_next - sigma_hat;
            let denoised = model.call(&x_hat, sigma_hat, step_idx)?;
            // d = (x - D) / sigma, the ODE's slope [KARRAS22, Alg. 1].
            let d = (x_hat.clone() - denoised).div_scalar(sigma_hat);
            let x_euler = x_hat.clone() + d.clone().mul_scalar(dt);
            if sigma_next == 0.0 {
                x = x_euler;
                continue;
            }
            let denoised_2 = model.call(&x_euler, sigma_next, step_idx)?;
            let d_2 = (x_euler - denoised_2).div_scalar(sigma_next);
            // Trapezoidal correction [KARRAS22, Alg. 1].
            x = x_hat + (d + d_2).mul_scalar(0.5 * dt);
        }
        Ok(x)
    }
}
