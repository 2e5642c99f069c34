//! Training losses: per-example values and their mean, each weighted in Kingma & Gao's frame.
//!
//! Every loss here is an MSE on some target `a x0 + b eps` with training times `t` drawn from
//! a density `p(t)` (one of `stoke-core`'s noise-level samplers). A [`LossWeight`] pairs a
//! `stoke-core` [`Weighting`] `w(lambda)` with that density, and multiplies example `i` by
//!
//! `weight_i = w(lambda_i) |d lambda/dt| / (p(t_i) f(lambda_i))`,
//!
//! where `f = ||target_hat - target||^2 / ||eps_hat - eps||^2` ([`mse_factor`]). The batch
//! mean is then an unbiased estimate of `L_w = E_t[w(lambda) (-d lambda/dt)
//! ||eps_hat - eps||^2]` [KINGMA23, Eq. 7] (we drop its constant `1/2` so that the plain MSE on
//! the target, `Weighting::Mse` with the sampling density, has weight exactly 1).
//! `Weighting::Mse { Eps, Uniform }` with uniform `t` is DDPM's `L_simple` [HO20, Eq. 14];
//! [`Weighting::edm`] with EDM's log-normal density gives EDM's
//! `(sigma^2 + sigma_data^2) / (sigma sigma_data)^2` [KARRAS22, Table 1].

use burn::tensor::{Int, Tensor};
use rand::{Rng, RngExt};
use stoke_core::param::Prediction;
use stoke_core::schedule::{Edm, NoiseSchedule};
use stoke_core::weight::{TimeDensity, Weighting, mse_factor};

use crate::denoiser::{EdmDenoiser, Network, ScheduleDenoiser};
use stoke_core::validate::in_range;

use crate::error::{DiffusionError, Result};
use crate::tensor::{batch_of, check_same_shape, expand_rows, mean_per_row, scale_rows, vector};

/// Per-example losses and their mean.
#[derive(Debug, Clone)]
pub struct Loss {
    /// One weighted loss per example.
    ///
    /// # Shapes
    /// `[batch]`.
    pub per_example: Tensor<1>,
    /// Their mean (differentiable).
    ///
    /// # Shapes
    /// `[1]`.
    pub mean: Tensor<1>,
}

impl Loss {
    fn from_per_example(per_example: Tensor<1>) -> Self {
        let mean = per_example.clone().mean();
        Self { per_example, mean }
    }
}

/// A weighting `w(lambda)` and the density the training times were drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeight {
    weighting: Weighting,
    density: TimeDensity,
}

impl LossWeight {
    /// `weighting` for times drawn from `density`.
    ///
    /// # Errors
    /// Invalid parameters of either.
    pub fn new(weighting: Weighting, density: TimeDensity) -> Result<Self> {
        weighting.validate()?;
        density.validate()?;
        Ok(Self { weighting, density })
    }

    /// The plain MSE on `prediction`'s target with times from `density` (weight 1).
    pub fn unweighted(prediction: Prediction, density: TimeDensity) -> Self {
        Self { weighting: Weighting::Mse { prediction, density }, density }
    }

    /// EDM's weighting with its log-normal `sigma` density [KARRAS22, Table 1].
    pub fn edm() -> Self {
        let weighting = Weighting::edm();
        let Weighting::Edm { p_mean, p_std, .. } = weighting else { unreachable!() };
        Self { weighting, density: TimeDensity::LogNormal { p_mean, p_std } }
    }

    /// The weighting.
    pub fn weighting(&self) -> &Weighting {
        &self.weighting
    }

    /// The density of the training times.
    pub fn density(&self) -> &TimeDensity {
        &self.density
    }

    /// `weight_i` for an MSE on `target` at time `t` on `schedule` (see the module docs).
    ///
    /// # Errors
    /// A weight that is not finite (a time where the density vanishes, or an end point where
    /// `d lambda/dt` is infinite).
    pub fn per_example(
        &self,
        schedule: &dyn NoiseSchedule,
        target: Prediction,
        t: f64,
    ) -> Result<f64> {
        if let Weighting::Mse { prediction, density } = self.weighting
            && prediction == target
            && density == self.density
        {
            // Exactly 1; skipping the formula avoids 0/0 at the path's end points.
            return Ok(1.0);
        }
        let point = schedule.point(t);
        let log_snr = schedule.log_snr(t);
        let weight = self.weighting.w(log_snr, schedule) * schedule.d_log_snr(t).abs()
            / (self.density.pdf(t) * mse_factor(target, &point));
        Ok(in_range("loss weight", weight, 0.0, f64::MAX, "[0, inf) (finite)")?)
    }
}

fn check_pair<const D: usize>(x0: &Tensor<D>, eps: &Tensor<D>) -> Result<usize> {
    check_same_shape("eps", x0, eps)?;
    Ok(batch_of(x0))
}

/// The MSE of a schedule-parameterized network on its own target: with
/// `x_t = alpha_t x0 + sigma_t eps` per row, the network sees `(x_t, time_scale t)` and is
/// compared with its prediction's target `a x0 + b eps` (`eps`, `x0`, `v = alpha eps -
/// sigma x0`, velocity `alpha' x0 + sigma' eps`, ... [`Prediction::coefficients`]).
///
/// # Shapes
/// `x0`, `eps: [batch, ...]`; `t`: one per row (or one for all); `class_labels: [batch]`.
///
/// # Errors
/// Mismatched shapes or lengths; a non-finite weight; a network output of the wrong shape.
pub fn prediction_loss<const D: usize, N: Network<D>, S: NoiseSchedule>(
    model: &ScheduleDenoiser<N, S>,
    x0: Tensor<D>,
    eps: Tensor<D>,
    t: &[f64],
    class_labels: Option<Tensor<1, Int>>,
    weight: &LossWeight,
) -> Result<Loss> {
    let batch = check_pair(&x0, &eps)?;
    let t = expand_rows("t", t, batch)?;
    let schedule = model.schedule();
    let prediction = model.prediction();
    let (mut alpha, mut sigma, mut a, mut b, mut weights) =
        (vec![], vec![], vec![], vec![], vec![]);
    for &t in &t {
        let point = schedule.point(t);
        let (ai, bi) = prediction.coefficients(&point);
        alpha.push(point.alpha);
        sigma.push(point.sigma);
        a.push(ai);
        b.push(bi);
        weights.push(weight.per_example(schedule, prediction, t)?);
    }
    let x_t = scale_rows(x0.clone(), &alpha) + scale_rows(eps.clone(), &sigma);
    let target = scale_rows(x0, &a) + scale_rows(eps, &b);
    let device = x_t.device();
    let times: Vec<f64> = t.iter().map(|t| t * model.time_scale()).collect();
    let out = model.network().forward(x_t, vector(&times, &device), class_labels);
    check_same_shape("network output", &target, &out)?;
    let mse = mean_per_row((out - target).square());
    Ok(Loss::from_per_example(mse * vector(&weights, &device)))
}

/// The papers' named losses: [`prediction_loss`] on a model that must predict `target`,
/// refusing one that predicts something else.
///
/// - `Eps`: DDPM's `L_simple = ||eps_hat - eps||^2` [HO20, Eq. 14] with
///   `LossWeight::unweighted(Eps, Uniform)`, or any weighting of it (min-SNR, ...);
/// - `V`: the v-prediction loss `||v_hat - v||^2`, `v = alpha eps - sigma x0`
///   [SALIMANS22, Sec. 4];
/// - `X0`: `||x0_hat - x0||^2` [KINGMA23, Table 1];
/// - `Velocity`: flow matching `||u_hat - u||^2`, `u = alpha' x0 + sigma' eps` (on the `Flow`
///   schedule `u = eps - x0`, t = 0 data) [LIPMAN23, Eq. 23; LIU22, Eq. 1].
///
/// # Errors
/// As [`prediction_loss`]; a model that does not predict `target`.
pub fn target_loss<const D: usize, N: Network<D>, S: NoiseSchedule>(
    target: Prediction,
    model: &ScheduleDenoiser<N, S>,
    x0: Tensor<D>,
    eps: Tensor<D>,
    t: &[f64],
    class_labels: Option<Tensor<1, Int>>,
    weight: &LossWeight,
) -> Result<Loss> {
    let got = model.prediction();
    if got != target {
        return Err(DiffusionError::WrongPrediction { expected: target, got });
    }
    prediction_loss(model, x0, eps, t, class_labels, weight)
}

/// EDM's loss `lambda(sigma) ||D(x0 + sigma eps; sigma) - x0||^2` [KARRAS22, Table 1]
/// through the preconditioned denoiser; with [`LossWeight::edm`] (and `sigma` from
/// `stoke-core`'s EDM log-normal sampler) `lambda = (sigma^2 + sigma_data^2) /
/// (sigma sigma_data)^2`.
///
/// # Shapes
/// As [`prediction_loss`], with `sigma` in place of `t`.
///
/// # Errors
/// As [`prediction_loss`]; a negative `sigma`.
pub fn edm_loss<const D: usize, N: Network<D>>(
    model: &EdmDenoiser<N>,
    x0: Tensor<D>,
    eps: Tensor<D>,
    sigma: &[f64],
    class_labels: Option<Tensor<1, Int>>,
    weight: &LossWeight,
) -> Result<Loss> {
    use crate::denoiser::Field;
    let batch = check_pair(&x0, &eps)?;
    let sigma = expand_rows("sigma", sigma, batch)?;
    let weights: Vec<f64> = sigma
        .iter()
        .map(|&s| weight.per_example(&Edm, Prediction::X0, s))
        .collect::<Result<_>>()?;
    let x = x0.clone() + scale_rows(eps, &sigma);
    let denoised = model.eval(x, &sigma, class_labels)?;
    let device = x0.device();
    let mse = mean_per_row((denoised - x0).square());
    Ok(Loss::from_per_example(mse * vector(&weights, &device)))
}

/// Label dropout for classifier-free guidance training [HO22, Alg. 1]: each label becomes
/// `null_class` with probability `p_uncond` (Ho & Salimans use 0.1 or 0.2).
///
/// # Errors
/// `p_uncond` outside `[0, 1]`.
pub fn drop_labels<R: Rng + ?Sized>(
    labels: &[usize],
    p_uncond: f64,
    null_class: usize,
    rng: &mut R,
) -> Result<Vec<usize>> {
    in_range("p_uncond", p_uncond, 0.0, 1.0, "[0, 1]")?;
    Ok(labels
        .iter()
        .map(|&label| if rng.random::<f64>() < p_uncond { null_class } else { label })
        .collect())
}
