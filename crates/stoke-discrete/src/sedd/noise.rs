//! SEDD's noise schedules: the total noise `sigma_bar(t) = int_0^t sigma(s) ds` that the
//! forward process `p_{t|0} = exp(sigma_bar(t) Q)` has accumulated by time `t` in `[0, 1]`
//! [LOU24, Eq. 14], and its rate `sigma(t)` (`Q_t = sigma(t) Q`) [LOU24, Sec. 3.3].
//!
//! The two schedules of the reference's `noise_lib.py` [LOU24, App. C.1]:
//!
//! * geometric: `sigma_bar(t) = sigma_min^(1 - t) sigma_max^t`. Its `sigma_bar(0) =
//!   sigma_min > 0`, so `t = 0` is the data blurred by `sigma_min`, not the data itself.
//! * log-linear: `sigma_bar(t) = -ln(1 - (1 - eps) t)`, so a token survives to `t` with
//!   probability `e^{-sigma_bar} = 1 - (1 - eps) t`. This is MDLM's schedule, and the
//!   reference's default.
//!
//! ```
//! use stoke_discrete::sedd::SeddNoise;
//!
//! let noise = SeddNoise::log_linear();
//! // e^{-sigma_bar(t)} = 1 - (1 - eps) t
//! assert!(((-noise.total(0.5)).exp() - (1.0 - 0.999 * 0.5)).abs() < 1e-15);
//! assert!(SeddNoise::Geometric { sigma_min: 2.0, sigma_max: 1.0 }.validate().is_err());
//! ```

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use stoke_core::validate;

use crate::error::Result;

/// A built-in SEDD noise schedule (JSON: `{"kind": "log_linear", "eps": 0.001}`), checked by
/// [`SeddNoise::validate`] when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", remote = "Self")]
pub enum SeddNoise {
    /// `sigma_bar(t) = sigma_min^(1 - t) sigma_max^t` (the reference class's defaults are
    /// `1e-3` and `1`, its `config.yaml` has `1e-4` and `20`, the paper `1e-5` and `20`).
    Geometric {
        /// `sigma_bar(0)`.
        sigma_min: f64,
        /// `sigma_bar(1)`.
        sigma_max: f64,
    },
    /// `sigma_bar(t) = -ln(1 - (1 - eps) t)` (the reference's `eps = 1e-3`).
    LogLinear {
        /// The probability `e^{-sigma_bar(1)}` that a token is still clean at `t = 1`.
        eps: f64,
    },
}

impl Serialize for SeddNoise {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        // The derived (remote) serializer, as is.
        Self::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for SeddNoise {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        // The derived (remote) deserializer, then the checks.
        let noise = Self::deserialize(deserializer)?;
        noise.validate().map_err(serde::de::Error::custom)?;
        Ok(noise)
    }
}

impl SeddNoise {
    /// The reference's default: log-linear with `eps = 1e-3`.
    pub fn log_linear() -> Self {
        Self::LogLinear { eps: 1e-3 }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// Geometric: `sigma_min` not positive and finite, `sigma_max <= sigma_min`, or
    /// `sigma_max` not finite. Log-linear: `eps` outside `(0, 1)` (at `eps = 0` the total
    /// noise at `t = 1` is infinite).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Geometric { sigma_min, sigma_max } => {
                validate::positive("sigma_min", sigma_min)?;
                validate::finite("sigma_max", sigma_max)?;
                validate::ordered("sigma_min", sigma_min, "sigma_max", sigma_max)?;
            }
            Self::LogLinear { eps } => {
                validate::in_range("eps", eps, f64::MIN_POSITIVE, 1.0 - 1e-12, "(0, 1)")?;
            }
        }
        Ok(())
    }

    /// The total noise `sigma_bar(t)` for `t` in `[0, 1]` [LOU24, App. C.1].
    pub fn total(&self, t: f64) -> f64 {
        match *self {
            Self::Geometric { sigma_min, sigma_max } => sigma_min.powf(1.0 - t) * sigma_max.powf(t),
            // ln_1p keeps the digits of a small (1 - eps) t.
            Self::LogLinear { eps } => -(-(1.0 - eps) * t).ln_1p(),
        }
    }

    /// The noise rate `sigma(t) = d sigma_bar / dt` [LOU24, Sec. 3.3].
    pub fn rate(&self, t: f64) -> f64 {
        match *self {
            Self::Geometric { sigma_min, sigma_max } => {
                self.total(t) * (sigma_max.ln() - sigma_min.ln())
            }
            Self::LogLinear { eps } => (1.0 - eps) / (1.0 - (1.0 - eps) * t),
        }
    }

    /// [`SeddNoise::total`] on a tensor of times.
    ///
    /// # Shapes
    /// `t: [n]` -> `[n]`.
    pub fn total_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        match *self {
            Self::Geometric { sigma_min, sigma_max } => {
                // sigma_min^(1 - t) sigma_max^t = exp(ln sigma_min + t ln(sigma_max / sigma_min))
                let log_ratio = sigma_max.ln() - sigma_min.ln();
                t.mul_scalar(log_ratio).add_scalar(sigma_min.ln()).exp()
            }
            Self::LogLinear { eps } => t.mul_scalar(-(1.0 - eps)).log1p().neg(),
        }
    }

    /// [`SeddNoise::rate`] on a tensor of times.
    ///
    /// # Shapes
    /// `t: [n]` -> `[n]`.
    pub fn rate_tensor(&self, t: Tensor<1>) -> Tensor<1> {
        match *self {
            Self::Geometric { sigma_min, sigma_max } => {
                self.total_tensor(t).mul_scalar(sigma_max.ln() - sigma_min.ln())
            }
            Self::LogLinear { eps } => {
                t.mul_scalar(-(1.0 - eps)).add_scalar(1.0).recip().mul_scalar(1.0 - eps)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};
    use proptest::prelude::*;

    use super::SeddNoise;

    fn schedules() -> [SeddNoise; 3] {
        [
            SeddNoise::log_linear(),
            SeddNoise::Geometric { sigma_min: 1e-3, sigma_max: 1.0 },
            SeddNoise::Geometric { sigma_min: 1e-4, sigma_max: 20.0 },
        ]
    }

    proptest! {
        /// The total noise increases, its rate is its derivative (a central difference),
        /// and the tensor versions agree with the scalar ones.
        #[test]
        fn rate_is_the_derivative_of_the_total(t in 0.01f64..0.99) {
            let device = Device::flex();
            for noise in schedules() {
                let h = 1e-6;
                let difference = (noise.total(t + h) - noise.total(t - h)) / (2.0 * h);
                prop_assert!(noise.rate(t) > 0.0);
                prop_assert!((difference - noise.rate(t)).abs() <= 1e-6 * noise.rate(t));
                let tensor = Tensor::<1>::from_floats([t as f32], &device);
                let total = noise.total_tensor(tensor.clone()).into_scalar::<f64>();
                let rate = noise.rate_tensor(tensor).into_scalar::<f64>();
                let (total_f32, rate_f32) = (noise.total(f64::from(t as f32)), noise.rate(f64::from(t as f32)));
                prop_assert!((total - total_f32).abs() <= 1e-5 * total_f32.max(1e-3), "{total} {total_f32}");
                prop_assert!((rate - rate_f32).abs() <= 1e-5 * rate_f32, "{rate} {rate_f32}");
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            SeddNoise::LogLinear { eps: 0.0 },
            SeddNoise::LogLinear { eps: 1.0 },
            SeddNoise::LogLinear { eps: f64::NAN },
            SeddNoise::Geometric { sigma_min: 0.0, sigma_max: 1.0 },
            SeddNoise::Geometric { sigma_min: 1.0, sigma_max: 1.0 },
            SeddNoise::Geometric { sigma_min: 1e-3, sigma_max: f64::INFINITY },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let json = r#"{"kind": "log_linear", "eps": 0.001}"#;
        assert_eq!(serde_json::from_str::<SeddNoise>(json).unwrap(), SeddNoise::log_linear());
        assert!(serde_json::from_str::<SeddNoise>(r#"{"kind": "log_linear", "eps": 2}"#).is_err());
        let geometric = SeddNoise::Geometric { sigma_min: 1e-4, sigma_max: 20.0 };
        let round_trip: SeddNoise =
            serde_json::from_str(&serde_json::to_string(&geometric).unwrap()).unwrap();
        assert_eq!(round_trip, geometric);
    }
}
