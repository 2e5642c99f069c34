//! Training objectives of masked diffusion: LLaDA's `1/t`-weighted cross-entropy
//! [NIE25, Eq. 3] and MDLM's Rao-Blackwellised continuous-time ELBO [SAHOO24, Eq. 10],
//! both on the SUBS parameterisation, for pre-training rows (normalised by the row length)
//! and supervised rows (prompt never masked, normalised by the answer length
//! [NIE25, Eq. 5]); and the next-token cross-entropy of the autoregressive baseline.
//!
//! Both masked objectives are `(1/B) sum_b (1/n_b) sum_{masked i} w_b (-log p(x0_i | x_t))`
//! with a per-row weight `w_b` and normaliser `n_b`: they differ only in how `t` and the
//! mask probability are drawn and in `w_b`.

use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};
use stoke_core::schedule::MaskingSchedule;
use stoke_core::validate;

use crate::error::{DiscreteError, Result};
use crate::forward::{Masked, sample_times};
use crate::subs::{subs_log_probs, target_log_probs};

/// A built-in masked-diffusion objective (JSON: `{"kind": "mdlm", ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaskedObjective {
    /// LLaDA: `t ~ U(0, 1)`, mask probability `p = (1 - eps) t + eps`, weight `1 / p`
    /// [NIE25, Eq. 3] (`eps = 1e-3` in its guidelines).
    Llada {
        /// The smallest mask probability.
        eps: f64,
    },
    /// MDLM: `t` in `[eps, 1]` (antithetic by default), mask probability `1 - alpha_t`,
    /// weight `-alpha_t' / (1 - alpha_t)` [SAHOO24, Eq. 10] (`1 / t` for the log-linear
    /// schedule).
    Mdlm {
        /// The masking schedule.
        schedule: MaskingSchedule,
        /// The smallest training time (MDLM's `sampling_eps`, `1e-3`).
        eps: f64,
        /// Low-discrepancy times, one per stratum.
        antithetic: bool,
    },
}

/// The times, mask probabilities and loss weights drawn for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Corruption {
    /// `t` per row.
    pub t: Vec<f64>,
    /// The probability that each token of the row is masked.
    pub p_mask: Vec<f64>,
    /// The weight `w_b` of the row's masked cross-entropies.
    pub weight: Vec<f64>,
}

impl MaskedObjective {
    /// LLaDA's objective with `eps = 1e-3`.
    pub fn llada() -> Self {
        Self::Llada { eps: 1e-3 }
    }

    /// MDLM's defaults: log-linear schedule, `eps = 1e-3`, antithetic times.
    pub fn mdlm() -> Self {
        Self::Mdlm { schedule: MaskingSchedule::log_linear(), eps: 1e-3, antithetic: true }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// `eps` outside `(0, 1)` (at `t = 0` the weight is infinite); a bad schedule.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Llada { eps } => {
                validate::in_range("eps", eps, f64::MIN_POSITIVE, 1.0 - 1e-9, "(0, 1)")?
            }
            Self::Mdlm { schedule, eps, .. } => {
                schedule.validate()?;
                validate::in_range("eps", eps, f64::MIN_POSITIVE, 1.0 - 1e-9, "(0, 1)")?
            }
        };
        Ok(())
    }

    /// The weight of a row whose tokens were masked with probability `p_mask` at time `t`.
    pub fn weight(&self, t: f64, p_mask: f64) -> f64 {
        match *self {
            Self::Llada { .. } => 1.0 / p_mask,
            Self::Mdlm { schedule, .. } => schedule.elbo_weight(t),
        }
    }

    /// Draws `batch` rows' times, mask probabilities and weights.
    ///
    /// # Errors
    /// As [`MaskedObjective::validate`]; `batch = 0`.
    pub fn draw<R: Rng + ?Sized>(&self, batch: usize, rng: &mut R) -> Result<Corruption> {
        self.validate()?;
        let (t, p_mask): (Vec<f64>, Vec<f64>) = match *self {
            Self::Llada { eps } => {
                let t = sample_times(batch, 0.0, false, rng)?;
                let p = t.iter().map(|&t| (1.0 - eps) * t + eps).collect();
                (t, p)
            }
            Self::Mdlm { schedule, eps, antithetic } => {
                let t = sample_times(batch, eps, antithetic, rng)?;
                let p = t.iter().map(|&t| schedule.mask_probability(t)).collect();
                (t, p)
            }
        };
        let weight = t.iter().zip(&p_mask).map(|(&t, &p)| self.weight(t, p)).collect();
        Ok(Corruption { t, p_mask, weight })
    }
}

/// How the masked cross-entropies of a row are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normaliser<'a> {
    /// By the row length (pre-training: the loss is per token).
    Row,
    /// By each row's answer length, the tokens after its prompt, padding end-of-text tokens
    /// included (LLaDA's SFT [NIE25, Eq. 5]).
    Answer(&'a [usize]),
}

/// The masked-diffusion loss `(1/B) sum_b (1/n_b) sum_{masked i} w_b (-log p(x0_i | x_t))`
/// on the SUBS log-probabilities of `logits` (see the module docs).
///
/// # Shapes
/// `logits: [batch, seq, vocab]` computed from `masked.x_t`; `x0`: `batch * seq` ids;
/// `weight`: `batch` -> `[1]`.
///
/// # Errors
/// Shapes that disagree ([`DiscreteError::Shape`]); the mask id outside the vocabulary; a
/// zero answer length.
pub fn masked_diffusion_loss(
    logits: Tensor<3>,
    x0: &[i64],
    masked: &Masked,
    weight: &[f64],
    normaliser: Normaliser<'_>,
    mask_id: i64,
) -> Result<Tensor<1>> {
    let [batch, seq, _] = logits.dims();
    check_len("weight", batch, weight.len())?;
    check_len("masked", batch * seq, masked.masked.len())?;
    let n: Vec<f64> = match normaliser {
        Normaliser::Row => vec![seq as f64; batch],
        Normaliser::Answer(lengths) => {
            check_len("answer lengths", batch, lengths.len())?;
            lengths
                .iter()
                .map(|&l| validate::size("answer length", l).map(|l| l as f64))
                .collect::<Result<_, _>>()?
        }
    };
    let position_weight: Vec<f32> = masked
        .masked
        .iter()
        .enumerate()
        .map(|(i, &m)| if m { (weight[i / seq] / n[i / seq] / batch as f64) as f32 } else { 0.0 })
        .collect();
    position_weighted_loss(logits, x0, position_weight, mask_id)
}

/// `sum_i weight_i (-log p(x0_i | x_t))` on the SUBS log-probabilities: the masked loss
/// with a weight per position (zero where nothing is masked).
///
/// # Shapes
/// `logits: [batch, seq, vocab]`, `x0`, `weight`: `batch * seq` -> `[1]`.
///
/// # Errors
/// Shapes that disagree; the mask id outside the vocabulary.
pub fn position_weighted_loss(
    logits: Tensor<3>,
    x0: &[i64],
    weight: Vec<f32>,
    mask_id: i64,
) -> Result<Tensor<1>> {
    check_len("weight", x0.len(), weight.len())?;
    let log_probs = target_log_probs(subs_log_probs(logits, mask_id)?, x0)?;
    Ok(weighted_nll(log_probs, weight))
}

/// The autoregressive baseline's loss: the mean of `-log p(x_{i+1} | x_{<=i})` over the
/// positions whose `valid` flag is set (the logits at position `i` predict `targets[i]`, the
/// input shifted by one).
///
/// # Shapes
/// `logits: [batch, seq, vocab]`, `targets`, `valid`: `batch * seq` -> `[1]`.
///
/// # Errors
/// Shapes that disagree; no valid position.
pub fn next_token_loss(logits: Tensor<3>, targets: &[i64], valid: &[bool]) -> Result<Tensor<1>> {
    let [batch, seq, _] = logits.dims();
    check_len("valid", batch * seq, valid.len())?;
    let count = validate::size("valid positions", valid.iter().filter(|&&v| v).count())?;
    let weights = valid.iter().map(|&v| if v { 1.0 / count as f32 } else { 0.0 }).collect();
    let log_probs = target_log_probs(burn::tensor::activation::log_softmax(logits, 2), targets)?;
    Ok(weighted_nll(log_probs, weights))
}

/// `sum_i weights_i (-log_probs_i)`.
///
/// # Shapes
/// `log_probs: [batch, seq]`, `weights`: `batch * seq` -> `[1]`.
fn weighted_nll(log_probs: Tensor<2>, weights: Vec<f32>) -> Tensor<1> {
    let dims = log_probs.dims();
    let device = log_probs.device();
    let weights = Tensor::<2>::from_data(TensorData::new(weights, dims), &device);
    (log_probs * weights).sum().neg()
}

/// # Errors
/// [`DiscreteError::Shape`] when `got != expected`.
fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(DiscreteError::Shape { what, expected: vec![expected], got: vec![got] })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::{MaskedObjective, Normaliser, masked_diffusion_loss, next_token_loss};
    use crate::forward::Masked;

    const MASK: i64 = 4;

    /// The loss equals its definition computed on the host: masked positions only, weighted
    /// by `w_b / n_b`, averaged over rows.
    #[test]
    fn the_loss_is_its_definition() {
        let device = Device::flex();
        let logits = Tensor::<3>::random([2, 3, 6], Distribution::Normal(0.0, 2.0), &device);
        let x0 = [1, 2, 3, 5, 0, 1];
        let masked = Masked {
            x_t: vec![MASK, 2, MASK, 5, MASK, MASK],
            masked: vec![true, false, true, false, true, true],
        };
        let weight = [2.0, 0.5];
        let host = logits.clone().into_data().iter::<f32>().collect::<Vec<f32>>();
        let nll = |pos: usize| {
            let row = &host[pos * 6..(pos + 1) * 6];
            let lse = row
                .iter()
                .enumerate()
                .filter(|&(v, _)| v != 4)
                .map(|(_, &l)| f64::from(l).exp())
                .sum::<f64>()
                .ln();
            lse - f64::from(row[x0[pos] as usize])
        };
        for (normaliser, n) in
            [(Normaliser::Row, [3.0, 3.0]), (Normaliser::Answer(&[2, 1]), [2.0, 1.0])]
        {
            let expected = (2.0 * (nll(0) + nll(2)) / n[0] + 0.5 * (nll(4) + nll(5)) / n[1]) / 2.0;
            let loss =
                masked_diffusion_loss(logits.clone(), &x0, &masked, &weight, normaliser, MASK)
                    .unwrap()
                    .into_scalar::<f64>();
            assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        }
        assert!(
            masked_diffusion_loss(logits.clone(), &x0, &masked, &[1.0], Normaliser::Row, MASK)
                .is_err()
        );
        assert!(
            masked_diffusion_loss(logits, &x0, &masked, &weight, Normaliser::Answer(&[0, 1]), MASK)
                .is_err()
        );
    }

    /// Gradients through the `-inf` mask logit are finite.
    #[test]
    fn gradients_are_finite() {
        let device = Device::flex().autodiff();
        let logits =
            Tensor::<3>::random([1, 2, 5], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let masked = Masked { x_t: vec![MASK, 1], masked: vec![true, false] };
        let loss =
            masked_diffusion_loss(logits.clone(), &[2, 1], &masked, &[1.0], Normaliser::Row, MASK)
                .unwrap();
        let grads = loss.backward();
        let grad = logits.grad(&grads).unwrap().into_data().iter::<f32>().collect::<Vec<f32>>();
        assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
        assert_eq!(grad[MASK as usize], 0.0);
        assert!(grad[5..].iter().all(|&g| g == 0.0), "an unmasked position gets no gradient");
    }

    /// LLaDA's weight is `1 / p_mask`, MDLM's log-linear weight `1 / t`; both positive.
    #[test]
    fn weights_follow_the_papers() {
        let mut rng = StdRng::seed_from_u64(0);
        let llada = MaskedObjective::llada().draw(64, &mut rng).unwrap();
        for (p, w) in llada.p_mask.iter().zip(&llada.weight) {
            assert!((w * p - 1.0).abs() < 1e-12 && *p >= 1e-3);
        }
        let mdlm = MaskedObjective::mdlm().draw(64, &mut rng).unwrap();
        for (t, w) in mdlm.t.iter().zip(&mdlm.weight) {
            assert!((w * t - 1.0).abs() < 1e-12);
        }
        assert!(MaskedObjective::Llada { eps: 0.0 }.validate().is_err());
    }

    #[test]
    fn next_token_loss_is_mean_cross_entropy() {
        let device = Device::flex();
        let logits = Tensor::<3>::zeros([1, 3, 4], &device);
        let loss = next_token_loss(logits.clone(), &[1, 2, 0], &[true, true, false]).unwrap();
        assert!((loss.into_scalar::<f64>() - 4f64.ln()).abs() < 1e-6);
        assert!(next_token_loss(logits, &[1, 2, 0], &[false; 3]).is_err());
    }
}
