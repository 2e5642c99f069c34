//! Gaussian reparameterisation and closed-form KL divergences [KINGMA14, Sec. 2.4, App. B].

use burn::tensor::Tensor;
use burn::tensor::activation::softplus;

/// `z = mean + exp(log_var / 2) * eps`, differentiable in `mean` and `log_var`
/// [KINGMA14, Eq. 10].
///
/// # Shapes
/// All three the same shape; so is the result.
pub fn reparameterize<const D: usize>(
    mean: Tensor<D>,
    log_var: Tensor<D>,
    eps: Tensor<D>,
) -> Tensor<D> {
    mean + log_var.mul_scalar(0.5).exp() * eps
}

/// `z = mean + softplus(raw_std) * eps`: the standard deviation through a softplus, which
/// stays positive without the exponential's blow-up.
///
/// # Shapes
/// All three the same shape; so is the result.
pub fn reparameterize_softplus<const D: usize>(
    mean: Tensor<D>,
    raw_std: Tensor<D>,
    eps: Tensor<D>,
) -> Tensor<D> {
    mean + softplus(raw_std, 1.0) * eps
}

/// Elementwise `KL(N(mean, exp(log_var)) || N(0, 1)) = (exp(log_var) + mean^2 - 1 - log_var) / 2`
/// [KINGMA14, App. B]; sum over the latent dimension for a diagonal Gaussian.
///
/// # Shapes
/// `mean`, `log_var` the same shape; so is the result.
pub fn kl_standard_normal<const D: usize>(mean: Tensor<D>, log_var: Tensor<D>) -> Tensor<D> {
    (log_var.clone().exp() + mean.square() - log_var).sub_scalar(1.0).mul_scalar(0.5)
}

/// Elementwise `KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p)))
/// = (log_var_p - log_var_q + (exp(log_var_q) + (mean_q - mean_p)^2) / exp(log_var_p) - 1) / 2`.
///
/// # Shapes
/// All four the same shape; so is the result.
pub fn kl_diagonal<const D: usize>(
    mean_q: Tensor<D>,
    log_var_q: Tensor<D>,
    mean_p: Tensor<D>,
    log_var_p: Tensor<D>,
) -> Tensor<D> {
    let spread = log_var_q.clone().exp() + (mean_q - mean_p).square();
    let ratio = spread / log_var_p.clone().exp();
    (log_var_p - log_var_q + ratio).sub_scalar(1.0).mul_scalar(0.5)
}
