//! `cargo xtask bench discrete`: stoke-discrete's samplers and its MDLM training step on an
//! untrained text backbone (`LmTransformer`: vocabulary 94, width 96, 3 blocks, 4 heads,
//! bidirectional, no time input). The caches' effect does not depend on training: most of
//! 1000 steps reveal nothing when there are only 128 tokens to reveal.
//!
//! 1. **MDLM's cached predictor.** `ancestral` (1000 steps, log-linear schedule,
//!    `eps = 1e-5`) generating 128 tokens (batch 1, no prompt), cache on and off: tokens/s,
//!    NFE, and the ids, which must be the same (the sampler draws its randomness for every
//!    position whether or not the cache is used). The target: at least 2x.
//! 2. **BD3-LM's key-value cache.** `generate_blocks` with blocks of 16 and of 4 tokens,
//!    16 steps per block, 128 tokens, cache on and off: tokens/s, NFE (with the cache, one
//!    more call per block commits it, so the cache wins by cheaper calls, not fewer), and
//!    how many ids differ (the cached logits equal the recomputed ones only up to rounding).
//! 3. **Training tokens/s.** One MDLM step (batch 32, context 64: times, masking,
//!    SUBS-masked cross-entropy weighted `1/t`, backward, Adam at `2e-3`), the loss read back
//!    each step as the trainer does, against the same network in PyTorch
//!    (`bench/discrete_torch.py`, parameter counts compared), alternating, PyTorch at 1 and
//!    2 threads; then the Stoke step split into forward, backward and optimizer.
//!
//! The samplers run `--repeats` times per side, alternating which side goes first; the
//! training step runs `--steps` timed steps per repeat.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use stoke_core::schedule::MaskingSchedule;
use stoke_data::text::Special;
use stoke_discrete::block::{BlockSampling, generate_blocks};
use stoke_discrete::{
    AncestralConfig, Generation, LmDenoiser, MaskedObjective, Normaliser, ancestral, forward,
    masked_diffusion_loss,
};
use stoke_nn::{LmTransformer, LmTransformerConfig};
use stoke_train::device::Backend;
use stoke_train::error::{Result, TrainError};

use crate::Options;
use crate::table::{Rows, alternate, median, outln, print_table, timed_steps};

const TWIN: &str = include_str!("../bench/discrete_torch.py");
/// The character tokenizer's vocabulary (`stoke_data`'s Moby Dick tokenizer).
const VOCAB: usize = 94;
const D_MODEL: usize = 96;
const N_LAYERS: usize = 3;
const N_HEADS: usize = 4;
const MLP_RATIO: usize = 4;
/// The mask token's id in both tokenizers.
const MASK_ID: i64 = Special::MASK_ID as i64;
/// Tokens each sampler generates (and the sampling network's context).
const GEN_LENGTH: usize = 128;
/// MDLM's sampler at 1000 steps [SAHOO24, Sec. 4.1].
const ANCESTRAL_STEPS: usize = 1000;
/// BD3-LM's block sizes and steps per block.
const BLOCKS: [usize; 2] = [16, 4];
const BLOCK_STEPS: usize = 16;
const TRAIN_BATCH: usize = 32;
const TRAIN_CONTEXT: usize = 64;
const LEARNING_RATE: f64 = 2e-3;
/// Training steps before the timed ones (allocator and thread pools warm up).
const WARMUP: usize = 3;

/// The backbone of the text recipes at `context`.
fn network(context: usize) -> LmTransformerConfig {
    LmTransformerConfig::new(VOCAB, context, D_MODEL, N_LAYERS, N_HEADS).with_mlp_ratio(MLP_RATIO)
}

/// Runs the three benchmarks and prints their tables.
///
/// # Errors
/// A backend that fails to start; a sampler's error; MDLM's cache changing the sample; a
/// failing PyTorch twin or one whose parameter count differs.
pub fn run(options: &Options) -> Result<()> {
    for backend in options.backends.iter().filter(|_| !options.step_only) {
        let device = backend.device()?;
        device.seed(0);
        let lm = network(GEN_LENGTH).init(&device)?;
        mdlm_cache(&lm, *backend, options.repeats, &device)?;
        for block in BLOCKS {
            kv_cache(&lm, block, *backend, options.repeats, &device)?;
        }
    }
    training(options)
}

/// A sampler's runs with and without its cache.
struct Sides {
    /// Tokens per second of each run, cache on then off.
    rates: [Vec<f64>; 2],
    /// The last run of each side.
    last: [Option<Generation>; 2],
}

/// Runs `sample(cache)` `repeats` times per side (after one untimed run), alternating which
/// side goes first.
fn both_sides(repeats: usize, mut sample: impl FnMut(bool) -> Result<Generation>) -> Result<Sides> {
    sample(true)?;
    let mut sides = Sides { rates: Default::default(), last: [None, None] };
    for repeat in 0..repeats {
        eprintln!("repeat {}/{repeats}", repeat + 1);
        let order = if repeat % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let started = Instant::now();
            let generation = sample(side == 0)?;
            // Every sampler step read its logits back: nothing is left queued.
            sides.rates[side].push(GEN_LENGTH as f64 / started.elapsed().as_secs_f64());
            sides.last[side] = Some(generation);
        }
    }
    Ok(sides)
}

/// Prints both sides' tokens/s, their NFE and the speed-up (cache on / off, medians);
/// returns the two generations and the speed-up.
fn print_sides(title: &str, names: [String; 2], sides: Sides) -> Result<([Generation; 2], f64)> {
    outln!("{title}");
    outln!("{:<30} {:>14} {:>12} {:>12} {:>8}", "side", "median tok/s", "min", "max", "NFE");
    let [Some(on), Some(off)] = sides.last else {
        return Err(TrainError::Invalid("a sampler ran no repeat".into()));
    };
    for ((name, rates), generation) in names.iter().zip(&sides.rates).zip([&on, &off]) {
        let (min, max) =
            rates.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        outln!("{name:<30} {:>14.2} {min:>12.2} {max:>12.2} {:>8}", median(rates), generation.nfe);
    }
    let speed_up = median(&sides.rates[0]) / median(&sides.rates[1]);
    outln!("speed-up {} / {}: {speed_up:.2}x", names[0], names[1]);
    Ok(([on, off], speed_up))
}

/// Part 1: MDLM's ancestral sampler with and without the cached predictor.
fn mdlm_cache(lm: &LmTransformer, backend: Backend, repeats: usize, device: &Device) -> Result<()> {
    let denoiser = LmDenoiser { lm, device: device.clone() };
    let sides = both_sides(repeats, |cache| {
        let config = AncestralConfig {
            steps: ANCESTRAL_STEPS,
            schedule: MaskingSchedule::log_linear(),
            eps: 1e-5,
            cache,
        };
        let mut rng = StdRng::seed_from_u64(0);
        Ok(ancestral(&denoiser, &[], [1, 0], GEN_LENGTH, MASK_ID, &config, &mut rng)?)
    })?;
    let title = format!(
        "MDLM ancestral sampling, {GEN_LENGTH} tokens, {ANCESTRAL_STEPS} steps (log-linear, eps \
         1e-5), batch 1, untrained network: {repeats} runs per side"
    );
    let names = [format!("stoke {backend}, cache on"), format!("stoke {backend}, cache off")];
    let ([on, off], speed_up) = print_sides(&title, names, sides)?;
    if on.ids != off.ids {
        return Err(TrainError::Invalid(
            "MDLM's cached predictor changed the sample: the cache must only skip calls".into(),
        ));
    }
    outln!(
        "same ids with and without the cache: yes; NFE ratio {:.2}; the issue's target, at \
         least 2x tokens/s at {ANCESTRAL_STEPS} steps: {}\n",
        off.nfe as f64 / on.nfe as f64,
        if speed_up >= 2.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// Part 2: BD3-LM's block sampler with and without the key-value cache.
fn kv_cache(
    lm: &LmTransformer,
    block: usize,
    backend: Backend,
    repeats: usize,
    device: &Device,
) -> Result<()> {
    let sides = both_sides(repeats, |kv_cache| {
        let sampling =
            BlockSampling { block, max_blocks: GEN_LENGTH / block, steps: BLOCK_STEPS, kv_cache };
        let mut rng = StdRng::seed_from_u64(0);
        Ok(generate_blocks(lm, 1, &sampling, MASK_ID, None, device, &mut rng)?)
    })?;
    let title = format!(
        "BD3-LM block sampling, {GEN_LENGTH} tokens in blocks of {block}, {BLOCK_STEPS} steps per \
         block, batch 1, untrained network: {repeats} runs per side"
    );
    let names = [format!("stoke {backend}, KV cache on"), format!("stoke {backend}, KV cache off")];
    let ([on, off], _) = print_sides(&title, names, sides)?;
    let differ = on.ids.iter().zip(&off.ids).filter(|(a, b)| a != b).count();
    if differ == 0 && on.ids.len() == off.ids.len() {
        outln!("same ids with and without the KV cache: yes\n");
    } else {
        outln!(
            "same ids with and without the KV cache: no, {differ} of {} differ (the cached logits \
             agree only up to rounding, and one flipped draw changes what follows)\n",
            on.ids.len()
        );
    }
    Ok(())
}

/// `batch * seq` clean ids drawn uniformly from the vocabulary without the mask token.
fn clean_ids(n: usize, rng: &mut StdRng) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let id = rng.random_range(0..VOCAB as i64 - 1);
            // Skip the mask token's id.
            if id >= MASK_ID { id + 1 } else { id }
        })
        .collect()
}

/// The MDLM loss of one batch, as `mdlm-text` computes it.
fn mdlm_loss(
    lm: &LmTransformer,
    x0: &[i64],
    rng: &mut StdRng,
    device: &Device,
) -> Result<Tensor<1>> {
    let corruption = MaskedObjective::mdlm().draw(TRAIN_BATCH, rng)?;
    let masked = forward::mask_tokens(x0, &corruption.p_mask, None, MASK_ID, rng)?;
    let denoiser = LmDenoiser { lm, device: device.clone() };
    let logits =
        denoiser.logits_tensor(&masked.x_t, [TRAIN_BATCH, TRAIN_CONTEXT], &corruption.t)?;
    Ok(masked_diffusion_loss(logits, x0, &masked, &corruption.weight, Normaliser::Row, MASK_ID)?)
}

/// Waits for every queued update of `lm`'s weights by reading back a one-token forward.
fn wait(lm: &LmTransformer, device: &Device) {
    if let Ok(logits) = lm.logits(&[0], [1, 1], None, None, device) {
        let _ = logits.slice([0..1, 0..1, 0..1]).into_scalar::<f32>();
    }
}

/// A freshly initialised training network, its batch, the step's RNG and Adam (with
/// PyTorch's epsilon).
fn training_setup(device: &Device) -> Result<(LmTransformer, Vec<i64>, StdRng, ModuleOptimizer)> {
    device.seed(0);
    let lm = network(TRAIN_CONTEXT).init(device)?;
    let mut rng = StdRng::seed_from_u64(0);
    let x0 = clean_ids(TRAIN_BATCH * TRAIN_CONTEXT, &mut rng);
    Ok((lm, x0, rng, AdamConfig::new().with_epsilon(1e-8).init()))
}

/// MDLM training steps per second.
fn training_rate(steps: usize, device: &Device) -> Result<f64> {
    let device = device.clone().autodiff();
    let (lm, x0, mut rng, mut optimizer) = training_setup(&device)?;
    let step = |lm: LmTransformer| -> Result<LmTransformer> {
        let loss = mdlm_loss(&lm, &x0, &mut rng, &device)?;
        // The trainer reads every loss back (for its log and divergence check).
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &lm);
        Ok(optimizer.step(LEARNING_RATE, lm, grads))
    };
    timed_steps(lm, WARMUP, steps, step, |lm| wait(lm, &device))
}

/// Medians over `steps` of the training step's forward (masking included), backward and
/// optimizer phases (ms), each waited for by reading a value back.
fn training_phases(steps: usize, device: &Device) -> Result<[f64; 3]> {
    let device = device.clone().autodiff();
    let (mut lm, x0, mut rng, mut optimizer) = training_setup(&device)?;
    let mut phases: [Vec<f64>; 3] = Default::default();
    for i in 0..steps + WARMUP {
        let started = Instant::now();
        let loss = mdlm_loss(&lm, &x0, &mut rng, &device)?;
        let _ = loss.clone().into_scalar::<f32>();
        let forward = started.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &lm);
        let backward = started.elapsed().as_secs_f64();
        lm = optimizer.step(LEARNING_RATE, lm, grads);
        wait(&lm, &device);
        let total = started.elapsed().as_secs_f64();
        if i >= WARMUP {
            phases[0].push(forward * 1e3);
            phases[1].push((backward - forward) * 1e3);
            phases[2].push((total - backward) * 1e3);
        }
    }
    Ok(phases.map(|p| median(&p)))
}

/// The twin's arguments for `what` (`train` or `phases`).
fn twin_args(what: &str, steps: usize) -> Vec<String> {
    [
        ("--what", what.to_string()),
        ("--steps", steps.to_string()),
        ("--warmup", WARMUP.to_string()),
        ("--batch", TRAIN_BATCH.to_string()),
        ("--context", TRAIN_CONTEXT.to_string()),
        ("--vocab", VOCAB.to_string()),
        ("--mask-id", MASK_ID.to_string()),
        ("--d-model", D_MODEL.to_string()),
        ("--layers", N_LAYERS.to_string()),
        ("--heads", N_HEADS.to_string()),
        ("--mlp-ratio", MLP_RATIO.to_string()),
        ("--lr", LEARNING_RATE.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

/// Part 3: the MDLM training step in Burn and in the PyTorch twin.
fn training(options: &Options) -> Result<()> {
    let params = network(TRAIN_CONTEXT).init(&Device::flex())?.num_params();
    let args = twin_args("train", options.steps);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rows, torch) = alternate(
        options,
        Some(("discrete", TWIN)),
        |device| training_rate(options.steps, device),
        |twin, threads| {
            let value = twin.json(&args, threads)?;
            let count = value["params"].as_u64().unwrap_or(0) as usize;
            if count != params {
                return Err(TrainError::Invalid(format!(
                    "the PyTorch network has {count} parameters, the Burn one {params}: not the \
                     same network"
                )));
            }
            value["steps_per_sec"].as_f64().ok_or_else(|| {
                TrainError::Invalid("the PyTorch twin printed no steps_per_sec".into())
            })
        },
    )?;
    let tokens = TRAIN_BATCH * TRAIN_CONTEXT;
    let title = format!(
        "MDLM training step (batch {TRAIN_BATCH}, context {TRAIN_CONTEXT}, width {D_MODEL}, \
         {N_LAYERS} blocks, Adam; {params} parameters): {} steps after {WARMUP} warm-up x {} \
         repeats",
        options.steps, options.repeats
    );
    print_table(&title, "step/s", &rows, torch);
    print_tokens(&rows, tokens);
    for backend in &options.backends {
        let [forward, backward, step] = training_phases(options.steps, &backend.device()?)?;
        outln!(
            "MDLM step phases, stoke {backend} (medians of {} steps): forward {forward:.1} ms, \
             backward {backward:.1} ms, optimizer {step:.1} ms",
            options.steps
        );
    }
    if torch {
        let twin = crate::table::Twin::new("discrete", TWIN)?;
        let args = twin_args("phases", options.steps);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let phases = twin.json(&args, 1)?;
        outln!(
            "MDLM step phases, pytorch cpu 1 thread: forward {:.1} ms, backward {:.1} ms, \
             optimizer {:.1} ms",
            phases["forward_ms"].as_f64().unwrap_or(f64::NAN),
            phases["backward_ms"].as_f64().unwrap_or(f64::NAN),
            phases["optimizer_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Each row's median training tokens/s (`tokens` per step).
fn print_tokens(rows: &Rows, tokens: usize) {
    outln!("training tokens/s ({tokens} tokens per step), medians:");
    for (name, values) in rows {
        outln!("  {name:<26} {:>12.0}", median(values) * tokens as f64);
    }
}
