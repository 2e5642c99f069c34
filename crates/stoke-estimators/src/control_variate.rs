//! REBAR and RELAX for Bernoulli variables: score-function estimators with a control
//! variate built from the continuous relaxation, unbiased for any control variate
//! [TUCKER17, Eq. 6; GRATHWOHL18, Eq. 8].
//!
//! With `theta = sigmoid(phi)`, `b = H(z)` for the logistic reparameterisation
//! `z = phi + logit(u)`, `u ~ U(0, 1)`, and `z~` drawn from `p(z | b)` by the reparameterised
//! `u' = (1 - theta) + v theta` if `b = 1`, `u' = v (1 - theta)` if `b = 0` (`v ~ U(0, 1)`),
//! `z~ = phi + logit(u')`, the estimator of `d/dphi E[f(b)]` for a control variate `c` is
//!
//! `g = (f(b) - c(z~)) d/dphi log p(b) + d/dphi c(z) - d/dphi c(z~)`.
//!
//! REBAR takes `c(z) = eta f(sigmoid(z / lambda))`; RELAX any differentiable `c`. Each
//! function returns a surrogate whose gradient with respect to `phi` is `g`, one per
//! element, so a batch of independent draws yields per-draw gradients in one backward pass.
//!
//! Burn's autodiff is first-order, so variance-minimising the control variate cannot
//! back-propagate through `g`. REBAR's `g` is affine in `eta` (`g = a + eta b`), which gives
//! the variance-optimal `eta* = -E[a b] / E[b^2]` in closed form ([`optimal_eta`]); a RELAX
//! control variate that adds a learned offset `k` to REBAR's, `c = eta f(sigmoid(z / lambda)) + k`,
//! is affine in `(eta, k)` and is fitted the same way ([`least_squares_weights`]).

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

use crate::error::{EstimatorError, Result};
use crate::score_function::log_prob_bernoulli;

/// `logit(u) = ln u - ln(1 - u)`.
fn logit<const D: usize>(u: Tensor<D>) -> Tensor<D> {
    u.clone().log() - u.neg().add_scalar(1.0).log()
}

/// The reparameterised relaxations `(b, z, z~)` of one Bernoulli draw per element.
///
/// # Shapes
/// `phi`, `u`, `v`: `[n]` -> three `[n]` (`b` is detached).
pub fn relaxations(
    phi: Tensor<1>,
    u: Tensor<1>,
    v: Tensor<1>,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let z = phi.clone() + logit(u);
    let b = z.clone().greater_elem(0.0).float().detach();
    let theta = sigmoid(phi.clone());
    let one_minus_theta = theta.clone().neg().add_scalar(1.0);
    // b = 1: u' = (1 - theta) + v theta;  b = 0: u' = v (1 - theta).
    let u_one = one_minus_theta.clone() + v.clone() * theta;
    let u_zero = v * one_minus_theta;
    let u_cond = b.clone() * u_one + b.clone().neg().add_scalar(1.0) * u_zero;
    // Keep u' inside (0, 1) so its logit stays finite in float32.
    let z_tilde = phi + logit(u_cond.clamp(1e-6, 1.0 - 1e-6));
    (b, z, z_tilde)
}

/// The RELAX surrogate for a control variate `c` [GRATHWOHL18, Eq. 8]: its gradient with
/// respect to `phi` is the unbiased estimator `g` above.
///
/// # Shapes
/// `phi`, `u`, `v`: `[n]`; `f` and `c` map `[n] -> [n]` elementwise; result `[n]`, to be
/// summed before `backward` (each element's gradient is its own draw's estimate).
pub fn relax_surrogate(
    phi: Tensor<1>,
    u: Tensor<1>,
    v: Tensor<1>,
    f: &dyn Fn(Tensor<1>) -> Tensor<1>,
    c: &dyn Fn(Tensor<1>) -> Tensor<1>,
) -> Tensor<1> {
    let (b, z, z_tilde) = relaxations(phi.clone(), u, v);
    let log_prob = log_prob_bernoulli(phi, b.clone());
    let c_tilde = c(z_tilde);
    let weight = (f(b) - c_tilde.clone()).detach();
    weight * log_prob + c(z) - c_tilde
}

/// REBAR's control variate `eta f(sigmoid(z / lambda))` [TUCKER17, Eq. 6].
pub fn rebar_control(
    f: &dyn Fn(Tensor<1>) -> Tensor<1>,
    eta: f64,
    lambda: f64,
) -> impl Fn(Tensor<1>) -> Tensor<1> + '_ {
    move |z: Tensor<1>| f(sigmoid(z.div_scalar(lambda))).mul_scalar(eta)
}

/// The two surrogates whose gradients are REBAR's `a` (the plain REINFORCE term) and `b`
/// (the control-variate term at `eta = 1`), so that REBAR's estimate is `a + eta b`.
///
/// # Shapes
/// As [`relax_surrogate`].
pub fn rebar_parts(
    phi: Tensor<1>,
    u: Tensor<1>,
    v: Tensor<1>,
    f: &dyn Fn(Tensor<1>) -> Tensor<1>,
    lambda: f64,
) -> (Tensor<1>, Tensor<1>) {
    let (b, z, z_tilde) = relaxations(phi.clone(), u, v);
    let log_prob = log_prob_bernoulli(phi, b.clone());
    let relaxed = |z: Tensor<1>| f(sigmoid(z.div_scalar(lambda)));
    let a = f(b).detach() * log_prob.clone();
    let c_tilde = relaxed(z_tilde);
    let part_b = c_tilde.clone().detach().neg() * log_prob + relaxed(z) - c_tilde;
    (a, part_b)
}

/// The `eta` minimising the second moment of `a + eta b` over draws: `-E[a b] / E[b^2]`
/// (`0` when `b` vanishes).
///
/// # Errors
/// As [`least_squares_weights`], except that a vanishing `b` gives `0`.
pub fn optimal_eta(a: &[f64], b: &[f64]) -> Result<f64> {
    match least_squares_weights(a, &[b]) {
        Ok(w) => Ok(w[0]),
        Err(EstimatorError::Singular) => Ok(0.0),
        Err(e) => Err(e),
    }
}

/// Weights `w` minimising the mean of `(a + sum_j w_j parts_j)^2` over draws (ordinary least
/// squares by the normal equations): for estimators affine in their control-variate
/// parameters, this *is* training them to minimise gradient variance, exactly.
///
/// # Errors
/// No draws or no parts, a part whose length differs from `a`'s, a value that is not
/// finite; [`EstimatorError::Singular`] when the parts are linearly dependent.
pub fn least_squares_weights(a: &[f64], parts: &[&[f64]]) -> Result<Vec<f64>> {
    stoke_core::validate::count("draws", a.len())?;
    stoke_core::validate::count("parts", parts.len())?;
    for part in parts {
        stoke_core::validate::same_length("part", a.len(), part.len())?;
    }
    for &value in parts.iter().flat_map(|p| p.iter()).chain(a) {
        stoke_core::validate::finite("draw", value)?;
    }
    let k = parts.len();
    // Normal equations: (P^T P) w = -P^T a, solved by Gaussian elimination with pivoting.
    let mut m: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let mut row: Vec<f64> =
                (0..k).map(|j| parts[i].iter().zip(parts[j]).map(|(x, y)| x * y).sum()).collect();
            row.push(-parts[i].iter().zip(a).map(|(x, y)| x * y).sum::<f64>());
            row
        })
        .collect();
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&r, &s| m[r][col].abs().total_cmp(&m[s][col].abs()))
            .ok_or(EstimatorError::Singular)?;
        let size = m[pivot][col].abs();
        if size.is_nan() || size < 1e-300 {
            return Err(EstimatorError::Singular);
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (index, row) in m.iter_mut().enumerate() {
            if index != col {
                let factor = row[col] / pivot_row[col];
                for (value, pivot_value) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    let w: Vec<f64> = (0..k).map(|i| m[i][k] / m[i][i]).collect();
    // Products of huge draws can overflow even when every draw is finite.
    if w.iter().all(|v| v.is_finite()) { Ok(w) } else { Err(EstimatorError::Singular) }
}

/// One categorical draw per row with its two reparameterised relaxations, the pieces of REBAR
/// and RELAX for categorical variables [TUCKER17, App. C; GRATHWOHL18, App. B].
///
/// With normalised log-probabilities `l = log_softmax(logits)`, `p = softmax(logits)`:
/// `z = l + G(u)` (`G(u) = -ln(-ln u)`), `b = one_hot(argmax z)`, and `z~ ~ p(z | b)` by
/// `z~_b = G(v_b)` (the maximum of Gumbels with locations `l` is a standard Gumbel) and, for
/// `k != b`, the Gumbel with location `l_k` truncated below `z~_b`:
/// `z~_k = -ln(exp(-l_k) (-ln v_k) + exp(-z~_b))`.
///
/// `z` and `z~` are differentiable with respect to `logits`; their Jacobians are also kept in
/// closed form ([`Self::vjp_z`], [`Self::vjp_z_tilde`]), so a control variate whose input
/// gradient is explicit (a [`crate::control_net::ControlNet`]) gives an estimator that is an
/// ordinary first-order function of its parameters, which is what lets them be trained to
/// minimise the estimator's variance with first-order autodiff.
#[derive(Debug, Clone)]
pub struct CategoricalRelaxation {
    /// The draw, one-hot, detached. `[rows, k]`.
    pub b: Tensor<2>,
    /// `l + G(u)`. `[rows, k]`.
    pub z: Tensor<2>,
    /// The conditional relaxation `z~ | b`. `[rows, k]`.
    pub z_tilde: Tensor<2>,
    /// `d log p(b) / d logits = b - p`, detached. `[rows, k]`.
    pub score: Tensor<2>,
    /// `p`, detached. `[rows, k]`.
    probs: Tensor<2>,
    /// `dz~_k / dl_k` restricted to the diagonal part (`0` at `b`), detached. `[rows, k]`.
    alpha: Tensor<2>,
}

impl CategoricalRelaxation {
    /// Draws `b`, `z`, `z~` from `logits` and uniforms `u`, `v` in `(0, 1)` (clamped to
    /// `[1e-6, 1 - 1e-6]` so every logarithm stays finite in float32).
    ///
    /// # Shapes
    /// `logits`, `u`, `v`: `[rows, k]`.
    pub fn new(logits: Tensor<2>, u: Tensor<2>, v: Tensor<2>) -> Self {
        let [rows, k] = logits.dims();
        let log_p = burn::tensor::activation::log_softmax(logits, 1);
        let probs = log_p.clone().exp().detach();
        let gumbel = |w: Tensor<2>| w.clamp(1e-6, 1.0 - 1e-6).log().neg().log().neg();
        let z = log_p.clone() + gumbel(u);
        let b = z.clone().argmax(1).reshape([rows]).one_hot::<2>(k).float().detach();
        // -ln v: positive exponential variates.
        let e = v.clamp(1e-6, 1.0 - 1e-6).log().neg();
        // z~_b = G(v_b), shared by the row.
        let top = (e.clone() * b.clone()).sum_dim(1).log().neg(); // [rows, 1]
        let exp_neg_top = top.clone().neg().exp();
        let scaled = log_p.neg().exp() * e; // exp(-l_k)(-ln v_k)
        let others = (scaled.clone() + exp_neg_top.clone()).log().neg();
        let not_b = b.clone().neg().add_scalar(1.0);
        let z_tilde = others * not_b.clone() + top * b.clone();
        let alpha = (scaled.clone() / (scaled + exp_neg_top)).detach() * not_b;
        let score = b.clone() - probs.clone();
        Self { b, z, z_tilde, score, probs, alpha }
    }

    /// `J^T w` for the Jacobian `J = dz / dlogits = I - 1 p^T` (rowwise): `w - p sum(w)`.
    ///
    /// # Shapes
    /// `w`: `[rows, k]` -> `[rows, k]`.
    pub fn vjp_z(&self, w: Tensor<2>) -> Tensor<2> {
        w.clone() - self.probs.clone() * w.sum_dim(1)
    }

    /// `J^T w` for `J = dz~ / dlogits`: with `a_k = dz~_k/dl_k`'s diagonal part (`0` at the
    /// drawn category), `J = (diag(a) + (1 - a) p^T)(I - 1 p^T)`, so `J^T w = a w - p sum(a w)`.
    ///
    /// # Shapes
    /// `w`: `[rows, k]` -> `[rows, k]`.
    pub fn vjp_z_tilde(&self, w: Tensor<2>) -> Tensor<2> {
        let aw = self.alpha.clone() * w;
        aw.clone() - self.probs.clone() * aw.sum_dim(1)
    }
}

/// The per-draw RELAX estimate `g = (f(b) - c(z~)) score + pathwise` [GRATHWOHL18, Eq. 8],
/// with `pathwise = d c(z)/dtheta - d c(z~)/dtheta` supplied by the caller (from autodiff,
/// from explicit input gradients, or a sum of both). Differentiable in whatever `c_z_tilde`
/// and `pathwise` depend on, so `variance_objective(relax_estimate(..))` trains the control
/// variate.
///
/// # Shapes
/// `score`, `pathwise`: `[draws, d]`; `f_b`, `c_z_tilde`: `[draws]` -> `[draws, d]`.
pub fn relax_estimate(
    score: Tensor<2>,
    f_b: Tensor<1>,
    c_z_tilde: Tensor<1>,
    pathwise: Tensor<2>,
) -> Tensor<2> {
    let [draws, _] = score.dims();
    (f_b - c_z_tilde).reshape([draws, 1]) * score + pathwise
}

/// The mean over draws of `|g|^2`: for an unbiased estimator the mean of `g` does not depend
/// on the control variate, so minimising this minimises the total variance [GRATHWOHL18,
/// Eq. 9]. `[draws, d] -> [1]`.
pub fn variance_objective(estimates: Tensor<2>) -> Tensor<1> {
    let [draws, _] = estimates.dims();
    estimates.square().sum().div_scalar(draws as f64)
}
