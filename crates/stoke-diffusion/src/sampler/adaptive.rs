//! The adaptive Dormand-Prince 5(4) solver of the probability-flow ODE, and the ODE
//! log-likelihood [SONG21, Sec. 4.3, App. D.2].
//!
//! Both integrate in `s = ln sigma`, where the probability-flow ODE
//! `dx/dsigma = (x - D(x; sigma)) / sigma` [KARRAS22, Eq. 1, 3] becomes
//! `dx/ds = x - D(x; e^s)`: no `1/sigma` blow-up near the data, so the tolerances mean the same
//! thing on the whole path.

use burn::tensor::Tensor;

use serde::{Deserialize, Serialize};
use stoke_core::validate::{count, ordered, positive, size};

use super::{Calls, Sampler};
use crate::denoiser::{Denoised, Denoiser};
use crate::error::{DiffusionError, Result};
use crate::guidance::Guidance;
use crate::noise::NoiseSource;
use crate::tensor::{batch_of, features_of, host};

/// Dormand-Prince 5(4) [HAIRER93, Table II.5.2] with FSAL and a standard step-size controller
/// [HAIRER93, Sec. II.4]. A step is accepted when the RMS over all entries of
/// `err / (atol + rtol max(|y_old|, |y_new|))` is at most 1; the next step is
/// `h 0.9 err^(-1/5)`, clamped to `[0.2 h, 10 h]`. The first step tries a tenth of the span.
///
/// As a [`Sampler`], each segment `sigma_i -> sigma_{i+1} > 0` of the grid is integrated
/// adaptively; a final segment to `sigma = 0` is one denoising call `x <- D(x; sigma)` (the
/// Euler step to 0). The NFE reported counts every model call, rejected steps included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DormandPrince {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Most steps (accepted or rejected) per segment before giving up.
    pub max_steps: usize,
}

impl Default for DormandPrince {
    /// `rtol = atol = 1e-5` (Song et al.'s likelihood setting), 10 000 steps.
    fn default() -> Self {
        Self { rtol: 1e-5, atol: 1e-5, max_steps: 10_000 }
    }
}

/// An ODE state: tensors (and host-side accumulators) that can be combined linearly.
pub(crate) trait OdeState: Clone {
    /// `self + sum_k c_k y_k`.
    fn axpy(&self, terms: &[(f64, &Self)]) -> Self;
    /// Sum over entries of `(err / (atol + rtol max(|a|, |b|)))^2`, and the entry count.
    fn scaled_error(err: &Self, a: &Self, b: &Self, rtol: f64, atol: f64) -> (f64, usize);
}

fn scaled_sum(err: &[f64], a: &[f64], b: &[f64], rtol: f64, atol: f64) -> f64 {
    err.iter()
        .zip(a.iter().zip(b))
        .map(|(e, (a, b))| (e / (atol + rtol * a.abs().max(b.abs()))).powi(2))
        .sum()
}

impl<const D: usize> OdeState for Tensor<D> {
    fn axpy(&self, terms: &[(f64, &Self)]) -> Self {
        terms.iter().fold(self.clone(), |acc, (c, y)| {
            if *c == 0.0 { acc } else { acc + (*y).clone().mul_scalar(*c) }
        })
    }
    fn scaled_error(err: &Self, a: &Self, b: &Self, rtol: f64, atol: f64) -> (f64, usize) {
        let (e, a, b) = (host(err.clone()), host(a.clone()), host(b.clone()));
        (scaled_sum(&e, &a, &b, rtol, atol), e.len())
    }
}

/// The state of the likelihood ODE: `x` and the accumulated divergence per row.
#[derive(Debug, Clone)]
pub(crate) struct Augmented<const D: usize> {
    x: Tensor<D>,
    delta: Vec<f64>,
}

impl<const D: usize> OdeState for Augmented<D> {
    fn axpy(&self, terms: &[(f64, &Self)]) -> Self {
        let x = self.x.axpy(&terms.iter().map(|(c, y)| (*c, &y.x)).collect::<Vec<_>>());
        let mut delta = self.delta.clone();
        for (c, y) in terms {
            for (d, yd) in delta.iter_mut().zip(&y.delta) {
                *d += c * yd;
            }
        }
        Self { x, delta }
    }
    fn scaled_error(err: &Self, a: &Self, b: &Self, rtol: f64, atol: f64) -> (f64, usize) {
        let (sum, n) = Tensor::scaled_error(&err.x, &a.x, &b.x, rtol, atol);
        let extra = scaled_sum(&err.delta, &a.delta, &b.delta, rtol, atol);
        (sum + extra, n + err.delta.len())
    }
}

// Dormand-Prince 5(4) tableau, as tabulated in [HAIRER93, Table II.5.2].
const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A: [&[f64]; 7] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
    &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
    &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
];
/// Fifth-order weights minus the embedded fourth-order ones.
const E: [f64; 7] = [
    35.0 / 384.0 - 5179.0 / 57600.0,
    0.0,
    500.0 / 1113.0 - 7571.0 / 16695.0,
    125.0 / 192.0 - 393.0 / 640.0,
    -2187.0 / 6784.0 + 92097.0 / 339200.0,
    11.0 / 84.0 - 187.0 / 2100.0,
    -1.0 / 40.0,
];

/// Integrates `dy/ds = f(s, y)` from `s0` to `s1` (either direction) adaptively.
pub(crate) fn integrate<Y: OdeState>(
    f: &mut impl FnMut(f64, &Y) -> Result<Y>,
    y0: Y,
    s0: f64,
    s1: f64,
    config: &DormandPrince,
) -> Result<Y> {
    let span = s1 - s0;
    if span == 0.0 {
        return Ok(y0);
    }
    let direction = span.signum();
    let mut h = span / 10.0;
    let (mut s, mut y) = (s0, y0);
    let mut k1 = f(s, &y)?;
    for _ in 0..config.max_steps {
        // Land exactly on s1 (and never step past it).
        if (s + h - s1) * direction > 0.0 {
            h = s1 - s;
        }
        let mut k: Vec<Y> = vec![k1.clone()];
        for stage in 1..7 {
            let terms: Vec<(f64, &Y)> =
                A[stage].iter().zip(&k).map(|(a, ki)| (h * a, ki)).collect();
            k.push(f(s + C[stage] * h, &y.axpy(&terms))?);
        }
        // The seventh stage is evaluated at the fifth-order solution (FSAL).
        let fifth: Vec<(f64, &Y)> = A[6].iter().zip(&k).map(|(a, ki)| (h * a, ki)).collect();
        let y_new = y.axpy(&fifth);
        let err_terms: Vec<(f64, &Y)> = E.iter().zip(&k).map(|(e, ki)| (h * e, ki)).collect();
        let zero = y.axpy(&[(-1.0, &y)]);
        let err = zero.axpy(&err_terms);
        let (sum, n) = Y::scaled_error(&err, &y, &y_new, config.rtol, config.atol);
        let ratio = (sum / n.max(1) as f64).sqrt();
        if !ratio.is_finite() {
            return Err(DiffusionError::NonFiniteOutput { step_idx: 0, noise_level: s.exp() });
        }
        let factor = if ratio == 0.0 { 10.0 } else { (0.9 * ratio.powf(-0.2)).clamp(0.2, 10.0) };
        if ratio <= 1.0 {
            s += h;
            y = y_new;
            k1 = k.pop().expect("seven stages");
            if (s - s1) * direction >= 0.0 {
                return Ok(y);
            }
        }
        h *= factor;
    }
    Err(DiffusionError::TooManySteps { max_steps: config.max_steps, reached: s.exp() })
}

impl Sampler for DormandPrince {
    fn validate(&self) -> Result<()> {
        positive("rtol", self.rtol)?;
        positive("atol", self.atol)?;
        count("max_steps", self.max_steps)?;
        Ok(())
    }

    fn walk<const D: usize, M: Denoiser<D>, S: NoiseSource>(
        &self,
        model: &mut Calls<'_, M, Denoised>,
        mut x: Tensor<D>,
        sigmas: &[f64],
        _noise: &mut S,
    ) -> Result<Tensor<D>> {
        for step_idx in 0..sigmas.len() - 1 {
            let (sigma, sigma_next) = (sigmas[step_idx], sigmas[step_idx + 1]);
            if sigma_next == 0.0 {
                x = model.call(&x, sigma, step_idx)?;
                continue;
            }
            // dx/ds = x - D(x; e^s), s = ln sigma.
            let mut drift = |s: f64, y: &Tensor<D>| -> Result<Tensor<D>> {
                Ok(y.clone() - model.call(y, s.exp(), step_idx)?)
            };
            x = integrate(&mut drift, x, sigma.ln(), sigma_next.ln(), self)?;
        }
        Ok(x)
    }
}

/// How the divergence of the drift is computed for [`log_likelihood`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// Exactly, by one autodiff pass per feature (`features` forward and backward passes
    /// per evaluation): for small dimensions.
    Exact,
    /// Hutchinson's estimator `E[z^T J z]` with `probes` Rademacher vectors per row, drawn
    /// once from the noise source and kept fixed along the path [GRATHWOHL19, Sec. 3]: an
    /// unbiased estimate of the log-likelihood for any dimension.
    Hutchinson {
        /// Probe vectors per row.
        probes: usize,
    },
}

/// The result of [`log_likelihood`].
#[derive(Debug, Clone)]
pub struct LogLikelihood<const D: usize> {
    /// `ln p(x)` per row, in nats, with the prior `N(0, sigma_max^2 I)` at `sigma_max`.
    pub log_likelihood: Vec<f64>,
    /// The integrated divergence `ln p(x) - ln p_prior(x_T)` per row (add another prior's
    /// log-density at `x_t` to use it).
    pub delta: Vec<f64>,
    /// The end point `x_T` at `sigma_max`.
    pub x_t: Tensor<D>,
    /// Forward passes used (each divergence pass counts as one).
    pub nfe: usize,
}

/// The log-density of `x` under the probability-flow ODE: integrate
/// `dx/ds = f = x - D(x; e^s)` and `d delta/ds = div f` from `s = ln sigma_min` to
/// `ln sigma_max`, then `ln p(x) = ln N(x_T; 0, sigma_max^2 I) + delta`
/// [SONG21, Sec. 4.3, App. D.2; CHEN18, Thm. 1] (k-diffusion's `log_likelihood`, which treats `x` as a
/// sample at `sigma_min`). The denoiser must compute `D` from `x` with tensor operations
/// (no host round trip), so that autodiff sees the divergence; a denoiser that cuts the graph
/// looks constant and gives `div f = features`.
///
/// # Shapes
/// `x: [batch, ...]`.
///
/// # Errors
/// `sigma_min` not below `sigma_max` or not positive; `Hutchinson` with zero probes; the
/// denoiser's errors; [`DiffusionError::NoGradient`] if the denoiser cuts the graph.
#[allow(clippy::too_many_arguments)]
pub fn log_likelihood<const D: usize, M: Denoiser<D>, S: NoiseSource>(
    denoiser: &M,
    x: Tensor<D>,
    sigma_min: f64,
    sigma_max: f64,
    divergence: Divergence,
    config: &DormandPrince,
    guidance: &Guidance,
    noise: &mut S,
) -> Result<LogLikelihood<D>> {
    config.validate()?;
    positive("sigma_min", sigma_min)?;
    positive("sigma_max", sigma_max)?;
    ordered("sigma_min", sigma_min, "sigma_max", sigma_max)?;
    let (batch, features) = (batch_of(&x), features_of(&x));
    let probes = match divergence {
        Divergence::Exact => vec![],
        Divergence::Hutchinson { probes } => (0..size("probes", probes)?)
            .map(|_| Ok(noise.standard_normal(x.dims(), &x.device())?.sign()))
            .collect::<Result<Vec<_>>>()?,
    };
    let keep_autodiff = x.is_autodiff();
    let mut model = Calls::<M, Denoised>::new(denoiser, guidance);
    let mut field = |s: f64, y: &Augmented<D>| -> Result<Augmented<D>> {
        let sigma = s.exp();
        let leaf = y.x.clone().autodiff().detach().require_grad();
        let drift = |model: &mut Calls<'_, M, Denoised>| -> Result<Tensor<D>> {
            Ok(leaf.clone() - model.call(&leaf, sigma, 0)?)
        };
        let mut delta = vec![0.0; batch];
        let mut value = None;
        let n_passes = if probes.is_empty() { features } else { probes.len() };
        for pass in 0..n_passes {
            let f = drift(&mut model)?;
            // [batch, ...] -> [batch, features]
            let flat = f.clone().reshape([batch, features]);
            let selected = match probes.get(pass) {
                // z^T J z: the gradient of sum(f z) is J^T z.
                Some(z) => (f.clone() * z.clone()).sum(),
                // Column `pass` of the Jacobian's diagonal.
                None => flat.narrow(1, pass, 1).sum(),
            };
            let grads = selected.backward();
            let grad = leaf.grad(&grads).ok_or(DiffusionError::NoGradient)?;
            let grad = host(grad);
            let weights = probes.get(pass).map(|z| host(z.clone()));
            for (row, d) in delta.iter_mut().enumerate() {
                let row_grad = &grad[row * features..(row + 1) * features];
                *d += match &weights {
                    Some(z) => {
                        let z = &z[row * features..(row + 1) * features];
                        row_grad.iter().zip(z).map(|(g, z)| g * z).sum::<f64>()
                            / probes.len() as f64
                    }
                    None => row_grad[pass],
                };
            }
            if value.is_none() {
                value = Some(f.detach());
            }
        }
        let value = value.expect("at least one pass");
        let x = if keep_autodiff { value } else { value.inner() };
        Ok(Augmented { x, delta })
    };
    let start = Augmented { x, delta: vec![0.0; batch] };
    let end = integrate(&mut field, start, sigma_min.ln(), sigma_max.ln(), config)?;
    let x_t = end.x;
    let values = host(x_t.clone());
    let log_two_pi_var = (2.0 * std::f64::consts::PI * sigma_max * sigma_max).ln();
    let log_likelihood = values
        .chunks(features)
        .zip(&end.delta)
        .map(|(row, delta)| {
            let square: f64 = row.iter().map(|v| v * v).sum();
            -0.5 * (features as f64 * log_two_pi_var + square / (sigma_max * sigma_max)) + delta
        })
        .collect();
    Ok(LogLikelihood { log_likelihood, delta: end.delta, x_t, nfe: model.nfe() })
}
