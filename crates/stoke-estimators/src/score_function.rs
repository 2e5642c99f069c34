//! Score-function (REINFORCE) estimators with baselines [WILLIAMS92; KOOL19].
//!
//! For `b ~ p_theta` and a reward `f(b)`, `grad E[f(b)] = E[(f(b) - c) grad log p_theta(b)]`
//! for any `c` independent of `b` [WILLIAMS92, Eq. 11]. Each function here returns a
//! *surrogate* whose gradient is that estimate: `mean(detach(f - c) * log p(b))`. Its value
//! is not the objective; only its gradient is meaningful.

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor};

use crate::error::{EstimatorError, Result, categorical, same_dims};

/// `log p(b)` for categorical samples `b` under `softmax(logits)`.
///
/// # Shapes
/// `logits: [batch, categories]`, `samples: [batch]` -> `[batch]`.
///
/// # Errors
/// No categories; `samples` of another length than the batch, or an index outside
/// `[0, categories)`.
pub fn log_prob_categorical(logits: Tensor<2>, samples: Tensor<1, Int>) -> Result<Tensor<1>> {
    let [batch, categories] = categorical("logits' categories", logits.dims())?;
    same_dims("samples", &[batch], &samples.dims())?;
    // An index outside the categories would make the gather read out of bounds.
    let outside =
        samples.clone().into_data().iter::<i64>().find(|&b| b < 0 || b >= categories as i64);
    if let Some(b) = outside {
        return Err(EstimatorError::OutOfRange {
            name: "sample",
            value: b as f64,
            range: "[0, categories)",
        });
    }
    // [batch] -> [batch, 1] to gather one column per row.
    let index = samples.reshape([batch, 1]);
    Ok(log_softmax(logits, 1).gather(1, index).reshape([batch]))
}

/// `log p(b)` for Bernoulli samples `b in {0, 1}` with `p = sigmoid(logits)`:
/// `b log sigmoid(l) + (1 - b) log sigmoid(-l)`.
///
/// # Shapes
/// `logits`, `samples` the same shape; so is the result.
pub fn log_prob_bernoulli<const D: usize>(logits: Tensor<D>, samples: Tensor<D>) -> Tensor<D> {
    let log_one = log_sigmoid(logits.clone());
    let log_zero = log_sigmoid(logits.neg());
    samples.clone() * log_one + samples.neg().add_scalar(1.0) * log_zero
}

/// The REINFORCE surrogate `mean(detach(reward - baseline) * log_prob)`
/// [WILLIAMS92, Eq. 11].
///
/// # Shapes
/// All `[batch]` -> `[1]`.
pub fn reinforce(log_prob: Tensor<1>, reward: Tensor<1>, baseline: Tensor<1>) -> Tensor<1> {
    ((reward - baseline).detach() * log_prob).mean()
}

/// The leave-one-out baseline for `k` samples per input: sample `i`'s baseline is the mean
/// reward of the other `k - 1` [KOOL19, Eq. 6] (RLOO); unbiased because it does not depend on
/// sample `i`.
///
/// # Shapes
/// `rewards: [k, batch]` -> `[k, batch]`.
///
/// # Errors
/// Fewer than two samples per input.
pub fn leave_one_out_baseline(rewards: Tensor<2>) -> Result<Tensor<2>> {
    let [k, _] = rewards.dims();
    if k < 2 {
        return Err(EstimatorError::TooFewSamples { got: k });
    }
    let total = rewards.clone().sum_dim(0); // [1, batch]
    Ok((total - rewards).div_scalar((k - 1) as f64))
}

/// An exponential moving average of past rewards, the classic REINFORCE baseline
/// [WILLIAMS92, Sec. 8]. It only uses past batches, so the estimate stays unbiased.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MovingAverage {
    decay: f64,
    value: Option<f64>,
}

impl MovingAverage {
    /// A baseline with `decay` in `[0, 1)` (0.9 to 0.99 are usual).
    ///
    /// # Errors
    /// `decay` outside `[0, 1)`.
    pub fn new(decay: f64) -> Result<Self> {
        stoke_core::validate::in_half_open("decay", decay, 0.0, 1.0, "[0, 1)")?;
        Ok(Self { decay, value: None })
    }

    /// The current baseline (0 before the first update).
    pub fn value(&self) -> f64 {
        self.value.unwrap_or(0.0)
    }

    /// Folds in a batch's mean reward, after the batch used [`Self::value`].
    pub fn update(&mut self, mean_reward: f64) {
        self.value = Some(match self.value {
            None => mean_reward,
            Some(v) => self.decay * v + (1.0 - self.decay) * mean_reward,
        });
    }
}
