//! L2 normalisation guarded against zero vectors.

use burn::tensor::Tensor;

/// Smallest norm divided by: `1e-12`, PyTorch's `F.normalize` default.
pub const NORM_EPSILON: f64 = 1e-12;

/// `x / max(||x||, epsilon)` along the last dimension, PyTorch's `F.normalize`.
///
/// The guard sits under the square root, `sqrt(max(||x||^2, epsilon^2))`, which has the same
/// value: a zero row maps to zero with a finite gradient (`upstream / epsilon`, as
/// `F.normalize`'s), where clamping the norm itself would send `0 * inf = NaN` back through
/// `sqrt` at zero. (In f16, `epsilon^2` would round to 0; Stoke computes in f32.)
///
/// # Shapes
/// `x: [batch, dim]` -> `[batch, dim]`.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    // [batch, dim] -> [batch, 1]
    let norm_sq = x.clone().powi_scalar(2).sum_dim(1);
    let norm = norm_sq.clamp_min(NORM_EPSILON * NORM_EPSILON).sqrt();
    x / norm
}
