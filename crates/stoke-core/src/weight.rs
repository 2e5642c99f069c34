//! Loss weights as functions of log-SNR, in the common frame of Kingma & Gao [KINGMA23, Eq. 7]:
//! every weighted diffusion loss is
//!
//! `L_w = 1/2 E_{t ~ U(0,1)}[ w(lambda_t) (-d lambda/dt) ||eps_hat - eps||^2 ]`
//!
//! [KINGMA23, Eq. 7], so a loss is fully described by `w(lambda)`; the ELBO is `w = 1`.
//! A loss written as an MSE on some target with `t` drawn from a density `p(t)` has
//! `w(lambda) = p_lambda(lambda) * f(lambda)`, where `p_lambda = p(t) / |d lambda/dt|` is the
//! density that `p(t)` induces on `lambda` and `f = ||target_hat - target||^2 /
//! ||eps_hat - eps||^2`. For a target `a x0 + b eps`, `x0_hat - x0 = -(sigma/alpha)
//! (eps_hat - eps)` gives `f = (b - a sigma / alpha)^2` ([`mse_factor`]).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::param::Prediction;
use crate::schedule::{NoiseSchedule, PathPoint};
use crate::validate::{finite, positive};

/// A density over training times `t`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TimeDensity {
    /// `t ~ U(0, 1)`.
    Uniform,
    /// `logit(t) ~ N(mean, std^2)` [ESSER24, Eq. 19]; SD3 uses `mean = 0, std = 1`.
    LogitNormal {
        /// Location `m`.
        mean: f64,
        /// Scale `s`.
        std: f64,
    },
    /// SD3's cosine map, density `2 / (pi - 2 pi t + 2 pi t^2)` [ESSER24, Eq. 21].
    CosMap,
    /// `ln t ~ N(p_mean, p_std^2)`: EDM's log-normal over `t = sigma` [KARRAS22, Table 1]
    /// (`p_mean = -1.2`, `p_std = 1.2`).
    LogNormal {
        /// `P_mean`.
        p_mean: f64,
        /// `P_std`.
        p_std: f64,
    },
}

fn normal_pdf(x: f64, mean: f64, std: f64) -> f64 {
    log_normal_pdf(x, mean, std).exp()
}

/// `ln N(x; mean, std^2)`.
fn log_normal_pdf(x: f64, mean: f64, std: f64) -> f64 {
    let z = (x - mean) / std;
    -0.5 * z * z - (std * (2.0 * PI).sqrt()).ln()
}

impl TimeDensity {
    /// Checks the density's parameters.
    ///
    /// # Errors
    /// A non-finite mean or a non-positive scale.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::LogitNormal { mean, std } => {
                finite("mean", mean)?;
                positive("std", std)?;
            }
            Self::LogNormal { p_mean, p_std } => {
                finite("p_mean", p_mean)?;
                positive("p_std", p_std)?;
            }
            Self::Uniform | Self::CosMap => {}
        }
        Ok(())
    }

    /// The density at `t` (zero outside the support).
    pub fn pdf(&self, t: f64) -> f64 {
        match *self {
            Self::Uniform => f64::from((0.0..=1.0).contains(&t)),
            Self::LogitNormal { mean, std } => {
                if t <= 0.0 || t >= 1.0 {
                    return 0.0;
                }
                normal_pdf((t / (1.0 - t)).ln(), mean, std) / (t * (1.0 - t))
            }
            Self::CosMap => {
                if !(0.0..=1.0).contains(&t) {
                    return 0.0;
                }
                2.0 / (PI - 2.0 * PI * t + 2.0 * PI * t * t)
            }
            Self::LogNormal { p_mean, p_std } => {
                if t <= 0.0 {
                    return 0.0;
                }
                normal_pdf(t.ln(), p_mean, p_std) / t
            }
        }
    }

    /// The density this induces on `lambda` through `schedule`:
    /// `p_lambda(lambda) = p(t(lambda)) / |d lambda/dt|`.
    pub fn log_snr_pdf(&self, schedule: &dyn NoiseSchedule, log_snr: f64) -> f64 {
        let t = schedule.t_from_log_snr(log_snr);
        self.pdf(t) / schedule.d_log_snr(t).abs()
    }
}

/// `f = ||target_hat - target||^2 / ||eps_hat - eps||^2 = (b - a sigma/alpha)^2` for the target
/// `a x0 + b eps` of `prediction` at `point` [KINGMA23, Sec. 2.2].
pub fn mse_factor(prediction: Prediction, point: &PathPoint) -> f64 {
    let (a, b) = prediction.coefficients(point);
    let factor = b - a * point.sigma / point.alpha;
    factor * factor
}

/// A weighting `w(lambda)` [KINGMA23, Table 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Weighting {
    /// The ELBO: `w = 1` [KINGMA23, Eq. 8].
    Elbo,
    /// An unweighted MSE on `prediction` with `t ~ density`: `w = p_lambda f`.
    /// `Mse { Eps, Uniform }` is DDPM's `L_simple` [HO20, Eq. 14]; `Mse { Velocity, .. }` on
    /// the flow path is flow matching [LIPMAN23, Eq. 23], with SD3's densities [ESSER24, Sec. 3.1].
    Mse {
        /// The network's target.
        prediction: Prediction,
        /// How training times are drawn.
        density: TimeDensity,
    },
    /// Min-SNR-gamma: eps-MSE scaled by `min(SNR, gamma)/SNR`, so
    /// `w = p_lambda min(1, gamma e^-lambda)` [HANG23, Eq. 8]; `gamma = 5` in the paper.
    MinSnr {
        /// Clamp `gamma`.
        gamma: f64,
        /// How training times are drawn.
        density: TimeDensity,
    },
    /// Soft-min-SNR: `w = p_lambda gamma / (gamma + e^lambda)`, the smooth form of min-SNR
    /// that k-diffusion uses with `gamma = 1/sigma_data^2` [CROWSON24, Sec. 4.3].
    SoftMinSnr {
        /// Softness scale `gamma`.
        gamma: f64,
        /// How training times are drawn.
        density: TimeDensity,
    },
    /// Sigmoid weighting `w = sigmoid(bias - lambda)` [KINGMA23, Sec. 5.2].
    Sigmoid {
        /// The shift `b`.
        bias: f64,
    },
    /// EDM: `lambda(sigma) = (sigma^2 + sigma_data^2)/(sigma sigma_data)^2` on the x0-MSE with
    /// `ln sigma ~ N(p_mean, p_std^2)`, so `w = N(lambda; -2 p_mean, (2 p_std)^2)
    /// (e^-lambda + sigma_data^2)/sigma_data^2` [KARRAS22, Table 1; KINGMA23, Table 1].
    Edm {
        /// `sigma_data` (0.5).
        sigma_data: f64,
        /// `P_mean` (-1.2).
        p_mean: f64,
        /// `P_std` (1.2).
        p_std: f64,
    },
}

impl Weighting {
    /// EDM's defaults: `sigma_data = 0.5`, `P_mean = -1.2`, `P_std = 1.2` [KARRAS22, Table 1].
    pub fn edm() -> Self {
        Self::Edm { sigma_data: 0.5, p_mean: -1.2, p_std: 1.2 }
    }

    /// SD3's rectified-flow loss with logit-normal `t` (`m = 0`, `s = 1`) [ESSER24, Sec. 3.1].
    pub fn sd3_logit_normal() -> Self {
        Self::Mse {
            prediction: Prediction::Velocity,
            density: TimeDensity::LogitNormal { mean: 0.0, std: 1.0 },
        }
    }

    /// SD3's rectified-flow loss with cosmap `t` [ESSER24, Eq. 21].
    pub fn sd3_cosmap() -> Self {
        Self::Mse { prediction: Prediction::Velocity, density: TimeDensity::CosMap }
    }

    /// Checks the weighting's parameters.
    ///
    /// # Errors
    /// Non-finite values, non-positive scales.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Elbo => Ok(()),
            Self::Mse { density, .. } => density.validate(),
            Self::MinSnr { gamma, density } | Self::SoftMinSnr { gamma, density } => {
                positive("gamma", gamma)?;
                density.validate()
            }
            Self::Sigmoid { bias } => finite("bias", bias).map(|_| ()),
            Self::Edm { sigma_data, p_mean, p_std } => {
                // The weight scales like 1 / sigma_data^2: outside this range it overflows
                // f64 at ordinary noise levels.
                crate::validate::in_range("sigma_data", sigma_data, 1e-6, 1e6, "[1e-6, 1e6]")?;
                TimeDensity::LogNormal { p_mean, p_std }.validate()
            }
        }
    }

    /// `w(lambda)` for training on `schedule` (which sets how `t` maps to `lambda` for the
    /// weightings defined by a time density).
    pub fn w(&self, log_snr: f64, schedule: &dyn NoiseSchedule) -> f64 {
        let p = |density: &TimeDensity| density.log_snr_pdf(schedule, log_snr);
        match self {
            Self::Elbo => 1.0,
            Self::Mse { prediction, density } => {
                let point = schedule.point(schedule.t_from_log_snr(log_snr));
                p(density) * mse_factor(*prediction, &point)
            }
            Self::MinSnr { gamma, density } => p(density) * (gamma * (-log_snr).exp()).min(1.0),
            Self::SoftMinSnr { gamma, density } => p(density) * gamma / (gamma + log_snr.exp()),
            Self::Sigmoid { bias } => 1.0 / (1.0 + (log_snr - bias).exp()),
            Self::Edm { sigma_data, p_mean, p_std } => {
                // pdf * (e^-lambda + sd^2) / sd^2 in logs: sd^2 and e^-lambda overflow long
                // before the weight does; (e^-lambda + sd^2) / sd^2 = 1 + e^u.
                let u = -log_snr - 2.0 * sigma_data.ln();
                let softplus = u.max(0.0) + (-u.abs()).exp().ln_1p();
                (log_normal_pdf(log_snr, -2.0 * p_mean, 2.0 * p_std) + softplus).exp()
            }
        }
    }
}

/// EDM's per-sample weight on `||D(x; sigma) - x0||^2`:
/// `(sigma^2 + sigma_data^2) / (sigma sigma_data)^2` [KARRAS22, Table 1].
pub fn edm_loss_weight(sigma: f64, sigma_data: f64) -> f64 {
    (sigma * sigma + sigma_data * sigma_data) / (sigma * sigma_data).powi(2)
}

/// Min-SNR-gamma's per-sample factor on the eps-MSE, `min(SNR, gamma) / SNR` [HANG23, Eq. 8].
pub fn min_snr_factor(log_snr: f64, gamma: f64) -> f64 {
    (gamma * (-log_snr).exp()).min(1.0)
}
