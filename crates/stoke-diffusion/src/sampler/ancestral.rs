//! Euler ancestral: a deterministic Euler step down to `sigma_down`, then fresh noise of
//! scale `sigma_up` (k-diffusion's `sample_euler_ancestral`; [KARRAS22, Alg. 2 discussion]).

use burn::tensor::Tensor;
use stoke_core::schedule::ancestral_step;

use serde::{Deserialize, Serialize};
use stoke_core::validate::non_negative;

use super::{Calls, Sampler, euler_step};
use crate::denoiser::{Denoised, Denoiser};
use crate::error::Result;
use crate::noise::NoiseSource;

/// Euler ancestral with strength `eta` (1: DDPM-like ancestral sampling, 0: the Euler/DDIM
/// ODE step) and noise scale `s_noise`. On a discrete schedule's grid this is DDIM with the
/// same `eta` in the VE frame. No noise is added on a step to `sigma = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EulerAncestral {
    /// Ancestral strength (`>= 0`; `sigma_up` is clamped at `sigma_to`).
    pub eta: f64,
    /// Scale of the added noise.
    pub s_noise: f64,
}

impl Default for EulerAncestral {
    fn default() -> Self {
        Self { eta: 1.0, s_noise: 1.0 }
    }
}

impl Sampler for EulerAncestral {
    fn validate(&self) -> Result<()> {
        non_negative("eta", self.eta)?;
        non_negative("s_noise", self.s_noise)?;
        Ok(())
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>> {
        for step_idx in 0..sigmas.len() - 1 {
            let (sigma, sigma_next) = (sigmas[step_idx], sigmas[step_idx + 1]);
            let denoised = model.call(&x, sigma, step_idx)?;
            let split = ancestral_step(sigma, sigma_next, self.eta)?;
            x = euler_step(x, denoised, sigma, split.sigma_down - sigma);
            if sigma_next > 0.0 && split.sigma_up > 0.0 {
                let eps = noise.standard_normal(x.dims(), &x.device())?;
                x = x + eps.mul_scalar(self.s_noise * split.sigma_up);
            }
        }
        Ok(x)
    }
}
