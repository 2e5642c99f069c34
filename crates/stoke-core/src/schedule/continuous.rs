//! Continuous-time schedules on `t in [0, 1]` (EDM: `t = sigma in (0, inf)`).

use std::f64::consts::FRAC_PI_2;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::NoiseSchedule;
use crate::error::{CoreError, Result};
use crate::validate::{finite, non_negative, ordered, positive};

/// `-ln(expm1(m))` computed without overflow for large `m`.
fn neg_log_expm1(m: f64) -> f64 {
    if m > 30.0 { -m - (-(-m).exp()).ln_1p() } else { -m.exp_m1().ln() }
}

/// Variance-preserving SDE with a linear `beta(t) = beta_min + t (beta_max - beta_min)`
/// [SONG21, Eq. 11]: `alpha(t) = exp(-t^2 (beta_max - beta_min)/4 - t beta_min/2)`,
/// `sigma = sqrt(1 - alpha^2)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawVpLinear")]
pub struct VpLinear {
    beta_min: f64,
    beta_max: f64,
}

/// [`VpLinear`]'s fields as read from JSON, before [`VpLinear::new`] checks them.
#[derive(Deserialize)]
struct RawVpLinear {
    beta_min: f64,
    beta_max: f64,
}

impl TryFrom<RawVpLinear> for VpLinear {
    type Error = CoreError;
    fn try_from(raw: RawVpLinear) -> Result<Self> {
        Self::new(raw.beta_min, raw.beta_max)
    }
}

impl VpLinear {
    /// Song et al.'s defaults: `beta_min = 0.1`, `beta_max = 20` [SONG21, Sec. 3.4].
    pub fn song() -> Self {
        Self { beta_min: 0.1, beta_max: 20.0 }
    }

    /// A VP-linear schedule.
    ///
    /// # Errors
    /// Non-finite or negative `beta_min`, `beta_max <= beta_min`.
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        non_negative("beta_min", beta_min)?;
        finite("beta_max", beta_max)?;
        ordered("beta_min", beta_min, "beta_max", beta_max)?;
        Ok(Self { beta_min, beta_max })
    }

    /// `m(t) = -2 ln alpha(t) = t^2 (beta_max - beta_min)/2 + t beta_min`.
    fn m(&self, t: f64) -> f64 {
        0.5 * t * t * (self.beta_max - self.beta_min) + t * self.beta_min
    }

    fn d_m(&self, t: f64) -> f64 {
        t * (self.beta_max - self.beta_min) + self.beta_min
    }
}

impl NoiseSchedule for VpLinear {
    fn alpha(&self, t: f64) -> f64 {
        (-0.5 * self.m(t)).exp()
    }
    fn sigma(&self, t: f64) -> f64 {
        // sqrt(1 - e^{-m}) via expm1 keeps precision near t = 0.
        (-(-self.m(t)).exp_m1()).sqrt()
    }
    fn d_alpha(&self, t: f64) -> f64 {
        -0.5 * self.d_m(t) * self.alpha(t)
    }
    fn d_sigma(&self, t: f64) -> f64 {
        let alpha = self.alpha(t);
        -alpha * self.d_alpha(t) / self.sigma(t)
    }
    fn log_snr(&self, t: f64) -> f64 {
        neg_log_expm1(self.m(t))
    }
    fn d_log_snr(&self, t: f64) -> f64 {
        let m = self.m(t);
        -self.d_m(t) / (-(-m).exp_m1())
    }
    fn t_from_log_snr(&self, log_snr: f64) -> f64 {
        // m = softplus(-lambda); solve delta/2 t^2 + beta_min t - m = 0 for t >= 0.
        let m = softplus(-log_snr);
        let delta = self.beta_max - self.beta_min;
        let disc = self.beta_min * self.beta_min + 2.0 * delta * m;
        // Rationalised root: stable when delta is tiny.
        2.0 * m / (self.beta_min + disc.sqrt())
    }
    fn alpha_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        let delta = self.beta_max - self.beta_min;
        let m = t.clone().square().mul_scalar(0.5 * delta) + t.mul_scalar(self.beta_min);
        m.mul_scalar(-0.5).exp()
    }
    fn sigma_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        let alpha = self.alpha_tensor(t);
        // clamp: 1 - alpha^2 can round below zero at t = 0.
        alpha.square().neg().add_scalar(1.0).clamp_min(0.0).sqrt()
    }
}

/// `ln(1 + e^x)` without overflow.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 30.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() }
}

/// Variance-preserving cosine schedule [NICHOL21, Eq. 17] in continuous time:
/// `alpha(t) = cos((t + s)/(1 + s) pi/2) / cos(s/(1 + s) pi/2)`, `sigma = sqrt(1 - alpha^2)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawVpCosine")]
pub struct VpCosine {
    s: f64,
}

/// [`VpCosine`]'s field as read from JSON.
#[derive(Deserialize)]
struct RawVpCosine {
    s: f64,
}

impl TryFrom<RawVpCosine> for VpCosine {
    type Error = CoreError;
    fn try_from(raw: RawVpCosine) -> Result<Self> {
        Self::new(raw.s)
    }
}

impl VpCosine {
    /// Nichol & Dhariwal's offset `s = 0.008` [NICHOL21, Sec. 3.2].
    pub fn nichol() -> Self {
        Self { s: 0.008 }
    }

    /// A cosine schedule with offset `s`.
    ///
    /// # Errors
    /// `s` negative or not finite.
    pub fn new(s: f64) -> Result<Self> {
        non_negative("s", s)?;
        Ok(Self { s })
    }

    fn angle(&self, t: f64) -> f64 {
        (t + self.s) / (1.0 + self.s) * FRAC_PI_2
    }

    fn norm(&self) -> f64 {
        self.angle(0.0).cos()
    }
}

impl NoiseSchedule for VpCosine {
    fn alpha(&self, t: f64) -> f64 {
        // At t = 1 cos(pi/2) is ~6e-17, not 0; clamp so alpha never goes negative.
        (self.angle(t).cos() / self.norm()).max(0.0)
    }
    fn sigma(&self, t: f64) -> f64 {
        let alpha = self.alpha(t);
        ((1.0 - alpha) * (1.0 + alpha)).max(0.0).sqrt()
    }
    fn d_alpha(&self, t: f64) -> f64 {
        -self.angle(t).sin() * FRAC_PI_2 / ((1.0 + self.s) * self.norm())
    }
    fn d_sigma(&self, t: f64) -> f64 {
        -self.alpha(t) * self.d_alpha(t) / self.sigma(t)
    }
    fn d_log_snr(&self, t: f64) -> f64 {
        // lambda' = 2 alpha' / (alpha sigma^2) on a VP path.
        let sigma = self.sigma(t);
        2.0 * self.d_alpha(t) / (self.alpha(t) * sigma * sigma)
    }
    fn t_from_log_snr(&self, log_snr: f64) -> f64 {
        // alpha^2 = sigmoid(lambda) on a VP path.
        let alpha = (1.0 / (1.0 + (-log_snr).exp())).sqrt();
        (alpha * self.norm()).clamp(-1.0, 1.0).acos() / FRAC_PI_2 * (1.0 + self.s) - self.s
    }
    fn alpha_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        let scale = FRAC_PI_2 / (1.0 + self.s);
        t.add_scalar(self.s).mul_scalar(scale).cos().div_scalar(self.norm()).clamp_min(0.0)
    }
    fn sigma_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        let alpha = self.alpha_tensor(t);
        alpha.square().neg().add_scalar(1.0).clamp_min(0.0).sqrt()
    }
}

/// Variance-exploding schedule, geometric in `t` [SONG21, Eq. 9]:
/// `alpha = 1`, `sigma(t) = sigma_min (sigma_max / sigma_min)^t`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawVe")]
pub struct Ve {
    sigma_min: f64,
    sigma_max: f64,
}

/// [`Ve`]'s fields as read from JSON.
#[derive(Deserialize)]
struct RawVe {
    sigma_min: f64,
    sigma_max: f64,
}

impl TryFrom<RawVe> for Ve {
    type Error = CoreError;
    fn try_from(raw: RawVe) -> Result<Self> {
        Self::new(raw.sigma_min, raw.sigma_max)
    }
}

impl Ve {
    /// Song et al.'s defaults `sigma_min = 0.02`, `sigma_max = 100` [SONG21, App. C].
    pub fn song() -> Self {
        Self { sigma_min: 0.02, sigma_max: 100.0 }
    }

    /// A VE schedule.
    ///
    /// # Errors
    /// Non-finite or non-positive bounds, `sigma_min >= sigma_max`.
    pub fn new(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        positive("sigma_min", sigma_min)?;
        positive("sigma_max", sigma_max)?;
        ordered("sigma_min", sigma_min, "sigma_max", sigma_max)?;
        Ok(Self { sigma_min, sigma_max })
    }

    /// `ln(sigma_max / sigma_min)`, as a difference of logs so the ratio cannot overflow.
    fn log_ratio(&self) -> f64 {
        self.sigma_max.ln() - self.sigma_min.ln()
    }
}

impl NoiseSchedule for Ve {
    fn alpha(&self, _t: f64) -> f64 {
        1.0
    }
    fn sigma(&self, t: f64) -> f64 {
        (self.sigma_min.ln() + t * self.log_ratio()).exp()
    }
    fn d_alpha(&self, _t: f64) -> f64 {
        0.0
    }
    fn d_sigma(&self, t: f64) -> f64 {
        self.sigma(t) * self.log_ratio()
    }
    fn t_from_log_snr(&self, log_snr: f64) -> f64 {
        (-0.5 * log_snr - self.sigma_min.ln()) / self.log_ratio()
    }
    fn alpha_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        t.ones_like()
    }
    fn sigma_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        t.mul_scalar(self.log_ratio()).add_scalar(self.sigma_min.ln()).exp()
    }
}

/// The EDM schedule `sigma(t) = t`, `alpha = 1` [KARRAS22, Table 1]: time is the noise level
/// itself, `t in (0, inf)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Edm;

impl NoiseSchedule for Edm {
    fn alpha(&self, _t: f64) -> f64 {
        1.0
    }
    fn sigma(&self, t: f64) -> f64 {
        t
    }
    fn d_alpha(&self, _t: f64) -> f64 {
        0.0
    }
    fn d_sigma(&self, _t: f64) -> f64 {
        1.0
    }
    fn t_from_log_snr(&self, log_snr: f64) -> f64 {
        (-0.5 * log_snr).exp()
    }
    fn alpha_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        t.ones_like()
    }
    fn sigma_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        t
    }
}

/// The rectified-flow / conditional-OT path `alpha = 1 - t`, `sigma = t`
/// [LIU22, Eq. 1; LIPMAN23, Eq. 20 with sigma_min = 0].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Flow;

impl NoiseSchedule for Flow {
    fn alpha(&self, t: f64) -> f64 {
        1.0 - t
    }
    fn sigma(&self, t: f64) -> f64 {
        t
    }
    fn d_alpha(&self, _t: f64) -> f64 {
        -1.0
    }
    fn d_sigma(&self, _t: f64) -> f64 {
        1.0
    }
    fn d_log_snr(&self, t: f64) -> f64 {
        -2.0 / (t * (1.0 - t))
    }
    fn t_from_log_snr(&self, log_snr: f64) -> f64 {
        // lambda = 2 ln((1 - t)/t)  =>  t = sigmoid(-lambda/2).
        1.0 / (1.0 + (0.5 * log_snr).exp())
    }
    fn alpha_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        t.neg().add_scalar(1.0)
    }
    fn sigma_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        t
    }
}
