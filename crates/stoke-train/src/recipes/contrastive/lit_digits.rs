//! `lit-digits`: locked-image tuning [ZHAI22, Sec. 3] on the 8x8 digits. Stage 1 pretrains the ViT
//! as a 10-way classifier on the training split; stage 2 copies it into a two-tower model,
//! locks it (no gradient, no optimizer state, bit-identical after training) and trains the
//! text tower and both projections contrastively. A model trained from scratch with the same
//! batch, loss and evaluation is the baseline.
//!
//! Metrics: `steps_to_target` (the first evaluated step whose validation zero-shot accuracy
//! reaches `target_accuracy`, `null` if none did) of LiT and `scratch_steps_to_target`, `zero_shot_accuracy` (LiT, test,
//! held-out templates) and `scratch_accuracy`, `pretrain_accuracy` (the classifier's
//! validation accuracy), `image_tower_unchanged` (the locked tower's parameters compared
//! bit for bit), both zero-shot curves (and `zero_shot.png`), `retrieval`, `batch_size`,
//! `steps`, `seconds`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stoke_contrastive::ContrastiveModel;
use stoke_core::validate;
use stoke_data::digits::{self, DEFAULT_SPLIT_SEED};
use stoke_nn::Vit;

use super::{
    Captioned, DigitSplits, LossKind, Stage, Towers, check_eval_every, curve, fit_pairs, frozen,
    loss_config, retrieval_on, save_curves, steps_to, warmup_cosine, zero_shot,
};
use crate::error::Result;
use crate::harness::{
    Entry, Family, Loss, PRIMARY, Recipe, Run, TrainSpec, check, defaults_json, launch, metrics_map,
};

/// The image classifier's trainer.
const PRETRAIN: &str = "pretrain";
/// The from-scratch baseline's trainer.
const SCRATCH: &str = "scratch";

/// The config (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LitConfig {
    /// The contrastive loss of both stage-2 models.
    pub loss: LossKind,
    /// Pairs (and, in stage 1, images) per step.
    pub batch_size: usize,
    /// Classifier pretraining steps.
    pub pretrain_steps: usize,
    /// Contrastive steps of the LiT and the scratch model.
    pub steps: usize,
    /// Adam's peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup_steps: usize,
    /// Validation zero-shot accuracy that `steps_to_target` waits for.
    pub target_accuracy: f64,
    /// Seed of the initialisations and the draws.
    pub seed: u64,
    /// Tower sizes.
    pub towers: Towers,
    /// Steps between zero-shot evaluations on the validation split.
    pub eval_every: usize,
    /// Steps between metrics.jsonl records.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl Default for LitConfig {
    fn default() -> Self {
        Self {
            loss: LossKind::Clip,
            batch_size: 64,
            pretrain_steps: 600,
            steps: 1200,
            learning_rate: 1e-3,
            warmup_steps: 100,
            target_accuracy: 0.95,
            seed: 0,
            towers: Towers::DIGITS,
            eval_every: 50,
            log_every: 50,
            checkpoint_every: 500,
        }
    }
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    name: "lit-digits",
    family: Family::Contrastive,
    summary: "LiT: a ViT pretrained as a digits classifier, locked; the text tower tuned \
              contrastively; steps_to_target against CLIP from scratch",
    run: |args| launch(&Lit, args),
    check: |args| check(&Lit, args),
    defaults: || defaults_json(&Lit),
    tiny: &[
        ("steps", "30"),
        ("pretrain_steps", "30"),
        ("batch_size", "16"),
        ("warmup_steps", "5"),
        ("eval_every", "10"),
        ("log_every", "10"),
        ("checkpoint_every", "30"),
        ("towers", r#"{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 16}"#),
    ],
};

/// `lit-digits`.
pub struct Lit;

/// A ViT with a linear head: the stage-1 classifier.
#[derive(Module, Debug)]
pub struct ImageClassifier {
    vit: Vit,
    head: Linear,
}

impl Recipe for Lit {
    type Config = LitConfig;
    type Prepared = DigitSplits;

    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn defaults(&self) -> LitConfig {
        LitConfig::default()
    }

    fn prepare(&self, c: &LitConfig) -> Result<DigitSplits> {
        validate::in_range("target_accuracy", c.target_accuracy, 0.0, 1.0, "[0, 1]")?;
        loss_config(c.loss, -10.0, true, None).validate()?;
        check_eval_every(c.eval_every, c.log_every)?;
        DigitSplits::load(&c.towers, c.batch_size)
    }

    fn training(&self, c: &LitConfig) -> Vec<(String, TrainSpec)> {
        let spec = |steps| {
            warmup_cosine(steps, c.learning_rate, c.warmup_steps, c.seed)
                .every(c.log_every, c.checkpoint_every)
        };
        vec![
            (PRETRAIN.into(), spec(c.pretrain_steps)),
            (PRIMARY.into(), spec(c.steps)),
            (SCRATCH.into(), spec(c.steps)),
        ]
    }

    fn run(&self, c: &LitConfig, p: &DigitSplits, run: &mut Run) -> Result<Map<String, Value>> {
        let vocab = p.captions.codec.vocab_size();
        let two_tower = c.towers.config(1, digits::SIDE, vocab);
        let classifier = run.fit(
            PRETRAIN,
            |device| {
                let vit = two_tower.image.init(device)?;
                let head = LinearConfig::new(vit.d_model(), digits::N_CLASSES).init(device);
                Ok(ImageClassifier { vit, head })
            },
            |model, batch| {
                let indices = rand::seq::index::sample(&mut batch.rng, p.train.len(), c.batch_size)
                    .into_vec();
                let images = p.train.images(&indices, batch.device);
                let labels: Vec<i64> = indices.iter().map(|&i| p.train.labels[i] as i64).collect();
                let labels = Tensor::<1, Int>::from_data(
                    TensorData::new(labels, [indices.len()]),
                    batch.device,
                );
                let logits = model.head.forward(model.vit.forward(images, None)?);
                Ok(Loss::new(
                    CrossEntropyLossConfig::new().init(batch.device).forward(logits, labels),
                ))
            },
        )?;
        let pretrain_accuracy =
            classifier_accuracy(&classifier.valid(), &p.validation, run.device())?;
        let pretrained = classifier.vit.clone();
        let loss = loss_config(c.loss, -10.0, true, None);
        let stage = Stage {
            train: &p.train,
            batch_size: c.batch_size,
            masking: None,
            eval_every: c.eval_every,
            validation: &p.validation,
        };
        let lit = fit_pairs(run, PRIMARY, &stage, &p.captions, |device| {
            let mut towers = two_tower.init(device)?;
            towers.image = pretrained.clone();
            Ok(ContrastiveModel { towers: towers.lock_image_tower(), loss: loss.init(device)? })
        })?;
        let image_tower_unchanged = parameters(&lit.towers.image) == parameters(&pretrained);
        let scratch = fit_pairs(run, SCRATCH, &stage, &p.captions, |device| {
            Ok(ContrastiveModel { towers: two_tower.init(device)?, loss: loss.init(device)? })
        })?;
        let (lit, scratch) = (frozen(&lit), frozen(&scratch));
        let device = run.device();
        let held_out = &p.captions.templates.held_out;
        let zero_shot_accuracy = zero_shot(&lit.towers, &p.captions, held_out, &p.test, device)?;
        let scratch_accuracy = zero_shot(&scratch.towers, &p.captions, held_out, &p.test, device)?;
        let (lit_curve, scratch_curve) = (curve(run, PRIMARY)?, curve(run, SCRATCH)?);
        save_curves(
            run,
            &[("LiT (locked image tower)", &lit_curve), ("from scratch", &scratch_curve)],
        )?;
        let retrieval =
            retrieval_on(&lit.towers, &p.captions, &p.test, DEFAULT_SPLIT_SEED, device)?;
        let (lit_steps, scratch_steps) =
            (steps_to(&lit_curve, c.target_accuracy), steps_to(&scratch_curve, c.target_accuracy));
        eprintln!(
            "{}: steps to {:.2} validation zero-shot: LiT {lit_steps:?}, scratch {scratch_steps:?}; \
             test zero-shot LiT {zero_shot_accuracy:.4}, scratch {scratch_accuracy:.4}",
            run.dir().path().display(),
            c.target_accuracy
        );
        Ok(metrics_map(json!({
            "zero_shot_accuracy": zero_shot_accuracy,
            "scratch_accuracy": scratch_accuracy,
            "steps_to_target": lit_steps,
            "scratch_steps_to_target": scratch_steps,
            "target_accuracy": c.target_accuracy,
            "pretrain_accuracy": pretrain_accuracy,
            "image_tower_unchanged": image_tower_unchanged,
            "zero_shot_curve": { "lit": lit_curve, "scratch": scratch_curve },
            "retrieval": retrieval,
            "batch_size": c.batch_size,
        })))
    }
}

/// The classifier's accuracy on `set`.
fn classifier_accuracy(model: &ImageClassifier, set: &Captioned, device: &Device) -> Result<f64> {
    let indices: Vec<usize> = (0..set.len()).collect();
    let logits = model.head.forward(model.vit.forward(set.images(&indices, device), None)?);
    let predicted: Vec<i64> =
        logits.argmax(1).into_data().convert::<i64>().try_to_vec::<i64>().unwrap_or_default();
    let hits = predicted.iter().zip(&set.labels).filter(|&(&p, &l)| p == l as i64).count();
    Ok(hits as f64 / set.len().max(1) as f64)
}

/// Every float parameter of a module, in visiting order.
fn parameters<M: Module>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(
                param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default(),
            );
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}
