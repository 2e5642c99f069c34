//! BLIP's three pre-training objectives [LI22, Sec. 3.2], as functions of features and
//! logits: image-text contrastive (ITC) with momentum soft targets and queues, the
//! image-text matching (ITM) hard-negative draw, and the language-modelling (LM) loss with
//! label smoothing.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use stoke_contrastive::blip::{hard_negatives, soft_targets};
//!
//! let device = Device::flex();
//! let sim = Tensor::<2>::random([3, 5], Distribution::Normal(0.0, 1.0), &device);
//! let positives = stoke_contrastive::blip::positive_targets(3, None, &[-1, -1], &device)?;
//! let targets = soft_targets(sim, positives, 0.4)?;
//! let rows: Vec<f32> = targets.sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
//! assert!(rows.iter().all(|s| (s - 1.0).abs() < 1e-5));
//! // One hard negative per row, never the row's own pair.
//! let negatives = hard_negatives(&[0.0; 9], 3, None, &[0.5; 3])?;
//! assert!(negatives.iter().enumerate().all(|(i, &j)| i != j));
//! # Ok::<(), stoke_contrastive::ContrastiveError>(())
//! ```

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use stoke_core::validate;

use crate::error::{ContrastiveError, Result, check_shape};

/// The ITC targets of a batch against `batch + queue` candidates (the batch's momentum
/// features, then the queue's). Without `ids`, BLIP's pre-training: row `i`'s one positive
/// is its own pair. With `ids` (equal ids mark identical captions, stable across steps),
/// BLIP's retrieval fine-tuning: row `i` spreads its mass evenly over every candidate of
/// its id, in the batch or in the queue (`queue_ids`, negative for a row that holds none).
///
/// # Shapes
/// -> `[batch, batch + queue_ids.len()]`.
///
/// # Errors
/// A zero batch; `ids` of another length than the batch.
pub fn positive_targets(
    batch: usize,
    ids: Option<&[usize]>,
    queue_ids: &[i64],
    device: &Device,
) -> Result<Tensor<2>> {
    validate::size("batch", batch)?;
    let candidates = batch + queue_ids.len();
    let mut values = vec![0f32; batch * candidates];
    for i in 0..batch {
        let row = &mut values[i * candidates..(i + 1) * candidates];
        match ids {
            None => row[i] = 1.0,
            Some(ids) => {
                validate::same_length("ids", batch, ids.len())?;
                let id = ids[i] as i64;
                let batch_ids = ids.iter().map(|&j| j as i64);
                let all: Vec<bool> =
                    batch_ids.chain(queue_ids.iter().copied()).map(|j| j == id).collect();
                let n = all.iter().filter(|&&same| same).count() as f32;
                for (value, _) in row.iter_mut().zip(&all).filter(|(_, same)| **same) {
                    *value = 1.0 / n;
                }
            }
        }
    }
    Ok(Tensor::from_data(TensorData::new(values, [batch, candidates]), device))
}

/// `alpha * softmax(sim_m) + (1 - alpha) * positives` row by row: momentum distillation's
/// soft targets [LI22, Sec. 3.2] (from ALBEF [LI21, Sec. 3.3]), detached. Each row sums to
/// one when each row of `positives` does.
///
/// # Shapes
/// `sim_m, positives: [batch, candidates]` -> `[batch, candidates]`.
///
/// # Errors
/// `alpha` outside `[0, 1]`; shapes that differ.
pub fn soft_targets(sim_m: Tensor<2>, positives: Tensor<2>, alpha: f64) -> Result<Tensor<2>> {
    validate::in_range("alpha", alpha, 0.0, 1.0, "[0, 1]")?;
    check_shape("positive targets", &sim_m.dims(), &positives.dims())?;
    Ok((softmax(sim_m.detach(), 1).mul_scalar(alpha) + positives.mul_scalar(1.0 - alpha)).detach())
}

/// Soft cross-entropy `-mean_i sum_j targets_ij log softmax(logits_i)_j`.
///
/// # Shapes
/// `logits, targets: [batch, candidates]` -> `[1]`.
pub fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    (log_softmax(logits, 1) * targets).sum().neg().div_scalar(batch as f64)
}

/// One hard negative per row of an `n x n` similarity matrix (row-major logits, query `i`
/// against candidate `j`), drawn from `softmax(row) + 1e-4` with the row's own pair (and,
/// with `groups`, every candidate of its group: an identical caption is no negative) given
/// weight zero, by inverse CDF at `uniforms[i]` in `[0, 1)` [LI22, Sec. 3.2].
///
/// # Errors
/// `logits` not `n x n`; `groups` or `uniforms` not `n` long; a non-finite logit; a row
/// whose candidates are all of its group ([`ContrastiveError::NoNegative`]).
pub fn hard_negatives(
    logits: &[f32],
    n: usize,
    groups: Option<&[usize]>,
    uniforms: &[f32],
) -> Result<Vec<usize>> {
    validate::size("batch", n)?;
    validate::same_length("similarities (n x n)", n * n, logits.len())?;
    validate::same_length("uniforms", n, uniforms.len())?;
    if let Some(groups) = groups {
        validate::same_length("groups", n, groups.len())?;
    }
    if let Some(&bad) = logits.iter().find(|v| !v.is_finite()) {
        validate::finite("similarity", f64::from(bad))?;
    }
    let excluded = |i: usize, j: usize| i == j || groups.is_some_and(|g| g[i] == g[j]);
    (0..n)
        .map(|i| {
            let row = &logits[i * n..(i + 1) * n];
            let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let total: f64 = row.iter().map(|&v| f64::from(v - top).exp()).sum();
            let weights: Vec<f64> = (0..n)
                .map(|j| {
                    if excluded(i, j) { 0.0 } else { f64::from(row[j] - top).exp() / total + 1e-4 }
                })
                .collect();
            let sum: f64 = weights.iter().sum();
            if sum <= 0.0 {
                return Err(ContrastiveError::NoNegative { row: i });
            }
            let target = f64::from(uniforms[i]).clamp(0.0, 1.0) * sum;
            let mut cumulative = 0.0;
            let mut last = None;
            for (j, &w) in weights.iter().enumerate() {
                if w <= 0.0 {
                    continue;
                }
                last = Some(j);
                cumulative += w;
                if target < cumulative {
                    return Ok(j);
                }
            }
            last.ok_or(ContrastiveError::NoNegative { row: i })
        })
        .collect()
}

/// The language-modelling loss of a decoder: position `j`'s logits score the token at
/// `j + 1`, counted when `j + 1 < lengths[b]` and `j + 1 > prompt` (the `[DEC]` token is
/// position 0, the prompt the next `prompt` tokens: BLIP's captioner does not learn the
/// prompt), each counted token's loss `(1 - eps) (-log p_y) + eps mean_c (-log p_c)`
/// (PyTorch's label smoothing, 0.1 in BLIP), averaged over the counted tokens.
///
/// # Shapes
/// `logits: [batch, seq, vocab]`, `ids`: `batch * seq` row-major, `lengths: [batch]` ->
/// `[1]`.
///
/// # Errors
/// `ids` or `lengths` that do not fit `logits`; `label_smoothing` outside `[0, 1)`; no
/// counted token.
pub fn lm_loss(
    logits: Tensor<3>,
    ids: &[i64],
    lengths: &[usize],
    prompt: usize,
    label_smoothing: f64,
) -> Result<Tensor<1>> {
    let [batch, seq, vocab] = logits.dims();
    validate::in_half_open("label_smoothing", label_smoothing, 0.0, 1.0, "[0, 1)")?;
    validate::same_length("lengths", batch, lengths.len())?;
    validate::same_length("ids", batch * seq, ids.len())?;
    validate::at_least("sequence (for a next token)", seq, 2)?;
    let device = logits.device();
    let mut targets = vec![0i64; batch * (seq - 1)];
    let mut weights = vec![0f32; batch * (seq - 1)];
    let mut counted = 0usize;
    for b in 0..batch {
        for j in 0..seq - 1 {
            let next = j + 1;
            if next < lengths[b].min(seq) && next > prompt {
                targets[b * (seq - 1) + j] = ids[b * seq + next];
                weights[b * (seq - 1) + j] = 1.0;
                counted += 1;
            }
        }
    }
    validate::size("tokens the LM loss counts", counted)?;
    let weights: Vec<f32> = weights.into_iter().map(|w| w / counted as f32).collect();
    // [batch, seq - 1, vocab]: every position that has a next token
    let log_p = log_softmax(logits.narrow(1, 0, seq - 1), 2);
    let index = Tensor::<3, Int>::from_data(TensorData::new(targets, [batch, seq - 1, 1]), &device);
    // [batch, seq - 1, 1]: log p of the target; the mean log p over the vocabulary
    let target = log_p.clone().gather(2, index);
    let uniform = log_p.sum_dim(2).div_scalar(vocab as f64);
    let token = target.mul_scalar(1.0 - label_smoothing) + uniform.mul_scalar(label_smoothing);
    let weights = Tensor::<3>::from_data(TensorData::new(weights, [batch, seq - 1, 1]), &device);
    Ok((token * weights).sum().neg())
}
