//! Monte-Carlo bounds on the negative log-likelihood of masked diffusion, with the standard
//! error of the estimate, and their conversion to bits.
//!
//! * [`Estimator::Count`]: LLaDA's estimator [NIE25, Eq. 6]: draw a number of masked tokens
//!   `l` uniformly in `1..=L`, mask exactly `l` of the `L` positions, and score
//!   `(L / l) sum_{masked} -log p(x0_i | x_t)`. Across the `n` draws of one sequence the
//!   counts are stratified as in LLaDA's `get_log_likelihood.py`: for one `k ~ U{1..L}`,
//!   draw `j` masks `((round(k + j L / n) - 1) mod L) + 1` tokens (rounding half to even),
//!   so the counts are spread evenly round `1..=L`.
//! * [`Estimator::Time`]: MDLM's continuous-time bound [SAHOO24, Eq. 10] with antithetic
//!   times: `w(t) sum_{masked} -log p(x0_i | x_t)`, `t` one per stratum of `[eps, 1]`.
//!
//! Each draw of either is an unbiased estimate of the same bound (for the log-linear
//! schedule); the report averages `n_draws` draws per sequence and gives the standard error
//! of that average over the draws.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use stoke_core::schedule::MaskingSchedule;
use stoke_core::validate;

use crate::denoiser::Denoiser;
use crate::error::Result;
use crate::forward::{mask_exactly, mask_tokens, sample_times};
use crate::subs::subs_probs_host;

/// A built-in estimator of the masked-diffusion bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// LLaDA's exact-count estimator with stratified counts.
    Count,
    /// MDLM's time-weighted estimator with antithetic times.
    Time {
        /// The training schedule.
        schedule: MaskingSchedule,
        /// The smallest time.
        eps: f64,
    },
}

/// A bound in nats with its Monte-Carlo standard error, and the units it covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// The estimated negative log-likelihood summed over every scored token, in nats.
    pub nats: f64,
    /// Its Monte-Carlo standard error, in nats.
    pub nats_stderr: f64,
    /// Tokens scored.
    pub tokens: usize,
}

impl Bound {
    /// Bits per token.
    pub fn bits_per_token(&self) -> f64 {
        self.nats / std::f64::consts::LN_2 / self.tokens as f64
    }

    /// Bits per character of text that took `chars` characters.
    pub fn bits_per_char(&self, chars: usize) -> f64 {
        self.nats / std::f64::consts::LN_2 / chars as f64
    }

    /// The standard error of [`Bound::bits_per_char`].
    pub fn bits_per_char_stderr(&self, chars: usize) -> f64 {
        self.nats_stderr / std::f64::consts::LN_2 / chars as f64
    }
}

/// The bound on `-log p(x0)` summed over `batch` rows of `seq` tokens, `n_draws` draws each
/// (see the module docs). Rows are scored in batches as given.
///
/// # Errors
/// A zero `n_draws` (or one: a standard error needs two); ids or the mask token the
/// denoiser refuses; a network error.
pub fn masked_bound<R: Rng + ?Sized>(
    denoiser: &impl Denoiser,
    x0: &[i64],
    [batch, seq]: [usize; 2],
    mask_id: i64,
    estimator: &Estimator,
    n_draws: usize,
    rng: &mut R,
) -> Result<Bound> {
    validate::at_least("n_draws", n_draws, 2)?;
    validate::size("batch", batch)?;
    validate::size("seq", seq)?;
    validate::same_length("x0", batch * seq, x0.len())?;
    crate::forward::check_clean(x0, mask_id, denoiser.vocab_size())?;
    let counts: Vec<Vec<usize>> =
        (0..batch).map(|_| llada_counts(rng.random_range(1..=seq), n_draws, seq)).collect();
    // draws[d] = the draw-d estimate summed over all rows
    let mut draws = vec![0.0; n_draws];
    let mut times = Vec::new();
    if let Estimator::Time { eps, .. } = estimator {
        for _ in 0..batch {
            times.push(sample_times(n_draws, *eps, true, rng)?);
        }
    }
    for (d, total) in draws.iter_mut().enumerate() {
        let (masked, weight, t) = match estimator {
            Estimator::Count => {
                let counts: Vec<usize> = counts.iter().map(|row| row[d]).collect();
                let masked = mask_exactly(x0, &counts, None, mask_id, rng)?;
                let weight: Vec<f64> = counts.iter().map(|&l| seq as f64 / l as f64).collect();
                (masked, weight, vec![1.0; batch])
            }
            Estimator::Time { schedule, .. } => {
                let t: Vec<f64> = times.iter().map(|row| row[d]).collect();
                let p: Vec<f64> = t.iter().map(|&t| schedule.mask_probability(t)).collect();
                let masked = mask_tokens(x0, &p, None, mask_id, rng)?;
                let weight = t.iter().map(|&t| schedule.elbo_weight(t)).collect();
                (masked, weight, t)
            }
        };
        let vocab = denoiser.vocab_size();
        let probs = subs_probs_host(
            &denoiser.logits(&masked.x_t, [batch, seq], &t)?,
            &masked.x_t,
            vocab,
            mask_id,
        );
        for (i, &m) in masked.masked.iter().enumerate() {
            if m {
                let p = probs[i * vocab + x0[i] as usize];
                *total += weight[i / seq] * -p.max(f64::MIN_POSITIVE).ln();
            }
        }
    }
    let (mean, stderr) = mean_and_stderr(&draws);
    Ok(Bound { nats: mean, nats_stderr: stderr, tokens: batch * seq })
}

/// The masked counts of `n` stratified draws on a sequence of `seq` tokens from the start
/// `k` in `1..=seq`: `((round(k + j seq / n) - 1) mod seq) + 1` for `j = 0..n`, rounding half
/// to even (LLaDA's `forward_process` in `get_log_likelihood.py`).
pub fn llada_counts(k: usize, n: usize, seq: usize) -> Vec<usize> {
    (0..n)
        .map(|j| {
            let x = (k as f64 + j as f64 * seq as f64 / n as f64).round_ties_even() as usize;
            (x + seq - 1) % seq + 1
        })
        .collect()
}

/// The mean of `values` and its standard error `sd / sqrt(n)` (the sample standard
/// deviation, `n - 1` in the denominator).
pub fn mean_and_stderr(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (variance / n).sqrt())
}

/// The autoregressive model's exact negative log-likelihood of `targets` where `valid`, in
/// nats, from its logits (row-major `[batch, seq, vocab]`), with no Monte-Carlo error.
pub fn exact_nll(logits: &[f32], targets: &[i64], valid: &[bool], vocab: usize) -> Bound {
    let mut nats = 0.0;
    let mut tokens = 0;
    for (i, (&target, &v)) in targets.iter().zip(valid).enumerate() {
        if !v {
            continue;
        }
        let row = &logits[i * vocab..(i + 1) * vocab];
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &l| m.max(f64::from(l)));
        let lse = max + row.iter().map(|&l| (f64::from(l) - max).exp()).sum::<f64>().ln();
        nats += lse - f64::from(row[target as usize]);
        tokens += 1;
    }
    Bound { nats, nats_stderr: 0.0, tokens }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use stoke_core::schedule::MaskingSchedule;

    use super::{Estimator, llada_counts, masked_bound};
    use crate::denoiser::Denoiser;
    use crate::error::Result;

    /// A denoiser whose SUBS prediction is uniform over the `V - 1` non-mask tokens: every
    /// estimator's bound is then exactly `L ln(V - 1)` per sequence, with zero variance
    /// for the count estimator (each draw scores `(L / l) l ln(V - 1)`).
    struct Uniform;

    impl Denoiser for Uniform {
        fn vocab_size(&self) -> usize {
            6
        }
        fn context(&self) -> usize {
            16
        }
        fn time_conditioned(&self) -> bool {
            false
        }
        fn logits(&self, x_t: &[i64], _: [usize; 2], _: &[f64]) -> Result<Vec<f32>> {
            Ok(vec![0.0; x_t.len() * 6])
        }
    }

    #[test]
    fn a_uniform_model_scores_its_entropy() {
        let x0 = [0, 1, 2, 3, 5, 0, 1, 2, 3, 5, 5, 5];
        let mut rng = StdRng::seed_from_u64(0);
        let exact = 12.0 * 5f64.ln();
        let count = masked_bound(&Uniform, &x0, [2, 6], 4, &Estimator::Count, 8, &mut rng).unwrap();
        assert!((count.nats - exact).abs() < 1e-9 && count.nats_stderr < 1e-9, "{count:?}");
        let time = Estimator::Time { schedule: MaskingSchedule::log_linear(), eps: 1e-3 };
        let bound = masked_bound(&Uniform, &x0, [2, 6], 4, &time, 400, &mut rng).unwrap();
        assert!((bound.nats - exact).abs() < 4.0 * bound.nats_stderr, "{bound:?} vs {exact}");
        assert!((bound.bits_per_token() - 5f64.log2()).abs() < 0.2);
        assert!(masked_bound(&Uniform, &x0, [2, 6], 4, &Estimator::Count, 1, &mut rng).is_err());
        assert!(
            masked_bound(&Uniform, &[4, 1], [1, 2], 4, &Estimator::Count, 2, &mut rng).is_err()
        );
    }

    #[test]
    fn stratified_counts_cover_the_range() {
        let mut counts = llada_counts(3, 8, 8);
        counts.sort_unstable();
        assert_eq!(counts, (1..=8).collect::<Vec<_>>());
        assert!((1..=5).all(|k| llada_counts(k, 7, 5).iter().all(|l| (1..=5).contains(l))));
    }
}
