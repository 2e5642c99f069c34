//! Reverse processes of masked diffusion on the host.
//!
//! * [`generate`]: LLaDA's sampler [NIE25, App. B.2]: the answer starts all-mask and is
//!   generated in semi-autoregressive blocks; each step predicts every masked token of the
//!   current block (argmax of the Gumbel-perturbed logits), then keeps the
//!   [`num_transfer_tokens`] most confident predictions ([`Remasking::LowConfidence`]) or a
//!   random subset ([`Remasking::Random`]) and remasks the rest. Unsupervised
//!   classifier-free guidance masks the prompt in the unconditional branch and mixes
//!   `un + (w + 1)(cond - un)` [NIE25, App. B.3].
//! * [`ancestral`]: MDLM's ancestral sampler [SAHOO24, Sec. 3.4] on a time grid from 1 to
//!   0: a masked token is revealed between `t` and `s < t` with probability
//!   `(alpha_s - alpha_t) / (1 - alpha_t)`, as the SUBS prediction; an unmasked token never
//!   changes. With a time-free denoiser, a step that changed no token leaves the next
//!   prediction unchanged, so the cached predictor reuses it instead of calling the network
//!   [SAHOO24, Sec. 3.4] (the result is bit for bit the same).
//!
//! Both use the SUBS parameterisation: the mask token is never predicted.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use stoke_core::schedule::MaskingSchedule;
use stoke_core::validate;

use crate::denoiser::Denoiser;
use crate::error::{DiscreteError, Result};
use crate::forward::check_clean;
use crate::subs::subs_probs_host;
use crate::transfer::{BlockPlan, num_transfer_tokens};

/// Which predictions a step of [`generate`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remasking {
    /// The most confident: the highest SUBS probability of the predicted token.
    LowConfidence,
    /// A uniformly random subset.
    Random,
}

/// Settings of [`generate`] (LLaDA's defaults: `temperature = 0`, low-confidence
/// remasking, `cfg_scale = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GenerateConfig {
    /// Tokens to generate after the prompt.
    pub gen_length: usize,
    /// Tokens per semi-autoregressive block (`gen_length` for none).
    pub block_length: usize,
    /// Reverse steps in all (a multiple of the number of blocks).
    pub steps: usize,
    /// Gumbel temperature of the predictions (0: argmax).
    pub temperature: f64,
    /// Which predictions each step keeps.
    pub remasking: Remasking,
    /// Classifier-free guidance scale `w` (0: none).
    pub cfg_scale: f64,
}

impl GenerateConfig {
    /// Checks the settings and returns the block plan.
    ///
    /// # Errors
    /// See [`BlockPlan::new`]; a negative or non-finite temperature or guidance scale.
    pub fn plan(&self) -> Result<BlockPlan> {
        validate::non_negative("temperature", self.temperature)?;
        validate::non_negative("cfg_scale", self.cfg_scale)?;
        BlockPlan::new(self.gen_length, self.block_length, self.steps)
    }
}

/// Generated rows and the network calls they took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Prompt then generated tokens, row-major `[batch, seq]`.
    pub ids: Vec<i64>,
    /// Row length.
    pub seq: usize,
    /// Network evaluations (function evaluations, NFE).
    pub nfe: usize,
}

/// LLaDA's sampler (see the module docs): the rows of `prompts` (`batch` rows of
/// `prompt_len` ids, which may be 0) followed by `gen_length` generated tokens.
///
/// # Errors
/// See [`GenerateConfig::plan`]; a prompt plus the generation longer than the denoiser's
/// context ([`DiscreteError::PromptTooLong`]); the mask id outside the vocabulary or in a
/// prompt; a network error.
pub fn generate<R: Rng + ?Sized>(
    denoiser: &impl Denoiser,
    prompts: &[i64],
    [batch, prompt_len]: [usize; 2],
    mask_id: i64,
    config: &GenerateConfig,
    rng: &mut R,
) -> Result<Generation> {
    let plan = config.plan()?;
    validate::size("batch", batch)?;
    validate::same_length("prompts", batch * prompt_len, prompts.len())?;
    let vocab = denoiser.vocab_size();
    check_clean(prompts, mask_id, vocab)?;
    let seq = prompt_len + plan.gen_length;
    if seq > denoiser.context() {
        return Err(DiscreteError::PromptTooLong {
            prompt: prompt_len,
            gen_length: plan.gen_length,
            context: denoiser.context(),
        });
    }
    let mut x: Vec<i64> = (0..batch)
        .flat_map(|b| {
            let prompt = &prompts[b * prompt_len..(b + 1) * prompt_len];
            prompt.iter().copied().chain(std::iter::repeat_n(mask_id, plan.gen_length))
        })
        .collect();
    let mut nfe = 0;
    for block in 0..plan.n_blocks() {
        let start = prompt_len + block * plan.block_length;
        let end = start + plan.block_length;
        let counts: Vec<Vec<usize>> = (0..batch)
            .map(|b| {
                let n =
                    x[b * seq + start..b * seq + end].iter().filter(|&&id| id == mask_id).count();
                num_transfer_tokens(n, plan.steps_per_block())
            })
            .collect::<Result<_>>()?;
        for step in 0..plan.steps_per_block() {
            let logits =
                guided_logits(denoiser, &x, [batch, seq], prompt_len, mask_id, config.cfg_scale)?;
            nfe += 1;
            let rows = x.chunks_mut(seq).zip(logits.chunks(seq * vocab)).zip(&counts);
            for ((row, row_logits), row_counts) in rows {
                reveal(row, row_logits, vocab, mask_id, end, row_counts[step], config, rng);
            }
        }
    }
    Ok(Generation { ids: x, seq, nfe })
}

/// LLaDA's reverse process on masks anywhere in the rows (infilling): every row's masked
/// tokens are revealed over `steps` steps, [`num_transfer_tokens`] per step, by the same
/// rule as one block of [`generate`]; unmasked tokens never change.
///
/// # Errors
/// A zero `steps` or `batch`; `x` not `batch` rows; the mask id outside the vocabulary; a
/// row longer than the context; a network error.
#[allow(clippy::too_many_arguments)]
pub fn fill_masks<R: Rng + ?Sized>(
    denoiser: &impl Denoiser,
    x: &[i64],
    [batch, seq]: [usize; 2],
    mask_id: i64,
    steps: usize,
    remasking: Remasking,
    temperature: f64,
    rng: &mut R,
) -> Result<Generation> {
    validate::size("batch", batch)?;
    validate::size("steps", steps)?;
    validate::non_negative("temperature", temperature)?;
    validate::same_length("x", batch * seq, x.len())?;
    let vocab = denoiser.vocab_size();
    if mask_id < 0 || mask_id as usize >= vocab {
        return Err(DiscreteError::NoMaskToken { mask_id, vocab_size: vocab });
    }
    if seq > denoiser.context() {
        return Err(DiscreteError::PromptTooLong {
            prompt: seq,
            gen_length: 0,
            context: denoiser.context(),
        });
    }
    let config = GenerateConfig {
        gen_length: seq,
        block_length: seq,
        steps,
        temperature,
        remasking,
        cfg_scale: 0.0,
    };
    let mut x = x.to_vec();
    let counts: Vec<Vec<usize>> = x
        .chunks(seq)
        .map(|row| num_transfer_tokens(row.iter().filter(|&&id| id == mask_id).count(), steps))
        .collect::<Result<_>>()?;
    for step in 0..steps {
        let logits = denoiser.logits(&x, [batch, seq], &vec![1.0; batch])?;
        let rows = x.chunks_mut(seq).zip(logits.chunks(seq * vocab)).zip(&counts);
        for ((row, row_logits), row_counts) in rows {
            reveal(row, row_logits, vocab, mask_id, seq, row_counts[step], &config, rng);
        }
    }
    Ok(Generation { ids: x, seq, nfe: steps })
}

/// The logits of one step, guided when `cfg_scale > 0`: `un + (w + 1)(cond - un)`, the
/// unconditional branch seeing the prompt masked.
///
/// # Errors
/// A network error.
fn guided_logits(
    denoiser: &impl Denoiser,
    x: &[i64],
    [batch, seq]: [usize; 2],
    prompt_len: usize,
    mask_id: i64,
    cfg_scale: f64,
) -> Result<Vec<f32>> {
    let t = vec![1.0; batch];
    if cfg_scale == 0.0 {
        return denoiser.logits(x, [batch, seq], &t);
    }
    let mut both = x.to_vec();
    both.extend(
        x.iter().enumerate().map(|(i, &id)| if i % seq < prompt_len { mask_id } else { id }),
    );
    let logits = denoiser.logits(&both, [2 * batch, seq], &vec![1.0; 2 * batch])?;
    let (cond, un) = logits.split_at(logits.len() / 2);
    let w = cfg_scale as f32;
    Ok(cond.iter().zip(un).map(|(&c, &u)| u + (w + 1.0) * (c - u)).collect())
}

/// One step of [`generate`] on one row: predicts every masked token (argmax of the logits
/// plus `temperature` times Gumbel noise, the mask token excluded), scores each masked
/// position before `end`, and reveals the `k` best.
#[allow(clippy::too_many_arguments)]
fn reveal<R: Rng + ?Sized>(
    row: &mut [i64],
    logits: &[f32],
    vocab: usize,
    mask_id: i64,
    end: usize,
    k: usize,
    config: &GenerateConfig,
    rng: &mut R,
) {
    let probs = subs_probs_host(logits, row, vocab, mask_id);
    let mut candidates: Vec<(f64, usize, i64)> = Vec::new();
    for (i, &id) in row.iter().enumerate() {
        if id != mask_id {
            continue;
        }
        let position_logits = &logits[i * vocab..(i + 1) * vocab];
        let prediction = gumbel_argmax(position_logits, mask_id, config.temperature, rng);
        let confidence = match config.remasking {
            Remasking::LowConfidence => probs[i * vocab + prediction as usize],
            Remasking::Random => rng.random::<f64>(),
        };
        // Positions after the current block are never revealed in this block.
        if i < end {
            candidates.push((confidence, i, prediction));
        }
    }
    // The most confident first; ties to the earlier position, so the order is total.
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i, prediction) in candidates.iter().take(k) {
        row[i] = prediction;
    }
}

/// `argmax_v (logit_v + temperature * g_v)` over `v != mask_id`, `g_v` standard Gumbel.
/// LLaDA computes `exp(logit) / (-ln u)^temperature` in float64, whose argmax is the same;
/// the log form cannot overflow.
fn gumbel_argmax<R: Rng + ?Sized>(
    logits: &[f32],
    mask_id: i64,
    temperature: f64,
    rng: &mut R,
) -> i64 {
    let mut best = (f64::NEG_INFINITY, 0);
    for (v, &l) in logits.iter().enumerate() {
        if v as i64 == mask_id {
            continue;
        }
        let noise = if temperature > 0.0 {
            // u in (0, 1): -ln(-ln u) is finite.
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            -temperature * (-u.ln()).ln()
        } else {
            0.0
        };
        let score = f64::from(l) + noise;
        if score > best.0 {
            best = (score, v as i64);
        }
    }
    best.1
}

/// Autoregressive sampling from a causal model: `gen_length` tokens after each prompt
/// row, each drawn from the last position's logits with Gumbel `temperature` (0: greedy).
/// The model is called on the growing prefix (no key-value cache), one call per token.
///
/// # Errors
/// A zero `gen_length` or `batch`; an empty prompt (a causal model needs at least its
/// `<bos>`); a negative temperature; a prompt plus the generation longer than the context;
/// a network error.
pub fn autoregressive<R: Rng + ?Sized>(
    model: &impl Denoiser,
    prompts: &[i64],
    [batch, prompt_len]: [usize; 2],
    gen_length: usize,
    temperature: f64,
    rng: &mut R,
) -> Result<Generation> {
    validate::size("batch", batch)?;
    validate::size("prompt length", prompt_len)?;
    validate::size("gen_length", gen_length)?;
    validate::non_negative("temperature", temperature)?;
    validate::same_length("prompts", batch * prompt_len, prompts.len())?;
    let seq = prompt_len + gen_length;
    if seq > model.context() {
        return Err(DiscreteError::PromptTooLong {
            prompt: prompt_len,
            gen_length,
            context: model.context(),
        });
    }
    let vocab = model.vocab_size();
    let mut rows: Vec<Vec<i64>> = prompts.chunks(prompt_len).map(<[i64]>::to_vec).collect();
    for len in prompt_len..seq {
        let prefix: Vec<i64> = rows.iter().flatten().copied().collect();
        let logits = model.logits(&prefix, [batch, len], &vec![0.0; batch])?;
        for (b, row) in rows.iter_mut().enumerate() {
            let last = &logits[(b * len + len - 1) * vocab..(b * len + len) * vocab];
            // No token is excluded: -1 is no id.
            row.push(gumbel_argmax(last, -1, temperature, rng));
        }
    }
    Ok(Generation { ids: rows.concat(), seq, nfe: gen_length })
}

/// Settings of [`ancestral`] (MDLM's: log-linear schedule, `eps = 1e-5`, cache on).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AncestralConfig {
    /// Reverse steps from `t = 1` to `t = eps`.
    pub steps: usize,
    /// The masking schedule the model was trained with.
    pub schedule: MaskingSchedule,
    /// The last time of the grid (a final argmax then fills any mask left).
    pub eps: f64,
    /// Reuse the prediction after a step that changed nothing (needs a time-free denoiser).
    pub cache: bool,
}

/// MDLM's ancestral sampler (see the module docs): `batch` rows of `prompt_len` prompt
/// tokens then `gen_length` generated tokens.
///
/// # Errors
/// A zero `steps` or `gen_length`; `eps` outside `(0, 1)`; a bad schedule; the cache with a
/// time-conditioned denoiser ([`DiscreteError::CacheNeedsTimeFreeDenoiser`]); a prompt
/// too long; the mask id outside the vocabulary or in a prompt; a network error.
pub fn ancestral<R: Rng + ?Sized>(
    denoiser: &impl Denoiser,
    prompts: &[i64],
    [batch, prompt_len]: [usize; 2],
    gen_length: usize,
    mask_id: i64,
    config: &AncestralConfig,
    rng: &mut R,
) -> Result<Generation> {
    validate::size("steps", config.steps)?;
    validate::size("gen_length", gen_length)?;
    validate::size("batch", batch)?;
    validate::in_range("eps", config.eps, f64::MIN_POSITIVE, 1.0 - 1e-9, "(0, 1)")?;
    config.schedule.validate()?;
    if config.cache && denoiser.time_conditioned() {
        return Err(DiscreteError::CacheNeedsTimeFreeDenoiser);
    }
    validate::same_length("prompts", batch * prompt_len, prompts.len())?;
    let vocab = denoiser.vocab_size();
    check_clean(prompts, mask_id, vocab)?;
    let seq = prompt_len + gen_length;
    if seq > denoiser.context() {
        return Err(DiscreteError::PromptTooLong {
            prompt: prompt_len,
            gen_length,
            context: denoiser.context(),
        });
    }
    let mut x: Vec<i64> = (0..batch)
        .flat_map(|b| {
            let prompt = &prompts[b * prompt_len..(b + 1) * prompt_len];
            prompt.iter().copied().chain(std::iter::repeat_n(mask_id, gen_length))
        })
        .collect();
    let dt = (1.0 - config.eps) / config.steps as f64;
    let mut cached: Option<Vec<f64>> = None;
    let mut nfe = 0;
    for step in 0..config.steps {
        let t = 1.0 - step as f64 * dt;
        let s = t - dt;
        let probs = match cached.take() {
            Some(probs) => probs,
            None => {
                nfe += 1;
                subs_probs_host(
                    &denoiser.logits(&x, [batch, seq], &vec![t; batch])?,
                    &x,
                    vocab,
                    mask_id,
                )
            }
        };
        // P(revealed between t and s | masked at t) [SAHOO24, Eq. 7]
        let (alpha_t, alpha_s) = (config.schedule.alpha(t), config.schedule.alpha(s));
        let reveal = ((alpha_s - alpha_t) / (1.0 - alpha_t)).clamp(0.0, 1.0);
        let mut changed = false;
        for (i, id) in x.iter_mut().enumerate() {
            // Drawn for every position, masked or not, so the random stream does not
            // depend on the cache.
            let (u_reveal, u_token) = (rng.random::<f64>(), rng.random::<f64>());
            if *id == mask_id && u_reveal < reveal {
                *id = inverse_cdf(&probs[i * vocab..(i + 1) * vocab], u_token);
                changed = true;
            }
        }
        if config.cache && !changed {
            cached = Some(probs);
        }
    }
    // Noise removal: whatever is still masked at t = eps takes its most probable token.
    if x.contains(&mask_id) {
        let probs = match cached {
            Some(probs) => probs,
            None => {
                nfe += 1;
                subs_probs_host(
                    &denoiser.logits(&x, [batch, seq], &vec![config.eps; batch])?,
                    &x,
                    vocab,
                    mask_id,
                )
            }
        };
        for (i, id) in x.iter_mut().enumerate() {
            if *id == mask_id {
                let row = &probs[i * vocab..(i + 1) * vocab];
                *id = (0..vocab)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                    .unwrap_or(0) as i64;
            }
        }
    }
    Ok(Generation { ids: x, seq, nfe })
}

/// The first `v` whose cumulative probability exceeds `u` (the last with mass if rounding
/// leaves `u` above the total).
fn inverse_cdf(probs: &[f64], u: f64) -> i64 {
    let mut total = 0.0;
    let mut last = 0;
    for (v, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            total += p;
            last = v;
            if u < total {
                return v as i64;
            }
        }
    }
    last as i64
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use stoke_core::schedule::MaskingSchedule;

    use super::{AncestralConfig, GenerateConfig, Remasking, ancestral, generate};
    use crate::denoiser::Denoiser;
    use crate::error::Result;
    use crate::transfer::num_transfer_tokens;

    const MASK: i64 = 4;
    const VOCAB: usize = 9;

    /// A time-free denoiser whose logits are a fixed function of the whole row (so a change
    /// anywhere changes every prediction), recording every input it sees. Its largest logit
    /// is the mask token's, so a sampler that forgot SUBS would emit it.
    struct Recording {
        seen: RefCell<Vec<(Vec<i64>, usize)>>,
        conditioned: bool,
    }

    impl Recording {
        fn new() -> Self {
            Self { seen: RefCell::new(Vec::new()), conditioned: false }
        }
    }

    impl Denoiser for Recording {
        fn vocab_size(&self) -> usize {
            VOCAB
        }
        fn context(&self) -> usize {
            40
        }
        fn time_conditioned(&self) -> bool {
            self.conditioned
        }
        fn logits(&self, x_t: &[i64], [batch, seq]: [usize; 2], _t: &[f64]) -> Result<Vec<f32>> {
            self.seen.borrow_mut().push((x_t.to_vec(), batch));
            let mut out = Vec::with_capacity(batch * seq * VOCAB);
            for b in 0..batch {
                let row = &x_t[b * seq..(b + 1) * seq];
                let h: i64 = row.iter().enumerate().map(|(i, &x)| (i as i64 + 1) * x).sum();
                for i in 0..seq {
                    for v in 0..VOCAB {
                        let l = ((h + 31 * i as i64 + 17 * v as i64) as f32 * 0.37).sin();
                        out.push(if v as i64 == MASK { 10.0 } else { l });
                    }
                }
            }
            Ok(out)
        }
    }

    fn prompts() -> Vec<i64> {
        vec![1, 5, 6, 1, 7, 8]
    }

    proptest! {
        /// LLaDA's sampler: each step reveals exactly its scheduled count inside the current
        /// block, never changes a revealed token or the prompt, never emits the mask, and
        /// ends fully unmasked.
        #[test]
        fn generate_follows_its_schedule(
            seed in 0u64..200, blocks in 1usize..4, steps_per_block in 1usize..5,
            temperature in prop::sample::select(vec![0.0, 1.0]),
            random in any::<bool>(), cfg in prop::sample::select(vec![0.0, 1.5]),
        ) {
            let block_length = 4;
            let config = GenerateConfig {
                gen_length: blocks * block_length,
                block_length,
                steps: blocks * steps_per_block,
                temperature,
                remasking: if random { Remasking::Random } else { Remasking::LowConfidence },
                cfg_scale: cfg,
            };
            let denoiser = Recording::new();
            let mut rng = StdRng::seed_from_u64(seed);
            let out = generate(&denoiser, &prompts(), [2, 3], MASK, &config, &mut rng).unwrap();
            prop_assert_eq!(out.nfe, config.steps);
            prop_assert!(!out.ids.contains(&MASK));
            let seq = out.seq;
            let mut states: Vec<Vec<i64>> = denoiser.seen.borrow().iter().map(|(x, batch)| {
                // The conditional half when guided; the unconditional half masks the prompt.
                if *batch == 4 {
                    let (cond, un) = x.split_at(x.len() / 2);
                    for (i, &id) in un.iter().enumerate() {
                        assert_eq!(id, if i % seq < 3 { MASK } else { cond[i] });
                    }
                }
                x[..2 * seq].to_vec()
            }).collect();
            states.push(out.ids.clone());
            for (step, pair) in states.windows(2).enumerate() {
                let (block, within) = (step / steps_per_block, step % steps_per_block);
                for b in 0..2 {
                    let (before, after) = (&pair[0][b * seq..(b + 1) * seq], &pair[1][b * seq..(b + 1) * seq]);
                    let revealed: Vec<usize> = (0..seq).filter(|&i| before[i] == MASK && after[i] != MASK).collect();
                    let expected = num_transfer_tokens(block_length, steps_per_block).unwrap()[within];
                    prop_assert_eq!(revealed.len(), expected);
                    let start = 3 + block * block_length;
                    prop_assert!(revealed.iter().all(|&i| i >= start && i < start + block_length));
                    for i in 0..seq {
                        if before[i] != MASK { prop_assert_eq!(before[i], after[i]); }
                        prop_assert!(after[i] == MASK || after[i] == before[i] || before[i] == MASK);
                    }
                }
            }
        }

        /// MDLM's sampler: cached equals uncached bit for bit with fewer network calls;
        /// revealed tokens never change; no mask is left or emitted.
        #[test]
        fn the_cached_predictor_changes_nothing_but_the_cost(seed in 0u64..200, steps in 1usize..60) {
            let mut config = AncestralConfig { steps, schedule: MaskingSchedule::log_linear(), eps: 1e-5, cache: false };
            let run = |config: &AncestralConfig| {
                let denoiser = Recording::new();
                let mut rng = StdRng::seed_from_u64(seed);
                let out = ancestral(&denoiser, &prompts(), [2, 3], 12, MASK, config, &mut rng).unwrap();
                let seen: Vec<Vec<i64>> = denoiser.seen.borrow().iter().map(|(x, _)| x.clone()).collect();
                (out, seen)
            };
            let (plain, seen) = run(&config);
            config.cache = true;
            let (cached, _) = run(&config);
            prop_assert_eq!(&plain.ids, &cached.ids);
            prop_assert!(cached.nfe <= plain.nfe);
            prop_assert!(!plain.ids.contains(&MASK));
            let mut states = seen;
            states.push(plain.ids.clone());
            for pair in states.windows(2) {
                for (a, b) in pair[0].iter().zip(&pair[1]) {
                    prop_assert!(*a == MASK || a == b);
                }
            }
            prop_assert_eq!(&plain.ids[..3], &prompts()[..3]);
        }
    }

    /// Infilling reveals every mask, keeps every other token, and never emits the mask.
    #[test]
    fn infilling_keeps_the_context() {
        let x = [MASK, MASK, 5, 6, MASK, 7, 1, MASK, 8, MASK, MASK, MASK];
        for steps in [1, 2, 3, 7] {
            let mut rng = StdRng::seed_from_u64(steps as u64);
            let out = super::fill_masks(
                &Recording::new(),
                &x,
                [2, 6],
                MASK,
                steps,
                Remasking::LowConfidence,
                0.0,
                &mut rng,
            )
            .unwrap();
            assert!(!out.ids.contains(&MASK));
            for (a, b) in x.iter().zip(&out.ids) {
                assert!(*a == MASK || a == b);
            }
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        let denoiser = Recording::new();
        let mut rng = StdRng::seed_from_u64(0);
        let config = GenerateConfig {
            gen_length: 8,
            block_length: 3,
            steps: 8,
            temperature: 0.0,
            remasking: Remasking::LowConfidence,
            cfg_scale: 0.0,
        };
        assert!(generate(&denoiser, &prompts(), [2, 3], MASK, &config, &mut rng).is_err());
        let config = GenerateConfig { block_length: 4, steps: 1, ..config };
        assert!(
            generate(&denoiser, &prompts(), [2, 3], MASK, &config, &mut rng).is_err(),
            "fewer steps than blocks"
        );
        let config = GenerateConfig { steps: 8, gen_length: 40, block_length: 40, ..config };
        assert!(
            generate(&denoiser, &prompts(), [2, 3], MASK, &config, &mut rng).is_err(),
            "prompt too long"
        );
        let config = GenerateConfig { gen_length: 8, block_length: 4, ..config };
        assert!(generate(&denoiser, &[1, MASK, 2], [1, 3], MASK, &config, &mut rng).is_err());
        assert!(
            generate(&denoiser, &prompts(), [2, 3], 9, &config, &mut rng).is_err(),
            "no mask token"
        );
        let conditioned = Recording { seen: RefCell::new(Vec::new()), conditioned: true };
        let ancestral_config = AncestralConfig {
            steps: 4,
            schedule: MaskingSchedule::log_linear(),
            eps: 1e-5,
            cache: true,
        };
        assert!(
            ancestral(&conditioned, &prompts(), [2, 3], 4, MASK, &ancestral_config, &mut rng)
                .is_err()
        );
    }

    /// At 1000 steps for 12 tokens almost every step reveals nothing: the cache skips the
    /// network on those.
    #[test]
    fn the_cache_skips_most_calls_at_many_steps() {
        let config = AncestralConfig {
            steps: 1000,
            schedule: MaskingSchedule::log_linear(),
            eps: 1e-5,
            cache: true,
        };
        let mut rng = StdRng::seed_from_u64(1);
        let out = ancestral(&Recording::new(), &[], [1, 0], 12, MASK, &config, &mut rng).unwrap();
        assert!(out.nfe <= 13, "{} calls", out.nfe);
    }
}
