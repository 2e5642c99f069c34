//! Block diffusion (BD3-LM) [ARRIOLA25, Sec. 3]: autoregressive over blocks of `block` tokens,
//! masked diffusion inside each block.
//!
//! * Training is vectorised over the concatenation `x_t (+) x0` of `2L` tokens under one
//!   attention mask [ARRIOLA25, Sec. 3.2]: a noisy token sees its own noisy block
//!   (block-diagonal) and the clean blocks before it (offset block-causal); a clean token
//!   sees its own and earlier clean blocks (block-causal). Both halves sit at positions
//!   `0..L`. Each block has its own mask rate `t`, drawn antithetically over the batch's
//!   blocks from a clipped range `[low, high]` [ARRIOLA25, Sec. 4]; the loss weights a
//!   masked token by `1 / t` (the log-linear schedule).
//! * Block size `L` is MDLM (one block, nothing clean to see); block size 1 with `t = 1` is
//!   the autoregressive model (each token predicted, masked, from the clean tokens before
//!   it) [ARRIOLA25, Sec. 3.1]; the tests check both.
//! * Sampling [`generate_blocks`] decodes block after block with MDLM's ancestral update
//!   inside the block, the clean prefix either recomputed (a block-causal mask over the
//!   prefix and the block) or read from a key-value cache that each finished block is
//!   committed to (one extra forward), and stops once every row has written end-of-text.

use burn::tensor::{Bool, Device, Tensor, TensorData};
use rand::{Rng, RngExt};
use stoke_core::schedule::MaskingSchedule;
use stoke_core::validate;
use stoke_nn::{KvCache, LmTransformer, Positions};

use crate::error::{DiscreteError, Result};
use crate::forward::Masked;
use crate::loss::position_weighted_loss;
use crate::sample::Generation;
use crate::subs::subs_probs_host;

/// Whether query `q` may attend key `k` over `x_t (+) x0` (`2 seq` tokens, `x_t` first):
/// row-major `[2 seq, 2 seq]`, `true` = attend [ARRIOLA25, Sec. 3.2].
///
/// # Errors
/// A zero size; `block` not dividing `seq`.
pub fn attends(seq: usize, block: usize) -> Result<Vec<bool>> {
    check_block(seq, block)?;
    let n = 2 * seq;
    let rule = |q: usize, k: usize| {
        let (q_clean, k_clean) = (q >= seq, k >= seq);
        let (q_block, k_block) = ((q % seq) / block, (k % seq) / block);
        match (q_clean, k_clean) {
            (false, false) => q_block == k_block,
            (false, true) => k_block < q_block,
            (true, true) => k_block <= q_block,
            (true, false) => false,
        }
    };
    Ok((0..n * n).map(|i| rule(i / n, i % n)).collect())
}

/// # Errors
/// A zero size; `block` not dividing `seq` ([`DiscreteError::BlockLength`]).
fn check_block(seq: usize, block: usize) -> Result<()> {
    validate::size("seq", seq)?;
    validate::size("block", block)?;
    if !seq.is_multiple_of(block) {
        return Err(DiscreteError::BlockLength { gen_length: seq, block_length: block });
    }
    Ok(())
}

/// The mask of hidden keys (`!attends`) for [`LmTransformer::logits_at`].
///
/// # Shapes
/// -> `[1, 1, 2 seq, 2 seq]`.
///
/// # Errors
/// As [`attends`].
pub fn hidden(seq: usize, block: usize, device: &Device) -> Result<Tensor<4, Bool>> {
    let hidden: Vec<bool> = attends(seq, block)?.into_iter().map(|a| !a).collect();
    Ok(Tensor::from_data(TensorData::new(hidden, [1, 1, 2 * seq, 2 * seq]), device))
}

/// The block-causal mask of hidden keys over `len` clean-then-noisy tokens (the sampler's
/// uncached input): key `k` is hidden from query `q` when its block is later.
///
/// # Shapes
/// -> `[1, 1, len, len]`.
pub fn block_causal_hidden(len: usize, block: usize, device: &Device) -> Tensor<4, Bool> {
    let hidden: Vec<bool> = (0..len * len).map(|i| (i % len) / block > (i / len) / block).collect();
    Tensor::from_data(TensorData::new(hidden, [1, 1, len, len]), device)
}

/// BD3-LM's training objective: blocks of `block` tokens, mask rates clipped to
/// `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BlockObjective {
    /// Tokens per block.
    pub block: usize,
    /// The smallest mask rate.
    pub low: f64,
    /// The largest mask rate.
    pub high: f64,
}

impl BlockObjective {
    /// Checks the parameters for rows of `seq` tokens.
    ///
    /// # Errors
    /// `block` not dividing `seq`; a range outside `(0, 1]` or with `low > high`.
    pub fn validate(&self, seq: usize) -> Result<()> {
        check_block(seq, self.block)?;
        validate::in_range("low", self.low, 1e-6, 1.0, "[1e-6, 1]")?;
        validate::in_range("high", self.high, self.low, 1.0, "[low, 1]")?;
        Ok(())
    }

    /// The mask rate of every token of `batch` rows of `seq`: one per block, antithetic
    /// over the batch's blocks, `low + (high - low) u` (BD3-LM's `_sample_t`).
    ///
    /// # Errors
    /// As [`BlockObjective::validate`].
    pub fn draw<R: Rng + ?Sized>(&self, batch: usize, seq: usize, rng: &mut R) -> Result<Vec<f64>> {
        self.validate(seq)?;
        validate::size("batch", batch)?;
        let n = batch * (seq / self.block);
        let t: Vec<f64> = (0..n)
            .map(|i| {
                let u = (rng.random::<f64>() + i as f64) / n as f64;
                self.low + (self.high - self.low) * u
            })
            .collect();
        Ok((0..batch * seq).map(|i| t[i / self.block]).collect())
    }
}

/// Masks each token with its own probability `p[i]`.
///
/// # Errors
/// Lengths that differ; a probability outside `[0, 1]`; `x0` holding the mask.
pub fn mask_positions<R: Rng + ?Sized>(
    x0: &[i64],
    p: &[f64],
    mask_id: i64,
    rng: &mut R,
) -> Result<Masked> {
    validate::same_length("p", x0.len(), p.len())?;
    if let Some(position) = x0.iter().position(|&id| id == mask_id) {
        return Err(DiscreteError::MaskInData { position });
    }
    let mut masked = Vec::with_capacity(x0.len());
    for &p in p {
        validate::in_range("p", p, 0.0, 1.0, "[0, 1]")?;
        masked.push(rng.random::<f64>() < p);
    }
    let x_t = x0.iter().zip(&masked).map(|(&id, &m)| if m { mask_id } else { id }).collect();
    Ok(Masked { x_t, masked })
}

/// The block-diffusion loss `(1 / (B L)) sum_{masked i} (1 / t_i) (-log p(x0_i | x_t, x0))`,
/// the network reading `x_t (+) x0` under [`hidden`] with both halves at positions `0..L`.
///
/// # Shapes
/// `x0`: `batch * seq` ids; `masked` from `x0`; `t`: `batch * seq` rates -> `[1]`.
///
/// # Errors
/// `block` not dividing `seq`; shapes that disagree; a conditioned network; the network's.
#[allow(clippy::too_many_arguments)]
pub fn block_diffusion_loss(
    lm: &LmTransformer,
    x0: &[i64],
    [batch, seq]: [usize; 2],
    block: usize,
    masked: &Masked,
    t: &[f64],
    mask_id: i64,
    device: &Device,
) -> Result<Tensor<1>> {
    validate::same_length("x0", batch * seq, x0.len())?;
    validate::same_length("t", batch * seq, t.len())?;
    if lm.conditioned() {
        return Err(DiscreteError::CacheNeedsTimeFreeDenoiser);
    }
    let ids: Vec<i64> = masked
        .x_t
        .chunks(seq)
        .zip(x0.chunks(seq))
        .flat_map(|(x_t, x0)| x_t.iter().chain(x0).copied())
        .collect();
    let positions = Positions { start: 0, period: Some(seq) };
    let logits = lm.logits_at(
        &ids,
        [batch, 2 * seq],
        None,
        Some(hidden(seq, block, device)?),
        positions,
        device,
    )?;
    // [batch, 2 seq, vocab] -> the noisy half [batch, seq, vocab]
    let logits = logits.narrow(1, 0, seq);
    let weight: Vec<f32> = masked
        .masked
        .iter()
        .zip(t)
        .map(|(&m, &t)| if m { (1.0 / t / (batch * seq) as f64) as f32 } else { 0.0 })
        .collect();
    position_weighted_loss(logits, x0, weight, mask_id)
}

/// The block-diffusion bound on `-log p(x0)` summed over `batch` rows of `seq` tokens:
/// `n_draws` draws, each with per-block mask rates antithetic in `[eps, 1]` (the unclipped
/// range: only that range gives a bound [ARRIOLA25, Sec. 4]) scored by the vectorised
/// network, `sum_{masked} (1 / t) (-log p(x0_i | x_t, x0))`; the mean over draws and its
/// standard error.
///
/// # Errors
/// As [`block_diffusion_loss`]; fewer than two draws; `eps` outside `(0, 1)`.
#[allow(clippy::too_many_arguments)]
pub fn block_bound<R: Rng + ?Sized>(
    lm: &LmTransformer,
    x0: &[i64],
    [batch, seq]: [usize; 2],
    block: usize,
    eps: f64,
    n_draws: usize,
    mask_id: i64,
    device: &Device,
    rng: &mut R,
) -> Result<crate::elbo::Bound> {
    validate::at_least("n_draws", n_draws, 2)?;
    validate::in_range("eps", eps, 1e-6, 1.0 - 1e-9, "[1e-6, 1)")?;
    crate::forward::check_clean(x0, mask_id, lm.vocab_size())?;
    let objective = BlockObjective { block, low: eps, high: 1.0 };
    let vocab = lm.vocab_size();
    let positions = Positions { start: 0, period: Some(seq) };
    let hidden = hidden(seq, block, device)?;
    let mut draws = Vec::with_capacity(n_draws);
    for _ in 0..n_draws {
        let t = objective.draw(batch, seq, rng)?;
        let masked = mask_positions(x0, &t, mask_id, rng)?;
        let ids: Vec<i64> = masked
            .x_t
            .chunks(seq)
            .zip(x0.chunks(seq))
            .flat_map(|(x_t, x0)| x_t.iter().chain(x0).copied())
            .collect();
        let logits =
            lm.logits_at(&ids, [batch, 2 * seq], None, Some(hidden.clone()), positions, device)?;
        // [batch, 2 seq, vocab] -> the noisy half
        let logits: Vec<f32> = logits.narrow(1, 0, seq).into_data().iter::<f32>().collect();
        let probs = subs_probs_host(&logits, &masked.x_t, vocab, mask_id);
        let total: f64 = (0..x0.len())
            .filter(|&i| masked.masked[i])
            .map(|i| -probs[i * vocab + x0[i] as usize].max(f64::MIN_POSITIVE).ln() / t[i])
            .sum();
        draws.push(total);
    }
    let (nats, nats_stderr) = crate::elbo::mean_and_stderr(&draws);
    Ok(crate::elbo::Bound { nats, nats_stderr, tokens: batch * seq })
}

/// Settings of [`generate_blocks`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BlockSampling {
    /// Tokens per block.
    pub block: usize,
    /// Blocks at most.
    pub max_blocks: usize,
    /// Ancestral steps per block.
    pub steps: usize,
    /// Read the clean prefix from a key-value cache instead of recomputing it.
    pub kv_cache: bool,
}

/// Block-by-block generation (see the module docs): `batch` rows of at most
/// `max_blocks * block` tokens; with `stop` (an end-of-text id) it stops after the first
/// block in which every row has written it. The returned rows are full blocks; a row's text
/// ends at its first `stop`.
///
/// # Errors
/// A zero size; more tokens than the context; a conditioned or causal network; the mask id
/// outside the vocabulary; the network's.
pub fn generate_blocks<R: Rng + ?Sized>(
    lm: &LmTransformer,
    batch: usize,
    sampling: &BlockSampling,
    mask_id: i64,
    stop: Option<i64>,
    device: &Device,
    rng: &mut R,
) -> Result<Generation> {
    let &BlockSampling { block, max_blocks, steps, kv_cache } = sampling;
    validate::size("batch", batch)?;
    validate::size("block", block)?;
    validate::size("max_blocks", max_blocks)?;
    validate::size("steps", steps)?;
    let vocab = lm.vocab_size();
    if mask_id < 0 || mask_id as usize >= vocab {
        return Err(DiscreteError::NoMaskToken { mask_id, vocab_size: vocab });
    }
    let total = validate::product("max_blocks * block", &[max_blocks, block])?;
    if total > lm.context() {
        return Err(DiscreteError::PromptTooLong {
            prompt: 0,
            gen_length: total,
            context: lm.context(),
        });
    }
    if lm.conditioned() || lm.causal() {
        return Err(DiscreteError::CacheNeedsTimeFreeDenoiser);
    }
    let schedule = MaskingSchedule::LogLinear { eps: 0.0 };
    let mut rows: Vec<Vec<i64>> = vec![Vec::new(); batch];
    let mut cache = KvCache::new();
    let mut nfe = 0;
    for _ in 0..max_blocks {
        let mut x = vec![mask_id; batch * block];
        let dt = 1.0 / steps as f64;
        for step in 0..=steps {
            if !x.contains(&mask_id) {
                break;
            }
            let logits = block_logits(lm, &rows, &x, block, &mut cache, kv_cache, false, device)?;
            nfe += 1;
            let probs = subs_probs_host(&logits, &x, vocab, mask_id);
            let t = 1.0 - step as f64 * dt;
            for (i, id) in x.iter_mut().enumerate() {
                let (u_reveal, u_token) = (rng.random::<f64>(), rng.random::<f64>());
                let position = &probs[i * vocab..(i + 1) * vocab];
                if *id != mask_id {
                    continue;
                }
                if step == steps {
                    // The last call fills whatever is left with its most probable token.
                    *id = (0..vocab)
                        .max_by(|&a, &b| position[a].total_cmp(&position[b]).then(b.cmp(&a)))
                        .unwrap_or(0) as i64;
                } else {
                    let (alpha_t, alpha_s) = (schedule.alpha(t), schedule.alpha(t - dt));
                    if u_reveal < ((alpha_s - alpha_t) / (1.0 - alpha_t)).clamp(0.0, 1.0) {
                        *id = inverse_cdf(position, u_token);
                    }
                }
            }
        }
        if kv_cache {
            // The finished block's keys and values join the cache.
            block_logits(lm, &rows, &x, block, &mut cache, true, true, device)?;
            nfe += 1;
        }
        for (row, new) in rows.iter_mut().zip(x.chunks(block)) {
            row.extend_from_slice(new);
        }
        if let Some(stop) = stop
            && rows.iter().all(|row| row.contains(&stop))
        {
            break;
        }
    }
    let seq = rows[0].len();
    Ok(Generation { ids: rows.concat(), seq, nfe })
}

/// The logits of the current block `x` after the clean `rows`, from the cache or by
/// recomputing the prefix under a block-causal mask.
#[allow(clippy::too_many_arguments)]
fn block_logits(
    lm: &LmTransformer,
    rows: &[Vec<i64>],
    x: &[i64],
    block: usize,
    cache: &mut KvCache,
    kv_cache: bool,
    commit: bool,
    device: &Device,
) -> Result<Vec<f32>> {
    let batch = rows.len();
    let logits = if kv_cache {
        lm.logits_cached(x, [batch, block], None, cache, commit, device)?
    } else {
        let len = rows[0].len() + block;
        let ids: Vec<i64> = rows
            .iter()
            .zip(x.chunks(block))
            .flat_map(|(r, x)| r.iter().chain(x).copied())
            .collect();
        let hidden = block_causal_hidden(len, block, device);
        // [batch, len, vocab] -> the block's [batch, block, vocab]
        lm.logits(&ids, [batch, len], None, Some(hidden), device)?.narrow(1, len - block, block)
    };
    Ok(logits.into_data().iter::<f32>().collect())
}

/// The first `v` whose cumulative probability exceeds `u`.
fn inverse_cdf(probs: &[f64], u: f64) -> i64 {
    let total: f64 = probs.iter().sum();
    let mut acc = 0.0;
    let mut last = 0;
    for (v, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            acc += p / total;
            last = v;
            if u < acc {
                return v as i64;
            }
        }
    }
    last as i64
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use stoke_nn::LmTransformerConfig;

    use super::{
        BlockObjective, BlockSampling, block_diffusion_loss, generate_blocks, mask_positions,
    };
    use crate::forward::Masked;
    use crate::loss::{Normaliser, masked_diffusion_loss};
    use crate::subs::{subs_log_probs, target_log_probs};

    const MASK: i64 = 4;

    fn lm(context: usize) -> stoke_nn::LmTransformer {
        LmTransformerConfig::new(11, context, 16, 2, 2).init(&Device::flex()).unwrap()
    }

    fn x0() -> Vec<i64> {
        vec![5, 6, 7, 8, 9, 10, 5, 7, 10, 9, 8, 6, 6, 6, 5, 9]
    }

    /// With one block of the whole row the loss is MDLM's on the same masks and weights.
    #[test]
    fn block_size_l_is_mdlm() {
        let device = Device::flex();
        let lm = lm(16);
        let x0 = x0();
        let mut rng = StdRng::seed_from_u64(0);
        let t = BlockObjective { block: 8, low: 0.3, high: 0.9 }.draw(2, 8, &mut rng).unwrap();
        let masked = mask_positions(&x0, &t, MASK, &mut rng).unwrap();
        let bd3 = block_diffusion_loss(&lm, &x0, [2, 8], 8, &masked, &t, MASK, &device).unwrap();
        let logits = lm.logits(&masked.x_t, [2, 8], None, None, &device).unwrap();
        let weight = [1.0 / t[0], 1.0 / t[8]];
        let mdlm =
            masked_diffusion_loss(logits, &x0, &masked, &weight, Normaliser::Row, MASK).unwrap();
        let (a, b) = (bd3.into_scalar::<f64>(), mdlm.into_scalar::<f64>());
        assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }

    /// With blocks of one token, all masked (`t = 1`), the loss is the autoregressive one:
    /// each token predicted from the clean tokens before it, the network run once per
    /// position on `x0_0 .. x0_(i-1), <mask>` under a causal mask.
    #[test]
    fn block_size_1_is_autoregressive() {
        let device = Device::flex();
        let lm = lm(16);
        let (seq, x0) = (8, x0()[..8].to_vec());
        let t = vec![1.0; seq];
        let masked = Masked { x_t: vec![MASK; seq], masked: vec![true; seq] };
        let bd3 = block_diffusion_loss(&lm, &x0, [1, seq], 1, &masked, &t, MASK, &device)
            .unwrap()
            .into_scalar::<f64>();
        let mut total = 0.0;
        for i in 0..seq {
            let mut ids = x0[..i].to_vec();
            ids.push(MASK);
            let n = i + 1;
            let causal: Vec<bool> = (0..n * n).map(|k| k % n > k / n).collect();
            let hidden = Tensor::from_data(TensorData::new(causal, [1, 1, n, n]), &device);
            let logits =
                lm.logits(&ids, [1, n], None, Some(hidden), &device).unwrap().narrow(1, i, 1);
            let log_p = target_log_probs(subs_log_probs(logits, MASK).unwrap(), &[x0[i]]).unwrap();
            total -= log_p.into_scalar::<f64>();
        }
        let ar = total / seq as f64;
        assert!((bd3 - ar).abs() < 1e-5 * ar, "{bd3} vs {ar}");
    }

    /// Sampling with the key-value cache gives the same tokens as recomputing the prefix,
    /// never leaves a mask, and stops at end-of-text.
    #[test]
    fn cached_sampling_equals_uncached() {
        let device = Device::flex();
        let lm = lm(24);
        for (block, steps) in [(4, 4), (6, 2), (8, 16)] {
            let mut sampling =
                BlockSampling { block, max_blocks: 24 / block, steps, kv_cache: false };
            let plain = generate_blocks(
                &lm,
                3,
                &sampling,
                MASK,
                None,
                &device,
                &mut StdRng::seed_from_u64(9),
            )
            .unwrap();
            sampling.kv_cache = true;
            let cached = generate_blocks(
                &lm,
                3,
                &sampling,
                MASK,
                None,
                &device,
                &mut StdRng::seed_from_u64(9),
            )
            .unwrap();
            assert_eq!(plain.ids, cached.ids, "block {block}");
            assert!(!plain.ids.contains(&MASK));
            assert_eq!(plain.seq, 24);
        }
        // Stopping: with every token allowed to be end-of-text, rows stop early or not.
        let sampling = BlockSampling { block: 4, max_blocks: 6, steps: 4, kv_cache: true };
        let out = generate_blocks(
            &lm,
            2,
            &sampling,
            MASK,
            Some(5),
            &device,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        let rows: Vec<&[i64]> = out.ids.chunks(out.seq).collect();
        assert!(out.seq == 24 || rows.iter().all(|r| r.contains(&5)));
    }

    #[test]
    fn bad_settings_are_refused() {
        let device = Device::flex();
        let lm = lm(16);
        assert!(BlockObjective { block: 3, low: 0.3, high: 0.9 }.validate(8).is_err());
        assert!(BlockObjective { block: 4, low: 0.9, high: 0.3 }.validate(8).is_err());
        let sampling = BlockSampling { block: 8, max_blocks: 3, steps: 4, kv_cache: true };
        assert!(
            generate_blocks(&lm, 1, &sampling, MASK, None, &device, &mut StdRng::seed_from_u64(0))
                .is_err()
        );
        let causal = LmTransformerConfig::new(11, 16, 16, 1, 2)
            .with_visibility(stoke_nn::Visibility::Causal)
            .init(&device)
            .unwrap();
        let sampling = BlockSampling { block: 4, max_blocks: 2, steps: 4, kv_cache: true };
        assert!(
            generate_blocks(
                &causal,
                1,
                &sampling,
                MASK,
                None,
                &device,
                &mut StdRng::seed_from_u64(0)
            )
            .is_err()
        );
    }
}
