//! Parameterizations: what a network predicts, and exact conversions among them for any
//! schedule.
//!
//! On a path `x_t = alpha x0 + sigma eps`, every target a network may predict is a linear
//! combination `a x0 + b eps` of the clean data and the noise:
//!
//! | target | `a` | `b` | reference |
//! |---|---|---|---|
//! | `eps` | 0 | 1 | [HO20, Eq. 11] |
//! | `x0` (and the EDM denoiser `D(x; sigma)`) | 1 | 0 | [KARRAS22, Eq. 2] |
//! | `v = alpha eps - sigma x0` | `-sigma` | `alpha` | [SALIMANS22, Sec. 4] |
//! | `score = -eps / sigma` | 0 | `-1/sigma` | [SONG21, Eq. 2] |
//! | flow velocity `u = alpha' x0 + sigma' eps` | `alpha'` | `sigma'` | [LIPMAN23, Eq. 21] |
//!
//! So given `x_t` and one prediction, the pair `(x0, eps)` solves a 2x2 linear system, and
//! any other target follows. [`conversion`] returns the two coefficients `(c_x, c_pred)` with
//! `target = c_x x_t + c_pred prediction`, computed once in `f64` and applied to tensors with
//! two scalings and an add.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::schedule::PathPoint;
use crate::validate::positive;

/// What a network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prediction {
    /// The noise `eps` [HO20, Eq. 11].
    Eps,
    /// The clean data `x0`; also the EDM denoiser's output [KARRAS22, Eq. 2].
    X0,
    /// `v = alpha eps - sigma x0` [SALIMANS22, Sec. 4].
    V,
    /// The score `grad log p(x_t) = -eps / sigma` [SONG21, Eq. 2].
    Score,
    /// The flow velocity `u = d x_t / dt = alpha' x0 + sigma' eps` [LIPMAN23, Eq. 21].
    Velocity,
}

impl Prediction {
    /// Every parameterization.
    pub const ALL: [Prediction; 5] = [Self::Eps, Self::X0, Self::V, Self::Score, Self::Velocity];

    /// The target's coefficients `(a, b)` in `a x0 + b eps` at `point`.
    pub fn coefficients(self, point: &PathPoint) -> (f64, f64) {
        match self {
            Self::Eps => (0.0, 1.0),
            Self::X0 => (1.0, 0.0),
            Self::V => (-point.sigma, point.alpha),
            Self::Score => (0.0, -1.0 / point.sigma),
            Self::Velocity => (point.d_alpha, point.d_sigma),
        }
    }

    /// The lower-case name (`eps`, `x0`, `v`, `score`, `velocity`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Eps => "eps",
            Self::X0 => "x0",
            Self::V => "v",
            Self::Score => "score",
            Self::Velocity => "velocity",
        }
    }
}

impl fmt::Display for Prediction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Prediction {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            format!("unknown prediction '{s}' (expected eps, x0, v, score, velocity)")
        })
    }
}

/// Coefficients `(c_x, c_pred)` such that `to = c_x x_t + c_pred from` on the path at `point`.
///
/// # Errors
/// [`CoreError::Degenerate`] where `from` and `x_t` do not determine `(x0, eps)` (for
/// example `from = X0` at `sigma = 0`, where `x_t` already equals `x0` and `eps` is lost),
/// and where a coefficient is not finite (`Score` at `sigma = 0`).
pub fn conversion(from: Prediction, to: Prediction, point: &PathPoint) -> Result<(f64, f64)> {
    if from == to {
        return Ok((0.0, 1.0));
    }
    let (a, b) = from.coefficients(point);
    let (alpha, sigma) = (point.alpha, point.sigma);
    // [alpha sigma; a b] [x0; eps] = [x_t; pred].
    let det = alpha * b - sigma * a;
    // Relative guard: a determinant this small leaves x0 or eps undetermined.
    let scale = (alpha.abs() + sigma.abs()) * (a.abs() + b.abs());
    let determined = det.abs() > 1e-12 * scale; // false for NaN too
    if !determined {
        return Err(CoreError::Degenerate { what: "solve for (x0, eps) from this prediction" });
    }
    // x0 = (b x_t - sigma pred)/det,  eps = (alpha pred - a x_t)/det.
    let (a2, b2) = to.coefficients(point);
    let c_x = (a2 * b - b2 * a) / det;
    let c_pred = (b2 * alpha - a2 * sigma) / det;
    if c_x.is_finite() && c_pred.is_finite() {
        Ok((c_x, c_pred))
    } else {
        Err(CoreError::Degenerate { what: "convert between these predictions" })
    }
}

/// Scalar conversion: `to = c_x x_t + c_pred prediction`.
///
/// # Errors
/// As [`conversion`].
pub fn convert(
    from: Prediction,
    to: Prediction,
    prediction: f64,
    x_t: f64,
    point: &PathPoint,
) -> Result<f64> {
    let (c_x, c_pred) = conversion(from, to, point)?;
    Ok(c_x * x_t + c_pred * prediction)
}

/// Tensor conversion with one noise level for the whole batch.
///
/// # Shapes
/// `prediction` and `x_t` of the same shape; the result has it too.
///
/// # Errors
/// As [`conversion`].
pub fn convert_tensor<const D: usize>(
    from: Prediction,
    to: Prediction,
    prediction: Tensor<D>,
    x_t: Tensor<D>,
    point: &PathPoint,
) -> Result<Tensor<D>> {
    let (c_x, c_pred) = conversion(from, to, point)?;
    Ok(x_t.mul_scalar(c_x) + prediction.mul_scalar(c_pred))
}

/// The VE view of a VP point: `sigma_ve = sigma / alpha` (and `x_ve = x / alpha`)
/// [KARRAS22, Eq. 12 with s(t) = alpha].
pub fn ve_sigma(alpha: f64, sigma: f64) -> f64 {
    sigma / alpha
}

/// EDM preconditioning: the network `F` sees `c_in x` and `c_noise`, and the denoiser is
/// `D(x; sigma) = c_skip x + c_out F(c_in x; c_noise)` [KARRAS22, Table 1, Eq. 7].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawEdmPreconditioning")]
pub struct EdmPreconditioning {
    sigma_data: f64,
}

/// [`EdmPreconditioning`]'s field as read from JSON.
#[derive(Deserialize)]
struct RawEdmPreconditioning {
    sigma_data: f64,
}

impl TryFrom<RawEdmPreconditioning> for EdmPreconditioning {
    type Error = CoreError;
    fn try_from(raw: RawEdmPreconditioning) -> Result<Self> {
        Self::new(raw.sigma_data)
    }
}

/// The four scalings of [`EdmPreconditioning`] at one noise level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdmScalings {
    /// `sigma_data^2 / (sigma^2 + sigma_data^2)`.
    pub c_skip: f64,
    /// `sigma sigma_data / sqrt(sigma^2 + sigma_data^2)`.
    pub c_out: f64,
    /// `1 / sqrt(sigma^2 + sigma_data^2)`.
    pub c_in: f64,
    /// `ln(sigma) / 4`.
    pub c_noise: f64,
}

impl EdmPreconditioning {
    /// Preconditioning for data of standard deviation `sigma_data` (EDM uses 0.5 for images
    /// in `[-1, 1]` [KARRAS22, Table 1]).
    ///
    /// # Errors
    /// `sigma_data` not positive and finite.
    pub fn new(sigma_data: f64) -> Result<Self> {
        positive("sigma_data", sigma_data)?;
        // A subnormal sigma_data would make c_in = 1/sigma_data overflow at sigma = 0.
        if !sigma_data.is_normal() {
            return Err(CoreError::OutOfRange {
                name: "sigma_data",
                value: sigma_data,
                range: "[2.2e-308, inf)",
            });
        }
        Ok(Self { sigma_data })
    }

    /// `sigma_data`.
    pub fn sigma_data(&self) -> f64 {
        self.sigma_data
    }

    /// The scalings at noise level `sigma` [KARRAS22, Table 1].
    ///
    /// # Errors
    /// `sigma` negative or not finite. At `sigma = 0`, `c_noise` is `-inf`: the network is
    /// never called there because `c_out = 0`.
    pub fn scalings(&self, sigma: f64) -> Result<EdmScalings> {
        crate::validate::non_negative("sigma", sigma)?;
        // hypot instead of sqrt(sigma^2 + sigma_data^2): no overflow for huge sigma.
        let norm = sigma.hypot(self.sigma_data);
        Ok(EdmScalings {
            c_skip: (self.sigma_data / norm).powi(2),
            c_out: sigma / norm * self.sigma_data,
            c_in: 1.0 / norm,
            c_noise: sigma.ln() / 4.0,
        })
    }
}
