//! The forward (masking) process of masked diffusion on host token ids: every token of a
//! row is replaced by the mask token independently with the row's probability
//! [SAHOO24, Sec. 3.1], [NIE25, Eq. 1], except the prompt of a supervised row, which is
//! never masked [NIE25, Sec. 2.3]; and the training times, drawn independently or
//! antithetically [SAHOO24, Sec. 3.5].

use rand::{Rng, RngExt};
use stoke_core::validate;

use crate::error::{DiscreteError, Result};

/// A batch after the forward process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    /// `x_t`, row-major `[batch, seq]`.
    pub x_t: Vec<i64>,
    /// `true` where `x_t` is the mask token (and `x0` is the target).
    pub masked: Vec<bool>,
}

impl Masked {
    /// Masked positions in row `row` of `seq` tokens.
    pub fn count(&self, row: usize, seq: usize) -> usize {
        self.masked[row * seq..(row + 1) * seq].iter().filter(|&&m| m).count()
    }
}

/// Checks that `mask_id` is a vocabulary id and that the clean ids never hold it.
///
/// # Errors
/// [`DiscreteError::NoMaskToken`]; [`DiscreteError::MaskInData`].
pub fn check_clean(x0: &[i64], mask_id: i64, vocab_size: usize) -> Result<()> {
    if mask_id < 0 || mask_id as usize >= vocab_size {
        return Err(DiscreteError::NoMaskToken { mask_id, vocab_size });
    }
    match x0.iter().position(|&id| id == mask_id) {
        Some(position) => Err(DiscreteError::MaskInData { position }),
        None => Ok(()),
    }
}

/// Masks each token of row `b` with probability `p_mask[b]`, positions `< prompt[b]` never
/// (`prompt = None`: no prompt).
///
/// # Shapes
/// `x0`: `batch * seq` ids; `p_mask`, `prompt`: `batch` values.
///
/// # Errors
/// `x0.len()` not `p_mask.len()` rows; a probability outside `[0, 1]`; a prompt longer
/// than its row ([`DiscreteError::PromptLength`]); `x0` holding the mask token.
pub fn mask_tokens<R: Rng + ?Sized>(
    x0: &[i64],
    p_mask: &[f64],
    prompt: Option<&[usize]>,
    mask_id: i64,
    rng: &mut R,
) -> Result<Masked> {
    let batch = validate::size("batch", p_mask.len())?;
    validate::multiple_of("x0", x0.len(), "batch", batch)?;
    let seq = x0.len() / batch;
    if let Some(prompt) = prompt {
        validate::same_length("prompt lengths", batch, prompt.len())?;
        check_prompts(prompt, seq)?;
    }
    for &p in p_mask {
        validate::in_range("p_mask", p, 0.0, 1.0, "[0, 1]")?;
    }
    if let Some(position) = x0.iter().position(|&id| id == mask_id) {
        return Err(DiscreteError::MaskInData { position });
    }
    let mut masked = vec![false; x0.len()];
    for (b, &p) in p_mask.iter().enumerate() {
        let first = prompt.map_or(0, |prompt| prompt[b]);
        for m in &mut masked[b * seq + first..(b + 1) * seq] {
            *m = rng.random::<f64>() < p;
        }
    }
    let x_t = x0.iter().zip(&masked).map(|(&id, &m)| if m { mask_id } else { id }).collect();
    Ok(Masked { x_t, masked })
}

/// Masks exactly `n_masked[b]` tokens of row `b`, chosen uniformly among its positions
/// `>= prompt[b]` (LLaDA's likelihood estimator [NIE25, Eq. 6]).
///
/// # Errors
/// As [`mask_tokens`]; more tokens to mask than the row's answer holds
/// ([`DiscreteError::PromptLength`]).
pub fn mask_exactly<R: Rng + ?Sized>(
    x0: &[i64],
    n_masked: &[usize],
    prompt: Option<&[usize]>,
    mask_id: i64,
    rng: &mut R,
) -> Result<Masked> {
    let batch = validate::size("batch", n_masked.len())?;
    validate::multiple_of("x0", x0.len(), "batch", batch)?;
    let seq = x0.len() / batch;
    if let Some(position) = x0.iter().position(|&id| id == mask_id) {
        return Err(DiscreteError::MaskInData { position });
    }
    let mut masked = vec![false; x0.len()];
    for (b, &n) in n_masked.iter().enumerate() {
        let first = prompt.map_or(0, |prompt| prompt.get(b).copied().unwrap_or(seq));
        let answer = seq.saturating_sub(first);
        if first > seq || n > answer {
            return Err(DiscreteError::PromptLength { row: b, prompt: first + n, seq });
        }
        // A partial Fisher-Yates shuffle of the answer positions picks n of them uniformly.
        let mut positions: Vec<usize> = (first..seq).collect();
        for i in 0..n {
            let j = rng.random_range(i..positions.len());
            positions.swap(i, j);
            masked[b * seq + positions[i]] = true;
        }
    }
    let x_t = x0.iter().zip(&masked).map(|(&id, &m)| if m { mask_id } else { id }).collect();
    Ok(Masked { x_t, masked })
}

/// # Errors
/// [`DiscreteError::PromptLength`] for a prompt longer than its row.
fn check_prompts(prompt: &[usize], seq: usize) -> Result<()> {
    match prompt.iter().position(|&p| p > seq) {
        Some(row) => Err(DiscreteError::PromptLength { row, prompt: prompt[row], seq }),
        None => Ok(()),
    }
}

/// `n` training times in `[eps, 1]`: `t = (1 - eps) u + eps` with `u ~ U(0, 1)`, or, when
/// `antithetic`, `u_i = (v_i + i) / n` with `v_i ~ U(0, 1)`, one draw in each of `n` strata
/// (MDLM's low-discrepancy sampler [SAHOO24, Sec. 3.5]).
///
/// # Errors
/// `n = 0`; `eps` outside `[0, 1)`.
pub fn sample_times<R: Rng + ?Sized>(
    n: usize,
    eps: f64,
    antithetic: bool,
    rng: &mut R,
) -> Result<Vec<f64>> {
    validate::size("batch", n)?;
    validate::in_half_open("eps", eps, 0.0, 1.0, "[0, 1)")?;
    Ok((0..n)
        .map(|i| {
            let v = rng.random::<f64>();
            let u = if antithetic { (v + i as f64) / n as f64 } else { v };
            (1.0 - eps) * u + eps
        })
        .collect())
}

/// LLaDA's random-length batches [NIE25, Sec. 2.2]: with probability `rate` the whole
/// batch is cropped to a length drawn uniformly from `1..=seq` (its pre-training does this
/// to 1% of the data, `rate = 0.01`, so the model also meets sequences shorter than its
/// context); otherwise `seq`. One uniform is drawn for the coin (none at `rate = 0`, so a
/// run without crops keeps its random stream) and, when it comes up, one for the length.
///
/// # Errors
/// `seq = 0`; `rate` outside `[0, 1]`.
pub fn random_length<R: Rng + ?Sized>(seq: usize, rate: f64, rng: &mut R) -> Result<usize> {
    validate::size("seq", seq)?;
    validate::in_range("random_length", rate, 0.0, 1.0, "[0, 1]")?;
    if rate > 0.0 && rng.random::<f64>() < rate { Ok(rng.random_range(1..=seq)) } else { Ok(seq) }
}

/// The first `len` tokens of each row of `seq` (`x`: row-major `[batch, seq]`).
///
/// # Errors
/// `x` not whole rows of `seq`; `len` outside `1..=seq`.
pub fn crop_rows(x: &[i64], seq: usize, len: usize) -> Result<Vec<i64>> {
    validate::size("seq", seq)?;
    validate::multiple_of("x", x.len(), "seq", seq)?;
    validate::in_range("len", len as f64, 1.0, seq as f64, "1..=seq")?;
    Ok(x.chunks(seq).flat_map(|row| &row[..len]).copied().collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::{crop_rows, mask_exactly, mask_tokens, random_length, sample_times};

    const MASK: i64 = 4;

    proptest! {
        /// Masking only ever writes the mask token, never touches a prompt, and keeps every
        /// other token; exact masking masks exactly the count asked.
        #[test]
        fn masking_keeps_unmasked_tokens_and_prompts(
            seed in 0u64..1000, p in 0.0f64..=1.0, prompt in 0usize..6, n in 0usize..3,
        ) {
            let x0: Vec<i64> = (0..16).map(|i| 5 + (i * 7 % 11)).collect();
            let mut rng = StdRng::seed_from_u64(seed);
            let prompts = [prompt, 0];
            let out = mask_tokens(&x0, &[p, p], Some(&prompts), MASK, &mut rng).unwrap();
            for (i, (&x, &clean)) in out.x_t.iter().zip(&x0).enumerate() {
                prop_assert_eq!(out.masked[i], x == MASK);
                prop_assert!(x == clean || x == MASK);
                if i < prompt { prop_assert_eq!(x, clean); }
            }
            let exact = mask_exactly(&x0, &[n, 8 - prompt.min(8)], Some(&prompts), MASK, &mut rng).unwrap();
            prop_assert_eq!(exact.count(0, 8), n);
            prop_assert_eq!(exact.count(1, 8), 8 - prompt.min(8));
            prop_assert!(exact.masked[..prompt].iter().all(|&m| !m));
        }
    }

    #[test]
    fn antithetic_times_fall_one_per_stratum() {
        let mut rng = StdRng::seed_from_u64(3);
        let t = sample_times(8, 1e-3, true, &mut rng).unwrap();
        for (i, &t) in t.iter().enumerate() {
            let u = (t - 1e-3) / (1.0 - 1e-3);
            assert!(u >= i as f64 / 8.0 && u < (i + 1) as f64 / 8.0, "{i}: {u}");
        }
        assert!(sample_times(0, 1e-3, true, &mut rng).is_err());
        assert!(sample_times(4, 1.0, true, &mut rng).is_err());
    }

    #[test]
    fn random_lengths_crop_the_asked_share_of_batches_uniformly() {
        let mut rng = StdRng::seed_from_u64(5);
        let (n, seq) = (20_000, 8);
        let lengths: Vec<usize> =
            (0..n).map(|_| random_length(seq, 0.25, &mut rng).unwrap()).collect();
        // A crop lands on each of 1..=8 with probability 0.25 / 8 (length 8 also takes the
        // uncropped 0.75): each count within 5 standard deviations of its expectation.
        for len in 1..=seq {
            let p = 0.25 / seq as f64 + if len == seq { 0.75 } else { 0.0 };
            let count = lengths.iter().filter(|&&l| l == len).count() as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!((count - n as f64 * p).abs() < 5.0 * sd, "{len}: {count}");
        }
        assert!((0..100).all(|_| random_length(seq, 0.0, &mut rng).unwrap() == seq));
        assert!(random_length(seq, 1.5, &mut rng).is_err());
        assert!(random_length(0, 0.5, &mut rng).is_err());
        assert_eq!(crop_rows(&[1, 2, 3, 4, 5, 6], 3, 2).unwrap(), vec![1, 2, 4, 5]);
        assert!(crop_rows(&[1, 2, 3, 4, 5, 6], 3, 4).is_err());
        assert!(crop_rows(&[1, 2, 3, 4, 5], 3, 2).is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        let mut rng = StdRng::seed_from_u64(0);
        assert!(mask_tokens(&[1, MASK], &[0.5], None, MASK, &mut rng).is_err());
        assert!(mask_tokens(&[1, 2], &[1.5], None, MASK, &mut rng).is_err());
        assert!(mask_tokens(&[1, 2], &[0.5], Some(&[3]), MASK, &mut rng).is_err());
        assert!(mask_exactly(&[1, 2], &[3], None, MASK, &mut rng).is_err());
    }
}
