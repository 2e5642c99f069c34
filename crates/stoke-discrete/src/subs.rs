//! The SUBS parameterisation of a masked-diffusion denoiser [SAHOO24, Sec. 3.2]: the mask
//! token gets probability zero ("zero masking probabilities": its logit is `-inf`), and an
//! unmasked token is carried over unchanged ("carry-over unmasking").

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::error::{DiscreteError, Result};

/// Log-probabilities of `x0` with the mask token's logit set to `-inf` before the
/// normalisation, so no position can ever predict the mask.
///
/// # Shapes
/// `logits: [batch, seq, vocab]` -> `[batch, seq, vocab]`.
///
/// # Errors
/// `mask_id` outside the vocabulary ([`DiscreteError::NoMaskToken`]).
pub fn subs_log_probs(logits: Tensor<3>, mask_id: i64) -> Result<Tensor<3>> {
    let [batch, seq, vocab] = logits.dims();
    if mask_id < 0 || mask_id as usize >= vocab {
        return Err(DiscreteError::NoMaskToken { mask_id, vocab_size: vocab });
    }
    let device = logits.device();
    let is_mask: Vec<bool> = (0..vocab).map(|v| v as i64 == mask_id).collect();
    // [vocab] -> [1, 1, vocab] -> [batch, seq, vocab]
    let is_mask = Tensor::<3, Bool>::from_data(TensorData::new(is_mask, [1, 1, vocab]), &device)
        .expand([batch, seq, vocab]);
    Ok(log_softmax(logits.mask_fill(is_mask, f32::NEG_INFINITY), 2))
}

/// The log-probability each position gives its target.
///
/// # Shapes
/// `log_probs: [batch, seq, vocab]`, `targets`: `batch * seq` ids -> `[batch, seq]`.
///
/// # Errors
/// `targets` of another length ([`DiscreteError::Shape`]).
pub fn target_log_probs(log_probs: Tensor<3>, targets: &[i64]) -> Result<Tensor<2>> {
    let [batch, seq, _] = log_probs.dims();
    if targets.len() != batch * seq {
        return Err(DiscreteError::Shape {
            what: "targets",
            expected: vec![batch * seq],
            got: vec![targets.len()],
        });
    }
    let device = log_probs.device();
    // [batch * seq] -> [batch, seq, 1]
    let index =
        Tensor::<3, Int>::from_data(TensorData::new(targets.to_vec(), [batch, seq, 1]), &device);
    Ok(log_probs.gather(2, index).reshape([batch, seq]))
}

/// SUBS probabilities on the host, for a sampler: at a masked position the softmax of the
/// logits without the mask token; at an unmasked position the one-hot of its token.
///
/// # Shapes
/// `logits`: `batch * seq * vocab` values, `x_t`: `batch * seq` ids -> the same layout
/// as `logits`.
pub fn subs_probs_host(logits: &[f32], x_t: &[i64], vocab: usize, mask_id: i64) -> Vec<f64> {
    let mut probs = vec![0.0; logits.len()];
    for (i, &x) in x_t.iter().enumerate() {
        let row = &logits[i * vocab..(i + 1) * vocab];
        let out = &mut probs[i * vocab..(i + 1) * vocab];
        if x != mask_id {
            out[x as usize] = 1.0;
            continue;
        }
        let max = row
            .iter()
            .enumerate()
            .filter(|&(v, _)| v as i64 != mask_id)
            .fold(f64::NEG_INFINITY, |m, (_, &l)| m.max(f64::from(l)));
        let mut total = 0.0;
        for (v, (&l, p)) in row.iter().zip(out.iter_mut()).enumerate() {
            if v as i64 != mask_id {
                *p = (f64::from(l) - max).exp();
                total += *p;
            }
        }
        out.iter_mut().for_each(|p| *p /= total);
    }
    probs
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::{subs_log_probs, subs_probs_host};

    /// The mask token's probability is exactly zero at every position, the rest sums to one.
    #[test]
    fn the_mask_token_is_never_predicted() {
        let device = Device::flex();
        let logits = Tensor::<3>::random([2, 3, 6], Distribution::Normal(0.0, 3.0), &device);
        let probs = subs_log_probs(logits.clone(), 4).unwrap().exp();
        let values = probs.into_data().iter::<f32>().collect::<Vec<f32>>();
        for row in values.chunks(6) {
            assert_eq!(row[4], 0.0);
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let host = logits.into_data().iter::<f32>().collect::<Vec<f32>>();
        let x_t = [4, 1, 4, 4, 0, 4];
        let probs = subs_probs_host(&host, &x_t, 6, 4);
        for (row, &x) in probs.chunks(6).zip(&x_t) {
            assert_eq!(row[4], 0.0);
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            if x != 4 {
                assert_eq!(row[x as usize], 1.0, "carry-over");
            }
        }
        assert!(subs_log_probs(Tensor::<3>::zeros([1, 1, 3], &device), 3).is_err());
    }
}
