//! Gumbel-max sampling and the Gumbel-softmax (concrete) relaxation [JANG17; MADDISON17].

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, RngExt};

use crate::error::{EstimatorError, Result, categorical, same_dims, temperature};
use crate::straight_through::{one_hot_argmax, straight_through};

/// Standard Gumbel noise `g = -ln(-ln u)`, `u ~ U(0, 1)` drawn on the host from `rng` (so a
/// seed reproduces it on every backend).
///
/// # Shapes
/// `[batch, categories]`.
pub fn sample_gumbel<R: Rng + ?Sized>(
    batch: usize,
    categories: usize,
    rng: &mut R,
    device: &Device,
) -> Tensor<2> {
    let values: Vec<f32> = (0..batch * categories)
        .map(|_| {
            // Open interval: u = 0 or 1 would give an infinite g.
            let u: f64 = rng.random::<f64>().clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
            -(-u.ln()).ln() as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, categories]), device)
}

/// Standard Gumbel noise drawn on `device` with Burn's generator (seed it with
/// `Device::seed`): no host round trip, for throughput; [`sample_gumbel`] is the
/// reproducible-everywhere choice.
///
/// # Shapes
/// `[batch, categories]`.
pub fn sample_gumbel_on_device(batch: usize, categories: usize, device: &Device) -> Tensor<2> {
    // Open interval: u = 0 or 1 would give an infinite g.
    let u = Tensor::<2>::random([batch, categories], burn::tensor::Distribution::Default, device)
        .clamp(1e-7, 1.0 - 1e-7);
    u.log().neg().log().neg()
}

/// Refuses rows whose logits are all `-inf` (nothing can be drawn from them).
///
/// # Errors
/// [`EstimatorError::EmptyRow`] naming the first such row; no categories.
pub fn check_logits(logits: &Tensor<2>) -> Result<()> {
    let [batch, _] = categorical("logits' categories", logits.dims())?;
    let row_max: Vec<f32> =
        logits.clone().max_dim(1).reshape([batch]).into_data().iter::<f32>().collect();
    match row_max.iter().position(|&m| m == f32::NEG_INFINITY || m.is_nan()) {
        Some(row) => Err(EstimatorError::EmptyRow { row }),
        None => Ok(()),
    }
}

/// Gumbel-max: `argmax(logits + g)` is an exact sample of `Categorical(softmax(logits))`
/// [JANG17, Eq. 1].
///
/// # Shapes
/// `logits`, `gumbel`: `[batch, categories]` -> `[batch]`.
///
/// # Errors
/// `gumbel` of another shape than `logits`; no categories.
pub fn gumbel_max(logits: Tensor<2>, gumbel: Tensor<2>) -> Result<Tensor<1, Int>> {
    let [batch, _] = categorical("logits' categories", logits.dims())?;
    same_dims("gumbel noise", &logits.dims(), &gumbel.dims())?;
    Ok((logits + gumbel).argmax(1).reshape([batch]))
}

/// Gumbel-softmax `softmax((logits + g) / tau)` [JANG17, Eq. 2]; with `hard`, the forward
/// value is the one-hot of its argmax and the gradient is the soft sample's (the
/// straight-through Gumbel estimator, [JANG17, Sec. 2.2]).
///
/// # Shapes
/// `logits`, `gumbel`: `[batch, categories]` -> `[batch, categories]`.
///
/// # Errors
/// `tau` not a positive finite number; `gumbel` of another shape than `logits`; no
/// categories.
pub fn gumbel_softmax(
    logits: Tensor<2>,
    gumbel: Tensor<2>,
    tau: f64,
    hard: bool,
) -> Result<Tensor<2>> {
    let tau = temperature(tau)?;
    categorical("logits' categories", logits.dims())?;
    same_dims("gumbel noise", &logits.dims(), &gumbel.dims())?;
    let soft = softmax((logits + gumbel).div_scalar(tau), 1);
    Ok(if hard { straight_through(one_hot_argmax(soft.clone()), soft) } else { soft })
}

/// Jang et al.'s annealing `tau(step) = max(tau_min, exp(-rate * step))` [JANG17, Sec. 4.1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperatureSchedule {
    tau_min: f64,
    rate: f64,
}

impl TemperatureSchedule {
    /// A schedule; Jang et al. use `tau_min = 0.5` and `rate` in `{1e-5, 1e-4}`.
    ///
    /// # Errors
    /// `tau_min` not positive and finite; `rate` negative or not finite.
    pub fn new(tau_min: f64, rate: f64) -> Result<Self> {
        temperature(tau_min)?;
        stoke_core::validate::non_negative("rate", rate)?;
        Ok(Self { tau_min, rate })
    }

    /// The temperature at `step`.
    pub fn tau(&self, step: usize) -> f64 {
        (-self.rate * step as f64).exp().max(self.tau_min)
    }
}

/// The binary concrete relaxation of a Bernoulli with logit `phi`:
/// `sigmoid((phi + logit(u)) / tau)` [MADDISON17, Eq. 8; JANG17, Eq. 2 with two classes].
/// With `hard`, the forward value is `H(phi + logit(u))` and the gradient the relaxed one.
///
/// # Shapes
/// `phi`, `u` the same shape; so is the result.
///
/// # Errors
/// `tau` not a positive finite number; shapes that differ.
pub fn binary_concrete<const D: usize>(
    phi: Tensor<D>,
    u: Tensor<D>,
    tau: f64,
    hard: bool,
) -> Result<Tensor<D>> {
    let tau = temperature(tau)?;
    same_dims("uniforms", &phi.dims(), &u.dims())?;
    let z = phi + (u.clone().log() - u.neg().add_scalar(1.0).log());
    let soft = burn::tensor::activation::sigmoid(z.clone().div_scalar(tau));
    Ok(if hard { straight_through(z.greater_elem(0.0).float(), soft) } else { soft })
}
