//! DPM-Solver++(2M): the second-order multistep solver in the data-prediction form
//! [LU22, Alg. 2], as k-diffusion's `sample_dpmpp_2m` runs it on a sigma grid.

use burn::tensor::Tensor;

use super::{Calls, Sampler};
use crate::denoiser::{Denoised, Denoiser};
use crate::error::Result;
use crate::noise::NoiseSource;

/// DPM-Solver++(2M). With `t = -ln sigma` and `h = t_{i+1} - t_i`:
/// `x <- (sigma_{i+1} / sigma_i) x - expm1(-h) D_i'`, where `D_i' = D_i` on the first step
/// and on the step to `sigma = 0`, and otherwise
/// `D_i' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1}` with `r = h_{i-1} / h` [LU22, Alg. 2].
/// Deterministic; one model call per step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DpmSolverPp2m;

impl Sampler for DpmSolverPp2m {
    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        _noise: &mut S,
    ) -> Result<Tensor<D>> {
        let mut previous: Option<Tensor<D>> = None;
        for step_idx in 0..sigmas.len() - 1 {
            let (sigma, sigma_next) = (sigmas[step_idx], sigmas[step_idx + 1]);
            let denoised = model.call(&x, sigma, step_idx)?;
            if sigma_next == 0.0 {
                // h = inf: the update's limit is x = D exactly (avoids 0 * inf).
                x = denoised;
                break;
            }
            let h = sigma.ln() - sigma_next.ln();
            let target = match previous.take() {
                None => denoised.clone(),
                Some(old) => {
                    let h_last = sigmas[step_idx - 1].ln() - sigma.ln();
                    let r = h_last / h;
                    denoised.clone().mul_scalar(1.0 + 0.5 / r) - old.mul_scalar(0.5 / r)
                }
            };
            x = x.mul_scalar(sigma_next / sigma) - target.mul_scalar((-h).exp_m1());
            previous = Some(denoised);
        }
        Ok(x)
    }
}
