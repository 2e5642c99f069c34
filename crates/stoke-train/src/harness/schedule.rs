//! Optimizers and learning-rate schedules as data: each trainer's pair is recorded in the
//! run's `config.json` (under `trainer`), so a run says exactly how it was optimised.

use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use serde::{Deserialize, Serialize};
use stoke_core::validate::{in_range, non_negative, positive};

use crate::error::Result;

/// An optimizer with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Adam [KINGMA15, Alg. 1].
    Adam {
        /// `beta_1`.
        beta_1: f64,
        /// `beta_2`.
        beta_2: f64,
        /// `epsilon` (PyTorch's default 1e-8; Burn's is 1e-5).
        epsilon: f64,
    },
    /// AdamW, Adam with decoupled weight decay [LOSHCHILOV19, Alg. 2].
    AdamW {
        /// `beta_1`.
        beta_1: f64,
        /// `beta_2`.
        beta_2: f64,
        /// `epsilon`.
        epsilon: f64,
        /// The decoupled weight decay.
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults (`epsilon = 1e-8`), so the PyTorch twins match.
    pub fn adam() -> Self {
        Self::Adam { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8 }
    }

    /// AdamW with Burn's betas and epsilon and `weight_decay`.
    pub fn adam_w(weight_decay: f64) -> Self {
        Self::AdamW { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-5, weight_decay }
    }

    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// Betas outside `[0, 1)`, a non-positive epsilon, a negative weight decay.
    pub fn validate(&self) -> Result<()> {
        let (beta_1, beta_2, epsilon) = match *self {
            Self::Adam { beta_1, beta_2, epsilon }
            | Self::AdamW { beta_1, beta_2, epsilon, .. } => (beta_1, beta_2, epsilon),
        };
        in_range("beta_1", beta_1, 0.0, 1.0 - f64::EPSILON, "[0, 1)")?;
        in_range("beta_2", beta_2, 0.0, 1.0 - f64::EPSILON, "[0, 1)")?;
        positive("epsilon", epsilon)?;
        if let Self::AdamW { weight_decay, .. } = *self {
            non_negative("weight_decay", weight_decay)?;
        }
        Ok(())
    }

    /// The Burn optimizer.
    pub fn init(&self) -> ModuleOptimizer {
        match *self {
            Self::Adam { beta_1, beta_2, epsilon } => AdamConfig::new()
                .with_beta_1(beta_1 as f32)
                .with_beta_2(beta_2 as f32)
                .with_epsilon(epsilon as f32)
                .init(),
            Self::AdamW { beta_1, beta_2, epsilon, weight_decay } => AdamWConfig::new()
                .with_beta_1(beta_1 as f32)
                .with_beta_2(beta_2 as f32)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(weight_decay as f32)
                .init(),
        }
    }
}

/// How the learning rate moves from its peak over a run of `steps` steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The peak throughout.
    Constant,
    /// Cosine decay from the peak to `peak * min_fraction` [LOSHCHILOV17, Eq. 5].
    Cosine {
        /// The final rate as a fraction of the peak.
        min_fraction: f64,
    },
    /// A linear warm-up to the peak over `warmup_steps`, then cosine decay to
    /// `peak * min_fraction` over the rest.
    WarmupCosine {
        /// Steps of the warm-up.
        warmup_steps: usize,
        /// The final rate as a fraction of the peak.
        min_fraction: f64,
    },
}

impl LrSchedule {
    /// Checks the parameters.
    ///
    /// # Errors
    /// A `min_fraction` outside `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if let Self::Cosine { min_fraction } | Self::WarmupCosine { min_fraction, .. } = *self {
            in_range("min_lr_fraction", min_fraction, 0.0, 1.0, "[0, 1]")?;
        }
        Ok(())
    }

    /// The rate at `step` (0-based) of `steps`, for the peak `peak`.
    pub fn at(&self, peak: f64, step: usize, steps: usize) -> f64 {
        match *self {
            Self::Constant => peak,
            Self::Cosine { min_fraction } => {
                cosine_decay(peak, peak * min_fraction, step as f64 / steps.max(1) as f64)
            }
            Self::WarmupCosine { warmup_steps, min_fraction } => {
                if step < warmup_steps {
                    return peak * (step + 1) as f64 / warmup_steps as f64;
                }
                let progress =
                    (step - warmup_steps) as f64 / steps.saturating_sub(warmup_steps).max(1) as f64;
                cosine_decay(peak, peak * min_fraction, progress)
            }
        }
    }
}

/// Cosine decay from `peak` to `floor` as `progress` runs from 0 to 1 [LOSHCHILOV17, Eq. 5].
pub fn cosine_decay(peak: f64, floor: f64, progress: f64) -> f64 {
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_start_at_the_peak_and_end_at_the_floor() {
        let cosine = LrSchedule::Cosine { min_fraction: 0.1 };
        assert!((cosine.at(1.0, 0, 10) - 1.0).abs() < 1e-12);
        assert!((cosine.at(1.0, 5, 10) - 0.55).abs() < 1e-12);
        assert!((cosine.at(1.0, 10, 10) - 0.1).abs() < 1e-12);
        let warm = LrSchedule::WarmupCosine { warmup_steps: 4, min_fraction: 0.0 };
        assert_eq!(warm.at(2.0, 0, 20), 0.5);
        assert_eq!(warm.at(2.0, 3, 20), 2.0);
        assert!((warm.at(2.0, 4, 20) - 2.0).abs() < 1e-12);
        assert!(warm.at(2.0, 20, 20).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.at(0.3, 7, 10), 0.3);
        assert!(LrSchedule::Cosine { min_fraction: 1.5 }.validate().is_err());
        assert!(OptimizerConfig::adam_w(-1.0).validate().is_err());
        assert!(OptimizerConfig::adam().validate().is_ok());
    }
}
