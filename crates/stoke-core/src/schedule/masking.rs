//! Masking schedules of absorbing-state (masked) diffusion: at time `t` each token is still
//! clean with probability `alpha_t` and has been replaced by the mask token with probability
//! `1 - alpha_t` (t = 0 is data, t = 1 is all-mask, up to `eps`) [SAHOO24, Sec. 3.1].
//!
//! The continuous-time negative ELBO of masked diffusion is
//! `int_0^1 w(t) E_q[ sum_{masked i} -log p(x0_i | x_t) ] dt` with
//! `w(t) = -alpha_t' / (1 - alpha_t) >= 0` [SAHOO24, Eq. 10], written in MDLM's code as
//! `dsigma / expm1(sigma)` with `alpha_t = exp(-sigma_t)`. For the log-linear schedule
//! (linear in `alpha`) it is exactly `1 / t`, LLaDA's weight [NIE25, Eq. 3].
//!
//! ```
//! use stoke_core::schedule::MaskingSchedule;
//!
//! let loglinear = MaskingSchedule::log_linear();
//! // alpha_t = 1 - (1 - eps) t, and the ELBO weight is 1 / t.
//! assert!((loglinear.alpha(0.25) - (1.0 - 0.999 * 0.25)).abs() < 1e-15);
//! assert!((loglinear.elbo_weight(0.25) - 4.0).abs() < 1e-12);
//! // The mask probability and its inverse.
//! let p = loglinear.mask_probability(0.6);
//! assert!((loglinear.t_from_mask_probability(p) - 0.6).abs() < 1e-12);
//! // A bad eps is an error.
//! assert!(MaskingSchedule::LogLinear { eps: 1.0 }.validate().is_err());
//! # Ok::<(), stoke_core::CoreError>(())
//! ```

use std::f64::consts::FRAC_PI_2;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::validate::{finite, in_half_open, non_negative, ordered};

/// A built-in masking schedule (JSON: `{"kind": "log_linear", "eps": 0.001}`). Read from
/// JSON through [`MaskingSchedule::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", remote = "Self")]
pub enum MaskingSchedule {
    /// MDLM's `LogLinearNoise`: `sigma_t = -ln(1 - (1 - eps) t)`, so
    /// `alpha_t = 1 - (1 - eps) t` and `w(t) = 1 / t` [SAHOO24, Sec. 3.5]; `eps = 1e-3`
    /// keeps `alpha_1 > 0`.
    LogLinear {
        /// `1 - alpha_1`'s complement: the clean probability left at `t = 1`.
        eps: f64,
    },
    /// MDLM's `LinearNoise`: total noise linear in time, `sigma_t = sigma_min + t (sigma_max -
    /// sigma_min)`, `alpha_t = exp(-sigma_t)` (MDLM's defaults `0` and `10`).
    Linear {
        /// `sigma_0`.
        sigma_min: f64,
        /// `sigma_1`.
        sigma_max: f64,
    },
    /// MDLM's `CosineNoise`: `alpha_t = eps + (1 - eps) cos(pi t / 2)`.
    Cosine {
        /// `alpha_1`.
        eps: f64,
    },
}

impl Serialize for MaskingSchedule {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        // The derived (remote) serializer, as is.
        Self::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for MaskingSchedule {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        // The derived (remote) deserializer, then the constructor's checks.
        let schedule = Self::deserialize(deserializer)?;
        schedule.validate().map_err(serde::de::Error::custom)?;
        Ok(schedule)
    }
}

/// The largest total noise a linear schedule may reach: `exp(-700)` is still a normal
/// `f64`, so `alpha_t` never rounds to zero and `w(t)` stays finite.
const MAX_SIGMA: f64 = 700.0;

impl MaskingSchedule {
    /// MDLM's default: log-linear with `eps = 1e-3`.
    pub fn log_linear() -> Self {
        Self::LogLinear { eps: 1e-3 }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// `eps` outside `[0, 1)`; `sigma_min` negative, `sigma_max <= sigma_min`, or
    /// `sigma_max > 700` (where `alpha_t` would underflow).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::LogLinear { eps } | Self::Cosine { eps } => {
                in_half_open("eps", eps, 0.0, 1.0, "[0, 1)").map(|_| ())
            }
            Self::Linear { sigma_min, sigma_max } => {
                non_negative("sigma_min", sigma_min)?;
                finite("sigma_max", sigma_max)?;
                ordered("sigma_min", sigma_min, "sigma_max", sigma_max)?;
                crate::validate::in_range("sigma_max", sigma_max, 0.0, MAX_SIGMA, "(0, 700]")
                    .map(|_| ())
            }
        }
    }

    /// The probability `alpha_t` that a token is still clean at `t` (clamped to `[0, 1]`).
    pub fn alpha(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match *self {
            Self::LogLinear { eps } => 1.0 - (1.0 - eps) * t,
            Self::Linear { sigma_min, sigma_max } => {
                (-(sigma_min + t * (sigma_max - sigma_min))).exp()
            }
            Self::Cosine { eps } => eps + (1.0 - eps) * (FRAC_PI_2 * t).cos(),
        }
    }

    /// `d alpha_t / dt` (non-positive).
    pub fn d_alpha(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match *self {
            Self::LogLinear { eps } => -(1.0 - eps),
            Self::Linear { sigma_min, sigma_max } => -(sigma_max - sigma_min) * self.alpha(t),
            Self::Cosine { eps } => -(1.0 - eps) * FRAC_PI_2 * (FRAC_PI_2 * t).sin(),
        }
    }

    /// The probability `1 - alpha_t` that a token is masked at `t`.
    pub fn mask_probability(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match *self {
            // Computed directly: 1 - alpha_t would lose digits at small t.
            Self::LogLinear { eps } => (1.0 - eps) * t,
            Self::Linear { sigma_min, sigma_max } => {
                -(-(sigma_min + t * (sigma_max - sigma_min))).exp_m1()
            }
            Self::Cosine { .. } => 1.0 - self.alpha(t),
        }
    }

    /// The ELBO weight `w(t) = -alpha_t' / (1 - alpha_t)` [SAHOO24, Eq. 10], `>= 0`, infinite
    /// where nothing is masked yet (`t = 0`, or the linear schedule with `sigma_min = 0` at
    /// `t = 0`).
    pub fn elbo_weight(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match *self {
            // (1 - eps) / ((1 - eps) t): exactly 1 / t, without the rounding of the ratio.
            Self::LogLinear { .. } => 1.0 / t,
            _ => -self.d_alpha(t) / self.mask_probability(t),
        }
    }

    /// The time at which the mask probability equals `p`, the inverse of
    /// [`MaskingSchedule::mask_probability`] (`p` clamped to the schedule's range
    /// `[1 - alpha_0, 1 - alpha_1]`).
    pub fn t_from_mask_probability(&self, p: f64) -> f64 {
        let (low, high) = (self.mask_probability(0.0), self.mask_probability(1.0));
        let p = p.clamp(low, high);
        match *self {
            Self::LogLinear { eps } => p / (1.0 - eps),
            Self::Linear { sigma_min, sigma_max } => {
                // alpha = 1 - p = exp(-sigma)  =>  sigma = -ln(1 - p)
                let sigma = -(-p).ln_1p();
                ((sigma - sigma_min) / (sigma_max - sigma_min)).clamp(0.0, 1.0)
            }
            Self::Cosine { eps } => {
                // cos(pi t / 2) = (1 - p - eps) / (1 - eps)
                let cos = ((1.0 - p - eps) / (1.0 - eps)).clamp(-1.0, 1.0);
                (cos.acos() / FRAC_PI_2).clamp(0.0, 1.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::MaskingSchedule;

    fn schedules() -> [MaskingSchedule; 4] {
        [
            MaskingSchedule::log_linear(),
            MaskingSchedule::LogLinear { eps: 0.0 },
            MaskingSchedule::Linear { sigma_min: 0.0, sigma_max: 10.0 },
            MaskingSchedule::Cosine { eps: 1e-3 },
        ]
    }

    proptest! {
        /// alpha decreases from 1 (nothing masked) and the ELBO weight is non-negative;
        /// the derivative matches a central difference; the inverse inverts.
        #[test]
        fn masking_laws(t in 0.01f64..0.99) {
            for schedule in schedules() {
                let (a, b) = (schedule.alpha(t), schedule.alpha(t + 0.005));
                prop_assert!(b < a && a <= 1.0 && b > 0.0, "{schedule:?} at {t}");
                prop_assert!((schedule.alpha(0.0) - 1.0).abs() < 1e-15);
                prop_assert!(schedule.elbo_weight(t) >= 0.0);
                let h = 1e-6;
                let numeric = (schedule.alpha(t + h) - schedule.alpha(t - h)) / (2.0 * h);
                prop_assert!((numeric - schedule.d_alpha(t)).abs() < 1e-6 * (1.0 + numeric.abs()));
                let p = schedule.mask_probability(t);
                prop_assert!((p + schedule.alpha(t) - 1.0).abs() < 1e-12);
                prop_assert!((schedule.t_from_mask_probability(p) - t).abs() < 1e-9);
                let w = -schedule.d_alpha(t) / (1.0 - schedule.alpha(t));
                prop_assert!((schedule.elbo_weight(t) - w).abs() < 1e-6 * w);
            }
        }
    }

    /// MDLM's log-linear weight `dsigma / expm1(sigma)` equals `1 / t`.
    #[test]
    fn log_linear_weight_is_mdlm_dsigma_over_expm1_sigma() {
        let eps = 1e-3;
        for t in [1e-3f64, 0.1, 0.5, 0.9, 1.0] {
            let sigma = -(-(1.0 - eps) * t).ln_1p();
            let dsigma = (1.0 - eps) / (1.0 - (1.0 - eps) * t);
            let mdlm = dsigma / sigma.exp_m1();
            let ours = MaskingSchedule::LogLinear { eps }.elbo_weight(t);
            assert!((mdlm - ours).abs() < 1e-9 * ours, "t = {t}: {mdlm} vs {ours}");
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            MaskingSchedule::LogLinear { eps: -0.1 },
            MaskingSchedule::LogLinear { eps: f64::NAN },
            MaskingSchedule::Cosine { eps: 1.0 },
            MaskingSchedule::Linear { sigma_min: 1.0, sigma_max: 1.0 },
            MaskingSchedule::Linear { sigma_min: -1.0, sigma_max: 1.0 },
            MaskingSchedule::Linear { sigma_min: 0.0, sigma_max: 1e4 },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let json = r#"{"kind": "cosine", "eps": 2.0}"#;
        assert!(serde_json::from_str::<MaskingSchedule>(json).is_err());
        let json = r#"{"kind": "log_linear", "eps": 0.001}"#;
        assert_eq!(
            serde_json::from_str::<MaskingSchedule>(json).unwrap(),
            MaskingSchedule::log_linear()
        );
    }
}
