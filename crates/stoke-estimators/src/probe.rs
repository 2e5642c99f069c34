//! A gradient-variance probe: the per-parameter mean and variance of an estimator's
//! gradient over independent draws, so estimators can be compared on one problem.

/// Mean and unbiased variance of each gradient coordinate over `n_draws` draws.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientStats {
    /// Number of draws.
    pub n_draws: usize,
    /// Per-coordinate mean.
    pub mean: Vec<f64>,
    /// Per-coordinate unbiased variance.
    pub variance: Vec<f64>,
}

impl GradientStats {
    /// Standard error of each coordinate's mean, `sqrt(variance / n)`.
    pub fn standard_error(&self) -> Vec<f64> {
        self.variance.iter().map(|v| (v / self.n_draws as f64).sqrt()).collect()
    }

    /// The mean variance over coordinates (one number to rank estimators by).
    pub fn mean_variance(&self) -> f64 {
        self.variance.iter().sum::<f64>() / self.variance.len().max(1) as f64
    }
}

/// Runs `draw(i)` for `i in 0..n_draws` (each returns one gradient, flattened) and
/// accumulates mean and variance with Welford's update.
///
/// # Errors
/// `n_draws < 2` (no variance), draws of different lengths, a gradient that is not finite.
pub fn gradient_stats(
    n_draws: usize,
    mut draw: impl FnMut(usize) -> Vec<f64>,
) -> crate::Result<GradientStats> {
    stoke_core::validate::at_least("n_draws", n_draws, 2)?;
    let mut mean: Vec<f64> = Vec::new();
    let mut m2: Vec<f64> = Vec::new();
    for i in 0..n_draws {
        let g = draw(i);
        if i == 0 {
            mean = vec![0.0; g.len()];
            m2 = vec![0.0; g.len()];
        }
        stoke_core::validate::same_length("gradient draw", mean.len(), g.len())?;
        let count = (i + 1) as f64;
        for ((m, s), x) in mean.iter_mut().zip(m2.iter_mut()).zip(g) {
            stoke_core::validate::finite("gradient draw", x)?;
            let delta = x - *m;
            *m += delta / count;
            *s += delta * (x - *m);
        }
    }
    let variance = m2.into_iter().map(|s| s / (n_draws - 1) as f64).collect();
    Ok(GradientStats { n_draws, mean, variance })
}

/// Per-draw gradients of a scalar parameter: `surrogate` receives `n` copies of `phi` as one
/// leaf tensor (with autodiff on `device`) and returns one value per draw; the gradient of
/// their sum with respect to copy `i` is draw `i`'s estimate, so one backward pass gives all
/// `n` of them.
///
/// # Shapes
/// `surrogate`: `[n] -> [n]` (or any shape whose sum is the total).
///
/// # Errors
/// [`crate::EstimatorError::NoGradient`] when the surrogate does not depend on `phi` (a
/// detached graph, or a device without autodiff): reporting zeros would look like a perfect,
/// zero-variance estimator.
pub fn scalar_gradients<const D: usize>(
    phi: f32,
    n: usize,
    device: &burn::tensor::Device,
    surrogate: impl Fn(burn::tensor::Tensor<1>) -> burn::tensor::Tensor<D>,
) -> crate::Result<Vec<f64>> {
    use burn::tensor::{Tensor, TensorData};
    let phis = Tensor::<1>::from_data(TensorData::new(vec![phi; n], [n]), device).require_grad();
    let grads = surrogate(phis.clone()).sum().backward();
    let grad = phis.grad(&grads).ok_or(crate::EstimatorError::NoGradient)?;
    Ok(grad.into_data().iter::<f64>().collect())
}
