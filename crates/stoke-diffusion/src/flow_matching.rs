//! Conditional flow matching paths [TONG24, Sec. 3; LIPMAN23, Sec. 4] with torchcfm's semantics.
//!
//! Convention (torchcfm's, the opposite of the workspace's): `x0` is the source batch (noise),
//! `x1` the target batch (data), and `t = 0` is the source, `t = 1` the data. A matcher draws
//! `x_t = mu_t(x0, x1) + sigma_t eps` and the conditional velocity `u_t(x_t | x0, x1)`; a
//! network trained on it with [`cfm_loss`] is integrated from `t = 0` up to `t = 1`
//! ([`crate::sampler::FlowEuler`] on an increasing grid). To use the workspace's time, feed
//! `1 - t`.
//!
//! Couplings: [`IndependentCfm`], [`TargetCfm`] and [`VpCfm`] keep the pairs as given;
//! [`ExactOtCfm`] re-pairs by exact minibatch OT (a permutation); [`SchrodingerBridgeCfm`]
//! draws each source's partner from an entropic OT plan.

use std::f64::consts::FRAC_PI_2;

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use stoke_core::transport::{assignment, squared_cost};

use crate::denoiser::VelocityField;
use serde::{Deserialize, Serialize};
use stoke_core::validate::{count, in_half_open, in_range, non_negative, positive};

use crate::error::{DiffusionError, Result};
use crate::loss::Loss;
use crate::tensor::{
    batch_of, check_same_shape, expand_rows, features_of, host, int_vector, mean_per_row,
    scale_rows,
};

/// One draw of a conditional path.
#[derive(Debug, Clone)]
pub struct FlowSample<const D: usize> {
    /// Times, one per row.
    pub t: Vec<f64>,
    /// `x_t = mu_t + sigma_t eps`.
    pub x_t: Tensor<D>,
    /// The conditional velocity `u_t(x_t | x0, x1)`, the regression target.
    pub u_t: Tensor<D>,
    /// The source batch after coupling.
    pub x0: Tensor<D>,
    /// The target batch after coupling (re-ordered or re-drawn by OT couplings).
    pub x1: Tensor<D>,
    /// The Gaussian noise `eps` of `x_t`.
    pub eps: Tensor<D>,
}

fn normal_like<const D: usize, R: Rng + ?Sized>(x: &Tensor<D>, rng: &mut R) -> Tensor<D> {
    let n = x.dims().iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    Tensor::from_data(TensorData::new(values, x.dims()), &x.device())
}

fn map(t: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    t.iter().map(|&t| f(t)).collect()
}

/// A conditional probability path `N(mu_t(x0, x1), sigma_t^2 I)` with its velocity.
pub trait ConditionalFlowMatcher {
    /// The path's mean `mu_t`.
    ///
    /// # Shapes
    /// `x0`, `x1: [batch, ...]`, `t`: one per row -> `[batch, ...]`.
    fn mu_t<const D: usize>(&self, x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D>;

    /// The path's standard deviation `sigma_t`.
    fn sigma_t(&self, t: f64) -> f64;

    /// The conditional velocity `u_t(x_t | x0, x1)`.
    ///
    /// # Shapes
    /// As [`Self::mu_t`].
    fn conditional_flow<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        x_t: Tensor<D>,
    ) -> Tensor<D>;

    /// Re-pairs the batches (the identity unless the matcher uses an OT coupling).
    ///
    /// # Errors
    /// OT input errors.
    fn couple<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        _rng: &mut R,
    ) -> Result<(Tensor<D>, Tensor<D>)> {
        Ok((x0, x1))
    }

    /// Couples, draws `eps ~ N(0, I)` and returns `x_t` and `u_t` at times `t` (torchcfm's
    /// `sample_location_and_conditional_flow` with given `t`; draw `t` from a `stoke-core`
    /// noise-level sampler).
    ///
    /// # Shapes
    /// `x0`, `x1: [batch, ...]`, `t`: one value or one per row.
    ///
    /// # Errors
    /// Mismatched shapes, times outside `[0, 1]`, coupling errors.
    fn sample_location_and_conditional_flow<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        rng: &mut R,
    ) -> Result<FlowSample<D>> {
        check_same_shape("x1", &x0, &x1)?;
        let t = expand_rows("t", t, batch_of(&x0))?;
        for &t in &t {
            in_range("t", t, 0.0, 1.0, "[0, 1]")?;
        }
        let (x0, x1) = self.couple(x0, x1, rng)?;
        let eps = normal_like(&x0, rng);
        let sigma_t = map(&t, |t| self.sigma_t(t));
        let x_t = self.mu_t(x0.clone(), x1.clone(), &t) + scale_rows(eps.clone(), &sigma_t);
        let u_t = self.conditional_flow(x0.clone(), x1.clone(), &t, x_t.clone());
        Ok(FlowSample { t, x_t, u_t, x0, x1, eps })
    }
}

/// `mu_t = t x1 + (1 - t) x0`.
fn straight_line<const D: usize>(x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
    scale_rows(x1, t) + scale_rows(x0, &map(t, |t| 1.0 - t))
}

/// Independent-coupling CFM (I-CFM): `mu_t = t x1 + (1 - t) x0`, `sigma_t = sigma`,
/// `u_t = x1 - x0` [TONG24, Sec. 3] (torchcfm's `ConditionalFlowMatcher`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndependentCfm {
    sigma: f64,
}

impl IndependentCfm {
    /// I-CFM with path width `sigma` (torchcfm's default 0).
    ///
    /// # Errors
    /// `sigma` negative or not finite.
    pub fn new(sigma: f64) -> Result<Self> {
        Ok(Self { sigma: non_negative("sigma", sigma)? })
    }
}

impl ConditionalFlowMatcher for IndependentCfm {
    fn mu_t<const D: usize>(&self, x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
        straight_line(x0, x1, t)
    }
    fn sigma_t(&self, _t: f64) -> f64 {
        self.sigma
    }
    fn conditional_flow<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        _t: &[f64],
        _x_t: Tensor<D>,
    ) -> Tensor<D> {
        x1 - x0
    }
}

/// The exact minibatch OT pairing on the squared Euclidean cost: `perm` with `x0[i]` paired
/// to `x1[perm[i]]`, minimising `sum_i ||x0_i - x1_perm(i)||^2` [TONG24, Sec. 3].
///
/// # Errors
/// Shapes that differ; an empty batch; non-finite entries.
pub fn exact_ot_pairing<const D: usize>(x0: &Tensor<D>, x1: &Tensor<D>) -> Result<Vec<usize>> {
    check_same_shape("x1", x0, x1)?;
    let (n, features) = (batch_of(x0), features_of(x0));
    let cost = squared_cost(&host(x0.clone()), &host(x1.clone()), features)?;
    Ok(assignment(&cost, n)?)
}

fn reorder<const D: usize>(x: Tensor<D>, indices: &[usize]) -> Tensor<D> {
    let device = x.device();
    let indices: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    let indices: Tensor<1, Int> = int_vector(&indices, &device);
    x.select(0, indices)
}

/// OT-CFM: I-CFM on the pairs of the exact minibatch OT coupling [TONG24, Sec. 3]. Each
/// source keeps its place and gets its assigned target; torchcfm instead resamples `batch`
/// pairs from the plan with replacement, which for an exact plan (a permutation) draws some
/// pairs twice and drops others. Both are samples of the same coupling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactOtCfm {
    inner: IndependentCfm,
}

impl ExactOtCfm {
    /// OT-CFM with path width `sigma`.
    ///
    /// # Errors
    /// As [`IndependentCfm::new`].
    pub fn new(sigma: f64) -> Result<Self> {
        Ok(Self { inner: IndependentCfm::new(sigma)? })
    }
}

impl ConditionalFlowMatcher for ExactOtCfm {
    fn mu_t<const D: usize>(&self, x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
        self.inner.mu_t(x0, x1, t)
    }
    fn sigma_t(&self, t: f64) -> f64 {
        self.inner.sigma_t(t)
    }
    fn conditional_flow<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        x_t: Tensor<D>,
    ) -> Tensor<D> {
        self.inner.conditional_flow(x0, x1, t, x_t)
    }
    fn couple<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        _rng: &mut R,
    ) -> Result<(Tensor<D>, Tensor<D>)> {
        let perm = exact_ot_pairing(&x0, &x1)?;
        Ok((x0, reorder(x1, &perm)))
    }
}

/// Lipman et al.'s target flow matching (torchcfm's `TargetConditionalFlowMatcher`):
/// `mu_t = t x1`, `sigma_t = 1 - (1 - sigma_min) t`,
/// `u_t = (x1 - (1 - sigma_min) x_t) / (1 - (1 - sigma_min) t)` [LIPMAN23, Eq. 20-21]. As in
/// torchcfm, `x0` is not used: the source is the fresh Gaussian `eps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetCfm {
    sigma_min: f64,
}

impl TargetCfm {
    /// Target FM with end width `sigma_min` (torchcfm's default 0).
    ///
    /// # Errors
    /// `sigma_min` outside `[0, 1)`.
    pub fn new(sigma_min: f64) -> Result<Self> {
        // sigma_min = 1 would make the path constant; above 1 it widens towards the data.
        Ok(Self { sigma_min: in_half_open("sigma_min", sigma_min, 0.0, 1.0, "[0, 1)")? })
    }
}

impl ConditionalFlowMatcher for TargetCfm {
    fn mu_t<const D: usize>(&self, _x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
        scale_rows(x1, t)
    }
    fn sigma_t(&self, t: f64) -> f64 {
        1.0 - (1.0 - self.sigma_min) * t
    }
    fn conditional_flow<const D: usize>(
        &self,
        _x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        x_t: Tensor<D>,
    ) -> Tensor<D> {
        let k = 1.0 - self.sigma_min;
        let inv = map(t, |t| 1.0 / (1.0 - k * t));
        scale_rows(x1 - x_t.mul_scalar(k), &inv)
    }
}

/// An entropic OT plan and how far Sinkhorn got.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornPlan {
    /// The plan, `[n, n]` row-major.
    pub plan: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// The L1 error of the row marginals at the last check.
    pub marginal_error: f64,
    /// Whether the error fell below the tolerance (else the iteration cap stopped it).
    pub converged: bool,
}

impl SinkhornPlan {
    /// The plan if Sinkhorn converged.
    ///
    /// # Errors
    /// [`DiffusionError::NotConverged`], naming the iterations and the error left.
    pub fn converged(self) -> Result<Vec<f64>> {
        if self.converged {
            Ok(self.plan)
        } else {
            Err(DiffusionError::NotConverged {
                what: "Sinkhorn",
                iterations: self.iterations,
                error: self.marginal_error,
            })
        }
    }
}

/// Entropic OT plan between uniform measures on `n` points each by Sinkhorn iterations
/// [CUTURI13, Alg. 1]: `argmin <P, C> - reg H(P)` with marginals `1/n`, in scaling form when
/// the kernel cannot underflow and in the log domain otherwise. The row-marginal error is
/// checked every 10 iterations (as POT does); the result says whether it fell below `tol`
/// within `max_iters`.
///
/// # Shapes
/// `cost: [n, n]` row-major -> `[n, n]` row-major.
///
/// # Errors
/// `n = 0`, a cost of the wrong length or not finite, `reg` or `tol` not positive,
/// `max_iters = 0`.
pub fn sinkhorn_plan(
    cost: &[f64],
    n: usize,
    reg: f64,
    max_iters: usize,
    tol: f64,
) -> Result<SinkhornPlan> {
    positive("tol", tol)?;
    count("max_iters", max_iters)?;
    positive("reg", reg)?;
    if n == 0 || cost.len() != n * n {
        return Err(DiffusionError::Length { what: "cost (n * n)", batch: n * n, got: cost.len() });
    }
    if let Some(&value) = cost.iter().find(|c| !c.is_finite()) {
        return Err(DiffusionError::OutOfRange { name: "cost", value, range: "finite" });
    }
    let marginal = 1.0 / n as f64;
    let min_cost = cost.iter().copied().fold(f64::INFINITY, f64::min);
    let max_cost = cost.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // The marginal error is checked every CHECK_EVERY iterations (as POT does): it costs as
    // much as an iteration.
    const CHECK_EVERY: usize = 10;
    if (max_cost - min_cost) / reg < 600.0 {
        // Scaling form: the kernel exp(-(c - min c) / reg) cannot underflow here, so the
        // iterations are matrix-vector products with no exponentials.
        let kernel: Vec<f64> = cost.iter().map(|c| (-(c - min_cost) / reg).exp()).collect();
        let (mut u, mut v) = (vec![1.0; n], vec![1.0; n]);
        let (mut iterations, mut marginal_error) = (0, f64::INFINITY);
        for iteration in 0..max_iters {
            iterations = iteration + 1;
            for (i, ui) in u.iter_mut().enumerate() {
                let row = &kernel[i * n..(i + 1) * n];
                *ui = marginal / row.iter().zip(&v).map(|(k, v)| k * v).sum::<f64>();
            }
            let mut column = vec![0.0; n];
            for (i, ui) in u.iter().enumerate() {
                for (c, k) in column.iter_mut().zip(&kernel[i * n..(i + 1) * n]) {
                    *c += k * ui;
                }
            }
            for (vj, c) in v.iter_mut().zip(&column) {
                *vj = marginal / c;
            }
            if (iteration + 1) % CHECK_EVERY == 0 {
                // After the v update the columns are exact; stop when the rows are too.
                marginal_error = (0..n)
                    .map(|i| {
                        let row = &kernel[i * n..(i + 1) * n];
                        (u[i] * row.iter().zip(&v).map(|(k, v)| k * v).sum::<f64>() - marginal)
                            .abs()
                    })
                    .sum();
                if marginal_error < tol {
                    break;
                }
            }
        }
        let plan = (0..n * n).map(|k| u[k / n] * kernel[k] * v[k % n]).collect();
        return Ok(SinkhornPlan {
            plan,
            iterations,
            marginal_error,
            converged: marginal_error < tol,
        });
    }
    // Log-domain form for small regularisations, where the kernel would underflow.
    let log_marginal = marginal.ln();
    let log_kernel: Vec<f64> = cost.iter().map(|c| -c / reg).collect();
    let (mut f, mut g) = (vec![0.0; n], vec![0.0; n]);
    let (mut iterations, mut marginal_error) = (0, f64::INFINITY);
    let log_sum_exp = |values: &mut dyn Iterator<Item = f64>| -> f64 {
        let v: Vec<f64> = values.collect();
        let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
    };
    for iteration in 0..max_iters {
        iterations = iteration + 1;
        for i in 0..n {
            f[i] = log_marginal - log_sum_exp(&mut (0..n).map(|j| log_kernel[i * n + j] + g[j]));
        }
        for j in 0..n {
            g[j] = log_marginal - log_sum_exp(&mut (0..n).map(|i| log_kernel[i * n + j] + f[i]));
        }
        if (iteration + 1) % CHECK_EVERY == 0 {
            marginal_error = (0..n)
                .map(|i| {
                    let row: f64 =
                        (0..n).map(|j| (f[i] + log_kernel[i * n + j] + g[j]).exp()).sum();
                    (row - marginal).abs()
                })
                .sum();
            if marginal_error < tol {
                break;
            }
        }
    }
    let plan = (0..n * n).map(|k| (f[k / n] + log_kernel[k] + g[k % n]).exp()).collect();
    Ok(SinkhornPlan { plan, iterations, marginal_error, converged: marginal_error < tol })
}

/// Schrödinger-bridge CFM (torchcfm's `SchrodingerBridgeConditionalFlowMatcher`): pairs from
/// the entropic OT plan with regularisation `2 sigma^2`, the Brownian bridge
/// `mu_t = t x1 + (1 - t) x0`, `sigma_t = sigma sqrt(t (1 - t))`, and
/// `u_t = (1 - 2t) / (2 t (1 - t)) (x_t - mu_t) + x1 - x0` [TONG24, Sec. 3].
/// Each source draws its partner from its row of the plan (torchcfm draws pairs from the
/// whole plan; both sample the same coupling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchrodingerBridgeCfm {
    sigma: f64,
    /// Most Sinkhorn iterations.
    pub max_iters: usize,
    /// Sinkhorn's stopping threshold on the row-marginal L1 error (POT's default 1e-9).
    pub tol: f64,
}

impl SchrodingerBridgeCfm {
    /// SB-CFM with noise `sigma` (torchcfm's default 1.0), 1000 Sinkhorn iterations.
    ///
    /// # Errors
    /// `sigma` not positive and finite.
    pub fn new(sigma: f64) -> Result<Self> {
        Ok(Self { sigma: positive("sigma", sigma)?, max_iters: 1000, tol: 1e-9 })
    }

    /// The entropic regularisation `2 sigma^2`.
    pub fn reg(&self) -> f64 {
        2.0 * self.sigma * self.sigma
    }
}

impl ConditionalFlowMatcher for SchrodingerBridgeCfm {
    fn mu_t<const D: usize>(&self, x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
        straight_line(x0, x1, t)
    }
    fn sigma_t(&self, t: f64) -> f64 {
        self.sigma * (t * (1.0 - t)).max(0.0).sqrt()
    }
    fn conditional_flow<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        x_t: Tensor<D>,
    ) -> Tensor<D> {
        let mu_t = straight_line(x0.clone(), x1.clone(), t);
        // sigma_t'/sigma_t; torchcfm adds 1e-8 to the denominator so that t = 0 or 1 (where
        // x_t = mu_t) gives 0 * finite instead of 0/0.
        let ratio = map(t, |t| (1.0 - 2.0 * t) / (2.0 * t * (1.0 - t) + 1e-8));
        scale_rows(x_t - mu_t, &ratio) + x1 - x0
    }
    fn couple<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        rng: &mut R,
    ) -> Result<(Tensor<D>, Tensor<D>)> {
        check_same_shape("x1", &x0, &x1)?;
        let (n, features) = (batch_of(&x0), features_of(&x0));
        let cost = squared_cost(&host(x0.clone()), &host(x1.clone()), features)?;
        // A plan Sinkhorn did not finish is an error, not a silent approximation: raise
        // `max_iters` or sigma (reg = 2 sigma^2) for a hard problem.
        let plan = sinkhorn_plan(&cost, n, self.reg(), self.max_iters, self.tol)?.converged()?;
        let partners: Vec<usize> = plan
            .chunks(n)
            .map(|row| {
                let total: f64 = row.iter().sum();
                let mut u = rng.random::<f64>() * total;
                for (j, p) in row.iter().enumerate() {
                    u -= p;
                    if u < 0.0 {
                        return j;
                    }
                }
                n - 1
            })
            .collect();
        Ok((x0, reorder(x1, &partners)))
    }
}

/// The variance-preserving interpolant (torchcfm's `VariancePreservingConditionalFlowMatcher`):
/// `mu_t = cos(pi t / 2) x0 + sin(pi t / 2) x1`, `sigma_t = sigma`,
/// `u_t = pi/2 (cos(pi t / 2) x1 - sin(pi t / 2) x0)` [TONG24, Sec. 3].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpCfm {
    sigma: f64,
}

impl VpCfm {
    /// The VP interpolant with width `sigma` (torchcfm's default 0).
    ///
    /// # Errors
    /// `sigma` negative or not finite.
    pub fn new(sigma: f64) -> Result<Self> {
        Ok(Self { sigma: non_negative("sigma", sigma)? })
    }
}

impl ConditionalFlowMatcher for VpCfm {
    fn mu_t<const D: usize>(&self, x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
        scale_rows(x0, &map(t, |t| (FRAC_PI_2 * t).cos()))
            + scale_rows(x1, &map(t, |t| (FRAC_PI_2 * t).sin()))
    }
    fn sigma_t(&self, _t: f64) -> f64 {
        self.sigma
    }
    fn conditional_flow<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        _x_t: Tensor<D>,
    ) -> Tensor<D> {
        scale_rows(x1, &map(t, |t| FRAC_PI_2 * (FRAC_PI_2 * t).cos()))
            - scale_rows(x0, &map(t, |t| FRAC_PI_2 * (FRAC_PI_2 * t).sin()))
    }
}

/// The built-in paths by name (torchcfm's: `icfm`, `otcfm`, `target`, `sb`, `vp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatcherKind {
    /// [`IndependentCfm`].
    Icfm,
    /// [`ExactOtCfm`].
    Otcfm,
    /// [`TargetCfm`].
    Target,
    /// [`SchrodingerBridgeCfm`].
    Sb,
    /// [`VpCfm`].
    Vp,
}

impl MatcherKind {
    /// Every built-in path.
    pub const ALL: [MatcherKind; 5] = [Self::Icfm, Self::Otcfm, Self::Target, Self::Sb, Self::Vp];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Icfm => "icfm",
            Self::Otcfm => "otcfm",
            Self::Target => "target",
            Self::Sb => "sb",
            Self::Vp => "vp",
        }
    }

    /// torchcfm's default `sigma` of the path: 0, and 1 for the Schrodinger bridge (whose
    /// sigma must be positive).
    pub fn default_sigma(self) -> f64 {
        if self == Self::Sb { 1.0 } else { 0.0 }
    }

    /// The path with width `sigma` (`sigma_min` for [`TargetCfm`]); `None` takes
    /// [`MatcherKind::default_sigma`].
    ///
    /// # Errors
    /// As the path's constructor.
    pub fn with_sigma(self, sigma: Option<f64>) -> Result<MatcherConfig> {
        let sigma = sigma.unwrap_or(self.default_sigma());
        Ok(match self {
            Self::Icfm => MatcherConfig::Icfm(IndependentCfm::new(sigma)?),
            Self::Otcfm => MatcherConfig::Otcfm(ExactOtCfm::new(sigma)?),
            Self::Target => MatcherConfig::Target(TargetCfm::new(sigma)?),
            Self::Sb => MatcherConfig::Sb(SchrodingerBridgeCfm::new(sigma)?),
            Self::Vp => MatcherConfig::Vp(VpCfm::new(sigma)?),
        })
    }
}

impl std::fmt::Display for MatcherKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A built-in path with its parameter, beside the open [`ConditionalFlowMatcher`] trait
/// (JSON: `{"kind": "otcfm", "sigma": 0.0}`, read through the validating constructors).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MatcherRepr", into = "MatcherRepr")]
pub enum MatcherConfig {
    /// [`IndependentCfm`].
    Icfm(IndependentCfm),
    /// [`ExactOtCfm`].
    Otcfm(ExactOtCfm),
    /// [`TargetCfm`].
    Target(TargetCfm),
    /// [`SchrodingerBridgeCfm`].
    Sb(SchrodingerBridgeCfm),
    /// [`VpCfm`].
    Vp(VpCfm),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherRepr {
    kind: MatcherKind,
    #[serde(default)]
    sigma: Option<f64>,
}

impl TryFrom<MatcherRepr> for MatcherConfig {
    type Error = DiffusionError;
    fn try_from(repr: MatcherRepr) -> Result<Self> {
        repr.kind.with_sigma(repr.sigma)
    }
}

impl From<MatcherConfig> for MatcherRepr {
    fn from(config: MatcherConfig) -> Self {
        Self { kind: config.kind(), sigma: Some(config.sigma()) }
    }
}

impl MatcherConfig {
    /// The path's name.
    pub fn kind(&self) -> MatcherKind {
        match self {
            Self::Icfm(_) => MatcherKind::Icfm,
            Self::Otcfm(_) => MatcherKind::Otcfm,
            Self::Target(_) => MatcherKind::Target,
            Self::Sb(_) => MatcherKind::Sb,
            Self::Vp(_) => MatcherKind::Vp,
        }
    }

    /// The path's width parameter (`sigma_min` for the target path).
    pub fn sigma(&self) -> f64 {
        match self {
            Self::Icfm(m) => m.sigma,
            Self::Otcfm(m) => m.inner.sigma,
            Self::Target(m) => m.sigma_min,
            Self::Sb(m) => m.sigma,
            Self::Vp(m) => m.sigma,
        }
    }
}

/// Forwards every method to the variant.
macro_rules! forward {
    ($self:ident, $m:ident => $body:expr) => {
        match $self {
            MatcherConfig::Icfm($m) => $body,
            MatcherConfig::Otcfm($m) => $body,
            MatcherConfig::Target($m) => $body,
            MatcherConfig::Sb($m) => $body,
            MatcherConfig::Vp($m) => $body,
        }
    };
}

impl ConditionalFlowMatcher for MatcherConfig {
    fn mu_t<const D: usize>(&self, x0: Tensor<D>, x1: Tensor<D>, t: &[f64]) -> Tensor<D> {
        forward!(self, m => m.mu_t(x0, x1, t))
    }
    fn sigma_t(&self, t: f64) -> f64 {
        forward!(self, m => m.sigma_t(t))
    }
    fn conditional_flow<const D: usize>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        t: &[f64],
        x_t: Tensor<D>,
    ) -> Tensor<D> {
        forward!(self, m => m.conditional_flow(x0, x1, t, x_t))
    }
    fn couple<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        rng: &mut R,
    ) -> Result<(Tensor<D>, Tensor<D>)> {
        forward!(self, m => m.couple(x0, x1, rng))
    }
}

/// The CFM regression loss `||v(x_t, t) - u_t||^2` per example (mean over features) and its
/// mean [TONG24, Sec. 3].
///
/// # Errors
/// The field's errors; an output of the wrong shape.
pub fn cfm_loss<const D: usize, F: VelocityField<D>>(
    field: &F,
    sample: &FlowSample<D>,
    class_labels: Option<Tensor<1, Int>>,
) -> Result<Loss> {
    let v = field.eval(sample.x_t.clone(), &sample.t, class_labels)?;
    check_same_shape("velocity output", &sample.u_t, &v)?;
    let per_example = mean_per_row((v - sample.u_t.clone()).square());
    let mean = per_example.clone().mean();
    Ok(Loss { per_example, mean })
}
