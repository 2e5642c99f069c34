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
mod config;
mod ddim;
mod dpmpp;
mod euler;
mod flow;

pub use adaptive::{Divergence, DormandPrince, LogLikelihood, log_likelihood};
pub use ancestral::EulerAncestral;
pub use config::{GridConfig, NoiseLevels, SamplerConfig, SamplerSpec};
pub use ddim::{Ddim, Ddpm, DdpmVariance, X0Correction, sigmas_for_timesteps};
pub use dpmpp::DpmSolverPp2m;
pub use euler::{Churn, Euler, Heun};
pub use flow::{FlowEuler, FlowHeun};

use std::marker::PhantomData;

use burn::tensor::Tensor;

use crate::denoiser::{Denoised, Denoiser, Field, FieldKind, Velocity, VelocityField};
use crate::error::{DiffusionError, Result};
use crate::guidance::Guidance;
use crate::noise::NoiseSource;
use crate::tensor::{check_finite, check_same_shape, check_state};

/// A sampler's result.
#[derive(Debug, Clone)]
pub struct Sampled<const D: usize> {
    /// The final state (the clean sample when the grid ends in `0`).
    pub x: Tensor<D>,
    /// Model evaluations used.
    pub nfe: usize,
}

/// A diffusion sampler on a decreasing noise-level grid in the VE frame.
///
/// An implementation writes [`Sampler::walk`], the loop down the grid, and
/// [`Sampler::validate`] for its own settings; [`Sampler::sample`] checks the settings and the
/// grid, counts the model calls and checks every output, the same for every sampler.
pub trait Sampler {
    /// Checks the sampler's own settings.
    ///
    /// # Errors
    /// A setting out of its range, naming it.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Walks the grid from `x` at `sigmas[0]`, calling the model only through `model`.
    /// [`Sampler::sample`] calls it after the settings and the grid are checked.
    ///
    /// # Errors
    /// The model's errors.
    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        x: Tensor<D>,
        sigmas: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>>;

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
    ) -> Result<Sampled<D>> {
        self.validate()?;
        check_sigmas(sigmas)?;
        check_state(&x, "the starting point")?;
        let mut model = Calls::new(denoiser, guidance);
        let x = self.walk(&mut model, x, sigmas, noise)?;
        check_state(&x, "the result")?;
        Ok(Sampled { x, nfe: model.nfe() })
    }
}

/// A flow sampler integrating `dx/dt = v(x, t)` along a monotone time grid; as [`Sampler`],
/// an implementation writes the loop ([`FlowSampler::walk`]) and the checks are shared.
pub trait FlowSampler {
    /// Checks the sampler's own settings.
    ///
    /// # Errors
    /// A setting out of its range, naming it.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Walks the time grid from `x` at `times[0]`; called by [`FlowSampler::sample`] after
    /// the checks.
    ///
    /// # Errors
    /// The field's errors.
    fn walk<const D: usize, F: VelocityField<D>, S: NoiseSource>(
        &self,
        field: &mut Calls<'_, F, Velocity>,
        x: Tensor<D>,
        times: &[f64],
        noise: &mut S,
    ) -> Result<Tensor<D>>;

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
    ) -> Result<Sampled<D>> {
        self.validate()?;
        check_times(times)?;
        check_state(&x, "the starting point")?;
        let mut calls = Calls::new(field, guidance);
        let x = self.walk(&mut calls, x, times, noise)?;
        check_state(&x, "the result")?;
        Ok(Sampled { x, nfe: calls.nfe() })
    }
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
        stoke_core::validate::non_negative("sigma", s)?;
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
        stoke_core::validate::finite("t", t)?;
    }
    let increasing = times.len() > 1 && times[1] > times[0];
    let broken =
        times.windows(2).position(|w| if increasing { w[1] <= w[0] } else { w[1] >= w[0] });
    match broken {
        Some(i) => Err(DiffusionError::NotMonotone { name: "times", index: i + 1 }),
        None => Ok(()),
    }
}

/// A model under guidance as a sampler sees it: every call is counted (the NFE) and its
/// output checked (the shape of `x`, finite values), so a sampler's loop needs neither.
pub struct Calls<'a, M, K> {
    model: &'a M,
    guidance: &'a Guidance,
    nfe: usize,
    kind: PhantomData<K>,
}

impl<'a, M, K: FieldKind> Calls<'a, M, K> {
    /// Wraps `model` under `guidance`.
    pub fn new(model: &'a M, guidance: &'a Guidance) -> Self {
        Self { model, guidance, nfe: 0, kind: PhantomData }
    }

    /// Model calls so far (a guided call, one doubled batch, counts once).
    pub fn nfe(&self) -> usize {
        self.nfe
    }

    /// `f(x; level)` at sampler step `step_idx`, guided, counted and checked.
    ///
    /// # Errors
    /// The model's errors; an output of the wrong shape; NaN or infinity (naming the step and
    /// the level).
    pub fn call<const D: usize>(
        &mut self,
        x: &Tensor<D>,
        level: f64,
        step_idx: usize,
    ) -> Result<Tensor<D>>
    where
        M: Field<D, K>,
    {
        let out =
            self.guidance.apply(self.model.null_class(), x.clone(), &[level], |x, l, labels| {
                self.model.eval(x, l, labels)
            })?;
        self.nfe += 1;
        check_same_shape(K::OUTPUT, x, &out)?;
        check_finite(&out, step_idx, level)?;
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
