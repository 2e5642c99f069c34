//! Noise-level grids for samplers in the VE/EDM view (`x = x0 + sigma eps`), each ending in a
//! final `0` as k-diffusion's do, and the ancestral split of one step.

use crate::error::{CoreError, Result};
use crate::validate::{non_negative, ordered, positive, size};

fn ramp(n: usize) -> impl Iterator<Item = f64> {
    // linspace(0, 1, n); a single point is 0, as torch.linspace gives.
    let step = if n > 1 { 1.0 / (n - 1) as f64 } else { 0.0 };
    (0..n).map(move |i| i as f64 * step)
}

fn check_bounds(sigma_min: f64, sigma_max: f64) -> Result<()> {
    positive("sigma_min", sigma_min)?;
    positive("sigma_max", sigma_max)?;
    ordered("sigma_min", sigma_min, "sigma_max", sigma_max)
}

/// Appends the final `0`, refusing grids whose formula overflowed (huge `beta_d`, tiny `rho`).
fn with_zero(mut sigmas: Vec<f64>) -> Result<Vec<f64>> {
    if let Some(&value) = sigmas.iter().find(|s| !s.is_finite()) {
        return Err(CoreError::NonFinite { name: "sigma (the grid overflowed)", value });
    }
    sigmas.push(0.0);
    Ok(sigmas)
}

/// Karras et al.'s grid `sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) -
/// sigma_max^(1/rho)))^rho`, then `0` [KARRAS22, Eq. 5]. `rho = 7` in the paper.
///
/// # Shapes
/// `n + 1` values, decreasing, the last `0`.
///
/// # Errors
/// `n = 0`; bounds not positive and finite or not ordered; `rho` not positive.
pub fn sigmas_karras(n: usize, sigma_min: f64, sigma_max: f64, rho: f64) -> Result<Vec<f64>> {
    size("n", n)?;
    check_bounds(sigma_min, sigma_max)?;
    positive("rho", rho)?;
    let (min_inv, max_inv) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    with_zero(ramp(n).map(|r| (max_inv + r * (min_inv - max_inv)).powf(rho)).collect())
}

/// A grid uniform in `ln sigma` from `sigma_max` to `sigma_min`, then `0`
/// (k-diffusion's `get_sigmas_exponential`).
///
/// # Errors
/// As [`sigmas_karras`].
pub fn sigmas_exponential(n: usize, sigma_min: f64, sigma_max: f64) -> Result<Vec<f64>> {
    size("n", n)?;
    check_bounds(sigma_min, sigma_max)?;
    let (lo, hi) = (sigma_min.ln(), sigma_max.ln());
    with_zero(ramp(n).map(|r| (hi + r * (lo - hi)).exp()).collect())
}

/// A grid whose `ln sigma` follows a polynomial of degree `rho` in the step index
/// (k-diffusion's `get_sigmas_polyexponential`; `rho = 1` is [`sigmas_exponential`]).
///
/// # Errors
/// As [`sigmas_karras`].
pub fn sigmas_polyexponential(
    n: usize,
    sigma_min: f64,
    sigma_max: f64,
    rho: f64,
) -> Result<Vec<f64>> {
    size("n", n)?;
    check_bounds(sigma_min, sigma_max)?;
    positive("rho", rho)?;
    let (lo, hi) = (sigma_min.ln(), sigma_max.ln());
    with_zero(ramp(n).map(|r| ((1.0 - r).powf(rho) * (hi - lo) + lo).exp()).collect())
}

/// The VP-SDE's noise levels at `t = linspace(1, eps_s, n)` in the VE view,
/// `sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)`, then `0` [SONG21, Eq. 11;
/// KARRAS22, Table 1]. Song et al. use `beta_d = 19.9`, `beta_min = 0.1`, `eps_s = 1e-3`.
///
/// # Errors
/// `n = 0`; `beta_d` or `beta_min` negative or not finite; `eps_s` not in `(0, 1)`.
pub fn sigmas_vp(n: usize, beta_d: f64, beta_min: f64, eps_s: f64) -> Result<Vec<f64>> {
    size("n", n)?;
    non_negative("beta_d", beta_d)?;
    non_negative("beta_min", beta_min)?;
    positive("eps_s", eps_s)?;
    if eps_s >= 1.0 {
        return Err(CoreError::OutOfRange { name: "eps_s", value: eps_s, range: "(0, 1)" });
    }
    let sigma = |t: f64| (beta_d * t * t / 2.0 + beta_min * t).exp_m1().sqrt();
    with_zero(ramp(n).map(|r| sigma(1.0 + r * (eps_s - 1.0))).collect())
}

/// One ancestral step from `sigma_from` to `sigma_to`, split into a deterministic move to
/// `sigma_down` and fresh noise of scale `sigma_up`, with
/// `sigma_down^2 + sigma_up^2 = sigma_to^2` [KARRAS22, Alg. 2; k-diffusion
/// `get_ancestral_step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AncestralStep {
    /// Where the deterministic (ODE) part of the step lands.
    pub sigma_down: f64,
    /// The standard deviation of the fresh noise added after it.
    pub sigma_up: f64,
}

/// The ancestral split with strength `eta` (0: deterministic DDIM-like step; 1: DDPM):
/// `sigma_up = min(sigma_to, eta sqrt(sigma_to^2 (sigma_from^2 - sigma_to^2) / sigma_from^2))`,
/// `sigma_down = sqrt(sigma_to^2 - sigma_up^2)`.
///
/// # Errors
/// A negative or non-finite argument; `sigma_from = 0`; `sigma_to > sigma_from`.
pub fn ancestral_step(sigma_from: f64, sigma_to: f64, eta: f64) -> Result<AncestralStep> {
    positive("sigma_from", sigma_from)?;
    non_negative("sigma_to", sigma_to)?;
    non_negative("eta", eta)?;
    if sigma_to > sigma_from {
        return Err(CoreError::Order {
            low_name: "sigma_to",
            low: sigma_to,
            high_name: "sigma_from",
            high: sigma_from,
        });
    }
    // Written with ratios so that huge sigmas do not overflow their squares.
    let ratio = sigma_to / sigma_from;
    let base = sigma_to * (1.0 - ratio * ratio).max(0.0).sqrt();
    // Clamp at sigma_to: with eta > 1 the formula would exceed it and sigma_down's square
    // root would turn imaginary.
    let sigma_up = (eta * base).min(sigma_to);
    let sigma_down = if sigma_to > 0.0 {
        sigma_to * (1.0 - (sigma_up / sigma_to).powi(2)).max(0.0).sqrt()
    } else {
        0.0
    };
    Ok(AncestralStep { sigma_down, sigma_up })
}
