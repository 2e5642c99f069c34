//! Samplers. Every diffusion sampler implements [`Sampler`]: it takes a [`Denoiser`], the
//! starting point `x` in the VE frame (`x = x0 + sigma_0 eps`, so pure noise is
//! `sigma_0 * N(0, I)`), a strictly decreasing noise-level grid `sigmas` (a final `0` asks for
//! a clean sample, as k-diffusion's grids end), a [`Guidance`] and a [`NoiseSource`], and
//! returns the sample and the number of function evaluations (NFE: model calls, a guided
//! call counting once). Flow samplers implement [`FlowSampler`] on a [`VelocityField`] and a
//! monotone time grid instead.
//!
//! A grid of one level is zero steps: `x` comes back unchanged with `nfe = 0`. The grid is
//! checked before the first call; the model's output is checked after every call (its shape
//! must be `x`'s, its values finite), and a violation is an error naming the step.

mod adaptive;
mod ancestral;
mod ddim;
mod dpmpp;
mod euler;
mod flow;

pub use adaptive::{Divergence, DormandPrince, LogLikelihood, log_likelihood};
pub use ancestral::EulerAncestral;
pub use ddim::{Ddim, Ddpm, DdpmVariance, X0Correction, sigmas_for_timesteps};
pub use dpmpp::DpmSolverPp2m;
pub use euler::{Churn, Euler, Heun};
pub use flow::{FlowEuler, FlowHeun};

use burn::tensor::Tensor;

use crate::denoiser::{Denoiser, VelocityField};
use crate::error::{DiffusionError, Result};
use crate::guidance::Guidance;
use crate::noise::NoiseSource;
use crate::tensor::{check_finite, check_same_shape};

/// A sampler's result.
#[derive(Debug, Clone)]
pub struct Sampled<const D: usize> {
    /// The final state (the clean sample when the grid ends in `0`).
    pub x: Tensor<D>,
    /// Model evaluations used.
    pub nfe: usize,
}

/// A diffusion sampler on a decreasing noise-level grid in the VE frame.
pub trait Sampler {
    /// Runs the sampler from `x` at `sigmas[0]` down the grid.
    ///
    /// # Shapes
    /// `x: [batch, ...]`; the result has the same shape.
    ///
    /// # Errors
    /// An invalid configuration or grid ([`check_sigmas`]), labels for an unconditional
    /// model, a model output of the wrong shape or with NaN/inf (naming the step).
    fn sample<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        denoiser: &M,
        x: Tensor<D>,
        sigmas: &[f64],
        guidance: &Guidance,
        noise: &mut S,
    ) -> Result<Sampled<D>>;
}

/// A flow sampler integrating `dx/dt = v(x, t)` along a monotone time grid.
pub trait FlowSampler {
    /// Integrates from `x` at `times[0]` to `times[last]`.
    ///
    /// # Shapes
    /// `x: [batch, ...]`; the result has the same shape.
    ///
    /// # Errors
    /// A grid that is empty, not finite or not strictly monotone; the field's errors; an
    /// output of the wrong shape or with NaN/inf (naming the step).
    fn sample<const D: usize, F: VelocityField<D>, S: NoiseSource>(
        &self,
        field: &F,
        x: Tensor<D>,
        times: &[f64],
        guidance: &Guidance,
        noise: &mut S,
    ) -> Result<Sampled<D>>;
}

/// Checks a sampler grid: not empty, every level finite and non-negative, strictly
/// decreasing.
///
/// # Errors
/// [`DiffusionError::EmptyGrid`], [`DiffusionError::OutOfRange`],
/// [`DiffusionError::NotMonotone`].
pub fn check_sigmas(sigmas: &[f64]) -> Result<()> {
    if sigmas.is_empty() {
        return Err(DiffusionError::EmptyGrid);
    }
    for &s in sigmas {
        crate::error::non_negative("sigma", s)?;
    }
    match sigmas.windows(2).position(|w| w[1] >= w[0]) {
        Some(i) => Err(DiffusionError::NotMonotone { name: "sigmas", index: i + 1 }),
        None => Ok(()),
    }
}

/// Checks a flow time grid: not empty, finite, strictly increasing or strictly decreasing.
///
/// # Errors
/// As [`check_sigmas`].
pub fn check_times(times: &[f64]) -> Result<()> {
    if times.is_empty() {
        return Err(DiffusionError::EmptyGrid);
    }
    for &t in times {
        crate::error::in_range("t", t, f64::MIN, f64::MAX, "(-inf, inf)")?;
    }
    let increasing = times.len() > 1 && times[1] > times[0];
    let broken =
        times.windows(2).position(|w| if increasing { w[1] <= w[0] } else { w[1] >= w[0] });
    match broken {
        Some(i) => Err(DiffusionError::NotMonotone { name: "times", index: i + 1 }),
        None => Ok(()),
    }
}

/// A denoiser under guidance that counts its calls and checks each output.
pub(crate) struct Counted<'a, M> {
    model: &'a M,
    guidance: &'a Guidance,
    pub(crate) nfe: usize,
}

impl<'a, M> Counted<'a, M> {
    pub(crate) fn new(model: &'a M, guidance: &'a Guidance) -> Self {
        Self { model, guidance, nfe: 0 }
    }
}

impl<M> Counted<'_, M> {
    /// `D(x; sigma)` at sampler step `step_idx`.
    pub(crate) fn denoise<const D: usize>(
        &mut self,
        x: &Tensor<D>,
        sigma: f64,
        step_idx: usize,
    ) -> Result<Tensor<D>>
    where
        M: Denoiser<D>,
    {
        let out =
            self.guidance.apply(self.model.null_class(), x.clone(), &[sigma], |x, s, l| {
                self.model.denoise(x, s, l)
            })?;
        self.nfe += 1;
        check_same_shape("denoiser output", x, &out)?;
        check_finite(&out, step_idx, sigma)?;
        Ok(out)
    }

    /// `v(x, t)` at sampler step `step_idx`.
    pub(crate) fn velocity<const D: usize>(
        &mut self,
        x: &Tensor<D>,
        t: f64,
        step_idx: usize,
    ) -> Result<Tensor<D>>
    where
        M: VelocityField<D>,
    {
        let out = self.guidance.apply(self.model.null_class(), x.clone(), &[t], |x, t, l| {
            self.model.velocity(x, t, l)
        })?;
        self.nfe += 1;
        check_same_shape("velocity output", x, &out)?;
        check_finite(&out, step_idx, t)?;
        Ok(out)
    }
}

/// `x + (x - denoised) * (dt / sigma)`: an Euler step of the probability-flow ODE
/// `dx/dsigma = (x - D(x; sigma)) / sigma` [KARRAS22, Eq. 1, 3 with sigma(t) = t].
pub(crate) fn euler_step<const D: usize>(
    x: Tensor<D>,
    denoised: Tensor<D>,
    sigma: f64,
    dt: f64,
) -> Tensor<D> {
    x.clone() + (x - denoised).mul_scalar(dt / sigma)
}
