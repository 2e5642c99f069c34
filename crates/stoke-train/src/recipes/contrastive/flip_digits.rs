//! `flip-digits`: FLIP [LI23, Sec. 3] on the 8x8 digits: contrastive pretraining with a random
//! `mask_ratio` of each image's patches dropped (the ViT sees only the kept ones), then a
//! short unmasked tuning phase from the pretrained model (`--mask-ratio 0.75` for the
//! paper's other setting; `0` trains without dropping).
//!
//! Metrics: `zero_shot_accuracy` after tuning and `masked_accuracy` before it (test split,
//! held-out templates, full images), `image_tower_ms` (forward and backward of the image
//! tower on one training batch, masked and unmasked, medians of `timing_repeats`, and their
//! ratio), both zero-shot curves, `retrieval`, `batch_size`, `steps`, `seconds`.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::{ContrastiveModel, FlipMasking, TwoTower};
use stoke_core::validate;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED};
use stoke_nn::KeptPatches;

use super::{
    Captioned, Captions, DigitSplits, LossKind, Stage, Towers, check_eval_every, curve, fit_pairs,
    frozen, loss_config, retrieval_on, warmup_cosine, zero_shot,
};
use crate::error::Result;
use crate::harness::{
    Entry, Family, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The masked pretraining's trainer (the tuned model is the primary one).
const MASKED: &str = "masked";

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlipConfig {
    /// Fraction of patches dropped in pretraining, in `[0, 1)` (0.5 and 0.75 in [LI23, Sec. 3]).
    pub mask_ratio: f64,
    /// The contrastive loss.
    pub loss: LossKind,
    /// Pairs per step.
    pub batch_size: usize,
    /// Masked pretraining steps.
    pub steps: usize,
    /// Unmasked tuning steps.
    pub tune_steps: usize,
    /// Adam's peak learning rate in pretraining.
    pub learning_rate: f64,
    /// Adam's learning rate in the unmasked tuning (cosine decay, no warm-up).
    pub tune_learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Seed of the initialisation and the draws.
    pub seed: u64,
    /// Tower sizes.
    pub towers: Towers,
    /// Image-tower timings per side (medians).
    pub timing_repeats: usize,
    /// Steps between zero-shot evaluations on the validation split.
    pub eval_every: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for FlipConfig {
    fn default() -> Self {
        Self {
            mask_ratio: 0.5,
            loss: LossKind::Clip,
            batch_size: 64,
            steps: 1500,
            tune_steps: 200,
            learning_rate: 1e-3,
            tune_learning_rate: 1e-4,
            warmup_steps: 100,
            seed: 0,
            towers: Towers::DIGITS,
            timing_repeats: 15,
            eval_every: 100,
            log_every: 50,
            checkpoint_every: 500,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "flip-digits",
    family: Family::Contrastive,
    summary: "FLIP: CLIP on the digits with --mask-ratio 0.5|0.75 of the patches dropped, then \
              unmasked tuning; image-tower time per step masked vs unmasked",
    run: |args| launch(&Flip, args),
    check: |args| check(&Flip, args),
    defaults: || defaults_json(&Flip),
    tiny: &[
        ("steps", "60"),
        ("tune_steps", "40"),
        ("learning_rate", "3e-3"),
        ("tune_learning_rate", "3e-3"),
        ("batch_size", "16"),
        ("warmup_steps", "5"),
        ("timing_repeats", "2"),
        ("eval_every", "10"),
        ("log_every", "10"),
        ("checkpoint_every", "30"),
        ("towers", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 16}"#),
    ],
};

/// `flip-digits`.
pub struct Flip;

/// The masking, splits and captions.
pub struct Prepared {
    masking: FlipMasking,
    train: Captioned,
    validation: Captioned,
    test: Captioned,
    captions: Captions,
}

impl Recipe for Flip {
    type Config = FlipConfig;
    type Prepared = Prepared;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> FlipConfig {
        FlipConfig::default()
    }

    fn prepare(&self, c: &FlipConfig) -> Result<Prepared> {
        let masking = FlipMasking::new(c.mask_ratio)?;
        validate::size("timing_repeats", c.timing_repeats)?;
        loss_config(c.loss, -10.0, true, None).validate()?;
        check_eval_every(c.eval_every, c.log_every)?;
        let DigitSplits { train, validation, test, captions } =
            DigitSplits::load(&c.towers, c.batch_size)?;
        Ok(Prepared { masking, train, validation, test, captions })
    }

    fn training(&self, c: &FlipConfig) -> Vec<(String, TrainSpec)> {
        let spec = |steps, rate, warmup| {
            warmup_cosine(steps, rate, warmup, c.seed).every(c.log_every, c.checkpoint_every)
        };
        vec![
            (MASKED.into(), spec(c.steps, c.learning_rate, c.warmup_steps)),
            (PRIMARY.into(), spec(c.tune_steps, c.tune_learning_rate, 0)),
        ]
    }

    fn run(&self, c: &FlipConfig, p: &Prepared, run: &mut Run) -> Result<Map<String, Value>> {
        let vocab = p.captions.codec.vocab_size();
        let loss = loss_config(c.loss, -10.0, true, None);
        let masked_stage = Stage {
            train: &p.train,
            batch_size: c.batch_size,
            masking: Some(p.masking),
            eval_every: c.eval_every,
            validation: &p.validation,
        };
        let masked = fit_pairs(run, MASKED, &masked_stage, &p.captions, |device| {
            Ok(ContrastiveModel {
                towers: c.towers.config(1, digits::SIDE, vocab).init(device)?,
                loss: loss.init(device)?,
            })
        })?;
        let timing = image_tower_ms(&masked.towers, c, p, run.device())?;
        let tune_stage = Stage { masking: None, ..masked_stage };
        let pretrained = masked.clone();
        let tuned = fit_pairs(run, PRIMARY, &tune_stage, &p.captions, |_| Ok(pretrained))?;
        let (masked, tuned) = (frozen(&masked), frozen(&tuned));
        let device = run.device();
        let held_out = &p.captions.templates.held_out;
        let masked_accuracy = zero_shot(&masked.towers, &p.captions, held_out, &p.test, device)?;
        let zero_shot_accuracy = zero_shot(&tuned.towers, &p.captions, held_out, &p.test, device)?;
        let retrieval =
            retrieval_on(&tuned.towers, &p.captions, &p.test, DEFAULT_SPLIT_SEED, device)?;
        eprintln!(
            "{}: mask ratio {}: zero-shot {masked_accuracy:.4} before tuning, {zero_shot_accuracy:.4} \
             after; image tower {:.2} ms masked vs {:.2} ms unmasked",
            run.dir().path().display(),
            c.mask_ratio,
            timing[0],
            timing[1]
        );
        Ok(metrics_map(json!({
            "zero_shot_accuracy": zero_shot_accuracy,
            "masked_accuracy": masked_accuracy,
            "mask_ratio": c.mask_ratio,
            "kept_patches": p.masking.n_keep(masked.towers.image.n_patches()),
            "image_tower_ms": { "masked": timing[0], "unmasked": timing[1], "ratio": timing[0] / timing[1] },
            "zero_shot_curve": { "masked": curve(run, MASKED)?, "tuned": curve(run, PRIMARY)? },
            "retrieval": retrieval,
            "batch_size": c.batch_size,
        })))
    }
}

/// Medians over `timing_repeats` of the image tower's forward and backward on one batch,
/// masked then unmasked, alternating (ms).
fn image_tower_ms(
    towers: &TwoTower,
    c: &FlipConfig,
    p: &Prepared,
    device: &Device,
) -> Result<[f64; 2]> {
    let device = device.clone().autodiff();
    let indices: Vec<usize> = (0..c.batch_size).collect();
    let n_patches = towers.image.n_patches();
    let noise: Vec<f32> =
        Tensor::<1>::random([c.batch_size * n_patches], Distribution::Default, &device)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
    let kept = p.masking.kept(&noise, c.batch_size, n_patches)?;
    let time = |kept: Option<&KeptPatches>| -> Result<f64> {
        let started = Instant::now();
        let images = p.train.images(&indices, &device);
        let embedding = towers.encode_image(images, kept)?;
        let _ = embedding.sum().backward();
        Ok(started.elapsed().as_secs_f64() * 1e3)
    };
    let (mut masked, mut unmasked) = (Vec::new(), Vec::new());
    for _ in 0..c.timing_repeats {
        masked.push(time(Some(&kept))?);
        unmasked.push(time(None)?);
    }
    Ok([median(&mut masked), median(&mut unmasked)])
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
